/*
 * vol_hydrate.c — lazy volumes (src/vol/hydrate.c) against a real snapshot
 * tree: a random sparse image is stored with cas/snap, a volume is attached to
 * it through a vol_source over a tree_reader, and every read is compared with
 * a model of what the disk must hold (the image plus the guest's writes).
 * Each test names the hydrate.c invariant it checks.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cas/cas.h"
#include "common/failpoint.h"
#include "snap/tree.h"
#include "vol/vol.h"
#include "../cas/testkey.h"

#define CHUNK 65536u
#define NCH 96u
#define SRC_SIZE ((uint64_t)NCH * CHUNK - 3 * 512) /* a short last chunk */

/* ---- the source: a tree read through one reader under a mutex ------------ */

struct tsrc {
  struct cas *cas;
  struct tree_reader *rd;
  pthread_mutex_t lock;
  _Atomic unsigned reads;
  bool forbid; /* a test that must not touch the source */
  /* called (without the lock) once, at the first read of at least three chunks */
  void (*during_read)(void *ctx, uint64_t idx, size_t len);
  void *during_ctx;
  atomic_bool during_done;
};

static int tsrc_read(void *ctx, uint64_t idx, void *buf, size_t len)
{
  struct tsrc *s = ctx;
  assert_false(s->forbid);
  atomic_fetch_add(&s->reads, 1);
  if (s->during_read && len >= 3 * CHUNK && !atomic_exchange(&s->during_done, true))
    s->during_read(s->during_ctx, idx, len);
  pthread_mutex_lock(&s->lock);
  int r = tree_reader_read(s->rd, buf, len, idx * CHUNK);
  pthread_mutex_unlock(&s->lock);
  return r;
}

static int tsrc_zero(void *ctx, uint64_t idx)
{
  struct tsrc *s = ctx;
  assert_false(s->forbid);
  struct cas_addr a;
  pthread_mutex_lock(&s->lock);
  int r = tree_reader_chunk(s->rd, idx, &a);
  pthread_mutex_unlock(&s->lock);
  return r < 0 ? r : cas_addr_is_zero(&a);
}

/* ---- fixture ------------------------------------------------------------- */

struct fixture {
  char dir[256], img[300], cbt[300], hyd[300], store[300];
  unsigned char *image;  /* the source image */
  unsigned char *model;  /* what the volume must read */
  uint64_t vsize;
  struct cas *cas;
  struct cas_addr root;
  struct tsrc src;
  struct vol_source vs;
  struct volume *v;
};

static int mem_read(void *ctx, void *buf, size_t len, uint64_t off)
{
  memcpy(buf, (unsigned char *)ctx + off, len);
  return 0;
}

static void fill(unsigned char *buf, size_t n, unsigned seed)
{
  for (size_t i = 0; i < n; i++)
    buf[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 9) + 1);
}

/* A random sparse image: about a third of the chunks zero, some half zero. */
static void make_image(unsigned char *img)
{
  memset(img, 0, SRC_SIZE);
  for (unsigned i = 0; i < NCH; i++) {
    uint64_t off = (uint64_t)i * CHUNK, len = SRC_SIZE - off < CHUNK ? SRC_SIZE - off : CHUNK;
    switch (rand() % 3) {
    case 0:
      break;
    case 1:
      fill(img + off, len / 2, (unsigned)rand());
      break;
    default:
      fill(img + off, len, (unsigned)rand());
    }
  }
}

static void open_volume(struct fixture *f, bool create)
{
  assert_int_equal(vol_open(f->img, f->cbt, CHUNK, false, false, &f->v), 0);
  f->vs = (struct vol_source){tsrc_read, tsrc_zero, &f->src, SRC_SIZE};
  assert_int_equal(vol_hydrate_attach(f->v, &f->vs, f->hyd, create), 0);
}

static int setup_size(void **state, uint64_t vsize)
{
  struct fixture *f = calloc(1, sizeof *f);
  srand(12345);
  snprintf(f->dir, sizeof f->dir, "%s/vmrp-hyd.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->img, sizeof f->img, "%s/disk.img", f->dir);
  snprintf(f->cbt, sizeof f->cbt, "%s/disk.cbt", f->dir);
  snprintf(f->hyd, sizeof f->hyd, "%s/disk.hyd", f->dir);
  snprintf(f->store, sizeof f->store, "%s/store", f->dir);
  f->vsize = vsize;
  f->image = malloc(SRC_SIZE);
  f->model = calloc(1, vsize);
  make_image(f->image);
  memcpy(f->model, f->image, SRC_SIZE);
  struct cas_options o = {.chunk_shift = 16, .create = true, .key = tu_cas_key()};
  assert_int_equal(cas_open(f->store, &o, &f->cas), 0);
  struct tree_source ts = {mem_read, NULL, f->image};
  struct tree_opts to = {.threads = 2};
  assert_int_equal(tree_build_full(f->cas, &ts, SRC_SIZE, &to, &f->root, NULL), 0);
  assert_int_equal(cas_sync(f->cas), 0);
  f->src.cas = f->cas;
  pthread_mutex_init(&f->src.lock, NULL);
  assert_int_equal(tree_reader_open(f->cas, &f->root, &f->src.rd), 0);
  assert_int_equal(vol_create(f->img, vsize), 0);
  open_volume(f, true);
  *state = f;
  return 0;
}

static int setup(void **state) { return setup_size(state, SRC_SIZE); }
static int setup_larger(void **state) { return setup_size(state, SRC_SIZE + 5 * CHUNK + 512); }

static int teardown(void **state)
{
  struct fixture *f = *state;
  if (f->v)
    vol_close(f->v);
  tree_reader_close(f->src.rd);
  pthread_mutex_destroy(&f->src.lock);
  cas_close(f->cas);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  assert_int_equal(system(cmd), 0);
  free(f->image);
  free(f->model);
  free(f);
  return 0;
}

static void check_model(struct fixture *f)
{
  unsigned char *buf = malloc(f->vsize);
  assert_int_equal(vol_pread(f->v, buf, f->vsize, 0), 0);
  for (uint64_t i = 0; i < f->vsize; i += CHUNK) {
    uint64_t n = f->vsize - i < CHUNK ? f->vsize - i : CHUNK;
    if (memcmp(buf + i, f->model + i, n))
      fail_msg("chunk %llu differs from the model", (unsigned long long)(i / CHUNK));
  }
  free(buf);
}

static void hydrate_all(struct fixture *f)
{
  int r;
  while ((r = vol_hydrate_step(f->v, 8 * CHUNK)) == 0)
    ;
  assert_int_equal(r, 1);
}

static void model_write(struct fixture *f, uint64_t off, uint64_t len, unsigned seed, unsigned flags)
{
  unsigned char *b = malloc(len);
  fill(b, len, seed);
  assert_int_equal(vol_pwrite(f->v, b, len, off, flags), 0);
  memcpy(f->model + off, b, len);
  free(b);
}

/* ---- tests --------------------------------------------------------------- */

/* Invariant 1: reads before, during and after hydration equal the image, and
 * each chunk is read from the source at most once (hydrate-on-read). */
static void test_reads_equal_image(void **state)
{
  struct fixture *f = *state;
  assert_false(vol_hydrated(f->v));
  unsigned char *buf = malloc(3 * CHUNK);
  /* a lazy volume never reads without blocking: the file's bytes of a chunk
   * not yet hydrated are not the volume's */
  assert_int_equal(vol_pread_nowait(f->v, buf, 4096, 0), -EAGAIN);
  for (int k = 0; k < 200; k++) { /* random unaligned ranges */
    uint64_t off = (uint64_t)rand() % SRC_SIZE, len = 1 + (uint64_t)rand() % (3 * CHUNK);
    if (len > SRC_SIZE - off)
      len = SRC_SIZE - off;
    assert_int_equal(vol_pread(f->v, buf, len, off), 0);
    assert_memory_equal(buf, f->image + off, len);
  }
  free(buf);
  unsigned reads = atomic_load(&f->src.reads);
  assert_true(reads <= NCH);
  check_model(f);
  hydrate_all(f);
  assert_true(vol_hydrated(f->v));
  assert_true(atomic_load(&f->src.reads) <= NCH); /* never twice the same chunk */
  uint64_t done, total;
  vol_hydrate_progress(f->v, &done, &total);
  assert_int_equal(done, NCH);
  assert_int_equal(total, NCH);
  check_model(f);
  /* the file itself now holds the image */
  int fd = open(f->img, O_RDONLY);
  unsigned char *file = malloc(SRC_SIZE);
  assert_int_equal(pread(fd, file, SRC_SIZE, 0), (ssize_t)SRC_SIZE);
  assert_memory_equal(file, f->image, SRC_SIZE);
  close(fd);
  free(file);
}

/* Invariant 2: partial and full-chunk writes, zeroes and trims during
 * hydration are never overwritten by it. */
static void test_guest_writes_never_overwritten(void **state)
{
  struct fixture *f = *state;
  for (int k = 0; k < 120; k++) {
    uint64_t c = (uint64_t)rand() % NCH;
    switch (rand() % 5) {
    case 0: /* whole chunks (the last one may be short) */
      if ((c + 2) * CHUNK <= SRC_SIZE)
        model_write(f, c * CHUNK, 2 * CHUNK, (unsigned)k, 0);
      break;
    case 1: { /* part of a chunk */
      uint64_t off = c * CHUNK + (uint64_t)(rand() % 100) * 512;
      model_write(f, off, 4096 < SRC_SIZE - off ? 4096 : SRC_SIZE - off, (unsigned)k, 0);
      break;
    }
    case 2: { /* across a chunk boundary */
      uint64_t off = c * CHUNK + CHUNK - 1024;
      if (off + 2048 <= SRC_SIZE)
        model_write(f, off, 2048, (unsigned)k, VOL_FUA);
      break;
    }
    case 3: { /* zeroes, full and partial */
      uint64_t off = c * CHUNK + (rand() % 2 ? 0 : 4096);
      uint64_t len = off + CHUNK <= SRC_SIZE ? CHUNK : SRC_SIZE - off;
      assert_int_equal(vol_zero(f->v, off, len, 0), 0);
      memset(f->model + off, 0, len);
      break;
    }
    default:
      assert_int_equal(vol_hydrate_step(f->v, 3 * CHUNK) >= 0, 1);
    }
  }
  check_model(f);
  hydrate_all(f);
  check_model(f);
  /* and after a clean restart (the volume is plain now) */
  assert_int_equal(vol_close(f->v), 0);
  f->src.forbid = true;
  open_volume(f, false);
  assert_true(vol_hydrated(f->v));
  check_model(f);
}

struct ext_check {
  struct fixture *f;
  uint64_t next;
};

static int ext_cb(void *ctx, uint64_t off, uint64_t len, bool hole)
{
  struct ext_check *x = ctx;
  assert_int_equal(off, x->next);
  x->next = off + len;
  /* a hole reads as zeros; chunk-aligned data of a zero chunk is a hole here */
  for (uint64_t i = off; i < off + len; i += CHUNK) {
    uint64_t n = off + len - i < CHUNK ? off + len - i : CHUNK;
    bool zero = true;
    for (uint64_t b = 0; b < n && zero; b++)
      zero = x->f->model[i + b] == 0;
    if (hole)
      assert_true(zero);
    else if (i % CHUNK == 0 && n == CHUNK)
      assert_false(zero);
  }
  return 0;
}

/* Invariant 7: unhydrated chunks are holes exactly when the source says so;
 * hydrated ones follow the file. */
static void test_extents(void **state)
{
  struct fixture *f = *state;
  struct ext_check x = {f, 0};
  assert_int_equal(vol_extents(f->v, 0, f->vsize, ext_cb, &x), 0);
  assert_int_equal(x.next, f->vsize);
  assert_int_equal(vol_hydrate_step(f->v, 20 * CHUNK), 0);
  model_write(f, 50 * CHUNK, CHUNK, 9, 0);
  x.next = 0;
  assert_int_equal(vol_extents(f->v, 0, f->vsize, ext_cb, &x), 0);
  assert_int_equal(x.next, f->vsize);
  x.next = 3 * CHUNK + 512; /* an unaligned window */
  assert_int_equal(vol_extents(f->v, x.next, 40 * CHUNK, ext_cb, &x), 0);
  assert_int_equal(x.next, 43 * CHUNK + 512);
  hydrate_all(f);
  x.next = 0;
  assert_int_equal(vol_extents(f->v, 0, f->vsize, ext_cb, &x), 0);
  assert_int_equal(x.next, f->vsize);
}

/* Invariant 6: a capture of a half-hydrated volume equals the model at the
 * fence, with writes after the fence going through copy-before-write. */
static void test_capture_half_hydrated(void **state)
{
  struct fixture *f = *state;
  assert_int_equal(vol_hydrate_step(f->v, 30 * CHUNK), 0);
  model_write(f, 70 * CHUNK + 100, 1000, 1, 0);
  model_write(f, 80 * CHUNK, CHUNK, 2, 0);
  unsigned char *at_fence = malloc(f->vsize);
  memcpy(at_fence, f->model, f->vsize);
  struct vol_capture *cap;
  assert_int_equal(vol_fence(&f->v, 1, 0, &cap, NULL), 0);
  assert_true(vol_capture_full(cap)); /* a new volume's bitmap is untrusted */
  /* writes after the fence over unhydrated chunks, partial and full */
  for (uint64_t c = 60; c < 95; c += 3)
    model_write(f, c * CHUNK + (c % 2 ? 0 : 4096), c % 2 ? CHUNK : 512, (unsigned)c, 0);
  unsigned char *buf = malloc(CHUNK);
  for (uint64_t i = 0; i < vol_capture_chunks(cap); i++) {
    int hole = vol_capture_is_hole(cap, i);
    assert_true(hole >= 0);
    size_t n = SRC_SIZE - i * CHUNK < CHUNK ? SRC_SIZE - i * CHUNK : CHUNK;
    if (hole) {
      for (size_t b = 0; b < n; b++)
        assert_int_equal(at_fence[i * CHUNK + b], 0);
      continue;
    }
    size_t len;
    assert_int_equal(vol_capture_read(cap, i, buf, &len), 0);
    assert_int_equal(len, n);
    if (memcmp(buf, at_fence + i * CHUNK, n))
      fail_msg("captured chunk %llu differs from the image at the fence", (unsigned long long)i);
  }
  vol_capture_end(cap, true);
  free(buf);
  free(at_fence);
  check_model(f);
  hydrate_all(f);
  check_model(f);
}

/* Hands the volume to a child that will crash: closes it here, forks, and
 * in the child (pid 0) opens it again from the persisted bitmap. */
static pid_t fork_owner(struct fixture *f)
{
  assert_int_equal(vol_close(f->v), 0); /* the child owns the volume until it dies */
  f->v = NULL;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    open_volume(f, false);
  return pid;
}

/* A chunk from 64 on whose first half is data and second half zero. */
static uint64_t half_zero_chunk(const struct fixture *f)
{
  for (uint64_t i = 64; i + 1 < NCH; i++) {
    const unsigned char *c = f->image + i * CHUNK;
    bool data = false, zero = true;
    for (unsigned b = 0; b < CHUNK / 2; b++)
      data = data || c[b] != 0;
    for (unsigned b = CHUNK / 2; b < CHUNK; b++)
      zero = zero && c[b] == 0;
    if (data && zero)
      return i;
  }
  fail_msg("the image has no half-zero chunk");
  return 0;
}

/* Invariants 3 and 4: a child process writes, flushes (or FUA), writes some
 * more without flushing, and dies without closing.  The parent reopens from
 * the persisted bitmap and finishes the hydration: every write acknowledged
 * as durable is there, and every other chunk is either as before or after,
 * also one whose source has zero blocks that the step leaves unwritten in
 * chunks that were not written before (the lost change is rewritten whole). */
static void test_crash_reopen_keeps_acknowledged(void **state)
{
  struct fixture *f = *state;
  unsigned char *durable = malloc(f->vsize), *after = malloc(f->vsize);
  unsigned char *buf = malloc(CHUNK);
  uint64_t hz = half_zero_chunk(f);
  pid_t pid = fork_owner(f);
  if (pid == 0) {
    /* chunk 10: hydrated by a read (bit set, not yet durable), then a partial write */
    if (vol_pread(f->v, buf, 512, 10 * CHUNK) || vol_hydrate_step(f->v, 5 * CHUNK) < 0)
      _exit(2);
    fill(buf, 4096, 10);
    if (vol_pwrite(f->v, buf, 4096, 10 * CHUNK + 8192, 0))
      _exit(3);
    fill(buf, CHUNK, 20); /* chunk 20: a full-chunk write */
    if (vol_pwrite(f->v, buf, CHUNK, 20 * CHUNK, 0))
      _exit(4);
    fill(buf, 1024, 30); /* chunk 30: partial, never hydrated before */
    if (vol_pwrite(f->v, buf, 1024, 30 * CHUNK + 100, 0) || vol_flush(f->v))
      _exit(5);
    fill(buf, 512, 40); /* chunk 40: read-hydrated, then a FUA write */
    if (vol_pread(f->v, buf + 512, 512, 40 * CHUNK) || vol_pwrite(f->v, buf, 512, 40 * CHUNK, VOL_FUA))
      _exit(6);
    fill(buf, CHUNK, 50); /* chunks 50 and 60: never acknowledged as durable */
    if (vol_pwrite(f->v, buf, CHUNK, 50 * CHUNK, 0) || vol_pwrite(f->v, buf, 2048, 60 * CHUNK, 0) ||
        vol_pwrite(f->v, buf, CHUNK, hz * CHUNK, 0))
      _exit(7);
    _exit(0); /* no vol_close: a crash */
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  /* the model of what was acknowledged durable, and of everything */
  memcpy(durable, f->image, SRC_SIZE);
  fill(durable + 10 * CHUNK + 8192, 4096, 10);
  fill(durable + 20 * CHUNK, CHUNK, 20);
  fill(durable + 30 * CHUNK + 100, 1024, 30);
  fill(durable + 40 * CHUNK, 512, 40);
  memcpy(after, durable, SRC_SIZE);
  fill(after + 50 * CHUNK, CHUNK, 50);
  fill(after + 60 * CHUNK, 2048, 50);
  fill(after + hz * CHUNK, CHUNK, 50);
  open_volume(f, false);
  uint64_t done, total;
  vol_hydrate_progress(f->v, &done, &total);
  assert_true(done >= 4); /* 10, 20, 30, 40 at least */
  hydrate_all(f);
  unsigned char *got = malloc(f->vsize);
  assert_int_equal(vol_pread(f->v, got, f->vsize, 0), 0);
  for (uint64_t i = 0; i < NCH; i++) {
    uint64_t o = i * CHUNK, n = SRC_SIZE - o < CHUNK ? SRC_SIZE - o : CHUNK;
    bool ok = !memcmp(got + o, durable + o, n) || !memcmp(got + o, after + o, n);
    if (!ok)
      fail_msg("chunk %llu after the crash is neither the durable nor the later state", (unsigned long long)i);
    if (i == 10 || i == 20 || i == 30 || i == 40)
      assert_memory_equal(got + o, durable + o, n);
  }
  free(got);
  free(buf);
  free(durable);
  free(after);
}

/* Invariant 3 with the step's persist policy: a step within a second of the
 * last persist leaves the durable bitmap as it was (a crash then fills those
 * chunks again, from the source), a step a second later persists exactly
 * what was filled; after each crash the volume reads the image. */
static void test_step_persists_by_time(void **state)
{
  struct fixture *f = *state;
  uint64_t done, total;
  for (int phase = 0; phase < 2; phase++) {
    if (phase == 1) { /* a fresh volume again: nothing hydrated */
      assert_int_equal(vol_close(f->v), 0);
      unlink(f->img);
      assert_int_equal(vol_create(f->img, f->vsize), 0);
      open_volume(f, true);
    }
    pid_t pid = fork_owner(f);
    if (pid == 0) {
      if (vol_hydrate_step(f->v, 30 * CHUNK) != 0)
        _exit(200);
      if (phase == 1 && (usleep(1100 * 1000) != 0 || vol_hydrate_step(f->v, 8 * CHUNK) != 0))
        _exit(201);
      vol_hydrate_progress(f->v, &done, &total);
      _exit((int)done); /* no vol_close: a crash */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    int filled = WEXITSTATUS(status);
    assert_true(filled > 0 && filled < (int)NCH);
    open_volume(f, false);
    vol_hydrate_progress(f->v, &done, &total);
    assert_int_equal(done, phase == 0 ? 0 : (uint64_t)filled);
    hydrate_all(f);
    check_model(f);
  }
}

/* Invariant 2 between a fetch and its write: the background step reads a
 * span of chunks from the source without their stripe locks, and while it
 * holds their bytes the guest writes the first chunk whole, part of the
 * second (hydrating it first) and zeroes the third.  The step's write must
 * leave all three as the guest made them. */
struct during {
  struct fixture *f;
  uint64_t idx;
  int r[3];
};

static void change_during_fetch(void *ctx, uint64_t idx, size_t len)
{
  struct during *d = ctx; /* runs on a filler thread: results checked by the test */
  struct fixture *f = d->f;
  (void)len;
  d->idx = idx;
  unsigned char *b = malloc(CHUNK);
  fill(b, CHUNK, 901);
  d->r[0] = vol_pwrite(f->v, b, CHUNK, idx * CHUNK, 0);
  memcpy(f->model + idx * CHUNK, b, CHUNK);
  d->r[1] = vol_pwrite(f->v, b, 4096, (idx + 1) * CHUNK + 512, 0);
  memcpy(f->model + (idx + 1) * CHUNK + 512, b, 4096);
  d->r[2] = vol_zero(f->v, (idx + 2) * CHUNK, CHUNK, 0);
  memset(f->model + (idx + 2) * CHUNK, 0, CHUNK);
  free(b);
}

static void test_guest_change_between_fetch_and_write(void **state)
{
  struct fixture *f = *state;
  struct during d = {.f = f, .r = {-1, -1, -1}};
  f->src.during_ctx = &d;
  f->src.during_read = change_during_fetch;
  hydrate_all(f);
  assert_true(atomic_load(&f->src.during_done)); /* the image has a span of three chunks */
  assert_int_equal(d.r[0], 0);
  assert_int_equal(d.r[1], 0);
  assert_int_equal(d.r[2], 0);
  check_model(f);
  /* and after a restart: the bits of the three chunks were persisted as set */
  assert_int_equal(vol_close(f->v), 0);
  f->v = NULL;
  f->src.forbid = true;
  open_volume(f, false);
  check_model(f);
}

/* Invariant 5: once complete and durable the volume is plain: a reopen never
 * calls the source, and the bitmap file says so. */
static void test_step_completes_and_goes_plain(void **state)
{
  struct fixture *f = *state;
  hydrate_all(f);
  assert_true(vol_hydrated(f->v));
  assert_int_equal(vol_hydrate_step(f->v, CHUNK), 1);
  assert_int_equal(vol_close(f->v), 0);
  f->v = NULL;
  f->src.forbid = true;
  open_volume(f, false);
  assert_true(vol_hydrated(f->v));
  check_model(f);
}

/* The step leaves the zero 4 KiB blocks inside the chunks it writes
 * unwritten, since the file reads them as zero already: the file holds data
 * exactly at the image's blocks that are not zero (half-zero chunks end in
 * eight zero blocks), and reads equal the image. */
static void test_step_leaves_zero_blocks_unwritten(void **state)
{
  struct fixture *f = *state;
  hydrate_all(f);
  check_model(f);
  int fd = open(f->img, O_RDONLY);
  assert_true(fd >= 0);
  unsigned holes_in_data_chunks = 0;
  for (uint64_t off = 0; off < SRC_SIZE; off += 4096) {
    uint64_t n = SRC_SIZE - off < 4096 ? SRC_SIZE - off : 4096, chunk = off / CHUNK * CHUNK;
    bool zero = true, chunk_zero = true;
    for (uint64_t b = 0; b < n; b++)
      zero = zero && f->image[off + b] == 0;
    for (uint64_t b = chunk; b < chunk + CHUNK && b < SRC_SIZE; b++)
      chunk_zero = chunk_zero && f->image[b] == 0;
    off_t d = lseek(fd, (off_t)off, SEEK_DATA);
    if (zero) {
      assert_true(d > (off_t)off || (d < 0 && errno == ENXIO));
      holes_in_data_chunks += !chunk_zero;
    } else {
      assert_int_equal(d, (off_t)off);
    }
  }
  assert_true(holes_in_data_chunks >= 8);
  close(fd);
}

/* A grown volume: the area beyond the source reads the file (zeros). */
static void test_larger_volume_and_grow(void **state)
{
  struct fixture *f = *state;
  check_model(f);
  model_write(f, SRC_SIZE + 512, 4096, 3, 0); /* beyond the source */
  model_write(f, SRC_SIZE - 1024, 2048, 4, 0); /* across its end */
  assert_int_equal(vol_grow(f->v, f->vsize + CHUNK), 0);
  f->model = realloc(f->model, f->vsize + CHUNK);
  memset(f->model + f->vsize, 0, CHUNK);
  f->vsize += CHUNK;
  check_model(f);
  hydrate_all(f);
  check_model(f);
  struct ext_check x = {f, 0};
  assert_int_equal(vol_extents(f->v, 0, f->vsize, ext_cb, &x), 0);
}

static void test_attach_errors(void **state)
{
  struct fixture *f = *state;
  struct volume *v2;
  assert_int_equal(vol_open(f->img, NULL, CHUNK, false, false, &v2), 0);
  char missing[320];
  snprintf(missing, sizeof missing, "%s/none.hyd", f->dir);
  assert_int_equal(vol_hydrate_attach(v2, &f->vs, missing, false), -ENOENT);
  struct vol_source big = f->vs;
  big.size = f->vsize + CHUNK;
  assert_int_equal(vol_hydrate_attach(v2, &big, missing, true), -EINVAL);
  struct vol_source other = f->vs;
  other.size = SRC_SIZE - CHUNK; /* a bitmap of another source */
  assert_int_equal(vol_hydrate_attach(v2, &other, f->hyd, false), -EIO);
  int fd = open(f->hyd, O_WRONLY); /* damage: the CRC catches it */
  assert_int_equal(pwrite(fd, "\xff", 1, 40), 1);
  close(fd);
  assert_int_equal(vol_hydrate_attach(v2, &f->vs, f->hyd, false), -EIO);
  assert_int_equal(vol_close(v2), 0);
}

/* ---- concurrency --------------------------------------------------------- */

struct writer {
  struct fixture *f;
  unsigned id;
};

/* Invariants 1, 3 and 4 when the I/O fails (failpoints vol.hydrate.write,
 * vol.hydrate.fsync, vol.hydrate.persist): a failed hydration marks nothing
 * and the next read hydrates the chunk right; a FLUSH whose persist fails
 * fails, and the next one persists; after a crash that followed a failed
 * persist, every chunk reads as the model (the unacknowledged write to
 * chunk 30 may be there or not). */
static void test_io_failures(void **state)
{
  struct fixture *f = *state;
  unsigned char *buf = malloc(CHUNK);
  assert_int_equal(failpoint_arm("vol.hydrate.write=eiox1"), 0);
  assert_int_equal(vol_pread(f->v, buf, CHUNK, 5 * CHUNK), -EIO);
  assert_int_equal(vol_pread(f->v, buf, CHUNK, 5 * CHUNK), 0);
  assert_memory_equal(buf, f->image + 5 * CHUNK, CHUNK);
  model_write(f, 20 * CHUNK + 512, 1024, 20, 0);
  assert_int_equal(failpoint_arm("vol.hydrate.fsync=eiox1"), 0);
  assert_int_equal(vol_flush(f->v), -EIO);
  assert_int_equal(vol_flush(f->v), 0);
  model_write(f, 25 * CHUNK + 512, 1024, 25, 0);
  assert_int_equal(failpoint_arm("vol.hydrate.persist=shortx1"), 0);
  assert_int_equal(vol_flush(f->v), -ENOSPC);
  assert_int_equal(vol_flush(f->v), 0);
  pid_t pid = fork_owner(f);
  if (pid == 0) {
    fill(buf, 1024, 30);
    if (vol_pwrite(f->v, buf, 1024, 30 * CHUNK + 100, 0) || failpoint_arm("vol.hydrate.persist=enospc"))
      _exit(2);
    _exit(vol_flush(f->v) == -ENOSPC ? 0 : 3); /* no vol_close: a crash */
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  assert_int_equal(failpoint_arm(""), 0);
  open_volume(f, false);
  assert_int_equal(vol_pread(f->v, buf, CHUNK, 30 * CHUNK), 0);
  unsigned char *with = malloc(CHUNK);
  memcpy(with, f->model + 30 * CHUNK, CHUNK);
  fill(with + 100, 1024, 30);
  assert_true(memcmp(buf, f->model + 30 * CHUNK, CHUNK) == 0 || memcmp(buf, with, CHUNK) == 0);
  memcpy(f->model + 30 * CHUNK, buf, CHUNK);
  check_model(f);
  free(with);
  free(buf);
}

static void *writer_main(void *arg)
{
  struct writer *w = arg;
  unsigned seed = w->id * 7919u;
  unsigned char *b = malloc(2 * CHUNK);
  for (int k = 0; k < 300; k++) {
    uint64_t c = (uint64_t)(rand_r(&seed) % (NCH / 3)) * 3 + w->id; /* chunks ≡ id (mod 3) */
    if ((c + 1) * CHUNK > SRC_SIZE)
      continue;
    bool full = rand_r(&seed) % 2;
    uint64_t off = c * CHUNK + (full ? 0 : (uint64_t)(rand_r(&seed) % 64) * 512);
    uint64_t len = full ? CHUNK : 512 * (1 + (uint64_t)(rand_r(&seed) % 8));
    fill(b, len, (unsigned)k + w->id * 1000);
    if (vol_pwrite(w->f->v, b, len, off, k % 17 == 0 ? VOL_FUA : 0))
      fail_msg("write failed");
    memcpy(w->f->model + off, b, len); /* disjoint chunks per writer */
  }
  free(b);
  return NULL;
}

static void *hydrator_main(void *arg)
{
  struct fixture *f = arg;
  int r;
  while ((r = vol_hydrate_step(f->v, 2 * CHUNK)) == 0)
    ;
  if (r != 1)
    fail_msg("hydration failed: %d", r);
  return NULL;
}

static void *reader_main(void *arg)
{
  struct fixture *f = arg;
  unsigned seed = 4242;
  unsigned char *b = malloc(CHUNK);
  for (int k = 0; k < 300; k++) { /* chunks ≡ 2 (mod 3): nobody writes them */
    uint64_t c = (uint64_t)(rand_r(&seed) % (NCH / 3)) * 3 + 2;
    uint64_t n = SRC_SIZE - c * CHUNK < CHUNK ? SRC_SIZE - c * CHUNK : CHUNK;
    if (vol_pread(f->v, b, n, c * CHUNK) || memcmp(b, f->image + c * CHUNK, n))
      fail_msg("reader saw wrong bytes in chunk %llu", (unsigned long long)c);
  }
  free(b);
  return NULL;
}

/* Invariant 2 under concurrency: two writers, a reader and the hydrator. */
static void test_concurrent_writers_and_hydrator(void **state)
{
  struct fixture *f = *state;
  pthread_t t[4];
  struct writer w[2] = {{f, 0}, {f, 1}};
  pthread_create(&t[0], NULL, writer_main, &w[0]);
  pthread_create(&t[1], NULL, writer_main, &w[1]);
  pthread_create(&t[2], NULL, hydrator_main, f);
  pthread_create(&t[3], NULL, reader_main, f);
  for (int i = 0; i < 4; i++)
    pthread_join(t[i], NULL);
  assert_true(vol_hydrated(f->v));
  check_model(f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_reads_equal_image, setup, teardown),
      cmocka_unit_test_setup_teardown(test_guest_writes_never_overwritten, setup, teardown),
      cmocka_unit_test_setup_teardown(test_extents, setup, teardown),
      cmocka_unit_test_setup_teardown(test_capture_half_hydrated, setup, teardown),
      cmocka_unit_test_setup_teardown(test_crash_reopen_keeps_acknowledged, setup, teardown),
      cmocka_unit_test_setup_teardown(test_step_persists_by_time, setup, teardown),
      cmocka_unit_test_setup_teardown(test_step_completes_and_goes_plain, setup, teardown),
      cmocka_unit_test_setup_teardown(test_guest_change_between_fetch_and_write, setup, teardown),
      cmocka_unit_test_setup_teardown(test_step_leaves_zero_blocks_unwritten, setup, teardown),
      cmocka_unit_test_setup_teardown(test_larger_volume_and_grow, setup_larger, teardown),
      cmocka_unit_test_setup_teardown(test_attach_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_io_failures, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_writers_and_hydrator, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
