/*
 * body.c — request body checks shared by the resource handlers.  A body that
 * is not JSON never reaches a handler (the router answers
 * InvalidRequestContent); these check the shape of members.
 *
 * A member is checked before it is used or stored, never silently dropped
 * or kept as sent: a wrong JSON type is InvalidRequestContent (Azure's
 * deserializer error), a string longer than its bound (ARM_MAX_STRING
 * unless the rule says less) or outside its enum InvalidParameter.  A
 * handler lists its members' rules in one table (struct arm_member).
 *
 * Before any of that, arm_body_normalise reads a body the way Azure's
 * resource providers do (Newtonsoft.Json): a member name is matched
 * case-insensitively and renamed to the rule's spelling ("datadisks" is
 * dataDisks, never silently dropped; two spellings of one member are
 * refused), an integral string is the integer where an integer is expected
 * ("diskSizeGB": "1024"), "true"/"false" in any case the boolean, a numeric
 * string the number.  The handlers then read and store canonical names and
 * types only.  A string that does not convert is left as it is, so the
 * member check refuses it as before.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"

static const char *type_name(json_type t)
{
  switch (t) {
  case JSON_OBJECT: return "object";
  case JSON_ARRAY: return "array";
  case JSON_STRING: return "string";
  case JSON_INTEGER: return "integer";
  case JSON_REAL: return "number";
  case JSON_TRUE:
  case JSON_FALSE: return "boolean";
  case JSON_NULL: return "null";
  }
  return "?";
}

const char *arm_canonical(const char *v, const char *const *allowed)
{
  for (int i = 0; v && allowed[i]; i++)
    if (!strcasecmp(v, allowed[i]))
      return allowed[i];
  return NULL;
}

void arm_set_canonical(json_t *dst, json_t *src, const char *name, const char *const *allowed)
{
  const char *v = arm_canonical(json_string_value(json_object_get(src, name)), allowed);
  if (v)
    json_object_set_new(dst, name, json_string(v));
}

/* "a, b or c" of allowed, in out. */
static void list_values(const char *const *allowed, char *out, size_t cap)
{
  size_t n = 0;
  out[0] = '\0';
  for (int i = 0; allowed[i] && n < cap; i++)
    n += (size_t)snprintf(out + n, cap - n, "%s'%s'", i == 0 ? "" : allowed[i + 1] ? ", " : " or ", allowed[i]);
}

/* One member against its rule; target names it in errors. */
static bool member_ok(struct arm_call *call, json_t *obj, const struct arm_member *rule, const char *target)
{
  json_t *v = json_object_get(obj, rule->name);
  json_type type = rule->type;
  if (!v || json_is_null(v))
    return true;
  if (json_typeof(v) != type && !(type == JSON_TRUE && json_is_boolean(v)) &&
      !(type == JSON_REAL && json_is_number(v))) {
    arm_reply_error_target(call, 400, "InvalidRequestContent", target,
                           "The request content was invalid and could not be deserialized: 'Error converting value "
                           "of type %s to type %s. Path '%s'.'",
                           type_name(json_typeof(v)), type_name(type), target);
    return false;
  }
  if (type != JSON_STRING)
    return true;
  size_t max = rule->max_len ? rule->max_len : ARM_MAX_STRING;
  const char *s = json_string_value(v);
  if (json_string_length(v) > max) {
    arm_reply_error_target(call, 400, "InvalidParameter", target,
                           "The value of parameter '%s' is too long: at most %zu characters.", target, max);
    return false;
  }
  if (rule->values && !arm_canonical(s, rule->values)) {
    char allowed[256];
    list_values(rule->values, allowed, sizeof allowed);
    arm_reply_error_target(call, 400, "InvalidParameter", target,
                           "The value '%s' of parameter '%s' is not valid. Allowed values are %s.", s, target,
                           allowed);
    return false;
  }
  return true;
}

/* v (a string) as the JSON type Newtonsoft would read it as, or NULL. */
static json_t *converted(json_t *v, json_type type)
{
  const char *s = json_string_value(v);
  size_t len = json_string_length(v);
  char *end = NULL;
  errno = 0;
  if (type == JSON_TRUE)
    return !strcasecmp(s, "true") ? json_true() : !strcasecmp(s, "false") ? json_false() : NULL;
  if (type == JSON_INTEGER && len && strspn(s, "+-0123456789") == len) {
    long long n = strtoll(s, &end, 10);
    return end == s + len && errno == 0 ? json_integer(n) : NULL;
  }
  if (type == JSON_REAL && len && strspn(s, "+-0123456789.eE") == len) {
    double d = strtod(s, &end);
    return end == s + len && errno == 0 && isfinite(d) ? json_real(d) : NULL;
  }
  return NULL;
}

/* The member of obj spelled like name in any case, renamed to name; NULL
 * when there is none.  Two spellings: replied, *dup set. */
static json_t *canonical_member(struct arm_call *call, json_t *obj, const char *name, const char *path, bool *dup)
{
  const char *key, *found = NULL;
  json_t *v, *fv = NULL;
  json_object_foreach(obj, key, v) {
    if (strcasecmp(key, name) != 0)
      continue;
    if (found) {
      arm_reply_error_target(call, 400, "InvalidRequestContent", path,
                             "The request content was invalid and could not be deserialized: 'the member '%s' is "
                             "given twice, as '%s' and '%s'. Path '%s'.'",
                             name, found, key, path);
      *dup = true;
      return NULL;
    }
    found = key;
    fv = v;
  }
  if (fv && strcmp(found, name) != 0) {
    json_incref(fv);
    json_object_del(obj, found);
    json_object_set_new(obj, name, fv);
  }
  return fv;
}

static bool normalise(struct arm_call *call, json_t *obj, const struct arm_member *rules, const char *prefix)
{
  if (!json_is_object(obj))
    return true;
  for (const struct arm_member *r = rules; r->name; r++) {
    char path[256];
    snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", r->name);
    bool dup = false;
    json_t *v = canonical_member(call, obj, r->name, path, &dup), *c;
    if (dup)
      return false;
    if (json_is_string(v) && r->type != JSON_STRING && (c = converted(v, r->type)))
      json_object_set_new(obj, r->name, v = c);
    if (!r->members)
      continue;
    if (json_is_object(v) && !normalise(call, v, r->members, path))
      return false;
    size_t i;
    json_t *item;
    json_array_foreach(json_is_array(v) ? v : NULL, i, item) {
      char at[280];
      snprintf(at, sizeof at, "%s[%zu]", path, i);
      if (!normalise(call, item, r->members, at))
        return false;
    }
  }
  return true;
}

bool arm_body_required(struct arm_call *call)
{
  if (!call->body)
    arm_reply_error(call, 400, "InvalidRequestContent",
                    "The request content was invalid and could not be deserialized: 'a body is required.'");
  return call->body != NULL;
}

bool arm_body_normalise(struct arm_call *call, json_t *body, const struct arm_member *rules)
{
  return normalise(call, body, rules, "");
}

bool arm_body_members_ok(struct arm_call *call, json_t *obj, const char *prefix, const struct arm_member *rules)
{
  for (const struct arm_member *r = rules; r->name; r++) {
    char target[256];
    snprintf(target, sizeof target, "%s%s%s", prefix ? prefix : "", prefix ? "." : "", r->name);
    if (!member_ok(call, obj, r, target))
      return false;
  }
  return true;
}

bool arm_body_tree_ok(struct arm_call *call, json_t *obj, const char *prefix, const struct arm_member *rules)
{
  if (!arm_body_members_ok(call, obj, prefix, rules))
    return false;
  for (const struct arm_member *r = rules; r->name && json_is_object(obj); r++) {
    json_t *v = json_object_get(obj, r->name), *item;
    char path[256];
    snprintf(path, sizeof path, "%s%s%s", prefix ? prefix : "", prefix ? "." : "", r->name);
    if (!r->members || !v)
      continue;
    if (json_is_object(v) && !arm_body_tree_ok(call, v, path, r->members))
      return false;
    size_t i;
    json_array_foreach(json_is_array(v) ? v : NULL, i, item) {
      char at[280];
      snprintf(at, sizeof at, "%s[%zu]", path, i);
      if (!json_is_object(item)) {
        arm_reply_error_target(call, 400, "InvalidRequestContent", at,
                               "The request content was invalid and could not be deserialized: 'Error converting "
                               "value of type %s to type object. Path '%s'.'",
                               type_name(json_typeof(item)), at);
        return false;
      }
      if (!arm_body_tree_ok(call, item, at, r->members))
        return false;
    }
  }
  return true;
}

bool arm_tags_ok(struct arm_call *call, json_t *tags)
{
  if (!tags || json_is_null(tags))
    return true;
  if (!json_is_object(tags)) {
    arm_reply_error_target(call, 400, "InvalidRequestContent", "tags",
                           "The request content was invalid and could not be deserialized: 'tags must be an object "
                           "of string values.'");
    return false;
  }
  if (json_object_size(tags) > 50) {
    arm_reply_error(call, 400, "InvalidTagCount", "The number of tags %zu exceeds the maximum of 50.",
                    json_object_size(tags));
    return false;
  }
  const char *k;
  json_t *v;
  json_object_foreach(tags, k, v) {
    if (!json_is_string(v)) {
      arm_reply_error_target(call, 400, "InvalidRequestContent", "tags",
                             "The request content was invalid and could not be deserialized: 'the value of tag "
                             "'%s' must be a string.'",
                             k);
      return false;
    }
    if (strlen(k) == 0 || strlen(k) > 512 || strpbrk(k, "<>%&\\?/")) {
      arm_reply_error(call, 400, "InvalidTagNameCharacters",
                      "The tag names '%s' have reserved characters '<,>,%%,&,\\,?,/' or control characters, or "
                      "are empty or longer than 512 characters.",
                      k);
      return false;
    }
    if (strlen(json_string_value(v)) > 256) {
      arm_reply_error(call, 400, "InvalidTagValueLength",
                      "The tag value of '%s' is longer than 256 characters.", k);
      return false;
    }
  }
  return true;
}
