/*
 * store_admin.c — the chunk store's GC and verification as ARM operations.
 *
 *   POST /subscriptions/{s}/providers/Microsoft.Vmrp/storeGc?api-version=…
 *   POST /subscriptions/{s}/providers/Microsoft.Vmrp/storeVerify?api-version=…
 *
 * Owner only; 202 + Azure-AsyncOperation + Location.  The jobs ("storeGc",
 * "storeVerify"; resumable: the GC is crash-safe at every step and simply
 * runs again) call the region (region/store.c, which also schedules a GC
 * every [store] gc_interval seconds) and render its result as the document
 * served at the Location URL and in the status's properties.output: the
 * statistics, or the damage report.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/internal.h"

enum job_outcome arm_store_gc_job(void *app, struct job *job, const struct meta_operation *op,
                                  struct job_result *res)
{
  struct arm *arm = app;
  (void)job;
  (void)op;
  struct region_gc_stats st;
  int rc = region_store_gc(arm->region, &st);
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
  struct region_verify_report rep;
  if (region_store_verify(arm->region, verify_progress, job, &rep) < 0) {
    res->error = arm_error_text("StoreVerifyFailed", "Verification could not complete; see the region's log.");
    return JOB_FAILED;
  }
  json_t *damaged = json_array(), *affected = json_array();
  for (size_t i = 0; i < rep.n_damaged; i++)
    json_array_append_new(damaged, json_pack("{s:s,s:s}", "address", rep.damaged[i].address, "problem",
                                             rep.damaged[i].missing ? "missing" : "damaged"));
  for (size_t i = 0; i < rep.n_affected; i++)
    json_array_append_new(affected, json_string(rep.affected[i]));
  json_t *out = json_pack("{s:b,s:I,s:I,s:I,s:I,s:o,s:o}", "clean", rep.bad_records == 0 && rep.n_damaged == 0,
                          "objectsChecked", (json_int_t)rep.objects_checked, "bytesChecked",
                          (json_int_t)rep.bytes_checked, "packsChecked", (json_int_t)rep.packs_checked, "badRecords",
                          (json_int_t)rep.bad_records, "damagedObjects", damaged, "affectedResources", affected);
  res->result = json_dumps(out, JSON_COMPACT);
  json_decref(out);
  region_verify_report_free(&rep);
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
