/*
 * extensions.c — Microsoft.Compute/virtualMachines/extensions: where a VM's
 * guest agent is configured.
 *
 * vmrp runs no extension handlers; the one extension it understands is
 * publisher "Vmrp", type "QemuGuestAgent", settings {"socket": path}: the
 * unix socket of the qemu-ga channel the user's QEMU exposes for the VM
 * (the region checks that the path is inside the folder of the VM's
 * subscription in its agent socket directory: no tenant names another's
 * guest agent).
 * Other publishers and types are refused, so no extension is "Succeeded"
 * without doing anything.  One agent per VM.
 *
 * PUT and DELETE are long-running as Azure's are (201/200 or 202 with
 * Azure-AsyncOperation and Location), answered with a finished operation:
 * configuring is only a row; whether the agent answers is its instance view
 * (the agent asked at GET with $expand=instanceView), as in Azure, where an
 * extension's provisioning and its handler's health are separate.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"
#include "common/timefmt.h"

#define EXT_TYPE "Microsoft.Compute/virtualMachines/extensions"

static void ext_id(struct arm_call *call, char *out, size_t cap)
{
  snprintf(out, cap, "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachines/%s/extensions/%s",
           call->params[0], call->params[1], call->params[2], call->params[3]);
}

static void reply_not_found(struct arm_call *call)
{
  char name[600];
  snprintf(name, sizeof name, "%s/extensions/%s", call->params[2], call->params[3]);
  arm_reply_not_found(call, VM_TYPE, name);
}

static void agent_message(const struct region_agent_status *st, char *out, size_t cap)
{
  if (!st->configured)
    snprintf(out, cap, "no guest agent is configured (a Vmrp.QemuGuestAgent extension)");
  else if (st->ready)
    snprintf(out, cap, "qemu-ga %s answers%s%s", st->version, st->can_freeze ? "" : "; guest-fsfreeze is disabled",
             st->frozen ? "; the guest's file systems are frozen" : "");
  else
    snprintf(out, cap, "%s", st->message[0] ? st->message : "the guest agent does not answer");
}

/* VirtualMachineExtensionInstanceView, from the agent's answer (st). */
static json_t *instance_view(const struct meta_resource *r, json_t *props, const struct region_agent_status *st)
{
  char t[TIME_ISO_LEN], msg[320];
  time_iso8601(time_now_us(), t);
  agent_message(st, msg, sizeof msg);
  const char *type = json_string_value(json_object_get(props, "type"));
  const char *ver = json_string_value(json_object_get(props, "typeHandlerVersion"));
  return json_pack("{s:s,s:s,s:s,s:[{s:s,s:s,s:s,s:s,s:s}]}", "name", r->name, "type", type ? type : "",
                   "typeHandlerVersion", ver ? ver : "", "statuses", "code",
                   st->ready ? "ProvisioningState/succeeded" : "ProvisioningState/failed", "level",
                   st->ready ? "Info" : "Error", "displayStatus", st->ready ? "Provisioning succeeded" : "Not Ready",
                   "message", msg, "time", t);
}

/* The extension's document; with st, its instance view. */
static json_t *ext_json(const struct meta_resource *r, const struct region_agent_status *st)
{
  json_t *props = r->properties ? json_loads(r->properties, 0, NULL) : json_object();
  json_object_set_new(props, "provisioningState", json_string(r->provisioning_state ? r->provisioning_state : ""));
  if (st)
    json_object_set_new(props, "instanceView", instance_view(r, props, st));
  json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "id", r->id, "name", r->name, "type", EXT_TYPE, "location",
                        r->location ? r->location : "");
  json_object_set_new(o, "tags", r->tags ? json_loads(r->tags, 0, NULL) : json_object());
  json_object_set_new(o, "properties", props);
  return o;
}

/* The agent's status now, when asked for (an instance view). */
static const struct region_agent_status *status_if(struct arm *arm, bool expand, const char *vm,
                                                    struct region_agent_status *st)
{
  if (!expand)
    return NULL;
  if (region_agent_status(arm->region, vm, st) < 0) {
    memset(st, 0, sizeof *st);
    st->configured = true;
    snprintf(st->message, sizeof st->message, "the agent's status could not be read");
  }
  return st;
}

/* The members of an extension body, their types and bounds. */
static bool body_ok(struct arm_call *call, json_t *b)
{
  static const struct arm_member settings[] = {ARM_MEMBER("socket", JSON_STRING), ARM_MEMBERS_END};
  static const struct arm_member props[] = {
      ARM_MEMBER("publisher", JSON_STRING),          ARM_MEMBER("type", JSON_STRING),
      ARM_STRING("typeHandlerVersion", 32),          ARM_MEMBER("autoUpgradeMinorVersion", JSON_TRUE),
      ARM_MEMBER("enableAutomaticUpgrade", JSON_TRUE), ARM_OBJECT("settings", settings),
      ARM_MEMBER("protectedSettings", JSON_OBJECT), ARM_MEMBERS_END};
  static const struct arm_member members[] = {ARM_MEMBER("location", JSON_STRING), ARM_MEMBER("tags", JSON_OBJECT),
                                              ARM_OBJECT("properties", props), ARM_MEMBERS_END};
  if (!arm_body_normalise(call, b, members))
    return false;
  json_t *p = json_object_get(b, "properties");
  return arm_body_members_ok(call, b, NULL, members) && arm_tags_ok(call, json_object_get(b, "tags")) &&
         arm_body_members_ok(call, p, "properties", props) &&
         arm_body_members_ok(call, json_object_get(p, "settings"), "properties.settings", settings);
}

/* The properties a PUT may set (body_ok holds): publisher Vmrp, type
 * QemuGuestAgent, a settings.socket the region accepts.  NULL when
 * replied. */
static json_t *checked_properties(struct arm_call *call, json_t *props)
{
  const char *pub = json_string_value(json_object_get(props, "publisher"));
  const char *type = json_string_value(json_object_get(props, "type"));
  if (!pub || !type || strcasecmp(pub, "Vmrp") != 0 || strcasecmp(type, "QemuGuestAgent") != 0) {
    arm_reply_error_target(call, 400, "InvalidParameter", "properties.type",
                           "The extension '%s.%s' is not available: this region runs one extension, publisher "
                           "'Vmrp', type 'QemuGuestAgent' (settings.socket: the VM's qemu-ga socket).",
                           pub ? pub : "(no publisher)", type ? type : "(no type)");
    return NULL;
  }
  const char *socket = json_string_value(json_object_get(json_object_get(props, "settings"), "socket"));
  char why[256];
  if (!socket) {
    arm_reply_error_target(call, 400, "InvalidParameter", "properties.settings.socket",
                           "Required parameter 'settings.socket' (the path of the VM's qemu-ga unix socket) is "
                           "missing.");
    return NULL;
  }
  char vm_id[1024];
  snprintf(vm_id, sizeof vm_id, "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachines/%s",
           call->params[0], call->params[1], call->params[2]);
  if (region_agent_socket_check(call->arm->region, vm_id, socket, why, sizeof why) < 0) {
    arm_reply_error_target(call, 400, "InvalidParameter", "properties.settings.socket",
                           "The guest agent socket '%s' is not allowed: %s.", socket, why);
    return NULL;
  }
  const char *ver = json_string_value(json_object_get(props, "typeHandlerVersion"));
  json_t *autoup = json_object_get(props, "autoUpgradeMinorVersion");
  return json_pack("{s:s,s:s,s:s,s:b,s:{s:s}}", "publisher", "Vmrp", "type", "QemuGuestAgent",
                   "typeHandlerVersion", ver ? ver : "1.0", "autoUpgradeMinorVersion",
                   autoup ? json_is_true(autoup) : true, "settings", "socket", socket);
}

struct other_agent {
  const char *self;
  bool found;
};

static int find_other_agent(void *ctx, const struct meta_resource *r)
{
  struct other_agent *o = ctx;
  json_t *p = r->properties ? json_loads(r->properties, 0, NULL) : NULL;
  const char *type = json_string_value(json_object_get(p, "type"));
  if (strcasecmp(r->id, o->self) != 0 && type && !strcasecmp(type, "QemuGuestAgent"))
    o->found = true;
  json_decref(p);
  return o->found;
}

void arm_vm_extension_put(struct arm_call *call)
{
  json_t *b = call->body;
  if (!arm_body_required(call))
    return;
  const char *name = call->params[3];
  size_t n = strlen(name);
  bool ctl = false;
  for (size_t i = 0; i < n; i++)
    ctl = ctl || (unsigned char)name[i] < 0x20 || name[i] == 0x7f;
  if (n == 0 || n > 64 || ctl || strpbrk(name, "/\\?#%<>*&:") || name[n - 1] == '.') {
    arm_reply_error_target(call, 400, "InvalidParameter", "vmExtensionName",
                           "The extension name '%s' is invalid: use 1 to 64 characters without control characters "
                           "or / \\ ? # %% < > * & : and not ending with '.'.",
                           name);
    return;
  }
  if (!body_ok(call, b))
    return;
  struct meta_resource vm;
  if (arm_vm_row(call, &vm) < 0)
    return;
  json_t *props = checked_properties(call, json_object_get(b, "properties"));
  char id[1280], op_id[40];
  ext_id(call, id, sizeof id);
  struct other_agent other = {id, false};
  if (props) {
    meta_resource_list(call->arm->meta, vm.id, EXT_TYPE, NULL, 0, find_other_agent, &other);
    if (other.found) {
      arm_reply_error(call, 409, "OperationNotAllowed",
                      "Virtual machine '%s' already has a QemuGuestAgent extension; a VM has one guest agent.",
                      vm.name);
      json_decref(props);
      props = NULL;
    }
  }
  if (!props) {
    meta_resource_clear(&vm);
    return;
  }
  json_t *tags = json_object_get(b, "tags");
  struct meta_resource r = {.id = strdup(id), .type = strdup(EXT_TYPE), .name = strdup(name),
                            .parent_id = strdup(vm.id), .location = strdup(vm.location ? vm.location : ""),
                            .tags = tags && !json_is_null(tags) ? json_dumps(tags, JSON_COMPACT) : NULL,
                            .properties = json_dumps(props, JSON_COMPACT), .provisioning_state = strdup("Succeeded")};
  json_decref(props);
  bool created = false;
  struct meta *m = call->arm->meta;
  int rc = meta_begin(m);
  if (rc == 0)
    rc = meta_resource_put(m, &r, NULL, 0, &created);
  if (rc == 0)
    rc = arm_op_done(call, created ? "vmExtensionCreate" : "vmExtensionUpdate", id, NULL, op_id);
  if (rc == 0)
    rc = meta_commit(m);
  else
    meta_rollback(m);
  if (rc < 0) {
    arm_reply_internal(call, rc);
  } else {
    arm_lro_headers(call, "Microsoft.Compute", op_id, LRO_ASYNC_OPERATION | LRO_LOCATION);
    arm_reply_json(call, created ? 201 : 200, ext_json(&r, NULL));
  }
  meta_resource_clear(&r);
  meta_resource_clear(&vm);
}

static int get_ext(struct arm_call *call, struct meta_resource *r)
{
  struct meta_resource vm;
  if (arm_vm_row(call, &vm) < 0)
    return -ENOENT;
  meta_resource_clear(&vm);
  char id[1280];
  ext_id(call, id, sizeof id);
  return arm_row_get(call, id, EXT_TYPE, reply_not_found, r);
}

void arm_vm_extension_get(struct arm_call *call)
{
  struct meta_resource r;
  if (get_ext(call, &r) < 0)
    return;
  struct region_agent_status st;
  arm_reply_json(call, 200, ext_json(&r, status_if(call->arm, arm_expand_has(call, "instanceView"), r.parent_id, &st)));
  meta_resource_clear(&r);
}

void arm_vm_extension_delete(struct arm_call *call)
{
  struct meta_resource vm;
  if (arm_vm_row(call, &vm) < 0)
    return;
  meta_resource_clear(&vm);
  char id[1280], op_id[40];
  ext_id(call, id, sizeof id);
  struct meta *m = call->arm->meta;
  struct meta_resource r;
  int rc = meta_begin(m);
  if (rc == 0)
    rc = meta_resource_get(m, id, &r);
  if (rc == 0) {
    rc = strcasecmp(r.type, EXT_TYPE) != 0 ? -ENOENT : meta_resource_delete(m, id);
    meta_resource_clear(&r);
  }
  if (rc == 0)
    rc = arm_op_done(call, "vmExtensionDelete", id, NULL, op_id);
  if (rc == 0)
    rc = meta_commit(m);
  else
    meta_rollback(m);
  if (rc == -ENOENT) {
    if (arm_rg_found(call))
      arm_reply_empty(call, 204);
  } else if (rc < 0) {
    arm_reply_internal(call, rc);
  } else {
    arm_lro_headers(call, "Microsoft.Compute", op_id, LRO_ASYNC_OPERATION | LRO_LOCATION);
    arm_reply_empty(call, 202);
  }
}

struct list_state {
  const struct region_agent_status *st;
  json_t *value;
};

static int list_one(void *ctx, const struct meta_resource *r)
{
  struct list_state *l = ctx;
  json_array_append_new(l->value, ext_json(r, l->st));
  return 0;
}

void arm_vm_extension_list(struct arm_call *call)
{
  struct meta_resource vm;
  if (arm_vm_row(call, &vm) < 0)
    return;
  struct region_agent_status st;
  struct list_state l = {status_if(call->arm, arm_expand_has(call, "instanceView"), vm.id, &st), json_array()};
  int rc = meta_resource_list(call->arm->meta, vm.id, EXT_TYPE, NULL, 0, list_one, &l);
  meta_resource_clear(&vm);
  if (rc < 0) {
    json_decref(l.value);
    arm_reply_internal(call, rc);
    return;
  }
  arm_reply_json(call, 200, json_pack("{s:o}", "value", l.value));
}

json_t *arm_vm_agent_view(struct arm *arm, const char *vm_id, json_t **extensions)
{
  struct region_agent_status st;
  status_if(arm, true, vm_id, &st);
  struct list_state l = {&st, json_array()};
  meta_resource_list(arm->meta, vm_id, EXT_TYPE, NULL, 0, list_one, &l);
  *extensions = json_array();
  size_t i;
  json_t *e;
  json_array_foreach(l.value, i, e)
    json_array_append(*extensions, json_object_get(json_object_get(e, "properties"), "instanceView"));
  json_decref(l.value);
  char t[TIME_ISO_LEN], msg[320];
  time_iso8601(time_now_us(), t);
  agent_message(&st, msg, sizeof msg);
  json_t *agent = json_pack("{s:s,s:[{s:s,s:s,s:s,s:s,s:s}]}", "vmAgentVersion", st.ready ? st.version : "Unknown",
                            "statuses", "code", "ProvisioningState/succeeded", "level", st.ready ? "Info" : "Warning",
                            "displayStatus", st.ready ? "Ready" : "Not Ready", "message", msg, "time", t);
  if (st.configured)
    json_object_set_new(agent, "extensionHandlers",
                        json_pack("[{s:s,s:s,s:{s:s,s:s,s:s}}]", "type", "Vmrp.QemuGuestAgent", "typeHandlerVersion",
                                  "1.0", "status", "code", "ProvisioningState/succeeded", "level",
                                  st.ready ? "Info" : "Warning", "displayStatus", st.ready ? "Ready" : "Not Ready"));
  return agent;
}
