import Foundation
import Glibc
import Testing
@testable import HandoffCore

/// `run --in`: option validation and the OCI bundle's config.json, without any runtime.
@Suite struct EnvironmentTests {
    func parse(_ name: String, seccomp: [String] = [], drop: [String] = [], nofile: Int? = nil) -> Result<RunEnvironment, EnvironmentError> {
        RunEnvironment.parse(name: name, seccompDeny: seccomp, dropCapabilities: drop, nofile: nofile)
    }

    func message(_ result: Result<RunEnvironment, EnvironmentError>) -> String? {
        if case .failure(let error) = result { return error.description }
        return nil
    }

    @Test func everyEnvironmentParsesAndAnUnknownOneIsNamed() throws {
        for kind in EnvironmentKind.allCases {
            #expect((try? parse(kind.rawValue).get())?.name == kind)
        }
        #expect(message(parse("docker")) == "--in must be one of host, userns, bwrap, runc, crun, runsc, not 'docker'")
    }

    @Test func seccompOnlyWhereAProfileIsLoaded() throws {
        let runc = try parse("runc", seccomp: ["kcmp,pidfd_getfd", "kcmp"]).get()
        #expect(runc.seccompDeny == ["kcmp", "pidfd_getfd"], "split on commas, duplicates dropped")
        #expect(runc.label == "runc+seccomp(kcmp,pidfd_getfd)")
        for name in ["host", "userns", "bwrap", "runsc"] {
            #expect(message(parse(name, seccomp: ["kcmp"]))?.hasPrefix("--seccomp-deny applies to --in runc and --in crun") == true)
        }
        #expect(message(parse("crun", seccomp: ["kcmp;reboot"])) == "--seccomp-deny takes system call names (kcmp,pidfd_getfd), not 'kcmp;reboot'")
    }

    @Test func capabilitiesAreNormalisedAndUnknownOnesRefused() throws {
        let host = try parse("host", drop: ["sys_ptrace", "CAP_KILL,cap_sys_ptrace"]).get()
        #expect(host.dropCapabilities == ["CAP_SYS_PTRACE", "CAP_KILL"])
        #expect(message(parse("bwrap", drop: ["CAP_FLY"])) == "--drop-cap: unknown capability 'CAP_FLY' (e.g. CAP_SYS_PTRACE or sys_ptrace)")
    }

    @Test func nofileIsBounded() throws {
        #expect((try? parse("runc", nofile: 20000).get())?.nofile == 20000)
        #expect(message(parse("runc", nofile: 0)) == "--nofile must be between 1 and 1048576, not 0")
        #expect(message(parse("runc", nofile: 1 << 21)) == "--nofile must be between 1 and 1048576, not 2097152")
        #expect(message(parse("host", nofile: 10))?.hasPrefix("--nofile 10 leaves the runner no room") == true)
    }

    @Test func theBundleConfigKeepsRuncDefaultsAndAppliesTheOptions() throws {
        let environment = try parse("runc", seccomp: ["kcmp", "pidfd_getfd"], drop: ["CAP_KILL"], nofile: 4096).get()
        let config = OCIBundle.config(environment, arguments: ["/usr/local/bin/handoff", "run", "scenarios"], hostname: "handoff")
        // Through JSON, as the runtime reads it.
        let data = try JSONSerialization.data(withJSONObject: config)
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let process = try #require(json["process"] as? [String: Any])
        #expect(process["args"] as? [String] == ["/usr/local/bin/handoff", "run", "scenarios"])
        #expect(process["cwd"] as? String == "/h")
        #expect(process["terminal"] as? Bool == false)
        let capabilities = try #require(process["capabilities"] as? [String: [String]])
        #expect(capabilities["bounding"] == ["CAP_AUDIT_WRITE", "CAP_NET_BIND_SERVICE"], "CAP_KILL dropped from runc's three")
        #expect(capabilities["effective"] == capabilities["bounding"])
        let limits = try #require(process["rlimits"] as? [[String: Any]])
        #expect(limits.count == 1 && limits[0]["type"] as? String == "RLIMIT_NOFILE" && limits[0]["soft"] as? Int == 4096
                && limits[0]["hard"] as? Int == 4096)
        let root = try #require(json["root"] as? [String: Any])
        #expect(root["path"] as? String == "rootfs" && root["readonly"] as? Bool == true)
        let mounts = try #require(json["mounts"] as? [[String: Any]])
        let tmp = try #require(mounts.first { $0["destination"] as? String == "/tmp" })
        #expect(tmp["type"] as? String == "tmpfs", "the inner --workdir is a writable tmpfs")
        let out = try #require(mounts.first { $0["destination"] as? String == "/out" })
        #expect(out["source"] as? String == "out" && (out["options"] as? [String])?.contains("rw") == true)
        let linux = try #require(json["linux"] as? [String: Any])
        let namespaces = (linux["namespaces"] as? [[String: String]])?.compactMap { $0["type"] }
        #expect(namespaces == ["pid", "network", "ipc", "uts", "mount"])
        let seccomp = try #require(linux["seccomp"] as? [String: Any])
        #expect(seccomp["defaultAction"] as? String == "SCMP_ACT_ALLOW")
        let rules = try #require(seccomp["syscalls"] as? [[String: Any]])
        #expect(rules.count == 1)
        #expect(rules[0]["names"] as? [String] == ["kcmp", "pidfd_getfd"])
        #expect(rules[0]["action"] as? String == "SCMP_ACT_ERRNO" && rules[0]["errnoRet"] as? Int == Int(EPERM))
    }

    @Test func withoutOptionsTheConfigHasRuncsLimitAndNoSeccomp() throws {
        let config = OCIBundle.config(try parse("crun").get(), arguments: ["x"], hostname: "h")
        let linux = try #require(config["linux"] as? [String: Any])
        #expect(linux["seccomp"] == nil)
        let process = try #require(config["process"] as? [String: Any])
        let limits = try #require(process["rlimits"] as? [[String: Any]])
        #expect(limits[0]["soft"] as? Int == 1024, "runc spec's default, kept: the judged default")
        #expect((process["capabilities"] as? [String: [String]])?["bounding"] == ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"])
    }

    @Test func lddOutputGivesTheResolvedPaths() {
        let output = """
            \tlinux-vdso.so.1 (0x00007ffd)
            \tlibswiftCore.so => /opt/swift/usr/lib/swift/linux/libswiftCore.so (0x00007f)
            \tlibcap.so.2 => /lib/x86_64-linux-gnu/libcap.so.2 (0x00007f)
            \tlibmissing.so => not found
            \t/lib64/ld-linux-x86-64.so.2 (0x00007f)
            \tlibcap.so.2 => /lib/x86_64-linux-gnu/libcap.so.2 (0x00007f)
            """
        #expect(OCIBundle.parseLdd(output) == ["/opt/swift/usr/lib/swift/linux/libswiftCore.so",
                                               "/lib/x86_64-linux-gnu/libcap.so.2", "/lib64/ld-linux-x86-64.so.2"])
    }

    @Test func scenarioPathsKeepTheirNamesInsideTheBundle() {
        #expect(EnvironmentRun.insidePaths(["scenarios", "./scenarios/dup/x.yaml", "/abs/cases", "../up"])
                == ["scenarios", "scenarios/dup/x.yaml", "paths/2/cases", "paths/3/up"])
    }

    @Test func theBundleHoldsTheRunnerItsLibrariesTheAgentAndTheScenarios() throws {
        let directory = NSTemporaryDirectory() + "handoff-bundle-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let runner = (agentPath as NSString).deletingLastPathComponent + "/handoff"
        let bundle = OCIBundle(directory: directory)
        try bundle.build(runner: runner, agent: agentPath, programs: [],
                         scenarioPaths: [(packageRoot + "/scenarios/dup", "scenarios/dup")])
        #expect(access(bundle.rootfs + "/usr/local/bin/handoff", X_OK) == 0)
        #expect(access(bundle.rootfs + "/usr/local/bin/handoff-agent", X_OK) == 0)
        for library in try OCIBundle.sharedLibraries(of: runner) {
            #expect(access(bundle.rootfs + library, R_OK) == 0, "\(library) is in the rootfs")
        }
        #expect(FileManager.default.fileExists(atPath: bundle.rootfs + "/h/scenarios/dup"))
    }
}
