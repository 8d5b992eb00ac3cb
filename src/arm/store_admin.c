/*
 * store_admin.c — garbage collection and verification of the region's chunk
 * store, wired to the metadata.
 *
 * Live roots (what the GC keeps and verify walks): the tree of every complete
 * disk restore point, every disk's capture base (the tree its next
 * incremental restore point builds on, kept even after that restore point is
 * deleted), and the source tree of every disk still hydrating.  Trees being
 * built (captures) are protected by cas holds, which the GC honours itself.
 *
 * Both run as operations ("storeGc", "storeVerify"; resumable: the GC is
 * crash-safe at every step and simply runs again), started by
 *   POST /subscriptions/{s}/providers/Microsoft.Vmrp/storeGc?api-version=…
 *   POST /subscriptions/{s}/providers/Microsoft.Vmrp/storeVerify?api-version=…
 * (Owner only; 202 + Azure-AsyncOperation + Location; the result document,
 * served at the Location URL and in the status's properties.output, holds the
 * statistics or the damage report), and the GC also every [store]
 * gc_interval seconds by a timer thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "arm/internal.h"
#include "cas/cas.h"
#include "common/failpoint.h"
#include "common/log.h"
#include "common/random.h"
#include "common/timefmt.h"

struct roots {
  struct cas_addr *addr;
  char **owner; /* resource id each root belongs to */
  size_t n, cap;
};

static void roots_free(struct roots *r)
{
  for (size_t i = 0; i < r->n; i++)
    free(r->owner[i]);
  free(r->addr);
  free(r->owner);
}

static int roots_add(struct roots *r, const char *hex, const char *owner)
{
  struct cas_addr a;
  if (!hex || cas_addr_from_hex(hex, &a) < 0)
    return 0;
  if (r->n == r->cap) {
    size_t cap = r->cap ? 2 * r->cap : 64;
    struct cas_addr *na = realloc(r->addr, cap * sizeof *na);
    char **no = na ? realloc(r->owner, cap * sizeof *no) : NULL;
    if (na)
      r->addr = na;
    if (!no)
      return -ENOMEM;
    r->owner = no;
    r->cap = cap;
  }
  r->addr[r->n] = a;
  r->owner[r->n++] = strdup(owner);
  return 0;
}

static int root_of(void *ctx, const struct meta_resource *res)
{
  json_t *extra = json_loads(res->extra ? res->extra : "{}", 0, NULL);
  const char *hex = NULL;
  if (!strcasecmp(res->type, DRP_TYPE)) {
    const char *state = json_string_value(json_object_get(extra, "state"));
    if (state && !strcmp(state, "Succeeded"))
      hex = json_string_value(json_object_get(extra, "root"));
  } else {
    hex = json_string_value(json_object_get(json_object_get(extra, "captureBase"), "root"));
  }
  int r = roots_add(ctx, hex, res->id);
  json_decref(extra);
  return r;
}

static int hydration_root(void *ctx, const struct cas_addr *root, const char *vol_id)
{
  char hex[2 * CAS_ADDR_LEN + 1], owner[64];
  cas_addr_to_hex(root, hex);
  snprintf(owner, sizeof owner, "volume %s (hydrating)", vol_id);
  return roots_add(ctx, hex, owner);
}

static int collect_roots(struct arm *arm, struct roots *out)
{
  int r = arm_for_each(arm, DRP_TYPE, root_of, out);
  if (r == 0)
    r = arm_for_each(arm, "Microsoft.Compute/disks", root_of, out);
  return r < 0 ? r : arm_volumes_hydration_roots(arm, hydration_root, out);
}

static int gc_roots(void *ctx, struct cas_addr **roots_out, size_t *n_out)
{
  struct roots r = {0};
  int rc = collect_roots(ctx, &r);
  if (rc == 0) {
    *roots_out = r.addr;
    *n_out = r.n;
    r.addr = NULL;
  }
  roots_free(&r);
  return rc;
}

/* Tests of the bad days: VMRP_FAILPOINTS=store.gc.crash=N kills the process
 * (as kill -9 would) when the GC reaches its N-th step. */
static int gc_crash_point(const char *step)
{
  static int seen;
  if (++seen == failpoint_value("store.gc.crash", 0)) {
    log_warn("arm", "failpoint: dying at GC step '%s'", step);
    _exit(137);
  }
  return 0;
}

enum job_outcome arm_store_gc_job(void *app, struct job *job, const struct meta_operation *op,
                                  struct job_result *res)
{
  struct arm *arm = app;
  (void)job;
  (void)op;
  struct cas_gc_options opts = {.crash_point = failpoint_value("store.gc.crash", 0) ? gc_crash_point : NULL};
  struct cas_gc_stats st = {0};
  int rc = cas_gc(arm->cas, gc_roots, arm, &opts, &st);
  if (rc < 0) {
    res->error = arm_error_text(rc == -EBUSY ? "Conflict" : "StoreGcFailed",
                                rc == -EBUSY ? "Another garbage collection is running."
                                             : "Garbage collection stopped without deleting anything it could not "
                                               "prove unreachable; see the region's log.");
    return JOB_FAILED;
  }
  json_t *out = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "liveObjects", (json_int_t)st.live_objects, "deadObjects",
                          (json_int_t)st.dead_objects, "packsDeleted", (json_int_t)st.packs_deleted,
                          "packsRewritten", (json_int_t)st.packs_rewritten, "bytesFreed", (json_int_t)st.bytes_freed,
                          "bytesCopied", (json_int_t)st.bytes_copied);
  res->result = json_dumps(out, JSON_COMPACT);
  json_decref(out);
  log_info("arm", "store GC: %llu live, %llu dead objects, %llu bytes freed", (unsigned long long)st.live_objects,
           (unsigned long long)st.dead_objects, (unsigned long long)st.bytes_freed);
  return JOB_DONE;
}

static void verify_progress(void *ctx, uint64_t done, uint64_t total)
{
  static _Thread_local int last;
  int pct = total ? (int)(100.0 * (double)done / (double)total) : 100;
  if (pct >= last + 5 || pct < last) {
    last = pct;
    jobs_progress(ctx, pct > 99 ? 99 : pct);
  }
}

enum job_outcome arm_store_verify_job(void *app, struct job *job, const struct meta_operation *op,
                                      struct job_result *res)
{
  struct arm *arm = app;
  (void)op;
  struct roots r = {0};
  struct cas_verify_report rep = {0};
  int rc = collect_roots(arm, &r);
  if (rc == 0)
    rc = cas_verify(arm->cas, r.addr, r.n, verify_progress, job, &rep);
  if (rc < 0) {
    res->error = arm_error_text("StoreVerifyFailed", "Verification could not complete; see the region's log.");
    roots_free(&r);
    return JOB_FAILED;
  }
  json_t *damaged = json_array(), *affected = json_array();
  for (size_t i = 0; i < rep.n_damage; i++) {
    char hex[2 * CAS_ADDR_LEN + 1];
    cas_addr_to_hex(&rep.damage[i].addr, hex);
    json_array_append_new(damaged, json_pack("{s:s,s:s}", "address", hex, "problem",
                                             rep.damage[i].error == -ENOENT ? "missing" : "damaged"));
  }
  for (size_t i = 0; rep.root_affected && i < r.n; i++)
    if (rep.root_affected[i])
      json_array_append_new(affected, json_string(r.owner[i]));
  json_t *out = json_pack("{s:b,s:I,s:I,s:I,s:I,s:o,s:o}", "clean", rep.bad_records == 0 && rep.n_damage == 0,
                          "objectsChecked", (json_int_t)rep.objects_checked, "bytesChecked",
                          (json_int_t)rep.bytes_checked, "packsChecked", (json_int_t)rep.packs_checked, "badRecords",
                          (json_int_t)rep.bad_records, "damagedObjects", damaged, "affectedResources", affected);
  res->result = json_dumps(out, JSON_COMPACT);
  json_decref(out);
  if (rep.bad_records || rep.n_damage)
    log_error("arm", "store verify: %llu bad records, %zu damaged or missing objects",
              (unsigned long long)rep.bad_records, rep.n_damage);
  cas_verify_report_free(&rep);
  roots_free(&r);
  return JOB_DONE;
}

static void start_store_op(struct arm_call *call, const char *kind)
{
  char role[16];
  if (meta_role_get(call->arm->meta, call->who.oid, call->params[0], role, sizeof role) < 0 ||
      strcasecmp(role, "Owner") != 0) {
    arm_reply_error(call, 403, "AuthorizationFailed",
                    "The client '%s' with object id '%s' does not have authorization to perform action "
                    "'Microsoft.Vmrp/%s/action': Owner is required.",
                    call->who.appid, call->who.oid, kind);
    return;
  }
  char op_id[40];
  int rc = arm_op_create(call, "Microsoft.Vmrp", kind, NULL, NULL, op_id);
  if (rc < 0) {
    arm_reply_internal(call, rc);
    return;
  }
  jobs_submit(call->arm->jobs, op_id);
  arm_lro_headers(call, "Microsoft.Vmrp", op_id, LRO_ASYNC_OPERATION | LRO_LOCATION);
  arm_reply_empty(call, 202);
}

void arm_store_gc(struct arm_call *call) { start_store_op(call, "storeGc"); }
void arm_store_verify(struct arm_call *call) { start_store_op(call, "storeVerify"); }

/* ---- the scheduled GC ------------------------------------------------------ */

static void *gc_timer(void *arg)
{
  struct arm *arm = arg;
  pthread_mutex_lock(&arm->timer_lock);
  while (!arm->timer_stop) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += arm->cfg.gc_interval_s;
    while (!arm->timer_stop && pthread_cond_timedwait(&arm->timer_cv, &arm->timer_lock, &until) != ETIMEDOUT)
      ;
    if (arm->timer_stop)
      break;
    pthread_mutex_unlock(&arm->timer_lock);
    struct meta_operation op = {0};
    random_uuid(op.id);
    op.subscription = (char *)arm->cfg.subscriptions[0].id;
    op.provider = "Microsoft.Vmrp";
    op.location = (char *)arm->cfg.locations[0].name;
    op.kind = "storeGc";
    op.start_us = time_now_us();
    if (meta_operation_create(arm->meta, &op) == 0)
      jobs_submit(arm->jobs, op.id);
    pthread_mutex_lock(&arm->timer_lock);
  }
  pthread_mutex_unlock(&arm->timer_lock);
  return NULL;
}

void arm_gc_timer_start(struct arm *arm)
{
  pthread_mutex_init(&arm->timer_lock, NULL);
  pthread_cond_init(&arm->timer_cv, NULL);
  arm->timer_running = arm->cfg.gc_interval_s > 0 && pthread_create(&arm->timer, NULL, gc_timer, arm) == 0;
}

void arm_gc_timer_stop(struct arm *arm)
{
  if (arm->timer_running) {
    pthread_mutex_lock(&arm->timer_lock);
    arm->timer_stop = true;
    pthread_cond_broadcast(&arm->timer_cv);
    pthread_mutex_unlock(&arm->timer_lock);
    pthread_join(arm->timer, NULL);
    arm->timer_running = false;
  }
  pthread_mutex_destroy(&arm->timer_lock);
  pthread_cond_destroy(&arm->timer_cv);
}
