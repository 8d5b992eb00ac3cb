/*
 * retention_lock.c — retention locks (immutability) on restore points.
 *
 * Why: a restore point is worth something only if it still exists when it is
 * needed.  ARM's CanNotDelete locks stop a mistake but not an Owner (who
 * removes the lock first), and they block clean-up for as long as they stand.
 * A retention lock is a property of the restore point itself,
 * properties.vmrpRetentionLock = {"mode": "Governance" | "Compliance",
 * "expiresAt": RFC 3339}, with an end: until expiresAt the restore point, the
 * collection holding it, the VM whose restore points it holds and the
 * resource group holding either cannot be deleted — by anyone, through any
 * route (a client's, a template's, the policy scheduler's, a peer's
 * forwarded call), answered with one error, 409 RestorePointRetentionLocked.
 * Governance may be removed early by an Owner ({"mode": "None"}); Compliance
 * by no one.  Either may only be strengthened: a later expiresAt, Governance
 * to Compliance.  After expiresAt the lock is simply no longer in force
 * (kept in the document, so the history stays visible) and the deletes go
 * through, and the GC then frees what nothing else holds.
 *
 * Where it is enforced, from the outside in:
 *   - the DELETE handlers (restore point, collection, VM, resource group)
 *     ask here inside the transaction that would mark the resource Deleting,
 *     so a lock set concurrently is either seen or set after the Deleting
 *     state (and then refused: a lock is never set on something being
 *     deleted);
 *   - a VM's or group's DELETE first asks the other regions (a collection
 *     there may hold restore points of this VM — cross-region creation — or
 *     lie in the same group), before anything is deleted here;
 *   - the database itself (meta migration 14): a trigger aborts the deletion
 *     of a restore point row whose lock is in force, of its disk restore
 *     points and of a collection holding it.  A disk restore point's image
 *     (its tree, the GC's root) goes only with its row, so no code path —
 *     a job resumed after a restart, an admin command, a bug in a handler —
 *     can let the GC free what a locked restore point needs.  A locked
 *     restore point is a GC root by construction, not by a GC rule.
 *
 * Time: "in force" means expiresAt > now on this region's clock (time_now_us;
 * the trigger reads SQLite's 'now', the same CLOCK_REALTIME).  expiresAt is
 * stored in whole seconds, a fraction rounded up (a lock never ends before
 * the time asked), as YYYY-MM-DDTHH:MM:SSZ so that the trigger's string
 * comparison is a time comparison.  docs/locks.md says what trusting the
 * clock means.
 *
 * Copies: a copy made by sourceRestorePoint carries its source's lock (or a
 * stronger one its own PUT asks for: the merge below), so a stolen credential
 * of one region cannot delete the copy in another.  An extension set here is
 * sent on to the copies of this restore point (found through the merged
 * collection list: collections whose source is this one's), each through a
 * dispatched, forwarded vmrpSetRetentionLock as the same caller; the answer
 * says per copy whether it was applied.  A copy whose region does not answer
 * keeps its older lock: the operator re-sends the same extension (the call is
 * idempotent).  Removals are not sent on: each region's lock is removed by an
 * Owner there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "arm/internal.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/timefmt.h"

#define MAX_YEARS 100 /* the farthest expiresAt: a typo (9999) must not lock storage for ever */
#define MAX_AHEAD_US ((int64_t)MAX_YEARS * 366 * 86400 * 1000000)
#define COMPUTE_VERSION "2024-07-01" /* the dispatched reads and extensions below */

enum lock_mode { MODE_NONE, MODE_GOVERNANCE, MODE_COMPLIANCE };
static const char *const mode_names[] = {"None", "Governance", "Compliance", NULL};

struct lock {
  enum lock_mode mode;
  int64_t expires_us; /* whole seconds */
};

/* ---- time ---------------------------------------------------------------------- */

static bool digits(const char *s, int n, int *out)
{
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

/* RFC 3339 date-time (YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)) in
 * microseconds, a fraction rounded up to the next whole second; -1 when
 * malformed or out of range. */
static int64_t parse_time(const char *s)
{
  int y, mo, d, h, mi, sec, oh = 0, om = 0;
  if (!s || strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
      !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) || s[13] != ':' ||
      !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &sec))
    return -1;
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) || h > 23 ||
      mi > 59 || sec > 59)
    return -1;
  const char *p = s + 19;
  bool frac = false;
  if (*p == '.') {
    if (p[1] < '0' || p[1] > '9')
      return -1;
    for (p++; *p >= '0' && *p <= '9'; p++)
      frac |= *p != '0';
  }
  int sign = 0;
  if ((*p == 'Z' || *p == 'z') && !p[1])
    sign = 0;
  else if ((*p == '+' || *p == '-') && digits(p + 1, 2, &oh) && p[3] == ':' && digits(p + 4, 2, &om) && !p[6] &&
           oh < 24 && om < 60)
    sign = *p == '+' ? 1 : -1;
  else
    return -1;
  struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = sec};
  int64_t t = (int64_t)timegm(&tm) - sign * (oh * 3600 + om * 60) + (frac ? 1 : 0);
  return t < 0 ? -1 : t * 1000000;
}

static void format_time(int64_t us, char out[32])
{
  time_t t = (time_t)(us / 1000000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- the lock as JSON ------------------------------------------------------------- */

static json_t *lock_json(const struct lock *l)
{
  char t[32];
  format_time(l->expires_us, t);
  return json_pack("{s:s,s:s}", "mode", mode_names[l->mode], "expiresAt", t);
}

/* A lock object as a request or a peer gives it: 0 with *out, or -EINVAL
 * with the member at fault (*member, "" for the object) and why (cap
 * bytes).  allow_none: {"mode": "None"} alone (a removal); now_us: a lock
 * must end after it (0: an expired one is fine — a copy of an old lock) and
 * within MAX_YEARS of it (always). */
static int lock_read(const json_t *obj, bool allow_none, bool future, int64_t now_us, struct lock *out,
                     const char **member, char *why, size_t cap)
{
  *member = "";
  if (!json_is_object(obj)) {
    snprintf(why, cap, "must be an object {\"mode\": \"Governance\" | \"Compliance\", \"expiresAt\": an RFC 3339 "
                       "time}");
    return -EINVAL;
  }
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)obj, k, v) {
    if (strcmp(k, "mode") != 0 && strcmp(k, "expiresAt") != 0) {
      *member = k;
      snprintf(why, cap, "is not a member of a retention lock (mode, expiresAt)");
      return -EINVAL;
    }
  }
  const char *mode = json_string_value(json_object_get(obj, "mode"));
  const char *m = mode ? arm_canonical(mode, mode_names) : NULL;
  if (!m || (!allow_none && !strcmp(m, "None"))) {
    *member = "mode";
    snprintf(why, cap, "must be one of %s", allow_none ? "'Governance', 'Compliance', 'None'"
                                                        : "'Governance', 'Compliance'");
    return -EINVAL;
  }
  out->mode = !strcmp(m, "Compliance") ? MODE_COMPLIANCE : !strcmp(m, "Governance") ? MODE_GOVERNANCE : MODE_NONE;
  json_t *exp = json_object_get(obj, "expiresAt");
  if (out->mode == MODE_NONE) {
    out->expires_us = 0;
    if (exp) {
      *member = "expiresAt";
      snprintf(why, cap, "must not be given with mode 'None' (which removes a Governance lock)");
      return -EINVAL;
    }
    return 0;
  }
  out->expires_us = parse_time(json_string_value(exp));
  *member = "expiresAt";
  if (out->expires_us < 0) {
    snprintf(why, cap, "must be an RFC 3339 UTC time such as 2027-01-31T00:00:00Z");
    return -EINVAL;
  }
  if (future && out->expires_us <= now_us) {
    char t[TIME_ISO_LEN];
    time_iso8601(now_us, t);
    snprintf(why, cap, "must be in the future (the region's time is %s)", t);
    return -EINVAL;
  }
  if (out->expires_us > now_us + MAX_AHEAD_US) {
    snprintf(why, cap, "must be at most %d years ahead", MAX_YEARS);
    return -EINVAL;
  }
  return 0;
}

/* A stored lock object (a restore point's, or one a peer or a merge
 * gives): false when there is none.  One that cannot be read (only a
 * damaged database holds one) counts as a Compliance lock that never ends:
 * fail closed. */
static bool read_stored(const json_t *obj, struct lock *out)
{
  if (!obj || json_is_null(obj))
    return false;
  const char *member;
  char why[160];
  if (lock_read(obj, false, false, 0, out, &member, why, sizeof why) < 0)
    *out = (struct lock){MODE_COMPLIANCE, INT64_MAX};
  return true;
}

static bool stored_lock(const json_t *props, struct lock *out)
{
  return read_stored(json_object_get(props, ARM_RETENTION_LOCK), out);
}

static bool in_force(const struct lock *l, int64_t now_us) { return l->mode != MODE_NONE && l->expires_us > now_us; }

/* Whether a covers b: a mode at least as strong and an end no earlier. */
static bool covers(const struct lock *a, const struct lock *b)
{
  return a->mode >= b->mode && a->expires_us >= b->expires_us;
}

bool arm_retention_locked(const json_t *rp_properties, int64_t now_us)
{
  struct lock l;
  return stored_lock(rp_properties, &l) && in_force(&l, now_us);
}

bool arm_retention_lock_request(struct arm_call *call, json_t *props, bool future, json_t **lock)
{
  *lock = NULL;
  json_t *obj = json_object_get(props, ARM_RETENTION_LOCK);
  if (!obj || json_is_null(obj))
    return true;
  struct lock l;
  const char *member;
  char why[200], target[96];
  if (lock_read(obj, false, future, time_now_us(), &l, &member, why, sizeof why) < 0) {
    snprintf(target, sizeof target, "properties." ARM_RETENTION_LOCK "%s%s", *member ? "." : "", member);
    arm_reply_error_target(call, 400, "InvalidParameter", target, "The retention lock's %s %s.",
                           *member ? member : "value", why);
    return false;
  }
  *lock = lock_json(&l);
  return true;
}

json_t *arm_retention_lock_merge(const json_t *a, const json_t *b)
{
  struct lock la = {MODE_NONE, 0}, lb = {MODE_NONE, 0};
  bool ha = read_stored(a, &la), hb = read_stored(b, &lb);
  if (!ha && !hb)
    return NULL;
  struct lock m = {la.mode > lb.mode ? la.mode : lb.mode, la.expires_us > lb.expires_us ? la.expires_us : lb.expires_us};
  return lock_json(&m);
}

int arm_retention_lock_check(const json_t *lock, char *why, size_t cap)
{
  struct lock l;
  const char *member;
  char w[160];
  if (lock_read(lock, false, false, time_now_us(), &l, &member, w, sizeof w) < 0) {
    snprintf(why, cap, "properties." ARM_RETENTION_LOCK "%s%s %s", *member ? "." : "", member, w);
    return -EPROTO;
  }
  return 0;
}

/* ---- delete refusals ------------------------------------------------------------ */

struct found {
  struct arm *arm;
  int64_t now_us;
  const char *vm_id;    /* collections whose source is this VM */
  const char *rg_id;    /* collections in this group, or whose source VM is */
  char rp_id[1200];     /* the first locked restore point found */
  struct lock lock;
};

static bool under(const char *id, const char *prefix)
{
  size_t n = strlen(prefix);
  return id && !strncasecmp(id, prefix, n) && id[n] == '/';
}

static int locked_rp(void *ctx, const struct meta_resource *r)
{
  struct found *f = ctx;
  json_t *p = json_loads(r->properties ? r->properties : "{}", 0, NULL);
  struct lock l;
  bool hit = stored_lock(p, &l) && in_force(&l, f->now_us);
  json_decref(p);
  if (!hit)
    return 0;
  snprintf(f->rp_id, sizeof f->rp_id, "%s", r->id);
  f->lock = l;
  return 1;
}

/* A collection of interest (f's vm_id, rg_id) holding a locked restore point. */
static int locked_in_collection(void *ctx, const struct meta_resource *c)
{
  struct found *f = ctx;
  json_t *p = json_loads(c->properties ? c->properties : "{}", 0, NULL);
  const char *src = json_string_value(json_object_get(json_object_get(p, "source"), "id"));
  bool want = (f->vm_id && src && !strcasecmp(src, f->vm_id)) ||
              (f->rg_id && (under(c->id, f->rg_id) || under(src, f->rg_id)));
  json_decref(p);
  return want ? meta_resource_list(f->arm->meta, c->id, RP_TYPE, NULL, 0, locked_rp, f) : 0;
}

static void reply_locked(struct arm_call *call, const struct found *f, const char *what)
{
  char until[32], now[TIME_ISO_LEN];
  format_time(f->lock.expires_us, until);
  time_iso8601(f->now_us, now);
  if (f->lock.expires_us == INT64_MAX)
    snprintf(until, sizeof until, "an unreadable time");
  arm_reply_error(call, 409, ARM_RETENTION_LOCKED_CODE,
                  "Restore point '%s' has a %s retention lock until %s (this region's time is %s): %s cannot be "
                  "deleted before then.",
                  f->rp_id, mode_names[f->lock.mode], until, now, what);
}

/* Replies 409 and true when the walk found one; 500 and true when it failed. */
static bool refuse_if(struct arm_call *call, int rc, const struct found *f, const char *what)
{
  if (rc < 0) {
    arm_reply_internal(call, rc);
    return true;
  }
  if (rc == 0)
    return false;
  reply_locked(call, f, what);
  return true;
}

bool arm_retention_refuse_rp(struct arm_call *call, const struct meta_resource *rp)
{
  struct found f = {.arm = call->arm, .now_us = time_now_us()};
  return refuse_if(call, locked_rp(&f, rp), &f, "it");
}

bool arm_retention_refuse_collection(struct arm_call *call, const char *coll_id)
{
  struct found f = {.arm = call->arm, .now_us = time_now_us()};
  char what[1200];
  snprintf(what, sizeof what, "it and collection '%s' holding it", coll_id);
  return refuse_if(call, meta_resource_list(call->arm->meta, coll_id, RP_TYPE, NULL, 0, locked_rp, &f), &f, what);
}

bool arm_retention_refuse_vm(struct arm_call *call, const char *vm_id)
{
  struct found f = {.arm = call->arm, .now_us = time_now_us(), .vm_id = vm_id};
  char what[1200];
  snprintf(what, sizeof what, "it and virtual machine '%s', the source of its collection,", vm_id);
  return refuse_if(call, meta_resource_list_type(call->arm->meta, RPC_TYPE, locked_in_collection, &f), &f, what);
}

bool arm_retention_refuse_group(struct arm_call *call, const char *rg_id)
{
  struct found f = {.arm = call->arm, .now_us = time_now_us(), .rg_id = rg_id};
  char what[1200];
  snprintf(what, sizeof what, "it and resource group '%s' holding it (or the virtual machine it was taken of)",
           rg_id);
  return refuse_if(call, meta_resource_list_type(call->arm->meta, RPC_TYPE, locked_in_collection, &f), &f, what);
}

int arm_retention_locked_under(struct arm *arm, const char *rg_id, char *rp_id, size_t cap)
{
  struct found f = {.arm = arm, .now_us = time_now_us(), .rg_id = rg_id};
  int rc = meta_resource_list_type(arm->meta, RPC_TYPE, locked_in_collection, &f);
  if (rc > 0)
    snprintf(rp_id, cap, "%s", f.rp_id);
  return rc;
}

/* ---- across regions -------------------------------------------------------------- */

/* The restore points of a collection in another region (GET with
 * $expand=restorePoints, forwarded where it lives) with a lock in force on
 * this region's clock: the owning region judges again at its own delete;
 * this asks before anything here is deleted. */
static int locked_remote(struct arm_call *call, const char *coll_id, struct found *f)
{
  char url[1400];
  snprintf(url, sizeof url, "%s?api-version=" COMPUTE_VERSION "&$expand=restorePoints", coll_id);
  struct arm_dispatch_reply r;
  int rc = arm_dispatch(call->arm, &call->who, "GET", url, NULL, NULL, &r);
  if (rc < 0)
    return rc;
  size_t i;
  json_t *rp;
  json_array_foreach(json_object_get(json_object_get(r.body, "properties"), "restorePoints"), i, rp) {
    struct lock l;
    const char *id = json_string_value(json_object_get(rp, "id"));
    if (id && stored_lock(json_object_get(rp, "properties"), &l) && in_force(&l, f->now_us)) {
      snprintf(f->rp_id, sizeof f->rp_id, "%s", id);
      f->lock = l;
      rc = 1;
      break;
    }
  }
  arm_dispatch_reply_clear(&r);
  return rc;
}

/* The collections of the call's subscription in every region (the merged
 * list, forward.c) as a dispatched call of the caller's: 0 with *list. */
static int collections_everywhere(struct arm_call *call, json_t **list)
{
  char url[256];
  snprintf(url, sizeof url, "/subscriptions/%s/providers/Microsoft.Compute/restorePointCollections?api-version="
           COMPUTE_VERSION, call->params[0]);
  struct arm_dispatch_reply r;
  int rc = arm_dispatch(call->arm, &call->who, "GET", url, NULL, NULL, &r);
  json_t *value = json_object_get(r.body, "value");
  if (rc == 0 && (r.status != 200 || !json_is_array(value)))
    rc = -EIO;
  *list = rc == 0 ? json_incref(value) : NULL;
  arm_dispatch_reply_clear(&r);
  return rc;
}

bool arm_retention_refuse_elsewhere(struct arm_call *call, const char *vm_id, const char *rg_id)
{
  struct arm *arm = call->arm;
  if (arm->cfg.nlocations < 2)
    return false;
  json_t *list = NULL;
  if (collections_everywhere(call, &list) < 0) { /* the owning regions still judge their own */
    log_warn("arm", "retention locks of other regions could not be listed before deleting %s", vm_id ? vm_id : rg_id);
    return false;
  }
  struct found f = {.arm = arm, .now_us = time_now_us()};
  int rc = 0;
  size_t i;
  json_t *c;
  json_array_foreach(list, i, c) {
    const char *id = json_string_value(json_object_get(c, "id"));
    const char *loc = json_string_value(json_object_get(c, "location"));
    const char *src = json_string_value(json_object_get(json_object_get(json_object_get(c, "properties"), "source"), "id"));
    bool want = (vm_id && src && !strcasecmp(src, vm_id)) || (rg_id && (under(id, rg_id) || under(src, rg_id)));
    if (!id || !want || !loc || !arm_peer_named(arm, loc))
      continue; /* this region's: judged in the delete's transaction */
    if ((rc = locked_remote(call, id, &f)) != 0)
      break;
  }
  json_decref(list);
  if (rc <= 0)
    return false; /* a region that cannot be asked judges its own restore points */
  char what[1200];
  snprintf(what, sizeof what, "%s '%s' cannot be deleted while it holds it, and it", vm_id ? "virtual machine" : "resource group",
           vm_id ? vm_id : rg_id);
  reply_locked(call, &f, what);
  return true;
}

/* ---- POST {rp}/vmrpSetRetentionLock ---------------------------------------------- */

static void rp_id_of(struct arm_call *call, char *out, size_t cap)
{
  snprintf(out, cap, "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/restorePointCollections/%s"
           "/restorePoints/%s", call->params[0], call->params[1], call->params[2], call->params[3]);
}

static bool row_deleting(struct arm *arm, const char *id)
{
  struct meta_resource r;
  if (meta_resource_get(arm->meta, id, &r) < 0)
    return false;
  bool d = r.provisioning_state && !strcmp(r.provisioning_state, "Deleting");
  meta_resource_clear(&r);
  return d;
}

enum change { CHANGE_OK, CHANGE_SAME, CHANGE_SHORTER, CHANGE_WEAKER, CHANGE_COMPLIANCE_REMOVE };

static enum change judge(const struct lock *have, bool had, const struct lock *want, int64_t now_us)
{
  bool active = had && in_force(have, now_us);
  if (want->mode == MODE_NONE)
    return !had ? CHANGE_SAME : active && have->mode == MODE_COMPLIANCE ? CHANGE_COMPLIANCE_REMOVE : CHANGE_OK;
  if (!active)
    return CHANGE_OK;
  if (have->mode == want->mode && have->expires_us == want->expires_us)
    return CHANGE_SAME;
  if (want->expires_us < have->expires_us)
    return CHANGE_SHORTER;
  if (want->mode < have->mode)
    return CHANGE_WEAKER;
  return CHANGE_OK;
}

struct copy_target {
  const char *coll_id, *rp_id;
  const struct lock *lock;
  json_t *out;
};

/* Sends lock on to the copies of the restore point in one collection of
 * another region whose source is ours. */
static void extend_copies_in(struct arm_call *call, const char *coll_id, struct copy_target *t)
{
  char url[1400];
  snprintf(url, sizeof url, "%s?api-version=" COMPUTE_VERSION "&$expand=restorePoints", coll_id);
  struct arm_dispatch_reply r;
  if (arm_dispatch(call->arm, &call->who, "GET", url, NULL, NULL, &r) < 0)
    return;
  if (r.status != 200)
    json_array_append_new(t->out, json_pack("{s:s,s:s,s:O?}", "id", coll_id, "status", "Failed", "error",
                                            json_object_get(r.body, "error")));
  size_t i;
  json_t *rp;
  json_array_foreach(json_object_get(json_object_get(r.body, "properties"), "restorePoints"), i, rp) {
    json_t *props = json_object_get(rp, "properties");
    const char *id = json_string_value(json_object_get(rp, "id"));
    const char *src = json_string_value(json_object_get(json_object_get(props, "sourceRestorePoint"), "id"));
    if (!id || !src || strcasecmp(src, t->rp_id) != 0)
      continue;
    struct lock have;
    if (stored_lock(props, &have) && covers(&have, t->lock)) {
      json_array_append_new(t->out, json_pack("{s:s,s:s}", "id", id, "status", "Unchanged"));
      continue;
    }
    char post[1400];
    snprintf(post, sizeof post, "%s/vmrpSetRetentionLock?api-version=" COMPUTE_VERSION, id);
    json_t *body = lock_json(t->lock);
    struct arm_dispatch_reply pr;
    if (arm_dispatch(call->arm, &call->who, "POST", post, body, NULL, &pr) == 0) {
      bool ok = pr.status == 200;
      json_array_append_new(t->out, json_pack("{s:s,s:s,s:O?}", "id", id, "status", ok ? "Applied" : "Failed",
                                              "error", ok ? NULL : json_object_get(pr.body, "error")));
      if (!ok)
        log_warn("arm", "retention lock of %s not applied to its copy %s: HTTP %d", t->rp_id, id, pr.status);
      arm_dispatch_reply_clear(&pr);
    }
    json_decref(body);
  }
  arm_dispatch_reply_clear(&r);
}

/* The copies of restore point rp_id (in collection coll_id), each given the
 * lock: [{id, status: Applied | Unchanged | Failed, error?}]. */
static json_t *extend_copies(struct arm_call *call, const char *coll_id, const char *rp_id, const struct lock *l)
{
  json_t *list = NULL, *out = json_array();
  if (call->arm->cfg.nlocations < 2)
    return out;
  if (collections_everywhere(call, &list) < 0) {
    json_array_append_new(out, json_pack("{s:s,s:{s:s,s:s}}", "status", "Failed", "error", "code",
                                         "InternalServerError", "message",
                                         "The collections of the other regions could not be listed; send the same "
                                         "lock again to apply it to the copies."));
    return out;
  }
  /* the merged list skips a region that does not answer: say which, so that
   * an answer without copies is not taken for "there are none" */
  for (int i = 1; i < call->arm->cfg.nlocations; i++) {
    const struct arm_location *loc = &call->arm->cfg.locations[i];
    long status = 0;
    json_t *doc = NULL;
    int rc = arm_peer_resource(call->arm, NULL, loc, coll_id, &status, &doc, NULL);
    json_decref(doc);
    if (rc < 0 && rc != -EPROTO) {
      char msg[512];
      snprintf(msg, sizeof msg, "Region '%s' does not answer: copies there, if any, keep their older lock; send the "
               "same lock again when it answers.", loc->name);
      json_array_append_new(out, json_pack("{s:s,s:s,s:{s:s,s:s}}", "region", loc->name, "status", "Failed",
                                           "error", "code", "RegionUnavailable", "message", msg));
    }
  }
  struct copy_target t = {coll_id, rp_id, l, out};
  size_t i;
  json_t *c;
  json_array_foreach(list, i, c) {
    const char *id = json_string_value(json_object_get(c, "id"));
    const char *src = json_string_value(json_object_get(json_object_get(json_object_get(c, "properties"), "source"), "id"));
    if (id && src && !strcasecmp(src, coll_id))
      extend_copies_in(call, id, &t);
  }
  json_decref(list);
  return out;
}

const struct arm_member arm_retention_lock_members[] = {ARM_MEMBER("mode", JSON_STRING),
                                                       ARM_MEMBER("expiresAt", JSON_STRING), ARM_MEMBERS_END};

void arm_rp_set_retention_lock(struct arm_call *call)
{
  struct arm *arm = call->arm;
  json_t *b = call->body;
  if (!b) {
    arm_reply_error(call, 400, "InvalidRequestContent",
                    "The request content was invalid and could not be deserialized: 'a body {\"mode\", "
                    "\"expiresAt\"} is required.'");
    return;
  }
  if (!arm_body_normalise(call, b, arm_retention_lock_members) ||
      !arm_body_members_ok(call, b, NULL, arm_retention_lock_members))
    return;
  int64_t now = time_now_us();
  struct lock want;
  const char *member;
  char why[200];
  if (lock_read(b, true, true, now, &want, &member, why, sizeof why) < 0) {
    arm_reply_error_target(call, 400, "InvalidParameter", *member ? member : "body", "The retention lock's %s %s.",
                           *member ? member : "body", why);
    return;
  }
  if (want.mode == MODE_NONE && !arm_role_allows(arm, &call->who, call->params[0], ARM_NEED_OWNER)) {
    arm_reply_error(call, 403, "AuthorizationFailed",
                    "The client '%s' with object id '%s' does not have authorization to remove a retention lock "
                    "(Microsoft.Compute/restorePointCollections/restorePoints/vmrpSetRetentionLock/action with mode "
                    "None): only an Owner of the subscription may remove a Governance lock.",
                    call->who.appid, call->who.oid);
    return;
  }
  char id[1200], rg[512], coll[1024];
  rp_id_of(call, id, sizeof id);
  snprintf(rg, sizeof rg, "/subscriptions/%s/resourceGroups/%s", call->params[0], call->params[1]);
  snprintf(coll, sizeof coll, "%s/providers/Microsoft.Compute/restorePointCollections/%s", rg, call->params[2]);
  struct meta *m = arm->meta;
  struct meta_resource r = {0};
  json_t *props = NULL;
  enum change ch = CHANGE_OK;
  struct lock have = {MODE_NONE, 0};
  bool had = false;
  int rc = meta_begin(m);
  if (rc == 0)
    rc = meta_resource_get(m, id, &r);
  if (rc == 0 && strcasecmp(r.type, RP_TYPE) != 0)
    rc = -ENOENT;
  if (rc == 0 && ((r.provisioning_state && !strcmp(r.provisioning_state, "Deleting")) || row_deleting(arm, coll) ||
                  row_deleting(arm, rg)))
    rc = -EBUSY;
  if (rc == 0) {
    props = json_loads(r.properties ? r.properties : "{}", 0, NULL);
    had = stored_lock(props, &have);
    ch = judge(&have, had, &want, now);
  }
  if (rc == 0 && ch == CHANGE_OK) {
    if (want.mode == MODE_NONE)
      json_object_del(props, ARM_RETENTION_LOCK);
    else
      json_object_set_new(props, ARM_RETENTION_LOCK, lock_json(&want));
    free(r.properties);
    r.properties = json_dumps(props, JSON_COMPACT);
    rc = r.properties ? meta_resource_put(m, &r, NULL, 0, NULL) : -ENOMEM;
  }
  if (rc == 0 && ch == CHANGE_OK)
    rc = meta_commit(m); /* durable before the answer (synchronous=FULL) */
  else
    meta_rollback(m);
  char until[32];
  format_time(have.expires_us, until);
  if (rc == -ENOENT) {
    if (arm_rg_found(call))
      arm_reply_error(call, 404, "NotFound", "The restore point '%s' was not found in collection '%s'.",
                      call->params[3], call->params[2]);
  } else if (rc == -EBUSY) {
    arm_reply_error(call, 409, "OperationNotAllowed",
                    "Restore point '%s' (or its collection or resource group) is being deleted; a retention lock "
                    "cannot be set on it.",
                    call->params[3]);
  } else if (rc < 0) {
    arm_reply_internal(call, rc);
  } else if (ch == CHANGE_SHORTER) {
    arm_reply_error_target(call, 409, "RetentionLockNotWeakened", "expiresAt",
                           "Restore point '%s' has a %s retention lock until %s; a retention lock can only be "
                           "extended, never shortened. Nothing was changed.",
                           call->params[3], mode_names[have.mode], until);
  } else if (ch == CHANGE_WEAKER) {
    arm_reply_error_target(call, 409, "RetentionLockNotWeakened", "mode",
                           "Restore point '%s' has a Compliance retention lock until %s; it cannot become a "
                           "Governance lock. Nothing was changed.",
                           call->params[3], until);
  } else if (ch == CHANGE_COMPLIANCE_REMOVE) {
    arm_reply_error_target(call, 409, "RetentionLockNotWeakened", "mode",
                           "Restore point '%s' has a Compliance retention lock until %s; a Compliance lock cannot be "
                           "removed by anyone, an Owner included. Nothing was changed.",
                           call->params[3], until);
  } else {
    if (ch == CHANGE_OK && want.mode == MODE_NONE)
      log_info("arm", "restore point %s: retention lock removed by %s", id, call->who.oid);
    else if (ch == CHANGE_OK)
      log_info("arm", "restore point %s: %s retention lock until %s set by %s", id, mode_names[want.mode],
               json_string_value(json_object_get(json_object_get(props, ARM_RETENTION_LOCK), "expiresAt")),
               call->who.oid);
    json_t *doc = json_pack("{s:s}", "id", id);
    json_t *now_lock = json_object_get(props, ARM_RETENTION_LOCK);
    if (now_lock)
      json_object_set(doc, ARM_RETENTION_LOCK, now_lock);
    /* an extension goes on to the copies (each region's removal is its Owner's) */
    json_object_set_new(doc, "copies",
                        want.mode != MODE_NONE ? extend_copies(call, coll, id, &want) : json_array());
    arm_reply_json(call, 200, doc);
  }
  json_decref(props);
  meta_resource_clear(&r);
}
