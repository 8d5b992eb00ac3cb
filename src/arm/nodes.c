/*
 * nodes.c — GET /subscriptions/{sub}/providers/Microsoft.Vmrp/nodes: the
 * nodes of the region that serves the request, from its nodes table
 * (meta/node.c), for operators (Owner, as the store's other views).
 *
 * A node's state is judged by the metadata store's clock, the one its lease
 * is kept on: Active (lease live), Expired (ran out, not yet fenced: the
 * node stopped, or is cut off and stops itself), Fenced (another node took
 * its token away), Stopped (it left cleanly).  An embedded region (SQLite)
 * is one process by construction: its node holds no lease, so none is
 * shown.
 */
#include <errno.h>
#include <string.h>

#include "arm/internal.h"
#include "common/timefmt.h"

struct node_list {
  struct arm *arm;
  json_t *value;
};

static const char *node_state(const struct meta_node *n)
{
  return n->fenced ? "Fenced" : n->lease_until_us == 0 ? "Stopped" : n->lease_until_us > n->now_us ? "Active" : "Expired";
}

static int node_item(void *ctx, const struct meta_node *n)
{
  struct node_list *l = ctx;
  const struct arm_config *c = &l->arm->cfg;
  char started[TIME_ISO_LEN], lease[TIME_ISO_LEN];
  time_iso8601(n->started_us, started);
  json_t *props = json_pack("{s:s, s:I, s:s?, s:s?, s:s, s:s, s:b}", "state", node_state(n), "incarnation",
                            (json_int_t)n->incarnation, "address", n->addr, "version", n->version, "startedAt", started,
                            "mode", c->node_shared ? "shared" : "embedded", "self", strcmp(n->id, c->node_id) == 0);
  if (props && c->node_shared && n->lease_until_us > 0) {
    time_iso8601(n->lease_until_us, lease);
    json_object_set_new(props, "leaseExpiresAt", json_string(lease));
  }
  json_t *item = props ? json_pack("{s:s, s:s, s:s, s:o}", "name", n->id, "type", "Microsoft.Vmrp/nodes", "location",
                                   c->locations[0].name, "properties", props)
                       : NULL;
  return item && json_array_append_new(l->value, item) == 0 ? 0 : -ENOMEM;
}

void arm_nodes_list(struct arm_call *call)
{
  if (!arm_role_allows(call->arm, &call->who, call->params[0], ARM_NEED_OWNER)) {
    arm_reply_error(call, 403, "AuthorizationFailed",
                    "The client '%s' with object id '%s' does not have authorization to perform action "
                    "'Microsoft.Vmrp/nodes/read': Owner is required.",
                    call->who.appid, call->who.oid);
    return;
  }
  struct node_list l = {call->arm, json_array()};
  int rc = l.value ? meta_node_list(call->arm->meta, node_item, &l) : -ENOMEM;
  if (rc < 0) {
    json_decref(l.value);
    arm_reply_internal(call, rc);
    return;
  }
  arm_reply_json(call, 200, json_pack("{s:o}", "value", l.value));
}
