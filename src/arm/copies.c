/*
 * copies.c — restore points copied from another region.
 *
 * The flow is Azure's (ComputeRP examples RestorePointCollection_CreateOr
 * Update_ForCrossRegionCopy and RestorePoint_Copy_BetweenRegions): a
 * collection here whose source.id is a collection in another region
 * (collections.c finds it through the peers), then a PUT of a restore point
 * in it with properties.sourceRestorePoint.id naming a restore point of that
 * collection → 201 Creating + operation.  In the request: the source is
 * looked up over the peer protocol (it must be Succeeded), and the restore
 * point, one disk restore point per source disk restore point (each an
 * image in state Copying that names the source's tree) and the operation
 * are recorded in one transaction.  The operation (kind restorePointCopy,
 * resumable) copies each disk's tree (region/copy.c, repl/copy.c): after a
 * restart of either region, or a broken link, it resumes where it stopped.
 *
 * What vmrp reports (and Azure does not): provisioningState stays Creating
 * until every disk restore point is copied and durable, then Succeeded (or
 * Failed, with an error per disk restore point); completionPercent moves as
 * bytes arrive; vmrpReplication counts the bytes on the wire.  An
 * unreachable source is retried with backoff (the error is shown meanwhile)
 * until [copy] deadline.  Beyond Azure's limits: copies of copies, copies in
 * any order, several at once; Azure's 3 copies an hour per collection is the
 * default ([copy] per_hour).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "arm/internal.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/random.h"
#include "common/timefmt.h"

static json_t *loads(const char *s) { return json_loads(s ? s : "{}", 0, NULL); }

static const char *last_segment(const char *id)
{
  const char *s = strrchr(id, '/');
  return s ? s + 1 : id;
}

/* ---- the rate limit --------------------------------------------------------- */

struct recent {
  int64_t since_us, oldest_us;
  int n;
};

static int count_recent(void *ctx, const struct meta_resource *r)
{
  struct recent *x = ctx;
  json_t *p = loads(r->properties);
  if (json_object_get(p, "sourceRestorePoint") && r->created_us >= x->since_us) {
    x->n++;
    if (!x->oldest_us || r->created_us < x->oldest_us)
      x->oldest_us = r->created_us;
  }
  json_decref(p);
  return 0;
}

/* ---- PUT ----------------------------------------------------------------------- */

/* Replaces the source's disk restore point ids in the VM's storage profile
 * by the copies' (and names the source's as sourceDiskRestorePoint). */
static void map_disk(json_t *disk, json_t *map)
{
  json_t *drp = json_object_get(disk, "diskRestorePoint");
  const char *src = json_string_value(json_object_get(drp, "id"));
  const char *to = src ? json_string_value(json_object_get(map, src)) : NULL;
  if (!to)
    return;
  json_t *n = json_pack("{s:s,s:{s:s}}", "id", to, "sourceDiskRestorePoint", "id", src);
  json_object_set_new(disk, "diskRestorePoint", n);
}

static void map_metadata(json_t *meta_src, json_t *map)
{
  json_t *sp = json_object_get(meta_src, "storageProfile");
  if (json_is_object(json_object_get(sp, "osDisk")))
    map_disk(json_object_get(sp, "osDisk"), map);
  size_t i;
  json_t *d;
  json_array_foreach(json_object_get(sp, "dataDisks"), i, d) map_disk(d, map);
}

struct copy_plan {
  const struct arm_location *from;
  json_t *src;     /* the source restore point, as its region gave it */
  json_t *map;     /* source disk restore point id → copy id */
};

/* Records the copy in one transaction; replies. */
static void record(struct arm_call *call, const struct meta_resource *coll, const char *id, struct copy_plan *p)
{
  struct arm *arm = call->arm;
  struct meta *m = arm->meta;
  json_t *sprops = json_object_get(p->src, "properties");
  char op_id[40] = "";
  int rc = meta_begin(m);
  size_t i;
  json_t *d;
  json_array_foreach(json_object_get(p->src, "diskRestorePoints"), i, d) {
    if (rc < 0)
      break;
    const char *sid = json_string_value(json_object_get(d, "id"));
    const char *did = json_string_value(json_object_get(p->map, sid));
    json_t *tree = json_object_get(d, "vmrpTree");
    json_t *props = json_deep_copy(json_object_get(d, "properties"));
    if (!json_is_object(props))
      props = json_object();
    json_object_del(props, "vmrpPreviousDiskRestorePointId"); /* a tree of the other region */
    json_object_set(props, "sourceResourceId", json_object_get(d, "id"));
    json_object_set_new(props, "sourceResourceLocation", json_string(p->from->name));
    const char *disk = json_string_value(json_object_get(json_object_get(d, "properties"), "sourceResourceId"));
    struct meta_resource r = {.id = strdup(did), .type = strdup(DRP_TYPE), .name = strdup(last_segment(did)),
                              .parent_id = strdup(id), .properties = json_dumps(props, JSON_COMPACT),
                              .provisioning_state = strdup("Creating")};
    json_decref(props);
    rc = meta_resource_put(m, &r, NULL, META_PUT_CREATE_ONLY, NULL);
    struct region_copy_disk cd = {.image_id = did, .rp_id = id, .disk_id = disk ? disk : "", .source_id = sid,
                                  .source_location = p->from->name,
                                  .root = json_string_value(json_object_get(tree, "root")),
                                  .size = (uint64_t)json_integer_value(json_object_get(tree, "size"))};
    if (rc == 0)
      rc = cd.root ? region_copy_record(arm->region, &cd) : -EINVAL;
    meta_resource_clear(&r);
  }
  json_t *meta_src = json_deep_copy(json_object_get(sprops, "sourceMetadata"));
  if (!json_is_object(meta_src))
    meta_src = json_object();
  map_metadata(meta_src, p->map);
  char now[TIME_ISO_LEN];
  time_iso8601(time_now_us(), now);
  json_t *src_ref = json_pack("{s:s}", "id", json_string_value(json_object_get(p->src, "id")));
  json_t *props = json_pack("{s:o,s:O,s:s,s:o}", "sourceRestorePoint", src_ref, "excludeDisks",
                            json_object_get(sprops, "excludeDisks") ? json_object_get(sprops, "excludeDisks")
                                                                    : json_array(),
                            "timeCreated", now, "sourceMetadata", meta_src);
  if (json_object_get(sprops, "consistencyMode"))
    json_object_set(props, "consistencyMode", json_object_get(sprops, "consistencyMode"));
  CLEANUP_FREE char *payload = NULL;
  json_t *pl = json_pack("{s:s}", "sourceLocation", p->from->name);
  payload = json_dumps(pl, JSON_COMPACT);
  json_decref(pl);
  if (rc == 0)
    rc = arm_op_create(call, "Microsoft.Compute", "restorePointCopy", id, payload, op_id);
  json_t *extra = json_pack("{s:s}", "operation", op_id);
  struct meta_resource rp = {.id = strdup(id), .type = strdup(RP_TYPE), .name = strdup(last_segment(id)),
                             .parent_id = strdup(coll->id), .properties = json_dumps(props, JSON_COMPACT),
                             .extra = json_dumps(extra, JSON_COMPACT), .provisioning_state = strdup("Creating")};
  json_decref(extra);
  json_decref(props);
  if (rc == 0)
    rc = meta_resource_put(m, &rp, NULL, META_PUT_CREATE_ONLY, NULL);
  if (rc == 0)
    rc = meta_commit(m);
  else
    meta_rollback(m);
  if (rc == 0) {
    jobs_submit(arm->jobs, op_id);
    arm_lro_headers(call, "Microsoft.Compute", op_id, LRO_ASYNC_OPERATION | LRO_LOCATION);
    arm_reply_json(call, 201, arm_rp_json(arm, &rp, false));
  } else if (rc == -EEXIST) {
    arm_reply_error(call, 409, "OperationNotAllowed", "Another request is creating restore point '%s'.",
                    last_segment(id));
  } else {
    arm_reply_internal(call, rc);
  }
  meta_resource_clear(&rp);
}

/* The source restore point, checked: 0, or replied. */
static int find_source(struct arm_call *call, const char *coll_source, const char *src_id, struct copy_plan *p)
{
  size_t cl = strlen(coll_source);
  if (strncasecmp(src_id, coll_source, cl) != 0 || strncasecmp(src_id + cl, "/restorePoints/", 15) != 0 ||
      strchr(src_id + cl + 15, '/') || !src_id[cl + 15]) {
    arm_reply_error_target(call, 400, "InvalidParameter", "properties.sourceRestorePoint.id",
                           "The source restore point '%s' is not a restore point of '%s', the source of this "
                           "collection.",
                           src_id, coll_source);
    return -EINVAL;
  }
  int rc = arm_peer_lookup(call->arm, src_id, &p->from, &p->src);
  if (rc == -EHOSTUNREACH) {
    arm_reply_error(call, 503, "RegionUnavailable",
                    "Region '%s' does not answer, so the source restore point '%s' cannot be read; retry later.",
                    p->from->name, src_id);
    return rc;
  }
  if (rc < 0 || strcasecmp(json_string_value(json_object_get(p->src, "type")), RP_TYPE) != 0) {
    arm_reply_error_target(call, 404, "NotFound", "properties.sourceRestorePoint.id",
                           "The source restore point '%s' was not found.", src_id);
    return -ENOENT;
  }
  const char *state = json_string_value(json_object_get(p->src, "provisioningState"));
  if (!state || strcmp(state, "Succeeded") != 0) {
    arm_reply_error(call, 409, "OperationNotAllowed",
                    "The source restore point '%s' is %s; only a Succeeded restore point can be copied.", src_id,
                    state && *state ? state : "not complete");
    return -EBUSY;
  }
  size_t i;
  json_t *d;
  json_array_foreach(json_object_get(p->src, "diskRestorePoints"), i, d) {
    const char *st = json_string_value(json_object_get(json_object_get(d, "vmrpTree"), "state"));
    if (!st || strcmp(st, "Succeeded") != 0) {
      arm_reply_error(call, 409, "OperationNotAllowed",
                      "The disk restore point '%s' of the source is not complete and cannot be copied.",
                      json_string_value(json_object_get(d, "id")));
      return -EBUSY;
    }
  }
  return 0;
}

void arm_rp_copy_put(struct arm_call *call, const struct meta_resource *coll, const char *id)
{
  struct arm *arm = call->arm;
  json_t *props = json_object_get(call->body, "properties");
  const char *src_id = json_string_value(json_object_get(json_object_get(props, "sourceRestorePoint"), "id"));
  json_t *cprops = loads(coll->properties);
  const char *coll_source = json_string_value(json_object_get(json_object_get(cprops, "source"), "id"));
  const char *coll_from = json_string_value(json_object_get(json_object_get(cprops, "source"), "location"));
  struct copy_plan p = {.map = json_object()};
  if (!src_id) {
    arm_reply_error_target(call, 400, "InvalidParameter", "properties.sourceRestorePoint.id",
                           "Required parameter 'sourceRestorePoint.id' is missing (null).");
    goto out;
  }
  if (!coll_source || !coll_from || !arm_peer_named(arm, coll_from) ||
      !strstr(coll_source, "/providers/Microsoft.Compute/restorePointCollections/")) {
    arm_reply_error_target(call, 400, "InvalidParameter", "properties.sourceRestorePoint",
                           "Collection '%s' protects a virtual machine of this region; a restore point is copied "
                           "into a collection whose source is a collection in another region.",
                           coll->name);
    goto out;
  }
  if (json_array_size(json_object_get(props, "excludeDisks")) || json_object_get(props, "consistencyMode")) {
    arm_reply_error_target(call, 400, "InvalidParameter", "properties",
                           "A copied restore point takes its disks and consistency from its source; excludeDisks and "
                           "consistencyMode cannot be given with sourceRestorePoint.");
    goto out;
  }
  if (arm->cfg.copy_per_hour > 0) {
    struct recent x = {.since_us = time_now_us() - 3600 * 1000000ll};
    meta_resource_list(arm->meta, coll->id, RP_TYPE, NULL, 0, count_recent, &x);
    if (x.n >= arm->cfg.copy_per_hour) {
      int64_t retry = (x.oldest_us + 3600 * 1000000ll - time_now_us()) / 1000000 + 1;
      http_response_header(call->resp, "Retry-After", "%lld", (long long)retry);
      arm_reply_error(call, 429, "TooManyRequests",
                      "Collection '%s' has had %d restore points copied into it in the last hour, the most "
                      "allowed ([copy] per_hour); retry in %lld seconds.",
                      coll->name, x.n, (long long)retry);
      goto out;
    }
  }
  if (find_source(call, coll_source, src_id, &p) < 0)
    goto out;
  size_t i;
  json_t *d;
  json_array_foreach(json_object_get(p.src, "diskRestorePoints"), i, d) {
    const char *name = json_string_value(json_object_get(d, "name"));
    const char *us = name ? strrchr(name, '_') : NULL;
    char guid[UUID_STR_LEN], did[2048];
    random_uuid(guid);
    snprintf(did, sizeof did, "%s/diskRestorePoints/%.*s_%s", id, us ? (int)(us - name) : 64, name ? name : "disk",
             guid);
    json_object_set_new(p.map, json_string_value(json_object_get(d, "id")), json_string(did));
  }
  record(call, coll, id, &p);
out:
  json_decref(cprops);
  json_decref(p.src);
  json_decref(p.map);
}

/* ---- the operation --------------------------------------------------------------- */

struct job_ctx {
  struct job *job;
  int disk, ndisks;
};

static void on_progress(void *ctx, double percent)
{
  struct job_ctx *j = ctx;
  jobs_progress(j->job, (j->disk * 100.0 + percent) / (j->ndisks ? j->ndisks : 1));
}

static bool should_stop(void *ctx) { return jobs_should_stop(((struct job_ctx *)ctx)->job); }

struct id_list {
  char **ids;
  int n;
};

static int collect_images(void *ctx, const struct meta_image *im)
{
  struct id_list *l = ctx;
  char **ids = realloc(l->ids, (size_t)(l->n + 1) * sizeof *ids);
  if (!ids)
    return -ENOMEM;
  l->ids = ids;
  l->ids[l->n++] = strdup(im->id);
  return 0;
}

static bool retryable(int rc) { return rc == -EHOSTUNREACH || rc == -EACCES || rc == -ENOMEM; }

static const char *copy_error(int rc)
{
  switch (rc) {
  case -ENOENT: return "The source region no longer has the data of this disk restore point (was its restore point "
                       "deleted during the copy?).";
  case -EIO: return "Objects from the source region stayed damaged after refetching.";
  case -EXDEV: return "The two regions store chunks of different sizes; their trees cannot be copied.";
  case -ENOSPC: return "The store of this region is full.";
  default: return "The copy failed.";
  }
}

/* Sleeps up to s seconds; false when the service is stopping. */
static bool nap(struct job *job, int s)
{
  for (int i = 0; i < s * 10; i++) {
    if (jobs_should_stop(job))
      return false;
    usleep(100000);
  }
  return !jobs_should_stop(job);
}

enum job_outcome arm_rp_copy_job(void *app, struct job *job, const struct meta_operation *op,
                                 struct job_result *res)
{
  struct arm *arm = app;
  json_t *pl = loads(op->payload);
  const struct arm_location *loc = arm_peer_named(arm, json_string_value(json_object_get(pl, "sourceLocation")));
  json_decref(pl);
  if (!loc) {
    region_restore_point_fail(arm->region, op->resource_id, "VMRestorePointInternalError");
    res->error = arm_error_text("VMRestorePointInternalError", "The source region is no longer configured.");
    return JOB_FAILED;
  }
  struct repl_peer peer = arm_peer(arm, loc);
  struct id_list l = {0};
  meta_image_list(arm->meta, op->resource_id, collect_images, &l);
  struct job_ctx jc = {.job = job, .ndisks = l.n};
  struct region_copy_opts o = {.streams = arm->cfg.copy_streams, .max_bytes_per_s = arm->cfg.copy_max_bytes_per_s,
                               .progress = on_progress, .should_stop = should_stop, .ctx = &jc};
  enum job_outcome out = JOB_DONE;
  int failed = 0, backoff = 1;
  for (int i = 0; i < l.n && out == JOB_DONE; i++) {
    jc.disk = i;
    int rc = region_copy_run(arm->region, l.ids[i], &peer, &o);
    if (rc == -EINTR || (rc < 0 && jobs_should_stop(job))) {
      out = JOB_INTERRUPTED;
    } else if (rc == -ECANCELED) {
      res->error = arm_error_text("OperationNotAllowed", "The restore point was deleted during its copy.");
      out = JOB_FAILED;
    } else if (retryable(rc)) {
      bool late = time_now_us() > op->start_us + (int64_t)arm->cfg.copy_deadline_s * 1000000;
      char msg[512];
      snprintf(msg, sizeof msg, "Region '%s' %s; %s", loc->name,
               rc == -EACCES ? "refuses this region's peer credential" : "does not answer",
               late ? "the copy's deadline passed." : "retrying.");
      region_copy_note(arm->region, l.ids[i], msg, true);
      if (late) {
        failed++;
        continue;
      }
      log_warn("arm", "copy of %s: %s (next try in %d s)", l.ids[i], msg, backoff);
      if (!nap(job, backoff))
        out = JOB_INTERRUPTED;
      backoff = backoff < 30 ? backoff * 2 : 60;
      i--; /* the same disk again */
    } else if (rc < 0) {
      region_copy_note(arm->region, l.ids[i], copy_error(rc), true);
      failed++;
    } else {
      backoff = 1;
    }
  }
  if (out == JOB_DONE && l.n == 0) /* a restore point of no disks: nothing to copy */
    meta_resource_set_state(arm->meta, op->resource_id, "Succeeded", NULL);
  if (out == JOB_DONE && failed) {
    region_restore_point_fail(arm->region, op->resource_id, "VMRestorePointCopyFailed");
    char msg[256];
    snprintf(msg, sizeof msg, "%d of %d disk restore points could not be copied; their replicationStatus says why.",
             failed, l.n);
    res->error = arm_error_text("VMRestorePointCopyFailed", msg);
    out = JOB_FAILED;
  }
  for (int i = 0; i < l.n; i++)
    free(l.ids[i]);
  free(l.ids);
  return out;
}
