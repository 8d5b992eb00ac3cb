/*
 * test_transfer.c — records between stores (cas.h, transfer.c): a record
 * exported from one store and imported into another reads back byte for
 * byte, a group travels whole and once, a record damaged on the way is
 * rejected with nothing stored, an import never republishes what the store
 * has, and a repair replaces a damaged copy, after which a forced rewrite of
 * its pack leaves verify clean.  A sealed pack of imported records leaves
 * the page cache; a pack of local puts keeps its pages.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/mman.h>

#include "cas/cas_int.h"
#include "testutil.h"
#include "testkey.h"
#include "casutil.h"

#define N 40

static void fill(struct obj *o, int n, uint64_t seed)
{
  for (int i = 0; i < n; i++)
    tu_fill(&seed, o[i].data, CH, i % 2);
}

/* Copies every object of src that dst lacks, as records, each record once. */
static int copy_all(struct cas *src, struct cas *dst, const struct obj *o, int n, uint64_t *stored)
{
  int records = 0;
  uint8_t *rec = NULL; /* one buffer for every record, as a sender keeps it */
  size_t cap = 0;
  for (int i = 0; i < n; i++) {
    if (cas_has(dst, &o[i].a))
      continue;
    uint32_t len;
    assert_int_equal(cas_record_export(src, &o[i].a, &rec, &cap, &len), 0);
    struct cas_record_info info;
    assert_int_equal(cas_record_import(dst, rec, len, &info, stored), 0);
    records++;
  }
  free(rec);
  return records;
}

static void plain_and_group_records(void **state)
{
  (void)state;
  char *d1 = tu_mkdtemp(), *d2 = tu_mkdtemp();
  struct cas *a = open_store(d1, SMALL_PACK), *b = open_store(d2, SMALL_PACK);
  static struct obj o[N];
  fill(o, N, 3);
  for (int i = 0; i < N / 2; i++) /* plain records */
    assert_int_equal(cas_put(a, CAS_CHUNK, o[i].data, CH, &o[i].a, NULL), 0);
  struct cas_batch *bt; /* and one group record of the rest */
  assert_int_equal(cas_batch_new(a, &bt), 0);
  for (int i = N / 2; i < N; i++)
    assert_int_equal(cas_batch_put(bt, o[i].data, CH, &o[i].a), 0);
  assert_int_equal(cas_batch_flush(bt), 0);
  cas_batch_free(bt);
  uint64_t k1, k2;
  assert_int_equal(cas_record_key(a, &o[N / 2].a, &k1), 0);
  assert_int_equal(cas_record_key(a, &o[N - 1].a, &k2), 0);
  assert_true(k1 == k2); /* one group record: a sender reads and sends it once */
  uint64_t stored = 0;
  int records = copy_all(a, b, o, N, &stored);
  assert_int_equal(records, N / 2 + 1); /* the group travelled once, whole */
  check_objs(b, o, N);
  struct cas_stats sa, sb;
  assert_int_equal(cas_stats(a, &sa), 0);
  assert_int_equal(cas_stats(b, &sb), 0);
  assert_int_equal(sb.pack_file_bytes, sa.pack_file_bytes); /* as stored: no recompression */
  assert_int_equal(stored + sb.packs * PACK_HDR_SIZE, sb.pack_file_bytes);
  /* again: nothing is republished or counted */
  uint8_t *rec = NULL;
  size_t cap = 0;
  uint32_t len;
  uint64_t again = 0;
  struct cas_record_info info = {0};
  assert_int_equal(cas_record_export(a, &o[N - 1].a, &rec, &cap, &len), 0);
  assert_int_equal(cas_record_import(b, rec, len, &info, &again), 0);
  assert_int_equal(info.n, N / 2);
  assert_int_equal(again, 0);
  free(rec);
  assert_int_equal(cas_sync(b), 0);
  assert_int_equal(cas_close(b), 0); /* durable: reopened, the same */
  b = open_store(d2, SMALL_PACK);
  check_objs(b, o, N);
  cas_close(a);
  cas_close(b);
  tu_rmrf(d1);
  tu_rmrf(d2);
}

/* Resident pages of the sealed packs of the store at dir (every pack but
 * the open one, the newest); *sealed gets their count. */
static size_t sealed_resident(struct cas *cas, uint32_t *sealed)
{
  size_t resident = 0;
  uint32_t open_id = cas->open->id;
  *sealed = 0;
  for (uint32_t id = 0; id < open_id; id++) {
    char *path = pack_path(pack_dir_path(cas->store), id, "pack");
    int fd = open(path, O_RDONLY);
    free(path);
    if (fd < 0)
      continue;
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    size_t pages = ((size_t)st.st_size + 4095) / 4096;
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    assert_true(m != MAP_FAILED);
    unsigned char *vec = malloc(pages);
    assert_int_equal(mincore(m, (size_t)st.st_size, vec), 0);
    for (size_t i = 0; i < pages; i++)
      resident += vec[i] & 1;
    free(vec);
    munmap(m, (size_t)st.st_size);
    close(fd);
    (*sealed)++;
  }
  return resident;
}

static void imported_packs_leave_the_page_cache(void **state)
{
  (void)state;
  char *d1 = tu_mkdtemp(), *d2 = tu_mkdtemp();
  struct cas *a = open_store(d1, SMALL_PACK), *b = open_store(d2, SMALL_PACK);
  static struct obj o[3 * N]; /* ~ 300 KiB: a few 64 KiB packs */
  fill(o, 3 * N, 11);
  for (int i = 0; i < 3 * N; i++)
    assert_int_equal(cas_put(a, CAS_CHUNK, o[i].data, CH, &o[i].a, NULL), 0);
  copy_all(a, b, o, 3 * N, NULL);
  uint32_t sealed_a, sealed_b;
  assert_true(sealed_resident(a, &sealed_a) > 0); /* captured data: kept for the reads that follow */
  assert_int_equal(sealed_resident(b, &sealed_b), 0);
  assert_true(sealed_a >= 2 && sealed_b >= 2);
  check_objs(b, o, 3 * N); /* read back from the device */
  cas_close(a);
  cas_close(b);
  tu_rmrf(d1);
  tu_rmrf(d2);
}

static void damaged_record_rejected(void **state)
{
  (void)state;
  char *d1 = tu_mkdtemp(), *d2 = tu_mkdtemp();
  struct cas *a = open_store(d1, SMALL_PACK), *b = open_store(d2, SMALL_PACK);
  static struct obj o[1];
  fill(o, 1, 5);
  assert_int_equal(cas_put(a, CAS_CHUNK, o[0].data, CH, &o[0].a, NULL), 0);
  uint8_t *rec = NULL;
  size_t cap = 0;
  uint32_t len;
  assert_int_equal(cas_record_export(a, &o[0].a, &rec, &cap, &len), 0);
  struct cas_record_info info;
  for (uint32_t off = 0; off < len; off += len / 7 + 1) { /* header, address, payload */
    rec[off] ^= 0x01;
    assert_int_equal(cas_record_check(b, rec, len, &info, NULL, 0), -EIO);
    assert_int_equal(cas_record_import(b, rec, len, &info, NULL), -EIO);
    rec[off] ^= 0x01;
  }
  assert_int_equal(cas_record_import(b, rec, len - 1, &info, NULL), -EIO); /* cut */
  assert_false(cas_has(b, &o[0].a));
  /* a record whose CRC was recomputed over a wrong address: the re-hash */
  struct pack_rec pr;
  assert_int_equal(pack_rec_decode(rec, len, &pr), 0);
  pr.addr.b[0] ^= 1;
  pack_rec_encode(&pr, rec + PACK_REC_HDR, rec);
  assert_int_equal(cas_record_import(b, rec, len, &info, NULL), -EIO);
  assert_false(cas_has(b, &pr.addr));
  assert_int_equal(cas_record_export(a, &pr.addr, &rec, &cap, &len), -ENOENT);
  free(rec);
  cas_close(a);
  cas_close(b);
  tu_rmrf(d1);
  tu_rmrf(d2);
}

static int one_root(void *ctx, struct cas_addr **out, size_t *n)
{
  *out = malloc(sizeof(struct cas_addr));
  memcpy(*out, ctx, sizeof(struct cas_addr));
  *n = 1;
  return 0;
}

static void repair_then_rewrite(void **state)
{
  (void)state;
  char *d1 = tu_mkdtemp(), *d2 = tu_mkdtemp();
  struct cas *a = open_store(d1, SMALL_PACK), *b = open_store(d2, SMALL_PACK);
  static struct obj o[N];
  fill(o, N, 9);
  for (int i = 0; i < N; i++) {
    assert_int_equal(cas_put(a, CAS_CHUNK, o[i].data, CH, &o[i].a, NULL), 0);
    assert_int_equal(cas_put(b, CAS_CHUNK, o[i].data, CH, &o[i].a, NULL), 0);
  }
  uint8_t node[sizeof(struct cas_node_hdr) + N * CAS_ADDR_LEN];
  struct cas_node_hdr h = {.magic = 1, .count = N, .level = 0};
  memcpy(node, &h, sizeof h);
  for (int i = 0; i < N; i++)
    memcpy(node + sizeof h + i * CAS_ADDR_LEN, o[i].a.b, CAS_ADDR_LEN);
  struct cas_addr root;
  assert_int_equal(cas_put(b, CAS_NODE, node, sizeof node, &root, NULL), 0);
  assert_int_equal(cas_close(b), 0);
  /* damage object 7 in b */
  b = open_store(d2, SMALL_PACK);
  struct idx_ent e;
  assert_true(index_lookup(&b->idx, &o[7].a, &e));
  char *path = pack_path(pack_dir_path(b->store), e.pack, "pack");
  cas_close(b);
  tu_flip(path, e.off + PACK_REC_HDR + 10);
  free(path);
  b = open_store(d2, SMALL_PACK);
  struct cas_verify_report rep;
  assert_int_equal(cas_verify(b, &root, 1, NULL, NULL, &rep), 0);
  assert_int_equal(rep.n_damage, 1);
  assert_int_equal(rep.n_bad_packs, 1);
  assert_int_equal(rep.bad_packs[0], e.pack);
  uint32_t bad_pack = rep.bad_packs[0];
  cas_verify_report_free(&rep);
  /* an import does not replace it (the store "has" it); a repair does */
  uint8_t *rec = NULL, buf[CH];
  size_t cap = 0;
  uint32_t len;
  size_t got;
  struct cas_record_info info;
  assert_int_equal(cas_record_export(a, &o[7].a, &rec, &cap, &len), 0);
  assert_int_equal(cas_record_import(b, rec, len, &info, NULL), 0);
  assert_int_equal(cas_get(b, CAS_CHUNK, &o[7].a, buf, CH, &got), -EIO);
  assert_int_equal(cas_record_repair(b, rec, len, &info), 0);
  free(rec);
  check_objs(b, o, N);
  assert_int_equal(cas_sync(b), 0);
  assert_int_equal(cas_verify(b, &root, 1, NULL, NULL, &rep), 0);
  assert_int_equal(rep.n_damage, 0);
  assert_int_equal(rep.bad_records, 1); /* the bad record, indexed by nothing */
  cas_verify_report_free(&rep);
  struct cas_gc_options go = {.rewrite = &bad_pack, .n_rewrite = 1};
  struct cas_gc_stats gs;
  assert_int_equal(cas_gc(b, one_root, &root, &go, &gs), 0);
  assert_true(gs.packs_rewritten + gs.packs_deleted >= 1);
  assert_int_equal(cas_verify(b, &root, 1, NULL, NULL, &rep), 0);
  assert_int_equal(rep.bad_records, 0);
  assert_int_equal(rep.n_damage, 0);
  cas_verify_report_free(&rep);
  check_objs(b, o, N);
  cas_close(a);
  cas_close(b);
  tu_rmrf(d1);
  tu_rmrf(d2);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(plain_and_group_records),
      cmocka_unit_test(damaged_record_rejected),
      cmocka_unit_test(imported_packs_leave_the_page_cache),
      cmocka_unit_test(repair_then_rewrite),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
