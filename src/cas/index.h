/*
 * index.h — in-memory address index (internal to cas/).
 *
 * Maps an address to (pack, offset, record length, group member) in 32 bytes per object.
 * Not thread-safe: cas.c guards it with a rwlock (lookups shared, changes
 * exclusive).  See index.c for the structure and its measured numbers.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cas/cas.h"

#define INDEX_KEY_LEN 20
#define INDEX_DEAD UINT32_MAX

struct idx_ent {
  uint8_t key[INDEX_KEY_LEN]; /* first 20 bytes of the address */
  uint32_t pack;              /* INDEX_DEAD: removed */
  uint32_t off;
  uint32_t len;               /* record length | group member (pack_idx_ent.member) << INDEX_LEN_BITS */
};
_Static_assert(sizeof(struct idx_ent) == 32, "32 bytes per object");

/* Records are at most ~4.2 MiB, so 26 bits hold the length and the top 6 the
 * member number (0: the record is the object). */
#define INDEX_LEN_BITS 26
static inline uint32_t idx_pack_len(uint32_t len, uint8_t member) { return len | (uint32_t)member << INDEX_LEN_BITS; }
static inline uint32_t idx_rec_len(const struct idx_ent *e) { return e->len & ((1u << INDEX_LEN_BITS) - 1); }
static inline unsigned idx_member(const struct idx_ent *e) { return e->len >> INDEX_LEN_BITS; }

struct index {
  struct idx_ent *main; /* sorted by key, may hold INDEX_DEAD entries */
  size_t n_main;
  uint32_t *dir;        /* 65537 bucket starts by the key's first 16 bits */
  struct idx_ent *ovl;  /* open-addressing overlay for recent inserts */
  size_t ovl_cap, n_ovl;
  size_t n_live;
};

int index_init(struct index *ix);
void index_free(struct index *ix);
/* Replaces the contents with ents (any order, duplicates allowed: of equal
 * keys the newest copy wins — highest pack, then highest offset).  Takes
 * ownership of ents (malloc'd). */
int index_load(struct index *ix, struct idx_ent *ents, size_t n);
bool index_lookup(const struct index *ix, const struct cas_addr *a, struct idx_ent *out);
/* Inserts or moves an address to a new location. */
int index_insert(struct index *ix, const struct cas_addr *a, uint32_t pack, uint32_t off, uint32_t len);
/* Removes a if it currently points into pack; returns true if removed. */
bool index_remove(struct index *ix, const struct cas_addr *a, uint32_t pack);
size_t index_count(const struct index *ix);
size_t index_ram_bytes(const struct index *ix);
