/*
 * testutil.h — helpers shared by the storage unit tests: temporary
 * directories, deterministic pseudo-random data, file helpers.
 */
#pragma once
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline char *tu_mkdtemp(void)
{
  const char *t = getenv("TMPDIR");
  char *p = NULL;
  if (asprintf(&p, "%s/vmrp-test.XXXXXX", t && *t ? t : "/tmp") < 0 || !mkdtemp(p))
    abort();
  return p;
}

static inline int tu_rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st, (void)flag, (void)ftw;
  return remove(p);
}

static inline void tu_rmrf(char *dir)
{
  nftw(dir, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
  free(dir);
}

/* xorshift64*: deterministic, seedable. */
static inline uint64_t tu_rand(uint64_t *s)
{
  uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ull;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1Dull;
}

/* Random bytes, or compressible text when text is set. */
static inline void tu_fill(uint64_t *s, void *buf, size_t len, int text)
{
  uint8_t *p = buf;
  for (size_t i = 0; i < len; i++)
    p[i] = text ? (uint8_t)("aaaabbcde  \n"[tu_rand(s) % 12]) : (uint8_t)tu_rand(s);
}

static inline off_t tu_file_size(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Flips one bit of a file at off. */
static inline void tu_flip(const char *path, off_t off)
{
  int fd = open(path, O_RDWR);
  uint8_t b;
  if (fd < 0 || pread(fd, &b, 1, off) != 1)
    abort();
  b ^= 0x10;
  if (pwrite(fd, &b, 1, off) != 1)
    abort();
  close(fd);
}
