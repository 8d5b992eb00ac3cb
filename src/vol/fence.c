/*
 * fence.c — the consistency-group fence, captures and copy-before-write.
 *
 * Write gate: every byte-changing request enters the gate (in_flight++) and
 * leaves it when its change is done.  gate_close() stops new entries and
 * waits for in_flight to reach zero; gate_open() lets writers go again.
 *
 * Fence over volumes V1..Vn (vol_fence):
 *   FENCE_PREPARE  allocate every capture and fresh bitmap (nothing blocks yet)
 *   FENCE_CLOSED   close the gate of every volume, then wait for each to drain:
 *                  from here no write of the group is in flight or can start
 *   FENCE_SWAPPED  each volume's dirty bitmap becomes its capture set, a
 *                  zeroed one takes its place, copy-before-write is armed
 *   FENCE_OPEN     gates open; writers resume
 * Only pointer swaps happen while the gates are closed, so the stall does not
 * depend on disk size.
 *
 * Invariants (tests/vol/fence.c checks each under concurrent writers):
 *  (1) A write acknowledged before vol_fence() was called is in the capture:
 *      it set its CBT bit before it was acknowledged and the bitmap is swapped
 *      only after the drain.
 *  (2) A write that entered the gate after FENCE_CLOSED is not in the
 *      captured image: before changing a captured chunk that capture has not
 *      read yet, the writer copies the chunk's fenced content aside (under the
 *      chunk's stripe lock) and capture reads that copy.
 *  (3) vol_capture_read and a copy-before-write of the same chunk exclude each
 *      other (stripe lock), so capture sees either the untouched chunk or its
 *      copy, never a half-written one.
 *  (4) A capture that ends uncommitted returns its set to the dirty bitmap, so
 *      no change is ever forgotten; an untrusted bitmap stays untrusted.
 *      A VOL_FENCE_ALL capture (a disk copy) never touches the bitmap.
 * The copies live in an unlinked temporary file next to the volume
 * (O_TMPFILE), gone when the capture ends or the process dies.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "vol/internal.h"

#define STRIPES 64

struct vol_capture {
  struct volume *v;
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

void gate_enter(struct volume *v)
{
  pthread_mutex_lock(&v->gate);
  while (v->closers)
    pthread_cond_wait(&v->gate_cv, &v->gate);
  v->in_flight++;
  pthread_mutex_unlock(&v->gate);
}

void gate_exit(struct volume *v)
{
  pthread_mutex_lock(&v->gate);
  if (--v->in_flight == 0 && v->closers)
    pthread_cond_broadcast(&v->gate_cv);
  pthread_mutex_unlock(&v->gate);
}

static void gate_block(struct volume *v)
{
  pthread_mutex_lock(&v->gate);
  v->closers++;
  pthread_mutex_unlock(&v->gate);
}

static void gate_drain(struct volume *v)
{
  pthread_mutex_lock(&v->gate);
  while (v->in_flight)
    pthread_cond_wait(&v->gate_cv, &v->gate);
  pthread_mutex_unlock(&v->gate);
}

void gate_close(struct volume *v)
{
  gate_block(v);
  gate_drain(v);
}

void gate_open(struct volume *v)
{
  pthread_mutex_lock(&v->gate);
  v->closers--;
  pthread_cond_broadcast(&v->gate_cv);
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
  for (i = 0; i < n; i++)
    gate_drain(vols[i]);
  for (i = 0; i < n; i++) /* a capture already running: refuse the whole group */
    if (vols[i]->capture)
      r = -EBUSY;
  for (i = 0; i < n && r == 0; i++) { /* FENCE_SWAPPED */
    struct volume *v = vols[i];
    struct vol_capture *c = caps[i];
    if (flags & VOL_FENCE_ALL) {
      c->full = c->whole = true;
      v->capture = c;
      continue;
    }
    c->full = !v->cbt.trusted;
    c->set = v->cbt.words;
    v->cbt.words = c->fresh;
    c->fresh = NULL;
    v->cbt.trusted = true; /* the new bitmap is exact from the fence on */
    v->capture = c;
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

int cbw_before_write(struct volume *v, uint64_t off, uint64_t len)
{
  struct vol_capture *c = v->capture;
  uint64_t first = off / v->chunk_size, last = (off + len - 1) / v->chunk_size;
  void *buf = NULL;
  int r = 0;
  for (uint64_t i = first; i <= last && i < c->nchunks && r == 0; i++) {
    if (!vol_capture_has(c, i) || bit(c->done, i) || bit(c->copied, i))
      continue;
    pthread_mutex_t *lock = &c->stripes[i % STRIPES];
    pthread_mutex_lock(lock);
    if (!bit(c->done, i) && !bit(c->copied, i)) {
      size_t n = chunk_len(c, i);
      if (!buf && !(buf = malloc(v->chunk_size)))
        r = -ENOMEM;
      if (r == 0)
        r = read_full_at(v->fd, buf, n, (off_t)(i * v->chunk_size));
      if (r == 0)
        r = write_full_at(c->cbw_fd, buf, n, (off_t)(i * v->chunk_size));
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
  int fd = bit(c->copied, idx) ? c->cbw_fd : c->v->fd;
  int r = read_full_at(fd, buf, n, (off_t)(idx * c->v->chunk_size));
  if (r == 0)
    set_bit(c->done, idx);
  pthread_mutex_unlock(lock);
  if (r == 0)
    *len = n;
  return r;
}

void vol_capture_end(struct vol_capture *c, bool committed)
{
  struct volume *v = c->v;
  gate_close(v);
  v->capture = NULL;
  if (!committed && !c->whole) {
    if (c->full)
      v->cbt.trusted = false;
    else
      for (uint64_t i = 0; i < c->nchunks; i++)
        if (bit(c->set, i))
          cbt_mark(&v->cbt, i, i);
  }
  gate_open(v);
  capture_free(c);
}
