#ifndef CHANDOFF_H
#define CHANDOFF_H

// The C side of handoff. Every function here exists because Swift cannot express it directly:
// a function-like macro (CMSG_*, W*), a call that glibc declares only under _GNU_SOURCE (which Swift's
// Glibc module does not define), a raw syscall() without a glibc wrapper, a variadic call (prctl, fcntl),
// or libcap. Everything else is written in Swift.

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---- SCM_RIGHTS (CMSG_* are macros) ----

/// sendmsg(2) with `count` descriptors in one SCM_RIGHTS control message and `length` bytes of data.
/// `count == 0` sends no control message at all. Returns sendmsg's result; errno is preserved.
ssize_t handoff_send_fds(int socket, const int *fds, int count, const void *data, size_t length, int flags);

/// sendmsg(2) with the descriptors split over `nheaders` SCM_RIGHTS headers of `counts[i]` each, back to back
/// (CMSG_SPACE apart, padding zeroed); `cmsg_len` >= 0 is written as the first header's cmsg_len instead of
/// CMSG_LEN. No header: no control buffer. Returns sendmsg's result; errno is preserved.
ssize_t handoff_send_headers(int socket, const int *fds, const int *counts, int nheaders, long cmsg_len,
                             const void *data, size_t length, int flags);

/// recvmsg(2) with a control buffer of CMSG_SPACE(room * sizeof(int)) bytes, the way a C program sizes it
/// (room 0 means no control buffer at all). Received descriptors are written to `fds` (capacity
/// `fds_capacity`) and counted in `*fds_count`; `*message_flags` receives msg_flags (MSG_CTRUNC, MSG_TRUNC).
ssize_t handoff_recv_fds(int socket, void *data, size_t length, int room, int flags,
                         int *fds, int fds_capacity, int *fds_count, int *message_flags);
/// recvmsg with a control buffer of exactly `space` bytes (0: none); handoff_recv_fds sizes it from `room`.
ssize_t handoff_recv_fds_exact(int socket, void *data, size_t length, size_t space, int flags,
                               int *fds, int fds_capacity, int *fds_count, int *message_flags);

/// handoff_recv_fds that also reports SCM_PIDFD descriptors (after the SCM_RIGHTS ones, the kernel's order)
/// and a complete SCM_CREDENTIALS message (pid, uid, gid; `*has_credentials` 1). In C: CMSG macros.
ssize_t handoff_recv_message(int socket, void *data, size_t length, int room, int flags,
                             int *fds, int fds_capacity, int *fds_count, int *message_flags,
                             int credentials[3], int *has_credentials);
/// handoff_recv_message with a control buffer of exactly `space` bytes (0: none).
ssize_t handoff_recv_message_exact(int socket, void *data, size_t length, size_t space, int flags,
                                   int *fds, int fds_capacity, int *fds_count, int *message_flags,
                                   int credentials[3], int *has_credentials);

/// The number of descriptors the kernel can install for a control buffer sized for `room` descriptors:
/// (CMSG_SPACE(room * sizeof(int)) - sizeof(struct cmsghdr)) / sizeof(int). CMSG_SPACE pads, so this can
/// exceed `room`; the reference model uses it to predict exactly what recvmsg installs.
int handoff_recv_capacity(int room);
/// CMSG_SPACE(room * sizeof(int)), 0 for room 0: the control buffer handoff_recv_fds gives `room`.
size_t handoff_control_space(int room);

// ---- calls glibc declares only under _GNU_SOURCE ----
int handoff_dup3(int oldfd, int newfd, int flags);
int handoff_pipe2(int fds[2], int flags);
int handoff_close_range(unsigned int first, unsigned int last, unsigned int flags);
int handoff_memfd_create(const char *name, unsigned int flags);
/// eventfd is declared in <sys/eventfd.h>, which Swift's Glibc module does not include.
int handoff_eventfd(unsigned int initial, int flags);
/// signalfd, timerfd_create and inotify_init1 are declared in <sys/signalfd.h>, <sys/timerfd.h> and
/// <sys/inotify.h>, which Swift's Glibc module does not include; sigset_t is built with sigaddset, which
/// Swift cannot call (a macro on some libcs). `mask` has bit (signal - 1) per signal.
int handoff_signalfd(unsigned long long mask, int flags);
int handoff_timerfd_create(int clock, int flags);
int handoff_inotify_init1(int flags);
/// statfs's f_type, or -1: struct statfs comes from <sys/vfs.h>, which Swift's Glibc module does not include.
long handoff_statfs_type(const char *path);

// ---- fcntl is variadic ----
int handoff_fcntl_int(int fd, int command, int argument);
/// ioctl(fd, request, &value): ioctl is variadic, which Swift cannot call. FIONBIO reads `*value`,
/// FIONREAD writes it, FIOCLEX and FIONCLEX ignore it.
int handoff_ioctl_int(int fd, unsigned long request, int *value);

// ---- syscalls without a glibc wrapper in this glibc ----
int handoff_kcmp_file(pid_t pid1, pid_t pid2, int fd1, int fd2);
int handoff_pidfd_open(pid_t pid, unsigned int flags);
int handoff_pidfd_getfd(int pidfd, int targetfd, unsigned int flags);
int handoff_pidfd_send_signal(int pidfd, int signal);
/// waitid(P_PIDFD, pidfd, ..., WEXITED | options); returns 0 and the wait status in *status.
int handoff_waitid_pidfd(int pidfd, int options, int *status);

// ---- prctl is variadic ----
int handoff_set_parent_death_signal(int signal);
int handoff_set_child_subreaper(void);

/// Pins the calling thread to the n-th CPU (modulo their count) of those it may run on: a suite worker and
/// the agents it spawns (which inherit the mask) then wake each other on one CPU. In C for cpu_set_t and its
/// CPU_* macros. Returns 0 (also when there is one CPU or none to choose), or -1 with errno.
int handoff_pin_thread_to_nth_cpu(int n);
int handoff_set_dumpable(int dumpable);
int handoff_get_dumpable(void);

// ---- wait status macros ----
int handoff_wifexited(int status);
int handoff_wexitstatus(int status);
int handoff_wifsignaled(int status);
int handoff_wtermsig(int status);

// ---- libcap ----
/// 1 when `capability` (e.g. CAP_SYS_PTRACE = 19) is in the effective set, 0 when not, -1 on error.
int handoff_has_capability(int capability);
/// Removes `capability` from the effective, permitted and inheritable sets (libcap cap_set_proc).
int handoff_drop_capability(int capability);

/// The number of a capability name such as "CAP_SYS_PTRACE" (or "cap_sys_ptrace"), -1 when unknown.
int handoff_capability_from_name(const char *name);

// ---- sockets with addresses ----
/// Address kinds for handoff_listen/handoff_connect.
enum { HANDOFF_ADDRESS_UNIX = 1, HANDOFF_ADDRESS_ABSTRACT = 2, HANDOFF_ADDRESS_TCP = 3 };

/// socket + bind + listen on a unix path, an abstract name or 127.0.0.1:port (0: ephemeral). On success
/// returns the descriptor and, for TCP, the bound port in *bound_port; on failure closes what it opened and
/// returns -1 with errno from the failing call. In C because struct sockaddr_un/sockaddr_in (abstract names
/// with a leading NUL, the socklen arithmetic, the casts) are clumsy and error-prone in Swift.
/// `name_length` bytes of `name` are the path or abstract name (an abstract name may hold NUL bytes).
int handoff_listen(int kind, const char *name, size_t name_length, int port, int type, int backlog, int *bound_port);
/// socket + connect to the same kinds of address; the socket is made non-blocking only after connecting
/// (so a TCP connect never answers EINPROGRESS). -1 with errno on failure, nothing left open.
int handoff_connect(int kind, const char *name, size_t name_length, int port, int type);
/// accept4 needs _GNU_SOURCE.
int handoff_accept4(int socket, int flags);
/// bind(2) of an existing socket to the same kinds of address; -1 ENAMETOOLONG when the name does not fit.
int handoff_bind(int socket, int kind, const char *name, size_t name_length, int port);
/// sendmsg(2) to an address (msg_name) with `count` descriptors as one SCM_RIGHTS message. In C: struct
/// sockaddr_un and the CMSG macros.
ssize_t handoff_sendto_fds(int socket, int kind, const char *name, size_t name_length, int port, const int *fds,
                           int count, const void *data, size_t length, int flags);
/// handoff_recv_message with msg_name: the sender's sun_path bytes (up to 108) in `from`, their number in
/// *from_length (0: an unbound sender).
ssize_t handoff_recvfrom_message(int socket, void *data, size_t length, int room, int flags,
                                 int *fds, int fds_capacity, int *fds_count, int *message_flags,
                                 int credentials[3], int *has_credentials, char *from, int *from_length);

// ---- descriptor tables shared between processes ----
/// clone(CLONE_FILES | SIGCHLD) with fork semantics otherwise (no new stack: without CLONE_VM the child runs
/// on its copy of the caller's). glibc has no wrapper for this form. Returns the pid, 0 in the child.
int handoff_clone_files(void);
/// unshare(CLONE_FILES) needs _GNU_SOURCE.
int handoff_unshare_files(void);
/// unshare(CLONE_NEWNET): CLONE_NEWNET is a <sched.h> macro under _GNU_SOURCE, which Swift's Glibc module lacks.
int handoff_unshare_net(void);

// ---- spawning on a clean descriptor table ----
/// posix_spawn `path` with stdin from /dev/null, stdout and stderr onto `output_fd`, `control_fd` at
/// descriptor 3 and every other descriptor closed (posix_spawn_file_actions_addclosefrom_np needs
/// _GNU_SOURCE), in working directory `cwd` (addchdir_np, also _GNU_SOURCE). The runner never forks: it is
/// multithreaded. Returns 0 and the pid in *pid, or an errno value.
int handoff_spawn_clean(const char *path, char *const argv[], char *const envp[], int control_fd,
                        int output_fd, const char *cwd, pid_t *pid);

/// syslog(SYSLOG_ACTION_READ_ALL): the kernel log's last `length` bytes (gVisor's starts "Starting gVisor...").
/// glibc's klogctl is in <sys/klog.h>, which the Swift module does not import.
int handoff_read_kernel_log(char *buffer, int length);

/// Flushes stdout and says whether everything printed reached it: 0, or the errno of the failed write (a full
/// disk, /dev/full). In C because Swift 6 refuses to touch the C global `stdout` (shared mutable state).
int handoff_flush_stdout(void);

/// posix_spawn of an environment's wrapper (`handoff run --in`: unshare, bwrap, runc, ...): handoff_spawn_helper
/// with stdin from /dev/null and the runner's stdout and stderr.
int handoff_spawn_wrapper(const char *path, char *const argv[], char *const envp[], const char *cwd, pid_t *pid);

/// posix_spawn a helper program (qemu for `run --kernel`) with descriptors 0, 1 and 2 from the three given
/// (-1: /dev/null), optionally in `cwd`, and every other descriptor closed, default signal dispositions and an empty mask (the runner blocks the
/// termination signals), in a process group of its own: a terminal's Ctrl-C reaches the runner, which then
/// ends the helper itself and cleans up, instead of racing it. Returns 0 and the pid in *pid, or an errno value.
int handoff_spawn_helper(const char *path, char *const argv[], char *const envp[], int stdin_fd, int stdout_fd,
                         int stderr_fd, const char *cwd, pid_t *pid);

/// fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE): frees the blocks of a byte range, which then reads
/// as zeros, without changing the file's size or anyone's offset (the agents' log is capped this way).
/// fallocate and its flags need _GNU_SOURCE.
int handoff_punch_hole(int fd, int64_t offset, int64_t length);

/// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread (and so in threads it creates later), so that
/// one thread can take them with sigwait. pthread_sigmask with a sigset built by macros.
int handoff_block_termination_signals(void);
/// Unblocks them again (when no thread can take them).
int handoff_unblock_termination_signals(void);
/// Waits for one of the signals blocked above and returns its number.
int handoff_wait_termination_signal(void);

// ---- virtualization ----
/// CPUID leaf 0x40000000's hypervisor signature (12 characters from EBX, ECX, EDX, NUL-terminated in
/// `signature`, which holds 13): "KVMKVMKVM", "TCGTCGTCGTCG", "Microsoft Hv"... Empty when the CPU does not
/// advertise a hypervisor (CPUID.1:ECX bit 31 clear) or is not x86. CPUID is an instruction, not a call.
void handoff_hypervisor_signature(char signature[13]);

// ---- a cheap clock for loops ----
/// The CPU's time-stamp counter (x86-64: RDTSC; elsewhere 0, and the agent keeps clock_gettime). An
/// intrinsic, not expressible in Swift; static inline so that it costs one instruction, not a call. Loops
/// time every operation, and on this kind of VM the vDSO's clock_gettime took ~9 % of an SCM_RIGHTS loop.
#if defined(__x86_64__)
#include <x86intrin.h>
static inline uint64_t handoff_ticks(void) { return __rdtsc(); }
#else
static inline uint64_t handoff_ticks(void) { return 0; }
#endif

// ---- epoll ----
/// epoll_create1(2).
int handoff_epoll_create1(int flags);
/// epoll_ctl(2) with an event of `events` (data: the descriptor); struct epoll_event is packed on x86-64,
/// which Swift does not import faithfully.
int handoff_epoll_ctl(int epfd, int op, int fd, unsigned int events);
/// epoll_wait(2) into at most `max` events, unpacked: each one's data (the descriptor handoff_epoll_ctl
/// registered) into `fds` and its events into `events`, which have room for `max` each. In C for the same
/// packing of struct epoll_event.
int handoff_epoll_wait(int epfd, int max, int timeout, int *fds, unsigned int *events);

#ifdef __cplusplus
}
#endif
#endif
