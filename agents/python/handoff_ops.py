# Every operation, as Python's standard library performs it. `build(verb, fields, loop)` decodes one
# operation (raising Bad when it is malformed) into a performer: a function of the agent that does it and
# returns the Answer (None when there is nothing to answer: exit, the child side of a fork). Loops build
# their performers once and call them every iteration, exactly as a single request does.
#
# The rule (README.md has the table): each step uses the ordinary stdlib call for it (os.open, os.dup,
# socket.socketpair, socket.send_fds, socket.recv_fds, select.epoll, ...) and passes what the step asks when
# that call has a parameter for it (os.pipe2 flags, os.dup2 inheritable=, os.memfd_create / os.eventfd
# flags). Where the call cannot express the step (PEP 446 makes os.open, os.dup, sockets and epoll
# close-on-exec), the agent does what the library does, and the oracle reports the difference - unless it
# runs as `handoff-agent-py-inherit`, which then asks with os.set_inheritable(fd, True) (PEP 446's own
# recipe), timed with the call.

# Sockets are in handoff_sockets.py, processes and process attributes in handoff_processes.py.

import array
import os
import fcntl
import select

from handoff_wire import Answer, Bad, failure
from handoff_call import (timed, answer, inherit, resolve, on_descriptor, O_CLOEXEC, O_APPEND, O_NONBLOCK, OPEN_FLAGS,
                          MFD_CLOEXEC, MFD_ALLOW_SEALING, F_ADD_SEALS, F_GET_SEALS, SEALS_KNOWN, SIGNALS_KNOWN,
                          CLOCKS_KNOWN, F_DUPFD_QUERY, checked, CLOSE_RANGE_UNSHARE, F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL,
                          F_SETFL, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, EBADF, EINVAL, F_GETPIPE_SZ, F_SETPIPE_SZ,
                          FIOCLEX, FIONCLEX, FIONBIO, FIONREAD)
import handoff_sockets
import handoff_processes


def build(verb, f, loop):
    """The performer of one operation; raises Bad when the request is malformed or unknown."""
    builder = BUILDERS.get(verb)
    if builder is None:
        raise Bad("unknown verb %s" % verb)
    return builder(f, loop)


# --- descriptors from nothing ------------------------------------------------------------------------------

def build_open(f, loop):
    path, flags, mode = f.bytes("path"), f.int32("flags"), f.int("mode") & 0xFFFFFFFF
    if flags & ~OPEN_FLAGS:
        raise Bad("open: malformed field 'flags'")
    close_on_exec = bool(flags & O_CLOEXEC)

    def perform(agent):
        # os.open adds O_CLOEXEC whatever the flags say (PEP 446).
        call = timed(lambda: inherit([os.open(path, flags, mode)], close_on_exec)[0])
        return answer(call, [call.value])
    return perform


def build_pipe(f, loop):
    flags = f.int32("flags")

    def perform(agent):
        # os.pipe() is always O_CLOEXEC; os.pipe2 takes the step's flags as they are.
        call = timed(os.pipe2, flags)
        return answer(call, call.value if not call.errno else ())
    return perform


def build_memfd(f, loop):
    name, flags = f.bytes("name"), f.uint32("flags") & (MFD_CLOEXEC | MFD_ALLOW_SEALING)

    def perform(agent):
        call = timed(os.memfd_create, name, flags)
        return answer(call, [call.value])
    return perform


def build_eventfd(f, loop):
    initial, flags = f.int("initial") & 0xFFFFFFFF, f.int32("flags")

    def perform(agent):
        call = timed(os.eventfd, initial, flags)
        return answer(call, [call.value])
    return perform


def build_epoll_create1(f, loop):
    flags = f.int32("flags")

    def perform(agent):
        import select

        def create():
            # select.epoll is always EPOLL_CLOEXEC ("flags ... completely ignored"). The object would close
            # its descriptor when collected, so the agent keeps it for good.
            poller = select.epoll()
            agent.keep.append(poller)
            return inherit([poller.fileno()], flags & O_CLOEXEC)[0]
        call = timed(create)
        return answer(call, [call.value])
    return perform


def build_epoll_ctl(f, loop):
    # op raw: the kernel refuses an op it does not know (EINVAL); select.epoll has no call for one.
    epfd, op, fd, events = f.fd("epfd", loop), f.int32("op"), f.fd("fd", loop), f.int("events") & 0xFFFFFFFF

    def perform(agent):
        import select
        e, target = resolve(agent, epfd), resolve(agent, fd)
        if agent.is_channel(e) or agent.is_channel(target):
            return failure(EBADF)
        # An epoll object over the number (never collected: it would close the descriptor).
        poller = agent.epolls.get(e)
        if poller is None:
            poller = agent.epolls[e] = select.epoll.fromfd(e)
        if op == EPOLL_CTL_ADD:
            return answer(timed(poller.register, target, events))
        if op == EPOLL_CTL_MOD:
            return answer(timed(poller.modify, target, events))
        if op == EPOLL_CTL_DEL:
            return answer(timed(poller.unregister, target))
        import handoff_libc
        return answer(timed(lambda: checked(handoff_libc.epoll_ctl(e, op, target, events))))
    return perform


def build_epoll_wait(f, loop):
    epfd, maxevents, timeout = f.fd("epfd", loop), f.int32("max"), f.int32("timeout")
    if maxevents > 1024:
        raise Bad("epoll_wait: malformed field 'max'")

    def perform(agent):
        import select
        e = resolve(agent, epfd)
        if agent.is_channel(e):
            return failure(EBADF)
        poller = agent.epolls.get(e)
        if poller is None:
            poller = agent.epolls[e] = select.epoll.fromfd(e)
        # select.epoll.poll: timeout in seconds; maxevents -1 is the library's "no limit" (FD_SETSIZE - 1), not
        # the kernel's EINVAL, and 0 it refuses with ValueError before any call (reported as EINVAL, as the
        # kernel would). Each event's fd is its epoll_data.fd (register stores the number there).
        if maxevents == 0:
            return failure(EINVAL)
        call = timed(poller.poll, timeout / 1000.0, maxevents)
        result = answer(call)
        if call.errno == 0:
            result.r = len(call.value)
            result.ready = list(call.value)
        return result
    return perform


# --- duplicating and closing -------------------------------------------------------------------------------

def build_dup(f, loop):
    fd = f.fd("fd", loop)

    @on_descriptor(fd)
    def perform(agent, number):
        # os.dup: a non-inheritable copy (F_DUPFD_CLOEXEC), where dup(2) makes an inheritable one.
        call = timed(lambda: inherit([os.dup(number)], False)[0])
        return answer(call, [call.value])
    return perform


def build_dup2(f, loop):
    fd, target = f.fd("fd", loop), f.fd("target", loop)
    return lambda agent: agent.duplicate(resolve(agent, fd), resolve(agent, target), None)


def build_dup3(f, loop):
    fd, target, flags = f.fd("fd", loop), f.fd("target", loop), f.int32("flags")
    return lambda agent: agent.duplicate(resolve(agent, fd), resolve(agent, target), flags)


def build_fcntl(f, loop):
    fd, cmd, arg = f.fd("fd", loop), f.int32("cmd"), f.int32("arg", 0)
    if cmd not in (F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_ADD_SEALS, F_GET_SEALS,
                   F_GETPIPE_SZ, F_SETPIPE_SZ):
        raise Bad("fcntl: malformed field 'cmd'")
    if cmd == F_ADD_SEALS:
        arg &= SEALS_KNOWN                # fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
    if cmd in (F_GET_SEALS, F_GETPIPE_SZ):
        arg = 0
    if cmd == F_SETFL:
        arg &= O_APPEND | O_NONBLOCK   # what the scenario language can say (StatusFlag)

    @on_descriptor(fd)
    def perform(agent, number):
        if cmd == F_GETFD:
            # os.get_inheritable is F_GETFD's own Python spelling; the answer is FD_CLOEXEC or 0.
            call = timed(lambda: 0 if os.get_inheritable(number) else 1)
        elif cmd == F_SETFD:
            call = timed(lambda: os.set_inheritable(number, not arg & 1) or 0)
        else:
            call = timed(fcntl.fcntl, number, cmd, arg)
        return answer(call, [call.value] if cmd in (F_DUPFD, F_DUPFD_CLOEXEC) else ())
    return perform


def build_ioctl(f, loop):
    fd, request, arg = f.fd("fd", loop), f.int("request"), f.int32("arg", 0)
    if request not in (FIOCLEX, FIONCLEX, FIONBIO, FIONREAD):
        raise Bad("ioctl: malformed field 'request'")
    arg = (1 if arg else 0) if request == FIONBIO else 0

    @on_descriptor(fd)
    def perform(agent, number):
        # fcntl.ioctl with a mutable buffer passes its address: FIONBIO reads the int, FIONREAD writes it.
        value = array.array("i", [arg])
        call = timed(fcntl.ioctl, number, request, value, True)
        if not call.errno and request == FIONREAD:
            call.value = value[0]
        return answer(call)
    return perform


def build_close(f, loop):
    fd = f.fd("fd", loop)

    @on_descriptor(fd)
    def perform(agent, number):
        call = timed(os.close, number)
        call.value = 0 if not call.errno else -1
        return answer(call)
    return perform


def build_close_range(f, loop):
    first, last, flags = f.uint32("first"), f.uint32("last"), f.uint32("flags")

    def perform(agent):
        result = agent.close_range_around_channels(first, last, flags)
        if flags & CLOSE_RANGE_UNSHARE and result.r == 0:
            for channel in agent.hidden:
                os.close(channel)
        return result
    return perform


# --- data ----------------------------------------------------------------------------------------------------

def build_lseek(f, loop):
    # whence raw: the kernel refuses past SEEK_HOLE (EINVAL).
    fd, offset, whence = f.fd("fd", loop), f.int("offset"), f.int32("whence")

    @on_descriptor(fd)
    def perform(agent, number):
        return answer(timed(os.lseek, number, offset, whence))
    return perform


def read_answer(agent, call):
    """The answer of os.read or os.pread: the byte count, and the bytes unless in a loop."""
    data = call.value
    if not call.errno:
        call.value = len(data)
    result = answer(call)
    if not call.errno and not agent.in_loop:
        result.d = data
    return result


def build_read(f, loop):
    fd, count = f.fd("fd", loop), f.count("count")

    @on_descriptor(fd)
    def perform(agent, number):
        return read_answer(agent, timed(os.read, number, count))
    return perform


def at_position(fd, offset):
    """on_descriptor for pread and pwrite: a negative offset is EINVAL before the descriptor is looked at
    (ksys_pread64, ksys_pwrite64), so the call is made even on the agent's channel and the kernel answers it."""
    def decorate(perform):
        def checked_perform(agent):
            number = resolve(agent, fd)
            if agent.is_channel(number) and offset >= 0:
                return failure(EBADF)
            return perform(agent, number)
        return checked_perform
    return decorate


def build_pread(f, loop):
    fd, count, offset = f.fd("fd", loop), f.count("count"), f.int("offset")

    @at_position(fd, offset)
    def perform(agent, number):
        return read_answer(agent, timed(os.pread, number, count, offset))
    return perform


def build_pwrite(f, loop):
    fd, data, offset = f.fd("fd", loop), f.bytes("data"), f.int("offset")

    @at_position(fd, offset)
    def perform(agent, number):
        return answer(timed(os.pwrite, number, data, offset))
    return perform


def build_write(f, loop):
    fd, data = f.fd("fd", loop), f.bytes("data")

    @on_descriptor(fd)
    def perform(agent, number):
        return answer(timed(os.write, number, data))
    return perform


def build_ftruncate(f, loop):
    fd, length = f.fd("fd", loop), f.int("length")

    def perform(agent):
        number = resolve(agent, fd)
        if agent.is_channel(number):
            # do_sys_ftruncate checks the length before the descriptor.
            return failure(EINVAL if length < 0 else EBADF)
        return answer(timed(lambda: os.ftruncate(number, length) or 0))
    return perform


def build_mkfifo(f, loop):
    path, mode = f.bytes("path"), f.int("mode") & 0xFFFFFFFF

    def perform(agent):
        return answer(timed(lambda: os.mkfifo(path, mode) or 0))
    return perform


def build_signalfd(f, loop):
    mask, flags = f.int("mask") & 0xFFFFFFFFFFFFFFFF, f.int32("flags") & (O_CLOEXEC | O_NONBLOCK)
    if mask & ~SIGNALS_KNOWN:
        raise Bad("signalfd: malformed field 'mask'")
    return _new_descriptor(lambda libc: libc.signalfd(mask, flags))


def build_timerfd_create(f, loop):
    clock, flags = f.int32("clock"), f.int32("flags") & (O_CLOEXEC | O_NONBLOCK)
    if clock not in CLOCKS_KNOWN:
        raise Bad("timerfd_create: malformed field 'clock'")
    return _new_descriptor(lambda libc: libc.timerfd_create(clock, flags))


def build_inotify_init1(f, loop):
    flags = f.int32("flags") & (O_CLOEXEC | O_NONBLOCK)
    return _new_descriptor(lambda libc: libc.inotify_init1(flags))


def _new_descriptor(make):
    """A performer for a call that returns a new descriptor through handoff_libc (ctypes: the standard
    library has no signalfd, timerfd or inotify), imported when first performed."""
    def perform(agent):
        import handoff_libc
        call = timed(lambda: checked(make(handoff_libc)))
        return answer(call, [call.value])
    return perform


def build_dupfd_query(f, loop):
    fd, other = f.fd("fd", loop), f.fd("other", loop)

    def perform(agent):
        number, second = resolve(agent, fd), resolve(agent, other)
        if agent.is_channel(number) or agent.is_channel(second):
            return failure(EBADF)
        # fcntl.F_DUPFD_QUERY is Python 3.14; the number is the kernel's (<linux/fcntl.h>).
        return answer(timed(fcntl.fcntl, number, F_DUPFD_QUERY, second))
    return perform


POLL_EVENTS_KNOWN = select.POLLIN | select.POLLOUT | select.POLLRDHUP


def build_poll(f, loop):
    fd, events, timeout = f.fd("fd", loop), f.int32("events") & POLL_EVENTS_KNOWN, f.int32("timeout")

    def perform(agent):
        number = resolve(agent, fd)
        if agent.is_channel(number):
            return Answer(select.POLLNVAL, 0)
        if number < 0:
            # poll(2) skips a negative descriptor (revents 0); select.poll refuses to register one.
            return Answer(0, 0)

        def poll_one():
            # select.poll: poll(2) with one struct pollfd; the answer's result is its revents.
            poller = select.poll()
            poller.register(number, events)
            ready = poller.poll(timeout)
            return ready[0][1] if ready else 0
        return answer(timed(poll_one))
    return perform


# Every operation keyword (OperationDeclarations.swift) and its builder.
BUILDERS = {
    "open": build_open, "pipe": build_pipe, "memfd": build_memfd, "eventfd": build_eventfd,
    "epoll_create1": build_epoll_create1, "epoll_ctl": build_epoll_ctl, "epoll_wait": build_epoll_wait,
    "dup": build_dup, "dup2": build_dup2, "dup3": build_dup3, "fcntl": build_fcntl, "ioctl": build_ioctl,
    "close": build_close, "close_range": build_close_range,
    "lseek": build_lseek, "read": build_read, "pread": build_pread, "pwrite": build_pwrite, "write": build_write, "poll": build_poll,
    "ftruncate": build_ftruncate, "mkfifo": build_mkfifo, "signalfd": build_signalfd, "timerfd_create": build_timerfd_create,
    "inotify_init1": build_inotify_init1, "dupfd_query": build_dupfd_query,
}
for _module, _verbs in ((handoff_sockets, ("socketpair", "shutdown", "send", "send_headers", "recv", "listen", "connect", "accept",
                                           "unix_gc", "setsockopt", "getsockopt", "socket", "bind", "sendto",
                                           "recvfrom")),
                        (handoff_processes, ("fork", "clone_files", "unshare_files", "exec", "launch", "exit", "wait",
                                             "pidfd_open", "pidfd_getfd", "reopen", "setrlimit", "drop_capability",
                                             "set_dumpable", "pidfd_send_signal", "waitid", "unshare_net"))):
    for _verb in _verbs:
        BUILDERS[_verb] = getattr(_module, "build_" + _verb)
