// Reference model tests: unix stream skbs and send buffers (Model+SendBuffer.swift). The model's defaults are
// this machine's probes: a stream skb carries 36544 bytes (SystemProbe.unixStreamSkbPayload on 6.18 x86_64)
// and sk_sndbuf is net.core.wmem_default, 212992. The last tests (in IntegrationTests) run scenarios on the
// kernel: a wrong expectation is a FAIL finding, and a poll the truesize bounds cannot decide is an ERROR.

@testable import HandoffCore
import Glibc
import HandoffProtocol
import Testing

private let big = [UInt8](repeating: 0x62, count: 65536)

extension ReferenceModelTests {
    // MARK: - Stream skbs

    @Test func aLargeStreamSendIsSplitWithItsDescriptorsOnTheFirstSkb() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        let f = m.fd(.open(path: "f", flags: creatRW, mode: 0o600))
        #expect(m.ok(.send(socket: a, fds: [f], data: big)).result == 65536)
        // A peek stops after the skb that carries descriptors, and installs new references to them.
        let peeked = m.ok(.recv(socket: b, count: 65536, room: 1, closeOnExec: false, nonBlocking: true, flags: [.peek]))
        #expect(peeked.result == 36544)
        #expect(peeked.fds.count == 1)
        // So does the read; the second skb (28992 bytes) has no descriptors.
        let first = m.ok(.recv(socket: b, count: 65536, room: 1, closeOnExec: false, nonBlocking: true))
        #expect(first.result == 36544)
        #expect(first.fds.count == 1)
        #expect(m.desc("main", first.fds[0]) == m.desc("main", f))
        let second = m.ok(.recv(socket: b, count: 65536, room: 1, closeOnExec: false, nonBlocking: true))
        #expect(second.result == 28992)
        #expect(second.fds.isEmpty)
        m.fails(nbRecv(b), EAGAIN)
    }

    @Test func theSkbsOfOneSendAreGluedWithoutDescriptorsAndWithCredentials() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        // unix_scm_to_skb puts the credentials on every skb: SO_PASSCRED does not stop the read between them.
        m.ok(.setsockopt(socket: b, option: .passcred, value: 1))
        m.ok(.send(socket: a, fds: [], data: big))
        #expect(m.ok(.recv(socket: b, count: 65536, room: 8, closeOnExec: false, nonBlocking: true)).result == 65536)
    }

    @Test func noSplitWhenTheProbeSawNone() {
        var m = makeModel()
        m.unixStreamSkbPayload = 65536
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        let f = m.fd(.open(path: "f", flags: creatRW, mode: 0o600))
        m.ok(.send(socket: a, fds: [f], data: big))
        #expect(m.ok(.recv(socket: b, count: 65536, room: 1, closeOnExec: false, nonBlocking: true)).result == 65536)
    }

    @Test func theOutOfBandByteOfALargeSendIsInTheLastSkb() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        let f = m.fd(.open(path: "f", flags: creatRW, mode: 0o600))
        m.ok(.send(socket: a, fds: [f], data: big, flags: [.oob]))
        let first = m.ok(.recv(socket: b, count: 65536, room: 1, closeOnExec: false, nonBlocking: true))
        #expect(first.result == 36544)
        #expect(first.fds.count == 1)
        // The rest stops before the out-of-band byte.
        let rest = m.ok(nbRecv(b, 65536))
        #expect(rest.result == 28991)
        #expect(m.ok(.recv(socket: b, count: 1, room: 0, closeOnExec: false, nonBlocking: true, flags: [.oob])).data == [0x62])
    }

    // MARK: - Send buffers

    @Test func truesizeBoundsFollowTheSkbLayout() {
        let m = makeModel()
        #expect(m.streamSkbSizes(65536) == [36544, 28992])
        #expect(m.streamSkbHeadLimit == 3776)
        // 6.18 measured 37120 (4096 head + 256 sk_buff + 32768 frags) and 29952 (1024 + 256 + 28672).
        #expect(m.truesizeBounds(length: 36544, stream: true) == (37056, 37376))
        #expect(m.truesizeBounds(length: 28992, stream: true) == (29504, 30974))
        #expect(m.truesizeBounds(length: 1, stream: true) == (513, 1664))
        #expect(m.truesizeBounds(length: 65536, stream: false) == (66048, 132734))
    }

    @Test func pollOutIsPredictedOnlyWhenTheBoundsAgree() {
        for type in [SocketType.stream, .seqpacket, .dgram] {
            var m = makeModel()
            let (a, b) = m.pair(.socketpair(type: type, closeOnExec: false, nonBlocking: false))
            for _ in 0..<3 { m.ok(.send(socket: a, fds: [], data: bytes("x"))) }
            #expect(m.revents(a, [.out]) == pollOut, "\(type): certainly writable")
            m.ok(.send(socket: a, fds: [], data: big))
            #expect(m.revents(a, [.out]) == 0, "\(type): certainly full")
            // Only POLLOUT depends on it: a poll for POLLIN alone is predicted.
            #expect(m.revents(a, [.in]) == 0)
            for count in [1, 1, 1, 65536] { m.ok(nbRecv(b, count)) }
            #expect(m.revents(a, [.out]) == pollOut, "\(type): read")
        }
        // Twenty 1000-byte messages: 30240...73240 bytes of truesize, against 212992 / 4 = 53248.
        var m = makeModel()
        let (a, _) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        for _ in 0..<20 { m.ok(.send(socket: a, fds: [], data: [UInt8](repeating: 0x61, count: 1000))) }
        let outcome = m.apply(.poll(fd: a, events: [.out], timeout: 0), by: "main")
        #expect(outcome.beyondModel?.contains("20000 bytes queued unread") == true)
    }

    @Test func sendsIntoAFullBufferFailOrAreBeyondTheModel() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: true))
        for _ in 0..<3 { #expect(m.ok(.send(socket: a, fds: [], data: big)).result == 65536) }
        // The first skb of the fourth send fills the buffer: the send returns what it sent.
        #expect(m.ok(.send(socket: a, fds: [], data: big)).result == 36544)
        m.fails(.send(socket: a, fds: [], data: bytes("x")), EAGAIN)
        // The same socket blocking would wait for the reader: beyond the model.
        m.ok(.fcntl(fd: a, command: .setfl([])))
        #expect(m.apply(.send(socket: a, fds: [], data: bytes("x")), by: "main").beyondModel != nil)
        // A read frees two skbs: there is room for a whole send again.
        #expect(m.ok(nbRecv(b, 65536)).result == 65536)
        #expect(m.ok(.send(socket: a, fds: [], data: big)).result == 65536)
        // One-byte skbs charge 513...1664 bytes each: after 128 of them (65664...212992) the bounds cannot tell
        // whether sock_alloc_send_pskb allocates the next one.
        var n = makeModel()
        let (c, _) = n.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: true))
        for _ in 0..<128 { n.ok(.send(socket: c, fds: [], data: bytes("x"))) }
        let undecided = n.apply(.send(socket: c, fds: [], data: bytes("x")), by: "main")
        #expect(undecided.beyondModel?.contains("128 bytes queued unread") == true)
    }
}

/// The same rules on the kernel, among the integration tests (serialized, no child left behind): a wrong
/// expectation is a FAIL finding, and a poll the truesize bounds cannot decide is an ERROR.
extension IntegrationTests {
    @Test(.enabled(if: SystemProbe.unixStreamSkbSplits, "this kernel does not split a 64 KiB stream send (probed)"))
    func aWrongLargeSendExpectationFails() throws {
        let data = String(repeating: "b", count: 65536)
        let result = run(try scenario("""
            summary: the scenario claims a 65536-byte send with a descriptor is read whole
            steps:
              - main.socketpair: {type: stream, as: [a, b]}
              - main.pipe: {as: [r, w]}
              - main.send: {socket: a, fds: [w], data: "\(data)"}
              - main.recv: {socket: b, count: 65536, as: [got], result: 65536}
            """))
        #expect(result.status == .fail)
        #expect(result.findings.map(\.kind) == [.check])
        #expect(result.findings.first?.observed.hasPrefix("\(SystemProbe.unixStreamSkbPayload) fds [") == true)
    }

    @Test func aWrongPollOutExpectationWithAFullBufferFails() throws {
        let data = String(repeating: "b", count: 65536)
        let result = run(try scenario("""
            summary: the scenario claims a socket with 65536 bytes unread is still writable
            steps:
              - main.socketpair: {type: stream, as: [a, b]}
              - main.send: {socket: a, data: "\(data)"}
              - main.poll: {fd: a, events: [out], result: 4}
            """))
        #expect(result.status == .fail)
        #expect(result.findings.map(\.kind) == [.check])
        #expect(result.findings.first?.observed == "0")
    }

    @Test func anUndecidedPollOutIsAnError() throws {
        let data = String(repeating: "a", count: 1000)
        let sends = String(repeating: "  - main.send: {socket: a, data: \"\(data)\"}\n", count: 20)
        let result = run(try scenario("""
            summary: twenty 1000-byte messages unread, where the truesize bounds cannot tell POLLOUT
            steps:
              - main.socketpair: {type: stream, as: [a, b]}
            \(sends)  - main.poll: {fd: a, events: [out]}
            """))
        #expect(result.status == .error)
        #expect(result.reason?.contains("cannot tell whether the send buffer is full") == true)
    }
}
