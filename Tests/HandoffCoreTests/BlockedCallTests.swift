import Foundation
import Glibc
import Testing
@testable import HandoffCore

/// A call that blocks where the model says it returns is a finding on its line, not a timeout; a call asleep
/// elsewhere stays a timeout. Serialized: spawns agents.
@Suite(.serialized, .leavesNoChildren) struct BlockedCallTests {
    @Test func aReadThatBlocksWhereTheModelReturnsIsAnOutcomeFinding() throws {
        // The child drains the pipe behind the model's back, so main's read blocks for real.
        let result = run(try scenario("""
            summary: blocked
            steps:
              - main.pipe: {as: [r, w]}
              - main.fork: {as: child}
              - main.write: {fd: w, data: "ab"}
              - main.read: {fd: r, count: 2}
            """), timeout: 2, injections: [Injection(afterStep: 3, process: "child", fault: .operation(.read(fd: 3, count: 2)))])
        #expect(result.status == .fail)
        let finding = try #require(result.findings.first)
        #expect(finding.kind == .outcome)
        #expect(finding.step.line == 6)
        #expect(finding.operation == "main.read")
        #expect(finding.expected == "2 data \"ab\" at once")
        #expect(finding.observed.hasPrefix("blocked for "), "\(finding.observed)")
        #expect(finding.observed.contains("read(3, ...)"), "\(finding.observed)")
        #expect(agentProcesses().isEmpty)
    }

    @Test func aCallAsleepOnAnotherDescriptorIsNotTheSteps() {
        let text = "0 0x3 0x7ffd1000 0x2 0x0 0x0 0x0 0x7ffd0ff8 0x7f00deadbeef\n"
        let call = BlockedCall.parse(text)
        #expect(call?.number == 0)
        #expect(call?.firstArgument == 3)
        #expect(BlockedCall.parse("running\n") == nil)
        #expect(BlockedCall.parse("-1 0x7ffd0ff8 0x7f00deadbeef\n") == nil)
        // Our own process is asleep in no call on a descriptor 999 names.
        #expect(BlockedCall.find(in: getpid(), where: { $0.firstArgument == 999 }) == nil)
    }
}
