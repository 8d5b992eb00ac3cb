/*
 * support.c — see support.h.  The directory goes at exit (libFuzzer ends
 * with exit() after -max_total_time or -runs), not on a crash: the crash
 * report matters more than a few files in /tmp.
 */
#define _XOPEN_SOURCE 700
#include "support.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
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
