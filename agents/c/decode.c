// Requests into struct op. The rules are those of the Swift decoder (Operation.decode in
// Sources/HandoffProtocol/OperationCoding.swift): a missing field is never defaulted unless the protocol
// marks it optional, the first missing or malformed field is the reason of the `bad` answer, and flag
// fields are reduced to the bits the protocol names, so both agents pass the kernel the same values.

#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/ioctl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>

#include "agent.h"
#include "compat.h"

static const char *const verbs[] = {
    [OP_OPEN] = "open", [OP_PIPE] = "pipe", [OP_SOCKETPAIR] = "socketpair", [OP_MEMFD] = "memfd",
    [OP_EVENTFD] = "eventfd", [OP_EPOLL_CREATE1] = "epoll_create1", [OP_EPOLL_CTL] = "epoll_ctl", [OP_DUP] = "dup",
    [OP_DUP2] = "dup2", [OP_DUP3] = "dup3", [OP_FCNTL] = "fcntl", [OP_CLOSE] = "close",
    [OP_CLOSE_RANGE] = "close_range", [OP_LSEEK] = "lseek", [OP_READ] = "read", [OP_WRITE] = "write",
    [OP_SHUTDOWN] = "shutdown", [OP_FORK] = "fork", [OP_EXEC] = "exec", [OP_EXIT] = "exit", [OP_WAIT] = "wait",
    [OP_SEND] = "send", [OP_RECV] = "recv", [OP_PIDFD_OPEN] = "pidfd_open", [OP_PIDFD_GETFD] = "pidfd_getfd",
    [OP_LISTEN] = "listen", [OP_CONNECT] = "connect", [OP_ACCEPT] = "accept", [OP_SETRLIMIT] = "setrlimit",
    [OP_DROP_CAPABILITY] = "drop_capability", [OP_SET_DUMPABLE] = "set_dumpable", [OP_REOPEN] = "reopen",
    [OP_CLONE_FILES] = "clone_files", [OP_UNSHARE_FILES] = "unshare_files", [OP_LAUNCH] = "launch",
    [OP_SEND_HEADERS] = "send_headers",
    [OP_POLL] = "poll", [OP_UNIX_GC] = "unix_gc", [OP_PIDFD_SEND_SIGNAL] = "pidfd_send_signal", [OP_WAITID] = "waitid",
    [OP_SETSOCKOPT] = "setsockopt", [OP_GETSOCKOPT] = "getsockopt",
    [OP_FTRUNCATE] = "ftruncate", [OP_SIGNALFD] = "signalfd", [OP_TIMERFD_CREATE] = "timerfd_create",
    [OP_INOTIFY_INIT1] = "inotify_init1", [OP_DUPFD_QUERY] = "dupfd_query", [OP_UNSHARE_NET] = "unshare_net",
    [OP_SOCKET] = "socket", [OP_BIND] = "bind", [OP_SENDTO] = "sendto", [OP_RECVFROM] = "recvfrom",
    [OP_PREAD] = "pread", [OP_PWRITE] = "pwrite", [OP_EPOLL_WAIT] = "epoll_wait", [OP_IOCTL] = "ioctl",
    [OP_MKFIFO] = "mkfifo",
};

// The SOL_SOCKET options the protocol names (SocketOption in Vocabulary.swift).
static int known_socket_option(int option) {
    static const int known[] = {SO_PASSCRED, SO_PASSPIDFD, SO_PASSRIGHTS, SO_PEEK_OFF, SO_ERROR, SO_TYPE,
                                SO_DOMAIN, SO_ACCEPTCONN, SO_PEERCRED, SO_PEERPIDFD, SO_INQ};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (known[i] == option) return 1;
    }
    return 0;
}

int op_kind_from_verb(const char *verb) {
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        if (strcmp(verbs[i], verb) == 0) return (int)i;
    }
    return -1;
}

// Swift's Int64(String): an optional sign, then at least one decimal digit, nothing else, no overflow.
int parse_int64(const char *text, long long *value) {
    const char *p = text;
    int negative = 0;
    if (*p == '+' || *p == '-') negative = *p++ == '-';
    if (*p == '\0') return -1;
    unsigned long long magnitude = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        unsigned digit = (unsigned)(*p - '0');
        if (magnitude > (ULLONG_MAX - digit) / 10) return -1;
        magnitude = magnitude * 10 + digit;
    }
    if (negative ? magnitude > (unsigned long long)LLONG_MAX + 1 : magnitude > (unsigned long long)LLONG_MAX) return -1;
    *value = negative ? (long long)(0ULL - magnitude) : (long long)magnitude;
    return 0;
}

// Reads typed fields, remembering the first that is missing or malformed (FieldReader in Swift).
struct reader {
    const struct message *message;
    int allow_slots;
    const char *problem_key;
};

static void malformed(struct reader *r, const char *key) {
    if (r->problem_key == NULL) r->problem_key = key;
}

static const char *require(struct reader *r, const char *key) {
    const char *value = message_get(r->message, key);
    if (value == NULL) malformed(r, key);
    return value;
}

// send_headers: `headers` ("2,0,1": descriptors per header, adding up to the fds) and `cmsglen` (-1, or the
// single header's raw cmsg_len), checked as the Swift decoder checks them.
static void decode_headers(struct reader *r, struct op *op);

static long long int64_field(struct reader *r, const char *key, int has_default, long long fallback) {
    const char *text = message_get(r->message, key);
    long long value;
    if (text == NULL) {
        if (has_default) return fallback;
        malformed(r, key);
        return 0;
    }
    if (parse_int64(text, &value) != 0) {
        malformed(r, key);
        return has_default ? fallback : 0;
    }
    return value;
}

static int int32_field(struct reader *r, const char *key, int has_default, int fallback) {
    long long value = int64_field(r, key, has_default, fallback);
    if (value < INT_MIN || value > INT_MAX) {
        malformed(r, key);
        return has_default ? fallback : 0;
    }
    return (int)value;
}

static unsigned uint32_truncating(struct reader *r, const char *key) {
    return (unsigned)(unsigned long long)int64_field(r, key, 0, 0);
}

// One descriptor: a decimal int32, or `@N` inside a loop (the loop refuses N >= LOOP_SLOTS itself, with its
// own reason, as the Swift decoder does).
static int parse_operand(const char *text, int allow_slots, struct operand *operand) {
    long long value;
    if (text[0] == '@') {
        if (!allow_slots || parse_int64(text + 1, &value) != 0 || value < 0 || value > INT_MAX) return -1;
        operand->slot = (int)value;
        operand->number = -1;
        return 0;
    }
    if (parse_int64(text, &value) != 0 || value < INT_MIN || value > INT_MAX) return -1;
    operand->slot = -1;
    operand->number = (int)value;
    return 0;
}

static struct operand fd_field(struct reader *r, const char *key) {
    struct operand operand = {-1, -1};
    const char *text = require(r, key);
    if (text != NULL && parse_operand(text, r->allow_slots, &operand) != 0) {
        malformed(r, key);
        operand.slot = -1;
        operand.number = -1;
    }
    return operand;
}

// Hex bytes, NUL-terminated as well so that texts can be used as C strings.
static unsigned char *bytes_field(struct reader *r, const char *key, size_t *length) {
    const char *text = require(r, key);
    *length = 0;
    if (text == NULL) return NULL;
    size_t n = strlen(text);
    unsigned char *bytes = malloc(n / 2 + 1);
    if (bytes == NULL) fatal("out of memory");
    if (hex_decode(text, n, bytes) != 0) {
        free(bytes);
        malformed(r, key);
        return NULL;
    }
    bytes[n / 2] = '\0';
    *length = n / 2;
    return bytes;
}

static char *text_field(struct reader *r, const char *key) {
    size_t length;
    char *text = (char *)bytes_field(r, key, &length);
    return text != NULL ? text : strdup("");
}

// A comma-separated list of hex texts (an empty value: an empty list), NULL-terminated.
static char **texts_field(struct reader *r, const char *key, int optional, int *count) {
    const char *value = message_get(r->message, key);
    *count = 0;
    char **list = calloc(1, sizeof(char *));
    if (list == NULL) fatal("out of memory");
    if (value == NULL) {
        if (!optional) malformed(r, key);
        return list;
    }
    if (*value == '\0') return list;
    for (const char *part = value;;) {
        const char *comma = strchr(part, ',');
        size_t n = comma ? (size_t)(comma - part) : strlen(part);
        char *text = malloc(n / 2 + 1);
        char **grown = realloc(list, (size_t)(*count + 2) * sizeof(char *));
        if (text == NULL || grown == NULL) fatal("out of memory");
        list = grown;
        if (hex_decode(part, n, (unsigned char *)text) != 0) {
            free(text);
            malformed(r, key);
            break;
        }
        text[n / 2] = '\0';
        list[(*count)++] = text;
        list[*count] = NULL;
        if (comma == NULL) break;
        part = comma + 1;
    }
    return list;
}

// exec's and launch's `env`: entries without `=` are dropped, as the Swift decoder drops them.
static char **environment_field(struct reader *r, int *count) {
    char **list = texts_field(r, "env", 1, count);
    int kept = 0;
    for (int i = 0; i < *count; i++) {
        if (strchr(list[i], '=') != NULL) list[kept++] = list[i];
        else free(list[i]);
    }
    list[kept] = NULL;
    *count = kept;
    return list;
}

static const int known_open_flags = O_WRONLY | O_RDWR | O_CREAT | O_EXCL | O_TRUNC | O_APPEND | O_NONBLOCK | O_CLOEXEC | O_PATH;

static int open_flags(struct reader *r, const char *key) {
    int raw = int32_field(r, key, 0, 0);
    if (raw & ~known_open_flags) malformed(r, key);
    return raw;
}

// A socket type with SOCK_CLOEXEC/SOCK_NONBLOCK: stream, dgram or seqpacket.
static int socket_type(struct reader *r, const char *key) {
    int raw = int32_field(r, key, 0, 0);
    int type = raw & ~(SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (type != SOCK_STREAM && type != SOCK_DGRAM && type != SOCK_SEQPACKET) {
        malformed(r, key);
        return SOCK_STREAM | (raw & (SOCK_CLOEXEC | SOCK_NONBLOCK));
    }
    return raw;
}

// `unix:HEX`, `abstract:HEX` or `tcp:PORT`.
static void address_field(struct reader *r, struct op *op) {
    const char *value = require(r, "addr");
    op->address = ADDRESS_TCP;
    op->port = 0;
    if (value == NULL) return;
    const char *colon = strchr(value, ':');
    long long port;
    if (colon == NULL) {
        malformed(r, "addr");
    } else if ((strncmp(value, "unix:", 5) == 0 || strncmp(value, "abstract:", 9) == 0)) {
        size_t n = strlen(colon + 1);
        op->text = malloc(n / 2 + 1);
        if (op->text == NULL) fatal("out of memory");
        if (hex_decode(colon + 1, n, (unsigned char *)op->text) != 0) {
            malformed(r, "addr");
            op->text[0] = '\0';
        } else {
            op->text[n / 2] = '\0';
            op->text_length = n / 2;
            op->address = value[0] == 'u' ? ADDRESS_UNIX : ADDRESS_ABSTRACT;
        }
    } else if (strncmp(value, "tcp:", 4) == 0 && parse_int64(colon + 1, &port) == 0 && port >= 0 && port <= 65535) {
        op->port = (int)port;
    } else {
        malformed(r, "addr");
    }
}

static void process_fields(struct reader *r, struct op *op) {
    op->number = int32_field(r, "pid", 0, 0);
    op->tctl = int32_field(r, "tctl", 1, -1);
}

// Fills `op` from `message`; on a malformed request writes the reason to `why` and returns it.
const char *op_decode(const struct message *message, struct op *op, int allow_slots, char *why, size_t why_size) {
    memset(op, 0, sizeof *op);
    op->fd.slot = op->other.slot = -1;
    op->tctl = -1;
    if (strcmp(message->verb, "attach") == 0) {
        snprintf(why, why_size, "attach is the runner's, never sent to an agent");
        return why;
    }
    int kind = op_kind_from_verb(message->verb);
    if (kind < 0) {
        snprintf(why, why_size, "unknown verb %s", message->verb);
        return why;
    }
    op->kind = (enum op_kind)kind;
    struct reader reader = {message, allow_slots, NULL};
    struct reader *r = &reader;
    switch (op->kind) {
    case OP_OPEN:
        op->text = text_field(r, "path");
        op->flags = open_flags(r, "flags");
        op->mode = (unsigned)(unsigned long long)int64_field(r, "mode", 0, 0);
        break;
    case OP_MKFIFO:
        op->text = text_field(r, "path");
        op->mode = (unsigned)(unsigned long long)int64_field(r, "mode", 0, 0);
        break;
    case OP_PIPE:
        op->flags = int32_field(r, "flags", 0, 0) & (O_CLOEXEC | O_NONBLOCK);
        break;
    case OP_SOCKETPAIR:
        op->flags = socket_type(r, "type");
        break;
    case OP_MEMFD:
        op->text = text_field(r, "name");
        op->flags = (int)(uint32_truncating(r, "flags") & (MFD_CLOEXEC | MFD_ALLOW_SEALING));
        break;
    case OP_EVENTFD:
        op->number = uint32_truncating(r, "initial");
        op->flags = int32_field(r, "flags", 0, 0) & (EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE);
        break;
    case OP_EPOLL_CREATE1:
        op->flags = int32_field(r, "flags", 0, 0) & EPOLL_CLOEXEC;
        break;
    case OP_EPOLL_CTL:
        op->other = fd_field(r, "epfd");
        op->arg = int32_field(r, "op", 0, 0);  // raw: the kernel refuses an op it does not know (EINVAL)
        op->fd = fd_field(r, "fd");
        op->events = uint32_truncating(r, "events") & (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLONESHOT | EPOLLET);
        break;
    case OP_DUP:
    case OP_CLOSE:
        op->fd = fd_field(r, "fd");
        break;
    case OP_DUP2:
    case OP_DUP3:
        op->fd = fd_field(r, "fd");
        op->other = fd_field(r, "target");
        if (op->kind == OP_DUP3) op->flags = int32_field(r, "flags", 0, 0);
        break;
    case OP_FCNTL:
        op->fd = fd_field(r, "fd");
        op->number = int32_field(r, "cmd", 0, 0);
        op->arg = int32_field(r, "arg", 1, 0);
        switch (op->number) {
        case F_DUPFD: case F_DUPFD_CLOEXEC: break;
        case F_GETFD: case F_GETFL: op->arg = 0; break;
        case F_SETFD: op->arg &= FD_CLOEXEC; break;
        case F_SETFL: op->arg &= O_APPEND | O_NONBLOCK; break;
        case F_GET_SEALS: op->arg = 0; break;
        case F_GETPIPE_SZ: op->arg = 0; break;
        case F_SETPIPE_SZ: break;
        case F_ADD_SEALS:
            op->arg &= F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_EXEC;
            break;
        default: malformed(r, "cmd");
        }
        break;
    case OP_CLOSE_RANGE:
        op->first = uint32_truncating(r, "first");
        op->last = uint32_truncating(r, "last");
        op->flags = (int)uint32_truncating(r, "flags");  // raw: the kernel refuses unknown bits (EINVAL)
        break;
    case OP_LSEEK:
        op->fd = fd_field(r, "fd");
        op->offset = int64_field(r, "offset", 0, 0);
        op->arg = int32_field(r, "whence", 0, 0);  // raw: the kernel refuses past SEEK_HOLE (EINVAL)
        break;
    case OP_PREAD:
        op->offset = int64_field(r, "offset", 0, 0);
        // fall through - the descriptor and the count as read takes them
    case OP_READ:
    case OP_RECV:
        op->fd = fd_field(r, "fd");
        op->number = int64_field(r, "count", 0, 0);
        if (op->number < 0 || op->number > MAX_TRANSFER) {
            malformed(r, "count");
            op->number = 0;
        }
        if (op->kind == OP_RECV) {
            op->room = int32_field(r, "room", 0, 0);
            if (op->room < 0 || op->room > MAX_ROOM) malformed(r, "room");
            op->flags = int32_field(r, "flags", 0, 0) & (MSG_CMSG_CLOEXEC | MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC | MSG_WAITALL | MSG_OOB);
            op->control = int32_field(r, "control", 1, -1);
            if (op->control < -1 || op->control > MAX_CONTROL) malformed(r, "control");
        }
        break;
    case OP_PWRITE:
        op->offset = int64_field(r, "offset", 0, 0);
        // fall through - the descriptor and the data as write takes them
    case OP_WRITE:
        op->fd = fd_field(r, "fd");
        op->data = bytes_field(r, "data", &op->data_length);
        break;
    case OP_SETSOCKOPT:
    case OP_GETSOCKOPT:
        op->fd = fd_field(r, "fd");
        op->arg = int32_field(r, "opt", 0, 0);
        if (!known_socket_option(op->arg)) malformed(r, "opt");
        if (op->kind == OP_SETSOCKOPT) op->number = int32_field(r, "value", 0, 0);
        break;
    case OP_SHUTDOWN:
        op->fd = fd_field(r, "fd");
        op->arg = int32_field(r, "how", 0, 0);  // raw: the kernel refuses past SHUT_RDWR (EINVAL)
        break;
    case OP_EPOLL_WAIT:
        op->fd = fd_field(r, "epfd");
        op->arg = int32_field(r, "max", 0, 0);
        op->number = int32_field(r, "timeout", 0, 0);
        if (op->arg > MAX_READY) malformed(r, "max");
        break;
    case OP_POLL:
        op->fd = fd_field(r, "fd");
        op->events = uint32_truncating(r, "events") & (POLLIN | POLLOUT | POLLRDHUP);
        op->number = int32_field(r, "timeout", 0, 0);
        break;
    case OP_PIDFD_SEND_SIGNAL:
        op->fd = fd_field(r, "fd");
        op->arg = int32_field(r, "sig", 0, 0);
        if (op->arg != 0 && op->arg != SIGKILL && op->arg != SIGTERM) malformed(r, "sig");
        break;
    case OP_WAITID:
        op->fd = fd_field(r, "fd");
        op->flags = int32_field(r, "flags", 0, 0) & WNOHANG;
        break;
    case OP_FORK:
    case OP_CLONE_FILES:
    case OP_UNSHARE_FILES:
    case OP_UNIX_GC:
    case OP_UNSHARE_NET:
        break;
    case OP_FTRUNCATE:
        op->fd = fd_field(r, "fd");
        op->number = int64_field(r, "length", 0, 0);
        break;
    case OP_SIGNALFD:
        // Bit (signal - 1) per signal, as the kernel's sigset_t; only the signals the scenario language names.
        op->number = int64_field(r, "mask", 0, 0);
        if (op->number & ~(long long)((1ULL << (SIGHUP - 1)) | (1ULL << (SIGINT - 1)) | (1ULL << (SIGUSR1 - 1)) |
                                      (1ULL << (SIGUSR2 - 1)) | (1ULL << (SIGALRM - 1)) | (1ULL << (SIGTERM - 1))))
            malformed(r, "mask");
        op->flags = int32_field(r, "flags", 0, 0) & (SFD_CLOEXEC | SFD_NONBLOCK);
        break;
    case OP_TIMERFD_CREATE:
        op->number = int32_field(r, "clock", 0, 0);
        if (op->number != CLOCK_REALTIME && op->number != CLOCK_MONOTONIC && op->number != CLOCK_BOOTTIME)
            malformed(r, "clock");
        op->flags = int32_field(r, "flags", 0, 0) & (TFD_CLOEXEC | TFD_NONBLOCK);
        break;
    case OP_INOTIFY_INIT1:
        op->flags = int32_field(r, "flags", 0, 0) & (IN_CLOEXEC | IN_NONBLOCK);
        break;
    case OP_DUPFD_QUERY:
        op->fd = fd_field(r, "fd");
        op->other = fd_field(r, "other");
        break;
    case OP_IOCTL:
        // FIOCLEX, FIONCLEX, FIONBIO (arg 1 or 0) and FIONREAD (IoctlRequest in Vocabulary.swift).
        op->fd = fd_field(r, "fd");
        op->number = int64_field(r, "request", 0, 0);
        op->arg = int32_field(r, "arg", 1, 0);
        switch (op->number) {
        case FIOCLEX: case FIONCLEX: case FIONREAD: op->arg = 0; break;
        case FIONBIO: op->arg = op->arg != 0; break;
        default: malformed(r, "request");
        }
        break;
    case OP_EXEC:
    case OP_LAUNCH:
        if (op->kind == OP_LAUNCH) op->text = text_field(r, "path");
        op->args = texts_field(r, "args", 0, &op->nargs);
        op->env = environment_field(r, &op->nenv);
        break;
    case OP_EXIT:
        op->number = int32_field(r, "status", 0, 0);
        break;
    case OP_WAIT:
    case OP_PIDFD_OPEN:
        process_fields(r, op);
        op->flags = (int)(unsigned)(unsigned long long)int64_field(r, "flags", 1, 0);  // raw: EINVAL is the kernel's
        break;
    case OP_SOCKET:
        op->flags = socket_type(r, "type");
        break;
    case OP_BIND:
        op->fd = fd_field(r, "fd");
        address_field(r, op);
        break;
    case OP_RECVFROM:
        op->fd = fd_field(r, "fd");
        op->number = int64_field(r, "count", 0, 0);
        if (op->number < 0 || op->number > MAX_TRANSFER) {
            malformed(r, "count");
            op->number = 0;
        }
        op->room = int32_field(r, "room", 0, 0);
        if (op->room < 0 || op->room > MAX_ROOM) malformed(r, "room");
        op->flags = int32_field(r, "flags", 0, 0) & (MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        break;
    case OP_SENDTO:
        address_field(r, op);
        __attribute__((fallthrough));  // the rest is send's
    case OP_SEND_HEADERS:
    case OP_SEND: {
        op->fd = fd_field(r, "fd");
        const char *list = require(r, "fds");
        if (list != NULL && *list != '\0') {
            op->fds = malloc((strlen(list) / 2 + 1) * sizeof(struct operand));
            if (op->fds == NULL) fatal("out of memory");
            for (const char *part = list;;) {
                const char *comma = strchr(part, ',');
                char word[32];
                size_t n = comma ? (size_t)(comma - part) : strlen(part);
                if (n >= sizeof word) { malformed(r, "fds"); break; }
                memcpy(word, part, n);
                word[n] = '\0';
                if (parse_operand(word, allow_slots, &op->fds[op->nfds]) != 0) { malformed(r, "fds"); break; }
                op->nfds++;
                if (comma == NULL) break;
                part = comma + 1;
            }
        }
        op->data = bytes_field(r, "data", &op->data_length);
        if (op->kind == OP_SEND_HEADERS) decode_headers(r, op);
        // send's own flags (MSG_OOB), absent from older runners: 0.
        if (op->kind == OP_SEND) op->flags = int32_field(r, "flags", 1, 0) & MSG_OOB;
        break;
    }
    case OP_PIDFD_GETFD:
    case OP_REOPEN:
        process_fields(r, op);
        op->fd = fd_field(r, "fd");
        if (op->kind == OP_PIDFD_GETFD) op->flags = (int)uint32_truncating(r, "flags");
        if (op->kind == OP_PIDFD_GETFD && message_get(r->message, "pidfd") != NULL) {
            op->through = 1;
            op->other = fd_field(r, "pidfd");
        }
        else op->flags = open_flags(r, "flags");
        break;
    case OP_LISTEN:
    case OP_CONNECT:
        address_field(r, op);
        op->flags = socket_type(r, "type");
        if (op->kind == OP_LISTEN) op->number = int32_field(r, "backlog", 1, 16);
        break;
    case OP_ACCEPT:
        op->fd = fd_field(r, "fd");
        op->flags = int32_field(r, "flags", 0, 0) & (SOCK_CLOEXEC | SOCK_NONBLOCK);
        break;
    case OP_SETRLIMIT:
        op->number = int64_field(r, "nofile", 0, 0);  // rlim_t from the bit pattern
        break;
    case OP_DROP_CAPABILITY:
        op->text = text_field(r, "name");
        break;
    case OP_SET_DUMPABLE:
        op->number = int32_field(r, "value", 0, 0) != 0;
        break;
    }
    if (reader.problem_key == NULL) return NULL;
    snprintf(why, why_size, "%s: %s field '%s'", verbs[op->kind],
             message_get(message, reader.problem_key) == NULL ? "missing" : "malformed", reader.problem_key);
    return why;
}

void op_free(struct op *op) {
    free(op->headers);
    free(op->text);
    free(op->data);
    free(op->fds);
    for (int i = 0; op->args && i < op->nargs; i++) free(op->args[i]);
    for (int i = 0; op->env && i < op->nenv; i++) free(op->env[i]);
    free(op->args);
    free(op->env);
    memset(op, 0, sizeof *op);
}

static void decode_headers(struct reader *r, struct op *op) {
    const char *list = require(r, "headers");
    int total = 0;
    if (list != NULL && *list != '\0') {
        op->headers = malloc((strlen(list) / 2 + 1) * sizeof(int));
        if (op->headers == NULL) fatal("out of memory");
        for (const char *part = list;;) {
            char *end;
            long value = strtol(part, &end, 10);
            if (end == part || value < 0 || value > MAX_HEADER_FDS || (*end != ',' && *end != '\0')) {
                malformed(r, "headers");
                break;
            }
            op->headers[op->nheaders++] = (int)value;
            total += (int)value;
            if (*end == '\0') break;
            part = end + 1;
        }
    }
    if (op->nheaders > MAX_HEADERS || total != op->nfds) malformed(r, "headers");
    op->cmsg_len = int64_field(r, "cmsglen", 0, 0);
    if (op->cmsg_len < -1 || op->cmsg_len > MAX_CONTROL || (op->cmsg_len >= 0 && op->nheaders != 1)) malformed(r, "cmsglen");
}
