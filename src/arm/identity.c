/*
 * identity.c — vmrpd as the identity provider its clients log in to.
 *
 * Two authority layouts (shared/reference/clients/):
 *   az CLI (MSAL Python): authority {base}/adfs — openid-configuration at
 *     /adfs/.well-known/openid-configuration, token at /adfs/oauth2/token.
 *     Only an "adfs" authority keeps MSAL from calling Microsoft's instance
 *     discovery.
 *   @azure/identity (MSAL Node): authority {base}/{tenant} — metadata at
 *     /{tenant}/v2.0/.well-known/openid-configuration, token at
 *     /{tenant}/oauth2/v2.0/token.
 * Both use the client-credentials grant with client_secret_post.  The scope
 * names the resource ("https://h:p//.default", or the JS SDK's
 * "https://management.azure.com/.default"); it must be one of the accepted
 * audiences and becomes the token's "aud".
 *
 * Failed client-credential attempts are throttled (429 with Retry-After,
 * before the secret is even checked) per source address (IPv6: per /64) — a
 * burst of TOKEN_FAIL_BURST, then one every few seconds — and, with a larger
 * burst, per client id, which only a guesser spread over many addresses
 * reaches.
 * So one address guessing a principal's secret is slowed without locking out
 * that principal elsewhere.  The tables are process-wide: one identity
 * endpoint per process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/throttle.h"
#include "common/timefmt.h"
#include "common/urlcode.h"

#define TOKEN_FAIL_BURST 10 /* failures from one address before it waits */
static struct throttle fails_by_address = THROTTLE_INIT(TOKEN_FAIL_BURST, 1.0 / 6); /* then 10 a minute */
static struct throttle fails_by_client = THROTTLE_INIT(100, 1.0 / 3); /* then 20 a minute */

void arm_identity_metadata(struct arm_call *call)
{
  const char *b = call->arm->cfg.public_url;
  char login[512], aud[512], graph[512], gallery[512];
  snprintf(login, sizeof login, "%s/adfs", b);
  snprintf(aud, sizeof aud, "%s/", b);
  snprintf(graph, sizeof graph, "%s/graph/", b);
  snprintf(gallery, sizeof gallery, "%s/gallery/", b);
  arm_reply_json(call, 200,
                 json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:[s]}}", "galleryEndpoint", gallery, "graphEndpoint", graph,
                           "resourceManager", aud, "name", "vmrp", "authentication", "loginEndpoint", login,
                           "audiences", aud));
}

static void reply_openid(struct arm_call *call, const char *issuer, const char *prefix, const char *token_path)
{
  const char *b = call->arm->cfg.public_url;
  char auth_ep[512], token_ep[512], jwks[512], devcode[512];
  snprintf(auth_ep, sizeof auth_ep, "%s/%s/oauth2/%sauthorize", b, prefix, strcmp(prefix, "adfs") ? "v2.0/" : "");
  snprintf(token_ep, sizeof token_ep, "%s/%s/%s", b, prefix, token_path);
  snprintf(jwks, sizeof jwks, "%s/%s/discovery/%skeys", b, prefix, strcmp(prefix, "adfs") ? "v2.0/" : "");
  snprintf(devcode, sizeof devcode, "%s/%s/oauth2/devicecode", b, prefix);
  arm_reply_json(call, 200,
                 json_pack("{s:s,s:s,s:s,s:s,s:s,s:[s],s:[s],s:[s],s:[s]}", "issuer", issuer,
                           "authorization_endpoint", auth_ep, "token_endpoint", token_ep, "jwks_uri", jwks,
                           "device_authorization_endpoint", devcode, "response_types_supported", "token",
                           "grant_types_supported", "client_credentials", "id_token_signing_alg_values_supported",
                           "RS256", "token_endpoint_auth_methods_supported", "client_secret_post"));
}

void arm_identity_openid(struct arm_call *call)
{
  reply_openid(call, call->arm->issuer, "adfs", "oauth2/token");
}

static bool tenant_ok(struct arm_call *call, const char *tenant)
{
  if (strcasecmp(tenant, call->arm->cfg.tenant_id) == 0 || strcasecmp(tenant, "adfs") == 0 ||
      strcasecmp(tenant, "organizations") == 0 || strcasecmp(tenant, "common") == 0)
    return true;
  arm_reply_json(call, 400,
                 json_pack("{s:s,s:s}", "error", "invalid_tenant", "error_description",
                           "AADSTS90002: Tenant not found. This service serves one tenant; use its tenant id."));
  return false;
}

void arm_identity_openid_v2(struct arm_call *call)
{
  if (!tenant_ok(call, call->params[0]))
    return;
  char issuer[512];
  snprintf(issuer, sizeof issuer, "%s/%s/v2.0", call->arm->cfg.public_url, call->arm->cfg.tenant_id);
  char prefix[128];
  snprintf(prefix, sizeof prefix, "%s", call->arm->cfg.tenant_id);
  reply_openid(call, issuer, prefix, "oauth2/v2.0/token");
}

/* The az CLI resolves a non-GUID --tenant through this document and takes
 * the tenant id from the 4th '/'-separated piece of "issuer". */
void arm_identity_openid_tenant(struct arm_call *call)
{
  if (!tenant_ok(call, call->params[0]))
    return;
  char issuer[512];
  snprintf(issuer, sizeof issuer, "%s/%s/", call->arm->cfg.public_url, call->arm->cfg.tenant_id);
  char prefix[128];
  snprintf(prefix, sizeof prefix, "%s", call->arm->cfg.tenant_id);
  reply_openid(call, issuer, prefix, "oauth2/token");
}

void arm_identity_jwks(struct arm_call *call)
{
  char *doc = auth_jwks_json(call->arm->auth);
  if (!doc) {
    arm_reply_internal(call, -12);
    return;
  }
  http_response_body(call->resp, 200, "application/json; charset=utf-8", doc, strlen(doc));
}

static void token_error(struct arm_call *call, int status, const char *error, const char *desc)
{
  arm_reply_json(call, status, json_pack("{s:s,s:s}", "error", error, "error_description", desc));
}

/* "https://h:p//.default https://x/.default offline_access" → the first
 * resource with /.default, trailing slashes trimmed by the audience check. */
static char *scope_resource(const char *scope)
{
  CLEANUP_FREE char *copy = strdup(scope);
  char *save = NULL;
  for (char *s = copy ? strtok_r(copy, " ", &save) : NULL; s; s = strtok_r(NULL, " ", &save)) {
    size_t n = strlen(s);
    if (n > 9 && strcmp(s + n - 9, "/.default") == 0) {
      s[n - 9] = '\0';
      return strdup(s);
    }
  }
  return NULL;
}

void arm_identity_token(struct arm_call *call)
{
  if (call->nparams > 0 && !tenant_ok(call, call->params[0]))
    return;
  const char *body = call->req->body;
  CLEANUP_FREE char *grant = form_get(body, "grant_type");
  CLEANUP_FREE char *client_id = form_get(body, "client_id");
  CLEANUP_FREE char *secret = form_get(body, "client_secret");
  CLEANUP_FREE char *scope = form_get(body, "scope");
  CLEANUP_FREE char *resource = form_get(body, "resource");
  if (!grant || strcmp(grant, "client_credentials") != 0) {
    token_error(call, 400, "unsupported_grant_type",
                "AADSTS70003: The grant type is not supported. vmrp issues tokens for client_credentials only.");
    return;
  }
  if (!client_id || !secret) {
    token_error(call, 400, "invalid_request", "AADSTS900144: The request body must contain client_id and client_secret.");
    return;
  }
  CLEANUP_FREE char *aud = resource ? strdup(resource) : scope ? scope_resource(scope) : NULL;
  if (!aud || !auth_audience_ok(call->arm->auth, aud)) {
    token_error(call, 400, "invalid_scope",
                "AADSTS70011: The provided scope is not valid. Ask for '<resource>/.default' where resource is "
                "this service's ARM endpoint or https://management.azure.com/.");
    return;
  }
  int64_t now = time_mono_ms();
  int wait = throttle_wait_s(&fails_by_address, call->req->client_net, now);
  int wait_client = throttle_wait_s(&fails_by_client, client_id, now);
  if (wait || wait_client) {
    wait = wait > wait_client ? wait : wait_client;
    log_info("arm", "token request for client %s from %s throttled for %d s after failed attempts", client_id,
             call->req->client_addr, wait);
    http_response_header(call->resp, "Retry-After", "%d", wait);
    char desc[256];
    snprintf(desc, sizeof desc,
             "AADSTS50053: Too many failed sign-in attempts from this address or for this client. "
             "Try again in %d seconds.", wait);
    token_error(call, 429, "temporarily_unavailable", desc);
    return;
  }
  struct meta_principal p;
  int r = meta_principal_get(call->arm->meta, client_id, &p);
  bool ok;
  if (r == 0) {
    ok = auth_secret_matches(secret, p.salt, p.hash);
  } else {
    /* Same work for unknown clients, so timing does not reveal which ids exist. */
    static const unsigned char zero[32];
    auth_secret_matches(secret, zero, zero);
    ok = false;
  }
  if (!ok) {
    throttle_fail(&fails_by_address, call->req->client_net, now);
    throttle_fail(&fails_by_client, client_id, now);
    log_info("arm", "token refused for client %s from %s", client_id, call->req->client_addr);
    if (r == 0)
      meta_principal_clear(&p);
    token_error(call, 401, "invalid_client",
                "AADSTS7000215: Invalid client secret provided, or the application was not found.");
    return;
  }
  char *token = NULL;
  int expires_in = 0;
  /* aud is normalised to "<resource>/" so it compares equal however asked. */
  size_t n = strlen(aud);
  while (n && aud[n - 1] == '/')
    aud[--n] = '\0';
  char aud_norm[1024];
  snprintf(aud_norm, sizeof aud_norm, "%s/", aud);
  r = auth_issue_token(call->arm->auth, p.object_id, p.client_id, aud_norm, &token, &expires_in);
  meta_principal_clear(&p);
  if (r < 0) {
    arm_reply_internal(call, r);
    return;
  }
  arm_reply_json(call, 200,
                 json_pack("{s:s,s:i,s:i,s:s}", "token_type", "Bearer", "expires_in", expires_in, "ext_expires_in",
                           expires_in, "access_token", token));
  free(token);
}
