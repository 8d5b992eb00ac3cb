/*
 * fn_logic.c — the logical functions (docs: template-functions-logical.md):
 * and, or, not, if, bool, true, false.
 *
 * if(), and() and or() are lazy, as ARM evaluates them: only the branch the
 * condition chooses is evaluated, so `if(empty(x), 'none', x[0])` never
 * indexes an empty array, and and()/or() stop at the first argument that
 * decides.
 */
#include <errno.h>
#include <strings.h>

#include "template/internal.h"

/* and() / or(): the arguments in order until one decides (false for and,
 * true for or); the rest are not evaluated, as ARM short-circuits
 * (`and(not(empty(a)), a[0].x)` deploys in Azure). */
static int junction(struct tpl_call *c, int n, bool decides, json_t **out)
{
  for (int i = 0; i < n; i++) {
    json_t *v = NULL;
    int rc = tpl_call_arg(c, i, &v);
    if (rc == 0 && !json_is_boolean(v))
      rc = tpl_type_error(c, i, v, "of type 'Boolean'");
    bool b = json_is_true(v);
    json_decref(v);
    if (rc < 0)
      return rc;
    if (b == decides)
      return tpl_done(c, json_boolean(decides), out);
  }
  return tpl_done(c, json_boolean(!decides), out);
}

static int fn_and(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  return junction(c, n, false, out);
}

static int fn_or(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  return junction(c, n, true, out);
}

static int fn_not(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  bool b;
  int rc = tpl_arg_bool(c, args, 0, &b);
  return rc < 0 ? rc : tpl_done(c, json_boolean(!b), out);
}

static int fn_if(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  json_t *cond = NULL;
  int rc = tpl_call_arg(c, 0, &cond);
  if (rc == 0 && !json_is_boolean(cond))
    rc = tpl_type_error(c, 0, cond, "of type 'Boolean'");
  if (rc == 0)
    rc = tpl_call_arg(c, json_is_true(cond) ? 1 : 2, out);
  json_decref(cond);
  return rc;
}

/* bool(): a boolean, 'true'/'false' in any case, or an integer (0 false). */
static int fn_bool(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const json_t *v = args[0];
  if (json_is_boolean(v))
    return tpl_done(c, json_incref((json_t *)v), out);
  if (json_is_integer(v))
    return tpl_done(c, json_boolean(json_integer_value(v) != 0), out);
  if (json_is_string(v) && (!strcasecmp(json_string_value(v), "true") || !strcasecmp(json_string_value(v), "false")))
    return tpl_done(c, json_boolean(!strcasecmp(json_string_value(v), "true")), out);
  if (json_is_string(v))
    return tpl_call_fail(c, "The template language function 'bool' expects its parameter to be 'true' or 'false'. "
                            "The provided value is '%s'.",
                         json_string_value(v));
  return tpl_type_error(c, 0, v, "a string, an integer or a boolean");
}

static int fn_true(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  return tpl_done(c, json_true(), out);
}

static int fn_false(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  return tpl_done(c, json_false(), out);
}

const struct tpl_function tpl_fn_logic[] = {
    {"and", fn_and, 1, -1, TPL_FN_LAZY},
    {"bool", fn_bool, 1, 1, 0},
    {"false", fn_false, 0, 0, 0},
    {"if", fn_if, 3, 3, TPL_FN_LAZY},
    {"not", fn_not, 1, 1, 0},
    {"or", fn_or, 1, -1, TPL_FN_LAZY},
    {"true", fn_true, 0, 0, 0},
    {NULL, NULL, 0, 0, 0},
};
