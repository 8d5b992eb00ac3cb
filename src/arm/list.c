/*
 * list.c — the two ways resources of one type are enumerated: for a list
 * request (under the call's resource group when the route captured one,
 * else its subscription) and for a region-wide walk (every configured
 * subscription: GC roots, start-up recovery, exports).
 */
#include <stdio.h>

#include "arm/internal.h"

struct reply_state {
  struct arm_call *call;
  arm_to_json to_json;
  json_t *value;
};

static int reply_one(void *ctx, const struct meta_resource *r)
{
  struct reply_state *st = ctx;
  json_array_append_new(st->value, st->to_json(st->call, r));
  return 0;
}

void arm_reply_list(struct arm_call *call, const char *type, arm_to_json to_json)
{
  char scope[512];
  if (call->nparams >= 2 && !arm_rg_found(call))
    return;
  if (call->nparams >= 2)
    snprintf(scope, sizeof scope, "/subscriptions/%s/resourceGroups/%s", call->params[0], call->params[1]);
  else
    snprintf(scope, sizeof scope, "/subscriptions/%s", call->params[0]);
  struct reply_state st = {call, to_json, json_array()};
  int rc = meta_resource_list_prefix(call->arm->meta, scope, type, NULL, 0, reply_one, &st);
  if (rc < 0) {
    json_decref(st.value);
    arm_reply_internal(call, rc);
    return;
  }
  arm_reply_json(call, 200, json_pack("{s:o}", "value", st.value));
}

int arm_for_each(struct arm *arm, const char *type, meta_resource_cb cb, void *ctx)
{
  int r = 0;
  for (int i = 0; r == 0 && i < arm->cfg.nsubscriptions; i++) {
    char sub[256];
    snprintf(sub, sizeof sub, "/subscriptions/%s", arm->cfg.subscriptions[i].id);
    r = meta_resource_list_prefix(arm->meta, sub, type, NULL, 0, cb, ctx);
  }
  return r;
}
