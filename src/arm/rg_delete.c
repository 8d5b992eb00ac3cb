/*
 * rg_delete.c — the resourceGroupDelete job: every resource in the group,
 * deepest first, through the delete hook of its type, and the group last.
 * The job is idempotent (it re-lists what is left), so it resumes after a
 * restart.  It builds on the resource types' files (disks, VMs, disk restore
 * points), which build on resource_groups.c, never the other way.
 *
 * Locks (locks.c) refuse the DELETE before the job is queued; the job looks
 * again before it deletes anything, for a lock set between that check and
 * the group turning Deleting (a lock PUT is refused once it is): then the
 * group is Succeeded again and the operation fails with ScopeLocked.
 *
 * A restore point with a retention lock in force stops the job before it
 * deletes anything (the DELETE already refused it; this covers a lock that
 * reached the group after, e.g. through a copy, and a job resumed after a
 * restart): the group is Succeeded again and the operation fails with
 * RestorePointRetentionLocked.  The database refuses such a deletion anyway
 * (retention_lock.c); this makes it whole instead of partial.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"
#include "common/log.h"
#include "common/strlist.h"
#include "policy/spec.h"

/* Type-specific clean-up for resources inside a group being deleted.  Types
 * whose resources own data outside the metadata store (disks, restore points)
 * register here; others are removed as rows. */
static const struct {
  const char *type;
  int (*delete_fn)(struct arm *arm, const struct meta_resource *r);
} child_delete_hooks[] = {
    {"Microsoft.Compute/virtualMachines", arm_vm_delete_child}, /* detaches its disks */
    {"Microsoft.Compute/disks", arm_disk_delete_child},
    {DRP_TYPE, arm_drp_delete_child}, /* unexported before its rows go */
    {POLICY_TYPE, arm_policy_delete_child}, /* its webhook secret with it */
    {NULL, NULL},
};

static int delete_child(struct arm *arm, const struct meta_resource *r)
{
  for (int i = 0; child_delete_hooks[i].type; i++)
    if (strcasecmp(child_delete_hooks[i].type, r->type) == 0)
      return child_delete_hooks[i].delete_fn(arm, r);
  int rc = meta_resource_delete(arm->meta, r->id);
  return rc == -ENOENT ? 0 : rc;
}

static int collect_id(void *ctx, const struct meta_resource *r) { return strlist_add(ctx, r->id); }

enum job_outcome arm_rg_delete_job(void *app, struct job *job, const struct meta_operation *op,
                                   struct job_result *res)
{
  struct arm *arm = app;
  struct strlist l = {0};
  enum job_outcome outcome = JOB_DONE;
  char *locked = NULL;
  int rc = arm_locks_under(arm, op->resource_id, &locked);
  if (rc == 0 && *locked) {
    log_warn("arm", "deleting resource group %s: locked at %s", op->resource_id, locked);
    char message[2048];
    arm_scope_locked_message(message, sizeof message, op->resource_id, "delete", locked);
    free(locked);
    if (meta_resource_set_state(arm->meta, op->resource_id, "Succeeded", NULL) < 0)
      return JOB_INTERRUPTED; /* tried again at the next start */
    res->error = arm_error_text("ScopeLocked", message);
    return JOB_FAILED;
  }
  free(locked);
  char rp[1200];
  if (rc == 0)
    rc = arm_retention_locked_under(arm, op->resource_id, rp, sizeof rp);
  if (rc > 0) {
    char msg[1400];
    snprintf(msg, sizeof msg, "Restore point '%s' has a retention lock in force: the resource group was not deleted.",
             rp);
    log_warn("arm", "deleting resource group %s refused: %s", op->resource_id, msg);
    if (meta_resource_set_state(arm->meta, op->resource_id, "Succeeded", NULL) < 0)
      return JOB_INTERRUPTED; /* tried again at the next start */
    res->error = arm_error_text(ARM_RETENTION_LOCKED_CODE, msg);
    return JOB_FAILED;
  }
  if (rc == 0)
    rc = meta_resource_list_under(arm->meta, op->resource_id, collect_id, &l);
  for (size_t i = 0; rc == 0 && i < l.n; i++) {
    if (jobs_should_stop(job)) {
      outcome = JOB_INTERRUPTED;
      goto out;
    }
    struct meta_resource child;
    if (meta_resource_get(arm->meta, l.v[i], &child) == 0) {
      rc = delete_child(arm, &child);
      meta_resource_clear(&child);
    }
    jobs_progress(job, 100.0 * (double)(i + 1) / (double)(l.n + 1));
  }
  if (rc == 0) {
    rc = meta_resource_delete(arm->meta, op->resource_id);
    if (rc == -ENOENT)
      rc = 0;
  }
  if (rc < 0) {
    log_error("arm", "deleting resource group %s failed: %s", op->resource_id, strerror(-rc));
    res->error = arm_error_text("InternalServerError", "Deleting the resource group failed; retry the request.");
    outcome = JOB_FAILED;
  }
out:
  strlist_free(&l);
  return outcome;
}
