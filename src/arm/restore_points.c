/*
 * restore_points.c — restore points and disk restore points.
 *
 * PUT of a restore point is create-only and long-running (201 +
 * Azure-AsyncOperation + Location, as the az CLI and the SDKs accept it).  In
 * the request itself: validate, fence every included disk of the VM at once
 * (vol_fence: crash consistent across the disks), record the restore point
 * (Creating) with one disk restore point per included disk (state Capturing)
 * and the operation, and hand the captures to the creation job (capture.c),
 * which makes them durable trees and marks everything Succeeded.  The fence,
 * the image rows and the capture itself are the region's (region/capture.c);
 * this file decides what a restore point is and renders it.  Repeating
 * the same PUT is idempotent (same answer, no new restore point); a different
 * body for an existing name is refused.
 *
 * What a restore point records (properties): excludeDisks as given,
 * consistencyMode as achieved (a stopped VM is ApplicationConsistent; a
 * running one is frozen through its guest agent around the fence for
 * ApplicationConsistent and FileSystemConsistent — asked for, the restore
 * point fails when the guest cannot be frozen; omitted, it falls back to
 * CrashConsistent and vmrpConsistency says why), timeCreated, sourceMetadata = the VM's configuration at the
 * fence with each disk mapped to its disk restore point.  Internal state of a
 * disk restore point (its tree root, size, capture state and progress) is its
 * image's (meta/image.c); the vmrp-specific read-only properties vmrpExport
 * ({nbdAccess}: the action that grants an NBD capability) and vmrpCapture (sizeBytes, chunksRead,
 * bytesStored) show what an operator needs of it.  vmrpRetentionLock, when the
 * PUT asks for one, is kept as given (normalised) and judged by
 * retention_lock.c, which the DELETE asks first.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/random.h"
#include "common/strlist.h"
#include "common/timefmt.h"

static void collection_id(struct arm_call *call, char *out, size_t cap)
{
  snprintf(out, cap, "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/restorePointCollections/%s",
           call->params[0], call->params[1], call->params[2]);
}

static void rp_id(struct arm_call *call, char *out, size_t cap)
{
  snprintf(out, cap, "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/restorePointCollections/%s"
           "/restorePoints/%s", call->params[0], call->params[1], call->params[2], call->params[3]);
}

static json_t *loads(const char *s) { return json_loads(s ? s : "{}", 0, NULL); }

/* Shared with collections.c, which builds on this file. */
void arm_reply_collection_not_found(struct arm_call *call)
{
  arm_reply_not_found(call, RPC_TYPE, call->params[2]);
}

/* ---- JSON ---------------------------------------------------------------- */

/* A copied disk restore point's progress (region/copy.c), or NULL. */
static json_t *copy_json(struct arm *arm, const struct meta_image *im, int *percent)
{
  struct meta_image_copy c;
  if (region_copy_get(arm->region, im->id, &c) < 0)
    return NULL;
  *percent = im->state == IMAGE_READY ? 100 : c.size ? (int)(c.covered * 100 / c.size) : 0;
  if (*percent == 100 && im->state != IMAGE_READY)
    *percent = 99; /* all bytes here, not yet committed */
  json_t *j = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:i}", "sourceResourceId", c.source_id,
                        "sourceResourceLocation", c.source_location, "sizeBytes", (json_int_t)c.size, "coveredBytes",
                        (json_int_t)c.covered, "bytesReceived", (json_int_t)c.bytes_received, "recordsReceived",
                        (json_int_t)c.records_received, "bytesStored", (json_int_t)c.bytes_stored, "refetched",
                        (json_int_t)c.refetched, "failedAttempts", c.attempts);
  if (c.error)
    json_object_set_new(j, "error", json_string(c.error));
  meta_image_copy_clear(&c);
  return j;
}

static const char *copy_state(const struct meta_image *im)
{
  return im->state == IMAGE_READY ? "Succeeded" : im->state == IMAGE_FAILED ? "Failed" : "Copying";
}

static json_t *drp_json(struct arm *arm, const struct meta_resource *r)
{
  json_t *props = loads(r->properties);
  struct meta_image im;
  bool have = meta_image_get(arm->meta, r->id, &im) == 0;
  int percent = have ? im.percent : 0;
  json_t *repl = have ? copy_json(arm, &im, &percent) : NULL;
  if (repl) { /* DiskRP's fields of a copy, and vmrp's counters */
    json_object_set_new(props, "replicationState", json_string(copy_state(&im)));
    json_object_set_new(props, "vmrpReplication", repl);
  }
  if (have)
    json_object_set_new(props, "completionPercent", json_integer(percent));
  if (have && im.state == IMAGE_READY) { /* vmrp-specific, read-only: where to read it */
    char grant[1400]; /* no address: NBD opens with a grant's capability (nbd_access.c) */
    snprintf(grant, sizeof grant, "%s/vmrpGrantNbdAccess", r->id);
    json_object_set_new(props, "vmrpExport", json_pack("{s:s}", "nbdAccess", grant));
    json_object_set_new(props, "vmrpCapture",
                        json_pack("{s:I,s:I,s:I}", "sizeBytes", (json_int_t)im.size, "chunksRead",
                                  (json_int_t)im.chunks_read, "bytesStored", (json_int_t)im.bytes_stored));
  }
  struct region_encryption enc = {0};
  if (have && im.state == IMAGE_READY)
    region_image_encryption(arm->region, r->id, &enc);
  arm_set_encryption(arm, props, &enc);
  if (have)
    meta_image_clear(&im);
  return json_pack("{s:s,s:s,s:s,s:o}", "id", r->id, "name", r->name, "type", DRP_TYPE, "properties", props);
}

struct iv_state {
  json_t *disks;
  struct arm *arm;
};

static int iv_disk(void *ctx, const struct meta_image *im)
{
  struct iv_state *st = ctx;
  int percent = im->percent;
  json_t *repl = copy_json(st->arm, im, &percent);
  if (repl) { /* a copy: Azure's ReplicationState codes, an error per disk */
    char code[64];
    const char *state = copy_state(im), *err = json_string_value(json_object_get(repl, "error"));
    snprintf(code, sizeof code, "ReplicationState/%s",
             im->state == IMAGE_READY ? "succeeded" : im->state == IMAGE_FAILED ? "failed" : "copying");
    json_t *status = json_pack("{s:s,s:s,s:s}", "code", code, "level",
                               im->state == IMAGE_FAILED ? "Error" : err ? "Warning" : "Info", "displayStatus", state);
    if (err && im->state != IMAGE_READY)
      json_object_set_new(status, "message", json_string(err));
    json_array_append_new(st->disks, json_pack("{s:s,s:{s:o,s:i},s:o}", "id", im->id, "replicationStatus", "status",
                                               status, "completionPercent", percent, "vmrpReplication", repl));
    return 0;
  }
  bool ok = im->state == IMAGE_READY, failed = im->state == IMAGE_FAILED;
  char code[64];
  snprintf(code, sizeof code, "CaptureState/%s", ok ? "succeeded" : failed ? "failed" : "capturing");
  json_array_append_new(st->disks,
                        json_pack("{s:s,s:{s:{s:s,s:s,s:s},s:i}}", "id", im->id, "replicationStatus", "status", "code",
                                  code, "level", failed ? "Error" : "Info", "displayStatus",
                                  ok ? "Succeeded" : failed ? "Failed" : "Capturing", "completionPercent",
                                  im->percent));
  return 0;
}

json_t *arm_rp_json(struct arm *arm, const struct meta_resource *r, bool instance_view)
{
  json_t *props = loads(r->properties);
  const char *state = r->provisioning_state ? r->provisioning_state : "";
  json_object_set_new(props, "provisioningState", json_string(state));
  if (instance_view) {
    struct iv_state st = {json_array(), arm};
    meta_image_list(arm->meta, r->id, iv_disk, &st);
    char code[96], t[TIME_ISO_LEN];
    const char *err = r->failure_code;
    if (!strcmp(state, "Failed"))
      snprintf(code, sizeof code, "ProvisioningState/failed/%s", err ? err : "VMRestorePointInternalError");
    else
      snprintf(code, sizeof code, "ProvisioningState/%s", !strcmp(state, "Succeeded") ? "succeeded" : "creating");
    time_iso8601(r->changed_us, t);
    json_object_set_new(props, "instanceView",
                        json_pack("{s:o,s:[{s:s,s:s,s:s,s:s}]}", "diskRestorePoints", st.disks, "statuses", "code",
                                  code, "level", !strcmp(state, "Failed") ? "Error" : "Info", "displayStatus",
                                  !strcmp(state, "Succeeded") ? "Provisioning succeeded"
                                  : !strcmp(state, "Failed") ? "Provisioning failed"
                                                             : "Provisioning in progress",
                                  "time", t));
  }
  return json_pack("{s:s,s:s,s:s,s:o}", "id", r->id, "name", r->name, "type", RP_TYPE, "properties", props);
}

/* ---- helpers over the VM and its disks ------------------------------------ */

/* The storageProfile entry of an attached disk in the VM's document (the
 * region's attachments are derived from it, so there is one). */
static json_t *vm_disk_entry(json_t *vm_props, const struct region_vm_disk *d)
{
  json_t *sp = json_object_get(vm_props, "storageProfile");
  if (d->lun < 0)
    return json_object_get(sp, "osDisk");
  size_t i;
  json_t *e;
  json_array_foreach(json_object_get(sp, "dataDisks"), i, e) {
    const char *id = json_string_value(json_object_get(json_object_get(e, "managedDisk"), "id"));
    if (id && !strcasecmp(id, d->disk_id))
      return e;
  }
  return NULL;
}

/* Azure's names of the consistency modes, any case. */
static bool consistency_from_name(const char *name, enum region_consistency *out)
{
  for (enum region_consistency c = RP_CRASH_CONSISTENT; c <= RP_APPLICATION_CONSISTENT; c++)
    if (!strcasecmp(name, region_consistency_name(c))) {
      *out = c;
      return true;
    }
  return false;
}

/* ---- PUT ----------------------------------------------------------------- */

struct rp_disk { /* an included disk */
  char drp_id[1536];
  char vol_id[40];
};

static int arm_rp_record(struct arm_call *call, const struct meta_resource *coll, const struct meta_resource *vm,
                         const struct region_vm_disk *vd, int nvd, const bool *excluded, struct rp_disk *disks,
                         struct region_capture *cap, const char *mode, const char *asked,
                         const struct region_fence_report *freeze, const char *id);

/* Same request as the one that created r?  (idempotent repeat) */
static bool same_request(const struct meta_resource *r, json_t *props)
{
  json_t *have = loads(r->properties);
  json_t *a = json_object_get(have, "excludeDisks"), *b = json_object_get(props, "excludeDisks");
  bool same = json_array_size(a) == json_array_size(b);
  size_t i;
  json_t *x;
  json_array_foreach(b, i, x) {
    const char *want = json_string_value(json_object_get(x, "id"));
    bool found = false;
    size_t j;
    json_t *y;
    json_array_foreach(a, j, y) if (want && !strcasecmp(want, json_string_value(json_object_get(y, "id")))) found = true;
    same = same && found;
  }
  json_t *extra = loads(r->extra);
  const char *mode = json_string_value(json_object_get(props, "consistencyMode"));
  const char *asked = json_string_value(json_object_get(extra, "requestedMode"));
  same = same && ((!mode && !asked) || (mode && asked && !strcasecmp(mode, asked)));
  json_decref(extra);
  json_decref(have);
  return same;
}

/* A lock the repeated PUT asks for that the restore point's lock (as set,
 * or extended since) does not already cover is a change, not a repeat. */
static bool lock_covered(const struct meta_resource *r, json_t *props)
{
  json_t *want = json_object_get(props, ARM_RETENTION_LOCK);
  if (!want || json_is_null(want))
    return true;
  json_t *have = loads(r->properties);
  json_t *m = arm_retention_lock_merge(json_object_get(have, ARM_RETENTION_LOCK), want);
  bool same = json_equal(m, json_object_get(have, ARM_RETENTION_LOCK));
  json_decref(m);
  json_decref(have);
  return same;
}

static void reply_existing(struct arm_call *call, const struct meta_resource *r, json_t *props)
{
  if (!lock_covered(r, props)) {
    arm_reply_error_target(call, 409, "OperationNotAllowed", "properties." ARM_RETENTION_LOCK,
                           "Restore point '%s' exists and its retention lock does not cover the one asked for; "
                           "extend it with POST .../vmrpSetRetentionLock.",
                           call->params[3]);
    return;
  }
  if (!same_request(r, props)) {
    arm_reply_error(call, 409, "OperationNotAllowed",
                    "Updating properties of an existing restore point is not allowed. Restore point '%s' exists.",
                    call->params[3]);
    return;
  }
  json_t *extra = loads(r->extra);
  const char *op = json_string_value(json_object_get(extra, "operation"));
  bool creating = r->provisioning_state && !strcmp(r->provisioning_state, "Creating");
  if (creating && op)
    arm_lro_headers(call, "Microsoft.Compute", op, LRO_ASYNC_OPERATION | LRO_LOCATION);
  json_decref(extra);
  arm_reply_json(call, creating ? 201 : 200, arm_rp_json(call->arm, r, false));
}

static const struct arm_member id_member[] = {ARM_MEMBER("id", JSON_STRING), ARM_MEMBERS_END};
static const struct arm_member rp_props[] = {ARM_ARRAY("excludeDisks", id_member),
                                             ARM_MEMBER("consistencyMode", JSON_STRING),
                                             ARM_OBJECT("sourceRestorePoint", id_member),
                                             ARM_OBJECT(ARM_RETENTION_LOCK, arm_retention_lock_members), ARM_MEMBERS_END};
static const struct arm_member rp_members[] = {ARM_OBJECT("properties", rp_props), ARM_MEMBERS_END};

void arm_rp_put(struct arm_call *call)
{
  struct arm *arm = call->arm;
  if (!arm_rp_name_ok(call, call->params[3], "restorePointName"))
    return;
  json_t *b = call->body ? call->body : (call->body = json_object());
  if (!arm_body_normalise(call, b, rp_members))
    return;
  json_t *props = json_object_get(b, "properties");
  if (!arm_body_members_ok(call, b, NULL, rp_members) || !arm_body_members_ok(call, props, NULL, rp_props) ||
      !arm_body_members_ok(call, json_object_get(props, "sourceRestorePoint"), "sourceRestorePoint", id_member) ||
      !arm_body_members_ok(call, json_object_get(props, ARM_RETENTION_LOCK), ARM_RETENTION_LOCK,
                           arm_retention_lock_members))
    return;
  char cid[1024], id[1200];
  collection_id(call, cid, sizeof cid);
  rp_id(call, id, sizeof id);
  struct meta_resource coll = {0}, vm = {0}, existing = {0};
  json_t *cprops = NULL, *vprops = NULL;
  struct rp_disk *disks = NULL;
  const char **vols = NULL;
  bool *excluded = NULL;
  struct region_vm_disk *vd = NULL;
  int nvd = 0;
  struct region_capture *cap = NULL;
  int ndisks = 0;
  bool repeat = meta_resource_get(arm->meta, id, &existing) == 0; /* a repeat's lock may have ended since (below) */
  json_t *lock = NULL;
  if (!arm_retention_lock_request(call, props, !repeat, &lock))
    goto out;
  if (lock) /* the normalised lock is what the restore point records */
    json_object_set_new(props, ARM_RETENTION_LOCK, lock);
  if ((lock || json_object_get(props, "sourceRestorePoint")) && !arm_rg_ready(call))
    goto out; /* a group being deleted: its job would meet a lock (a copy's: its source's) it did not check */
  if (meta_resource_get(arm->meta, cid, &coll) < 0) {
    arm_reply_collection_not_found(call);
    goto out;
  }
  if (repeat) {
    reply_existing(call, &existing, props);
    goto out;
  }
  if (json_object_get(props, "sourceRestorePoint")) {
    arm_rp_copy_put(call, &coll, id);
    goto out;
  }
  cprops = loads(coll.properties);
  const char *vm_id = json_string_value(json_object_get(json_object_get(cprops, "source"), "id"));
  const char *vm_loc = json_string_value(json_object_get(json_object_get(cprops, "source"), "location"));
  if (vm_id && !arm_authz_linked(call, vm_id, "restorePointCollection.properties.source.id"))
    goto out; /* the source is fenced and read: the caller may do that now, not only when the collection was made */
  if (vm_id && vm_loc && arm_peer_named(arm, vm_loc) && strstr(vm_id, "/providers/Microsoft.Compute/virtualMachines/")) {
    arm_rp_xr_put(call, &coll, id); /* a VM of another region */
    goto out;
  }
  if (vm_id && strstr(vm_id, "/providers/Microsoft.Compute/restorePointCollections/")) {
    arm_reply_error_target(call, 400, "InvalidParameter", "properties.sourceRestorePoint",
                           "Collection '%s' holds copies of the restore points of collection '%s': a restore point "
                           "is created in it by copying one (properties.sourceRestorePoint.id).",
                           coll.name, vm_id);
    goto out;
  }
  if (!vm_id || meta_resource_get(arm->meta, vm_id, &vm) < 0) {
    arm_reply_error(call, 409, "OperationNotAllowed", "The source virtual machine of collection '%s' no longer exists.",
                    call->params[2]);
    goto out;
  }
  vprops = loads(vm.properties);
  int rc = region_vm_disks(arm->region, vm.id, &vd, &nvd);
  disks = rc == 0 ? calloc((size_t)nvd + 1, sizeof *disks) : NULL;
  vols = disks ? calloc((size_t)nvd + 1, sizeof *vols) : NULL;
  excluded = vols ? calloc((size_t)nvd + 1, sizeof *excluded) : NULL;
  if (!excluded) {
    arm_reply_internal(call, rc < 0 ? rc : -ENOMEM);
    goto out;
  }
  /* excludeDisks must name disks of the VM */
  size_t i;
  json_t *x;
  json_array_foreach(json_object_get(props, "excludeDisks"), i, x) {
    const char *xid = json_string_value(json_object_get(x, "id"));
    int k;
    for (k = 0; xid && k < nvd && strcasecmp(vd[k].disk_id, xid) != 0; k++)
      ;
    if (!xid || k == nvd) {
      arm_reply_error_target(call, 400, "InvalidParameter", "excludeDisks",
                             "The disk '%s' in excludeDisks is not attached to virtual machine '%s'.",
                             xid ? xid : "(no id)", vm.name);
      goto out;
    }
    excluded[k] = true;
  }
  /* consistency mode and the per-VM limits: the region's rules */
  const char *asked = json_string_value(json_object_get(props, "consistencyMode"));
  enum region_consistency want = RP_CRASH_CONSISTENT;
  if (asked && !consistency_from_name(asked, &want)) {
    arm_reply_error_target(call, 400, "InvalidParameter", "consistencyMode",
                           "The value '%s' of consistencyMode is invalid; use CrashConsistent, FileSystemConsistent or "
                           "ApplicationConsistent.",
                           asked);
    goto out;
  }
  struct region_rp_admission adm;
  rc = region_rp_admit(arm->region, vm.id, asked ? &want : NULL, &adm);
  if (rc < 0) {
    arm_reply_internal(call, rc);
    goto out;
  }
  switch (adm.refusal) {
  case RP_ADMITTED:
    break;
  case RP_NEEDS_AGENT:
    arm_reply_error_target(call, 400, "VMAgentStatusCommunicationError", "consistencyMode",
                           "VM '%s' has no guest agent: a %s restore point of a running VM needs one (a "
                           "Vmrp.QemuGuestAgent extension naming its qemu-ga socket). Use CrashConsistent, or stop "
                           "the VM.",
                           vm.name, asked);
    goto out;
  case RP_IN_FLIGHT:
    arm_reply_error(call, 409, "OperationNotAllowed",
                    "Another restore point of virtual machine '%s' is being created. Retry when it is done.", vm.name);
    goto out;
  case RP_TOO_MANY:
    arm_reply_error(call, 409, "OperationNotAllowed",
                    "Virtual machine '%s' has reached the limit of %d restore points. Delete some first.", vm.name,
                    adm.limit);
    goto out;
  case RP_TOO_SOON:
    http_response_header(call->resp, "Retry-After", "%lld", (long long)adm.retry_after_s);
    arm_reply_error(call, 429, "TooManyRequests",
                    "Restore points of virtual machine '%s' can be created at most every %d seconds; retry in %lld "
                    "seconds.",
                    vm.name, adm.limit, (long long)adm.retry_after_s);
    goto out;
  }
  const char *mode = region_consistency_name(adm.mode);
  /* the included disks and their volumes */
  for (int k = 0; k < nvd; k++) {
    if (excluded[k])
      continue;
    if (!vd[k].available) {
      arm_reply_error(call, 409, "OperationNotAllowed",
                      "The disk '%s' of virtual machine '%s' is not available for a restore point.", vd[k].disk_id,
                      vm.name);
      goto out;
    }
    if (!arm_volume_readable(call, vd[k].vol_id, vd[k].disk_id))
      goto out;
    snprintf(disks[ndisks].vol_id, sizeof disks[ndisks].vol_id, "%s", vd[k].vol_id);
    vols[ndisks] = disks[ndisks].vol_id;
    ndisks++;
  }
  /* the fence: the point in time of this restore point (the guest frozen
   * around it when the mode asks for that) */
  struct region_quiesce q = {adm.freeze ? vm.id : NULL, adm.freeze_required};
  struct region_fence_report rep;
  rc = region_capture_fence(arm->region, vols, ndisks, &q, &cap, &rep);
  if (rc == -ENOTCONN) {
    arm_reply_error(call, 409, "VMAgentStatusCommunicationError",
                    "VM '%s' has not reported status for VM agent or extensions: %s. Please verify the VM has a "
                    "running guest agent.",
                    vm.name, rep.agent_error);
    goto out;
  }
  if (rc == -ECANCELED) {
    arm_reply_error(call, 409, "UserErrorFsFreezeFailed",
                    "Failed to freeze one or more mount-points of VM '%s' to take a %s restore point: %s. No "
                    "restore point was created.",
                    vm.name, mode, rep.agent_error);
    goto out;
  }
  if (rc == -EBUSY && adm.freeze && rep.agent_error[0]) {
    arm_reply_error(call, 409, "OperationNotAllowed", "VM '%s': %s; retry shortly.", vm.name, rep.agent_error);
    goto out;
  }
  if (rc == -ENOENT) {
    arm_reply_error(call, 409, "OperationNotAllowed",
                    "A disk of virtual machine '%s' is not available for a restore point.", vm.name);
    goto out;
  }
  if (rc == -EBUSY) {
    arm_reply_error(call, 409, "OperationNotAllowed",
                    "A disk of virtual machine '%s' is being captured or copied; retry shortly.", vm.name);
    goto out;
  }
  if (rc < 0) {
    arm_reply_internal(call, rc);
    goto out;
  }
  if (adm.freeze && !rep.quiesced) { /* consistencyMode omitted: Azure falls back, and says so */
    log_warn("arm", "restore point %s: the guest could not be frozen (%s); crash consistent", id, rep.agent_error);
    mode = region_consistency_name(RP_CRASH_CONSISTENT);
  }
  log_info("arm", "restore point %s: fenced %d disk(s), stall %llu ns, guest frozen %llu us", id, ndisks,
           (unsigned long long)rep.stall_ns, (unsigned long long)(rep.frozen_ns / 1000));
  arm_rp_record(call, &coll, &vm, vd, nvd, excluded, disks, cap, mode, asked, adm.freeze ? &rep : NULL,
                id); /* owns cap */
out:
  free(disks);
  free(vols);
  free(excluded);
  region_vm_disks_free(vd, nvd);
  json_decref(cprops);
  json_decref(vprops);
  meta_resource_clear(&coll);
  meta_resource_clear(&vm);
  meta_resource_clear(&existing);
}

int arm_rp_insert_commit(struct arm *arm, int rc, const char *id, const char *coll_id, json_t *props, json_t *extra,
                         struct meta_resource *rp)
{
  const char *name = strrchr(id, '/');
  *rp = (struct meta_resource){.id = strdup(id), .type = strdup(RP_TYPE), .name = strdup(name ? name + 1 : id),
                               .parent_id = strdup(coll_id), .properties = json_dumps(props, JSON_COMPACT),
                               .extra = json_dumps(extra, JSON_COMPACT), .provisioning_state = strdup("Creating")};
  json_decref(extra);
  json_decref(props);
  if (rc == 0)
    rc = meta_resource_put(arm->meta, rp, NULL, META_PUT_CREATE_ONLY, NULL);
  if (rc == 0)
    rc = meta_commit(arm->meta);
  else
    meta_rollback(arm->meta);
  return rc;
}

static const char *last_segment(const char *id)
{
  const char *s = strrchr(id, '/');
  return s ? s + 1 : id;
}

/* Records the restore point, its disk restore points (with their images) and
 * the operation in one transaction, then hands the fence to the job (or ends
 * it); replies 201. */
static int arm_rp_record(struct arm_call *call, const struct meta_resource *coll, const struct meta_resource *vm,
                         const struct region_vm_disk *vd, int nvd, const bool *excluded, struct rp_disk *disks,
                         struct region_capture *cap, const char *mode, const char *asked,
                         const struct region_fence_report *freeze, const char *id)
{
  struct arm *arm = call->arm;
  json_t *vprops = loads(vm->properties);
  char now[TIME_ISO_LEN];
  time_iso8601(time_now_us(), now);
  json_t *meta_src = json_object();
  const char *copy[] = {"hardwareProfile", "osProfile", "diagnosticsProfile", "licenseType", "vmId",
                        "securityProfile", "userData", NULL};
  for (int i = 0; copy[i]; i++)
    if (json_object_get(vprops, copy[i]))
      json_object_set(meta_src, copy[i], json_object_get(vprops, copy[i]));
  json_object_set_new(meta_src, "location", json_string(vm->location ? vm->location : ""));
  json_t *sp = json_pack("{s:n,s:[]}", "osDisk", "dataDisks");
  struct meta *m = arm->meta;
  int rc = meta_begin(m), d = 0;
  char op_id[40] = "";
  for (int k = 0; rc == 0 && k < nvd; k++) {
    bool os = vd[k].lun < 0;
    json_t *entry = json_deep_copy(vm_disk_entry(vprops, &vd[k]));
    if (!entry) {
      rc = -EIO; /* the attachments and the document disagree: cannot happen (meta triggers) */
      break;
    }
    json_object_del(entry, "deleteOption");
    if (!excluded[k]) {
      char guid[UUID_STR_LEN];
      random_uuid(guid);
      struct rp_disk *cd = &disks[d];
      snprintf(cd->drp_id, sizeof cd->drp_id, "%s/diskRestorePoints/%s_%s", id, last_segment(vd[k].disk_id), guid);
      json_object_set_new(entry, "diskRestorePoint", json_pack("{s:s}", "id", cd->drp_id));
      CLEANUP_FREE char *prev = region_capture_base_image(arm->region, cd->vol_id);
      json_t *p = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:i}", "timeCreated", now, "sourceResourceId", vd[k].disk_id,
                            "sourceUniqueId", cd->vol_id, "familyId", cd->vol_id, "networkAccessPolicy", "AllowAll",
                            "publicNetworkAccess", "Enabled", "logicalSectorSize", 512);
      if (os && json_is_string(json_object_get(entry, "osType")))
        json_object_set(p, "osType", json_object_get(entry, "osType"));
      if (prev)
        json_object_set_new(p, "vmrpPreviousDiskRestorePointId", json_string(prev));
      struct meta_resource r = {.id = strdup(cd->drp_id), .type = strdup(DRP_TYPE),
                                .name = strdup(last_segment(cd->drp_id)), .parent_id = strdup(id),
                                .properties = json_dumps(p, JSON_COMPACT), .provisioning_state = strdup("Creating")};
      json_decref(p);
      rc = meta_resource_put(m, &r, NULL, 0, NULL);
      if (rc == 0)
        rc = region_capture_record(arm->region, cap, d, cd->drp_id, id, vd[k].disk_id);
      meta_resource_clear(&r);
      d++;
    }
    if (os)
      json_object_set(sp, "osDisk", entry);
    else
      json_array_append(json_object_get(sp, "dataDisks"), entry);
    json_decref(entry);
  }
  json_object_set_new(meta_src, "storageProfile", sp);
  json_t *excl = json_object_get(json_object_get(call->body, "properties"), "excludeDisks");
  json_t *props = json_pack("{s:o,s:s,s:s,s:o}", "excludeDisks", excl ? json_incref(excl) : json_array(),
                            "consistencyMode", mode, "timeCreated", now, "sourceMetadata", meta_src);
  json_t *lock = json_object_get(json_object_get(call->body, "properties"), ARM_RETENTION_LOCK);
  if (json_is_object(lock)) /* checked and normalised by arm_rp_put */
    json_object_set(props, ARM_RETENTION_LOCK, lock);
  if (freeze) { /* what the guest agent did for this restore point */
    json_t *g = json_pack("{s:b,s:f}", "guestFrozen", freeze->quiesced, "guestFrozenMs",
                          (double)freeze->frozen_ns / 1e6);
    if (freeze->agent_error[0])
      json_object_set_new(g, "agentError", json_string(freeze->agent_error));
    json_object_set_new(props, "vmrpConsistency", g);
  }
  if (rc == 0)
    rc = arm_op_create(call, "Microsoft.Compute", "restorePointCreate", id, NULL, op_id);
  json_t *extra = json_pack("{s:s}", "operation", op_id);
  if (asked)
    json_object_set_new(extra, "requestedMode", json_string(asked));
  struct meta_resource rp;
  json_decref(vprops);
  rc = arm_rp_insert_commit(arm, rc, id, coll->id, props, extra, &rp);
  if (rc == 0)
    rc = region_capture_queue(arm->region, cap, op_id, id);
  else
    region_capture_abort(cap);
  if (rc == 0) {
    jobs_submit(arm->jobs, op_id);
    arm_lro_headers(call, "Microsoft.Compute", op_id, LRO_ASYNC_OPERATION | LRO_LOCATION);
    arm_reply_json(call, 201, arm_rp_json(arm, &rp, false));
  } else if (rc == -EEXIST) {
    arm_reply_error(call, 409, "OperationNotAllowed", "Another request is creating restore point '%s'.",
                    call->params[3]);
  } else {
    arm_reply_internal(call, rc);
  }
  meta_resource_clear(&rp);
  return rc;
}

/* ---- GET, DELETE ---------------------------------------------------------- */

void arm_reply_drp_not_found(struct arm_call *call)
{
  if (arm_rg_found(call))
    arm_reply_error(call, 404, "NotFound", "The disk restore point '%s' was not found.", call->params[4]);
}

static void reply_rp_not_found(struct arm_call *call)
{
  if (arm_rg_found(call))
    arm_reply_error(call, 404, "NotFound", "The restore point '%s' was not found in collection '%s'.", call->params[3],
                  call->params[2]);
}

void arm_rp_get(struct arm_call *call)
{
  char id[1200];
  rp_id(call, id, sizeof id);
  struct meta_resource r;
  int rc = meta_resource_get(call->arm->meta, id, &r);
  if (rc == -ENOENT) {
    reply_rp_not_found(call);
    return;
  }
  if (rc < 0) {
    arm_reply_internal(call, rc);
    return;
  }
  arm_reply_json(call, 200, arm_rp_json(call->arm, &r, arm_expand_has(call, "instanceView")));
  meta_resource_clear(&r);
}

static bool refuse_delete(struct arm_call *call, const struct meta_resource *r)
{
  if (arm_retention_refuse_rp(call, r))
    return true;
  json_t *p = loads(r->properties);
  bool copy = json_object_get(p, "sourceRestorePoint") != NULL; /* a copy stops when deleted */
  json_decref(p);
  if (copy || !r->provisioning_state || strcmp(r->provisioning_state, "Creating") != 0)
    return false;
  arm_reply_error(call, 409, "OperationNotAllowed", "Restore point '%s' is being created; retry when it is done.",
                  call->params[3]);
  return true;
}

void arm_rp_delete(struct arm_call *call)
{
  char id[1200];
  rp_id(call, id, sizeof id);
  arm_start_delete(call, id, RP_TYPE, "restorePointDelete", refuse_delete);
}

static int collect(void *ctx, const struct meta_resource *r) { return strlist_add(ctx, r->id); }

/* Deletes a restore point's rows, disk restore points first.  Their trees
 * become garbage: the GC reclaims whatever no other root reaches. */
int arm_rp_delete_now(struct arm *arm, const char *id)
{
  struct strlist l = {0};
  int rc = meta_resource_list(arm->meta, id, DRP_TYPE, NULL, 0, collect, &l);
  for (size_t i = 0; rc == 0 && i < l.n; i++)
    rc = region_image_delete(arm->region, l.v[i]);
  strlist_free(&l);
  if (rc == 0) {
    rc = meta_resource_delete(arm->meta, id);
    if (rc == -ENOENT)
      rc = 0;
  }
  return rc;
}

int arm_restore_points_delete_under(struct arm *arm, const char *collection_id)
{
  struct strlist l = {0};
  int rc = meta_resource_list(arm->meta, collection_id, RP_TYPE, NULL, 0, collect, &l);
  for (size_t i = 0; rc == 0 && i < l.n; i++)
    rc = arm_rp_delete_now(arm, l.v[i]);
  strlist_free(&l);
  return rc;
}

int arm_drp_delete_child(struct arm *arm, const struct meta_resource *r)
{
  return region_image_delete(arm->region, r->id);
}

enum job_outcome arm_rp_delete_job(void *app, struct job *job, const struct meta_operation *op,
                                   struct job_result *res)
{
  (void)job;
  if (arm_rp_delete_now(app, op->resource_id) < 0) {
    res->error = arm_error_text("InternalServerError", "Deleting the restore point failed; retry.");
    return JOB_FAILED;
  }
  return JOB_DONE;
}

/* ---- disk restore points --------------------------------------------------- */

void arm_drp_id(struct arm_call *call, char *out, size_t cap)
{
  snprintf(out, cap, "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/restorePointCollections/%s"
           "/restorePoints/%s/diskRestorePoints/%s", call->params[0], call->params[1], call->params[2],
           call->params[3], call->params[4]);
}

void arm_drp_get(struct arm_call *call)
{
  char id[1400];
  arm_drp_id(call, id, sizeof id);
  struct meta_resource r;
  int rc = meta_resource_get(call->arm->meta, id, &r);
  if (rc == -ENOENT)
    arm_reply_drp_not_found(call);
  else if (rc < 0)
    arm_reply_internal(call, rc);
  else {
    arm_reply_json(call, 200, drp_json(call->arm, &r));
    meta_resource_clear(&r);
  }
}

struct drp_list {
  struct arm *arm;
  json_t *value;
};

static int list_drp(void *ctx, const struct meta_resource *r)
{
  struct drp_list *l = ctx;
  json_array_append_new(l->value, drp_json(l->arm, r));
  return 0;
}

void arm_drp_list(struct arm_call *call)
{
  char id[1200];
  rp_id(call, id, sizeof id);
  struct meta_resource r;
  int rc = meta_resource_get(call->arm->meta, id, &r);
  if (rc == -ENOENT) {
    reply_rp_not_found(call);
    return;
  }
  if (rc == 0)
    meta_resource_clear(&r);
  struct drp_list l = {call->arm, json_array()};
  if (rc == 0)
    rc = meta_resource_list(call->arm->meta, id, DRP_TYPE, NULL, 0, list_drp, &l);
  if (rc < 0) {
    json_decref(l.value);
    arm_reply_internal(call, rc);
    return;
  }
  arm_reply_json(call, 200, json_pack("{s:o}", "value", l.value));
}

/* ---- the creation job ------------------------------------------------------ */

static void on_progress(void *ctx, double percent) { jobs_progress(ctx, percent); }

void arm_rp_fail(struct arm *arm, struct job *job, const char *rp_id, const char *code)
{
  int rc;
  for (int64_t ms = 1000; (rc = region_restore_point_fail(arm->region, rp_id, code)) < 0 && rc != -ENOENT;
       ms = ms < 8000 ? 2 * ms : ms)
    if (!jobs_nap(job, ms))
      break;
}

enum job_outcome arm_rp_create_job(void *app, struct job *job, const struct meta_operation *op,
                                   struct job_result *res)
{
  struct arm *arm = app;
  int rc = region_capture_run(arm->region, op->id, on_progress, job);
  if (rc == -ENOENT) { /* only possible if the fence state was lost */
    arm_rp_fail(arm, job, op->resource_id, "VMRestorePointInternalError");
    res->error = arm_error_text("VMRestorePointInternalError", "The captured disk state was lost; retry.");
    return JOB_FAILED;
  }
  if (rc < 0) {
    const char *code = rc == -ENOSPC ? "DiskFull" : "VMRestorePointInternalError";
    arm_rp_fail(arm, job, op->resource_id, code);
    char msg[256];
    snprintf(msg, sizeof msg, "Capturing the disks failed (%s); the changes stay tracked for the next restore point.",
             rc == -ENOSPC ? "the region's data file system is full" : strerror(-rc));
    res->error = arm_error_text(code, msg);
    return JOB_FAILED;
  }
  return JOB_DONE;
}
