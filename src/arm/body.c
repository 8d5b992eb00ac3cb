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
 */
#include <stdio.h>
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

bool arm_body_member_ok(struct arm_call *call, json_t *obj, const char *name, json_type type)
{
  struct arm_member rule = {name, type, NULL, 0};
  return member_ok(call, obj, &rule, name);
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
