// Every operation, declared once: its keyword, its arguments with types and defaults, what it binds with
// `as:`, whether it may run inside `repeat` or in the background, which expectations it accepts and what it
// needs from the system. The parser, the validator, requirement probing, the agent's hello, the docs'
// operation table (checked by a test) and the random generator read this; nothing else lists operations.
// Each family's declarations are in its file under Operations/; this file has what they are made of.

/// Which operation a step or request is: its family and, within it, the operation (each family's kinds,
/// keywords and declarations are in its file under Operations/). `OperationKind.dup2` and the like name one.
public enum OperationKind: Sendable, Hashable, CaseIterable, RawRepresentable {
    case files(FileOperationKind)
    case table(TableOperationKind)
    case sockets(SocketOperationKind)
    case messages(MessageOperationKind)
    case events(EventOperationKind)
    case processes(ProcessOperationKind)

    /// Every operation, family by family (the order of the docs' table and of `handoff operations`).
    public static let allCases: [OperationKind] =
        FileOperationKind.allCases.map { .files($0) }
            + TableOperationKind.allCases.map { .table($0) }
            + SocketOperationKind.allCases.map { .sockets($0) }
            + MessageOperationKind.allCases.map { .messages($0) }
            + EventOperationKind.allCases.map { .events($0) }
            + ProcessOperationKind.allCases.map { .processes($0) }

    /// The name written in YAML (`main.close_range`) and on the wire.
    public var rawValue: String {
        switch self {
        case .files(let kind): return kind.rawValue
        case .table(let kind): return kind.rawValue
        case .sockets(let kind): return kind.rawValue
        case .messages(let kind): return kind.rawValue
        case .events(let kind): return kind.rawValue
        case .processes(let kind): return kind.rawValue
        }
    }

    public init?(rawValue: String) {
        if let kind = FileOperationKind(rawValue: rawValue) { self = .files(kind); return }
        if let kind = TableOperationKind(rawValue: rawValue) { self = .table(kind); return }
        if let kind = SocketOperationKind(rawValue: rawValue) { self = .sockets(kind); return }
        if let kind = MessageOperationKind(rawValue: rawValue) { self = .messages(kind); return }
        if let kind = EventOperationKind(rawValue: rawValue) { self = .events(kind); return }
        if let kind = ProcessOperationKind(rawValue: rawValue) { self = .processes(kind); return }
        return nil
    }

    /// The name written in YAML (`main.close_range`) and on the wire.
    public var keyword: String { rawValue }
}

/// What `as:` names after an operation.
public enum Binding: Sendable, Equatable {
    /// Nothing (`as:` is not accepted).
    case none
    /// One descriptor, optionally named.
    case descriptor
    /// Two descriptors, both named, in this order (`as: [read, write]`).
    case pair(String, String)
    /// Any number of descriptors, in the order they arrive (`as: [a, b]`).
    case list
    /// A new process, named (required).
    case process
}

/// The expectations a step may state, checked against the kernel itself.
public enum ExpectationKey: String, Sendable, CaseIterable {
    /// The errno by name; without it, success is expected.
    case error
    /// The return value.
    case result
    /// The bytes a read or recv returns.
    case expect
    /// How many descriptors a recv receives.
    case received
    /// Whether a recv reports MSG_CTRUNC.
    case truncated
    /// The exit status a wait reaps.
    case status
    /// The struct ucred a getsockopt(SO_PEERCRED) returns or a recv's SCM_CREDENTIALS carries.
    case credentials
    /// The sender's address a recvfrom reports: `unnamed`, `{unix: path}` or `{abstract: name}`.
    case from
    /// The registrations an epoll_wait reports: `[{fd: name, events: [in, hup]}]`, in any order.
    case ready
}

/// How an argument is written.
public enum ArgumentType: Sendable, Equatable {
    /// A descriptor of the acting process: a name, a number, or `{argv: N}`.
    case descriptor
    /// A list of descriptors to send: at most `maximumSentDescriptors`.
    case descriptors
    /// A process name.
    case process
    case integer(ClosedRange<Int64>)
    /// A list of words from this set.
    case flags([String])
    /// A list of words from this set, or a raw integer handed to the kernel as it is (for calls whose
    /// refusal of unknown flags, EINVAL, is worth a scenario: dup3, close_range).
    case flagsOrRaw([String])
    /// One word from this set.
    case keyword([String])
    /// One word from this set, or a raw integer handed to the kernel as it is (for a call whose refusal of
    /// an unknown value, EINVAL, is worth a scenario: lseek's whence).
    case keywordOrRaw([String])
    case string
    /// Bytes: a string's UTF-8 bytes, or `{hex: "..."}` for any bytes.
    case bytes
    case bool
    /// An octal file mode.
    case mode
    /// A socket address: `{unix: path}`, `{abstract: name}`, `{tcp: PORT}` or `{tcp: process.socket}`.
    case address
    /// A list of texts with placeholders (`{name}`, `{@pid}`).
    case texts
    /// A mapping of environment variables to texts with placeholders.
    case environment
    /// A list of addresses with an optional `type`.
    case sockets
    /// Arguments that depend on another (fcntl's `cmd`).
    case command([String])
    /// A list of integers in this range.
    case integers(ClosedRange<Int64>)

    /// How the docs show it.
    public var summary: String {
        switch self {
        case .descriptor: return "descriptor"
        case .descriptors: return "list of at most \(maximumSentDescriptors) descriptors"
        case .process: return "process"
        case .integer(let range):
            if range.upperBound == Int64.max { return "integer ≥ \(range.lowerBound)" }
            return "integer \(range.lowerBound)...\(range.upperBound)"
        case .flags(let words): return "flags [" + words.joined(separator: ", ") + "]"
        case .flagsOrRaw(let words): return "flags [" + words.joined(separator: ", ") + "] or a raw integer"
        case .keyword(let words): return words.joined(separator: " \\| ")
        case .keywordOrRaw(let words): return words.joined(separator: " \\| ") + " or a raw integer"
        case .string: return "string"
        case .bytes: return "string, or {hex: \"ff 00\"} for any bytes"
        case .bool: return "true \\| false"
        case .mode: return "octal mode"
        case .address: return "address"
        case .texts: return "list of texts"
        case .environment: return "mapping NAME: text"
        case .sockets: return "list of addresses"
        case .command(let words): return words.joined(separator: " \\| ")
        case .integers(let range): return "list of integers \(range.lowerBound)...\(range.upperBound)"
        }
    }
}

public struct ArgumentDeclaration: Sendable {
    public var key: String
    public var type: ArgumentType
    public var required: Bool
    /// The default as the docs show it; nil when required or when absence means "none".
    public var defaultValue: String?
    /// Accepted only when another argument has one of these values (fcntl's `min` with `cmd: dupfd`).
    public var onlyWith: (key: String, values: [String])?

    public init(_ key: String, _ type: ArgumentType, required: Bool = false, default defaultValue: String? = nil,
                onlyWith: (key: String, values: [String])? = nil) {
        self.key = key
        self.type = type
        self.required = required
        self.defaultValue = defaultValue
        self.onlyWith = onlyWith
    }
}

/// What an operation needs from the running system; a scenario using it is skipped with the reason where
/// something is missing (LTP's `struct tst_test` needs, as data).
public struct SystemNeeds: Sendable, Equatable {
    /// System calls probed by making them (names from SystemProbe's list).
    public var syscalls: [String]
    public var capabilities: [String]

    public init(syscalls: [String] = [], capabilities: [String] = []) {
        self.syscalls = syscalls
        self.capabilities = capabilities
    }
}

public struct OperationDeclaration: Sendable {
    public var kind: OperationKind
    /// One line for the docs.
    public var summary: String
    public var arguments: [ArgumentDeclaration]
    public var binds: Binding
    /// Whether the agents may run it by themselves inside `repeat` (descriptor operations, no process changes).
    public var repeatable: Bool
    /// Whether it may run in the background (it does not change which processes exist or what they run).
    public var background: Bool
    public var expectations: [ExpectationKey]
    public var needs: SystemNeeds
    /// What it does to processes beyond their descriptors; `.none` for a plain operation (the default).
    public var effect: ProcessEffect = .none

    public var keyword: String { kind.keyword }

    /// Every key the operation accepts in YAML, besides `background`.
    public var keys: [String] {
        arguments.map(\.key) + (binds == .none ? [] : ["as"]) + expectations.map(\.rawValue)
    }
}

extension OperationKind {
    /// This operation's declaration, built once per process: the parser asks for it several times per step
    /// and the runner once per step, and each build makes a few dozen arrays (3 % of loading the catalog).
    public var declaration: OperationDeclaration { Self.declarations[self] ?? declared }

    private static let declarations: [OperationKind: OperationDeclaration] =
        Dictionary(uniqueKeysWithValues: allCases.map { ($0, $0.declared) })

    private var declared: OperationDeclaration {
        switch self {
        case .files(let kind): return kind.declared
        case .table(let kind): return kind.declared
        case .sockets(let kind): return kind.declared
        case .messages(let kind): return kind.declared
        case .events(let kind): return kind.declared
        case .processes(let kind): return kind.declared
        }
    }
}

/// Arguments and expectations several operations declare alike.
enum DeclarationParts {
    static let socketFlags = ArgumentDeclaration("flags", .flags(["cloexec", "nonblock"]))
    static let socketType = ArgumentDeclaration("type", .keyword(SocketType.allCases.map(\.rawValue)), default: "stream")
    static let fd = ArgumentDeclaration("fd", .descriptor, required: true)
    static let openFlags = ArgumentDeclaration("flags", .flags(OpenFlag.allCases.map(\.rawValue)))
    static let plain: [ExpectationKey] = [.error, .result]
}

extension OperationDeclaration {
    /// A declaration as the families' files write it: `repeat` and `background` allowed, `error` and `result`
    /// expected, nothing needed, no process effect, unless said otherwise.
    init(_ kind: OperationKind, _ summary: String, _ arguments: [ArgumentDeclaration], binds: Binding = .none,
         repeatable: Bool = true, background: Bool = true, expectations: [ExpectationKey]? = nil,
         needs: SystemNeeds = .init(), effect: ProcessEffect = .none) {
        self.init(kind: kind, summary: summary, arguments: arguments, binds: binds, repeatable: repeatable,
                  background: background, expectations: expectations ?? DeclarationParts.plain, needs: needs, effect: effect)
    }
}

/// The most bytes a read or recv may ask for, and a write carry: the answer must fit one control packet.
public let maximumTransfer = 64 * 1024
/// The most descriptors a recv may make room for (SCM_MAX_FD is 253; room beyond it exercises the kernel).
public let maximumRoom = 4096
/// The largest exact control buffer (`recv`'s `control`, in bytes): what `room: maximumRoom` spans.
public let maximumControl = Linux.cmsghdrSize + Linux.descriptorSize * maximumRoom
/// `send_headers`: at most this many headers, and this many descriptors in one header.
public let maximumHeaders = 64
public let maximumHeaderDescriptors = 4096
/// The descriptors one send (send, send_headers, sendto) may list: far past SCM_MAX_FD (253), whose EINVAL
/// the model follows, and below where the control message meets net.core.optmem_max: ____sys_sendmsg's
/// sock_kmalloc of it fails with ENOBUFS first (20,480 bytes, about 5,100 descriptors, before 6.9; 131,072 since),
/// which the model does not follow. 4,096 descriptors in up to 64 headers come to at most 17,408 bytes.
public let maximumSentDescriptors = 4096
/// `send_headers` with a raw `cmsg_len`: CMSG_SPACE of at most 2 descriptors (24 bytes) leaves no room for a
/// second header however short the first one's cmsg_len, so the kernel never reads descriptor numbers as one.
public let maximumRawHeaderDescriptors = 2
