/*
 * peer.c — the peer protocol's front end on the ARM listener (repl.h), and
 * this region's view of its peers.
 *
 * Server side, under /vmrp/peer/v1/, for peers only (never an ARM token):
 *   POST objects         the records holding the addresses in the body,
 *                        streamed from the store as stored (repl/objects.c)
 *   GET  resource?id=    a resource of this region as the copy needs it:
 *                        {id, type, name, location, provisioningState,
 *                        properties} and, for a restore point, its disk
 *                        restore points with their trees
 *                        (diskRestorePoints[].vmrpTree {root, size, state})
 * A request must name a configured peer (x-vmrp-peer) and carry that peer's
 * credential; anything else is 401 with nothing read.
 *
 * Client side: arm_peer_lookup asks every peer for a resource (the source of
 * a copy), so a collection or restore point in another region is found
 * without the caller naming where it is.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"
#include "common/log.h"
#include "common/urlcode.h"

const struct arm_location *arm_peer_named(struct arm *arm, const char *name)
{
  for (int i = 1; name && i < arm->cfg.nlocations; i++)
    if (!strcasecmp(arm->cfg.locations[i].name, name))
      return &arm->cfg.locations[i];
  return NULL;
}

struct repl_peer arm_peer(struct arm *arm, const struct arm_location *loc)
{
  return (struct repl_peer){.self = arm->cfg.locations[0].name, .name = loc->name, .endpoint = loc->endpoint,
                            .credential = loc->credential, .ca_file = arm->cfg.peer_ca};
}

/* ---- server side ---------------------------------------------------------- */

static json_t *loads(const char *s) { return json_loads(s ? s : "{}", 0, NULL); }

static int add_drp(void *ctx, const struct meta_resource *r)
{
  struct arm_call *call = ctx;
  json_t *list = json_object_get(call->body, "diskRestorePoints");
  json_t *d = json_pack("{s:s,s:s,s:o}", "id", r->id, "name", r->name, "properties", loads(r->properties));
  struct meta_image im;
  if (meta_image_get(call->arm->meta, r->id, &im) == 0) {
    json_object_set_new(d, "vmrpTree", json_pack("{s:s,s:I,s:s}", "root", im.root, "size", (json_int_t)im.size,
                                                 "state", meta_image_state_to_string(im.state)));
    meta_image_clear(&im);
  }
  json_array_append_new(list, d);
  return 0;
}

static void serve_resource(struct arm_call *call)
{
  const char *id = http_query(call->req, "id");
  struct meta_resource r;
  if (!id || meta_resource_get(call->arm->meta, id, &r) < 0) {
    arm_reply_error(call, 404, "ResourceNotFound", "The resource '%s' is not in region %s.", id ? id : "",
                    call->arm->cfg.locations[0].name);
    return;
  }
  json_t *doc = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "id", r.id, "type", r.type, "name", r.name, "location",
                          call->arm->cfg.locations[0].name, "provisioningState",
                          r.provisioning_state ? r.provisioning_state : "", "properties", loads(r.properties));
  if (!strcasecmp(r.type, RP_TYPE)) {
    json_object_set_new(doc, "diskRestorePoints", json_array());
    call->body = doc; /* add_drp's list */
    meta_resource_list(call->arm->meta, r.id, DRP_TYPE, NULL, 0, add_drp, call);
    call->body = NULL;
  }
  meta_resource_clear(&r);
  arm_reply_json(call, 200, doc);
}

static void serve_objects(struct arm_call *call)
{
  struct repl_export *x = NULL;
  int rc = region_export_open(call->arm->region, call->req->body, call->req->body_len, &x);
  if (rc == -EINVAL) {
    arm_reply_error(call, 400, "InvalidRequestContent", "The body must hold 1 to %d 32-byte object addresses.",
                    REPL_MAX_BATCH);
    return;
  }
  if (rc < 0) {
    arm_reply_internal(call, rc);
    return;
  }
  http_response_stream(call->resp, 200, "application/octet-stream", HTTP_SIZE_UNKNOWN, repl_export_read, x,
                       repl_export_close);
}

void arm_peer_handle(struct arm_call *call)
{
  const char *who = http_header(call->req, REPL_HEADER_PEER);
  const struct arm_location *loc = arm_peer_named(call->arm, who);
  if (!loc || !repl_credential_ok(http_header(call->req, "Authorization"), loc->credential)) {
    log_warn("arm", "peer request %s %s refused: %s", call->req->method, call->req->path,
             loc ? "wrong credential" : "not from a configured peer region");
    arm_reply_error(call, 401, "AuthenticationFailed", "Region-to-region requests need a peer's credential.");
    return;
  }
  const char *op = call->req->path + strlen(REPL_PATH);
  if (!strcmp(op, "objects") && !strcmp(call->req->method, "POST"))
    serve_objects(call);
  else if (!strcmp(op, "resource") && !strcmp(call->req->method, "GET"))
    serve_resource(call);
  else
    arm_reply_error(call, 404, "NotFound", "The peer request '%s %s' is not known.", call->req->method,
                    call->req->path);
}

/* ---- client side ------------------------------------------------------------ */

int arm_peer_lookup(struct arm *arm, const char *id, const struct arm_location **where, json_t **doc)
{
  char *enc = url_encode(id), path[4096];
  if (!enc)
    return -ENOMEM;
  snprintf(path, sizeof path, REPL_PATH "resource?id=%s", enc);
  free(enc);
  int rc = -ENOENT;
  for (int i = 1; i < arm->cfg.nlocations; i++) {
    const struct arm_location *loc = &arm->cfg.locations[i];
    struct repl_peer p = arm_peer(arm, loc);
    long status = 0;
    char *reply = NULL;
    size_t len = 0;
    int r = repl_call(&p, "GET", path, NULL, 0, &status, &reply, &len);
    if (r == 0 && status == 200 && (*doc = json_loadb(reply, len, 0, NULL))) {
      *where = loc;
      free(reply);
      return 0;
    }
    if (r == 0 && status == 401)
      log_error("arm", "region %s refused this region's peer credential", loc->name);
    if (r < 0 || (status != 404 && status != 200)) {
      *where = loc; /* the region that could not say */
      rc = -EHOSTUNREACH;
    }
    free(reply);
  }
  return rc;
}
