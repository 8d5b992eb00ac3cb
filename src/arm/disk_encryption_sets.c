/*
 * disk_encryption_sets.c — Microsoft.Compute/diskEncryptionSets: customer-
 * managed keys, Azure's way.
 *
 * A set names a customer key (properties.activeKey.keyUrl) that lives in a
 * PKCS#11 token, written as a Key Vault key version is written:
 * https://<token label>.<host>/keys/<key label>/<hex version> (keys.h); its
 * sourceVault, when given, is the token as a Microsoft.KeyVault/vaults id
 * whose name is the token's label.  Creating a set checks the key (it must
 * wrap and unwrap now) and makes a key domain of its own, wrapped by it
 * (region_domain_create); the row holds the domain's id, never a key.  The
 * disks and disk restore points made "in" the set are in that domain, so
 * they read only while the key does: a key destroyed or disabled in the
 * token is a crypto-erase of the set (region/domains.c), a key enabled
 * again gives the data back.
 *
 * A new activeKey.keyUrl is a rotation: the domain is re-wrapped by the new
 * key (the old one must still open it), the data does not change and stays
 * readable, lastKeyRotationTimestamp says when.  The rotation is done when
 * the request answers, so previousKeys — Azure's list of the keys a
 * rotation in progress still uses — is always empty.
 *
 * Every call is synchronous (PUT and PATCH answer 200, DELETE 200 or 204:
 * the codes the SDKs accept for these long-running operations).  DELETE is
 * refused while a disk or a disk restore point of this region is in the
 * set's domain; the domain itself stays in the keyring (copies in another
 * region may be in it): destroying the key is what erases.
 *
 * What vmrp does not do is refused with Azure's errors rather than
 * accepted and ignored: encryption types other than
 * EncryptionAtRestWithCustomerKey, user-assigned identities, automatic
 * rotation to the latest key version, federatedClientId (cross-tenant keys).
 * The errors of a key (docs/encryption.md): a malformed keyUrl or sourceVault
 * 400 InvalidParameter, a key the token lacks 400 KeyVaultKeyNotFound, a
 * disabled key (or a PIN the token refuses) 400 KeyVaultAccessForbidden, no
 * token 400 KeyVaultServiceUnavailable.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>

#include "arm/internal.h"
#include "common/failpoint.h"
#include "common/random.h"
#include "common/timefmt.h"

static const char *const set_types[] = {"EncryptionAtRestWithCustomerKey",
                                        "EncryptionAtRestWithPlatformAndCustomerKeys",
                                        "ConfidentialVmEncryptedWithCustomerKey", NULL};
static const char *const identity_types[] = {"SystemAssigned", "None", "UserAssigned",
                                             "SystemAssigned, UserAssigned", NULL};

static const struct arm_member vault_members[] = {ARM_MEMBER("id", JSON_STRING), ARM_MEMBERS_END};
static const struct arm_member key_members[] = {ARM_STRING("keyUrl", 512), ARM_OBJECT("sourceVault", vault_members),
                                                ARM_MEMBERS_END};
static const struct arm_member set_props[] = {
    ARM_ENUM("encryptionType", set_types), ARM_OBJECT("activeKey", key_members),
    ARM_MEMBER("rotationToLatestKeyVersionEnabled", JSON_TRUE), ARM_MEMBER("federatedClientId", JSON_STRING),
    ARM_MEMBERS_END};
static const struct arm_member identity_members[] = {ARM_ENUM("type", identity_types),
                                                     ARM_MEMBER("userAssignedIdentities", JSON_OBJECT),
                                                     ARM_MEMBERS_END};
static const struct arm_member set_members[] = {ARM_MEMBER("location", JSON_STRING), ARM_MEMBER("tags", JSON_OBJECT),
                                                ARM_OBJECT("identity", identity_members),
                                                ARM_OBJECT("properties", set_props), ARM_MEMBERS_END};

static void set_id(struct arm_call *call, char *out, size_t cap)
{
  snprintf(out, cap, "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/diskEncryptionSets/%s",
           call->params[0], call->params[1], call->params[2]);
}

static void reply_set_not_found(struct arm_call *call) { arm_reply_not_found(call, DES_TYPE, call->params[2]); }

/* The set as ARM returns it.  The row's extra holds {domain, identity}:
 * the domain never leaves it.  activeKey.keyUrl is the key the keyring says
 * wraps the domain: a rotation re-wraps before it updates the row, and a
 * crash between the two must not show the old key as the one the data
 * needs (an operator would destroy the new one). */
static json_t *set_json(struct arm *arm, const struct meta_resource *r)
{
  json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "id", r->id, "name", r->name, "type", DES_TYPE, "location",
                        r->location ? r->location : "");
  json_object_set_new(o, "tags", r->tags ? json_loads(r->tags, 0, NULL) : json_object());
  json_t *extra = json_loads(r->extra ? r->extra : "{}", 0, NULL);
  json_t *identity = json_object_get(extra, "identity");
  if (identity)
    json_object_set(o, "identity", identity);
  json_decref(extra);
  json_t *props = r->properties ? json_loads(r->properties, 0, NULL) : json_object();
  char domain[33], *url = NULL;
  json_t *active = json_object_get(props, "activeKey");
  if (json_is_object(active) && arm_des_domain(r, domain) &&
      region_domain_wrapping(arm->region, domain, &url) == 0 && url)
    json_object_set_new(active, "keyUrl", json_string(url));
  free(url);
  json_object_set_new(props, "previousKeys", json_array());
  json_object_set_new(props, "provisioningState", json_string(r->provisioning_state ? r->provisioning_state : ""));
  json_object_set_new(o, "properties", props);
  return o;
}

static void reply_set(struct arm_call *call, const struct meta_resource *r)
{
  http_response_header(call->resp, "ETag", "%s", r->etag);
  arm_reply_json(call, 200, set_json(call->arm, r));
}

bool arm_des_domain(const struct meta_resource *r, char domain[33])
{
  json_t *extra = json_loads(r->extra ? r->extra : "{}", 0, NULL);
  const char *d = json_string_value(json_object_get(extra, "domain"));
  bool ok = d && strlen(d) == 32;
  if (ok)
    memcpy(domain, d, 33);
  json_decref(extra);
  return ok;
}

void arm_reply_key_error(struct arm_call *call, int status, int err, const char *what)
{
  switch (err) {
  case -ENOKEY:
    arm_reply_error(call, status, "KeyVaultKeyNotFound",
                    "The key of %s was not found in its PKCS#11 token (destroyed, or never made there).", what);
    break;
  case -EKEYREVOKED:
    arm_reply_error(call, status, "KeyVaultAccessForbidden",
                    "The key of %s is disabled in its PKCS#11 token: it may neither wrap nor unwrap; enable it "
                    "to use the data again.",
                    what);
    break;
  case -EACCES:
    arm_reply_error(call, status, "KeyVaultAccessForbidden",
                    "The PKCS#11 token holding the key of %s refuses the region's PIN ([encryption] "
                    "pkcs11_pin_file).",
                    what);
    break;
  case -EKEYREJECTED:
    arm_reply_error(call, status, "KeyVaultAccessForbidden",
                    "The key of %s does not open its key domain (another key under the same label and version?).",
                    what);
    break;
  case -ENODEV:
    arm_reply_error(call, status, "KeyVaultServiceUnavailable",
                    "The PKCS#11 token holding the key of %s is not available (no token of that label, or no "
                    "PKCS#11 module configured: [encryption] pkcs11_module).",
                    what);
    break;
  case -EINVAL:
    arm_reply_error_target(call, 400, "InvalidParameter", "properties.activeKey.keyUrl",
                           "The key URL of %s is not valid: it is "
                           "https://<token label>.<host>/keys/<key label>/<version in hex>.",
                           what);
    break;
  default:
    arm_reply_internal(call, err);
  }
}

/* identity: SystemAssigned gets (or keeps) a principal of its own, None none;
 * user-assigned identities do not exist in vmrp.  false: replied. */
static bool identity_ok(struct arm_call *call, json_t *in, json_t *extra)
{
  const char *type = arm_canonical(json_string_value(json_object_get(in, "type")), identity_types);
  if (!in || json_is_null(in))
    return true;
  if (!type) {
    arm_reply_error_target(call, 400, "InvalidParameter", "identity.type", "Required parameter 'type' is missing (null).");
    return false;
  }
  if (strstr(type, "UserAssigned")) {
    arm_reply_error_target(call, 400, "InvalidParameter", "identity.type",
                           "The identity type '%s' is not supported in this region: a disk encryption set uses its "
                           "SystemAssigned identity.",
                           type);
    return false;
  }
  json_t *have = json_object_get(extra, "identity");
  if (!strcmp(type, "None"))
    json_object_set_new(extra, "identity", json_pack("{s:s}", "type", "None"));
  else if (!json_object_get(have, "principalId")) {
    char principal[UUID_STR_LEN];
    random_uuid(principal);
    json_object_set_new(extra, "identity", json_pack("{s:s,s:s,s:s}", "type", type, "principalId", principal,
                                                     "tenantId", call->arm->cfg.tenant_id));
  }
  return true;
}

/* The body's encryptionType (EncryptionAtRestWithCustomerKey when absent),
 * rotationToLatestKeyVersionEnabled and federatedClientId: what vmrp does
 * is accepted, the rest refused.  false: replied. */
static bool options_ok(struct arm_call *call, json_t *props, const char *have_type)
{
  const char *type = arm_canonical(json_string_value(json_object_get(props, "encryptionType")), set_types);
  json_t *rotate = json_object_get(props, "rotationToLatestKeyVersionEnabled");
  const char *federated = json_string_value(json_object_get(props, "federatedClientId"));
  if (type && have_type && strcmp(type, have_type) != 0) {
    arm_reply_error_target(call, 400, "PropertyChangeNotAllowed", "properties.encryptionType",
                           "Changing property 'encryptionType' is not allowed.");
    return false;
  }
  if (type && strcmp(type, "EncryptionAtRestWithCustomerKey") != 0) {
    arm_reply_error_target(call, 400, "InvalidParameter", "properties.encryptionType",
                           "The encryption type '%s' is not supported in this region: disk encryption sets encrypt "
                           "with EncryptionAtRestWithCustomerKey.",
                           type);
    return false;
  }
  if (json_is_true(rotate)) {
    arm_reply_error_target(call, 400, "InvalidParameter", "properties.rotationToLatestKeyVersionEnabled",
                           "Automatic rotation to the latest key version is not supported in this region: rotate by "
                           "setting a new activeKey.keyUrl.");
    return false;
  }
  if (federated && *federated && strcasecmp(federated, "None") != 0) {
    arm_reply_error_target(call, 400, "InvalidParameter", "properties.federatedClientId",
                           "Cross-tenant keys (federatedClientId) are not supported in this region.");
    return false;
  }
  return true;
}

/* activeKey: a key URL (keys.h's form) and a sourceVault that, when given,
 * is a Microsoft.KeyVault/vaults id naming the URL's token.  false: replied. */
static bool active_key_ok(struct arm_call *call, json_t *key, const char *name)
{
  const char *url = json_string_value(json_object_get(key, "keyUrl"));
  const char *vault = json_string_value(json_object_get(json_object_get(key, "sourceVault"), "id"));
  char what[300];
  snprintf(what, sizeof what, "disk encryption set '%s'", name);
  if (!url) {
    arm_reply_error_target(call, 400, "InvalidParameter", "properties.activeKey.keyUrl",
                           "Required parameter 'activeKey.keyUrl' is missing (null).");
    return false;
  }
  char token[33];
  if (region_key_url_token(url, token) < 0) {
    arm_reply_key_error(call, 400, -EINVAL, what);
    return false;
  }
  if (vault) {
    static const char marker[] = "/providers/Microsoft.KeyVault/vaults/";
    const char *at = strcasestr(vault, marker);
    const char *vault_name = at ? at + strlen(marker) : NULL;
    if (strncasecmp(vault, "/subscriptions/", 15) != 0 || !vault_name || !*vault_name || strchr(vault_name, '/')) {
      arm_reply_error_target(call, 400, "InvalidParameter", "properties.activeKey.sourceVault.id",
                             "The source vault '%s' is not a Microsoft.KeyVault/vaults resource id.", vault);
      return false;
    }
    if (strcasecmp(vault_name, token) != 0) {
      arm_reply_error_target(call, 400, "InvalidParameter", "properties.activeKey.sourceVault.id",
                             "The key '%s' is not in the source vault '%s': its token is '%s'.", url, vault,
                             token);
      return false;
    }
  }
  int rc = region_cmk_check(call->arm->region, url);
  if (rc < 0)
    arm_reply_key_error(call, 400, rc, what);
  return rc == 0;
}

static bool set_body_ok(struct arm_call *call, json_t *b)
{
  if (!arm_body_normalise(call, b, set_members))
    return false;
  return arm_body_tree_ok(call, b, NULL, set_members) && arm_tags_ok(call, json_object_get(b, "tags"));
}

/* Applies b to the set r (tags, identity, activeKey: a new key URL is a
 * rotation) and replies. */
static void update_set_locked(struct arm_call *call, struct meta_resource *r, json_t *b)
{
  json_t *props = json_loads(r->properties ? r->properties : "{}", 0, NULL);
  json_t *extra = json_loads(r->extra ? r->extra : "{}", 0, NULL);
  json_t *in = json_object_get(b, "properties");
  json_t *key = json_object_get(in, "activeKey");
  const char *have_url = json_string_value(json_object_get(json_object_get(props, "activeKey"), "keyUrl"));
  const char *url = json_string_value(json_object_get(key, "keyUrl"));
  char domain[33];
  if (!options_ok(call, in, json_string_value(json_object_get(props, "encryptionType"))) ||
      !identity_ok(call, json_object_get(b, "identity"), extra))
    goto out;
  if (key && !json_is_null(key)) {
    if (!url) /* PATCH may name only the vault */
      json_object_set_new(key, "keyUrl", json_string(have_url ? have_url : ""));
    if (!active_key_ok(call, key, call->params[2]))
      goto out;
    url = json_string_value(json_object_get(key, "keyUrl"));
    const char *if_match = http_header(call->req, "If-Match");
    if (strcmp(url, have_url ? have_url : "") != 0 && if_match && strcmp(if_match, "*") && strcmp(if_match, r->etag)) {
      arm_reply_error(call, 412, "PreconditionFailed", /* before the domain is re-wrapped */
                      "The condition specified using HTTP conditional header(s) is not met.");
      goto out;
    }
    if (strcmp(url, have_url ? have_url : "") != 0) {
      int rc = arm_des_domain(r, domain) ? region_domain_rewrap(call->arm->region, domain, url) : -ENOENT;
      if (rc < 0) {
        char what[300];
        snprintf(what, sizeof what, "disk encryption set '%s' (its current key, which must open the domain to "
                 "re-wrap it)", call->params[2]);
        arm_reply_key_error(call, 400, rc == -ENOENT ? -EIO : rc, what);
        goto out;
      }
      if (failpoint_value("des.rotate.exit_after_rewrap", 0)) /* tests: a crash before the row says so */
        _exit(137);
      char now[TIME_ISO_LEN];
      time_iso8601(time_now_us(), now);
      json_object_set_new(props, "lastKeyRotationTimestamp", json_string(now));
    }
    json_t *stored = json_pack("{s:s}", "keyUrl", url);
    json_t *vault = json_object_get(key, "sourceVault");
    if (json_is_object(vault) && json_object_get(vault, "id"))
      json_object_set_new(stored, "sourceVault", json_pack("{s:O}", "id", json_object_get(vault, "id")));
    json_object_set_new(props, "activeKey", stored);
  }
  free(r->properties);
  r->properties = json_dumps(props, JSON_COMPACT);
  free(r->extra);
  r->extra = json_dumps(extra, JSON_COMPACT);
  if (arm_row_update(call, r, json_object_get(b, "tags")) == 0)
    reply_set(call, r);
out:
  json_decref(props);
  json_decref(extra);
}

/* Updates run one at a time, so the domain's wrapping and the row's
 * activeKey change in the same order. */
static pthread_mutex_t update_lock = PTHREAD_MUTEX_INITIALIZER;

static void update_set(struct arm_call *call, struct meta_resource *r, json_t *b)
{
  pthread_mutex_lock(&update_lock);
  update_set_locked(call, r, b);
  pthread_mutex_unlock(&update_lock);
}

static void create_set(struct arm_call *call, const char *id, json_t *b)
{
  const char *loc = arm_location_here(call, b, DES_TYPE);
  if (!loc)
    return;
  json_t *in = json_object_get(b, "properties");
  json_t *key = json_object_get(in, "activeKey");
  json_t *extra = json_object();
  json_t *props = NULL;
  if (!options_ok(call, in, NULL) || !identity_ok(call, json_object_get(b, "identity"), extra))
    goto out;
  if (!json_is_object(key)) {
    arm_reply_error_target(call, 400, "InvalidParameter", "properties.activeKey",
                           "Required parameter 'activeKey' is missing (null).");
    goto out;
  }
  if (!active_key_ok(call, key, call->params[2]))
    goto out;
  const char *url = json_string_value(json_object_get(key, "keyUrl"));
  char domain[33];
  int rc = region_domain_create(call->arm->region, url, domain);
  if (rc < 0) {
    char what[300];
    snprintf(what, sizeof what, "disk encryption set '%s'", call->params[2]);
    arm_reply_key_error(call, 400, rc, what);
    goto out;
  }
  json_object_set_new(extra, "domain", json_string(domain));
  props = json_pack("{s:s,s:{s:s},s:b}", "encryptionType", "EncryptionAtRestWithCustomerKey", "activeKey", "keyUrl",
                    url, "rotationToLatestKeyVersionEnabled", 0);
  json_t *vault = json_object_get(key, "sourceVault");
  if (json_is_object(vault) && json_object_get(vault, "id"))
    json_object_set_new(json_object_get(props, "activeKey"), "sourceVault",
                        json_pack("{s:O}", "id", json_object_get(vault, "id")));
  char rg[512];
  snprintf(rg, sizeof rg, "/subscriptions/%s/resourceGroups/%s", call->params[0], call->params[1]);
  json_t *tags = json_object_get(b, "tags");
  struct meta_resource n = {.id = strdup(id), .type = strdup(DES_TYPE), .name = strdup(call->params[2]),
                            .parent_id = strdup(rg), .location = strdup(loc),
                            .tags = tags && !json_is_null(tags) ? json_dumps(tags, JSON_COMPACT) : NULL,
                            .properties = json_dumps(props, JSON_COMPACT), .extra = json_dumps(extra, JSON_COMPACT),
                            .provisioning_state = strdup("Succeeded")};
  rc = meta_resource_put(call->arm->meta, &n, NULL, META_PUT_CREATE_ONLY, NULL);
  if (rc < 0) /* the domain nobody names: gone with its key */
    region_domain_delete(call->arm->region, domain);
  if (rc == -EEXIST)
    arm_reply_error(call, 409, "OperationNotAllowed", "Another request is creating disk encryption set '%s'.",
                    call->params[2]);
  else if (rc < 0)
    arm_reply_internal(call, rc);
  else
    reply_set(call, &n);
  meta_resource_clear(&n);
out:
  json_decref(props);
  json_decref(extra);
}

void arm_des_put(struct arm_call *call)
{
  if (!arm_compute_name_valid(call->params[2], 80)) {
    arm_reply_error_target(call, 400, "InvalidResourceName", "diskEncryptionSetName",
                           "The resource name '%s' is invalid. A disk encryption set name can contain only a-z, "
                           "A-Z, 0-9, '_', '-' and '.', start with a letter or digit, end with a letter, digit or "
                           "'_', and be at most 80 characters long.",
                           call->params[2]);
    return;
  }
  if (!arm_rg_ready(call))
    return;
  json_t *b = call->body;
  if (!arm_body_required(call))
    return;
  if (!set_body_ok(call, b))
    return;
  char id[1024];
  set_id(call, id, sizeof id);
  struct meta_resource r;
  int rc = meta_resource_get(call->arm->meta, id, &r);
  if (rc == 0 && strcasecmp(r.type, DES_TYPE) == 0)
    update_set(call, &r, b);
  else if (rc == 0 || rc == -ENOENT)
    create_set(call, id, b);
  else
    arm_reply_internal(call, rc);
  if (rc == 0)
    meta_resource_clear(&r);
}

void arm_des_patch(struct arm_call *call)
{
  json_t *b = call->body ? call->body : (call->body = json_object());
  if (!set_body_ok(call, b))
    return;
  char id[1024];
  set_id(call, id, sizeof id);
  struct meta_resource r;
  if (arm_row_get(call, id, DES_TYPE, reply_set_not_found, &r) < 0)
    return;
  update_set(call, &r, b);
  meta_resource_clear(&r);
}

void arm_des_get(struct arm_call *call)
{
  char id[1024];
  set_id(call, id, sizeof id);
  struct meta_resource r;
  if (arm_row_get(call, id, DES_TYPE, reply_set_not_found, &r) < 0)
    return;
  reply_set(call, &r);
  meta_resource_clear(&r);
}

static json_t *list_json(struct arm_call *call, const struct meta_resource *r)
{
  return set_json(call->arm, r);
}

void arm_des_list(struct arm_call *call) { arm_reply_list(call, DES_TYPE, list_json); }

/* Removes the set's row: 0; -EBUSY (nothing removed) while a disk or a
 * disk restore point of this region is in its domain.  The domain stays in
 * the keyring, wrapped by the customer key: restore points copied under it
 * to another region (which shares the keyring) stay readable there until
 * the key is destroyed. */
static int destroy_set(struct arm *arm, const struct meta_resource *r)
{
  char domain[33];
  int rc = arm_des_domain(r, domain) ? region_domain_in_use(arm->region, domain) : 0;
  if (rc > 0)
    rc = -EBUSY;
  if (rc == 0)
    rc = meta_resource_delete(arm->meta, r->id);
  return rc == -ENOENT ? 0 : rc;
}

void arm_des_delete(struct arm_call *call)
{
  if (!arm_rg_found(call))
    return;
  char id[1024];
  set_id(call, id, sizeof id);
  struct meta_resource r;
  int rc = meta_resource_get(call->arm->meta, id, &r);
  if (rc == 0 && strcasecmp(r.type, DES_TYPE) != 0) {
    meta_resource_clear(&r);
    rc = -ENOENT;
  }
  if (rc == -ENOENT) {
    arm_reply_empty(call, 204);
    return;
  }
  if (rc == 0) {
    rc = destroy_set(call->arm, &r);
    meta_resource_clear(&r);
  }
  if (rc == -EBUSY)
    arm_reply_error(call, 409, "OperationNotAllowed",
                    "Disk encryption set '%s' is in use: disks or disk restore points are encrypted with its key. "
                    "Delete them first.",
                    call->params[2]);
  else if (rc < 0)
    arm_reply_internal(call, rc);
  else
    arm_reply_empty(call, 200);
}
