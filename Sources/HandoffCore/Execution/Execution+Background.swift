// Background steps: sent without waiting, judged at their `await` like any step.

import HandoffProtocol

extension ScenarioExecution {
    /// Takes the outcome of the process's background step and judges it like any step's, at this point.
    func awaitBackground(_ awaitStep: Step, agent: AgentProcess) throws(Stop) -> [Finding] {
        let process = agent.name
        guard let (step, operation, began) = pending.removeValue(forKey: process) else {
            throw .scenario("\(awaitStep.location): '\(process)' has no background step to await")
        }
        let operationName = "\(process).\(step.action.keyword)"
        let predicted = predict(operation, by: process)
        if predicted.blocks {
            throw .scenario("\(awaitStep.location): the background \(operationName) (line \(step.location.line)) would never "
                + "finish: the model predicts it still blocks here")
        }
        if let limit = predicted.beyondModel { throw .harness(.beyondModel("\(step.location): \(operationName): \(limit)")) }
        let answer = try harness { () throws(HarnessError) in
            try decodeAnswer(try agent.connection.receive(until: deadline, timeoutSeconds: timeout).0, from: process)
        }
        var observed = Outcome(answer: answer)
        observed.credentials = named(answer.credentials)
        if case .processes(.wait) = operation { observed.result = nil }
        bindNames(step.binds, in: process, outcome: observed, step: step.location, operation: operationName)
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
}
