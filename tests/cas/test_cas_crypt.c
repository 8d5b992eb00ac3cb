/*
 * test_cas_crypt.c — what an encrypted store promises beyond a plaintext
 * one (invariants (8)-(10) of store.c): no plaintext or content hash at
 * rest, keyed addresses, every damage and every foreign record refused and
 * repairable from a store of the same key, and a wrong or missing key
 * refused before anything changes.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "cas/cas_int.h"
#include "common/crc32c.h"
#include "common/fsutil.h"
#include "testkey.h"
#include "testutil.h"

#define CH 4096
#define N 96 /* 64 plain records, 32 chunks in a group */
#define PLAIN 64

struct obj {
  struct cas_addr a;
  uint8_t data[CH];
};

static struct cas *open_with(const char *dir, const struct cas_key *key)
{
  struct cas_options o = {.create = true, .chunk_shift = 12, .pack_target = 1 << 20, .key = key};
  struct cas *cas;
  assert_int_equal(cas_open(dir, &o, &cas), 0);
  assert_int_equal(cas_encrypted(cas), key != NULL);
  return cas;
}

/* Random chunks: the first PLAIN put alone, the rest through a batch (a group). */
static void put_objs(struct cas *cas, struct obj *o, uint64_t seed)
{
  for (int i = 0; i < N; i++)
    tu_fill(&seed, o[i].data, CH, 0);
  for (int i = 0; i < PLAIN; i++)
    assert_int_equal(cas_put(cas, CAS_CHUNK, o[i].data, CH, &o[i].a, NULL), 0);
  struct cas_batch *b;
  assert_int_equal(cas_batch_new(cas, &b), 0);
  for (int i = PLAIN; i < N; i++)
    assert_int_equal(cas_batch_put(b, o[i].data, CH, &o[i].a), 0);
  assert_int_equal(cas_batch_flush(b), 0);
  cas_batch_free(b);
}

static void check_objs(struct cas *cas, const struct obj *o)
{
  uint8_t buf[CH];
  for (int i = 0; i < N; i++) {
    size_t len;
    assert_int_equal(cas_get(cas, CAS_CHUNK, &o[i].a, buf, sizeof buf, &len), 0);
    assert_memory_equal(buf, o[i].data, CH);
  }
}

static struct cas_addr put_root(struct cas *cas, const struct obj *o)
{
  size_t len = sizeof(struct cas_node_hdr) + (size_t)N * CAS_ADDR_LEN;
  uint8_t *buf = calloc(1, len);
  struct cas_node_hdr h = {.magic = 7, .count = N, .level = 0};
  memcpy(buf, &h, sizeof h);
  for (int i = 0; i < N; i++)
    memcpy(buf + sizeof h + (size_t)i * CAS_ADDR_LEN, o[i].a.b, CAS_ADDR_LEN);
  struct cas_addr a;
  assert_int_equal(cas_put(cas, CAS_NODE, buf, len, &a, NULL), 0);
  free(buf);
  return a;
}

/* ---- needles: 32-byte strings looked for at every offset of every file ---- */

struct needles {
  uint8_t (*v)[32];
  size_t n;
};

static int needle_cmp(const void *a, const void *b) { return memcmp(a, b, 32); }

/* Every 32-byte-aligned block of every chunk (any 64-byte window of the
 * pattern holds one) and every chunk's SHA-256 address. */
static void needles_of(const struct obj *o, struct needles *nd)
{
  nd->n = 0;
  nd->v = malloc(((size_t)N * (CH / 32 + 1)) * 32);
  for (int i = 0; i < N; i++) {
    for (size_t k = 0; k < CH; k += 32)
      memcpy(nd->v[nd->n++], o[i].data + k, 32);
    struct cas_addr sha;
    crypt_addr(NULL, CAS_CHUNK, o[i].data, CH, &sha);
    memcpy(nd->v[nd->n++], sha.b, 32);
  }
  qsort(nd->v, nd->n, 32, needle_cmp);
}

static size_t scan_file(const char *path, const struct needles *nd)
{
  uint8_t *buf = NULL;
  size_t len = 0, hits = 0;
  if (read_file(path, (void **)&buf, &len) < 0)
    return 0;
  for (size_t off = 0; off + 32 <= len; off++)
    hits += bsearch(buf + off, nd->v, nd->n, 32, needle_cmp) != NULL;
  free(buf);
  return hits;
}

/* Hits in every file under dir and its packs/. */
static size_t scan_store(const char *dir, const struct needles *nd)
{
  size_t hits = 0;
  const char *subs[] = {"", "/packs"};
  for (int s = 0; s < 2; s++) {
    char *d = NULL;
    assert_true(asprintf(&d, "%s%s", dir, subs[s]) > 0);
    DIR *dh = opendir(d);
    assert_non_null(dh);
    struct dirent *de;
    while ((de = readdir(dh))) {
      if (de->d_name[0] == '.' || !strcmp(de->d_name, "packs"))
        continue;
      char *p = NULL;
      assert_true(asprintf(&p, "%s/%s", d, de->d_name) > 0);
      hits += scan_file(p, nd);
      free(p);
    }
    closedir(dh);
    free(d);
  }
  return hits;
}

static int roots_fn(void *ctx, struct cas_addr **out, size_t *n)
{
  *out = malloc(sizeof(struct cas_addr));
  memcpy(*out, ctx, sizeof(struct cas_addr));
  *n = 1;
  return 0;
}

/* Invariant (8): after puts, batches, a tree node, sync, a GC rewrite and a
 * reopen, no file of the store holds the pattern or its SHA-256 addresses
 * (the same scan finds both in a plaintext store: the scan works). */
static void no_plaintext_at_rest(void **state)
{
  (void)state;
  static struct obj o[N];
  struct needles nd;
  for (int enc = 0; enc < 2; enc++) {
    char *dir = tu_mkdtemp();
    struct cas *cas = open_with(dir, enc ? tu_cas_key() : NULL);
    put_objs(cas, o, 11);
    if (enc == 0)
      needles_of(o, &nd);
    struct cas_addr root = put_root(cas, o);
    /* garbage, so that GC rewrites the packs */
    uint8_t junk[CH];
    uint64_t s = 99;
    for (int i = 0; i < 64; i++) {
      struct cas_addr a;
      tu_fill(&s, junk, CH, 0);
      assert_int_equal(cas_put(cas, CAS_CHUNK, junk, CH, &a, NULL), 0);
    }
    assert_int_equal(cas_sync(cas), 0);
    struct cas_gc_options go = {.rewrite_below = 0.9};
    struct cas_gc_stats gs;
    assert_int_equal(cas_gc(cas, roots_fn, &root, &go, &gs), 0);
    assert_true(gs.packs_rewritten + gs.packs_deleted > 0);
    assert_int_equal(cas_close(cas), 0);
    cas = open_with(dir, enc ? tu_cas_key() : NULL);
    check_objs(cas, o);
    assert_int_equal(cas_close(cas), 0);
    size_t hits = scan_store(dir, &nd);
    if (enc)
      assert_int_equal(hits, 0);
    else
      assert_true(hits >= (size_t)N * (CH / 32));
    tu_rmrf(dir);
  }
  free(nd.v);
}

/* Addresses are keyed: not SHA-256, equal under one key (dedup between two
 * stores of a domain), different under another. */
static void keyed_addresses(void **state)
{
  (void)state;
  char *d1 = tu_mkdtemp(), *d2 = tu_mkdtemp(), *d3 = tu_mkdtemp();
  struct cas_key other;
  tu_other_key(&other);
  struct cas *a = open_with(d1, tu_cas_key()), *b = open_with(d2, tu_cas_key()), *c = open_with(d3, &other);
  uint8_t data[CH];
  uint64_t s = 5;
  tu_fill(&s, data, CH, 1);
  struct cas_addr sha, ka, kb, kc, kn;
  crypt_addr(NULL, CAS_CHUNK, data, CH, &sha);
  assert_int_equal(cas_put(a, CAS_CHUNK, data, CH, &ka, NULL), 0);
  cas_addr_of(b, CAS_CHUNK, data, CH, &kb);
  cas_addr_of(c, CAS_CHUNK, data, CH, &kc);
  cas_addr_of(a, CAS_NODE, data, CH, &kn);
  assert_memory_equal(&ka, &kb, sizeof ka);
  assert_memory_not_equal(&ka, &sha, sizeof ka);
  assert_memory_not_equal(&ka, &kc, sizeof ka);
  assert_memory_not_equal(&ka, &kn, sizeof ka);
  /* a put_addr with the plaintext address is refused */
  assert_int_equal(cas_put_addr(b, CAS_CHUNK, &sha, data, CH), -EIO);
  assert_int_equal(cas_put_addr(b, CAS_CHUNK, &ka, data, CH), 0);
  cas_close(a);
  cas_close(b);
  cas_close(c);
  tu_rmrf(d1);
  tu_rmrf(d2);
  tu_rmrf(d3);
}

/* ---- damage ---- */

static void entry_of(struct cas *cas, const struct cas_addr *a, struct idx_ent *e)
{
  assert_true(index_lookup(&cas->idx, a, e));
  e->len = idx_rec_len(e);
}

static char *pack_file(struct cas *cas, uint32_t id) { return pack_path(pack_dir_path(cas->store), id, "pack"); }

/* Rewrites the record's CRC32C after a change: what only the tag can catch. */
static void recrc(const char *path, const struct idx_ent *e)
{
  uint8_t *rec = malloc(e->len);
  int fd = open(path, O_RDWR);
  assert_true(fd >= 0);
  assert_int_equal(read_full_at(fd, rec, e->len, e->off), 0);
  uint32_t c = htole32(crc32c(crc32c(0, rec, 48), rec + PACK_REC_HDR, e->len - PACK_REC_HDR));
  memcpy(rec + 48, &c, 4);
  assert_int_equal(write_full_at(fd, rec, e->len, e->off), 0);
  close(fd);
  free(rec);
}

struct get_arg {
  struct cas *cas;
  const struct obj *x;
  int r;
};

static void *get_thread(void *p)
{
  struct get_arg *g = p;
  uint8_t buf[CH];
  size_t len;
  g->r = cas_get(g->cas, CAS_CHUNK, &g->x->a, buf, sizeof buf, &len);
  return NULL;
}

/* Not served (-EIO; a record whose address field changed no longer holds
 * x: -ENOENT), and named by verify.  Read by a new thread: this one's cache
 * of groups still holds the group as it was checked before the flip. */
static void expect_damaged(struct cas *cas, const struct obj *x, int err)
{
  struct get_arg g = {.cas = cas, .x = x};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, get_thread, &g), 0);
  pthread_join(t, NULL);
  assert_int_equal(g.r, err);
  struct cas_verify_report rep;
  assert_int_equal(cas_verify(cas, NULL, 0, NULL, NULL, &rep), 0);
  assert_true(rep.bad_records >= 1);
  bool named = false;
  for (size_t i = 0; i < rep.n_damage; i++)
    named |= memcmp(rep.damage[i].addr.b, x->a.b, CAS_ADDR_LEN) == 0;
  assert_true(named);
  cas_verify_report_free(&rep);
}

static void repair_from(struct cas *dst, struct cas *src, const struct obj *x)
{
  uint8_t *rec = NULL;
  size_t cap = 0;
  uint32_t len;
  struct cas_record_info info;
  assert_int_equal(cas_record_export(src, &x->a, &rec, &cap, &len), 0);
  assert_int_equal(cas_record_repair(dst, rec, len, &info), 0);
  free(rec);
}

/* Invariant (9): a flipped bit anywhere in a sealed record (ciphertext,
 * header, domain id, salt, tag), with its CRC32C left wrong or recomputed,
 * and a truncation, are -EIO on read and reported by verify; a record
 * copied from a store of the same key repairs each. */
static void damage_detected_and_repaired(void **state)
{
  (void)state;
  char *d1 = tu_mkdtemp(), *d2 = tu_mkdtemp();
  struct cas *a = open_with(d1, tu_cas_key()), *b = open_with(d2, tu_cas_key());
  static struct obj o[N];
  put_objs(a, o, 21);
  put_objs(b, o, 21); /* the same content, the same addresses: the peer */
  assert_int_equal(cas_sync(a), 0);
  /* where to flip, from the record's start (e.len known below) */
  enum { CIPHER, RAWLEN, ADDR, DOMAIN, SALT, TAG, NPOS };
  for (int target = 0; target < 2; target++) { /* a plain record, a group member */
    const struct obj *x = &o[target ? PLAIN + 5 : 7];
    for (int pos = 0; pos < NPOS; pos++) {
      for (int fix_crc = 0; fix_crc < 2; fix_crc++) {
        if (target == 1 && pos == ADDR)
          continue; /* a group's address field is zero: covered by RAWLEN */
        struct idx_ent e;
        entry_of(a, &x->a, &e);
        uint32_t at[NPOS] = {PACK_REC_HDR + PACK_SEAL_PRE + 40, 9, 20, PACK_REC_HDR + 3, PACK_REC_HDR + 20,
                             e.len - 5};
        char *path = pack_file(a, e.pack);
        tu_flip(path, e.off + at[pos]);
        if (fix_crc)
          recrc(path, &e);
        expect_damaged(a, x, pos == ADDR && fix_crc ? -ENOENT : -EIO);
        repair_from(a, b, x);
        check_objs(a, o);
        free(path);
      }
    }
  }
  /* reopened before any GC rewrite: the index takes each repaired copy, not
   * the damaged one beside it in the same pack */
  assert_int_equal(cas_close(a), 0);
  a = open_with(d1, tu_cas_key());
  check_objs(a, o);
  cas_close(a);
  tu_rmrf(d1);
  /* truncation: a sealed pack cut inside its last record (a fresh store) */
  d1 = tu_mkdtemp();
  a = open_with(d1, tu_cas_key());
  put_objs(a, o, 21);
  const struct obj *last = &o[N - 1];
  uint32_t open_id;
  assert_int_equal(cas_rotate(a, &open_id), 0);
  struct idx_ent e;
  entry_of(a, &last->a, &e);
  char *path = pack_file(a, e.pack);
  assert_int_equal(cas_close(a), 0);
  assert_int_equal(truncate(path, e.off + e.len - 10), 0);
  free(path);
  a = open_with(d1, tu_cas_key());
  expect_damaged(a, last, -EIO);
  repair_from(a, b, last);
  check_objs(a, o);
  cas_close(a);
  cas_close(b);
  tu_rmrf(d1);
  tu_rmrf(d2);
}

static void copy_file(const char *from, const char *to)
{
  void *buf;
  size_t len;
  assert_int_equal(read_file(from, &buf, &len), 0);
  assert_int_equal(write_file_atomic(to, buf, len), 0);
  free(buf);
}

/* Invariant (9): a pack (and its index file) of another deployment's store,
 * or of a plaintext store, put into an encrypted store: its objects are
 * indexed but never served, verify reports every record, and its records
 * are refused by import, check and repair — nothing stored. */
static void foreign_pack_refused(void **state)
{
  (void)state;
  struct cas_key other;
  tu_other_key(&other);
  for (int kind = 0; kind < 2; kind++) { /* another key; plaintext */
    char *d1 = tu_mkdtemp(), *d2 = tu_mkdtemp();
    struct cas *c = open_with(d2, kind == 0 ? &other : NULL);
    static struct obj o[N];
    put_objs(c, o, 31 + kind);
    uint32_t sealed;
    assert_int_equal(cas_rotate(c, &sealed), 0);
    /* the records travel to a store of our key: refused */
    struct cas *a = open_with(d1, tu_cas_key());
    uint8_t *rec = NULL;
    size_t cap = 0;
    uint32_t len;
    struct cas_record_info info;
    uint8_t content[CH];
    for (int i = 0; i < N; i += 17) {
      assert_int_equal(cas_record_export(c, &o[i].a, &rec, &cap, &len), 0);
      assert_int_equal(cas_record_check(a, rec, len, &info, content, sizeof content), -EIO);
      assert_int_equal(cas_record_import(a, rec, len, &info, NULL), -EIO);
      assert_int_equal(cas_record_repair(a, rec, len, &info), -EIO);
      assert_false(cas_has(a, &o[i].a));
    }
    if (kind == 0) { /* and the reverse: a sealed record for a plaintext store */
      char *d3 = tu_mkdtemp();
      struct cas *p = open_with(d3, NULL);
      assert_int_equal(cas_record_check(p, rec, len, &info, NULL, 0), -EIO);
      assert_int_equal(cas_record_import(p, rec, len, &info, NULL), -EIO);
      assert_int_equal(cas_close(p), 0);
      tu_rmrf(d3);
    }
    free(rec);
    struct cas_stats st;
    assert_int_equal(cas_stats(a, &st), 0);
    assert_int_equal(st.objects, 0);
    assert_int_equal(cas_close(a), 0);
    /* the pack file itself moved in, with its index, as pack 0x100 */
    for (uint32_t id = 0; id < sealed; id++) {
      const char *pd = pack_dir_path(c->store);
      char *from = pack_path(pd, id, "pack"), *fidx = pack_path(pd, id, "idx");
      char *packdir = NULL;
      assert_true(asprintf(&packdir, "%s/packs", d1) > 0);
      char *to = pack_path(packdir, 0x100 + id, "pack"), *tidx = pack_path(packdir, 0x100 + id, "idx");
      copy_file(from, to);
      copy_file(fidx, tidx);
      free(from), free(fidx), free(to), free(tidx), free(packdir);
    }
    cas_close(c);
    a = open_with(d1, tu_cas_key());
    uint8_t buf[CH];
    size_t got;
    for (int i = 0; i < N; i++) {
      int r = cas_get(a, CAS_CHUNK, &o[i].a, buf, sizeof buf, &got);
      assert_true(r == -EIO || r == -ENOENT);
    }
    struct cas_verify_report rep;
    assert_int_equal(cas_verify(a, NULL, 0, NULL, NULL, &rep), 0);
    assert_true(rep.bad_records >= 1);
    assert_true(rep.n_damage >= 1);
    cas_verify_report_free(&rep);
    assert_int_equal(cas_close(a), 0);
    /* without the index files: the scan at open indexes nothing of them */
    for (uint32_t id = 0; id < sealed; id++) {
      char *packdir = NULL;
      assert_true(asprintf(&packdir, "%s/packs", d1) > 0);
      char *tidx = pack_path(packdir, 0x100 + id, "idx");
      unlink(tidx);
      free(tidx), free(packdir);
    }
    a = open_with(d1, tu_cas_key());
    for (int i = 0; i < N; i++)
      assert_false(cas_has(a, &o[i].a));
    assert_int_equal(cas_close(a), 0);
    tu_rmrf(d1);
    tu_rmrf(d2);
  }
}

/* ---- keys at open ---- */

struct snapshot {
  char *names[64];
  void *data[64];
  size_t len[64], n;
};

static void snap_take(const char *dir, struct snapshot *s)
{
  s->n = 0;
  const char *subs[] = {"", "/packs"};
  for (int k = 0; k < 2; k++) {
    char *d = NULL;
    assert_true(asprintf(&d, "%s%s", dir, subs[k]) > 0);
    DIR *dh = opendir(d);
    struct dirent *de;
    while (dh && (de = readdir(dh))) {
      if (de->d_name[0] == '.' || !strcmp(de->d_name, "packs"))
        continue;
      assert_true(s->n < 64);
      assert_true(asprintf(&s->names[s->n], "%s/%s", d, de->d_name) > 0);
      assert_int_equal(read_file(s->names[s->n], &s->data[s->n], &s->len[s->n]), 0);
      s->n++;
    }
    if (dh)
      closedir(dh);
    free(d);
  }
}

static void snap_same(const char *dir, struct snapshot *before)
{
  struct snapshot after;
  snap_take(dir, &after);
  assert_int_equal(after.n, before->n);
  for (size_t i = 0; i < after.n; i++) {
    size_t j = 0;
    while (j < before->n && strcmp(before->names[j], after.names[i]))
      j++;
    assert_true(j < before->n);
    assert_int_equal(after.len[i], before->len[j]);
    assert_memory_equal(after.data[i], before->data[j], after.len[i]);
    free(after.names[i]);
    free(after.data[i]);
  }
}

static void snap_free(struct snapshot *s)
{
  for (size_t i = 0; i < s->n; i++) {
    free(s->names[i]);
    free(s->data[i]);
  }
}

static int try_open(const char *dir, const struct cas_key *key, bool ro)
{
  struct cas_options o = {.create = !ro, .read_only = ro, .key = key};
  struct cas *cas = NULL;
  int r = cas_open(dir, &o, &cas);
  if (r == 0)
    cas_close(cas);
  return r;
}

/* Invariant (10): a wrong key, no key, or a key for a plaintext store is
 * refused with its own error, writable or read-only, and no byte of the
 * store changes — not even the torn tail a real open would truncate. */
static void wrong_key_changes_nothing(void **state)
{
  (void)state;
  struct cas_key other, same_id;
  tu_other_key(&other);
  same_id = other;
  memcpy(same_id.id, tu_cas_key()->id, sizeof same_id.id); /* the domain's id, not its keys */
  char *d1 = tu_mkdtemp(), *d2 = tu_mkdtemp();
  static struct obj o[N], q[N]; /* the same content: keyed and plaintext addresses */
  struct cas *a = open_with(d1, tu_cas_key()), *p = open_with(d2, NULL);
  put_objs(a, o, 41);
  put_objs(p, q, 41);
  char *pa = pack_file(a, a->open->id), *pp = pack_file(p, p->open->id);
  assert_int_equal(cas_close(a), 0);
  assert_int_equal(cas_close(p), 0);
  int fd = open(pa, O_WRONLY | O_APPEND);
  assert_int_equal(write(fd, "torn", 4), 4);
  close(fd);
  struct snapshot s1, s2;
  snap_take(d1, &s1);
  snap_take(d2, &s2);
  for (int ro = 0; ro < 2; ro++) {
    assert_int_equal(try_open(d1, &other, ro), -EKEYREJECTED);
    assert_int_equal(try_open(d1, &same_id, ro), -EKEYREJECTED);
    assert_int_equal(try_open(d1, NULL, ro), -ENOKEY);
    assert_int_equal(try_open(d2, tu_cas_key(), ro), -EKEYREJECTED);
  }
  snap_same(d1, &s1);
  snap_same(d2, &s2);
  /* the right key opens both as before (and recovers the torn tail) */
  a = open_with(d1, tu_cas_key());
  p = open_with(d2, NULL);
  check_objs(a, o);
  check_objs(p, q);
  assert_int_equal(cas_close(a), 0);
  assert_int_equal(cas_close(p), 0);
  snap_free(&s1);
  snap_free(&s2);
  free(pa);
  free(pp);
  tu_rmrf(d1);
  tu_rmrf(d2);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(no_plaintext_at_rest),         cmocka_unit_test(keyed_addresses),
      cmocka_unit_test(damage_detected_and_repaired), cmocka_unit_test(foreign_pack_refused),
      cmocka_unit_test(wrong_key_changes_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
