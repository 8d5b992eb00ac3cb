/*
 * variables.c — a template's variables, including those a top-level
 * "copy": [{"name", "count", "input"}] declares (arrays of count inputs).
 *
 * A variable is evaluated on first use and kept: one may use another in any
 * order, so the table is filled on demand, and a variable met again while
 * it is being evaluated is a cycle.  Loading evaluates every variable, so
 * that an error in one nobody uses is still found at validate, as ARM finds
 * it.  reference() is not allowed in variables.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "template/plan.h"

static int eval_loop(struct tpl_template *t, struct plan_var *v, struct tpl_error *err)
{
  struct plan_ctx c;
  char what[512], at[64];
  snprintf(what, sizeof what, "The template variable '%s'", v->name);
  plan_ctx_init(&c, t, t->world, 0);
  json_t *count = plan_member(v->decl, "count"), *input = plan_member(v->decl, "input");
  if (!count || !input)
    return plan_fail(t, v->decl, v->path, err,
                     "The template variable copy '%s'%s must have 'name', 'count' and 'input' members. Please see "
                     "https://aka.ms/arm-copy for usage details.",
                     v->name, plan_at(t, v->decl, at));
  json_t *n = NULL;
  long long k = 0;
  int r = body_eval(&c, count, v->path, what, false, &n, err);
  if (r < 0)
    return r;
  r = plan_integer(n, &k);
  json_decref(n);
  if (r < 0 || k < 0 || k > TPL_MAX_COPY)
    return plan_fail(t, count, v->path, err,
                     "The copy count of the template variable '%s'%s must be an integer from 0 to %d. Please see "
                     "https://aka.ms/arm-copy for usage details.",
                     v->name, plan_at(t, count, at), TPL_MAX_COPY);
  json_t *arr = json_array();
  if (!arr)
    return -ENOMEM;
  for (long long i = 0; i < k; i++) {
    json_t *e = NULL;
    c.nframes = 0;
    if ((r = plan_push(&c, v->name, (int)i, err)) == 0 && (r = body_eval(&c, input, v->path, what, false, &e, err)) == 0 &&
        (r = plan_charge(&c, e, "The values of the variable copy loop", err)) < 0) {
      r = plan_eval_failed(t, count, v->path, what, r, err);
      json_decref(e);
    } else if (r == 0 && json_array_append_new(arr, e) < 0) {
      r = -ENOMEM;
    }
    if (r < 0) {
      json_decref(arr);
      return r;
    }
  }
  v->value = arr;
  return 0;
}

static int evaluate(struct tpl_template *t, struct plan_var *v, struct tpl_error *err)
{
  if (v->loop)
    return eval_loop(t, v, err);
  struct plan_ctx c;
  char what[512];
  snprintf(what, sizeof what, "The template variable '%s'", v->name);
  plan_ctx_init(&c, t, t->world, 0);
  return body_eval(&c, v->decl, v->path, what, false, &v->value, err);
}

/* The variables' values together are part of the expanded template: they
 * may not pass its size (ARM's DeploymentJobSizeExceeded). */
static int charge(struct tpl_template *t, struct plan_var *v, struct tpl_error *err)
{
  size_t room = TPL_MAX_JOB_SIZE - t->var_bytes, size = tpl_json_size(v->value, room);
  if (size > room) {
    char what[512];
    snprintf(what, sizeof what, "The template variable '%s'", v->name);
    return plan_eval_failed(t, v->decl, v->path, what, tpl_too_big(err, "Its value", room), err);
  }
  t->var_bytes += size;
  return 0;
}

int vars_get(struct tpl_template *t, const char *name, json_t **out, struct tpl_error *err)
{
  struct plan_var *v = NULL;
  for (int i = 0; i < t->nvars && !v; i++)
    if (!strcasecmp(t->vars[i].name, name))
      v = &t->vars[i];
  if (!v)
    return tpl_fail(err, "InvalidTemplate",
                    "The template variable '%s' is not found. Please see https://aka.ms/arm-template/#variables for "
                    "usage details.",
                    name);
  if (!v->value) {
    if (v->resolving)
      return tpl_fail(err, "InvalidTemplate", "The template variable '%s' is referenced in a circular manner.", v->name);
    struct tpl_error inner = {0};
    v->resolving = true;
    int r = evaluate(t, v, &inner);
    v->resolving = false;
    if (r == 0 && (r = charge(t, v, &inner)) < 0) {
      json_decref(v->value);
      v->value = NULL;
    }
    if (r < 0) {
      *err = inner;
      return r;
    }
  }
  *out = json_incref(v->value);
  return 0;
}

static int add(struct tpl_template *t, const char *name, json_t *decl, bool loop, const char *path)
{
  struct plan_var *v = &t->vars[t->nvars];
  v->name = name;
  v->decl = decl;
  v->loop = loop;
  if (!(v->path = plan_path(path, name, 0)))
    return -ENOMEM;
  t->nvars++;
  return 0;
}

int vars_load(struct tpl_template *t, struct tpl_error *err)
{
  json_t *decls = plan_member(t->tmpl, "variables");
  char *path = plan_path(t->path, "variables", 0);
  int r = -ENOMEM;
  const char *k;
  json_t *d;
  if (!path)
    goto out;
  if (decls && !json_is_object(decls)) {
    r = plan_fail(t, decls, path, err, "The template 'variables' must be an object.");
    goto out;
  }
  size_t n = 0;
  json_t *loops = NULL;
  json_object_foreach(decls, k, d) {
    if (!strcasecmp(k, "copy") && json_is_array(d)) {
      loops = d;
      n += json_array_size(d);
    } else {
      n++;
    }
  }
  if (n > TPL_MAX_VARIABLES) {
    r = plan_fail(t, decls, path, err,
                  "The number of template variables limit exceeded. Limit: '%d' and actual: '%zu'.",
                  TPL_MAX_VARIABLES, n);
    goto out;
  }
  if (n && !(t->vars = calloc(n, sizeof *t->vars)))
    goto out;
  json_object_foreach(decls, k, d)
    if (d != loops && (r = add(t, k, d, false, path)) < 0)
      goto out;
  size_t i;
  json_array_foreach(loops, i, d) {
    const char *name = json_string_value(plan_member(d, "name"));
    if (!name) {
      char *lpath = plan_path(path, "copy", 0);
      char *ipath = lpath ? plan_path(lpath, NULL, (int)i) : NULL;
      r = plan_fail(t, d, ipath, err,
                    "The template variable copy at '%s' must have 'name', 'count' and 'input' members. Please see "
                    "https://aka.ms/arm-copy for usage details.",
                    ipath ? ipath : "");
      free(ipath);
      free(lpath);
      goto out;
    }
    if ((r = add(t, name, d, true, path)) < 0)
      goto out;
  }
  const char *names[TPL_MAX_VARIABLES];
  for (int j = 0; j < t->nvars; j++)
    names[j] = t->vars[j].name;
  if ((r = plan_names_unique(t, names, t->nvars, decls, path, "variable", "declared", err)) < 0)
    goto out;
  for (int j = 0; j < t->nvars; j++) {
    json_t *v;
    if ((r = vars_get(t, t->vars[j].name, &v, err)) < 0)
      goto out;
    json_decref(v);
  }
  r = 0;
out:
  free(path);
  return r;
}

void vars_free(struct tpl_template *t)
{
  for (int i = 0; i < t->nvars; i++) {
    json_decref(t->vars[i].value);
    free(t->vars[i].path);
  }
  free(t->vars);
}
