/*
 * deploy_host.c — the deployment engine (deploy/) as this front end runs
 * it: its requests go through dispatch.c as the deployment's caller, so
 * every resource a template creates is checked and created exactly as a
 * client's PUT; its api-versions and subscription names come from the
 * route table and the configuration.
 *
 * A long-running operation's Azure-AsyncOperation URL is handed to the
 * engine only when it is this region's (the engine polls it through
 * dispatch); a resource another region created (a forwarded PUT) is waited
 * for through GETs of the resource instead, which forward.c relays.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"
#include "common/log.h"

/* The identity a deployment stores as its caller. */
static void who_of(const char *caller, struct auth_identity *who)
{
  memset(who, 0, sizeof *who);
  json_t *c = json_loads(caller, 0, NULL);
  snprintf(who->oid, sizeof who->oid, "%s", json_string_value(json_object_get(c, "oid")) ?: "");
  snprintf(who->appid, sizeof who->appid, "%s", json_string_value(json_object_get(c, "appid")) ?: "");
  snprintf(who->tid, sizeof who->tid, "%s", json_string_value(json_object_get(c, "tid")) ?: "");
  json_decref(c);
}

static int request(void *ctx, const char *caller, const char *method, const char *url, json_t *body,
                   const char *correlation_id, struct deploy_reply *out)
{
  struct arm *arm = ctx;
  memset(out, 0, sizeof *out);
  struct auth_identity who;
  who_of(caller, &who);
  struct arm_dispatch_reply rep;
  int rc = arm_dispatch(arm, &who, method, url, body, correlation_id, &rep);
  if (rc < 0)
    return rc;
  size_t base = strlen(arm->cfg.public_url);
  out->status = rep.status;
  out->body = rep.body;
  rep.body = NULL;
  if (rep.async_operation && !strncasecmp(rep.async_operation, arm->cfg.public_url, base) &&
      rep.async_operation[base] == '/')
    out->async_operation = strdup(rep.async_operation + base);
  snprintf(out->request_id, sizeof out->request_id, "%s", rep.request_id);
  arm_dispatch_reply_clear(&rep);
  return 0;
}

static const char *api_version(void *ctx, const char *method, const char *id)
{
  (void)ctx;
  return arm_route_api_version(method, id);
}

static int authorize_nested(void *ctx, const char *caller, const char *id, json_t **error)
{
  struct auth_identity who;
  who_of(caller, &who);
  return arm_authz_nested(ctx, &who, id, error);
}

static const char *subscription_name(void *ctx, const char *sub)
{
  struct arm *arm = ctx;
  for (int i = 0; i < arm->cfg.nsubscriptions; i++)
    if (!strcasecmp(arm->cfg.subscriptions[i].id, sub))
      return arm->cfg.subscriptions[i].display_name;
  return NULL;
}

int arm_deploy_start(struct arm *arm)
{
  const char *url = arm->cfg.public_url;
  arm->environment = json_pack("{s:s,s:s,s:s,s:{s:s,s:[s],s:s,s:s},s:{}}", "name", "vmrp", "resourceManager", url,
                               "portal", url, "authentication", "loginEndpoint", arm->issuer, "audiences", url,
                               "tenant", "common", "identityProvider", "AAD", "suffixes");
  struct deploy_config cfg = {
      .host = {.ctx = arm, .request = request, .api_version = api_version, .authorize_nested = authorize_nested},
      .meta = arm->meta,
      .tenant_id = arm->cfg.tenant_id,
      .subscription_name = subscription_name,
      .environment = arm->environment,
      .threads = arm->cfg.deploy_threads,
      .history = arm->cfg.deploy_history,
  };
  int rc = arm->environment ? deploy_start(&cfg, &arm->deploy) : -ENOMEM;
  if (rc < 0)
    log_error("arm", "the deployment engine did not start: %s", strerror(-rc));
  return rc;
}

void arm_deploy_stop(struct arm *arm)
{
  deploy_stop(arm->deploy);
  arm->deploy = NULL;
  json_decref(arm->environment);
  arm->environment = NULL;
}
