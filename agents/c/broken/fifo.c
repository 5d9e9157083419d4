// libhandoff-broken-fifo.so: mkfifo and open wrappers that get FIFOs quietly wrong, one variant chosen by
// HANDOFF_FIFO_BROKEN (the names are the is("...") tests below). LD_PRELOAD into handoff-agent-c. Variants
// named legal-* are correct alternative implementations and must fail nothing. Opens of anything but a FIFO
// pass through untouched.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "variant.h"

BROKEN_VARIANT_FROM("HANDOFF_FIFO_BROKEN")

typedef int (*open_fn)(const char *, int, ...);
typedef int (*mkfifo_fn)(const char *, mode_t);
static int real_open(const char *path, int flags, mode_t mode) {
    static open_fn fn;
    if (fn == NULL) fn = (open_fn)dlsym(RTLD_NEXT, "open");
    return fn(path, flags, mode);
}
static int real_mkfifo(const char *path, mode_t mode) {
    static mkfifo_fn fn;
    if (fn == NULL) fn = (mkfifo_fn)dlsym(RTLD_NEXT, "mkfifo");
    return fn(path, mode);
}

static int is_fifo(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISFIFO(st.st_mode);
}

int mkfifo(const char *path, mode_t mode) {
    if (is("mkfifo-regular-file")) {
        // A plain file where a FIFO was asked for: EEXIST still right, everything after it wrong.
        int fd = real_open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode);
        if (fd < 0) return -1;
        close(fd);
        return 0;
    }
    if (is("mkfifo-exists-ok")) {
        // `mkfifo -p` semantics: an existing FIFO is success.
        int saved = errno;
        if (real_mkfifo(path, mode) == 0) return 0;
        if (errno == EEXIST && is_fifo(path)) { errno = saved; return 0; }
        return -1;
    }
    if (is("mkfifo-ignores-mode")) return real_mkfifo(path, 0666);
    if (is("mkfifo-socket-file")) {
        // A node of the wrong type: open of it is ENXIO.
        return syscall(SYS_mknodat, AT_FDCWD, path, S_IFSOCK | (mode & 07777), 0);
    }
    if (is("legal-mknod")) return mknod(path, S_IFIFO | (mode & 07777), 0);
    if (is("legal-mknodat-syscall")) return syscall(SYS_mknodat, AT_FDCWD, path, S_IFIFO | (mode & 07777), 0);
    return real_mkfifo(path, mode);
}

static int broken_open(const char *path, int flags, mode_t mode) {
    if (!is_fifo(path)) return real_open(path, flags, mode);
    int access = flags & O_ACCMODE;
    if (is("fifo-open-rdwr")) {
        // "Never block on a FIFO": every open is O_RDWR.
        return real_open(path, (flags & ~O_ACCMODE) | O_RDWR, mode);
    }
    if (is("fifo-enxio-retry-rdwr")) {
        int fd = real_open(path, flags, mode);
        if (fd < 0 && errno == ENXIO) fd = real_open(path, (flags & ~O_ACCMODE) | O_RDWR, mode);
        return fd;
    }
    if (is("fifo-open-adds-nonblock") && !(flags & O_NONBLOCK)) {
        // Opens without waiting for a partner, then clears O_NONBLOCK again (the classic trick, wrong for a
        // writer: ENXIO instead of a wait).
        int fd = real_open(path, flags | O_NONBLOCK, mode);
        if (fd >= 0) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        return fd;
    }
    if (is("fifo-writer-enxio-always") && access == O_WRONLY && (flags & O_NONBLOCK)) {
        errno = ENXIO;
        return -1;
    }
    if (is("fifo-drops-append") && (flags & O_APPEND)) return real_open(path, flags & ~O_APPEND, mode);
    if (is("fifo-open-twice")) {
        // Opens it twice and keeps the second: one more descriptor left open (a leak), a partner counted twice.
        int first = real_open(path, flags | O_NONBLOCK, mode);
        int fd = real_open(path, flags, mode);
        if (fd < 0 && first >= 0) close(first);
        return fd;
    }
    if (is("legal-openat")) return openat(AT_FDCWD, path, flags, mode);
    return real_open(path, flags, mode);
}

BROKEN_OPEN_WRAPPERS(broken_open)
