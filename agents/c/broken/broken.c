// libhandoff-broken.so: a deliberately broken C library, for showing that handoff catches a library that
// misbehaves under a program (the C agent calls the library's wrappers, so a preloaded library is what it
// tests). LD_PRELOAD it into handoff-agent-c; each wrapper finds the real function with dlsym(RTLD_NEXT)
// and misbehaves only when its keyword is listed in HANDOFF_BROKEN (comma-separated, or `all`):
//
//   recvmsg-cloexec  recvmsg sets close-on-exec on every descriptor it received (as if MSG_CMSG_CLOEXEC)
//   dup2-cloexec     dup2 leaves the new descriptor close-on-exec (as dup3(O_CLOEXEC) would)
//   fork-leak        fork opens /dev/null in the child: a descriptor nobody asked for
//   sendmsg-drop     sendmsg drops the last descriptor of an SCM_RIGHTS list of two or more
//   pipe2-nocloexec  pipe2 ignores O_CLOEXEC (pipe2 emulated with pipe, as old libraries did)
//   close-noop       close says 0 but closes nothing (descriptors above 2)
//   dontwait-ignore  recvmsg drops MSG_DONTWAIT: it blocks where the call should fail with EAGAIN
//   oneshot-ignore   epoll_ctl drops EPOLLONESHOT: a one-shot registration is reported on every wait
//
// Each is quiet: the call succeeds and returns what the real one would, so only an outside view of the
// descriptor table (handoff's oracle) can tell.

#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
    RECVMSG_CLOEXEC = 1 << 0,
    DUP2_CLOEXEC = 1 << 1,
    FORK_LEAK = 1 << 2,
    SENDMSG_DROP = 1 << 3,
    PIPE2_NOCLOEXEC = 1 << 4,
    CLOSE_NOOP = 1 << 5,
    DONTWAIT_IGNORE = 1 << 6,
    ONESHOT_IGNORE = 1 << 7,
};

static const struct {
    const char *name;
    int bit;
} behaviours[] = {
    {"recvmsg-cloexec", RECVMSG_CLOEXEC}, {"dup2-cloexec", DUP2_CLOEXEC}, {"fork-leak", FORK_LEAK},
    {"sendmsg-drop", SENDMSG_DROP},       {"pipe2-nocloexec", PIPE2_NOCLOEXEC}, {"close-noop", CLOSE_NOOP},
    {"dontwait-ignore", DONTWAIT_IGNORE}, {"oneshot-ignore", ONESHOT_IGNORE},
};

static int broken = -1;  // the selected behaviours, read once

static int is_broken(int bit) {
    if (broken < 0) {
        broken = 0;
        const char *list = getenv("HANDOFF_BROKEN");
        for (const char *word = list; word != NULL && *word != '\0';) {
            const char *comma = strchr(word, ',');
            size_t length = comma ? (size_t)(comma - word) : strlen(word);
            for (size_t i = 0; i < sizeof behaviours / sizeof behaviours[0]; i++) {
                if ((length == 3 && strncmp(word, "all", 3) == 0) ||
                    (strlen(behaviours[i].name) == length && strncmp(word, behaviours[i].name, length) == 0))
                    broken |= behaviours[i].bit;
            }
            word = comma ? comma + 1 : NULL;
        }
    }
    return (broken & bit) != 0;
}

// The next definition of `name` (the real library's), looked up once per wrapper.
#define REAL(name)                      \
    static __typeof__(&name) real_##name; \
    if (real_##name == NULL) real_##name = (__typeof__(&name))dlsym(RTLD_NEXT, #name)

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event) {
    REAL(epoll_ctl);
    if (!is_broken(ONESHOT_IGNORE) || event == NULL) return real_epoll_ctl(epfd, op, fd, event);
    struct epoll_event copy = *event;
    copy.events &= ~(unsigned)EPOLLONESHOT;
    return real_epoll_ctl(epfd, op, fd, &copy);
}

ssize_t recvmsg(int fd, struct msghdr *message, int flags) {
    REAL(recvmsg);
    if (is_broken(DONTWAIT_IGNORE)) flags &= ~MSG_DONTWAIT;
    ssize_t received = real_recvmsg(fd, message, flags);
    if (received < 0 || !is_broken(RECVMSG_CLOEXEC) || message->msg_controllen == 0) return received;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(message); header != NULL; header = CMSG_NXTHDR(message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int number;
            memcpy(&number, CMSG_DATA(header) + i * sizeof(int), sizeof number);
            fcntl(number, F_SETFD, FD_CLOEXEC);
        }
    }
    return received;
}

int dup2(int oldfd, int newfd) {
    REAL(dup2);
    int result = real_dup2(oldfd, newfd);
    if (result >= 0 && is_broken(DUP2_CLOEXEC)) fcntl(result, F_SETFD, FD_CLOEXEC);
    return result;
}

pid_t fork(void) {
    REAL(fork);
    pid_t child = real_fork();
    if (child == 0 && is_broken(FORK_LEAK)) (void)open("/dev/null", O_RDONLY);
    return child;
}

ssize_t sendmsg(int fd, const struct msghdr *message, int flags) {
    REAL(sendmsg);
    struct cmsghdr *header = message->msg_controllen > 0 ? CMSG_FIRSTHDR(message) : NULL;
    if (!is_broken(SENDMSG_DROP) || header == NULL || header->cmsg_level != SOL_SOCKET ||
        header->cmsg_type != SCM_RIGHTS || header->cmsg_len < CMSG_LEN(2 * sizeof(int)))
        return real_sendmsg(fd, message, flags);
    // One descriptor fewer: the header says so, and the buffer shrinks with it.
    size_t saved_length = header->cmsg_len, saved_control = message->msg_controllen;
    struct msghdr *writable = (struct msghdr *)message;
    header->cmsg_len -= sizeof(int);
    writable->msg_controllen = CMSG_SPACE(header->cmsg_len - CMSG_LEN(0));
    ssize_t sent = real_sendmsg(fd, message, flags);
    header->cmsg_len = saved_length;
    writable->msg_controllen = saved_control;
    return sent;
}

int pipe2(int fds[2], int flags) {
    REAL(pipe2);
    if (is_broken(PIPE2_NOCLOEXEC)) flags &= ~O_CLOEXEC;
    return real_pipe2(fds, flags);
}

int close(int fd) {
    REAL(close);
    if (fd > 2 && is_broken(CLOSE_NOOP)) return 0;
    return real_close(fd);
}
