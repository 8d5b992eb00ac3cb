/*
 * map.c — allocation map of a tree: walks nodes depth-first, never chunks.
 * A zero child stands for its whole span; adjacent extents of the same kind
 * are merged before fn sees them.  tree_map_from skips, unread, every
 * subtree that ends before its start.
 */
#include <errno.h>
#include <stdlib.h>

#include "snap/node.h"

struct map {
  struct cas *cas;
  struct tree_geom g;
  uint64_t from, from_chunk;
  int (*fn)(void *ctx, const struct tree_extent *e);
  void *ctx;
  struct tree_extent cur;
  bool have;
};

static int emit(struct map *m, uint64_t first_chunk, uint64_t nchunks, bool zero)
{
  uint64_t off = first_chunk << m->g.chunk_shift;
  if (off >= m->g.size)
    return 0;
  uint64_t end = (first_chunk + nchunks) << m->g.chunk_shift;
  if (end > m->g.size || first_chunk + nchunks >= m->g.nchunks)
    end = m->g.size;
  if (end <= m->from)
    return 0;
  if (off < m->from)
    off = m->from;
  if (m->have && m->cur.zero == zero && m->cur.off + m->cur.len == off) {
    m->cur.len = end - m->cur.off;
    return 0;
  }
  int r = m->have ? m->fn(m->ctx, &m->cur) : 0;
  m->cur = (struct tree_extent){.off = off, .len = end - off, .zero = zero};
  m->have = true;
  return r;
}

static int map_node(struct map *m, const struct cas_addr *a, unsigned level, uint64_t j)
{
  if (cas_addr_is_zero(a))
    return emit(m, j * geom_span(level), geom_span(level), true);
  struct cas_addr *ents = malloc(TREE_FANOUT * sizeof *ents);
  if (!ents)
    return -ENOMEM;
  unsigned count;
  int r = node_get(m->cas, a, level, ents, &count);
  if (r == 0 && count != geom_count(&m->g, level, j))
    r = -EIO;
  for (unsigned c = 0; c < count && r == 0; c++) {
    uint64_t child = j * TREE_FANOUT + c;
    if (level == 0)
      r = emit(m, child, 1, cas_addr_is_zero(&ents[c]));
    else if ((child + 1) * geom_span(level - 1) <= m->from_chunk)
      continue; /* wholly before the start */
    else
      r = map_node(m, &ents[c], level - 1, child);
  }
  free(ents);
  return r;
}

int tree_map_from(struct cas *cas, const struct cas_addr *root, uint64_t from,
                  int (*fn)(void *ctx, const struct tree_extent *e), void *ctx)
{
  struct map m = {.cas = cas, .from = from, .fn = fn, .ctx = ctx};
  struct cas_addr top;
  int r = root_get(cas, root, &m.g, &top);
  if (r < 0 || m.g.size <= from)
    return r;
  m.from_chunk = from >> m.g.chunk_shift;
  if ((r = map_node(&m, &top, m.g.height, 0)) != 0)
    return r; /* an error, or fn asked to stop: the pending extent is not wanted */
  return m.have ? fn(ctx, &m.cur) : 0;
}

int tree_map(struct cas *cas, const struct cas_addr *root, int (*fn)(void *ctx, const struct tree_extent *e),
             void *ctx)
{
  return tree_map_from(cas, root, 0, fn, ctx);
}
