/*
 * membership.c — see membership.h.
 *
 * One thread renews the lease.  It judges the lease lost in two ways, and
 * either stops the process:
 *   - the database refuses the renewal (-ENOLCK: fenced, or the lease ran
 *     out on the database's clock) — another node may already be taking
 *     over what this one holds;
 *   - no renewal has succeeded within ttl since the start of the last one
 *     that did, on this node's monotonic clock: a node cut off from the
 *     database cannot learn that it was fenced, so it assumes it.  The
 *     database judges from the same start or later, so the node stops no
 *     later than its lease ends there (SCALE-OUT.md §3.1, "self-fencing").
 * Each successful round also fences the nodes whose leases ran out, so a
 * node that comes back finds its token dead (and the list shows it).
 * Stopping is _exit: no clean shutdown, which would write (and be refused)
 * and wait on requests; acknowledged data is durable without it.
 *
 * Failpoint `node.renew` (eio) fails the renewals as a lost connection
 * would; `node.lost.delay_ms` holds the exit back so that a request the
 * node serves meanwhile meets the store's refusal (N1):
 * tests/distributed/nodes_pg.sh uses both.
 */
#include "region/membership.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/failpoint.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "meta/meta.h"

/* A supervisor's cue to restart the node (sysexits' EX_TEMPFAIL). */
#define EXIT_LEASE_LOST 75

struct membership {
  struct meta *meta;
  char *node_id;
  int64_t ttl_us;
  bool renewing;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  bool stopping;
};

static void lease_lost(struct membership *mb, const char *why)
{
  log_error("membership", "node %s lost its lease (%s): stopping; restarted, it joins as a new incarnation",
            mb->node_id, why);
  int64_t ms = failpoint_value("node.lost.delay_ms", 0); /* a test's window to see its writes refused */
  if (ms > 0)
    usleep((useconds_t)ms * 1000);
  _exit(EXIT_LEASE_LOST);
}

/* Fences every other node whose lease has run out (a renewal round's
 * second half): its token dies now, not when it comes back, and the nodes
 * list says so.  Losing the race to another node's fence is no error. */
static int fence_one(void *ctx, const struct meta_node *n)
{
  struct membership *mb = ctx;
  if (strcmp(n->id, mb->node_id) != 0 && !n->fenced && n->lease_until_us > 0 && n->lease_until_us <= n->now_us &&
      meta_node_fence(mb->meta, n->id) == 0)
    log_warn("membership", "node %s fenced node %s: its lease ran out %lld ms ago", mb->node_id, n->id,
             (long long)((n->now_us - n->lease_until_us) / 1000));
  return 0;
}

static void *renew_loop(void *arg)
{
  struct membership *mb = arg;
  int64_t period_ms = mb->ttl_us / 5000, last_ok_ms = time_mono_ms();
  pthread_mutex_lock(&mb->lock);
  while (!mb->stopping) {
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += period_ms / 1000;
    until.tv_nsec += (period_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&mb->wake, &mb->lock, &until);
    if (mb->stopping)
      break;
    pthread_mutex_unlock(&mb->lock);
    int64_t start_ms = time_mono_ms();
    int r = failpoint_err("node.renew");
    if (r == 0)
      r = meta_node_renew(mb->meta, mb->ttl_us);
    if (r == -ENOLCK)
      lease_lost(mb, "the metadata store refused its renewal: fenced, or the lease ran out");
    if (r == 0) {
      last_ok_ms = start_ms;
      meta_node_list(mb->meta, fence_one, mb);
    } else if (time_mono_ms() - last_ok_ms >= mb->ttl_us / 1000)
      lease_lost(mb, "no renewal reached the metadata store within the lease");
    else
      log_warn("membership", "node %s: lease renewal failed (%s); retrying", mb->node_id, strerror(-r));
    pthread_mutex_lock(&mb->lock);
  }
  pthread_mutex_unlock(&mb->lock);
  return NULL;
}

static int join(struct meta *m, const struct membership_config *c)
{
  int64_t inc, deadline_ms = time_mono_ms() + c->ttl_us / 1000 + 2000;
  bool waited = false;
  int r;
  while ((r = meta_node_join(m, c->node_id, c->addr, c->version, c->ttl_us, !c->shared, &inc)) == -EBUSY &&
         time_mono_ms() < deadline_ms) {
    if (!waited)
      log_info("membership", "node %s: waiting for the lease of its previous process to run out", c->node_id);
    waited = true;
    usleep(200 * 1000);
  }
  if (r == -EBUSY)
    log_error("membership", "node id %s is held by a running process (its lease is renewed): not starting",
              c->node_id);
  else if (r == 0)
    log_info("membership", "node %s joined as incarnation %lld", c->node_id, (long long)inc);
  return r;
}

int membership_start(struct meta *m, const struct membership_config *c, struct membership **out)
{
  struct membership *mb = calloc(1, sizeof *mb);
  int r = -ENOMEM;
  if (!mb || !(mb->node_id = strdup(c->node_id)))
    goto fail;
  mb->meta = m;
  mb->ttl_us = c->ttl_us;
  pthread_mutex_init(&mb->lock, NULL);
  pthread_cond_init(&mb->wake, NULL);
  if ((r = join(m, c)) < 0)
    goto fail_sync;
  if (c->shared) {
    if ((r = -pthread_create(&mb->thread, NULL, renew_loop, mb)) < 0) {
      meta_node_leave(m);
      goto fail_sync;
    }
    mb->renewing = true;
  }
  *out = mb;
  return 0;
fail_sync:
  pthread_cond_destroy(&mb->wake);
  pthread_mutex_destroy(&mb->lock);
fail:
  if (mb)
    free(mb->node_id);
  free(mb);
  return r;
}

void membership_stop(struct membership *mb)
{
  if (!mb)
    return;
  if (mb->renewing) {
    pthread_mutex_lock(&mb->lock);
    mb->stopping = true;
    pthread_cond_signal(&mb->wake);
    pthread_mutex_unlock(&mb->lock);
    pthread_join(mb->thread, NULL);
  }
  meta_node_leave(mb->meta);
  pthread_cond_destroy(&mb->wake);
  pthread_mutex_destroy(&mb->lock);
  free(mb->node_id);
  free(mb);
}
