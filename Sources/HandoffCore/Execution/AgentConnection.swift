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

    /// The largest request this channel takes in one packet: a SOCK_SEQPACKET send longer than the socket's
    /// sk_sndbuf - 32 is EMSGSIZE (unix_dgram_sendmsg), below the protocol's own maximumPacketSize when
    /// net.core.wmem_default is.
    var largestRequest: Int {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_SNDBUF, &value, &length) == 0 else { return maximumPacketSize }
        return min(maximumPacketSize, Int(value) - 32)
    }

    /// Whether a message is waiting to be received now (a background call's answer), without waiting.
    var hasMessageWaiting: Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 0) == 1 && entry.revents & Int16(POLLIN) != 0
    }

    func send(_ message: WireMessage) throws(HarnessError) {
        try refuseUnrequested()
        let bytes = message.encoded()
        let sent = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if sent < 0 {
            let error = errno
            throw .agentGone(process: process, reason: endReason?() ?? "control channel closed (\(Errno.name(of: error)))")
        }
    }

    /// Nothing may be waiting when the runner asks: an agent answers each request exactly once, so a message
    /// here is an answer too many (sent twice, or late for an earlier step), which the next request would
    /// otherwise take for its own - and report the kernel wrong (found with a hostile agent answering twice).
    /// A closed channel or an empty packet (0 bytes) is left to the send and the receive that follow.
    func refuseUnrequested() throws(HarnessError) {
        // On the stack: this runs before every request, and almost always finds nothing.
        let start: String? = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 24) { head in
            let peeked = recv(descriptor, head.baseAddress, head.count, Int32(MSG_PEEK | MSG_DONTWAIT))
            guard peeked > 0 else { return nil }
            return String(decoding: head[0..<peeked].map { $0 >= 0x20 && $0 < 0x7f ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
        }
        guard let start else { return }
        throw .protocolViolation(process: process, detail: "sent a message no request asked for (\"\(start)...\"): "
            + "an answer too many, or one for another step")
    }

    /// Receives one message, and the descriptor passed with it if any (installed close-on-exec).
    /// `explainEnd`: when the channel closes, say how the agent ended (false where a close is expected).
    /// `channelExpected`: only a fork's `channel` message carries a descriptor (one); a descriptor anywhere else
    /// is closed and the agent broke the protocol (a caller that expects none would otherwise leak it).
    func receive(until deadline: Deadline, timeoutSeconds: Double, explainEnd: Bool = true,
                 channelExpected: Bool = false) throws(HarnessError) -> (WireMessage, Int32?)
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
        let descriptors = passed[0..<Int(passedCount)]
        func violation(_ detail: String) -> HarnessError {
            for descriptor in descriptors { close(descriptor) }
            return .protocolViolation(process: process, detail: detail)
        }
        if received == 0 {
            for descriptor in descriptors { close(descriptor) }
            throw .agentGone(process: process, reason: (explainEnd ? endReason?() : nil) ?? "control channel closed")
        }
        // Cut to the buffer, a packet would be taken for the message its first 256 KiB happen to spell (found
        // with a hostile agent: an answer whose fds list ran past the limit was judged as a shorter list).
        if flags & Int32(MSG_TRUNC) != 0 {
            throw violation("a packet longer than the protocol's \(maximumPacketSize) bytes")
        }
        guard let message = WireMessage.decode(buffer[0..<received]) else { throw violation("unparsable packet") }
        if message.verb == "bad" {
            let reason = message.bytes("reason").map { String(decoding: $0, as: UTF8.self) } ?? "?"
            throw violation("agent refused the request: \(reason)")
        }
        if !descriptors.isEmpty || flags & Int32(MSG_CTRUNC) != 0 {
            let isChannel = channelExpected && message.verb == ControlVerb.channel.rawValue
            if !isChannel || descriptors.count != 1 || flags & Int32(MSG_CTRUNC) != 0 {
                throw violation("sent descriptors over the control channel with '\(message.verb)' (only a fork's "
                    + "channel message carries one, its child's channel)")
            }
        }
        if let repeated = message.repeatedKey {
            throw violation("'\(message.verb)' carries the field '\(repeated)' twice")
        }
        return (message, descriptors.first)
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
    func call(_ request: WireMessage, until deadline: Deadline, timeoutSeconds: Double, channelExpected: Bool = false)
        throws(HarnessError) -> (WireMessage, Int32?)
    {
        try send(request)
        return try receive(until: deadline, timeoutSeconds: timeoutSeconds, channelExpected: channelExpected)
    }
}
