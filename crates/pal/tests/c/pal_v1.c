/*
 * Conformance PAL, API v1: no pal_get_version; pal_exec(path, argv, stdio, exit_code) creates
 * and runs the process in one call. Exit value: a plain exit code (128 + n for signal n).
 * v1 has no environment parameter, so the workload gets this process's environment.
 */
#include "pal_abi.h"

static int initialized;

int pal_init(const pal_attr_v1_t *attr)
{
	if (attr == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (pal_check_init(attr->args, attr->log_level, 0, -1, 0) != 0)
		return -1;
	initialized = 1;
	return 0;
}

int pal_exec(char *path, char *argv[], pal_stdio_fds *stdio, int *exit_code)
{
	int status;
	pid_t pid;

	if (!initialized || path == NULL || argv == NULL || exit_code == NULL) {
		errno = EINVAL;
		return -1;
	}
	pid = pal_spawn(path, (const char **)argv, (const char **)environ, stdio);
	if (pid < 0)
		return -1;
	if (pal_wait(pid, &status) != 0)
		return -1;
	*exit_code = pal_plain_code(status);
	return 0;
}

int pal_destroy(void)
{
	if (!initialized) {
		errno = EINVAL;
		return -1;
	}
	initialized = 0;
	return 0;
}
