/*
 * failpoints.c — the admin call that arms failpoints in a running region
 * (common/failpoint.h; the sites are listed in docs/reliability.md).
 *
 *   PUT /providers/Microsoft.Vmrp/failpoints?api-version=…  {"spec":"site=ACTION[@N][xK],..."}
 *   GET /providers/Microsoft.Vmrp/failpoints?api-version=…
 *
 * PUT replaces the runtime set ({"spec":""} clears it; points armed by
 * VMRP_FAILPOINTS at start stay) and answers as GET does: every armed point
 * with its hits and firings.  Served only when the region's configuration
 * says [testing] failpoints = on — elsewhere the path is 404 like any unknown
 * one, so a production region does not even show it exists — and only to an
 * Owner of at least one of the region's subscriptions (it can break them
 * all).  Never forwarded: each region arms its own process.
 */
#include <errno.h>
#include <string.h>

#include "arm/internal.h"
#include "common/failpoint.h"
#include "common/log.h"

/* Whether the call may use the failpoints: 404 / 403 replied if not. */
static bool allowed(struct arm_call *call)
{
  struct arm *arm = call->arm;
  if (!arm->cfg.failpoints) {
    arm_reply_error(call, 404, "NotFound", "The requested path '%s' was not found.", call->req->path);
    return false;
  }
  for (int i = 0; i < arm->cfg.nsubscriptions; i++)
    if (arm_role_allows(arm, &call->who, arm->cfg.subscriptions[i].id, ARM_NEED_OWNER))
      return true;
  arm_reply_error(call, 403, "AuthorizationFailed",
                  "The client '%s' with object id '%s' does not have authorization to perform action "
                  "'Microsoft.Vmrp/failpoints/%s': Owner of a subscription of the region is required.",
                  call->who.appid, call->who.oid, strcmp(call->req->method, "GET") ? "write" : "read");
  return false;
}

static int add_point(const struct failpoint_info *fp, void *arg)
{
  json_t *o = json_pack("{s:s,s:s,s:I,s:I,s:s}", "site", fp->site, "action", fp->spec, "hits", (json_int_t)fp->hits,
                        "fired", (json_int_t)fp->fired, "armedBy", fp->runtime ? "admin" : "environment");
  return o && json_array_append_new(arg, o) == 0 ? 0 : -ENOMEM;
}

static void reply_points(struct arm_call *call)
{
  json_t *list = json_array();
  int rc = list ? failpoint_each(add_point, list) : -ENOMEM;
  if (rc < 0) {
    json_decref(list);
    arm_reply_internal(call, rc);
    return;
  }
  arm_reply_json(call, 200, json_pack("{s:o}", "failpoints", list));
}

void arm_failpoints_get(struct arm_call *call)
{
  if (allowed(call))
    reply_points(call);
}

void arm_failpoints_put(struct arm_call *call)
{
  if (!allowed(call))
    return;
  const char *spec = json_string_value(json_object_get(call->body, "spec"));
  if (!spec) {
    arm_reply_error(call, 400, "InvalidRequestContent", "The body must be {\"spec\": \"site=ACTION[@N][xK],...\"}.");
    return;
  }
  int rc = failpoint_arm(spec);
  if (rc == -EINVAL) {
    arm_reply_error(call, 400, "InvalidParameter",
                    "'%s' is not a failpoint spec: site=ACTION[@N][xK],... with ACTION eio, enospc, short, crash "
                    "or an integer, N and K at least 1, each site once.",
                    spec);
    return;
  }
  if (rc < 0) {
    arm_reply_error(call, 501, "NotImplemented", "This vmrpd was built without failpoints (VMRP_FAILPOINTS=OFF).");
    return;
  }
  log_warn("arm", "failpoints armed by %s: '%s'", call->who.oid, spec);
  reply_points(call);
}
