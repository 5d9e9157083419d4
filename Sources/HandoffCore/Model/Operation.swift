// The operations the reference model predicts and an agent performs, with every descriptor resolved to a
// number. The runner turns a scenario Action into an Operation by looking up names; the model and the
// agent never see names.

public enum Operation: Equatable, Sendable {
    case open(path: String, flags: Set<OpenFlag>, mode: UInt32)
    case pipe(closeOnExec: Bool, nonBlocking: Bool)
    case socketpair(type: SocketType, closeOnExec: Bool, nonBlocking: Bool)
    case memfd(name: String, closeOnExec: Bool)
    /// eventfd(initial, EFD_CLOEXEC | EFD_NONBLOCK).
    case eventfd(initial: UInt32, closeOnExec: Bool, nonBlocking: Bool)
    case dup(fd: Int32)
    case dup2(fd: Int32, target: Int32)
    /// `flags` is raw so that invalid flags (EINVAL) can be exercised; O_CLOEXEC is 0o2000000.
    case dup3(fd: Int32, target: Int32, flags: Int32)
    case fcntl(fd: Int32, command: FcntlCommand)
    case close(fd: Int32)
    case closeRange(first: UInt32, last: UInt32, closeOnExec: Bool, unshare: Bool)
    case lseek(fd: Int32, offset: Int64, whence: Whence)
    case read(fd: Int32, count: Int)
    case write(fd: Int32, data: [UInt8])
    case fork(child: String)
    case exec(arguments: [String])
    case exit(status: Int32)
    case wait(child: String)
    case send(socket: Int32, fds: [Int32], data: [UInt8])
    case recv(socket: Int32, count: Int, room: Int, closeOnExec: Bool, nonBlocking: Bool)
    case pidfdOpen(target: String)
    case pidfdGetfd(target: String, fd: Int32, flags: UInt32)
    /// socket(2) + bind(2) + listen(2) in one step: one listening socket. `.tcp(port: 0)` binds an ephemeral
    /// port of 127.0.0.1; the runner then tells the model which port with `assignPort`.
    case listen(address: SocketAddress, type: SocketType, closeOnExec: Bool, nonBlocking: Bool, backlog: Int32)
    /// socket(2) + connect(2) in one step: one connected socket.
    case connect(address: SocketAddress, type: SocketType, closeOnExec: Bool, nonBlocking: Bool)
    /// accept4(2).
    case accept(socket: Int32, closeOnExec: Bool, nonBlocking: Bool)
    /// setrlimit(RLIMIT_NOFILE) of the soft limit; the hard limit stays.
    case setrlimit(nofile: UInt64)
    /// Removes a capability (`CAP_SYS_PTRACE`) from the effective, permitted and inheritable sets.
    case dropCapability(name: String)
    /// prctl(PR_SET_DUMPABLE).
    case setDumpable(Bool)
    /// open("/proc/PID/fd/N") of another (or the same) process: a NEW open file description.
    case reopen(target: String, fd: Int32, flags: Set<OpenFlag>)
    /// clone(CLONE_FILES): a child that shares the caller's descriptor table.
    case cloneFiles(child: String)
    /// unshare(CLONE_FILES): the caller gets a private copy of its table.
    case unshareFiles
    /// The process execs a launcher under test that follows the LISTEN_FDS protocol: close-on-exec
    /// descriptors close, the launcher keeps 0-2, closes everything else it inherited and listens on
    /// `listen`. The process is no longer an agent (the oracle no longer observes it).
    case launch(listen: [LaunchSocket], acceptMode: Bool)
    /// The launcher `by` started a service, adopted as `child`: 0-2 are the launcher's, then its listening
    /// sockets from 3 - or, in accept mode, the first waiting connection at 3.
    case attach(child: String, acceptMode: Bool)
}

/// A socket a launcher listens on.
public struct LaunchSocket: Hashable, Sendable {
    public var address: SocketAddress
    public var type: SocketType

    public init(address: SocketAddress, type: SocketType) {
        self.address = address
        self.type = type
    }
}

/// Where a socket listens or connects.
public enum SocketAddress: Hashable, Sendable, CustomStringConvertible {
    /// A path relative to the scenario's directory.
    case unix(path: String)
    /// An abstract unix address (no file).
    case abstract(name: String)
    /// 127.0.0.1:port; port 0 in `listen` means an ephemeral port.
    case tcp(port: UInt16)

    public var description: String {
        switch self {
        case .unix(let path): return "unix:\(path)"
        case .abstract(let name): return "abstract:\(name)"
        case .tcp(let port): return "tcp:127.0.0.1:\(port)"
        }
    }
}

/// What a system call returned: predicted by the model, or reported by an agent.
public struct Outcome: Equatable, Sendable, Codable {
    /// The return value; nil when it cannot be predicted (a pid) or when the call failed.
    public var result: Int64?
    /// errno by value; 0 on success.
    public var errno: Int32
    /// Descriptors the call produced, in order (open, pipe, dup..., recv's received descriptors).
    public var fds: [Int32]
    /// Bytes a read or recv returned; nil for other operations.
    public var data: [UInt8]?
    /// recvmsg's msg_flags restricted to MSG_CTRUNC (0x8) and MSG_TRUNC (0x20); nil for other operations.
    public var messageFlags: Int32?
    /// wait: the child's exit status (or 128 + signal when killed); nil otherwise.
    public var status: Int32?
    /// The model's verdict that the call would block forever (the runner refuses to issue it).
    public var blocks: Bool
    /// When set, only these bits of `result` are compared (F_GETFL's value carries bits the model does not
    /// track, such as O_LARGEFILE).
    public var resultMask: Int64?

    public init(result: Int64? = nil, errno: Int32 = 0, fds: [Int32] = [], data: [UInt8]? = nil,
                messageFlags: Int32? = nil, status: Int32? = nil, blocks: Bool = false, resultMask: Int64? = nil) {
        self.result = result
        self.errno = errno
        self.fds = fds
        self.data = data
        self.messageFlags = messageFlags
        self.status = status
        self.blocks = blocks
        self.resultMask = resultMask
    }

    public static func failure(_ errno: Int32) -> Outcome { Outcome(result: -1, errno: errno) }
}
