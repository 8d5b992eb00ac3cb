/*
 * snap_backend.c — the NBD backend for a snapshot tree (a disk restore
 * point), read-only.
 *
 * READ goes through tree_read, BLOCK_STATUS base:allocation through tree_map
 * (holes are exact: zero subtrees are never stored), and the extra context
 * "vmrp:changed" through tree_diff against the previous tree, which the owner
 * looks up when asked (flag 1 = changed since it; the whole disk is changed
 * when there is no previous tree, or no longer one).  A thin mapping, beside
 * vol_backend.c; who exports which tree, and keeps it alive, is the region's
 * business (region/images.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nbd/snap_backend.h"
#include "snap/tree.h"

static uint64_t de_size(void *h) { return ((struct nbd_snap *)h)->size; }
static bool de_readonly(void *h) { (void)h; return true; }

static int de_pread(void *h, void *buf, size_t len, uint64_t off)
{
  struct nbd_snap *e = h;
  return tree_read(e->cas, &e->root, buf, len, off);
}

struct clip {
  uint64_t off, end;
  nbd_extent_fn cb;
  void *ctx;
  int flags_zero, flags_data;
};

/* Passes the part of [off, off+len) inside the request to the NBD callback. */
static int clip_emit(struct clip *c, uint64_t off, uint64_t len, bool zero)
{
  uint64_t s = off > c->off ? off : c->off, e = off + len < c->end ? off + len : c->end;
  if (s >= e)
    return off >= c->end ? 1 : 0; /* 1: past the request, stop */
  return c->cb(c->ctx, s, e - s, (uint32_t)(zero ? c->flags_zero : c->flags_data));
}

static int map_cb(void *ctx, const struct tree_extent *x)
{
  return clip_emit(ctx, x->off, x->len, x->zero);
}

static int de_extents(void *h, uint64_t off, uint64_t len, nbd_extent_fn cb, void *ctx)
{
  struct nbd_snap *e = h;
  struct clip c = {off, off + len, cb, ctx, NBD_EXTENT_HOLE | NBD_EXTENT_ZERO, 0};
  int r = tree_map(e->cas, &e->root, map_cb, &c);
  return r == 1 ? 0 : r;
}

struct changed {
  struct clip clip;
  uint64_t pos; /* end of what was reported so far */
};

static int diff_cb(void *ctx, uint64_t off, uint64_t len)
{
  struct changed *ch = ctx;
  int r = 0;
  if (off > ch->pos)
    r = clip_emit(&ch->clip, ch->pos, off - ch->pos, true); /* unchanged */
  if (r == 0)
    r = clip_emit(&ch->clip, off, len, false);
  ch->pos = off + len;
  return r;
}

static int de_changed(void *h, uint64_t off, uint64_t len, nbd_extent_fn cb, void *ctx)
{
  struct nbd_snap *e = h;
  struct changed ch = {{off, off + len, cb, ctx, 0, 1}, 0};
  struct cas_addr prev;
  int r;
  if (!e->previous || e->previous(e->ctx, &prev) < 0) { /* none, or deleted */
    r = clip_emit(&ch.clip, 0, e->size, false);
    return r == 1 ? 0 : r;
  }
  r = tree_diff(e->cas, &prev, &e->root, diff_cb, &ch, NULL);
  if (r == 0 && ch.pos < e->size)
    r = clip_emit(&ch.clip, ch.pos, e->size - ch.pos, true);
  return r == 1 ? 0 : r;
}

static const struct nbd_meta_context changed_context[] = {{"vmrp:changed", de_changed}};

const struct nbd_backend_ops nbd_snap_ops = {
    .size = de_size,
    .readonly = de_readonly,
    .pread = de_pread,
    .extents = de_extents,
    .multi_conn = true,
    .meta = changed_context,
    .n_meta = 1,
};
