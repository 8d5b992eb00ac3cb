/*
 * vol-bench — the cost of the XTS path of src/vol (crypt.c) alone:
 *
 *   vol-bench DIR MIB          writes then reads MIB MiB of incompressible
 *                              data through vol_pwrite / vol_pread, in 1 MiB
 *                              and in 4 KiB requests, on a plaintext and on
 *                              an encrypted volume in DIR
 *
 * A first, unmeasured pass writes the file whole (the file system's block
 * allocation is not what is measured); it then stays in the page cache (no
 * flush), so the numbers are CPU:
 * the calling thread's user + system time per GiB (RUSAGE_THREAD), which
 * for the encrypted volume minus the plaintext one is what XTS costs.  One
 * "key value" line per number, for bench/nbd/run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "vol/vol.h"

static double cpu_now(void)
{
  struct rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

static double wall_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Writes (or reads) size bytes in requests of req bytes; prints MiB/s and
 * CPU s/GiB under name. */
static int pass(struct volume *v, const char *name, uint8_t *buf, uint64_t size, size_t req, bool write)
{
  double c0 = cpu_now(), w0 = wall_now();
  int r = 0;
  for (uint64_t off = 0; off < size && r == 0; off += req)
    r = write ? vol_pwrite(v, buf + off % (1u << 20), req, off, 0) : vol_pread(v, buf + off % (1u << 20), req, off);
  double c = cpu_now() - c0, w = wall_now() - w0, gib = (double)size / (1u << 30);
  if (r == 0)
    printf("%s_mibs %.0f\n%s_cpu_s_per_gib %.3f\n", name, (double)size / (1u << 20) / w, name, c / gib);
  return r;
}

static int run(const char *dir, const char *kind, uint64_t size, uint8_t *buf, const uint8_t *key)
{
  char path[4096], name[64];
  snprintf(path, sizeof path, "%s/vol-bench-%s.img", dir, kind);
  unlink(path);
  struct volume *v = NULL;
  int r = vol_create(path, size);
  if (r == 0)
    r = vol_open(path, NULL, 1u << 20, false, false, &v);
  if (r == 0 && key)
    r = vol_crypt_attach(v, key, NULL, false);
  for (uint64_t off = 0; off < size && r == 0; off += 1u << 20) /* allocation */
    r = vol_pwrite(v, buf, 1u << 20, off, 0);
  const size_t reqs[] = {1u << 20, 4096};
  for (int i = 0; i < 2 && r == 0; i++) {
    snprintf(name, sizeof name, "%s_write_%s", kind, i ? "4k" : "1m");
    r = pass(v, name, buf, size, reqs[i], true);
    snprintf(name, sizeof name, "%s_read_%s", kind, i ? "4k" : "1m");
    if (r == 0)
      r = pass(v, name, buf, size, reqs[i], false);
  }
  int cr = vol_close(v);
  unlink(path);
  return r < 0 ? r : cr;
}

int main(int argc, char **argv)
{
  if (argc != 3 || atoi(argv[2]) <= 0) {
    fprintf(stderr, "usage: vol-bench DIR MIB\n");
    return 2;
  }
  uint64_t size = (uint64_t)atoi(argv[2]) << 20;
  uint8_t *buf = malloc((2u << 20) + 4096), key[VOL_KEY_LEN];
  if (!buf)
    return 1;
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < (2u << 20) + 4096; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    buf[i] = (uint8_t)(x >> 32);
  }
  for (int i = 0; i < VOL_KEY_LEN; i++)
    key[i] = (uint8_t)(i * 7 + 1);
  int r = run(argv[1], "plain", size, buf, NULL);
  if (r == 0)
    r = run(argv[1], "xts", size, buf, key);
  free(buf);
  if (r < 0)
    fprintf(stderr, "vol-bench: %s\n", strerror(-r));
  return r < 0;
}
