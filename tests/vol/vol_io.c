/*
 * vol_io.c — live volume I/O and changed-block tracking (vol.c, cbt.c), and
 * the same when the I/O fails (failpoints vol.create, vol.data.write,
 * vol.data.flush, vol.cbw.write, vol.cbt.write).  Every test works on a real
 * sparse file in a temporary directory and reads back what it wrote.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/failpoint.h"
#include "vol/vol.h"

#define CHUNK 65536
#define SIZE (16 * CHUNK + 4096) /* a partial last chunk */

struct fixture {
  char dir[256], img[300], cbt[300];
  struct volume *v;
};

static int setup(void **state)
{
  struct fixture *f = calloc(1, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "%s/vmrp-vol.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->img, sizeof f->img, "%s/disk.img", f->dir);
  snprintf(f->cbt, sizeof f->cbt, "%s/disk.cbt", f->dir);
  assert_int_equal(vol_create(f->img, SIZE), 0);
  assert_int_equal(vol_open(f->img, f->cbt, CHUNK, true, false, &f->v), 0);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  if (f->v)
    vol_close(f->v);
  unlink(f->img);
  unlink(f->cbt);
  rmdir(f->dir);
  free(f);
  return 0;
}

static void fill(unsigned char *buf, size_t n, unsigned seed)
{
  for (size_t i = 0; i < n; i++)
    buf[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 9));
}

static void test_create_rejects_bad_sizes(void **state)
{
  struct fixture *f = *state;
  char p[320];
  snprintf(p, sizeof p, "%s/bad.img", f->dir);
  assert_int_equal(vol_create(p, 0), -EINVAL);
  assert_int_equal(vol_create(p, 1000), -EINVAL);
  assert_int_equal(vol_create(f->img, SIZE), -EEXIST); /* never overwrites a disk */
}

static void test_write_read_back(void **state)
{
  struct fixture *f = *state;
  size_t n = 3 * CHUNK + 777;
  unsigned char *w = malloc(n), *r = malloc(n);
  fill(w, n, 1);
  assert_int_equal(vol_pwrite(f->v, w, n, CHUNK - 100, 0), 0);
  assert_int_equal(vol_pwrite(f->v, w, 512, 0, VOL_FUA), 0);
  assert_int_equal(vol_flush(f->v), 0);
  assert_int_equal(vol_pread(f->v, r, n, CHUNK - 100), 0);
  assert_memory_equal(w, r, n);
  assert_int_equal(vol_pread(f->v, r, 512, 0), 0);
  assert_memory_equal(w, r, 512);
  free(w);
  free(r);
}

static void test_out_of_range(void **state)
{
  struct fixture *f = *state;
  char buf[4096] = {0};
  assert_int_equal(vol_pread(f->v, buf, sizeof buf, SIZE - 100), -EINVAL);
  assert_int_equal(vol_pwrite(f->v, buf, sizeof buf, SIZE, 0), -EINVAL);
  assert_int_equal(vol_pwrite(f->v, buf, 1, UINT64_MAX, 0), -EINVAL);
  assert_int_equal(vol_zero(f->v, SIZE - 512, 1024, 0), -EINVAL);
  assert_int_equal(vol_pread(f->v, buf, 100, SIZE - 100), 0); /* the last bytes are fine */
}

/* vol_pread_nowait: the bytes of cached data; range errors as vol_pread.
 * (-EAGAIN, the fallback: a lazy volume, tests/vol/vol_hydrate.c.) */
static void test_pread_nowait(void **state)
{
  struct fixture *f = *state;
  size_t n = 2 * CHUNK + 333;
  unsigned char *w = malloc(n), *r = malloc(n);
  fill(w, n, 5);
  assert_int_equal(vol_pwrite(f->v, w, n, 1000, 0), 0);
  memset(r, 0, n);
  assert_int_equal(vol_pread_nowait(f->v, r, n, 1000), 0); /* just written: in the page cache */
  assert_memory_equal(w, r, n);
  assert_int_equal(vol_pread_nowait(f->v, r, 4096, SIZE - 100), -EINVAL);
  assert_int_equal(vol_pread_nowait(f->v, r, 1, UINT64_MAX), -EINVAL);
  free(w);
  free(r);
}

static int count_cb(void *ctx, uint64_t off, uint64_t len, bool hole)
{
  uint64_t *holes = ctx;
  (void)off;
  if (hole)
    *holes += len;
  return 0;
}

static void test_zero_and_trim_make_holes(void **state)
{
  struct fixture *f = *state;
  unsigned char *w = malloc(4 * CHUNK), *r = malloc(4 * CHUNK), *z = calloc(1, 4 * CHUNK);
  fill(w, 4 * CHUNK, 2);
  assert_int_equal(vol_pwrite(f->v, w, 4 * CHUNK, 0, 0), 0);
  uint64_t holes = 0;
  assert_int_equal(vol_extents(f->v, 0, 4 * CHUNK, count_cb, &holes), 0);
  assert_int_equal(holes, 0);
  assert_int_equal(vol_zero(f->v, CHUNK, CHUNK, 0), 0);              /* punches a hole */
  assert_int_equal(vol_zero(f->v, 2 * CHUNK, CHUNK, VOL_NO_HOLE), 0); /* zeros, allocated */
  assert_int_equal(vol_trim(f->v, 3 * CHUNK, CHUNK, 0), 0);
  assert_int_equal(vol_pread(f->v, r, 4 * CHUNK, 0), 0);
  assert_memory_equal(r, w, CHUNK);
  assert_memory_equal(r + CHUNK, z, 2 * CHUNK);
  holes = 0;
  assert_int_equal(vol_extents(f->v, 0, 4 * CHUNK, count_cb, &holes), 0);
  assert_true(holes >= CHUNK); /* at least the punched chunk (trim is advisory) */
  free(w);
  free(r);
  free(z);
}

static void test_cbt_marks_exactly_touched_chunks(void **state)
{
  struct fixture *f = *state;
  char buf[8192];
  memset(buf, 0xab, sizeof buf);
  assert_false(vol_cbt_trusted(f->v)); /* a new volume has no saved bitmap */
  /* unaligned write across the chunk 2/3 boundary */
  assert_int_equal(vol_pwrite(f->v, buf, 200, 3 * CHUNK - 100, 0), 0);
  assert_int_equal(vol_trim(f->v, 7 * CHUNK + 10, 10, 0), 0);
  assert_int_equal(vol_zero(f->v, 9 * CHUNK, CHUNK + 1, 0), 0); /* chunks 9 and 10 */
  assert_int_equal(vol_pwrite(f->v, buf, 1, SIZE - 1, 0), 0);    /* the partial last chunk, 16 */
  for (uint64_t i = 0; i <= 16; i++) {
    bool want = i == 2 || i == 3 || i == 7 || i == 9 || i == 10 || i == 16;
    assert_int_equal(vol_cbt_dirty(f->v, i), want);
  }
  /* reads and flushes mark nothing */
  assert_int_equal(vol_pread(f->v, buf, sizeof buf, 5 * CHUNK), 0);
  assert_int_equal(vol_flush(f->v), 0);
  assert_false(vol_cbt_dirty(f->v, 5));
}

static void test_cbt_survives_clean_close_only(void **state)
{
  struct fixture *f = *state;
  char buf[512] = {1};
  struct vol_capture *cap;
  /* a committed capture makes the bitmap trusted */
  assert_int_equal(vol_fence(&f->v, 1, 0, &cap, NULL), 0);
  assert_true(vol_capture_full(cap));
  vol_capture_end(cap, true);
  assert_true(vol_cbt_trusted(f->v));
  assert_int_equal(vol_pwrite(f->v, buf, sizeof buf, 4 * CHUNK, 0), 0);
  assert_int_equal(vol_close(f->v), 0);
  /* clean restart: the bitmap comes back */
  assert_int_equal(vol_open(f->img, f->cbt, CHUNK, true, false, &f->v), 0);
  assert_true(vol_cbt_trusted(f->v));
  assert_true(vol_cbt_dirty(f->v, 4));
  assert_false(vol_cbt_dirty(f->v, 5));
  assert_int_equal(vol_close(f->v), 0);
  /* unclean restart (the caller's clean flag is false): untrusted, full capture */
  assert_int_equal(vol_open(f->img, f->cbt, CHUNK, false, false, &f->v), 0);
  assert_false(vol_cbt_trusted(f->v));
  assert_int_equal(vol_fence(&f->v, 1, 0, &cap, NULL), 0);
  assert_true(vol_capture_full(cap));
  vol_capture_end(cap, false); /* uncommitted: stays untrusted */
  assert_false(vol_cbt_trusted(f->v));
}

static void test_whole_copy_is_point_in_time_and_keeps_cbt(void **state)
{
  struct fixture *f = *state;
  unsigned char a[CHUNK], b[CHUNK], r[CHUNK];
  memset(a, 0xaa, sizeof a);
  memset(b, 0xbb, sizeof b);
  assert_int_equal(vol_pwrite(f->v, a, sizeof a, 2 * CHUNK, 0), 0);
  struct vol_capture *cap;
  assert_int_equal(vol_fence(&f->v, 1, VOL_FENCE_ALL, &cap, NULL), 0);
  assert_true(vol_capture_full(cap));
  assert_int_equal(vol_pwrite(f->v, b, sizeof b, 2 * CHUNK, 0), 0); /* after the fence */
  size_t len;
  assert_int_equal(vol_capture_read(cap, 2, r, &len), 0);
  assert_memory_equal(r, a, sizeof a); /* the fenced image, from copy-before-write */
  assert_int_equal(vol_capture_read(cap, 16, r, &len), 0);
  assert_int_equal(len, 4096); /* the partial last chunk */
  vol_capture_end(cap, false);
  assert_true(vol_cbt_dirty(f->v, 2)); /* the restore points' bitmap is untouched */
  assert_int_equal(vol_pread(f->v, r, sizeof r, 2 * CHUNK), 0);
  assert_memory_equal(r, b, sizeof b);
}

/* Writes n bytes of buf through a pipe with vol_pwrite_pipe, as the NBD
 * server does with a WRITE payload spliced from its socket. */
static int pwrite_via_pipe(struct volume *v, const unsigned char *buf, size_t n, uint64_t off, unsigned flags)
{
  int p[2];
  assert_int_equal(pipe(p), 0);
  assert_true(fcntl(p[1], F_SETPIPE_SZ, 1 << 20) >= (int)n);
  assert_int_equal(write(p[1], buf, n), (ssize_t)n);
  int r = vol_pwrite_pipe(v, p[0], n, off, flags);
  close(p[0]);
  close(p[1]);
  return r;
}

static void test_pipe_write_and_read_fd(void **state)
{
  struct fixture *f = *state;
  size_t n = 3 * CHUNK + 777;
  unsigned char *w = malloc(n), *r = malloc(n), old[CHUNK];
  fill(w, n, 7);
  memset(old, 0x5c, sizeof old);
  assert_int_equal(vol_pwrite(f->v, old, sizeof old, 4 * CHUNK, 0), 0);
  /* Through a fence: copy-before-write keeps the fenced image of chunk 4. */
  struct vol_capture *cap;
  assert_int_equal(vol_fence(&f->v, 1, VOL_FENCE_ALL, &cap, NULL), 0);
  assert_int_equal(pwrite_via_pipe(f->v, w, n, 2 * CHUNK - 100, VOL_FUA), 0);
  size_t len;
  assert_int_equal(vol_capture_read(cap, 4, r, &len), 0);
  assert_memory_equal(r, old, sizeof old);
  vol_capture_end(cap, false);
  /* CBT: chunks 1..5 touched, exactly. */
  for (uint64_t i = 0; i <= 16; i++)
    assert_int_equal(vol_cbt_dirty(f->v, i), i >= 1 && i <= 5);
  assert_int_equal(vol_pread(f->v, r, n, 2 * CHUNK - 100), 0);
  assert_memory_equal(w, r, n);
  /* vol_read_fd: the file holds the volume's bytes at the same offsets. */
  int fd = vol_read_fd(f->v, 2 * CHUNK - 100, n);
  assert_true(fd >= 0);
  memset(r, 0, n);
  assert_int_equal(pread(fd, r, n, 2 * CHUNK - 100), (ssize_t)n);
  assert_memory_equal(w, r, n);
  assert_int_equal(vol_read_fd(f->v, SIZE - 100, 4096), -EINVAL);
  assert_int_equal(pwrite_via_pipe(f->v, w, 4096, SIZE - 100, 0), -EINVAL);
  free(w);
  free(r);
}

static void test_grow_never_shrinks(void **state)
{
  struct fixture *f = *state;
  char buf[512];
  memset(buf, 7, sizeof buf);
  assert_int_equal(vol_grow(f->v, SIZE - 512), -EINVAL);
  assert_int_equal(vol_grow(f->v, SIZE + 3 * CHUNK), 0);
  assert_int_equal(vol_size(f->v), SIZE + 3 * CHUNK);
  assert_int_equal(vol_pwrite(f->v, buf, sizeof buf, SIZE + 2 * CHUNK, 0), 0);
  char r[512];
  assert_int_equal(vol_pread(f->v, r, sizeof r, SIZE + 2 * CHUNK), 0);
  assert_memory_equal(r, buf, sizeof r);
}

static void test_readonly(void **state)
{
  struct fixture *f = *state;
  vol_close(f->v);
  assert_int_equal(vol_open(f->img, NULL, CHUNK, false, true, &f->v), 0);
  char buf[512] = {0};
  assert_int_equal(vol_pwrite(f->v, buf, sizeof buf, 0, 0), -EROFS);
  assert_int_equal(pwrite_via_pipe(f->v, (unsigned char *)buf, sizeof buf, 0, 0), -EROFS);
  assert_int_equal(vol_zero(f->v, 0, 512, 0), -EROFS);
  assert_int_equal(vol_pread(f->v, buf, sizeof buf, 0), 0);
}

/* vol.c invariant 3 when the I/O fails (failpoint vol.create): no file is
 * left that could be taken for a disk. */
static void test_create_failure(void **state)
{
  struct fixture *f = *state;
  char p[320];
  snprintf(p, sizeof p, "%s/new.img", f->dir);
  assert_int_equal(failpoint_arm("vol.create=eiox1"), 0);
  assert_int_equal(vol_create(p, SIZE), -EIO);
  assert_int_equal(access(p, F_OK), -1);
  assert_int_equal(vol_create(p, SIZE), 0);
  unlink(p);
}

/* vol.c invariants 2 and 4 when writes fail (failpoints vol.data.write,
 * vol.data.flush): a short write lands its first half and fails -ENOSPC with
 * the CBT bits of every chunk it touched set; a failed spliced write changes
 * nothing; a FUA write whose flush fails is not acknowledged; then both
 * succeed. */
static void test_write_failures(void **state)
{
  struct fixture *f = *state;
  unsigned char a[2 * CHUNK], b[2 * CHUNK], r[2 * CHUNK];
  fill(a, sizeof a, 1);
  fill(b, sizeof b, 2);
  assert_int_equal(vol_pwrite(f->v, a, sizeof a, 2 * CHUNK, 0), 0);
  struct vol_capture *cap;
  assert_int_equal(vol_fence(&f->v, 1, 0, &cap, NULL), 0);
  vol_capture_end(cap, true); /* a clean bitmap */
  assert_false(vol_cbt_dirty(f->v, 2) || vol_cbt_dirty(f->v, 3));
  assert_int_equal(failpoint_arm("vol.data.write=shortx1"), 0);
  assert_int_equal(vol_pwrite(f->v, b, sizeof b, 2 * CHUNK, 0), -ENOSPC);
  assert_true(vol_cbt_dirty(f->v, 2) && vol_cbt_dirty(f->v, 3));
  assert_int_equal(vol_pread(f->v, r, sizeof r, 2 * CHUNK), 0);
  assert_memory_equal(r, b, CHUNK);
  assert_memory_equal(r + CHUNK, a + CHUNK, CHUNK);
  assert_int_equal(failpoint_arm("vol.data.write=enospcx1"), 0);
  assert_int_equal(pwrite_via_pipe(f->v, a, CHUNK, 2 * CHUNK, 0), -ENOSPC);
  assert_int_equal(vol_pread(f->v, r, CHUNK, 2 * CHUNK), 0);
  assert_memory_equal(r, b, CHUNK);
  assert_int_equal(failpoint_arm("vol.data.flush=eiox2"), 0);
  assert_int_equal(vol_flush(f->v), -EIO);
  assert_int_equal(vol_pwrite(f->v, a, CHUNK, 2 * CHUNK, VOL_FUA), -EIO);
  assert_int_equal(vol_flush(f->v), 0);
  assert_int_equal(pwrite_via_pipe(f->v, a, sizeof a, 2 * CHUNK, VOL_FUA), 0);
  assert_int_equal(vol_pread(f->v, r, sizeof r, 2 * CHUNK), 0);
  assert_memory_equal(r, a, sizeof a);
  assert_int_equal(failpoint_arm(""), 0);
}

/* fence.c invariant 2 when the copy aside fails (failpoint vol.cbw.write):
 * the write that needed it fails and changes nothing, the capture reads the
 * fenced image, and the next write copies it aside and lands. */
static void test_copy_before_write_failure(void **state)
{
  struct fixture *f = *state;
  unsigned char a[CHUNK], b[CHUNK], r[CHUNK];
  fill(a, sizeof a, 3);
  fill(b, sizeof b, 4);
  assert_int_equal(vol_pwrite(f->v, a, sizeof a, 5 * CHUNK, 0), 0);
  struct vol_capture *cap;
  assert_int_equal(vol_fence(&f->v, 1, VOL_FENCE_ALL, &cap, NULL), 0);
  assert_int_equal(failpoint_arm("vol.cbw.write=eiox1"), 0);
  assert_int_equal(vol_pwrite(f->v, b, sizeof b, 5 * CHUNK, 0), -EIO);
  assert_int_equal(vol_pread(f->v, r, sizeof r, 5 * CHUNK), 0);
  assert_memory_equal(r, a, sizeof a);
  assert_int_equal(vol_pwrite(f->v, b, sizeof b, 5 * CHUNK, 0), 0);
  size_t len;
  assert_int_equal(vol_capture_read(cap, 5, r, &len), 0);
  assert_memory_equal(r, a, sizeof a);
  vol_capture_end(cap, false);
  assert_int_equal(vol_pread(f->v, r, sizeof r, 5 * CHUNK), 0);
  assert_memory_equal(r, b, sizeof b);
  assert_int_equal(failpoint_arm(""), 0);
}

/* A change-tracking bitmap that cannot be saved (failpoint vol.cbt.write)
 * fails vol_close, so the region never marks the shutdown clean (region/
 * volumes.c) and the old file is left whole. */
static void test_cbt_save_failure(void **state)
{
  struct fixture *f = *state;
  char buf[512] = {1};
  struct vol_capture *cap;
  assert_int_equal(vol_fence(&f->v, 1, 0, &cap, NULL), 0);
  vol_capture_end(cap, true);
  assert_int_equal(vol_close(f->v), 0);
  off_t before = 0;
  struct stat st;
  assert_int_equal(stat(f->cbt, &st), 0);
  before = st.st_size;
  assert_int_equal(vol_open(f->img, f->cbt, CHUNK, true, false, &f->v), 0);
  assert_int_equal(vol_pwrite(f->v, buf, sizeof buf, 4 * CHUNK, 0), 0);
  assert_int_equal(failpoint_arm("vol.cbt.write=shortx1"), 0);
  assert_int_equal(vol_close(f->v), -ENOSPC);
  f->v = NULL;
  assert_int_equal(stat(f->cbt, &st), 0);
  assert_int_equal(st.st_size, before);
  assert_int_equal(failpoint_arm(""), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_create_rejects_bad_sizes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_read_back, setup, teardown),
      cmocka_unit_test_setup_teardown(test_out_of_range, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pread_nowait, setup, teardown),
      cmocka_unit_test_setup_teardown(test_zero_and_trim_make_holes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cbt_marks_exactly_touched_chunks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cbt_survives_clean_close_only, setup, teardown),
      cmocka_unit_test_setup_teardown(test_whole_copy_is_point_in_time_and_keeps_cbt, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pipe_write_and_read_fd, setup, teardown),
      cmocka_unit_test_setup_teardown(test_grow_never_shrinks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_readonly, setup, teardown),
      cmocka_unit_test_setup_teardown(test_create_failure, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_failures, setup, teardown),
      cmocka_unit_test_setup_teardown(test_copy_before_write_failure, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cbt_save_failure, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
