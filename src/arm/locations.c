/*
 * locations.c — the regions of this deployment (this one first, then its
 * peers) and their display names.  Clients send either form ("eastus" or
 * "East US"); vmrp stores the canonical name.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"

static const struct {
  const char *name, *display;
} known[] = {
    {"eastus", "East US"},       {"eastus2", "East US 2"},           {"westus", "West US"},
    {"westus2", "West US 2"},    {"westus3", "West US 3"},           {"centralus", "Central US"},
    {"northeurope", "North Europe"}, {"westeurope", "West Europe"}, {"uksouth", "UK South"},
    {"japaneast", "Japan East"}, {"australiaeast", "Australia East"}, {"southeastasia", "Southeast Asia"},
};

const char *arm_location_display(const struct arm_location *loc)
{
  if (loc->display_name)
    return loc->display_name;
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (strcasecmp(known[i].name, loc->name) == 0)
      return known[i].display;
  return loc->name;
}

const char *arm_location_canonical(struct arm *arm, const char *name)
{
  if (!name)
    return NULL;
  for (int i = 0; i < arm->cfg.nlocations; i++) {
    const struct arm_location *loc = &arm->cfg.locations[i];
    if (strcasecmp(loc->name, name) == 0 || strcasecmp(arm_location_display(loc), name) == 0)
      return loc->name;
  }
  return NULL;
}

const char *arm_location_here(struct arm_call *call, json_t *body, const char *type)
{
  const char *given = json_string_value(json_object_get(body, "location"));
  if (!given) {
    arm_reply_error_target(call, 400, "LocationRequired", "location",
                           "The location property is required for this definition.");
    return NULL;
  }
  const char *loc = arm_location_canonical(call->arm, given);
  if (!loc || strcmp(loc, call->arm->cfg.locations[0].name) != 0) {
    arm_reply_error(call, 400, "LocationNotAvailableForResourceType",
                    "The provided location '%s' is not available for resource type '%s'. List of available regions "
                    "for the resource type is '%s'.",
                    given, type, call->arm->cfg.locations[0].name);
    return NULL;
  }
  return loc;
}
