/*
 * casutil.h — what the chunk store's tests (test_cas, test_transfer, test_cas_faults)
 * share: a store opened on a temporary directory, one-chunk objects of
 * deterministic data, and GC roots over them.  Include after cmocka.h,
 * testutil.h and testkey.h.
 */
#pragma once
#include "cas/cas_int.h"

#define CH 4096
#define SMALL_PACK (64 * 1024)

struct obj {
  struct cas_addr a;
  uint8_t data[CH];
};

static inline struct cas *open_store(const char *dir, uint64_t pack_target)
{
  struct cas_options o = {.create = true, .chunk_shift = 12, .pack_target = pack_target, .key = tu_cas_key()};
  struct cas *cas;
  assert_int_equal(cas_open(dir, &o, &cas), 0);
  return cas;
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
