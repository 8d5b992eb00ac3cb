/*
 * fn_array.c — the array functions and their string and object cousins
 * (docs: template-functions-array.md): array, createArray, contains, empty,
 * first, last, length, skip, take, union, intersection, range, flatten.
 *
 * Arguments are borrowed: every result is a new value (json_deep_copy or a
 * fresh container holding increfs of the inputs' members), never an input
 * changed in place, since an input may be a parameter's own value.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "template/internal.h"

static int fn_array(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  if (json_is_array(args[0]))
    return tpl_done(c, json_incref(args[0]), out);
  return tpl_done(c, json_pack("[O]", args[0]), out);
}

static int fn_create_array(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  json_t *a = json_array();
  for (int i = 0; a && i < n; i++)
    if (json_array_append(a, args[i]) < 0) {
      json_decref(a);
      a = NULL;
    }
  return tpl_done(c, a, out);
}

static int fn_contains(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const json_t *box = args[0], *item = args[1];
  bool found = false;
  if (json_is_string(box)) {
    CLEANUP_FREE char *text = tpl_to_text(item);
    if (!text)
      return tpl_no_memory(c->err);
    found = strstr(json_string_value(box), text) != NULL; /* case-sensitive */
  } else if (json_is_object(box)) {
    CLEANUP_FREE char *key = tpl_to_text(item);
    if (!key)
      return tpl_no_memory(c->err);
    found = tpl_member(box, key, NULL) != NULL; /* keys: case-insensitive */
  } else if (json_is_array(box)) {
    size_t i;
    json_t *v;
    json_array_foreach(box, i, v) {
      if (tpl_equal(v, item)) {
        found = true;
        break;
      }
    }
  } else {
    return tpl_type_error(c, 0, box, "an array, an object, or a string");
  }
  return tpl_done(c, json_boolean(found), out);
}

static int fn_empty(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const json_t *v = args[0];
  if (json_is_null(v))
    return tpl_done(c, json_true(), out);
  if (json_is_string(v))
    return tpl_done(c, json_boolean(json_string_length(v) == 0), out);
  if (json_is_array(v))
    return tpl_done(c, json_boolean(json_array_size(v) == 0), out);
  if (json_is_object(v))
    return tpl_done(c, json_boolean(json_object_size(v) == 0), out);
  return tpl_call_fail(c, "The template function 'empty' expects its parameter to be an object, an array, or a "
                          "string. The provided value is of type '%s'.",
                       tpl_type_name(v));
}

/* first() and last(): an element, a character; null / "" when empty. */
static int end_of(struct tpl_call *c, json_t *const *args, bool last, json_t **out)
{
  const json_t *v = args[0];
  if (json_is_array(v)) {
    size_t size = json_array_size(v);
    return tpl_done(c, size ? json_incref(json_array_get(v, last ? size - 1 : 0)) : json_null(), out);
  }
  if (!json_is_string(v))
    return tpl_call_fail(c, "The template language function '%s' expects its parameter be an array or a string. The "
                            "provided value is of type '%s'.",
                         c->fn->name, tpl_type_name(v));
  const char *s = json_string_value(v);
  size_t len = json_string_length(v), chars = tpl_utf8_chars(s, len);
  size_t from = chars == 0 ? 0 : tpl_utf8_offset(s, len, last ? (int64_t)chars - 1 : 0);
  size_t to = chars == 0 ? 0 : tpl_utf8_offset(s, len, last ? (int64_t)chars : 1);
  return tpl_done(c, tpl_string_n(s + from, to - from), out);
}

static int fn_first(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  return end_of(c, args, false, out);
}

static int fn_last(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  return end_of(c, args, true, out);
}

static int fn_length(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const json_t *v = args[0];
  size_t len;
  if (json_is_string(v))
    len = tpl_utf8_chars(json_string_value(v), json_string_length(v));
  else if (json_is_array(v))
    len = json_array_size(v);
  else if (json_is_object(v))
    len = json_object_size(v);
  else
    return tpl_type_error(c, 0, v, "an array, an object, or a string");
  return tpl_done(c, json_integer((json_int_t)len), out);
}

/* skip() and take(): counts clamped to 0..length, as documented. */
static int slice(struct tpl_call *c, json_t *const *args, bool take, json_t **out)
{
  int64_t k;
  int rc = tpl_arg_int(c, args, 1, &k);
  if (rc < 0)
    return rc;
  if (k < 0)
    k = 0;
  const json_t *v = args[0];
  if (json_is_array(v)) {
    size_t size = json_array_size(v), cut = (uint64_t)k > size ? size : (size_t)k;
    size_t from = take ? 0 : cut, to = take ? cut : size;
    json_t *a = json_array();
    for (size_t i = from; a && i < to; i++)
      if (json_array_append(a, json_array_get(v, i)) < 0) {
        json_decref(a);
        a = NULL;
      }
    return tpl_done(c, a, out);
  }
  if (!json_is_string(v))
    return tpl_type_error(c, 0, v, "an array or a string");
  const char *s = json_string_value(v);
  size_t len = json_string_length(v), cut = tpl_utf8_offset(s, len, k);
  return tpl_done(c, take ? tpl_string_n(s, cut) : tpl_string_n(s + cut, len - cut), out);
}

static int fn_skip(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  return slice(c, args, false, out);
}

static int fn_take(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  return slice(c, args, true, out);
}

/* Elements union() and intersection() compare with each other, each
 * with each (ARM's documented order kept, no hashing): beyond it they
 * would take the daemon minutes. */
#define MAX_SET_ELEMENTS 16384

/* All arguments arrays, or all objects: 1 / 2; -EINVAL with the error. */
static int same_kind(struct tpl_call *c, json_t *const *args, int n)
{
  bool arrays = json_is_array(args[0]);
  size_t total = 0;
  for (int i = 0; i < n; i++) {
    if (arrays ? !json_is_array(args[i]) : !json_is_object(args[i]))
      return tpl_call_fail(c, "The template language function '%s' expects its parameters to be either all arrays "
                              "or all objects. The provided value is of type '%s'.",
                           c->fn->name, tpl_type_name(args[i]));
    total += arrays ? json_array_size(args[i]) : json_object_size(args[i]);
  }
  if (arrays && total > MAX_SET_ELEMENTS)
    return tpl_call_fail(c, "The template language function '%s' takes arrays of at most %d elements together in "
                            "vmrp; they have %zu.",
                         c->fn->name, MAX_SET_ELEMENTS, total);
  int rc = tpl_room_for(c, total);
  return rc < 0 ? rc : arrays ? 1 : 2;
}

static bool array_has(const json_t *a, const json_t *v)
{
  size_t i;
  json_t *x;
  json_array_foreach(a, i, x) {
    if (tpl_equal(x, v))
      return true;
  }
  return false;
}

/* Objects: later members replace earlier ones, and two objects under one
 * name are merged the same way (the documented deep merge). */
static json_t *merge(const json_t *into, const json_t *from)
{
  json_t *r = json_copy((json_t *)into);
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)from, k, v) {
    if (!r)
      break;
    json_t *old = json_object_get(r, k);
    json_t *nv = json_is_object(old) && json_is_object(v) ? merge(old, v) : json_incref(v);
    if (!nv || json_object_set_new(r, k, nv) < 0) {
      json_decref(r);
      r = NULL;
    }
  }
  return r;
}

static int fn_union(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  int kind = same_kind(c, args, n);
  if (kind < 0)
    return kind;
  json_t *r = kind == 1 ? json_array() : json_object();
  for (int i = 0; r && i < n; i++) {
    if (kind == 2) {
      json_t *m = merge(r, args[i]);
      json_decref(r);
      r = m;
      continue;
    }
    size_t k;
    json_t *v;
    json_array_foreach(args[i], k, v) {
      if (!array_has(r, v) && json_array_append(r, v) < 0) {
        json_decref(r);
        r = NULL;
        break;
      }
    }
  }
  return tpl_done(c, r, out);
}

static int fn_intersection(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  int kind = same_kind(c, args, n);
  if (kind < 0)
    return kind;
  json_t *r = kind == 1 ? json_array() : json_object();
  if (kind == 1) {
    size_t k;
    json_t *v;
    json_array_foreach(args[0], k, v) {
      bool everywhere = !array_has(r, v);
      for (int i = 1; everywhere && i < n; i++)
        everywhere = array_has(args[i], v);
      if (r && everywhere && json_array_append(r, v) < 0) {
        json_decref(r);
        r = NULL;
      }
    }
  } else {
    const char *k;
    json_t *v;
    json_object_foreach(args[0], k, v) {
      bool everywhere = true;
      for (int i = 1; everywhere && i < n; i++) {
        json_t *other = json_object_get(args[i], k);
        everywhere = other && tpl_equal(other, v);
      }
      if (r && everywhere && json_object_set(r, k, v) < 0) {
        json_decref(r);
        r = NULL;
      }
    }
  }
  return tpl_done(c, r, out);
}

static int fn_range(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  int64_t start, count;
  int rc;
  if ((rc = tpl_arg_int(c, args, 0, &start)) < 0 || (rc = tpl_arg_int(c, args, 1, &count)) < 0)
    return rc;
  if (count < 0 || count > 10000)
    return tpl_call_fail(c, "The template language function 'range' expects its second parameter 'count' to be a "
                            "non-negative integer up to 10000. The provided value is '%lld'.",
                         (long long)count);
  if (start < INT32_MIN || start + count > 2147483647)
    return tpl_call_fail(c, "The template language function 'range' expects the sum of its parameters 'startIndex' "
                            "and 'count' to be no greater than 2147483647; they are '%lld' and '%lld'.",
                         (long long)start, (long long)count);
  json_t *a = json_array();
  for (int64_t i = 0; a && i < count; i++)
    if (json_array_append_new(a, json_integer(start + i)) < 0) {
      json_decref(a);
      a = NULL;
    }
  return tpl_done(c, a, out);
}

static int fn_flatten(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  if (!json_is_array(args[0]))
    return tpl_type_error(c, 0, args[0], "an array of arrays");
  size_t i, total = 0;
  json_t *v;
  json_array_foreach(args[0], i, v)
    total += json_array_size(v);
  int rc = tpl_room_for(c, total);
  if (rc < 0)
    return rc;
  json_t *a = json_array();
  json_array_foreach(args[0], i, v) {
    if (!json_is_array(v)) {
      json_decref(a);
      return tpl_call_fail(c, "The template language function 'flatten' expects its parameter to be an array of "
                              "arrays. The element at index %zu is of type '%s'.",
                           i, tpl_type_name(v));
    }
    if (a && json_array_extend(a, v) < 0) {
      json_decref(a);
      a = NULL;
    }
  }
  return tpl_done(c, a, out);
}

const struct tpl_function tpl_fn_array[] = {
    {"array", fn_array, 1, 1, 0},
    {"contains", fn_contains, 2, 2, 0},
    {"createArray", fn_create_array, 0, -1, 0},
    {"empty", fn_empty, 1, 1, 0},
    {"first", fn_first, 1, 1, 0},
    {"flatten", fn_flatten, 1, 1, 0},
    {"intersection", fn_intersection, 2, -1, 0},
    {"last", fn_last, 1, 1, 0},
    {"length", fn_length, 1, 1, 0},
    {"range", fn_range, 2, 2, 0},
    {"skip", fn_skip, 2, 2, 0},
    {"take", fn_take, 2, 2, 0},
    {"union", fn_union, 2, -1, 0},
    {NULL, NULL, 0, 0, 0},
};
