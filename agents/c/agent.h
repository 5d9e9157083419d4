// handoff-agent-c: the C agent of handoff (docs/protocol.md, version 2).
//
// The same puppet as the Swift agent (Sources/handoff-agent), written in plain C against the C library's
// own wrappers, so that the library the agent is linked with (or one preloaded into it) is what a run tests.
// One concern per file:
//   wire.c     message framing, fields, hex; the growable answer buffer
//   decode.c   request -> struct op (field validation mirrors Sources/HandoffProtocol/OperationCoding.swift)
//   fdpass.c   write_fds/read_fds: Stevens' write_fd/read_fd generalised to N descriptors
//   perform.c  struct op -> one libc call, timed, into a struct answer
//   channel.c  the control channel: placement, moves, close_range split, fork/clone, exec, launch
//   loop.c     the `loop` housekeeping request
//   probe.c    `--probe FEATURE`: the kernel probes that need a fork (the runner never forks)
//   main.c     start-up, hello, the request loop, release and argument
#ifndef HANDOFF_AGENT_C_H
#define HANDOFF_AGENT_C_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

// ---- limits shared with the runner (Sources/HandoffProtocol) ----
#define PREFERRED_CONTROL 1023      // preferredControlDescriptor
#define MAX_PACKET (256 * 1024)     // maximumPacketSize
#define MAX_TRANSFER (64 * 1024)    // maximumTransfer: read/recv count
#define MAX_ROOM 4096               // maximumRoom: recv room
#define MAX_CONTROL (16 + 4 * MAX_ROOM) // maximumControl: recv control, in bytes
#define MAX_HEADERS 64              // maximumHeaders: send_headers headers
#define MAX_HEADER_FDS 4096         // maximumHeaderDescriptors: descriptors in one send_headers header
#define LOOP_SLOTS 64               // loopSlotCount
#define LATENCY_BUCKETS (64 * 8)    // LatencyBuckets.count
#define MAX_FIELDS 64               // more fields than any message has: the packet is refused
#define MAX_ANSWER_FDS (MAX_ROOM + 16)

// ---- wire.c ----
struct field {
    char *key;
    char *value;
};

// A parsed packet; key and value point into the (modified) packet buffer.
struct message {
    char *verb;
    struct field fields[MAX_FIELDS];
    int count;
};

// A growable byte buffer; answers are built here and sent as one packet.
struct out {
    char *bytes;
    size_t length, capacity;
};

int message_parse(char *packet, size_t length, struct message *message);
const char *message_get(const struct message *message, const char *key);
int hex_decode(const char *text, size_t length, unsigned char *out);
void out_reset(struct out *out);
void out_text(struct out *out, const char *text);
void out_bytes(struct out *out, const char *bytes, size_t length);
void out_int(struct out *out, long long value);
void out_uint(struct out *out, unsigned long long value);
void out_hex(struct out *out, const unsigned char *bytes, size_t length);
void out_key(struct out *out, const char *key);  // " key="

// ---- decode.c ----
// A descriptor as a request names it: a number, or inside a loop a slot (`@N`).
struct operand {
    int slot;    // -1: a plain number
    int number;
};

enum op_kind {
    OP_OPEN, OP_PIPE, OP_SOCKETPAIR, OP_MEMFD, OP_EVENTFD, OP_EPOLL_CREATE1, OP_EPOLL_CTL, OP_DUP, OP_DUP2, OP_DUP3,
    OP_FCNTL, OP_CLOSE, OP_CLOSE_RANGE, OP_LSEEK, OP_READ, OP_WRITE, OP_SHUTDOWN, OP_FORK, OP_EXEC, OP_EXIT,
    OP_WAIT, OP_SEND, OP_RECV, OP_PIDFD_OPEN, OP_PIDFD_GETFD, OP_LISTEN, OP_CONNECT, OP_ACCEPT, OP_SETRLIMIT,
    OP_DROP_CAPABILITY, OP_SET_DUMPABLE, OP_REOPEN, OP_CLONE_FILES, OP_UNSHARE_FILES, OP_LAUNCH,
    OP_SEND_HEADERS, OP_POLL, OP_UNIX_GC,
    OP_PIDFD_SEND_SIGNAL, OP_WAITID,
    OP_SETSOCKOPT, OP_GETSOCKOPT,
    OP_FTRUNCATE, OP_SIGNALFD, OP_TIMERFD_CREATE, OP_INOTIFY_INIT1, OP_DUPFD_QUERY, OP_UNSHARE_NET,
    OP_SOCKET, OP_BIND, OP_SENDTO, OP_RECVFROM,
    OP_PREAD, OP_PWRITE, OP_EPOLL_WAIT, OP_IOCTL, OP_MKFIFO,
};

enum address_kind { ADDRESS_UNIX = 1, ADDRESS_ABSTRACT = 2, ADDRESS_TCP = 3 };

// One decoded operation. Integer fields are already normalised the way the Swift decoder normalises them
// (flags reduced to the bits it understands), so that both agents make the same call.
struct op {
    enum op_kind kind;
    struct operand fd;      // fd, or the socket; epoll_ctl: the registered fd
    struct operand other;   // dup2/dup3: target; epoll_ctl: epfd; dupfd_query: other
    int flags;              // open/pipe/memfd/eventfd/epoll_create1/dup3/recv/accept/reopen/socket type...
    unsigned mode;          // open
    long long number;       // count, status, pid, backlog, value, initial, cmd, length, signal mask, clock ... (see decode.c)
    int arg;                // fcntl arg; epoll_ctl op; shutdown how; lseek whence; setsockopt/getsockopt option
    long long offset;       // lseek, pread and pwrite offset
    unsigned first, last;   // close_range
    unsigned events;        // epoll_ctl, poll
    int room;               // recv
    int control;            // recv: the control buffer's exact size in bytes, -1 when sized from room
    int tctl;               // pidfd_getfd/reopen: the target's channel (-1 when not sent)
    int through;            // pidfd_getfd: 1 when the request names the pidfd to use (`other`)
    char *text;             // open path, memfd name, capability name, launch path, address name
    size_t text_length;     // an address name's length: an abstract name may hold NUL bytes
    unsigned char *data;    // write/send
    size_t data_length;
    struct operand *fds;    // send
    int nfds;
    int *headers;           // send_headers: descriptors per SCM_RIGHTS header
    int nheaders;
    long cmsg_len;          // send_headers: the single header's raw cmsg_len, -1 for CMSG_LEN
    char **args, **env;     // exec/launch
    int nargs, nenv;
    int address;            // listen/connect: enum address_kind
    int port;
};

// Decodes `message` into `op` (allow_slots: a loop step). Returns NULL, or why the request is malformed.
const char *op_decode(const struct message *message, struct op *op, int allow_slots, char *why, size_t why_size);
void op_free(struct op *op);
// Swift's Int64(String): an optional sign and decimal digits, nothing else; 0, or -1 when not a number.
int parse_int64(const char *text, long long *value);
int op_kind_from_verb(const char *verb);

// ---- fdpass.c ----
ssize_t write_fds(int fd, const void *data, size_t length, const int *fds, int nfds, int flags);
ssize_t write_headers(int fd, const void *data, size_t length, const int *fds, const int *counts, int nheaders,
                      long cmsg_len, int flags);
ssize_t read_fds(int fd, void *data, size_t length, int room, int control, int flags, int *fds, int capacity, int *received,
                 int *message_flags, int credentials[3], int *has_credentials);
// sendto/recvfrom: the same with msg_name (`from` gets the sender's sun_path bytes, *from_length their number).
ssize_t write_fds_to(int fd, const void *address, unsigned address_length, const void *data,
                     size_t length, const int *fds, int nfds, int flags);
ssize_t read_fds_from(int fd, void *data, size_t length, int room, int flags, int *fds, int capacity, int *received,
                      int *message_flags, int credentials[3], int *has_credentials, unsigned char *from,
                      int *from_length);

// ---- perform.c ----
// The most events an epoll_wait step asks for (ReadyRegistration.maximumReported).
#define MAX_READY 1024

struct answer {
    long long result;
    int error;
    int fds[MAX_ANSWER_FDS];
    int nfds;
    unsigned long long ns;
    const unsigned char *data;  // read/recv bytes (the agent's scratch buffer), NULL when none
    long data_length;
    int has_mf, mf, has_st, st, has_ctl, ctl, has_port, port;
    int has_cred, cred[3];  // SO_PEERCRED or SCM_CREDENTIALS: pid, uid, gid
    int has_from, from_length;  // recvfrom: the sender's sun_path bytes
    unsigned char from[108];
    int has_ready, ready_count;  // epoll_wait: each reported event's data.fd and events
    int ready_fd[MAX_READY];
    unsigned ready_events[MAX_READY];
};

void answer_reset(struct answer *answer);
// Performs `op`; 0 when there is nothing to answer (the child side of fork/clone_files).
int perform(struct op *op, struct answer *answer);
void answer_encode(const struct answer *answer, struct out *out);
unsigned long long monotonic_ns(void);
int capability_from_name(const char *name);
int drop_capability(int capability);

// ---- channel.c ----
int place_control_channel(int inherited);
int move_high(int fd, int avoiding);
int move_control_channel(void);
void close_range_around_channels(unsigned first, unsigned last, unsigned flags, struct answer *answer);
int agent_fork(int sharing_table, struct answer *answer);
void agent_exec(struct op *op, struct answer *answer);
void agent_launch(struct op *op, struct answer *answer);

// ---- probe.c ----
_Noreturn void probe(const char *feature);

// ---- loop.c ----
void run_loop(const struct message *message, struct out *out);

// ---- main.c: the agent's state (single-threaded) ----
struct agent {
    int control;            // the control channel's current number
    int hidden[64];         // other agents' channels sharing this table, for the request being performed
    int nhidden;
    int *slots;             // a loop's slots while a loop runs, else NULL
    const char *refusal;    // why the operation being performed was refused (NULL: it was not)
    int argc;
    char **argv;
};
extern struct agent agent;

int is_channel(int fd);
int is_hidden(int fd);
int operand_value(struct operand operand);
void send_hello(void);
void reply(const struct out *out, int passing);  // passing >= 0: one descriptor with SCM_RIGHTS
void reply_bad(const char *reason);
long long soft_nofile_limit(void);
_Noreturn void serve(void);
_Noreturn void fatal(const char *what);

#endif
