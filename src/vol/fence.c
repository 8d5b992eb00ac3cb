/*
 * fence.c — the consistency-group fence, captures and copy-before-write.
 *
 * Write gate and epochs: every byte-changing request registers in a slot of
 * its volume (chunk range, epoch) when it enters and leaves when its change is
 * done; it sets its CBT bits under the gate lock, in the bitmap of the epoch
 * it entered in.  A fence never waits for requests in flight.  Instead:
 *
 * Fence over volumes V1..Vn (vol_fence):
 *   FENCE_PREPARE  allocate every capture and fresh bitmap (nothing blocks)
 *   FENCE_CLOSED   close the gate of every volume: new requests wait at the
 *                  gate (requests already in flight go on)
 *   FENCE_SWAPPED  per volume: the dirty bitmap becomes the capture set, a
 *                  zeroed one replaces it, the epoch is bumped and the capture
 *                  armed for the new epoch
 *   FENCE_OPEN     gates open
 * So the stall is a few pointer swaps per volume, whatever the disk size and
 * whatever the writers in flight are doing.  Requests that were in flight at
 * the fence belong to the old epoch: they are part of the fenced image, and
 * whoever needs a chunk's fenced image (copy-before-write, capture read)
 * first waits for the old-epoch requests overlapping that chunk.
 *
 * Invariants (tests/vol/vol_fence.c checks 1-3 under concurrent writers):
 *  (1) A write acknowledged before vol_fence() was called is in the capture:
 *      it set its CBT bit (old bitmap) before it changed anything, and the
 *      fenced image of its chunk is read from the volume or copied aside after
 *      it completed.
 *  (2) A request that enters after FENCE_SWAPPED is not in the captured image:
 *      before it changes a captured chunk that capture has not read, it copies
 *      the chunk's fenced image aside (once every old-epoch request on that
 *      chunk is done), and capture reads that copy.  If the copy fails, the
 *      request fails without changing anything (failpoint vol.cbw.write:
 *      tests/vol/vol_io.c test_copy_before_write_failure).
 *  (3) Consistency across the group: no request can enter any volume of the
 *      group between the first FENCE_SWAPPED and the last, so a request issued
 *      after another was acknowledged never lands in an older epoch than it.
 *  (4) vol_capture_read and a copy-before-write of the same chunk exclude each
 *      other (stripe lock), so capture sees the chunk or its copy, never a
 *      half-written one; neither reads before the old-epoch requests on the
 *      chunk are done.
 *  (5) A capture that ends uncommitted returns its set to the dirty bitmap, so
 *      no change is ever forgotten; an untrusted bitmap stays untrusted.
 *      A VOL_FENCE_ALL capture (a disk copy) never touches the bitmap.
 *  (6) On a lazy volume the chunk is hydrated (hydrate.c) before its fenced
 *      image is read, tested for a hole or copied aside, so capture sees the
 *      real content (tests/vol/vol_hydrate.c test_capture_half_hydrated).
 * Deadlock freedom: a request waiting for old-epoch requests holds a stripe
 * lock, but old-epoch requests never copy-before-write for this capture, so
 * they never take its stripe locks.
 * The copies live in an unlinked temporary file next to the volume
 * (O_TMPFILE), gone when the capture ends or the process dies; an encrypted
 * volume's copies are encrypted there as in the volume (crypt.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/failpoint.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "vol/internal.h"

#define STRIPES 64

struct vol_capture {
  struct volume *v;
  uint64_t epoch;            /* requests of earlier epochs are part of the image */
  uint64_t size, nchunks;
  bool full;                 /* every chunk is in the set (CBT untrusted, or VOL_FENCE_ALL) */
  bool whole;                /* VOL_FENCE_ALL: the dirty bitmap stays with the volume */
  _Atomic uint64_t *set;     /* the dirty bitmap taken at the fence (NULL when full) */
  _Atomic uint64_t *copied;  /* chunks whose fenced image is in cbw_fd */
  _Atomic uint64_t *done;    /* chunks capture has read */
  _Atomic uint64_t *fresh;   /* prepared replacement bitmap, consumed by the swap */
  int cbw_fd;
  pthread_mutex_t stripes[STRIPES];
};

int gate_enter(struct volume *v, uint64_t first, uint64_t last, struct vol_capture **cbw)
{
  pthread_mutex_lock(&v->gate);
  int slot = -1;
  for (;;) {
    if (!v->closers) {
      for (unsigned i = 0; i < VOL_MAX_INFLIGHT; i++)
        if (!v->slots[i].used) {
          slot = (int)i;
          break;
        }
      if (slot >= 0)
        break;
    }
    pthread_cond_wait(&v->gate_cv, &v->gate);
  }
  struct write_slot *s = &v->slots[slot];
  s->used = true;
  s->first = first;
  s->last = last;
  s->epoch = v->epoch;
  s->capture = v->capture;
  if ((unsigned)slot >= v->high_water)
    v->high_water = (unsigned)slot + 1;
  v->in_flight++;
  cbt_mark(&v->cbt, first, last);
  *cbw = v->capture;
  pthread_mutex_unlock(&v->gate);
  return slot;
}

void gate_exit(struct volume *v, int slot)
{
  pthread_mutex_lock(&v->gate);
  v->slots[slot].used = false;
  v->slots[slot].capture = NULL;
  while (v->high_water && !v->slots[v->high_water - 1].used)
    v->high_water--;
  v->in_flight--;
  pthread_cond_broadcast(&v->gate_cv); /* fences, waiters for old epochs, full slot tables */
  pthread_mutex_unlock(&v->gate);
}

static void gate_block(struct volume *v)
{
  pthread_mutex_lock(&v->gate);
  v->closers++;
  pthread_mutex_unlock(&v->gate);
}

void gate_close(struct volume *v)
{
  pthread_mutex_lock(&v->gate);
  v->closers++;
  while (v->in_flight)
    pthread_cond_wait(&v->gate_cv, &v->gate);
  pthread_mutex_unlock(&v->gate);
}

void gate_open(struct volume *v)
{
  pthread_mutex_lock(&v->gate);
  v->closers--;
  pthread_cond_broadcast(&v->gate_cv);
  pthread_mutex_unlock(&v->gate);
}

/* Waits until no request of an epoch before c's is in flight on chunk idx. */
static void wait_old_requests(struct vol_capture *c, uint64_t idx)
{
  struct volume *v = c->v;
  pthread_mutex_lock(&v->gate);
  for (;;) {
    bool busy = false;
    for (unsigned i = 0; i < v->high_water && !busy; i++) {
      const struct write_slot *s = &v->slots[i];
      busy = s->used && s->epoch < c->epoch && s->first <= idx && idx <= s->last;
    }
    if (!busy)
      break;
    pthread_cond_wait(&v->gate_cv, &v->gate);
  }
  pthread_mutex_unlock(&v->gate);
}

static bool bit(_Atomic uint64_t *w, uint64_t i)
{
  return atomic_load_explicit(&w[i / 64], memory_order_acquire) >> (i % 64) & 1;
}

static void set_bit(_Atomic uint64_t *w, uint64_t i)
{
  atomic_fetch_or_explicit(&w[i / 64], UINT64_C(1) << (i % 64), memory_order_release);
}

static void capture_free(struct vol_capture *c)
{
  if (!c)
    return;
  if (c->cbw_fd >= 0)
    close(c->cbw_fd);
  for (int i = 0; i < STRIPES; i++)
    pthread_mutex_destroy(&c->stripes[i]);
  free(c->set);
  free(c->copied);
  free(c->done);
  free(c->fresh);
  free(c);
}

static struct vol_capture *capture_prepare(struct volume *v)
{
  struct vol_capture *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->cbw_fd = -1;
  for (int i = 0; i < STRIPES; i++)
    pthread_mutex_init(&c->stripes[i], NULL);
  c->v = v;
  c->size = vol_size(v);
  c->nchunks = v->cbt.nchunks;
  size_t words = (c->nchunks + 63) / 64 + 1;
  c->copied = calloc(words, sizeof *c->copied);
  c->done = calloc(words, sizeof *c->done);
  c->fresh = calloc(words, sizeof *c->fresh);
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", v->path);
  char *slash = strrchr(dir, '/');
  if (slash)
    *slash = '\0';
  c->cbw_fd = open(slash ? dir : ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (!c->copied || !c->done || !c->fresh || c->cbw_fd < 0) {
    log_error("vol", "cannot prepare a capture of %s", v->path);
    capture_free(c);
    return NULL;
  }
  return c;
}

int vol_fence(struct volume **vols, int n, unsigned flags, struct vol_capture **caps, uint64_t *stall_ns)
{
  int i, r = 0;
  for (i = 0; i < n; i++)
    caps[i] = NULL;
  for (i = 0; i < n && r == 0; i++) { /* FENCE_PREPARE */
    if (vols[i]->readonly)
      r = -EROFS;
    else if (!(caps[i] = capture_prepare(vols[i])))
      r = -ENOMEM;
  }
  if (r < 0)
    goto fail;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (i = 0; i < n; i++) /* FENCE_CLOSED */
    gate_block(vols[i]);
  for (i = 0; i < n; i++) { /* a capture already running: refuse the whole group */
    pthread_mutex_lock(&vols[i]->gate);
    if (vols[i]->capture)
      r = -EBUSY;
    pthread_mutex_unlock(&vols[i]->gate);
  }
  for (i = 0; i < n && r == 0; i++) { /* FENCE_SWAPPED */
    struct volume *v = vols[i];
    struct vol_capture *c = caps[i];
    pthread_mutex_lock(&v->gate);
    c->epoch = ++v->epoch;
    if (flags & VOL_FENCE_ALL) {
      c->full = c->whole = true;
    } else {
      c->full = !v->cbt.trusted;
      c->set = v->cbt.words;
      v->cbt.words = c->fresh;
      c->fresh = NULL;
      v->cbt.trusted = true; /* the new bitmap is exact from the fence on */
    }
    v->capture = c;
    pthread_mutex_unlock(&v->gate);
  }
  for (i = 0; i < n; i++) /* FENCE_OPEN */
    gate_open(vols[i]);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (stall_ns)
    *stall_ns = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u + (uint64_t)(t1.tv_nsec - t0.tv_nsec);
  if (r == 0)
    return 0;
fail:
  for (i = 0; i < n; i++) {
    capture_free(caps[i]);
    caps[i] = NULL;
  }
  return r;
}

uint64_t vol_capture_chunks(const struct vol_capture *c) { return c->nchunks; }
bool vol_capture_full(const struct vol_capture *c) { return c->full; }
uint64_t vol_capture_size(const struct vol_capture *c) { return c->size; }

bool vol_capture_has(const struct vol_capture *c, uint64_t idx)
{
  return idx < c->nchunks && (c->full || bit(c->set, idx));
}

static size_t chunk_len(const struct vol_capture *c, uint64_t idx)
{
  uint64_t start = idx * c->v->chunk_size;
  uint64_t left = c->size - start;
  return left < c->v->chunk_size ? (size_t)left : c->v->chunk_size;
}

int cbw_before_write(struct volume *v, struct vol_capture *c, uint64_t first, uint64_t last)
{
  void *buf = NULL;
  int r = 0;
  for (uint64_t i = first; i <= last && i < c->nchunks && r == 0; i++) {
    if (!vol_capture_has(c, i) || bit(c->done, i) || bit(c->copied, i))
      continue;
    pthread_mutex_t *lock = &c->stripes[i % STRIPES];
    pthread_mutex_lock(lock);
    if (!bit(c->done, i) && !bit(c->copied, i)) {
      wait_old_requests(c, i);
      size_t n = chunk_len(c, i);
      if (!buf && !(buf = malloc(v->chunk_size)))
        r = -ENOMEM;
      if (r == 0 && atomic_load_explicit(&v->lazy, memory_order_acquire))
        r = hy_ensure(v, i);
      uint64_t at = i * v->chunk_size;
      if (r == 0)
        r = v->cr ? vc_pread(v, buf, n, at) : read_full_at(v->fd, buf, n, (off_t)at);
      if (r == 0)
        r = failpoint_err("vol.cbw.write");
      if (r == 0) /* encrypted as the volume is: no plaintext reaches the side file */
        r = v->cr ? vc_write(v, c->cbw_fd, buf, n, at, VC_ALL, VC_OWNED | VC_SIDE)
                  : write_full_at(c->cbw_fd, buf, n, (off_t)at);
      if (r == 0)
        set_bit(c->copied, i);
      else
        log_error("vol", "copy-before-write of chunk %llu of %s failed: %s", (unsigned long long)i, v->path,
                  strerror(-r));
    }
    pthread_mutex_unlock(lock);
  }
  free(buf);
  return r;
}

int vol_capture_read(struct vol_capture *c, uint64_t idx, void *buf, size_t *len)
{
  if (!vol_capture_has(c, idx))
    return -ENOENT;
  size_t n = chunk_len(c, idx);
  pthread_mutex_t *lock = &c->stripes[idx % STRIPES];
  pthread_mutex_lock(lock);
  int r = 0;
  if (!bit(c->copied, idx)) {
    wait_old_requests(c, idx);
    if (atomic_load_explicit(&c->v->lazy, memory_order_acquire))
      r = hy_ensure(c->v, idx);
  }
  bool copied = bit(c->copied, idx);
  uint64_t at = idx * c->v->chunk_size;
  if (r == 0 && c->v->cr)
    r = copied ? vc_read(c->v, c->cbw_fd, buf, n, at, VC_ALL) : vc_pread(c->v, buf, n, at);
  else if (r == 0)
    r = read_full_at(copied ? c->cbw_fd : c->v->fd, buf, n, (off_t)at);
  if (r == 0)
    set_bit(c->done, idx);
  pthread_mutex_unlock(lock);
  if (r == 0)
    *len = n;
  return r;
}

int vol_capture_is_hole(struct vol_capture *c, uint64_t idx)
{
  if (!vol_capture_has(c, idx))
    return -ENOENT;
  pthread_mutex_t *lock = &c->stripes[idx % STRIPES];
  int r = 0;
  pthread_mutex_lock(lock); /* a copy-before-write of this chunk waits for us */
  if (!bit(c->copied, idx) && !bit(c->done, idx)) { /* the file still holds the fenced image */
    wait_old_requests(c, idx);
    if (atomic_load_explicit(&c->v->lazy, memory_order_acquire))
      r = hy_ensure(c->v, idx);
    if (r == 0) {
      off_t start = (off_t)(idx * c->v->chunk_size);
      off_t data = lseek(c->v->fd, start, SEEK_DATA);
      if (data < 0 && errno != ENXIO)
        r = -errno;
      else if (data < 0 || (uint64_t)data >= (uint64_t)start + chunk_len(c, idx))
        r = 1;
    }
    if (r == 1)
      set_bit(c->done, idx); /* read as zeros: later writes need no copy */
  }
  pthread_mutex_unlock(lock);
  return r;
}

void vol_capture_end(struct vol_capture *c, bool committed)
{
  struct volume *v = c->v;
  pthread_mutex_lock(&v->gate);
  v->capture = NULL; /* requests entering from now on do not copy for it */
  for (;;) {          /* ...and those that entered before must be done with it */
    bool busy = false;
    for (unsigned i = 0; i < v->high_water && !busy; i++)
      busy = v->slots[i].used && v->slots[i].capture == c;
    if (!busy)
      break;
    pthread_cond_wait(&v->gate_cv, &v->gate);
  }
  if (!committed && !c->whole) {
    if (c->full)
      v->cbt.trusted = false;
    else
      for (uint64_t i = 0; i < (c->nchunks + 63) / 64; i++) {
        uint64_t w = atomic_load_explicit(&c->set[i], memory_order_relaxed);
        if (w)
          atomic_fetch_or_explicit(&v->cbt.words[i], w, memory_order_relaxed);
      }
  }
  pthread_mutex_unlock(&v->gate);
  capture_free(c);
}
