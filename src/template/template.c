/*
 * template.c — a whole template: load (the order of the checks), free, the
 * plan's accessors, the shape of the template object ($schema and scope,
 * members ARM knows, what vmrp refuses, the size limit), and what every
 * evaluation shares: the lookup that answers parameters(), variables(),
 * copyIndex() and deployment(), and ARM's wording of errors.
 *
 * Loading runs in ARM's order — parameters, variables, resources,
 * dependencies, outputs — and stops at the first error, so a template is
 * either planned whole or refused whole: nothing is ever half-planned.
 * Values are evaluated once: parameters at load, variables on first use
 * (cycles found then), resources' names and conditions at load, bodies and
 * outputs when the engine asks (they may need reference()).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "template/plan.h"

/* ---- errors ------------------------------------------------------------------ */
static void set_where(const struct tpl_template *t, const json_t *node, const char *path, struct tpl_error *err)
{
  struct tpl_pos p = {0, 0};
  if (node && tpl_pos_of(t->pos, node, &p)) {
    err->line = p.line;
    err->col = p.col;
  } else {
    err->line = err->col = 0;
  }
  snprintf(err->path, sizeof err->path, "%s", path ? path : "");
}

const char *plan_at(const struct tpl_template *t, const json_t *node, char buf[64])
{
  struct tpl_pos p;
  buf[0] = '\0';
  if (node && tpl_pos_of(t->pos, node, &p))
    snprintf(buf, 64, " at line '%d' and column '%d'", p.line, p.col);
  return buf;
}

int plan_fail(const struct tpl_template *t, const json_t *node, const char *path, struct tpl_error *err,
              const char *fmt, ...)
{
  char detail[sizeof err->message];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  tpl_fail(err, "InvalidTemplate", "Deployment template validation failed: '%s'.", detail);
  set_where(t, node, path, err);
  return -EINVAL;
}

int plan_eval_failed(const struct tpl_template *t, const json_t *node, const char *path, const char *what, int r,
                     struct tpl_error *err)
{
  if (err->path[0])
    return r; /* placed already: the error of a variable or parameter this one uses */
  if (r == -EINVAL) {
    char inner[sizeof err->message], at[64];
    snprintf(inner, sizeof inner, "%s", err->message);
    plan_fail(t, node, path, err,
              "%s%s is not valid: %s Please see https://aka.ms/arm-template-expressions for usage details.", what,
              plan_at(t, node, at), inner);
  } else if (r == -E2BIG) {
    char inner[sizeof err->message], at[64];
    snprintf(inner, sizeof inner, "%s", err->message);
    tpl_fail(err, "DeploymentJobSizeExceeded", "%s%s is not valid: %s", what, plan_at(t, node, at), inner);
    set_where(t, node, path, err);
  } else {
    set_where(t, node, path, err);
  }
  return r;
}

/* ---- small helpers -------------------------------------------------------------- */
json_t *plan_member(const json_t *obj, const char *name)
{
  const char *k;
  json_t *v;
  if (!json_is_object(obj))
    return NULL;
  json_t *exact = json_object_get(obj, name);
  if (exact)
    return exact;
  json_object_foreach((json_t *)obj, k, v)
    if (!strcasecmp(k, name))
      return v;
  return NULL;
}

int plan_integer(const json_t *v, long long *out)
{
  if (json_is_integer(v)) {
    *out = json_integer_value(v);
    return 0;
  }
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    if (*s && !*end && errno == 0) {
      *out = n;
      return 0;
    }
  }
  return -EINVAL;
}

char *plan_path(const char *prefix, const char *member, int index)
{
  char *s = NULL;
  int n = member ? asprintf(&s, "%s.%s", prefix, member) : asprintf(&s, "%s[%d]", prefix, index);
  return n < 0 ? NULL : s;
}

struct tpl_template *plan_scope(struct tpl_template *t)
{
  while (t->outer)
    t = t->outer;
  return t;
}

/* ---- evaluation -------------------------------------------------------------------- */
static json_t *deployment_object(struct tpl_template *t)
{
  if (t->deployment)
    return t->deployment;
  const struct tpl_world *w = t->world;
  json_t *props = json_pack("{s:O, s:s, s:s, s:s}", "template", t->tmpl, "templateHash", t->hash, "mode",
                            w->mode ? w->mode : "Incremental", "provisioningState", "Accepted");
  if (props && t->params_done)
    json_object_set_new(props, "parameters", tpl_parameters_view(t));
  json_t *d = props ? json_pack("{s:s, s:o}", "name", w->deployment_name ? w->deployment_name : "", "properties", props)
                    : NULL;
  if (d && w->deployment_location)
    json_object_set_new(d, "location", json_string(w->deployment_location));
  t->deployment = d;
  return d;
}

static int copy_index(struct plan_ctx *c, const char *name, json_t **out, struct tpl_error *err)
{
  /* copyIndex() without a name is the outermost loop's: the resource's
   * (not a property copy's, which must be named), a variable's or an
   * output's */
  for (int i = name ? c->nframes - 1 : 0; i >= 0 && i < c->nframes; i += name ? -1 : 1)
    if (!name || !strcasecmp(c->frames[i].name, name)) {
      *out = json_integer(c->frames[i].index);
      return *out ? 0 : -ENOMEM;
    }
  if (name)
    return tpl_fail(err, "InvalidTemplate",
                    "The template copy loop '%s' referenced by the function 'copyIndex' is not found. Please see "
                    "https://aka.ms/arm-copy for usage details.",
                    name);
  return tpl_fail(err, "InvalidTemplate",
                  "The template function 'copyIndex' is not expected at this location. Please see "
                  "https://aka.ms/arm-copy for usage details.");
}

static int lookup(void *ctx, enum tpl_lookup what, const char *name, json_t **out, struct tpl_error *err)
{
  struct plan_ctx *c = ctx;
  switch (what) {
  case TPL_PARAMETER:
    return params_get(plan_scope(c->t), name, out, err);
  case TPL_VARIABLE:
    if (c->no_variables)
      return tpl_fail(err, "InvalidTemplate",
                      "The template function 'variables' is not expected at this location. Please see "
                      "https://aka.ms/arm-template-expressions for usage details.");
    return vars_get(plan_scope(c->t), name, out, err);
  case TPL_COPY_INDEX:
    return copy_index(c, name, out, err);
  case TPL_DEPLOYMENT_OBJECT: {
    json_t *d = deployment_object(c->t);
    *out = json_incref(d);
    return d ? 0 : -ENOMEM;
  }
  }
  return -EINVAL;
}

static const char *resource_id_of(void *ctx, const char *name)
{
  struct plan_ctx *c = ctx;
  int i = resources_by_name(c->t, name);
  if (i < 0)
    return NULL;
  if (c->found)
    c->found[c->nfound++] = i;
  return c->t->res[i].pub.id;
}

void plan_ctx_init(struct plan_ctx *c, struct tpl_template *t, const struct tpl_world *world, unsigned allow)
{
  memset(c, 0, sizeof *c);
  c->t = t;
  c->world = world;
  c->allow = allow;
  c->left = t->budget->work < TPL_MAX_JOB_SIZE ? t->budget->work : TPL_MAX_JOB_SIZE;
}

int plan_push(struct plan_ctx *c, const char *name, int index, struct tpl_error *err)
{
  if (c->nframes == PLAN_MAX_FRAMES) {
    return tpl_fail(err, "InvalidTemplate", "Copy loops are nested deeper than %d.", PLAN_MAX_FRAMES);
  }
  c->frames[c->nframes++] = (struct plan_frame){name, index};
  c->allow |= TPL_ALLOW_COPY_INDEX;
  return 0;
}

static struct tpl_eval eval_of(struct plan_ctx *c)
{
  return (struct tpl_eval){
      .world = c->world,
      .lookup = lookup,
      .ctx = c,
      .allow = c->allow,
      .resource_id_of = resource_id_of,
      .budget = &c->left,
  };
}

int plan_eval(struct plan_ctx *c, const char *s, json_t **out, struct tpl_error *err)
{
  struct tpl_eval ev = eval_of(c);
  err->path[0] = '\0';
  size_t before = c->left;
  int r = tpl_eval_string(&ev, s, out, err);
  size_t *work = &c->t->budget->work;
  *work -= before - c->left < *work ? before - c->left : *work;
  return r;
}

int plan_charge(struct plan_ctx *c, const json_t *v, const char *what, struct tpl_error *err)
{
  size_t size = tpl_json_size(v, c->left), *work = &c->t->budget->work;
  if (size > c->left)
    return tpl_too_big(err, what, c->left);
  c->left -= size;
  *work -= size < *work ? size : *work;
  return 0;
}

int plan_references(struct plan_ctx *c, const char *s, void (*found)(void *ctx, const char *name), void *ctx,
                    struct tpl_error *err)
{
  struct tpl_eval ev = eval_of(c);
  err->path[0] = '\0';
  size_t before = c->left;
  int r = tpl_expr_references(&ev, s, found, ctx, err);
  size_t *work = &c->t->budget->work;
  *work -= before - c->left < *work ? before - c->left : *work;
  return r;
}

int plan_names_unique(const struct tpl_template *t, const char *const *names, int n, const json_t *node,
                      const char *path, const char *kind, const char *verb, struct tpl_error *err)
{
  char at[64];
  for (int i = 0; i < n; i++)
    for (int j = 0; j < i; j++)
      if (!strcasecmp(names[i], names[j]))
        return plan_fail(t, node, path, err,
                         "The template %s '%s'%s is %s more than once: '%s' and '%s' are one name, as template "
                         "names are case-insensitive.",
                         kind, names[i], plan_at(t, node, at), verb, names[j], names[i]);
  return 0;
}

/* ---- the template object ---------------------------------------------------------- */
static const char *const known_members[] = {
    "$schema",   "contentVersion", "apiProfile", "parameters",      "variables",   "functions", "resources",
    "outputs",   "metadata",       "languageVersion", "definitions", NULL,
};

static int check_shape(struct tpl_template *t, bool root, struct tpl_error *err)
{
  const char *k;
  json_t *v;
  char at[64];
  if (!json_is_object(t->tmpl))
    return plan_fail(t, t->tmpl, t->path, err, "The template must be a JSON object.");
  json_object_foreach(t->tmpl, k, v) {
    int i = 0;
    while (known_members[i] && strcasecmp(known_members[i], k))
      i++;
    if (!known_members[i]) {
      struct tpl_pos p = {0, 0};
      tpl_pos_of(t->pos, v, &p);
      tpl_fail(err, "InvalidRequestContent",
               "The request content was invalid and could not be deserialized: 'Could not find member '%s' on "
               "object of type 'Template'. Path '%s.%s', line %d, position %d.'.",
               k, t->path, k, p.line, p.col);
      set_where(t, v, t->path, err);
      return -EINVAL;
    }
  }
  static const char *const refused[][2] = {
      {"languageVersion", "Templates with a 'languageVersion' (symbolic resource names, 'existing', user-defined "
                          "types and the other 2.0 features)"},
      {"functions", "User-defined functions"},
      {"definitions", "User-defined types"},
      {"apiProfile", "API profiles (give each resource its apiVersion)"},
  };
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    json_t *m = plan_member(t->tmpl, refused[i][0]);
    if (!m || (json_is_array(m) && !json_array_size(m)) || (json_is_object(m) && !json_object_size(m)))
      continue;
    char *path = plan_path(t->path, refused[i][0], 0);
    int r = plan_fail(t, m, path, err, "%s are not supported by vmrp: the template's '%s'%s.", refused[i][1],
                      refused[i][0], plan_at(t, m, at));
    free(path);
    return r;
  }
  if (!root)
    return 0;
  json_t *schema = plan_member(t->tmpl, "$schema");
  const char *s = json_string_value(schema);
  bool sub = t->world->scope == TPL_SCOPE_SUBSCRIPTION;
  const char *want = sub ? "/subscriptionDeploymentTemplate.json" : "/deploymentTemplate.json";
  if (!s || !strcasestr(s, want)) {
    char *path = plan_path(t->path, "$schema", 0);
    int r = plan_fail(t, schema ? schema : t->tmpl, path, err,
                      "The template schema '%s' is not supported for a deployment at %s scope. Supported "
                      "schemas are 'https://schema.management.azure.com/schemas/%s'. Please see "
                      "https://aka.ms/arm-template for usage details.",
                      s ? s : "", sub ? "subscription" : "resource group",
                      sub ? "2018-05-01/subscriptionDeploymentTemplate.json#"
                          : "2019-04-01/deploymentTemplate.json#");
    free(path);
    return r;
  }
  if (sub && t->world->mode && !strcasecmp(t->world->mode, "Complete"))
    return plan_fail(t, NULL, "properties.mode", err,
                     "The deployment mode 'Complete' is not supported for a deployment at subscription scope; only "
                     "deployments to a resource group can use it. Please see https://aka.ms/arm-deploy for usage "
                     "details.");
  size_t size = json_dumpb(t->tmpl, NULL, 0, JSON_COMPACT);
  if (size > TPL_MAX_JOB_SIZE) {
    tpl_fail(err, "DeploymentJobSizeExceeded",
             "The deployment template size '%zu' bytes exceeds the limit of '%u' bytes. Please see "
             "https://aka.ms/arm-deployment-size for usage details.",
             size, TPL_MAX_JOB_SIZE);
    set_where(t, t->tmpl, t->path, err);
    return -EINVAL;
  }
  return 0;
}

int plan_load(const struct tpl_input *in, struct tpl_template *outer, bool nested, struct plan_budget *budget,
              struct tpl_template **out, struct tpl_error *err)
{
  *out = NULL;
  struct tpl_template *t = calloc(1, sizeof *t);
  if (!t)
    return -ENOMEM;
  t->own = (struct plan_budget){PLAN_MAX_WORK, PLAN_MAX_TREE};
  t->budget = budget ? budget : &t->own;
  t->tmpl = in->template;
  t->pos = in->pos;
  t->world = in->world;
  t->outer = outer;
  int r = -ENOMEM;
  if (!(t->path = strdup(in->path ? in->path : "properties.template")))
    goto out;
  if ((r = check_shape(t, !nested, err)) < 0)
    goto out;
  if ((r = tpl_template_hash(t->tmpl, t->hash)) < 0)
    goto out;
  if (!outer && (r = params_load(t, in->parameters, err)) < 0)
    goto out;
  if (!outer && (r = vars_load(t, err)) < 0)
    goto out;
  if ((r = resources_load(t, err)) < 0)
    goto out;
  if ((r = deps_load(t, err)) < 0)
    goto out;
  if ((r = outputs_check(t, err)) < 0)
    goto out;
  *out = t;
  t = NULL;
out:
  tpl_free(t);
  return r;
}

int tpl_load(const struct tpl_input *in, struct tpl_template **out, struct tpl_error *err)
{
  return plan_load(in, NULL, false, NULL, out, err);
}

void tpl_free(struct tpl_template *t)
{
  if (!t)
    return;
  resources_free(t);
  vars_free(t);
  params_free(t);
  json_decref(t->deployment);
  free(t->path);
  free(t);
}

int tpl_count(const struct tpl_template *t)
{
  return t->nres;
}

const struct tpl_resource *tpl_get(const struct tpl_template *t, int i)
{
  return i >= 0 && i < t->nres ? &t->res[i].pub : NULL;
}

const char *tpl_hash(const struct tpl_template *t)
{
  return t->hash;
}
