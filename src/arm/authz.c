/*
 * authz.c — who may do what: the one rule for every scope a request
 * touches, and the one place it is applied.
 *
 * Roles are assigned to a principal's object id on a subscription (or on
 * "*", every subscription): Reader, Contributor, Owner.  A request needs
 *   read    GET, HEAD                 any role on the scope;
 *   write   PUT, PATCH, POST, DELETE  Contributor or Owner;
 *   owner   the store's admin calls   Owner.
 * The scope is not only the URL's subscription.  A request that names a
 * resource in its body (a disk copied or restored from, a collection's
 * source VM, a restore point copied, a disk attached) reads or changes that
 * resource's data whatever it does with it, so each one needs write on its
 * own subscription: the role beginGetAccess on that resource would need.
 * A caller refused there gets Azure's 403 LinkedAuthorizationFailed, and
 * nothing is looked up (so it learns nothing about the resource either).
 *
 * Where it is applied: arm_handle (router.c) checks the URL's scope and then
 * arm_authz_body walks the whole parsed body before any handler runs and
 * before the call is forwarded to another region, so no handler can forget
 * it; a forwarded call is checked again by the region it reaches (its own
 * role table, the caller's identity carried by the peer signature).  A
 * resource named not in the body but in stored state and acted on by this
 * request (a restore point fences its collection's source VM) is checked by
 * its handler with arm_authz_linked.  A peer region's capture call
 * (peer.c) runs as the caller the peer asserts (whose write role on the VM
 * peer.c checks first); a capture for no caller is refused.
 *
 * What names a resource: any string of the body, at any depth, that starts
 * with "subscriptions/" once leading white space and slashes are skipped
 * (the id forms a lookup could still match), except inside "tags", whose
 * values are the user's free text.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"

/* The verb ARM's error names for a request: read, write or delete. */
static const char *verb_of(const char *method)
{
  return !strcmp(method, "GET") || !strcmp(method, "HEAD") ? "read" : !strcmp(method, "DELETE") ? "delete" : "write";
}

/* Whether who's role on sub allows need: 1, 0, or -errno when the role
 * assignments cannot be read (the metadata store failed). */
static int role_allows(struct arm *arm, const struct auth_identity *who, const char *sub, enum arm_need need)
{
  char role[16];
  int r = who->oid[0] ? meta_role_get(arm->meta, who->oid, sub, role, sizeof role) : -ENOENT;
  if (r < 0)
    return r == -ENOENT ? 0 : r;
  switch (need) {
  case ARM_NEED_READ:
    return 1;
  case ARM_NEED_WRITE:
    return !strcasecmp(role, "Contributor") || !strcasecmp(role, "Owner");
  case ARM_NEED_OWNER:
    return !strcasecmp(role, "Owner");
  }
  return 0;
}

bool arm_role_allows(struct arm *arm, const struct auth_identity *who, const char *sub, enum arm_need need)
{
  return role_allows(arm, who, sub, need) > 0;
}

enum arm_need arm_need_of(const char *method)
{
  return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ? ARM_NEED_READ : ARM_NEED_WRITE;
}

bool arm_authz_scope(struct arm_call *call, const char *sub, enum arm_need need, const char *action)
{
  int r = role_allows(call->arm, &call->who, sub, need);
  if (r > 0)
    return true;
  if (r < 0) { /* not a refusal: the caller's role is unknown */
    arm_reply_internal(call, r);
    return false;
  }
  arm_reply_error(call, 403, "AuthorizationFailed",
                  "The client '%s' with object id '%s' does not have authorization to perform action '%s/%s' over "
                  "scope '%s' or the scope is invalid. If access was recently granted, please refresh your "
                  "credentials.",
                  call->who.appid, call->who.oid, action, verb_of(call->req->method), call->req->path);
  return false;
}

/* The subscription a resource id names: its "subscriptions/{sub}" after
 * leading white space and slashes.  0: not an id; -1: an id whose
 * subscription is empty or too long. */
static int id_subscription(const char *s, char *sub, size_t cap)
{
  while (*s == '/' || isspace((unsigned char)*s))
    s++;
  if (strncasecmp(s, "subscriptions/", 14) != 0)
    return 0;
  s += 14;
  size_t n = strcspn(s, "/");
  if (n == 0 || n >= cap)
    return -1;
  memcpy(sub, s, n);
  sub[n] = '\0';
  return 1;
}

int arm_authz_nested(struct arm *arm, const struct auth_identity *who, const char *id, json_t **error)
{
  char sub[128];
  *error = NULL;
  if (id_subscription(id, sub, sizeof sub) > 0 && arm_role_allows(arm, who, sub, ARM_NEED_WRITE))
    return 0;
  const char *end = strcasestr(id, "/providers/Microsoft.Resources/deployments/");
  char message[1024];
  snprintf(message, sizeof message,
           "The client '%s' with object id '%s' does not have authorization to perform action "
           "'Microsoft.Resources/deployments/write' over scope '%.*s' or the scope is invalid. If access was "
           "recently granted, please refresh your credentials.",
           who->appid, who->oid, end ? (int)(end - id) : (int)strlen(id), id);
  *error = json_pack("{s:s,s:s}", "code", "AuthorizationFailed", "message", message);
  return -EACCES;
}

bool arm_authz_linked(struct arm_call *call, const char *id, const char *target)
{
  char sub[128];
  int kind = id_subscription(id, sub, sizeof sub);
  if (kind < 0) {
    arm_reply_error_target(call, 400, "LinkedInvalidPropertyId", target,
                           "Property id '%s' at path '%s' is invalid. Expect fully qualified resource Id that start "
                           "with '/subscriptions/{subscriptionId}'.",
                           id, target);
    return false;
  }
  if (kind == 0 || arm_role_allows(call->arm, &call->who, sub, ARM_NEED_WRITE))
    return true;
  arm_reply_error_target(call, 403, "LinkedAuthorizationFailed", target,
                         "The client '%s' with object id '%s' has permission to perform action on scope '%s'; "
                         "however, it does not have permission to read or change the data of the linked scope(s) "
                         "'%s' (Contributor or Owner on subscription '%s' is needed) or the linked scope(s) are "
                         "invalid.",
                         call->who.appid, call->who.oid, call->req->path, id, sub);
  return false;
}

/* Checks every string under v; path is v's place ("properties.source"). */
static bool walk(struct arm_call *call, json_t *v, char *path, size_t len, size_t cap)
{
  bool ok = true;
  if (json_is_string(v))
    return arm_authz_linked(call, json_string_value(v), len ? path : "(body)");
  if (json_is_object(v)) {
    const char *k;
    json_t *m;
    json_object_foreach(v, k, m) {
      if (!strcasecmp(k, "tags") && json_is_object(m))
        continue;
      int n = snprintf(path + len, cap - len, "%s%s", len ? "." : "", k);
      size_t l = n < 0 || (size_t)n >= cap - len ? cap - 1 : len + (size_t)n;
      if (!(ok = walk(call, m, path, l, cap)))
        break;
    }
  } else if (json_is_array(v)) {
    size_t i;
    json_t *m;
    json_array_foreach(v, i, m) {
      int n = snprintf(path + len, cap - len, "[%zu]", i);
      size_t l = n < 0 || (size_t)n >= cap - len ? cap - 1 : len + (size_t)n;
      if (!(ok = walk(call, m, path, l, cap)))
        break;
    }
  }
  path[len] = '\0';
  return ok;
}

bool arm_authz_body(struct arm_call *call)
{
  char path[256] = "";
  return !call->body || walk(call, call->body, path, 0, sizeof path);
}
