/*
 * network.c — Microsoft.Network virtual networks (and their subnets),
 * network security groups, network interfaces and public IP addresses, as
 * VM templates declare them.
 *
 * They are ARM resources and nothing more: stored, checked, listed,
 * referenced and protected while referenced, but no packet ever flows — vmrp
 * emulates no network (README).  So no address is allocated: a Dynamic
 * private or public IP has none, a Static one only the address it was given.
 *
 * Every type is one row (a VNet's subnets, an NSG's rules, a NIC's ip
 * configurations live in its properties) and one struct net_kind
 * (network_types.c: its members, checks, GET view, delete refusals); this
 * file is what they share: the envelope (name, id, weak etag, type,
 * location, tags, sku), the transaction that checks and writes, the lists.
 * PUT and DELETE are synchronous (201/200, 200/204: what Azure's Network
 * spec allows and the clients' pollers finish on).  Subnets are also child
 * resources (…/virtualNetworks/{v}/subnets/{s}): a subnet PUT or DELETE
 * rewrites its VNet through the same checks, inside the transaction.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"
#include "arm/network.h"
#include "common/random.h"

static json_t *loads(const char *s) { return json_loads(s ? s : "{}", 0, NULL); }

static const struct net_kind *kind_of(struct arm_call *call)
{
  for (size_t i = 0; i < NET_KINDS; i++)
    if (!strcasecmp(arm_net_kinds[i].segment, call->type_name))
      return &arm_net_kinds[i];
  return &arm_net_kinds[0]; /* virtualNetworks/subnets */
}

/* ---- the handlers ---------------------------------------------------------- */

static void net_id(struct arm_call *call, const struct net_kind *k, char *out, size_t cap)
{
  snprintf(out, cap, "/subscriptions/%s/resourceGroups/%s/providers/%s/%s", call->params[0], call->params[1], k->type,
           call->params[2]);
}

static json_t *net_json(struct arm *arm, const struct net_kind *k, const struct meta_resource *r)
{
  char etag[80];
  snprintf(etag, sizeof etag, "W/%s", r->etag ? r->etag : "\"\"");
  json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s}", "name", r->name, "id", r->id, "etag", etag, "type", k->type,
                        "location", r->location ? r->location : "");
  json_object_set_new(o, "tags", r->tags ? loads(r->tags) : json_object());
  json_t *extra = r->extra ? loads(r->extra) : NULL;
  if (extra)
    json_object_update(o, extra);
  json_decref(extra);
  json_t *props = loads(r->properties);
  json_object_set_new(props, "provisioningState", json_string("Succeeded"));
  k->show(arm, r, props);
  json_object_set_new(o, "properties", props);
  return o;
}

static void reply_net(struct arm_call *call, const struct net_kind *k, int status, const struct meta_resource *r)
{
  http_response_header(call->resp, "ETag", "%s", r->etag);
  arm_reply_json(call, status, net_json(call->arm, k, r));
}

/* The row of id when it is of type: 0; replied 404/500 and -errno. */
static int net_row(struct arm_call *call, const char *id, const char *type, const char *name, struct meta_resource *r)
{
  int rc = meta_resource_get(call->arm->meta, id, r);
  if (rc == 0 && strcasecmp(r->type, type) != 0) {
    meta_resource_clear(r);
    rc = -ENOENT;
  }
  if (rc == -ENOENT)
    arm_reply_not_found(call, type, name);
  else if (rc < 0)
    arm_reply_internal(call, rc);
  return rc;
}

static bool name_ok(struct arm_call *call, const char *name)
{
  bool ok = arm_compute_name_valid(name, 80);
  if (!ok)
    arm_reply_error(call, 400, "InvalidResourceName",
                    "Resource name %s is invalid. The name can be up to 80 characters long. It must begin with a word "
                    "character, and it must end with a word character or with '_'. The name may contain word "
                    "characters or '.', '-', '_'.",
                    name);
  return ok;
}

/* What a subnet PUT or DELETE writes: the body of its VNet, made inside
 * the transaction from the stored row (NULL when replied). */
struct net_edit {
  json_t *(*fn)(struct arm_call *call, const struct meta_resource *old, void *ctx);
  void *ctx;
};

/* Writes b (checked; or the edit's body) as resource id of kind k in one
 * transaction, built against the stored row if any.  *r: the row written.
 * Replies on error. */
static int net_write(struct arm_call *call, const struct net_kind *k, const char *id, const char *loc, json_t *b,
                     const struct net_edit *edit, struct meta_resource *r, bool *created)
{
  struct meta *m = call->arm->meta;
  struct meta_resource old = {0};
  json_t *props = NULL, *extra = NULL, *old_props = NULL, *body = NULL;
  int rc = meta_begin(m);
  if (rc < 0) {
    arm_reply_internal(call, rc);
    return rc;
  }
  rc = meta_resource_get(m, id, &old);
  bool exists = rc == 0;
  if (rc == -ENOENT && !edit)
    rc = 0;
  if (rc == -ENOENT)
    arm_reply_not_found(call, k->type, call->params[2]);
  else if (rc < 0)
    arm_reply_internal(call, rc);
  old_props = exists ? loads(old.properties) : NULL;
  body = edit && rc == 0 ? edit->fn(call, &old, edit->ctx) : json_incref(b);
  if (rc == 0 && !body)
    rc = -EINVAL;
  if (rc == 0)
    rc = k->build(call, id, body, old_props, &props, &extra);
  if (rc == 0) {
    const char *guid = json_string_value(json_object_get(old_props, "resourceGuid"));
    char fresh[UUID_STR_LEN];
    if (!guid)
      random_uuid(fresh);
    json_object_set_new(props, "resourceGuid", json_string(guid ? guid : fresh));
    json_t *tags = json_object_get(body, "tags");
    char rg[512];
    snprintf(rg, sizeof rg, "/subscriptions/%s/resourceGroups/%s", call->params[0], call->params[1]);
    *r = (struct meta_resource){.id = strdup(id), .type = strdup(k->type), .name = strdup(strrchr(id, '/') + 1),
                                .parent_id = strdup(rg), .location = strdup(loc),
                                .tags = tags && !json_is_null(tags) ? json_dumps(tags, JSON_COMPACT) : NULL,
                                .properties = json_dumps(props, JSON_COMPACT),
                                .extra = extra ? json_dumps(extra, JSON_COMPACT) : NULL,
                                .provisioning_state = strdup("Succeeded")};
    rc = meta_resource_put(m, r, NULL, 0, created);
    if (rc < 0)
      arm_reply_internal(call, rc);
  }
  if (rc == 0)
    rc = meta_commit(m);
  else
    meta_rollback(m);
  json_decref(body);
  json_decref(props);
  json_decref(extra);
  json_decref(old_props);
  if (exists)
    meta_resource_clear(&old);
  return rc;
}

void arm_net_put(struct arm_call *call)
{
  const struct net_kind *k = kind_of(call);
  json_t *b = call->body;
  if (!name_ok(call, call->params[2]) || !arm_rg_ready(call))
    return;
  if (!arm_body_required(call))
    return;
  if (!arm_body_normalise(call, b, k->members) || !arm_body_tree_ok(call, b, NULL, k->members) ||
      !arm_tags_ok(call, json_object_get(b, "tags")))
    return;
  const char *loc = arm_location_here(call, b, k->type);
  if (!loc)
    return;
  char id[1024];
  net_id(call, k, id, sizeof id);
  struct meta_resource r = {0};
  bool created = false;
  if (net_write(call, k, id, loc, b, NULL, &r, &created) == 0)
    reply_net(call, k, created ? 201 : 200, &r);
  meta_resource_clear(&r);
}

void arm_net_patch(struct arm_call *call)
{
  static const struct arm_member members[] = {ARM_MEMBER("tags", JSON_OBJECT), ARM_MEMBERS_END};
  const struct net_kind *k = kind_of(call);
  json_t *b = call->body ? call->body : (call->body = json_object());
  if (!arm_body_normalise(call, b, members) || !arm_tags_ok(call, json_object_get(b, "tags")))
    return;
  char id[1024];
  net_id(call, k, id, sizeof id);
  struct meta_resource r;
  if (net_row(call, id, k->type, call->params[2], &r) < 0)
    return;
  json_t *tags = json_object_get(b, "tags");
  if (tags) {
    free(r.tags);
    r.tags = json_is_null(tags) ? NULL : json_dumps(tags, JSON_COMPACT);
  }
  int rc = meta_resource_put(call->arm->meta, &r, NULL, 0, NULL);
  if (rc < 0)
    arm_reply_internal(call, rc);
  else
    reply_net(call, k, 200, &r);
  meta_resource_clear(&r);
}

void arm_net_get(struct arm_call *call)
{
  const struct net_kind *k = kind_of(call);
  char id[1024];
  net_id(call, k, id, sizeof id);
  struct meta_resource r;
  if (net_row(call, id, k->type, call->params[2], &r) < 0)
    return;
  reply_net(call, k, 200, &r);
  meta_resource_clear(&r);
}

void arm_net_delete(struct arm_call *call)
{
  const struct net_kind *k = kind_of(call);
  char id[1024];
  net_id(call, k, id, sizeof id);
  struct meta *m = call->arm->meta;
  struct meta_resource r = {0};
  int rc = meta_begin(m);
  if (rc < 0) {
    arm_reply_internal(call, rc);
    return;
  }
  rc = meta_resource_get(m, id, &r);
  bool found = rc == 0;
  if (found && strcasecmp(r.type, k->type) != 0)
    rc = -ENOENT;
  if (rc == 0 && k->refuse_delete(call, &r))
    rc = -EBUSY; /* replied */
  else if (rc == 0)
    rc = meta_resource_delete(m, id);
  if (rc == 0)
    rc = meta_commit(m);
  else
    meta_rollback(m);
  if (rc == 0)
    arm_reply_empty(call, 200);
  else if (rc == -ENOENT && arm_rg_found(call))
    arm_reply_empty(call, 204);
  else if (rc < 0 && rc != -ENOENT && rc != -EBUSY)
    arm_reply_internal(call, rc);
  if (found)
    meta_resource_clear(&r);
}

static json_t *list_json(struct arm_call *call, const struct meta_resource *r)
{
  return net_json(call->arm, kind_of(call), r);
}

void arm_net_list(struct arm_call *call) { arm_reply_list(call, kind_of(call)->type, list_json); }

/* ---- subnets as child resources -------------------------------------------- */

/* The subnet entry of a VNet document (net_json) named name, or NULL. */
static json_t *subnet_doc(json_t *vnet_doc, const char *name)
{
  json_t *s = arm_net_subnet_find(json_object_get(vnet_doc, "properties"), name);
  return s ? json_incref(s) : NULL;
}

/* The route's VNet (params[2]): 0 and *r; replied otherwise. */
static int vnet_row(struct arm_call *call, struct meta_resource *r)
{
  char id[1024];
  net_id(call, &arm_net_kinds[0], id, sizeof id);
  return net_row(call, id, NET_VNET_TYPE, call->params[2], r);
}

static void subnet_not_found(struct arm_call *call)
{
  char name[600];
  snprintf(name, sizeof name, "%s/subnets/%s", call->params[2], call->params[3]);
  arm_reply_not_found(call, NET_VNET_TYPE, name);
}

void arm_net_subnet_get(struct arm_call *call)
{
  struct meta_resource r;
  if (vnet_row(call, &r) < 0)
    return;
  json_t *doc = net_json(call->arm, &arm_net_kinds[0], &r), *s = subnet_doc(doc, call->params[3]);
  if (s)
    arm_reply_json(call, 200, s);
  else
    subnet_not_found(call);
  json_decref(doc);
  meta_resource_clear(&r);
}

void arm_net_subnet_list(struct arm_call *call)
{
  struct meta_resource r;
  if (vnet_row(call, &r) < 0)
    return;
  json_t *doc = net_json(call->arm, &arm_net_kinds[0], &r);
  json_t *subnets = json_object_get(json_object_get(doc, "properties"), "subnets");
  arm_reply_json(call, 200, json_pack("{s:o}", "value", subnets ? json_incref(subnets) : json_array()));
  json_decref(doc);
  meta_resource_clear(&r);
}

struct subnet_change {
  json_t *entry; /* the new entry of the subnet; NULL: it goes */
  bool created;  /* out: the VNet had no such subnet */
};

/* The VNet's body with the route's subnet (params[3]) replaced, added or
 * removed. */
static json_t *subnet_body(struct arm_call *call, const struct meta_resource *old, void *ctx)
{
  struct subnet_change *ch = ctx;
  json_t *props = loads(old->properties), *subnets = json_object_get(props, "subnets"), *s;
  size_t i, at = json_array_size(subnets);
  json_array_foreach(subnets, i, s) if (!strcasecmp(json_string_value(json_object_get(s, "name")), call->params[3])) at = i;
  ch->created = at == json_array_size(subnets);
  if (ch->entry && ch->created)
    json_array_append(subnets, ch->entry);
  else if (ch->entry)
    json_array_set(subnets, at, ch->entry);
  else
    json_array_remove(subnets, at);
  return json_pack("{s:o,s:o}", "properties", props, "tags", old->tags ? loads(old->tags) : json_null());
}

/* Writes the route's VNet with the change; *r: the VNet written.  Replies
 * on error. */
static int subnet_write(struct arm_call *call, struct subnet_change *ch, struct meta_resource *r)
{
  char id[1024];
  net_id(call, &arm_net_kinds[0], id, sizeof id);
  struct meta_resource v;
  if (vnet_row(call, &v) < 0)
    return -ENOENT;
  struct net_edit edit = {subnet_body, ch};
  bool created;
  int rc = net_write(call, &arm_net_kinds[0], id, v.location ? v.location : "", NULL, &edit, r, &created);
  meta_resource_clear(&v);
  return rc;
}

void arm_net_subnet_put(struct arm_call *call)
{
  json_t *b = call->body;
  if (!name_ok(call, call->params[3]))
    return;
  if (!arm_body_required(call))
    return;
  if (!arm_body_normalise(call, b, arm_net_subnet_members) || !arm_body_tree_ok(call, b, NULL, arm_net_subnet_members))
    return;
  json_t *p = json_object_get(b, "properties");
  struct subnet_change ch = {json_pack("{s:s,s:o}", "name", call->params[3], "properties",
                                                 p ? json_incref(p) : json_object()),
                              false};
  struct meta_resource r = {0};
  if (subnet_write(call, &ch, &r) == 0) {
    json_t *doc = net_json(call->arm, &arm_net_kinds[0], &r);
    arm_reply_json(call, ch.created ? 201 : 200, subnet_doc(doc, call->params[3]));
    json_decref(doc);
  }
  json_decref(ch.entry);
  meta_resource_clear(&r);
}

void arm_net_subnet_delete(struct arm_call *call)
{
  struct meta_resource r = {0};
  int rc = vnet_row(call, &r);
  if (rc < 0)
    return;
  json_t *props = loads(r.properties);
  bool has = arm_net_subnet_find(props, call->params[3]) != NULL;
  json_decref(props);
  meta_resource_clear(&r);
  struct subnet_change ch = {NULL, false};
  if (!has)
    arm_reply_empty(call, 204);
  else if (subnet_write(call, &ch, &r) == 0)
    arm_reply_empty(call, 200);
  meta_resource_clear(&r);
}
