/*
 * Conformance PAL, API v2, behaving like Occlum where runtimes differ: pal_exec stores the
 * wait(2) status in exit_value, and pal_kill accepts only SIGKILL and SIGTERM.
 */
#include "pal_abi.h"

static int initialized;

int pal_get_version(void)
{
	return 2;
}

int pal_init(const pal_attr_v1_t *attr)
{
	if (attr == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (initialized) {
		errno = EBUSY;
		return -1;
	}
	if (pal_check_init(attr->args, attr->log_level, 0, -1, 0) != 0)
		return -1;
	initialized = 1;
	return 0;
}

int pal_create_process(pal_create_process_args *args)
{
	pid_t pid;

	if (!initialized || args == NULL || args->path == NULL || args->argv == NULL ||
	    args->env == NULL || args->pid == NULL) {
		errno = EINVAL;
		return -1;
	}
	pid = pal_spawn(args->path, args->argv, args->env, args->stdio);
	if (pid < 0)
		return -1;
	if (pal_track(pid) != 0) {
		kill(pid, SIGKILL);
		pal_wait(pid, &(int){ 0 });
		errno = EAGAIN;
		return -1;
	}
	*args->pid = pid;
	return 0;
}

int pal_exec(pal_exec_args *args)
{
	int status;

	if (!initialized || args == NULL || args->exit_value == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (!pal_is_tracked(args->pid)) {
		errno = ESRCH;
		return -1;
	}
	if (pal_wait(args->pid, &status) != 0)
		return -1;
	pal_untrack(args->pid);
	*args->exit_value = status;
	return 0;
}

int pal_kill(int pid, int sig)
{
	if (sig != SIGKILL && sig != SIGTERM) {
		errno = EINVAL;
		return -1;
	}
	return pal_signal(pid, sig);
}

int pal_destroy(void)
{
	if (!initialized) {
		errno = EINVAL;
		return -1;
	}
	pal_reap_all();
	initialized = 0;
	return 0;
}
