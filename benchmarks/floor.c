/*
 * floor.c - the physical floor of handoff's descriptor-passing operations.
 *
 * Why C: this program IS the floor. Every loop below is the shortest path from user space to the
 * system call it times (libc wrappers or syscall(2), no allocation, no runtime, no abstractions), built
 * with `cc -O2` and nothing beyond libc. handoff's Swift code is held to ratios of these figures (see
 * shared/reference/perf-floor.md: in-process syscall loops >= 0.9x C, cross-process >= 0.8x C in the
 * same topology), so any overhead here would flatter Swift. Absolute figures move a lot with CPU
 * placement on a noisy 2-core VM: only ratios measured in one run, on one machine, mean anything.
 *
 * Usage: floor [--seconds T] [--repetitions R] [--json] [--json-file PATH] [--tiny PATH] [--list] [TEST...]
 *   T = seconds per repetition (default 1.0), R = repetitions (default 3); the figure is the median.
 *   --json prints one JSON object on stdout instead of the table; --json-file PATH writes it there too.
 *   --tiny PATH: the static helper that fork-exec executes (default: "tiny" beside this executable).
 *
 * Every test measures complete operations only, between two CLOCK_MONOTONIC readings, in batches that
 * grow until one takes >= 20 ms (so the clock is read rarely), after an untimed warm-up. Set-up (the
 * socketpair, the fork of the peer, the pidfd_open) is outside the timing and redone per repetition.
 * A test whose first operation fails (EPERM from seccomp, ENOSYS, ...) prints "skipped: reason".
 * The program checks itself for leaks: the number of open descriptors before and after each test must
 * match, and no child may be left unreaped; otherwise it says so on stderr and exits 1.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_kcmp
#define SYS_kcmp 312
#endif

#define ACK_EVERY 32          /* scm-one-way: the receiver acks every 32 transfers */
#define MAX_REPS 101
#define MIN_BATCH_NS 20000000 /* grow batches until one takes 20 ms */

/* ---------------------------------------------------------------- context and helpers */

struct ctx {
    int a, b;        /* a descriptor pair: socketpair ends, or two descriptors */
    int fd;          /* the descriptor that is passed, compared, duplicated */
    int pidfd;
    pid_t child;
    const char *tiny;
    char path[64];
    char err[160];   /* why the test cannot run */
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int fail(struct ctx *c, const char *what) {
    int e = errno;
    snprintf(c->err, sizeof c->err, "%s: %s (%s)", what, strerror(e), e == EPERM ? "EPERM" :
             e == ENOSYS ? "ENOSYS" : e == EACCES ? "EACCES" : e == EINVAL ? "EINVAL" : "errno");
    return -1;
}

static void close_if(int *fd) {
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* Sends one byte `tag`, with `fd` attached as SCM_RIGHTS when fd >= 0. Returns 0 or -1. */
static int send_fd(int sock, int fd, char tag) {
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct iovec iov = {.iov_base = &tag, .iov_len = 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        memset(&u, 0, sizeof u);
        m.msg_control = u.buf;
        m.msg_controllen = sizeof u.buf;
        struct cmsghdr *h = CMSG_FIRSTHDR(&m);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(h), &fd, sizeof(int));
    }
    ssize_t n;
    do n = sendmsg(sock, &m, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == 1 ? 0 : -1;
}

/* Receives one byte into *tag and the descriptor attached to it (-1 if none) into *fd.
 * Returns 0, or -1 on error or end of file (errno = EPIPE then). */
static int recv_fd(int sock, int *fd, char *tag) {
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct iovec iov = {.iov_base = tag, .iov_len = 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                       .msg_controllen = sizeof u.buf};
    ssize_t n;
    do n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    *fd = -1;
    if (n <= 0) {
        if (n == 0) errno = EPIPE;
        return -1;
    }
    struct cmsghdr *h = CMSG_FIRSTHDR(&m);
    if (h && h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS)
        memcpy(fd, CMSG_DATA(h), sizeof(int));
    if (m.msg_flags & MSG_CTRUNC) {
        close_if(fd);
        errno = EMSGSIZE;
        return -1;
    }
    return 0;
}

static int read_byte(int sock, char *c) {
    ssize_t n;
    do n = read(sock, c, 1);
    while (n < 0 && errno == EINTR);
    if (n == 0) errno = EPIPE;
    return n == 1 ? 0 : -1;
}

static int write_byte(int sock, char c) {
    ssize_t n;
    do n = send(sock, &c, 1, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == 1 ? 0 : -1;
}

static int reap(pid_t pid, int *status) {
    pid_t r;
    do r = waitpid(pid, status, 0);
    while (r < 0 && errno == EINTR);
    return r == pid ? 0 : -1;
}

/* ---------------------------------------------------------------- scm-one-process */

static int pair_setup(struct ctx *c, int type) {
    int sv[2];
    if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0) return fail(c, "socketpair");
    c->a = sv[0];
    c->b = sv[1];
    c->fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (c->fd < 0) return fail(c, "open /dev/null");
    return 0;
}

static int one_process_setup(struct ctx *c) { return pair_setup(c, SOCK_STREAM); }

static long one_process_run(struct ctx *c, long n) {
    for (long i = 0; i < n; i++) {
        int got;
        char tag;
        if (send_fd(c->a, c->fd, 'x') < 0) return fail(c, "sendmsg");
        if (recv_fd(c->b, &got, &tag) < 0) return fail(c, "recvmsg");
        if (got < 0) {
            errno = EPROTO;
            return fail(c, "recvmsg carried no descriptor");
        }
        close(got);
    }
    return n;
}

/* ---------------------------------------------------------------- two-process tests */

/* The peer: receives until a message without a descriptor ('q') or end of file.
 * mode 'o' (one-way): close, ack every ACK_EVERY; mode 'r' (round trip): send back, then close. */
static _Noreturn void peer(int sock, char mode) {
    long count = 0;
    for (;;) {
        int got;
        char tag;
        if (recv_fd(sock, &got, &tag) < 0) _exit(errno == EPIPE ? 0 : 2);
        if (got < 0) _exit(tag == 'q' ? 0 : 3);
        if (mode == 'r' && send_fd(sock, got, 'y') < 0) _exit(4);
        close(got);
        if (mode == 'o' && ++count % ACK_EVERY == 0 && write_byte(sock, 'a') < 0) _exit(5);
    }
}

static int two_process_setup(struct ctx *c, int type, char mode) {
    if (pair_setup(c, type) < 0) return -1;
    c->child = fork();
    if (c->child < 0) return fail(c, "fork");
    if (c->child == 0) {
        close(c->a);
        close(c->fd);
        peer(c->b, mode);
    }
    close_if(&c->b);
    return 0;
}

static void two_process_teardown(struct ctx *c) {
    if (c->child > 0) {
        if (c->a >= 0) send_fd(c->a, -1, 'q');
        close_if(&c->a);
        int status;
        reap(c->child, &status);
        c->child = 0;
    }
}

static int one_way_setup(struct ctx *c) { return two_process_setup(c, SOCK_STREAM, 'o'); }
static int rt_stream_setup(struct ctx *c) { return two_process_setup(c, SOCK_STREAM, 'r'); }
static int rt_seqpacket_setup(struct ctx *c) { return two_process_setup(c, SOCK_SEQPACKET, 'r'); }

/* Sends n (rounded up to a multiple of ACK_EVERY) descriptors; after each group waits for the ack of
 * the group before it, so at most two groups are in flight; waits for the last ack before returning,
 * so every counted transfer has been received and closed by the peer. */
static long one_way_run(struct ctx *c, long n) {
    long groups = (n + ACK_EVERY - 1) / ACK_EVERY;
    char ack;
    for (long g = 0; g < groups; g++) {
        for (int i = 0; i < ACK_EVERY; i++)
            if (send_fd(c->a, c->fd, 'x') < 0) return fail(c, "sendmsg");
        if (g > 0 && read_byte(c->a, &ack) < 0) return fail(c, "read ack");
    }
    if (read_byte(c->a, &ack) < 0) return fail(c, "read ack");
    return groups * ACK_EVERY;
}

static long round_trip_run(struct ctx *c, long n) {
    for (long i = 0; i < n; i++) {
        int got;
        char tag;
        if (send_fd(c->a, c->fd, 'x') < 0) return fail(c, "sendmsg");
        if (recv_fd(c->a, &got, &tag) < 0) return fail(c, "recvmsg");
        if (got < 0) {
            errno = EPROTO;
            return fail(c, "recvmsg carried no descriptor");
        }
        close(got);
    }
    return n;
}

/* ---------------------------------------------------------------- fork-exit-wait, fork-exec */

static long fork_exit_run(struct ctx *c, long n) {
    for (long i = 0; i < n; i++) {
        pid_t p = fork();
        if (p < 0) return fail(c, "fork");
        if (p == 0) _exit(0);
        int status;
        if (reap(p, &status) < 0) return fail(c, "waitpid");
    }
    return n;
}

static char *const empty_env[] = {NULL};

static int fork_exec_setup(struct ctx *c) {
    if (!c->tiny || access(c->tiny, X_OK) < 0) {
        snprintf(c->err, sizeof c->err, "no executable tiny helper at %s (build benchmarks/tiny.c, or --tiny PATH)",
                 c->tiny ? c->tiny : "(none)");
        return -1;
    }
    return 0;
}

static long fork_exec_run(struct ctx *c, long n) {
    char *argv[] = {(char *)c->tiny, NULL};
    for (long i = 0; i < n; i++) {
        pid_t p = fork();
        if (p < 0) return fail(c, "fork");
        if (p == 0) {
            execve(c->tiny, argv, empty_env);
            _exit(127);
        }
        int status;
        if (reap(p, &status) < 0) return fail(c, "waitpid");
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            snprintf(c->err, sizeof c->err, "%s did not exit 0 (status 0x%x)", c->tiny, status);
            return -1;
        }
    }
    return n;
}

/* ---------------------------------------------------------------- kcmp, fdinfo, pidfd-getfd, dup2 */

static int two_fds_setup(struct ctx *c) {
    c->a = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (c->a < 0) return fail(c, "open /dev/null");
    c->b = fcntl(c->a, F_DUPFD_CLOEXEC, 0);
    if (c->b < 0) return fail(c, "F_DUPFD_CLOEXEC");
    return 0;
}

static long kcmp_run(struct ctx *c, long n) {
    pid_t self = getpid();
    for (long i = 0; i < n; i++) {
        long r = syscall(SYS_kcmp, self, self, KCMP_FILE, c->a, c->b);
        if (r != 0) {
            if (r > 0) {
                errno = EPROTO;
                return fail(c, "kcmp says a dup is another file");
            }
            return fail(c, "kcmp(KCMP_FILE)");
        }
    }
    return n;
}

static int fdinfo_setup(struct ctx *c) {
    if (two_fds_setup(c) < 0) return -1;
    snprintf(c->path, sizeof c->path, "/proc/self/fdinfo/%d", c->a);
    return 0;
}

static long fdinfo_run(struct ctx *c, long n) {
    char buf[4096];
    for (long i = 0; i < n; i++) {
        int f = open(c->path, O_RDONLY | O_CLOEXEC);
        if (f < 0) return fail(c, "open fdinfo");
        ssize_t r = read(f, buf, sizeof buf);
        close(f);
        if (r <= 0) {
            if (r == 0) errno = ENODATA;
            return fail(c, "read fdinfo");
        }
    }
    return n;
}

static int pidfd_setup(struct ctx *c) {
    if (two_fds_setup(c) < 0) return -1;
    c->pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    if (c->pidfd < 0) return fail(c, "pidfd_open");
    return 0;
}

static long pidfd_getfd_run(struct ctx *c, long n) {
    for (long i = 0; i < n; i++) {
        int f = (int)syscall(SYS_pidfd_getfd, c->pidfd, c->a, 0);
        if (f < 0) return fail(c, "pidfd_getfd");
        close(f);
    }
    return n;
}

static long dup2_run(struct ctx *c, long n) {
    for (long i = 0; i < n; i++)
        if (dup2(c->a, c->b) != c->b) return fail(c, "dup2");
    return n;
}

/* ---------------------------------------------------------------- the catalog */

struct test {
    const char *name;
    const char *what;
    int (*setup)(struct ctx *);
    long (*run)(struct ctx *, long);
    void (*teardown)(struct ctx *);
};

static const struct test tests[] = {
    {"scm-one-process", "socketpair STREAM: sendmsg 1 fd + recvmsg + close", one_process_setup, one_process_run, NULL},
    {"scm-one-way", "2 processes STREAM: send fd, peer recv + close, ack every 32", one_way_setup, one_way_run,
     two_process_teardown},
    {"scm-round-trip-stream", "2 processes STREAM: send, peer recv + send back + close, recv + close",
     rt_stream_setup, round_trip_run, two_process_teardown},
    {"scm-round-trip-seqpacket", "same, SEQPACKET", rt_seqpacket_setup, round_trip_run, two_process_teardown},
    {"fork-exit-wait", "fork + _exit(0) + waitpid", NULL, fork_exit_run, NULL},
    {"fork-exec", "fork + execve tiny static C + waitpid", fork_exec_setup, fork_exec_run, NULL},
    {"kcmp", "kcmp(KCMP_FILE) of two descriptors of self", two_fds_setup, kcmp_run, NULL},
    {"fdinfo", "open + read + close /proc/self/fdinfo/N", fdinfo_setup, fdinfo_run, NULL},
    {"pidfd-getfd", "pidfd_getfd(pidfd of self) + close", pidfd_setup, pidfd_getfd_run, NULL},
    {"dup2", "dup2(a, b)", two_fds_setup, dup2_run, NULL},
};
#define NTESTS (sizeof tests / sizeof tests[0])

static void teardown(const struct test *t, struct ctx *c) {
    if (t->teardown) t->teardown(c);
    close_if(&c->a);
    close_if(&c->b);
    close_if(&c->fd);
    close_if(&c->pidfd);
    if (c->child > 0) { /* a set-up that failed half way */
        kill(c->child, SIGKILL);
        int status;
        reap(c->child, &status);
        c->child = 0;
    }
}

static void ctx_init(struct ctx *c, const char *tiny) {
    memset(c, 0, sizeof *c);
    c->a = c->b = c->fd = c->pidfd = -1;
    c->tiny = tiny;
}

/* One repetition: set up, one checked operation, warm-up, then timed batches for `seconds`.
 * Returns ops/s, or -1 with c->err set. */
static double repetition(const struct test *t, struct ctx *c, double seconds) {
    if (t->setup && t->setup(c) < 0) return -1;
    if (t->run(c, 1) < 0) return -1;
    double warm_end = now_s() + (seconds * 0.05 < 0.05 ? seconds * 0.05 : 0.05);
    long batch = 1;
    while (now_s() < warm_end) {
        if (t->run(c, batch) < 0) return -1;
        if (batch < (1L << 20)) batch *= 2;
    }
    batch = 1;
    long ops = 0;
    double start = now_s(), elapsed = 0;
    while (elapsed < seconds) {
        double b0 = now_s();
        long done = t->run(c, batch);
        if (done < 0) return -1;
        double t1 = now_s();
        ops += done;
        elapsed = t1 - start;
        if ((t1 - b0) * 1e9 < MIN_BATCH_NS && batch < (1L << 24)) batch *= 2;
    }
    return (double)ops / elapsed;
}

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

struct result {
    const struct test *t;
    int ok;
    char reason[160];
    int n;
    double samples[MAX_REPS];
    double median, min, max;
};

static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

static void print_json(FILE *f, struct result *res, int nres, double seconds, int reps) {
    struct utsname u;
    uname(&u);
    fprintf(f, "{\"tests\": {");
    int first = 1;
    for (int i = 0; i < nres; i++) {
        if (!res[i].ok) continue;
        fprintf(f, "%s\n  ", first ? "" : ",");
        first = 0;
        json_string(f, res[i].t->name);
        fprintf(f, ": {\"ops_per_second\": %.1f, \"us_per_op\": %.4f, \"samples\": [", res[i].median,
                1e6 / res[i].median);
        for (int k = 0; k < res[i].n; k++) fprintf(f, "%s%.1f", k ? ", " : "", res[i].samples[k]);
        fprintf(f, "]}");
    }
    fprintf(f, "},\n \"skipped\": {");
    first = 1;
    for (int i = 0; i < nres; i++) {
        if (res[i].ok) continue;
        fprintf(f, "%s\n  ", first ? "" : ",");
        first = 0;
        json_string(f, res[i].t->name);
        fputs(": ", f);
        json_string(f, res[i].reason);
    }
    fprintf(f, "},\n \"machine\": {\"nproc\": %ld, \"kernel\": ", sysconf(_SC_NPROCESSORS_ONLN));
    json_string(f, u.release);
    fprintf(f, ", \"arch\": ");
    json_string(f, u.machine);
    fprintf(f, "},\n \"config\": {\"seconds\": %g, \"repetitions\": %d, \"statistic\": \"median\"}}\n", seconds,
            reps);
}

static void fmt_rate(char *buf, size_t len, double v) {
    snprintf(buf, len, "%.0f", v);
}

static void usage(FILE *f) {
    fprintf(f, "usage: floor [--seconds T] [--repetitions R] [--json] [--json-file PATH] [--tiny PATH] [--list] "
               "[--count N] [TEST...]\n  --count N: run exactly N operations of each test, untimed (for a CPU-time "
               "measure from outside: benchmarks/loop-cpu.sh)\ntests:\n");
    for (size_t i = 0; i < NTESTS; i++) fprintf(f, "  %-26s %s\n", tests[i].name, tests[i].what);
}

int main(int argc, char **argv) {
    double seconds = 1.0;
    int reps = 3, json = 0;
    const char *json_file = NULL, *tiny = NULL;
    long count = 0;
    const char *selected[64];
    int nsel = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--seconds") && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else if (!strcmp(a, "--repetitions") && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--json-file") && i + 1 < argc) {
            json_file = argv[++i];
        } else if (!strcmp(a, "--tiny") && i + 1 < argc) {
            tiny = argv[++i];
        } else if (!strcmp(a, "--count") && i + 1 < argc) {
            count = atol(argv[++i]);
        } else if (!strcmp(a, "--list")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (a[0] == '-') {
            fprintf(stderr, "floor: unknown or incomplete option %s\n", a);
            usage(stderr);
            return 2;
        } else {
            size_t k;
            for (k = 0; k < NTESTS && strcmp(tests[k].name, a); k++) {}
            if (k == NTESTS) {
                fprintf(stderr, "floor: no test named %s\n", a);
                usage(stderr);
                return 2;
            }
            if (nsel < 64) selected[nsel++] = a;
        }
    }
    if (!(seconds > 0) || reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "floor: --seconds must be > 0 and --repetitions 1..%d\n", MAX_REPS);
        return 2;
    }
    static char tiny_default[4096];
    if (!tiny) { /* "tiny" beside this executable */
        ssize_t n = readlink("/proc/self/exe", tiny_default, sizeof tiny_default - 8);
        if (n > 0) {
            tiny_default[n] = 0;
            char *slash = strrchr(tiny_default, '/');
            if (slash) {
                strcpy(slash + 1, "tiny");
                tiny = tiny_default;
            }
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    static struct result res[NTESTS];
    int nres = 0, leaks = 0;
    if (!json && count == 0)
        printf("%-26s %12s %10s  %s\n", "test", "ops/s", "us/op", "spread ops/s (min..max)");
    for (size_t i = 0; i < NTESTS; i++) {
        const struct test *t = &tests[i];
        if (nsel) {
            int want = 0;
            for (int k = 0; k < nsel; k++) want |= !strcmp(selected[k], t->name);
            if (!want) continue;
        }
        if (count > 0) { /* exactly `count` operations, nothing timed, nothing printed but failures */
            struct ctx c;
            ctx_init(&c, tiny);
            long done = (t->setup && t->setup(&c) < 0) ? -1 : t->run(&c, count);
            teardown(t, &c);
            if (done != count) {
                fprintf(stderr, "floor: %s failed: %s\n", t->name, c.err[0] ? c.err : "failed");
                return 1;
            }
            continue;
        }
        struct result *r = &res[nres++];
        memset(r, 0, sizeof *r);
        r->t = t;
        r->ok = 1;
        int before = count_fds();
        for (int k = 0; k < reps; k++) {
            struct ctx c;
            ctx_init(&c, tiny);
            double v = repetition(t, &c, seconds);
            teardown(t, &c);
            if (v < 0) {
                r->ok = 0;
                snprintf(r->reason, sizeof r->reason, "%s", c.err[0] ? c.err : "failed");
                break;
            }
            r->samples[r->n++] = v;
        }
        int after = count_fds();
        if (before != after) {
            fprintf(stderr, "floor: LEAK in %s: %d descriptors open before, %d after\n", t->name, before, after);
            leaks = 1;
        }
        if (!r->ok) {
            if (json) fprintf(stderr, "%s: skipped: %s\n", t->name, r->reason);
            else printf("%-26s skipped: %s\n", t->name, r->reason);
            continue;
        }
        double sorted[MAX_REPS];
        memcpy(sorted, r->samples, sizeof(double) * (size_t)r->n);
        qsort(sorted, (size_t)r->n, sizeof(double), cmp_double);
        r->min = sorted[0];
        r->max = sorted[r->n - 1];
        r->median = r->n % 2 ? sorted[r->n / 2] : (sorted[r->n / 2 - 1] + sorted[r->n / 2]) / 2;
        if (!json) {
            char m[32], lo[32], hi[32];
            fmt_rate(m, sizeof m, r->median);
            fmt_rate(lo, sizeof lo, r->min);
            fmt_rate(hi, sizeof hi, r->max);
            printf("%-26s %12s %10.3f  %s..%s\n", t->name, m, 1e6 / r->median, lo, hi);
        }
    }
    if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD) {
        fprintf(stderr, "floor: LEAK: a child is left unreaped\n");
        leaks = 1;
    }
    if (json) print_json(stdout, res, nres, seconds, reps);
    if (json_file) {
        FILE *f = fopen(json_file, "w");
        if (!f) {
            fprintf(stderr, "floor: cannot write %s: %s\n", json_file, strerror(errno));
            return 1;
        }
        print_json(f, res, nres, seconds, reps);
        if (fclose(f) != 0) {
            fprintf(stderr, "floor: cannot write %s: %s\n", json_file, strerror(errno));
            return 1;
        }
    }
    return leaks ? 1 : 0;
}
