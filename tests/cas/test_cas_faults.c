/*
 * test_cas_faults.c — the chunk store when its I/O fails (failpoints,
 * docs/reliability.md): each failure is a clean -errno, nothing durable is
 * damaged, and what a store does next is what store.c's invariants promise:
 *  - cas.pack.write (short): the failed append leaves nothing in the pack,
 *    which is sealed, reopened and verified clean (invariant (4));
 *  - cas.index.write: a pack whose index file cannot be written stays
 *    readable and writes go on; the next open writes its index (invariant (3));
 *  - cas.pack.fsync, cas.pack.seal: a failed fsync stops every write until
 *    the store is opened again, and nothing synced before is lost (invariant (1));
 *  - cas.gc.unlink, cas.gc.fsync_dir: GC fails, keeps every live object, and
 *    the next GC finishes (invariant (6));
 *  - cas.pack.create (crash): the empty pack left is no damage (invariant (4));
 *  - cas.config.write: a new store that cannot write its config is not made.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/failpoint.h"
#include "testutil.h"
#include "testkey.h"
#include "casutil.h"

static void verify_clean(struct cas *cas)
{
  struct cas_verify_report rep;
  assert_int_equal(cas_verify(cas, NULL, 0, NULL, NULL, &rep), 0);
  assert_int_equal(rep.bad_records + rep.n_damage, 0);
  cas_verify_report_free(&rep);
}

static void arm(const char *spec) { assert_int_equal(failpoint_arm(spec), 0); }

static uint32_t new_id; /* cas_rotate's answer, unused */

/* Invariant (4): a short append is cut, so the sealed pack ends at its last
 * record and verifies clean once reopened from its index file. */
static void failed_append_cut(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  struct cas *cas = open_store(dir, SMALL_PACK);
  static struct obj o[10];
  make_objs(cas, o, 5, 1);
  arm("cas.pack.write=shortx1");
  uint64_t seed = 99;
  tu_fill(&seed, o[5].data, CH, 0);
  assert_int_equal(cas_put(cas, CAS_CHUNK, o[5].data, CH, &o[5].a, NULL), -ENOSPC);
  char *path = pack_path(pack_dir_path(cas->store), cas->open->id, "pack");
  assert_int_equal((uint64_t)tu_file_size(path), cas->open->size);
  free(path);
  assert_int_equal(cas_rotate(cas, &new_id), 0); /* sealed right after the failure */
  make_objs(cas, o + 5, 5, 2);
  assert_int_equal(cas_close(cas), 0);
  cas = open_store(dir, SMALL_PACK);
  check_objs(cas, o, 10);
  verify_clean(cas);
  assert_int_equal(cas_close(cas), 0);
  arm("");
  tu_rmrf(dir);
}

/* Invariant (3): an index file is a cache; failing to write one stops
 * nothing, and the next open writes it. */
static void index_write_failure(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  struct cas *cas = open_store(dir, SMALL_PACK);
  static struct obj o[20];
  make_objs(cas, o, 10, 3);
  uint32_t sealed_id = cas->open->id;
  arm("cas.index.write=enospcx1");
  assert_int_equal(cas_rotate(cas, &new_id), 0);
  char *idx = pack_path(pack_dir_path(cas->store), sealed_id, "idx");
  assert_int_equal(access(idx, F_OK), -1);
  make_objs(cas, o + 10, 10, 4);
  assert_int_equal(cas_sync(cas), 0);
  check_objs(cas, o, 20);
  verify_clean(cas);
  struct cas_stats st;
  assert_int_equal(cas_stats(cas, &st), 0);
  assert_int_equal(st.objects, 20);
  assert_int_equal(cas_close(cas), 0);
  cas = open_store(dir, SMALL_PACK);
  assert_int_equal(access(idx, F_OK), 0);
  check_objs(cas, o, 20);
  verify_clean(cas);
  assert_int_equal(cas_close(cas), 0);
  free(idx);
  arm("");
  tu_rmrf(dir);
}

/* Invariant (1): after a failed fsync nothing more is written or claimed
 * durable until the store is opened again; what was synced before stays. */
static void fsync_failure_stops_writes(void **state)
{
  const char *spec = *state;
  char *dir = tu_mkdtemp();
  struct cas *cas = open_store(dir, SMALL_PACK);
  static struct obj o[12];
  make_objs(cas, o, 8, 5);
  assert_int_equal(cas_sync(cas), 0);
  arm(spec);
  make_objs(cas, o + 8, 2, 6);
  int r = !strncmp(spec, "cas.pack.seal", 13) ? cas_rotate(cas, &new_id) : cas_sync(cas);
  assert_int_equal(r, -EIO);
  arm("");
  uint64_t seed = 7;
  tu_fill(&seed, o[10].data, CH, 0);
  assert_int_equal(cas_put(cas, CAS_CHUNK, o[10].data, CH, &o[10].a, NULL), -EIO);
  assert_int_equal(cas_sync(cas), -EIO);
  check_objs(cas, o, 8);
  assert_int_equal(cas_close(cas), -EIO);
  cas = open_store(dir, SMALL_PACK);
  check_objs(cas, o, 8);
  make_objs(cas, o + 10, 2, 8);
  assert_int_equal(cas_sync(cas), 0);
  verify_clean(cas);
  assert_int_equal(cas_close(cas), 0);
  tu_rmrf(dir);
}

/* Invariant (4): a crash inside pack_create (after the file exists, before
 * its header is durable) leaves a pack that holds nothing; the next open
 * writes its header and verify calls nothing damage. */
static void pack_create_crash(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  struct cas *cas = open_store(dir, SMALL_PACK);
  static struct obj o[40];
  make_objs(cas, o, 10, 11);
  assert_int_equal(cas_sync(cas), 0);
  pid_t pid = fork();
  if (pid == 0) {
    failpoint_arm("cas.pack.create=crash");
    uint32_t id;
    cas_rotate(cas, &id); /* dies creating the next pack */
    _exit(0);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  cas_crash_close(cas);
  cas = open_store(dir, SMALL_PACK);
  check_objs(cas, o, 10);
  verify_clean(cas);
  make_objs(cas, o + 10, 30, 12); /* more than a pack: new packs are created */
  assert_int_equal(cas_close(cas), 0);
  cas = open_store(dir, SMALL_PACK);
  check_objs(cas, o, 40);
  verify_clean(cas);
  assert_int_equal(cas_close(cas), 0);
  tu_rmrf(dir);
}

/* Invariant (6): a GC whose deletions fail keeps every live object; the next
 * one finishes and the store verifies clean after a reopen. */
static void gc_delete_failure(void **state)
{
  const char *spec = *state;
  char *dir = tu_mkdtemp();
  struct cas *cas = open_store(dir, SMALL_PACK);
  static struct obj o[120];
  make_objs(cas, o, 120, 9);
  struct roots roots = {.n = 1};
  roots.a[0] = make_root(cas, o, 0, 40);
  struct cas_gc_options all = {.rewrite_below = 1.0};
  struct cas_gc_stats gs;
  arm(spec);
  assert_int_equal(cas_gc(cas, roots_fn, &roots, &all, &gs), -EIO);
  arm("");
  check_objs(cas, o, 40);
  assert_int_equal(cas_gc(cas, roots_fn, &roots, &all, &gs), 0);
  check_objs(cas, o, 40);
  assert_int_equal(cas_close(cas), 0);
  cas = open_store(dir, SMALL_PACK);
  check_objs(cas, o, 40);
  verify_clean(cas);
  assert_int_equal(cas_gc(cas, roots_fn, &roots, &all, &gs), 0);
  check_objs(cas, o, 40);
  assert_int_equal(cas_close(cas), 0);
  tu_rmrf(dir);
}

/* A new store whose config cannot be written (failpoint cas.config.write)
 * fails to open and leaves no config behind; the next open creates it. */
static void config_write_failure(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  char path[512];
  snprintf(path, sizeof path, "%s/config", dir);
  struct cas_options o = {.create = true, .chunk_shift = 12, .key = tu_cas_key()};
  struct cas *cas = NULL;
  arm("cas.config.write=shortx1");
  assert_int_equal(cas_open(dir, &o, &cas), -ENOSPC);
  arm("");
  assert_int_equal(access(path, F_OK), -1);
  cas = open_store(dir, SMALL_PACK);
  static struct obj o2[4];
  make_objs(cas, o2, 4, 13);
  assert_int_equal(cas_close(cas), 0);
  cas = open_store(dir, SMALL_PACK);
  check_objs(cas, o2, 4);
  assert_int_equal(cas_close(cas), 0);
  tu_rmrf(dir);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(failed_append_cut),
      cmocka_unit_test(index_write_failure),
      cmocka_unit_test_prestate(fsync_failure_stops_writes, "cas.pack.fsync=eiox1"),
      cmocka_unit_test_prestate(fsync_failure_stops_writes, "cas.pack.seal=eiox1"),
      cmocka_unit_test_prestate(gc_delete_failure, "cas.gc.unlink=eio@2x1"),
      cmocka_unit_test_prestate(gc_delete_failure, "cas.gc.fsync_dir=eiox1"),
      cmocka_unit_test(pack_create_crash),
      cmocka_unit_test(config_write_failure),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
