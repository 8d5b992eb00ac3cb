/*
 * support.h — what the harnesses share: a quiet log and a temporary
 * directory for the state a harness opens once (keys, a region), removed
 * when the fuzzer exits; files written there and an input cut into parts,
 * for the harnesses whose input is several files.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

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
/* Writes len bytes to dir/name (created or truncated); aborts on failure. */
void fuzz_write_file(const char *dir, const char *name, const void *data, size_t len);

/* An input that holds several files is cut at FUZZ_SEP.  A separator rather
 * than length prefixes: libFuzzer's mutations insert and delete bytes, and
 * then a mutated part stays a part and the files after it keep their
 * places, where a length prefix would shift everything after the first
 * change. */
#define FUZZ_SEP "#VMRPFZ#"
#define FUZZ_SEP_LEN 8
struct fuzz_part {
  const uint8_t *p;
  size_t len;
};
/* Cuts data into at most max parts at FUZZ_SEP (the last part keeps any
 * further separators); returns the number of parts (at least 1). */
size_t fuzz_split(const uint8_t *data, size_t len, struct fuzz_part *parts, size_t max);
