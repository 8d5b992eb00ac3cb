/*
 * hydration.c — the diskHydrate job of a disk restored from a disk restore
 * point.
 *
 * The disk's volume is a lazy volume (region/source.c, vol/hydrate.c),
 * usable as soon as it exists; this resumable job fills it: it steps the
 * volume's hydration, a step lasting about a second (the disk's hydration
 * percent is live, the operation's is updated per step), and after a few
 * seconds re-queues itself so that other jobs get a worker.  A step that
 * fails on the disk (ENOSPC, EIO: full, or an I/O error) is retried, 1 s
 * doubling to 16 s apart, until it passes or the service stops: failing the
 * job would leave the disk Hydrating, bound to its source, for good.  Its payload
 * names the volume, so an operation left over from an earlier attempt at
 * creating the disk finds nothing to do.  Tests slow it down with the
 * failpoints disk.hydrate.step_bytes and disk.hydrate.step_delay_ms.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arm/internal.h"
#include "common/failpoint.h"
#include "common/log.h"
#include "common/random.h"
#include "common/timefmt.h"

#define STEP_BYTES INT64_MAX /* a step ends after a second (vol_hydrate_step) */
#define SLICE_US (5 * 1000000)

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
  for (int64_t nap_ms = 1000; r == 0;) {
    double pct;
    r = region_volume_hydrate_step(arm->region, vol_id, budget, &pct);
    if (r == -ENOSPC || r == -EIO) { /* a full or failing disk comes back: the volume keeps what it has */
      log_warn("arm", "hydrating %s: %s; retrying in %lld s", op->resource_id, strerror(-r), (long long)(nap_ms / 1000));
      r = 0;
      if (!jobs_nap(job, nap_ms)) {
        outcome = JOB_INTERRUPTED; /* resumed at the next start */
        break;
      }
      nap_ms = nap_ms < 16000 ? 2 * nap_ms : nap_ms;
      continue;
    }
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
