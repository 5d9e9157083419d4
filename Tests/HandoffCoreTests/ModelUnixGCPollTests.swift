// Reference model tests: the AF_UNIX garbage collector (Model+UnixGC), poll (Model+Poll) and the pidfd process
// operations (Model+PidfdProcesses). Each expectation was first checked on the running kernel (6.18) with a
// standalone C program; the last tests run scenarios with a wrong expectation on the kernel and show that
// the runner reports a FAIL finding.

@testable import HandoffCore
import Glibc
import HandoffProtocol
import Testing

let pollIn = Int64(Linux.POLLIN), pollOut = Int64(Linux.POLLOUT), pollErr = Int64(Linux.POLLERR)
let pollHup = Int64(Linux.POLLHUP), pollNval = Int64(Linux.POLLNVAL), pollRdhup = Int64(Linux.POLLRDHUP)

extension ReferenceModel {
    /// The revents a poll of `fd` predicts (timeout 0).
    mutating func revents(_ fd: Int32, _ events: Set<PollEvent> = [.in], by process: String = "main") -> Int64? {
        apply(.poll(fd: fd, events: events, timeout: 0), by: process).result
    }
}

extension ReferenceModelTests {
    // MARK: - The garbage collector

    @Test func aSocketSentOverItselfIsCollectedOnlyByTheCollector() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: true))
        m.ok(.send(socket: b, fds: [a, w], data: bytes("x")))
        m.ok(.close(fd: a))
        m.ok(.close(fd: w))
        // Dead but not collected: the writer still exists, the read end neither hangs up nor reads EOF.
        #expect(m.revents(r) == 0)
        m.fails(.read(fd: r, count: 1), EAGAIN)
        #expect(m.deadInFlightSockets().count == 1)
        m.ok(.unixGC)
        #expect(m.revents(r) == pollHup)
        #expect(m.ok(.read(fd: r, count: 1)) == eof)
        // The collected socket's peer: shut down both ways (no ECONNRESET: the queue was spliced away first).
        #expect(m.revents(b, [.in, .out, .rdhup]) == pollIn | pollOut | pollHup | pollRdhup)
        #expect(m.deadInFlightSockets().isEmpty)
    }

    @Test func twoAndThreeSocketCyclesAreOneComponent() {
        for size in [2, 3] {
            var m = makeModel()
            var ends: [(Int32, Int32)] = []
            for _ in 0..<size { ends.append(m.pair(.socketpair(type: .dgram, closeOnExec: false, nonBlocking: false))) }
            let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: true))
            // ends[i].0 goes into the queue of ends[(i + 1) % size].0 (sent from its peer).
            for i in 0..<size {
                let next = ends[(i + 1) % size]
                m.ok(.send(socket: next.1, fds: i == 0 ? [ends[i].0, w] : [ends[i].0], data: bytes("c")))
            }
            for (a, _) in ends { m.ok(.close(fd: a)) }
            m.ok(.close(fd: w))
            #expect(m.deadInFlightSockets().count == size)
            m.ok(.unixGC)
            #expect(m.revents(r) == pollHup, "cycle of \(size)")
        }
    }

    @Test func aDescriptorLeftOpenKeepsTheWholeCycle() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        let (c, d) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: true))
        m.ok(.send(socket: b, fds: [c], data: bytes("1")))
        m.ok(.send(socket: d, fds: [a, w], data: bytes("2")))
        let copy = m.fd(.dup(fd: a))
        m.ok(.close(fd: a))
        m.ok(.close(fd: c))
        m.ok(.close(fd: w))
        // a's file count (dup + in flight) exceeds its in-flight count: unix_vertex_dead says no.
        m.ok(.unixGC)
        #expect(m.revents(r) == 0)
        m.ok(.close(fd: copy))
        m.ok(.unixGC)
        #expect(m.revents(r) == pollHup)
    }

    @Test func aReceiverInATableKeepsWhatItsQueueHolds() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .seqpacket, closeOnExec: false, nonBlocking: false))
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: true))
        m.ok(.send(socket: a, fds: [a, w], data: bytes("x")))  // into b's queue; b is not in flight
        m.ok(.close(fd: a))
        m.ok(.close(fd: w))
        #expect(m.deadInFlightSockets().isEmpty)
        m.ok(.unixGC)
        #expect(m.revents(r) == 0)
        m.ok(.close(fd: b))  // unix_release_sock purges b's queue: the ordinary way
        #expect(m.revents(r) == pollHup)
    }

    @Test func aListenerInItsOwnEmbryosQueueIsACycle() {
        var m = makeModel()
        let listener = m.fd(listenOp(.abstract(name: "gc")))
        let client = m.fd(connectOp(.abstract(name: "gc")))
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: true))
        m.ok(.send(socket: client, fds: [listener, w], data: bytes("x")))
        m.ok(.close(fd: listener))
        m.ok(.close(fd: w))
        #expect(m.deadInFlightSockets().count == 1)
        m.ok(.unixGC)
        #expect(m.revents(r) == pollHup)
        #expect(m.revents(client) == pollIn | pollErr | pollHup)
        m.fails(.recv(socket: client, count: 1, room: 0, closeOnExec: false, nonBlocking: true), ECONNRESET)
    }

    @Test func aCycleWithAnEdgeToAnotherComponentWaitsForIt() {
        // x sits in a dead self-cycle's queue but is itself in the queue of a live socket: x is no cycle of its
        // own; collecting the self-cycle drops x's in-flight reference there, and x lives on in y's queue.
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        let (x, y) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        m.ok(.send(socket: b, fds: [a, x], data: bytes("1")))
        m.ok(.send(socket: x, fds: [x], data: bytes("2")))  // into y's queue
        m.ok(.close(fd: a))
        m.ok(.close(fd: x))
        #expect(m.deadInFlightSockets().count == 1)
        m.ok(.unixGC)
        #expect(m.revents(y, [.in]) == pollIn)  // x still alive: y has its message and no hang-up
    }

    // MARK: - poll

    @Test func pollFollowsEachObjectsPollFunction() {
        var m = makeModel()
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        #expect(m.revents(r, [.in, .out]) == 0)
        #expect(m.revents(w, [.in, .out]) == pollOut)
        m.ok(.write(fd: w, data: bytes("a")))
        #expect(m.revents(r) == pollIn)
        m.ok(.close(fd: w))
        #expect(m.revents(r) == pollIn | pollHup)
        #expect(m.revents(w) == pollNval)
        #expect(m.revents(-1) == 0)
        let (r2, w2) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        m.ok(.close(fd: r2))
        #expect(m.revents(w2, [.out]) == pollOut | pollErr)
        let (a, b) = m.pair(.socketpair(type: .dgram, closeOnExec: false, nonBlocking: false))
        m.ok(.close(fd: b))
        #expect(m.revents(a, [.in, .out, .rdhup]) == pollOut)  // dgram: a peer's close shuts nothing down
        let file = m.fd(.open(path: "f", flags: creatRW, mode: 0o600))
        #expect(m.revents(file, [.in, .out]) == pollIn | pollOut)
        let counter = m.fd(.eventfd(initial: 0, closeOnExec: false, nonBlocking: false))
        #expect(m.revents(counter, [.in, .out]) == pollOut)
        let path = m.fd(.open(path: "f", flags: [.path], mode: 0))
        #expect(m.revents(path) == pollNval)
    }

    @Test func aReopenedPipeReaderHangsUpLikeTheOriginal() {
        // pipe_poll: POLLHUP needs filp->f_pipe != w_counter; fifo_open snapshots w_counter only for a FIFO
        // opened O_NONBLOCK with no writer (!is_pipe), so a reopened reader of an anonymous pipe keeps 0 (the
        // model had snapshotted it: gVisor pipe.cc OpenViaProcSelfFD showed the kernel's POLLHUP).
        var m = makeModel()
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        let again = m.fd(.reopen(target: "main", fd: r, flags: []))
        m.ok(.close(fd: w))
        #expect(m.revents(r) == pollHup)
        #expect(m.revents(again) == pollHup)
        let late = m.fd(.reopen(target: "main", fd: r, flags: [.nonblock]))
        #expect(m.revents(late) == pollHup)
    }

    // MARK: - pidfds

    @Test func aSignalEndsTheProcessAndWaitidReapsIt() {
        var m = makeModel()
        m.ok(.fork(child: "child"))
        let handle = m.fd(.pidfdOpen(target: "child"))
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        m.ok(.fork(child: "other"))
        m.ok(.close(fd: w))
        m.ok(.close(fd: w), by: "other")
        #expect(m.revents(handle) == 0)
        m.ok(.waitid(pidfd: handle, noHang: true))
        #expect(m.ok(.pidfdSendSignal(pidfd: handle, signal: .zero)).result == 0)
        #expect(m.ok(.pidfdSendSignal(pidfd: handle, signal: .term)).result == 0)
        #expect(m.state(of: "child") == .exited(status: Outcome.killed(by: SIGTERM)))
        #expect(m.revents(handle) == pollIn)
        #expect(m.ok(.pidfdSendSignal(pidfd: handle, signal: .kill)).result == 0)  // a zombie: nothing happens
        m.fails(.waitid(pidfd: handle, noHang: false), ECHILD, by: "other")
        #expect(m.ok(.waitid(pidfd: handle, noHang: false)).status == Outcome.killed(by: SIGTERM))
        m.fails(.pidfdSendSignal(pidfd: handle, signal: .zero), ESRCH)
        m.fails(.waitid(pidfd: handle, noHang: false), ECHILD)
        m.fails(.pidfdSendSignal(pidfd: r, signal: .zero), EBADF)
        m.fails(.waitid(pidfd: r, noHang: false), EBADF)
        m.fails(.pidfdSendSignal(pidfd: 40, signal: .zero), EBADF)
        let running = m.fd(.pidfdOpen(target: "other"))
        #expect(m.apply(.waitid(pidfd: running, noHang: false), by: "main").blocks)
    }

    /// LTP pidfd_open04, kselftest pidfd_wait's wait_nonblock: PIDFD_NONBLOCK is the file's O_NONBLOCK; waitid
    /// through it says EAGAIN for a running child, unless the caller asked for WNOHANG itself (then 0), and
    /// blocks again once F_SETFL clears it. Unknown flags are EINVAL before the pid is looked at.
    @Test func aNonBlockingPidfdMakesWaitidSayEAGAIN() {
        var m = makeModel()
        m.ok(.fork(child: "child"))
        let nonBlocking = m.fd(.pidfdOpen(target: "child", flags: Linux.PIDFD_NONBLOCK))
        #expect(m.description(m.desc("main", nonBlocking)!).statusFlags == [.nonblock])
        #expect(m.cloexec("main", nonBlocking) == true)
        m.fails(.waitid(pidfd: nonBlocking, noHang: false), EAGAIN)
        #expect(m.ok(.waitid(pidfd: nonBlocking, noHang: true)).status == nil)
        m.ok(.fcntl(fd: nonBlocking, command: .setfl([])))
        #expect(m.apply(.waitid(pidfd: nonBlocking, noHang: false), by: "main").blocks)
        let blocking = m.fd(.pidfdOpen(target: "child"))
        m.ok(.fcntl(fd: blocking, command: .setfl([.nonblock])))
        m.fails(.waitid(pidfd: blocking, noHang: false), EAGAIN)
        m.fails(.pidfdOpen(target: "child", flags: 1), EINVAL)
        m.fails(.pidfdOpen(target: "ghost", flags: 1), EINVAL)
        #expect(m.apply(.pidfdOpen(target: "child", flags: Linux.PIDFD_THREAD), by: "main").beyondModel != nil)
        m.ok(.exit(status: 4), by: "child")
        #expect(m.ok(.waitid(pidfd: blocking, noHang: false)).status == 4)
        // Before 5.10 (the probe says): the flag is unknown, and waitid ignores an F_SETFL O_NONBLOCK.
        var older = makeModel()
        older.pidfdNonBlock = false
        older.ok(.fork(child: "child"))
        older.fails(.pidfdOpen(target: "child", flags: Linux.PIDFD_NONBLOCK), EINVAL)
        let pidfd = older.fd(.pidfdOpen(target: "child"))
        older.ok(.fcntl(fd: pidfd, command: .setfl([.nonblock])))
        #expect(older.apply(.waitid(pidfd: pidfd, noHang: false), by: "main").blocks)
    }

    @Test func aSignalledProcessReleasesItsDescriptorsAndItsChildrenDie() {
        var m = makeModel()
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        m.ok(.fork(child: "child"))
        m.ok(.fork(child: "grandchild"), by: "child")
        m.ok(.close(fd: w))
        m.ok(.close(fd: w), by: "grandchild")
        let handle = m.fd(.pidfdOpen(target: "child"))
        #expect(m.revents(r) == 0)
        m.ok(.pidfdSendSignal(pidfd: handle, signal: .kill))
        #expect(m.state(of: "grandchild") == .killed)
        #expect(m.revents(r) == pollHup)
        // The orphan is a zombie of the runner's until the scenario ends: it takes signal 0, main cannot reap it.
        let orphan = m.fd(.pidfdOpen(target: "grandchild"))
        #expect(m.ok(.pidfdSendSignal(pidfd: orphan, signal: .zero)).result == 0)
        m.fails(.waitid(pidfd: orphan, noHang: true), ECHILD)
    }

    // MARK: - A wrong expectation is a FAIL finding on the kernel

    @Test func aWrongPollExpectationAfterTheCollectorFails() throws {
        let result = run(try scenario("""
            summary: the collector frees the pipe's writer, but the scenario claims the reader does not hang up
            steps:
              - main.socketpair: {type: stream, as: [a, b]}
              - main.pipe: {as: [r, w]}
              - main.send: {socket: b, fds: [a, w], data: "x"}
              - main.close: {fd: a}
              - main.close: {fd: w}
              - main.unix_gc: {}
              - main.poll: {fd: r, timeout: 2000, result: 0}
            """))
        #expect(result.status == .fail)
        #expect(result.findings.map(\.kind) == [.check])
        #expect(result.findings.first?.observed == "16")
    }

    @Test func aWrongWaitidStatusFails() throws {
        let result = run(try scenario("""
            summary: SIGKILL ends the child, but the scenario claims the status of SIGTERM
            steps:
              - main.fork: {as: child}
              - main.pidfd_open: {process: child, as: handle}
              - main.pidfd_send_signal: {pidfd: handle, signal: kill}
              - main.waitid: {pidfd: handle, status: 143}
            """))
        #expect(result.status == .fail)
        #expect(result.findings.map(\.kind) == [.check])
    }
}

extension ReferenceModelTests {
    @Test func pidfdGetfdThroughAHeldPidfdFollowsThePidfd() {
        var m = makeModel()
        m.ok(.fork(child: "target"))
        m.ok(.fork(child: "thief"))
        let file = m.fd(.open(path: "f", flags: creatRW, mode: 0o600), by: "target")
        let handle = m.fd(.pidfdOpen(target: "target"))
        let (r, _) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        let copy = m.fd(.pidfdGetfdThrough(pidfd: handle, target: "target", fd: file, flags: 0))
        #expect(m.desc("main", copy) == m.desc("target", file))
        #expect(m.cloexec("main", copy) == true)
        // flags first, then the pidfd, then the target's table.
        m.fails(.pidfdGetfdThrough(pidfd: r, target: "target", fd: file, flags: 1), EINVAL)
        m.fails(.pidfdGetfdThrough(pidfd: r, target: "target", fd: file, flags: 0), EBADF)
        m.fails(.pidfdGetfdThrough(pidfd: handle, target: "target", fd: 40, flags: 0), EBADF)
        m.ok(.exit(status: 0), by: "target")
        m.fails(.pidfdGetfdThrough(pidfd: handle, target: "target", fd: file, flags: 0), ESRCH)
    }

    @Test func pidfdGetfdThroughRoundTripsWithItsPidfd() throws {
        let operation = HandoffProtocol.Operation<WireNaming>.pidfdGetfdThrough(
            pidfd: 6, target: ProcessHandle(pid: 4242, channel: 1023), fd: 3, flags: 0)
        let packet = AgentRequest.perform(operation, hidden: []).encoded().encoded()
        let message = try #require(WireMessage.decode(packet))
        #expect(message.verb == "pidfd_getfd")
        #expect(AgentRequest.decode(message) == .success(.perform(operation, hidden: [])))
    }
}

extension ReferenceModelTests {
    /// The runner judges a step against a collection too while a dead cycle waits (hasUncollectedGarbage).
    @Test func aDeadCycleWaitsForTheCollectorUntilUnixGC() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        #expect(!m.hasUncollectedGarbage)
        m.ok(.send(socket: a, fds: [b], data: bytes("x")))
        #expect(!m.hasUncollectedGarbage)  // b is still open: alive
        m.ok(.close(fd: b))
        #expect(m.hasUncollectedGarbage)
        // Without the collection the peer is alive; after it, a's peer is gone (SEND_SHUTDOWN).
        var collected = m
        collected.collectGarbage()
        #expect(m.apply(.send(socket: a, fds: [], data: []), by: "main").errno == 0)
        #expect(collected.apply(.send(socket: a, fds: [], data: []), by: "main").errno == EPIPE)
        m.ok(.unixGC)
        #expect(!m.hasUncollectedGarbage)
    }

    /// unix_dgram_sendmsg's autobind (found by handoff fuzz, seed 1203): datagram and seqpacket sends with
    /// SO_PASSCRED or SO_PASSPIDFD bind the sender even when the send fails; stream sends do not.
    @Test func datagramAndSeqpacketSendsAutobindBeforeTheyFail() {
        var m = makeModel()
        let passcred = HandoffCore.Operation.setsockopt
        let (_, b) = m.pair(.socketpair(type: .dgram, closeOnExec: false, nonBlocking: false))
        m.ok(passcred(b, .passpidfd, 1))
        m.ok(.send(socket: b, fds: [], data: bytes("x")))
        m.fails(.bind(socket: b, address: .unix(path: "b.sock")), EINVAL)
        let (c, _) = m.pair(.socketpair(type: .seqpacket, closeOnExec: false, nonBlocking: false))
        m.ok(passcred(c, .passcred, 1))
        m.ok(.send(socket: c, fds: [], data: bytes("x")))
        m.fails(.bind(socket: c, address: .unix(path: "c.sock")), EINVAL)
        let (e, _) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        m.ok(passcred(e, .passcred, 1))
        m.ok(.send(socket: e, fds: [], data: bytes("x")))
        m.ok(.bind(socket: e, address: .unix(path: "e.sock")))
        let (g, h) = m.pair(.socketpair(type: .dgram, closeOnExec: false, nonBlocking: false))
        m.ok(passcred(g, .passcred, 1))
        m.ok(.close(fd: h))
        m.fails(.send(socket: g, fds: [], data: bytes("x")), ECONNREFUSED)
        m.fails(.bind(socket: g, address: .unix(path: "g.sock")), EINVAL)
        // sock_alloc_send_pskb's EPIPE before an unconnected socket's ENOTCONN.
        let lone = m.fd(.socket(type: .dgram, closeOnExec: false, nonBlocking: false))
        m.ok(.shutdown(socket: lone, how: .write))
        m.fails(.send(socket: lone, fds: [], data: bytes("x")), EPIPE)
        // A wrong expectation: the failed send still bound g.
        #expect(m.apply(.bind(socket: g, address: .unix(path: "g2.sock")), by: "main").errno != 0)
    }
}

extension IntegrationTests {
    /// A dead cycle the kernel may collect at any moment does not excuse an answer the collection does not
    /// explain: bytes written into a pipe behind the model's back still fail the read.
    @Test func aPendingCollectionDoesNotHideADivergence() throws {
        let result = run(try scenario("""
            summary: garbage pending
            steps:
              - main.socketpair: {as: [a, b]}
              - main.send: {socket: a, fds: [b], data: "x"}
              - main.close: {fd: b}
              - main.pipe: {flags: [nonblock], as: [r, w]}
              - main.read: {fd: r, count: 8}
            """), injections: [Injection(afterStep: 4, process: "main", fault: .operation(.write(fd: 5, data: Array("zz".utf8))))])
        #expect(result.status == .fail)
        #expect(result.findings.contains { $0.kind == .outcome && $0.expected.contains("EAGAIN") },
                "\(result.findings.map(\.summary))")
    }
}

extension ReferenceModelTests {
    /// 6.12 and 6.1 look for an unconnected datagram socket's peer before the autobind and SEND_SHUTDOWN
    /// (probed: SystemProbe.unixDgramShutdownFirst); 6.18 after.
    @Test func olderKernelsLookForTheDatagramPeerFirst() {
        for shutdownFirst in [true, false] {
            var m = makeModel()
            m.dgramShutdownFirst = shutdownFirst
            let lone = m.fd(.socket(type: .dgram, closeOnExec: false, nonBlocking: false))
            m.ok(.shutdown(socket: lone, how: .write))
            m.fails(.send(socket: lone, fds: [], data: bytes("x")), shutdownFirst ? EPIPE : ENOTCONN)
            let unshut = m.fd(.socket(type: .dgram, closeOnExec: false, nonBlocking: false))
            m.ok(.setsockopt(socket: unshut, option: .passcred, value: 1))
            m.fails(.send(socket: unshut, fds: [], data: bytes("x")), ENOTCONN)
            // Autobound only where the autobind comes first.
            #expect(m.apply(.bind(socket: unshut, address: .unix(path: "u.sock")), by: "main").errno
                    == (shutdownFirst ? EINVAL : 0))
        }
    }
}
