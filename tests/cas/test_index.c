/*
 * test_index.c — the in-memory index against a brute-force reference:
 * inserts across several overlay merges, moves, removals, bulk load with
 * duplicates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "cas/index.h"
#include "testutil.h"

#define N 300000

static void insert_lookup_merge_remove(void **state)
{
  (void)state;
  struct index ix;
  assert_int_equal(index_init(&ix), 0);
  struct cas_addr *a = malloc(N * sizeof *a);
  uint64_t s = 11;
  for (int i = 0; i < N; i++) {
    tu_fill(&s, a[i].b, CAS_ADDR_LEN, 0);
    assert_int_equal(index_insert(&ix, &a[i], (uint32_t)i % 7, (uint32_t)i, 100 + (uint32_t)i % 50), 0);
  }
  assert_int_equal(index_count(&ix), N);
  assert_true(ix.n_main > 0); /* merges happened */
  for (int i = 0; i < N; i++) {
    struct idx_ent e;
    assert_true(index_lookup(&ix, &a[i], &e));
    assert_int_equal(e.off, (uint32_t)i);
    assert_int_equal(e.pack, (uint32_t)i % 7);
  }
  struct cas_addr missing;
  tu_fill(&s, missing.b, CAS_ADDR_LEN, 0);
  struct idx_ent e;
  assert_false(index_lookup(&ix, &missing, &e));
  /* Move every third, remove every fifth (only if in the named pack). */
  for (int i = 0; i < N; i += 3)
    assert_int_equal(index_insert(&ix, &a[i], 99, 1, 1), 0);
  int removed = 0;
  for (int i = 0; i < N; i += 5) {
    bool in99 = i % 3 == 0;
    assert_false(index_remove(&ix, &a[i], 1000));
    assert_true(index_remove(&ix, &a[i], in99 ? 99 : (uint32_t)i % 7));
    removed++;
  }
  assert_int_equal(index_count(&ix), N - removed);
  for (int i = 0; i < N; i++) {
    bool f = index_lookup(&ix, &a[i], &e);
    assert_int_equal(f, i % 5 != 0);
    if (f && i % 3 == 0)
      assert_int_equal(e.pack, 99);
  }
  /* Re-inserting a removed address revives it. */
  assert_int_equal(index_insert(&ix, &a[0], 3, 4, 5), 0);
  assert_true(index_lookup(&ix, &a[0], &e));
  assert_int_equal(e.pack, 3);
  index_free(&ix);
  free(a);
}

static void bulk_load_with_duplicates(void **state)
{
  (void)state;
  struct index ix;
  assert_int_equal(index_init(&ix), 0);
  size_t n = 100000;
  struct idx_ent *e = malloc(2 * n * sizeof *e);
  uint64_t s = 5;
  for (size_t i = 0; i < n; i++) {
    tu_fill(&s, e[i].key, INDEX_KEY_LEN, 0);
    e[i].pack = 1, e[i].off = (uint32_t)i, e[i].len = 10;
    e[n + i] = e[i];
    e[n + i].pack = 2; /* the same object in a second pack */
  }
  struct idx_ent *keys = malloc(n * sizeof *keys);
  memcpy(keys, e, n * sizeof *keys);
  assert_int_equal(index_load(&ix, e, 2 * n), 0);
  assert_int_equal(index_count(&ix), n);
  for (size_t i = 0; i < n; i++) {
    struct cas_addr a = {{0}};
    memcpy(a.b, keys[i].key, INDEX_KEY_LEN);
    struct idx_ent got;
    assert_true(index_lookup(&ix, &a, &got));
    assert_int_equal(got.off, (uint32_t)i);
  }
  assert_true(index_ram_bytes(&ix) <= 48 * n + 8 * 1024 * 1024);
  free(keys);
  index_free(&ix);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(insert_lookup_merge_remove),
      cmocka_unit_test(bulk_load_with_duplicates),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
