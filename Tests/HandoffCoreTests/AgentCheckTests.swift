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

    @Test func aProgramThatNeverSaysHelloFailsEveryCheckThatNeedsOne() {
        let report = AgentCheck.run(agentPath: "/bin/true")
        let needingHello = report.results.filter { !["stranger parent"].contains($0.name) }
        #expect(needingHello.allSatisfy { $0.passed == false })
        #expect(needingHello.first?.detail.contains("before a hello") == true, "\(needingHello.first?.detail ?? "")")
        // Only the check that wants no hello (a stranger parent) passes; the summary says so.
        #expect(report.passed == 1 && report.skipped == 0)
        #expect(AgentCheck.text(report).contains("1 passed, \(report.failed) failed"))
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
