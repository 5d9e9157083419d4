// The values inside an operation's arguments: exec and launch texts with placeholders, addresses, modes and
// fcntl's command, read the same way wherever an operation takes them.

import Yams

extension ScenarioDecoder {
    /// `args:` and `env:` of exec and launch, with placeholders.
    func argumentsAndEnvironment(_ a: StepArguments, sites: inout StepSites) throws(ScenarioError)
        -> ([Template], [EnvironmentVariable<Template>])
    {
        // The texts travel to the agent in the step's one control packet: 100,000 arguments validated, and
        // the run then ended in "process is gone: control channel closed (EMSGSIZE)". Bounded as `data` is,
        // which leaves the packet room for what placeholders expand to.
        var bytes = 0
        func count(_ text: String, _ node: Node) throws(ScenarioError) {
            bytes += text.utf8.count + 1
            if bytes > maximumTransfer {
                throw context.error(node, "the arguments and environment of \(a.operation) come to more than \(maximumTransfer) "
                    + "bytes; at most \(maximumTransfer) fit one step")
            }
        }
        var arguments: [Template] = []
        if let node = a["args"] {
            for (index, item) in try context.sequence(node, a.what("args")).enumerated() {
                sites.fields["args[\(index)]"] = context.location(item)
                arguments.append(Template(try argument(item)))
                try count(item.scalar?.string ?? "", item)
            }
        }
        var environment: [EnvironmentVariable<Template>] = []
        if let node = a["env"] {
            for pair in try context.mapping(node, a.what("env")) {
                let name = try context.cString(pair.key, "an environment variable name")
                if name.isEmpty || name.contains("=") {
                    throw context.error(pair.key, "invalid environment variable name \"\(name)\"")
                }
                if AgentEnvironment.reserved.contains(name) {
                    throw context.error(pair.key, "\(name) is the harness's own (it sets it for every agent); use another name")
                }
                sites.fields["env.\(name)"] = context.location(pair.value)
                environment.append(EnvironmentVariable(name: name, value: Template(try argument(pair.value))))
                try count(name + "=" + (pair.value.scalar?.string ?? ""), pair.value)
            }
        }
        return (arguments, environment)
    }

    /// `{unix: path}`, `{abstract: name}`, and `{tcp: PORT}` (listen) or `{tcp: process.listener}` (connect).
    func address(_ node: Node, listening: Bool) throws(ScenarioError) -> AddressSpec {
        let expected = listening ? "{unix: path}, {abstract: name} or {tcp: 0}"
            : "{unix: path}, {abstract: name} or {tcp: process.listener}"
        guard case .mapping(let mapping) = node, mapping.count == 1, let (keyNode, value) = mapping.first,
            let key = keyNode.string
        else { throw context.error(node, "expected an address: \(expected), found \(context.describe(node))") }
        switch key {
        case "unix":
            let path = try context.cString(value, "'unix' path")
            let components = PathComponents(path)
            if path.isEmpty || components.isAbsolute || components.hasParent || path.utf8.count > 80 {
                throw context.error(value, "unix socket path \"\(path)\" must be relative to the scenario's directory "
                    + "(not empty, no '/' start, no '..', at most 80 bytes)")
            }
            if components.namesTheDirectory {
                throw context.error(value, "unix socket path \"\(path)\" names the scenario's directory itself; directories "
                    + "are not modelled (name a socket file in it)")
            }
            return .unix(path)
        case "abstract":
            let name = try context.string(value, "'abstract' name")
            // sun_path holds 107 bytes after the leading NUL, and {@unique} grows by up to 27 when it is filled in.
            // A longer name is EINVAL in the kernel (unix_validate_addr), which the agents cannot hand it.
            guard name.utf8.count <= 80 else {
                throw context.error(value, "abstract name of \(name.utf8.count) bytes: at most 80 (sun_path holds 107 after "
                    + "the leading NUL, and {@unique} is filled in at run time)")
            }
            return .abstract(name)
        case "tcp":
            if value.scalar?.string == "{@\(ArgumentPart.Builtin.port.rawValue)}" { return .tcpScenarioPort }
            if listening { return .tcpPort(UInt16(try context.integer(value, "'tcp' port", in: 0...65535))) }
            return .tcpListener(try qualified(value, "'tcp' (the listening socket, as process.name)"))
        default:
            throw context.error(keyNode, "unknown address kind '\(key)' (expected \(expected))")
        }
    }

    /// `mode`: a YAML integer taken as is (`0o644` and `0644` are octal in YAML 1.1, `420` is decimal), or a
    /// string of octal digits (`"0644"`, `"0o644"`, `"644"`).
    func mode(_ node: Node) throws(ScenarioError) -> UInt32 {
        var value: Int?
        switch context.kind(node) {
        case .int:
            value = try context.integer(node, "'mode'")
        case .string:
            var text = node.scalar?.string ?? ""
            if text.hasPrefix("0o") || text.hasPrefix("0O") { text.removeFirst(2) }
            value = text.isEmpty ? nil : Int(text, radix: 8)
            if value == nil {
                throw context.error(node, "expected an octal mode such as \"0644\" for 'mode', found \(context.describe(node))")
            }
        default:
            throw context.error(node, "expected a mode (an integer such as 0o644, or a string such as \"0644\") for 'mode', "
                + "found \(context.describe(node))")
        }
        guard let value, (0...0o7777).contains(value) else {
            throw context.error(node, "'mode' must be between 0 and 0o7777, found \(context.describe(node))")
        }
        return UInt32(value)
    }

    /// For an operation whose arguments depend on one of them (fcntl's `cmd`, setsockopt's `option`): every key
    /// must be one of `common`, an argument the declaration accepts only with this `choice` (`onlyWith`),
    /// `as` when `binds`, `background` when the operation may run there, or an expectation.
    func acceptKeys(of kind: OperationKind, common: [String], selector: String, choice: String, binds: Bool,
                    _ a: StepArguments) throws(ScenarioError) {
        let declaration = kind.declaration
        let specific = declaration.arguments.filter { $0.onlyWith?.values.contains(choice) ?? false }.map(\.key)
        let allowed = common + specific + (binds ? ["as"] : []) + (declaration.background ? ["background"] : [])
            + declaration.expectations.map(\.rawValue)
        for entry in a.entries where !allowed.contains(entry.key) {
            throw context.error(entry.keyNode, "key '\(entry.key)' does not apply to \(kind.keyword) \(selector) "
                + "\(choice) (expected one of: \(allowed.joined(separator: ", ")))")
        }
    }

    func fcntl(_ a: StepArguments, sites: inout StepSites) throws(ScenarioError) -> TableOperation<ScenarioNaming> {
        let cmdNode = try a.required("cmd")
        let cmd = try context.keyword(cmdNode, a.what("cmd"), allowed: FcntlCommand.names)
        // Only the duplicating commands bind `as:`.
        try acceptKeys(of: .fcntl, common: ["fd", "cmd"], selector: "cmd", choice: cmd, binds: cmd.hasPrefix("dupfd"), a)
        let fdNode = try a.required("fd")
        sites.fields["fd"] = context.location(fdNode)
        let fd = try context.descriptor(fdNode, a.what("fd"))
        func minimum() throws(ScenarioError) -> Int32 {
            guard let node = a["min"] else { return 0 }
            return Int32(try context.integer(node, a.what("min"), in: 0...Int(Int32.max)))
        }
        let command: FcntlCommand
        switch cmd {
        case "dupfd": command = .dupfd(minimum: try minimum())
        case "dupfd_cloexec": command = .dupfdCloexec(minimum: try minimum())
        case "getfd": command = .getfd
        case "getfl": command = .getfl
        case "setfd":
            let node = try a.required("cloexec")
            command = .setfd(closeOnExec: try context.bool(node, a.what("cloexec")))
        case "get_seals": command = .getSeals
        case "getpipe_sz": command = .getPipeSize
        case "setpipe_sz":
            let node = try a.required("size")
            command = .setPipeSize(bytes: UInt32(try context.integer(node, a.what("size"), in: 0...Int(UInt32.max))))
        case "add_seals":
            let node = try a.required("seals")
            let words = try context.keywords(node, a.what("seals"), allowed: MemfdSeal.allCases.map(\.rawValue))
            command = .addSeals(Set(words.compactMap(MemfdSeal.init(rawValue:))))
        default:
            var set: Set<StatusFlag> = []
            if let node = a["flags"] {
                for word in try context.keywords(node, a.what("flags"), allowed: StatusFlag.allCases.map(\.rawValue)) {
                    if let flag = StatusFlag(rawValue: word) { set.insert(flag) }
                }
            }
            command = .setfl(set)
        }
        return .fcntl(fd: fd, command: command)
    }

    func ioctl(_ a: StepArguments, sites: inout StepSites) throws(ScenarioError) -> TableOperation<ScenarioNaming> {
        let requestNode = try a.required("request")
        let word = try context.keyword(requestNode, a.what("request"), allowed: IoctlRequest.names)
        try acceptKeys(of: .ioctl, common: ["fd", "request"], selector: "request", choice: word, binds: false, a)
        let fdNode = try a.required("fd")
        sites.fields["fd"] = context.location(fdNode)
        let fd = try context.descriptor(fdNode, a.what("fd"))
        let enable = try a["enable"].map { node throws(ScenarioError) in try context.bool(node, a.what("enable")) } ?? true
        // `word` is one of IoctlRequest.names, checked above.
        guard let request = IoctlRequest(keyword: word, enable: enable) else {
            throw context.error(requestNode, "unknown value '\(word)' for 'request'")
        }
        return .ioctl(fd: fd, request: request)
    }

    /// One exec argument: text with `{name}` placeholders; `{{` and `}}` are literal braces.
    func argument(_ node: Node) throws(ScenarioError) -> [ArgumentPart] {
        guard let scalar = node.scalar, context.kind(node) != .null else {
            throw context.error(node, "expected a string for an element of 'args', found \(context.describe(node))")
        }
        try context.rejectNUL(scalar.string, node, "an argument or environment value of exec or launch")
        let text = Array(scalar.string)
        var parts: [ArgumentPart] = []
        var literal = ""
        var index = 0
        while index < text.count {
            let character = text[index]
            if character == "{" {
                if index + 1 < text.count, text[index + 1] == "{" {
                    literal.append("{")
                    index += 2
                    continue
                }
                guard let close = text[(index + 1)...].firstIndex(of: "}") else {
                    throw context.error(node, "unclosed '{' in exec argument \"\(scalar.string)\" (write {{ for a literal brace)")
                }
                let name = String(text[(index + 1)..<close])
                if name.hasPrefix("@") {
                    guard let builtin = ArgumentPart.Builtin(rawValue: String(name.dropFirst())) else {
                        throw context.error(node, "unknown placeholder {\(name)} (expected one of: "
                            + ArgumentPart.Builtin.allCases.map { "{@\($0.rawValue)}" }.joined(separator: ", ") + ")")
                    }
                    if !literal.isEmpty { parts.append(.text(literal)); literal = "" }
                    parts.append(.builtin(builtin))
                    index = close + 1
                    continue
                }
                guard Self.isIdentifier(name) else {
                    throw context.error(node, "expected a descriptor name inside {...} in exec argument \"\(scalar.string)\", "
                        + "found \"\(name)\" (write {{ and }} for literal braces)")
                }
                if !literal.isEmpty { parts.append(.text(literal)); literal = "" }
                parts.append(.descriptor(name))
                index = close + 1
            } else if character == "}" {
                guard index + 1 < text.count, text[index + 1] == "}" else {
                    throw context.error(node, "unmatched '}' in exec argument \"\(scalar.string)\" (write }} for a literal brace)")
                }
                literal.append("}")
                index += 2
            } else {
                literal.append(character)
                index += 1
            }
        }
        if !literal.isEmpty { parts.append(.text(literal)) }
        return parts
    }
}

/// A scenario's path split as the kernel splits it: at every '/' byte. String's own split works on characters,
/// and "/\u{338}" (a slash with a combining mark) is one character: "../\u{338}x" passed as a path without a
/// ".." component and opened a file above the scenario's directory (found porting LTP open tests).
struct PathComponents {
    let components: [ArraySlice<UInt8>]
    let isAbsolute: Bool

    init(_ path: String) {
        let bytes = Array(path.utf8)
        components = bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        isAbsolute = bytes.first == UInt8(ascii: "/")
    }

    /// A ".." component: the path could leave the scenario's directory.
    var hasParent: Bool { components.contains { $0.elementsEqual("..".utf8) } }
    /// Only empty and "." components: the scenario's directory itself.
    var namesTheDirectory: Bool { components.allSatisfy { $0.isEmpty || $0.elementsEqual(".".utf8) } }
}
