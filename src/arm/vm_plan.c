/*
 * vm_plan.c — checking a virtual machine PUT/PATCH and planning it: the new
 * configuration and the disk attachments to write.
 *
 * A request is checked twice.  arm_vm_plan_body_ok looks at the body alone
 * (member types, supported configurations, luns); arm_vm_plan_make then
 * works inside the handler's transaction: it merges or replaces the
 * profiles, resolves each disk against the store and the VM's current
 * entries, and creates the rows of Empty data disks.  The result is a
 * struct vm_plan that the handler writes (arm_vm_plan_apply, then the VM row
 * and the vmCreate operation) in that same transaction.
 *
 * Attachment invariant: a disk listed in a VM's storageProfile has
 * managedBy = that VM's id and diskState Attached, and a disk no VM lists has
 * neither.  Every PUT/PATCH resolves the disks, checks them and writes the
 * disk rows, the VM row and the operation in one transaction, so a refused
 * request changes nothing and two VMs cannot take the same disk.  Detach
 * clears managedBy only where it names this VM, so a VM delete or a resource
 * group delete may run in any order with the deletion of its disks.
 *
 * A disk is thus Unattached (no managedBy) or Attached to one VM; an Empty
 * data disk is born Attached and Updating, and the vmCreate job provisions
 * it (vm_jobs.c).  The OS disk is attached at create and then never changes;
 * an attached disk changes only its caching and deleteOption.
 *
 * Secrets (osProfile.adminPassword, customData, unattend content, userData)
 * are accepted and dropped before anything is stored: only an allow-list of
 * osProfile members is kept.  Refused at PUT with Azure's errors: unmanaged
 * disks (vhd), ephemeral OS disks (diffDiskSettings), write accelerator,
 * OS disks other than Attach, duplicate or out-of-range luns, a disk that is
 * missing (404) or attached to another VM (409), a network interface that is
 * missing or another VM's (400, network_refs.c).  The functions that take the
 * call reply when they refuse.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"
#include "arm/network.h"
#include "arm/vm.h"

#define MAX_LUN 63
#define MAX_DATA_DISKS (MAX_LUN + 1)

/* ---- request checks -------------------------------------------------------- */

static const char *const caching_values[] = {"None", "ReadOnly", "ReadWrite", NULL};
static const char *const delete_values[] = {"Delete", "Detach", NULL};
static const char *const os_types[] = {"Linux", "Windows", NULL};
static const char *const account_types[] = {"Standard_LRS", "Premium_LRS", "StandardSSD_LRS", "UltraSSD_LRS",
                                            "Premium_ZRS", "StandardSSD_ZRS", "PremiumV2_LRS", NULL};

/* The members vmrp reads or stores, with their types, values and bounds:
 * a disk entry (osDisk, dataDisks[i]) and its managedDisk. */
static const struct arm_member managed_disk[] = {ARM_MEMBER("id", JSON_STRING),
                                                 ARM_ENUM("storageAccountType", account_types), ARM_MEMBERS_END};
static const struct arm_member disk_entry[] = {
    ARM_MEMBER("lun", JSON_INTEGER),       ARM_STRING("name", 80),
    ARM_MEMBER("createOption", JSON_STRING), ARM_ENUM("caching", caching_values),
    ARM_MEMBER("diskSizeGB", JSON_INTEGER), ARM_ENUM("deleteOption", delete_values),
    ARM_ENUM("osType", os_types),          ARM_OBJECT("managedDisk", managed_disk),
    ARM_MEMBER("writeAcceleratorEnabled", JSON_TRUE), ARM_MEMBER("toBeDetached", JSON_TRUE),
    ARM_MEMBER("vhd", JSON_OBJECT),        ARM_MEMBER("diffDiskSettings", JSON_OBJECT), ARM_MEMBERS_END};
/* the VM body: Azure's VM sizes are at most 64 characters long, computer and
 * admin user names at most 64 (Linux; 15 and 20 on Windows) */
static const struct arm_member hardware_profile[] = {ARM_STRING("vmSize", 64), ARM_MEMBERS_END};
static const struct arm_member storage_profile[] = {ARM_OBJECT("osDisk", disk_entry), ARM_ARRAY("dataDisks", disk_entry),
                                                    ARM_MEMBER("diskControllerType", JSON_STRING), ARM_MEMBERS_END};
static const struct arm_member os_profile_members[] = {
    ARM_STRING("computerName", 64),           ARM_STRING("adminUsername", 64),
    ARM_MEMBER("linuxConfiguration", JSON_OBJECT), ARM_MEMBER("windowsConfiguration", JSON_OBJECT),
    ARM_MEMBER("secrets", JSON_ARRAY),        ARM_MEMBER("allowExtensionOperations", JSON_TRUE),
    ARM_MEMBER("requireGuestProvisionSignal", JSON_TRUE), ARM_MEMBERS_END};
static const struct arm_member nic_ref_props[] = {ARM_MEMBER("primary", JSON_TRUE), ARM_ENUM("deleteOption", delete_values),
                                                  ARM_MEMBERS_END};
static const struct arm_member nic_ref[] = {ARM_MEMBER("id", JSON_STRING), ARM_OBJECT("properties", nic_ref_props),
                                            ARM_MEMBERS_END};
static const struct arm_member network_profile[] = {ARM_ARRAY("networkInterfaces", nic_ref), ARM_MEMBERS_END};
static const struct arm_member boot_diagnostics[] = {ARM_MEMBER("enabled", JSON_TRUE),
                                                     ARM_MEMBER("storageUri", JSON_STRING), ARM_MEMBERS_END};
static const struct arm_member diagnostics_profile[] = {ARM_OBJECT("bootDiagnostics", boot_diagnostics),
                                                        ARM_MEMBERS_END};
static const struct arm_member vm_props[] = {
    ARM_OBJECT("hardwareProfile", hardware_profile), ARM_OBJECT("storageProfile", storage_profile),
    ARM_OBJECT("osProfile", os_profile_members),     ARM_OBJECT("networkProfile", network_profile),
    ARM_OBJECT("diagnosticsProfile", diagnostics_profile), ARM_MEMBER("securityProfile", JSON_OBJECT),
    ARM_MEMBER("licenseType", JSON_STRING),          ARM_MEMBERS_END};
static const struct arm_member vm_members[] = {ARM_MEMBER("location", JSON_STRING), ARM_MEMBER("tags", JSON_OBJECT),
                                               ARM_OBJECT("properties", vm_props), ARM_MEMBERS_END};

/* Member types and the configurations vmrp refuses, for one disk entry. */
static bool disk_entry_ok(struct arm_call *call, json_t *d, const char *where, bool os)
{
  char target[160];
  if (!json_is_object(d)) {
    arm_reply_error_target(call, 400, "InvalidRequestContent", where,
                           "The request content was invalid and could not be deserialized: '%s must be an object.'",
                           where);
    return false;
  }
  json_t *md = json_object_get(d, "managedDisk");
  snprintf(target, sizeof target, "%s.managedDisk", where);
  if (!arm_body_members_ok(call, d, where, disk_entry) || !arm_body_members_ok(call, md, target, managed_disk))
    return false;
  json_t *v = json_object_get(d, "vhd");
  if (v && !json_is_null(v)) {
    snprintf(target, sizeof target, "%s.vhd", where);
    arm_reply_error_target(call, 400, "InvalidParameter", target,
                           "Unmanaged disks (vhd) are not supported in this region; attach a managed disk "
                           "(managedDisk.id).");
    return false;
  }
  v = json_object_get(d, "diffDiskSettings");
  if (os && v && !json_is_null(v)) {
    snprintf(target, sizeof target, "%s.diffDiskSettings", where);
    arm_reply_error_target(call, 400, "InvalidParameter", target,
                           "Ephemeral OS disks (diffDiskSettings) are not supported in this region.");
    return false;
  }
  if (json_is_true(json_object_get(d, "writeAcceleratorEnabled"))) {
    snprintf(target, sizeof target, "%s.writeAcceleratorEnabled", where);
    arm_reply_error_target(call, 400, "InvalidParameter", target,
                           "Write Accelerator is not supported in this region.");
    return false;
  }
  const char *opt = json_string_value(json_object_get(d, "createOption"));
  const char *id = json_string_value(json_object_get(md, "id"));
  snprintf(target, sizeof target, "%s.createOption", where);
  if (!opt) {
    arm_reply_error_target(call, 400, "InvalidParameter", target, "Required parameter 'createOption' is missing (null).");
    return false;
  }
  if (strcasecmp(opt, "Attach") != 0 && (os || strcasecmp(opt, "Empty") != 0)) {
    arm_reply_error_target(call, 400, "InvalidParameter", target,
                           os ? "The value '%s' of createOption is not supported for OS disks in this region; create "
                                "the disk first and use Attach."
                              : "The value '%s' of createOption is not supported for data disks in this region; use "
                                "Attach or Empty.",
                           opt);
    return false;
  }
  if (!strcasecmp(opt, "Attach") && !id) {
    snprintf(target, sizeof target, "%s.managedDisk.id", where);
    arm_reply_error_target(call, 400, "InvalidParameter", target, "Required parameter 'managedDisk.id' is missing (null).");
    return false;
  }
  return true;
}

bool arm_vm_plan_body_ok(struct arm_call *call, json_t *b)
{
  if (!arm_body_normalise(call, b, vm_members))
    return false;
  json_t *props = json_object_get(b, "properties");
  json_t *hw = json_object_get(props, "hardwareProfile"), *sp = json_object_get(props, "storageProfile");
  json_t *os_profile = json_object_get(props, "osProfile"), *np = json_object_get(props, "networkProfile");
  if (!arm_body_members_ok(call, b, NULL, vm_members) || !arm_tags_ok(call, json_object_get(b, "tags")) ||
      !arm_body_members_ok(call, props, NULL, vm_props) ||
      !arm_body_members_ok(call, hw, "hardwareProfile", hardware_profile) ||
      !arm_body_members_ok(call, sp, "storageProfile", storage_profile) ||
      !arm_body_members_ok(call, os_profile, "osProfile", os_profile_members) ||
      !arm_body_members_ok(call, np, "networkProfile", network_profile))
    return false;
  json_t *os = json_object_get(sp, "osDisk");
  if (os && !json_is_null(os) && !disk_entry_ok(call, os, "storageProfile.osDisk", true))
    return false;
  bool seen[MAX_DATA_DISKS] = {false};
  size_t i;
  json_t *d;
  json_array_foreach(json_object_get(sp, "dataDisks"), i, d) {
    char where[64];
    snprintf(where, sizeof where, "storageProfile.dataDisks[%zu]", i);
    if (!disk_entry_ok(call, d, where, false))
      return false;
    json_t *lun = json_object_get(d, "lun");
    char target[80];
    snprintf(target, sizeof target, "%s.lun", where);
    if (!json_is_integer(lun)) {
      arm_reply_error_target(call, 400, "InvalidParameter", target, "Required parameter 'lun' is missing (null).");
      return false;
    }
    json_int_t n = json_integer_value(lun);
    if (n < 0 || n > MAX_LUN) {
      arm_reply_error_target(call, 400, "InvalidParameter", target,
                             "The value %lld of lun is invalid: it must be from 0 to %d.", (long long)n, MAX_LUN);
      return false;
    }
    if (seen[n]) {
      arm_reply_error_target(call, 400, "InvalidParameter", "storageProfile.dataDisks",
                             "A disk at LUN %lld already exists: each data disk needs its own lun.", (long long)n);
      return false;
    }
    seen[n] = true;
  }
  json_array_foreach(json_object_get(np, "networkInterfaces"), i, d) {
    if (!json_is_object(d) || !json_is_string(json_object_get(d, "id"))) {
      arm_reply_error_target(call, 400, "InvalidParameter", "networkProfile.networkInterfaces",
                             "Each network interface reference needs an 'id' string.");
      return false;
    }
  }
  return true;
}

/* ---- configuration -------------------------------------------------------- */

/* osProfile without its secrets: only the members listed are kept. */
static json_t *clean_os_profile(json_t *in)
{
  static const char *const keep[] = {"computerName", "adminUsername", "linuxConfiguration",
                                     "windowsConfiguration", "secrets", "allowExtensionOperations",
                                     "requireGuestProvisionSignal", NULL};
  json_t *out = json_object();
  for (int i = 0; keep[i]; i++) {
    json_t *v = json_object_get(in, keep[i]);
    if (v && !json_is_null(v))
      json_object_set_new(out, keep[i], json_deep_copy(v));
  }
  json_object_del(json_object_get(out, "windowsConfiguration"), "additionalUnattendContent");
  return out;
}

static json_t *clean_network_profile(json_t *in)
{
  json_t *nics = json_array(), *d;
  size_t i;
  json_array_foreach(json_object_get(in, "networkInterfaces"), i, d) {
    json_t *n = json_pack("{s:O}", "id", json_object_get(d, "id"));
    json_t *p = json_object_get(d, "properties"), *out_p = json_object();
    if (json_is_boolean(json_object_get(p, "primary")))
      json_object_set(out_p, "primary", json_object_get(p, "primary"));
    arm_set_canonical(out_p, p, "deleteOption", delete_values);
    if (json_object_size(out_p))
      json_object_set(n, "properties", out_p);
    json_decref(out_p);
    json_array_append_new(nics, n);
  }
  return json_pack("{s:o}", "networkInterfaces", nics);
}

/* A disk resolved for attachment, with what the VM entry reports of it. */
struct resolved {
  char id[1024];
  char name[128];
  char sku[32];
  json_int_t size_gb;
  char os_type[16];
};

/* Looks up an existing disk for attachment to vm: 404 when missing, 409 when
 * another VM holds it or it is not Succeeded.  Replies on error. */
static int resolve_disk(struct arm_call *call, const char *id, const char *vm, const char *target,
                        struct resolved *out)
{
  struct meta_resource d;
  int rc = meta_resource_get(call->arm->meta, id, &d);
  char sub[128];
  snprintf(sub, sizeof sub, "/subscriptions/%s/", call->params[0]);
  if (rc == 0 && (strcasecmp(d.type, DISK_TYPE) != 0 || strncasecmp(d.id, sub, strlen(sub)) != 0)) {
    meta_resource_clear(&d);
    rc = -ENOENT;
  }
  if (rc == -ENOENT) {
    arm_reply_error_target(call, 404, "NotFound", target, "The managed disk '%s' was not found in region '%s'.", id,
                           call->arm->cfg.locations[0].name);
    return rc;
  }
  if (rc < 0) {
    arm_reply_internal(call, rc);
    return rc;
  }
  json_t *extra = arm_vm_loads(d.extra), *props = arm_vm_loads(d.properties);
  const char *owner = json_string_value(json_object_get(extra, "managedBy")), *access;
  if (owner && strcasecmp(owner, vm) != 0) {
    arm_reply_error_target(call, 409, "OperationNotAllowed", target, "Disk %s is already attached to VM %s.", d.name,
                           owner);
    rc = -EBUSY;
  } else if (!d.provisioning_state || strcmp(d.provisioning_state, "Succeeded") != 0) {
    arm_reply_error_target(call, 409, "OperationNotAllowed", target,
                           "Disk %s cannot be attached while it is %s; retry when it is Succeeded.", d.name,
                           d.provisioning_state ? d.provisioning_state : "?");
    rc = -EBUSY;
  } else if (!owner && (access = arm_disk_access_state(call->arm, &d))) {
    arm_reply_error_target(call, 409, "OperationNotAllowed", target,
                           "Disk %s cannot be attached while it is %s; end its access with endGetAccess first.",
                           d.name, access);
    rc = -EBUSY;
  } else {
    snprintf(out->id, sizeof out->id, "%s", d.id);
    snprintf(out->name, sizeof out->name, "%s", d.name);
    const char *sku = json_string_value(json_object_get(json_object_get(extra, "sku"), "name"));
    snprintf(out->sku, sizeof out->sku, "%s", sku ? sku : "Standard_LRS");
    out->size_gb = json_integer_value(json_object_get(props, "diskSizeGB"));
    const char *os_type = json_string_value(json_object_get(props, "osType"));
    snprintf(out->os_type, sizeof out->os_type, "%s", os_type ? os_type : "");
  }
  json_decref(extra);
  json_decref(props);
  meta_resource_clear(&d);
  return rc;
}

int arm_vm_plan_set_owner(struct arm *arm, const char *disk_id, const char *vm, const char *only_vm)
{
  struct meta_resource d;
  int rc = meta_resource_get(arm->meta, disk_id, &d);
  if (rc == -ENOENT || (rc == 0 && strcasecmp(d.type, DISK_TYPE) != 0)) {
    if (rc == 0)
      meta_resource_clear(&d);
    return 0;
  }
  if (rc < 0)
    return rc;
  json_t *extra = arm_vm_loads(d.extra), *props = arm_vm_loads(d.properties);
  const char *owner = json_string_value(json_object_get(extra, "managedBy"));
  if (vm || (owner && !strcasecmp(owner, only_vm))) {
    if (vm)
      json_object_set_new(extra, "managedBy", json_string(vm));
    else
      json_object_del(extra, "managedBy");
    json_object_set_new(props, "diskState", json_string(vm ? "Attached" : "Unattached"));
    free(d.extra);
    d.extra = json_dumps(extra, JSON_COMPACT);
    free(d.properties);
    d.properties = json_dumps(props, JSON_COMPACT);
    rc = meta_resource_put(arm->meta, &d, NULL, 0, NULL);
  }
  json_decref(extra);
  json_decref(props);
  meta_resource_clear(&d);
  return rc;
}

static json_t *entry_from(json_t *in, const struct resolved *rd, bool os, const char *option)
{
  const char *caching = arm_canonical(json_string_value(json_object_get(in, "caching")), caching_values);
  const char *del = arm_canonical(json_string_value(json_object_get(in, "deleteOption")), delete_values);
  json_t *e = json_pack("{s:s,s:s,s:s,s:{s:s,s:s},s:s,s:I,s:b}", "name", rd->name, "createOption", option, "caching",
                        caching ? caching : os ? "ReadWrite" : "None", "managedDisk", "id", rd->id,
                        "storageAccountType", rd->sku, "deleteOption", del ? del : "Detach", "diskSizeGB",
                        rd->size_gb, "writeAcceleratorEnabled", 0);
  if (os) {
    const char *t = arm_canonical(json_string_value(json_object_get(in, "osType")), os_types);
    if (!t && rd->os_type[0])
      t = arm_canonical(rd->os_type, os_types);
    if (t)
      json_object_set_new(e, "osType", json_string(t));
  } else {
    json_object_set(e, "lun", json_object_get(in, "lun"));
    json_object_set_new(e, "toBeDetached", json_false());
  }
  return e;
}

static bool same_id(json_t *entry, const char *id)
{
  const char *have = json_string_value(json_object_get(json_object_get(entry, "managedDisk"), "id"));
  return have && id && !strcasecmp(have, id);
}

/* A copy of a current disk entry with the caching and deleteOption the
 * request entry `in` gives: all that changes on an attached disk. */
static json_t *entry_update(json_t *cur, json_t *in)
{
  json_t *e = json_deep_copy(cur);
  arm_set_canonical(e, in, "caching", caching_values);
  arm_set_canonical(e, in, "deleteOption", delete_values);
  return e;
}

/* The new Empty data disk d (request entry `where`): its disk row, Updating
 * and attached to vm, its id in p->create and its entry in out.  Inside the
 * transaction; replies on error (-EINVAL). */
static int plan_empty_disk(struct arm_call *call, const char *vm, json_t *d, const char *where, struct vm_plan *p,
                           json_t *out)
{
  char target[96];
  json_int_t lun = json_integer_value(json_object_get(d, "lun"));
  const char *id = json_string_value(json_object_get(json_object_get(d, "managedDisk"), "id"));
  struct resolved rd = {0};
  if (id) {
    snprintf(target, sizeof target, "%s.managedDisk.id", where);
    arm_reply_error_target(call, 400, "InvalidParameter", target,
                           "managedDisk.id cannot be set for a new disk with createOption Empty.");
    return -EINVAL;
  }
  json_t *gb = json_object_get(d, "diskSizeGB");
  if (!json_is_integer(gb)) {
    snprintf(target, sizeof target, "%s.diskSizeGB", where);
    arm_reply_error_target(call, 400, "InvalidParameter", target, "Required parameter 'diskSizeGB' is missing (null).");
    return -EINVAL;
  }
  const char *name = json_string_value(json_object_get(d, "name"));
  char def_name[96];
  snprintf(def_name, sizeof def_name, "%s_DataDisk_%lld", call->params[2], (long long)lun);
  if (!name)
    name = def_name;
  const char *sku = json_string_value(json_object_get(json_object_get(d, "managedDisk"), "storageAccountType"));
  char rg[512];
  snprintf(rg, sizeof rg, "/subscriptions/%s/resourceGroups/%s", call->params[0], call->params[1]);
  snprintf(rd.id, sizeof rd.id, "%s/providers/Microsoft.Compute/disks/%s", rg, name);
  int rc = arm_disk_create_empty(call, rd.id, name, rg, gb, sku, vm);
  if (rc == -EEXIST)
    arm_reply_error_target(call, 409, "OperationNotAllowed", where,
                           "A disk named '%s' already exists in resource group '%s'; attach it with "
                           "createOption Attach or choose another name.",
                           name, call->params[1]);
  else if (rc < 0 && rc != -EINVAL)
    arm_reply_internal(call, rc);
  if (rc < 0)
    return -EINVAL;
  snprintf(rd.name, sizeof rd.name, "%s", name);
  snprintf(rd.sku, sizeof rd.sku, "%s", sku ? sku : "Standard_LRS");
  rd.size_gb = json_integer_value(gb);
  json_array_append_new(p->create, json_string(rd.id));
  json_array_append_new(out, entry_from(d, &rd, false, "Empty"));
  return 0;
}

/* Resolves the data disks of a request against the current entries (old),
 * filling p and out (the new entries): an entry at a current lun naming the
 * same disk (or none) keeps it, an Empty one is created, any other is
 * attached, and a current disk no entry keeps is detached.  Inside the
 * transaction; replies on error. */
static int plan_data_disks(struct arm_call *call, const char *vm, json_t *req, json_t *old, struct vm_plan *p,
                           json_t *out)
{
  json_t *d;
  size_t i;
  json_t *kept = json_array();
  json_array_foreach(req, i, d) {
    char where[64], target[96];
    snprintf(where, sizeof where, "storageProfile.dataDisks[%zu]", i);
    snprintf(target, sizeof target, "%s.managedDisk.id", where);
    json_int_t lun = json_integer_value(json_object_get(d, "lun"));
    const char *id = json_string_value(json_object_get(json_object_get(d, "managedDisk"), "id"));
    if (json_is_true(json_object_get(d, "toBeDetached")))
      continue;
    json_t *cur = NULL, *o;
    size_t k;
    json_array_foreach(old, k, o) if (json_integer_value(json_object_get(o, "lun")) == lun) cur = o;
    if (cur && (!id || same_id(cur, id))) { /* unchanged disk: new caching / deleteOption */
      json_array_append_new(out, entry_update(cur, d));
      json_array_append(kept, cur);
      continue;
    }
    if (!strcasecmp(json_string_value(json_object_get(d, "createOption")), "Empty")) {
      if (plan_empty_disk(call, vm, d, where, p, out) < 0)
        goto fail;
      continue;
    }
    struct resolved rd = {0};
    if (resolve_disk(call, id, vm, target, &rd) < 0)
      goto fail;
    json_array_append_new(p->attach, json_string(rd.id));
    json_array_append_new(out, entry_from(d, &rd, false, "Attach"));
  }
  json_array_foreach(old, i, d) {
    bool keep = false;
    json_t *k;
    size_t j;
    json_array_foreach(kept, j, k) keep = keep || k == d;
    if (!keep)
      json_array_append(p->detach, json_object_get(json_object_get(d, "managedDisk"), "id"));
  }
  json_decref(kept);
  return 0;
fail:
  json_decref(kept);
  return -EINVAL;
}

/* The profiles other than storageProfile, into props: hardwareProfile merged
 * (PATCH) or replaced, osProfile taken at create without its secrets (its
 * computerName never changes), networkProfile and a few members replaced.
 * Replies on error. */
static int plan_profiles(struct arm_call *call, json_t *in, json_t *old, bool create, bool patch, json_t *props)
{
  json_t *hw = json_object_get(in, "hardwareProfile");
  if (json_is_object(hw)) {
    json_t *merged = patch ? json_deep_copy(json_object_get(old, "hardwareProfile")) : NULL;
    if (!merged)
      merged = json_object();
    json_object_update(merged, hw);
    json_object_set_new(props, "hardwareProfile", merged);
  }
  if (!json_is_string(json_object_get(json_object_get(props, "hardwareProfile"), "vmSize"))) {
    arm_reply_error_target(call, 400, "InvalidParameter", "hardwareProfile.vmSize",
                           "Required parameter 'hardwareProfile.vmSize' is missing (null).");
    return -EINVAL;
  }
  json_t *osp = json_object_get(in, "osProfile");
  if (json_is_object(osp)) {
    const char *was = json_string_value(json_object_get(json_object_get(old, "osProfile"), "computerName"));
    const char *now = json_string_value(json_object_get(osp, "computerName"));
    if (!create && was && now && strcasecmp(was, now) != 0) {
      arm_reply_error_target(call, 400, "PropertyChangeNotAllowed", "osProfile.computerName",
                             "Changing property 'osProfile.computerName' is not allowed.");
      return -EINVAL;
    }
    if (create)
      json_object_set_new(props, "osProfile", clean_os_profile(osp));
  }
  if (json_is_object(json_object_get(in, "networkProfile")))
    json_object_set_new(props, "networkProfile", clean_network_profile(json_object_get(in, "networkProfile")));
  const char *keep[] = {"diagnosticsProfile", "securityProfile", "licenseType", NULL};
  for (int i = 0; keep[i]; i++)
    if (json_object_get(in, keep[i]))
      json_object_set(props, keep[i], json_object_get(in, keep[i]));
  return 0;
}

/* The OS disk entry of sp: attached at create, then only caching /
 * deleteOption change.  Inside the transaction; replies on error. */
static int plan_os_disk(struct arm_call *call, const char *vm, json_t *os_in, json_t *os_old, bool create,
                        struct vm_plan *p, json_t *sp)
{
  const char *os_id = json_string_value(json_object_get(json_object_get(os_in, "managedDisk"), "id"));
  if (create) {
    struct resolved rd = {0};
    if (!json_is_object(os_in)) {
      arm_reply_error_target(call, 400, "InvalidParameter", "storageProfile.osDisk",
                             "Required parameter 'osDisk' is missing (null).");
      return -EINVAL;
    }
    if (resolve_disk(call, os_id, vm, "storageProfile.osDisk.managedDisk.id", &rd) < 0)
      return -EINVAL;
    json_array_append_new(p->attach, json_string(rd.id));
    json_object_set_new(sp, "osDisk", entry_from(os_in, &rd, true, "Attach"));
  } else if (os_old) {
    if (os_id && !same_id(os_old, os_id)) {
      arm_reply_error_target(call, 400, "PropertyChangeNotAllowed", "storageProfile.osDisk.managedDisk.id",
                             "Changing property 'osDisk.managedDisk.id' is not allowed.");
      return -EINVAL;
    }
    json_object_set_new(sp, "osDisk", entry_update(os_old, os_in));
  }
  return 0;
}

/* One disk, one place: refuses (replying) a storage profile that lists the
 * same disk twice, naming the first repeat. */
static int disks_once(struct arm_call *call, json_t *sp)
{
  json_t *os_entry = json_object_get(sp, "osDisk"), *data = json_object_get(sp, "dataDisks"), *d, *e;
  size_t i, j;
  json_array_foreach(data, i, d) {
    const char *id = json_string_value(json_object_get(json_object_get(d, "managedDisk"), "id"));
    bool dup = same_id(os_entry, id);
    json_array_foreach(data, j, e) dup = dup || (j < i && same_id(e, id));
    if (dup) {
      arm_reply_error_target(call, 400, "InvalidParameter", "storageProfile.dataDisks",
                             "Disk '%s' appears more than once in the virtual machine's storage profile.", id);
      return -EINVAL;
    }
  }
  return 0;
}

int arm_vm_plan_make(struct arm_call *call, const char *vm, json_t *b, json_t *old, bool create, bool patch,
                     struct vm_plan *p)
{
  json_t *in = json_object_get(b, "properties");
  json_t *sp_in = json_object_get(in, "storageProfile");
  json_t *old_sp = json_object_get(old, "storageProfile");
  p->props = json_deep_copy(old);
  p->attach = json_array();
  p->detach = json_array();
  p->create = json_array();
  int rc = plan_profiles(call, in, old, create, patch, p->props);
  json_t *np_in = json_object_get(in, "networkProfile");
  if (rc == 0 && json_is_object(np_in))
    rc = arm_vm_nics_ok(call, vm, np_in);
  if (rc < 0)
    return rc;

  json_t *sp = json_object();
  const char *ctl = json_string_value(json_object_get(sp_in, "diskControllerType"));
  if (!ctl)
    ctl = json_string_value(json_object_get(old_sp, "diskControllerType"));
  if (ctl)
    json_object_set_new(sp, "diskControllerType", json_string(ctl));
  json_object_set_new(p->props, "storageProfile", sp);
  rc = plan_os_disk(call, vm, json_object_get(sp_in, "osDisk"), json_object_get(old_sp, "osDisk"), create, p, sp);
  if (rc < 0)
    return rc;
  json_t *data = json_array();
  json_object_set_new(sp, "dataDisks", data);
  json_t *req = json_object_get(sp_in, "dataDisks");
  json_t *old_data = json_object_get(old_sp, "dataDisks");
  if (!req) /* not given: keep the current data disks */
    req = old_data;
  rc = plan_data_disks(call, vm, req, old_data, p, data);
  if (rc == 0)
    rc = disks_once(call, sp);
  return rc;
}

void arm_vm_plan_clear(struct vm_plan *p)
{
  json_decref(p->props);
  json_decref(p->attach);
  json_decref(p->detach);
  json_decref(p->create);
}

int arm_vm_plan_apply(struct arm *arm, const char *vm, const struct vm_plan *p)
{
  json_t *v;
  size_t i;
  int rc = 0;
  json_array_foreach(p->detach, i, v) if (rc == 0) rc = arm_vm_plan_set_owner(arm, json_string_value(v), NULL, vm);
  json_array_foreach(p->attach, i, v) if (rc == 0) rc = arm_vm_plan_set_owner(arm, json_string_value(v), vm, NULL);
  return rc;
}

char *arm_vm_plan_payload(const struct vm_plan *p)
{
  json_t *j = json_pack("{s:O}", "disks", p->create);
  char *s = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  return s;
}
