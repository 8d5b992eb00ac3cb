/*
 * hydration.c — disks restored from a disk restore point: the tree a restored
 * disk's volume hydrates from, and the diskHydrate job that fills it.
 *
 * A restored disk is a lazy volume (vol/hydrate.c): usable as soon as it
 * exists, its chunks not yet hydrated read from the tree.  The tree is
 * described in <vol>.src ({root, size, sourceResourceId}), written before the
 * volume turns READY, so a restart re-attaches it (volumes.c).  For as long as
 * the volume may read it, the tree is a GC root: the GC's root source lists
 * the source tree of every open lazy volume (arm_volumes_hydration_roots), so
 * deleting the disk restore point meanwhile is safe.  A cas_hold with the root
 * covers only the moment between opening the source and the volume joining
 * the open volumes (arm_hydration_unhold): a hold open for a whole hydration
 * would make every GC meanwhile keep everything put while it lasts.
 *
 * Reads come from several threads (NBD connections, the job's workers,
 * captures); a tree_reader serves one thread at a time, so a small pool of
 * readers is kept.  A thread gets back the reader it last returned when that
 * one is idle (else the last one returned), so each of the job's workers
 * keeps its own path cache and read-ahead.
 *
 * diskHydrate (resumable): steps the volume's hydration, a step lasting about
 * a second (vol_hydrate_step; the disk's hydration percent is live, the
 * operation's is updated per step), and after a few seconds re-queues itself
 * so that other jobs get a worker.  Its payload names the volume, so an operation left
 * over from an earlier attempt at creating the disk finds nothing to do.
 * Tests slow it down with the failpoints disk.hydrate.step_bytes and
 * disk.hydrate.step_delay_ms.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arm/internal.h"
#include "common/failpoint.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/random.h"
#include "common/timefmt.h"
#include "snap/tree.h"
#include "vol/vol.h"

#define POOL 8
#define STEP_BYTES INT64_MAX /* a step ends after a second (vol_hydrate_step) */
#define SLICE_US (5 * 1000000)

struct arm_hydration {
  struct cas *cas;
  struct cas_hold *hold;
  struct cas_addr root;
  uint64_t size;
  unsigned shift;
  bool broken; /* the tree could not be opened: every read fails */
  pthread_mutex_t lock;
  struct tree_reader *pool[POOL];
  pthread_t owner[POOL]; /* the thread that returned pool[i] */
  int npool;
};

int arm_hydration_save(const struct arm_hydration_source *src, const char *path)
{
  char hex[2 * CAS_ADDR_LEN + 1];
  cas_addr_to_hex(&src->root, hex);
  json_t *o = json_pack("{s:s,s:I,s:s}", "root", hex, "size", (json_int_t)src->size, "sourceResourceId",
                        src->drp_id ? src->drp_id : "");
  char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
  int r = text ? write_file_atomic(path, text, strlen(text)) : -ENOMEM;
  free(text);
  json_decref(o);
  return r;
}

static struct tree_reader *reader_get(struct arm_hydration *h)
{
  struct tree_reader *rd = NULL;
  pthread_t self = pthread_self();
  pthread_mutex_lock(&h->lock);
  if (h->npool) {
    int i = h->npool - 1;
    for (int k = 0; k < h->npool; k++)
      if (pthread_equal(h->owner[k], self))
        i = k;
    rd = h->pool[i];
    h->npool--;
    h->pool[i] = h->pool[h->npool];
    h->owner[i] = h->owner[h->npool];
  }
  pthread_mutex_unlock(&h->lock);
  if (!rd && tree_reader_open(h->cas, &h->root, &rd) < 0)
    rd = NULL;
  return rd;
}

static void reader_put(struct arm_hydration *h, struct tree_reader *rd)
{
  pthread_mutex_lock(&h->lock);
  if (h->npool < POOL) {
    h->owner[h->npool] = pthread_self();
    h->pool[h->npool++] = rd;
    rd = NULL;
  }
  pthread_mutex_unlock(&h->lock);
  tree_reader_close(rd);
}

static int src_read(void *ctx, uint64_t idx, void *buf, size_t len)
{
  struct arm_hydration *h = ctx;
  struct tree_reader *rd = h->broken ? NULL : reader_get(h);
  if (!rd)
    return -EIO;
  int r = tree_reader_read(rd, buf, len, idx << h->shift);
  reader_put(h, rd);
  return r;
}

static int src_zero(void *ctx, uint64_t idx)
{
  struct arm_hydration *h = ctx;
  struct tree_reader *rd = h->broken ? NULL : reader_get(h);
  if (!rd)
    return -EIO;
  struct cas_addr a;
  int r = tree_reader_chunk(rd, idx, &a);
  reader_put(h, rd);
  return r < 0 ? r : cas_addr_is_zero(&a);
}

int arm_hydration_open(struct arm *arm, const char *path, bool fresh, struct vol_source *vs,
                       struct arm_hydration **out)
{
  void *text = NULL;
  size_t len;
  int r = read_file(path, &text, &len);
  json_t *o = r == 0 ? json_loadb(text, len, 0, NULL) : NULL;
  free(text);
  struct arm_hydration *h = calloc(1, sizeof *h);
  const char *hex = json_string_value(json_object_get(o, "root"));
  if (r == 0 && (!h || !hex || cas_addr_from_hex(hex, &h->root) < 0))
    r = h ? -EIO : -ENOMEM;
  if (r < 0) {
    log_error("arm", "cannot read the hydration source %s: %s", path, strerror(-r));
    json_decref(o);
    free(h);
    return r;
  }
  h->cas = arm->cas;
  h->size = (uint64_t)json_integer_value(json_object_get(o, "size"));
  pthread_mutex_init(&h->lock, NULL);
  r = cas_hold_begin(arm->cas, &h->hold);
  if (r == 0)
    r = cas_hold_root(arm->cas, h->hold, &h->root);
  struct tree_info ti;
  if (r == 0 && (tree_info(arm->cas, &h->root, &ti) < 0 || ti.size != h->size ||
                 (1u << ti.chunk_shift) != arm->cfg.chunk_size)) {
    log_error("arm", "the tree %s that %s hydrates from cannot be read; its chunks not yet hydrated fail with EIO",
              hex, path);
    h->broken = true;
    if (fresh) /* a new disk: refuse it rather than serve errors */
      r = -ENOENT;
  }
  h->shift = h->broken ? 0 : ti.chunk_shift;
  json_decref(o);
  if (r < 0) {
    arm_hydration_close(h);
    return r;
  }
  *vs = (struct vol_source){src_read, src_zero, h, h->size};
  *out = h;
  return 0;
}

const struct cas_addr *arm_hydration_root(const struct arm_hydration *h) { return &h->root; }

void arm_hydration_unhold(struct arm_hydration *h)
{
  if (h && h->hold) {
    cas_hold_end(h->cas, h->hold);
    h->hold = NULL;
  }
}

void arm_hydration_close(struct arm_hydration *h)
{
  if (!h)
    return;
  for (int i = 0; i < h->npool; i++)
    tree_reader_close(h->pool[i]);
  if (h->hold)
    cas_hold_end(h->cas, h->hold);
  pthread_mutex_destroy(&h->lock);
  free(h);
}

int arm_disk_hydrate_start(struct arm *arm, const char *subscription, const char *disk_id, const char *vol_id)
{
  char payload[128];
  snprintf(payload, sizeof payload, "{\"volume\":\"%s\"}", vol_id);
  struct meta_operation op = {.subscription = (char *)subscription, .provider = "Microsoft.Compute",
                              .location = (char *)arm->cfg.locations[0].name, .kind = "diskHydrate",
                              .resource_id = (char *)disk_id, .payload = payload, .start_us = time_now_us()};
  random_uuid(op.id);
  int r = meta_operation_create(arm->meta, &op);
  if (r == 0 && arm->jobs)
    r = jobs_submit(arm->jobs, op.id);
  return r;
}

enum job_outcome arm_disk_hydrate_job(void *app, struct job *job, const struct meta_operation *op,
                                      struct job_result *res)
{
  struct arm *arm = app;
  json_t *payload = json_loads(op->payload ? op->payload : "{}", 0, NULL);
  const char *vol_id = json_string_value(json_object_get(payload, "volume"));
  int64_t until = time_now_us() + SLICE_US;
  uint64_t budget = (uint64_t)failpoint_value("disk.hydrate.step_bytes", STEP_BYTES);
  int64_t delay_ms = failpoint_value("disk.hydrate.step_delay_ms", 0);
  enum job_outcome outcome = JOB_DONE;
  int r = vol_id ? 0 : -ENOENT;
  while (r == 0) {
    double pct;
    r = arm_volume_hydrate_step(arm, vol_id, budget, &pct);
    jobs_progress(job, pct);
    if (r == 0 && delay_ms > 0)
      usleep((useconds_t)delay_ms * 1000);
    if (r == 0 && jobs_should_stop(job)) {
      outcome = JOB_INTERRUPTED; /* resumed at the next start */
      break;
    }
    if (r == 0 && time_now_us() > until) { /* let other jobs have a worker */
      outcome = jobs_submit(arm->jobs, op->id) == 0 ? JOB_INTERRUPTED : JOB_DONE;
      if (outcome == JOB_DONE)
        until = time_now_us() + SLICE_US;
      else
        break;
    }
  }
  if (r == -EBUSY) /* another run of this operation holds the volume */
    outcome = JOB_INTERRUPTED;
  else if (r < 0 && r != -ENOENT) { /* -ENOENT: the disk is gone, nothing to do */
    char msg[256];
    snprintf(msg, sizeof msg, "Hydrating the disk from its restore point failed: %s.", strerror(-r));
    res->error = arm_error_text("InternalDiskManagementError", msg);
    outcome = JOB_FAILED;
  }
  json_decref(payload);
  return outcome;
}
