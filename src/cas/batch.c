/*
 * batch.c — chunks stored in groups (cas_batch_*; format in pack.h).
 *
 * Why: zstd on each 64 KiB chunk alone cannot reach back further than the
 * chunk, so text-like data that repeats itself at a distance compresses far
 * worse than in the peers' 4 MiB chunks.  A batch collects up to
 * CAS_GROUP_BYTES of new chunks from one writer (a tree build's leaf, in disk
 * order) and stores them as one group record: one zstd frame, one index entry
 * per member.  Deduplication and addressing stay per chunk.
 *
 * What a batch does per chunk: hash; skip it if the batch already holds it;
 * if the index has it, confirm and record it for GC under write_lock, as
 * cas_put does; else copy it into the group buffer.  A full group (bytes or
 * PACK_GROUP_MAX members) is flushed: compressed outside any lock, then
 * appended under write_lock, where members another writer stored meanwhile
 * are only recorded (their bytes in this record stay unreferenced until GC
 * rewrites the pack).  A group of one chunk is stored as a plain record.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cas/cas_int.h"

struct cas_batch {
  struct cas *cas;
  unsigned n;
  struct pack_idx_ent ents[PACK_GROUP_MAX];
  uint8_t *data;
  uint32_t used;
  uint64_t objects, bytes;
};

int cas_batch_new(struct cas *cas, struct cas_batch **out)
{
  struct cas_batch *b = calloc(1, sizeof *b);
  if (!b || !(b->data = malloc(CAS_GROUP_BYTES))) {
    free(b);
    return -ENOMEM;
  }
  b->cas = cas;
  *out = b;
  return 0;
}

void cas_batch_free(struct cas_batch *b)
{
  if (!b)
    return;
  free(b->data);
  free(b);
}

void cas_batch_counts(const struct cas_batch *b, uint64_t *objects, uint64_t *bytes)
{
  *objects = b->objects;
  *bytes = b->bytes;
}

int cas_batch_flush(struct cas_batch *b)
{
  int r = 0;
  if (b->n == 1) {
    bool stored = false;
    r = cas_put_known(b->cas, CAS_CHUNK, &b->ents[0].addr, b->data, b->ents[0].raw_len, &stored);
    if (r == 0 && stored) {
      b->objects++;
      b->bytes += b->ents[0].raw_len;
    }
  } else if (b->n > 1) {
    r = cas_put_group(b->cas, b->ents, b->n, b->data, UINT32_MAX, &b->objects, &b->bytes);
  }
  b->n = 0;
  b->used = 0;
  return r;
}

int cas_batch_put(struct cas_batch *b, const void *data, size_t len, struct cas_addr *addr_out)
{
  if (len == 0 || len > CAS_MAX_OBJECT || cas_all_zero(data, len))
    return -EINVAL;
  cas_addr_of(b->cas, CAS_CHUNK, data, len, addr_out);
  for (unsigned i = 0; i < b->n; i++)
    if (memcmp(b->ents[i].addr.b, addr_out->b, CAS_ADDR_LEN) == 0)
      return 0;
  if (len > CAS_GROUP_BYTES / 2 || cas_has(b->cas, addr_out)) {
    /* Big chunks go alone; a chunk the index has is confirmed and recorded
     * for GC under write_lock (or stored again if a GC removed it meanwhile). */
    bool stored = false;
    int r = cas_put_known(b->cas, CAS_CHUNK, addr_out, data, len, &stored);
    if (r == 0 && stored) {
      b->objects++;
      b->bytes += len;
    }
    return r;
  }
  if (b->used + len > CAS_GROUP_BYTES) {
    int r = cas_batch_flush(b);
    if (r < 0)
      return r;
  }
  memcpy(b->data + b->used, data, len);
  b->used += (uint32_t)len;
  b->ents[b->n++] = (struct pack_idx_ent){.addr = *addr_out, .raw_len = (uint32_t)len, .type = CAS_CHUNK};
  if (b->n == PACK_GROUP_MAX || b->used == CAS_GROUP_BYTES)
    return cas_batch_flush(b);
  return 0;
}
