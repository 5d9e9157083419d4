import CHandoff
import Foundation
import Glibc

/// One `handoff run --in ENV`: builds what the environment needs in a private directory, starts the runner
/// again inside it (its console output is the inner run's, passed through), waits, brings report.json and
/// env.json back, records the environment in the report, and removes everything it made - bundle,
/// container, state - whatever the ending, Ctrl-C included.
///
/// The wrapper (unshare, bwrap, runc, ...) runs in a process group of its own; a SIGINT, SIGTERM or SIGHUP to
/// the runner is passed on to that group (runc, crun and runsc pass it on to the container's runner, which
/// kills its scenarios and writes its reports); whatever is still there 10 s later is killed.
public final class EnvironmentRun: @unchecked Sendable {
    public let environment: RunEnvironment
    /// The runner's own executable (it runs itself inside) and the agent beside it.
    let runner: String
    let agent: String
    /// Arguments of the inner `run`, after the scenario paths: selection, jobs, timeout, identity, format.
    let runArguments: [String]
    let scenarioPaths: [String]
    /// Programs the selected scenarios require (copied into a bundle when found on the host).
    let programs: [String]

    private let lock = NSLock()
    private var wrapperGroup: pid_t = 0
    private var containerID: String?
    private var interruptedBySignal: Int32 = 0

    /// The private directory: a bundle or the output and work folders.
    private var directory = ""

    public init(environment: RunEnvironment, runner: String, agent: String, scenarioPaths: [String],
                runArguments: [String], programs: [String]) {
        self.environment = environment
        self.runner = runner
        self.agent = agent
        self.scenarioPaths = scenarioPaths
        self.runArguments = runArguments
        self.programs = programs
    }

    /// What the run produced: the inner report (with environment.runIn set), the inner env.json's bytes,
    /// and whether a signal interrupted it.
    public struct Outcome {
        public var report: RunReport
        public var environmentJSON: Data?
        public var interrupted: Bool
        public var record: RunInRecord
    }

    /// This runner's executable, which runs itself inside.
    public static var currentExecutable: String { Observer.readLink("/proc/self/exe") ?? CommandLine.arguments[0] }

    /// Why the environment cannot run here, or nil: its program is missing from PATH.
    public static func unavailability(of kind: EnvironmentKind) -> String? {
        guard let (program, package) = kind.program else { return nil }
        if SystemProbe.program(named: program) == nil {
            return "\(program) is not installed (apt-get install \(package), or `make environments`)"
        }
        return nil
    }

    /// Runs the suite inside. Throws `.unavailable` when the environment cannot start or produced no report.
    public func run() throws(EnvironmentError) -> Outcome {
        if let reason = Self.unavailability(of: environment.name) {
            throw .unavailable(environment: environment.label, reason: reason)
        }
        // Orphans of the wrapper (bwrap's init inside its sandbox) come back to this process to be reaped.
        _ = handoff_set_child_subreaper()
        let setupStart = Date()
        directory = try Self.makePrivateDirectory()
        defer { cleanUp() }
        let (command, hostOutput) = try prepare()
        let setupSeconds = Date().timeIntervalSince(setupStart)
        let started = Date()
        let status = try spawnAndWait(command)
        let wallSeconds = Date().timeIntervalSince(started)
        lock.lock()
        let signal = interruptedBySignal
        lock.unlock()
        let reportPath = hostOutput + "/report.json"
        guard let data = FileManager.default.contents(atPath: reportPath) else {
            if signal != 0 { throw .harness("interrupted by signal \(signal) before the run in \(environment.label) wrote a report") }
            throw .unavailable(environment: environment.label,
                               reason: "\(command[0]) \(describeWaitStatus(status)) and the run inside wrote no report (its messages are above)")
        }
        var report: RunReport
        do {
            report = try JSONDecoder().decode(RunReport.self, from: data)
        } catch {
            throw .harness("the report the run in \(environment.label) wrote cannot be read: \(error)")
        }
        let record = RunInRecord(environment, runtime: runtimeVersion(), setupSeconds: setupSeconds, wallSeconds: wallSeconds)
        report.environment.runIn = record
        return Outcome(report: report, environmentJSON: FileManager.default.contents(atPath: hostOutput + "/env.json"),
                       interrupted: signal != 0, record: record)
    }

    /// Passes a termination signal on to the runner inside (from the signal thread), which then kills its
    /// scenarios and writes its reports; 10 s later, whatever is left is killed. runc, crun and runsc pass
    /// signals on to the container's first process, the runner: they get it. unshare ignores SIGINT and
    /// SIGTERM, and bwrap would die of them and take the runner with it (--die-with-parent) before it wrote
    /// anything: there the runner itself, found among the wrapper's descendants, gets it.
    public func forward(signal: Int32) {
        lock.lock()
        interruptedBySignal = signal
        let group = wrapperGroup
        let id = containerID
        lock.unlock()
        guard group > 0 else { return }
        if environment.name == .runsc, let id {
            // runsc run does not pass signals on: ask runsc to deliver it to the container's first process.
            _ = try? captureOutput(runtimeCommand(["kill", id, "\(signal)"]))
        } else if environment.name.isOCI {
            Glibc.kill(group, signal)
        } else {
            for pid in Self.runners(below: group) { Glibc.kill(pid, signal) }
        }
        _ = startThread(stackSize: 1 << 18) { [self] in
            sleep(10)
            lock.lock()
            let still = wrapperGroup
            lock.unlock()
            guard still > 0 else { return }
            Glibc.kill(-still, SIGKILL)
            if let id { _ = try? captureOutput(runtimeCommand(["kill", id, "KILL"])) }
        }
    }

    /// Processes named `handoff` among `root` and its descendants.
    static func runners(below root: pid_t) -> [pid_t] {
        let processes = ProcessStatus.all()
        let parents = Dictionary(processes.map { ($0.pid, $0.parent) }, uniquingKeysWith: { first, _ in first })
        return processes.filter { process in
            guard process.command == "handoff" else { return false }
            if process.pid == root { return true }
            return Containment.lineage(of: process.pid, parents: parents, upTo: getpid()).map { $0.contains(root) } ?? false
        }.map(\.pid)
    }

    // MARK: - Per environment

    /// The command to start, and where on the host the inner report lands.
    private func prepare() throws(EnvironmentError) -> ([String], String) {
        let output = directory + "/out"
        let work = directory + "/work"
        switch environment.name {
        case .host, .userns:
            try make(output)
            try make(work)
            let inner = [runner, "run"] + scenarioPaths + innerOptions(report: output, workdir: work)
            var command = limits() + (environment.name == .userns
                ? [tool("unshare"), "--user", "--map-root-user", "--pid", "--fork", "--mount-proc", "--kill-child"] : [])
            command += capabilityDrop() + inner
            return (command, output)
        case .bwrap:
            try make(output)
            // The host's / is visible read-only; /tmp is a fresh tmpfs (the inner --workdir), and the
            // runner's folder and the output are bound onto it (bwrap cannot create mount points on a
            // read-only /). The runner's folder is bound in case it lies below /tmp.
            let binary = "/tmp/handoff-bin"
            var command = limits() + [tool("bwrap"), "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/",
                                      "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
                                      "--ro-bind", (runner as NSString).deletingLastPathComponent, binary,
                                      "--bind", output, "/tmp/handoff-out"]
            // The tmpfs hides the host's /tmp: the working directory and scenario paths below it are bound
            // again at their own paths, read-only.
            let current = FileManager.default.currentDirectoryPath
            for path in [current] + scenarioPaths {
                let absolute = path.hasPrefix("/") ? path : current + "/" + path
                if absolute == "/tmp" || absolute.hasPrefix("/tmp/") { command += ["--ro-bind", absolute, absolute] }
            }
            command += ["--chdir", current]
            for capability in environment.dropCapabilities { command += ["--cap-drop", capability] }
            command += [binary + "/" + (runner as NSString).lastPathComponent, "run"] + scenarioPaths
                + innerOptions(report: "/tmp/handoff-out", workdir: "/tmp")
            return (command, output)
        case .runc, .crun, .runsc:
            let bundle = OCIBundle(directory: directory + "/bundle")
            let mapped = Self.insidePaths(scenarioPaths)
            try bundle.build(runner: runner, agent: agent, programs: programs,
                             scenarioPaths: zip(scenarioPaths, mapped).map { ($0, $1) })
            let inner = [OCIBundle.runnerPath, "run"] + mapped
                + innerOptions(report: OCIBundle.outputMount, workdir: "/tmp")
            try bundle.writeConfig(OCIBundle.config(environment, arguments: inner, hostname: "handoff"))
            // runc and crun name the container's cgroup after its id (below the runner's cgroup): not in the
            // `handoff-<pid>-...` form of scenario cgroups, which StaleRuns removes when that pid is dead.
            let id = Self.containerID(runner: getpid())
            lock.lock()
            containerID = id
            lock.unlock()
            var command = runtimeCommand(["run", "--bundle", bundle.directory, id])
            if environment.name == .crun && Self.hybridCgroups {
                // crun 1.8 refuses hybrid cgroup layouts ("cgroups in hybrid mode not supported, drop all
                // controllers from cgroupv2"): hide the v2 mount in a private mount namespace.
                command = [tool("unshare"), "-m", "--", "/bin/sh", "-c",
                           "umount /sys/fs/cgroup/unified && exec \"$@\"", "sh"] + command
            }
            return (command, bundle.output)
        }
    }

    /// The inner `run`'s options: reports and env.json into `report`, scenario directories in `workdir`.
    private func innerOptions(report: String, workdir: String) -> [String] {
        ["--report", report, "--workdir", workdir, "--write-env", report + "/env.json"] + runArguments
    }

    /// `prlimit --nofile=N:N --` where a limit is asked for outside OCI (which sets it in config.json).
    private func limits() -> [String] {
        guard let nofile = environment.nofile else { return [] }
        return [tool("prlimit"), "--nofile=\(nofile):\(nofile)", "--"]
    }

    /// `setpriv` removing the capabilities from the bounding set (and the inheritable and ambient sets), so
    /// that the runner exec'd after it, root or not, does not hold them.
    private func capabilityDrop() -> [String] {
        guard !environment.dropCapabilities.isEmpty else { return [] }
        let names = environment.dropCapabilities.map { "-" + $0.dropFirst(4).lowercased() }.joined(separator: ",")
        return [tool("setpriv"), "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=\(names)", "--"]
    }

    /// The runtime's command with its private state directory (and runsc's platform and network).
    private func runtimeCommand(_ arguments: [String]) -> [String] {
        let state = directory + "/state"
        switch environment.name {
        case .runsc: return [tool("runsc"), "--root", state, "--platform=ptrace", "--network=none"] + arguments
        case .crun: return [tool("crun"), "--root", state] + arguments
        default: return [tool("runc"), "--root", state] + arguments
        }
    }

    private func runtimeVersion() -> String? {
        guard environment.name != .host, let program = environment.name.program?.name,
            let path = SystemProbe.program(named: program),
            let result = try? captureOutput([path, "--version"])
        else { return nil }
        return result.output.split(separator: "\n").first.map(String.init)
    }

    /// Where a scenario path lands in a bundle (below /h): a relative path without `..` as it is, so that
    /// scenario files are named as on the host; anything else by its position and last component.
    public static func insidePaths(_ paths: [String]) -> [String] {
        paths.enumerated().map { index, path in
            let components = path.split(separator: "/")
            if !path.hasPrefix("/") && !components.contains("..") && !components.isEmpty {
                return components.filter { $0 != "." }.joined(separator: "/")
            }
            return "paths/\(index)/" + (components.last.map(String.init) ?? "root")
        }
    }

    /// Whether this host mounts cgroup v1 controllers with a v2 hierarchy at /sys/fs/cgroup/unified.
    static var hybridCgroups: Bool {
        var inside = stat(), parent = stat()
        guard stat("/sys/fs/cgroup/unified", &inside) == 0, stat("/sys/fs/cgroup", &parent) == 0 else { return false }
        return inside.st_dev != parent.st_dev
    }

    // MARK: - Processes and files

    private func tool(_ name: String) -> String { SystemProbe.program(named: name) ?? name }

    private func spawnAndWait(_ command: [String]) throws(EnvironmentError) -> Int32 {
        var pid: pid_t = 0
        // Output to a regular file goes through a pipe the runner copies from: gVisor writes a donated file
        // at its own offset from 0, so `run --in runsc > log` overwrote the runner's own first lines.
        let relays = [Int32(1), 2].map { OutputRelay(for: $0) }
        fflush(nil)  // the runner's own lines first
        let spawned = withCStrings(command) { argv in
            withCStrings(ProcessInfo.processInfo.environment.map { "\($0)=\($1)" }) { envp in
                handoff_spawn_helper(command[0], argv, envp, -1, relays[0]?.writeEnd ?? 1, relays[1]?.writeEnd ?? 2, nil, &pid)
            }
        }
        for relay in relays { relay?.start() }
        defer { for relay in relays { relay?.finish() } }
        if spawned != 0 {
            throw .unavailable(environment: environment.label, reason: "cannot start \(command[0]): \(Errno.name(of: spawned))")
        }
        lock.lock()
        wrapperGroup = pid
        let early = interruptedBySignal
        lock.unlock()
        if early != 0 { Glibc.kill(-pid, early) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // Anything of the group still there (bwrap's or unshare's children do not outlive them; this is the
        // belt to those braces) is killed, and whatever was orphaned to the runner (a child subreaper: bwrap's
        // init inside the sandbox, a moment after bwrap) is reaped.
        Glibc.kill(-pid, SIGKILL)
        lock.lock()
        wrapperGroup = 0
        lock.unlock()
        let deadline = Deadline(secondsFromNow: 2)
        while !deadline.expired {
            while waitpid(-1, nil, WNOHANG) > 0 {}
            if !ProcessStatus.all().contains(where: { $0.parent == getpid() }) { break }
            usleep(2000)
        }
        return status
    }

    /// Deletes the container (if any) and the private directory, state included.
    private func cleanUp() {
        lock.lock()
        let id = containerID
        containerID = nil
        lock.unlock()
        if let id {
            let delete = environment.name == .runsc ? ["delete", "-force", id] : ["delete", "-f", id]
            _ = try? captureOutput(runtimeCommand(delete))
        }
        if !directory.isEmpty { try? FileManager.default.removeItem(atPath: directory) }
    }

    private func make(_ path: String) throws(EnvironmentError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw .harness("cannot create \(path): \(error.localizedDescription)")
        }
    }

    /// `handoff-<pid>-in-XXXXXX` in $TMPDIR or /tmp (swept by the next run if this one is SIGKILLed).
    static func makePrivateDirectory() throws(EnvironmentError) -> String {
        let base = ScenarioDirectory.base(nil)
        StaleRuns.sweepOnce(base: base)
        guard let made = StaleRuns.makeFolder(in: base, label: "in") else {
            throw .harness("cannot create a directory in \(base): \(Errno.name(of: errno))")
        }
        return made
    }

    /// The container's id: `handoff-oci.<runner pid>.<random>`, which StaleRuns never takes for a scenario's.
    static func containerID(runner: pid_t) -> String { "handoff-oci.\(runner).\(UInt32.random(in: 0...UInt32.max))" }
}

/// Copies what a wrapper writes into a pipe to the runner's own descriptor (1 or 2) when that is a regular
/// file, appending after what the runner wrote; nil when the descriptor is a pipe or a terminal (passed as
/// it is).
final class OutputRelay: @unchecked Sendable {
    let writeEnd: Int32
    private let readEnd: Int32
    private let target: Int32
    private let done = DispatchSemaphore(value: 0)

    init?(for target: Int32) {
        var info = stat()
        guard fstat(target, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        var ends: [Int32] = [-1, -1]
        guard handoff_pipe2(&ends, O_CLOEXEC) == 0 else { return nil }
        (readEnd, writeEnd, self.target) = (ends[0], ends[1], target)
    }

    /// After the spawn: the child has its copy of the write end, so the runner's goes, and the copying starts.
    func start() {
        close(writeEnd)
        Thread.detachNewThread { [self] in
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                var written = 0
                while written < count {
                    let n = buffer.withUnsafeBytes { write(target, $0.baseAddress! + written, count - written) }
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { break }
                    written += n
                }
            }
            close(readEnd)
            done.signal()
        }
    }

    /// Waits for the copying to reach the end (every writer gone), at most 2 s: a descendant that kept the
    /// pipe open and outlived its group's SIGKILL must not hold the run.
    func finish() {
        _ = done.wait(timeout: .now() + 2)
    }
}
