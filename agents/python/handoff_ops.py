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

import os
import fcntl
from time import monotonic_ns

from handoff_wire import Answer, Bad, Slot, failure, MAXIMUM_ROOM

O_CLOEXEC = 0o2000000
O_NONBLOCK = 0o4000
O_APPEND = 0o2000
SOCK_CLOEXEC = 0o2000000
SOCK_NONBLOCK = 0o4000
SOCK_TYPES = (1, 2, 5)          # stream, dgram, seqpacket
MSG_NOSIGNAL = 0x4000
MSG_CMSG_CLOEXEC = 0x40000000
MFD_CLOEXEC = 1
CLOSE_RANGE_UNSHARE = 2
CLOSE_RANGE_CLOEXEC = 4
EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD = 1, 2, 3
F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC = 0, 1, 2, 3, 4, 1030
EBADF, ENOENT, EINVAL, EPERM = 9, 2, 22, 1
# Open flags a request may carry (OpenFlag): anything else is malformed.
OPEN_FLAGS = 0o3 | 0o100 | 0o200 | 0o1000 | O_APPEND | O_NONBLOCK | O_CLOEXEC | 0o10000000

# Set by the agent at start: whether to follow a close-on-exec-by-default call with os.set_inheritable.
ask_inheritable = False


def _socket():
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


def inherit(fds, closeOnExec):
    """PEP 446 made the call's descriptors close-on-exec; under -inherit, ask for what the step asked."""
    if ask_inheritable and not closeOnExec:
        for fd in fds:
            os.set_inheritable(fd, True)
    return fds


def resolve(agent, operand):
    return agent.slots[operand.index] if type(operand) is Slot else operand


def sock(fd):
    """A socket object over an existing descriptor, without taking it over (detach() before it is dropped).
    Python asks the kernel for the family and type first: a non-socket fails there with ENOTSOCK."""
    return _socket().socket(fileno=fd)


def with_socket(fd, method, *arguments):
    s = sock(fd)
    try:
        return method(s, *arguments)
    finally:
        s.detach()


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
    closeOnExec = bool(flags & O_CLOEXEC)

    def perform(agent):
        # os.open adds O_CLOEXEC whatever the flags say (PEP 446).
        call = timed(lambda: inherit([os.open(path, flags, mode)], closeOnExec)[0])
        return answer(call, [call.value])
    return perform


def build_pipe(f, loop):
    flags = f.int32("flags")

    def perform(agent):
        # os.pipe() is always O_CLOEXEC; os.pipe2 takes the step's flags as they are.
        call = timed(os.pipe2, flags)
        return answer(call, call.value if not call.errno else ())
    return perform


def build_socketpair(f, loop):
    kind = f.int32("type")
    base = kind & ~(SOCK_CLOEXEC | SOCK_NONBLOCK)
    if base not in SOCK_TYPES:
        raise Bad("socketpair: malformed field 'type'")

    def perform(agent):
        socket = _socket()

        def pair():
            # Python adds SOCK_CLOEXEC to the type; SOCK_NONBLOCK passes through.
            a, b = socket.socketpair(socket.AF_UNIX, kind)
            return inherit([a.detach(), b.detach()], kind & SOCK_CLOEXEC)
        call = timed(pair)
        return answer(call, call.value if not call.errno else ())
    return perform


def build_memfd(f, loop):
    name, flags = f.bytes("name"), f.uint32("flags") & MFD_CLOEXEC

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
    epfd, op, fd, events = f.fd("epfd", loop), f.int32("op"), f.fd("fd", loop), f.int("events") & 0xFFFFFFFF
    if op not in (EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD):
        raise Bad("epoll_ctl: malformed field 'op'")

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
        return answer(timed(poller.unregister, target))
    return perform


# --- duplicating and closing -------------------------------------------------------------------------------

def build_dup(f, loop):
    fd = f.fd("fd", loop)

    def perform(agent):
        number = resolve(agent, fd)
        if agent.is_channel(number):
            return failure(EBADF)
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
    if cmd not in (F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL, F_SETFL):
        raise Bad("fcntl: malformed field 'cmd'")
    if cmd == F_SETFL:
        arg &= O_APPEND | O_NONBLOCK   # what the scenario language can say (StatusFlag)

    def perform(agent):
        number = resolve(agent, fd)
        if agent.is_channel(number):
            return failure(EBADF)
        if cmd == F_GETFD:
            # os.get_inheritable is F_GETFD's own Python spelling; the answer is FD_CLOEXEC or 0.
            call = timed(lambda: 0 if os.get_inheritable(number) else 1)
        elif cmd == F_SETFD:
            call = timed(lambda: os.set_inheritable(number, not arg & 1) or 0)
        else:
            call = timed(fcntl.fcntl, number, cmd, arg)
        return answer(call, [call.value] if cmd in (F_DUPFD, F_DUPFD_CLOEXEC) else ())
    return perform


def build_close(f, loop):
    fd = f.fd("fd", loop)

    def perform(agent):
        number = resolve(agent, fd)
        if agent.is_channel(number):
            return failure(EBADF)
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
    fd, offset, whence = f.fd("fd", loop), f.int("offset"), f.int32("whence")
    if whence not in (0, 1, 2):
        raise Bad("lseek: malformed field 'whence'")

    def perform(agent):
        number = resolve(agent, fd)
        if agent.is_channel(number):
            return failure(EBADF)
        return answer(timed(os.lseek, number, offset, whence))
    return perform


def build_read(f, loop):
    fd, count = f.fd("fd", loop), f.count("count")

    def perform(agent):
        number = resolve(agent, fd)
        if agent.is_channel(number):
            return failure(EBADF)
        call = timed(os.read, number, count)
        data = call.value
        if not call.errno:
            call.value = len(data)
        result = answer(call)
        if not call.errno and not agent.in_loop:
            result.d = data
        return result
    return perform


def build_write(f, loop):
    fd, data = f.fd("fd", loop), f.bytes("data")

    def perform(agent):
        number = resolve(agent, fd)
        if agent.is_channel(number):
            return failure(EBADF)
        return answer(timed(os.write, number, data))
    return perform


def build_shutdown(f, loop):
    fd, how = f.fd("fd", loop), f.int32("how")
    if how not in (0, 1, 2):
        raise Bad("shutdown: malformed field 'how'")

    def perform(agent):
        number = resolve(agent, fd)
        if agent.is_channel(number):
            return failure(EBADF)
        call = timed(with_socket, number, lambda s: s.shutdown(how) or 0)
        return answer(call)
    return perform


def build_send(f, loop):
    fd, data = f.fd("fd", loop), f.bytes("data")
    fds = f.fds("fds", loop)

    def perform(agent):
        number = resolve(agent, fd)
        passing = [resolve(agent, operand) for operand in fds]
        if agent.is_channel(number) or any(agent.is_channel(p) for p in passing):
            return failure(EBADF)
        socket = _socket()
        if passing:
            # socket.send_fds: sendmsg with one SCM_RIGHTS message. (3.11's send_fds drops its `flags`, here
            # MSG_NOSIGNAL; nothing shows it, since the interpreter ignores SIGPIPE: EPIPE either way.)
            call = timed(with_socket, number, lambda s: socket.send_fds(s, [data], passing, MSG_NOSIGNAL))
        else:
            call = timed(with_socket, number, lambda s: s.sendmsg([data], [], MSG_NOSIGNAL))
        return answer(call)
    return perform


def build_recv(f, loop):
    fd, count, room, flags = f.fd("fd", loop), f.count("count"), f.int32("room"), f.int32("flags")
    if not 0 <= room <= MAXIMUM_ROOM:
        raise Bad("recv: malformed field 'room'")

    def receive(s):
        socket = _socket()
        if not flags:
            return socket.recv_fds(s, count, room)
        # Python 3.11's recv_fds accepts `flags` but never passes them to recvmsg (its body is
        # sock.recvmsg(bufsize, CMSG_LEN(maxfds * 4))): a non-blocking recv would block. With flags, the
        # agent makes recv_fds's own call with the flags added, and parses the rights as recv_fds does.
        import array
        data, ancillary, message_flags, address = s.recvmsg(count, socket.CMSG_LEN(room * 4), flags)
        fds = array.array("i")
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
        return data, list(fds), message_flags, address

    def perform(agent):
        number = resolve(agent, fd)
        if agent.is_channel(number):
            return failure(EBADF)
        # socket.recv_fds(sock, bufsize, maxfds): recvmsg with a control buffer of CMSG_LEN(maxfds * 4)
        # bytes, where the step asks for CMSG_SPACE (room for one more descriptor when `room` is odd) and
        # for none when room is 0 (recv_fds still gives 16 bytes: no room for a descriptor either).
        call = timed(with_socket, number, receive)
        if call.errno:
            return answer(call)
        data, fds, message_flags, _ = call.value
        call.value = len(data)
        result = answer(call, fds)
        result.fds = list(fds)
        result.mf = message_flags
        if not agent.in_loop:
            result.d = data
        return result
    return perform


# --- sockets by address --------------------------------------------------------------------------------------

def _address(f):
    text = f.text("addr")
    kind, _, value = text.partition(":")
    try:
        if kind == "unix":
            return 1, bytes.fromhex(value)
        if kind == "abstract":
            return 1, b"\0" + bytes.fromhex(value)
        if kind == "tcp" and value.isdigit() and int(value) < 65536:
            return 2, ("127.0.0.1", int(value))
    except ValueError:
        pass
    raise Bad("%s: malformed field 'addr'" % f.verb)


def _socket_type(f):
    kind = f.int32("type")
    if kind & ~(SOCK_CLOEXEC | SOCK_NONBLOCK) not in SOCK_TYPES:
        raise Bad("%s: malformed field 'type'" % f.verb)
    return kind


def build_listen(f, loop):
    family, where = _address(f)
    kind, backlog = _socket_type(f), f.int32("backlog", 16)

    def perform(agent):
        socket = _socket()
        port = []

        def listen():
            s = socket.socket(family, kind)   # + SOCK_CLOEXEC, by Python
            try:
                if family == socket.AF_INET:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(where)
                s.listen(backlog)
                if family == socket.AF_INET:
                    port.append(s.getsockname()[1])
            except BaseException:
                s.close()
                raise
            return inherit([s.detach()], kind & SOCK_CLOEXEC)[0]
        call = timed(listen)
        result = answer(call, [call.value])
        if port:
            result.port = port[0]
        return result
    return perform


def build_connect(f, loop):
    family, where = _address(f)
    kind = _socket_type(f)

    def perform(agent):
        socket = _socket()

        def connect():
            s = socket.socket(family, kind & ~SOCK_NONBLOCK)
            try:
                s.connect(where)
                if kind & SOCK_NONBLOCK:
                    s.setblocking(False)   # non-blocking only once connected, as the step says
            except BaseException:
                s.close()
                raise
            return inherit([s.detach()], kind & SOCK_CLOEXEC)[0]
        call = timed(connect)
        return answer(call, [call.value])
    return perform


def build_accept(f, loop):
    fd, flags = f.fd("fd", loop), f.int32("flags")

    def perform(agent):
        number = resolve(agent, fd)
        if agent.is_channel(number):
            return failure(EBADF)

        def accept(s):
            # socket.accept: accept4(SOCK_CLOEXEC) always; it has no flags, non-blocking is setblocking().
            connection, _ = s.accept()
            if flags & SOCK_NONBLOCK:
                connection.setblocking(False)
            return inherit([connection.detach()], flags & SOCK_CLOEXEC)[0]
        call = timed(with_socket, number, accept)
        return answer(call, [call.value])
    return perform


# --- processes -----------------------------------------------------------------------------------------------

def build_fork(f, loop):
    return lambda agent: agent.fork(sharing=False)


def build_clone_files(f, loop):
    return lambda agent: agent.fork(sharing=True)


def build_unshare_files(f, loop):
    def perform(agent):
        import handoff_libc
        call = timed(lambda: _checked(handoff_libc.unshare_files()))
        if not call.errno:
            for channel in agent.hidden:
                os.close(channel)
        return answer(call)
    return perform


def _checked(outcome):
    """A ctypes outcome (result, errno) as a Python call: raises OSError on failure."""
    result, errno = outcome
    if result < 0:
        raise OSError(errno, os.strerror(errno))
    return result


def _environment(f):
    variables = []
    for entry in f.byte_lists("env", optional=True):
        name, equals, value = entry.partition(b"=")
        if equals:
            variables.append((name, value))
    return variables


def build_exec(f, loop):
    arguments, variables = f.byte_lists("args"), _environment(f)
    return lambda agent: agent.exec(arguments, variables)


def build_launch(f, loop):
    path, arguments, variables = f.bytes("path"), f.byte_lists("args"), _environment(f)
    return lambda agent: agent.launch(path, arguments, variables)


def build_exit(f, loop):
    status = f.int32("status")
    return lambda agent: os._exit(status)


def build_wait(f, loop):
    pid = f.int32("pid")

    def perform(agent):
        call = timed(os.waitpid, pid, 0)
        if call.errno:
            return answer(call)
        child, status = call.value
        call.value = child
        result = answer(call)
        if child > 0:
            result.st = status
        return result
    return perform


def build_pidfd_open(f, loop):
    pid = f.int32("pid")
    return lambda agent: _produced(timed(os.pidfd_open, pid, 0))


def _produced(call):
    return answer(call, [call.value])


def build_pidfd_getfd(f, loop):
    pid, fd, flags, channel = f.int32("pid"), f.fd("fd", loop), f.uint32("flags"), f.int32("tctl", -1)

    def perform(agent):
        import handoff_libc
        number = resolve(agent, fd)
        # The target's control channel is as invisible as our own.
        if number == channel and flags == 0:
            return failure(EBADF)
        # A transient pidfd (os.pidfd_open), moved above the scenario's numbers before the measured call.
        try:
            pidfd = agent.move_high(os.pidfd_open(pid, 0))
        except OSError as error:
            return failure(error.errno)
        call = timed(lambda: _checked(handoff_libc.pidfd_getfd(pidfd, number, flags)))
        os.close(pidfd)
        return answer(call, [call.value])
    return perform


def build_reopen(f, loop):
    pid, fd, flags, channel = f.int32("pid"), f.fd("fd", loop), f.int32("flags"), f.int32("tctl", -1)
    if flags & ~OPEN_FLAGS:
        raise Bad("reopen: malformed field 'flags'")

    def perform(agent):
        number = resolve(agent, fd)
        if number == channel:
            return failure(ENOENT)   # the target's channel must look like a free number
        path = "/proc/%d/fd/%d" % (pid, number)
        call = timed(lambda: inherit([os.open(path, flags, 0)], flags & O_CLOEXEC)[0])
        return answer(call, [call.value])
    return perform


# --- process attributes --------------------------------------------------------------------------------------

def build_setrlimit(f, loop):
    nofile = f.int("nofile")

    def perform(agent):
        import resource
        # Every module a later step may need is imported now: an import opens files, which a lowered limit
        # could forbid (EMFILE would then come from the agent, not from the step).
        agent.import_everything()

        def set_limit():
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))
            except ValueError as error:
                # resource.setrlimit turns EINVAL and EPERM into ValueError without an errno.
                raise OSError(EPERM if "raise maximum" in str(error) else EINVAL, str(error))
            return 0
        return answer(timed(set_limit))
    return perform


def build_drop_capability(f, loop):
    name = f.bytes("name").decode(errors="replace")

    def perform(agent):
        import handoff_libc
        capability = handoff_libc.capability_from_name(name)
        if capability is None:
            return failure(EINVAL)
        return answer(timed(lambda: _checked(handoff_libc.drop_capability(capability))))
    return perform


def build_set_dumpable(f, loop):
    value = 1 if f.int32("value") else 0

    def perform(agent):
        import handoff_libc
        return answer(timed(lambda: _checked(handoff_libc.prctl(handoff_libc.PR_SET_DUMPABLE, value))))
    return perform


BUILDERS = {
    "open": build_open, "pipe": build_pipe, "socketpair": build_socketpair, "memfd": build_memfd,
    "eventfd": build_eventfd, "epoll_create1": build_epoll_create1, "epoll_ctl": build_epoll_ctl,
    "dup": build_dup, "dup2": build_dup2, "dup3": build_dup3, "fcntl": build_fcntl, "close": build_close,
    "close_range": build_close_range, "lseek": build_lseek, "read": build_read, "write": build_write,
    "shutdown": build_shutdown, "send": build_send, "recv": build_recv, "listen": build_listen,
    "connect": build_connect, "accept": build_accept, "fork": build_fork, "clone_files": build_clone_files,
    "unshare_files": build_unshare_files, "exec": build_exec, "launch": build_launch, "exit": build_exit,
    "wait": build_wait, "pidfd_open": build_pidfd_open, "pidfd_getfd": build_pidfd_getfd,
    "reopen": build_reopen, "setrlimit": build_setrlimit, "drop_capability": build_drop_capability,
    "set_dumpable": build_set_dumpable,
}
