/*
 * fn_numeric.c — the numeric functions (docs: template-functions-numeric.md):
 * 64-bit integer arithmetic that fails on overflow instead of wrapping, and
 * copyIndex(), whose loop the planner answers.
 */
#include <errno.h>

#include "template/internal.h"

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
    {"copyIndex", fn_copy_index, 0, 2, 0},
    {NULL, NULL, 0, 0, 0},
};
