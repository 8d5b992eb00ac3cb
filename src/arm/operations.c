/*
 * operations.c — the two faces of a long-running operation.
 *
 * Status resource (Azure-AsyncOperation URL): always 200 with
 *   {id, name, status, startTime[, endTime], percentComplete[, error]},
 *   and Retry-After: 1 while InProgress: azure-core's poller takes the delay
 *   before its next poll from the last response, so without it the az CLI
 *   waits its default 30 s after every InProgress answer.
 * Monitor (Location URL: Compute's status URL with monitor=true, or
 * Microsoft.Resources' /operationresults/{id}): 202 + Location + Retry-After
 * while running; when done, 200 with the operation's result document (e.g.
 * {"accessSAS":...} for beginGetAccess), or {} when it has none (not 204:
 * @azure/arm-compute 25's pollers accept only 200/201/202 there); when
 * failed, the ARM error with an HTTP error status.
 *
 * Operations are scoped to their subscription: an id under another
 * subscription is answered 404 like an unknown one.
 */
#include <stdio.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"
#include "common/timefmt.h"

static int load(struct arm_call *call, const char *id, struct meta_operation *op)
{
  int rc = meta_operation_get(call->arm->meta, id, op);
  if (rc == 0 && strcasecmp(op->subscription, call->params[0]) != 0) {
    meta_operation_clear(op);
    rc = -ENOENT;
  }
  if (rc == -ENOENT)
    arm_reply_error(call, 404, "NotFound", "The operation '%s' was not found.", id);
  else if (rc < 0)
    arm_reply_internal(call, rc);
  return rc;
}

static json_t *status_json(struct arm_call *call, const struct meta_operation *op)
{
  char start[TIME_ISO_LEN], end[TIME_ISO_LEN], id[512];
  time_iso8601(op->start_us, start);
  snprintf(id, sizeof id, "/subscriptions/%s/providers/%s/locations/%s/operations/%s", op->subscription,
           op->provider, op->location, op->id);
  json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:f}", "id", id, "name", op->id, "status",
                        meta_op_status_to_string(op->status), "startTime", start, "percentComplete", op->percent);
  if (op->status != OP_IN_PROGRESS) {
    time_iso8601(op->end_us, end);
    json_object_set_new(o, "endTime", json_string(end));
  }
  if (op->error)
    json_object_set_new(o, "error", json_loads(op->error, 0, NULL));
  if (op->result && op->status == OP_SUCCEEDED)
    json_object_set_new(o, "properties", json_pack("{s:o}", "output", json_loads(op->result, 0, NULL)));
  (void)call;
  return o;
}

static void reply_monitor(struct arm_call *call, const struct meta_operation *op, bool resources_style)
{
  if (op->status == OP_IN_PROGRESS) {
    const char *base = call->arm->cfg.public_url;
    if (resources_style)
      http_response_header(call->resp, "Location", "%s/subscriptions/%s/operationresults/%s?api-version=%s", base,
                           op->subscription, op->id, call->api_version);
    else
      http_response_header(call->resp, "Location",
                           "%s/subscriptions/%s/providers/%s/locations/%s/operations/%s?monitor=true&api-version=%s",
                           base, op->subscription, op->provider, op->location, op->id, call->api_version);
    http_response_header(call->resp, "Retry-After", "1");
    arm_reply_empty(call, 202);
  } else if (op->status == OP_SUCCEEDED && !strcmp(op->kind, "deploymentDelete")) {
    arm_reply_empty(call, 204); /* what the az CLI takes as a DELETE's end (only 202 and 204 are) */
  } else if (op->status == OP_SUCCEEDED) {
    json_t *result = op->result ? json_loads(op->result, 0, NULL) : NULL;
    arm_reply_json(call, 200, result ? result : json_object());
  } else {
    json_t *err = op->error ? json_loads(op->error, 0, NULL) : NULL;
    if (!err)
      err = json_pack("{s:s,s:s}", "code", "OperationCanceled", "message", "The operation was canceled.");
    const char *code = json_string_value(json_object_get(err, "code"));
    int status = code && (strncmp(code, "Internal", 8) == 0 || strcmp(code, "OperationInterrupted") == 0) ? 500 : 409;
    arm_reply_json(call, status, json_pack("{s:o}", "error", err));
  }
}

void arm_operation_status(struct arm_call *call)
{
  struct meta_operation op;
  if (load(call, call->params[3], &op) < 0)
    return;
  const char *monitor = http_query(call->req, "monitor");
  if (monitor && strcasecmp(monitor, "true") == 0) {
    reply_monitor(call, &op, false);
  } else {
    if (op.status == OP_IN_PROGRESS)
      http_response_header(call->resp, "Retry-After", "1");
    arm_reply_json(call, 200, status_json(call, &op));
  }
  meta_operation_clear(&op);
}

void arm_operation_result(struct arm_call *call)
{
  struct meta_operation op;
  if (load(call, call->params[1], &op) < 0)
    return;
  reply_monitor(call, &op, true);
  meta_operation_clear(&op);
}
