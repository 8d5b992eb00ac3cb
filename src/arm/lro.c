/*
 * lro.c — starting long-running operations and the headers that announce
 * them.
 *
 * Header contract (shared/reference/clients/): Azure-AsyncOperation points at
 * the operation status resource (always 200, `status` field); Location points
 * at the monitor URL (202 while running, then the final result) — the
 * Compute style is the status URL with monitor=true, the Microsoft.Resources
 * style is /subscriptions/{s}/operationresults/{id}.  Retry-After: 1 always
 * (and on every InProgress answer of either URL, operations.c), or the az CLI
 * waits 30 s between polls.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"
#include "common/random.h"
#include "common/timefmt.h"

int arm_op_create(struct arm_call *call, const char *provider, const char *kind, const char *resource_id,
                  const char *payload, char op_id[40])
{
  struct meta_operation op = {0};
  random_uuid(op.id);
  op.subscription = (char *)call->params[0];
  op.provider = (char *)provider;
  op.location = (char *)call->arm->cfg.locations[0].name;
  op.kind = (char *)kind;
  op.resource_id = (char *)resource_id;
  op.payload = (char *)payload;
  op.start_us = time_now_us();
  int r = meta_operation_create(call->arm->meta, &op);
  if (r == 0)
    snprintf(op_id, 40, "%s", op.id);
  return r;
}

void arm_lro_headers(struct arm_call *call, const char *provider, const char *op_id, int which)
{
  const char *base = call->arm->cfg.public_url, *sub = call->params[0], *loc = call->arm->cfg.locations[0].name;
  const char *v = call->api_version;
  if (which & LRO_ASYNC_OPERATION)
    http_response_header(call->resp, "Azure-AsyncOperation",
                         "%s/subscriptions/%s/providers/%s/locations/%s/operations/%s?api-version=%s", base, sub,
                         provider, loc, op_id, v);
  if (which & LRO_LOCATION)
    http_response_header(call->resp, "Location",
                         "%s/subscriptions/%s/providers/%s/locations/%s/operations/%s?monitor=true&api-version=%s",
                         base, sub, provider, loc, op_id, v);
  if (which & LRO_RESOURCES_LOCATION)
    http_response_header(call->resp, "Location", "%s/subscriptions/%s/operationresults/%s?api-version=%s", base,
                         sub, op_id, v);
  http_response_header(call->resp, "Retry-After", "1");
}

void arm_start_delete(struct arm_call *call, const char *id, const char *type, const char *kind,
                      bool (*refuse)(struct arm_call *call, const struct meta_resource *r))
{
  struct meta *m = call->arm->meta;
  struct meta_resource r = {0};
  char op_id[40];
  int rc = meta_begin(m);
  if (rc == 0)
    rc = meta_resource_get(m, id, &r);
  if (rc == 0 && strcasecmp(r.type, type) != 0)
    rc = -ENOENT; /* an id of another type is not this resource */
  if (rc == 0 && refuse && refuse(call, &r)) {
    meta_rollback(m);
    meta_resource_clear(&r);
    return;
  }
  if (rc == 0) {
    free(r.provisioning_state);
    r.provisioning_state = strdup("Deleting");
    rc = meta_resource_put(m, &r, NULL, 0, NULL);
  }
  if (rc == 0)
    rc = arm_op_create(call, "Microsoft.Compute", kind, r.id, NULL, op_id);
  if (rc == 0)
    rc = meta_commit(m);
  else
    meta_rollback(m);
  if (rc == -ENOENT) {
    if (arm_rg_found(call))
      arm_reply_empty(call, 204);
  } else if (rc < 0) {
    arm_reply_internal(call, rc);
  } else {
    jobs_submit(call->arm->jobs, op_id);
    arm_lro_headers(call, "Microsoft.Compute", op_id, LRO_ASYNC_OPERATION | LRO_LOCATION);
    arm_reply_empty(call, 202);
  }
  meta_resource_clear(&r);
}

int arm_op_done(struct arm_call *call, const char *kind, const char *resource_id, const char *result, char op_id[40])
{
  int rc = arm_op_create(call, "Microsoft.Compute", kind, resource_id, NULL, op_id);
  /* A result document, so the Location URL answers 200 when done: the
   * arm-compute 25 pollers accept only 200/201/202 there, not 204. */
  if (rc == 0)
    rc = meta_operation_finish(call->arm->meta, op_id, OP_SUCCEEDED, NULL, result ? result : "{}");
  return rc;
}

int arm_row_update(struct arm_call *call, struct meta_resource *r, json_t *tags)
{
  if (tags) {
    free(r->tags);
    r->tags = json_is_null(tags) ? NULL : json_dumps(tags, JSON_COMPACT);
  }
  const char *if_match = http_header(call->req, "If-Match");
  int rc = meta_resource_put(call->arm->meta, r, if_match, if_match ? META_PUT_IF_MATCH : 0, NULL);
  if (rc == -ESTALE)
    arm_reply_error(call, 412, "PreconditionFailed",
                    "The condition specified using HTTP conditional header(s) is not met.");
  else if (rc < 0)
    arm_reply_internal(call, rc);
  return rc;
}

int arm_row_get(struct arm_call *call, const char *id, const char *type, void (*not_found)(struct arm_call *call),
                struct meta_resource *out)
{
  int rc = meta_resource_get(call->arm->meta, id, out);
  if (rc == 0 && strcasecmp(out->type, type) != 0) { /* an id of another type is not this resource */
    meta_resource_clear(out);
    rc = -ENOENT;
  }
  if (rc == -ENOENT)
    not_found(call);
  else if (rc < 0)
    arm_reply_internal(call, rc);
  return rc;
}
