/*
 * encryption.c — the `encryption` property of disks and disk restore points,
 * from what is true at rest (region_volume_encryption,
 * region_image_encryption), never from what a stored document or a request
 * said: a row written by an older vmrp that claimed a platform key loses the
 * claim here.  Azure has no name for "not encrypted", so the property is then
 * left out rather than invented.  Data under a customer key names its disk
 * encryption set: the set whose row holds the data's key domain.
 *
 * And the other way: the key domain a new disk goes in, from its request's
 * `encryption` (Azure's Encryption: type, diskEncryptionSetId) — a set of
 * this region whose key works now — or, when it names none, from its
 * source's (a copy or a restore stays under its source's key).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"

struct set_search {
  const char *domain;
  char *id;
  size_t cap;
};

static int match_set(void *ctx, const struct meta_resource *r)
{
  struct set_search *s = ctx;
  char domain[33];
  if (!arm_des_domain(r, domain) || strcmp(domain, s->domain) != 0)
    return 0;
  snprintf(s->id, s->cap, "%s", r->id);
  return 1;
}

/* The id of the disk encryption set whose domain is domain: 0, -ENOENT. */
static int set_of_domain(struct arm *arm, const char *domain, char *id, size_t cap)
{
  struct set_search s = {domain, id, cap};
  int rc = arm_for_each(arm, DES_TYPE, match_set, &s);
  return rc == 1 ? 0 : rc < 0 ? rc : -ENOENT;
}

void arm_set_encryption(struct arm *arm, json_t *props, const struct region_encryption *enc)
{
  json_object_del(props, "encryption");
  const char *type = region_enc_name(enc->type);
  if (!type)
    return;
  json_t *e = json_pack("{s:s}", "type", type);
  char set[1024];
  if (enc->type == REGION_ENC_CUSTOMER && set_of_domain(arm, enc->domain, set, sizeof set) == 0)
    json_object_set_new(e, "diskEncryptionSetId", json_string(set));
  json_object_set_new(props, "encryption", e);
}

const char *const arm_encryption_types[] = {"EncryptionAtRestWithPlatformKey", "EncryptionAtRestWithCustomerKey",
                                            "EncryptionAtRestWithPlatformAndCustomerKeys", NULL};

/* The set a request names: a Succeeded set of this region, its domain in
 * domain.  false: replied. */
static bool named_set(struct arm_call *call, const char *set_id, const char *target, char domain[33])
{
  struct meta_resource r;
  int rc = meta_resource_get(call->arm->meta, set_id, &r);
  if (rc == 0 && strcasecmp(r.type, DES_TYPE) != 0) {
    meta_resource_clear(&r);
    rc = -ENOENT;
  }
  if (rc == -ENOENT) {
    arm_reply_error_target(call, 400, "InvalidParameter", target,
                           "The disk encryption set '%s' was not found in region '%s' (a disk and its set are in "
                           "the same region).",
                           set_id, call->arm->cfg.locations[0].name);
    return false;
  }
  if (rc < 0) {
    arm_reply_internal(call, rc);
    return false;
  }
  bool ok = arm_des_domain(&r, domain);
  meta_resource_clear(&r);
  if (!ok) {
    arm_reply_internal(call, -EIO);
    return false;
  }
  return arm_key_usable(call, domain, NULL);
}

bool arm_encryption_request(struct arm_call *call, json_t *enc, const char *prefix, const char *source,
                            char domain[33])
{
  char target[200];
  const char *type = arm_canonical(json_string_value(json_object_get(enc, "type")), arm_encryption_types);
  const char *set = json_string_value(json_object_get(enc, "diskEncryptionSetId"));
  if (set && !*set)
    set = NULL;
  if (type && !strcmp(type, "EncryptionAtRestWithPlatformAndCustomerKeys")) {
    snprintf(target, sizeof target, "%s.type", prefix);
    arm_reply_error_target(call, 400, "InvalidParameter", target,
                           "The encryption type '%s' is not supported in this region: use "
                           "EncryptionAtRestWithPlatformKey or EncryptionAtRestWithCustomerKey.",
                           type);
    return false;
  }
  snprintf(target, sizeof target, "%s.diskEncryptionSetId", prefix);
  if (type && !strcmp(type, "EncryptionAtRestWithPlatformKey") && set) {
    arm_reply_error_target(call, 400, "InvalidParameter", target,
                           "A disk encryption set is given with encryption type EncryptionAtRestWithPlatformKey; "
                           "use EncryptionAtRestWithCustomerKey with a set, or the platform key without one.");
    return false;
  }
  if (type && !strcmp(type, "EncryptionAtRestWithCustomerKey") && !set) {
    arm_reply_error_target(call, 400, "InvalidParameter", target,
                           "Encryption type EncryptionAtRestWithCustomerKey needs a diskEncryptionSetId.");
    return false;
  }
  if (set)
    return named_set(call, set, target, domain);
  snprintf(domain, 33, "%s", !type && source ? source : "");
  return true;
}

bool arm_key_usable(struct arm_call *call, const char *domain, const char *of)
{
  int rc = region_domain_probe(call->arm->region, domain);
  if (rc == 0)
    return true;
  char id[1024], set[1100], what[2400];
  if (set_of_domain(call->arm, domain, id, sizeof id) == 0)
    snprintf(set, sizeof set, "disk encryption set '%s'", id);
  else /* a copy's: its set is in the source region */
    snprintf(set, sizeof set, "the disk encryption set (of another region, or deleted)");
  snprintf(what, sizeof what, "%s%s%s%s", set, of ? " (which encrypts " : "", of ? of : "", of ? ")" : "");
  arm_reply_key_error(call, of ? 409 : 400, rc, what);
  return false;
}

/* whether the key of a customer domain opens it now; of: the data */
static bool readable(struct arm_call *call, int rc, const char *domain, const char *kind, const char *name)
{
  if (rc < 0 || !region_domain_is_customer(call->arm->region, domain))
    return true; /* no data to refuse (yet) */
  char of[1200];
  snprintf(of, sizeof of, "%s '%s'", kind, name);
  return arm_key_usable(call, domain, of);
}

bool arm_volume_readable(struct arm_call *call, const char *vol_id, const char *disk_id)
{
  char domain[33] = "";
  int rc = vol_id ? region_volume_domain(call->arm->region, vol_id, domain) : -ENOENT;
  return readable(call, rc, domain, "disk", disk_id);
}

bool arm_disk_readable(struct arm_call *call, const struct meta_resource *disk)
{
  json_t *props = json_loads(disk->properties ? disk->properties : "{}", 0, NULL);
  bool ok = arm_volume_readable(call, json_string_value(json_object_get(props, "uniqueId")), disk->name);
  json_decref(props);
  return ok;
}

bool arm_image_readable(struct arm_call *call, const struct meta_resource *drp)
{
  char domain[33] = "";
  int rc = region_image_domain(call->arm->region, drp->id, domain);
  return readable(call, rc, domain, "disk restore point", drp->name);
}
