/*
 * PAL API v1-v3 as DESIGN.md §3.3 defines it, plus helpers shared by the conformance PALs.
 *
 * Self-contained: libc only. Include this first (it defines _GNU_SOURCE).
 * Build: cc -shared -fPIC -std=c11 -I<this dir> -o libpal.so pal_vN.c
 *
 * The _Static_asserts pin the same sizes and offsets as the Rust `abi` module, so a layout
 * mismatch fails on the C side too.
 */
#ifndef PAL_ABI_H
#define PAL_ABI_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
	const char *args;
	const char *log_level;
} pal_attr_v1_t;

typedef struct {
	pal_attr_v1_t attr_v1;
	int fd;
	uint64_t addr;
} pal_attr_v3_t;

typedef struct {
	int stdin, stdout, stderr;
} pal_stdio_fds;

typedef struct {
	const char *path;
	const char **argv;
	const char **env;
	pal_stdio_fds *stdio;
	int *pid;
} pal_create_process_args;

typedef struct {
	int pid;
	int *exit_value;
} pal_exec_args;

#if UINTPTR_MAX == 0xffffffffffffffffu
_Static_assert(sizeof(pal_attr_v1_t) == 16, "pal_attr_v1_t size");
_Static_assert(offsetof(pal_attr_v1_t, log_level) == 8, "pal_attr_v1_t.log_level");
_Static_assert(sizeof(pal_attr_v3_t) == 32, "pal_attr_v3_t size");
_Static_assert(offsetof(pal_attr_v3_t, fd) == 16, "pal_attr_v3_t.fd");
_Static_assert(offsetof(pal_attr_v3_t, addr) == 24, "pal_attr_v3_t.addr");
_Static_assert(sizeof(pal_stdio_fds) == 12, "pal_stdio_fds size");
_Static_assert(offsetof(pal_stdio_fds, stderr) == 8, "pal_stdio_fds.stderr");
_Static_assert(sizeof(pal_create_process_args) == 40, "pal_create_process_args size");
_Static_assert(offsetof(pal_create_process_args, stdio) == 24, "pal_create_process_args.stdio");
_Static_assert(offsetof(pal_create_process_args, pid) == 32, "pal_create_process_args.pid");
_Static_assert(sizeof(pal_exec_args) == 16, "pal_exec_args size");
_Static_assert(offsetof(pal_exec_args, exit_value) == 8, "pal_exec_args.exit_value");
#endif

#ifdef PAL_EXIT_ON_LOAD
/* -DPAL_EXIT_ON_LOAD: the library ends the process that loads it, from its initialiser. */
__attribute__((constructor)) static void pal_exit_on_load(void)
{
	_exit(71);
}
#endif

#define PAL_TARGETINFO_SIZE 512
#define PAL_REPORT_SIZE 432

extern char **environ;

/*
 * Checks the pal_init directives in `args` (space separated):
 *   fail-init       fail with EINVAL
 *   slow-fail-init  fail with EINVAL after 300 ms
 *   exit-in-init    end the calling process (_exit(70)), as a PAL that crashes would
 *   leave-child-in-init
 *                   fork a child that holds the caller's descriptors for 60 s, then _exit(70)
 *   expect-level=L  log_level must be L
 *   expect-fd=N     (v3) attr fd must be N
 *   expect-addr=X   (v3) attr addr must be X (hex)
 * A v3 caller without expect-fd/expect-addr must pass fd -1 and addr 0 (no handover).
 * Returns 0, or -1 with errno EINVAL (fail-init, malformed) or EPROTO (mismatch).
 */
static inline int pal_check_init(const char *args, const char *log_level, int is_v3, int fd,
				 uint64_t addr)
{
	char buf[1024];
	char *save = NULL;
	int want_fd = -1;
	uint64_t want_addr = 0;

	if (args == NULL || log_level == NULL || strlen(args) >= sizeof(buf)) {
		errno = EINVAL;
		return -1;
	}
	strcpy(buf, args);
	for (char *tok = strtok_r(buf, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
		if (strcmp(tok, "fail-init") == 0) {
			errno = EINVAL;
			return -1;
		} else if (strcmp(tok, "slow-fail-init") == 0) {
			usleep(300 * 1000);
			errno = EINVAL;
			return -1;
		} else if (strcmp(tok, "exit-in-init") == 0) {
			_exit(70);
		} else if (strcmp(tok, "leave-child-in-init") == 0) {
			if (fork() == 0) {
				sleep(60);
				_exit(0);
			}
			_exit(70);
		} else if (strncmp(tok, "expect-level=", 13) == 0) {
			if (strcmp(tok + 13, log_level) != 0) {
				errno = EPROTO;
				return -1;
			}
		} else if (strncmp(tok, "expect-fd=", 10) == 0) {
			want_fd = (int)strtol(tok + 10, NULL, 10);
		} else if (strncmp(tok, "expect-addr=", 12) == 0) {
			want_addr = (uint64_t)strtoull(tok + 12, NULL, 16);
		}
	}
	if (is_v3 && (fd != want_fd || addr != want_addr)) {
		errno = EPROTO;
		return -1;
	}
	return 0;
}

/*
 * Forks and execs `path` with `argv` and `envp`, stdio redirected to `stdio` (NULL: inherit).
 * Returns the child pid, or -1 with errno. The child only makes async-signal-safe calls, as a
 * fork in a multithreaded host requires.
 */
static inline pid_t pal_spawn(const char *path, const char **argv, const char **envp,
			      const pal_stdio_fds *stdio)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	if (stdio != NULL) {
		int src[3] = { stdio->stdin, stdio->stdout, stdio->stderr };
		int tmp[3];
		/* Move all three above 2 first, so one target cannot clobber another's source. */
		for (int i = 0; i < 3; i++) {
			tmp[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 3);
			if (tmp[i] < 0)
				_exit(126);
		}
		for (int i = 0; i < 3; i++) {
			if (dup2(tmp[i], i) < 0)
				_exit(126);
		}
	}
	execve(path, (char *const *)argv, (char *const *)envp);
	_exit(127);
}

/* Waits for `pid`; returns its wait(2) status, or -1 with errno. */
static inline int pal_wait(pid_t pid, int *status)
{
	for (;;) {
		if (waitpid(pid, status, 0) == pid)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

/* A wait status as the skeleton reports it: the exit code, or 128 + signal. */
static inline int pal_plain_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

/* The processes created and not yet waited for (v2, v3). */
#define PAL_MAX_CHILDREN 64
static pthread_mutex_t pal_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t pal_children[PAL_MAX_CHILDREN];
static pid_t pal_current;

static inline int pal_track(pid_t pid)
{
	int ok = -1;
	pthread_mutex_lock(&pal_lock);
	for (int i = 0; i < PAL_MAX_CHILDREN; i++) {
		if (pal_children[i] == 0) {
			pal_children[i] = pid;
			pal_current = pid;
			ok = 0;
			break;
		}
	}
	pthread_mutex_unlock(&pal_lock);
	return ok;
}

static inline int pal_is_tracked(pid_t pid)
{
	int found = 0;
	pthread_mutex_lock(&pal_lock);
	for (int i = 0; i < PAL_MAX_CHILDREN; i++)
		found |= pid > 0 && pal_children[i] == pid;
	pthread_mutex_unlock(&pal_lock);
	return found;
}

static inline void pal_untrack(pid_t pid)
{
	pthread_mutex_lock(&pal_lock);
	for (int i = 0; i < PAL_MAX_CHILDREN; i++) {
		if (pal_children[i] == pid)
			pal_children[i] = 0;
	}
	if (pal_current == pid)
		pal_current = 0;
	pthread_mutex_unlock(&pal_lock);
}

/* pal_kill semantics: pid -1 = every tracked process, 0 = the current one. */
static inline int pal_signal(int pid, int sig)
{
	int rc = 0;
	pthread_mutex_lock(&pal_lock);
	if (pid == 0)
		pid = pal_current;
	if (pid == -1) {
		for (int i = 0; i < PAL_MAX_CHILDREN; i++) {
			if (pal_children[i] != 0)
				kill(pal_children[i], sig);
		}
	} else {
		int found = 0;
		for (int i = 0; i < PAL_MAX_CHILDREN; i++)
			found |= pid > 0 && pal_children[i] == pid;
		if (!found) {
			errno = ESRCH;
			rc = -1;
		} else {
			rc = kill(pid, sig);
		}
	}
	pthread_mutex_unlock(&pal_lock);
	return rc;
}

/* pal_destroy: kill and reap whatever is left. */
static inline void pal_reap_all(void)
{
	pid_t left[PAL_MAX_CHILDREN];
	pthread_mutex_lock(&pal_lock);
	memcpy(left, pal_children, sizeof(left));
	memset(pal_children, 0, sizeof(pal_children));
	pal_current = 0;
	pthread_mutex_unlock(&pal_lock);
	for (int i = 0; i < PAL_MAX_CHILDREN; i++) {
		int status;
		if (left[i] != 0) {
			kill(left[i], SIGKILL);
			pal_wait(left[i], &status);
		}
	}
}

#endif /* PAL_ABI_H */
