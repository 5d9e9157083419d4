# What Python's standard library has no function for, called through ctypes on the C library:
# prctl (PR_SET_PDEATHSIG, PR_SET_DUMPABLE), clone(CLONE_FILES), unshare(CLONE_FILES) (os.unshare is 3.12),
# pidfd_getfd, close_range with flags (os.closerange has none), capget/capset (no libcap binding), sendmsg
# with a raw cmsg_len (socket.sendmsg computes every cmsg_len itself: a short one cannot be written),
# signalfd, timerfd_create (os.timerfd_create is 3.13), inotify_init1 (no module has them), epoll_ctl with an
# op select.epoll has no method for,
# unshare(CLONE_NEWNET), and bind/sendto of a unix address on an AF_INET socket (the socket module refuses it).
# Every function returns (result, errno) as the system call gives them: -1 and errno on failure.

import ctypes

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long

# x86-64 system call numbers (<asm/unistd_64.h>).
SYS_clone = 56
SYS_capget = 125
SYS_capset = 126
SYS_pidfd_getfd = 438
SYS_close_range = 436

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
CLONE_FILES = 0x400
CLONE_NEWNET = 0x40000000
SIGCHLD = 17


def _outcome(result):
    return (result, ctypes.get_errno() if result < 0 else 0)


def prctl(option, value):
    ctypes.set_errno(0)
    return _outcome(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(value), ctypes.c_ulong(0),
                                ctypes.c_ulong(0), ctypes.c_ulong(0)))


def clone_files():
    """clone(CLONE_FILES | SIGCHLD) without a new stack: like fork, but the child shares the caller's table.
    The child returns 0 into the same Python frame (no CLONE_VM: it has its own copy of the memory)."""
    return _outcome(_syscall(ctypes.c_long(SYS_clone), ctypes.c_ulong(CLONE_FILES | SIGCHLD), ctypes.c_ulong(0),
                             ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)))


def unshare_files():
    return _outcome(_libc.unshare(ctypes.c_int(CLONE_FILES)))


def unshare_net():
    """unshare(CLONE_NEWNET): os.unshare is 3.12."""
    return _outcome(_libc.unshare(ctypes.c_int(CLONE_NEWNET)))


def pidfd_getfd(pidfd, fd, flags):
    return _outcome(_syscall(ctypes.c_long(SYS_pidfd_getfd), ctypes.c_int(pidfd), ctypes.c_int(fd),
                             ctypes.c_uint(flags)))


def signalfd(mask, flags):
    """signalfd(-1, mask, flags): `mask` is the kernel's sigset_t word (bit signal - 1), the first unsigned
    long of glibc's sigset_t (the rest stays zero)."""
    sigset = (ctypes.c_ulong * 16)()
    sigset[0] = mask
    return _outcome(_libc.signalfd(ctypes.c_int(-1), ctypes.byref(sigset), ctypes.c_int(flags)))


def timerfd_create(clock, flags):
    return _outcome(_libc.timerfd_create(ctypes.c_int(clock), ctypes.c_int(flags)))


def inotify_init1(flags):
    return _outcome(_libc.inotify_init1(ctypes.c_int(flags)))


class _EpollEvent(ctypes.Structure):
    # struct epoll_event is packed on x86-64: 4 bytes of events, then 8 of data (12 in all).
    _pack_ = 1
    _fields_ = [("events", ctypes.c_uint32), ("data", ctypes.c_uint64)]


def epoll_ctl(epfd, op, fd, events):
    """epoll_ctl with an op select.epoll has no method for (the kernel's EINVAL); the data is the number, as
    the agent registers every descriptor."""
    event = _EpollEvent(events, fd)
    return _outcome(_libc.epoll_ctl(ctypes.c_int(epfd), ctypes.c_int(op), ctypes.c_int(fd), ctypes.byref(event)))


def close_range(first, last, flags):
    return _outcome(_syscall(ctypes.c_long(SYS_close_range), ctypes.c_uint(first), ctypes.c_uint(last),
                             ctypes.c_uint(flags)))


# <linux/capability.h>, in number order: what libcap's cap_from_name knows.
CAPABILITIES = [
    "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap",
    "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
    "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
    "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write", "audit_control", "setfcap",
    "mac_override", "mac_admin", "syslog", "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf",
    "checkpoint_restore",
]


def capability_from_name(name):
    """cap_from_name: `CAP_SYS_PTRACE` (any case) or a number; None when unknown."""
    lowered = name.lower()
    if lowered.startswith("cap_") and lowered[4:] in CAPABILITIES:
        return CAPABILITIES.index(lowered[4:])
    if lowered.isdigit() and int(lowered) < len(CAPABILITIES):
        return int(lowered)
    return None


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_capability(capability):
    """What libcap's cap_get_proc / cap_set_flag(CAP_CLEAR) x3 / cap_set_proc do: capget, clear the bit in
    the effective, permitted and inheritable sets, capset (version 3: two 32-bit words per set)."""
    header = _Header(0x20080522, 0)
    data = (_Data * 2)()
    result = _outcome(_syscall(ctypes.c_long(SYS_capget), ctypes.byref(header), ctypes.byref(data)))
    if result[0] < 0:
        return result
    word, bit = divmod(capability, 32)
    mask = ~(1 << bit) & 0xFFFFFFFF
    data[word].effective &= mask
    data[word].permitted &= mask
    data[word].inheritable &= mask
    return _outcome(_syscall(ctypes.c_long(SYS_capset), ctypes.byref(header), ctypes.byref(data)))


class _IOVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32), ("iov", ctypes.POINTER(_IOVec)),
                ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


def sendmsg_raw(fd, data, control, flags):
    """sendmsg(2) of `data` with `control` as the control buffer, bytes as given (send_headers' cmsg_len)."""
    payload = ctypes.create_string_buffer(bytes(data), max(1, len(data)))
    vector = _IOVec(ctypes.cast(payload, ctypes.c_void_p), len(data))
    buffer = ctypes.create_string_buffer(bytes(control), max(1, len(control)))
    header = _MsgHdr(None, 0, ctypes.pointer(vector), 1, ctypes.cast(buffer, ctypes.c_void_p) if control else None,
                     len(control), 0)
    ctypes.set_errno(0)
    return _outcome(_libc.sendmsg(ctypes.c_int(fd), ctypes.byref(header), ctypes.c_int(flags)))


def _sockaddr_un(address):
    """struct sockaddr_un for `address` (a path's bytes, or a leading NUL and an abstract name) and its length,
    as the Swift shim's handoff_address computes it."""
    import struct
    path = address + (b"" if address.startswith(b"\0") else b"\0")
    raw = struct.pack("H", 1) + path   # AF_UNIX
    buffer = ctypes.create_string_buffer(raw, 110)
    return buffer, len(raw)


def bind_unix(fd, address):
    """bind(fd, sockaddr_un): the socket module refuses a unix address on an AF_INET socket (a TypeError
    before any system call), where the kernel answers EINVAL or EAFNOSUPPORT."""
    buffer, length = _sockaddr_un(address)
    return _outcome(_libc.bind(ctypes.c_int(fd), buffer, ctypes.c_uint(length)))


def sendto_unix(fd, data, flags, address):
    """sendto(fd, data, flags, sockaddr_un), for the same reason as bind_unix."""
    buffer, length = _sockaddr_un(address)
    _libc.sendto.restype = ctypes.c_ssize_t
    return _outcome(_libc.sendto(ctypes.c_int(fd), ctypes.c_char_p(data), ctypes.c_size_t(len(data)),
                                 ctypes.c_int(flags), buffer, ctypes.c_uint(length)))
