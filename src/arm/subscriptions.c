/*
 * subscriptions.c — subscriptions, tenants, locations and provider metadata.
 *
 * Subscriptions come from the configuration, not the database: they are the
 * tenancy boundary an operator sets up.  A principal sees the subscriptions it
 * holds a role on.  Locations are this region plus its peers.  Provider
 * metadata lists the resource types with their api-versions and locations,
 * which template engines and `az resource` read to pick versions.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"

static json_t *subscription_json(struct arm *arm, const struct arm_subscription *s)
{
  char id[128];
  snprintf(id, sizeof id, "/subscriptions/%s", s->id);
  return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:{s:s,s:s,s:s},s:[]}", "id", id, "subscriptionId", s->id,
                   "tenantId", arm->cfg.tenant_id, "displayName", s->display_name ? s->display_name : s->id,
                   "state", "Enabled", "authorizationSource", "RoleBased", "subscriptionPolicies",
                   "locationPlacementId", "Public_2014-09-01", "quotaId", "PayAsYouGo_2014-09-01", "spendingLimit",
                   "Off", "managedByTenants");
}

void arm_subscriptions_list(struct arm_call *call)
{
  json_t *value = json_array();
  for (int i = 0; i < call->arm->cfg.nsubscriptions; i++) {
    const struct arm_subscription *s = &call->arm->cfg.subscriptions[i];
    if (arm_role_allows(call->arm, &call->who, s->id, ARM_NEED_READ))
      json_array_append_new(value, subscription_json(call->arm, s));
  }
  arm_reply_json(call, 200, json_pack("{s:o}", "value", value));
}

void arm_subscriptions_get(struct arm_call *call)
{
  for (int i = 0; i < call->arm->cfg.nsubscriptions; i++)
    if (strcasecmp(call->arm->cfg.subscriptions[i].id, call->params[0]) == 0) {
      arm_reply_json(call, 200, subscription_json(call->arm, &call->arm->cfg.subscriptions[i]));
      return;
    }
}

void arm_tenants_list(struct arm_call *call)
{
  char id[128];
  snprintf(id, sizeof id, "/tenants/%s", call->arm->cfg.tenant_id);
  arm_reply_json(call, 200,
                 json_pack("{s:[{s:s,s:s,s:s,s:s}]}", "value", "id", id, "tenantId", call->arm->cfg.tenant_id,
                           "tenantCategory", "Home", "displayName", "vmrp"));
}

void arm_locations_list(struct arm_call *call)
{
  json_t *value = json_array();
  for (int i = 0; i < call->arm->cfg.nlocations; i++) {
    const struct arm_location *loc = &call->arm->cfg.locations[i];
    char id[256];
    snprintf(id, sizeof id, "/subscriptions/%s/locations/%s", call->params[0], loc->name);
    json_array_append_new(value, json_pack("{s:s,s:s,s:s,s:s,s:s,s:{s:s,s:s,s:s}}", "id", id, "name", loc->name,
                                           "type", "Region", "displayName", arm_location_display(loc),
                                           "regionalDisplayName", arm_location_display(loc), "metadata",
                                           "regionType", "Physical", "regionCategory", "Recommended",
                                           "geographyGroup", "vmrp"));
  }
  arm_reply_json(call, 200, json_pack("{s:o}", "value", value));
}

static json_t *locations_display(struct arm *arm)
{
  json_t *arr = json_array();
  for (int i = 0; i < arm->cfg.nlocations; i++)
    json_array_append_new(arr, json_string(arm_location_display(&arm->cfg.locations[i])));
  return arr;
}

static json_t *resource_type(struct arm *arm, const char *name, enum api_family fam, bool located)
{
  return json_pack("{s:s,s:o,s:o}", "resourceType", name, "locations",
                   located ? locations_display(arm) : json_array(), "apiVersions", arm_api_versions_json(fam));
}

static json_t *provider_json(struct arm_call *call, const char *ns)
{
  struct arm *arm = call->arm;
  json_t *types = json_array();
  const char *canonical;
  if (strcasecmp(ns, "Microsoft.Compute") == 0) {
    canonical = "Microsoft.Compute";
    json_array_append_new(types, resource_type(arm, "virtualMachines", API_COMPUTE, true));
    json_array_append_new(types, resource_type(arm, "virtualMachines/extensions", API_COMPUTE, true));
    json_array_append_new(types, resource_type(arm, "restorePointCollections", API_COMPUTE, true));
    json_array_append_new(types, resource_type(arm, "restorePointCollections/restorePoints", API_COMPUTE, true));
    json_array_append_new(types, resource_type(arm, "disks", API_DISKS, true));
    json_array_append_new(types, resource_type(arm, "diskEncryptionSets", API_DISKS, true));
    json_array_append_new(types, resource_type(arm, "restorePointCollections/restorePoints/diskRestorePoints",
                                               API_DISKS, true));
    json_array_append_new(types, resource_type(arm, "locations", API_COMPUTE, false));
    json_array_append_new(types, resource_type(arm, "locations/operations", API_COMPUTE, true));
  } else if (strcasecmp(ns, "Microsoft.Network") == 0) {
    canonical = "Microsoft.Network";
    static const char *const network_types[] = {"virtualNetworks", "virtualNetworks/subnets",
                                                "networkSecurityGroups", "networkInterfaces", "publicIPAddresses",
                                                NULL};
    for (int i = 0; network_types[i]; i++)
      json_array_append_new(types, resource_type(arm, network_types[i], API_NETWORK, true));
  } else if (strcasecmp(ns, "Microsoft.Authorization") == 0) {
    canonical = "Microsoft.Authorization";
    json_array_append_new(types, resource_type(arm, "locks", API_LOCKS, false));
  } else if (strcasecmp(ns, "Microsoft.Vmrp") == 0) {
    canonical = "Microsoft.Vmrp";
    json_array_append_new(types, resource_type(arm, "protectionPolicies", API_VMRP, true));
  } else if (strcasecmp(ns, "Microsoft.Resources") == 0) {
    canonical = "Microsoft.Resources";
    json_array_append_new(types, resource_type(arm, "resourceGroups", API_RESOURCES, true));
    json_array_append_new(types, resource_type(arm, "deployments", API_RESOURCES, true));
    json_array_append_new(types, resource_type(arm, "subscriptions", API_SUBSCRIPTIONS, false));
    json_array_append_new(types, resource_type(arm, "tenants", API_SUBSCRIPTIONS, false));
  } else {
    json_decref(types);
    return NULL;
  }
  char id[256];
  snprintf(id, sizeof id, "/subscriptions/%s/providers/%s", call->params[0], canonical);
  return json_pack("{s:s,s:s,s:s,s:s,s:o}", "id", id, "namespace", canonical, "registrationState", "Registered",
                   "registrationPolicy", "RegistrationRequired", "resourceTypes", types);
}

void arm_providers_list(struct arm_call *call)
{
  arm_reply_json(call, 200,
                 json_pack("{s:[o,o,o,o,o]}", "value", provider_json(call, "Microsoft.Compute"),
                           provider_json(call, "Microsoft.Network"), provider_json(call, "Microsoft.Resources"),
                           provider_json(call, "Microsoft.Authorization"), provider_json(call, "Microsoft.Vmrp")));
}

void arm_providers_get(struct arm_call *call)
{
  json_t *p = provider_json(call, call->params[1]);
  if (!p) {
    arm_reply_error(call, 404, "ProviderNotFound" /* what ARM answers for an unknown namespace */,
                    "The resource provider namespace '%s' was not found.", call->params[1]);
    return;
  }
  arm_reply_json(call, 200, p);
}
