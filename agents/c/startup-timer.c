// startup-timer RUNS AGENT...: an agent's start-up time, exec to hello. Each run creates a SOCK_SEQPACKET
// pair, spawns AGENT the way the runner does (the agent's end at descriptor 3, HANDOFF_CONTROL_FD=3,
// HANDOFF_PARENT_PID, HANDOFF_SCENARIO, nothing else open) and times from just before posix_spawn to the
// hello packet's arrival; then closes its end (the agent reads end-of-file and exits) and reaps it.
// The agent name `--stub` is the floor: this program itself, which says a one-word hello at once.
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

// One spawn of `agent` (NULL: the stub): microseconds from posix_spawn to hello, or -1.
static double one_run(const char *self, const char *agent, char **envp) {
    static char packet[256 * 1024];
    char *stub_argv[] = {(char *)self, "--stub", NULL};
    char *agent_argv[] = {(char *)agent, NULL};
    int ends[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0) { perror("socketpair"); return -1; }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, ends[1], 3);
    posix_spawn_file_actions_addclosefrom_np(&actions, 4);
    pid_t pid;
    double started = now_us();
    int error = posix_spawn(&pid, agent ? agent : self, &actions, NULL, agent ? agent_argv : stub_argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    close(ends[1]);
    if (error != 0) { fprintf(stderr, "posix_spawn %s: %s\n", agent, strerror(error)); close(ends[0]); return -1; }
    ssize_t n = recv(ends[0], packet, sizeof packet, 0);
    double elapsed = now_us() - started;
    close(ends[0]);
    int status;
    waitpid(pid, &status, 0);
    if (n < 5 || memcmp(packet, "hello", 5) != 0) { fprintf(stderr, "no hello from %s\n", agent ? agent : "stub"); return -1; }
    return elapsed;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--stub") == 0) {
        char byte;
        if (send(3, "hello", 5, MSG_NOSIGNAL) < 0) return 1;
        return recv(3, &byte, 1, 0) < 0;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: startup-timer RUNS AGENT...   (AGENT --stub: the floor)\n");
        return 2;
    }
    int runs = atoi(argv[1]);
    if (runs < 1) runs = 1;
    int count = argc - 2;
    char parent[64];
    snprintf(parent, sizeof parent, "HANDOFF_PARENT_PID=%d", (int)getpid());
    char *envp[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "HANDOFF_CONTROL_FD=3", parent, "HANDOFF_SCENARIO=bench", NULL};
    double *samples = calloc((size_t)(runs * count), sizeof *samples);
    // Interleaved, one spawn of each agent per round, so that load from other processes falls on all alike.
    for (int i = 0; i < runs; i++) {
        for (int a = 0; a < count; a++) {
            const char *agent = strcmp(argv[a + 2], "--stub") == 0 ? NULL : argv[a + 2];
            double elapsed = one_run(argv[0], agent, envp);
            if (elapsed < 0) return 1;
            samples[a * runs + i] = elapsed;
        }
    }
    for (int a = 0; a < count; a++) {
        double *mine = samples + a * runs, total = 0;
        for (int i = 0; i < runs; i++) total += mine[i];
        qsort(mine, (size_t)runs, sizeof *mine, compare);
        printf("%-50s mean %5.0f us  median %5.0f us  p90 %5.0f us  min %5.0f us  (%d runs)\n",
               strcmp(argv[a + 2], "--stub") == 0 ? "floor (C stub, says hello at once)" : argv[a + 2], total / runs,
               mine[runs / 2], mine[runs * 9 / 10], mine[0], runs);
    }
    return 0;
}
