// Decoding of setsockopt and getsockopt steps (out of OperationParser.swift, which holds the other operations).

import Yams

extension ScenarioDecoder {
    /// setsockopt and getsockopt: the value keys that apply to the option (`enable` for a switch, `value` for
    /// an integer), and `as:` only for getsockopt(peerpidfd), the one option that makes a descriptor.
    func socketOption(_ kind: OperationKind, _ a: StepArguments, sites: inout StepSites) throws(ScenarioError)
        -> SocketOperation<ScenarioNaming>
    {
        let optionNode = try a.required("option")
        let name = try context.keyword(optionNode, a.what("option"), allowed: SocketOption.allCases.map(\.rawValue))
        let option = SocketOption(rawValue: name) ?? .passcred
        try acceptKeys(of: kind, common: ["socket", "option"], selector: "option", choice: name,
                       binds: kind == .getsockopt && option == .peerpidfd, a)
        let socketNode = try a.required("socket")
        sites.fields["socket"] = context.location(socketNode)
        let socket = try context.descriptor(socketNode, a.what("socket"))
        guard kind == .setsockopt else { return .getsockopt(socket: socket, option: option) }
        var value: Int32 = SocketOption.switches.contains(option) ? 1 : 0
        if let node = a["enable"] { value = try context.bool(node, a.what("enable")) ? 1 : 0 }
        if let node = a["value"] { value = Int32(try context.integer(node, a.what("value"), in: -1...Int(Int32.max))) }
        return .setsockopt(socket: socket, option: option, value: value)
    }
}
