/*
 * store.c — garbage collection and verification of the region's chunk store,
 * and the scheduled GC.
 *
 * Live roots (what the GC keeps and verify walks): the tree of every READY
 * image, every volume's capture base (the tree its next incremental restore
 * point builds on, kept even after that restore point is deleted), and the
 * source tree of every disk still hydrating.  Trees being built (captures)
 * are protected by cas holds, which the GC honours itself.  The roots come
 * from typed rows (meta: images, capture_bases) and the open volumes.
 *
 * The front end runs both as operations (arm: storeGc, storeVerify) and
 * renders their results; the timer thread here submits a storeGc operation
 * every gc_interval seconds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/failpoint.h"
#include "common/log.h"
#include "common/random.h"
#include "common/timefmt.h"
#include "jobs/jobs.h"
#include "region/internal.h"

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

static int root_add(struct roots *r, const char *hex, const char *owner)
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

static int image_root(void *ctx, const struct meta_image *im)
{
  return im->state == IMAGE_READY ? root_add(ctx, im->root, im->id) : 0;
}

static int base_root(void *ctx, const struct meta_capture_base *b)
{
  char owner[64];
  snprintf(owner, sizeof owner, "volume %s (capture base)", b->volume_id);
  return root_add(ctx, b->root, owner);
}

static int hydration_root(void *ctx, const struct cas_addr *root, const char *vol_id)
{
  char hex[2 * CAS_ADDR_LEN + 1], owner[64];
  cas_addr_to_hex(root, hex);
  snprintf(owner, sizeof owner, "volume %s (hydrating)", vol_id);
  return root_add(ctx, hex, owner);
}

static int collect_roots(struct region *rg, struct roots *out)
{
  int r = meta_image_list(rg->meta, NULL, image_root, out);
  if (r == 0)
    r = meta_capture_base_list(rg->meta, base_root, out);
  return r < 0 ? r : region_volumes_hydration_roots(rg, hydration_root, out);
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
    log_warn("region", "failpoint: dying at GC step '%s'", step);
    _exit(137);
  }
  return 0;
}

int region_store_gc(struct region *rg, struct region_gc_stats *out)
{
  struct cas_gc_options opts = {.crash_point = failpoint_value("store.gc.crash", 0) ? gc_crash_point : NULL};
  struct cas_gc_stats st = {0};
  int copying = 0;
  int rc = meta_image_copies_active(rg->meta, &copying);
  if (rc == 0 && copying) { /* their objects have no root yet (copy.c) */
    log_info("region", "store GC deferred: %d disk restore point(s) are being copied", copying);
    return -EAGAIN;
  }
  if (rc == 0)
    rc = cas_gc(rg->cas, gc_roots, rg, &opts, &st);
  if (rc < 0)
    return rc;
  *out = (struct region_gc_stats){st.live_objects, st.dead_objects, st.packs_deleted,
                                  st.packs_rewritten, st.bytes_freed, st.bytes_copied};
  log_info("region", "store GC: %llu live, %llu dead objects, %llu bytes freed", (unsigned long long)st.live_objects,
           (unsigned long long)st.dead_objects, (unsigned long long)st.bytes_freed);
  return 0;
}

int region_store_verify(struct region *rg, void (*progress)(void *ctx, uint64_t done, uint64_t total), void *ctx,
                        struct region_verify_report *out)
{
  struct roots r = {0};
  struct cas_verify_report rep = {0};
  memset(out, 0, sizeof *out);
  int rc = collect_roots(rg, &r);
  if (rc == 0)
    rc = cas_verify(rg->cas, r.addr, r.n, progress, ctx, &rep);
  if (rc == 0 && rep.n_damage && !(out->damaged = calloc(rep.n_damage, sizeof *out->damaged)))
    rc = -ENOMEM;
  if (rc == 0 && !(out->affected = calloc(r.n + 1, sizeof *out->affected)))
    rc = -ENOMEM;
  for (size_t i = 0; rc == 0 && i < rep.n_damage; i++) {
    cas_addr_to_hex(&rep.damage[i].addr, out->damaged[i].address);
    out->damaged[i].missing = rep.damage[i].error == -ENOENT;
    out->n_damaged++;
  }
  for (size_t i = 0; rc == 0 && rep.root_affected && i < r.n; i++)
    if (rep.root_affected[i])
      out->affected[out->n_affected++] = STEAL_PTR(r.owner[i]);
  out->objects_checked = rep.objects_checked;
  out->bytes_checked = rep.bytes_checked;
  out->packs_checked = rep.packs_checked;
  out->bad_records = rep.bad_records;
  out->bad_packs = STEAL_PTR(rep.bad_packs);
  out->n_bad_packs = rep.n_bad_packs;
  if (rc == 0 && (rep.bad_records || rep.n_damage))
    log_error("region", "store verify: %llu bad records, %zu damaged or missing objects",
              (unsigned long long)rep.bad_records, rep.n_damage);
  if (rc < 0)
    region_verify_report_free(out);
  cas_verify_report_free(&rep);
  roots_free(&r);
  return rc;
}

void region_verify_report_free(struct region_verify_report *rep)
{
  for (size_t i = 0; i < rep->n_affected; i++)
    free(rep->affected[i]);
  free(rep->affected);
  free(rep->damaged);
  free(rep->bad_packs);
  memset(rep, 0, sizeof *rep);
}

/* ---- repair from peers -------------------------------------------------------- */

static bool readable(struct cas *cas, const struct cas_addr *a, uint8_t *buf)
{
  size_t len;
  return cas_get(cas, CAS_CHUNK, a, buf, CAS_MAX_OBJECT, &len) == 0 ||
         cas_get(cas, CAS_NODE, a, buf, CAS_MAX_OBJECT, &len) == 0;
}

int region_store_repair(struct region *rg, const struct repl_peer *peers, int npeers,
                        void (*progress)(void *ctx, uint64_t done, uint64_t total), void *ctx,
                        struct region_repair_report *out)
{
  memset(out, 0, sizeof *out);
  CLEANUP_FREE uint8_t *buf = malloc(CAS_MAX_OBJECT);
  int rc = buf ? region_store_verify(rg, progress, ctx, &out->before) : -ENOMEM;
  struct region_verify_report *b = &out->before;
  if (rc == 0 && b->n_damaged && !(out->repaired = calloc(b->n_damaged, sizeof *out->repaired)))
    rc = -ENOMEM;
  for (size_t i = 0; rc == 0 && i < b->n_damaged; i++) {
    struct cas_addr a;
    if (cas_addr_from_hex(b->damaged[i].address, &a) < 0)
      continue;
    /* a group record an earlier repair brought may hold it too */
    const char *by = out->n_repaired && readable(rg->cas, &a, buf) ? out->repaired[out->n_repaired - 1].from : NULL;
    if (by) {
      struct region_repaired *x = &out->repaired[out->n_repaired++];
      snprintf(x->address, sizeof x->address, "%s", b->damaged[i].address);
      x->from = by;
    }
    for (int k = 0; k < npeers && !by; k++) {
      int r = repl_repair_object(rg->cas, &peers[k], &a);
      if (r == 0) {
        struct region_repaired *x = &out->repaired[out->n_repaired++];
        snprintf(x->address, sizeof x->address, "%s", b->damaged[i].address);
        x->from = peers[k].name;
        log_info("region", "store repair: object %s fetched from region %s", x->address, x->from);
        break;
      }
      log_warn("region", "store repair: object %s not from region %s: %s", b->damaged[i].address, peers[k].name,
               strerror(-r));
    }
  }
  if (rc == 0 && out->n_repaired)
    rc = cas_sync(rg->cas);
  if (rc == 0 && b->n_bad_packs && out->n_repaired == b->n_damaged) {
    /* the bad records are indexed by nothing now: a rewrite of their packs
     * leaves them behind */
    struct cas_gc_options opts = {.rewrite = b->bad_packs, .n_rewrite = b->n_bad_packs};
    struct cas_gc_stats st = {0};
    int copying = 0;
    int r = meta_image_copies_active(rg->meta, &copying);
    if (r == 0 && !copying)
      r = cas_gc(rg->cas, gc_roots, rg, &opts, &st);
    out->packs_rewritten = r == 0 && !copying;
    if (!out->packs_rewritten)
      log_warn("region", "store repair: the damaged packs stay until the next GC (%s)",
               copying ? "copies are running" : strerror(-r));
  }
  if (rc == 0)
    rc = region_store_verify(rg, progress, ctx, &out->after);
  if (rc < 0)
    region_repair_report_free(out);
  return rc;
}

void region_repair_report_free(struct region_repair_report *rep)
{
  region_verify_report_free(&rep->before);
  region_verify_report_free(&rep->after);
  free(rep->repaired);
  memset(rep, 0, sizeof *rep);
}

/* ---- the scheduled GC ------------------------------------------------------ */

static void *gc_timer(void *arg)
{
  struct region *rg = arg;
  pthread_mutex_lock(&rg->timer_lock);
  while (!rg->timer_stop) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += rg->cfg.gc_interval_s;
    while (!rg->timer_stop && pthread_cond_timedwait(&rg->timer_cv, &rg->timer_lock, &until) != ETIMEDOUT)
      ;
    if (rg->timer_stop)
      break;
    pthread_mutex_unlock(&rg->timer_lock);
    struct meta_operation op = {0};
    random_uuid(op.id);
    op.subscription = (char *)rg->cfg.subscription;
    op.provider = "Microsoft.Vmrp";
    op.location = (char *)rg->cfg.location;
    op.kind = "storeGc";
    op.start_us = time_now_us();
    if (meta_operation_create(rg->meta, &op) == 0)
      jobs_submit(rg->jobs, op.id);
    pthread_mutex_lock(&rg->timer_lock);
  }
  pthread_mutex_unlock(&rg->timer_lock);
  return NULL;
}

void region_gc_timer_start(struct region *rg)
{
  pthread_mutex_init(&rg->timer_lock, NULL);
  pthread_cond_init(&rg->timer_cv, NULL);
  rg->timer_running = rg->cfg.gc_interval_s > 0 && rg->cfg.subscription &&
                      pthread_create(&rg->timer, NULL, gc_timer, rg) == 0;
}

void region_gc_timer_stop(struct region *rg)
{
  if (rg->timer_running) {
    pthread_mutex_lock(&rg->timer_lock);
    rg->timer_stop = true;
    pthread_cond_broadcast(&rg->timer_cv);
    pthread_mutex_unlock(&rg->timer_lock);
    pthread_join(rg->timer, NULL);
    rg->timer_running = false;
  }
  pthread_mutex_destroy(&rg->timer_lock);
  pthread_cond_destroy(&rg->timer_cv);
}
