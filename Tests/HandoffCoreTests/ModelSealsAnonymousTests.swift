// Reference model tests: memfd seals with ftruncate (mm/memfd.c, mm/shmem.c, fs/open.c) and the
// anonymous-inode kinds signalfd, timerfd and inotify. Each expectation was first checked on Linux 6.18 with a
// standalone C program; each rule's test also shows that a wrong expectation is caught (the model's answer
// differs from it), and the integration tests below show a wrong scenario expectation FAILs with a finding.

import Foundation
import Glibc
import HandoffProtocol
import Testing
@testable import HandoffCore

extension ReferenceModelTests {
    @Test func withoutAllowSealingAMemfdStartsWithSealSeal() {
        var m = makeModel()
        let plain = m.fd(.memfd(name: "p", closeOnExec: false))
        #expect(m.ok(.fcntl(fd: plain, command: .getSeals)).result == Int64(Linux.F_SEAL_SEAL))
        m.fails(.fcntl(fd: plain, command: .addSeals([.write])), EPERM)
        m.fails(.fcntl(fd: plain, command: .addSeals([])), EPERM)
        let sealable = m.fd(.memfd(name: "s", closeOnExec: false, allowSealing: true))
        #expect(m.ok(.fcntl(fd: sealable, command: .getSeals)).result == 0)
        // A wrong expectation: seals are not added where sealing was never allowed.
        #expect(m.apply(.fcntl(fd: plain, command: .addSeals([.grow])), by: "main").errno != 0)
    }

    @Test func addSealsChecksInTheKernelsOrder() {
        var m = makeModel()
        let memfd = m.fd(.memfd(name: "m", closeOnExec: false, allowSealing: true))
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        // FMODE_WRITE before anything else: a pipe's read end is EPERM, its write end EINVAL (no seals).
        m.fails(.fcntl(fd: r, command: .addSeals([.write])), EPERM)
        m.fails(.fcntl(fd: w, command: .addSeals([.write])), EINVAL)
        m.fails(.fcntl(fd: w, command: .getSeals), EINVAL)
        m.fails(.fcntl(fd: 40, command: .getSeals), EBADF)
        // A read-only reopen may read the seals but not add any.
        m.ok(.fork(child: "peer"))
        let readOnly = m.fd(.reopen(target: "main", fd: memfd, flags: [.rdonly]), by: "peer")
        m.fails(.fcntl(fd: readOnly, command: .addSeals([.grow])), EPERM, by: "peer")
        #expect(m.ok(.fcntl(fd: readOnly, command: .getSeals), by: "peer").result == 0)
        let path = m.fd(.reopen(target: "main", fd: memfd, flags: [.path]), by: "peer")
        m.fails(.fcntl(fd: path, command: .getSeals), EBADF, by: "peer")
        m.ok(.fcntl(fd: memfd, command: .addSeals([.seal, .shrink])))
        m.fails(.fcntl(fd: memfd, command: .addSeals([.write])), EPERM)
        #expect(m.ok(.fcntl(fd: readOnly, command: .getSeals), by: "peer").result == 3)
    }

    @Test func sealExecImpliesTheWriteAndSizeSeals() {
        var m = makeModel()
        let memfd = m.fd(.memfd(name: "x", closeOnExec: false, allowSealing: true))
        m.ok(.fcntl(fd: memfd, command: .addSeals([.exec])))
        #expect(m.ok(.fcntl(fd: memfd, command: .getSeals)).result == 0x3e)
        m.fails(.write(fd: memfd, data: bytes("x")), EPERM)
        m.fails(.ftruncate(fd: memfd, length: 1), EPERM)
        // Before Linux 6.3 the bit is unknown: EINVAL.
        var old = makeModel()
        old.sealExec = false
        let early = old.fd(.memfd(name: "x", closeOnExec: false, allowSealing: true))
        old.fails(.fcntl(fd: early, command: .addSeals([.exec])), EINVAL)
    }

    @Test func sealsGovernWritesAndTruncation() {
        var m = makeModel()
        let memfd = m.fd(.memfd(name: "m", closeOnExec: false, allowSealing: true))
        m.ok(.write(fd: memfd, data: bytes("hello")))
        m.ok(.fcntl(fd: memfd, command: .addSeals([.shrink])))
        m.fails(.ftruncate(fd: memfd, length: 2), EPERM)
        m.ok(.ftruncate(fd: memfd, length: 5))
        m.ok(.ftruncate(fd: memfd, length: 8192))
        m.ok(.fcntl(fd: memfd, command: .addSeals([.grow])))
        m.fails(.ftruncate(fd: memfd, length: 8193), EPERM)
        // A write crossing i_size stops at the page chunk that would grow the file.
        m.ok(.lseek(fd: memfd, offset: 8190, whence: .set))
        #expect(m.ok(.write(fd: memfd, data: bytes("0123456789"))).result == 2)
        m.fails(.write(fd: memfd, data: bytes("x")), EPERM)
        #expect(m.ok(.write(fd: memfd, data: [])).result == 0)
        m.ok(.fcntl(fd: memfd, command: .addSeals([.futureWrite])))
        m.ok(.lseek(fd: memfd, offset: 0, whence: .set))
        m.fails(.write(fd: memfd, data: bytes("x")), EPERM)
        // O_TRUNC through /proc is a shrink too.
        m.ok(.fork(child: "peer"))
        m.fails(.reopen(target: "main", fd: memfd, flags: [.rdwr, .trunc]), EPERM, by: "peer")
        // A wrong expectation: the sealed write did not succeed.
        #expect(m.apply(.write(fd: memfd, data: bytes("y")), by: "main").result != 1)
    }

    @Test func ftruncateChecksTheLengthFirstThenTheFile() {
        var m = makeModel()
        m.fails(.ftruncate(fd: 40, length: -1), EINVAL)
        m.fails(.ftruncate(fd: 40, length: 0), EBADF)
        let file = m.fd(.open(path: "f", flags: creatRW, mode: 0o600))
        m.ok(.write(fd: file, data: bytes("abcdef")))
        m.ok(.ftruncate(fd: file, length: 3))
        m.ok(.lseek(fd: file, offset: 0, whence: .set))
        #expect(m.ok(.read(fd: file, count: 10)).data == bytes("abc"))
        m.ok(.ftruncate(fd: file, length: 5))
        m.ok(.lseek(fd: file, offset: 0, whence: .set))
        #expect(m.ok(.read(fd: file, count: 10)).data == bytes("abc") + [0, 0])
        let readOnly = m.fd(.open(path: "f", flags: [.rdonly], mode: 0))
        m.fails(.ftruncate(fd: readOnly, length: 0), EINVAL)
        let (_, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        m.fails(.ftruncate(fd: w, length: 0), EINVAL)
        // Regular files have seals only on tmpfs (shmem): F_SEAL_SEAL, so none can be added.
        m.fails(.fcntl(fd: file, command: .getSeals), EINVAL)
        m.filesAreShmem = true
        #expect(m.ok(.fcntl(fd: file, command: .getSeals)).result == 1)
        m.fails(.fcntl(fd: file, command: .addSeals([.grow])), EPERM)
    }

    @Test func ftruncateOfAPidfdOnPidfsIsWhatPidfsSetattrSays() {
        var m = makeModel()
        m.pidfdsReopen = true
        m.pidfdReopenTruncErrno = EOPNOTSUPP
        let pidfd = m.fd(.pidfdOpen(target: "main"))
        m.fails(.ftruncate(fd: pidfd, length: 0), EOPNOTSUPP)
        let readOnly = m.fd(.reopen(target: "main", fd: pidfd, flags: [.rdonly]))
        m.fails(.ftruncate(fd: readOnly, length: 0), EINVAL)
        // Where pidfds are anonymous inodes: not a regular file.
        var old = makeModel()
        old.pidfdsReopen = false
        let anonymous = old.fd(.pidfdOpen(target: "main"))
        old.fails(.ftruncate(fd: anonymous, length: 0), EINVAL)
    }

    @Test func anonymousKindsShareTheirRules() {
        var m = makeModel()
        let signal = m.fd(.signalfd(mask: [.usr1], closeOnExec: true, nonBlocking: true))
        let timer = m.fd(.timerfdCreate(clock: .monotonic, closeOnExec: false, nonBlocking: true))
        let watch = m.fd(.inotifyInit(closeOnExec: false, nonBlocking: true))
        #expect(m.description(m.desc("main", signal)!).kind == .anonymous(.signalfd))
        #expect(m.description(m.desc("main", timer)!).kind == .anonymous(.timerfd))
        #expect(m.description(m.desc("main", watch)!).kind == .anonymous(.inotify))
        #expect(m.description(m.desc("main", watch)!).accessMode == .readOnly)
        #expect(m.cloexec("main", signal) == true)
        m.fails(.read(fd: signal, count: 127), EINVAL)
        m.fails(.read(fd: signal, count: 128), EAGAIN)
        m.fails(.read(fd: timer, count: 7), EINVAL)
        m.fails(.read(fd: timer, count: 8), EAGAIN)
        m.fails(.read(fd: watch, count: 0), EAGAIN)
        m.fails(.write(fd: signal, data: bytes("12345678")), EINVAL)
        m.fails(.write(fd: timer, data: bytes("12345678")), EINVAL)
        m.fails(.write(fd: watch, data: bytes("x")), EBADF)
        for fd in [signal, timer, watch] {
            #expect(m.ok(.lseek(fd: fd, offset: 7, whence: .set)).result == 0)
            m.fails(.ftruncate(fd: fd, length: 0), EINVAL)
        }
        m.fails(.fcntl(fd: watch, command: .addSeals([.seal])), EPERM)
        m.fails(.fcntl(fd: timer, command: .addSeals([.seal])), EINVAL)
        m.ok(.fork(child: "peer"))
        m.fails(.reopen(target: "main", fd: timer, flags: [.rdwr]), ENXIO, by: "peer")
        let epoll = m.fd(.epollCreate(closeOnExec: false))
        for fd in [signal, timer, watch] { m.ok(.epollCtl(epoll: epoll, op: .add, fd: fd, events: [.in])) }
        // Blocking reads of an empty object wait.
        let blocking = m.fd(.timerfdCreate(clock: .realtime, closeOnExec: false, nonBlocking: false))
        #expect(m.apply(.read(fd: blocking, count: 8), by: "main").blocks)
        // Exec closes the marked one only.
        m.ok(.exec(arguments: [], environment: []))
        #expect(m.table(of: "main")[signal] == nil)
        #expect(m.table(of: "main")[timer] != nil)
        // A wrong expectation: a signalfd read of 128 bytes is not a success.
        #expect(m.apply(.read(fd: timer, count: 8), by: "main").errno == EAGAIN)
    }

    @Test func dupfdQueryComparesDescriptionsNotFiles() {
        var m = makeModel()
        let file = m.fd(.open(path: "f", flags: creatRW, mode: 0o600))
        let copy = m.fd(.dup(fd: file))
        let second = m.fd(.open(path: "f", flags: [.rdonly], mode: 0))
        let path = m.fd(.open(path: "f", flags: [.path], mode: 0))
        #expect(m.ok(.dupfdQuery(fd: file, other: copy)).result == 1)
        #expect(m.ok(.dupfdQuery(fd: file, other: second)).result == 0)
        #expect(m.ok(.dupfdQuery(fd: path, other: path)).result == 1)
        m.fails(.dupfdQuery(fd: file, other: 40), EBADF)
        m.fails(.dupfdQuery(fd: 40, other: file), EBADF)
        // A wrong expectation: a second open is not the same description.
        #expect(m.apply(.dupfdQuery(fd: file, other: second), by: "main").result != 1)
    }

    @Test func aNetworkNamespaceSeparatesAbstractNamesNotPaths() {
        var m = makeModel()
        let old = m.fd(.listen(address: .abstract(name: "n"), type: .stream, closeOnExec: false, nonBlocking: true, backlog: 4))
        m.ok(.listen(address: .unix(path: "p.sock"), type: .stream, closeOnExec: false, nonBlocking: true, backlog: 4))
        m.ok(.fork(child: "peer"))
        m.ok(.unshareNet, by: "peer")
        m.fails(.connect(address: .abstract(name: "n"), type: .stream, closeOnExec: false, nonBlocking: false), ECONNREFUSED,
                by: "peer")
        m.ok(.connect(address: .unix(path: "p.sock"), type: .stream, closeOnExec: false, nonBlocking: false), by: "peer")
        m.fails(.connect(address: .tcp(port: 80), type: .stream, closeOnExec: false, nonBlocking: false), ENETUNREACH,
                by: "peer")
        let fresh = m.fd(.listen(address: .abstract(name: "n"), type: .stream, closeOnExec: false, nonBlocking: true,
                                 backlog: 4), by: "peer")
        // A child forked afterwards is in the new namespace; the parent is not.
        m.ok(.fork(child: "child"), by: "peer")
        m.ok(.connect(address: .abstract(name: "n"), type: .stream, closeOnExec: false, nonBlocking: false), by: "child")
        m.fails(.accept(socket: old, closeOnExec: false, nonBlocking: false), EAGAIN)
        m.ok(.accept(socket: fresh, closeOnExec: false, nonBlocking: false), by: "peer")
        // Without CAP_SYS_ADMIN: EPERM.
        m.ok(.dropCapability(name: "CAP_SYS_ADMIN"), by: "child")
        m.fails(.unshareNet, EPERM, by: "child")
        // A wrong expectation: the old namespace's name is not reachable from the new one.
        #expect(m.apply(.connect(address: .abstract(name: "zz"), type: .stream, closeOnExec: false, nonBlocking: false),
                        by: "peer").errno == ECONNREFUSED)
    }

    @Test func sealAndAnonymousOperationsRoundTripOnTheWire() {
        let operations: [HandoffProtocol.Operation<WireNaming>] = [
            .fcntl(fd: 3, command: .addSeals([.seal, .futureWrite, .exec])), .fcntl(fd: 3, command: .getSeals),
            .memfd(name: "m", closeOnExec: false, allowSealing: true), .ftruncate(fd: 5, length: -1),
            .signalfd(mask: [], closeOnExec: false, nonBlocking: false),
        ]
        for operation in operations {
            let message = AgentRequest.perform(operation, hidden: []).encoded()
            #expect(AgentRequest.decode(message) == .success(.perform(operation, hidden: [])))
        }
    }
}

extension IntegrationTests {
    @Test func wrongSealInodeAndFdinfoExpectationsFailWithFindings() throws {
        let result = run(try scenario("""
            summary: wrong inspection expectations
            steps:
              - main.memfd: {flags: [allow_sealing], as: a}
              - main.memfd: {as: b}
              - main.signalfd: {signals: [usr1], as: sig}
              - main.fcntl: {fd: a, cmd: add_seals, seals: [grow]}
              - check: {seals: {main.a: [write], main.b: [seal]}, same_inode: [main.a, main.b], fdinfo: {main.sig: {sigmask: "0000000000004200"}}}
            """))
        #expect(result.status == .fail)
        let observed = result.findings.map(\.observed)
        #expect(result.findings.count == 3, "\(result.findings)")
        #expect(observed.contains("seals [grow]"))
        #expect(observed.contains("fdinfo sigmask: 0000000000000200"))
        #expect(result.findings.allSatisfy { $0.kind == .check })
    }

    @Test func aWrongSealedWriteExpectationFails() throws {
        let result = run(try scenario("""
            summary: the write is sealed, the scenario claims it works
            steps:
              - main.memfd: {flags: [allow_sealing], as: m}
              - main.fcntl: {fd: m, cmd: add_seals, seals: [write]}
              - main.write: {fd: m, data: "x", result: 1}
            """))
        #expect(result.status == .fail)
        // Both the stated result and the implied success are contradicted: two CHECK findings, no OUTCOME.
        #expect(!result.findings.isEmpty && result.findings.allSatisfy { $0.kind == .check })
        #expect(result.findings.first?.observed.contains("EPERM") == true)
    }
}
