/*
 * read.c — reading trees: random-access readers (NBD export, hydration),
 * the parallel restore to a file, and the file-descriptor source.
 *
 * A reader caches the nodes on the path to the last chunk it touched, so
 * sequential reads fetch each node once, and the last chunk read in part
 * (whole chunks go straight to the caller's buffer: one copy less; a read
 * that covers all the members of a group record — a full restore point's
 * 1 MiB runs often do, an incremental one's rarely, as they mix the groups of
 * several captures — has them read or decompressed straight into it:
 * cas_get_group); once it
 * sees two consecutive chunks it asks the store to read the next
 * PREFETCH_CHUNKS ahead (cas_prefetch: kernel readahead of their pack
 * bytes).  tree_restore splits the disk by leaf over pool threads; each
 * thread fetches, checks and decompresses its chunks (cas_get_view) and
 * pwrites them straight from the store's group cache (no copy in between),
 * so while one thread writes, the others are already fetching the chunks
 * that follow (the prefetch).  Zero chunks are skipped: the output stays
 * sparse.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "snap/node.h"
#include "common/pool.h"

struct tree_reader {
  struct cas *cas;
  struct tree_info info;
  struct path_cache pc;
  uint8_t *buf;
  uint64_t buf_chunk; /* chunk held in buf, UINT64_MAX: none */
  uint64_t last;      /* last chunk fetched, for sequential detection */
  uint64_t ahead;     /* chunks below this were already prefetched */
};

#define PREFETCH_CHUNKS 16

int tree_reader_open(struct cas *cas, const struct cas_addr *root, struct tree_reader **out)
{
  struct tree_geom g;
  struct cas_addr top;
  int r = root_get(cas, root, &g, &top);
  if (r < 0)
    return r;
  if (g.chunk_shift != cas_chunk_shift(cas))
    return -EINVAL;
  struct tree_reader *rd = calloc(1, sizeof *rd);
  if (!rd || !(rd->buf = malloc((size_t)1 << g.chunk_shift))) {
    free(rd);
    return -ENOMEM;
  }
  rd->cas = cas;
  rd->info = (struct tree_info){.size = g.size, .chunk_shift = g.chunk_shift, .height = g.height, .top = top};
  rd->buf_chunk = rd->last = UINT64_MAX;
  path_cache_init(&rd->pc, &g, &top);
  *out = rd;
  return 0;
}

void tree_reader_close(struct tree_reader *rd)
{
  if (!rd)
    return;
  free(rd->buf);
  free(rd);
}

const struct tree_info *tree_reader_info(const struct tree_reader *rd) { return &rd->info; }

int tree_reader_chunk(struct tree_reader *rd, uint64_t i, struct cas_addr *out)
{
  return path_chunk(rd->cas, &rd->pc, i, out);
}

/* Sequential access: keep PREFETCH_CHUNKS chunks ahead in flight. */
static void prefetch(struct tree_reader *rd, uint64_t i)
{
  bool seq = rd->last != UINT64_MAX && i == rd->last + 1;
  rd->last = i;
  if (!seq || rd->ahead > i + PREFETCH_CHUNKS / 2)
    return;
  uint64_t from = rd->ahead > i ? rd->ahead : i + 1, to = i + PREFETCH_CHUNKS;
  if (to > rd->pc.g.nchunks)
    to = rd->pc.g.nchunks;
  for (uint64_t k = from; k < to; k++) {
    struct cas_addr a;
    if (path_chunk(rd->cas, &rd->pc, k, &a) < 0)
      break;
    if (!cas_addr_is_zero(&a))
      cas_prefetch(rd->cas, &a);
  }
  rd->ahead = to;
}

/* Chunk i (clen bytes) into dst: zeros for a hole, else fetched and checked. */
static int read_chunk(struct tree_reader *rd, uint64_t i, uint8_t *dst)
{
  struct cas_addr a;
  int r = path_chunk(rd->cas, &rd->pc, i, &a);
  if (r < 0)
    return r;
  uint32_t clen = geom_chunk_len(&rd->pc.g, i);
  prefetch(rd, i);
  if (cas_addr_is_zero(&a)) {
    memset(dst, 0, clen);
    return 0;
  }
  size_t got;
  if ((r = cas_get(rd->cas, CAS_CHUNK, &a, dst, clen, &got)) < 0)
    return r == -ENOSPC ? -EIO : r;
  return got == clen ? 0 : -EIO;
}

/* Whole chunks from i on (len bytes of them into dst, len more than one
 * chunk) when they begin with one group record's members: cas_get_group
 * reads them without the group cache's copy.  Returns the chunks read, 0 to
 * read chunk i alone, or -errno. */
static int read_group(struct tree_reader *rd, uint64_t i, uint8_t *dst, size_t len)
{
  struct cas_addr a[CAS_GROUP_MAX];
  uint32_t lens[CAS_GROUP_MAX];
  unsigned n = 0;
  size_t want = 0;
  while (n < CAS_GROUP_MAX && i + n < rd->pc.g.nchunks) {
    uint32_t clen = geom_chunk_len(&rd->pc.g, i + n);
    if (want + clen > len)
      break;
    int r = path_chunk(rd->cas, &rd->pc, i + n, &a[n]);
    if (r < 0)
      return r;
    if (cas_addr_is_zero(&a[n]))
      break;
    lens[n++] = clen;
    want += clen;
  }
  int k = cas_get_group(rd->cas, a, lens, n, dst);
  for (int c = 0; c < k; c++)
    prefetch(rd, i + (uint64_t)c);
  return k;
}

int tree_reader_read(struct tree_reader *rd, void *buf, size_t len, uint64_t off)
{
  if (off > rd->info.size || len > rd->info.size - off)
    return -EINVAL;
  uint8_t *p = buf;
  unsigned sh = rd->info.chunk_shift;
  int r = 0;
  while (len > 0 && r == 0) {
    uint64_t i = off >> sh;
    size_t in = (size_t)(off - (i << sh));
    size_t n = ((size_t)1 << sh) - in;
    if (n > len)
      n = len;
    if (in == 0 && n == geom_chunk_len(&rd->pc.g, i) && rd->buf_chunk != i) { /* straight into buf */
      int k = len > n ? read_group(rd, i, p, len) : 0;
      if (k > 0) {
        size_t got = (size_t)k << sh; /* whole chunks: only the disk's last one can be short, and it ends len */
        if (got > len)
          got = len;
        p += got;
        off += got;
        len -= got;
        continue;
      }
      r = k < 0 ? k : read_chunk(rd, i, p);
    } else {
      if (rd->buf_chunk != i) {
        rd->buf_chunk = UINT64_MAX;
        if ((r = read_chunk(rd, i, rd->buf)) == 0)
          rd->buf_chunk = i;
      }
      if (r == 0)
        memcpy(p, rd->buf + in, n);
    }
    p += n;
    off += n;
    len -= n;
  }
  return r;
}

int tree_read(struct cas *cas, const struct cas_addr *root, void *buf, size_t len, uint64_t off)
{
  struct tree_reader *rd;
  int r = tree_reader_open(cas, root, &rd);
  if (r < 0)
    return r;
  r = tree_reader_read(rd, buf, len, off);
  tree_reader_close(rd);
  return r;
}

struct restore {
  struct cas *cas;
  struct tree_geom g;
  struct cas_addr top;
  int fd;
};

struct restore_worker {
  struct path_cache pc;
  uint8_t buf[];
};

static void *restore_init(void *ctx)
{
  struct restore *rs = ctx;
  struct restore_worker *w = malloc(sizeof *w + ((size_t)1 << rs->g.chunk_shift));
  if (w)
    path_cache_init(&w->pc, &rs->g, &rs->top);
  return w;
}

static void restore_fini(void *ctx, void *state) { free(state); }

static int restore_leaf(void *ctx, void *state, uint64_t k)
{
  struct restore *rs = ctx;
  struct restore_worker *w = state;
  unsigned count = geom_count(&rs->g, 0, k);
  for (unsigned c = 0; c < count; c++) {
    uint64_t i = k * TREE_FANOUT + c;
    struct cas_addr a;
    int r = path_chunk(rs->cas, &w->pc, i, &a);
    if (r < 0)
      return r;
    if (cas_addr_is_zero(&a))
      continue;
    uint32_t clen = geom_chunk_len(&rs->g, i);
    size_t got;
    const void *content;
    if ((r = cas_get_view(rs->cas, CAS_CHUNK, &a, w->buf, clen, &content, &got)) < 0)
      return r == -ENOSPC ? -EIO : r;
    if (got != clen)
      return -EIO;
    if ((r = write_full_at_fp("snap.restore.write", rs->fd, content, clen, (off_t)(i << rs->g.chunk_shift))) < 0)
      return r;
  }
  return 0;
}

int tree_restore(struct cas *cas, const struct cas_addr *root, int fd, const struct tree_opts *opts)
{
  struct restore rs = {.cas = cas, .fd = fd};
  int r = root_get(cas, root, &rs.g, &rs.top);
  if (r < 0)
    return r;
  if (rs.g.chunk_shift != cas_chunk_shift(cas))
    return -EINVAL;
  if (ftruncate(fd, (off_t)rs.g.size) < 0)
    return -errno;
  if (cas_addr_is_zero(&rs.top) || rs.g.nchunks == 0)
    return 0;
  static const struct pool_ops ops = {.init = restore_init, .run = restore_leaf, .fini = restore_fini};
  return pool_run(pool_threads(opts ? opts->threads : 0), geom_nodes(&rs.g, 0), &ops, &rs);
}

static int fd_read(void *ctx, void *buf, size_t len, uint64_t off)
{
  return read_full_at(*(int *)ctx, buf, len, (off_t)off);
}

static int fd_is_zero(void *ctx, uint64_t off, uint64_t len)
{
  off_t d = lseek(*(int *)ctx, (off_t)off, SEEK_DATA);
  if (d < 0)
    return errno == ENXIO ? 1 : 0; /* ENXIO: only a hole follows; EINVAL: no hole support */
  return (uint64_t)d >= off + len;
}

struct tree_source tree_source_fd(int *fd)
{
  return (struct tree_source){.read = fd_read, .is_zero = fd_is_zero, .ctx = fd};
}
