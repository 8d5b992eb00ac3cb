/*
 * deploy.h — the deployment engine: runs a template's plan (template/)
 * through the ARM handlers, resource by resource, and keeps each
 * deployment's history entry and operations (meta/).
 *
 * The engine never calls a handler itself: the front end gives it a
 * request function (struct deploy_host) that runs a method on a URL as the
 * deployment's caller through the same route a client's call takes
 * (arm/dispatch.c).  Each resource is a PUT, then a wait for its
 * long-running operation; reference() is a GET; Complete mode's deletions
 * are DELETEs.
 *
 * Threads: a small pool of its own (deploy_config.threads), never the jobs/
 * workers, which the handlers' own operations need.  Independent resources
 * run in parallel, up to the pool's size.  A nested deployment is a child
 * run that holds no thread while it waits.
 *
 * What the engine keeps, and after a crash: see engine.c's invariants.
 *
 * Secure parameters: their values live only in the running deployment's
 * template (memory); documents are built from tpl_parameters_view and
 * tpl_outputs, and every message stored (an operation's statusMessage, the
 * deployment's error) is masked with tpl_secrets first.
 *
 * Thread-safe.
 */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "meta/meta.h"
#include "template/template.h"

/* An answer to a request the engine made. */
struct deploy_reply {
  int status;
  json_t *body;           /* NULL when there is none */
  char *async_operation;  /* the Azure-AsyncOperation URL, or NULL */
  char request_id[40];
};
void deploy_reply_clear(struct deploy_reply *r);

struct deploy_host {
  void *ctx;
  /* Runs method on url (a path with its query, or an absolute URL of this
   * region) with body (borrowed, may be NULL) as caller (the JSON identity
   * a deployment stores).  0 with *out, or -errno. */
  int (*request)(void *ctx, const char *caller, const char *method, const char *url, json_t *body,
                 const char *correlation_id, struct deploy_reply *out);
  /* The api-version to use for method on the resource id when the
   * template names none (Complete mode's deletions, reference() of a
   * resource outside the template); NULL when no route serves it. */
  const char *(*api_version)(void *ctx, const char *method, const char *id);
  /* Whether caller may run the nested deployment id (the role a client's
   * PUT of it needs), asked before its target scope is read: 0, or
   * -EACCES with *error ARM's {code, message} (a new reference; NULL when
   * out of memory). */
  int (*authorize_nested)(void *ctx, const char *caller, const char *id, json_t **error);
};

struct deploy_config {
  struct deploy_host host;
  struct meta *meta;
  const char *tenant_id;
  /* subscription().displayName of a subscription id (NULL: the id) */
  const char *(*subscription_name)(void *ctx, const char *subscription);
  json_t *environment;          /* environment() (borrowed for the engine's life) */
  int threads;                  /* the pool (1..16) */
  int history;                  /* deployments kept per scope (ARM: 800) */
  int poll_ms;                  /* between two polls of a long-running operation */
};

struct deploy;

/* Starts the pool, then ends every deployment a previous process left
 * active (engine.c, invariant 4).  0 or -errno. */
int deploy_start(const struct deploy_config *cfg, struct deploy **out);
/* Stops starting work and joins the pool; what was running stays active in
 * the store, for the next start.  NULL is allowed. */
void deploy_stop(struct deploy *d);

/* A copy of v with every secure parameter value of plan (tpl_secrets)
 * replaced by '***' in its strings (document.c): what is returned or
 * stored of the bodies a template makes (what-if) never shows them.  NULL
 * when out of memory. */
json_t *deploy_masked(const struct tpl_template *plan, json_t *v);

/* ---- the world a deployment's template is evaluated in (world.c) ------- */
/* tpl_world with the storage its strings point into. */
struct deploy_world {
  struct tpl_world w;
  char subscription[64], resource_group[96], rg_location[64], name[80], location[64], mode[16];
  json_t *rg_tags;
};
/* The world of a deployment named name at (subscription, resource_group
 * NULL: subscription scope), location (subscription scope; else NULL) and
 * mode: the resource group read from the store.  0; -ENOENT no such
 * resource group; -ENAMETOOLONG. */
int deploy_world_init(struct deploy *d, struct deploy_world *w, const char *subscription, const char *resource_group,
                      const char *name, const char *location, const char *mode);
void deploy_world_clear(struct deploy_world *w);

/* ---- running one ---------------------------------------------------------- */
/* What a client's PUT asks for, its template planned (tpl_load) in world. */
struct deploy_request {
  const char *id;                 /* the deployment's ARM id */
  const char *scope;              /* /subscriptions/{s}[/resourceGroups/{rg}] */
  const char *name;
  const char *location;           /* subscription scope, else NULL */
  const char *caller;             /* JSON identity (deploy_host.request) */
  const char *correlation_id;
  const char *mode;               /* Incremental | Complete */
  json_t *tags;                   /* may be NULL (borrowed) */
  json_t *template;               /* as submitted (borrowed; a reference is kept) */
  json_t *keep;                   /* what else must live as long as the template (the request body; a reference is kept) */
  struct tpl_posmap *pos;         /* taken */
  struct tpl_template *plan;      /* taken */
  struct deploy_world *world;     /* taken (heap) */
  size_t bytes;                   /* the size of the request it came from */
};
/* What the deployments running at once may hold together: each counts the
 * size of its request (at least DEPLOY_MIN_WEIGHT), which its parsed
 * template, positions and plan take 20 to 50 times over in memory — 20
 * dense 2.6 MB templates took 1 GB. */
#define DEPLOY_MAX_HELD (32u << 20)
#define DEPLOY_MIN_WEIGHT (64u << 10)
/* Records the deployment (Running; -EBUSY when one of that id is active)
 * and starts running it; -EAGAIN (nothing recorded) when it would take
 * the running deployments past DEPLOY_MAX_HELD: the caller asks to retry
 * later.  Ownership of pos, plan and world passes to the engine whatever
 * the result.  0 or -errno. */
int deploy_submit(struct deploy *d, const struct deploy_request *req);
/* Asks a running deployment to stop starting resources (it ends
 * Canceled): 0; -EALREADY when it is final; -ENOENT. */
int deploy_cancel(struct deploy *d, const char *id);

/* ---- what clients see (view.c) -------------------------------------------- */
/* The DeploymentExtended of a stored deployment. */
json_t *deploy_view(const struct meta_deployment *dep);
/* The body of validate's answer: a DeploymentExtended of a deployment not
 * run (Succeeded, timestamp 0001-01-01, PT0S) with validatedResources. */
json_t *deploy_validate_view(const char *id, const char *name, const char *location, const char *mode,
                             const struct tpl_template *plan, json_t *tags);
/* A DeploymentOperation. */
json_t *deploy_op_view(const struct meta_deployment *dep, const struct meta_deployment_op *op);
