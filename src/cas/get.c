/*
 * get.c — reading objects.  The index lookup runs under the index read
 * lock; the record is then read with pread (no lock held) from a referenced
 * pack and checked: CRC32C, type, full address, and the re-hash of the
 * content (invariant 5).  If GC removed the pack in between, the lookup is
 * retried (the object was moved) or fails with -ENOENT (it was garbage).
 */
#include <errno.h>
#include <fcntl.h>
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
    r = cas_read_record(cas, &e, &rec, &pr);
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
    char hex[2 * CAS_ADDR_LEN + 1];
    cas_addr_to_hex(addr, hex);
    log_error("cas", "object %s in pack %08x at %u is damaged: %s", hex, e.pack, e.off, strerror(-r));
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
  pthread_rwlock_rdlock(&cas->idx_lock);
  if (index_lookup(&cas->idx, addr, &e))
    p = cas_pack_ref(cas, e.pack);
  pthread_rwlock_unlock(&cas->idx_lock);
  if (p) {
    posix_fadvise(p->fd, e.off, e.len, POSIX_FADV_WILLNEED);
    cas_pack_unref(p);
  }
}
