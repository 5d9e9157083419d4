import Foundation
import Glibc
import Testing
@testable import HandoffCore

/// Where scenario directories go, and what crashed runs leave there.
@Suite(.serialized, .leavesNoChildren) struct WorkDirectoryTests {
    @Test func theBaseIsTheOptionThenTMPDIRThenTmp() {
        let saved = getenv("TMPDIR").map { String(cString: $0) }
        defer { if let saved { setenv("TMPDIR", saved, 1) } else { unsetenv("TMPDIR") } }
        setenv("TMPDIR", "/var/tmp/", 1)
        #expect(ScenarioDirectory.base("/srv/x") == "/srv/x")
        #expect(ScenarioDirectory.base(nil) == "/var/tmp")
        unsetenv("TMPDIR")
        #expect(ScenarioDirectory.base(nil) == "/tmp")
        setenv("TMPDIR", "", 1)
        #expect(ScenarioDirectory.base(nil) == "/tmp")
    }

    @Test func scenariosRunInTheGivenDirectoryAndLeaveNothingThere() throws {
        let base = NSTemporaryDirectory() + "handoff-base-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let options = ExecutionOptions(agentPath: agentPath, workDirectory: base)
        let result = Suite.run([try scenario("""
            summary: where
            steps:
              - main.open: {path: data, flags: [wronly, creat], as: f}
              - check: {open: {main: [0, 1, 2]}}
            """)], options: options)[0]
        #expect(result.status == .fail)
        #expect(try FileManager.default.contentsOfDirectory(atPath: base).isEmpty)
        let missing = Suite.run([try scenario("summary: s\nsteps:\n  - main.pipe: {as: [r, w]}\n")],
                                options: ExecutionOptions(agentPath: agentPath, workDirectory: base + "/absent"))[0]
        #expect(missing.status == .error)
        #expect(missing.reason?.contains("mkdtemp in \(base)/absent") == true, "\(missing.reason ?? "")")
    }

    /// A pid that no process has.
    func deadPid() -> pid_t {
        var pid: pid_t = 4_000_000
        while kill(pid, 0) == 0 || errno != ESRCH { pid -= 1 }
        return pid
    }

    @Test func whatADeadRunnerLeftIsSweptAndALiveOnesIsKept() throws {
        let base = NSTemporaryDirectory() + "handoff-stale-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let dead = base + "/handoff-\(deadPid())-abcdef"
        let live = base + "/handoff-\(getppid())-abcdef"
        let mine = base + "/handoff-\(getpid())-abcdef"
        let other = base + "/handoff-XYZ123"
        for path in [dead, live, mine, other] {
            try FileManager.default.createDirectory(atPath: path + "/work", withIntermediateDirectories: true)
        }
        StaleRuns.sweep(base: base)
        #expect(!FileManager.default.fileExists(atPath: dead))
        for path in [live, mine, other] { #expect(FileManager.default.fileExists(atPath: path)) }
    }
}
