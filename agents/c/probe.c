// `handoff-agent-c --probe FEATURE` (main.swift's probe): kernel feature probes that need a fork, which the
// runner (multithreaded) must never do itself. Prints `ok` or why not, and exits. Whichever agent a runner
// is given may be asked, so the C agent answers them the same way as the Swift agent.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "compat.h"

static char stack[64 * 1024] __attribute__((aligned(16)));

static int exit_at_once(void *unused) {
    (void)unused;
    _exit(0);
}

_Noreturn void probe(const char *feature) {
    char answer[64] = "unknown probe";
    if (strcmp(feature, "exited-dumpability") == 0) {
        // Does an exited task keep its dumpability for ptrace checks? A child makes itself non-dumpable and
        // exits; without CAP_SYS_PTRACE, pidfd_getfd on the zombie says EPERM (kept, 6.18) or ESRCH.
        pid_t child = fork();
        if (child == 0) {
            prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
            _exit(0);
        }
        int pidfd = pidfd_open(child, 0);
        drop_capability(capability_from_name("CAP_SYS_PTRACE"));
        siginfo_t info;
        waitid(P_PID, (id_t)child, &info, WEXITED | WNOWAIT);
        int copy = pidfd_getfd(pidfd, 0, 0);
        int error = errno;
        if (copy >= 0) snprintf(answer, sizeof answer, "no: the copy succeeded");
        else if (error == EPERM) snprintf(answer, sizeof answer, "ok");
        else snprintf(answer, sizeof answer, "no: %d", error);
        int status;
        waitpid(child, &status, 0);
    } else if (strcmp(feature, "clone-files") == 0) {
        pid_t child = clone(exit_at_once, stack + sizeof stack, CLONE_FILES | SIGCHLD, NULL);
        if (child < 0) {
            snprintf(answer, sizeof answer, "errno %d", errno);
        } else {
            int status;
            waitpid(child, &status, 0);
            snprintf(answer, sizeof answer, "ok");
        }
    }
    size_t length = strlen(answer);
    answer[length] = '\n';
    (void)!write(1, answer, length + 1);
    _exit(0);
}
