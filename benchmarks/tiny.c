/* tiny.c - the smallest program fork-exec can execute: no libc start-up work beyond _exit(0).
 * Linked -static by run-floor.sh so execve pays no dynamic loader; see floor.c. */
#include <unistd.h>

int main(void) {
    _exit(0);
}
