/*
 * vms.c — Microsoft.Compute/virtualMachines as configuration records: the
 * request handlers and the JSON view.
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
 * A PUT/PATCH is checked and planned by vm_plan.c, which keeps the
 * attachment invariant, and written here in one transaction with its
 * operation; the jobs are in vm_jobs.c.  A DELETE is refused here while the
 * VM is Creating or Updating, or while a disk it would delete is held by an
 * NBD client, or while a collection whose source it is holds a restore
 * point with a retention lock in force (retention_lock.c; in another region
 * asked first, outside the transaction).  Power actions are state changes answered as finished
 * long-running operations (202).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"
#include "arm/vm.h"
#include "common/cleanup.h"
#include "common/random.h"
#include "common/timefmt.h"

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
  arm_reply_not_found(call, VM_TYPE, call->params[2]);
}

const char *arm_vm_power_state(json_t *extra)
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

void arm_vm_each_disk(json_t *props, void (*fn)(json_t *entry, void *ctx), void *ctx)
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

/* VirtualMachineInstanceView: provisioning and power statuses, disks; with
 * arm, also the guest agent as it answers now (vmAgent, extensions) — not
 * in lists, where one silent agent would stall the whole list. */
static json_t *instance_view(struct arm *arm, const struct meta_resource *r, json_t *props)
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
  json_t *extra = arm_vm_loads(r->extra);
  const char *power = !strcmp(state, "Creating") ? "starting" : arm_vm_power_state(extra);
  char pcode[64], pdisplay[64];
  snprintf(pcode, sizeof pcode, "PowerState/%s", power);
  snprintf(pdisplay, sizeof pdisplay, "VM %s", power);
  json_array_append_new(statuses, status(pcode, "Info", pdisplay, NULL));
  json_decref(extra);
  struct iv_disks st = {json_array(), t};
  arm_vm_each_disk(props, iv_disk, &st);
  json_t *iv = json_pack("{s:o,s:o}", "statuses", statuses, "disks", st.arr);
  const char *cn = json_string_value(json_object_get(json_object_get(props, "osProfile"), "computerName"));
  if (cn)
    json_object_set_new(iv, "computerName", json_string(cn));
  const char *os_type =
      json_string_value(json_object_get(json_object_get(json_object_get(props, "storageProfile"), "osDisk"), "osType"));
  if (os_type)
    json_object_set_new(iv, "osName", json_string(os_type));
  if (arm) {
    json_t *exts;
    json_object_set_new(iv, "vmAgent", arm_vm_agent_view(arm, r->id, &exts));
    json_object_set_new(iv, "extensions", exts);
  }
  return iv;
}

static json_t *vm_json(struct arm *arm, const struct meta_resource *r, bool with_iv)
{
  json_t *props = arm_vm_loads(r->properties);
  json_object_set_new(props, "provisioningState", json_string(r->provisioning_state ? r->provisioning_state : ""));
  if (with_iv)
    json_object_set_new(props, "instanceView", instance_view(arm, r, props));
  json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "id", r->id, "name", r->name, "type", VM_TYPE, "location",
                        r->location ? r->location : "");
  json_object_set_new(o, "tags", r->tags ? arm_vm_loads(r->tags) : json_object());
  json_object_set_new(o, "properties", props);
  return o;
}

static void reply_vm(struct arm_call *call, int status_code, const struct meta_resource *r)
{
  http_response_header(call->resp, "ETag", "%s", r->etag);
  arm_reply_json(call, status_code, vm_json(call->arm, r, arm_expand_has(call, "instanceView")));
}

/* PUT on an existing VM (replace) or PATCH (merge): r is the stored row. */
static void update_vm(struct arm_call *call, struct meta_resource *r, json_t *b, bool patch)
{
  struct meta *m = call->arm->meta;
  struct vm_plan p = {0};
  json_t *old = arm_vm_loads(r->properties);
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
  rc = arm_vm_plan_make(call, r->id, b, old, false, patch, &p);
  replied = rc < 0;
  if (rc == 0)
    rc = arm_vm_plan_apply(call->arm, r->id, &p);
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
    payload = arm_vm_plan_payload(&p);
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
  arm_vm_plan_clear(&p);
}

/* PUT of a new VM, id, inside the transaction arm_vm_put began: commits or
 * rolls back. */
static void create_vm(struct arm_call *call, const char *id, const char *loc, json_t *b);

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
  if (!arm_vm_plan_body_ok(call, b))
    return;
  const char *loc = arm_location_here(call, b, "Microsoft.Compute/virtualMachines");
  if (!loc)
    return;
  char id[1024];
  vm_id(call, id, sizeof id);
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
  create_vm(call, id, loc, b); /* commits or rolls back */
}

static void create_vm(struct arm_call *call, const char *id, const char *loc, json_t *b)
{
  struct meta *m = call->arm->meta;
  char rg[512], op_id[40];
  snprintf(rg, sizeof rg, "/subscriptions/%s/resourceGroups/%s", call->params[0], call->params[1]);
  struct meta_resource r = {0};
  struct vm_plan p = {0};
  json_t *none = json_object();
  int rc = arm_vm_plan_make(call, id, b, none, true, false, &p);
  json_decref(none);
  bool replied = rc < 0;
  CLEANUP_FREE char *payload = NULL;
  if (rc == 0)
    rc = arm_vm_plan_apply(call->arm, id, &p);
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
    payload = arm_vm_plan_payload(&p);
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
  arm_vm_plan_clear(&p);
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
  if (!arm_vm_plan_body_ok(call, b))
    return;
  struct meta_resource r;
  if (begin_get(call, &r) < 0)
    return;
  update_vm(call, &r, b, true);
  meta_resource_clear(&r);
}

int arm_vm_row(struct arm_call *call, struct meta_resource *r)
{
  char id[1024];
  vm_id(call, id, sizeof id);
  return arm_row_get(call, id, VM_TYPE, reply_not_found, r);
}

void arm_vm_get(struct arm_call *call)
{
  struct meta_resource r;
  if (arm_vm_row(call, &r) < 0)
    return;
  reply_vm(call, 200, &r);
  meta_resource_clear(&r);
}

void arm_vm_instance_view(struct arm_call *call)
{
  struct meta_resource r;
  if (arm_vm_row(call, &r) < 0)
    return;
  json_t *props = arm_vm_loads(r.properties);
  arm_reply_json(call, 200, instance_view(call->arm, &r, props));
  json_decref(props);
  meta_resource_clear(&r);
}

static json_t *list_json(struct arm_call *call, const struct meta_resource *r)
{
  const char *status_only = http_query(call->req, "statusOnly");
  return vm_json(NULL, r, arm_expand_has(call, "instanceView") || (status_only && !strcasecmp(status_only, "true")));
}

void arm_vm_list(struct arm_call *call) { arm_reply_list(call, VM_TYPE, list_json); }

/* ---- delete ---------------------------------------------------------------- */

/* The first disk of a VM with deleteOption Delete that an NBD client holds
 * (its name; "" when there is none). */
struct held_disk {
  struct arm *arm;
  char name[128];
};

static void find_held(json_t *entry, void *ctx)
{
  struct held_disk *h = ctx;
  const char *id = json_string_value(json_object_get(json_object_get(entry, "managedDisk"), "id"));
  const char *del = json_string_value(json_object_get(entry, "deleteOption"));
  if (!id || !del || strcasecmp(del, "Delete") != 0 || h->name[0])
    return;
  struct meta_volume mv;
  if (meta_volume_by_resource(h->arm->meta, id, &mv) == 0) {
    if (region_volume_in_use(h->arm->region, mv.id))
      snprintf(h->name, sizeof h->name, "%s", json_string_value(json_object_get(entry, "name")));
    meta_volume_clear(&mv);
  }
}

/* A VM cannot go while it is being created or updated, nor while a disk it
 * would delete (deleteOption Delete) is used by an NBD client. */
static bool refuse_delete(struct arm_call *call, const struct meta_resource *r)
{
  if (arm_retention_refuse_vm(call, r->id))
    return true;
  const char *state = r->provisioning_state ? r->provisioning_state : "";
  json_t *props = arm_vm_loads(r->properties);
  struct held_disk held = {.arm = call->arm};
  arm_vm_each_disk(props, find_held, &held);
  json_decref(props);
  if (!strcmp(state, "Creating") || !strcmp(state, "Updating")) {
    arm_reply_error(call, 409, "OperationNotAllowed",
                    "Virtual machine '%s' is %s; retry the delete when it is Succeeded.", r->name, state);
    return true;
  }
  if (held.name[0]) {
    arm_reply_error(call, 409, "OperationNotAllowed",
                    "Disk %s (deleteOption Delete) is in use by an NBD client; stop the VM's QEMU before "
                    "deleting the virtual machine.",
                    held.name);
    return true;
  }
  return false;
}

void arm_vm_delete(struct arm_call *call)
{
  char id[1024];
  vm_id(call, id, sizeof id);
  if (!arm_retention_refuse_elsewhere(call, id, NULL))
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
  json_t *extra = arm_vm_loads(r.extra);
  const char *now = arm_vm_power_state(extra);
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
    rc = arm_op_done(call, kind, r.id, NULL, op_id);
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
