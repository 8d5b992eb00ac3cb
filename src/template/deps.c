/*
 * deps.c — the order of the plan: what each resource waits for.
 *
 * Three sources of edges: "dependsOn" entries (a copy loop's name: all its
 * instances; a full id; "Ns/type/name" or "Ns/t1/n1/t2/n2"; a plain name —
 * matched case-insensitively, an entry that matches nothing is an error),
 * serial copy loops (each batch of batchSize instances waits for the one
 * before), and reference() of a resource of the template by name, found in
 * every expression of the resource by tpl_expr_references — statically, as
 * ARM infers these edges, so a reference in a branch of if() counts too; by
 * id it adds nothing.  That pass also parses every expression, so a syntax
 * error in a body is found at load.  Edges to resources
 * whose condition is false are dropped (they deploy nothing), and the
 * remaining graph must be acyclic.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "template/plan.h"

struct list {
  int *v;
  int n, cap;
};

static int push(struct list *l, int i)
{
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 8;
    int *v = realloc(l->v, (size_t)cap * sizeof *v);
    if (!v)
      return -ENOMEM;
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = i;
  return 0;
}

/* The own-loop instances in plan order; pos[i] is i's place in it (a
 * loop's instances sit together there, by index). */
struct loops {
  int *order, *pos;
  int n;
};

static int loops_init(const struct tpl_template *t, struct loops *lp)
{
  lp->n = 0;
  lp->order = malloc((size_t)(t->nres + 1) * sizeof *lp->order);
  lp->pos = malloc((size_t)(t->nres + 1) * sizeof *lp->pos);
  if (!lp->order || !lp->pos)
    return -ENOMEM;
  for (int i = 0; i < t->nres; i++) {
    lp->pos[i] = -1;
    if (t->res[i].own_loop) {
      lp->pos[i] = lp->n;
      lp->order[lp->n++] = i;
    }
  }
  return 0;
}

/* What dependsOn entries may name: ids (with, for a resource group at
 * subscription scope, the form resourceId() gives there:
 * /subscriptions/s/providers/Microsoft.Resources/resourceGroups/n) and
 * names ("n", "Ns/type/name", "Ns/t1/n1/t2/n2"). */
struct keys {
  struct plan_index ids, names;
};

static int keys_init(const struct tpl_template *t, struct keys *k)
{
  int r = 0;
  for (int i = 0; i < t->nres && r == 0; i++) {
    const struct plan_res *res = &t->res[i];
    char *s = NULL;
    const char *tail = strstr(res->id, "/providers/");
    r = plan_index_add(&k->ids, res->id, i);
    if (r == 0 && !res->rg && !tail)
      r = asprintf(&s, "/subscriptions/%s/providers/%s/%s", res->sub, res->type, res->name) < 0
              ? -ENOMEM
              : plan_index_add(&k->ids, s, i);
    free(s);
    s = NULL;
    if (r == 0)
      r = plan_index_add(&k->names, res->name, i);
    if (r == 0)
      r = asprintf(&s, "%s/%s", res->type, res->name) < 0 ? -ENOMEM : plan_index_add(&k->names, s, i);
    if (r == 0 && tail && strcasecmp(tail + 11, s))
      r = plan_index_add(&k->names, tail + 11, i);
    free(s);
  }
  plan_index_sort(&k->ids);
  plan_index_sort(&k->names);
  return r;
}

/* Two deployed resources with one id (a copy loop whose name forgot
 * copyIndex()); resources whose conditions exclude each other may share it. */
static int check_unique(struct tpl_template *t, const struct keys *k, struct tpl_error *err)
{
  char at[64];
  for (int i = 0; i + 1 < k->ids.n; i++) {
    const struct plan_key *a = &k->ids.v[i], *b = &k->ids.v[i + 1];
    const struct plan_res *ra = &t->res[a->res], *rb = &t->res[b->res];
    if (ra->pub.deploy && rb->pub.deploy && a->res != b->res && !strcasecmp(a->key, b->key))
      return plan_fail(t, rb->decl, rb->path, err,
                       "The resource '%s'%s is defined multiple times in a template. Please see "
                       "https://aka.ms/arm-template/#resources for usage details.",
                       rb->id, plan_at(t, rb->decl, at));
  }
  return 0;
}

static int match(const struct tpl_template *t, const struct loops *lp, const struct keys *keys, const char *s,
                 struct list *out)
{
  int before = out->n, r = 0;
  for (int k = 0; k < lp->n && r == 0; k++) {
    const struct plan_res *res = &t->res[lp->order[k]];
    if (res->first == lp->order[k] && !strcasecmp(res->loop.name, s))
      for (int j = k; j < lp->n && t->res[lp->order[j]].first == res->first && r == 0; j++)
        r = push(out, lp->order[j]);
  }
  if (out->n > before)
    return r < 0 ? r : out->n - before;
  const struct plan_index *x = s[0] == '/' ? &keys->ids : &keys->names;
  for (int k = plan_index_find(x, s); k >= 0 && k < x->n && !strcasecmp(x->v[k].key, s) && r == 0; k++)
    r = push(out, x->v[k].res);
  return r < 0 ? r : out->n - before;
}

/* ---- reference() found in expressions ----------------------------------------- */
struct found {
  struct tpl_template *t;
  int self;
  struct list *out;
  int r;
};

static void on_reference(void *ctx, const char *name)
{
  struct found *f = ctx;
  int k = resources_by_name(f->t, name);
  if (k >= 0 && k != f->self && f->r == 0)
    f->r = push(f->out, k);
}

static int scan(struct plan_ctx *c, struct found *f, json_t *node, struct tpl_error *err)
{
  int r = 0;
  if (json_is_string(node)) {
    const char *s = json_string_value(node);
    if (!tpl_is_expression(s))
      return 0;
    char what[512];
    const struct plan_res *res = &f->t->res[f->self];
    snprintf(what, sizeof what, "The template resource '%s'", res->name);
    r = plan_references(c, s, on_reference, f, err);
    return r < 0 ? plan_eval_failed(f->t, node, res->path, what, r, err) : f->r;
  }
  if (json_is_array(node)) {
    size_t i;
    json_t *e;
    json_array_foreach(node, i, e)
      if ((r = scan(c, f, e, err)) < 0)
        return r;
  }
  if (json_is_object(node)) {
    const char *k;
    json_t *m;
    json_object_foreach(node, k, m)
      if ((r = scan(c, f, m, err)) < 0)
        return r;
  }
  return 0;
}

/* The members of a resource where reference() may be (not its name, type,
 * dependsOn, children, nor a nested deployment's own template). */
static int implicit(struct tpl_template *t, int i, struct plan_ctx *c, struct list *out, struct tpl_error *err)
{
  static const char *const skipped[] = {"name", "type", "apiVersion", "dependsOn", "condition",
                                        "copy", "comments", "resources", NULL};
  const char *k;
  json_t *m;
  int r = 0;
  struct found f = {t, i, out, 0};
  json_object_foreach(t->res[i].decl, k, m) {
    int s = 0;
    while (skipped[s] && strcasecmp(skipped[s], k))
      s++;
    if (skipped[s])
      continue;
    json_t *nested = t->res[i].pub.kind == TPL_DEPLOYMENT ? plan_member(m, "template") : NULL;
    if (nested && json_is_object(m)) {
      const char *pk;
      json_t *pm;
      json_object_foreach(m, pk, pm)
        if (pm != nested && (r = scan(c, &f, pm, err)) < 0)
          return r;
    } else if ((r = scan(c, &f, m, err)) < 0) {
      return r;
    }
  }
  return 0;
}

static int explicit(struct tpl_template *t, int i, struct plan_ctx *c, const struct loops *lp,
                    const struct keys *keys, struct list *out, struct tpl_error *err)
{
  struct plan_res *res = &t->res[i];
  json_t *deps = plan_member(res->decl, "dependsOn");
  char *path = plan_path(res->path, "dependsOn", 0);
  char what[512], at[64];
  int r = -ENOMEM;
  size_t j;
  json_t *e;
  if (!path)
    goto out;
  if (deps && !json_is_array(deps)) {
    r = plan_fail(t, deps, path, err, "The 'dependsOn' of the template resource '%s'%s must be an array.", res->name,
                  plan_at(t, deps, at));
    goto out;
  }
  snprintf(what, sizeof what, "The template resource '%s'", res->name);
  json_array_foreach(deps, j, e) {
    json_t *v = NULL;
    if ((r = body_eval(c, e, path, what, false, &v, err)) < 0)
      goto out;
    if (!json_is_string(v)) {
      json_decref(v);
      r = plan_fail(t, e, path, err, "The 'dependsOn' entries of the template resource '%s'%s must be strings.",
                    res->name, plan_at(t, e, at));
      goto out;
    }
    r = match(t, lp, keys, json_string_value(v), out);
    if (r == 0)
      r = plan_fail(t, res->decl, res->path, err,
                    "The resource '%s' is not defined in the template. Please see https://aka.ms/arm-template for "
                    "usage details.",
                    json_string_value(v));
    json_decref(v);
    if (r < 0)
      goto out;
  }
  /* serial: the previous batch */
  if (res->own_loop && res->batch > 0) {
    int b = res->batch, k = res->loop.index, base = lp->pos[res->first];
    for (int p = (k / b - 1) * b; k >= b && p < (k / b) * b; p++)
      if ((r = push(out, lp->order[base + p])) < 0)
        goto out;
  }
  r = 0;
out:
  free(path);
  return r;
}

static int by_index(const void *a, const void *b)
{
  return *(const int *)a - *(const int *)b;
}

/* Keeps the deployed ones, once each, in plan order. */
static int store(struct tpl_template *t, int i, struct list *l)
{
  struct plan_res *res = &t->res[i];
  if (l->n)
    qsort(l->v, (size_t)l->n, sizeof *l->v, by_index);
  int n = 0;
  for (int k = 0; k < l->n; k++)
    if (t->res[l->v[k]].pub.deploy && (n == 0 || l->v[n - 1] != l->v[k]))
      l->v[n++] = l->v[k];
  res->deps = n ? malloc((size_t)n * sizeof *res->deps) : NULL;
  if (n && !res->deps)
    return -ENOMEM;
  if (n)
    memcpy(res->deps, l->v, (size_t)n * sizeof *res->deps);
  res->pub.depends = res->deps;
  res->pub.ndepends = n;
  return 0;
}

static int visit(struct tpl_template *t, int i, char *color, struct tpl_error *err)
{
  color[i] = 1;
  for (int k = 0; k < t->res[i].pub.ndepends; k++) {
    int d = t->res[i].deps[k];
    if (color[d] == 1)
      return plan_fail(t, t->res[d].decl, t->res[d].path, err,
                       "Circular dependency detected on resource: '%s'. Please see "
                       "https://aka.ms/arm-template/#resources for usage details.",
                       t->res[d].id);
    int r = color[d] == 0 ? visit(t, d, color, err) : 0;
    if (r < 0)
      return r;
  }
  color[i] = 2;
  return 0;
}

int deps_load(struct tpl_template *t, struct tpl_error *err)
{
  struct loops lp = {0};
  struct keys keys = {0};
  struct list l = {0};
  char *color = NULL;
  int r = loops_init(t, &lp);
  if (r == 0)
    r = keys_init(t, &keys);
  if (r == 0)
    r = check_unique(t, &keys, err);
  for (int i = 0; r == 0 && i < t->nres; i++) {
    struct plan_ctx c;
    l.n = 0;
    if ((r = resources_ctx(t, i, t->world, 0, &c, err)) < 0 || (r = explicit(t, i, &c, &lp, &keys, &l, err)) < 0 ||
        (r = implicit(t, i, &c, &l, err)) < 0)
      break;
    r = store(t, i, &l);
  }
  if (r == 0 && !(color = calloc((size_t)t->nres + 1, 1)))
    r = -ENOMEM;
  for (int i = 0; r == 0 && i < t->nres; i++)
    if (!color[i])
      r = visit(t, i, color, err);
  free(color);
  free(l.v);
  free(lp.order);
  free(lp.pos);
  plan_index_free(&keys.ids);
  plan_index_free(&keys.names);
  return r;
}
