/*
 * vm_jobs.c — the jobs that finish a virtual machine's creation and
 * deletion, and vm_remove, which the vmDelete job shares with a resource
 * group delete (arm_vm_delete_child).
 *
 * vmCreate takes a VM from Creating or Updating to Succeeded (Failed on an
 * error).  Its payload lists the Empty data disks the PUT/PATCH created
 * (vm_plan.c); each one still Updating is provisioned through the disk
 * creation job, then a VM still "starting" is running.  A job run again
 * after a restart skips the disks already provisioned.
 *
 * vmDelete takes a VM from Deleting to gone (Failed on an error, so that the
 * DELETE may be retried).  vm_remove deletes the disks with deleteOption
 * Delete that no other VM owns, detaches the others (only where managedBy
 * names this VM: the attachment invariant of vm_plan.c), deletes the network
 * interfaces (and their public IPs) marked deleteOption Delete, then removes
 * the row.  It is idempotent, a disk already gone is skipped, and it fails with
 * -EBUSY while an NBD client holds a disk to delete.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"
#include "arm/network.h"
#include "arm/vm.h"
#include "common/log.h"

struct remove_state {
  struct arm *arm;
  const char *vm;
  int rc;
};

static void remove_disk(json_t *entry, void *ctx)
{
  struct remove_state *st = ctx;
  const char *id = json_string_value(json_object_get(json_object_get(entry, "managedDisk"), "id"));
  const char *del = json_string_value(json_object_get(entry, "deleteOption"));
  bool delete_it = del && !strcasecmp(del, "Delete");
  if (st->rc < 0 || !id)
    return;
  struct meta_resource d;
  int rc = meta_resource_get(st->arm->meta, id, &d);
  if (rc == -ENOENT)
    rc = 0; /* deleted before the VM: nothing to detach */
  else if (rc == 0) {
    json_t *extra = arm_vm_loads(d.extra);
    const char *owner = json_string_value(json_object_get(extra, "managedBy"));
    bool ours = !owner || !strcasecmp(owner, st->vm);
    if (strcasecmp(d.type, DISK_TYPE) != 0)
      rc = 0;
    else if (delete_it && ours)
      rc = arm_disk_delete_child(st->arm, &d);
    else
      rc = arm_vm_plan_set_owner(st->arm, id, NULL, st->vm);
    json_decref(extra);
    meta_resource_clear(&d);
  }
  st->rc = rc;
}

/* Deletes the Delete-option disks, detaches the others, removes the row.
 * Idempotent: a disk already gone is skipped.  -EBUSY when an NBD client
 * holds a disk to delete. */
static int vm_remove(struct arm *arm, const struct meta_resource *vm)
{
  json_t *props = arm_vm_loads(vm->properties);
  struct remove_state st = {.arm = arm, .vm = vm->id};
  arm_vm_each_disk(props, remove_disk, &st);
  if (st.rc == 0)
    st.rc = arm_net_vm_removed(arm, props);
  json_decref(props);
  if (st.rc == 0) {
    st.rc = meta_resource_delete(arm->meta, vm->id);
    if (st.rc == -ENOENT)
      st.rc = 0;
  }
  return st.rc;
}

int arm_vm_delete_child(struct arm *arm, const struct meta_resource *r)
{
  return vm_remove(arm, r);
}

/* Makes the Empty disks listed in the payload (through the disk creation job
 * function, once per disk still Updating), then marks the VM Succeeded. */
enum job_outcome arm_vm_create_job(void *app, struct job *job, const struct meta_operation *op,
                                   struct job_result *res)
{
  struct arm *arm = app;
  struct meta_resource vm;
  if (meta_resource_get(arm->meta, op->resource_id, &vm) < 0)
    return JOB_DONE; /* deleted meanwhile */
  json_t *payload = arm_vm_loads(op->payload), *v;
  enum job_outcome outcome = JOB_DONE;
  size_t i;
  json_array_foreach(json_object_get(payload, "disks"), i, v) {
    struct meta_resource d;
    if (outcome != JOB_DONE || meta_resource_get(arm->meta, json_string_value(v), &d) < 0)
      continue;
    bool pending = d.provisioning_state && !strcmp(d.provisioning_state, "Updating");
    json_t *props = arm_vm_loads(d.properties);
    char dpayload[128];
    snprintf(dpayload, sizeof dpayload, "{\"size\":%lld,\"source\":\"\"}",
             (long long)json_integer_value(json_object_get(props, "diskSizeBytes")));
    json_decref(props);
    struct meta_operation dop = {.resource_id = d.id, .payload = dpayload};
    if (pending)
      outcome = arm_disk_create_job(arm, job, &dop, res);
    meta_resource_clear(&d);
  }
  json_decref(payload);
  if (outcome == JOB_INTERRUPTED)
    goto out;
  json_t *extra = arm_vm_loads(vm.extra);
  if (outcome == JOB_DONE && !strcmp(arm_vm_power_state(extra), "starting"))
    json_object_set_new(extra, "powerState", json_string("running"));
  free(vm.extra);
  vm.extra = json_dumps(extra, JSON_COMPACT);
  json_decref(extra);
  free(vm.provisioning_state);
  vm.provisioning_state = strdup(outcome == JOB_DONE ? "Succeeded" : "Failed");
  int rc = meta_resource_put(arm->meta, &vm, NULL, 0, NULL);
  if (rc < 0 && outcome == JOB_DONE) {
    res->error = arm_error_text("InternalExecutionError", "Recording the virtual machine failed.");
    outcome = JOB_FAILED;
  }
out:
  meta_resource_clear(&vm);
  return outcome;
}

enum job_outcome arm_vm_delete_job(void *app, struct job *job, const struct meta_operation *op,
                                   struct job_result *res)
{
  struct arm *arm = app;
  (void)job;
  struct meta_resource vm;
  if (meta_resource_get(arm->meta, op->resource_id, &vm) < 0)
    return JOB_DONE;
  int rc = vm_remove(arm, &vm);
  if (rc < 0) {
    log_error("arm", "deleting virtual machine %s failed: %s", vm.id, strerror(-rc));
    res->error = arm_error_text(rc == -EBUSY ? "OperationNotAllowed" : "InternalExecutionError",
                                rc == -EBUSY ? "A disk with deleteOption Delete is in use by an NBD client."
                                             : "Deleting the virtual machine failed; retry the request.");
    free(vm.provisioning_state);
    vm.provisioning_state = strdup("Failed");
    meta_resource_put(arm->meta, &vm, NULL, 0, NULL);
  }
  meta_resource_clear(&vm);
  return rc < 0 ? JOB_FAILED : JOB_DONE;
}
