import CHandoff
import Foundation
import Glibc
import HandoffProtocol

public struct ExecutionOptions: Sendable {
    /// Seconds before a scenario's process tree is killed (a scenario's own `timeout:` wins).
    public var timeout: Double
    public var identity: IdentityMode
    /// The handoff-agent executable.
    public var agentPath: String

    /// Faults injected behind the model's back, to prove the oracles catch them (tests and demos only).
    public var injections: [Injection]
    /// Where scenario directories are made (nil: $TMPDIR, else /tmp).
    public var workDirectory: String?
    /// How every process of a scenario is ended with it (Containment.swift).
    public var containment: ContainmentMode

    public init(timeout: Double = 10, identity: IdentityMode = .auto, agentPath: String, injections: [Injection] = [],
                workDirectory: String? = nil, containment: ContainmentMode = .auto) {
        self.timeout = timeout
        self.identity = identity
        self.agentPath = agentPath
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
private enum Stop: Error {
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
    private var model: ReferenceModel!
    private var tree: ProcessTree!
    private var directory: ScenarioDirectory!
    private var workPath = ""
    private var identity: IdentityResolver
    /// Descriptor names per process: name -> number. Names follow descriptors across fork and exec.
    private var names: [String: [String: Int32]] = ["main": [:]]
    /// Processes with the same number share one descriptor table (clone_files): they see each other's
    /// names and control channels.
    private var tables: [String: Int] = ["main": 0]
    private var nextTable = 1
    /// Processes that exec'd a launcher: no longer agents, not observed.
    private var launched: Set<String> = []
    /// Whether each launcher accepts connections itself (one service per connection).
    private var launchModes: [String: Bool] = [:]
    private var loops: [LoopRecord] = []
    /// Background steps in flight: the step, its operation and when it was sent, by process.
    private var pending: [String: (step: Step, operation: Operation, began: UInt64)] = [:]
    /// Ephemeral TCP ports of listening sockets, by the listening process and descriptor.
    private var ports: [DescriptorKey: UInt16] = [:]
    /// The latest observation, which check steps read.
    private var observed: [String: [Int32: ObservedDescriptor]] = [:]
    private var groups: [DescriptorKey: Int] = [:]
    /// The tables and identity partition kept between observations (only what a step can change is read).
    private var cache = ObservationCache()
    private var findings: [Finding] = []
    private var records: [StepRecord] = []
    private var currentStep = 0

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
        tree = ProcessTree(agentPath: options.agentPath, directory: directory, containment: options.containment)
        register(tree)
        do {
            try runSteps()
            result.status = findings.isEmpty ? .pass : .fail
        } catch {
            switch error {
            case .harness(let error):
                switch error {
                case .timedOut: result.status = .timeout
                case .undecidable: result.status = findings.isEmpty ? .skip : .fail
                default: result.status = tree.wasInterrupted ? .error : (findings.isEmpty ? .error : .fail)
                }
                result.reason = tree.wasInterrupted ? "interrupted" : "\(error)"
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
        directory.remove()
        result.durationSeconds = Double(monotonicNow() - started) / 1e9
        return result
    }

    // MARK: - The timeline

    private func runSteps() throws(Stop) {
        let root = try harness { () throws(HarnessError) in try tree.spawnRoot(name: "main", deadline: deadline, timeout: timeout) }
        model = ReferenceModel(root: "main", nofileLimit: root.nofileLimit)
        // Kernel settings the model's predictions depend on, read from this machine.
        model.ptraceScope = SystemProbe.sysctl("kernel/yama/ptrace_scope") ?? 0
        model.suidDumpable = SystemProbe.sysctl("fs/suid_dumpable") ?? 0
        model.somaxconn = SystemProbe.sysctl("net/core/somaxconn") ?? 4096
        let start = SourceLocation(file: scenario.file, line: 1, column: 1)
        let startFindings = try observeAndCompare(after: start, operation: "start")
        findings += startFindings
        if !startFindings.isEmpty { return }
        for (index, step) in scenario.steps.enumerated() {
            currentStep = index + 1
            let stepFindings: [Finding]
            if case .check(let check) = step.action {
                let began = monotonicNow()
                stepFindings = evaluate(check, at: step.location)
                records.append(StepRecord(line: step.location.line, operation: "check", process: nil,
                                          roundTripNanoseconds: 0, observationNanoseconds: monotonicNow() - began))
            } else if case .repeat(let count, let inner) = step.action {
                stepFindings = try runRepeat(step, count: count, steps: inner)
            } else {
                stepFindings = try perform(step)
            }
            findings += stepFindings
            // After a divergence from the model the two would only drift further apart: stop there.
            if stepFindings.contains(where: { $0.kind != .check }) { return }
        }
    }

    private func perform(_ step: Step) throws(Stop) -> [Finding] {
        guard let process = step.process else { throw .scenario("\(step.location): a step without a process") }
        let operationName = "\(process).\(step.action.keyword)"
        guard let agent = tree[process] else { throw .scenario("\(step.location): process '\(process)' has no agent") }
        guard let scenarioOperation = step.operation else { return try awaitBackground(step, agent: agent) }
        if agent.unsupported.contains(scenarioOperation.kind) {
            throw .unsupported("the \(agent.implementation) agent does not support \(scenarioOperation.kind.keyword)")
        }
        let operation = try resolve(scenarioOperation, in: process, at: step.location)
        if step.background {
            // Sent now, judged at its `await`: the model applies it then, when it can complete.
            let request = self.request(operation, by: process)
            try harness { () throws(HarnessError) in try agent.connection.send(request) }
            pending[process] = (step, operation, monotonicNow())
            let observeBegan = monotonicNow()
            let findings = try observeAndCompare(after: step.location, operation: operationName)
            records.append(StepRecord(line: step.location.line, operation: operationName + " (background)",
                                      process: process, roundTripNanoseconds: 0,
                                      observationNanoseconds: monotonicNow() - observeBegan))
            return findings
        }
        let statesBefore = Dictionary(uniqueKeysWithValues: model.processNames.map { ($0, model.state(of: $0)) })
        let predicted = model.apply(operation, by: process)
        if predicted.blocks {
            throw .scenario("\(step.location): \(operationName) would block forever (the model predicts no data and a "
                + "live writer); make the descriptor non-blocking or close the other end first")
        }
        let began = monotonicNow()
        let (observedOutcome, syscallNanoseconds) = try execute(operation, by: agent, step: step)
        let roundTrip = monotonicNow() - began

        bindNames(step.binds, in: process, outcome: observedOutcome)
        var stepFindings = judge(step, predicted: predicted, observed: observedOutcome, operation: operationName)

        // Processes that ended in this step (exit, or killed with their parent) must be gone before observing.
        let ended = model.processNames.filter { name in
            statesBefore[name] == .running && model.state(of: name) != .running
        }
        try harness { () throws(HarnessError) in try tree.awaitExit(ended, until: deadline, timeout: timeout) }
        try inject()

        let observeBegan = monotonicNow()
        stepFindings += try observeAndCompare(after: step.location, operation: operationName)
        records.append(StepRecord(line: step.location.line, operation: operationName, process: process,
                                  result: observedOutcome.errno == 0 ? observedOutcome.result : -1,
                                  error: observedOutcome.errno == 0 ? nil : Errno.name(of: observedOutcome.errno),
                                  syscallNanoseconds: syscallNanoseconds, roundTripNanoseconds: roundTrip,
                                  observationNanoseconds: monotonicNow() - observeBegan))
        return stepFindings
    }

    // MARK: - Loops run by the agents

    /// A repeat: every process involved gets its own steps as one program and runs them `count` times, all
    /// concurrently, answering once. Meanwhile the model runs the same iterations in the order written. Then
    /// the usual observation and oracle.
    private func runRepeat(_ step: Step, count: Int, steps inner: [Step]) throws(Stop) -> [Finding] {
        // Loop-local names: every name a loop step binds is a slot of its process's agent.
        var slots: [String: [String: Int]] = [:]
        for innerStep in inner {
            guard let process = innerStep.process else { continue }
            for case let name? in innerStep.binds where slots[process]?[name] == nil {
                slots[process, default: [:]][name] = slots[process]?.count ?? 0
            }
        }
        if let crowded = slots.first(where: { $0.value.count > loopSlotCount }) {
            throw .scenario("\(step.location): the loop names more than \(loopSlotCount) descriptors in '\(crowded.key)'")
        }
        // The programs: each process's steps, names it binds inside the loop as slots.
        var programs: [String: [LoopStep]] = [:]
        var order: [String] = []
        for innerStep in inner {
            guard let process = innerStep.process, let scenarioOperation = innerStep.operation else { continue }
            let local = slots[process] ?? [:]
            let operation: HandoffProtocol.Operation<LoopNaming> = try scenarioOperation.map(
                descriptor: { (reference, field) throws(Stop) -> LoopOperand in
                    let owner = field.owner ?? process
                    if owner == process, case .name(let name) = reference, let slot = local[name] { return .slot(slot) }
                    return .number(try number(reference, in: owner, at: innerStep.location))
                },
                process: { (name) throws(Stop) -> ProcessHandle in handle(name) },
                address: { (address) throws(Stop) -> SocketAddress in try socketAddress(address, at: innerStep.location) },
                text: { (text) throws(Stop) -> String in try render(text.parts, in: process, at: innerStep.location) })
            let outputs = innerStep.binds.map { name in name.flatMap { local[$0] } ?? -1 }
            let expected = innerStep.expect.error.flatMap { Errno.value(named: $0) } ?? 0
            if programs[process] == nil { order.append(process) }
            programs[process, default: []].append(LoopStep(operation: operation, outputs: outputs, expectedErrno: expected))
        }
        // The model first: the same iterations in the order written (a loop it says would block is never sent).
        var modelFailuresOf: [String: Int] = [:]
        var firstModelFailure = ""
        for iteration in 0..<count {
            for (index, innerStep) in inner.enumerated() {
                guard let process = innerStep.process, let scenarioOperation = innerStep.operation else { continue }
                let operation = try resolve(scenarioOperation, in: process, at: innerStep.location)
                let predicted = model.apply(operation, by: process)
                if predicted.blocks {
                    throw .scenario("\(innerStep.location): in iteration \(iteration + 1) the model predicts that "
                        + "\(process).\(innerStep.action.keyword) blocks when the loop's steps run in the order written; "
                        + "order them so that each can complete")
                }
                let expected = innerStep.expect.error.flatMap { Errno.value(named: $0) } ?? 0
                if predicted.errno != expected {
                    modelFailuresOf[process, default: 0] += 1
                    if firstModelFailure.isEmpty {
                        firstModelFailure = "iteration \(iteration + 1), step \(index + 1): \(predicted.summary)"
                    }
                }
                bindNames(innerStep.binds, in: process, outcome: predicted)
            }
            if deadline.expired { throw .harness(.timedOut(process: "the model (simulating the loop)", seconds: timeout)) }
        }
        let began = monotonicNow()
        for process in order {
            guard let agent = tree[process] else { throw .scenario("\(step.location): '\(process)' has no agent") }
            let request = AgentRequest.loop(count: count, steps: programs[process] ?? [], hidden: hiddenChannels(for: process))
            try harness { () throws(HarnessError) in try agent.connection.send(request.encoded()) }
        }
        var findings: [Finding] = []
        var record = LoopRecord(line: step.location.line, iterations: count, operations: [], wallNanoseconds: [:])
        for process in order {
            guard let agent = tree[process] else { throw .scenario("\(step.location): '\(process)' has no agent") }
            let message = try harness { () throws(HarnessError) in try agent.connection.receive(until: deadline, timeoutSeconds: timeout).0 }
            let answer: LoopAnswer
            switch LoopAnswer.decode(message) {
            case .success(let decoded): answer = decoded
            case .failure(let error): throw .harness(.protocolViolation(process: process, detail: error.reason))
            }
            let failures = answer.failures
            let first = answer.firstFailure
            if failures > 0 && failures == modelFailuresOf[process, default: 0] {
                // The model agrees with the kernel: the stated expectation is what is wrong.
                findings.append(Finding(kind: .check, step: step.location, operation: "repeat", process: process,
                                        expected: "every operation as written in every iteration",
                                        observed: "\(failures) failing operations (first: \(first))"))
            } else if failures != modelFailuresOf[process, default: 0] {
                findings.append(Finding(kind: .outcome, step: step.location, operation: "repeat", process: process,
                                        expected: modelFailuresOf[process, default: 0] == 0 ? "no failing operation"
                                            : "\(modelFailuresOf[process, default: 0]) failing operations (first: \(firstModelFailure))",
                                        observed: failures == 0 ? "no failing operation" : "\(failures) failing operations (first: \(first))"))
            }
            // The slots' final values name the last iteration's descriptors.
            let locals = answer.slots
            for (name, slot) in slots[process] ?? [:] where slot < locals.count && locals[slot] >= 0 {
                names[process, default: [:]][name] = locals[slot]
            }
            record.wallNanoseconds[process] = answer.wallNanoseconds
            let stepsOfProcess = inner.filter { $0.process == process }
            for (index, innerStep) in stepsOfProcess.enumerated() where index < answer.histograms.count {
                record.operations.append(LoopRecord.Operation(
                    step: innerStep.location.line, operation: "\(process).\(innerStep.action.keyword)",
                    buckets: answer.histograms[index].map {
                        LoopRecord.Bucket(lowerBoundNanoseconds: LatencyBuckets.lowerBound($0.bucket), count: $0.count)
                    }))
            }
        }
        let roundTrip = monotonicNow() - began
        let observeBegan = monotonicNow()
        findings += try observeAndCompare(after: step.location, operation: "repeat")
        loops.append(record)
        records.append(StepRecord(line: step.location.line, operation: "repeat", process: nil,
                                  roundTripNanoseconds: roundTrip, observationNanoseconds: monotonicNow() - observeBegan))
        return findings
    }

    /// Takes the outcome of the process's background step and judges it like any step's, at this point.
    private func awaitBackground(_ awaitStep: Step, agent: AgentProcess) throws(Stop) -> [Finding] {
        let process = agent.name
        guard let (step, operation, began) = pending.removeValue(forKey: process) else {
            throw .scenario("\(awaitStep.location): '\(process)' has no background step to await")
        }
        let operationName = "\(process).\(step.action.keyword)"
        let predicted = model.apply(operation, by: process)
        if predicted.blocks {
            throw .scenario("\(awaitStep.location): the background \(operationName) (line \(step.location.line)) would never "
                + "finish: the model predicts it still blocks here")
        }
        let answer = try harness { () throws(HarnessError) in
            try decodeAnswer(try agent.connection.receive(until: deadline, timeoutSeconds: timeout).0, from: process)
        }
        var observed = Outcome(answer: answer)
        if case .wait = operation { observed.result = nil }
        bindNames(step.binds, in: process, outcome: observed)
        var findings = judge(step, predicted: predicted, observed: observed, operation: operationName)
        let observeBegan = monotonicNow()
        findings += try observeAndCompare(after: awaitStep.location, operation: "\(process).await")
        records.append(StepRecord(line: awaitStep.location.line, operation: operationName, process: process,
                                  result: observed.errno == 0 ? observed.result : -1,
                                  error: observed.errno == 0 ? nil : Errno.name(of: observed.errno),
                                  syscallNanoseconds: answer.nanoseconds, roundTripNanoseconds: monotonicNow() - began,
                                  observationNanoseconds: monotonicNow() - observeBegan))
        return findings
    }

    /// The request that asks `process`'s agent to perform `operation`: pids and channels of named processes
    /// filled in, and the control channels of the agents sharing its table marked hidden.
    private func request(_ operation: Operation, by process: String) -> WireMessage {
        let wire: HandoffProtocol.Operation<WireNaming> = operation.map(
            descriptor: { number, _ in number }, process: { handle($0) }, address: { $0 }, text: { $0 })
        return AgentRequest.perform(wire, hidden: hiddenChannels(for: process)).encoded()
    }

    /// Another process as an agent sees it.
    private func handle(_ process: String) -> ProcessHandle {
        ProcessHandle(pid: Int32(tree[process]?.pid ?? 0), channel: tree[process]?.controlNumber ?? -1)
    }

    /// The control channels of the other agents in `process`'s table.
    private func hiddenChannels(for process: String) -> [Int32] {
        sharingTable(with: process).filter { $0 != process }.compactMap { tree[$0]?.controlNumber }
    }

    private func decodeAnswer(_ message: WireMessage, from process: String) throws(HarnessError) -> Answer {
        switch Answer.decode(message) {
        case .success(let answer): return answer
        case .failure(let error): throw .protocolViolation(process: process, detail: error.reason)
        }
    }

    /// The outcome findings of one executed operation: against the model's prediction (OUTCOME) and against
    /// what the scenario states (CHECK).
    private func judge(_ step: Step, predicted: Outcome, observed: Outcome, operation: String) -> [Finding] {
        var findings: [Finding] = []
        if let difference = compare(predicted: predicted, observed: observed) {
            findings.append(Finding(kind: .outcome, step: step.location, operation: operation, process: step.process,
                                    expected: difference.expected, observed: difference.observed))
        }
        return findings + checkExpectation(step.expect, observed, step: step, operation: operation)
    }

    /// Sends the operation to the agent and returns what the kernel did.
    private func execute(_ operation: Operation, by agent: AgentProcess, step: Step) throws(Stop) -> (Outcome, UInt64?) {
        let request = self.request(operation, by: agent.name)
        return try harness { () throws(HarnessError) -> (Outcome, UInt64?) in
            switch operation {
            case .exit:
                // No answer; perform() waits for every process that ended in this step, this one included.
                try agent.connection.send(request)
                return (Outcome(result: nil), nil)
            case .exec:
                let (message, _) = try agent.connection.call(request, until: deadline, timeoutSeconds: timeout)
                if message.verb == ControlVerb.hello.rawValue {
                    let channelBeforeExec = agent.controlNumber
                    try agent.adopt(hello: message)
                    try leaveSharedTable(agent, channel: channelBeforeExec)  // execve unshares the table
                    return (Outcome(result: 0), nil)
                }
                let answer = try decodeAnswer(message, from: agent.name)
                return (Outcome(answer: answer), answer.nanoseconds)
            case .launch(let programName, let arguments, let environment, let listen, let acceptMode):
                guard let program = SystemProbe.program(named: programName) else {
                    throw .agentGone(process: agent.name, reason: "program \(programName) not found in PATH")
                }
                // The agents the launcher starts call the runner back at its control socket.
                let callBack = EnvironmentVariable(name: AgentEnvironment.controlSocket, value: try tree.controlSocketPath())
                let wire: HandoffProtocol.Operation<WireNaming> = .launch(
                    program: program, arguments: arguments, environment: [callBack] + environment, listen: listen,
                    acceptMode: acceptMode)
                try agent.connection.send(AgentRequest.perform(wire, hidden: []).encoded())
                if let message = try agent.connection.answerOrClose(until: deadline, timeoutSeconds: timeout) {
                    let answer = try decodeAnswer(message, from: agent.name)
                    return (Outcome(answer: answer), answer.nanoseconds)
                }
                launched.insert(agent.name)
                // Ready once every unix address it listens on is listening (bound is not enough: a connect
                // between bind and listen is refused).
                for entry in listen {
                    let name: String
                    switch entry.address {
                    case .unix(let path): name = workPath + "/" + path
                    case .abstract(let abstract): name = "@" + abstract
                    case .tcp: continue
                    }
                    while !Observer.isListening(unixAddress: name) {
                        if deadline.expired {
                            throw .timedOut(process: "\(agent.name)' (the launcher never listened on \(name))", seconds: timeout)
                        }
                        if agent.hasExited { throw .agentGone(process: agent.name, reason: "the launcher " + agent.endReason()) }
                        usleep(500)
                    }
                }
                return (Outcome(result: 0), nil)
            case .attach(let child):
                _ = try tree.adoptAttached(name: child, launcher: agent, deadline: deadline, timeout: timeout)
                names[child] = [:]
                tables[child] = newTable()
                return (Outcome(result: nil), nil)
            case .fork(let child), .cloneFiles(let child):
                let (first, channel) = try agent.connection.call(request, until: deadline, timeoutSeconds: timeout)
                var message = first
                if first.verb == ControlVerb.channel.rawValue {
                    do throws(HarnessError) {
                        message = try agent.connection.receive(until: deadline, timeoutSeconds: timeout).0
                    } catch {
                        if let channel { close(channel) }
                        throw error
                    }
                }
                let answer: Answer
                do throws(HarnessError) {
                    answer = try decodeAnswer(message, from: agent.name)
                } catch {
                    if let channel { close(channel) }
                    throw error
                }
                var outcome = Outcome(answer: answer)
                if outcome.errno == EMFILE || outcome.errno == ENFILE {
                    // fork(2) and clone(2) never fail so: the agent's socketpair for the child's channel did.
                    throw .system(call: "socketpair for the control channel of '\(child)' (in the agent)", errno: outcome.errno)
                }
                if outcome.errno == 0 {
                    guard let channel else {
                        throw .protocolViolation(process: agent.name, detail: "fork answer carried no control channel")
                    }
                    _ = try tree.adoptChild(name: child, channel: channel, deadline: deadline, timeout: timeout)
                    names[child] = names[agent.name] ?? [:]
                    if case .cloneFiles = operation {
                        tables[child] = tables[agent.name]
                    } else {
                        tables[child] = newTable()
                    }
                } else if let channel {
                    close(channel)
                }
                outcome.result = nil
                return (outcome, answer.nanoseconds)
            case .open, .pipe, .socketpair, .memfd, .eventfd, .epollCreate, .epollCtl, .dup, .dup2, .dup3, .fcntl, .close,
                 .closeRange, .lseek, .read, .write, .shutdown, .wait, .send, .recv, .pidfdOpen, .pidfdGetfd, .listen,
                 .connect, .accept, .setrlimit, .dropCapability, .setDumpable, .reopen, .unshareFiles:
                let (message, stray) = try agent.connection.call(request, until: deadline, timeoutSeconds: timeout)
                if let stray { close(stray) }
                let answer = try decodeAnswer(message, from: agent.name)
                if let moved = answer.movedControl { agent.controlNumber = moved }
                var outcome = Outcome(answer: answer)
                if case .listen = operation, let port = answer.port, let fd = outcome.fds.first {
                    ports[DescriptorKey(process: agent.name, number: fd)] = port
                    model.assignPort(port, process: agent.name, fd: fd)
                }
                if outcome.errno == 0 {
                    switch operation {
                    case .unshareFiles, .closeRange(_, _, _, true): try leaveSharedTable(agent)
                    default: break
                    }
                }
                if case .wait = operation { outcome.result = nil }  // a pid: not predictable
                return (outcome, answer.nanoseconds)
            }
        }
    }

    /// Carries out the faults planned for the current step.
    private func inject() throws(Stop) {
        for injection in options.injections where injection.afterStep == currentStep {
            guard let agent = tree[injection.process] else { continue }
            switch injection.fault {
            case .signal(let signal):
                _ = handoff_pidfd_send_signal(agent.pidfd, signal)
                _ = waitReadable(agent.pidfd, until: deadline)
            case .operation(let operation):
                let request = self.request(operation, by: injection.process)
                _ = try harness { () throws(HarnessError) in
                    try agent.connection.call(request, until: deadline, timeoutSeconds: timeout)
                }
            }
        }
    }

    // MARK: - Names

    private func number(_ reference: DescriptorRef, in process: String, at location: SourceLocation) throws(Stop) -> Int32 {
        switch reference {
        case .number(let number): return number
        case .name(let name):
            guard let number = names[process]?[name] else {
                throw .scenario("\(location): descriptor '\(name)' of '\(process)' was never created (the step that "
                    + "should have created it failed)")
            }
            return number
        case .argument(let index):
            guard let agent = tree[process], index >= 1, index <= agent.arguments.count,
                let number = Int32(agent.arguments[index - 1])
            else { throw .scenario("\(location): argv[\(index)] of '\(process)' is not a descriptor number") }
            return number
        }
    }

    /// The scenario's operation with every name resolved: descriptors to numbers (in their owner's table),
    /// addresses to sockets, texts with their placeholders filled in.
    private func resolve(_ operation: ScenarioOperation, in process: String, at location: SourceLocation)
        throws(Stop) -> Operation {
        try operation.map(
            descriptor: { (reference, field) throws(Stop) -> Int32 in try number(reference, in: field.owner ?? process, at: location) },
            process: { (name) throws(Stop) -> String in name },
            address: { (address) throws(Stop) -> SocketAddress in try socketAddress(address, at: location) },
            text: { (text) throws(Stop) -> String in try render(text.parts, in: process, at: location) })
    }

    /// An argument or environment value with its placeholders filled in.
    private func render(_ parts: [ArgumentPart], in process: String, at location: SourceLocation) throws(Stop) -> String {
        var text = ""
        for part in parts {
            switch part {
            case .text(let literal): text += literal
            case .descriptor(let name): text += String(try number(.name(name), in: process, at: location))
            case .builtin(.pid): text += String(tree[process]?.pid ?? 0)
            case .builtin(.agent): text += options.agentPath
            case .builtin(.dir): text += workPath
            case .builtin(.control):
                text += AgentEnvironment.controlSocket + "="
                    + (try harness { () throws(HarnessError) in try tree.controlSocketPath() })
            }
        }
        return text
    }

    private func socketAddress(_ address: AddressSpec, at location: SourceLocation) throws(Stop) -> SocketAddress {
        switch address {
        case .unix(let path): return .unix(path: path)
        case .abstract(let name): return .abstract(name: name)
        case .tcpPort(let port): return .tcp(port: port)
        case .tcpListener(let listener):
            let number = try number(listener.descriptor, in: listener.process, at: location)
            guard let port = ports[DescriptorKey(process: listener.process, number: number)] else {
                throw .scenario("\(location): \(listener) is not a TCP socket this scenario listened on")
            }
            return .tcp(port: port)
        }
    }

    /// Every process sharing `process`'s descriptor table, itself included.
    private func sharingTable(with process: String) -> [String] {
        guard let table = tables[process] else { return [process] }
        return tables.filter { $0.value == table }.map(\.key).sorted()
    }

    /// `agent` now has a private table. The processes it shared with still hold its control channel in
    /// theirs: each closes it (harness housekeeping, so that their tables show only the scenario's).
    private func leaveSharedTable(_ agent: AgentProcess, channel: Int32? = nil) throws(HarnessError) {
        let others = sharingTable(with: agent.name).filter { $0 != agent.name }
        tables[agent.name] = newTable()
        for name in others where model.state(of: name) == .running && !launched.contains(name) {
            guard let other = tree[name] else { continue }
            let request = AgentRequest.release(fds: [channel ?? agent.controlNumber])
            _ = try other.connection.call(request.encoded(), until: deadline, timeoutSeconds: timeout)
        }
    }

    private func newTable() -> Int {
        nextTable += 1
        return nextTable
    }

    /// Gives the descriptors an outcome produced the names the step binds, in every process of the table.
    private func bindNames(_ binds: [String?], in process: String, outcome: Outcome) {
        let sharing = sharingTable(with: process)
        for (index, name) in binds.enumerated() {
            guard let name, index < outcome.fds.count else { continue }
            for member in sharing { names[member, default: [:]][name] = outcome.fds[index] }
        }
    }

    /// `got (4)`, or `4` for an unnamed descriptor.
    private func describe(_ key: DescriptorKey) -> String {
        let named = (names[key.process] ?? [:]).filter { $0.value == key.number }.map(\.key).sorted()
        return named.isEmpty ? String(key.number) : "\(named.joined(separator: "/")) (\(key.number))"
    }

    // MARK: - Outcomes and expectations

    private func compare(predicted: Outcome, observed: Outcome) -> (expected: String, observed: String)? {
        var same = predicted.errno == observed.errno
        if same && observed.errno == 0 {
            if let expected = predicted.result, let actual = observed.result {
                let mask = predicted.resultMask ?? -1
                same = same && (expected & mask) == (actual & mask)
            }
            same = same && predicted.fds == observed.fds
            if let data = predicted.data { same = same && observed.data == data }
            if let flags = predicted.messageFlags { same = same && (observed.messageFlags ?? 0) == flags }
            if let status = predicted.status { same = same && observed.status == status }
        }
        if same { return nil }
        var shown = observed
        if predicted.data == nil { shown.data = nil }
        if predicted.result == nil { shown.result = nil }
        if let mask = predicted.resultMask, let value = shown.result { shown.result = value & mask }
        return (predicted.summary, shown.summary)
    }

    private func checkExpectation(_ expect: Expectation, _ observed: Outcome, step: Step, operation: String) -> [Finding] {
        var findings: [Finding] = []
        func fail(_ expected: String, _ actual: String) {
            findings.append(Finding(kind: .check, step: step.location, operation: operation, process: step.process,
                                    expected: expected, observed: actual))
        }
        if let name = expect.error {
            if Errno.name(of: observed.errno) != name || observed.errno == 0 {
                fail("-1 \(name)", observed.summary)
            }
        } else if observed.errno != 0 {
            fail("success", observed.summary)
        }
        if let result = expect.result, observed.result != result {
            fail("result \(result)", observed.summary)
        }
        if let data = expect.data, observed.data != data {
            fail("data \(quoted(data))", observed.data.map(quoted) ?? "no data")
        }
        if let received = expect.received, observed.fds.count != received {
            fail("\(received) descriptors received", "\(observed.fds.count)")
        }
        if let truncated = expect.truncated, ((observed.messageFlags ?? 0) & Linux.MSG_CTRUNC != 0) != truncated {
            fail(truncated ? "MSG_CTRUNC" : "no MSG_CTRUNC", truncated ? "no MSG_CTRUNC" : "MSG_CTRUNC")
        }
        if let status = expect.status, observed.status != status {
            fail("status \(status)", observed.status.map { "status \($0)" } ?? "no status")
        }
        return findings
    }

    // MARK: - Observation

    private func observeAndCompare(after location: SourceLocation, operation: String) throws(Stop) -> [Finding] {
        // Let go of the previous observation, so the cache updates its tables and partition in place.
        observed = [:]
        groups = [:]
        // A process inside a background step (and any sharing its table) can change at any moment: not observed.
        let busy = Set(pending.keys.flatMap { sharingTable(with: $0) })
        var processes: [ObservationCache.Process] = []
        for name in model.processNames where model.state(of: name) == .running && !launched.contains(name)
            && !busy.contains(name)
        {
            guard let agent = tree[name] else { continue }
            processes.append(ObservationCache.Process(
                name: name, pid: agent.pid, hidden: Set(sharingTable(with: name).compactMap { tree[$0]?.controlNumber }),
                hasExited: { agent.hasExited }, endReason: { agent.endReason() }))
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

    /// fcntl through the agent that owns the descriptor (the identity fallback).
    private func probeFlags(_ key: DescriptorKey, _ command: Int32, _ argument: Int32) throws(HarnessError) -> Int32 {
        guard let agent = tree[key.process] else { throw .agentGone(process: key.process, reason: "no agent") }
        guard let fcntl = FcntlCommand(linux: command, argument: argument) else {
            throw .protocolViolation(process: key.process, detail: "flag probe with unknown fcntl command \(command)")
        }
        let (message, _) = try agent.connection.call(request(.fcntl(fd: key.number, command: fcntl), by: key.process),
                                                     until: deadline, timeoutSeconds: timeout)
        let answer = try decodeAnswer(message, from: key.process)
        guard let value = Int32(exactly: answer.result), value >= 0 else {
            throw .protocolViolation(process: key.process, detail: "flag probe of \(key.number) failed")
        }
        return value
    }

    // MARK: - Checks, against the kernel

    private func evaluate(_ check: Check, at location: SourceLocation) -> [Finding] {
        var findings: [Finding] = []
        func fail(_ process: String?, _ descriptor: String?, _ expected: String, _ actual: String) {
            findings.append(Finding(kind: .check, step: location, operation: "check", process: process,
                                    descriptor: descriptor, expected: expected, observed: actual))
        }
        func lookup(_ qualified: QualifiedDescriptor) -> (DescriptorKey, ObservedDescriptor)? {
            guard let number = try? number(qualified.descriptor, in: qualified.process, at: location) else {
                fail(qualified.process, "\(qualified.descriptor)", "a descriptor", "never created")
                return nil
            }
            let key = DescriptorKey(process: qualified.process, number: number)
            guard let descriptor = observed[qualified.process]?[number] else {
                fail(qualified.process, describe(key), "open", "closed")
                return nil
            }
            return (key, descriptor)
        }
        if !check.same.isEmpty {
            let resolved = check.same.compactMap(lookup)
            if let first = resolved.first {
                for other in resolved.dropFirst() where groups[other.0] != groups[first.0] {
                    fail(other.0.process, describe(other.0), "the same open file description as \(first.0.process): "
                         + describe(first.0), "a different open file description")
                }
            }
        }
        if !check.different.isEmpty {
            let resolved = check.different.compactMap(lookup)
            for (index, one) in resolved.enumerated() {
                for other in resolved[(index + 1)...] where groups[one.0] == groups[other.0] {
                    fail(other.0.process, describe(other.0), "a different open file description from "
                         + "\(one.0.process): \(describe(one.0))", "the same open file description")
                }
            }
        }
        for (qualified, offset) in check.offsets.sorted(by: { "\($0.key)" < "\($1.key)" }) {
            if let (key, descriptor) = lookup(qualified), descriptor.position != offset {
                fail(key.process, describe(key), "offset \(offset)", "offset \(descriptor.position)")
            }
        }
        for (qualified, closeOnExec) in check.closeOnExec.sorted(by: { "\($0.key)" < "\($1.key)" }) {
            if let (key, descriptor) = lookup(qualified), descriptor.closeOnExec != closeOnExec {
                fail(key.process, describe(key), onOff(closeOnExec), onOff(descriptor.closeOnExec))
            }
        }
        for (qualified, flags) in check.flags.sorted(by: { "\($0.key)" < "\($1.key)" }) {
            if let (key, descriptor) = lookup(qualified), descriptor.statusFlags != flags {
                fail(key.process, describe(key), flagList(flags), flagList(descriptor.statusFlags))
            }
        }
        for (process, references) in check.open.sorted(by: { $0.key < $1.key }) {
            var expected: Set<Int32> = []
            for reference in references {
                if let number = try? number(reference, in: process, at: location) { expected.insert(number) }
                else { fail(process, "\(reference)", "a descriptor", "never created") }
            }
            let actual = Set((observed[process] ?? [:]).keys)
            if actual != expected {
                let render = { (numbers: Set<Int32>) in
                    "{" + numbers.sorted().map { self.describe(DescriptorKey(process: process, number: $0)) }
                        .joined(separator: ", ") + "}"
                }
                fail(process, nil, "open " + render(expected), "open " + render(actual))
            }
        }
        for (process, variables) in check.environment.sorted(by: { $0.key < $1.key }) {
            let actual = tree[process]?.environment ?? [:]
            for (name, value) in variables {
                let expected = value.flatMap { try? render($0, in: process, at: location) }
                if actual[name] != expected {
                    fail(process, nil, expected.map { "\(name)=\($0)" } ?? "\(name) unset",
                         actual[name].map { "\(name)=\($0)" } ?? "\(name) unset")
                }
            }
        }
        for (qualified, expected) in check.numbers.sorted(by: { "\($0.key)" < "\($1.key)" }) {
            if let (key, _) = lookup(qualified), key.number != expected {
                fail(key.process, "\(qualified.descriptor)", "number \(expected)", "number \(key.number)")
            }
        }
        return findings
    }

    private func harness<T>(_ body: () throws(HarnessError) -> T) throws(Stop) -> T {
        do { return try body() } catch { throw .harness(error) }
    }
}

func flagList(_ flags: Set<StatusFlag>) -> String {
    flags.isEmpty ? "no status flags" : StatusFlag.allCases.filter { flags.contains($0) }.map(\.rawValue).joined(separator: "|")
}
