/*
 * resource.c — one item of a plan: a resource created through the host, or
 * a nested deployment started as a child run; and reference().
 *
 * A resource: its operation is written Running first (engine.c, invariant
 * 2), its body evaluated (tpl_body, reference() answered by GETs), then
 * PUT {id}?api-version={its apiVersion} as the deployment's caller.  An
 * error answer fails it with the handler's own error (statusCode the
 * status's name).  A success is waited for until the resource is in a
 * terminal state — through the Azure-AsyncOperation URL the handler gave,
 * or the resource's provisioningState — and an RP failure is ARM's
 * Conflict / ResourceDeploymentFailure with the RP's error inside.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timefmt.h"
#include "deploy/internal.h"

#define RP_TYPE "Microsoft.Compute/restorePointCollections/restorePoints"
#define DEPLOYMENT_TYPE "Microsoft.Resources/deployments"

void deploy_reply_clear(struct deploy_reply *r)
{
  json_decref(r->body);
  free(r->async_operation);
  memset(r, 0, sizeof *r);
}

static bool terminal(const char *state)
{
  return !strcasecmp(state, "Succeeded") || !strcasecmp(state, "Failed") || !strcasecmp(state, "Canceled");
}

/* An error object of an answer: its "error" member, or a generic one. */
static json_t *error_of(const struct deploy_reply *rep)
{
  json_t *e = json_object_get(rep->body, "error");
  if (json_is_object(e))
    return json_incref(e);
  return json_pack("{s:s,s:s}", "code", deploy_status_name(rep->status), "message",
                   "The resource provider answered with an error and no details.");
}

/* Polls in a row that a resource may answer 5xx or 429 (a peer region
 * restarting) before its wait ends Failed: a minute at the usual pace. */
#define WAIT_MAX_ERRORS 240

int deploy_wait(struct run *run, const char *caller, const char *url, const char *status_url, char state[16],
                json_t **error)
{
  struct deploy *d = run->d;
  *error = NULL;
  /* Most operations end within milliseconds (an Empty disk, a collection):
   * the first poll comes 2 ms after the PUT, then twice as late each time up
   * to poll_ms.  A first wait of 50 ms made a deployment of 100 resources
   * 66 % slower than a sequential REST client polling every 5 ms (bench/run
   * arm); now it is faster, its independent resources overlapping. */
  int delay = 2, errors = 0;
  for (;;) {
    if (deploy_stopping(d))
      return -EINTR;
    struct deploy_reply rep;
    const char *poll = status_url ? status_url : url;
    int rc = d->cfg.host.request(d->cfg.host.ctx, caller, "GET", poll, NULL, run->correlation, &rep);
    if (rc < 0)
      return rc;
    const char *s = NULL;
    if (rep.status == 404 && !status_url) {
      s = "NotFound";
    } else if (rep.status == 200) {
      json_t *v = status_url ? json_object_get(rep.body, "status")
                             : json_object_get(json_object_get(rep.body, "properties"), "provisioningState");
      s = json_string_value(v);
      if (!s && !status_url)
        s = "Succeeded"; /* a resource without provisioningState is there as soon as its PUT answered */
    }
    if (s && (terminal(s) || !strcmp(s, "NotFound"))) {
      snprintf(state, 16, "%s", s);
      if (!strcasecmp(s, "Failed"))
        *error = json_incref(json_object_get(rep.body, "error"));
      deploy_reply_clear(&rep);
      return 0;
    }
    if (!s && rep.status >= 400 && status_url) { /* the status URL is gone: ask the resource */
      status_url = NULL;
    } else if (!s && rep.status >= 400) { /* the resource cannot be read (a role withdrawn, a region down) */
      bool lasting = rep.status < 500 && rep.status != 429;
      if (lasting || ++errors > WAIT_MAX_ERRORS) {
        snprintf(state, 16, "Failed");
        *error = error_of(&rep);
        deploy_reply_clear(&rep);
        return 0;
      }
    } else {
      errors = 0;
    }
    deploy_reply_clear(&rep);
    usleep((useconds_t)delay * 1000);
    if (delay < d->cfg.poll_ms)
      delay = delay * 2 > d->cfg.poll_ms ? d->cfg.poll_ms : delay * 2;
  }
}

/* The URL of a resource id at an api-version. */
static char *url_of(const char *id, const char *api_version)
{
  char *u = NULL;
  if (asprintf(&u, "%s?api-version=%s", id, api_version) < 0)
    return NULL;
  return u;
}

static json_t *template_error(const struct tpl_error *err)
{
  return json_pack("{s:s,s:s}", "code", err->code[0] ? err->code : "InvalidTemplate", "message", err->message);
}

/* The RP failure of a long-running operation, as ARM reports it. */
static json_t *rp_failure(const char *state, json_t *rp_error)
{
  json_t *e = json_pack("{s:s,s:s}", "code", "ResourceDeploymentFailure", "message", "");
  char msg[160];
  snprintf(msg, sizeof msg, "The resource operation completed with terminal provisioning state '%s'.", state);
  json_object_set_new(e, "message", json_string(msg));
  if (rp_error)
    json_object_set_new(e, "details", json_pack("[O]", rp_error));
  return e;
}

static enum item_outcome create(struct run *run, int item, const struct tpl_resource *r, const char *op_id,
                                int64_t start, json_t **error)
{
  struct deploy *d = run->d;
  json_t *body = NULL;
  struct tpl_error terr = {0};
  pthread_mutex_lock(&run->root->tlock);
  int rc = tpl_body(run->plan, item, &run->world->w, &body, &terr);
  pthread_mutex_unlock(&run->root->tlock);
  if (rc < 0) {
    *error = template_error(&terr);
    deploy_op_write(run, op_id, "Create", "Failed", r, start, "BadRequest", *error, NULL);
    return OUTCOME_FAILED;
  }
  bool capture = !strcasecmp(r->type, RP_TYPE);
  if (capture)
    pthread_mutex_lock(&run->root->capture);
  char *url = url_of(r->id, r->api_version);
  struct deploy_reply rep = {0};
  bool stopping = deploy_stopping(d); /* nothing new is asked once the engine stops (a capture may have waited) */
  rc = stopping ? 0 : url ? d->cfg.host.request(d->cfg.host.ctx, run->caller, "PUT", url, body, run->correlation, &rep)
                          : -ENOMEM;
  json_decref(body);
  enum item_outcome outcome = OUTCOME_FAILED;
  char state[16] = "";
  json_t *rp_error = NULL;
  if (stopping) {
    outcome = OUTCOME_INTERRUPTED; /* the next start settles its operation (4) */
  } else if (rc < 0) {
    *error = json_pack("{s:s,s:s}", "code", "InternalServerError", "message", "The request could not be made.");
    deploy_op_write(run, op_id, "Create", "Failed", r, start, "InternalServerError", *error, NULL);
  } else if (rep.status >= 400) {
    *error = error_of(&rep);
    deploy_op_write(run, op_id, "Create", "Failed", r, start, deploy_status_name(rep.status), *error, rep.request_id);
  } else if ((rc = deploy_wait(run, run->caller, url, rep.async_operation, state, &rp_error)) < 0) {
    outcome = OUTCOME_INTERRUPTED; /* the engine stops: the next start settles it (4) */
  } else if (!strcasecmp(state, "Succeeded")) {
    deploy_op_write(run, op_id, "Create", "Succeeded", r, start, rep.status == 201 ? "Created" : "OK", NULL,
                    rep.request_id);
    outcome = OUTCOME_DONE;
  } else {
    *error = rp_failure(state, rp_error);
    deploy_op_write(run, op_id, "Create", "Failed", r, start, "Conflict", *error, rep.request_id);
  }
  if (capture)
    pthread_mutex_unlock(&run->root->capture);
  json_decref(rp_error);
  deploy_reply_clear(&rep);
  free(url);
  return outcome;
}

/* A nested deployment: a child run at its target scope. */
static enum item_outcome nest(struct run *run, int item, const struct tpl_resource *r, const char *op_id,
                              int64_t start, json_t **error)
{
  struct deploy *d = run->d;
  struct tpl_error terr = {0};
  json_t *denied = NULL;
  if (d->cfg.host.authorize_nested(d->cfg.host.ctx, run->caller, r->id, &denied) < 0) {
    *error = denied ? denied : json_pack("{s:s,s:s}", "code", "AuthorizationFailed", "message", r->id);
    deploy_op_write(run, op_id, "Create", "Failed", r, start, "Forbidden", *error, NULL);
    return OUTCOME_FAILED;
  }
  struct deploy_world *w = calloc(1, sizeof *w);
  int rc = w ? deploy_world_init(d, w, r->subscription, r->resource_group, r->name,
                                 r->resource_group ? NULL : run->world->location, "Incremental")
             : -ENOMEM;
  if (rc == -ENOENT) {
    snprintf(terr.code, sizeof terr.code, "ResourceGroupNotFound");
    snprintf(terr.message, sizeof terr.message, "Resource group '%s' could not be found.", r->resource_group);
  }
  struct tpl_template *child_plan = NULL;
  json_t *body = NULL;
  if (rc == 0) {
    pthread_mutex_lock(&run->root->tlock);
    rc = tpl_nested(run->plan, item, &w->w, &child_plan, &terr);
    if (rc == 0)
      rc = tpl_body(run->plan, item, &run->world->w, &body, &terr);
    pthread_mutex_unlock(&run->root->tlock);
  }
  char scope[256];
  if (r->resource_group)
    snprintf(scope, sizeof scope, "/subscriptions/%s/resourceGroups/%s", r->subscription, w ? w->resource_group : "");
  else
    snprintf(scope, sizeof scope, "/subscriptions/%s", r->subscription);
  struct deploy_request req = {.id = r->id, .scope = scope, .name = r->name, .caller = run->caller,
                               .correlation_id = run->correlation, .mode = "Incremental",
                               .template = json_object_get(json_object_get(body, "properties"), "template"),
                               .keep = NULL, .pos = NULL, .plan = child_plan, .world = w};
  struct run *child = NULL;
  if (rc == 0) {
    child = deploy_run_new(d, &req); /* takes child_plan and w */
    w = NULL;
    child_plan = NULL;
    rc = child ? 0 : -ENOMEM;
  }
  if (rc == 0) {
    child->parent = run;
    child->parent_item = item;
    child->root = run->root;
    rc = deploy_run_record(child, r->resource_group ? NULL : run->world->location, run->id, NULL);
  }
  json_decref(body);
  if (w)
    deploy_world_clear(w);
  free(w);
  tpl_free(child_plan);
  if (rc < 0) {
    deploy_run_free(child);
    *error = rc == -EBUSY ? json_pack("{s:s,s:s}", "code", "DeploymentActive", "message",
                                      "A deployment of this name is still active.")
                          : template_error(&terr);
    deploy_op_write(run, op_id, "Create", "Failed", r, start, rc == -EBUSY ? "Conflict" : "BadRequest", *error,
                    NULL);
    return OUTCOME_FAILED;
  }
  child->nested_op = strdup(op_id);
  child->nested_start = start;
  deploy_run_start(child);
  return OUTCOME_PENDING;
}

enum item_outcome deploy_resource_run(struct run *run, int item, json_t **error)
{
  const struct tpl_resource *r = tpl_get(run->plan, item);
  *error = NULL;
  char op_id[17];
  deploy_op_id(op_id);
  int64_t start = time_now_us();
  if (deploy_op_write(run, op_id, "Create", "Running", r, start, NULL, NULL, NULL) < 0) { /* (2) */
    *error = json_pack("{s:s,s:s}", "code", "InternalServerError", "message",
                       "The deployment's operation could not be recorded; nothing was requested.");
    return OUTCOME_FAILED;
  }
  return r->kind == TPL_DEPLOYMENT ? nest(run, item, r, op_id, start, error) : create(run, item, r, op_id, start, error);
}

int deploy_reference(void *ctx, const char *id, const char *api_version, bool full, json_t **out,
                     struct tpl_error *err)
{
  struct run *run = ctx;
  struct deploy *d = run->d;
  const char *v = api_version;
  for (int i = 0; !v && i < run->n; i++) { /* a resource of the template: its own apiVersion */
    const struct tpl_resource *r = tpl_get(run->plan, i);
    if (!strcasecmp(r->id, id))
      v = r->api_version;
  }
  if (!v)
    v = d->cfg.host.api_version(d->cfg.host.ctx, "GET", id);
  char *url = v ? url_of(id, v) : NULL;
  struct deploy_reply rep = {0};
  int rc = url ? d->cfg.host.request(d->cfg.host.ctx, run->caller, "GET", url, NULL, run->correlation, &rep)
               : v ? -ENOMEM : -ENOENT;
  free(url);
  if (rc == 0 && rep.status != 200) {
    json_t *e = json_object_get(rep.body, "error");
    const char *m = json_string_value(json_object_get(e, "message"));
    snprintf(err->code, sizeof err->code, "%s", "InvalidTemplate");
    snprintf(err->message, sizeof err->message,
             "Unable to evaluate template language function 'reference': the resource '%s' answered %d%s%s", id,
             rep.status, m ? ": " : ".", m ? m : "");
    rc = rep.status == 404 ? -ENOENT : -EINVAL;
  } else if (rc == 0) {
    json_t *props = json_object_get(rep.body, "properties");
    if (full) {
      *out = json_deep_copy(rep.body);
      json_object_set_new(*out, "apiVersion", json_string(v));
    } else {
      *out = props ? json_deep_copy(props) : json_object();
    }
  } else {
    snprintf(err->code, sizeof err->code, "%s", "InvalidTemplate");
    snprintf(err->message, sizeof err->message,
             "Unable to evaluate template language function 'reference': '%s' is not a resource this service "
             "serves.", id);
  }
  deploy_reply_clear(&rep);
  return rc;
}
