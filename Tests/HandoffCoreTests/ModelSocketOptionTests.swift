// Reference model tests: SOL_SOCKET options (Model+SocketOptions.swift) and the credentials, pidfds and
// refusals they bring to AF_UNIX messages. Each expectation below was first checked on the running kernel
// (6.18) with a standalone C program (net/core/sock.c, net/core/scm.c, net/unix/af_unix.c).

@testable import HandoffCore
import Glibc
import HandoffProtocol
import Testing

private func get(_ fd: Int32, _ option: SocketOption) -> HandoffCore.Operation {
    .getsockopt(socket: fd, option: option)
}
private func set(_ fd: Int32, _ option: SocketOption, _ value: Int32 = 1) -> HandoffCore.Operation {
    .setsockopt(socket: fd, option: option, value: value)
}
private func recvOp(_ fd: Int32, room: Int, count: Int = 16, closeOnExec: Bool = false) -> HandoffCore.Operation {
    .recv(socket: fd, count: count, room: room, closeOnExec: closeOnExec, nonBlocking: true)
}
private func sendOp(_ fd: Int32, _ data: String, fds: [Int32] = []) -> HandoffCore.Operation {
    .send(socket: fd, fds: fds, data: bytes(data))
}
private func named(_ process: String) -> NamedCredentials {
    NamedCredentials(process: process, uid: SocketIDs().uid, gid: SocketIDs().gid)
}

extension ReferenceModelTests {
    @Test(arguments: SocketType.allCases)
    func freshUnixSocketOptions(_ type: SocketType) {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: type, closeOnExec: false, nonBlocking: false))
        #expect(m.ok(get(a, .passcred)).result == 0)
        #expect(m.ok(get(a, .passpidfd)).result == 0)
        #expect(m.ok(get(a, .passrights)).result == 1)
        #expect(m.ok(get(a, .peekOff)).result == -1)
        #expect(m.ok(get(a, .type)).result == Int64(type.linux))
        #expect(m.ok(get(a, .domain)).result == 1)
        #expect(m.ok(get(a, .acceptconn)).result == 0)
        #expect(m.ok(get(a, .error)).result == 0)
        // Any int is a boolean; the value stays on the socket, not on the other end.
        m.ok(set(a, .passcred, 5))
        #expect(m.ok(get(a, .passcred)).result == 1)
        #expect(m.ok(get(b, .passcred)).result == 0)
        m.ok(set(b, .peekOff, 7))
        #expect(m.ok(get(b, .peekOff)).result == 7)
        for option in [SocketOption.type, .domain, .acceptconn, .error, .peercred, .peerpidfd] {
            m.fails(set(a, option), ENOPROTOOPT)
        }
    }

    @Test func socketOptionErrorsComeFromTheDescriptorFirst() {
        var m = makeModel()
        let (r, _) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        m.fails(get(r, .passcred), ENOTSOCK)
        m.fails(set(r, .passcred), ENOTSOCK)
        m.fails(get(40, .type), EBADF)
        m.fails(set(40, .type), EBADF)
        m.ok(.open(path: "f", flags: creatRW, mode: 0o600))
        let path = m.fd(.open(path: "f", flags: [.path], mode: 0))
        m.fails(get(path, .type), EBADF)
    }

    @Test func optionsTravelWithTheSocketNotTheNumber() {
        var m = makeModel()
        let (a, _) = m.pair(.socketpair(type: .dgram, closeOnExec: false, nonBlocking: false))
        let (x, y) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        m.ok(set(a, .passcred))
        let copy = m.fd(.dup(fd: a))
        #expect(m.ok(get(copy, .passcred)).result == 1)
        m.ok(sendOp(x, "a", fds: [a]))
        m.ok(.close(fd: a))
        m.ok(.close(fd: copy))
        let back = m.ok(recvOp(y, room: 1)).fds[0]
        #expect(m.ok(get(back, .passcred)).result == 1)
    }

    @Test func peerCredentialsNameTheCreatorListenerAndConnector() {
        var m = makeModel()
        let (a, _) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        m.ok(.fork(child: "child"))
        #expect(m.ok(get(a, .peercred), by: "child").credentials == named("main"))
        let l = m.fd(listenOp(.abstract(name: "s")))
        let c = m.fd(connectOp(.abstract(name: "s")), by: "child")
        let s = m.fd(acceptOp(l))
        #expect(m.ok(get(s, .peercred)).credentials == named("child"))
        #expect(m.ok(get(c, .peercred), by: "child").credentials == named("main"))
        // TCP: no peer credentials (pid 0, uid and gid -1); no peer pid for a pidfd.
        let t = m.fd(listenOp(.tcp(port: 0)))
        #expect(m.ok(get(t, .peercred)).credentials == NamedCredentials(process: "0", uid: UInt32.max, gid: UInt32.max))
        m.fails(get(t, .peerpidfd), ENODATA)
        m.fails(get(t, .passcred), EOPNOTSUPP)
        m.fails(set(t, .passrights, 0), EOPNOTSUPP)
        m.ok(set(t, .peekOff, 3))
        #expect(m.ok(get(t, .domain)).result == 2)
        // SO_PEERPIDFD: a new close-on-exec pidfd of the peer's process.
        let p = m.fd(get(s, .peerpidfd))
        #expect(m.cloexec("main", p) == true)
        #expect(m.description(m.desc("main", p)!).kind == .pidfd)
    }

    @Test func soErrorReadsAndClearsThePendingError() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .seqpacket, closeOnExec: false, nonBlocking: false))
        m.ok(sendOp(a, "unread"))
        m.ok(.close(fd: b))
        #expect(m.ok(get(a, .error)).result == Int64(ECONNRESET))
        #expect(m.ok(get(a, .error)).result == 0)
        #expect(m.ok(recvOp(a, room: 0)).result == 0)
    }

    @Test(arguments: SocketType.allCases)
    func passcredDeliversTheSendersCredentials(_ type: SocketType) {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: type, closeOnExec: false, nonBlocking: false))
        m.ok(sendOp(b, "early"))
        m.ok(set(a, .passcred))
        m.ok(.fork(child: "child"))
        m.ok(sendOp(b, "late"), by: "child")
        // Queued before the option: no credentials attached, pid 0 and the overflow ids.
        let early = m.ok(recvOp(a, room: 8))
        #expect(early.credentials == NamedCredentials(process: "0", uid: 65534, gid: 65534))
        #expect(early.messageFlags == 0)
        let late = m.ok(recvOp(a, room: 8))
        #expect(late.credentials == named("child"))
        // Without room for the whole struct ucred: cut, MSG_CTRUNC, no credentials.
        m.ok(sendOp(b, "x"))
        let cut = m.ok(recvOp(a, room: 1))
        #expect(cut.credentials == nil)
        #expect(cut.messageFlags == Linux.MSG_CTRUNC)
        // No control buffer at all: MSG_CTRUNC as soon as the option is on.
        m.ok(sendOp(b, "y"))
        #expect(m.ok(recvOp(a, room: 0)).messageFlags == Linux.MSG_CTRUNC)
    }

    @Test func credentialsComeBeforeTheDescriptors() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .dgram, closeOnExec: false, nonBlocking: false))
        let (r, _) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        m.ok(set(a, .passcred))
        m.ok(sendOp(b, "1", fds: [r]))
        let cut = m.ok(recvOp(a, room: 1))
        #expect(cut.fds.isEmpty)
        #expect(cut.messageFlags == Linux.MSG_CTRUNC)
        m.ok(sendOp(b, "2", fds: [r]))
        let both = m.ok(recvOp(a, room: 10))
        #expect(both.fds.count == 1)
        #expect(both.credentials == named("main"))
        #expect(both.messageFlags == 0)
    }

    @Test func theSendersSwitchAttachesCredentialsOnlyTheReceiversDeliversThem() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        m.ok(set(b, .passcred))
        m.ok(sendOp(b, "one"))
        #expect(m.ok(recvOp(a, room: 8)).credentials == nil)
        m.ok(sendOp(b, "two"))
        m.ok(set(a, .passcred))
        #expect(m.ok(recvOp(a, room: 8)).credentials == named("main"))
    }

    @Test func streamReadsDoNotGlueMessagesOfDifferentWriters() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        m.ok(.fork(child: "other"))
        m.ok(sendOp(b, "x"))
        m.ok(sendOp(b, "y"), by: "other")
        #expect(m.ok(recvOp(a, room: 0)).data == bytes("xy"))
        m.ok(set(a, .passcred))
        m.ok(sendOp(b, "x"))
        m.ok(sendOp(b, "y"), by: "other")
        #expect(m.ok(recvOp(a, room: 8)).data == bytes("x"))
        let second = m.ok(recvOp(a, room: 8))
        #expect(second.data == bytes("y"))
        #expect(second.credentials == named("other"))
    }

    @Test func passpidfdInstallsACloseOnExecPidfdAfterTheRights() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .seqpacket, closeOnExec: false, nonBlocking: false))
        let (_, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        m.ok(set(a, .passpidfd))
        m.ok(.fork(child: "child"))
        m.ok(sendOp(b, "w", fds: [w]), by: "child")
        let outcome = m.ok(recvOp(a, room: 8))
        #expect(outcome.fds.count == 2)
        #expect(m.cloexec("main", outcome.fds[0]) == false)
        #expect(m.cloexec("main", outcome.fds[1]) == true)
        #expect(m.description(m.desc("main", outcome.fds[1])!).kind == .pidfd)
        #expect(outcome.credentials == nil)
        // Room for the right but not the pidfd: MSG_CTRUNC, one descriptor.
        m.ok(sendOp(b, "x", fds: [w]), by: "child")
        let cut = m.ok(recvOp(a, room: 1))
        #expect(cut.fds.count == 1)
        #expect(cut.messageFlags == Linux.MSG_CTRUNC)
    }

    @Test(arguments: SocketType.allCases)
    func passrightsOffRefusesDescriptorsButNotData(_ type: SocketType) {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: type, closeOnExec: false, nonBlocking: false))
        let (r, w) = m.pair(.pipe(closeOnExec: false, nonBlocking: false))
        m.ok(sendOp(b, "queued", fds: [r]))
        m.ok(set(a, .passrights, 0))
        m.fails(sendOp(b, "refused", fds: [w]), EPERM)
        m.ok(sendOp(b, "plain"))
        #expect(m.ok(recvOp(a, room: 1, count: 6)).fds.count == 1)
        #expect(m.ok(recvOp(a, room: 1, count: 5)).data == bytes("plain"))
        // The sender's own switch does not matter.
        m.ok(set(a, .passrights, 1))
        m.ok(set(b, .passrights, 0))
        m.ok(sendOp(b, "back", fds: [w]))
    }

    @Test func aConnectionInheritsTheListenersSwitchesAtConnect() {
        var m = makeModel()
        let l = m.fd(listenOp(.abstract(name: "r")))
        m.ok(set(l, .passrights, 0))
        m.ok(set(l, .peekOff, 4))
        let c = m.fd(connectOp(.abstract(name: "r")))
        m.fails(sendOp(c, "x", fds: [c]), EPERM)
        // A connection not accepted yet always gets the sender's credentials.
        m.ok(sendOp(c, "early"))
        let s = m.fd(acceptOp(l))
        #expect(m.ok(get(s, .passrights)).result == 0)
        #expect(m.ok(get(s, .peekOff)).result == -1)
        m.ok(set(s, .passcred))
        #expect(m.ok(recvOp(s, room: 8)).credentials == named("main"))
    }

    @Test func aStreamReadAtEndOfFileStillGetsControlMessages() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        m.ok(set(a, .passcred))
        m.ok(.close(fd: b))
        #expect(m.ok(recvOp(a, room: 1)).messageFlags == Linux.MSG_CTRUNC)
        let whole = m.ok(recvOp(a, room: 8))
        #expect(whole.messageFlags == 0)
        #expect(whole.credentials == NamedCredentials(process: "0", uid: 0, gid: 0))
        // seqpacket returns before scm_recv_unix: nothing.
        let (c, d) = m.pair(.socketpair(type: .seqpacket, closeOnExec: false, nonBlocking: false))
        m.ok(set(c, .passcred))
        m.ok(.close(fd: d))
        let none = m.ok(recvOp(c, room: 1))
        #expect(none.messageFlags == 0)
        #expect(none.credentials == nil)
    }

    @Test func soInqIsAStreamSwitchWhoseMessageTakesControlRoom() {
        var m = makeModel()
        let (a, b) = m.pair(.socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
        m.ok(set(a, .inq))
        m.fails(get(a, .inq), ENOPROTOOPT)
        m.fails(set(a, .inq, 5), EINVAL)
        m.ok(sendOp(b, "abcdef"))
        #expect(m.ok(recvOp(a, room: 0, count: 1)).messageFlags == Linux.MSG_CTRUNC)
        #expect(m.ok(recvOp(a, room: 1, count: 1)).messageFlags == 0)
        // After SCM_CREDENTIALS (32 bytes) a 48-byte buffer has 16 left: SCM_INQ is cut.
        m.ok(set(a, .passcred))
        #expect(m.ok(recvOp(a, room: 8, count: 1)).messageFlags == Linux.MSG_CTRUNC)
        #expect(m.ok(recvOp(a, room: 10, count: 1)).messageFlags == 0)
        let (c, _) = m.pair(.socketpair(type: .seqpacket, closeOnExec: false, nonBlocking: false))
        m.fails(set(c, .inq), ENOPROTOOPT)
        let t = m.fd(listenOp(.tcp(port: 0)))
        m.fails(set(t, .inq), ENOPROTOOPT)
    }

    @Test func beforeLinux616TheSwitchesAreAnySocketsAndCopiedAtAccept() {
        var m = makeModel()
        m.passOptionsSince616 = false
        let t = m.fd(listenOp(.tcp(port: 0)))
        m.ok(set(t, .passcred))
        #expect(m.ok(get(t, .passcred)).result == 1)
        let l = m.fd(listenOp(.abstract(name: "old")))
        let c = m.fd(connectOp(.abstract(name: "old")))
        m.ok(set(l, .passcred))
        let s = m.fd(acceptOp(l))
        #expect(m.ok(get(s, .passcred)).result == 1)
        #expect(m.ok(get(c, .passcred)).result == 0)
    }
}
