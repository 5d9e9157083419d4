// libhandoff-broken-epoll.so: epoll wrappers that misbehave quietly, one variant chosen by
// HANDOFF_EPOLL_BROKEN (the names are the `is("...")` tests below; IMPLEMENTATIONS.md has the table of what
// the catalog catches). LD_PRELOAD into handoff-agent-c. Each call still "succeeds" the way a buggy library
// would; five variants are legal (reverse, sliced, via-pwait2, subset-last, timeout-slack) and must fail
// nothing. mod-del-add was taken as legal until the model followed epoll wake-ups: DEL+ADD of a ready item
// wakes an epoll watching this one where MOD of an item already on the ready list does not (IMPLEMENTATIONS.md).
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "variant.h"

BROKEN_VARIANT_FROM("HANDOFF_EPOLL_BROKEN")

#define REAL(name)                        \
    static __typeof__(&name) real_##name; \
    if (real_##name == NULL) real_##name = (__typeof__(&name))dlsym(RTLD_NEXT, #name)

// What the library remembers of each registration: (epfd, fd) -> events, and fd -> (dev, ino) at ADD.
#define TABLE 256
static unsigned registered[TABLE][TABLE];
static int known[TABLE][TABLE];
static dev_t reg_dev[TABLE];
static ino_t reg_ino[TABLE];
static int reg_mode[TABLE];
static int last_added = -1;
static struct epoll_event cache[64];
static int cached, cache_epfd = -1;

static int same_description(int a, int b);
static long long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int epoll_create1(int flags) {
    REAL(epoll_create1);
    if (is("cloexec-ignore")) flags &= ~EPOLL_CLOEXEC;
    int ep = real_epoll_create1(flags);
    if (ep >= 0 && is("create-leak")) {  // an internal wake-up eventfd, "hidden" high up
        int e = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (e >= 0) { fcntl(e, F_DUPFD_CLOEXEC, 600); close(e); }
    }
    return ep;
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event) {
    REAL(epoll_ctl);
    struct epoll_event copy;
    if (event != NULL) copy = *event;
    int inrange = epfd >= 0 && epfd < TABLE && fd >= 0 && fd < TABLE;
    if (event != NULL && op != EPOLL_CTL_DEL) {
        if (is("drop-rdhup")) copy.events &= ~(unsigned)EPOLLRDHUP;
        if (is("rdhup-always")) copy.events |= EPOLLRDHUP;
        if (is("et-ignore")) copy.events &= ~(unsigned)EPOLLET;
        if (is("oneshot-ignore-ctl")) copy.events &= ~(unsigned)EPOLLONESHOT;
        if (is("oneshot-mod-lt") && op == EPOLL_CTL_MOD) copy.events &= ~(unsigned)EPOLLONESHOT;
        if (is("mod-or") && op == EPOLL_CTL_MOD && inrange && known[epfd][fd]) copy.events |= registered[epfd][fd];
    }
    if (is("mod-as-add") && op == EPOLL_CTL_MOD) op = EPOLL_CTL_ADD;
    if (is("add-eexist-by-desc") && op == EPOLL_CTL_ADD && epfd >= 0 && epfd < TABLE && fd >= 0)
        for (int other = 0; other < TABLE; other++)
            if (other != fd && known[epfd][other] && fcntl(other, F_GETFD) >= 0 && same_description(fd, other)) {
                errno = EEXIST;
                return -1;
            }
    if (is("del-by-desc") && op == EPOLL_CTL_DEL && epfd >= 0 && epfd < TABLE && fd >= 0 && fcntl(fd, F_GETFD) >= 0)
        for (int other = 0; other < TABLE; other++)
            if (other != fd && known[epfd][other] && fcntl(other, F_GETFD) >= 0 && same_description(fd, other)) {
                real_epoll_ctl(epfd, EPOLL_CTL_DEL, other, NULL);
                known[epfd][other] = 0;
            }
    if (is("add-eexist-by-file") && op == EPOLL_CTL_ADD && epfd >= 0 && epfd < TABLE) {
        struct stat st;
        if (fstat(fd, &st) == 0)
            for (int other = 0; other < TABLE; other++)
                if (other != fd && known[epfd][other] && reg_ino[other] == st.st_ino && reg_dev[other] == st.st_dev &&
                    fcntl(other, F_GETFD) >= 0) {
                    errno = EEXIST;
                    return -1;
                }
    }
    int result;
    if (is("mod-del-add") && op == EPOLL_CTL_MOD) {  // differs only in the wake-up of a watching epoll
        result = real_epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
        if (result == 0) result = real_epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &copy);
    } else {
        result = real_epoll_ctl(epfd, op, fd, event != NULL ? &copy : NULL);
    }
    if (result == 0 && op == EPOLL_CTL_ADD && is("ctl-dup-keepalive")) {
        int saved0 = errno;
        (void)fcntl(fd, F_DUPFD_CLOEXEC, 700);  // keeps the file alive "while registered"
        errno = saved0;
    }
    int saved = errno;
    if (result < 0 && saved == EBADF && op == EPOLL_CTL_DEL && is("del-closed-ok")) return 0;
    if (result == 0 && inrange) {
        if (op == EPOLL_CTL_DEL) {
            known[epfd][fd] = 0;
            if (is("del-by-file"))
                for (int other = 0; other < TABLE; other++)
                    if (other != fd && known[epfd][other] && reg_ino[other] == reg_ino[fd] && reg_dev[other] == reg_dev[fd]) {
                        real_epoll_ctl(epfd, EPOLL_CTL_DEL, other, NULL);
                        known[epfd][other] = 0;
                    }
        } else {
            registered[epfd][fd] = copy.events;
            known[epfd][fd] = 1;
            struct stat st;
            if (op == EPOLL_CTL_ADD && fstat(fd, &st) == 0) {
                reg_dev[fd] = st.st_dev;
                reg_ino[fd] = st.st_ino;
                reg_mode[fd] = fcntl(fd, F_GETFL) & O_ACCMODE;
                last_added = fd;
            }
        }
    }
    errno = saved;
    return result;
}

int poll(struct pollfd *fds, nfds_t nfds, int timeout) {
    REAL(poll);
    REAL(epoll_wait);
    if (is("poll-consumes") && nfds == 1 && fds[0].fd >= 0 && fds[0].fd < TABLE) {
        int ep = fds[0].fd, any = 0;
        for (int i = 0; i < TABLE; i++) any |= known[ep][i];
        if (any) {  // "is the epoll readable?" answered by asking it
            struct epoll_event ev[64];
            int n = real_epoll_wait(ep, ev, 64, timeout);
            if (n < 0) return n;
            fds[0].revents = n > 0 ? (fds[0].events & POLLIN) : 0;
            return fds[0].revents ? 1 : 0;
        }
    }
    return real_poll(fds, nfds, timeout);
}

int close(int fd) {
    REAL(close);
    REAL(epoll_ctl);
    if (is("close-dels") && fd >= 0 && fd < TABLE)
        for (int ep = 0; ep < TABLE; ep++)
            if (known[ep][fd]) {
                real_epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                known[ep][fd] = 0;
            }
    return real_close(fd);
}

static int same_description(int a, int b) {
    pid_t self = getpid();
    return syscall(SYS_kcmp, self, self, 0 /* KCMP_FILE */, a, b) == 0;
}

static int remove_entry(struct epoll_event *events, int n, int i) {
    memmove(&events[i], &events[i + 1], (size_t)(n - i - 1) * sizeof *events);
    return n - 1;
}

// The lowest open number on the file the registration was made on (dev, ino), or -1.
static int current_number(int registered_fd) {
    if (registered_fd < 0 || registered_fd >= TABLE || reg_ino[registered_fd] == 0) return -1;
    struct stat st;
    if (fstat(registered_fd, &st) == 0 && st.st_dev == reg_dev[registered_fd] && st.st_ino == reg_ino[registered_fd])
        return registered_fd;
    int best = -1;
    for (int fd = 0; fd < 1000; fd++) {
        if (fstat(fd, &st) == 0 && st.st_dev == reg_dev[registered_fd] && st.st_ino == reg_ino[registered_fd]) {
            best = fd;
            break;
        }
    }
    return best;
}

// A dup's number: the registered number is closed or names another file, and an open number has the
// registered file (dev, ino) with the registered access mode.
static int dup_number(int registered_fd) {
    if (registered_fd < 0 || registered_fd >= TABLE || reg_ino[registered_fd] == 0) return -1;
    struct stat st;
    if (fstat(registered_fd, &st) == 0 && st.st_dev == reg_dev[registered_fd] && st.st_ino == reg_ino[registered_fd])
        return registered_fd;
    for (int fd = 0; fd < 1000; fd++) {
        if (fstat(fd, &st) == 0 && st.st_dev == reg_dev[registered_fd] && st.st_ino == reg_ino[registered_fd] &&
            (fcntl(fd, F_GETFL) & O_ACCMODE) == reg_mode[registered_fd])
            return fd;
    }
    return -1;
}

int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout) {
    REAL(epoll_wait);
    REAL(epoll_ctl);
    if (is("max1") && maxevents > 1) maxevents = 1;
    if (is("max-ignore") && maxevents > 0) maxevents = 1024;  // the caller's buffer "is surely big enough"
    if (is("max-clamp") && maxevents < 1) maxevents = 1;
    if (is("max-minus-one") && maxevents > 1) maxevents -= 1;  // a slot kept for an internal wake-up fd
    if (is("max-cap-8") && maxevents > 8) maxevents = 8;       // a fixed internal buffer
    if (is("timeout-zero")) timeout = 0;
    if (is("timeout-infinite") && timeout > 0) timeout = -1;
    if (is("timeout-slack") && timeout > 0) timeout += 200;  // legal: a timeout is a minimum
    if (is("batch-cache") && maxevents > 0) {
        if (cached > 0 && cache_epfd == epfd) {
            int k = cached < maxevents ? cached : maxevents;
            memcpy(events, cache, (size_t)k * sizeof *events);
            memmove(cache, cache + k, (size_t)(cached - k) * sizeof *cache);
            cached -= k;
            return k;
        }
        struct epoll_event big[64];
        int got = real_epoll_wait(epfd, big, 64, timeout);
        if (got <= 0) return got;
        int k = got < maxevents ? got : maxevents;
        memcpy(events, big, (size_t)k * sizeof *events);
        cached = got - k;
        cache_epfd = epfd;
        memcpy(cache, big + k, (size_t)cached * sizeof *cache);
        return k;
    }
    if (is("subset-last") && maxevents > 0 && maxevents < 64) {  // legal for level-triggered: another subset
        struct epoll_event big[64];
        int got = real_epoll_wait(epfd, big, 64, timeout);
        if (got <= maxevents) {
            if (got > 0) memcpy(events, big, (size_t)got * sizeof *events);
            return got;
        }
        memcpy(events, big + (got - maxevents), (size_t)maxevents * sizeof *events);
        return maxevents;
    }
    if (is("timeout-short") && timeout > 0) timeout /= 10;
    if (is("timeout-full") && timeout > 0) {
        struct timespec t = {timeout / 1000, (long)(timeout % 1000) * 1000000L};
        nanosleep(&t, NULL);
        timeout = 0;
    }
    int n;
    if (is("sliced") && timeout > 0) {  // legal: waits in 5 ms slices up to the deadline
        long long deadline = now_ms() + timeout;
        for (;;) {
            long long left = deadline - now_ms();
            if (left < 0) left = 0;
            n = real_epoll_wait(epfd, events, maxevents, left > 5 ? 5 : (int)left);
            if (n != 0 || left == 0) break;
        }
    } else if (is("via-pwait2")) {  // legal: the same call through epoll_pwait2
        struct timespec t = {timeout / 1000, (long)(timeout % 1000) * 1000000L};
        n = (int)syscall(SYS_epoll_pwait2, epfd, events, maxevents, timeout < 0 ? NULL : &t, NULL, 8);
    } else {
        n = real_epoll_wait(epfd, events, maxevents, timeout);
    }
    int saved = errno;
    if (n < 0) {
        if (is("opath-ok") && saved == EBADF && maxevents > 0 && fcntl(epfd, F_GETFD) >= 0) {
            errno = 0;
            return 0;
        }
        if (is("ebadf-nonepoll") && saved == EINVAL && maxevents > 0) saved = EBADF;
        errno = saved;
        return n;
    }
    if (n == 0 && timeout > 0 && is("eintr")) {
        errno = EINTR;
        return -1;
    }
    for (int i = 0; i < n; i++) {
        int fd = events[i].data.fd;
        if (is("drop-hup")) events[i].events &= ~(unsigned)EPOLLHUP;
        if (is("drop-err")) events[i].events &= ~(unsigned)EPOLLERR;
        if (is("hup-adds-in") && (events[i].events & EPOLLHUP)) events[i].events |= EPOLLIN;
        if (is("rdhup-as-hup") && (events[i].events & EPOLLRDHUP)) events[i].events |= EPOLLHUP;
        if (is("err-as-hup") && (events[i].events & EPOLLERR)) events[i].events = (events[i].events & ~(unsigned)EPOLLERR) | EPOLLHUP;
        if (is("mask-results") && epfd >= 0 && epfd < TABLE && fd >= 0 && fd < TABLE && known[epfd][fd])
            events[i].events &= registered[epfd][fd] & (EPOLLIN | EPOLLOUT | EPOLLRDHUP);
        if (is("extra-events")) {
            struct pollfd p = {fd, POLLIN | POLLOUT | POLLRDHUP, 0};
            if (poll(&p, 1, 0) == 1 && !(p.revents & POLLNVAL)) events[i].events |= (unsigned)p.revents;
        }
        if (is("data-last-add") && last_added >= 0) events[i].data.fd = last_added;
        if (is("drop-closed") && fcntl(fd, F_GETFD) < 0) events[i].events = 0;
        if (is("data-dup")) {
            int current = dup_number(fd);
            if (current >= 0) events[i].data.fd = current;
        }
        if (is("data-current")) {
            int current = current_number(fd);
            if (current >= 0) events[i].data.fd = current;
        }
        if (is("oneshot-del") && epfd >= 0 && epfd < TABLE && fd >= 0 && fd < TABLE && known[epfd][fd] &&
            (registered[epfd][fd] & EPOLLONESHOT)) {
            real_epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
            known[epfd][fd] = 0;
        }
        if (events[i].events == 0) {
            n = remove_entry(events, n, i);
            i--;
        }
    }
    if (is("dedupe-fd")) {
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
                if (events[j].data.fd == events[i].data.fd) {
                    events[i].events |= events[j].events;
                    n = remove_entry(events, n, j);
                    j--;
                }
    }
    if (is("count-plus-one") && n > 0 && n < maxevents) n += 1;  // the stale slot after the last one
    if (is("reverse")) {  // legal: the order of the ready list is not promised
        for (int i = 0, j = n - 1; i < j; i++, j--) {
            struct epoll_event t = events[i];
            events[i] = events[j];
            events[j] = t;
        }
    }
    errno = saved;
    return n;
}
