/*
 * finish.c — the end of a run: Complete mode's deletions, the outputs,
 * the final state, and a nested run's report to its parent.
 *
 * Complete mode (the outermost deployment, resource-group scope): after
 * every resource succeeded, each top-level resource of the group that the
 * template does not deploy is deleted through its own DELETE handler (its
 * children go with it, as the handler does), recorded as a Delete
 * operation and waited for.  Deletions that a handler refuses (a disk
 * still attached) are tried again after the others, since deleting one
 * resource may free another; what still refuses fails the deployment with
 * DeploymentFailedCleanUp.
 *
 * Final states: Canceled when cancel was asked (nothing more started);
 * Failed with ARM's DeploymentFailed, the failed operations' errors as its
 * details; else Succeeded with the outputs and outputResources.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/strlist.h"
#include "common/timefmt.h"
#include "deploy/internal.h"

struct leftovers {
  struct run *run;
  struct strlist ids, types;
};

static int collect(void *ctx, const struct meta_resource *r)
{
  struct leftovers *l = ctx;
  if (!strcasecmp(r->type, "Microsoft.Authorization/locks"))
    return 0; /* a lock on the group is no resource of it (nor ARM's Complete mode's to delete) */
  for (int i = 0; i < l->run->n; i++) {
    const struct tpl_resource *t = tpl_get(l->run->plan, i);
    if (t->deploy && !strcasecmp(t->id, r->id))
      return 0;
  }
  int rc = strlist_add(&l->ids, r->id);
  return rc ? rc : strlist_add(&l->types, r->type);
}

/* Deletes one resource: 0 done, 1 refused (*error set), -errno. */
static int delete_one(struct run *run, const char *id, const char *type, json_t **error)
{
  struct deploy *d = run->d;
  const char *v = d->cfg.host.api_version(d->cfg.host.ctx, "DELETE", id);
  const char *slash = strrchr(id, '/');
  struct tpl_resource target = {.id = id, .type = type, .name = slash ? slash + 1 : id};
  char op_id[17], *url = NULL;
  deploy_op_id(op_id);
  int64_t start = time_now_us();
  if (!v || asprintf(&url, "%s?api-version=%s", id, v) < 0)
    return 0; /* a type no route deletes (none today): left as it is */
  int rc = deploy_op_write(run, op_id, "Delete", "Running", &target, start, NULL, NULL, NULL);
  struct deploy_reply rep = {0};
  if (rc == 0)
    rc = d->cfg.host.request(d->cfg.host.ctx, run->caller, "DELETE", url, NULL, run->correlation, &rep);
  char state[16] = "Succeeded";
  json_t *rp_error = NULL;
  if (rc == 0 && rep.status >= 400) {
    json_t *e = json_object_get(rep.body, "error");
    *error = json_is_object(e) ? json_incref(e)
                               : json_pack("{s:s,s:s}", "code", deploy_status_name(rep.status), "message", "");
    deploy_op_write(run, op_id, "Delete", "Failed", &target, start, deploy_status_name(rep.status), *error,
                    rep.request_id);
    rc = 1;
  } else if (rc == 0 && rep.async_operation) {
    rc = deploy_wait(run, run->caller, url, rep.async_operation, state, &rp_error);
  }
  if (rc == 0) {
    bool ok = strcasecmp(state, "Failed") != 0;
    if (!ok)
      *error = rp_error ? json_incref(rp_error) : NULL;
    deploy_op_write(run, op_id, "Delete", ok ? "Succeeded" : "Failed", &target, start, ok ? "OK" : "Conflict",
                    ok ? NULL : *error, rep.request_id);
    rc = ok ? 0 : 1;
  }
  json_decref(rp_error);
  deploy_reply_clear(&rep);
  free(url);
  return rc;
}

/* Complete mode: 0, 1 with *error (a refusal), -errno. */
static int complete_mode(struct run *run, json_t **error)
{
  struct leftovers l = {run, {0}, {0}};
  int rc = meta_resource_list(run->d->cfg.meta, run->scope, NULL, NULL, 0, collect, &l);
  bool progress = true;
  while (rc >= 0 && progress && l.ids.n) {
    progress = false;
    json_decref(*error);
    *error = NULL;
    for (size_t i = 0; rc >= 0 && i < l.ids.n; i++) {
      if (!l.ids.v[i][0])
        continue; /* deleted in an earlier pass */
      json_t *e = NULL;
      int one = delete_one(run, l.ids.v[i], l.types.v[i], &e);
      if (one < 0) {
        rc = one;
      } else if (one == 0) {
        l.ids.v[i][0] = '\0';
        progress = true;
        json_decref(e);
      } else {
        json_decref(*error);
        *error = e;
      }
    }
  }
  strlist_free(&l.ids);
  strlist_free(&l.types);
  return rc < 0 ? rc : *error ? 1 : 0;
}

static json_t *deployment_error(struct run *run, const char *code, const char *message, json_t *details)
{
  json_t *e = json_pack("{s:s,s:s,s:s}", "code", code, "target", run->id, "message", message);
  if (details && json_array_size(details))
    json_object_set_new(e, "details", deploy_mask_json(run, details));
  return e;
}

#define FAILED_MESSAGE                                                                                          \
  "At least one resource deployment operation failed. Please list deployment operations for details. Please " \
  "see https://aka.ms/arm-deployment-operations for usage details."

enum item_outcome deploy_run_finish(struct run *run, json_t **parent_error)
{
  struct deploy *d = run->d;
  pthread_mutex_lock(&d->lock);
  bool failed = run->failed, canceled = run->canceled;
  json_t *details = json_deep_copy(run->details);
  pthread_mutex_unlock(&d->lock);
  json_t *outputs = NULL, *error = NULL, *cleanup = NULL;
  if (!failed && !canceled && run->complete && !run->parent) {
    int rc = complete_mode(run, &cleanup);
    if (rc != 0) {
      json_t *det = cleanup ? json_pack("[O]", cleanup) : json_array();
      error = deployment_error(run, "DeploymentFailedCleanUp",
                               "The deployment failed to delete resources of the resource group that are not in "
                               "the template (Complete mode). Please list deployment operations for details.",
                               det);
      json_decref(det);
      failed = true;
    }
  }
  if (!failed && !canceled) {
    struct tpl_error terr = {0};
    pthread_mutex_lock(&run->root->tlock);
    int rc = tpl_outputs(run->plan, &run->world->w, &outputs, &terr);
    pthread_mutex_unlock(&run->root->tlock);
    if (rc < 0) {
      json_t *det = json_pack("[{s:s,s:s}]", "code", terr.code[0] ? terr.code : "InvalidTemplate", "message",
                              terr.message);
      error = deployment_error(run, "DeploymentOutputEvaluationFailed",
                               "Unable to evaluate the template outputs. Please see error details.", det);
      json_decref(det);
      failed = true;
    }
  } else if (failed && !error) {
    error = deployment_error(run, "DeploymentFailed", FAILED_MESSAGE, details);
  }
  const char *state = canceled ? "Canceled" : failed ? "Failed" : "Succeeded";
  /* the document: what was recorded at the start, and the end */
  struct meta_deployment dep = {0};
  json_t *doc = NULL;
  if (meta_deployment_get(d->cfg.meta, run->id, &dep) == 0)
    doc = json_loads(dep.document, 0, NULL);
  json_t *props = json_object_get(doc, "properties");
  if (props && outputs)
    json_object_set(props, "outputs", outputs);
  if (props && error)
    json_object_set(props, "error", error);
  if (props && !failed && !canceled) {
    json_t *res = json_array();
    for (int i = 0; i < run->n; i++) {
      const struct tpl_resource *r = tpl_get(run->plan, i);
      if (r->deploy && r->kind == TPL_RESOURCE)
        json_array_append_new(res, json_pack("{s:s}", "id", r->id));
    }
    json_object_set_new(props, "outputResources", res);
  }
  char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
  int rc = meta_deployment_update(d->cfg.meta, run->id, state, text, time_now_us());
  if (rc < 0 && rc != -ENOENT)
    log_error("deploy", "deployment %s: its end (%s) could not be recorded: %s", run->id, state, strerror(-rc));
  else
    log_info("deploy", "deployment %s %s", run->id, state);
  free(text);
  json_decref(doc);
  meta_deployment_clear(&dep);
  if (run->parent) { /* the parent's operation for this nested deployment */
    struct tpl_resource const *target = tpl_get(run->parent->plan, run->parent_item);
    deploy_op_write(run->parent, run->nested_op, "Create", failed || canceled ? "Failed" : "Succeeded", target,
                    run->nested_start, failed || canceled ? "Conflict" : "OK", error, NULL);
    *parent_error = error ? json_incref(error) : NULL;
  }
  json_decref(outputs);
  json_decref(error);
  json_decref(cleanup);
  json_decref(details);
  return failed || canceled ? OUTCOME_FAILED : OUTCOME_DONE;
}
