/*
 * fn_scope.c — the scope functions: resourceGroup(), subscription(),
 * tenant() (docs: template-functions-scope.md; TEMPLATES.md §3.4.2), built
 * from the world the deployment runs in.
 */
#include <errno.h>
#include <stdio.h>

#include "template/internal.h"

static int fn_resource_group(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const struct tpl_world *w = c->ev->world;
  if (!w || w->scope != TPL_SCOPE_RESOURCE_GROUP || !w->resource_group)
    return tpl_call_fail(c, "The template function 'resourceGroup' is not expected at this location: the "
                            "deployment is not at a resource group's scope.");
  char id[1024];
  snprintf(id, sizeof id, "/subscriptions/%s/resourceGroups/%s", w->subscription_id, w->resource_group);
  *out = json_pack("{s:s, s:s, s:s, s:s?, s:{s:s}}", "id", id, "name", w->resource_group, "type",
                   "Microsoft.Resources/resourceGroups", "location", w->rg_location, "properties", "provisioningState",
                   "Succeeded");
  if (*out && w->rg_tags && json_object_size(w->rg_tags) > 0 &&
      json_object_set_new(*out, "tags", json_deep_copy(w->rg_tags)) < 0) {
    json_decref(*out);
    *out = NULL;
  }
  return *out ? 0 : tpl_no_memory(c->err);
}

static int fn_subscription(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const struct tpl_world *w = c->ev->world;
  if (!w || !w->subscription_id)
    return tpl_call_fail(c, "The template function 'subscription' is not expected at this location.");
  char id[512];
  snprintf(id, sizeof id, "/subscriptions/%s", w->subscription_id);
  *out = json_pack("{s:s, s:s, s:s?, s:s?}", "id", id, "subscriptionId", w->subscription_id, "tenantId",
                   w->tenant_id, "displayName", w->subscription_name);
  return *out ? 0 : tpl_no_memory(c->err);
}

static int fn_tenant(struct tpl_call *c, json_t *const *args, int n, json_t **out)
{
  const struct tpl_world *w = c->ev->world;
  if (!w || !w->tenant_id)
    return tpl_call_fail(c, "The template function 'tenant' is not expected at this location.");
  *out = json_pack("{s:s}", "tenantId", w->tenant_id);
  return *out ? 0 : tpl_no_memory(c->err);
}

const struct tpl_function tpl_fn_scope[] = {
    {"resourceGroup", fn_resource_group, 0, 0, 0},
    {"subscription", fn_subscription, 0, 0, 0},
    {"tenant", fn_tenant, 0, 0, 0},
    {NULL, NULL, 0, 0, 0},
};
