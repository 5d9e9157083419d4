// perform(op) -> answer: exactly one C-library call per operation (socket+bind+listen and the like aside),
// timed with CLOCK_MONOTONIC, mirroring Perform.swift call for call. Every call goes through the library's
// own wrapper (pipe2, dup3, close_range, pidfd_open, pidfd_getfd, capget/capset, ...), never syscall(2), so
// that a different or preloaded library is what gets exercised.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "compat.h"

static unsigned char io[MAX_TRANSFER];  // read/recv scratch, reused by every call

unsigned long long monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (unsigned long long)now.tv_sec * 1000000000ULL + (unsigned long long)now.tv_nsec;
}

void answer_reset(struct answer *answer) {
    answer->result = 0;
    answer->error = 0;
    answer->nfds = 0;
    answer->ns = 0;
    answer->data = NULL;
    answer->data_length = 0;
    answer->has_mf = answer->has_st = answer->has_ctl = answer->has_port = answer->has_cred = answer->has_ready = 0;
    answer->has_from = answer->from_length = 0;
}

static void produce(struct answer *answer, int fd) {
    if (answer->nfds < MAX_ANSWER_FDS) answer->fds[answer->nfds++] = fd;
}

// Runs `call` between two clock readings and records its result and errno (0 on success); `producing`: the
// result is a descriptor the call created.
#define TIMED(answer, producing, call)                                   \
    do {                                                                 \
        unsigned long long started_ = monotonic_ns();                    \
        long long value_ = (long long)(call);                            \
        int error_ = errno;                                              \
        (answer)->ns = monotonic_ns() - started_;                        \
        (answer)->result = value_;                                       \
        (answer)->error = value_ < 0 ? error_ : 0;                       \
        if ((producing) && value_ >= 0) produce((answer), (int)value_);  \
    } while (0)

// The agent answers for the kernel without calling it (a descriptor that must look free).
static int fail(struct answer *answer, int error) {
    answer->result = -1;
    answer->error = error;
    return 1;
}

// Capability names as libcap's cap_from_name knows them (case-insensitive), or a decimal number.
int capability_from_name(const char *name) {
    static const char *const names[] = {
        "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap",
        "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
        "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
        "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write", "audit_control", "setfcap",
        "mac_override", "mac_admin", "syslog", "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf",
        "checkpoint_restore",
    };
    if (name[0] >= '0' && name[0] <= '9') {
        int value = 0;
        for (const char *p = name; *p; p++) {
            if (*p < '0' || *p > '9' || value > 63) return -1;
            value = value * 10 + (*p - '0');
        }
        return value <= 63 ? value : -1;
    }
    if (strncasecmp(name, "cap_", 4) != 0) return -1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcasecmp(name + 4, names[i]) == 0) return (int)i;
    }
    return -1;
}

// What libcap's cap_set_proc does for "remove from effective, permitted and inheritable": read all three
// sets (version 3, two 32-bit words each), clear the bit, write them back - through the library's capget and
// capset, so no libcap is needed (and none is loaded at start-up).
int drop_capability(int capability) {
    struct handoff_cap_header header = {HANDOFF_CAPABILITY_VERSION_3, 0};
    struct handoff_cap_data data[2];
    if (capget(&header, data) != 0) return -1;
    unsigned word = (unsigned)capability / 32, bit = 1U << ((unsigned)capability % 32);
    data[word].effective &= ~bit;
    data[word].permitted &= ~bit;
    data[word].inheritable &= ~bit;
    return capset(&header, data);
}

// The address of a listen/connect request (what the Swift shim's handoff_address builds).
static socklen_t socket_address(const struct op *op, struct sockaddr_storage *storage) {
    memset(storage, 0, sizeof *storage);
    if (op->address == ADDRESS_TCP) {
        struct sockaddr_in *in = (struct sockaddr_in *)storage;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)op->port);
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return sizeof *in;
    }
    struct sockaddr_un *un = (struct sockaddr_un *)storage;
    un->sun_family = AF_UNIX;
    size_t length = op->text_length;  // not strlen: an abstract name may hold NUL bytes
    if (length + 1 > sizeof un->sun_path) return 0;
    if (op->address == ADDRESS_ABSTRACT) {
        memcpy(un->sun_path + 1, op->text, length);  // sun_path[0] == 0: the abstract namespace
        return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + length);
    }
    memcpy(un->sun_path, op->text, length);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + length + 1);
}

// socket + bind + listen; the descriptor, or -1 with errno of the failing call and nothing left open.
static int listen_on(const struct op *op, int *bound_port) {
    struct sockaddr_storage storage;
    socklen_t length = socket_address(op, &storage);
    if (length == 0) { errno = ENAMETOOLONG; return -1; }
    int fd = socket(op->address == ADDRESS_TCP ? AF_INET : AF_UNIX, op->flags, 0);
    if (fd < 0) return -1;
    if (op->address == ADDRESS_TCP) {
        int on = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    }
    if (bind(fd, (struct sockaddr *)&storage, length) != 0 || listen(fd, (int)op->number) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    *bound_port = 0;
    if (op->address == ADDRESS_TCP) {
        struct sockaddr_in bound;
        socklen_t bound_length = sizeof bound;
        if (getsockname(fd, (struct sockaddr *)&bound, &bound_length) == 0) *bound_port = ntohs(bound.sin_port);
    }
    return fd;
}

// socket + connect, made non-blocking only after connecting (a TCP connect never answers EINPROGRESS).
static int connect_to(const struct op *op) {
    struct sockaddr_storage storage;
    socklen_t length = socket_address(op, &storage);
    if (length == 0) { errno = ENAMETOOLONG; return -1; }
    int fd = socket(op->address == ADDRESS_TCP ? AF_INET : AF_UNIX, op->flags & ~SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    int result;
    do { result = connect(fd, (struct sockaddr *)&storage, length); } while (result != 0 && errno == EINTR);
    if (result != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    if (op->flags & SOCK_NONBLOCK) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

// dup2 (dup3: flags) moving the control channel first when the target is its number (Perform.swift's
// duplicate).
static int duplicate(struct op *op, struct answer *answer) {
    int fd = operand_value(op->fd), target = operand_value(op->other);
    int is_dup3 = op->kind == OP_DUP3;
    int invalid_flags = is_dup3 && (op->flags & ~O_CLOEXEC) != 0;
    // dup3 checks its flags and old == new before the descriptor: those errors win over EBADF.
    if (is_channel(fd) && !invalid_flags && !(is_dup3 && fd == target)) return fail(answer, EBADF);
    for (int i = 0; i < agent.nhidden; i++) {
        if (agent.hidden[i] == target) {
            agent.refusal = "dup2 onto another agent's control channel is not supported";
            return 1;
        }
    }
    int moved = -1;
    if (target == agent.control && fd != agent.control) moved = move_control_channel();
    // A channel named with invalid flags goes to the library as -1, a number that is surely free: the kernel
    // rejects the flags before it looks at the descriptor, but a library need not ask the kernel at all
    // (musl 1.2.3's dup3 quietly calls dup2 when O_CLOEXEC is not among the flags), and it must never be
    // handed the channel itself.
    if (is_channel(fd) && invalid_flags && fd != target) fd = -1;
    if (is_dup3) TIMED(answer, 1, dup3(fd, target, op->flags));
    else TIMED(answer, 1, dup2(fd, target));
    // A call that failed left the channel's old copy at the target: it goes, as the call would have replaced it.
    if (moved >= 0 && answer->result < 0) close(target);
    if (moved >= 0) {
        answer->has_ctl = 1;
        answer->ctl = moved;
    }
    return 1;
}

int perform(struct op *op, struct answer *answer) {
    int fd = operand_value(op->fd);
    switch (op->kind) {
    case OP_OPEN:
        TIMED(answer, 1, open(op->text, op->flags, (mode_t)op->mode));
        return 1;
    case OP_MKFIFO:
        TIMED(answer, 0, mkfifo(op->text, (mode_t)op->mode));
        return 1;
    case OP_PIPE: {
        int ends[2] = {-1, -1};
        TIMED(answer, 0, pipe2(ends, op->flags));
        if (answer->result >= 0) { produce(answer, ends[0]); produce(answer, ends[1]); }
        return 1;
    }
    case OP_SOCKETPAIR: {
        int ends[2] = {-1, -1};
        TIMED(answer, 0, socketpair(AF_UNIX, op->flags, 0, ends));
        if (answer->result >= 0) { produce(answer, ends[0]); produce(answer, ends[1]); }
        return 1;
    }
    case OP_MEMFD:
        TIMED(answer, 1, memfd_create(op->text, (unsigned)op->flags));
        return 1;
    case OP_EVENTFD:
        TIMED(answer, 1, eventfd((unsigned)op->number, op->flags));
        return 1;
    case OP_EPOLL_CREATE1:
        TIMED(answer, 1, epoll_create1(op->flags));
        return 1;
    case OP_EPOLL_CTL: {
        int epfd = operand_value(op->other);
        if (is_channel(epfd) || is_channel(fd)) return fail(answer, EBADF);
        struct epoll_event event;
        memset(&event, 0, sizeof event);
        event.events = op->events;
        event.data.fd = fd;
        TIMED(answer, 0, epoll_ctl(epfd, op->arg, fd, op->arg == EPOLL_CTL_DEL ? NULL : &event));
        return 1;
    }
    case OP_EPOLL_WAIT: {
        // The result is the count; `ready` each event's data (the number epoll_ctl registered) and events.
        // maxevents 0 and -1 go to the kernel as they are (EINVAL).
        if (is_channel(fd)) return fail(answer, EBADF);
        static struct epoll_event ready[MAX_READY];
        TIMED(answer, 0, epoll_wait(fd, ready, op->arg, (int)op->number));
        if (answer->result >= 0) {
            answer->has_ready = 1;
            answer->ready_count = (int)answer->result;
            for (int i = 0; i < answer->ready_count; i++) {
                answer->ready_fd[i] = ready[i].data.fd;
                answer->ready_events[i] = ready[i].events;
            }
        }
        return 1;
    }
    case OP_DUP:
        if (is_channel(fd)) return fail(answer, EBADF);
        TIMED(answer, 1, dup(fd));
        return 1;
    case OP_DUP2:
    case OP_DUP3:
        return duplicate(op, answer);
    case OP_FCNTL: {
        if (is_channel(fd)) return fail(answer, EBADF);
        int cmd = (int)op->number;
        TIMED(answer, cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC, fcntl(fd, cmd, op->arg));
        return 1;
    }
    case OP_IOCTL: {
        if (is_channel(fd)) return fail(answer, EBADF);
        int value = op->arg;
        TIMED(answer, 0, ioctl(fd, (unsigned long)op->number, &value));
        // FIONREAD's answer is the int the kernel wrote back (as getsockopt's is the option's value).
        if (answer->error == 0 && op->number == FIONREAD) answer->result = value;
        return 1;
    }
    case OP_CLOSE:
        if (is_channel(fd)) return fail(answer, EBADF);
        TIMED(answer, 0, close(fd));
        return 1;
    case OP_CLOSE_RANGE:
        close_range_around_channels(op->first, op->last, (unsigned)op->flags, answer);
        // CLOSE_RANGE_UNSHARE leaves a private table that still holds the other agents' channels.
        if ((op->flags & CLOSE_RANGE_UNSHARE) && answer->result == 0) {
            for (int i = 0; i < agent.nhidden; i++) close(agent.hidden[i]);
        }
        return 1;
    case OP_LSEEK:
        if (is_channel(fd)) return fail(answer, EBADF);
        TIMED(answer, 0, lseek(fd, (off_t)op->offset, op->arg));
        return 1;
    case OP_READ:
        if (is_channel(fd)) return fail(answer, EBADF);
        TIMED(answer, 0, read(fd, io, (size_t)op->number));
        if (answer->result >= 0) { answer->data = io; answer->data_length = (long)answer->result; }
        return 1;
    case OP_PREAD:
        // A negative offset is EINVAL before the descriptor is looked at (ksys_pread64), channel or not.
        if (is_channel(fd) && op->offset >= 0) return fail(answer, EBADF);
        TIMED(answer, 0, pread(fd, io, (size_t)op->number, (off_t)op->offset));
        if (answer->result >= 0) { answer->data = io; answer->data_length = (long)answer->result; }
        return 1;
    case OP_WRITE:
        if (is_channel(fd)) return fail(answer, EBADF);
        TIMED(answer, 0, write(fd, op->data, op->data_length));
        return 1;
    case OP_PWRITE:
        // A negative offset is EINVAL before the descriptor is looked at (ksys_pwrite64), channel or not.
        if (is_channel(fd) && op->offset >= 0) return fail(answer, EBADF);
        TIMED(answer, 0, pwrite(fd, op->data, op->data_length, (off_t)op->offset));
        return 1;
    case OP_SHUTDOWN:
        if (is_channel(fd)) return fail(answer, EBADF);
        TIMED(answer, 0, shutdown(fd, op->arg));
        return 1;
    case OP_POLL: {
        // The answer's result is the descriptor's revents (poll's count says nothing more).
        if (is_channel(fd)) { answer->result = POLLNVAL; answer->error = 0; return 1; }
        struct pollfd entry = {.fd = fd, .events = (short)op->events, .revents = 0};
        TIMED(answer, 0, poll(&entry, 1, (int)op->number));
        if (answer->result >= 0) answer->result = entry.revents;
        return 1;
    }
    case OP_UNIX_GC: {
        // Releasing a fresh AF_UNIX pair is how a process schedules the garbage collector (unix_release_sock
        // calls unix_gc while sockets are in flight).
        int ends[2];
        TIMED(answer, 0, socketpair(AF_UNIX, SOCK_STREAM, 0, ends));
        if (answer->result >= 0) {
            close(ends[0]);
            close(ends[1]);
        }
        return 1;
    }
    case OP_SETSOCKOPT: {
        if (is_channel(fd)) return fail(answer, EBADF);
        int value = (int)op->number;
        TIMED(answer, 0, setsockopt(fd, SOL_SOCKET, op->arg, &value, sizeof value));
        return 1;
    }
    case OP_GETSOCKOPT: {
        if (is_channel(fd)) return fail(answer, EBADF);
        // The result is the option's value; SO_PEERCRED's struct ucred goes into `cred`.
        struct ucred ucred = {0, 0, 0};
        int value = 0;
        int peercred = op->arg == SO_PEERCRED;
        socklen_t length = peercred ? sizeof ucred : sizeof value;
        TIMED(answer, 0, getsockopt(fd, SOL_SOCKET, op->arg, peercred ? (void *)&ucred : (void *)&value, &length));
        if (answer->result != 0) return 1;
        if (peercred) {
            answer->has_cred = 1;
            answer->cred[0] = ucred.pid;
            answer->cred[1] = (int)ucred.uid;
            answer->cred[2] = (int)ucred.gid;
        } else {
            answer->result = value;
            if (op->arg == SO_PEERPIDFD) produce(answer, value);
        }
        return 1;
    }
    case OP_SEND: {
        int passing[op->nfds > 0 ? op->nfds : 1];
        if (is_channel(fd)) return fail(answer, EBADF);
        for (int i = 0; i < op->nfds; i++) {
            passing[i] = operand_value(op->fds[i]);
            if (is_channel(passing[i])) return fail(answer, EBADF);
        }
        TIMED(answer, 0, write_fds(fd, op->data, op->data_length, passing, op->nfds, MSG_NOSIGNAL | op->flags));
        return 1;
    }
    case OP_SEND_HEADERS: {
        int passing[op->nfds > 0 ? op->nfds : 1];
        if (is_channel(fd)) return fail(answer, EBADF);
        for (int i = 0; i < op->nfds; i++) {
            passing[i] = operand_value(op->fds[i]);
            if (is_channel(passing[i])) return fail(answer, EBADF);
        }
        TIMED(answer, 0, write_headers(fd, op->data, op->data_length, passing, op->headers, op->nheaders, op->cmsg_len,
                                       MSG_NOSIGNAL));
        return 1;
    }
    case OP_SOCKET:
        TIMED(answer, 1, socket(AF_UNIX, op->flags, 0));
        return 1;
    case OP_BIND: {
        struct sockaddr_storage storage;
        socklen_t length = socket_address(op, &storage);
        if (length == 0) return fail(answer, ENAMETOOLONG);
        if (is_channel(fd)) return fail(answer, EBADF);
        TIMED(answer, 0, bind(fd, (struct sockaddr *)&storage, length));
        return 1;
    }
    case OP_SENDTO: {
        struct sockaddr_storage storage;
        socklen_t length = socket_address(op, &storage);
        if (length == 0) return fail(answer, ENAMETOOLONG);
        int passing[op->nfds > 0 ? op->nfds : 1];
        if (is_channel(fd)) return fail(answer, EBADF);
        for (int i = 0; i < op->nfds; i++) {
            passing[i] = operand_value(op->fds[i]);
            if (is_channel(passing[i])) return fail(answer, EBADF);
        }
        TIMED(answer, 0, write_fds_to(fd, &storage, length, op->data, op->data_length, passing,
                                      op->nfds, MSG_NOSIGNAL));
        return 1;
    }
    case OP_RECVFROM: {
        if (is_channel(fd)) return fail(answer, EBADF);
        int received = 0, message_flags = 0;
        TIMED(answer, 0, read_fds_from(fd, io, (size_t)op->number, op->room, op->flags, answer->fds, MAX_ANSWER_FDS,
                                       &received, &message_flags, answer->cred, &answer->has_cred, answer->from,
                                       &answer->from_length));
        answer->nfds = received;
        if (answer->result >= 0) {
            answer->data = io;
            answer->data_length = (long)answer->result;
            answer->has_mf = 1;
            answer->mf = message_flags;
            answer->has_from = 1;
        }
        return 1;
    }
    case OP_RECV: {
        if (is_channel(fd)) return fail(answer, EBADF);
        int received = 0, message_flags = 0;
        TIMED(answer, 0, read_fds(fd, io, (size_t)op->number, op->room, op->control, op->flags, answer->fds, MAX_ANSWER_FDS,
                                  &received, &message_flags, answer->cred, &answer->has_cred));
        answer->nfds = received;
        if (answer->result >= 0) {
            answer->data = io;
            // MSG_TRUNC returns a datagram's real length, more than the buffer received.
            answer->data_length = answer->result < op->number ? (long)answer->result : (long)op->number;
            answer->has_mf = 1;
            answer->mf = message_flags;
        }
        return 1;
    }
    case OP_FORK:
        return agent_fork(0, answer);
    case OP_CLONE_FILES:
        return agent_fork(1, answer);
    case OP_UNSHARE_FILES:
        TIMED(answer, 0, unshare(CLONE_FILES));
        if (answer->result == 0) {
            for (int i = 0; i < agent.nhidden; i++) close(agent.hidden[i]);
        }
        return 1;
    case OP_UNSHARE_NET:
        TIMED(answer, 0, unshare(CLONE_NEWNET));
        return 1;
    case OP_EXEC:
        agent_exec(op, answer);
        return 1;
    case OP_LAUNCH:
        agent_launch(op, answer);
        return 1;
    case OP_FTRUNCATE:
        // ftruncate checks the length before the descriptor: a channel looks free, so EBADF only for a valid length.
        if (is_channel(fd)) return fail(answer, op->number < 0 ? EINVAL : EBADF);
        TIMED(answer, 0, ftruncate(fd, (off_t)op->number));
        return 1;
    case OP_SIGNALFD: {
        sigset_t mask;
        sigemptyset(&mask);
        for (int signal = 1; signal <= 64; signal++)
            if ((unsigned long long)op->number & (1ULL << (signal - 1))) sigaddset(&mask, signal);
        TIMED(answer, 1, signalfd(-1, &mask, op->flags));
        return 1;
    }
    case OP_TIMERFD_CREATE:
        TIMED(answer, 1, timerfd_create((clockid_t)op->number, op->flags));
        return 1;
    case OP_INOTIFY_INIT1:
        TIMED(answer, 1, inotify_init1(op->flags));
        return 1;
    case OP_DUPFD_QUERY: {
        int other = operand_value(op->other);
        if (is_channel(fd) || is_channel(other)) return fail(answer, EBADF);
        TIMED(answer, 0, fcntl(fd, F_DUPFD_QUERY, other));
        return 1;
    }
    case OP_EXIT:
        _exit((int)op->number);
    case OP_WAIT: {
        int status = 0;
        TIMED(answer, 0, waitpid((pid_t)op->number, &status, 0));
        if (answer->result > 0) { answer->has_st = 1; answer->st = status; }
        return 1;
    }
    case OP_LISTEN: {
        int bound = 0;
        TIMED(answer, 1, listen_on(op, &bound));
        if (answer->result >= 0 && op->address == ADDRESS_TCP) { answer->has_port = 1; answer->port = bound & 0xffff; }
        return 1;
    }
    case OP_CONNECT:
        TIMED(answer, 1, connect_to(op));
        return 1;
    case OP_ACCEPT:
        if (is_channel(fd)) return fail(answer, EBADF);
        TIMED(answer, 1, accept4(fd, NULL, NULL, op->flags));
        return 1;
    case OP_SETRLIMIT: {
        struct rlimit limit;
        getrlimit(RLIMIT_NOFILE, &limit);
        limit.rlim_cur = (rlim_t)(unsigned long long)op->number;
        TIMED(answer, 0, setrlimit(RLIMIT_NOFILE, &limit));
        return 1;
    }
    case OP_DROP_CAPABILITY: {
        int capability = capability_from_name(op->text);
        if (capability < 0) return fail(answer, EINVAL);
        TIMED(answer, 0, drop_capability(capability));
        return 1;
    }
    case OP_SET_DUMPABLE:
        TIMED(answer, 0, prctl(PR_SET_DUMPABLE, (unsigned long)op->number, 0, 0, 0));
        return 1;
    case OP_REOPEN: {
        // The target's channel is invisible: /proc/PID/fd/N of it must look like a free number.
        if (fd == op->tctl || is_hidden(fd)) return fail(answer, ENOENT);
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)op->number, fd);
        TIMED(answer, 1, open(path, op->flags, 0));
        return 1;
    }
    case OP_PIDFD_OPEN:
        TIMED(answer, 1, pidfd_open((pid_t)op->number, (unsigned)op->flags));
        return 1;
    case OP_PIDFD_SEND_SIGNAL:
        if (is_channel(fd)) return fail(answer, EBADF);
        TIMED(answer, 0, pidfd_send_signal(fd, op->arg, NULL, 0));
        return 1;
    case OP_WAITID: {
        siginfo_t info;
        memset(&info, 0, sizeof info);
        if (is_channel(fd)) return fail(answer, EBADF);
        TIMED(answer, 0, waitid((idtype_t)P_PIDFD, (id_t)fd, &info, WEXITED | op->flags));
        // si_pid 0: WNOHANG and the child has not exited. The status travels as waitpid's would.
        if (answer->result == 0 && info.si_pid != 0) {
            answer->has_st = 1;
            answer->st = info.si_code == CLD_EXITED ? (info.si_status & 0xff) << 8 : (info.si_status & 0x7f);
        }
        return 1;
    }
    case OP_PIDFD_GETFD: {
        if (op->through) {
            // Through the scenario's own pidfd: no transient one.
            int pidfd = operand_value(op->other);
            if (is_channel(pidfd) && op->flags == 0) return fail(answer, EBADF);
            if ((fd == op->tctl || is_hidden(fd)) && op->flags == 0) return fail(answer, EBADF);
            TIMED(answer, 1, pidfd_getfd(pidfd, fd, (unsigned)op->flags));
            return 1;
        }
        // The target's control channel is as invisible as our own.
        // A transient pidfd, moved above the scenario's numbers before the measured call.
        int opened = pidfd_open((pid_t)op->number, 0);
        if (opened < 0) return fail(answer, errno);
        // The channels in the target's table are as invisible as our own (once the pidfd exists).
        if ((fd == op->tctl || is_hidden(fd)) && op->flags == 0) {
            close(opened);
            return fail(answer, EBADF);
        }
        int pidfd = move_high(opened, fd);
        TIMED(answer, 1, pidfd_getfd(pidfd, fd, (unsigned)op->flags));
        close(pidfd);
        return 1;
    }
    }
    agent.refusal = "unknown operation";
    return 1;
}

// `ok r= e= fds= ns= [d=] [mf=] [st=] [ctl=] [port=] [cred=]`, in the order of Answer.encoded().
void answer_encode(const struct answer *answer, struct out *out) {
    out_reset(out);
    out_text(out, "ok");
    out_key(out, "r");
    out_int(out, answer->result);
    out_key(out, "e");
    out_int(out, answer->error);
    out_key(out, "fds");
    for (int i = 0; i < answer->nfds; i++) {
        if (i > 0) out_bytes(out, ",", 1);
        out_int(out, answer->fds[i]);
    }
    out_key(out, "ns");
    out_uint(out, answer->ns);
    if (answer->data != NULL) {
        out_key(out, "d");
        out_hex(out, answer->data, (size_t)answer->data_length);
    }
    if (answer->has_mf) { out_key(out, "mf"); out_int(out, answer->mf); }
    if (answer->has_st) { out_key(out, "st"); out_int(out, answer->st); }
    if (answer->has_ctl) { out_key(out, "ctl"); out_int(out, answer->ctl); }
    if (answer->has_port) { out_key(out, "port"); out_int(out, answer->port); }
    if (answer->has_from) {
        out_key(out, "from");
        out_hex(out, answer->from, (size_t)answer->from_length);
    }
    if (answer->has_ready) {
        out_key(out, "ready");
        for (int i = 0; i < answer->ready_count; i++) {
            if (i > 0) out_bytes(out, ",", 1);
            out_int(out, answer->ready_fd[i]);
            out_bytes(out, ",", 1);
            out_int(out, (int)answer->ready_events[i]);
        }
    }
    if (answer->has_cred) {
        out_key(out, "cred");
        for (int i = 0; i < 3; i++) {
            if (i > 0) out_bytes(out, ",", 1);
            out_int(out, answer->cred[i]);
        }
    }
}
