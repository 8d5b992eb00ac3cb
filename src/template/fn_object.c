/*
 * fn_object.c — the object functions (docs: template-functions-object.md):
 * createObject, json, null, items, objectKeys, tryGet, shallowMerge.
 * json() reads with the template reader, so it accepts what ARM's reader
 * does (single quotes, comments).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "template/internal.h"

static int fn_create_object(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  if (n % 2)
    return tpl_call_fail(c, "The template language function 'createObject' must have an even number of parameters: "
                            "pairs of a property name and its value; %d were provided.",
                         n);
  json_t *o = json_object();
  for (int i = 0; o && i < n; i += 2) {
    if (!json_is_string(args[i])) {
      json_decref(o);
      return tpl_type_error(c, i, args[i], "a string (a property name)");
    }
    if (json_object_set(o, json_string_value(args[i]), args[i + 1]) < 0) {
      json_decref(o);
      o = NULL;
    }
  }
  return tpl_done(c, o, out);
}

static int fn_json(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const char *text;
  int rc = tpl_arg_string(c, args, 0, &text);
  if (rc < 0)
    return rc;
  struct tpl_error err = {0};
  json_t *v = NULL;
  if ((rc = tpl_read(text, json_string_length(args[0]), &v, NULL, &err)) == -ENOMEM)
    return tpl_no_memory(c->err);
  if (rc < 0)
    return tpl_call_fail(c, "The template language function 'json' expects its parameter to be a valid JSON string; "
                            "it is not (line %d, position %d).",
                         err.line, err.col);
  *out = v;
  return 0;
}

static int fn_null(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  *out = json_null();
  return 0;
}

static int by_key(const void *a, const void *b)
{
  const char *ka = *(const char *const *)a, *kb = *(const char *const *)b;
  int d = strcasecmp(ka, kb);
  return d ? d : strcmp(ka, kb);
}

/* items(): [{"key": k, "value": v}, …] in the alphabetical order of the
 * keys, as ARM sorts them. */
static int fn_items(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  if (!json_is_object(args[0]))
    return tpl_type_error(c, 0, args[0], "of type 'Object'");
  size_t count = json_object_size(args[0]), k = 0;
  CLEANUP_FREE const char **keys = calloc(count + 1, sizeof *keys);
  if (!keys)
    return tpl_no_memory(c->err);
  const char *key;
  json_t *v;
  json_object_foreach(args[0], key, v) {
    keys[k++] = key;
  }
  qsort(keys, count, sizeof *keys, by_key);
  json_t *a = json_array();
  for (k = 0; a && k < count; k++)
    if (json_array_append_new(a, json_pack("{s:s, s:O}", "key", keys[k], "value", json_object_get(args[0], keys[k]))) <
        0) {
      json_decref(a);
      a = NULL;
    }
  return tpl_done(c, a, out);
}

static int fn_object_keys(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  if (!json_is_object(args[0]))
    return tpl_type_error(c, 0, args[0], "of type 'Object'");
  json_t *a = json_array();
  const char *key;
  json_t *v;
  json_object_foreach(args[0], key, v) {
    if (a && json_array_append_new(a, json_string(key)) < 0) {
      json_decref(a);
      a = NULL;
    }
  }
  return tpl_done(c, a, out);
}

/* tryGet(object, key…): the value down the path of keys (strings into
 * objects, integers into arrays), null where one is missing. */
static int fn_try_get(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const json_t *v = args[0];
  for (int i = 1; v && i < n; i++) {
    if (json_is_string(args[i]) && json_is_object(v))
      v = tpl_member(v, json_string_value(args[i]), NULL);
    else if (json_is_integer(args[i]) && json_is_array(v))
      v = json_integer_value(args[i]) >= 0 ? json_array_get(v, (size_t)json_integer_value(args[i])) : NULL;
    else if (json_is_string(args[i]) || json_is_integer(args[i]))
      v = NULL;
    else
      return tpl_type_error(c, i, args[i], "a string or an integer");
  }
  return tpl_done(c, v ? json_incref((json_t *)v) : json_null(), out);
}

static int fn_shallow_merge(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  if (!json_is_array(args[0]))
    return tpl_type_error(c, 0, args[0], "an array of objects");
  json_t *o = json_object();
  size_t i;
  json_t *v;
  json_array_foreach(args[0], i, v) {
    if (!json_is_object(v)) {
      json_decref(o);
      return tpl_call_fail(c, "The template language function 'shallowMerge' expects its parameter to be an array "
                              "of objects. The element at index %zu is of type '%s'.",
                           i, tpl_type_name(v));
    }
    if (o && json_object_update(o, v) < 0) {
      json_decref(o);
      o = NULL;
    }
  }
  return tpl_done(c, o, out);
}

const struct tpl_function tpl_fn_object[] = {
    {"createObject", fn_create_object, 0, -1, 0},
    {"items", fn_items, 1, 1, 0},
    {"json", fn_json, 1, 1, 0},
    {"null", fn_null, 0, 0, 0},
    {"objectKeys", fn_object_keys, 1, 1, 0},
    {"shallowMerge", fn_shallow_merge, 1, 1, 0},
    {"tryGet", fn_try_get, 2, -1, 0},
    {NULL, NULL, 0, 0, 0},
};
