/*
 * pack.c — pack record format, scanning and index files (see pack.h).
 *
 * Records are self-describing and individually checksummed, which gives the
 * recovery rules used by cas.c: a record is trusted only when its CRC32C
 * matches; a scan that meets garbage looks for the next valid record, so one
 * damaged record never hides the good ones after it; the bytes after the last
 * valid record of the open pack are a torn tail.  Index files are only a
 * cache of a pack's scan: they are written atomically after the pack has been
 * fsync'd, and when one is missing or damaged it is rebuilt from its pack.
 * The bytes of packs and index files are read and written through the pack
 * store (pack_store.h); this file only encodes and checks them.
 */
#include "cas/pack.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "common/cleanup.h"
#include "common/crc32c.h"

static void put32(uint8_t *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return le32toh(v); }

/* The header's first 48 bytes: what the CRC32C and the seal's tag cover. */
static void hdr_fields(const struct pack_rec *rec, uint8_t h[48])
{
  put32(h, PACK_REC_MAGIC);
  h[4] = rec->type;
  h[5] = rec->flags;
  h[6] = h[7] = 0;
  put32(h + 8, rec->raw_len);
  put32(h + 12, rec->stored_len);
  memcpy(h + 16, rec->addr.b, CAS_ADDR_LEN);
}

void pack_rec_encode(const struct pack_rec *rec, const void *payload, uint8_t h[PACK_REC_HDR])
{
  hdr_fields(rec, h);
  uint32_t c = crc32c(0, h, 48);
  put32(h + 48, crc32c(c, payload, rec->stored_len));
}

#define AAD_LEN (48 + CRYPT_ID_LEN)

static void seal_aad(struct cas_crypt *cc, const struct pack_rec *rec, uint8_t aad[AAD_LEN])
{
  hdr_fields(rec, aad);
  memcpy(aad + 48, crypt_domain(cc), CRYPT_ID_LEN);
}

int pack_rec_seal(struct cas_crypt *cc, struct pack_rec *rec, uint8_t *payload)
{
  rec->flags |= PACK_FLAG_SEALED;
  rec->stored_len = rec->body_len + PACK_SEAL_OVERHEAD;
  memcpy(payload, crypt_domain(cc), CRYPT_ID_LEN);
  crypt_salt(payload + CRYPT_ID_LEN);
  uint8_t aad[AAD_LEN];
  seal_aad(cc, rec, aad);
  struct crypt_op *op = crypt_begin(cc, payload + CRYPT_ID_LEN, true, aad, sizeof aad);
  if (!op)
    return -ENOMEM;
  uint8_t *body = payload + PACK_SEAL_PRE;
  crypt_update(op, body, body, rec->body_len);
  return crypt_end(cc, op, body + rec->body_len);
}

/* Starts opening a sealed record of cc's domain; NULL with *err set. */
static struct crypt_op *open_begin(struct cas_crypt *cc, const struct pack_rec *rec, const uint8_t *pre, int *err)
{
  *err = -EIO;
  if (!cc || !(rec->flags & PACK_FLAG_SEALED) || memcmp(pre, crypt_domain(cc), CRYPT_ID_LEN) != 0)
    return NULL;
  uint8_t aad[AAD_LEN];
  seal_aad(cc, rec, aad);
  struct crypt_op *op = crypt_begin(cc, pre + CRYPT_ID_LEN, false, aad, sizeof aad);
  if (!op)
    *err = -ENOMEM;
  return op;
}

int pack_rec_open(struct cas_crypt *cc, const struct pack_rec *rec, const uint8_t *payload, uint8_t *buf,
                  const uint8_t **body)
{
  if (!cc) {
    *body = payload;
    return rec->flags & PACK_FLAG_SEALED ? -EIO : 0;
  }
  int r;
  struct crypt_op *op = open_begin(cc, rec, payload, &r);
  if (!op)
    return r;
  crypt_update(op, payload + PACK_SEAL_PRE, buf, rec->body_len);
  *body = buf;
  return crypt_end(cc, op, (uint8_t *)payload + PACK_SEAL_PRE + rec->body_len);
}

int pack_rec_open_iov(struct cas_crypt *cc, const struct pack_rec *rec, const uint8_t *pre, const struct iovec *body,
                      int n, const uint8_t *tag)
{
  int r;
  struct crypt_op *op = open_begin(cc, rec, pre, &r);
  if (!op)
    return r;
  for (int i = 0; i < n; i++)
    crypt_update(op, body[i].iov_base, body[i].iov_base, body[i].iov_len);
  return crypt_end(cc, op, (uint8_t *)tag);
}

#define GROUP_TABLE_MAX (4u + PACK_GROUP_ENT * PACK_GROUP_MAX)

/* Header-only plausibility check, so a scan can skip garbage cheaply. */
static int rec_hdr_parse(const uint8_t *h, struct pack_rec *rec)
{
  if (get32(h) != PACK_REC_MAGIC || (h[4] != CAS_CHUNK && h[4] != CAS_NODE) ||
      (h[5] & ~(PACK_FLAG_ZSTD | PACK_FLAG_GROUP | PACK_FLAG_SEALED)) || h[6] || h[7])
    return -EIO;
  rec->type = h[4];
  rec->flags = h[5];
  rec->raw_len = get32(h + 8);
  rec->stored_len = get32(h + 12);
  memcpy(rec->addr.b, h + 16, CAS_ADDR_LEN);
  uint32_t seal = rec->flags & PACK_FLAG_SEALED ? PACK_SEAL_OVERHEAD : 0;
  rec->body_len = rec->stored_len - seal;
  if (rec->raw_len == 0 || rec->raw_len > CAS_MAX_OBJECT || rec->stored_len <= seal ||
      rec->body_len > ZSTD_compressBound(CAS_MAX_OBJECT) + GROUP_TABLE_MAX)
    return -EIO;
  if (rec->flags & PACK_FLAG_GROUP)
    return rec->type == CAS_CHUNK ? 0 : -EIO;
  if (!(rec->flags & PACK_FLAG_ZSTD) && rec->body_len != rec->raw_len)
    return -EIO;
  return 0;
}

int pack_rec_decode_iov(const struct iovec *iov, int n, struct pack_rec *rec)
{
  const uint8_t *h = iov[0].iov_base;
  size_t total = 0;
  for (int i = 0; i < n; i++)
    total += iov[i].iov_len;
  if (iov[0].iov_len < PACK_REC_HDR || rec_hdr_parse(h, rec) < 0 || total != PACK_REC_HDR + (size_t)rec->stored_len)
    return -EIO;
  uint32_t c = crc32c(crc32c(0, h, 48), h + PACK_REC_HDR, iov[0].iov_len - PACK_REC_HDR);
  for (int i = 1; i < n; i++)
    c = crc32c(c, iov[i].iov_base, iov[i].iov_len);
  return c == get32(h + 48) ? 0 : -EIO;
}

int pack_rec_decode(const void *buf, size_t len, struct pack_rec *rec)
{
  struct iovec iov = {(void *)buf, len};
  return pack_rec_decode_iov(&iov, 1, rec);
}

int pack_rec_content(struct cas_crypt *cc, const struct pack_rec *rec, const void *body, void *out, bool rehash)
{
  if (rec->flags & PACK_FLAG_GROUP)
    return -EIO;
  if (rec->flags & PACK_FLAG_ZSTD) {
    size_t n = ZSTD_decompress(out, rec->raw_len, body, rec->body_len);
    if (ZSTD_isError(n) || n != rec->raw_len)
      return -EIO;
  } else {
    memcpy(out, body, rec->raw_len);
  }
  if (!rehash)
    return 0;
  struct cas_addr a;
  crypt_addr(cc, rec->type, out, rec->raw_len, &a);
  return memcmp(a.b, rec->addr.b, CAS_ADDR_LEN) == 0 ? 0 : -EIO;
}

int pack_group_parse(const struct pack_rec *rec, const uint8_t *body, struct pack_member *m, unsigned *n_out,
                     const uint8_t **data_out, uint32_t *data_len_out)
{
  if (!(rec->flags & PACK_FLAG_GROUP) || rec->body_len < 4)
    return -EIO;
  uint32_t n = get32(body);
  if (n < 1 || n > PACK_GROUP_MAX || rec->body_len < 4 + PACK_GROUP_ENT * n)
    return -EIO;
  uint64_t off = 0;
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t *t = body + 4 + PACK_GROUP_ENT * i;
    memcpy(m[i].addr.b, t, CAS_ADDR_LEN);
    m[i].raw_len = get32(t + CAS_ADDR_LEN);
    m[i].off = (uint32_t)off;
    if (m[i].raw_len == 0)
      return -EIO;
    off += m[i].raw_len;
  }
  uint32_t table = 4 + PACK_GROUP_ENT * n;
  if (off != rec->raw_len || (!(rec->flags & PACK_FLAG_ZSTD) && rec->body_len - table != rec->raw_len))
    return -EIO;
  *n_out = n;
  *data_out = body + table;
  *data_len_out = rec->body_len - table;
  return 0;
}

int pack_group_content(const struct pack_rec *rec, const uint8_t *data, uint32_t data_len, void *out)
{
  if (!(rec->flags & PACK_FLAG_ZSTD)) {
    memcpy(out, data, rec->raw_len);
    return 0;
  }
  size_t n = ZSTD_decompress(out, rec->raw_len, data, data_len);
  return ZSTD_isError(n) || n != rec->raw_len ? -EIO : 0;
}

int pack_rec_objects(struct cas_crypt *cc, const struct pack_rec *rec, const uint8_t *body, uint32_t off,
                     uint32_t len, bool rehash, uint8_t *tmp, struct pack_idx_ent *out)
{
  struct pack_idx_ent base = {.off = off, .len = len, .type = rec->type, .flags = rec->flags};
  if (!(rec->flags & PACK_FLAG_GROUP)) {
    if (rehash && pack_rec_content(cc, rec, body, tmp, true) < 0)
      return -EIO;
    out[0] = base;
    out[0].addr = rec->addr;
    out[0].raw_len = rec->raw_len;
    return 1;
  }
  struct pack_member m[PACK_GROUP_MAX];
  unsigned n;
  const uint8_t *data;
  uint32_t data_len;
  if (pack_group_parse(rec, body, m, &n, &data, &data_len) < 0 ||
      (rehash && pack_group_content(rec, data, data_len, tmp) < 0))
    return -EIO;
  for (unsigned i = 0; i < n; i++) {
    if (rehash) {
      struct cas_addr a;
      crypt_addr(cc, CAS_CHUNK, tmp + m[i].off, m[i].raw_len, &a);
      if (memcmp(a.b, m[i].addr.b, CAS_ADDR_LEN) != 0)
        return -EIO;
    }
    out[i] = base;
    out[i].addr = m[i].addr;
    out[i].raw_len = m[i].raw_len;
    out[i].member = (uint8_t)(i + 1);
  }
  return (int)n;
}

static int off_cmp(const void *a, const void *b)
{
  const struct pack_idx_ent *x = *(const struct pack_idx_ent *const *)a, *y = *(const struct pack_idx_ent *const *)b;
  return x->off < y->off ? -1 : x->off > y->off;
}

int pack_idx_shares(const struct pack_idx_ent *e, size_t n, uint64_t *share)
{
  CLEANUP_FREE const struct pack_idx_ent **by_off = malloc((n ? n : 1) * sizeof *by_off);
  if (!by_off)
    return -ENOMEM;
  for (size_t i = 0; i < n; i++)
    by_off[i] = &e[i];
  qsort(by_off, n, sizeof *by_off, off_cmp);
  for (size_t i = 0; i < n;) {
    size_t j = i;
    uint64_t raw = 0;
    for (; j < n && by_off[j]->off == by_off[i]->off; j++)
      raw += by_off[j]->raw_len;
    for (size_t k = i; k < j; k++)
      share[by_off[k] - e] = raw ? (uint64_t)by_off[k]->len * by_off[k]->raw_len / raw : by_off[k]->len;
    i = j;
  }
  return 0;
}

void pack_hdr_encode(uint8_t h[PACK_HDR_SIZE], uint32_t version)
{
  memset(h, 0, PACK_HDR_SIZE);
  memcpy(h, PACK_FILE_MAGIC, 8);
  put32(h + 8, version);
}

int pack_hdr_check(struct pack_obj *h, uint32_t version)
{
  uint8_t want[PACK_HDR_SIZE], got[PACK_HDR_SIZE];
  pack_hdr_encode(want, version);
  int r = pack_obj_read(h, got, sizeof got, 0); /* -EIO when short */
  if (r < 0)
    return r;
  return memcmp(got, want, sizeof got) == 0 ? 0 : -EIO;
}

int pack_create(struct cas_pack_store *s, uint32_t id, uint32_t version, struct pack_obj **out)
{
  uint8_t h[PACK_HDR_SIZE];
  pack_hdr_encode(h, version);
  return s->ops->create(s, id, h, sizeof h, out);
}

/* Reads the pack in large windows; records never straddle a refill because
 * the window is refilled whenever less than one maximal record remains. */
#define SCAN_WINDOW (16u << 20)

struct scan_buf {
  struct pack_obj *h;
  uint64_t size, base; /* file offset of buf[0] */
  size_t have;
  uint8_t *buf;
  size_t cap;
  struct cas_crypt *cc;
  uint8_t *open;       /* sealed bodies decrypted (the window keeps the ciphertext) */
};

static int scan_fill(struct scan_buf *s, uint64_t off, size_t need)
{
  if (off >= s->base && off + need <= s->base + s->have)
    return 0;
  size_t want = s->cap;
  if (off + want > s->size)
    want = (size_t)(s->size - off);
  int r = pack_obj_read(s->h, s->buf, want, off);
  if (r < 0)
    return r;
  s->base = off;
  s->have = want;
  return off + need <= s->base + s->have ? 0 : -ENODATA;
}

/* Tries to take a valid record at off (its body in *body); returns 1, or 0 if none. */
static int scan_try(struct scan_buf *s, uint64_t off, bool full, uint8_t *tmp, struct pack_rec *rec, uint32_t *len,
                    const uint8_t **body)
{
  int r = scan_fill(s, off, PACK_REC_HDR);
  if (r == -ENODATA)
    return 0;
  if (r < 0)
    return r;
  if (rec_hdr_parse(s->buf + (off - s->base), rec) < 0)
    return 0;
  uint64_t total = PACK_REC_HDR + (uint64_t)rec->stored_len;
  if (off + total > s->size)
    return 0;
  r = scan_fill(s, off, (size_t)total);
  if (r < 0)
    return r == -ENODATA ? 0 : r;
  const uint8_t *p = s->buf + (off - s->base);
  if (pack_rec_decode(p, (size_t)total, rec) < 0)
    return 0;
  r = pack_rec_open(s->cc, rec, p + PACK_REC_HDR, s->open, body);
  if (r == -ENOMEM)
    return r;
  if (r < 0)
    return 0;
  struct pack_idx_ent objs[PACK_GROUP_MAX];
  if (full && pack_rec_objects(s->cc, rec, *body, (uint32_t)off, (uint32_t)total, true, tmp, objs) < 0)
    return 0;
  *len = (uint32_t)total;
  return 1;
}

int pack_scan(struct pack_obj *h, uint64_t file_size, struct cas_crypt *cc, bool full_check, pack_scan_fn fn, void *ctx,
              uint64_t *end_out, uint64_t *bad_out)
{
  size_t body_max = ZSTD_compressBound(CAS_MAX_OBJECT) + GROUP_TABLE_MAX;
  size_t cap = SCAN_WINDOW + PACK_REC_HDR + PACK_SEAL_OVERHEAD + body_max;
  if (cap > file_size) /* a window from any offset to the end of the file fits */
    cap = file_size > 0 ? (size_t)file_size : 1;
  CLEANUP_FREE uint8_t *buf = malloc(cap);
  CLEANUP_FREE uint8_t *tmp = full_check ? malloc(CAS_MAX_OBJECT) : NULL;
  CLEANUP_FREE uint8_t *open = cc ? malloc(body_max) : NULL;
  if (!buf || (full_check && !tmp) || (cc && !open))
    return -ENOMEM;
  struct scan_buf s = {.h = h, .size = file_size, .buf = buf, .cap = cap, .cc = cc, .open = open};
  uint64_t off = PACK_HDR_SIZE, end = PACK_HDR_SIZE, bad = 0;
  bool in_bad = false;
  int ret = 0;
  while (off + PACK_REC_HDR <= file_size) {
    struct pack_rec rec;
    uint32_t len = 0;
    const uint8_t *body = NULL;
    int r = scan_try(&s, off, full_check, tmp, &rec, &len, &body);
    if (r < 0) {
      ret = r;
      goto out;
    }
    if (r == 0) {
      if (!in_bad)
        bad++;
      in_bad = true;
      off++;
      continue;
    }
    in_bad = false;
    if (fn && (ret = fn(ctx, &rec, body, (uint32_t)off, len)) != 0)
      goto out;
    off += len;
    end = off;
  }
out:
  /* A bad region that runs to the end of the file is the torn tail, not damage. */
  if (in_bad && bad > 0)
    bad--;
  if (end_out)
    *end_out = end;
  if (bad_out)
    *bad_out = bad;
  return ret;
}

static int idx_cmp(const void *a, const void *b)
{
  return memcmp(((const struct pack_idx_ent *)a)->addr.b, ((const struct pack_idx_ent *)b)->addr.b, CAS_ADDR_LEN);
}

int pack_idx_write(struct cas_pack_store *s, uint32_t id, struct pack_idx_ent *ents, size_t n)
{
  if (n > 1)
    qsort(ents, n, sizeof *ents, idx_cmp);
  size_t len = 16 + n * sizeof *ents + 4;
  CLEANUP_FREE uint8_t *buf = malloc(len);
  if (!buf)
    return -ENOMEM;
  memcpy(buf, PACK_IDX_MAGIC, 8);
  put32(buf + 8, (uint32_t)n);
  put32(buf + 12, 0);
  for (size_t i = 0; i < n; i++) {
    struct pack_idx_ent e = ents[i];
    e.off = htole32(e.off);
    e.len = htole32(e.len);
    e.raw_len = htole32(e.raw_len);
    memcpy(buf + 16 + i * sizeof e, &e, sizeof e);
  }
  put32(buf + len - 4, crc32c(0, buf, len - 4));
  return s->ops->idx_put(s, id, buf, len);
}

int pack_idx_read(struct cas_pack_store *s, uint32_t id, struct pack_idx_ent **out, size_t *n_out)
{
  CLEANUP_FREE uint8_t *buf = NULL;
  size_t len;
  int r = s->ops->idx_get(s, id, (void **)&buf, &len);
  if (r < 0)
    return r;
  if (len < 20 || memcmp(buf, PACK_IDX_MAGIC, 8) != 0 || crc32c(0, buf, len - 4) != get32(buf + len - 4))
    return -EIO;
  size_t n = get32(buf + 8);
  if (len != 16 + n * sizeof(struct pack_idx_ent) + 4)
    return -EIO;
  struct pack_idx_ent *e = malloc(n ? n * sizeof *e : 1);
  if (!e)
    return -ENOMEM;
  memcpy(e, buf + 16, n * sizeof *e);
  for (size_t i = 0; i < n; i++) {
    e[i].off = le32toh(e[i].off);
    e[i].len = le32toh(e[i].len);
    e[i].raw_len = le32toh(e[i].raw_len);
  }
  *out = e;
  *n_out = n;
  return 0;
}
