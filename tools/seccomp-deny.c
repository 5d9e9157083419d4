/*
 * seccomp-deny SYSCALL[,SYSCALL...] -- COMMAND [ARGS...]
 *
 * Runs COMMAND under a seccomp filter that makes the named system calls fail with EPERM and allows every
 * other call, as container runtimes' seccomp profiles do (Docker's default profile denies kcmp and
 * pidfd_getfd without CAP_SYS_PTRACE). The filter is inherited across fork, clone, posix_spawn and execve,
 * so everything COMMAND starts runs under it too. Used by tools/compare-demo.sh to show how handoff
 * behaves under such a profile.
 *
 * Why C: the filter is a classic BPF program (struct sock_filter / struct sock_fprog and the BPF_STMT /
 * BPF_JUMP macros of <linux/filter.h>, struct seccomp_data offsets, AUDIT_ARCH_* constants) installed with
 * prctl; none of those macros or offsetof() on kernel structs are importable into Swift without a C shim,
 * and a 100-line C file built with `cc` needs neither the package nor libseccomp.
 *
 * Names known: kcmp, pidfd_open, pidfd_getfd, close_range, memfd_create, or a number. x86_64 only: the
 * filter checks the architecture, kills a process that makes an i386 (int 0x80) call, and denies the x32
 * aliases of the named calls as well.
 *
 * Exit status: COMMAND's, or 125 for a usage or setup error, 126/127 when COMMAND cannot be run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if !defined(__x86_64__)
#error "seccomp-deny supports x86_64 only"
#endif

/* Older headers may lack the newer numbers; these are the x86_64 ones. */
#ifndef SYS_kcmp
#define SYS_kcmp 312
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_memfd_create
#define SYS_memfd_create 319
#endif

#define X32_SYSCALL_BIT 0x40000000u
#define MAX_DENIED 32

static const struct {
    const char *name;
    long number;
} known[] = {
    {"kcmp", SYS_kcmp},
    {"pidfd_open", SYS_pidfd_open},
    {"pidfd_getfd", SYS_pidfd_getfd},
    {"close_range", SYS_close_range},
    {"memfd_create", SYS_memfd_create},
};

static void usage(void) {
    fprintf(stderr, "usage: seccomp-deny SYSCALL[,SYSCALL...] -- COMMAND [ARGS...]\n"
                    "  SYSCALL: kcmp, pidfd_open, pidfd_getfd, close_range, memfd_create, or a number\n");
    exit(125);
}

static long syscall_number(const char *name) {
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(known[i].name, name) == 0) return known[i].number;
    }
    char *end;
    long number = strtol(name, &end, 10);
    if (*name != '\0' && *end == '\0' && number >= 0 && number < 1024) return number;
    fprintf(stderr, "seccomp-deny: unknown system call '%s'\n", name);
    exit(125);
}

int main(int argc, char **argv) {
    if (argc < 4 || strcmp(argv[2], "--") != 0) usage();

    long denied[MAX_DENIED];
    size_t count = 0;
    char *list = strdup(argv[1]);
    for (char *save = NULL, *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        if (count == MAX_DENIED) {
            fprintf(stderr, "seccomp-deny: at most %d system calls\n", MAX_DENIED);
            return 125;
        }
        denied[count++] = syscall_number(name);
    }
    free(list);
    if (count == 0) usage();

    /*
     *   0: A = arch
     *   1: if A == AUDIT_ARCH_X86_64 skip 1
     *   2: return KILL_PROCESS               (i386 calls on x86_64 have other numbers: refuse them all)
     *   3: A = nr
     *   4..: if A == denied[i] (or its x32 alias) goto deny
     *   n-2: return ALLOW
     *   n-1: deny: return ERRNO(EPERM)
     */
    struct sock_filter filter[4 + 2 * MAX_DENIED + 2];
    size_t length = 0;
    filter[length++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    filter[length++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
    filter[length++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    filter[length++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    size_t checks = 2 * count;
    for (size_t i = 0; i < checks; i++) {
        unsigned number = (unsigned)denied[i / 2] | (i % 2 ? X32_SYSCALL_BIT : 0);
        /* From check i, the deny return is (checks - 1 - i) checks and the allow return further on. */
        unsigned char to_deny = (unsigned char)(checks - 1 - i + 1);
        filter[length++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, number, to_deny, 0);
    }
    filter[length++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    filter[length++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));

    struct sock_fprog program = {.len = (unsigned short)length, .filter = filter};
    /* Without CAP_SYS_ADMIN a filter may only be installed under no_new_privs; it is inherited too. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        perror("seccomp-deny: prctl(PR_SET_NO_NEW_PRIVS)");
        return 125;
    }
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) {
        perror("seccomp-deny: prctl(PR_SET_SECCOMP)");
        return 125;
    }
    execvp(argv[3], argv + 3);
    fprintf(stderr, "seccomp-deny: %s: %s\n", argv[3], strerror(errno));
    return errno == ENOENT ? 127 : 126;
}
