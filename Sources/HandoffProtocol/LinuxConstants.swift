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

    // <linux/close_range.h>
    public static let CLOSE_RANGE_UNSHARE: UInt32 = 1 << 1
    public static let CLOSE_RANGE_CLOEXEC: UInt32 = 1 << 2

    // <linux/memfd.h>
    public static let MFD_CLOEXEC: UInt32 = 0x0001

    // <sys/eventfd.h>: the same bits as O_CLOEXEC and O_NONBLOCK.
    public static let EFD_CLOEXEC = Glibc.O_CLOEXEC
    public static let EFD_NONBLOCK = Glibc.O_NONBLOCK

    // <sys/epoll.h>
    public static let EPOLL_CLOEXEC = Glibc.O_CLOEXEC
    public static let EPOLL_CTL_ADD: Int32 = 1
    public static let EPOLL_CTL_DEL: Int32 = 2
    public static let EPOLL_CTL_MOD: Int32 = 3
    public static let EPOLLIN: UInt32 = 0x001
    public static let EPOLLOUT: UInt32 = 0x004
    public static let EPOLLET: UInt32 = 1 << 31

    // <linux/kcmp.h>
    public static let KCMP_FILE: Int32 = 0

    // <asm-generic/errno-base.h>, for the model and the agent alike.
    public static let EPERM = Glibc.EPERM
    public static let ENOENT = Glibc.ENOENT
    public static let EBADF = Glibc.EBADF
    public static let EINVAL = Glibc.EINVAL
    public static let EEXIST = Glibc.EEXIST
    public static let ENOTCONN = Glibc.ENOTCONN
    public static let ENOTSOCK = Glibc.ENOTSOCK
}
