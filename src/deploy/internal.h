/*
 * internal.h — what the deploy/ files share: the engine, a running
 * deployment (struct run) and its items.  Not a public interface.
 */
#pragma once
#include <pthread.h>

#include "common/strlist.h"

#include "deploy/deploy.h"

#define DEPLOY_MAX_THREADS 16

enum item_state {
  ITEM_WAITING,  /* its dependencies are not all done */
  ITEM_QUEUED,   /* a task will run it */
  ITEM_RUNNING,  /* being created (or its nested deployment running) */
  ITEM_DONE,     /* created; or not deployed (condition false) */
  ITEM_FAILED,
};

enum item_outcome { OUTCOME_DONE, OUTCOME_FAILED, OUTCOME_PENDING, OUTCOME_INTERRUPTED };

struct run {
  struct deploy *d;
  struct run *next;            /* in d->runs */
  struct run *parent;          /* the deployment that nests this one, or NULL */
  int parent_item;
  struct run *root;            /* the outermost one (itself when not nested) */
  size_t weight;               /* a submitted one's share of d->held (0: nested, recovered) */
  char *id, *scope, *name, *caller, *correlation;
  bool complete;               /* Complete mode */
  json_t *template, *keep;
  struct tpl_posmap *pos;
  struct tpl_template *plan;
  struct deploy_world *world;
  pthread_mutex_t tlock;       /* the root's: a template tree is used by one thread at a time */
  pthread_mutex_t capture;     /* the root's: its restore points are created one at a time */
  int n;
  enum item_state *items;
  int busy;                    /* items queued or running (d->lock) */
  bool failed, canceled, finishing;
  json_t *details;             /* the errors of failed operations (d->lock) */
  int64_t start_us;
  char *nested_op;             /* a nested one: its operation in the parent */
  int64_t nested_start;
};

struct task {
  struct task *next;
  struct run *run;             /* NULL: the restart's recovery */
  int item;                    /* -1: finish the run */
};

struct deploy {
  struct deploy_config cfg;
  pthread_mutex_t lock;        /* the queue, the runs and their items' states */
  pthread_cond_t wake;
  struct task *head, *tail;
  struct run *runs;
  size_t held;                 /* the weights of the submitted runs in d->runs (deploy_submit) */
  bool stopping;
  pthread_t threads[DEPLOY_MAX_THREADS];
  int nthreads;
  struct strlist recovering;   /* the deployments active at start (recover.c) */
};

/* ---- engine.c ---- */
/* Queues a task (d->lock held). */
void deploy_queue(struct deploy *d, struct run *run, int item);
/* Records an item's end and starts what it unblocks. */
void deploy_item_done(struct run *run, int item, enum item_outcome outcome, json_t *error);
/* Starts a run (its meta row written): registers and schedules it. */
void deploy_run_start(struct run *run);
/* A new run of req's plan (taken with pos and world, even when it fails). */
struct run *deploy_run_new(struct deploy *d, const struct deploy_request *req);
void deploy_run_free(struct run *run);
/* Writes the run's row (Running; its parameters as tpl_parameters_view
 * shows them, never a secure value) with location, parent and tags. */
int deploy_run_record(struct run *run, const char *location, const char *parent_id, json_t *tags);
bool deploy_stopping(struct deploy *d);

/* ---- resource.c: one item ---- */
enum item_outcome deploy_resource_run(struct run *run, int item, json_t **error);
/* The world's reference(): a GET through the host. */
int deploy_reference(void *ctx, const char *id, const char *api_version, bool full, json_t **out,
                     struct tpl_error *err);
/* Waits for the resource at url (its id, with api-version) to reach a
 * terminal provisioning state, polling status_url when given: 0 with
 * *state ("Succeeded", "Failed", "Canceled", "NotFound") and *error (the
 * failure, may be NULL; a resource that cannot be read — 4xx, or 5xx for
 * long — is Failed with that answer's error), -EINTR when the engine
 * stops. */
int deploy_wait(struct run *run, const char *caller, const char *url, const char *status_url, char state[16],
                json_t **error);

/* ---- finish.c: the end of a run ---- */
/* Ends the run (its row's final state); a nested one's operation in its
 * parent is written, and what the parent's item ends in returned (with
 * *parent_error, for the parent's details). */
enum item_outcome deploy_run_finish(struct run *run, json_t **parent_error);

/* ---- recover.c ---- */
/* Lists the deployments active now (before any new one is submitted). */
int deploy_recover_list(struct deploy *d);
/* Ends each of them (engine.c, invariant 4). */
void deploy_recover(struct deploy *d);

/* ---- document.c: what is stored ---- */
/* "PT1.5S" */
void deploy_duration(int64_t us, char out[32]);
/* A new operation id: 16 upper-case hex digits, as ARM's. */
void deploy_op_id(char out[17]);
/* The name of an HTTP status as ARM's statusCode ("Created", "Conflict"). */
const char *deploy_status_name(int status);
/* Writes an operation: its document from these parts (error masked). */
int deploy_op_write(struct run *run, const char *op_id, const char *operation, const char *state,
                    const struct tpl_resource *target, int64_t start_us, const char *status_code, json_t *error,
                    const char *request_id);
/* deploy_masked with the run's template. */
json_t *deploy_mask_json(struct run *run, json_t *v);
