import Foundation
import Glibc
import HandoffProtocol

/// One rule of docs/protocol.md, and how to see an agent keep it.
struct ProtocolCheck: Sendable {
    var name: String
    var rule: String
    var body: @Sendable (CheckContext) throws -> Void
}

/// Every check of `handoff agent-check`, in the order of docs/protocol.md: start, malformed requests, errors,
/// the verbs, the channel, housekeeping.
enum AgentChecks {
    static let all: [ProtocolCheck] = start + malformed + verbs + messages + processes + channel + housekeeping

    // MARK: - Start

    static let start: [ProtocolCheck] = [
        ProtocolCheck(name: "hello", rule: "the first message is hello version=2 with the agent's pid, its parent, "
            + "ctl=min(1023, RLIMIT_NOFILE-1), nofile, argv, env and impl") { c in
            let agent = try c.start()
            let hello = agent.hello!
            var limit = rlimit()
            getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            try c.expect(hello.version == protocolVersion, "version=\(hello.version), expected \(protocolVersion)")
            try c.expect(hello.pid == agent.pid, "pid=\(hello.pid), but the agent's pid is \(agent.pid)")
            try c.expect(hello.parent == getpid(), "ppid=\(hello.parent), but its parent is \(getpid())")
            let reserved = Int32(min(UInt64(preferredControlDescriptor), UInt64(limit.rlim_cur) - 1))
            try c.expect(hello.control == reserved, "ctl=\(hello.control), expected \(reserved)")
            try c.expect(hello.nofile == Int64(limit.rlim_cur), "nofile=\(hello.nofile), expected \(limit.rlim_cur)")
            try c.expect(hello.arguments.isEmpty, "argv=\(hello.arguments), expected none")
            try c.expect(hello.environment.contains("PATH=/usr/local/bin:/usr/bin:/bin"), "env lacks the PATH it was given")
            try c.expect(!hello.implementation.isEmpty, "impl is empty")
        },
        ProtocolCheck(name: "clean table", rule: "between requests the table holds 0, 1, 2 and the channel, which is "
            + "close-on-exec; descriptor 3 is closed") { c in
            let agent = try c.start()
            let control = agent.hello!.control
            try c.expect(c.scenarioTable(agent) == [0, 1, 2], "open besides the channel: \(c.scenarioTable(agent))")
            try c.expect(agent.table()[control] != nil, "the channel \(control) is not open")
            try c.expect(agent.closeOnExec(control) == true, "the channel \(control) is not close-on-exec")
        },
        ProtocolCheck(name: "stranger parent", rule: "an agent whose parent is not HANDOFF_PARENT_PID exits at once, "
            + "without a hello") { c in
            let agent = try CheckedAgent(path: c.path, directory: c.directory, extraEnvironment: [], environment: [
                "PATH=/usr/local/bin:/usr/bin:/bin", "\(AgentEnvironment.controlDescriptor)=3",
                "\(AgentEnvironment.expectedParent)=1",
            ] + c.environment, timeout: 3)
            try c.expect(agent.hello == nil, "it said hello to a runner that is not its parent")
            try c.expect(agent.awaitEnd(timeout: 3) != nil, "it is still running 3 s later")
        },
        ProtocolCheck(name: "channel closed", rule: "when the runner's end of the channel closes, the agent exits "
            + "(nothing of a run outlives it)") { c in
            let agent = try c.start()
            _ = try c.ok(agent, .pipe(closeOnExec: false, nonBlocking: false))
            agent.hangUp()
            try c.expect(agent.awaitEnd(timeout: 3) != nil, "it is still running 3 s after its channel closed")
        },
    ]

    // MARK: - Malformed requests and errors

    static let malformed: [ProtocolCheck] = [
        ProtocolCheck(name: "malformed requests", rule: "an unknown verb, a missing or malformed field, a value out of "
            + "range, a hello sent to it: each is answered bad reason=HEX, and the agent goes on") { c in
            let agent = try c.start()
            for text in ["frobnicate fd=3", "dup", "read fd=0 count=99999999", "dup fd=x", "recv fd=0 count=1 room=5000 flags=0",
                         "hello pid=1"] {
                _ = try c.bad(agent, text)
            }
            let answer = try c.ok(agent, .dup(fd: 0))
            try c.expect(answer.errno == 0 && answer.fds == [3], "after the bad requests, dup fd=0 gave \(answer)")
        },
        ProtocolCheck(name: "errors are answers", rule: "a failing call is ok r=-1 e=ERRNO, with ns") { c in
            let agent = try c.start()
            let answer = try c.ok(agent, .close(fd: 77))
            try c.expect(answer.result == -1 && answer.errno == EBADF, "close of a free number gave \(answer)")
        },
        ProtocolCheck(name: "unsupported is refused", rule: "an operation the hello declares unsupported is "
            + "answered bad, never performed half") { c in
            let agent = try c.start()
            guard let kind = agent.hello!.unsupported.first else { throw CheckSkip(reason: "the agent declares nothing unsupported") }
            _ = try c.bad(agent, "\(kind.keyword) fd=0")
        },
    ]

    // MARK: - Verbs

    static let verbs: [ProtocolCheck] = [
        ProtocolCheck(name: "open", rule: "open creates below the working directory; r and fds are the number") { c in
            let agent = try c.start()
            let answer = try c.ok(agent, .open(path: "check-open", flags: [.rdwr, .creat], mode: 0o600))
            try c.expect(answer.result == 3 && answer.fds == [3], "gave \(answer)")
            try c.expect(agent.table()[3]?.hasSuffix("/check-open") == true, "3 is \(agent.table()[3] ?? "closed")")
        },
        ProtocolCheck(name: "pipe and flags", rule: "pipe flags=O_CLOEXEC gives two close-on-exec ends") { c in
            let agent = try c.start()
            let answer = try c.ok(agent, .pipe(closeOnExec: true, nonBlocking: false))
            try c.expect(answer.fds == [3, 4], "fds=\(answer.fds)")
            try c.expect(agent.closeOnExec(3) == true && agent.closeOnExec(4) == true, "the ends are not close-on-exec")
        },
        ProtocolCheck(name: "descriptor objects", rule: "socketpair, memfd, eventfd, epoll_create1 and epoll_ctl "
            + "make what they say; epoll_ctl's op is passed as it is, an unknown one too") { c in
            let agent = try c.start()
            try c.requireSupport(agent, .socketpair, .memfd, .eventfd, .epollCreate, .epollCtl)
            try c.expect(try c.ok(agent, .socketpair(type: .seqpacket, closeOnExec: false, nonBlocking: false)).fds == [3, 4],
                         "socketpair did not give 3 and 4")
            try c.expect(agent.table()[3]?.hasPrefix("socket:") == true, "3 is \(agent.table()[3] ?? "closed")")
            try c.expect(try c.ok(agent, .memfd(name: "check", closeOnExec: false, allowSealing: false)).fds == [5], "memfd did not give 5")
            try c.expect(agent.table()[5]?.contains("memfd:check") == true, "5 is \(agent.table()[5] ?? "closed")")
            try c.expect(try c.ok(agent, .eventfd(initial: 1, closeOnExec: false, nonBlocking: true)).fds == [6], "eventfd did not give 6")
            try c.expect(try c.ok(agent, .epollCreate(closeOnExec: true)).fds == [7], "epoll_create1 did not give 7")
            let unknown = try c.ok(agent, .events(.epollCtl(epoll: 7, op: 0, fd: 6, events: [.in])))
            try c.expect(unknown.errno == EINVAL, "epoll_ctl with op 0 gave \(unknown), expected EINVAL from the kernel")
            let add = try c.ok(agent, .epollCtl(epoll: 7, op: .add, fd: 6, events: [.in]))
            try c.expect(add.result == 0, "epoll_ctl ADD gave \(add)")
        },
        ProtocolCheck(name: "dup family", rule: "dup, dup2, dup3 and fcntl F_DUPFD/F_GETFD/F_SETFD act on the numbers "
            + "given") { c in
            let agent = try c.start()
            try c.expect(try c.ok(agent, .dup(fd: 1)).fds == [3], "dup 1 did not give 3")
            try c.expect(try c.ok(agent, .dup2(fd: 1, target: 9)).fds == [9], "dup2 1 9 did not give 9")
            try c.expect(try c.ok(agent, .dup3(fd: 1, target: 10, flags: Linux.O_CLOEXEC)).fds == [10], "dup3 did not give 10")
            try c.expect(agent.closeOnExec(10) == true, "dup3 with O_CLOEXEC: 10 is not close-on-exec")
            // (What a library makes of dup3's invalid flags is the catalog's business, not the protocol's.)
            try c.expect(try c.ok(agent, .fcntl(fd: 1, command: .dupfdCloexec(minimum: 20))).fds == [20], "F_DUPFD_CLOEXEC did not give 20")
            try c.expect(try c.ok(agent, .fcntl(fd: 20, command: .getfd)).result == 1, "F_GETFD of 20 is not 1")
            _ = try c.ok(agent, .fcntl(fd: 20, command: .setfd(closeOnExec: false)))
            try c.expect(agent.closeOnExec(20) == false, "F_SETFD 0: 20 is still close-on-exec")
        },
        ProtocolCheck(name: "ioctl", rule: "ioctl request=N arg=V: FIOCLEX marks the descriptor; FIONREAD's result is the int "
            + "the kernel wrote back, not the call's 0") { c in
            let agent = try c.start()
            try c.requireSupport(agent, .ioctl)
            try c.expect(try c.ok(agent, .pipe(closeOnExec: false, nonBlocking: false)).fds == [3, 4], "pipe did not give 3 and 4")
            _ = try c.ok(agent, .write(fd: 4, data: Array("abc".utf8)))
            let count = try c.ok(agent, .ioctl(fd: 3, request: .fionread))
            try c.expect(count.result == 3, "FIONREAD of a pipe holding 3 bytes answered \(count)")
            _ = try c.ok(agent, .ioctl(fd: 3, request: .fioclex))
            try c.expect(agent.closeOnExec(3) == true, "FIOCLEX: 3 is not close-on-exec")
        },
        ProtocolCheck(name: "mkfifo", rule: "mkfifo path=P mode=M makes a FIFO (not a file) in the agent's directory; "
            + "open of it O_RDWR does not wait") { c in
            let agent = try c.start()
            try c.requireSupport(agent, .mkfifo)
            try c.expect(try c.ok(agent, .mkfifo(path: "check-fifo", mode: 0o600)).result == 0, "mkfifo did not return 0")
            var status = stat()
            try c.expect(stat(c.directory + "/check-fifo", &status) == 0 && status.st_mode & S_IFMT == S_IFIFO,
                         "check-fifo is not a FIFO")
            try c.expect(try c.ok(agent, .open(path: "check-fifo", flags: [.rdwr, .nonblock], mode: 0)).fds == [3],
                         "open of the FIFO did not give 3")
            _ = try c.ok(agent, .write(fd: 3, data: Array("f".utf8)))
            try c.expect(try c.ok(agent, .read(fd: 3, count: 4)).data == Array("f".utf8), "the FIFO did not give its byte back")
        },
        ProtocolCheck(name: "read write lseek", rule: "write data=HEX, lseek, read count: d is the bytes read; "
            + "lseek's whence is passed as it is, an unknown one too") { c in
            let agent = try c.start()
            _ = try c.ok(agent, .open(path: "check-rw", flags: [.rdwr, .creat, .trunc], mode: 0o600))
            try c.expect(try c.ok(agent, .write(fd: 3, data: Array("abc".utf8))).result == 3, "write did not return 3")
            let unknown = try c.ok(agent, .files(.lseek(fd: 3, offset: 0, whence: 5)))
            try c.expect(unknown.errno == EINVAL, "lseek with whence 5 gave \(unknown), expected EINVAL from the kernel")
            try c.expect(try c.ok(agent, .lseek(fd: 3, offset: 1, whence: .set)).result == 1, "lseek did not return 1")
            let read = try c.ok(agent, .read(fd: 3, count: 8))
            try c.expect(read.result == 2 && read.data == Array("bc".utf8), "read gave \(read)")
        },
        ProtocolCheck(name: "close and close_range", rule: "close, and close_range across the channel closes "
            + "everything in the range but the channel") { c in
            let agent = try c.start()
            try c.requireSupport(agent, .closeRange)
            _ = try c.ok(agent, .pipe(closeOnExec: false, nonBlocking: false))
            try c.expect(try c.ok(agent, .close(fd: 3)).result == 0, "close 3 failed")
            _ = try c.ok(agent, .closeRange(first: 0, last: UInt32.max, flags: 0))
            try c.expect(c.scenarioTable(agent).isEmpty, "after close_range 0 ~0U: \(c.scenarioTable(agent)) still open")
            try c.expect(try c.ok(agent, .pipe(closeOnExec: false, nonBlocking: false)).fds == [0, 1], "the channel does not answer")
        },
        ProtocolCheck(name: "scm_rights", rule: "send fds=N,M data=HEX passes the descriptors in one SCM_RIGHTS "
            + "message; recv room=N gives them in fds, the data in d, msg_flags in mf") { c in
            let agent = try c.start()
            _ = try c.ok(agent, .socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
            _ = try c.ok(agent, .open(path: "check-scm", flags: [.rdwr, .creat], mode: 0o600))
            let sent = try c.ok(agent, .send(socket: 3, fds: [5, 5], data: Array("x".utf8)))
            try c.expect(sent.result == 1, "send gave \(sent)")
            let received = try c.ok(agent, .recv(socket: 4, count: 4, room: 2, closeOnExec: true, nonBlocking: false))
            try c.expect(received.result == 1 && received.data == Array("x".utf8) && received.fds == [6, 7],
                         "recv gave \(received)")
            // The kernel reports MSG_CMSG_CLOEXEC back in msg_flags (____sys_recvmsg); nothing else may be set.
            try c.expect(received.messageFlags.map { $0 & ~Linux.MSG_CMSG_CLOEXEC } == 0,
                         "mf=\(received.messageFlags.map(String.init) ?? "absent"), expected no flag but MSG_CMSG_CLOEXEC")
            try c.expect(agent.table()[6] == agent.table()[5] && agent.closeOnExec(6) == true,
                         "6 is not the file close-on-exec")
            let empty = try c.ok(agent, .recv(socket: 4, count: 4, room: 1, closeOnExec: false, nonBlocking: true))
            try c.expect(empty.errno == EAGAIN, "a non-blocking recv of nothing gave \(empty)")
        },
        ProtocolCheck(name: "sockets with addresses", rule: "listen, connect and accept on an abstract address") { c in
            let agent = try c.start()
            try c.requireSupport(agent, .listen, .connect, .accept)
            let address = SocketAddress.abstract(name: "handoff-agent-check-\(getpid())")
            try c.expect(try c.ok(agent, .listen(address: address, type: .stream, closeOnExec: false, nonBlocking: false,
                                                  backlog: 4)).fds == [3], "listen did not give 3")
            try c.expect(try c.ok(agent, .connect(address: address, type: .stream, closeOnExec: false, nonBlocking: false)).fds == [4],
                         "connect did not give 4")
            try c.expect(try c.ok(agent, .accept(socket: 3, closeOnExec: true, nonBlocking: false)).fds == [5], "accept did not give 5")
            let unknown = try c.ok(agent, .sockets(.shutdown(socket: 5, how: 3)))
            try c.expect(unknown.errno == EINVAL, "shutdown with how 3 gave \(unknown), expected EINVAL from the kernel")
            try c.expect(try c.ok(agent, .shutdown(socket: 5, how: .write)).result == 0, "shutdown failed")
        },
        ProtocolCheck(name: "socket options", rule: "setsockopt and getsockopt (fd opt value): r is the value; "
            + "SO_PEERCRED and a received SCM_CREDENTIALS as cred=PID,UID,GID") { c in
            let agent = try c.start()
            try c.requireSupport(agent, .socketpair, .setsockopt, .getsockopt, .send, .recv)
            _ = try c.ok(agent, .socketpair(type: .stream, closeOnExec: false, nonBlocking: false))
            try c.expect(try c.ok(agent, .setsockopt(socket: 3, option: .passcred, value: 1)).result == 0,
                         "setsockopt(SO_PASSCRED) failed")
            try c.expect(try c.ok(agent, .getsockopt(socket: 3, option: .passcred)).result == 1, "SO_PASSCRED did not read 1")
            try c.expect(try c.ok(agent, .getsockopt(socket: 4, option: .type)).result == Int64(Linux.SOCK_STREAM),
                         "SO_TYPE is not SOCK_STREAM")
            let peer = try c.ok(agent, .getsockopt(socket: 4, option: .peercred))
            try c.expect(peer.result == 0 && peer.credentials?.pid == agent.pid, "SO_PEERCRED gave \(peer)")
            _ = try c.ok(agent, .send(socket: 4, fds: [], data: Array("x".utf8)))
            let received = try c.ok(agent, .recv(socket: 3, count: 1, room: 8, closeOnExec: false, nonBlocking: true))
            try c.expect(received.credentials?.pid == agent.pid, "recv with SO_PASSCRED gave \(received)")
            let channel = try c.ok(agent, .getsockopt(socket: agent.hello!.control, option: .type))
            try c.expect(channel.errno == EBADF, "getsockopt of its own channel gave \(channel), expected EBADF")
        },
        ProtocolCheck(name: "pidfds and reopen", rule: "pidfd_open, pidfd_getfd (pid fd tctl) and reopen of "
            + "/proc/PID/fd/N") { c in
            let agent = try c.start()
            try c.requireSupport(agent, .pidfdOpen, .pidfdGetfd, .reopen)
            let me = ProcessHandle(pid: agent.pid, channel: agent.hello!.control)
            let pidfd = try c.ok(agent, .pidfdOpen(target: me, flags: 0))
            try c.expect(pidfd.fds == [3] && agent.table()[3]?.contains("pidfd") == true, "pidfd_open gave \(pidfd)")
            let copy = try c.ok(agent, .pidfdGetfd(target: me, fd: 1, flags: 0))
            try c.expect(copy.fds == [4] && agent.closeOnExec(4) == true, "pidfd_getfd gave \(copy)")
            let channel = try c.ok(agent, .pidfdGetfd(target: me, fd: agent.hello!.control, flags: 0))
            try c.expect(channel.errno == EBADF, "pidfd_getfd of its own channel gave \(channel), expected EBADF")
            _ = try c.ok(agent, .open(path: "check-reopen", flags: [.rdwr, .creat], mode: 0o600))
            let reopened = try c.ok(agent, .reopen(target: me, fd: 5, flags: [.rdonly]))
            try c.expect(reopened.fds == [6] && agent.table()[6] == agent.table()[5], "reopen gave \(reopened)")
        },
        ProtocolCheck(name: "credentials", rule: "setrlimit, set_dumpable and drop_capability take effect") { c in
            let agent = try c.start()
            try c.requireSupport(agent, .setrlimit, .setDumpable, .dropCapability)
            _ = try c.ok(agent, .setrlimit(nofile: 512))
            let limits = Observer.readSmallFile("/proc/\(agent.pid)/limits") ?? ""
            try c.expect(limits.split(separator: "\n").contains { $0.hasPrefix("Max open files") && $0.contains(" 512 ") },
                         "/proc/PID/limits does not show 512 open files")
            try c.expect(try c.ok(agent, .setDumpable(false)).result == 0, "set_dumpable failed")
            guard SystemProbe.heldCapabilities.contains("CAP_SYS_PTRACE") else { return }
            _ = try c.ok(agent, .dropCapability(name: "CAP_SYS_PTRACE"))
            let status = Observer.readSmallFile("/proc/\(agent.pid)/status") ?? ""
            let effective = status.split(separator: "\n").first { $0.hasPrefix("CapEff:") }
                .flatMap { UInt64($0.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) } ?? 0
            try c.expect(effective & (1 << 19) == 0, "CAP_SYS_PTRACE is still effective")
        },
    ]
}
