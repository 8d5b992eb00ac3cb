/*
 * jobs.h — persistent background jobs behind long-running operations.
 *
 * A job is an operation row (meta/) in state InProgress plus a kind that
 * knows how to run it.  The caller creates the row (usually in the same
 * transaction as the resource change that starts the work) and then calls
 * jobs_submit(); a worker thread runs the kind's function and records the
 * outcome with meta_operation_finish(), retried until it lands (a full or
 * failing disk comes back) or the service stops.
 *
 * Restart: jobs_start() looks at every operation still InProgress.  A
 * resumable kind is queued again (its run function must be idempotent: it is
 * re-entered from the top and finds the work partly done); any other kind is
 * marked Failed with an error saying the service restarted.  So no operation
 * stays InProgress forever.
 *
 * Nodes: an operation belongs to the node incarnation that created or
 * claimed it (meta_operation_claim).  Embedded (one process), the start
 * claims every InProgress operation.  When the metadata store is shared by
 * several nodes, the start claims those of this node's earlier
 * incarnations (and those without an owner), and every ADOPT_EVERY_MS a
 * node takes over the operations of the `anywhere` kinds whose node is gone
 * (its lease ran out, or it was fenced) — queued again or failed by the
 * restart rule above.  The others (node-local work: volumes) wait for their
 * node to come back under its id.
 *
 * Shutdown: jobs_stop() stops taking work and asks running jobs to stop
 * (jobs_should_stop()); a job that returns JOB_INTERRUPTED leaves its
 * operation InProgress, to be resumed (or failed) at the next start.
 *
 * Thread-safe.
 */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "meta/meta.h"

struct jobs;
struct job;

enum job_outcome { JOB_DONE, JOB_FAILED, JOB_INTERRUPTED };

struct job_result {
  char *error;   /* malloc'd JSON {code,message,...} when JOB_FAILED */
  char *result;  /* malloc'd JSON result (optional) */
};

typedef enum job_outcome (*job_run_fn)(void *app, struct job *job, const struct meta_operation *op,
                                       struct job_result *res);

struct job_kind {
  const char *name;
  job_run_fn run;
  bool resumable;
  bool anywhere; /* needs nothing node-local: another node takes it over when its node is gone */
};

int jobs_start(struct meta *m, void *app, const struct job_kind *kinds, int nkinds, int workers,
               struct jobs **out);
/* Queues an operation whose row is already committed. */
int jobs_submit(struct jobs *j, const char *op_id);
void jobs_stop(struct jobs *j);

/* For run functions: report progress (0..100) and poll for shutdown. */
void jobs_progress(struct job *job, double percent);
bool jobs_should_stop(struct job *job);
/* Sleeps ms milliseconds, or less when the service stops: false then. */
bool jobs_nap(struct job *job, int64_t ms);
