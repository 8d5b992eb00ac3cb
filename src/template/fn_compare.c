/*
 * fn_compare.c — the comparison functions (docs:
 * template-functions-comparison.md): coalesce, equals, less, lessOrEquals,
 * greater, greaterOrEquals.  Order is defined between two numbers or two
 * strings (ordinal: 'A' < 'a', as ARM compares); equality is deep.
 */
#include <errno.h>
#include <string.h>

#include "template/internal.h"

static int fn_coalesce(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  for (int i = 0; i < n; i++)
    if (!json_is_null(args[i]))
      return tpl_done(c, json_incref(args[i]), out);
  return tpl_done(c, json_null(), out);
}

static int fn_equals(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  return tpl_done(c, json_boolean(tpl_equal(args[0], args[1])), out);
}

/* <0, 0, >0 into *order, or the type error. */
static int compare(struct tpl_call *c, json_t *const *args, int *order)
{
  const json_t *a = args[0], *b = args[1];
  if (json_is_integer(a) && json_is_integer(b)) {
    json_int_t x = json_integer_value(a), y = json_integer_value(b);
    *order = (x > y) - (x < y);
  } else if (json_is_number(a) && json_is_number(b)) {
    double x = json_number_value(a), y = json_number_value(b);
    *order = (x > y) - (x < y);
  } else if (json_is_string(a) && json_is_string(b)) {
    *order = strcmp(json_string_value(a), json_string_value(b));
  } else {
    return tpl_call_fail(c, "The template language function '%s' expects its parameters to be of type integer and "
                            "integer or string and string. The provided value is of type '%s' and '%s'.",
                         c->fn->name, tpl_type_name(a), tpl_type_name(b));
  }
  return 0;
}

static int fn_less(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  int o, rc = compare(c, args, &o);
  return rc < 0 ? rc : tpl_done(c, json_boolean(o < 0), out);
}

static int fn_less_or_equals(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  int o, rc = compare(c, args, &o);
  return rc < 0 ? rc : tpl_done(c, json_boolean(o <= 0), out);
}

static int fn_greater(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  int o, rc = compare(c, args, &o);
  return rc < 0 ? rc : tpl_done(c, json_boolean(o > 0), out);
}

static int fn_greater_or_equals(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  int o, rc = compare(c, args, &o);
  return rc < 0 ? rc : tpl_done(c, json_boolean(o >= 0), out);
}

const struct tpl_function tpl_fn_compare[] = {
    {"coalesce", fn_coalesce, 1, -1, 0},
    {"equals", fn_equals, 2, 2, 0},
    {"greater", fn_greater, 2, 2, 0},
    {"greaterOrEquals", fn_greater_or_equals, 2, 2, 0},
    {"less", fn_less, 2, 2, 0},
    {"lessOrEquals", fn_less_or_equals, 2, 2, 0},
    {NULL, NULL, 0, 0, 0},
};
