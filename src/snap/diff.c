/*
 * diff.c — differences between two trees in time proportional to the change.
 *
 * Both trees are viewed at the larger height H: a tree of height h < H is
 * the child 0 of "virtual" nodes at levels h+1..H whose other children are
 * zero (a grown disk's new area reads as zeros).  The walk descends only into
 * child pairs whose addresses differ, so identical subtrees — including the
 * whole old disk inside a grown one — cost nothing.  Differing chunks are
 * merged into maximal byte runs before fn sees them.
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
  uint64_t end; /* max size */
  unsigned shift;
  int (*fn)(void *ctx, uint64_t off, uint64_t len);
  void *ctx;
  uint64_t run_off, run_len;
  struct tree_diff_stats *st;
};

static int flush(struct diff *d)
{
  int r = d->run_len ? d->fn(d->ctx, d->run_off, d->run_len) : 0;
  d->run_len = 0;
  return r;
}

static int report(struct diff *d, uint64_t chunk)
{
  uint64_t off = chunk << d->shift;
  if (off >= d->end)
    return 0;
  uint64_t len = (uint64_t)1 << d->shift;
  if (len > d->end - off)
    len = d->end - off;
  d->st->chunks_differ++;
  if (d->run_len && d->run_off + d->run_len == off) {
    d->run_len += len;
    return 0;
  }
  int r = flush(d);
  d->run_off = off;
  d->run_len = len;
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
      r = report(d, child);
    } else {
      struct nref na = {.a = ea[c], .virt = cva}, nb = {.a = eb[c], .virt = cvb};
      r = diff_node(d, &na, &nb, level - 1, child);
    }
  }
  free(ea);
  return r;
}

int tree_diff(struct cas *cas, const struct cas_addr *a, const struct cas_addr *b,
              int (*fn)(void *ctx, uint64_t off, uint64_t len), void *ctx, struct tree_diff_stats *st)
{
  struct tree_diff_stats dummy;
  struct diff d = {.cas = cas, .fn = fn, .ctx = ctx, .st = st ? st : &dummy};
  memset(d.st, 0, sizeof *d.st);
  int r = root_get(cas, a, &d.s[0].g, &d.s[0].top);
  if (r == 0)
    r = root_get(cas, b, &d.s[1].g, &d.s[1].top);
  if (r < 0)
    return r;
  if (d.s[0].g.chunk_shift != d.s[1].g.chunk_shift)
    return -EINVAL;
  d.shift = d.s[0].g.chunk_shift;
  d.end = d.s[0].g.size > d.s[1].g.size ? d.s[0].g.size : d.s[1].g.size;
  unsigned h = d.s[0].g.height > d.s[1].g.height ? d.s[0].g.height : d.s[1].g.height;
  struct nref na = {.a = d.s[0].top, .virt = h > d.s[0].g.height};
  struct nref nb = {.a = d.s[1].top, .virt = h > d.s[1].g.height};
  r = diff_node(&d, &na, &nb, h, 0);
  if (r == 0)
    r = flush(&d);
  return r;
}
