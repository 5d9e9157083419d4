// Background steps: sent without waiting, applied by the model when the kernel completes them, judged at
// their `await` like any step.

import Foundation
import Glibc
import HandoffProtocol

/// A step running in the background, and once the model says it has completed, its predicted outcome and the
/// agent's answer.
struct BackgroundCall {
    var step: Step
    var operation: Operation
    var began: UInt64
    var completed: (predicted: Outcome, answer: WireMessage)? = nil
    /// What the call did before it went to sleep (a pipe write's first pages, a MSG_WAITALL read's first bytes),
    /// applied by the model when the kernel did it; `operation` is then what is left to do.
    var done: Outcome? = nil
    /// The call has been asleep: a later O_NONBLOCK on its description does not wake it.
    var slept = false
    /// The agent's voluntary context switches when the call was last seen asleep.
    var switches: UInt64? = nil
    /// The process ended (a signal killed it) while the call slept: it never returns.
    var endedWithProcess = false
    /// A poll's: the open file descriptions its descriptors named when it was sent, compared with the table
    /// again (checkFilesKept). Every other call keeps its files in the model instead (ReferenceModel.keepFiles).
    var files: [DescriptionID?] = []

    /// The call's outcome as the program sees it: the part done before sleeping and the rest, as one.
    func whole(_ rest: Outcome) -> Outcome {
        guard let done else { return rest }
        // The rest failing after a part was done: the call returns the part (pipe_write: "if (!ret) ret = -EPIPE").
        guard rest.errno == 0 else { return done }
        var outcome = rest
        outcome.result = (done.result ?? 0) + (rest.result ?? 0)
        if let first = done.data { outcome.data = first + (rest.data ?? []) }
        outcome.fds = done.fds + rest.fds
        return outcome
    }

    /// The operation split after `count` bytes: the part the kernel does before sleeping, and the rest.
    static func split(_ operation: Operation, after count: Int) -> (first: Operation, rest: Operation)? {
        switch operation {
        case .files(.write(let fd, let data)) where count < data.count:
            return (.files(.write(fd: fd, data: Array(data.prefix(count)))), .files(.write(fd: fd, data: Array(data.dropFirst(count)))))
        case .messages(.recv(let socket, let total, let room, let closeOnExec, let nonBlocking, let flags, let control)) where count < total:
            return (.messages(.recv(socket: socket, count: count, room: room, closeOnExec: closeOnExec, nonBlocking: nonBlocking,
                                    flags: flags.subtracting([.waitall]), control: control)),
                    .messages(.recv(socket: socket, count: total - count, room: room, closeOnExec: closeOnExec,
                                    nonBlocking: nonBlocking, flags: flags, control: control)))
        default: return nil
        }
    }
}

extension ScenarioExecution {
    /// Background calls that can complete now. The kernel completes a blocked call as soon as a step lets it
    /// (pipe_read, unix_stream_read_generic and eventfd_read return with what the first write brought;
    /// unix_accept takes the queue's head when woken), not at its `await`: so the model applies it here,
    /// and the runner takes the agent's answer before the next step - which then meets the state the
    /// kernel's completed call left (the data it took, the connection it accepted). Found by porting
    /// upstream tests: a read awaited after two writes was predicted to return both.
    /// A call the model says completes that does not is a finding on the background step's line, once the
    /// time limit shows the agent still asleep in it; so is the converse, a call that has answered while the
    /// model says it sleeps (`returnedWhileAsleep`).
    func completeBackgroundCalls() throws(Stop) -> Finding? {
        try checkSleepersStayApart()
        // Until nothing more completes: one call's completion can let another go on (an accept makes room for
        // a connect blocked on a full backlog; an eventfd read, for a writer blocked at the counter's top).
        var progress = true
        while progress {
            progress = false
            // A process that ended (killed) while its call slept took the call with it: nothing to answer or
            // judge, and its await only says so.
            for (process, call) in pending where call.completed == nil && model.state(of: process) != .running {
                pending[process]?.endedWithProcess = true
            }
            for (process, call) in pending.sorted(by: { $0.value.began < $1.value.began })
                where call.completed == nil && !call.endedWithProcess {
                if let finding = try complete(call, of: process, progress: &progress) { return finding }
            }
        }
        return try returnedWhileAsleep()
    }

    /// A background call the model says still sleeps whose agent has answered: the kernel let it return where,
    /// by the model, nothing has woken it yet (an open of a FIFO that did not wait for its partner, a read that
    /// did not wait for data). The finding is on the background step's line, with what the call returned. Not
    /// for a poll or epoll_wait with a timeout (it returns when its time is out, which the model leaves to its
    /// await), nor for a call past what the model follows (its await says so).
    private func returnedWhileAsleep() throws(Stop) -> Finding? {
        for (process, call) in pending.sorted(by: { $0.value.began < $1.value.began })
            where call.completed == nil && !call.endedWithProcess && (call.operation.eventTimeout ?? 0) <= 0
        {
            guard let agent = tree[process], !agent.hasExited, agent.connection.hasMessageWaiting else { continue }
            let stillAsleep = asCall(of: process) { trialPredict(call.operation, by: process) }
            guard stillAsleep.blocks, stillAsleep.beyondModel == nil else { continue }
            let (message, finding) = try answerWhileAsleep(call, of: process, agent: agent)
            pending[process]?.completed = (stillAsleep, message)
            return finding
        }
        return nil
    }

    /// Takes the answer of a call the model says still sleeps, and the OUTCOME finding on its line.
    private func answerWhileAsleep(_ call: BackgroundCall, of process: String,
                                   agent: AgentProcess) throws(Stop) -> (WireMessage, Finding) {
        let message = try harness { () throws(HarnessError) in
            try agent.connection.receive(until: deadline, timeoutSeconds: timeout).0
        }
        let answer = try harness { () throws(HarnessError) in try decodeAnswer(message, from: process) }
        let finding = Finding(kind: .outcome, step: call.step.location, operation: "\(process).\(call.step.action.keyword)",
                              process: process, expected: "asleep in the call: nothing has let it return yet (blocks)",
                              observed: "returned " + Outcome(answer: answer).summary(dataAround: nil))
        return (message, finding)
    }

    /// Sleepers that were not rivals when they fell asleep can become rivals while they sleep: an epoll they
    /// wait on gains a registration on what another one reads, or an edge-triggered item that an epoll_wait
    /// would take from a poller beside it. Looked at again after every step, by the rule of `rivalWaiter`.
    private func checkSleepersStayApart() throws(Stop) {
        let asleep = pending.filter { $0.value.completed == nil && model.state(of: $0.key) == .running }
        guard asleep.count > 1 else { return }
        for (process, call) in asleep.sorted(by: { $0.value.began < $1.value.began }) {
            if let rival = asCall(of: process, { rivalWaiter(for: call.operation, by: process) }) {
                throw .harness(.beyondModel("\(call.step.location): the background \(process).\(call.step.action.keyword) "
                    + "waits on the same object as \(rival) since an earlier step: \(Self.rivalsAreTiming)"))
            }
        }
    }

    /// Whether the step running now can wake `call`: the kernel looks at a sleeping call again only when its
    /// wait queue is woken, whatever else changed (found porting; the model looked after every step):
    /// - a step that only looks - poll, epoll_wait, getsockopt, dupfd_query, lseek, fcntl's F_GET*, FIONREAD - and
    ///   setsockopt of the options handoff knows (SO_PASSCRED, SO_PEEK_OFF, ...) wake nobody: a peek asleep past
    ///   the data stays asleep when SO_PEEK_OFF is lowered, until the next write;
    /// - shutdown wakes its socket's and its peer's wait queues (sk_state_change), not the peer_wait of a
    ///   listener or a datagram receiver (unix_wait_for_peer), where a connect to a full backlog and a datagram
    ///   send to a full queue sleep: they fail only when a later accept, recv or close wakes them.
    /// Every other step is taken to wake whatever it could (a step that changes one object and is taken to
    /// wake a sleeper on another is a limit of this rule).
    func stepWakes(_ call: BackgroundCall, of process: String) -> Bool {
        switch currentOperation {
        case .events(.poll)?, .events(.epollWait)?, .sockets(.getsockopt)?, .sockets(.setsockopt)?,
             .table(.dupfdQuery)?, .files(.lseek)?,
             .table(.fcntl(_, .getfd))?, .table(.fcntl(_, .getfl))?, .table(.fcntl(_, .getSeals))?,
             .table(.fcntl(_, .getPipeSize))?, .table(.ioctl(_, .fionread))?:
            return false
        case .sockets(.shutdown)?:
            switch call.operation {
            case .sockets(.connect): return false
            case .messages(.send(let socket, _, _, _)), .sockets(.sendto(let socket, _, _, _)):
                guard case .socket(let endpoint)? = model.fdget(process, socket)?.description.target else { return true }
                return model.endpoints[endpoint]?.type != .dgram
            default: return true
            }
        default:
            return true
        }
    }

    /// Looks at `call` again after a step, as the call sees the model (the files it kept).
    private func complete(_ call: BackgroundCall, of process: String, progress: inout Bool) throws(Stop) -> Finding? {
        try asCall(of: process) { () throws(Stop) -> Finding? in try completeKeeping(call, of: process, progress: &progress) }
    }

    private func completeKeeping(_ call: BackgroundCall, of process: String, progress: inout Bool) throws(Stop) -> Finding? {
        guard let agent = tree[process] else { return nil }
        // The step that sent the call is the one it meets first (an epoll_wait on a closed number fails at
        // once): only later steps are asked whether they wake it (found by `handoff fuzz` with background steps).
        if call.began < currentStepBegan && !stepWakes(call, of: process) { return nil }
        try checkFilesKept(call, of: process)
        var current = call
        let pollTimeout = current.operation.eventTimeout
        // A poll whose time ran out before this step began returned 0 then, whatever this step brings; one
        // whose time ran out during this step raced it (past what the model can tell, if the step made it ready).
        if let pollTimeout, pollTimeout > 0 {
            let expiry = current.began + UInt64(pollTimeout) * 1_000_000
            if expiry <= monotonicNow() {
                if expiry > currentStepBegan, (trialPredict(current.operation, by: process).result ?? 0) != 0 {
                    throw .harness(.beyondModel("\(current.step.location): the background \(current.step.action.keyword)'s \(pollTimeout) ms ran out "
                        + "while the step that makes it ready ran: which came first is a matter of timing"))
                }
                return try take(current, of: process, agent: agent, predicted: Outcome(result: 0), progress: &progress)
            }
        }
        let saved = model
        // The model with the parts the call did before sleeping applied, and nothing of the rest.
        var afterParts = saved
        var predicted = predict(current.operation, by: process)
        // What the call returns when it stops short of its count: a MSG_WAITALL read under SO_PASSCRED that
        // meets another writer's bytes returns what it copied ("Never glue messages from different writers").
        var returnsShort: Outcome?
        // Asleep after doing part of its work: the model does that part now (a reader then gets the pages a
        // blocked writer copied; the queue a MSG_WAITALL reader emptied stays empty), and the rest waits on.
        while predicted.blocks, let count = predicted.doneBeforeBlocking, count > 0,
            let (first, rest) = BackgroundCall.split(current.operation, after: count)
        {
            let before = model
            model = afterParts
            let part = predict(first, by: process)
            if let done = current.done, Self.otherWriter(done, part) {
                (model, returnsShort) = (afterParts, done)
                break
            }
            guard part.errno == 0, !part.blocks else { model = before; break }
            current.done = current.whole(part)
            current.operation = rest
            current.slept = true
            afterParts = model
            predicted = predict(rest, by: process)
        }
        if returnsShort == nil, let done = current.done, predicted.errno == 0, Self.otherWriter(done, predicted) {
            (model, returnsShort) = (afterParts, done)
        }
        // A change made before sleeping (an out-of-band byte dropped) stays, as in the kernel.
        let changed = returnsShort == nil && predicted.blocks && predicted.changedBeforeBlocking
        if changed { afterParts = model }
        // The part just done happens when the sleeper runs: wait for it to have run and slept again.
        // (Not at the step that started it: the part was done before the sleep the runner saw.)
        if returnsShort == nil, current.done != call.done || changed, predicted.blocks, let before = current.switches {
            try awaitAsleepOrAnswered(agent, step: current.step, afterSwitches: before)
            current.switches = Self.voluntarySwitches(agent.pid)
        }
        if returnsShort == nil {
            // A poll with a timeout that the model says times out waits its time for an event a later step may
            // bring: it is taken at its await (or when a step makes it ready), not waited out here.
            let waitsOutItsTime = (pollTimeout ?? 0) != 0 && predicted.result == 0
            // A call asleep does not see O_NONBLOCK set on its description later (pipe_write, the socket reads
            // look at it again only once woken): EAGAIN now means it sleeps on.
            let sleepsOn = current.slept && predicted.errno == EAGAIN
            if predicted.blocks || predicted.beyondModel != nil || waitsOutItsTime || sleepsOn {
                if predicted.blocks { current.slept = true }
                model = afterParts
                // A sleeper's wake-ups of others (pipe_write's wake_next_writer, pipe_read's wake_next_reader, a
                // partial copy's) are not followed: edge-triggered epoll items are unknown from here.
                forgetEdgeWakeups(of: current, by: process)
                pending[process] = current
                return nil
            }
        }
        forgetEdgeWakeups(of: current, by: process)
        return try take(current, of: process, agent: agent, predicted: returnsShort ?? current.whole(predicted),
                        progress: &progress)
    }

    /// The open file descriptions `operation`'s descriptors name now (in their owner's table).
    func files(of operation: Operation, by process: String) -> [DescriptionID?] {
        operation.descriptors.map { fd, field in model.fdget(field.owner ?? process, fd)?.description.id }
    }

    /// Whether a call keeps the files it looked up when it began for as long as it sleeps (fdget, then fdput
    /// when it returns): every call but poll, which looks its descriptors up again each time it is woken
    /// (fs/select.c: do_pollfd), so a descriptor closed beneath it is POLLNVAL at a wake-up that closing it
    /// does not bring. The model keeps the others' files (ReferenceModel.keepFiles).
    static func keepsFiles(_ operation: Operation) -> Bool {
        if case .events(.poll) = operation { return false }
        return true
    }

    /// Runs `body` as the sleeping call of `process` sees the model: its lookups of its own descriptors find
    /// the files it kept when it began, whatever its table holds now (ReferenceModel.applyingCallOf).
    func asCall<Result, Failure: Error>(of process: String, _ body: () throws(Failure) -> Result) throws(Failure) -> Result {
        let previous = model.applyingCallOf
        model.applyingCallOf = process
        defer { model.applyingCallOf = previous }
        return try body()
    }

    /// A poll asleep whose descriptor a process sharing its table closed or replaced: past what the model
    /// follows (an ERROR), never a prediction of POLLNVAL - the poll looks again only when something wakes it
    /// (found by `handoff fuzz` with background steps, when every call was treated so).
    func checkFilesKept(_ call: BackgroundCall, of process: String) throws(Stop) {
        guard !call.files.isEmpty, call.files != files(of: call.operation, by: process) else { return }
        throw .harness(.beyondModel("\(call.step.location): a descriptor the background \(process).\(call.step.action.keyword) "
            + "watches was closed or replaced in its table while it slept: poll looks it up again only once woken, "
            + "which the model does not follow"))
    }

    /// A sleeping call's wake-ups of others on its way out that the model does not follow (a pipe's):
    /// the edge-triggered items they could have queued are unknown. A call on no descriptor (wait, waitid)
    /// wakes no file's queue.
    private func forgetEdgeWakeups(of call: BackgroundCall, by process: String) {
        guard call.slept, call.operation.eventTimeout == nil, let fd = call.operation.descriptors.first?.0 else { return }
        model.edgeWakeupsUnknown(near: model.fdget(process, fd)?.description.target)
    }

    /// The agent's answer to a call the model says has completed with `predicted`, kept for its await.
    private func take(_ call: BackgroundCall, of process: String, agent: AgentProcess, predicted: Outcome,
                      progress: inout Bool) throws(Stop) -> Finding? {
        // The call has returned: fdput of the files it kept.
        model.returnFiles(ofCallBy: process)
        var current = call
        switch try answer(to: current, from: agent, predicted: predicted) {
        case .blocked(let finding): return finding
        case .answered(let answer): current.completed = (predicted, answer)
        }
        pending[process] = current
        try harness { () throws(HarnessError) in try releaseDeferredChannels(of: process) }
        progress = true
        return nil
    }

    enum BackgroundAnswer {
        case answered(WireMessage)
        /// The agent is still asleep in the call at the time limit: the finding.
        case blocked(Finding)
    }

    /// Waits for the agent's answer to a background call the model says has completed with `predicted`.
    func answer(to call: BackgroundCall, from agent: AgentProcess, predicted: Outcome) throws(Stop) -> BackgroundAnswer {
        do {
            return .answered(try harness { () throws(HarnessError) in
                try agent.connection.receive(until: deadline, timeoutSeconds: timeout).0
            })
        } catch {
            if let finding = blockedWhereModelReturns(error, step: call.step, operation: call.operation, agent: agent,
                                                      predicted: predicted, since: call.began) {
                return .blocked(finding)
            }
            throw error
        }
    }

    /// Two parts of a read that came from different writers, as SO_PASSCRED shows them.
    static func otherWriter(_ first: Outcome, _ next: Outcome) -> Bool {
        guard let mine = first.credentials, let theirs = next.credentials else { return false }
        return mine != theirs
    }

    /// Why two sleepers on one object are past the model (the ERROR's reason).
    static let rivalsAreTiming = "which of two sleepers the kernel wakes first (a stream socket or an eventfd wakes every "
        + "sleeper to race; a datagram receiver is woken alone, peeking or not) is past what the model follows"

    /// A pending call that waits on the object `operation` would wait on (the same pipe, socket, eventfd: the
    /// description's target), in the same direction, where the kernel's choice of sleeper is not first come,
    /// first served - named as its step. Readers of a pipe, receivers of a datagram or seqpacket socket that
    /// do not peek, and acceptors sleep exclusively in order (pipe_read's wait_event_interruptible_exclusive,
    /// __skb_wait_for_more_packets' prepare_to_wait_exclusive) and are woken in the order they slept, which
    /// awaitAsleepOrAnswered keeps the order of their steps. A pair where neither takes anything (polls, stream
    /// peeks, and epoll_waits that report only level-triggered items, which stay and make ep_done_scan wake the
    /// next sleeper) cannot race (checkSleepersStayApart looks again after each step). Every other pair is
    /// left to chance by the kernel.
    func rivalWaiter(for operation: Operation, by process: String) -> String? {
        typealias Wait = (target: DescriptionTarget, reads: Bool, inOrder: Bool, takes: Bool)
        func waiting(_ operation: Operation, _ process: String) -> [Wait] {
            guard let fd = operation.descriptors.first?.0, let target = model.fdget(process, fd)?.description.target else {
                return []
            }
            var datagrams = false
            if case .socket(let endpoint) = target { datagrams = model.endpoints[endpoint]?.type != .stream }
            switch operation {
            case .files(.read):
                if case .pipeRead = target { return [(target, true, true, true)] }
                return [(target, true, false, true)]
            case .messages(.recv(_, _, _, _, _, let flags, _)):
                // A datagram receiver sleeps exclusively and is woken alone: peeking, it takes nothing, but the
                // wake-up was its own and the next receiver sleeps on, so it counts as taking.
                return [(target, true, datagrams && !flags.contains(.peek), datagrams || !flags.contains(.peek))]
            case .sockets(.recvfrom): return [(target, true, datagrams, true)]
            case .sockets(.accept): return [(target, true, true, true)]
            case .events(.poll), .events(.epollWait):
                // Asleep on the epoll, and through its registrations on every object they watch: a reader of one
                // of them woken by the same write may take the data before the epoll looks again (ep_poll_callback
                // queues the registration; ep_send_events, or a poll's ep_eventpoll_poll, polls it anew). An
                // epoll_wait takes from its epoll the edge-triggered and one-shot items it reports; a poll takes
                // nothing.
                guard case .epoll(let object) = target else { return [(target, true, false, false)] }
                var takes = false
                if case .events(.epollWait) = operation { takes = model.hasConsumedItems(object) }
                return [(target, true, false, takes)] + model.watchedTargets(object).map { ($0.target, $0.reads, false, false) }
            default: return [(target, false, false, true)]
            }
        }
        let mine = waiting(operation, process)
        if mine.isEmpty { return nil }
        for (other, call) in pending where other != process && call.completed == nil && model.state(of: other) == .running {
            let theirs = asCall(of: other) { waiting(call.operation, other) }
            let rival = mine.contains { one in
                theirs.contains {
                    $0.target == one.target && $0.reads == one.reads && !(one.inOrder && $0.inOrder) && (one.takes || $0.takes)
                }
            }
            if rival { return "\(other).\(call.step.action.keyword) (line \(call.step.location.line))" }
        }
        return nil
    }

    /// After a background request: its call is asleep in the kernel, or it has answered, before the next step
    /// runs - else the next step may reach the kernel first (two readers of one pipe taking each other's data,
    /// found by stressing ported tests). Asleep: a thread in a system call that is not the agent's read of its
    /// control channel nor a runtime's futex.
    /// `afterSwitches`: the agent's voluntary context switches when it was last seen asleep - after a step
    /// that let its call do part of its work, it must have been woken (one more switch) and be asleep again
    /// (the part done: a MSG_WAITALL reader has taken the bytes) before the next step looks.
    /// Where /proc/PID/task/TID/syscall cannot be read (gVisor), a process not running for a few milliseconds
    /// is taken as asleep: the best the runner can tell there.
    func awaitAsleepOrAnswered(_ agent: AgentProcess, step: Step, afterSwitches: UInt64? = nil) throws(Stop) {
        let control = UInt64(UInt32(bitPattern: agent.controlNumber))
        let limit = Deadline(secondsFromNow: min(timeout, 10))
        let readable = Observer.readSmallFile("/proc/\(agent.pid)/syscall") != nil
        var quietSince: UInt64?
        while true {
            var entry = pollfd(fd: agent.connection.descriptor, events: Int16(POLLIN), revents: 0)
            if poll(&entry, 1, 0) != 0 { return }
            let running = ProcessStatus.read(agent.pid)?.state == "R"
            let woken = afterSwitches.map { before in Self.voluntarySwitches(agent.pid).map { $0 > before } ?? true } ?? true
            if readable {
                if !running, woken,
                    BlockedCall.find(in: agent.pid, where: { $0.firstArgument != control && $0.name != "futex" }) != nil
                {
                    return
                }
            } else if running {
                quietSince = nil
            } else if let since = quietSince {
                if monotonicNow() - since > 5_000_000 { return }
            } else {
                quietSince = monotonicNow()
            }
            if agent.hasExited { return }  // the await reports how it ended
            if limit.expired || deadline.expired {
                throw .harness(.timedOut(process: agent.name + "' (its background \(step.action.keyword) neither answered nor slept", seconds: timeout))
            }
            usleep(200)
        }
    }

    /// The voluntary context switches of all the process's threads (each time one went to sleep), nil when
    /// /proc does not say.
    static func voluntarySwitches(_ pid: pid_t) -> UInt64? {
        let tasks = directoryNames("/proc/\(pid)/task") ?? []
        var total: UInt64 = 0
        var found = false
        for task in tasks {
            guard let status = Observer.readSmallFile("/proc/\(pid)/task/\(task)/status") else { continue }
            for line in status.split(separator: "\n") where line.hasPrefix("voluntary_ctxt_switches:") {
                if let value = UInt64(line.split(separator: "\t").last?.trimmingCharacters(in: .whitespaces) ?? "") {
                    total += value
                    found = true
                }
            }
        }
        return found ? total : nil
    }

    /// Takes the outcome of the process's background step and judges it like any step's, at this point.
    func awaitBackground(_ awaitStep: Step, agent: AgentProcess) throws(Stop) -> [Finding] {
        let process = agent.name
        guard let call = pending.removeValue(forKey: process) else {
            throw .scenario("\(awaitStep.location): '\(process)' has no background step to await")
        }
        let (step, operation, began) = (call.step, call.operation, call.began)
        let operationName = "\(process).\(step.action.keyword)"
        if call.endedWithProcess { return [] }
        let predicted: Outcome
        let message: WireMessage
        if let completed = call.completed {
            (predicted, message) = completed
        } else {
            try checkFilesKept(call, of: process)
            predicted = asCall(of: process) { call.whole(predict(operation, by: process)) }
            model.returnFiles(ofCallBy: process)
            if predicted.blocks {
                // The kernel may have let the call return where the model says it sleeps, its answer still on
                // its way when the last step was looked at (found in CI once the runner's /proc listings got
                // faster): wait until the agent is asleep in the call or has answered. An answer is the OUTCOME
                // finding returnedWhileAsleep makes; a call still asleep makes this await one that never ends.
                // (A poll or epoll_wait is never predicted to block: its timeout is bounded.)
                try awaitAsleepOrAnswered(agent, step: step)
                if !agent.hasExited, agent.connection.hasMessageWaiting {
                    return [try answerWhileAsleep(call, of: process, agent: agent).1]
                }
                throw .scenario("\(awaitStep.location): the background \(operationName) (line \(step.location.line)) would never "
                    + "finish: the model predicts it still blocks here")
            }
            if let limit = predicted.beyondModel { throw .harness(.beyondModel("\(step.location): \(operationName): \(limit)")) }
            switch try answer(to: call, from: agent, predicted: predicted) {
            case .blocked(let finding): return [finding]
            case .answered(let answer): message = answer
            }
            try harness { () throws(HarnessError) in try releaseDeferredChannels(of: process) }
        }
        let answer = try harness { () throws(HarnessError) in try decodeAnswer(message, from: process) }
        var observed = Outcome(answer: answer)
        observed.credentials = named(answer.credentials)
        if case .processes(.wait) = operation { observed.result = nil }
        bindNames(step.binds, in: process, outcome: observed, step: step.location, operation: operationName)
        var findings = try judge(step, predicted: predicted, observed: observed, operation: operationName)
        let observeBegan = monotonicNow()
        if findings.isEmpty, let finding = try completeBackgroundCalls() { return [finding] }
        findings += try observeAndCompare(after: awaitStep.location, operation: "\(process).await")
        records.append(StepRecord(line: awaitStep.location.line, operation: operationName, process: process,
                                  result: observed.errno == 0 ? observed.result : -1,
                                  error: observed.errno == 0 ? nil : Errno.name(of: observed.errno),
                                  syscallNanoseconds: answer.nanoseconds, roundTripNanoseconds: monotonicNow() - began,
                                  observationNanoseconds: monotonicNow() - observeBegan))
        return findings
    }
}
