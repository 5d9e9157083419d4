import Foundation
import Testing
@testable import HandoffCore

/// `{@unique}` keeps abstract addresses of concurrent runs apart. Serialized: runs process trees.
@Suite(.serialized, .leavesNoChildren) struct UniqueNameTests {
    /// Listens on `name`, then holds it for a while (a loop of 50,000 refused closes: a few hundred
    /// milliseconds). Two such runs started side by side hold their listeners at the same time.
    func holder(_ name: String) throws -> Scenario {
        try scenario("""
            summary: holds an abstract listener for a while
            steps:
              - main.listen: {address: {abstract: "\(name)"}, as: l}
              - repeat:
                  count: 50000
                  steps:
                    - main.close: {fd: 900, error: EBADF}
            """)
    }

    @Test func concurrentRunsOfOneScenarioDoNotCollide() throws {
        let options = ExecutionOptions(agentPath: agentPath)
        let unique = Suite.run(Array(repeating: try holder("handoff-test-{@unique}"), count: 2), options: options, jobs: 2)
        #expect(unique.allSatisfy { $0.status == .pass }, "\(unique.map { "\($0.status) \($0.diff)" })")
        // The control: the same with a fixed name collides (one listen is refused with EADDRINUSE), which is
        // what shows that the runs above did overlap - and the refusal is the machine's (the other run holds
        // the name), an ERROR naming the holder, not a finding against the kernel.
        let fixed = Suite.run(Array(repeating: try holder("handoff-test-fixed-\(getpid())"), count: 2), options: options, jobs: 2)
        let refused = fixed.filter { $0.status == .error && $0.reason?.contains("is held by pid") == true }
        #expect(refused.count == 1 && fixed.allSatisfy { $0.findings.isEmpty }, "\(fixed.map { "\($0.status) \($0.diff)" })")
    }
}
