import CHandoff
import Foundation
import Glibc
import HandoffProtocol

/// One scenario process: an agent, its control channel and a pidfd (so signals never hit a reused pid).
final class AgentProcess {
    let name: String
    let pid: pid_t
    let pidfd: Int32
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

    init(name: String, hello message: WireMessage, connection: AgentConnection) throws(HarnessError) {
        let hello = try AgentProcess.decode(message, process: name)
        self.name = name
        self.pid = pid_t(hello.pid)
        self.connection = connection
        self.controlNumber = hello.control
        self.arguments = hello.arguments
        self.nofileLimit = Int32(clamping: hello.nofile)
        self.environment = AgentProcess.environment(from: hello)
        self.implementation = hello.implementation
        self.unsupported = hello.unsupported
        // The agent is blocked reading its channel, so it cannot have been reaped: the pid is still its own.
        let opened = handoff_pidfd_open(self.pid, 0)
        if opened < 0 { throw .system(call: "pidfd_open(\(hello.pid))", errno: errno) }
        self.pidfd = opened
        _ = handoff_fcntl_int(opened, F_SETFD, FD_CLOEXEC)
    }

    deinit { close(pidfd) }

    /// Applies a new hello after exec (same pid, same channel).
    func adopt(hello message: WireMessage) throws(HarnessError) {
        let hello = try AgentProcess.decode(message, process: name)
        guard hello.pid == Int32(pid) else {
            throw .protocolViolation(process: name, detail: "hello after exec from pid \(hello.pid), expected \(pid)")
        }
        controlNumber = hello.control
        arguments = hello.arguments
        nofileLimit = Int32(clamping: hello.nofile)
        environment = AgentProcess.environment(from: hello)
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

    var hasExited: Bool {
        var entry = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 0) > 0
    }

    /// Why the process ended, read from /proc/PID/stat (field 52, exit_code) while it is a zombie.
    func endReason() -> String {
        guard let code = ProcessStatus.read(pid)?.exitCode else { return "it has ended" }
        return describeWaitStatus(code)
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
    let directory: ScenarioDirectory

    init(agentPath: String, directory: ScenarioDirectory) {
        self.agentPath = agentPath
        self.directory = directory
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

    private func register(_ process: AgentProcess) {
        lock.lock()
        processes[process.name] = process
        order.append(process.name)
        let kill = interrupted
        lock.unlock()
        if kill { _ = handoff_pidfd_send_signal(process.pidfd, SIGKILL) }
    }

    /// Spawns the root agent on a clean table: stdin /dev/null, stdout+stderr to the agent log, the
    /// control channel, nothing else.
    func spawnRoot(name: String, deadline: Deadline, timeout: Double) throws(HarnessError) -> AgentProcess {
        var ends: [Int32] = [-1, -1]
        if socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) != 0 {
            throw .system(call: "socketpair", errno: errno)
        }
        let connection = AgentConnection(descriptor: ends[0], process: name)
        defer { close(ends[1]) }
        let log = open(directory.logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        if log < 0 { throw .system(call: "open \(directory.logPath)", errno: errno) }
        defer { close(log) }
        let environment = [
            "PATH=/usr/local/bin:/usr/bin:/bin",
            "\(AgentEnvironment.controlDescriptor)=3",
            "\(AgentEnvironment.expectedParent)=\(getpid())",
        ]
        var pid: pid_t = 0
        let spawned = withCStrings([agentPath]) { argv in
            withCStrings(environment) { envp in
                handoff_spawn_clean(agentPath, argv, envp, ends[1], log, directory.workPath, &pid)
            }
        }
        if spawned != 0 { throw .system(call: "posix_spawn \(agentPath)", errno: spawned) }
        let hello: WireMessage
        do {
            hello = try connection.receive(until: deadline, timeoutSeconds: timeout).0
        } catch {
            Glibc.kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            throw error
        }
        let process = try AgentProcess(name: name, hello: hello, connection: connection)
        register(process)
        return process
    }

    /// Registers the child created by a fork request, whose channel arrived with the answer.
    func adoptChild(name: String, channel: Int32, deadline: Deadline, timeout: Double) throws(HarnessError)
        -> AgentProcess
    {
        let connection = AgentConnection(descriptor: channel, process: name)
        let hello = try connection.receive(until: deadline, timeoutSeconds: timeout).0
        let process = try AgentProcess(name: name, hello: hello, connection: connection)
        register(process)
        return process
    }

    /// The address for `HANDOFF_CONTROL_SOCKET`: a SOCK_SEQPACKET listener in the scenario's directory.
    func controlSocketPath() throws(HarnessError) -> String {
        let path = directory.path + "/control.sock"
        if controlListener >= 0 { return path }
        var bound: Int32 = 0
        let listener = handoff_listen(Int32(HANDOFF_ADDRESS_UNIX), path, 0,
                                      Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 64, &bound)
        if listener < 0 { throw .system(call: "listen on \(path)", errno: errno) }
        controlListener = listener
        return path
    }

    /// Adopts the next agent that called back through the control socket (started by a launcher).
    func adoptAttached(name: String, deadline: Deadline, timeout: Double) throws(HarnessError) -> AgentProcess {
        guard controlListener >= 0 else {
            throw .protocolViolation(process: name, detail: "no launcher was given the control socket")
        }
        if !waitReadable(controlListener, until: deadline) { throw .timedOut(process: name, seconds: timeout) }
        let channel = handoff_accept4(controlListener, Int32(SOCK_CLOEXEC.rawValue))
        if channel < 0 { throw .system(call: "accept on the control socket", errno: errno) }
        return try adoptChild(name: name, channel: channel, deadline: deadline, timeout: timeout)
    }

    /// Waits until the named processes have exited (their tables are released), or the deadline passes.
    func awaitExit(_ names: [String], until deadline: Deadline, timeout: Double) throws(HarnessError) {
        for name in names {
            guard let process = self[name] else { continue }
            if !waitReadable(process.pidfd, until: deadline) { throw .timedOut(process: name, seconds: timeout) }
        }
    }

    /// Sends SIGKILL to every agent (from the interrupt handler's thread too).
    func killAll(markInterrupted: Bool = false) {
        lock.lock()
        if markInterrupted { interrupted = true }
        let all = order.compactMap { processes[$0] }
        lock.unlock()
        for process in all.reversed() { _ = handoff_pidfd_send_signal(process.pidfd, SIGKILL) }
    }

    /// Ends the run: kills every agent, waits for each to exit and reaps whatever is left to the runner
    /// (the root, and orphans re-parented to the runner, a child subreaper). No process of the run survives.
    func tearDown() {
        killAll()
        lock.lock()
        let all = order.compactMap { processes[$0] }
        lock.unlock()
        for process in all {
            var entry = pollfd(fd: process.pidfd, events: Int16(POLLIN), revents: 0)
            while poll(&entry, 1, -1) < 0 && errno == EINTR {}
        }
        // Everyone has exited, so every zombie's parent is dead and every zombie is the runner's child now.
        for process in all {
            var status: Int32 = 0
            while handoff_waitid_pidfd(process.pidfd, 0, &status) < 0 && errno == EINTR {}
        }
        lock.lock()
        processes.removeAll()
        order.removeAll()
        lock.unlock()
        if controlListener >= 0 {
            close(controlListener)
            controlListener = -1
        }
    }
}

/// The private directory of one scenario run: `work/` (the agents' working directory, where scenario paths
/// live) and `agents.log` (their stdout and stderr). Removed afterwards.
final class ScenarioDirectory {
    let path: String
    var workPath: String { path + "/work" }
    var logPath: String { path + "/agents.log" }

    init() throws(HarnessError) {
        var template = Array("/tmp/handoff-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        if created == nil { throw .system(call: "mkdtemp", errno: errno) }
        path = String(cString: template)
        if mkdir(path + "/work", 0o755) != 0 { throw .system(call: "mkdir", errno: errno) }
    }

    var log: String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
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
