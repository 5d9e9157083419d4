# What every operation's performer shares: Linux's numbers, the one way a library call is timed and turned
# into an answer (an OSError's errno is the system call's errno), the loop-slot resolution, and the
# PEP 446 policy switch. See handoff_ops.py for the rule each operation follows.

import os
from time import monotonic_ns

from handoff_wire import Answer, Slot, failure

O_CLOEXEC = 0o2000000
O_NONBLOCK = 0o4000
O_APPEND = 0o2000
SOCK_CLOEXEC = 0o2000000
SOCK_NONBLOCK = 0o4000
SOCK_TYPES = (1, 2, 5)          # stream, dgram, seqpacket
MSG_NOSIGNAL = 0x4000
MSG_OOB = 0x1
MSG_CMSG_CLOEXEC = 0x40000000
MFD_CLOEXEC = 1
MFD_ALLOW_SEALING = 2
F_ADD_SEALS = 1033
F_GET_SEALS = 1034
F_DUPFD_QUERY = 1027
F_SETPIPE_SZ, F_GETPIPE_SZ = 1031, 1032
# <asm-generic/ioctls.h>: the requests every file answers (IoctlRequest in Vocabulary.swift).
FIONREAD, FIONBIO, FIONCLEX, FIOCLEX = 0x541B, 0x5421, 0x5450, 0x5451
SEALS_KNOWN = 0x3F              # F_SEAL_SEAL ... F_SEAL_EXEC (<linux/fcntl.h>)
SIGNALS_KNOWN = (1 << 0) | (1 << 1) | (1 << 9) | (1 << 11) | (1 << 13) | (1 << 14)   # HUP INT USR1 USR2 ALRM TERM
CLOCKS_KNOWN = (0, 1, 7)        # CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME
CLOSE_RANGE_UNSHARE = 2
CLOSE_RANGE_CLOEXEC = 4
EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD = 1, 2, 3
F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC = 0, 1, 2, 3, 4, 1030
EBADF, ENOENT, EINVAL, EPERM = 9, 2, 22, 1
# <asm-generic/socket.h>: the SOL_SOCKET options the protocol names (SocketOption), some newer than the
# socket module's constants, and the control messages recv reports.
SOL_SOCKET = 1
SO_TYPE, SO_ERROR, SO_PASSCRED, SO_PEERCRED, SO_ACCEPTCONN, SO_DOMAIN, SO_PEEK_OFF = 3, 4, 16, 17, 30, 39, 42
SO_PASSPIDFD, SO_PEERPIDFD, SO_PASSRIGHTS, SO_INQ = 76, 77, 83, 84
SOCKET_OPTIONS = (SO_PASSCRED, SO_PASSPIDFD, SO_PASSRIGHTS, SO_PEEK_OFF, SO_ERROR, SO_TYPE, SO_DOMAIN, SO_ACCEPTCONN,
                  SO_PEERCRED, SO_PEERPIDFD, SO_INQ)
SCM_CREDENTIALS, SCM_PIDFD = 2, 4
# Open flags a request may carry (OpenFlag): anything else is malformed.
OPEN_FLAGS = 0o3 | 0o100 | 0o200 | 0o1000 | O_APPEND | O_NONBLOCK | O_CLOEXEC | 0o10000000


# Set by the agent at start: whether to follow a close-on-exec-by-default call with os.set_inheritable.
ask_inheritable = False


def socket_module():
    # socket.py costs ~9 ms to import: only scenarios that use sockets pay for it.
    import socket
    return socket


class Call:
    """One timed library call: `value`, or `errno` when it raised OSError, and `ns` around it."""
    __slots__ = ("value", "errno", "ns")


def timed(function, *arguments):
    call = Call()
    started = monotonic_ns()
    try:
        call.value = function(*arguments)
        call.errno = 0
    except OSError as error:
        call.value = -1
        call.errno = error.errno if error.errno is not None else EINVAL
    except (ValueError, OverflowError):
        # Python refuses a negative (or out-of-range) descriptor itself before any system call; the kernel
        # would have said EBADF for it, so the answer says the same.
        call.value = -1
        call.errno = EBADF
    call.ns = monotonic_ns() - started
    return call


def answer(call, produced=()):
    """The Answer of a call; `produced`: descriptors it created, listed when it succeeded."""
    result = Answer(call.value if isinstance(call.value, int) else 0, call.errno, call.ns)
    if call.errno:
        result.r = -1
    elif produced:
        result.fds = list(produced)
    return result


def inherit(fds, close_on_exec):
    """PEP 446 made the call's descriptors close-on-exec; under -inherit, ask for what the step asked."""
    if ask_inheritable and not close_on_exec:
        for fd in fds:
            os.set_inheritable(fd, True)
    return fds


def resolve(agent, operand):
    return agent.slots[operand.index] if type(operand) is Slot else operand


def on_descriptor(fd, passing=None):
    """Decorates the performer of an operation on the descriptor `fd` (and, for send, sendto and send_headers,
    the descriptors `passing` it passes), resolved: the agent's own channel among them is EBADF (it is not in
    the scenario's table). The performer is called as perform(agent, number), or perform(agent, number,
    passed) when there is a `passing` list."""
    def decorate(perform):
        def checked_perform(agent):
            number = resolve(agent, fd)
            if passing is None:
                return failure(EBADF) if agent.is_channel(number) else perform(agent, number)
            passed = [resolve(agent, operand) for operand in passing]
            if agent.is_channel(number) or any(agent.is_channel(p) for p in passed):
                return failure(EBADF)
            return perform(agent, number, passed)
        return checked_perform
    return decorate


def sock(fd):
    """A socket object over an existing descriptor, without taking it over (detach() before it is dropped).
    Python asks the kernel for the family and type first: a non-socket fails there with ENOTSOCK."""
    return socket_module().socket(fileno=fd)


def with_socket(fd, method, *arguments):
    s = sock(fd)
    try:
        return method(s, *arguments)
    finally:
        s.detach()


def checked(outcome):
    """A ctypes outcome (result, errno) as a Python call: raises OSError on failure."""
    result, errno = outcome
    if result < 0:
        raise OSError(errno, os.strerror(errno))
    return result

