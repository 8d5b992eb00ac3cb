/*
 * reply.c — every ARM response goes out through here, so the envelope is the
 * same everywhere: JSON bodies as `application/json; charset=utf-8`, errors as
 * {"error":{"code","message"[,"target"]}} with Azure's codes.  The common
 * request-id headers are added by the router.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arm/internal.h"
#include "common/log.h"

#define JSON_TYPE "application/json; charset=utf-8"

void arm_reply_json(struct arm_call *call, int status, json_t *body)
{
  char *text = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  if (!text) {
    http_response_body(call->resp, 500, JSON_TYPE,
                       strdup("{\"error\":{\"code\":\"InternalServerError\",\"message\":\"Out of memory.\"}}"), 68);
    return;
  }
  http_response_body(call->resp, status, JSON_TYPE, text, strlen(text));
}

void arm_reply_empty(struct arm_call *call, int status)
{
  http_response_body(call->resp, status, NULL, NULL, 0);
}

static void reply_error_v(struct arm_call *call, int status, const char *code, const char *target,
                          const char *fmt, va_list ap)
{
  char msg[1024];
  vsnprintf(msg, sizeof msg, fmt, ap);
  json_t *err = json_pack("{s:s,s:s}", "code", code, "message", msg);
  if (target)
    json_object_set_new(err, "target", json_string(target));
  if (status >= 500)
    log_error("arm", "%d %s: %s", status, code, msg);
  else
    log_info("arm", "%d %s: %s", status, code, msg);
  arm_reply_json(call, status, json_pack("{s:o}", "error", err));
}

void arm_reply_error(struct arm_call *call, int status, const char *code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  reply_error_v(call, status, code, NULL, fmt, ap);
  va_end(ap);
}

void arm_reply_error_target(struct arm_call *call, int status, const char *code, const char *target,
                            const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  reply_error_v(call, status, code, target, fmt, ap);
  va_end(ap);
}

char *arm_error_text(const char *code, const char *message)
{
  json_t *err = json_pack("{s:s,s:s}", "code", code, "message", message);
  char *text = json_dumps(err, JSON_COMPACT);
  json_decref(err);
  return text;
}

void arm_reply_internal(struct arm_call *call, int err)
{
  arm_reply_error(call, 500, "InternalServerError", "The server encountered an internal error (%s). Please retry the request.",
                  strerror(err < 0 ? -err : err));
}
