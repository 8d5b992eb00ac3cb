/*
 * deploy_whatif.c — POST {deployment}/whatIf: what a deployment would
 * change, without changing anything.
 *
 * The body is read and planned exactly as validate and PUT plan it
 * (arm_deployment_plan), so a template what-if accepts is one PUT accepts.
 * Each resource the plan deploys is then read through the same route a
 * client's GET takes, as the caller (dispatch.c: their roles apply, and a
 * resource of another region is asked there), and compared with the body
 * the deployment would PUT (deploy/whatif.c): Create when absent, NoChange
 * or Modify with its property changes when present, Deploy when the body
 * needs a reference() only the run can answer, Unsupported when the GET is
 * refused.  Resources of the resource group the template does not name are
 * Ignore (Incremental) or Delete (Complete).  Nested deployments are
 * expanded into their own resources, also into a resource group the
 * template itself creates.
 *
 * Answer: 202 + Location, and the operation result there is the
 * WhatIfOperationResult (the az CLI takes 200 or 202 and follows Location;
 * TEMPLATES.md §2.8).  Nothing is written but that operation's record.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"
#include "deploy/whatif.h"

#define MAX_NESTING 10 /* nested deployments expanded (ARM's templates nest a few levels) */

struct whatif {
  struct arm_call *call;
  json_t *changes;
  json_t *named;      /* lower-cased ids the template deploys: {id: true} */
  bool ids_only;      /* whatIfSettings.resultFormat ResourceIdOnly */
};

/* GET of id through the routes, as the caller: 0 with *status and *body. */
static int read_resource(struct whatif *wi, const char *id, const char *api_version, int *status, json_t **body)
{
  char *url = NULL;
  struct arm_dispatch_reply rep = {0};
  int rc = asprintf(&url, "%s?api-version=%s", id, api_version) < 0 ? -ENOMEM : 0;
  if (rc == 0)
    rc = arm_dispatch(wi->call->arm, &wi->call->who, "GET", url, NULL, wi->call->req->request_id, &rep);
  if (rc == 0) {
    *status = rep.status;
    *body = rep.body;
    rep.body = NULL;
  }
  arm_dispatch_reply_clear(&rep);
  free(url);
  return rc;
}

static void add(struct whatif *wi, const char *id, const char *type, json_t *before, json_t *after, json_t *delta,
                const char *reason)
{
  json_t *c = json_pack("{s:s,s:s}", "resourceId", id, "changeType", type);
  if (c && reason)
    json_object_set_new(c, "unsupportedReason", json_string(reason));
  if (c && !wi->ids_only) {
    if (before)
      json_object_set(c, "before", before);
    if (after)
      json_object_set(c, "after", after);
    if (delta)
      json_object_set(c, "delta", delta);
  }
  json_array_append_new(wi->changes, c);
}

/* The resource as a request shows it: its id, name, type and apiVersion
 * before the members of body. */
static json_t *shaped(const struct tpl_resource *r, const json_t *body)
{
  json_t *v = json_pack("{s:s,s:s,s:s,s:s}", "apiVersion", r->api_version, "id", r->id, "name", r->name, "type",
                        r->type);
  if (v && json_is_object(body))
    json_object_update_missing(v, (json_t *)body);
  return v;
}

static void compare(struct whatif *wi, const struct tpl_resource *r, json_t *body, bool body_known)
{
  int status = 0;
  json_t *now = NULL;
  int rc = read_resource(wi, r->id, r->api_version, &status, &now);
  if (rc < 0 || status >= 500 || (status >= 400 && status != 404)) {
    const char *msg = json_string_value(json_object_get(json_object_get(now, "error"), "message"));
    char reason[512];
    snprintf(reason, sizeof reason, "The resource could not be read: %s", msg ? msg : rc < 0 ? strerror(-rc) : "");
    add(wi, r->id, "Unsupported", NULL, NULL, NULL, reason);
  } else if (status == 404) {
    json_t *after = shaped(r, body);
    add(wi, r->id, "Create", NULL, after, NULL, NULL);
    json_decref(after);
  } else if (!body_known) {
    add(wi, r->id, "Deploy", now, NULL, NULL, NULL);
  } else {
    json_object_set_new(now, "apiVersion", json_string(r->api_version));
    json_t *delta = whatif_delta(now, body), *after = whatif_predict(now, body);
    if (json_array_size(delta) == 0)
      add(wi, r->id, "NoChange", now, after, NULL, NULL);
    else
      add(wi, r->id, "Modify", now, after, delta, NULL);
    json_decref(delta);
    json_decref(after);
  }
  json_decref(now);
}

static int plan_changes(struct whatif *wi, struct tpl_template *plan, const struct tpl_world *world, int depth);

/* A nested deployment: its own resources, planned in its target scope (a
 * resource group this template creates gets the location its resource
 * declares). */
static int nested(struct whatif *wi, struct tpl_template *plan, int i, const struct tpl_world *world, int depth)
{
  const struct tpl_resource *r = tpl_get(plan, i);
  struct deploy_world cw;
  struct tpl_error err = {0};
  int rc = depth < MAX_NESTING ? 0 : -ELOOP;
  json_t *denied = NULL;
  if (rc == 0 && arm_authz_nested(wi->call->arm, &wi->call->who, r->id, &denied) < 0) {
    add(wi, r->id, "Unsupported", NULL, NULL, NULL,
        denied ? json_string_value(json_object_get(denied, "message")) : "AuthorizationFailed");
    json_decref(denied);
    return 0;
  }
  if (rc == 0)
    rc = deploy_world_init(wi->call->arm->deploy, &cw, r->subscription, r->resource_group, r->name, NULL,
                           "Incremental");
  for (int j = 0; rc == -ENOENT && j < tpl_count(plan); j++) {
    const struct tpl_resource *g = tpl_get(plan, j);
    json_t *gb = NULL;
    if (!g->deploy || strcasecmp(g->type, "Microsoft.Resources/resourceGroups") || !r->resource_group ||
        strcasecmp(g->name, r->resource_group) || tpl_body(plan, j, world, &gb, &err) < 0)
      continue;
    rc = deploy_world_init(wi->call->arm->deploy, &cw, r->subscription, NULL, r->name, NULL, "Incremental");
    if (rc == 0) { /* the group does not exist yet: the world it will have */
      snprintf(cw.resource_group, sizeof cw.resource_group, "%s", g->name);
      snprintf(cw.rg_location, sizeof cw.rg_location, "%s",
               json_string_value(json_object_get(gb, "location")) ?: "");
      cw.w.scope = TPL_SCOPE_RESOURCE_GROUP;
      cw.w.resource_group = cw.resource_group;
      cw.w.rg_location = cw.rg_location;
      cw.w.deployment_location = NULL;
    }
    json_decref(gb);
  }
  if (rc < 0) {
    add(wi, r->id, "Unsupported", NULL, NULL, NULL,
        rc == -ELOOP ? "The nested deployments go deeper than what-if expands."
                     : "The target scope of this nested deployment could not be found.");
    return 0;
  }
  struct tpl_template *child = NULL;
  rc = tpl_nested(plan, i, &cw.w, &child, &err);
  if (rc == 0)
    rc = plan_changes(wi, child, &cw.w, depth + 1);
  else
    add(wi, r->id, "Unsupported", NULL, NULL, NULL, err.message);
  tpl_free(child);
  deploy_world_clear(&cw);
  return rc < 0 && rc != -EINVAL && rc != -EAGAIN ? rc : 0;
}

static int plan_changes(struct whatif *wi, struct tpl_template *plan, const struct tpl_world *world, int depth)
{
  int rc = 0;
  for (int i = 0; rc == 0 && i < tpl_count(plan); i++) {
    const struct tpl_resource *r = tpl_get(plan, i);
    if (!r->deploy)
      continue;
    char *key = strdup(r->id);
    for (char *k = key; k && *k; k++)
      *k = (char)tolower((unsigned char)*k);
    if (key)
      json_object_set_new(wi->named, key, json_true());
    free(key);
    if (r->kind == TPL_DEPLOYMENT) {
      rc = nested(wi, plan, i, world, depth);
      continue;
    }
    json_t *body = NULL;
    struct tpl_error err = {0};
    int brc = tpl_body(plan, i, world, &body, &err);
    if (brc == 0 || brc == -EAGAIN)
      compare(wi, r, body, brc == 0);
    else
      add(wi, r->id, "Unsupported", NULL, NULL, NULL, err.message);
    json_decref(body);
  }
  return rc;
}

/* The resource group's resources the template does not name: Ignore, or
 * Delete in Complete mode. */
static int others(struct whatif *wi, const char *scope, bool complete)
{
  char *url = NULL;
  struct arm_dispatch_reply rep = {0};
  int rc = asprintf(&url, "%s/resources?api-version=2021-04-01", scope) < 0 ? -ENOMEM : 0;
  if (rc == 0)
    rc = arm_dispatch(wi->call->arm, &wi->call->who, "GET", url, NULL, wi->call->req->request_id, &rep);
  json_t *v;
  size_t i;
  json_array_foreach(json_object_get(rep.body, "value"), i, v) {
    const char *id = json_string_value(json_object_get(v, "id"));
    char *key = id ? strdup(id) : NULL;
    for (char *k = key; k && *k; k++)
      *k = (char)tolower((unsigned char)*k);
    if (key && !json_object_get(wi->named, key))
      add(wi, id, complete ? "Delete" : "Ignore", complete ? v : NULL, NULL, NULL, NULL);
    free(key);
  }
  arm_dispatch_reply_clear(&rep);
  free(url);
  return rc;
}

void arm_deployment_whatif(struct arm_call *call)
{
  struct arm_deployment_scope s;
  struct arm_deployment_plan p = {0};
  struct whatif wi = {.call = call, .changes = json_array(), .named = json_object()};
  if (!arm_deployment_scope(call, &s) || arm_deployment_plan(call, &s, call->arm->deploy, &p) < 0)
    goto out;
  const char *format = json_string_value(
      json_object_get(json_object_get(json_object_get(p.body, "properties"), "whatIfSettings"), "resultFormat"));
  wi.ids_only = format && !strcasecmp(format, "ResourceIdOnly");
  int rc = wi.changes && wi.named ? plan_changes(&wi, p.plan, &p.world->w, 0) : -ENOMEM;
  if (rc == 0 && s.rg)
    rc = others(&wi, s.scope, !strcasecmp(p.mode, "Complete"));
  char op_id[40], *text = NULL;
  if (rc == 0) {
    json_t *result = json_pack("{s:s,s:{s:o}}", "status", "Succeeded", "properties", "changes",
                               deploy_masked(p.plan, wi.changes));
    text = result ? json_dumps(result, JSON_COMPACT) : NULL;
    json_decref(result);
    rc = text ? arm_op_done(call, "deploymentWhatIf", s.id, text, op_id) : -ENOMEM;
  }
  if (rc < 0) {
    arm_reply_internal(call, rc);
  } else {
    arm_lro_headers(call, "Microsoft.Resources", op_id, LRO_RESOURCES_LOCATION);
    arm_reply_empty(call, 202);
  }
  free(text);
out:
  json_decref(wi.changes);
  json_decref(wi.named);
  arm_deployment_plan_clear(&p);
}
