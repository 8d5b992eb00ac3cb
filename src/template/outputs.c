/*
 * outputs.c — a template's outputs: checked at load (shape, types, the
 * limit of 64), evaluated once every resource is deployed, since they may
 * read reference() of what was deployed.
 *
 * An output is {"type", "value"} or {"type", "copy": {"count", "input"}}
 * (an array of count inputs, copyIndex() counting them), with an optional
 * "condition".  Its value must be of its declared type, as ARM checks.
 * Secure outputs are evaluated like the others (errors still show) but
 * only their type is returned.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "template/plan.h"

int outputs_check(struct tpl_template *t, struct tpl_error *err)
{
  json_t *outs = plan_member(t->tmpl, "outputs");
  char *path = plan_path(t->path, "outputs", 0);
  char at[64];
  const char *k;
  json_t *o;
  int r = -ENOMEM;
  if (!path)
    goto out;
  if (outs && !json_is_object(outs)) {
    r = plan_fail(t, outs, path, err, "The template 'outputs' must be an object.");
    goto out;
  }
  if (json_object_size(outs) > TPL_MAX_OUTPUTS) {
    r = plan_fail(t, outs, path, err, "The number of template outputs limit exceeded. Limit: '%d' and actual: '%zu'.",
                  TPL_MAX_OUTPUTS, json_object_size(outs));
    goto out;
  }
  const char *names[TPL_MAX_OUTPUTS];
  int n = 0;
  json_object_foreach(outs, k, o)
    names[n++] = k;
  if ((r = plan_names_unique(t, names, n, outs, path, "output", "declared", err)) < 0)
    goto out;
  json_object_foreach(outs, k, o) {
    const char *type = json_string_value(plan_member(o, "type"));
    json_t *copy = plan_member(o, "copy");
    const char *bad = NULL;
    if (plan_type(type) < 0)
      bad = "a valid 'type' (string, securestring, int, bool, object, secureobject, array)";
    else if (!plan_member(o, "value") == !copy)
      bad = "either a 'value' or a 'copy'";
    else if (copy && (!plan_member(copy, "count") || !plan_member(copy, "input")))
      bad = "a 'copy' with 'count' and 'input'";
    if (bad) {
      char *opath = plan_path(path, k, 0);
      r = plan_fail(t, o, opath, err, "The template output '%s'%s must have %s.", k, plan_at(t, o, at), bad);
      free(opath);
      goto out;
    }
  }
  r = 0;
out:
  free(path);
  return r;
}

static int output_value(struct plan_ctx *c, json_t *o, const char *path, const char *what, json_t **out,
                        struct tpl_error *err)
{
  json_t *copy = plan_member(o, "copy");
  if (!copy)
    return body_eval(c, plan_member(o, "value"), path, what, false, out, err);
  json_t *count = plan_member(copy, "count"), *n = NULL;
  long long k = 0;
  char at[64];
  int r = body_eval(c, count, path, what, false, &n, err);
  if (r < 0)
    return r;
  r = plan_integer(n, &k);
  json_decref(n);
  if (r < 0 || k < 0 || k > TPL_MAX_COPY)
    return plan_fail(c->t, count, path, err, "%s%s has a copy count that is not an integer from 0 to %d.", what,
                     plan_at(c->t, count, at), TPL_MAX_COPY);
  json_t *arr = json_array();
  if (!arr)
    return -ENOMEM;
  const char *name = strrchr(path, '.') + 1;
  for (long long i = 0; i < k; i++) {
    json_t *v = NULL;
    c->nframes = 0;
    if ((r = plan_push(c, name, (int)i, err)) < 0 ||
        (r = body_eval(c, plan_member(copy, "input"), path, what, false, &v, err)) < 0 ||
        (r = json_array_append_new(arr, v) < 0 ? -ENOMEM : 0) < 0) {
      json_decref(arr);
      return r;
    }
  }
  *out = arr;
  return 0;
}

int tpl_outputs(struct tpl_template *t, const struct tpl_world *world, json_t **out, struct tpl_error *err)
{
  json_t *outs = plan_member(t->tmpl, "outputs"), *view = json_object();
  const char *k;
  json_t *o;
  int r = view ? 0 : -ENOMEM;
  *out = NULL;
  json_object_foreach(outs, k, o) {
    char what[512], at[64];
    char *path = plan_path(t->path, "outputs", 0);
    char *opath = path ? plan_path(path, k, 0) : NULL;
    struct plan_ctx c;
    json_t *cond = plan_member(o, "condition"), *v = NULL;
    int type = plan_type(json_string_value(plan_member(o, "type")));
    snprintf(what, sizeof what, "The template output '%s'", k);
    plan_ctx_init(&c, t, world, TPL_ALLOW_REFERENCE);
    r = opath ? 0 : -ENOMEM;
    if (r == 0 && cond) {
      r = body_eval(&c, cond, opath, what, false, &v, err);
      if (r == 0 && !json_is_boolean(v))
        r = plan_fail(t, cond, opath, err, "%s%s has a condition that is not a boolean value.", what,
                      plan_at(t, cond, at));
      bool skip = json_is_false(v);
      json_decref(v);
      v = NULL;
      if (r == 0 && skip) {
        free(opath);
        free(path);
        continue;
      }
    }
    if (r == 0)
      r = output_value(&c, o, opath, what, &v, err);
    if (r == 0 && !plan_type_matches(type, v))
      r = plan_fail(t, o, opath, err,
                    "%s%s is not valid: expected a value of type '%s', but received a value of type '%s'.", what,
                    plan_at(t, o, at), plan_type_token(type), plan_token_name(v));
    if (r == 0) {
      json_t *e = json_pack("{s:s}", "type", plan_type_view(type));
      if (e && !plan_type_secure(type))
        json_object_set(e, "value", v);
      r = e && json_object_set_new(view, k, e) == 0 ? 0 : -ENOMEM;
    }
    json_decref(v);
    free(opath);
    free(path);
    if (r < 0)
      break;
  }
  if (r < 0)
    json_decref(view);
  else
    *out = view;
  return r;
}
