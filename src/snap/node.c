/*
 * node.c — the tree's on-disk form (all objects are CAS_NODE; cas.h gives
 * the outer shape: 16-byte header + child addresses):
 *
 *   node  (level L >= 0): magic 'VTN1', count 1..256, level L, flags 0, aux 0,
 *         then `count` child addresses: chunks for L = 0, level L-1 nodes
 *         otherwise.  Node (L, j) covers chunks [j·256^(L+1), (j+1)·256^(L+1))
 *         clipped to the disk; count is exactly the number of children that
 *         intersect the disk.  A node whose entries are all zero is not
 *         stored: its parent holds the zero address.
 *   root: magic 'VTR1', count 1, level height+1, flags chunk_shift,
 *         aux size in bytes, then the top node's address (level `height`,
 *         the smallest height with 256^(height+1) >= number of chunks).
 *
 * Nodes carry no size, so identical subtrees of disks of different sizes have
 * identical addresses; only the root knows the size.  Integers are stored in
 * the host's little-endian order (x86-64 and arm64 only).
 */
#include "snap/node.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"

int tree_geom_init(struct tree_geom *g, uint64_t size, unsigned chunk_shift)
{
  if (chunk_shift < CAS_MIN_CHUNK_SHIFT || chunk_shift > CAS_MAX_CHUNK_SHIFT)
    return -EINVAL;
  g->size = size;
  g->chunk_shift = chunk_shift;
  g->nchunks = (size + (1ull << chunk_shift) - 1) >> chunk_shift;
  g->height = 0;
  while (g->height + 1 < TREE_MAX_HEIGHT - 1 && geom_span(g->height) < g->nchunks)
    g->height++;
  return geom_span(g->height) >= g->nchunks ? 0 : -EFBIG;
}

uint64_t geom_nodes(const struct tree_geom *g, unsigned level)
{
  uint64_t span = geom_span(level);
  uint64_t n = (g->nchunks + span - 1) / span;
  return n ? n : 1;
}

unsigned geom_count(const struct tree_geom *g, unsigned level, uint64_t j)
{
  uint64_t child_span = level == 0 ? 1 : geom_span(level - 1);
  uint64_t first = j * geom_span(level);
  if (first >= g->nchunks)
    return 0;
  uint64_t rem = g->nchunks - first;
  uint64_t n = (rem + child_span - 1) / child_span;
  return n > TREE_FANOUT ? TREE_FANOUT : (unsigned)n;
}

uint32_t geom_chunk_len(const struct tree_geom *g, uint64_t i)
{
  uint64_t cs = 1ull << g->chunk_shift, off = i << g->chunk_shift;
  return (uint32_t)(g->size - off < cs ? g->size - off : cs);
}

int node_put(struct cas *cas, unsigned level, const struct cas_addr *ents, unsigned count, struct cas_addr *out,
             uint64_t *stored)
{
  bool any = false;
  for (unsigned i = 0; i < count && !any; i++)
    any = !cas_addr_is_zero(&ents[i]);
  if (!any) {
    memset(out, 0, sizeof *out);
    return 0;
  }
  uint8_t buf[sizeof(struct cas_node_hdr) + TREE_FANOUT * CAS_ADDR_LEN];
  struct cas_node_hdr h = {.magic = TREE_NODE_MAGIC, .count = (uint16_t)count, .level = (uint8_t)level};
  memcpy(buf, &h, sizeof h);
  memcpy(buf + sizeof h, ents, (size_t)count * CAS_ADDR_LEN);
  bool st = false;
  int r = cas_put(cas, CAS_NODE, buf, sizeof h + (size_t)count * CAS_ADDR_LEN, out, &st);
  if (r == 0 && st && stored)
    (*stored)++;
  return r;
}

int node_get(struct cas *cas, const struct cas_addr *a, unsigned level, struct cas_addr ents[TREE_FANOUT],
             unsigned *count)
{
  memset(ents, 0, TREE_FANOUT * sizeof *ents);
  *count = 0;
  if (cas_addr_is_zero(a))
    return 0;
  uint8_t buf[sizeof(struct cas_node_hdr) + TREE_FANOUT * CAS_ADDR_LEN];
  size_t len;
  int r = cas_get(cas, CAS_NODE, a, buf, sizeof buf, &len);
  if (r == -ENOSPC)
    return -EIO;
  if (r < 0)
    return r;
  struct cas_node_hdr h;
  memcpy(&h, buf, sizeof h);
  if (h.magic != TREE_NODE_MAGIC || h.level != level || h.count == 0 || h.count > TREE_FANOUT ||
      len != sizeof h + (size_t)h.count * CAS_ADDR_LEN)
    return -EIO;
  memcpy(ents, buf + sizeof h, (size_t)h.count * CAS_ADDR_LEN);
  *count = h.count;
  return 0;
}

int root_put(struct cas *cas, const struct tree_geom *g, const struct cas_addr *top, struct cas_addr *out)
{
  uint8_t buf[sizeof(struct cas_node_hdr) + CAS_ADDR_LEN];
  struct cas_node_hdr h = {.magic = TREE_ROOT_MAGIC, .count = 1, .level = (uint8_t)(g->height + 1),
                           .flags = (uint8_t)g->chunk_shift, .aux = g->size};
  memcpy(buf, &h, sizeof h);
  memcpy(buf + sizeof h, top->b, CAS_ADDR_LEN);
  return cas_put(cas, CAS_NODE, buf, sizeof buf, out, NULL);
}

int root_get(struct cas *cas, const struct cas_addr *root, struct tree_geom *g, struct cas_addr *top)
{
  uint8_t buf[sizeof(struct cas_node_hdr) + CAS_ADDR_LEN];
  size_t len;
  int r = cas_get(cas, CAS_NODE, root, buf, sizeof buf, &len);
  if (r == -ENOSPC)
    return -EINVAL; /* a node, not a root */
  if (r < 0)
    return r;
  struct cas_node_hdr h;
  memcpy(&h, buf, sizeof h);
  if (len != sizeof buf || h.magic != TREE_ROOT_MAGIC || h.count != 1)
    return -EINVAL;
  if ((r = tree_geom_init(g, h.aux, h.flags)) < 0)
    return -EIO;
  if (h.level != g->height + 1)
    return -EIO;
  memcpy(top->b, buf + sizeof h, CAS_ADDR_LEN);
  return 0;
}

int tree_info(struct cas *cas, const struct cas_addr *root, struct tree_info *out)
{
  struct tree_geom g;
  int r = root_get(cas, root, &g, &out->top);
  if (r < 0)
    return r;
  out->size = g.size;
  out->chunk_shift = g.chunk_shift;
  out->height = g.height;
  return 0;
}

void path_cache_init(struct path_cache *pc, const struct tree_geom *g, const struct cas_addr *top)
{
  pc->g = *g;
  pc->top = *top;
  memset(pc->valid, 0, sizeof pc->valid);
}

/* Makes pc->ents[level] hold node (level, j). */
static int load(struct cas *cas, struct path_cache *pc, unsigned level, uint64_t j)
{
  if (pc->valid[level] && pc->idx[level] == j)
    return 0;
  struct cas_addr a;
  int r = path_node(cas, pc, level, j, &a);
  unsigned count;
  if (r == 0)
    r = node_get(cas, &a, level, pc->ents[level], &count);
  pc->valid[level] = r == 0;
  pc->idx[level] = j;
  return r;
}

int path_node(struct cas *cas, struct path_cache *pc, unsigned level, uint64_t j, struct cas_addr *out)
{
  memset(out, 0, sizeof *out);
  if (level > pc->g.height)
    return 0;
  if (level == pc->g.height) {
    if (j == 0)
      *out = pc->top;
    return 0;
  }
  if (j >= geom_nodes(&pc->g, level))
    return 0;
  int r = load(cas, pc, level + 1, j >> 8);
  if (r == 0)
    *out = pc->ents[level + 1][j & 255];
  return r;
}

int path_chunk(struct cas *cas, struct path_cache *pc, uint64_t i, struct cas_addr *out)
{
  memset(out, 0, sizeof *out);
  if (i >= pc->g.nchunks)
    return 0;
  int r = load(cas, pc, 0, i >> 8);
  if (r == 0)
    *out = pc->ents[0][i & 255];
  return r;
}
