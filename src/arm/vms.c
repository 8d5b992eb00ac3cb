/*
 * vms.c — Microsoft.Compute/virtualMachines as configuration records.
 *
 * vmrp runs no CPU: a VM is the description the user's QEMU (scripts/vm-qemu)
 * boots against vmrp's NBD disks, and the unit a restore point captures.  The
 * row keeps the configuration as returned (properties minus provisioningState
 * and instanceView) and, in `extra`, the power state ("running", "stopped",
 * "deallocated").
 *
 * States (provisioning_state):
 *   Creating  PUT created the row, its disks are attached; job "vmCreate"
 *             makes the Empty data disks and moves it to Succeeded (running).
 *   Updating  a PUT/PATCH added Empty data disks; the same job finishes it.
 *   Succeeded the only state in which PUT/PATCH/power actions are taken.
 *   Deleting  job "vmDelete" deletes the disks with deleteOption Delete,
 *             detaches the others, then removes the row.
 *   Failed    a job failed; PUT/PATCH may repair it, DELETE removes it.
 *
 * Attachment invariant: a disk listed in a VM's storageProfile has
 * managedBy = that VM's id and diskState Attached, and a disk no VM lists has
 * neither.  Every PUT/PATCH resolves the disks, checks them and writes the
 * disk rows, the VM row and the operation in one transaction, so a refused
 * request changes nothing and two VMs cannot take the same disk.  Detach
 * clears managedBy only where it names this VM, so a VM delete or a resource
 * group delete may run in any order with the deletion of its disks.
 *
 * Secrets (osProfile.adminPassword, customData, unattend content, userData)
 * are accepted and dropped before anything is stored: only an allow-list of
 * osProfile members is kept.  Refused at PUT with Azure's errors: unmanaged
 * disks (vhd), ephemeral OS disks (diffDiskSettings), write accelerator,
 * OS disks other than Attach, duplicate or out-of-range luns, a disk that is
 * missing (404) or attached to another VM (409).  Power actions are state
 * changes answered as finished long-running operations (202).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/random.h"
#include "common/timefmt.h"

#define DISK_TYPE "Microsoft.Compute/disks"
#define MAX_LUN 63
#define MAX_DATA_DISKS (MAX_LUN + 1)

static json_t *loads(const char *text)
{
  json_t *j = text ? json_loads(text, 0, NULL) : NULL;
  return j ? j : json_object();
}

static void vm_id(struct arm_call *call, char *out, size_t cap)
{
  snprintf(out, cap, "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachines/%s",
           call->params[0], call->params[1], call->params[2]);
}

/* 1-64 letters, digits, '_', '-', '.'; not starting with '_', not ending
 * with '.' or '-'. */
static bool vm_name_ok(struct arm_call *call, const char *name)
{
  size_t n = strlen(name);
  bool ok = n >= 1 && n <= 64 && name[0] != '_' && name[n - 1] != '.' && name[n - 1] != '-';
  for (size_t i = 0; ok && i < n; i++) {
    char c = name[i];
    ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '.';
  }
  if (!ok)
    arm_reply_error_target(call, 400, "InvalidParameter", "vmName",
                           "The virtual machine name '%s' is invalid: use 1 to 64 letters, digits, '_', '-' and "
                           "'.', not starting with '_' and not ending with '.' or '-'.",
                           name);
  return ok;
}

static void reply_not_found(struct arm_call *call)
{
  arm_reply_error(call, 404, "ResourceNotFound",
                  "The Resource 'Microsoft.Compute/virtualMachines/%s' under resource group '%s' was not found. "
                  "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
                  call->params[2], call->params[1]);
}

static const char *power_state(json_t *extra)
{
  const char *p = json_string_value(json_object_get(extra, "powerState"));
  return p ? p : "running";
}

static json_t *status(const char *code, const char *level, const char *display, const char *time)
{
  json_t *s = json_pack("{s:s,s:s,s:s}", "code", code, "level", level, "displayStatus", display);
  if (time)
    json_object_set_new(s, "time", json_string(time));
  return s;
}

/* Each managed disk of the configuration, OS disk first: fn(entry, ctx). */
static void each_disk(json_t *props, void (*fn)(json_t *entry, void *ctx), void *ctx)
{
  json_t *sp = json_object_get(props, "storageProfile"), *d;
  if (json_object_get(sp, "osDisk"))
    fn(json_object_get(sp, "osDisk"), ctx);
  size_t i;
  json_array_foreach(json_object_get(sp, "dataDisks"), i, d) fn(d, ctx);
}

struct iv_disks {
  json_t *arr;
  const char *time;
};

static void iv_disk(json_t *entry, void *ctx)
{
  struct iv_disks *st = ctx;
  json_array_append_new(st->arr,
                        json_pack("{s:O,s:[o]}", "name", json_object_get(entry, "name"), "statuses",
                                  status("ProvisioningState/succeeded", "Info", "Provisioning succeeded", st->time)));
}

/* VirtualMachineInstanceView: provisioning and power statuses, disks. */
static json_t *instance_view(const struct meta_resource *r, json_t *props)
{
  const char *state = r->provisioning_state ? r->provisioning_state : "Succeeded";
  char t[TIME_ISO_LEN], code[64], lower[32];
  time_iso8601(r->changed_us, t);
  snprintf(lower, sizeof lower, "%s", state);
  for (char *c = lower; *c; c++)
    *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
  snprintf(code, sizeof code, "ProvisioningState/%s", lower);
  bool failed = !strcmp(state, "Failed");
  json_t *statuses = json_array();
  json_array_append_new(statuses, status(code, failed ? "Error" : "Info",
                                         !strcmp(state, "Succeeded") ? "Provisioning succeeded"
                                         : failed                    ? "Provisioning failed"
                                                                     : "Provisioning in progress",
                                         t));
  json_t *extra = loads(r->extra);
  const char *power = !strcmp(state, "Creating") ? "starting" : power_state(extra);
  char pcode[64], pdisplay[64];
  snprintf(pcode, sizeof pcode, "PowerState/%s", power);
  snprintf(pdisplay, sizeof pdisplay, "VM %s", power);
  json_array_append_new(statuses, status(pcode, "Info", pdisplay, NULL));
  json_decref(extra);
  struct iv_disks st = {json_array(), t};
  each_disk(props, iv_disk, &st);
  json_t *iv = json_pack("{s:o,s:o}", "statuses", statuses, "disks", st.arr);
  const char *cn = json_string_value(json_object_get(json_object_get(props, "osProfile"), "computerName"));
  if (cn)
    json_object_set_new(iv, "computerName", json_string(cn));
  const char *os_type =
      json_string_value(json_object_get(json_object_get(json_object_get(props, "storageProfile"), "osDisk"), "osType"));
  if (os_type)
    json_object_set_new(iv, "osName", json_string(os_type));
  return iv;
}

static json_t *vm_json(const struct meta_resource *r, bool with_iv)
{
  json_t *props = loads(r->properties);
  json_object_set_new(props, "provisioningState", json_string(r->provisioning_state ? r->provisioning_state : ""));
  if (with_iv)
    json_object_set_new(props, "instanceView", instance_view(r, props));
  json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "id", r->id, "name", r->name, "type", VM_TYPE, "location",
                        r->location ? r->location : "");
  json_object_set_new(o, "tags", r->tags ? loads(r->tags) : json_object());
  json_object_set_new(o, "properties", props);
  return o;
}

static void reply_vm(struct arm_call *call, int status_code, const struct meta_resource *r)
{
  http_response_header(call->resp, "ETag", "%s", r->etag);
  arm_reply_json(call, status_code, vm_json(r, arm_expand_has(call, "instanceView")));
}

/* ---- request checks -------------------------------------------------------- */

static const char *canonical(const char *v, const char *const *allowed)
{
  for (int i = 0; v && allowed[i]; i++)
    if (!strcasecmp(v, allowed[i]))
      return allowed[i];
  return NULL;
}

static const char *const caching_values[] = {"None", "ReadOnly", "ReadWrite", NULL};
static const char *const delete_values[] = {"Delete", "Detach", NULL};
static const char *const os_types[] = {"Linux", "Windows", NULL};

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
  if (!arm_body_member_ok(call, d, "lun", JSON_INTEGER) || !arm_body_member_ok(call, d, "name", JSON_STRING) ||
      !arm_body_member_ok(call, d, "createOption", JSON_STRING) || !arm_body_member_ok(call, d, "caching", JSON_STRING) ||
      !arm_body_member_ok(call, d, "diskSizeGB", JSON_INTEGER) || !arm_body_member_ok(call, d, "deleteOption", JSON_STRING) ||
      !arm_body_member_ok(call, d, "osType", JSON_STRING) || !arm_body_member_ok(call, d, "managedDisk", JSON_OBJECT) ||
      !arm_body_member_ok(call, d, "writeAcceleratorEnabled", JSON_TRUE) ||
      !arm_body_member_ok(call, d, "toBeDetached", JSON_TRUE) || !arm_body_member_ok(call, md, "id", JSON_STRING) ||
      !arm_body_member_ok(call, md, "storageAccountType", JSON_STRING))
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
  const struct {
    const char *name;
    const char *const *allowed;
  } enums[] = {{"caching", caching_values}, {"deleteOption", delete_values}, {"osType", os_types}};
  for (size_t i = 0; i < sizeof enums / sizeof enums[0]; i++) {
    const char *val = json_string_value(json_object_get(d, enums[i].name));
    if (val && !canonical(val, enums[i].allowed)) {
      snprintf(target, sizeof target, "%s.%s", where, enums[i].name);
      arm_reply_error_target(call, 400, "InvalidParameter", target, "The value '%s' of %s is not valid.", val,
                             target);
      return false;
    }
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

/* Shape and supported configuration of a PUT/PATCH body (no store access). */
static bool body_ok(struct arm_call *call, json_t *b)
{
  json_t *props = json_object_get(b, "properties");
  json_t *hw = json_object_get(props, "hardwareProfile"), *sp = json_object_get(props, "storageProfile");
  json_t *os_profile = json_object_get(props, "osProfile"), *np = json_object_get(props, "networkProfile");
  if (!arm_body_member_ok(call, b, "location", JSON_STRING) || !arm_body_member_ok(call, b, "properties", JSON_OBJECT) ||
      !arm_tags_ok(call, json_object_get(b, "tags")) || !arm_body_member_ok(call, props, "hardwareProfile", JSON_OBJECT) ||
      !arm_body_member_ok(call, hw, "vmSize", JSON_STRING) ||
      !arm_body_member_ok(call, props, "storageProfile", JSON_OBJECT) ||
      !arm_body_member_ok(call, sp, "osDisk", JSON_OBJECT) || !arm_body_member_ok(call, sp, "dataDisks", JSON_ARRAY) ||
      !arm_body_member_ok(call, props, "osProfile", JSON_OBJECT) ||
      !arm_body_member_ok(call, os_profile, "computerName", JSON_STRING) ||
      !arm_body_member_ok(call, os_profile, "adminUsername", JSON_STRING) ||
      !arm_body_member_ok(call, props, "networkProfile", JSON_OBJECT) ||
      !arm_body_member_ok(call, np, "networkInterfaces", JSON_ARRAY))
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
    const char *keep[] = {"primary", "deleteOption", NULL};
    for (int k = 0; keep[k]; k++)
      if (json_object_get(p, keep[k]))
        json_object_set(out_p, keep[k], json_object_get(p, keep[k]));
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
  json_t *extra = loads(d.extra), *props = loads(d.properties);
  const char *owner = json_string_value(json_object_get(extra, "managedBy"));
  if (owner && strcasecmp(owner, vm) != 0) {
    arm_reply_error_target(call, 409, "OperationNotAllowed", target, "Disk %s is already attached to VM %s.", d.name,
                           owner);
    rc = -EBUSY;
  } else if (!d.provisioning_state || strcmp(d.provisioning_state, "Succeeded") != 0) {
    arm_reply_error_target(call, 409, "OperationNotAllowed", target,
                           "Disk %s cannot be attached while it is %s; retry when it is Succeeded.", d.name,
                           d.provisioning_state ? d.provisioning_state : "?");
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

/* Sets (vm != NULL) or clears the attachment of one disk row: managedBy and
 * diskState.  Clearing only touches a disk attached to `only_vm`.  A missing
 * disk is not an error (it may have been deleted first). */
static int disk_set_owner(struct arm *arm, const char *disk_id, const char *vm, const char *only_vm)
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
  json_t *extra = loads(d.extra), *props = loads(d.properties);
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
  const char *caching = canonical(json_string_value(json_object_get(in, "caching")), caching_values);
  const char *del = canonical(json_string_value(json_object_get(in, "deleteOption")), delete_values);
  json_t *e = json_pack("{s:s,s:s,s:s,s:{s:s,s:s},s:s,s:I,s:b}", "name", rd->name, "createOption", option, "caching",
                        caching ? caching : os ? "ReadWrite" : "None", "managedDisk", "id", rd->id,
                        "storageAccountType", rd->sku, "deleteOption", del ? del : "Detach", "diskSizeGB",
                        rd->size_gb, "writeAcceleratorEnabled", 0);
  if (os) {
    const char *t = canonical(json_string_value(json_object_get(in, "osType")), os_types);
    if (!t && rd->os_type[0])
      t = canonical(rd->os_type, os_types);
    if (t)
      json_object_set_new(e, "osType", json_string(t));
  } else {
    json_object_set(e, "lun", json_object_get(in, "lun"));
    json_object_set_new(e, "toBeDetached", json_false());
  }
  return e;
}

/* The plan of a PUT/PATCH: the new configuration and the disk changes. */
struct plan {
  json_t *props;    /* new properties (owned) */
  json_t *attach;   /* ids to attach (array of strings) */
  json_t *detach;   /* ids to detach */
  json_t *create;   /* ids of Empty disks to create (and provision in the job) */
};

static bool same_id(json_t *entry, const char *id)
{
  const char *have = json_string_value(json_object_get(json_object_get(entry, "managedDisk"), "id"));
  return have && id && !strcasecmp(have, id);
}

/* Resolves the data disks of a request against the current entries (old),
 * filling p.  Inside the transaction; replies on error. */
static int plan_data_disks(struct arm_call *call, const char *vm, json_t *req, json_t *old, struct plan *p,
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
      json_t *e = json_deep_copy(cur);
      const char *c = canonical(json_string_value(json_object_get(d, "caching")), caching_values);
      const char *del = canonical(json_string_value(json_object_get(d, "deleteOption")), delete_values);
      if (c)
        json_object_set_new(e, "caching", json_string(c));
      if (del)
        json_object_set_new(e, "deleteOption", json_string(del));
      json_array_append_new(out, e);
      json_array_append(kept, cur);
      continue;
    }
    struct resolved rd = {0};
    const char *opt = json_string_value(json_object_get(d, "createOption"));
    if (!strcasecmp(opt, "Empty")) {
      if (id) {
        arm_reply_error_target(call, 400, "InvalidParameter", target,
                               "managedDisk.id cannot be set for a new disk with createOption Empty.");
        goto fail;
      }
      json_t *gb = json_object_get(d, "diskSizeGB");
      if (!json_is_integer(gb)) {
        snprintf(target, sizeof target, "%s.diskSizeGB", where);
        arm_reply_error_target(call, 400, "InvalidParameter", target,
                               "Required parameter 'diskSizeGB' is missing (null).");
        goto fail;
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
        goto fail;
      snprintf(rd.name, sizeof rd.name, "%s", name);
      snprintf(rd.sku, sizeof rd.sku, "%s", sku ? sku : "Standard_LRS");
      rd.size_gb = json_integer_value(gb);
      json_array_append_new(p->create, json_string(rd.id));
      json_array_append_new(out, entry_from(d, &rd, false, "Empty"));
      continue;
    }
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

/* The new configuration for a PUT (replace) or PATCH (merge) of the VM whose
 * current properties are old ({} on create).  Inside the transaction. */
static int make_plan(struct arm_call *call, const char *vm, json_t *b, json_t *old, bool create, bool patch,
                     struct plan *p)
{
  json_t *in = json_object_get(b, "properties");
  json_t *sp_in = json_object_get(in, "storageProfile");
  json_t *old_sp = json_object_get(old, "storageProfile");
  p->props = json_deep_copy(old);
  p->attach = json_array();
  p->detach = json_array();
  p->create = json_array();

  json_t *hw = json_object_get(in, "hardwareProfile");
  if (json_is_object(hw)) {
    json_t *merged = patch ? json_deep_copy(json_object_get(old, "hardwareProfile")) : NULL;
    if (!merged)
      merged = json_object();
    json_object_update(merged, hw);
    json_object_set_new(p->props, "hardwareProfile", merged);
  }
  if (!json_is_string(json_object_get(json_object_get(p->props, "hardwareProfile"), "vmSize"))) {
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
      json_object_set_new(p->props, "osProfile", clean_os_profile(osp));
  }
  if (json_is_object(json_object_get(in, "networkProfile")))
    json_object_set_new(p->props, "networkProfile", clean_network_profile(json_object_get(in, "networkProfile")));
  const char *keep[] = {"diagnosticsProfile", "securityProfile", "licenseType", NULL};
  for (int i = 0; keep[i]; i++)
    if (json_object_get(in, keep[i]))
      json_object_set(p->props, keep[i], json_object_get(in, keep[i]));

  json_t *sp = json_object();
  const char *ctl = json_string_value(json_object_get(sp_in, "diskControllerType"));
  if (!ctl)
    ctl = json_string_value(json_object_get(old_sp, "diskControllerType"));
  if (ctl)
    json_object_set_new(sp, "diskControllerType", json_string(ctl));
  json_object_set_new(p->props, "storageProfile", sp);
  /* OS disk: attached at create, then only caching / deleteOption change. */
  json_t *os_in = json_object_get(sp_in, "osDisk"), *os_old = json_object_get(old_sp, "osDisk");
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
    json_t *e = json_deep_copy(os_old);
    const char *c = canonical(json_string_value(json_object_get(os_in, "caching")), caching_values);
    const char *del = canonical(json_string_value(json_object_get(os_in, "deleteOption")), delete_values);
    if (c)
      json_object_set_new(e, "caching", json_string(c));
    if (del)
      json_object_set_new(e, "deleteOption", json_string(del));
    json_object_set_new(sp, "osDisk", e);
  }
  json_t *data = json_array();
  json_object_set_new(sp, "dataDisks", data);
  json_t *req = json_object_get(sp_in, "dataDisks");
  json_t *old_data = json_object_get(old_sp, "dataDisks");
  if (!req) /* not given: keep the current data disks */
    req = old_data;
  json_t *os_entry = json_object_get(sp, "osDisk");
  int rc = plan_data_disks(call, vm, req ? req : old_data, old_data, p, data);
  /* one disk, one place: the same disk twice in the configuration */
  json_t *d, *e;
  size_t i, j;
  json_array_foreach(data, i, d) {
    const char *id = json_string_value(json_object_get(json_object_get(d, "managedDisk"), "id"));
    bool dup = rc == 0 && same_id(os_entry, id);
    json_array_foreach(data, j, e) dup = dup || (rc == 0 && j < i && same_id(e, id));
    if (dup) {
      arm_reply_error_target(call, 400, "InvalidParameter", "storageProfile.dataDisks",
                             "Disk '%s' appears more than once in the virtual machine's storage profile.", id);
      rc = -EINVAL;
    }
  }
  return rc;
}

static void plan_clear(struct plan *p)
{
  json_decref(p->props);
  json_decref(p->attach);
  json_decref(p->detach);
  json_decref(p->create);
}

/* Writes the disk attachments of a plan (inside the transaction). */
static int apply_disks(struct arm *arm, const char *vm, const struct plan *p)
{
  json_t *v;
  size_t i;
  int rc = 0;
  json_array_foreach(p->detach, i, v) if (rc == 0) rc = disk_set_owner(arm, json_string_value(v), NULL, vm);
  json_array_foreach(p->attach, i, v) if (rc == 0) rc = disk_set_owner(arm, json_string_value(v), vm, NULL);
  return rc;
}

static char *create_payload(const struct plan *p)
{
  json_t *j = json_pack("{s:O}", "disks", p->create);
  char *s = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  return s;
}

/* PUT on an existing VM (replace) or PATCH (merge): r is the stored row. */
static void update_vm(struct arm_call *call, struct meta_resource *r, json_t *b, bool patch)
{
  struct meta *m = call->arm->meta;
  struct plan p = {0};
  json_t *old = loads(r->properties);
  char op_id[40] = "";
  CLEANUP_FREE char *payload = NULL;
  bool replied = false;
  int rc = 0;
  if (strcmp(r->provisioning_state ? r->provisioning_state : "", "Succeeded") != 0 &&
      strcmp(r->provisioning_state ? r->provisioning_state : "", "Failed") != 0) {
    arm_reply_error(call, 409, "OperationNotAllowed",
                    "The operation cannot be performed on virtual machine '%s' while it is %s.", r->name,
                    r->provisioning_state ? r->provisioning_state : "busy");
    replied = true;
    rc = -EBUSY;
    goto out;
  }
  rc = make_plan(call, r->id, b, old, false, patch, &p);
  replied = rc < 0;
  if (rc == 0)
    rc = apply_disks(call->arm, r->id, &p);
  if (rc == 0) {
    json_t *tags = json_object_get(b, "tags");
    if (tags || !patch) {
      free(r->tags);
      r->tags = tags && !json_is_null(tags) ? json_dumps(tags, JSON_COMPACT) : NULL;
    }
    free(r->properties);
    r->properties = json_dumps(p.props, JSON_COMPACT);
    free(r->provisioning_state);
    r->provisioning_state = strdup(json_array_size(p.create) ? "Updating" : "Succeeded");
    rc = meta_resource_put(m, r, NULL, 0, NULL);
  }
  if (rc == 0 && json_array_size(p.create)) {
    payload = create_payload(&p);
    rc = arm_op_create(call, "Microsoft.Compute", "vmCreate", r->id, payload, op_id);
  }
out:
  if (rc == 0)
    rc = meta_commit(m);
  else
    meta_rollback(m);
  if (rc < 0 && !replied)
    arm_reply_internal(call, rc);
  else if (rc == 0) {
    if (op_id[0]) {
      jobs_submit(call->arm->jobs, op_id);
      arm_lro_headers(call, "Microsoft.Compute", op_id, LRO_ASYNC_OPERATION | LRO_LOCATION);
    }
    reply_vm(call, 200, r);
  }
  json_decref(old);
  plan_clear(&p);
}

void arm_vm_put(struct arm_call *call)
{
  if (!vm_name_ok(call, call->params[2]) || !arm_rg_ready(call))
    return;
  json_t *b = call->body;
  if (!b) {
    arm_reply_error(call, 400, "InvalidRequestContent",
                    "The request content was invalid and could not be deserialized: 'a virtual machine body is "
                    "required.'");
    return;
  }
  if (!body_ok(call, b))
    return;
  const char *loc = arm_location_here(call, b, "Microsoft.Compute/virtualMachines");
  if (!loc)
    return;
  char id[1024], rg[512], op_id[40];
  vm_id(call, id, sizeof id);
  snprintf(rg, sizeof rg, "/subscriptions/%s/resourceGroups/%s", call->params[0], call->params[1]);
  struct meta *m = call->arm->meta;
  int rc = meta_begin(m);
  if (rc < 0) {
    arm_reply_internal(call, rc);
    return;
  }
  struct meta_resource r = {0};
  rc = meta_resource_get(m, id, &r);
  if (rc == 0 && strcasecmp(r.type, VM_TYPE) == 0) {
    update_vm(call, &r, b, false); /* commits or rolls back */
    meta_resource_clear(&r);
    return;
  }
  if (rc == 0) {
    meta_resource_clear(&r);
    rc = -EEXIST;
  }
  if (rc != -ENOENT) {
    meta_rollback(m);
    arm_reply_internal(call, rc);
    return;
  }
  struct plan p = {0};
  json_t *none = json_object();
  rc = make_plan(call, id, b, none, true, false, &p);
  json_decref(none);
  bool replied = rc < 0;
  CLEANUP_FREE char *payload = NULL;
  if (rc == 0)
    rc = apply_disks(call->arm, id, &p);
  if (rc == 0) {
    char guid[UUID_STR_LEN], created[TIME_ISO_LEN];
    random_uuid(guid);
    time_iso8601(time_now_us(), created);
    json_object_set_new(p.props, "vmId", json_string(guid));
    json_object_set_new(p.props, "timeCreated", json_string(created));
    json_t *tags = json_object_get(b, "tags");
    r = (struct meta_resource){.id = strdup(id), .type = strdup(VM_TYPE), .name = strdup(call->params[2]),
                               .parent_id = strdup(rg), .location = strdup(loc),
                               .tags = tags && !json_is_null(tags) ? json_dumps(tags, JSON_COMPACT) : NULL,
                               .properties = json_dumps(p.props, JSON_COMPACT),
                               .extra = strdup("{\"powerState\":\"starting\"}"),
                               .provisioning_state = strdup("Creating")};
    rc = meta_resource_put(m, &r, NULL, META_PUT_CREATE_ONLY, NULL);
  }
  if (rc == 0) {
    payload = create_payload(&p);
    rc = arm_op_create(call, "Microsoft.Compute", "vmCreate", id, payload, op_id);
  }
  if (rc == 0)
    rc = meta_commit(m);
  else
    meta_rollback(m);
  if (rc < 0 && !replied)
    arm_reply_internal(call, rc);
  else if (rc == 0) {
    jobs_submit(call->arm->jobs, op_id);
    arm_lro_headers(call, "Microsoft.Compute", op_id, LRO_ASYNC_OPERATION | LRO_LOCATION);
    reply_vm(call, 201, &r);
  }
  meta_resource_clear(&r);
  plan_clear(&p);
}

/* Reads the call's VM inside a transaction begun here; replies 404 (and
 * rolls back) when it does not exist. */
static int begin_get(struct arm_call *call, struct meta_resource *r)
{
  char id[1024];
  vm_id(call, id, sizeof id);
  int rc = meta_begin(call->arm->meta);
  if (rc == 0)
    rc = meta_resource_get(call->arm->meta, id, r);
  if (rc == 0 && strcasecmp(r->type, VM_TYPE) != 0) {
    meta_resource_clear(r);
    rc = -ENOENT;
  }
  if (rc < 0 && rc != -ENOENT)
    arm_reply_internal(call, rc);
  else if (rc == -ENOENT)
    reply_not_found(call);
  if (rc < 0)
    meta_rollback(call->arm->meta);
  return rc;
}

void arm_vm_patch(struct arm_call *call)
{
  json_t *b = call->body ? call->body : (call->body = json_object());
  if (!body_ok(call, b))
    return;
  struct meta_resource r;
  if (begin_get(call, &r) < 0)
    return;
  update_vm(call, &r, b, true);
  meta_resource_clear(&r);
}

static int get_vm(struct arm_call *call, struct meta_resource *r)
{
  char id[1024];
  vm_id(call, id, sizeof id);
  int rc = meta_resource_get(call->arm->meta, id, r);
  if (rc == 0 && strcasecmp(r->type, VM_TYPE) != 0) {
    meta_resource_clear(r);
    rc = -ENOENT;
  }
  if (rc == -ENOENT)
    reply_not_found(call);
  else if (rc < 0)
    arm_reply_internal(call, rc);
  return rc;
}

void arm_vm_get(struct arm_call *call)
{
  struct meta_resource r;
  if (get_vm(call, &r) < 0)
    return;
  reply_vm(call, 200, &r);
  meta_resource_clear(&r);
}

void arm_vm_instance_view(struct arm_call *call)
{
  struct meta_resource r;
  if (get_vm(call, &r) < 0)
    return;
  json_t *props = loads(r.properties);
  arm_reply_json(call, 200, instance_view(&r, props));
  json_decref(props);
  meta_resource_clear(&r);
}

static json_t *list_json(struct arm_call *call, const struct meta_resource *r)
{
  const char *status_only = http_query(call->req, "statusOnly");
  return vm_json(r, arm_expand_has(call, "instanceView") || (status_only && !strcasecmp(status_only, "true")));
}

void arm_vm_list(struct arm_call *call) { arm_reply_list(call, VM_TYPE, list_json); }

/* ---- delete ---------------------------------------------------------------- */

struct remove_state {
  struct arm *arm;
  const char *vm;
  int rc;
  bool check_only; /* only look for a Delete disk an NBD client holds */
  char busy[128];
};

static void remove_disk(json_t *entry, void *ctx)
{
  struct remove_state *st = ctx;
  const char *id = json_string_value(json_object_get(json_object_get(entry, "managedDisk"), "id"));
  const char *del = json_string_value(json_object_get(entry, "deleteOption"));
  bool delete_it = del && !strcasecmp(del, "Delete");
  if (st->rc < 0 || !id)
    return;
  if (st->check_only) {
    if (!delete_it || st->busy[0])
      return;
    struct meta_volume mv;
    if (meta_volume_by_resource(st->arm->meta, id, &mv) == 0) {
      if (region_volume_in_use(st->arm->region, mv.id))
        snprintf(st->busy, sizeof st->busy, "%s", json_string_value(json_object_get(entry, "name")));
      meta_volume_clear(&mv);
    }
    return;
  }
  struct meta_resource d;
  int rc = meta_resource_get(st->arm->meta, id, &d);
  if (rc == -ENOENT)
    rc = 0; /* deleted before the VM: nothing to detach */
  else if (rc == 0) {
    json_t *extra = loads(d.extra);
    const char *owner = json_string_value(json_object_get(extra, "managedBy"));
    bool ours = !owner || !strcasecmp(owner, st->vm);
    if (strcasecmp(d.type, DISK_TYPE) != 0)
      rc = 0;
    else if (delete_it && ours)
      rc = arm_disk_delete_child(st->arm, &d);
    else
      rc = disk_set_owner(st->arm, id, NULL, st->vm);
    json_decref(extra);
    meta_resource_clear(&d);
  }
  st->rc = rc;
}

/* Deletes the Delete-option disks, detaches the others, removes the row.
 * Idempotent: a disk already gone is skipped.  -EBUSY when an NBD client
 * holds a disk to delete. */
static int vm_remove(struct arm *arm, const struct meta_resource *vm)
{
  json_t *props = loads(vm->properties);
  struct remove_state st = {.arm = arm, .vm = vm->id};
  each_disk(props, remove_disk, &st);
  json_decref(props);
  if (st.rc == 0) {
    st.rc = meta_resource_delete(arm->meta, vm->id);
    if (st.rc == -ENOENT)
      st.rc = 0;
  }
  return st.rc;
}

int arm_vm_delete_child(struct arm *arm, const struct meta_resource *r)
{
  return vm_remove(arm, r);
}

/* A VM cannot go while it is being created or updated, nor while a disk it
 * would delete (deleteOption Delete) is used by an NBD client. */
static bool refuse_delete(struct arm_call *call, const struct meta_resource *r)
{
  const char *state = r->provisioning_state ? r->provisioning_state : "";
  json_t *props = loads(r->properties);
  struct remove_state st = {.arm = call->arm, .vm = r->id, .check_only = true};
  each_disk(props, remove_disk, &st);
  json_decref(props);
  if (!strcmp(state, "Creating") || !strcmp(state, "Updating")) {
    arm_reply_error(call, 409, "OperationNotAllowed",
                    "Virtual machine '%s' is %s; retry the delete when it is Succeeded.", r->name, state);
    return true;
  }
  if (st.busy[0]) {
    arm_reply_error(call, 409, "OperationNotAllowed",
                    "Disk %s (deleteOption Delete) is in use by an NBD client; stop the VM's QEMU before "
                    "deleting the virtual machine.",
                    st.busy);
    return true;
  }
  return false;
}

void arm_vm_delete(struct arm_call *call)
{
  char id[1024];
  vm_id(call, id, sizeof id);
  arm_start_delete(call, id, VM_TYPE, "vmDelete", refuse_delete);
}

/* ---- power actions ------------------------------------------------------------ */

/* Sets the power state `to` (restart: only from running) and answers with a
 * finished operation: 202 + Azure-AsyncOperation + Location. */
static void power_action(struct arm_call *call, const char *action, const char *to)
{
  struct meta *m = call->arm->meta;
  struct meta_resource r;
  if (begin_get(call, &r) < 0)
    return;
  char kind[32], op_id[40];
  snprintf(kind, sizeof kind, "vm%c%s", action[0] - 'a' + 'A', action + 1);
  json_t *extra = loads(r.extra);
  const char *now = power_state(extra);
  int rc = 0;
  if (!r.provisioning_state || strcmp(r.provisioning_state, "Succeeded") != 0) {
    arm_reply_error(call, 409, "OperationNotAllowed",
                    "Operation '%s' is not allowed on VM '%s' while it is %s.", action, r.name,
                    r.provisioning_state ? r.provisioning_state : "busy");
    rc = -EBUSY;
  } else if (!strcmp(action, "restart") && strcmp(now, "running") != 0) {
    arm_reply_error(call, 409, "OperationNotAllowed",
                    "Operation 'restart' is not allowed on VM '%s' since the VM is %s.", r.name, now);
    rc = -EBUSY;
  }
  bool replied = rc < 0;
  if (rc == 0) {
    json_object_set_new(extra, "powerState", json_string(to));
    free(r.extra);
    r.extra = json_dumps(extra, JSON_COMPACT);
    rc = meta_resource_put(m, &r, NULL, 0, NULL);
  }
  if (rc == 0)
    rc = arm_op_create(call, "Microsoft.Compute", kind, r.id, NULL, op_id);
  /* A result document, so the Location URL answers 200 when done: the
   * arm-compute 25 pollers accept only 200/201/202 there, not 204. */
  if (rc == 0)
    rc = meta_operation_finish(m, op_id, OP_SUCCEEDED, NULL, "{}");
  if (rc == 0)
    rc = meta_commit(m);
  else
    meta_rollback(m);
  if (rc < 0 && !replied)
    arm_reply_internal(call, rc);
  else if (rc == 0) {
    arm_lro_headers(call, "Microsoft.Compute", op_id, LRO_ASYNC_OPERATION | LRO_LOCATION);
    arm_reply_empty(call, 202);
  }
  json_decref(extra);
  meta_resource_clear(&r);
}

void arm_vm_start(struct arm_call *call) { power_action(call, "start", "running"); }
void arm_vm_power_off(struct arm_call *call) { power_action(call, "powerOff", "stopped"); }
void arm_vm_deallocate(struct arm_call *call) { power_action(call, "deallocate", "deallocated"); }
void arm_vm_restart(struct arm_call *call) { power_action(call, "restart", "running"); }

/* ---- jobs -------------------------------------------------------------------- */

/* Makes the Empty disks listed in the payload (through the disk creation job
 * function, once per disk still Updating), then marks the VM Succeeded. */
enum job_outcome arm_vm_create_job(void *app, struct job *job, const struct meta_operation *op,
                                   struct job_result *res)
{
  struct arm *arm = app;
  struct meta_resource vm;
  if (meta_resource_get(arm->meta, op->resource_id, &vm) < 0)
    return JOB_DONE; /* deleted meanwhile */
  json_t *payload = loads(op->payload), *v;
  enum job_outcome outcome = JOB_DONE;
  size_t i;
  json_array_foreach(json_object_get(payload, "disks"), i, v) {
    struct meta_resource d;
    if (outcome != JOB_DONE || meta_resource_get(arm->meta, json_string_value(v), &d) < 0)
      continue;
    bool pending = d.provisioning_state && !strcmp(d.provisioning_state, "Updating");
    json_t *props = loads(d.properties);
    char dpayload[128];
    snprintf(dpayload, sizeof dpayload, "{\"size\":%lld,\"source\":\"\"}",
             (long long)json_integer_value(json_object_get(props, "diskSizeBytes")));
    json_decref(props);
    struct meta_operation dop = {.resource_id = d.id, .payload = dpayload};
    if (pending)
      outcome = arm_disk_create_job(arm, job, &dop, res);
    meta_resource_clear(&d);
  }
  json_decref(payload);
  if (outcome == JOB_INTERRUPTED)
    goto out;
  json_t *extra = loads(vm.extra);
  if (outcome == JOB_DONE && !strcmp(power_state(extra), "starting"))
    json_object_set_new(extra, "powerState", json_string("running"));
  free(vm.extra);
  vm.extra = json_dumps(extra, JSON_COMPACT);
  json_decref(extra);
  free(vm.provisioning_state);
  vm.provisioning_state = strdup(outcome == JOB_DONE ? "Succeeded" : "Failed");
  int rc = meta_resource_put(arm->meta, &vm, NULL, 0, NULL);
  if (rc < 0 && outcome == JOB_DONE) {
    res->error = arm_error_text("InternalExecutionError", "Recording the virtual machine failed.");
    outcome = JOB_FAILED;
  }
out:
  meta_resource_clear(&vm);
  return outcome;
}

enum job_outcome arm_vm_delete_job(void *app, struct job *job, const struct meta_operation *op,
                                   struct job_result *res)
{
  struct arm *arm = app;
  (void)job;
  struct meta_resource vm;
  if (meta_resource_get(arm->meta, op->resource_id, &vm) < 0)
    return JOB_DONE;
  int rc = vm_remove(arm, &vm);
  if (rc < 0) {
    log_error("arm", "deleting virtual machine %s failed: %s", vm.id, strerror(-rc));
    res->error = arm_error_text(rc == -EBUSY ? "OperationNotAllowed" : "InternalExecutionError",
                                rc == -EBUSY ? "A disk with deleteOption Delete is in use by an NBD client."
                                             : "Deleting the virtual machine failed; retry the request.");
    free(vm.provisioning_state);
    vm.provisioning_state = strdup("Failed");
    meta_resource_put(arm->meta, &vm, NULL, 0, NULL);
  }
  meta_resource_clear(&vm);
  return rc < 0 ? JOB_FAILED : JOB_DONE;
}
