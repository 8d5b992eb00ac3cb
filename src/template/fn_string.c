/*
 * fn_string.c — the string functions (docs: template-functions-string.md).
 *
 * Strings are UTF-8; lengths and positions count characters (code points:
 * ARM counts UTF-16 units, the same outside the astral planes).  Case
 * changes and the case-insensitive comparisons of indexOf, startsWith and
 * endsWith fold ASCII letters only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "template/internal.h"

/* concat(): strings, integers and booleans as text (nulls skipped), or
 * arrays when every argument is one (TEMPLATES.md §3.3). */
static int fn_concat(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  int arrays = 0, others = 0;
  for (int i = 0; i < n; i++) {
    if (json_is_array(args[i]))
      arrays++;
    else if (!json_is_null(args[i]))
      others++;
    if (json_is_object(args[i]))
      return tpl_type_error(c, i, args[i], "a string, an integer, a boolean or an array");
  }
  if (arrays > 0 && others > 0)
    return tpl_call_fail(c, "The provided parameters for language function 'concat' are invalid. Either all or none "
                            "of the parameters must be an array.");
  if (arrays > 0) {
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
      if (json_is_array(args[i]) && json_array_extend(a, args[i]) < 0) {
        json_decref(a);
        a = NULL;
      }
    return (*out = a) ? 0 : tpl_no_memory(c->err);
  }
  struct tpl_buf b = {0};
  for (int i = 0; i < n; i++) {
    if (json_is_string(args[i])) {
      tpl_buf_add(&b, json_string_value(args[i]), json_string_length(args[i]));
    } else if (!json_is_null(args[i])) {
      char *t = tpl_to_text(args[i]);
      if (!t)
        b.oom = true;
      else
        tpl_buf_str(&b, t);
      free(t);
    }
  }
  return (*out = tpl_buf_json(&b)) ? 0 : tpl_no_memory(c->err);
}

const struct tpl_function tpl_fn_string[] = {
    {"concat", fn_concat, 1, -1, 0},
    {NULL, NULL, 0, 0, 0},
};
