# The control protocol's encoding (docs/protocol.md, Sources/HandoffProtocol/WireMessage.swift and
# Messages.swift): one SOCK_SEQPACKET packet is an ASCII verb followed by space-separated key=value fields;
# integers decimal, lists comma-separated, bytes lower-case hex. This module is pure text handling: it
# imports nothing, so that start-up stays cheap.

PROTOCOL_VERSION = 2
MAXIMUM_PACKET = 256 * 1024
MAXIMUM_TRANSFER = 65536   # count (read, recv)
MAXIMUM_ROOM = 4096        # room (recv)
MAXIMUM_CONTROL = 16 + 4 * MAXIMUM_ROOM  # control (recv), in bytes: CMSG_SPACE(4 * MAXIMUM_ROOM)
MAXIMUM_HEADERS = 64       # headers (send_headers)
MAXIMUM_HEADER_FDS = 4096  # descriptors in one send_headers header
LOOP_SLOTS = 64


class Bad(Exception):
    """A request that is malformed, or that the agent refuses: answered `bad reason=HEX`."""


class Slot:
    """`@N` in a loop operation's descriptor field: the loop slot N, resolved at each iteration."""
    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index


def decode(packet):
    """(verb, {key: value}) of one packet; raises Bad when it is not a well-formed message."""
    words = packet.split()
    if not words:
        raise Bad("unparsable request")
    try:
        verb = words[0].decode()
        fields = {}
        for word in words[1:]:
            key, equals, value = word.partition(b"=")
            if not equals:
                raise Bad("unparsable request")
            # The first occurrence wins, as WireMessage's subscript reads it.
            fields.setdefault(key.decode(), value.decode())
    except UnicodeDecodeError:
        raise Bad("unparsable request")
    return verb, fields


def encode(verb, fields):
    """One packet: `fields` is a list of (key, text) pairs, in order."""
    return (verb + "".join(" %s=%s" % pair for pair in fields)).encode()


def hex_list(items):
    return ",".join(item.hex() for item in items)


class Fields:
    """Typed reads of one request's fields. A missing or malformed field raises Bad naming the verb and the
    field, as the Swift decoder's FieldReader does; a missing field is never defaulted unless optional."""

    def __init__(self, verb, fields):
        self.verb = verb
        self.fields = fields

    def _problem(self, key):
        what = "missing" if key not in self.fields else "malformed"
        return Bad("%s: %s field '%s'" % (self.verb, what, key))

    def text(self, key):
        if key not in self.fields:
            raise self._problem(key)
        return self.fields[key]

    def int(self, key, default=None, low=-(1 << 63), high=(1 << 63) - 1):
        if key not in self.fields:
            if default is not None:
                return default
            raise self._problem(key)
        try:
            value = int(self.fields[key], 10)
        except ValueError:
            raise self._problem(key)
        if not low <= value <= high:
            raise self._problem(key)
        return value

    def int32(self, key, default=None):
        return self.int(key, default, -(1 << 31), (1 << 31) - 1)

    def uint32(self, key):
        # Int64 on the wire, truncated to 32 bits (close_range's first/last, memfd's flags).
        return self.int(key) & 0xFFFFFFFF

    def count(self, key):
        return self.int(key, None, 0, MAXIMUM_TRANSFER)

    def bytes(self, key):
        try:
            return bytes.fromhex(self.text(key))
        except ValueError:
            raise self._problem(key)

    def _list(self, key, optional, parse):
        """A comma-separated list, each part through `parse`: an absent optional list and an empty one are
        empty; a part that does not parse (ValueError) makes the field malformed."""
        if optional and key not in self.fields:
            return []
        value = self.text(key)
        if not value:
            return []
        try:
            return [parse(part) for part in value.split(",")]
        except ValueError:
            raise self._problem(key)

    def byte_lists(self, key, optional=False):
        return self._list(key, optional, bytes.fromhex)

    def ints(self, key, optional=False):
        return self._list(key, optional, lambda part: int(part, 10))

    def fd(self, key, loop):
        """A descriptor: a number, or inside a loop `@N`."""
        return self.operand(self.text(key), key, loop)

    def fds(self, key, loop):
        """A comma-separated list of descriptors (send's fds), possibly empty."""
        value = self.text(key)
        return [self.operand(part, key, loop) for part in value.split(",")] if value else []

    def operand(self, value, key, loop):
        if loop and value.startswith("@"):
            try:
                index = int(value[1:], 10)
            except ValueError:
                raise self._problem(key)
            if not 0 <= index < LOOP_SLOTS:
                raise Bad("loop: slot %d out of range" % index)
            return Slot(index)
        try:
            number = int(value, 10)
        except ValueError:
            raise self._problem(key)
        if not -(1 << 31) <= number < (1 << 31):
            raise self._problem(key)
        return number


class Answer:
    """The `ok` answer to one operation (Messages.swift, Answer)."""
    __slots__ = ("r", "e", "fds", "ns", "d", "mf", "st", "ctl", "port", "cred", "sender", "ready")

    def __init__(self, r=0, e=0, ns=0):
        self.r = r
        self.e = e
        self.fds = []
        self.ns = ns
        self.d = None
        self.mf = None
        self.st = None
        self.ctl = None
        self.port = None
        self.cred = None  # "PID,UID,GID": SO_PEERCRED or a whole SCM_CREDENTIALS
        self.sender = None  # recvfrom: the sender's sun_path bytes (`from` on the wire)
        self.ready = None  # epoll_wait: [(fd, events), ...]

    def encoded(self):
        fields = [("r", self.r), ("e", self.e), ("fds", ",".join(map(str, self.fds))), ("ns", self.ns)]
        if self.d is not None:
            fields.append(("d", self.d.hex()))
        for key in ("mf", "st", "ctl", "port", "cred"):
            value = getattr(self, key)
            if value is not None:
                fields.append((key, value))
        if self.sender is not None:
            fields.append(("from", self.sender.hex()))
        if self.ready is not None:
            # events as signed 32-bit, as the Swift side reads them (EPOLLET is bit 31).
            fields.append(("ready", ",".join("%d,%d" % (fd, events - (1 << 32) if events >= 1 << 31 else events)
                                             for fd, events in self.ready)))
        return encode("ok", fields)


def failure(errno):
    """The agent answers for the kernel without calling it (a channel's number must look free)."""
    return Answer(-1, errno)


def bad_answer(reason):
    return encode("bad", [("reason", reason.encode().hex())])


def bucket(nanoseconds):
    """LatencyBuckets.bucket: 8 log-linear sub-buckets per power of two, 512 buckets."""
    if nanoseconds < 8:
        return nanoseconds
    octave = nanoseconds.bit_length() - 1
    return min(511, (octave - 2) * 8 + ((nanoseconds >> (octave - 3)) & 7))
