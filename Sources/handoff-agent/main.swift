// handoff-agent: the puppet inside every scenario process.
//
// It reads one request at a time from its control channel, decodes it into a typed request
// (HandoffProtocol), performs exactly that operation with the raw system call (`perform`), and answers with
// the outcome. It is single-threaded and synchronous (it forks), links no Foundation (start-up time), and
// opens nothing for itself beyond its control channel, which sits at a reserved high number with
// close-on-exec set, so that the scenario's descriptor numbering and the oracle's view of the table are
// undisturbed. docs/protocol.md describes the protocol.

import CHandoff
import Glibc
import HandoffProtocol

// `handoff-agent --probe clone-files`: feature probes that need a fork, which the runner must never do.
if CommandLine.arguments.count == 3 && CommandLine.arguments[1] == "--probe" {
    probe(CommandLine.arguments[2])
}
// `handoff-agent --bench-loop COUNT`: the one-process SCM_RIGHTS loop of benchmarks/scenarios, run through
// the same runLoop without a runner, so that its cost can be profiled (valgrind, perf) on its own.
if CommandLine.arguments.count == 3 && CommandLine.arguments[1] == "--bench-loop", let count = Int(CommandLine.arguments[2]) {
    benchLoop(count)
}
var agent = Agent.start()
agent.serve()

func benchLoop(_ count: Int) -> Never {
    var ends: [Int32] = [-1, -1]
    let memfd = handoff_memfd_create("bench", 0)
    guard memfd >= 0, socketpair(AF_UNIX, Linux.SOCK_STREAM, 0, &ends) == 0 else { fatal("bench set-up") }
    let steps = [
        LoopStep(operation: .send(socket: .number(ends[0]), fds: [.number(memfd)], data: [0x78])),
        LoopStep(operation: .recv(socket: .number(ends[1]), count: 1, room: 1, closeOnExec: false, nonBlocking: false),
                 outputs: [0]),
        LoopStep(operation: .close(fd: .slot(0))),
    ]
    var bench = Agent(control: -1, arguments: [])
    let answer = bench.runLoop(count: count, steps: steps)
    let line = Array("\(Double(answer.wallNanoseconds) / Double(count)) ns/iteration, \(answer.failures) failures\n".utf8)
    _ = line.withUnsafeBytes { Glibc.write(1, $0.baseAddress, $0.count) }
    _exit(answer.failures == 0 ? 0 : 1)
}

/// Prints `ok` or why not, and exits.
func probe(_ feature: String) -> Never {
    var answer = "unknown probe"
    if feature == "exited-dumpability" {
        // Does an exited task keep its dumpability for ptrace checks? A child makes itself non-dumpable
        // and exits; without CAP_SYS_PTRACE, pidfd_getfd on the zombie says EPERM (kept, 6.18) or ESRCH.
        var ends: [Int32] = [-1, -1]
        _ = handoff_pipe2(&ends, Linux.O_CLOEXEC)
        let child = Glibc.fork()
        if child == 0 {
            _ = handoff_set_dumpable(0)
            _exit(0)
        }
        let pidfd = handoff_pidfd_open(child, 0)
        _ = handoff_drop_capability(handoff_capability_from_name("CAP_SYS_PTRACE"))
        var info = siginfo_t()
        _ = waitid(P_PID, id_t(child), &info, WEXITED | WNOWAIT)
        let copy = handoff_pidfd_getfd(pidfd, 0, 0)
        answer = copy >= 0 ? "no: the copy succeeded" : errno == EPERM ? "ok" : "no: \(errno)"
        var status: Int32 = 0
        waitpid(child, &status, 0)
    } else if feature == "clone-files" {
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
    var arguments: [String]
    /// Other agents' channels in a table shared with this one, for the request being performed.
    var hidden: [Int32] = []
    var packet = receiveBuffer(count: maximumPacketSize)
    // The scratch buffers below are allocated once and never freed (an agent lives as long as its process):
    // a call reaches them through a pointer, where an array field of the `inout` agent costs a uniqueness
    // check and a write-back on every call of a loop.
    /// Scratch space for read and recv, reused by every call; not zero-filled (see `receiveBuffer`).
    let io = UnsafeMutableRawBufferPointer.receiveSpace(byteCount: maximumTransfer)
    /// Room for the most descriptors a recv can take, and an SCM_PIDFD one.
    let rights = UnsafeMutableBufferPointer<Int32>.filled(with: -1, count: Int(handoff_recv_capacity(Int32(maximumRoom))) + 1)
    /// A loop's slots (loop-local names), read by the performers; all -1 (no descriptor) when a loop starts.
    let slots = UnsafeMutableBufferPointer<Int32>.filled(with: -1, count: loopSlotCount)
    /// The numbers a send passes, resolved (reused).
    var passing: [Int32] = []
    /// Why the operation being performed was refused (set by a performer, taken by its caller).
    var refusal: ProtocolError?
    /// Whether a read or recv copies the bytes it returned into the answer (not inside loops).
    var keepingData = true

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
        let agent = Agent(control: control, arguments: CommandLine.arguments)
        agent.sendHello()
        return agent
    }

    /// A control channel to the runner's listening socket at `path`.
    static func connectToRunner(_ path: String) -> Int32 {
        let channel = handoff_connect(Int32(HANDOFF_ADDRESS_UNIX), path, path.utf8.count, 0, Linux.SOCK_SEQPACKET | Linux.SOCK_CLOEXEC)
        if channel < 0 { fatal("cannot reach the runner at \(path)") }
        return channel
    }

    func sendHello() {
        var variables: [String] = []
        var entry = environ
        while let pointer = entry.pointee {
            variables.append(String(cString: pointer))
            entry += 1
        }
        let hello = Hello(pid: getpid(), parent: getppid(), control: control, nofile: Int64(softNofileLimit()),
                          arguments: Array(arguments.dropFirst()), environment: variables, implementation: "swift")
        reply(hello.encoded())
    }

    mutating func serve() -> Never {
        while true {
            let received = recv(control, &packet, packet.count, 0)
            if received <= 0 {
                if received < 0 && errno == EINTR { continue }
                _exit(0)  // the runner is gone
            }
            guard let message = WireMessage.decode(packet[0..<received]) else {
                reply(badAnswer("unparsable request"))
                continue
            }
            switch AgentRequest.decode(message) {
            case .failure(let error):
                reply(badAnswer(error.reason))
            case .success(.perform(let operation, let hidden)):
                self.hidden = hidden
                do throws(ProtocolError) {
                    if let answer = try perform(operation) { reply(answer.encoded()) }
                } catch {
                    reply(badAnswer(error.reason))
                }
            case .success(.loop(let count, let steps, let hidden)):
                self.hidden = hidden
                reply(runLoop(count: count, steps: steps).encoded())
            case .success(.release(let fds)):
                if fds.contains(control) {
                    reply(badAnswer("release names the agent's own channel"))
                } else {
                    for number in fds { close(number) }
                    reply(Answer(result: 0).encoded())
                }
            case .success(.argument(let index)):
                if index < 1 || index >= arguments.count { reply(badAnswer("no argv[\(index)]")); continue }
                guard let number = Int32(arguments[index]) else { reply(badAnswer("argv[\(index)] is not a number")); continue }
                reply(Answer(result: Int64(number)).encoded())
            }
        }
    }

    func reply(_ message: WireMessage, passing descriptor: Int32? = nil) {
        let bytes = message.encoded()
        let sent: Int
        if var descriptor {
            sent = bytes.withUnsafeBytes { handoff_send_fds(control, &descriptor, 1, $0.baseAddress, $0.count, Linux.MSG_NOSIGNAL) }
        } else {
            sent = bytes.withUnsafeBytes { send(control, $0.baseAddress, $0.count, Linux.MSG_NOSIGNAL) }
        }
        if sent < 0 { _exit(0) }  // the runner is gone
    }
}

extension UnsafeMutableRawBufferPointer {
    /// `byteCount` bytes for a read or recv to fill, never freed. Not written here: only the bytes a call
    /// returned are read back, so pages are faulted in only as far as data reaches (as `receiveBuffer`).
    static func receiveSpace(byteCount: Int) -> UnsafeMutableRawBufferPointer {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: byteCount, alignment: 16)
        buffer.bindMemory(to: UInt8.self)
        return buffer
    }
}

extension UnsafeMutableBufferPointer<Int32> {
    /// `count` numbers, all `value`, never freed.
    static func filled(with value: Int32, count: Int) -> UnsafeMutableBufferPointer<Int32> {
        let buffer = UnsafeMutableBufferPointer<Int32>.allocate(capacity: count)
        buffer.initialize(repeating: value)
        return buffer
    }
}

/// A system call's result, its errno (meaningful when the result is negative) and its duration.
struct Timed {
    var value: Int
    var errno: Int32
    var nanoseconds: UInt64

    /// The answer to this call (fork, exec and launch: they produce no descriptor).
    var answer: Answer {
        var answer = Answer(result: 0)
        answer.record(self)
        return answer
    }
}

@inline(__always)
func timed(_ call: () -> Int32) -> Timed {
    let started = LatencyClock.now()
    let value = call()
    let elapsed = LatencyClock.since(started)
    return Timed(value: Int(value), errno: value < 0 ? errno : 0, nanoseconds: elapsed)
}

@inline(__always)
func timed(_ call: () -> Int) -> Timed {
    let started = LatencyClock.now()
    let value = call()
    let elapsed = LatencyClock.since(started)
    return Timed(value: value, errno: value < 0 ? errno : 0, nanoseconds: elapsed)
}

/// What times each system call. A single request reads CLOCK_MONOTONIC before and after its call. A loop
/// reads its clock once per call, after it: a call's start is the previous call's end (the loop's start for
/// the first), so that each call's time is what it adds to the loop (the system call, and the agent's own
/// work since the previous call: its bookkeeping and this call's arguments), and the histograms add up to
/// the loop's wall time. A second read per call would cost as much again as that work (a time-stamp counter
/// read takes 10-25 ns on the VMs handoff runs on, a send+recv+close iteration about 1 µs).
/// The loop's clock is the time-stamp counter, scaled by a factor measured against CLOCK_MONOTONIC (once per
/// agent, 200 µs), where the kernel itself trusts the counter (clocksource tsc); CLOCK_MONOTONIC elsewhere.
/// The agent is single-threaded: plain statics are safe.
enum LatencyClock {
    /// Whether a loop is running.
    nonisolated(unsafe) private static var looping = false
    /// In a loop: nanoseconds per counter tick in 32.32 fixed point (an integer multiply per call); 0 when
    /// the loop reads CLOCK_MONOTONIC.
    nonisolated(unsafe) private static var scale: UInt64 = 0
    /// In a loop: the loop clock when the last timed call ended (the next call's start).
    nonisolated(unsafe) private static var lastEnd: UInt64 = 0
    /// The counter's scale once measured (0: the counter cannot be used); nil before the first loop.
    nonisolated(unsafe) private static var calibrated: UInt64?

    @inline(__always) static func now() -> UInt64 {
        looping ? lastEnd : monotonicNanoseconds()
    }

    @inline(__always) static func since(_ start: UInt64) -> UInt64 {
        guard looping else { return monotonicNanoseconds() &- start }
        let scale = self.scale  // read once: the store to lastEnd below would make the compiler read it again
        let end = scale == 0 ? monotonicNanoseconds() : handoff_ticks()
        lastEnd = end
        guard scale != 0 else { return end &- start }
        let product = (end &- start).multipliedFullWidth(by: scale)
        return product.high << 32 | product.low >> 32
    }

    /// Switches to the loop's clock (the counter when it can be trusted); the first call starts now.
    static func startLoop() {
        if calibrated == nil { calibrated = calibrate() ?? 0 }
        scale = calibrated ?? 0
        looping = true
        lastEnd = scale == 0 ? monotonicNanoseconds() : handoff_ticks()
    }

    static func stopLoop() { looping = false }

    /// Nanoseconds per tick in 32.32 fixed point; nil when the counter cannot be used.
    private static func calibrate() -> UInt64? {
        guard handoff_ticks() != 0, clocksourceIsTSC() else { return nil }
        let nanoseconds0 = monotonicNanoseconds(), ticks0 = handoff_ticks()
        var nanoseconds1 = nanoseconds0
        repeat { nanoseconds1 = monotonicNanoseconds() } while nanoseconds1 - nanoseconds0 < 200_000
        let ticks1 = handoff_ticks()
        guard ticks1 > ticks0 else { return nil }
        let scale = UInt64((Double(nanoseconds1 - nanoseconds0) / Double(ticks1 - ticks0) * Double(UInt64(1) << 32)).rounded())
        return scale > 0 ? scale : nil
    }

    private static func clocksourceIsTSC() -> Bool {
        let descriptor = open("/sys/devices/system/clocksource/clocksource0/current_clocksource", O_RDONLY | O_CLOEXEC)
        if descriptor < 0 { return false }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 16)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
        return count >= 3 && buffer[0..<3] == [0x74, 0x73, 0x63][...]  // "tsc"
    }
}

@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}

func softNofileLimit() -> UInt64 {
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    return UInt64(limit.rlim_cur)
}

func environmentInt(_ name: String) -> Int32? {
    guard let value = getenv(name) else { return nil }
    return Int32(String(cString: value))
}

func fatal(_ message: String) -> Never {
    let line = Array("handoff-agent: \(message) (errno \(errno))\n".utf8)
    _ = line.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    _exit(70)
}
