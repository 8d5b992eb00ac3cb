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
 *                        (diskRestorePoints[].vmrpTree {root, size, state,
 *                        domain: the key domain of the store holding it})
 *   POST captures        {vmId, properties}: a restore point of a VM here
 *                        for the peer's cross-region creation, by the local
 *                        path (fence, capture), in this region's collection
 *                        vmrp-xr-<peer>-<vm>; the answer is arm_rp_put's
 *   POST release?id=     such a restore point was copied: it goes (its
 *                        trees stay the disks' capture bases)
 * A request must name a configured peer (x-vmrp-peer) and carry a valid
 * signature of that peer (repl.h: fresh, never seen, the MAC right);
 * anything else is 401 with nothing read.  The same check admits the ARM
 * calls a peer forwards (router.c), which then run as the caller the peer
 * asserts.  resource and captures made for a caller check that caller's
 * role here (the rule of the URL's subscription, applied to the resource
 * served); a peer calling for itself (a copy job) asserts no caller.
 *
 * The collections a peer's captures go to are marked in their row (extra:
 * vmrpStagingFor, the peer, and vmrpCaptures, the names of the restore
 * points made for it), which no ARM request can set: release deletes only
 * a restore point listed there for the asking peer, never one of a user's
 * (a user may name a collection vmrp-xr-…: it is simply not a staging
 * collection, and a capture refuses to use it).
 *
 * Client side: arm_peer_lookup asks every peer for a resource (the source of
 * a copy), so a collection or restore point in another region is found
 * without the caller naming where it is; what a peer answers is checked
 * (peer_doc.c) before anything here reads it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"
#include "common/log.h"
#include "common/random.h"
#include "common/timefmt.h"
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

struct repl_caller arm_peer_caller(const struct auth_identity *who)
{
  struct repl_caller c = {0};
  if (who) {
    snprintf(c.oid, sizeof c.oid, "%s", who->oid);
    snprintf(c.appid, sizeof c.appid, "%s", who->appid);
    snprintf(c.tid, sizeof c.tid, "%s", who->tid);
  }
  return c;
}

struct query_state {
  char *q;
  size_t len;
  bool oom;
};

static void add_query(void *ctx, const char *name, const char *value)
{
  struct query_state *st = ctx;
  char *n = url_encode(name), *v = url_encode(value ? value : "");
  size_t need = st->len + (n ? strlen(n) : 0) + (v ? strlen(v) : 0) + 3;
  char *q = n && v ? realloc(st->q, need) : NULL;
  if (!q) {
    st->oom = true;
  } else {
    st->len += (size_t)sprintf(q + st->len, "%s%s=%s", st->len ? "&" : "", n, v);
    st->q = q;
  }
  free(n);
  free(v);
}

char *arm_canonical_query(const struct http_request *req)
{
  struct query_state q = {0};
  http_query_each(req, add_query, &q);
  if (q.oom || (!q.q && !(q.q = strdup("")))) {
    free(q.q);
    return NULL;
  }
  return q.q;
}

int arm_peer_verify(struct arm_call *call, const struct arm_location **from)
{
  const struct http_request *req = call->req;
  const char *name = http_header(req, REPL_HEADER_PEER);
  const struct arm_location *loc = arm_peer_named(call->arm, name);
  const char *path = req->raw_path ? req->raw_path : req->path;
  char *query = arm_canonical_query(req), *target = NULL;
  int rc = !loc ? -ENOENT : !query || asprintf(&target, "%s%s%s", path, *query ? "?" : "", query) < 0 ? -ENOMEM : 0;
  if (rc == 0) {
    struct repl_signed_request r = {.from = loc->name, .to = call->arm->cfg.locations[0].name, .method = req->method,
                                    .target = target, .authorization = http_header(req, "Authorization"),
                                    .caller = http_header(req, REPL_HEADER_CALLER), .body = req->body,
                                    .body_len = req->body ? req->body_len : 0};
    struct repl_caller who;
    rc = repl_verify(call->arm->peer_guard, loc->credential, &r, time_now_us() / 1000, &who);
    if (rc == 0) {
      memset(&call->who, 0, sizeof call->who);
      snprintf(call->who.oid, sizeof call->who.oid, "%s", who.oid);
      snprintf(call->who.appid, sizeof call->who.appid, "%s", who.appid);
      snprintf(call->who.tid, sizeof call->who.tid, "%s", who.tid);
      *from = loc;
    }
  }
  if (rc < 0)
    log_warn("arm", "peer request %s %s refused: %s", req->method, req->path,
             rc == -ENOENT ? "not from a configured peer region" : repl_verify_error(rc));
  free(query);
  free(target);
  return rc;
}

/* ---- server side ---------------------------------------------------------- */

/* Whether the caller a peer asserts may use resource id (a write role on
 * its subscription, as for reading a disk's bytes here); a region calling
 * for itself may.  false: replied (404 when the caller cannot even read
 * the subscription, so its resources' existence does not leak; else 403). */
static bool caller_may_use(struct arm_call *call, const char *id)
{
  if (!call->who.oid[0])
    return true;
  char sub[64];
  bool readable = sscanf(id, "/subscriptions/%63[^/]", sub) == 1 &&
                  arm_role_allows(call->arm, &call->who, sub, ARM_NEED_READ);
  if (readable && arm_role_allows(call->arm, &call->who, sub, ARM_NEED_WRITE))
    return true;
  if (readable)
    arm_reply_error(call, 403, "AuthorizationFailed",
                    "The client '%s' with object id '%s' does not have authorization to use '%s'.", call->who.appid,
                    call->who.oid, id);
  else
    arm_reply_error(call, 404, "ResourceNotFound", "The resource '%s' is not in region %s.", id,
                    call->arm->cfg.locations[0].name);
  return false;
}

static json_t *loads(const char *s) { return json_loads(s ? s : "{}", 0, NULL); }

static int add_drp(void *ctx, const struct meta_resource *r)
{
  struct arm_call *call = ctx;
  json_t *list = json_object_get(call->body, "diskRestorePoints");
  json_t *d = json_pack("{s:s,s:s,s:o}", "id", r->id, "name", r->name, "properties", loads(r->properties));
  struct meta_image im;
  if (meta_image_get(call->arm->meta, r->id, &im) == 0) {
    json_object_set_new(d, "vmrpTree", json_pack("{s:s,s:I,s:s,s:s}", "root", im.root, "size", (json_int_t)im.size,
                                                 "state", meta_image_state_to_string(im.state), "domain", im.domain));
    meta_image_clear(&im);
  }
  json_array_append_new(list, d);
  return 0;
}

static void serve_resource(struct arm_call *call)
{
  const char *id = http_query(call->req, "id");
  struct meta_resource r;
  if (id && !caller_may_use(call, id))
    return;
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
  const char *domain = http_query(call->req, "domain");
  int rc = region_export_open(call->arm->region, domain, call->req->body, call->req->body_len, &x);
  if (rc == -EINVAL) {
    arm_reply_error(call, 400, "InvalidRequestContent",
                    "The body must hold 1 to %d 32-byte object addresses, the domain 32 hex digits.", REPL_MAX_BATCH);
    return;
  }
  if (rc == -ENOENT) {
    arm_reply_error(call, 404, "NotFound", "This region has no store of that key domain.");
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
 * XR_PREFIX<peer>-<vm name>, in the VM's group, made on first use and
 * marked as the peer's.  -EEXIST: a collection of that name that is not
 * the peer's (a user's) holds the place. */
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
    json_t *extra = loads(r.extra);
    const char *for_peer = json_string_value(json_object_get(extra, "vmrpStagingFor"));
    int rc = strcasecmp(r.type, RPC_TYPE) == 0 && for_peer && !strcasecmp(for_peer, peer) ? 0 : -EEXIST;
    json_decref(extra);
    meta_resource_clear(&r);
    return rc;
  }
  char guid[UUID_STR_LEN];
  random_uuid(guid);
  json_t *p = json_pack("{s:{s:s,s:s},s:s}", "source", "id", vm->id, "location", arm->cfg.locations[0].name,
                        "restorePointCollectionId", guid);
  json_t *extra = json_pack("{s:s,s:[]}", "vmrpStagingFor", peer, "vmrpCaptures");
  struct meta_resource n = {.id = strdup(id), .type = strdup(RPC_TYPE), .name = strdup(name),
                            .parent_id = strndup(vm->id, (size_t)(prov - vm->id)),
                            .location = strdup(arm->cfg.locations[0].name),
                            .tags = strdup("{\"vmrpCrossRegionTarget\":\"true\"}"),
                            .properties = json_dumps(p, JSON_COMPACT), .extra = json_dumps(extra, JSON_COMPACT),
                            .provisioning_state = strdup("Succeeded")};
  json_decref(p);
  json_decref(extra);
  int rc = meta_resource_put(arm->meta, &n, NULL, 0, NULL);
  meta_resource_clear(&n);
  return rc;
}

/* Adds (add) or removes restore point rp in the captures the staging
 * collection coll_id lists for peer, in one transaction.  -ENOENT: coll_id
 * is not peer's staging collection, or (removing) rp is not listed. */
static int staging_list(struct arm *arm, const char *coll_id, const char *peer, const char *rp, bool add)
{
  struct meta_resource c = {0};
  json_t *extra = NULL;
  int rc = meta_begin(arm->meta);
  if (rc < 0)
    return rc;
  rc = meta_resource_get(arm->meta, coll_id, &c);
  if (rc == 0) {
    extra = loads(c.extra);
    const char *for_peer = json_string_value(json_object_get(extra, "vmrpStagingFor"));
    json_t *list = json_object_get(extra, "vmrpCaptures");
    bool ours = !strcasecmp(c.type, RPC_TYPE) && for_peer && !strcasecmp(for_peer, peer) && json_is_array(list);
    rc = ours && add ? 0 : -ENOENT;
    size_t i;
    json_t *v;
    json_array_foreach(ours && !add ? list : NULL, i, v) {
      if (json_is_string(v) && !strcasecmp(json_string_value(v), rp)) {
        json_array_remove(list, i);
        rc = 0;
        break;
      }
    }
    if (rc == 0 && add)
      rc = json_array_append_new(list, json_string(rp)) == 0 ? 0 : -ENOMEM;
  }
  if (rc == 0) {
    free(c.extra);
    c.extra = json_dumps(extra, JSON_COMPACT);
    rc = c.extra ? meta_resource_put(arm->meta, &c, NULL, 0, NULL) : -ENOMEM;
  }
  if (rc == 0)
    rc = meta_commit(arm->meta);
  else
    meta_rollback(arm->meta);
  json_decref(extra);
  meta_resource_clear(&c);
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
  if (!call->who.oid[0]) { /* only a caller's request makes a capture: it fences a VM */
    arm_reply_error(call, 403, "AuthorizationFailed", "A capture is made for a caller; the request names none.");
    goto out;
  }
  if (vm_id && !caller_may_use(call, vm_id))
    goto out;
  if (!vm_id || sscanf(vm_id, "/subscriptions/%63[^/]/resourceGroups/%127[^/]/", sub, rg) != 2 ||
      meta_resource_get(arm->meta, vm_id, &vm) < 0 || strcasecmp(vm.type, VM_TYPE) != 0) {
    arm_reply_error(call, 404, "NotFound", "The virtual machine '%s' is not in region %s.", vm_id ? vm_id : "",
                    arm->cfg.locations[0].name);
    goto out;
  }
  int rc = staging_collection(arm, &vm, peer, id, sizeof id, name, sizeof name);
  if (rc == -EEXIST) {
    arm_reply_error(call, 409, "OperationNotAllowed",
                    "Restore point collection '%s' in region %s, where the captures of virtual machine '%s' for "
                    "region %s go, was not made for them; rename or delete it.",
                    name, arm->cfg.locations[0].name, vm.name, peer);
    goto out;
  }
  if (rc < 0) {
    arm_reply_internal(call, rc);
    goto out;
  }
  uint8_t r[4];
  random_bytes(r, sizeof r);
  snprintf(hex, sizeof hex, "%02x%02x%02x%02x", r[0], r[1], r[2], r[3]);
  snprintf(rp, sizeof rp, "xr-%s", hex);
  struct arm_call local = {.arm = arm, .req = call->req, .resp = call->resp, .params = {sub, rg, name, rp},
                           .nparams = 4, .api_version = "2024-07-01", .who = call->who,
                           .body = json_pack("{s:o}", "properties",
                                             json_is_object(props) ? json_incref(props) : json_object())};
  arm_rp_put(&local);
  json_decref(local.body);
  if (call->resp->status == 201 && (rc = staging_list(arm, id, peer, rp, true)) < 0)
    log_warn("arm", "capture %s/restorePoints/%s for region %s is not recorded as the peer's (%s): it cannot be "
             "released; delete it here", id, rp, peer, strerror(-rc));
out:
  meta_resource_clear(&vm);
  json_decref(b);
}

/* POST release?id=: the peer copied a capture made for it: its restore
 * point goes (the capture stays the disks' base for the next incremental).
 * Anything else — another peer's capture, a user's restore point, whatever
 * its collection's name — is 404 with nothing deleted. */
static void serve_release(struct arm_call *call, const char *peer)
{
  const char *id = http_query(call->req, "id");
  const char *sep = id ? strcasestr(id, "/restorePoints/") : NULL;
  char coll[1024];
  if (!sep || strchr(sep + 15, '/') || !sep[15] || (size_t)(sep - id) >= sizeof coll) {
    arm_reply_error(call, 400, "InvalidParameter", "Only a capture made for a peer can be released.");
    return;
  }
  snprintf(coll, sizeof coll, "%.*s", (int)(sep - id), id);
  /* listed for this peer (checked, not changed yet: the list keeps it until it is gone) */
  struct meta_resource c = {0};
  json_t *extra = NULL;
  bool listed = false;
  if (meta_resource_get(call->arm->meta, coll, &c) == 0 && !strcasecmp(c.type, RPC_TYPE)) {
    extra = loads(c.extra);
    const char *for_peer = json_string_value(json_object_get(extra, "vmrpStagingFor"));
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(extra, "vmrpCaptures"), i, v)
      listed |= for_peer && !strcasecmp(for_peer, peer) && json_is_string(v) &&
                !strcasecmp(json_string_value(v), sep + 15);
  }
  json_decref(extra);
  meta_resource_clear(&c);
  if (!listed) {
    log_warn("arm", "region %s asked to release %s, which is not a capture made for it: refused", peer, id);
    arm_reply_error(call, 404, "NotFound", "'%s' is not a capture this region made for region %s.", id, peer);
    return;
  }
  int rc = arm_rp_delete_now(call->arm, id);
  if (rc == 0)
    rc = staging_list(call->arm, coll, peer, sep + 15, false);
  if (rc < 0 && rc != -ENOENT)
    arm_reply_internal(call, rc);
  else
    arm_reply_empty(call, 204);
}

void arm_peer_handle(struct arm_call *call)
{
  const struct arm_location *loc = NULL;
  if (arm_peer_verify(call, &loc) < 0) {
    arm_reply_error(call, 401, "AuthenticationFailed", "Region-to-region requests need a peer's valid signature.");
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
    serve_release(call, loc->name);
  else
    arm_reply_error(call, 404, "NotFound", "The peer request '%s %s' is not known.", call->req->method,
                    call->req->path);
}

/* ---- client side ------------------------------------------------------------ */

int arm_peer_resource(struct arm *arm, const struct auth_identity *who, const struct arm_location *loc,
                      const char *id, long *status, json_t **doc, char *why)
{
  char *enc = url_encode(id), path[4096], *reply = NULL, field[256];
  if (!enc)
    return -ENOMEM;
  snprintf(path, sizeof path, REPL_PATH "resource?id=%s", enc);
  free(enc);
  struct repl_peer p = arm_peer(arm, loc);
  struct repl_caller caller = arm_peer_caller(who);
  size_t len = 0;
  *doc = NULL;
  int rc = repl_call(&p, &caller, "GET", path, NULL, 0, status, &reply, &len);
  if (rc == 0 && *status == 200) {
    *doc = json_loadb(reply, len, 0, NULL);
    if (!*doc)
      snprintf(field, sizeof field, "the answer is not JSON");
    if (!*doc || arm_peer_doc_check(*doc, id, field, sizeof field) < 0) {
      log_error("arm", "region %s answered the lookup of %s with an invalid document: %s", loc->name, id, field);
      if (why)
        snprintf(why, ARM_PEER_WHY, "Region '%s' sent an invalid document for '%s': %s.", loc->name, id, field);
      json_decref(*doc);
      *doc = NULL;
      rc = -EPROTO;
    }
  }
  if (rc == 0 && *status == 401)
    log_error("arm", "region %s refused this region's peer signature", loc->name);
  free(reply);
  return rc;
}

int arm_peer_lookup(struct arm *arm, const struct auth_identity *who, const char *id,
                    const struct arm_location **where, json_t **doc, char *why)
{
  int rc = -ENOENT;
  for (int i = 1; i < arm->cfg.nlocations; i++) {
    const struct arm_location *loc = &arm->cfg.locations[i];
    long status = 0;
    int r = arm_peer_resource(arm, who, loc, id, &status, doc, why);
    if (r == 0 && status == 200) {
      *where = loc;
      return 0;
    }
    if (r == -EPROTO) { /* the others may still have it; if none does, this is the answer */
      *where = loc;
      rc = r;
    } else if (rc != -EPROTO && (r < 0 || status != 404)) {
      *where = loc; /* the region that could not say */
      rc = -EHOSTUNREACH;
    }
  }
  return rc;
}
