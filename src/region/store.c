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
 * Each key domain has its own store (stores.c): GC, verify and repair run
 * store by store, each with the roots whose rows name its domain.
 *
 * GC, verify and repair take turns (maint_lock).  A verify walks the roots it
 * collected at its start; a GC in between would free the tree of a restore
 * point deleted meanwhile, and verify would report its objects missing from
 * an intact store (the crash loop saw it: tests/region/region.c
 * verify_waits_for_gc, failpoint region.verify.pause_ms).
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
  const char *domain; /* the roots of this store only */
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

static bool ours(const struct roots *r, const char *domain) { return !strcmp(r->domain, domain); }

static int image_root(void *ctx, const struct meta_image *im)
{
  return im->state == IMAGE_READY && ours(ctx, im->domain) ? root_add(ctx, im->root, im->id) : 0;
}

static int base_root(void *ctx, const struct meta_capture_base *b)
{
  char owner[64];
  snprintf(owner, sizeof owner, "volume %s (capture base)", b->volume_id);
  return ours(ctx, b->domain) ? root_add(ctx, b->root, owner) : 0;
}

static int hydration_root(void *ctx, const struct cas_addr *root, const char *vol_id, const char *domain)
{
  char hex[2 * CAS_ADDR_LEN + 1], owner[64];
  cas_addr_to_hex(root, hex);
  snprintf(owner, sizeof owner, "volume %s (hydrating)", vol_id);
  return ours(ctx, domain) ? root_add(ctx, hex, owner) : 0;
}

/* The live roots in the store of out->domain. */
static int collect_roots(struct region *rg, struct roots *out)
{
  int r = meta_image_list(rg->meta, NULL, image_root, out);
  if (r == 0)
    r = meta_capture_base_list(rg->meta, base_root, out);
  return r < 0 ? r : region_volumes_hydration_roots(rg, hydration_root, out);
}

struct gc_ctx {
  struct region *rg;
  const char *domain;
};

static int gc_roots(void *ctx, struct cas_addr **roots_out, size_t *n_out)
{
  struct gc_ctx *g = ctx;
  struct roots r = {.domain = g->domain};
  int rc = collect_roots(g->rg, &r);
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

struct gc_run {
  struct region *rg;
  struct cas_gc_options opts;
  struct cas_gc_stats sum;
};

static int gc_one(void *ctx, const char *domain, struct cas *cas)
{
  struct gc_run *g = ctx;
  struct gc_ctx gc = {g->rg, domain};
  struct cas_gc_stats st = {0};
  int rc = cas_gc(cas, gc_roots, &gc, &g->opts, &st);
  if (rc == 0)
    log_info("region", "store GC (domain '%s'): %llu live, %llu dead objects, %llu bytes freed", domain,
             (unsigned long long)st.live_objects, (unsigned long long)st.dead_objects,
             (unsigned long long)st.bytes_freed);
  g->sum.live_objects += st.live_objects;
  g->sum.dead_objects += st.dead_objects;
  g->sum.packs_deleted += st.packs_deleted;
  g->sum.packs_rewritten += st.packs_rewritten;
  g->sum.bytes_freed += st.bytes_freed;
  g->sum.bytes_copied += st.bytes_copied;
  return rc;
}

int region_store_gc(struct region *rg, struct region_gc_stats *out)
{
  struct gc_run g = {.rg = rg, .opts = {.crash_point = failpoint_value("store.gc.crash", 0) ? gc_crash_point : NULL}};
  int copying = 0;
  int rc = meta_image_copies_active(rg->meta, &copying);
  if (rc == 0 && copying) { /* their objects have no root yet (copy.c) */
    log_info("region", "store GC deferred: %d disk restore point(s) are being copied", copying);
    return -EAGAIN;
  }
  if (rc == 0) {
    pthread_mutex_lock(&rg->maint_lock);
    rc = region_stores_each(rg, gc_one, &g);
    pthread_mutex_unlock(&rg->maint_lock);
  }
  if (rc < 0)
    return rc;
  struct cas_gc_stats *st = &g.sum;
  *out = (struct region_gc_stats){st->live_objects, st->dead_objects, st->packs_deleted,
                                  st->packs_rewritten, st->bytes_freed, st->bytes_copied};
  return 0;
}

/* Appends to out what verifying one store found. */
struct verify_run {
  struct region *rg;
  void (*progress)(void *ctx, uint64_t done, uint64_t total);
  void *ctx;
  struct region_verify_report *out;
};

static int grow(void *pp, size_t n, size_t more, size_t size)
{
  void *p = realloc(*(void **)pp, (n + more + 1) * size);
  if (!p)
    return -ENOMEM;
  *(void **)pp = p;
  return 0;
}

static int verify_one(void *ctx, const char *domain, struct cas *cas)
{
  struct verify_run *v = ctx;
  struct region_verify_report *out = v->out;
  struct roots r = {.domain = domain};
  struct cas_verify_report rep = {0};
  int rc = collect_roots(v->rg, &r);
  int64_t pause_ms = failpoint_value("region.verify.pause_ms", 0); /* tests: a GC asks meanwhile */
  if (pause_ms > 0)
    nanosleep(&(struct timespec){pause_ms / 1000, pause_ms % 1000 * 1000000}, NULL);
  if (rc == 0)
    rc = cas_verify(cas, r.addr, r.n, v->progress, v->ctx, &rep);
  if (rc == 0)
    rc = grow(&out->damaged, out->n_damaged, rep.n_damage, sizeof *out->damaged);
  if (rc == 0)
    rc = grow(&out->affected, out->n_affected, r.n, sizeof *out->affected);
  if (rc == 0)
    rc = grow(&out->bad_packs, out->n_bad_packs, rep.n_bad_packs, sizeof *out->bad_packs);
  for (size_t i = 0; rc == 0 && i < rep.n_damage; i++) {
    struct region_damage *d = &out->damaged[out->n_damaged++];
    cas_addr_to_hex(&rep.damage[i].addr, d->address);
    snprintf(d->domain, sizeof d->domain, "%s", domain);
    d->missing = rep.damage[i].error == -ENOENT;
  }
  for (size_t i = 0; rc == 0 && rep.root_affected && i < r.n; i++)
    if (rep.root_affected[i])
      out->affected[out->n_affected++] = STEAL_PTR(r.owner[i]);
  for (size_t i = 0; rc == 0 && i < rep.n_bad_packs; i++)
    out->bad_packs[out->n_bad_packs++] = rep.bad_packs[i];
  out->objects_checked += rep.objects_checked;
  out->bytes_checked += rep.bytes_checked;
  out->packs_checked += rep.packs_checked;
  out->bad_records += rep.bad_records;
  if (rc == 0 && (rep.bad_records || rep.n_damage))
    log_error("region", "store verify (domain '%s'): %llu bad records, %zu damaged or missing objects", domain,
              (unsigned long long)rep.bad_records, rep.n_damage);
  cas_verify_report_free(&rep);
  roots_free(&r);
  return rc;
}

/* region_store_verify with maint_lock held. */
static int verify_all(struct region *rg, void (*progress)(void *ctx, uint64_t done, uint64_t total), void *ctx,
                      struct region_verify_report *out)
{
  memset(out, 0, sizeof *out);
  struct verify_run v = {rg, progress, ctx, out};
  int rc = region_stores_each(rg, verify_one, &v);
  if (rc < 0)
    region_verify_report_free(out);
  return rc;
}

int region_store_verify(struct region *rg, void (*progress)(void *ctx, uint64_t done, uint64_t total), void *ctx,
                        struct region_verify_report *out)
{
  pthread_mutex_lock(&rg->maint_lock);
  int rc = verify_all(rg, progress, ctx, out);
  pthread_mutex_unlock(&rg->maint_lock);
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

struct repair_run {
  struct region *rg;
  const struct repl_peer *peers;
  int npeers;
  void (*progress)(void *ctx, uint64_t done, uint64_t total);
  void *ctx;
  struct region_repair_report *out;
  uint8_t *buf;
};

/* Verifies one store into out->before, then repairs what it found. */
static int repair_one(void *ctx, const char *domain, struct cas *cas)
{
  struct repair_run *x = ctx;
  struct region_repair_report *out = x->out;
  struct region_verify_report *b = &out->before;
  size_t d0 = b->n_damaged, p0 = b->n_bad_packs, first = out->n_repaired;
  struct verify_run v = {x->rg, x->progress, x->ctx, b};
  int rc = verify_one(&v, domain, cas);
  if (rc == 0 && b->n_damaged > d0 && grow(&out->repaired, out->n_repaired, b->n_damaged - d0, sizeof *out->repaired))
    rc = -ENOMEM;
  for (size_t i = d0; rc == 0 && i < b->n_damaged; i++) {
    struct cas_addr a;
    if (cas_addr_from_hex(b->damaged[i].address, &a) < 0)
      continue;
    /* a group record an earlier repair brought may hold it too */
    const char *by = out->n_repaired > first && readable(cas, &a, x->buf) ? out->repaired[out->n_repaired - 1].from
                                                                          : NULL;
    if (by) {
      struct region_repaired *r = &out->repaired[out->n_repaired++];
      snprintf(r->address, sizeof r->address, "%s", b->damaged[i].address);
      r->from = by;
    }
    for (int k = 0; k < x->npeers && !by; k++) {
      struct repl_peer from = x->peers[k]; /* its store of the same domain */
      from.domain = domain;
      int r = repl_repair_object(cas, &from, &a);
      if (r == 0) {
        struct region_repaired *y = &out->repaired[out->n_repaired++];
        snprintf(y->address, sizeof y->address, "%s", b->damaged[i].address);
        y->from = x->peers[k].name;
        log_info("region", "store repair: object %s fetched from region %s", y->address, y->from);
        break;
      }
      log_warn("region", "store repair: object %s not from region %s: %s", b->damaged[i].address,
               x->peers[k].name, strerror(-r));
    }
  }
  if (rc == 0 && out->n_repaired > first)
    rc = cas_sync(cas);
  if (rc == 0 && b->n_bad_packs > p0 && out->n_repaired - first == b->n_damaged - d0) {
    /* the bad records are indexed by nothing now: a rewrite of their packs
     * leaves them behind */
    struct cas_gc_options opts = {.rewrite = b->bad_packs + p0, .n_rewrite = b->n_bad_packs - p0};
    struct cas_gc_stats st = {0};
    struct gc_ctx gc = {x->rg, domain};
    int copying = 0;
    int r = meta_image_copies_active(x->rg->meta, &copying);
    if (r == 0 && !copying)
      r = cas_gc(cas, gc_roots, &gc, &opts, &st);
    if (r == 0 && !copying)
      out->packs_rewritten = true;
    else
      log_warn("region", "store repair: the damaged packs stay until the next GC (%s)",
               copying ? "copies are running" : strerror(-r));
  }
  return rc;
}

int region_store_repair(struct region *rg, const struct repl_peer *peers, int npeers,
                        void (*progress)(void *ctx, uint64_t done, uint64_t total), void *ctx,
                        struct region_repair_report *out)
{
  memset(out, 0, sizeof *out);
  struct repair_run x = {rg, peers, npeers, progress, ctx, out, malloc(CAS_MAX_OBJECT)};
  pthread_mutex_lock(&rg->maint_lock);
  int rc = x.buf ? region_stores_each(rg, repair_one, &x) : -ENOMEM;
  if (rc == 0)
    rc = verify_all(rg, progress, ctx, &out->after);
  pthread_mutex_unlock(&rg->maint_lock);
  if (rc < 0)
    region_repair_report_free(out);
  free(x.buf);
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
