/*
 * recover.c — the deployments a previous process left active (engine.c,
 * invariant 4).
 *
 * A deployment cannot go on after a restart: its secure parameters were
 * never stored, and its plan lived in memory.  So each one ends Failed.
 * First its Running operations are settled from their targets, so that
 * the history says what happened: a nested deployment's from the child's
 * row (children are settled first: the newest deployments first), a
 * resource's from a GET through the host — waited for while the handler's
 * own long-running operation (which jobs/ resumes) has not ended,
 * Succeeded or Failed as it ended, Failed when the resource was never
 * created.
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

#define DEPLOYMENT_TYPE "Microsoft.Resources/deployments"
#define INTERRUPTED                                                                                             \
  "The deployment was interrupted by a restart of the service. Resources not yet started were not deployed; " \
  "please list deployment operations for details and deploy again."

static int collect(void *ctx, const struct meta_deployment *dep) { return strlist_add(ctx, dep->id); }

int deploy_recover_list(struct deploy *d)
{
  return meta_deployment_list(d->cfg.meta, NULL, collect, &d->recovering);
}

static int collect_running(void *ctx, const struct meta_deployment_op *op)
{
  return strcmp(op->state, "Running") ? 0 : strlist_add(ctx, op->id);
}

/* The final state of a Running operation, from its target. */
static void settle(struct run *run, const char *op_id)
{
  struct deploy *d = run->d;
  struct meta_deployment_op op = {0};
  if (meta_deployment_op_get(d->cfg.meta, run->id, op_id, &op) < 0)
    return;
  json_t *doc = json_loads(op.document, 0, NULL);
  json_t *tr = json_object_get(doc, "targetResource");
  struct tpl_resource target = {.id = json_string_value(json_object_get(tr, "id")),
                                .type = json_string_value(json_object_get(tr, "resourceType")),
                                .name = json_string_value(json_object_get(tr, "resourceName"))};
  const char *operation = json_string_value(json_object_get(doc, "provisioningOperation"));
  bool deleting = operation && !strcmp(operation, "Delete");
  char state[16] = "NotFound";
  json_t *error = NULL;
  if (target.id && target.type && !strcasecmp(target.type, DEPLOYMENT_TYPE)) {
    struct meta_deployment child = {0};
    if (meta_deployment_get(d->cfg.meta, target.id, &child) == 0)
      snprintf(state, sizeof state, "%s", child.state);
    meta_deployment_clear(&child);
  } else if (target.id) {
    const char *v = d->cfg.host.api_version(d->cfg.host.ctx, "GET", target.id);
    char *url = NULL;
    if (v && asprintf(&url, "%s?api-version=%s", target.id, v) >= 0) {
      if (deploy_wait(run, run->caller, url, NULL, state, &error) < 0)
        snprintf(state, sizeof state, "Interrupted");
      free(url);
    }
  }
  bool ok = deleting ? !strcmp(state, "NotFound") : !strcasecmp(state, "Succeeded");
  if (strcmp(state, "Interrupted")) {
    json_t *why = ok ? NULL
                     : json_pack("{s:s,s:s}", "code", "DeploymentInterrupted", "message",
                                 !strcmp(state, "NotFound") ? "The service restarted before the resource was created."
                                                            : "The resource operation did not succeed; the service "
                                                              "restarted while it ran.");
    if (error && why)
      json_object_set(why, "details", json_pack("[O]", error));
    deploy_op_write(run, op_id, deleting ? "Delete" : "Create", ok ? "Succeeded" : "Failed",
                    target.id ? &target : NULL, time_now_us(), ok ? "OK" : "Conflict", why, NULL);
    json_decref(why);
  }
  json_decref(error);
  json_decref(doc);
  meta_deployment_op_clear(&op);
}

static void recover_one(struct deploy *d, const char *id)
{
  struct meta_deployment dep = {0};
  if (meta_deployment_get(d->cfg.meta, id, &dep) < 0)
    return;
  struct run run = {.d = d, .id = dep.id, .caller = dep.caller, .correlation = ""};
  run.root = &run;
  struct strlist ops = {0};
  meta_deployment_op_list(d->cfg.meta, id, collect_running, &ops);
  for (size_t i = 0; i < ops.n && !deploy_stopping(d); i++)
    settle(&run, ops.v[i]);
  strlist_free(&ops);
  if (deploy_stopping(d)) {
    meta_deployment_clear(&dep);
    return;
  }
  json_t *doc = json_loads(dep.document, 0, NULL);
  json_t *props = json_object_get(doc, "properties");
  if (props)
    json_object_set_new(props, "error",
                        json_pack("{s:s,s:s,s:s,s:[{s:s,s:s}]}", "code", "DeploymentFailed", "target", dep.id,
                                  "message",
                                  "At least one resource deployment operation failed. Please list deployment "
                                  "operations for details. Please see https://aka.ms/arm-deployment-operations "
                                  "for usage details.",
                                  "details", "code", "DeploymentInterrupted", "message", INTERRUPTED));
  char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
  int rc = meta_deployment_update(d->cfg.meta, id, "Failed", text, time_now_us());
  log_warn("deploy", "deployment %s was active when the service stopped: ended Failed (%s)", id,
           rc < 0 ? strerror(-rc) : "recorded");
  free(text);
  json_decref(doc);
  meta_deployment_clear(&dep);
}

void deploy_recover(struct deploy *d)
{
  for (size_t i = d->recovering.n; i-- > 0 && !deploy_stopping(d);) /* the newest (nested ones) first */
    recover_one(d, d->recovering.v[i]);
}
