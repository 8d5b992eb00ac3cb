/*
 * reply.c — every ARM response goes out through here, so the envelope is the
 * same everywhere: JSON bodies as `application/json; charset=utf-8`, errors as
 * {"error":{"code","message"[,"target"]}} with Azure's codes.  The common
 * request-id headers are added by the router.
 *
 * JSON strings must be valid UTF-8 (jansson refuses anything else), and an
 * error message may quote what the client sent: a name, a header, jansson's
 * own excerpt of a body it could not parse.  So messages are made valid
 * (each stray byte becomes '?') before they are packed: a client's bad bytes
 * get the 4xx they earned, never a 500.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arm/internal.h"
#include "common/log.h"

#define JSON_TYPE "application/json; charset=utf-8"
#define OOM_BODY "{\"error\":{\"code\":\"InternalServerError\",\"message\":\"Out of memory.\"}}"

/* The length of the UTF-8 sequence at s (1-4), or 0 when it is not one:
 * overlong forms, surrogates and code points past U+10FFFF are not (RFC
 * 3629, as jansson checks). */
static size_t utf8_seq_len(const unsigned char *s)
{
  unsigned c = s[0];
  if (c < 0x80)
    return 1;
  size_t n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
  for (size_t i = 1; i < n; i++)
    if ((s[i] & 0xC0) != 0x80)
      return 0;
  if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) || (c == 0xF0 && s[1] < 0x90) ||
      (c == 0xF4 && s[1] > 0x8F))
    return 0;
  return n;
}

bool arm_utf8_valid(const char *s)
{
  for (size_t n; *s; s += n)
    if (!(n = utf8_seq_len((const unsigned char *)s)))
      return false;
  return true;
}

/* s with every byte that does not start a valid sequence replaced by '?'. */
static void utf8_scrub(char *s)
{
  for (size_t n; *s; s += n)
    if (!(n = utf8_seq_len((const unsigned char *)s))) {
      *s = '?';
      n = 1;
    }
}

void arm_reply_json(struct arm_call *call, int status, json_t *body)
{
  char *text = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  if (!text) {
    http_response_body(call->resp, 500, JSON_TYPE, strdup(OOM_BODY), strlen(OOM_BODY));
    return;
  }
  http_response_body(call->resp, status, JSON_TYPE, text, strlen(text));
}

void arm_reply_empty(struct arm_call *call, int status)
{
  http_response_body(call->resp, status, NULL, NULL, 0);
}

__attribute__((format(printf, 5, 0))) static void reply_error_v(struct arm_call *call, int status, const char *code,
                                                                const char *target, const char *fmt, va_list ap)
{
  char msg[1024];
  vsnprintf(msg, sizeof msg, fmt, ap);
  utf8_scrub(msg);
  json_t *err = json_pack("{s:s,s:s}", "code", code, "message", msg);
  if (target)
    json_object_set_new(err, "target", json_string(target));
  if (call->dispatched) /* may quote a template's secure value: the engine records it masked */
    ;
  else if (status >= 500)
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
  if (err == -ENOSPC || err == ENOSPC) /* meta.db or a store could not grow */
    arm_reply_error(call, 500, "DiskFull", "The request failed: the region's data file system is full. Retry when "
                                           "space is freed.");
  else if (err == -ENOLCK || err == ENOLCK) /* meta/node.c: this node is no longer the region's to write for */
    arm_reply_error(call, 503, "NodeFenced", "This node lost its membership lease of the region and writes nothing "
                                             "more; retry the request on another node of the region.");
  else
    arm_reply_error(call, 500, "InternalServerError", "The server encountered an internal error (%s). Please retry the request.",
                  strerror(err < 0 ? -err : err));
}
