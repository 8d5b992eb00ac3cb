/*
 * walk.c — generic top-down walk over a tree (root object included) for
 * copies and checks; see tree.h for the pre/post contract.  Uses the node
 * shape cas.h defines, so it needs no knowledge of levels or sizes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "snap/tree.h"

struct walk {
  struct cas *cas;
  const struct tree_walk_ops *ops;
  void *ctx;
};

static int walk_obj(struct walk *w, const struct cas_addr *a, enum cas_type t);

/* cas_node_children is internal to cas/; nodes are parsed here from the
 * public header layout instead. */
static int walk_children(struct walk *w, const uint8_t *node, size_t len)
{
  struct cas_node_hdr h;
  if (len < sizeof h)
    return -EIO;
  memcpy(&h, node, sizeof h);
  if (len != sizeof h + (size_t)h.count * CAS_ADDR_LEN)
    return -EIO;
  for (unsigned i = 0; i < h.count; i++) {
    struct cas_addr c;
    memcpy(c.b, node + sizeof h + (size_t)i * CAS_ADDR_LEN, CAS_ADDR_LEN);
    if (cas_addr_is_zero(&c))
      continue;
    int r = walk_obj(w, &c, h.level == 0 ? CAS_CHUNK : CAS_NODE);
    if (r < 0)
      return r;
  }
  return 0;
}

static int walk_obj(struct walk *w, const struct cas_addr *a, enum cas_type t)
{
  int act = w->ops->pre ? w->ops->pre(w->ctx, a, t) : TREE_DESCEND;
  if (act < 0 || act == TREE_SKIP || t == CAS_CHUNK)
    return act < 0 ? act : 0;
  uint8_t *buf = malloc(CAS_MAX_OBJECT);
  if (!buf)
    return -ENOMEM;
  size_t len;
  int r = cas_get(w->cas, CAS_NODE, a, buf, CAS_MAX_OBJECT, &len);
  if (r == 0)
    r = walk_children(w, buf, len);
  if (r == 0 && w->ops->post)
    r = w->ops->post(w->ctx, a, buf, len);
  free(buf);
  return r;
}

int tree_walk(struct cas *cas, const struct cas_addr *root, const struct tree_walk_ops *ops, void *ctx)
{
  struct walk w = {.cas = cas, .ops = ops, .ctx = ctx};
  return walk_obj(&w, root, CAS_NODE);
}
