/*
 * arm.h — the Azure Resource Manager front end of one region.
 *
 * arm_handle() is the HTTP handler: it serves the identity endpoints
 * (metadata, OpenID configuration, token, JWKS) anonymously and every ARM path
 * after authentication, api-version validation, subscription and role checks.
 * Handlers validate, read and write the metadata store's resource rows and
 * call the region (region/region.h) for what a disk, a restore point or the
 * store is; work that outlives a request is an operation run by jobs/
 * (arm_job_kinds() lists the kinds ARM defines; their run functions call the
 * region too and render its results).  JSON stays here.
 *
 * Errors: arm_open returns 0 or -ENOMEM; handlers answer every failure with
 * an ARM error body (reply.c).
 *
 * Thread-safe: arm_handle runs concurrently on the HTTP worker threads.
 */
#pragma once
#include <stdint.h>

#include "auth/auth.h"
#include "http/server.h"
#include "jobs/jobs.h"
#include "meta/meta.h"
#include "notify/notify.h"

struct arm_location {
  const char *name;          /* "eastus" */
  const char *display_name;  /* "East US" (NULL: derived from a built-in table) */
  const char *endpoint;      /* ARM base URL of that region */
  const char *credential;    /* a peer's: the credential region-to-region calls carry */
};

struct arm_subscription {
  const char *id;            /* GUID */
  const char *display_name;
};

struct region;

struct arm_config {
  const char *public_url;    /* this region's ARM base URL, no trailing slash */
  const char *tenant_id;
  const struct arm_subscription *subscriptions;
  int nsubscriptions;
  const struct arm_location *locations; /* [0] is this region, then its peers */
  int nlocations;
  int page_size;             /* list page size when the client gives no $top */
  int sas_max_duration_s;    /* longest SAS grant (beginGetAccess); 0: 7 days */
  int sas_max_grants;        /* active grants per disk family, for messages (the region enforces it) */
  const char *peer_ca;       /* CA file the peers' TLS certificates are verified against (NULL: the system's) */
  int copy_per_hour;         /* copies into one collection per hour (Azure: 3); 0: no limit */
  int copy_deadline_s;       /* a copy that cannot finish in this long fails */
  unsigned copy_streams;     /* concurrent object requests of one copy */
  uint64_t copy_max_bytes_per_s; /* 0: unlimited */
  int deploy_threads;        /* the template deployment engine's pool */
  int deploy_history;        /* deployments kept per resource group (ARM: 800) */
  int disk_overcommit;       /* disks provisioned ≤ this × the volumes' file system size; 0: 10 */
  bool failpoints;           /* [testing] failpoints = on: the failpoints admin call is served */
  struct notify_config notify; /* [notifications]: protection policies' webhooks */
  const char *node_id;       /* this node's id in the region's nodes table ([node] id) */
  bool node_shared;          /* the metadata store is shared by several nodes (PostgreSQL) */
};

struct arm;

/* The front end of an open region (region_open): arm_close before
 * region_close. */
int arm_open(const struct arm_config *cfg, struct meta *m, struct auth *a, struct region *region, struct arm **out);
/* Jobs are started after arm_open (their app is the struct arm); then the
 * template deployment engine starts (it ends the deployments a previous
 * process left active).  0 or -errno. */
int arm_set_jobs(struct arm *arm, struct jobs *jobs);
/* Stops the threads the front end runs on its own (the protection
 * policies' scheduler), whose requests submit jobs: before jobs_stop.
 * arm_close calls it too; NULL and a second call are no-ops. */
void arm_policy_stop(struct arm *arm);
void arm_close(struct arm *arm);

const struct job_kind *arm_job_kinds(int *n);

/* The http_handler: ctx is the struct arm. */
void arm_handle(void *ctx, const struct http_request *req, struct http_response *resp);
