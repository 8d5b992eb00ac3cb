/*
 * fuzz_pack.c — a chunk store's files as cas_open finds them on disk: its
 * config, pack files of records and their index files, in format 2 (sealed
 * under a fixed test key) or format 1 (the legacy plaintext store the
 * upgrade still reads); and one record as a peer sends it.
 *
 * Input: byte 0 holds flags, the rest is cut at FUZZ_SEP into parts:
 *   part 0           the config ("" = the one the store was created with)
 *   part 2k+1, 2k+2  packs/<k>.pack (k from 0) and its .idx ("" = none)
 * flags: bit 0 encrypted (the fixed key), bit 1 read-only open, bit 2 the
 * checksums fixed up (each record's CRC32C and each index file's, so the
 * checks behind them are reached), bit 3 a GC after the reads, bit 4 record
 * mode: everything after byte 0 is one record, checked (cas_record_check)
 * and imported into an empty store.
 * After the open: stats, every address the files name read (cas_get with
 * the record's type, cas_record_export), verify with all of them as roots,
 * a chunk put and synced when writable, close, and a second open (recovery
 * must accept what recovery left).  Any outcome but a sanitizer report is
 * fine: damage is -EIO, never a crash or a read out of bounds.
 */
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cas/cas.h"
#include "common/crc32c.h"
#include "support.h"

#define MAX_PARTS 9 /* the config and four packs */
#define MAX_ADDRS 64
#define REC_MAGIC 0x43455256u /* 'VREC' (cas/pack.h) */
#define REC_HDR 52u
#define IDX_HDR 16u
#define IDX_ENT 48u

static const char *scratch;
static char store[4200];
static struct cas_key key;
static char *config[2]; /* plaintext, encrypted: what cas_open created */
static size_t config_len[2];
static uint8_t *buf;

static uint32_t get32(const uint8_t *p)
{
  uint32_t v;
  memcpy(&v, p, 4);
  return le32toh(v);
}

static void put32(uint8_t *p, uint32_t v)
{
  v = htole32(v);
  memcpy(p, &v, 4);
}

static char *slurp(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  char *s = f ? calloc(1, 4096) : NULL;
  *len = s ? fread(s, 1, 4095, f) : 0;
  if (f)
    fclose(f);
  return s;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc, (void)argv;
  fuzz_quiet();
  for (size_t i = 0; i < sizeof key; i++)
    ((uint8_t *)&key)[i] = (uint8_t)(0xA5 ^ (i * 29));
  scratch = fuzz_tempdir("pack");
  snprintf(store, sizeof store, "%s/store", scratch);
  for (int enc = 0; enc < 2; enc++) {
    struct cas_options o = {.create = true, .key = enc ? &key : NULL};
    struct cas *cas;
    char path[4300];
    if (cas_open(store, &o, &cas) < 0 || cas_close(cas) < 0)
      abort();
    snprintf(path, sizeof path, "%s/config", store);
    config[enc] = slurp(path, &config_len[enc]);
    fuzz_remove_tree(store);
  }
  buf = malloc(CAS_MAX_OBJECT);
  return buf ? 0 : -1;
}

/* Each record's CRC32C made right, wherever a record magic stands. */
static void fix_records(uint8_t *p, size_t len)
{
  for (size_t o = 0; o + REC_HDR <= len; o++) {
    if (get32(p + o) != REC_MAGIC)
      continue;
    uint32_t stored = get32(p + o + 12);
    if (stored > len - o - REC_HDR)
      continue;
    put32(p + o + 48, crc32c(crc32c(0, p + o, 48), p + o + REC_HDR, stored));
  }
}

struct found {
  struct cas_addr a[MAX_ADDRS];
  uint8_t type[MAX_ADDRS];
  size_t n;
};

static void note(struct found *f, const uint8_t *addr, uint8_t type)
{
  if (f->n < MAX_ADDRS) {
    memcpy(f->a[f->n].b, addr, CAS_ADDR_LEN);
    f->type[f->n++] = type;
  }
}

/* Writes pack or index file k from part (a copy, fixed up when asked),
 * noting the addresses it names. */
static void write_part(const struct fuzz_part *part, unsigned k, bool idx, bool fix, struct found *f)
{
  uint8_t *p = malloc(part->len ? part->len : 1);
  if (!p)
    abort();
  memcpy(p, part->p, part->len);
  if (idx) {
    if (fix && part->len >= 4)
      put32(p + part->len - 4, crc32c(0, p, part->len - 4));
    for (size_t o = IDX_HDR; o + IDX_ENT <= part->len; o += IDX_ENT)
      note(f, p + o, p[o + 44]);
  } else {
    if (fix)
      fix_records(p, part->len);
    for (size_t o = 0; o + REC_HDR <= part->len; o++)
      if (get32(p + o) == REC_MAGIC)
        note(f, p + o + 16, p[o + 4]);
  }
  char name[32];
  snprintf(name, sizeof name, "packs/%08x.%s", k, idx ? "idx" : "pack");
  fuzz_write_file(store, name, p, part->len);
  free(p);
}

static struct found *roots_of;
static int gc_roots(void *ctx, struct cas_addr **out, size_t *n)
{
  (void)ctx;
  *out = malloc((roots_of->n + 1) * sizeof **out);
  if (!*out)
    return -ENOMEM;
  memcpy(*out, roots_of->a, roots_of->n * sizeof **out);
  *n = roots_of->n;
  return 0;
}

static void use_store(struct cas *cas, struct found *f, bool writable, bool gc)
{
  struct cas_stats st;
  cas_stats(cas, &st);
  uint8_t *rec = NULL;
  size_t cap = 0;
  for (size_t i = 0; i < f->n; i++) {
    size_t len;
    enum cas_type t = f->type[i] == CAS_NODE ? CAS_NODE : CAS_CHUNK;
    cas_get(cas, t, &f->a[i], buf, CAS_MAX_OBJECT, &len);
    uint32_t rl;
    uint64_t k;
    cas_record_key(cas, &f->a[i], &k);
    cas_record_export(cas, &f->a[i], &rec, &cap, &rl);
  }
  free(rec);
  struct cas_verify_report rep;
  if (cas_verify(cas, f->a, f->n, NULL, NULL, &rep) == 0)
    cas_verify_report_free(&rep);
  if (!writable)
    return;
  static const char chunk[] = "a chunk written after recovery";
  struct cas_addr a;
  cas_put(cas, CAS_CHUNK, chunk, sizeof chunk, &a, NULL);
  cas_sync(cas);
  if (gc) {
    struct cas_gc_stats gs;
    roots_of = f;
    cas_gc(cas, gc_roots, NULL, NULL, &gs);
  }
}

static void record_mode(const uint8_t *data, size_t len, bool enc)
{
  struct cas_options o = {.create = true, .key = enc ? &key : NULL};
  struct cas *cas;
  if (cas_open(store, &o, &cas) < 0)
    abort(); /* an empty store must open */
  struct cas_record_info info;
  if (cas_record_check(cas, data, len, &info, buf, CAS_MAX_OBJECT) == 0) {
    uint64_t stored = 0;
    if (cas_record_import(cas, data, len, &info, &stored) < 0)
      abort(); /* a record that checks must import */
    for (unsigned i = 0; i < info.n; i++) {
      size_t got;
      if (cas_get(cas, info.type, &info.addrs[i], buf, CAS_MAX_OBJECT, &got) < 0)
        abort(); /* and read back */
    }
  }
  cas_close(cas);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  uint8_t flags = data[0];
  bool enc = flags & 1, ro = flags & 2, fix = flags & 4, gc = flags & 8;
  fuzz_remove_tree(store);
  if (flags & 16) {
    record_mode(data + 1, size - 1, enc);
    fuzz_remove_tree(store);
    return 0;
  }
  char packs[4300];
  snprintf(packs, sizeof packs, "%s/packs", store);
  if (mkdir(store, 0700) < 0 || mkdir(packs, 0700) < 0)
    abort();
  struct fuzz_part parts[MAX_PARTS];
  size_t n = fuzz_split(data + 1, size - 1, parts, MAX_PARTS);
  if (parts[0].len)
    fuzz_write_file(store, "config", parts[0].p, parts[0].len);
  else
    fuzz_write_file(store, "config", config[enc], config_len[enc]);
  struct found f = {.n = 0};
  for (size_t i = 1; i < n; i++)
    if (parts[i].len || i % 2 == 1) /* a pack, even empty; an index only when given */
      write_part(&parts[i], (unsigned)(i - 1) / 2, i % 2 == 0, fix, &f);
  for (int round = 0; round < 2; round++) {
    struct cas_options o = {.key = enc ? &key : NULL, .read_only = ro};
    struct cas *cas;
    if (cas_open(store, &o, &cas) < 0) {
      if (round == 1 && !ro)
        abort(); /* what a writable open recovered must open again */
      break;
    }
    use_store(cas, &f, !ro, gc && round == 0);
    cas_close(cas);
  }
  fuzz_remove_tree(store);
  return 0;
}
