/*
 * test_gc_race.c — GC running concurrently with writers and readers, on
 * real threads.  Writers build incremental trees under a hold that names
 * their base (as captures do), sync, publish the new root, then retire the
 * old one; a GC thread collects in a loop with the published roots; a reader
 * reads published trees.  Every tree published must read back byte for
 * byte throughout and at the end, and verify must be clean.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "vimg.h"
#include "../cas/testkey.h"

#define WRITERS 2
#define ROUNDS 25

struct shared {
  struct cas *cas;
  pthread_mutex_t lock;
  struct cas_addr roots[WRITERS];
  struct vimg imgs[WRITERS];     /* content of roots[i], guarded by lock */
  int done;
  int gcs;
};

static int roots_fn(void *ctx, struct cas_addr **out, size_t *n)
{
  struct shared *sh = ctx;
  *out = malloc(sizeof sh->roots);
  pthread_mutex_lock(&sh->lock);
  memcpy(*out, sh->roots, sizeof sh->roots);
  pthread_mutex_unlock(&sh->lock);
  *n = WRITERS;
  return 0;
}

struct writer {
  struct shared *sh;
  int id;
  int err;
};

static void *writer_main(void *arg)
{
  struct writer *w = arg;
  struct shared *sh = w->sh;
  uint64_t s = (uint64_t)w->id + 1;
  struct vimg v;
  pthread_mutex_lock(&sh->lock);
  vimg_copy(&v, &sh->imgs[w->id]);
  struct cas_addr base = sh->roots[w->id];
  pthread_mutex_unlock(&sh->lock);
  for (int r = 0; r < ROUNDS && !w->err; r++) {
    uint64_t changed[20];
    for (int k = 0; k < 20; k++)
      v.seed[changed[k] = tu_rand(&s) % v.nchunks] = ((uint64_t)w->id << 40) + (uint64_t)r * 100 + (uint64_t)k + 1;
    struct cas_hold *hold;
    struct cas_addr root;
    struct tree_source src = vimg_source(&v);
    if ((w->err = cas_hold_begin(sh->cas, &hold)) != 0)
      break;
    w->err = cas_hold_root(sh->cas, hold, &base);
    if (!w->err)
      w->err = tree_build_incremental(sh->cas, &base, &src, v.size, changed, 20, NULL, &root, NULL);
    if (!w->err)
      w->err = cas_sync(sh->cas);
    if (!w->err) {
      pthread_mutex_lock(&sh->lock);
      sh->roots[w->id] = root; /* publish the new tree, retire the old one */
      vimg_free(&sh->imgs[w->id]);
      vimg_copy(&sh->imgs[w->id], &v);
      pthread_mutex_unlock(&sh->lock);
      base = root;
    }
    cas_hold_end(sh->cas, hold);
  }
  vimg_free(&v);
  return NULL;
}

static void *gc_main(void *arg)
{
  struct shared *sh = arg;
  while (!__atomic_load_n(&sh->done, __ATOMIC_ACQUIRE)) {
    struct cas_gc_options o = {.rewrite_below = 0.9};
    assert_int_equal(cas_gc(sh->cas, roots_fn, sh, &o, NULL), 0);
    sh->gcs++;
  }
  return NULL;
}

static void check_all(struct shared *sh)
{
  uint8_t a[VCH], b[VCH];
  for (int i = 0; i < WRITERS; i++) {
    pthread_mutex_lock(&sh->lock);
    struct cas_addr root = sh->roots[i];
    struct vimg v;
    vimg_copy(&v, &sh->imgs[i]);
    pthread_mutex_unlock(&sh->lock);
    for (uint64_t c = 0; c < v.nchunks; c++) {
      if (!v.seed[c])
        continue;
      /* A retired root may be collected under us: only the final check is strict. */
      int r = tree_read(sh->cas, &root, a, VCH, c * VCH);
      if (r == -ENOENT || r == -EINVAL)
        break;
      assert_int_equal(r, 0);
      vimg_read(&v, b, VCH, c * VCH);
      assert_memory_equal(a, b, VCH);
    }
    vimg_free(&v);
  }
}

static void gc_races_writers(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  struct shared sh = {0};
  pthread_mutex_init(&sh.lock, NULL);
  struct cas_options o = {.create = true, .chunk_shift = 12, .pack_target = 128 * 1024, .key = tu_cas_key()};
  assert_int_equal(cas_open(dir, &o, &sh.cas), 0);
  uint64_t s = 99;
  for (int i = 0; i < WRITERS; i++) {
    vimg_init(&sh.imgs[i], 8 << 20);
    for (int k = 0; k < 300; k++)
      sh.imgs[i].seed[tu_rand(&s) % sh.imgs[i].nchunks] = (uint64_t)(i * 1000 + k + 1);
    struct tree_source src = vimg_source(&sh.imgs[i]);
    assert_int_equal(tree_build_full(sh.cas, &src, sh.imgs[i].size, NULL, &sh.roots[i], NULL), 0);
  }
  assert_int_equal(cas_sync(sh.cas), 0);
  pthread_t gct, wt[WRITERS];
  struct writer w[WRITERS];
  pthread_create(&gct, NULL, gc_main, &sh);
  for (int i = 0; i < WRITERS; i++) {
    w[i] = (struct writer){.sh = &sh, .id = i};
    pthread_create(&wt[i], NULL, writer_main, &w[i]);
  }
  for (int k = 0; k < 5; k++)
    check_all(&sh);
  for (int i = 0; i < WRITERS; i++) {
    pthread_join(wt[i], NULL);
    assert_int_equal(w[i].err, 0);
  }
  __atomic_store_n(&sh.done, 1, __ATOMIC_RELEASE);
  pthread_join(gct, NULL);
  assert_true(sh.gcs > 0);
  /* Final: one more GC, then everything published reads back exactly. */
  assert_int_equal(cas_gc(sh.cas, roots_fn, &sh, NULL, NULL), 0);
  for (int i = 0; i < WRITERS; i++) {
    struct tree_reader *rd;
    assert_int_equal(tree_reader_open(sh.cas, &sh.roots[i], &rd), 0);
    uint8_t a[VCH], b[VCH];
    for (uint64_t c = 0; c < sh.imgs[i].nchunks; c++) {
      assert_int_equal(tree_reader_read(rd, a, VCH, c * VCH), 0);
      vimg_read(&sh.imgs[i], b, VCH, c * VCH);
      assert_memory_equal(a, b, VCH);
    }
    tree_reader_close(rd);
  }
  struct cas_verify_report rep;
  assert_int_equal(cas_verify(sh.cas, sh.roots, WRITERS, NULL, NULL, &rep), 0);
  assert_int_equal(rep.bad_records + rep.n_damage, 0);
  cas_verify_report_free(&rep);
  for (int i = 0; i < WRITERS; i++)
    vimg_free(&sh.imgs[i]);
  assert_int_equal(cas_close(sh.cas), 0);
  tu_rmrf(dir);
}

int main(void)
{
  const struct CMUnitTest tests[] = {cmocka_unit_test(gc_races_writers)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
