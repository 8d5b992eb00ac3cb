/*
 * fuzz_files.h — what the harnesses that read files from disk share: a
 * scratch directory (on tmpfs when there is one, so a store's fsyncs cost
 * nothing and a run does not wear a disk), files written into it, and an
 * input cut into parts at a separator.
 *
 * Why a separator rather than length prefixes: libFuzzer's mutations insert
 * and delete bytes; with a textual separator a mutated part stays a part and
 * the files after it keep their places, where a length prefix would shift
 * everything after the first change.
 */
#pragma once
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

#define FUZZ_SEP "#VMRPFZ#"
#define FUZZ_SEP_LEN 8

struct fuzz_part {
  const uint8_t *p;
  size_t len;
};

/* Cuts data into at most max parts at FUZZ_SEP (the last part keeps any
 * further separators); returns the number of parts (at least 1). */
static inline size_t fuzz_split(const uint8_t *data, size_t len, struct fuzz_part *parts, size_t max)
{
  size_t n = 0;
  while (n + 1 < max) {
    const uint8_t *sep = memmem(data, len, FUZZ_SEP, FUZZ_SEP_LEN);
    if (!sep)
      break;
    parts[n++] = (struct fuzz_part){data, (size_t)(sep - data)};
    len -= (size_t)(sep - data) + FUZZ_SEP_LEN;
    data = sep + FUZZ_SEP_LEN;
  }
  parts[n++] = (struct fuzz_part){data, len};
  return n;
}

static inline int fuzz_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st, (void)flag, (void)ftw;
  remove(path);
  return 0;
}

/* Removes path and everything under it. */
static inline void fuzz_rm_rf(const char *path) { nftw(path, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS); }

static char *fuzz_scratch;
static inline void fuzz_scratch_rm(void) { fuzz_rm_rf(fuzz_scratch); }

/* The directory of this process's files, removed at exit (not after a
 * crash: the report matters more): under $TMPDIR if set, else /dev/shm if
 * it exists, else /tmp.  Exits when none can be made (the harness cannot
 * run).  One per process. */
static inline char *fuzz_scratch_dir(const char *name)
{
  const char *base = getenv("TMPDIR");
  struct stat st;
  if (!base || !*base)
    base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
  if (asprintf(&fuzz_scratch, "%s/vmrp-fuzz-%s.XXXXXX", base, name) < 0 || !mkdtemp(fuzz_scratch)) {
    perror("fuzz scratch directory");
    exit(1);
  }
  atexit(fuzz_scratch_rm);
  return fuzz_scratch;
}

/* Writes len bytes to dir/name (created or truncated); exits on failure. */
static inline void fuzz_write_file(const char *dir, const char *name, const void *data, size_t len)
{
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len) || close(fd) < 0) {
    perror(path);
    exit(1);
  }
}

/* Every bad input would log a line: the harnesses log nothing unless
 * VMRP_FUZZ_LOG is set (to see why an input is refused). */
static inline void fuzz_quiet_logs(void)
{
  if (!getenv("VMRP_FUZZ_LOG"))
    log_set_level((enum log_level)(LOG_ERROR + 1));
}
