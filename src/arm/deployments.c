/*
 * deployments.c — Microsoft.Resources/deployments at resource-group and
 * subscription scope: PUT (plan first, then run: 201 new / 200 existing,
 * Accepted, Azure-AsyncOperation {X}/operationStatuses/{id}), the status
 * URL (always 200: Running, Succeeded, Failed with the error, Canceled),
 * GET, HEAD, list, DELETE (the history entry and its operations only, 202
 * + Location then 204; refused while it runs), cancel, validate and
 * exportTemplate; and calculateTemplateHash (the templateHash ARM gives a
 * template).  The engine (deploy/) runs what PUT starts.
 *
 * Status codes are those the clients accept (shared/reference/TEMPLATES.md
 * §2.1): the az CLI 2.45 takes only 200/201 for the PUT, 202/204 for
 * DELETE and 204 for cancel.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"
#include "common/timefmt.h"

static void reply_not_found(struct arm_call *call, const char *name)
{
  arm_reply_error(call, 404, "DeploymentNotFound", "Deployment '%s' could not be found.", name);
}

/* The deployment of the call's path: 0; replied 404 (or 500) and -errno. */
static int load(struct arm_call *call, struct arm_deployment_scope *s, struct meta_deployment *dep)
{
  if (!arm_deployment_scope(call, s))
    return -EINVAL;
  int rc = meta_deployment_get(call->arm->meta, s->id, dep);
  if (rc == -ENOENT)
    reply_not_found(call, s->name);
  else if (rc < 0)
    arm_reply_internal(call, rc);
  return rc;
}

static void reply_active(struct arm_call *call, const struct arm_deployment_scope *s)
{
  struct meta_deployment dep = {0};
  char since[TIME_ISO_LEN] = "";
  if (meta_deployment_get(call->arm->meta, s->id, &dep) == 0)
    time_iso8601(dep.start_us, since);
  arm_reply_error(call, 409, "DeploymentActive",
                  "Unable to edit or replace deployment '%s': previous deployment from '%s' is still active. "
                  "Please see https://aka.ms/arm-deploy-resources for usage details.",
                  s->name, since);
  meta_deployment_clear(&dep);
}

void arm_deployment_put(struct arm_call *call)
{
  struct arm_deployment_scope s;
  struct arm_deployment_plan p = {0};
  struct meta_deployment old = {0};
  if (!arm_deployment_scope(call, &s) || arm_deployment_plan(call, &s, call->arm->deploy, &p) < 0)
    goto out;
  bool existed = meta_deployment_get(call->arm->meta, s.id, &old) == 0;
  if (existed && p.location && old.location && strcasecmp(old.location, p.location)) {
    arm_reply_error(call, 400, "InvalidDeploymentLocation",
                    "Invalid deployment location '%s'. The deployment '%s' already exists in location '%s'.",
                    p.location, s.name, old.location);
    goto out;
  }
  char caller[256], *corr_text = NULL;
  snprintf(caller, sizeof caller, "{\"oid\":\"%s\",\"appid\":\"%s\",\"tid\":\"%s\"}", call->who.oid, call->who.appid,
           call->who.tid);
  const char *corr = http_header(call->req, "x-ms-correlation-request-id");
  if (!corr || strlen(corr) >= 128 || !arm_utf8_valid(corr))
    corr = call->req->request_id;
  corr_text = strdup(corr);
  struct deploy_request req = {.id = s.id, .scope = s.scope, .name = s.name, .location = p.location,
                               .caller = caller, .correlation_id = corr_text ? corr_text : "", .mode = p.mode,
                               .tags = p.tags, .template = p.template, .keep = p.body,
                               .pos = p.template_pos ? p.template_pos : p.pos, .plan = p.plan, .world = p.world,
                               .bytes = call->req->body_len};
  if (p.template_pos) /* the one the engine does not take */
    tpl_posmap_free(p.pos);
  else
    tpl_posmap_free(p.template_pos);
  p.pos = p.template_pos = NULL;
  p.plan = NULL;
  p.world = NULL;
  int rc = deploy_submit(call->arm->deploy, &req);
  free(corr_text);
  if (rc == -EBUSY) {
    reply_active(call, &s);
    goto out;
  }
  if (rc == -EAGAIN) {
    http_response_header(call->resp, "Retry-After", "10");
    arm_reply_error(call, 429, "TooManyRequests",
                    "The deployments running in this region hold the most template content allowed together "
                    "(%u MB of requests); deployment '%s' was not started. Retry when some have ended.",
                    DEPLOY_MAX_HELD >> 20, s.name);
    goto out;
  }
  struct meta_deployment dep = {0};
  if (rc == 0)
    rc = meta_deployment_get(call->arm->meta, s.id, &dep);
  if (rc < 0) {
    arm_reply_internal(call, rc);
    goto out;
  }
  json_t *v = deploy_view(&dep);
  json_object_set_new(json_object_get(v, "properties"), "provisioningState", json_string("Accepted"));
  http_response_header(call->resp, "Azure-AsyncOperation", "%s%s/operationStatuses/%s?api-version=%s",
                       call->arm->cfg.public_url, s.id, dep.op_id, call->api_version);
  http_response_header(call->resp, "Retry-After", "1");
  arm_reply_json(call, existed ? 200 : 201, v);
  meta_deployment_clear(&dep);
out:
  meta_deployment_clear(&old);
  arm_deployment_plan_clear(&p);
}

void arm_deployment_validate(struct arm_call *call)
{
  struct arm_deployment_scope s;
  struct arm_deployment_plan p = {0};
  if (arm_deployment_scope(call, &s) && arm_deployment_plan(call, &s, call->arm->deploy, &p) == 0)
    arm_reply_json(call, 200, deploy_validate_view(s.id, s.name, p.location, p.mode, p.plan, p.tags));
  arm_deployment_plan_clear(&p);
}

void arm_deployment_get(struct arm_call *call)
{
  struct arm_deployment_scope s;
  struct meta_deployment dep = {0};
  if (load(call, &s, &dep) == 0)
    arm_reply_json(call, 200, deploy_view(&dep));
  meta_deployment_clear(&dep);
}

void arm_deployment_head(struct arm_call *call)
{
  struct arm_deployment_scope s;
  struct meta_deployment dep = {0};
  if (!arm_deployment_scope(call, &s))
    return;
  int rc = meta_deployment_get(call->arm->meta, s.id, &dep);
  arm_reply_empty(call, rc == 0 ? 204 : rc == -ENOENT ? 404 : 500);
  meta_deployment_clear(&dep);
}

void arm_deployment_status(struct arm_call *call)
{
  struct arm_deployment_scope s;
  struct meta_deployment dep = {0};
  if (load(call, &s, &dep) < 0)
    goto out;
  if (!s.extra || strcasecmp(s.extra, dep.op_id)) {
    arm_reply_error(call, 404, "NotFound", "The operation '%s' was not found.", s.extra ? s.extra : "");
    goto out;
  }
  bool running = !strcmp(dep.state, "Accepted") || !strcmp(dep.state, "Running");
  json_t *v = json_pack("{s:s}", "status", running ? "Running" : dep.state);
  if (!strcmp(dep.state, "Failed")) {
    json_t *doc = json_loads(dep.document, 0, NULL);
    json_t *e = json_object_get(json_object_get(doc, "properties"), "error");
    if (e)
      json_object_set(v, "error", e);
    json_decref(doc);
  }
  if (running)
    http_response_header(call->resp, "Retry-After", "1");
  arm_reply_json(call, 200, v);
out:
  meta_deployment_clear(&dep);
}

struct list_state {
  char state[32];
  int top;
  json_t *value;
};

static int list_one(void *ctx, const struct meta_deployment *dep)
{
  struct list_state *st = ctx;
  if (st->state[0] && strcasecmp(st->state, dep->state))
    return 0;
  json_array_append_new(st->value, deploy_view(dep));
  return 0;
}

void arm_deployment_list(struct arm_call *call)
{
  struct arm_deployment_scope s = {0};
  bool rg = call->nparams >= 2;
  s.sub = call->params[0];
  s.rg = rg ? call->params[1] : NULL;
  if (rg)
    snprintf(s.scope, sizeof s.scope, "/subscriptions/%s/resourceGroups/%s", s.sub, s.rg);
  else
    snprintf(s.scope, sizeof s.scope, "/subscriptions/%s", s.sub);
  if (rg && !arm_rg_ready(call))
    return;
  struct list_state st = {.value = json_array()};
  const char *filter = http_query(call->req, "$filter"), *top = http_query(call->req, "$top");
  int used = 0;
  if (filter && *filter &&
      (sscanf(filter, " provisioningState eq '%31[A-Za-z]'%n", st.state, &used) != 1 || filter[used] != '\0')) {
    json_decref(st.value);
    arm_reply_error(call, 400, "InvalidFilterInQueryString",
                    "The filter '%s' is not supported: only provisioningState eq '{state}' is.", filter);
    return;
  }
  int rc = meta_deployment_list(call->arm->meta, s.scope, list_one, &st);
  if (rc < 0) {
    json_decref(st.value);
    arm_reply_internal(call, rc);
    return;
  }
  /* newest first, as ARM lists them; $top keeps the newest */
  json_t *out = json_array();
  long n = top ? strtol(top, NULL, 10) : 0;
  for (size_t i = json_array_size(st.value); i-- > 0 && (n <= 0 || (long)json_array_size(out) < n);)
    json_array_append(out, json_array_get(st.value, i));
  json_decref(st.value);
  arm_reply_json(call, 200, json_pack("{s:o}", "value", out));
}

void arm_deployment_delete(struct arm_call *call)
{
  struct arm_deployment_scope s;
  if (!arm_deployment_scope(call, &s))
    return;
  struct meta_deployment dep = {0};
  int rc = meta_deployment_get(call->arm->meta, s.id, &dep);
  meta_deployment_clear(&dep);
  if (rc == -ENOENT) {
    arm_reply_empty(call, 204);
    return;
  }
  if (rc == 0)
    rc = meta_deployment_delete(call->arm->meta, s.id);
  if (rc == -EBUSY) {
    arm_reply_error(call, 409, "DeploymentActive",
                    "The deployment '%s' is still running and cannot be deleted; cancel it or wait until it ends.",
                    s.name);
    return;
  }
  char op_id[40];
  if (rc == 0)
    rc = arm_op_done(call, "deploymentDelete", s.id, NULL, op_id);
  if (rc < 0) {
    arm_reply_internal(call, rc);
    return;
  }
  arm_lro_headers(call, "Microsoft.Resources", op_id, LRO_RESOURCES_LOCATION);
  arm_reply_empty(call, 202);
}

void arm_deployment_cancel(struct arm_call *call)
{
  struct arm_deployment_scope s;
  struct meta_deployment dep = {0};
  if (load(call, &s, &dep) < 0)
    goto out;
  int rc = deploy_cancel(call->arm->deploy, s.id);
  if (rc == -EALREADY)
    arm_reply_error(call, 409, "DeploymentCannotBeCancelled",
                    "The deployment '%s' cannot be cancelled because it is already in a terminal state.", s.name);
  else if (rc < 0)
    arm_reply_internal(call, rc);
  else
    arm_reply_empty(call, 204);
out:
  meta_deployment_clear(&dep);
}

void arm_deployment_export(struct arm_call *call)
{
  struct arm_deployment_scope s;
  struct meta_deployment dep = {0};
  if (load(call, &s, &dep) == 0) {
    json_t *t = dep.template ? json_loads(dep.template, 0, NULL) : NULL;
    arm_reply_json(call, 200, json_pack("{s:o}", "template", t ? t : json_object()));
  }
  meta_deployment_clear(&dep);
}

static int op_one(void *ctx, const struct meta_deployment_op *op)
{
  void **st = ctx;
  json_array_append_new(st[1], deploy_op_view(st[0], op));
  return 0;
}

void arm_deployment_operations(struct arm_call *call)
{
  struct arm_deployment_scope s;
  struct meta_deployment dep = {0};
  if (load(call, &s, &dep) < 0)
    goto out;
  if (s.extra) { /* one operation */
    struct meta_deployment_op op = {0};
    int rc = meta_deployment_op_get(call->arm->meta, dep.id, s.extra, &op);
    if (rc == 0)
      arm_reply_json(call, 200, deploy_op_view(&dep, &op));
    else if (rc == -ENOENT)
      arm_reply_error(call, 404, "DeploymentOperationNotFound", "Deployment operation '%s' could not be found.",
                      s.extra);
    else
      arm_reply_internal(call, rc);
    meta_deployment_op_clear(&op);
    goto out;
  }
  void *st[2] = {&dep, json_array()};
  int rc = meta_deployment_op_list(call->arm->meta, dep.id, op_one, st);
  if (rc < 0) {
    json_decref(st[1]);
    arm_reply_internal(call, rc);
  } else {
    arm_reply_json(call, 200, json_pack("{s:o}", "value", st[1]));
  }
out:
  meta_deployment_clear(&dep);
}

void arm_deployment_template_hash(struct arm_call *call)
{
  json_t *t = NULL;
  struct tpl_posmap *pos = NULL;
  struct tpl_error err = {0};
  const char *text = call->req->body ? call->req->body : "";
  if (tpl_read(text, call->req->body_len, &t, &pos, &err) < 0) {
    arm_reply_template_error(call, 400, &err);
    goto out;
  }
  char hash[21], *min = json_is_object(t) ? json_dumps(t, JSON_COMPACT) : NULL;
  if (!min || tpl_template_hash(t, hash) < 0) {
    if (min)
      arm_reply_internal(call, -ENOMEM);
    else
      arm_reply_error(call, 400, "InvalidRequestContent",
                      "The request content was invalid and could not be deserialized: 'the template must be a "
                      "JSON object.'");
    free(min);
    goto out;
  }
  for (char *c = min; *c; c++) /* the minified template as the hash reads it (hash.c: upper-cased) */
    *c = (char)toupper((unsigned char)*c);
  arm_reply_json(call, 200, json_pack("{s:s,s:s}", "minifiedTemplate", min, "templateHash", hash));
  free(min);
out:
  json_decref(t);
  tpl_posmap_free(pos);
}
