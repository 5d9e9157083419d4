// Names shared by the runner and the agent. docs/protocol.md is the contract an agent in another language
// implements: message framing (WireMessage.swift), every request and answer (Messages.swift), the operations
// (OperationDeclarations.swift) and their fields (OperationCoding.swift).

public enum AgentEnvironment {
    /// The descriptor number of an inherited control channel (set by the runner and by the agent's own exec).
    public static let controlDescriptor = "HANDOFF_CONTROL_FD"
    /// A unix SOCK_SEQPACKET address to connect to for a control channel, for agents started by a program
    /// handoff does not control (a launcher under test).
    public static let controlSocket = "HANDOFF_CONTROL_SOCKET"
    /// The pid the agent expects as its parent; it exits at once when its parent is already gone.
    public static let expectedParent = "HANDOFF_PARENT_PID"
    /// The names above: the harness sets them itself, so a scenario's `env:` may not (its value would be
    /// replaced, and then reported as the kernel's).
    public static let reserved = [controlDescriptor, controlSocket, expectedParent]
}

/// The protocol's version, sent in every hello. A runner refuses an agent of another version.
public let protocolVersion = 2

/// The largest packet either side sends or accepts.
public let maximumPacketSize = 256 * 1024

/// A receive buffer of `count` bytes that is not written here: only the bytes a recv or read fills are
/// ever read back (callers slice to the length the call returned), so the pages of a large buffer are
/// touched, and faulted in, only as far as a message reaches. Zero-filling a 256 KiB packet buffer faulted
/// 64 pages in for every agent process and every control channel, a cost that multiplies under emulation
/// (`run --kernel`). UInt8 is a trivial type: any byte pattern is a valid value.
public func receiveBuffer(count: Int) -> [UInt8] {
    [UInt8](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
}

/// The verbs that are not operations (operations travel under their keyword).
public enum ControlVerb: String, CaseIterable, Sendable {
    /// Agent to runner, first on every fresh channel.
    case hello
    /// The answer to every request that was understood, success or failure of the call alike.
    case ok
    /// The answer to a request that was not understood.
    case bad
    /// Run `ops` `count` times without answering each; one `ok` answer at the end.
    case loop
    /// Close these descriptors: another agent's channel left behind in this agent's table when that agent
    /// stopped sharing the table (unshare, exec). Harness housekeeping, never a scenario step.
    case release
    /// Resolve argument `index` of the agent's current argv as a descriptor number (no syscall).
    case argument
    /// Agent to runner only: carries a new child's control channel (SCM_RIGHTS), before the fork answer.
    case channel
}

/// The control channel's number: high, so it never disturbs lowest-free numbering, and below any sane
/// RLIMIT_NOFILE. An agent under a lower soft limit uses `limit - 1`.
public let preferredControlDescriptor: Int32 = 1023
