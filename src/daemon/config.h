/*
 * config.h — vmrpd's configuration: embedded defaults, then the INI file
 * (etc/vmrpd.conf documents every key), then command-line flags.
 * Owned by main; read-only once the server starts.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "arm/arm.h"
#include "auth/auth.h"
#include "nbd/nbd.h"

#define CONFIG_MAX_LIST 16

struct config {
  char *config_files[CONFIG_MAX_LIST]; /* the files read (-c), for the start-up checks */
  int nconfig_files;
  char *region;
  char *region_display;
  char *data_dir;
  char *listen;
  int port;
  char *public_url;
  char *tls_cert, *tls_key;
  char *peer_ca;           /* CA of the peers' certificates (default: ca.pem beside tls_cert, if there) */
  bool plain_http;
  unsigned threads;
  size_t max_body;
  unsigned timeout_s;        /* idle connection: kept alive, or no byte moving */
  unsigned header_timeout_s; /* TLS handshake + headers of a new connection */
  unsigned body_timeout_s;   /* a request body, from its headers on */
  unsigned send_timeout_s;   /* each 1 MiB of a streamed response (a download) */
  unsigned connections;      /* ARM connections; beyond, idle ones make room */
  unsigned per_address;      /* ARM connections from one address */
  size_t body_memory;        /* request bodies held at once per listener, beyond 64 KiB each */
  char *log_level;
  int page_size;
  int job_workers;
  char *metadata;          /* [store] metadata: meta_open's target (default <data_dir>/meta.db) */
  unsigned chunk_size;     /* store chunk size = CBT granularity */
  int gc_interval_s;       /* scheduled store GC, seconds; 0 = off */
  char *store_location;    /* [store] location: where the stores are (cas.h); NULL: <data_dir>/stores */
  int rp_max_per_vm;
  int rp_min_interval_s;
  int disk_overcommit;     /* [disks] overcommit: provisioned disks ≤ this × the data file system */

  char *nbd_unix;          /* unix socket path; "" disables */
  char *nbd_listen;        /* TCP address; "" disables TCP */
  int nbd_port;
  char *nbd_public_host;   /* host:port clients use for TCP (default listen:port) */
  struct nbd_server_config nbd_limits; /* [nbd] limits and timeouts (0: the server's defaults) */

  char *dp_listen;         /* SAS data plane address; "" disables it */
  int dp_port;             /* unset: the ARM port + 1; 0: any free port */
  char *dp_public_url;     /* base of the SAS URLs (default https://listen:port) */
  unsigned dp_connections; /* concurrent data-plane connections (a thread each) */
  unsigned dp_per_address; /* data-plane connections from one address */
  int sas_max_grants;      /* active grants per disk family */
  int sas_max_duration_s;  /* longest grant */

  char *agent_socket_dir;  /* guest agent sockets (VM extensions) must be in it */
  int agent_timeout_ms;    /* each guest agent command but the freeze */
  int agent_frozen_max_ms; /* longest freeze of a guest for a restore point */

  int copy_per_hour;       /* copies into one collection per hour; 0: no limit */
  int copy_deadline_s;     /* a copy that cannot finish in this long fails */
  unsigned copy_streams;   /* concurrent object requests of one copy */
  int deploy_threads;      /* [deployments] threads: the template engine's pool */
  int deploy_history;      /* [deployments] history: deployments kept per resource group */
  long copy_max_bytes_per_s; /* 0: unlimited */

  char *keyring;           /* [encryption] keyring: the master key's directory; NULL: no encryption */
  char *pkcs11_module;     /* [encryption] the PKCS#11 module of customer keys (default SoftHSM2's, if there) */
  char *pkcs11_pin_file;   /* [encryption] the tokens' user PIN, 0600; NULL: no customer keys */
  bool volumes_plain;      /* [encryption] volumes = off: the device below is encrypted by the operator */
  int key_probe_interval_s; /* [encryption] key_probe_interval: customer keys asked for every this (default 30) */
  bool testing_failpoints; /* [testing] failpoints = on: the admin call arms failpoints (tests only) */
  char *notify_ca_file;    /* [notifications] ca_file: webhook receivers' CA; NULL: the system's store */
  struct notify_config notify; /* [notifications] the rest (ca_file set from notify_ca_file by main) */

  char *node_id;           /* [node] id: this node in the region's nodes table (default: the host name) */
  int node_lease_s;        /* [node] lease: seconds a node's lease lasts unrenewed (shared stores) */

  char *tenant_id;
  int token_lifetime_s;
  char *signing_key;
  char *audiences[CONFIG_MAX_LIST];
  int naudiences;

  struct arm_subscription subs[CONFIG_MAX_LIST];
  int nsubs;
  struct arm_location locs[CONFIG_MAX_LIST]; /* [0] = this region */
  int nlocs;
  char *peer_credentials[CONFIG_MAX_LIST];   /* parallel to locs */
  struct auth_trusted_issuer issuers[CONFIG_MAX_LIST];
  int nissuers;
};

/* Fills defaults; returns 0. */
int config_defaults(struct config *c);
/* Reads an INI file over the current values; -errno or -EINVAL (logged). */
int config_load(struct config *c, const char *path);
/* Derives what was left unset (paths under data_dir, public_url, the
 * default subscription, the region as location 0). */
int config_finish(struct config *c);
void config_free(struct config *c);
/* Replaces a string field (frees the old value). */
void config_set(char **field, const char *value);
