/*
 * engine.c — the pool, the queue, and a deployment's dependency graph.
 *
 * A run is one deployment in memory: its plan (template/), the state of
 * each item of the plan, and how many are queued or running.  An item
 * waits until every item it depends on is done, then a task runs it on one
 * of the pool's threads (resource.c): so independent resources are created
 * in parallel, as many at once as there are threads.  A nested deployment's
 * item starts a child run and holds no thread while it waits; the child's
 * end completes the item.  When a run has nothing queued or running and
 * nothing left it could start — all done, or a failure or a cancel stopped
 * it from starting more — its finish task ends it (finish.c).  A failure
 * lets what is running complete and starts nothing new (ARM goes on with
 * independent branches; vmrp stops early, so that less is left half-made).
 *
 * Restore points of one deployment (its nested ones included) are created
 * one at a time (run->capture, held by the item while it creates one):
 * vmrp captures one restore point of a VM at a time and refuses a second
 * with 409 (README), which a template with two restore points of one VM and
 * no dependsOn between them must not meet.  Serialising them is
 * deterministic, where retrying on that 409 would depend on timing.
 *
 * Durability — the numbered invariants (tests/arm/deploy_crash.sh checks
 * each after a kill -9 at several points; tests/arm/deployments.sh the rest):
 *  (1) A deployment's row is written (Running; the PUT's answer says
 *      Accepted) before its PUT is answered, and only a row's change to a
 *      final state ends it: an answered PUT is never forgotten.  [deployments.sh: GET after PUT;
 *      failpoint meta.commit: tests/reliability/failpoints.sh, a PUT whose row cannot be committed is a
 *      clean 500 and leaves no deployment]
 *  (2) An item's operation is written Running, naming its target, before
 *      its request is made: a resource a deployment created is always named
 *      by one of its operations.  [deploy_crash.sh: every resource created
 *      is the target of an operation]
 *  (3) An operation's final state is written after the resource's own
 *      long-running operation ended, from what it ended in.
 *      [deployments.sh: operation list]
 *  (4) At start-up every deployment left active by a previous process is
 *      ended Failed (DeploymentFailed, naming the restart), after each of
 *      its Running operations is settled from its target's state: waited
 *      for while the handler's own job still runs, Succeeded or Failed as
 *      it ended, Failed when the target was never created.  Nothing stays
 *      Running.  [deploy_crash.sh]
 *  (5) Secure values are never in a row: see deploy.h.  [deployments.sh:
 *      grep of the database file and the logs]
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/random.h"
#include "common/timefmt.h"
#include "deploy/internal.h"

bool deploy_stopping(struct deploy *d)
{
  pthread_mutex_lock(&d->lock);
  bool s = d->stopping;
  pthread_mutex_unlock(&d->lock);
  return s;
}

void deploy_queue(struct deploy *d, struct run *run, int item)
{
  struct task *t = calloc(1, sizeof *t);
  if (!t) {
    log_error("deploy", "out of memory queueing a task of %s", run ? run->id : "recovery");
    return;
  }
  t->run = run;
  t->item = item;
  if (d->tail)
    d->tail->next = t;
  else
    d->head = t;
  d->tail = t;
  pthread_cond_signal(&d->wake);
}

/* Whether item i's dependencies are all done. */
static bool ready(const struct run *run, int i)
{
  const struct tpl_resource *r = tpl_get(run->plan, i);
  for (int k = 0; k < r->ndepends; k++)
    if (run->items[r->depends[k]] != ITEM_DONE)
      return false;
  return true;
}

/* Queues what can start, or the finish when nothing can (d->lock held). */
static void schedule(struct run *run)
{
  for (int i = 0; !run->failed && !run->canceled && i < run->n; i++)
    if (run->items[i] == ITEM_WAITING && ready(run, i)) {
      run->items[i] = ITEM_QUEUED;
      run->busy++;
      deploy_queue(run->d, run, i);
    }
  if (run->busy == 0 && !run->finishing) {
    run->finishing = true;
    deploy_queue(run->d, run, -1);
  }
}

void deploy_item_done(struct run *run, int item, enum item_outcome outcome, json_t *error)
{
  struct deploy *d = run->d;
  pthread_mutex_lock(&d->lock);
  if (outcome == OUTCOME_INTERRUPTED || d->stopping) { /* left Running for the next start (4) */
    pthread_mutex_unlock(&d->lock);
    json_decref(error);
    return;
  }
  run->items[item] = outcome == OUTCOME_DONE ? ITEM_DONE : ITEM_FAILED;
  if (outcome == OUTCOME_FAILED) {
    run->failed = true;
    if (error)
      json_array_append(run->details, error);
  }
  run->busy--;
  schedule(run);
  pthread_mutex_unlock(&d->lock);
  json_decref(error);
}

struct run *deploy_run_new(struct deploy *d, const struct deploy_request *req)
{
  struct run *run = calloc(1, sizeof *run);
  if (!run) {
    tpl_free(req->plan);
    tpl_posmap_free(req->pos);
    if (req->world)
      deploy_world_clear(req->world);
    free(req->world);
    return NULL;
  }
  run->d = d;
  run->root = run;
  run->id = strdup(req->id);
  run->scope = strdup(req->scope);
  run->name = strdup(req->name);
  run->caller = strdup(req->caller);
  run->correlation = strdup(req->correlation_id);
  run->complete = req->mode && !strcmp(req->mode, "Complete");
  run->template = json_incref(req->template);
  run->keep = json_incref(req->keep);
  run->pos = req->pos;
  run->plan = req->plan;
  run->world = req->world;
  run->world->w.reference = deploy_reference;
  run->world->w.reference_ctx = run;
  run->n = tpl_count(req->plan);
  run->items = calloc((size_t)run->n + 1, sizeof *run->items);
  run->details = json_array();
  run->start_us = time_now_us();
  pthread_mutex_init(&run->tlock, NULL);
  pthread_mutex_init(&run->capture, NULL);
  if (!run->id || !run->scope || !run->name || !run->caller || !run->correlation || !run->items || !run->details) {
    deploy_run_free(run);
    return NULL;
  }
  for (int i = 0; i < run->n; i++)
    run->items[i] = tpl_get(run->plan, i)->deploy ? ITEM_WAITING : ITEM_DONE;
  return run;
}

void deploy_run_free(struct run *run)
{
  if (!run)
    return;
  free(run->id);
  free(run->scope);
  free(run->name);
  free(run->caller);
  free(run->correlation);
  free(run->nested_op);
  tpl_free(run->plan);
  tpl_posmap_free(run->pos);
  json_decref(run->template);
  json_decref(run->keep);
  if (run->world)
    deploy_world_clear(run->world);
  free(run->world);
  free(run->items);
  json_decref(run->details);
  pthread_mutex_destroy(&run->tlock);
  pthread_mutex_destroy(&run->capture);
  free(run);
}

void deploy_run_start(struct run *run)
{
  struct deploy *d = run->d;
  pthread_mutex_lock(&d->lock);
  run->next = d->runs;
  d->runs = run;
  schedule(run);
  pthread_mutex_unlock(&d->lock);
}

/* Takes run off d->runs (d->lock held). */
static void unlink_run(struct deploy *d, struct run *run)
{
  for (struct run **p = &d->runs; *p; p = &(*p)->next)
    if (*p == run) {
      *p = run->next;
      return;
    }
}

static void *worker(void *arg)
{
  struct deploy *d = arg;
  pthread_mutex_lock(&d->lock);
  for (;;) {
    while (!d->head && !d->stopping)
      pthread_cond_wait(&d->wake, &d->lock);
    if (d->stopping)
      break;
    struct task *t = d->head;
    d->head = t->next;
    if (!d->head)
      d->tail = NULL;
    if (t->run && t->item >= 0)
      t->run->items[t->item] = ITEM_RUNNING;
    pthread_mutex_unlock(&d->lock);
    if (!t->run) {
      deploy_recover(d);
    } else if (t->item < 0) {
      struct run *run = t->run, *parent = run->parent;
      int parent_item = run->parent_item;
      json_t *error = NULL;
      enum item_outcome o = deploy_run_finish(run, &error);
      pthread_mutex_lock(&d->lock);
      bool stopping = d->stopping;
      if (!stopping) {
        unlink_run(d, run);
        d->held -= run->weight;
      }
      pthread_mutex_unlock(&d->lock);
      if (!stopping) {
        deploy_run_free(run); /* before its parent can end: its plan may use the parent's */
        if (parent)
          deploy_item_done(parent, parent_item, o, error);
        else
          json_decref(error);
      } else {
        json_decref(error);
      }
    } else {
      json_t *error = NULL;
      enum item_outcome o = deploy_resource_run(t->run, t->item, &error);
      if (o != OUTCOME_PENDING)
        deploy_item_done(t->run, t->item, o, error);
    }
    free(t);
    pthread_mutex_lock(&d->lock);
  }
  pthread_mutex_unlock(&d->lock);
  return NULL;
}

int deploy_start(const struct deploy_config *cfg, struct deploy **out)
{
  struct deploy *d = calloc(1, sizeof *d);
  if (!d)
    return -ENOMEM;
  d->cfg = *cfg;
  if (d->cfg.threads < 1 || d->cfg.threads > DEPLOY_MAX_THREADS)
    d->cfg.threads = 4;
  if (d->cfg.poll_ms <= 0)
    d->cfg.poll_ms = 250;
  pthread_mutex_init(&d->lock, NULL);
  pthread_cond_init(&d->wake, NULL);
  int rc = deploy_recover_list(d);
  if (rc < 0) {
    deploy_stop(d);
    return rc;
  }
  pthread_mutex_lock(&d->lock);
  deploy_queue(d, NULL, 0); /* the recovery first (4) */
  pthread_mutex_unlock(&d->lock);
  for (int i = 0; rc == 0 && i < d->cfg.threads; i++) {
    rc = -pthread_create(&d->threads[i], NULL, worker, d);
    if (rc == 0)
      d->nthreads++;
  }
  if (rc < 0) {
    deploy_stop(d);
    return rc;
  }
  log_info("deploy", "deployment engine: %d threads, history of %d deployments per scope, %zu to recover",
           d->nthreads, d->cfg.history, d->recovering.n);
  *out = d;
  return 0;
}

void deploy_stop(struct deploy *d)
{
  if (!d)
    return;
  pthread_mutex_lock(&d->lock);
  d->stopping = true;
  pthread_cond_broadcast(&d->wake);
  pthread_mutex_unlock(&d->lock);
  for (int i = 0; i < d->nthreads; i++)
    pthread_join(d->threads[i], NULL);
  while (d->head) {
    struct task *t = d->head;
    d->head = t->next;
    free(t);
  }
  /* children first: a parent's plan may be used by its child */
  while (d->runs) {
    struct run *run = d->runs;
    d->runs = run->next;
    deploy_run_free(run);
  }
  strlist_free(&d->recovering);
  pthread_mutex_destroy(&d->lock);
  pthread_cond_destroy(&d->wake);
  free(d);
}

int deploy_cancel(struct deploy *d, const char *id)
{
  int rc = meta_deployment_cancel(d->cfg.meta, id);
  if (rc < 0)
    return rc;
  pthread_mutex_lock(&d->lock);
  for (struct run *r = d->runs; r; r = r->next)
    if (!strcasecmp(r->id, id) || (r->root && !strcasecmp(r->root->id, id)))
      r->canceled = true;
  pthread_mutex_unlock(&d->lock);
  return 0;
}

int deploy_run_record(struct run *run, const char *location, const char *parent_id, json_t *tags)
{
  char op[UUID_STR_LEN], op_id[24];
  random_uuid(op);
  size_t k = 0;
  for (const char *c = op; *c && k < 20; c++)
    if (*c != '-')
      op_id[k++] = (char)toupper((unsigned char)*c);
  op_id[k] = '\0';
  json_t *props = json_pack("{s:s,s:s,s:s?,s:o}", "mode", run->complete ? "Complete" : "Incremental",
                            "correlationId", run->correlation, "templateHash", tpl_hash(run->plan), "parameters",
                            tpl_parameters_view(run->plan));
  json_t *doc = json_pack("{s:o}", "properties", props);
  if (tags)
    json_object_set(doc, "tags", tags);
  char *doc_text = json_dumps(doc, JSON_COMPACT);
  char *template = run->template ? json_dumps(run->template, JSON_COMPACT) : NULL;
  json_decref(doc);
  struct meta_deployment dep = {.id = run->id, .scope = run->scope, .name = run->name, .location = (char *)location,
                                .state = "Running", .op_id = op_id, .parent_id = (char *)parent_id,
                                .caller = run->caller, .document = doc_text, .template = template,
                                .start_us = run->start_us};
  int rc = doc_text && (template || !run->template) ? meta_deployment_put(run->d->cfg.meta, &dep, run->d->cfg.history)
                                                    : -ENOMEM;
  free(doc_text);
  free(template);
  return rc;
}

/* Gives run its weight out of d->held: false when there is no room. */
static bool hold(struct deploy *d, struct run *run, size_t weight)
{
  pthread_mutex_lock(&d->lock);
  bool room = weight <= DEPLOY_MAX_HELD - d->held;
  if (room)
    d->held += run->weight = weight;
  pthread_mutex_unlock(&d->lock);
  return room;
}

int deploy_submit(struct deploy *d, const struct deploy_request *req)
{
  struct run *run = deploy_run_new(d, req);
  if (!run)
    return -ENOMEM;
  if (!hold(d, run, req->bytes > DEPLOY_MIN_WEIGHT ? req->bytes : DEPLOY_MIN_WEIGHT)) {
    deploy_run_free(run);
    return -EAGAIN;
  }
  int rc = deploy_run_record(run, req->location, NULL, req->tags);
  if (rc < 0) {
    pthread_mutex_lock(&d->lock);
    d->held -= run->weight;
    pthread_mutex_unlock(&d->lock);
    deploy_run_free(run);
    return rc;
  }
  deploy_run_start(run);
  return 0;
}
