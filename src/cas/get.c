/*
 * get.c — reading objects.  The index lookup runs under the index read
 * lock; the record is then read with pread (no lock held) from a referenced
 * pack and checked: CRC32C, type, full address, and the re-hash of the
 * content (invariant 5).  If GC removed the pack in between, the lookup is
 * retried (the object was moved) or fails with -ENOENT (it was garbage).
 *
 * A member of a group record (pack.h) is read by decompressing the whole
 * group.  Readers go through a disk in order, so each thread keeps the last
 * CACHE_GROUPS groups it decompressed (keyed by store instance, pack and
 * offset: packs are immutable and their ids never reused while a store is
 * open) and the other members of those groups cost a copy.  Two, because an
 * incremental tree interleaves its new chunks (groups of their own, spread
 * over the disk) with its base's: with one, reading such a disk in order
 * decompressed a group again at every switch.  The cache holds checked
 * content only: record CRC32C and the zstd frame checksum passed when it was
 * filled; the member's address is compared with the record's table on every
 * read, and re-hashed unless crc_reads.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cas/cas_int.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/log.h"

int cas_read_record(struct cas *cas, const struct idx_ent *ent, uint8_t **out, struct pack_rec *pr)
{
  struct pack *p = cas_pack_ref(cas, ent->pack);
  if (!p)
    return -ENOENT;
  CLEANUP_FREE uint8_t *buf = malloc(ent->len);
  int r = buf ? read_full_at(p->fd, buf, ent->len, ent->off) : -ENOMEM;
  cas_pack_unref(p);
  if (r == 0)
    r = pack_rec_decode(buf, ent->len, pr);
  if (r < 0)
    return r;
  *out = STEAL_PTR(buf);
  return 0;
}

static bool lookup(struct cas *cas, const struct cas_addr *a, struct idx_ent *e)
{
  pthread_rwlock_rdlock(&cas->idx_lock);
  bool f = index_lookup(&cas->idx, a, e);
  pthread_rwlock_unlock(&cas->idx_lock);
  return f;
}

#define CACHE_GROUPS 2

struct group_cache {
  uint64_t instance;
  uint32_t pack, off;
  unsigned n;
  uint64_t used;  /* tick of the last read, for replacement */
  struct pack_member m[PACK_GROUP_MAX];
  uint8_t *data;
  size_t cap;
};

struct thread_cache {
  struct group_cache g[CACHE_GROUPS];
  uint64_t tick;
  uint64_t pf_instance; /* the record cas_prefetch advised last */
  uint32_t pf_pack, pf_off;
};

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_free(void *p)
{
  struct thread_cache *c = p;
  for (int i = 0; i < CACHE_GROUPS; i++)
    free(c->g[i].data);
  free(c);
}

static void cache_key_init(void) { pthread_key_create(&cache_key, cache_free); }

static struct thread_cache *thread_cache(void)
{
  pthread_once(&cache_once, cache_key_init);
  struct thread_cache *c = pthread_getspecific(cache_key);
  if (!c && (c = calloc(1, sizeof *c)) && pthread_setspecific(cache_key, c) != 0) {
    free(c);
    c = NULL;
  }
  return c;
}

/* Fills c with the group record at e, checked (CRC32C, table, zstd checksum). */
static int cache_fill(struct cas *cas, struct group_cache *c, const struct idx_ent *e)
{
  CLEANUP_FREE uint8_t *rec = NULL;
  struct pack_rec pr;
  struct idx_ent re = *e;
  re.len = idx_rec_len(e);
  int r = cas_read_record(cas, &re, &rec, &pr);
  if (r < 0)
    return r;
  const uint8_t *data;
  uint32_t data_len;
  unsigned n;
  c->instance = 0; /* invalid until filled */
  if ((r = pack_group_parse(&pr, rec + PACK_REC_HDR, c->m, &n, &data, &data_len)) < 0)
    return r;
  if (c->cap < pr.raw_len) {
    uint8_t *nd = realloc(c->data, pr.raw_len);
    if (!nd)
      return -ENOMEM;
    c->data = nd;
    c->cap = pr.raw_len;
  }
  if ((r = pack_group_content(&pr, data, data_len, c->data)) < 0)
    return r;
  c->n = n;
  c->pack = e->pack;
  c->off = e->off;
  c->instance = cas->instance;
  return 0;
}

/* A group member; -ENOENT when the index key matched another object,
 * -EAGAIN when its pack left the table since the lookup. */
static int get_member(struct cas *cas, enum cas_type type, const struct cas_addr *addr, const struct idx_ent *e,
                      void *buf, size_t cap, size_t *len_out)
{
  struct thread_cache *tc = thread_cache();
  if (!tc)
    return -ENOMEM;
  struct group_cache *c = &tc->g[0];
  for (int i = 0; i < CACHE_GROUPS; i++) { /* the group itself, else the least recently used */
    struct group_cache *g = &tc->g[i];
    if (g->instance == cas->instance && g->pack == e->pack && g->off == e->off) {
      c = g;
      break;
    }
    if (g->used < c->used)
      c = g;
  }
  c->used = ++tc->tick;
  if (c->instance != cas->instance || c->pack != e->pack || c->off != e->off) {
    int r = cache_fill(cas, c, e);
    if (r < 0)
      return r == -ENOENT ? -EAGAIN : r;
  }
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
  memcpy(buf, c->data + m->off, m->raw_len);
  if (!cas->crc_reads) {
    struct cas_addr a;
    cas_hash(CAS_CHUNK, buf, m->raw_len, &a);
    if (memcmp(a.b, addr->b, CAS_ADDR_LEN) != 0)
      return -EIO;
  }
  *len_out = m->raw_len;
  return 0;
}

static void report_damage(const struct cas_addr *addr, const struct idx_ent *e, int r)
{
  char hex[2 * CAS_ADDR_LEN + 1];
  cas_addr_to_hex(addr, hex);
  log_error("cas", "object %s in pack %08x at %u is damaged: %s", hex, e->pack, e->off, strerror(-r));
}

int cas_get(struct cas *cas, enum cas_type type, const struct cas_addr *addr, void *buf, size_t cap,
            size_t *len_out)
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
      r = get_member(cas, type, addr, &e, buf, cap, len_out);
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
  if (r == 0)
    r = pack_rec_content(&pr, rec + PACK_REC_HDR, buf, !cas->crc_reads);
  if (r < 0) {
    if (r != -ENOENT)
      report_damage(addr, &e, r);
    return r == -ENOENT ? r : -EIO;
  }
  *len_out = pr.raw_len;
  return 0;
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
  struct thread_cache *tc = thread_cache();
  pthread_rwlock_rdlock(&cas->idx_lock);
  /* the members of a group share its record: advised once for all of them */
  if (index_lookup(&cas->idx, addr, &e) &&
      !(tc && tc->pf_instance == cas->instance && tc->pf_pack == e.pack && tc->pf_off == e.off))
    p = cas_pack_ref(cas, e.pack);
  pthread_rwlock_unlock(&cas->idx_lock);
  if (p) {
    posix_fadvise(p->fd, e.off, idx_rec_len(&e), POSIX_FADV_WILLNEED);
    cas_pack_unref(p);
    if (tc) {
      tc->pf_instance = cas->instance;
      tc->pf_pack = e.pack;
      tc->pf_off = e.off;
    }
  }
}
