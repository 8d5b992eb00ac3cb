/*
 * world.c — the world a deployment's template sees (tpl_world): its scope,
 * the resource group as the store holds it, the subscription and tenant,
 * deployment()'s name and location, environment().  Built the same way for
 * validate, a run and a nested deployment's target scope, so a template
 * plans alike in all three.  reference() is left to the caller: a run
 * answers it through the host (engine.c); validate leaves it unanswered
 * (-EAGAIN, as template.h says).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "deploy/internal.h"

static int copy(char *dst, size_t cap, const char *src)
{
  int n = snprintf(dst, cap, "%s", src ? src : "");
  return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int deploy_world_init(struct deploy *d, struct deploy_world *w, const char *subscription, const char *resource_group,
                      const char *name, const char *location, const char *mode)
{
  memset(w, 0, sizeof *w);
  int rc = copy(w->subscription, sizeof w->subscription, subscription);
  if (rc == 0)
    rc = copy(w->resource_group, sizeof w->resource_group, resource_group);
  if (rc == 0)
    rc = copy(w->name, sizeof w->name, name);
  if (rc == 0)
    rc = copy(w->location, sizeof w->location, location);
  if (rc == 0)
    rc = copy(w->mode, sizeof w->mode, mode ? mode : "Incremental");
  struct meta_resource rg = {0};
  if (rc == 0 && resource_group) {
    char id[256];
    snprintf(id, sizeof id, "/subscriptions/%s/resourceGroups/%s", subscription, resource_group);
    rc = meta_resource_get(d->cfg.meta, id, &rg);
    if (rc == 0 && rg.provisioning_state && !strcmp(rg.provisioning_state, "Deleting"))
      rc = -ENOENT;
    if (rc == 0)
      rc = copy(w->rg_location, sizeof w->rg_location, rg.location);
    if (rc == 0 && rg.tags)
      w->rg_tags = json_loads(rg.tags, 0, NULL);
    if (rc == 0)
      snprintf(w->resource_group, sizeof w->resource_group, "%s", rg.name); /* its own casing */
  }
  meta_resource_clear(&rg);
  const char *sub_name = d->cfg.subscription_name ? d->cfg.subscription_name(d->cfg.host.ctx, subscription) : NULL;
  w->w = (struct tpl_world){
      .scope = resource_group ? TPL_SCOPE_RESOURCE_GROUP : TPL_SCOPE_SUBSCRIPTION,
      .subscription_id = w->subscription,
      .subscription_name = sub_name ? sub_name : w->subscription,
      .tenant_id = d->cfg.tenant_id,
      .resource_group = resource_group ? w->resource_group : NULL,
      .rg_location = resource_group ? w->rg_location : NULL,
      .rg_tags = w->rg_tags,
      .deployment_name = w->name,
      .deployment_location = location ? w->location : NULL,
      .mode = w->mode,
      .environment = d->cfg.environment,
  };
  if (rc < 0)
    deploy_world_clear(w);
  return rc;
}

void deploy_world_clear(struct deploy_world *w)
{
  json_decref(w->rg_tags);
  w->rg_tags = NULL;
  w->w.rg_tags = NULL;
}
