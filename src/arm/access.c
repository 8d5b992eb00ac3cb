/*
 * access.c — beginGetAccess / endGetAccess: SAS grants on disk restore
 * points and disks, as ARM operations.
 *
 *   POST …/diskRestorePoints/{name}/beginGetAccess  {"access":"Read","durationInSeconds":N}
 *   POST …/disks/{name}/beginGetAccess              {"access":"Read"|"Write","durationInSeconds":N}
 *   POST …/{…}/endGetAccess
 *
 * The region does the work (region_grant_begin: a new grant, or the active
 * one extended with the same URL); it takes a transaction, not a job, so
 * the operation is recorded already Succeeded, with {"accessSAS": url} as
 * its result, and answered 202 with Azure-AsyncOperation and Location: the
 * shape Azure gives and the clients poll (@azure/arm-compute reads the
 * result only from the Location URL, the az CLI from either).
 *
 * Bounds: access must be Read (a restore point is read-only; Write is for
 * Upload disks); durationInSeconds 1 .. [dataplane] max_duration (Azure
 * documents none; vmrp defaults to 7 days, so no grant is forgotten open
 * for years); at most [dataplane] max_grants_per_disk active grants over
 * the restore points of one disk (Azure: 5), 409 OperationNotAllowed past
 * that; the image must be Succeeded.
 *
 * Disks, as Azure's diskState says: Read on an Unattached disk (then
 * ActiveSAS while the grant lasts: derived from the grant, so it ends when
 * the grant expires); Write only on an Upload disk, ReadyToUpload →
 * ActiveUpload (stored), → Unattached at endGetAccess.  Refused (409
 * OperationNotAllowed) on an attached disk, a disk not Succeeded, Read on
 * an upload not finished, Write on any other disk.  While a disk is
 * ActiveSAS or ActiveUpload it cannot be attached or deleted.  The disk's
 * checks and its grant are one metadata transaction, as a VM's attachment
 * checks and writes are (vm_plan.c): of a beginGetAccess and a VM PUT
 * attaching the disk sent together, one wins and the other is refused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"

const struct arm_member arm_grant_members[] = {ARM_MEMBER("access", JSON_STRING),
                                               ARM_MEMBER("durationInSeconds", JSON_INTEGER),
                                               ARM_MEMBER("accessId", JSON_STRING), ARM_MEMBERS_END};

/* The disk restore point's row; replies 404 and returns false when none. */

static bool drp_exists(struct arm_call *call, const char *id, struct meta_resource *r)
{
  return arm_row_get(call, id, DRP_TYPE, arm_reply_drp_not_found, r) == 0;
}

/* The operation of an action done at once: recorded Succeeded with result,
 * answered 202 + both LRO headers. */
static void reply_done(struct arm_call *call, const char *kind, const char *resource_id, const char *result)
{
  struct meta *m = call->arm->meta;
  char op_id[40];
  int rc = meta_begin(m);
  if (rc == 0)
    rc = arm_op_done(call, kind, resource_id, result, op_id);
  if (rc == 0)
    rc = meta_commit(m);
  else
    meta_rollback(m);
  if (rc < 0) {
    arm_reply_internal(call, rc);
    return;
  }
  arm_lro_headers(call, "Microsoft.Compute", op_id, LRO_ASYNC_OPERATION | LRO_LOCATION);
  arm_reply_empty(call, 202);
}

/* The answer to a granted beginGetAccess: {"accessSAS": url} as the result. */
static void reply_granted(struct arm_call *call, const char *resource_id, const struct region_grant *g)
{
  json_t *res = json_pack("{s:s}", "accessSAS", g->url);
  char *text = json_dumps(res, JSON_COMPACT);
  json_decref(res);
  if (text)
    reply_done(call, "beginGetAccess", resource_id, text);
  else
    arm_reply_internal(call, -ENOMEM);
  free(text);
}

/* Validates GrantAccessData; fills *duration and *write (Write asked; only
 * when write is not NULL).  Replies and returns false. */
static bool grant_data_ok(struct arm_call *call, int64_t *duration, bool *write)
{
  json_t *b = call->body;
  if (!json_is_object(b)) {
    arm_reply_error(call, 400, "InvalidRequestContent", "The request content was invalid and could not be "
                    "deserialized: a GrantAccessData object {access, durationInSeconds} is required.");
    return false;
  }
  if (!arm_body_normalise(call, b, arm_grant_members))
    return false;
  json_t *access = json_object_get(b, "access"), *dur = json_object_get(b, "durationInSeconds");
  if (!json_is_string(access)) {
    arm_reply_error_target(call, 400, "InvalidParameter", "access",
                           "Required parameter 'access' is missing (null).");
    return false;
  }
  bool w = write && strcasecmp(json_string_value(access), "Write") == 0;
  if (strcasecmp(json_string_value(access), "Read") != 0 && !w) {
    arm_reply_error_target(call, 400, "InvalidParameter", "access",
                           "The value '%s' of parameter 'access' is not allowed for a %s: only 'Read'%s is.",
                           json_string_value(access), write ? "disk" : "disk restore point",
                           write ? " or 'Write'" : "");
    return false;
  }
  if (write)
    *write = w;
  int max = call->arm->cfg.sas_max_duration_s > 0 ? call->arm->cfg.sas_max_duration_s : 7 * 86400;
  if (!json_is_integer(dur) || json_integer_value(dur) < 1 || json_integer_value(dur) > max) {
    arm_reply_error_target(call, 400, "InvalidParameter", "durationInSeconds",
                           "The value of parameter 'durationInSeconds' is invalid: it must be an integer from 1 to "
                           "%d.", max);
    return false;
  }
  *duration = json_integer_value(dur);
  return true;
}

void arm_drp_begin_access(struct arm_call *call)
{
  char id[1400];
  arm_drp_id(call, id, sizeof id);
  struct meta_resource r;
  int64_t duration;
  if (!grant_data_ok(call, &duration, NULL) || !drp_exists(call, id, &r))
    return;
  struct meta_image im;
  int rc = region_image_get(call->arm->region, r.id, &im);
  if (rc == 0 && im.state != IMAGE_READY) {
    arm_reply_error(call, 409, "OperationNotAllowed",
                    "The disk restore point '%s' is %s; access can be granted once it has Succeeded.", r.name,
                    im.state == IMAGE_FAILED ? "Failed" : "still being created");
    rc = -EBUSY;
  }
  if (rc == 0 && !arm_image_readable(call, &r))
    rc = -EBUSY; /* replied */
  struct region_grant g = {0};
  if (rc == 0) {
    struct region_grant_request req = {.resource_id = r.id, .family = im.disk_id, .access = REGION_READ,
                                       .duration_s = duration};
    rc = region_grant_begin(call->arm->region, &req, &g);
    if (rc == -EDQUOT)
      arm_reply_error(call, 409, "OperationNotAllowed",
                      "The disk '%s' already has %d active SAS grants over its restore points, the most allowed; "
                      "end one with endGetAccess first.", im.disk_id,
                      call->arm->cfg.sas_max_grants > 0 ? call->arm->cfg.sas_max_grants : 5);
    else if (rc == -ENOTSUP)
      arm_reply_error(call, 409, "OperationNotAllowed",
                      "This region serves no SAS data plane ([dataplane] listen is empty in its configuration).");
    else if (rc < 0)
      arm_reply_internal(call, rc);
  } else if (rc != -EBUSY) {
    arm_reply_internal(call, rc);
  }
  if (rc == 0)
    reply_granted(call, r.id, &g);
  region_grant_clear(&g);
  if (rc != -ENOENT)
    meta_image_clear(&im);
  meta_resource_clear(&r);
}

void arm_drp_end_access(struct arm_call *call)
{
  char id[1400];
  arm_drp_id(call, id, sizeof id);
  struct meta_resource r;
  if (!drp_exists(call, id, &r))
    return;
  int rc = region_grant_end(call->arm->region, r.id);
  if (rc < 0)
    arm_reply_internal(call, rc);
  else
    reply_done(call, "endGetAccess", r.id, "{}");
  meta_resource_clear(&r);
}

/* ---- disks ----------------------------------------------------------------- */

static const char *stored_state(const struct meta_resource *r, bool *attached)
{
  json_t *props = json_loads(r->properties ? r->properties : "{}", 0, NULL);
  json_t *extra = json_loads(r->extra ? r->extra : "{}", 0, NULL);
  const char *st = json_string_value(json_object_get(props, "diskState"));
  static const char *const kept[] = {"ReadyToUpload", "ActiveUpload", "Attached", "Unattached", NULL};
  const char *out = "Unattached";
  for (int i = 0; st && kept[i]; i++)
    if (!strcmp(st, kept[i]))
      out = kept[i];
  if (attached)
    *attached = json_string_value(json_object_get(extra, "managedBy")) != NULL;
  json_decref(props);
  json_decref(extra);
  return out;
}

const char *arm_disk_access_state(struct arm *arm, const struct meta_resource *disk)
{
  const char *st = stored_state(disk, NULL);
  if (!strcmp(st, "ReadyToUpload") || !strcmp(st, "ActiveUpload"))
    return st;
  enum region_access a;
  return region_grant_active(arm->region, disk->id, &a) == 0 ? "ActiveSAS" : NULL;
}

static bool disk_exists(struct arm_call *call, struct meta_resource *r)
{
  char id[1024];
  arm_disk_id(call, id, sizeof id);
  return arm_row_get(call, id, DISK_TYPE, arm_disk_reply_not_found, r) == 0;
}

/* Stores diskState st in the disk's row. */
static int set_state(struct arm *arm, const char *id, const char *st)
{
  struct meta_resource r;
  int rc = meta_resource_get(arm->meta, id, &r);
  if (rc < 0)
    return rc;
  json_t *props = json_loads(r.properties ? r.properties : "{}", 0, NULL);
  json_object_set_new(props, "diskState", json_string(st));
  free(r.properties);
  r.properties = json_dumps(props, JSON_COMPACT);
  json_decref(props);
  rc = r.properties ? meta_resource_put(arm->meta, &r, NULL, 0, NULL) : -ENOMEM;
  meta_resource_clear(&r);
  return rc;
}

void arm_disk_begin_access(struct arm_call *call)
{
  struct meta_resource r = {0};
  int64_t duration;
  bool write = false;
  if (!grant_data_ok(call, &duration, &write))
    return;
  struct meta *m = call->arm->meta;
  int rc = meta_begin(m);
  if (rc < 0) {
    arm_reply_internal(call, rc);
    return;
  }
  if (!disk_exists(call, &r)) {
    meta_rollback(m);
    return;
  }
  bool attached;
  const char *st = stored_state(&r, &attached);
  bool upload = !strcmp(st, "ReadyToUpload") || !strcmp(st, "ActiveUpload");
  rc = -EBUSY;
  if (!r.provisioning_state || strcmp(r.provisioning_state, "Succeeded"))
    arm_reply_error(call, 409, "OperationNotAllowed", "Disk %s is %s; access can be granted once it has Succeeded.",
                    r.name, r.provisioning_state ? r.provisioning_state : "being created");
  else if (attached)
    arm_reply_error(call, 409, "OperationNotAllowed",
                    "Disk %s is attached to a virtual machine; access to an attached disk cannot be granted.", r.name);
  else if (write && !upload)
    arm_reply_error(call, 409, "OperationNotAllowed",
                    "Write access can be granted only to a disk created with createOption Upload that is "
                    "ReadyToUpload or ActiveUpload; disk %s is %s.", r.name, st);
  else if (!write && upload)
    arm_reply_error(call, 409, "OperationNotAllowed",
                    "Disk %s is %s: grant Write access to upload to it, and end it with endGetAccess before "
                    "reading.", r.name, st);
  else if (arm_disk_readable(call, &r))
    rc = 0;
  struct region_grant g = {0};
  if (rc == 0) {
    struct region_grant_request req = {.resource_id = r.id, .family = r.id,
                                       .access = write ? REGION_WRITE : REGION_READ, .duration_s = duration,
                                       .in_caller_txn = true};
    rc = region_grant_begin(call->arm->region, &req, &g);
    if (rc == 0 && write && strcmp(st, "ActiveUpload"))
      rc = set_state(call->arm, r.id, "ActiveUpload");
    if (rc == 0)
      rc = meta_commit(m);
    if (rc == -EDQUOT)
      arm_reply_error(call, 409, "OperationNotAllowed",
                      "Disk %s already has %d active SAS grants, the most allowed; end one with endGetAccess first.",
                      r.name, call->arm->cfg.sas_max_grants > 0 ? call->arm->cfg.sas_max_grants : 5);
    else if (rc == -EEXIST)
      arm_reply_error(call, 409, "OperationNotAllowed",
                      "Disk %s has an active grant of the other access; end it with endGetAccess first.", r.name);
    else if (rc == -ENOTSUP)
      arm_reply_error(call, 409, "OperationNotAllowed",
                      "This region serves no SAS data plane ([dataplane] listen is empty in its configuration).");
    else if (rc < 0)
      arm_reply_internal(call, rc);
  }
  meta_rollback(m); /* nothing to undo once committed */
  if (rc == 0)
    reply_granted(call, r.id, &g);
  region_grant_clear(&g);
  meta_resource_clear(&r);
}

void arm_disk_end_access(struct arm_call *call)
{
  struct meta_resource r;
  if (!disk_exists(call, &r))
    return;
  /* The upload's pages were durable when acknowledged (FUA), so ending it
   * only revokes the grant and marks the disk usable. */
  int rc = region_grant_end(call->arm->region, r.id);
  if (rc == 0 && !strcmp(stored_state(&r, NULL), "ActiveUpload"))
    rc = set_state(call->arm, r.id, "Unattached");
  if (rc < 0)
    arm_reply_internal(call, rc);
  else
    reply_done(call, "endGetAccess", r.id, "{}");
  meta_resource_clear(&r);
}
