/*
 * put.c — writing objects: cas_put, pack sealing, cas_sync.
 *
 * A put hashes, compresses and (in an encrypted store) seals outside any
 * lock (so all cores work in parallel), then appends under write_lock: re-check the index (another
 * thread may have stored the same object meanwhile), append the record at the
 * end of the open pack (pack_store.h: a pwrite in the dir back end), and only
 * then publish it in the index, so a reader never finds an entry whose bytes
 * are not there yet.  When the open pack
 * reaches its target size the putting thread switches to a new pack under the
 * lock and seals the old one outside it (sync SEAL, then put its .idx:
 * invariant (1)); cas_sync waits for such seals.  Every 8 MiB the open pack's
 * new bytes are handed to writeback (the WRITEBACK hint: sync_file_range in
 * the dir back end), so fsyncs stay short.
 *
 * A pack that took records appended verbatim (a peer's copy, a GC move) is
 * dropped from the page cache once sealed: nobody is about to read it, and
 * gigabytes of it would push the live volumes' pages out.  On a VM the page
 * cache growing into memory the host has not backed yet also costs about 12x
 * the write itself (1.7 GB: 5.2 s of system time instead of 0.45 s, measured
 * here), which was half of a full copy's target CPU.  Captured packs keep
 * their pages: a restore or a SAS read of a new restore point often follows.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <endian.h>
#include <zstd.h>

#include "cas/cas_int.h"
#include "cas/crypt.h"
#include "cas/zpool.h"
#include "common/bytes.h"
#include "common/cleanup.h"
#include "common/log.h"

#define WRITEBACK_STEP (8u << 20)

void cas_record(struct cas *cas, const struct cas_addr *a, uint8_t type)
{
  LOCK_GUARD(&cas->rec_lock);
  if (!cas->holds && !cas->gc_running)
    return;
  if (cas->n_rec == cas->cap_rec) {
    size_t n = cas->cap_rec ? 2 * cas->cap_rec : 1024;
    struct rec_item *nr = realloc(cas->rec, n * sizeof *nr);
    if (!nr) {
      /* Cannot record: make the running or next GC keep everything. */
      log_error("cas", "out of memory recording a put for GC");
      abort();
    }
    cas->rec = nr;
    cas->cap_rec = n;
  }
  cas->rec[cas->n_rec].addr = *a;
  cas->rec[cas->n_rec].type = type;
  cas->n_rec++;
}

static bool lookup(struct cas *cas, const struct cas_addr *a, struct idx_ent *e)
{
  pthread_rwlock_rdlock(&cas->idx_lock);
  bool f = index_lookup(&cas->idx, a, e);
  pthread_rwlock_unlock(&cas->idx_lock);
  return f;
}

/* Seals a pack that is no longer open (invariant 1): fsync, then index file.
 * A failed fsync stops every write (the pack's bytes may not be on disk); an
 * index file that cannot be written (a full disk) does not: the pack is
 * durable and an index file is a cache (invariant 3), so the pack keeps its
 * entries in memory, unsealed, like the open pack, until the next open
 * rebuilds its index file.  The entries go under write_lock: stats and
 * verify read an unsealed pack's there. */
static void seal(struct cas *cas, struct pack *p)
{
  int r = p->obj->ops->sync(p->obj, PACK_SYNC_SEAL);
  if (r == 0 && p->cold) /* clean now: dropping its pages loses nothing */
    p->obj->ops->hint(p->obj, PACK_HINT_DONTNEED, 0, 0);
  int ir = r == 0 ? pack_idx_write(cas->store, p->id, p->ents, p->n_ents) : 0;
  if (r < 0)
    log_error("cas", "sealing pack %08x failed: %s; refusing further writes", p->id, strerror(-r));
  else if (ir < 0)
    log_warn("cas", "pack %08x: its index file could not be written (%s); it is rebuilt at the next open", p->id,
             strerror(-ir));
  LOCK_GUARD(&cas->write_lock);
  p->sealed = r == 0 && ir == 0;
  if (p->sealed) {
    free(p->ents);
    p->ents = NULL;
    p->n_ents = p->cap_ents = 0;
  }
  if (r < 0)
    cas->sticky_error = -EIO;
  cas->sealing--;
  pthread_cond_broadcast(&cas->seal_cond);
  cas_pack_unref(p);
}

/* Under write_lock: opens a new pack; returns the old one (a reference the
 * caller passes to seal()) or NULL if switching failed. */
static struct pack *switch_pack(struct cas *cas)
{
  struct pack *np;
  int r = cas_new_open_pack(cas, &np);
  if (r < 0) {
    log_warn("cas", "cannot start a new pack (%s); the open pack keeps growing", strerror(-r));
    return NULL;
  }
  struct pack *old = cas->open;
  atomic_fetch_add(&old->refs, 1);
  cas->open = np;
  cas->unsynced_from = np->size;
  cas->sealing++;
  return old;
}

/* Under write_lock: appends one encoded record holding the objects ents[0..n)
 * (their off and len are filled in) and publishes them. */
static int append_locked(struct cas *cas, const uint8_t *rec, uint32_t len, struct pack_idx_ent *ents, size_t n,
                         struct pack **to_seal)
{
  struct pack *p = cas->open;
  if (p->size + len > UINT32_MAX)
    return -EFBIG;
  uint32_t off = (uint32_t)p->size;
  struct iovec v = {(void *)rec, len};
  int r = p->obj->ops->append(p->obj, &v, 1, off);
  if (r < 0) { /* part of it may be in the pack (a full disk): cut it, a pack ends at its last record */
    int tr = p->obj->ops->truncate(p->obj, off);
    if (tr < 0) {
      log_error("cas", "pack %08x: cannot cut a failed append (%s); refusing further writes", p->id, strerror(-tr));
      cas->sticky_error = -EIO;
    }
    return r;
  }
  p->size += len;
  for (size_t i = 0; i < n; i++) {
    ents[i].off = off;
    ents[i].len = len;
    if ((r = pack_ents_add(p, &ents[i])) < 0)
      return r;
    pthread_rwlock_wrlock(&cas->idx_lock);
    r = index_insert(&cas->idx, &ents[i].addr, p->id, off, idx_pack_len(len, ents[i].member));
    pthread_rwlock_unlock(&cas->idx_lock);
    if (r < 0)
      return r;
    cas_record(cas, &ents[i].addr, ents[i].type);
  }
  if (p->size - cas->unsynced_from >= WRITEBACK_STEP) {
    p->obj->ops->hint(p->obj, PACK_HINT_WRITEBACK, cas->unsynced_from, p->size - cas->unsynced_from);
    cas->unsynced_from = p->size;
  }
  if (p->size >= cas->pack_target)
    *to_seal = switch_pack(cas);
  return 0;
}

static struct pack_idx_ent rec_ent(const struct pack_rec *pr)
{
  return (struct pack_idx_ent){.addr = pr->addr, .raw_len = pr->raw_len, .type = pr->type, .flags = pr->flags};
}

static int put_record(struct cas *cas, const uint8_t *rec, uint32_t len, const struct pack_rec *pr, bool *stored)
{
  struct pack *to_seal = NULL;
  int r = 0;
  *stored = false;
  {
    LOCK_GUARD(&cas->write_lock);
    struct idx_ent e;
    struct pack_idx_ent pe = rec_ent(pr);
    if (cas->sticky_error)
      r = cas->sticky_error;
    else if (lookup(cas, &pr->addr, &e))
      cas_record(cas, &pr->addr, pr->type);
    else if (!rec)
      r = -EAGAIN; /* GC removed it since the unlocked lookup: store it again */
    else if ((r = append_locked(cas, rec, len, &pe, 1, &to_seal)) == 0)
      *stored = true;
  }
  if (to_seal)
    seal(cas, to_seal);
  return r;
}

/* Under write_lock: keeps the objects of ents that are to be published in
 * this record — for a GC move those still in from_pack, otherwise those not
 * indexed yet (the others are only recorded for GC).  Returns how many. */
static size_t filter_locked(struct cas *cas, struct pack_idx_ent *ents, size_t n, uint32_t from_pack)
{
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    struct idx_ent e;
    bool found = lookup(cas, &ents[i].addr, &e);
    bool keep = from_pack == CAS_PUBLISH_ALL ? true : from_pack != UINT32_MAX ? found && e.pack == from_pack : !found;
    if (!keep && from_pack == UINT32_MAX)
      cas_record(cas, &ents[i].addr, ents[i].type);
    if (keep)
      ents[k++] = ents[i];
  }
  return k;
}

int cas_append_record(struct cas *cas, const uint8_t *rec, uint32_t len, struct pack_idx_ent *ents, size_t n,
                      uint32_t from_pack, size_t *published)
{
  struct pack *to_seal = NULL;
  int r = 0;
  {
    LOCK_GUARD(&cas->write_lock);
    if (cas->sticky_error)
      r = cas->sticky_error;
    else if ((n = filter_locked(cas, ents, n, from_pack)) > 0) {
      cas->open->cold = true; /* before append_locked may switch packs */
      r = append_locked(cas, rec, len, ents, n, &to_seal);
    }
  }
  if (to_seal)
    seal(cas, to_seal);
  if (published)
    *published = r == 0 ? n : 0;
  return r;
}

/* Where a record's body starts in its payload. */
static uint32_t seal_pre(const struct cas *cas) { return cas->crypt ? PACK_SEAL_PRE : 0; }

/* Turns buf (the header's room, then the payload with the body at
 * seal_pre) into a complete record: sealed in an encrypted store. */
static int finish(struct cas *cas, struct pack_rec *pr, uint8_t *buf)
{
  pr->stored_len = pr->body_len;
  int r = cas->crypt ? pack_rec_seal(cas->crypt, pr, buf + PACK_REC_HDR) : 0;
  if (r == 0)
    pack_rec_encode(pr, buf + PACK_REC_HDR, buf);
  return r;
}

int cas_put_group(struct cas *cas, struct pack_idx_ent *ents, unsigned n, const uint8_t *data, uint32_t from_pack,
                  uint64_t *stored_objs, uint64_t *stored_bytes)
{
  if (n < 1 || n > PACK_GROUP_MAX)
    return -EINVAL;
  size_t raw = 0;
  for (unsigned i = 0; i < n; i++)
    raw += ents[i].raw_len;
  if (raw > CAS_MAX_OBJECT)
    return -EINVAL;
  uint32_t table = 4 + PACK_GROUP_ENT * n, pre = seal_pre(cas);
  size_t bound = ZSTD_compressBound(raw);
  CLEANUP_FREE uint8_t *buf = malloc(PACK_REC_HDR + PACK_SEAL_OVERHEAD + table + (bound > raw ? bound : raw));
  if (!buf)
    return -ENOMEM;
  uint8_t *t = buf + PACK_REC_HDR + pre;
  uint32_t v = htole32(n);
  memcpy(t, &v, 4);
  for (unsigned i = 0; i < n; i++) {
    memcpy(t + 4 + PACK_GROUP_ENT * i, ents[i].addr.b, CAS_ADDR_LEN);
    v = htole32(ents[i].raw_len);
    memcpy(t + 4 + PACK_GROUP_ENT * i + CAS_ADDR_LEN, &v, 4);
  }
  struct pack_rec pr = {.type = CAS_CHUNK, .flags = PACK_FLAG_GROUP, .raw_len = (uint32_t)raw};
  ZSTD_CCtx *z = zpool_get(cas->zpool);
  if (!z)
    return -ENOMEM;
  size_t c = ZSTD_compress2(z, t + table, bound, data, raw);
  zpool_put(cas->zpool, z);
  if (!ZSTD_isError(c) && c < raw) {
    pr.flags |= PACK_FLAG_ZSTD;
    pr.body_len = table + (uint32_t)c;
  } else {
    memcpy(t + table, data, raw);
    pr.body_len = table + (uint32_t)raw;
  }
  int r = finish(cas, &pr, buf);
  if (r < 0)
    return r;
  for (unsigned i = 0; i < n; i++) {
    ents[i].type = CAS_CHUNK;
    ents[i].flags = pr.flags;
    ents[i].member = (uint8_t)(i + 1);
  }
  struct pack_idx_ent pub[PACK_GROUP_MAX];
  memcpy(pub, ents, n * sizeof *pub);
  struct pack *to_seal = NULL;
  size_t k = 0;
  {
    LOCK_GUARD(&cas->write_lock);
    if (cas->sticky_error)
      r = cas->sticky_error;
    else if ((k = filter_locked(cas, pub, n, from_pack)) > 0)
      r = append_locked(cas, buf, PACK_REC_HDR + pr.stored_len, pub, k, &to_seal);
  }
  if (to_seal)
    seal(cas, to_seal);
  if (r == 0) {
    for (size_t i = 0; i < k; i++) {
      if (stored_objs)
        ++*stored_objs;
      if (stored_bytes)
        *stored_bytes += pub[i].raw_len;
    }
  }
  return r;
}

int cas_put_known(struct cas *cas, enum cas_type type, const struct cas_addr *a, const void *data, size_t len,
                  bool *stored_out)
{
  bool stored = false;
  if (stored_out)
    *stored_out = false;
  if (cas->read_only)
    return -EROFS;
  struct idx_ent e;
  if (lookup(cas, a, &e)) {
    /* Confirm and record under write_lock, atomically with GC's commit. */
    int r = put_record(cas, NULL, 0, &(struct pack_rec){.addr = *a, .type = (uint8_t)type}, &stored);
    if (r != -EAGAIN)
      return r;
  }
  size_t bound = ZSTD_compressBound(len);
  CLEANUP_FREE uint8_t *buf = malloc(PACK_REC_HDR + PACK_SEAL_OVERHEAD + (bound > len ? bound : len));
  if (!buf)
    return -ENOMEM;
  uint8_t *body = buf + PACK_REC_HDR + seal_pre(cas);
  struct pack_rec pr = {.type = (uint8_t)type, .raw_len = (uint32_t)len, .addr = *a};
  ZSTD_CCtx *z = zpool_get(cas->zpool);
  if (!z)
    return -ENOMEM;
  size_t c = ZSTD_compress2(z, body, bound, data, len);
  zpool_put(cas->zpool, z);
  if (!ZSTD_isError(c) && c < len) {
    pr.flags = PACK_FLAG_ZSTD;
    pr.body_len = (uint32_t)c;
  } else {
    memcpy(body, data, len);
    pr.body_len = (uint32_t)len;
  }
  int r = finish(cas, &pr, buf);
  if (r == 0)
    r = put_record(cas, buf, PACK_REC_HDR + pr.stored_len, &pr, &stored);
  if (stored_out)
    *stored_out = stored;
  return r;
}

bool cas_all_zero(const void *data, size_t len)
{
  return len > 0 && bytes_zero(data, len);
}

int cas_put(struct cas *cas, enum cas_type type, const void *data, size_t len, struct cas_addr *addr_out,
            bool *stored_out)
{
  if ((type != CAS_CHUNK && type != CAS_NODE) || len == 0 || len > CAS_MAX_OBJECT ||
      (type == CAS_CHUNK && cas_all_zero(data, len)))
    return -EINVAL;
  cas_addr_of(cas, type, data, len, addr_out);
  return cas_put_known(cas, type, addr_out, data, len, stored_out);
}

int cas_put_addr(struct cas *cas, enum cas_type type, const struct cas_addr *addr, const void *data, size_t len)
{
  struct cas_addr a;
  int r = cas_put(cas, type, data, len, &a, NULL);
  if (r == 0 && memcmp(a.b, addr->b, CAS_ADDR_LEN) != 0)
    return -EIO;
  return r;
}

int cas_sync(struct cas *cas)
{
  if (cas->read_only)
    return 0;
  struct pack *p;
  {
    LOCK_GUARD(&cas->write_lock);
    while (cas->sealing > 0)
      pthread_cond_wait(&cas->seal_cond, &cas->write_lock);
    if (cas->sticky_error)
      return cas->sticky_error;
    p = cas->open;
    atomic_fetch_add(&p->refs, 1);
  }
  int r = p->obj->ops->sync(p->obj, PACK_SYNC_DATA);
  uint32_t id = p->id;
  cas_pack_unref(p);
  if (r < 0) {
    log_error("cas", "fsync of pack %08x failed: %s; refusing further writes", id, strerror(-r));
    LOCK_GUARD(&cas->write_lock);
    cas->sticky_error = -EIO;
    return -EIO;
  }
  return 0;
}

int cas_rotate(struct cas *cas, uint32_t *new_open_id)
{
  struct pack *to_seal = NULL;
  {
    LOCK_GUARD(&cas->write_lock);
    if (cas->sticky_error)
      return cas->sticky_error;
    if (cas->open->size > PACK_HDR_SIZE && !(to_seal = switch_pack(cas)))
      return -EIO;
  }
  if (to_seal)
    seal(cas, to_seal);
  LOCK_GUARD(&cas->write_lock);
  while (cas->sealing > 0)
    pthread_cond_wait(&cas->seal_cond, &cas->write_lock);
  *new_open_id = cas->open->id;
  return cas->sticky_error;
}
