/*
 * stats.c — store statistics from the pack index files (raw sizes live there,
 * not in RAM) and the open pack's entry list.  Objects are counted once: a
 * record counts only if the index locates its address at that record.  A
 * group member counts its share of the group's record (pack_idx_shares).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cas/cas_int.h"
#include "common/cleanup.h"

int cas_stats(struct cas *cas, struct cas_stats *st)
{
  memset(st, 0, sizeof *st);
  uint32_t n_slots;
  {
    LOCK_GUARD(&cas->packs_lock);
    n_slots = cas->n_packs_slots;
  }
  for (uint32_t id = 0; id < n_slots; id++) {
    struct pack *p = cas_pack_ref(cas, id);
    if (!p)
      continue;
    CLEANUP_FREE struct pack_idx_ent *ents = NULL;
    size_t n = 0;
    int r = 0;
    {
      LOCK_GUARD(&cas->write_lock);
      st->packs++;
      st->pack_file_bytes += p->size;
      if (!p->sealed) {
        ents = malloc((p->n_ents ? p->n_ents : 1) * sizeof *ents);
        if (ents) {
          if (p->n_ents)
            memcpy(ents, p->ents, p->n_ents * sizeof *ents);
          n = p->n_ents;
        } else {
          r = -ENOMEM;
        }
      }
    }
    if (r == 0 && p->sealed)
      r = pack_idx_read(cas->store, id, &ents, &n);
    cas_pack_unref(p);
    CLEANUP_FREE uint64_t *share = r == 0 ? malloc((n ? n : 1) * sizeof *share) : NULL;
    if (r == 0 && (!share || pack_idx_shares(ents, n, share) < 0))
      r = -ENOMEM;
    if (r < 0)
      return r;
    pthread_rwlock_rdlock(&cas->idx_lock);
    for (size_t i = 0; i < n; i++) {
      struct idx_ent e;
      if (!index_lookup(&cas->idx, &ents[i].addr, &e) || e.pack != id || e.off != ents[i].off)
        continue;
      st->objects++;
      if (ents[i].type == CAS_CHUNK)
        st->chunks++;
      else
        st->nodes++;
      st->raw_bytes += ents[i].raw_len;
      st->stored_bytes += share[i];
      if (ents[i].flags & PACK_FLAG_ZSTD)
        st->compressed_objects++;
    }
    pthread_rwlock_unlock(&cas->idx_lock);
  }
  pthread_rwlock_rdlock(&cas->idx_lock);
  st->index_entries = index_count(&cas->idx);
  st->index_ram_bytes = index_ram_bytes(&cas->idx);
  pthread_rwlock_unlock(&cas->idx_lock);
  return 0;
}
