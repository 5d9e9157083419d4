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

    @Test func aStreamPeekWalksPastCountToTheFirstRightsAndNeverWaits() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: a, fds: [], data: bytes("ab")))
        m.ok(.send(socket: a, fds: [0], data: bytes("cd")))
        m.ok(.send(socket: a, fds: [], data: bytes("ef")))
        // One byte, and the rights of the second message (unix_stream_read_generic's peek branch).
        let one = m.ok(flagRecv(b, 1, room: 1, [.peek]))
        #expect(one.data == bytes("a") && one.fds.count == 1)
        #expect(m.ok(flagRecv(b, 0, [.peek])) == Outcome(result: 0, data: [], messageFlags: Linux.MSG_CTRUNC))
        // A read of one byte takes no rights; MSG_WAITALL does not make a peek wait.
        #expect(m.ok(flagRecv(b, 1, room: 1, [])) == recvOutcome(bytes("a")))
        #expect(m.ok(flagRecv(b, 10, room: 1, [.peek, .waitall])).data == bytes("bcd"))
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

    @Test func aWaitallReadThatRunsOutTakesThePendingError() {
        for waitall in [false, true] {
            var m = makeModel()
            let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
            m.ok(.send(socket: b, fds: [], data: bytes("unread")))
            m.ok(.send(socket: a, fds: [], data: bytes("x")))
            m.ok(.close(fd: a))  // unread data: ECONNRESET pending on b (unix_release_sock)
            #expect(m.ok(flagRecv(b, 8, waitall ? [.waitall] : [], nonBlocking: true)) == recvOutcome(bytes("x")))
            // sock_error took it during the MSG_WAITALL read; a plain read leaves it for the next call.
            if waitall { #expect(m.ok(nbRecv(b, 8)) == recvOutcome([])) } else { m.fails(nbRecv(b, 8), ECONNRESET) }
        }
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

    // MARK: MSG_OOB (no out-of-band byte is ever sent)

    @Test func outOfBandReceivesAreErrorsByFamilyAndProbe() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: a, fds: [], data: bytes("ab")))
        m.fails(flagRecv(b, 8, [.oob]), EINVAL)  // unix_stream_recv_urg: no oob_skb
        #expect(m.ok(flagRecv(b, 8, [])) == recvOutcome(bytes("ab")))
        m.unixOOB = false  // without CONFIG_AF_UNIX_OOB (before 5.15)
        m.fails(flagRecv(b, 8, [.oob]), EOPNOTSUPP)
        let (c, d) = m.pair(.socketpair(type: .seqpacket, closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: c, fds: [], data: bytes("x")))
        m.fails(flagRecv(d, 8, [.oob, .peek]), EOPNOTSUPP)
        #expect(m.ok(flagRecv(d, 8, [])) == recvOutcome(bytes("x")))
        let (listener, client, server) = m.connection(.tcp(port: 0))
        m.fails(flagRecv(listener, 8, [.oob], nonBlocking: true), ENOTCONN)
        m.ok(.send(socket: client, fds: [], data: bytes("ab")))
        m.fails(flagRecv(server, 8, [.oob]), EINVAL)  // tcp_recv_urg
        #expect(m.ok(flagRecv(server, 8, [])) == recvOutcome(bytes("ab")))
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

    // MARK: send_headers

    @Test(arguments: SocketType.allCases)
    func severalHeadersArriveAsOneListAndAnEmptyHeaderAddsNothing(_ type: SocketType) {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: type, closeOnExec: false, nonBlocking: false))
        let f = m.fd(.memfd(name: "m", closeOnExec: false))
        #expect(m.ok(.sendHeaders(socket: a, fds: [f, 0, 1], headers: [2, 0, 1], cmsgLength: nil, data: bytes("x")))
            == Outcome(result: 1))
        #expect(m.ok(flagRecv(b, 4, room: 4, [])) == recvOutcome(bytes("x"), fds: [6, 7, 8]))
        #expect(m.desc("main", 6) == m.desc("main", f) && m.desc("main", 7) == m.desc("main", 0))
        m.ok(.sendHeaders(socket: a, fds: [], headers: [0], cmsgLength: nil, data: bytes("y")))
        #expect(m.ok(flagRecv(b, 4, room: 1, [])) == recvOutcome(bytes("y")))
        #expect(m.referencesAreConsistent())
    }

    @Test func aRawCmsgLenIsCheckedThenDecidesHowManyDescriptorsTravel() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .dgram, closeOnExec: false, nonBlocking: false))
        let f = m.fd(.memfd(name: "m", closeOnExec: false))
        func send(_ length: Int) -> Operation {
            .sendHeaders(socket: a, fds: [f], headers: [1], cmsgLength: length, data: bytes("x"))
        }
        // CMSG_OK: below sizeof(struct cmsghdr), or past CMSG_SPACE(4) = 24.
        for length in [0, 15, 25] { m.fails(send(length), EINVAL) }
        m.fails(nbRecv(b), EAGAIN)
        // 16 and 18: no whole descriptor; 20: one; 24: two, the second the zeroed padding (descriptor 0).
        for (length, fds) in [(16, [Int32]()), (18, []), (20, [6]), (24, [7, 8])] {
            m.ok(send(length))
            #expect(m.ok(flagRecv(b, 4, room: 2, [])).fds == fds, "cmsg_len \(length)")
        }
        #expect(m.desc("main", 8) == m.desc("main", 0))
        #expect(m.referencesAreConsistent())
    }

    @Test func aBadDescriptorInALaterHeaderFailsTheMessageAndTCPOnlyChecksTheHeaders() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        m.fails(.sendHeaders(socket: a, fds: [0, 40], headers: [1, 1], cmsgLength: nil, data: bytes("x")), EBADF)
        m.fails(nbRecv(b), EAGAIN)
        let (_, client, server) = m.connection(.tcp(port: 0))
        #expect(m.ok(.sendHeaders(socket: client, fds: [0, 40], headers: [1, 1], cmsgLength: nil, data: bytes("ab")))
            == Outcome(result: 2))
        #expect(m.ok(nbRecv(server, 8, room: 2)) == recvOutcome(bytes("ab")))
        m.fails(.sendHeaders(socket: client, fds: [0], headers: [1], cmsgLength: 15, data: bytes("x")), EINVAL)
        #expect(m.referencesAreConsistent())
    }
}

/// What the parser refuses in `send_headers`, and `recv`'s new keys parsed.
@Suite struct MessageFlagParserTests {
    @Test(arguments: [
        ("{socket: a, fds: [0, 1], headers: [1]}", "'headers' splits 1 descriptors, but 'fds' lists 2"),
        ("{socket: a, fds: [0, 1], headers: [1, 1], cmsg_len: 16}", "'cmsg_len' needs exactly one header"),
        ("{socket: a, fds: [0, 1, 2], cmsg_len: 16}", "'cmsg_len' takes at most 2 descriptors"),
    ])
    func sendHeadersRefuses(_ arguments: (String, String)) {
        do {
            _ = try scenario("""
                summary: refused
                steps:
                  - main.socketpair: {as: [a, b]}
                  - main.send_headers: \(arguments.0)
                """)
            Issue.record("accepted: \(arguments.0)")
        } catch {
            #expect("\(error)".contains(arguments.1), "\(error)")
        }
    }

    @Test func recvTakesTheNewFlagsAndAnExactControlBuffer() throws {
        let parsed = try scenario("""
            summary: parsed
            steps:
              - main.socketpair: {as: [a, b]}
              - main.recv: {socket: b, flags: [peek, trunc, waitall, nonblock], control: 20}
            """)
        guard case .messages(.recv(_, _, _, let cloexec, let nonBlocking, let flags, let control))? = parsed.steps.last?.operation else {
            Issue.record("not a recv")
            return
        }
        #expect(!cloexec && nonBlocking && flags == [.peek, .trunc, .waitall] && control == 20)
    }
}

/// The kernel against a scenario that states the wrong outcome of a flag: each one fails with a finding.
@Suite(.serialized, .leavesNoChildren) struct MessageFlagScenarioTests {
    @Test(arguments: [
        // A peek consumes nothing: the second receive does not say EAGAIN.
        ("main.recv: {socket: left, count: 8, flags: [peek], room: 1}", "main.recv: {socket: left, count: 8, flags: [nonblock], error: EAGAIN}"),
        // MSG_TRUNC on a datagram returns the real length, not what was copied.
        ("main.recv: {socket: left, count: 2, flags: [trunc], result: 2}", "main.close: {fd: left}"),
        // 20 bytes of control buffer hold one descriptor, not none.
        ("main.recv: {socket: left, count: 8, control: 20, received: 0}", "main.close: {fd: left}"),
        // MSG_OOB without an out-of-band byte is an error on a datagram socket.
        ("main.recv: {socket: left, flags: [oob], room: 1}", "main.close: {fd: left}"),
        // MSG_OOB sends are refused on a datagram socket.
        ("main.send: {socket: right, data: \"x\", flags: [oob]}", "main.close: {fd: left}"),
        // An empty SCM_RIGHTS header is no error.
        ("main.send_headers: {socket: right, fds: [], headers: [0], error: EINVAL}", "main.close: {fd: left}"),
        // Two headers in one message are no error either.
        ("main.send_headers: {socket: right, fds: [0, 1], headers: [1, 1], error: EINVAL}", "main.close: {fd: left}"),
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
