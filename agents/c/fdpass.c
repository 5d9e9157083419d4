// write_fd/read_fd from Stevens, UNIX Network Programming vol. 1 (section 15.7), generalised from one
// descriptor to N: data plus one SCM_RIGHTS control message, built and walked with the CMSG_* macros of the
// C library's <sys/socket.h>, sent and received with the library's sendmsg/recvmsg. This is the idiom most
// C programs copy; the agent uses it for `send` and `recv` and for handing a child's channel to the runner.

#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <stddef.h>

#include "agent.h"
#include "compat.h"

// Up to this many descriptors the control buffer lives on the stack, in Stevens' union (the union with a
// struct cmsghdr gives the buffer the header's alignment). Longer lists - beyond SCM_MAX_FD (253), which
// scenarios send to see EINVAL - take a heap buffer, which malloc aligns at least as well.
#define STACK_FDS 256

// sendmsg of `msg` (name and control already set) with `data` as its one iovec; then frees `heap` (the
// control buffer when it was allocated, or NULL) keeping sendmsg's errno. What send and send_headers share.
static ssize_t send_message(int fd, struct msghdr *msg, const void *data, size_t length, int flags, void *heap) {
    struct iovec iov[1];
    iov[0].iov_base = (void *)data;
    iov[0].iov_len = length;
    msg->msg_iov = iov;
    msg->msg_iovlen = 1;
    ssize_t sent = sendmsg(fd, msg, flags);
    int saved = errno;
    free(heap);
    errno = saved;
    return sent;
}

// sendto when `address` is set, send otherwise: data plus one SCM_RIGHTS message when there are descriptors.
ssize_t write_fds_to(int fd, const void *address, unsigned address_length, const void *data, size_t length,
                     const int *fds, int nfds, int flags) {
    struct msghdr msg;
    union {
        struct cmsghdr cm;
        char control[CMSG_SPACE(sizeof(int) * STACK_FDS)];
    } control_un;

    memset(&msg, 0, sizeof msg);
    char *heap = NULL;
    if (nfds > 0) {
        size_t space = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        char *control = control_un.control;
        if (space > sizeof control_un.control) {
            heap = malloc(space);
            if (heap == NULL) {
                errno = ENOMEM;
                return -1;
            }
            control = heap;
        }
        memset(control, 0, space);
        msg.msg_control = control;
        msg.msg_controllen = space;
        struct cmsghdr *cmptr = CMSG_FIRSTHDR(&msg);
        cmptr->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        cmptr->cmsg_level = SOL_SOCKET;
        cmptr->cmsg_type = SCM_RIGHTS;
        memcpy(CMSG_DATA(cmptr), fds, sizeof(int) * (size_t)nfds);
    }
    // No descriptors: no control message at all.
    msg.msg_name = (void *)address;
    msg.msg_namelen = address == NULL ? 0 : address_length;
    return send_message(fd, &msg, data, length, flags, heap);
}

ssize_t write_fds(int fd, const void *data, size_t length, const int *fds, int nfds, int flags) {
    return write_fds_to(fd, NULL, 0, data, length, fds, nfds, flags);
}

// A hand-built message (`send_headers`): one SCM_RIGHTS header per entry of `counts`, each CMSG_SPACE after the
// last (placed by hand rather than with CMSG_NXTHDR, which would follow a raw short cmsg_len), the buffer
// zeroed; `cmsg_len` >= 0 replaces the single header's CMSG_LEN. No header: no control buffer.
ssize_t write_headers(int fd, const void *data, size_t length, const int *fds, const int *counts, int nheaders,
                      long cmsg_len, int flags) {
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    size_t space = 0;
    for (int i = 0; i < nheaders; i++) space += CMSG_SPACE(sizeof(int) * (size_t)counts[i]);
    char *control = NULL;
    if (nheaders > 0) {
        control = calloc(1, space);  // calloc: suitably aligned for struct cmsghdr, padding zero
        if (control == NULL) {
            errno = ENOMEM;
            return -1;
        }
        size_t offset = 0;
        for (int i = 0; i < nheaders; i++) {
            struct cmsghdr *cmptr = (struct cmsghdr *)(control + offset);
            cmptr->cmsg_len = (i == 0 && cmsg_len >= 0) ? (size_t)cmsg_len : CMSG_LEN(sizeof(int) * (size_t)counts[i]);
            cmptr->cmsg_level = SOL_SOCKET;
            cmptr->cmsg_type = SCM_RIGHTS;
            memcpy(CMSG_DATA(cmptr), fds, sizeof(int) * (size_t)counts[i]);
            fds += counts[i];
            offset += CMSG_SPACE(sizeof(int) * (size_t)counts[i]);
        }
        msg.msg_control = control;
        msg.msg_controllen = space;
    }
    return send_message(fd, &msg, data, length, flags, control);
}

// Stevens' read_fd accepts exactly one descriptor and treats anything else as an error; here every
// SCM_RIGHTS message the kernel delivered is walked and every descriptor it installed is reported (with
// MSG_CTRUNC the kernel installs as many as fit), since the oracle must see precisely what arrived. `room`
// sizes the control buffer as CMSG_SPACE(room * sizeof(int)), the way a C program sizes it; room 0 passes
// no control buffer. `control` (when not -1) is the buffer's exact size in bytes instead, which need not be a
// whole number of descriptors.
//
// SCM_CREDENTIALS (SO_PASSCRED) is reported when it arrived whole, and an SCM_PIDFD descriptor (SO_PASSPIDFD,
// after the SCM_RIGHTS ones in the kernel's order) is reported like a received descriptor. A header the
// kernel cut short (MSG_CTRUNC) reports only the descriptors its cmsg_len covers.
//
// The one receive: a control buffer of exactly `space` bytes, `name` (when not NULL) for the sender's address.
static ssize_t receive(int fd, struct sockaddr_un *name, socklen_t *name_length, void *data, size_t length,
                       size_t space, int flags, int *fds, int capacity, int *received, int *message_flags,
                       int credentials[3], int *has_credentials) {
    static union {
        struct cmsghdr cm;
        char control[CMSG_SPACE(sizeof(int) * MAX_ROOM)];
    } control_un;
    struct msghdr msg;
    struct iovec iov[1];

    memset(&msg, 0, sizeof msg);
    if (space > sizeof control_un.control) space = sizeof control_un.control;
    if (space > 0) {
        memset(control_un.control, 0, space);
        msg.msg_control = control_un.control;
        msg.msg_controllen = space;
    }
    msg.msg_name = name;
    msg.msg_namelen = name == NULL ? 0 : *name_length;
    iov[0].iov_base = data;
    iov[0].iov_len = length;
    msg.msg_iov = iov;
    msg.msg_iovlen = 1;

    *received = 0;
    *message_flags = 0;
    *has_credentials = 0;
    ssize_t n = recvmsg(fd, &msg, flags);
    if (n < 0) return n;
    *message_flags = msg.msg_flags;
    if (name != NULL) *name_length = msg.msg_namelen;
    if (space == 0) return n;
    for (struct cmsghdr *cmptr = CMSG_FIRSTHDR(&msg); cmptr != NULL; cmptr = CMSG_NXTHDR(&msg, cmptr)) {
        if (cmptr->cmsg_level != SOL_SOCKET) continue;
        if (cmptr->cmsg_type == SCM_CREDENTIALS) {
            struct ucred ucred;
            if (cmptr->cmsg_len < CMSG_LEN(sizeof ucred)) continue;  // cut short: MSG_CTRUNC
            memcpy(&ucred, CMSG_DATA(cmptr), sizeof ucred);
            credentials[0] = ucred.pid;
            credentials[1] = (int)ucred.uid;
            credentials[2] = (int)ucred.gid;
            *has_credentials = 1;
            continue;
        }
        if (cmptr->cmsg_type != SCM_RIGHTS && cmptr->cmsg_type != SCM_PIDFD) continue;
        size_t count = (cmptr->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *payload = CMSG_DATA(cmptr);
        for (size_t i = 0; i < count; i++) {
            int number;
            memcpy(&number, payload + i * sizeof(int), sizeof number);
            // SCM_PIDFD carries a negative errno when no pidfd could be made.
            if (number >= 0 && *received < capacity) fds[(*received)++] = number;
        }
    }
    return n;
}

ssize_t read_fds(int fd, void *data, size_t length, int room, int control, int flags, int *fds, int capacity,
                 int *received, int *message_flags, int credentials[3], int *has_credentials) {
    size_t space = control >= 0 ? (size_t)control : room > 0 ? CMSG_SPACE(sizeof(int) * (size_t)room) : 0;
    return receive(fd, NULL, NULL, data, length, space, flags, fds, capacity, received, message_flags, credentials,
                   has_credentials);
}

// recvfrom: read_fds with a msg_name buffer; the sender's sun_path bytes (none for an unbound sender).
ssize_t read_fds_from(int fd, void *data, size_t length, int room, int flags, int *fds, int capacity, int *received,
                      int *message_flags, int credentials[3], int *has_credentials, unsigned char *from,
                      int *from_length) {
    struct sockaddr_un name;
    memset(&name, 0, sizeof name);
    socklen_t name_length = sizeof name;
    size_t space = room > 0 ? CMSG_SPACE(sizeof(int) * (size_t)room) : 0;
    *from_length = 0;
    ssize_t n = receive(fd, &name, &name_length, data, length, space, flags, fds, capacity, received, message_flags,
                        credentials, has_credentials);
    if (n >= 0 && name_length > offsetof(struct sockaddr_un, sun_path)) {
        size_t path = name_length - offsetof(struct sockaddr_un, sun_path);
        if (path > sizeof name.sun_path) path = sizeof name.sun_path;
        memcpy(from, name.sun_path, path);
        *from_length = (int)path;
    }
    return n;
}
