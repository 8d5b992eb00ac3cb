/*
 * network_types.c — the four Microsoft.Network types as network.c serves
 * them (struct net_kind): the members each reads, how a body becomes its
 * stored properties (checks, defaults, references), what GET adds and why
 * a DELETE is refused.
 *
 * Azure's rules and codes: address prefixes in CIDR notation with no host
 * bits (InvalidAddressPrefixFormat, InvalidCIDRNotation), subnets inside
 * their VNet's space and not overlapping (NetcfgSubnetRangeOutsideVnet,
 * NetcfgSubnetRangesOverlap), child names once (DuplicateResourceName),
 * security rule priorities 100-4096 (SecurityRuleInvalidPriority) and one
 * per direction, a NIC with at least one ip configuration whose subnet,
 * public IP and NSG exist (InvalidResourceReference) and a public IP held
 * by one NIC (PublicIPAddressInUse), domain name labels as Azure allows
 * them (InvalidDomainNameLabel; fqdn <label>.<region>.cloudapp.azure.com),
 * a Static private address inside its subnet (PrivateIPAddressNotInSubnet).
 * In use, nothing goes: InUseSubnetCannotBeDeleted (also for a VNet PUT
 * that drops the subnet), InUseNetworkSecurityGroupCannotBeDeleted,
 * NicInUse, PublicIPAddressCannotBeDeleted.  No address is allocated.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"
#include "arm/network.h"

static json_t *loads(const char *s) { return json_loads(s ? s : "{}", 0, NULL); }

/* ---- member tables ------------------------------------------------------ */

static const char *const alloc_methods[] = {"Dynamic", "Static", NULL};
static const char *const ip_versions[] = {"IPv4", "IPv6", NULL};
static const char *const protocols[] = {"Tcp", "Udp", "Icmp", "Esp", "Ah", "*", NULL};
static const char *const accesses[] = {"Allow", "Deny", NULL};
static const char *const directions[] = {"Inbound", "Outbound", NULL};
static const char *const pip_skus[] = {"Basic", "Standard", NULL};
static const char *const pip_tiers[] = {"Regional", "Global", NULL};
static const char *const delete_options[] = {"Delete", "Detach", NULL};

static const struct arm_member id_ref[] = {ARM_MEMBER("id", JSON_STRING), ARM_MEMBERS_END};

static const struct arm_member subnet_props[] = {
    ARM_STRING("addressPrefix", 64), ARM_MEMBER("addressPrefixes", JSON_ARRAY),
    ARM_OBJECT("networkSecurityGroup", id_ref), ARM_MEMBERS_END};
static const struct arm_member subnet_entry[] = {ARM_STRING("name", 80), ARM_OBJECT("properties", subnet_props),
                                                 ARM_MEMBERS_END};
static const struct arm_member address_space[] = {ARM_MEMBER("addressPrefixes", JSON_ARRAY), ARM_MEMBERS_END};
static const struct arm_member dhcp_options[] = {ARM_MEMBER("dnsServers", JSON_ARRAY), ARM_MEMBERS_END};
static const struct arm_member vnet_props[] = {
    ARM_OBJECT("addressSpace", address_space), ARM_ARRAY("subnets", subnet_entry),
    ARM_OBJECT("dhcpOptions", dhcp_options), ARM_MEMBER("enableDdosProtection", JSON_TRUE), ARM_MEMBERS_END};
static const struct arm_member vnet_members[] = {ARM_MEMBER("location", JSON_STRING), ARM_MEMBER("tags", JSON_OBJECT),
                                                 ARM_OBJECT("properties", vnet_props), ARM_MEMBERS_END};
const struct arm_member arm_net_subnet_members[] = {ARM_OBJECT("properties", subnet_props), ARM_MEMBERS_END};

static const struct arm_member rule_props[] = {
    ARM_ENUM("protocol", protocols), ARM_ENUM("access", accesses), ARM_ENUM("direction", directions),
    ARM_MEMBER("priority", JSON_INTEGER), ARM_STRING("description", 140),
    ARM_STRING("sourcePortRange", 64), ARM_MEMBER("sourcePortRanges", JSON_ARRAY),
    ARM_STRING("destinationPortRange", 64), ARM_MEMBER("destinationPortRanges", JSON_ARRAY),
    ARM_STRING("sourceAddressPrefix", 128), ARM_MEMBER("sourceAddressPrefixes", JSON_ARRAY),
    ARM_STRING("destinationAddressPrefix", 128), ARM_MEMBER("destinationAddressPrefixes", JSON_ARRAY),
    ARM_MEMBERS_END};
static const struct arm_member rule_entry[] = {ARM_STRING("name", 80), ARM_OBJECT("properties", rule_props),
                                               ARM_MEMBERS_END};
static const struct arm_member nsg_props[] = {ARM_ARRAY("securityRules", rule_entry), ARM_MEMBERS_END};
static const struct arm_member nsg_members[] = {ARM_MEMBER("location", JSON_STRING), ARM_MEMBER("tags", JSON_OBJECT),
                                                ARM_OBJECT("properties", nsg_props), ARM_MEMBERS_END};

static const struct arm_member pip_ref_props[] = {ARM_ENUM("deleteOption", delete_options), ARM_MEMBERS_END};
static const struct arm_member pip_ref[] = {ARM_MEMBER("id", JSON_STRING), ARM_OBJECT("properties", pip_ref_props),
                                            ARM_MEMBERS_END};
static const struct arm_member ipconfig_props[] = {
    ARM_OBJECT("subnet", id_ref), ARM_OBJECT("publicIPAddress", pip_ref),
    ARM_ENUM("privateIPAllocationMethod", alloc_methods), ARM_STRING("privateIPAddress", 64),
    ARM_ENUM("privateIPAddressVersion", ip_versions), ARM_MEMBER("primary", JSON_TRUE), ARM_MEMBERS_END};
static const struct arm_member ipconfig_entry[] = {ARM_STRING("name", 80), ARM_OBJECT("properties", ipconfig_props),
                                                   ARM_MEMBERS_END};
static const struct arm_member nic_dns[] = {ARM_MEMBER("dnsServers", JSON_ARRAY), ARM_MEMBERS_END};
static const struct arm_member nic_props[] = {
    ARM_ARRAY("ipConfigurations", ipconfig_entry), ARM_OBJECT("networkSecurityGroup", id_ref),
    ARM_MEMBER("enableAcceleratedNetworking", JSON_TRUE), ARM_MEMBER("enableIPForwarding", JSON_TRUE),
    ARM_OBJECT("dnsSettings", nic_dns), ARM_MEMBERS_END};
static const struct arm_member nic_members[] = {ARM_MEMBER("location", JSON_STRING), ARM_MEMBER("tags", JSON_OBJECT),
                                                ARM_OBJECT("properties", nic_props), ARM_MEMBERS_END};

static const struct arm_member pip_dns[] = {ARM_STRING("domainNameLabel", 63), ARM_MEMBERS_END};
static const struct arm_member pip_props[] = {
    ARM_ENUM("publicIPAllocationMethod", alloc_methods), ARM_ENUM("publicIPAddressVersion", ip_versions),
    ARM_MEMBER("idleTimeoutInMinutes", JSON_INTEGER), ARM_OBJECT("dnsSettings", pip_dns),
    ARM_STRING("ipAddress", 64), ARM_MEMBERS_END};
static const struct arm_member pip_sku[] = {ARM_ENUM("name", pip_skus), ARM_ENUM("tier", pip_tiers), ARM_MEMBERS_END};
static const struct arm_member pip_members[] = {ARM_MEMBER("location", JSON_STRING), ARM_MEMBER("tags", JSON_OBJECT),
                                                ARM_OBJECT("properties", pip_props), ARM_OBJECT("sku", pip_sku),
                                                ARM_MEMBERS_END};

/* ---- helpers -------------------------------------------------------------- */

/* dst[name] = the spelling in allowed of src[name], or def. */
static void set_enum(json_t *dst, json_t *src, const char *name, const char *const *allowed, const char *def)
{
  const char *v = arm_canonical(json_string_value(json_object_get(src, name)), allowed);
  if (v || def)
    json_object_set_new(dst, name, json_string(v ? v : def));
}

static void copy_member(json_t *dst, json_t *src, const char *name)
{
  json_t *v = json_object_get(src, name);
  if (v && !json_is_null(v))
    json_object_set(dst, name, v);
}

static const char *ref_id(json_t *o, const char *member)
{
  return json_string_value(json_object_get(json_object_get(o, member), "id"));
}

/* Entries of arr (objects with a "name") named twice: replies
 * DuplicateResourceName for the first and returns false. */
static bool names_once(struct arm_call *call, json_t *arr, const char *parent_id, const char *child, const char *target)
{
  size_t i, j;
  json_t *a, *b;
  json_array_foreach(arr, i, a) {
    const char *n = json_string_value(json_object_get(a, "name"));
    if (!n || !*n) {
      char at[128];
      snprintf(at, sizeof at, "%s[%zu].name", target, i);
      arm_reply_error_target(call, 400, "InvalidRequestFormat", at, "Cannot parse the request: %s[%zu] has no name.",
                             target, i);
      return false;
    }
    json_array_foreach(arr, j, b) {
      if (j < i && !strcasecmp(n, json_string_value(json_object_get(b, "name")))) {
        arm_reply_error_target(call, 400, "DuplicateResourceName", target,
                               "Resource %s has two child resources with the same name (%s) in '%s'.", parent_id, n,
                               child);
        return false;
      }
    }
  }
  return true;
}

struct cidr {
  int family;
  unsigned char addr[16];
  int bits;
};

static bool cidr_parse(const char *s, struct cidr *c)
{
  char a[64];
  const char *slash = s ? strchr(s, '/') : NULL;
  if (!slash || (size_t)(slash - s) >= sizeof a)
    return false;
  snprintf(a, sizeof a, "%.*s", (int)(slash - s), s);
  char *end;
  long bits = strtol(slash + 1, &end, 10);
  c->family = strchr(a, ':') ? AF_INET6 : AF_INET;
  int max = c->family == AF_INET ? 32 : 128;
  return slash[1] && !*end && bits >= 0 && bits <= max && inet_pton(c->family, a, c->addr) == 1 &&
         (c->bits = (int)bits, true);
}

/* Whether a and b agree on their first bits. */
static bool same_prefix(const struct cidr *a, const struct cidr *b, int bits)
{
  int full = bits / 8, rem = bits % 8;
  if (a->family != b->family || memcmp(a->addr, b->addr, (size_t)full) != 0)
    return false;
  unsigned char m = (unsigned char)(0xff << (8 - rem));
  return !rem || (a->addr[full] & m) == (b->addr[full] & m);
}

/* An address prefix in CIDR notation with no host bits set; replies
 * (InvalidAddressPrefixFormat, InvalidCIDRNotation) otherwise. */
static bool prefix_ok(struct arm_call *call, const char *s, const char *owner, const char *target, struct cidr *c)
{
  if (!cidr_parse(s, c)) {
    arm_reply_error_target(call, 400, "InvalidAddressPrefixFormat", target,
                           "Address prefix %s of resource %s is not formatted correctly. It should follow CIDR "
                           "notation, for example 10.0.0.0/24.",
                           s ? s : "(none)", owner);
    return false;
  }
  struct cidr net = *c;
  for (int i = c->bits; i < (c->family == AF_INET ? 32 : 128); i++)
    net.addr[i / 8] &= (unsigned char)~(0x80 >> (i % 8));
  if (memcmp(net.addr, c->addr, sizeof net.addr) != 0) {
    char a[64];
    inet_ntop(c->family, net.addr, a, sizeof a);
    arm_reply_error_target(call, 400, "InvalidCIDRNotation", target,
                           "The address prefix %s in resource %s has an invalid CIDR notation. For the given prefix "
                           "length, the address prefix should be %s/%d.",
                           s, owner, a, c->bits);
    return false;
  }
  return true;
}

/* ---- the kinds ------------------------------------------------------------ */


/* A child entry as GET shows it: name, id, etag, type, properties with
 * provisioningState. */
static void show_child(json_t *e, const struct meta_resource *r, const char *segment, const char *type)
{
  char id[1400], etag[80];
  const char *name = json_string_value(json_object_get(e, "name"));
  snprintf(id, sizeof id, "%s/%s/%s", r->id, segment, name ? name : "");
  snprintf(etag, sizeof etag, "W/%s", r->etag ? r->etag : "\"\"");
  json_object_set_new(e, "id", json_string(id));
  json_object_set_new(e, "etag", json_string(etag));
  json_object_set_new(e, "type", json_string(type));
  json_t *p = json_object_get(e, "properties");
  if (!json_is_object(p))
    json_object_set_new(e, "properties", p = json_object());
  json_object_set_new(p, "provisioningState", json_string("Succeeded"));
}

/* users of id as [{"id": …}], or NULL when none. */
static json_t *id_list(struct arm *arm, const char *id, enum arm_net_use use)
{
  json_t *ids = arm_net_users(arm, id, use, NULL), *v, *out = NULL;
  size_t i;
  json_array_foreach(ids, i, v) {
    if (!out)
      out = json_array();
    json_array_append_new(out, json_pack("{s:O}", "id", v));
  }
  json_decref(ids);
  return out;
}

/* The words of an in-use refusal: <what> <id> <verb> <first user>.<after> */
struct in_use_text {
  const char *what, *verb, *after;
};

/* Whether id has users of kind use: then replies 400 code with text and
 * returns true (500 on a store error, true). */
static bool in_use(struct arm_call *call, const char *id, enum arm_net_use use, const char *code,
                   const struct in_use_text *t)
{
  json_t *ids = arm_net_users(call->arm, id, use, NULL);
  bool used = !ids || json_array_size(ids) > 0;
  if (!ids)
    arm_reply_internal(call, -EIO);
  else if (used)
    arm_reply_error(call, 400, code, "%s %s %s %s.%s", t->what, id, t->verb, json_string_value(json_array_get(ids, 0)),
                    t->after);
  json_decref(ids);
  return used;
}

/* The first user of id as {"id": …}, or NULL. */
static json_t *first_user(struct arm *arm, const char *id, enum arm_net_use use)
{
  json_t *ids = arm_net_users(arm, id, use, NULL);
  json_t *o = json_array_size(ids) ? json_pack("{s:O}", "id", json_array_get(ids, 0)) : NULL;
  json_decref(ids);
  return o;
}

/* -- virtual networks -- */

/* The subnets of in (request entries) as stored entries, in out: names
 * once, prefixes valid, inside the VNet's space and not overlapping,
 * networkSecurityGroup references existing. */
static int build_subnets(struct arm_call *call, const char *id, json_t *in, const struct cidr *space, size_t nspace,
                         json_t *out)
{
  json_t *s;
  size_t i;
  struct cidr *seen = calloc(json_array_size(in) + 1, sizeof *seen);
  int rc = seen ? 0 : -ENOMEM;
  if (rc < 0)
    arm_reply_internal(call, rc);
  json_array_foreach(rc == 0 ? in : NULL, i, s) {
    const char *name = json_string_value(json_object_get(s, "name"));
    json_t *p = json_object_get(s, "properties");
    const char *prefix = json_string_value(json_object_get(p, "addressPrefix"));
    if (!prefix)
      prefix = json_string_value(json_array_get(json_object_get(p, "addressPrefixes"), 0));
    char target[96], sid[1400];
    snprintf(target, sizeof target, "properties.subnets[%zu].properties.addressPrefix", i);
    snprintf(sid, sizeof sid, "%s/subnets/%s", id, name);
    if (!prefix_ok(call, prefix, sid, target, &seen[i])) {
      rc = -EINVAL;
      break;
    }
    bool inside = false;
    for (size_t k = 0; k < nspace; k++)
      inside = inside || (space[k].bits <= seen[i].bits && same_prefix(&space[k], &seen[i], space[k].bits));
    if (!inside) {
      arm_reply_error_target(call, 400, "NetcfgSubnetRangeOutsideVnet", target,
                             "Subnet '%s' is not valid because its IP address range is outside the IP address range "
                             "of virtual network '%s'.",
                             name, strrchr(id, '/') + 1);
      rc = -EINVAL;
      break;
    }
    for (size_t k = 0; k < i && rc == 0; k++) {
      int bits = seen[k].bits < seen[i].bits ? seen[k].bits : seen[i].bits;
      if (same_prefix(&seen[k], &seen[i], bits)) {
        arm_reply_error_target(call, 400, "NetcfgSubnetRangesOverlap", target,
                               "Subnet '%s' is not valid in virtual network '%s' because its IP address range "
                               "overlaps with that of an existing subnet '%s' in the same virtual network.",
                               name, strrchr(id, '/') + 1, json_string_value(json_object_get(json_array_get(in, k), "name")));
        rc = -EINVAL;
      }
    }
    const char *nsg = ref_id(p, "networkSecurityGroup");
    snprintf(target, sizeof target, "properties.subnets[%zu].properties.networkSecurityGroup.id", i);
    if (rc == 0 && nsg)
      rc = arm_net_ref_ok(call, nsg, NET_NSG_TYPE, sid, target);
    if (rc < 0)
      break;
    json_t *sp = json_pack("{s:s}", "addressPrefix", prefix);
    if (nsg)
      json_object_set_new(sp, "networkSecurityGroup", json_pack("{s:s}", "id", nsg));
    json_array_append_new(out, json_pack("{s:s,s:o}", "name", name, "properties", sp));
  }
  free(seen);
  return rc;
}

/* A subnet of old that out lost, while NIC ip configurations use it:
 * replies InUseSubnetCannotBeDeleted. */
static bool subnet_lost_in_use(struct arm_call *call, const char *id, json_t *old, json_t *out)
{
  json_t *s;
  size_t i;
  json_array_foreach(json_object_get(old, "subnets"), i, s) {
    const char *name = json_string_value(json_object_get(s, "name"));
    if (arm_net_subnet_find(out, name))
      continue;
    char sid[1400];
    snprintf(sid, sizeof sid, "%s/subnets/%s", id, name);
    static const struct in_use_text t = {"Subnet", "cannot be deleted: it is in use by",
                                         " In order to delete the subnet, delete all the resources within the "
                                         "subnet."};
    if (in_use(call, sid, NET_USE_IPCONFIG_OF_SUBNET, "InUseSubnetCannotBeDeleted", &t))
      return true;
  }
  return false;
}

static int vnet_build(struct arm_call *call, const char *id, json_t *b, json_t *old, json_t **props, json_t **extra)
{
  json_t *in = json_object_get(b, "properties");
  json_t *prefixes = json_object_get(json_object_get(in, "addressSpace"), "addressPrefixes"), *v;
  json_t *subnets = json_object_get(in, "subnets");
  size_t n = json_array_size(prefixes), i;
  (void)extra;
  if (!n) {
    arm_reply_error_target(call, 400, "InvalidRequestFormat", "properties.addressSpace.addressPrefixes",
                           "Cannot parse the request: virtual network %s needs addressSpace.addressPrefixes.", id);
    return -EINVAL;
  }
  if (!names_once(call, subnets, id, "subnets", "properties.subnets"))
    return -EINVAL;
  struct cidr *space = calloc(n, sizeof *space);
  if (!space) {
    arm_reply_internal(call, -ENOMEM);
    return -ENOMEM;
  }
  int rc = 0;
  json_array_foreach(prefixes, i, v) {
    char target[80];
    snprintf(target, sizeof target, "properties.addressSpace.addressPrefixes[%zu]", i);
    if (!prefix_ok(call, json_string_value(v), id, target, &space[i])) {
      rc = -EINVAL;
      break;
    }
  }
  json_t *out_subnets = json_array();
  if (rc == 0)
    rc = build_subnets(call, id, subnets, space, n, out_subnets);
  free(space);
  json_t *p = json_pack("{s:{s:O},s:o,s:b}", "addressSpace", "addressPrefixes", prefixes, "subnets", out_subnets,
                        "enableDdosProtection", json_is_true(json_object_get(in, "enableDdosProtection")));
  copy_member(p, in, "dhcpOptions");
  if (rc == 0 && old && subnet_lost_in_use(call, id, old, p))
    rc = -EBUSY;
  if (rc < 0)
    json_decref(p);
  else
    *props = p;
  return rc;
}

static void vnet_show(struct arm *arm, const struct meta_resource *r, json_t *props)
{
  json_t *s;
  size_t i;
  json_array_foreach(json_object_get(props, "subnets"), i, s) {
    show_child(s, r, "subnets", NET_SUBNET_TYPE);
    json_t *users = id_list(arm, json_string_value(json_object_get(s, "id")), NET_USE_IPCONFIG_OF_SUBNET);
    if (users)
      json_object_set_new(json_object_get(s, "properties"), "ipConfigurations", users);
  }
  json_object_set_new(props, "virtualNetworkPeerings", json_array());
}

static bool vnet_refuse_delete(struct arm_call *call, const struct meta_resource *r)
{
  json_t *props = loads(r->properties), *none = json_pack("{s:[]}", "subnets");
  bool refused = subnet_lost_in_use(call, r->id, props, none);
  json_decref(props);
  json_decref(none);
  return refused;
}

/* -- network security groups -- */

static json_t *default_rules(const struct meta_resource *r)
{
  static const struct {
    const char *name, *desc, *src, *dst, *access, *dir;
    int priority;
  } rules[] = {
      {"AllowVnetInBound", "Allow inbound traffic from all VMs in VNET", "VirtualNetwork", "VirtualNetwork", "Allow",
       "Inbound", 65000},
      {"AllowAzureLoadBalancerInBound", "Allow inbound traffic from azure load balancer", "AzureLoadBalancer", "*",
       "Allow", "Inbound", 65001},
      {"DenyAllInBound", "Deny all inbound traffic", "*", "*", "Deny", "Inbound", 65500},
      {"AllowVnetOutBound", "Allow outbound traffic from all VMs to all VMs in VNET", "VirtualNetwork",
       "VirtualNetwork", "Allow", "Outbound", 65000},
      {"AllowInternetOutBound", "Allow outbound traffic from all VMs to Internet", "*", "Internet", "Allow",
       "Outbound", 65001},
      {"DenyAllOutBound", "Deny all outbound traffic", "*", "*", "Deny", "Outbound", 65500},
  };
  json_t *out = json_array();
  for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
    json_t *e = json_pack("{s:s,s:{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:s}}", "name", rules[i].name, "properties",
                          "description", rules[i].desc, "protocol", "*", "sourcePortRange", "*",
                          "destinationPortRange", "*", "sourceAddressPrefix", rules[i].src,
                          "destinationAddressPrefix", rules[i].dst, "access", rules[i].access, "priority",
                          rules[i].priority, "direction", rules[i].dir);
    show_child(e, r, "defaultSecurityRules", "Microsoft.Network/networkSecurityGroups/defaultSecurityRules");
    json_array_append_new(out, e);
  }
  return out;
}

static int nsg_build(struct arm_call *call, const char *id, json_t *b, json_t *old, json_t **props, json_t **extra)
{
  json_t *rules = json_object_get(json_object_get(b, "properties"), "securityRules"), *e;
  size_t i, j;
  (void)old;
  (void)extra;
  if (!names_once(call, rules, id, "securityRules", "properties.securityRules"))
    return -EINVAL;
  json_t *out = json_array();
  json_array_foreach(rules, i, e) {
    json_t *p = json_object_get(e, "properties"), *q;
    char target[96];
    snprintf(target, sizeof target, "properties.securityRules[%zu].properties", i);
    static const char *const required[] = {"protocol", "access", "direction", "priority", NULL};
    for (int k = 0; required[k]; k++) {
      if (!json_object_get(p, required[k])) {
        arm_reply_error_target(call, 400, "SecurityRuleParameterMissing", target,
                               "Security rule %s/securityRules/%s needs '%s'.", id,
                               json_string_value(json_object_get(e, "name")), required[k]);
        json_decref(out);
        return -EINVAL;
      }
    }
    json_int_t prio = json_integer_value(json_object_get(p, "priority"));
    if (prio < 100 || prio > 4096) {
      arm_reply_error_target(call, 400, "SecurityRuleInvalidPriority", target,
                             "Security rule has invalid Priority. Value provided: %lld Allowed range 100-4096.",
                             (long long)prio);
      json_decref(out);
      return -EINVAL;
    }
    json_t *r = json_object();
    set_enum(r, p, "protocol", protocols, NULL);
    set_enum(r, p, "access", accesses, NULL);
    set_enum(r, p, "direction", directions, NULL);
    json_object_set_new(r, "priority", json_integer(prio));
    static const char *const keep[] = {"description", "sourcePortRange", "sourcePortRanges", "destinationPortRange",
                                       "destinationPortRanges", "sourceAddressPrefix", "sourceAddressPrefixes",
                                       "destinationAddressPrefix", "destinationAddressPrefixes", NULL};
    for (int k = 0; keep[k]; k++)
      copy_member(r, p, keep[k]);
    json_array_foreach(out, j, q) {
      json_t *qp = json_object_get(q, "properties");
      if (json_integer_value(json_object_get(qp, "priority")) == prio &&
          json_equal(json_object_get(qp, "direction"), json_object_get(r, "direction"))) {
        arm_reply_error_target(call, 400, "SecurityRuleConflict", target,
                               "Security rules %s and %s of %s have the same priority %lld and direction %s.",
                               json_string_value(json_object_get(q, "name")),
                               json_string_value(json_object_get(e, "name")), id, (long long)prio,
                               json_string_value(json_object_get(r, "direction")));
        json_decref(r);
        json_decref(out);
        return -EINVAL;
      }
    }
    json_array_append_new(out, json_pack("{s:O,s:o}", "name", json_object_get(e, "name"), "properties", r));
  }
  *props = json_pack("{s:o}", "securityRules", out);
  return 0;
}

static void nsg_show(struct arm *arm, const struct meta_resource *r, json_t *props)
{
  json_t *e, *users;
  size_t i;
  json_array_foreach(json_object_get(props, "securityRules"), i, e)
      show_child(e, r, "securityRules", "Microsoft.Network/networkSecurityGroups/securityRules");
  json_object_set_new(props, "defaultSecurityRules", default_rules(r));
  if ((users = id_list(arm, r->id, NET_USE_NIC_OF_NSG)))
    json_object_set_new(props, "networkInterfaces", users);
  if ((users = id_list(arm, r->id, NET_USE_SUBNET_OF_NSG)))
    json_object_set_new(props, "subnets", users);
}

static bool nsg_refuse_delete(struct arm_call *call, const struct meta_resource *r)
{
  static const struct in_use_text t = {"Network security group",
                                       "cannot be deleted because it is in use by the following resources:",
                                       " In order to delete the Network security group, remove the association with "
                                       "the resource(s)."};
  return in_use(call, r->id, NET_USE_NIC_OF_NSG, "InUseNetworkSecurityGroupCannotBeDeleted", &t) ||
         in_use(call, r->id, NET_USE_SUBNET_OF_NSG, "InUseNetworkSecurityGroupCannotBeDeleted", &t);
}

/* -- network interfaces -- */

/* A Static address inside its subnet's prefix: 0; replies 400
 * PrivateIPAddressNotInSubnet otherwise. */
static int address_in_subnet(struct arm_call *call, const char *addr, const char *subnet_id, const char *cid, size_t i)
{
  json_t *s = arm_net_subnet_entry(call->arm, subnet_id);
  const char *prefix = json_string_value(json_object_get(json_object_get(s, "properties"), "addressPrefix"));
  char host[80];
  snprintf(host, sizeof host, "%s/%d", addr, strchr(addr, ':') ? 128 : 32);
  struct cidr net, ip;
  bool inside = cidr_parse(prefix, &net) && cidr_parse(host, &ip) && same_prefix(&net, &ip, net.bits);
  if (!inside) {
    char target[112];
    snprintf(target, sizeof target, "properties.ipConfigurations[%zu].properties.privateIPAddress", i);
    arm_reply_error_target(call, 400, "PrivateIPAddressNotInSubnet", target,
                           "IP configuration %s must reference a private IP address %s that belongs to the address "
                           "prefix %s of subnet %s.",
                           cid, addr, prefix ? prefix : "(none)", subnet_id);
  }
  json_decref(s);
  return inside ? 0 : -EINVAL;
}

static int ipconfig_build(struct arm_call *call, const char *id, json_t *c, size_t i, bool primary, json_t **out)
{
  json_t *p = json_object_get(c, "properties");
  char target[112], cid[1400];
  snprintf(cid, sizeof cid, "%s/ipConfigurations/%s", id, json_string_value(json_object_get(c, "name")));
  snprintf(target, sizeof target, "properties.ipConfigurations[%zu].properties.subnet.id", i);
  const char *subnet = ref_id(p, "subnet"), *pip = ref_id(p, "publicIPAddress");
  int rc = arm_net_ref_ok(call, subnet, NET_SUBNET_TYPE, id, target);
  snprintf(target, sizeof target, "properties.ipConfigurations[%zu].properties.publicIPAddress.id", i);
  if (rc == 0 && pip)
    rc = arm_net_ref_ok(call, pip, NET_PIP_TYPE, id, target);
  if (rc == 0 && pip) {
    json_t *users = arm_net_users(call->arm, pip, NET_USE_IPCONFIG_OF_PIP, NULL), *u;
    size_t k;
    json_array_foreach(users, k, u) {
      if (rc == 0 && strncasecmp(json_string_value(u), id, strlen(id)) != 0) {
        arm_reply_error_target(call, 400, "PublicIPAddressInUse", target,
                               "Public IP address %s is already used by %s and cannot be used by %s.", pip,
                               json_string_value(u), cid);
        rc = -EBUSY;
      }
    }
    if (!users) {
      arm_reply_internal(call, -EIO);
      rc = -EIO;
    }
    json_decref(users);
  }
  const char *method = arm_canonical(json_string_value(json_object_get(p, "privateIPAllocationMethod")), alloc_methods);
  const char *addr = json_string_value(json_object_get(p, "privateIPAddress"));
  unsigned char buf[16];
  if (rc == 0 && method && !strcmp(method, "Static") &&
      (!addr || (inet_pton(AF_INET, addr, buf) != 1 && inet_pton(AF_INET6, addr, buf) != 1))) {
    snprintf(target, sizeof target, "properties.ipConfigurations[%zu].properties.privateIPAddress", i);
    arm_reply_error_target(call, 400, "InvalidRequestFormat", target,
                           "Cannot parse the request: a Static ip configuration (%s) needs a privateIPAddress.", cid);
    rc = -EINVAL;
  }
  if (rc == 0 && method && !strcmp(method, "Static"))
    rc = address_in_subnet(call, addr, subnet, cid, i);
  if (rc < 0)
    return rc;
  json_t *o = json_pack("{s:s,s:s,s:b}", "privateIPAllocationMethod", method ? method : "Dynamic",
                        "privateIPAddressVersion", "IPv4", "primary", primary);
  set_enum(o, p, "privateIPAddressVersion", ip_versions, "IPv4");
  json_object_set_new(o, "subnet", json_pack("{s:s}", "id", subnet));
  if (method && !strcmp(method, "Static"))
    json_object_set_new(o, "privateIPAddress", json_string(addr));
  if (pip) {
    json_t *ref = json_pack("{s:s}", "id", pip);
    const char *del = arm_canonical(json_string_value(json_object_get(json_object_get(json_object_get(p,
                                    "publicIPAddress"), "properties"), "deleteOption")), delete_options);
    if (del)
      json_object_set_new(ref, "properties", json_pack("{s:s}", "deleteOption", del));
    json_object_set_new(o, "publicIPAddress", ref);
  }
  *out = json_pack("{s:O,s:o}", "name", json_object_get(c, "name"), "properties", o);
  return 0;
}

static int nic_build(struct arm_call *call, const char *id, json_t *b, json_t *old, json_t **props, json_t **extra)
{
  json_t *in = json_object_get(b, "properties"), *configs = json_object_get(in, "ipConfigurations"), *c;
  size_t i;
  (void)old;
  (void)extra;
  if (!json_array_size(configs)) {
    arm_reply_error_target(call, 400, "NetworkInterfaceMustHaveAtLeastOneIpConfiguration",
                           "properties.ipConfigurations", "Network interface %s must have at least one ip "
                           "configuration.", id);
    return -EINVAL;
  }
  if (!names_once(call, configs, id, "ipConfigurations", "properties.ipConfigurations"))
    return -EINVAL;
  bool any_primary = false;
  json_array_foreach(configs, i, c) any_primary = any_primary || json_is_true(json_object_get(json_object_get(c,
                                                                                              "properties"), "primary"));
  json_t *out = json_array();
  int rc = 0;
  json_array_foreach(configs, i, c) {
    json_t *e = NULL;
    bool primary = any_primary ? json_is_true(json_object_get(json_object_get(c, "properties"), "primary")) : i == 0;
    rc = ipconfig_build(call, id, c, i, primary, &e);
    if (rc < 0)
      break;
    json_array_append_new(out, e);
  }
  const char *nsg = ref_id(in, "networkSecurityGroup");
  if (rc == 0 && nsg)
    rc = arm_net_ref_ok(call, nsg, NET_NSG_TYPE, id, "properties.networkSecurityGroup.id");
  if (rc < 0) {
    json_decref(out);
    return rc;
  }
  json_t *p = json_pack("{s:o,s:b,s:b,s:s}", "ipConfigurations", out, "enableAcceleratedNetworking",
                        json_is_true(json_object_get(in, "enableAcceleratedNetworking")), "enableIPForwarding",
                        json_is_true(json_object_get(in, "enableIPForwarding")), "nicType", "Standard");
  json_t *dns = json_object_get(json_object_get(in, "dnsSettings"), "dnsServers");
  json_object_set_new(p, "dnsSettings", json_pack("{s:o}", "dnsServers", dns ? json_incref(dns) : json_array()));
  if (nsg)
    json_object_set_new(p, "networkSecurityGroup", json_pack("{s:s}", "id", nsg));
  *props = p;
  return 0;
}

static void nic_show(struct arm *arm, const struct meta_resource *r, json_t *props)
{
  json_t *c;
  size_t i;
  json_array_foreach(json_object_get(props, "ipConfigurations"), i, c)
      show_child(c, r, "ipConfigurations", "Microsoft.Network/networkInterfaces/ipConfigurations");
  json_t *vm = first_user(arm, r->id, NET_USE_VM_OF_NIC);
  if (vm)
    json_object_set_new(props, "virtualMachine", vm);
}

static bool nic_refuse_delete(struct arm_call *call, const struct meta_resource *r)
{
  static const struct in_use_text t = {"Network Interface", "is used by existing resource",
                                       " In order to delete the network interface, it must be dissociated from the "
                                       "resource."};
  return in_use(call, r->id, NET_USE_VM_OF_NIC, "NicInUse", &t);
}

/* -- public IP addresses -- */

static bool label_valid(const char *s)
{
  size_t n = strlen(s);
  if (n < 3 || n > 63 || s[0] < 'a' || s[0] > 'z' || s[n - 1] == '-')
    return false;
  return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

static int pip_build(struct arm_call *call, const char *id, json_t *b, json_t *old, json_t **props, json_t **extra)
{
  json_t *in = json_object_get(b, "properties"), *sku = json_object_get(b, "sku");
  (void)old;
  const char *sku_name = arm_canonical(json_string_value(json_object_get(sku, "name")), pip_skus);
  sku_name = sku_name ? sku_name : "Basic";
  json_t *idle = json_object_get(in, "idleTimeoutInMinutes");
  json_int_t minutes = idle ? json_integer_value(idle) : 4;
  if (minutes < 4 || minutes > 30) {
    arm_reply_error_target(call, 400, "PublicIPIdleTimeoutIsOutOfRange", "properties.idleTimeoutInMinutes",
                           "The idle timeout %lld of public IP address %s is out of range: it must be from 4 to 30 "
                           "minutes.",
                           (long long)minutes, id);
    return -EINVAL;
  }
  const char *label = json_string_value(json_object_get(json_object_get(in, "dnsSettings"), "domainNameLabel"));
  if (label && !label_valid(label)) {
    arm_reply_error_target(call, 400, "InvalidDomainNameLabel", "properties.dnsSettings.domainNameLabel",
                           "The domain name label %s is invalid. It must conform to the following regular expression: "
                           "^[a-z][a-z0-9-]{1,61}[a-z0-9]$.",
                           label);
    return -EINVAL;
  }
  json_t *p = json_pack("{s:I}", "idleTimeoutInMinutes", minutes);
  set_enum(p, in, "publicIPAllocationMethod", alloc_methods, !strcmp(sku_name, "Standard") ? "Static" : "Dynamic");
  set_enum(p, in, "publicIPAddressVersion", ip_versions, "IPv4");
  json_object_set_new(p, "ipTags", json_array());
  if (label) {
    char fqdn[160];
    snprintf(fqdn, sizeof fqdn, "%s.%s.cloudapp.azure.com", label, call->arm->cfg.locations[0].name);
    json_object_set_new(p, "dnsSettings", json_pack("{s:s,s:s}", "domainNameLabel", label, "fqdn", fqdn));
  }
  const char *tier = arm_canonical(json_string_value(json_object_get(sku, "tier")), pip_tiers);
  *extra = json_pack("{s:{s:s,s:s}}", "sku", "name", sku_name, "tier", tier ? tier : "Regional");
  *props = p;
  return 0;
}

static void pip_show(struct arm *arm, const struct meta_resource *r, json_t *props)
{
  json_t *config = first_user(arm, r->id, NET_USE_IPCONFIG_OF_PIP);
  if (config)
    json_object_set_new(props, "ipConfiguration", config);
}

static bool pip_refuse_delete(struct arm_call *call, const struct meta_resource *r)
{
  static const struct in_use_text t = {"Public IP address", "can not be deleted since it is still allocated to resource",
                                       " In order to delete the public IP, disassociate/detach the Public IP address "
                                       "from the resource."};
  return in_use(call, r->id, NET_USE_IPCONFIG_OF_PIP, "PublicIPAddressCannotBeDeleted", &t);
}

const struct net_kind arm_net_kinds[NET_KINDS] = {
    {"virtualNetworks", NET_VNET_TYPE, vnet_members, vnet_build, vnet_show, vnet_refuse_delete},
    {"networkSecurityGroups", NET_NSG_TYPE, nsg_members, nsg_build, nsg_show, nsg_refuse_delete},
    {"networkInterfaces", NET_NIC_TYPE, nic_members, nic_build, nic_show, nic_refuse_delete},
    {"publicIPAddresses", NET_PIP_TYPE, pip_members, pip_build, pip_show, pip_refuse_delete},
};
