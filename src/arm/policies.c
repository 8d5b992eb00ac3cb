/*
 * policies.c — Microsoft.Vmrp/protectionPolicies, the resource an operator
 * protects a fleet with (docs/policies.md "The policy resource").
 *
 * A policy lives in the region of its location and protects that region's
 * VMs only: the scheduler that runs it (policy_sched.c) creates restore
 * points through this region's routes, and a VM of another region would
 * make every slot a cross-region capture.  Copies go to the other regions.
 * Forwarding (forward.c) already sends a PUT to the region its body's
 * location names, so a policy is created where it runs whichever endpoint
 * the client used.
 *
 * Everything is checked before anything is written: the document by
 * policy_spec_parse (spec_parse.c: formats, ranges, ids in the policy's
 * subscription), then the world here — each VM named exists and is this
 * region's, each copy region a configured peer — and only then, in one
 * transaction, the row and the webhook secret.  A refused request changes
 * nothing.  PATCH is a JSON merge patch (RFC 7386) of properties — objects
 * merged member by member, arrays and values replaced, null removes — and
 * replaces the tags when it names them; the result is checked as a PUT's.
 *
 * Stored apart from what any answer shows (resources.c and the peer
 * protocol render only id, name, location, tags, properties and a row's
 * sku/managedBy):
 *   - extra.vmrpActor {oid, tid, appid}: the principal of the last PUT or
 *     PATCH.  The scheduler acts as it (arm_policy_load), so a policy can
 *     never do more than the one who wrote it may, and a principal whose
 *     role is withdrawn stops its policies' restore points with ARM's own
 *     403 instead of leaving a privileged robot behind;
 *   - notifications.secret: write-only, kept with meta_secret_put under
 *     "webhook:<lower-case policy id>" (the webhooks' signing key) and
 *     never in the row; answers say "secretSet": true.  A PUT or PATCH
 *     without one keeps the stored secret; a policy without notifications
 *     drops it.
 * DELETE removes the policy, its secret and its webhook events still
 * waiting (unsigned, they could not go: notify_forget), nothing else: the
 * restore points it made (collections tagged vmrp-policy) stay until
 * someone deletes them — they may be locked, and they are the point of
 * having had the policy.
 * There is no operation to poll: a policy is data, so every write is
 * synchronous and Succeeded.  Its actions are the scheduler's answers:
 * instanceView (policy_view.c) and previewRetention (here, over the plan
 * policy_retain.c applies, so the preview is what retention will do).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "policy/spec.h"

#define POLICY_NAME_MAX 80

static void policy_id(struct arm_call *call, char *out, size_t cap)
{
  snprintf(out, cap, "/subscriptions/%s/resourceGroups/%s/providers/" POLICY_TYPE "/%s", call->params[0],
           call->params[1], call->params[2]);
}

static void reply_not_found(struct arm_call *call) { arm_reply_not_found(call, POLICY_TYPE, call->params[2]); }

void arm_policy_secret_name(const char *policy_id, char *out, size_t cap)
{
  notify_secret_name(policy_id, out, cap);
}

/* ---- the body's rules: member names in the documented spelling ---- */

static const struct arm_member retention_members[] = {
    ARM_MEMBER("keepLast", JSON_INTEGER),    ARM_MEMBER("keepHourly", JSON_INTEGER),
    ARM_MEMBER("keepDaily", JSON_INTEGER),   ARM_MEMBER("keepWeekly", JSON_INTEGER),
    ARM_MEMBER("keepMonthly", JSON_INTEGER), ARM_MEMBER("keepYearly", JSON_INTEGER),
    ARM_MEMBER("keepWithin", JSON_STRING),   ARM_MEMBERS_END};
static const struct arm_member schedule_members[] = {ARM_MEMBER("scheduleRunFrequency", JSON_STRING),
                                                     ARM_MEMBER("scheduleRunTimes", JSON_ARRAY),
                                                     ARM_MEMBER("scheduleRunDays", JSON_ARRAY), ARM_MEMBERS_END};
static const struct arm_member copy_members[] = {ARM_MEMBER("region", JSON_STRING),
                                                 ARM_OBJECT("retention", retention_members), ARM_MEMBERS_END};
static const struct arm_member lock_members[] = {ARM_MEMBER("duration", JSON_STRING), ARM_MEMBER("mode", JSON_STRING),
                                                 ARM_MEMBERS_END};
static const struct arm_member notify_members[] = {ARM_MEMBER("webhooks", JSON_ARRAY),
                                                   ARM_MEMBER("secret", JSON_STRING),
                                                   ARM_MEMBER("secretSet", JSON_TRUE), ARM_MEMBERS_END};
static const struct arm_member props_members[] = {
    ARM_MEMBER("virtualMachines", JSON_ARRAY),       ARM_MEMBER("vmTagSelector", JSON_OBJECT),
    ARM_ARRAY("schedules", schedule_members),        ARM_MEMBER("timeZone", JSON_STRING),
    ARM_MEMBER("consistencyMode", JSON_STRING),      ARM_MEMBER("excludeDisks", JSON_ARRAY),
    ARM_OBJECT("retention", retention_members),      ARM_ARRAY("copies", copy_members),
    ARM_OBJECT("retentionLock", lock_members),       ARM_MEMBER("spreadWindow", JSON_STRING),
    ARM_MEMBER("rpoTarget", JSON_STRING),            ARM_OBJECT("notifications", notify_members),
    ARM_MEMBER("provisioningState", JSON_STRING),    ARM_MEMBERS_END};
static const struct arm_member body_members[] = {ARM_MEMBER("location", JSON_STRING), ARM_MEMBER("tags", JSON_OBJECT),
                                                 ARM_OBJECT("properties", props_members), ARM_MEMBERS_END};

/* The body normalised (body.c) and its top level typed; false: replied. */
static bool body_ok(struct arm_call *call, json_t *b)
{
  return arm_body_normalise(call, b, body_members) && arm_body_members_ok(call, b, NULL, body_members) &&
         arm_tags_ok(call, json_object_get(b, "tags"));
}

/* ---- answers ---- */

static json_t *loads_object(const char *text)
{
  json_t *o = text ? json_loads(text, 0, NULL) : NULL;
  return json_is_object(o) ? o : (json_decref(o), json_object());
}

static json_t *policy_json(const struct meta_resource *r)
{
  json_t *props = loads_object(r->properties), *extra = loads_object(r->extra);
  json_object_set_new(props, "provisioningState", json_string(r->provisioning_state ? r->provisioning_state : ""));
  json_t *n = json_object_get(props, "notifications");
  if (json_is_object(n))
    json_object_set(n, "secretSet", json_is_true(json_object_get(extra, "vmrpSecretSet")) ? json_true() : json_false());
  json_decref(extra);
  return json_pack("{s:s,s:s,s:s,s:s,s:o,s:o}", "id", r->id, "name", r->name, "type", POLICY_TYPE, "location",
                   r->location ? r->location : "", "tags", loads_object(r->tags), "properties", props);
}

static void reply_policy(struct arm_call *call, int status, const struct meta_resource *r)
{
  http_response_header(call->resp, "ETag", "%s", r->etag);
  arm_reply_json(call, status, policy_json(r));
}

/* ---- checks against the world ---- */

/* The target of a parse error: its message up to the first ':'. */
static void reply_invalid(struct arm_call *call, const char *msg)
{
  char target[128];
  size_t n = strcspn(msg, ": ");
  snprintf(target, sizeof target, "%.*s", (int)(n < sizeof target ? n : sizeof target - 1), msg);
  arm_reply_error_target(call, 400, "InvalidParameter", target, "%s", msg);
}

/* Each VM named is a VM of this region. */
static bool vms_here(struct arm_call *call, const struct policy_spec *s)
{
  struct arm *arm = call->arm;
  const char *here = arm->cfg.locations[0].name;
  for (int i = 0; i < s->nvm_ids; i++) {
    struct meta_resource vm;
    if (meta_resource_get(arm->meta, s->vm_ids[i], &vm) == 0) {
      bool ok = !strcasecmp(vm.type, VM_TYPE);
      meta_resource_clear(&vm);
      if (ok)
        continue;
    }
    const struct arm_location *where = NULL;
    json_t *doc = NULL;
    char why[ARM_PEER_WHY];
    int rc = arm_peer_lookup(arm, &call->who, s->vm_ids[i], &where, &doc, why);
    const char *type = json_string_value(json_object_get(doc, "type"));
    char target[64];
    snprintf(target, sizeof target, "properties.virtualMachines[%d]", i);
    if (rc == 0 && type && !strcasecmp(type, VM_TYPE))
      arm_reply_error_target(call, 400, "InvalidParameter", target,
                             "%s: the virtual machine '%s' is in region '%s'; a policy in '%s' protects only the "
                             "VMs of its own region (create a policy in '%s' for it).",
                             target, s->vm_ids[i], where->name, here, where->name);
    else
      arm_reply_error_target(call, 400, "InvalidParameter", target,
                             "%s: the virtual machine '%s' was not found in region '%s'.", target, s->vm_ids[i], here);
    json_decref(doc);
    return false;
  }
  return true;
}

/* Each copy region is a configured peer (its name made canonical in
 * doc's copies), none twice. */
static bool copy_regions_ok(struct arm_call *call, const struct policy_spec *s, json_t *doc)
{
  struct arm *arm = call->arm;
  json_t *copies = json_object_get(doc, "copies");
  for (int i = 0; i < s->ncopies; i++) {
    const char *loc = arm_location_canonical(arm, s->copies[i].region);
    char target[64];
    snprintf(target, sizeof target, "properties.copies[%d].region", i);
    if (!loc || !strcmp(loc, arm->cfg.locations[0].name)) {
      char peers[512] = "";
      for (int k = 1; k < arm->cfg.nlocations; k++)
        snprintf(peers + strlen(peers), sizeof peers - strlen(peers), "%s'%s'", k > 1 ? ", " : "",
                 arm->cfg.locations[k].name);
      arm_reply_error_target(call, 400, "InvalidParameter", target,
                             "%s: '%s' is %s; copies go to another region of this deployment: %s.", target,
                             s->copies[i].region, loc ? "the policy's own region" : "not a region of this deployment",
                             peers[0] ? peers : "none is configured");
      return false;
    }
    for (int k = 0; k < i; k++)
      if (!strcmp(json_string_value(json_object_get(json_array_get(copies, (size_t)k), "region")), loc)) {
        arm_reply_error_target(call, 400, "InvalidParameter", target,
                               "%s: region '%s' is named twice (also properties.copies[%d]).", target, loc, k);
        return false;
      }
    json_object_set_new(json_array_get(copies, (size_t)i), "region", json_string(loc));
  }
  return true;
}

/* ---- writing ---- */

/* props without what is never stored or is read-only: the secret (out in
 * *secret, may be NULL), secretSet, provisioningState. */
static json_t *stored_document(json_t *props, char **secret)
{
  json_t *doc = json_deep_copy(props);
  *secret = NULL;
  if (!doc)
    return NULL;
  json_object_del(doc, "provisioningState");
  json_t *n = json_object_get(doc, "notifications");
  if (json_is_object(n)) {
    json_object_del(n, "secretSet");
    const char *s = json_string_value(json_object_get(n, "secret"));
    if (s && !(*secret = strdup(s))) {
      json_decref(doc);
      return NULL;
    }
    json_object_del(n, "secret");
  }
  return doc;
}

static void set_actor(json_t *extra, const struct auth_identity *who)
{
  json_object_set_new(extra, "vmrpActor",
                      json_pack("{s:s,s:s,s:s}", "oid", who->oid, "tid", who->tid, "appid", who->appid));
}

/* Commits row n under the request's If-Match / If-None-Match with the
 * policy's secret in one transaction: the secret set to secret, kept (NULL,
 * notifications present) or removed (no notifications).  -ESTALE, -EEXIST:
 * a precondition failed, nothing written. */
static int store(struct arm_call *call, struct meta_resource *n, const char *secret, bool notifications,
                 bool *created)
{
  struct meta *m = call->arm->meta;
  const char *if_match = http_header(call->req, "If-Match");
  const char *none = http_header(call->req, "If-None-Match");
  int flags = (if_match ? META_PUT_IF_MATCH : 0) | (none && !strcmp(none, "*") ? META_PUT_IF_NONE_MATCH : 0);
  char name[1200];
  arm_policy_secret_name(n->id, name, sizeof name);
  int rc = meta_begin(m);
  if (rc < 0)
    return rc;
  rc = meta_resource_put(m, n, if_match, flags, created);
  if (rc == 0 && secret)
    rc = meta_secret_put(m, name, (const unsigned char *)secret, strlen(secret), time_now_us());
  else if (rc == 0 && !notifications && (rc = meta_secret_delete(m, name)) == -ENOENT)
    rc = 0;
  if (rc == 0 && !notifications) /* its waiting webhook events could no longer be signed */
    rc = notify_forget(call->arm->notify, n->id);
  if (rc == 0)
    rc = meta_commit(m);
  else
    meta_rollback(m);
  return rc;
}

/* Checks props (the whole document a PUT sent or a PATCH made; the secret
 * may be in it) and writes the policy id at loc with tags (NULL: none),
 * replacing old (NULL: a new policy); replies either way. */
static void write_policy(struct arm_call *call, const char *id, json_t *props, json_t *tags, const char *loc,
                         const struct meta_resource *old)
{
  struct policy_spec spec;
  char err[512];
  char *secret = NULL;
  json_t *doc = json_is_object(props) ? stored_document(props, &secret) : json_incref(props);
  json_t *parsed = doc ? json_deep_copy(doc) : NULL, *extra = loads_object(old ? old->extra : NULL);
  if ((props && !doc) || (doc && !parsed)) {
    arm_reply_internal(call, -ENOMEM);
    goto out;
  }
  json_t *pn = json_object_get(parsed, "notifications");
  if (secret && json_is_object(pn)) /* checked with the rest, stored apart */
    json_object_set_new(pn, "secret", json_string(secret));
  int rc = policy_spec_parse(parsed, call->params[0], &spec, err, sizeof err);
  if (rc == -ENOMEM) {
    arm_reply_internal(call, rc);
    goto out;
  }
  if (rc < 0) {
    reply_invalid(call, err);
    goto out;
  }
  bool notifications = spec.nwebhooks > 0;
  bool secret_set = secret || (notifications && json_is_true(json_object_get(extra, "vmrpSecretSet")));
  bool ok = vms_here(call, &spec) && copy_regions_ok(call, &spec, doc);
  policy_spec_clear(&spec);
  if (!ok)
    goto out;
  if (notifications && !secret_set) {
    arm_reply_error_target(call, 400, "InvalidParameter", "properties.notifications.secret",
                           "properties.notifications.secret: required: the key (at least 32 characters) the "
                           "webhooks' events are signed with; write-only, never returned.");
    goto out;
  }
  if (!json_object_get(doc, "timeZone"))
    json_object_set_new(doc, "timeZone", json_string("UTC"));
  if (!json_object_get(doc, "consistencyMode"))
    json_object_set_new(doc, "consistencyMode", json_string("CrashConsistent"));
  set_actor(extra, &call->who);
  json_object_set_new(extra, "vmrpSecretSet", json_boolean(secret_set));
  char rg[512];
  snprintf(rg, sizeof rg, "/subscriptions/%s/resourceGroups/%s", call->params[0], call->params[1]);
  struct meta_resource n = {.id = strdup(id), .type = strdup(POLICY_TYPE), .name = strdup(call->params[2]),
                            .parent_id = strdup(rg), .location = strdup(loc),
                            .tags = tags && !json_is_null(tags) ? json_dumps(tags, JSON_COMPACT) : NULL,
                            .properties = json_dumps(doc, JSON_COMPACT), .extra = json_dumps(extra, JSON_COMPACT),
                            .provisioning_state = strdup("Succeeded")};
  bool created = false;
  rc = n.id && n.type && n.name && n.parent_id && n.location && n.properties && n.extra && n.provisioning_state
           ? store(call, &n, secret, notifications, &created)
           : -ENOMEM;
  if (rc == -ESTALE || rc == -EEXIST)
    arm_reply_error(call, 412, "PreconditionFailed", "The condition specified using HTTP conditional header(s) is "
                                                     "not met.");
  else if (rc < 0)
    arm_reply_internal(call, rc);
  else {
    arm_policy_sched_changed(call->arm, id); /* its VMs and slots evaluated again now */
    reply_policy(call, created ? 201 : 200, &n);
  }
  meta_resource_clear(&n);
out:
  if (secret) {
    explicit_bzero(secret, strlen(secret));
    free(secret);
  }
  json_decref(doc);
  json_decref(parsed);
  json_decref(extra);
}

/* 409 when a peer holds the policy id: one id lives in one region.  A peer
 * that does not answer cannot say; the policy is made here (a region down
 * must not stop the other from protecting its VMs). */
static bool elsewhere(struct arm_call *call, const char *id)
{
  const struct arm_location *where = NULL;
  json_t *doc = NULL;
  char why[ARM_PEER_WHY];
  int rc = arm_peer_lookup(call->arm, &call->who, id, &where, &doc, why);
  json_decref(doc);
  if (rc == -EHOSTUNREACH)
    log_warn("arm", "policy %s: region %s does not answer; created here without knowing whether it holds one",
             id, where ? where->name : "?");
  if (rc != 0)
    return false;
  arm_reply_error(call, 409, "InvalidResourceLocation",
                  "The resource '%s' already exists in location '%s' in resource group '%s'. A resource with the "
                  "same name cannot be created in location '%s'. Please select a new resource name.",
                  call->params[2], where->name, call->params[1], call->arm->cfg.locations[0].name);
  return true;
}

void arm_policy_put(struct arm_call *call)
{
  if (!arm_compute_name_valid(call->params[2], POLICY_NAME_MAX)) {
    arm_reply_error_target(call, 400, "InvalidResourceName", "policyName",
                           "The resource name '%s' is invalid. A protection policy name can contain only a-z, A-Z, "
                           "0-9, '_', '-' and '.', start with a letter or digit, end with a letter, digit or '_', "
                           "and be at most %d characters long.",
                           call->params[2], POLICY_NAME_MAX);
    return;
  }
  if (!arm_rg_ready(call))
    return;
  json_t *b = call->body;
  if (!arm_body_required(call))
    return;
  if (!body_ok(call, b))
    return;
  const char *loc = arm_location_here(call, b, POLICY_TYPE);
  if (!loc)
    return;
  char id[1024];
  policy_id(call, id, sizeof id);
  struct meta_resource r;
  int rc = meta_resource_get(call->arm->meta, id, &r);
  if (rc < 0 && rc != -ENOENT) {
    arm_reply_internal(call, rc);
    return;
  }
  if (rc == -ENOENT && elsewhere(call, id))
    return;
  write_policy(call, id, json_object_get(b, "properties"), json_object_get(b, "tags"), loc, rc == 0 ? &r : NULL);
  if (rc == 0)
    meta_resource_clear(&r);
}

/* RFC 7386: patch merged into target (objects member by member, null
 * removes, anything else replaces). */
static int merge_patch(json_t *target, json_t *patch)
{
  const char *k;
  json_t *v;
  json_object_foreach(patch, k, v) {
    json_t *t = json_object_get(target, k);
    int rc;
    if (json_is_null(v))
      rc = (json_object_del(target, k), 0);
    else if (json_is_object(v) && json_is_object(t))
      rc = merge_patch(t, v);
    else
      rc = json_object_set(target, k, v) < 0 ? -ENOMEM : 0;
    if (rc < 0)
      return rc;
  }
  return 0;
}

void arm_policy_patch(struct arm_call *call)
{
  json_t *b = call->body ? call->body : (call->body = json_object());
  if (!body_ok(call, b))
    return;
  char id[1024];
  policy_id(call, id, sizeof id);
  struct meta_resource r;
  if (arm_row_get(call, id, POLICY_TYPE, reply_not_found, &r) < 0)
    return;
  const char *loc = json_string_value(json_object_get(b, "location"));
  json_t *patch = json_object_get(b, "properties"), *tags = json_object_get(b, "tags");
  json_t *props = loads_object(r.properties), *old_tags = loads_object(r.tags);
  if (loc && (!arm_location_canonical(call->arm, loc) || strcmp(arm_location_canonical(call->arm, loc), r.location)))
    arm_reply_error_target(call, 400, "InvalidParameter", "location",
                           "location: a policy cannot move: '%s' lives in '%s' (delete it and create one there).",
                           call->params[2], r.location);
  else if (json_is_object(patch) && merge_patch(props, patch) < 0)
    arm_reply_internal(call, -ENOMEM);
  else
    write_policy(call, id, props, tags ? tags : old_tags, r.location, &r);
  json_decref(props);
  json_decref(old_tags);
  meta_resource_clear(&r);
}

void arm_policy_get(struct arm_call *call)
{
  char id[1024];
  policy_id(call, id, sizeof id);
  struct meta_resource r;
  if (arm_row_get(call, id, POLICY_TYPE, reply_not_found, &r) < 0)
    return;
  reply_policy(call, 200, &r);
  meta_resource_clear(&r);
}

/* Removes the row id and its secret in one transaction: 0, -ENOENT (no
 * such policy), -ESTALE (if_match, when not NULL or "*", is not its etag). */
static int destroy(struct arm *arm, const char *id, const char *if_match)
{
  struct meta_resource r;
  char name[1200];
  arm_policy_secret_name(id, name, sizeof name);
  int rc = meta_begin(arm->meta);
  if (rc < 0)
    return rc;
  rc = meta_resource_get(arm->meta, id, &r);
  if (rc == 0) {
    if (strcasecmp(r.type, POLICY_TYPE))
      rc = -ENOENT;
    else if (if_match && strcmp(if_match, "*") && strcmp(if_match, r.etag))
      rc = -ESTALE;
    meta_resource_clear(&r);
  }
  if (rc == 0)
    rc = meta_resource_delete(arm->meta, id);
  if (rc == 0 && (rc = meta_secret_delete(arm->meta, name)) == -ENOENT)
    rc = 0;
  if (rc == 0) /* its waiting webhook events could no longer be signed */
    rc = notify_forget(arm->notify, id);
  if (rc == 0)
    rc = meta_commit(arm->meta);
  else
    meta_rollback(arm->meta);
  return rc;
}

void arm_policy_delete(struct arm_call *call)
{
  if (!arm_rg_found(call))
    return;
  char id[1024];
  policy_id(call, id, sizeof id);
  int rc = destroy(call->arm, id, http_header(call->req, "If-Match"));
  if (rc == -ENOENT)
    arm_reply_empty(call, 204);
  else if (rc == -ESTALE)
    arm_reply_error(call, 412, "PreconditionFailed",
                    "The condition specified using HTTP conditional header(s) is not met.");
  else if (rc < 0)
    arm_reply_internal(call, rc);
  else {
    arm_policy_sched_changed(call->arm, id); /* its schedule stops now */
    arm_reply_empty(call, 200);
  }
}

int arm_policy_delete_child(struct arm *arm, const struct meta_resource *r)
{
  int rc = destroy(arm, r->id, NULL);
  arm_policy_sched_changed(arm, r->id);
  return rc == -ENOENT ? 0 : rc;
}

static json_t *list_json(struct arm_call *call, const struct meta_resource *r)
{
  (void)call;
  return policy_json(r);
}

void arm_policy_list(struct arm_call *call) { arm_reply_list(call, POLICY_TYPE, list_json); }

/* POST {policy}/previewRetention: what retention would keep and remove now,
 * per region, and why — restic forget --dry-run's answer — from the plan
 * the scheduler applies (arm_policy_retention_plan).  Read as the caller,
 * not as the policy's actor: the answer lists restore points, which the
 * caller must be allowed to read. */
void arm_policy_preview_retention(struct arm_call *call)
{
  char id[1024], now[TIME_ISO_LEN];
  policy_id(call, id, sizeof id);
  struct meta_resource r;
  if (arm_row_get(call, id, POLICY_TYPE, reply_not_found, &r) < 0)
    return;
  struct policy_spec spec;
  json_t *plan = NULL;
  int rc = arm_policy_load(call->arm, r.id, &spec, NULL);
  if (rc == 0) {
    rc = arm_policy_retention_plan(call->arm, r.id, &spec, &call->who, &plan);
    policy_spec_clear(&spec);
  }
  time_iso8601(time_now_us(), now);
  if (rc == -EIO)
    arm_reply_error(call, 503, "RetryableError",
                    "A restore point collection of policy '%s' could not be read (a region may not answer); retry "
                    "later.",
                    call->params[2]);
  else if (rc < 0)
    arm_reply_internal(call, rc);
  else
    arm_reply_json(call, 200, json_pack("{s:s,s:s,s:o}", "policyId", r.id, "time", now, "regions", plan));
  meta_resource_clear(&r);
}

/* The subscription of an id (/subscriptions/{sub}/…) in out. */
static bool id_subscription(const char *id, char *out, size_t cap)
{
  if (strncasecmp(id, "/subscriptions/", 15))
    return false;
  size_t n = strcspn(id + 15, "/");
  if (n == 0 || n >= cap)
    return false;
  memcpy(out, id + 15, n);
  out[n] = '\0';
  return true;
}

int arm_policy_load(struct arm *arm, const char *policy_id, struct policy_spec *spec, struct auth_identity *actor)
{
  struct meta_resource r;
  char sub[128], err[512];
  if (!id_subscription(policy_id, sub, sizeof sub))
    return -EINVAL;
  int rc = meta_resource_get(arm->meta, policy_id, &r);
  if (rc < 0)
    return rc;
  if (strcasecmp(r.type, POLICY_TYPE)) {
    meta_resource_clear(&r);
    return -ENOENT;
  }
  json_t *props = loads_object(r.properties), *extra = loads_object(r.extra);
  if (spec) {
    rc = policy_spec_parse(props, sub, spec, err, sizeof err);
    if (rc == -EINVAL) /* stored after the same check: the zone files or a rule changed since */
      log_warn("arm", "policy %s no longer reads: %s", policy_id, err);
  }
  if (rc == 0 && actor) {
    json_t *a = json_object_get(extra, "vmrpActor");
    memset(actor, 0, sizeof *actor);
    snprintf(actor->oid, sizeof actor->oid, "%s", json_string_value(json_object_get(a, "oid")) ?: "");
    snprintf(actor->tid, sizeof actor->tid, "%s", json_string_value(json_object_get(a, "tid")) ?: "");
    snprintf(actor->appid, sizeof actor->appid, "%s", json_string_value(json_object_get(a, "appid")) ?: "");
  }
  json_decref(props);
  json_decref(extra);
  meta_resource_clear(&r);
  return rc;
}
