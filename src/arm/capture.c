/*
 * capture.c — turning a fence into durable disk restore points.
 *
 * The restore point PUT fences every included disk at once (vol_fence: crash
 * consistent across disks, a stall of microseconds) and hands the captures to
 * this file's registry under the id of the creation operation; the job then,
 * per disk, builds the new tree from the previous committed capture of that
 * disk (its "base", kept in the disk's row) and the chunks of the capture set
 * — or a full tree, skipping holes, when there is no base or the changed-block
 * bitmap was untrusted.  Captures live only in memory: after a restart the job
 * cannot run, the operation is failed (jobs.c) and the restore point marked
 * Failed (arm_restore_points_recover), and the disks' bitmaps are untrusted,
 * so the next restore point reads everything: nothing is forgotten.
 *
 * Durability and GC order (the numbered invariants checked by
 * tests/arm/restore_points.sh):
 *  (1) A cas_hold covers the whole build, with the base roots added, so a
 *      concurrent GC deletes neither new objects nor the bases.
 *  (2) cas_sync returns before any row points at a new root.
 *  (3) The disk restore points, the restore point (Succeeded) and each disk's
 *      new base are committed in one transaction, so a restore point is never
 *      Succeeded with a disk missing, and a base always names a durable tree.
 *  (4) Captures are ended committed only after that transaction; on any
 *      failure they end uncommitted and their chunks return to the dirty set.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arm/internal.h"
#include "cas/cas.h"
#include "common/log.h"
#include "snap/tree.h"
#include "vol/vol.h"

struct arm_capture {
  char op_id[40];
  char rp_id[1024];
  struct arm_capture_disk *disks;
  int n;
  struct arm_capture *next;
};

int arm_capture_register(struct arm *arm, const char *op_id, const char *rp_id, struct arm_capture_disk *disks,
                         int n)
{
  struct arm_capture *c = calloc(1, sizeof *c);
  if (!c)
    return -ENOMEM;
  snprintf(c->op_id, sizeof c->op_id, "%s", op_id);
  snprintf(c->rp_id, sizeof c->rp_id, "%s", rp_id);
  c->disks = disks;
  c->n = n;
  pthread_mutex_lock(&arm->captures_lock);
  c->next = arm->captures;
  arm->captures = c;
  pthread_mutex_unlock(&arm->captures_lock);
  return 0;
}

static struct arm_capture *take(struct arm *arm, const char *op_id)
{
  pthread_mutex_lock(&arm->captures_lock);
  struct arm_capture **pp = &arm->captures, *c = NULL;
  while (*pp && strcmp((*pp)->op_id, op_id) != 0)
    pp = &(*pp)->next;
  if (*pp) {
    c = *pp;
    *pp = c->next;
  }
  pthread_mutex_unlock(&arm->captures_lock);
  return c;
}

static void end_all(struct arm_capture *c, bool committed)
{
  for (int i = 0; i < c->n; i++)
    if (c->disks[i].cap)
      vol_capture_end(c->disks[i].cap, committed);
  free(c->disks);
  free(c);
}

void arm_captures_free(struct arm *arm)
{
  struct arm_capture *c;
  while ((c = arm->captures)) {
    arm->captures = c->next;
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
  struct job *job;
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
    jobs_progress(p->job, pct > 99 ? 99 : pct);
  }
}

/* The disk's base: the tree of its last committed capture, if any. */
static bool disk_base(struct arm *arm, const char *disk_id, struct cas_addr *root)
{
  struct meta_resource d;
  if (meta_resource_get(arm->meta, disk_id, &d) < 0)
    return false;
  json_t *extra = json_loads(d.extra ? d.extra : "{}", 0, NULL);
  const char *hex = json_string_value(json_object_get(json_object_get(extra, "captureBase"), "root"));
  bool ok = hex && cas_addr_from_hex(hex, root) == 0;
  json_decref(extra);
  meta_resource_clear(&d);
  return ok;
}

/* Builds one disk's tree from its capture. */
static int build_disk(struct arm *arm, struct arm_capture_disk *d, struct cas_hold *hold, struct progress *pr,
                      struct cas_addr *root, struct tree_build_stats *st)
{
  struct vol_capture *cap = d->cap;
  struct cap_source cs = {cap, cas_chunk_size(arm->cas)};
  struct tree_source src = {.read = cap_read, .is_zero = cap_is_zero, .ctx = &cs};
  struct tree_opts opts = {.progress = on_progress, .progress_ctx = pr};
  struct cas_addr base;
  uint64_t size = vol_capture_size(cap);
  if (vol_capture_full(cap) || !disk_base(arm, d->disk_id, &base))
    return tree_build_full(arm->cas, &src, size, &opts, root, st);
  int r = cas_hold_root(arm->cas, hold, &base);
  if (r < 0)
    return r;
  uint64_t n = vol_capture_chunks(cap), k = 0;
  uint64_t *changed = malloc((n ? n : 1) * sizeof *changed);
  if (!changed)
    return -ENOMEM;
  for (uint64_t i = 0; i < n; i++)
    if (vol_capture_has(cap, i))
      changed[k++] = i;
  r = tree_build_incremental(arm->cas, &base, &src, size, changed, k, &opts, root, st);
  free(changed);
  return r;
}

/* Records the result: disk restore points, restore point and bases, in one
 * transaction (invariant 3). */
static int commit(struct arm *arm, struct arm_capture *c, const struct cas_addr *roots,
                  const struct tree_build_stats *stats)
{
  struct meta *m = arm->meta;
  int rc = meta_begin(m);
  for (int i = 0; rc == 0 && i < c->n; i++) {
    char hex[2 * CAS_ADDR_LEN + 1];
    cas_addr_to_hex(&roots[i], hex);
    uint64_t size = vol_capture_size(c->disks[i].cap);
    struct meta_resource r;
    rc = meta_resource_get(m, c->disks[i].drp_id, &r);
    if (rc < 0)
      break;
    json_t *extra = json_loads(r.extra ? r.extra : "{}", 0, NULL);
    json_object_set_new(extra, "state", json_string("Succeeded"));
    json_object_set_new(extra, "root", json_string(hex));
    json_object_set_new(extra, "size", json_integer((json_int_t)size));
    json_object_set_new(extra, "percent", json_integer(100));
    json_object_set_new(extra, "chunksRead", json_integer((json_int_t)stats[i].chunks_read));
    json_object_set_new(extra, "bytesStored", json_integer((json_int_t)stats[i].bytes_stored));
    free(r.extra);
    r.extra = json_dumps(extra, JSON_COMPACT);
    json_decref(extra);
    free(r.provisioning_state);
    r.provisioning_state = strdup("Succeeded");
    rc = meta_resource_put(m, &r, NULL, 0, NULL);
    meta_resource_clear(&r);
    if (rc < 0)
      break;
    rc = meta_resource_get(m, c->disks[i].disk_id, &r);
    if (rc == -ENOENT) { /* the disk was deleted meanwhile: no base to keep */
      rc = 0;
      continue;
    }
    if (rc < 0)
      break;
    extra = json_loads(r.extra ? r.extra : "{}", 0, NULL);
    json_object_set_new(extra, "captureBase", json_pack("{s:s,s:I,s:s}", "root", hex, "size", (json_int_t)size,
                                                        "diskRestorePoint", c->disks[i].drp_id));
    free(r.extra);
    r.extra = json_dumps(extra, JSON_COMPACT);
    json_decref(extra);
    rc = meta_resource_put(m, &r, NULL, 0, NULL);
    meta_resource_clear(&r);
  }
  if (rc == 0) {
    struct meta_resource rp;
    rc = meta_resource_get(m, c->rp_id, &rp);
    if (rc == 0) {
      free(rp.provisioning_state);
      rp.provisioning_state = strdup("Succeeded");
      rc = meta_resource_put(m, &rp, NULL, 0, NULL);
      meta_resource_clear(&rp);
    }
  }
  if (rc == 0)
    rc = meta_commit(m);
  else
    meta_rollback(m);
  return rc;
}

/* Marks the restore point and its disk restore points Failed. */
static void mark_failed(struct arm *arm, const char *rp_id, const char *code)
{
  struct meta_resource rp;
  if (meta_resource_get(arm->meta, rp_id, &rp) < 0)
    return;
  free(rp.provisioning_state);
  rp.provisioning_state = strdup("Failed");
  json_t *extra = json_loads(rp.extra ? rp.extra : "{}", 0, NULL);
  json_object_set_new(extra, "error", json_string(code));
  free(rp.extra);
  rp.extra = json_dumps(extra, JSON_COMPACT);
  json_decref(extra);
  meta_resource_put(arm->meta, &rp, NULL, 0, NULL);
  meta_resource_clear(&rp);
  arm_drps_set_state(arm, rp_id, "Failed");
}

enum job_outcome arm_rp_create_job(void *app, struct job *job, const struct meta_operation *op,
                                   struct job_result *res)
{
  struct arm *arm = app;
  struct arm_capture *c = take(arm, op->id);
  if (!c) { /* only possible if the fence state was lost */
    mark_failed(arm, op->resource_id, "VMRestorePointInternalError");
    res->error = arm_error_text("VMRestorePointInternalError", "The captured disk state was lost; retry.");
    return JOB_FAILED;
  }
  struct cas_hold *hold = NULL;
  struct cas_addr *roots = calloc((size_t)c->n, sizeof *roots);
  struct tree_build_stats *stats = calloc((size_t)c->n, sizeof *stats);
  struct progress pr = {.job = job, .ndisks = c->n};
  int rc = roots && stats ? cas_hold_begin(arm->cas, &hold) : -ENOMEM;
  for (int i = 0; rc == 0 && i < c->n; i++) {
    pr.disk = i;
    rc = build_disk(arm, &c->disks[i], hold, &pr, &roots[i], &stats[i]);
    if (rc < 0)
      log_error("arm", "capturing disk %s failed: %s", c->disks[i].disk_id, strerror(-rc));
  }
  if (rc == 0)
    rc = cas_sync(arm->cas); /* invariant 2 */
  if (rc == 0)
    rc = commit(arm, c, roots, stats);
  enum job_outcome outcome = JOB_DONE;
  if (rc < 0) {
    mark_failed(arm, c->rp_id, "VMRestorePointInternalError");
    char msg[256];
    snprintf(msg, sizeof msg, "Capturing the disks failed (%s); the changes stay tracked for the next restore point.",
             strerror(-rc));
    res->error = arm_error_text(rc == -ENOSPC ? "DiskFull" : "VMRestorePointInternalError", msg);
    outcome = JOB_FAILED;
  } else {
    uint64_t read = 0, stored = 0;
    for (int i = 0; i < c->n; i++) {
      read += stats[i].chunks_read;
      stored += stats[i].bytes_stored;
    }
    log_info("arm", "restore point %s: %d disk(s), %llu chunks read, %llu bytes stored", c->rp_id, c->n,
             (unsigned long long)read, (unsigned long long)stored);
  }
  for (int i = 0; rc == 0 && i < c->n; i++)
    arm_drp_export(arm, c->disks[i].drp_id);
  end_all(c, rc == 0); /* invariant 4 */
  if (hold)
    cas_hold_end(arm->cas, hold);
  free(roots);
  free(stats);
  return outcome;
}
