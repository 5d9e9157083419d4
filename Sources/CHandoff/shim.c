#define _GNU_SOURCE
#include "CHandoff.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <linux/kcmp.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/un.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/vfs.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

// A message of one data vector (`vector` holds it), everything else zero: what both sends below start from.
static inline void one_vector_message(struct msghdr *message, struct iovec *vector, const void *data, size_t length) {
    memset(message, 0, sizeof *message);
    vector->iov_base = (void *)data;
    vector->iov_len = length;
    message->msg_iov = vector;
    message->msg_iovlen = 1;
}

// CMSG_FIRSTHDR, CMSG_LEN, CMSG_SPACE and CMSG_DATA are macros Swift does not import. The one send: `name`
// (when not NULL) is sendto's address, for handoff_sendto_fds. Inlined into its callers: a loop's send then
// pays no second call, and the compiler drops what a NULL `name` never needs.
static inline __attribute__((always_inline)) ssize_t send_fds_to(int socket, const struct sockaddr_storage *name, socklen_t name_length, const int *fds,
                           int count, const void *data, size_t length, int flags) {
    struct msghdr message;
    struct iovec vector;
    one_vector_message(&message, &vector, data, length);
    message.msg_name = (void *)name;
    message.msg_namelen = name == NULL ? 0 : name_length;
    size_t space = count > 0 ? CMSG_SPACE(sizeof(int) * (size_t)count) : 0;
    char stack_buffer[CMSG_SPACE(sizeof(int) * 256)];
    // Large rights lists (beyond SCM_MAX_FD, to exercise the kernel's EINVAL) get a heap buffer.
    char *control = space <= sizeof stack_buffer ? stack_buffer : malloc(space);
    if (count > 0) {
        if (control == NULL) { errno = ENOMEM; return -1; }
        // One descriptor (a loop's usual send): a constant size, which the compiler clears without a call.
        if (count == 1) memset(control, 0, CMSG_SPACE(sizeof(int)));
        else memset(control, 0, space);
        message.msg_control = control;
        message.msg_controllen = space;
        struct cmsghdr *header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)count);
        // One descriptor: a constant-size copy (a store), not a call to memcpy.
        if (count == 1) memcpy(CMSG_DATA(header), fds, sizeof(int));
        else memcpy(CMSG_DATA(header), fds, sizeof(int) * (size_t)count);
    }
    ssize_t sent = sendmsg(socket, &message, flags);
    if (control != stack_buffer) {
        int saved = errno;
        free(control);
        errno = saved;
    }
    return sent;
}

ssize_t handoff_send_fds(int socket, const int *fds, int count, const void *data, size_t length, int flags) {
    return send_fds_to(socket, NULL, 0, fds, count, data, length, flags);
}

// Hand-built messages (`send_headers`): several headers are laid out with CMSG_SPACE and CMSG_NXTHDR, and
// a raw cmsg_len is written into struct cmsghdr - macros and a layout Swift cannot express.
ssize_t handoff_send_headers(int socket, const int *fds, const int *counts, int nheaders, long cmsg_len,
                             const void *data, size_t length, int flags) {
    struct msghdr message;
    struct iovec vector;
    one_vector_message(&message, &vector, data, length);
    size_t space = 0;
    for (int i = 0; i < nheaders; i++) space += CMSG_SPACE(sizeof(int) * (size_t)counts[i]);
    char *control = NULL;
    if (nheaders > 0) {
        control = calloc(1, space);
        if (control == NULL) { errno = ENOMEM; return -1; }
        message.msg_control = control;
        message.msg_controllen = space;
        // Laid out by hand at CMSG_SPACE steps: CMSG_NXTHDR would follow a raw, short cmsg_len.
        size_t offset = 0;
        const int *next = fds;
        for (int i = 0; i < nheaders; i++) {
            struct cmsghdr *header = (struct cmsghdr *)(control + offset);
            header->cmsg_level = SOL_SOCKET;
            header->cmsg_type = SCM_RIGHTS;
            header->cmsg_len = (i == 0 && cmsg_len >= 0) ? (size_t)cmsg_len : CMSG_LEN(sizeof(int) * (size_t)counts[i]);
            memcpy(CMSG_DATA(header), next, sizeof(int) * (size_t)counts[i]);
            next += counts[i];
            offset += CMSG_SPACE(sizeof(int) * (size_t)counts[i]);
        }
    }
    ssize_t sent = sendmsg(socket, &message, flags);
    int saved = errno;
    free(control);
    errno = saved;
    return sent;
}

// Same reason as handoff_send_fds: the control buffer is sized (CMSG_SPACE) and walked with CMSG macros.
ssize_t handoff_recv_fds(int socket, void *data, size_t length, int room, int flags,
                         int *fds, int fds_capacity, int *fds_count, int *message_flags) {
    size_t space = room > 0 ? CMSG_SPACE(sizeof(int) * (size_t)room) : 0;
    return handoff_recv_message_exact(socket, data, length, space, flags, fds, fds_capacity, fds_count,
                                      message_flags, NULL, NULL);
}

// A control buffer of exactly `space` bytes (`recv`'s `control`; 0: none).
ssize_t handoff_recv_fds_exact(int socket, void *data, size_t length, size_t space, int flags,
                               int *fds, int fds_capacity, int *fds_count, int *message_flags) {
    return handoff_recv_message_exact(socket, data, length, space, flags, fds, fds_capacity, fds_count,
                                      message_flags, NULL, NULL);
}

ssize_t handoff_recv_message(int socket, void *data, size_t length, int room, int flags,
                             int *fds, int fds_capacity, int *fds_count, int *message_flags,
                             int credentials[3], int *has_credentials) {
    size_t space = room > 0 ? CMSG_SPACE(sizeof(int) * (size_t)room) : 0;
    return handoff_recv_message_exact(socket, data, length, space, flags, fds, fds_capacity, fds_count,
                                      message_flags, credentials, has_credentials);
}

// SCM_CREDENTIALS and SCM_PIDFD (6.5; 4 in <linux/socket.h>, missing from older headers) besides SCM_RIGHTS.
#ifndef SCM_PIDFD
#define SCM_PIDFD 4
#endif
// The one receive: a control buffer of exactly `space` bytes (0: none), walked with the CMSG macros, which
// Swift cannot call (CMSG_FIRSTHDR, CMSG_NXTHDR and CMSG_DATA are macros over struct cmsghdr's alignment).
// A header the kernel cut (MSG_CTRUNC) carries only the descriptors its cmsg_len covers. Inlined into its
// callers, as send_fds_to is.
static inline __attribute__((always_inline)) ssize_t receive_message(int socket, struct sockaddr_storage *name, socklen_t *name_length, void *data,
                               size_t length, size_t space, int flags, int *fds, int fds_capacity, int *fds_count,
                               int *message_flags, int credentials[3], int *has_credentials) {
    struct msghdr message;
    struct iovec vector;
    memset(&message, 0, sizeof message);
    vector.iov_base = data;
    vector.iov_len = length;
    message.msg_iov = &vector;
    message.msg_iovlen = 1;
    message.msg_name = name;
    message.msg_namelen = name == NULL ? 0 : *name_length;
    char stack_buffer[CMSG_SPACE(sizeof(int) * 256)];
    // The kernel accepts control buffers far larger than SCM_MAX_FD descriptors: so must the agent.
    char *control = space <= sizeof stack_buffer ? stack_buffer : malloc(space);
    if (control == NULL) { errno = ENOMEM; return -1; }
    if (space > 0) {
        // Not cleared: the kernel sets msg_controllen to what it wrote, and only that is walked (a loop calls
        // this every iteration).
        message.msg_control = control;
        message.msg_controllen = space;
    }
    *fds_count = 0;
    if (has_credentials != NULL) *has_credentials = 0;
    ssize_t received = recvmsg(socket, &message, flags);
    *message_flags = received >= 0 ? message.msg_flags : 0;
    if (name != NULL) *name_length = received >= 0 ? message.msg_namelen : 0;
    if (received >= 0 && space > 0) {
        for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header != NULL;
             header = CMSG_NXTHDR(&message, header)) {
            if (header->cmsg_level != SOL_SOCKET) continue;
            if (header->cmsg_type == SCM_CREDENTIALS) {
                // A cut message (MSG_CTRUNC) is not a struct ucred.
                if (has_credentials == NULL || header->cmsg_len < CMSG_LEN(sizeof(struct ucred))) continue;
                struct ucred ucred;
                memcpy(&ucred, CMSG_DATA(header), sizeof ucred);
                credentials[0] = ucred.pid;
                credentials[1] = (int)ucred.uid;
                credentials[2] = (int)ucred.gid;
                *has_credentials = 1;
                continue;
            }
            if (header->cmsg_type != SCM_RIGHTS && header->cmsg_type != SCM_PIDFD) continue;
            size_t n = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            int *incoming = (int *)CMSG_DATA(header);
            for (size_t i = 0; i < n; i++) {
                // SCM_PIDFD carries a negative errno when no pidfd could be made.
                if (incoming[i] >= 0 && *fds_count < fds_capacity) fds[(*fds_count)++] = incoming[i];
            }
        }
    }
    if (control != stack_buffer) {
        int saved = errno;
        free(control);
        errno = saved;
    }
    return received;
}

ssize_t handoff_recv_message_exact(int socket, void *data, size_t length, size_t space, int flags,
                                   int *fds, int fds_capacity, int *fds_count, int *message_flags,
                                   int credentials[3], int *has_credentials) {
    return receive_message(socket, NULL, NULL, data, length, space, flags, fds, fds_capacity, fds_count,
                           message_flags, credentials, has_credentials);
}

size_t handoff_control_space(int room) {
    return room > 0 ? CMSG_SPACE(sizeof(int) * (size_t)room) : 0;
}

int handoff_recv_capacity(int room) {
    if (room <= 0) return 0;
    return (int)((CMSG_SPACE(sizeof(int) * (size_t)room) - sizeof(struct cmsghdr)) / sizeof(int));
}

// dup3, pipe2 and memfd_create are declared by glibc only under _GNU_SOURCE.
int handoff_dup3(int oldfd, int newfd, int flags) { return dup3(oldfd, newfd, flags); }
int handoff_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }
int handoff_memfd_create(const char *name, unsigned int flags) { return memfd_create(name, flags); }
int handoff_eventfd(unsigned int initial, int flags) { return eventfd(initial, flags); }
int handoff_signalfd(unsigned long long mask, int flags) {
    sigset_t set;
    sigemptyset(&set);
    for (int signal = 1; signal <= 64; signal++)
        if (mask & (1ULL << (signal - 1))) sigaddset(&set, signal);
    return signalfd(-1, &set, flags);
}
int handoff_timerfd_create(int clock, int flags) { return timerfd_create(clock, flags); }
int handoff_inotify_init1(int flags) { return inotify_init1(flags); }
long handoff_statfs_type(const char *path) {
    struct statfs info;
    return statfs(path, &info) == 0 ? (long)info.f_type : -1;
}
// close_range: raw syscall, so it also works with a glibc older than 2.34.
int handoff_close_range(unsigned int first, unsigned int last, unsigned int flags) {
    return (int)syscall(SYS_close_range, first, last, flags);
}

// fcntl is variadic; Swift cannot call C variadics.
int handoff_fcntl_int(int fd, int command, int argument) { return fcntl(fd, command, argument); }

// ioctl is variadic too.
int handoff_ioctl_int(int fd, unsigned long request, int *value) { return ioctl(fd, request, value); }

// kcmp, pidfd_open, pidfd_getfd, pidfd_send_signal and waitid(P_PIDFD) have no glibc wrapper here.
int handoff_kcmp_file(pid_t pid1, pid_t pid2, int fd1, int fd2) {
    return (int)syscall(SYS_kcmp, pid1, pid2, KCMP_FILE, (unsigned long)fd1, (unsigned long)fd2);
}
int handoff_pidfd_open(pid_t pid, unsigned int flags) { return (int)syscall(SYS_pidfd_open, pid, flags); }
int handoff_pidfd_getfd(int pidfd, int targetfd, unsigned int flags) {
    return (int)syscall(SYS_pidfd_getfd, pidfd, targetfd, flags);
}
int handoff_pidfd_send_signal(int pidfd, int signal) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, signal, NULL, 0);
}
int handoff_waitid_pidfd(int pidfd, int options, int *status) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int result = waitid((idtype_t)P_PIDFD, (id_t)pidfd, &info, WEXITED | options);
    if (result == 0) {
        if (info.si_pid == 0) { *status = -1; return 0; }  // WNOHANG and not exited yet
        if (info.si_code == CLD_EXITED) *status = (info.si_status & 0xff) << 8;
        else *status = info.si_status & 0x7f;  // killed or dumped: the signal number
    }
    return result;
}

// prctl is variadic.
int handoff_set_parent_death_signal(int signal) { return prctl(PR_SET_PDEATHSIG, signal, 0, 0, 0); }
int handoff_set_child_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }
int handoff_set_dumpable(int dumpable) { return prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0); }
int handoff_get_dumpable(void) { return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0); }

// W* are macros.
int handoff_wifexited(int status) { return WIFEXITED(status); }
int handoff_wexitstatus(int status) { return WEXITSTATUS(status); }
int handoff_wifsignaled(int status) { return WIFSIGNALED(status); }
int handoff_wtermsig(int status) { return WTERMSIG(status); }

// libcap is a C library with opaque handles.
int handoff_has_capability(int capability) {
    cap_t caps = cap_get_proc();
    if (caps == NULL) return -1;
    cap_flag_value_t value = CAP_CLEAR;
    int result = cap_get_flag(caps, (cap_value_t)capability, CAP_EFFECTIVE, &value);
    cap_free(caps);
    if (result != 0) return -1;
    return value == CAP_SET ? 1 : 0;
}

int handoff_drop_capability(int capability) {
    cap_t caps = cap_get_proc();
    if (caps == NULL) return -1;
    cap_value_t list[1] = {(cap_value_t)capability};
    int result = cap_set_flag(caps, CAP_EFFECTIVE, 1, list, CAP_CLEAR);
    if (result == 0) result = cap_set_flag(caps, CAP_PERMITTED, 1, list, CAP_CLEAR);
    if (result == 0) result = cap_set_flag(caps, CAP_INHERITABLE, 1, list, CAP_CLEAR);
    if (result == 0) result = cap_set_proc(caps);
    int saved = errno;
    cap_free(caps);
    errno = saved;
    return result;
}

// posix_spawn_file_actions_addclosefrom_np and addchdir_np need _GNU_SOURCE; the file actions and
// attributes are built with several calls whose failure paths are simplest to keep together in C.
//
// The one spawn every helper below uses: descriptor i of the child is sources[i] (-1: /dev/null, read-only),
// for i < count, and nothing else is open; default signal dispositions and an empty mask whatever the runner
// blocked; optionally in a process group of its own and in `cwd`.
static int spawn_with(const char *path, char *const argv[], char *const envp[], const int *given, int count,
                      int own_group, const char *cwd, pid_t *pid) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int result = posix_spawn_file_actions_init(&actions);
    if (result != 0) return result;
    result = posix_spawnattr_init(&attributes);
    if (result != 0) { posix_spawn_file_actions_destroy(&actions); return result; }
    // Sources numbered below `count` are copied above it first, so that no dup2 clobbers a later source and
    // no dup2(n, n) leaves close-on-exec set.
    int sources[4] = {-1, -1, -1, -1};
    int copies[4] = {-1, -1, -1, -1};
    for (int i = 0; i < count && result == 0; i++) {
        sources[i] = given[i];
        if (given[i] >= 0 && given[i] < count) {
            copies[i] = fcntl(given[i], F_DUPFD_CLOEXEC, 10);
            if (copies[i] < 0) result = errno; else sources[i] = copies[i];
        }
    }
    for (int i = 0; i < count && result == 0; i++) {
        result = sources[i] < 0 ? posix_spawn_file_actions_addopen(&actions, i, "/dev/null", O_RDONLY, 0)
                                : posix_spawn_file_actions_adddup2(&actions, sources[i], i);
    }
    if (result == 0) result = posix_spawn_file_actions_addclosefrom_np(&actions, count);
    if (result == 0 && cwd != NULL) result = posix_spawn_file_actions_addchdir_np(&actions, cwd);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | (own_group ? POSIX_SPAWN_SETPGROUP : 0);
    if (result == 0) result = posix_spawnattr_setsigmask(&attributes, &none);
    if (result == 0) result = posix_spawnattr_setsigdefault(&attributes, &all);
    if (result == 0 && own_group) result = posix_spawnattr_setpgroup(&attributes, 0);
    if (result == 0) result = posix_spawnattr_setflags(&attributes, flags);
    if (result == 0) result = posix_spawn(pid, path, &actions, &attributes, argv, envp);
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    for (int i = 0; i < count; i++) if (copies[i] >= 0) close(copies[i]);
    return result;
}

int handoff_spawn_clean(const char *path, char *const argv[], char *const envp[], int control_fd,
                        int output_fd, const char *cwd, pid_t *pid) {
    int sources[4] = {-1, output_fd, output_fd, control_fd};
    return spawn_with(path, argv, envp, sources, 4, 0, cwd, pid);
}

int handoff_flush_stdout(void) {
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) return errno != 0 ? errno : EIO;
    return 0;
}

int handoff_read_kernel_log(char *buffer, int length) {
    return (int)syscall(SYS_syslog, 3, buffer, length);
}

int handoff_spawn_helper(const char *path, char *const argv[], char *const envp[], int stdin_fd, int stdout_fd,
                         int stderr_fd, const char *cwd, pid_t *pid) {
    int sources[3] = {stdin_fd, stdout_fd, stderr_fd};
    return spawn_with(path, argv, envp, sources, 3, 1, cwd, pid);
}

int handoff_spawn_wrapper(const char *path, char *const argv[], char *const envp[], const char *cwd, pid_t *pid) {
    return handoff_spawn_helper(path, argv, envp, -1, 1, 2, cwd, pid);
}

// fallocate and FALLOC_FL_* need _GNU_SOURCE.
int handoff_punch_hole(int fd, int64_t offset, int64_t length) {
    return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length);
}

// sigset_t is built with macros (sigemptyset/sigaddset may be macros) and pthread_sigmask needs them.
// The set the three functions below block, unblock and wait for: SIGINT, SIGTERM and SIGHUP.
static sigset_t termination_signals(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    return set;
}

int handoff_block_termination_signals(void) {
    sigset_t set = termination_signals();
    return pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int handoff_unblock_termination_signals(void) {
    sigset_t set = termination_signals();
    return pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

int handoff_wait_termination_signal(void) {
    sigset_t set = termination_signals();
    int signal = 0;
    if (sigwait(&set, &signal) != 0) return -1;
    return signal;
}

// cap_from_name belongs to libcap.
int handoff_capability_from_name(const char *name) {
    cap_value_t value;
    if (cap_from_name(name, &value) != 0) return -1;
    return (int)value;
}

// `name_length` bytes of `name`: an abstract name may hold NUL bytes (the kernel compares all addr_len bytes),
// which strlen would cut (found porting kselftest af_unix tests: two names differing after a NUL collided).
static socklen_t handoff_address(int kind, const char *name, size_t name_length, int port, struct sockaddr_storage *storage) {
    memset(storage, 0, sizeof *storage);
    if (kind == HANDOFF_ADDRESS_TCP) {
        struct sockaddr_in *in = (struct sockaddr_in *)storage;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return sizeof *in;
    }
    struct sockaddr_un *un = (struct sockaddr_un *)storage;
    un->sun_family = AF_UNIX;
    size_t length = name_length;
    if (kind == HANDOFF_ADDRESS_ABSTRACT) {
        if (length + 1 > sizeof un->sun_path) return 0;
        memcpy(un->sun_path + 1, name, length);  // sun_path[0] == 0: the abstract namespace
        return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + length);
    }
    if (length + 1 > sizeof un->sun_path) return 0;
    memcpy(un->sun_path, name, length);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + length + 1);
}

int handoff_listen(int kind, const char *name, size_t name_length, int port, int type, int backlog, int *bound_port) {
    struct sockaddr_storage storage;
    socklen_t length = handoff_address(kind, name, name_length, port, &storage);
    if (length == 0) { errno = ENAMETOOLONG; return -1; }
    int fd = socket(kind == HANDOFF_ADDRESS_TCP ? AF_INET : AF_UNIX, type, 0);
    if (fd < 0) return -1;
    if (kind == HANDOFF_ADDRESS_TCP) {
        int on = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    }
    if (bind(fd, (struct sockaddr *)&storage, length) != 0 || listen(fd, backlog) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    *bound_port = 0;
    if (kind == HANDOFF_ADDRESS_TCP) {
        struct sockaddr_in bound;
        socklen_t bound_length = sizeof bound;
        if (getsockname(fd, (struct sockaddr *)&bound, &bound_length) == 0) *bound_port = ntohs(bound.sin_port);
    }
    return fd;
}

int handoff_connect(int kind, const char *name, size_t name_length, int port, int type) {
    struct sockaddr_storage storage;
    socklen_t length = handoff_address(kind, name, name_length, port, &storage);
    if (length == 0) { errno = ENAMETOOLONG; return -1; }
    int nonblocking = type & SOCK_NONBLOCK;
    int fd = socket(kind == HANDOFF_ADDRESS_TCP ? AF_INET : AF_UNIX, type & ~SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    int result;
    do { result = connect(fd, (struct sockaddr *)&storage, length); } while (result != 0 && errno == EINTR);
    if (result != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    if (nonblocking) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

int handoff_accept4(int socket, int flags) { return accept4(socket, NULL, NULL, flags); }

int handoff_clone_files(void) {
    return (int)syscall(SYS_clone, CLONE_FILES | SIGCHLD, 0, NULL, NULL, 0);
}

int handoff_unshare_files(void) { return unshare(CLONE_FILES); }
int handoff_unshare_net(void) { return unshare(CLONE_NEWNET); }

// struct epoll_event is packed on x86-64 (__EPOLL_PACKED), which Swift's importer does not reproduce: the
// event is built here.
int handoff_epoll_create1(int flags) { return epoll_create1(flags); }
int handoff_epoll_ctl(int epfd, int op, int fd, unsigned int events) {
    struct epoll_event event;
    memset(&event, 0, sizeof event);
    event.events = events;
    event.data.fd = fd;
    return epoll_ctl(epfd, op, fd, op == EPOLL_CTL_DEL ? NULL : &event);
}
int handoff_epoll_wait(int epfd, int max, int timeout, int *fds, unsigned int *events) {
    // At most 1024 (ReadyRegistration.maximumReported; the decoder refuses more); 0 and negative counts go
    // to the kernel as they are (EINVAL).
    struct epoll_event ready[1024];
    if (max > 1024) {
        errno = EINVAL;
        return -1;
    }
    int count = epoll_wait(epfd, ready, max, timeout);
    for (int i = 0; i < count; i++) {
        fds[i] = ready[i].data.fd;
        events[i] = ready[i].events;
    }
    return count;
}

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
void handoff_hypervisor_signature(char signature[13]) {
    unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
    memset(signature, 0, 13);
    __cpuid(1, eax, ebx, ecx, edx);
    if (!(ecx & (1u << 31))) return;
    __cpuid(0x40000000, eax, ebx, ecx, edx);
    memcpy(signature, &ebx, 4);
    memcpy(signature + 4, &ecx, 4);
    memcpy(signature + 8, &edx, 4);
}
#else
void handoff_hypervisor_signature(char signature[13]) { memset(signature, 0, 13); }
#endif

// bind(2) of an existing socket to a unix path or abstract name: in C for the same reason as
// handoff_listen (struct sockaddr_un and its length arithmetic).
int handoff_bind(int socket, int kind, const char *name, size_t name_length, int port) {
    struct sockaddr_storage storage;
    socklen_t length = handoff_address(kind, name, name_length, port, &storage);
    if (length == 0) { errno = ENAMETOOLONG; return -1; }
    return bind(socket, (struct sockaddr *)&storage, length);
}

// sendmsg(2) with msg_name and the descriptors as one SCM_RIGHTS message: send_fds_to with handoff_address's
// sockaddr_un.
ssize_t handoff_sendto_fds(int socket, int kind, const char *name, size_t name_length, int port, const int *fds,
                           int count, const void *data, size_t length, int flags) {
    struct sockaddr_storage storage;
    socklen_t address_length = handoff_address(kind, name, name_length, port, &storage);
    if (address_length == 0) { errno = ENAMETOOLONG; return -1; }
    return send_fds_to(socket, &storage, address_length, fds, count, data, length, flags);
}

// recvmsg(2) with msg_name: receive_message (the CMSG walk) plus the sender's sun_path bytes (msg_namelen minus
// sun_family; 0 for an unbound sender) in `from` and *from_length.
ssize_t handoff_recvfrom_message(int socket, void *data, size_t length, int room, int flags,
                                 int *fds, int fds_capacity, int *fds_count, int *message_flags,
                                 int credentials[3], int *has_credentials, char *from, int *from_length) {
    struct sockaddr_storage storage;
    memset(&storage, 0, sizeof storage);
    socklen_t name_length = sizeof storage;
    size_t space = room > 0 ? CMSG_SPACE(sizeof(int) * (size_t)room) : 0;
    *from_length = 0;
    ssize_t received = receive_message(socket, &storage, &name_length, data, length, space, flags, fds, fds_capacity,
                                       fds_count, message_flags, credentials, has_credentials);
    if (received >= 0 && name_length > offsetof(struct sockaddr_un, sun_path)) {
        size_t path = name_length - offsetof(struct sockaddr_un, sun_path);
        if (path > sizeof(((struct sockaddr_un *)0)->sun_path)) path = sizeof(((struct sockaddr_un *)0)->sun_path);
        memcpy(from, ((struct sockaddr_un *)&storage)->sun_path, path);
        *from_length = (int)path;
    }
    return received;
}

int handoff_pin_thread_to_nth_cpu(int n) {
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return -1;
    int count = CPU_COUNT(&allowed);
    if (count <= 1 || n < 0) return 0;
    int wanted = n % count;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &allowed)) continue;
        if (wanted-- > 0) continue;
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        return sched_setaffinity(0, sizeof one, &one);
    }
    return 0;
}
