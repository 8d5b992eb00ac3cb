/*
 * hydrate.c — lazy volumes: a volume that is usable at once while it is
 * filled (hydrated) from a read-only source, e.g. a disk restore point's tree.
 *
 * Data structure: the hydration bitmap `have`, one bit per chunk of the
 * source: set = the volume file holds the chunk's real content (hydrated from
 * the source, or written by the guest over the whole chunk).  A clear bit
 * means "the content is the source's; the file holds nothing that counts".
 * `durable` is the copy last persisted to the bitmap file (next to the volume;
 * header with source size, chunk size and a CRC32C, replaced atomically).
 * Chunks beyond the source's end are never lazy: the file is the truth there.
 *
 * States of a volume: LAZY (v->lazy: some bit clear, or the full bitmap not
 * yet durable) and PLAIN (no source, or everything hydrated durably).  The
 * I/O paths of vol.c and fence.c test v->lazy once and take the plain path
 * when it is false, so a fully hydrated volume costs one predictable branch.
 *
 * Reads of a chunk not yet hydrated hydrate it (hydrate-on-read) rather than
 * serve it from the source: a source read (fetch, decompress, hash check) is
 * then paid once per chunk instead of once per read, later reads run at file
 * speed, and the background step finds the chunk done.  The cost is that a
 * read may write the file, which is harmless: hydration never changes the
 * volume's content, only where it lives.
 *
 * Hydration of chunk i (by a read, a partial write, a capture or the
 * background step) runs under the chunk's stripe lock and only while its bit
 * is clear; it reads the source chunk, writes it to the file, then sets the
 * bit.  A source chunk known to be zero is only marked (the file is a hole).
 *
 * Invariants (tests/vol/vol_hydrate.c names the test of each):
 *  (1) Every read returns the chunk's real content: a chunk whose bit is clear
 *      is hydrated before the file is read (test_reads_equal_image).
 *  (2) Hydration never overwrites a guest change: a change that covers only
 *      part of a chunk hydrates the chunk first; a change that covers a whole
 *      chunk not yet hydrated holds the chunk's stripe lock across the change
 *      and sets the bit before releasing it, so no hydration of that chunk can
 *      run after it (test_guest_writes_never_overwritten,
 *      test_concurrent_writers_and_hydrator).
 *  (3) A bit is set only after the chunk's bytes are in the file (the write
 *      returned), and the bitmap file is written only after an fdatasync of
 *      the volume that follows the snapshot of the bits it records: a bit in
 *      the persisted bitmap never stands for bytes that a crash can lose
 *      (test_crash_reopen_keeps_acknowledged; failpoints vol.hydrate.write,
 *      vol.hydrate.fsync, vol.hydrate.persist: test_io_failures).
 *  (4) FLUSH and FUA: when a guest change since the last persist touched a
 *      chunk whose bit is not durable, the bitmap is persisted (by (3)'s
 *      order) before the FLUSH or FUA write is acknowledged; a persist that
 *      fails fails the FLUSH, and the next one persists again.  So after a
 *      restart no chunk holding a write acknowledged as durable is hydrated
 *      again (test_crash_reopen_keeps_acknowledged; failpoints
 *      vol.hydrate.persist, vol.hydrate.fsync: test_io_failures).
 *  (5) v->lazy turns false only once a bitmap with every bit set is durable,
 *      so the plain paths (which never persist the bitmap) cannot rely on a
 *      bit a crash could lose (test_step_completes_and_goes_plain).
 *  (6) Captures see real content: copy-before-write, capture reads and the
 *      hole test of a capture hydrate the chunk first, so a restore point of
 *      a half-hydrated volume is right (test_capture_half_hydrated).
 *  (7) Extents report a chunk not yet hydrated as a hole exactly when the
 *      source says it is zero (test_extents).
 * The background step fills runs of up to HY_RUN_BYTES of consecutive
 * chunks (aligned, so a run's stripes are consecutive and ascending) in two
 * roles.  pool_threads(0) filler threads, each taking HY_SEGMENT_BYTES of
 * runs at a time (so that each reads a long stretch of the source in order),
 * read a run's non-zero chunks not yet hydrated from the source (one call per
 * span) into one of HY_ITEMS_PER_FILLER run buffers each (bounded memory,
 * kept from step to step) and queue it; zero chunks are only noted.  The
 * step's own thread is the one writer: it takes the run's stripe locks,
 * writes the fetched chunks whose bits are still clear (one pwrite per span),
 * marks them and the zero ones, and gives the buffer back.  Fillers hold no
 * stripe: the source never changes, and the writer's check under the locks
 * is what keeps a guest change or a hydrate-on-read that came in between from
 * being overwritten (invariant 2).  One writer because the file system holds
 * the inode's lock across an allocating direct write and waiters spin on it
 * (four threads writing at once: 0.74 GB/s); a separate writer with queued
 * runs because the disk then never waits for a filler to finish its fetch,
 * nor for a sleeping thread to be handed the write lock (the former design,
 * each thread fetching then writing under a mutex: the disk idle 15-20 % of
 * a restore in gaps of 0.1-1 ms).  The fillers run at nice HY_FILLER_NICE
 * so that the writer, which needs little CPU but must issue the next write
 * the moment the last one returns, is not queued behind them (and guest I/O
 * is not either); together about 7 % less time per restore of bench/rp's
 * 4 GiB disk (bench/README.md "rp").  A step lasts up to HY_STEP_MS: the
 * fillers are threads of the step, and their thread-local caches (the
 * store's decompressed groups, the source readers' read-ahead) are lost when
 * it ends, so 256 MiB steps (16 per 4 GiB) cost 70-80k page faults and 5 %
 * of the time of a restore.  Runs are written with O_DIRECT (a second
 * descriptor, `dfd`; spans that are not 4 KiB aligned, or a file system that
 * refuses, go through the page cache, their writeback started at once with
 * sync_file_range): a buffered write must first get page-cache pages,
 * which when the page cache is full (reclaim, compaction) costs more than
 * the copy (measured in bench/README.md "rp": 8.4 s buffered, 3.2 s direct
 * for 4 GiB), and leaves the data to be written back before the persist.  The
 * kernel keeps direct writes coherent with the page cache that guest I/O
 * uses (cached pages of the range are written back and dropped), and no
 * guest I/O touches a chunk's bytes before its bit is set (stripe lock).
 * The writer leaves the zero 4 KiB blocks of the chunks it writes unwritten
 * (fillers note them while the bytes are hot; qemu-img convert detects zeros
 * the same way): bench/rp's v2 has 8 % of its bytes in such blocks, and its
 * restore takes about as much less time.  The file reads zero there already:
 * the range of a chunk whose bit is clear is a hole, unless a hydration or a
 * guest change wrote it before a crash lost the bit.  Those chunks ("stale",
 * found with SEEK_DATA when a volume is attached again) are written whole, so
 * a guest change that was lost is lost whole, as before
 * (test_step_leaves_zero_blocks_unwritten, test_crash_reopen_keeps_acknowledged).
 * Progress is persisted by (3)'s protocol at most every HY_PERSIST_MS or
 * HY_PERSIST_BYTES written, and always when the last bit is set: a crash
 * loses at most that much filling (the chunks' bits were not durable, so they
 * are filled again from the source; guest changes acknowledged as durable are
 * covered by (4)), and a restart resumes where the durable bitmap says
 * (test_crash_reopen_keeps_acknowledged, test_step_persists_by_time).
 *
 * An encrypted volume's chunks are encrypted as they are written (crypt.c;
 * the writer's run buffer in place): a zero block is a zero sector, which an
 * encrypted volume stores as zeros too, so leaving it unwritten still holds.
 *
 * Lock order: capture stripe (fence.c) → hydration stripes (ascending);
 * persist_lock is never held with a stripe.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "common/bytes.h"
#include "common/crc32c.h"
#include "common/failpoint.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/pool.h"
#include "common/timefmt.h"
#include "vol/internal.h"

#define HY_STRIPES 256
#define HY_MAGIC "VMRPHYD1"
#define HY_RUN_BYTES (1u << 20)            /* a background run: one source read, one write */
#define HY_SEGMENT_BYTES (16u << 20)       /* runs a background thread fills in a row */
#define HY_DIO_ALIGN 4096u                 /* offsets, lengths and buffers of direct writes */
#define HY_PERSIST_MS 1000                 /* the step persists at most this often ... */
#define HY_PERSIST_BYTES (UINT64_C(512) << 20) /* ... or after writing this much */
#define HY_ITEMS_PER_FILLER 4              /* run buffers per filler thread */
#define HY_FILLER_NICE 10                  /* the fillers' nice value: below the writer */
#define HY_STEP_MS 1000                    /* a step ends after about this long, whatever its budget */
#define HY_HUGE_PAGE (2u << 20)            /* the run buffers' alignment: a transparent huge page */
_Static_assert(HY_DIO_ALIGN == VOL_CRYPT_SECTOR, "a zero block is a zero sector of an encrypted volume");

struct hy_hdr {
  char magic[8];
  uint32_t chunk_size;
  uint32_t crc;      /* CRC32C of the header (crc = 0) and the words */
  uint64_t src_size;
  uint64_t nchunks;
};

struct hydration {
  struct vol_source src;
  char *path;
  int dfd;                    /* the volume file opened O_DIRECT for the step's writes, or -1 */
  uint64_t nchunks;           /* chunks of the source */
  _Atomic uint64_t *have;     /* bit i: chunk i holds its real content in the file */
  _Atomic uint64_t *durable;  /* the bits last persisted */
  uint64_t *stale;            /* bit i: clear in have, but the file held data there when attached (or NULL) */
  _Atomic uint64_t left;      /* bits still clear */
  _Atomic bool guest_dirty;   /* a guest change touched a chunk whose bit is not durable */
  pthread_mutex_t persist_lock;
  struct hy_item *items;      /* the steps' run buffers, kept from step to step */
  void *items_mem;            /* their mapping (items_alloc) */
  size_t items_len;
  unsigned nitems;
  int64_t persisted_ms;       /* when the bitmap was last persisted (persist_lock) */
  uint64_t cursor;            /* vol_hydrate_step's position */
  uint64_t unpersisted;       /* bytes the steps wrote since their last persist */
  pthread_mutex_t stripes[HY_STRIPES];
};

static size_t nwords(uint64_t nchunks) { return (size_t)((nchunks + 63) / 64); }

static bool test_bit(_Atomic uint64_t *w, uint64_t i)
{
  return atomic_load_explicit(&w[i / 64], memory_order_acquire) >> (i % 64) & 1;
}

static void mark(struct hydration *hy, uint64_t i)
{
  uint64_t m = UINT64_C(1) << (i % 64);
  if (!(atomic_fetch_or_explicit(&hy->have[i / 64], m, memory_order_acq_rel) & m))
    atomic_fetch_sub_explicit(&hy->left, 1, memory_order_release);
}

static size_t src_len(const struct volume *v, uint64_t i)
{
  uint64_t left = v->hy->src.size - i * v->chunk_size;
  return left < v->chunk_size ? (size_t)left : v->chunk_size;
}

/* Hydrates chunk i if its bit is clear (invariants 2, 3).  buf: chunk size
 * bytes. */
static int fill(struct volume *v, uint64_t i, void *buf)
{
  struct hydration *hy = v->hy;
  int r = 0;
  pthread_mutex_lock(&hy->stripes[i % HY_STRIPES]);
  if (!test_bit(hy->have, i)) {
    int zero = hy->src.chunk_is_zero ? hy->src.chunk_is_zero(hy->src.ctx, i) : 0;
    size_t n = src_len(v, i);
    if (zero < 0)
      r = zero;
    else if (zero == 0) {
      r = hy->src.read_chunk(hy->src.ctx, i, buf, n);
      if (r == 0)
        r = failpoint_err("vol.hydrate.write");
      if (r == 0)
        r = v->cr ? vc_pwrite(v, buf, n, i * v->chunk_size, VC_OWNED)
                  : write_full_at(v->fd, buf, n, (off_t)(i * v->chunk_size));
    }
    if (r == 0)
      mark(hy, i);
    else
      log_error("vol", "hydrating chunk %llu of %s failed: %s", (unsigned long long)i, v->path, strerror(-r));
  }
  pthread_mutex_unlock(&hy->stripes[i % HY_STRIPES]);
  return r;
}

int hy_ensure(struct volume *v, uint64_t idx)
{
  struct hydration *hy = v->hy;
  if (!hy || idx >= hy->nchunks || test_bit(hy->have, idx))
    return 0;
  void *buf = malloc(v->chunk_size);
  int r = buf ? fill(v, idx, buf) : -ENOMEM;
  free(buf);
  return r;
}

int hy_ensure_range(struct volume *v, uint64_t off, uint64_t len)
{
  struct hydration *hy = v->hy;
  if (len == 0)
    return 0;
  uint64_t first = off / v->chunk_size, last = (off + len - 1) / v->chunk_size;
  void *buf = NULL;
  int r = 0;
  for (uint64_t i = first; i <= last && i < hy->nchunks && r == 0; i++) {
    if (test_bit(hy->have, i))
      continue;
    if (!buf && !(buf = malloc(v->chunk_size)))
      r = -ENOMEM;
    if (r == 0)
      r = fill(v, i, buf);
  }
  free(buf);
  return r;
}

int hy_change_begin(struct volume *v, uint64_t off, uint64_t len, struct hy_claim *cl)
{
  struct hydration *hy = v->hy;
  memset(cl, 0, sizeof *cl);
  cl->first = cl->cfirst = 1; /* empty ranges */
  uint64_t cs = v->chunk_size, first = off / cs, last = (off + len - 1) / cs;
  if (first >= hy->nchunks)
    return 0;
  if (last >= hy->nchunks)
    last = hy->nchunks - 1;
  cl->first = first;
  cl->last = last;
  int r = 0;
  for (uint64_t i = first; i <= last && r == 0; i++) {
    if (test_bit(hy->have, i))
      continue;
    bool covered = off <= i * cs && off + len >= i * cs + src_len(v, i);
    if (!covered) {
      r = hy_ensure(v, i);
      continue;
    }
    if (cl->cfirst > cl->clast)
      cl->cfirst = i;
    cl->clast = i;
    cl->stripes[(i % HY_STRIPES) / 64] |= UINT64_C(1) << (i % 64);
  }
  for (unsigned s = 0; s < HY_STRIPES; s++) /* ascending: no deadlock between claims */
    if (cl->stripes[s / 64] >> (s % 64) & 1)
      pthread_mutex_lock(&hy->stripes[s]);
  return r;
}

void hy_change_end(struct volume *v, struct hy_claim *cl, int r)
{
  struct hydration *hy = v->hy;
  if (r == 0)
    for (uint64_t i = cl->cfirst; i <= cl->clast; i++)
      mark(hy, i);
  for (unsigned s = 0; s < HY_STRIPES; s++)
    if (cl->stripes[s / 64] >> (s % 64) & 1)
      pthread_mutex_unlock(&hy->stripes[s]);
  bool dirty = false;
  for (uint64_t i = cl->first; i <= cl->last && !dirty; i++)
    dirty = !test_bit(hy->durable, i);
  if (dirty)
    atomic_store_explicit(&hy->guest_dirty, true, memory_order_release);
}

/* Invariant 3: snapshot → fdatasync → atomic replace.  persist_lock held. */
static int persist(struct volume *v)
{
  struct hydration *hy = v->hy;
  size_t w = nwords(hy->nchunks), len = sizeof(struct hy_hdr) + w * sizeof(uint64_t);
  unsigned char *buf = calloc(1, len);
  if (!buf)
    return -ENOMEM;
  struct hy_hdr *h = (struct hy_hdr *)buf;
  uint64_t *snap = (uint64_t *)(buf + sizeof *h);
  /* bits are only ever set, each before its `left` decrement: a zero read
   * here means the snapshot below is complete */
  bool complete = atomic_load_explicit(&hy->left, memory_order_acquire) == 0;
  for (size_t i = 0; i < w; i++)
    snap[i] = atomic_load_explicit(&hy->have[i], memory_order_acquire);
  int r = fdatasync_fp("vol.hydrate.fsync", v->fd);
  if (r == 0) {
    memcpy(h->magic, HY_MAGIC, 8);
    h->chunk_size = v->chunk_size;
    h->src_size = hy->src.size;
    h->nchunks = hy->nchunks;
    h->crc = crc32c(0, buf, len);
    r = write_file_atomic_fp("vol.hydrate.persist", hy->path, buf, len, 0644);
  }
  if (r == 0) {
    hy->persisted_ms = time_mono_ms();
    for (size_t i = 0; i < w; i++)
      atomic_store_explicit(&hy->durable[i], snap[i], memory_order_release);
    if (complete)
      atomic_store_explicit(&v->lazy, false, memory_order_release); /* invariant 5 */
  } else {
    log_error("vol", "persisting the hydration bitmap of %s failed: %s", v->path, strerror(-r));
  }
  free(buf);
  return r;
}

int hy_flush(struct volume *v)
{
  struct hydration *hy = v->hy;
  pthread_mutex_lock(&hy->persist_lock);
  int r;
  if (atomic_exchange_explicit(&hy->guest_dirty, false, memory_order_acq_rel)) {
    r = persist(v);
    if (r < 0)
      atomic_store(&hy->guest_dirty, true);
  } else {
    r = fdatasync_fp("vol.data.flush", v->fd);
  }
  pthread_mutex_unlock(&hy->persist_lock);
  return r;
}

/* Merges adjacent extents of the same kind before passing them on. */
struct merge {
  vol_extent_cb cb;
  void *ctx;
  uint64_t off, len;
  bool hole;
};

static int merge_add(void *ctx, uint64_t off, uint64_t len, bool hole)
{
  struct merge *m = ctx;
  if (m->len && m->hole == hole && m->off + m->len == off) {
    m->len += len;
    return 0;
  }
  int r = m->len ? m->cb(m->ctx, m->off, m->len, m->hole) : 0;
  m->off = off;
  m->len = len;
  m->hole = hole;
  return r;
}

int hy_extents(struct volume *v, uint64_t off, uint64_t end, vol_extent_cb cb, void *ctx)
{
  struct hydration *hy = v->hy;
  struct merge m = {cb, ctx, 0, 0, false};
  uint64_t cs = v->chunk_size;
  int r = 0;
  while (off < end && r == 0) {
    uint64_t i = off / cs, j = i;
    while (j * cs < end && (j >= hy->nchunks || test_bit(hy->have, j)))
      j++;
    if (j > i) { /* hydrated (or beyond the source): the file says */
      uint64_t to = j * cs < end ? j * cs : end;
      r = file_extents(v, off, to, merge_add, &m);
      off = to;
      continue;
    }
    int zero = hy->src.chunk_is_zero ? hy->src.chunk_is_zero(hy->src.ctx, i) : 0;
    uint64_t to = (i + 1) * cs < end ? (i + 1) * cs : end;
    r = zero < 0 ? zero : merge_add(&m, off, to - off, zero == 1);
    off = to;
  }
  if (r == 0 && m.len)
    r = cb(ctx, m.off, m.len, m.hole);
  return r;
}

/* A run fetched by a filler, waiting for the writer (vol_hydrate_step). */
struct hy_item {
  uint64_t run;
  uint64_t fetched; /* bit c: chunk c of the run was read into buf */
  uint64_t zero;    /* bit c: chunk c of the run is zero in the source */
  /* bit b: block b of buf is zero (fetched chunks; blocks past the first
   * HY_RUN_BYTES, in runs of one chunk larger than that, are never noted) */
  uint64_t zero_blocks[HY_RUN_BYTES / HY_DIO_ALIGN / 64];
  uint8_t *buf;     /* a run's bytes, in hy->items_mem (items_alloc) */
  struct hy_item *next;
};

static void items_free(struct hydration *hy)
{
  if (hy->items_mem)
    munmap(hy->items_mem, hy->items_len);
  hy->items_mem = NULL;
  free(hy->items);
  hy->items = NULL;
  hy->nitems = 0;
}

/* n items with buffers of len bytes each, in one mapping on 2 MiB pages where
 * the kernel gives them (MADV_HUGEPAGE is advice): a direct write from a huge
 * page pins one page and hands the disk one segment where 4 KiB pages need
 * 256 for a MiB, and restores took 7-9 % less time (bench/README.md "rp"). */
static int items_alloc(struct hydration *hy, unsigned n, size_t len)
{
  size_t huge = HY_HUGE_PAGE;
  if (!(hy->items = calloc(n, sizeof *hy->items)))
    return -ENOMEM;
  hy->items_len = n * len + huge; /* room to align the buffers to a huge page */
  void *m = mmap(NULL, hy->items_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) {
    items_free(hy);
    return -ENOMEM;
  }
  hy->items_mem = m;
  uint8_t *base = (uint8_t *)(((uintptr_t)m + huge - 1) & ~(uintptr_t)(huge - 1));
  madvise(base, n * len, MADV_HUGEPAGE); /* advisory */
  for (hy->nitems = 0; hy->nitems < n; hy->nitems++)
    hy->items[hy->nitems].buf = base + hy->nitems * len;
  return 0;
}

static void hy_free(struct hydration *hy)
{
  if (!hy)
    return;
  for (int i = 0; i < HY_STRIPES; i++)
    pthread_mutex_destroy(&hy->stripes[i]);
  pthread_mutex_destroy(&hy->persist_lock);
  items_free(hy);
  free(hy->stale);
  free(hy->have);
  free(hy->durable);
  free(hy->path);
  if (hy->dfd >= 0)
    close(hy->dfd);
  free(hy);
}

/* Loads the bitmap file into hy->have and hy->durable. */
static int load(struct volume *v, struct hydration *hy)
{
  void *data = NULL;
  size_t len = 0, w = nwords(hy->nchunks);
  int r = read_file(hy->path, &data, &len);
  if (r < 0)
    goto out;
  struct hy_hdr h;
  r = -EIO;
  if (len != sizeof h + w * sizeof(uint64_t))
    goto out;
  memcpy(&h, data, sizeof h);
  uint32_t crc = h.crc;
  ((struct hy_hdr *)data)->crc = 0;
  if (memcmp(h.magic, HY_MAGIC, 8) || h.chunk_size != v->chunk_size || h.src_size != hy->src.size ||
      h.nchunks != hy->nchunks || crc32c(0, data, len) != crc)
    goto out;
  const uint64_t *words = (const uint64_t *)((const char *)data + sizeof h);
  uint64_t set = 0;
  for (size_t i = 0; i < w; i++) {
    uint64_t x = words[i];
    if (i == w - 1 && hy->nchunks % 64)
      x &= (UINT64_C(1) << (hy->nchunks % 64)) - 1;
    atomic_init(&hy->have[i], x);
    atomic_init(&hy->durable[i], x);
    set += (uint64_t)__builtin_popcountll(x);
  }
  atomic_init(&hy->left, hy->nchunks - set);
  r = 0;
out:
  if (r == -EIO)
    log_error("vol", "hydration bitmap %s is damaged or belongs to another source", hy->path);
  free(data);
  return r;
}

/* The chunks whose bit is clear but whose range of the file holds data: what
 * a hydration or a guest change wrote before a crash lost its bit.  The step
 * writes them whole (design comment).  A file system that cannot tell holes
 * says data everywhere, which only costs the zero blocks' writes. */
struct stale_scan {
  struct hydration *hy;
  uint32_t chunk_size;
};

static int note_stale(void *ctx, uint64_t off, uint64_t len, bool hole)
{
  struct stale_scan *s = ctx;
  for (uint64_t c = off / s->chunk_size; !hole && c < s->hy->nchunks && c * s->chunk_size < off + len; c++)
    if (!test_bit(s->hy->have, c))
      s->hy->stale[c / 64] |= UINT64_C(1) << (c % 64);
  return 0;
}

static int find_stale(struct volume *v, struct hydration *hy)
{
  if (!(hy->stale = calloc(nwords(hy->nchunks), sizeof *hy->stale)))
    return -ENOMEM;
  struct stale_scan s = {hy, v->chunk_size};
  if (file_extents(v, 0, hy->src.size, note_stale, &s) < 0) /* cannot tell: every clear chunk */
    note_stale(&s, 0, hy->src.size, false);
  return 0;
}

int vol_hydrate_attach(struct volume *v, const struct vol_source *src, const char *hyd_path, bool create)
{
  if (v->readonly)
    return -EROFS;
  if (v->hy || !src || !src->read_chunk || src->size == 0 || src->size > vol_size(v) || !hyd_path)
    return -EINVAL;
  struct hydration *hy = calloc(1, sizeof *hy);
  if (!hy)
    return -ENOMEM;
  hy->src = *src;
  hy->nchunks = (src->size + v->chunk_size - 1) / v->chunk_size;
  hy->have = calloc(nwords(hy->nchunks), sizeof *hy->have);
  hy->durable = calloc(nwords(hy->nchunks), sizeof *hy->durable);
  hy->path = strdup(hyd_path);
  hy->dfd = open(v->path, O_WRONLY | O_DIRECT | O_CLOEXEC); /* advisory: -1 means buffered writes */
  pthread_mutex_init(&hy->persist_lock, NULL);
  for (int i = 0; i < HY_STRIPES; i++)
    pthread_mutex_init(&hy->stripes[i], NULL);
  atomic_init(&hy->left, hy->nchunks);
  int r = hy->have && hy->durable && hy->path ? 0 : -ENOMEM;
  if (r == 0 && !create)
    r = load(v, hy);
  if (r == 0 && !create && atomic_load(&hy->left) > 0)
    r = find_stale(v, hy);
  hy->persisted_ms = time_mono_ms(); /* the durable bitmap is current as of now */
  if (r == 0) {
    v->hy = hy;
    atomic_store(&v->lazy, true);
    pthread_mutex_lock(&hy->persist_lock);
    /* create: the all-clear bitmap must exist before any I/O; load: a
     * complete bitmap makes the volume plain at once */
    r = create || atomic_load(&hy->left) == 0 ? persist(v) : 0;
    pthread_mutex_unlock(&hy->persist_lock);
    if (r < 0) {
      v->hy = NULL;
      atomic_store(&v->lazy, false);
    }
  }
  if (r < 0)
    hy_free(hy);
  return r;
}

/* Chunks per background run: a power of two (chunk sizes are), so runs never
 * straddle a 64-bit bitmap word or wrap around the stripes. */
static unsigned run_chunks(const struct volume *v)
{
  unsigned n = 1;
  while (n < 64 && (uint64_t)n * 2 * v->chunk_size <= HY_RUN_BYTES)
    n *= 2;
  return n;
}

struct step {
  struct volume *v;
  unsigned run;              /* chunks per run */
  uint64_t seg;              /* runs per segment (what a filler takes at a time) */
  uint64_t first, nruns;     /* the step's first run; runs of the source */
  _Atomic int64_t budget;    /* bytes left to read (a zero chunk counts 1/64) */
  _Atomic uint64_t resume;   /* lowest run left to the next step */
  uint64_t written;          /* bytes written to the file (by the writer alone) */
  _Atomic int err;           /* the first failure of a run */
  _Atomic uint64_t next_seg; /* the next segment a filler takes */
  uint64_t nsegs;
  _Atomic bool stop;         /* a filler failed, or the budget or the time is spent */
  int64_t deadline_ms;       /* fillers take no run after this (time_mono_ms) */
  pthread_mutex_t lock;      /* the queue, the free items, fillers_left */
  pthread_cond_t ready;      /* the writer waits for an item or the fillers' end */
  pthread_cond_t room;       /* fillers wait for a free item */
  struct hy_item *head, *tail, *free;
  unsigned fillers_left;
};

/* Budget or time spent: remembers run k for the next step; -ECANCELED (the
 * filler stops). */
static int step_defer(struct step *st, uint64_t k)
{
  uint64_t low = atomic_load(&st->resume);
  while (k < low && !atomic_compare_exchange_weak(&st->resume, &low, k))
    ;
  return -ECANCELED;
}

static void step_fail(struct step *st, uint64_t k, int r)
{
  struct volume *v = st->v;
  uint64_t end = (k + 1) * st->run < v->hy->nchunks ? (k + 1) * st->run : v->hy->nchunks;
  log_error("vol", "hydrating chunks %llu-%llu of %s failed: %s", (unsigned long long)(k * st->run),
            (unsigned long long)end - 1, v->path, strerror(-r));
  int ok = 0;
  atomic_compare_exchange_strong(&st->err, &ok, r);
  atomic_store(&st->stop, true);
  step_defer(st, k);
}

/* Notes the zero blocks of it->buf[from, from + len) (from is block aligned;
 * a short last block counts as a block).  Cheap: a block that is not zero is
 * told apart in its first bytes. */
static void note_zero_blocks(struct hy_item *it, size_t from, size_t len)
{
  for (size_t o = 0; o < len && from + o < HY_RUN_BYTES; o += HY_DIO_ALIGN) {
    size_t b = (from + o) / HY_DIO_ALIGN;
    if (bytes_zero(it->buf + from + o, len - o < HY_DIO_ALIGN ? len - o : HY_DIO_ALIGN))
      it->zero_blocks[b / 64] |= UINT64_C(1) << (b % 64);
  }
}

/* Whether the writer may leave block b of it, in chunk c, unwritten. */
static bool leave_unwritten(const struct hydration *hy, const struct hy_item *it, uint64_t b, uint64_t c)
{
  return b < HY_RUN_BYTES / HY_DIO_ALIGN && (it->zero_blocks[b / 64] >> (b % 64) & 1) &&
         !(hy->stale && (hy->stale[c / 64] >> (c % 64) & 1));
}

/* Filler: reads run k's chunks that are clear and not zero into a free item,
 * without the stripe locks (the source never changes; the writer checks the
 * bits again under the locks), and queues it for the writer. */
static int fill_run(struct step *st, uint64_t k)
{
  struct volume *v = st->v;
  struct hydration *hy = v->hy;
  uint64_t first = k * st->run, end = first + st->run;
  if (end > hy->nchunks)
    end = hy->nchunks;
  uint64_t mask = (end - first == 64 ? UINT64_MAX : (UINT64_C(1) << (end - first)) - 1) << (first % 64);
  if ((atomic_load_explicit(&hy->have[first / 64], memory_order_acquire) & mask) == mask)
    return 0;
  if (time_mono_ms() >= st->deadline_ms)
    return step_defer(st, k);
  /* the run's most costly case is reserved up front and the rest given back
   * after, so that a step's threads together stay within about its budget */
  int64_t reserve = (int64_t)((end - first) * v->chunk_size);
  if (atomic_fetch_sub(&st->budget, reserve) <= 0) {
    atomic_fetch_add(&st->budget, reserve);
    return step_defer(st, k);
  }
  pthread_mutex_lock(&st->lock);
  while (!st->free)
    pthread_cond_wait(&st->room, &st->lock);
  struct hy_item *it = st->free;
  st->free = it->next;
  pthread_mutex_unlock(&st->lock);
  it->run = k;
  it->fetched = it->zero = 0;
  memset(it->zero_blocks, 0, sizeof it->zero_blocks);
  int r = 0;
  int64_t cost = 0, read = 0;
  for (uint64_t i = first; i < end && r == 0;) {
    uint64_t j = i; /* [i, j): clear chunks of the source that are not zero */
    int zero = 0;
    while (j < end && !test_bit(hy->have, j) &&
           (zero = hy->src.chunk_is_zero ? hy->src.chunk_is_zero(hy->src.ctx, j) : 0) == 0)
      j++;
    if (j > i) {
      size_t len = (size_t)((j - 1 - i) * v->chunk_size + src_len(v, j - 1));
      r = hy->src.read_chunk(hy->src.ctx, i, it->buf + (i - first) * v->chunk_size, len);
      if (r == 0)
        note_zero_blocks(it, (i - first) * v->chunk_size, len);
      for (uint64_t c = i; c < j; c++)
        it->fetched |= UINT64_C(1) << (c - first);
      read += (int64_t)((j - i) * v->chunk_size);
    }
    if (r == 0 && zero < 0)
      r = zero;
    if (r == 0 && zero == 1) {
      it->zero |= UINT64_C(1) << (j - first);
      cost += (int64_t)(v->chunk_size / 64);
    }
    i = j + 1;
  }
  atomic_fetch_add(&st->budget, reserve - cost - read);
  pthread_mutex_lock(&st->lock);
  if (r == 0 && (it->fetched | it->zero)) {
    it->next = NULL;
    if (st->tail)
      st->tail->next = it;
    else
      st->head = it;
    st->tail = it;
    pthread_cond_signal(&st->ready);
  } else {
    it->next = st->free;
    st->free = it;
  }
  pthread_mutex_unlock(&st->lock);
  if (r < 0)
    step_fail(st, k, r);
  return r;
}

/* Writes len bytes of buf at off: directly when aligned, else through the
 * page cache.  An encrypted volume's are encrypted in buf first (wm: the
 * conversion's watermark, crypt.c). */
static int write_piece(struct volume *v, uint8_t *buf, uint64_t len, uint64_t off, uint64_t wm)
{
  if (v->cr) {
    size_t ready;
    int r = vc_seal(v, buf, (size_t)len, off, wm, &ready);
    if (r < 0 || ready == 0)
      return r;
    len = ready;
  }
  bool direct = v->hy->dfd >= 0 && off % HY_DIO_ALIGN == 0 && len % HY_DIO_ALIGN == 0;
  int r = failpoint_err("vol.hydrate.write");
  if (r < 0)
    return r;
  if (direct && (r = write_full_at(v->hy->dfd, buf, (size_t)len, (off_t)off)) == -EINVAL) {
    direct = false; /* the file system refused this direct write: write it through the cache */
    r = 0;
  }
  if (r == 0 && !direct) {
    r = write_full_at(v->fd, buf, (size_t)len, (off_t)off);
    if (r == 0) /* advisory: start the writeback now, the persist's fdatasync waits for less */
      sync_file_range(v->fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
  }
  return r;
}

/* Writes chunks [a, b) of item it (their stripes held), all but their zero
 * blocks, which the file already reads as zero unless the chunk is stale
 * (design comment). */
static int write_span(struct volume *v, const struct step *st, const struct hy_item *it, uint64_t a, uint64_t b)
{
  uint64_t off = a * v->chunk_size, len = (b - 1 - a) * v->chunk_size + src_len(v, b - 1);
  uint64_t from = (a - it->run * st->run) * v->chunk_size; /* in it->buf, block aligned */
  int r = 0;
  struct vc_io io = {.wm = VC_ALL};
  if (v->cr)
    vc_enter(v, off, len, &io);
  for (uint64_t o = 0; o < len && r == 0;) {
    uint64_t blk = (from + o) / HY_DIO_ALIGN, e = o + HY_DIO_ALIGN;
    if (leave_unwritten(v->hy, it, blk, a + o / v->chunk_size)) {
      o = e;
      continue;
    }
    for (blk++; e < len && !leave_unwritten(v->hy, it, blk, a + e / v->chunk_size); blk++)
      e += HY_DIO_ALIGN;
    if (e > len)
      e = len;
    r = write_piece(v, it->buf + from + o, e - o, off + o, io.wm);
    o = e;
  }
  if (v->cr)
    vc_exit(v, &io);
  return r;
}

/* Writer: under the run's stripe locks, writes the fetched chunks whose bits
 * are still clear (a guest change or a read may have hydrated some meanwhile)
 * and marks them and the zero ones (invariants 2, 3). */
static int write_item(struct step *st, const struct hy_item *it)
{
  struct volume *v = st->v;
  struct hydration *hy = v->hy;
  uint64_t first = it->run * st->run, end = first + st->run;
  if (end > hy->nchunks)
    end = hy->nchunks;
  for (uint64_t i = first; i < end; i++)
    pthread_mutex_lock(&hy->stripes[i % HY_STRIPES]);
  int r = 0;
  uint64_t written = 0;
  for (uint64_t i = first; i < end && r == 0;) {
    uint64_t bit = UINT64_C(1) << (i - first);
    if (test_bit(hy->have, i) || !((it->fetched | it->zero) & bit)) {
      i++;
      continue;
    }
    if (it->zero & bit) { /* the file's hole already says so */
      mark(hy, i++);
      continue;
    }
    uint64_t j = i + 1;
    while (j < end && (it->fetched >> (j - first) & 1) && !test_bit(hy->have, j))
      j++;
    if ((r = write_span(v, st, it, i, j)) == 0) {
      for (uint64_t c = i; c < j; c++)
        mark(hy, c);
      written += (j - i) * v->chunk_size;
    }
    i = j;
  }
  for (uint64_t i = end; i-- > first;)
    pthread_mutex_unlock(&hy->stripes[i % HY_STRIPES]);
  st->written += written;
  if (r < 0) /* the run is retried by the next step */
    step_fail(st, it->run, r);
  return r;
}

/* The writer (the step's own thread): the queued runs in the order they were
 * queued, until the fillers are done and the queue is empty. */
static void step_write(struct step *st)
{
  pthread_mutex_lock(&st->lock);
  for (;;) {
    while (!st->head && st->fillers_left)
      pthread_cond_wait(&st->ready, &st->lock);
    struct hy_item *it = st->head;
    if (!it)
      break;
    if (!(st->head = it->next))
      st->tail = NULL;
    pthread_mutex_unlock(&st->lock);
    write_item(st, it);
    pthread_mutex_lock(&st->lock);
    it->next = st->free;
    st->free = it;
    pthread_cond_signal(&st->room);
  }
  pthread_mutex_unlock(&st->lock);
}

/* A filler thread: takes segments in turn and fills their runs in order, so
 * that each filler reads a long stretch of the source in order (its
 * read-ahead and the store's group cache serve it) while the fillers fill
 * different stretches.  It runs at a lower priority (HY_FILLER_NICE): the
 * writer needs little CPU, but must issue the next write the moment the last
 * one returns, and with the fillers at the same priority it waited for a CPU
 * behind them (measured: see the design comment). */
static void *step_fill(void *arg)
{
  struct step *st = arg;
  setpriority(PRIO_PROCESS, (id_t)gettid(), HY_FILLER_NICE); /* advisory: raising one's nice needs no privilege */
  while (!atomic_load(&st->stop)) {
    uint64_t k = atomic_fetch_add(&st->next_seg, 1);
    if (k >= st->nsegs)
      break;
    uint64_t a = st->first + k * st->seg, b = a + st->seg < st->nruns ? a + st->seg : st->nruns, j;
    for (j = a; j < b && !atomic_load(&st->stop); j++)
      if (fill_run(st, j) < 0)
        atomic_store(&st->stop, true);
    if (j < b) /* stopped by another filler: the next step starts here at the latest */
      step_defer(st, j);
  }
  pthread_mutex_lock(&st->lock);
  st->fillers_left--;
  pthread_cond_signal(&st->ready);
  pthread_mutex_unlock(&st->lock);
  return NULL;
}


int vol_hydrate_step(struct volume *v, uint64_t budget)
{
  struct hydration *hy = v->hy;
  if (!hy || !atomic_load_explicit(&v->lazy, memory_order_acquire))
    return 1;
  unsigned run = run_chunks(v);
  uint64_t nruns = (hy->nchunks + run - 1) / run;
  if (hy->cursor >= hy->nchunks)
    hy->cursor = 0;
  unsigned threads = pool_threads(0);
  struct step st = {.v = v, .run = run, .first = hy->cursor / run, .nruns = nruns,
                    .deadline_ms = time_mono_ms() + HY_STEP_MS};
  /* a small source still gets a few segments per thread */
  st.seg = HY_SEGMENT_BYTES / ((uint64_t)run * v->chunk_size);
  if (st.seg > nruns / (4 * threads))
    st.seg = nruns / (4 * threads);
  if (st.seg == 0)
    st.seg = 1;
  st.nsegs = (nruns - st.first + st.seg - 1) / st.seg;
  atomic_init(&st.budget, budget > INT64_MAX ? INT64_MAX : (int64_t)budget);
  atomic_init(&st.resume, nruns);
  atomic_init(&st.err, 0);
  atomic_init(&st.next_seg, 0);
  atomic_init(&st.stop, false);
  int r = 0;
  /* kept until the volume is hydrated or closed */
  if (!hy->items && (r = items_alloc(hy, threads * HY_ITEMS_PER_FILLER, (size_t)run * v->chunk_size)) < 0)
    return r;
  for (unsigned i = 0; i < hy->nitems; i++) {
    hy->items[i].next = st.free;
    st.free = &hy->items[i];
  }
  pthread_mutex_init(&st.lock, NULL);
  pthread_cond_init(&st.ready, NULL);
  pthread_cond_init(&st.room, NULL);
  pthread_t *fillers = calloc(threads, sizeof *fillers);
  unsigned started = 0;
  st.fillers_left = threads;
  while (fillers && started < threads && pthread_create(&fillers[started], NULL, step_fill, &st) == 0)
    started++;
  pthread_mutex_lock(&st.lock);
  st.fillers_left -= threads - started; /* those that did not start */
  pthread_mutex_unlock(&st.lock);
  if (started == 0)
    r = -EAGAIN;
  step_write(&st); /* this thread writes until the fillers are done and the queue is empty */
  for (unsigned i = 0; i < started; i++)
    pthread_join(fillers[i], NULL);
  free(fillers);
  pthread_cond_destroy(&st.room);
  pthread_cond_destroy(&st.ready);
  pthread_mutex_destroy(&st.lock);
  if (r == 0) /* a run failed (st.err), or 0 */
    r = atomic_load(&st.err);
  hy->cursor = atomic_load(&st.resume) * run;
  hy->unpersisted += st.written;
  if (r == 0) {
    pthread_mutex_lock(&hy->persist_lock);
    if (atomic_load_explicit(&hy->left, memory_order_acquire) == 0 || hy->unpersisted >= HY_PERSIST_BYTES ||
        time_mono_ms() - hy->persisted_ms >= HY_PERSIST_MS) {
      r = persist(v);
      if (r == 0)
        hy->unpersisted = 0;
    }
    pthread_mutex_unlock(&hy->persist_lock);
  }
  if (r < 0)
    return r;
  if (atomic_load_explicit(&v->lazy, memory_order_acquire))
    return 0;
  items_free(hy);
  return 1;
}

void vol_hydrate_progress(struct volume *v, uint64_t *done, uint64_t *total)
{
  struct hydration *hy = v->hy;
  *total = hy ? hy->nchunks : 0;
  *done = hy ? hy->nchunks - atomic_load(&hy->left) : 0;
}

bool vol_hydrated(const struct volume *v) { return !atomic_load_explicit(&v->lazy, memory_order_acquire); }

int hy_close(struct volume *v)
{
  struct hydration *hy = v->hy;
  int r = 0;
  if (!hy)
    return 0;
  if (atomic_load(&v->lazy)) {
    pthread_mutex_lock(&hy->persist_lock);
    r = persist(v);
    pthread_mutex_unlock(&hy->persist_lock);
  }
  v->hy = NULL;
  atomic_store(&v->lazy, false);
  hy_free(hy);
  return r;
}
