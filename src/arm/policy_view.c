/*
 * policy_view.c — what the scheduler tells: the policy's instance view (per
 * VM: the newest restore point and its age, the newest complete copy in
 * each target region and its age — the achieved RPO per region — the next
 * slot, the last error, the slots missed), the RPO checks, and the events
 * it sends to the policy's webhooks.
 *
 * Ages are computed when asked (now − the restore point's time), never
 * stored, so the view matches what a client measures from the restore
 * points themselves.  A copy's time is its source restore point's: the
 * point in time the target region can go back to.
 *
 * Events go through notify_event, which only writes the durable outbox and
 * returns: the scheduler never waits on a receiver.  Each event's id is
 * derived from what it reports (policy, VM, type, the slot or restore
 * point), so one reported again after a restart carries the same id and a
 * receiver can drop the repeat.  RpoExceeded is sent once per breach: the
 * VM's record keeps, per region, whether it is in breach.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/policy_run.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "notify/notify.h"

void policy_set_error(struct policy_run *r, const char *code, const char *message)
{
  char t[TIME_ISO_LEN];
  time_iso8601(r->now_us, t);
  json_t *e = json_pack("{s:s,s:s,s:s}", "code", code, "message", message, "time", t);
  char *text = e ? json_dumps(e, JSON_COMPACT) : NULL;
  json_decref(e);
  if (text) {
    free(r->v->last_error);
    r->v->last_error = text;
  }
}

static uint64_t fnv64(const char *s)
{
  uint64_t h = 14695981039346656037ull;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    h = (h ^ (c >= 'A' && c <= 'Z' ? c + 32 : c)) * 1099511628211ull;
  }
  return h;
}

void policy_event(struct policy_run *r, const char *type, const char *region, const char *rp_id, const char *code,
                  const char *message, int64_t rpo_s, const char *key)
{
  if (!r->spec->nwebhooks || !r->arm->notify)
    return;
  char basis[2048], id[64], t[TIME_ISO_LEN];
  snprintf(basis, sizeof basis, "%s|%s|%s|%s", r->policy_id, r->v->vm_id, type, key);
  snprintf(id, sizeof id, "%s-%016" PRIx64, type, fnv64(basis));
  time_iso8601(r->now_us, t);
  json_t *ev = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", id, "type", type, "time", t, "policyId", r->policy_id,
                         "vmId", r->v->vm_id, "region", region);
  if (ev && rp_id)
    json_object_set_new(ev, "restorePointId", json_string(rp_id));
  if (ev && code)
    json_object_set_new(ev, "error", json_pack("{s:s,s:s}", "code", code, "message", message ? message : ""));
  if (ev && !strcmp(type, "RpoExceeded"))
    json_object_set_new(ev, "rpoSeconds", json_integer(rpo_s));
  char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
  json_decref(ev);
  int rc = text ? notify_event(r->arm->notify, r->policy_id, id, (const char *const *)r->spec->webhooks,
                               r->spec->nwebhooks, text)
                : -ENOMEM;
  if (rc < 0)
    log_warn("policy", "policy %s: event %s (%s) not queued: %s", r->policy_id, id, type, strerror(-rc));
  free(text);
}

/* The time the newest restore point (region: the policy's own) or copy
 * holds, from the VM's record; 0 when there is none. */
static int64_t region_time(const struct meta_policy_vm *v, json_t *regions, const char *region, bool source)
{
  if (source)
    return v->last_rp_us;
  return json_integer_value(json_object_get(json_object_get(regions, region), "time"));
}

int64_t policy_rpo_check(struct policy_run *r)
{
  const struct policy_spec *sp = r->spec;
  if (sp->rpo_target_s <= 0)
    return 0;
  json_t *regions = policy_regions_load(r->v);
  int64_t target = sp->rpo_target_s * US, earliest = 0;
  bool changed = false;
  for (int i = -1; i < sp->ncopies; i++) {
    const char *region = i < 0 ? r->arm->cfg.locations[0].name : sp->copies[i].region;
    int64_t t = region_time(r->v, regions, region, i < 0);
    json_t *e = policy_region_entry(regions, region);
    if (t <= 0) { /* nothing there yet: the RPO runs from when the scheduler first looked */
      t = json_integer_value(json_object_get(e, "since"));
      if (t <= 0) {
        json_object_set_new(e, "since", json_integer(r->now_us));
        t = r->now_us;
        changed = true;
      }
    }
    bool was = json_is_true(json_object_get(e, "breached")), now = r->now_us - t > target;
    if (now && !was) {
      char msg[300];
      if (region_time(r->v, regions, region, i < 0) > 0)
        snprintf(msg, sizeof msg, "The newest %s in %s is %" PRId64 " s old, above the policy's target of %" PRId64
                 " s.", i < 0 ? "restore point" : "copy", region, (r->now_us - t) / US, sp->rpo_target_s);
      else
        snprintf(msg, sizeof msg, "No %s in %s for %" PRId64 " s, above the policy's target of %" PRId64 " s.",
                 i < 0 ? "restore point" : "copy", region, (r->now_us - t) / US, sp->rpo_target_s);
      char key[64];
      snprintf(key, sizeof key, "%s-%" PRId64, region, t);
      policy_event(r, "RpoExceeded", region, NULL, "RpoExceeded", msg, (r->now_us - t) / US, key);
      log_warn("policy", "policy %s VM %s: %s", r->policy_id, r->v->vm_id, msg);
    }
    if (now != was) {
      json_object_set_new(e, "breached", json_boolean(now));
      changed = true;
    }
    if (!now && (earliest == 0 || t + target + US < earliest))
      earliest = t + target + US;
  }
  if (changed)
    policy_regions_store(r, regions);
  json_decref(regions);
  return earliest;
}

static json_t *aged(const char *id, int64_t t, int64_t now)
{
  if (!id || t <= 0)
    return json_null();
  char s[TIME_ISO_LEN];
  time_iso8601(t, s);
  return json_pack("{s:s,s:s,s:I}", "id", id, "time", s, "ageSeconds", (json_int_t)((now - t) / US));
}

struct view {
  struct arm *arm;
  const struct policy_spec *spec;
  json_t *vms;
  int64_t now;
};

static json_t *rpo_json(const struct view *w, int64_t t)
{
  return t > 0 ? json_integer((json_int_t)((w->now - t) / US)) : json_null();
}

static json_t *exceeded_json(const struct view *w, json_t *region_entry, int64_t t)
{
  if (t <= 0) /* none yet: measured from when the scheduler first looked (policy_rpo_check) */
    t = json_integer_value(json_object_get(region_entry, "since"));
  return json_boolean(t > 0 && w->spec->rpo_target_s > 0 && w->now - t > w->spec->rpo_target_s * US);
}

static int view_vm(void *ctx, const struct meta_policy_vm *v)
{
  struct view *w = ctx;
  json_t *regions = policy_regions_load(v);
  json_t *copies = json_array(), *conflicts = json_array();
  for (int i = 0; i < w->spec->ncopies; i++) {
    const char *region = w->spec->copies[i].region;
    json_t *e = json_object_get(regions, region);
    int64_t t = json_integer_value(json_object_get(e, "time"));
    json_array_append_new(copies, json_pack("{s:s,s:o,s:o,s:o}", "region", region, "newestCopy",
                                            aged(json_string_value(json_object_get(e, "id")), t, w->now),
                                            "rpoSeconds", rpo_json(w, t), "rpoExceeded", exceeded_json(w, e, t)));
  }
  const char *region;
  json_t *e;
  json_object_foreach(regions, region, e) {
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(e, "conflicts"), i, c) {
      json_t *x = json_deep_copy(c);
      json_object_set_new(x, "region", json_string(region));
      json_array_append_new(conflicts, x);
    }
  }
  char next[TIME_ISO_LEN] = "";
  if (v->next_slot_us >= 0)
    time_iso8601(v->next_slot_us, next);
  json_t *err = v->last_error ? json_loads(v->last_error, 0, NULL) : NULL;
  json_t *vm = json_pack("{s:s,s:o,s:o,s:o,s:o,s:I,s:i,s:o,s:o,s:o}", "vmId", v->vm_id, "lastRestorePoint",
                         aged(v->last_rp_id, v->last_rp_us, w->now), "copies", copies, "nextSlot",
                         next[0] ? json_string(next) : json_null(), "lastError", err ? err : json_null(),
                         "missedSlots", (json_int_t)v->missed, "failedAttempts", v->attempts, "rpoSeconds",
                         rpo_json(w, v->last_rp_us), "rpoExceeded",
                         exceeded_json(w, json_object_get(regions, w->arm->cfg.locations[0].name), v->last_rp_us),
                         "retentionConflicts", conflicts);
  json_decref(regions);
  return vm && !json_array_append_new(w->vms, vm) ? 0 : -ENOMEM;
}

json_t *arm_policy_instance_view(struct arm *arm, const char *policy_id)
{
  struct policy_spec spec;
  struct auth_identity actor;
  if (arm_policy_load(arm, policy_id, &spec, &actor) < 0)
    return NULL;
  struct view w = {arm, &spec, json_array(), time_now_us()};
  int rc = w.vms ? meta_policy_vm_list(arm->meta, policy_id, view_vm, &w) : -ENOMEM;
  json_t *out = NULL;
  if (rc == 0) {
    char t[TIME_ISO_LEN];
    time_iso8601(w.now, t);
    out = json_pack("{s:s,s:s,s:I,s:O}", "region", arm->cfg.locations[0].name, "time", t, "rpoTargetSeconds",
                    (json_int_t)spec.rpo_target_s, "virtualMachines", w.vms);
  }
  json_decref(w.vms);
  policy_spec_clear(&spec);
  return out;
}

void arm_policy_view_get(struct arm_call *call)
{
  char id[1024];
  snprintf(id, sizeof id, "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Vmrp/protectionPolicies/%s",
           call->params[0], call->params[1], call->params[2]);
  json_t *v = arm_policy_instance_view(call->arm, id);
  struct meta_resource r;
  if (v)
    arm_reply_json(call, 200, v);
  else if (meta_resource_get(call->arm->meta, id, &r) < 0)
    arm_reply_not_found(call, POLICY_TYPE, call->params[2]);
  else {
    meta_resource_clear(&r);
    arm_reply_internal(call, -ENOMEM);
  }
}
