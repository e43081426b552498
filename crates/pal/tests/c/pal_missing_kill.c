/* A PAL claiming API v2 without exporting pal_kill: the loader must name the symbol. */
#include "pal_abi.h"

int pal_get_version(void)
{
	return 2;
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

int pal_destroy(void)
{
	return 0;
}
