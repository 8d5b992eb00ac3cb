/*
 * cbt.c — changed-block tracking: one bit per chunk.
 *
 * Bits are set with atomic OR by concurrent writers; the bitmap is swapped
 * out only by the fence, while no writer is in flight.  It persists across a
 * clean restart in a file (little-endian words), replaced atomically; the
 * caller keeps the "last shutdown was clean" flag in the metadata store and
 * passes it as `trusted`.  An untrusted bitmap is kept all clear and the next
 * capture reads every allocated chunk instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "vol/internal.h"

static uint64_t nwords(uint64_t nchunks) { return (nchunks + 63) / 64; }

int cbt_init(struct cbt *c, uint64_t nchunks, const char *path, bool trusted)
{
  c->nchunks = nchunks;
  c->words = calloc(nwords(nchunks) ? nwords(nchunks) : 1, sizeof *c->words);
  if (!c->words)
    return -ENOMEM;
  c->trusted = false;
  if (!trusted || !path)
    return 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0; /* no bitmap saved: untrusted */
  size_t want = nwords(nchunks) * sizeof(uint64_t);
  struct stat st;
  if (fstat(fd, &st) == 0 && (size_t)st.st_size == want) {
    uint64_t *tmp = malloc(want ? want : 1);
    if (tmp && pread(fd, tmp, want, 0) == (ssize_t)want) {
      for (uint64_t i = 0; i < nwords(nchunks); i++)
        atomic_store_explicit(&c->words[i], tmp[i], memory_order_relaxed);
      c->trusted = true;
    }
    free(tmp);
  }
  close(fd);
  if (!c->trusted)
    log_warn("vol", "changed-block bitmap %s unusable; next capture reads every allocated chunk", path);
  return 0;
}

void cbt_free(struct cbt *c)
{
  free(c->words);
  c->words = NULL;
}

void cbt_mark(struct cbt *c, uint64_t first, uint64_t last)
{
  for (uint64_t i = first; i <= last && i < c->nchunks; i++)
    atomic_fetch_or_explicit(&c->words[i / 64], UINT64_C(1) << (i % 64), memory_order_relaxed);
}

bool cbt_test(const struct cbt *c, uint64_t idx)
{
  if (idx >= c->nchunks)
    return false;
  return atomic_load_explicit(&c->words[idx / 64], memory_order_relaxed) >> (idx % 64) & 1;
}

int cbt_save(const struct cbt *c, const char *path)
{
  size_t n = nwords(c->nchunks);
  uint64_t *tmp = malloc(n ? n * sizeof *tmp : 1);
  if (!tmp)
    return -ENOMEM;
  for (size_t i = 0; i < n; i++)
    tmp[i] = atomic_load_explicit(&c->words[i], memory_order_relaxed);
  int r = write_file_atomic_fp("vol.cbt.write", path, tmp, n * sizeof *tmp, 0644);
  free(tmp);
  return r;
}

int cbt_resize(struct cbt *c, uint64_t nchunks)
{
  uint64_t old = nwords(c->nchunks), now = nwords(nchunks);
  if (now > old) {
    _Atomic uint64_t *w = realloc(c->words, now * sizeof *w);
    if (!w)
      return -ENOMEM;
    for (uint64_t i = old; i < now; i++)
      atomic_init(&w[i], 0);
    c->words = w;
  }
  c->nchunks = nchunks;
  return 0;
}
