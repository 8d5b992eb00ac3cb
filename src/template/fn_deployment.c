/*
 * fn_deployment.c — the deployment functions: parameters(), variables(),
 * deployment(), environment() (docs: template-functions-deployment.md).
 *
 * The values come from the planner through tpl_eval.lookup, which matches
 * names case-insensitively and knows the order in which variables are
 * evaluated (and so their cycles); environment() is the world's.
 */
#include <errno.h>

#include "template/internal.h"

static int lookup(struct tpl_call *c, enum tpl_lookup what, const char *name, json_t **out)
{
  if (!c->ev->lookup)
    return tpl_fail(c->err, "InvalidTemplate",
                    "The template %s '%s' is not found. Please see https://aka.ms/arm-template/#%ss for usage details.",
                    what == TPL_PARAMETER ? "parameter" : "variable", name,
                    what == TPL_PARAMETER ? "parameter" : "variable");
  return c->ev->lookup(c->ev->ctx, what, name, out, c->err);
}

static int fn_parameters(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const char *name;
  int rc = tpl_arg_string(c, args, 0, &name);
  return rc < 0 ? rc : lookup(c, TPL_PARAMETER, name, out);
}

static int fn_variables(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const char *name;
  int rc = tpl_arg_string(c, args, 0, &name);
  return rc < 0 ? rc : lookup(c, TPL_VARIABLE, name, out);
}

static int fn_deployment(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  if (!c->ev->lookup)
    return tpl_call_fail(c, "The template function 'deployment' is not expected at this location.");
  return c->ev->lookup(c->ev->ctx, TPL_DEPLOYMENT_OBJECT, NULL, out, c->err);
}

static int fn_environment(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  json_t *env = c->ev->world ? c->ev->world->environment : NULL;
  if (!env)
    return tpl_call_fail(c, "The template function 'environment' has no cloud to describe here.");
  if (!(*out = json_deep_copy(env)))
    return tpl_no_memory(c->err);
  return 0;
}

const struct tpl_function tpl_fn_deployment[] = {
    {"deployment", fn_deployment, 0, 0, TPL_FN_STORED},
    {"environment", fn_environment, 0, 0, 0},
    {"parameters", fn_parameters, 1, 1, TPL_FN_STORED},
    {"variables", fn_variables, 1, 1, TPL_FN_STORED},
    {NULL, NULL, 0, 0, 0},
};
