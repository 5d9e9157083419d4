import CHandoff
import Foundation
import Glibc
import HandoffProtocol

/// One scenario process: an agent, its control channel and a handle on the process (a pidfd, so signals
/// never hit a reused pid; where pidfds are missing, the pid and its start time: ProcessGuard).
final class AgentProcess {
    let name: String
    let pid: pid_t
    let handle: ProcessGuard
    let connection: AgentConnection
    /// The control channel's number inside the agent, excluded from observation.
    var controlNumber: Int32
    /// argv[1...] of the agent's current image.
    var arguments: [String]
    var nofileLimit: Int32
    /// The environment of the agent's current image, from its hello.
    var environment: [String: String]

    /// Which implementation the agent is and what it cannot do, from its hello.
    var implementation: String
    var unsupported: [OperationKind]

    /// The pid the agent itself reports (getpid): `pid` unless a launcher started it in a PID namespace.
    let ownPid: pid_t

    /// `handle`: the process's handle when the caller already holds one (the root agent's, made at spawn).
    /// `peerPid`: the agent's pid in the runner's PID namespace when it is known from the kernel
    /// (SO_PEERCRED of an agent that called back); the hello's own pid is then only its own view.
    init(name: String, hello message: WireMessage, connection: AgentConnection, handle: ProcessGuard? = nil,
         peerPid: pid_t? = nil) throws(HarnessError) {
        let hello = try AgentProcess.decode(message, process: name)
        self.name = name
        self.pid = AgentProcess.runnerPid(peer: peerPid, own: pid_t(hello.pid))
        self.ownPid = pid_t(hello.pid)
        self.connection = connection
        self.controlNumber = hello.control
        self.arguments = hello.arguments
        self.nofileLimit = Int32(clamping: hello.nofile)
        self.environment = AgentProcess.environment(from: hello)
        self.implementation = hello.implementation
        self.unsupported = hello.unsupported
        if let handle {
            self.handle = handle
        } else {
            // The agent is blocked reading its channel, so it cannot have been reaped: the pid is still its own.
            switch ProcessGuard.open(self.pid) {
            case .success(let opened): self.handle = opened
            case .failure(let error): throw .system(call: "pidfd_open(\(self.pid))", errno: error.code)
            }
        }
        connection.endReason = AgentProcess.endReasonProbe(self.handle)
        try checkControlNumber()
    }

    /// The hello's `ctl` is where the runner's model puts the channel, hidden from the scenario: a number that
    /// holds no socket in the agent's table is a lie (found with a hostile agent saying ctl=7: the real
    /// channel at 1023 became a LEAK finding). Unreadable (no ptrace access to the agent): not judged.
    func checkControlNumber() throws(HarnessError) {
        let link = "/proc/\(pid)/fd/\(controlNumber)"
        var buffer = [CChar](repeating: 0, count: 64)
        let length = readlink(link, &buffer, buffer.count - 1)
        if length < 0 && errno != ENOENT { return }
        let target = length < 0 ? "" : String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if !target.hasPrefix("socket:") {
            throw .protocolViolation(process: name, detail: "its hello gives ctl=\(controlNumber), which holds "
                + (target.isEmpty ? "no descriptor" : target) + " in its table, not its channel")
        }
    }

    /// The agent's pid in the runner's PID namespace. SO_PEERCRED gives it (`peer`) when the kernel gets
    /// SO_PEERCRED right; gVisor answers with the caller's own pid, which would make the runner adopt - and at
    /// the end kill - itself. So the peer pid is taken only when it is not the runner's and its innermost
    /// NSpid is the pid the agent reports for itself; otherwise the agent's own (the same namespace).
    static func runnerPid(peer: pid_t?, own: pid_t) -> pid_t {
        guard let peer, peer > 0, peer != getpid() else { return own }
        if peer == own { return peer }
        let status = Observer.readSmallFile("/proc/\(peer)/status") ?? ""
        let nested = status.split(separator: "\n").first { $0.hasPrefix("NSpid:") }?
            .split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().compactMap { pid_t($0) }
        return nested?.last == own ? peer : own
    }

    /// Applies a new hello after exec (same pid, same channel).
    func adopt(hello message: WireMessage) throws(HarnessError) {
        let hello = try AgentProcess.decode(message, process: name)
        guard hello.pid == Int32(ownPid) else {
            throw .protocolViolation(process: name, detail: "hello after exec from pid \(hello.pid), expected \(ownPid)")
        }
        controlNumber = hello.control
        arguments = hello.arguments
        nofileLimit = Int32(clamping: hello.nofile)
        environment = AgentProcess.environment(from: hello)
        try checkControlNumber()
    }

    static func decode(_ message: WireMessage, process: String) throws(HarnessError) -> Hello {
        switch Hello.decode(message) {
        case .success(let hello): return hello
        case .failure(let error): throw .protocolViolation(process: process, detail: error.reason)
        }
    }

    static func environment(from hello: Hello) -> [String: String] {
        var result: [String: String] = [:]
        for text in hello.environment {
            guard let equals = text.firstIndex(of: "=") else { continue }
            result[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        return result
    }

    var hasExited: Bool { handle.hasExited }

    /// Whether it is ending or has ended, waiting up to a second for one that has begun to exit to become a
    /// zombie (ProcessGuard.hasEnded): asked when something of it vanished under the runner.
    var hasEnded: Bool { handle.hasEnded(waitingUntil: Deadline(secondsFromNow: 1)) }

    /// Why the process ended, read from /proc/PID/stat (field 52, exit_code) while it is a zombie.
    func endReason() -> String { Self.endReason(of: pid) }

    static func endReason(of pid: pid_t) -> String {
        guard let code = ProcessStatus.read(pid)?.exitCode else { return "it has ended" }
        return describeWaitStatus(code)
    }

    /// For a control channel that closed: how the process ended, once it has (its channel closes a moment
    /// before it becomes a zombie, so this waits up to 200 ms); nil when it is still running.
    ///
    /// Weak: the pidfd lives exactly as long as its AgentProcess (the connection may outlive it).
    static func endReasonProbe(_ handle: ProcessGuard) -> () -> String? {
        return { [weak handle] in
            guard let handle else { return nil }
            return handle.waitExit(until: Deadline(secondsFromNow: 0.2)) ? endReason(of: handle.pid) : nil
        }
    }
}

func describeWaitStatus(_ status: Int32) -> String {
    if handoff_wifexited(status) != 0 { return "exited with status \(handoff_wexitstatus(status))" }
    if handoff_wifsignaled(status) != 0 {
        let signal = handoff_wtermsig(status)
        return "killed by signal \(signal) (\(String(cString: strsignal(signal))))"
    }
    return "wait status \(status)"
}

/// Every agent of one scenario run, and the means to end them all. Registered with the interrupt handler
/// for the duration of the run.
final class ProcessTree: @unchecked Sendable {
    private let lock = NSLock()
    private var processes: [String: AgentProcess] = [:]
    private var order: [String] = []
    private var interrupted = false
    /// The listening socket agents started by a launcher call back to (created on first use).
    private var controlListener: Int32 = -1

    let agentPath: String
    let agentEnvironment: [String]
    let directory: ScenarioDirectory
    /// Everything the scenario starts, agents or not, ends with it.
    let containment: Containment
    /// The root agent's pid, once it said hello (the runner's child: not reaped before teardown).
    private var rootPid: pid_t?

    init(agentPath: String, agentEnvironment: [String] = [], directory: ScenarioDirectory, containment mode: ContainmentMode = .auto) {
        self.agentPath = agentPath
        self.agentEnvironment = agentEnvironment
        self.directory = directory
        containment = Containment(marker: directory.name, directory: Observer.realPath(directory.path) ?? directory.path,
                                  mode: mode)
    }

    subscript(name: String) -> AgentProcess? {
        lock.lock()
        defer { lock.unlock() }
        return processes[name]
    }

    var wasInterrupted: Bool {
        lock.lock()
        defer { lock.unlock() }
        return interrupted
    }

    /// The scenario name of the agent with this pid (ended ones included), for credentials a socket reports.
    func name(ofPid pid: Int32) -> String? {
        lock.lock()
        defer { lock.unlock() }
        return order.first { processes[$0]?.pid == pid_t(pid) }
    }

    private func register(_ process: AgentProcess) {
        lock.lock()
        processes[process.name] = process
        order.append(process.name)
        let kill = interrupted
        lock.unlock()
        Containment.liveAgents.add(process.pid, of: containment.marker, handle: process.handle)
        if kill { process.handle.signal(SIGKILL) }
    }

    /// Spawns the root agent on a clean table: stdin /dev/null, stdout+stderr to the agent log, the
    /// control channel, nothing else. It goes into the scenario's cgroup before it is sent anything. An
    /// agent that ends before its hello is an error at once, with how it ended.
    func spawnRoot(name: String, deadline: Deadline, timeout: Double) throws(HarnessError) -> AgentProcess {
        var ends: [Int32] = [-1, -1]
        if socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) != 0 {
            throw .system(call: "socketpair", errno: errno)
        }
        let connection = AgentConnection(descriptor: ends[0], process: name)
        connection.idle = { [directory] in directory.capLog() }
        let log = open(directory.logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        if log < 0 {
            let error = errno
            close(ends[1])
            throw .system(call: "open \(directory.logPath)", errno: error)
        }
        let environment = [
            "PATH=/usr/local/bin:/usr/bin:/bin",
            "\(AgentEnvironment.controlDescriptor)=3",
            "\(AgentEnvironment.expectedParent)=\(getpid())",
            "\(Containment.markerVariable)=\(containment.marker)",
        ] + agentEnvironment
        var pid: pid_t = 0
        let spawned = withCStrings([agentPath]) { argv in
            withCStrings(environment) { envp in
                handoff_spawn_clean(agentPath, argv, envp, ends[1], log, directory.workPath, &pid)
            }
        }
        // The agent's end is its own now: if it dies, the channel reads end-of-file at once.
        close(ends[1])
        close(log)
        if spawned != 0 { throw .system(call: "posix_spawn \(agentPath)", errno: spawned) }
        containment.adopt(pid)
        // The runner's unreaped child: the pid is still its own.
        let handle: ProcessGuard
        switch ProcessGuard.open(pid) {
        case .success(let opened): handle = opened
        case .failure(let error):
            Glibc.kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            throw .system(call: "pidfd_open(\(pid))", errno: error.code)
        }
        connection.endReason = AgentProcess.endReasonProbe(handle)
        func abandon() {
            handle.signal(SIGKILL)
            handle.reap()
        }
        let process: AgentProcess
        do throws(HarnessError) {
            let hello = try connection.receive(until: deadline, timeoutSeconds: timeout).0
            process = try AgentProcess(name: name, hello: hello, connection: connection, handle: handle)
            // The runner observes the process its hello names: it must be the one just spawned.
            guard process.pid == pid else {
                throw .protocolViolation(process: name, detail: "its hello gives pid \(process.pid), but it was started as pid \(pid)")
            }
        } catch {
            abandon()
            if case .agentGone(let process, let reason) = error {
                throw .agentGone(process: process, reason: "the agent \(reason) at start-up, before its hello")
            }
            throw error
        }
        lock.lock()
        rootPid = pid
        lock.unlock()
        register(process)
        return process
    }

    /// Registers the child created by a fork request, whose channel arrived with the answer. `parent`: the
    /// agent that forked it, whose child the hello's pid must name.
    func adoptChild(name: String, channel: Int32, deadline: Deadline, timeout: Double, peerPid: pid_t? = nil,
                    parent: AgentProcess? = nil) throws(HarnessError) -> AgentProcess
    {
        let connection = AgentConnection(descriptor: channel, process: name)
        connection.idle = { [directory] in directory.capLog() }
        let hello = try connection.receive(until: deadline, timeoutSeconds: timeout).0
        // Nothing but the hello says which process a forked child is (its channel's SO_PEERCRED is the parent's,
        // who made the pair), and the runner observes - and at the end kills - that pid: a pid that is not the
        // forking agent's child is refused (found with a hostile agent whose child gave the pid of an unrelated
        // `sleep`: the scenario FAILed on that process's table, and the `sleep` was killed). Checked where the
        // parent's pids agree (the runner's PID namespace; /proc here shows the runner's).
        if let parent, parent.pid == parent.ownPid {
            let claimed = pid_t(try AgentProcess.decode(hello, process: name).pid)
            guard claimed > 0, let status = ProcessStatus.read(claimed), status.parent == parent.pid else {
                throw .protocolViolation(process: name, detail: "its hello gives pid \(claimed), which is not a child of "
                    + "'\(parent.name)' (pid \(parent.pid))")
            }
        }
        let process = try AgentProcess(name: name, hello: hello, connection: connection, peerPid: peerPid)
        register(process)
        return process
    }

    /// The address for `HANDOFF_CONTROL_SOCKET`: a SOCK_SEQPACKET listener in the scenario's directory.
    func controlSocketPath() throws(HarnessError) -> String {
        let path = directory.path + "/control.sock"
        if controlListener >= 0 { return path }
        var bound: Int32 = 0
        let listener = handoff_listen(Int32(HANDOFF_ADDRESS_UNIX), path, path.utf8.count, 0,
                                      Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 64, &bound)
        if listener < 0 { throw .system(call: "listen on \(path)", errno: errno) }
        controlListener = listener
        return path
    }

    /// Adopts the next agent that called back through the control socket (started by `launcher`). When
    /// the launcher ends and no agent calls back within a second, that is an error at once, not a timeout.
    func adoptAttached(name: String, launcher: AgentProcess?, deadline: Deadline, timeout: Double) throws(HarnessError)
        -> AgentProcess
    {
        guard controlListener >= 0 else {
            throw .protocolViolation(process: name, detail: "no launcher was given the control socket")
        }
        var grace: Deadline?
        while true {
            var entries = [pollfd(fd: controlListener, events: Int16(POLLIN), revents: 0)]
            // Without a pidfd the launcher's end is looked for every 10 ms instead of slept on.
            let launcherPidfd = launcher?.handle.pidfd ?? -1
            if launcherPidfd >= 0, grace == nil { entries.append(pollfd(fd: launcherPidfd, events: Int16(POLLIN), revents: 0)) }
            var wait = min(deadline.remainingMilliseconds, grace?.remainingMilliseconds ?? Int32.max)
            let pollingLauncher = launcher != nil && launcherPidfd < 0 && grace == nil
            if pollingLauncher { wait = min(wait, 10) }
            let ready = poll(&entries, nfds_t(entries.count), wait)
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 || entries[0].revents != 0 { break }
            let launcherEnded = entries.count > 1 ? entries[1].revents != 0 : pollingLauncher && launcher?.hasExited == true
            if launcherEnded {
                // A launcher may fork its service and exit: give the service a moment to call back.
                grace = Deadline(secondsFromNow: 1)
                continue
            }
            if let grace, grace.expired, let launcher {
                throw .agentGone(process: launcher.name, reason: "the launcher \(launcher.endReason()) and no agent called back")
            }
            if deadline.expired { throw .timedOut(process: name, seconds: timeout) }
        }
        let channel = handoff_accept4(controlListener, Int32(SOCK_CLOEXEC.rawValue))
        if channel < 0 { throw .system(call: "accept on the control socket", errno: errno) }
        // A launcher may start its service in a PID namespace (bwrap --unshare-pid, a container): the pid the
        // agent says it has is then not one the runner can signal or observe - and in the runner's namespace it
        // may be another process's. The kernel's SO_PEERCRED gives the caller's pid in the runner's namespace.
        var credentials: (pid: Int32, uid: UInt32, gid: UInt32) = (0, 0, 0)
        var length = socklen_t(MemoryLayout.size(ofValue: credentials))
        guard getsockopt(channel, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0, credentials.pid > 0 else {
            let error = errno
            close(channel)
            throw .system(call: "getsockopt(SO_PEERCRED) of the agent that called back", errno: error)
        }
        return try adoptChild(name: name, channel: channel, deadline: deadline, timeout: timeout, peerPid: credentials.pid)
    }

    /// Waits until the named processes have exited (their tables are released), or the deadline passes.
    func awaitExit(_ names: [String], until deadline: Deadline, timeout: Double) throws(HarnessError) {
        for name in names {
            guard let process = self[name] else { continue }
            if !process.handle.waitExit(until: deadline) { throw .timedOut(process: name, seconds: timeout) }
        }
        if names.isEmpty { return }
        // An agent ends with nothing of its own left behind: a process it started behind the protocol (a child
        // in a session of its own, holding the scenario's descriptors) would change what the kernel does next,
        // a pipe's EOF, a wait status (found with a hostile agent that forked before its `exit`: FAIL).
        lock.lock()
        let agents = Set(processes.values.map(\.pid))
        lock.unlock()
        if let stray = containment.strayChildren(agents: agents).first {
            let command = ProcessStatus.read(stray)?.command ?? "?"
            throw .protocolViolation(process: names.joined(separator: "', '"),
                                     detail: "left a process of its own behind when it ended (pid \(stray), \(command))")
        }
    }

    /// The agent `name` ended in an `exit` step: it must have exited with the status it was asked for, which
    /// its zombie still shows (its parent reaps it only on a later `wait`). Otherwise a hostile agent's
    /// `_exit(0)` became a kernel finding at that `wait` ("expected status 3, observed status 0").
    func checkExitStatus(of name: String, asked status: Int32) throws(HarnessError) {
        guard let process = self[name], let ended = ProcessStatus.read(process.pid), ended.isZombie,
            let code = ended.exitCode,
            // /proc shows 0 to a reader the kernel does not let ptrace the process (a kernel that keeps an
            // exited task's non-dumpability, the agent made non-dumpable): only root's 0 is surely a status.
            code != 0 || geteuid() == 0,
            // gVisor's /proc/PID/stat shows 0 as every exit code (as it shows 0 as every PF flag): nothing to
            // check there (found with `run --in runsc`: every `exit` with a status was refused).
            SystemProbe.sandbox == nil
        else { return }
        if handoff_wifexited(code) == 0 || handoff_wexitstatus(code) != status & 0xff {
            throw .protocolViolation(process: name, detail: "asked to exit with status \(status & 0xff), it "
                + describeWaitStatus(code))
        }
    }

    /// Sends SIGKILL to every agent (from the interrupt handler's thread too; an interrupt also kills
    /// the scenario's cgroup at once, when it has one).
    func killAll(markInterrupted: Bool = false) {
        lock.lock()
        if markInterrupted { interrupted = true }
        let all = order.compactMap { processes[$0] }
        lock.unlock()
        if markInterrupted { containment.killCgroupNow() }
        for process in all.reversed() { process.handle.signal(SIGKILL) }
    }

    /// Ends the run: kills every process the scenario started (its cgroup, or every process the sweep of
    /// /proc finds to be its own) and every agent, waits for each to exit and reaps whatever is left to the
    /// runner (the root, and orphans re-parented to the runner, a child subreaper). No process of the run
    /// survives.
    func tearDown() {
        lock.lock()
        let root = rootPid
        let agents = (root.map { [$0] } ?? []) + order.compactMap { processes[$0]?.pid }
        lock.unlock()
        containment.holdUntrackedDescendants(of: agents)
        containment.killEverything(root: root)
        killAll()
        lock.lock()
        let all = order.compactMap { processes[$0] }
        lock.unlock()
        // Bounded: SIGKILL ends every process of ours within milliseconds, so a process still there after
        // seconds is not one of ours to wait for (a pid the runner was misled about); the run ends anyway.
        let limit = Deadline(secondsFromNow: 5)
        for process in all { process.handle.waitExit(until: limit) }
        // Everyone has exited, so every zombie's parent is dead and every zombie is the runner's child now.
        for process in all { process.handle.reap() }
        Containment.liveAgents.removeAll(of: containment.marker)
        containment.reap()
        lock.lock()
        processes.removeAll()
        order.removeAll()
        rootPid = nil
        lock.unlock()
        if controlListener >= 0 {
            close(controlListener)
            controlListener = -1
        }
    }
}

/// The private directory of one scenario run, `handoff-<runner pid>-XXXXXX` in the work directory
/// (`--workdir`, else $TMPDIR, else /tmp): `work/` (the agents' working directory, where scenario paths live)
/// and `agents.log` (their stdout and stderr). Removed afterwards; one a SIGKILLed runner left behind is
/// removed by the next run (StaleRuns).
public final class ScenarioDirectory: @unchecked Sendable {
    let path: String
    var name: String { String(path.split(separator: "/").last ?? "") }
    var workPath: String { path + "/work" }
    var logPath: String { path + "/agents.log" }

    init(base: String? = nil) throws(HarnessError) {
        let root = Self.base(base)
        guard let made = StaleRuns.makeFolder(in: root) else { throw .system(call: "mkdtemp in \(root)", errno: errno) }
        path = made
        if mkdir(path + "/work", 0o755) != 0 { throw .system(call: "mkdir", errno: errno) }
    }

    /// Where scenario directories go: `explicit` (--workdir), else $TMPDIR, else /tmp.
    /// Why scenario directories cannot be made under `explicit` (`--workdir`, else $TMPDIR, else /tmp), or nil
    /// when they can: checked before anything runs, since a missing or unwritable base made every scenario an
    /// error one by one (`run` exit 1, `fuzz` "not judged" and exit 0) instead of one usage error.
    public static func problem(base explicit: String?) -> String? {
        let base = base(explicit)
        let origin = explicit.map { $0.isEmpty ? "" : "--workdir " } ?? ""
        let named = (origin.isEmpty && getenv("TMPDIR") != nil ? "$TMPDIR " : origin) + "'\(base)'"
        var status = stat()
        if stat(base, &status) != 0 { return "\(named): \(String(cString: strerror(errno)))" }
        if status.st_mode & S_IFMT != S_IFDIR { return "\(named): not a directory" }
        if access(base, W_OK | X_OK) != 0 { return "\(named): \(String(cString: strerror(errno)))" }
        // Permission bits do not say everything (root passes access() on /proc, where mkdir is ENOENT; a
        // read-only mount; a full inode table): make one folder as the scenarios will, and remove it.
        var template = Array((base + "/handoff-probe-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            return "\(named): a folder cannot be made there: \(String(cString: strerror(errno)))"
        }
        rmdir(made)
        return nil
    }

    static func base(_ explicit: String?) -> String {
        var base = explicit ?? ""
        if base.isEmpty { base = getenv("TMPDIR").map { String(cString: $0) } ?? "" }
        if base.isEmpty { base = "/tmp" }
        while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
        return base
    }

    /// Bytes of the log shown at each end.
    static let excerptBytes = 4096

    /// The agents' log for a report, bounded whatever its size: all of it up to 8 KiB, else its first and
    /// last 4 KiB around a line saying how much was left out. nil when the log is empty.
    func logExcerpt() -> String? {
        let descriptor = open(logPath, O_RDONLY | O_CLOEXEC)
        if descriptor < 0 { return nil }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0, info.st_size > 0 else { return nil }
        let size = Int(info.st_size)
        let part = Self.excerptBytes
        func bytes(at offset: Int, count: Int) -> String {
            var buffer = [UInt8](repeating: 0, count: count)
            var total = 0
            while total < count {
                let read = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + total, count - total, off_t(offset + total)) }
                if read < 0 && errno == EINTR { continue }
                if read <= 0 { break }
                total += read
            }
            return String(decoding: buffer[0..<total], as: UTF8.self)
        }
        if size <= 2 * part { return bytes(at: 0, count: size) }
        return bytes(at: 0, count: part) + "\n[... \(size - 2 * part) bytes of the agents' log left out ...]\n"
            + bytes(at: size - part, count: part)
    }

    /// Bytes kept at each end of the log when it is capped.
    static let logKept = 64 << 10
    /// The log may hold this many bytes on disk before it is capped.
    static let logAllowance = 1 << 20

    /// Caps the disk space the log takes: once it holds more than `logAllowance`, the blocks between its
    /// first and last `logKept` bytes are freed (a hole, reading as zeros). Its size and every offset stay
    /// as they are, so the agents (appending) and the oracle see nothing of it. Best effort: a file system
    /// without hole punching keeps the whole log.
    func capLog() {
        var info = stat()
        guard stat(logPath, &info) == 0, Int(info.st_blocks) * 512 > Self.logAllowance + 2 * Self.logKept else { return }
        let block = 1 << 16
        let start = Self.logKept
        let end = (Int(info.st_size) - Self.logKept) / block * block
        guard end > start else { return }
        let descriptor = open(logPath, O_WRONLY | O_CLOEXEC)
        if descriptor < 0 { return }
        _ = handoff_punch_hole(descriptor, Int64(start), Int64(end - start))
        close(descriptor)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Calls `body` with a NULL-terminated C array of the strings.
func withCStrings<Result>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> Result) -> Result {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for pointer in pointers { free(pointer) } }
    return body(pointers)
}
