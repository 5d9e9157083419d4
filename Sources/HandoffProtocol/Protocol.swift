// Names shared by the runner and the agent. docs/protocol.md describes each verb and field.

public enum AgentEnvironment {
    /// The descriptor number of an inherited control channel (set by the runner and by the agent's own exec).
    public static let controlDescriptor = "HANDOFF_CONTROL_FD"
    /// A unix SOCK_SEQPACKET address to connect to for a control channel, for agents started by a program
    /// handoff does not control (a launcher under test).
    public static let controlSocket = "HANDOFF_CONTROL_SOCKET"
    /// The pid the agent expects as its parent; it exits at once when its parent is already gone.
    public static let expectedParent = "HANDOFF_PARENT_PID"
}

/// The largest packet either side sends or accepts.
public let maximumPacketSize = 256 * 1024

/// The verbs a runner sends. Every request is answered by one `ok` message (fields below) or one `bad`.
///
/// Answer fields: `r` return value, `e` errno (0 on success), `fds` descriptors produced, `d` data read
/// (hex), `mf` msg_flags of recvmsg, `ns` nanoseconds spent in the system call, `st` wait status,
/// `ctl` the control channel's new number when the request made the agent move it.
public enum AgentVerb: String, CaseIterable, Sendable {
    case open, pipe, socketpair, memfd, eventfd, dup, dup2, dup3, fcntl, close
    case closeRange = "close_range"
    case lseek, read, write, fork, exec, exit, wait, send, recv
    case pidfdOpen = "pidfd_open"
    case pidfdGetfd = "pidfd_getfd"
    case listen, connect, accept, setrlimit
    case dropCapability = "drop_capability"
    case setDumpable = "set_dumpable"
    case reopen
    case cloneFiles = "clone_files"
    case unshareFiles = "unshare_files"
    /// execve(path, argv, environ + env) of a program that is not the agent; the channel (close-on-exec)
    /// closes on success, so the runner sees end-of-file instead of an answer.
    case launch
    /// Resolve argument `index` of the agent's current argv as a descriptor number (no syscall).
    case argument
    /// Run `ops` (encoded requests) `count` times without answering each; `@N` in a field stands for loop
    /// slot N, and `as=N,M` stores the operation's descriptors in slots. One answer at the end: iterations,
    /// failures (errno other than `expect`), the first failure, wall nanoseconds, per-op latency histograms
    /// (`hist`), and the slots' final values (`locals`).
    case loop
    /// Close these descriptors: another agent's channel left behind in this agent's table when that agent
    /// stopped sharing the table (unshare, exec). Harness housekeeping, never a scenario step.
    case release
    /// Agent to runner only: carries a new child's control channel (SCM_RIGHTS), before the fork answer.
    case channel
}

/// The first message on a fresh control channel: `hello pid= ppid= ctl= nofile= argv=`.
public enum AgentHello {
    public static let verb = "hello"
}

/// The control channel's number: high, so it never disturbs lowest-free numbering, and below any sane
/// RLIMIT_NOFILE. An agent under a lower soft limit uses `limit - 1`.
public let preferredControlDescriptor: Int32 = 1023
