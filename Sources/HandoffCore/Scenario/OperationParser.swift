// Decoding of one operation's arguments into a typed ScenarioOperation and the names its `as:` binds. Which
// keys an operation accepts, which are required, and what `as:` binds come from its declaration
// (HandoffProtocol/OperationDeclarations.swift); this file turns the values into the typed operation.

import Yams

extension ScenarioDecoder {
    func operation(_ kind: OperationKind, _ a: StepArguments, sites: inout StepSites) throws(ScenarioError)
        -> (ScenarioOperation, [String?])
    {
        var reader = OperationArguments(kind: kind, a: a, context: context, sites: sites)
        let result: (ScenarioOperation, [String?])
        switch kind {
        case .files(let kind): result = try filesOperation(kind, &reader)
        case .table(let kind): result = try tableOperation(kind, &reader)
        case .sockets(let kind): result = try socketsOperation(kind, &reader)
        case .messages(let kind): result = try messagesOperation(kind, &reader)
        case .events(let kind): result = try eventsOperation(kind, &reader)
        case .processes(let kind): result = try processesOperation(kind, &reader)
        }
        sites = reader.sites
        return result
    }
}


/// A step's arguments as the operations' readers take them: typed values, each one's site kept for messages.
struct OperationArguments {
    let kind: OperationKind
    let a: StepArguments
    let context: YAMLContext
    var sites: StepSites

    mutating func ref(_ key: String, allowArgument: Bool = true) throws(ScenarioError) -> DescriptorRef {
        let node = try a.required(key)
        sites.fields[key] = context.location(node)
        return try context.descriptor(node, a.what(key), allowArgument: allowArgument)
    }
    mutating func name(_ key: String) throws(ScenarioError) -> String {
        let node = try a.required(key)
        sites.fields[key] = context.location(node)
        return try context.identifier(node, a.what(key))
    }
    mutating func flags(_ allowed: [String]) throws(ScenarioError) -> Set<String> {
        guard let node = a["flags"] else { return [] }
        return Set(try context.keywords(node, a.what("flags"), allowed: allowed))
    }
    /// `flags:` of a call whose invalid flags are worth a scenario (dup3, close_range): a list of the named
    /// bits, or a raw integer in `range` the kernel is handed as it is; 0 when absent.
    mutating func rawOrNamedFlags(_ bits: KeyValuePairs<String, Int64>, in range: ClosedRange<Int>) throws(ScenarioError) -> Int64 {
        guard let node = a["flags"] else { return 0 }
        switch context.kind(node) {
        case .int:
            return Int64(try context.integer(node, a.what("flags"), in: range))
        case .sequence:
            let named = try flags(bits.map(\.key))
            return bits.reduce(0) { named.contains($1.key) ? $0 | $1.value : $0 }
        default:
            throw context.error(node, "expected a list of flags ([\(bits.map(\.key).joined(separator: ", "))]) or a raw "
                + "integer for 'flags', found \(context.describe(node))")
        }
    }
    mutating func integer(_ key: String, default value: Int, in range: ClosedRange<Int>) throws(ScenarioError) -> Int {
        guard let node = a[key] else { return value }
        return try context.integer(node, a.what(key), in: range)
    }
    mutating func string(_ key: String, default value: String?) throws(ScenarioError) -> String {
        guard let node = a[key] else {
            guard let value else { _ = try a.required(key); return "" }
            return value
        }
        return try context.string(node, a.what(key))
    }
    /// `string`, for the texts a system call takes as C strings (see YAMLContext.cString).
    mutating func cString(_ key: String, default value: String?) throws(ScenarioError) -> String {
        let text = try string(key, default: value)
        if let node = a[key] { try context.rejectNUL(text, node, a.what(key)) }
        return text
    }
    /// `fds:` (each element's site kept for messages) and `data:` (at most one step's transfer) of the
    /// operations that send: send, send_headers, sendto.
    mutating func payload(defaultData: String = "") throws(ScenarioError) -> ([DescriptorRef], [UInt8]) {
        var fds: [DescriptorRef] = []
        if let node = a["fds"] {
            let items = try context.sequence(node, a.what("fds"))
            guard items.count <= maximumSentDescriptors else {
                throw context.error(node, "'fds' lists \(items.count) descriptors; at most \(maximumSentDescriptors) "
                    + "(SCM_MAX_FD is 253; far past it the kernel's net.core.optmem_max answers ENOBUFS before SCM_MAX_FD, "
                    + "which the model does not follow)")
            }
            for (index, item) in items.enumerated() {
                sites.fields["fds[\(index)]"] = context.location(item)
                fds.append(try context.descriptor(item, "an element of 'fds'"))
            }
        }
        return (fds, try data(default: defaultData))
    }
    /// `data:` of the operations that write or send: its UTF-8 bytes, at most one step's transfer (required
    /// when `value` is nil).
    mutating func data(default value: String?) throws(ScenarioError) -> [UInt8] {
        let data: [UInt8]
        if let node = a["data"] {
            data = try context.bytes(node, a.what("data"))
        } else {
            data = Array(try string("data", default: value).utf8)
        }
        guard data.count <= maximumTransfer else {
            throw context.error(a["data"] ?? a.keyNode, "'data' is \(data.count) bytes; at most \(maximumTransfer) fit one step")
        }
        return data
    }
    mutating func keyword(_ key: String, default value: String, _ allowed: [String]) throws(ScenarioError) -> String {
        guard let node = a[key] else { return value }
        return try context.keyword(node, a.what(key), allowed: allowed)
    }
    /// A word of `Word` (the number it stands for), or any 32-bit integer handed to the kernel as it is (the
    /// calls that take it unsigned see a negative one as a large one).
    mutating func keywordOrRaw<Word: KernelWord>(_ key: String, default value: Word) throws(ScenarioError) -> Int32 {
        guard let node = a[key] else { return value.linux }
        if context.kind(node) == .int {
            return Int32(truncatingIfNeeded: try context.integer(node, a.what(key), in: Int(Int32.min)...Int(UInt32.max)))
        }
        let word = try context.string(node, a.what(key))
        guard let known = Word(rawValue: word) else {
            throw context.error(node, "unknown value '\(word)' for \(a.what(key)) (expected one of: "
                                    + Word.allCases.map(\.rawValue).joined(separator: ", ") + ", or a raw integer)")
        }
        return known.linux
    }
    mutating func socketFlags() throws(ScenarioError) -> (closeOnExec: Bool, nonBlocking: Bool) {
        let f = try flags(["cloexec", "nonblock"])
        return (f.contains("cloexec"), f.contains("nonblock"))
    }
    mutating func socketType() throws(ScenarioError) -> SocketType {
        SocketType(rawValue: try keyword("type", default: "stream", SocketType.allCases.map(\.rawValue))) ?? .stream
    }
    /// What `as:` binds, by the operation's declaration.
    mutating func binds() throws(ScenarioError) -> [String?] {
        switch kind.declaration.binds {
        case .none, .process: return []
        case .descriptor: return a["as"] == nil ? [] : [try name("as")]
        case .pair: return try names("as", exactly: 2)
        case .list: return try names("as")
        }
    }
    mutating func names(_ key: String, exactly count: Int? = nil) throws(ScenarioError) -> [String?] {
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

}