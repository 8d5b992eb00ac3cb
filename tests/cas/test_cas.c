/*
 * test_cas.c — the chunk store through its public API (plus the crash hook):
 * put/get/dedup/compression, persistence, the durability invariants of
 * store.c (each test is named there), damage handling, GC and holds,
 * GC crash points, and concurrent use.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <cmocka.h>

#include "cas/cas_int.h"
#include "common/crc32c.h"
#include "common/fsutil.h"
#include "testutil.h"
#include "testkey.h"
#include "casutil.h"

static char *open_pack_path(struct cas *cas) { return pack_path(pack_dir_path(cas->store), cas->open->id, "pack"); }

static void put_get_dedup_compress(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  struct cas *cas = open_store(dir, 0);
  static struct obj o[20];
  make_objs(cas, o, 20, 1);
  check_objs(cas, o, 20);
  struct cas_addr a;
  bool stored = true;
  assert_int_equal(cas_put(cas, CAS_CHUNK, o[3].data, CH, &a, &stored), 0);
  assert_false(stored);
  assert_memory_equal(&a, &o[3].a, sizeof a);
  uint8_t zero[CH] = {0}, small[16];
  assert_int_equal(cas_put(cas, CAS_CHUNK, zero, CH, &a, NULL), -EINVAL);
  size_t len;
  assert_int_equal(cas_get(cas, CAS_CHUNK, &o[0].a, small, sizeof small, &len), -ENOSPC);
  struct cas_addr missing = o[0].a;
  missing.b[0] ^= 1;
  assert_int_equal(cas_get(cas, CAS_CHUNK, &missing, zero, CH, &len), -ENOENT);
  assert_false(cas_has(cas, &missing));
  assert_true(cas_has(cas, &o[0].a));
  struct cas_stats st;
  assert_int_equal(cas_stats(cas, &st), 0);
  assert_int_equal(st.objects, 20);
  assert_int_equal(st.compressed_objects, 10); /* the text ones; random data stays raw */
  assert_true(st.stored_bytes < st.raw_bytes);
  assert_int_equal(cas_put_addr(cas, CAS_CHUNK, &o[1].a, o[2].data, CH), -EIO);
  assert_int_equal(cas_close(cas), 0);
  tu_rmrf(dir);
}

static void reopen_persists(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  struct cas *cas = open_store(dir, SMALL_PACK);
  static struct obj o[200];
  make_objs(cas, o, 200, 2);
  assert_int_equal(cas_close(cas), 0);
  cas = open_store(dir, SMALL_PACK);
  check_objs(cas, o, 200);
  struct cas_stats st;
  assert_int_equal(cas_stats(cas, &st), 0);
  assert_true(st.packs > 3);
  assert_int_equal(st.objects, 200);
  assert_int_equal(cas_close(cas), 0);
  tu_rmrf(dir);
}

/* Invariant (1): what cas_sync covered survives losing everything after it. */
static void sync_survives_crash(void **state)
{
  (void)state;
  for (uint64_t seed = 1; seed <= 5; seed++) {
    char *dir = tu_mkdtemp();
    struct cas *cas = open_store(dir, SMALL_PACK);
    static struct obj o[60];
    make_objs(cas, o, 40, seed);
    assert_int_equal(cas_sync(cas), 0);
    uint32_t open_at_sync = cas->open->id;
    char *path = open_pack_path(cas);
    off_t synced = tu_file_size(path);
    make_objs(cas, o + 40, 20, seed + 100);
    /* Packs sealed since were fsync'd; only the open pack's tail is at risk. */
    if (cas->open->id != open_at_sync) {
      free(path);
      path = open_pack_path(cas);
      synced = PACK_HDR_SIZE;
    }
    off_t now = tu_file_size(path);
    uint64_t s = seed;
    off_t cut = synced + (off_t)(tu_rand(&s) % (uint64_t)(now - synced + 1));
    cas_crash_close(cas);
    if (now > synced)
      assert_int_equal(truncate(path, cut), 0); /* the unsynced tail is lost or torn */
    cas = open_store(dir, SMALL_PACK);
    check_objs(cas, o, 40);
    uint8_t buf[CH];
    for (int i = 40; i < 60; i++) {
      size_t len;
      int r = cas_get(cas, CAS_CHUNK, &o[i].a, buf, CH, &len);
      assert_true(r == 0 || r == -ENOENT);
      if (r == 0)
        assert_memory_equal(buf, o[i].data, CH);
    }
    free(path);
    assert_int_equal(cas_close(cas), 0);
    tu_rmrf(dir);
  }
}

/* Invariant (1) for a writer killed (SIGKILL) after cas_sync, with appends
 * in flight: what the sync covered is there at the next open, each later
 * object whole or not at all, and the killed writer's open pack is
 * recovered, not damage: verify finds nothing.  Small packs, and a default
 * one that the n objects take past a RADOS stripe (4 MiB). */
static void killed_writer_at(uint64_t pack_target, int n, int synced)
{
  char *dir = tu_mkdtemp();
  static struct obj o[3000];
  uint64_t seed = 31;
  for (int i = 0; i < n; i++)
    tu_fill(&seed, o[i].data, CH, i % 4 == 0);
  pid_t pid = fork();
  if (pid == 0) { /* the writer: no cmocka in here */
    struct cas_options op = {.create = true, .chunk_shift = 12, .pack_target = pack_target, .key = tu_cas_key()};
    struct cas *cas;
    if (cas_open(tu_loc(dir), &op, &cas) < 0)
      _exit(2);
    for (int i = 0; i < n; i++)
      if (cas_put(cas, CAS_CHUNK, o[i].data, CH, &o[i].a, NULL) < 0 || (i == synced - 1 && cas_sync(cas) < 0))
        _exit(3);
    kill(getpid(), SIGKILL);
    _exit(4);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  struct cas *cas = open_store(dir, pack_target);
  for (int i = 0; i < n; i++)
    cas_addr_of(cas, CAS_CHUNK, o[i].data, CH, &o[i].a);
  check_objs(cas, o, synced);
  uint8_t buf[CH];
  for (int i = synced; i < n; i++) {
    size_t len;
    int r = cas_get(cas, CAS_CHUNK, &o[i].a, buf, CH, &len);
    assert_true(r == 0 || r == -ENOENT);
    if (r == 0)
      assert_memory_equal(buf, o[i].data, CH);
  }
  struct cas_verify_report rep;
  assert_int_equal(cas_verify(cas, NULL, 0, NULL, NULL, &rep), 0);
  assert_int_equal(rep.bad_records + rep.n_damage, 0);
  cas_verify_report_free(&rep);
  make_objs(cas, o + synced, n - synced, 32); /* and it takes writes again */
  assert_int_equal(cas_close(cas), 0);
  cas = open_store(dir, pack_target);
  check_objs(cas, o, n);
  assert_int_equal(cas_close(cas), 0);
  tu_rmrf(dir);
}

static void killed_writer(void **state)
{
  (void)state;
  killed_writer_at(SMALL_PACK, 300, 200);
  killed_writer_at(0, 3000, 2000);
}

/* Invariant (2): a sealed pack never changes; GC only removes whole packs. */
static void sealed_packs_immutable(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  struct cas *cas = open_store(dir, SMALL_PACK);
  static struct obj o[150];
  make_objs(cas, o, 100, 3);
  struct roots roots = {.n = 1};
  roots.a[0] = make_root(cas, o, 0, 50);
  assert_int_equal(cas_sync(cas), 0);
  uint32_t sealed = cas->open->id, crcs[64];
  assert_true(sealed > 2 && sealed < 64);
  for (uint32_t id = 0; id < sealed; id++)
    assert_true(pack_crc(cas, id, &crcs[id]));
  make_objs(cas, o + 100, 50, 4);
  struct cas_gc_options go = {.rewrite_below = 0.99};
  struct cas_gc_stats gs;
  assert_int_equal(cas_gc(cas, roots_fn, &roots, &go, &gs), 0);
  assert_true(gs.packs_deleted + gs.packs_rewritten > 0);
  for (uint32_t id = 0; id < sealed; id++) {
    uint32_t crc;
    if (pack_crc(cas, id, &crc))
      assert_int_equal(crc, crcs[id]);
  }
  check_objs(cas, o, 50);
  assert_int_equal(cas_close(cas), 0);
  tu_rmrf(dir);
}

/* Invariant (4): a torn tail is cut at open and appends continue cleanly. */
static void torn_tail_truncated(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  struct cas *cas = open_store(dir, 0);
  static struct obj o[30];
  make_objs(cas, o, 20, 5);
  assert_int_equal(cas_sync(cas), 0);
  char *path = open_pack_path(cas);
  off_t good = tu_file_size(path);
  cas_crash_close(cas);
  /* A record header promising more payload than follows, then garbage. */
  int fd = open(path, O_WRONLY | O_APPEND);
  struct pack_rec rec = {.type = CAS_CHUNK, .raw_len = 5000, .stored_len = 5000};
  uint8_t h[PACK_REC_HDR], junk[5000];
  memset(junk, 0xAB, sizeof junk);
  pack_rec_encode(&rec, junk, h);
  assert_int_equal(write(fd, h, sizeof h), (ssize_t)sizeof h);
  assert_int_equal(write(fd, junk, 700), 700); /* the rest never reached the disk */
  close(fd);
  cas = open_store(dir, 0);
  assert_int_equal(tu_file_size(path), good);
  check_objs(cas, o, 20);
  make_objs(cas, o + 20, 10, 6);
  assert_int_equal(cas_close(cas), 0);
  cas = open_store(dir, 0);
  check_objs(cas, o, 30);
  struct cas_verify_report rep;
  assert_int_equal(cas_verify(cas, NULL, 0, NULL, NULL, &rep), 0);
  assert_int_equal(rep.bad_records, 0);
  assert_int_equal(rep.n_damage, 0);
  cas_verify_report_free(&rep);
  free(path);
  assert_int_equal(cas_close(cas), 0);
  tu_rmrf(dir);
}

/* A crash inside pack_create (the file made, its header not yet written,
 * or written in part): the store opens, verifies clean read-only, and a
 * writable open writes the header and goes on storing. */
static void pack_creation_cut_short(void **state)
{
  (void)state;
  for (int len = 0; len < (int)PACK_HDR_SIZE; len += 7) {
    char *dir = tu_mkdtemp();
    struct cas *cas = open_store(dir, 0);
    static struct obj o[20];
    make_objs(cas, o, 10, 21);
    uint32_t next = cas->open->id + 1;
    assert_int_equal(cas_close(cas), 0);
    char *path = NULL;
    assert_true(asprintf(&path, "%s/packs/%08x.pack", dir, next) > 0);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    assert_true(fd >= 0);
    uint8_t h[PACK_HDR_SIZE] = {0};
    memcpy(h, PACK_FILE_MAGIC, 8);
    assert_int_equal(write(fd, h, (size_t)len), len); /* the header's first len bytes */
    close(fd);
    struct cas_options ro = {.read_only = true, .key = tu_cas_key()};
    assert_int_equal(cas_open(tu_loc(dir), &ro, &cas), 0);
    struct cas_verify_report rep;
    assert_int_equal(cas_verify(cas, NULL, 0, NULL, NULL, &rep), 0);
    assert_int_equal(rep.bad_records, 0);
    assert_int_equal(rep.n_damage, 0);
    cas_verify_report_free(&rep);
    check_objs(cas, o, 10);
    assert_int_equal(cas_close(cas), 0);
    assert_int_equal(tu_file_size(path), len); /* read-only: left as it was */
    cas = open_store(dir, 0);
    assert_int_equal(tu_file_size(path), PACK_HDR_SIZE);
    make_objs(cas, o + 10, 10, 22);
    assert_int_equal(cas_close(cas), 0);
    cas = open_store(dir, 0);
    check_objs(cas, o, 20);
    assert_int_equal(cas_verify(cas, NULL, 0, NULL, NULL, &rep), 0);
    assert_int_equal(rep.bad_records, 0);
    assert_int_equal(rep.n_damage, 0);
    cas_verify_report_free(&rep);
    assert_int_equal(cas_close(cas), 0);
    free(path);
    tu_rmrf(dir);
  }
}

/* Finds the record offset of an object in a sealed pack's index file. */
static uint32_t record_off(struct cas *cas, uint32_t pack, const struct cas_addr *a)
{
  struct pack_idx_ent *e;
  size_t n;
  assert_int_equal(pack_idx_read(cas->store, pack, &e, &n), 0);
  uint32_t off = 0;
  for (size_t i = 0; i < n; i++)
    if (memcmp(e[i].addr.b, a->b, CAS_ADDR_LEN) == 0)
      off = e[i].off;
  free(e);
  assert_true(off > 0);
  return off;
}

static uint32_t pack_of(struct cas *cas, const struct cas_addr *a)
{
  struct idx_ent e;
  assert_true(index_lookup(&cas->idx, a, &e));
  return e.pack;
}

/* Invariant (5) and verify: a flipped bit is never served as good data. */
static void damage_bitflip(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  struct cas *cas = open_store(dir, SMALL_PACK);
  static struct obj o[100];
  make_objs(cas, o, 100, 7);
  struct roots roots = {.n = 2};
  roots.a[0] = make_root(cas, o, 0, 10);
  roots.a[1] = make_root(cas, o, 10, 100);
  uint32_t pack = pack_of(cas, &o[4].a);
  assert_int_equal(cas_close(cas), 0);
  cas = open_store(dir, SMALL_PACK);
  pack_flip(cas, pack, record_off(cas, pack, &o[4].a) + PACK_REC_HDR + 100);
  uint8_t buf[CH];
  size_t len;
  assert_int_equal(cas_get(cas, CAS_CHUNK, &o[4].a, buf, CH, &len), -EIO);
  check_objs(cas, o, 4);
  check_objs(cas, o + 5, 95);
  struct cas_verify_report rep;
  assert_int_equal(cas_verify(cas, roots.a, 2, NULL, NULL, &rep), 0);
  assert_int_equal(rep.bad_records, 1);
  assert_int_equal(rep.n_damage, 1);
  assert_memory_equal(&rep.damage[0].addr, &o[4].a, sizeof o[4].a);
  assert_true(rep.root_affected[0]);
  assert_false(rep.root_affected[1]);
  cas_verify_report_free(&rep);
  assert_int_equal(cas_close(cas), 0);
  tu_rmrf(dir);
}

/* Fills a new store in dir with the 100 objects o (from seed) and closes it;
 * returns the pack holding o[0], and in *path its file with extension ext
 * ("pack" or "idx"). */
static uint32_t stored_objs(const char *dir, struct obj *o, uint64_t seed, const char *ext, char **path)
{
  struct cas *cas = open_store(dir, SMALL_PACK);
  make_objs(cas, o, 100, seed);
  uint32_t pack = pack_of(cas, &o[0].a);
  assert_int_equal(cas_close(cas), 0);
  assert_true(asprintf(path, "%s/packs/%08x.%s", dir, pack, ext) > 0);
  return pack;
}

/* cas_verify without roots counts bad damaged regions and n damaged objects. */
static void verify_counts(struct cas *cas, uint64_t bad, size_t n)
{
  struct cas_verify_report rep;
  assert_int_equal(cas_verify(cas, NULL, 0, NULL, NULL, &rep), 0);
  assert_int_equal(rep.bad_records, bad);
  assert_int_equal(rep.n_damage, n);
  cas_verify_report_free(&rep);
}

static void damage_truncate(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  static struct obj o[100];
  char *full;
  stored_objs(dir, o, 8, "pack", &full);
  off_t size = tu_file_size(full);
  assert_int_equal(truncate(full, size / 2), 0);
  struct cas *cas = open_store(dir, SMALL_PACK);
  int bad = 0;
  uint8_t buf[CH];
  for (int i = 0; i < 100; i++) {
    size_t len;
    int r = cas_get(cas, CAS_CHUNK, &o[i].a, buf, CH, &len);
    assert_true(r == 0 || r == -EIO);
    if (r == 0)
      assert_memory_equal(buf, o[i].data, CH);
    else
      bad++;
  }
  assert_true(bad > 0);
  struct cas_verify_report rep;
  assert_int_equal(cas_verify(cas, NULL, 0, NULL, NULL, &rep), 0);
  assert_int_equal(rep.n_damage, (size_t)bad);
  cas_verify_report_free(&rep);
  free(full);
  assert_int_equal(cas_close(cas), 0);
  tu_rmrf(dir);
}

/* Invariant (3): index files are rebuilt from their packs. */
static void damage_index(bool corrupt)
{
  char *dir = tu_mkdtemp();
  static struct obj o[100];
  char *idx;
  uint32_t pack = stored_objs(dir, o, 9, "idx", &idx);
  if (corrupt)
    tu_flip(idx, 40);
  else
    assert_int_equal(unlink(idx), 0);
  struct cas *cas = open_store(dir, SMALL_PACK);
  check_objs(cas, o, 100);
  assert_true(tu_file_size(idx) > 0);
  struct pack_idx_ent *e;
  size_t n;
  assert_int_equal(pack_idx_read(cas->store, pack, &e, &n), 0);
  free(e);
  free(idx);
  assert_int_equal(cas_close(cas), 0);
  tu_rmrf(dir);
}

static void damage_index_deleted(void **state) { (void)state; damage_index(false); }
static void damage_index_corrupt(void **state) { (void)state; damage_index(true); }

/* Invariant (7): a flip in a pack's file header is reported by verify,
 * although no object is affected. */
static void damage_pack_header(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  static struct obj o[100];
  char *path;
  stored_objs(dir, o, 10, "pack", &path);
  for (off_t off = 0; off < PACK_HDR_SIZE; off++) {
    tu_flip(path, off);
    struct cas *cas = open_store(dir, SMALL_PACK);
    check_objs(cas, o, 100);
    verify_counts(cas, 1, 0);
    assert_int_equal(cas_close(cas), 0);
    tu_flip(path, off); /* flip back */
  }
  free(path);
  tu_rmrf(dir);
}

/* Invariant (7): a damaged index file is reported by a read-only verify,
 * which cannot rebuild it and scans the pack instead; a writable open
 * rebuilds it (invariant (3)) and verify is clean again. */
static void damage_index_read_only(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  static struct obj o[100];
  char *idx;
  stored_objs(dir, o, 11, "idx", &idx);
  tu_flip(idx, 40);
  struct cas_options ro = {.read_only = true, .key = tu_cas_key()};
  struct cas *cas;
  assert_int_equal(cas_open(tu_loc(dir), &ro, &cas), 0);
  check_objs(cas, o, 100);
  verify_counts(cas, 1, 0);
  assert_int_equal(cas_close(cas), 0);
  cas = open_store(dir, SMALL_PACK);
  verify_counts(cas, 0, 0);
  assert_int_equal(cas_close(cas), 0);
  free(idx);
  tu_rmrf(dir);
}

/* Batched puts: chunks land in group records (63 members of 4 KiB each). */
static void make_objs_batched(struct cas *cas, struct obj *o, int n, uint64_t seed)
{
  struct cas_batch *b;
  assert_int_equal(cas_batch_new(cas, &b), 0);
  for (int i = 0; i < n; i++) {
    tu_fill(&seed, o[i].data, CH, i % 2);
    assert_int_equal(cas_batch_put(b, o[i].data, CH, &o[i].a), 0);
  }
  assert_int_equal(cas_batch_flush(b), 0);
  uint64_t objs, bytes;
  cas_batch_counts(b, &objs, &bytes);
  assert_int_equal(objs, (uint64_t)n);
  assert_int_equal(bytes, (uint64_t)n * CH);
  cas_batch_free(b);
}

static void delete_index_files(struct cas *cas)
{
  for (uint32_t id = 0; id < cas->n_packs_slots; id++) {
    char *ip = pack_path(pack_dir_path(cas->store), id, "idx");
    unlink(ip);
    free(ip);
  }
}

/* Group records: read back (also CRC-only), deduplicated, counted, and
 * rebuilt from the packs when the index files are gone. */
static void group_records(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  struct cas *cas = open_store(dir, 0);
  static struct obj o[200];
  make_objs_batched(cas, o, 200, 21);
  struct idx_ent e;
  assert_true(index_lookup(&cas->idx, &o[5].a, &e));
  assert_int_equal(idx_member(&e), 6);
  check_objs(cas, o, 200);
  bool stored = true;
  struct cas_addr a;
  assert_int_equal(cas_put(cas, CAS_CHUNK, o[3].data, CH, &a, &stored), 0);
  assert_false(stored);
  struct cas_batch *b;
  uint64_t objs, bytes;
  assert_int_equal(cas_batch_new(cas, &b), 0);
  assert_int_equal(cas_batch_put(b, o[7].data, CH, &a), 0);
  assert_int_equal(cas_batch_put(b, o[7].data, CH, &a), 0);
  assert_int_equal(cas_batch_flush(b), 0);
  cas_batch_counts(b, &objs, &bytes);
  assert_int_equal(objs, 0);
  uint8_t zero[CH] = {0};
  assert_int_equal(cas_batch_put(b, zero, CH, &a), -EINVAL);
  cas_batch_free(b);
  struct cas_stats st;
  assert_int_equal(cas_stats(cas, &st), 0);
  assert_int_equal(st.objects, 200);
  assert_int_equal(st.raw_bytes, 200 * CH);
  assert_true(st.stored_bytes < st.raw_bytes);
  /* Each group record counted once, split over its members (rounding: < 1 byte each). */
  assert_true(st.stored_bytes <= st.pack_file_bytes - PACK_HDR_SIZE);
  assert_true(st.stored_bytes + 200 >= st.pack_file_bytes - PACK_HDR_SIZE);
  assert_int_equal(cas_close(cas), 0);
  struct cas_options crc = {.chunk_shift = 12, .crc_reads = true, .key = tu_cas_key()};
  assert_int_equal(cas_open(tu_loc(dir), &crc, &cas), 0);
  check_objs(cas, o, 200);
  delete_index_files(cas);
  assert_int_equal(cas_close(cas), 0);
  cas = open_store(dir, 0);
  check_objs(cas, o, 200);
  assert_int_equal(cas_stats(cas, &st), 0);
  assert_int_equal(st.objects, 200);
  assert_int_equal(cas_close(cas), 0);
  tu_rmrf(dir);
}

/* Batched puts of full groups: compressible content before raw_from,
 * incompressible (raw group records) from there on. */
static void make_objs_grouped(struct cas *cas, struct obj *o, int n, uint64_t seed, int raw_from)
{
  struct cas_batch *b;
  assert_int_equal(cas_batch_new(cas, &b), 0);
  for (int i = 0; i < n; i++) {
    tu_fill(&seed, o[i].data, CH, i < raw_from);
    assert_int_equal(cas_batch_put(b, o[i].data, CH, &o[i].a), 0);
  }
  assert_int_equal(cas_batch_flush(b), 0);
  cas_batch_free(b);
}

/* Members read across more groups than the per-thread group cache holds, in
 * an order that switches group on every read (as a restore of an
 * incremental tree does), through cas_get and cas_get_view, from compressed
 * groups and from raw ones (incompressible content, used in place). */
static void group_reads_interleaved(void **state)
{
  (void)state;
  enum { N = 7 * PACK_GROUP_MAX, RAW_FROM = 4 * PACK_GROUP_MAX };
  char *dir = tu_mkdtemp();
  struct cas *cas = open_store(dir, 0);
  static struct obj o[N];
  make_objs_grouped(cas, o, N, 33, RAW_FROM);
  struct idx_ent e, f;
  assert_true(index_lookup(&cas->idx, &o[0].a, &e));
  assert_true(index_lookup(&cas->idx, &o[N - 1].a, &f));
  assert_true(idx_member(&e) > 0 && idx_member(&f) > 0);
  const struct idx_ent *ends[2] = {&e, &f};
  for (int k = 0; k < 2; k++) {
    struct idx_ent re = *ends[k];
    struct pack_rec pr;
    uint8_t *rec;
    re.len = idx_rec_len(ends[k]);
    assert_int_equal(cas_read_record(cas, &re, &rec, &pr), 0);
    assert_int_equal(!!(pr.flags & PACK_FLAG_ZSTD), k == 0); /* compressed, then raw */
    free(rec);
  }
  uint8_t buf[CH];
  for (unsigned k = 0; k < PACK_GROUP_MAX; k++)
    for (unsigned g = 0; g < 7; g++) {
      const struct obj *x = &o[g * PACK_GROUP_MAX + (k * 5 + g) % PACK_GROUP_MAX];
      size_t len;
      const void *view = NULL;
      memset(buf, 0xa5, sizeof buf);
      assert_int_equal(cas_get_view(cas, CAS_CHUNK, &x->a, buf, sizeof buf, &view, &len), 0);
      assert_int_equal(len, CH);
      assert_memory_equal(view, x->data, CH);
      assert_int_equal(cas_get(cas, CAS_CHUNK, &x->a, buf, sizeof buf, &len), 0);
      assert_memory_equal(buf, x->data, CH);
    }
  assert_int_equal(cas_close(cas), 0);
  tu_rmrf(dir);
}

/* cas_get_group: whole groups read straight into the caller's buffer, from
 * compressed and raw records, with re-hashing and CRC-only; anything but a
 * whole group in order (a middle member first, a group cut short, another
 * length, damage) answers 0 and leaves the reading to cas_get. */
static void group_get_whole(void **state)
{
  (void)state;
  enum { G = PACK_GROUP_MAX, N = 4 * G, RAW_FROM = 2 * G };
  char *dir = tu_mkdtemp();
  struct cas *cas = open_store(dir, 0);
  static struct obj o[N];
  static struct cas_addr a[N];
  static uint32_t lens[N];
  static uint8_t dst[(G + 1) * CH];
  make_objs_grouped(cas, o, N, 34, RAW_FROM);
  for (int i = 0; i < N; i++) {
    a[i] = o[i].a;
    lens[i] = CH;
  }
  for (int crc_only = 0; crc_only < 2; crc_only++) {
    for (unsigned g = 0; g < 4; g++) {
      unsigned n = g < 3 ? G + 1 : G; /* one beyond the group: it stops at the group's end */
      memset(dst, 0xa5, sizeof dst);
      assert_int_equal(cas_get_group(cas, a + g * G, lens, n, dst), G);
      for (unsigned k = 0; k < G; k++)
        assert_memory_equal(dst + k * CH, o[g * G + k].data, CH);
    }
    assert_int_equal(cas_get_group(cas, a + 1, lens, G, dst), 0);      /* a middle member first */
    assert_int_equal(cas_get_group(cas, a, lens, G - 1, dst), 0);      /* the group cut short */
    assert_int_equal(cas_get_group(cas, a + RAW_FROM, lens, G - 1, dst), 0);
    assert_int_equal(cas_get_group(cas, a, lens, 1, dst), 0);
    lens[5] = CH - 1;
    assert_int_equal(cas_get_group(cas, a, lens, G, dst), 0);          /* another length */
    assert_int_equal(cas_get_group(cas, a + RAW_FROM, lens + 5, G, dst), 0);
    lens[5] = CH;
    assert_int_equal(cas_close(cas), 0);
    struct cas_options crc = {.chunk_shift = 12, .crc_reads = true, .key = tu_cas_key()};
    assert_int_equal(cas_open(tu_loc(dir), &crc, &cas), 0);
  }
  /* a flipped content bit in the compressed and in the raw group: not read, and cas_get says -EIO */
  for (unsigned g = 0; g < 3; g += 2) {
    struct idx_ent e;
    assert_true(index_lookup(&cas->idx, &a[g * G], &e));
    pack_flip(cas, e.pack, e.off + PACK_REC_HDR + 4 + G * PACK_GROUP_ENT + 100);
    assert_int_equal(cas_get_group(cas, a + g * G, lens, G, dst), 0);
    size_t len;
    assert_int_equal(cas_get(cas, CAS_CHUNK, &a[g * G], dst, CH, &len), -EIO);
    assert_int_equal(cas_get_group(cas, a + (g + 1) * G, lens, G, dst), G);
    assert_memory_equal(dst, o[(g + 1) * G].data, CH);
  }
  assert_int_equal(cas_close(cas), 0);
  tu_rmrf(dir);
}

/* GC keeps exactly the live members of a group: a wholly live group is
 * copied as it is, a partly live one rebuilt from its live members. */
static void group_gc_rewrite(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  struct cas *cas = open_store(dir, 0);
  static struct obj o[189];
  make_objs_batched(cas, o, 189, 22);
  struct roots roots = {.n = 3};
  roots.a[0] = make_root(cas, o, 0, 63);    /* the whole first group */
  roots.a[1] = make_root(cas, o, 70, 80);   /* part of the second */
  roots.a[2] = make_root(cas, o, 188, 189); /* one member of the third */
  struct cas_gc_stats gs;
  struct cas_gc_options all = {.rewrite_below = 1.0};
  assert_int_equal(cas_gc(cas, roots_fn, &roots, &all, &gs), 0);
  assert_true(gs.packs_rewritten > 0);
  uint8_t buf[CH];
  size_t len;
  for (int i = 0; i < 189; i++) {
    bool live = i < 63 || (i >= 70 && i < 80) || i == 188;
    if (live)
      check_objs(cas, o + i, 1);
    else
      assert_int_equal(cas_get(cas, CAS_CHUNK, &o[i].a, buf, CH, &len), -ENOENT);
  }
  struct cas_stats st;
  assert_int_equal(cas_stats(cas, &st), 0);
  assert_int_equal(st.chunks, 74);
  assert_int_equal(cas_close(cas), 0);
  cas = open_store(dir, 0);
  check_objs(cas, o, 63);
  check_objs(cas, o + 70, 10);
  check_objs(cas, o + 188, 1);
  struct cas_verify_report rep;
  assert_int_equal(cas_verify(cas, roots.a, 3, NULL, NULL, &rep), 0);
  assert_int_equal(rep.bad_records + rep.n_damage, 0);
  cas_verify_report_free(&rep);
  assert_int_equal(cas_close(cas), 0);
  tu_rmrf(dir);
}

/* A flipped bit in a group record: no member is served, verify names every
 * member and the roots above them, the other groups read fine. */
static void group_damage(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  struct cas *cas = open_store(dir, SMALL_PACK);
  static struct obj o[126];
  make_objs_batched(cas, o, 126, 23);
  struct roots roots = {.n = 2};
  roots.a[0] = make_root(cas, o, 0, 63);
  roots.a[1] = make_root(cas, o, 63, 126);
  uint32_t pack = pack_of(cas, &o[4].a);
  assert_int_equal(cas_close(cas), 0);
  cas = open_store(dir, SMALL_PACK);
  pack_flip(cas, pack, record_off(cas, pack, &o[4].a) + PACK_REC_HDR + 4 + 63 * PACK_GROUP_ENT + 100);
  uint8_t buf[CH];
  size_t len;
  for (int i = 0; i < 63; i++)
    assert_int_equal(cas_get(cas, CAS_CHUNK, &o[i].a, buf, CH, &len), -EIO);
  check_objs(cas, o + 63, 63);
  struct cas_verify_report rep;
  assert_int_equal(cas_verify(cas, roots.a, 2, NULL, NULL, &rep), 0);
  assert_int_equal(rep.bad_records, 1);
  assert_int_equal(rep.n_damage, 63);
  assert_true(rep.root_affected[0]);
  assert_false(rep.root_affected[1]);
  cas_verify_report_free(&rep);
  assert_int_equal(cas_close(cas), 0);
  tu_rmrf(dir);
}

static void gc_collects_and_keeps(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  struct cas *cas = open_store(dir, SMALL_PACK);
  static struct obj o[200];
  make_objs(cas, o, 200, 10);
  struct roots roots = {.n = 1};
  roots.a[0] = make_root(cas, o, 0, 60);
  struct cas_addr other = make_root(cas, o, 60, 200);
  struct cas_gc_stats gs;
  struct cas_gc_options all = {.rewrite_below = 1.0}; /* rewrite every pack with garbage */
  assert_int_equal(cas_gc(cas, roots_fn, &roots, &all, &gs), 0);
  assert_true(gs.packs_deleted > 0);
  check_objs(cas, o, 60);
  uint8_t buf[CH];
  size_t len;
  for (int i = 60; i < 200; i++)
    assert_int_equal(cas_get(cas, CAS_CHUNK, &o[i].a, buf, CH, &len), -ENOENT);
  assert_false(cas_has(cas, &other));
  /* A root that cannot be walked stops GC before it deletes anything. */
  roots.a[1] = other;
  roots.n = 2;
  assert_int_equal(cas_gc(cas, roots_fn, &roots, NULL, &gs), -EIO);
  roots.n = 1;
  assert_int_equal(cas_close(cas), 0);
  cas = open_store(dir, SMALL_PACK);
  check_objs(cas, o, 60);
  struct cas_verify_report rep;
  assert_int_equal(cas_verify(cas, roots.a, 1, NULL, NULL, &rep), 0);
  assert_int_equal(rep.bad_records + rep.n_damage, 0);
  cas_verify_report_free(&rep);
  /* Dead objects can be stored again. */
  make_objs(cas, o + 60, 140, 10 + 0);
  assert_int_equal(cas_close(cas), 0);
  tu_rmrf(dir);
}

struct dedup_ctx {
  struct cas *cas;
  struct obj *o;
  int n;
};
static struct dedup_ctx *dedup_now;

/* Runs at GC's "planned" step: a writer deduplicates against dead objects. */
static int dedup_during_gc(const char *step)
{
  if (strcmp(step, "planned") != 0)
    return 0;
  for (int i = 0; i < dedup_now->n; i++) {
    bool stored = true;
    struct cas_addr a;
    assert_int_equal(cas_put(dedup_now->cas, CAS_CHUNK, dedup_now->o[i].data, CH, &a, &stored), 0);
    assert_false(stored);
  }
  return 0;
}

/* Invariant (6): a dedup hit on an object GC planned to delete keeps it. */
static void gc_concurrent_dedup(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  struct cas *cas = open_store(dir, SMALL_PACK);
  static struct obj o[120];
  make_objs(cas, o, 120, 11);
  struct roots roots = {.n = 0};
  struct dedup_ctx dc = {.cas = cas, .o = o + 100, .n = 20};
  dedup_now = &dc;
  struct cas_gc_options go = {.crash_point = dedup_during_gc};
  struct cas_hold *hold;
  assert_int_equal(cas_hold_begin(cas, &hold), 0);
  assert_int_equal(cas_gc(cas, roots_fn, &roots, &go, NULL), 0);
  check_objs(cas, o + 100, 20);
  /* Objects put under a hold also survive. */
  static struct obj h[20];
  make_objs(cas, h, 20, 12);
  assert_int_equal(cas_gc(cas, roots_fn, &roots, NULL, NULL), 0);
  check_objs(cas, h, 20);
  cas_hold_end(cas, hold);
  assert_int_equal(cas_gc(cas, roots_fn, &roots, NULL, NULL), 0);
  assert_false(cas_has(cas, &h[0].a));
  assert_int_equal(cas_close(cas), 0);
  tu_rmrf(dir);
}

static const char *crash_at;
static int crash_hook(const char *step)
{
  if (strcmp(step, crash_at) == 0)
    _exit(0);
  return 0;
}

/* Invariant (6): a crash at every GC step loses nothing live. */
static void gc_crash_points(void **state)
{
  (void)state;
  static const char *steps[] = {"start", "marked", "planned", "copied", "committed", "deleted"};
  for (size_t k = 0; k < sizeof steps / sizeof *steps; k++) {
    char *dir = tu_mkdtemp();
    struct cas *cas = open_store(dir, SMALL_PACK);
    static struct obj o[150];
    make_objs(cas, o, 150, 13);
    struct roots roots = {.n = 2};
    roots.a[0] = make_root(cas, o, 0, 30);
    roots.a[1] = make_root(cas, o, 100, 150);
    assert_int_equal(cas_close(cas), 0);
    pid_t pid = fork();
    if (pid == 0) {
      struct cas *c2;
      struct cas_options op = {.pack_target = SMALL_PACK, .key = tu_cas_key()};
      if (cas_open(tu_loc(dir), &op, &c2) < 0)
        _exit(2);
      crash_at = steps[k];
      struct cas_gc_options go = {.crash_point = crash_hook, .rewrite_below = 0.9};
      cas_gc(c2, roots_fn, &roots, &go, NULL);
      _exit(3);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cas = open_store(dir, SMALL_PACK);
    check_objs(cas, o, 30);
    check_objs(cas, o + 100, 50);
    struct cas_verify_report rep;
    assert_int_equal(cas_verify(cas, roots.a, 2, NULL, NULL, &rep), 0);
    assert_int_equal(rep.bad_records + rep.n_damage, 0);
    cas_verify_report_free(&rep);
    assert_int_equal(cas_gc(cas, roots_fn, &roots, NULL, NULL), 0);
    check_objs(cas, o, 30);
    check_objs(cas, o + 100, 50);
    assert_int_equal(cas_close(cas), 0);
    tu_rmrf(dir);
  }
}

struct thr {
  struct cas *cas;
  uint64_t seed;
};

static void *thr_main(void *arg)
{
  struct thr *t = arg;
  struct obj *o = malloc(64 * sizeof *o);
  void *ret = (void *)1;
  for (int round = 0; round < 4; round++) {
    /* Seeds overlap between threads, so they race to store the same objects. */
    uint64_t s = t->seed % 3 + (uint64_t)round;
    for (int i = 0; i < 64; i++) {
      tu_fill(&s, o[i].data, CH, i % 2);
      if (cas_put(t->cas, CAS_CHUNK, o[i].data, CH, &o[i].a, NULL) != 0)
        goto out;
    }
    uint8_t buf[CH];
    for (int i = 0; i < 64; i++) {
      size_t len;
      if (cas_get(t->cas, CAS_CHUNK, &o[i].a, buf, CH, &len) != 0 || memcmp(buf, o[i].data, CH) != 0)
        goto out;
    }
    if (cas_sync(t->cas) != 0)
      goto out;
  }
  ret = NULL;
out:
  free(o);
  return ret;
}

static void concurrent_put_get(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  struct cas *cas = open_store(dir, SMALL_PACK);
  pthread_t th[6];
  struct thr t[6];
  for (int i = 0; i < 6; i++) {
    t[i] = (struct thr){.cas = cas, .seed = (uint64_t)i};
    pthread_create(&th[i], NULL, thr_main, &t[i]);
  }
  for (int i = 0; i < 6; i++) {
    void *r;
    pthread_join(th[i], &r);
    assert_null(r);
  }
  struct cas_stats st;
  assert_int_equal(cas_stats(cas, &st), 0);
  assert_int_equal(st.objects, 6 * 64); /* seeds 0..5, 64 objects each */
  struct cas_verify_report rep;
  assert_int_equal(cas_verify(cas, NULL, 0, NULL, NULL, &rep), 0);
  assert_int_equal(rep.bad_records + rep.n_damage, 0);
  /* No object was stored twice: every record is the live copy. */
  assert_int_equal(rep.objects_checked, st.objects);
  cas_verify_report_free(&rep);
  assert_int_equal(cas_close(cas), 0);
  tu_rmrf(dir);
}

/* Verify while a writer appends and packs get sealed: the records appended
 * after verify took the open pack's size are not in its scan, and their
 * index entries are not damage (the crash loop's storeVerify during a
 * capture reported every object the capture stored meanwhile as damaged);
 * whether a pack is sealed (its entries in the .idx, not in memory) is
 * decided under the lock seal() changes it under. */
struct appender {
  struct cas *cas;
  atomic_bool done;
  int err;
};

static void *appender_main(void *arg)
{
  struct appender *ap = arg;
  uint64_t seed = 77;
  uint8_t data[CH];
  for (int i = 0; i < 4000 && !ap->err; i++) {
    tu_fill(&seed, data, CH, i % 2);
    struct cas_addr a;
    ap->err = cas_put(ap->cas, CAS_CHUNK, data, CH, &a, NULL);
  }
  atomic_store(&ap->done, true);
  return NULL;
}

static void verify_races_appends(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  struct cas *cas = open_store(dir, 4 << 20); /* a few seals meanwhile */
  struct obj *o = malloc(256 * sizeof *o);
  make_objs(cas, o, 256, 5);
  struct appender ap = {.cas = cas};
  pthread_t th;
  pthread_create(&th, NULL, appender_main, &ap);
  do { /* verifies while the appender runs */
    struct cas_verify_report rep;
    assert_int_equal(cas_verify(cas, NULL, 0, NULL, NULL, &rep), 0);
    assert_int_equal(rep.bad_records, 0);
    assert_int_equal(rep.n_damage, 0);
    cas_verify_report_free(&rep);
  } while (!atomic_load(&ap.done));
  pthread_join(th, NULL);
  assert_int_equal(ap.err, 0);
  struct cas_verify_report rep;
  assert_int_equal(cas_verify(cas, NULL, 0, NULL, NULL, &rep), 0);
  assert_int_equal(rep.bad_records + rep.n_damage, 0);
  cas_verify_report_free(&rep);
  free(o);
  assert_int_equal(cas_close(cas), 0);
  tu_rmrf(dir);
}

/* Store locations: the per-domain join, and what cas_open refuses before
 * it touches anything. */
static void locations(void **state)
{
  (void)state;
  static const struct {
    const char *base, *want;
  } joins[] = {
      {"/var/lib/vmrp/stores", "/var/lib/vmrp/stores/d1"},
      {"dir:/srv/stores", "dir:/srv/stores/d1"},
      {"rados:pool=vmrp", "rados:pool=vmrp,namespace=d1"},
      {"rados:pool=vmrp,namespace=r1,user=vmrp", "rados:pool=vmrp,namespace=r1/d1,user=vmrp"},
      {"rados:namespace=r1,pool=vmrp", "rados:namespace=r1/d1,pool=vmrp"},
  };
  for (size_t i = 0; i < sizeof joins / sizeof *joins; i++) {
    char *loc;
    assert_int_equal(cas_location_join(joins[i].base, "d1", &loc), 0);
    assert_string_equal(loc, joins[i].want);
    free(loc);
  }
  char *loc;
  assert_int_equal(cas_location_join("rados:pool=vmrp", "../x", &loc), -EINVAL);
  assert_int_equal(cas_location_join("rados:pool=vmrp", "", &loc), -EINVAL);
  assert_int_equal(cas_location_join("s3:bucket", "d1", &loc), -EPROTONOSUPPORT);
  struct cas_options o = {.create = true, .key = tu_cas_key()};
  struct cas *cas;
  assert_int_equal(cas_open("s3:bucket=x", &o, &cas), -EPROTONOSUPPORT);
  assert_int_equal(cas_open("dir:", &o, &cas), -EPROTONOSUPPORT);
}

#ifdef TU_RADOS
/* Bad RADOS locations fail cas_open with a clear error, and in bounded
 * time when the cluster does not answer. */
static void rados_bad_locations(void **state)
{
  (void)state;
  static const char *malformed[] = {
      "rados:",         "rados:namespace=x",   "rados:pool=",           "rados:pool=a,,namespace=b",
      "rados:pool=a,",  "rados:pool=a,pool=b", "rados:pool=a,lease=2", "rados:pool=a,lease=9x",
      "rados:pool=a,colour=red", "rados:pool",
  };
  struct cas_options o = {.create = true, .key = tu_cas_key()};
  struct cas *cas;
  for (size_t i = 0; i < sizeof malformed / sizeof *malformed; i++)
    assert_int_equal(cas_open(malformed[i], &o, &cas), -EINVAL);
  char loc[1200];
  snprintf(loc, sizeof loc, "rados:pool=vmrp-no-such-pool,namespace=x");
  assert_int_equal(cas_open(loc, &o, &cas), -ENOENT);
  snprintf(loc, sizeof loc, "rados:pool=%s,conf=/nonexistent/ceph.conf", getenv("VMRP_RADOS_POOL"));
  assert_int_equal(cas_open(loc, &o, &cas), -ENOENT);
  /* a cluster whose monitor does not answer: a port nothing listens on */
  char *dir = tu_mkdtemp(), conf[600];
  snprintf(conf, sizeof conf, "%s/ceph.conf", dir);
  FILE *f = fopen(conf, "w");
  assert_non_null(f);
  fprintf(f, "[global]\nmon_host = v2:127.0.0.1:9\nms_bind_msgr1 = false\n");
  fclose(f);
  snprintf(loc, sizeof loc, "rados:pool=%s,conf=%s", getenv("VMRP_RADOS_POOL"), conf);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int r = cas_open(loc, &o, &cas);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  assert_true(r < 0);
  assert_true(t1.tv_sec - t0.tv_sec < 25); /* client_mount_timeout 15 s */
  tu_rmrf(dir);
}

/* The cluster stalls mid-run (its OSD stopped, then continued): a sync
 * fails cleanly within the op timeout (5 s here, through the location's
 * ceph.conf), the store refuses writes from then on, and once the OSD is
 * back a new open finds everything the earlier sync covered, and verify
 * finds nothing damaged. */
static void rados_cluster_stalls(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp(), conf[600], pidf[600], loc[1400];
  const char *cc = getenv("CEPH_CONF");
  size_t base = strlen(cc);
  while (base > 0 && cc[base - 1] != '/')
    base--;
  snprintf(pidf, sizeof pidf, "%.*srun/osd.0.pid", (int)base, cc);
  FILE *f = fopen(pidf, "r");
  int osd = 0;
  assert_non_null(f);
  assert_int_equal(fscanf(f, "%d", &osd), 1);
  fclose(f);
  snprintf(conf, sizeof conf, "%s/ceph.conf", dir);
  void *text;
  size_t len;
  assert_int_equal(read_file(cc, &text, &len), 0);
  f = fopen(conf, "w");
  assert_non_null(f);
  fprintf(f, "%s\n[client]\nrados_osd_op_timeout = 5\n", (char *)text);
  fclose(f);
  free(text);
  snprintf(loc, sizeof loc, "%s,conf=%s", tu_loc(dir), conf);
  struct cas_options o = {.create = true, .chunk_shift = 12, .pack_target = SMALL_PACK, .key = tu_cas_key()};
  struct cas *cas;
  assert_int_equal(cas_open(loc, &o, &cas), 0);
  static struct obj ob[200];
  make_objs(cas, ob, 100, 41);
  assert_int_equal(cas_sync(cas), 0);
  assert_int_equal(kill(osd, SIGSTOP), 0);
  uint64_t seed = 42;
  for (int i = 100; i < 200; i++) { /* appends are queued; some may fail at once when a pack is sealed */
    tu_fill(&seed, ob[i].data, CH, i % 2);
    cas_put(cas, CAS_CHUNK, ob[i].data, CH, &ob[i].a, NULL);
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int r = cas_sync(cas);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  assert_int_equal(kill(osd, SIGCONT), 0);
  assert_true(r < 0);
  assert_true(t1.tv_sec - t0.tv_sec < 20); /* the conf's 5 s, not our default 30 s */
  struct cas_addr a;
  assert_true(cas_put(cas, CAS_CHUNK, ob[0].data + 1, CH - 1, &a, NULL) < 0); /* no writes after a failed sync */
  cas_close(cas);
  assert_int_equal(cas_open(loc, &o, &cas), 0);
  check_objs(cas, ob, 100);
  struct cas_verify_report rep;
  assert_int_equal(cas_verify(cas, NULL, 0, NULL, NULL, &rep), 0);
  assert_int_equal(rep.bad_records + rep.n_damage, 0);
  cas_verify_report_free(&rep);
  make_objs(cas, ob + 100, 100, 43);
  assert_int_equal(cas_close(cas), 0);
  tu_rmrf(dir);
}
#endif

int main(void)
{
  /* The tests that reach into a directory's files (a torn tail, a truncated
   * pack, index files) are the dir back end's; the rest run on RADOS too. */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(put_get_dedup_compress), cmocka_unit_test(reopen_persists),
      cmocka_unit_test(killed_writer),          cmocka_unit_test(sealed_packs_immutable),
      cmocka_unit_test(damage_bitflip),
      cmocka_unit_test(gc_collects_and_keeps),  cmocka_unit_test(gc_concurrent_dedup),
      cmocka_unit_test(gc_crash_points),        cmocka_unit_test(concurrent_put_get),
      cmocka_unit_test(group_reads_interleaved), cmocka_unit_test(group_get_whole),
      cmocka_unit_test(group_gc_rewrite),       cmocka_unit_test(group_damage),
      cmocka_unit_test(verify_races_appends),   cmocka_unit_test(locations),
#ifdef TU_RADOS
      cmocka_unit_test(rados_bad_locations),    cmocka_unit_test(rados_cluster_stalls),
#else
      cmocka_unit_test(sync_survives_crash),    cmocka_unit_test(torn_tail_truncated),
      cmocka_unit_test(pack_creation_cut_short), cmocka_unit_test(damage_truncate),
      cmocka_unit_test(damage_index_deleted),   cmocka_unit_test(damage_index_corrupt),
      cmocka_unit_test(damage_pack_header),     cmocka_unit_test(damage_index_read_only),
      cmocka_unit_test(group_records),
#endif
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
