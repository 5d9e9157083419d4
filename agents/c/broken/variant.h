// What every broken library (broken/*.c, LD_PRELOAD into handoff-agent-c) shares: the misbehaviour chosen by
// an environment variable, read once, and glibc's two names for fcntl routed to one wrapper.
#ifndef HANDOFF_BROKEN_VARIANT_H
#define HANDOFF_BROKEN_VARIANT_H

#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

// `static const char *variant(void)` and `static int is(const char *name)` for the variable `name`: the chosen
// variant ("" when unset), and whether it is `name`.
#define BROKEN_VARIANT_FROM(variable)                                   \
    static const char *variant(void) {                                  \
        static const char *v;                                           \
        if (v == NULL) {                                                \
            v = getenv(variable);                                       \
            if (v == NULL) v = "";                                      \
        }                                                               \
        return v;                                                       \
    }                                                                   \
    static int is(const char *name) { return strcmp(variant(), name) == 0; }

// fcntl and fcntl64 (glibc's fcntl is fcntl64 on 64-bit builds with _FILE_OFFSET_BITS=64) both call
// `int wrapped(int fd, int cmd, long arg)`: every command's argument fits a long.
#define BROKEN_FCNTL_WRAPPERS(wrapped)                                  \
    int fcntl(int fd, int cmd, ...) {                                   \
        va_list ap;                                                     \
        va_start(ap, cmd);                                              \
        long arg = va_arg(ap, long);                                    \
        va_end(ap);                                                     \
        return wrapped(fd, cmd, arg);                                   \
    }                                                                   \
    int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl")));

// open and open64 (glibc's name for it under _FILE_OFFSET_BITS=64) both call
// `int wrapped(const char *path, int flags, mode_t mode)`, the mode read only where open reads one.
#define BROKEN_OPEN_WRAPPERS(wrapped)                                   \
    int open(const char *path, int flags, ...) {                        \
        mode_t mode = 0;                                                \
        if (flags & (O_CREAT | O_TMPFILE)) {                            \
            va_list ap;                                                 \
            va_start(ap, flags);                                        \
            mode = (mode_t)va_arg(ap, int);                             \
            va_end(ap);                                                 \
        }                                                               \
        return wrapped(path, flags, mode);                              \
    }                                                                   \
    int open64(const char *path, int flags, ...) __attribute__((alias("open")));

#endif
