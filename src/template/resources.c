/*
 * resources.c — the plan: a template's resources as the list of requests
 * the engine makes, in declaration order.
 *
 * Children declared inside a parent's "resources" are flattened after it
 * (their type and name are the parent's plus theirs; they get no implicit
 * dependency on it, as in ARM), a copy loop becomes its instances in place
 * (each followed by its children), and each instance's condition, type,
 * name and apiVersion are evaluated here, once: they cannot use reference(),
 * so they are known at validate.  A name must have one segment fewer than
 * its type; the id follows from the scope — the resource group's, the
 * subscription's (where Microsoft.Resources/resourceGroups are resource
 * groups), or for a nested deployment the target its resourceGroup and
 * subscriptionId members name.  Copy counts are checked before anything is
 * expanded, so an oversized template costs no memory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/cleanup.h"
#include "template/plan.h"

#define DEPLOYMENTS "Microsoft.Resources/deployments"
#define RESOURCE_GROUPS "Microsoft.Resources/resourceGroups"

struct copy {
  const char *name;
  long long count; /* 1 when no copy */
  int batch;       /* serial: batchSize; 0 parallel */
};

/* The "copy" of a declaration, checked. */
static int read_copy(struct tpl_template *t, json_t *decl, const char *path, bool child, struct copy *cp,
                     struct tpl_error *err)
{
  char at[64];
  json_t *copy = plan_member(decl, "copy");
  const char *raw = json_string_value(plan_member(decl, "name"));
  *cp = (struct copy){NULL, 1, 0};
  if (!copy)
    return 0;
  char *cpath = plan_path(path, "copy", 0);
  int r = -ENOMEM;
  if (!cpath)
    goto out;
  if (child) {
    r = plan_fail(t, copy, cpath, err,
                  "The template resource '%s'%s is declared inside its parent's 'resources' and cannot have a copy "
                  "loop. Please see https://aka.ms/arm-copy for usage details.",
                  raw ? raw : "", plan_at(t, decl, at));
    goto out;
  }
  cp->name = json_string_value(plan_member(copy, "name"));
  json_t *count = plan_member(copy, "count");
  if (!cp->name || !*cp->name || !count) {
    r = plan_fail(t, copy, cpath, err,
                  "The copy of the template resource '%s'%s must have a 'name' and a 'count'. Please see "
                  "https://aka.ms/arm-copy for usage details.",
                  raw ? raw : "", plan_at(t, decl, at));
    goto out;
  }
  struct plan_ctx c;
  char what[512];
  json_t *n = NULL;
  snprintf(what, sizeof what, "The template resource '%s'", raw ? raw : "");
  plan_ctx_init(&c, t, t->world, 0);
  if ((r = body_eval(&c, count, cpath, what, false, &n, err)) < 0)
    goto out;
  r = plan_integer(n, &cp->count);
  json_decref(n);
  if (r < 0 || cp->count < 0 || cp->count > TPL_MAX_COPY) {
    r = plan_fail(t, count, cpath, err,
                  "The copy count of the template resource '%s'%s must be an integer from 0 to %d. Please see "
                  "https://aka.ms/arm-copy for usage details.",
                  raw ? raw : "", plan_at(t, count, at), TPL_MAX_COPY);
    goto out;
  }
  const char *mode = json_string_value(plan_member(copy, "mode"));
  json_t *batch = plan_member(copy, "batchSize");
  long long b = 0;
  if (mode && strcasecmp(mode, "serial") && strcasecmp(mode, "parallel")) {
    r = plan_fail(t, copy, cpath, err,
                  "The copy mode '%s' of the template resource '%s'%s is not valid: 'serial' or 'parallel'. Please "
                  "see https://aka.ms/arm-copy for usage details.",
                  mode, raw ? raw : "", plan_at(t, copy, at));
    goto out;
  }
  if (mode && !strcasecmp(mode, "serial")) {
    b = 1;
    if (batch && (plan_integer(batch, &b) < 0 || b < 1 || (b > cp->count && cp->count > 0))) {
      r = plan_fail(t, batch, cpath, err,
                    "The copy batchSize of the template resource '%s'%s must be an integer from 1 to the copy "
                    "count '%lld'. Please see https://aka.ms/arm-copy for usage details.",
                    raw ? raw : "", plan_at(t, batch, at), cp->count);
      goto out;
    }
  }
  cp->batch = (int)b;
  r = 0;
out:
  free(cpath);
  return r;
}

/* How many plan entries a declaration makes (copies and children). */
static int count_decl(struct tpl_template *t, json_t *decl, const char *path, bool child, long long *total,
                      struct tpl_error *err)
{
  struct copy cp;
  int r = read_copy(t, decl, path, child, &cp, err);
  if (r < 0)
    return r;
  long long per = 1;
  json_t *children = plan_member(decl, "resources");
  size_t i;
  json_t *d;
  json_array_foreach(children, i, d) {
    long long n = 0;
    char *cpath = plan_path(path, "resources", 0);
    char *ipath = cpath ? plan_path(cpath, NULL, (int)i) : NULL;
    r = ipath ? count_decl(t, d, ipath, true, &n, err) : -ENOMEM;
    free(ipath);
    free(cpath);
    if (r < 0)
      return r;
    per += n;
  }
  *total += cp.count * per;
  return 0;
}

static int segments(const char *s)
{
  int n = 1;
  for (; *s; s++)
    n += *s == '/';
  return n;
}

/* "Ns/t1/t2" + "n1/n2" → "Ns/t1/n1/t2/n2" (the id after /providers/). */
static char *interleave(const char *type, const char *name)
{
  size_t len = strlen(type) + strlen(name) + 2;
  char *out = malloc(len), *o = out;
  if (!out)
    return NULL;
  const char *ts = strchr(type, '/');
  o += snprintf(o, len, "%.*s", (int)(ts - type), type);
  const char *ns = name;
  while (ts) {
    const char *te = strchr(ts + 1, '/');
    const char *ne = strchr(ns, '/');
    int tl = te ? (int)(te - ts - 1) : (int)strlen(ts + 1);
    int nl = ne ? (int)(ne - ns) : (int)strlen(ns);
    o += snprintf(o, len - (size_t)(o - out), "/%.*s/%.*s", tl, ts + 1, nl, ns);
    ts = te;
    ns = ne ? ne + 1 : ns + nl;
  }
  return out;
}

/* A string member of a resource, evaluated: 0 with *out (malloc'd), or
 * -EINVAL when missing or not a string. */
static int string_member(struct plan_ctx *c, json_t *decl, const char *member, const char *path, const char *what,
                         bool required, char **out, struct tpl_error *err)
{
  char at[64];
  json_t *node = plan_member(decl, member), *v = NULL;
  char *mpath = plan_path(path, member, 0);
  int r = -ENOMEM;
  *out = NULL;
  if (!mpath)
    goto out;
  if (!node) {
    r = required ? plan_fail(c->t, decl, path, err, "%s%s is missing the required member '%s'.", what,
                             plan_at(c->t, decl, at), member)
                 : 0;
    goto out;
  }
  if ((r = body_eval(c, node, mpath, what, false, &v, err)) < 0)
    goto out;
  if (!json_is_string(v) || (required && !json_string_length(v))) {
    r = plan_fail(c->t, node, mpath, err, "%s%s must have a non-empty string '%s'.", what, plan_at(c->t, node, at),
                  member);
    goto out;
  }
  r = (*out = strdup(json_string_value(v))) ? 0 : -ENOMEM;
out:
  json_decref(v);
  free(mpath);
  return r;
}

static int set_id(struct tpl_template *t, struct plan_res *res, struct plan_ctx *c, struct tpl_error *err)
{
  const struct tpl_world *w = t->world;
  bool sub = w->scope == TPL_SCOPE_SUBSCRIPTION;
  int n;
  char *tail = NULL;
  res->pub.kind = strcasecmp(res->type, DEPLOYMENTS) ? TPL_RESOURCE : TPL_DEPLOYMENT;
  if (res->pub.kind == TPL_DEPLOYMENT) {
    char what[512];
    snprintf(what, sizeof what, "The template resource '%s'", res->name);
    int r = string_member(c, res->decl, "subscriptionId", res->path, what, false, &res->sub, err);
    if (r < 0 || (r = string_member(c, res->decl, "resourceGroup", res->path, what, false, &res->rg, err)) < 0)
      return r;
    if (!res->sub && !(res->sub = strdup(w->subscription_id)))
      return -ENOMEM;
    if (!res->rg && !sub && !(res->rg = strdup(w->resource_group)))
      return -ENOMEM;
    n = res->rg ? asprintf(&res->id, "/subscriptions/%s/resourceGroups/%s/providers/%s/%s", res->sub, res->rg,
                           DEPLOYMENTS, res->name)
                : asprintf(&res->id, "/subscriptions/%s/providers/%s/%s", res->sub, DEPLOYMENTS, res->name);
    return n < 0 ? -ENOMEM : nested_check(t, (int)(res - t->res), err);
  }
  if (!(res->sub = strdup(w->subscription_id)) || (!sub && !(res->rg = strdup(w->resource_group))))
    return -ENOMEM;
  if (!strcasecmp(res->type, RESOURCE_GROUPS)) {
    char at[64];
    if (!sub)
      return plan_fail(t, res->decl, res->path, err,
                       "The template resource '%s'%s of type '%s' can only be deployed at subscription scope.",
                       res->name, plan_at(t, res->decl, at), res->type);
    n = asprintf(&res->id, "/subscriptions/%s/resourceGroups/%s", res->sub, res->name);
    return n < 0 ? -ENOMEM : 0;
  }
  if (!(tail = interleave(res->type, res->name)))
    return -ENOMEM;
  n = sub ? asprintf(&res->id, "/subscriptions/%s/providers/%s", res->sub, tail)
          : asprintf(&res->id, "/subscriptions/%s/resourceGroups/%s/providers/%s", res->sub, res->rg, tail);
  free(tail);
  return n < 0 ? -ENOMEM : 0;
}

static int grow(struct tpl_template *t)
{
  if (t->nres < t->capres)
    return 0;
  int cap = t->capres ? 2 * t->capres : 16;
  struct plan_res *v = realloc(t->res, (size_t)cap * sizeof *v);
  if (!v)
    return -ENOMEM;
  t->res = v;
  t->capres = cap;
  return 0;
}

/* Type, name, apiVersion, condition of entry i; full type and name. */
static int describe(struct tpl_template *t, int i, struct plan_ctx *c, struct tpl_error *err)
{
  struct plan_res *res = &t->res[i];
  json_t *decl = res->decl;
  char what[512], at[64];
  const char *raw = json_string_value(plan_member(decl, "name"));
  snprintf(what, sizeof what, "The template resource '%s'", raw ? raw : "");
  static const char *const refused[] = {"scope", "existing", NULL};
  for (int k = 0; refused[k]; k++)
    if (plan_member(decl, refused[k]))
      return plan_fail(t, decl, res->path, err,
                       "%s%s uses '%s', which vmrp does not support (extension resources and references to "
                       "existing resources need the language features vmrp leaves out).",
                       what, plan_at(t, decl, at), refused[k]);
  char *type = NULL, *name = NULL;
  int r = string_member(c, decl, "type", res->path, what, true, &type, err);
  if (r == 0)
    r = string_member(c, decl, "name", res->path, what, true, &name, err);
  if (r == 0)
    r = string_member(c, decl, "apiVersion", res->path, what, true, &res->api_version, err);
  if (r < 0)
    goto out;
  const struct plan_res *parent = res->parent >= 0 ? &t->res[res->parent] : NULL;
  if (parent && !strchr(type, '/')) {
    if (asprintf(&res->type, "%s/%s", parent->type, type) < 0 || asprintf(&res->name, "%s/%s", parent->name, name) < 0) {
      r = -ENOMEM;
      goto out;
    }
  } else {
    res->type = STEAL_PTR(type);
    res->name = STEAL_PTR(name);
  }
  if (segments(res->type) < 2 || segments(res->type) != segments(res->name) + 1) {
    r = plan_fail(t, decl, res->path, err,
                  "The template resource '%s' for type '%s'%s has incorrect segment lengths. A nested resource type "
                  "must have identical number of segments as its resource name. A root resource type must have "
                  "segment length one greater than its resource name. Please see "
                  "https://aka.ms/arm-syntax-resources for usage details.",
                  res->name, res->type, plan_at(t, decl, at));
    goto out;
  }
  snprintf(what, sizeof what, "The template resource '%s'", res->name);
  bool deploy = true;
  json_t *cond = plan_member(decl, "condition");
  if (cond) {
    json_t *v = NULL;
    char *cpath = plan_path(res->path, "condition", 0);
    r = cpath ? body_eval(c, cond, cpath, what, false, &v, err) : -ENOMEM;
    if (r == 0 && !json_is_boolean(v))
      r = plan_fail(t, cond, cpath, err,
                    "The template resource '%s'%s has a condition that is not a boolean value. Please see "
                    "https://aka.ms/arm-template/#resources for usage details.",
                    res->name, plan_at(t, cond, at));
    deploy = json_is_true(v);
    json_decref(v);
    free(cpath);
    if (r < 0)
      goto out;
  }
  res->pub.deploy = deploy && (!parent || parent->pub.deploy);
  r = set_id(t, res, c, err);
out:
  free(type);
  free(name);
  return r;
}

static int expand(struct tpl_template *t, json_t *decl, const char *path, int parent, const struct copy *cp,
                  int index, int first, struct tpl_error *err)
{
  int r = grow(t);
  if (r < 0)
    return r;
  int i = t->nres++;
  struct plan_res *res = &t->res[i];
  memset(res, 0, sizeof *res);
  res->decl = decl;
  res->parent = parent;
  if (cp && cp->name) {
    res->loop = (struct plan_frame){cp->name, index};
    res->own_loop = true;
    res->first = first < 0 ? i : first;
    res->batch = cp->batch;
  } else if (parent >= 0) {
    res->loop = t->res[parent].loop;
  }
  if (!(res->path = strdup(path)))
    return -ENOMEM;
  struct plan_ctx c;
  if ((r = resources_ctx(t, i, t->world, 0, &c, err)) < 0 || (r = describe(t, i, &c, err)) < 0)
    return r;
  res = &t->res[i];
  struct tpl_pos pos = {0, 0};
  tpl_pos_of(t->pos, decl, &pos);
  res->pub.pos = pos;
  json_t *children = plan_member(decl, "resources");
  size_t j;
  json_t *d;
  json_array_foreach(children, j, d) {
    char *cpath = plan_path(path, "resources", 0);
    char *ipath = cpath ? plan_path(cpath, NULL, (int)j) : NULL;
    r = ipath ? expand(t, d, ipath, i, NULL, 0, -1, err) : -ENOMEM;
    free(ipath);
    free(cpath);
    if (r < 0)
      return r;
  }
  return 0;
}

int resources_load(struct tpl_template *t, struct tpl_error *err)
{
  json_t *decls = plan_member(t->tmpl, "resources");
  char *path = plan_path(t->path, "resources", 0);
  int r = -ENOMEM;
  size_t i;
  json_t *d;
  long long total = 0;
  if (!path)
    goto out;
  if (decls && !json_is_array(decls)) {
    r = plan_fail(t, decls, path, err,
                  "The template 'resources' must be an array (resources declared as an object by symbolic name need "
                  "languageVersion 2.0, which vmrp does not support).");
    goto out;
  }
  json_array_foreach(decls, i, d) {
    char *ipath = plan_path(path, NULL, (int)i);
    r = !ipath ? -ENOMEM
        : !json_is_object(d) ? plan_fail(t, d, ipath, err, "A template resource must be a JSON object.")
                             : count_decl(t, d, ipath, false, &total, err);
    free(ipath);
    if (r < 0)
      goto out;
  }
  if (total > TPL_MAX_RESOURCES) {
    r = plan_fail(t, decls, path, err, "The number of template resources limit exceeded. Limit: '%d' and actual: '%lld'.",
                  TPL_MAX_RESOURCES, total);
    goto out;
  }
  if ((t->budget->resources -= total) < 0) {
    r = plan_fail(t, decls, path, err,
                  "The template and the templates of its nested deployments (each copy counted) declare more than "
                  "'%d' resources together, the limit of vmrp.",
                  PLAN_MAX_TREE);
    goto out;
  }
  json_array_foreach(decls, i, d) {
    struct copy cp;
    char *ipath = plan_path(path, NULL, (int)i);
    r = ipath ? read_copy(t, d, ipath, false, &cp, err) : -ENOMEM;
    int first = t->nres;
    for (long long k = 0; r == 0 && k < cp.count; k++)
      r = expand(t, d, ipath, -1, &cp, (int)k, first, err);
    free(ipath);
    if (r < 0)
      goto out;
  }
  for (int k = 0; k < t->nres; k++) {
    struct plan_res *res = &t->res[k];
    res->pub.id = res->id;
    res->pub.type = res->type;
    res->pub.name = res->name;
    res->pub.api_version = res->api_version;
    res->pub.subscription = res->sub;
    res->pub.resource_group = res->rg;
    res->pub.path = res->path;
    if ((r = plan_index_add(&t->names, res->name, k)) < 0)
      goto out;
  }
  plan_index_sort(&t->names);
  r = 0;
out:
  free(path);
  return r;
}

void resources_free(struct tpl_template *t)
{
  for (int i = 0; i < t->nres; i++) {
    struct plan_res *res = &t->res[i];
    free(res->deps);
    free(res->id);
    free(res->type);
    free(res->name);
    free(res->api_version);
    free(res->sub);
    free(res->rg);
    free(res->path);
  }
  free(t->res);
  plan_index_free(&t->names);
}

int resources_ctx(struct tpl_template *t, int i, const struct tpl_world *world, unsigned allow, struct plan_ctx *c,
                  struct tpl_error *err)
{
  plan_ctx_init(c, t, world, allow);
  const struct plan_res *res = &t->res[i];
  return res->loop.name ? plan_push(c, res->loop.name, res->loop.index, err) : 0;
}

int resources_by_name(const struct tpl_template *t, const char *name)
{
  if (t->names.n) {
    int k = plan_index_find(&t->names, name);
    return k < 0 ? -1 : t->names.v[k].res;
  }
  /* while the plan is being made (a nested template checked early) */
  for (int i = 0; i < t->nres; i++)
    if (t->res[i].name && !strcasecmp(t->res[i].name, name))
      return i;
  return -1;
}
