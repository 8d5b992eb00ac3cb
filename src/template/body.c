/*
 * body.c — deep evaluation: a JSON value of the template turned into the
 * value it stands for, and a resource turned into its request body.
 *
 * Every string value is evaluated (an expression, "[[" unescaped, anything
 * else itself); member names never are.  An object member "copy" holding an
 * array of {name, count, input} is a property copy: each entry becomes a
 * member `name` holding `count` evaluations of `input`, copyIndex('name')
 * counting them.  The path of the node being evaluated is kept as a chain on
 * the stack and written out only when an error needs it, so evaluating
 * thousands of values costs no string work.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "template/plan.h"

struct chain {
  const struct chain *up;
  const char *member; /* NULL: index */
  int index;
};

struct walk {
  struct plan_ctx *c;
  const char *root;   /* path of the value walked */
  const char *what;   /* "The template resource 'x'" */
  bool drop_null;
  struct tpl_error *err;
};

static void render(const struct walk *w, const struct chain *ch, char *buf, size_t size)
{
  const struct chain *v[64];
  int n = 0;
  for (; ch && n < 64; ch = ch->up)
    v[n++] = ch;
  size_t len = (size_t)snprintf(buf, size, "%s", w->root);
  while (n-- > 0 && len < size) {
    if (v[n]->member)
      len += (size_t)snprintf(buf + len, size - len, ".%s", v[n]->member);
    else
      len += (size_t)snprintf(buf + len, size - len, "[%d]", v[n]->index);
  }
}

static int fail_at(const struct walk *w, const json_t *node, const struct chain *ch, int r)
{
  char path[256];
  render(w, ch, path, sizeof path);
  return plan_eval_failed(w->c->t, node, path, w->what, r, w->err);
}

static int eval(struct walk *w, json_t *node, const struct chain *ch, json_t **out);

/* "copy": [{"name", "count", "input"}, ...] inside an object. */
static int property_copy(struct walk *w, json_t *loops, const struct chain *ch, json_t *into)
{
  size_t i;
  json_t *loop;
  json_array_foreach(loops, i, loop) {
    struct chain at = {ch, NULL, (int)i};
    const char *name = json_string_value(plan_member(loop, "name"));
    json_t *input = plan_member(loop, "input");
    json_t *count = plan_member(loop, "count");
    char path[256];
    if (!name || !input || !count) {
      render(w, &at, path, sizeof path);
      return plan_fail(w->c->t, loop, path, w->err,
                       "The copy property at '%s' must have 'name', 'count' and 'input' members. Please see "
                       "https://aka.ms/arm-copy for usage details.",
                       path);
    }
    json_t *n = NULL;
    long long k = 0;
    struct chain cat = {&at, "count", 0};
    int r = eval(w, count, &cat, &n);
    if (r < 0)
      return r;
    r = plan_integer(n, &k);
    json_decref(n);
    if (r < 0 || k < 0 || k > TPL_MAX_COPY) {
      render(w, &cat, path, sizeof path);
      return plan_fail(w->c->t, count, path, w->err,
                       "The copy count of the property '%s' must be an integer from 0 to %d. Please see "
                       "https://aka.ms/arm-copy for usage details.",
                       name, TPL_MAX_COPY);
    }
    json_t *arr = json_array();
    if (!arr || json_object_set_new(into, name, arr) < 0)
      return -ENOMEM;
    struct chain iat = {&at, "input", 0};
    for (long long j = 0; j < k; j++) {
      if ((r = plan_push(w->c, name, (int)j, w->err)) < 0)
        return fail_at(w, loop, &at, r);
      json_t *v = NULL;
      r = eval(w, input, &iat, &v);
      w->c->nframes--;
      if (r < 0)
        return r;
      if ((r = plan_charge(w->c, v, "The values of the property copy loop", w->err)) < 0) {
        json_decref(v);
        return fail_at(w, loop, &at, r);
      }
      if (json_array_append_new(arr, v) < 0)
        return -ENOMEM;
    }
  }
  return 0;
}

static int eval(struct walk *w, json_t *node, const struct chain *ch, json_t **out)
{
  *out = NULL;
  if (json_is_string(node)) {
    const char *s = json_string_value(node);
    if (s[0] != '[') {
      *out = json_incref(node);
      return 0;
    }
    int r = plan_eval(w->c, s, out, w->err);
    return r < 0 ? fail_at(w, node, ch, r) : 0;
  }
  if (json_is_array(node)) {
    json_t *arr = json_array();
    size_t i;
    json_t *e;
    if (!arr)
      return -ENOMEM;
    json_array_foreach(node, i, e) {
      struct chain at = {ch, NULL, (int)i};
      json_t *v;
      int r = eval(w, e, &at, &v);
      if (r < 0 || json_array_append_new(arr, v) < 0) {
        json_decref(arr);
        return r < 0 ? r : -ENOMEM;
      }
    }
    *out = arr;
    return 0;
  }
  if (json_is_object(node)) {
    json_t *obj = json_object();
    const char *k;
    json_t *m;
    if (!obj)
      return -ENOMEM;
    json_object_foreach(node, k, m) {
      struct chain at = {ch, k, 0};
      int r;
      if (!strcasecmp(k, "copy") && json_is_array(m)) {
        r = property_copy(w, m, &at, obj);
      } else {
        json_t *v;
        r = eval(w, m, &at, &v);
        if (r == 0 && !(w->drop_null && json_is_null(v)))
          r = json_object_set_new(obj, k, v) < 0 ? -ENOMEM : 0;
        else
          json_decref(v);
      }
      if (r < 0) {
        json_decref(obj);
        return r;
      }
    }
    *out = obj;
    return 0;
  }
  *out = json_incref(node);
  return 0;
}

int body_eval(struct plan_ctx *c, json_t *node, const char *path, const char *what, bool drop_null, json_t **out,
              struct tpl_error *err)
{
  struct walk w = {c, path, what, drop_null, err};
  return eval(&w, node, NULL, out);
}

/* Members of a resource that are the template's, not the resource provider's. */
static bool template_only(const char *k, bool deployment)
{
  static const char *const members[] = {"type",     "apiVersion", "name",      "dependsOn", "condition",
                                        "copy",     "comments",   "metadata",  "resources", "scope", NULL};
  for (int i = 0; members[i]; i++)
    if (!strcasecmp(k, members[i]))
      return true;
  return deployment && (!strcasecmp(k, "resourceGroup") || !strcasecmp(k, "subscriptionId"));
}

int tpl_body(struct tpl_template *t, int i, const struct tpl_world *world, json_t **out, struct tpl_error *err)
{
  *out = NULL;
  const struct plan_res *res = &t->res[i];
  bool deployment = res->pub.kind == TPL_DEPLOYMENT;
  struct plan_ctx c;
  int r = resources_ctx(t, i, world, TPL_ALLOW_REFERENCE, &c, err);
  if (r < 0)
    return r;
  char what[512];
  snprintf(what, sizeof what, "The template resource '%s'", res->pub.name);
  struct walk w = {&c, res->path, what, true, err};
  json_t *body = json_object();
  if (!body)
    return -ENOMEM;
  const char *k;
  json_t *m;
  json_object_foreach(res->decl, k, m) {
    if (template_only(k, deployment))
      continue;
    struct chain at = {NULL, k, 0};
    json_t *v = NULL;
    json_t *nested = deployment && !strcasecmp(k, "properties") ? plan_member(m, "template") : NULL;
    if (nested) {
      /* the nested template is evaluated by its own deployment (tpl_nested) */
      json_t *copy = json_copy(m);
      const char *tk;
      json_t *tv;
      r = copy ? 0 : -ENOMEM;
      json_object_foreach(m, tk, tv)
        if (!r && tv == nested)
          json_object_del(copy, tk);
      if (!r)
        r = eval(&w, copy, &at, &v);
      json_decref(copy);
      if (!r)
        r = json_object_set(v, "template", nested) < 0 ? -ENOMEM : 0;
    } else {
      r = eval(&w, m, &at, &v);
    }
    if (r == 0 && !json_is_null(v))
      r = json_object_set_new(body, k, v) < 0 ? -ENOMEM : 0;
    else
      json_decref(v);
    if (r < 0) {
      json_decref(body);
      return r;
    }
  }
  *out = body;
  return 0;
}
