// libhandoff-broken-ioctl.so: ioctl (FIOCLEX, FIONCLEX, FIONBIO, FIONREAD) and fcntl (F_GETPIPE_SZ, F_SETPIPE_SZ) wrappers
// that misbehave quietly, one variant chosen by HANDOFF_IOCTL_BROKEN (the names are the is("...") tests below).
// LD_PRELOAD into handoff-agent-c. Variants named legal-* are correct alternative implementations and must
// fail nothing. Every other request/command passes through untouched (the agent's control channel uses
// F_DUPFD_CLOEXEC, F_SETFD, F_GETFD).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "variant.h"

BROKEN_VARIANT_FROM("HANDOFF_IOCTL_BROKEN")

typedef int (*ioctl_fn)(int, unsigned long, ...);
typedef int (*fcntl_fn)(int, int, ...);
static ioctl_fn real_ioctl_p;
static fcntl_fn real_fcntl_p;
static void resolve(void) {
    if (real_ioctl_p == NULL) real_ioctl_p = (ioctl_fn)dlsym(RTLD_NEXT, "ioctl");
    if (real_fcntl_p == NULL) real_fcntl_p = (fcntl_fn)dlsym(RTLD_NEXT, "fcntl");
}
static int rfcntl(int fd, int cmd, long arg) { resolve(); return real_fcntl_p(fd, cmd, arg); }
static int rioctl(int fd, unsigned long req, void *arg) { resolve(); return real_ioctl_p(fd, req, arg); }

static int same_description(int a, int b) {
    pid_t self = getpid();
    return syscall(SYS_kcmp, self, self, 0 /* KCMP_FILE */, a, b) == 0;
}
static int is_opath(int fd) {
    int fl = rfcntl(fd, F_GETFL, 0);
    return fl >= 0 && (fl & O_PATH);
}
static int ftype(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0) return -1;
    return st.st_mode & S_IFMT;
}
static int sotype(int fd) {
    int t = 0;
    socklen_t l = sizeof t;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &t, &l) != 0) return -1;
    return t;
}
static int set_cloexec(int fd, int on) {
    int f = rfcntl(fd, F_GETFD, 0);
    if (f < 0) return -1;
    return rfcntl(fd, F_SETFD, on ? (f | FD_CLOEXEC) : (f & ~FD_CLOEXEC));
}
static int all_dups(int fd, int on) {  // the flag on every number sharing the description (a wrong idea)
    if (rfcntl(fd, F_GETFD, 0) < 0) { errno = EBADF; return -1; }
    for (int other = 0; other < 1024; other++)
        if (other == fd || (rfcntl(other, F_GETFD, 0) >= 0 && same_description(fd, other))) set_cloexec(other, on);
    return 0;
}

// ---- pipe size bookkeeping (per process: a library-side table keyed by the pipe inode or the number)
#define SLOTS 64
static struct { dev_t dev; ino_t ino; int fd; long size; int used; } table[SLOTS];
static int slot_for(int fd, int by_fd, int create) {
    struct stat st;
    if (fstat(fd, &st) != 0) return -1;
    for (int i = 0; i < SLOTS; i++)
        if (table[i].used && (by_fd ? table[i].fd == fd && table[i].ino == st.st_ino
                                    : table[i].dev == st.st_dev && table[i].ino == st.st_ino)) return i;
    if (!create) return -1;
    for (int i = 0; i < SLOTS; i++)
        if (!table[i].used) {
            table[i].used = 1; table[i].dev = st.st_dev; table[i].ino = st.st_ino; table[i].fd = fd;
            return i;
        }
    return -1;
}
static long round_pipe(unsigned long size) {  // the kernel's round_pipe_size: 0 for too big
    if (size > (1UL << 31)) return 0;
    unsigned long pages = (size + 4095) / 4096;
    if (pages == 0) pages = 1;
    unsigned long p = 1;
    while (p < pages) p <<= 1;
    return (long)(p * 4096);
}
static long max_size(void) {
    FILE *f = fopen("/proc/sys/fs/pipe-max-size", "r");
    long v = 1048576;
    if (f) { if (fscanf(f, "%ld", &v) != 1) v = 1048576; fclose(f); }
    return v;
}

static int pipe_fcntl(int fd, int cmd, long arg) {
    int t;
    if (is("pipesz-einval-nonpipe")) {
        int r = rfcntl(fd, cmd, arg);
        if (r < 0 && errno == EBADF && rfcntl(fd, F_GETFD, 0) >= 0) errno = EINVAL;
        return r;
    }
    if (cmd == F_GETPIPE_SZ) {
        if (is("getpipe-opath-reopen") && is_opath(fd) && ftype(fd) == S_IFIFO) {  // asks a fresh reader
            char p[64];
            snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
            int o = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
            if (o >= 0) { int r = rfcntl(o, cmd, 0); close(o); return r; }
        }
        if (is("getpipe-const")) {
            int r = rfcntl(fd, cmd, arg);
            return r < 0 ? r : 65536;
        }
        if (is("setpipe-bytes") || is("setpipe-pages-nopow2") || is("pipesz-cache") || is("getpipe-per-fd")) {
            int r = rfcntl(fd, cmd, arg);
            if (r < 0) return r;
            int s = slot_for(fd, is("getpipe-per-fd"), is("pipesz-cache"));
            if (s < 0) return r;
            if (is("pipesz-cache") && table[s].size == 0) table[s].size = r;
            return (int)table[s].size;
        }
        return rfcntl(fd, cmd, arg);
    }
    // F_SETPIPE_SZ
    unsigned int asked = (unsigned int)arg;
    long rounded = round_pipe(asked);
    if (is("legal-setpipe-preround")) {  // round in user space, check the bounds, then ask for the exact size
        if ((t = ftype(fd)) != S_IFIFO || is_opath(fd)) return rfcntl(fd, cmd, arg);
        if (rounded == 0) { errno = EINVAL; return -1; }
        return rfcntl(fd, cmd, rounded);
    }
    if (is("setpipe-noop")) {
        if (ftype(fd) != S_IFIFO || is_opath(fd)) return rfcntl(fd, cmd, arg);
        if (rounded == 0) { errno = EINVAL; return -1; }
        return (int)rounded;
    }
    if (is("setpipe-round-down") && ftype(fd) == S_IFIFO && asked > 4096) {
        long down = 4096;
        while (down * 2 <= (long)asked) down *= 2;
        if (rounded != 0) return rfcntl(fd, cmd, down);
    }
    if (is("setpipe-zero-einval") && asked == 0 && ftype(fd) == S_IFIFO) { errno = EINVAL; return -1; }
    if (is("setpipe-max-exclusive") && ftype(fd) == S_IFIFO && rounded >= max_size() && rounded != 0) {
        errno = EPERM;
        return -1;
    }
    if (is("setpipe-big-clamp") && ftype(fd) == S_IFIFO && rounded == 0) return rfcntl(fd, cmd, max_size());
    int r = rfcntl(fd, cmd, arg);
    int saved = errno;
    if (r < 0) {
        if (is("setpipe-ebusy-ok") && saved == EBUSY) return (int)rounded;
        if (is("setpipe-nomax") && saved == EPERM) return (int)rounded;
        if (is("setpipe-ebusy-bytes") && saved == EBUSY) {  // "fits" counted in bytes, not slots
            int bytes = 0;
            if (rioctl(fd, FIONREAD, &bytes) == 0 && bytes <= rounded) return (int)rounded;
        }
        if (is("setpipe-ebusy-drain") && saved == EBUSY) {  // make room by throwing away the oldest data
            char buf[4096];
            int rd = fd;
            int fl = rfcntl(fd, F_GETFL, 0);
            char p[64];
            int opened = -1;
            if ((fl & O_ACCMODE) != O_RDONLY) {
                snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
                opened = open(p, O_RDONLY | O_NONBLOCK);
                rd = opened;
            }
            for (int i = 0; i < 1024 && rd >= 0; i++) {
                r = rfcntl(fd, cmd, arg);
                if (r >= 0 || errno != EBUSY) break;
                if (read(rd, buf, sizeof buf) <= 0) break;
            }
            if (opened >= 0) close(opened);
            return r;
        }
        errno = saved;
        return r;
    }
    if (is("setpipe-noround")) return (int)asked;
    if (is("setpipe-bytes") || is("setpipe-pages-nopow2") || is("pipesz-cache") || is("getpipe-per-fd")) {
        long report = r;
        if (is("setpipe-bytes")) report = asked;
        if (is("setpipe-pages-nopow2")) report = ((asked + 4095) / 4096 ? (asked + 4095) / 4096 : 1) * 4096L;
        int s = slot_for(fd, is("getpipe-per-fd"), 1);
        if (s >= 0) table[s].size = report;
        return (int)report;
    }
    return r;
}

static int wrapped_fcntl(int fd, int cmd, long arg) {
    resolve();
    if (cmd == F_GETPIPE_SZ || cmd == F_SETPIPE_SZ) return pipe_fcntl(fd, cmd, arg);
    return real_fcntl_p(fd, cmd, arg);
}
BROKEN_FCNTL_WRAPPERS(wrapped_fcntl)

// FIONREAD the "other way" for a pipe: tee its contents into a scratch pipe as large (nothing consumed).
static int pipe_bytes_by_tee(int fd, int *out) {
    int rd = fd, opened = -1;
    int fl = rfcntl(fd, F_GETFL, 0);
    if (fl < 0 || (fl & O_PATH)) { errno = EBADF; return -1; }
    if ((fl & O_ACCMODE) == O_WRONLY) {
        char p[64];
        snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
        opened = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (opened < 0) return -1;
        rd = opened;
    }
    int scratch[2];
    if (pipe2(scratch, O_CLOEXEC | O_NONBLOCK) != 0) { if (opened >= 0) close(opened); return -1; }
    int cap = rfcntl(fd, F_GETPIPE_SZ, 0);
    if (cap > 0) rfcntl(scratch[1], F_SETPIPE_SZ, cap);
    ssize_t n = tee(rd, scratch[1], INT_MAX, SPLICE_F_NONBLOCK);
    int saved = errno;
    close(scratch[0]); close(scratch[1]);
    if (opened >= 0) close(opened);
    if (n < 0 && saved != EAGAIN) { errno = saved; return -1; }
    *out = n < 0 ? 0 : (int)n;
    return 0;
}

static int fionread(int fd, int *value) {
    if (is("legal-fionread-computed")) {
        int t = ftype(fd);
        if (is_opath(fd) || t < 0) return rioctl(fd, FIONREAD, value);
        if (t == S_IFIFO) return pipe_bytes_by_tee(fd, value);
        if (t == S_IFREG) {
            struct stat st;
            fstat(fd, &st);
            off_t pos = lseek(fd, 0, SEEK_CUR);
            *value = (int)(st.st_size - pos);
            return 0;
        }
        if (t == S_IFSOCK) return rioctl(fd, SIOCINQ, value);
        return rioctl(fd, FIONREAD, value);
    }
    if (is("fionread-eventfd-8")) {
        char link[64], p[64];
        snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(p, link, sizeof link - 1);
        if (n > 0) { link[n] = 0; if (strcmp(link, "anon_inode:[eventfd]") == 0) { *value = 8; return 0; } }
    }
    int r = rioctl(fd, FIONREAD, value);
    int saved = errno;
    if (r < 0) {
        if (is("fionread-listener-zero") && saved == EINVAL) { *value = 0; return 0; }
        if (is("fionread-enotty-zero") && saved == ENOTTY) { *value = 0; return 0; }
        errno = saved;
        return r;
    }
    int t = ftype(fd);
    if (is("fionread-minus-one") && t == S_IFIFO && *value > 0) *value -= 1;
    if (is("fionread-zero")) *value = 0;
    if (is("fionread-writeend-zero") && t == S_IFIFO && (rfcntl(fd, F_GETFL, 0) & O_ACCMODE) == O_WRONLY) *value = 0;
    if (is("fionread-file-size") && t == S_IFREG) {
        struct stat st;
        fstat(fd, &st);
        *value = (int)st.st_size;
    }
    if (is("fionread-stream-peek") && t == S_IFSOCK && sotype(fd) == SOCK_STREAM) {
        // What a peek would copy now: a TCP peek skips an urgent byte at its head that recv(MSG_OOB) took,
        // where tcp_inq stops there (0).
        static char b[262144];
        ssize_t n = recv(fd, b, sizeof b, MSG_PEEK | MSG_DONTWAIT);
        *value = n < 0 ? 0 : (int)n;
    }
    if (is("fionread-tcp-whole") && t == S_IFSOCK && sotype(fd) == SOCK_STREAM) {
        // The whole receive queue, urgent byte or not (SO_OOBINLINE's answer): what tcp_inq gives only inline.
        int inline_ = 1, on = 1;
        socklen_t size = sizeof inline_;
        if (getsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &inline_, &size) == 0 && !inline_) {
            setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &on, sizeof on);
            rioctl(fd, FIONREAD, value);
            setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &inline_, sizeof inline_);  // back to off
        }
    }
    if (is("fionread-clamp") && *value < 0) *value = 0;
    if (is("fionread-abs") && *value < 0) *value = -*value;
    if (is("fionread-seqpacket-first") && t == S_IFSOCK && sotype(fd) == SOCK_SEQPACKET) {
        char b;
        ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
        *value = n < 0 ? 0 : (int)n;
    }
    if (is("fionread-dgram-total") && t == S_IFSOCK && sotype(fd) == SOCK_DGRAM) {
        int off = 0, total = 0;
        if (setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof off) == 0) {
            static char b[262144];
            for (int i = 0; i < 4096; i++) {
                ssize_t n = recv(fd, b, sizeof b, MSG_PEEK | MSG_DONTWAIT);
                if (n <= 0) break;  // the end, or an empty datagram (the peek offset cannot step over it)
                total += (int)n;
            }
            off = -1;
            setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof off);
            *value = total;
        }
    }
    if (is("fionread-with-fds") && t == S_IFSOCK) {  // count the queued descriptors as bytes too
        char data[1];
        union { char buf[CMSG_SPACE(sizeof(int) * 253)]; struct cmsghdr align; } u;
        struct iovec iov = {data, sizeof data};
        struct msghdr m = {0};
        m.msg_iov = &iov; m.msg_iovlen = 1;
        m.msg_control = u.buf; m.msg_controllen = sizeof u.buf;
        if (recvmsg(fd, &m, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC) >= 0) {
            for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                    int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
                    int *fds = (int *)CMSG_DATA(c);
                    for (int i = 0; i < n; i++) close(fds[i]);
                    *value += n * (int)sizeof(int);
                }
        }
    }
    return r;
}

static int cloexec_request(int fd, int on) {
    if (is("legal-fioclex-fcntl")) {  // ioctl refuses O_PATH (fdget), F_SETFD does not: check first
        if (rfcntl(fd, F_GETFD, 0) < 0 || is_opath(fd)) { errno = EBADF; return -1; }
        return set_cloexec(fd, on) < 0 ? -1 : 0;
    }
    if (on) {
        if (is("fioclex-ignore")) return rfcntl(fd, F_GETFD, 0) < 0 ? -1 : 0;
        if (is("fioclex-next")) { if (rfcntl(fd, F_GETFD, 0) < 0) return -1; set_cloexec(fd + 1, 1); return 0; }
        if (is("fioclex-all-dups")) { if (is_opath(fd)) { errno = EBADF; return -1; } return all_dups(fd, 1); }
        if (is("fioclex-toggle")) {
            int f = rfcntl(fd, F_GETFD, 0);
            if (f < 0 || is_opath(fd)) { errno = EBADF; return -1; }
            return rfcntl(fd, F_SETFD, f ^ FD_CLOEXEC);
        }
        if (is("fioclex-result-1")) { int r = rioctl(fd, FIOCLEX, NULL); return r < 0 ? r : 1; }
        if (is("fioclex-via-fcntl-naive")) return set_cloexec(fd, 1) < 0 ? -1 : 0;
    } else {
        if (is("fionclex-ignore")) return rfcntl(fd, F_GETFD, 0) < 0 ? -1 : 0;
        if (is("fionclex-all-dups")) { if (is_opath(fd)) { errno = EBADF; return -1; } return all_dups(fd, 0); }
        if (is("fionclex-via-fcntl-naive")) return set_cloexec(fd, 0) < 0 ? -1 : 0;
    }
    return rioctl(fd, on ? FIOCLEX : FIONCLEX, NULL);
}

static int fionbio(int fd, int *arg) {
    int on = *arg != 0;
    if (is("legal-fionbio-setfl")) {
        int fl = rfcntl(fd, F_GETFL, 0);
        if (fl < 0 || (fl & O_PATH)) { errno = EBADF; return -1; }
        return rfcntl(fd, F_SETFL, on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK)) < 0 ? -1 : 0;
    }
    if (is("legal-fionbio-skip-same")) {  // nothing to do when the flag is already as asked
        int fl = rfcntl(fd, F_GETFL, 0);
        if (fl >= 0 && !(fl & O_PATH) && (!!(fl & O_NONBLOCK)) == on) return 0;
        return rioctl(fd, FIONBIO, arg);
    }
    if (is("fionbio-opath-ok") && is_opath(fd)) return 0;  // an emulation that never asks the kernel
    if (is("fionbio-socket-ignore") && ftype(fd) == S_IFSOCK) return 0;  // handled files and pipes only
    if (is("fionbio-ignore")) return rfcntl(fd, F_GETFD, 0) < 0 || is_opath(fd) ? (errno = EBADF, -1) : 0;
    if (is("fionbio-always-on")) { int one = 1; return rioctl(fd, FIONBIO, &one); }
    if (is("fionbio-never-clear") && !on) return rfcntl(fd, F_GETFD, 0) < 0 ? -1 : 0;
    if (is("fionbio-toggle")) {
        int fl = rfcntl(fd, F_GETFL, 0);
        if (fl < 0 || (fl & O_PATH)) { errno = EBADF; return -1; }
        int flip = !(fl & O_NONBLOCK);
        return rioctl(fd, FIONBIO, &flip);
    }
    if (is("fionbio-append") && on) {
        int fl = rfcntl(fd, F_GETFL, 0);
        if (fl < 0 || (fl & O_PATH)) { errno = EBADF; return -1; }
        return rfcntl(fd, F_SETFL, fl | O_NONBLOCK | O_APPEND) < 0 ? -1 : 0;
    }
    if (is("fionbio-setfl-clobber")) {  // F_SETFL with only the one flag: O_APPEND (and O_ASYNC...) lost
        if (is_opath(fd)) { errno = EBADF; return -1; }
        return rfcntl(fd, F_SETFL, on ? O_NONBLOCK : 0) < 0 ? -1 : 0;
    }
    if (is("fionbio-reopen")) {  // per-descriptor emulation: reopen through /proc and dup over the number
        int fl = rfcntl(fd, F_GETFL, 0);
        if (fl < 0 || (fl & O_PATH)) { errno = EBADF; return -1; }
        char p[64];
        snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
        int nfd = open(p, (fl & (O_ACCMODE | O_APPEND)) | O_NOCTTY | (on ? O_NONBLOCK : 0));
        if (nfd < 0) return rioctl(fd, FIONBIO, arg);
        off_t pos = lseek(fd, 0, SEEK_CUR);
        if (pos > 0) lseek(nfd, pos, SEEK_SET);
        int cl = rfcntl(fd, F_GETFD, 0);
        dup3(nfd, fd, (cl & FD_CLOEXEC) ? O_CLOEXEC : 0);
        close(nfd);
        return 0;
    }
    return rioctl(fd, FIONBIO, arg);
}

int ioctl(int fd, unsigned long request, ...) {
    va_list ap;
    va_start(ap, request);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    resolve();
    if (variant()[0] == 0) return real_ioctl_p(fd, request, arg);
    if (is("legal-ioctl-syscall") &&
        (request == FIOCLEX || request == FIONCLEX || request == FIONBIO || request == FIONREAD))
        return (int)syscall(SYS_ioctl, fd, request, arg);
    switch (request) {
    case FIOCLEX: return cloexec_request(fd, 1);
    case FIONCLEX: return cloexec_request(fd, 0);
    case FIONBIO: return fionbio(fd, (int *)arg);
    case FIONREAD: return fionread(fd, (int *)arg);
    default: return real_ioctl_p(fd, request, arg);
    }
}
