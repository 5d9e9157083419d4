// Reads a scenario file (docs/scenarios.md) into a `Scenario`, then validates its timeline statically
// (ScenarioValidator.swift). Every error names file:line:column of the offending YAML node and what was
// expected there.

import Foundation
import Yams

public enum ScenarioParser {
    /// Parses and validates one scenario. `file` is used in locations; `name` becomes Scenario.name.
    public static func parse(yaml: String, file: String, name: String) throws(ScenarioError) -> Scenario {
        let context = YAMLContext(file: file)
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw context.malformed(error)
        } catch {
            throw ScenarioError(SourceLocation(file: file, line: 1, column: 1), "malformed YAML: \(error)")
        }
        guard let root else {
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

    static func read(_ path: String) throws(ScenarioError) -> String {
        let text: String
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            guard let decoded = String(data: data, encoding: .utf8) else {
                throw ScenarioError(SourceLocation(file: path, line: 0, column: 0),
                                    "cannot read scenario file '\(path)': it is not valid UTF-8")
            }
            text = decoded
        } catch let error as ScenarioError {
            throw error
        } catch {
            throw ScenarioError(SourceLocation(file: path, line: 0, column: 0),
                                "cannot read scenario file '\(path)': \(readFailure(path))")
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
        for suffix in [".yaml", ".yml"] where name.hasSuffix(suffix) && name.count > suffix.count {
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

    private static func readFailure(_ path: String) -> String {
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            return "no such file or directory"
        }
        if isDirectory.boolValue { return "it is a directory" }
        return "permission denied or unreadable"
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

// MARK: - YAML node helpers

/// The YAML-level type of a node, as the scenario format sees it.
enum NodeKind {
    case string, int, float, bool, null, mapping, sequence, alias
}

struct YAMLContext {
    let file: String

    func location(_ node: Node) -> SourceLocation {
        let mark = node.mark
        return SourceLocation(file: file, line: mark?.line ?? 0, column: mark?.column ?? 0)
    }

    func error(_ node: Node, _ message: String) -> ScenarioError {
        ScenarioError(location(node), message)
    }

    func malformed(_ error: YamlError) -> ScenarioError {
        func at(_ mark: Mark) -> SourceLocation { SourceLocation(file: file, line: mark.line, column: mark.column) }
        switch error {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            var message = "malformed YAML: \(problem)"
            if let context {
                message += " (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
            }
            return ScenarioError(at(mark), message)
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            return ScenarioError(at(context.mark), "malformed YAML: duplicate key \(keys) in a mapping")
        case .reader(let problem, let offset, _, let yaml):
            var location = SourceLocation(file: file, line: 1, column: 1)
            if let offset {
                let prefix = yaml.utf8.prefix(offset)
                let lines = prefix.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
                location.line = lines.count
                location.column = (lines.last?.count ?? 0) + 1
            }
            return ScenarioError(location, "malformed YAML: \(problem)")
        default:
            return ScenarioError(SourceLocation(file: file, line: 1, column: 1), "malformed YAML: \(error)")
        }
    }

    func kind(_ node: Node) -> NodeKind {
        switch node {
        case .mapping: return .mapping
        case .sequence: return .sequence
        case .alias: return .alias
        case .scalar(let scalar):
            if scalar.style != .plain && scalar.style != .any { return .string }
            switch node.tag.rawValue {
            case Tag.Name.int.rawValue: return .int
            case Tag.Name.float.rawValue: return .float
            case Tag.Name.bool.rawValue: return .bool
            case Tag.Name.null.rawValue: return .null
            default: return .string
            }
        }
    }

    /// How a found node is shown in "expected X, found Y".
    func describe(_ node: Node) -> String {
        switch kind(node) {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .null: return "nothing"
        case .string: return "\"\(node.scalar?.string ?? "")\""
        case .int, .float, .bool: return node.scalar?.string ?? "?"
        }
    }

    func string(_ node: Node, _ what: String) throws(ScenarioError) -> String {
        guard kind(node) == .string, let string = node.scalar?.string else {
            var hint = ""
            if [.int, .float, .bool, .null].contains(kind(node)), let raw = node.scalar?.string, !raw.isEmpty {
                hint = " (quote it: \"\(raw)\")"
            }
            throw error(node, "expected a string for \(what), found \(describe(node))\(hint)")
        }
        return string
    }

    func integer(_ node: Node, _ what: String) throws(ScenarioError) -> Int {
        guard kind(node) == .int, let scalar = node.scalar else {
            throw error(node, "expected an integer for \(what), found \(describe(node))")
        }
        guard let value = Int.construct(from: scalar) else {
            throw error(node, "integer \(scalar.string) for \(what) is out of range")
        }
        return value
    }

    func integer(_ node: Node, _ what: String, in range: ClosedRange<Int>) throws(ScenarioError) -> Int {
        let value = try integer(node, what)
        guard range.contains(value) else {
            throw error(node, "\(what) must be \(describe(range)), found \(value)")
        }
        return value
    }

    private func describe(_ range: ClosedRange<Int>) -> String {
        if range.upperBound == Int.max { return "at least \(range.lowerBound)" }
        return "between \(range.lowerBound) and \(range.upperBound)"
    }

    func bool(_ node: Node, _ what: String) throws(ScenarioError) -> Bool {
        guard kind(node) == .bool, let value = node.bool else {
            throw error(node, "expected true or false for \(what), found \(describe(node))")
        }
        return value
    }

    func sequence(_ node: Node, _ what: String) throws(ScenarioError) -> [Node] {
        guard case .sequence(let sequence) = node else {
            throw error(node, "expected a list for \(what), found \(describe(node))")
        }
        return Array(sequence)
    }

    func mapping(_ node: Node, _ what: String) throws(ScenarioError) -> [(key: Node, value: Node)] {
        guard case .mapping(let mapping) = node else {
            throw error(node, "expected a mapping for \(what), found \(describe(node))")
        }
        return mapping.map { (key: $0.key, value: $0.value) }
    }

    /// A mapping key, which the format always spells as a plain string.
    func key(_ node: Node, in what: String) throws(ScenarioError) -> String {
        guard let scalar = node.scalar, kind(node) != .null else {
            throw error(node, "expected a key name in \(what), found \(describe(node))")
        }
        return scalar.string
    }

    /// A process or descriptor name: `[A-Za-z_][A-Za-z0-9_-]*`.
    func identifier(_ node: Node, _ what: String) throws(ScenarioError) -> String {
        guard let scalar = node.scalar, kind(node) != .null else {
            throw error(node, "expected a name for \(what), found \(describe(node))")
        }
        let name = scalar.string
        guard ScenarioDecoder.isIdentifier(name) else {
            throw error(node, "invalid name \(describe(node)) for \(what) "
                + "(a name starts with a letter or '_' and continues with letters, digits, '_' or '-')")
        }
        return name
    }

    /// A list of names from a fixed set, e.g. flags.
    func keywords(_ node: Node, _ what: String, allowed: [String]) throws(ScenarioError) -> [String] {
        var result: [String] = []
        for item in try sequence(node, what) {
            let word = try string(item, "an element of \(what)")
            guard allowed.contains(word) else {
                throw error(item, "unknown value '\(word)' in \(what) (expected some of: \(allowed.joined(separator: ", ")))")
            }
            result.append(word)
        }
        return result
    }

    func keyword(_ node: Node, _ what: String, allowed: [String]) throws(ScenarioError) -> String {
        let word = try string(node, what)
        guard allowed.contains(word) else {
            throw error(node, "unknown value '\(word)' for \(what) (expected one of: \(allowed.joined(separator: ", ")))")
        }
        return word
    }

    /// A descriptor reference: an integer, a name, or `{argv: N}`.
    func descriptor(_ node: Node, _ what: String, allowArgument: Bool = true) throws(ScenarioError) -> DescriptorRef {
        let expected = allowArgument
            ? "a descriptor for \(what) (a number, a name, or {argv: N})"
            : "a descriptor for \(what) (a number or a name)"
        switch kind(node) {
        case .int:
            let value = try integer(node, what, in: Int(Int32.min)...Int(Int32.max))
            return .number(Int32(value))
        case .string, .bool:
            let name = node.scalar?.string ?? ""
            guard ScenarioDecoder.isIdentifier(name) else {
                throw error(node, "expected \(expected), found \(describe(node))")
            }
            return .name(name)
        case .mapping where allowArgument:
            let pairs = try mapping(node, what)
            guard pairs.count == 1, (try? key(pairs[0].key, in: what)) == "argv" else {
                throw error(node, "expected \(expected), found a mapping other than {argv: N}")
            }
            return .argument(try integer(pairs[0].value, "'argv'", in: 1...Int.max))
        default:
            throw error(node, "expected \(expected), found \(describe(node))")
        }
    }
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

    init(context: YAMLContext, operation: String, keyNode: Node, value: Node) throws(ScenarioError) {
        self.context = context
        self.operation = operation
        self.keyNode = keyNode
        var entries: [(key: String, keyNode: Node, value: Node)] = []
        switch context.kind(value) {
        case .null:
            break
        case .mapping:
            for pair in try context.mapping(value, operation) {
                entries.append((try context.key(pair.key, in: operation), pair.key, pair.value))
            }
        default:
            throw context.error(value, "expected a mapping of arguments for \(operation), found \(context.describe(value))"
                + " (write arguments as {key: value}, or nothing for none)")
        }
        self.entries = entries
    }

    /// Rejects any key not in `allowed`.
    func accept(_ allowed: [String]) throws(ScenarioError) {
        for entry in entries where !allowed.contains(entry.key) {
            throw context.error(entry.keyNode,
                                "unknown key '\(entry.key)' in \(operation) (expected one of: \(allowed.joined(separator: ", ")))")
        }
    }

    subscript(key: String) -> Node? {
        entries.first { $0.key == key }?.value
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
    static let requirementKeys = ["kernel", "syscalls", "capabilities", "programs"]
    static let knownSyscalls = ["kcmp", "pidfd_open", "pidfd_getfd", "close_range", "memfd_create"]
    static let knownCapabilities = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
        "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
        "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
    ]

    /// The operations a process can perform and the argument keys each accepts (expectations apart).
    static let operationKeys: [(name: String, keys: [String])] = [
        ("open", ["path", "flags", "mode", "as"]),
        ("pipe", ["flags", "as"]),
        ("socketpair", ["type", "flags", "as"]),
        ("memfd", ["name", "flags", "as"]),
        ("eventfd", ["initial", "flags", "as"]),
        ("dup", ["fd", "as"]),
        ("dup2", ["fd", "target", "as"]),
        ("dup3", ["fd", "target", "flags", "as"]),
        ("fcntl", ["fd", "cmd", "min", "cloexec", "flags", "as"]),
        ("close", ["fd"]),
        ("close_range", ["first", "last", "flags"]),
        ("lseek", ["fd", "offset", "whence"]),
        ("read", ["fd", "count"]),
        ("write", ["fd", "data"]),
        ("fork", ["as"]),
        ("exec", ["args", "env"]),
        ("exit", ["status"]),
        ("wait", ["child"]),
        ("send", ["socket", "fds", "data"]),
        ("recv", ["socket", "count", "room", "flags", "as"]),
        ("pidfd_open", ["process", "as"]),
        ("pidfd_getfd", ["process", "fd", "flags", "as"]),
        ("listen", ["address", "type", "flags", "backlog", "as"]),
        ("connect", ["address", "type", "flags", "as"]),
        ("accept", ["socket", "flags", "as"]),
        ("setrlimit", ["nofile"]),
        ("drop_capability", ["name"]),
        ("set_dumpable", ["value"]),
        ("reopen", ["process", "fd", "flags", "as"]),
        ("clone_files", ["as"]),
        ("unshare_files", []),
        ("launch", ["program", "args", "env", "listen", "accept"]),
        ("attach", ["as"]),
        ("await", []),
    ]

    /// Operations that cannot run in the background: they change which processes exist or what runs.
    static let foregroundOnly: Set<String> = ["fork", "clone_files", "exec", "exit", "launch", "attach", "await"]

    static let checkKeys = ["same", "different", "offset", "cloexec", "flags", "open", "number", "env"]

    /// The expectation keys an operation accepts besides its own.
    static func expectationKeys(for operation: String) -> [String] {
        switch operation {
        case "read": return ["error", "result", "expect"]
        case "recv": return ["error", "result", "expect", "received", "truncated"]
        case "wait": return ["error", "result", "status"]
        case "await", "launch", "attach": return []
        default: return ["error", "result"]
        }
    }

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
            guard let value, value > 0, value.isFinite else {
                throw context.error(node, "expected a number of seconds greater than 0 for 'timeout', found \(context.describe(node))")
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
            requirements.syscalls = try context.keywords(syscalls, "'syscalls'", allowed: Self.knownSyscalls)
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
                requirements.programs.append(try context.string(item, "a program name"))
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
            let hint = Self.operationKeys.contains { $0.name == key } ? " (did you mean 'main.\(key)'?)" : ""
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
        guard let keys = Self.operationKeys.first(where: { $0.name == operation })?.keys else {
            let known = Self.operationKeys.map(\.name).joined(separator: ", ")
            throw context.error(keyNode, "unknown operation '\(operation)' in '\(key)' (expected one of: \(known))")
        }
        let arguments = try StepArguments(context: context, operation: operation, keyNode: keyNode, value: value)
        let backgroundKey = Self.foregroundOnly.contains(operation) ? [] : ["background"]
        try arguments.accept(keys + Self.expectationKeys(for: operation) + backgroundKey)
        let action = try self.action(operation, arguments, sites: &sites)
        let expect = try expectation(arguments)
        let background = try arguments["background"].map { (node) throws(ScenarioError) in
            try context.bool(node, arguments.what("background"))
        } ?? false
        return Step(location: sites.key, process: process, action: action, expect: expect, background: background)
    }

    func expectation(_ arguments: StepArguments) throws(ScenarioError) -> Expectation {
        var expect = Expectation()
        if let node = arguments["error"] {
            let name = try context.string(node, "'error'")
            guard let canonical = Errno.canonicalName(name) else {
                throw context.error(node, "unknown errno name '\(name)' for 'error' (expected a Linux errno name such as EBADF, EINVAL, EMFILE)")
            }
            expect.error = canonical
        }
        if let node = arguments["result"] {
            if arguments["error"] != nil {
                throw context.error(node, "'result' cannot be combined with 'error' (a failing call returns -1)")
            }
            expect.result = Int64(try context.integer(node, "'result'"))
        }
        if let node = arguments["expect"] {
            expect.data = Array(try context.string(node, "'expect'").utf8)
        }
        if let node = arguments["received"] {
            expect.received = try context.integer(node, "'received'", in: 0...Int.max)
        }
        if let node = arguments["truncated"] {
            expect.truncated = try context.bool(node, "'truncated'")
        }
        // `status` is exit's argument; only on wait is it an expectation.
        if arguments.operation == "wait", let node = arguments["status"] {
            expect.status = Int32(try context.integer(node, "'status'", in: 0...255))
        }
        return expect
    }

    // MARK: Operations

    func action(_ operation: String, _ a: StepArguments, sites: inout StepSites) throws(ScenarioError) -> Action {
        func ref(_ key: String, allowArgument: Bool = true) throws(ScenarioError) -> DescriptorRef {
            let node = try a.required(key)
            sites.fields[key] = context.location(node)
            return try context.descriptor(node, a.what(key), allowArgument: allowArgument)
        }
        func name(_ key: String) throws(ScenarioError) -> String {
            let node = try a.required(key)
            sites.fields[key] = context.location(node)
            return try context.identifier(node, a.what(key))
        }
        func optionalName(_ key: String) throws(ScenarioError) -> String? {
            guard a[key] != nil else { return nil }
            return try name(key)
        }
        func names(_ key: String, exactly count: Int? = nil) throws(ScenarioError) -> [String] {
            guard let node = a[key] else {
                if count != nil { _ = try a.required(key) }
                return []
            }
            sites.fields[key] = context.location(node)
            let items = try context.sequence(node, a.what(key))
            if let count, items.count != count {
                throw context.error(node, "expected a list of exactly \(count) names for \(a.what(key)), found \(items.count)")
            }
            var result: [String] = []
            for item in items {
                let name = try context.identifier(item, "an element of \(a.what(key))")
                if result.contains(name) {
                    throw context.error(item, "name '\(name)' appears twice in \(a.what(key))")
                }
                result.append(name)
            }
            return result
        }
        func flags(_ allowed: [String]) throws(ScenarioError) -> Set<String> {
            guard let node = a["flags"] else { return [] }
            return Set(try context.keywords(node, a.what("flags"), allowed: allowed))
        }
        func integer(_ key: String, default value: Int, in range: ClosedRange<Int>) throws(ScenarioError) -> Int {
            guard let node = a[key] else { return value }
            return try context.integer(node, a.what(key), in: range)
        }
        func string(_ key: String, default value: String?) throws(ScenarioError) -> String {
            guard let node = a[key] else {
                guard let value else { _ = try a.required(key); return "" }
                return value
            }
            return try context.string(node, a.what(key))
        }
        func keyword(_ key: String, default value: String, _ allowed: [String]) throws(ScenarioError) -> String {
            guard let node = a[key] else { return value }
            return try context.keyword(node, a.what(key), allowed: allowed)
        }

        switch operation {
        case "open":
            let pathNode = try a.required("path")
            let path = try context.string(pathNode, a.what("path"))
            let components = path.split(separator: "/", omittingEmptySubsequences: false)
            if path.isEmpty || path.hasPrefix("/") || components.contains("..") {
                throw context.error(pathNode, "path \"\(path)\" must be relative to the scenario's private directory "
                    + "(not empty, not starting with '/', no '..' component)")
            }
            let openFlags = try flags(OpenFlag.allCases.map(\.rawValue))
            var mode: UInt32 = 0o644
            if let node = a["mode"] {
                mode = try self.mode(node)
            }
            return .open(path: path, flags: Set(openFlags.compactMap(OpenFlag.init(rawValue:))), mode: mode,
                         as: try optionalName("as"))
        case "pipe":
            let f = try flags(["cloexec", "nonblock"])
            let ends = try names("as", exactly: 2)
            return .pipe(closeOnExec: f.contains("cloexec"), nonBlocking: f.contains("nonblock"), as: (ends[0], ends[1]))
        case "socketpair":
            let type = SocketType(rawValue: try keyword("type", default: "stream", SocketType.allCases.map(\.rawValue)))!
            let f = try flags(["cloexec", "nonblock"])
            let ends = try names("as", exactly: 2)
            return .socketpair(type: type, closeOnExec: f.contains("cloexec"), nonBlocking: f.contains("nonblock"),
                               as: (ends[0], ends[1]))
        case "memfd":
            let memfdName = try string("name", default: "handoff")
            let f = try flags(["cloexec"])
            return .memfd(name: memfdName, closeOnExec: f.contains("cloexec"), as: try optionalName("as"))
        case "eventfd":
            let f = try flags(["cloexec", "nonblock"])
            let initial = try integer("initial", default: 0, in: 0...Int(UInt32.max))
            return .eventfd(initial: UInt32(initial), closeOnExec: f.contains("cloexec"), nonBlocking: f.contains("nonblock"),
                            as: try optionalName("as"))
        case "dup":
            return .dup(fd: try ref("fd"), as: try optionalName("as"))
        case "dup2":
            return .dup2(fd: try ref("fd"), target: try ref("target", allowArgument: false), as: try optionalName("as"))
        case "dup3":
            let fd = try ref("fd")
            let target = try ref("target", allowArgument: false)
            var closeOnExec = false
            var raw: Int32?
            if let node = a["flags"] {
                if context.kind(node) == .int {
                    raw = Int32(truncatingIfNeeded: try context.integer(node, a.what("flags"), in: Int(Int32.min)...Int(UInt32.max)))
                } else if context.kind(node) == .sequence {
                    closeOnExec = try flags(["cloexec"]).contains("cloexec")
                } else {
                    throw context.error(node, "expected a list of flags ([cloexec]) or a raw integer for 'flags', "
                        + "found \(context.describe(node))")
                }
            }
            return .dup3(fd: fd, target: target, closeOnExec: closeOnExec, flags: raw, as: try optionalName("as"))
        case "fcntl":
            return try fcntl(a, sites: &sites)
        case "close":
            return .close(fd: try ref("fd"))
        case "close_range":
            let firstNode = try a.required("first")
            let first = try context.integer(firstNode, a.what("first"), in: 0...Int(UInt32.max))
            var last: UInt32?
            if let node = a["last"] {
                if context.kind(node) == .string, node.scalar?.string == "max" {
                    last = nil
                } else if context.kind(node) == .int {
                    let value = try context.integer(node, a.what("last"))
                    // last < first is allowed: the kernel's EINVAL is worth a scenario.
                    guard value >= 0, value <= Int(UInt32.max) else {
                        throw context.error(node, "'last' must be between 0 and \(UInt32.max), found \(value)")
                    }
                    last = UInt32(value)
                } else {
                    throw context.error(node, "expected an integer or \"max\" for 'last', found \(context.describe(node))")
                }
            }
            let f = try flags(["cloexec", "unshare"])
            return .closeRange(first: UInt32(first), last: last, closeOnExec: f.contains("cloexec"), unshare: f.contains("unshare"))
        case "lseek":
            let fd = try ref("fd")
            var offset: Int64 = 0
            if let node = a["offset"] { offset = Int64(try context.integer(node, a.what("offset"))) }
            let whence = Whence(rawValue: try keyword("whence", default: "set", Whence.allCases.map(\.rawValue)))!
            return .lseek(fd: fd, offset: offset, whence: whence)
        case "read":
            return .read(fd: try ref("fd"), count: try integer("count", default: 256, in: 0...Int.max))
        case "write":
            let fd = try ref("fd")
            return .write(fd: fd, data: Array(try string("data", default: nil).utf8))
        case "fork":
            return .fork(as: try name("as"))
        case "exec":
            let (arguments, environment) = try argumentsAndEnvironment(a, sites: &sites)
            return .exec(arguments: arguments, environment: environment)
        case "exit":
            return .exit(status: Int32(try integer("status", default: 0, in: 0...255)))
        case "wait":
            return .wait(child: try name("child"))
        case "send":
            let socket = try ref("socket")
            var fds: [DescriptorRef] = []
            if let node = a["fds"] {
                for (index, item) in try context.sequence(node, a.what("fds")).enumerated() {
                    sites.fields["fds[\(index)]"] = context.location(item)
                    fds.append(try context.descriptor(item, "an element of 'fds'"))
                }
            }
            let data = Array(try string("data", default: "").utf8)
            return .send(socket: socket, fds: fds, data: data)
        case "recv":
            let socket = try ref("socket")
            let count = try integer("count", default: 256, in: 0...Int.max)
            let f = try flags(["cloexec", "nonblock"])
            let received = try names("as")
            let room = try integer("room", default: received.count, in: 0...Int.max)
            return .recv(socket: socket, count: count, room: room, closeOnExec: f.contains("cloexec"),
                         nonBlocking: f.contains("nonblock"), as: received)
        case "pidfd_open":
            return .pidfdOpen(target: try name("process"), as: try optionalName("as"))
        case "pidfd_getfd":
            let target = try name("process")
            let fd = try ref("fd")
            let raw = try integer("flags", default: 0, in: 0...Int(UInt32.max))
            return .pidfdGetfd(target: target, fd: fd, flags: UInt32(raw), as: try optionalName("as"))
        case "listen", "connect":
            let addressNode = try a.required("address")
            sites.fields["address"] = context.location(addressNode)
            let address = try self.address(addressNode, listening: operation == "listen")
            let type = SocketType(rawValue: try keyword("type", default: "stream", ["stream", "seqpacket", "dgram"]))!
            let f = try flags(["cloexec", "nonblock"])
            if operation == "listen" {
                let backlog = try integer("backlog", default: 16, in: 0...65535)
                return .listen(address: address, type: type, closeOnExec: f.contains("cloexec"),
                               nonBlocking: f.contains("nonblock"), backlog: Int32(backlog), as: try optionalName("as"))
            }
            return .connect(address: address, type: type, closeOnExec: f.contains("cloexec"),
                            nonBlocking: f.contains("nonblock"), as: try optionalName("as"))
        case "accept":
            let socket = try ref("socket")
            let f = try flags(["cloexec", "nonblock"])
            return .accept(socket: socket, closeOnExec: f.contains("cloexec"), nonBlocking: f.contains("nonblock"),
                           as: try optionalName("as"))
        case "setrlimit":
            return .setrlimit(nofile: UInt64(try integer("nofile", default: -1, in: 0...Int(Int32.max))))
        case "drop_capability":
            let node = try a.required("name")
            let capability = try context.string(node, a.what("name"))
            guard Self.knownCapabilities.contains(capability) else {
                throw context.error(node, "unknown capability \"\(capability)\" (expected a CAP_ name such as CAP_SYS_PTRACE)")
            }
            return .dropCapability(name: capability)
        case "set_dumpable":
            let node = try a.required("value")
            return .setDumpable(try context.bool(node, a.what("value")))
        case "reopen":
            let target = try name("process")
            let fd = try ref("fd")
            let openFlags = try flags(OpenFlag.allCases.map(\.rawValue))
            return .reopen(target: target, fd: fd, flags: Set(openFlags.compactMap(OpenFlag.init(rawValue:))),
                           as: try optionalName("as"))
        case "clone_files":
            return .cloneFiles(as: try name("as"))
        case "unshare_files":
            return .unshareFiles
        case "launch":
            let program = try string("program", default: nil)
            if let node = a["program"] { sites.fields["program"] = context.location(node) }
            let (arguments, environment) = try argumentsAndEnvironment(a, sites: &sites)
            var listen: [(address: AddressSpec, type: SocketType)] = []
            for item in try context.sequence(try a.required("listen"), a.what("listen")) {
                // {unix: path} or {unix: path, type: seqpacket}
                guard case .mapping(let mapping) = item else {
                    throw context.error(item, "expected an address such as {unix: svc.sock} in 'listen'")
                }
                var type = SocketType.stream
                var addressPairs: [(Node, Node)] = []
                for (key, value) in mapping {
                    if key.string == "type" {
                        type = SocketType(rawValue: try context.keyword(value, "the socket type", allowed: ["stream", "dgram", "seqpacket"]))!
                    } else {
                        addressPairs.append((key, value))
                    }
                }
                let address = try self.address(Node.mapping(Node.Mapping(addressPairs, mapping.tag, mapping.style, mapping.mark)),
                                               listening: true)
                listen.append((address, type))
            }
            let acceptMode = try a["accept"].map { (node) throws(ScenarioError) in try context.bool(node, a.what("accept")) } ?? false
            return .launch(Launch(program: program, arguments: arguments, environment: environment, listen: listen,
                                  acceptMode: acceptMode))
        case "attach":
            return .attach(as: try name("as"))
        case "await":
            return .await
        default:
            throw context.error(a.keyNode, "unknown operation '\(operation)'")
        }
    }

    /// `args:` and `env:` of exec and launch, with placeholders.
    func argumentsAndEnvironment(_ a: StepArguments, sites: inout StepSites) throws(ScenarioError)
        -> ([[ArgumentPart]], [EnvironmentEntry])
    {
        var arguments: [[ArgumentPart]] = []
        if let node = a["args"] {
            for (index, item) in try context.sequence(node, a.what("args")).enumerated() {
                sites.fields["args[\(index)]"] = context.location(item)
                arguments.append(try argument(item))
            }
        }
        var environment: [EnvironmentEntry] = []
        if let node = a["env"] {
            for pair in try context.mapping(node, a.what("env")) {
                let name = try context.string(pair.key, "an environment variable name")
                if name.isEmpty || name.contains("=") {
                    throw context.error(pair.key, "invalid environment variable name \"\(name)\"")
                }
                sites.fields["env.\(name)"] = context.location(pair.value)
                environment.append(EnvironmentEntry(name: name, value: try argument(pair.value)))
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
            let path = try context.string(value, "'unix' path")
            let components = path.split(separator: "/", omittingEmptySubsequences: false)
            if path.isEmpty || path.hasPrefix("/") || components.contains("..") || path.utf8.count > 80 {
                throw context.error(value, "unix socket path \"\(path)\" must be relative to the scenario's directory "
                    + "(not empty, no '/' start, no '..', at most 80 bytes)")
            }
            return .unix(path)
        case "abstract":
            return .abstract(try context.string(value, "'abstract' name"))
        case "tcp":
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

    static let fcntlCommands = ["dupfd", "dupfd_cloexec", "getfd", "setfd", "getfl", "setfl"]

    func fcntl(_ a: StepArguments, sites: inout StepSites) throws(ScenarioError) -> Action {
        let cmdNode = try a.required("cmd")
        let cmd = try context.keyword(cmdNode, a.what("cmd"), allowed: Self.fcntlCommands)
        let specific: [String]
        switch cmd {
        case "dupfd", "dupfd_cloexec": specific = ["min", "as"]
        case "setfd": specific = ["cloexec"]
        case "setfl": specific = ["flags"]
        default: specific = []
        }
        let allowed = ["fd", "cmd"] + specific + Self.expectationKeys(for: "fcntl")
        for entry in a.entries where !allowed.contains(entry.key) {
            throw context.error(entry.keyNode, "key '\(entry.key)' does not apply to fcntl cmd \(cmd) "
                + "(expected one of: \(allowed.joined(separator: ", ")))")
        }
        let fdNode = try a.required("fd")
        sites.fields["fd"] = context.location(fdNode)
        let fd = try context.descriptor(fdNode, a.what("fd"))
        var name: String?
        if let node = a["as"] {
            sites.fields["as"] = context.location(node)
            name = try context.identifier(node, a.what("as"))
        }
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
        default:
            var set: Set<StatusFlag> = []
            if let node = a["flags"] {
                for word in try context.keywords(node, a.what("flags"), allowed: StatusFlag.allCases.map(\.rawValue)) {
                    set.insert(StatusFlag(rawValue: word)!)
                }
            }
            command = .setfl(set)
        }
        return .fcntl(fd: fd, command: command, as: name)
    }

    /// One exec argument: text with `{name}` placeholders; `{{` and `}}` are literal braces.
    func argument(_ node: Node) throws(ScenarioError) -> [ArgumentPart] {
        guard let scalar = node.scalar, context.kind(node) != .null else {
            throw context.error(node, "expected a string for an element of 'args', found \(context.describe(node))")
        }
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

    // MARK: check

    func qualified(_ node: Node, _ what: String) throws(ScenarioError) -> QualifiedDescriptor {
        let expected = "a descriptor as PROCESS.NAME or PROCESS.NUMBER (e.g. main.file, peer.3)"
        guard context.kind(node) == .string, let text = node.scalar?.string, let dot = text.firstIndex(of: ".") else {
            throw context.error(node, "expected \(expected) in \(what), found \(context.describe(node))")
        }
        let process = String(text[..<dot])
        let rest = String(text[text.index(after: dot)...])
        guard Self.isIdentifier(process) else {
            throw context.error(node, "invalid process name '\(process)' in \"\(text)\" (expected \(expected))")
        }
        if let number = Int32(rest) {
            return QualifiedDescriptor(process: process, descriptor: .number(number))
        }
        guard Self.isIdentifier(rest) else {
            throw context.error(node, "invalid descriptor '\(rest)' in \"\(text)\" (expected \(expected))")
        }
        return QualifiedDescriptor(process: process, descriptor: .name(rest))
    }

    func check(_ a: StepArguments, sites: inout StepSites) throws(ScenarioError) -> Check {
        try a.accept(Self.checkKeys)
        guard !a.entries.isEmpty else {
            throw context.error(a.keyNode, "check needs at least one of: \(Self.checkKeys.joined(separator: ", "))")
        }
        var check = Check()
        func list(_ key: String) throws(ScenarioError) -> [QualifiedDescriptor] {
            guard let node = a[key] else { return [] }
            let items = try context.sequence(node, a.what(key))
            guard items.count >= 2 else {
                throw context.error(node, "\(a.what(key)) needs a list of at least 2 descriptors, found \(items.count)")
            }
            var result: [QualifiedDescriptor] = []
            for item in items {
                let descriptor = try qualified(item, a.what(key))
                sites.checked.append(.descriptor(descriptor, context.location(item)))
                result.append(descriptor)
            }
            return result
        }
        func map(_ key: String) throws(ScenarioError) -> [(QualifiedDescriptor, Node)] {
            guard let node = a[key] else { return [] }
            var result: [(QualifiedDescriptor, Node)] = []
            for pair in try context.mapping(node, a.what(key)) {
                let descriptor = try qualified(pair.key, a.what(key))
                sites.checked.append(.descriptor(descriptor, context.location(pair.key)))
                result.append((descriptor, pair.value))
            }
            return result
        }
        // Keys are decoded in document order so that the first error is the first in the file.
        for entry in a.entries {
            switch entry.key {
            case "same": check.same = try list("same")
            case "different": check.different = try list("different")
            case "offset":
                for (descriptor, value) in try map("offset") {
                    check.offsets[descriptor] = Int64(try context.integer(value, "the offset of \(descriptor)"))
                }
            case "cloexec":
                for (descriptor, value) in try map("cloexec") {
                    check.closeOnExec[descriptor] = try context.bool(value, "the close-on-exec flag of \(descriptor)")
                }
            case "flags":
                for (descriptor, value) in try map("flags") {
                    let words = try context.keywords(value, "the flags of \(descriptor)", allowed: StatusFlag.allCases.map(\.rawValue))
                    check.flags[descriptor] = Set(words.compactMap(StatusFlag.init(rawValue:)))
                }
            case "number":
                for (descriptor, value) in try map("number") {
                    check.numbers[descriptor] = Int32(try context.integer(value, "the number of \(descriptor)", in: 0...Int(Int32.max)))
                }
            case "env":
                for pair in try context.mapping(entry.value, a.what("env")) {
                    let process = try context.identifier(pair.key, "a process in 'env'")
                    sites.checked.append(.process(process, context.location(pair.key)))
                    var variables: [(name: String, value: [ArgumentPart]?)] = []
                    for variable in try context.mapping(pair.value, "the environment of '\(process)'") {
                        let name = try context.string(variable.key, "an environment variable name")
                        let value = context.kind(variable.value) == .null ? nil : try argument(variable.value)
                        variables.append((name, value))
                    }
                    check.environment[process] = variables
                }
            default: // open
                for pair in try context.mapping(entry.value, a.what("open")) {
                    let process = try context.identifier(pair.key, "a process in 'open'")
                    sites.checked.append(.process(process, context.location(pair.key)))
                    var refs: [DescriptorRef] = []
                    for item in try context.sequence(pair.value, "the open descriptors of '\(process)'") {
                        let descriptor = try context.descriptor(item, "an element of the open descriptors of '\(process)'")
                        refs.append(descriptor)
                        sites.checked.append(.descriptor(QualifiedDescriptor(process: process, descriptor: descriptor),
                                                         context.location(item)))
                    }
                    check.open[process] = refs
                }
            }
        }
        return check
    }
}
