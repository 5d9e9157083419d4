// Reference model tests: AF_UNIX socketpairs and SCM_RIGHTS.

@testable import HandoffCore
import Glibc
import Testing

extension ReferenceModelTests {
    // MARK: SCM_RIGHTS

    @Test func scmRightsSharesDescriptionAndDropsSenderCloexec() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        let f = m.fd(.open(path: "f", flags: [.creat, .rdwr, .cloexec], mode: 0o600))
        m.ok(.fork(child: "peer"))
        m.ok(.close(fd: f), by: "peer")
        #expect(m.ok(.send(socket: a, fds: [f], data: bytes("x"))) == Outcome(result: 1))
        #expect(m.references(m.desc("main", f)!) == 2)  // main's entry + in flight
        let got = m.ok(.recv(socket: b, count: 10, room: 1, closeOnExec: false, nonBlocking: false), by: "peer")
        #expect(got == recvOutcome(bytes("x"), fds: [f]))  // lowest free in peer is f's old number
        #expect(m.desc("peer", f) == m.desc("main", f))
        #expect(m.cloexec("peer", f) == false)
        #expect(m.references(m.desc("main", f)!) == 2)
        #expect(m.referencesAreConsistent())
    }

    @Test func msgCmsgCloexecSetsCloseOnExec() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .dgram, closeOnExec: false, nonBlocking: false))
        let f = m.fd(.memfd(name: "m", closeOnExec: false))
        m.ok(.send(socket: a, fds: [f, f], data: bytes("two")))
        let got = m.ok(.recv(socket: b, count: 10, room: 2, closeOnExec: true, nonBlocking: false))
        #expect(got == recvOutcome(bytes("two"), fds: [6, 7]))
        #expect(m.cloexec("main", 6) == true && m.cloexec("main", 7) == true)
        #expect(m.desc("main", 6) == m.desc("main", f) && m.desc("main", 7) == m.desc("main", f))
        #expect(m.references(m.desc("main", f)!) == 3)
    }

    @Test func offsetIsSharedAfterSCMRights() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .seqpacket, closeOnExec: false, nonBlocking: false))
        let f = m.fd(.open(path: "f", flags: creatRW, mode: 0o600))
        m.ok(.write(fd: f, data: bytes("abcdef")))
        m.ok(.lseek(fd: f, offset: 1, whence: .set))
        m.ok(.fork(child: "peer"))
        m.ok(.send(socket: a, fds: [f], data: bytes("f")))
        let got = m.ok(.recv(socket: b, count: 10, room: 1, closeOnExec: false, nonBlocking: false), by: "peer")
        let received = got.fds[0]
        #expect(m.ok(.read(fd: received, count: 2), by: "peer") == readOutcome("bc"))
        #expect(m.ok(.read(fd: f, count: 2)) == readOutcome("de"))
    }

    @Test func capacityRoundsUpToEightBytes() {
        #expect(ReferenceModel.capacity(room: 0) == 0)
        #expect(ReferenceModel.capacity(room: 1) == 2)
        #expect(ReferenceModel.capacity(room: 2) == 2)
        #expect(ReferenceModel.capacity(room: 3) == 4)
        #expect(ReferenceModel.capacity(room: 253) == 254)
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: a, fds: [0, 1], data: bytes("x")))
        // room 1 still installs both descriptors: CMSG_SPACE(4) == CMSG_SPACE(8).
        #expect(m.ok(.recv(socket: b, count: 1, room: 1, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("x"), fds: [5, 6]))
        m.ok(.send(socket: a, fds: [0, 1, 2], data: bytes("y")))
        #expect(m.ok(.recv(socket: b, count: 1, room: 1, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("y"), fds: [7, 8], flags: 0x8))
        #expect(m.referencesAreConsistent())
    }

    @Test func ctruncReleasesTheExcessDescriptors() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        let f = m.fd(.open(path: "f", flags: creatRW, mode: 0o600))
        m.ok(.send(socket: a, fds: [f, f, w], data: bytes("m")))
        m.ok(.close(fd: w))
        #expect(m.apply(.read(fd: r, count: 1), by: "main").blocks)  // the write end is in flight
        let got = m.ok(.recv(socket: b, count: 4, room: 2, closeOnExec: false, nonBlocking: false))
        #expect(got == recvOutcome(bytes("m"), fds: [w, 8], flags: 0x8))
        #expect(m.desc("main", w) == m.desc("main", f))
        #expect(m.ok(.read(fd: r, count: 1)) == eof)
        #expect(m.referencesAreConsistent())
    }

    @Test func roomZeroReceivesNoDescriptors() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .seqpacket, closeOnExec: false, nonBlocking: false))
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: true))
        m.ok(.send(socket: a, fds: [w], data: bytes("hi")))
        m.ok(.close(fd: w))
        m.fails(.read(fd: r, count: 1), EAGAIN)
        #expect(m.ok(.recv(socket: b, count: 10, room: 0, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("hi"), flags: 0x8))
        #expect(m.numbers() == [0, 1, 2, a, b, r])
        #expect(m.ok(.read(fd: r, count: 1)) == eof)
        // A message without descriptors never sets MSG_CTRUNC.
        m.ok(.send(socket: a, fds: [], data: bytes("plain")))
        #expect(m.ok(.recv(socket: b, count: 10, room: 0, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("plain")))
    }

    @Test func scmMaxFDLimit() {
        var m = makeModel(limit: 1024)
        let (a, b) = m.pair(.socketpair(type: .dgram, closeOnExec: false, nonBlocking: false))
        m.fails(.send(socket: a, fds: Array(repeating: 0, count: 254), data: bytes("x")), EINVAL)
        m.fails(.recv(socket: b, count: 1, room: 0, closeOnExec: false, nonBlocking: true), EAGAIN)
        #expect(m.ok(.send(socket: a, fds: Array(repeating: 0, count: 253), data: bytes("x"))) == Outcome(result: 1))
        #expect(m.references(m.desc("main", 0)!) == 254)
        let got = m.ok(.recv(socket: b, count: 1, room: 253, closeOnExec: false, nonBlocking: false))
        #expect(got.fds == Array(5..<258))
        #expect(got.messageFlags == 0)
        #expect(m.references(m.desc("main", 0)!) == 254)
        #expect(m.referencesAreConsistent())
    }

    @Test func badDescriptorInListSendsNothing() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        m.fails(.send(socket: a, fds: [0, 42], data: bytes("x")), EBADF)
        m.fails(.recv(socket: b, count: 10, room: 4, closeOnExec: false, nonBlocking: true), EAGAIN)
        #expect(m.references(m.desc("main", 0)!) == 1)
        m.fails(.send(socket: 42, fds: [], data: bytes("x")), EBADF)
        let f = m.fd(.memfd(name: "m", closeOnExec: false))
        m.fails(.send(socket: f, fds: [], data: bytes("x")), ENOTSOCK)
        m.fails(.recv(socket: f, count: 1, room: 0, closeOnExec: false, nonBlocking: true), ENOTSOCK)
        m.fails(.recv(socket: 42, count: 1, room: 0, closeOnExec: false, nonBlocking: true), EBADF)
        // The fd-count check comes before the fd validity check.
        m.fails(.send(socket: a, fds: Array(repeating: 99, count: 254), data: bytes("x")), EINVAL)
    }

    @Test func senderClosesEverythingBeforeReceiverReceives() {
        var n = makeModel()
        let (c, d) = n.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        n.ok(.fork(child: "sender"))
        n.ok(.close(fd: c))
        n.ok(.close(fd: d), by: "sender")
        let g = n.fd(.open(path: "g", flags: creatRW, mode: 0o600), by: "sender")
        n.ok(.write(fd: g, data: bytes("xyz")), by: "sender")
        n.ok(.send(socket: c, fds: [g], data: bytes("take")), by: "sender")
        n.ok(.exit(status: 0), by: "sender")
        let got = n.ok(.recv(socket: d, count: 10, room: 1, closeOnExec: false, nonBlocking: false))
        #expect(got == recvOutcome(bytes("take"), fds: [3]))
        #expect(n.description(n.desc("main", 3)!).offset == 3)
        n.ok(.lseek(fd: 3, offset: 0, whence: .set))
        #expect(n.ok(.read(fd: 3, count: 10)) == readOutcome("xyz"))
        // The sender is gone: EOF after the queued data.
        #expect(n.ok(.recv(socket: d, count: 10, room: 1, closeOnExec: false, nonBlocking: false)) == recvOutcome([]))
        #expect(n.referencesAreConsistent())
    }

    @Test func closingTheReceiverWithAMessageInFlightReleasesIt() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: a, fds: [w], data: bytes("w")))
        m.ok(.close(fd: w))
        #expect(m.apply(.read(fd: r, count: 1), by: "main").blocks)
        m.ok(.close(fd: b))
        #expect(m.ok(.read(fd: r, count: 1)) == eof)
        // The peer closed with unread data: ECONNRESET once, then EOF; sends fail EPIPE.
        m.fails(.send(socket: a, fds: [], data: bytes("z")), EPIPE)
        m.fails(.recv(socket: a, count: 1, room: 0, closeOnExec: false, nonBlocking: false), ECONNRESET)
        #expect(m.ok(.recv(socket: a, count: 1, room: 0, closeOnExec: false, nonBlocking: false)) == recvOutcome([]))
        #expect(m.referencesAreConsistent())
    }

    @Test func purgeCascadesThroughSocketsInFlight() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        let (c, d) = m.pair(.socketpair(type: .dgram, closeOnExec: false, nonBlocking: false))
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: true))
        m.ok(.send(socket: c, fds: [w], data: bytes("pipe")))  // w in flight in d's queue
        m.ok(.send(socket: a, fds: [d], data: bytes("sock")))  // d in flight in b's queue
        m.ok(.close(fd: w))
        m.ok(.close(fd: d))
        m.fails(.read(fd: r, count: 1), EAGAIN)
        m.ok(.close(fd: b))  // purges b: releases d, which purges d's queue: releases w
        #expect(m.ok(.read(fd: r, count: 1)) == eof)
        // c's dgram peer is dead now.
        m.fails(.send(socket: c, fds: [], data: bytes("?")), ECONNREFUSED)
        m.fails(.send(socket: c, fds: [], data: bytes("?")), ENOTCONN)
        #expect(m.referencesAreConsistent())
    }

    @Test func streamZeroLengthSendTransfersNothing() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        #expect(m.ok(.send(socket: a, fds: [0], data: [])) == Outcome(result: 0))
        #expect(m.references(m.desc("main", 0)!) == 1)
        m.fails(.recv(socket: b, count: 10, room: 1, closeOnExec: false, nonBlocking: true), EAGAIN)
        // A seqpacket (or dgram) zero-length message does carry descriptors.
        let (c, d) = m.pair(.socketpair(type: .seqpacket, closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: c, fds: [0], data: []))
        #expect(m.ok(.recv(socket: d, count: 10, room: 1, closeOnExec: false, nonBlocking: true)) ==
            recvOutcome([], fds: [7]))
    }

    @Test func datagramTruncationAndMessageBoundaries() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .dgram, closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: a, fds: [], data: bytes("hello")))
        m.ok(.send(socket: a, fds: [], data: bytes("world")))
        #expect(m.ok(.recv(socket: b, count: 3, room: 0, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("hel"), flags: 0x20))
        #expect(m.ok(.recv(socket: b, count: 30, room: 0, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("world")))
        #expect(m.apply(.recv(socket: b, count: 1, room: 0, closeOnExec: false, nonBlocking: false), by: "main") ==
            Outcome(blocks: true))
        // Both directions work; read() on a socket reports no message flags.
        m.ok(.write(fd: b, data: bytes("back")))
        #expect(m.ok(.read(fd: a, count: 2)) == readOutcome("ba"))
        // The rest of the datagram was discarded; the blocking description would now block.
        #expect(m.apply(.read(fd: a, count: 2), by: "main") == Outcome(blocks: true))
    }

    @Test func streamReadsGlueMessagesAndStopAfterDescriptors() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: a, fds: [], data: bytes("ab")))
        m.ok(.send(socket: a, fds: [0], data: bytes("cd")))
        m.ok(.send(socket: a, fds: [], data: bytes("ef")))
        // Bytes of the first message glue with the next one, whose descriptor ends the read.
        #expect(m.ok(.recv(socket: b, count: 10, room: 1, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("abcd"), fds: [5]))
        #expect(m.ok(.recv(socket: b, count: 10, room: 1, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("ef")))
        // A partial read takes the descriptors with the first bytes and leaves the rest.
        m.ok(.send(socket: a, fds: [1], data: bytes("12345")))
        #expect(m.ok(.recv(socket: b, count: 2, room: 1, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("12"), fds: [6]))
        #expect(m.ok(.recv(socket: b, count: 10, room: 1, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("345")))
        // Stream reads never report MSG_TRUNC.
        m.ok(.send(socket: a, fds: [], data: bytes("long message")))
        #expect(m.ok(.recv(socket: b, count: 4, room: 0, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("long")))
    }

    @Test func readOnASocketDiscardsDescriptors() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: true))
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: a, fds: [w], data: bytes("x")))
        m.ok(.close(fd: w))
        #expect(m.ok(.read(fd: b, count: 5)) == readOutcome("x"))
        #expect(m.numbers() == [0, 1, 2, a, b, r])
        #expect(m.ok(.read(fd: r, count: 1)) == eof)
        // The description is non-blocking: an empty queue with a live peer is EAGAIN.
        m.fails(.read(fd: b, count: 5), EAGAIN)
        #expect(m.ok(.read(fd: b, count: 0)) == eof)
    }

    @Test func recvEmptyQueueRules() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        #expect(m.apply(.recv(socket: b, count: 1, room: 0, closeOnExec: false, nonBlocking: false), by: "main").blocks)
        m.fails(.recv(socket: b, count: 1, room: 0, closeOnExec: false, nonBlocking: true), EAGAIN)
        m.ok(.close(fd: a))  // closed with an empty queue: plain EOF, no ECONNRESET
        #expect(m.ok(.recv(socket: b, count: 1, room: 0, closeOnExec: false, nonBlocking: false)) == recvOutcome([]))
        m.fails(.send(socket: b, fds: [], data: bytes("x")), EPIPE)
        m.fails(.write(fd: b, data: bytes("x")), EPIPE)

        let (c, d) = m.pair(.socketpair(type: .seqpacket, closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: c, fds: [], data: bytes("last")))
        m.ok(.close(fd: c))
        #expect(m.ok(.recv(socket: d, count: 10, room: 0, closeOnExec: false, nonBlocking: true)) ==
            recvOutcome(bytes("last")))
        #expect(m.ok(.recv(socket: d, count: 10, room: 0, closeOnExec: false, nonBlocking: true)) == recvOutcome([]))
        m.fails(.send(socket: d, fds: [], data: bytes("x")), EPIPE)

        let (e, f) = m.pair(.socketpair(type: .dgram, closeOnExec: false, nonBlocking: false))
        m.ok(.close(fd: e))
        m.fails(.recv(socket: f, count: 1, room: 0, closeOnExec: false, nonBlocking: true), EAGAIN)
        #expect(m.apply(.recv(socket: f, count: 1, room: 0, closeOnExec: false, nonBlocking: false), by: "main").blocks)
    }

    @Test func seqpacketPeerClosedWithUnreadDataReportsECONNRESETFirst() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .seqpacket, closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: a, fds: [], data: bytes("unread")))  // sits in b's queue
        m.ok(.send(socket: b, fds: [], data: bytes("for a")))
        m.ok(.close(fd: b))
        m.fails(.recv(socket: a, count: 10, room: 0, closeOnExec: false, nonBlocking: false), ECONNRESET)
        #expect(m.ok(.recv(socket: a, count: 10, room: 0, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("for a")))
        #expect(m.ok(.recv(socket: a, count: 10, room: 0, closeOnExec: false, nonBlocking: false)) == recvOutcome([]))
    }

    @Test func dgramSendToDeadPeerPurgesOwnQueue() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .dgram, closeOnExec: false, nonBlocking: false))
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: true))
        m.ok(.send(socket: b, fds: [w], data: bytes("to a")))
        m.ok(.close(fd: w))
        m.ok(.close(fd: b))
        m.fails(.read(fd: r, count: 1), EAGAIN)
        m.fails(.send(socket: a, fds: [], data: bytes("x")), ECONNREFUSED)
        #expect(m.ok(.read(fd: r, count: 1)) == eof)
        m.fails(.recv(socket: a, count: 10, room: 1, closeOnExec: false, nonBlocking: true), EAGAIN)
        m.fails(.send(socket: a, fds: [], data: bytes("x")), ENOTCONN)
        #expect(m.referencesAreConsistent())
    }

    @Test func recvStopsInstallingAtTheLimit() {
        var m = makeModel(limit: 7)
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))  // 3, 4
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))  // 5, 6
        m.ok(.send(socket: a, fds: [0, w], data: bytes("x")))
        m.ok(.close(fd: w))
        m.ok(.close(fd: r))
        m.ok(.close(fd: 2))
        // Free numbers below the limit: 2, 5, 6.
        m.ok(.send(socket: a, fds: [0, 0, 0], data: bytes("y")))
        #expect(m.ok(.recv(socket: b, count: 1, room: 2, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("x"), fds: [2, 5]))
        #expect(m.ok(.recv(socket: b, count: 1, room: 3, closeOnExec: false, nonBlocking: false)) ==
            recvOutcome(bytes("y"), fds: [6], flags: 0x8))
        #expect(m.referencesAreConsistent())
    }
}
