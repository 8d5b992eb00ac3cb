/*
 * values.c — what every function of the library does with values
 * (internal.h): ARM's type names, checking an argument's type with ARM's
 * message, case-insensitive member lookup (ARM reads objects with
 * InvariantCultureIgnoreCase), and a value as text the way .NET prints it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "template/internal.h"

const char *tpl_type_name(const json_t *v)
{
  switch (json_typeof(v)) {
  case JSON_STRING:
    return "String";
  case JSON_INTEGER:
    return "Integer";
  case JSON_REAL:
    return "Float";
  case JSON_TRUE:
  case JSON_FALSE:
    return "Boolean";
  case JSON_ARRAY:
    return "Array";
  case JSON_OBJECT:
    return "Object";
  default:
    return "Null";
  }
}

int tpl_no_memory(struct tpl_error *err)
{
  tpl_fail(err, "InternalServerError", "Out of memory while evaluating a template expression.");
  return -ENOMEM;
}

int tpl_done(struct tpl_call *c, json_t *v, json_t **out)
{
  return (*out = v) ? 0 : tpl_no_memory(c->err);
}

int tpl_call_fail(struct tpl_call *c, const char *fmt, ...)
{
  char detail[1536];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  return tpl_fail(c->err, "InvalidTemplate", "%s Please see https://aka.ms/arm-template-expressions#%s for usage details.",
                  detail, c->fn->name);
}

int tpl_type_error(struct tpl_call *c, int i, const json_t *got, const char *what)
{
  static const char *const ordinal[] = {"first ", "second ", "third ", "fourth ", "fifth "};
  const char *which = c->fn->max == 1 ? "" : i < 5 ? ordinal[i] : "";
  return tpl_call_fail(c, "The template language function '%s' expects its %sparameter to be %s. The provided value "
                          "is of type '%s'.",
                       c->fn->name, which, what, tpl_type_name(got));
}

int tpl_arg_string(struct tpl_call *c, json_t *const *args, int i, const char **out)
{
  if (!json_is_string(args[i]))
    return tpl_type_error(c, i, args[i], "of type 'String'");
  *out = json_string_value(args[i]);
  return 0;
}

int tpl_arg_int(struct tpl_call *c, json_t *const *args, int i, int64_t *out)
{
  if (!json_is_integer(args[i]))
    return tpl_type_error(c, i, args[i], "of type 'Integer'");
  *out = json_integer_value(args[i]);
  return 0;
}

int tpl_arg_bool(struct tpl_call *c, json_t *const *args, int i, bool *out)
{
  if (!json_is_boolean(args[i]))
    return tpl_type_error(c, i, args[i], "of type 'Boolean'");
  *out = json_is_true(args[i]);
  return 0;
}

json_t *tpl_member(const json_t *obj, const char *name, const char **key)
{
  json_t *v = json_object_get(obj, name);
  if (v) {
    if (key)
      *key = name;
    return v;
  }
  const char *k;
  json_object_foreach((json_t *)obj, k, v) {
    if (strcasecmp(k, name) == 0) {
      if (key)
        *key = k;
      return v;
    }
  }
  return NULL;
}

void tpl_buf_add(struct tpl_buf *b, const char *s, size_t len)
{
  if (b->oom)
    return;
  if (len > TPL_MAX_JOB_SIZE - b->len) {
    b->oom = b->big = true;
    return;
  }
  if (b->len + len + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + len + 1)
      cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = true;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, len);
  b->len += len;
  b->p[b->len] = '\0';
}

void tpl_buf_str(struct tpl_buf *b, const char *s)
{
  tpl_buf_add(b, s, strlen(s));
}

json_t *tpl_buf_json(struct tpl_buf *b)
{
  json_t *v = b->oom ? NULL : json_stringn(b->p ? b->p : "", b->len);
  free(b->p);
  *b = (struct tpl_buf){0};
  return v;
}

int tpl_buf_done(struct tpl_call *c, struct tpl_buf *b, json_t **out)
{
  if (b->big) {
    free(b->p);
    *b = (struct tpl_buf){0};
    return tpl_too_big(c->err, "The result of the template language function", TPL_MAX_JOB_SIZE);
  }
  return tpl_done(c, tpl_buf_json(b), out);
}

static size_t size_of(const json_t *v, size_t limit, int depth)
{
  size_t n = 0, i;
  const char *k;
  json_t *e;
  if (depth > TPL_MAX_DEPTH)
    return limit + 1;
  switch (json_typeof(v)) {
  case JSON_STRING:
    return json_string_length(v) + 2;
  case JSON_INTEGER:
  case JSON_REAL:
    return 8; /* about its digits; never 0, so a count of numbers is bounded */
  case JSON_ARRAY:
    n = 2;
    json_array_foreach(v, i, e) {
      if ((n += 1 + size_of(e, limit - n, depth + 1)) > limit)
        return limit + 1;
    }
    return n;
  case JSON_OBJECT:
    n = 2;
    json_object_foreach((json_t *)v, k, e) {
      if ((n += 4 + strlen(k) + size_of(e, limit - n, depth + 1)) > limit)
        return limit + 1;
    }
    return n;
  default:
    return 5;
  }
}

size_t tpl_json_size(const json_t *v, size_t limit)
{
  size_t n = size_of(v, limit, 0);
  return n > limit ? limit + 1 : n;
}

int tpl_room_for(struct tpl_call *c, size_t n)
{
  if (n > *c->left / 2)
    return tpl_too_big(c->err, "The result of the template language function", *c->left);
  return 0;
}

int tpl_too_big(struct tpl_error *err, const char *what, size_t limit)
{
  tpl_fail(err, "DeploymentJobSizeExceeded",
           "%s comes to more than the '%zu' bytes left of the '%u' bytes a template may come to once expanded (or "
           "is nested deeper than %d levels). Please see https://aka.ms/arm-deployment-size for usage details.",
           what, limit, TPL_MAX_JOB_SIZE, TPL_MAX_DEPTH);
  return -E2BIG;
}

json_t *tpl_string_n(const char *s, size_t len)
{
  return json_stringn(s, len);
}

size_t tpl_utf8_chars(const char *s, size_t len)
{
  size_t n = 0;
  for (size_t i = 0; i < len; i++)
    n += ((unsigned char)s[i] & 0xC0) != 0x80;
  return n;
}

size_t tpl_utf8_offset(const char *s, size_t len, int64_t i)
{
  size_t at = 0;
  for (; i > 0 && at < len; i--)
    for (at++; at < len && ((unsigned char)s[at] & 0xC0) == 0x80;)
      at++;
  return at;
}

bool tpl_equal(const json_t *a, const json_t *b)
{
  if (json_is_number(a) && json_is_number(b))
    return json_number_value(a) == json_number_value(b) &&
           (!json_is_integer(a) || !json_is_integer(b) || json_integer_value(a) == json_integer_value(b));
  return json_equal(a, b);
}

char *tpl_to_text(const json_t *v)
{
  char *s = NULL;
  switch (json_typeof(v)) {
  case JSON_STRING:
    return strdup(json_string_value(v));
  case JSON_INTEGER:
    return asprintf(&s, "%" JSON_INTEGER_FORMAT, json_integer_value(v)) < 0 ? NULL : s;
  case JSON_TRUE:
    return strdup("True");
  case JSON_FALSE:
    return strdup("False");
  case JSON_NULL:
    return strdup("");
  default:
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  }
}
