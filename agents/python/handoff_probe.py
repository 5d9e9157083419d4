# `handoff-agent-py --probe NAME`: the kernel probes that need a fork, which the runner never does itself
# (main.swift's probe()). Current runners run them with the Swift agent; an earlier build ran them with the
# agent it was given, so the Python agent answers them too, with the same method: `ok` or why not.

import os

import handoff_libc


def probe(feature):
    answer = "unknown probe"
    if feature == "exited-dumpability":
        # Does an exited task keep its dumpability for ptrace checks? A child makes itself non-dumpable and
        # exits; without CAP_SYS_PTRACE, pidfd_getfd on the zombie says EPERM (kept, 6.18) or ESRCH.
        child = os.fork()
        if child == 0:
            handoff_libc.prctl(handoff_libc.PR_SET_DUMPABLE, 0)
            os._exit(0)
        pidfd = os.pidfd_open(child, 0)
        handoff_libc.drop_capability(handoff_libc.capability_from_name("CAP_SYS_PTRACE"))
        os.waitid(os.P_PID, child, os.WEXITED | os.WNOWAIT)
        result, errno = handoff_libc.pidfd_getfd(pidfd, 0, 0)
        answer = "no: the copy succeeded" if result >= 0 else "ok" if errno == 1 else "no: %d" % errno
        os.waitpid(child, 0)
    elif feature == "clone-files":
        child, errno = handoff_libc.clone_files()
        if child == 0:
            os._exit(0)
        if child < 0:
            answer = "errno %d" % errno
        else:
            os.waitpid(child, 0)
            answer = "ok"
    os.write(1, (answer + "\n").encode())
    os._exit(0)
