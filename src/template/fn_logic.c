/*
 * fn_logic.c — the logical functions (docs: template-functions-logical.md):
 * and, or, not, if, bool, true, false.
 *
 * if() is lazy, as ARM documents it: only the branch the condition chooses
 * is evaluated, so `if(empty(x), 'none', x[0])` never indexes an empty
 * array.  and() and or() evaluate every argument (ARM gives no
 * short-circuit guarantee), so a wrong type anywhere is reported.
 */
#include <errno.h>
#include <strings.h>

#include "template/internal.h"

static int fn_and(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  bool all = true, b;
  for (int i = 0; i < n; i++) {
    int rc = tpl_arg_bool(c, args, i, &b);
    if (rc < 0)
      return rc;
    all = all && b;
  }
  return tpl_done(c, json_boolean(all), out);
}

static int fn_or(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  bool any = false, b;
  for (int i = 0; i < n; i++) {
    int rc = tpl_arg_bool(c, args, i, &b);
    if (rc < 0)
      return rc;
    any = any || b;
  }
  return tpl_done(c, json_boolean(any), out);
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
    {"and", fn_and, 2, -1, 0},
    {"bool", fn_bool, 1, 1, 0},
    {"false", fn_false, 0, 0, 0},
    {"if", fn_if, 3, 3, TPL_FN_LAZY},
    {"not", fn_not, 1, 1, 0},
    {"or", fn_or, 2, -1, 0},
    {"true", fn_true, 0, 0, 0},
    {NULL, NULL, 0, 0, 0},
};
