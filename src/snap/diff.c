/*
 * diff.c — differences between two trees in time proportional to the change.
 *
 * Both trees are viewed at the larger height H: a tree of height h < H is
 * the child 0 of "virtual" nodes at levels h+1..H whose other children are
 * zero (a grown disk's new area reads as zeros).  The walk descends only into
 * child pairs whose addresses differ, so identical subtrees — including the
 * whole old disk inside a grown one — cost nothing.  Differing chunks are
 * merged into maximal byte runs before fn sees them (tree_changes merges
 * only runs of the same kind: data or zeros in b).  A walk from an offset
 * skips every child pair that ends before it without reading it, so a
 * caller streaming a long diff in pieces pays a path per piece, not a
 * rescan.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "snap/node.h"

struct nref {
  struct cas_addr a;
  bool virt; /* virtual node above the tree's top */
};

struct side {
  struct tree_geom g;
  struct cas_addr top;
};

struct diff {
  struct cas *cas;
  struct side s[2];
  uint64_t end;        /* max size */
  uint64_t from;       /* bytes before it are not reported */
  uint64_t from_chunk;
  unsigned shift;
  bool kinds;          /* tree_changes: runs of one kind only */
  int (*fn)(void *ctx, const struct tree_extent *e);
  void *ctx;
  struct tree_extent run;
  struct tree_diff_stats *st;
};

static int flush(struct diff *d)
{
  int r = d->run.len ? d->fn(d->ctx, &d->run) : 0;
  d->run.len = 0;
  return r;
}

static int report(struct diff *d, uint64_t chunk, bool zero)
{
  uint64_t off = chunk << d->shift;
  if (off >= d->end)
    return 0;
  uint64_t len = (uint64_t)1 << d->shift;
  if (len > d->end - off)
    len = d->end - off;
  if (off < d->from) {
    len -= d->from - off;
    off = d->from;
  }
  zero = zero && d->kinds;
  d->st->chunks_differ++;
  if (d->run.len && d->run.off + d->run.len == off && d->run.zero == zero) {
    d->run.len += len;
    return 0;
  }
  int r = flush(d);
  d->run = (struct tree_extent){.off = off, .len = len, .zero = zero};
  return r;
}

static int children(struct diff *d, int side, const struct nref *n, unsigned level, struct cas_addr *ents,
                    bool *virt0)
{
  *virt0 = false;
  if (n->virt) {
    memset(ents, 0, TREE_FANOUT * sizeof *ents);
    if (level - 1 > d->s[side].g.height)
      *virt0 = true;
    else
      ents[0] = d->s[side].top;
    return 0;
  }
  unsigned count;
  if (!cas_addr_is_zero(&n->a))
    d->st->nodes_read++;
  return node_get(d->cas, &n->a, level, ents, &count);
}

static int diff_node(struct diff *d, const struct nref *a, const struct nref *b, unsigned level, uint64_t j)
{
  if (!a->virt && !b->virt && memcmp(a->a.b, b->a.b, CAS_ADDR_LEN) == 0)
    return 0;
  struct cas_addr *ea = malloc(2 * TREE_FANOUT * sizeof *ea);
  if (!ea)
    return -ENOMEM;
  struct cas_addr *eb = ea + TREE_FANOUT;
  bool va, vb;
  int r = children(d, 0, a, level, ea, &va);
  if (r == 0)
    r = children(d, 1, b, level, eb, &vb);
  for (unsigned c = 0; c < TREE_FANOUT && r == 0; c++) {
    bool cva = c == 0 && va, cvb = c == 0 && vb;
    if (!cva && !cvb && memcmp(ea[c].b, eb[c].b, CAS_ADDR_LEN) == 0)
      continue;
    uint64_t child = j * TREE_FANOUT + c;
    if (level == 0) {
      if (child >= d->from_chunk)
        r = report(d, child, cas_addr_is_zero(&eb[c]));
    } else if ((child + 1) * geom_span(level - 1) <= d->from_chunk) {
      continue; /* wholly before the start */
    } else {
      struct nref na = {.a = ea[c], .virt = cva}, nb = {.a = eb[c], .virt = cvb};
      r = diff_node(d, &na, &nb, level - 1, child);
    }
  }
  free(ea);
  return r;
}

static int walk(struct cas *cas, const struct cas_addr *a, const struct cas_addr *b, uint64_t from, bool kinds,
                int (*fn)(void *ctx, const struct tree_extent *e), void *ctx, struct tree_diff_stats *st)
{
  struct tree_diff_stats dummy;
  struct diff d = {.cas = cas, .from = from, .kinds = kinds, .fn = fn, .ctx = ctx, .st = st ? st : &dummy};
  memset(d.st, 0, sizeof *d.st);
  int r = root_get(cas, a, &d.s[0].g, &d.s[0].top);
  if (r == 0)
    r = root_get(cas, b, &d.s[1].g, &d.s[1].top);
  if (r < 0)
    return r;
  if (d.s[0].g.chunk_shift != d.s[1].g.chunk_shift)
    return -EINVAL;
  d.shift = d.s[0].g.chunk_shift;
  d.from_chunk = from >> d.shift;
  d.end = d.s[0].g.size > d.s[1].g.size ? d.s[0].g.size : d.s[1].g.size;
  unsigned h = d.s[0].g.height > d.s[1].g.height ? d.s[0].g.height : d.s[1].g.height;
  struct nref na = {.a = d.s[0].top, .virt = h > d.s[0].g.height};
  struct nref nb = {.a = d.s[1].top, .virt = h > d.s[1].g.height};
  r = diff_node(&d, &na, &nb, h, 0);
  if (r == 0)
    r = flush(&d);
  return r;
}

struct ranges {
  int (*fn)(void *ctx, uint64_t off, uint64_t len);
  void *ctx;
};

static int range_of(void *ctx, const struct tree_extent *e)
{
  struct ranges *rg = ctx;
  return rg->fn(rg->ctx, e->off, e->len);
}

int tree_diff(struct cas *cas, const struct cas_addr *a, const struct cas_addr *b,
              int (*fn)(void *ctx, uint64_t off, uint64_t len), void *ctx, struct tree_diff_stats *st)
{
  struct ranges rg = {fn, ctx};
  return walk(cas, a, b, 0, false, range_of, &rg, st);
}

int tree_changes(struct cas *cas, const struct cas_addr *a, const struct cas_addr *b, uint64_t from,
                 int (*fn)(void *ctx, const struct tree_extent *e), void *ctx, struct tree_diff_stats *st)
{
  return walk(cas, a, b, from, true, fn, ctx, st);
}
