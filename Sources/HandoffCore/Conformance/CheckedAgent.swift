import CHandoff
import Foundation
import Glibc
import HandoffProtocol

/// One agent spoken to directly by `handoff agent-check`: started exactly as the runner starts a root agent
/// (docs/protocol.md, "Start"), with every answer read raw, `bad` included, and its table read from /proc.
final class CheckedAgent {
    let channel: Int32
    let pid: pid_t
    let directory: String
    private(set) var hello: Hello?
    /// Why no hello came (start-up failure), when none did.
    private(set) var startProblem: String?
    /// How it ended, once reaped.
    private var ending: String?

    /// Starts `path` in `directory` with the channel at 3; waits up to `timeout` for its hello.
    /// `environment` replaces the usual variables when given (the start-up failure checks).
    init(path: String, directory: String, extraEnvironment: [String], environment: [String]? = nil,
         timeout: Double = 5) throws(HarnessError) {
        var ends: [Int32] = [-1, -1]
        if socketpair(AF_UNIX, Linux.SOCK_SEQPACKET | Linux.SOCK_CLOEXEC, 0, &ends) != 0 {
            throw .system(call: "socketpair", errno: errno)
        }
        let log = open("/dev/null", O_WRONLY | O_CLOEXEC)
        let variables = environment ?? [
            "PATH=/usr/local/bin:/usr/bin:/bin", "\(AgentEnvironment.controlDescriptor)=3",
            "\(AgentEnvironment.expectedParent)=\(getpid())",
        ] + extraEnvironment
        var spawnedPid: pid_t = 0
        let spawned = withCStrings([path]) { argv in
            withCStrings(variables) { envp in handoff_spawn_clean(path, argv, envp, ends[1], log, directory, &spawnedPid) }
        }
        close(ends[1])
        close(log)
        if spawned != 0 {
            close(ends[0])
            throw .system(call: "posix_spawn \(path)", errno: spawned)
        }
        channel = ends[0]
        pid = spawnedPid
        self.directory = directory
        switch receive(timeout: timeout) {
        case .message(let message, _):
            switch Hello.decode(message) {
            case .success(let decoded): hello = decoded
            case .failure(let error): startProblem = "the first message is not a valid hello: \(error) (\(message.text))"
            }
        case .closed: startProblem = "the channel closed before a hello (\(endDescription()))"
        case .timedOut: startProblem = "no hello within \(Int(timeout)) s"
        case .unparsable: startProblem = "the first packet is not a message"
        }
    }

    /// Closes the runner's end (the agent must see end of file and exit).
    func hangUp() { shutdown(channel, Int32(SHUT_RDWR)) }

    deinit {
        close(channel)
        if ending == nil {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }

    enum Received {
        case message(WireMessage, passed: Int32?)
        case closed
        case timedOut
        case unparsable
    }

    func receive(on descriptor: Int32? = nil, timeout: Double = 5) -> Received {
        let descriptor = descriptor ?? channel
        if !waitReadable(descriptor, until: Deadline(secondsFromNow: timeout)) { return .timedOut }
        var buffer = [UInt8](repeating: 0, count: maximumPacketSize)
        var passed: [Int32] = [-1, -1]
        var passedCount: Int32 = 0
        var flags: Int32 = 0
        let received = buffer.withUnsafeMutableBytes { raw in
            handoff_recv_fds(descriptor, raw.baseAddress, raw.count, 1, Int32(MSG_CMSG_CLOEXEC), &passed, 2, &passedCount, &flags)
        }
        if passedCount > 1 { for extra in passed[1..<Int(passedCount)] { close(extra) } }
        let descriptorPassed = passedCount > 0 ? passed[0] : nil
        if received <= 0 {
            if let descriptorPassed { close(descriptorPassed) }
            return .closed
        }
        guard let message = WireMessage.decode(buffer[0..<received]) else {
            if let descriptorPassed { close(descriptorPassed) }
            return .unparsable
        }
        return .message(message, passed: descriptorPassed)
    }

    /// Sends raw text (malformed requests) or an encoded message on the channel (or `descriptor`).
    @discardableResult
    func send(_ text: String, on descriptor: Int32? = nil) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { Glibc.send(descriptor ?? channel, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } >= 0
    }

    func send(_ request: AgentRequest, on descriptor: Int32? = nil) -> Bool {
        send(String(decoding: request.encoded().encoded(), as: UTF8.self), on: descriptor)
    }

    /// One request and its answer, or why there is none.
    func call(_ request: AgentRequest, on descriptor: Int32? = nil, timeout: Double = 5) -> Received {
        guard send(request, on: descriptor) else { return .closed }
        return receive(on: descriptor, timeout: timeout)
    }

    func call(_ text: String, timeout: Double = 5) -> Received {
        guard send(text) else { return .closed }
        return receive(timeout: timeout)
    }

    /// The agent's table as /proc shows it: number -> link target.
    func table(of process: pid_t? = nil) -> [Int32: String] {
        let base = "/proc/\(process ?? pid)/fd"
        var result: [Int32: String] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [] {
            guard let number = Int32(entry) else { continue }
            result[number] = Observer.readLink(base + "/" + entry) ?? "?"
        }
        return result
    }

    /// Whether `fd` of the agent has close-on-exec (fdinfo's flags carry O_CLOEXEC).
    func closeOnExec(_ fd: Int32, of process: pid_t? = nil) -> Bool? {
        guard let info = Observer.readSmallFile("/proc/\(process ?? pid)/fdinfo/\(fd)") else { return nil }
        for line in info.split(separator: "\n") where line.hasPrefix("flags:") {
            let value = Int(line.dropFirst(6).trimmingCharacters(in: .whitespaces), radix: 8) ?? 0
            return value & Int(O_CLOEXEC) != 0
        }
        return nil
    }

    /// Waits (up to `timeout`) for the agent to end; how it ended.
    func awaitEnd(timeout: Double = 5) -> String? {
        if let ending { return ending }
        let deadline = Deadline(secondsFromNow: timeout)
        while !deadline.expired {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                ending = describe(status)
                return ending
            }
            usleep(2000)
        }
        return nil
    }

    func endDescription() -> String {
        awaitEnd(timeout: 1) ?? "still running"
    }

    private func describe(_ status: Int32) -> String {
        if status & 0x7f == 0 { return "exited with status \((status >> 8) & 0xff)" }
        return "killed by signal \(status & 0x7f)"
    }
}

extension WireMessage {
    /// The message as it travelled, for failure details.
    var text: String { String(decoding: encoded(), as: UTF8.self) }
}
