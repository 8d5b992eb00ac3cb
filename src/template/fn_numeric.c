/*
 * fn_numeric.c — the numeric functions (docs: template-functions-numeric.md):
 * 64-bit integer arithmetic that fails on overflow instead of wrapping, and
 * copyIndex(), whose loop the planner answers.
 */
#include <errno.h>
#include <stdlib.h>

#include "template/internal.h"

enum op { ADD, SUB, MUL, DIV, MOD };

static int arith(struct tpl_call *c, json_t *const *args, enum op op, json_t **out)
{
  int64_t a, b, r = 0;
  int rc;
  if ((rc = tpl_arg_int(c, args, 0, &a)) < 0 || (rc = tpl_arg_int(c, args, 1, &b)) < 0)
    return rc;
  bool overflow = false;
  switch (op) {
  case ADD:
    overflow = __builtin_add_overflow(a, b, &r);
    break;
  case SUB:
    overflow = __builtin_sub_overflow(a, b, &r);
    break;
  case MUL:
    overflow = __builtin_mul_overflow(a, b, &r);
    break;
  case DIV:
  case MOD:
    if (b == 0)
      return tpl_call_fail(c, "The template language function '%s' cannot divide by zero.", c->fn->name);
    overflow = a == INT64_MIN && b == -1;
    r = overflow ? 0 : op == DIV ? a / b : a % b;
    break;
  }
  if (overflow)
    return tpl_call_fail(c, "The template language function '%s' overflowed: the result of %lld and %lld is beyond "
                            "a 64-bit integer.",
                         c->fn->name, (long long)a, (long long)b);
  return tpl_done(c, json_integer(r), out);
}

static int fn_add(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  return arith(c, args, ADD, out);
}

static int fn_sub(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  return arith(c, args, SUB, out);
}

static int fn_mul(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  return arith(c, args, MUL, out);
}

static int fn_div(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  return arith(c, args, DIV, out);
}

static int fn_mod(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  return arith(c, args, MOD, out);
}

/* int(): an integer, or a string holding one ('4'); a float is truncated. */
static int fn_int(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const json_t *v = args[0];
  if (json_is_integer(v))
    return tpl_done(c, json_incref((json_t *)v), out);
  if (json_is_real(v) && json_real_value(v) > -9.2e18 && json_real_value(v) < 9.2e18)
    return tpl_done(c, json_integer((json_int_t)json_real_value(v)), out);
  if (!json_is_string(v))
    return tpl_type_error(c, 0, v, "a string or an integer");
  const char *s = json_string_value(v);
  char *end;
  errno = 0;
  long long i = strtoll(s, &end, 10);
  if (!*s || *end || errno == ERANGE || *s == ' ' || *s == '\t')
    return tpl_call_fail(c, "The template language function 'int' expects its parameter to be an integer or a string "
                            "holding one. The provided value is '%s'.",
                         s);
  return tpl_done(c, json_integer(i), out);
}

/* float(): a number, or a string holding one; a JSON real. */
static int fn_float(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const json_t *v = args[0];
  if (json_is_number(v))
    return tpl_done(c, json_real(json_number_value(v)), out);
  if (!json_is_string(v))
    return tpl_type_error(c, 0, v, "a string or a number");
  const char *s = json_string_value(v);
  char *end;
  double d = strtod(s, &end);
  json_t *r = *s && !*end && *s != ' ' ? json_real(d) : NULL;
  if (!r)
    return tpl_call_fail(c, "The template language function 'float' expects its parameter to be a number or a string "
                            "holding one. The provided value is '%s'.",
                         s);
  *out = r;
  return 0;
}

/* min() and max(): of integers given one by one or as one array. */
static int extreme(struct tpl_call *c, json_t *const *args, int n, bool max, json_t **out)
{
  const json_t *list = n == 1 && json_is_array(args[0]) ? args[0] : NULL;
  size_t count = list ? json_array_size(list) : (size_t)n;
  if (count == 0)
    return tpl_call_fail(c, "The template language function '%s' expects at least one integer; the array is empty.",
                         c->fn->name);
  int64_t best = 0;
  for (size_t i = 0; i < count; i++) {
    const json_t *v = list ? json_array_get(list, i) : args[i];
    if (!json_is_integer(v))
      return tpl_call_fail(c, "The template language function '%s' expects its parameters to be integers or an array "
                              "of integers. The provided value is of type '%s'.",
                           c->fn->name, tpl_type_name(v));
    int64_t x = json_integer_value(v);
    if (i == 0 || (max ? x > best : x < best))
      best = x;
  }
  return tpl_done(c, json_integer(best), out);
}

static int fn_min(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  return extreme(c, args, n, false, out);
}

static int fn_max(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  return extreme(c, args, n, true, out);
}

/* copyIndex(), copyIndex(offset), copyIndex('loop'), copyIndex('loop', offset) */
static int fn_copy_index(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const char *loop = NULL;
  int64_t offset = 0;
  int rc = 0;
  if (!(c->ev->allow & TPL_ALLOW_COPY_INDEX) || !c->ev->lookup)
    return tpl_fail(c->err, "InvalidTemplate",
                    "The template function 'copyIndex' is not expected at this location. The function can only be "
                    "used with a resource, property, variable or output copy. Please see "
                    "https://aka.ms/arm-copy for usage details.");
  if (n == 2 && ((rc = tpl_arg_string(c, args, 0, &loop)) < 0 || (rc = tpl_arg_int(c, args, 1, &offset)) < 0))
    return rc;
  if (n == 1 && json_is_string(args[0]))
    loop = json_string_value(args[0]);
  else if (n == 1 && (rc = tpl_arg_int(c, args, 0, &offset)) < 0)
    return rc;
  json_t *index = NULL;
  if ((rc = c->ev->lookup(c->ev->ctx, TPL_COPY_INDEX, loop, &index, c->err)) < 0)
    return rc;
  int64_t sum;
  if (!json_is_integer(index) || __builtin_add_overflow(json_integer_value(index), offset, &sum))
    rc = tpl_call_fail(c, "The copy index with offset %lld is out of range.", (long long)offset);
  else if (!(*out = json_integer(sum)))
    rc = tpl_no_memory(c->err);
  json_decref(index);
  return rc;
}

const struct tpl_function tpl_fn_numeric[] = {
    {"add", fn_add, 2, 2, 0},
    {"copyIndex", fn_copy_index, 0, 2, 0},
    {"div", fn_div, 2, 2, 0},
    {"float", fn_float, 1, 1, 0},
    {"int", fn_int, 1, 1, 0},
    {"max", fn_max, 1, -1, 0},
    {"min", fn_min, 1, -1, 0},
    {"mod", fn_mod, 2, 2, 0},
    {"mul", fn_mul, 2, 2, 0},
    {"sub", fn_sub, 2, 2, 0},
    {NULL, NULL, 0, 0, 0},
};
