// An unshare that did not take effect, seen by what it does to the agents' channels.

import HandoffProtocol

/// The latest step that asked for a private descriptor table (unshare_files, or close_range with
/// CLOSE_RANGE_UNSHARE), with the processes that shared the acting one's table before it.
struct Unsharing {
    var step: Step
    var process: String
    var formerSharers: Set<String>
}

extension ScenarioExecution {
    /// What a step that unshares the acting process's table records before it runs; nil for any other step.
    func unsharing(_ step: Step) -> Unsharing? {
        guard let process = step.process, let operation = step.operation else { return nil }
        switch operation {
        case .table(.unshareFiles): break
        case .table(.closeRange(_, _, let flags)) where CloseRangeFlags.unshares(flags): break
        default: return nil
        }
        let sharers = Set(sharingTable(with: process)).subtracting([process])
        return sharers.isEmpty ? nil : Unsharing(step: step, process: process, formerSharers: sharers)
    }

    /// A finding for an agent that lost its control channel after a process sharing its table unshared it.
    ///
    /// Once unshare succeeds, the agent that called it closes its copies of the other agents' channels: in
    /// the private copy the kernel made they are only copies, and the other agents keep theirs. An agent ends
    /// with status 0 only at the end of its channel, and nothing else closes another agent's channel. So a
    /// former sharer that ended so had its channel closed under it: the table was still shared, whatever the
    /// call returned. That is the implementation's doing (an unshare that did nothing, or an agent that closed
    /// before it unshared), never the kernel's table being read wrong: a finding, not the runner's ERROR.
    func tableStillShared(_ error: HarnessError) -> Finding? {
        guard let unsharing = latestUnsharing, case .agentGone(let gone, let reason) = error,
            unsharing.formerSharers.contains(gone), reason == describeWaitStatus(0)  // the end endReason reports
        else { return nil }
        let keyword = unsharing.step.operation?.kind.keyword ?? "unshare"
        return Finding(kind: .outcome, step: unsharing.step.location, operation: "\(unsharing.process).\(keyword)",
                       process: unsharing.process,
                       expected: "a private copy of the table: closing the other agents' channels in it leaves '\(gone)' its own",
                       observed: "'\(gone)' lost its control channel when '\(unsharing.process)' closed its copy (\(gone) \(reason)): "
                           + "the table was still shared after the call")
    }
}
