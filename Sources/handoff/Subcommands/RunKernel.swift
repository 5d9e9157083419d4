import ArgumentParser
import Foundation
import Glibc
import HandoffCore

/// `run --kernel`'s options. The work is HandoffCore's (Sources/HandoffCore/VM); this is the command line.
struct KernelOptions: ParsableArguments {
    @Option(help: """
        Boot this kernel under qemu and run the scenarios there: the path of a kernel image, or a VERSION \
        (6.1, 6.12, or a full release) cached by `make kernels` in --kernel-dir.
        """)
    var kernel: String?

    @Option(name: .customLong("kernel-dir"), help: "Where `make kernels` caches kernels (default: .build/kernels).")
    var kernelDirectory: String?

    @Option(help: "auto (KVM when it can boot the guest, else TCG), kvm or tcg.")
    var accel: Accelerator?

    @Option(name: .customLong("vm-timeout"), help: "Seconds from qemu's start to the reports being back (default 600).")
    var vmTimeout: Double?

    @Option(name: .customLong("vm-cpus"), help: "Virtual CPUs (default 2).")
    var vmCPUs: Int?

    @Option(name: .customLong("vm-memory"), help: "Guest memory in MiB (default 1024).")
    var vmMemory: Int?

    @Option(name: .customLong("vm-runner"), help: """
        The runner binary carried into the guest (default: $HANDOFF_VM_RUNNER, else .build/static/release/handoff \
        from `make vm-runner`, else this executable with its shared libraries).
        """)
    var vmRunner: String?

    static let cpus = 1...64
    static let memory = 256...65_536

    /// Usage errors: VM options without --kernel, numbers out of range, options that cannot apply inside.
    func validate(agent: String?, agentEnvironment: [String], workdir: String?) throws {
        guard kernel != nil else {
            if kernelDirectory != nil || accel != nil || vmTimeout != nil || vmCPUs != nil || vmMemory != nil || vmRunner != nil {
                throw ValidationError("--kernel-dir, --accel, --vm-timeout, --vm-cpus, --vm-memory and --vm-runner need --kernel")
            }
            return
        }
        if let vmTimeout { try Limits.checkTimeout(vmTimeout, option: "--vm-timeout") }
        if let vmCPUs, !Self.cpus.contains(vmCPUs) {
            throw ValidationError("--vm-cpus must be between \(Self.cpus.lowerBound) and \(Self.cpus.upperBound), not \(vmCPUs)")
        }
        if let vmMemory, !Self.memory.contains(vmMemory) {
            throw ValidationError("--vm-memory must be between \(Self.memory.lowerBound) and \(Self.memory.upperBound) MiB, not \(vmMemory)")
        }
        if let agent, ["python", "python-inherit"].contains(agent) {
            throw ValidationError("--kernel carries native agents only (swift, c, go, or the path of an executable): "
                + "the guest has no Python for --agent \(agent)")
        }
        if !agentEnvironment.isEmpty {
            throw ValidationError("--agent-env does not apply with --kernel (what it names, such as a preloaded library, "
                + "is not in the guest)")
        }
        if workdir != nil {
            throw ValidationError("--workdir does not apply with --kernel (the guest's scenario folders are on its tmpfs /tmp)")
        }
    }

    /// The runner to carry, and a note when it is a costly or possibly stale choice.
    func runner() -> (path: String, note: String?) {
        if let vmRunner { return (vmRunner, nil) }
        if let path = ProcessInfo.processInfo.environment["HANDOFF_VM_RUNNER"], !path.isEmpty { return (path, nil) }
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let staticRunner = ".build/static/release/handoff"
        if FileManager.default.isExecutableFile(atPath: staticRunner) {
            let modified = { (path: String) in
                (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? .distantPast
            }
            let stale = modified(staticRunner) < modified(me)
            return (staticRunner, stale ? "\(staticRunner) is older than \(me): `make vm-runner` rebuilds it" : nil)
        }
        return (me, "carrying \(me) and its shared Swift libraries (about 75 MB); `make vm-runner` builds a runner "
            + "with the Swift libraries linked in")
    }
}

extension Accelerator: ExpressibleByArgument {}

extension Run {
    /// `run --kernel`: the suite in a guest; the reports and the exit status are the inner run's.
    func runInKernel(_ specification: String, scenarios: [Scenario]) throws {
        let fail = { (text: String, status: Int32) -> ExitCode in
            printError(Console.printable("handoff: \(text)"))
            return ExitCode(status)
        }
        // Another agent under test (`--agent c`, `go`, a path) goes in at its own path, with what it loads, and the
        // run inside is told to use it; handoff's own agent still goes in beside the runner.
        var agentUnderTest: String?
        if let spec = agentSelection.agent, spec != "swift" {
            do {
                let chosen = try AgentChoice.resolve(spec)
                guard AgentChoice.isNativeExecutable(chosen.path) else {
                    throw fail("--kernel carries native agents only: \(chosen.path) is a script, whose interpreter the "
                        + "guest does not have", 2)
                }
                agentUnderTest = chosen.path
            } catch let problem as AgentChoice.Problem {
                throw fail(problem.description, 2)
            }
        }
        let kernelImage: KernelImage
        do {
            kernelImage = try KernelCache.resolve(specification, cacheDirectory: vm.kernelDirectory ?? KernelCache.defaultDirectory)
        } catch {
            throw fail(error.description, 2)
        }
        guard let qemu = SystemProbe.program(named: "qemu-system-x86_64") else {
            throw fail("qemu-system-x86_64 is missing: `make kernels` installs it (package qemu-system-x86)", 2)
        }
        guard let busybox = ["/bin/busybox", "/usr/bin/busybox"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw fail("busybox is missing: `make kernels` installs it (package busybox-static)", 2)
        }
        try prepareReportDirectory(report)
        RunReport.removeEarlierFiles(in: report)
        let runner = vm.runner()
        if let note = runner.note { printError("handoff: note: \(note)") }
        // The agent built with the runner (`make vm-runner` builds both, in release), else this runner's.
        let besideRunner = (runner.path as NSString).deletingLastPathComponent + "/handoff-agent"
        let agent = FileManager.default.isExecutableFile(atPath: besideRunner) ? besideRunner : Suite.defaultAgentPath()
        let programs = Set(scenarios.flatMap { $0.requires.programs }).sorted().compactMap { SystemProbe.program(named: $0) }
            + (agentUnderTest.map { [$0] } ?? [])
        let image: GuestImage
        do {
            let layout = try GuestPlan.scenarioLayout(paths: selection.resolvedPaths, selectedFiles: Set(scenarios.map(\.file)))
            let libraries = try LibraryClosure.of([runner.path, agent] + programs)
            var limit = rlimit()
            getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            let arguments = GuestPlan.innerArguments(
                paths: layout.innerPaths, filter: selection.filter, tags: selection.tags, jobs: jobs, timeout: timeout,
                identity: identity.rawValue, format: format.rawValue, shard: shard, allowEmpty: allowEmpty,
                agent: agentUnderTest)
            image = GuestImage(runner: runner.path, agent: agent, busybox: busybox, libraries: libraries, programs: programs,
                               scenarios: layout.files,
                               initScript: InitScript.render(runArguments: arguments, nofileSoft: UInt64(limit.rlim_cur),
                                                             nofileHard: UInt64(limit.rlim_max)))
        } catch let error as VMError {
            throw fail(error.description, 2)
        } catch {
            throw fail("\(error)", 2)
        }
        let options = VirtualMachineOptions(
            kernel: kernelImage, image: image, accelerator: vm.accel ?? .auto, cpus: vm.vmCPUs ?? 2,
            memoryMiB: vm.vmMemory ?? 1024, timeLimit: vm.vmTimeout ?? 600, qemu: qemu,
            temporaryBase: ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp")
        let outcome = VirtualMachineRun.run(options) { line in
            print(line)
            fflush(nil)
        }
        writeExtras(outcome)
        let record = outcome.record
        let timing = [record.bootSeconds.map { "boot \(seconds($0))" }, record.suiteSeconds.map { "suite \(seconds($0))" },
                      "total \(seconds(record.wallSeconds))"].compactMap { $0 }.joined(separator: ", ")
        print("vm: linux \(record.kernelRelease) under \(record.accelerator.uppercased()) (\(record.acceleratorReason)): "
            + "\(timing); initramfs \(record.initramfsBytes / 1_000_000) MB in \(seconds(record.imageSeconds))")
        if let error = outcome.error {
            if error == .interrupted { throw fail("interrupted: qemu killed, nothing left behind", 130) }
            // The harness's failure, not the kernel's: an ERROR, never a FAIL.
            throw fail("ERROR: no result from linux \(record.kernelRelease): \(error)", 1)
        }
        guard let inner = outcome.report else { throw fail("ERROR: no report", 1) }
        do {
            try inner.write(to: report)
        } catch {
            throw fail("cannot write reports to \(report): \(error)", 2)
        }
        print(Console.closing(inner.summary))
        if ActiveRuns.shared.isInterrupted { throw ExitCode(130) }
        if record.innerExitStatus == 2 { throw ExitCode(2) }
        if !inner.summary.succeeded { throw ExitCode(1) }
    }

    /// vm.json (what the host measured and decided), console.log, and env.json from the guest.
    private func writeExtras(_ outcome: VirtualMachineOutcome) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        var files: [(String, Data)] = [("console.log", Data(outcome.console.utf8))]
        if let json = try? encoder.encode(outcome.record) { files.append(("vm.json", json)) }
        // What `handoff env --json` prints in the guest: the inner run measured it already (report.json's
        // environment.fingerprint); running `env` there as well cost about 3 s under TCG.
        if let fingerprint = outcome.report?.environment.fingerprint, let json = try? encoder.encode(fingerprint) {
            files.append(("env.json", json))
        }
        for (name, data) in files where !FileManager.default.createFile(atPath: report + "/" + name, contents: data) {
            printError(Console.printable("handoff: cannot write \(report)/\(name)"))
        }
    }

    private func seconds(_ value: Double) -> String { String(format: "%.1f s", value) }
}
