/*
 * collections.c — Microsoft.Compute/restorePointCollections.
 *
 * A collection groups the restore points of one VM (properties.source.id, in
 * this region).  PUT creates it synchronously (the az CLI and the SDKs treat
 * it as a plain call: 201 created / 200 updated); afterwards only tags may
 * change (PUT or PATCH), anything else is refused.  GET can expand the
 * restore points.  DELETE is long-running: the job deletes the restore
 * points (their chunks become garbage for the GC) and then the collection;
 * it is refused while a restore point is being created, and while one has a
 * retention lock in force (retention_lock.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"
#include "common/cleanup.h"
#include "common/random.h"

static void collection_id(struct arm_call *call, char *out, size_t cap)
{
  snprintf(out, cap, "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/restorePointCollections/%s",
           call->params[0], call->params[1], call->params[2]);
}

struct expand_state {
  struct arm *arm;
  json_t *value;
};

static int add_restore_point(void *ctx, const struct meta_resource *r)
{
  struct expand_state *st = ctx;
  json_array_append_new(st->value, arm_rp_json(st->arm, r, false));
  return 0;
}

static json_t *collection_json(struct arm *arm, const struct meta_resource *r, bool expand)
{
  json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "id", r->id, "name", r->name, "type", RPC_TYPE, "location",
                        r->location ? r->location : "");
  json_object_set_new(o, "tags", r->tags ? json_loads(r->tags, 0, NULL) : json_object());
  json_t *props = r->properties ? json_loads(r->properties, 0, NULL) : json_object();
  json_object_set_new(props, "provisioningState", json_string(r->provisioning_state ? r->provisioning_state : ""));
  if (expand) {
    struct expand_state st = {arm, json_array()};
    meta_resource_list(arm->meta, r->id, RP_TYPE, NULL, 0, add_restore_point, &st);
    json_object_set_new(props, "restorePoints", st.value);
  }
  json_object_set_new(o, "properties", props);
  return o;
}

static void reply_collection(struct arm_call *call, int status, const struct meta_resource *r)
{
  http_response_header(call->resp, "ETag", "%s", r->etag);
  arm_reply_json(call, status, collection_json(call->arm, r, arm_expand_has(call, "restorePoints")));
}

/* Applies a tags-only update (PUT on an existing collection, or PATCH). */
static void update_tags(struct arm_call *call, struct meta_resource *r, json_t *b)
{
  json_t *props = json_loads(r->properties ? r->properties : "{}", 0, NULL);
  const char *have = json_string_value(json_object_get(json_object_get(props, "source"), "id"));
  const char *want = json_string_value(json_object_get(json_object_get(json_object_get(b, "properties"), "source"), "id"));
  bool changed = want && have && strcasecmp(have, want) != 0;
  json_decref(props);
  if (changed) {
    arm_reply_error_target(call, 409, "OperationNotAllowed", "properties.source.id",
                           "Changing the source of a restore point collection is not allowed; only tags may be "
                           "updated.");
    return;
  }
  if (arm_row_update(call, r, json_object_get(b, "tags")) == 0)
    reply_collection(call, 200, r);
}

/* The collection's source: a VM of this region, a collection of another
 * region (a target of cross-region copies) or a VM of another region (whose
 * restore points are created here); its region in loc.  false: replied. */
static bool find_source(struct arm_call *call, const char *src, char *loc, size_t cap)
{
  struct arm *arm = call->arm;
  struct meta_resource here;
  if (meta_resource_get(arm->meta, src, &here) == 0) {
    bool vm = !strcasecmp(here.type, VM_TYPE), coll = !strcasecmp(here.type, RPC_TYPE);
    snprintf(loc, cap, "%s", here.location ? here.location : arm->cfg.locations[0].name);
    meta_resource_clear(&here);
    if (coll)
      arm_reply_error_target(call, 400, "InvalidParameter", "properties.source.id",
                             "The source collection '%s' is in region '%s', the region of this collection: restore "
                             "points are copied between regions.",
                             src, arm->cfg.locations[0].name);
    if (vm || coll)
      return vm;
  }
  const struct arm_location *where = NULL;
  json_t *doc = NULL;
  char why[ARM_PEER_WHY];
  int rc = arm_peer_lookup(arm, &call->who, src, &where, &doc, why);
  const char *type = json_string_value(json_object_get(doc, "type"));
  /* a collection there: copies of its restore points; a VM there: restore
   * points created here from it (cross-region creation) */
  bool coll = rc == 0 && type && (!strcasecmp(type, RPC_TYPE) || !strcasecmp(type, VM_TYPE));
  if (rc == -EPROTO)
    arm_reply_error(call, 502, "InvalidPeerResponse", "%s", why);
  else if (rc == -EHOSTUNREACH)
    arm_reply_error(call, 503, "RegionUnavailable",
                    "Region '%s' does not answer, so the source '%s' cannot be looked up; retry later.", where->name,
                    src);
  else if (!coll)
    arm_reply_error_target(call, 404, "NotFound", "properties.source.id",
                           "The source '%s' (a virtual machine, or a restore point collection of another region) "
                           "was not found.",
                           src);
  if (coll)
    snprintf(loc, cap, "%s", where->name);
  json_decref(doc);
  return coll;
}

static const struct arm_member source_members[] = {ARM_MEMBER("id", JSON_STRING), ARM_MEMBERS_END};
static const struct arm_member coll_props[] = {ARM_OBJECT("source", source_members), ARM_MEMBERS_END};
static const struct arm_member coll_members[] = {ARM_MEMBER("location", JSON_STRING), ARM_MEMBER("tags", JSON_OBJECT),
                                                 ARM_OBJECT("properties", coll_props), ARM_MEMBERS_END};

/* The body (PUT, PATCH), normalised, by the tables above; replies and false
 * otherwise. */
static bool collection_body_ok(struct arm_call *call, json_t *b)
{
  if (!arm_body_normalise(call, b, coll_members))
    return false;
  json_t *props = json_object_get(b, "properties");
  return arm_body_members_ok(call, b, NULL, coll_members) && arm_tags_ok(call, json_object_get(b, "tags")) &&
         arm_body_members_ok(call, props, NULL, coll_props) &&
         arm_body_members_ok(call, json_object_get(props, "source"), "source", source_members);
}

void arm_collection_put(struct arm_call *call)
{
  if (!arm_rp_name_ok(call, call->params[2], "restorePointCollectionName") || !arm_rg_ready(call))
    return;
  json_t *b = call->body;
  if (!arm_body_required(call))
    return;
  if (!collection_body_ok(call, b))
    return;
  json_t *props = json_object_get(b, "properties");
  char id[1024];
  collection_id(call, id, sizeof id);
  struct meta_resource r;
  int rc = meta_resource_get(call->arm->meta, id, &r);
  if (rc == 0) {
    update_tags(call, &r, b);
    meta_resource_clear(&r);
    return;
  }
  if (rc != -ENOENT) {
    arm_reply_internal(call, rc);
    return;
  }
  const char *loc = arm_location_here(call, b, "Microsoft.Compute/restorePointCollections");
  if (!loc)
    return;
  const char *src = json_string_value(json_object_get(json_object_get(props, "source"), "id"));
  if (!src) {
    arm_reply_error_target(call, 400, "InvalidParameter", "properties.source.id",
                           "Required parameter 'source.id' is missing (null).");
    return;
  }
  char src_loc[128];
  if (!find_source(call, src, src_loc, sizeof src_loc))
    return;
  char guid[UUID_STR_LEN], rg[512];
  random_uuid(guid);
  json_t *p = json_pack("{s:{s:s,s:s},s:s}", "source", "id", src, "location", src_loc, "restorePointCollectionId",
                        guid);
  snprintf(rg, sizeof rg, "/subscriptions/%s/resourceGroups/%s", call->params[0], call->params[1]);
  json_t *tags = json_object_get(b, "tags");
  struct meta_resource n = {.id = strdup(id), .type = strdup(RPC_TYPE), .name = strdup(call->params[2]),
                            .parent_id = strdup(rg), .location = strdup(loc),
                            .tags = tags && !json_is_null(tags) ? json_dumps(tags, JSON_COMPACT) : NULL,
                            .properties = json_dumps(p, JSON_COMPACT), .provisioning_state = strdup("Succeeded")};
  json_decref(p);
  bool created = false;
  rc = meta_resource_put(call->arm->meta, &n, NULL, 0, &created);
  if (rc < 0)
    arm_reply_internal(call, rc);
  else
    reply_collection(call, created ? 201 : 200, &n);
  meta_resource_clear(&n);
}

void arm_collection_patch(struct arm_call *call)
{
  json_t *b = call->body ? call->body : (call->body = json_object());
  if (!collection_body_ok(call, b))
    return;
  char id[1024];
  collection_id(call, id, sizeof id);
  struct meta_resource r;
  int rc = meta_resource_get(call->arm->meta, id, &r);
  if (rc == -ENOENT)
    arm_reply_collection_not_found(call);
  else if (rc < 0)
    arm_reply_internal(call, rc);
  else {
    update_tags(call, &r, b);
    meta_resource_clear(&r);
  }
}

void arm_collection_get(struct arm_call *call)
{
  char id[1024];
  collection_id(call, id, sizeof id);
  struct meta_resource r;
  int rc = meta_resource_get(call->arm->meta, id, &r);
  if (rc == -ENOENT)
    arm_reply_collection_not_found(call);
  else if (rc < 0)
    arm_reply_internal(call, rc);
  else {
    reply_collection(call, 200, &r);
    meta_resource_clear(&r);
  }
}

static int find_creating(void *ctx, const struct meta_resource *r)
{
  (void)ctx;
  return r->provisioning_state && !strcmp(r->provisioning_state, "Creating") ? 1 : 0;
}

static bool refuse_delete(struct arm_call *call, const struct meta_resource *r)
{
  if (arm_retention_refuse_collection(call, r->id))
    return true;
  if (meta_resource_list(call->arm->meta, r->id, RP_TYPE, NULL, 0, find_creating, NULL) != 1)
    return false;
  arm_reply_error(call, 409, "OperationNotAllowed",
                  "A restore point of collection '%s' is being created; retry when it is done.", call->params[2]);
  return true;
}

void arm_collection_delete(struct arm_call *call)
{
  char id[1024];
  collection_id(call, id, sizeof id);
  arm_start_delete(call, id, RPC_TYPE, "restorePointCollectionDelete", refuse_delete);
}

static json_t *list_json(struct arm_call *call, const struct meta_resource *r)
{
  return collection_json(call->arm, r, false);
}

void arm_collection_list(struct arm_call *call) { arm_reply_list(call, RPC_TYPE, list_json); }

/* Deletes every restore point of the collection, then the collection. */
enum job_outcome arm_collection_delete_job(void *app, struct job *job, const struct meta_operation *op,
                                           struct job_result *res)
{
  struct arm *arm = app;
  (void)job;
  int rc = arm_restore_points_delete_under(arm, op->resource_id);
  if (rc == 0) {
    rc = meta_resource_delete(arm->meta, op->resource_id);
    if (rc == -ENOENT)
      rc = 0;
  }
  if (rc < 0) {
    res->error = arm_error_text("InternalServerError", "Deleting the restore point collection failed; retry.");
    return JOB_FAILED;
  }
  return JOB_DONE;
}
