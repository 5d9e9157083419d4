// Reference model tests: MSG_OOB on unix stream sockets and TCP urgent data (Model+OutOfBand.swift).

@testable import HandoffCore
import Glibc
import Testing

private func oobSend(_ fd: Int32, _ text: String, fds: [Int32] = []) -> Operation {
    .send(socket: fd, fds: fds, data: bytes(text), flags: [.oob])
}

private func oobOutcome(_ text: String) -> Outcome {
    Outcome(result: 1, data: bytes(text), messageFlags: Linux.MSG_OOB)
}

extension ReferenceModelTests {
    @Test func aUnixOutOfBandByteStopsReadsIsReturnedOnceAndIsDroppedWhenReachedFirst() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        #expect(m.ok(oobSend(a, "abc")) == Outcome(result: 3))
        #expect(m.ok(nbRecv(b, 8)) == recvOutcome(bytes("ab")))
        #expect(m.ok(flagRecv(b, 8, [.oob, .peek])) == oobOutcome("c"))
        #expect(m.ok(flagRecv(b, 8, [.oob])) == oobOutcome("c"))
        m.fails(flagRecv(b, 8, [.oob]), EINVAL)
        m.fails(nbRecv(b, 8), EAGAIN)
        // A newer out-of-band byte makes the older one ordinary.
        m.ok(oobSend(a, "ab"))
        m.ok(oobSend(a, "cd"))
        #expect(m.ok(nbRecv(b, 8)) == recvOutcome(bytes("abc")))
        #expect(m.ok(flagRecv(b, 8, [.oob])) == oobOutcome("d"))
        // Reached first by a read, an unread out-of-band byte is dropped; a peek walks over it.
        m.ok(oobSend(a, "xy"))
        m.ok(.send(socket: a, fds: [], data: bytes("z")))
        #expect(m.ok(nbRecv(b, 1)) == recvOutcome(bytes("x")))
        #expect(m.ok(flagRecv(b, 8, [.peek])) == recvOutcome(bytes("z")))
        #expect(m.ok(nbRecv(b, 8)) == recvOutcome(bytes("z")))
        m.fails(flagRecv(b, 8, [.oob]), EINVAL)
        // Empty, or on a datagram socket: EOPNOTSUPP.
        m.fails(oobSend(a, ""), EOPNOTSUPP)
        let (c, _) = m.pair(.socketpair(type: .seqpacket, closeOnExec: false, nonBlocking: false))
        m.fails(oobSend(c, "x"), EOPNOTSUPP)
        m.unixOOB = false
        m.fails(oobSend(a, "x"), EOPNOTSUPP)
    }

    @Test func descriptorsOnAOneByteOutOfBandMessageAreReleasedWhenAReadPassesIt() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: true))
        m.ok(oobSend(a, "x", fds: [w]))
        m.ok(.close(fd: w))
        #expect(m.ok(flagRecv(b, 8, room: 1, [.oob])) == oobOutcome("x"))  // no descriptor installed
        m.fails(.read(fd: r, count: 1), EAGAIN)
        m.ok(.send(socket: a, fds: [], data: bytes("y")))
        #expect(m.ok(flagRecv(b, 8, room: 1, [], nonBlocking: true)) == recvOutcome(bytes("y")))
        #expect(m.ok(.read(fd: r, count: 1)) == eof)
        #expect(m.referencesAreConsistent())
    }

    @Test func tcpUrgentDataStopsReadsIsSkippedAndIsReadOnce() {
        var m = makeModel()
        let (_, client, server) = m.connection(.tcp(port: 0))
        m.ok(oobSend(client, "abc"))
        #expect(m.ok(nbRecv(server, 8)) == recvOutcome(bytes("ab")))
        #expect(m.ok(flagRecv(server, 8, [.oob, .peek])) == oobOutcome("c"))
        #expect(m.ok(flagRecv(server, 0, [.oob])) == Outcome(result: 0, data: [], messageFlags: Linux.MSG_OOB | Linux.MSG_TRUNC))
        m.fails(flagRecv(server, 8, [.oob]), EINVAL)
        m.fails(nbRecv(server, 8), EAGAIN)  // the urgent byte skipped
        m.ok(oobSend(client, "ab"))
        m.ok(oobSend(client, "cd"))
        #expect(m.ok(nbRecv(server, 8)) == recvOutcome(bytes("abc")))
        #expect(m.ok(flagRecv(server, 8, [.oob])) == oobOutcome("d"))
        // Skipped at the head of a read, and forgotten.
        m.ok(oobSend(client, "xy"))
        m.ok(.send(socket: client, fds: [], data: bytes("z")))
        #expect(m.ok(nbRecv(server, 1)) == recvOutcome(bytes("x")))
        #expect(m.ok(nbRecv(server, 8)) == recvOutcome(bytes("z")))
        m.fails(flagRecv(server, 8, [.oob]), EINVAL)
    }

    /// tcp_inq: the unread bytes, but only those before an urgent byte still ahead of the reader, whether
    /// recv(MSG_OOB) took it or not; a listener is EINVAL.
    @Test func tcpFionreadStopsAtTheUrgentByte() {
        var m = makeModel()
        let (listener, client, server) = m.connection(.tcp(port: 0))
        m.fails(.ioctl(fd: listener, request: .fionread), EINVAL)
        m.ok(.send(socket: client, fds: [], data: bytes("hello")))
        #expect(m.ok(.ioctl(fd: server, request: .fionread)) == Outcome(result: 5))
        m.ok(oobSend(client, "ab"))
        #expect(m.ok(.ioctl(fd: server, request: .fionread)) == Outcome(result: 6))
        #expect(m.ok(flagRecv(server, 1, [.oob])) == oobOutcome("b"))
        #expect(m.ok(.ioctl(fd: server, request: .fionread)) == Outcome(result: 6))
        #expect(m.ok(nbRecv(server, 16)) == recvOutcome(bytes("helloa")))
        m.ok(.send(socket: client, fds: [], data: bytes("xyz")))
        #expect(m.ok(.ioctl(fd: server, request: .fionread)) == Outcome(result: 0))
        #expect(m.ok(nbRecv(server, 16)) == recvOutcome(bytes("xyz")))
        m.ok(.send(socket: client, fds: [], data: bytes("12")))
        #expect(m.ok(.ioctl(fd: server, request: .fionread)) == Outcome(result: 2))
    }
}
