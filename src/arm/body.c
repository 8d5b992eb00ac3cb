/*
 * body.c — request body checks shared by the resource handlers.  A body that
 * is not JSON never reaches a handler (the router answers
 * InvalidRequestContent); these check the shape of members.
 */
#include <stdio.h>
#include <string.h>

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

bool arm_body_member_ok(struct arm_call *call, json_t *obj, const char *name, json_type type)
{
  json_t *v = json_object_get(obj, name);
  if (!v || json_is_null(v) || json_typeof(v) == type ||
      (type == JSON_TRUE && json_is_boolean(v)) || (type == JSON_REAL && json_is_number(v)))
    return true;
  arm_reply_error_target(call, 400, "InvalidRequestContent", name,
                         "The request content was invalid and could not be deserialized: 'Error converting value "
                         "of type %s to type %s. Path '%s'.'",
                         type_name(json_typeof(v)), type_name(type), name);
  return false;
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
