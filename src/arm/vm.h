/*
 * vm.h — what the three files of Microsoft.Compute/virtualMachines share.
 * Private to src/arm.
 *
 * vms.c answers the requests and builds the JSON view; vm_plan.c checks a
 * PUT/PATCH body and turns it into a plan, the new configuration and the disk
 * attachments to write, and keeps the attachment invariant stated at its top;
 * vm_jobs.c runs the jobs that finish a creation or a deletion.  A VM row
 * keeps its configuration in `properties` and its power state in `extra`.
 * "Inside the transaction" below means the caller has begun one on the
 * region's metadata store and commits or rolls it back.
 */
#pragma once
#include <jansson.h>
#include <stdbool.h>

#include "arm/internal.h"

/* A stored JSON column parsed: {} when text is NULL or not JSON.  The caller
 * owns the result. */
static inline json_t *arm_vm_loads(const char *text)
{
  json_t *j = text ? json_loads(text, 0, NULL) : NULL;
  return j ? j : json_object();
}

/* vms.c: each managed disk entry of a configuration (a VM's properties), OS
 * disk first: fn(entry, ctx). */
void arm_vm_each_disk(json_t *props, void (*fn)(json_t *entry, void *ctx), void *ctx);
/* vms.c: the power state in a VM row's parsed extra ("running" when unset);
 * borrowed from extra. */
const char *arm_vm_power_state(json_t *extra);

/* vm_plan.c: the plan of a PUT/PATCH, the new configuration and the disk
 * changes.  Every member is owned; arm_vm_plan_clear frees them. */
struct vm_plan {
  json_t *props;  /* new properties */
  json_t *attach; /* ids to attach (array of strings) */
  json_t *detach; /* ids to detach */
  json_t *create; /* ids of Empty disks to create (and provision in the job) */
};

/* Shape and supported configuration of a PUT/PATCH body (no store access).
 * Replies and returns false when it is refused. */
bool arm_vm_plan_body_ok(struct arm_call *call, json_t *b);
/* Fills p with the new configuration of VM vm for a PUT (replace) or PATCH
 * (merge), old being its current properties ({} on create).  Inside the
 * transaction: resolves the disks to attach and writes the rows of the Empty
 * ones.  Replies and returns -EINVAL when refused; p is to be cleared either
 * way. */
int arm_vm_plan_make(struct arm_call *call, const char *vm, json_t *b, json_t *old, bool create, bool patch,
                     struct vm_plan *p);
void arm_vm_plan_clear(struct vm_plan *p);
/* Writes the disk attachments of a plan (inside the transaction): 0 or a
 * -errno of the store, no reply. */
int arm_vm_plan_apply(struct arm *arm, const char *vm, const struct vm_plan *p);
/* The vmCreate job's payload for a plan: {"disks":[ids to create]}
 * (malloc'd). */
char *arm_vm_plan_payload(const struct vm_plan *p);
/* Sets (vm != NULL) or clears the attachment of one disk row: managedBy and
 * diskState.  Clearing only touches a disk attached to `only_vm`.  A missing
 * disk is not an error (it may have been deleted first).  0 or -errno. */
int arm_vm_plan_set_owner(struct arm *arm, const char *disk_id, const char *vm, const char *only_vm);
