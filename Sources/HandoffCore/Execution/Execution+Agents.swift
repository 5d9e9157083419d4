// Talking to the agents: building requests, executing an operation (with what fork, exec, launch and
// attach need around it), injected faults, and the flag probe behind the identity fallback.

import CHandoff
import Glibc
import HandoffProtocol

extension ScenarioExecution {
    /// The request that asks `process`'s agent to perform `operation`: pids and channels of named processes
    /// filled in, and the control channels of the agents sharing its table marked hidden.
    func request(_ operation: Operation, by process: String) -> WireMessage {
        let wire: HandoffProtocol.Operation<WireNaming> = operation.map(
            descriptor: { number, _ in number }, process: { handle($0) }, address: { $0 }, text: { $0 })
        // An operation that reaches into another process's table must not find the channels there either:
        // every agent channel in the target's table (the actor's own included, when it shares it) is hidden.
        var hidden = hiddenChannels(for: process)
        switch operation {
        case .processes(.pidfdGetfd(let target, _, _)), .files(.reopen(let target, _, _)), .processes(.pidfdGetfdThrough(_, let target, _, _)):
            hidden = sharingTable(with: target).compactMap { tree[$0]?.controlNumber }
        default:
            break
        }
        return AgentRequest.perform(wire, hidden: hidden).encoded()
    }

    /// Another process as an agent sees it.
    func handle(_ process: String) -> ProcessHandle {
        ProcessHandle(pid: Int32(tree[process]?.pid ?? 0), channel: tree[process]?.controlNumber ?? -1)
    }

    /// The control channels of the other agents in `process`'s table.
    func hiddenChannels(for process: String) -> [Int32] {
        sharingTable(with: process).filter { $0 != process }.compactMap { tree[$0]?.controlNumber }
    }

    func decodeAnswer(_ message: WireMessage, from process: String) throws(HarnessError) -> Answer {
        switch Answer.decode(message) {
        case .success(let answer): return answer
        case .failure(let error): throw .protocolViolation(process: process, detail: error.reason)
        }
    }

    /// Sends the operation to the agent and returns what the kernel did.
    func execute(_ operation: Operation, by agent: AgentProcess, step: Step) throws(Stop) -> (Outcome, UInt64?) {
        let request = self.request(operation, by: agent.name)
        // How the runner talks to the agent follows the declared effect (OperationDeclarations.swift); the
        // arguments come from the operation.
        let effect = operation.declaration.effect
        let undeclared = HarnessError.undeclaredEffect(operation: operation.kind.keyword, effect: effect.rawValue)
        return try harness { () throws(HarnessError) -> (Outcome, UInt64?) in
            switch effect {
            case .endsProcess:
                // No answer; perform() waits for every process that ended in this step, this one included.
                try agent.connection.send(request)
                return (Outcome(result: nil), nil)
            case .replacesImage:
                let (message, _) = try agent.connection.call(request, until: deadline, timeoutSeconds: timeout)
                if message.verb == ControlVerb.hello.rawValue {
                    let channelBeforeExec = agent.controlNumber
                    try agent.adopt(hello: message)
                    try leaveSharedTable(agent, channel: channelBeforeExec)  // execve unshares the table
                    return (Outcome(result: 0), nil)
                }
                let answer = try decodeAnswer(message, from: agent.name)
                return (Outcome(answer: answer), answer.nanoseconds)
            case .launches:
                guard case .processes(.launch(let programName, let given, let environment, let listen, let acceptMode, let handover, _, _))
                    = operation else { throw undeclared }
                guard let found = SystemProbe.program(named: programName) else {
                    throw .agentGone(process: agent.name, reason: "program \(programName) not found in PATH")
                }
                let (program, arguments) = options.launcherSandbox?.wrap(
                    program: found, arguments: given, directory: directory.path, writable: scenario.requires.writes)
                    ?? (found, given)
                // The agents the launcher starts call the runner back at its control socket.
                let callBack = EnvironmentVariable(name: AgentEnvironment.controlSocket, value: try tree.controlSocketPath())
                let wire: HandoffProtocol.Operation<WireNaming> = .launch(
                    program: program, arguments: arguments, environment: [callBack] + environment, listen: listen,
                    acceptMode: acceptMode, handover: handover)
                try agent.connection.send(AgentRequest.perform(wire, hidden: []).encoded())
                if let message = try agent.connection.answerOrClose(until: deadline, timeoutSeconds: timeout) {
                    let answer = try decodeAnswer(message, from: agent.name)
                    return (Outcome(answer: answer), answer.nanoseconds)
                }
                launched[agent.name] = handover
                // Ready once every unix address it listens on is listening (bound is not enough: a connect
                // between bind and listen is refused).
                for entry in listen {
                    let name: String
                    switch entry.address {
                    case .unix(let path): name = workPath + "/" + path
                    case .abstract(let abstract): name = "@" + abstract
                    case .tcp(let port):
                        // An ephemeral port (0) cannot be looked for: only a port the scenario chose ({@port}).
                        if port == 0 { continue }
                        name = "127.0.0.1:\(port)"
                    }
                    func listening() -> Bool {
                        if case .tcp(let port) = entry.address { return Observer.isListening(tcpPort: port) }
                        return Observer.isListening(unixAddress: name)
                    }
                    while !listening() {
                        if deadline.expired {
                            throw .timedOut(process: "\(agent.name)' (the launcher never listened on \(name))", seconds: timeout)
                        }
                        if agent.hasExited { throw .agentGone(process: agent.name, reason: "the launcher " + agent.endReason()) }
                        usleep(500)
                    }
                }
                return (Outcome(result: 0), nil)
            case .attaches:
                guard case .processes(.attach(let child)) = operation else { throw undeclared }
                _ = try tree.adoptAttached(name: child, launcher: agent, deadline: deadline, timeout: timeout)
                tracker.adopt(child, by: agent.name, inheritingNames: launched[agent.name] != .listenFDs)
                return (Outcome(result: nil), nil)
            case .createsProcess:
                guard case let (child, sharingTable)? = operation.createdProcess else { throw undeclared }
                let (first, channel) = try agent.connection.call(request, until: deadline, timeoutSeconds: timeout,
                                                                 channelExpected: true)
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
                    throw .system(call: "the runner's control channel for '\(child)' (a socketpair its parent's agent makes before "
                        + "the fork, which needs two free descriptors below RLIMIT_NOFILE; fork(2) itself needs none: fork "
                        + "before the table is full or the limit lowered)", errno: outcome.errno)
                }
                if outcome.errno == 0 {
                    guard let channel else {
                        throw .protocolViolation(process: agent.name, detail: "fork answer carried no control channel")
                    }
                    _ = try tree.adoptChild(name: child, channel: channel, deadline: deadline, timeout: timeout, parent: agent)
                    tracker.fork(child, of: agent.name, sharingTable: sharingTable)
                } else if let channel {
                    close(channel)
                }
                outcome.result = nil
                return (outcome, answer.nanoseconds)
            case .none, .reapsChild, .throughPidfd, .privatizesTable:
                let (message, stray) = try agent.connection.call(request, until: deadline, timeoutSeconds: timeout)
                if let stray { close(stray) }
                let answer = try decodeAnswer(message, from: agent.name)
                if let moved = answer.movedControl { agent.controlNumber = moved }
                var outcome = Outcome(answer: answer)
                outcome.credentials = named(answer.credentials)
                if case .sockets(.listen) = operation, let port = answer.port, let fd = outcome.fds.first {
                    ports[DescriptorKey(process: agent.name, number: fd)] = port
                    model.assignPort(port, process: agent.name, fd: fd)
                }
                if outcome.errno == 0, operation.privatizesTable { try leaveSharedTable(agent) }
                if case .processes(.wait) = operation { outcome.result = nil }  // a pid: not predictable
                return (outcome, answer.nanoseconds)
            }
        }
    }

    /// Carries out the faults planned for the current step.
    func inject() throws(Stop) {
        for injection in options.injections where injection.afterStep == currentStep {
            guard let agent = tree[injection.process] else { continue }
            switch injection.fault {
            case .signal(let signal):
                agent.handle.signal(signal)
                _ = agent.handle.waitExit(until: deadline)
            case .operation(let operation):
                let request = self.request(operation, by: injection.process)
                _ = try harness { () throws(HarnessError) in
                    try agent.connection.call(request, until: deadline, timeoutSeconds: timeout)
                }
            }
        }
    }

    /// `agent` now has a private table. The processes it shared with still hold its control channel in
    /// theirs: each closes it (harness housekeeping, so that their tables show only the scenario's). One
    /// inside a background call cannot be asked now: it closes it once the call has returned, before it is
    /// observed again (`releaseDeferredChannels`; found by `handoff fuzz` with background steps).
    func leaveSharedTable(_ agent: AgentProcess, channel: Int32? = nil) throws(HarnessError) {
        let others = sharingTable(with: agent.name).filter { $0 != agent.name }
        tracker.privatize(agent.name)
        for name in others where model.state(of: name) == .running && launched[name] == nil {
            guard let other = tree[name] else { continue }
            if let call = pending[name], call.completed == nil {
                deferredReleases[name, default: []].append(channel ?? agent.controlNumber)
                continue
            }
            let request = AgentRequest.release(fds: [channel ?? agent.controlNumber])
            _ = try other.connection.call(request.encoded(), until: deadline, timeoutSeconds: timeout)
        }
    }

    /// The channels `process` could not close while inside its background call, closed now that it returned.
    func releaseDeferredChannels(of process: String) throws(HarnessError) {
        guard let channels = deferredReleases.removeValue(forKey: process), let agent = tree[process] else { return }
        let request = AgentRequest.release(fds: channels)
        _ = try agent.connection.call(request.encoded(), until: deadline, timeoutSeconds: timeout)
    }

    /// Credentials an agent reported, their pid named as the scenario names processes.
    func named(_ credentials: UnixCredentials?) -> NamedCredentials? {
        guard let credentials else { return nil }
        let process = credentials.pid == 0 ? NamedCredentials.noProcess
            : tree.name(ofPid: credentials.pid) ?? "pid \(credentials.pid)"
        return NamedCredentials(process: process, uid: credentials.uid, gid: credentials.gid)
    }

    /// fcntl through the agent that owns the descriptor (the identity fallback).
    func probeFlags(_ key: DescriptorKey, _ command: Int32, _ argument: Int32) throws(HarnessError) -> Int32 {
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
}
