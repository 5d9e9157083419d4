// Reference model tests: TCP and UDP on 127.0.0.1.

@testable import HandoffCore
import Glibc
import Testing

extension ReferenceModelTests {
    // MARK: TCP

    @Test func tcpPortZeroIsReachableOnlyAfterAssignPort() {
        var m = makeModel()
        let l = m.fd(listenOp(.tcp(port: 0)))
        m.fails(connectOp(.tcp(port: 40000)), ECONNREFUSED)
        m.fails(connectOp(.tcp(port: 0)), ECONNREFUSED)
        m.assignPort(40000, process: "main", fd: l)
        let c = m.fd(connectOp(.tcp(port: 40000)))
        #expect(m.description(m.desc("main", c)!).kind == .socket(.stream))
        let s = m.fd(acceptOp(l))
        m.ok(.write(fd: c, data: bytes("abc")))
        #expect(m.ok(.read(fd: s, count: 2)) == readOutcome("ab"))
        #expect(m.ok(.recv(socket: s, count: 9, room: 2, closeOnExec: false, nonBlocking: true)) ==
            recvOutcome(bytes("c")))
        m.ok(.close(fd: l))
        m.fails(connectOp(.tcp(port: 40000)), ECONNREFUSED)
    }

    @Test func tcpFixedPortsConflictOnlyWithListeners() {
        var m = makeModel()
        let l = m.fd(listenOp(.tcp(port: 5555)))
        m.fails(listenOp(.tcp(port: 5555)), EADDRINUSE)
        let c = m.fd(connectOp(.tcp(port: 5555)))
        m.ok(acceptOp(l))
        m.ok(.close(fd: l))
        // Established connections on the port do not conflict (SO_REUSEADDR).
        m.ok(listenOp(.tcp(port: 5555)))
        m.ok(.dropCapability(name: "CAP_NET_BIND_SERVICE"))
        m.fails(listenOp(.tcp(port: 80)), EACCES)
        m.ok(listenOp(.tcp(port: 1024)))
        _ = c
    }

    @Test func tcpIgnoresSCMRights() {
        var m = makeModel()
        let (_, c, s) = m.connection(.tcp(port: 0))
        let f = m.fd(.open(path: "f", flags: creatRW, mode: 0o600))
        // __sock_cmsg_send skips SCM_RIGHTS: no validation, no references, nothing received.
        #expect(m.ok(.send(socket: c, fds: [f, 99], data: bytes("x"))) == Outcome(result: 1))
        #expect(m.ok(.send(socket: c, fds: Array(repeating: f, count: 300), data: bytes("y"))) == Outcome(result: 1))
        #expect(m.references(m.desc("main", f)!) == 1)
        #expect(m.ok(.recv(socket: s, count: 9, room: 4, closeOnExec: false, nonBlocking: true)) ==
            recvOutcome(bytes("xy")))
        #expect(m.referencesAreConsistent())
    }

    @Test func tcpOrderlyCloseGivesEOFAndTheFirstWriteIsSwallowed() {
        var m = makeModel()
        let (_, c, s) = m.connection(.tcp(port: 0))
        m.ok(.write(fd: s, data: bytes("last")))
        m.ok(.close(fd: s))
        #expect(m.ok(.read(fd: c, count: 10)) == readOutcome("last"))
        #expect(m.ok(.read(fd: c, count: 10)) == eof)
        #expect(m.ok(.write(fd: c, data: [])) == Outcome(result: 0))
        // Accepted by the kernel, answered with RST by the orphan: later writes fail EPIPE.
        #expect(m.ok(.write(fd: c, data: bytes("a"))) == Outcome(result: 1))
        m.fails(.write(fd: c, data: bytes("a")), EPIPE)
        m.fails(.write(fd: c, data: bytes("a")), EPIPE)
        // SOCK_DONE: reads keep returning EOF.
        #expect(m.ok(.read(fd: c, count: 10)) == eof)
    }

    @Test func tcpCloseWithUnreadDataResetsThePeer() {
        var m = makeModel()
        let (_, c, s) = m.connection(.tcp(port: 0))
        m.ok(.write(fd: s, data: bytes("ab")))
        m.ok(.write(fd: c, data: bytes("unread")))
        m.ok(.close(fd: s))
        // Data that had arrived is still read first, then the reset, then EOF.
        #expect(m.ok(.read(fd: c, count: 10)) == readOutcome("ab"))
        m.fails(.read(fd: c, count: 10), ECONNRESET)
        #expect(m.ok(.read(fd: c, count: 10)) == eof)
        m.fails(.write(fd: c, data: [1]), EPIPE)
    }

    @Test func tcpResetIsReportedOnceByWhicheverCallComesFirst() {
        var m = makeModel()
        let (_, c, s) = m.connection(.tcp(port: 0))
        m.ok(.write(fd: c, data: bytes("unread")))
        m.ok(.close(fd: s))
        m.fails(.write(fd: c, data: [1]), ECONNRESET)
        m.fails(.write(fd: c, data: [1]), EPIPE)
        #expect(m.ok(.read(fd: c, count: 10)) == eof)
    }

    @Test func closingATCPListenerResetsWaitingClients() {
        var m = makeModel()
        let l = m.fd(listenOp(.tcp(port: 6000)))
        let c = m.fd(connectOp(.tcp(port: 6000), nonBlocking: true))
        m.ok(.write(fd: c, data: bytes("lost")))
        m.ok(.close(fd: l))
        m.fails(nbRecv(c), ECONNRESET)
        #expect(m.ok(nbRecv(c)) == recvOutcome([]))
        m.fails(.write(fd: c, data: [1]), EPIPE)
    }

    @Test func tcpEmptyQueueRules() {
        var m = makeModel()
        let (_, c, s) = m.connection(.tcp(port: 0))
        m.fails(nbRecv(c), EAGAIN)
        #expect(m.apply(.read(fd: c, count: 4), by: "main").blocks)
        m.ok(.close(fd: s))
        #expect(m.ok(nbRecv(c)) == recvOutcome([]))
    }

    @Test func udpConnectSucceedsAndReportsPortUnreachableOnce() {
        var m = makeModel()
        let u = m.fd(connectOp(.tcp(port: 9), .dgram))
        #expect(m.description(m.desc("main", u)!).kind == .socket(.dgram))
        #expect(m.ok(.send(socket: u, fds: [99], data: bytes("a"))) == Outcome(result: 1))
        m.fails(.write(fd: u, data: bytes("b")), ECONNREFUSED)
        m.ok(.write(fd: u, data: bytes("c")))
        m.fails(nbRecv(u), ECONNREFUSED)
        m.fails(nbRecv(u), EAGAIN)
        m.fails(acceptOp(u), EOPNOTSUPP)
    }
}
