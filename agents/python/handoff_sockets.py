# The socket operations, on the socket module: a socket object is made for the call (over an existing
# descriptor with socket.socket(fileno=...)) and detached afterwards, so that the object never closes the
# descriptor, which belongs to the scenario.


import handoff_libc
from handoff_wire import Answer, Bad, MAXIMUM_ROOM, MAXIMUM_CONTROL, MAXIMUM_HEADERS, MAXIMUM_HEADER_FDS
from handoff_call import (timed, answer, inherit, on_descriptor, with_socket, socket_module, checked, SOCK_CLOEXEC,
                          SOCK_NONBLOCK, SOCK_TYPES, MSG_NOSIGNAL, MSG_OOB, SOL_SOCKET, SO_PEERCRED,
                          SO_PEERPIDFD, SOCKET_OPTIONS, SCM_CREDENTIALS, SCM_PIDFD)


def build_socketpair(f, loop):
    kind = f.int32("type")
    base = kind & ~(SOCK_CLOEXEC | SOCK_NONBLOCK)
    if base not in SOCK_TYPES:
        raise Bad("socketpair: malformed field 'type'")

    def perform(agent):
        socket = socket_module()

        def pair():
            # Python adds SOCK_CLOEXEC to the type; SOCK_NONBLOCK passes through.
            a, b = socket.socketpair(socket.AF_UNIX, kind)
            return inherit([a.detach(), b.detach()], kind & SOCK_CLOEXEC)
        call = timed(pair)
        return answer(call, call.value if not call.errno else ())
    return perform


def build_unix_gc(f, loop):
    def perform(agent):
        socket = socket_module()

        def release_pair():
            # Releasing a fresh AF_UNIX pair schedules the garbage collector (unix_release_sock -> unix_gc).
            a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            a.close()
            b.close()
            return 0
        return answer(timed(release_pair))
    return perform


def build_shutdown(f, loop):
    # how raw: the kernel refuses past SHUT_RDWR (EINVAL).
    fd, how = f.fd("fd", loop), f.int32("how")

    @on_descriptor(fd)
    def perform(agent, number):
        call = timed(with_socket, number, lambda s: s.shutdown(how) or 0)
        return answer(call)
    return perform


def _rights(passing):
    """socket.sendmsg's ancillary data for one SCM_RIGHTS message of `passing` (what socket.send_fds builds);
    none without descriptors."""
    import array
    socket = socket_module()
    return [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", passing).tobytes())] if passing else []


def build_send(f, loop):
    fd, data = f.fd("fd", loop), f.bytes("data")
    fds = f.fds("fds", loop)
    flags = f.int32("flags", 0)  # send's own flags (MSG_OOB); absent from older runners
    if flags & ~MSG_OOB:
        raise Bad("send: malformed field 'flags'")

    @on_descriptor(fd, fds)
    def perform(agent, number, passing):
        socket = socket_module()
        if flags:
            # 3.11's send_fds drops its flags (gh-107898): with MSG_OOB the agent makes send_fds's own call.
            items = _rights(passing)
            return answer(timed(with_socket, number, lambda s: s.sendmsg([data], items, MSG_NOSIGNAL | flags)))
        if passing:
            # socket.send_fds: sendmsg with one SCM_RIGHTS message. (3.11's send_fds drops its `flags`, here
            # MSG_NOSIGNAL; nothing shows it, since the interpreter ignores SIGPIPE: EPIPE either way.)
            call = timed(with_socket, number, lambda s: socket.send_fds(s, [data], passing, MSG_NOSIGNAL))
        else:
            call = timed(with_socket, number, lambda s: s.sendmsg([data], [], MSG_NOSIGNAL))
        return answer(call)
    return perform


def build_send_headers(f, loop):
    fd, data = f.fd("fd", loop), f.bytes("data")
    fds = f.fds("fds", loop)
    text = f.text("headers")
    try:
        headers = [int(part, 10) for part in text.split(",")] if text else []
    except ValueError:
        raise Bad("send_headers: malformed field 'headers'")
    if len(headers) > MAXIMUM_HEADERS or sum(headers) != len(fds) or any(not 0 <= n <= MAXIMUM_HEADER_FDS for n in headers):
        raise Bad("send_headers: malformed field 'headers'")
    cmsg_len = f.int32("cmsglen")
    if not -1 <= cmsg_len <= MAXIMUM_CONTROL or (cmsg_len >= 0 and len(headers) != 1):
        raise Bad("send_headers: malformed field 'cmsglen'")

    @on_descriptor(fd, fds)
    def perform(agent, number, passing):
        socket = socket_module()
        import array
        parts, start = [], 0
        for n in headers:
            parts.append(array.array("i", passing[start:start + n]).tobytes())
            start += n
        if cmsg_len < 0:
            # socket.sendmsg with one (SOL_SOCKET, SCM_RIGHTS, data) item per header; b"" is a header with none.
            items = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, part) for part in parts]
            return answer(timed(with_socket, number, lambda s: s.sendmsg([data], items, MSG_NOSIGNAL)))
        # A raw cmsg_len: socket.sendmsg cannot write one, so the header is packed here (struct cmsghdr:
        # size_t cmsg_len, int level, int type), padded to CMSG_SPACE, and sent through libc's sendmsg.
        import struct
        import handoff_libc
        space = socket.CMSG_SPACE(len(parts[0]))
        control = struct.pack("=Qii", cmsg_len, socket.SOL_SOCKET, socket.SCM_RIGHTS) + parts[0]
        control += bytes(space - len(control))
        return answer(timed(lambda: checked(handoff_libc.sendmsg_raw(number, data, control, MSG_NOSIGNAL))))
    return perform


def _ancillary(ancillary):
    """The descriptors (SCM_RIGHTS, then SCM_PIDFD in the kernel's order) and the credentials (a whole
    SCM_CREDENTIALS: pid, uid, gid) of recvmsg's ancillary data."""
    import array
    import struct
    socket = socket_module()
    fds, credentials = array.array("i"), None
    for level, kind, payload in ancillary:
        if level != socket.SOL_SOCKET:
            continue
        if kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
        elif kind == SCM_PIDFD and len(payload) >= 4:
            pidfd = struct.unpack("i", payload[:4])[0]
            if pidfd >= 0:  # a negative errno when the kernel could not make the pidfd
                fds.append(pidfd)
        elif kind == SCM_CREDENTIALS and len(payload) >= 12:  # a cut one (MSG_CTRUNC) is not a struct ucred
            credentials = struct.unpack("iii", payload[:12])
    return list(fds), credentials


def build_recv(f, loop):
    fd, count, room, flags = _receive_fields(f, loop, "recv")
    # `control`: the control buffer's exact size in bytes (absent: sized from room).
    control = f.int32("control", -1)
    if not -1 <= control <= MAXIMUM_CONTROL:
        raise Bad("recv: malformed field 'control'")
    return _receiver(fd, count, room, flags, control, with_sender=False)


def _receive_fields(f, loop, verb):
    """What recv and recvfrom both read: the socket, the byte count, the room for descriptors, the flags."""
    fd, count, room, flags = f.fd("fd", loop), f.count("count"), f.int32("room"), f.int32("flags")
    if not 0 <= room <= MAXIMUM_ROOM:
        raise Bad("%s: malformed field 'room'" % verb)
    return fd, count, room, flags


def _receiver(fd, count, room, flags, control, with_sender):
    """recv, and recvfrom when `with_sender`: the answer then carries the sender's address."""
    def receive(s):
        # socket.recv_fds(sock, bufsize, maxfds) is recvmsg(bufsize, CMSG_LEN(maxfds * 4)) with only the
        # SCM_RIGHTS kept; Python 3.11's also drops its `flags` (a non-blocking recv would block). The agent
        # makes recv_fds's own call with the flags, and keeps SCM_PIDFD and SCM_CREDENTIALS too.
        socket = socket_module()
        # recvmsg_into, not recvmsg: it returns recvmsg(2)'s own result, which with MSG_TRUNC is a datagram's
        # real length (recvmsg returns the bytes, cut to the buffer).
        buffer = bytearray(count)
        space = control if control >= 0 else socket.CMSG_LEN(room * 4)
        length, ancillary, message_flags, address = s.recvmsg_into([buffer], space, flags)
        data = bytes(buffer[:min(length, count)])
        return (data, message_flags, length, address) + _ancillary(ancillary)

    @on_descriptor(fd)
    def perform(agent, number):
        # A control buffer of CMSG_LEN(room * 4) bytes (recv_fds's size), where the step asks for CMSG_SPACE
        # (room for one more descriptor when `room` is odd) and for none when room is 0 (16 bytes here: no
        # room for a descriptor either).
        call = timed(with_socket, number, receive)
        if call.errno:
            return answer(call)
        data, message_flags, length, address, fds, credentials = call.value
        call.value = length
        result = answer(call, fds)
        result.mf = message_flags
        if credentials is not None:
            result.cred = "%d,%d,%d" % credentials
        if with_sender:
            result.sender = _sender(address)
        if not agent.in_loop:
            result.d = data
        return result
    return perform


def _sender(address):
    """recvmsg's address as the wire's `from`: None for an unbound sender, bytes (a leading NUL) for an
    abstract name, str for a path (read up to its NUL)."""
    import os
    if address is None:
        return b""
    if isinstance(address, bytes):
        return address
    return os.fsencode(address)


def build_setsockopt(f, loop):
    fd, option = f.fd("fd", loop), f.int32("opt")
    value = f.int32("value")
    if option not in SOCKET_OPTIONS:
        raise Bad("setsockopt: malformed field 'opt'")

    @on_descriptor(fd)
    def perform(agent, number):
        # socket.setsockopt(level, option, int): setsockopt(2) with sizeof(int).
        return answer(timed(with_socket, number, lambda s: s.setsockopt(SOL_SOCKET, option, value) or 0))
    return perform


def build_getsockopt(f, loop):
    fd, option = f.fd("fd", loop), f.int32("opt")
    if option not in SOCKET_OPTIONS:
        raise Bad("getsockopt: malformed field 'opt'")

    @on_descriptor(fd)
    def perform(agent, number):
        import struct
        if option == SO_PEERCRED:
            # socket.getsockopt(level, option, buflen): the struct ucred's bytes.
            call = timed(with_socket, number, lambda s: s.getsockopt(SOL_SOCKET, option, 12))
            if call.errno:
                return answer(call)
            credentials = struct.unpack("iii", call.value)
            call.value = 0
            result = answer(call)
            result.cred = "%d,%d,%d" % credentials
            return result
        # socket.getsockopt(level, option): the int value; SO_PEERPIDFD's is a new descriptor.
        call = timed(with_socket, number, lambda s: s.getsockopt(SOL_SOCKET, option))
        return answer(call, [call.value] if option == SO_PEERPIDFD and not call.errno else ())
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
        socket = socket_module()
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
        socket = socket_module()

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

    @on_descriptor(fd)
    def perform(agent, number):

        def accept(s):
            # socket.accept: accept4(SOCK_CLOEXEC) always; it has no flags, non-blocking is setblocking().
            connection, _ = s.accept()
            if flags & SOCK_NONBLOCK:
                connection.setblocking(False)
            return inherit([connection.detach()], flags & SOCK_CLOEXEC)[0]
        call = timed(with_socket, number, accept)
        return answer(call, [call.value])
    return perform




# --- socket, bind, sendto, recvfrom ---------------------------------------------------------------------------

def _raw_answer(call_libc):
    """A ctypes call's (result, errno), timed, as an Answer."""
    from time import monotonic_ns
    started = monotonic_ns()
    result, errno = call_libc()
    return Answer(-1 if errno else result, errno, monotonic_ns() - started)

def build_socket(f, loop):
    kind = _socket_type(f)

    def perform(agent):
        socket = socket_module()

        def create():
            s = socket.socket(socket.AF_UNIX, kind)   # + SOCK_CLOEXEC, by Python
            return inherit([s.detach()], kind & SOCK_CLOEXEC)[0]
        call = timed(create)
        return answer(call, [call.value])
    return perform


def build_bind(f, loop):
    fd = f.fd("fd", loop)
    _, where = _address(f)

    @on_descriptor(fd)
    def perform(agent, number):
        # socket.bind with bytes: a leading NUL is the abstract namespace. An AF_INET socket takes no such
        # address in Python (TypeError): the C library's bind, through ctypes.
        socket = socket_module()
        call = timed(with_socket, number, lambda s: s.family)
        if not call.errno and call.value != socket.AF_UNIX:
            return _raw_answer(lambda: handoff_libc.bind_unix(number, where))
        return answer(timed(with_socket, number, lambda s: s.bind(where) or 0))
    return perform


def build_sendto(f, loop):
    fd, data = f.fd("fd", loop), f.bytes("data")
    _, where = _address(f)
    fds = f.fds("fds", loop)

    @on_descriptor(fd, fds)
    def perform(agent, number, passing):
        socket = socket_module()
        call = timed(with_socket, number, lambda s: s.family)
        if not call.errno and call.value != socket.AF_UNIX:
            # Python refuses a unix address on an AF_INET socket (TypeError): the C library's sendto, without
            # the rights (TCP ignores them, UDP refuses the address before looking at them).
            return _raw_answer(lambda: handoff_libc.sendto_unix(number, data, MSG_NOSIGNAL, where))
        # sendmsg with msg_name and one SCM_RIGHTS message: what socket.send_fds builds, made here because
        # Python 3.11's send_fds drops its `flags` and `address` arguments.
        ancillary = _rights(passing)
        call = timed(with_socket, number, lambda s: s.sendmsg([data], ancillary, MSG_NOSIGNAL, where))
        return answer(call)
    return perform


def build_recvfrom(f, loop):
    fd, count, room, flags = _receive_fields(f, loop, "recvfrom")
    return _receiver(fd, count, room, flags, -1, with_sender=True)
