/*
 * view.c — a deployment and its operations as ARM shows them
 * (DeploymentExtended, DeploymentOperation): the stored document with the
 * id, name, type, state and times around it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timefmt.h"
#include "deploy/internal.h"

#define DEPLOYMENT_TYPE "Microsoft.Resources/deployments"

json_t *deploy_view(const struct meta_deployment *dep)
{
  json_t *doc = json_loads(dep->document, 0, NULL);
  json_t *props = json_object_get(doc, "properties");
  props = props ? json_incref(props) : json_object();
  char ts[TIME_ISO_LEN], dur[32];
  int64_t end = dep->end_us ? dep->end_us : time_now_us();
  time_iso8601(dep->end_us ? dep->end_us : dep->start_us, ts);
  deploy_duration(end - dep->start_us, dur);
  json_object_set_new(props, "provisioningState", json_string(dep->state));
  json_object_set_new(props, "timestamp", json_string(ts));
  json_object_set_new(props, "duration", json_string(dur));
  json_t *v = json_pack("{s:o,s:s,s:s}", "id", json_string(dep->id), "name", dep->name, "type", DEPLOYMENT_TYPE);
  if (dep->location)
    json_object_set_new(v, "location", json_string(dep->location));
  json_t *tags = json_object_get(doc, "tags");
  if (tags)
    json_object_set(v, "tags", tags);
  json_object_set_new(v, "properties", props);
  json_decref(doc);
  return v;
}

json_t *deploy_validate_view(const char *id, const char *name, const char *location, const char *mode,
                             const struct tpl_template *plan, json_t *tags)
{
  json_t *resources = json_array();
  for (int i = 0; i < tpl_count(plan); i++) {
    const struct tpl_resource *r = tpl_get(plan, i);
    if (r->deploy)
      json_array_append_new(resources, json_pack("{s:s}", "id", r->id));
  }
  json_t *props = json_pack("{s:s,s:s,s:s,s:s,s:o,s:s?,s:o}", "provisioningState", "Succeeded", "timestamp",
                            "0001-01-01T00:00:00Z", "duration", "PT0S", "mode", mode, "parameters",
                            tpl_parameters_view(plan), "templateHash", tpl_hash(plan), "validatedResources",
                            resources);
  json_t *v = json_pack("{s:o,s:s,s:s}", "id", json_string(id), "name", name, "type", DEPLOYMENT_TYPE);
  if (location)
    json_object_set_new(v, "location", json_string(location));
  if (tags)
    json_object_set(v, "tags", tags);
  json_object_set_new(v, "properties", props);
  return v;
}

json_t *deploy_op_view(const struct meta_deployment *dep, const struct meta_deployment_op *op)
{
  char id[1400];
  snprintf(id, sizeof id, "%s/operations/%s", dep->id, op->id);
  json_t *props = json_loads(op->document, 0, NULL);
  return json_pack("{s:s,s:s,s:o}", "id", id, "operationId", op->id, "properties", props ? props : json_object());
}
