// One encoder and one decoder of operations on the wire. An operation travels as a WireMessage whose verb is
// its keyword; every field is listed in docs/protocol.md. Descriptors are decimal numbers (or `@SLOT` inside
// a loop), flags are Linux's values, bytes are hex.

/// A descriptor as it travels.
public protocol WireDescriptor: Hashable, Sendable {
    var wire: String { get }
    init?(wire: Substring)
}

extension Int32: WireDescriptor {
    public var wire: String { String(self) }
    public init?(wire: Substring) { self.init(wire, radix: 10) }
}

extension LoopOperand: WireDescriptor {
    public var wire: String {
        switch self {
        case .number(let number): return String(number)
        case .slot(let slot): return "@\(slot)"
        }
    }

    public init?(wire: Substring) {
        if wire.hasPrefix("@") {
            guard let slot = Int(wire.dropFirst()), slot >= 0 else { return nil }
            self = .slot(slot)
        } else {
            guard let number = Int32(wire) else { return nil }
            self = .number(number)
        }
    }
}

extension SocketAddress {
    /// `unix:HEX`, `abstract:HEX` or `tcp:PORT`.
    public var wire: String {
        switch self {
        case .unix(let path): return "unix:" + Hex.encode(Array(path.utf8))
        case .abstract(let name): return "abstract:" + Hex.encode(Array(name.utf8))
        case .tcp(let port): return "tcp:\(port)"
        }
    }

    public init?(wire text: String) {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let kind = text[..<colon]
        let value = text[text.index(after: colon)...]
        switch kind {
        case "unix", "abstract":
            guard let bytes = Hex.decode(value) else { return nil }
            let name = String(decoding: bytes, as: UTF8.self)
            self = kind == "unix" ? .unix(path: name) : .abstract(name: name)
        case "tcp":
            guard let port = UInt16(value) else { return nil }
            self = .tcp(port: port)
        default:
            return nil
        }
    }
}

extension Operation where Naming.Descriptor: WireDescriptor, Naming.Process == ProcessHandle,
    Naming.Address == SocketAddress, Naming.Text == String
{
    /// The request that asks an agent to perform this operation.
    public func encoded() -> WireMessage {
        var message = WireMessage(kind.keyword)
        switch self {
        case .files(let operation): operation.encode(into: &message)
        case .table(let operation): operation.encode(into: &message)
        case .sockets(let operation): operation.encode(into: &message)
        case .messages(let operation): operation.encode(into: &message)
        case .events(let operation): operation.encode(into: &message)
        case .processes(let operation): operation.encode(into: &message)
        }
        return message
    }

    /// The operation a request asks for, or why the request is malformed.
    public static func decode(_ message: WireMessage) -> Result<Operation, ProtocolError> {
        guard let kind = OperationKind(rawValue: message.verb) else {
            return .failure(ProtocolError("unknown verb \(message.verb)"))
        }
        var request = RequestReader<FD>(message)
        let operation: Operation
        switch kind {
        case .files(let kind): operation = .files(.decode(kind, &request))
        case .table(let kind): operation = .table(.decode(kind, &request))
        case .sockets(let kind): operation = .sockets(.decode(kind, &request))
        case .messages(let kind): operation = .messages(.decode(kind, &request))
        case .events(let kind): operation = .events(.decode(kind, &request))
        case .processes(let kind): operation = .processes(.decode(kind, &request))
        }
        if let refusal = request.refusal { return .failure(refusal) }
        if let problem = request.fields.problem { return .failure(ProtocolError("\(kind.keyword): \(problem)")) }
        return .success(operation)
    }
}

/// What each family's decoder reads a request with: its fields, and the values many operations take.
struct RequestReader<FD: WireDescriptor> {
    let message: WireMessage
    var fields: FieldReader
    /// A request no agent may be sent, whatever its fields.
    var refusal: ProtocolError?

    init(_ message: WireMessage) {
        self.message = message
        fields = FieldReader(message)
    }

    mutating func fd(_ key: String) -> FD {
        guard let text = fields.require(key), let value = FD(wire: text[...]) else {
            fields.malformed(key)
            return FD(wire: "-1")!
        }
        return value
    }
    mutating func environment() -> [EnvironmentVariable<String>] {
        fields.texts("env", optional: true).compactMap { entry in
            guard let equals = entry.firstIndex(of: "=") else { return nil }
            return EnvironmentVariable(name: String(entry[..<equals]), value: String(entry[entry.index(after: equals)...]))
        }
    }
    mutating func process() -> ProcessHandle { ProcessHandle(pid: fields.int32("pid"), channel: fields.int32("tctl", default: -1)) }
    /// A vocabulary word by its Linux value (`how`, `sig`, `opt`, ...): malformed, and `fallback`, when unknown.
    mutating func word<Word>(_ key: String, _ word: (Int32) -> Word?, or fallback: Word) -> Word {
        guard let value = word(fields.int32(key)) else { fields.malformed(key); return fallback }
        return value
    }
    /// A list of descriptors (`fds`): required, possibly empty.
    mutating func descriptorList(_ key: String) -> [FD] {
        var descriptors: [FD] = []
        if let list = fields.require(key), !list.isEmpty {
            for part in list.split(separator: ",", omittingEmptySubsequences: false) {
                guard let value = FD(wire: part) else { fields.malformed(key); break }
                descriptors.append(value)
            }
        }
        return descriptors
    }
    /// What recv and recvfrom both read: the socket, the byte count, the room for descriptors and the flags.
    mutating func receiving() -> (socket: FD, count: Int, room: Int, flags: Int32) {
        let socket = fd("fd")
        let count = fields.count("count")
        let room = Int(fields.int32("room"))
        if room < 0 || room > maximumRoom { fields.malformed("room") }
        return (socket, count, room, fields.int32("flags"))
    }
}

extension WireMessage {
    /// A descriptor as it travels.
    mutating func setDescriptor(_ key: String, _ value: some WireDescriptor) { set(key, value.wire) }

    /// A text (a path, a name, an argument), as bytes.
    mutating func setText(_ key: String, _ value: String) { set(key, bytes: Array(value.utf8)) }

    /// exec's and launch's extra environment, `NAME=value` each.
    mutating func setEnvironment(_ variables: [EnvironmentVariable<String>]) {
        set("env", byteLists: variables.map { Array(($0.name + "=" + $0.value).utf8) })
    }
}

/// SOCK_CLOEXEC and SOCK_NONBLOCK as socket(2), socketpair(2) and accept4(2) take them.
func socketFlags(_ closeOnExec: Bool, _ nonBlocking: Bool) -> Int32 {
    (closeOnExec ? Linux.SOCK_CLOEXEC : 0) | (nonBlocking ? Linux.SOCK_NONBLOCK : 0)
}


/// Why a message could not be understood; it travels back in a `bad` answer.
public struct ProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// Reads typed fields of one message, remembering the first one that is missing or malformed: a decoder reads
/// every field it needs and asks once at the end.
public struct FieldReader {
    let message: WireMessage
    public private(set) var problem: String?

    public init(_ message: WireMessage) { self.message = message }

    public mutating func malformed(_ key: String) {
        if problem == nil { problem = message[key] == nil ? "missing field '\(key)'" : "malformed field '\(key)'" }
    }

    public mutating func require(_ key: String) -> String? {
        guard let value = message[key] else { malformed(key); return nil }
        return value
    }

    public mutating func int64(_ key: String, default fallback: Int64? = nil) -> Int64 {
        guard let text = message[key] else {
            if let fallback { return fallback }
            malformed(key)
            return 0
        }
        guard let value = Int64(text) else { malformed(key); return fallback ?? 0 }
        return value
    }

    public mutating func int32(_ key: String, default fallback: Int32? = nil) -> Int32 {
        let value = int64(key, default: fallback.map(Int64.init))
        guard let narrow = Int32(exactly: value) else { malformed(key); return fallback ?? 0 }
        return narrow
    }

    /// A byte count: 0 to maximumTransfer.
    public mutating func count(_ key: String) -> Int {
        let value = int64(key)
        guard value >= 0 && value <= Int64(maximumTransfer) else { malformed(key); return 0 }
        return Int(value)
    }

    public mutating func bytes(_ key: String) -> [UInt8] {
        guard let text = require(key) else { return [] }
        guard let bytes = Hex.decode(text) else { malformed(key); return [] }
        return bytes
    }

    public mutating func text(_ key: String) -> String { String(decoding: bytes(key), as: UTF8.self) }

    public mutating func texts(_ key: String, optional: Bool = false) -> [String] {
        if optional && message[key] == nil { return [] }
        guard let lists = message.byteLists(key) else { malformed(key); return [] }
        return lists.map { String(decoding: $0, as: UTF8.self) }
    }

    public mutating func ints(_ key: String, optional: Bool = false) -> [Int32] {
        if optional && message[key] == nil { return [] }
        guard let values = message.ints(key) else { malformed(key); return [] }
        return values
    }

    mutating func openFlags(_ raw: Int32, _ key: String) -> Set<OpenFlag> {
        guard let flags = OpenFlag.set(fromLinux: raw) else { malformed(key); return [] }
        return flags
    }

    mutating func socketType(_ key: String) -> (SocketType, Bool, Bool) {
        let raw = int32(key)
        let closeOnExec = raw & Linux.SOCK_CLOEXEC != 0
        let nonBlocking = raw & Linux.SOCK_NONBLOCK != 0
        guard let type = SocketType(linux: raw & ~(Linux.SOCK_CLOEXEC | Linux.SOCK_NONBLOCK)) else {
            malformed(key)
            return (.stream, closeOnExec, nonBlocking)
        }
        return (type, closeOnExec, nonBlocking)
    }
}
