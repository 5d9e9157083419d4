// Names: resolving a scenario operation's descriptors, texts and addresses to what the model and the agent
// see, and binding the names a step's `as:` gives.

import Foundation
import HandoffProtocol

extension ScenarioExecution {
    func number(_ reference: DescriptorRef, in process: String, at location: SourceLocation) throws(Stop) -> Int32 {
        switch reference {
        case .number(let number): return number
        case .name(let name):
            guard let number = tracker.value(of: name, in: process) else {
                throw .scenario("\(location): descriptor '\(name)' of '\(process)' was never created "
                    + "(\(unboundReason(of: name, in: process)))")
            }
            return number
        case .limit(let offset):
            // The model follows setrlimit; it started from the limit the root agent reported.
            return Int32(clamping: Int64(model.nofileLimit(of: process)) + Int64(offset))
        case .argument(let index):
            guard let agent = tree[process], index >= 1, index <= agent.arguments.count,
                let number = Int32(agent.arguments[index - 1])
            else { throw .scenario("\(location): argv[\(index)] of '\(process)' is not a descriptor number") }
            return number
        }
    }

    /// The scenario's operation with every name resolved: descriptors to numbers (in their owner's table),
    /// addresses to sockets, texts with their placeholders filled in.
    func resolve(_ operation: ScenarioOperation, in process: String, at location: SourceLocation)
        throws(Stop) -> Operation {
        try operation.map(
            descriptor: { (reference, field) throws(Stop) -> Int32 in try number(reference, in: field.owner ?? process, at: location) },
            process: { (name) throws(Stop) -> String in name },
            address: { (address) throws(Stop) -> SocketAddress in try socketAddress(address, at: location) },
            text: { (text) throws(Stop) -> String in try render(text.parts, in: process, at: location) })
    }

    /// An argument or environment value with its placeholders filled in.
    func render(_ parts: [ArgumentPart], in process: String, at location: SourceLocation) throws(Stop) -> String {
        var text = ""
        for part in parts {
            switch part {
            case .text(let literal): text += literal
            case .descriptor(let name): text += String(try number(.name(name), in: process, at: location))
            case .builtin(.pid): text += String(tree[process]?.pid ?? 0)
            case .builtin(.agent): text += options.agentPath
            case .builtin(.dir): text += workPath
            case .builtin(.unique): text += uniqueToken
            case .builtin(.port): text += String(try scenarioPort(at: location))
            case .builtin(.control):
                text += AgentEnvironment.controlSocket + "="
                    + (try harness { () throws(HarnessError) in try tree.controlSocketPath() })
            }
        }
        return text
    }

    func socketAddress(_ address: AddressSpec, at location: SourceLocation) throws(Stop) -> SocketAddress {
        switch address {
        case .unix(let path): return .unix(path: path)
        case .abstract(let name):
            return .abstract(name: name.replacingOccurrences(of: "{@\(ArgumentPart.Builtin.unique.rawValue)}", with: uniqueToken))
        case .tcpPort(let port): return .tcp(port: port)
        case .tcpScenarioPort: return .tcp(port: try scenarioPort(at: location))
        case .tcpListener(let listener):
            let number = try number(listener.descriptor, in: listener.process, at: location)
            guard let port = ports[DescriptorKey(process: listener.process, number: number)] else {
                throw .scenario("\(location): \(listener) is not a TCP socket this scenario listened on")
            }
            return .tcp(port: port)
        }
    }

    /// Every process sharing `process`'s descriptor table, itself included.
    func sharingTable(with process: String) -> [String] { tracker.sharingTable(with: process) }

    /// The numbers the agents' control channels hold in `process`'s table (its own and its sharers').
    func channelNumbers(in process: String) -> Set<Int32> {
        Set(sharingTable(with: process).compactMap { tree[$0]?.controlNumber })
    }

    /// The model's prediction, told first where the harness's own channels sit in the acting table.
    func predict(_ operation: Operation, by process: String) -> Outcome {
        model.harnessNumbers = [process: channelNumbers(in: process)]
        return model.apply(operation, by: process)
    }

    /// What the model would predict now, the model left as it was (a check before a call is sent, a pending
    /// call looked at without applying it) but for `harnessNumbers`, which stay the acting table's, as after
    /// `predict` (harnessShapedAnswer reads them).
    func trialPredict(_ operation: Operation, by process: String) -> Outcome {
        let saved = model
        defer {
            let numbers = model.harnessNumbers
            model = saved
            model.harnessNumbers = numbers
        }
        return predict(operation, by: process)
    }
    /// Gives the descriptors an outcome produced the names the step binds, in every process of the table. A
    /// name the outcome has no descriptor for stays unbound, with why (`unboundReason`).
    func bindNames(_ binds: [String?], in process: String, outcome: Outcome, step location: SourceLocation,
                   operation: String) {
        for (index, name) in binds.enumerated() {
            guard let name else { continue }
            // Nearly always empty: a bind then costs nothing more than before.
            if !unboundNames.isEmpty { for member in sharingTable(with: process) { unboundNames[member]?[name] = nil } }
            if index < outcome.fds.count {
                tracker.bind(name, to: outcome.fds[index], in: process)
                continue
            }
            // A successful receive can bring fewer descriptors than its `as:` names (MSG_CTRUNC, a message
            // without rights): that is not a failed step, and saying so sent readers looking for an error.
            let why = outcome.errno != 0
                ? "\(operation) at line \(location.line) failed with \(Errno.name(of: outcome.errno))"
                : "\(operation) at line \(location.line) gave \(outcome.fds.count) descriptor"
                    + "\(outcome.fds.count == 1 ? "" : "s") for the \(binds.count) names of its 'as'"
            for member in sharingTable(with: process) where tracker.value(of: name, in: member) == nil {
                unboundNames[member, default: [:]][name] = why
            }
        }
    }

    /// Why `name` has no descriptor in `process`: the step that should have made it failed, or gave fewer
    /// descriptors than it names.
    func unboundReason(of name: String, in process: String) -> String {
        unboundNames[process]?[name] ?? "the step that should have created it failed"
    }

    /// What a check says of a descriptor that has no number: `never created: <why>` for a name.
    func neverCreated(_ reference: DescriptorRef, in process: String) -> String {
        guard case .name(let name) = reference else { return "never created" }
        return "never created: \(unboundReason(of: name, in: process))"
    }

    /// `got (4)`, or `4` for an unnamed descriptor.
    func describe(_ key: DescriptorKey) -> String {
        let named = tracker.names(of: key.process).filter { $0.value == key.number }.map(\.key).sorted()
        return named.isEmpty ? String(key.number) : "\(named.joined(separator: "/")) (\(key.number))"
    }

    /// What `{@port}` stands for: chosen the first time it is used (the kernel's pick for a loopback socket
    /// bound to port 0, which is then closed), the same for the rest of the run.
    func scenarioPort(at location: SourceLocation) throws(Stop) -> UInt16 {
        if let chosenPort { return chosenPort }
        let port = try harness { () throws(HarnessError) in try SystemProbe.freeLoopbackPort() }
        chosenPort = port
        return port
    }

    /// What `{@unique}` stands for: the scenario directory's name (`handoff-<runner pid>-XXXXXX`), unique
    /// on the host while the run lasts.
    var uniqueToken: String { directory.name }
}
