/*
 * disks.c — Microsoft.Compute/disks: managed disks backed by live volumes.
 *
 * PUT creates (202 + Azure-AsyncOperation + Location: the az CLI accepts only
 * 200/202 here) or updates; creation runs as a job ("diskCreate") that makes
 * the volume — empty, for createOption Copy a point-in-time copy of the
 * source taken through a fence (VOL_FENCE_ALL), for createOption Restore a
 * lazy volume over a disk restore point's tree (hydration.c) — and then marks
 * the disk Succeeded.  A restored disk is usable at once; the diskHydrate job
 * fills it in the background and properties.vmrpExport.hydration shows
 * {percent, state: Hydrating|Hydrated}.  PATCH changes tags, sku and size (grow only) synchronously.
 * DELETE is refused while the disk is attached to a VM (managedBy), used by
 * an NBD client or reserved for the data plane (ActiveSAS, ReadyToUpload,
 * ActiveUpload: access.c), and otherwise runs as a job ("diskDelete").
 * createOption Upload (uploadSizeBytes = the VHD: disk bytes + 512) makes an
 * empty disk in diskState ReadyToUpload, filled through a Write grant.
 *
 * Disk kinds vmrp does not serve are refused at PUT with Azure's errors:
 * UltraSSD_LRS and PremiumV2_LRS skus, shared disks (maxShares > 1), and
 * createOptions other than Empty, Copy, Restore and Upload.  Restore from a disk restore point that is not complete (being
 * captured, or Failed) is refused with 409 OperationNotAllowed.  The vmrp-specific read-only property
 * properties.vmrpExport, which the official clients ignore, is {nbdAccess, changeTracking, hydration,
 * allocatedBytes}:
 * nbdAccess is the action that grants an NBD capability (nbd_access.c); no address that opens the disk
 * is ever part of the disk's document.
 *
 * Disks are thin: a volume is a sparse file, and the sizes of the region's
 * disks may add up to [disks] overcommit (default 10) times the size of the
 * file system holding them (provision_ok; allocatedBytes shows what each
 * takes).  A full file system fails the write that finds it full (NBD
 * ENOSPC, SAS 500, creation DiskFull), never an acknowledged one.
 *
 * A VM's Empty data disks are made the same way: arm_disk_create_empty()
 * writes the row (attached, Updating) inside the VM request's transaction,
 * and the VM's job runs arm_disk_create_job for it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/timefmt.h"

#define GIB (UINT64_C(1) << 30)
#define MAX_DISK_GB 32767

static const char *const supported_skus[] = {"Standard_LRS", "Premium_LRS", "StandardSSD_LRS", "Premium_ZRS",
                                             "StandardSSD_ZRS", NULL};
static const char *const os_types[] = {"Linux", "Windows", NULL};
static const char *const hyperv_generations[] = {"V1", "V2", NULL};

/* The members of a disk body that vmrp reads or stores (PUT and PATCH). */
static const struct arm_member disk_creation[] = {ARM_MEMBER("createOption", JSON_STRING),
                                                  ARM_MEMBER("sourceResourceId", JSON_STRING),
                                                  ARM_MEMBER("uploadSizeBytes", JSON_INTEGER), ARM_MEMBERS_END};
static const struct arm_member disk_encryption[] = {ARM_ENUM("type", arm_encryption_types),
                                                    ARM_MEMBER("diskEncryptionSetId", JSON_STRING), ARM_MEMBERS_END};
static const struct arm_member disk_props[] = {
    ARM_OBJECT("creationData", disk_creation), ARM_MEMBER("diskSizeGB", JSON_INTEGER),
    ARM_MEMBER("maxShares", JSON_INTEGER),     ARM_ENUM("osType", os_types),
    ARM_ENUM("hyperVGeneration", hyperv_generations), ARM_OBJECT("encryption", disk_encryption), ARM_MEMBERS_END};
static const struct arm_member disk_sku[] = {ARM_MEMBER("name", JSON_STRING), ARM_MEMBERS_END};
static const struct arm_member disk_members[] = {ARM_MEMBER("location", JSON_STRING), ARM_MEMBER("tags", JSON_OBJECT),
                                                 ARM_OBJECT("properties", disk_props), ARM_OBJECT("sku", disk_sku),
                                                 ARM_MEMBERS_END};

/* The body, normalised, by the tables above; replies and false otherwise. */
static bool disk_body_ok(struct arm_call *call, json_t *b)
{
  if (!arm_body_normalise(call, b, disk_members))
    return false;
  json_t *props = json_object_get(b, "properties");
  return arm_body_members_ok(call, b, NULL, disk_members) && arm_tags_ok(call, json_object_get(b, "tags")) &&
         arm_body_members_ok(call, props, NULL, disk_props) &&
         arm_body_members_ok(call, json_object_get(props, "creationData"), "creationData", disk_creation) &&
         arm_body_members_ok(call, json_object_get(props, "encryption"), "encryption", disk_encryption) &&
         arm_body_members_ok(call, json_object_get(b, "sku"), "sku", disk_sku);
}

void arm_disk_id(struct arm_call *call, char *out, size_t cap)
{
  snprintf(out, cap, "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/disks/%s", call->params[0],
           call->params[1], call->params[2]);
}

static const char *sku_tier(const char *sku)
{
  return !strncasecmp(sku, "Premium", 7) ? "Premium" : "Standard";
}

static bool disk_name_ok(struct arm_call *call, const char *name)
{
  bool ok = arm_compute_name_valid(name, 80);
  if (!ok)
    arm_reply_error_target(call, 400, "InvalidResourceName", "diskName",
                           "The resource name '%s' is invalid. A disk name can contain only a-z, A-Z, 0-9, '_', "
                           "'-' and '.', start with a letter or digit, end with a letter, digit or '_', and be at "
                           "most 80 characters long.",
                           name);
  return ok;
}

/* The disk as ARM returns it: the stored envelope and properties plus the
 * live export addresses. */
static json_t *disk_json(struct arm *arm, const struct meta_resource *r)
{
  json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "id", r->id, "name", r->name, "type", DISK_TYPE, "location",
                        r->location ? r->location : "");
  json_object_set_new(o, "tags", r->tags ? json_loads(r->tags, 0, NULL) : json_object());
  json_t *extra = r->extra ? json_loads(r->extra, 0, NULL) : NULL;
  if (extra)
    json_object_update(o, extra);
  json_decref(extra);
  json_t *props = r->properties ? json_loads(r->properties, 0, NULL) : json_object();
  json_object_set_new(props, "provisioningState", json_string(r->provisioning_state ? r->provisioning_state : ""));
  const char *access = arm_disk_access_state(arm, r);
  if (access)
    json_object_set_new(props, "diskState", json_string(access));
  const char *vol_id = json_string_value(json_object_get(props, "uniqueId"));
  struct region_encryption enc = {0};
  if (vol_id)
    region_volume_encryption(arm->region, vol_id, &enc);
  arm_set_encryption(arm, props, &enc);
  struct region_volume_info vi;
  if (vol_id && region_volume_info(arm->region, vol_id, &vi) == 0) {
    /* No address: NBD opens only with a grant's capability (nbd_access.c);
     * nbdAccess says where to ask for one. */
    json_t *exp = json_object();
    char grant[1200];
    snprintf(grant, sizeof grant, "%s/vmrpGrantNbdAccess", r->id);
    json_object_set_new(exp, "nbdAccess", json_string(grant));
    /* Untrusted after an unclean shutdown: the next restore point re-reads
     * every allocated chunk. */
    json_object_set_new(exp, "changeTracking", json_string(vi.cbt_trusted ? "Trusted" : "Untrusted"));
    json_object_set_new(exp, "allocatedBytes", json_integer((json_int_t)vi.allocated)); /* thin: what it takes */
    const char *option = json_string_value(json_object_get(json_object_get(props, "creationData"), "createOption"));
    if (option && !strcmp(option, "Restore")) { /* total 0: hydrated before this start */
      json_object_set_new(exp, "hydration",
                          json_pack("{s:i,s:s}", "percent",
                                    vi.hydrated ? 100 : (int)(100 * vi.hydrate_done / vi.hydrate_total), "state",
                                    vi.hydrated ? "Hydrated" : "Hydrating"));
    }
    json_object_set_new(props, "vmrpExport", exp);
  }
  json_object_set_new(o, "properties", props);
  return o;
}

static void reply_disk(struct arm_call *call, int status, const struct meta_resource *r)
{
  http_response_header(call->resp, "ETag", "%s", r->etag);
  arm_reply_json(call, status, disk_json(call->arm, r));
}

void arm_disk_reply_not_found(struct arm_call *call)
{
  arm_reply_not_found(call, DISK_TYPE, call->params[2]);
}

static bool sku_ok(struct arm_call *call, const char *sku)
{
  for (int i = 0; supported_skus[i]; i++)
    if (!strcasecmp(sku, supported_skus[i]))
      return true;
  arm_reply_error_target(call, 400, "InvalidParameter", "sku.name",
                         "The disk sku '%s' is not supported in this region. Supported skus: Standard_LRS, "
                         "Premium_LRS, StandardSSD_LRS, Premium_ZRS, StandardSSD_ZRS.",
                         sku);
  return false;
}


static int add_provisioned(void *ctx, const struct meta_resource *r)
{
  json_t *p = json_loads(r->properties ? r->properties : "{}", 0, NULL);
  *(uint64_t *)ctx += (uint64_t)json_integer_value(json_object_get(p, "diskSizeBytes"));
  json_decref(p);
  return 0;
}

/* Thin provisioning: more bytes provisioned keep the region's disks within
 * [disks] overcommit × the size of their file system; otherwise replies
 * OperationNotAllowed (gb: the size asked, for the message). */
static bool provision_ok(struct arm_call *call, uint64_t more, json_int_t gb)
{
  uint64_t fs = 0, avail = 0, total = 0;
  uint64_t ratio = call->arm->cfg.disk_overcommit > 0 ? (uint64_t)call->arm->cfg.disk_overcommit : 10;
  int rc = region_volume_fs(call->arm->region, &fs, &avail);
  if (rc == 0)
    rc = arm_for_each(call->arm, DISK_TYPE, add_provisioned, &total);
  if (rc < 0) {
    arm_reply_internal(call, rc);
    return false;
  }
  if (total + more <= ratio * fs)
    return true;
  arm_reply_error_target(call, 400, "OperationNotAllowed", "diskSizeGB",
                         "The requested size of %lld GB would bring the disks of region '%s' to %.1f GB provisioned, "
                         "above its limit of %.1f GB ([disks] overcommit %llu x its %.1f GB data file system, %.1f GB "
                         "free).",
                         (long long)gb, call->arm->cfg.locations[0].name, (double)(total + more) / GIB,
                         (double)(ratio * fs) / GIB, (unsigned long long)ratio, (double)fs / GIB, (double)avail / GIB);
  return false;
}

static bool size_ok(struct arm_call *call, json_t *gb, uint64_t min_bytes, uint64_t have_bytes)
{
  if (!json_is_integer(gb) || json_integer_value(gb) < 1 || json_integer_value(gb) > MAX_DISK_GB) {
    arm_reply_error_target(call, 400, "InvalidParameter", "diskSizeGB",
                           "The value of parameter diskSizeGB is invalid: it must be an integer from 1 to %d.",
                           MAX_DISK_GB);
    return false;
  }
  uint64_t bytes = (uint64_t)json_integer_value(gb) * GIB;
  if (bytes < min_bytes) {
    arm_reply_error_target(call, 400, "OperationNotAllowed", "diskSizeGB",
                           "Cannot resize disk '%s' to a smaller size of %lld GB; disks can only grow (current or "
                           "source size %llu GB).",
                           call->params[2], (long long)json_integer_value(gb), (unsigned long long)(min_bytes / GIB));
    return false;
  }
  if (bytes > have_bytes)
    return provision_ok(call, bytes - have_bytes, json_integer_value(gb));
  return true;
}

/* Source disk of a Copy: an existing, Succeeded disk of this region. */
static int copy_source(struct arm_call *call, const char *src_id, uint64_t *size, char vol_id[40])
{
  struct meta_resource src;
  int rc = meta_resource_get(call->arm->meta, src_id, &src);
  if (rc == 0 && strcasecmp(src.type, DISK_TYPE) != 0)
    rc = -ENOENT;
  if (rc < 0) {
    if (rc == 0)
      meta_resource_clear(&src);
    arm_reply_error_target(call, 404, "NotFound", "creationData.sourceResourceId",
                           "The source disk '%s' was not found in region '%s'.", src_id,
                           call->arm->cfg.locations[0].name);
    return -ENOENT;
  }
  json_t *props = json_loads(src.properties ? src.properties : "{}", 0, NULL);
  const char *vid = json_string_value(json_object_get(props, "uniqueId"));
  bool ready = src.provisioning_state && !strcmp(src.provisioning_state, "Succeeded") && vid;
  if (ready) {
    snprintf(vol_id, 40, "%s", vid);
    *size = (uint64_t)json_integer_value(json_object_get(props, "diskSizeBytes"));
  }
  json_decref(props);
  meta_resource_clear(&src);
  if (!ready) {
    arm_reply_error(call, 409, "OperationNotAllowed", "The source disk '%s' is not ready to be copied.", src_id);
    return -EBUSY;
  }
  return 0;
}

/* A new disk row in state Updating (its creation job makes the volume):
 * properties from the request's props (creationData, osType,
 * hyperVGeneration), sku, tags, and managedBy when a VM creates it. */
static void new_disk_row(struct meta_resource *r, const char *id, const char *name, const char *rg, const char *loc,
                         const char *option, uint64_t size, json_t *props, const char *sku_name, json_t *tags,
                         const char *managed_by)
{
  json_t *cd = json_object_get(props, "creationData");
  char created[TIME_ISO_LEN];
  time_iso8601(time_now_us(), created);
  json_t *p = json_pack("{s:{s:s},s:I,s:I,s:s,s:s,s:s,s:s}", "creationData", "createOption", option,
                        "diskSizeGB", (json_int_t)((size + GIB - 1) / GIB), "diskSizeBytes", (json_int_t)size, "timeCreated",
                        created, "diskState", managed_by ? "Attached" : !strcmp(option, "Upload") ? "ReadyToUpload"
                                                                      : "Unattached", "networkAccessPolicy",
                        "AllowAll", "publicNetworkAccess",
                        "Enabled");
  if (!strcmp(option, "Copy") || !strcmp(option, "Restore"))
    json_object_set(json_object_get(p, "creationData"), "sourceResourceId",
                    json_object_get(cd, "sourceResourceId"));
  if (!strcmp(option, "Upload"))
    json_object_set_new(json_object_get(p, "creationData"), "uploadSizeBytes", json_integer((json_int_t)size + 512));
  arm_set_canonical(p, props, "osType", os_types);
  arm_set_canonical(p, props, "hyperVGeneration", hyperv_generations);
  const char *sku_final = sku_name ? sku_name : "Standard_LRS";
  for (int i = 0; supported_skus[i]; i++)
    if (!strcasecmp(sku_final, supported_skus[i]))
      sku_final = supported_skus[i];
  json_t *extra = json_pack("{s:{s:s,s:s}}", "sku", "name", sku_final, "tier", sku_tier(sku_final));
  if (managed_by)
    json_object_set_new(extra, "managedBy", json_string(managed_by));
  *r = (struct meta_resource){.id = strdup(id), .type = strdup(DISK_TYPE), .name = strdup(name),
                              .parent_id = strdup(rg), .location = strdup(loc),
                              .tags = tags && !json_is_null(tags) ? json_dumps(tags, JSON_COMPACT) : NULL,
                              .properties = json_dumps(p, JSON_COMPACT), .extra = json_dumps(extra, JSON_COMPACT),
                              .provisioning_state = strdup("Updating")};
  json_decref(p);
  json_decref(extra);
}

int arm_disk_create_empty(struct arm_call *call, const char *id, const char *name, const char *rg_id,
                          json_t *size_gb, const char *sku_name, const char *vm_id)
{
  if (!disk_name_ok(call, name) || (sku_name && !sku_ok(call, sku_name)) || !size_ok(call, size_gb, 0, 0))
    return -EINVAL;
  uint64_t size = (uint64_t)json_integer_value(size_gb) * GIB;
  struct meta_resource r;
  new_disk_row(&r, id, name, rg_id, call->arm->cfg.locations[0].name, "Empty", size, NULL, sku_name, NULL, vm_id);
  int rc = meta_resource_put(call->arm->meta, &r, NULL, META_PUT_CREATE_ONLY, NULL);
  meta_resource_clear(&r);
  return rc;
}

/* Source of a Restore: a complete disk restore point of this region. */
static int restore_source(struct arm_call *call, const char *src_id, uint64_t *size, char root[65])
{
  int rc = region_image_source(call->arm->region, src_id, root, size);
  if (rc == -ENOENT)
    arm_reply_error_target(call, 404, "NotFound", "creationData.sourceResourceId",
                           "The disk restore point '%s' was not found in region '%s'.", src_id,
                           call->arm->cfg.locations[0].name);
  else if (rc == -EBUSY)
    arm_reply_error_target(call, 409, "OperationNotAllowed", "creationData.sourceResourceId",
                           "The disk restore point '%s' is not complete (it is still being captured, or its restore "
                           "point failed) and cannot be restored from.",
                           src_id);
  else if (rc < 0)
    arm_reply_internal(call, rc);
  return rc;
}

/* The key domain of a new disk (arm_encryption_request): its request's
 * encryption, else its source's — a disk restore point (drp) or a disk's
 * volume (vol, "" for none) — whose key must work now.  false: replied. */
static bool new_disk_domain(struct arm_call *call, json_t *props, const char *drp, const char *vol, char domain[33])
{
  struct region *rg = call->arm->region;
  char src[33] = "";
  if (drp)
    region_image_domain(rg, drp, src);
  else if (*vol)
    region_volume_domain(rg, vol, src);
  bool customer = region_domain_is_customer(rg, src);
  const char *src_id = json_string_value(json_object_get(json_object_get(props, "creationData"), "sourceResourceId"));
  char of[1200];
  snprintf(of, sizeof of, "the source '%s'", src_id ? src_id : "");
  if (customer && !arm_key_usable(call, src, of))
    return false;
  return arm_encryption_request(call, json_object_get(props, "encryption"), "properties.encryption",
                                customer ? src : NULL, domain);
}

/* PUT on an existing disk: the update subset (tags, sku, grow). */
static void update_disk(struct arm_call *call, struct meta_resource *r, json_t *b);

void arm_disk_put(struct arm_call *call)
{
  if (!disk_name_ok(call, call->params[2]) || !arm_rg_ready(call))
    return;
  json_t *b = call->body;
  if (!b) {
    arm_reply_error(call, 400, "InvalidRequestContent",
                    "The request content was invalid and could not be deserialized: 'a disk body is required.'");
    return;
  }
  if (!disk_body_ok(call, b))
    return;
  json_t *props = json_object_get(b, "properties"), *sku = json_object_get(b, "sku");
  const char *loc = arm_location_here(call, b, "Microsoft.Compute/disks");
  if (!loc)
    return;
  const char *sku_name = json_string_value(json_object_get(sku, "name"));
  if (sku_name && !sku_ok(call, sku_name))
    return;
  json_t *shares = json_object_get(props, "maxShares");
  if (json_is_integer(shares) && json_integer_value(shares) > 1) {
    arm_reply_error_target(call, 400, "InvalidParameter", "maxShares",
                           "Shared disks (maxShares > 1) are not supported in this region.");
    return;
  }

  char id[1024];
  arm_disk_id(call, id, sizeof id);
  struct meta_resource old;
  int rc = meta_resource_get(call->arm->meta, id, &old);
  if (rc == 0) {
    update_disk(call, &old, b);
    meta_resource_clear(&old);
    return;
  }
  if (rc != -ENOENT) {
    arm_reply_internal(call, rc);
    return;
  }

  json_t *cd = json_object_get(props, "creationData");
  const char *option = json_string_value(json_object_get(cd, "createOption"));
  if (!option) {
    arm_reply_error_target(call, 400, "InvalidParameter", "creationData.createOption",
                           "Required parameter 'createOption' is missing (null).");
    return;
  }
  uint64_t size = 0, src_size = 0;
  char src_vol[40] = "";
  char root[65];
  bool restore = false;
  json_t *gb = json_object_get(props, "diskSizeGB");
  if (!strcasecmp(option, "Empty")) {
    option = "Empty";
    if (!gb) {
      arm_reply_error_target(call, 400, "InvalidParameter", "diskSizeGB",
                             "Required parameter 'diskSizeGB' is missing (null).");
      return;
    }
    if (!size_ok(call, gb, 0, 0))
      return;
    size = (uint64_t)json_integer_value(gb) * GIB;
  } else if (!strcasecmp(option, "Copy") || !strcasecmp(option, "Restore")) {
    restore = !strcasecmp(option, "Restore");
    option = restore ? "Restore" : "Copy";
    const char *src = json_string_value(json_object_get(cd, "sourceResourceId"));
    if (!src) {
      arm_reply_error_target(call, 400, "InvalidParameter", "creationData.sourceResourceId",
                             "Required parameter 'sourceResourceId' is missing (null).");
      return;
    }
    if ((restore ? restore_source(call, src, &src_size, root) : copy_source(call, src, &src_size, src_vol)) < 0)
      return;
    if (gb && !size_ok(call, gb, src_size, 0))
      return;
    json_t *src_gb = json_integer((json_int_t)((src_size + GIB - 1) / GIB));
    bool fits = gb || size_ok(call, src_gb, 0, 0);
    json_decref(src_gb);
    if (!fits)
      return;
    size = gb ? (uint64_t)json_integer_value(gb) * GIB : src_size;
  } else if (!strcasecmp(option, "Upload")) {
    option = "Upload";
    json_t *up = json_object_get(cd, "uploadSizeBytes");
    const uint64_t MIB = 1 << 20, lo = 20 * MIB + 512, hi = (UINT64_C(32) << 40) + 512;
    if (!json_is_integer(up)) {
      arm_reply_error_target(call, 400, "InvalidParameter", "creationData.uploadSizeBytes",
                             "Required parameter 'uploadSizeBytes' is missing (null) or not an integer.");
      return;
    }
    json_int_t v = json_integer_value(up);
    if (v < (json_int_t)lo || v > (json_int_t)hi || (v - 512) % (json_int_t)MIB != 0) {
      arm_reply_error_target(call, 400, "InvalidParameter", "creationData.uploadSizeBytes",
                             "The value %lld of uploadSizeBytes is invalid: it is the size of the VHD to upload "
                             "(the disk's bytes, a multiple of 1 MiB, plus its 512-byte footer), from %llu to %llu.",
                             (long long)v, (unsigned long long)lo, (unsigned long long)hi);
      return;
    }
    size = (uint64_t)v - 512;
  } else {
    arm_reply_error_target(call, 400, "InvalidParameter", "creationData.createOption",
                           "The value '%s' of createOption is not supported for disks in this region; use Empty, "
                           "Copy, Restore or Upload.",
                           option);
    return;
  }

  char domain[33];
  if (!new_disk_domain(call, props, restore ? json_string_value(json_object_get(cd, "sourceResourceId")) : NULL,
                       src_vol, domain))
    return;
  char rg[512];
  snprintf(rg, sizeof rg, "/subscriptions/%s/resourceGroups/%s", call->params[0], call->params[1]);
  json_t *pl = json_pack("{s:I,s:s,s:s}", "size", (json_int_t)size, "source", src_vol, "domain", domain);
  if (restore) { /* the tree, as it was checked now; the job holds it against GC */
    json_object_set_new(pl, "restore", json_pack("{s:s,s:I,s:O}", "root", root, "size", (json_int_t)src_size, "id",
                                                 json_object_get(cd, "sourceResourceId")));
  }
  CLEANUP_FREE char *payload = json_dumps(pl, JSON_COMPACT);
  json_decref(pl);
  struct meta_resource r;
  new_disk_row(&r, id, call->params[2], rg, loc, option, size, props, sku_name, json_object_get(b, "tags"), NULL);
  char op_id[40];
  struct meta *m = call->arm->meta;
  rc = meta_begin(m);
  if (rc == 0)
    rc = meta_resource_put(m, &r, NULL, META_PUT_CREATE_ONLY, NULL);
  if (rc == 0)
    rc = arm_op_create(call, "Microsoft.Compute", "diskCreate", r.id, payload, op_id);
  if (rc == 0)
    rc = meta_commit(m);
  else
    meta_rollback(m);
  if (rc == -EEXIST)
    arm_reply_error(call, 409, "OperationNotAllowed", "Another request is creating disk '%s'.", call->params[2]);
  else if (rc < 0)
    arm_reply_internal(call, rc);
  else {
    jobs_submit(call->arm->jobs, op_id);
    arm_lro_headers(call, "Microsoft.Compute", op_id, LRO_ASYNC_OPERATION | LRO_LOCATION);
    reply_disk(call, 202, &r);
  }
  meta_resource_clear(&r);
}

/* Whether enc, the encryption an update asks for, is the disk's (whose
 * volume is vol_id): a disk stays under the key it was made with.  false:
 * replied. */
static bool encryption_kept(struct arm_call *call, const char *vol_id, json_t *enc)
{
  if (!enc || json_is_null(enc))
    return true;
  char have[33] = "", want[33];
  if (vol_id)
    region_volume_domain(call->arm->region, vol_id, have);
  if (!region_domain_is_customer(call->arm->region, have))
    have[0] = '\0';
  if (!arm_encryption_request(call, enc, "properties.encryption", *have ? have : NULL, want))
    return false;
  bool same = !strcmp(want, have);
  if (!same)
    arm_reply_error_target(call, 409, "OperationNotAllowed", "properties.encryption",
                           "Changing the encryption of disk '%s' is not supported in this region: a disk stays under "
                           "the key it was created with (create a copy under the other key instead).",
                           call->params[2]);
  return same;
}

/* Applies tags / sku / diskSizeGB from b to disk r and replies. */
static void apply_update(struct arm_call *call, struct meta_resource *r, json_t *b)
{
  if (!r->provisioning_state || strcmp(r->provisioning_state, "Succeeded") != 0) {
    arm_reply_error(call, 409, "OperationNotAllowed", "Disk '%s' is busy (%s); retry when it is Succeeded.",
                    call->params[2], r->provisioning_state ? r->provisioning_state : "?");
    return;
  }
  json_t *props = json_loads(r->properties ? r->properties : "{}", 0, NULL);
  json_t *extra = json_loads(r->extra ? r->extra : "{}", 0, NULL);
  json_t *in_props = json_object_get(b, "properties");
  json_t *gb = json_object_get(in_props, "diskSizeGB");
  uint64_t cur = (uint64_t)json_integer_value(json_object_get(props, "diskSizeBytes"));
  const char *vol_id = json_string_value(json_object_get(props, "uniqueId"));
  if (!encryption_kept(call, vol_id, json_object_get(in_props, "encryption")))
    goto out;
  if (gb && !json_is_null(gb) && (uint64_t)json_integer_value(gb) * GIB != cur) {
    if (!size_ok(call, gb, cur, cur))
      goto out;
    uint64_t want = (uint64_t)json_integer_value(gb) * GIB;
    int rc = vol_id ? region_volume_grow(call->arm->region, vol_id, want) : -ENOENT;
    if (rc < 0) {
      arm_reply_error(call, 409, "OperationNotAllowed", "Disk '%s' cannot be resized now (%s).", call->params[2],
                      strerror(-rc));
      goto out;
    }
    json_object_set_new(props, "diskSizeGB", json_integer((json_int_t)(want / GIB)));
    json_object_set_new(props, "diskSizeBytes", json_integer((json_int_t)want));
  }
  const char *sku = json_string_value(json_object_get(json_object_get(b, "sku"), "name"));
  if (sku) {
    for (int i = 0; supported_skus[i]; i++)
      if (!strcasecmp(sku, supported_skus[i]))
        sku = supported_skus[i];
    json_object_set_new(extra, "sku", json_pack("{s:s,s:s}", "name", sku, "tier", sku_tier(sku)));
  }
  free(r->properties);
  r->properties = json_dumps(props, JSON_COMPACT);
  free(r->extra);
  r->extra = json_dumps(extra, JSON_COMPACT);
  if (arm_row_update(call, r, json_object_get(b, "tags")) == 0)
    reply_disk(call, 200, r);
out:
  json_decref(props);
  json_decref(extra);
}

static void update_disk(struct arm_call *call, struct meta_resource *r, json_t *b)
{
  json_t *cd = json_object_get(json_object_get(b, "properties"), "creationData");
  json_t *props = json_loads(r->properties ? r->properties : "{}", 0, NULL);
  const char *have = json_string_value(json_object_get(json_object_get(props, "creationData"), "createOption"));
  const char *want = json_string_value(json_object_get(cd, "createOption"));
  bool changed = want && have && strcasecmp(want, have) != 0;
  json_decref(props);
  if (changed) {
    arm_reply_error_target(call, 400, "PropertyChangeNotAllowed", "creationData.createOption",
                           "Changing property 'creationData.createOption' is not allowed.");
    return;
  }
  apply_update(call, r, b);
}

void arm_disk_patch(struct arm_call *call)
{
  json_t *b = call->body ? call->body : (call->body = json_object());
  if (!disk_body_ok(call, b))
    return;
  const char *sku_name = json_string_value(json_object_get(json_object_get(b, "sku"), "name"));
  if (sku_name && !sku_ok(call, sku_name))
    return;
  char id[1024];
  arm_disk_id(call, id, sizeof id);
  struct meta_resource r;
  int rc = meta_resource_get(call->arm->meta, id, &r);
  if (rc == -ENOENT) {
    arm_disk_reply_not_found(call);
    return;
  }
  if (rc < 0) {
    arm_reply_internal(call, rc);
    return;
  }
  apply_update(call, &r, b);
  meta_resource_clear(&r);
}

void arm_disk_get(struct arm_call *call)
{
  char id[1024];
  arm_disk_id(call, id, sizeof id);
  struct meta_resource r;
  int rc = meta_resource_get(call->arm->meta, id, &r);
  if (rc == -ENOENT) {
    arm_disk_reply_not_found(call);
    return;
  }
  if (rc < 0) {
    arm_reply_internal(call, rc);
    return;
  }
  reply_disk(call, 200, &r);
  meta_resource_clear(&r);
}

/* Why a disk cannot go now, as an ARM error reply; false when it can. */
static bool refuse_delete(struct arm_call *call, const struct meta_resource *r)
{
  json_t *extra = json_loads(r->extra ? r->extra : "{}", 0, NULL);
  json_t *props = json_loads(r->properties ? r->properties : "{}", 0, NULL);
  const char *vm = json_string_value(json_object_get(extra, "managedBy"));
  const char *vol_id = json_string_value(json_object_get(props, "uniqueId")), *access;
  bool refused = true;
  if (vm)
    arm_reply_error(call, 409, "OperationNotAllowed", "Disk %s is attached to VM %s.", call->params[2], vm);
  else if (vol_id && region_volume_in_use(call->arm->region, vol_id))
    arm_reply_error(call, 409, "OperationNotAllowed",
                    "Disk %s is in use by an NBD client; disconnect it before deleting the disk.", call->params[2]);
  else if (r->provisioning_state && !strcmp(r->provisioning_state, "Updating"))
    arm_reply_error(call, 409, "OperationNotAllowed", "Disk %s is being created; retry when it is Succeeded.",
                    call->params[2]);
  else if ((access = arm_disk_access_state(call->arm, r)) && strcmp(access, "ReadyToUpload"))
    arm_reply_error(call, 409, "OperationNotAllowed", "Disk %s is in state %s; end its access with endGetAccess "
                    "before deleting it.", call->params[2], access);
  else
    refused = false;
  json_decref(extra);
  json_decref(props);
  return refused;
}

void arm_disk_delete(struct arm_call *call)
{
  char id[1024];
  arm_disk_id(call, id, sizeof id);
  arm_start_delete(call, id, DISK_TYPE, "diskDelete", refuse_delete);
}

static json_t *list_json(struct arm_call *call, const struct meta_resource *r) { return disk_json(call->arm, r); }

void arm_disk_list(struct arm_call *call) { arm_reply_list(call, DISK_TYPE, list_json); }

/* ---- jobs ---------------------------------------------------------------- */

static bool copy_progress(void *ctx, double percent)
{
  jobs_progress(ctx, percent);
  return !jobs_should_stop(ctx);
}

enum job_outcome arm_disk_create_job(void *app, struct job *job, const struct meta_operation *op,
                                     struct job_result *res)
{
  struct arm *arm = app;
  struct meta_resource r;
  if (meta_resource_get(arm->meta, op->resource_id, &r) < 0)
    return JOB_DONE; /* deleted meanwhile */
  json_t *payload = json_loads(op->payload ? op->payload : "{}", 0, NULL);
  json_t *props = json_loads(r.properties ? r.properties : "{}", 0, NULL);
  uint64_t size = (uint64_t)json_integer_value(json_object_get(payload, "size"));
  const char *src = json_string_value(json_object_get(payload, "source"));
  const char *domain = json_string_value(json_object_get(payload, "domain"));
  domain = domain ? domain : ""; /* an operation of an older vmrp */
  enum job_outcome outcome = JOB_FAILED;
  /* A previous attempt's volume is partial: start from a fresh one. */
  struct meta_volume old;
  if (meta_volume_by_resource(arm->meta, r.id, &old) == 0) {
    region_volume_destroy(arm->region, old.id);
    meta_volume_clear(&old);
  }
  char vol_id[40];
  json_t *rs = json_object_get(payload, "restore");
  struct region_restore_source hs = {.root = json_string_value(json_object_get(rs, "root")),
                                     .size = (uint64_t)json_integer_value(json_object_get(rs, "size")),
                                     .image_id = json_string_value(json_object_get(rs, "id"))};
  int rc = rs && !hs.root ? -EINVAL : 0;
  if (rc == 0)
    rc = region_volume_create(arm->region, r.id, size, rs ? &hs : NULL, *domain ? domain : NULL, vol_id);
  if (rc == 0 && rs) /* before Succeeded: a crash after it still hydrates */
    rc = arm_disk_hydrate_start(arm, op->subscription, r.id, vol_id);
  if (rc == 0 && src && *src) {
    rc = region_volume_copy(arm->region, src, vol_id, copy_progress, job);
    if (rc == -EINTR) {
      outcome = JOB_INTERRUPTED;
      goto out;
    }
  }
  if (rc == 0) {
    json_object_set_new(props, "uniqueId", json_string(vol_id));
    free(r.properties);
    r.properties = json_dumps(props, JSON_COMPACT);
    free(r.provisioning_state);
    r.provisioning_state = strdup("Succeeded");
    rc = meta_resource_put(arm->meta, &r, NULL, 0, NULL);
  }
  if (rc == 0) {
    outcome = JOB_DONE;
  } else {
    char msg[512];
    bool gone = rs && rc == -ENOENT;
    if (gone)
      snprintf(msg, sizeof msg, "The disk restore point '%s' was deleted before the disk could be created.",
               hs.image_id ? hs.image_id : "");
    else
      snprintf(msg, sizeof msg, "Creating the disk failed: %s.", strerror(-rc));
    res->error = arm_error_text(gone ? "NotFound" : rc == -ENOSPC ? "DiskFull" : "InternalDiskManagementError", msg);
    free(r.provisioning_state);
    r.provisioning_state = strdup("Failed");
    meta_resource_put(arm->meta, &r, NULL, 0, NULL);
  }
out:
  json_decref(payload);
  json_decref(props);
  meta_resource_clear(&r);
  return outcome;
}

/* Removes the disk's volume and row; -EBUSY while an NBD client uses it. */
static int destroy_disk(struct arm *arm, const struct meta_resource *r)
{
  struct meta_volume mv;
  int rc = meta_volume_by_resource(arm->meta, r->id, &mv);
  if (rc == 0) {
    rc = region_volume_destroy(arm->region, mv.id);
    meta_volume_clear(&mv);
  } else if (rc == -ENOENT) {
    rc = 0;
  }
  if (rc == 0) {
    rc = meta_resource_delete(arm->meta, r->id);
    if (rc == -ENOENT)
      rc = 0;
  }
  return rc;
}

int arm_disk_delete_child(struct arm *arm, const struct meta_resource *r)
{
  return destroy_disk(arm, r);
}

enum job_outcome arm_disk_delete_job(void *app, struct job *job, const struct meta_operation *op,
                                     struct job_result *res)
{
  struct arm *arm = app;
  (void)job;
  struct meta_resource r;
  if (meta_resource_get(arm->meta, op->resource_id, &r) < 0)
    return JOB_DONE;
  int rc = destroy_disk(arm, &r);
  if (rc < 0) {
    res->error = arm_error_text(rc == -EBUSY ? "OperationNotAllowed" : "InternalDiskManagementError",
                                rc == -EBUSY ? "The disk is in use by an NBD client." : "Deleting the disk failed.");
    free(r.provisioning_state);
    r.provisioning_state = strdup("Succeeded");
    meta_resource_put(arm->meta, &r, NULL, 0, NULL);
  }
  meta_resource_clear(&r);
  return rc < 0 ? JOB_FAILED : JOB_DONE;
}
