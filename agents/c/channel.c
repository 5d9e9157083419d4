// The control channel and the operations that change which process or image the agent is (Channel.swift):
// the channel sits at a reserved high number, moves out of the way of a scenario's dup2, is stepped around by
// close_range, survives the agent's own exec, and is replaced by a fresh one in a forked child.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "compat.h"

// Moves the inherited channel to the reserved number (close-on-exec) and frees the old number.
int place_control_channel(int inherited) {
    long long limit = soft_nofile_limit();
    int reserved = limit - 1 < PREFERRED_CONTROL ? (int)(limit - 1) : PREFERRED_CONTROL;
    // Where it is already, or where it was when the reserved number holds a scenario's descriptor (after an
    // exec below a lowered limit); the hello says where.
    if (inherited == reserved || fcntl(reserved, F_GETFD) >= 0) {
        fcntl(inherited, F_SETFD, FD_CLOEXEC);
        return inherited;
    }
    if (dup3(inherited, reserved, O_CLOEXEC) < 0) fatal("cannot place control channel");
    close(inherited);
    return reserved;
}

// The highest free number strictly between `above` and `below`, other than `avoiding`; -1 if none.
static int highest_free(int below, int above, int avoiding) {
    int candidate = below - 1;
    while (candidate > above && (candidate == avoiding || fcntl(candidate, F_GETFD) >= 0)) candidate--;
    return candidate > above ? candidate : -1;
}

// Copies `fd` above every number a scenario uses (close-on-exec) and closes the original, so that a
// transient descriptor never takes the lowest free number a scenario step is about to be given: above the
// channel when the limit allows, else the highest free number below the limit (where the runner's model
// expects the channels) - and never `avoiding`, the number the request itself names (a pidfd_getfd must not
// copy its own transient pidfd).
int move_high(int fd, int avoiding) {
    long long limit = soft_nofile_limit();
    int top = (int)(limit > 0x7fffffff ? 0x7fffffff : limit);
    int moved = -1;
    if (agent.control < top - 1) {
        moved = fcntl(fd, F_DUPFD_CLOEXEC, agent.control + 1);
        if (moved >= 0 && moved == avoiding) {
            int again = fcntl(fd, F_DUPFD_CLOEXEC, avoiding + 1);
            close(moved);
            moved = again;
        }
    }
    if (moved < 0) {
        int free_number = highest_free(top, fd, avoiding);
        if (free_number >= 0) moved = dup3(fd, free_number, O_CLOEXEC);
    }
    if (moved < 0) return fd;
    close(fd);
    return moved;
}

// A scenario dup2()s onto the channel's number: the channel moves first, and the runner is told. Above it
// when the limit allows, else the highest free number below it (the channel sits at the limit's top when
// RLIMIT_NOFILE is 1024 or lower). The old copy is left for the scenario's dup2 to replace.
int move_control_channel(void) {
    int moved = fcntl(agent.control, F_DUPFD_CLOEXEC, agent.control + 1);
    if (moved < 0) {
        int free_number = highest_free(agent.control, -1, -1);
        if (free_number >= 0) moved = dup3(agent.control, free_number, O_CLOEXEC);
    }
    if (moved < 0) fatal("cannot move control channel");
    agent.control = moved;
    return moved;
}

static int compare_unsigned(const void *a, const void *b) {
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return x < y ? -1 : x > y;
}

// close_range across control channels closes everything in the range but the channels: one call per gap
// between them (64-bit arithmetic: `last` may be ~0U). CLOSE_RANGE_CLOEXEC alone needs no split: channels
// are close-on-exec already; nor do flags the kernel refuses (one call gets its EINVAL).
void close_range_around_channels(unsigned first, unsigned last, unsigned flags, struct answer *answer) {
    int marks_only = (flags & CLOSE_RANGE_CLOEXEC) && !(flags & CLOSE_RANGE_UNSHARE);
    unsigned inside[65];
    int n = 0;
    if (agent.control >= 0 && (unsigned)agent.control >= first && (unsigned)agent.control <= last)
        inside[n++] = (unsigned)agent.control;
    for (int i = 0; i < agent.nhidden; i++) {
        unsigned channel = (unsigned)agent.hidden[i];
        if (channel >= first && channel <= last) inside[n++] = channel;
    }
    answer->ns = 0;
    int refused = (flags & ~(unsigned)(CLOSE_RANGE_CLOEXEC | CLOSE_RANGE_UNSHARE)) != 0;
    if (marks_only || refused || first > last || n == 0) {
        unsigned long long started = monotonic_ns();
        int result = close_range(first, last, (int)flags);
        int error = errno;
        answer->ns = monotonic_ns() - started;
        answer->result = result;
        answer->error = result < 0 ? error : 0;
        return;
    }
    qsort(inside, (size_t)n, sizeof inside[0], compare_unsigned);
    unsigned long long start = first;
    answer->result = 0;
    answer->error = 0;
    for (int i = 0; i <= n; i++) {
        unsigned long long low = start, high;
        if (i < n) {
            if (inside[i] <= start) { start = (unsigned long long)inside[i] + 1; continue; }
            high = inside[i] - 1;
            start = (unsigned long long)inside[i] + 1;
        } else {
            if (start > last) break;
            high = last;
        }
        unsigned long long started = monotonic_ns();
        int result = close_range((unsigned)low, (unsigned)high, (int)flags);
        int error = errno;
        answer->ns += monotonic_ns() - started;
        if (result != 0) {
            answer->result = result;
            answer->error = result < 0 ? error : 0;
            return;
        }
    }
}

// What a new child does before it serves: pdeathsig, a check that its parent is still the one it expects,
// then hello on its own channel.
static void child_starts(pid_t parent) {
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != parent) _exit(0);
    send_hello();
}

// clone_files' child runs on its own stack (the C library's clone() needs one); without CLONE_VM this static
// area is the child's private copy, so one area serves every clone. It never returns: it serves until exit.
static char clone_stack[1 << 20] __attribute__((aligned(16)));
static pid_t clone_parent;

static int clone_child(void *unused) {
    (void)unused;
    child_starts(clone_parent);
    serve();
}

// `fork`, or clone(CLONE_FILES) when `sharing_table`. A new socket pair, moved high: the runner's end
// travels to the runner in a `channel` message before the answer; the child's end becomes the child's
// channel (forked: at the parent's channel number, replacing the inherited copy; cloned: where it already is,
// since nothing may be closed in a shared table). Returns 0 in a forked child (nothing to answer).
int agent_fork(int sharing_table, struct answer *answer) {
    int ends[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0) {
        answer->result = -1;
        answer->error = errno;
        return 1;
    }
    int parent_end = move_high(ends[0], -1);
    int child_end = move_high(ends[1], -1);
    pid_t parent = getpid();
    unsigned long long started = monotonic_ns();
    pid_t child;
    if (sharing_table) {
        clone_parent = parent;
        int parent_control = agent.control;
        agent.control = child_end;  // the child's copy of the state, taken at clone
        child = clone(clone_child, clone_stack + sizeof clone_stack, CLONE_FILES | SIGCHLD, NULL);
        agent.control = parent_control;
    } else {
        child = fork();
    }
    int error = errno;
    answer->ns = monotonic_ns() - started;
    if (child == 0) {
        // At the parent's channel number, unless a lowered RLIMIT_NOFILE no longer reaches it: then the
        // child's channel stays where it is and the inherited copy goes (the hello says where).
        if (dup3(child_end, agent.control, O_CLOEXEC) >= 0) {
            close(child_end);
        } else {
            close(agent.control);
            agent.control = child_end;
        }
        close(parent_end);
        for (int i = 0; i < agent.nhidden; i++) close(agent.hidden[i]);
        child_starts(parent);
        return 0;  // back to serve(), now as the child
    }
    answer->result = child;
    answer->error = child < 0 ? error : 0;
    if (!sharing_table || child < 0) close(child_end);
    if (child > 0) {
        struct out message = {0};
        out_text(&message, "channel");
        reply(&message, parent_end);
        free(message.bytes);
    }
    close(parent_end);
    return 1;
}

static void set_environment(struct op *op) {
    for (int i = 0; i < op->nenv; i++) {
        char *equals = strchr(op->env[i], '=');
        *equals = '\0';
        setenv(op->env[i], equals + 1, 1);
        *equals = '=';
    }
}

// execv; returns only on failure, with its errno and duration in `answer`.
static void execute(const char *path, const char *argv0, struct op *op, struct answer *answer) {
    char **arguments = calloc((size_t)op->nargs + 2, sizeof(char *));
    if (arguments == NULL) fatal("out of memory");
    arguments[0] = (char *)argv0;
    for (int i = 0; i < op->nargs; i++) arguments[i + 1] = op->args[i];
    unsigned long long started = monotonic_ns();
    execv(path, arguments);
    int error = errno;
    answer->ns = monotonic_ns() - started;
    answer->result = -1;
    answer->error = error;
    free(arguments);
}

// Re-executes the agent; answers only on failure (the new image says hello instead). The channel must
// survive this one exec; the new image sets close-on-exec again at start.
void agent_exec(struct op *op, struct answer *answer) {
    char number[16];
    set_environment(op);
    fcntl(agent.control, F_SETFD, 0);
    snprintf(number, sizeof number, "%d", agent.control);
    setenv("HANDOFF_CONTROL_FD", number, 1);
    snprintf(number, sizeof number, "%d", (int)getppid());
    setenv("HANDOFF_PARENT_PID", number, 1);
    execute("/proc/self/exe", agent.argc > 0 ? agent.argv[0] : "handoff-agent-c", op, answer);
    fcntl(agent.control, F_SETFD, FD_CLOEXEC);
}

// execve of a launcher under test. The channel stays close-on-exec, so it closes when exec succeeds; what
// the agent's own exec relies on must not reach the agents the launcher starts.
void agent_launch(struct op *op, struct answer *answer) {
    set_environment(op);
    unsetenv("HANDOFF_CONTROL_FD");
    unsetenv("HANDOFF_PARENT_PID");
    execute(op->text, op->text, op, answer);
}
