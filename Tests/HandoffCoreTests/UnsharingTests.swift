@testable import HandoffCore
import HandoffProtocol
import Testing

/// An unshare that did not take effect shows as a former sharer losing its control channel when the
/// unsharing agent closes its copies of the others' channels: a finding at the unshare step (the
/// implementation's doing), not the runner's ERROR. Anything else stays the ERROR it was. Measured against a
/// real broken implementation with agents/c/broken/table.c (unshare-files-ignored,
/// close-range-unshare-ignored: IMPLEMENTATIONS.md).
struct UnsharingTests {
    static let yaml = """
        summary: x
        steps:
          - main.clone_files: {as: twin}
          - twin.unshare_files: {}
          - twin.close_range: {first: 3, flags: [unshare]}
          - twin.close_range: {first: 3, flags: [cloexec]}
          - main.exit: {status: 0}
        """

    @Test func whatUnsharesAndWhoSharedBefore() throws {
        let scenario = try ScenarioParser.parse(yaml: Self.yaml, file: "u.yaml", name: "u")
        let execution = ScenarioExecution(scenario: scenario, options: ExecutionOptions(agentPath: "/nonexistent"))
        #expect(execution.unsharing(scenario.steps[1]) == nil, "nobody shares twin's table yet")
        execution.tracker.fork("twin", of: "main", sharingTable: true)
        #expect(execution.unsharing(scenario.steps[1])?.formerSharers == ["main"])
        #expect(execution.unsharing(scenario.steps[2])?.process == "twin", "close_range with CLOSE_RANGE_UNSHARE")
        #expect(execution.unsharing(scenario.steps[3]) == nil, "close_range without it")
        #expect(execution.unsharing(scenario.steps[4]) == nil)
    }

    @Test func aFormerSharerEndingAtItsChannelIsAFinding() throws {
        let scenario = try ScenarioParser.parse(yaml: Self.yaml, file: "u.yaml", name: "u")
        let execution = ScenarioExecution(scenario: scenario, options: ExecutionOptions(agentPath: "/nonexistent"))
        let step = scenario.steps[1]
        #expect(execution.tableStillShared(.agentGone(process: "main", reason: "exited with status 0")) == nil, "no unshare yet")
        execution.latestUnsharing = Unsharing(step: step, process: "twin", formerSharers: ["main"])
        let finding = try #require(execution.tableStillShared(.agentGone(process: "main", reason: "exited with status 0")))
        #expect(finding.kind == .outcome && finding.step == step.location && finding.operation == "twin.unshare_files")
        #expect(finding.observed.contains("the table was still shared after the call"))
        // Killed, ended otherwise, or not a former sharer: the runner's ERROR as before.
        #expect(execution.tableStillShared(.agentGone(process: "main", reason: "killed by signal 9")) == nil)
        #expect(execution.tableStillShared(.agentGone(process: "main", reason: "exited with status 1")) == nil)
        #expect(execution.tableStillShared(.agentGone(process: "other", reason: "exited with status 0")) == nil)
        #expect(execution.tableStillShared(.timedOut(process: "main", seconds: 10)) == nil)
    }
}
