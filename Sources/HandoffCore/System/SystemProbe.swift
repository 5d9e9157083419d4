import CHandoff
import Foundation
import Glibc

/// What the running system offers, probed by actually making the calls.
public enum SystemProbe {
    public static var kernelRelease: String {
        var name = utsname()
        uname(&name)
        return withUnsafeBytes(of: name.release) { String(cString: $0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
    }

    /// A user-space kernel rather than Linux, and what gave it away; nil on Linux. gVisor: its `uname -v` is
    /// a constant (pkg/sentry/kernel/version.go) and its kernel log (syslog(2), `dmesg`) starts with
    /// "Starting gVisor..."; either sign is enough (the log needs CAP_SYSLOG on Linux, not in gVisor).
    public static let sandbox: String? = {
        var name = utsname()
        uname(&name)
        let version = withUnsafeBytes(of: name.version) { String(cString: $0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
        if version == "#1 SMP Sun Jan 10 15:06:54 PST 2016" { return "gVisor (uname -v \(version))" }
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = handoff_read_kernel_log(&buffer, Int32(buffer.count - 1))
        if count > 0, String(decoding: buffer.prefix(Int(count)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            .contains("Starting gVisor") { return "gVisor (kernel log: Starting gVisor...)" }
        return nil
    }()

    public static var machine: String {
        var name = utsname()
        uname(&name)
        return withUnsafeBytes(of: name.machine) { String(cString: $0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
    }

    /// A probe that needs a fork, run by the agent (`--probe NAME`): the runner itself never forks.
    public static func agentProbe(_ name: String, agentPath: String) -> String {
        var output: [Int32] = [-1, -1]
        guard pipe(&output) == 0 else { return "pipe: \(Errno.name(of: errno))" }
        _ = handoff_fcntl_int(output[0], F_SETFD, FD_CLOEXEC)
        _ = handoff_fcntl_int(output[1], F_SETFD, FD_CLOEXEC)
        var pid: pid_t = 0
        let spawned = withCStrings([agentPath, "--probe", name]) { argv in
            withCStrings(["PATH=/usr/bin:/bin"]) { envp in
                handoff_spawn_clean(agentPath, argv, envp, output[1], output[1], nil, &pid)
            }
        }
        close(output[1])
        defer { close(output[0]) }
        if spawned != 0 { return "cannot start the agent: \(Errno.name(of: spawned))" }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = read(output[0], &buffer, buffer.count)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let text = count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : "no answer"
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Whether open("/proc/self/fd/N") of a pidfd gives a new pidfd (pidfs) rather than ENXIO. Probed once.
    public static let pidfdsReopen: Bool = {
        guard case .success(let pidfd) = valueOrErrno({ handoff_pidfd_open(getpid(), 0) }) else { return false }
        defer { close(pidfd) }
        guard case .success(let copy) = valueOrErrno({ open("/proc/self/fd/\(pidfd)", O_RDONLY | O_CLOEXEC) }) else {
            return false
        }
        close(copy)
        return true
    }()

    /// Kernel behaviours a scenario can require by name (`requires: {features: [...]}`), each probed by
    /// making the call once: requirements as observed features, not kernel versions.
    public static let features: [(name: String, meaning: String, present: @Sendable () -> Bool)] = [
        ("pidfd-reopen", "pidfds on pidfs, reopenable through /proc/PID/fd/N", { pidfdsReopen }),
        ("eventfd-write-exact", "eventfd writes of exactly 8 bytes", { eventfdWriteExact }),
        ("epoll-nesting-depth", "epoll_ctl refuses (ELOOP) nesting epolls more than 5 deep, counted below the added "
         + "epoll and above the target (ep_loop_check since \"eventpoll: Fix semi-unbounded recursion\")", { epollNestingDepth }),
        ("epoll-wait-descriptor-first", "epoll_wait looks its descriptor up (EBADF) before it checks maxevents "
         + "(EINVAL): 6.18 does, 6.12 and 6.1 do not", { epollWaitDescriptorFirst }),
        ("af-unix-oob", "MSG_OOB on unix stream sockets (CONFIG_AF_UNIX_OOB, 5.15)", { unixOOB }),
        ("unix-stream-skb-split", "a 64 KiB unix stream send is cut into skbs, the descriptors on the first "
         + "(\(unixStreamSkbPayload) bytes each here)", { unixStreamSkbSplits }),
        ("so-passpidfd", "SO_PASSPIDFD, SO_PEERPIDFD and SCM_PIDFD on AF_UNIX sockets (6.5)", { unixSocketOption(Linux.SO_PASSPIDFD) }),
        ("so-passrights", "SO_PASSRIGHTS on AF_UNIX sockets, and SO_PASS* refused elsewhere (6.16)",
         { unixSocketOption(Linux.SO_PASSRIGHTS) }),
        ("so-inq", "SO_INQ and SCM_INQ on AF_UNIX stream sockets (6.17)", { unixSocketOption(Linux.SO_INQ, set: true) }),
        ("memfd-seal-exec", "the F_SEAL_EXEC memfd seal (Linux 6.3)", { memfdSealExec }),
        ("pipe-max-size-default", "fs.pipe-max-size at its default, \(Linux.defaultPipeMaxSize) bytes (the size scenarios "
         + "grow pipes to without CAP_SYS_RESOURCE)", { pipeMaxSize == Linux.defaultPipeMaxSize }),
        ("pidfd-nonblock", "pidfd_open's PIDFD_NONBLOCK, and waitid's EAGAIN through such a pidfd (5.10)", { pidfdNonBlock }),
        ("unix-dgram-shutdown-first", "a unix datagram send checks SEND_SHUTDOWN (EPIPE) and autobinds before it "
         + "looks for the peer (ENOTCONN): 6.18 does, 6.12 and 6.1 do not", { unixDgramShutdownFirst }),
        ("oci-runc", "runc creates and starts a container here (tools/oci-launch.sh)", { ociRuntimeRuns("runc") }),
        ("oci-crun", "crun creates and starts a container here (tools/oci-launch.sh)", { ociRuntimeRuns("crun") }),
        ("bwrap-namespaces", "bubblewrap can make mount, PID and IPC namespaces here (not inside runc, crun or gVisor)",
         { bubblewrapProblem == nil }),
    ]

    /// The ids sockets report to the agents (the runner's user namespace): its own uid and gid, what the
    /// initial namespace's root maps to (/proc/self/uid_map, gid_map; the overflow id when unmapped) and
    /// the overflow ids (/proc/sys/kernel/overflowuid, overflowgid).
    public static let socketIDs: SocketIDs = {
        var ids = SocketIDs()
        ids.overflowUID = UInt32(sysctl("kernel/overflowuid") ?? Int(Linux.overflowID))
        ids.overflowGID = UInt32(sysctl("kernel/overflowgid") ?? Int(Linux.overflowID))
        func insideID(ofRoot map: String, overflow: UInt32) -> UInt32 {
            for line in (Observer.readSmallFile("/proc/self/" + map) ?? "0 0 4294967295").split(separator: "\n") {
                let fields = line.split(whereSeparator: \.isWhitespace).compactMap { UInt64($0) }
                // inside outside count: host 0 is mapped when outside == 0.
                if fields.count == 3, fields[1] == 0, fields[2] > 0 { return UInt32(truncatingIfNeeded: fields[0]) }
            }
            return overflow
        }
        ids.rootUID = insideID(ofRoot: "uid_map", overflow: ids.overflowUID)
        ids.rootGID = insideID(ofRoot: "gid_map", overflow: ids.overflowGID)
        return ids
    }()

    /// Whether getsockopt(SOL_SOCKET, option) of an AF_UNIX socket knows the option (ENOPROTOOPT before the
    /// kernel that added it). Probed once per option.
    /// `set`: probed with setsockopt(option, 1) instead (SO_INQ has no getsockopt).
    public static func unixSocketOption(_ option: Int32, set: Bool = false) -> Bool {
        probeLock.lock()
        defer { probeLock.unlock() }
        if let known = socketOptions[option] { return known }
        var ends: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Linux.SOCK_STREAM | Linux.SOCK_CLOEXEC, 0, &ends) == 0 else { return false }
        defer { close(ends[0]); close(ends[1]) }
        var value: Int32 = set ? 1 : 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        let known = set ? setsockopt(ends[0], Linux.SOL_SOCKET, option, &value, length) == 0
            : getsockopt(ends[0], Linux.SOL_SOCKET, option, &value, &length) == 0
        socketOptions[option] = known
        return known
    }
    nonisolated(unsafe) private static var socketOptions: [Int32: Bool] = [:]

    /// The errno of reopening a pidfd with O_TRUNC (EOPNOTSUPP on pidfs since pidfs_setattr, EPERM before it,
    /// ENXIO where pidfds are anonymous inodes; 0 if it succeeded). Probed once.
    public static let pidfdReopenTruncErrno: Int32 = {
        guard case .success(let pidfd) = valueOrErrno({ handoff_pidfd_open(getpid(), 0) }) else { return ENXIO }
        defer { close(pidfd) }
        switch valueOrErrno({ open("/proc/self/fd/\(pidfd)", O_RDONLY | O_TRUNC | O_CLOEXEC) }) {
        case .success(let copy):
            close(copy)
            return 0
        case .failure(let error):
            return error.code
        }
    }()

    /// The errno of ftruncate on pidfd_open's own file (O_RDWR): EOPNOTSUPP where pidfs_setattr refuses
    /// (6.18 and 6.12; on 6.12 a pidfd reopened through /proc says EPERM instead, as pidfdReopenTruncErrno
    /// does: `run --kernel 6.12`), EINVAL where pidfds are anonymous inodes; 0 if it succeeded. Probed once.
    public static let pidfdFtruncateErrno: Int32 = {
        guard case .success(let pidfd) = valueOrErrno({ handoff_pidfd_open(getpid(), 0) }) else { return EINVAL }
        defer { close(pidfd) }
        switch valueOrErrno({ ftruncate(pidfd, 0) }) {
        case .success: return 0
        case .failure(let error): return error.code
        }
    }()

    /// The errno of pread on pidfd_open's own file: EINVAL where pidfds are pidfs files opened by path
    /// (FMODE_PREAD, then no read_iter: 6.9 and later), ESPIPE where they are anonymous inodes. Probed by making
    /// the call, not inferred from the reopen probe, which an unprivileged runner fails on pidfs too (found by
    /// `.ci/run` as nobody: fuzz/pread-pidfd). Probed once.
    public static let pidfdPreadErrno: Int32 = {
        guard case .success(let pidfd) = valueOrErrno({ handoff_pidfd_open(getpid(), 0) }) else { return ESPIPE }
        defer { close(pidfd) }
        var byte: UInt8 = 0
        switch valueOrErrno({ Int32(pread(pidfd, &byte, 1, 0)) }) {
        case .success: return 0
        case .failure(let error): return error.code
        }
    }()

    /// The runner's effective capabilities, by name (the root agent inherits them). Probed once.
    public static let heldCapabilities: Set<String> = Set(Fingerprint.capabilities())

    /// The runner's umask, from /proc/self/status (reading it with umask(2) would change it for a moment,
    /// for every thread).
    public static let umask: UInt32 = {
        for line in (Observer.readSmallFile("/proc/self/status") ?? "").split(separator: "\n") where line.hasPrefix("Umask:") {
            return UInt32(line.dropFirst(6).trimmingCharacters(in: .whitespaces), radix: 8) ?? 0o022
        }
        return 0o022
    }()

    /// Whether unix stream sockets know MSG_OOB (CONFIG_AF_UNIX_OOB, 5.15): a recv(MSG_OOB) with no
    /// out-of-band byte is EINVAL (unix_stream_recv_urg) rather than EOPNOTSUPP. Probed once.
    public static let unixOOB: Bool = {
        var ends: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Linux.SOCK_STREAM | Linux.SOCK_CLOEXEC, 0, &ends) == 0 else { return false }
        defer { close(ends[0]); close(ends[1]) }
        var byte: UInt8 = 0
        return Glibc.recv(ends[0], &byte, 1, Linux.MSG_OOB | Linux.MSG_DONTWAIT) < 0 && errno == EINVAL
    }()

    /// The most bytes one skb of a unix stream send carries on this kernel: unix_stream_sendmsg cuts a send
    /// into skbs of min((sk_sndbuf >> 1) - 64, SKB_MAX_HEAD(0) + UNIX_SKB_FRAGS_SZ) bytes (36544 = 3776 +
    /// 32768 on x86_64 6.x with 4 KiB pages), the SCM_RIGHTS descriptors riding on the first, and
    /// unix_stream_read_generic stops after the skb whose descriptors it took. Measured once: a 65536-byte
    /// send with one descriptor, then one 65536-byte receive; what it returns is the first skb's payload.
    /// maximumTransfer (the most one step sends) means no split was seen (gVisor, or a kernel whose skbs are
    /// larger): the model then splits none.
    public static let unixStreamSkbPayload: Int = {
        let whole = maximumTransfer
        var ends: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Linux.SOCK_STREAM | Linux.SOCK_CLOEXEC, 0, &ends) == 0 else { return whole }
        defer { close(ends[0]); close(ends[1]) }
        var carried: [Int32] = [-1, -1]
        guard handoff_pipe2(&carried, O_CLOEXEC) == 0 else { return whole }
        defer { close(carried[0]); close(carried[1]) }
        var data = [UInt8](repeating: 0x62, count: whole)
        let sent = data.withUnsafeBytes { handoff_send_fds(ends[0], [carried[1]], 1, $0.baseAddress, whole, Linux.MSG_DONTWAIT) }
        guard sent == whole else { return whole }
        var received: [Int32] = [-1, -1]
        var count: Int32 = 0
        var flags: Int32 = 0
        let got = data.withUnsafeMutableBytes {
            handoff_recv_fds(ends[1], $0.baseAddress, whole, 1, Linux.MSG_DONTWAIT | Linux.MSG_CMSG_CLOEXEC,
                             &received, Int32(received.count), &count, &flags)
        }
        for fd in received.prefix(Int(max(0, count))) where fd >= 0 { close(fd) }
        return got > 0 && got <= whole ? got : whole
    }()

    /// Whether the probe saw a step's largest stream send cut into skbs.
    public static var unixStreamSkbSplits: Bool { unixStreamSkbPayload < maximumTransfer }

    /// A chain of five epolls (each watching the one before) added under a sixth: ELOOP where ep_loop_check
    /// counts the depth both ways, accepted before (the old check only refused more than five levels below).
    public static let epollNestingDepth: Bool = {
        var epolls: [Int32] = []
        defer { for descriptor in epolls { close(descriptor) } }
        for _ in 0..<6 {
            let descriptor = handoff_epoll_create1(Int32(Linux.O_CLOEXEC))
            guard descriptor >= 0 else { return false }
            epolls.append(descriptor)
        }
        for level in 1..<5 where handoff_epoll_ctl(epolls[level], Linux.EPOLL_CTL_ADD, epolls[level - 1], Linux.EPOLLIN) != 0 {
            return false
        }
        return handoff_epoll_ctl(epolls[5], Linux.EPOLL_CTL_ADD, epolls[4], Linux.EPOLLIN) != 0 && errno == ELOOP
    }()

    /// Whether epoll_wait of a closed descriptor with maxevents 0 says EBADF (the descriptor looked up first,
    /// as 6.18 does) rather than EINVAL (maxevents checked first, as do_epoll_wait long did). Probed once.
    public static let epollWaitDescriptorFirst: Bool = {
        var fd: Int32 = 0
        var events: UInt32 = 0
        return handoff_epoll_wait(-1, 0, 0, &fd, &events) < 0 && errno == EBADF
    }()

    /// Whether eventfd_write takes exactly 8 bytes (EINVAL for 9) rather than at least 8. Probed once.
    public static let eventfdWriteExact: Bool = {
        guard case .success(let descriptor) = valueOrErrno({ handoff_eventfd(0, Linux.EFD_CLOEXEC) }) else { return true }
        defer { close(descriptor) }
        let nine: [UInt8] = [1, 0, 0, 0, 0, 0, 0, 0, 0]
        return nine.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, 9) } < 0 && errno == EINVAL
    }()

    /// Whether unix_dgram_sendmsg reaches sock_alloc_send_pskb's SEND_SHUTDOWN check (EPIPE) before it
    /// looks for the peer of an unconnected socket (ENOTCONN), as 6.18 does; 6.12 and 6.1 look first. Probed
    /// once: an unconnected datagram socket shut down for writing sends nothing.
    public static let unixDgramShutdownFirst: Bool = {
        let socket = Glibc.socket(AF_UNIX, Linux.SOCK_DGRAM | Linux.SOCK_CLOEXEC, 0)
        guard socket >= 0 else { return true }
        defer { close(socket) }
        guard Glibc.shutdown(socket, Linux.SHUT_WR) == 0 else { return true }
        return Glibc.send(socket, nil, 0, Linux.MSG_DONTWAIT | Linux.MSG_NOSIGNAL) < 0 && errno == EPIPE
    }()

    /// pidfd_open(self, PIDFD_NONBLOCK) succeeds (Linux 5.10 added the flag and waitid's EAGAIN with it).
    public static let pidfdNonBlock: Bool = {
        guard case .success(let descriptor) = valueOrErrno({ handoff_pidfd_open(getpid(), Linux.PIDFD_NONBLOCK) }) else {
            return false
        }
        close(descriptor)
        return true
    }()

    /// Whether epoll files have an ioctl of their own (ep_eventpoll_ioctl, EPIOCGPARAMS: Linux 6.9), which
    /// answers any other request, FIONREAD included, with EINVAL; before, vfs_ioctl's ENOTTY. Probed once
    /// with EPIOCGPARAMS itself.
    public static let epollIoctl: Bool = {
        let descriptor = handoff_epoll_create1(Int32(Linux.O_CLOEXEC))
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var parameters: (UInt32, UInt32) = (0, 0)  // struct epoll_params: 8 bytes
        return withUnsafeMutableBytes(of: &parameters) { raw in
            handoff_ioctl_int(descriptor, Linux.EPIOCGPARAMS, raw.baseAddress!.assumingMemoryBound(to: Int32.self))
        } == 0
    }()

    /// fs.pipe-max-size (the default when it cannot be read, as under gVisor): read once, for the model and for
    /// the feature `pipe-max-size-default`.
    public static let pipeMaxSize: Int = sysctl("fs/pipe-max-size") ?? Linux.defaultPipeMaxSize

    /// Whether this process is in the initial user namespace (its /proc/self/ns/user is PROC_USER_INIT_INO),
    /// where capable() - which always asks the initial namespace - can hold.
    public static let initialUserNamespace: Bool = Observer.readLink("/proc/self/ns/user") == "user:[4026531837]"

    /// Whether TCP sockets take SO_PEEK_OFF (inet_stream_ops.set_peek_off, Linux 6.9; EOPNOTSUPP before).
    /// Probed once on an unconnected TCP socket.
    public static let tcpPeekOffset: Bool = {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Linux.SOCK_CLOEXEC, 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var value: Int32 = 0
        return setsockopt(descriptor, Linux.SOL_SOCKET, Linux.SO_PEEK_OFF, &value, socklen_t(MemoryLayout<Int32>.size)) == 0
    }()

    /// Whether F_ADD_SEALS knows F_SEAL_EXEC (Linux 6.3; EINVAL before). Probed once.
    public static let memfdSealExec: Bool = {
        guard case .success(let descriptor) = valueOrErrno({
            handoff_memfd_create("handoff-probe", Linux.MFD_CLOEXEC | Linux.MFD_ALLOW_SEALING)
        }) else { return false }
        defer { close(descriptor) }
        return handoff_fcntl_int(descriptor, Linux.F_ADD_SEALS, Int32(bitPattern: Linux.F_SEAL_EXEC)) == 0
    }()

    /// Whether the file system of `directory` is tmpfs, whose regular files are shmem files: F_GET_SEALS
    /// answers F_SEAL_SEAL there, and EINVAL on other file systems.
    public static func isTmpfs(_ directory: String) -> Bool {
        handoff_statfs_type(directory) == Linux.TMPFS_MAGIC
    }

    /// The bytes an unprivileged writer can still put on the file system holding `directory` (statvfs's
    /// f_bavail blocks of f_frsize), nil when it cannot be read.
    public static func freeBytes(_ directory: String) -> UInt64? {
        var info = statvfs()
        guard statvfs(directory, &info) == 0 else { return nil }
        return UInt64(info.f_bavail) * UInt64(info.f_frsize)
    }

    /// Whether ptrace checks on an exited task still use its dumpability (Linux 6.18). Probed once, by the
    /// agent (it needs a fork and a process without CAP_SYS_PTRACE).
    nonisolated(unsafe) private static var exitedDumpability: [String: Bool] = [:]
    private static let exitedDumpabilityLock = NSLock()
    public static func exitedKeepDumpability(agentPath: String) -> Bool {
        exitedDumpabilityLock.lock()
        defer { exitedDumpabilityLock.unlock() }
        if let known = exitedDumpability[agentPath] { return known }
        let kept = agentProbe("exited-dumpability", agentPath: agentPath) == "ok"
        exitedDumpability[agentPath] = kept
        return kept
    }

    /// An integer from /proc/sys/NAME; nil when absent (e.g. no Yama).
    public static func sysctl(_ name: String) -> Int? {
        guard let text = Observer.readSmallFile("/proc/sys/" + name) else { return nil }
        return Int(text.split(whereSeparator: \.isWhitespace).first ?? "")
    }

    /// The system calls `requires: syscalls` may name and operations may declare as needs.
    public static let knownSyscalls = ["kcmp", "pidfd_open", "pidfd_getfd", "close_range", "memfd_create", "epoll_create1",
                                       "pidfd_send_signal",
                                       "signalfd4", "timerfd_create", "inotify_init1", "dupfd_query"]

    /// nil when the syscall works here; otherwise why not (e.g. `ENOSYS`). Probed once per run: every
    /// scenario asks for what its operations need.
    public static func syscallProblem(_ name: String) -> String? {
        probeLock.lock()
        defer { probeLock.unlock() }
        if let known = probed[name] { return known }
        let problem = probeSyscall(name)
        probed[name] = .some(problem)
        return problem
    }

    nonisolated(unsafe) private static var probed: [String: String?] = [:]
    private static let probeLock = NSLock()

    private static func probeSyscall(_ name: String) -> String? {
        switch name {
        case "kcmp":
            if handoff_kcmp_file(getpid(), getpid(), 0, 0) < 0 && errno != EBADF { return Errno.name(of: errno) }
            return nil
        case "pidfd_open":
            return opens { handoff_pidfd_open(getpid(), 0) }
        case "pidfd_getfd":
            switch valueOrErrno({ handoff_pidfd_open(getpid(), 0) }) {
            case .failure(let error): return "pidfd_open: \(error)"
            case .success(let pidfd):
                defer { close(pidfd) }
                return opens { handoff_pidfd_getfd(pidfd, pidfd, 0) }
            }
        case "pidfd_send_signal":
            // Signal 0 to ourselves through a pidfd: only checks that we exist.
            switch valueOrErrno({ handoff_pidfd_open(getpid(), 0) }) {
            case .failure(let error): return "pidfd_open: \(error)"
            case .success(let pidfd):
                defer { close(pidfd) }
                if case .failure(let error) = valueOrErrno({ handoff_pidfd_send_signal(pidfd, 0) }) {
                    return error.description
                }
                return nil
            }
        case "close_range":
            // A real range (one descriptor of our own), not an empty one at ~0U that some kernels refuse.
            switch valueOrErrno({ open("/dev/null", O_RDONLY | O_CLOEXEC) }) {
            case .failure(let error): return "open /dev/null: \(error)"
            case .success(let copy):
                let number = UInt32(copy)
                if case .failure(let error) = valueOrErrno({ handoff_close_range(number, number, 0) }) {
                    close(copy)
                    return error.description
                }
                return nil
            }
        case "epoll_create1":
            return opens { handoff_epoll_create1(Linux.EPOLL_CLOEXEC) }
        case "memfd_create":
            return opens { handoff_memfd_create("handoff-probe", Linux.MFD_CLOEXEC) }
        case "signalfd4":
            return opens { handoff_signalfd(0, Linux.SFD_CLOEXEC) }
        case "timerfd_create":
            return opens { handoff_timerfd_create(Linux.CLOCK_MONOTONIC, Linux.TFD_CLOEXEC) }
        case "inotify_init1":
            return opens { handoff_inotify_init1(Linux.IN_CLOEXEC) }
        case "dupfd_query":
            // fcntl(F_DUPFD_QUERY) of a descriptor with itself is 1 (Linux 6.10); EINVAL before.
            switch valueOrErrno({ open("/dev/null", O_RDONLY | O_CLOEXEC) }) {
            case .failure(let error): return "open /dev/null: \(error)"
            case .success(let copy):
                defer { close(copy) }
                return handoff_fcntl_int(copy, Linux.F_DUPFD_QUERY, copy) == 1 ? nil : Errno.name(of: errno)
            }
        default:
            return "unknown syscall"
        }
    }

    /// nil when `call` opened a descriptor (closed again at once), else its errno's name.
    private static func opens(_ call: () -> Int32) -> String? {
        switch valueOrErrno(call) {
        case .success(let descriptor):
            close(descriptor)
            return nil
        case .failure(let error):
            return error.description
        }
    }

    /// The absolute path of an executable: as given when it contains a slash (relative to the working
    /// directory), else the first match in PATH.
    public static func program(named name: String) -> String? {
        if name.contains("/") {
            guard access(name, X_OK) == 0 else { return nil }
            // A path relative to the runner's working directory (tools/oci-launch.sh): absolute, since the
            // agent that execs it runs elsewhere.
            if name.hasPrefix("/") { return name }
            return FileManager.default.currentDirectoryPath + "/" + name
        }
        let path = getenv("PATH").map { String(cString: $0) } ?? ""
        let directories = (path.split(separator: ":").map(String.init)) + ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
                                                                          "/usr/bin", "/sbin", "/bin"]
        for directory in directories where access(directory + "/" + name, X_OK) == 0 {
            return directory + "/" + name
        }
        return nil
    }

    /// nil when every requirement holds; otherwise the reason to skip, naming what is missing.
    public static func unmet(_ scenario: Scenario) -> String? {
        if let reason = unmet(scenario.requires) { return reason }
        // What the scenario's operations need, by their declarations, even when `requires:` forgot it.
        for (kind, needs) in scenario.operationNeeds {
            for name in needs.syscalls {
                if let problem = syscallProblem(name) {
                    return "needs \(name) (for \(kind.keyword)), which fails here with \(problem)"
                }
            }
            for name in needs.capabilities {
                let number = handoff_capability_from_name(name)
                if number < 0 || handoff_has_capability(number) != 1 {
                    return "needs \(name) (for \(kind.keyword)), which the runner does not hold"
                }
            }
        }
        return nil
    }

    public static func unmet(_ requirements: Requirements) -> String? {
        // gVisor reports Linux 4.4.0 whatever it implements, so a version says nothing there: `requires:
        // kernel` is not applied, the scenario runs, and its system calls are probed as everywhere (a call
        // gVisor lacks skips it by name; a behaviour it gets wrong is a finding about gVisor).
        if let minimum = requirements.minimumKernel, sandbox == nil {
            let release = kernelRelease
            if let running = KernelVersion(release: release), running < minimum {
                return "needs kernel \(minimum) or later (running \(release))"
            }
        }
        for name in requirements.syscalls {
            if let problem = syscallProblem(name) { return "needs \(name), which fails here with \(problem)" }
        }
        for name in requirements.features {
            if let problem = environmentFeatureProblem(name) { return problem }
            if let feature = features.first(where: { $0.name == name }), !feature.present() {
                // oci-runc and oci-crun are the machine's (a runtime that can run here), not the kernel's.
                let whose = name.hasPrefix("oci-") ? "which fails here" : "which this kernel does not have"
                return "needs \(name) (\(feature.meaning)), \(whose) (probed)"
            }
        }
        if let nofile = requirements.nofile {
            var limit = rlimit()
            if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < UInt64(nofile) {
                return "needs RLIMIT_NOFILE of at least \(nofile) (the soft limit here is \(limit.rlim_cur))"
            }
        }
        for name in requirements.programs where program(named: name) == nil {
            return "needs the program \(name), which is not installed (not found in PATH)"
        }
        for path in requirements.writes where access(path, F_OK) != 0 {
            return "writes \(path), which does not exist here"
        }
        for name in requirements.capabilities {
            let number = handoff_capability_from_name(name)
            if number < 0 { return "unknown capability \(name)" }
            if handoff_has_capability(number) != 1 { return "needs \(name), which the runner does not hold" }
        }
        return nil
    }
}

extension SystemProbe {
    /// A loopback TCP port nobody listens on now: the kernel's pick for a socket bound to 127.0.0.1:0
    /// (inet_csk_get_port), closed again at once. For `{@port}`, which a launcher needs before it starts.
    static func freeLoopbackPort() throws(HarnessError) -> UInt16 {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socket >= 0 else { throw .system(call: "socket for a free port", errno: errno) }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = in_addr_t(0x7f00_0001).bigEndian
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) }
        }
        guard bound == 0 else { throw .system(call: "bind to 127.0.0.1:0 for a free port", errno: errno) }
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        guard named == 0 else { throw .system(call: "getsockname for a free port", errno: errno) }
        return UInt16(bigEndian: address.sin_port)
    }
}
