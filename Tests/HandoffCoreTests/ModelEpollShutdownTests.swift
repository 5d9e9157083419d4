// Reference model tests: epoll (a new kind of kernel object) and shutdown. Each expectation below was first
// checked on the running kernel with a standalone C program (fs/eventpoll.c, net/unix/af_unix.c,
// net/ipv4/af_inet.c).

@testable import HandoffCore
import Glibc
import Testing

extension ReferenceModelTests {
    /// unix_shutdown and inet_shutdown check the mode first: past SHUT_RDWR or negative is EINVAL and shuts
    /// nothing; EBADF and ENOTSOCK come before it.
    @Test func anUnknownShutdownModeIsRefusedAndShutsNothing() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        for how: Int32 in [3, -1, .max] { m.fails(.sockets(.shutdown(socket: a, how: how)), EINVAL) }
        #expect(m.ok(.send(socket: a, fds: [], data: bytes("x"), flags: [])) == Outcome(result: 1))
        m.ok(.sockets(.shutdown(socket: a, how: 1)))
        m.fails(.send(socket: a, fds: [], data: bytes("x"), flags: []), EPIPE)
        #expect(m.ok(.send(socket: b, fds: [], data: bytes("y"), flags: [])) == Outcome(result: 1), "1 is SHUT_WR")
        let (r, _) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        m.fails(.sockets(.shutdown(socket: r, how: 3)), ENOTSOCK)
        m.ok(.close(fd: r))
        m.fails(.sockets(.shutdown(socket: r, how: 3)), EBADF)
    }

    /// do_epoll_ctl's switch refuses an op it does not know (EINVAL) after the descriptors' checks, and the
    /// interest list stays as it was.
    @Test func anUnknownEpollOpIsRefusedAfterTheDescriptorChecks() {
        var m = makeModel()
        let epoll = m.fd(.epollCreate(closeOnExec: false))
        let counter = m.ok(.eventfd(initial: 1, closeOnExec: false, nonBlocking: false, semaphore: false)).fds[0]
        for op: Int32 in [0, 4, -1] { m.fails(.events(.epollCtl(epoll: epoll, op: op, fd: counter, events: [.in])), EINVAL) }
        m.fails(.events(.epollCtl(epoll: epoll, op: 4, fd: 99, events: [.in])), EBADF)
        m.ok(.events(.epollCtl(epoll: epoll, op: 1, fd: counter, events: [.in])))
        m.fails(.events(.epollCtl(epoll: epoll, op: 4, fd: counter, events: [.out])), EINVAL)
        m.fails(.epollCtl(epoll: epoll, op: .add, fd: counter, events: [.in]), EEXIST)
        #expect(m.ok(.epollWait(epoll: epoll, maxEvents: 4, timeout: 0)).result == 1)
    }

    @Test func epollIsADescriptionWithAnInterestList() {
        var m = makeModel()
        let epoll = m.fd(.epollCreate(closeOnExec: true))
        #expect(epoll == 3)
        #expect(m.cloexec("main", 3) == true)
        let description = m.description(m.desc("main", 3)!)
        #expect(description.kind == .epoll)
        #expect(description.accessMode == .readWrite)
        m.fails(.read(fd: epoll, count: 8), EINVAL)
        m.fails(.write(fd: epoll, data: bytes("x")), EINVAL)
        #expect(m.ok(.lseek(fd: epoll, offset: 5, whence: .set)).result == 0)
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        m.ok(.epollCtl(epoll: epoll, op: .add, fd: r, events: [.in]))
        m.fails(.epollCtl(epoll: epoll, op: .add, fd: r, events: [.in]), EEXIST)
        m.ok(.epollCtl(epoll: epoll, op: .mod, fd: r, events: [.in, .et]))
        #expect(m.epollInterest("main", fd: epoll)?.map(\.fd) == [r])
        #expect(m.epollInterest("main", fd: epoll)?.first?.events == [.in, .et])
        m.ok(.epollCtl(epoll: epoll, op: .del, fd: r, events: []))
        m.fails(.epollCtl(epoll: epoll, op: .del, fd: r, events: []), ENOENT)
        m.fails(.epollCtl(epoll: epoll, op: .mod, fd: w, events: [.out]), ENOENT)
    }

    @Test func epollCtlChecksInTheKernelsOrder() {
        var m = makeModel()
        let epoll = m.fd(.epollCreate(closeOnExec: false))
        let file = m.fd(.open(path: "f", flags: creatRW, mode: 0o600))
        let path = m.fd(.open(path: "f", flags: [.path], mode: 0))
        let eventfd = m.fd(.eventfd(initial: 0, closeOnExec: false, nonBlocking: false))
        // EBADF for a closed number or an O_PATH file, on either side.
        m.fails(.epollCtl(epoll: 40, op: .add, fd: eventfd, events: [.in]), EBADF)
        m.fails(.epollCtl(epoll: epoll, op: .add, fd: 40, events: [.in]), EBADF)
        m.fails(.epollCtl(epoll: epoll, op: .add, fd: path, events: [.in]), EBADF)
        m.fails(.epollCtl(epoll: path, op: .add, fd: eventfd, events: [.in]), EBADF)
        // EPERM (cannot be polled) comes before EINVAL (not an epoll): a file in both places is EPERM.
        m.fails(.epollCtl(epoll: epoll, op: .add, fd: file, events: [.in]), EPERM)
        m.fails(.epollCtl(epoll: file, op: .add, fd: file, events: [.in]), EPERM)
        m.fails(.epollCtl(epoll: epoll, op: .add, fd: 0, events: [.in]), EPERM)  // /dev/null
        m.fails(.epollCtl(epoll: eventfd, op: .add, fd: epoll, events: [.in]), EINVAL)
        m.fails(.epollCtl(epoll: epoll, op: .add, fd: epoll, events: [.in]), EINVAL)
        // Nested epolls may not form a loop.
        let outer = m.fd(.epollCreate(closeOnExec: false))
        m.ok(.epollCtl(epoll: outer, op: .add, fd: epoll, events: [.in]))
        m.fails(.epollCtl(epoll: epoll, op: .add, fd: outer, events: [.in]), ELOOP)
    }

    /// LTP epoll_ctl04, ported: ep_loop_check refuses nesting deeper than EP_MAX_NESTS counted both ways, the
    /// levels below the added epoll + 1 + the levels above the target. The model allowed any depth (found
    /// porting it). On a kernel without that count (the probe says so) such an add is beyond the model.
    @Test func epollsNestAtMostFiveDeepCountedBothWays() {
        var m = makeModel()
        let epolls = (0..<8).map { _ in m.fd(.epollCreate(closeOnExec: false)) }
        for level in 1..<5 { m.ok(.epollCtl(epoll: epolls[level], op: .add, fd: epolls[level - 1], events: [.in])) }
        // 4 levels below epolls[4]: under a sixth it would be 6 deep.
        m.fails(.epollCtl(epoll: epolls[5], op: .add, fd: epolls[4], events: [.in]), ELOOP)
        m.ok(.epollCtl(epoll: epolls[5], op: .add, fd: epolls[3], events: [.in]))
        // Top down: epolls[0] has 4 levels above it (5 over 4 over ... over 0 after the add just made).
        m.fails(.epollCtl(epoll: epolls[0], op: .add, fd: epolls[6], events: [.in]), ELOOP)
        // Joined: a chain of two under the bottom of a chain of four is too deep, under its second level not.
        m.ok(.epollCtl(epoll: epolls[7], op: .add, fd: epolls[6], events: [.in]))
        m.fails(.epollCtl(epoll: epolls[1], op: .add, fd: epolls[7], events: [.in]), ELOOP)
        m.ok(.epollCtl(epoll: epolls[2], op: .add, fd: epolls[6], events: [.in]))
        var older = makeModel()
        older.epollNestingDepth = false
        let chain = (0..<6).map { _ in older.fd(.epollCreate(closeOnExec: false)) }
        for level in 1..<5 { older.ok(.epollCtl(epoll: chain[level], op: .add, fd: chain[level - 1], events: [.in])) }
        #expect(older.apply(.epollCtl(epoll: chain[5], op: .add, fd: chain[4], events: [.in]), by: "main").beyondModel != nil)
    }

    /// EFD_SEMAPHORE (LTP eventfd2_03): a read takes 1 and counts down, through every copy of the description.
    @Test func aSemaphoreEventfdReadsOneAtATime() {
        var m = makeModel()
        let s = m.fd(.eventfd(initial: 2, closeOnExec: false, nonBlocking: true, semaphore: true))
        let copy = m.fd(.dup(fd: s))
        #expect(m.ok(.read(fd: s, count: 8)).data == [1, 0, 0, 0, 0, 0, 0, 0])
        #expect(m.ok(.read(fd: copy, count: 8)).data == [1, 0, 0, 0, 0, 0, 0, 0])
        m.fails(.read(fd: s, count: 8), EAGAIN)
        let plain = m.fd(.eventfd(initial: 2, closeOnExec: false, nonBlocking: true))
        #expect(m.ok(.read(fd: plain, count: 8)).data == [2, 0, 0, 0, 0, 0, 0, 0])
    }

    /// LTP eventfd tests, ported: the counter never reaches 2^64-1; a write that would is EAGAIN when the eventfd
    /// is non-blocking and a wait when not (the model wrapped the sum).
    @Test func anEventfdCounterStopsBelowTheMaximum() {
        var m = makeModel()
        let blocking = m.fd(.eventfd(initial: 0, closeOnExec: false, nonBlocking: false))
        let nonBlocking = m.fd(.eventfd(initial: 0, closeOnExec: false, nonBlocking: true))
        let half = [UInt8](repeating: 0x7f, count: 8)
        for fd in [blocking, nonBlocking] {
            m.ok(.write(fd: fd, data: half))
            m.ok(.write(fd: fd, data: half))  // 0xfefe...fe
        }
        m.fails(.write(fd: nonBlocking, data: half), EAGAIN)
        #expect(m.apply(.write(fd: blocking, data: half), by: "main").blocks)
        // Up to 2^64-2 exactly: 0xfefe...fe + 0x0101...00 = 0xffff...fe.
        #expect(m.ok(.write(fd: nonBlocking, data: [0, 1, 1, 1, 1, 1, 1, 1])).result == 8)
        m.fails(.write(fd: nonBlocking, data: [1, 0, 0, 0, 0, 0, 0, 0]), EAGAIN)
    }

    @Test func aRegistrationBelongsToTheDescriptionNotTheNumber() {
        var m = makeModel()
        let epoll = m.fd(.epollCreate(closeOnExec: false))
        let eventfd = m.fd(.eventfd(initial: 0, closeOnExec: false, nonBlocking: false))
        let copy = m.fd(.dup(fd: eventfd))
        m.ok(.epollCtl(epoll: epoll, op: .add, fd: eventfd, events: [.in]))
        // The same description under another number is another registration.
        m.ok(.epollCtl(epoll: epoll, op: .add, fd: copy, events: [.in]))
        // Closing one number leaves both registrations: the description lives on through `copy`.
        m.ok(.close(fd: eventfd))
        #expect(m.epollInterest("main", fd: epoll)?.map(\.fd) == [eventfd, copy])
        m.fails(.epollCtl(epoll: epoll, op: .mod, fd: eventfd, events: [.in]), EBADF)
        // The final close removes every registration of the description (eventpoll_release).
        m.ok(.close(fd: copy))
        #expect(m.epollInterest("main", fd: epoll)?.isEmpty == true)
    }

    @Test func anEpollPassedWithScmRightsIsTheSameInterestList() {
        var m = makeModel()
        let (left, right) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        let epoll = m.fd(.epollCreate(closeOnExec: false))
        m.ok(.epollCtl(epoll: epoll, op: .add, fd: left, events: [.in]))
        m.ok(.send(socket: left, fds: [epoll], data: bytes("e")))
        m.ok(.close(fd: epoll))
        let received = m.ok(.recv(socket: right, count: 1, room: 1, closeOnExec: false, nonBlocking: false)).fds
        #expect(received == [epoll])
        #expect(m.epollInterest("main", fd: received[0])?.map(\.fd) == [left])
        m.fails(.epollCtl(epoll: received[0], op: .add, fd: left, events: [.in]), EEXIST)
        #expect(m.referencesAreConsistent())
    }

    @Test func unixShutdownShutsThePeersOppositeDirection() {
        for type in [SocketType.stream, .seqpacket] {
            var m = makeModel()
            let (a, b) = m.pair(.socketpair(type: type, closeOnExec: false, nonBlocking: false))
            m.ok(.shutdown(socket: a, how: .write))
            m.fails(.send(socket: a, fds: [], data: bytes("x")), EPIPE)
            #expect(m.ok(.recv(socket: b, count: 8, room: 0, closeOnExec: false, nonBlocking: true)) == recvOutcome([]))
            m.ok(.send(socket: b, fds: [], data: bytes("y")))
            #expect(m.ok(.read(fd: a, count: 8)) == readOutcome("y"))
        }
        for type in [SocketType.stream, .seqpacket] {
            var m = makeModel()
            let (a, b) = m.pair(.socketpair(type: type, closeOnExec: false, nonBlocking: false))
            m.ok(.send(socket: b, fds: [], data: bytes("q")))
            m.ok(.shutdown(socket: a, how: .read))
            // What was queued is still delivered, then end of file, even without waiting.
            #expect(m.ok(.read(fd: a, count: 8)) == readOutcome("q"))
            #expect(m.ok(.recv(socket: a, count: 8, room: 0, closeOnExec: false, nonBlocking: true)) == recvOutcome([]))
            m.fails(.send(socket: b, fds: [], data: bytes("y")), EPIPE)
            m.ok(.send(socket: a, fds: [], data: bytes("z")))
        }
    }

    @Test func datagramShutdownIsNotMirrored() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .dgram, closeOnExec: false, nonBlocking: false))
        m.ok(.shutdown(socket: a, how: .write))
        m.fails(.send(socket: a, fds: [], data: bytes("x")), EPIPE)
        m.fails(.recv(socket: b, count: 8, room: 0, closeOnExec: false, nonBlocking: true), EAGAIN)
        m.ok(.send(socket: b, fds: [], data: bytes("y")))
        m.ok(.shutdown(socket: b, how: .read))
        m.fails(.send(socket: a, fds: [], data: bytes("z")), EPIPE)
        // A blocking reader of a shut-down datagram socket gets end of file; a non-blocking one EAGAIN.
        m.fails(.recv(socket: b, count: 8, room: 0, closeOnExec: false, nonBlocking: true), EAGAIN)
        #expect(m.ok(.recv(socket: b, count: 8, room: 0, closeOnExec: false, nonBlocking: false)) == recvOutcome([]))
    }

    @Test func shutdownErrorsAndListeners() {
        var m = makeModel()
        m.fails(.shutdown(socket: 40, how: .both), EBADF)
        let file = m.fd(.open(path: "f", flags: creatRW, mode: 0o600))
        m.fails(.shutdown(socket: file, how: .both), ENOTSOCK)
        let listener = m.fd(listenOp(.abstract(name: "shut")))
        m.ok(.shutdown(socket: listener, how: .write))
        m.ok(connectOp(.abstract(name: "shut")))
        m.ok(.shutdown(socket: listener, how: .read))
        m.fails(connectOp(.abstract(name: "shut")), ECONNREFUSED)
        // The connection queued before is still handed out; then a blocking accept fails at once with EINVAL
        // (unix_accept: no skb, no error: receive shutdown) - the model said it would wait forever.
        _ = m.fd(.accept(socket: listener, closeOnExec: false, nonBlocking: false))
        m.fails(.accept(socket: listener, closeOnExec: false, nonBlocking: false), EINVAL)
        let quiet = m.fd(listenOp(.abstract(name: "quiet")))
        #expect(m.apply(.accept(socket: quiet, closeOnExec: false, nonBlocking: false), by: "main").blocks)
        m.ok(.shutdown(socket: quiet, how: .read))
        m.fails(.accept(socket: quiet, closeOnExec: false, nonBlocking: false), EINVAL)
    }

    @Test func tcpShutdown() {
        var m = makeModel()
        let listener = m.fd(listenOp(.tcp(port: 0)))
        m.assignPort(40001, process: "main", fd: listener)
        let client = m.fd(connectOp(.tcp(port: 40001)))
        let server = m.fd(.accept(socket: listener, closeOnExec: false, nonBlocking: false))
        m.ok(.shutdown(socket: client, how: .write))
        m.fails(.send(socket: client, fds: [], data: bytes("x")), EPIPE)
        #expect(m.ok(.recv(socket: server, count: 8, room: 0, closeOnExec: false, nonBlocking: true)) == recvOutcome([]))
        m.ok(.send(socket: server, fds: [], data: bytes("y")))
        #expect(m.ok(.read(fd: client, count: 8)) == readOutcome("y"))
        // Shut down both ways, new data resets the connection (FIN_WAIT2 in tcp_rcv_state_process).
        m.ok(.shutdown(socket: client, how: .read))
        #expect(m.ok(.read(fd: client, count: 8)) == eof)
        m.ok(.send(socket: server, fds: [], data: bytes("y")))
        m.fails(.read(fd: client, count: 8), ECONNRESET)
        // A listener shut down for reading stops listening and resets what waits in its queue.
        let waiting = m.fd(connectOp(.tcp(port: 40001)))
        m.ok(.shutdown(socket: listener, how: .both))
        m.fails(.read(fd: waiting, count: 8), ECONNRESET)
        m.fails(.send(socket: waiting, fds: [], data: bytes("x")), EPIPE)
        m.fails(connectOp(.tcp(port: 40001)), ECONNREFUSED)
        m.fails(.accept(socket: listener, closeOnExec: false, nonBlocking: true), EINVAL)
        m.fails(.shutdown(socket: listener, how: .read), ENOTCONN)
    }
}

// Reference model tests: what the runner probes about pidfds (checked on 6.18 with standalone C programs).
extension ReferenceModelTests {
    @Test func reopeningAPidfdFollowsTheProbe() {
        for reopens in [false, true] {
            var m = makeModel()
            m.pidfdsReopen = reopens
            m.ok(.fork(child: "c"))
            let pidfd = m.fd(.pidfdOpen(target: "c"))
            if reopens {
                let again = m.fd(.reopen(target: "main", fd: pidfd, flags: [.rdonly]))
                #expect(m.description(m.desc("main", again)!).kind == .pidfd)
                #expect(m.desc("main", again) != m.desc("main", pidfd), "a new open file description")
            } else {
                m.fails(.reopen(target: "main", fd: pidfd, flags: [.rdonly]), ENXIO)
            }
        }
    }

    @Test func aNonDumpableZombieKeepsItsDumpabilityWhereTheKernelDoes() {
        for kept in [false, true] {
            var m = makeModel()
            m.exitedKeepDumpability = kept
            m.ok(.dropCapability(name: "CAP_SYS_PTRACE"))
            m.ok(.fork(child: "hidden"))
            m.ok(.fork(child: "open"))
            m.ok(.setDumpable(false), by: "hidden")
            m.ok(.exit(status: 0), by: "hidden")
            m.ok(.exit(status: 0), by: "open")
            m.fails(.pidfdGetfd(target: "open", fd: 0, flags: 0), ESRCH)
            m.fails(.pidfdGetfd(target: "hidden", fd: 0, flags: 0), kept ? EPERM : ESRCH)
        }
    }
}

@Suite struct ErrnoListTests {
    @Test func anErrorMayBeOneOfSeveral() throws {
        let parsed = try scenario("summary: s\nsteps:\n  - main.close: {fd: 40, error: [EBADF, EINTR]}\n")
        #expect(parsed.steps[0].expect.error == "EBADF" && parsed.steps[0].expect.otherErrors == ["EINTR"])
        #expect(throws: ScenarioError.self) { _ = try scenario("summary: s\nsteps:\n  - main.close: {fd: 40, error: []}\n") }
        #expect(throws: ScenarioError.self) { _ = try scenario("summary: s\nsteps:\n  - main.close: {fd: 40, error: [EBADF, ENOPE]}\n") }
        #expect(throws: ScenarioError.self) {
            _ = try scenario("summary: s\nsteps:\n  - repeat: {count: 2, steps: [{main.close: {fd: 40, error: [EBADF, EINTR]}}]}\n")
        }
    }

    /// Against the real kernel: the list passes when the errno is any of them, fails otherwise.
    @Test func theKernelsErrnoMustBeInTheList() throws {
        let passing = run(try scenario("summary: s\nsteps:\n  - main.close: {fd: 40, error: [EINTR, EBADF]}\n"))
        #expect(passing.status == .pass, "\(passing.diff)")
        let failing = run(try scenario("summary: s\nsteps:\n  - main.close: {fd: 40, error: [EINTR, EIO]}\n"))
        #expect(failing.status == .fail)
        #expect(failing.findings.first?.expected == "-1 EINTR or EIO")
    }
}
