/*
 * apiversion.c — which api-versions each resource family accepts.
 *
 * One table per family, the union of the versions Azure published for the
 * types vmrp serves and the versions the official clients send (see
 * shared/reference/API-VERSIONS.md).  A request without api-version gets
 * MissingApiVersionParameter; an unknown one gets the error of the provider
 * that owns the type: InvalidApiVersionParameter from Microsoft.Resources,
 * NoRegisteredProviderFound from Microsoft.Compute.
 */
#include <stdio.h>
#include <string.h>

#include "arm/internal.h"

static const char *const subscriptions_versions[] = {
    "2014-04-01", "2015-01-01", "2016-06-01", "2018-06-01", "2019-06-01", "2019-11-01",
    "2020-01-01", "2021-01-01", "2022-01-01", "2022-09-01", "2022-12-01", NULL};

static const char *const resources_versions[] = {
    "2014-04-01", "2015-01-01", "2015-11-01", "2016-02-01", "2016-07-01", "2016-09-01", "2017-05-10",
    "2018-02-01", "2018-05-01", "2019-03-01", "2019-05-01", "2019-05-10", "2019-07-01", "2019-08-01",
    "2019-10-01", "2020-06-01", "2020-08-01", "2020-10-01", "2021-01-01", "2021-04-01", "2022-09-01",
    "2023-07-01", "2024-03-01", "2024-07-01", "2024-11-01", "2025-03-01", "2025-04-01", "2026-06-01", NULL};

static const char *const compute_versions[] = {
    "2021-03-01", "2021-04-01", "2021-07-01", "2021-11-01", "2022-03-01", "2022-08-01", "2022-11-01",
    "2023-03-01", "2023-07-01", "2023-09-01", "2024-03-01", "2024-07-01", "2024-11-01", "2025-04-01",
    "2026-04-01", NULL};

static const char *const disks_versions[] = {
    "2020-12-01", "2021-04-01", "2021-08-01", "2021-12-01", "2022-03-02", "2022-07-02", "2023-01-02",
    "2023-04-02", "2023-10-02", "2024-03-02", "2025-01-02", "2026-03-02", NULL};

/* Microsoft.Network: every version Azure published from 2015 on (templates
 * pin old ones: Microsoft's VM restore template sends 2019-02-01,
 * 2020-08-01, 2020-11-01 and 2021-03-01; az 2.45 sends 2022-01-01, Debian's
 * azure-mgmt-network 2022-07-01, @azure/arm-network 39.0.0 2026-01-01). */
static const char *const network_versions[] = {
    "2015-06-15", "2016-03-30", "2016-06-01", "2016-07-01", "2016-08-01", "2016-09-01", "2016-10-01",
    "2016-11-01", "2016-12-01", "2017-03-01", "2017-04-01", "2017-06-01", "2017-08-01", "2017-09-01",
    "2017-10-01", "2017-11-01", "2018-01-01", "2018-02-01", "2018-04-01", "2018-06-01", "2018-07-01",
    "2018-08-01", "2018-10-01", "2018-11-01", "2018-12-01", "2019-02-01", "2019-04-01", "2019-06-01",
    "2019-07-01", "2019-08-01", "2019-09-01", "2019-11-01", "2019-12-01", "2020-03-01", "2020-04-01",
    "2020-05-01", "2020-06-01", "2020-07-01", "2020-08-01", "2020-11-01", "2021-02-01", "2021-03-01",
    "2021-05-01", "2021-08-01", "2022-01-01", "2022-05-01", "2022-07-01", "2022-09-01", "2022-11-01",
    "2023-02-01", "2023-04-01", "2023-05-01", "2023-06-01", "2023-09-01", "2023-11-01", "2024-01-01",
    "2024-03-01", "2024-05-01", "2024-07-01", "2024-10-01", "2026-01-01", NULL};

/* Microsoft.Authorization/locks: the versions Azure published (az and
 * Debian's azure-mgmt-resource send 2016-09-01; @azure/arm-locks 2020-05-01). */
static const char *const locks_versions[] = {"2015-01-01", "2016-09-01", "2017-04-01", "2020-05-01", NULL};

/* Microsoft.Vmrp: vmrp's own resource types (protection policies). */
static const char *const vmrp_versions[] = {"2026-12-01", NULL};

static const char *const *versions_of(enum api_family fam)
{
  switch (fam) {
  case API_SUBSCRIPTIONS: return subscriptions_versions;
  case API_RESOURCES: return resources_versions;
  case API_COMPUTE: return compute_versions;
  case API_DISKS: return disks_versions;
  case API_NETWORK: return network_versions;
  case API_LOCKS: return locks_versions;
  case API_VMRP: return vmrp_versions;
  case API_NONE:
  case API_ANY: break;
  }
  return NULL;
}

const char *arm_api_version_newest(enum api_family fam)
{
  const char *const *v = versions_of(fam);
  int n = 0;
  while (v && v[n])
    n++;
  return n ? v[n - 1] : NULL;
}

static bool known_anywhere(const char *given)
{
  for (enum api_family f = API_SUBSCRIPTIONS; f < API_ANY; f++)
    for (const char *const *v = versions_of(f); *v; v++)
      if (strcmp(*v, given) == 0)
        return true;
  return false;
}

json_t *arm_api_versions_json(enum api_family fam)
{
  json_t *arr = json_array();
  const char *const *v = versions_of(fam);
  int n = 0;
  while (v && v[n])
    n++;
  for (int i = n - 1; i >= 0; i--) /* newest first, as ARM lists them */
    json_array_append_new(arr, json_string(v[i]));
  return arr;
}

static void join_versions(const char *const *v, char *out, size_t cap)
{
  size_t o = 0;
  out[0] = '\0';
  for (int i = 0; v[i] && o + 14 < cap; i++)
    o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? ", " : "", v[i]);
}

bool arm_api_version_ok(struct arm_call *call, enum api_family fam, const char *type)
{
  if (fam == API_NONE)
    return true;
  const char *given = call->api_version;
  if (!given || !*given) {
    arm_reply_error(call, 400, "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.");
    return false;
  }
  if (fam == API_ANY) {
    if (known_anywhere(given))
      return true;
    arm_reply_error(call, 400, "InvalidApiVersionParameter", "The api-version '%s' is invalid.", given);
    return false;
  }
  const char *const *v = versions_of(fam);
  for (int i = 0; v[i]; i++)
    if (strcmp(v[i], given) == 0)
      return true;
  char list[1024];
  join_versions(v, list, sizeof list);
  if (fam == API_COMPUTE || fam == API_DISKS || fam == API_NETWORK)
    arm_reply_error(call, 400, "NoRegisteredProviderFound",
                    "No registered resource provider found for location '%s' and API version '%s' for type '%s'. "
                    "The supported api-versions are '%s'. The supported locations are '%s'.",
                    call->arm->cfg.locations[0].name, given, type, list, call->arm->cfg.locations[0].name);
  else
    arm_reply_error(call, 400, "InvalidApiVersionParameter",
                    "The api-version '%s' is invalid. The supported versions are '%s'.", given, list);
  return false;
}
