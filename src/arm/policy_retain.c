/*
 * policy_retain.c — retention as the scheduler applies it and as the
 * policy's previewRetention shows it: one plan function for both, so the
 * preview is what the scheduler will do.
 *
 * The plan of a collection: its restore points read through arm_dispatch as
 * the policy's actor (a collection of the other region is read there, by
 * forwarding), only if the collection is tagged with the policy's id; of
 * those, the ones named after a slot and Succeeded are judged by
 * retention_apply (restic forget's rules in the policy's zone, a slot's time
 * as the restore point's time) with pins: LOCKED for a retention lock not
 * yet expired by this region's clock, IN_USE for a source restore point
 * whose copy to another region is not complete, NEWEST_OK for the newest.
 * Restore points being created or failed, or not named after a slot, are
 * skipped (reported as such), never removed.
 *
 * Applying it never fights a lock: a DELETE refused with 409 (ScopeLocked,
 * a retention lock, another request on the restore point) is skipped and
 * reported once (the VM's retentionConflicts, webhook RetentionConflict),
 * and tried again only at the next retention of that collection — after the
 * next slot, never in a loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/policy_run.h"
#include "common/log.h"
#include "common/strlist.h"
#include "common/timefmt.h"
#include "policy/retention.h"

struct rp_entry {
  const char *id;      /* borrowed from the listing */
  int64_t time_us;
  struct retention_item item;
};

static int newest_first(const void *a, const void *b)
{
  const struct rp_entry *x = a, *y = b;
  return x->time_us < y->time_us ? 1 : x->time_us > y->time_us ? -1 : 0;
}

/* The source restore points whose copies to another region are not all
 * final (the names of the VM's open slots in state Succeeded), read once per
 * plan, when the first restore point is judged. */
struct in_use {
  struct strlist names;
  bool read;
};

static int slot_copying(void *ctx, const struct meta_policy_slot *s)
{
  struct in_use *u = ctx;
  if (strcmp(s->state, "Succeeded"))
    return 0;
  json_t *c = json_loads(s->copies ? s->copies : "{}", 0, NULL);
  bool copying = false;
  const char *region;
  json_t *e;
  json_object_foreach(c, region, e) {
    const char *st = json_string_value(json_object_get(e, "state")) ?: "";
    if (strcmp(st, "Succeeded") && strcmp(st, "Superseded"))
      copying = true;
  }
  json_decref(c);
  return copying ? strlist_add(&u->names, policy_last_segment(s->rp_id)) : 0;
}

static bool in_use(struct policy_run *r, const char *vm_id, struct in_use *u, const char *rp_name)
{
  if (!u->read) {
    meta_policy_slot_list(r->arm->meta, r->policy_id, vm_id, true, slot_copying, u);
    u->read = true;
  }
  for (size_t i = 0; i < u->names.n; i++)
    if (!strcasecmp(u->names.v[i], rp_name))
      return true;
  return false;
}

static json_t *point(const char *id, int64_t us)
{
  char t[TIME_ISO_LEN];
  time_iso8601(us, t);
  return json_pack("{s:s,s:s}", "id", id, "time", t);
}

/* The plan of coll_id (vm_id's, source: in the policy's region): 0 with
 * *out {keep, remove, skipped}; -ENOENT no such collection; -EPERM not the
 * policy's; -EIO it could not be read (*msg says why). */
static int plan_collection(struct policy_run *r, const char *vm_id, const char *coll_id, bool source,
                           const struct retention_rules *rules, json_t **out, char *msg, size_t msglen)
{
  *out = NULL;
  struct policy_reply p;
  policy_call(r, "GET", coll_id, "$expand=restorePoints", NULL, &p);
  if (p.status != 200) {
    int rc = p.status == 404 ? -ENOENT : -EIO;
    snprintf(msg, msglen, "%s: HTTP %d %s %s", coll_id, p.status, p.code, p.message);
    policy_reply_clear(&p);
    return rc;
  }
  const char *tag = json_string_value(json_object_get(json_object_get(p.body, "tags"), POLICY_TAG));
  if (!tag || strcasecmp(tag, r->policy_id)) {
    snprintf(msg, msglen, "%s is not tagged %s = the policy's id", coll_id, POLICY_TAG);
    policy_reply_clear(&p);
    return -EPERM;
  }
  json_t *rps = json_object_get(json_object_get(p.body, "properties"), "restorePoints");
  size_t n = json_array_size(rps);
  struct rp_entry *e = calloc(n + 1, sizeof *e);
  json_t *plan = json_pack("{s:[],s:[],s:[]}", "keep", "remove", "skipped");
  if (!e || !plan) {
    free(e);
    json_decref(plan);
    policy_reply_clear(&p);
    return -ENOMEM;
  }
  json_t *skipped = json_object_get(plan, "skipped");
  struct in_use u = {0};
  size_t k = 0, i;
  json_t *rp;
  json_array_foreach(rps, i, rp) {
    const char *id = json_string_value(json_object_get(rp, "id"));
    json_t *props = json_object_get(rp, "properties");
    const char *state = json_string_value(json_object_get(props, "provisioningState")) ?: "";
    int64_t slot = id ? policy_slot_of_name(policy_last_segment(id)) : -1;
    if (!id)
      continue;
    if (slot < 0 || strcmp(state, "Succeeded")) {
      int64_t tc = policy_parse_time(json_string_value(json_object_get(props, "timeCreated")));
      json_t *pt = point(id, tc > 0 ? tc : 0);
      json_object_set_new(pt, "reason", json_string(slot < 0 ? "not a slot of the policy"
                                                    : !strcmp(state, "Failed") ? "failed"
                                                                               : "being created"));
      json_array_append_new(skipped, pt);
      continue;
    }
    e[k].id = id;
    e[k].time_us = slot * US;
    e[k].item.time = slot;
    if (arm_retention_locked(props, r->now_us))
      e[k].item.pins |= RETAIN_PIN_LOCKED;
    if (source && in_use(r, vm_id, &u, policy_last_segment(id)))
      e[k].item.pins |= RETAIN_PIN_IN_USE;
    k++;
  }
  strlist_free(&u.names);
  qsort(e, k, sizeof *e, newest_first);
  if (k)
    e[0].item.pins |= RETAIN_PIN_NEWEST_OK;
  struct retention_item *items = calloc(k + 1, sizeof *items);
  if (!items) {
    free(e);
    json_decref(plan);
    policy_reply_clear(&p);
    return -ENOMEM;
  }
  for (size_t j = 0; j < k; j++)
    items[j] = e[j].item;
  retention_apply(rules, r->spec->zone, items, k); /* sorted already: the order, ties included, is kept */
  for (size_t j = 0; j < k; j++) {
    json_t *pt = point(e[j].id, e[j].time_us);
    if (items[j].keep) {
      json_object_set_new(pt, "reasons", json_string(items[j].reasons));
      json_array_append_new(json_object_get(plan, "keep"), pt);
    } else {
      json_array_append_new(json_object_get(plan, "remove"), pt);
    }
  }
  free(items);
  free(e);
  policy_reply_clear(&p);
  *out = plan;
  return 0;
}

/* Whether the VM's record already reported a conflict on id (then true),
 * recording it otherwise. */
static bool conflict_known(struct policy_run *r, const char *region, const char *id, const char *code)
{
  json_t *regions = policy_regions_load(r->v), *e = policy_region_entry(regions, region);
  json_t *c = json_object_get(e, "conflicts");
  if (!c)
    json_object_set_new(e, "conflicts", c = json_array());
  bool known = false;
  size_t i;
  json_t *x;
  json_array_foreach(c, i, x) if (!strcasecmp(json_string_value(json_object_get(x, "id")) ?: "", id)) known = true;
  if (!known) {
    char t[TIME_ISO_LEN];
    time_iso8601(r->now_us, t);
    json_array_append_new(c, json_pack("{s:s,s:s,s:s}", "id", id, "code", code, "time", t));
    while (json_array_size(c) > 16) /* the newest few: an operator's pointer, not a log */
      json_array_remove(c, 0);
    policy_regions_store(r, regions);
  }
  json_decref(regions);
  return known;
}

/* Conflicts whose restore point is gone are no longer reported. */
static void conflicts_prune(struct policy_run *r, const char *region, json_t *plan)
{
  json_t *regions = policy_regions_load(r->v);
  json_t *c = json_object_get(json_object_get(regions, region), "conflicts");
  bool changed = false;
  for (size_t i = json_array_size(c); i-- > 0;) {
    const char *id = json_string_value(json_object_get(json_array_get(c, i), "id")) ?: "";
    bool present = false;
    const char *what;
    json_t *list;
    json_object_foreach(plan, what, list) {
      size_t j;
      json_t *x;
      json_array_foreach(list, j, x) if (!strcasecmp(json_string_value(json_object_get(x, "id")) ?: "", id)) present = true;
    }
    if (!present) {
      json_array_remove(c, i);
      changed = true;
    }
  }
  if (changed)
    policy_regions_store(r, regions);
  json_decref(regions);
}

void policy_retain(struct policy_run *r, const char *coll_id, const char *region, const struct retention_rules *rules)
{
  json_t *plan;
  char msg[1200];
  bool source = !strcasecmp(region, r->arm->cfg.locations[0].name);
  int rc = plan_collection(r, r->v->vm_id, coll_id, source, rules, &plan, msg, sizeof msg);
  if (rc < 0) {
    log_warn("policy", "policy %s: retention of %s not applied: %s", r->policy_id, coll_id,
             rc == -ENOMEM ? "out of memory" : msg);
    return;
  }
  conflicts_prune(r, region, plan);
  size_t i;
  json_t *x;
  int removed = 0, refused = 0;
  json_array_foreach(json_object_get(plan, "remove"), i, x) {
    const char *id = json_string_value(json_object_get(x, "id"));
    struct policy_reply p;
    policy_call(r, "DELETE", id, NULL, NULL, &p);
    if (p.status == 200 || p.status == 202 || p.status == 204 || p.status == 404) {
      removed++;
    } else {
      refused++;
      log_warn("policy", "policy %s: retention skips %s: HTTP %d %s %s", r->policy_id, id, p.status, p.code,
               p.message);
      if (!conflict_known(r, region, id, p.code)) {
        char m[700];
        snprintf(m, sizeof m, "Retention would remove restore point '%s'; its DELETE was refused: %s", id,
                 p.message[0] ? p.message : p.code);
        char key[1400];
        snprintf(key, sizeof key, "conflict-%s", id);
        policy_event(r, "RetentionConflict", region, id, p.code, m, 0, key);
      }
    }
    policy_reply_clear(&p);
  }
  log_info("policy", "policy %s: retention of %s: %zu kept, %d removed, %d refused, %zu skipped", r->policy_id, coll_id,
           json_array_size(json_object_get(plan, "keep")), removed, refused,
           json_array_size(json_object_get(plan, "skipped")));
  json_decref(plan);
}

struct preview {
  struct policy_run *r;
  json_t *out;
  int rc;
};

/* Appends plan's keep/remove/skipped (NULL: none) to region's in out. */
static void merge(json_t *out, const char *region, json_t *plan)
{
  json_t *dst = json_object_get(out, region);
  if (!dst)
    json_object_set_new(out, region, dst = json_pack("{s:[],s:[],s:[]}", "keep", "remove", "skipped"));
  const char *what;
  json_t *list;
  json_object_foreach(plan, what, list) json_array_extend(json_object_get(dst, what), list);
}

static int preview_vm(void *ctx, const struct meta_policy_vm *v)
{
  struct preview *pv = ctx;
  struct policy_run *r = pv->r;
  const struct policy_spec *sp = r->spec;
  for (int i = -1; i < sp->ncopies; i++) {
    const char *region = i < 0 ? r->arm->cfg.locations[0].name : sp->copies[i].region;
    char coll[1200], msg[1200];
    policy_collection_id(r->policy_id, v->vm_id, i < 0 ? NULL : region, coll, sizeof coll);
    json_t *plan;
    int rc = plan_collection(r, v->vm_id, coll, i < 0, i < 0 ? &sp->retention : &sp->copies[i].retention, &plan, msg,
                             sizeof msg);
    if (rc == -ENOENT || rc == -EPERM)
      continue; /* nothing made there yet, or not the policy's: nothing retention would touch */
    if (rc < 0) {
      pv->rc = rc;
      return rc;
    }
    merge(pv->out, region, plan);
    json_decref(plan);
  }
  return 0;
}

int arm_policy_retention_plan(struct arm *arm, const char *policy_id, const struct policy_spec *spec,
                              const struct auth_identity *actor, json_t **out)
{
  struct policy_run r = {.arm = arm, .policy_id = policy_id, .spec = spec, .actor = actor, .now_us = time_now_us()};
  struct preview pv = {&r, json_object(), 0};
  if (!pv.out)
    return -ENOMEM;
  merge(pv.out, arm->cfg.locations[0].name, NULL); /* the region listed even with nothing to judge */
  for (int i = 0; i < spec->ncopies; i++)
    merge(pv.out, spec->copies[i].region, NULL);
  int rc = meta_policy_vm_list(arm->meta, policy_id, preview_vm, &pv);
  if (rc < 0) {
    json_decref(pv.out);
    return rc == -ENOMEM ? rc : -EIO;
  }
  *out = pv.out;
  return 0;
}
