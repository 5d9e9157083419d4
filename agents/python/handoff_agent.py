# The agent: its control channel (kept at a reserved high number, close-on-exec, invisible to the scenario),
# the request loop, and the operations that change which process or image the agent is (fork, clone_files,
# exec, launch) or that must step around the channel (dup2 onto it, close_range across it). Mirrors
# Sources/handoff-agent/main.swift and Channel.swift.

import os
import sys
import fcntl
import _ctypes
from time import monotonic_ns

import handoff_call
import handoff_ops
import handoff_wire
from handoff_wire import Answer, Bad, Fields, failure, bad_answer, bucket, LOOP_SLOTS, MAXIMUM_PACKET

PREFERRED_CONTROL = 1023
EBADF = 9


def soft_nofile():
    # glibc's sysconf(_SC_OPEN_MAX) is RLIMIT_NOFILE's soft limit; `resource` would cost a module load.
    return os.sysconf("SC_OPEN_MAX")


class _ulong(_ctypes._SimpleCData):
    _type_ = "L"


class _int(_ctypes._SimpleCData):
    _type_ = "i"


class _Function(_ctypes.CFuncPtr):
    _flags_ = _ctypes.FUNCFLAG_CDECL
    _restype_ = _int


def is_open(fd):
    """fcntl(F_GETFD) succeeds: the number holds a descriptor."""
    try:
        fcntl.fcntl(fd, fcntl.F_GETFD)
    except (OSError, ValueError, OverflowError):
        return False
    return True


def set_parent_death_signal():
    """prctl(PR_SET_PDEATHSIG, SIGKILL). The standard library has no prctl, and the ctypes package costs
    ~5 ms to import (a third of the agent's start-up): the start-up path calls prctl through _ctypes, the
    extension module under it, directly. handoff_libc (full ctypes) serves everything else."""
    prctl = _Function(_ctypes.dlsym(_ctypes.dlopen(None, 0), "prctl"))
    prctl(_ulong(1), _ulong(9), _ulong(0), _ulong(0), _ulong(0))


class Agent:
    def __init__(self, control, script, arguments):
        self.control = control
        self.script = script          # the absolute path of handoff-agent-py, which exec runs again
        self.arguments = arguments    # argv[1...] of this image
        self.hidden = []              # other agents' channels in a table shared with this one
        self.slots = [-1] * LOOP_SLOTS
        self.in_loop = False
        self.keep = []                # library objects that own descriptors: never collected (see epoll)
        self.epolls = {}

    # --- start ---------------------------------------------------------------------------------------------

    @staticmethod
    def start(script, arguments):
        # SIGPIPE: the interpreter already ignores it at start-up, so a broken pipe is EPIPE.
        environment = os.environ
        inherited = int(environment.get("HANDOFF_CONTROL_FD", "3"))
        if "HANDOFF_PARENT_PID" in environment:
            set_parent_death_signal()
            if os.getppid() != int(environment["HANDOFF_PARENT_PID"]):
                os._exit(70)
        elif "HANDOFF_CONTROL_SOCKET" in environment:
            # Started by a launcher under test: call the runner back.
            set_parent_death_signal()
            inherited = Agent.connect_to_runner(environment["HANDOFF_CONTROL_SOCKET"])
        agent = Agent(Agent.place_control_channel(inherited), script, arguments)
        agent.send_hello()
        return agent

    @staticmethod
    def connect_to_runner(path):
        import _socket   # the agent's own plumbing: the C module, without socket.py's ~9 ms import
        s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
        try:
            s.connect(path)
        except OSError as error:
            os.write(2, b"handoff-agent-py: cannot reach the runner at %s (%s)\n" % (path.encode(), str(error).encode()))
            os._exit(70)
        return s.detach()

    @staticmethod
    def place_control_channel(inherited):
        """Moves the inherited channel to the reserved number (close-on-exec) and frees the old number."""
        reserved = min(PREFERRED_CONTROL, soft_nofile() - 1)
        # Where it is already, or where it was when the reserved number holds a scenario's descriptor (after
        # an exec below a lowered limit: found by `handoff fuzz`); the hello says where.
        if inherited == reserved or is_open(reserved):
            os.set_inheritable(inherited, False)
            return inherited
        os.dup2(inherited, reserved, inheritable=False)   # dup3(O_CLOEXEC)
        os.close(inherited)
        return reserved

    def send_hello(self):
        environment = [name + b"=" + value for name, value in os.environb.items()]
        self.reply(handoff_wire.encode("hello", [
            ("version", handoff_wire.PROTOCOL_VERSION), ("pid", os.getpid()), ("ppid", os.getppid()),
            ("ctl", self.control), ("nofile", soft_nofile()),
            ("argv", handoff_wire.hex_list(self.arguments)), ("env", handoff_wire.hex_list(environment)),
            ("impl", b"python".hex()), ("unsupported", ""),
        ]))

    # --- requests ------------------------------------------------------------------------------------------

    def serve(self):
        while True:
            try:
                packet = os.read(self.control, MAXIMUM_PACKET)
            except OSError:
                os._exit(0)   # the runner is gone (os.read already retries EINTR)
            if not packet:
                os._exit(0)
            try:
                reply = self.handle(packet)
            except Bad as refusal:
                reply = bad_answer(str(refusal))
            except Exception as error:   # an agent bug: say so instead of dying with a traceback
                reply = bad_answer("python agent: %s: %s" % (type(error).__name__, error))
            if reply is not None:
                self.reply(reply)

    def handle(self, packet):
        verb, fields = handoff_wire.decode(packet)
        f = Fields(verb, fields)
        if verb == "loop":
            count = f.int("count")
            if count < 1:
                raise Bad("loop: malformed field 'count'")
            steps = [self.loop_step(encoded) for encoded in f.byte_lists("ops")]
            self.hidden = f.ints("hidden", optional=True)
            return self.run_loop(count, steps)
        if verb == "release":
            fds = f.ints("fds")
            if self.control in fds:
                raise Bad("release names the agent's own channel")
            for number in fds:
                try:
                    os.close(number)
                except OSError:
                    pass
            return Answer().encoded()
        if verb == "argument":
            index = f.int("index")
            if index < 1 or index > len(self.arguments):
                raise Bad("no argv[%d]" % index)
            try:
                return Answer(int(self.arguments[index - 1], 10)).encoded()
            except ValueError:
                raise Bad("argv[%d] is not a number" % index)
        if verb in ("hello", "ok", "bad", "channel"):
            raise Bad("%s is sent by agents, not to them" % verb)
        performer = handoff_ops.build(verb, f, False)
        self.hidden = f.ints("hidden", optional=True)
        result = performer(self)
        return None if result is None else result.encoded()

    def reply(self, message, passing=None):
        try:
            if passing is None:
                os.write(self.control, message)   # one write on SOCK_SEQPACKET is one packet
            else:
                import _socket
                s = _socket.socket(fileno=self.control)
                try:
                    rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, passing.to_bytes(4, sys.byteorder))]
                    s.sendmsg([message], rights, _socket.MSG_NOSIGNAL)
                finally:
                    s.detach()
        except OSError:
            os._exit(0)   # the runner is gone

    @staticmethod
    def is_open(fd):
        return is_open(fd)

    def is_channel(self, fd):
        """A channel's number must behave as if it were free: the model never sees channels."""
        return fd == self.control or fd in self.hidden

    # --- loops ---------------------------------------------------------------------------------------------

    def loop_step(self, encoded):
        verb, fields = handoff_wire.decode(encoded)
        f = Fields(verb, fields)
        outputs = [int(part) if part.lstrip("-").isdigit() else -1 for part in fields.get("as", "").split(",") if part]
        if any(slot >= LOOP_SLOTS for slot in outputs):
            raise Bad("loop: slot out of range")
        try:
            performer = handoff_ops.build(verb, f, True)
        except Bad as error:
            raise Bad("loop: %s" % error)
        return performer, outputs, f.int32("xe", 0)

    def run_loop(self, count, steps):
        """Every iteration performs each step with the same performer as a single request; one answer."""
        self.slots = [-1] * LOOP_SLOTS
        self.in_loop = True
        histograms = [{} for _ in steps]
        failures = 0
        first = ""
        started = monotonic_ns()
        try:
            for iteration in range(count):
                for index, (performer, outputs, expected) in enumerate(steps):
                    try:
                        result = performer(self)
                    except Bad as refusal:
                        failures += 1
                        if not first:
                            first = "iteration %d, step %d: refused (%s)" % (iteration + 1, index + 1, refusal)
                        continue
                    if result is None:
                        continue
                    histogram = histograms[index]
                    key = bucket(result.ns)
                    histogram[key] = histogram.get(key, 0) + 1
                    if result.e != expected:
                        failures += 1
                        if not first:
                            first = "iteration %d, step %d: errno %d, expected %d" % (
                                iteration + 1, index + 1, result.e, expected)
                    # Descriptors without a slot stay open, as the kernel installed them: the model expects them.
                    for position, slot in enumerate(outputs):
                        if slot >= 0:
                            self.slots[slot] = result.fds[position] if position < len(result.fds) else -1
        finally:
            self.in_loop = False
        wall = monotonic_ns() - started
        hist = ";".join(",".join("%d:%d" % pair for pair in sorted(h.items())) for h in histograms)
        return handoff_wire.encode("ok", [
            ("r", 0), ("e", 0), ("iterations", count), ("failures", failures), ("first", first.encode().hex()),
            ("wall", wall), ("hist", hist), ("locals", ",".join(map(str, self.slots))),
        ])

    # --- the channel in the way ----------------------------------------------------------------------------

    def move_high(self, fd):
        """Copies `fd` above every number a scenario uses (close-on-exec) and closes the original: above the
        channel when the limit allows, else the highest free number below the limit (where the runner's model
        knows the channels are, ReferenceModel.harnessNumbers), never the lowest free one a scenario's next
        descriptor would get."""
        limit = soft_nofile()
        moved = -1
        if self.control + 1 < limit:
            try:
                moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, self.control + 1)
            except OSError:
                moved = -1
        if moved < 0:
            candidate = min(limit, 0x7FFFFFFF) - 1
            while candidate > fd and is_open(candidate):
                candidate -= 1
            if candidate > fd:
                try:
                    moved = os.dup2(fd, candidate, inheritable=False)   # dup3(O_CLOEXEC)
                except OSError:
                    moved = -1
        if moved < 0:
            return fd
        os.close(fd)
        return moved

    def move_control_channel(self):
        """A scenario dup2()s onto the channel's number: the channel moves first (above it when the limit
        allows, else to the highest free number below it), and the runner is told."""
        try:
            moved = fcntl.fcntl(self.control, fcntl.F_DUPFD_CLOEXEC, self.control + 1)
        except OSError:
            candidate = self.control - 1
            while candidate >= 0:
                try:
                    fcntl.fcntl(candidate, fcntl.F_GETFD)
                except OSError:
                    break
                candidate -= 1
            if candidate < 0:
                os.write(2, b"handoff-agent-py: cannot move the control channel\n")
                os._exit(70)
            moved = os.dup2(self.control, candidate, inheritable=False)
        self.control = moved   # the scenario's dup2 onto the old number then closes the old copy
        return moved

    def duplicate(self, fd, target, flags):
        """dup2 (flags None) or dup3 (flags), moving the channel first when the target is its number.
        Python has no dup3: os.dup2(fd, target, inheritable=False) is dup3(O_CLOEXEC), inheritable=True is
        dup2(2); other flag bits cannot be passed at all."""
        invalid_flags = flags is not None and flags & ~handoff_call.O_CLOEXEC != 0
        if self.is_channel(fd) and not invalid_flags and not (flags is not None and fd == target):
            return failure(EBADF)
        if target in self.hidden:
            raise Bad("dup2 onto another agent's control channel is not supported")
        moved = None
        if target == self.control and fd != self.control:
            moved = self.move_control_channel()
        inheritable = flags is None or not flags & handoff_call.O_CLOEXEC
        call = handoff_call.timed(os.dup2, fd, target, inheritable)
        # A call that failed (EBADF: `fd` is not open) left the channel's old copy at the target: it goes, as
        # the call would have replaced it (found by `handoff fuzz`: a LEAK of the channel).
        if moved is not None and call.errno:
            os.close(target)
        result = handoff_call.answer(call, [call.value])
        result.ctl = moved
        return result

    def close_range_around_channels(self, first, last, flags):
        """close_range across channels: one call per gap between them. CLOSE_RANGE_CLOEXEC alone needs no
        split (channels are close-on-exec already), nor do flags the kernel refuses (one call gets EINVAL)."""
        marks_only = flags & handoff_call.CLOSE_RANGE_CLOEXEC and not flags & handoff_call.CLOSE_RANGE_UNSHARE
        inside = sorted(c & 0xFFFFFFFF for c in [self.control] + self.hidden if first <= (c & 0xFFFFFFFF) <= last)
        gaps = []
        refused = flags & ~(handoff_call.CLOSE_RANGE_CLOEXEC | handoff_call.CLOSE_RANGE_UNSHARE)
        if marks_only or refused or first > last or not inside:
            gaps.append((first, last))
        else:
            start = first
            for channel in inside:
                if channel > start:
                    gaps.append((start, channel - 1))
                start = channel + 1
            if start <= last:
                gaps.append((start, last))
        total = 0
        for low, high in gaps:
            call = handoff_call.timed(self.close_range_call, low, high, flags)
            total += call.ns
            if call.errno:
                return Answer(-1, call.errno, total)
        return Answer(0, 0, total)

    @staticmethod
    def close_range_call(first, last, flags):
        if flags == 0:
            # os.closerange(low, high) closes [low, high) with close_range(2) and discards the outcome
            # (an inverted range's EINVAL included): success is all it can say. Its bounds are C ints.
            os.closerange(first, min(last, 0x7FFFFFFE) + 1)
            return 0
        import handoff_libc   # flags: no stdlib API
        return handoff_call.checked(handoff_libc.close_range(first, last, flags))

    # --- new processes and images ----------------------------------------------------------------------------

    def fork(self, sharing):
        """fork (os.fork), or clone(CLONE_FILES) when `sharing` (ctypes). The child gets a fresh channel; the
        parent hands the runner its end in a `channel` message before answering."""
        import _socket
        a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
        parent_end = self.move_high(a.detach())
        child_end = self.move_high(b.detach())
        parent = os.getpid()
        if sharing:
            import handoff_libc
            call = handoff_call.timed(lambda: handoff_call.checked(handoff_libc.clone_files()))
        else:
            call = handoff_call.timed(os.fork)
        if call.value == 0 and not call.errno:
            if sharing:
                # The table is shared: the child's channel is its end where it already is, and nothing may be
                # closed here (it would close it for the parent too).
                self.control = child_end
            else:
                # Its own channel replaces the inherited copy of the parent's, at the same number - or, when
                # a lowered RLIMIT_NOFILE no longer reaches that number, stays where it is and the copy goes
                # (the runner reads the number from the hello).
                try:
                    os.dup2(child_end, self.control, inheritable=False)   # dup3(O_CLOEXEC)
                    os.close(child_end)
                except OSError:
                    os.close(self.control)
                    self.control = child_end
                os.close(parent_end)
                for number in self.hidden:
                    os.close(number)
            set_parent_death_signal()
            if os.getppid() != parent:
                os._exit(0)
            self.send_hello()
            return None   # back to serve(), now as the child
        if not sharing or call.errno:
            os.close(child_end)
        if not call.errno:
            # The runner's end travels in a message of its own and is closed before the answer, so that the
            # runner then sees nothing but the scenario's descriptors in this table.
            self.reply(handoff_wire.encode("channel", []), passing=parent_end)
        os.close(parent_end)
        return Answer(call.value, call.errno, call.ns)

    def exec(self, arguments, variables):
        """Runs this script again (the shebang keeps the process's comm `handoff-agent-py`, by which the runner
        knows agents); answers only on failure (the new image says hello instead)."""
        self.set_environment(variables)
        os.set_inheritable(self.control, True)   # the channel survives this one exec
        os.environ["HANDOFF_CONTROL_FD"] = str(self.control)
        os.environ["HANDOFF_PARENT_PID"] = str(os.getppid())
        call = handoff_call.timed(os.execv, self.script, [self.script.encode()] + arguments)
        os.set_inheritable(self.control, False)
        return Answer(-1, call.errno, call.ns)

    def launch(self, path, arguments, variables):
        """execve of a launcher under test; the channel is close-on-exec, so it closes when exec succeeds."""
        self.set_environment(variables)
        # What the agent's own exec relies on must not reach the agents the launcher starts.
        os.environ.pop("HANDOFF_CONTROL_FD", None)
        os.environ.pop("HANDOFF_PARENT_PID", None)
        call = handoff_call.timed(os.execv, path, [path] + arguments)
        return Answer(-1, call.errno, call.ns)

    @staticmethod
    def set_environment(variables):
        for name, value in variables:
            os.environb[name] = value

    def import_everything(self):
        import socket, select, resource, handoff_libc  # noqa: F401 (imported for their side effect)
