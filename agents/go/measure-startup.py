#!/usr/bin/env python3
# Usage: measure-startup.py AGENT RUNS
# Start-up time of an agent: exec to hello, averaged over N runs (posix_spawn, channel at fd 3).
import socket, os, sys, time
agent, n = sys.argv[1], int(sys.argv[2])
times = []
for i in range(n):
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    env = {"HANDOFF_CONTROL_FD": "3", "HANDOFF_PARENT_PID": str(os.getpid()), "HANDOFF_SCENARIO": "x"}
    devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
               (os.POSIX_SPAWN_DUP2, devnull, 2), (os.POSIX_SPAWN_DUP2, b.fileno(), 3)]
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(agent, [agent], env, file_actions=actions)
    hello = a.recv(262144)
    t1 = time.perf_counter_ns()
    assert hello.startswith(b"hello"), hello
    times.append(t1 - t0)
    a.close(); b.close(); os.close(devnull)
    os.waitpid(pid, 0)  # the agent exits when its channel closes
times.sort()
print("%s: mean %.3f ms, median %.3f ms, min %.3f ms over %d runs" % (os.path.basename(agent),
      sum(times) / n / 1e6, times[n // 2] / 1e6, times[0] / 1e6, n))
