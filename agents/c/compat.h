// What one C library declares and another does not. The agent calls the library's wrapper wherever the
// library has one; where it has none (musl 1.2 has no pidfd_open, pidfd_getfd or close_range; glibc before
// 2.34/2.36 neither), the raw system call stands in - and then that call tests the kernel, not the library,
// which agents/c/README.md says for the build concerned.
#ifndef HANDOFF_AGENT_C_COMPAT_H
#define HANDOFF_AGENT_C_COMPAT_H

#include <stdint.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

// SOL_SOCKET options and a control message type newer than some C libraries' headers (<asm-generic/socket.h>).
#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83
#endif
#ifndef SO_INQ
#define SO_INQ 84
#endif
#ifndef SCM_PIDFD
#define SCM_PIDFD 4
#endif

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
// <linux/fcntl.h> seals newer than some libcs' headers (glibc 2.36 has no F_SEAL_EXEC; musl lacks
// F_SEAL_FUTURE_WRITE): the values are the kernel's.
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif
#ifndef F_DUPFD_QUERY
#define F_DUPFD_QUERY 1027
#endif
#ifndef MFD_ALLOW_SEALING
#define MFD_ALLOW_SEALING 0x0002U
#endif
#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 36)
#include <sys/pidfd.h>
#else
#define HANDOFF_RAW_PIDFD 1
static inline int pidfd_open(pid_t pid, unsigned int flags) { return (int)syscall(SYS_pidfd_open, pid, flags); }
static inline int pidfd_getfd(int pidfd, int fd, unsigned int flags) {
    return (int)syscall(SYS_pidfd_getfd, pidfd, fd, flags);
}
static inline int pidfd_send_signal(int pidfd, int sig, void *info, unsigned int flags) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, info, flags);
}
// waitid's P_PIDFD (Linux 5.4) is in glibc's idtype_t since 2.36.
#define P_PIDFD 3
#endif

#if !(defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34))
#define HANDOFF_RAW_CLOSE_RANGE 1
static inline int close_range(unsigned int first, unsigned int last, int flags) {
    return (int)syscall(SYS_close_range, first, last, flags);
}
#endif

// capget/capset: both libraries export them, neither declares them (libcap's header does, and
// <linux/capability.h> is a kernel header a musl tool chain may lack): the version 3 layout, declared here.
#define HANDOFF_CAPABILITY_VERSION_3 0x20080522
struct handoff_cap_header {
    uint32_t version;
    int pid;
};
struct handoff_cap_data {
    uint32_t effective, permitted, inheritable;
};
int capget(struct handoff_cap_header *header, struct handoff_cap_data *data);
int capset(struct handoff_cap_header *header, const struct handoff_cap_data *data);

#endif
