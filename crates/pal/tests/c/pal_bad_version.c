/*
 * A PAL reporting an unsupported API version (default 4; build with -DPAL_VERSION=n for
 * others). It exports every v2 symbol, so the only thing wrong is the version.
 */
#include "pal_abi.h"

#ifndef PAL_VERSION
#define PAL_VERSION 4
#endif

int pal_get_version(void)
{
	return PAL_VERSION;
}

int pal_init(const pal_attr_v1_t *attr)
{
	(void)attr;
	return 0;
}

int pal_create_process(pal_create_process_args *args)
{
	(void)args;
	return 0;
}

int pal_exec(pal_exec_args *args)
{
	(void)args;
	return 0;
}

int pal_kill(int pid, int sig)
{
	(void)pid;
	(void)sig;
	return 0;
}

int pal_destroy(void)
{
	return 0;
}
