import Foundation
import Testing
@testable import HandoffCore

/// `handoff agent-check`: the Swift agent keeps the whole contract, and agents that do not are told where.
@Suite(.serialized, .leavesNoChildren) struct AgentCheckTests {
    @Test func theSwiftAgentPassesEveryCheck() {
        let report = AgentCheck.run(agentPath: agentPath)
        #expect(report.failed == 0, "\(report.results.filter { $0.passed == false }.map { "\($0.name): \($0.detail)" })")
        #expect(report.passed >= 20)
        #expect(report.implementation == "swift")
    }

    /// An agent that never says hello fails the first check, and the others are not run (each would wait for
    /// a hello again: 30 checks of 5 s against an agent that hangs), said as skips with the reason.
    @Test func aProgramThatNeverSaysHelloFailsOnceAndTheRestAreNotRun() {
        let report = AgentCheck.run(agentPath: "/bin/true")
        #expect(report.results.first?.passed == false)
        #expect(report.results.first?.detail.contains("before a hello") == true, "\(report.results.first?.detail ?? "")")
        let rest = report.results.dropFirst()
        #expect(!rest.isEmpty && rest.allSatisfy { $0.passed == nil && $0.detail.hasPrefix("not run: the agent gave no hello") })
        #expect(report.passed == 0 && report.failed == 1 && report.skipped == rest.count)
        #expect(AgentCheck.text(report).contains("0 passed, 1 failed, \(rest.count) skipped"))
    }

    @Test func aWrongHelloIsNamed() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("handoff-fake-agent-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Protocol version 1, a pid that is not its own, the channel claimed at 3, and then silence.
        let script = directory + "/handoff-agent-fake"
        try """
            #!/bin/sh
            printf 'hello version=1 pid=1 ppid=0 ctl=3 nofile=1 argv= env= impl=66616b65 unsupported=' >&3
            exec sleep 5

            """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let report = AgentCheck.run(agentPath: script, filter: "hello")
        let hello = try #require(report.results.first)
        #expect(hello.passed == false)
        #expect(hello.detail.contains("version=1"), "\(hello.detail)")
    }
}
