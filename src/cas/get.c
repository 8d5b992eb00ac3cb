/*
 * get.c — reading objects.  The index lookup runs under the index read
 * lock; the record is then read (no lock held; pread in the dir back end,
 * pack_store.h) from a referenced pack and checked: CRC32C, type, full
 * address, and the re-hash of the content (invariant 5).  If GC removed the pack in between, the lookup is
 * retried (the object was moved) or fails with -ENOENT (it was garbage).
 *
 * In an encrypted store a record is opened (decrypted, its tag checked)
 * in the buffer it was read into, before anything of it is parsed.
 *
 * A member of a group record (pack.h) is read by decompressing the whole
 * group.  Readers go through a disk in order, so each thread keeps the last
 * few groups it decompressed (keyed by store instance, pack and offset: packs
 * are immutable and their ids never reused while a store is open) and the other
 * members of that group cost a copy.  The cache holds checked content only:
 * record CRC32C and the zstd frame checksum passed when it was filled; the
 * member's address is compared with the record's table on every read, and
 * re-hashed unless crc_reads.
 *
 * A reader that wants a whole group, members in order (a restore point's
 * chunks of one MiB of a disk), gets it without the cache (cas_get_group): a
 * raw group's content is read with one vectored read (preadv in the dir
 * back end) straight into the caller's buffer (header and member table into
 * a small one), a compressed group is decompressed straight into it; same
 * checks.  That saves the copy out of
 * the cache, a fresh buffer per record (page faults) and evicting groups an
 * interleaved reader still needs.  Anything unexpected falls back to the
 * cached path, which also reports damage.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "cas/cas_int.h"
#include "cas/crypt.h"
#include "common/cleanup.h"
#include "common/log.h"

int cas_read_record_into(struct cas *cas, const struct idx_ent *ent, uint8_t **buf, size_t *cap, struct pack_rec *pr)
{
  if (*cap < ent->len) {
    uint8_t *b = realloc(*buf, ent->len);
    if (!b)
      return -ENOMEM;
    *buf = b;
    *cap = ent->len;
  }
  struct pack *p = cas_pack_ref(cas, ent->pack);
  if (!p)
    return -ENOENT;
  int r = pack_obj_read(p->obj, *buf, ent->len, ent->off);
  cas_pack_unref(p);
  return r < 0 ? r : pack_rec_decode(*buf, ent->len, pr);
}

int cas_read_record(struct cas *cas, const struct idx_ent *ent, uint8_t **out, struct pack_rec *pr)
{
  uint8_t *buf = NULL;
  size_t cap = 0;
  int r = cas_read_record_into(cas, ent, &buf, &cap, pr);
  if (r < 0) {
    free(buf);
    return r;
  }
  *out = buf;
  return 0;
}

static bool lookup(struct cas *cas, const struct cas_addr *a, struct idx_ent *e)
{
  pthread_rwlock_rdlock(&cas->idx_lock);
  bool f = index_lookup(&cas->idx, a, e);
  pthread_rwlock_unlock(&cas->idx_lock);
  return f;
}

/* A few groups per thread: an incremental tree interleaves chunks of the
 * groups of several generations (v1's group for this MiB, v3's group of
 * changed chunks, ...), and with one slot each switch would decompress a
 * whole group again for one 64 KiB member. */
#define CACHE_SLOTS 4

struct group_slot {
  uint64_t instance; /* 0: empty */
  uint32_t pack, off;
  uint64_t used;     /* LRU stamp */
  unsigned n;
  struct pack_member m[PACK_GROUP_MAX];
  uint8_t *mem;        /* owned: the decompressed group, or a raw group's whole record */
  size_t cap;
  const uint8_t *data; /* the group's content, inside mem */
};

struct group_cache {
  uint64_t tick;
  struct group_slot s[CACHE_SLOTS];
  uint64_t pf_instance; /* the record cas_prefetch advised last */
  uint32_t pf_pack, pf_off;
  uint8_t *scratch;     /* cas_get_group's compressed records */
  size_t scratch_cap;
};

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_free(void *p)
{
  struct group_cache *c = p;
  for (unsigned i = 0; i < CACHE_SLOTS; i++)
    free(c->s[i].mem);
  free(c->scratch);
  free(c);
}

static void cache_key_init(void) { pthread_key_create(&cache_key, cache_free); }

static struct group_cache *thread_cache(void)
{
  pthread_once(&cache_once, cache_key_init);
  struct group_cache *c = pthread_getspecific(cache_key);
  if (!c && (c = calloc(1, sizeof *c)) && pthread_setspecific(cache_key, c) != 0) {
    free(c);
    c = NULL;
  }
  return c;
}

/* Fills c with the group record at e, checked (CRC32C, table, zstd checksum). */
static int cache_fill(struct cas *cas, struct group_slot *c, const struct idx_ent *e)
{
  CLEANUP_FREE uint8_t *rec = NULL;
  struct pack_rec pr;
  struct idx_ent re = *e;
  re.len = idx_rec_len(e);
  int r = cas_read_record(cas, &re, &rec, &pr);
  if (r < 0)
    return r;
  const uint8_t *data, *body;
  uint32_t data_len;
  unsigned n;
  c->instance = 0; /* invalid until filled */
  uint8_t *payload = rec + PACK_REC_HDR;
  if ((r = pack_rec_open(cas->crypt, &pr, payload, payload + PACK_SEAL_PRE, &body)) < 0 ||
      (r = pack_group_parse(&pr, body, c->m, &n, &data, &data_len)) < 0)
    return r;
  if (!(pr.flags & PACK_FLAG_ZSTD)) {
    /* A raw group (incompressible data) is used where it was read: no copy. */
    free(c->mem);
    c->mem = STEAL_PTR(rec);
    c->cap = re.len;
    c->data = data;
  } else {
    if (c->cap < pr.raw_len) {
      free(c->mem);
      c->cap = 0;
      if (!(c->mem = malloc(pr.raw_len)))
        return -ENOMEM;
      c->cap = pr.raw_len;
    }
    if ((r = pack_group_content(&pr, data, data_len, c->mem)) < 0)
      return r;
    c->data = c->mem;
  }
  c->n = n;
  c->pack = e->pack;
  c->off = e->off;
  c->instance = cas->instance;
  return 0;
}

/* The slot holding the group at e, filled on a miss into the least recently
 * used slot. */
static int cache_slot(struct cas *cas, struct group_cache *c, const struct idx_ent *e, struct group_slot **out)
{
  struct group_slot *victim = &c->s[0];
  for (unsigned i = 0; i < CACHE_SLOTS; i++) {
    struct group_slot *s = &c->s[i];
    if (s->instance == cas->instance && s->pack == e->pack && s->off == e->off) {
      victim = s;
      goto hit;
    }
    if (s->used < victim->used)
      victim = s;
  }
  int r = cache_fill(cas, victim, e);
  if (r < 0)
    return r;
hit:
  victim->used = ++c->tick;
  *out = victim;
  return 0;
}

/* A group member; -ENOENT when the index key matched another object,
 * -EAGAIN when its pack left the table since the lookup. */
static int get_member(struct cas *cas, enum cas_type type, const struct cas_addr *addr, const struct idx_ent *e,
                      void *buf, size_t cap, const void **view, size_t *len_out)
{
  struct group_cache *gc = thread_cache();
  struct group_slot *c;
  if (!gc)
    return -ENOMEM;
  int r = cache_slot(cas, gc, e, &c);
  if (r < 0)
    return r == -ENOENT ? -EAGAIN : r;
  unsigned k = idx_member(e) - 1;
  if (k >= c->n)
    return -EIO;
  const struct pack_member *m = &c->m[k];
  if (memcmp(m->addr.b, addr->b, CAS_ADDR_LEN) != 0)
    return -ENOENT;
  if (type != CAS_CHUNK)
    return -EIO;
  if (m->raw_len > cap)
    return -ENOSPC;
  const uint8_t *content = c->data + m->off;
  if (!cas->crc_reads) {
    struct cas_addr a;
    crypt_addr(cas->crypt, CAS_CHUNK, content, m->raw_len, &a);
    if (memcmp(a.b, addr->b, CAS_ADDR_LEN) != 0)
      return -EIO;
  }
  if (view)
    *view = content;
  else
    memcpy(buf, content, m->raw_len);
  *len_out = m->raw_len;
  return 0;
}

static void report_damage(const struct cas_addr *addr, const struct idx_ent *e, int r)
{
  char hex[2 * CAS_ADDR_LEN + 1];
  cas_addr_to_hex(addr, hex);
  log_error("cas", "object %s in pack %08x at %u is damaged: %s", hex, e->pack, e->off, strerror(-r));
}

static int get(struct cas *cas, enum cas_type type, const struct cas_addr *addr, void *buf, size_t cap,
               const void **view, size_t *len_out)
{
  if (cas_addr_is_zero(addr))
    return -EINVAL;
  struct idx_ent e;
  CLEANUP_FREE uint8_t *rec = NULL;
  struct pack_rec pr;
  int r = -ENOENT;
  /* A GC may move the object between lookup and read: look it up again. */
  for (int tries = 0; tries < 3 && r == -ENOENT; tries++) {
    if (!lookup(cas, addr, &e))
      return -ENOENT;
    if (idx_member(&e)) {
      r = get_member(cas, type, addr, &e, buf, cap, view, len_out);
      if (r == -EAGAIN) {
        r = -ENOENT; /* its pack was collected meanwhile */
        continue;
      }
      if (r == -EIO)
        report_damage(addr, &e, r);
      return r;
    }
    struct idx_ent re = e;
    re.len = idx_rec_len(&e);
    r = cas_read_record(cas, &re, &rec, &pr);
  }
  /* A good record with another address: only the 160-bit index key matched. */
  if (r == 0 && memcmp(pr.addr.b, addr->b, CAS_ADDR_LEN) != 0)
    return -ENOENT;
  if (r == 0 && pr.type != type)
    r = -EIO;
  if (r == 0 && pr.raw_len > cap)
    return -ENOSPC;
  const uint8_t *body = NULL;
  if (r == 0)
    r = pack_rec_open(cas->crypt, &pr, rec + PACK_REC_HDR, rec + PACK_REC_HDR + PACK_SEAL_PRE, &body);
  if (r == 0)
    r = pack_rec_content(cas->crypt, &pr, body, buf, !cas->crc_reads);
  if (r < 0) {
    if (r != -ENOENT)
      report_damage(addr, &e, r);
    return r == -ENOENT ? r : -EIO;
  }
  if (view)
    *view = buf;
  *len_out = pr.raw_len;
  return 0;
}

int cas_get(struct cas *cas, enum cas_type type, const struct cas_addr *addr, void *buf, size_t cap,
            size_t *len_out)
{
  return get(cas, type, addr, buf, cap, NULL, len_out);
}

int cas_get_view(struct cas *cas, enum cas_type type, const struct cas_addr *addr, void *buf, size_t cap,
                 const void **view, size_t *len_out)
{
  return get(cas, type, addr, buf, cap, view, len_out);
}

/* The record of a whole group, read for cas_get_group: a raw group's content
 * straight into dst (the header and member table into head, a sealed
 * record's tag into tag), a compressed group's record into the thread's
 * scratch buffer, decompressed into dst.  Checks the record CRC32C, opens it
 * (a sealed one in place: tag, domain), checks the member table against
 * addrs and lens, and re-hashes unless crc_reads.  0, or -1 for anything
 * unexpected. */
static int group_into(struct cas *cas, const struct idx_ent *e, const struct cas_addr *addrs, const uint32_t *lens,
                      unsigned n, uint64_t raw, uint8_t *dst)
{
  /* zeroed: a table longer than n (a record that is not the group wanted)
   * parses into members of length 0 beyond head_len, which pack_group_parse
   * refuses */
  uint8_t head[PACK_REC_HDR + PACK_SEAL_PRE + 4 + PACK_GROUP_ENT * PACK_GROUP_MAX] = {0}, tag[CRYPT_TAG_LEN];
  uint32_t pre = cas->crypt ? PACK_SEAL_PRE : 0, table = 4 + PACK_GROUP_ENT * n;
  uint32_t rec_len = idx_rec_len(e), head_len = PACK_REC_HDR + pre + table;
  bool verbatim = rec_len == head_len + raw + (cas->crypt ? CRYPT_TAG_LEN : 0);
  struct group_cache *gc = thread_cache();
  if (!gc)
    return -1;
  if (!verbatim && gc->scratch_cap < rec_len) {
    free(gc->scratch);
    gc->scratch_cap = 0;
    if (!(gc->scratch = malloc(rec_len)))
      return -1;
    gc->scratch_cap = rec_len;
  }
  struct pack *p = cas_pack_ref(cas, e->pack);
  if (!p)
    return -1;
  struct iovec iov[3] = {{head, head_len}, {dst, (size_t)raw}, {tag, CRYPT_TAG_LEN}};
  int niov = cas->crypt ? 3 : 2;
  int r = verbatim ? p->obj->ops->read(p->obj, iov, niov, e->off) : pack_obj_read(p->obj, gc->scratch, rec_len, e->off);
  cas_pack_unref(p);
  struct pack_rec pr;
  const uint8_t *body = NULL;
  if (r == 0)
    r = verbatim ? pack_rec_decode_iov(iov, niov, &pr) : pack_rec_decode(gc->scratch, rec_len, &pr);
  if (r == 0 && verbatim) {
    struct iovec in_place[2] = {{head + PACK_REC_HDR + pre, table}, {dst, (size_t)raw}};
    body = head + PACK_REC_HDR + pre;
    if (cas->crypt)
      r = pack_rec_open_iov(cas->crypt, &pr, head + PACK_REC_HDR, in_place, 2, tag);
    else if (pr.flags & PACK_FLAG_SEALED)
      r = -EIO;
  } else if (r == 0) {
    uint8_t *payload = gc->scratch + PACK_REC_HDR;
    r = pack_rec_open(cas->crypt, &pr, payload, payload + pre, &body);
  }
  struct pack_member m[PACK_GROUP_MAX];
  unsigned count;
  const uint8_t *data;
  uint32_t data_len;
  if (r == 0)
    r = pack_group_parse(&pr, body, m, &count, &data, &data_len);
  if (r < 0 || count != n || pr.raw_len != raw || (bool)(pr.flags & PACK_FLAG_ZSTD) == verbatim)
    return -1;
  for (unsigned i = 0; i < n; i++)
    if (m[i].raw_len != lens[i] || memcmp(m[i].addr.b, addrs[i].b, CAS_ADDR_LEN) != 0)
      return -1;
  if (!verbatim && pack_group_content(&pr, data, data_len, dst) < 0)
    return -1;
  for (unsigned i = 0; i < n && !cas->crc_reads; i++) {
    struct cas_addr a;
    crypt_addr(cas->crypt, CAS_CHUNK, dst + m[i].off, m[i].raw_len, &a);
    if (memcmp(a.b, addrs[i].b, CAS_ADDR_LEN) != 0)
      return -1;
  }
  return 0;
}

int cas_get_group(struct cas *cas, const struct cas_addr *addrs, const uint32_t *lens, unsigned n, void *dst)
{
  struct idx_ent first, e;
  if (n < 2 || !lookup(cas, &addrs[0], &first) || idx_member(&first) != 1)
    return 0;
  unsigned k = 1;
  uint64_t raw = lens[0];
  while (k < n && k < PACK_GROUP_MAX && lookup(cas, &addrs[k], &e) && e.pack == first.pack && e.off == first.off &&
         idx_member(&e) == k + 1)
    raw += lens[k++];
  if (k < 2 || group_into(cas, &first, addrs, lens, k, raw, dst) < 0)
    return 0;
  return (int)k;
}

bool cas_has(struct cas *cas, const struct cas_addr *addr)
{
  struct idx_ent e;
  return lookup(cas, addr, &e);
}

void cas_prefetch(struct cas *cas, const struct cas_addr *addr)
{
  struct idx_ent e;
  struct pack *p = NULL;
  struct group_cache *tc = thread_cache();
  pthread_rwlock_rdlock(&cas->idx_lock);
  /* The members of a group share its record: advised once for all of them. */
  if (index_lookup(&cas->idx, addr, &e) &&
      !(tc && tc->pf_instance == cas->instance && tc->pf_pack == e.pack && tc->pf_off == e.off))
    p = cas_pack_ref(cas, e.pack);
  pthread_rwlock_unlock(&cas->idx_lock);
  if (p) {
    p->obj->ops->hint(p->obj, PACK_HINT_WILLNEED, e.off, idx_rec_len(&e));
    cas_pack_unref(p);
    if (tc) {
      tc->pf_instance = cas->instance;
      tc->pf_pack = e.pack;
      tc->pf_off = e.off;
    }
  }
}
