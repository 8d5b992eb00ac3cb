/*
 * casutil.h — what the chunk store's tests (test_cas, test_transfer, test_cas_faults)
 * share: a store opened on a temporary directory (or, built with TU_RADOS,
 * in a RADOS namespace named after it), one-chunk objects of deterministic
 * data, GC roots over them, and a pack's bytes read and damaged through the
 * pack store, whatever its back end.  Include after cmocka.h, testutil.h
 * and testkey.h.
 */
#pragma once
#include <errno.h>
#include "cas/cas_int.h"
#include "common/crc32c.h"

#define CH 4096
#define SMALL_PACK (64 * 1024)

struct obj {
  struct cas_addr a;
  uint8_t data[CH];
};

/* The store location of a test's temporary directory dir: dir itself, or
 * with TU_RADOS the namespace of dir's name in the test cluster's pool
 * ($VMRP_RADOS_POOL, $CEPH_CONF: scripts/backends/ci-backends.sh sets
 * them), with a short lease so that reopening after a killed writer is
 * quick.  Without them the test fails.  Valid until the next call. */
static inline const char *tu_loc(const char *dir)
{
#ifdef TU_RADOS
  static char loc[512];
  const char *pool = getenv("VMRP_RADOS_POOL"), *conf = getenv("CEPH_CONF");
  if (!pool || !*pool || !conf || !*conf)
    fail_msg("VMRP_RADOS_POOL and CEPH_CONF are not set: run under scripts/backends/ci-backends.sh");
  size_t base = strlen(dir);
  while (base > 0 && dir[base - 1] != '/')
    base--;
  snprintf(loc, sizeof loc, "rados:pool=%s,namespace=%s,lease=3", pool, dir + base);
  return loc;
#else
  return dir;
#endif
}

static inline struct cas *open_store(const char *dir, uint64_t pack_target)
{
  struct cas_options o = {.create = true, .chunk_shift = 12, .pack_target = pack_target, .key = tu_cas_key()};
  struct cas *cas;
  assert_int_equal(cas_open(tu_loc(dir), &o, &cas), 0);
  return cas;
}

/* The CRC32C of pack id's bytes, read through the store; false when the
 * pack is not there (or empty). */
static inline bool pack_crc(struct cas *cas, uint32_t id, uint32_t *crc)
{
  struct cas_pack_store *s = cas->store;
  struct pack_obj *h;
  uint64_t size = 0;
  int r = s->ops->open(s, id, false, &h);
  if (r == -ENOENT)
    return false;
  assert_int_equal(r, 0);
  assert_int_equal(h->ops->size(h, &size), 0);
  uint8_t *buf = malloc(size + 1);
  assert_int_equal(size ? pack_obj_read(h, buf, size, 0) : 0, 0);
  *crc = crc32c(0, buf, size);
  free(buf);
  h->ops->close(h);
  return size > 0;
}

/* Flips one bit of pack id at off, writing through the store. */
static inline void pack_flip(struct cas *cas, uint32_t id, uint64_t off)
{
  struct cas_pack_store *s = cas->store;
  struct pack_obj *h;
  uint8_t b;
  assert_int_equal(s->ops->open(s, id, true, &h), 0);
  assert_int_equal(pack_obj_read(h, &b, 1, off), 0);
  b ^= 0x10;
  struct iovec v = {&b, 1};
  assert_int_equal(h->ops->append(h, &v, 1, off), 0);
  assert_int_equal(h->ops->sync(h, PACK_SYNC_DATA), 0);
  h->ops->close(h);
}

static inline void make_objs(struct cas *cas, struct obj *o, int n, uint64_t seed)
{
  for (int i = 0; i < n; i++) {
    tu_fill(&seed, o[i].data, CH, i % 2);
    assert_int_equal(cas_put(cas, CAS_CHUNK, o[i].data, CH, &o[i].a, NULL), 0);
  }
}

static inline void check_objs(struct cas *cas, const struct obj *o, int n)
{
  uint8_t buf[CH];
  for (int i = 0; i < n; i++) {
    size_t len;
    assert_int_equal(cas_get(cas, CAS_CHUNK, &o[i].a, buf, sizeof buf, &len), 0);
    assert_int_equal(len, CH);
    assert_memory_equal(buf, o[i].data, CH);
  }
}

/* A level-0 node over objects [from, to): a GC root. */
static inline struct cas_addr make_root(struct cas *cas, const struct obj *o, int from, int to)
{
  size_t len = sizeof(struct cas_node_hdr) + (size_t)(to - from) * CAS_ADDR_LEN;
  uint8_t *buf = calloc(1, len);
  struct cas_node_hdr h = {.magic = 1, .count = (uint16_t)(to - from), .level = 0};
  memcpy(buf, &h, sizeof h);
  for (int i = from; i < to; i++)
    memcpy(buf + sizeof h + (size_t)(i - from) * CAS_ADDR_LEN, o[i].a.b, CAS_ADDR_LEN);
  struct cas_addr a;
  assert_int_equal(cas_put(cas, CAS_NODE, buf, len, &a, NULL), 0);
  free(buf);
  return a;
}

struct roots {
  struct cas_addr a[4];
  size_t n;
};

static inline int roots_fn(void *ctx, struct cas_addr **out, size_t *n)
{
  struct roots *r = ctx;
  *out = malloc(sizeof r->a);
  memcpy(*out, r->a, sizeof r->a);
  *n = r->n;
  return 0;
}
