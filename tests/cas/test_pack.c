/*
 * test_pack.c — CRC32C, the pack record format, pack scanning with damage
 * and torn tails, and index files.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "cas/pack.h"
#include "common/crc32c.h"
#include "testutil.h"

static void crc32c_vectors(void **state)
{
  (void)state;
  assert_int_equal(crc32c(0, "123456789", 9), 0xE3069283u);
  uint8_t zeros[32] = {0};
  assert_int_equal(crc32c(0, zeros, 32), 0x8A9136AAu);
  /* Incremental equals one-shot, at every split (hardware and tail paths). */
  uint8_t buf[100];
  uint64_t s = 1;
  tu_fill(&s, buf, sizeof buf, 0);
  uint32_t whole = crc32c(0, buf, sizeof buf);
  for (size_t k = 0; k <= sizeof buf; k++)
    assert_int_equal(crc32c(crc32c(0, buf, k), buf + k, sizeof buf - k), whole);
}

/* The three-lane paths (24 KiB and 768 B rounds, joined by the shift tables)
 * against a bit-at-a-time reference, at lengths around the round sizes and
 * at odd alignments. */
static uint32_t crc_bitwise(const uint8_t *p, size_t len)
{
  uint32_t c = ~0u;
  for (size_t i = 0; i < len; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++)
      c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
  }
  return ~c;
}

static void crc32c_lanes(void **state)
{
  (void)state;
  enum { N = 3 * 3 * 8192 + 1000 };
  uint8_t *buf = malloc(N);
  assert_non_null(buf);
  uint64_t s = 3;
  tu_fill(&s, buf, N, 0);
  static const size_t lens[] = {0,    7,    767,  768,   769,   1543,  24575, 24576,
                                24577, 25344, 49152, 50000, 73728, N - 3};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
    for (size_t al = 0; al < 3; al++)
      assert_int_equal(crc32c(0, buf + al, lens[i]), crc_bitwise(buf + al, lens[i]));
  free(buf);
}

/* Writes n records of random content to a new pack 0 of the dir store ps. */
static struct pack_obj *write_pack(struct cas_pack_store *ps, int n, uint32_t *offs, uint64_t *size)
{
  struct pack_obj *h;
  assert_int_equal(pack_create(ps, 0, PACK_VERSION_PLAIN, &h), 0);
  uint64_t off = PACK_HDR_SIZE, s = 7;
  for (int i = 0; i < n; i++) {
    uint8_t payload[300];
    tu_fill(&s, payload, sizeof payload, 0);
    struct pack_rec rec = {.type = CAS_CHUNK, .raw_len = sizeof payload, .stored_len = sizeof payload};
    crypt_addr(NULL, CAS_CHUNK, payload, sizeof payload, &rec.addr);
    uint8_t hdr[PACK_REC_HDR];
    pack_rec_encode(&rec, payload, hdr);
    struct iovec v[2] = {{hdr, sizeof hdr}, {payload, sizeof payload}};
    assert_int_equal(h->ops->append(h, v, 2, off), 0);
    offs[i] = (uint32_t)off;
    off += PACK_REC_HDR + sizeof payload;
  }
  *size = off;
  return h;
}

struct seen {
  int n;
  uint32_t offs[16];
};

static int count_rec(void *ctx, const struct pack_rec *rec, const uint8_t *payload, uint32_t off, uint32_t len)
{
  struct seen *s = ctx;
  assert_int_equal(len, PACK_REC_HDR + rec->stored_len);
  s->offs[s->n++] = off;
  return 0;
}

static void scan_clean_damaged_and_torn(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  uint32_t offs[10];
  uint64_t size, end, bad;
  struct cas_pack_store *ps;
  assert_int_equal(pack_dir_open(dir, true, false, &ps), 0);
  struct pack_obj *h = write_pack(ps, 10, offs, &size);
  struct seen s = {0};
  assert_int_equal(pack_scan(h, size, NULL, true, count_rec, &s, &end, &bad), 0);
  assert_int_equal(s.n, 10);
  assert_int_equal(end, size);
  assert_int_equal(bad, 0);
  /* Damage record 4's payload: it is skipped, the records after it are kept. */
  char *path = pack_path(pack_dir_path(ps), 0, "pack");
  tu_flip(path, offs[4] + PACK_REC_HDR + 10);
  memset(&s, 0, sizeof s);
  assert_int_equal(pack_scan(h, size, NULL, false, count_rec, &s, &end, &bad), 0);
  assert_int_equal(s.n, 9);
  assert_int_equal(bad, 1);
  assert_int_equal(end, size);
  for (int i = 0; i < 9; i++)
    assert_int_equal(s.offs[i], offs[i < 4 ? i : i + 1]);
  /* A torn tail (half of the last record) is not damage: end stops before it. */
  memset(&s, 0, sizeof s);
  assert_int_equal(pack_scan(h, size - 100, NULL, false, count_rec, &s, &end, &bad), 0);
  assert_int_equal(s.n, 8);
  assert_int_equal(bad, 1);
  assert_int_equal(end, offs[9]);
  h->ops->close(h);
  ps->ops->free(ps);
  free(path);
  tu_rmrf(dir);
}

static void record_content_checks_hash(void **state)
{
  (void)state;
  uint8_t payload[64], out[64];
  memset(payload, 'x', sizeof payload);
  struct pack_rec rec = {.type = CAS_NODE, .raw_len = 64, .stored_len = 64, .body_len = 64};
  crypt_addr(NULL, CAS_NODE, payload, 64, &rec.addr);
  assert_int_equal(pack_rec_content(NULL, &rec, payload, out, true), 0);
  assert_memory_equal(out, payload, 64);
  rec.type = CAS_CHUNK; /* same bytes, other type: other address */
  assert_int_equal(pack_rec_content(NULL, &rec, payload, out, true), -EIO);
  assert_int_equal(pack_rec_content(NULL, &rec, payload, out, false), 0); /* CRC-only mode trusts the record */
}

static void index_file_roundtrip_and_damage(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  struct pack_idx_ent e[50];
  uint64_t s = 3;
  for (int i = 0; i < 50; i++) {
    memset(&e[i], 0, sizeof e[i]);
    tu_fill(&s, e[i].addr.b, CAS_ADDR_LEN, 0);
    e[i].off = (uint32_t)i * 100;
    e[i].len = 60;
    e[i].raw_len = 70;
    e[i].type = CAS_CHUNK;
  }
  struct cas_pack_store *ps;
  assert_int_equal(pack_dir_open(dir, true, false, &ps), 0);
  assert_int_equal(pack_idx_write(ps, 5, e, 50), 0);
  struct pack_idx_ent *got;
  size_t n;
  assert_int_equal(pack_idx_read(ps, 5, &got, &n), 0);
  assert_int_equal(n, 50);
  for (size_t i = 1; i < n; i++)
    assert_true(memcmp(got[i - 1].addr.b, got[i].addr.b, CAS_ADDR_LEN) < 0);
  free(got);
  char *path = pack_path(pack_dir_path(ps), 5, "idx");
  tu_flip(path, 200);
  assert_int_equal(pack_idx_read(ps, 5, &got, &n), -EIO);
  ps->ops->free(ps);
  free(path);
  tu_rmrf(dir);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(crc32c_vectors),
      cmocka_unit_test(crc32c_lanes),
      cmocka_unit_test(scan_clean_damaged_and_torn),
      cmocka_unit_test(record_content_checks_hash),
      cmocka_unit_test(index_file_roundtrip_and_damage),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
