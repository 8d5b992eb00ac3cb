/*
 * test_tree.c — snapshot trees: full build and read-back (multi-level, short
 * last chunk), map, restore to a sparse file, incremental = full (same,
 * grown and shrunk sizes), diff (exact ranges, cost proportional to change,
 * different sizes), changes with their kind and walks resumed from an
 * offset, walk/copy with the closure invariant, edge sizes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "vimg.h"
#include "../cas/testkey.h"

static struct cas *open_store(const char *dir)
{
  struct cas_options o = {.create = true, .chunk_shift = 12, .pack_target = 1 << 20, .key = tu_cas_key()};
  struct cas *cas;
  assert_int_equal(cas_open(dir, &o, &cas), 0);
  return cas;
}

static struct cas_addr build_full(struct cas *cas, struct vimg *v)
{
  struct tree_source src = vimg_source(v);
  struct tree_opts to = {.threads = 3};
  struct cas_addr root;
  assert_int_equal(tree_build_full(cas, &src, v->size, &to, &root, NULL), 0);
  return root;
}

static void scatter(struct vimg *v, uint64_t *s, int n, uint64_t seed_base)
{
  for (int k = 0; k < n; k++)
    v->seed[tu_rand(s) % v->nchunks] = seed_base + (uint64_t)k + 1;
}

static void check_read(struct cas *cas, const struct cas_addr *root, struct vimg *v, uint64_t *s, int n)
{
  uint8_t *a = malloc(3 * VCH + 100), *b = malloc(3 * VCH + 100);
  for (int k = 0; k < n; k++) {
    size_t len = 1 + tu_rand(s) % (3 * VCH + 99);
    if (len > v->size)
      len = (size_t)v->size;
    uint64_t off = tu_rand(s) % (v->size - len + 1);
    if (k == 0)
      off = v->size - len; /* the tail */
    assert_int_equal(tree_read(cas, root, a, len, off), 0);
    assert_int_equal(vimg_read(v, b, len, off), 0);
    assert_memory_equal(a, b, len);
  }
  free(a);
  free(b);
}

struct ext_check {
  const struct vimg *v;
  uint64_t next;
};

static int ext_cb(void *ctx, const struct tree_extent *e)
{
  struct ext_check *c = ctx;
  assert_int_equal(e->off, c->next);
  for (uint64_t off = e->off; off < e->off + e->len; off += VCH)
    assert_int_equal(e->zero, c->v->seed[off / VCH] == 0);
  c->next = e->off + e->len;
  return 0;
}

static void full_build_read_map_restore(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  struct cas *cas = open_store(dir);
  struct vimg v;
  vimg_init(&v, (300ull << 20) + 1234); /* 76,801 chunks: height 2, short last chunk */
  uint64_t s = 1;
  scatter(&v, &s, 400, 0);
  for (uint64_t i = 1000; i < 1300; i++)
    v.seed[i] = i; /* a contiguous run */
  v.seed[v.nchunks - 1] = 77;
  struct cas_addr root = build_full(cas, &v);
  struct tree_info ti;
  assert_int_equal(tree_info(cas, &root, &ti), 0);
  assert_int_equal(ti.size, v.size);
  assert_int_equal(ti.height, 2);
  check_read(cas, &root, &v, &s, 300);
  struct ext_check ec = {.v = &v};
  assert_int_equal(tree_map(cas, &root, ext_cb, &ec), 0);
  assert_int_equal(ec.next, v.size);
  /* Restore: byte-identical and sparse. */
  char *path = NULL;
  assert_true(asprintf(&path, "%s/out.raw", dir) > 0);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  struct tree_opts to = {.threads = 2};
  assert_int_equal(tree_restore(cas, &root, fd, &to), 0);
  struct stat st;
  assert_int_equal(fstat(fd, &st), 0);
  assert_int_equal(st.st_size, (off_t)v.size);
  assert_true((uint64_t)st.st_blocks * 512 < 4 * 1024 * 1024);
  uint8_t a[VCH], b[VCH];
  for (uint64_t i = 0; i < v.nchunks; i++) {
    uint32_t len = vimg_chunk_len(&v, i);
    assert_int_equal(pread(fd, a, len, (off_t)(i * VCH)), (ssize_t)len);
    vimg_read(&v, b, len, i * VCH);
    assert_memory_equal(a, b, len);
  }
  close(fd);
  free(path);
  vimg_free(&v);
  assert_int_equal(cas_close(cas), 0);
  tu_rmrf(dir);
}

static struct cas_addr build_incr(struct cas *cas, const struct cas_addr *base, struct vimg *v,
                                  const uint64_t *changed, size_t n, struct tree_build_stats *st)
{
  struct tree_source src = vimg_source(v);
  struct cas_addr root;
  assert_int_equal(tree_build_incremental(cas, base, &src, v->size, changed, n, NULL, &root, st), 0);
  return root;
}

static void incremental_equals_full(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  struct cas *cas = open_store(dir);
  uint64_t s = 2;
  static const uint64_t sizes[][2] = {
      {10 << 20, 10 << 20},              /* same size */
      {10 << 20, (300ull << 20) + 5},    /* grown across two heights */
      {(300ull << 20) + 5, (3 << 20) + 1}, /* shrunk */
      {1 << 20, (1 << 20) + 100},        /* grown inside the last chunk's leaf */
  };
  for (size_t t = 0; t < sizeof sizes / sizeof *sizes; t++) {
    struct vimg v1, v2;
    vimg_init(&v1, sizes[t][0]);
    scatter(&v1, &s, 200, 1000 * t);
    struct cas_addr r1 = build_full(cas, &v1);
    vimg_copy(&v2, &v1);
    vimg_resize(&v2, sizes[t][1]);
    uint64_t changed[60];
    for (int k = 0; k < 60; k++) {
      changed[k] = tu_rand(&s) % v2.nchunks;
      v2.seed[changed[k]] = k % 7 == 0 ? 0 : 5000 + 100 * t + (uint64_t)k; /* some chunks become zero */
    }
    struct tree_build_stats bs;
    struct cas_addr r2 = build_incr(cas, &r1, &v2, changed, 60, &bs);
    assert_true(bs.chunks_read <= 62);
    struct cas_addr r2full = build_full(cas, &v2);
    assert_memory_equal(&r2, &r2full, sizeof r2);
    check_read(cas, &r2, &v2, &s, 50);
    /* No change at all: the same root. */
    struct cas_addr r3 = build_incr(cas, &r2, &v2, NULL, 0, NULL);
    assert_memory_equal(&r3, &r2, sizeof r3);
    vimg_free(&v1);
    vimg_free(&v2);
  }
  assert_int_equal(cas_close(cas), 0);
  tu_rmrf(dir);
}

struct ranges {
  uint64_t off[4096], len[4096];
  size_t n;
};

static int range_cb(void *ctx, uint64_t off, uint64_t len)
{
  struct ranges *r = ctx;
  assert_true(r->n < 4096);
  if (r->n)
    assert_true(off > r->off[r->n - 1] + r->len[r->n - 1]); /* ordered and maximal */
  r->off[r->n] = off;
  r->len[r->n++] = len;
  return 0;
}

/* Checks reported ranges against the model; returns chunks reported. */
static uint64_t check_diff(struct cas *cas, const struct cas_addr *a, const struct cas_addr *b,
                           const struct vimg *va, const struct vimg *vb, struct tree_diff_stats *st)
{
  static struct ranges r;
  r.n = 0;
  assert_int_equal(tree_diff(cas, a, b, range_cb, &r, st), 0);
  uint64_t end = va->size > vb->size ? va->size : vb->size, n = (end + VCH - 1) / VCH, k = 0, reported = 0;
  uint64_t short_last = va->size != vb->size ? (va->size < vb->size ? va->nchunks : vb->nchunks) - 1 : UINT64_MAX;
  for (uint64_t i = 0; i < n; i++) {
    while (k < r.n && r.off[k] + r.len[k] <= i * VCH)
      k++;
    bool in = k < r.n && r.off[k] <= i * VCH;
    bool differs = vimg_chunk_differs(va, vb, i);
    if (differs)
      assert_true(in);
    else if (in)
      assert_int_equal(i, short_last); /* the documented over-report */
    reported += in;
  }
  return reported;
}

static void diff_exact_and_proportional(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  struct cas *cas = open_store(dir);
  struct vimg v1, v2, v3;
  uint64_t s = 3;
  vimg_init(&v1, 300ull << 20);
  scatter(&v1, &s, 500, 0);
  struct cas_addr r1 = build_full(cas, &v1);
  vimg_copy(&v2, &v1);
  uint64_t ch = 12345;
  v2.seed[ch] = 999;
  struct cas_addr r2 = build_incr(cas, &r1, &v2, &ch, 1, NULL);
  struct tree_diff_stats st;
  assert_int_equal(check_diff(cas, &r1, &r2, &v1, &v2, &st), 1);
  assert_true(st.nodes_read <= 2 * 3); /* one path per side */
  assert_int_equal(check_diff(cas, &r1, &r1, &v1, &v1, &st), 0);
  assert_int_equal(st.nodes_read, 0);
  /* Grown disk: old content untouched, some data in the new area. */
  vimg_copy(&v3, &v2);
  vimg_resize(&v3, (600ull << 20) + 77);
  uint64_t chs[3] = {80000, 150000, 2};
  v3.seed[80000] = 1, v3.seed[150000] = 2, v3.seed[2] = 3;
  struct cas_addr r3 = build_incr(cas, &r2, &v3, chs, 3, NULL);
  check_diff(cas, &r2, &r3, &v2, &v3, &st);
  assert_true(st.nodes_read <= 2 * 3 * 4);
  check_diff(cas, &r3, &r2, &v3, &v2, &st);
  check_diff(cas, &r1, &r3, &v1, &v3, &st);
  vimg_free(&v1);
  vimg_free(&v2);
  vimg_free(&v3);
  assert_int_equal(cas_close(cas), 0);
  tu_rmrf(dir);
}

struct kinds {
  struct tree_extent e[4096];
  int n;
  int stop_after; /* > 0: stop the walk after that many (a streamed piece) */
};

static int kinds_cb(void *ctx, const struct tree_extent *e)
{
  struct kinds *k = ctx;
  assert_true(k->n < 4096);
  k->e[k->n++] = *e;
  return k->stop_after && k->n % k->stop_after == 0 ? 1 : 0;
}

/* Walks the changes in pieces of `piece` runs, each resumed at the end of the
 * last run seen, as the SAS plane streams a page list. */
static int changes_in_pieces(struct cas *cas, const struct cas_addr *a, const struct cas_addr *b, int piece,
                             struct kinds *k)
{
  k->n = 0;
  k->stop_after = piece;
  uint64_t from = 0;
  for (;;) {
    int before = k->n, r = tree_changes(cas, a, b, from, kinds_cb, k, NULL);
    if (r < 0)
      return r;
    if (r == 0)
      return 0;
    assert_true(k->n > before);
    from = k->e[k->n - 1].off + k->e[k->n - 1].len;
  }
}

static void changes_kinds_and_resume(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  struct cas *cas = open_store(dir);
  struct vimg v1, v2;
  uint64_t s = 11;
  vimg_init(&v1, (200ull << 20) + 4096 * 3 + 512);
  scatter(&v1, &s, 700, 0);
  struct cas_addr r1 = build_full(cas, &v1);
  vimg_copy(&v2, &v1);
  uint64_t changed[300];
  int nch = 0;
  for (uint64_t i = 0; i < v1.nchunks && nch < 300; i++) {
    if (v1.seed[i] && i % 3 == 0) {
      v2.seed[i] = 0; /* cleared */
      changed[nch++] = i;
    } else if (!v1.seed[i] && i % 997 == 5) {
      v2.seed[i] = 5000 + i; /* written */
      changed[nch++] = i;
    }
  }
  changed[nch++] = v1.nchunks - 1;
  v2.seed[v1.nchunks - 1] = 77777; /* the short last chunk */
  struct cas_addr r2 = build_incr(cas, &r1, &v2, changed, (size_t)nch, NULL);
  static struct kinds whole, pieces;
  assert_int_equal(changes_in_pieces(cas, &r1, &r2, 0, &whole), 0);
  /* Every differing chunk is in a run of its kind in v2, and nothing else. */
  int k = 0;
  for (uint64_t i = 0; i < v1.nchunks; i++) {
    while (k < whole.n && whole.e[k].off + whole.e[k].len <= i * VCH)
      k++;
    bool in = k < whole.n && whole.e[k].off <= i * VCH;
    assert_int_equal(in, vimg_chunk_differs(&v1, &v2, i));
    if (in)
      assert_int_equal(whole.e[k].zero, v2.seed[i] == 0);
  }
  for (int i = 1; i < whole.n; i++) { /* ordered; adjacent runs differ in kind */
    assert_true(whole.e[i].off >= whole.e[i - 1].off + whole.e[i - 1].len);
    if (whole.e[i].off == whole.e[i - 1].off + whole.e[i - 1].len)
      assert_true(whole.e[i].zero != whole.e[i - 1].zero);
  }
  assert_int_equal(whole.e[whole.n - 1].off + whole.e[whole.n - 1].len, v2.size);
  /* Resumed in pieces of 1 and 7 runs: the same runs. */
  for (int piece = 1; piece <= 7; piece += 6) {
    assert_int_equal(changes_in_pieces(cas, &r1, &r2, piece, &pieces), 0);
    assert_int_equal(pieces.n, whole.n);
    assert_memory_equal(pieces.e, whole.e, (size_t)whole.n * sizeof whole.e[0]);
  }
  /* A walk from an unaligned offset inside a run starts there. */
  uint64_t mid = whole.e[whole.n / 2].off + 100;
  pieces.n = 0;
  pieces.stop_after = 0;
  assert_int_equal(tree_changes(cas, &r1, &r2, mid, kinds_cb, &pieces, NULL), 0);
  assert_int_equal(pieces.e[0].off, mid);
  assert_int_equal(pieces.n, whole.n - whole.n / 2);
  /* tree_map_from: the map's extents from an offset on, clipped there. */
  static struct kinds map_whole, map_from;
  map_whole.n = map_from.n = 0;
  map_whole.stop_after = map_from.stop_after = 0;
  assert_int_equal(tree_map(cas, &r2, kinds_cb, &map_whole), 0);
  struct tree_extent *e = &map_whole.e[map_whole.n / 2];
  uint64_t at = e->off + e->len / 2;
  assert_int_equal(tree_map_from(cas, &r2, at, kinds_cb, &map_from), 0);
  assert_int_equal(map_from.n, map_whole.n - map_whole.n / 2);
  assert_int_equal(map_from.e[0].off, at);
  assert_int_equal(map_from.e[0].off + map_from.e[0].len, e->off + e->len);
  assert_int_equal(map_from.e[0].zero, e->zero);
  assert_memory_equal(&map_from.e[1], e + 1, (size_t)(map_from.n - 1) * sizeof *e);
  assert_int_equal(tree_map_from(cas, &r2, v2.size, kinds_cb, &map_from), 0); /* at the end: nothing */
  assert_int_equal(map_from.n, map_whole.n - map_whole.n / 2);
  /* fn's stop ends the walk there: no extent after it (NBD's REQ_ONE). */
  map_from.n = 0;
  map_from.stop_after = 1;
  assert_true(map_whole.n > 2);
  assert_int_equal(tree_map(cas, &r2, kinds_cb, &map_from), 1);
  assert_int_equal(map_from.n, 1);
  assert_memory_equal(&map_from.e[0], &map_whole.e[0], sizeof *e);
  vimg_free(&v1);
  vimg_free(&v2);
  assert_int_equal(cas_close(cas), 0);
  tu_rmrf(dir);
}

/* A copier as issue 5 will write one: top-down, skip what the target has,
 * store bottom-up (post) so the target keeps the closure invariant. */
struct copy {
  struct cas *src, *dst;
  int nodes_copied, chunks_copied;
  uint8_t *buf;
};

static int copy_pre(void *ctx, const struct cas_addr *a, enum cas_type t)
{
  struct copy *c = ctx;
  if (cas_has(c->dst, a))
    return TREE_SKIP;
  if (t == CAS_NODE)
    return TREE_DESCEND;
  size_t len;
  int r = cas_get(c->src, CAS_CHUNK, a, c->buf, CAS_MAX_OBJECT, &len);
  if (r == 0)
    r = cas_put_addr(c->dst, CAS_CHUNK, a, c->buf, len);
  c->chunks_copied++;
  return r;
}

static int copy_post(void *ctx, const struct cas_addr *a, const void *node, size_t len)
{
  struct copy *c = ctx;
  c->nodes_copied++;
  return cas_put_addr(c->dst, CAS_NODE, a, node, len);
}

static void walk_copy_closure(void **state)
{
  (void)state;
  char *d1 = tu_mkdtemp(), *d2 = tu_mkdtemp();
  struct cas *src = open_store(d1), *dst = open_store(d2);
  struct vimg v1, v2;
  uint64_t s = 4;
  vimg_init(&v1, 100 << 20);
  scatter(&v1, &s, 300, 0);
  struct cas_addr r1 = build_full(src, &v1);
  vimg_copy(&v2, &v1);
  uint64_t ch[5];
  for (int k = 0; k < 5; k++)
    v2.seed[ch[k] = tu_rand(&s) % v2.nchunks] = 7000 + (uint64_t)k;
  struct cas_addr r2 = build_incr(src, &r1, &v2, ch, 5, NULL);
  struct tree_walk_ops ops = {.pre = copy_pre, .post = copy_post};
  struct copy c = {.src = src, .dst = dst, .buf = malloc(CAS_MAX_OBJECT)};
  assert_int_equal(tree_walk(src, &r1, &ops, &c), 0);
  assert_true(c.chunks_copied >= 290);
  check_read(dst, &r1, &v1, &s, 100);
  /* The incremental copy moves only the changed chunks and their paths. */
  c.nodes_copied = c.chunks_copied = 0;
  assert_int_equal(tree_walk(src, &r2, &ops, &c), 0);
  assert_true(c.chunks_copied <= 5);
  assert_true(c.nodes_copied <= 5 * 2 + 2);
  check_read(dst, &r2, &v2, &s, 100);
  free(c.buf);
  vimg_free(&v1);
  vimg_free(&v2);
  assert_int_equal(cas_close(src), 0);
  assert_int_equal(cas_close(dst), 0);
  tu_rmrf(d1);
  tu_rmrf(d2);
}

static void edge_sizes(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  struct cas *cas = open_store(dir);
  static const uint64_t sizes[] = {0, 1, 4095, 4096, 4097, 256 * 4096, 256 * 4096 + 1};
  uint64_t s = 5;
  for (size_t t = 0; t < sizeof sizes / sizeof *sizes; t++) {
    struct vimg v;
    vimg_init(&v, sizes[t]);
    struct cas_addr zero_root = build_full(cas, &v);
    struct tree_info ti;
    assert_int_equal(tree_info(cas, &zero_root, &ti), 0);
    assert_true(cas_addr_is_zero(&ti.top));
    if (v.nchunks) {
      v.seed[v.nchunks - 1] = 9;
      struct cas_addr r = build_full(cas, &v);
      check_read(cas, &r, &v, &s, 20);
      struct tree_diff_stats st;
      struct vimg z;
      vimg_init(&z, v.size);
      assert_int_equal(check_diff(cas, &zero_root, &r, &z, &v, &st), 1);
      vimg_free(&z);
    }
    vimg_free(&v);
  }
  assert_int_equal(cas_close(cas), 0);
  tu_rmrf(dir);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(full_build_read_map_restore), cmocka_unit_test(incremental_equals_full),
      cmocka_unit_test(diff_exact_and_proportional),
      cmocka_unit_test(changes_kinds_and_resume), cmocka_unit_test(walk_copy_closure),
      cmocka_unit_test(edge_sizes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
