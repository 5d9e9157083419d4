// The harness's own failures: what the runner reports as ERROR with a reason, never as a kernel finding.

import Glibc

/// A failure of the harness itself (not of the system under test): a system call the runner needed failed,
/// an agent died or stopped answering, a deadline passed. Scenario outcomes are never thrown; these are.
public enum HarnessError: Error, CustomStringConvertible, Sendable {
    case system(call: String, errno: Int32)
    case agentGone(process: String, reason: String)
    case protocolViolation(process: String, detail: String)
    case timedOut(process: String, seconds: Double)
    /// What the scenario needs cannot be decided on this system (the scenario is skipped with this reason).
    case undecidable(String)
    case interrupted
    /// An operation whose declared `ProcessEffect` its arguments do not carry (a declaration to correct).
    case undeclaredEffect(operation: String, effect: String)
    /// handoff's own bookkeeping broke one of its invariants: a bug in handoff, reported as an ERROR of the
    /// scenario rather than a trap of the runner.
    case inconsistent(String)
    /// The scenario asks for something past a documented limit of handoff's model (Outcome.beyondModel): the
    /// step is not issued, and the scenario is an ERROR rather than a finding against the kernel.
    case beyondModel(String)
    /// The kernel's answer came from the machine the scenario runs on, not from the scenario (a name another
    /// program holds, a full work directory): an ERROR naming it, never a finding against the kernel.
    case machine(String)

    /// How a step the model does not follow is reported (fuzz reports read it: FuzzReport.count).
    static let beyondModelPrefix = "past what handoff's model follows (a limit of handoff, not a finding): "

    public var description: String {
        switch self {
        case .system(let call, let errno): return "\(call) failed: \(Errno.name(of: errno)) (\(String(cString: strerror(errno))))"
        case .agentGone(let process, let reason): return "process '\(process)' is gone: \(reason)"
        case .protocolViolation(let process, let detail): return "agent of '\(process)' broke the protocol: \(detail)"
        case .timedOut(let process, let seconds): return "timed out after \(formatSeconds(seconds)) waiting for '\(process)'"
        case .undecidable(let reason): return reason
        case .interrupted: return "interrupted"
        case .undeclaredEffect(let operation, let effect):
            return "'\(operation)' is declared to have the effect '\(effect)', which its arguments do not carry"
        case .inconsistent(let detail): return "handoff's own bookkeeping is inconsistent (a bug in handoff, not a finding): \(detail)"
        case .beyondModel(let detail): return Self.beyondModelPrefix + detail
        case .machine(let detail): return detail
        }
    }
}

func formatSeconds(_ seconds: Double) -> String {
    seconds == seconds.rounded() && abs(seconds) < 1e15 ? "\(Int(seconds)) s" : "\(seconds) s"
}

/// The result of a system call that returns -1 and sets errno: the value, or the errno captured right away
/// (swift-system's valueOrErrno).
@inline(__always)
func valueOrErrno<Value: BinaryInteger>(_ call: () -> Value) -> Result<Value, SystemErrno> {
    let value = call()
    return value < 0 ? .failure(SystemErrno(errno)) : .success(value)
}

/// An errno value as an Error, named like the kernel names it.
struct SystemErrno: Error, Equatable, CustomStringConvertible {
    var code: Int32
    init(_ code: Int32) { self.code = code }
    var description: String { Errno.name(of: code) }
}
