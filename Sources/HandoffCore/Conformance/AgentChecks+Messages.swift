import Glibc
import HandoffProtocol

// The message flags and hand-built messages of docs/protocol.md's `send`, `recv` and `send_headers` rows:
// what each agent must pass to the kernel as it is (Model+MessageFlags.swift, Model+OutOfBand.swift).
extension AgentChecks {
    static let messages: [ProtocolCheck] = [
        ProtocolCheck(name: "recv flags and control", rule: "recv flags=N passes MSG_PEEK, MSG_TRUNC, MSG_WAITALL "
            + "as given (with MSG_TRUNC r is the datagram's length, d at most count bytes); control=N is the "
            + "control buffer's exact size") { c in
            let agent = try c.start()
            _ = try c.ok(agent, .socketpair(type: .dgram, closeOnExec: false, nonBlocking: false))
            _ = try c.ok(agent, .send(socket: 3, fds: [3, 4], data: Array("hello".utf8)))
            let peeked = try c.ok(agent, .recv(socket: 4, count: 2, room: 2, closeOnExec: false, nonBlocking: true,
                                               flags: [.peek, .trunc]))
            try c.expect(peeked.result == 5 && peeked.data == Array("he".utf8) && peeked.fds == [5, 6]
                         && (peeked.messageFlags ?? 0) & Linux.MSG_TRUNC != 0, "a peek with MSG_TRUNC gave \(peeked)")
            // 20 bytes of control buffer: one descriptor of the two, MSG_CTRUNC.
            let exact = try c.ok(agent, .recv(socket: 4, count: 8, room: 0, closeOnExec: false, nonBlocking: true,
                                              control: 20))
            try c.expect(exact.fds == [7] && (exact.messageFlags ?? 0) & Linux.MSG_CTRUNC != 0,
                         "control=20 gave \(exact), expected one descriptor and MSG_CTRUNC")
        },
        ProtocolCheck(name: "send_headers", rule: "send_headers headers=N,M splits fds over SCM_RIGHTS headers; "
            + "cmsglen=N writes the single header's cmsg_len") { c in
            let agent = try c.start()
            try c.requireSupport(agent, .sendHeaders)
            _ = try c.ok(agent, .socketpair(type: .seqpacket, closeOnExec: false, nonBlocking: false))
            let sent = try c.ok(agent, .sendHeaders(socket: 3, fds: [3, 4], headers: [1, 0, 1], cmsgLength: nil,
                                                    data: Array("x".utf8)))
            try c.expect(sent.result == 1, "send_headers gave \(sent)")
            let received = try c.ok(agent, .recv(socket: 4, count: 4, room: 2, closeOnExec: false, nonBlocking: true))
            try c.expect(received.fds == [5, 6], "three headers of 1, 0 and 1 descriptors gave \(received)")
            let short = try c.ok(agent, .sendHeaders(socket: 3, fds: [3], headers: [1], cmsgLength: 15,
                                                     data: Array("x".utf8)))
            try c.expect(short.errno == EINVAL, "cmsglen=15 gave \(short), expected EINVAL")
        },
        ProtocolCheck(name: "out-of-band", rule: "send flags=1 is MSG_OOB; recv with MSG_OOB returns the byte "
            + "with MSG_OOB in mf") { c in
            guard SystemProbe.unixOOB else { throw CheckSkip(reason: "this kernel has no MSG_OOB on unix sockets") }
            let agent = try c.start()
            _ = try c.ok(agent, .socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
            let sent = try c.ok(agent, .send(socket: 3, fds: [], data: Array("ab".utf8), flags: [.oob]))
            try c.expect(sent.result == 2, "send with MSG_OOB gave \(sent)")
            let urgent = try c.ok(agent, .recv(socket: 4, count: 4, room: 0, closeOnExec: false, nonBlocking: true,
                                               flags: [.oob]))
            try c.expect(urgent.result == 1 && urgent.data == Array("b".utf8)
                         && (urgent.messageFlags ?? 0) & Linux.MSG_OOB != 0, "recv MSG_OOB gave \(urgent)")
        },
    ]
}
