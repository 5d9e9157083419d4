import CHandoff
import Glibc
import HandoffProtocol

/// The runner's end of one agent's control channel (a SOCK_SEQPACKET socket, close-on-exec).
final class AgentConnection {
    let descriptor: Int32
    let process: String
    private var buffer = receiveBuffer(count: maximumPacketSize)
    /// How the agent ended, once its process is known (pid, pidfd): a closed channel then reports the exit
    /// status or the signal (`killed by signal 9 (Killed)`) instead of only "control channel closed".
    var endReason: (() -> String?)?
    /// Called every 100 ms while an answer is awaited (the runner caps the agents' log meanwhile).
    var idle: (() -> Void)?

    init(descriptor: Int32, process: String) {
        self.descriptor = descriptor
        self.process = process
    }

    deinit { close(descriptor) }

    func send(_ message: WireMessage) throws(HarnessError) {
        let bytes = message.encoded()
        let sent = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if sent < 0 {
            let error = errno
            throw .agentGone(process: process, reason: endReason?() ?? "control channel closed (\(Errno.name(of: error)))")
        }
    }

    /// Receives one message, and the descriptor passed with it if any (installed close-on-exec).
    /// `explainEnd`: when the channel closes, say how the agent ended (false where a close is expected).
    func receive(until deadline: Deadline, timeoutSeconds: Double, explainEnd: Bool = true) throws(HarnessError)
        -> (WireMessage, Int32?)
    {
        if !waitReadable(descriptor, until: deadline, idle: idle) { throw .timedOut(process: process, seconds: timeoutSeconds) }
        var passed: [Int32] = [-1, -1]
        var passedCount: Int32 = 0
        var flags: Int32 = 0
        var received: Int
        repeat {
            received = buffer.withUnsafeMutableBytes { raw in
                handoff_recv_fds(descriptor, raw.baseAddress, raw.count, 1, Int32(MSG_CMSG_CLOEXEC), &passed, 2,
                                 &passedCount, &flags)
            }
        } while received < 0 && errno == EINTR
        if received < 0 {
            let error = errno
            throw .agentGone(process: process, reason: (explainEnd ? endReason?() : nil) ?? "control channel: \(Errno.name(of: error))")
        }
        if passedCount > 1 { for extra in passed[1..<Int(passedCount)] { close(extra) } }
        let descriptorPassed = passedCount > 0 ? passed[0] : nil
        if received == 0 {
            if let descriptorPassed { close(descriptorPassed) }
            throw .agentGone(process: process, reason: (explainEnd ? endReason?() : nil) ?? "control channel closed")
        }
        guard let message = WireMessage.decode(buffer[0..<received]) else {
            if let descriptorPassed { close(descriptorPassed) }
            throw .protocolViolation(process: process, detail: "unparsable packet")
        }
        if message.verb == "bad" {
            if let descriptorPassed { close(descriptorPassed) }
            let reason = message.bytes("reason").map { String(decoding: $0, as: UTF8.self) } ?? "?"
            throw .protocolViolation(process: process, detail: "agent refused the request: \(reason)")
        }
        return (message, descriptorPassed)
    }

    /// Waits for either an answer (returned) or the channel's end (nil): a successful launch closes it.
    func answerOrClose(until deadline: Deadline, timeoutSeconds: Double) throws(HarnessError) -> WireMessage? {
        do {
            return try receive(until: deadline, timeoutSeconds: timeoutSeconds, explainEnd: false).0
        } catch {
            if case .agentGone = error { return nil }
            throw error
        }
    }

    /// One request and its answer.
    func call(_ request: WireMessage, until deadline: Deadline, timeoutSeconds: Double) throws(HarnessError)
        -> (WireMessage, Int32?)
    {
        try send(request)
        return try receive(until: deadline, timeoutSeconds: timeoutSeconds)
    }
}
