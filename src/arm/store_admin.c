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
 * statistics, or the damage report.  storeVerify with {"repair": true}
 * repairs what it finds from the peer regions (region_store_repair) and
 * reports the verification after, what was repaired from where, and the
 * report before.
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

static json_t *verify_json(const struct region_verify_report *rep)
{
  json_t *damaged = json_array(), *affected = json_array();
  for (size_t i = 0; i < rep->n_damaged; i++)
    json_array_append_new(damaged, json_pack("{s:s,s:s}", "address", rep->damaged[i].address, "problem",
                                             rep->damaged[i].missing ? "missing" : "damaged"));
  for (size_t i = 0; i < rep->n_affected; i++)
    json_array_append_new(affected, json_string(rep->affected[i]));
  return json_pack("{s:b,s:I,s:I,s:I,s:I,s:o,s:o}", "clean", rep->bad_records == 0 && rep->n_damaged == 0,
                   "objectsChecked", (json_int_t)rep->objects_checked, "bytesChecked", (json_int_t)rep->bytes_checked,
                   "packsChecked", (json_int_t)rep->packs_checked, "badRecords", (json_int_t)rep->bad_records,
                   "damagedObjects", damaged, "affectedResources", affected);
}

/* {"repair": true}: what verify finds damaged or missing is fetched from the
 * peers; the result is the verification after the repair, with what was
 * repaired (and from where) and what found before it. */
static enum job_outcome repair(struct arm *arm, struct job *job, struct job_result *res)
{
  struct repl_peer peers[16];
  int n = 0;
  for (int i = 1; i < arm->cfg.nlocations && n < 16; i++)
    peers[n++] = arm_peer(arm, &arm->cfg.locations[i]);
  struct region_repair_report rep;
  if (region_store_repair(arm->region, peers, n, verify_progress, job, &rep) < 0) {
    res->error = arm_error_text("StoreVerifyFailed", "Verification could not complete; see the region's log.");
    return JOB_FAILED;
  }
  json_t *out = verify_json(&rep.after), *repaired = json_array();
  for (size_t i = 0; i < rep.n_repaired; i++)
    json_array_append_new(repaired,
                          json_pack("{s:s,s:s}", "address", rep.repaired[i].address, "fromRegion", rep.repaired[i].from));
  json_object_set_new(out, "repaired", repaired);
  json_object_set_new(out, "packsRewritten", json_boolean(rep.packs_rewritten));
  json_object_set_new(out, "beforeRepair", verify_json(&rep.before));
  res->result = json_dumps(out, JSON_COMPACT);
  json_decref(out);
  region_repair_report_free(&rep);
  return JOB_DONE;
}

enum job_outcome arm_store_verify_job(void *app, struct job *job, const struct meta_operation *op,
                                      struct job_result *res)
{
  struct arm *arm = app;
  json_t *pl = json_loads(op->payload ? op->payload : "{}", 0, NULL);
  bool fix = json_is_true(json_object_get(pl, "repair"));
  json_decref(pl);
  if (fix)
    return repair(arm, job, res);
  struct region_verify_report rep;
  if (region_store_verify(arm->region, verify_progress, job, &rep) < 0) {
    res->error = arm_error_text("StoreVerifyFailed", "Verification could not complete; see the region's log.");
    return JOB_FAILED;
  }
  json_t *out = verify_json(&rep);
  res->result = json_dumps(out, JSON_COMPACT);
  json_decref(out);
  region_verify_report_free(&rep);
  return JOB_DONE;
}

static void start_store_op(struct arm_call *call, const char *kind)
{
  if (!arm_role_allows(call->arm, &call->who, call->params[0], ARM_NEED_OWNER)) {
    arm_reply_error(call, 403, "AuthorizationFailed",
                    "The client '%s' with object id '%s' does not have authorization to perform action "
                    "'Microsoft.Vmrp/%s/action': Owner is required.",
                    call->who.appid, call->who.oid, kind);
    return;
  }
  static const struct arm_member members[] = {ARM_MEMBER("repair", JSON_TRUE), ARM_MEMBERS_END};
  if (call->body && !arm_body_normalise(call, call->body, members))
    return;
  json_t *fix = json_object_get(call->body, "repair");
  if (fix && (!json_is_boolean(fix) || strcmp(kind, "storeVerify") != 0)) {
    arm_reply_error_target(call, 400, "InvalidRequestContent", "repair",
                           "'repair' is a boolean of storeVerify: repair what verify finds from the peer regions.");
    return;
  }
  char op_id[40];
  int rc = arm_op_create(call, "Microsoft.Vmrp", kind, NULL, json_is_true(fix) ? "{\"repair\":true}" : NULL, op_id);
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
