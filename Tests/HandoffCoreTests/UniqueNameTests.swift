import Foundation
import Testing
@testable import HandoffCore

/// `{@unique}` keeps abstract addresses of concurrent runs apart. Serialized: runs process trees.
@Suite(.serialized) struct UniqueNameTests {
    func listener(_ name: String) throws -> Scenario {
        try scenario("""
            summary: holds an abstract listener while a child connects to it
            steps:
              - main.listen: {address: {abstract: "\(name)"}, as: l}
              - main.fork: {as: c}
              - c.connect: {address: {abstract: "\(name)"}, as: s}
              - main.accept: {socket: l, as: a}
            """)
    }

    @Test func concurrentRunsOfOneScenarioDoNotCollide() throws {
        let options = ExecutionOptions(agentPath: agentPath)
        let unique = try listener("handoff-test-{@unique}")
        let both = Suite.run(Array(repeating: unique, count: 4), options: options, jobs: 4)
        #expect(both.allSatisfy { $0.status == .pass }, "\(both.map { "\($0.status) \($0.diff)" })")
    }
}
