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
 *   POST captures        {vmId, properties}: a restore point of a VM here
 *                        for the peer's cross-region creation, by the local
 *                        path (fence, capture), in this region's collection
 *                        vmrp-xr-<peer>-<vm>; the answer is arm_rp_put's
 *   POST release?id=     such a restore point was copied: it goes (its
 *                        trees stay the disks' capture bases)
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
#include "common/random.h"
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

/* The collection a peer's captures of vm go to: this region's
 * XR_PREFIX<peer>-<vm name>, in the VM's group, made on first use. */
static int staging_collection(struct arm *arm, const struct meta_resource *vm, const char *peer, char *id,
                              size_t cap, char *name, size_t ncap)
{
  snprintf(name, ncap, XR_PREFIX "%s-%.*s", peer, (int)(ncap - sizeof XR_PREFIX - strlen(peer) - 2), vm->name);
  const char *prov = strstr(vm->id, "/providers/");
  if (!prov)
    return -EINVAL;
  snprintf(id, cap, "%.*s/providers/Microsoft.Compute/restorePointCollections/%s", (int)(prov - vm->id), vm->id,
           name);
  struct meta_resource r;
  if (meta_resource_get(arm->meta, id, &r) == 0) {
    meta_resource_clear(&r);
    return 0;
  }
  char guid[UUID_STR_LEN];
  random_uuid(guid);
  json_t *p = json_pack("{s:{s:s,s:s},s:s}", "source", "id", vm->id, "location", arm->cfg.locations[0].name,
                        "restorePointCollectionId", guid);
  struct meta_resource n = {.id = strdup(id), .type = strdup(RPC_TYPE), .name = strdup(name),
                            .parent_id = strndup(vm->id, (size_t)(prov - vm->id)),
                            .location = strdup(arm->cfg.locations[0].name),
                            .tags = strdup("{\"vmrpCrossRegionTarget\":\"true\"}"),
                            .properties = json_dumps(p, JSON_COMPACT), .provisioning_state = strdup("Succeeded")};
  json_decref(p);
  int rc = meta_resource_put(arm->meta, &n, NULL, 0, NULL);
  meta_resource_clear(&n);
  return rc;
}

/* POST captures {vmId, properties}: a restore point of a VM of this region
 * for a peer's cross-region creation, made by the local restore point path
 * (arm_rp_put) in the staging collection; its answer is the peer's. */
static void serve_capture(struct arm_call *call, const char *peer)
{
  struct arm *arm = call->arm;
  json_t *b = call->req->body ? json_loadb(call->req->body, call->req->body_len, 0, NULL) : NULL;
  const char *vm_id = json_string_value(json_object_get(b, "vmId"));
  json_t *props = json_object_get(b, "properties");
  struct meta_resource vm = {0};
  char id[1024], name[81], sub[64], rg[128], rp[81], hex[9];
  if (!vm_id || sscanf(vm_id, "/subscriptions/%63[^/]/resourceGroups/%127[^/]/", sub, rg) != 2 ||
      meta_resource_get(arm->meta, vm_id, &vm) < 0 || strcasecmp(vm.type, VM_TYPE) != 0) {
    arm_reply_error(call, 404, "NotFound", "The virtual machine '%s' is not in region %s.", vm_id ? vm_id : "",
                    arm->cfg.locations[0].name);
    goto out;
  }
  int rc = staging_collection(arm, &vm, peer, id, sizeof id, name, sizeof name);
  if (rc < 0) {
    arm_reply_internal(call, rc);
    goto out;
  }
  uint8_t r[4];
  random_bytes(r, sizeof r);
  snprintf(hex, sizeof hex, "%02x%02x%02x%02x", r[0], r[1], r[2], r[3]);
  snprintf(rp, sizeof rp, "xr-%s", hex);
  struct arm_call local = {.arm = arm, .req = call->req, .resp = call->resp, .params = {sub, rg, name, rp},
                           .nparams = 4, .api_version = "2024-07-01", .as_region = true,
                           .body = json_pack("{s:O}", "properties", json_is_object(props) ? props : json_object())};
  arm_rp_put(&local);
  json_decref(local.body);
out:
  meta_resource_clear(&vm);
  json_decref(b);
}

/* POST release?id=: the peer copied a capture: its restore point goes (the
 * capture stays the disks' base for the next incremental). */
static void serve_release(struct arm_call *call)
{
  const char *id = http_query(call->req, "id");
  if (!id || !strstr(id, "/restorePointCollections/" XR_PREFIX)) {
    arm_reply_error(call, 400, "InvalidParameter", "Only a capture made for a peer can be released.");
    return;
  }
  int rc = arm_rp_delete_now(call->arm, id);
  if (rc < 0)
    arm_reply_internal(call, rc);
  else
    arm_reply_empty(call, 204);
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
  else if (!strcmp(op, "captures") && !strcmp(call->req->method, "POST"))
    serve_capture(call, loc->name);
  else if (!strcmp(op, "release") && !strcmp(call->req->method, "POST"))
    serve_release(call);
  else
    arm_reply_error(call, 404, "NotFound", "The peer request '%s %s' is not known.", call->req->method,
                    call->req->path);
}

/* ---- client side ------------------------------------------------------------ */

int arm_peer_resource(struct arm *arm, const struct arm_location *loc, const char *id, long *status, json_t **doc)
{
  char *enc = url_encode(id), path[4096], *reply = NULL;
  if (!enc)
    return -ENOMEM;
  snprintf(path, sizeof path, REPL_PATH "resource?id=%s", enc);
  free(enc);
  struct repl_peer p = arm_peer(arm, loc);
  size_t len = 0;
  *doc = NULL;
  int rc = repl_call(&p, "GET", path, NULL, 0, status, &reply, &len);
  if (rc == 0 && *status == 200 && !(*doc = json_loadb(reply, len, 0, NULL)))
    *status = 502; /* not the peer protocol's answer */
  if (rc == 0 && *status == 401)
    log_error("arm", "region %s refused this region's peer credential", loc->name);
  free(reply);
  return rc;
}

int arm_peer_lookup(struct arm *arm, const char *id, const struct arm_location **where, json_t **doc)
{
  int rc = -ENOENT;
  for (int i = 1; i < arm->cfg.nlocations; i++) {
    const struct arm_location *loc = &arm->cfg.locations[i];
    long status = 0;
    int r = arm_peer_resource(arm, loc, id, &status, doc);
    if (r == 0 && status == 200) {
      *where = loc;
      return 0;
    }
    if (r < 0 || status != 404) {
      *where = loc; /* the region that could not say */
      rc = -EHOSTUNREACH;
    }
  }
  return rc;
}
