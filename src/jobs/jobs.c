/*
 * jobs.c — see jobs.h.
 *
 * Data structure: a FIFO of operation ids under one mutex, a condition
 * variable for idle workers, and a fixed pool of worker threads.
 *
 * Invariants (named by the tests in tests/arm/lro.sh; the failpoint
 * meta.commit fails the writes of (1) and (2): tests/reliability/
 * failpoints.sh, a restore point PUT that cannot commit is a clean 500):
 *  (1) An operation row exists, InProgress, before its job can run.
 *  (2) A job's outcome is written to its operation row before the job leaves
 *      the worker; a crash before that leaves the row InProgress, which (3)
 *      turns into a resumed run or a Failed status at the next start.
 *  (3) At start-up every InProgress operation is either queued again
 *      (resumable kind) or finished Failed with code "OperationInterrupted";
 *      so is every one a node claims from a node that is gone (jobs.h,
 *      "Nodes").
 */
#include "jobs/jobs.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/failpoint.h"
#include "common/log.h"

struct queued {
  char id[40];
  struct queued *next;
};

struct jobs {
  struct meta *meta;
  void *app;
  const struct job_kind *kinds;
  int nkinds;
  pthread_mutex_t lock;
  pthread_cond_t wake;    /* idle workers */
  pthread_cond_t stopped; /* napping jobs: a signal for idle workers must not wake them instead */
  struct queued *head, *tail;
  bool stopping;
  int nworkers;
  pthread_t *workers;
  bool adopting; /* the adopter thread runs (a shared store) */
  pthread_t adopter;
};

/* How often a node of a shared store looks for operations of gone nodes:
 * a few times within a lease (10 s by default). */
#define ADOPT_EVERY_MS 2000

struct job {
  struct jobs *jobs;
  const char *op_id;
};

static const struct job_kind *find_kind(struct jobs *j, const char *name)
{
  for (int i = 0; i < j->nkinds; i++)
    if (strcmp(j->kinds[i].name, name) == 0)
      return &j->kinds[i];
  return NULL;
}

void jobs_progress(struct job *job, double percent)
{
  meta_operation_progress(job->jobs->meta, job->op_id, percent);
}

bool jobs_should_stop(struct job *job)
{
  pthread_mutex_lock(&job->jobs->lock);
  bool s = job->jobs->stopping;
  pthread_mutex_unlock(&job->jobs->lock);
  return s;
}

/* Sleeps up to ms, waking early on shutdown; returns false if stopping. */
static bool interruptible_sleep(struct jobs *j, int64_t ms)
{
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += ms / 1000;
  until.tv_nsec += (ms % 1000) * 1000000;
  if (until.tv_nsec >= 1000000000) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000;
  }
  pthread_mutex_lock(&j->lock);
  while (!j->stopping && pthread_cond_timedwait(&j->stopped, &j->lock, &until) != ETIMEDOUT)
    ;
  bool ok = !j->stopping;
  pthread_mutex_unlock(&j->lock);
  return ok;
}

bool jobs_nap(struct job *job, int64_t ms) { return interruptible_sleep(job->jobs, ms); }

/* Invariant (2): the outcome is written, retried while the database cannot
 * take it (a full file system, an I/O error), or stays InProgress for (3)
 * when the service stops first. */
static void finish(struct jobs *j, const char *op_id, enum meta_op_status status, const char *error,
                   const char *result)
{
  int rc;
  for (int64_t ms = 1000; (rc = meta_operation_finish(j->meta, op_id, status, error, result)) < 0 && rc != -ENOENT;
       ms = ms < 8000 ? 2 * ms : ms) {
    log_warn("jobs", "cannot record the end of operation %s (%s); retrying in %lld s", op_id, strerror(-rc),
             (long long)(ms / 1000));
    if (!interruptible_sleep(j, ms))
      return;
  }
}

static void run_one(struct jobs *j, const char *op_id)
{
  struct meta_operation op;
  if (meta_operation_get(j->meta, op_id, &op) < 0) {
    log_error("jobs", "operation %s vanished before it ran", op_id);
    return;
  }
  if (op.status != OP_IN_PROGRESS)
    goto out;
  const struct job_kind *kind = find_kind(j, op.kind);
  if (!kind) {
    finish(j, op_id, OP_FAILED, "{\"code\":\"InternalOperationError\",\"message\":\"Unknown job kind.\"}", NULL);
    goto out;
  }
  int64_t delay = failpoint_value("jobs.run.delay_ms", 0);
  if (delay > 0 && !interruptible_sleep(j, delay))
    goto out; /* stopping: stays InProgress, resumed at next start */
  struct job job = {j, op_id};
  struct job_result res = {0};
  log_info("jobs", "running %s operation %s on %s", op.kind, op_id, op.resource_id ? op.resource_id : "-");
  enum job_outcome outcome = kind->run(j->app, &job, &op, &res);
  if (outcome == JOB_DONE)
    finish(j, op_id, OP_SUCCEEDED, NULL, res.result);
  else if (outcome == JOB_FAILED)
    finish(j, op_id, OP_FAILED,
           res.error ? res.error : "{\"code\":\"InternalOperationError\",\"message\":\"The operation failed.\"}",
           res.result);
  log_info("jobs", "%s operation %s: %s", op.kind, op_id,
           outcome == JOB_DONE ? "succeeded" : outcome == JOB_FAILED ? "failed" : "interrupted");
  free(res.error);
  free(res.result);
out:
  meta_operation_clear(&op);
}

static void *worker_main(void *arg)
{
  struct jobs *j = arg;
  for (;;) {
    pthread_mutex_lock(&j->lock);
    while (!j->stopping && !j->head)
      pthread_cond_wait(&j->wake, &j->lock);
    if (j->stopping) {
      pthread_mutex_unlock(&j->lock);
      return NULL;
    }
    struct queued *q = j->head;
    j->head = q->next;
    if (!j->head)
      j->tail = NULL;
    pthread_mutex_unlock(&j->lock);
    run_one(j, q->id);
    free(q);
  }
}

int jobs_submit(struct jobs *j, const char *op_id)
{
  struct queued *q = calloc(1, sizeof *q);
  if (!q)
    return -ENOMEM;
  snprintf(q->id, sizeof q->id, "%s", op_id);
  pthread_mutex_lock(&j->lock);
  if (j->tail)
    j->tail->next = q;
  else
    j->head = q;
  j->tail = q;
  pthread_cond_signal(&j->wake);
  pthread_mutex_unlock(&j->lock);
  return 0;
}

/* Invariant (3) for operations claimed (ids[0..n)): queued again when
 * resumable, else Failed; adopted: their node was lost, not restarted. */
static int take_claimed(struct jobs *j, char (*ids)[40], size_t n, bool adopted)
{
  int r = 0;
  for (size_t i = 0; i < n && r == 0; i++) {
    struct meta_operation op;
    if (meta_operation_get(j->meta, ids[i], &op) < 0)
      continue; /* gone meanwhile */
    const struct job_kind *kind = find_kind(j, op.kind);
    if (kind && kind->resumable) {
      log_info("jobs", "%s %s operation %s", adopted ? "taking over" : "resuming", op.kind, op.id);
      r = jobs_submit(j, op.id);
    } else {
      log_warn("jobs", "failing %s operation %s interrupted by %s", op.kind, op.id,
               adopted ? "the loss of its node" : "a restart");
      meta_operation_finish(j->meta, op.id, OP_FAILED,
                            adopted ? "{\"code\":\"OperationInterrupted\",\"message\":\"The node running the "
                                      "operation was lost and it cannot be resumed. Retry the request.\"}"
                                    : "{\"code\":\"OperationInterrupted\",\"message\":\"The operation was "
                                      "interrupted by a restart of the service and cannot be resumed. Retry the "
                                      "request.\"}",
                            NULL);
    }
    meta_operation_clear(&op);
  }
  free(ids);
  return r;
}

/* Claims (which, kind) and takes what it got. */
static int claim(struct jobs *j, enum meta_claim which, const char *kind, bool adopted)
{
  char(*ids)[40];
  size_t n;
  int r = meta_operation_claim(j->meta, which, NULL, kind, &ids, &n);
  return r < 0 ? r : take_claimed(j, ids, n, adopted);
}

static void *adopter_main(void *arg)
{
  struct jobs *j = arg;
  while (interruptible_sleep(j, ADOPT_EVERY_MS))
    for (int i = 0; i < j->nkinds; i++)
      if (j->kinds[i].anywhere)
        claim(j, CLAIM_GONE, j->kinds[i].name, true); /* a failure is retried at the next round */
  return NULL;
}

int jobs_start(struct meta *m, void *app, const struct job_kind *kinds, int nkinds, int workers,
               struct jobs **out)
{
  struct jobs *j = calloc(1, sizeof *j);
  if (!j)
    return -ENOMEM;
  j->meta = m;
  j->app = app;
  j->kinds = kinds;
  j->nkinds = nkinds;
  pthread_mutex_init(&j->lock, NULL);
  pthread_cond_init(&j->wake, NULL);
  pthread_cond_init(&j->stopped, NULL);
  bool shared = meta_shared(m);
  int r = shared ? claim(j, CLAIM_UNOWNED, NULL, false) : claim(j, CLAIM_ANY, NULL, false);
  if (r == 0 && shared)
    r = claim(j, CLAIM_MINE, NULL, false);
  if (r == 0 && shared)
    r = -pthread_create(&j->adopter, NULL, adopter_main, j);
  j->adopting = shared && r == 0;
  if (r < 0) {
    jobs_stop(j);
    return r;
  }
  j->workers = calloc((size_t)workers, sizeof *j->workers);
  for (int i = 0; j->workers && i < workers; i++) {
    if (pthread_create(&j->workers[i], NULL, worker_main, j) != 0)
      break;
    j->nworkers++;
  }
  if (j->nworkers == 0) {
    jobs_stop(j);
    return -EAGAIN;
  }
  *out = j;
  return 0;
}

void jobs_stop(struct jobs *j)
{
  if (!j)
    return;
  pthread_mutex_lock(&j->lock);
  j->stopping = true;
  pthread_cond_broadcast(&j->wake);
  pthread_cond_broadcast(&j->stopped);
  pthread_mutex_unlock(&j->lock);
  for (int i = 0; i < j->nworkers; i++)
    pthread_join(j->workers[i], NULL);
  if (j->adopting)
    pthread_join(j->adopter, NULL);
  while (j->head) {
    struct queued *q = j->head;
    j->head = q->next;
    free(q);
  }
  free(j->workers);
  pthread_mutex_destroy(&j->lock);
  pthread_cond_destroy(&j->wake);
  pthread_cond_destroy(&j->stopped);
  free(j);
}
