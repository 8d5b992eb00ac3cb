/*
 * nbd_access.c — NBD grants as ARM actions: who may open a disk or a disk
 * restore point over NBD (the region makes them: region/nbd_access.c; the
 * NBD server checks them: nbd/access.c).
 *
 *   POST …/disks/{d}/vmrpGrantNbdAccess        {"access":"Read"|"Write","durationInSeconds":N}
 *   POST …/diskRestorePoints/{p}/vmrpGrantNbdAccess  {"access":"Read", …}
 *     → 200 {accessId, access, exportName, nbdUri, nbdTcpUri, expiresOn}
 *   GET  …/{disk or drp}/vmrpNbdAccess           → 200 {"value":[{accessId, access, createdOn, expiresOn}]}
 *   POST …/{disk or drp}/vmrpRevokeNbdAccess     {"accessId": id} → 200 {}
 *
 * The grant's answer is the only place its secret appears (inside
 * exportName and the URIs); the list shows ids and times only.  Granting
 * and revoking are POSTs, so the router asks for a writing role on the
 * URL's subscription (Contributor or Owner), listing a reading one; the
 * resource's region answers (a forwarded call gets that region's URIs).
 *
 * durationInSeconds is optional: without it a grant lasts until revoked or
 * until its disk or restore point is deleted (a VM's disk is opened by a
 * long-running QEMU that reconnects after a restart of vmrpd; an expiry
 * would cut it off).  An expiry is checked when a connection opens; an open
 * connection is ended by a revoke, not by the expiry.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"
#include "common/timefmt.h"

#define MAX_DURATION_S (10 * 366 * 86400LL) /* ten years: longer is "never", say so */


/* The row of the disk or disk restore point the URL names; replies 404
 * (or 500) and returns -errno when there is none. */
static int find_row(struct arm_call *call, bool drp, struct meta_resource *r)
{
  char id[1400];
  if (drp)
    arm_drp_id(call, id, sizeof id);
  else
    arm_disk_id(call, id, sizeof id);
  return arm_row_get(call, id, drp ? DRP_TYPE : DISK_TYPE, drp ? arm_reply_drp_not_found : arm_disk_reply_not_found, r);
}

/* The resource the URL names and its export; replies and returns -errno
 * when it has none. */
static int find_target(struct arm_call *call, bool drp, struct meta_resource *r, char **export_name)
{
  *export_name = NULL;
  int rc = find_row(call, drp, r);
  if (rc < 0)
    return rc;
  if (!(drp ? arm_image_readable(call, r) : arm_disk_readable(call, r))) { /* (not open after a restart then) */
    meta_resource_clear(r);
    return -EKEYREVOKED;
  }
  if (drp) {
    struct meta_image im;
    rc = region_image_get(call->arm->region, r->id, &im);
    if (rc == 0 && im.state == IMAGE_READY)
      *export_name = strdup(r->name);
    if (rc == 0)
      meta_image_clear(&im);
  } else {
    json_t *props = json_loads(r->properties ? r->properties : "{}", 0, NULL);
    const char *vol = json_string_value(json_object_get(props, "uniqueId"));
    struct region_volume_info vi;
    if (vol && region_volume_info(call->arm->region, vol, &vi) == 0)
      *export_name = strdup(vol);
    json_decref(props);
  }
  if (!*export_name) {
    arm_reply_error(call, 409, "OperationNotAllowed",
                    "The %s '%s' is not served over NBD: it is still being created, or failed.",
                    drp ? "disk restore point" : "disk", r->name);
    meta_resource_clear(r);
    return -EBUSY;
  }
  return 0;
}

static json_t *time_or_null(int64_t us)
{
  char t[TIME_ISO_LEN];
  if (!us)
    return json_null();
  time_iso8601(us, t);
  return json_string(t);
}

/* {access, durationInSeconds}: replies 400 and returns false when invalid. */
static bool grant_body_ok(struct arm_call *call, bool drp, bool *readonly, int64_t *duration)
{
  json_t *b = call->body;
  if (!json_is_object(b)) {
    arm_reply_error(call, 400, "InvalidRequestContent",
                    "The request content was invalid and could not be deserialized: an object "
                    "{\"access\": \"Read\"%s, \"durationInSeconds\": N (optional)} is required.",
                    drp ? "" : " or \"Write\"");
    return false;
  }
  if (!arm_body_normalise(call, b, arm_grant_members))
    return false;
  json_t *access = json_object_get(b, "access"), *dur = json_object_get(b, "durationInSeconds");
  const char *a = json_string_value(access);
  if (!a) {
    arm_reply_error_target(call, 400, "InvalidParameter", "access",
                           "Required parameter 'access' is missing or not a string.");
    return false;
  }
  *readonly = !strcasecmp(a, "Read");
  if (!*readonly && (drp || strcasecmp(a, "Write") != 0)) {
    arm_reply_error_target(call, 400, "InvalidParameter", "access",
                           "The value '%s' of parameter 'access' is not allowed for a %s: only 'Read'%s is.", a,
                           drp ? "disk restore point" : "disk", drp ? "" : " or 'Write'");
    return false;
  }
  *duration = 0;
  if (dur && !json_is_null(dur)) {
    if (!json_is_integer(dur) || json_integer_value(dur) < 1 || json_integer_value(dur) > MAX_DURATION_S) {
      arm_reply_error_target(call, 400, "InvalidParameter", "durationInSeconds",
                             "The value of parameter 'durationInSeconds' is invalid: it must be an integer from 1 "
                             "to %lld, or absent for a grant that lasts until it is revoked.",
                             (long long)MAX_DURATION_S);
      return false;
    }
    *duration = json_integer_value(dur);
  }
  return true;
}

static void grant(struct arm_call *call, bool drp)
{
  bool readonly;
  int64_t duration;
  struct meta_resource r;
  char *export_name = NULL;
  if (!grant_body_ok(call, drp, &readonly, &duration) || find_target(call, drp, &r, &export_name) < 0)
    return;
  struct region_nbd_grant_request req = {.resource_id = r.id, .export_name = export_name, .readonly = readonly,
                                         .duration_s = duration};
  struct region_nbd_grant g = {0};
  int rc = region_nbd_grant(call->arm->region, &req, &g);
  if (rc == -ENOTSUP) {
    arm_reply_error(call, 409, "OperationNotAllowed", "This region serves no NBD ([nbd] is disabled).");
  } else if (rc == -EDQUOT) {
    arm_reply_error(call, 409, "OperationNotAllowed",
                    "The %s '%s' already has %d NBD grants, the most allowed; revoke one with "
                    "vmrpRevokeNbdAccess first.", drp ? "disk restore point" : "disk", r.name, REGION_NBD_MAX_GRANTS);
  } else if (rc == -ENOENT) {
    arm_reply_error(call, 409, "OperationNotAllowed", "The %s '%s' is no longer served over NBD.",
                    drp ? "disk restore point" : "disk", r.name);
  } else if (rc < 0) {
    arm_reply_internal(call, rc);
  } else {
    char *u = region_nbd_uri(call->arm->region, g.export_name, false);
    char *t = region_nbd_uri(call->arm->region, g.export_name, true);
    json_t *o = json_pack("{s:s,s:s,s:s,s:o}", "accessId", g.id, "access", readonly ? "Read" : "Write",
                          "exportName", g.export_name, "expiresOn", time_or_null(g.expires_us));
    if (o && u)
      json_object_set_new(o, "nbdUri", json_string(u));
    if (o && t)
      json_object_set_new(o, "nbdTcpUri", json_string(t));
    arm_reply_json(call, 200, o);
    free(u);
    free(t);
  }
  region_nbd_grant_clear(&g);
  free(export_name);
  meta_resource_clear(&r);
}

static int list_one(void *ctx, const struct meta_nbd_grant *g)
{
  json_t *o = json_pack("{s:s,s:s,s:o,s:o}", "accessId", g->id, "access", g->readonly ? "Read" : "Write",
                        "createdOn", time_or_null(g->created_us), "expiresOn", time_or_null(g->expires_us));
  return o && json_array_append_new(ctx, o) == 0 ? 0 : -ENOMEM;
}

static void list(struct arm_call *call, bool drp)
{
  struct meta_resource r;
  if (find_row(call, drp, &r) < 0)
    return;
  json_t *v = json_array();
  int rc = v ? region_nbd_grants(call->arm->region, r.id, list_one, v) : -ENOMEM;
  if (rc < 0) {
    json_decref(v);
    arm_reply_internal(call, rc);
  } else {
    arm_reply_json(call, 200, json_pack("{s:o}", "value", v));
  }
  meta_resource_clear(&r);
}

static void revoke(struct arm_call *call, bool drp)
{
  if (call->body && !arm_body_normalise(call, call->body, arm_grant_members))
    return;
  const char *id = json_string_value(json_object_get(call->body, "accessId"));
  if (!id) {
    arm_reply_error_target(call, 400, "InvalidParameter", "accessId",
                           "Required parameter 'accessId' is missing or not a string.");
    return;
  }
  struct meta_resource r;
  if (find_row(call, drp, &r) < 0)
    return;
  int rc = region_nbd_revoke(call->arm->region, r.id, id);
  if (rc == -ENOENT)
    arm_reply_error_target(call, 404, "NotFound", "accessId", "The %s '%s' has no NBD grant '%.64s'.",
                           drp ? "disk restore point" : "disk", r.name, id);
  else if (rc < 0)
    arm_reply_internal(call, rc);
  else
    arm_reply_json(call, 200, json_object());
  meta_resource_clear(&r);
}

void arm_disk_nbd_grant(struct arm_call *call) { grant(call, false); }
void arm_disk_nbd_list(struct arm_call *call) { list(call, false); }
void arm_disk_nbd_revoke(struct arm_call *call) { revoke(call, false); }
void arm_drp_nbd_grant(struct arm_call *call) { grant(call, true); }
void arm_drp_nbd_list(struct arm_call *call) { list(call, true); }
void arm_drp_nbd_revoke(struct arm_call *call) { revoke(call, true); }
