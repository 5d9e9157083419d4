// Every operation, declared once: its keyword, its arguments with types and defaults, what it binds with
// `as:`, whether it may run inside `repeat` or in the background, which expectations it accepts and what it
// needs from the system. The parser, the validator, requirement probing, the agent's hello, the docs'
// operation table (checked by a test) and the random generator read this; nothing else lists operations.

public enum OperationKind: String, CaseIterable, Sendable, Hashable {
    case open, pipe, socketpair, memfd, eventfd
    case epollCreate = "epoll_create1"
    case epollCtl = "epoll_ctl"
    case dup, dup2, dup3, fcntl, close
    case closeRange = "close_range"
    case lseek, read, write, shutdown, fork, exec, exit, wait, send, recv
    case poll
    case unixGC = "unix_gc"
    case pidfdSendSignal = "pidfd_send_signal"
    case waitid
    case pidfdOpen = "pidfd_open"
    case pidfdGetfd = "pidfd_getfd"
    case listen, connect, accept, setrlimit
    case dropCapability = "drop_capability"
    case setDumpable = "set_dumpable"
    case reopen
    case cloneFiles = "clone_files"
    case unshareFiles = "unshare_files"
    case launch, attach
    case sendHeaders = "send_headers"
    case setsockopt, getsockopt
    case ftruncate, signalfd
    case timerfdCreate = "timerfd_create"
    case inotifyInit = "inotify_init1"
    case dupfdQuery = "dupfd_query"
    case unshareNet = "unshare_net"
    case socket, bind, sendto, recvfrom

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
    /// One word from this set.
    case keyword([String])
    case string
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
        case .keyword(let words): return words.joined(separator: " \\| ")
        case .string: return "string"
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
        let socketFlags = ArgumentDeclaration("flags", .flags(["cloexec", "nonblock"]))
        let socketType = ArgumentDeclaration("type", .keyword(SocketType.allCases.map(\.rawValue)), default: "stream")
        let fd = ArgumentDeclaration("fd", .descriptor, required: true)
        let openFlags = ArgumentDeclaration("flags", .flags(OpenFlag.allCases.map(\.rawValue)))
        let plain: [ExpectationKey] = [.error, .result]
        func declare(_ summary: String, _ arguments: [ArgumentDeclaration], binds: Binding = .none,
                     repeatable: Bool = true, background: Bool = true, expectations: [ExpectationKey]? = nil,
                     needs: SystemNeeds = .init(), effect: ProcessEffect = .none) -> OperationDeclaration {
            OperationDeclaration(kind: self, summary: summary, arguments: arguments, binds: binds, repeatable: repeatable,
                                 background: background, expectations: expectations ?? plain, needs: needs, effect: effect)
        }
        switch self {
        case .open:
            return declare("open(2) of a path in the scenario's directory", [
                ArgumentDeclaration("path", .string, required: true), openFlags,
                ArgumentDeclaration("mode", .mode, default: "0644"),
            ], binds: .descriptor)
        case .pipe:
            return declare("pipe2(2)", [ArgumentDeclaration("flags", .flags(["cloexec", "nonblock"]))],
                           binds: .pair("read", "write"))
        case .socketpair:
            return declare("socketpair(2) of AF_UNIX", [socketType, socketFlags], binds: .pair("left", "right"))
        case .memfd:
            return declare("memfd_create(2); `allow_sealing` is MFD_ALLOW_SEALING", [
                ArgumentDeclaration("name", .string, default: "handoff"),
                ArgumentDeclaration("flags", .flags(["cloexec", "allow_sealing"])),
            ], binds: .descriptor, needs: SystemNeeds(syscalls: ["memfd_create"]))
        case .eventfd:
            return declare("eventfd(2)", [
                ArgumentDeclaration("initial", .integer(0...Int64(UInt32.max)), default: "0"), socketFlags,
            ], binds: .descriptor)
        case .epollCreate:
            return declare("epoll_create1(2)", [ArgumentDeclaration("flags", .flags(["cloexec"]))], binds: .descriptor,
                           needs: SystemNeeds(syscalls: ["epoll_create1"]))
        case .epollCtl:
            return declare("epoll_ctl(2): register, change or remove a descriptor in an epoll set", [
                ArgumentDeclaration("epoll", .descriptor, required: true),
                ArgumentDeclaration("op", .keyword(EpollControl.allCases.map(\.rawValue)), required: true), fd,
                ArgumentDeclaration("events", .flags(EpollEvent.allCases.map(\.rawValue)), default: "[in]"),
            ], needs: SystemNeeds(syscalls: ["epoll_create1"]))
        case .dup:
            return declare("dup(2)", [fd], binds: .descriptor)
        case .dup2:
            return declare("dup2(2)", [fd, ArgumentDeclaration("target", .descriptor, required: true)], binds: .descriptor)
        case .dup3:
            return declare("dup3(2); `flags` is [cloexec] or a raw integer (to exercise EINVAL)", [
                fd, ArgumentDeclaration("target", .descriptor, required: true),
                ArgumentDeclaration("flags", .flags(["cloexec"])),
            ], binds: .descriptor)
        case .fcntl:
            return declare("fcntl(2); `min` with dupfd and dupfd_cloexec, `cloexec` with setfd, `flags` with setfl, "
                           + "`seals` with add_seals", [
                fd, ArgumentDeclaration("cmd", .command(FcntlCommand.names), required: true),
                ArgumentDeclaration("min", .integer(0...Int64(Int32.max)), default: "0",
                                    onlyWith: ("cmd", ["dupfd", "dupfd_cloexec"])),
                ArgumentDeclaration("cloexec", .bool, onlyWith: ("cmd", ["setfd"])),
                ArgumentDeclaration("flags", .flags(StatusFlag.allCases.map(\.rawValue)), onlyWith: ("cmd", ["setfl"])),
                ArgumentDeclaration("seals", .flags(MemfdSeal.allCases.map(\.rawValue)), onlyWith: ("cmd", ["add_seals"])),
            ], binds: .descriptor)
        case .close:
            return declare("close(2)", [fd])
        case .closeRange:
            return declare("close_range(2)", [
                ArgumentDeclaration("first", .integer(0...Int64(UInt32.max)), required: true),
                ArgumentDeclaration("last", .integer(0...Int64(UInt32.max)), default: "max"),
                ArgumentDeclaration("flags", .flags(["cloexec", "unshare"])),
            ], needs: SystemNeeds(syscalls: ["close_range"]), effect: .privatizesTable)
        case .lseek:
            return declare("lseek(2)", [
                fd, ArgumentDeclaration("offset", .integer(Int64.min...Int64.max), default: "0"),
                ArgumentDeclaration("whence", .keyword(Whence.allCases.map(\.rawValue)), default: "set"),
            ])
        case .read:
            return declare("read(2)", [fd, ArgumentDeclaration("count", .integer(0...Int64(maximumTransfer)), default: "256")],
                           expectations: [.error, .result, .expect])
        case .write:
            return declare("write(2)", [fd, ArgumentDeclaration("data", .string, required: true)])
        case .shutdown:
            return declare("shutdown(2) of a socket", [
                ArgumentDeclaration("socket", .descriptor, required: true),
                ArgumentDeclaration("how", .keyword(ShutdownHow.allCases.map(\.rawValue)), default: "both"),
            ])
        case .poll:
            return declare("poll(2) of one descriptor; the result is its revents", [
                fd, ArgumentDeclaration("events", .flags(PollEvent.allCases.map(\.rawValue)), default: "[in]"),
                ArgumentDeclaration("timeout", .integer(0...Int64(PollEvent.maximumTimeout)), default: "0"),
            ], expectations: [.error, .result])
        case .pidfdSendSignal:
            return declare("pidfd_send_signal(2) to the process a pidfd refers to", [
                ArgumentDeclaration("pidfd", .descriptor, required: true),
                ArgumentDeclaration("signal", .keyword(SentSignal.allCases.map(\.rawValue)), required: true),
            ], repeatable: false, background: false, needs: SystemNeeds(syscalls: ["pidfd_open", "pidfd_send_signal"]),
               effect: .throughPidfd)
        case .waitid:
            return declare("waitid(2) with P_PIDFD: reaps the child a pidfd refers to", [
                ArgumentDeclaration("pidfd", .descriptor, required: true),
                ArgumentDeclaration("flags", .flags(["nohang"])),
            ], repeatable: false, expectations: [.error, .result, .status], needs: SystemNeeds(syscalls: ["pidfd_open"]),
               effect: .throughPidfd)
        case .unixGC:
            return declare("schedule the AF_UNIX garbage collector (close a fresh unix socketpair)", [])
        case .fork:
            return declare("fork(2): a child named by `as` with a copy of the table", [], binds: .process,
                           repeatable: false, background: false, effect: .createsProcess)
        case .exec:
            return declare("execve(2) of the agent itself, with arguments and extra environment", [
                ArgumentDeclaration("args", .texts), ArgumentDeclaration("env", .environment),
            ], repeatable: false, background: false, effect: .replacesImage)
        case .exit:
            return declare("_exit(2)", [ArgumentDeclaration("status", .integer(0...255), default: "0")],
                           repeatable: false, background: false, effect: .endsProcess)
        case .wait:
            return declare("waitpid(2) of a child", [ArgumentDeclaration("child", .process, required: true)],
                           repeatable: false, expectations: [.error, .result, .status], effect: .reapsChild)
        case .send:
            return declare("sendmsg(2) with the descriptors as one SCM_RIGHTS message", [
                ArgumentDeclaration("socket", .descriptor, required: true), ArgumentDeclaration("fds", .descriptors),
                ArgumentDeclaration("data", .string, default: "\"\""),
                ArgumentDeclaration("flags", .flags(SendFlag.allCases.map(\.rawValue))),
            ])
        case .sendHeaders:
            return declare("sendmsg(2) with the descriptors split over several SCM_RIGHTS headers, optionally a raw cmsg_len", [
                ArgumentDeclaration("socket", .descriptor, required: true), ArgumentDeclaration("fds", .descriptors),
                ArgumentDeclaration("headers", .integers(0...Int64(maximumHeaderDescriptors))),
                ArgumentDeclaration("cmsg_len", .integer(0...Int64(maximumControl))),
                ArgumentDeclaration("data", .string, default: "\"x\""),
            ])
        case .recv:
            return declare("recvmsg(2); `room` descriptors of control buffer (default: as many as `as` names)", [
                ArgumentDeclaration("socket", .descriptor, required: true),
                ArgumentDeclaration("count", .integer(0...Int64(maximumTransfer)), default: "256"),
                ArgumentDeclaration("room", .integer(0...Int64(maximumRoom))),
                ArgumentDeclaration("flags", .flags(["cloexec", "nonblock"] + MessageFlag.allCases.map(\.rawValue))),
                ArgumentDeclaration("control", .integer(0...Int64(maximumControl))),
            ], binds: .list, expectations: [.error, .result, .expect, .received, .truncated, .credentials])
        case .pidfdOpen:
            return declare("pidfd_open(2) of a process", [ArgumentDeclaration("process", .process, required: true)],
                           binds: .descriptor, needs: SystemNeeds(syscalls: ["pidfd_open"]))
        case .pidfdGetfd:
            return declare("pidfd_getfd(2): a copy of another process's descriptor", [
                ArgumentDeclaration("process", .process, required: true),
                ArgumentDeclaration("fd", .descriptor, required: true),
                ArgumentDeclaration("flags", .integer(0...Int64(UInt32.max)), default: "0"),
                ArgumentDeclaration("pidfd", .descriptor),
            ], binds: .descriptor, needs: SystemNeeds(syscalls: ["pidfd_open", "pidfd_getfd"]))
        case .listen:
            return declare("socket(2) + bind(2) + listen(2)", [
                ArgumentDeclaration("address", .address, required: true), socketType, socketFlags,
                ArgumentDeclaration("backlog", .integer(0...65535), default: "16"),
            ], binds: .descriptor)
        case .connect:
            return declare("socket(2) + connect(2)", [
                ArgumentDeclaration("address", .address, required: true), socketType, socketFlags,
            ], binds: .descriptor)
        case .accept:
            return declare("accept4(2)", [ArgumentDeclaration("socket", .descriptor, required: true), socketFlags],
                           binds: .descriptor)
        case .setrlimit:
            return declare("setrlimit(2) of RLIMIT_NOFILE's soft limit",
                           [ArgumentDeclaration("nofile", .integer(0...Int64(Int32.max)), required: true)],
                           repeatable: false)
        case .dropCapability:
            return declare("drops a capability from the effective, permitted and inheritable sets",
                           [ArgumentDeclaration("name", .string, required: true)], repeatable: false)
        case .setDumpable:
            // The runner reads a non-dumpable process's table from /proc only with CAP_SYS_PTRACE
            // (ptrace_may_access): without it, in a container's default set, the scenario cannot be observed.
            return declare("prctl(PR_SET_DUMPABLE)", [ArgumentDeclaration("value", .bool, required: true)],
                           repeatable: false, needs: SystemNeeds(capabilities: ["CAP_SYS_PTRACE"]))
        case .reopen:
            return declare("open(2) of /proc/PID/fd/N of a process's descriptor: a new open file description", [
                ArgumentDeclaration("process", .process, required: true), fd, openFlags,
            ], binds: .descriptor, repeatable: false)
        case .cloneFiles:
            return declare("clone(CLONE_FILES): a child named by `as` sharing the table", [], binds: .process,
                           repeatable: false, background: false, effect: .createsProcess)
        case .unshareFiles:
            return declare("unshare(CLONE_FILES)", [], repeatable: false, effect: .privatizesTable)
        case .launch:
            return declare("execve(2) of a launcher under test, held to its hand-over protocol (LISTEN_FDS, UCSPI, inetd, inherit)", [
                ArgumentDeclaration("program", .string, required: true), ArgumentDeclaration("args", .texts),
                ArgumentDeclaration("env", .environment), ArgumentDeclaration("listen", .sockets),
                ArgumentDeclaration("accept", .bool, default: "false"),
                ArgumentDeclaration("handover", .keyword(LauncherHandover.allCases.map(\.rawValue)), default: "listen-fds"),
                ArgumentDeclaration("preserve", .integer(0...Int64(Int32.max))), ArgumentDeclaration("stored", .descriptor),
            ], repeatable: false, background: false, expectations: [], effect: .launches)
        case .attach:
            return declare("adopts the next agent the launcher started, named by `as`", [], binds: .process,
                           repeatable: false, background: false, expectations: [], effect: .attaches)
        case .setsockopt:
            return declare("setsockopt(2) of a SOL_SOCKET option; `enable` for switches, `value` for peek_off", [
                ArgumentDeclaration("socket", .descriptor, required: true),
                ArgumentDeclaration("option", .command(SocketOption.allCases.map(\.rawValue)), required: true),
                ArgumentDeclaration("enable", .bool, default: "true", onlyWith: ("option", SocketOption.switches.map(\.rawValue))),
                ArgumentDeclaration("value", .integer(-1...Int64(Int32.max)), default: "0",
                                    onlyWith: ("option", SocketOption.integers.map(\.rawValue))),
            ])
        case .getsockopt:
            return declare("getsockopt(2) of a SOL_SOCKET option: `result` is its value; peerpidfd binds a pidfd", [
                ArgumentDeclaration("socket", .descriptor, required: true),
                ArgumentDeclaration("option", .command(SocketOption.allCases.map(\.rawValue)), required: true),
            ], binds: .descriptor, expectations: [.error, .result, .credentials])
        case .ftruncate:
            // Lengths stay small: the model keeps contents densely.
            return declare("ftruncate(2) of a file or memfd", [
                fd, ArgumentDeclaration("length", .integer(-1...Int64(maximumTransfer)), required: true),
            ])
        case .signalfd:
            return declare("signalfd4(2) of a new signalfd with a signal mask", [
                ArgumentDeclaration("signals", .flags(SignalName.allCases.map(\.rawValue))), socketFlags,
            ], binds: .descriptor, needs: SystemNeeds(syscalls: ["signalfd4"]))
        case .timerfdCreate:
            return declare("timerfd_create(2) of an unarmed timer", [
                ArgumentDeclaration("clock", .keyword(TimerClock.allCases.map(\.rawValue)), default: "monotonic"),
                socketFlags,
            ], binds: .descriptor, needs: SystemNeeds(syscalls: ["timerfd_create"]))
        case .inotifyInit:
            // Not repeatable: inotify instances count against fs.inotify.max_user_instances (128), shared by
            // every process of the user, so a loop would meet EMFILE the model cannot see.
            return declare("inotify_init1(2) of an inotify instance without watches", [socketFlags], binds: .descriptor,
                           repeatable: false, needs: SystemNeeds(syscalls: ["inotify_init1"]))
        case .dupfdQuery:
            return declare("fcntl(2) F_DUPFD_QUERY: 1 when `other` is the same open file description as `fd`, else 0", [
                fd, ArgumentDeclaration("other", .descriptor, required: true),
            ], needs: SystemNeeds(syscalls: ["dupfd_query"]))
        case .unshareNet:
            return declare("unshare(CLONE_NEWNET): a new network namespace for the caller's later sockets", [],
                           repeatable: false, needs: SystemNeeds(capabilities: ["CAP_SYS_ADMIN"]))
        case .socket:
            return declare("socket(2) of AF_UNIX: unbound and unconnected", [socketType, socketFlags], binds: .descriptor)
        case .bind:
            return declare("bind(2) of an existing socket to a unix path or an abstract name", [
                ArgumentDeclaration("socket", .descriptor, required: true),
                ArgumentDeclaration("address", .address, required: true),
            ])
        case .sendto:
            return declare("sendmsg(2) to an address (msg_name) with the descriptors as one SCM_RIGHTS message", [
                ArgumentDeclaration("socket", .descriptor, required: true),
                ArgumentDeclaration("address", .address, required: true), ArgumentDeclaration("fds", .descriptors),
                ArgumentDeclaration("data", .string, default: "\"\""),
            ])
        case .recvfrom:
            return declare("recvmsg(2) with the sender's address; `room` as in recv", [
                ArgumentDeclaration("socket", .descriptor, required: true),
                ArgumentDeclaration("count", .integer(0...Int64(maximumTransfer)), default: "256"),
                ArgumentDeclaration("room", .integer(0...Int64(maximumRoom))),
                ArgumentDeclaration("flags", .flags(["cloexec", "nonblock"])),
            ], binds: .list, expectations: [.error, .result, .expect, .received, .truncated, .credentials, .from])
        }
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
