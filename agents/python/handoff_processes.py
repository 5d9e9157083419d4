# Processes (fork, clone_files, exec, launch, exit, wait, pidfds) and process attributes (RLIMIT_NOFILE,
# capabilities, dumpability). Where the standard library has no function, handoff_libc calls the C library
# through ctypes, imported only by the operations that need it.

import os

from handoff_wire import Bad, failure
from handoff_call import (timed, answer, inherit, resolve, on_descriptor, checked, O_CLOEXEC, OPEN_FLAGS, EBADF, ENOENT, EINVAL,
                          EPERM)


# --- processes -----------------------------------------------------------------------------------------------

def build_fork(f, loop):
    return lambda agent: agent.fork(sharing=False)


def build_clone_files(f, loop):
    return lambda agent: agent.fork(sharing=True)


def build_unshare_net(f, loop):
    def perform(agent):
        import handoff_libc
        return answer(timed(lambda: checked(handoff_libc.unshare_net())))
    return perform


def build_unshare_files(f, loop):
    def perform(agent):
        import handoff_libc
        call = timed(lambda: checked(handoff_libc.unshare_files()))
        if not call.errno:
            for channel in agent.hidden:
                os.close(channel)
        return answer(call)
    return perform



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


SIGNALS = (0, 9, 15)  # zero, SIGKILL, SIGTERM: what the protocol sends


def build_pidfd_send_signal(f, loop):
    fd, sig = f.fd("fd", loop), f.int32("sig")
    if sig not in SIGNALS:
        raise Bad("pidfd_send_signal: malformed field 'sig'")

    @on_descriptor(fd)
    def perform(agent, number):
        import signal
        return answer(timed(lambda: signal.pidfd_send_signal(number, sig) or 0))
    return perform


def build_waitid(f, loop):
    fd, flags = f.fd("fd", loop), f.int32("flags") & os.WNOHANG

    @on_descriptor(fd)
    def perform(agent, number):
        # os.waitid: None with WNOHANG while the child runs; otherwise si_code and si_status.
        call = timed(os.waitid, os.P_PIDFD, number, os.WEXITED | flags)
        info = call.value
        call.value = 0 if not call.errno else -1
        result = answer(call)
        if not call.errno and info is not None and info.si_pid != 0:
            # The status travels as waitpid's would.
            result.st = (info.si_status & 0xff) << 8 if info.si_code == os.CLD_EXITED else info.si_status & 0x7f
        return result
    return perform


def build_pidfd_open(f, loop):
    pid = f.int32("pid")
    flags = f.int("flags", 0) & 0xFFFFFFFF
    return lambda agent: _produced(timed(os.pidfd_open, pid, flags))


def _produced(call):
    return answer(call, [call.value])


def build_pidfd_getfd(f, loop):
    pid, fd, flags, channel = f.int32("pid"), f.fd("fd", loop), f.uint32("flags"), f.int32("tctl", -1)
    through = f.fd("pidfd", loop) if "pidfd" in f.fields else None

    def perform(agent):
        import handoff_libc
        number = resolve(agent, fd)
        if through is not None:
            # Through the scenario's own pidfd: no transient one.
            pidfd = resolve(agent, through)
            if (agent.is_channel(pidfd) or number == channel or number in agent.hidden) and flags == 0:
                return failure(EBADF)
            call = timed(lambda: checked(handoff_libc.pidfd_getfd(pidfd, number, flags)))
            return answer(call, [call.value])
        # A transient pidfd (os.pidfd_open), moved above the scenario's numbers before the measured call.
        try:
            pidfd = agent.move_high(os.pidfd_open(pid, 0))
        except OSError as error:
            return failure(error.errno)
        # The channels in the target's table (its own, and the request's hidden list) are as invisible as
        # ours, once the pidfd exists (the kernel looks at the number only then).
        if (number == channel or number in agent.hidden) and flags == 0:
            os.close(pidfd)
            return failure(EBADF)
        if pidfd == number:
            # Below a low limit the top number may be the very one asked for (found by `handoff fuzz`): the
            # pidfd steps down to the next free number rather than be what gets copied.
            candidate = pidfd - 1
            while candidate > 2 and agent.is_open(candidate):
                candidate -= 1
            if candidate > 2:
                try:
                    os.dup2(pidfd, candidate, inheritable=False)   # dup3(O_CLOEXEC)
                    os.close(pidfd)
                    pidfd = candidate
                except OSError:
                    pass
        call = timed(lambda: checked(handoff_libc.pidfd_getfd(pidfd, number, flags)))
        os.close(pidfd)
        return answer(call, [call.value])
    return perform


def build_reopen(f, loop):
    pid, fd, flags, channel = f.int32("pid"), f.fd("fd", loop), f.int32("flags"), f.int32("tctl", -1)
    if flags & ~OPEN_FLAGS:
        raise Bad("reopen: malformed field 'flags'")

    def perform(agent):
        number = resolve(agent, fd)
        if number == channel or number in agent.hidden:
            return failure(ENOENT)   # the target's table's channels must look like free numbers
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
        return answer(timed(lambda: checked(handoff_libc.drop_capability(capability))))
    return perform


def build_set_dumpable(f, loop):
    value = 1 if f.int32("value") else 0

    def perform(agent):
        import handoff_libc
        return answer(timed(lambda: checked(handoff_libc.prctl(handoff_libc.PR_SET_DUMPABLE, value))))
    return perform


