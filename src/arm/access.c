/*
 * access.c — beginGetAccess / endGetAccess: SAS grants on disk restore
 * points, as ARM operations.
 *
 *   POST …/diskRestorePoints/{name}/beginGetAccess  {"access":"Read","durationInSeconds":N}
 *   POST …/diskRestorePoints/{name}/endGetAccess
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
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"

static void drp_id_of(struct arm_call *call, char *out, size_t cap)
{
  snprintf(out, cap, "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/restorePointCollections/%s"
           "/restorePoints/%s/diskRestorePoints/%s", call->params[0], call->params[1], call->params[2],
           call->params[3], call->params[4]);
}

/* The disk restore point's row; replies 404 and returns false when none. */
static bool drp_exists(struct arm_call *call, const char *id, struct meta_resource *r)
{
  int rc = meta_resource_get(call->arm->meta, id, r);
  if (rc == 0 && strcasecmp(r->type, DRP_TYPE) != 0) {
    meta_resource_clear(r);
    rc = -ENOENT;
  }
  if (rc == -ENOENT)
    arm_reply_error(call, 404, "NotFound", "The disk restore point '%s' was not found.", call->params[4]);
  else if (rc < 0)
    arm_reply_internal(call, rc);
  return rc == 0;
}

/* The operation of an action done at once: recorded Succeeded with result,
 * answered 202 + both LRO headers. */
static void reply_done(struct arm_call *call, const char *kind, const char *resource_id, const char *result)
{
  struct meta *m = call->arm->meta;
  char op_id[40];
  int rc = meta_begin(m);
  if (rc == 0)
    rc = arm_op_create(call, "Microsoft.Compute", kind, resource_id, NULL, op_id);
  if (rc == 0)
    rc = meta_operation_finish(m, op_id, OP_SUCCEEDED, NULL, result);
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

/* Validates GrantAccessData; fills *duration.  Replies and returns false. */
static bool grant_data_ok(struct arm_call *call, int64_t *duration)
{
  json_t *b = call->body;
  if (!json_is_object(b)) {
    arm_reply_error(call, 400, "InvalidRequestContent", "The request content was invalid and could not be "
                    "deserialized: a GrantAccessData object {access, durationInSeconds} is required.");
    return false;
  }
  json_t *access = json_object_get(b, "access"), *dur = json_object_get(b, "durationInSeconds");
  if (!json_is_string(access)) {
    arm_reply_error_target(call, 400, "InvalidParameter", "access",
                           "Required parameter 'access' is missing (null).");
    return false;
  }
  if (strcasecmp(json_string_value(access), "Read") != 0) {
    arm_reply_error_target(call, 400, "InvalidParameter", "access",
                           "The value '%s' of parameter 'access' is not allowed for a disk restore point: only "
                           "'Read' is.", json_string_value(access));
    return false;
  }
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
  drp_id_of(call, id, sizeof id);
  struct meta_resource r;
  int64_t duration;
  if (!grant_data_ok(call, &duration) || !drp_exists(call, id, &r))
    return;
  struct meta_image im;
  int rc = region_image_get(call->arm->region, r.id, &im);
  if (rc == 0 && im.state != IMAGE_READY) {
    arm_reply_error(call, 409, "OperationNotAllowed",
                    "The disk restore point '%s' is %s; access can be granted once it has Succeeded.", r.name,
                    im.state == IMAGE_FAILED ? "Failed" : "still being created");
    rc = -EBUSY;
  }
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
    else if (rc < 0)
      arm_reply_internal(call, rc);
  } else if (rc != -EBUSY) {
    arm_reply_internal(call, rc);
  }
  if (rc == 0) {
    json_t *res = json_pack("{s:s}", "accessSAS", g.url);
    char *text = json_dumps(res, JSON_COMPACT);
    json_decref(res);
    if (text)
      reply_done(call, "beginGetAccess", r.id, text);
    else
      arm_reply_internal(call, -ENOMEM);
    free(text);
  }
  region_grant_clear(&g);
  if (rc != -ENOENT)
    meta_image_clear(&im);
  meta_resource_clear(&r);
}

void arm_drp_end_access(struct arm_call *call)
{
  char id[1400];
  drp_id_of(call, id, sizeof id);
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
