// The one place where Linux's numbers live. Everything else names them: no raw flag values anywhere else.
// Values Swift's Glibc module exports are taken from it; the rest are written here once, with the header
// they come from.

import Glibc

public enum Linux {
    // <fcntl.h>
    public static let O_RDONLY = Glibc.O_RDONLY
    public static let O_WRONLY = Glibc.O_WRONLY
    public static let O_RDWR = Glibc.O_RDWR
    public static let O_ACCMODE = Glibc.O_ACCMODE
    public static let O_CREAT = Glibc.O_CREAT
    public static let O_EXCL = Glibc.O_EXCL
    public static let O_TRUNC = Glibc.O_TRUNC
    public static let O_APPEND = Glibc.O_APPEND
    public static let O_NONBLOCK = Glibc.O_NONBLOCK
    public static let O_CLOEXEC = Glibc.O_CLOEXEC
    /// <asm-generic/fcntl.h>: not exported by Swift's Glibc module (it needs _GNU_SOURCE).
    public static let O_PATH: Int32 = 0o10000000
    /// <asm-generic/fcntl.h>: F_GETFL reports it on 64-bit kernels for every open file.
    public static let O_LARGEFILE: Int32 = 0o100000

    public static let F_DUPFD = Glibc.F_DUPFD
    public static let F_DUPFD_CLOEXEC = Glibc.F_DUPFD_CLOEXEC
    public static let F_GETFD = Glibc.F_GETFD
    public static let F_SETFD = Glibc.F_SETFD
    public static let F_GETFL = Glibc.F_GETFL
    public static let F_SETFL = Glibc.F_SETFL
    public static let FD_CLOEXEC = Glibc.FD_CLOEXEC
    /// <uapi/linux/fcntl.h> (6.10): F_LINUX_SPECIFIC_BASE + 3.
    public static let F_DUPFD_QUERY: Int32 = 1027
    /// <uapi/linux/fcntl.h>: F_LINUX_SPECIFIC_BASE + 7 and + 8, a pipe's capacity in bytes.
    public static let F_SETPIPE_SZ: Int32 = 1031
    public static let F_GETPIPE_SZ: Int32 = 1032

    // <asm-generic/ioctls.h>: the requests do_vfs_ioctl answers for every file (FIONREAD for regular files;
    // the file's own ioctl otherwise).
    public static let FIONREAD: UInt = 0x541B
    public static let FIONBIO: UInt = 0x5421
    public static let FIONCLEX: UInt = 0x5450
    public static let FIOCLEX: UInt = 0x5451
    /// <uapi/linux/eventpoll.h>: _IOR(0x8A, 0x02, struct epoll_params) (Linux 6.9).
    public static let EPIOCGPARAMS: UInt = 0x8008_8A02
    /// <linux/pipe_fs_i.h>: the default fs.pipe-max-size, the largest pipe an unprivileged process may ask for.
    public static let defaultPipeMaxSize = 1_048_576

    // <sys/socket.h>
    public static let SOCK_STREAM = Int32(Glibc.SOCK_STREAM.rawValue)
    public static let SOCK_DGRAM = Int32(Glibc.SOCK_DGRAM.rawValue)
    public static let SOCK_SEQPACKET = Int32(Glibc.SOCK_SEQPACKET.rawValue)
    public static let SOCK_CLOEXEC = Int32(Glibc.SOCK_CLOEXEC.rawValue)
    public static let SOCK_NONBLOCK = Int32(Glibc.SOCK_NONBLOCK.rawValue)
    public static let MSG_CTRUNC: Int32 = 0x08
    public static let MSG_DONTWAIT: Int32 = 0x40
    public static let MSG_TRUNC: Int32 = 0x20
    public static let MSG_NOSIGNAL: Int32 = 0x4000
    public static let MSG_CMSG_CLOEXEC = Int32(bitPattern: 0x4000_0000)
    public static let MSG_OOB: Int32 = 0x01
    public static let MSG_PEEK: Int32 = 0x02
    public static let MSG_WAITALL: Int32 = 0x100
    /// sizeof(struct cmsghdr) on x86_64 (and CMSG_LEN(0)): scm_max_fds installs nothing below it.
    public static let cmsghdrSize = 16
    /// sizeof(int): one descriptor in an SCM_RIGHTS payload.
    public static let descriptorSize = 4
    /// CMSG_ALIGN's unit on x86_64 (sizeof(long)).
    public static let cmsgAlignment = 8
    /// <linux/net.h>: the flag /proc/net/unix shows for a listening socket.
    public static let __SO_ACCEPTCON: Int = 1 << 16
    public static let SHUT_RD: Int32 = 0
    public static let SHUT_WR: Int32 = 1
    public static let SHUT_RDWR: Int32 = 2

    // <asm-generic/socket.h>: SOL_SOCKET options (the later ones are missing from older glibc headers).
    public static let SOL_SOCKET: Int32 = 1
    public static let SO_TYPE: Int32 = 3
    public static let SO_ERROR: Int32 = 4
    public static let SO_PASSCRED: Int32 = 16
    public static let SO_PEERCRED: Int32 = 17
    public static let SO_ACCEPTCONN: Int32 = 30
    public static let SO_DOMAIN: Int32 = 39
    public static let SO_PEEK_OFF: Int32 = 42
    /// 6.5
    public static let SO_PASSPIDFD: Int32 = 76
    /// 6.5
    public static let SO_PEERPIDFD: Int32 = 77
    /// 6.16
    public static let SO_PASSRIGHTS: Int32 = 83
    /// 6.17 (AF_UNIX stream); SCM_INQ has the same value.
    public static let SO_INQ: Int32 = 84
    // <linux/socket.h>: control message types.
    public static let SCM_RIGHTS: Int32 = 1
    public static let SCM_CREDENTIALS: Int32 = 2
    /// 6.5
    public static let SCM_PIDFD: Int32 = 4
    // <linux/socket.h>: address families SO_DOMAIN reports.
    public static let AF_UNIX: Int32 = 1
    public static let AF_INET: Int32 = 2
    /// sizeof(struct ucred) on x86_64 (sizeof(struct cmsghdr) is cmsghdrSize above): the control buffer arithmetic of
    /// put_cmsg and scm_detach_fds.
    public static let ucredSize = 12
    /// offsetof(struct sockaddr_un, sun_path): sun_family's two bytes.
    public static let sunPathOffset = 2
    /// sizeof(sun_path) in struct sockaddr_un.
    public static let sunPathSize = 108
    /// sizeof(struct sockaddr_in): inet_bind_sk and udp_sendmsg refuse shorter addresses (EINVAL).
    public static let sockaddrInSize = 16
    /// /proc/sys/kernel/overflowuid and overflowgid (their defaults): what from_kuid_munged makes of a
    /// message queued without credentials.
    public static let overflowID: UInt32 = 65534

    // <linux/close_range.h>
    public static let CLOSE_RANGE_UNSHARE: UInt32 = 1 << 1
    public static let CLOSE_RANGE_CLOEXEC: UInt32 = 1 << 2

    // <linux/memfd.h>
    public static let MFD_CLOEXEC: UInt32 = 0x0001
    public static let MFD_ALLOW_SEALING: UInt32 = 0x0002

    // <uapi/linux/fcntl.h>: file seals (F_LINUX_SPECIFIC_BASE + 9 and + 10), the seal bits.
    public static let F_ADD_SEALS: Int32 = 1033
    public static let F_GET_SEALS: Int32 = 1034
    public static let F_SEAL_SEAL: UInt32 = 0x0001
    public static let F_SEAL_SHRINK: UInt32 = 0x0002
    public static let F_SEAL_GROW: UInt32 = 0x0004
    public static let F_SEAL_WRITE: UInt32 = 0x0008
    /// Linux 5.1.
    public static let F_SEAL_FUTURE_WRITE: UInt32 = 0x0010
    /// Linux 6.3 (probed: SystemProbe.memfdSealExec).
    public static let F_SEAL_EXEC: UInt32 = 0x0020
    /// <asm-generic/page.h> on x86-64 and arm64 with 4 KiB pages: generic_perform_write's chunk for shmem.
    public static let PAGE_SIZE = 4096

    // <sys/signalfd.h>, <sys/timerfd.h>, <sys/inotify.h>: the same bits as O_CLOEXEC and O_NONBLOCK.
    public static let SFD_CLOEXEC = Glibc.O_CLOEXEC
    public static let SFD_NONBLOCK = Glibc.O_NONBLOCK
    public static let TFD_CLOEXEC = Glibc.O_CLOEXEC
    public static let TFD_NONBLOCK = Glibc.O_NONBLOCK
    public static let IN_CLOEXEC = Glibc.O_CLOEXEC
    public static let IN_NONBLOCK = Glibc.O_NONBLOCK
    /// sizeof(struct signalfd_siginfo): signalfd_read's unit.
    public static let SIGNALFD_SIGINFO_SIZE = 128
    /// sizeof(sigset_t) as the kernel takes it (signalfd4's sizemask): 64 signals.
    public static let KERNEL_SIGSET_SIZE = 8
    /// <linux/time.h>
    public static let CLOCK_REALTIME: Int32 = 0
    public static let CLOCK_MONOTONIC: Int32 = 1
    public static let CLOCK_BOOTTIME: Int32 = 7
    /// <linux/magic.h>: statfs f_type of tmpfs (shmem files carry seals, F_SEAL_SEAL from creation).
    public static let TMPFS_MAGIC: Int = 0x0102_1994

    // <sys/eventfd.h>: the same bits as O_CLOEXEC and O_NONBLOCK.
    public static let EFD_CLOEXEC = Glibc.O_CLOEXEC
    public static let EFD_NONBLOCK = Glibc.O_NONBLOCK
    public static let EFD_SEMAPHORE: Int32 = 1

    // <sys/epoll.h>
    public static let EPOLL_CLOEXEC = Glibc.O_CLOEXEC
    public static let EPOLL_CTL_ADD: Int32 = 1
    public static let EPOLL_CTL_DEL: Int32 = 2
    public static let EPOLL_CTL_MOD: Int32 = 3
    public static let EPOLLIN: UInt32 = 0x001
    public static let EPOLLOUT: UInt32 = 0x004
    public static let EPOLLERR: UInt32 = 0x008
    public static let EPOLLHUP: UInt32 = 0x010
    public static let EPOLLRDHUP: UInt32 = 0x2000
    public static let EPOLLONESHOT: UInt32 = 1 << 30
    public static let EPOLLET: UInt32 = 1 << 31
    // poll(2) events (asm-generic/poll.h); POLLRDHUP is 0x2000 on x86_64.
    public static let POLLIN: Int16 = 0x001
    public static let POLLOUT: Int16 = 0x004
    public static let POLLERR: Int16 = 0x008
    public static let POLLHUP: Int16 = 0x010
    public static let POLLNVAL: Int16 = 0x020
    public static let POLLRDHUP: Int16 = 0x2000
    // Signals (asm/signal.h) and waitid(2) (linux/wait.h; P_PIDFD since Linux 5.4).
    public static let SIGKILL: Int32 = 9
    public static let SIGTERM: Int32 = 15
    public static let WNOHANG: Int32 = 1
    public static let WEXITED: Int32 = 4
    public static let P_PIDFD: UInt32 = 3
    // <linux/pidfd.h>: pidfd_open's flags (PIDFD_THREAD since Linux 6.9).
    public static let PIDFD_NONBLOCK = UInt32(O_NONBLOCK)
    public static let PIDFD_THREAD = UInt32(O_EXCL)
    /// siginfo's si_code for SIGCHLD (asm-generic/siginfo.h).
    public static let CLD_EXITED: Int32 = 1

    // <linux/kcmp.h>
    public static let KCMP_FILE: Int32 = 0

    /// A task's PF_* flag (include/linux/sched.h) set first thing in do_exit, shown in /proc/PID/stat field 9.
    public static let PF_EXITING: UInt32 = 0x4

    // <asm-generic/errno-base.h>, for the model and the agent alike.
    public static let EPERM = Glibc.EPERM
    public static let ENOENT = Glibc.ENOENT
    public static let EBADF = Glibc.EBADF
    public static let EINVAL = Glibc.EINVAL
    public static let EEXIST = Glibc.EEXIST
    public static let ENOTCONN = Glibc.ENOTCONN
    public static let ENOTSOCK = Glibc.ENOTSOCK
    public static let ENOPROTOOPT = Glibc.ENOPROTOOPT
    public static let ENODATA = Glibc.ENODATA
    public static let EOPNOTSUPP = Glibc.EOPNOTSUPP

    // <asm-generic/signal.h>: the signals a signalfd mask may name.
    public static let SIGHUP = Glibc.SIGHUP
    public static let SIGINT = Glibc.SIGINT
    public static let SIGUSR1 = Glibc.SIGUSR1
    public static let SIGUSR2 = Glibc.SIGUSR2
    public static let SIGALRM = Glibc.SIGALRM
}
