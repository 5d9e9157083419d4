// Loops run by the agents (`repeat`): the model runs the iterations first, in the order written; every
// process gets its own steps as one program and runs them concurrently with the others; then the usual
// observation and oracle.

import HandoffProtocol

extension ScenarioExecution {
    /// A repeat: every process involved gets its own steps as one program and runs them `count` times, all
    /// concurrently, answering once. Meanwhile the model runs the same iterations in the order written. Then
    /// the usual observation and oracle.
    func runRepeat(_ step: Step, count: Int, steps inner: [Step]) throws(Stop) -> [Finding] {
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
        if order.count > 1 { try requireDeterminedInterleaving(inner, processes: order, iterations: count) }
        // The model first: the same iterations in the order written (a loop it says would block is never sent).
        var modelFailuresOf: [String: Int] = [:]
        var firstModelFailure = ""
        var simulated = 0
        for iteration in 0..<count {
            for (index, innerStep) in inner.enumerated() {
                // The runner's own work counts against the scenario's timeout, and Ctrl-C stops it too: checked
                // every 64 simulated steps (a loop body may hold 100,000 steps, and one step may copy megabytes).
                simulated += 1
                if simulated & 63 == 0 {
                    if tree.wasInterrupted { throw .harness(.interrupted) }
                    if deadline.expired { throw .harness(.timedOut(process: "the model (simulating the loop)", seconds: timeout)) }
                }
                guard let process = innerStep.process, let scenarioOperation = innerStep.operation else { continue }
                let operation = try resolve(scenarioOperation, in: process, at: innerStep.location)
                let predicted = predict(operation, by: process)
                if predicted.blocks {
                    throw .scenario("\(innerStep.location): in iteration \(iteration + 1) the model predicts that "
                        + "\(process).\(innerStep.action.keyword) blocks when the loop's steps run in the order written; "
                        + "order them so that each can complete")
                }
                if let limit = predicted.beyondModel ?? harnessShapedAnswer(predicted, of: operation, process: process) {
                    throw .harness(.beyondModel("\(innerStep.location): in iteration \(iteration + 1), "
                        + "\(process).\(innerStep.action.keyword): \(limit)"))
                }
                let expected = innerStep.expect.error.flatMap { Errno.value(named: $0) } ?? 0
                if predicted.errno != expected {
                    modelFailuresOf[process, default: 0] += 1
                    if firstModelFailure.isEmpty {
                        firstModelFailure = "iteration \(iteration + 1), step \(index + 1): \(predicted.summary)"
                    }
                }
                bindNames(innerStep.binds, in: process, outcome: predicted, step: innerStep.location,
                          operation: "\(process).\(innerStep.action.keyword)")
            }
        }
        // A background call the loop would let complete (or progress) does so at an iteration the model cannot
        // tell (the agents run the loop by themselves): refused.
        for (waiting, call) in pending where call.completed == nil {
            let outcome = trialPredict(call.operation, by: waiting)
            if !outcome.blocks || outcome.doneBeforeBlocking != nil || outcome.changedBeforeBlocking {
                throw .scenario("\(step.location): this loop would let the background \(waiting).\(call.step.action.keyword) "
                    + "(line \(call.step.location.line)) complete, at an iteration the runner cannot tell; await it before "
                    + "the loop, or make the loop not touch what it waits on")
            }
        }
        let began = monotonicNow()
        for process in order {
            guard let agent = tree[process] else { throw .scenario("\(step.location): '\(process)' has no agent") }
            let request = AgentRequest.loop(count: count, steps: programs[process] ?? [], hidden: hiddenChannels(for: process))
            let message = request.encoded()
            // A loop travels in one packet: a body whose data comes to more ended the agent's channel
            // (EMSGSIZE) and looked like the agent dying. Said as the limit it is, with the loop's line.
            let size = message.encoded().count
            let largest = agent.connection.largestRequest
            if size > largest {
                throw .scenario("\(step.location): the steps of this repeat for '\(process)' make a \(size)-byte request; "
                    + "one loop is sent in one packet, here of at most \(largest) bytes (the data of its steps travels in it "
                    + "hex-encoded, more than twice its size): repeat fewer or smaller writes")
            }
            try harness { () throws(HarnessError) in try agent.connection.send(message) }
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
                tracker.bind(name, to: locals[slot], in: process)
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
}

extension ScenarioExecution {
    /// The agents run a loop's processes concurrently, and the model in the order written: that is sound when
    /// the order does not change what a step returns (a blocking recv waits for its send), not when it does (a
    /// non-blocking recv that runs ahead of the send fails with EAGAIN). One iteration is tried on copies of
    /// the model, each process's steps ahead of the others': an outcome that differs from the written order's,
    /// without either blocking, is a scenario error - a FAIL from it would blame the kernel for the harness's
    /// scheduling (found by a hostile round).
    /// Two iterations are tried (a difference may show only in the second: a pipe prefilled by one byte), and
    /// data is compared besides errno and result (two writers of one pipe: "abab" or "aabb").
    func requireDeterminedInterleaving(_ inner: [Step], processes: [String], iterations count: Int) throws(Stop) {
        try requireOneWriterPerObject(inner)
        let (savedModel, savedTracker, savedUnbound) = (model, tracker, unboundNames)
        defer { (model, tracker, unboundNames) = (savedModel, savedTracker, savedUnbound) }
        func simulate(_ steps: [(Int, Step)]) throws(Stop) -> [Int: Outcome] {
            (model, tracker, unboundNames) = (savedModel, savedTracker, savedUnbound)
            var outcomes: [Int: Outcome] = [:]
            for (index, innerStep) in steps {
                guard let process = innerStep.process, let scenarioOperation = innerStep.operation else { continue }
                let predicted = predict(try resolve(scenarioOperation, in: process, at: innerStep.location), by: process)
                // A step that waits in this order waits for real too (then the others' steps let it go on): only
                // the outcomes of steps that complete are compared; the rest of this order says nothing more.
                if predicted.blocks || predicted.beyondModel != nil { break }
                outcomes[index] = predicted
                bindNames(innerStep.binds, in: process, outcome: predicted, step: innerStep.location,
                          operation: "\(process).\(innerStep.action.keyword)")
            }
            return outcomes
        }
        // Step k of iteration i is index i * inner.count + k.
        let rounds = min(max(count, 1), 2)
        let written = (0..<rounds).flatMap { round in inner.enumerated().map { (round * inner.count + $0.offset, $0.element) } }
        let inOrder = try simulate(written)
        for first in processes {
            let ahead = written.filter { $0.1.process == first } + written.filter { $0.1.process != first }
            for (index, outcome) in try simulate(ahead).sorted(by: { $0.key < $1.key }) {
                guard let expected = inOrder[index],
                    expected.errno != outcome.errno || expected.result != outcome.result || expected.data != outcome.data
                else { continue }
                let step = inner[index % inner.count]
                let name = "\(step.process ?? "").\(step.action.keyword)"
                throw .scenario("\(step.location): \(name) returns \(outcome.summary(dataAround: nil)) when '\(first)' runs "
                    + "its steps of the loop ahead of the others, but \(expected.summary(dataAround: nil)) in the order "
                    + "written; the agents run a loop's processes concurrently, so its outcome is not determined: make "
                    + "the call blocking, or keep the processes' dependent steps out of the loop")
            }
        }
    }

    /// What no outcome inside the loop shows but its end does: two processes writing different bytes to one
    /// object (the reader after the loop gets "abab" or "aabb"), or two sharers of one table changing it (the
    /// last dup2 onto a number wins). Refused as scenario errors, like an outcome that depends on the order.
    func requireOneWriterPerObject(_ inner: [Step]) throws(Stop) {
        var writers: [(process: String, target: DescriptionTarget, data: [UInt8], step: Step)] = []
        var tableChangers: [String: Step] = [:]
        for step in inner {
            guard let process = step.process, let scenarioOperation = step.operation else { continue }
            // A step naming a descriptor the loop itself creates cannot be resolved before the loop: its object
            // is then the loop's own, made anew in each iteration.
            var changesTable = step.binds.contains { $0 != nil }
            guard let operation = try? resolve(scenarioOperation, in: process, at: step.location) else {
                if changesTable { try noteTableChange(process, step) }
                continue
            }
            var written: [UInt8]?
            switch operation {
            case .files(.write(_, let data)), .messages(.send(_, _, let data, _)), .sockets(.sendto(_, _, _, let data)):
                written = data
            default: break
            }
            // Queues only (a pipe, a socket): their reader gets the bytes in the order they came. Writers of one
            // file through a shared offset or O_APPEND (CRIU's file_append) end at the same offsets and size in any
            // order; only the file's bytes differ, which the model keeps in the order written.
            if let data = written, let fd = operation.descriptors.first?.0, let target = model.fdget(process, fd)?.description.target,
                target.isQueue
            {
                if let other = writers.first(where: { $0.process != process && $0.target == target && $0.data != data }) {
                    throw .scenario("\(step.location): \(process).\(step.action.keyword) and \(other.process)."
                        + "\(other.step.action.keyword) (line \(other.step.location.line)) write different bytes to one object "
                        + "in a loop whose processes run concurrently: the order of those bytes is not determined; write "
                        + "from one process, or the same bytes")
                }
                writers.append((process, target, data, step))
            }
            switch operation {
            case .table(.close), .table(.closeRange), .table(.dup2), .table(.dup3): changesTable = true
            default: break
            }
            if changesTable { try noteTableChange(process, step) }
        }
        func noteTableChange(_ process: String, _ step: Step) throws(Stop) {
            for sharer in sharingTable(with: process) where sharer != process {
                if let other = tableChangers[sharer] {
                    throw .scenario("\(step.location): \(process).\(step.action.keyword) and \(sharer).\(other.action.keyword) "
                        + "(line \(other.location.line)) change one shared descriptor table in a loop whose processes run "
                        + "concurrently: which numbers end up where is not determined; change it from one of them")
                }
            }
            tableChangers[process] = step
        }
    }
}
