/* Preloaded into rune by tests/lifecycle.rs (a_fork_while_a_helper_thread_starts_does_not_hang):
 * makes rune's first raw clone3 (libcontainer's fork of the intermediate process) happen while
 * a thread other than the forking one holds glibc's dynamic-linker load lock, if that thread is
 * then registering its first thread-local destructor, which is part of a new thread's start.
 *
 * The helper thread's registration waits up to a second for the fork to come; the forking
 * thread then lets it take the lock (by dlopen-ing HOLD_LOCK_CTOR_SO, whose constructor runs
 * under the lock and reports in) and forks while it is held. A process forked like that
 * inherits the lock with no owner and hangs at its first dlopen or exit. A runtime that waits
 * for its helper's start before forking makes the helper give up waiting and start, and forks
 * after: nothing is held then. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

static int fork_coming = -1, lock_held = -1, fork_done = -1;
static long (*real_syscall)(long, ...);
static int (*real_atexit_impl)(void (*)(void *), void *, void *);

__attribute__((constructor)) static void setup(void) {
    fork_coming = eventfd(0, EFD_CLOEXEC);
    lock_held = eventfd(0, EFD_CLOEXEC);
    fork_done = eventfd(0, EFD_CLOEXEC);
    real_syscall = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
    real_atexit_impl = (int (*)(void (*)(void *), void *, void *))dlsym(
        RTLD_NEXT, "__cxa_thread_atexit_impl");
}

static int wait_for(int fd, int ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) == 1;
}

static void post(int fd) {
    uint64_t one = 1;
    if (write(fd, &one, sizeof one) != sizeof one) abort();
}

/* Called by HOLD_LOCK_CTOR_SO's constructor, with the load lock held. */
void hold_load_lock_until_forked(void) {
    post(lock_held);
    wait_for(fork_done, 5000);
}

static int is_main_thread(void) { return syscall(SYS_gettid) == getpid(); }

int __cxa_thread_atexit_impl(void (*func)(void *), void *obj, void *dso) {
    static int seen;
    if (!is_main_thread() && !__atomic_exchange_n(&seen, 1, __ATOMIC_SEQ_CST)) {
        const char *ctor = getenv("HOLD_LOCK_CTOR_SO");
        if (ctor && wait_for(fork_coming, 1000)) dlopen(ctor, RTLD_NOW);
    }
    return real_atexit_impl(func, obj, dso);
}

long syscall(long number, ...) {
    static int seen;
    long a[6];
    va_list ap;
    va_start(ap, number);
    for (int i = 0; i < 6; i++) a[i] = va_arg(ap, long);
    va_end(ap);
    int first = number == SYS_clone3 && is_main_thread() &&
                !__atomic_exchange_n(&seen, 1, __ATOMIC_SEQ_CST);
    if (first) {
        post(fork_coming);
        wait_for(lock_held, 1000);
    }
    long ret = real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
    if (first && ret != 0) post(fork_done);
    return ret;
}
