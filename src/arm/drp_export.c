/*
 * drp_export.c — every complete disk restore point, exported read-only over
 * NBD under its name ({disk}_{guid}).
 *
 * The backend reads the snapshot tree: READ through tree_read, BLOCK_STATUS
 * base:allocation from tree_map (holes are exact: zero subtrees are never
 * stored), and the extra context "vmrp:changed" from tree_diff against the
 * previous disk restore point of the same disk (flag 1 = changed since it;
 * the whole disk is changed when there is no previous one, or no longer one).
 *
 * GC: an exported tree is a live root as long as its restore point exists,
 * and deleting the restore point unexports it — disconnecting its clients —
 * before its rows go, so no client reads a tree the GC may take.  Exports
 * hold no cas_hold: a hold lives for a bounded operation (a hold open for the
 * daemon's life would make every GC keep everything put meanwhile).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arm/internal.h"
#include "cas/cas.h"
#include "common/log.h"
#include "nbd/nbd.h"
#include "snap/tree.h"

struct drp_export {
  struct arm *arm;
  struct cas *cas;
  struct cas_addr root;
  char *prev_id; /* the previous disk restore point, or NULL */
  uint64_t size;
};

static uint64_t de_size(void *h) { return ((struct drp_export *)h)->size; }
static bool de_readonly(void *h) { (void)h; return true; }

static int de_pread(void *h, void *buf, size_t len, uint64_t off)
{
  struct drp_export *e = h;
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
  struct drp_export *e = h;
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
  struct drp_export *e = h;
  struct changed ch = {{off, off + len, cb, ctx, 0, 1}, 0};
  struct cas_addr prev;
  uint64_t prev_size;
  int r;
  if (!e->prev_id || arm_drp_source(e->arm, e->prev_id, &prev, &prev_size) < 0) { /* none, or deleted */
    r = clip_emit(&ch.clip, 0, e->size, false);
    return r == 1 ? 0 : r;
  }
  r = tree_diff(e->cas, &prev, &e->root, diff_cb, &ch, NULL);
  if (r == 0 && ch.pos < e->size)
    r = clip_emit(&ch.clip, ch.pos, e->size - ch.pos, true);
  return r == 1 ? 0 : r;
}

static const struct nbd_meta_context changed_context[] = {{"vmrp:changed", de_changed}};

static const struct nbd_backend_ops drp_ops = {
    .size = de_size,
    .readonly = de_readonly,
    .pread = de_pread,
    .extents = de_extents,
    .multi_conn = true,
    .meta = changed_context,
    .n_meta = 1,
};

static void export_free(struct drp_export *e)
{
  free(e->prev_id);
  free(e);
}

static const char *name_of(const char *id)
{
  const char *s = strrchr(id, '/');
  return s ? s + 1 : id;
}

int arm_drp_export(struct arm *arm, const char *drp_id)
{
  if (!arm->cfg.nbd)
    return 0;
  struct drp_export *e = calloc(1, sizeof *e);
  if (!e)
    return -ENOMEM;
  e->arm = arm;
  e->cas = arm->cas;
  int r = arm_drp_source(arm, drp_id, &e->root, &e->size);
  if (r == 0) {
    e->prev_id = arm_drp_previous(arm, drp_id);
    r = nbd_export_add(arm->cfg.nbd, name_of(drp_id), &drp_ops, e);
  }
  if (r < 0) {
    log_error("arm", "cannot export disk restore point %s: %s", drp_id, strerror(-r));
    export_free(e);
  }
  return r;
}

void arm_drp_unexport(struct arm *arm, const char *drp_id)
{
  if (!arm->cfg.nbd)
    return;
  void *handle = nbd_export_handle(arm->cfg.nbd, name_of(drp_id));
  if (handle && nbd_export_remove(arm->cfg.nbd, name_of(drp_id), NBD_REMOVE_DISCONNECT) == 0)
    export_free(handle);
}

char *arm_drp_nbd_uri(struct arm *arm, const char *drp_id, bool tcp)
{
  return arm_volume_nbd_uri(arm, name_of(drp_id), tcp);
}
