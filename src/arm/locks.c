/*
 * locks.c — Microsoft.Authorization/locks, ARM's management locks, and the
 * one place they are enforced.
 *
 * A lock is a resource of type Microsoft.Authorization/locks whose parent is
 * its scope: a subscription, a resource group, or a resource (a top-level
 * one or a child, e.g. a restore point or a VNet's subnet), at
 * {scope}/providers/Microsoft.Authorization/locks/{name}.  Its level is
 * CanNotDelete or ReadOnly (NotSpecified, which the REST spec lists, locks
 * nothing and is refused).  Creating and deleting one is the Owner's
 * (Microsoft.Authorization/locks/write and delete: the router asks for the
 * Owner role; vmrp has no User Access Administrator); reading one needs any
 * role.  Where a lock lives: a subscription's or a group's on every region
 * (forward.c sends its PUT and DELETE to each peer after they succeeded
 * here, as it does for groups), a resource's in the resource's region (the
 * forwarder routes it by the path's top-level resource), so the region
 * that serves a request holds every lock that applies to it.
 *
 * Enforcement (arm_locks_run) is the handler's turn, after authentication,
 * role, body checks and forwarding: the region that runs the handler
 * judges, for every request that reaches a handler here — a client's, one a
 * peer forwarded, one dispatched inside the process (template deployments,
 * the protection policy scheduler).  The scopes of a request are its
 * path's: the subscription, the group, and each resource prefix (a restore
 * point's collection, then the restore point).  A lock is inherited down
 * them:
 *   - ReadOnly refuses every write: PUT, PATCH, DELETE, and POST actions
 *     (ARM treats an action as a write unless it only reads: Azure's
 *     documentation names VM start/restart and listKeys; vmrp refuses
 *     beginGetAccess, endGetAccess, the NBD grants, power actions and
 *     deployment cancel, and lets through the actions the route table marks
 *     read-only: deployment validate, whatIf and exportTemplate, provider
 *     registration, storeVerify);
 *   - CanNotDelete and ReadOnly both refuse DELETE, and a DELETE also looks
 *     below its target: a collection holding a locked restore point, a
 *     group holding any lock (forward.c asks the peers for theirs first) is
 *     not deleted, as ARM refuses it.
 * The lock routes themselves are never refused by a lock (a lock must be
 * removable).  The refusal is ARM's: 409 ScopeLocked, "The scope '<target>'
 * cannot perform <write|delete> operation because following scope(s) are
 * locked: '<scopes>'. Please remove the lock and try again."
 *
 * Lookups are by parent (the resources table's (parent_id, type) index), one
 * per scope of the path, so a request pays a few index probes, not a scan;
 * a DELETE adds one range scan under its target.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"
#include "arm/network.h"
#include "common/cleanup.h"
#include "common/strlist.h"

#define MAX_SCOPES 8
#define ID_MAX 2048
#define LOCK_NAME_MAX 260
#define LOCK_NOTES_MAX 512
#define LOCKS_SEGMENT "/providers/Microsoft.Authorization/locks/"

/* The scopes of a path, outermost first: /subscriptions/{s}, its group,
 * then each resource prefix (providers/{ns}/{type}/{name}[/{type}/{name}…]). */
struct chain {
  char id[MAX_SCOPES][ID_MAX];
  int n;
};

static bool push(struct chain *c, const char *id, int len)
{
  if (len < 0 || len >= ID_MAX || c->n == MAX_SCOPES)
    return false;
  memcpy(c->id[c->n++], id, (size_t)len + 1);
  return true;
}

/* The chain of the first n segments of a path. */
static void chain_of(char *const *segs, int n, struct chain *c)
{
  char id[ID_MAX];
  c->n = 0;
  if (n < 2 || strcasecmp(segs[0], "subscriptions") != 0)
    return;
  int len = snprintf(id, sizeof id, "/subscriptions/%s", segs[1]);
  if (!push(c, id, len))
    return;
  int i = 2;
  if (n >= 4 && !strcasecmp(segs[2], "resourceGroups")) {
    len += snprintf(id + len, sizeof id - (size_t)len, "/resourceGroups/%s", segs[3]);
    if (!push(c, id, len))
      return;
    i = 4;
  }
  if (i + 1 >= n || strcasecmp(segs[i], "providers") != 0)
    return;
  len += snprintf(id + len, sizeof id - (size_t)len, "/providers/%s", segs[i + 1]);
  for (i += 2; i + 1 < n && len < ID_MAX; i += 2) {
    len += snprintf(id + len, sizeof id - (size_t)len, "/%s/%s", segs[i], segs[i + 1]);
    if (!push(c, id, len))
      return;
  }
}

/* ---- enforcement ------------------------------------------------------------ */

int arm_lock_scopes_add(struct strlist *l, const char *scope, size_t len)
{
  for (size_t i = 0; i < l->n; i++)
    if (strlen(l->v[i]) == len && !strncasecmp(l->v[i], scope, len))
      return 0;
  CLEANUP_FREE char *s = strndup(scope, len);
  return s ? strlist_add(l, s) : -ENOMEM;
}

char *arm_lock_scopes_join(const struct strlist *l)
{
  size_t len = 1;
  for (size_t i = 0; i < l->n; i++)
    len += strlen(l->v[i]) + 1;
  char *out = calloc(1, len);
  for (size_t i = 0; out && i < l->n; i++) {
    if (i)
      strcat(out, ",");
    strcat(out, l->v[i]);
  }
  return out;
}

struct found {
  bool read_only; /* only ReadOnly locks count (a write) */
  struct strlist scopes;
};

static int collect(void *ctx, const struct meta_resource *r)
{
  struct found *f = ctx;
  if (f->read_only) {
    json_t *p = r->properties ? json_loads(r->properties, 0, NULL) : NULL;
    const char *level = json_string_value(json_object_get(p, "level"));
    bool ro = level && !strcmp(level, "ReadOnly");
    json_decref(p);
    if (!ro)
      return 0;
  }
  return arm_lock_scopes_add(&f->scopes, r->parent_id, strlen(r->parent_id));
}

/* The scopes of c holding a lock that refuses op (and, for a delete, those
 * under c's last scope), joined by commas in *locked: 0 or -errno. */
static int refusing(struct arm *arm, const struct chain *c, enum arm_lock_op op, char **locked)
{
  struct found f = {.read_only = op == ARM_LOCK_WRITE};
  int rc = 0;
  *locked = NULL;
  for (int i = 0; rc >= 0 && i < c->n; i++)
    rc = meta_resource_list(arm->meta, c->id[i], LOCK_TYPE, NULL, 0, collect, &f);
  if (rc >= 0 && op == ARM_LOCK_DELETE && c->n)
    rc = meta_resource_list_prefix(arm->meta, c->id[c->n - 1], LOCK_TYPE, NULL, 0, collect, &f);
  if (rc >= 0 && !(*locked = arm_lock_scopes_join(&f.scopes)))
    rc = -ENOMEM;
  strlist_free(&f.scopes);
  return rc < 0 ? rc : 0;
}

void arm_scope_locked_message(char *out, size_t cap, const char *scope, const char *verb, const char *locked)
{
  snprintf(out, cap,
           "The scope '%s' cannot perform %s operation because following scope(s) are locked: '%s'. Please remove "
           "the lock and try again.",
           scope, verb, locked);
}

void arm_reply_scope_locked(struct arm_call *call, const char *scope, const char *verb, const char *locked)
{
  char msg[1024]; /* as long as any reply's message (reply.c) */
  arm_scope_locked_message(msg, sizeof msg, scope, verb, locked);
  arm_reply_error(call, 409, "ScopeLocked", "%s", msg);
}

void arm_locks_run(struct arm_call *call)
{
  if (call->lock_op != ARM_LOCK_NONE) {
    struct chain c;
    chain_of(call->segs, call->nsegs, &c);
    char *locked = NULL;
    int rc = refusing(call->arm, &c, call->lock_op, &locked);
    if (rc < 0) {
      arm_reply_internal(call, rc);
      return;
    }
    if (*locked) {
      arm_reply_scope_locked(call, c.id[c.n - 1], call->lock_op == ARM_LOCK_DELETE ? "delete" : "write", locked);
      free(locked);
      return;
    }
    free(locked);
  }
  call->handler(call);
}

int arm_locks_under(struct arm *arm, const char *scope, char **locked)
{
  CLEANUP_FREE char *copy = strdup(scope);
  if (!copy)
    return -ENOMEM;
  char *segs[MAX_SCOPES * 2 + 4], *save = NULL;
  int n = 0;
  for (char *s = strtok_r(copy, "/", &save); s && n < (int)(sizeof segs / sizeof segs[0]); s = strtok_r(NULL, "/", &save))
    segs[n++] = s;
  struct chain c;
  chain_of(segs, n, &c);
  return refusing(arm, &c, ARM_LOCK_DELETE, locked);
}

/* ---- the lock resource --------------------------------------------------------- */

/* Where the route's lock path splits: the index of its
 * providers/Microsoft.Authorization/locks (a list ends there, an item has
 * the lock's name after it). */
static int locks_at(const struct arm_call *call)
{
  int n = call->nsegs;
  bool list = n >= 3 && !strcasecmp(call->segs[n - 1], "locks") &&
              !strcasecmp(call->segs[n - 2], "Microsoft.Authorization");
  return list ? n - 3 : n - 4;
}

enum arm_lock_scope arm_lock_scope_of(const struct arm_call *call)
{
  int k = locks_at(call);
  return k == 2 ? ARM_LOCK_AT_SUBSCRIPTION : k == 4 ? ARM_LOCK_AT_GROUP : ARM_LOCK_AT_RESOURCE;
}

/* The route's scope id (*scope, ID_MAX bytes) as the path names it. */
static void scope_of(const struct arm_call *call, char *scope)
{
  struct chain c;
  chain_of(call->segs, locks_at(call), &c);
  snprintf(scope, ID_MAX, "%s", c.n ? c.id[c.n - 1] : "");
}

static size_t utf8_chars(const char *s)
{
  size_t n = 0;
  for (; *s; s++)
    n += ((unsigned char)*s & 0xc0) != 0x80;
  return n;
}

/* Lock names: 1-260 characters, none of < > % & : \ ? / or a control
 * character (the REST spec's rule). */
static bool lock_name_ok(struct arm_call *call, const char *name)
{
  bool ok = *name != '\0';
  for (const unsigned char *p = (const unsigned char *)name; ok && *p; p++)
    ok = *p >= 0x20 && *p != 0x7f && !strchr("<>%&:\\?/", *p);
  if (ok && utf8_chars(name) <= LOCK_NAME_MAX)
    return true;
  arm_reply_error_target(call, 400, "InvalidParameter", "lockName",
                         "The lock name '%s' is invalid: it can be at most %d characters and cannot contain <, >, %%, "
                         "&, :, \\, ?, / or control characters.",
                         name, LOCK_NAME_MAX);
  return false;
}

/* The route's scope exists here: its group and, for a resource's lock, the
 * resource; for a write, neither being deleted (a lock left on a deleted
 * resource would hold its successor of the same name).  Otherwise replied
 * as ARM words a missing scope. */
static bool scope_found(struct arm_call *call, const char *scope, bool for_write)
{
  enum arm_lock_scope kind = arm_lock_scope_of(call);
  if (kind == ARM_LOCK_AT_SUBSCRIPTION)
    return true; /* the router found it */
  if (!(for_write ? arm_rg_ready(call) : arm_rg_found(call)))
    return false;
  if (kind == ARM_LOCK_AT_GROUP)
    return true;
  struct meta_resource r;
  int rc = meta_resource_get(call->arm->meta, scope, &r);
  json_t *subnet = rc == -ENOENT ? arm_net_subnet_entry(call->arm, scope) : NULL;
  if (subnet) { /* a subnet is an entry of its VNet's row, not a row */
    json_decref(subnet);
    return true;
  }
  if (rc == -ENOENT) {
    /* ARM names a resource by its type path and last name:
     * 'Microsoft.Compute/restorePointCollections/c/restorePoints/r' */
    const char *p = strcasestr(scope, "/providers/");
    const char *last = strrchr(scope, '/');
    char type[ID_MAX];
    snprintf(type, sizeof type, "%.*s", p && last > p ? (int)(last - p - 11) : 0, p ? p + 11 : "");
    arm_reply_not_found(call, type, last ? last + 1 : scope);
    return false;
  }
  if (rc < 0) {
    arm_reply_internal(call, rc);
    return false;
  }
  bool deleting = r.provisioning_state && !strcmp(r.provisioning_state, "Deleting");
  meta_resource_clear(&r);
  if (for_write && deleting) {
    arm_reply_error(call, 409, "Conflict", "The resource '%s' is being deleted: it cannot be locked.", scope);
    return false;
  }
  return true;
}

static json_t *lock_json(const struct meta_resource *r)
{
  json_t *props = r->properties ? json_loads(r->properties, 0, NULL) : NULL;
  return json_pack("{s:o,s:s,s:s,s:s}", "properties", props ? props : json_object(), "id", r->id, "type", LOCK_TYPE,
                   "name", r->name);
}

static const char *const lock_levels[] = {"CanNotDelete", "ReadOnly", NULL};
static const struct arm_member owner_members[] = {ARM_STRING("applicationId", 128), ARM_MEMBERS_END};
static const struct arm_member props_members[] = {
    ARM_ENUM("level", lock_levels), ARM_STRING("notes", 4 * LOCK_NOTES_MAX), ARM_ARRAY("owners", owner_members),
    ARM_MEMBERS_END};
static const struct arm_member lock_members[] = {ARM_OBJECT("properties", props_members), ARM_MEMBERS_END};

static void reply_required(struct arm_call *call, const char *member, const char *path)
{
  arm_reply_error_target(call, 400, "InvalidRequestContent", *path ? path : member,
                         "The request content was invalid and could not be deserialized: 'Required property '%s' not "
                         "found in JSON. Path '%s'.'",
                         member, path);
}

/* The lock's properties from the body, checked: a new reference, or NULL
 * (replied). */
static json_t *lock_properties(struct arm_call *call)
{
  json_t *b = call->body;
  if (!b) {
    reply_required(call, "properties", "");
    return NULL;
  }
  if (!arm_body_normalise(call, b, lock_members) || !arm_body_tree_ok(call, b, NULL, lock_members))
    return NULL;
  json_t *in = json_object_get(b, "properties");
  if (!json_is_object(in)) {
    reply_required(call, "properties", "");
    return NULL;
  }
  const char *level = arm_canonical(json_string_value(json_object_get(in, "level")), lock_levels);
  if (!level) {
    reply_required(call, "level", "properties");
    return NULL;
  }
  const char *notes = json_string_value(json_object_get(in, "notes"));
  if (notes && utf8_chars(notes) > LOCK_NOTES_MAX) {
    arm_reply_error_target(call, 400, "InvalidParameter", "properties.notes",
                           "The value of parameter 'properties.notes' is too long: at most %d characters.",
                           LOCK_NOTES_MAX);
    return NULL;
  }
  json_t *props = json_pack("{s:s}", "level", level);
  if (notes)
    json_object_set_new(props, "notes", json_string(notes));
  json_t *owners = json_object_get(in, "owners");
  if (json_is_array(owners)) {
    json_t *out = json_array();
    size_t i;
    json_t *o;
    json_array_foreach(owners, i, o) {
      json_t *app = json_object_get(o, "applicationId");
      json_array_append_new(out, json_is_string(app) ? json_pack("{s:O}", "applicationId", app) : json_object());
    }
    json_object_set_new(props, "owners", out);
  }
  return props;
}

void arm_lock_put(struct arm_call *call)
{
  const char *name = call->segs[call->nsegs - 1];
  char scope[ID_MAX], id[ID_MAX + 300];
  scope_of(call, scope);
  if (!lock_name_ok(call, name) || !scope_found(call, scope, true))
    return;
  json_t *props = lock_properties(call);
  if (!props)
    return;
  snprintf(id, sizeof id, "%s" LOCKS_SEGMENT "%s", scope, name);
  CLEANUP_FREE char *text = json_dumps(props, JSON_COMPACT);
  json_decref(props);
  struct meta_resource r = {.id = strdup(id), .type = strdup(LOCK_TYPE), .name = strdup(name),
                            .parent_id = strdup(scope), .properties = text ? strdup(text) : NULL,
                            .provisioning_state = strdup("Succeeded")};
  bool created = false;
  int rc = r.id && r.type && r.name && r.parent_id && r.properties && r.provisioning_state ? 0 : -ENOMEM;
  if (rc == 0)
    rc = meta_resource_put(call->arm->meta, &r, NULL, 0, &created);
  if (rc < 0)
    arm_reply_internal(call, rc);
  else
    arm_reply_json(call, created ? 201 : 200, lock_json(&r));
  meta_resource_clear(&r);
}

/* The route's lock row: 0, -ENOENT (no reply), or replied and -errno. */
static int lock_row(struct arm_call *call, struct meta_resource *r)
{
  char scope[ID_MAX], id[ID_MAX + 300];
  scope_of(call, scope);
  snprintf(id, sizeof id, "%s" LOCKS_SEGMENT "%s", scope, call->segs[call->nsegs - 1]);
  int rc = meta_resource_get(call->arm->meta, id, r);
  if (rc == 0 && strcasecmp(r->type, LOCK_TYPE) != 0) {
    meta_resource_clear(r);
    rc = -ENOENT;
  }
  if (rc < 0 && rc != -ENOENT)
    arm_reply_internal(call, rc);
  return rc;
}

void arm_lock_get(struct arm_call *call)
{
  if (arm_lock_scope_of(call) != ARM_LOCK_AT_SUBSCRIPTION && !arm_rg_found(call))
    return;
  struct meta_resource r;
  int rc = lock_row(call, &r);
  if (rc == -ENOENT)
    arm_reply_error(call, 404, "LockNotFound", "The lock '%s' could not be found.", call->segs[call->nsegs - 1]);
  if (rc < 0)
    return;
  arm_reply_json(call, 200, lock_json(&r));
  meta_resource_clear(&r);
}

void arm_lock_delete(struct arm_call *call)
{
  if (arm_lock_scope_of(call) != ARM_LOCK_AT_SUBSCRIPTION && !arm_rg_found(call))
    return;
  struct meta_resource r;
  int rc = lock_row(call, &r);
  if (rc == -ENOENT) {
    arm_reply_empty(call, 204);
    return;
  }
  if (rc < 0)
    return;
  rc = meta_resource_delete(call->arm->meta, r.id);
  if (rc < 0 && rc != -ENOENT)
    arm_reply_internal(call, rc);
  else
    arm_reply_empty(call, rc == 0 ? 200 : 204);
  meta_resource_clear(&r);
}

static int list_one(void *ctx, const struct meta_resource *r)
{
  return json_array_append_new(ctx, lock_json(r)) ? -ENOMEM : 0;
}

void arm_lock_list(struct arm_call *call)
{
  const char *filter = http_query(call->req, "$filter");
  bool at_scope = filter && !strcmp(filter, "atScope()");
  if (filter && !at_scope) {
    arm_reply_error_target(call, 400, "InvalidFilterInQueryString", "$filter",
                           "The $filter '%s' is not supported: atScope() is.", filter);
    return;
  }
  char scope[ID_MAX];
  scope_of(call, scope);
  if (!scope_found(call, scope, false))
    return;
  json_t *value = json_array();
  int rc = 0;
  if (at_scope) { /* the locks that apply at the scope: its own and its ancestors' */
    struct chain c;
    chain_of(call->segs, locks_at(call), &c);
    for (int i = 0; rc >= 0 && i < c.n; i++)
      rc = meta_resource_list(call->arm->meta, c.id[i], LOCK_TYPE, NULL, 0, list_one, value);
  } else { /* its own and those of everything under it */
    rc = meta_resource_list_prefix(call->arm->meta, scope, LOCK_TYPE, NULL, 0, list_one, value);
  }
  if (rc < 0) {
    json_decref(value);
    arm_reply_internal(call, rc);
    return;
  }
  arm_reply_json(call, 200, json_pack("{s:o}", "value", value));
}
