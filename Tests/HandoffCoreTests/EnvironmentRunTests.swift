import Foundation
import Glibc
import Testing
@testable import HandoffCore

/// `handoff run --in ENV` end to end: userns always (root can always unshare); the runtimes where installed,
/// skipped with the reason elsewhere.
@Suite(.serialized, .leavesNoChildren) struct EnvironmentRunTests {
    let cli = CommandLineTests()

    /// `handoff-<pid>-in-*` folders whose runner is gone: a live runner's folder is in use (another test
    /// process on the machine running `--in` at the same moment made this test fail), a dead one's is left behind.
    func leftovers() -> Set<String> {
        let base = ScenarioDirectory.base(nil)
        return Set(((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).filter { name in
            let parts = name.split(separator: "-", maxSplits: 3)
            guard parts.count == 4, parts[0] == "handoff", parts[2] == "in" else { return false }
            guard let number = pid_t(parts[1]) else { return true }
            return kill(number, 0) != 0 && errno == ESRCH
        })
    }

    /// Runs a passing and a failing scenario in `environment` and checks the verdict, the console, the
    /// report (inside fingerprint, runIn) and that nothing is left behind.
    func runsInside(_ environment: String, options: [String] = [], expectNamespace: String? = nil) throws {
        let directory = try cli.temporaryDirectory(["good.yaml": CommandLineTests.passing, "bad.yaml": CommandLineTests.failing])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let before = leftovers()
        let result = try cli.handoff(["run", directory, "--in", environment, "--report", directory + "/out"] + options)
        #expect(result.status == 1, "the inner run's verdict: one failure\n\(result.output)\(result.error)")
        #expect(result.output.contains("PASS    good ("))
        #expect(result.output.contains("FAIL    bad ("))
        #expect(result.output.contains("1 passed, 1 failed, 0 skipped"))
        #expect(result.output.contains("handoff: ran in \(environment)"))
        let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/out/report.json"))
        let report = try JSONDecoder().decode(RunReport.self, from: data)
        #expect(report.environment.runIn?.name == environment)
        #expect(report.summary.passed == 1 && report.summary.failed == 1)
        if let expectNamespace {
            #expect(report.environment.fingerprint?.container.namespaces.contains(expectNamespace) == true,
                    "the fingerprint is the inside one")
        }
        #expect(FileManager.default.fileExists(atPath: directory + "/out/env.json"))
        #expect(FileManager.default.fileExists(atPath: directory + "/out/junit.xml"))
        #expect(leftovers().subtracting(before).isEmpty, "the bundle or work folders were removed")
    }

    @Test func runsInAUserNamespaceAndBringsTheReportBack() throws {
        try runsInside("userns", expectNamespace: "user")
    }

    @Test func dropsACapabilityOnTheHost() throws {
        let directory = try cli.temporaryDirectory(["good.yaml": CommandLineTests.passing])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try cli.handoff(["run", directory, "--in", "host", "--drop-cap", "sys_ptrace", "--nofile", "2048",
                                      "--report", directory + "/out"])
        #expect(result.status == 0, "\(result.output)\(result.error)")
        let report = try JSONDecoder().decode(RunReport.self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/out/report.json")))
        #expect(report.environment.runIn?.dropCapabilities == ["CAP_SYS_PTRACE"])
        #expect(report.environment.fingerprint?.capabilities.contains("CAP_SYS_PTRACE") == false)
        #expect(report.environment.fingerprint?.nofileSoft == 2048)
    }

    @Test func badEnvironmentOptionsAreUsageErrors() throws {
        let wrongPlace = try cli.handoff(["run", "--in", "bwrap", "--seccomp-deny", "kcmp"])
        #expect(wrongPlace.status == 2)
        #expect(wrongPlace.error.contains("--seccomp-deny applies to --in runc and --in crun"))
        let withoutIn = try cli.handoff(["run", "--nofile", "4096"])
        #expect(withoutIn.status == 2)
        #expect(withoutIn.error.contains("--seccomp-deny, --drop-cap and --nofile apply with --in ENV"))
        let unknown = try cli.handoff(["run", "--in", "docker"])
        #expect(unknown.status == 2 && unknown.error.contains("--in must be one of host, userns, bwrap, runc, crun, runsc"))
    }

    @Test(.enabled(if: EnvironmentRun.unavailability(of: .bwrap) == nil, "bwrap is not installed (apt-get install bubblewrap)"))
    func runsInBubblewrap() throws { try runsInside("bwrap") }

    @Test(.enabled(if: EnvironmentRun.unavailability(of: .runc) == nil, "runc is not installed (apt-get install runc)"))
    func runsInRunc() throws { try runsInside("runc", expectNamespace: "pid") }

    @Test(.enabled(if: EnvironmentRun.unavailability(of: .crun) == nil, "crun is not installed (apt-get install crun)"))
    func runsInCrun() throws { try runsInside("crun", expectNamespace: "pid") }

    @Test(.enabled(if: EnvironmentRun.unavailability(of: .runsc) == nil, "runsc is not installed (apt-get install runsc)"))
    func runsInGVisor() throws { try runsInside("runsc") }
}
