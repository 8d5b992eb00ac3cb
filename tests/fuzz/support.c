/*
 * support.c — see support.h.  The directory goes at exit (libFuzzer ends
 * with exit() after -max_total_time or -runs), not on a crash: the crash
 * report matters more than a few files in /tmp.
 */
#define _XOPEN_SOURCE 700
#include "support.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

static char dirs[4][64];
static int ndirs;

void fuzz_quiet(void)
{
  log_set_level((enum log_level)(LOG_ERROR + 1));
}

_Noreturn void fuzz_die(const char *what)
{
  fprintf(stderr, "fuzz: %s\n", what);
  abort();
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

void fuzz_remove_tree(const char *path)
{
  nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void remove_dirs(void)
{
  for (int i = 0; i < ndirs; i++)
    fuzz_remove_tree(dirs[i]);
}

const char *fuzz_tempdir(const char *name)
{
  if (ndirs == (int)(sizeof dirs / sizeof dirs[0]))
    fuzz_die("too many temporary directories");
  char *d = dirs[ndirs];
  snprintf(d, sizeof dirs[0], "%s/fuzz_%.32s.XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", name);
  if (!mkdtemp(d))
    fuzz_die("cannot make a temporary directory");
  if (ndirs++ == 0)
    atexit(remove_dirs);
  return d;
}

void fuzz_path(char *out, size_t size, const char *dir, const char *rel)
{
  if ((size_t)snprintf(out, size, "%s/%s", dir, rel) >= size)
    fuzz_die("path too long");
}

size_t fuzz_split(const uint8_t *data, size_t len, struct fuzz_part *parts, size_t max)
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

void fuzz_write_file(const char *dir, const char *name, const void *data, size_t len)
{
  char path[4096];
  fuzz_path(path, sizeof path, dir, name);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len) || close(fd) < 0)
    fuzz_die("cannot write a file in the temporary directory");
}
