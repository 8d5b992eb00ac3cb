/*
 * main.c — vmrpd: one region's server, and its admin sub-commands.
 *
 *   vmrpd [serve] [options]        run the region (default)
 *   vmrpd sp ...                   manage service principals (admin.c)
 *   vmrpd jwks [options]           print this region's JWKS (for peers)
 *   vmrpd keys ...                 the keyring of encryption at rest (keycmd.c)
 *   vmrpd --version
 *
 * Start-up order: configuration → data directory and its lock (one daemon
 * per data directory: flock on vmrpd.pid) → keyring (a missing or wrong
 * master key stops the start, nothing touched) → metadata store → identity →
 * ARM → jobs (which may resume operations and so need ARM) → HTTP.
 * Shutdown on SIGTERM/SIGINT runs it backwards: stop accepting requests,
 * interrupt jobs (their operations resume at the next start), close the
 * store.  Signals are taken by sigwait() in the main thread only.
 *
 * Private state: the data directory holds the SAS signing key, the grants,
 * principals' secret hashes and every disk's bytes, and the configuration a
 * peer credential.  vmrpd runs with umask 077, so whatever it creates is
 * its user's alone, and before serving it refuses a configuration, key,
 * data directory or database that other users can read (or its group can
 * write), naming the file and the chmod that fixes it: state left open by
 * an older version or a careless copy is reported, not served.
 *
 * Memory: glibc serves blocks of 1 MiB and more from their own mappings
 * (returned at free) — fixed here, where by default it raises that
 * threshold to the largest block freed so far.  Then the NBD workers' read
 * buffers (up to 32 MiB each, eight workers a connection) came from the
 * heap arenas once the first was freed, and stayed there: under
 * scripts/soak eastus's RSS climbed to 250 MiB in 10 minutes while
 * heaptrack saw at most 77 MiB in use (and 18 KiB at exit); with the
 * threshold fixed it stays near 30 MiB.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arm/arm.h"
#include "common/failpoint.h"
#include "common/log.h"
#include "daemon/admin.h"
#include "daemon/config.h"
#include "daemon/keycmd.h"
#include "http/server.h"
#include "keys/keys.h"
#include "blob/blob.h"
#include "nbd/nbd.h"
#include "region/membership.h"
#include "region/region.h"
#include "version.h"

/* An embedded node's lease: it never runs out (see serve). */
#define EMBEDDED_LEASE_US (1000LL * 365 * 86400 * 1000000)

static void usage(FILE *f)
{
  fprintf(f,
          "usage: vmrpd [serve] [-c FILE] [--region NAME] [--data-dir DIR] [--listen ADDR] [--port N]\n"
          "             [--public-url URL] [--plain-http] [--log-level debug|info|warn|error]\n"
          "       vmrpd sp create --name NAME [--role Reader|Contributor|Owner] [--scope SUBSCRIPTION|*]\n"
          "                       [--client-id ID] [--secret SECRET]   (common options as above)\n"
          "       vmrpd sp list | sp rotate --client-id ID | sp delete --client-id ID\n"
          "       vmrpd sp role --client-id ID --role ROLE [--scope SUBSCRIPTION|*]\n"
          "       vmrpd sas rotate-key                 (revokes every SAS grant)\n"
          "       vmrpd jwks\n"
          "       vmrpd keys init --keyring DIR | keys rotate-master -c FILE | keys show -c FILE\n"
          "       vmrpd keys disable-key|enable-key --key URL -c FILE\n"
          "       vmrpd --version\n");
}

static int make_dirs(const char *dir)
{
  char path[4096];
  snprintf(path, sizeof path, "%s", dir);
  for (char *p = path + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
      return -errno;
    *p = '/';
  }
  if (mkdir(path, 0700) < 0 && errno != EEXIST)
    return -errno;
  return 0;
}

/* Takes the data directory's lock; returns the fd (kept open) or -errno. */
static int lock_data_dir(const char *dir)
{
  char path[4096];
  snprintf(path, sizeof path, "%s/vmrpd.pid", dir);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return -errno;
  if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
    char pid[32] = "";
    ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
    pid[n > 0 ? n : 0] = '\0';
    log_error("vmrpd", "data directory %s is in use by another vmrpd (pid %s)", dir, strtok(pid, "\n") ? pid : "?");
    close(fd);
    return -EBUSY;
  }
  char pid[32];
  int len = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
  if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
    close(fd);
    return -EIO;
  }
  return fd;
}

/* 0 when path is absent or private (no access for others, no group
 * write); else logs what is wrong and how to fix it and returns -EPERM. */
static int check_private(const char *path, const char *what)
{
  struct stat st;
  if (!path || stat(path, &st) < 0)
    return 0;
  mode_t bad = st.st_mode & (S_IRWXO | S_IWGRP);
  if (!bad)
    return 0;
  bool dir = S_ISDIR(st.st_mode);
  log_error("vmrpd", "%s %s is %s (mode %04o) and holds secrets; refusing to start. Fix: chmod %s %s", what, path,
            bad & S_IRWXO ? "open to other users" : "writable by its group", (unsigned)(st.st_mode & 07777),
            dir ? "-R go-rwx" : "go-rwx", path);
  return -EPERM;
}

static int check_private_state(const struct config *c)
{
  static const char *const db[] = {"", "-wal", "-shm"};
  const char *file = meta_target_file(c->metadata);
  char path[4096];
  int bad = check_private(c->data_dir, "the data directory") < 0;
  for (int i = 0; i < c->nconfig_files; i++)
    bad += check_private(c->config_files[i], "the configuration") < 0;
  if (!c->plain_http)
    bad += check_private(c->tls_key, "the TLS key") < 0;
  bad += check_private(c->signing_key, "the token signing key") < 0;
  bad += check_private(c->keyring, "the keyring") < 0;
  for (size_t i = 0; file && i < sizeof db / sizeof db[0]; i++) {
    snprintf(path, sizeof path, "%s%s", file, db[i]);
    bad += check_private(path, "the metadata database") < 0;
  }
  return bad ? -EPERM : 0;
}

/* Each connection is a descriptor, and the HTTP listeners' limits are sized
 * in thousands: the soft limit (often 1024) is raised to the hard one. */
static void raise_fd_limit(void)
{
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

/* Options shared by every sub-command; returns the index of the first
 * non-option argument or -1 on error. */
static int parse_common(int argc, char **argv, struct config *c, struct admin_args *a)
{
  enum { O_REGION = 256, O_DATA, O_LISTEN, O_PORT, O_URL, O_PLAIN, O_LOG, O_NAME, O_ROLE, O_SCOPE, O_CID, O_SECRET,
         O_KEYRING, O_KEY };
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'},    {"region", required_argument, NULL, O_REGION},
      {"data-dir", required_argument, NULL, O_DATA}, {"listen", required_argument, NULL, O_LISTEN},
      {"port", required_argument, NULL, O_PORT},   {"public-url", required_argument, NULL, O_URL},
      {"plain-http", no_argument, NULL, O_PLAIN},  {"log-level", required_argument, NULL, O_LOG},
      {"name", required_argument, NULL, O_NAME},   {"role", required_argument, NULL, O_ROLE},
      {"scope", required_argument, NULL, O_SCOPE}, {"client-id", required_argument, NULL, O_CID},
      {"secret", required_argument, NULL, O_SECRET}, {"help", no_argument, NULL, 'h'},
      {"keyring", required_argument, NULL, O_KEYRING}, {"key", required_argument, NULL, O_KEY},
      {NULL, 0, NULL, 0}};
  /* The config file is read first so that flags override it wherever they
   * appear on the line. */
  for (int i = 1; i + 1 < argc; i++)
    if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config"))
      if (config_load(c, argv[i + 1]) < 0)
        return -1;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
    switch (opt) {
    case 'c': break;
    case O_REGION: config_set(&c->region, optarg); break;
    case O_DATA: config_set(&c->data_dir, optarg); break;
    case O_LISTEN: config_set(&c->listen, optarg); break;
    case O_PORT: c->port = atoi(optarg); break;
    case O_URL: config_set(&c->public_url, optarg); break;
    case O_PLAIN: c->plain_http = true; break;
    case O_LOG: config_set(&c->log_level, optarg); break;
    case O_NAME: a->name = optarg; break;
    case O_ROLE: a->role = optarg; break;
    case O_SCOPE: a->scope = optarg; break;
    case O_CID: a->client_id = optarg; break;
    case O_SECRET: a->secret = optarg; break;
    case O_KEYRING: config_set(&c->keyring, optarg); break;
    case O_KEY: a->key_url = optarg; break;
    case 'h': usage(stdout); exit(0);
    default: return -1;
    }
  }
  return optind;
}

static int serve(struct config *c)
{
  int ret = 1, lock_fd = -1;
  struct meta *meta = NULL;
  struct membership *membership = NULL;
  struct auth *auth = NULL;
  struct arm *arm = NULL;
  struct region *region = NULL;
  struct jobs *jobs = NULL;
  struct http_server *http = NULL, *dataplane = NULL;
  struct nbd_server *nbd = NULL;
  struct keys *keys = NULL;
  char path[4096];

  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* inherited by every thread started below */
  signal(SIGPIPE, SIG_IGN);

  snprintf(path, sizeof path, "%s/keys", c->data_dir);
  if (make_dirs(path) < 0) {
    log_error("vmrpd", "cannot create data directory %s: %s", c->data_dir, strerror(errno));
    return 1;
  }
  if (check_private_state(c) < 0)
    return 1;
  raise_fd_limit();
  if ((lock_fd = lock_data_dir(c->data_dir)) < 0)
    return 1;
  if (keycmd_open(c, &keys) < 0)
    goto out;
  if (!keys) /* honest, but worth an operator's attention at every start */
    log_warn("vmrpd", "no [encryption] keyring configured: disks and restore points are kept in plaintext and "
             "claim no encryption (docs/encryption.md; scripts/run makes one)");
  if (meta_open(c->metadata, &meta) < 0)
    goto out;
  /* Embedded, the node's row holds no lease: the data directory's lock
   * (above) already makes this the only process of the region. */
  struct membership_config mc = {.node_id = c->node_id, .addr = c->public_url, .version = VMRP_VERSION,
                                 .shared = meta_shared(meta),
                                 .ttl_us = meta_shared(meta) ? c->node_lease_s * 1000000LL : EMBEDDED_LEASE_US};
  if (membership_start(meta, &mc, &membership) < 0)
    goto out;
  const char *auds[CONFIG_MAX_LIST + 1] = {0};
  for (int i = 0; i < c->naudiences; i++)
    auds[i] = c->audiences[i];
  char issuer[1024];
  snprintf(issuer, sizeof issuer, "%s/adfs", c->public_url);
  struct auth_config ac = {.key_file = c->signing_key, .issuer = issuer, .tenant_id = c->tenant_id,
                           .audiences = auds, .token_lifetime_s = c->token_lifetime_s,
                           .trusted = c->issuers, .ntrusted = c->nissuers};
  if (auth_open(&ac, &auth) < 0)
    goto out;
  snprintf(path, sizeof path, "%s/keys/jwks.json", c->data_dir);
  auth_write_jwks(auth, path); /* for peers that trust this region; advisory */
  /* NBD: unix socket always (unless ""), TCP unless listen is "".  TLS is
   * offered with the region certificate and required off loopback. */
  struct nbd_server_config nc = c->nbd_limits;
  nc.tls_cert = c->plain_http ? NULL : c->tls_cert;
  nc.tls_key = c->plain_http ? NULL : c->tls_key;
  if (nbd_server_new(&nc, &nbd) < 0)
    goto out;
  if (*c->nbd_unix && nbd_server_listen_unix(nbd, c->nbd_unix, 0) < 0) {
    log_error("vmrpd", "cannot listen for NBD on %s", c->nbd_unix);
    goto out;
  }
  if (*c->nbd_listen) {
    char port[16];
    uint16_t bound = 0;
    snprintf(port, sizeof port, "%d", c->nbd_port);
    if (nbd_server_listen_tcp(nbd, c->nbd_listen, port, 0, &bound) < 0) {
      log_error("vmrpd", "cannot listen for NBD on %s:%d", c->nbd_listen, c->nbd_port);
      goto out;
    }
    if (c->nbd_port == 0) { /* port chosen by the kernel: advertise the real one */
      c->nbd_port = bound;
      free(c->nbd_public_host);
      c->nbd_public_host = NULL;
      if (asprintf(&c->nbd_public_host, "%s:%u", c->nbd_listen, bound) < 0)
        goto out;
    }
  }
  struct region_config rc = {.data_dir = c->data_dir, .chunk_size = c->chunk_size, .nbd = nbd,
                             .nbd_unix = *c->nbd_unix ? c->nbd_unix : NULL,
                             .nbd_tcp = *c->nbd_listen ? c->nbd_public_host : NULL, .location = c->locs[0].name,
                             .subscription = c->nsubs ? c->subs[0].id : NULL, .gc_interval_s = c->gc_interval_s,
                             .rp_max_per_vm = c->rp_max_per_vm, .rp_min_interval_s = c->rp_min_interval_s,
                             .sas_max_grants = c->sas_max_grants, .agent_socket_dir = c->agent_socket_dir,
                             .agent_timeout_ms = c->agent_timeout_ms,
                             .agent_frozen_max_ms = c->agent_frozen_max_ms, .keys = keys,
                             .key_probe_interval_s = c->key_probe_interval_s,
                             .volumes_plain = c->volumes_plain, .store_location = c->store_location};
  if (region_open(&rc, meta, &region) < 0)
    goto out;
  /* The SAS data plane: a thread per connection (azcopy opens dozens, each
   * read may wait on the store), bodies up to a Put Page's 4 MiB.  Started
   * before ARM, which hands out its URLs. */
  struct blob_plane plane = {.region = region, .meta = meta};
  struct http_server_config dc = {.name = "dataplane", .bind_addr = c->dp_listen, .port = c->dp_port,
                                  .cert_file = c->tls_cert, .key_file = c->tls_key, .plain_http = c->plain_http,
                                  .max_body = (4 << 20) + 4096, .timeout_s = c->timeout_s,
                                  .header_timeout_s = c->header_timeout_s, .body_timeout_s = c->body_timeout_s,
                                  .send_timeout_s = c->send_timeout_s, .body_memory = c->body_memory,
                                  .max_connections = c->dp_connections, .per_address = c->dp_per_address,
                                  .thread_per_connection = true};
  if (*c->dp_listen && http_server_start(&dc, blob_handle, &plane, &dataplane) < 0)
    goto out;
  if (dataplane && !c->dp_public_url) { /* port 0: the one the kernel chose */
    bool v6 = strchr(c->dp_listen, ':') != NULL;
    if (asprintf(&c->dp_public_url, "%s://%s%s%s:%d", c->plain_http ? "http" : "https", v6 ? "[" : "",
                 c->dp_listen, v6 ? "]" : "", http_server_port(dataplane)) < 0)
      goto out;
  }
  region_set_sas_url(region, dataplane ? c->dp_public_url : NULL);
  if (dataplane)
    log_info("vmrpd", "SAS data plane at %s (listening on %s:%d)", c->dp_public_url, c->dp_listen,
             http_server_port(dataplane));
  struct arm_config armc = {.peer_ca = c->peer_ca, .public_url = c->public_url, .tenant_id = c->tenant_id, .subscriptions = c->subs,
                            .nsubscriptions = c->nsubs, .locations = c->locs, .nlocations = c->nlocs,
                            .page_size = c->page_size, .sas_max_duration_s = c->sas_max_duration_s,
                            .sas_max_grants = c->sas_max_grants, .copy_per_hour = c->copy_per_hour,
                            .copy_deadline_s = c->copy_deadline_s, .copy_streams = c->copy_streams,
                            .copy_max_bytes_per_s = (uint64_t)c->copy_max_bytes_per_s,
                            .deploy_threads = c->deploy_threads, .deploy_history = c->deploy_history,
                            .disk_overcommit = c->disk_overcommit, .failpoints = c->testing_failpoints,
                            .notify = c->notify, .node_id = c->node_id, .node_shared = meta_shared(meta)};
  armc.notify.ca_file = c->notify_ca_file;
  if (arm_open(&armc, meta, auth, region, &arm) < 0)
    goto out;
  int nkinds;
  const struct job_kind *kinds = arm_job_kinds(&nkinds);
  if (jobs_start(meta, arm, kinds, nkinds, c->job_workers, &jobs) < 0)
    goto out;
  if (arm_set_jobs(arm, jobs) < 0)
    goto out;
  region_set_jobs(region, jobs);
  struct http_server_config hc = {.name = "arm", .bind_addr = c->listen, .port = c->port,
                                  .cert_file = c->tls_cert, .key_file = c->tls_key, .plain_http = c->plain_http,
                                  .max_body = c->max_body, .timeout_s = c->timeout_s,
                                  .header_timeout_s = c->header_timeout_s, .body_timeout_s = c->body_timeout_s,
                                  .send_timeout_s = c->send_timeout_s, .body_memory = c->body_memory,
                                  .max_connections = c->connections, .per_address = c->per_address,
                                  .threads = c->threads};
  if (http_server_start(&hc, arm_handle, arm, &http) < 0)
    goto out;

  log_info("vmrpd", "region %s serving ARM at %s (listening on %s:%d, %s), NBD on %s%s%s, data in %s", c->region,
           c->public_url, c->listen, http_server_port(http), c->plain_http ? "plain HTTP, development mode" : "TLS",
           *c->nbd_unix ? c->nbd_unix : "", *c->nbd_unix && *c->nbd_listen ? " and " : "",
           *c->nbd_listen ? c->nbd_public_host : "", c->data_dir);
  int sig = 0;
  sigwait(&sigs, &sig);
  log_info("vmrpd", "received %s, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  ret = 0;
out:
  http_server_stop(dataplane);
  http_server_stop(http);
  if (arm)
    arm_policy_stop(arm);
  jobs_stop(jobs);
  arm_close(arm);
  region_close(region); /* before the NBD server: it removes the exports and closes the volumes */
  nbd_server_free(nbd);
  keys_close(keys); /* after the region: its stores and volumes hold keys from it */
  auth_close(auth);
  membership_stop(membership); /* the last writer: gives the lease up */
  meta_close(meta);
  if (lock_fd >= 0) {
    snprintf(path, sizeof path, "%s/vmrpd.pid", c->data_dir);
    unlink(path);
    close(lock_fd);
  }
  if (ret == 0)
    log_info("vmrpd", "stopped cleanly");
  return ret;
}

int main(int argc, char **argv)
{
  if (argc > 1 && !strcmp(argv[1], "--version")) {
    printf("vmrpd %s\n", VMRP_VERSION);
    return 0;
  }
  umask(077);                         /* see "Private state" above */
  mallopt(M_MMAP_THRESHOLD, 1 << 20); /* see "Memory" above */
  if (failpoint_init() < 0) {
    fprintf(stderr, "vmrpd: VMRP_FAILPOINTS='%s' is not a failpoint spec this build takes (site=ACTION[@N][xK],...)\n",
            getenv("VMRP_FAILPOINTS"));
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread: requests forwarded to peers (arm/forward.c) */
  struct config c;
  struct admin_args a = {0};
  config_defaults(&c);
  int ret = 2;
  int first = parse_common(argc, argv, &c, &a);
  if (first < 0) {
    usage(stderr);
    goto out;
  }
  enum log_level lvl;
  if (log_parse_level(c.log_level, &lvl) < 0) {
    fprintf(stderr, "vmrpd: unknown log level '%s'\n", c.log_level);
    goto out;
  }
  log_set_level(lvl);
  if (config_finish(&c) < 0)
    goto out;
  const char *cmd = first < argc ? argv[first] : "serve";
  if (!strcmp(cmd, "serve"))
    ret = serve(&c);
  else if (!strcmp(cmd, "sp") || !strcmp(cmd, "sas") || !strcmp(cmd, "jwks"))
    ret = admin_main(&c, &a, argc - first, argv + first);
  else if (!strcmp(cmd, "keys"))
    ret = keycmd_main(&c, a.key_url, argc - first, argv + first);
  else {
    usage(stderr);
  }
out:
  config_free(&c);
  curl_global_cleanup();
  return ret;
}
