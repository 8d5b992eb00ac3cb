/*
 * network_refs.c — the references between Microsoft.Network resources and
 * from VMs to network interfaces: checked when they are made, looked up
 * backwards when a resource is shown or deleted.
 *
 * A reference is a resource id in a body (a NIC's ipConfigurations[].
 * properties.subnet.id and publicIPAddress.id and its networkSecurityGroup.id,
 * a subnet's networkSecurityGroup.id, a VM's networkProfile.
 * networkInterfaces[].id).  It must name a resource of the right type in
 * this region when it is written (400 InvalidResourceReference, Azure's
 * wording); the caller's right to name it is authz.c's, checked before.
 * Nothing stores the other direction: who uses a resource is found by
 * walking the NICs, VNets or VMs of the region (arm_net_users), inside the
 * caller's transaction when it writes, so a reference and the deletion of
 * what it names cannot both succeed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"
#include "arm/network.h"

static json_t *loads(const char *s) { return json_loads(s ? s : "{}", 0, NULL); }

static bool same(const char *a, const char *b) { return a && b && !strcasecmp(a, b); }

/* "<vnet id>/subnets/<name>": the VNet's id in vnet (cap bytes) and the
 * subnet's name; NULL when id is no subnet id. */
static const char *split_subnet(const char *id, char *vnet, size_t cap)
{
  const char *s = strcasestr(id, "/subnets/");
  if (!s || strchr(s + 9, '/') || !s[9] || (size_t)(s - id) >= cap)
    return NULL;
  snprintf(vnet, cap, "%.*s", (int)(s - id), id);
  return s + 9;
}

json_t *arm_net_subnet_find(json_t *vnet_props, const char *name)
{
  size_t i;
  json_t *s;
  json_array_foreach(json_object_get(vnet_props, "subnets"), i, s) if (same(json_string_value(json_object_get(s, "name")),
                                                                            name)) return s;
  return NULL;
}

json_t *arm_net_subnet_entry(struct arm *arm, const char *subnet_id)
{
  char vnet[1024];
  const char *name = split_subnet(subnet_id, vnet, sizeof vnet);
  struct meta_resource r;
  if (!name || meta_resource_get(arm->meta, vnet, &r) < 0)
    return NULL;
  json_t *p = loads(r.properties), *s = arm_net_subnet_find(p, name);
  json_incref(s);
  json_decref(p);
  meta_resource_clear(&r);
  return s;
}

/* Whether id names an existing resource of type (a subnet: of a VNet). */
static int exists(struct arm *arm, const char *id, const char *type, bool *found)
{
  char vnet[1024];
  const char *sub = !strcasecmp(type, NET_SUBNET_TYPE) ? split_subnet(id, vnet, sizeof vnet) : NULL;
  struct meta_resource r;
  *found = false;
  int rc = meta_resource_get(arm->meta, sub ? vnet : id, &r);
  if (rc == -ENOENT)
    return 0;
  if (rc < 0)
    return rc;
  if (sub) {
    json_t *p = loads(r.properties);
    *found = !strcasecmp(r.type, NET_VNET_TYPE) && arm_net_subnet_find(p, sub);
    json_decref(p);
  } else if (!strcasecmp(type, NET_SUBNET_TYPE)) {
    *found = false;
  } else {
    *found = !strcasecmp(r.type, type);
  }
  meta_resource_clear(&r);
  return 0;
}

int arm_net_ref_ok(struct arm_call *call, const char *id, const char *type, const char *referrer, const char *target)
{
  bool found = false;
  int rc = id ? exists(call->arm, id, type, &found) : 0;
  if (rc < 0) {
    arm_reply_internal(call, rc);
    return rc;
  }
  if (found)
    return 0;
  arm_reply_error_target(call, 400, "InvalidResourceReference", target,
                         "Resource %s referenced by resource %s was not found. Please make sure that the referenced "
                         "resource exists, and that both resources are in the same region.",
                         id ? id : "(none)", referrer);
  return -ENOENT;
}

/* ---- who uses a resource ------------------------------------------------- */

struct users {
  const char *id;
  enum arm_net_use use;
  const char *except; /* a user not to count (the one being written) */
  json_t *out;
};

static void add_user(struct users *u, const char *who)
{
  if (!same(who, u->except))
    json_array_append_new(u->out, json_string(who));
}

static const char *ref_id(json_t *o, const char *member)
{
  return json_string_value(json_object_get(json_object_get(o, member), "id"));
}

static int nic_users(void *ctx, const struct meta_resource *r)
{
  struct users *u = ctx;
  json_t *p = loads(r->properties), *c;
  size_t i;
  if (u->use == NET_USE_NIC_OF_NSG && same(ref_id(p, "networkSecurityGroup"), u->id))
    add_user(u, r->id);
  json_array_foreach(json_object_get(p, "ipConfigurations"), i, c) {
    json_t *cp = json_object_get(c, "properties");
    const char *ref = u->use == NET_USE_IPCONFIG_OF_SUBNET ? ref_id(cp, "subnet")
                      : u->use == NET_USE_IPCONFIG_OF_PIP  ? ref_id(cp, "publicIPAddress")
                                                           : NULL;
    if (same(ref, u->id)) {
      char who[1400];
      snprintf(who, sizeof who, "%s/ipConfigurations/%s", r->id, json_string_value(json_object_get(c, "name")));
      add_user(u, who);
    }
  }
  json_decref(p);
  return 0;
}

static int subnet_users(void *ctx, const struct meta_resource *r)
{
  struct users *u = ctx;
  json_t *p = loads(r->properties), *s;
  size_t i;
  json_array_foreach(json_object_get(p, "subnets"), i, s) {
    if (same(ref_id(json_object_get(s, "properties"), "networkSecurityGroup"), u->id)) {
      char who[1400];
      snprintf(who, sizeof who, "%s/subnets/%s", r->id, json_string_value(json_object_get(s, "name")));
      add_user(u, who);
    }
  }
  json_decref(p);
  return 0;
}

static int vm_users(void *ctx, const struct meta_resource *r)
{
  struct users *u = ctx;
  json_t *p = loads(r->properties), *n;
  size_t i;
  json_array_foreach(json_object_get(json_object_get(p, "networkProfile"), "networkInterfaces"), i, n) {
    if (same(json_string_value(json_object_get(n, "id")), u->id))
      add_user(u, r->id);
  }
  json_decref(p);
  return 0;
}

json_t *arm_net_users(struct arm *arm, const char *id, enum arm_net_use use, const char *except)
{
  struct users u = {id, use, except, json_array()};
  const char *type = use == NET_USE_SUBNET_OF_NSG ? NET_VNET_TYPE : use == NET_USE_VM_OF_NIC ? VM_TYPE : NET_NIC_TYPE;
  meta_resource_cb cb = use == NET_USE_SUBNET_OF_NSG ? subnet_users : use == NET_USE_VM_OF_NIC ? vm_users : nic_users;
  if (meta_resource_list_type(arm->meta, type, cb, &u) < 0) {
    json_decref(u.out);
    return NULL;
  }
  return u.out;
}

/* Deletes the row id when it is one of type; 0 when there is none. */
static int delete_row(struct arm *arm, const char *id, const char *type)
{
  struct meta_resource r;
  int rc = meta_resource_get(arm->meta, id, &r);
  if (rc == -ENOENT)
    return 0;
  if (rc < 0)
    return rc;
  if (!strcasecmp(r.type, type))
    rc = meta_resource_delete(arm->meta, id);
  meta_resource_clear(&r);
  return rc == -ENOENT ? 0 : rc;
}

/* The public IPs of a NIC's ip configurations marked deleteOption Delete. */
static int delete_nic_pips(struct arm *arm, const char *nic_id)
{
  struct meta_resource r;
  int rc = meta_resource_get(arm->meta, nic_id, &r);
  if (rc < 0)
    return rc == -ENOENT ? 0 : rc;
  json_t *p = loads(r.properties), *c;
  size_t i;
  json_array_foreach(json_object_get(p, "ipConfigurations"), i, c) {
    json_t *pip = json_object_get(json_object_get(c, "properties"), "publicIPAddress");
    const char *del = json_string_value(json_object_get(json_object_get(pip, "properties"), "deleteOption"));
    if (rc == 0 && same(del, "Delete"))
      rc = delete_row(arm, json_string_value(json_object_get(pip, "id")), NET_PIP_TYPE);
  }
  json_decref(p);
  meta_resource_clear(&r);
  return rc;
}

int arm_net_vm_removed(struct arm *arm, json_t *vm_props)
{
  json_t *n;
  size_t i;
  int rc = 0;
  json_array_foreach(json_object_get(json_object_get(vm_props, "networkProfile"), "networkInterfaces"), i, n) {
    const char *id = json_string_value(json_object_get(n, "id"));
    const char *del = json_string_value(json_object_get(json_object_get(n, "properties"), "deleteOption"));
    if (rc == 0 && id && same(del, "Delete"))
      rc = delete_nic_pips(arm, id);
    if (rc == 0 && id && same(del, "Delete"))
      rc = delete_row(arm, id, NET_NIC_TYPE);
  }
  return rc;
}

int arm_vm_nics_ok(struct arm_call *call, const char *vm_id, json_t *network_profile)
{
  json_t *n;
  size_t i;
  json_array_foreach(json_object_get(network_profile, "networkInterfaces"), i, n) {
    const char *id = json_string_value(json_object_get(n, "id"));
    char target[96];
    snprintf(target, sizeof target, "networkProfile.networkInterfaces[%zu].id", i);
    int rc = arm_net_ref_ok(call, id, NET_NIC_TYPE, vm_id, target);
    if (rc < 0)
      return rc;
    json_t *users = arm_net_users(call->arm, id, NET_USE_VM_OF_NIC, vm_id);
    if (!users) {
      arm_reply_internal(call, -EIO);
      return -EIO;
    }
    if (json_array_size(users)) {
      arm_reply_error_target(call, 400, "NicInUse", target,
                             "Network interface %s is used by existing resource %s; a network interface is "
                             "attached to one virtual machine.",
                             id, json_string_value(json_array_get(users, 0)));
      rc = -EBUSY;
    }
    json_decref(users);
    if (rc < 0)
      return rc;
  }
  return 0;
}
