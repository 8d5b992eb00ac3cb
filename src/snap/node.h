/*
 * node.h — tree node format and geometry (internal to snap/).
 */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "cas/cas.h"
#include "snap/tree.h"

#define TREE_NODE_MAGIC 0x314e5456u /* "VTN1" */
#define TREE_ROOT_MAGIC 0x31525456u /* "VTR1" */
#define TREE_MAX_HEIGHT 8

struct tree_geom {
  uint64_t size, nchunks;
  unsigned chunk_shift, height;
};

int tree_geom_init(struct tree_geom *g, uint64_t size, unsigned chunk_shift);
/* Chunks covered by one node of level L: 256^(L+1). */
static inline uint64_t geom_span(unsigned level) { return 1ull << (8 * (level + 1)); }
/* Number of nodes at level L (L <= height). */
uint64_t geom_nodes(const struct tree_geom *g, unsigned level);
/* Number of children of node (L, j). */
unsigned geom_count(const struct tree_geom *g, unsigned level, uint64_t j);
/* Length of chunk i (the last one may be short). */
uint32_t geom_chunk_len(const struct tree_geom *g, uint64_t i);

/* Stores a node of `count` entries; all-zero entries give the zero address
 * (nothing stored).  *stored counts a write. */
int node_put(struct cas *cas, unsigned level, const struct cas_addr *ents, unsigned count, struct cas_addr *out,
             uint64_t *stored);
/* Loads node a (level checked) into ents[256] (zero-filled beyond its count).
 * The zero address gives all-zero entries. */
int node_get(struct cas *cas, const struct cas_addr *a, unsigned level, struct cas_addr ents[TREE_FANOUT],
             unsigned *count);

int root_put(struct cas *cas, const struct tree_geom *g, const struct cas_addr *top, struct cas_addr *out);
int root_get(struct cas *cas, const struct cas_addr *root, struct tree_geom *g, struct cas_addr *top);

/* Cache of the nodes on the last path looked up, one per level. */
struct path_cache {
  struct tree_geom g;
  struct cas_addr top;
  bool valid[TREE_MAX_HEIGHT];
  uint64_t idx[TREE_MAX_HEIGHT];
  struct cas_addr ents[TREE_MAX_HEIGHT][TREE_FANOUT];
};
void path_cache_init(struct path_cache *pc, const struct tree_geom *g, const struct cas_addr *top);
/* Address of node (L, j) of the tree, zero if beyond it or in a zero subtree;
 * L may exceed the height (zero). */
int path_node(struct cas *cas, struct path_cache *pc, unsigned level, uint64_t j, struct cas_addr *out);
/* Entries of leaf-level parent: address of chunk i. */
int path_chunk(struct cas *cas, struct path_cache *pc, uint64_t i, struct cas_addr *out);
