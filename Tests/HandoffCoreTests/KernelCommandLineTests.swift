import Foundation
import Glibc
import Testing
@testable import HandoffCore

/// The kernels `make kernels` cached, when there are any, with qemu and busybox to boot them.
let cachedKernel: String? = {
    guard access("/bin/busybox", X_OK) == 0, SystemProbe.program(named: "qemu-system-x86_64") != nil else { return nil }
    return KernelCache.releases(in: packageRoot + "/" + KernelCache.defaultDirectory).last
}()

/// VM folders in the temporary directory, and qemu processes booting one of them (handoff's qemu is not
/// the test's child, so /proc is searched).
func vmLeftovers() -> Set<String> {
    let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
    var found = Set(((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [])
        .filter { $0.hasPrefix("handoff-") && $0.contains("-vm-") })
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int32(entry) != nil {
        guard let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
        let words = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        if words.first?.hasSuffix("qemu-system-x86_64") == true, words.contains(where: { $0.contains("-vm-") }) {
            found.insert("qemu pid \(entry)")
        }
    }
    return found
}

extension CommandLineTests {
    @Test func kernelOptionsAreCheckedBeforeAnythingRuns() throws {
        let cases: [([String], String)] = [
            (["--accel", "tcg"], "need --kernel"),
            (["--kernel", "6.1", "--vm-cpus", "0"], "--vm-cpus must be between 1 and 64"),
            (["--kernel", "6.1", "--vm-memory", "10"], "--vm-memory must be between 256"),
            (["--kernel", "6.1", "--vm-timeout", "0"], "--vm-timeout must be"),
            (["--kernel", "6.1", "--agent", "python"], "the guest has no Python for --agent python"),
            (["--kernel", "6.1", "--agent-env", "LD_PRELOAD=/x.so"], "--agent-env does not apply with --kernel"),
            (["--kernel", "/nonexistent/vmlinuz", "--agent", "agents/python/handoff-agent-py-inherit"], "is a script"),
            (["--kernel", "/nonexistent/vmlinuz", "--agent", "/nonexistent/agent"], "agent not found at /nonexistent/agent"),
            (["--kernel", "6.1", "--workdir", "/tmp"], "--workdir does not apply with --kernel"),
            (["--kernel", "6.1", "--accel", "fast"], "fast"),
            (["--kernel", "/nonexistent/vmlinuz"], "no kernel image at '/nonexistent/vmlinuz'"),
            (["--kernel", "4.4", "--kernel-dir", "/nonexistent"], "no kernel '4.4' in /nonexistent"),
        ]
        for (arguments, message) in cases {
            let result = try handoff(["run", "scenarios/dup/dup2-closes-target.yaml", "--report", NSTemporaryDirectory() + "unused"]
                + arguments)
            #expect(result.status == 2, "\(arguments)")
            #expect(result.error.contains(message), "\(arguments): \(result.error)")
        }
    }

    /// Boots the newest cached kernel with two scenarios: the reports come back, the guest is recognised as
    /// emulated (or KVM), and nothing is left behind. The runner carried is this build's (dynamically linked:
    /// the slow way, but never stale).
    @Test(.enabled(if: cachedKernel != nil, "no kernel cached: `make kernels` fetches them"))
    func aCachedKernelBootsAndReportsBack() throws {
        let release = try #require(cachedKernel)
        let directory = NSTemporaryDirectory() + "handoff-kernel-cli-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let before = vmLeftovers()
        let result = try handoff(["run", "scenarios/dup/dup2-closes-target.yaml", "scenarios/dup/dup-lowest.yaml",
                                  "--kernel", release, "--report", directory, "--vm-runner", executable, "--vm-timeout", "300"])
        #expect(result.status == 0, "\(result.output)\n\(result.error)")
        #expect(result.output.contains("PASS    dup2-closes-target"))
        #expect(result.output.contains("vm: linux \(release) under "))
        #expect(result.output.hasSuffix("2 passed, 0 failed, 0 skipped\n"))
        let report = try RunReport.load(directory + "/report.json")
        #expect(report.environment.kernel == release)
        #expect(report.environment.fingerprint?.distribution == "handoff initramfs (busybox)")
        let virtualization = try #require(report.environment.fingerprint?.virtualization)
        #expect(virtualization.kind == "tcg" || virtualization.kind == "kvm")
        for file in ["junit.xml", "report.html", "vm.json", "env.json", "console.log"] {
            #expect(FileManager.default.fileExists(atPath: directory + "/" + file), "\(file)")
        }
        #expect(vmLeftovers().subtracting(before).isEmpty)
    }

    /// The C agent under another kernel: carried with the C library it loads, and the one the run inside used.
    @Test(.enabled(if: cachedKernel != nil && FileManager.default.isExecutableFile(atPath: "agents/c/build/handoff-agent-c"),
                   "no kernel cached (`make kernels`) or no C agent built (`make agents`)"))
    func anotherNativeAgentRunsUnderACachedKernel() throws {
        let release = try #require(cachedKernel)
        let directory = NSTemporaryDirectory() + "handoff-kernel-cli-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try handoff(["run", "scenarios/dup/dup2-closes-target.yaml", "--kernel", release, "--agent", "c",
                                  "--report", directory, "--vm-runner", executable, "--vm-timeout", "300"])
        #expect(result.status == 0, "\(result.output)\n\(result.error)")
        let report = try RunReport.load(directory + "/report.json")
        #expect(report.environment.agent?.path.hasSuffix("agents/c/build/handoff-agent-c") == true)
        #expect(report.summary.passed == 1)
    }

    @Test(.enabled(if: cachedKernel != nil, "no kernel cached: `make kernels` fetches them"))
    func anInterruptedKernelRunLeavesNothingBehind() throws {
        let release = try #require(cachedKernel)
        let directory = NSTemporaryDirectory() + "handoff-kernel-cli-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let before = vmLeftovers()
        let result = try handoff(["run", "scenarios/dup", "--kernel", release, "--report", directory, "--vm-runner", executable],
                                 interruptAfter: 2)
        #expect(result.status == 130, "\(result.output)\n\(result.error)")
        #expect(result.error.contains("interrupted: qemu killed"))
        #expect(vmLeftovers().subtracting(before).isEmpty)
    }
}
