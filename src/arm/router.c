/*
 * router.c — arm_handle(): from an HTTP request to a route handler.
 *
 * The path as sent is normalised (empty segments from "//" dropped — the az
 * CLI sends "//metadata/endpoints"), split into segments, each segment is
 * percent-decoded (so "a%2Fb" is one name holding a '/', refused by the name
 * rules rather than routed as two segments), and matched against the route
 * table: literal segments compare case-insensitively (ARM keywords), "*"
 * captures a name.  Then, for ARM routes, in the order ARM applies them:
 * body size → authentication (401) → api-version (400) → subscription (404)
 * → role (403) → JSON body (400) → role on every resource the body names
 * (403, authz.c) → forwarding to the region that holds the resource
 * (forward.c), or here: the locks on the path's scopes (409 ScopeLocked,
 * locks.c; the route table marks the POST actions that change nothing and
 * the lock routes, which no lock refuses) → handler.  Identity routes are
 * anonymous.
 * A call another region forwarded (x-vmrp-forwarded) is authenticated by
 * that region's signature instead of a token, and runs as the caller it
 * asserts: the same role checks follow (forward.c, repl.h).
 * A path segment or query value that is not valid UTF-8 once decoded is
 * refused (400 InvalidRequestUri; after authentication on ARM routes):
 * names are keys and are echoed in JSON, which holds only UTF-8.
 */
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/timefmt.h"

#define MAX_SEGMENTS 16

struct route {
  const char *method;
  const char *pattern;
  arm_handler fn;
  enum api_family api;
  const char *type;     /* resource type named in api-version errors */
  const char *action;   /* authorization action; NULL: no subscription scope */
  unsigned flags;
};
enum {
  ROUTE_ANONYMOUS = 1, /* the identity provider's: no token */
  ROUTE_RAW_BODY = 2,  /* the handler reads the body itself (deployments: the az CLI's wire form) */
  ROUTE_HERE = 4,      /* this region's alone, never forwarded (a deployment: each of its resources is) */
  ROUTE_OWNER = 8,     /* Owner only (Microsoft.Authorization/locks/write and delete) */
  ROUTE_READ_ONLY = 16, /* a POST that changes nothing: not refused by a ReadOnly lock */
  ROUTE_NO_LOCKS = 32, /* the lock routes: never refused by a lock (locks.c) */
};

#define RG "/subscriptions/*/resourcegroups/*"
#define DISK RG "/providers/Microsoft.Compute/disks/*"
#define DES RG "/providers/Microsoft.Compute/diskEncryptionSets/*"
#define RPC RG "/providers/Microsoft.Compute/restorePointCollections/*"
#define VM RG "/providers/Microsoft.Compute/virtualMachines/*"
#define RPT RPC "/restorePoints/*"
#define POL RG "/providers/Microsoft.Vmrp/protectionPolicies/*"
#define POL_ACTION "Microsoft.Vmrp/protectionPolicies"
#define NET RG "/providers/Microsoft.Network"
#define VNET NET "/virtualNetworks/*"
#define SUBNET_ACTION "Microsoft.Network/virtualNetworks/subnets"
/* the routes of one Microsoft.Network type T (network.c serves them all) */
#define NETWORK_ROUTES(T)                                                                                    \
  {"GET", "/subscriptions/*/providers/Microsoft.Network/" T, arm_net_list, API_NETWORK, T,                     \
   "Microsoft.Network/" T, 0},                                                                                 \
  {"GET", NET "/" T, arm_net_list, API_NETWORK, T, "Microsoft.Network/" T, 0},                                 \
  {"PUT", NET "/" T "/*", arm_net_put, API_NETWORK, T, "Microsoft.Network/" T, 0},                             \
  {"GET", NET "/" T "/*", arm_net_get, API_NETWORK, T, "Microsoft.Network/" T, 0},                             \
  {"PATCH", NET "/" T "/*", arm_net_patch, API_NETWORK, T, "Microsoft.Network/" T, 0},                         \
  {"DELETE", NET "/" T "/*", arm_net_delete, API_NETWORK, T, "Microsoft.Network/" T, 0}
#define DEP_RG RG "/providers/Microsoft.Resources/deployments"
#define LOCKS "/providers/Microsoft.Authorization/locks"
#define LOCK_ACTION "Microsoft.Authorization/locks"
/* the lock routes at one scope X (locks.c); resources are matched at fixed
 * depths under a group: a top-level one, a child, a grandchild */
#define LOCK_ROUTES(X)                                                                                       \
  {"PUT", X LOCKS "/*", arm_lock_put, API_LOCKS, "locks", LOCK_ACTION, ROUTE_OWNER | ROUTE_NO_LOCKS},          \
  {"GET", X LOCKS "/*", arm_lock_get, API_LOCKS, "locks", LOCK_ACTION, ROUTE_NO_LOCKS},                        \
  {"DELETE", X LOCKS "/*", arm_lock_delete, API_LOCKS, "locks", LOCK_ACTION, ROUTE_OWNER | ROUTE_NO_LOCKS},    \
  {"GET", X LOCKS, arm_lock_list, API_LOCKS, "locks", LOCK_ACTION, ROUTE_NO_LOCKS}
#define DEP_SUB "/subscriptions/*/providers/Microsoft.Resources/deployments"
#define DEP_ACTION "Microsoft.Resources/deployments"
/* a deployment's routes, at one scope (X: the deployment's path) */
#define DEPLOYMENT_ROUTES(X)                                                                                     \
  {"PUT", X "/*", arm_deployment_put, API_RESOURCES, "deployments", DEP_ACTION, ROUTE_RAW_BODY | ROUTE_HERE},              \
  {"GET", X "/*", arm_deployment_get, API_RESOURCES, "deployments", DEP_ACTION, ROUTE_HERE},                          \
  {"HEAD", X "/*", arm_deployment_head, API_RESOURCES, "deployments", DEP_ACTION, ROUTE_HERE},                        \
  {"DELETE", X "/*", arm_deployment_delete, API_RESOURCES, "deployments", DEP_ACTION, ROUTE_HERE},                    \
  {"GET", X, arm_deployment_list, API_RESOURCES, "deployments", DEP_ACTION, ROUTE_HERE},                              \
  {"GET", X "/*/operationStatuses/*", arm_deployment_status, API_RESOURCES, "deployments", DEP_ACTION, ROUTE_HERE},   \
  {"POST", X "/*/cancel", arm_deployment_cancel, API_RESOURCES, "deployments", DEP_ACTION "/cancel", ROUTE_HERE},     \
  {"POST", X "/*/validate", arm_deployment_validate, API_RESOURCES, "deployments", DEP_ACTION "/validate",  \
   ROUTE_RAW_BODY | ROUTE_HERE | ROUTE_READ_ONLY},                                                             \
  {"POST", X "/*/whatIf", arm_deployment_whatif, API_RESOURCES, "deployments", DEP_ACTION "/whatIf",       \
   ROUTE_RAW_BODY | ROUTE_HERE | ROUTE_READ_ONLY},                                                             \
  {"POST", X "/*/exportTemplate", arm_deployment_export, API_RESOURCES, "deployments",                       \
   DEP_ACTION "/exportTemplate", ROUTE_HERE | ROUTE_READ_ONLY},                                                         \
  {"GET", X "/*/operations", arm_deployment_operations, API_RESOURCES, "deployments/operations",             \
   DEP_ACTION "/operations", ROUTE_HERE},                                                                               \
  {"GET", X "/*/operations/*", arm_deployment_operations, API_RESOURCES, "deployments/operations",           \
   DEP_ACTION "/operations", ROUTE_HERE}

static const struct route routes[] = {
    LOCK_ROUTES("/subscriptions/*"),
    LOCK_ROUTES(RG),
    LOCK_ROUTES(RG "/providers/*/*/*"),
    LOCK_ROUTES(RG "/providers/*/*/*/*/*"),
    LOCK_ROUTES(RG "/providers/*/*/*/*/*/*/*"),
    DEPLOYMENT_ROUTES(DEP_RG),
    DEPLOYMENT_ROUTES(DEP_SUB),
    {"POST", "/providers/Microsoft.Resources/calculateTemplateHash", arm_deployment_template_hash, API_RESOURCES,
     "calculateTemplateHash", NULL, ROUTE_RAW_BODY | ROUTE_HERE},
    /* the az CLI's form of a resource group's deployment operations (no providers/Microsoft.Resources) */
    {"GET", RG "/deployments/*/operations", arm_deployment_operations, API_RESOURCES, "deployments/operations",
     DEP_ACTION "/operations", ROUTE_HERE},
    {"GET", RG "/deployments/*/operations/*", arm_deployment_operations, API_RESOURCES, "deployments/operations",
     DEP_ACTION "/operations", ROUTE_HERE},
    {"PUT", "/providers/Microsoft.Vmrp/failpoints", arm_failpoints_put, API_ANY, "failpoints", NULL, 0},
    {"GET", "/providers/Microsoft.Vmrp/failpoints", arm_failpoints_get, API_ANY, "failpoints", NULL, 0},
    {"GET", "/subscriptions", arm_subscriptions_list, API_SUBSCRIPTIONS, "subscriptions", NULL, 0},
    {"GET", "/tenants", arm_tenants_list, API_SUBSCRIPTIONS, "tenants", NULL, 0},
    {"GET", "/subscriptions/*", arm_subscriptions_get, API_SUBSCRIPTIONS, "subscriptions",
     "Microsoft.Resources/subscriptions", 0},
    {"GET", "/subscriptions/*/locations", arm_locations_list, API_SUBSCRIPTIONS, "locations",
     "Microsoft.Resources/subscriptions/locations", 0},
    {"GET", "/subscriptions/*/providers", arm_providers_list, API_RESOURCES, "providers",
     "Microsoft.Resources/subscriptions/providers", 0},
    {"GET", "/subscriptions/*/providers/*", arm_providers_get, API_RESOURCES, "providers",
     "Microsoft.Resources/subscriptions/providers", 0},
    {"POST", "/subscriptions/*/providers/*/register", arm_providers_get, API_RESOURCES, "providers",
     "Microsoft.Resources/subscriptions/providers", ROUTE_READ_ONLY}, /* every provider is registered */
    {"GET", "/subscriptions/*/resourcegroups", arm_rg_list, API_RESOURCES, "resourceGroups",
     "Microsoft.Resources/subscriptions/resourceGroups", 0},
    {"PUT", RG, arm_rg_put, API_RESOURCES, "resourceGroups", "Microsoft.Resources/subscriptions/resourceGroups", 0},
    {"GET", RG, arm_rg_get, API_RESOURCES, "resourceGroups", "Microsoft.Resources/subscriptions/resourceGroups", 0},
    {"HEAD", RG, arm_rg_head, API_RESOURCES, "resourceGroups", "Microsoft.Resources/subscriptions/resourceGroups", 0},
    {"PATCH", RG, arm_rg_patch, API_RESOURCES, "resourceGroups", "Microsoft.Resources/subscriptions/resourceGroups", 0},
    {"DELETE", RG, arm_rg_delete, API_RESOURCES, "resourceGroups",
     "Microsoft.Resources/subscriptions/resourceGroups", 0},
    {"GET", "/subscriptions/*/resources", arm_resources_list, API_RESOURCES, "resources",
     "Microsoft.Resources/subscriptions/resources", 0},
    {"GET", RG "/resources", arm_resources_list, API_RESOURCES, "resources",
     "Microsoft.Resources/subscriptions/resourceGroups/resources", 0},
    {"GET", "/subscriptions/*/providers/Microsoft.Compute/disks", arm_disk_list, API_DISKS, "disks",
     "Microsoft.Compute/disks", 0},
    {"GET", RG "/providers/Microsoft.Compute/disks", arm_disk_list, API_DISKS, "disks", "Microsoft.Compute/disks", 0},
    {"PUT", DISK, arm_disk_put, API_DISKS, "disks", "Microsoft.Compute/disks", 0},
    {"GET", DISK, arm_disk_get, API_DISKS, "disks", "Microsoft.Compute/disks", 0},
    {"PATCH", DISK, arm_disk_patch, API_DISKS, "disks", "Microsoft.Compute/disks", 0},
    {"DELETE", DISK, arm_disk_delete, API_DISKS, "disks", "Microsoft.Compute/disks", 0},
    {"POST", DISK "/beginGetAccess", arm_disk_begin_access, API_DISKS, "disks",
     "Microsoft.Compute/disks/beginGetAccess", 0},
    {"POST", DISK "/endGetAccess", arm_disk_end_access, API_DISKS, "disks", "Microsoft.Compute/disks/endGetAccess", 0},
    {"POST", DISK "/vmrpGrantNbdAccess", arm_disk_nbd_grant, API_DISKS, "disks",
     "Microsoft.Compute/disks/vmrpGrantNbdAccess", 0},
    {"GET", DISK "/vmrpNbdAccess", arm_disk_nbd_list, API_DISKS, "disks", "Microsoft.Compute/disks/vmrpNbdAccess", 0},
    {"POST", DISK "/vmrpRevokeNbdAccess", arm_disk_nbd_revoke, API_DISKS, "disks",
     "Microsoft.Compute/disks/vmrpRevokeNbdAccess", 0},
    {"GET", "/subscriptions/*/providers/Microsoft.Compute/diskEncryptionSets", arm_des_list, API_DISKS,
     "diskEncryptionSets", DES_TYPE, 0},
    {"GET", RG "/providers/Microsoft.Compute/diskEncryptionSets", arm_des_list, API_DISKS, "diskEncryptionSets",
     DES_TYPE, 0},
    {"PUT", DES, arm_des_put, API_DISKS, "diskEncryptionSets", DES_TYPE, 0},
    {"GET", DES, arm_des_get, API_DISKS, "diskEncryptionSets", DES_TYPE, 0},
    {"PATCH", DES, arm_des_patch, API_DISKS, "diskEncryptionSets", DES_TYPE, 0},
    {"DELETE", DES, arm_des_delete, API_DISKS, "diskEncryptionSets", DES_TYPE, 0},
    {"GET", "/subscriptions/*/providers/Microsoft.Compute/virtualMachines", arm_vm_list, API_COMPUTE, "virtualMachines",
     VM_TYPE, 0},
    {"GET", RG "/providers/Microsoft.Compute/virtualMachines", arm_vm_list, API_COMPUTE, "virtualMachines", VM_TYPE, 0},
    {"PUT", VM, arm_vm_put, API_COMPUTE, "virtualMachines", VM_TYPE, 0},
    {"GET", VM, arm_vm_get, API_COMPUTE, "virtualMachines", VM_TYPE, 0},
    {"PATCH", VM, arm_vm_patch, API_COMPUTE, "virtualMachines", VM_TYPE, 0},
    {"DELETE", VM, arm_vm_delete, API_COMPUTE, "virtualMachines", VM_TYPE, 0},
    {"GET", VM "/instanceView", arm_vm_instance_view, API_COMPUTE, "virtualMachines", VM_TYPE, 0},
    {"POST", VM "/start", arm_vm_start, API_COMPUTE, "virtualMachines", VM_TYPE, 0},
    {"POST", VM "/powerOff", arm_vm_power_off, API_COMPUTE, "virtualMachines", VM_TYPE, 0},
    {"POST", VM "/deallocate", arm_vm_deallocate, API_COMPUTE, "virtualMachines", VM_TYPE, 0},
    {"POST", VM "/restart", arm_vm_restart, API_COMPUTE, "virtualMachines", VM_TYPE, 0},
    {"GET", VM "/extensions", arm_vm_extension_list, API_COMPUTE, "virtualMachines/extensions",
     "Microsoft.Compute/virtualMachines/extensions", 0},
    {"PUT", VM "/extensions/*", arm_vm_extension_put, API_COMPUTE, "virtualMachines/extensions",
     "Microsoft.Compute/virtualMachines/extensions", 0},
    {"GET", VM "/extensions/*", arm_vm_extension_get, API_COMPUTE, "virtualMachines/extensions",
     "Microsoft.Compute/virtualMachines/extensions", 0},
    {"DELETE", VM "/extensions/*", arm_vm_extension_delete, API_COMPUTE, "virtualMachines/extensions",
     "Microsoft.Compute/virtualMachines/extensions", 0},
    {"GET", "/subscriptions/*/providers/Microsoft.Compute/restorePointCollections", arm_collection_list, API_COMPUTE,
     "restorePointCollections", "Microsoft.Compute/restorePointCollections", 0},
    {"GET", RG "/providers/Microsoft.Compute/restorePointCollections", arm_collection_list, API_COMPUTE,
     "restorePointCollections", "Microsoft.Compute/restorePointCollections", 0},
    {"PUT", RPC, arm_collection_put, API_COMPUTE, "restorePointCollections", "Microsoft.Compute/restorePointCollections", 0},
    {"GET", RPC, arm_collection_get, API_COMPUTE, "restorePointCollections", "Microsoft.Compute/restorePointCollections", 0},
    {"PATCH", RPC, arm_collection_patch, API_COMPUTE, "restorePointCollections",
     "Microsoft.Compute/restorePointCollections", 0},
    {"DELETE", RPC, arm_collection_delete, API_COMPUTE, "restorePointCollections",
     "Microsoft.Compute/restorePointCollections", 0},
    {"PUT", RPT, arm_rp_put, API_COMPUTE, "restorePointCollections/restorePoints",
     "Microsoft.Compute/restorePointCollections/restorePoints", 0},
    {"GET", RPT, arm_rp_get, API_COMPUTE, "restorePointCollections/restorePoints",
     "Microsoft.Compute/restorePointCollections/restorePoints", 0},
    {"DELETE", RPT, arm_rp_delete, API_COMPUTE, "restorePointCollections/restorePoints",
     "Microsoft.Compute/restorePointCollections/restorePoints", 0},
    {"POST", RPT "/vmrpSetRetentionLock", arm_rp_set_retention_lock, API_COMPUTE,
     "restorePointCollections/restorePoints",
     "Microsoft.Compute/restorePointCollections/restorePoints/vmrpSetRetentionLock/action", 0},
    {"GET", RPT "/diskRestorePoints", arm_drp_list, API_DISKS, "restorePointCollections/restorePoints/diskRestorePoints",
     "Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints", 0},
    {"GET", RPT "/diskRestorePoints/*", arm_drp_get, API_DISKS,
     "restorePointCollections/restorePoints/diskRestorePoints",
     "Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints", 0},
    {"POST", RPT "/diskRestorePoints/*/beginGetAccess", arm_drp_begin_access, API_DISKS,
     "restorePointCollections/restorePoints/diskRestorePoints",
     "Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints/beginGetAccess", 0},
    {"POST", RPT "/diskRestorePoints/*/endGetAccess", arm_drp_end_access, API_DISKS,
     "restorePointCollections/restorePoints/diskRestorePoints",
     "Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints/endGetAccess", 0},
    {"POST", RPT "/diskRestorePoints/*/vmrpGrantNbdAccess", arm_drp_nbd_grant, API_DISKS,
     "restorePointCollections/restorePoints/diskRestorePoints",
     "Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints/vmrpGrantNbdAccess", 0},
    {"GET", RPT "/diskRestorePoints/*/vmrpNbdAccess", arm_drp_nbd_list, API_DISKS,
     "restorePointCollections/restorePoints/diskRestorePoints",
     "Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints/vmrpNbdAccess", 0},
    {"POST", RPT "/diskRestorePoints/*/vmrpRevokeNbdAccess", arm_drp_nbd_revoke, API_DISKS,
     "restorePointCollections/restorePoints/diskRestorePoints",
     "Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints/vmrpRevokeNbdAccess", 0},
    NETWORK_ROUTES("virtualNetworks"),
    NETWORK_ROUTES("networkSecurityGroups"),
    NETWORK_ROUTES("networkInterfaces"),
    NETWORK_ROUTES("publicIPAddresses"),
    {"GET", VNET "/subnets", arm_net_subnet_list, API_NETWORK, "virtualNetworks/subnets", SUBNET_ACTION, 0},
    {"PUT", VNET "/subnets/*", arm_net_subnet_put, API_NETWORK, "virtualNetworks/subnets", SUBNET_ACTION, 0},
    {"GET", VNET "/subnets/*", arm_net_subnet_get, API_NETWORK, "virtualNetworks/subnets", SUBNET_ACTION, 0},
    {"DELETE", VNET "/subnets/*", arm_net_subnet_delete, API_NETWORK, "virtualNetworks/subnets", SUBNET_ACTION, 0},
    {"GET", "/subscriptions/*/providers/Microsoft.Vmrp/protectionPolicies", arm_policy_list, API_VMRP,
     "protectionPolicies", POL_ACTION, 0},
    {"GET", RG "/providers/Microsoft.Vmrp/protectionPolicies", arm_policy_list, API_VMRP, "protectionPolicies",
     POL_ACTION, 0},
    {"PUT", POL, arm_policy_put, API_VMRP, "protectionPolicies", POL_ACTION, 0},
    {"GET", POL, arm_policy_get, API_VMRP, "protectionPolicies", POL_ACTION, 0},
    {"GET", POL "/instanceView", arm_policy_view_get, API_VMRP, "protectionPolicies", POL_ACTION, 0},
    {"POST", POL "/previewRetention", arm_policy_preview_retention, API_VMRP, "protectionPolicies",
     POL_ACTION "/previewRetention", ROUTE_READ_ONLY}, /* a preview: changes nothing */
    {"PATCH", POL, arm_policy_patch, API_VMRP, "protectionPolicies", POL_ACTION, 0},
    {"DELETE", POL, arm_policy_delete, API_VMRP, "protectionPolicies", POL_ACTION, 0},
    {"POST", "/subscriptions/*/providers/Microsoft.Vmrp/storeGc", arm_store_gc, API_ANY, "storeGc",
     "Microsoft.Vmrp/storeGc", 0},
    {"POST", "/subscriptions/*/providers/Microsoft.Vmrp/storeVerify", arm_store_verify, API_ANY, "storeVerify",
     "Microsoft.Vmrp/storeVerify", ROUTE_READ_ONLY},
    {"GET", "/subscriptions/*/providers/Microsoft.Vmrp/storeUpgrade", arm_store_upgrade_get, API_ANY, "storeUpgrade",
     "Microsoft.Vmrp/storeUpgrade", 0},
    {"GET", "/subscriptions/*/providers/Microsoft.Vmrp/nodes", arm_nodes_list, API_ANY, "nodes",
     "Microsoft.Vmrp/nodes", 0},
    {"GET", "/subscriptions/*/providers/*/locations/*/operations/*", arm_operation_status, API_ANY, "operations",
     "Microsoft.Resources/subscriptions/operations", 0},
    {"GET", "/subscriptions/*/operationresults/*", arm_operation_result, API_RESOURCES, "operationresults",
     "Microsoft.Resources/subscriptions/operationresults", 0},
    /* identity provider (anonymous) */
    {"GET", "/metadata/endpoints", arm_identity_metadata, API_NONE, NULL, NULL, ROUTE_ANONYMOUS},
    {"GET", "/adfs/.well-known/openid-configuration", arm_identity_openid, API_NONE, NULL, NULL, ROUTE_ANONYMOUS},
    {"GET", "/adfs/discovery/keys", arm_identity_jwks, API_NONE, NULL, NULL, ROUTE_ANONYMOUS},
    {"POST", "/adfs/oauth2/token", arm_identity_token, API_NONE, NULL, NULL, ROUTE_ANONYMOUS},
    {"GET", "/*/v2.0/.well-known/openid-configuration", arm_identity_openid_v2, API_NONE, NULL, NULL, ROUTE_ANONYMOUS},
    {"GET", "/*/.well-known/openid-configuration", arm_identity_openid_tenant, API_NONE, NULL, NULL, ROUTE_ANONYMOUS},
    {"GET", "/*/discovery/v2.0/keys", arm_identity_jwks, API_NONE, NULL, NULL, ROUTE_ANONYMOUS},
    {"GET", "/*/discovery/keys", arm_identity_jwks, API_NONE, NULL, NULL, ROUTE_ANONYMOUS},
    {"POST", "/*/oauth2/v2.0/token", arm_identity_token, API_NONE, NULL, NULL, ROUTE_ANONYMOUS},
    {"POST", "/*/oauth2/token", arm_identity_token, API_NONE, NULL, NULL, ROUTE_ANONYMOUS},
};

/* Splits path into segments in buf; returns the count or -1 if too many. */
static int split_path(const char *path, char *buf, size_t cap, char **segs)
{
  snprintf(buf, cap, "%s", path);
  int n = 0;
  char *save = NULL;
  for (char *s = strtok_r(buf, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
    if (n == MAX_SEGMENTS)
      return -1;
    segs[n++] = s;
  }
  return n;
}

static int hexval(char c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes %XX in place.  Malformed escapes and %00 (which would cut the name
 * short) are kept as they are: '%' is not a valid name character anywhere. */
static void decode_segment(char *s)
{
  char *o = s;
  for (char *i = s; *i; i++) {
    int hi = i[0] == '%' ? hexval(i[1]) : -1, lo = hi >= 0 ? hexval(i[2]) : -1;
    if (lo >= 0 && (hi | lo)) {
      *o++ = (char)(hi << 4 | lo);
      i += 2;
    } else {
      *o++ = *i;
    }
  }
  *o = '\0';
}

static bool match(const char *pattern, char **segs, int nsegs, struct arm_call *call)
{
  char pbuf[256];
  char *psegs[MAX_SEGMENTS];
  int np = split_path(pattern, pbuf, sizeof pbuf, psegs);
  if (np != nsegs)
    return false;
  int ncap = 0;
  for (int i = 0; i < np; i++) {
    if (strcmp(psegs[i], "*") == 0) {
      if (ncap < 8)
        call->params[ncap++] = segs[i];
    } else if (strcasecmp(psegs[i], segs[i]) != 0) {
      return false;
    }
  }
  call->nparams = ncap;
  return true;
}

static const struct arm_subscription *find_subscription(struct arm *arm, const char *id)
{
  for (int i = 0; i < arm->cfg.nsubscriptions; i++)
    if (strcasecmp(arm->cfg.subscriptions[i].id, id) == 0)
      return &arm->cfg.subscriptions[i];
  return NULL;
}

static bool authenticate(struct arm_call *call)
{
  if (http_header(call->req, ARM_HEADER_FORWARDED)) { /* a peer's: its signature and the caller it asserts */
    const struct arm_location *from = NULL;
    if (arm_peer_verify(call, &from) == 0 && call->who.oid[0])
      return true;
    arm_reply_error(call, 401, "AuthenticationFailed",
                    "A forwarded request needs a peer region's valid signature and the caller it is made for.");
    return false;
  }
  enum auth_result r = auth_verify(call->arm->auth, http_header(call->req, "Authorization"), &call->who);
  if (r == AUTH_OK)
    return true;
  http_response_header(call->resp, "WWW-Authenticate",
                       "Bearer authorization_uri=\"%s\", error=\"invalid_token\", error_description=\"%s\"",
                       call->arm->issuer, auth_result_to_string(r));
  switch (r) {
  case AUTH_MISSING:
    arm_reply_error(call, 401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.");
    break;
  case AUTH_EXPIRED:
    arm_reply_error(call, 401, "ExpiredAuthenticationToken",
                    "The access token expiry UTC time is earlier than current UTC time.");
    break;
  case AUTH_WRONG_AUDIENCE:
    arm_reply_error(call, 401, "InvalidAuthenticationTokenAudience",
                    "The access token has been obtained for wrong audience or resource.");
    break;
  case AUTH_UNKNOWN_ISSUER:
    arm_reply_error(call, 401, "InvalidAuthenticationTokenTenant",
                    "The access token is from an issuer that this service does not trust.");
    break;
  default:
    arm_reply_error(call, 401, "InvalidAuthenticationToken",
                    "The access token is invalid (%s).", auth_result_to_string(r));
    break;
  }
  return false;
}

/* Subscription exists and the caller's role allows the method. */
static bool authorize(struct arm_call *call, const struct route *rt)
{
  const char *sub = call->params[0];
  if (!find_subscription(call->arm, sub)) {
    arm_reply_error(call, 404, "SubscriptionNotFound", "The subscription '%s' could not be found.", sub);
    return false;
  }
  enum arm_need need = rt->flags & ROUTE_OWNER ? ARM_NEED_OWNER : arm_need_of(call->req->method);
  return arm_authz_scope(call, sub, need, rt->action);
}

static void query_utf8(void *ctx, const char *name, const char *value)
{
  bool *ok = ctx;
  *ok = *ok && arm_utf8_valid(name) && (!value || arm_utf8_valid(value));
}

/* Every decoded path segment and query name and value is valid UTF-8;
 * otherwise replies InvalidRequestUri. */
static bool uri_utf8_ok(struct arm_call *call, char **segs, int n)
{
  bool ok = true;
  for (int i = 0; ok && i < n; i++)
    ok = arm_utf8_valid(segs[i]);
  if (ok)
    http_query_each(call->req, query_utf8, &ok);
  if (!ok)
    arm_reply_error(call, 400, "InvalidRequestUri", "The request URI is invalid: it is not valid UTF-8.");
  return ok;
}

static bool parse_body(struct arm_call *call)
{
  const char *m = call->req->method;
  if (strcmp(m, "PUT") != 0 && strcmp(m, "PATCH") != 0 && strcmp(m, "POST") != 0)
    return true;
  if (!call->req->body || call->req->body_len == 0)
    return true;
  json_error_t err;
  call->body = json_loadb(call->req->body, call->req->body_len, JSON_REJECT_DUPLICATES, &err);
  if (!call->body) {
    arm_reply_error(call, 400, "InvalidRequestContent",
                    "The request content was invalid and could not be deserialized: '%s. Path '', line %d, "
                    "position %d.'",
                    err.text, err.line, err.column);
    return false;
  }
  if (!json_is_object(call->body)) {
    json_decref(call->body);
    call->body = NULL;
    arm_reply_error(call, 400, "InvalidRequestContent",
                    "The request content was invalid and could not be deserialized: 'the body must be a JSON "
                    "object.'");
    return false;
  }
  return true;
}

/* For a path that matched no route: the error ARM would give. */
static void reply_unmatched(struct arm_call *call, char **segs, int n, bool path_known)
{
  if (path_known) {
    arm_reply_error(call, 405, "HttpMethodNotAllowed", "The requested resource does not support http method '%s'.",
                    call->req->method);
    return;
  }
  for (int i = 0; i + 2 < n; i++) {
    if (strcasecmp(segs[i], "providers") != 0)
      continue;
    const char *ns = segs[i + 1];
    if (strcasecmp(ns, "Microsoft.Compute") != 0 && strcasecmp(ns, "Microsoft.Resources") != 0 &&
        strcasecmp(ns, "Microsoft.Network") != 0 && strcasecmp(ns, "Microsoft.Authorization") != 0 &&
        strcasecmp(ns, "Microsoft.Vmrp") != 0)
      arm_reply_error(call, 400, "InvalidResourceNamespace", "The resource namespace '%s' is invalid.", ns);
    else
      arm_reply_error(call, 400, "InvalidResourceType",
                      "The resource type '%s' could not be found in the namespace '%s' for api version '%s'.",
                      segs[i + 2], ns, call->api_version ? call->api_version : "");
    return;
  }
  arm_reply_error(call, 404, "NotFound", "The requested path '%s' was not found.", call->req->path);
}

/* The route of the call's path (segs, n), with its captures in call; NULL
 * when none has this method (*path_known: another method's). */
static const struct route *find_route(struct arm_call *call, char **segs, int n, bool *path_known)
{
  *path_known = false;
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    if (!match(routes[i].pattern, segs, n, call))
      continue;
    *path_known = true;
    if (strcmp(routes[i].method, call->req->method) == 0)
      return &routes[i];
  }
  return NULL;
}

/* What the locks on a request's scopes refuse (locks.c judges, in the region
 * that runs the handler): nothing for reads, the lock routes, routes outside
 * a subscription and POST actions that change nothing; a DELETE; any other
 * write. */
static enum arm_lock_op lock_op_of(const struct route *rt, const char *method)
{
  if (!rt->action || (rt->flags & ROUTE_NO_LOCKS) || !strcmp(method, "GET") || !strcmp(method, "HEAD"))
    return ARM_LOCK_NONE;
  if (!strcmp(method, "DELETE"))
    return ARM_LOCK_DELETE;
  return !strcmp(method, "POST") && (rt->flags & ROUTE_READ_ONLY) ? ARM_LOCK_NONE : ARM_LOCK_WRITE;
}

/* Everything after authentication, the one sequence a client's request and
 * a dispatched one (dispatch.c) both go through. */
static void after_authentication(struct arm_call *call, const struct route *rt, char **segs, int n, bool path_known)
{
  if (!uri_utf8_ok(call, segs, n))
    return;
  if (!rt) {
    reply_unmatched(call, segs, n, path_known);
    return;
  }
  call->type_name = rt->type;
  if (!arm_api_version_ok(call, rt->api, rt->type))
    return;
  if (rt->action && !authorize(call, rt))
    return;
  if ((!(rt->flags & ROUTE_RAW_BODY) && !parse_body(call)) || !arm_authz_body(call))
    goto out;
  call->handler = rt->fn;
  call->lock_op = lock_op_of(rt, call->req->method);
  call->segs = segs;
  call->nsegs = n;
  if (!rt->action || (rt->flags & ROUTE_HERE) || !arm_forward(call, arm_locks_run))
    arm_locks_run(call);
out:
  json_decref(call->body);
  call->body = NULL;
}

const char *arm_route_api_version(const char *method, const char *path)
{
  char buf[2048];
  char *segs[MAX_SEGMENTS];
  int n = strlen(path) < sizeof buf ? split_path(path, buf, sizeof buf, segs) : -1;
  struct http_request req = {.method = method};
  struct arm_call call = {.req = &req};
  bool path_known;
  const struct route *rt = n > 0 ? find_route(&call, segs, n, &path_known) : NULL;
  return rt ? arm_api_version_newest(rt->api) : NULL;
}

int arm_route_precheck(struct arm *arm, const char *method, const char *path, const char *api_version,
                       json_t **error)
{
  char buf[2048];
  char *segs[MAX_SEGMENTS];
  int n = strlen(path) < sizeof buf ? split_path(path, buf, sizeof buf, segs) : -1;
  struct http_request req = {.method = method, .path = path};
  struct http_response resp = {.status = 200};
  struct arm_call call = {.arm = arm, .req = &req, .resp = &resp, .api_version = api_version, .dispatched = true};
  bool path_known = false;
  const struct route *rt = n > 0 ? find_route(&call, segs, n, &path_known) : NULL;
  if (!rt || (rt->flags & ROUTE_ANONYMOUS))
    reply_unmatched(&call, segs, n > 0 ? n : 0, path_known);
  else
    arm_api_version_ok(&call, rt->api, rt->type);
  json_t *body = resp.status >= 400 && resp.body ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
  *error = body ? json_incref(json_object_get(body, "error")) : NULL;
  json_decref(body);
  int rc = resp.status >= 400 ? -EINVAL : 0;
  http_response_release(&resp);
  return rc;
}

void arm_route_authenticated(struct arm_call *call)
{
  char buf[2048];
  char *segs[MAX_SEGMENTS];
  int n = strlen(call->req->path) < sizeof buf ? split_path(call->req->path, buf, sizeof buf, segs) : -1;
  if (n < 0) {
    arm_reply_error(call, 400, "InvalidRequestUri", "The request URI is too long or has too many segments.");
    return;
  }
  bool path_known;
  const struct route *rt = find_route(call, segs, n, &path_known);
  if (rt && (rt->flags & ROUTE_ANONYMOUS))
    rt = NULL; /* identity endpoints are a client's, never dispatched */
  after_authentication(call, rt, segs, n, path_known);
}

void arm_handle(void *ctx, const struct http_request *req, struct http_response *resp)
{
  struct arm_call call = {.arm = ctx, .req = req, .resp = resp};
  call.api_version = http_query(req, "api-version");
  http_response_header(resp, "x-ms-request-id", "%s", req->request_id);
  const char *corr = http_header(req, "x-ms-correlation-request-id");
  http_response_header(resp, "x-ms-correlation-request-id", "%s", corr && strlen(corr) < 128 ? corr : req->request_id);
  const char *client_id = http_header(req, "x-ms-client-request-id");
  if (client_id && strlen(client_id) < 128)
    http_response_header(resp, "x-ms-client-request-id", "%s", client_id);

  char buf[2048];
  char *segs[MAX_SEGMENTS];
  const char *path = req->raw_path ? req->raw_path : req->path;
  if (!strncmp(path, REPL_PATH, strlen(REPL_PATH))) { /* a peer region's: its own authentication */
    arm_peer_handle(&call);
    return;
  }
  int n = strlen(path) < sizeof buf ? split_path(path, buf, sizeof buf, segs) : -1;
  for (int i = 0; req->raw_path && i < n; i++)
    decode_segment(segs[i]);
  if (n < 0) {
    arm_reply_error(&call, 400, "InvalidRequestUri", "The request URI is too long or has too many segments.");
    return;
  }
  bool path_known;
  const struct route *rt = find_route(&call, segs, n, &path_known);
  if (req->body_too_large) {
    arm_reply_error(&call, 413, "RequestEntityTooLarge",
                    "The request content size exceeds the maximum size allowed by the service.");
    return;
  }
  if (rt && (rt->flags & ROUTE_ANONYMOUS)) {
    if (!uri_utf8_ok(&call, segs, n))
      return;
    call.type_name = rt->type;
    rt->fn(&call);
    return;
  }
  if (authenticate(&call))
    after_authentication(&call, rt, segs, n, path_known);
}

int arm_open(const struct arm_config *cfg, struct meta *m, struct auth *a, struct region *region, struct arm **out)
{
  struct arm *arm = calloc(1, sizeof *arm);
  if (!arm)
    return -ENOMEM;
  arm->cfg = *cfg;
  arm->meta = m;
  arm->auth = a;
  arm->region = region;
  if (asprintf(&arm->issuer, "%s/adfs", cfg->public_url) < 0) {
    free(arm);
    return -ENOMEM;
  }
  int rc = repl_guard_open(time_now_us() / 1000, &arm->peer_guard);
  if (rc == 0 && (rc = notify_start(m, &cfg->notify, &arm->notify)) < 0)
    repl_guard_close(arm->peer_guard);
  if (rc < 0) {
    free(arm->issuer);
    free(arm);
    return rc;
  }
  for (int i = 0; i < cfg->nsubscriptions; i++) /* where each subscription's guest agent sockets go */
    region_agent_folder_make(region, cfg->subscriptions[i].id);
  *out = arm;
  return 0;
}

int arm_set_jobs(struct arm *arm, struct jobs *jobs)
{
  arm->jobs = jobs;
  int rc = arm_upgrade_start(arm);
  if (rc == 0)
    rc = arm_deploy_start(arm);
  return rc == 0 ? arm_policy_sched_start(arm) : rc;
}

void arm_close(struct arm *arm)
{
  if (!arm)
    return;
  arm_policy_stop(arm);
  arm_deploy_stop(arm);
  notify_stop(arm->notify); /* after everything that queues events */
  repl_guard_close(arm->peer_guard);
  free(arm->issuer);
  free(arm);
}

const struct job_kind *arm_job_kinds(int *n)
{
  static const struct job_kind kinds[] = {
      {"resourceGroupDelete", arm_rg_delete_job, ROUTE_ANONYMOUS, false},
      {"diskCreate", arm_disk_create_job, ROUTE_ANONYMOUS, false},
      {"diskDelete", arm_disk_delete_job, ROUTE_ANONYMOUS, false},
      {"diskHydrate", arm_disk_hydrate_job, ROUTE_ANONYMOUS, false},
      {"vmCreate", arm_vm_create_job, ROUTE_ANONYMOUS, false},
      {"vmDelete", arm_vm_delete_job, ROUTE_ANONYMOUS, false},
      {"restorePointCollectionDelete", arm_collection_delete_job, ROUTE_ANONYMOUS, true},
      {"restorePointCreate", arm_rp_create_job, 0, false}, /* its fence lives in memory */
      {"restorePointDelete", arm_rp_delete_job, ROUTE_ANONYMOUS, true},
      {"restorePointCopy", arm_rp_copy_job, ROUTE_ANONYMOUS, true},
      {"storeGc", arm_store_gc_job, ROUTE_ANONYMOUS, false},
      {"storeVerify", arm_store_verify_job, ROUTE_ANONYMOUS, true},
      {"storeUpgrade", arm_upgrade_job, ROUTE_ANONYMOUS, false},
  };
  *n = (int)(sizeof kinds / sizeof kinds[0]);
  return kinds;
}
