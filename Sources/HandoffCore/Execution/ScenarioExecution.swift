import CHandoff
import Foundation
import Glibc
import HandoffProtocol

public struct ExecutionOptions: Sendable {
    /// Seconds before a scenario's process tree is killed (a scenario's own `timeout:` wins).
    public var timeout: Double
    public var identity: IdentityMode
    /// The agent executable (AgentChoice), and what is added to its environment.
    public var agentPath: String
    public var agentEnvironment: [String]
    /// The agent that answers the runner's kernel probes (`--probe`): always handoff's own where it is
    /// there, since a probe asks about the kernel, not about the implementation under test.
    public var probeAgentPath: String

    /// Faults injected behind the model's back, to prove the oracles catch them (tests and demos only).
    public var injections: [Injection]
    /// Model rules broken on purpose (tests and `handoff fuzz --break-model` only).
    public var brokenModelRules: Set<BrokenModelRule> = []
    /// Where scenario directories are made (nil: $TMPDIR, else /tmp).
    public var workDirectory: String?
    /// How every process of a scenario is ended with it (Containment.swift).
    public var containment: ContainmentMode
    /// Where launchers under test run (`--sandbox`): nil runs them as they are.
    public var launcherSandbox: LauncherSandbox?

    public init(timeout: Double = 10, identity: IdentityMode = .auto, agentPath: String, injections: [Injection] = [],
                workDirectory: String? = nil, containment: ContainmentMode = .auto, agentEnvironment: [String] = [],
                probeAgentPath: String? = nil) {
        self.timeout = timeout
        self.identity = identity
        self.agentPath = agentPath
        self.agentEnvironment = agentEnvironment
        self.probeAgentPath = probeAgentPath ?? agentPath
        self.injections = injections
        self.workDirectory = workDirectory
        self.containment = containment
    }
}

/// A fault: after step `afterStep` (1-based, counting every step of the timeline), `process` is made to do
/// something the reference model does not know about - exactly what a buggy kernel, launcher or runtime
/// would do. The observation after that step must then report the difference.
public struct Injection: Sendable {
    public enum Fault: Sendable {
        /// The agent performs this operation; the model is not told.
        case operation(Operation)
        /// The process is killed with this signal.
        case signal(Int32)
    }

    public var afterStep: Int
    public var process: String
    public var fault: Fault

    public init(afterStep: Int, process: String, fault: Fault) {
        self.afterStep = afterStep
        self.process = process
        self.fault = fault
    }
}

/// Why a run stopped before its last step, other than findings.
enum Stop: Error {
    case harness(HarnessError)
    /// The scenario cannot go on (a name that was never bound, a step the model says blocks forever).
    case scenario(String)
    /// The agent under test declared that it cannot perform an operation the scenario needs.
    case unsupported(String)
}

/// Runs one scenario: its process tree on the real kernel, the reference model beside it, the oracle after
/// every step. Never throws: every ending is a ScenarioResult.
final class ScenarioExecution {
    let scenario: Scenario
    let options: ExecutionOptions
    let timeout: Double
    let deadline: Deadline
    var model: ReferenceModel!
    var tree: ProcessTree!
    var directory: ScenarioDirectory!
    var workPath = ""
    var identity: IdentityResolver
    /// Which processes share a table, and each process's descriptor names (name -> number): the picture
    /// the validator checked, now with numbers. Processes sharing a table see each other's names and
    /// control channels.
    var tracker = ProcessTracker<Int32>()
    /// Processes that exec'd a launcher: no longer agents, not observed.
    /// The processes that exec'd a launcher, with how it hands descriptors on.
    var launched: [String: LauncherHandover] = [:]
    var loops: [LoopRecord] = []
    /// Background steps in flight: the step, its operation and when it was sent, by process.
    var pending: [String: BackgroundCall] = [:]
    /// Control channels of processes that left a shared table, still to be closed by a sharer that was inside a
    /// background call then (Execution+Agents.leaveSharedTable).
    var deferredReleases: [String: [Int32]] = [:]
    /// Ephemeral TCP ports of listening sockets, by the listening process and descriptor.
    var ports: [DescriptorKey: UInt16] = [:]
    /// `{@port}`, once chosen.
    var chosenPort: UInt16?
    /// Names a step left without a descriptor, by process, with why (Execution+Names.bindNames).
    var unboundNames: [String: [String: String]] = [:]
    /// The latest observation, which check steps read.
    var observed: [String: [Int32: ObservedDescriptor]] = [:]
    var groups: [DescriptorKey: Int] = [:]
    /// The tables and identity partition kept between observations (only what a step can change is read).
    var cache = ObservationCache()
    var findings: [Finding] = []
    var records: [StepRecord] = []
    var currentStep = 0
    /// When the current step began (monotonic ns): a background poll whose time ran out before it had its
    /// answer before the step could make it ready.
    var currentStepBegan: UInt64 = 0
    /// The latest step that unshared a table others shared (Execution+Unshare.swift).
    var latestUnsharing: Unsharing?
    /// The operation of the step running now (nil for an await): what may wake a background call.
    var currentOperation: Operation?
    /// The model before the latest `unix_gc` collected, while no step has shown the collection happened
    /// (Execution+Collection.swift).
    var beforeCollection: ReferenceModel?

    init(scenario: Scenario, options: ExecutionOptions) {
        self.scenario = scenario
        self.options = options
        self.timeout = scenario.timeout ?? options.timeout
        self.deadline = Deadline(secondsFromNow: timeout)
        self.identity = IdentityResolver(mode: options.identity)
    }

    func run(register: (ProcessTree) -> Void = { _ in }, unregister: (ProcessTree) -> Void = { _ in }) -> ScenarioResult {
        let started = monotonicNow()
        var result = ScenarioResult(name: scenario.name, file: scenario.file, summary: scenario.summary,
                                    tags: scenario.tags, status: .pass)
        do {
            directory = try ScenarioDirectory(base: options.workDirectory)
        } catch {
            result.status = .error
            result.reason = "\(error)"
            return result
        }
        workPath = Observer.realPath(directory.workPath) ?? directory.workPath
        // Only a launcher under test can start processes that are not agents; without one the tree itself
        // holds every process of the scenario.
        let launches = scenario.operations.contains { $0.kind == .launch }
        tree = ProcessTree(agentPath: options.agentPath, agentEnvironment: options.agentEnvironment, directory: directory,
                           containment: !launches ? .agentsOnly : options.containment == .agentsOnly ? .auto : options.containment)
        register(tree)
        do {
            try runSteps()
            result.status = findings.isEmpty ? .pass : .fail
        } catch {
            switch error {
            case .harness(let error):
                if !tree.wasInterrupted, let finding = tableStillShared(error) { findings.append(finding) }
                switch error {
                case .timedOut: result.status = .timeout
                case .undecidable: result.status = findings.isEmpty ? .skip : .fail
                default: result.status = tree.wasInterrupted ? .error : (findings.isEmpty ? .error : .fail)
                }
                result.reason = tree.wasInterrupted ? "interrupted" : "\(error)" + (causeOfDeath(error).map { " (\($0))" } ?? "")
                // Which step it was waiting on: a call that never returned (a broken implementation blocking where
                // the kernel returns) or an agent that died mid-step is found by its line, like a finding.
                if !tree.wasInterrupted, currentStep > 0, currentStep <= scenario.steps.count {
                    switch error {
                    case .timedOut, .agentGone, .protocolViolation:
                        let step = scenario.steps[currentStep - 1]
                        let name = step.process.map { "\($0).\(step.action.keyword)" } ?? step.action.keyword
                        result.reason = "\(step.location) (\(name)): " + (result.reason ?? "")
                    default: break
                    }
                }
                // The time limit is the scenario's: when the runner's own observation after each step took most
                // of it (a table of a thousand descriptors read after each of a thousand steps), say so - the
                // process it was waiting for at the end is not where the time went.
                if case .timedOut = error, !tree.wasInterrupted {
                    let observing = Double(records.reduce(UInt64(0)) { $0 + $1.observationNanoseconds }) / 1e9
                    if observing > timeout / 2 {
                        result.reason = (result.reason ?? "") + String(format: " (the scenario's time limit: %.1f s of it went "
                            + "to the runner's observation of the tables after each of %d steps)", observing, records.count)
                    }
                }
            case .scenario(let message):
                result.status = .error
                result.reason = message
            case .unsupported(let reason):
                result.status = findings.isEmpty ? .skip : .fail
                result.reason = reason
            }
        }
        tree.tearDown()
        unregister(tree)
        result.findings = findings
        result.steps = records
        result.loops = loops.isEmpty ? nil : loops
        result.identityOracle = identity.decidedBy
        if result.status != .pass { result.agentLog = directory.logExcerpt() }
        // An agent that gave up says why on its stderr (`handoff-agent: cannot move control channel`): the
        // reason on the console carries it, not only the report's agentLog.
        if result.status == .error, let reason = result.reason, reason.contains("is gone: exited with status"),
            let said = result.agentLog?.split(separator: "\n").last(where: { $0.hasPrefix("handoff-agent") })
        {
            result.reason = reason + " (it said: \(said.prefix(200)))"
        }
        directory.remove()
        result.durationSeconds = Double(monotonicNow() - started) / 1e9
        return result
    }

    func runSteps() throws(Stop) {
        let root = try harness { () throws(HarnessError) in try tree.spawnRoot(name: "main", deadline: deadline, timeout: timeout) }
        model = ReferenceModel(root: "main", nofileLimit: root.nofileLimit)
        // Kernel settings the model's predictions depend on, read from this machine.
        model.ptraceScope = SystemProbe.sysctl("kernel/yama/ptrace_scope") ?? 0
        model.suidDumpable = SystemProbe.sysctl("fs/suid_dumpable") ?? 0
        model.somaxconn = SystemProbe.sysctl("net/core/somaxconn") ?? 4096
        model.maxDgramQlen = SystemProbe.sysctl("net/unix/max_dgram_qlen") ?? 10
        model.socketSendBuffer = SystemProbe.sysctl("net/core/wmem_default") ?? 212992
        model.unixStreamSkbPayload = SystemProbe.unixStreamSkbPayload
        model.pidfdsReopen = SystemProbe.pidfdsReopen
        model.eventfdWriteExact = SystemProbe.eventfdWriteExact
        model.epollNestingDepth = SystemProbe.epollNestingDepth
        model.epollWaitDescriptorFirst = SystemProbe.epollWaitDescriptorFirst
        model.pidfdNonBlock = SystemProbe.pidfdNonBlock
        model.tcpPeekOffset = SystemProbe.tcpPeekOffset
        model.unixOOB = SystemProbe.unixOOB
        model.dgramShutdownFirst = SystemProbe.unixDgramShutdownFirst
        model.socketIDs = SystemProbe.socketIDs
        model.passOptionsSince616 = SystemProbe.unixSocketOption(Linux.SO_PASSRIGHTS)
        model.sealExec = SystemProbe.memfdSealExec
        model.filesAreShmem = SystemProbe.isTmpfs(workPath)
        model.pipeMaxSize = SystemProbe.pipeMaxSize
        model.initialUserNamespace = SystemProbe.initialUserNamespace
        model.epollIoctl = SystemProbe.epollIoctl
        model.pidfdReopenTruncErrno = SystemProbe.pidfdReopenTruncErrno
        model.pidfdFtruncateErrno = SystemProbe.pidfdFtruncateErrno
        model.pidfdPreadErrno = SystemProbe.pidfdPreadErrno
        model.umask = SystemProbe.umask
        model.startWithCapabilities(SystemProbe.heldCapabilities)
        model.exitedKeepDumpability = SystemProbe.exitedKeepDumpability(agentPath: options.probeAgentPath)
        model.brokenRules = options.brokenModelRules
        let start = SourceLocation(file: scenario.file, line: 1, column: 1)
        let startFindings = try observeAndCompare(after: start, operation: "start")
        findings += startFindings
        if !startFindings.isEmpty { return }
        for (index, step) in scenario.steps.enumerated() {
            currentStep = index + 1
            currentStepBegan = monotonicNow()
            let stepFindings: [Finding]
            if case .check(let check) = step.action {
                let began = monotonicNow()
                stepFindings = try evaluate(check, at: step.location)
                records.append(StepRecord(line: step.location.line, operation: "check", process: nil,
                                          roundTripNanoseconds: 0, observationNanoseconds: monotonicNow() - began))
            } else if case .repeat(let count, let inner) = step.action {
                stepFindings = try runRepeat(step, count: count, steps: inner)
            } else {
                if let unsharing = unsharing(step) { latestUnsharing = unsharing }
                stepFindings = try perform(step)
                if !stepFindings.isEmpty, let process = step.process, pending[process] == nil, let agent = tree[process] {
                    // A divergence is the kernel's only if the agent said no more than it was asked. The second of
                    // two answers sent at once is missed when the runner asks again (the agent, preempted by the
                    // runner it woke, sends it only after the next request, which takes it for its own); the
                    // real answer to that request then follows it (found with a hostile agent answering twice).
                    // So: let a still runnable agent finish what it is doing (up to 100 ms; an agent back in
                    // its read is asleep at once, which keeps this free for a fuzz run full of divergences).
                    let settle = Deadline(secondsFromNow: 0.1)
                    while ProcessStatus.read(agent.pid)?.state == "R", !settle.expired { usleep(200) }
                    try harness { () throws(HarnessError) in try agent.connection.refuseUnrequested() }
                }
            }
            findings += stepFindings
            // After a divergence from the model the two would only drift further apart: stop there.
            if stepFindings.contains(where: { $0.kind != .check }) { return }
        }
    }

    func perform(_ step: Step) throws(Stop) -> [Finding] {
        guard let process = step.process else { throw .scenario("\(step.location): a step without a process") }
        let operationName = "\(process).\(step.action.keyword)"
        guard let agent = tree[process] else { throw .scenario("\(step.location): process '\(process)' has no agent") }
        guard let scenarioOperation = step.operation else { return try awaitBackground(step, agent: agent) }
        if agent.unsupported.contains(scenarioOperation.kind) {
            throw .unsupported("the \(agent.implementation) agent does not support \(scenarioOperation.kind.keyword)")
        }
        let operation = try resolve(scenarioOperation, in: process, at: step.location)
        currentOperation = operation
        defer { currentOperation = nil }
        if step.background {
            // Sent now, applied by the model when it can complete (what it does before it sleeps, when it sleeps),
            // judged at its `await`.
            if let shaped = harnessShapedAnswer(trialPredict(operation, by: process), of: operation, process: process) {
                throw .harness(.beyondModel("\(step.location): \(operationName): \(shaped)"))
            }
            if let rival = rivalWaiter(for: operation, by: process) {
                throw .harness(.beyondModel("\(step.location): the background \(operationName) would wait on the same object as "
                    + "\(rival): \(Self.rivalsAreTiming)"))
            }
            let request = self.request(operation, by: process)
            try harness { () throws(HarnessError) in try agent.connection.send(request) }
            var call = BackgroundCall(step: step, operation: operation, began: monotonicNow())
            if Self.keepsFiles(operation) {
                // Its own descriptors: another process's (pidfd_getfd's target) are looked up when it runs.
                let own = operation.descriptors.filter { _, field in field.owner == nil }.map { fd, _ in fd }
                model.keepFiles(ofCallBy: process, own)
            } else {
                call.files = files(of: operation, by: process)
            }
            pending[process] = call
            try awaitAsleepOrAnswered(agent, step: step)
            let observeBegan = monotonicNow()
            if let finding = try completeBackgroundCalls() { return [finding] }
            // From here on a part of its work done means the sleeper was woken and ran: counted from now.
            if pending[process]?.completed == nil { pending[process]?.switches = Self.voluntarySwitches(agent.pid) }
            let findings = try observeAndCompare(after: step.location, operation: operationName)
            records.append(StepRecord(line: step.location.line, operation: operationName + " (background)",
                                      process: process, roundTripNanoseconds: 0,
                                      observationNanoseconds: monotonicNow() - observeBegan))
            return findings
        }
        let statesBefore = Dictionary(uniqueKeysWithValues: model.processNames.map { ($0, model.state(of: $0)) })
        // A dead AF_UNIX cycle the collector has not taken yet may be taken at any moment (Model+UnixGC.swift):
        // keep the model as it was, to judge the kernel's answer against a collection before this step too.
        let uncollected = model.hasUncollectedGarbage ? model : nil
        let predicted = predict(operation, by: process)
        if let race = collectionRace(operation, by: process, predicted: predicted) {
            throw .harness(.beyondModel("\(step.location): \(operationName): \(race)"))
        }
        // A unix_gc that collects: the model before it answers for the kernel until a step shows it ran.
        if case .sockets(.unixGC) = operation, predicted.errno == 0, let before = uncollected { beforeCollection = before }
        if predicted.blocks {
            throw .scenario("\(step.location): \(operationName) would block forever (\(Self.whyItWaits(operation.kind)))")
        }
        if let limit = predicted.beyondModel { throw .harness(.beyondModel("\(step.location): \(operationName): \(limit)")) }
        // A poll or epoll_wait that nothing will make ready waits its whole timeout: one as long as the time the
        // runner gives a step would end as a TIMEOUT blaming the agent, not as what the scenario asks.
        if let milliseconds = operation.eventTimeout, predicted.errno == 0, predicted.result == 0,
            Double(milliseconds) / 1000 >= timeout - 0.5
        {
            throw .scenario("\(step.location): \(operationName) waits out its \(milliseconds) ms (nothing becomes ready), "
                + "which the step time limit of \(formatSeconds(timeout)) does not leave room for: give the scenario a longer "
                + "'timeout:' (or run with --timeout) or the step a shorter one")
        }
        if let shaped = harnessShapedAnswer(predicted, of: operation, process: process) {
            throw .harness(.beyondModel("\(step.location): \(operationName): \(shaped)"))
        }
        let began = monotonicNow()
        let observedOutcome: Outcome
        let syscallNanoseconds: UInt64?
        do {
            (observedOutcome, syscallNanoseconds) = try execute(operation, by: agent, step: step)
        } catch {
            if let finding = blockedWhereModelReturns(error, step: step, operation: operation, agent: agent,
                                                      predicted: predicted, since: began) {
                return [finding]
            }
            throw error
        }
        let roundTrip = monotonicNow() - began

        bindNames(step.binds, in: process, outcome: observedOutcome, step: step.location, operation: operationName)
        var stepFindings = try judge(step, predicted: predicted, observed: observedOutcome, operation: operationName)
        if stepFindings.contains(where: { $0.kind == .outcome }),
            let cause = machineCause(of: operation, by: process, predicted: predicted, observed: observedOutcome)
        {
            throw .harness(.machine("\(step.location) (\(operationName)): \(cause)"))
        }
        if var collected = uncollected, stepFindings.contains(where: { $0.kind == .outcome }) {
            // unix_gc runs in a workqueue whenever any unix socket is released with sockets in flight, so the
            // kernel may have collected before this step: both are Linux. Adopt the collection when it explains
            // the answer; otherwise the finding stands against the model without it.
            collected.collectGarbage()
            let applied = model
            model = collected
            let alternative = predict(operation, by: process)
            let findings = try judge(step, predicted: alternative, observed: observedOutcome, operation: operationName)
            if findings.contains(where: { $0.kind == .outcome }) {
                model = applied
                // The answer depends on the collection and is neither world's: the collector ran during the
                // window - between its splice of the dead queues and the delayed fput of their sockets a write
                // can still land in a dead socket's queue, whose release then resets its peer (ECONNRESET,
                // POLLERR). When is timing, past what the model follows (found by `handoff fuzz` with collector
                // runs scheduled from elsewhere on the machine).
                if alternative != predicted {
                    throw .harness(.beyondModel("\(step.location): \(operationName) answered \(observedOutcome.summary(dataAround: nil)), "
                        + "neither \(predicted.summary(dataAround: nil)) (a dead AF_UNIX cycle not collected yet) nor "
                        + "\(alternative.summary(dataAround: nil)) (collected): the collector, which any unix socket "
                        + "released anywhere on the machine schedules, ran while the scenario used the cycle's objects"))
                }
            } else {
                stepFindings = findings
                // Collected, but the collected sockets' last references go with delayed fput: unless this step
                // waited for what the collection brings (a poll that would have timed out without it), until a
                // step does, one that answers differently without it is timing (Execution+Collection.swift), as
                // after `unix_gc`.
                let waited = (operation.eventTimeout ?? 0) != 0 && predicted.errno == 0 && predicted.result == 0
                if !waited { beforeCollection = applied }
            }
        }

        // Processes that ended in this step (exit, or killed with their parent) must be gone before observing.
        let ended = model.processNames.filter { name in
            statesBefore[name] == .running && model.state(of: name) != .running
        }
        try harness { () throws(HarnessError) in
            try tree.awaitExit(ended, until: deadline, timeout: timeout)
            if case .processes(.exit(let status)) = operation { try tree.checkExitStatus(of: process, asked: status) }
        }
        try inject()
        if stepFindings.isEmpty, let finding = try completeBackgroundCalls() { return [finding] }

        let observeBegan = monotonicNow()
        stepFindings += try observeAndCompare(after: step.location, operation: operationName)
        records.append(StepRecord(line: step.location.line, operation: operationName, process: process,
                                  result: observedOutcome.errno == 0 ? observedOutcome.result : -1,
                                  error: observedOutcome.errno == 0 ? nil : Errno.name(of: observedOutcome.errno),
                                  syscallNanoseconds: syscallNanoseconds, roundTripNanoseconds: roundTrip,
                                  observationNanoseconds: monotonicNow() - observeBegan))
        return stepFindings
    }

    /// A step the model says returns that never answered, with its agent asleep in a system call (not its
    /// control channel): the call blocked where Linux returns - a divergence like a wrong return value, found
    /// by its line, rather than a timeout. Only for operations whose answer comes from the call itself (an
    /// exec's new image, a fork's child or a launcher can be slow for reasons of their own).
    func blockedWhereModelReturns(_ error: Stop, step: Step, operation: Operation, agent: AgentProcess,
                                  predicted: Outcome, since began: UInt64) -> Finding? {
        guard case .harness(.timedOut(let process, _)) = error, process == agent.name, !agent.hasExited else { return nil }
        switch operation.declaration.effect {
        case .none, .reapsChild, .throughPidfd, .privatizesTable: break
        default: return nil
        }
        let waited = Double(monotonicNow() - began) / 1e9
        // A poll or epoll_wait the model says times out may sleep its own time (a scenario's limit shorter than
        // that is the scenario's timeout, not a divergence).
        if let pollTimeout = operation.eventTimeout, pollTimeout != 0, predicted.result == 0,
            pollTimeout < 0 || waited < Double(pollTimeout) / 1000 + 1
        {
            return nil
        }
        // The step's call: one on a descriptor the step names, or the wait or poll the step is.
        let descriptors = Set(operation.descriptors.map { UInt64(UInt32(bitPattern: $0.0)) })
        let waitsForProcess = [.reapsChild, .throughPidfd].contains(operation.declaration.effect)
        guard let call = BlockedCall.find(in: agent.pid, where: { call in
            descriptors.contains(call.firstArgument)
                || (waitsForProcess && ["wait4", "waitid"].contains(call.name))
                || (operation.kind == .poll && ["poll", "ppoll"].contains(call.name))
        }) else { return nil }
        return Finding(kind: .outcome, step: step.location, operation: "\(process).\(step.action.keyword)",
                       process: process, expected: predicted.summary(dataAround: nil) + " at once",
                       observed: "blocked for \(String(format: "%.1f s", waited)) in \(call)")
    }

    /// What the model sees that makes a call wait, and the way out, by operation: a read's advice read
    /// strangely for a waitid ("no data and a live writer").
    static func whyItWaits(_ kind: OperationKind) -> String {
        switch kind {
        case .wait, .waitid:
            return "the child is still running; end it first, or use `flags: [nohang]` or a non-blocking pidfd with waitid"
        case .accept:
            return "no connection is waiting; connect first or make the listening socket non-blocking (accept's own "
                + "`flags: [nonblock]` is for the new socket)"
        case .connect:
            return "the listener's accept queue is full; accept first"
        case .write, .send, .sendHeaders, .sendto:
            return "the model predicts a full pipe, socket buffer or eventfd counter and a live reader; read first or "
                + "make the descriptor non-blocking"
        case .poll, .epollWait:
            return "no event can come while the scenario waits; give a timeout"
        case .open, .reopen:
            return "a FIFO opened for reading or writing alone waits for the other end: open that first, add `nonblock` "
                + "(a writer then fails ENXIO), open it `rdwr`, or make the step `background: true` and `await` it"
        default:
            return "the model predicts no data and a live writer; make the descriptor non-blocking or close the other end first"
        }
    }

    func observeAndCompare(after location: SourceLocation, operation: String) throws(Stop) -> [Finding] {
        // Let go of the previous observation, so the cache updates its tables and partition in place.
        observed = [:]
        groups = [:]
        // A process inside a background step (and any sharing its table) can change at any moment: not observed.
        let busy = Set(pending.keys.flatMap { sharingTable(with: $0) })
        var processes: [ObservationCache.Process] = []
        for name in model.processNames where model.state(of: name) == .running && launched[name] == nil
            && !busy.contains(name)
        {
            guard let agent = tree[name] else { continue }
            processes.append(ObservationCache.Process(
                name: name, pid: agent.pid, hidden: Set(sharingTable(with: name).compactMap { tree[$0]?.controlNumber }),
                hasExited: { agent.hasExited }, endReason: { agent.endReason() },
                hasEnded: { agent.hasEnded }))
        }
        // Read again, besides what the model changed: the step's own processes (the kernel can depart from
        // the model only there) with their table sharers, and the targets of faults injected after it.
        var touched = options.injections.filter { $0.afterStep == currentStep }.map(\.process)
        if currentStep > 0 {
            let step = scenario.steps[currentStep - 1]
            if case .repeat(_, let inner) = step.action { touched += inner.compactMap(\.process) }
            if let process = step.process { touched.append(process) }
        }
        let observation = try harness { () throws(HarnessError) in
            try cache.observe(processes, model: model, touched: Set(touched.flatMap { sharingTable(with: $0) }),
                              identity: &identity, probe: probeFlags)
        }
        observed = observation.tables
        groups = observation.groups
        let oracle = Oracle(step: location, operation: operation, describe: describe)
        return oracle.compare(model: model, observed: observed, identity: groups, workPath: workPath)
    }

    func harness<T>(_ body: () throws(HarnessError) -> T) throws(Stop) -> T {
        do { return try body() } catch { throw .harness(error) }
    }
}

func flagList(_ flags: Set<StatusFlag>) -> String {
    flags.isEmpty ? "no status flags" : StatusFlag.allCases.filter { flags.contains($0) }.map(\.rawValue).joined(separator: "|")
}

extension ScenarioExecution {
    /// An agent killed by SIGKILL whose parent had ended died with it (every agent dies with its parent): the
    /// parent's end is the cause worth reporting, whichever of the two the runner noticed first.
    func causeOfDeath(_ error: HarnessError) -> String? {
        guard case .agentGone(let process, let reason) = error, reason.contains("signal 9") else { return nil }
        var ancestor = tracker.parent(of: process)
        while let name = ancestor {
            if let agent = tree[name], agent.hasExited { return "its parent '\(name)' \(agent.endReason())" }
            ancestor = tracker.parent(of: name)
        }
        return nil
    }
}
