/*
 * whatif.c — the property-level difference behind a what-if answer.
 *
 * Only members the request sets are compared (whatif.h says why); arrays
 * are compared position by position, as ARM's what-if does for arrays whose
 * items carry no name, and reported as one "Array" change with a child per
 * position that differs.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deploy/whatif.h"

/* The member of obj named key, compared case-insensitively (the providers'
 * reading); NULL when absent. */
static json_t *member_nocase(const json_t *obj, const char *key)
{
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)obj, k, v) {
    if (strcasecmp(k, key) == 0)
      return v;
  }
  return NULL;
}

/* An integral numeric string's value: true with *out. */
static bool string_integer(const char *s, json_int_t *out)
{
  char *end;
  if (!*s || isspace((unsigned char)*s))
    return false;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end)
    return false;
  *out = (json_int_t)v;
  return true;
}

/* A scalar as the providers coerce it: a string that spells an integer or
 * a boolean is that value. */
static bool scalar_equal(const json_t *a, const json_t *b)
{
  if (json_is_string(a) && json_is_string(b))
    return strcasecmp(json_string_value(a), json_string_value(b)) == 0;
  if (json_is_string(b)) {
    const json_t *t = a;
    a = b;
    b = t;
  }
  if (json_is_string(a)) { /* and b is not */
    const char *s = json_string_value(a);
    json_int_t n;
    if (json_is_integer(b))
      return string_integer(s, &n) && n == json_integer_value(b);
    if (json_is_boolean(b))
      return strcasecmp(s, json_is_true(b) ? "true" : "false") == 0;
    return false;
  }
  return json_equal((json_t *)a, (json_t *)b);
}

bool whatif_equal(const json_t *a, const json_t *b)
{
  if (json_is_object(a) && json_is_object(b)) {
    const char *k;
    json_t *v;
    if (json_object_size(a) != json_object_size(b))
      return false;
    json_object_foreach((json_t *)a, k, v) {
      json_t *w = member_nocase(b, k);
      if (!w || !whatif_equal(v, w))
        return false;
    }
    return true;
  }
  if (json_is_array(a) && json_is_array(b)) {
    if (json_array_size(a) != json_array_size(b))
      return false;
    for (size_t i = 0; i < json_array_size(a); i++)
      if (!whatif_equal(json_array_get(a, i), json_array_get(b, i)))
        return false;
    return true;
  }
  if (json_is_object(a) || json_is_object(b) || json_is_array(a) || json_is_array(b))
    return false;
  return scalar_equal(a, b);
}

static json_t *change(const char *path, const char *type, const json_t *before, const json_t *after)
{
  json_t *c = json_pack("{s:s, s:s}", "path", path, "propertyChangeType", type);
  if (c && before)
    json_object_set_new(c, "before", json_deep_copy(before));
  if (c && after)
    json_object_set_new(c, "after", json_deep_copy(after));
  return c;
}

static int diff_value(json_t *out, const char *path, const json_t *before, const json_t *after);

/* Members of after against before, under prefix ("" at the top). */
static int diff_object(json_t *out, const char *prefix, const json_t *before, const json_t *after)
{
  const char *k;
  json_t *v;
  int rc = 0;
  json_object_foreach((json_t *)after, k, v) {
    char *path = NULL;
    if (asprintf(&path, "%s%s%s", prefix, *prefix ? "." : "", k) < 0) {
      rc = -ENOMEM;
      break;
    }
    rc = diff_value(out, path, before ? member_nocase(before, k) : NULL, v);
    free(path);
    if (rc < 0)
      break;
  }
  return rc;
}

/* Position by position; children's paths are the positions. */
static int diff_array(json_t *out, const char *path, const json_t *before, const json_t *after)
{
  json_t *children = json_array();
  int rc = children ? 0 : -ENOMEM;
  size_t nb = json_array_size(before), na = json_array_size(after);
  for (size_t i = 0; rc == 0 && i < (na > nb ? na : nb); i++) {
    char idx[24];
    snprintf(idx, sizeof idx, "%zu", i);
    json_t *b = json_array_get(before, i), *a = json_array_get(after, i);
    if (!a)
      rc = json_array_append_new(children, change(idx, "Delete", b, NULL)) ? -ENOMEM : 0;
    else
      rc = diff_value(children, idx, b, a);
  }
  if (rc == 0 && json_array_size(children) > 0) {
    json_t *c = change(path, "Array", NULL, NULL);
    if (!c || json_object_set_new(c, "children", json_incref(children)) || json_array_append_new(out, c))
      rc = -ENOMEM;
  }
  json_decref(children);
  return rc;
}

static int diff_value(json_t *out, const char *path, const json_t *before, const json_t *after)
{
  if (json_is_null(after))
    return 0; /* a null member is an absent one: the provider keeps what it has */
  if (!before || json_is_null(before))
    return json_array_append_new(out, change(path, "Create", NULL, after)) ? -ENOMEM : 0;
  if (json_is_object(before) && json_is_object(after)) {
    json_t *kids = json_array();
    int rc = kids ? diff_object(kids, "", before, after) : -ENOMEM;
    if (rc == 0 && json_array_size(kids) > 0) {
      /* nested members are reported with their full path, flat, as ARM does
       * for objects */
      for (size_t i = 0; rc == 0 && i < json_array_size(kids); i++) {
        json_t *c = json_array_get(kids, i);
        char *full = NULL;
        if (asprintf(&full, "%s.%s", path, json_string_value(json_object_get(c, "path"))) < 0)
          rc = -ENOMEM;
        else
          rc = json_object_set_new(c, "path", json_string(full)) || json_array_append(out, c) ? -ENOMEM : 0;
        free(full);
      }
    }
    json_decref(kids);
    return rc;
  }
  if (json_is_array(before) && json_is_array(after))
    return diff_array(out, path, before, after);
  if (whatif_equal(before, after))
    return 0;
  return json_array_append_new(out, change(path, "Modify", before, after)) ? -ENOMEM : 0;
}

json_t *whatif_delta(const json_t *before, const json_t *after)
{
  json_t *out = json_array();
  if (out && json_is_object(after) && diff_object(out, "", json_is_object(before) ? before : NULL, after) < 0) {
    json_decref(out);
    out = NULL;
  }
  return out;
}

json_t *whatif_predict(const json_t *before, const json_t *after)
{
  if (!json_is_object(before) || !json_is_object(after))
    return json_is_null(after) && before ? json_deep_copy(before) : json_deep_copy(after);
  json_t *out = json_deep_copy(before);
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)after, k, v) {
    if (!out)
      break;
    if (json_is_null(v))
      continue;
    json_t *cur = member_nocase(out, k);
    json_t *merged = whatif_predict(cur, v);
    const char *key = k;
    const char *ck;
    json_t *cv;
    json_object_foreach(out, ck, cv) { /* keep the spelling the resource has */
      if (cv == cur) {
        key = ck;
        break;
      }
    }
    if (!merged || json_object_set_new(out, key, merged)) {
      json_decref(out);
      out = NULL;
    }
  }
  return out;
}
