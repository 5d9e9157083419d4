import Foundation
import Glibc
import Testing
@testable import HandoffCore

/// `run --kernel` without booting: which kernel a VERSION names, the initramfs's files and format, the
/// generated /init, the qemu command line, the emulation fingerprint.
@Suite struct KernelRunTests {
    func temporaryDirectory() throws -> String {
        let directory = NSTemporaryDirectory() + "handoff-kernel-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test func aSeriesNamesItsReleasesOnly() {
        #expect(KernelCache.versionNumbers("6.1.0-57-amd64") == [6, 1, 0, 57])
        #expect(KernelCache.versionNumbers("6.12.117+deb12-amd64") == [6, 12, 117])
        #expect(KernelCache.matches(release: "6.1.0-57-amd64", version: "6.1"))
        #expect(!KernelCache.matches(release: "6.12.117+deb12-amd64", version: "6.1"))
        #expect(KernelCache.matches(release: "6.12.117+deb12-amd64", version: "6.12"))
        #expect(KernelCache.matches(release: "6.12.117+deb12-amd64", version: "6.12.117+deb12-amd64"))
        #expect(!KernelCache.matches(release: "6.12.117+deb12-amd64", version: "6.12.11"))
        #expect(!KernelCache.matches(release: "6.1.0-57-amd64", version: "amd64"))
    }

    @Test func aVersionResolvesToTheNewestCachedReleaseAndPrefersTheUncompressedKernel() throws {
        let cache = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: cache) }
        for (release, files) in [("6.1.0-9-amd64", ["vmlinuz"]), ("6.1.0-57-amd64", ["vmlinuz", "vmlinux"]),
                                 ("6.12.117+deb12-amd64", ["vmlinuz"]), ("empty", [])] {
            try FileManager.default.createDirectory(atPath: cache + "/" + release, withIntermediateDirectories: true)
            for file in files { _ = FileManager.default.createFile(atPath: cache + "/\(release)/\(file)", contents: Data([1])) }
        }
        #expect(KernelCache.releases(in: cache) == ["6.1.0-9-amd64", "6.1.0-57-amd64", "6.12.117+deb12-amd64"])
        let old = try KernelCache.resolve("6.1", cacheDirectory: cache)
        #expect(old == KernelImage(release: "6.1.0-57-amd64", bootPath: cache + "/6.1.0-57-amd64/vmlinux"))
        let new = try KernelCache.resolve("6.12", cacheDirectory: cache)
        #expect(new.bootPath == cache + "/6.12.117+deb12-amd64/vmlinuz")
        #expect(throws: VMError.self) { try KernelCache.resolve("5.10", cacheDirectory: cache) }
        do {
            _ = try KernelCache.resolve("5.10", cacheDirectory: cache)
        } catch {
            #expect(error.description.contains("cached: 6.1.0-9-amd64, 6.1.0-57-amd64, 6.12.117+deb12-amd64"))
            #expect(error.description.contains("make kernels"))
        }
        // A path is booted as it is; a missing path or a directory is a clear error.
        let path = cache + "/6.1.0-9-amd64/vmlinuz"
        #expect(try KernelCache.resolve(path, cacheDirectory: "/nonexistent") == KernelImage(release: "vmlinuz", bootPath: path))
        #expect(throws: VMError.kernelNotFound("no kernel image at '/nonexistent/bzImage'")) {
            try KernelCache.resolve("/nonexistent/bzImage", cacheDirectory: cache)
        }
        #expect(throws: VMError.self) { try KernelCache.resolve(cache + "/empty", cacheDirectory: cache) }
    }

    /// Reads a newc archive back: (name, mode, data) per entry, checking magic and alignment on the way.
    func readArchive(_ bytes: [UInt8]) -> [(name: String, mode: UInt32, data: [UInt8])] {
        var entries: [(name: String, mode: UInt32, data: [UInt8])] = []
        var offset = 0
        func field(_ index: Int) -> Int { Int(String(decoding: bytes[offset + 6 + 8 * index..<offset + 14 + 8 * index], as: UTF8.self), radix: 16)! }
        while offset < bytes.count {
            #expect(offset % 4 == 0)
            #expect(String(decoding: bytes[offset..<offset + 6], as: UTF8.self) == "070701")
            let mode = UInt32(field(1)), size = field(6), nameSize = field(11)
            let name = String(decoding: bytes[offset + 110..<offset + 110 + nameSize - 1], as: UTF8.self)
            var data = offset + 110 + nameSize
            data += (4 - data % 4) % 4
            if name == "TRAILER!!!" { break }
            entries.append((name, mode, Array(bytes[data..<data + size])))
            offset = data + size
            offset += (4 - offset % 4) % 4
        }
        return entries
    }

    @Test func theArchiveIsNewcWithParentsFirstAndFilesCopied() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let source = directory + "/source"
        _ = FileManager.default.createFile(atPath: source, contents: Data("hello".utf8))
        let entries = [
            InitramfsEntry("/usr/local/bin/tool", mode: 0o755, .file(source: source)),
            InitramfsEntry("/bin/sh", mode: 0o777, .symlink(target: "busybox")),
            InitramfsEntry("/init", mode: 0o755, .bytes(Array("#!/bin/sh\n".utf8))),
        ]
        let archive = directory + "/image.cpio"
        let size = try Initramfs.write(entries, to: archive)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: archive)))
        #expect(size == bytes.count)
        let read = readArchive(bytes)
        #expect(read.map(\.name) == ["bin", "bin/sh", "init", "usr", "usr/local", "usr/local/bin", "usr/local/bin/tool"])
        let byName = Dictionary(uniqueKeysWithValues: read.map { ($0.name, $0) })
        #expect(byName["usr/local/bin/tool"]?.mode == 0o100755)
        #expect(byName["usr/local/bin/tool"]?.data == Array("hello".utf8))
        #expect(byName["bin/sh"]?.mode == 0o120777)
        #expect(byName["bin/sh"]?.data == Array("busybox".utf8))
        #expect(byName["usr"]?.mode == 0o040755)
        // The host's cpio agrees, when it is installed.
        if access("/usr/bin/cpio", X_OK) == 0 {
            let (status, output) = try HelperProcess.capture("/bin/sh", ["-c", "cpio -it --quiet < '\(archive)'"])
            #expect(status == 0)
            #expect(output.split(separator: "\n").count == 7)
        }
        #expect(throws: VMError.self) {
            try Initramfs.write([InitramfsEntry("/x", mode: 0o644, .file(source: directory + "/missing"))], to: archive)
        }
    }

    @Test func theImageHoldsTheRunnerAgentBusyboxLibrariesScenariosAndInit() {
        let image = GuestImage(runner: "/build/handoff", agent: "/build/handoff-agent", busybox: "/bin/busybox",
                               libraries: ["/lib/x86_64-linux-gnu/libcap.so.2", "/lib64/ld-linux-x86-64.so.2"],
                               programs: ["/usr/bin/systemd-socket-activate"],
                               scenarios: [("scenarios/dup/a.yaml", "/scenarios/0/dup/a.yaml")], initScript: "#!/bin/sh\n")
        let entries = Dictionary(uniqueKeysWithValues: Initramfs.normalized(image.entries).map { ($0.path, $0) })
        #expect(entries["/usr/local/bin/handoff"]?.content == .file(source: "/build/handoff"))
        #expect(entries["/usr/local/bin/handoff-agent"]?.content == .file(source: "/build/handoff-agent"))
        #expect(entries["/bin/busybox"]?.content == .file(source: "/bin/busybox"))
        #expect(entries["/bin/sh"]?.content == .symlink(target: "busybox"))
        #expect(entries["/lib64/ld-linux-x86-64.so.2"]?.content == .file(source: "/lib64/ld-linux-x86-64.so.2"))
        #expect(entries["/usr/bin/systemd-socket-activate"] != nil)
        #expect(entries["/scenarios/0/dup/a.yaml"]?.content == .file(source: "scenarios/dup/a.yaml"))
        #expect(entries["/init"]?.content == .bytes(Array("#!/bin/sh\n".utf8)))
        #expect(entries["/tmp"]?.mode == 0o1777)
        for directory in ["/proc", "/sys", "/dev", "/scenarios/0/dup"] { #expect(entries[directory]?.content == .directory) }
        // Nothing else on the guest's PATH than /init's applets and what was listed.
        let binaries = entries.keys.filter { $0.hasPrefix("/bin/") }.sorted()
        #expect(binaries == (GuestImage.applets.map { "/bin/" + $0 } + ["/bin/busybox"]).sorted())
    }

    @Test func initQuotesTheInnerArgumentsAndRaisesTheLimit() throws {
        let script = InitScript.render(runArguments: ["/scenarios/0", "--filter", "it's a test"], nofileSoft: 20000,
                                       nofileHard: 40000)
        #expect(script.hasPrefix("#!/bin/sh\n"))
        #expect(script.contains("handoff run '/scenarios/0' '--filter' 'it'\\''s a test' --report-to-host"))
        #expect(script.contains("ulimit -H -n 40000 && ulimit -S -n 20000"))
        for line in ["mount --bind / /.root && cd /.root && mount --move . / && exec chroot . /init --moved-root",
                     "mount -t proc proc /proc", "mount -t sysfs sysfs /sys", "mount -t tmpfs -o mode=1777 tmpfs /tmp",
                     "ip link set lo up", "poweroff -f", InitScript.bootedMarker, InitScript.suiteEndMarker] {
            #expect(script.contains(line))
        }
        // The quoting survives a real shell.
        let word = "a 'b' $c \"d\" \\e"
        let (status, output) = try HelperProcess.capture("/bin/sh", ["-c", "printf %s " + InitScript.shellQuoted(word)])
        #expect(status == 0 && output == word)
    }

    @Test func scenarioPathsKeepTheirNamesInTheGuest() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory + "/s/dup", withIntermediateDirectories: true)
        for name in ["s/dup/a.yaml", "s/dup/b.yaml", "one.yaml"] {
            _ = FileManager.default.createFile(atPath: directory + "/" + name, contents: Data())
        }
        let layout = try GuestPlan.scenarioLayout(
            paths: [directory + "/s", directory + "/one.yaml"],
            selectedFiles: [directory + "/s/dup/a.yaml", directory + "/one.yaml"])
        #expect(layout.innerPaths == ["/scenarios/0", "/scenarios/1/one.yaml"])
        #expect(layout.files.map(\.guestPath) == ["/scenarios/0/dup/a.yaml", "/scenarios/1/one.yaml"])
        #expect(GuestPlan.innerArguments(paths: ["/scenarios/0"], filter: "dup", tags: ["x"], jobs: 2, timeout: 10,
                                         identity: "auto", format: "text", shard: "1/2", allowEmpty: true)
            == ["/scenarios/0", "--filter=dup", "--tag=x", "--jobs", "2", "--timeout", "10.0", "--identity", "auto",
                "--format", "text", "--shard", "1/2", "--allow-empty"])
        // Another agent under test is carried at its own path and named to the run inside.
        #expect(GuestPlan.innerArguments(paths: ["/scenarios/0"], filter: nil, tags: [], jobs: 1, timeout: 10, identity: "auto",
                                         format: "text", shard: nil, allowEmpty: false, agent: "/a/handoff-agent-c").suffix(2)
            == ["--agent", "/a/handoff-agent-c"])
    }

    @Test func lddOutputGivesLibraryPaths() {
        let output = """
            \tlinux-vdso.so.1 (0x00007ffd)
            \tlibcap.so.2 => /lib/x86_64-linux-gnu/libcap.so.2 (0x00007f02)
            \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f01)
            \t/lib64/ld-linux-x86-64.so.2 (0x00007f03)
            """
        #expect(LibraryClosure.parse(lddOutput: output)
            == ["/lib/x86_64-linux-gnu/libcap.so.2", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"])
        #expect(LibraryClosure.parse(lddOutput: "\tnot a dynamic executable\n").isEmpty)
    }

    @Test func theCommandLineHasTheConsoleTheReportRegionNoDefaultDevicesAndTheAccelerator() {
        let tcg = MachineConfiguration(kernel: "/k/vmlinux", initramfs: "/t/i.cpio", reportRegionPath: "/t/reports.shm",
                                       accelerator: .tcg)
        let arguments = tcg.arguments
        #expect(arguments.contains("-nodefaults") && arguments.contains("-no-reboot"))
        #expect(arguments.joined(separator: " ").contains("-accel tcg,thread=multi -cpu qemu64,+rdrand -smp 2 -m 1024"))
        #expect(arguments.filter { $0 == "-serial" }.count == 1)
        #expect(arguments.joined(separator: " ").contains("-serial stdio -object memory-backend-file,id=reports,share=on,"
            + "mem-path=/t/reports.shm,size=67108864 -device ivshmem-plain,memdev=reports"))
        #expect(arguments.joined(separator: " ").contains("-kernel /k/vmlinux -initrd /t/i.cpio"))
        #expect(arguments.last == MachineConfiguration.baseCommandLine)
        var told = tcg
        told.loopsPerJiffy = 8_400_000
        #expect(told.arguments.last == MachineConfiguration.baseCommandLine + " lpj=8400000")
        let kvm = MachineConfiguration(kernel: "k", initramfs: "i", reportRegionPath: "r", accelerator: .kvm, cpus: 4,
                                       memoryMiB: 512)
        #expect(kvm.arguments.joined(separator: " ").contains("-accel kvm -cpu host -smp 4 -m 512"))
    }

    @Test func theDelayLoopValueComesFromTheCounterAndTheKernelsHZ() {
        #expect(DelayCalibration.hz(config: "# comment\nCONFIG_HZ_250=y\nCONFIG_HZ=250\nCONFIG_X=1\n") == 250)
        #expect(DelayCalibration.hz(config: "CONFIG_HZ_250=y\n") == nil)
        #expect(DelayCalibration.loopsPerJiffy(hz: nil) == nil)
        #if arch(x86_64)
        // The counter's frequency over HZ: some hundreds of MHz to some GHz over 100-1000 Hz.
        let lpj = DelayCalibration.loopsPerJiffy(hz: 250)
        #expect(lpj.map { (400_000...40_000_000).contains($0) } == true, "\(String(describing: lpj))")
        #endif
    }

    @Test func emulationIsRecognised() {
        // qemu 7.2's TCG: the hypervisor flag, no signature, QEMU's CPU model and DMI vendor.
        let tcg = Virtualization.decide(hypervisorFlag: true, signature: "", dmiVendor: "QEMU",
                                        cpuModel: "QEMU Virtual CPU version 2.5+")
        #expect(tcg.kind == "tcg" && tcg.emulated)
        #expect(Virtualization.decide(hypervisorFlag: true, signature: "TCGTCGTCGTCG", dmiVendor: "", cpuModel: "").kind == "tcg")
        let kvm = Virtualization.decide(hypervisorFlag: true, signature: "KVMKVMKVM", dmiVendor: "QEMU", cpuModel: "Intel Xeon")
        #expect(kvm.kind == "kvm" && !kvm.emulated)
        #expect(Virtualization.decide(hypervisorFlag: false, signature: "", dmiVendor: "", cpuModel: "AMD EPYC").kind == "none")
        #expect(Virtualization.decide(hypervisorFlag: true, signature: "Microsoft Hv", dmiVendor: "", cpuModel: "").kind == "Microsoft Hv")
        #expect(tcg.evidence.contains("DMI vendor 'QEMU'"))
    }
}
