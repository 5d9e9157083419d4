// Reads a scenario file (docs/scenarios.md) into a `Scenario`, then validates its timeline statically
// (ScenarioValidator.swift). Every error names file:line:column of the offending YAML node and what was
// expected there.

import Foundation
import Yams

public enum ScenarioParser {
    /// Parses and validates one scenario. `file` is used in locations; `name` becomes Scenario.name.
    public static func parse(yaml: String, file: String, name: String) throws(ScenarioError) -> Scenario {
        let context = YAMLContext(file: file)
        guard let root = try context.compose(yaml) else {
            throw ScenarioError(SourceLocation(file: file, line: 1, column: 1),
                                "empty scenario file (expected a mapping with at least 'summary' and 'steps')")
        }
        var decoder = ScenarioDecoder(context: context)
        let scenario = try decoder.decode(root, name: name)
        var validator = ScenarioValidator(file: file)
        validator.programs = scenario.requires.programs
        try validator.validate(scenario.steps, sites: decoder.sites)
        return scenario
    }

    /// Parses one file into every case it declares: one scenario, or one per combination of its `matrix:`
    /// parameters, named `NAME[key=value,...]`, each with `${key}` replaced by its value.
    public static func parseAll(yaml: String, file: String, name: String) throws(ScenarioError) -> [Scenario] {
        let combinations = try Matrix.combinations(yaml: yaml, file: file)
        if combinations.isEmpty {
            try Matrix.rejectPlaceholders(yaml: yaml, file: file, known: [])
            return [try parse(yaml: yaml, file: file, name: name)]
        }
        var scenarios: [Scenario] = []
        for combination in combinations {
            let text = try Matrix.substitute(yaml: yaml, file: file, combination)
            let label = combination.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            var scenario = try parse(yaml: text, file: file, name: "\(name)[\(label)]")
            scenario.parameters = combination
            scenarios.append(scenario)
        }
        return scenarios
    }

    /// `load` for every case of the file (see parseAll).
    public static func loadAll(path: String, root: String?) throws(ScenarioError) -> [Scenario] {
        let text = try read(path)
        return try parseAll(yaml: text, file: path, name: scenarioName(path: path, root: root))
    }

    /// Reads `path` and parses it; name = path relative to `root` without the .yaml/.yml extension
    /// (or the file's base name without extension when root is nil or not a prefix).
    public static func load(path: String, root: String?) throws(ScenarioError) -> Scenario {
        try parse(yaml: try read(path), file: path, name: scenarioName(path: path, root: root))
    }

    /// Far above any scenario (the catalog's largest file is a few kilobytes; a matrix may expand to more, which
    /// Matrix bounds separately), and a bound on what one file makes handoff read.
    static let maximumFileBytes = 16 << 20

    static func read(_ path: String) throws(ScenarioError) -> String {
        // ReportFiles.read refuses what Foundation's readers report as "permission denied" (a directory, a FIFO,
        // a device) and would, for a FIFO without a writer or /dev/zero, wait or read forever.
        var bytes: [UInt8]
        do throws(ReportFiles.ReadError) {
            bytes = try ReportFiles.read(path, what: "a YAML scenario file", limit: maximumFileBytes)
        } catch {
            let reason = access(path, F_OK) == 0 ? error.reason : "no such file or directory"
            throw ScenarioError(SourceLocation(file: path, line: 0, column: 0), "cannot read scenario file '\(path)': \(reason)")
        }
        // A UTF-8 byte order mark, as some editors write: YAML allows it, Yams refused it ("did not find
        // expected <document start>" at 2:1). Lines and columns stay those the editor shows.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            let offset = firstInvalidUTF8(bytes) ?? 0
            throw ScenarioError(SourceLocation(file: path, offset: offset, in: bytes),
                                "cannot read scenario file '\(path)': it is not valid UTF-8 (byte 0x"
                                    + String(bytes[offset], radix: 16) + " at offset \(offset))")
        }
        return text
    }

    /// `scm-rights/basic` for `scenarios/scm-rights/basic.yaml` under `scenarios`.
    static func scenarioName(path: String, root: String?) -> String {
        var relative: String?
        if let root {
            relative = relativePath(path, under: root)
            if relative == nil {
                let standardPath = URL(fileURLWithPath: path).standardizedFileURL.path
                let standardRoot = URL(fileURLWithPath: root).standardizedFileURL.path
                relative = relativePath(standardPath, under: standardRoot)
            }
        }
        let name = relative ?? (path as NSString).lastPathComponent
        for suffix in [".yaml", ".yml"] where name.suffix(suffix.count).lowercased() == suffix && name.count > suffix.count {
            return String(name.dropLast(suffix.count))
        }
        return name
    }

    private static func relativePath(_ path: String, under root: String) -> String? {
        var prefix = root
        while prefix.count > 1 && prefix.hasSuffix("/") { prefix.removeLast() }
        if prefix == "." {
            if path.hasPrefix("./") { return String(path.dropFirst(2)) }
            return path.hasPrefix("/") ? nil : path
        }
        if !prefix.hasSuffix("/") { prefix += "/" }
        guard path.hasPrefix(prefix), path.count > prefix.count else { return nil }
        return String(path.dropFirst(prefix.count))
    }
}

// MARK: - Locations of the nodes the validator reports on

/// Where the parts of one step are in the file, for the validator's errors.
struct StepSites {
    /// The step's key (`main.open`), also used when no finer location is known.
    var key: SourceLocation
    /// The sites of a repeat's inner steps.
    var inner: [StepSites] = []
    /// Argument values by key path: `fd`, `target`, `fds[1]`, `args[0]`, `as`, `child`, `process`.
    var fields: [String: SourceLocation] = [:]
    /// check: every process and descriptor it names, in document order.
    var checked: [CheckedItem] = []

    subscript(field: String) -> SourceLocation { fields[field] ?? key }
}

/// Something a check step names: a qualified descriptor, or a process (a key of `open`) whose listed
/// descriptors follow as `.descriptor` items.
enum CheckedItem {
    case descriptor(QualifiedDescriptor, SourceLocation)
    case process(String, SourceLocation)
}

// MARK: - The arguments of one step

/// The argument mapping of one step, checked against the keys its operation accepts.
struct StepArguments {
    let context: YAMLContext
    /// `open`, `fcntl`, `check`: used in messages.
    let operation: String
    /// The step's key node: where "missing key" errors point.
    let keyNode: Node
    let entries: [(key: String, keyNode: Node, value: Node)]
    /// The entries' keys alone: a lookup compares strings without copying a tuple of nodes per entry (a node
    /// copy retains its string and tag and copies its anchor's weak reference), which was a quarter of decoding.
    let keys: [String]

    init(context: YAMLContext, operation: String, keyNode: Node, value: Node) throws(ScenarioError) {
        self.context = context
        self.operation = operation
        self.keyNode = keyNode
        var entries: [(key: String, keyNode: Node, value: Node)] = []
        switch context.kind(value) {
        case .null:
            break
        case .mapping:
            guard case .mapping(let mapping) = value else { break }
            entries.reserveCapacity(mapping.count)
            for (keyNode, valueNode) in mapping {
                entries.append((try context.key(keyNode, in: operation), keyNode, valueNode))
            }
        default:
            throw context.error(value, "expected a mapping of arguments for \(operation), found \(context.describe(value))"
                + " (write arguments as {key: value}, or nothing for none)")
        }
        self.entries = entries
        self.keys = entries.map(\.key)
    }

    /// Rejects any key not in `allowed`.
    func accept(_ allowed: [String]) throws(ScenarioError) {
        for entry in entries where !allowed.contains(entry.key) {
            throw context.error(entry.keyNode,
                                "unknown key '\(entry.key)' in \(operation) (expected one of: \(allowed.joined(separator: ", ")))")
        }
    }

    subscript(key: String) -> Node? {
        guard let index = keys.firstIndex(of: key) else { return nil }
        return entries[index].value
    }

    func required(_ key: String) throws(ScenarioError) -> Node {
        guard let node = self[key] else {
            throw context.error(keyNode, "missing required key '\(key)' in \(operation)")
        }
        return node
    }

    /// How a key is named in messages: `'count'`.
    func what(_ key: String) -> String { "'\(key)'" }
}

// MARK: - Document and steps

struct ScenarioDecoder {
    let context: YAMLContext
    /// One entry per decoded step, parallel to `Scenario.steps`.
    var sites: [StepSites] = []

    init(context: YAMLContext) {
        self.context = context
    }

    static let topLevelKeys = ["summary", "tags", "requires", "timeout", "matrix", "steps"]
    static let requirementKeys = ["kernel", "syscalls", "capabilities", "programs", "nofile", "features", "writes"]
    /// Capability names as libcap knows them: one list, the model's.
    static let knownCapabilities = ReferenceModel.capabilityNames

    static let checkKeys = ["same", "different", "offset", "cloexec", "flags", "open", "number", "env", "same_inode", "seals",
                            "fdinfo"]

    static func isIdentifier(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first else { return false }
        func letter(_ c: Unicode.Scalar) -> Bool { (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c == "_" }
        guard letter(first) else { return false }
        return text.unicodeScalars.dropFirst().allSatisfy { letter($0) || ($0 >= "0" && $0 <= "9") || $0 == "-" }
    }

    // MARK: Document

    mutating func decode(_ root: Node, name: String) throws(ScenarioError) -> Scenario {
        guard case .mapping = root else {
            throw context.error(root, "expected a mapping with 'summary' and 'steps' at the top of the scenario, "
                + "found \(context.describe(root))")
        }
        let top = try StepArguments(context: context, operation: "the scenario", keyNode: root, value: root)
        for entry in top.entries where !Self.topLevelKeys.contains(entry.key) {
            throw context.error(entry.keyNode, "unknown top-level key '\(entry.key)' "
                + "(expected one of: \(Self.topLevelKeys.joined(separator: ", ")))")
        }
        guard let summaryNode = top["summary"] else {
            throw context.error(root, "missing required top-level key 'summary' (one sentence: what the scenario shows)")
        }
        let summary = try context.string(summaryNode, "'summary'")
        var tags: [String] = []
        if let node = top["tags"] {
            for item in try context.sequence(node, "'tags'") {
                tags.append(try context.string(item, "a tag"))
            }
        }
        let requires = try top["requires"].map { (node) throws(ScenarioError) in try requirements(node) } ?? .init()
        var timeout: Double?
        if let node = top["timeout"] {
            let value: Double?
            switch context.kind(node) {
            case .int: value = Double(try context.integer(node, "'timeout'"))
            case .float: value = node.float
            default: value = nil
            }
            guard let value, value > 0, value <= Scenario.maximumTimeout else {  // false for NaN and infinity
                throw context.error(node, "expected a number of seconds greater than 0 and at most "
                    + "\(Int(Scenario.maximumTimeout)) (a day) for 'timeout', found \(context.describe(node))")
            }
            timeout = value
        }
        guard let stepsNode = top["steps"] else {
            throw context.error(root, "missing required top-level key 'steps' (the list of steps to run)")
        }
        let items = try context.sequence(stepsNode, "'steps'")
        guard !items.isEmpty else {
            throw context.error(stepsNode, "'steps' is empty (expected at least one step)")
        }
        var steps: [Step] = []
        for item in items {
            steps.append(try step(item))
        }
        return Scenario(name: name, file: context.file, summary: summary, tags: tags, requires: requires,
                        timeout: timeout, steps: steps)
    }

    func requirements(_ node: Node) throws(ScenarioError) -> Requirements {
        let arguments = try StepArguments(context: context, operation: "requires", keyNode: node, value: node)
        try arguments.accept(Self.requirementKeys)
        var requirements = Requirements()
        if let kernel = arguments["kernel"] {
            let text = [.string, .int, .float].contains(context.kind(kernel)) ? kernel.scalar?.string ?? "" : ""
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            guard (2...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && Int($0) != nil }),
                  let version = KernelVersion(release: text) else {
                throw context.error(kernel, "expected a kernel release X.Y or X.Y.Z for 'kernel', found \(context.describe(kernel))")
            }
            requirements.minimumKernel = version
        }
        if let syscalls = arguments["syscalls"] {
            requirements.syscalls = try context.keywords(syscalls, "'syscalls'", allowed: SystemProbe.knownSyscalls)
        }
        if let capabilities = arguments["capabilities"] {
            for item in try context.sequence(capabilities, "'capabilities'") {
                let name = try context.string(item, "a capability")
                guard Self.knownCapabilities.contains(name) else {
                    let hint = name.hasPrefix("CAP_") ? "" : " (capabilities are written CAP_NAME, e.g. CAP_SYS_PTRACE)"
                    throw context.error(item, "unknown capability '\(name)'\(hint)")
                }
                requirements.capabilities.append(name)
            }
        }
        if let programs = arguments["programs"] {
            for item in try context.sequence(programs, "'programs'") {
                let program = try context.cString(item, "a program name")
                // An empty name is found nowhere: the scenario would be skipped on every machine for a typo.
                guard !program.isEmpty else { throw context.error(item, "expected a program name (as looked up in PATH), found an empty string") }
                requirements.programs.append(program)
            }
        }
        if let features = arguments["features"] {
            requirements.features = try context.keywords(features, "'features'", allowed: SystemProbe.features.map(\.name))
        }
        if let nofile = arguments["nofile"] {
            requirements.nofile = try context.integer(nofile, "'nofile'", in: 1...Int(Int32.max))
        }
        if let writes = arguments["writes"] {
            let items = try context.sequence(writes, "'writes'")
            if items.count > 16 { throw context.error(writes, "'writes' lists at most 16 paths, not \(items.count)") }
            for item in items {
                let path = try context.cString(item, "an absolute path")
                // Split at every '/' byte (PathComponents), not at '/' characters: "/\u{338}" is one character.
                var components = PathComponents(path).components.dropFirst()
                if components.count > 1, components.last?.isEmpty == true { components.removeLast() }  // "/run/"
                guard path.hasPrefix("/"), !components.isEmpty,
                      !components.contains(where: { $0.isEmpty || $0.elementsEqual("..".utf8) || $0.elementsEqual(".".utf8) })
                else {
                    throw context.error(item, "'writes' takes absolute paths below / without '.' or '..' components "
                        + "(the places a launcher writes outside its directory, e.g. /run), not \"\(path)\"")
                }
                requirements.writes.append(path)
            }
        }
        return requirements
    }

    // MARK: Steps

    mutating func step(_ item: Node) throws(ScenarioError) -> Step {
        guard case .mapping(let mapping) = item else {
            throw context.error(item, "expected a step (a mapping with one key, PROCESS.OPERATION or check), "
                + "found \(context.describe(item))")
        }
        let pairs = Array(mapping)
        guard pairs.count == 1 else {
            if pairs.isEmpty {
                throw context.error(item, "empty step (expected one key, PROCESS.OPERATION or check)")
            }
            let keys = pairs.map { "'\($0.key.scalar?.string ?? "?")'" }.joined(separator: ", ")
            var hint = ""
            if context.kind(pairs[0].value) == .null {
                hint = " (are the arguments indented as a separate key? write them under the operation or as {key: value})"
            }
            throw context.error(pairs[1].key, "a step must have exactly one key (PROCESS.OPERATION or check), found \(pairs.count): "
                + keys + hint)
        }
        let keyNode = pairs[0].key
        let value = pairs[0].value
        let key = try context.key(keyNode, in: "a step")
        var sites = StepSites(key: context.location(keyNode))
        defer { self.sites.append(sites) }

        if key == "check" {
            let arguments = try StepArguments(context: context, operation: "check", keyNode: keyNode, value: value)
            let check = try self.check(arguments, sites: &sites)
            return Step(location: sites.key, process: nil, action: .check(check))
        }
        if key == "repeat" {
            let arguments = try StepArguments(context: context, operation: "repeat", keyNode: keyNode, value: value)
            try arguments.accept(["count", "steps"])
            let count = try context.integer(try arguments.required("count"), "'count' of repeat", in: 1...100_000_000)
            let stepsNode = try arguments.required("steps")
            let items = try context.sequence(stepsNode, "'steps' of repeat")
            if items.isEmpty { throw context.error(stepsNode, "a repeat needs at least one step") }
            let mark = self.sites.count
            var inner: [Step] = []
            for item in items {
                let step = try self.step(item)
                if case .check = step.action {
                    throw context.error(item, "check cannot be repeated: check after the repeat")
                }
                if case .repeat = step.action { throw context.error(item, "a repeat cannot contain a repeat") }
                inner.append(step)
            }
            sites.inner = Array(self.sites[mark...])
            self.sites.removeSubrange(mark...)
            return Step(location: sites.key, process: nil, action: .repeat(count: count, steps: inner))
        }
        guard let dot = key.firstIndex(of: ".") else {
            let hint = OperationKind(rawValue: key) != nil || key == "await" ? " (did you mean 'main.\(key)'?)" : ""
            throw context.error(keyNode, "unknown step '\(key)' (expected PROCESS.OPERATION, e.g. main.open, or check)\(hint)")
        }
        let process = String(key[..<dot])
        let operation = String(key[key.index(after: dot)...])
        guard Self.isIdentifier(process) else {
            throw context.error(keyNode, "invalid process name '\(process)' in '\(key)' "
                + "(a name starts with a letter or '_' and continues with letters, digits, '_' or '-')")
        }
        if operation == "check" {
            throw context.error(keyNode, "check takes no process prefix: write '- check: {...}' and qualify each descriptor")
        }
        if operation == "await" {
            let arguments = try StepArguments(context: context, operation: operation, keyNode: keyNode, value: value)
            try arguments.accept([])
            return Step(location: sites.key, process: process, action: .await)
        }
        guard let kind = OperationKind(rawValue: operation) else {
            let known = (OperationKind.allCases.map(\.keyword) + ["await"]).joined(separator: ", ")
            throw context.error(keyNode, "unknown operation '\(operation)' in '\(key)' (expected one of: \(known))")
        }
        let declaration = kind.declaration
        let arguments = try StepArguments(context: context, operation: operation, keyNode: keyNode, value: value)
        try arguments.accept(declaration.keys + (declaration.background ? ["background"] : []))
        for argument in declaration.arguments where argument.required {
            _ = try arguments.required(argument.key)
        }
        let (operationValue, binds) = try self.operation(kind, arguments, sites: &sites)
        let expect = try expectation(arguments)
        if case .mapping(let credentials)? = arguments["credentials"], let pid = credentials["pid"] {
            sites.fields["credentials.pid"] = context.location(pid)
        }
        let background = try arguments["background"].map { (node) throws(ScenarioError) in
            try context.bool(node, arguments.what("background"))
        } ?? false
        return Step(location: sites.key, process: process, action: .perform(operationValue), binds: binds, expect: expect,
                    background: background)
    }

    /// `{pid: process-or-0, uid: N, gid: N}`, each key optional.
    /// `from: unnamed`, `from: {unix: path}` or `from: {abstract: name}`.
    func senderAddress(_ node: Node) throws(ScenarioError) -> SenderAddress {
        if node.scalar?.string == "unnamed" { return .unnamed }
        guard case .mapping(let mapping) = node, mapping.count == 1, let (keyNode, value) = mapping.first,
              let key = keyNode.string, key == "unix" || key == "abstract"
        else { throw context.error(node, "expected unnamed, {unix: path} or {abstract: name} for 'from', found \(context.describe(node))") }
        let text = try context.string(value, "'from' \(key)")
        return key == "unix" ? .unix(path: text) : .abstract(name: text)
    }

    func credentials(_ node: Node) throws(ScenarioError) -> ExpectedCredentials {
        var expected = ExpectedCredentials()
        for (keyNode, value) in try context.mapping(node, "'credentials'") {
            let key = try context.string(keyNode, "a key of 'credentials'")
            switch key {
            case "pid":
                if let number = Int(value.string ?? ""), number == 0 {
                    expected.process = NamedCredentials.noProcess
                } else {
                    expected.process = try context.identifier(value, "'credentials' pid")
                }
            case "uid": expected.uid = UInt32(try context.integer(value, "'credentials' uid", in: 0...Int(UInt32.max)))
            case "gid": expected.gid = UInt32(try context.integer(value, "'credentials' gid", in: 0...Int(UInt32.max)))
            default:
                throw context.error(keyNode, "unknown key '\(key)' in 'credentials' (expected pid, uid, gid)")
            }
        }
        return expected
    }

    /// `ready: [{fd: r, events: [in]}, ...]`: what an epoll_wait reports.
    func readyRegistrations(_ node: Node) throws(ScenarioError) -> [ExpectedReady] {
        var expected: [ExpectedReady] = []
        for item in try context.sequence(node, "'ready'") {
            var fd: DescriptorRef?
            var events: Set<ReadyEvent>?
            for (keyNode, value) in try context.mapping(item, "an entry of 'ready'") {
                switch try context.string(keyNode, "a key of an entry of 'ready'") {
                case "fd": fd = try context.descriptor(value, "'ready' fd", allowArgument: true)
                case "events":
                    events = Set(try context.keywords(value, "'ready' events", allowed: ReadyEvent.allCases.map(\.rawValue))
                        .compactMap(ReadyEvent.init(rawValue:)))
                case let key:
                    throw context.error(keyNode, "unknown key '\(key)' in an entry of 'ready' (expected fd, events)")
                }
            }
            guard let fd, let events else {
                throw context.error(item, "an entry of 'ready' needs fd and events, as in {fd: r, events: [in]}")
            }
            // What no epoll_wait reports: a registration without an event, under a negative number.
            if events.isEmpty {
                throw context.error(item, "an entry of 'ready' needs at least one event (a registration is reported for "
                    + "its events: in, out, rdhup, err, hup)")
            }
            if case .number(let number) = fd, number < 0 {
                throw context.error(item, "an entry of 'ready' names a registration by the number it was registered "
                    + "under, never negative (found \(number))")
            }
            expected.append(ExpectedReady(fd: fd, events: events))
            if expected.count > Int(ReadyRegistration.maximumReported) {
                throw context.error(item, "'ready' lists more than \(ReadyRegistration.maximumReported) registrations, "
                    + "the most an epoll_wait step reports")
            }
        }
        return expected
    }

    /// An epoll_wait's expectations must be able to hold together: at most `max` reported, the count the
    /// list's length - unless the list is longer than `max`: then it names the registrations the kernel may
    /// choose from when more are ready than `max` (checked when the step runs).
    func checkEpollWaitExpectations(_ arguments: StepArguments, _ expect: Expectation) throws(ScenarioError) {
        var maxEvents = Int(ReadyRegistration.defaultMaximum)
        if let node = arguments["max"], let value = Int(node.scalar?.string ?? "") { maxEvents = value }
        if let result = expect.result, let node = arguments["result"], result > Int64(max(maxEvents, 0)) {
            throw context.error(node, "epoll_wait reports at most max (\(maxEvents)) registrations; 'result' \(result) "
                + "cannot hold")
        }
        // A list longer than max names the registrations the kernel may choose from (more ready than max).
        guard let ready = expect.ready, let node = arguments["ready"], ready.count <= max(maxEvents, 0) else { return }
        if let result = expect.result, result != Int64(ready.count) {
            throw context.error(node, "'ready' lists \(ready.count) registrations but 'result' says \(result): the "
                + "count is the list's length")
        }
    }

    func expectation(_ arguments: StepArguments) throws(ScenarioError) -> Expectation {
        var expect = Expectation()
        if let node = arguments["error"] {
            // One errno, or a list of those the kernel documents for the case (any of them passes).
            let items = context.kind(node) == .sequence ? try context.sequence(node, "'error'") : [node]
            if items.isEmpty { throw context.error(node, "'error' needs at least one errno name") }
            var names: [String] = []
            for item in items {
                let name = try context.string(item, "'error'")
                guard let canonical = Errno.canonicalName(name) else {
                    throw context.error(item, "unknown errno name '\(name)' for 'error' (expected a Linux errno name such as EBADF, EINVAL, EMFILE)")
                }
                names.append(canonical)
            }
            expect.error = names[0]
            expect.otherErrors = Array(names.dropFirst())
        }
        if let node = arguments["result"] {
            if arguments["error"] != nil {
                throw context.error(node, "'result' cannot be combined with 'error' (a failing call returns -1)")
            }
            expect.result = Int64(try context.integer(node, "'result'"))
        }
        if let node = arguments["expect"] {
            expect.data = try context.bytes(node, "'expect'")
        }
        if let node = arguments["received"] {
            expect.received = try context.integer(node, "'received'", in: 0...Int.max)
        }
        if let node = arguments["truncated"] {
            expect.truncated = try context.bool(node, "'truncated'")
        }
        if let node = arguments["credentials"] {
            expect.credentials = try credentials(node)
        }
        if let node = arguments["from"] {
            expect.from = try senderAddress(node)
        }
        if let node = arguments["ready"] {
            if arguments["error"] != nil {
                throw context.error(node, "'ready' cannot be combined with 'error' (a failing call reports nothing)")
            }
            expect.ready = try readyRegistrations(node)
        }
        if arguments.operation == OperationKind.epollWait.keyword { try checkEpollWaitExpectations(arguments, expect) }
        // `status` is exit's argument; only on wait and waitid is it an expectation: an exit code, or
        // `{signal: NAME}` for a child a signal ended.
        if arguments.operation == "wait" || arguments.operation == OperationKind.waitid.keyword, let node = arguments["status"] {
            if case .mapping(let mapping) = node {
                guard mapping.count == 1, let (key, value) = mapping.first, key.string == "signal" else {
                    throw context.error(node, "expected an exit status (0...255) or {signal: NAME} for 'status'")
                }
                let name = try context.keyword(value, "'signal' in 'status'", allowed: SentSignal.allCases.filter { $0 != .zero }.map(\.rawValue))
                expect.status = Outcome.killed(by: SentSignal(rawValue: name)?.linux ?? 0)
            } else {
                expect.status = Int32(try context.integer(node, "'status'", in: 0...255))
            }
        }
        return expect
    }
}

/// The offset of the first byte that does not begin or continue a valid UTF-8 sequence (overlong forms,
/// surrogates and values past U+10FFFF included), or nil when `bytes` is valid.
func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
    var index = 0
    while index < bytes.count {
        let lead = bytes[index]
        let length: Int
        var minimum: UInt32 = 0
        switch lead {
        case 0x00...0x7F: index += 1; continue
        case 0xC2...0xDF: length = 2; minimum = 0x80
        case 0xE0...0xEF: length = 3; minimum = 0x800
        case 0xF0...0xF4: length = 4; minimum = 0x10000
        default: return index
        }
        guard index + length <= bytes.count else { return index }
        var scalar = UInt32(lead) & (0xFF >> (length + 1))
        for continuation in bytes[(index + 1)..<(index + length)] {
            guard continuation & 0xC0 == 0x80 else { return index }
            scalar = scalar << 6 | UInt32(continuation & 0x3F)
        }
        if scalar < minimum || scalar > 0x10FFFF || (0xD800...0xDFFF).contains(scalar) { return index }
        index += length
    }
    return nil
}

extension SourceLocation {
    /// The 1-based line and column (in bytes) of byte `offset` of `text`.
    init(file: String, offset: Int, in text: [UInt8]) {
        let prefix = text.prefix(offset)
        let lineStart = prefix.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
        self.init(file: file, line: prefix.filter { $0 == UInt8(ascii: "\n") }.count + 1, column: prefix.count - lineStart + 1)
    }
}
