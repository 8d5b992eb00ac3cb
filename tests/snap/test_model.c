/*
 * test_model.c — model-based randomized test of the store and its trees.
 *
 * Random sequences of full and incremental builds (same, grown and shrunk
 * sizes; incremental builds run under a hold on their base, as captures
 * will), reads, diffs, root removals, GC and simulated crashes are checked
 * against an in-memory model (struct vimg per live tree).  A crash drops the
 * handle without syncing and cuts the open pack at a random byte between its
 * last synced size and its end (unsynced data lost or torn); trees that had
 * not been synced leave the model, every synced one must read back byte for
 * byte.  Incremental roots must equal full-build roots of the same image.
 *
 * CI runs seeds 1..6 with 60 steps each.  Long mode for local use:
 *     VMRP_MODEL_SEEDS=200 VMRP_MODEL_STEPS=400 test_model
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include "cas/cas_int.h"
#include "vimg.h"
#include "../cas/testkey.h"

#define MAX_TREES 12

struct tree {
  struct cas_addr root;
  struct vimg v;
  bool synced;
};

struct model {
  char *dir;
  struct cas *cas;
  struct tree t[MAX_TREES];
  int n;
  uint64_t s, next_seed;
  uint32_t synced_pack;
  off_t synced_size;
};

static void open_cas(struct model *m)
{
  struct cas_options o = {.create = true, .chunk_shift = 12, .pack_target = 256 * 1024, .key = tu_cas_key()};
  assert_int_equal(cas_open(m->dir, &o, &m->cas), 0);
}

static char *open_pack(struct model *m) { return pack_path(pack_dir_path(m->cas->store), m->cas->open->id, "pack"); }

static void do_sync(struct model *m)
{
  assert_int_equal(cas_sync(m->cas), 0);
  for (int i = 0; i < m->n; i++)
    m->t[i].synced = true;
  m->synced_pack = m->cas->open->id;
  char *p = open_pack(m);
  m->synced_size = tu_file_size(p);
  free(p);
}

static uint64_t rnd(struct model *m, uint64_t n) { return n ? tu_rand(&m->s) % n : 0; }

static uint64_t random_size(struct model *m)
{
  static const uint64_t sizes[] = {4096, 1 << 20, (8 << 20) + 1000, 64 << 20, (300ull << 20) + 3};
  return sizes[rnd(m, 5)];
}

static void add_tree(struct model *m, struct vimg *v, const struct cas_addr *root)
{
  if (m->n == MAX_TREES) { /* forget the oldest */
    vimg_free(&m->t[0].v);
    memmove(&m->t[0], &m->t[1], (MAX_TREES - 1) * sizeof m->t[0]);
    m->n--;
  }
  m->t[m->n++] = (struct tree){.root = *root, .v = *v, .synced = false};
}

static void step_full(struct model *m)
{
  struct vimg v;
  vimg_init(&v, random_size(m));
  int n = (int)rnd(m, 200);
  for (int k = 0; k < n; k++)
    v.seed[rnd(m, v.nchunks)] = ++m->next_seed;
  struct tree_source src = vimg_source(&v);
  struct tree_opts to = {.threads = 1 + (unsigned)rnd(m, 3)};
  struct cas_addr root;
  assert_int_equal(tree_build_full(m->cas, &src, v.size, &to, &root, NULL), 0);
  add_tree(m, &v, &root);
}

static void step_incremental(struct model *m)
{
  if (!m->n)
    return step_full(m);
  struct tree *base = &m->t[rnd(m, (uint64_t)m->n)];
  struct vimg v;
  vimg_copy(&v, &base->v);
  if (rnd(m, 4) == 0)
    vimg_resize(&v, random_size(m));
  size_t n = (size_t)rnd(m, 80);
  uint64_t *changed = malloc((n + 1) * sizeof *changed);
  for (size_t k = 0; k < n; k++) {
    changed[k] = rnd(m, v.nchunks);
    v.seed[changed[k]] = rnd(m, 5) == 0 ? 0 : ++m->next_seed;
  }
  struct cas_hold *hold;
  assert_int_equal(cas_hold_begin(m->cas, &hold), 0);
  assert_int_equal(cas_hold_root(m->cas, hold, &base->root), 0);
  struct tree_source src = vimg_source(&v);
  struct cas_addr root, full;
  assert_int_equal(tree_build_incremental(m->cas, &base->root, &src, v.size, changed, n, NULL, &root, NULL), 0);
  if (rnd(m, 3) == 0) {
    assert_int_equal(tree_build_full(m->cas, &src, v.size, NULL, &full, NULL), 0);
    assert_memory_equal(&root, &full, sizeof root);
  }
  cas_hold_end(m->cas, hold);
  free(changed);
  add_tree(m, &v, &root);
}

static void check_tree_read(struct model *m, struct tree *t, int reads)
{
  uint8_t a[3 * VCH], b[3 * VCH];
  for (int k = 0; k < reads; k++) {
    size_t len = 1 + (size_t)rnd(m, sizeof a - 1);
    if (len > t->v.size)
      len = (size_t)t->v.size;
    uint64_t off = rnd(m, t->v.size - len + 1);
    assert_int_equal(tree_read(m->cas, &t->root, a, len, off), 0);
    vimg_read(&t->v, b, len, off);
    assert_memory_equal(a, b, len);
  }
}

/* Every allocated chunk of the tree, compared in full. */
static void check_tree_full(struct model *m, struct tree *t)
{
  struct tree_reader *rd;
  assert_int_equal(tree_reader_open(m->cas, &t->root, &rd), 0);
  uint8_t a[VCH], b[VCH];
  for (uint64_t i = 0; i < t->v.nchunks; i++) {
    struct cas_addr ca;
    assert_int_equal(tree_reader_chunk(rd, i, &ca), 0);
    assert_int_equal(cas_addr_is_zero(&ca), t->v.seed[i] == 0);
    if (!t->v.seed[i])
      continue;
    uint32_t len = vimg_chunk_len(&t->v, i);
    assert_int_equal(tree_reader_read(rd, a, len, i * VCH), 0);
    vimg_read(&t->v, b, len, i * VCH);
    assert_memory_equal(a, b, len);
  }
  /* the whole disk in one read: whole groups go straight into the buffer */
  uint8_t *all = malloc(t->v.size), *want = malloc(t->v.size);
  assert_non_null(all);
  assert_non_null(want);
  assert_int_equal(tree_reader_read(rd, all, t->v.size, 0), 0);
  vimg_read(&t->v, want, t->v.size, 0);
  assert_memory_equal(all, want, t->v.size);
  free(all);
  free(want);
  tree_reader_close(rd);
}

struct dctx {
  const struct vimg *a, *b;
  uint64_t reported;
};

static int diff_cb(void *ctx, uint64_t off, uint64_t len)
{
  struct dctx *d = ctx;
  d->reported += (len + VCH - 1) / VCH;
  return 0;
}

static void step_diff(struct model *m)
{
  if (m->n < 2)
    return;
  struct tree *a = &m->t[rnd(m, (uint64_t)m->n)], *b = &m->t[rnd(m, (uint64_t)m->n)];
  struct dctx d = {.a = &a->v, .b = &b->v};
  struct tree_diff_stats st;
  assert_int_equal(tree_diff(m->cas, &a->root, &b->root, diff_cb, &d, &st), 0);
  uint64_t end = a->v.size > b->v.size ? a->v.size : b->v.size, expect = 0;
  for (uint64_t i = 0; i * VCH < end; i++)
    expect += vimg_chunk_differs(&a->v, &b->v, i);
  /* Exact, except the last chunk of the smaller disk when sizes differ. */
  assert_true(st.chunks_differ == expect || (a->v.size != b->v.size && st.chunks_differ == expect + 1));
}

static int roots_fn(void *ctx, struct cas_addr **out, size_t *n)
{
  struct model *m = ctx;
  *out = malloc((size_t)(m->n + 1) * sizeof **out);
  for (int i = 0; i < m->n; i++)
    (*out)[i] = m->t[i].root;
  *n = (size_t)m->n;
  return 0;
}

static void step_remove(struct model *m)
{
  if (!m->n)
    return;
  int i = (int)rnd(m, (uint64_t)m->n);
  vimg_free(&m->t[i].v);
  m->t[i] = m->t[--m->n];
}

static void step_gc(struct model *m)
{
  struct cas_gc_options o = {.rewrite_below = rnd(m, 2) ? 0.5 : 1.0};
  assert_int_equal(cas_gc(m->cas, roots_fn, m, &o, NULL), 0);
  do_sync(m);
}

static void step_crash(struct model *m)
{
  char *p = open_pack(m);
  off_t size = tu_file_size(p);
  off_t from = m->cas->open->id == m->synced_pack ? m->synced_size : (off_t)PACK_HDR_SIZE;
  off_t cut = from + (off_t)rnd(m, (uint64_t)(size - from + 1));
  cas_crash_close(m->cas);
  assert_int_equal(truncate(p, cut), 0);
  free(p);
  for (int i = 0; i < m->n;) {
    if (!m->t[i].synced) {
      vimg_free(&m->t[i].v);
      m->t[i] = m->t[--m->n];
    } else {
      i++;
    }
  }
  open_cas(m);
  for (int i = 0; i < m->n; i++)
    check_tree_full(m, &m->t[i]);
  do_sync(m);
}

static void step_verify(struct model *m)
{
  struct cas_addr *roots;
  size_t n;
  roots_fn(m, &roots, &n);
  struct cas_verify_report rep;
  assert_int_equal(cas_verify(m->cas, roots, n, NULL, NULL, &rep), 0);
  assert_int_equal(rep.bad_records, 0);
  assert_int_equal(rep.n_damage, 0);
  cas_verify_report_free(&rep);
  free(roots);
}

static void run_seed(uint64_t seed, int steps)
{
  struct model m = {.dir = tu_mkdtemp(), .s = seed * 7919, .next_seed = seed << 32};
  open_cas(&m);
  do_sync(&m);
  for (int k = 0; k < steps; k++) {
    uint64_t op = rnd(&m, 100);
    if (op < 20)
      step_full(&m);
    else if (op < 50)
      step_incremental(&m);
    else if (op < 62 && m.n)
      check_tree_read(&m, &m.t[rnd(&m, (uint64_t)m.n)], 20);
    else if (op < 70)
      step_diff(&m);
    else if (op < 78)
      step_remove(&m);
    else if (op < 85)
      step_gc(&m);
    else if (op < 90)
      step_crash(&m);
    else if (op < 95)
      do_sync(&m);
    else
      step_verify(&m);
  }
  step_gc(&m);
  for (int i = 0; i < m.n; i++)
    check_tree_full(&m, &m.t[i]);
  step_verify(&m);
  for (int i = 0; i < m.n; i++)
    vimg_free(&m.t[i].v);
  assert_int_equal(cas_close(m.cas), 0);
  tu_rmrf(m.dir);
}

static void model_seeds(void **state)
{
  (void)state;
  const char *es = getenv("VMRP_MODEL_SEEDS"), *et = getenv("VMRP_MODEL_STEPS");
  int seeds = es ? atoi(es) : 6, steps = et ? atoi(et) : 60;
  for (int s = 1; s <= seeds; s++)
    run_seed((uint64_t)s, steps);
}

int main(void)
{
  const struct CMUnitTest tests[] = {cmocka_unit_test(model_seeds)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
