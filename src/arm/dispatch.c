/*
 * dispatch.c — a request made inside the process, as a given caller: how
 * the deployment engine creates, reads and deletes each resource of a
 * template through the same handler a client's REST call reaches.
 *
 * A synthetic struct http_request (no connection; its own headers and
 * query) is routed from after authentication (router.c,
 * arm_route_authenticated): route match, api-version, subscription and
 * role of the caller, body parse, the caller's role on every id the body
 * names, forwarding to the region a resource lives in, the handler.  So a
 * template's restore point is a REST restore point: one code path, one set
 * of checks.  The answer comes back parsed, with the headers that steer a
 * long-running operation.
 *
 * The body goes in as JSON text (what forward.c sends on and parse_body
 * reads), never logged: it may hold a template's secure values.  For the
 * same reason the errors a dispatched call answers are not logged by
 * reply.c (the engine records them masked).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/random.h"

#define MAX_QUERY 8

void arm_dispatch_reply_clear(struct arm_dispatch_reply *r)
{
  json_decref(r->body);
  free(r->async_operation);
  free(r->location);
  memset(r, 0, sizeof *r);
}

/* Splits query ("a=b&c=d", in place) into pairs.  Paths and queries are
 * used as given, never percent-decoded: the engine builds them from ids and
 * from this region's own status URLs, which hold no escapes. */
static int split_query(char *buf, struct http_pair *pairs)
{
  int n = 0;
  char *save = NULL;
  for (char *p = strtok_r(buf, "&", &save); p && n < MAX_QUERY; p = strtok_r(NULL, "&", &save)) {
    char *eq = strchr(p, '=');
    if (eq)
      *eq++ = '\0';
    pairs[n].name = p;
    pairs[n++].value = eq ? eq : "";
  }
  return n;
}

static const char *response_header(const struct http_response *resp, const char *name)
{
  for (int i = 0; i < resp->nheaders; i++)
    if (!strcasecmp(resp->headers[i].name, name))
      return resp->headers[i].value;
  return NULL;
}

int arm_dispatch(struct arm *arm, const struct auth_identity *who, const char *method, const char *url,
                 json_t *body, const char *correlation_id, struct arm_dispatch_reply *out)
{
  memset(out, 0, sizeof *out);
  size_t base = strlen(arm->cfg.public_url);
  if (!strncasecmp(url, arm->cfg.public_url, base)) /* an absolute URL of this region (a status URL) */
    url += base;
  size_t plen = strcspn(url, "?");
  CLEANUP_FREE char *path = strndup(url, plen);
  CLEANUP_FREE char *query = strdup(url[plen] ? url + plen + 1 : "");
  CLEANUP_FREE char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  if (!path || !query || (body && !text))
    return -ENOMEM;
  struct http_pair qpairs[MAX_QUERY];
  struct http_pair headers[] = {
      {"Content-Type", "application/json"},
      {"x-ms-correlation-request-id", correlation_id ? correlation_id : ""},
  };
  struct http_request req = {
      .method = method,
      .path = path,
      .body = text,
      .body_len = text ? strlen(text) : 0,
      .tls = true,
      .headers = headers,
      .nheaders = correlation_id ? 2 : 1,
      .query = qpairs,
      .nquery = split_query(query, qpairs),
  };
  snprintf(req.client_addr, sizeof req.client_addr, "deployment");
  snprintf(req.client_net, sizeof req.client_net, "deployment");
  random_uuid(req.request_id);
  struct http_response resp = {.status = 500};
  struct arm_call call = {.arm = arm, .req = &req, .resp = &resp, .who = *who, .dispatched = true};
  call.api_version = http_query(&req, "api-version");
  arm_route_authenticated(&call);
  log_info("arm", "dispatched %s %s for %s (request %s) -> %d", method, path, who->oid, req.request_id, resp.status);
  out->status = resp.status;
  snprintf(out->request_id, sizeof out->request_id, "%s", req.request_id);
  if (resp.body && resp.body_len)
    out->body = json_loadb(resp.body, resp.body_len, 0, NULL);
  const char *aao = response_header(&resp, "Azure-AsyncOperation"), *loc = response_header(&resp, "Location");
  out->async_operation = aao ? strdup(aao) : NULL;
  out->location = loc ? strdup(loc) : NULL;
  http_response_release(&resp);
  return 0;
}
