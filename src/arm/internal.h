/*
 * internal.h — what the arm/ files share: the region context, the per-request
 * call, the reply helpers and the route handlers.  Not a public interface.
 */
#pragma once
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>

#include "arm/arm.h"
#include "deploy/deploy.h"
#include "region/region.h"

struct arm {
  struct arm_config cfg;
  struct region *region; /* the region below: volumes, captures, images, store */
  struct meta *meta;
  struct auth *auth;
  struct jobs *jobs;
  char *issuer;      /* {public_url}/adfs */
  struct repl_guard *peer_guard; /* the nonces of the peers' requests */
  struct deploy *deploy; /* the template deployment engine (deploy_host.c) */
  json_t *environment;   /* environment() of templates */
  struct notify *notify; /* protection policies' webhooks (notify/): notify_event never blocks */
  struct policy_sched *policy_sched; /* the protection policies' scheduler (policy_sched.c) */
};

/* API_ANY: any version some family accepts (operation status URLs). */
enum api_family {
  API_NONE, API_SUBSCRIPTIONS, API_RESOURCES, API_COMPUTE, API_DISKS, API_NETWORK, API_LOCKS, API_VMRP, API_ANY
};

struct arm_call;
typedef void (*arm_handler)(struct arm_call *call);

struct arm_call {
  struct arm *arm;
  const struct http_request *req;
  struct http_response *resp;
  const char *params[8];   /* the path's captured segments, in order */
  int nparams;
  const char *api_version;
  const char *type_name;   /* for error messages, e.g. "resourceGroups" */
  json_t *body;            /* parsed request body (PUT/PATCH/POST), or NULL */
  struct auth_identity who;
  bool dispatched;         /* made inside the process (dispatch.c): its errors are not logged here */
  /* set by the router for the handler's turn (locks.c: arm_locks_run) */
  arm_handler handler;     /* the route's */
  int lock_op;             /* what the scopes' locks refuse: enum arm_lock_op */
  char **segs;             /* the path's decoded segments, valid while the call is routed */
  int nsegs;
};

/* ---- router.c ---- */
/* Routes a call whose caller (call->who) is known: route match, then
 * api-version → subscription and role → body → the role on every id the
 * body names → forwarding or the handler, as for a client's request after
 * its authentication (arm_handle).  call->req->path is split as given. */
void arm_route_authenticated(struct arm_call *call);

/* Whether method on path at api_version would reach a handler (the route
 * and its api-version, nothing else): 0, or -EINVAL with *error the error
 * the router would answer (a new reference; NULL on ENOMEM). */
int arm_route_precheck(struct arm *arm, const char *method, const char *path, const char *api_version,
                       json_t **error);
/* The newest api-version of the route that serves method on path (an
 * id), or NULL when none does. */
const char *arm_route_api_version(const char *method, const char *path);

/* ---- dispatch.c: a request made inside the process ---- */
struct arm_dispatch_reply {
  int status;
  json_t *body;           /* the parsed answer, or NULL */
  char *async_operation;  /* its Azure-AsyncOperation and Location headers, or NULL */
  char *location;
  char request_id[40];    /* the id the request ran under */
};
/* Runs method on url (a path with an optional query, or an absolute URL of
 * this region) with body (borrowed, may be NULL) as who, through
 * arm_route_authenticated.  0 with *out (every answer, errors included),
 * -ENOMEM. */
int arm_dispatch(struct arm *arm, const struct auth_identity *who, const char *method, const char *url,
                 json_t *body, const char *correlation_id, struct arm_dispatch_reply *out);
void arm_dispatch_reply_clear(struct arm_dispatch_reply *r);

/* ---- reply.c ---- */
/* Sends body (reference stolen) with the given status. */
void arm_reply_json(struct arm_call *call, int status, json_t *body);
void arm_reply_empty(struct arm_call *call, int status);
void arm_reply_error(struct arm_call *call, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void arm_reply_error_target(struct arm_call *call, int status, const char *code, const char *target,
                            const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Whether s is valid UTF-8 (what a JSON string may hold). */
bool arm_utf8_valid(const char *s);
/* An ARM error object as JSON text (malloc'd), for operation records. */
char *arm_error_text(const char *code, const char *message);
/* 500 InternalServerError naming err; DiskFull for -ENOSPC (the data file
 * system is full: a retry once space is freed can succeed). */
void arm_reply_internal(struct arm_call *call, int err);

/* ---- apiversion.c ---- */
/* The newest version of a family (NULL for API_NONE, API_ANY). */
const char *arm_api_version_newest(enum api_family fam);
/* Validates call->api_version for the family; replies with ARM's error and
 * returns false when it is missing or unsupported. */
bool arm_api_version_ok(struct arm_call *call, enum api_family fam, const char *type);
/* The supported versions of a family as a JSON array (for provider metadata). */
json_t *arm_api_versions_json(enum api_family fam);

/* ---- names.c ---- */
/* Resource group names: 1-90 of letters, digits, - _ . ( ), not ending in '.'.
 * Replies InvalidResourceGroup and returns false otherwise. */
bool arm_rg_name_ok(struct arm_call *call, const char *name);
/* The same rules without a reply (HEAD answers an invalid name with 404). */
bool arm_rg_name_valid(const char *name);

/* ---- body.c ---- */
#define ARM_MAX_STRING 1024 /* the longest string member unless its rule says less */
/* A member's rule: its JSON type (JSON_TRUE: a boolean, JSON_REAL: any
 * number) and, for a string, the values it may take (case-insensitive,
 * NULL-terminated; NULL: any) and its longest length (0: ARM_MAX_STRING);
 * for an object the rules of its members, for an array those of its items'
 * (objects) — what arm_body_normalise descends into. */
struct arm_member {
  const char *name;
  json_type type;
  const char *const *values;
  size_t max_len;
  const struct arm_member *members;
};
#define ARM_MEMBER(n, t) {.name = (n), .type = (t)}
#define ARM_ENUM(n, vals) {.name = (n), .type = JSON_STRING, .values = (vals)}
#define ARM_STRING(n, max) {.name = (n), .type = JSON_STRING, .max_len = (max)}
#define ARM_OBJECT(n, sub) {.name = (n), .type = JSON_OBJECT, .members = (sub)}
#define ARM_ARRAY(n, sub) {.name = (n), .type = JSON_ARRAY, .members = (sub)}
#define ARM_MEMBERS_END {.name = NULL}
/* Rewrites body in place as Azure's deserializer reads it, by rules and the
 * rules nested in them (body.c says how): member names in the rules'
 * spelling, integral strings as integers, "true"/"false" as booleans,
 * numeric strings as numbers.  Members without a rule are left as sent.
 * Call it first, before reading the body; replies InvalidRequestContent and
 * returns false for a member given twice in two spellings. */
bool arm_body_normalise(struct arm_call *call, json_t *body, const struct arm_member *rules);
/* Whether the call has a body; replies 400 InvalidRequestContent ("a body is
 * required.") and returns false when it has none. */
bool arm_body_required(struct arm_call *call);
/* Checks obj's members against rules (ended by ARM_MEMBERS_END);
 * absent and null members pass, and so does a NULL obj.  A wrong type is
 * InvalidRequestContent, a string too long or not one of its values
 * InvalidParameter, with target prefix.name; replies for the first that
 * fails and returns false. */
bool arm_body_members_ok(struct arm_call *call, json_t *obj, const char *prefix, const struct arm_member *rules);
/* arm_body_members_ok, then the same for the members' members by the rules
 * nested in rules (an array's items must be objects). */
bool arm_body_tree_ok(struct arm_call *call, json_t *obj, const char *prefix, const struct arm_member *rules);
/* GrantAccessData {access, durationInSeconds} and an NBD revoke's {accessId}. */
extern const struct arm_member arm_grant_members[];
/* The spelling in allowed (NULL-terminated) of v, compared
 * case-insensitively; NULL when v is none of them. */
const char *arm_canonical(const char *v, const char *const *allowed);
/* Sets member name of dst to the spelling in allowed of src's, when src's
 * is one of them; leaves dst as it is otherwise. */
void arm_set_canonical(json_t *dst, json_t *src, const char *name, const char *const *allowed);
/* Tags: an object of strings, at most 50, names ≤ 512 and values ≤ 256 chars. */
bool arm_tags_ok(struct arm_call *call, json_t *tags);

/* ---- list.c ---- */
typedef json_t *(*arm_to_json)(struct arm_call *call, const struct meta_resource *r);
/* Replies {"value": [...]} with every resource of type under the call's
 * resource group (params[1]; ResourceGroupNotFound when it is missing) if
 * the route has one, else its subscription. */
void arm_reply_list(struct arm_call *call, const char *type, arm_to_json to_json);
/* Calls cb for every resource of type in every subscription of the region. */
int arm_for_each(struct arm *arm, const char *type, meta_resource_cb cb, void *ctx);

/* ---- locations.c ---- */
/* Canonical region name for a name or display name ("East US" → "eastus"),
 * or NULL when the region is not one of this deployment's. */
const char *arm_location_canonical(struct arm *arm, const char *name);
const char *arm_location_display(const struct arm_location *loc);
/* The body's location, canonical, when it is this region's; otherwise
 * replies LocationRequired / LocationNotAvailableForResourceType (naming
 * type) and returns NULL. */
const char *arm_location_here(struct arm_call *call, json_t *body, const char *type);

/* ---- authz.c: the authorization rule (its design comment says where it is
 * applied) ---- */
enum arm_need { ARM_NEED_READ, ARM_NEED_WRITE, ARM_NEED_OWNER };
/* What a request method needs on its scope: read for GET/HEAD, else write. */
enum arm_need arm_need_of(const char *method);
/* Whether who's role on subscription sub allows need (no reply; a role that
 * cannot be read allows nothing). */
bool arm_role_allows(struct arm *arm, const struct auth_identity *who, const char *sub, enum arm_need need);
/* The caller's role on sub allows need for action (named in the error);
 * otherwise replies 403 AuthorizationFailed — or 500 when the role
 * assignments cannot be read — and returns false. */
bool arm_authz_scope(struct arm_call *call, const char *sub, enum arm_need need, const char *action);
/* The caller may use the resource id (found at target, e.g.
 * "properties.source.id") in this request: write on its subscription.
 * Otherwise replies 403 LinkedAuthorizationFailed (400
 * LinkedInvalidPropertyId for an id without a subscription) and returns
 * false.  A string that is no resource id passes. */
bool arm_authz_linked(struct arm_call *call, const char *id, const char *target);
/* arm_authz_linked for every resource id anywhere in the call's body. */
bool arm_authz_body(struct arm_call *call);
/* A nested deployment (its id) of who's template: 0 when who may write its
 * subscription, as a client's PUT of it would need; else -EACCES with
 * *error ARM's AuthorizationFailed {code, message} (a new reference; NULL
 * when out of memory).  Checked before the target scope is read, so a
 * refused caller learns nothing of it. */
int arm_authz_nested(struct arm *arm, const struct auth_identity *who, const char *id, json_t **error);

/* ---- forward.c ---- */
/* Whether the call is another region's (forward.c says when), and then
 * answers it from there: forwarded, or merged with local (which it calls)
 * for lists and resource groups.  false: the call is this region's alone. */
bool arm_forward(struct arm_call *call, void (*local)(struct arm_call *call));

/* ---- locks.c: Microsoft.Authorization/locks and their enforcement ---- */
#define LOCK_TYPE "Microsoft.Authorization/locks"
/* What a request's scopes' locks refuse (the router sets call->lock_op). */
enum arm_lock_op {
  ARM_LOCK_NONE,   /* reads, read-only actions, the lock routes themselves */
  ARM_LOCK_WRITE,  /* PUT, PATCH, POST actions: refused by ReadOnly */
  ARM_LOCK_DELETE, /* DELETE: refused by any lock on its scopes or below its target */
};
/* The handler's turn: call->handler runs unless a lock on the request's
 * scopes refuses call->lock_op (replied 409 ScopeLocked then). */
void arm_locks_run(struct arm_call *call);
/* Replies 409 ScopeLocked: scope (the request's target) cannot perform
 * verb ("write", "delete") because of locked, the locked scopes (a
 * comma-separated list of ids). */
void arm_reply_scope_locked(struct arm_call *call, const char *scope, const char *verb, const char *locked);
/* That reply's message, in out (cap bytes; the rest cut off). */
void arm_scope_locked_message(char *out, size_t cap, const char *scope, const char *verb, const char *locked);
/* The locked scopes of such a reply as a set: len bytes of scope added to l
 * unless it holds them already (any casing), 0 or -ENOMEM; and joined by
 * commas (malloc'd, "" when l is empty; NULL out of memory). */
struct strlist;
int arm_lock_scopes_add(struct strlist *l, const char *scope, size_t len);
char *arm_lock_scopes_join(const struct strlist *l);
/* Where a lock route's lock lives: a subscription's or a group's lock is
 * every region's (forward.c replicates it), a resource's is the resource's
 * region's. */
enum arm_lock_scope { ARM_LOCK_AT_SUBSCRIPTION, ARM_LOCK_AT_GROUP, ARM_LOCK_AT_RESOURCE };
enum arm_lock_scope arm_lock_scope_of(const struct arm_call *call);
/* The scopes of the locks at or under scope (an id) in this region, as a
 * comma-separated list (malloc'd; "" when there is none) in *locked:
 * 0, or -errno. */
int arm_locks_under(struct arm *arm, const char *scope, char **locked);
void arm_lock_put(struct arm_call *call);
void arm_lock_get(struct arm_call *call);
void arm_lock_delete(struct arm_call *call);
void arm_lock_list(struct arm_call *call);

/* ---- peer.c: the peer protocol's front end and this region's peers ---- */
#define XR_PREFIX "vmrp-xr-" /* collections holding captures made for a peer */
#define ARM_HEADER_FORWARDED "x-vmrp-forwarded" /* a call another region forwarded (forward.c) */
#define ARM_PEER_WHY 1600/* room for why a peer's document was refused */
const struct arm_location *arm_peer_named(struct arm *arm, const char *name);
struct repl_peer arm_peer(struct arm *arm, const struct arm_location *loc);
/* The caller as a peer request carries it (who NULL: the region itself). */
struct repl_caller arm_peer_caller(const struct auth_identity *who);
/* The request's query in the canonical form the signatures cover (repl.h):
 * malloc'd, "" when there is none; NULL on ENOMEM. */
char *arm_canonical_query(const struct http_request *req);
/* Checks the call's peer signature (repl.h): 0 with *from the peer and
 * call->who the caller it asserts (oid "": the region itself); -errno
 * otherwise, logged here with the reason (the caller replies 401). */
int arm_peer_verify(struct arm_call *call, const struct arm_location **from);
/* Answers a request under REPL_PATH (a peer's; never an ARM token). */
void arm_peer_handle(struct arm_call *call);
/* Asks loc for resource id over the peer protocol, for who (NULL: the
 * region itself): 0 with *status, and on 200 *doc checked by
 * arm_peer_doc_check; -EPROTO the peer's 200 answer is not a valid document
 * (why, ARM_PEER_WHY bytes, says what is wrong, naming the peer), -errno when
 * it does not answer. */
int arm_peer_resource(struct arm *arm, const struct auth_identity *who, const struct arm_location *loc,
                      const char *id, long *status, json_t **doc, char *why);
/* Asks every peer for resource id: 0 with *doc (the peer's view, see
 * peer.c) and *where; -ENOENT no peer has it; -EHOSTUNREACH one that could
 * have it did not answer (*where); -EPROTO none had it and one answered
 * with an invalid document (*where, why). */
int arm_peer_lookup(struct arm *arm, const struct auth_identity *who, const char *id,
                    const struct arm_location **where, json_t **doc, char *why);

/* ---- peer_doc.c: documents from peers, checked before any use ---- */
/* A resource document (the peer protocol's `resource` answer) for id: 0, or
 * -EPROTO with why ("<field>: <problem>", cap bytes). */
int arm_peer_doc_check(const json_t *doc, const char *id, char *why, size_t cap);
/* The answer to a `captures` call: a restore point being created (the
 * shape of arm_rp_json), with the disk restore points its copy needs. */
int arm_peer_capture_check(const json_t *doc, char *why, size_t cap);
/* An error answer a peer relays: {"error": {"code": string, ...}} with a
 * 4xx or 5xx status. */
bool arm_peer_error_ok(long status, const json_t *doc);

/* ---- lro.c ---- */
/* Creates an InProgress operation row for the call's subscription (inside
 * the caller's transaction, if any); fills op_id. */
int arm_op_create(struct arm_call *call, const char *provider, const char *kind, const char *resource_id,
                  const char *payload, char op_id[40]);
enum { LRO_ASYNC_OPERATION = 1, LRO_LOCATION = 2, LRO_RESOURCES_LOCATION = 4 };
/* An operation done at once (a Compute operation Succeeded with result, "{}"
 * when NULL), inside the caller's transaction, if any; fills op_id. */
int arm_op_done(struct arm_call *call, const char *kind, const char *resource_id, const char *result, char op_id[40]);
/* The row id when it is of type: 0; otherwise not_found (-ENOENT) or 500
 * replied, and -errno. */
int arm_row_get(struct arm_call *call, const char *id, const char *type, void (*not_found)(struct arm_call *call),
                struct meta_resource *out);
/* Ends an update of the row r: its tags from tags (a body's: NULL keeps
 * them, JSON null removes them), then r put under the request's If-Match:
 * 0, or replied (412 PreconditionFailed, 500) and -errno. */
int arm_row_update(struct arm_call *call, struct meta_resource *r, json_t *tags);
/* Adds Azure-AsyncOperation / Location / Retry-After headers for op_id. */
void arm_lro_headers(struct arm_call *call, const char *provider, const char *op_id, int which);
/* The long-running DELETE of a Compute resource: 204 if there is no such
 * resource of that type (404 ResourceGroupNotFound if no such group); refuse (may be NULL) may answer an error and
 * return true; otherwise, in one transaction, the resource becomes Deleting
 * and an operation of `kind` is created, then 202 + LRO headers. */
void arm_start_delete(struct arm_call *call, const char *id, const char *type, const char *kind,
                      bool (*refuse)(struct arm_call *call, const struct meta_resource *r));

/* ---- hydration.c: the diskHydrate job of a restored disk ---- */
/* Queues the diskHydrate job of a restored disk's volume. */
int arm_disk_hydrate_start(struct arm *arm, const char *subscription, const char *disk_id, const char *vol_id);

/* ---- handlers ---- */
void arm_identity_metadata(struct arm_call *call);
void arm_identity_openid(struct arm_call *call);
void arm_identity_openid_v2(struct arm_call *call);
void arm_identity_openid_tenant(struct arm_call *call);
void arm_identity_token(struct arm_call *call);
void arm_identity_jwks(struct arm_call *call);

void arm_subscriptions_list(struct arm_call *call);
void arm_subscriptions_get(struct arm_call *call);
void arm_tenants_list(struct arm_call *call);
void arm_locations_list(struct arm_call *call);
void arm_providers_list(struct arm_call *call);
void arm_providers_get(struct arm_call *call);

/* The call's resource group (params[1]) exists and is not being deleted;
 * otherwise replies ResourceGroupNotFound / ResourceGroupBeingDeleted. */
bool arm_rg_ready(struct arm_call *call);
/* The call's resource group (params[1]) exists, in any state; otherwise
 * replies 404 ResourceGroupNotFound, as ARM answers every request under a
 * missing group. */
bool arm_rg_found(struct arm_call *call);
/* ARM's 404 for the resource type/name (e.g. "Microsoft.Compute/disks",
 * "d1") under the call's resource group: ResourceGroupNotFound when the
 * group is missing, else ResourceNotFound. */
void arm_reply_not_found(struct arm_call *call, const char *type, const char *name);
void arm_rg_put(struct arm_call *call);
void arm_rg_get(struct arm_call *call);
void arm_rg_head(struct arm_call *call);
void arm_rg_patch(struct arm_call *call);
void arm_rg_delete(struct arm_call *call);
void arm_rg_list(struct arm_call *call);

/* resources.c: the $expand hook — whether the comma-separated $expand lists
 * `what` (case-insensitive). */
bool arm_expand_has(const struct arm_call *call, const char *what);
void arm_resources_list(struct arm_call *call);

void arm_operation_status(struct arm_call *call);
void arm_operation_result(struct arm_call *call);

#define VM_TYPE "Microsoft.Compute/virtualMachines"
#define RPC_TYPE "Microsoft.Compute/restorePointCollections"
#define RP_TYPE "Microsoft.Compute/restorePointCollections/restorePoints"
#define DRP_TYPE "Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints"
#define DISK_TYPE "Microsoft.Compute/disks"
#define DES_TYPE "Microsoft.Compute/diskEncryptionSets"

/* names.c: disk, collection and restore point names: 1-max of letters,
 * digits, _ - ., starting with a letter or digit, ending with a letter,
 * digit or '_'. */
bool arm_compute_name_valid(const char *name, size_t max);
/* Restore point collection and restore point names (the rule above, max
 * 80); replies InvalidParameter naming target. */
bool arm_rp_name_ok(struct arm_call *call, const char *name, const char *target);

/* collections.c */
void arm_collection_put(struct arm_call *call);
void arm_collection_get(struct arm_call *call);
void arm_collection_patch(struct arm_call *call);
void arm_collection_delete(struct arm_call *call);
void arm_collection_list(struct arm_call *call);
enum job_outcome arm_collection_delete_job(void *app, struct job *job, const struct meta_operation *op,
                                           struct job_result *res);

/* restore_points.c */
void arm_reply_collection_not_found(struct arm_call *call);
json_t *arm_rp_json(struct arm *arm, const struct meta_resource *r, bool instance_view);
/* encryption.c: props' `encryption` set to what enc says is true (left out
 * for none; a customer key's with its set's id), whatever props held before. */
void arm_set_encryption(struct arm *arm, json_t *props, const struct region_encryption *enc);
/* Azure's EncryptionType values (NULL-terminated). */
extern const char *const arm_encryption_types[];
/* The key domain of a new disk from enc, the request's Encryption (at
 * target prefix, e.g. "properties.encryption"; may be NULL): a set it names
 * (of this region, its key usable now), else source (a customer domain, or
 * NULL) when the request names no type, else the platform's ("").  false:
 * replied (400 InvalidParameter, a key error). */
bool arm_encryption_request(struct arm_call *call, json_t *enc, const char *prefix, const char *source,
                            char domain[33]);
/* Whether the key of domain ("" the platform's: always) opens it now
 * (region_domain_probe); otherwise replies the key error (409 naming the
 * data, of, e.g. "disk 'd1'"; 400 for a set a request names, of NULL). */
bool arm_key_usable(struct arm_call *call, const char *domain, const char *of);
/* Whether the data of a disk (its row), of a volume (vol_id, of the disk
 * disk_id) or of a disk restore point (its row) can be read now: in a
 * customer domain, its key must open it (arm_key_usable: replied
 * otherwise). */
bool arm_disk_readable(struct arm_call *call, const struct meta_resource *disk);
bool arm_volume_readable(struct arm_call *call, const char *vol_id, const char *disk_id);
bool arm_image_readable(struct arm_call *call, const struct meta_resource *drp);
void arm_rp_put(struct arm_call *call);
void arm_rp_get(struct arm_call *call);
void arm_rp_delete(struct arm_call *call);
void arm_drp_get(struct arm_call *call);
/* 404 for the route's disk restore point (params[4]), or for its group. */
void arm_reply_drp_not_found(struct arm_call *call);
void arm_drp_list(struct arm_call *call);
/* The disk restore point's id from the route's params (sub, rg, collection,
 * restore point, name). */
void arm_drp_id(struct arm_call *call, char *out, size_t cap);
/* access.c: SAS grants */
void arm_drp_begin_access(struct arm_call *call);
void arm_drp_end_access(struct arm_call *call);
void arm_disk_begin_access(struct arm_call *call);
void arm_disk_end_access(struct arm_call *call);
/* nbd_access.c: NBD grants (capabilities in the export name) */
void arm_disk_nbd_grant(struct arm_call *call);
void arm_disk_nbd_list(struct arm_call *call);
void arm_disk_nbd_revoke(struct arm_call *call);
void arm_drp_nbd_grant(struct arm_call *call);
void arm_drp_nbd_list(struct arm_call *call);
void arm_drp_nbd_revoke(struct arm_call *call);
/* "ActiveSAS", "ActiveUpload" or "ReadyToUpload" when the disk's data is
 * reserved for the data plane (no attach, no delete), else NULL. */
const char *arm_disk_access_state(struct arm *arm, const struct meta_resource *disk);
/* Ends the transaction that records a new restore point: its row (Creating;
 * props and extra stolen) is put when rc is 0 so far, then committed, else
 * rolled back; *rp holds the row for the reply either way. */
int arm_rp_insert_commit(struct arm *arm, int rc, const char *id, const char *coll_id, json_t *props, json_t *extra,
                         struct meta_resource *rp);
/* Deletes a restore point and its disk restore points at once (their
 * exports first). */
int arm_rp_delete_now(struct arm *arm, const char *id);
/* Deletes every restore point (and disk restore point) under a collection. */
int arm_restore_points_delete_under(struct arm *arm, const char *collection_id);
enum job_outcome arm_rp_delete_job(void *app, struct job *job, const struct meta_operation *op,
                                   struct job_result *res);
/* Delete hook for disk restore points inside a resource group being deleted:
 * unexported (its readers disconnected) before its rows go. */
int arm_drp_delete_child(struct arm *arm, const struct meta_resource *r);
enum job_outcome arm_rp_create_job(void *app, struct job *job, const struct meta_operation *op,
                                   struct job_result *res);
/* For a restore point's job: marks it (and its disk restore points not
 * ready) Failed with code, retried while the database cannot take it (a
 * full file system): left Creating it would keep its VM from the next
 * restore point until a restart.  Gives up only when the service stops (the
 * restart fails it). */
void arm_rp_fail(struct arm *arm, struct job *job, const char *rp_id, const char *code);
/* copies.c: a restore point PUT with sourceRestorePoint in coll (id: the
 * new restore point's), and the copy operation. */
void arm_rp_copy_put(struct arm_call *call, const struct meta_resource *coll, const char *id);
/* A restore point PUT in coll, whose source is a VM of another region: that
 * region captures it (peer.c), this one copies the capture. */
void arm_rp_xr_put(struct arm_call *call, const struct meta_resource *coll, const char *id);
enum job_outcome arm_rp_copy_job(void *app, struct job *job, const struct meta_operation *op,
                                 struct job_result *res);

/* retention_lock.c: retention locks (immutability) on restore points — its
 * design comment says what they refuse and where. */
#define ARM_RETENTION_LOCK "vmrpRetentionLock"             /* the member of a restore point's properties */
#define ARM_RETENTION_LOCKED_CODE "RestorePointRetentionLocked" /* the one error of a refused delete (409) */
/* Whether rp_properties (a restore point's properties) hold a retention lock
 * in force at now_us (the region's clock: expiresAt > now).  A lock that
 * cannot be read counts as in force. */
bool arm_retention_locked(const json_t *rp_properties, int64_t now_us);
/* The rules of a lock object's members (body.c). */
extern const struct arm_member arm_retention_lock_members[];
/* The lock a restore point PUT's properties ask for, checked (a mode, an
 * expiresAt within 100 years — and in the future when future, i.e. for a
 * new restore point, not a repeated PUT — no other member): true with *lock
 * (normalised, a new reference; NULL when none is asked); else replied 400
 * InvalidParameter naming the member, and false. */
bool arm_retention_lock_request(struct arm_call *call, json_t *props, bool future, json_t **lock);
/* The stronger of two lock objects (either may be NULL): the stronger mode,
 * the later expiresAt; a new reference, NULL when both are NULL. */
json_t *arm_retention_lock_merge(const json_t *a, const json_t *b);
/* A lock object from a peer: 0, or -EPROTO with why (cap bytes). */
int arm_retention_lock_check(const json_t *lock, char *why, size_t cap);
/* Delete refusals, judged inside the delete's transaction: reply 409
 * RestorePointRetentionLocked (500 when the walk fails) and return true when
 * the restore point rp, a restore point of collection coll_id, of a
 * collection whose source is VM vm_id, or of a collection in group rg_id or
 * taken of a VM in it, has a lock in force. */
bool arm_retention_refuse_rp(struct arm_call *call, const struct meta_resource *rp);
bool arm_retention_refuse_collection(struct arm_call *call, const char *coll_id);
bool arm_retention_refuse_vm(struct arm_call *call, const char *vm_id);
bool arm_retention_refuse_group(struct arm_call *call, const char *rg_id);
/* The same for vm_id or rg_id (one of them) over the other regions'
 * collections, asked before the local transaction (dispatched, forwarded
 * reads as the caller): replies and true when one holds a locked restore
 * point. */
bool arm_retention_refuse_elsewhere(struct arm_call *call, const char *vm_id, const char *rg_id);
/* For a group's delete job: 1 with the id of a locked restore point of
 * group rg_id (as arm_retention_refuse_group finds them), 0 none, -errno. */
int arm_retention_locked_under(struct arm *arm, const char *rg_id, char *rp_id, size_t cap);
/* POST {restore point}/vmrpSetRetentionLock {mode, expiresAt} | {mode: None}. */
void arm_rp_set_retention_lock(struct arm_call *call);

/* policies.c: Microsoft.Vmrp/protectionPolicies (POLICY_TYPE, policy/spec.h) */
struct policy_spec;
void arm_policy_put(struct arm_call *call);
void arm_policy_get(struct arm_call *call);
void arm_policy_patch(struct arm_call *call);
void arm_policy_delete(struct arm_call *call);
void arm_policy_list(struct arm_call *call);
/* POST {policy}/previewRetention: per region, what retention would keep
 * (and why), remove and skip now. */
void arm_policy_preview_retention(struct arm_call *call);
/* Delete hook for policies inside a resource group being deleted (their
 * secrets go with them). */
int arm_policy_delete_child(struct arm *arm, const struct meta_resource *r);
/* The stored policy policy_id (any casing): its document parsed into *spec
 * (may be NULL; policy_spec_clear it; no secret: that is the meta secret
 * arm_policy_secret_name names) and the principal of its last PUT or PATCH
 * in *actor (may be NULL).  0, -ENOENT (no such policy), -EINVAL (its
 * document no longer parses: logged), -ENOMEM. */
int arm_policy_load(struct arm *arm, const char *policy_id, struct policy_spec *spec, struct auth_identity *actor);
/* The meta secret name of a policy's webhook key: "webhook:<lower-case
 * policy id>". */
void arm_policy_secret_name(const char *policy_id, char *out, size_t cap);

/* disk_encryption_sets.c: customer-managed keys */
void arm_des_put(struct arm_call *call);
void arm_des_get(struct arm_call *call);
void arm_des_patch(struct arm_call *call);
void arm_des_delete(struct arm_call *call);
void arm_des_list(struct arm_call *call);
/* The key domain (hex id) of a set's row: false when it names none. */
bool arm_des_domain(const struct meta_resource *r, char domain[33]);
/* The ARM error of a customer key that cannot be used (err: a key error of
 * region.h's domains section), for what (e.g. "disk encryption set 'x'"). */
void arm_reply_key_error(struct arm_call *call, int status, int err, const char *what);

void arm_disk_put(struct arm_call *call);
void arm_disk_get(struct arm_call *call);
void arm_disk_patch(struct arm_call *call);
void arm_disk_delete(struct arm_call *call);
void arm_disk_list(struct arm_call *call);
/* The disk's id from the route's params (sub, rg, name), and ARM's 404 for it. */
void arm_disk_id(struct arm_call *call, char *out, size_t cap);
void arm_disk_reply_not_found(struct arm_call *call);
/* Delete hook for disks inside a resource group being deleted. */
int arm_disk_delete_child(struct arm *arm, const struct meta_resource *r);
/* A VM's Empty data disk: a new disk row (Updating, attached to vm_id) in
 * the caller's transaction, provisioned later by arm_disk_create_job.
 * Checks name, size and sku like a disk PUT (replies, -EINVAL); -EEXIST
 * (no reply) when the disk exists. */
int arm_disk_create_empty(struct arm_call *call, const char *id, const char *name, const char *rg_id,
                          json_t *size_gb, const char *sku_name, const char *vm_id);

/* vms.c; the delete hook and the jobs are in vm_jobs.c */
void arm_vm_put(struct arm_call *call);
void arm_vm_get(struct arm_call *call);
void arm_vm_patch(struct arm_call *call);
void arm_vm_delete(struct arm_call *call);
void arm_vm_list(struct arm_call *call);
void arm_vm_instance_view(struct arm_call *call);
void arm_vm_start(struct arm_call *call);
void arm_vm_power_off(struct arm_call *call);
void arm_vm_deallocate(struct arm_call *call);
void arm_vm_restart(struct arm_call *call);
/* The VM of the route's params (sub, rg, name): 0, or replied 404/500 and
 * -errno. */
int arm_vm_row(struct arm_call *call, struct meta_resource *r);
/* extensions.c: a VM's guest agent, configured as a Vmrp.QemuGuestAgent
 * extension */
void arm_vm_extension_put(struct arm_call *call);
void arm_vm_extension_get(struct arm_call *call);
void arm_vm_extension_delete(struct arm_call *call);
void arm_vm_extension_list(struct arm_call *call);
/* The VM instance view's vmAgent (the agent asked now) and, in *extensions,
 * its extensions' instance views. */
json_t *arm_vm_agent_view(struct arm *arm, const char *vm_id, json_t **extensions);
/* Delete hook for VMs inside a resource group being deleted: deletes the
 * disks with deleteOption Delete, detaches the others. */
int arm_vm_delete_child(struct arm *arm, const struct meta_resource *r);
enum job_outcome arm_vm_create_job(void *app, struct job *job, const struct meta_operation *op,
                                   struct job_result *res);
enum job_outcome arm_vm_delete_job(void *app, struct job *job, const struct meta_operation *op,
                                   struct job_result *res);

/* network.c: Microsoft.Network virtual networks (and subnets), network
 * security groups, network interfaces, public IP addresses; the route's
 * type name says which */
void arm_net_put(struct arm_call *call);
void arm_net_get(struct arm_call *call);
/* PATCH: the tags only (Azure's UpdateTags). */
void arm_net_patch(struct arm_call *call);
void arm_net_delete(struct arm_call *call);
void arm_net_list(struct arm_call *call);
void arm_net_subnet_put(struct arm_call *call);
void arm_net_subnet_get(struct arm_call *call);
void arm_net_subnet_delete(struct arm_call *call);
void arm_net_subnet_list(struct arm_call *call);

/* failpoints.c: the failpoints admin call ([testing] failpoints = on) */
void arm_failpoints_get(struct arm_call *call);
void arm_failpoints_put(struct arm_call *call);

/* store_admin.c */
void arm_store_gc(struct arm_call *call);
void arm_store_verify(struct arm_call *call);
enum job_outcome arm_store_gc_job(void *app, struct job *job, const struct meta_operation *op,
                                  struct job_result *res);
enum job_outcome arm_store_verify_job(void *app, struct job *job, const struct meta_operation *op,
                                      struct job_result *res);

/* upgrade.c: the storeUpgrade job, queued at start when the region holds
 * data from before encryption at rest, and its progress (GET). */
int arm_upgrade_start(struct arm *arm);
enum job_outcome arm_upgrade_job(void *app, struct job *job, const struct meta_operation *op, struct job_result *res);
void arm_store_upgrade_get(struct arm_call *call);

/* Job run functions. */
enum job_outcome arm_disk_create_job(void *app, struct job *job, const struct meta_operation *op,
                                     struct job_result *res);
enum job_outcome arm_disk_hydrate_job(void *app, struct job *job, const struct meta_operation *op,
                                      struct job_result *res);
enum job_outcome arm_disk_delete_job(void *app, struct job *job, const struct meta_operation *op,
                                     struct job_result *res);
enum job_outcome arm_rg_delete_job(void *app, struct job *job, const struct meta_operation *op,
                                   struct job_result *res);

/* ---- deployments (deployment_plan.c, deployments.c, deploy_host.c) ---- */
/* A deployment's path: its scope and name (checked: ARM's name rules,
 * replied 400 otherwise), and what follows it (an operation id). */
struct arm_deployment_scope {
  const char *sub, *rg, *name, *extra;  /* rg NULL: subscription scope */
  char scope[300];                       /* /subscriptions/{s}[/resourceGroups/{rg}] */
  char id[420];                          /* {scope}/providers/Microsoft.Resources/deployments/{name} */
};
bool arm_deployment_scope(struct arm_call *call, struct arm_deployment_scope *s);
/* A deployment request body read and planned, exactly as PUT and validate
 * do (what-if plans with it too). */
struct arm_deployment_plan {
  json_t *body;                  /* the body as read */
  struct tpl_posmap *pos, *template_pos;  /* the body's positions; a template sent as a string has its own */
  json_t *template, *parameters; /* objects (from the body or read from strings) */
  json_t *tags;                  /* borrowed from body, may be NULL */
  const char *mode;              /* "Incremental" | "Complete" */
  const char *location;          /* subscription scope: the body's */
  struct deploy_world *world;
  struct tpl_template *plan;
};
/* Reads the call's raw body (tpl_read), refuses what vmrp does not
 * support, and plans the template in the world of s's scope: 0 with *p;
 * otherwise replied (400 InvalidRequestContent, InvalidTemplate with the
 * line and column, 404 ResourceGroupNotFound, ...) and -errno.  Clear p
 * either way. */
int arm_deployment_plan(struct arm_call *call, const struct arm_deployment_scope *s, struct deploy *engine,
                        struct arm_deployment_plan *p);
void arm_deployment_plan_clear(struct arm_deployment_plan *p);
/* A template error as ARM answers it: code, message, additionalInfo with
 * lineNumber, linePosition and path. */
void arm_reply_template_error(struct arm_call *call, int status, const struct tpl_error *err);
void arm_deployment_put(struct arm_call *call);
void arm_deployment_get(struct arm_call *call);
void arm_deployment_head(struct arm_call *call);
void arm_deployment_delete(struct arm_call *call);
void arm_deployment_list(struct arm_call *call);
void arm_deployment_status(struct arm_call *call);
void arm_deployment_cancel(struct arm_call *call);
void arm_deployment_validate(struct arm_call *call);
void arm_deployment_export(struct arm_call *call);
void arm_deployment_template_hash(struct arm_call *call);
/* deploy_whatif.c: POST whatIf, 202 + Location to the WhatIfOperationResult. */
void arm_deployment_whatif(struct arm_call *call);
/* The list, or one operation when the path names it. */
void arm_deployment_operations(struct arm_call *call);
/* Starts and stops the engine, its requests made through dispatch.c. */
int arm_deploy_start(struct arm *arm);
void arm_deploy_stop(struct arm *arm);

/* ---- policy_sched.c, policy_retain.c, policy_view.c: the protection
 * policies' scheduler (docs/policies.md "The scheduler") ---- */
struct policy_spec;
/* Starts the region's scheduler thread (arm_set_jobs); stopped by
 * arm_policy_stop (arm.h). */
int arm_policy_sched_start(struct arm *arm);
/* The policy was created, changed or deleted: its VMs and next slots are
 * evaluated again now (returns at once; the scheduler's thread does it). */
void arm_policy_sched_changed(struct arm *arm, const char *policy_id);
/* The policy's instance view: {region, time, rpoTargetSeconds,
 * virtualMachines: [{vmId, lastRestorePoint {id,time,ageSeconds} | null,
 * copies [{region, newestCopy {id,time,ageSeconds} | null, rpoSeconds,
 * rpoExceeded}], nextSlot, lastError {code,message,time} | null,
 * missedSlots, failedAttempts, rpoSeconds, rpoExceeded,
 * retentionConflicts [{id,code,time,region}]}]}; NULL when the policy
 * cannot be loaded or out of memory. */
json_t *arm_policy_instance_view(struct arm *arm, const char *policy_id);
/* GET {policy}/instanceView: that view, or ARM's 404 for the policy. */
void arm_policy_view_get(struct arm_call *call);
/* What retention would do now over the collections of the policy's VMs, as
 * actor (the other region's read by forwarding), per region:
 * {"<region>": {"keep": [{id,time,reasons}], "remove": [{id,time}],
 * "skipped": [{id,time,reason}]}} for the policy's region and each copy
 * region — the same plan the scheduler applies.  0 with *out, -ENOMEM,
 * -EIO (a collection could not be read). */
int arm_policy_retention_plan(struct arm *arm, const char *policy_id, const struct policy_spec *spec,
                              const struct auth_identity *actor, json_t **out);

/* ---- nodes.c ---- */
void arm_nodes_list(struct arm_call *call);
