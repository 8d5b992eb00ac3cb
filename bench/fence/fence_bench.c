/*
 * fence_bench.c — the consistency-group fence under load: 4 volumes, one
 * writer thread per volume issuing random 4 KiB writes (as fio would over
 * NBD, without the network), a fence of all 4 every 20 ms.  Measures the
 * writers' stall (p50/p99/max) and write IOPS with no capture, and with a
 * capture armed (copy-before-write on every first write to a captured chunk)
 * while another thread reads the capture as a restore point would.
 *   fence_bench SECONDS DIR
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vol/vol.h"

#define NVOL 4
#define SIZE (UINT64_C(1) << 30)
#define CHUNK 65536

static struct volume *vols[NVOL];
static _Atomic uint64_t writes;
static _Atomic int stop;

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *writer(void *arg)
{
  struct volume *v = arg;
  unsigned seed = (unsigned)(uintptr_t)arg;
  char buf[4096];
  memset(buf, 0x5a, sizeof buf);
  while (!atomic_load(&stop)) {
    uint64_t off = ((uint64_t)rand_r(&seed) * 4096) % SIZE;
    if (vol_pwrite(v, buf, sizeof buf, off, 0) < 0)
      abort();
    atomic_fetch_add(&writes, 1);
  }
  return NULL;
}

static int cmp(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Runs for secs; with capture, fences every 100 ms and reads each capture
 * for 50 ms. */
static double phase(double secs, int capture, uint64_t *stalls, int *nstalls)
{
  uint64_t w0 = atomic_load(&writes);
  double t0 = now();
  char *buf = malloc(CHUNK);
  while (now() - t0 < secs) {
    if (!capture) {
      usleep(20000);
      continue;
    }
    struct vol_capture *caps[NVOL];
    if (vol_fence(vols, NVOL, 0, caps, &stalls[*nstalls]) < 0)
      abort();
    (*nstalls)++;
    double t = now(), read_until = t + 0.05, next = t + 0.1;
    for (uint64_t c = 0; now() < read_until; c++) {
      size_t len;
      struct vol_capture *cap = caps[c % NVOL];
      if (vol_capture_has(cap, (c / NVOL) % vol_capture_chunks(cap)))
        vol_capture_read(cap, (c / NVOL) % vol_capture_chunks(cap), buf, &len);
    }
    for (int i = 0; i < NVOL; i++)
      vol_capture_end(caps[i], false);
    while (now() < next)
      usleep(1000);
  }
  free(buf);
  return (atomic_load(&writes) - w0) / (now() - t0);
}

int main(int argc, char **argv)
{
  double secs = argc > 1 ? atof(argv[1]) : 5;
  const char *dir = argc > 2 ? argv[2] : "/tmp";
  for (int i = 0; i < NVOL; i++) {
    char p[4096];
    snprintf(p, sizeof p, "%s/fence-bench-%d.img", dir, i);
    unlink(p);
    if (vol_create(p, SIZE) < 0 || vol_open(p, NULL, CHUNK, false, false, &vols[i]) < 0)
      return 1;
    unlink(p); /* the open descriptor keeps it */
  }
  struct vol_capture *first[NVOL]; /* the first capture is full: take it out of the way */
  vol_fence(vols, NVOL, 0, first, NULL);
  for (int i = 0; i < NVOL; i++)
    vol_capture_end(first[i], true);
  pthread_t th[NVOL];
  for (int i = 0; i < NVOL; i++)
    pthread_create(&th[i], NULL, writer, vols[i]);
  static uint64_t stalls[100000];
  int n = 0;
  double base = phase(secs, 0, stalls, &n);
  double armed = phase(secs, 1, stalls, &n);
  atomic_store(&stop, 1);
  for (int i = 0; i < NVOL; i++) {
    pthread_join(th[i], NULL);
    vol_close(vols[i]);
  }
  qsort(stalls, (size_t)n, sizeof stalls[0], cmp);
  printf("fences %d  stall_p50_us %.1f  stall_p99_us %.1f  stall_max_us %.1f\n", n, stalls[n / 2] / 1e3,
         stalls[n * 99 / 100] / 1e3, stalls[n - 1] / 1e3);
  printf("write_iops_no_capture %.0f  write_iops_capture_armed %.0f\n", base, armed);
  return 0;
}
