/*
 * support.h — what the harnesses share: a quiet log and a temporary
 * directory for the state a harness opens once (keys, a region), removed
 * when the fuzzer exits.
 */
#pragma once
#include <stddef.h>

/* Silences the service's log (a refused input logs a line; millions of
 * them would drown libFuzzer's own report). */
void fuzz_quiet(void);
/* A new directory fuzz_<name>.XXXXXX in /dev/shm (memory: the service's
 * fsyncs cost nothing there) or, without one, /tmp; removed with everything
 * in it at exit; aborts when it cannot be made.  The string lives until
 * exit. */
const char *fuzz_tempdir(const char *name);
/* Removes path and everything under it (best effort). */
void fuzz_remove_tree(const char *path);
/* A path under fuzz_tempdir's directory (static buffer of the caller's
 * size); aborts when it does not fit. */
void fuzz_path(char *out, size_t size, const char *dir, const char *rel);
/* Aborts the fuzzer with a message: the harness itself could not run. */
_Noreturn void fuzz_die(const char *what);
