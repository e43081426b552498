/* dlopen-ed by hold_load_lock.c: its constructor runs with the dynamic-linker load lock held. */
void hold_load_lock_until_forked(void);

__attribute__((constructor)) static void hold(void) { hold_load_lock_until_forked(); }
