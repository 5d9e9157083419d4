// Background steps: sent without waiting, applied by the model when the kernel completes them, judged at
// their `await` like any step.

import HandoffProtocol

/// A step running in the background, and once the model says it has completed, its predicted outcome and the
/// agent's answer.
struct BackgroundCall {
    var step: Step
    var operation: Operation
    var began: UInt64
    var completed: (predicted: Outcome, answer: WireMessage)? = nil
}

extension ScenarioExecution {
    /// Background calls that can complete now. The kernel completes a blocked call as soon as a step lets it
    /// (pipe_read, unix_stream_read_generic and eventfd_read return with what the first write brought;
    /// unix_accept takes the queue's head when woken), not at its `await`: so the model applies it here,
    /// and the runner takes the agent's answer before the next step - which then meets the state the
    /// kernel's completed call left (the data it took, the connection it accepted). Found by porting
    /// upstream tests: a read awaited after two writes was predicted to return both.
    /// A call the model says completes that does not is a finding on the background step's line, once the
    /// time limit shows the agent still asleep in it.
    func completeBackgroundCalls() throws(Stop) -> Finding? {
        for (process, call) in pending.sorted(by: { $0.value.began < $1.value.began }) where call.completed == nil {
            guard let agent = tree[process] else { continue }
            let saved = model
            let predicted = predict(call.operation, by: process)
            if predicted.blocks || predicted.beyondModel != nil {
                model = saved  // judged at the await, as before
                continue
            }
            let answer: WireMessage
            do {
                answer = try harness { () throws(HarnessError) in
                    try agent.connection.receive(until: deadline, timeoutSeconds: timeout).0
                }
            } catch {
                if let finding = blockedWhereModelReturns(error, step: call.step, operation: call.operation, agent: agent,
                                                          predicted: predicted, since: call.began) {
                    return finding
                }
                throw error
            }
            pending[process]?.completed = (predicted, answer)
        }
        return nil
    }

    /// Takes the outcome of the process's background step and judges it like any step's, at this point.
    func awaitBackground(_ awaitStep: Step, agent: AgentProcess) throws(Stop) -> [Finding] {
        let process = agent.name
        guard let call = pending.removeValue(forKey: process) else {
            throw .scenario("\(awaitStep.location): '\(process)' has no background step to await")
        }
        let (step, operation, began) = (call.step, call.operation, call.began)
        let operationName = "\(process).\(step.action.keyword)"
        let predicted: Outcome
        let message: WireMessage
        if let completed = call.completed {
            (predicted, message) = completed
        } else {
            predicted = predict(operation, by: process)
            if predicted.blocks {
                throw .scenario("\(awaitStep.location): the background \(operationName) (line \(step.location.line)) would never "
                    + "finish: the model predicts it still blocks here")
            }
            if let limit = predicted.beyondModel { throw .harness(.beyondModel("\(step.location): \(operationName): \(limit)")) }
            do {
                message = try harness { () throws(HarnessError) in
                    try agent.connection.receive(until: deadline, timeoutSeconds: timeout).0
                }
            } catch {
                if let finding = blockedWhereModelReturns(error, step: step, operation: operation, agent: agent,
                                                          predicted: predicted, since: began) {
                    return [finding]
                }
                throw error
            }
        }
        let answer = try harness { () throws(HarnessError) in try decodeAnswer(message, from: process) }
        var observed = Outcome(answer: answer)
        observed.credentials = named(answer.credentials)
        if case .processes(.wait) = operation { observed.result = nil }
        bindNames(step.binds, in: process, outcome: observed, step: step.location, operation: operationName)
        var findings = judge(step, predicted: predicted, observed: observed, operation: operationName)
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
