/*
 * nested.c — nested deployments: a Microsoft.Resources/deployments resource
 * whose properties.template is a template of its own.
 *
 * Its expressions see either the parent's parameters and variables (scope
 * "outer", ARM's default: the child template is planned with the parent as
 * its outer template, so it must not declare its own) or its own (scope
 * "inner": the parent evaluates properties.parameters and the child loads
 * them as a deployment's supplied parameters).  Its target scope is the one
 * resources.c computed from its resourceGroup and subscriptionId members;
 * the caller passes the world of that scope.  Only inline templates and
 * Incremental mode exist for nested deployments here, and the parent's load
 * plans every nested template once in a world made from its own, so that a
 * broken nested template is refused before anything is deployed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "template/plan.h"

/* Whether the nested deployment evaluates in its own scope. */
static int is_inner(struct tpl_template *t, const struct plan_res *res, bool *inner, struct tpl_error *err)
{
  json_t *opts = plan_member(plan_member(res->decl, "properties"), "expressionEvaluationOptions");
  json_t *scope = plan_member(opts, "scope");
  const char *s = json_string_value(scope);
  char at[64];
  *inner = s && !strcasecmp(s, "inner");
  if (scope && !(s && (*inner || !strcasecmp(s, "outer") || !strcasecmp(s, "NotSpecified"))))
    return plan_fail(t, scope, res->path, err,
                     "The nested deployment '%s'%s has an invalid expressionEvaluationOptions scope: 'inner' or "
                     "'outer'.",
                     res->name, plan_at(t, scope, at));
  return 0;
}

/* share: spend t's budget (the load's planning); else the child's own (a run). */
static int plan_child(struct tpl_template *t, int i, const struct tpl_world *child_world, bool share,
                      struct tpl_template **out, struct tpl_error *err)
{
  const struct plan_res *res = &t->res[i];
  json_t *props = plan_member(res->decl, "properties");
  json_t *params = NULL;
  char *path = NULL;
  bool inner;
  int r = is_inner(t, res, &inner, err);
  if (r < 0)
    return r;
  if (asprintf(&path, "%s.properties.template", res->path) < 0)
    return -ENOMEM;
  struct tpl_input in = {
      .template = plan_member(props, "template"),
      .pos = t->pos,
      .path = path,
      .world = child_world,
  };
  if (inner && plan_member(props, "parameters")) {
    struct plan_ctx c;
    char what[512];
    char *ppath = NULL;
    snprintf(what, sizeof what, "The template resource '%s'", res->name);
    r = asprintf(&ppath, "%s.properties.parameters", res->path) < 0 ? -ENOMEM : 0;
    if (r == 0 && (r = resources_ctx(t, i, t->world, TPL_ALLOW_REFERENCE, &c, err)) == 0)
      r = body_eval(&c, plan_member(props, "parameters"), ppath, what, false, &params, err);
    free(ppath);
  }
  if (r == 0 && !inner) {
    static const char *const own[] = {"parameters", "variables", NULL};
    char at[64];
    for (int k = 0; own[k] && r == 0; k++) {
      json_t *m = plan_member(in.template, own[k]);
      if (json_object_size(m))
        r = plan_fail(t, m, path, err,
                      "The nested deployment '%s'%s declares its own %s, which only a nested deployment with "
                      "expressionEvaluationOptions scope 'inner' can use.",
                      res->name, plan_at(t, m, at), own[k]);
    }
  }
  in.parameters = params;
  if (r == 0)
    r = plan_load(&in, inner ? NULL : plan_scope(t), true, share ? t->budget : NULL, out, err);
  json_decref(params);
  free(path);
  return r;
}

int nested_check(struct tpl_template *t, int i, struct tpl_error *err)
{
  struct plan_res *res = &t->res[i];
  json_t *props = plan_member(res->decl, "properties");
  char at[64];
  static const char *const links[] = {"templateLink", "parametersLink", NULL};
  for (int k = 0; links[k]; k++)
    if (plan_member(props, links[k]))
      return plan_fail(t, plan_member(props, links[k]), res->path, err,
                       "The nested deployment '%s'%s uses '%s': linked templates and parameter files are not "
                       "supported by vmrp (it reaches no network). Put the template inline in "
                       "'properties.template' and the values in 'properties.parameters'.",
                       res->name, plan_at(t, res->decl, at), links[k]);
  if (!json_is_object(plan_member(props, "template")))
    return plan_fail(t, res->decl, res->path, err,
                     "The nested deployment '%s'%s must have its template inline as an object in "
                     "'properties.template'.",
                     res->name, plan_at(t, res->decl, at));
  json_t *mode = plan_member(props, "mode");
  const char *m = json_string_value(mode);
  if (mode && !(m && !strcasecmp(m, "Incremental")))
    return plan_fail(t, mode, res->path, err,
                     "The nested deployment '%s'%s has mode '%s': nested deployments support only 'Incremental' "
                     "mode. Please see https://aka.ms/arm-deploy for usage details.",
                     res->name, plan_at(t, mode, at), m ? m : "");
  /* plan it once in a world like the one it will run in */
  const struct tpl_world *w = t->world;
  struct tpl_world cw = *w;
  cw.scope = res->rg ? TPL_SCOPE_RESOURCE_GROUP : TPL_SCOPE_SUBSCRIPTION;
  cw.subscription_id = res->sub;
  cw.resource_group = res->rg;
  if (!res->rg || !w->resource_group || strcmp(res->rg, w->resource_group)) {
    cw.rg_location = w->rg_location ? w->rg_location : w->deployment_location;
    cw.rg_tags = NULL;
  }
  cw.deployment_name = res->name;
  cw.mode = "Incremental";
  cw.reference = NULL;
  struct tpl_template *child = NULL;
  int r = plan_child(t, i, &cw, true, &child, err);
  tpl_free(child);
  return r == -EAGAIN ? 0 : r;
}

int tpl_nested(struct tpl_template *t, int i, const struct tpl_world *child_world, struct tpl_template **out,
               struct tpl_error *err)
{
  *out = NULL;
  if (i < 0 || i >= t->nres || t->res[i].pub.kind != TPL_DEPLOYMENT) {
    return tpl_fail(err, "InvalidTemplate", "Resource %d of the plan is not a nested deployment.", i);
  }
  return plan_child(t, i, child_world, false, out, err);
}
