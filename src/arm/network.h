/*
 * network.h — what network.c (the Microsoft.Network handlers),
 * network_types.c (the four types) and network_refs.c (the references
 * between them and from VMs) share with the rest of arm/.  Not a public
 * interface.
 */
#pragma once
#include <jansson.h>

#include "arm/internal.h"

#define NET_VNET_TYPE "Microsoft.Network/virtualNetworks"
#define NET_SUBNET_TYPE "Microsoft.Network/virtualNetworks/subnets"
#define NET_NSG_TYPE "Microsoft.Network/networkSecurityGroups"
#define NET_NIC_TYPE "Microsoft.Network/networkInterfaces"
#define NET_PIP_TYPE "Microsoft.Network/publicIPAddresses"

/* One Microsoft.Network type (network_types.c). */
struct net_kind {
  const char *segment; /* the routes' type name */
  const char *type;
  const struct arm_member *members;
  /* b (normalised, checked by members) as the stored properties (*props)
   * and top-level members (*extra) of id; old: the stored properties, NULL
   * for a new resource.  Inside the request's transaction; replies. */
  int (*build)(struct arm_call *call, const char *id, json_t *b, json_t *old, json_t **props, json_t **extra);
  /* Adds what GET shows beyond the stored properties. */
  void (*show)(struct arm *arm, const struct meta_resource *r, json_t *props);
  /* Why the resource cannot be deleted now: replied, true. */
  bool (*refuse_delete)(struct arm_call *call, const struct meta_resource *r);
};
#define NET_KINDS 4
/* virtualNetworks first, then networkSecurityGroups, networkInterfaces,
 * publicIPAddresses. */
extern const struct net_kind arm_net_kinds[NET_KINDS];
/* The members of a subnet PUT's body. */
extern const struct arm_member arm_net_subnet_members[];

/* id names an existing resource of type (NET_SUBNET_TYPE: a subnet of an
 * existing VNet) in this region: 0; otherwise replies 400
 * InvalidResourceReference (naming referrer, at target) or 500, -errno. */
int arm_net_ref_ok(struct arm_call *call, const char *id, const char *type, const char *referrer, const char *target);

/* The subnet entry named name (case-insensitive) of a VNet's stored
 * properties, or NULL. */
json_t *arm_net_subnet_find(json_t *vnet_props, const char *name);

/* The stored entry of the subnet subnet_id (a new reference), or NULL. */
json_t *arm_net_subnet_entry(struct arm *arm, const char *subnet_id);

/* Who uses the resource id, by kind of use. */
enum arm_net_use {
  NET_USE_IPCONFIG_OF_SUBNET, /* NIC ip configurations in a subnet */
  NET_USE_IPCONFIG_OF_PIP,    /* the NIC ip configuration holding a public IP */
  NET_USE_NIC_OF_NSG,         /* NICs with a network security group */
  NET_USE_SUBNET_OF_NSG,      /* subnets with a network security group */
  NET_USE_VM_OF_NIC,          /* VMs with a network interface */
};
/* The ids of the users (a new JSON array), leaving out except (may be
 * NULL); NULL on a store error.  Walks the region's resources of the
 * user's type. */
json_t *arm_net_users(struct arm *arm, const char *id, enum arm_net_use use, const char *except);

/* What goes with a VM (its properties): the NICs its networkProfile marks
 * deleteOption Delete, each with its public IPs marked Delete, as Azure
 * deletes them.  Idempotent (what is gone is skipped); 0 or -errno. */
int arm_net_vm_removed(struct arm *arm, json_t *vm_props);

/* The network interfaces of a VM's networkProfile (vm_plan.c, inside the
 * VM request's transaction): each an existing NIC of this region that no
 * other VM uses.  0, or replied (InvalidResourceReference, NicInUse) and
 * -errno. */
int arm_vm_nics_ok(struct arm_call *call, const char *vm_id, json_t *network_profile);
