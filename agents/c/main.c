// handoff-agent-c: start-up, hello, and the request loop (main.swift). Single-threaded and synchronous; no
// stdio on the hot path (answers are built in a byte buffer and sent with one send()), nothing opened for
// itself beyond the control channel.

#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"

extern char **environ;

struct agent agent = {.control = -1};
static char packet[MAX_PACKET + 1];  // one spare byte for message_parse's terminator
static struct out out;

_Noreturn void fatal(const char *what) {
    char line[256];
    int n = snprintf(line, sizeof line, "handoff-agent-c: %s (errno %d)\n", what, errno);
    if (n > 0) (void)!write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    _exit(70);
}

long long soft_nofile_limit(void) {
    struct rlimit limit;
    getrlimit(RLIMIT_NOFILE, &limit);
    return limit.rlim_cur == RLIM_INFINITY ? LLONG_MAX : (long long)limit.rlim_cur;
}

// Whether a descriptor argument is a control channel: it must behave as if the number were free, since the
// model never sees channels.
// One of the other agents' channels the runner listed for this request (`hidden`): in a shared table, or in
// the table a pidfd_getfd or reopen reaches into.
int is_hidden(int fd) {
    for (int i = 0; i < agent.nhidden; i++)
        if (agent.hidden[i] == fd) return 1;
    return 0;
}

int is_channel(int fd) {
    if (fd == agent.control) return 1;
    for (int i = 0; i < agent.nhidden; i++) {
        if (agent.hidden[i] == fd) return 1;
    }
    return 0;
}

int operand_value(struct operand operand) {
    if (operand.slot < 0) return operand.number;
    return agent.slots != NULL && operand.slot < LOOP_SLOTS ? agent.slots[operand.slot] : -1;
}

// Sends one packet on the channel (with one descriptor when `passing` >= 0); a failed send means the runner
// is gone.
void reply(const struct out *message, int passing) {
    ssize_t sent = passing >= 0 ? write_fds(agent.control, message->bytes, message->length, &passing, 1, MSG_NOSIGNAL)
                                : send(agent.control, message->bytes, message->length, MSG_NOSIGNAL);
    if (sent < 0) _exit(0);
}

void reply_bad(const char *reason) {
    out_reset(&out);
    out_text(&out, "bad reason=");
    out_hex(&out, (const unsigned char *)reason, strlen(reason));
    reply(&out, -1);
}

void send_hello(void) {
    out_reset(&out);
    out_text(&out, "hello version=2");
    out_key(&out, "pid");
    out_int(&out, getpid());
    out_key(&out, "ppid");
    out_int(&out, getppid());
    out_key(&out, "ctl");
    out_int(&out, agent.control);
    out_key(&out, "nofile");
    out_int(&out, soft_nofile_limit());
    out_key(&out, "argv");
    for (int i = 1; i < agent.argc; i++) {
        if (i > 1) out_bytes(&out, ",", 1);
        out_hex(&out, (const unsigned char *)agent.argv[i], strlen(agent.argv[i]));
    }
    out_key(&out, "env");
    for (char **entry = environ; entry != NULL && *entry != NULL; entry++) {
        if (entry != environ) out_bytes(&out, ",", 1);
        out_hex(&out, (const unsigned char *)*entry, strlen(*entry));
    }
    out_key(&out, "impl");
    out_hex(&out, (const unsigned char *)"c", 1);
    out_key(&out, "unsupported");  // none: every operation has a C-library call
    reply(&out, -1);
}

// Swift's Int32(String): a whole decimal int32 or nothing (-1 here, with *ok cleared).
static int parse_int32(const char *text, int *ok) {
    long long value;
    *ok = text != NULL && parse_int64(text, &value) == 0 && value >= INT_MIN && value <= INT_MAX;
    return *ok ? (int)value : -1;
}

// `hidden=N,M` (optional): the other agents' channels in this table; 0 or why it is malformed.
static int read_hidden(const struct message *message) {
    const char *list = message_get(message, "hidden");
    agent.nhidden = 0;
    if (list == NULL || *list == '\0') return 0;
    for (const char *part = list;;) {
        const char *comma = strchr(part, ',');
        char word[24];
        size_t n = comma ? (size_t)(comma - part) : strlen(part);
        int ok;
        if (n >= sizeof word || agent.nhidden == (int)(sizeof agent.hidden / sizeof agent.hidden[0])) return -1;
        memcpy(word, part, n);
        word[n] = '\0';
        agent.hidden[agent.nhidden++] = parse_int32(word, &ok);
        if (!ok) return -1;
        if (comma == NULL) return 0;
        part = comma + 1;
    }
}

static void release(const struct message *message) {
    const char *list = message_get(message, "fds");
    int numbers[256], n = 0, ok = 1;
    if (list == NULL) { reply_bad("release: missing field 'fds'"); return; }
    for (const char *part = list; *list != '\0';) {
        const char *comma = strchr(part, ',');
        char word[24];
        size_t length = comma ? (size_t)(comma - part) : strlen(part);
        if (length >= sizeof word || n == 256) { ok = 0; break; }
        memcpy(word, part, length);
        word[length] = '\0';
        numbers[n++] = parse_int32(word, &ok);
        if (!ok || comma == NULL) break;
        part = comma + 1;
    }
    if (!ok) { reply_bad("release: malformed field 'fds'"); return; }
    for (int i = 0; i < n; i++) {
        if (numbers[i] == agent.control) { reply_bad("release names the agent's own channel"); return; }
    }
    for (int i = 0; i < n; i++) close(numbers[i]);
    struct answer answer;
    answer_reset(&answer);
    answer_encode(&answer, &out);
    reply(&out, -1);
}

static void argument(const struct message *message) {
    char why[64];
    const char *text = message_get(message, "index");
    long long index;
    if (text == NULL || parse_int64(text, &index) != 0) {
        reply_bad(text ? "argument: malformed field 'index'" : "argument: missing field 'index'");
        return;
    }
    if (index < 1 || index >= agent.argc) {
        snprintf(why, sizeof why, "no argv[%lld]", index);
        reply_bad(why);
        return;
    }
    int ok;
    int number = parse_int32(agent.argv[index], &ok);
    if (!ok) {
        snprintf(why, sizeof why, "argv[%lld] is not a number", index);
        reply_bad(why);
        return;
    }
    struct answer answer;
    answer_reset(&answer);
    answer.result = number;
    answer_encode(&answer, &out);
    reply(&out, -1);
}

static void perform_request(const struct message *message) {
    static struct answer answer;
    static struct op op;
    char why[256];
    if (read_hidden(message) != 0) {
        snprintf(why, sizeof why, "%s: malformed field 'hidden'", message->verb);
        reply_bad(why);
        return;
    }
    if (op_decode(message, &op, 0, why, sizeof why) != NULL) {
        op_free(&op);
        reply_bad(why);
        return;
    }
    answer_reset(&answer);
    agent.refusal = NULL;
    int answered = perform(&op, &answer);
    op_free(&op);
    if (!answered) return;  // the child of a fork: it said hello instead
    if (agent.refusal != NULL) {
        reply_bad(agent.refusal);
        return;
    }
    answer_encode(&answer, &out);
    reply(&out, -1);
}

_Noreturn void serve(void) {
    struct message message;
    for (;;) {
        ssize_t received = recv(agent.control, packet, MAX_PACKET, 0);
        if (received <= 0) {
            if (received < 0 && errno == EINTR) continue;
            _exit(0);  // the runner is gone
        }
        if (message_parse(packet, (size_t)received, &message) != 0) {
            reply_bad("unparsable request");
            continue;
        }
        const char *verb = message.verb;
        if (strcmp(verb, "loop") == 0) {
            if (read_hidden(&message) != 0) reply_bad("loop: malformed field 'hidden'");
            else run_loop(&message, &out);
        } else if (strcmp(verb, "release") == 0) {
            release(&message);
        } else if (strcmp(verb, "argument") == 0) {
            argument(&message);
        } else if (strcmp(verb, "hello") == 0 || strcmp(verb, "ok") == 0 || strcmp(verb, "bad") == 0 ||
                   strcmp(verb, "channel") == 0) {
            char why[64];
            snprintf(why, sizeof why, "%s is sent by agents, not to them", verb);
            reply_bad(why);
        } else {
            perform_request(&message);
        }
    }
}

// A control channel to the runner's listening socket at `path` (agents started by a launcher under test).
static int connect_to_runner(const char *path) {
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    if (strlen(path) + 1 > sizeof address.sun_path) fatal("runner socket path too long");
    strcpy(address.sun_path, path);
    int channel = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (channel < 0) fatal("cannot reach the runner");
    int result;
    do { result = connect(channel, (struct sockaddr *)&address, sizeof address); } while (result != 0 && errno == EINTR);
    if (result != 0) fatal("cannot reach the runner");
    return channel;
}

int main(int argc, char **argv) {
    agent.argc = argc;
    agent.argv = argv;
    if (argc == 3 && strcmp(argv[1], "--probe") == 0) probe(argv[2]);
    // Writes to a broken pipe must fail with EPIPE, not kill the process: the model predicts EPIPE.
    signal(SIGPIPE, SIG_IGN);
    int ok;
    int inherited = parse_int32(getenv("HANDOFF_CONTROL_FD"), &ok);
    if (!ok) inherited = 3;
    const char *expected = getenv("HANDOFF_PARENT_PID");
    const char *address = getenv("HANDOFF_CONTROL_SOCKET");
    int parent = parse_int32(expected, &ok);
    if (ok) {
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        if (getppid() != parent) _exit(70);
    } else if (address != NULL) {
        // Started by a program handoff does not control (a launcher under test): call the runner back.
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        inherited = connect_to_runner(address);
    }
    agent.control = place_control_channel(inherited);
    send_hello();
    serve();
}
