import Foundation
import Glibc
import Testing
@testable import HandoffCore

/// setsockopt, getsockopt and credentials on the real kernel: a wrong stated expectation fails with a
/// finding that shows both values.
@Suite(.serialized, .leavesNoChildren) struct SocketOptionScenarioTests {
    @Test func aWrongGetsockoptResultFails() throws {
        let result = run(try scenario("""
            summary: SO_PASSCRED was set, the scenario claims it is off
            steps:
              - main.socketpair: {type: dgram, as: [a, b]}
              - main.setsockopt: {socket: a, option: passcred}
              - main.getsockopt: {socket: a, option: passcred, result: 0}
            """))
        #expect(result.status == .fail)
        #expect(result.findings.map(\.kind) == [.check])
        #expect(result.findings.first?.expected == "result 0")
        #expect(result.findings.first?.observed == "1")
    }

    @Test func wrongCredentialsFail() throws {
        let result = run(try scenario("""
            summary: the pair was made by main, the scenario claims the child
            steps:
              - main.socketpair: {as: [a, b]}
              - main.fork: {as: child}
              - child.getsockopt: {socket: a, option: peercred, credentials: {pid: child}}
              - main.setsockopt: {socket: a, option: passcred}
              - child.send: {socket: b, data: "x"}
              - main.recv: {socket: a, room: 8, expect: "x", credentials: {pid: main}}
            """))
        #expect(result.status == .fail)
        #expect(result.findings.count == 2)
        #expect(result.findings.allSatisfy { $0.kind == .check })
        #expect(result.findings.first?.expected == "credentials pid child")
        #expect(result.findings.first?.observed.hasPrefix("credentials pid main ") == true)
        #expect(result.findings.last?.expected == "credentials pid main")
        #expect(result.findings.last?.observed.hasPrefix("credentials pid child ") == true)
    }

    @Test func anUnexpectedRefusalFails() throws {
        let result = run(try scenario("""
            summary: SO_PASSRIGHTS is off on the receiver, the scenario expects the send to pass
            requires: {features: [so-passrights]}
            steps:
              - main.socketpair: {as: [a, b]}
              - main.setsockopt: {socket: a, option: passrights, enable: false}
              - main.send: {socket: b, fds: [a], data: "x"}
            """))
        #expect(result.status == .fail || result.status == .skip)
        if result.status == .fail { #expect(result.findings.first?.observed == "-1 EPERM") }
    }

    @Test func aValueKeyThatDoesNotFitTheOptionIsAScenarioError() throws {
        #expect(throws: (any Error).self) {
            _ = try scenario("""
                summary: enable is for switches
                steps:
                  - main.socketpair: {as: [a, b]}
                  - main.setsockopt: {socket: a, option: peek_off, enable: true}
                """)
        }
        #expect(throws: (any Error).self) {
            _ = try scenario("""
                summary: only peerpidfd binds
                steps:
                  - main.socketpair: {as: [a, b]}
                  - main.getsockopt: {socket: a, option: type, as: t}
                """)
        }
    }
}
