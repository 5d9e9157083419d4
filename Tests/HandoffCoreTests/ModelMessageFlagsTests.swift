// Reference model tests: recvmsg flags (MSG_PEEK, MSG_TRUNC, MSG_WAITALL) and exact control buffers
// (Model+MessageFlags.swift), and the proof that a scenario stating the wrong outcome fails on the kernel.

@testable import HandoffCore
import Glibc
import Testing

func flagRecv(_ fd: Int32, _ count: Int = 16, room: Int = 0, _ flags: Set<MessageFlag>,
              nonBlocking: Bool = false, control: Int? = nil) -> Operation {
    .recv(socket: fd, count: count, room: room, closeOnExec: false, nonBlocking: nonBlocking, flags: flags,
          control: control)
}

extension ReferenceModelTests {
    // MARK: MSG_PEEK

    @Test(arguments: SocketType.allCases)
    func peekInstallsACopyAndLeavesTheMessageQueued(_ type: SocketType) {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: type, closeOnExec: false, nonBlocking: false))
        let f = m.fd(.memfd(name: "m", closeOnExec: false))
        m.ok(.send(socket: a, fds: [f], data: bytes("hello")))
        let description = m.desc("main", f)!
        #expect(m.references(description) == 2)  // the table's and the message's
        // unix_peek_fds: a new reference per peek; the message keeps its own.
        #expect(m.ok(flagRecv(b, 16, room: 1, [.peek])) == recvOutcome(bytes("hello"), fds: [6]))
        #expect(m.references(description) == 3)
        #expect(m.ok(flagRecv(b, 16, room: 1, [.peek])) == recvOutcome(bytes("hello"), fds: [7]))
        #expect(m.references(description) == 4)
        // The real receive still finds the message and its descriptor.
        #expect(m.ok(flagRecv(b, 16, room: 1, [])) == recvOutcome(bytes("hello"), fds: [8]))
        #expect(m.references(description) == 4)
        m.fails(nbRecv(b), EAGAIN)
        #expect(m.desc("main", 6) == description && m.desc("main", 8) == description)
        #expect(m.referencesAreConsistent())
    }

    @Test func aShortPeekOfADatagramSaysMSGTruncAndAStreamPeekStopsAfterRights() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .seqpacket, closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: a, fds: [], data: bytes("hello")))
        #expect(m.ok(flagRecv(b, 3, [.peek])) == recvOutcome(bytes("hel"), flags: Linux.MSG_TRUNC))
        #expect(m.ok(flagRecv(b, 16, [])) == recvOutcome(bytes("hello")))

        let (c, d) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: c, fds: [0], data: bytes("ab")))
        m.ok(.send(socket: c, fds: [], data: bytes("cd")))
        let peeked = m.ok(flagRecv(d, 16, room: 1, [.peek]))
        #expect(peeked.data == bytes("ab") && peeked.fds.count == 1)
        // A peek that does not fit the control buffer: MSG_CTRUNC, the extra reference dropped at once.
        #expect(m.ok(flagRecv(d, 16, [.peek])) == recvOutcome(bytes("ab"), flags: Linux.MSG_CTRUNC))
        #expect(m.ok(flagRecv(d, 16, room: 1, [])).fds.count == 1)
        #expect(m.ok(flagRecv(d, 16, [])) == recvOutcome(bytes("cd")))
        #expect(m.referencesAreConsistent())
    }

    // MARK: MSG_TRUNC

    @Test(arguments: [SocketType.dgram, .seqpacket])
    func truncReturnsADatagramsRealLength(_ type: SocketType) {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: type, closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: a, fds: [], data: bytes("0123456789")))
        let got = m.ok(flagRecv(b, 4, [.trunc]))
        #expect(got == Outcome(result: 10, data: bytes("0123"), messageFlags: Linux.MSG_TRUNC))
        // Peek and trunc with no buffer: the length, and the datagram stays.
        m.ok(.send(socket: a, fds: [], data: bytes("xy")))
        #expect(m.ok(flagRecv(b, 0, [.peek, .trunc])) == Outcome(result: 2, data: [], messageFlags: Linux.MSG_TRUNC))
        #expect(m.ok(flagRecv(b, 8, [])) == recvOutcome(bytes("xy")))
    }

    @Test func aUnixStreamIgnoresTruncAndTCPDiscards() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: a, fds: [], data: bytes("0123456789")))
        #expect(m.ok(flagRecv(b, 4, [.trunc])) == recvOutcome(bytes("0123")))
        #expect(m.ok(flagRecv(b, 16, [])) == recvOutcome(bytes("456789")))

        let (_, client, server) = m.connection(.tcp(port: 0))
        m.ok(.send(socket: client, fds: [], data: bytes("0123456789")))
        #expect(m.ok(flagRecv(server, 4, [.peek])) == recvOutcome(bytes("0123")))
        // tcp_recvmsg_locked with MSG_TRUNC: counted and discarded; the buffer's content is not predicted.
        #expect(m.ok(flagRecv(server, 4, [.trunc])) == Outcome(result: 4, messageFlags: 0))
        #expect(m.ok(flagRecv(server, 16, [])) == recvOutcome(bytes("456789")))
    }

    // MARK: MSG_WAITALL

    @Test func waitallBlocksAStreamReadUntilNothingCanComplete() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: a, fds: [], data: bytes("ab")))
        m.ok(.send(socket: a, fds: [], data: bytes("cd")))
        // Blocking: the queue runs out before 10 bytes and the peer is open.
        #expect(m.apply(flagRecv(b, 10, [.waitall]), by: "main").blocks)
        // Non-blocking: what there is.
        #expect(m.ok(flagRecv(b, 10, [.waitall], nonBlocking: true)) == recvOutcome(bytes("abcd")))
        // A message with descriptors ends the read.
        m.ok(.send(socket: a, fds: [], data: bytes("ef")))
        m.ok(.send(socket: a, fds: [0], data: bytes("gh")))
        m.ok(.send(socket: a, fds: [], data: bytes("ij")))
        let got = m.ok(flagRecv(b, 10, room: 1, [.waitall]))
        #expect(got.data == bytes("efgh") && got.fds.count == 1)
        // The peer's close: end of file ends it.
        #expect(m.apply(flagRecv(b, 10, [.waitall]), by: "main").blocks)
        m.ok(.close(fd: a))
        #expect(m.ok(flagRecv(b, 10, [.waitall])) == recvOutcome(bytes("ij")))
        #expect(m.ok(flagRecv(b, 10, [.waitall])) == recvOutcome([]))
    }

    @Test func waitallChangesNothingOnDatagramsAndBlocksTCPUntilCount() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .dgram, closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: a, fds: [], data: bytes("ab")))
        m.ok(.send(socket: a, fds: [], data: bytes("cd")))
        #expect(m.ok(flagRecv(b, 10, [.waitall])) == recvOutcome(bytes("ab")))

        let (_, client, server) = m.connection(.tcp(port: 0))
        m.ok(.send(socket: client, fds: [], data: bytes("ab")))
        #expect(m.apply(flagRecv(server, 4, [.waitall]), by: "main").blocks)
        m.ok(.send(socket: client, fds: [], data: bytes("cd")))
        #expect(m.ok(flagRecv(server, 4, [.waitall])) == recvOutcome(bytes("abcd")))
    }

    // MARK: exact control buffers

    @Test func anExactControlBufferHoldsWhatScmMaxFdsSays() {
        #expect([0, 8, 16, 17, 19, 20, 23, 24, 28, 32].map(ReferenceModel.capacity(control:)) ==
            [0, 0, 0, 0, 0, 1, 1, 2, 3, 4])
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .dgram, closeOnExec: false, nonBlocking: false))
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: true))
        m.ok(.send(socket: a, fds: [0, 1, w], data: bytes("abc")))
        m.ok(.close(fd: w))
        // 20 bytes: one descriptor, MSG_CTRUNC, the other two references dropped (the pipe's last writer).
        let got = m.ok(flagRecv(b, 8, room: 4, [], control: 20))
        #expect(got == recvOutcome(bytes("abc"), fds: [w], flags: Linux.MSG_CTRUNC))
        #expect(m.ok(.read(fd: r, count: 8)) == eof)
        #expect(m.referencesAreConsistent())
    }
}

/// The kernel against a scenario that states the wrong outcome of a flag: each one fails with a finding.
@Suite(.serialized) struct MessageFlagScenarioTests {
    @Test(arguments: [
        // A peek consumes nothing: the second receive does not say EAGAIN.
        ("main.recv: {socket: left, count: 8, flags: [peek], room: 1}", "main.recv: {socket: left, count: 8, flags: [nonblock], error: EAGAIN}"),
        // MSG_TRUNC on a datagram returns the real length, not what was copied.
        ("main.recv: {socket: left, count: 2, flags: [trunc], result: 2}", "main.close: {fd: left}"),
        // 20 bytes of control buffer hold one descriptor, not none.
        ("main.recv: {socket: left, count: 8, control: 20, received: 0}", "main.close: {fd: left}"),
    ])
    func aWrongExpectationFails(_ steps: (String, String)) throws {
        let result = run(try scenario("""
            summary: a wrong statement about a recv flag
            steps:
              - main.socketpair: {type: dgram, as: [left, right]}
              - main.send: {socket: right, fds: [0], data: "hello"}
              - \(steps.0)
              - \(steps.1)
            """))
        #expect(result.status == .fail)
        #expect(result.findings.map(\.kind) == [.check])
    }
}
