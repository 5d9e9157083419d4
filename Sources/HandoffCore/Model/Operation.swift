// The operations the reference model predicts, with every descriptor resolved to a number and every process
// named: the scenario's operation under ResolvedNaming (HandoffProtocol/Operation.swift). The model never
// sees scenario names.

import HandoffProtocol

public typealias Operation = HandoffProtocol.Operation<ResolvedNaming>

/// A socket a launcher listens on, resolved.
public typealias LaunchSocket = ListeningSocket<SocketAddress>

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
    /// recvmsg's msg_flags restricted to MSG_CTRUNC (0x8), MSG_TRUNC (0x20) and MSG_OOB (0x1); nil for other
    /// operations.
    public var messageFlags: Int32?
    /// wait: the child's exit status, or `Outcome.killed(by:)` its signal; nil otherwise.
    public var status: Int32?
    /// The model's verdict that the call would block forever (the runner refuses to issue it).
    public var blocks: Bool
    /// When set, only these bits of `result` are compared (F_GETFL's value carries bits the model does not
    /// track, such as O_LARGEFILE).
    public var resultMask: Int64?
    /// getsockopt(SO_PEERCRED), or the SCM_CREDENTIALS a recv received; nil otherwise.
    public var credentials: NamedCredentials?
    /// recvfrom: the sender's address; nil when not predicted (then only a `from:` expectation checks it).
    public var from: SenderAddress?
    /// The call goes past what the model follows (a documented limit of handoff, not of the kernel): the runner
    /// does not issue it and the scenario is an ERROR with this reason, never a finding.
    public var beyondModel: String?
    /// A call that blocks (`blocks`) after doing part of its work in the kernel: the bytes a pipe write copied
    /// into the free slots, or a MSG_WAITALL read took from the queue, before it went to sleep for the rest.
    /// A background call's part is applied then, and the rest continues (Execution+Background.swift).
    public var doneBeforeBlocking: Int?
    /// A call that blocks after changing what it waits on, with nothing to return for it: a read that dropped
    /// an unread out-of-band byte (manage_oob) or stepped over TCP's urgent byte before it slept. The model
    /// applies that change (a background call keeps it), as the kernel did.
    public var changedBeforeBlocking = false
    /// epoll_wait: the registrations reported (the model's in number order; the comparison ignores order).
    /// Predicted with more in the list than the result: more were ready than `max`, and the kernel reports
    /// `result` of them, which ones its ready list's order decides (`readyChosen`).
    public var ready: [ReadyRegistration]?
    /// The event bits of a predicted `ready` that are compared (a pidfd's EPOLLHUP after its process ended
    /// varies by kernel version); nil: all.
    public var readyMask: UInt32?

    /// A predicted epoll_wait that reports some of the registrations ready, the kernel choosing which.
    public var readyChosen: Bool { (ready?.count ?? 0) > Int(result ?? 0) }

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

    public static func beyondModel(_ reason: String) -> Outcome {
        var outcome = Outcome()
        outcome.beyondModel = reason
        return outcome
    }

    /// The `status` of a process a signal ended: past every exit code, so that a child killed by SIGKILL and
    /// one that called exit(137) (a shell's way of saying the same) never compare equal. A wrapper that
    /// reported one for the other passed every case while they did (agents/c/broken/table.c).
    static func killed(by signal: Int32) -> Int32 { 256 + signal }

    /// `status 3`, or `killed by SIGKILL`.
    static func describeStatus(_ status: Int32) -> String {
        guard status >= 256 else { return "status \(status)" }
        let signal = status - 256
        return "killed by " + (SentSignal(linux: signal).map { "SIG" + $0.rawValue.uppercased() } ?? "signal \(signal)")
    }
}

/// A struct ucred with its pid named as the scenario names processes: a process name, or "0" when the
/// kernel reports no process (an unconnected socket, a message queued without credentials).
public struct NamedCredentials: Equatable, Sendable, Codable, CustomStringConvertible {
    public static let noProcess = "0"

    public var process: String
    public var uid: UInt32
    public var gid: UInt32

    public init(process: String, uid: UInt32, gid: UInt32) {
        self.process = process
        self.uid = uid
        self.gid = gid
    }

    public var description: String { "credentials pid \(process) uid \(uid) gid \(gid)" }
}
