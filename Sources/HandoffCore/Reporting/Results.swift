// Scenario outcomes are data: every run produces a ScenarioResult, whatever happened.

public enum ScenarioStatus: String, Codable, Sendable, CaseIterable {
    case pass, fail, skip, error, timeout
}

public enum FindingKind: String, Codable, Sendable, CaseIterable {
    /// A descriptor is open that the model says is closed.
    case leak = "LEAK"
    /// A descriptor the model says is open is not.
    case missing = "MISSING"
    /// Which descriptors share one open file description differs from the model (or the object differs).
    case identity = "IDENTITY"
    case cloexec = "CLOEXEC"
    case offset = "OFFSET"
    /// Access mode or status flags (O_APPEND, O_NONBLOCK) differ.
    case flags = "FLAGS"
    /// A system call's return value, errno, descriptors, data or flags differ from the model's prediction.
    case outcome = "OUTCOME"
    /// An explicit `check` or stated expectation does not hold on the kernel.
    case check = "CHECK"
}

public struct Finding: Codable, Sendable, Equatable {
    public var kind: FindingKind
    /// The step after which the difference was seen.
    public var step: SourceLocation
    /// The step as written, e.g. `peer.recv`.
    public var operation: String
    public var process: String?
    /// The descriptor by scenario name and number, e.g. `got (4)`.
    public var descriptor: String?
    public var expected: String
    public var observed: String

    public init(kind: FindingKind, step: SourceLocation, operation: String, process: String? = nil,
                descriptor: String? = nil, expected: String, observed: String) {
        self.kind = kind
        self.step = step
        self.operation = operation
        self.process = process
        self.descriptor = descriptor
        self.expected = expected
        self.observed = observed
    }

    /// One line: `LEAK main: got (4): expected closed, observed open (pipe:[123])`.
    public var summary: String {
        var subject = ""
        if let process { subject += process }
        if let descriptor { subject += subject.isEmpty ? descriptor : ": \(descriptor)" }
        return "\(kind.rawValue) \(subject.isEmpty ? "" : subject + ": ")expected \(expected), observed \(observed)"
    }
}

/// One executed step: what the agent reported and what the harness spent around it.
public struct StepRecord: Codable, Sendable {
    public var line: Int
    public var operation: String
    public var process: String?
    /// The return value (nil for pids and checks) and errno name (nil on success).
    public var result: Int64?
    public var error: String?
    /// Time inside the system call, measured by the agent.
    public var syscallNanoseconds: UInt64?
    /// Request to answer, as the runner saw it (includes the system call).
    public var roundTripNanoseconds: UInt64
    /// Reading /proc, identity and comparison after the step.
    public var observationNanoseconds: UInt64
}

public struct ScenarioResult: Codable, Sendable {
    public var name: String
    public var file: String
    public var summary: String
    public var tags: [String]
    public var status: ScenarioStatus
    /// Why it was skipped, errored or timed out.
    public var reason: String?
    public var findings: [Finding]
    public var durationSeconds: Double
    public var steps: [StepRecord]
    /// Which oracle decided descriptor identity: `kcmp` or `flag-probe`.
    public var identityOracle: String?
    /// The agents' stdout/stderr when the scenario did not pass (truncated).
    public var agentLog: String?
    /// Loops the agents ran by themselves (`repeat`), with their latency histograms.
    public var loops: [LoopRecord]?

    public init(name: String, file: String, summary: String, tags: [String], status: ScenarioStatus,
                reason: String? = nil, findings: [Finding] = [], durationSeconds: Double = 0, steps: [StepRecord] = [],
                identityOracle: String? = nil, agentLog: String? = nil) {
        self.name = name
        self.file = file
        self.summary = summary
        self.tags = tags
        self.status = status
        self.reason = reason
        self.findings = findings
        self.durationSeconds = durationSeconds
        self.steps = steps
        self.identityOracle = identityOracle
        self.agentLog = agentLog
    }
}
