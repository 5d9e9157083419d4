// libhandoff-broken-table.so: the descriptor table and open file descriptions broken quietly, one variant
// chosen by HANDOFF_TABLE_BROKEN (the names are the is("...") tests below; unset or empty: every call passes
// through). LD_PRELOAD into handoff-agent-c:
//
//   handoff run scenarios --agent c --agent-env LD_PRELOAD=$PWD/agents/c/build/libhandoff-broken-table.so
//       --agent-env HANDOFF_TABLE_BROKEN=NAME
//
// Covers what the other broken libraries leave alone: dup/dup2/dup3, fcntl's F_DUPFD, F_DUPFD_CLOEXEC,
// F_GETFD, F_SETFD, F_GETFL, F_SETFL, open's flags, close, close_range, the creators of anonymous descriptors
// (memfd_create, eventfd, signalfd, timerfd_create, inotify_init1), socket/socketpair/accept4, lseek, pread,
// pwrite, write, ftruncate, pidfd_open, pidfd_getfd, execv, setrlimit, unshare, recvmsg, sendmsg, shutdown,
// waitpid, waitid. Variants named legal-* are correct alternative implementations and must fail nothing.
//
// Every variant acts on every call, the agent's own included (the control channel is placed with dup3
// O_CLOEXEC, moved with F_DUPFD_CLOEXEC, kept close-on-exec with F_SETFD, handed over with sendmsg): a library
// this wrong would break a real program's plumbing the same way. The wrappers call the real functions only
// (dlsym RTLD_NEXT), never each other.
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sched.h>
#include <unistd.h>

#include "variant.h"

// Not ../compat.h: on an older C library its fallbacks define close_range and pidfd_open, which this wraps.
#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef PIDFD_NONBLOCK
#define PIDFD_NONBLOCK O_NONBLOCK
#endif

BROKEN_VARIANT_FROM("HANDOFF_TABLE_BROKEN")

// The next definition of `name` (the real library's), looked up once per use site's function.
#define REAL(type, name)                                        \
    static type real_##name;                                    \
    if (real_##name == NULL) real_##name = (type)dlsym(RTLD_NEXT, #name)

typedef int (*fcntl_fn)(int, int, ...);
typedef int (*close_fn)(int);
static int rfcntl(int fd, int cmd, long arg) {
    REAL(fcntl_fn, fcntl);
    return real_fcntl(fd, cmd, arg);
}
static int rclose(int fd) {
    REAL(close_fn, close);
    return real_close(fd);
}
static int set_cloexec(int fd, int on) {
    int f = rfcntl(fd, F_GETFD, 0);
    if (f < 0) return -1;
    return rfcntl(fd, F_SETFD, on ? (f | FD_CLOEXEC) : (f & ~FD_CLOEXEC));
}
static int is_regular(int fd) {
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}
// The process's open numbers (read from /proc/self/fd before acting on any), at most `capacity`.
static int open_numbers(int *numbers, int capacity) {
    int n = 0;
    DIR *dir = opendir("/proc/self/fd");
    if (dir == NULL) return 0;
    int own = dirfd(dir);
    for (struct dirent *entry; (entry = readdir(dir)) != NULL && n < capacity;) {
        if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
        int fd = atoi(entry->d_name);
        if (fd != own) numbers[n++] = fd;
    }
    closedir(dir);
    return n;
}

// ---- dup, dup2, dup3

typedef int (*dup_fn)(int);
typedef int (*dup2_fn)(int, int);
typedef int (*dup3_fn)(int, int, int);

int dup(int fd) {
    REAL(dup_fn, dup);
    // dup-skip-one: not the lowest free number but the next free one after it.
    if (is("dup-skip-one")) {
        int first = real_dup(fd);
        if (first < 0) return first;
        int second = rfcntl(fd, F_DUPFD, first + 1);
        int saved = errno;
        rclose(first);
        errno = saved;
        return second;
    }
    // dup-cloexec: the copy is close-on-exec (dup done as F_DUPFD_CLOEXEC).
    if (is("dup-cloexec")) return rfcntl(fd, F_DUPFD_CLOEXEC, 0);
    // dup-copies-cloexec: the copy inherits the original's close-on-exec flag (it never should).
    if (is("dup-copies-cloexec")) {
        int f = rfcntl(fd, F_GETFD, 0);
        return rfcntl(fd, f > 0 && (f & FD_CLOEXEC) ? F_DUPFD_CLOEXEC : F_DUPFD, 0);
    }
    // legal-dup-fdupfd: fcntl(F_DUPFD, 0), which the kernel implements as dup.
    if (is("legal-dup-fdupfd")) return rfcntl(fd, F_DUPFD, 0);
    return real_dup(fd);
}

int dup2(int oldfd, int newfd) {
    REAL(dup2_fn, dup2);
    REAL(dup3_fn, dup3);
    // dup2-same-closes: dup2(fd, fd) closes fd and then fails EBADF (close(new) before looking at old).
    if (is("dup2-same-closes") && oldfd == newfd) {
        rclose(newfd);
        errno = EBADF;
        return -1;
    }
    // dup2-bad-closes-target: the target is closed even when oldfd is not open (the call still fails EBADF).
    if (is("dup2-bad-closes-target") && oldfd != newfd && rfcntl(oldfd, F_GETFD, 0) < 0) {
        rclose(newfd);
        errno = EBADF;
        return -1;
    }
    // dup2-same-einval: dup2(fd, fd) fails EINVAL as dup3 does.
    if (is("dup2-same-einval") && oldfd == newfd) { errno = EINVAL; return -1; }
    // dup2-same-no-check: dup2(fd, fd) returns fd without checking that it is open.
    if (is("dup2-same-no-check") && oldfd == newfd) return newfd;
    // dup2-close-then-dupfd: the textbook emulation close(new); fcntl(old, F_DUPFD, new) (EINVAL, not
    // EBADF, past the limit; same fd closed; target lost when old is bad).
    if (is("dup2-close-then-dupfd")) {
        rclose(newfd);
        return rfcntl(oldfd, F_DUPFD, newfd);
    }
    // dup2-keeps-target-cloexec: onto an open close-on-exec target the copy stays close-on-exec.
    if (is("dup2-keeps-target-cloexec") && oldfd != newfd) {
        int f = rfcntl(newfd, F_GETFD, 0);
        return real_dup3(oldfd, newfd, f > 0 && (f & FD_CLOEXEC) ? O_CLOEXEC : 0);
    }
    // legal-dup2-dup3: dup3(old, new, 0), with dup2's own old == new case: new if old is open, else EBADF.
    if (is("legal-dup2-dup3")) {
        if (oldfd == newfd) return rfcntl(oldfd, F_GETFD, 0) < 0 ? -1 : newfd;
        return real_dup3(oldfd, newfd, 0);
    }
    return real_dup2(oldfd, newfd);
}

int dup3(int oldfd, int newfd, int flags) {
    REAL(dup3_fn, dup3);
    // dup3-ignore-cloexec: O_CLOEXEC dropped (also from the agent's own channel placement).
    if (is("dup3-ignore-cloexec")) flags &= ~O_CLOEXEC;
    // dup3-same-ok: dup3(fd, fd) succeeds as dup2 would, instead of EINVAL.
    if (is("dup3-same-ok") && oldfd == newfd && !(flags & ~O_CLOEXEC)) return rfcntl(oldfd, F_GETFD, 0) < 0 ? -1 : newfd;
    // dup3-flags-unchecked: flags other than O_CLOEXEC are dropped instead of EINVAL.
    if (is("dup3-flags-unchecked")) flags &= O_CLOEXEC;
    // legal-dup3-syscall: the raw system call.
    if (is("legal-dup3-syscall")) return (int)syscall(SYS_dup3, oldfd, newfd, flags);
    return real_dup3(oldfd, newfd, flags);
}

// ---- fcntl

static int wrapped_fcntl(int fd, int cmd, long arg) {
    switch (cmd) {
    case F_DUPFD:
        // dupfd-ignore-min: F_DUPFD as dup, the minimum ignored.
        if (is("dupfd-ignore-min")) return rfcntl(fd, F_DUPFD, 0);
        // dupfd-min-exclusive: the lowest free number strictly above the minimum.
        if (is("dupfd-min-exclusive") && arg < 0x7fffffff) return rfcntl(fd, F_DUPFD, arg + 1);
        // dupfd-copies-cloexec: the copy inherits the original's close-on-exec flag.
        if (is("dupfd-copies-cloexec")) {
            int f = rfcntl(fd, F_GETFD, 0);
            if (f > 0 && (f & FD_CLOEXEC)) return rfcntl(fd, F_DUPFD_CLOEXEC, arg);
        }
        break;
    case F_DUPFD_CLOEXEC:
        // dupfd-cloexec-plain: F_DUPFD_CLOEXEC without the close-on-exec flag (also the agent's own copies).
        if (is("dupfd-cloexec-plain")) return rfcntl(fd, F_DUPFD, arg);
        break;
    case F_GETFD: {
        int r = rfcntl(fd, cmd, arg);
        // getfd-inverted: F_GETFD reports FD_CLOEXEC the wrong way round.
        if (is("getfd-inverted") && r >= 0) return r ^ FD_CLOEXEC;
        return r;
    }
    case F_SETFD:
        // setfd-cloexec-ignored: setting FD_CLOEXEC succeeds and does nothing (clearing works).
        if (is("setfd-cloexec-ignored") && (arg & FD_CLOEXEC)) return rfcntl(fd, F_GETFD, 0) < 0 ? -1 : 0;
        break;
    case F_GETFL: {
        int r = rfcntl(fd, cmd, arg);
        // getfl-no-accmode: F_GETFL leaves the access mode out (every descriptor looks O_RDONLY).
        if (is("getfl-no-accmode") && r >= 0) return r & ~O_ACCMODE;
        // getfl-no-largefile: F_GETFL leaves the kernel's O_LARGEFILE (0100000, set by every 64-bit open) out
        // (glibc's x86_64 O_LARGEFILE is 0, so a library masking "its" O_LARGEFILE would need the number).
        if (is("getfl-no-largefile") && r >= 0) return r & ~0100000;
        return r;
    }
    case F_SETFL:
        // setfl-drop-append: F_SETFL loses O_APPEND.
        if (is("setfl-drop-append")) arg &= ~(long)O_APPEND;
        // setfl-drop-nonblock: F_SETFL loses O_NONBLOCK.
        if (is("setfl-drop-nonblock")) arg &= ~(long)O_NONBLOCK;
        // setfl-or: F_SETFL adds to the flags and never clears any.
        if (is("setfl-or")) {
            int now = rfcntl(fd, F_GETFL, 0);
            if (now >= 0) arg |= now & (O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME);
        }
        break;
    }
    return rfcntl(fd, cmd, arg);
}
BROKEN_FCNTL_WRAPPERS(wrapped_fcntl)

// ---- open, close, close_range

typedef int (*open_fn)(const char *, int, ...);
static int wrapped_open(const char *path, int flags, mode_t mode) {
    REAL(open_fn, open);
    // open-ignore-cloexec: O_CLOEXEC dropped.
    if (is("open-ignore-cloexec")) flags &= ~O_CLOEXEC;
    // open-ignore-append: O_APPEND dropped.
    if (is("open-ignore-append")) flags &= ~O_APPEND;
    // open-ignore-trunc: O_TRUNC dropped.
    if (is("open-ignore-trunc")) flags &= ~O_TRUNC;
    // open-ignore-excl: O_EXCL dropped (an existing file opens).
    if (is("open-ignore-excl")) flags &= ~O_EXCL;
    // open-ignore-nonblock: O_NONBLOCK dropped (not for FIFOs, whose open would then block).
    if (is("open-ignore-nonblock")) {
        struct stat st;
        if (!(stat(path, &st) == 0 && S_ISFIFO(st.st_mode))) flags &= ~O_NONBLOCK;
    }
    // open-ignore-mode: O_CREAT's mode replaced by 0666 (the umask still applies).
    if (is("open-ignore-mode")) mode = 0666;
    int fd = real_open(path, flags, mode);
    // open-leak: a second, close-on-exec copy of every opened descriptor stays behind.
    if (is("open-leak") && fd >= 0) (void)rfcntl(fd, F_DUPFD_CLOEXEC, 0);
    return fd;
}
BROKEN_OPEN_WRAPPERS(wrapped_open)

int close(int fd) {
    int r = rclose(fd);
    // close-ebadf-ok: closing a number that is not open "succeeds".
    if (is("close-ebadf-ok") && r < 0 && errno == EBADF) return 0;
    return r;
}

typedef int (*close_range_fn)(unsigned, unsigned, int);
int close_range(unsigned first, unsigned last, int flags) {
    REAL(close_range_fn, close_range);
    unsigned f = (unsigned)flags;
    // close-range-reversed-ok: first > last "succeeds" (closing nothing) instead of EINVAL.
    if (is("close-range-reversed-ok") && first > last) return 0;
    // close-range-flags-unchecked: unknown flags dropped instead of EINVAL.
    if (is("close-range-flags-unchecked")) f &= CLOSE_RANGE_CLOEXEC | CLOSE_RANGE_UNSHARE;
    // legal-close-range-syscall: the raw system call.
    if (is("legal-close-range-syscall")) return (int)syscall(SYS_close_range, first, last, flags);
    // close-range-last-exclusive: the last number is left open.
    if (is("close-range-last-exclusive") && first < last) last -= 1;
    // close-range-first-plus-one: the first number is left open.
    if (is("close-range-first-plus-one") && first < last) first += 1;
    // close-range-cloexec-noop: CLOSE_RANGE_CLOEXEC "succeeds" marking nothing (a fallback for old kernels).
    if (is("close-range-cloexec-noop") && (f & CLOSE_RANGE_CLOEXEC) && !(f & ~(CLOSE_RANGE_CLOEXEC | CLOSE_RANGE_UNSHARE)) &&
        first <= last)
        return 0;
    // close-range-cloexec-closes: CLOSE_RANGE_CLOEXEC dropped, so the range is closed instead of marked.
    if (is("close-range-cloexec-closes")) f &= ~CLOSE_RANGE_CLOEXEC;
    // close-range-unshare-ignored: CLOSE_RANGE_UNSHARE dropped: a shared table is closed in for everyone.
    if (is("close-range-unshare-ignored")) f &= ~CLOSE_RANGE_UNSHARE;
    return real_close_range(first, last, (int)f);
}

// ---- creators of anonymous descriptors

typedef int (*memfd_fn)(const char *, unsigned);
int memfd_create(const char *name, unsigned flags) {
    REAL(memfd_fn, memfd_create);
    // memfd-ignore-cloexec: MFD_CLOEXEC dropped.
    if (is("memfd-ignore-cloexec")) flags &= ~MFD_CLOEXEC;
    // memfd-ignore-sealing: MFD_ALLOW_SEALING dropped (the memfd is born F_SEAL_SEAL).
    if (is("memfd-ignore-sealing")) flags &= ~MFD_ALLOW_SEALING;
    // memfd-name-truncated: the name cut to 15 characters (a TASK_COMM_LEN-sized buffer).
    if (is("memfd-name-truncated") && strlen(name) > 15) {
        char shorter[16];
        memcpy(shorter, name, 15);
        shorter[15] = 0;
        return real_memfd_create(shorter, flags);
    }
    return real_memfd_create(name, flags);
}

typedef int (*eventfd_fn)(unsigned, int);
int eventfd(unsigned initval, int flags) {
    REAL(eventfd_fn, eventfd);
    // eventfd-ignore-cloexec: EFD_CLOEXEC dropped.
    if (is("eventfd-ignore-cloexec")) flags &= ~EFD_CLOEXEC;
    // eventfd-ignore-initval: the counter starts at 0 whatever was asked.
    if (is("eventfd-ignore-initval")) initval = 0;
    // eventfd-ignore-semaphore: EFD_SEMAPHORE dropped (a read takes the whole counter).
    if (is("eventfd-ignore-semaphore")) flags &= ~EFD_SEMAPHORE;
    // eventfd-ignore-nonblock: EFD_NONBLOCK dropped.
    if (is("eventfd-ignore-nonblock")) flags &= ~EFD_NONBLOCK;
    return real_eventfd(initval, flags);
}

typedef int (*signalfd_fn)(int, const sigset_t *, int);
int signalfd(int fd, const sigset_t *mask, int flags) {
    REAL(signalfd_fn, signalfd);
    // signalfd-ignore-cloexec: SFD_CLOEXEC dropped.
    if (is("signalfd-ignore-cloexec")) flags &= ~SFD_CLOEXEC;
    // signalfd-ignore-nonblock: SFD_NONBLOCK dropped.
    if (is("signalfd-ignore-nonblock")) flags &= ~SFD_NONBLOCK;
    return real_signalfd(fd, mask, flags);
}

typedef int (*timerfd_fn)(clockid_t, int);
int timerfd_create(clockid_t clock, int flags) {
    REAL(timerfd_fn, timerfd_create);
    // timerfd-ignore-cloexec: TFD_CLOEXEC dropped.
    if (is("timerfd-ignore-cloexec")) flags &= ~TFD_CLOEXEC;
    // timerfd-ignore-nonblock: TFD_NONBLOCK dropped.
    if (is("timerfd-ignore-nonblock")) flags &= ~TFD_NONBLOCK;
    // timerfd-clock-monotonic: every timer on CLOCK_MONOTONIC (a bad clock id no longer EINVAL).
    if (is("timerfd-clock-monotonic")) clock = CLOCK_MONOTONIC;
    return real_timerfd_create(clock, flags);
}

typedef int (*inotify_fn)(int);
int inotify_init1(int flags) {
    REAL(inotify_fn, inotify_init1);
    // inotify-ignore-cloexec: IN_CLOEXEC dropped.
    if (is("inotify-ignore-cloexec")) flags &= ~IN_CLOEXEC;
    // inotify-ignore-nonblock: IN_NONBLOCK dropped.
    if (is("inotify-ignore-nonblock")) flags &= ~IN_NONBLOCK;
    return real_inotify_init1(flags);
}

// ---- sockets

typedef int (*socket_fn)(int, int, int);
typedef int (*socketpair_fn)(int, int, int, int[2]);
typedef int (*accept4_fn)(int, struct sockaddr *, socklen_t *, int);
typedef int (*shutdown_fn)(int, int);

int socket(int domain, int type, int protocol) {
    REAL(socket_fn, socket);
    // socket-ignore-cloexec: SOCK_CLOEXEC dropped.
    if (is("socket-ignore-cloexec")) type &= ~SOCK_CLOEXEC;
    // socket-ignore-nonblock: SOCK_NONBLOCK dropped.
    if (is("socket-ignore-nonblock")) type &= ~SOCK_NONBLOCK;
    return real_socket(domain, type, protocol);
}

int socketpair(int domain, int type, int protocol, int sv[2]) {
    REAL(socketpair_fn, socketpair);
    // socketpair-ignore-cloexec: SOCK_CLOEXEC dropped (the agent moves its own pairs with F_DUPFD_CLOEXEC).
    if (is("socketpair-ignore-cloexec")) type &= ~SOCK_CLOEXEC;
    // socketpair-ignore-nonblock: SOCK_NONBLOCK dropped.
    if (is("socketpair-ignore-nonblock")) type &= ~SOCK_NONBLOCK;
    // socketpair-ends-swapped: the two ends reported the other way round (an AF_UNIX pair is symmetric, but
    // the kernel installs sv[0] first, so sv[0] is the lower number).
    if (is("socketpair-ends-swapped")) {
        int r = real_socketpair(domain, type, protocol, sv);
        if (r == 0) { int t = sv[0]; sv[0] = sv[1]; sv[1] = t; }
        return r;
    }
    return real_socketpair(domain, type, protocol, sv);
}

int accept4(int fd, struct sockaddr *address, socklen_t *length, int flags) {
    REAL(accept4_fn, accept4);
    // accept4-ignore-cloexec: SOCK_CLOEXEC dropped.
    if (is("accept4-ignore-cloexec")) flags &= ~SOCK_CLOEXEC;
    // accept4-ignore-nonblock: SOCK_NONBLOCK dropped (the accepted socket blocks).
    if (is("accept4-ignore-nonblock")) flags &= ~SOCK_NONBLOCK;
    return real_accept4(fd, address, length, flags);
}

int shutdown(int fd, int how) {
    REAL(shutdown_fn, shutdown);
    // shutdown-ignored: a socket "shuts down" and nothing happens (errors for non-sockets kept).
    if (is("shutdown-ignored") && how >= SHUT_RD && how <= SHUT_RDWR) {
        int type;
        socklen_t l = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) == 0) return 0;
    }
    // shutdown-rd-ignored: SHUT_RD does nothing (SHUT_WR and SHUT_RDWR work).
    if (is("shutdown-rd-ignored") && how == SHUT_RD) {
        int type;
        socklen_t l = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) == 0) return 0;
    }
    // shutdown-rdwr-as-wr: SHUT_RDWR only shuts the writing side.
    if (is("shutdown-rdwr-as-wr") && how == SHUT_RDWR) how = SHUT_WR;
    return real_shutdown(fd, how);
}

typedef ssize_t (*recvmsg_fn)(int, struct msghdr *, int);
typedef ssize_t (*sendmsg_fn)(int, const struct msghdr *, int);

ssize_t recvmsg(int fd, struct msghdr *message, int flags) {
    REAL(recvmsg_fn, recvmsg);
    // recvmsg-cmsg-cloexec-ignored: MSG_CMSG_CLOEXEC dropped (received descriptors not close-on-exec).
    if (is("recvmsg-cmsg-cloexec-ignored")) flags &= ~MSG_CMSG_CLOEXEC;
    // recvmsg-peek-consumes: MSG_PEEK dropped (a peek takes the message and its descriptors).
    if (is("recvmsg-peek-consumes")) flags &= ~MSG_PEEK;
    ssize_t r = real_recvmsg(fd, message, flags);
    // recvmsg-flags-cleared: msg_flags always 0 (MSG_TRUNC, MSG_CTRUNC, MSG_OOB, MSG_EOR lost).
    if (is("recvmsg-flags-cleared") && r >= 0) message->msg_flags = 0;
    return r;
}

ssize_t sendmsg(int fd, const struct msghdr *message, int flags) {
    REAL(sendmsg_fn, sendmsg);
    // sendmsg-reverse: each SCM_RIGHTS list goes in reverse order (sent from a copy of the control buffer).
    if (!is("sendmsg-reverse") || message->msg_control == NULL || message->msg_controllen == 0)
        return real_sendmsg(fd, message, flags);
    struct msghdr copy = *message;
    char *control = malloc(message->msg_controllen);
    if (control == NULL) return real_sendmsg(fd, message, flags);
    memcpy(control, message->msg_control, message->msg_controllen);
    copy.msg_control = control;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&copy); c != NULL; c = CMSG_NXTHDR(&copy, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0)) continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        unsigned char *p = CMSG_DATA(c);
        for (size_t i = 0; i < n / 2; i++) {
            int a, b;
            memcpy(&a, p + i * sizeof(int), sizeof a);
            memcpy(&b, p + (n - 1 - i) * sizeof(int), sizeof b);
            memcpy(p + i * sizeof(int), &b, sizeof b);
            memcpy(p + (n - 1 - i) * sizeof(int), &a, sizeof a);
        }
    }
    ssize_t sent = real_sendmsg(fd, &copy, flags);
    int saved = errno;
    free(control);
    errno = saved;
    return sent;
}

// ---- offsets: lseek, pread, pwrite, write, ftruncate

typedef off_t (*lseek_fn)(int, off_t, int);
typedef ssize_t (*pread_fn)(int, void *, size_t, off_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*read_fn)(int, void *, size_t);
typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef int (*ftruncate_fn)(int, off_t);

static off_t rlseek(int fd, off_t offset, int whence) {
    REAL(lseek_fn, lseek);
    return real_lseek(fd, offset, whence);
}

off_t lseek(int fd, off_t offset, int whence) {
    // lseek-cur-as-set: SEEK_CUR treated as SEEK_SET.
    if (is("lseek-cur-as-set") && whence == SEEK_CUR) whence = SEEK_SET;
    // lseek-data-as-set: SEEK_DATA treated as SEEK_SET (no ENXIO past the end, no skipping a hole).
    if (is("lseek-data-as-set") && whence == SEEK_DATA) whence = SEEK_SET;
    // lseek-end-ignores-offset: SEEK_END goes to the end whatever the offset.
    if (is("lseek-end-ignores-offset") && whence == SEEK_END) offset = 0;
    // lseek-hole-at-end: SEEK_HOLE answers the file's size (no holes seen; ENXIO past the end kept).
    if (is("lseek-hole-at-end") && whence == SEEK_HOLE) {
        struct stat st;
        if (offset >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
            if (offset >= st.st_size) { errno = ENXIO; return -1; }
            return rlseek(fd, st.st_size, SEEK_SET);
        }
    }
    return rlseek(fd, offset, whence);
}
off_t lseek64(int fd, off_t offset, int whence) __attribute__((alias("lseek")));

ssize_t pread(int fd, void *buffer, size_t count, off_t offset) {
    REAL(pread_fn, pread);
    REAL(read_fn, read);
    // pread-moves-offset: pread done as lseek + read, so the file offset moves.
    if (is("pread-moves-offset")) {
        if (rlseek(fd, offset, SEEK_SET) < 0) return -1;
        return real_read(fd, buffer, count);
    }
    // legal-pread-syscall: pread and pwrite as raw system calls.
    if (is("legal-pread-syscall")) return syscall(SYS_pread64, fd, buffer, count, offset);
    // pread-pipe-reads: on an unseekable descriptor pread falls back to read instead of ESPIPE.
    if (is("pread-pipe-reads")) {
        ssize_t r = real_pread(fd, buffer, count, offset);
        if (r < 0 && errno == ESPIPE) return real_read(fd, buffer, count);
        return r;
    }
    return real_pread(fd, buffer, count, offset);
}
ssize_t pread64(int fd, void *buffer, size_t count, off_t offset) __attribute__((alias("pread")));

ssize_t pwrite(int fd, const void *buffer, size_t count, off_t offset) {
    REAL(pwrite_fn, pwrite);
    REAL(write_fn, write);
    // pwrite-moves-offset: pwrite done as lseek + write, so the file offset moves.
    if (is("pwrite-moves-offset")) {
        if (rlseek(fd, offset, SEEK_SET) < 0) return -1;
        return real_write(fd, buffer, count);
    }
    // pwrite-append-at-offset: on an O_APPEND file pwrite writes at its offset (Linux appends).
    if (is("pwrite-append-at-offset")) {
        int fl = rfcntl(fd, F_GETFL, 0);
        if (fl >= 0 && (fl & O_APPEND) && is_regular(fd)) {
            rfcntl(fd, F_SETFL, fl & ~O_APPEND);
            ssize_t n = real_pwrite(fd, buffer, count, offset);
            int saved = errno;
            rfcntl(fd, F_SETFL, fl);
            errno = saved;
            return n;
        }
    }
    if (is("legal-pread-syscall")) return syscall(SYS_pwrite64, fd, buffer, count, offset);
    return real_pwrite(fd, buffer, count, offset);
}
ssize_t pwrite64(int fd, const void *buffer, size_t count, off_t offset) __attribute__((alias("pwrite")));

ssize_t write(int fd, const void *buffer, size_t count) {
    REAL(write_fn, write);
    // write-ignores-append: on an O_APPEND regular file, write goes to the current offset, not the end.
    if (is("write-ignores-append")) {
        int fl = rfcntl(fd, F_GETFL, 0);
        if (fl >= 0 && (fl & O_APPEND) && is_regular(fd)) {
            rfcntl(fd, F_SETFL, fl & ~O_APPEND);
            ssize_t n = real_write(fd, buffer, count);
            int saved = errno;
            rfcntl(fd, F_SETFL, fl);
            errno = saved;
            return n;
        }
    }
    return real_write(fd, buffer, count);
}

int ftruncate(int fd, off_t length) {
    REAL(ftruncate_fn, ftruncate);
    // ftruncate-ignored: a regular file open for writing "is truncated" and keeps its size.
    if (is("ftruncate-ignored") && length >= 0 && is_regular(fd)) {
        int fl = rfcntl(fd, F_GETFL, 0);
        if (fl >= 0 && !(fl & O_PATH) && (fl & O_ACCMODE) != O_RDONLY) return 0;
    }
    // ftruncate-rdonly-ok: a descriptor open read-only "truncates" (EINVAL due, or EBADF for O_PATH).
    if (is("ftruncate-rdonly-ok") && length >= 0 && is_regular(fd)) {
        int fl = rfcntl(fd, F_GETFL, 0);
        if (fl >= 0 && (fl & O_ACCMODE) == O_RDONLY) return 0;
    }
    // ftruncate-seeks: the file offset is moved to the new length as well.
    if (is("ftruncate-seeks")) {
        int r = real_ftruncate(fd, length);
        if (r == 0) rlseek(fd, length, SEEK_SET);
        return r;
    }
    return real_ftruncate(fd, length);
}
int ftruncate64(int fd, off_t length) __attribute__((alias("ftruncate")));

// ---- pidfds

typedef int (*pidfd_open_fn)(pid_t, unsigned);
typedef int (*pidfd_getfd_fn)(int, int, unsigned);

int pidfd_open(pid_t pid, unsigned flags) {
    REAL(pidfd_open_fn, pidfd_open);
    // pidfd-open-ignore-nonblock: PIDFD_NONBLOCK dropped (waitid on it blocks instead of EAGAIN).
    if (is("pidfd-open-ignore-nonblock")) flags &= ~(unsigned)PIDFD_NONBLOCK;
    // pidfd-open-flags-unchecked: unknown flags dropped instead of EINVAL.
    if (is("pidfd-open-flags-unchecked")) flags &= (unsigned)PIDFD_NONBLOCK;
    return real_pidfd_open(pid, flags);
}

int pidfd_getfd(int pidfd, int fd, unsigned flags) {
    REAL(pidfd_getfd_fn, pidfd_getfd);
    // pidfd-getfd-flags-unchecked: flags ignored instead of EINVAL.
    if (is("pidfd-getfd-flags-unchecked")) flags = 0;
    int r = real_pidfd_getfd(pidfd, fd, flags);
    // pidfd-getfd-reopen: the copy is a fresh open of /proc/PID/fd/N (a new description, its own offset)
    // at the same number, where that path can be opened (not for sockets, pipes keep their pipe).
    if (is("pidfd-getfd-reopen") && r >= 0) {
        char path[64], line[128];
        int pid = -1, fl = -1;
        snprintf(path, sizeof path, "/proc/self/fdinfo/%d", pidfd);
        FILE *info = fopen(path, "re");
        if (info) { while (fgets(line, sizeof line, info)) sscanf(line, "Pid: %d", &pid); fclose(info); }
        snprintf(path, sizeof path, "/proc/%d/fdinfo/%d", pid, fd);
        info = fopen(path, "re");
        if (info) { while (fgets(line, sizeof line, info)) sscanf(line, "flags: %o", (unsigned *)&fl); fclose(info); }
        if (pid > 0 && fl >= 0 && !(fl & O_PATH)) {
            REAL(open_fn, open);
            snprintf(path, sizeof path, "/proc/%d/fd/%d", pid, fd);
            int fresh = real_open(path, (fl & (O_ACCMODE | O_APPEND | O_NONBLOCK)) | O_CLOEXEC | O_NOCTTY, 0);
            if (fresh >= 0) {
                REAL(dup3_fn, dup3);
                real_dup3(fresh, r, O_CLOEXEC);
                rclose(fresh);
            }
        }
    }
    // pidfd-getfd-no-cloexec: the stolen copy is not close-on-exec (the kernel always sets it).
    if (is("pidfd-getfd-no-cloexec") && r >= 0) set_cloexec(r, 0);
    return r;
}

// ---- exec, limits, unshare, wait

typedef int (*execv_fn)(const char *, char *const[]);
int execv(const char *path, char *const argv[]) {
    REAL(execv_fn, execv);
    // exec-clears-cloexec: every descriptor's FD_CLOEXEC cleared first, so everything leaks across exec.
    if (is("exec-clears-cloexec")) {
        int numbers[4096];
        int n = open_numbers(numbers, 4096);
        for (int i = 0; i < n; i++) set_cloexec(numbers[i], 0);
    }
    // exec-closes-non-cloexec: every descriptor above 2 that is not close-on-exec closed first ("only
    // stdio is inherited"), but the agent's declared channel (HANDOFF_CONTROL_FD).
    if (is("exec-closes-non-cloexec")) {
        const char *channel = getenv("HANDOFF_CONTROL_FD");
        int keep = channel ? atoi(channel) : -1;
        int numbers[4096];
        int n = open_numbers(numbers, 4096);
        for (int i = 0; i < n; i++) {
            int fd = numbers[i];
            if (fd > 2 && fd != keep && !(rfcntl(fd, F_GETFD, 0) & FD_CLOEXEC)) rclose(fd);
        }
    }
    // legal-execv-execve: execve with the current environment.
    if (is("legal-execv-execve")) {
        extern char **environ;
        return execve(path, argv, environ);
    }
    return real_execv(path, argv);
}

typedef int (*setrlimit_fn)(int, const struct rlimit *);
int setrlimit(__rlimit_resource_t resource, const struct rlimit *limit) {
    REAL(setrlimit_fn, setrlimit);
    // setrlimit-ignored: RLIMIT_NOFILE "set" and left as it was.
    if (is("setrlimit-ignored") && resource == RLIMIT_NOFILE && limit->rlim_cur <= limit->rlim_max) return 0;
    // setrlimit-clamps: a soft limit above the hard one is clamped to it instead of EINVAL.
    if (is("setrlimit-clamps") && limit->rlim_cur > limit->rlim_max) {
        struct rlimit clamped = {limit->rlim_max, limit->rlim_max};
        return real_setrlimit((int)resource, &clamped);
    }
    return real_setrlimit((int)resource, limit);
}

typedef int (*unshare_fn)(int);
int unshare(int flags) {
    REAL(unshare_fn, unshare);
    // unshare-files-ignored: CLONE_FILES dropped: the table stays shared.
    if (is("unshare-files-ignored")) flags &= ~CLONE_FILES;
    return real_unshare(flags);
}

typedef pid_t (*waitpid_fn)(pid_t, int *, int);
pid_t waitpid(pid_t pid, int *status, int options) {
    REAL(waitpid_fn, waitpid);
    // legal-waitpid-wait4: wait4 without a usage buffer.
    if (is("legal-waitpid-wait4")) return wait4(pid, status, options, NULL);
    pid_t r = real_waitpid(pid, status, options);
    // waitpid-status-zero: every child "exited 0".
    if (is("waitpid-status-zero") && r > 0 && status != NULL) *status = 0;
    // waitpid-signal-as-exit: a child killed by a signal reported as exiting 128+signal (as a shell would).
    if (is("waitpid-signal-as-exit") && r > 0 && status != NULL && WIFSIGNALED(*status))
        *status = ((128 + WTERMSIG(*status)) & 0xff) << 8;
    return r;
}

typedef int (*waitid_fn)(idtype_t, id_t, siginfo_t *, int);
int waitid(idtype_t idtype, id_t id, siginfo_t *info, int options) {
    REAL(waitid_fn, waitid);
    int r = real_waitid(idtype, id, info, options);
    // waitid-signal-as-exit: a child killed by a signal reported as exiting 128+signal (CLD_EXITED).
    if (is("waitid-signal-as-exit") && r == 0 && info != NULL && info->si_pid != 0 &&
        (info->si_code == CLD_KILLED || info->si_code == CLD_DUMPED)) {
        info->si_status = (128 + info->si_status) & 0xff;
        info->si_code = CLD_EXITED;
    }
    return r;
}
