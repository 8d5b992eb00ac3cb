/*
 * policy_sched.c — the protection policies' scheduler: one thread per
 * region that takes each policy's slots for each of its VMs, makes the
 * restore point, ships its copies, and applies retention (docs/policies.md
 * "The scheduler").
 *
 * Why this shape:
 *  - Everything it does is an ARM request made as the policy's actor
 *    through arm_dispatch, so roles, locks, admission rules and forwarding
 *    to the other region apply exactly as to a client.  A restore point and
 *    a copy are long-running: the thread never waits on one; it records
 *    where the slot is and comes back (the slot's due_us).
 *  - Work is found through an index (meta policy_vms.due_us): a pass reads
 *    the rows due now, earliest first, a bounded batch at a time, and the
 *    thread sleeps until the earliest due time or a change.  Its cost
 *    follows the work due, not the VMs or restore points kept.
 *  - A restore point is named after its slot (YYYYMMDDTHHMMSSZ), so the PUT
 *    for a slot, re-sent after a crash, can never make a second one: the
 *    slot's first step GETs it and adopts it when it exists.
 *  - Membership (explicit ids ∪ VMs of the subscription whose tags match the
 *    selector) is evaluated when the policy changes and once a minute.
 *
 * A slot's states (meta policy_slots.state):
 *   Pending    taken; its restore point not yet accepted (PUT refused:
 *              retried with backoff until the next slot supersedes it)
 *   Creating   the restore point exists, being created (polled)
 *   Succeeded  the restore point Succeeded; copies under way (copies JSON:
 *              per region {state Pending|Copying|Succeeded|Superseded,
 *              attempts, due})
 *   Done       the restore point and every copy are final
 *   Failed     given up (superseded by the next slot), reported
 *
 * Durability invariants (each names its test):
 *  (1) a slot is taken once: its row is inserted in the transaction that
 *      moves the VM's next_slot_us past it, BEFORE its restore point PUT
 *      (meta policy.c (1), (2); tests/unit/test_meta_policy.c;
 *      tests/arm/policy_schedule.sh "every slot exactly once" across a
 *      graceful restart and a kill -9 mid-slot);
 *  (2) never doubled: the restore point's name is the slot's time and a
 *      slot's first step adopts the restore point of that name if it exists
 *      (policy_schedule.sh: the kill -9 lands after the PUT, before the
 *      slot's state is written — failpoint policy.slot.after_put);
 *  (3) never lost: a slot's row stays until it is final; on start every row
 *      due is worked on, whatever happened before (policy_schedule.sh: the
 *      slot of the kill completes after the restart);
 *  (4) missed slots are caught up once: after downtime only the newest due
 *      slot is taken; those skipped are counted in missedSlots
 *      (policy_schedule.sh "missed slots reported": a region down over a
 *      slot).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "arm/policy_run.h"
#include "common/failpoint.h"
#include "common/log.h"
#include "common/strlist.h"
#include "common/timefmt.h"
#include "policy/schedule.h"

#define BATCH 32               /* due rows read at once */
#define MEMBERS_EVERY_S 60     /* membership re-evaluated this often */
#define MAX_CHANGED 256        /* changes queued before a full re-evaluation */
#define MISSED_COUNT_CAP 100000 /* slots counted one by one after downtime, at most */
#define FAR (INT64_MAX / 4)

struct policy_sched {
  struct arm *arm;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  bool stop;
  bool all_changed;            /* the queue overflowed: re-evaluate every policy */
  char *changed[MAX_CHANGED];  /* policies changed since the last pass */
  int nchanged;
};

/* ---- small helpers shared by the policy_*.c files ---------------------- */

void policy_reply_clear(struct policy_reply *p)
{
  json_decref(p->body);
  memset(p, 0, sizeof *p);
}

void policy_call(struct policy_run *r, const char *method, const char *path, const char *extra, json_t *body,
                 struct policy_reply *out)
{
  memset(out, 0, sizeof *out);
  char url[2048];
  snprintf(url, sizeof url, "%s?api-version=%s%s%s", path, arm_api_version_newest(API_COMPUTE), extra ? "&" : "",
           extra ? extra : "");
  struct arm_dispatch_reply rep;
  if (arm_dispatch(r->arm, r->actor, method, url, body, NULL, &rep) < 0) {
    snprintf(out->code, sizeof out->code, "InternalError");
    snprintf(out->message, sizeof out->message, "out of memory");
    return;
  }
  out->status = rep.status;
  out->body = rep.body;
  rep.body = NULL;
  json_t *err = json_object_get(out->body, "error");
  if (err) {
    snprintf(out->code, sizeof out->code, "%s", json_string_value(json_object_get(err, "code")) ?: "");
    snprintf(out->message, sizeof out->message, "%s", json_string_value(json_object_get(err, "message")) ?: "");
  } else if (out->status >= 400) {
    snprintf(out->code, sizeof out->code, "HttpStatus%d", out->status);
  }
  arm_dispatch_reply_clear(&rep);
}

const char *policy_last_segment(const char *id)
{
  const char *s = strrchr(id, '/');
  return s ? s + 1 : id;
}

static uint32_t fnv1a(const char *s)
{
  uint32_t h = 2166136261u;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    h = (h ^ (c >= 'A' && c <= 'Z' ? c + 32 : c)) * 16777619u;
  }
  return h;
}

void policy_collection_id(const char *policy_id, const char *vm_id, const char *region, char *out, size_t cap)
{
  const char *prov = strcasestr(vm_id, "/providers/");
  int rg_len = prov ? (int)(prov - vm_id) : (int)strlen(vm_id);
  char name[256];
  snprintf(name, sizeof name, "pp-%s-%s%s%s", policy_last_segment(policy_id), policy_last_segment(vm_id),
           region ? "-" : "", region ? region : "");
  for (char *c = name; *c; c++) /* the policy's name may hold what a collection's may not */
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
          *c == '_' || *c == '.'))
      *c = '-';
  if (strlen(name) > 80)
    snprintf(name + 71, sizeof name - 71, "-%08x", fnv1a(name));
  snprintf(out, cap, "%.*s/providers/Microsoft.Compute/restorePointCollections/%s", rg_len, vm_id, name);
}

void policy_slot_name(int64_t slot_s, char out[20])
{
  time_t t = (time_t)slot_s;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 20, "%Y%m%dT%H%M%SZ", &tm);
}

int64_t policy_slot_of_name(const char *name)
{
  struct tm tm = {0};
  int n = 0;
  if (strlen(name) != 16 || sscanf(name, "%4d%2d%2dT%2d%2d%2dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                                   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 || n != 16)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return (int64_t)timegm(&tm);
}

json_t *policy_regions_load(const struct meta_policy_vm *v)
{
  json_t *regions = v->regions ? json_loads(v->regions, 0, NULL) : NULL;
  return regions ? regions : json_object();
}

json_t *policy_region_entry(json_t *regions, const char *region)
{
  json_t *e = json_object_get(regions, region);
  if (!e)
    json_object_set_new(regions, region, e = json_object());
  return e;
}

void policy_regions_store(struct policy_run *r, const json_t *regions)
{
  free(r->v->regions);
  r->v->regions = json_dumps(regions, JSON_COMPACT);
}

int64_t policy_parse_time(const char *s)
{
  struct tm tm = {0};
  int n = 0;
  if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                   &tm.tm_sec, &n) != 6)
    return -1;
  const char *p = s + n;
  int64_t frac = 0, scale = US;
  if (*p == '.')
    for (p++; *p >= '0' && *p <= '9'; p++)
      if (scale > 1) {
        scale /= 10;
        frac += (*p - '0') * scale;
      }
  int64_t off = 0;
  int oh, om;
  if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &oh, &om) == 2)
    off = (*p == '+' ? 1 : -1) * (oh * 3600 + om * 60);
  else if (*p != 'Z' && *p != 'z')
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return ((int64_t)timegm(&tm) - off) * US + frac;
}

/* ---- retries ------------------------------------------------------------ */

/* The wait after the n-th failed attempt: 30 s doubling to 30 min (the
 * first is failpoint policy.backoff_s in tests). */
static int64_t backoff_us(int n)
{
  int64_t first = failpoint_value("policy.backoff_s", 30), cap = 1800, d = first;
  for (int i = 1; i < n && d < cap; i++)
    d *= 2;
  return (d < cap ? d : cap) * US;
}

/* How soon to look at a long-running operation started at since again: 2 s,
 * growing with its age to 30 s. */
static int64_t poll_us(int64_t since, int64_t now)
{
  int64_t d = (now - since) / 4;
  return d < 2 * US ? 2 * US : d > 30 * US ? 30 * US : d;
}

/* ---- the slot state machine -------------------------------------------- */

static bool retryable_admission(const struct policy_reply *p)
{
  return p->status == 409 || p->status == 429;
}

/* A failed attempt of the slot's restore point: recorded, reported on the
 * first failure of the slot, retried after the backoff. */
static void slot_failed(struct policy_run *r, struct meta_policy_slot *s, const struct policy_reply *p,
                        const char *what)
{
  char msg[700];
  snprintf(msg, sizeof msg, "%s: %s", what, p->message[0] ? p->message : p->code);
  s->attempts++;
  r->v->attempts++;
  s->due_us = r->now_us + backoff_us(s->attempts);
  free(s->error);
  json_t *e = json_pack("{s:s,s:s}", "code", p->code[0] ? p->code : "InternalError", "message", msg);
  s->error = e ? json_dumps(e, JSON_COMPACT) : NULL;
  json_decref(e);
  policy_set_error(r, p->code[0] ? p->code : "InternalError", msg);
  log_warn("policy", "policy %s VM %s slot %s: %s (HTTP %d %s); attempt %d, retry in %" PRId64 " s%s", r->policy_id,
           r->v->vm_id, policy_last_segment(s->rp_id), what, p->status, p->code, s->attempts,
           (s->due_us - r->now_us) / US, retryable_admission(p) ? " (admission)" : "");
  if (s->attempts == 1) {
    char key[64];
    snprintf(key, sizeof key, "rp-%" PRId64, s->slot_us);
    policy_event(r, "RestorePointFailed", r->arm->cfg.locations[0].name, s->rp_id, p->code, msg, 0, key);
  }
}

/* The VM's collection exists (made now, tagged with the policy, when it
 * does not) and is the policy's: 0, or -errno with *p the refusal. */
static int ensure_collection(struct policy_run *r, const char *coll_id, const char *location, const char *source_id,
                             struct policy_reply *p)
{
  policy_call(r, "GET", coll_id, NULL, NULL, p);
  if (p->status == 200) {
    const char *tag = json_string_value(json_object_get(json_object_get(p->body, "tags"), POLICY_TAG));
    if (tag && !strcasecmp(tag, r->policy_id))
      return 0;
    policy_reply_clear(p);
    p->status = 409;
    snprintf(p->code, sizeof p->code, "CollectionNotOwned");
    snprintf(p->message, sizeof p->message,
             "Collection '%s' exists and is not tagged %s = the policy's id; the policy will not write into it.",
             coll_id, POLICY_TAG);
    return -EEXIST;
  }
  if (p->status != 404)
    return -EIO;
  policy_reply_clear(p);
  json_t *body = json_pack("{s:s,s:{s:s},s:{s:{s:s}}}", "location", location, "tags", POLICY_TAG, r->policy_id,
                           "properties", "source", "id", source_id);
  policy_call(r, "PUT", coll_id, NULL, body, p);
  json_decref(body);
  return p->status == 200 || p->status == 201 ? 0 : -EIO;
}

static json_t *rp_body(struct policy_run *r, const struct meta_policy_slot *s)
{
  const struct policy_spec *sp = r->spec;
  json_t *props = json_pack("{s:s}", "consistencyMode", sp->application_consistent ? "ApplicationConsistent"
                                                                                    : "CrashConsistent");
  if (sp->nexclude_disks) {
    json_t *ex = json_array();
    for (int i = 0; i < sp->nexclude_disks; i++)
      json_array_append_new(ex, json_pack("{s:s}", "id", sp->exclude_disks[i]));
    json_object_set_new(props, "excludeDisks", ex);
  }
  if (sp->lock_s > 0) {
    char t[TIME_ISO_LEN];
    time_iso8601((s->slot_us / US + sp->lock_s) * US, t);
    json_object_set_new(props, "vmrpRetentionLock",
                        json_pack("{s:s,s:s}", "mode", sp->lock_compliance ? "Compliance" : "Governance", "expiresAt", t));
  }
  return json_pack("{s:o}", "properties", props);
}

/* Copies' JSON for a restore point that just Succeeded: one Pending entry
 * per copy region. */
static char *copies_new(const struct policy_spec *sp, int64_t src_us)
{
  json_t *c = json_object();
  for (int i = 0; i < sp->ncopies; i++)
    json_object_set_new(c, sp->copies[i].region, json_pack("{s:s,s:i,s:I,s:I}", "state", "Pending", "attempts", 0,
                                                            "due", (json_int_t)0, "time", (json_int_t)src_us));
  char *t = json_dumps(c, JSON_COMPACT);
  json_decref(c);
  return t;
}

static const char *state_of(const struct policy_reply *p)
{
  return json_string_value(json_object_get(json_object_get(p->body, "properties"), "provisioningState")) ?: "";
}

/* The restore point's step: Pending → Creating → Succeeded. */
static void step_rp(struct policy_run *r, struct meta_policy_slot *s)
{
  char coll[1200];
  policy_collection_id(r->policy_id, r->v->vm_id, NULL, coll, sizeof coll);
  struct policy_reply p = {0};
  if (!strcmp(s->state, "Pending")) {
    struct meta_resource vm = {0};
    if (meta_resource_get(r->arm->meta, r->v->vm_id, &vm) < 0) {
      p.status = 404;
      snprintf(p.code, sizeof p.code, "ResourceNotFound");
      snprintf(p.message, sizeof p.message, "The virtual machine '%s' was not found in %s.", r->v->vm_id,
               r->arm->cfg.locations[0].name);
      slot_failed(r, s, &p, "the VM");
      return;
    }
    int rc = ensure_collection(r, coll, vm.location ? vm.location : r->arm->cfg.locations[0].name, vm.id, &p);
    meta_resource_clear(&vm);
    if (rc < 0) {
      slot_failed(r, s, &p, "the restore point collection");
      policy_reply_clear(&p);
      return;
    }
    policy_reply_clear(&p);
    policy_call(r, "GET", s->rp_id, NULL, NULL, &p); /* (2): a PUT sent before a crash made it: adopt it */
    if (p.status == 404) {
      policy_reply_clear(&p);
      json_t *body = rp_body(r, s);
      policy_call(r, "PUT", s->rp_id, NULL, body, &p);
      json_decref(body);
      if (failpoint_io("policy.slot.after_put") < 0) /* (2)'s test: the PUT made, the slot not yet written */
        log_warn("policy", "failpoint policy.slot.after_put");
      if (p.status != 200 && p.status != 201) {
        slot_failed(r, s, &p, "the restore point PUT");
        policy_reply_clear(&p);
        return;
      }
      log_info("policy", "policy %s VM %s: restore point %s of slot %s requested", r->policy_id, r->v->vm_id,
               s->rp_id, policy_last_segment(s->rp_id));
    } else if (p.status != 200) {
      slot_failed(r, s, &p, "the restore point GET");
      policy_reply_clear(&p);
      return;
    } else {
      log_info("policy", "policy %s VM %s: restore point %s of slot %s exists (adopted)", r->policy_id, r->v->vm_id,
               s->rp_id, policy_last_segment(s->rp_id));
    }
    free(s->state);
    s->state = strdup("Creating");
    s->changed_us = r->now_us;
  } else {
    policy_call(r, "GET", s->rp_id, NULL, NULL, &p);
  }
  /* Creating: where is it?  (p: the answer of the PUT, of the GET that
   * adopted it, or of this step's GET) */
  const char *st = state_of(&p);
  if (p.status == 201)
    p.status = 200;
  if (p.status == 404) { /* deleted meanwhile: the slot is made again */
    free(s->state);
    s->state = strdup("Pending");
    s->due_us = r->now_us;
  } else if (p.status != 200) {
    slot_failed(r, s, &p, "the restore point GET");
  } else if (!strcmp(st, "Succeeded")) {
    const char *tc = json_string_value(json_object_get(json_object_get(p.body, "properties"), "timeCreated"));
    int64_t t = policy_parse_time(tc);
    if (t < 0)
      t = r->now_us;
    free(r->v->last_rp_id);
    r->v->last_rp_id = strdup(s->rp_id);
    r->v->last_rp_us = t;
    r->v->attempts = 0;
    free(s->state);
    s->state = strdup(r->spec->ncopies ? "Succeeded" : "Done");
    free(s->copies);
    s->copies = r->spec->ncopies ? copies_new(r->spec, t) : NULL;
    s->due_us = r->now_us;
    s->changed_us = r->now_us;
    log_info("policy", "policy %s VM %s: restore point %s Succeeded", r->policy_id, r->v->vm_id, s->rp_id);
    policy_retain(r, coll, r->arm->cfg.locations[0].name, &r->spec->retention);
  } else if (!strcmp(st, "Failed")) {
    /* made again under the same name once this one is gone */
    struct policy_reply d;
    policy_call(r, "DELETE", s->rp_id, NULL, NULL, &d);
    policy_reply_clear(&d);
    snprintf(p.code, sizeof p.code, "RestorePointFailed");
    snprintf(p.message, sizeof p.message, "The restore point failed; it is deleted and made again.");
    free(s->state);
    s->state = strdup("Pending");
    slot_failed(r, s, &p, "the restore point");
  } else {
    s->due_us = r->now_us + poll_us(s->changed_us, r->now_us);
  }
  policy_reply_clear(&p);
}

/* One copy region's step: Pending → Copying → Succeeded (or Superseded by
 * a newer restore point before it started). */
static void step_copy(struct policy_run *r, struct meta_policy_slot *s, const char *region, json_t *c,
                      const struct retention_rules *rules)
{
  const char *st = json_string_value(json_object_get(c, "state")) ?: "";
  if (!strcmp(st, "Succeeded") || !strcmp(st, "Superseded"))
    return;
  if (json_integer_value(json_object_get(c, "due")) > r->now_us)
    return;
  char coll[1200], src_coll[1200], copy_id[1400];
  policy_collection_id(r->policy_id, r->v->vm_id, region, coll, sizeof coll);
  policy_collection_id(r->policy_id, r->v->vm_id, NULL, src_coll, sizeof src_coll);
  snprintf(copy_id, sizeof copy_id, "%s/restorePoints/%s", coll, policy_last_segment(s->rp_id));
  struct policy_reply p = {0};
  int attempts = (int)json_integer_value(json_object_get(c, "attempts"));
  const char *fail_what = NULL;
  if (!strcmp(st, "Pending")) {
    if (r->v->last_rp_id && strcasecmp(r->v->last_rp_id, s->rp_id)) { /* a newer one will be copied instead */
      json_object_set_new(c, "state", json_string("Superseded"));
      return;
    }
    if (ensure_collection(r, coll, region, src_coll, &p) < 0) {
      fail_what = "the copy's collection";
    } else {
      policy_reply_clear(&p);
      policy_call(r, "GET", copy_id, NULL, NULL, &p);
      if (p.status == 404) {
        policy_reply_clear(&p);
        json_t *body = json_pack("{s:{s:{s:s}}}", "properties", "sourceRestorePoint", "id", s->rp_id);
        policy_call(r, "PUT", copy_id, NULL, body, &p);
        json_decref(body);
      }
      if (p.status == 200 || p.status == 201) {
        json_object_set_new(c, "state", json_string("Copying"));
        json_object_set_new(c, "since", json_integer(r->now_us));
        st = "Copying";
      } else {
        fail_what = "the copy PUT";
      }
    }
  } else {
    policy_call(r, "GET", copy_id, NULL, NULL, &p);
    if (p.status == 404) {
      json_object_set_new(c, "state", json_string("Pending"));
      st = "Pending";
    } else if (p.status != 200) {
      fail_what = "the copy GET";
    }
  }
  if (!fail_what && !strcmp(st, "Copying") && p.status == 200 && p.body) {
    const char *ps = state_of(&p);
    if (!strcmp(ps, "Succeeded")) {
      json_object_set_new(c, "state", json_string("Succeeded"));
      json_t *regions = policy_regions_load(r->v), *e = policy_region_entry(regions, region);
      json_int_t t = json_integer_value(json_object_get(c, "time"));
      if (t >= json_integer_value(json_object_get(e, "time"))) {
        json_object_set_new(e, "id", json_string(copy_id));
        json_object_set_new(e, "time", json_integer(t));
      }
      policy_regions_store(r, regions);
      json_decref(regions);
      log_info("policy", "policy %s VM %s: copy %s Succeeded", r->policy_id, r->v->vm_id, copy_id);
      policy_retain(r, coll, region, rules);
    } else if (!strcmp(ps, "Failed")) {
      struct policy_reply d;
      policy_call(r, "DELETE", copy_id, NULL, NULL, &d);
      policy_reply_clear(&d);
      policy_reply_clear(&p);
      p.status = 500;
      snprintf(p.code, sizeof p.code, "CopyFailed");
      snprintf(p.message, sizeof p.message, "The copy to %s failed; it is deleted and made again.", region);
      json_object_set_new(c, "state", json_string("Pending"));
      fail_what = "the copy";
    } else {
      int64_t since = json_integer_value(json_object_get(c, "since"));
      json_object_set_new(c, "due", json_integer(r->now_us + poll_us(since, r->now_us)));
    }
  }
  if (fail_what) {
    attempts++;
    json_object_set_new(c, "attempts", json_integer(attempts));
    json_object_set_new(c, "due", json_integer(r->now_us + backoff_us(attempts)));
    char msg[700];
    snprintf(msg, sizeof msg, "%s to %s: %s", fail_what, region, p.message[0] ? p.message : p.code);
    policy_set_error(r, p.code[0] ? p.code : "InternalError", msg);
    log_warn("policy", "policy %s VM %s copy %s: %s (HTTP %d %s); attempt %d", r->policy_id, r->v->vm_id, copy_id,
             fail_what, p.status, p.code, attempts);
    if (attempts == 1) {
      char key[80];
      snprintf(key, sizeof key, "copy-%s-%" PRId64, region, s->slot_us);
      policy_event(r, "CopyFailed", region, copy_id, p.code, msg, 0, key);
    }
  }
  policy_reply_clear(&p);
}

static void step_copies(struct policy_run *r, struct meta_policy_slot *s)
{
  json_t *copies = json_loads(s->copies ? s->copies : "{}", 0, NULL);
  if (!copies)
    return;
  bool open = false;
  int64_t due = FAR;
  for (int i = 0; i < r->spec->ncopies; i++) {
    const char *region = r->spec->copies[i].region;
    json_t *c = json_object_get(copies, region);
    if (!c)
      continue; /* a region added to the policy later: its copies start with the next slot */
    step_copy(r, s, region, c, &r->spec->copies[i].retention);
    const char *st = json_string_value(json_object_get(c, "state")) ?: "";
    if (strcmp(st, "Succeeded") && strcmp(st, "Superseded")) {
      open = true;
      int64_t d = json_integer_value(json_object_get(c, "due"));
      if (d < due)
        due = d;
    }
  }
  free(s->copies);
  s->copies = json_dumps(copies, JSON_COMPACT);
  json_decref(copies);
  s->due_us = open ? (due > r->now_us ? due : r->now_us + 2 * US) : FAR;
  if (!open) {
    free(s->state);
    s->state = strdup("Done");
  }
}

/* Advances one open slot as far as it goes now, and saves it. */
static int step_slot(struct policy_run *r, struct meta_policy_slot *s)
{
  if (s->due_us > r->now_us)
    return 0;
  if (!strcmp(s->state, "Pending") || !strcmp(s->state, "Creating"))
    step_rp(r, s);
  if (!strcmp(s->state, "Succeeded"))
    step_copies(r, s);
  return meta_policy_save(r->arm->meta, r->v, s, false);
}

struct open_slots {
  struct meta_policy_slot *s;
  int n, cap;
};

static int collect_slot(void *ctx, const struct meta_policy_slot *s)
{
  struct open_slots *o = ctx;
  if (o->n == o->cap) {
    int cap = o->cap ? 2 * o->cap : 4;
    struct meta_policy_slot *ns = realloc(o->s, (size_t)cap * sizeof *ns);
    if (!ns)
      return -ENOMEM;
    o->s = ns;
    o->cap = cap;
  }
  struct meta_policy_slot *d = &o->s[o->n];
  *d = *s;
  d->policy_id = strdup(s->policy_id);
  d->vm_id = strdup(s->vm_id);
  d->rp_id = strdup(s->rp_id);
  d->state = strdup(s->state);
  d->copies = s->copies ? strdup(s->copies) : NULL;
  d->error = s->error ? strdup(s->error) : NULL;
  o->n++;
  return d->policy_id && d->vm_id && d->rp_id && d->state ? 0 : -ENOMEM;
}

static void open_slots_clear(struct open_slots *o)
{
  for (int i = 0; i < o->n; i++)
    meta_policy_slot_clear(&o->s[i]);
  free(o->s);
  memset(o, 0, sizeof *o);
}

static int64_t jitter_us(struct policy_run *r)
{
  return r->spec->spread_s > 0 ? sched_jitter(r->policy_id, r->v->vm_id, r->spec->spread_s) * US : 0;
}

/* Takes the newest due slot (invariants (1), (4)): a Pending slot still
 * open is superseded by it. */
static int take_slot(struct policy_run *r, struct open_slots *o)
{
  struct meta_policy_vm *v = r->v;
  int64_t newest = policy_spec_prev_slot(r->spec, (r->now_us - jitter_us(r)) / US);
  if (newest < 0 || newest * US < v->next_slot_us)
    newest = v->next_slot_us / US;
  int64_t missed = 0;
  for (int64_t t = v->next_slot_us / US; t >= 0 && t < newest && missed < MISSED_COUNT_CAP;
       t = policy_spec_next_slot(r->spec, t))
    missed++;
  for (int i = 0; i < o->n; i++)
    if (!strcmp(o->s[i].state, "Pending")) {
      free(o->s[i].state);
      o->s[i].state = strdup("Failed");
      o->s[i].due_us = FAR;
      log_warn("policy", "policy %s VM %s: slot %s given up after %d attempts (the next slot is due)", r->policy_id,
               v->vm_id, policy_last_segment(o->s[i].rp_id), o->s[i].attempts);
      int rc = meta_policy_save(r->arm->meta, v, &o->s[i], false);
      if (rc < 0)
        return rc;
    }
  char name[20], coll[1200], rp[1400];
  policy_slot_name(newest, name);
  policy_collection_id(r->policy_id, v->vm_id, NULL, coll, sizeof coll);
  snprintf(rp, sizeof rp, "%s/restorePoints/%s", coll, name);
  struct meta_policy_slot s = {.policy_id = v->policy_id, .vm_id = v->vm_id, .slot_us = newest * US, .rp_id = rp,
                               .state = "Pending", .due_us = r->now_us, .created_us = r->now_us,
                               .changed_us = r->now_us};
  int64_t next = policy_spec_next_slot(r->spec, newest);
  v->next_slot_us = next < 0 ? -1 : next * US;
  v->last_slot_us = newest * US;
  v->missed += missed;
  int rc = meta_policy_save(r->arm->meta, v, &s, true); /* (1): with next_slot_us, before the PUT */
  if (rc == -EEXIST)
    rc = meta_policy_save(r->arm->meta, v, NULL, false);
  if (rc < 0)
    return rc;
  if (missed)
    log_warn("policy", "policy %s VM %s: slot %s taken; %" PRId64 " slot(s) before it missed (caught up once)",
             r->policy_id, v->vm_id, name, missed);
  else
    log_info("policy", "policy %s VM %s: slot %s taken", r->policy_id, v->vm_id, name);
  if (failpoint_io("policy.slot.after_take") < 0)
    log_warn("policy", "failpoint policy.slot.after_take");
  for (int i = 0; i < o->n; i++) /* o stays the VM's slots as stored: the new one replaces its row */
    if (o->s[i].slot_us == s.slot_us) {
      meta_policy_slot_clear(&o->s[i]);
      o->s[i] = o->s[--o->n];
      break;
    }
  rc = collect_slot(o, &s);
  return rc == 0 ? step_slot(r, &o->s[o->n - 1]) : rc;
}

/* All of one VM's work due now; then its row's next due time. */
static int step_vm(struct policy_run *r)
{
  struct meta_policy_vm *v = r->v;
  struct open_slots o = {0};
  int rc = meta_policy_slot_list(r->arm->meta, v->policy_id, v->vm_id, true, collect_slot, &o);
  for (int i = 0; rc == 0 && i < o.n; i++)
    rc = step_slot(r, &o.s[i]);
  if (rc == 0 && v->next_slot_us >= 0 && r->now_us >= v->next_slot_us + jitter_us(r))
    rc = take_slot(r, &o);
  if (rc < 0) {
    open_slots_clear(&o);
    return rc;
  }
  /* the next due time: the next slot, an open slot's step, an RPO breach
   * (o holds each slot as its step saved it: those not final are the VM's
   * open slots, as meta_policy_slot_list would read them again) */
  int64_t due = v->next_slot_us >= 0 ? v->next_slot_us + jitter_us(r) : FAR;
  for (int i = 0; i < o.n; i++)
    if (strcmp(o.s[i].state, "Done") && strcmp(o.s[i].state, "Failed") && o.s[i].due_us < due)
      due = o.s[i].due_us;
  open_slots_clear(&o);
  int64_t breach = policy_rpo_check(r);
  if (breach > 0 && breach < due)
    due = breach;
  v->due_us = due > r->now_us ? due : r->now_us + US;
  return meta_policy_save(r->arm->meta, v, NULL, false);
}

/* ---- policies: loading, membership -------------------------------------- */

struct loaded {
  char *id;
  int rc;
  struct policy_spec spec;
  struct auth_identity actor;
};

struct pass {
  struct policy_sched *ps;
  struct loaded cache[BATCH];
  int ncache;
};

static struct loaded *load(struct pass *p, const char *policy_id)
{
  for (int i = 0; i < p->ncache; i++)
    if (!strcasecmp(p->cache[i].id, policy_id))
      return &p->cache[i];
  if (p->ncache == BATCH)
    return NULL;
  struct loaded *l = &p->cache[p->ncache];
  memset(l, 0, sizeof *l);
  l->id = strdup(policy_id);
  if (!l->id)
    return NULL;
  l->rc = arm_policy_load(p->ps->arm, policy_id, &l->spec, &l->actor);
  p->ncache++;
  return l;
}

static void pass_clear(struct pass *p)
{
  for (int i = 0; i < p->ncache; i++) {
    if (p->cache[i].rc == 0)
      policy_spec_clear(&p->cache[i].spec);
    free(p->cache[i].id);
  }
  p->ncache = 0;
}

/* Appends id to l unless it holds it already (ids compare
 * case-insensitively, as ARM's do). */
static int add_unique(struct strlist *l, const char *id)
{
  for (size_t i = 0; i < l->n; i++)
    if (!strcasecmp(l->v[i], id))
      return 0;
  return strlist_add(l, id);
}

struct members {
  const struct policy_spec *spec;
  struct strlist ids;
};

static int tagged_vm(void *ctx, const struct meta_resource *r)
{
  struct members *m = ctx;
  json_t *tags = json_loads(r->tags ? r->tags : "{}", 0, NULL);
  bool match = tags != NULL;
  for (int i = 0; match && i < m->spec->ntags; i++) {
    const char *k;
    json_t *val;
    bool found = false;
    json_object_foreach(tags, k, val) if (!strcasecmp(k, m->spec->tags[i].name) && json_is_string(val) &&
                                          !strcmp(json_string_value(val), m->spec->tags[i].value)) found = true;
    match = found;
  }
  json_decref(tags);
  return match ? add_unique(&m->ids, r->id) : 0;
}

struct existing {
  struct members *want;
  struct policy_sched *ps;
  const struct policy_spec *spec;
  bool changed;
  struct strlist gone;
  bool *have;
  int64_t now_us;
};

static int existing_vm(void *ctx, const struct meta_policy_vm *v)
{
  struct existing *e = ctx;
  size_t i;
  for (i = 0; i < e->want->ids.n && strcasecmp(e->want->ids.v[i], v->vm_id); i++)
    ;
  if (i == e->want->ids.n)
    return strlist_add(&e->gone, v->vm_id);
  e->have[i] = true;
  if (!e->changed)
    return 0;
  /* the schedule may have changed: its next slot again, from the slot still
   * due (a slot due now is not dropped by an edit) or from now */
  struct meta_policy_vm c = *v;
  int64_t from = v->next_slot_us >= 0 && v->next_slot_us <= e->now_us ? v->next_slot_us / US - 1 : e->now_us / US;
  if (v->last_slot_us / US > from)
    from = v->last_slot_us / US;
  int64_t next = policy_spec_next_slot(e->spec, from);
  c.next_slot_us = next < 0 ? -1 : next * US;
  c.due_us = e->now_us;
  return meta_policy_save(e->ps->arm->meta, &c, NULL, false);
}

/* The policy's VMs now: rows made for those that joined, deleted (with
 * their slots) for those that left or for a policy that is gone. */
static void sync_members(struct policy_sched *ps, const char *policy_id, bool changed)
{
  struct arm *arm = ps->arm;
  struct policy_spec spec;
  struct auth_identity actor;
  int rc = arm_policy_load(arm, policy_id, &spec, &actor);
  if (rc == -ENOENT) {
    if (meta_policy_vm_delete(arm->meta, policy_id, NULL) == 0)
      log_info("policy", "policy %s is gone: its schedule stopped", policy_id);
    return;
  }
  if (rc < 0) {
    log_warn("policy", "policy %s cannot be loaded: %s", policy_id, strerror(-rc));
    return;
  }
  struct members want = {.spec = &spec};
  for (int i = 0; rc == 0 && i < spec.nvm_ids; i++)
    rc = add_unique(&want.ids, spec.vm_ids[i]);
  if (rc == 0 && spec.ntags > 0) {
    char sub[128];
    const char *s = policy_id + strlen("/subscriptions/");
    snprintf(sub, sizeof sub, "/subscriptions/%.*s", (int)strcspn(s, "/"), s);
    rc = meta_resource_list_prefix(arm->meta, sub, VM_TYPE, NULL, 1 << 30, tagged_vm, &want);
  }
  int64_t now = time_now_us();
  struct existing e = {.want = &want, .ps = ps, .spec = &spec, .changed = changed, .now_us = now};
  e.have = rc == 0 ? calloc(want.ids.n + 1, sizeof *e.have) : NULL;
  if (rc == 0 && !e.have)
    rc = -ENOMEM;
  if (rc == 0)
    rc = meta_policy_vm_list(arm->meta, policy_id, existing_vm, &e);
  for (size_t i = 0; rc == 0 && i < e.gone.n; i++) {
    rc = meta_policy_vm_delete(arm->meta, policy_id, e.gone.v[i]);
    log_info("policy", "policy %s: VM %s left the policy", policy_id, e.gone.v[i]);
  }
  for (size_t i = 0; rc == 0 && i < want.ids.n; i++) {
    if (e.have[i])
      continue;
    int64_t next = policy_spec_next_slot(&spec, now / US);
    struct meta_policy_vm v = {.policy_id = (char *)policy_id, .vm_id = want.ids.v[i],
                               .next_slot_us = next < 0 ? -1 : next * US, .due_us = now};
    rc = meta_policy_save(arm->meta, &v, NULL, false);
    log_info("policy", "policy %s: VM %s joined the policy, first slot at %" PRId64, policy_id, want.ids.v[i], next);
  }
  if (rc < 0)
    log_warn("policy", "policy %s: its VMs could not be updated: %s", policy_id, strerror(-rc));
  strlist_free(&e.gone);
  free(e.have);
  strlist_free(&want.ids);
  policy_spec_clear(&spec);
}

static int policy_resource(void *ctx, const struct meta_resource *r) { return add_unique(ctx, r->id); }
static int policy_row(void *ctx, const struct meta_policy_vm *v) { return add_unique(ctx, v->policy_id); }

/* Every policy of the region, and every policy that still has rows. */
static void sync_all(struct policy_sched *ps)
{
  struct strlist l = {0};
  meta_resource_list_type(ps->arm->meta, POLICY_TYPE, policy_resource, &l);
  meta_policy_vm_list(ps->arm->meta, NULL, policy_row, &l);
  for (size_t i = 0; i < l.n && !ps->stop; i++)
    sync_members(ps, l.v[i], false);
  strlist_free(&l);
}

/* ---- the thread --------------------------------------------------------- */

struct due_batch {
  struct meta_policy_vm v[BATCH];
  int n;
};

static int collect_due(void *ctx, const struct meta_policy_vm *v)
{
  struct due_batch *b = ctx;
  struct meta_policy_vm *d = &b->v[b->n];
  *d = *v;
  d->policy_id = strdup(v->policy_id);
  d->vm_id = strdup(v->vm_id);
  d->last_rp_id = v->last_rp_id ? strdup(v->last_rp_id) : NULL;
  d->last_error = v->last_error ? strdup(v->last_error) : NULL;
  d->regions = v->regions ? strdup(v->regions) : NULL;
  b->n++;
  return d->policy_id && d->vm_id ? 0 : -ENOMEM;
}

/* Works through the rows due now; false when the batch was full (more may
 * be due). */
static bool run_due(struct policy_sched *ps)
{
  struct due_batch b = {.n = 0};
  int64_t now = time_now_us();
  int rc = meta_policy_vm_due(ps->arm->meta, now, BATCH, collect_due, &b);
  struct pass p = {.ps = ps};
  for (int i = 0; rc == 0 && i < b.n && !ps->stop; i++) {
    struct loaded *l = load(&p, b.v[i].policy_id);
    if (!l || l->rc < 0) { /* the policy is gone or unreadable: membership decides; look again later */
      if (l && l->rc == -ENOENT)
        meta_policy_vm_delete(ps->arm->meta, b.v[i].policy_id, NULL);
      else {
        b.v[i].due_us = now + MEMBERS_EVERY_S * US;
        meta_policy_save(ps->arm->meta, &b.v[i], NULL, false);
      }
      continue;
    }
    struct policy_run r = {.arm = ps->arm, .policy_id = b.v[i].policy_id, .spec = &l->spec, .actor = &l->actor,
                           .v = &b.v[i], .now_us = time_now_us()};
    int s = step_vm(&r);
    if (s < 0) {
      log_warn("policy", "policy %s VM %s: %s; tried again shortly", b.v[i].policy_id, b.v[i].vm_id, strerror(-s));
      b.v[i].due_us = time_now_us() + 5 * US;
      meta_policy_save(ps->arm->meta, &b.v[i], NULL, false);
    }
  }
  pass_clear(&p);
  for (int i = 0; i < b.n; i++)
    meta_policy_vm_clear(&b.v[i]);
  return rc < 0 || b.n < BATCH;
}

static void *sched_main(void *arg)
{
  struct policy_sched *ps = arg;
  int64_t members_at = 0;
  pthread_mutex_lock(&ps->lock);
  while (!ps->stop) {
    char *changed[MAX_CHANGED];
    int n = ps->nchanged;
    bool all = ps->all_changed;
    memcpy(changed, ps->changed, sizeof changed);
    ps->nchanged = 0;
    ps->all_changed = false;
    pthread_mutex_unlock(&ps->lock);

    int64_t now = time_now_us();
    if (all || now - members_at >= MEMBERS_EVERY_S * US || now < members_at) {
      sync_all(ps);
      members_at = now;
    }
    for (int i = 0; i < n; i++) {
      if (!all)
        sync_members(ps, changed[i], true);
      free(changed[i]);
    }
    bool drained = true;
    for (int k = 0; k < 64 && !ps->stop && !(drained = run_due(ps)); k++)
      ;
    int64_t due;
    if (meta_policy_vm_next_due(ps->arm->meta, &due) < 0)
      due = FAR;
    int64_t wake = members_at + MEMBERS_EVERY_S * US;
    if (due < wake)
      wake = due;
    if (!drained)
      wake = 0;

    pthread_mutex_lock(&ps->lock);
    if (ps->stop || ps->nchanged || ps->all_changed)
      continue;
    struct timespec ts = {.tv_sec = (time_t)(wake / US), .tv_nsec = (long)(wake % US) * 1000};
    if (wake > time_now_us())
      pthread_cond_timedwait(&ps->cond, &ps->lock, &ts);
  }
  pthread_mutex_unlock(&ps->lock);
  return NULL;
}

void arm_policy_sched_changed(struct arm *arm, const char *policy_id)
{
  struct policy_sched *ps = arm->policy_sched;
  if (!ps)
    return;
  pthread_mutex_lock(&ps->lock);
  char *id = NULL;
  if (ps->nchanged < MAX_CHANGED && (id = strdup(policy_id)))
    ps->changed[ps->nchanged++] = id;
  else
    ps->all_changed = true;
  pthread_cond_signal(&ps->cond);
  pthread_mutex_unlock(&ps->lock);
}

int arm_policy_sched_start(struct arm *arm)
{
  struct policy_sched *ps = calloc(1, sizeof *ps);
  if (!ps)
    return -ENOMEM;
  ps->arm = arm;
  pthread_mutex_init(&ps->lock, NULL);
  pthread_cond_init(&ps->cond, NULL);
  int rc = pthread_create(&ps->thread, NULL, sched_main, ps);
  if (rc) {
    pthread_cond_destroy(&ps->cond);
    pthread_mutex_destroy(&ps->lock);
    free(ps);
    log_error("policy", "the scheduler did not start: %s", strerror(rc));
    return -rc;
  }
  arm->policy_sched = ps;
  return 0;
}

void arm_policy_stop(struct arm *arm)
{
  struct policy_sched *ps = arm ? arm->policy_sched : NULL;
  if (!ps)
    return;
  pthread_mutex_lock(&ps->lock);
  ps->stop = true;
  pthread_cond_signal(&ps->cond);
  pthread_mutex_unlock(&ps->lock);
  pthread_join(ps->thread, NULL);
  for (int i = 0; i < ps->nchanged; i++)
    free(ps->changed[i]);
  pthread_cond_destroy(&ps->cond);
  pthread_mutex_destroy(&ps->lock);
  free(ps);
  arm->policy_sched = NULL;
}
