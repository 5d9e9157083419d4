#!/usr/bin/env python3
"""Differential check of two agents' answers: the same requests (malformed ones included) go to both, and
every answer must be the same once what legitimately differs (durations, pids) is masked.

    agents/c/tests/differential.py AGENT_A AGENT_B

Covers what the catalog does not reach: `bad` answers for malformed requests, loops, release, argument,
the channel's invisibility (close, dup, dup2 onto it), close_range around it."""
import array, os, re, socket, sys

def spawn(agent, args=()):
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    env = {"PATH": "/usr/bin:/bin", "HANDOFF_CONTROL_FD": "3", "HANDOFF_PARENT_PID": str(os.getpid()),
           "HANDOFF_SCENARIO": "differential"}
    pid = os.fork()
    if pid == 0:
        os.dup2(b.fileno(), 3)
        os.closerange(4, 4096)
        os.execve(agent, [agent, *args], env)
    b.close()
    return a, pid

def receive(s):
    data, ancillary, _, _ = s.recvmsg(1 << 18, socket.CMSG_SPACE(64))
    fds = []
    for _, _, payload in ancillary:
        numbers = array.array("i")
        numbers.frombytes(payload[: len(payload) - len(payload) % 4])
        fds += list(numbers)
    for fd in fds:
        os.close(fd)
    return data.decode()

def mask(text):
    text = re.sub(r"\bns=\d+", "ns=N", text)
    text = re.sub(r"\bwall=\d+", "wall=N", text)
    text = re.sub(r"\bhist=\S*", "hist=H", text)
    return text

def hexed(text):
    return text.encode().hex()

REQUESTS = [
    "   ", "nonsense", "hello", "ok r=0", "channel", "attach", "open", "open path=zz flags=0 mode=0",
    "open path=%s flags=0 mode=0" % hexed("/dev/null"), "open path=%s flags=99999999 mode=0" % hexed("/dev/null"),
    "open path=%s flags=524288 mode=0" % hexed("/nonexistent"), "pipe flags=524288", "pipe", "pipe flags=x",
    "socketpair type=1", "socketpair type=9", "socketpair type=526337", "memfd name=%s flags=1" % hexed("m"),
    "eventfd initial=3 flags=2048", "epoll_create1 flags=0", "epoll_ctl epfd=9 op=1 fd=3 events=1",
    "epoll_ctl epfd=9 op=7 fd=3 events=1", "epoll_ctl epfd=9 op=1 fd=1023 events=1",
    "dup fd=3", "dup fd=1023", "dup fd=@1", "dup fd=", "dup fd=+3", "dup fd=99999999999",
    "dup2 fd=3 target=20", "dup2 fd=1023 target=21", "dup3 fd=3 target=3 flags=0", "dup3 fd=1023 target=1023 flags=0",
    "dup3 fd=1023 target=5 flags=1", "dup3 fd=3 target=22 flags=524288",
    "fcntl fd=3 cmd=1", "fcntl fd=3 cmd=1030 arg=100", "fcntl fd=3 cmd=99 arg=0", "fcntl fd=1023 cmd=1 arg=0",
    "fcntl fd=3 cmd=4 arg=3072", "fcntl fd=3 cmd=3 arg=0",
    "lseek fd=3 offset=0 whence=0", "lseek fd=3 offset=0 whence=5", "read fd=3 count=70000", "read fd=3 count=0",
    "write fd=5 data=6869", "write fd=5 data=6", "read fd=4 count=10", "write fd=1023 data=00",
    "shutdown fd=6 how=1", "shutdown fd=6 how=9", "send fd=6 fds=3,4 data=78", "send fd=6 fds= data=78",
    "send fd=7 fds=3,4 data=78", "recv fd=8 count=10 room=4 flags=0", "send fd=7 fds=1023 data=78",
    "send fd=7 fds=3,x data=78", "recv fd=8 count=10 room=5000 flags=0", "recv fd=8 count=1 room=0 flags=64",
    "close fd=1023", "close fd=200", "close fd=20",
    "wait pid=999999", "pidfd_open pid=1", "setrlimit nofile=20000", "set_dumpable value=1",
    "drop_capability name=%s" % hexed("CAP_NOPE"), "drop_capability name=%s" % hexed("cap_sys_boot"),
    "reopen pid=%d fd=3 flags=0 tctl=-1", "reopen pid=%d fd=1023 flags=0 tctl=1023",
    "pidfd_getfd pid=%d fd=1023 flags=0 tctl=1023", "pidfd_getfd pid=%d fd=3 flags=7 tctl=1023",
    "listen addr=abstract:%s type=1 backlog=4" % "{abstract}",
    "listen addr=tcp:x type=1", "listen addr=bogus:00 type=1",
    "connect addr=abstract:%s type=2049" % "{abstract}", "accept fd=1023 flags=0",
    "argument index=0", "argument index=1", "argument index=2", "argument index=9", "argument",
    "release fds=1023", "release fds=x", "release fds=", "close_range first=30 last=40 flags=0",
    "loop count=0 ops=", "loop count=3", "loop count=2 ops=zz",
    "loop count=2 ops=%s" % hexed("dup fd=3 as=99 xe=0"),
    "loop count=5 ops=%s,%s" % (hexed("dup fd=3 as=0 xe=0"), hexed("close fd=@0 as= xe=0")),
    "loop count=2 ops=%s,%s" % (hexed("dup fd=3 as=1 xe=9"), hexed("close fd=@63 as= xe=9")),
    "loop count=2 ops=%s" % hexed("dup fd=@64 as= xe=0"),
    "dup2 fd=3 target=1023", "dup fd=1023", "dup fd=1024", "close_range first=0 last=4294967295 flags=4",
    "close_range first=9 last=4294967295 flags=0", "exec args=%s,%s env=%s" % (hexed("7"), hexed("x"), hexed("A=b")),
    "argument index=1", "argument index=2", "exit status=3",
]

def run(agent):
    control, pid = spawn(agent, ["5"])
    answers = [mask(receive(control)).split(" pid=")[0]]
    for request in REQUESTS:
        request = request.replace("%d", str(pid)).replace("{abstract}", hexed("handoff-differential-%d" % pid))
        shown = request.replace(str(pid), "PID").replace(hexed("handoff-differential-%d" % pid), "NAME")
        control.send(request.encode())
        if request.startswith("exit"):
            break
        answer = mask(receive(control))
        if answer.startswith("hello"):
            answer = answer.split(" pid=")[0] + " " + " ".join(w for w in answer.split() if w.startswith(("ctl=", "argv=")))
        answers.append(shown + "  ->  " + answer)
    _, status = os.waitpid(pid, 0)
    answers.append("status %d" % status)
    return answers

def main():
    first, second = sys.argv[1], sys.argv[2]
    a, b = run(first), run(second)
    differences = [(x, y) for x, y in zip(a, b) if x != y]
    for x, y in differences:
        print("A: " + x + "\nB: " + y + "\n")
    print("%d requests, %d differences" % (len(a), len(differences) + abs(len(a) - len(b))))
    return 1 if differences or len(a) != len(b) else 0

if __name__ == "__main__":
    sys.exit(main())
