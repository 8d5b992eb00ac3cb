/*
 * vmrp-store-bench — measurements behind the design choices in cas/index.c:
 *
 *   vmrp-store-bench index DIR N      start-up time, RAM per object and
 *                                     lookups per second with N objects
 *
 * It writes N small objects straight into packs and index files (through
 * the store's directory back end, pack_store.h) with the store's own record
 * format — an encrypted store's (pack.h format 2), under
 * a random key, as the daemon's stores are — faster than N cas_put calls,
 * same files, then opens the store like the daemon does and measures.
 * Output is one "key value" line per number, for bench/store/run.
 */
#include <errno.h>
#include <inttypes.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cas/cas_int.h"

#define PER_PACK 200000u

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static long rss_kib(const char *key)
{
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, key, strlen(key)))
      v = atol(line + strlen(key));
  if (f)
    fclose(f);
  return v;
}

static void object(uint64_t i, uint8_t out[16])
{
  memcpy(out, &i, 8);
  memcpy(out + 8, "vmrp-obj", 8);
}

static int write_packs(const char *dir, uint64_t n, struct cas_crypt *cc)
{
  struct cas_pack_store *ps;
  int r = pack_dir_open(dir, true, false, &ps);
  if (r < 0)
    return r;
  size_t rec = PACK_REC_HDR + PACK_SEAL_OVERHEAD + 16;
  uint8_t *buf = malloc(PACK_HDR_SIZE + PER_PACK * rec);
  struct pack_idx_ent *ents = malloc(PER_PACK * sizeof *ents);
  r = buf && ents ? 0 : -ENOMEM;
  for (uint32_t id = 0; r == 0 && (uint64_t)id * PER_PACK < n; id++) {
    uint64_t first = (uint64_t)id * PER_PACK, cnt = n - first < PER_PACK ? n - first : PER_PACK;
    size_t off = PACK_HDR_SIZE;
    for (uint64_t k = 0; k < cnt && r == 0; k++) {
      uint8_t *payload = buf + off + PACK_REC_HDR;
      object(first + k, payload + PACK_SEAL_PRE);
      struct pack_rec pr = {.type = CAS_CHUNK, .raw_len = 16, .body_len = 16};
      crypt_addr(cc, CAS_CHUNK, payload + PACK_SEAL_PRE, 16, &pr.addr);
      if ((r = pack_rec_seal(cc, &pr, payload)) < 0)
        break;
      pack_rec_encode(&pr, payload, buf + off);
      ents[k] = (struct pack_idx_ent){.addr = pr.addr, .off = (uint32_t)off, .len = (uint32_t)rec, .raw_len = 16,
                                      .type = CAS_CHUNK};
      off += rec;
    }
    struct pack_obj *h = NULL;
    struct iovec v = {buf + PACK_HDR_SIZE, off - PACK_HDR_SIZE};
    if (r == 0 && (r = pack_create(ps, id, PACK_VERSION_SEALED, &h)) == 0 &&
        (r = h->ops->append(h, &v, 1, PACK_HDR_SIZE)) == 0 && (r = h->ops->sync(h, PACK_SYNC_SEAL)) == 0)
      r = pack_idx_write(ps, id, ents, cnt);
    if (h)
      h->ops->close(h);
  }
  free(buf);
  free(ents);
  ps->ops->free(ps);
  return r;
}

static int bench_index(const char *dir, uint64_t n)
{
  struct cas_key key;
  if (RAND_bytes((unsigned char *)&key, sizeof key) != 1)
    return -EIO;
  struct cas_options o = {.create = true, .key = &key};
  struct cas_crypt *cc = crypt_new(&key);
  struct cas *cas;
  if (!cc)
    return -ENOMEM;
  double t0 = now();
  int r = write_packs(dir, n, cc);
  crypt_free(cc);
  if (r < 0)
    return r;
  printf("objects %" PRIu64 "\nwrite_seconds %.2f\n", n, now() - t0);
  /* The config is created by the first open; close and reopen to time a start-up. */
  if ((r = cas_open(dir, &o, &cas)) < 0)
    return r;
  cas_close(cas);
  long rss0 = rss_kib("VmRSS:");
  t0 = now();
  if ((r = cas_open(dir, &o, &cas)) < 0)
    return r;
  double startup = now() - t0;
  long rss1 = rss_kib("VmRSS:"), hwm = rss_kib("VmHWM:");
  struct cas_stats st;
  cas_stats(cas, &st);
  printf("startup_seconds %.3f\n", startup);
  printf("index_bytes_per_object %.1f\n", (double)st.index_ram_bytes / (double)n);
  printf("rss_bytes_per_object %.1f\n", (double)(rss1 - rss0) * 1024.0 / (double)n);
  printf("peak_rss_bytes_per_object %.1f\n", (double)hwm * 1024.0 / (double)n);
  /* The addresses first: a real lookup gets its address for free from cas_put. */
  uint64_t s = 88172645463325252ull, hits = 0, lookups = 2000000;
  struct cas_addr *addrs = malloc(lookups * sizeof *addrs);
  if (!addrs) {
    cas_close(cas);
    return -ENOMEM;
  }
  for (uint64_t k = 0; k < lookups; k++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    uint8_t data[16];
    object(s % n, data);
    cas_addr_of(cas, CAS_CHUNK, data, 16, &addrs[k]);
  }
  t0 = now();
  for (uint64_t k = 0; k < lookups; k++)
    hits += cas_has(cas, &addrs[k]);
  double dt = now() - t0;
  free(addrs);
  printf("lookups_per_second %.0f\nlookup_hits %" PRIu64 "\n", (double)lookups / (dt > 1e-9 ? dt : 1e-9), hits);
  return cas_close(cas);
}

int main(int argc, char **argv)
{
  if (argc == 4 && !strcmp(argv[1], "index")) {
    int r = bench_index(argv[2], strtoull(argv[3], NULL, 0));
    if (r < 0)
      fprintf(stderr, "vmrp-store-bench: %s\n", strerror(-r));
    return r < 0;
  }
  fprintf(stderr, "usage: vmrp-store-bench index DIR N\n");
  return 2;
}
