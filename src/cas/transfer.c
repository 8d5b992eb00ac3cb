/*
 * transfer.c — records as stored, for copies between stores (cas.h).
 *
 * Export reads the record an index entry points at and checks its CRC32C,
 * nothing more: the sender spends no CPU on decryption or decompression.
 * Import trusts nothing it receives: the record's framing and CRC32C, its
 * seal opened with the receiving store's key (an encrypted store takes only
 * records of its own key domain, a plaintext store only plaintext ones), then
 * the content decompressed and every object re-hashed with the receiver's
 * address function (pack_rec_objects with rehash), and only then is the record appended
 * verbatim, under the same rules as a GC move (cas_append_record): objects the
 * store already holds are not republished.  A group of which the store holds
 * some members is still appended whole; its duplicate bytes are dead and a
 * later GC rewrite reclaims them.  A repair publishes every object of the
 * record, moving the index off a damaged copy.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cas/cas_int.h"
#include "common/cleanup.h"

static bool locate(struct cas *cas, const struct cas_addr *addr, struct idx_ent *e)
{
  pthread_rwlock_rdlock(&cas->idx_lock);
  bool found = index_lookup(&cas->idx, addr, e);
  pthread_rwlock_unlock(&cas->idx_lock);
  return found;
}

int cas_record_key(struct cas *cas, const struct cas_addr *addr, uint64_t *key)
{
  struct idx_ent e;
  if (!locate(cas, addr, &e))
    return -ENOENT;
  *key = (uint64_t)e.pack << 32 | e.off;
  return 0;
}

int cas_record_export(struct cas *cas, const struct cas_addr *addr, uint8_t **buf, size_t *cap, uint32_t *len)
{
  struct idx_ent e;
  if (!locate(cas, addr, &e))
    return -ENOENT;
  e.len = idx_rec_len(&e);
  struct pack_rec pr;
  int r = cas_read_record_into(cas, &e, buf, cap, &pr);
  if (r == 0)
    *len = e.len;
  return r;
}

/* Checks rec and fills ents (PACK_GROUP_MAX) and info; returns the count. */
static int check(struct cas *cas, const void *rec, size_t len, struct pack_idx_ent *ents, struct cas_record_info *info,
                 void *content, size_t cap)
{
  struct pack_rec pr;
  if (len < PACK_REC_HDR ||
      len > PACK_REC_HDR + PACK_SEAL_OVERHEAD + CAS_MAX_OBJECT + 4 + PACK_GROUP_ENT * PACK_GROUP_MAX ||
      pack_rec_decode(rec, len, &pr) < 0 || pr.raw_len > CAS_MAX_OBJECT ||
      (pr.type != CAS_CHUNK && pr.type != CAS_NODE) || ((pr.flags & PACK_FLAG_GROUP) && pr.type != CAS_CHUNK))
    return -EIO;
  CLEANUP_FREE uint8_t *tmp = malloc(pr.raw_len ? pr.raw_len : 1);
  CLEANUP_FREE uint8_t *opened = cas->crypt ? malloc(pr.body_len) : NULL;
  if (!tmp || (cas->crypt && !opened))
    return -ENOMEM;
  const uint8_t *body;
  int n = pack_rec_open(cas->crypt, &pr, (const uint8_t *)rec + PACK_REC_HDR, opened, &body);
  if (n == 0)
    n = pack_rec_objects(cas->crypt, &pr, body, 0, (uint32_t)len, true, tmp, ents);
  if (n < 0)
    return n == -ENOMEM ? n : -EIO;
  info->type = pr.type;
  info->n = (unsigned)n;
  info->raw_len = pr.raw_len;
  for (int i = 0; i < n; i++)
    info->addrs[i] = ents[i].addr;
  if (content && !(pr.flags & PACK_FLAG_GROUP)) {
    if (cap < pr.raw_len)
      return -ENOSPC;
    memcpy(content, tmp, pr.raw_len);
  }
  return n;
}

int cas_record_check(struct cas *cas, const void *rec, size_t len, struct cas_record_info *info, void *content,
                     size_t cap)
{
  struct pack_idx_ent ents[PACK_GROUP_MAX];
  int n = check(cas, rec, len, ents, info, content, cap);
  return n < 0 ? n : 0;
}

static int import(struct cas *cas, const void *rec, size_t len, struct cas_record_info *info, uint64_t *stored_bytes,
                  uint32_t mode)
{
  if (cas->read_only)
    return -EROFS;
  struct pack_idx_ent ents[PACK_GROUP_MAX];
  int n = check(cas, rec, len, ents, info, NULL, 0);
  if (n < 0)
    return n;
  size_t published = 0;
  int r = cas_append_record(cas, rec, (uint32_t)len, ents, (size_t)n, mode, &published);
  if (r == 0 && stored_bytes && published)
    *stored_bytes += len;
  return r;
}

int cas_record_import(struct cas *cas, const void *rec, size_t len, struct cas_record_info *info,
                      uint64_t *stored_bytes)
{
  return import(cas, rec, len, info, stored_bytes, UINT32_MAX);
}

int cas_record_repair(struct cas *cas, const void *rec, size_t len, struct cas_record_info *info)
{
  return import(cas, rec, len, info, NULL, CAS_PUBLISH_ALL);
}
