/*
 * Conformance PAL, API v3, behaving like the Inclavare skeleton where runtimes differ:
 * pal_exec stores a plain exit code (128 + n for signal n) and pal_kill forwards any signal.
 * pal_init takes pal_attr_v3_t and, unless the args say expect-fd=/expect-addr=, requires
 * fd == -1 and addr == 0 (no enclave handed over). pal_get_local_report returns a fake
 * 432-byte REPORT whose first 64 bytes echo the TARGETINFO and whose last byte is 0x5a.
 */
#include "pal_abi.h"

static int initialized;

int pal_get_version(void)
{
	return 3;
}

int pal_init(const pal_attr_v3_t *attr)
{
	if (attr == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (initialized) {
		errno = EBUSY;
		return -1;
	}
	if (pal_check_init(attr->attr_v1.args, attr->attr_v1.log_level, 1, attr->fd, attr->addr) != 0)
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
	*args->exit_value = pal_plain_code(status);
	return 0;
}

int pal_kill(int pid, int sig)
{
	return pal_signal(pid, sig);
}

int pal_get_local_report(void *targetinfo, int targetinfo_len, void *report, int *report_len)
{
	if (!initialized || targetinfo == NULL || report == NULL || report_len == NULL ||
	    targetinfo_len != PAL_TARGETINFO_SIZE || *report_len < PAL_REPORT_SIZE) {
		errno = EINVAL;
		return -1;
	}
	memset(report, 0, PAL_REPORT_SIZE);
	memcpy(report, targetinfo, 64);
	((unsigned char *)report)[PAL_REPORT_SIZE - 1] = 0x5a;
	*report_len = PAL_REPORT_SIZE;
	return 0;
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
