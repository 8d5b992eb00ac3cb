/*
 * resource_groups.c — Microsoft.Resources/resourceGroups.
 *
 * PUT, GET, HEAD, PATCH and list are synchronous; DELETE is a long-running
 * operation: the group is marked Deleting and an operation row created in one
 * transaction, and its job (rg_delete.c) deletes what the group holds.
 * DELETE is refused (409, before anything is deleted) while the group holds a
 * restore point with a retention lock in force, or a VM whose collection
 * does, in any region (retention_lock.c).
 *
 * ids are built with the canonical "resourceGroups" segment and the name as
 * the creator spelled it; the store compares them case-insensitively.  Every
 * method checks the name first: a decoded name may hold '/' ("a%2Fb"), and an
 * id built from it could otherwise address a resource inside a group.
 */
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"
#include "common/base64url.h"
#include "common/cleanup.h"
#include "common/urlcode.h"

#define RG_TYPE "Microsoft.Resources/resourceGroups"

static void rg_id(struct arm_call *call, char *out, size_t cap)
{
  snprintf(out, cap, "/subscriptions/%s/resourceGroups/%s", call->params[0], call->params[1]);
}

static void sub_id(struct arm_call *call, char *out, size_t cap)
{
  snprintf(out, cap, "/subscriptions/%s", call->params[0]);
}

static json_t *rg_json(const struct meta_resource *r)
{
  json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:{s:s}}", "id", r->id, "name", r->name, "type", RG_TYPE, "location",
                        r->location ? r->location : "", "properties", "provisioningState",
                        r->provisioning_state ? r->provisioning_state : "Succeeded");
  if (r->tags)
    json_object_set_new(o, "tags", json_loads(r->tags, 0, NULL));
  json_t *extra = r->extra ? json_loads(r->extra, 0, NULL) : NULL;
  json_t *managed_by = json_object_get(extra, "managedBy");
  if (json_is_string(managed_by))
    json_object_set(o, "managedBy", managed_by);
  json_decref(extra);
  return o;
}

static void reply_rg(struct arm_call *call, int status, const struct meta_resource *r)
{
  http_response_header(call->resp, "ETag", "%s", r->etag);
  arm_reply_json(call, status, rg_json(r));
}

static void reply_not_found(struct arm_call *call)
{
  arm_reply_error(call, 404, "ResourceGroupNotFound", "Resource group '%s' could not be found.", call->params[1]);
}

static void reply_being_deleted(struct arm_call *call)
{
  arm_reply_error(call, 409, "ResourceGroupBeingDeleted",
                  "The resource group '%s' is in deprovisioning state and cannot perform this operation.",
                  call->params[1]);
}

static char *dump_or_null(json_t *v)
{
  return v && !json_is_null(v) ? json_dumps(v, JSON_COMPACT) : NULL;
}

/* Conditional-request flags from If-Match / If-None-Match. */
static int precondition_flags(struct arm_call *call, const char **if_match)
{
  int flags = 0;
  *if_match = http_header(call->req, "If-Match");
  if (*if_match)
    flags |= META_PUT_IF_MATCH;
  const char *none = http_header(call->req, "If-None-Match");
  if (none && strcmp(none, "*") == 0)
    flags |= META_PUT_IF_NONE_MATCH;
  return flags;
}

static void reply_precondition_failed(struct arm_call *call)
{
  arm_reply_error(call, 412, "PreconditionFailed",
                  "The condition specified using HTTP conditional header(s) is not met.");
}

/* The members of a group body (PUT, PATCH): properties holds only the
 * read-only provisioningState, but must still be an object. */
static const struct arm_member rg_members[] = {ARM_MEMBER("location", JSON_STRING),
                                               ARM_MEMBER("managedBy", JSON_STRING), ARM_MEMBER("tags", JSON_OBJECT),
                                               ARM_MEMBER("properties", JSON_OBJECT), ARM_MEMBERS_END};

/* The body, normalised, by rg_members; replies and false otherwise. */
static bool rg_body_ok(struct arm_call *call, json_t *b)
{
  return arm_body_normalise(call, b, rg_members) && arm_body_members_ok(call, b, NULL, rg_members) &&
         arm_tags_ok(call, json_object_get(b, "tags"));
}

void arm_rg_put(struct arm_call *call)
{
  if (!arm_rg_name_ok(call, call->params[1]))
    return;
  json_t *b = call->body;
  if (!b) {
    arm_reply_error(call, 400, "InvalidRequestContent", "The request content was invalid and could not be "
                                                        "deserialized: 'a resource group body is required.'");
    return;
  }
  if (!rg_body_ok(call, b))
    return;
  const char *loc_in = json_string_value(json_object_get(b, "location"));
  if (!loc_in) {
    arm_reply_error_target(call, 400, "LocationRequired", "location",
                           "The location property is required for this definition.");
    return;
  }
  const char *loc = arm_location_canonical(call->arm, loc_in);
  if (!loc) {
    char list[512] = "";
    for (int i = 0; i < call->arm->cfg.nlocations; i++)
      snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? "," : "", call->arm->cfg.locations[i].name);
    arm_reply_error(call, 400, "LocationNotAvailableForResourceGroup",
                    "The provided location '%s' is not available for resource group. List of available regions is "
                    "'%s'.",
                    loc_in, list);
    return;
  }
  char id[512], parent[256];
  rg_id(call, id, sizeof id);
  sub_id(call, parent, sizeof parent);
  const char *if_match;
  int flags = precondition_flags(call, &if_match);
  struct meta *m = call->arm->meta;
  struct meta_resource old = {0};
  json_t *extra = json_object();
  if (json_is_string(json_object_get(b, "managedBy")))
    json_object_set(extra, "managedBy", json_object_get(b, "managedBy"));
  CLEANUP_FREE char *tags = dump_or_null(json_object_get(b, "tags"));
  CLEANUP_FREE char *extra_text = json_object_size(extra) ? json_dumps(extra, JSON_COMPACT) : NULL;
  json_decref(extra);
  struct meta_resource r = {
      .id = strdup(id), .type = strdup(RG_TYPE), .name = strdup(call->params[1]), .parent_id = strdup(parent),
      .location = strdup(loc), .tags = STEAL_PTR(tags), .extra = STEAL_PTR(extra_text),
      .provisioning_state = strdup("Succeeded")};
  int rc = meta_begin(m);
  if (rc < 0) {
    arm_reply_internal(call, rc);
    goto out;
  }
  rc = meta_resource_get(m, id, &old);
  if (rc == 0 && strcasecmp(old.location, loc) != 0) {
    meta_rollback(m);
    arm_reply_error(call, 409, "InvalidResourceGroupLocation",
                    "Invalid resource group location '%s'. The Resource group already exists in location '%s'.", loc,
                    old.location);
    goto out;
  }
  if (rc == 0 && old.provisioning_state && strcmp(old.provisioning_state, "Deleting") == 0) {
    meta_rollback(m);
    reply_being_deleted(call);
    goto out;
  }
  bool created = false;
  rc = meta_resource_put(m, &r, if_match, flags, &created);
  if (rc == 0)
    rc = meta_commit(m);
  else
    meta_rollback(m);
  if (rc == -ESTALE)
    reply_precondition_failed(call);
  else if (rc < 0)
    arm_reply_internal(call, rc);
  else
    reply_rg(call, created ? 201 : 200, &r);
out:
  meta_resource_clear(&old);
  meta_resource_clear(&r);
}

void arm_rg_get(struct arm_call *call)
{
  if (!arm_rg_name_ok(call, call->params[1]))
    return;
  char id[512];
  rg_id(call, id, sizeof id);
  struct meta_resource r;
  int rc = meta_resource_get(call->arm->meta, id, &r);
  if (rc == -ENOENT || (rc == 0 && strcasecmp(r.type, RG_TYPE) != 0)) {
    if (rc == 0)
      meta_resource_clear(&r);
    reply_not_found(call);
    return;
  }
  if (rc < 0) {
    arm_reply_internal(call, rc);
    return;
  }
  reply_rg(call, 200, &r);
  meta_resource_clear(&r);
}

void arm_rg_head(struct arm_call *call)
{
  char id[512];
  rg_id(call, id, sizeof id);
  struct meta_resource r = {0};
  int rc = arm_rg_name_valid(call->params[1]) ? meta_resource_get(call->arm->meta, id, &r) : -ENOENT;
  if (rc == 0 && strcasecmp(r.type, RG_TYPE) != 0)
    rc = -ENOENT;
  meta_resource_clear(&r);
  if (rc < 0 && rc != -ENOENT)
    arm_reply_internal(call, rc);
  else
    arm_reply_empty(call, rc == 0 ? 204 : 404);
}

void arm_rg_patch(struct arm_call *call)
{
  if (!arm_rg_name_ok(call, call->params[1]))
    return;
  json_t *b = call->body ? call->body : json_object();
  if (!call->body)
    call->body = b;
  if (!rg_body_ok(call, b))
    return;
  char id[512];
  rg_id(call, id, sizeof id);
  struct meta *m = call->arm->meta;
  struct meta_resource r = {0};
  const char *if_match;
  int flags = precondition_flags(call, &if_match);
  int rc = meta_begin(m);
  if (rc < 0) {
    arm_reply_internal(call, rc);
    return;
  }
  rc = meta_resource_get(m, id, &r);
  if (rc < 0) {
    meta_rollback(m);
    if (rc == -ENOENT)
      reply_not_found(call);
    else
      arm_reply_internal(call, rc);
    return;
  }
  if (r.provisioning_state && strcmp(r.provisioning_state, "Deleting") == 0) {
    meta_rollback(m);
    reply_being_deleted(call);
    goto out;
  }
  json_t *tags = json_object_get(b, "tags");
  if (tags) {
    free(r.tags);
    r.tags = dump_or_null(tags);
  }
  json_t *managed_by = json_object_get(b, "managedBy");
  if (managed_by) {
    json_t *extra = r.extra ? json_loads(r.extra, 0, NULL) : NULL;
    if (!extra)
      extra = json_object();
    if (json_is_null(managed_by))
      json_object_del(extra, "managedBy");
    else
      json_object_set(extra, "managedBy", managed_by);
    free(r.extra);
    r.extra = json_object_size(extra) ? json_dumps(extra, JSON_COMPACT) : NULL;
    json_decref(extra);
  }
  rc = meta_resource_put(m, &r, if_match, flags & META_PUT_IF_MATCH, NULL);
  if (rc == 0)
    rc = meta_commit(m);
  else
    meta_rollback(m);
  if (rc == -ESTALE)
    reply_precondition_failed(call);
  else if (rc < 0)
    arm_reply_internal(call, rc);
  else
    reply_rg(call, 200, &r);
out:
  meta_resource_clear(&r);
}

void arm_rg_delete(struct arm_call *call)
{
  if (!arm_rg_name_ok(call, call->params[1]))
    return;
  char id[512];
  rg_id(call, id, sizeof id);
  struct meta *m = call->arm->meta;
  struct meta_resource r = {0};
  char op_id[40];
  const char *if_match;
  int flags = precondition_flags(call, &if_match) & META_PUT_IF_MATCH;
  /* retention locks of the other regions, asked once by the region the
   * client called (forward.c sends the delete on to them after it) */
  if (!http_header(call->req, ARM_HEADER_FORWARDED) && arm_retention_refuse_elsewhere(call, NULL, id))
    return;
  int rc = meta_begin(m);
  if (rc < 0) {
    arm_reply_internal(call, rc);
    return;
  }
  rc = meta_resource_get(m, id, &r);
  if (rc == 0 && flags && strcmp(if_match, "*") != 0 && strcmp(if_match, r.etag) != 0)
    rc = -ESTALE;
  if (rc == 0 && arm_retention_refuse_group(call, id)) {
    meta_rollback(m); /* refused before anything is deleted */
    meta_resource_clear(&r);
    return;
  }
  if (rc == 0) {
    free(r.provisioning_state);
    r.provisioning_state = strdup("Deleting");
    rc = meta_resource_put(m, &r, NULL, 0, NULL);
  }
  if (rc == 0)
    rc = arm_op_create(call, "Microsoft.Resources", "resourceGroupDelete", r.id, NULL, op_id);
  if (rc == 0)
    rc = meta_commit(m);
  else
    meta_rollback(m);
  if (rc == -ENOENT)
    reply_not_found(call);
  else if (rc == -ESTALE)
    reply_precondition_failed(call);
  else if (rc < 0)
    arm_reply_internal(call, rc);
  else {
    jobs_submit(call->arm->jobs, op_id);
    arm_lro_headers(call, "Microsoft.Resources", op_id, LRO_RESOURCES_LOCATION);
    arm_reply_empty(call, 202);
  }
  meta_resource_clear(&r);
}

/* The call's group row: 0 and *r, or replied (ResourceGroupNotFound, 500)
 * and -errno. */
static int rg_row(struct arm_call *call, struct meta_resource *r)
{
  char id[512];
  rg_id(call, id, sizeof id);
  int rc = meta_resource_get(call->arm->meta, id, r);
  if (rc == 0 && strcasecmp(r->type, RG_TYPE) != 0) {
    meta_resource_clear(r);
    rc = -ENOENT;
  }
  if (rc == -ENOENT)
    reply_not_found(call);
  else if (rc < 0)
    arm_reply_internal(call, rc);
  return rc;
}

bool arm_rg_ready(struct arm_call *call)
{
  struct meta_resource r;
  if (rg_row(call, &r) < 0)
    return false;
  bool deleting = r.provisioning_state && !strcmp(r.provisioning_state, "Deleting");
  meta_resource_clear(&r);
  if (deleting)
    reply_being_deleted(call);
  return !deleting;
}

bool arm_rg_found(struct arm_call *call)
{
  struct meta_resource r;
  if (rg_row(call, &r) < 0)
    return false;
  meta_resource_clear(&r);
  return true;
}

void arm_reply_not_found(struct arm_call *call, const char *type, const char *name)
{
  if (arm_rg_found(call))
    arm_reply_error(call, 404, "ResourceNotFound",
                    "The Resource '%s/%s' under resource group '%s' was not found. For more details please go to "
                    "https://aka.ms/ARMResourceNotFoundFix",
                    type, name, call->params[1]);
}

struct list_state {
  json_t *value;
  char *last_id;
  int count;
};

static int list_one(void *ctx, const struct meta_resource *r)
{
  struct list_state *st = ctx;
  json_array_append_new(st->value, rg_json(r));
  free(st->last_id);
  st->last_id = strdup(r->id);
  st->count++;
  return 0;
}

void arm_rg_list(struct arm_call *call)
{
  int page = call->arm->cfg.page_size > 0 ? call->arm->cfg.page_size : 100;
  const char *top = http_query(call->req, "$top");
  if (top) {
    char *end;
    long t = strtol(top, &end, 10);
    if (*end || t < 1 || t > 1000) {
      arm_reply_error_target(call, 400, "InvalidParameter", "$top",
                             "The value of $top must be an integer between 1 and 1000.");
      return;
    }
    page = (int)t;
  }
  CLEANUP_FREE char *after = NULL;
  const char *token = http_query(call->req, "$skiptoken");
  if (token) {
    size_t n;
    after = (char *)base64url_decode(token, strlen(token), &n);
    if (!after || strlen(after) != n) {
      arm_reply_error_target(call, 400, "InvalidParameter", "$skiptoken", "The $skiptoken is not valid.");
      return;
    }
  }
  char parent[256];
  sub_id(call, parent, sizeof parent);
  struct list_state st = {.value = json_array()};
  int rc = meta_resource_list(call->arm->meta, parent, RG_TYPE, after, page + 1, list_one, &st);
  if (rc < 0) {
    json_decref(st.value);
    free(st.last_id);
    arm_reply_internal(call, rc);
    return;
  }
  json_t *out = json_object();
  if (st.count > page) { /* one more than a page: there is a next page */
    json_array_remove(st.value, (size_t)page);
    const char *last = json_string_value(json_object_get(json_array_get(st.value, (size_t)page - 1), "id"));
    CLEANUP_FREE char *tok = base64url_encode(last, strlen(last));
    char next[1024];
    snprintf(next, sizeof next, "%s/subscriptions/%s/resourcegroups?api-version=%s&%%24skiptoken=%s%s%s",
             call->arm->cfg.public_url, call->params[0], call->api_version, tok, top ? "&%24top=" : "",
             top ? top : "");
    json_object_set_new(out, "nextLink", json_string(next));
  }
  json_object_set_new(out, "value", st.value);
  free(st.last_id);
  arm_reply_json(call, 200, out);
}
