/*
 * arm.h — the Azure Resource Manager front end of one region.
 *
 * arm_handle() is the HTTP handler: it serves the identity endpoints
 * (metadata, OpenID configuration, token, JWKS) anonymously and every ARM path
 * after authentication, api-version validation, subscription and role checks.
 * Handlers read and write the metadata store; work that outlives a request is
 * an operation run by jobs/ (arm_job_kinds() lists the kinds ARM defines).
 *
 * Thread-safe: arm_handle runs concurrently on the HTTP worker threads.
 */
#pragma once
#include <stdint.h>

#include "auth/auth.h"
#include "http/server.h"
#include "jobs/jobs.h"
#include "meta/meta.h"

struct arm_location {
  const char *name;          /* "eastus" */
  const char *display_name;  /* "East US" (NULL: derived from a built-in table) */
  const char *endpoint;      /* ARM base URL of that region */
};

struct arm_subscription {
  const char *id;            /* GUID */
  const char *display_name;
};

struct nbd_server;

struct arm_config {
  const char *public_url;    /* this region's ARM base URL, no trailing slash */
  const char *data_dir;      /* volumes live in <data_dir>/volumes */
  uint32_t chunk_size;       /* changed-block tracking granularity = store chunk size */
  struct nbd_server *nbd;    /* exports every disk; NULL: disks are not exported */
  const char *nbd_unix;      /* socket path clients use, or NULL */
  const char *nbd_tcp;       /* "host:port" clients use, or NULL */
  const char *tenant_id;
  const struct arm_subscription *subscriptions;
  int nsubscriptions;
  const struct arm_location *locations; /* [0] is this region, then its peers */
  int nlocations;
  int page_size;             /* list page size when the client gives no $top */
  int gc_interval_s;         /* scheduled store GC; 0: only on demand */
  int rp_max_per_vm;         /* restore points per VM (Azure: 500) */
  int rp_min_interval_s;     /* creation-rate limit per VM (429); 0: off */
};

struct arm;

/* Opens the region's ARM state, including every disk's volume (finishing
 * creations and deletions a crash interrupted) and its NBD export. */
int arm_open(const struct arm_config *cfg, struct meta *m, struct auth *a, struct arm **out);
/* Jobs are started after arm_open (they call back into arm). */
void arm_set_jobs(struct arm *arm, struct jobs *jobs);
/* Removes the exports, closes the volumes (saving their CBT bitmaps and
 * marking them clean) and frees. */
void arm_close(struct arm *arm);

const struct job_kind *arm_job_kinds(int *n);

/* The http_handler: ctx is the struct arm. */
void arm_handle(void *ctx, const struct http_request *req, struct http_response *resp);
