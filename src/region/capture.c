/*
 * capture.c — turning a fence into durable disk restore points (images).
 *
 * States of a capture, in order:
 *   FENCED    region_capture_fence fenced every included volume at once
 *             (vol_fence: crash consistent across disks, a stall of
 *             microseconds); nothing is recorded yet.
 *   RECORDED  region_capture_record wrote an image row (Capturing) per disk
 *             inside the front end's transaction with its resource rows.
 *   QUEUED    region_capture_queue parked it under its creation operation.
 *   DURABLE   region_capture_run built, per disk, the new tree from the
 *             volume's capture base (the tree of its previous committed
 *             capture) and the chunks of the capture set — or a full tree,
 *             skipping holes, when there is no base or the changed-block
 *             bitmap was untrusted — and committed it.
 * Captures live only in memory: after a restart the operation cannot run, it
 * is failed (jobs.c) and the restore point marked Failed
 * (region_images_recover), and the disks' bitmaps are untrusted, so the next
 * restore point reads everything: nothing is forgotten.
 *
 * Durability and GC order (the numbered invariants checked by
 * tests/arm/restore_points.sh; tests/reliability/failpoints.sh makes (2)
 * fail with cas.pack.write and (3) with meta.commit, failpoints_store.sh (2)
 * with cas.pack.fsync, and both check (4): Failed, and the next restore
 * point holds every change):
 *  (1) A cas_hold covers the whole build, with the base roots added, so a
 *      concurrent GC deletes neither new objects nor the bases (one per
 *      disk, in the store of its volume's key domain, stores.c).
 *  (2) cas_sync returns before any row points at a new root.
 *  (3) The images, the disk restore points and the restore point (Succeeded)
 *      and each volume's new base are committed in one transaction, so a
 *      restore point is never Succeeded with a disk missing, and a base always
 *      names a durable tree.
 *  (4) Captures are ended committed only after that transaction; on any
 *      failure they end uncommitted and their chunks return to the dirty set.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "region/internal.h"
#include "snap/tree.h"
#include "vol/vol.h"

struct capture_disk {
  char image_id[1536];
  char disk_id[1024];
  char vol_id[40];
  char domain[META_DOMAIN_HEX]; /* the store its tree goes to: its volume's domain */
  struct vol_capture *cap;
  struct cas *cas;              /* that store, and a hold on it (run) */
  struct cas_hold *hold;
};

struct region_capture {
  char op_id[40];
  char rp_id[1024];
  struct capture_disk *disks;
  int n;
  struct region_capture *next;
};

int region_capture_fence(struct region *rg, const char *const *vol_ids, int n, const struct region_quiesce *q,
                         struct region_capture **out, struct region_fence_report *rep)
{
  memset(rep, 0, sizeof *rep);
  struct region_capture *c = calloc(1, sizeof *c);
  struct volume **vols = calloc((size_t)n + 1, sizeof *vols);
  struct vol_capture **caps = calloc((size_t)n + 1, sizeof *caps);
  int rc = c && vols && caps && (c->disks = calloc((size_t)n + 1, sizeof *c->disks)) ? 0 : -ENOMEM;
  for (int k = 0; rc == 0 && k < n; k++) {
    vols[k] = region_volume_find(rg, vol_ids[k]);
    if (!vols[k])
      rc = -ENOENT;
    snprintf(c->disks[k].vol_id, sizeof c->disks[k].vol_id, "%s", vol_ids[k]);
  }
  /* freeze → fence → thaw: the guest is frozen for the fence alone */
  struct guest_freeze *frozen = NULL;
  if (rc == 0 && q && q->vm_id) {
    int frc = region_guest_freeze(rg, q->vm_id, &frozen, rep->agent_error, sizeof rep->agent_error);
    if (frc < 0 && (q->required || frc == -EBUSY || frc == -ENOMEM || frc == -EIO))
      rc = frc;
  }
  if (rc == 0 && n > 0)
    rc = vol_fence(vols, n, 0, caps, &rep->stall_ns);
  if (frozen) {
    int trc = region_guest_thaw(rg, frozen, &rep->frozen_ns, rep->agent_error, sizeof rep->agent_error);
    rep->quiesced = trc == 0 && rc == 0;
    if (trc < 0 && rc == 0 && q->required) {
      /* thawed late or not at all: the guest may have run on before the
       * fence (an agent's own time limit), so the fence proves nothing */
      for (int k = 0; k < n; k++)
        vol_capture_end(caps[k], false);
      rc = trc;
    }
  }
  if (rc == 0) {
    for (int k = 0; k < n; k++)
      c->disks[k].cap = caps[k];
    c->n = n;
    *out = c;
  } else if (c) {
    free(c->disks);
    free(c);
  }
  free(vols);
  free(caps);
  return rc;
}

char *region_capture_base_image(struct region *rg, const char *vol_id)
{
  struct meta_capture_base b;
  if (meta_capture_base_get(rg->meta, vol_id, &b) < 0)
    return NULL;
  char *id = b.image_id;
  b.image_id = NULL;
  meta_capture_base_clear(&b);
  return id;
}

int region_capture_record(struct region *rg, struct region_capture *c, int k, const char *image_id,
                          const char *rp_id, const char *disk_id)
{
  struct capture_disk *d = &c->disks[k];
  snprintf(d->image_id, sizeof d->image_id, "%s", image_id);
  snprintf(d->disk_id, sizeof d->disk_id, "%s", disk_id);
  struct meta_volume mv;
  int rc = meta_volume_get(rg->meta, d->vol_id, &mv);
  if (rc < 0)
    return rc;
  snprintf(d->domain, sizeof d->domain, "%s", mv.domain[0] ? mv.domain : rg->platform);
  meta_volume_clear(&mv);
  char *prev = region_capture_base_image(rg, d->vol_id);
  struct meta_image im = {.id = (char *)image_id, .rp_id = (char *)rp_id, .disk_id = (char *)disk_id,
                          .previous_id = prev, .state = IMAGE_CAPTURING};
  snprintf(im.volume_id, sizeof im.volume_id, "%s", d->vol_id);
  snprintf(im.domain, sizeof im.domain, "%s", d->domain);
  rc = meta_image_put(rg->meta, &im);
  free(prev);
  return rc;
}

int region_capture_queue(struct region *rg, struct region_capture *c, const char *op_id, const char *rp_id)
{
  snprintf(c->op_id, sizeof c->op_id, "%s", op_id);
  snprintf(c->rp_id, sizeof c->rp_id, "%s", rp_id);
  pthread_mutex_lock(&rg->captures_lock);
  c->next = rg->captures;
  rg->captures = c;
  pthread_mutex_unlock(&rg->captures_lock);
  return 0;
}

static struct region_capture *take(struct region *rg, const char *op_id)
{
  pthread_mutex_lock(&rg->captures_lock);
  struct region_capture **pp = &rg->captures, *c = NULL;
  while (*pp && strcmp((*pp)->op_id, op_id) != 0)
    pp = &(*pp)->next;
  if (*pp) {
    c = *pp;
    *pp = c->next;
  }
  pthread_mutex_unlock(&rg->captures_lock);
  return c;
}

static void end_all(struct region_capture *c, bool committed)
{
  for (int i = 0; i < c->n; i++) {
    if (c->disks[i].cap)
      vol_capture_end(c->disks[i].cap, committed);
    if (c->disks[i].hold)
      cas_hold_end(c->disks[i].cas, c->disks[i].hold);
  }
  free(c->disks);
  free(c);
}

void region_capture_abort(struct region_capture *c)
{
  if (c)
    end_all(c, false);
}

void region_captures_free(struct region *rg)
{
  struct region_capture *c;
  while ((c = rg->captures)) {
    rg->captures = c->next;
    end_all(c, false);
  }
}

/* A tree_source over a capture: chunk-aligned reads of the fenced image. */
struct cap_source {
  struct vol_capture *cap;
  uint32_t chunk;
};

static int cap_read(void *ctx, void *buf, size_t len, uint64_t off)
{
  struct cap_source *s = ctx;
  unsigned char *p = buf;
  while (len > 0) {
    uint64_t idx = off / s->chunk;
    size_t got;
    if (off % s->chunk)
      return -EINVAL; /* tree builders read whole chunks */
    int r = vol_capture_read(s->cap, idx, p, &got);
    if (r < 0)
      return r;
    if (got > len)
      return -EINVAL;
    p += got;
    off += got;
    len -= got;
  }
  return 0;
}

static int cap_is_zero(void *ctx, uint64_t off, uint64_t len)
{
  struct cap_source *s = ctx;
  for (uint64_t idx = off / s->chunk; idx * s->chunk < off + len; idx++) {
    int r = vol_capture_is_hole(s->cap, idx);
    if (r <= 0)
      return r == -ENOENT ? 0 : r;
  }
  return 1;
}

struct progress {
  void (*fn)(void *ctx, double percent);
  void *ctx;
  int disk, ndisks;
  int last;
};

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
  struct progress *p = ctx;
  double frac = total ? (double)done / (double)total : 1;
  int pct = (int)(100.0 * (p->disk + frac) / p->ndisks);
  if (pct >= p->last + 5) { /* a database write per 5 % */
    p->last = pct;
    p->fn(p->ctx, pct > 99 ? 99 : pct);
  }
}

/* The volume's base: the tree of its last committed capture, if any, when
 * it is in the store this capture goes to (a volume from before moves to
 * its domain's store with a full capture). */
static bool volume_base(struct region *rg, const struct capture_disk *d, struct cas_addr *root)
{
  struct meta_capture_base b;
  if (meta_capture_base_get(rg->meta, d->vol_id, &b) < 0)
    return false;
  bool ok = !strcmp(b.domain, d->domain) && cas_addr_from_hex(b.root, root) == 0;
  meta_capture_base_clear(&b);
  return ok;
}

/* Builds one disk's tree from its capture. */
static int build_disk(struct region *rg, struct capture_disk *d, struct progress *pr, struct cas_addr *root,
                      struct tree_build_stats *st)
{
  struct vol_capture *cap = d->cap;
  struct cap_source cs = {cap, cas_chunk_size(d->cas)};
  struct tree_source src = {.read = cap_read, .is_zero = cap_is_zero, .ctx = &cs};
  struct tree_opts opts = {.progress = on_progress, .progress_ctx = pr};
  struct cas_addr base;
  uint64_t size = vol_capture_size(cap);
  if (vol_capture_full(cap) || !volume_base(rg, d, &base))
    return tree_build_full(d->cas, &src, size, &opts, root, st);
  int r = cas_hold_root(d->cas, d->hold, &base);
  if (r < 0)
    return r;
  uint64_t n = vol_capture_chunks(cap), k = 0;
  uint64_t *changed = malloc((n ? n : 1) * sizeof *changed);
  if (!changed)
    return -ENOMEM;
  for (uint64_t i = 0; i < n; i++)
    if (vol_capture_has(cap, i))
      changed[k++] = i;
  r = tree_build_incremental(d->cas, &base, &src, size, changed, k, &opts, root, st);
  free(changed);
  return r;
}

/* Records the result: images, disk restore points, restore point and bases,
 * in one transaction (invariant 3). */
static int commit(struct region *rg, struct region_capture *c, const struct cas_addr *roots,
                  const struct tree_build_stats *stats)
{
  struct meta *m = rg->meta;
  int rc = meta_begin(m);
  for (int i = 0; rc == 0 && i < c->n; i++) {
    struct capture_disk *d = &c->disks[i];
    struct meta_image im;
    rc = meta_image_get(m, d->image_id, &im);
    if (rc < 0)
      break;
    im.state = IMAGE_READY;
    cas_addr_to_hex(&roots[i], im.root);
    im.size = vol_capture_size(d->cap);
    im.percent = 100;
    im.chunks_read = stats[i].chunks_read;
    im.bytes_stored = stats[i].bytes_stored;
    rc = meta_image_put(m, &im);
    if (rc == 0)
      rc = meta_resource_set_state(m, d->image_id, "Succeeded", NULL);
    struct meta_volume mv;
    if (rc == 0 && meta_volume_get(m, d->vol_id, &mv) == 0) { /* else the disk is gone: no base to keep */
      struct meta_capture_base b = {.size = im.size, .image_id = d->image_id};
      snprintf(b.volume_id, sizeof b.volume_id, "%s", d->vol_id);
      snprintf(b.root, sizeof b.root, "%s", im.root);
      snprintf(b.domain, sizeof b.domain, "%s", d->domain);
      rc = meta_capture_base_put(m, &b);
      meta_volume_clear(&mv);
    }
    meta_image_clear(&im);
  }
  if (rc == 0)
    rc = meta_resource_set_state(m, c->rp_id, "Succeeded", NULL);
  if (rc == 0)
    rc = meta_commit(m);
  else
    meta_rollback(m);
  return rc;
}

int region_capture_run(struct region *rg, const char *op_id, void (*progress)(void *ctx, double percent), void *ctx)
{
  struct region_capture *c = take(rg, op_id);
  if (!c)
    return -ENOENT;
  struct cas_addr *roots = calloc((size_t)c->n + 1, sizeof *roots);
  struct tree_build_stats *stats = calloc((size_t)c->n + 1, sizeof *stats);
  struct progress pr = {.fn = progress, .ctx = ctx, .ndisks = c->n};
  int rc = roots && stats ? 0 : -ENOMEM;
  for (int i = 0; rc == 0 && i < c->n; i++) { /* invariant 1, in each disk's store */
    struct capture_disk *d = &c->disks[i];
    rc = (d->cas = region_store_for(rg, d->domain)) ? cas_hold_begin(d->cas, &d->hold) : -errno;
  }
  for (int i = 0; rc == 0 && i < c->n; i++) {
    pr.disk = i;
    rc = build_disk(rg, &c->disks[i], &pr, &roots[i], &stats[i]);
    if (rc < 0)
      log_error("region", "capturing disk %s failed: %s", c->disks[i].disk_id, strerror(-rc));
  }
  for (int i = 0; rc == 0 && i < c->n; i++)
    rc = cas_sync(c->disks[i].cas); /* invariant 2 */
  if (rc == 0)
    rc = commit(rg, c, roots, stats);
  if (rc == 0) {
    uint64_t read = 0, stored = 0;
    for (int i = 0; i < c->n; i++) {
      read += stats[i].chunks_read;
      stored += stats[i].bytes_stored;
    }
    log_info("region", "restore point %s: %d disk(s), %llu chunks read, %llu bytes stored", c->rp_id, c->n,
             (unsigned long long)read, (unsigned long long)stored);
  }
  for (int i = 0; rc == 0 && i < c->n; i++)
    region_image_export(rg, c->disks[i].image_id);
  end_all(c, rc == 0); /* invariant 4; the holds end */
  free(roots);
  free(stats);
  return rc;
}
