import Foundation
import Testing
@testable import HandoffCore

@Suite struct MatrixPlanTests {
    @Test func aPlanBecomesTheRunOptionsOfEachEnvironment() throws {
        let plan = try MatrixPlan.parse(yaml: """
            scenarios: [scenarios/dup]
            tags: [pidfd]
            jobs: 2
            timeout: 5
            environments:
              - name: host
              - name: runc-seccomp
                in: runc
                seccomp-deny: [kcmp, pidfd_getfd]
                drop-cap: sys_ptrace
                nofile: 4096
              - name: debian-6.1
                kernel: "6.1"
                optional: true
              - name: c
                agent: c
                agent-env: [LD_PRELOAD=/x.so]
            """, file: "m.yaml")
        #expect(plan.scenarios == ["scenarios/dup"], "relative to the plan's folder, here the working directory")
        #expect(plan.environments.map(\.name) == ["host", "runc-seccomp", "debian-6.1", "c"])
        #expect(plan.environments[0].runArguments.isEmpty)
        #expect(plan.environments[1].runArguments == ["--in", "runc", "--seccomp-deny", "kcmp,pidfd_getfd",
                                                      "--drop-cap", "CAP_SYS_PTRACE", "--nofile", "4096"])
        #expect(plan.environments[2].runArguments == ["--kernel", "6.1"] && plan.environments[2].optional)
        #expect(plan.environments[3].runArguments == ["--agent", "c", "--agent-env=LD_PRELOAD=/x.so"])
        let run = MatrixRun(plan: plan, runner: "/bin/handoff", reportDirectory: "out")
        #expect(run.command(for: plan.environments[0]) == ["/bin/handoff", "run", "scenarios/dup", "--tag=pidfd",
                                                          "--jobs", "2", "--timeout", "5.0", "--report", "out/host"])
    }

    static let refused: [(yaml: String, message: String)] = [
        ("", "1:1: error: empty matrix file"),
        ("environment: []\n", "1:1: error: unknown key 'environment' in the matrix file"),
        ("scenarios: [x]\n", "error: missing required key 'environments'"),
        ("environments: []\n", "1:15: error: environments: expected at least one environment"),
        ("environments:\n  - name: a\n  - name: a\n", "3:11: error: environment name 'a' is used twice (first at line 2)"),
        ("environments:\n  - in: userns\n", "2:5: error: an environment needs a 'name'"),
        ("environments:\n  - name: ../up\n", "2:11: error: name: expected 1 to 64 letters"),
        // Both pass the character rule, and wrote the environment's reports beside the matrix's or above them.
        ("environments:\n  - name: ..\n", "2:11: error: name: expected 1 to 64 letters, digits, '.', '_', '-' or '+', other than '.' and '..'"),
        ("environments:\n  - name: .\n", "2:11: error: name: expected"),
        ("environments:\n  - name: a\n    in: docker\n", "3:9: error: in must be one of host, userns"),
        ("environments:\n  - name: a\n    in: userns\n    seccomp-deny: [kcmp]\n", "3:9: error: seccomp-deny applies to in runc"),
        ("environments:\n  - name: a\n    nofile: 100\n", "2:5: error: seccomp-deny, drop-cap and nofile apply to an environment with 'in'"),
        ("environments:\n  - name: a\n    in: runc\n    kernel: '6.1'\n", "3:9: error: 'in' and 'kernel' cannot be combined"),
        ("environments:\n  - name: a\n    agent-env: [X]\n", "3:16: error: agent-env: expected NAME=VALUE, not 'X'"),
        ("environments:\n  - name: a\n    colour: red\n", "3:5: error: unknown key 'colour' in an environment"),
        ("jobs: 0\nenvironments:\n  - name: a\n", "1:7: error:"),
        ("timeout: .inf\nenvironments:\n  - name: a\n", "1:10: error: expected a number of seconds"),
        ("environments: [", "error: malformed YAML"),
    ]

    @Test(arguments: refused.indices)
    func aBadPlanIsRefusedWithItsLocation(index: Int) {
        let (yaml, message) = Self.refused[index]
        do {
            let plan = try MatrixPlan.parse(yaml: yaml, file: "m.yaml")
            Issue.record("accepted: \(plan)")
        } catch {
            #expect(error.description.hasPrefix("m.yaml:"), "\(error.description)")
            #expect(error.description.contains(message), "\(error.description)")
        }
    }

    @Test func tooManyEnvironmentsAreRefused() {
        let yaml = "environments:\n" + (0...MatrixPlan.maximumEnvironments).map { "  - name: e\($0)\n" }.joined()
        #expect(throws: ScenarioError.self) { try MatrixPlan.parse(yaml: yaml, file: "m.yaml") }
    }
}

@Suite struct FingerprintDifferenceTests {
    @Test func theDifferencesAreTheFieldsThatChanged() {
        let host = Fingerprint.current()
        var container = host
        container.seccomp = host.seccomp == 2 ? 0 : 2
        container.capabilities = host.capabilities.filter { $0 != "CAP_SYS_PTRACE" } + ["CAP_MADE_UP"]
        container.nofileSoft = 1024
        container.nofileHard = 1024
        container.features["kcmp"] = "EPERM"
        container.features["new probe"] = "ok"
        let fields = container.differences(from: host).map(\.field)
        #expect(fields == ["seccomp", "capabilities", "nofile", "feature kcmp", "feature new probe"]
            || (host.nofileSoft == 1024 && host.nofileHard == 1024
                && fields == ["seccomp", "capabilities", "feature kcmp", "feature new probe"]), "\(fields)")
        let capabilities = container.differences(from: host).first { $0.field == "capabilities" }
        #expect(capabilities?.observed.contains("+CAP_MADE_UP") == true)
        #expect(capabilities?.observed.contains("-CAP_SYS_PTRACE") == host.capabilities.contains("CAP_SYS_PTRACE"))
        #expect(host.differences(from: host).isEmpty)
    }

    @Test func timingsAreComparableOnlyOnTheSameKernelAndCPU() {
        let host = Fingerprint.current()
        var gVisor = host
        gVisor.sandbox = "gVisor"
        var emulated = host
        emulated.virtualization = Virtualization(kind: "tcg", emulated: true, evidence: "test")
        var otherKernel = host
        otherKernel.kernelRelease = "6.1.0-test"
        #expect(host.timingIncomparability(with: host) == nil)
        #expect(gVisor.timingIncomparability(with: host)?.contains("user-space kernel") == true)
        #expect(emulated.timingIncomparability(with: host) == "an emulated CPU on one side")
        #expect(otherKernel.timingIncomparability(with: host) == "different kernels")
    }

    @Test func aComparisonShowsReasonsAndLeavesIncomparableTimingOut() {
        let host = Fingerprint.current()
        var gVisor = host
        gVisor.sandbox = "gVisor"
        gVisor.features["kcmp"] = "EPERM"
        func report(_ fingerprint: Fingerprint, _ status: ScenarioStatus, syscall: UInt64) -> RunReport {
            RunReport(startedAt: Date(timeIntervalSince1970: 0), durationSeconds: 1, identityMode: .auto,
                      scenarios: [
                          ScenarioResult(name: "a", file: "a.yaml", summary: "", tags: [], status: status,
                                         reason: status == .skip ? "needs kcmp, which fails here with EPERM" : nil,
                                         findings: [],
                                         steps: [StepRecord(line: 3, operation: "main.dup", process: "main",
                                                            syscallNanoseconds: syscall, roundTripNanoseconds: 0,
                                                            observationNanoseconds: 0)]),
                          ScenarioResult(name: "b", file: "b.yaml", summary: "", tags: [], status: .pass, steps: []),
                      ], fingerprint: fingerprint)
        }
        let comparison = Comparison(reports: [("host", report(host, .pass, syscall: 1000)),
                                              ("runsc", report(gVisor, .skip, syscall: 90000))])
        #expect(comparison.divergentScenarios == ["a"])
        #expect(comparison.cell("a", run: 1) == "skip: needs kcmp, which fails here with EPERM")
        #expect(comparison.cell("b", run: 1) == "pass")
        #expect(comparison.runs[1].fingerprintDifferences?.map(\.field) == ["sandbox", "feature kcmp"])
        #expect(comparison.runs[1].timingNotComparable != nil)
        #expect(comparison.timing.isEmpty, "a 90x slower syscall under gVisor is not a timing change")
        let markdown = comparison.markdown
        #expect(markdown.contains("| `a` | pass | skip: needs kcmp, which fails here with EPERM |"))
        #expect(markdown.contains("- feature kcmp: ok → EPERM") || markdown.contains("- feature kcmp: "))
        #expect(markdown.contains("runsc is not compared: a user-space kernel on one side"))
        #expect(!markdown.contains("| `b` |"), "cases with one status everywhere are counted, not listed")
    }
}

extension CommandLineTests {
    @Test func aMatrixRunsEachEnvironmentAndComparesThem() throws {
        let directory = try temporaryDirectory([
            "s/one.yaml": Self.passing, "s/two.yaml": Self.passing,
            "m.yaml": """
                scenarios: [s]
                environments:
                  - name: host
                  - name: userns
                    in: userns
                  - name: old-kernel
                    kernel: "0.1"
                    optional: true
                """,
        ])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let out = directory + "/out"
        let result = try handoff(["matrix", directory + "/m.yaml", "--report", out])
        #expect(result.status == 0, "\(result.output)\(result.error)")
        #expect(result.output.contains("== host: run \(directory)/s --report \(out)/host\n"), "relative to the plan")
        #expect(result.output.hasSuffix("matrix: 2 of 3 environments ran, 0 of 2 cases differ; reports in \(out)\n"))
        let report = try JSONDecoder().decode(MatrixReport.self, from: Data(contentsOf: URL(fileURLWithPath: out + "/matrix.json")))
        #expect(report.environments.map(\.status) == [.ran, .ran, .unavailable])
        #expect(report.environments[2].reason?.contains("no kernel '0.1'") == true)
        #expect(report.comparison.runs.map(\.label) == ["host", "userns"])
        #expect(report.comparison.runs[1].fingerprintDifferences?.contains { $0.field == "namespaces" } == true)
        for file in ["matrix.md", "matrix.html", "host/report.json", "userns/report.json"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + file), "\(file)")
        }
        // Without `optional`, an environment that cannot run here fails the matrix (exit 2), reported all the same.
        try "scenarios: [s]\nenvironments:\n  - name: host\n  - name: old-kernel\n    kernel: '0.1'\n"
            .write(toFile: directory + "/strict.yaml", atomically: true, encoding: .utf8)
        let strict = try handoff(["matrix", directory + "/strict.yaml", "--report", out])
        #expect(strict.status == 2)
        #expect(strict.error.contains("handoff matrix: old-kernel could not run here"))
    }

    @Test func aMatrixRegressionFailsTheGate() throws {
        let directory = try temporaryDirectory([
            "s/one.yaml": Self.passing,
            "m.yaml": "scenarios: [s]\nenvironments:\n  - name: host\n  - name: broken\n    agent: /bin/false\n",
        ])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try handoff(["matrix", directory + "/m.yaml", "--report", directory + "/out"])
        #expect(result.status == 1, "\(result.output)\(result.error)")
        #expect(result.error.contains("handoff matrix: 1 regression(s) from host (--fail-on)"))
        let none = try handoff(["matrix", directory + "/m.yaml", "--report", directory + "/out", "--fail-on", "missing"])
        #expect(none.status == 0, "\(none.error)")
    }
}
