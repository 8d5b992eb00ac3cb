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
 *
 * Retention locks: a copy carries its source's lock (the source's document,
 * checked by peer_doc.c), or the stronger of it and the one its own PUT asks
 * for, so deleting the copy is refused in its region as the source is in
 * its own (retention_lock.c).  A cross-region creation's lock is this
 * region's restore point's only: the capture the source region makes for it
 * is released after the copy, so it is sent there without one.
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
#include "common/random.h"
#include "common/strlist.h"
#include "common/timefmt.h"
#include "common/urlcode.h"

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

/* The key domain of a peer's tree (peer_doc.c checked it); none: a peer
 * from before encryption at rest, whose store is plaintext. */
static const char *tree_domain(const json_t *tree)
{
  const char *d = json_string_value(json_object_get(tree, "domain"));
  return d ? d : "";
}

struct copy_plan {
  const struct arm_location *from;
  json_t *src;     /* the source restore point, as its region gave it */
  json_t *map;     /* source disk restore point id → copy id */
  bool creation;   /* src is a capture made for this region (cross-region creation) */
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
    if (!p->creation) /* a copy's source is the disk restore point; a creation's, the disk */
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
                                  .size = (uint64_t)json_integer_value(json_object_get(tree, "size")),
                                  .domain = tree_domain(tree)};
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
  json_t *excl = json_object_get(sprops, "excludeDisks");
  json_t *props = json_pack("{s:o,s:s,s:o}", "excludeDisks", excl ? json_incref(excl) : json_array(), "timeCreated",
                            now, "sourceMetadata", meta_src);
  if (!p->creation)
    json_object_set_new(props, "sourceRestorePoint",
                        json_pack("{s:s}", "id", json_string_value(json_object_get(p->src, "id"))));
  json_t *lock = arm_retention_lock_merge(json_object_get(json_object_get(call->body, "properties"), ARM_RETENTION_LOCK),
                                          p->creation ? NULL : json_object_get(sprops, ARM_RETENTION_LOCK));
  if (lock)
    json_object_set_new(props, ARM_RETENTION_LOCK, lock);
  const char *keep[] = {"consistencyMode", "vmrpConsistency", p->creation ? "timeCreated" : NULL};
  for (size_t k = 0; k < sizeof keep / sizeof keep[0]; k++) /* a creation's point in time is its capture's */
    if (keep[k] && json_object_get(sprops, keep[k]))
      json_object_set(props, keep[k], json_object_get(sprops, keep[k]));
  CLEANUP_FREE char *payload = NULL;
  json_t *pl = json_pack("{s:s}", "sourceLocation", p->from->name);
  if (p->creation)
    json_object_set(pl, "capture", json_object_get(p->src, "id"));
  payload = json_dumps(pl, JSON_COMPACT);
  json_decref(pl);
  if (rc == 0)
    rc = arm_op_create(call, "Microsoft.Compute", "restorePointCopy", id, payload, op_id);
  struct meta_resource rp;
  rc = arm_rp_insert_commit(arm, rc, id, coll->id, props, json_pack("{s:s}", "operation", op_id), &rp);
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
  char why[ARM_PEER_WHY];
  int rc = arm_peer_lookup(call->arm, &call->who, src_id, &p->from, &p->src, why);
  if (rc == -EPROTO) {
    arm_reply_error(call, 502, "InvalidPeerResponse", "%s", why);
    return rc;
  }
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

/* ---- cross-region creation ----------------------------------------------------- */

/* The disk restore points of a capture's answer, in the shape the peer's
 * resource lookup gives (their trees not known until it is captured). */
static void add_capture_disk(json_t *list, json_t *disk)
{
  const char *drp = json_string_value(json_object_get(json_object_get(disk, "diskRestorePoint"), "id"));
  const char *src = json_string_value(json_object_get(json_object_get(disk, "managedDisk"), "id"));
  if (!drp)
    return;
  json_t *props = json_pack("{s:s}", "sourceResourceId", src ? src : "");
  if (json_is_string(json_object_get(disk, "osType")))
    json_object_set(props, "osType", json_object_get(disk, "osType"));
  json_array_append_new(list, json_pack("{s:s,s:s,s:o,s:{s:s,s:i}}", "id", drp, "name", last_segment(drp),
                                        "properties", props, "vmrpTree", "root", "", "size", 0));
}

void arm_rp_xr_put(struct arm_call *call, const struct meta_resource *coll, const char *id)
{
  struct arm *arm = call->arm;
  json_t *props = json_object_get(call->body, "properties");
  json_t *cprops = loads(coll->properties);
  json_t *source = json_object_get(cprops, "source");
  const struct arm_location *loc = arm_peer_named(arm, json_string_value(json_object_get(source, "location")));
  struct copy_plan p = {.from = loc, .map = json_object(), .creation = true};
  struct repl_peer peer = arm_peer(arm, loc);
  struct repl_caller caller = arm_peer_caller(&call->who);
  json_t *ask = json_pack("{s:s,s:o}", "vmId", json_string_value(json_object_get(source, "id")), "properties",
                          json_is_object(props) ? json_deep_copy(props) : json_object());
  json_object_del(json_object_get(ask, "properties"), ARM_RETENTION_LOCK); /* the capture is released after the copy */
  CLEANUP_FREE char *body = ask ? json_dumps(ask, JSON_COMPACT) : NULL;
  CLEANUP_FREE char *reply = NULL;
  json_decref(ask);
  long status = 0;
  size_t len = 0;
  char why[ARM_PEER_WHY];
  int rc = body ? repl_call(&peer, &caller, "POST", REPL_PATH "captures", body, strlen(body), &status, &reply, &len)
                : -ENOMEM;
  json_t *doc = rc == 0 ? json_loadb(reply, len, 0, NULL) : NULL;
  if (rc < 0) {
    arm_reply_error(call, 503, "RegionUnavailable",
                    "Region '%s', where virtual machine '%s' is, does not answer; retry later.", loc->name,
                    json_string_value(json_object_get(source, "id")));
    goto out;
  }
  if (status != 201 && arm_peer_error_ok(status, doc)) { /* the source region's refusal (limits, agent, disks) */
    arm_reply_json(call, (int)status, json_incref(doc));
    goto out;
  }
  if (status != 201)
    snprintf(why, sizeof why, "HTTP %ld without an ARM error", status);
  if (status != 201 || !doc || arm_peer_capture_check(doc, why, sizeof why) < 0) {
    log_error("arm", "region %s answered the capture of %s with an invalid document: %s", loc->name,
              json_string_value(json_object_get(source, "id")), doc ? why : "not JSON");
    arm_reply_error(call, 502, "InvalidPeerResponse", "Region '%s' sent an invalid answer to the capture of '%s': %s.",
                    loc->name, json_string_value(json_object_get(source, "id")), doc ? why : "not JSON");
    goto out;
  }
  json_t *sp = json_object_get(json_object_get(json_object_get(doc, "properties"), "sourceMetadata"),
                               "storageProfile");
  json_t *disks = json_array();
  if (json_is_object(json_object_get(sp, "osDisk")))
    add_capture_disk(disks, json_object_get(sp, "osDisk"));
  size_t i;
  json_t *d;
  json_array_foreach(json_object_get(sp, "dataDisks"), i, d) add_capture_disk(disks, d);
  p.src = json_pack("{s:O,s:O,s:o}", "id", json_object_get(doc, "id"), "properties", json_object_get(doc, "properties"),
                    "diskRestorePoints", disks);
  json_array_foreach(disks, i, d) {
    const char *name = json_string_value(json_object_get(d, "name"));
    const char *us = strrchr(name, '_');
    char guid[UUID_STR_LEN], did[2048];
    random_uuid(guid);
    snprintf(did, sizeof did, "%s/diskRestorePoints/%.*s_%s", id, us ? (int)(us - name) : 64, name, guid);
    json_object_set_new(p.map, json_string_value(json_object_get(d, "id")), json_string(did));
  }
  log_info("arm", "restore point %s: region %s captured %s as %s", id, loc->name,
           json_string_value(json_object_get(source, "id")), json_string_value(json_object_get(doc, "id")));
  record(call, coll, id, &p);
out:
  json_decref(doc);
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

static int collect_images(void *ctx, const struct meta_image *im) { return strlist_add(ctx, im->id); }

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

static int any_copying(void *ctx, const struct meta_image *im)
{
  (void)ctx;
  return im->state == IMAGE_COPYING;
}

/* Names each image's tree once the source region's capture is done: 0, or
 * -EINTR (stopping), -ETIMEDOUT (the source did not answer until the
 * deadline), -ECANCELED (the capture failed or is gone, or the source sent
 * an invalid document: why, ARM_PEER_WHY bytes). */
static int wait_capture(struct arm *arm, struct job *job, const struct meta_operation *op,
                        const struct arm_location *loc, const char *capture, const struct strlist *l, char *why)
{
  for (int backoff = 1;;) {
    long status = 0;
    json_t *doc = NULL;
    int rc = arm_peer_resource(arm, NULL, loc, capture, &status, &doc, why);
    const char *state = json_string_value(json_object_get(doc, "provisioningState"));
    if (rc == -EPROTO)
      return -ECANCELED; /* why names the region and the field */
    if (rc == 0 && status == 404) {
      snprintf(why, ARM_PEER_WHY, "The source region lost the capture of the virtual machine (it restarted during it?).");
      return -ECANCELED;
    }
    if (state && !strcmp(state, "Failed")) {
      json_decref(doc);
      snprintf(why, ARM_PEER_WHY, "The source region could not capture the virtual machine's disks.");
      return -ECANCELED;
    }
    if (state && !strcmp(state, "Succeeded")) {
      size_t i;
      json_t *d;
      json_array_foreach(json_object_get(doc, "diskRestorePoints"), i, d) {
        json_t *tree = json_object_get(d, "vmrpTree");
        for (size_t k = 0; k < l->n; k++) {
          struct meta_image_copy c;
          if (region_copy_get(arm->region, l->v[k], &c) < 0)
            continue;
          if (!strcasecmp(c.source_id, json_string_value(json_object_get(d, "id"))))
            region_copy_set_root(arm->region, l->v[k], json_string_value(json_object_get(tree, "root")),
                                 (uint64_t)json_integer_value(json_object_get(tree, "size")), tree_domain(tree));
          meta_image_copy_clear(&c);
        }
      }
      json_decref(doc);
      return 0;
    }
    json_decref(doc);
    if (!state && time_now_us() > op->start_us + (int64_t)arm->cfg.copy_deadline_s * 1000000)
      return -ETIMEDOUT;
    if (!jobs_nap(job, (state ? 1 : backoff) * 1000)) /* capturing: look again in a second */
      return -EINTR;
    backoff = state ? 1 : backoff < 30 ? backoff * 2 : 60;
  }
}

enum disk_outcome { DISK_COPIED, DISK_FAILED, DISK_STOPPED, DISK_DELETED };

/* Copies one image, retrying with backoff while the source is unreachable
 * and the deadline has not passed; what went wrong is on its copy row. */
static enum disk_outcome copy_disk(struct arm *arm, struct job *job, const struct meta_operation *op,
                                   const struct arm_location *loc, const struct repl_peer *peer, const char *image,
                                   const struct region_copy_opts *o)
{
  for (int backoff = 1;; backoff = backoff < 30 ? backoff * 2 : 60) {
    int rc = region_copy_run(arm->region, image, peer, o);
    if (rc == -EINTR || (rc < 0 && jobs_should_stop(job)))
      return DISK_STOPPED;
    if (rc == -ECANCELED)
      return DISK_DELETED;
    if (rc == 0)
      return DISK_COPIED;
    if (!retryable(rc)) {
      region_copy_note(arm->region, image, copy_error(rc), true);
      return DISK_FAILED;
    }
    bool late = time_now_us() > op->start_us + (int64_t)arm->cfg.copy_deadline_s * 1000000;
    char msg[512];
    snprintf(msg, sizeof msg, "Region '%s' %s; %s", loc->name,
             rc == -EACCES ? "refuses this region's peer signature" : "does not answer",
             late ? "the copy's deadline passed." : "retrying.");
    region_copy_note(arm->region, image, msg, true);
    if (late)
      return DISK_FAILED;
    log_warn("arm", "copy of %s: %s (next try in %d s)", image, msg, backoff);
    if (!jobs_nap(job, backoff * 1000))
      return DISK_STOPPED;
  }
}

enum job_outcome arm_rp_copy_job(void *app, struct job *job, const struct meta_operation *op,
                                 struct job_result *res)
{
  struct arm *arm = app;
  json_t *pl = loads(op->payload);
  const struct arm_location *loc = arm_peer_named(arm, json_string_value(json_object_get(pl, "sourceLocation")));
  json_decref(pl);
  if (!loc) {
    arm_rp_fail(arm, job, op->resource_id, "VMRestorePointInternalError");
    res->error = arm_error_text("VMRestorePointInternalError", "The source region is no longer configured.");
    return JOB_FAILED;
  }
  struct repl_peer peer = arm_peer(arm, loc);
  struct strlist l = {0};
  meta_image_list(arm->meta, op->resource_id, collect_images, &l);
  json_t *plj = loads(op->payload);
  CLEANUP_FREE char *capture = json_is_string(json_object_get(plj, "capture"))
                                   ? strdup(json_string_value(json_object_get(plj, "capture")))
                                   : NULL;
  json_decref(plj);
  char why[ARM_PEER_WHY] = "";
  int wr = capture && meta_image_list(arm->meta, op->resource_id, any_copying, NULL) == 1
               ? wait_capture(arm, job, op, loc, capture, &l, why)
               : 0;
  if (wr == -EINTR) {
    strlist_free(&l);
    return JOB_INTERRUPTED;
  }
  if (wr < 0) {
    arm_rp_fail(arm, job, op->resource_id, "VMRestorePointInternalError");
    res->error = arm_error_text("VMRestorePointInternalError",
                                wr == -ECANCELED ? why : "The source region did not answer until the copy's deadline.");
    strlist_free(&l);
    return JOB_FAILED;
  }
  struct job_ctx jc = {.job = job, .ndisks = (int)l.n};
  struct region_copy_opts o = {.streams = arm->cfg.copy_streams, .max_bytes_per_s = arm->cfg.copy_max_bytes_per_s,
                               .progress = on_progress, .should_stop = should_stop, .ctx = &jc};
  enum job_outcome out = JOB_DONE;
  int failed = 0;
  for (size_t i = 0; i < l.n && out == JOB_DONE; i++) {
    jc.disk = (int)i;
    enum disk_outcome d = copy_disk(arm, job, op, loc, &peer, l.v[i], &o);
    failed += d == DISK_FAILED;
    if (d == DISK_STOPPED)
      out = JOB_INTERRUPTED;
    if (d == DISK_DELETED) {
      res->error = arm_error_text("OperationNotAllowed", "The restore point was deleted during its copy.");
      out = JOB_FAILED;
    }
  }
  if (out == JOB_DONE && l.n == 0) /* a restore point of no disks: nothing to copy */
    meta_resource_set_state(arm->meta, op->resource_id, "Succeeded", NULL);
  if (out == JOB_DONE && failed) {
    arm_rp_fail(arm, job, op->resource_id, "VMRestorePointCopyFailed");
    char msg[256];
    snprintf(msg, sizeof msg, "%d of %zu disk restore points could not be copied; their replicationStatus says why.",
             failed, l.n);
    res->error = arm_error_text("VMRestorePointCopyFailed", msg);
    out = JOB_FAILED;
  }
  if (out == JOB_DONE && capture) { /* the source keeps only the capture's trees, as the next base */
    char *enc = url_encode(capture), path[4096], *reply = NULL;
    long status = 0;
    size_t len = 0;
    snprintf(path, sizeof path, REPL_PATH "release?id=%s", enc ? enc : "");
    if (repl_call(&peer, NULL, "POST", path, "{}", 2, &status, &reply, &len) < 0 || status != 204)
      log_warn("arm", "region %s did not release capture %s (HTTP %ld); delete it there", loc->name, capture,
               status);
    free(enc);
    free(reply);
  }
  strlist_free(&l);
  return out;
}
