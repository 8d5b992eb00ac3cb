/*
 * params.c — a template's parameters: declarations, the values supplied
 * with the deployment, defaults, the checks ARM makes, the view a
 * deployment shows and the secrets the engine must mask.
 *
 * Supplied values are taken as they are: never evaluated ("[x]" stays a
 * string) and never coerced (an int parameter given "5" is refused, as ARM
 * refuses it).  Defaults are expressions, evaluated in declaration order on
 * first need (a default may use another parameter; a cycle is an error) with
 * utcNow() and newGuid() allowed, and checked like supplied values.  Secure
 * values stay in this struct: the view carries their type only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "template/plan.h"

static const struct {
  const char *type, *view, *token;
} types[] = {
    {"string", "String", "String"},       {"securestring", "SecureString", "String"},
    {"int", "Int", "Integer"},            {"bool", "Bool", "Boolean"},
    {"object", "Object", "Object"},       {"secureobject", "SecureObject", "Object"},
    {"array", "Array", "Array"},
};
#define NTYPES (int)(sizeof types / sizeof types[0])

int plan_type(const char *declared)
{
  for (int i = 0; declared && i < NTYPES; i++)
    if (!strcasecmp(types[i].type, declared))
      return i;
  return -1;
}

const char *plan_type_view(int type)
{
  return types[type].view;
}

bool plan_type_secure(int type)
{
  return !strncmp(types[type].type, "secure", 6);
}

/* Newtonsoft's JTokenType name of a value. */
const char *plan_token_name(const json_t *v)
{
  switch (json_typeof(v)) {
  case JSON_OBJECT: return "Object";
  case JSON_ARRAY: return "Array";
  case JSON_STRING: return "String";
  case JSON_INTEGER: return "Integer";
  case JSON_REAL: return "Float";
  case JSON_TRUE:
  case JSON_FALSE: return "Boolean";
  case JSON_NULL: return "Null";
  }
  return "Undefined";
}

bool plan_type_matches(int type, const json_t *v)
{
  return !strcmp(types[type].token, plan_token_name(v));
}

const char *plan_type_token(int type)
{
  return types[type].token;
}

static struct plan_param *find(struct tpl_template *t, const char *name)
{
  for (int i = 0; i < t->nparams; i++)
    if (!strcasecmp(t->params[i].name, name))
      return &t->params[i];
  return NULL;
}

/* allowedValues as ARM lists them: 'a,b,c'. */
static void allowed_text(const json_t *allowed, char *buf, size_t size)
{
  size_t n = 0;
  size_t i;
  json_t *v;
  buf[0] = '\0';
  json_array_foreach(allowed, i, v) {
    char *text = json_is_string(v) ? strdup(json_string_value(v)) : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (n < size)
      n += snprintf(buf + n, size - n, "%s%s", i ? "," : "", text ? text : "");
    free(text);
  }
}

static bool allowed(const json_t *list, const json_t *v)
{
  size_t i;
  json_t *a;
  json_array_foreach(list, i, a)
    if (json_equal(a, v))
      return true;
  return false;
}

/* The checks of allowedValues, min/max value and length on a value. */
static int check_value(struct tpl_template *t, struct plan_param *p, const char *path, struct tpl_error *err)
{
  char at[64], text[1024];
  const json_t *v = p->value;
  const char *see = "Please see https://aka.ms/arm-deploy/#parameter-file for usage details.";
  json_t *list = plan_member(p->decl, "allowedValues");
  if (json_is_array(list)) {
    bool ok = true;
    if (json_is_array(v) && !strcmp(types[p->type].type, "array")) {
      size_t i;
      json_t *e;
      json_array_foreach(v, i, e)
        ok = ok && allowed(list, e);
    } else {
      ok = allowed(list, v);
    }
    if (!ok) {
      char *shown = p->secure ? NULL : json_is_string(v) ? strdup(json_string_value(v))
                                                        : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
      allowed_text(list, text, sizeof text);
      int r = plan_fail(t, p->decl, path, err,
                        "The provided value '%s' for the template parameter '%s'%s is not valid. The parameter value "
                        "is not part of the allowed value(s): '%s'.",
                        shown ? shown : "", p->name, plan_at(t, p->decl, at), text);
      free(shown);
      return r;
    }
  }
  long long n;
  json_t *lim;
  if (json_is_integer(v)) {
    if ((lim = plan_member(p->decl, "minValue")) && !plan_integer(lim, &n) && json_integer_value(v) < n)
      return plan_fail(t, p->decl, path, err,
                       "The provided value for the template parameter '%s'%s is not valid. The value should be "
                       "greater than or equal to '%lld'. %s",
                       p->name, plan_at(t, p->decl, at), n, see);
    if ((lim = plan_member(p->decl, "maxValue")) && !plan_integer(lim, &n) && json_integer_value(v) > n)
      return plan_fail(t, p->decl, path, err,
                       "The provided value for the template parameter '%s'%s is not valid. The value should be "
                       "less than or equal to '%lld'. %s",
                       p->name, plan_at(t, p->decl, at), n, see);
  }
  long long len = json_is_string(v) ? (long long)json_string_length(v)
                  : json_is_array(v) ? (long long)json_array_size(v)
                                     : -1;
  if (len >= 0) {
    if ((lim = plan_member(p->decl, "minLength")) && !plan_integer(lim, &n) && len < n)
      return plan_fail(t, p->decl, path, err,
                       "The provided value for the template parameter '%s'%s is not valid. Length of the value "
                       "should be greater than or equal to '%lld'. %s",
                       p->name, plan_at(t, p->decl, at), n, see);
    if ((lim = plan_member(p->decl, "maxLength")) && !plan_integer(lim, &n) && len > n)
      return plan_fail(t, p->decl, path, err,
                       "The provided value for the template parameter '%s'%s is not valid. Length of the value "
                       "should be less than or equal to '%lld'. %s",
                       p->name, plan_at(t, p->decl, at), n, see);
  }
  return 0;
}

static int resolve(struct tpl_template *t, struct plan_param *p, struct tpl_error *err)
{
  char at[64];
  char *path = plan_path(t->path, "parameters", 0);
  char *ppath = path ? plan_path(path, p->name, 0) : NULL;
  int r = -ENOMEM;
  if (!ppath)
    goto out;
  if (!p->value) {
    json_t *def = plan_member(p->decl, "defaultValue");
    if (!def) {
      r = plan_fail(t, p->decl, ppath, err,
                    "The value for the template parameter '%s'%s is not provided. Please see "
                    "https://aka.ms/arm-create-parameter-file for usage details.",
                    p->name, plan_at(t, p->decl, at));
      goto out;
    }
    struct plan_ctx c;
    plan_ctx_init(&c, t, t->world, TPL_ALLOW_NOW);
    c.no_variables = true;
    char what[512];
    snprintf(what, sizeof what, "The template parameter '%s'", p->name);
    p->resolving = true;
    r = body_eval(&c, def, ppath, what, false, &p->value, err);
    p->resolving = false;
    if (r < 0)
      goto out;
    if (!plan_type_matches(p->type, p->value)) {
      r = plan_fail(t, def, ppath, err,
                    "The default value of the template parameter '%s'%s is not valid. Expected a value of type "
                    "'%s', but received a value of type '%s'.",
                    p->name, plan_at(t, def, at), types[p->type].token, plan_token_name(p->value));
      goto out;
    }
  }
  r = check_value(t, p, ppath, err);
out:
  free(ppath);
  free(path);
  return r;
}

int params_get(struct tpl_template *t, const char *name, json_t **out, struct tpl_error *err)
{
  struct plan_param *p = find(t, name);
  if (!p)
    return tpl_fail(err, "InvalidTemplate",
                    "The template parameter '%s' is not found. Please see https://aka.ms/arm-template/#parameters for "
                    "usage details.",
                    name);
  if (!p->value && p->resolving)
    return tpl_fail(err, "InvalidTemplate",
                    "The template parameter '%s' is referenced in a circular manner by the default values of "
                    "parameters.",
                    p->name);
  if (!p->value) {
    /* a default used before its turn: resolve it now, with its own
     * position in the error */
    struct tpl_error inner = {0};
    int r = resolve(t, p, &inner);
    if (r < 0) {
      *err = inner;
      return r;
    }
  }
  *out = json_incref(p->value);
  return 0;
}

/* The supplied entry of a parameter: its value (borrowed) or NULL. */
static int supplied_value(struct tpl_template *t, json_t *supplied, struct plan_param *p, json_t **value,
                          struct tpl_error *err)
{
  const char *k;
  json_t *e;
  *value = NULL;
  json_object_foreach(supplied, k, e) {
    if (strcasecmp(k, p->name))
      continue;
    char *path = plan_path("properties.parameters", k, 0);
    int r = 0;
    if (plan_member(e, "reference"))
      r = plan_fail(t, e, path, err,
                    "The value of the template parameter '%s' is a Key Vault reference; Key Vault references are "
                    "not supported by vmrp (it has no Key Vault). Pass the value itself.",
                    p->name);
    else if (!json_is_object(e))
      r = plan_fail(t, e, path, err,
                    "The template parameter '%s' must be given as an object with a 'value' member.", p->name);
    else
      *value = plan_member(e, "value");
    free(path);
    return r;
  }
  return 0;
}

static int check_extra(struct tpl_template *t, json_t *supplied, struct tpl_error *err)
{
  char extra[1024] = "", known[1024] = "";
  size_t ne = 0, nk = 0;
  const char *k;
  json_t *e;
  json_object_foreach(supplied, k, e)
    if (!find(t, k) && ne < sizeof extra)
      ne += snprintf(extra + ne, sizeof extra - ne, "%s%s", ne ? ", " : "", k);
  if (!ne)
    return 0;
  for (int i = 0; i < t->nparams && nk < sizeof known; i++)
    nk += snprintf(known + nk, sizeof known - nk, "%s%s", i ? ", " : "", t->params[i].name);
  return plan_fail(t, supplied, "properties.parameters", err,
                   "The template parameters '%s' in the parameters file are not valid; they are not present in the "
                   "original template and can therefore not be provided at deployment time. The only supported "
                   "parameters for this template are '%s'.",
                   extra, known);
}

static void add_secrets(struct tpl_template *t, const json_t *v, size_t *cap)
{
  if (json_is_string(v)) {
    if ((size_t)t->nsecrets == *cap) {
      size_t n = *cap ? 2 * *cap : 8;
      const char **s = realloc(t->secrets, n * sizeof *s);
      if (!s)
        return;
      t->secrets = s;
      *cap = n;
    }
    t->secrets[t->nsecrets++] = json_string_value(v);
  } else if (json_is_object(v)) {
    const char *k;
    json_t *m;
    json_object_foreach((json_t *)v, k, m)
      add_secrets(t, m, cap);
  } else if (json_is_array(v)) {
    size_t i;
    json_t *m;
    json_array_foreach(v, i, m)
      add_secrets(t, m, cap);
  }
}

int params_load(struct tpl_template *t, json_t *supplied, struct tpl_error *err)
{
  json_t *decls = plan_member(t->tmpl, "parameters");
  char *path = plan_path(t->path, "parameters", 0);
  char at[64];
  int r = -ENOMEM;
  if (!path)
    goto out;
  if (decls && !json_is_object(decls)) {
    r = plan_fail(t, decls, path, err, "The template 'parameters' must be an object.");
    goto out;
  }
  if (supplied && !json_is_object(supplied)) {
    r = plan_fail(t, supplied, "properties.parameters", err, "The deployment 'parameters' must be an object.");
    goto out;
  }
  size_t n = json_object_size(decls);
  if (n > TPL_MAX_PARAMETERS) {
    r = plan_fail(t, decls, path, err,
                  "The number of template parameters limit exceeded. Limit: '%d' and actual: '%zu'.",
                  TPL_MAX_PARAMETERS, n);
    goto out;
  }
  if (n && !(t->params = calloc(n, sizeof *t->params)))
    goto out;
  const char *k;
  json_t *d;
  json_object_foreach(decls, k, d) {
    struct plan_param *p = &t->params[t->nparams++];
    p->name = k;
    p->decl = d;
    const char *type = json_string_value(plan_member(d, "type"));
    if ((p->type = plan_type(type)) < 0) {
      char *ppath = plan_path(path, k, 0);
      r = plan_fail(t, d, ppath, err,
                    "The template parameter '%s'%s has an invalid type '%s'. The supported types are 'string, "
                    "securestring, int, bool, object, secureobject, array'.",
                    k, plan_at(t, d, at), type ? type : "");
      free(ppath);
      goto out;
    }
    p->secure = plan_type_secure(p->type);
  }
  const char *names[TPL_MAX_PARAMETERS];
  for (int i = 0; i < t->nparams; i++)
    names[i] = t->params[i].name;
  if ((r = plan_names_unique(t, names, t->nparams, decls, path, "parameter", "declared", err)) < 0 ||
      (r = check_extra(t, supplied, err)) < 0)
    goto out;
  /* each supplied name is a declared one now: past nparams of them, two are one name */
  const char *given[TPL_MAX_PARAMETERS + 1];
  int ngiven = 0;
  json_object_foreach(supplied, k, d) {
    if (ngiven > t->nparams)
      break;
    given[ngiven++] = k;
  }
  if ((r = plan_names_unique(t, given, ngiven, supplied, "properties.parameters", "parameter", "given", err)) < 0)
    goto out;
  /* supplied values first, so that a default may use any of them */
  for (int i = 0; i < t->nparams; i++) {
    struct plan_param *p = &t->params[i];
    json_t *v;
    if ((r = supplied_value(t, supplied, p, &v, err)) < 0)
      goto out;
    if (!v)
      continue;
    if (!plan_type_matches(p->type, v)) {
      char *ppath = plan_path(path, p->name, 0);
      r = plan_fail(t, p->decl, ppath, err,
                    "The provided value for the template parameter '%s'%s is not valid. Expected a value of type "
                    "'%s', but received a value of type '%s'. Please see "
                    "https://aka.ms/arm-create-parameter-file for usage details.",
                    p->name, plan_at(t, p->decl, at), types[p->type].token, plan_token_name(v));
      free(ppath);
      goto out;
    }
    p->value = json_incref(v);
    char *ppath = plan_path(path, p->name, 0);
    r = ppath ? check_value(t, p, ppath, err) : -ENOMEM;
    free(ppath);
    if (r < 0)
      goto out;
  }
  for (int i = 0; i < t->nparams; i++)
    if (!t->params[i].value && (r = resolve(t, &t->params[i], err)) < 0)
      goto out;
  size_t cap = 0;
  for (int i = 0; i < t->nparams; i++)
    if (t->params[i].secure)
      add_secrets(t, t->params[i].value, &cap);
  t->params_done = true;
  r = 0;
out:
  free(path);
  return r;
}

void params_free(struct tpl_template *t)
{
  for (int i = 0; i < t->nparams; i++)
    json_decref(t->params[i].value);
  free(t->params);
  free(t->secrets);
}

json_t *tpl_parameters_view(const struct tpl_template *t)
{
  json_t *view = json_object();
  for (int i = 0; view && i < t->nparams; i++) {
    const struct plan_param *p = &t->params[i];
    json_t *e = json_pack("{s:s}", "type", types[p->type].view);
    if (e && !p->secure && p->value)
      json_object_set(e, "value", p->value);
    json_object_set_new(view, p->name, e);
  }
  return view;
}

int tpl_secrets(const struct tpl_template *t, const char *const **out)
{
  *out = t->secrets;
  return t->nsecrets;
}
