/*
 * vol_fence.c — the consistency-group fence under concurrent writers
 * (fence.c invariants 1-4).
 *
 * Three volumes.  One writer writes record k to volume A and, once that is
 * acknowledged, record k to volume B (dependent writes, as a database does
 * with a log and its data); another writes records to random blocks of C.
 * Each record fills one 4 KiB block with a pattern derived from its sequence
 * number, so an image tells which records it holds.  Repeatedly: fence all
 * three, read the capture while the writers go on (copy-before-write at
 * work), commit, and check for every volume that the captured image is
 * exactly the first p records of its write log, with
 *   acknowledged-before-the-fence <= p <= started-before-the-fence-returned,
 * and that p(B) <= p(A): the group is write-order consistent.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vol/vol.h"

#define CHUNK 16384
#define BLOCK 4096
#define NBLOCKS 512
#define SIZE ((uint64_t)NBLOCKS * BLOCK)
#define MAXW 400000
#define ROUNDS 40
#define NVOL 3

struct vlog {
  struct volume *v;
  uint32_t *block;          /* block of record k */
  _Atomic uint64_t started; /* records whose write has begun */
  _Atomic uint64_t acked;   /* records whose write has returned */
  unsigned char *image;     /* the last committed captured image */
};

static struct vlog logs[NVOL];
static _Atomic int stop;

static void record(unsigned char *buf, int vol, uint64_t seq)
{
  uint64_t tag = seq + 1;
  memcpy(buf, &tag, sizeof tag);
  for (size_t i = sizeof tag; i < BLOCK; i++)
    buf[i] = (unsigned char)(seq * 31 + (uint64_t)vol * 7 + i);
}

static int write_record(int vol, uint64_t seq, uint32_t block)
{
  unsigned char buf[BLOCK];
  struct vlog *l = &logs[vol];
  l->block[seq] = block;
  atomic_store(&l->started, seq + 1);
  record(buf, vol, seq);
  int r = vol_pwrite(l->v, buf, BLOCK, (uint64_t)block * BLOCK, 0);
  atomic_store(&l->acked, seq + 1);
  return r;
}

static void *dependent_writer(void *arg)
{
  (void)arg;
  for (uint64_t k = 0; k < MAXW && !atomic_load(&stop); k++) {
    if (write_record(0, k, (uint32_t)(k % NBLOCKS)) < 0 || write_record(1, k, (uint32_t)(k % NBLOCKS)) < 0)
      abort();
  }
  return NULL;
}

static void *random_writer(void *arg)
{
  unsigned seed = 12345;
  (void)arg;
  for (uint64_t k = 0; k < MAXW && !atomic_load(&stop); k++)
    if (write_record(2, k, (uint32_t)(rand_r(&seed) % NBLOCKS)) < 0)
      abort();
  return NULL;
}

/* Checks that image holds exactly the first p records of vol's log; returns p. */
static uint64_t image_prefix(int vol, const unsigned char *image)
{
  struct vlog *l = &logs[vol];
  uint64_t p = 0;
  for (int b = 0; b < NBLOCKS; b++) {
    uint64_t tag;
    memcpy(&tag, image + (size_t)b * BLOCK, sizeof tag);
    if (tag > p)
      p = tag;
  }
  uint64_t *last = calloc(NBLOCKS, sizeof *last); /* tag expected per block */
  for (uint64_t k = 0; k < p; k++)
    last[l->block[k]] = k + 1;
  unsigned char want[BLOCK], zero[BLOCK] = {0};
  for (int b = 0; b < NBLOCKS; b++) {
    if (last[b])
      record(want, vol, last[b] - 1);
    assert_memory_equal(image + (size_t)b * BLOCK, last[b] ? want : zero, BLOCK);
  }
  free(last);
  return p;
}

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void test_fence_is_write_order_consistent(void **state)
{
  (void)state;
  char dir[256];
  snprintf(dir, sizeof dir, "%s/vmrp-fence.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  assert_non_null(mkdtemp(dir));
  struct volume *vols[NVOL];
  for (int i = 0; i < NVOL; i++) {
    char img[300];
    snprintf(img, sizeof img, "%s/v%d.img", dir, i);
    assert_int_equal(vol_create(img, SIZE), 0);
    assert_int_equal(vol_open(img, NULL, CHUNK, false, false, &logs[i].v), 0);
    logs[i].block = calloc(MAXW, sizeof *logs[i].block);
    logs[i].image = calloc(1, SIZE);
    vols[i] = logs[i].v;
  }
  pthread_t w1, w2;
  pthread_create(&w1, NULL, dependent_writer, NULL);
  pthread_create(&w2, NULL, random_writer, NULL);

  uint64_t stalls[ROUNDS];
  unsigned char *chunk = malloc(CHUNK);
  uint64_t copied_rounds = 0;
  for (int round = 0; round < ROUNDS; round++) {
    struct timespec pause = {0, 2000000};
    nanosleep(&pause, NULL);
    uint64_t lo[NVOL], hi[NVOL], p[NVOL];
    for (int i = 0; i < NVOL; i++)
      lo[i] = atomic_load(&logs[i].acked);
    struct vol_capture *caps[NVOL];
    assert_int_equal(vol_fence(vols, NVOL, 0, caps, &stalls[round]), 0);
    for (int i = 0; i < NVOL; i++)
      hi[i] = atomic_load(&logs[i].started);
    assert_int_equal(vol_capture_full(caps[0]), round == 0); /* untrusted only at first */
    for (int i = 0; i < NVOL; i++) {
      /* The writers keep going while capture reads, chunk by chunk. */
      for (uint64_t c = 0; c < vol_capture_chunks(caps[i]); c++) {
        if (!vol_capture_has(caps[i], c))
          continue;
        size_t len;
        assert_int_equal(vol_capture_read(caps[i], c, chunk, &len), 0);
        assert_int_equal(len, CHUNK);
        memcpy(logs[i].image + c * CHUNK, chunk, len);
      }
      size_t len;
      if (!vol_capture_has(caps[i], 0))
        assert_int_equal(vol_capture_read(caps[i], 0, chunk, &len), -ENOENT);
      vol_capture_end(caps[i], true);
      p[i] = image_prefix(i, logs[i].image);
      assert_true(lo[i] <= p[i]); /* (1) everything acknowledged before the fence */
      assert_true(p[i] <= hi[i]); /* (2) nothing started after it returned */
      if (atomic_load(&logs[i].started) > hi[i])
        copied_rounds++;
    }
    assert_true(p[1] <= p[0]); /* write-order consistency across the group */
  }
  atomic_store(&stop, 1);
  pthread_join(w1, NULL);
  pthread_join(w2, NULL);
  qsort(stalls, ROUNDS, sizeof stalls[0], cmp_u64);
  printf("# fence of %d volumes: stall p50 %.1f us, p99 %.1f us over %d rounds (%llu captures overlapped writes)\n",
         NVOL, stalls[ROUNDS / 2] / 1000.0, stalls[ROUNDS - 1] / 1000.0, ROUNDS, (unsigned long long)copied_rounds);
  assert_true(copied_rounds > 0); /* copy-before-write really was exercised */
  for (int i = 0; i < NVOL; i++) {
    char img[300];
    snprintf(img, sizeof img, "%s/v%d.img", dir, i);
    assert_int_equal(vol_close(logs[i].v), 0);
    unlink(img);
    free(logs[i].block);
    free(logs[i].image);
  }
  free(chunk);
  rmdir(dir);
}

static void test_second_fence_while_capturing_is_busy(void **state)
{
  (void)state;
  char dir[256], img[300];
  snprintf(dir, sizeof dir, "%s/vmrp-fence.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  assert_non_null(mkdtemp(dir));
  snprintf(img, sizeof img, "%s/v.img", dir);
  struct volume *v;
  struct vol_capture *c1, *c2;
  assert_int_equal(vol_create(img, SIZE), 0);
  assert_int_equal(vol_open(img, NULL, CHUNK, false, false, &v), 0);
  assert_int_equal(vol_fence(&v, 1, 0, &c1, NULL), 0);
  assert_int_equal(vol_fence(&v, 1, 0, &c2, NULL), -EBUSY);
  assert_int_equal(vol_grow(v, SIZE * 2), -EBUSY);
  vol_capture_end(c1, false);
  assert_int_equal(vol_fence(&v, 1, 0, &c2, NULL), 0);
  vol_capture_end(c2, true);
  assert_int_equal(vol_close(v), 0);
  unlink(img);
  rmdir(dir);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fence_is_write_order_consistent),
      cmocka_unit_test(test_second_fence_while_capturing_is_busy),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
