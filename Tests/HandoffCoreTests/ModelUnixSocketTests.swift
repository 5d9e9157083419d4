// Reference model tests: unix sockets with addresses (listen, connect, accept).

@testable import HandoffCore
import Glibc
import Testing

extension ReferenceModelTests {
    @Test func listenOnAUnixPathCreatesASocketFileThatOutlivesTheSocket() {
        var m = makeModel()
        #expect(m.ok(listenOp(.unix(path: "s"), nonBlocking: true)) == Outcome(result: 3, fds: [3]))
        let d = m.description(m.desc("main", 3)!)
        #expect(d.kind == .socket(.stream))
        #expect(d.accessMode == .readWrite)
        #expect(d.statusFlags == [.nonblock])
        #expect(m.cloexec("main", 3) == false)
        m.fails(.open(path: "s", flags: [.rdonly], mode: 0), ENXIO)
        m.fails(.open(path: "s", flags: [.rdwr, .trunc, .creat], mode: 0), ENXIO)
        m.fails(.open(path: "s", flags: [.rdwr, .creat, .excl], mode: 0o600), EEXIST)
        m.fails(.open(path: "s/x", flags: [.rdonly], mode: 0), ENOTDIR)
        m.fails(listenOp(.unix(path: "./s")), EADDRINUSE)
        m.ok(.close(fd: 3))
        m.fails(listenOp(.unix(path: "s")), EADDRINUSE)
        m.fails(connectOp(.unix(path: "s")), ECONNREFUSED)
        #expect(m.numbers() == [0, 1, 2])
    }

    @Test func listenOnADatagramSocketFailsAfterBind() {
        var m = makeModel()
        m.fails(listenOp(.unix(path: "d"), .dgram), EOPNOTSUPP)
        #expect(m.numbers() == [0, 1, 2])
        // bind ran before listen failed: the socket file stays, with nothing bound to it.
        m.fails(connectOp(.unix(path: "d")), ECONNREFUSED)
        m.fails(listenOp(.unix(path: "d")), EADDRINUSE)
        m.fails(listenOp(.abstract(name: "x"), .dgram), EOPNOTSUPP)
        m.fails(listenOp(.tcp(port: 0), .dgram), EOPNOTSUPP)
        #expect(m.fd(listenOp(.abstract(name: "x"))) == 3)
    }

    @Test func unixPathLookupErrors() {
        var m = makeModel()
        m.ok(.open(path: "f", flags: creatRW, mode: 0o600))
        m.fails(listenOp(.unix(path: "f")), EADDRINUSE)
        m.fails(connectOp(.unix(path: "f")), ECONNREFUSED)
        m.fails(connectOp(.unix(path: "missing")), ENOENT)
        m.fails(connectOp(.unix(path: "f/b")), ENOTDIR)
        m.fails(listenOp(.unix(path: "f/b")), ENOTDIR)
        m.fails(listenOp(.unix(path: "nodir/b")), ENOENT)
        m.fails(listenOp(.unix(path: String(repeating: "n", count: 108))), ENAMETOOLONG)
        m.fails(listenOp(.abstract(name: String(repeating: "n", count: 108))), ENAMETOOLONG)
        #expect(m.fd(listenOp(.unix(path: String(repeating: "n", count: 107)))) == 4)
    }

    @Test func abstractNamesAreFreedOnCloseAndAreKeptPerType() {
        var m = makeModel()
        let a = m.fd(listenOp(.abstract(name: "n")))
        m.fails(listenOp(.abstract(name: "n")), EADDRINUSE)
        // The socket type is part of the abstract lookup: another type may bind the same name...
        let b = m.fd(listenOp(.abstract(name: "n"), .seqpacket))
        // ...and a connect of another type does not find the listener.
        m.fails(connectOp(.abstract(name: "n"), .dgram), ECONNREFUSED)
        m.ok(.close(fd: a))
        m.fails(connectOp(.abstract(name: "n")), ECONNREFUSED)
        #expect(m.fd(connectOp(.abstract(name: "n"), .seqpacket)) == a)
        #expect(m.fd(listenOp(.abstract(name: "n"))) == 5)
        _ = b
    }

    @Test func pathConnectOfAnotherTypeIsEPROTOTYPE() {
        var m = makeModel()
        m.ok(listenOp(.unix(path: "s"), .seqpacket))
        m.fails(connectOp(.unix(path: "s"), .stream), EPROTOTYPE)
        m.fails(connectOp(.unix(path: "s"), .dgram), EPROTOTYPE)
        #expect(m.fd(connectOp(.unix(path: "s"), .seqpacket)) == 4)
    }

    @Test func seqpacketOverTCPIsNotSupportedBeforeEMFILE() {
        var m = makeModel(limit: 3)
        m.fails(listenOp(.tcp(port: 0), .seqpacket), ESOCKTNOSUPPORT)
        m.fails(connectOp(.tcp(port: 80), .seqpacket), ESOCKTNOSUPPORT)
        m.fails(listenOp(.tcp(port: 0)), EMFILE)
        m.fails(listenOp(.unix(path: "s")), EMFILE)
        // EMFILE comes before bind: nothing was created.
        m.ok(.close(fd: 2))
        m.fails(connectOp(.unix(path: "s")), ENOENT)
    }

    @Test func connectAndAcceptGiveAConnectedStreamPair() {
        var m = makeModel()
        let l = m.fd(listenOp(.unix(path: "s"), nonBlocking: true))
        #expect(m.ok(connectOp(.unix(path: "s"), closeOnExec: true, nonBlocking: true)) ==
            Outcome(result: 4, fds: [4]))
        #expect(m.cloexec("main", 4) == true)
        #expect(m.description(m.desc("main", 4)!).statusFlags == [.nonblock])
        #expect(m.ok(acceptOp(l, closeOnExec: true)) == Outcome(result: 5, fds: [5]))
        // Flags come from accept4, not from the (non-blocking) listener.
        #expect(m.description(m.desc("main", 5)!).statusFlags == [])
        #expect(m.cloexec("main", 5) == true)
        #expect(m.description(m.desc("main", 5)!).kind == .socket(.stream))
        #expect(m.ok(.write(fd: 4, data: bytes("hi"))) == Outcome(result: 2))
        #expect(m.ok(.read(fd: 5, count: 10)) == readOutcome("hi"))
        m.ok(.write(fd: 5, data: bytes("yo")))
        #expect(m.ok(.read(fd: 4, count: 10)) == readOutcome("yo"))
        m.ok(.close(fd: 5))
        #expect(m.ok(.read(fd: 4, count: 10)) == eof)
        m.fails(.write(fd: 4, data: [1]), EPIPE)
        #expect(m.referencesAreConsistent())
    }

    @Test func dataAndDescriptorsSentBeforeAcceptWaitForTheServer() {
        var m = makeModel()
        let l = m.fd(listenOp(.abstract(name: "a"), .seqpacket))
        let c = m.fd(connectOp(.abstract(name: "a"), .seqpacket))
        let f = m.fd(.open(path: "f", flags: creatRW, mode: 0o600))
        m.ok(.send(socket: c, fds: [f], data: bytes("one")))
        m.ok(.send(socket: c, fds: [], data: bytes("two")))
        #expect(m.references(m.desc("main", f)!) == 2)
        m.fails(nbRecv(c), EAGAIN)
        let s = m.fd(acceptOp(l))
        #expect(m.ok(.recv(socket: s, count: 16, room: 1, closeOnExec: false, nonBlocking: true)) ==
            recvOutcome(bytes("one"), fds: [7]))
        #expect(m.desc("main", 7) == m.desc("main", f))
        #expect(m.ok(nbRecv(s)) == recvOutcome(bytes("two")))
        #expect(m.referencesAreConsistent())
    }

    @Test func acceptWithAnEmptyQueueFollowsTheListenersFlag() {
        var m = makeModel()
        let blocking = m.fd(listenOp(.unix(path: "b")))
        let nonBlocking = m.fd(listenOp(.unix(path: "n"), nonBlocking: true))
        #expect(m.apply(acceptOp(blocking, nonBlocking: true), by: "main").blocks)
        m.fails(acceptOp(nonBlocking), EAGAIN)
        m.ok(.fcntl(fd: blocking, command: .setfl([.nonblock])))
        m.fails(acceptOp(blocking), EAGAIN)
    }

    @Test func acceptErrorsInKernelOrder() {
        var m = makeModel(limit: 8)
        let (r, _) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        let (a, _) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        m.fails(acceptOp(40), EBADF)
        m.fails(acceptOp(r), ENOTSOCK)
        m.fails(acceptOp(a), EINVAL)
        // Full table: the number is reserved before the socket is looked at.
        let extra = m.fd(.dup(fd: 0))
        m.fails(acceptOp(r), EMFILE)
        m.fails(acceptOp(40), EBADF)
        m.ok(.close(fd: extra))
        m.ok(.close(fd: a))
        let (d, _) = m.pair(.socketpair(type: .dgram, closeOnExec: false, nonBlocking: false))
        m.ok(.close(fd: r))
        m.fails(acceptOp(d), EOPNOTSUPP)
    }

    @Test func connectionsAreAcceptedInOrder() {
        var m = makeModel()
        let l = m.fd(listenOp(.tcp(port: 0)))
        m.assignPort(41000, process: "main", fd: l)
        let c1 = m.fd(connectOp(.tcp(port: 41000)))
        let c2 = m.fd(connectOp(.tcp(port: 41000)))
        m.ok(.write(fd: c2, data: bytes("second")))
        m.ok(.write(fd: c1, data: bytes("first")))
        let s1 = m.fd(acceptOp(l))
        let s2 = m.fd(acceptOp(l))
        #expect(m.ok(.read(fd: s1, count: 10)) == readOutcome("first"))
        #expect(m.ok(.read(fd: s2, count: 10)) == readOutcome("second"))
    }

    @Test func closingAListenerResetsItsWaitingUnixConnections() {
        var m = makeModel()
        let l = m.fd(listenOp(.unix(path: "s")))
        let c = m.fd(connectOp(.unix(path: "s"), nonBlocking: true))
        let f = m.fd(.open(path: "f", flags: creatRW, mode: 0o600))
        m.ok(.send(socket: c, fds: [f], data: bytes("x")))
        #expect(m.references(m.desc("main", f)!) == 2)
        m.ok(.close(fd: l))
        // The waiting connection was released with the descriptor in flight in it.
        #expect(m.references(m.desc("main", f)!) == 1)
        m.fails(.write(fd: c, data: [1]), EPIPE)
        m.fails(.read(fd: c, count: 4), ECONNRESET)
        #expect(m.ok(.read(fd: c, count: 4)) == eof)
        #expect(m.referencesAreConsistent())
    }

    @Test func closingASeqpacketListenerResetsSendersFirst() {
        var m = makeModel()
        let l = m.fd(listenOp(.abstract(name: "q"), .seqpacket))
        let c = m.fd(connectOp(.abstract(name: "q"), .seqpacket))
        m.ok(.close(fd: l))
        m.fails(.send(socket: c, fds: [], data: [1]), ECONNRESET)
        m.fails(.send(socket: c, fds: [], data: [1]), EPIPE)
    }

    @Test func aClientThatClosedBeforeAcceptLeavesDataAndEOF() {
        var m = makeModel()
        let l = m.fd(listenOp(.unix(path: "s")))
        let c = m.fd(connectOp(.unix(path: "s")))
        m.ok(.write(fd: c, data: bytes("bye")))
        m.ok(.close(fd: c))
        let s = m.fd(acceptOp(l))
        #expect(m.ok(.read(fd: s, count: 10)) == readOutcome("bye"))
        #expect(m.ok(.read(fd: s, count: 10)) == eof)
    }

    @Test func aFullBacklogMakesConnectBlock() {
        var m = makeModel()
        let l = m.fd(listenOp(.unix(path: "s"), backlog: 0))
        m.ok(connectOp(.unix(path: "s")))
        #expect(m.apply(connectOp(.unix(path: "s"), nonBlocking: true), by: "main").blocks)
        m.ok(acceptOp(l))
        m.ok(connectOp(.unix(path: "s")))
        let t = m.fd(listenOp(.tcp(port: 5000), backlog: 1))
        m.ok(connectOp(.tcp(port: 5000)))
        m.ok(connectOp(.tcp(port: 5000)))
        #expect(m.apply(connectOp(.tcp(port: 5000)), by: "main").blocks)
        _ = t
    }

    @Test func listenersRefuseDataTransfer() {
        var m = makeModel()
        let s = m.fd(listenOp(.unix(path: "s")))
        let q = m.fd(listenOp(.unix(path: "q"), .seqpacket))
        let t = m.fd(listenOp(.tcp(port: 0)))
        m.fails(nbRecv(s), EINVAL)
        m.fails(.send(socket: s, fds: [99], data: [1]), EBADF)
        m.fails(.send(socket: s, fds: [], data: [1]), ENOTCONN)
        m.fails(nbRecv(q), ENOTCONN)
        m.fails(.send(socket: q, fds: [99], data: [1]), ENOTCONN)
        m.fails(nbRecv(t), ENOTCONN)
        m.fails(.write(fd: t, data: [1]), EPIPE)
        #expect(m.ok(.read(fd: s, count: 0)) == eof)
    }
}
