/*
 * upgrade.c — the storeUpgrade job, which encrypts what a vmrp from before
 * encryption at rest wrote (region/upgrade.c), and where an operator sees
 * how far it got:
 *
 *   GET /subscriptions/{s}/providers/Microsoft.Vmrp/storeUpgrade?api-version=…
 *     {"status": "InProgress"|"Succeeded"|"NotStarted" (no encrypted store
 *      to move to yet), "operationId", "percentComplete",
 *      "diskRestorePoints": {"done", "total"}, "volumes": {"done", "total"},
 *      "volumeBytes": {"converted", "total"}, "plaintextStore": bool}
 *
 * Owner only.  The job is queued once per region when the region opens with
 * anything left to upgrade (arm_upgrade_start; a storeUpgrade operation
 * still InProgress is resumed by the jobs instead — resumable, every step is
 * crash-safe), steps the region for a few seconds at a time and re-queues
 * itself so other jobs get a worker, and logs a line per 10 %.  It waits
 * while copies into the plaintext store still run.  Tests slow it down with
 * the failpoints upgrade.step.delay_ms and upgrade.step.bytes (the most of a
 * volume a step converts: 0 holds the volumes' conversion, 1 converts one
 * unit, a data run or a hole, a step).
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

#define KIND "storeUpgrade"
#define STEP_BYTES (64u << 20) /* of a volume per step */
#define SLICE_US (5 * 1000000)
#define WAIT_MS 1000           /* for copies into the plaintext store */

/* 0-100: the fractions of disk restore points and volume bytes done, the
 * last percent for the plaintext store's deletion. */
static int percent_of(const struct region_upgrade_progress *p)
{
  if (!p->pending)
    return 100;
  double sum = 0;
  int parts = 0;
  if (p->images_total) {
    sum += (double)p->images_done / (double)p->images_total;
    parts++;
  }
  if (p->bytes_total) {
    sum += (double)p->bytes_done / (double)p->bytes_total;
    parts++;
  }
  int pct = parts ? (int)(100 * sum / parts) : 100;
  return pct > 99 ? 99 : pct;
}

static json_t *progress_json(const struct region_upgrade_progress *p, const char *op_id)
{
  const char *status = !p->pending ? "Succeeded" : p->can_encrypt ? "InProgress" : "NotStarted";
  return json_pack("{s:s,s:s?,s:i,s:{s:I,s:I},s:{s:I,s:I},s:{s:I,s:I},s:b}", "status", status, "operationId", op_id,
                   "percentComplete", percent_of(p),
                   "diskRestorePoints", "done", (json_int_t)p->images_done, "total", (json_int_t)p->images_total,
                   "volumes", "done", (json_int_t)p->volumes_done, "total", (json_int_t)p->volumes_total,
                   "volumeBytes", "converted", (json_int_t)p->bytes_done, "total", (json_int_t)p->bytes_total,
                   "plaintextStore", p->legacy_store);
}

static int find_running(void *ctx, const struct meta_operation *op)
{
  if (strcmp(op->kind, KIND) != 0)
    return 0;
  snprintf(ctx, 40, "%s", op->id);
  return 1;
}

int arm_upgrade_start(struct arm *arm)
{
  struct region_upgrade_progress p;
  char running[40] = "";
  int rc = region_upgrade_progress(arm->region, &p);
  bool todo = p.pending && p.can_encrypt && arm->cfg.nsubscriptions;
  if (rc == 0 && todo)
    rc = meta_operation_list_in_progress(arm->meta, find_running, running);
  if (rc < 0 || !todo || running[0])
    return rc < 0 ? rc : 0; /* nothing to do, or resumed by the jobs */
  struct meta_operation op = {.subscription = (char *)arm->cfg.subscriptions[0].id, .provider = "Microsoft.Vmrp",
                              .location = (char *)arm->cfg.locations[0].name, .kind = KIND,
                              .start_us = time_now_us()};
  random_uuid(op.id);
  log_info("arm", "upgrade: data written before encryption at rest is encrypted in the background (operation %s)",
           op.id);
  rc = meta_operation_create(arm->meta, &op);
  return rc == 0 ? jobs_submit(arm->jobs, op.id) : rc;
}

/* A line per 10 %, and the operation's percent. */
static void report(struct arm *arm, struct job *job, int *last)
{
  struct region_upgrade_progress p;
  if (region_upgrade_progress(arm->region, &p) < 0)
    return;
  int pct = percent_of(&p);
  jobs_progress(job, pct);
  if (*last < 0 || pct / 10 != *last / 10)
    log_info("arm",
             "upgrade: %d %% (disk restore points %llu/%llu, volume bytes %llu/%llu encrypted, plaintext store %s)",
             pct, (unsigned long long)p.images_done, (unsigned long long)p.images_total,
             (unsigned long long)p.bytes_done, (unsigned long long)p.bytes_total,
             p.legacy_store ? "still there" : "gone");
  *last = pct;
}

enum job_outcome arm_upgrade_job(void *app, struct job *job, const struct meta_operation *op, struct job_result *res)
{
  struct arm *arm = app;
  int64_t until = time_now_us() + SLICE_US;
  uint64_t budget = (uint64_t)failpoint_value("upgrade.step.bytes", STEP_BYTES);
  int last = op->percent > 0 ? (int)op->percent : -1, rc = 0; /* the last run's, when re-queued */
  enum job_outcome outcome = JOB_INTERRUPTED;
  while (rc >= 0 && rc != 1) {
    rc = region_upgrade_step(arm->region, budget);
    if (rc == -EAGAIN) {
      usleep(WAIT_MS * 1000);
      rc = 0;
    }
    report(arm, job, &last);
    if (rc == 0 && jobs_should_stop(job))
      break; /* resumed at the next start */
    if (rc == 0 && time_now_us() > until) { /* let other jobs have a worker */
      if (jobs_submit(arm->jobs, op->id) == 0)
        break;
      until = time_now_us() + SLICE_US;
    }
  }
  if (rc == 1) {
    struct region_upgrade_progress p;
    json_t *out = region_upgrade_progress(arm->region, &p) == 0 ? progress_json(&p, op->id) : NULL;
    res->result = out ? json_dumps(out, JSON_COMPACT) : NULL;
    json_decref(out);
    log_info("arm", "upgrade: done; every disk and disk restore point written before is encrypted");
    outcome = JOB_DONE;
  } else if (rc < 0) {
    char msg[256];
    snprintf(msg, sizeof msg, "The upgrade stopped: %s; it starts again with the service (see the region's log).",
             strerror(-rc));
    res->error = arm_error_text("StoreUpgradeFailed", msg);
    outcome = JOB_FAILED;
  }
  return outcome;
}

void arm_store_upgrade_get(struct arm_call *call)
{
  if (!arm_role_allows(call->arm, &call->who, call->params[0], ARM_NEED_OWNER)) {
    arm_reply_error(call, 403, "AuthorizationFailed",
                    "The client '%s' with object id '%s' does not have authorization to perform action "
                    "'Microsoft.Vmrp/storeUpgrade/read': Owner is required.",
                    call->who.appid, call->who.oid);
    return;
  }
  struct region_upgrade_progress p;
  char running[40] = "";
  int rc = region_upgrade_progress(call->arm->region, &p);
  if (rc == 0)
    rc = meta_operation_list_in_progress(call->arm->meta, find_running, running);
  if (rc < 0) {
    arm_reply_internal(call, rc);
    return;
  }
  arm_reply_json(call, 200, progress_json(&p, running[0] ? running : NULL));
}
