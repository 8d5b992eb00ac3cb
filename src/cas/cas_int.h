/*
 * cas_int.h — the store's shared state, for the files of cas/ only.
 *
 * Lock order (never take them the other way round):
 *     gc_lock → write_lock → idx_lock → packs_lock / rec_lock
 * write_lock serialises appends to the open pack and pack switches; idx_lock
 * (rwlock) guards the index; packs_lock the pack table; rec_lock the GC
 * recording (holds and the log of addresses put while a hold or GC is active).
 */
#pragma once
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cas/cas.h"
#include "cas/index.h"
#include "cas/pack.h"

struct pack {
  uint32_t id;
  struct pack_obj *obj; /* its bytes in the pack store; closed with the last reference */
  atomic_int refs;   /* table reference + one per reader */
  uint64_t size;     /* bytes written (open pack: next append offset) */
  bool sealed;
  /* Its .idx was there but damaged and, the store being read-only, is not
   * rebuilt: the entries come from a scan, and verify reports the file. */
  bool idx_damaged;
  /* Holds records appended verbatim (cas_append_record: copies from a peer,
   * GC moves): its pages leave the page cache once it is sealed (put.c). */
  bool cold;
  /* Entries of the open pack, written to its .idx at sealing. */
  struct pack_idx_ent *ents;
  size_t n_ents, cap_ents;
};

struct rec_item {
  struct cas_addr addr;
  uint8_t type;
};

struct cas_hold {
  struct cas_hold *next;
  struct cas_addr *roots;
  size_t n_roots, cap_roots;
};

struct zctx_pool;
struct cas_crypt;

struct cas {
  char *location;                /* as cas_open got it (logs) */
  struct cas_pack_store *store;  /* the packs and index files (pack_store.h) */
  unsigned chunk_shift;
  int zstd_level;
  uint64_t pack_target;
  bool read_only;
  bool crc_reads;
  uint64_t instance;             /* unique per cas_open in this process: keys read caches */

  pthread_rwlock_t idx_lock;
  struct index idx;

  pthread_mutex_t write_lock;
  struct pack *open;             /* NULL in read-only mode */
  uint64_t unsynced_from;        /* writeback hint: bytes of the open pack not yet flushed */
  int sticky_error;              /* an fsync failed: refuse writes */
  pthread_cond_t seal_cond;
  int sealing;                   /* seals in progress (outside write_lock) */
  int seal_error;

  pthread_mutex_t packs_lock;
  struct pack **packs;           /* indexed by pack id; NULL for none */
  uint32_t n_packs_slots;
  uint32_t next_pack_id;

  pthread_mutex_t rec_lock;
  struct cas_hold *holds;
  bool gc_running;
  struct rec_item *rec;          /* puts while a hold or GC is active */
  size_t n_rec, cap_rec;

  pthread_mutex_t gc_lock;
  struct zctx_pool *zpool;
  struct cas_crypt *crypt;       /* NULL: a plaintext store (pack format 1) */
};

static inline uint32_t cas_pack_version(const struct cas *cas)
{
  return cas->crypt ? PACK_VERSION_SEALED : PACK_VERSION_PLAIN;
}

/* Pack table (cas.c). */
struct pack *cas_pack_ref(struct cas *cas, uint32_t id);
void cas_pack_unref(struct pack *p);
/* Removes a pack from the table (its handle closes when the last reader leaves). */
void cas_pack_drop(struct cas *cas, uint32_t id);

/* Seals the open pack if it has any record and starts a new one; waits for
 * all seals.  Returns the id of the new open pack (caller holds nothing). */
int cas_rotate(struct cas *cas, uint32_t *new_open_id);
/* Appends an encoded record (GC rewrite) holding the objects ents[0..n)
 * (off and len are filled in here); each object whose index entry still
 * points into from_pack moves to the copy (from_pack UINT32_MAX: each one not
 * indexed yet is published; CAS_PUBLISH_ALL: all are, a repair).  Nothing is
 * appended if none is; *published
 * (may be NULL) says how many were.  write_lock must not be held. */
#define CAS_PUBLISH_ALL (UINT32_MAX - 1)
int cas_append_record(struct cas *cas, const uint8_t *rec, uint32_t len, struct pack_idx_ent *ents, size_t n,
                      uint32_t from_pack, size_t *published);
/* Encodes and stores a group record of the n chunks described by ents
 * (addr, raw_len) whose contents are concatenated in data; compresses it when
 * that saves space.  With from_pack != UINT32_MAX it is a GC move (see
 * cas_append_record); otherwise objects already indexed are only recorded for
 * GC.  *stored_objs / *stored_bytes (may be NULL) count what was published. */
int cas_put_group(struct cas *cas, struct pack_idx_ent *ents, unsigned n, const uint8_t *data, uint32_t from_pack,
                  uint64_t *stored_objs, uint64_t *stored_bytes);
/* Reads the record at ent into a malloc'd buffer and checks its CRC32C. */
int cas_read_record(struct cas *cas, const struct idx_ent *ent, uint8_t **out, struct pack_rec *pr);
/* The same into *buf, a buffer of *cap bytes (NULL, 0 at first) grown as
 * needed and kept by the caller for the next record (a stream of records
 * then costs no allocation, and no fresh pages, per record). */
int cas_read_record_into(struct cas *cas, const struct idx_ent *ent, uint8_t **buf, size_t *cap, struct pack_rec *pr);

/* cas_put once the address is known (put.c). */
int cas_put_known(struct cas *cas, enum cas_type type, const struct cas_addr *a, const void *data, size_t len,
                  bool *stored_out);
bool cas_all_zero(const void *data, size_t len);

/* Records an address put while a hold or GC is active; rec_lock not held. */
void cas_record(struct cas *cas, const struct cas_addr *a, uint8_t type);

/* Walks a node's children (cas.c): for a node payload, calls fn per non-zero
 * child with its type.  -EIO on a malformed node. */
int cas_node_children(const void *node, size_t len,
                      int (*fn)(void *ctx, const struct cas_addr *child, enum cas_type t), void *ctx);

/* store.c */
int pack_ents_add(struct pack *p, const struct pack_idx_ent *ent);
int cas_new_open_pack(struct cas *cas, struct pack **out);
/* Tests only: frees the handle like a crash would (no sync, no seal). */
void cas_crash_close(struct cas *cas);
