// handoff-agent: the puppet inside every scenario process.
//
// It reads one request at a time from its control channel, performs exactly that operation with the raw
// system call, and answers with the outcome. It is single-threaded and synchronous (it forks), links no
// Foundation (start-up time), and opens nothing for itself beyond its control channel, which sits at a
// reserved high number with close-on-exec set, so that the scenario's descriptor numbering and the
// oracle's view of the table are undisturbed. docs/protocol.md describes the protocol.

import CHandoff
import Glibc
import HandoffProtocol

// `handoff-agent --probe clone-files`: feature probes that need a fork, which the runner must never do.
if CommandLine.arguments.count == 3 && CommandLine.arguments[1] == "--probe" {
    probe(CommandLine.arguments[2])
}
var agent = Agent.start()
agent.serve()

/// Prints `ok` or why not, and exits.
func probe(_ feature: String) -> Never {
    var answer = "unknown probe"
    if feature == "clone-files" {
        let child = handoff_clone_files()
        if child == 0 { _exit(0) }
        if child < 0 {
            answer = "errno \(errno)"
        } else {
            var status: Int32 = 0
            waitpid(pid_t(child), &status, 0)
            answer = "ok"
        }
    }
    let line = Array((answer + "\n").utf8)
    _ = line.withUnsafeBytes { Glibc.write(1, $0.baseAddress, $0.count) }
    _exit(0)
}

struct Agent {
    /// The control channel's current number (moves only if a scenario dup2()s onto it).
    var control: Int32
    /// While a loop runs, answers are kept (in lastCaptured) instead of being sent.
    var capturing = false
    var arguments: [String]
    var buffer = [UInt8](repeating: 0, count: maximumPacketSize)

    static func start() -> Agent {
        // Writes to a broken pipe must fail with EPIPE, not kill the process: the model predicts EPIPE.
        signal(SIGPIPE, SIG_IGN)
        var inherited = environmentInt(AgentEnvironment.controlDescriptor) ?? 3
        if let expectedParent = environmentInt(AgentEnvironment.expectedParent) {
            _ = handoff_set_parent_death_signal(SIGKILL)
            if getppid() != pid_t(expectedParent) { _exit(70) }
        } else if let address = getenv(AgentEnvironment.controlSocket) {
            // Started by a program handoff does not control (a launcher under test): call the runner back.
            _ = handoff_set_parent_death_signal(SIGKILL)
            inherited = connectToRunner(String(cString: address))
        }
        let control = placeControlChannel(inherited)
        var agent = Agent(control: control, arguments: CommandLine.arguments)
        agent.sendHello()
        return agent
    }

    /// A control channel to the runner's listening socket at `path`.
    static func connectToRunner(_ path: String) -> Int32 {
        let channel = handoff_connect(Int32(HANDOFF_ADDRESS_UNIX), path, 0,
                                      Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
        if channel < 0 { fatal("cannot reach the runner at \(path)") }
        return channel
    }

    /// Moves the inherited channel to the reserved number (close-on-exec) and frees the old number.
    static func placeControlChannel(_ inherited: Int32) -> Int32 {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        let reserved = Int32(min(UInt64(preferredControlDescriptor), UInt64(limit.rlim_cur) - 1))
        if inherited == reserved {
            _ = handoff_fcntl_int(reserved, F_SETFD, FD_CLOEXEC)
            return reserved
        }
        if handoff_dup3(inherited, reserved, O_CLOEXEC) < 0 { fatal("cannot place control channel") }
        close(inherited)
        return reserved
    }

    func sendHello() {
        var hello = WireMessage(AgentHello.verb)
        hello.set("pid", Int32(getpid()))
        hello.set("ppid", Int32(getppid()))
        hello.set("ctl", control)
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        hello.set("nofile", Int64(limit.rlim_cur))
        hello.set("argv", byteLists: arguments.dropFirst().map { Array($0.utf8) })
        var variables: [[UInt8]] = []
        var entry = environ
        while let pointer = entry.pointee {
            variables.append(Array(String(cString: pointer).utf8))
            entry += 1
        }
        hello.set("env", byteLists: variables)
        reply(hello)
    }

    mutating func serve() -> Never {
        while true {
            let received = recv(control, &buffer, buffer.count, 0)
            if received <= 0 {
                if received < 0 && errno == EINTR { continue }
                _exit(0)  // the runner is gone
            }
            guard let request = WireMessage.decode(buffer[0..<received]) else {
                reply(WireMessage("bad", [("reason", Hex.encode(Array("unparsable request".utf8)))]))
                continue
            }
            handle(request)
        }
    }

    func reply(_ message: WireMessage, passing descriptor: Int32? = nil) {
        if capturing {
            Agent.capture(message)
            return
        }
        let bytes = message.encoded()
        let sent: Int
        if var descriptor {
            sent = bytes.withUnsafeBytes { handoff_send_fds(control, &descriptor, 1, $0.baseAddress, $0.count, noSignal) }
        } else {
            sent = bytes.withUnsafeBytes { send(control, $0.baseAddress, $0.count, noSignal) }
        }
        if sent < 0 { _exit(0) }  // the runner is gone
    }

    func bad(_ reason: String) {
        reply(WireMessage("bad", [("reason", Hex.encode(Array(reason.utf8)))]))
    }

    // MARK: - Dispatch

    mutating func handle(_ request: WireMessage) {
        guard let verb = AgentVerb(rawValue: request.verb) else { return bad("unknown verb \(request.verb)") }
        // A descriptor argument equal to a control channel must behave as if that number were free: the
        // model never sees channels. `hidden` lists other agents' channels in a table shared with this one.
        let channel = control
        let foreign = request.ints("hidden") ?? []
        func fd(_ key: String) -> Int32? { request.int32(key) }
        func isChannel(_ key: String) -> Bool { fd(key).map { $0 == channel || foreign.contains($0) } ?? false }

        switch verb {
        case .open:
            guard let path = request.bytes("path"), let flags = request.int32("flags"), let mode = request.int32("mode")
            else { return bad("open needs path, flags, mode") }
            let name = String(decoding: path, as: UTF8.self)
            answer(timed { open(name, flags, mode_t(mode)) }, producesDescriptor: true)
        case .pipe:
            guard let flags = request.int32("flags") else { return bad("pipe needs flags") }
            var ends: [Int32] = [-1, -1]
            let result = timed { handoff_pipe2(&ends, flags) }
            answer(result, fds: result.value == 0 ? ends : [])
        case .socketpair:
            guard let type = request.int32("type") else { return bad("socketpair needs type") }
            var ends: [Int32] = [-1, -1]
            let result = timed { socketpair(AF_UNIX, type, 0, &ends) }
            answer(result, fds: result.value == 0 ? ends : [])
        case .memfd:
            guard let name = request.bytes("name"), let flags = request.int32("flags") else { return bad("memfd needs name, flags") }
            let text = String(decoding: name, as: UTF8.self)
            answer(timed { handoff_memfd_create(text, UInt32(bitPattern: flags)) }, producesDescriptor: true)
        case .eventfd:
            guard let initial = request.int32("initial"), let flags = request.int32("flags") else {
                return bad("eventfd needs initial, flags")
            }
            answer(timed { handoff_eventfd(UInt32(bitPattern: initial), flags) }, producesDescriptor: true)
        case .dup:
            guard let old = fd("fd") else { return bad("dup needs fd") }
            if isChannel("fd") { return answer(failure: EBADF) }
            answer(timed { dup(old) }, producesDescriptor: true)
        case .dup2, .dup3:
            guard let old = fd("fd"), let target = fd("target") else { return bad("dup2/dup3 need fd, target") }
            let flags = request.int32("flags") ?? 0
            if isChannel("fd") && !(verb == .dup3 && (flags & ~O_CLOEXEC) != 0) && !(verb == .dup3 && old == target) {
                return answer(failure: EBADF)
            }
            var moved: Int32?
            if foreign.contains(target) { return bad("dup2 onto another agent's control channel is not supported") }
            if target == channel && old != channel { moved = moveControlChannel() }
            let result = verb == .dup2 ? timed { dup2(old, target) } : timed { handoff_dup3(old, target, flags) }
            answer(result, producesDescriptor: true, movedControl: moved)
        case .fcntl:
            guard let descriptor = fd("fd"), let command = request.int32("cmd") else { return bad("fcntl needs fd, cmd") }
            let argument = request.int32("arg") ?? 0
            if isChannel("fd") { return answer(failure: EBADF) }
            let producing = command == F_DUPFD || command == F_DUPFD_CLOEXEC
            answer(timed { handoff_fcntl_int(descriptor, command, argument) }, producesDescriptor: producing)
        case .close:
            guard let descriptor = fd("fd") else { return bad("close needs fd") }
            if isChannel("fd") { return answer(failure: EBADF) }
            answer(timed { close(descriptor) })
        case .closeRange:
            guard let first = request.uint64("first"), let last = request.uint64("last"), let flags = request.int32("flags")
            else { return bad("close_range needs first, last, flags") }
            let result = closeRangeAroundChannels(UInt32(first), UInt32(last), UInt32(bitPattern: flags), foreign)
            // CLOSE_RANGE_UNSHARE leaves a private table that still holds the other agents' channels.
            if flags & 2 != 0 && result.value == 0 { for number in foreign { close(number) } }
            answer(result)
        case .lseek:
            guard let descriptor = fd("fd"), let offset = request.int64("offset"), let whence = request.int32("whence")
            else { return bad("lseek needs fd, offset, whence") }
            if isChannel("fd") { return answer(failure: EBADF) }
            answer(timed { lseek(descriptor, off_t(offset), whence) })
        case .read:
            guard let descriptor = fd("fd"), let count = request.int("count") else { return bad("read needs fd, count") }
            if isChannel("fd") { return answer(failure: EBADF) }
            var data = [UInt8](repeating: 0, count: max(count, 1))
            let result = timed { Glibc.read(descriptor, &data, count) }
            answer(result, data: result.value >= 0 ? Array(data[0..<result.value]) : nil)
        case .write:
            guard let descriptor = fd("fd"), let data = request.bytes("data") else { return bad("write needs fd, data") }
            if isChannel("fd") { return answer(failure: EBADF) }
            answer(timed { data.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) } })
        case .send:
            guard let socket = fd("fd"), var descriptors = request.ints("fds"), let data = request.bytes("data")
            else { return bad("send needs fd, fds, data") }
            if isChannel("fd") || descriptors.contains(where: { $0 == channel || foreign.contains($0) }) {
                return answer(failure: EBADF)
            }
            let count = Int32(descriptors.count)
            let result = timed {
                data.withUnsafeBytes { bytes in
                    handoff_send_fds(socket, &descriptors, count, bytes.baseAddress, bytes.count, noSignal)
                }
            }
            answer(result)
        case .recv:
            guard let socket = fd("fd"), let count = request.int("count"), let room = request.int32("room"),
                let flags = request.int32("flags")
            else { return bad("recv needs fd, count, room, flags") }
            if isChannel("fd") { return answer(failure: EBADF) }
            var data = [UInt8](repeating: 0, count: max(count, 1))
            var received = [Int32](repeating: -1, count: 512)
            var receivedCount: Int32 = 0
            var messageFlags: Int32 = 0
            let result = timed {
                handoff_recv_fds(socket, &data, count, room, flags, &received, Int32(received.count), &receivedCount,
                                 &messageFlags)
            }
            var reply = outcome(result, fds: Array(received[0..<Int(receivedCount)]))
            if result.value >= 0 {
                reply.set("d", bytes: Array(data[0..<result.value]))
                reply.set("mf", messageFlags)
            }
            self.reply(reply)
        case .fork:
            fork(sharingTable: false, foreign: foreign)
        case .cloneFiles:
            fork(sharingTable: true, foreign: foreign)
        case .unshareFiles:
            let result = timed { handoff_unshare_files() }
            if result.value == 0 { for number in foreign { close(number) } }
            answer(result)
        case .listen, .connect:
            guard let address = request["addr"], let type = request.int32("type") else { return bad("needs addr, type") }
            guard let (kind, name, port) = Agent.parseAddress(address) else { return bad("bad address \(address)") }
            var bound: Int32 = 0
            let backlog = request.int32("backlog") ?? 16
            let result = verb == .listen
                ? timed { handoff_listen(kind, name, port, type, backlog, &bound) }
                : timed { handoff_connect(kind, name, port, type) }
            var reply = outcome(result, fds: result.value >= 0 ? [Int32(result.value)] : [])
            if verb == .listen && result.value >= 0 && kind == Int32(HANDOFF_ADDRESS_TCP) { reply.set("port", bound) }
            self.reply(reply)
        case .accept:
            guard let socket = fd("fd"), let flags = request.int32("flags") else { return bad("accept needs fd, flags") }
            if isChannel("fd") { return answer(failure: EBADF) }
            answer(timed { handoff_accept4(socket, flags) }, producesDescriptor: true)
        case .setrlimit:
            guard let nofile = request.uint64("nofile") else { return bad("setrlimit needs nofile") }
            var limit = rlimit()
            getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            limit.rlim_cur = rlim_t(nofile)
            answer(timed { setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) })
        case .dropCapability:
            guard let name = request.bytes("name") else { return bad("drop_capability needs name") }
            let number = handoff_capability_from_name(String(decoding: name, as: UTF8.self))
            if number < 0 { return answer(failure: EINVAL) }
            answer(timed { handoff_drop_capability(number) })
        case .setDumpable:
            guard let value = request.int32("value") else { return bad("set_dumpable needs value") }
            answer(timed { handoff_set_dumpable(value) })
        case .reopen:
            guard let pid = request.int32("pid"), let target = fd("fd"), let flags = request.int32("flags")
            else { return bad("reopen needs pid, fd, flags") }
            // The target's channel is invisible: /proc/PID/fd/N of it must look like a free number.
            if let targetChannel = request.int32("tctl"), target == targetChannel { return answer(failure: ENOENT) }
            let path = "/proc/\(pid)/fd/\(target)"
            answer(timed { open(path, flags, 0) }, producesDescriptor: true)
        case .exec:
            guard let arguments = request.byteLists("args") else { return bad("exec needs args") }
            let environment = (request.byteLists("env") ?? []).map { String(decoding: $0, as: UTF8.self) }
            exec(arguments.map { String(decoding: $0, as: UTF8.self) }, environment: environment)
        case .launch:
            guard let path = request.bytes("path"), let arguments = request.byteLists("args") else {
                return bad("launch needs path, args")
            }
            let environment = (request.byteLists("env") ?? []).map { String(decoding: $0, as: UTF8.self) }
            launch(String(decoding: path, as: UTF8.self), arguments.map { String(decoding: $0, as: UTF8.self) },
                   environment: environment)
        case .exit:
            guard let status = request.int32("status") else { return bad("exit needs status") }
            _exit(status)
        case .wait:
            guard let pid = request.int32("pid") else { return bad("wait needs pid") }
            var status: Int32 = 0
            let result = timed { waitpid(pid_t(pid), &status, 0) }
            var reply = outcome(Timed(value: Int(result.value), errno: result.errno, nanoseconds: result.nanoseconds))
            if result.value > 0 { reply.set("st", status) }
            self.reply(reply)
        case .pidfdOpen:
            guard let pid = request.int32("pid") else { return bad("pidfd_open needs pid") }
            answer(timed { handoff_pidfd_open(pid_t(pid), 0) }, producesDescriptor: true)
        case .pidfdGetfd:
            guard let pid = request.int32("pid"), let target = fd("fd"), let flags = request.int32("flags")
            else { return bad("pidfd_getfd needs pid, fd, flags") }
            // The target's control channel is as invisible as our own.
            if let targetChannel = request.int32("tctl"), target == targetChannel, flags == 0 {
                return answer(failure: EBADF)
            }
            // A transient pidfd, moved above the scenario's numbers before the measured call.
            let opened = handoff_pidfd_open(pid_t(pid), 0)
            if opened < 0 { return answer(failure: errno) }
            let pidfd = moveHigh(opened)
            let result = timed { handoff_pidfd_getfd(pidfd, target, UInt32(bitPattern: flags)) }
            close(pidfd)
            answer(result, producesDescriptor: true)
        case .channel:
            bad("channel is sent by agents, not to them")
        case .loop:
            guard let count = request.int("count"), let ops = request.byteLists("ops"), let expected = request.ints("expect"),
                expected.count == ops.count
            else { return bad("loop needs count, ops, expect") }
            runLoop(count: count, ops: ops.compactMap { WireMessage.decode($0) }, expected: expected)
        case .release:
            guard let numbers = request.ints("fds"), !numbers.contains(channel) else { return bad("release needs fds") }
            for number in numbers { close(number) }
            answer(Timed(value: 0, errno: 0, nanoseconds: 0))
        case .argument:
            guard let index = request.int("index") else { return bad("argument needs index") }
            if index < 1 || index >= arguments.count { return bad("no argv[\(index)]") }
            guard let number = Int32(arguments[index]) else { return bad("argv[\(index)] is not a number") }
            var reply = WireMessage("ok")
            reply.set("r", number)
            reply.set("e", 0)
            self.reply(reply)
        }
    }

    // MARK: - Loops

    /// Where a captured answer lands (reply() is non-mutating; the loop reads it back). The agent is
    /// single-threaded, so the unsynchronised static is safe.
    nonisolated(unsafe) static var lastCaptured: WireMessage?
    static func capture(_ message: WireMessage) { lastCaptured = message }

    mutating func runLoop(count: Int, ops: [WireMessage], expected: [Int32]) {
        // The hot operations are compiled to direct system calls; the rest go through the request handler.
        let compiled = ops.map { LoopStep.compile($0, channel: control) }
        if compiled.allSatisfy({ $0 != nil }) {
            return runCompiledLoop(count: count, steps: compiled.map { $0! }, expected: expected)
        }
        var locals = [Int32](repeating: -1, count: 64)
        var histograms = [[UInt32]](repeating: [UInt32](repeating: 0, count: LatencyBuckets.count), count: ops.count)
        var failures = 0
        var firstFailure = ""
        // Fields that name a slot (`@N`), found once.
        let slotted: [[(index: Int, value: String)]] = ops.map { op in
            op.fields.enumerated().filter { $0.element.value.contains("@") }.map { ($0.offset, $0.element.value) }
        }
        let slotsOut: [[Int]] = ops.map { op in (op["as"] ?? "").split(separator: ",").map { Int($0) ?? -1 } }
        let started = monotonicNanoseconds()
        capturing = true
        for iteration in 0..<count {
            for (index, template) in ops.enumerated() {
                var op = template
                for (field, value) in slotted[index] {
                    op.fields[field].value = value.split(separator: ",", omittingEmptySubsequences: false).map { part in
                        part.hasPrefix("@") ? String(locals[Int(part.dropFirst()) ?? 0]) : String(part)
                    }.joined(separator: ",")
                }
                Agent.lastCaptured = nil
                handle(op)
                guard let answer = Agent.lastCaptured, answer.verb == "ok" else {
                    failures += 1
                    if firstFailure.isEmpty { firstFailure = "iteration \(iteration + 1), step \(index + 1): refused" }
                    continue
                }
                histograms[index][LatencyBuckets.bucket(answer.uint64("ns") ?? 0)] &+= 1
                let errno = answer.int32("e") ?? 0
                if errno != expected[index] {
                    failures += 1
                    if firstFailure.isEmpty {
                        firstFailure = "iteration \(iteration + 1), step \(index + 1): errno \(errno), expected \(expected[index])"
                    }
                }
                if !slotsOut[index].isEmpty {
                    let produced = answer.ints("fds") ?? []
                    for (position, slot) in slotsOut[index].enumerated() where slot >= 0 && slot < locals.count {
                        locals[slot] = position < produced.count ? produced[position] : -1
                    }
                }
            }
        }
        capturing = false
        reply(Agent.loopAnswer(count: count, failures: failures, firstFailure: firstFailure,
                               elapsed: monotonicNanoseconds() - started, histograms: histograms, locals: locals))
    }

    /// The one answer to a loop: counts, the first failure, wall time, per-step histograms, final slots.
    static func loopAnswer(count: Int, failures: Int, firstFailure: String, elapsed: UInt64, histograms: [[UInt32]],
                           locals: [Int32]) -> WireMessage {
        var message = WireMessage("ok")
        message.set("r", 0)
        message.set("e", 0)
        message.set("iterations", count)
        message.set("failures", failures)
        message.set("first", bytes: Array(firstFailure.utf8))
        message.set("wall", elapsed)
        message.set("hist", histograms.map { buckets in
            buckets.enumerated().filter { $0.element > 0 }.map { "\($0.offset):\($0.element)" }.joined(separator: ",")
        }.joined(separator: ";"))
        message.set("locals", ints: locals)
        return message
    }

    /// The same loop as runLoop, for programs made only of compiled steps: no message is built per call.
    func runCompiledLoop(count: Int, steps: [LoopStep], expected: [Int32]) {
        var locals = [Int32](repeating: -1, count: 64)
        var histograms = [[UInt32]](repeating: [UInt32](repeating: 0, count: LatencyBuckets.count), count: steps.count)
        var failures = 0
        var firstFailure = ""
        var buffer = [UInt8](repeating: 0, count: 4096)
        var received = [Int32](repeating: -1, count: 256)
        let started = monotonicNanoseconds()
        for iteration in 0..<count {
            for index in steps.indices {
                let (errno, nanoseconds) = steps[index].run(&locals, &buffer, &received)
                histograms[index][LatencyBuckets.bucket(nanoseconds)] &+= 1
                if errno != expected[index] {
                    failures += 1
                    if firstFailure.isEmpty {
                        firstFailure = "iteration \(iteration + 1), step \(index + 1): errno \(errno), expected \(expected[index])"
                    }
                }
            }
        }
        reply(Agent.loopAnswer(count: count, failures: failures, firstFailure: firstFailure,
                               elapsed: monotonicNanoseconds() - started, histograms: histograms, locals: locals))
    }

    // MARK: - Process operations

    /// `fork`, or `clone(CLONE_FILES)` when `sharingTable`. `foreign`: other agents' channels in this
    /// table, which a forked child (a private copy) must close.
    mutating func fork(sharingTable: Bool, foreign: [Int32]) {
        var ends: [Int32] = [-1, -1]
        if socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) != 0 {
            return answer(failure: errno)
        }
        let parentEnd = moveHigh(ends[0])
        let childEnd = moveHigh(ends[1])
        let parent = getpid()
        let result = sharingTable ? timed { handoff_clone_files() } : timed { Glibc.fork() }
        if result.value == 0 && sharingTable {
            // The child shares the parent's table: its channel is its own end where it already is, and
            // nothing may be closed here (it would close it for the parent too).
            control = childEnd
            _ = handoff_set_parent_death_signal(SIGKILL)
            if getppid() != parent { _exit(0) }
            sendHello()
            return
        }
        if result.value == 0 {
            // The child: its own channel replaces the inherited copy of the parent's, at the same number.
            if handoff_dup3(childEnd, control, O_CLOEXEC) < 0 { _exit(71) }
            close(childEnd)
            close(parentEnd)
            for number in foreign { close(number) }
            _ = handoff_set_parent_death_signal(SIGKILL)
            if getppid() != parent { _exit(0) }
            sendHello()
            return  // back to serve(), now as the child
        }
        if !sharingTable || result.value < 0 { close(childEnd) }
        if result.value > 0 {
            // The runner's end travels in a message of its own and is closed here before the answer, so
            // that when the runner sees the answer this table holds nothing but the scenario's descriptors.
            reply(WireMessage(AgentVerb.channel.rawValue), passing: parentEnd)
        }
        close(parentEnd)
        reply(outcome(Timed(value: Int(result.value), errno: result.errno, nanoseconds: result.nanoseconds)))
    }

    func exec(_ newArguments: [String], environment: [String]) {
        setEnvironment(environment)
        // The channel must survive this one exec; the new image sets close-on-exec again at start.
        _ = handoff_fcntl_int(control, F_SETFD, 0)
        setenv(AgentEnvironment.controlDescriptor, String(control), 1)
        setenv(AgentEnvironment.expectedParent, String(getppid()), 1)
        let failure = execute("/proc/self/exe", argv0: arguments.first ?? "handoff-agent", newArguments)
        _ = handoff_fcntl_int(control, F_SETFD, FD_CLOEXEC)
        answer(failure)
    }

    /// execve of a launcher under test. The channel stays close-on-exec, so it closes when exec succeeds.
    func launch(_ path: String, _ newArguments: [String], environment: [String]) {
        setEnvironment(environment)
        // What the agent's own exec relies on must not reach the agents the launcher starts.
        unsetenv(AgentEnvironment.controlDescriptor)
        unsetenv(AgentEnvironment.expectedParent)
        answer(execute(path, argv0: path, newArguments))
    }

    func setEnvironment(_ variables: [String]) {
        for variable in variables {
            guard let equals = variable.firstIndex(of: "=") else { continue }
            setenv(String(variable[..<equals]), String(variable[variable.index(after: equals)...]), 1)
        }
    }

    /// execv; returns only on failure, with its errno and duration.
    func execute(_ path: String, argv0: String, _ newArguments: [String]) -> Timed {
        var cArguments: [UnsafeMutablePointer<CChar>?] = ([argv0] + newArguments).map { strdup($0) }
        cArguments.append(nil)
        let started = monotonicNanoseconds()
        execv(path, cArguments)
        let failed = errno
        let elapsed = monotonicNanoseconds() - started
        for pointer in cArguments { free(pointer) }
        return Timed(value: -1, errno: failed, nanoseconds: elapsed)
    }

    // MARK: - Keeping the control channel out of the way

    /// Copies `descriptor` above every number a scenario uses (close-on-exec) and closes the original.
    func moveHigh(_ descriptor: Int32) -> Int32 {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        var minimum = control + 1
        if UInt64(minimum) >= UInt64(limit.rlim_cur) { minimum = Int32(max(0, Int64(limit.rlim_cur) - 64)) }
        let moved = handoff_fcntl_int(descriptor, F_DUPFD_CLOEXEC, minimum)
        if moved < 0 { return descriptor }
        close(descriptor)
        return moved
    }

    /// A scenario dup2()s onto the channel's number: the channel moves first, and the runner is told.
    mutating func moveControlChannel() -> Int32 {
        let moved = handoff_fcntl_int(control, F_DUPFD_CLOEXEC, control + 1)
        if moved < 0 { fatal("cannot move control channel") }
        control = moved  // dup2 onto the old number then closes the old copy
        return moved
    }

    /// close_range across control channels closes everything in the range but the channels: one call per
    /// gap between them. CLOSE_RANGE_CLOEXEC alone needs no split (channels are close-on-exec already).
    func closeRangeAroundChannels(_ first: UInt32, _ last: UInt32, _ flags: UInt32, _ foreign: [Int32]) -> Timed {
        let marksOnly = (flags & 4) != 0 && (flags & 2) == 0
        let inside = ([control] + foreign).map { UInt32($0) }.filter { $0 >= first && $0 <= last }.sorted()
        if marksOnly || first > last || inside.isEmpty {
            return timed { handoff_close_range(first, last, flags) }
        }
        var total: UInt64 = 0
        var start = first
        for channel in inside + [last &+ 1] {
            if channel > start {
                let end = channel == last &+ 1 ? last : channel - 1
                let part = timed { handoff_close_range(start, end, flags) }
                total += part.nanoseconds
                if part.value != 0 { return Timed(value: part.value, errno: part.errno, nanoseconds: total) }
            }
            if channel == last &+ 1 { break }
            start = channel + 1
        }
        return Timed(value: 0, errno: 0, nanoseconds: total)
    }

    /// `unix:HEX`, `abstract:HEX`, `tcp:PORT`.
    static func parseAddress(_ text: String) -> (Int32, String, Int32)? {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let kind = text[..<colon]
        let value = text[text.index(after: colon)...]
        switch kind {
        case "unix", "abstract":
            guard let bytes = Hex.decode(value) else { return nil }
            let code = kind == "unix" ? Int32(HANDOFF_ADDRESS_UNIX) : Int32(HANDOFF_ADDRESS_ABSTRACT)
            return (code, String(decoding: bytes, as: UTF8.self), 0)
        case "tcp":
            guard let port = Int32(value) else { return nil }
            return (Int32(HANDOFF_ADDRESS_TCP), "", port)
        default:
            return nil
        }
    }

    // MARK: - Answers

    func outcome(_ result: Timed, fds: [Int32] = []) -> WireMessage {
        var message = WireMessage("ok")
        message.set("r", result.value)
        message.set("e", result.value < 0 ? result.errno : 0)
        message.set("fds", ints: fds)
        message.set("ns", result.nanoseconds)
        return message
    }

    func answer(_ result: Timed, producesDescriptor: Bool = false, fds: [Int32]? = nil, data: [UInt8]? = nil,
                movedControl: Int32? = nil) {
        let produced = fds ?? (producesDescriptor && result.value >= 0 ? [Int32(result.value)] : [])
        var message = outcome(result, fds: produced)
        if let data { message.set("d", bytes: data) }
        if let movedControl { message.set("ctl", movedControl) }
        reply(message)
    }

    func answer(failure errno: Int32) {
        answer(Timed(value: -1, errno: errno, nanoseconds: 0))
    }
}

/// A system call's result, its errno (meaningful when the result is negative) and its duration.
struct Timed {
    var value: Int
    var errno: Int32
    var nanoseconds: UInt64
}

@inline(__always)
func timed(_ call: () -> Int32) -> Timed {
    let started = monotonicNanoseconds()
    let value = call()
    let saved = errno
    return Timed(value: Int(value), errno: saved, nanoseconds: monotonicNanoseconds() - started)
}

@inline(__always)
func timed(_ call: () -> Int) -> Timed {
    let started = monotonicNanoseconds()
    let value = call()
    let saved = errno
    return Timed(value: value, errno: saved, nanoseconds: monotonicNanoseconds() - started)
}

@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

let noSignal = Int32(MSG_NOSIGNAL)

func environmentInt(_ name: String) -> Int32? {
    guard let value = getenv(name) else { return nil }
    return Int32(String(cString: value))
}

func fatal(_ message: String) -> Never {
    let line = Array("handoff-agent: \(message) (errno \(errno))\n".utf8)
    _ = line.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    _exit(70)
}

/// A loop operation compiled to its system call: arguments parsed once, descriptors either numbers or
/// loop slots. Only what stress loops spend their time on; anything else runs through the handler.
enum LoopStep {
    enum Argument {
        case number(Int32)
        case slot(Int)

        @inline(__always) func value(_ locals: [Int32]) -> Int32 {
            switch self {
            case .number(let number): return number
            case .slot(let slot): return locals[slot]
            }
        }

        static func parse(_ text: Substring) -> Argument? {
            if text.hasPrefix("@") { return Int(text.dropFirst()).map { .slot($0) } }
            return Int32(text).map { .number($0) }
        }
    }

    case send(socket: Argument, fds: [Argument], data: [UInt8])
    case recv(socket: Argument, count: Int, room: Int32, flags: Int32, out: [Int])
    case close(Argument)
    case dup(Argument, out: Int?)
    case dup2(Argument, Argument, out: Int?)
    case write(Argument, [UInt8])
    case read(Argument, Int)

    /// nil when the request is not one of these, or names the control channel (the handler knows what to do).
    static func compile(_ request: WireMessage, channel: Int32) -> LoopStep? {
        func argument(_ key: String) -> Argument? {
            guard let text = request[key], let parsed = Argument.parse(text[...]) else { return nil }
            if case .number(let number) = parsed, number == channel { return nil }
            return parsed
        }
        let out = (request["as"] ?? "").split(separator: ",").map { Int($0) ?? -1 }
        switch AgentVerb(rawValue: request.verb) {
        case .send:
            guard let socket = argument("fd"), let data = request.bytes("data"), let list = request["fds"] else { return nil }
            var fds: [Argument] = []
            for part in list.split(separator: ",") {
                guard let parsed = Argument.parse(part) else { return nil }
                if case .number(let number) = parsed, number == channel { return nil }
                fds.append(parsed)
            }
            return .send(socket: socket, fds: fds, data: data)
        case .recv:
            guard let socket = argument("fd"), let count = request.int("count"), let room = request.int32("room"),
                let flags = request.int32("flags"), count <= 4096, room <= 256
            else { return nil }
            return .recv(socket: socket, count: count, room: room, flags: flags, out: out)
        case .close:
            return argument("fd").map { .close($0) }
        case .dup:
            return argument("fd").map { .dup($0, out: out.first) }
        case .dup2:
            guard let old = argument("fd"), let target = argument("target") else { return nil }
            return .dup2(old, target, out: out.first)
        case .write:
            guard let fd = argument("fd"), let data = request.bytes("data") else { return nil }
            return .write(fd, data)
        case .read:
            guard let fd = argument("fd"), let count = request.int("count"), count <= 4096 else { return nil }
            return .read(fd, count)
        default:
            return nil
        }
    }

    /// Runs the call; returns its errno (0 on success) and the nanoseconds spent in it.
    @inline(__always)
    func run(_ locals: inout [Int32], _ buffer: inout [UInt8], _ received: inout [Int32]) -> (Int32, UInt64) {
        let started: UInt64
        var result: Int
        switch self {
        case .send(let socket, let fds, let data):
            var numbers = fds.map { $0.value(locals) }
            let descriptor = socket.value(locals)
            started = monotonicNanoseconds()
            result = data.withUnsafeBytes { bytes in
                handoff_send_fds(descriptor, &numbers, Int32(numbers.count), bytes.baseAddress, bytes.count, noSignal)
            }
        case .recv(let socket, let count, let room, let flags, let out):
            var receivedCount: Int32 = 0
            var messageFlags: Int32 = 0
            let descriptor = socket.value(locals)
            started = monotonicNanoseconds()
            result = buffer.withUnsafeMutableBytes { bytes in
                handoff_recv_fds(descriptor, bytes.baseAddress, count, room, flags, &received, Int32(received.count),
                                 &receivedCount, &messageFlags)
            }
            // Descriptors without a slot stay open, as the kernel installed them: the model expects them.
            for (position, slot) in out.enumerated() where slot >= 0 && slot < locals.count {
                locals[slot] = position < Int(receivedCount) ? received[position] : -1
            }
        case .close(let fd):
            let descriptor = fd.value(locals)
            started = monotonicNanoseconds()
            result = Int(Glibc.close(descriptor))
        case .dup(let fd, let out):
            let descriptor = fd.value(locals)
            started = monotonicNanoseconds()
            result = Int(Glibc.dup(descriptor))
            if let out, out >= 0, out < locals.count { locals[out] = result >= 0 ? Int32(result) : -1 }
        case .dup2(let fd, let target, let out):
            let descriptor = fd.value(locals), number = target.value(locals)
            started = monotonicNanoseconds()
            result = Int(Glibc.dup2(descriptor, number))
            if let out, out >= 0, out < locals.count { locals[out] = result >= 0 ? Int32(result) : -1 }
        case .write(let fd, let data):
            let descriptor = fd.value(locals)
            started = monotonicNanoseconds()
            result = data.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        case .read(let fd, let count):
            let descriptor = fd.value(locals)
            started = monotonicNanoseconds()
            result = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, count) }
        }
        let failed = result < 0 ? errno : 0
        return (failed, monotonicNanoseconds() - started)
    }
}
