/*
 * config.c — see config.h.  INI sections: [server], [identity], [jobs],
 * [encryption], [testing],
 * [subscription <id>], [peer <region>], [issuer <name>].  Unknown keys are
 * errors, so a typo cannot silently leave a default in force.
 */
#include "daemon/config.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>

#include "common/log.h"

#define DEFAULT_TENANT "8d8a4c6e-3f2b-4b7a-9c1d-0e5f6a7b8c9d"
#define DEFAULT_SUBSCRIPTION "4f3b2a1c-5d6e-4f70-8a9b-0c1d2e3f4a5b"
#define DEFAULT_PKCS11_MODULE "/usr/lib/softhsm/libsofthsm2.so" /* Debian's softhsm2 */

void config_set(char **field, const char *value)
{
  free(*field);
  *field = value ? strdup(value) : NULL;
}

int config_defaults(struct config *c)
{
  memset(c, 0, sizeof *c);
  config_set(&c->region, "eastus");
  config_set(&c->listen, "127.0.0.1");
  c->port = 8443;
  c->threads = 4;
  c->max_body = 4 << 20;
  c->timeout_s = 60;
  c->header_timeout_s = 20;
  c->body_timeout_s = 120;
  c->send_timeout_s = 120; /* Azure's Get Blob: 2 minutes per MiB */
  c->connections = 1000;
  c->per_address = 64;
  c->body_memory = (size_t)256 << 20;
  config_set(&c->log_level, "info");
  c->page_size = 100;
  c->job_workers = 2;
  config_set(&c->tenant_id, DEFAULT_TENANT);
  c->token_lifetime_s = 3600;
  c->chunk_size = 65536;
  c->gc_interval_s = 3600;
  c->key_probe_interval_s = 30;
  c->rp_max_per_vm = 500;
  c->disk_overcommit = 10;
  config_set(&c->nbd_listen, "127.0.0.1");
  c->nbd_port = 10809;
  config_set(&c->dp_listen, "127.0.0.1");
  c->dp_port = -1; /* unset: the ARM port + 1 */
  c->dp_connections = 256;
  c->dp_per_address = 128;
  c->sas_max_grants = 5;
  c->sas_max_duration_s = 7 * 86400;
  c->agent_timeout_ms = 3000;
  c->agent_frozen_max_ms = 10000;
  c->copy_per_hour = 3;             /* Azure's: 3 copies an hour per target collection */
  c->copy_deadline_s = 14 * 86400;  /* Azure ends a copy after two weeks */
  c->copy_streams = 4;
  c->deploy_threads = 4;
  c->deploy_history = 800;
  c->node_lease_s = 10;
  return 0;
}

static bool parse_bool(const char *v)
{
  return strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 || strcmp(v, "1") == 0 || strcasecmp(v, "on") == 0;
}

static int parse_int(const char *v, long lo, long hi, long *out)
{
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno || *end || end == v || n < lo || n > hi)
    return -1;
  *out = n;
  return 0;
}

/* [nbd] limits (nbd.h: struct nbd_server_config); 1 when key is not one. */
static int on_nbd_limit(struct nbd_server_config *l, const char *key, const char *v)
{
  long n;
  if (!strcmp(key, "max_connections") && !parse_int(v, 1, 65536, &n))
    l->max_connections = (unsigned)n;
  else if (!strcmp(key, "max_connections_per_client") && !parse_int(v, 1, 65536, &n))
    l->max_connections_per_client = (unsigned)n;
  else if (!strcmp(key, "handshake_timeout") && !parse_int(v, 1, 3600, &n))
    l->handshake_timeout_sec = (unsigned)n;
  else if (!strcmp(key, "idle_timeout") && !parse_int(v, 0, 86400 * 365, &n))
    l->idle_timeout_sec = (unsigned)n;
  else if (!strcmp(key, "send_timeout") && !parse_int(v, 1, 86400, &n))
    l->send_timeout_sec = (unsigned)n;
  else if (!strcmp(key, "buffer_per_connection_mib") && !parse_int(v, 1, 4096, &n))
    l->max_buffer_per_conn = (size_t)n << 20;
  else
    return 1;
  return 0;
}

struct load_state {
  struct config *c;
  const char *path;
  int error;
};

static int on_server(struct config *c, const char *key, const char *v)
{
  long n;
  if (!strcmp(key, "region")) config_set(&c->region, v);
  else if (!strcmp(key, "region_display_name")) config_set(&c->region_display, v);
  else if (!strcmp(key, "data_dir")) config_set(&c->data_dir, v);
  else if (!strcmp(key, "listen")) config_set(&c->listen, v);
  else if (!strcmp(key, "port") && !parse_int(v, 0, 65535, &n)) c->port = (int)n;
  else if (!strcmp(key, "public_url")) config_set(&c->public_url, v);
  else if (!strcmp(key, "tls_cert")) config_set(&c->tls_cert, v);
  else if (!strcmp(key, "tls_key")) config_set(&c->tls_key, v);
  else if (!strcmp(key, "peer_ca")) config_set(&c->peer_ca, v);
  else if (!strcmp(key, "plain_http")) c->plain_http = parse_bool(v);
  else if (!strcmp(key, "threads") && !parse_int(v, 1, 256, &n)) c->threads = (unsigned)n;
  else if (!strcmp(key, "max_body") && !parse_int(v, 1024, 1L << 30, &n)) c->max_body = (size_t)n;
  else if (!strcmp(key, "timeout") && !parse_int(v, 1, 3600, &n)) c->timeout_s = (unsigned)n;
  else if (!strcmp(key, "header_timeout") && !parse_int(v, 1, 600, &n)) c->header_timeout_s = (unsigned)n;
  else if (!strcmp(key, "body_timeout") && !parse_int(v, 1, 3600, &n)) c->body_timeout_s = (unsigned)n;
  else if (!strcmp(key, "send_timeout") && !parse_int(v, 1, 3600, &n)) c->send_timeout_s = (unsigned)n;
  else if (!strcmp(key, "connections") && !parse_int(v, 4, 65536, &n)) c->connections = (unsigned)n;
  else if (!strcmp(key, "body_memory") && !parse_int(v, 1, 1 << 20, &n)) c->body_memory = (size_t)n << 20;
  else if (!strcmp(key, "connections_per_address") && !parse_int(v, 1, 65536, &n)) c->per_address = (unsigned)n;
  else if (!strcmp(key, "log_level")) config_set(&c->log_level, v);
  else if (!strcmp(key, "page_size") && !parse_int(v, 1, 1000, &n)) c->page_size = (int)n;
  else return -1;
  return 0;
}

static int on_identity(struct config *c, const char *key, const char *v)
{
  long n;
  if (!strcmp(key, "tenant_id")) config_set(&c->tenant_id, v);
  else if (!strcmp(key, "token_lifetime") && !parse_int(v, 60, 86400, &n)) c->token_lifetime_s = (int)n;
  else if (!strcmp(key, "signing_key")) config_set(&c->signing_key, v);
  else if (!strcmp(key, "audience") && c->naudiences < CONFIG_MAX_LIST - 3) c->audiences[c->naudiences++] = strdup(v);
  else return -1;
  return 0;
}

static int on_ini(void *user, const char *section, const char *key, const char *value)
{
  struct load_state *st = user;
  struct config *c = st->c;
  int bad = 0;
  const char *arg = strchr(section, ' ');
  arg = arg ? arg + 1 : NULL;
  if (!strcmp(section, "server")) {
    bad = on_server(c, key, value);
  } else if (!strcmp(section, "identity")) {
    bad = on_identity(c, key, value);
  } else if (!strcmp(section, "nbd")) {
    long n;
    if (!strcmp(key, "unix_socket")) config_set(&c->nbd_unix, value);
    else if (!strcmp(key, "listen")) config_set(&c->nbd_listen, value);
    else if (!strcmp(key, "port") && !parse_int(value, 0, 65535, &n)) c->nbd_port = (int)n;
    else if (!strcmp(key, "public_address")) config_set(&c->nbd_public_host, value);
    else bad = on_nbd_limit(&c->nbd_limits, key, value);
  } else if (!strcmp(section, "agent")) {
    long n;
    if (!strcmp(key, "socket_dir")) config_set(&c->agent_socket_dir, value);
    else if (!strcmp(key, "timeout_ms") && !parse_int(value, 100, 600000, &n)) c->agent_timeout_ms = (int)n;
    else if (!strcmp(key, "frozen_max_ms") && !parse_int(value, 100, 600000, &n)) c->agent_frozen_max_ms = (int)n;
    else bad = 1;
  } else if (!strcmp(section, "copy")) {
    long n;
    if (!strcmp(key, "per_hour") && !parse_int(value, 0, 1000000, &n)) c->copy_per_hour = (int)n;
    else if (!strcmp(key, "deadline") && !parse_int(value, 10, 100L * 86400, &n)) c->copy_deadline_s = (int)n;
    else if (!strcmp(key, "streams") && !parse_int(value, 1, 16, &n)) c->copy_streams = (unsigned)n;
    else if (!strcmp(key, "max_bytes_per_s") && !parse_int(value, 0, 1L << 40, &n)) c->copy_max_bytes_per_s = n;
    else bad = 1;
  } else if (!strcmp(section, "deployments")) {
    long n;
    if (!strcmp(key, "threads") && !parse_int(value, 1, 16, &n)) c->deploy_threads = (int)n;
    else if (!strcmp(key, "history") && !parse_int(value, 1, 800, &n)) c->deploy_history = (int)n;
    else bad = 1;
  } else if (!strcmp(section, "dataplane")) {
    long n;
    if (!strcmp(key, "listen")) config_set(&c->dp_listen, value);
    else if (!strcmp(key, "port") && !parse_int(value, 0, 65535, &n)) c->dp_port = (int)n;
    else if (!strcmp(key, "public_url")) config_set(&c->dp_public_url, value);
    else if (!strcmp(key, "connections") && !parse_int(value, 4, 4096, &n)) c->dp_connections = (unsigned)n;
    else if (!strcmp(key, "connections_per_address") && !parse_int(value, 1, 4096, &n)) c->dp_per_address = (unsigned)n;
    else if (!strcmp(key, "max_grants_per_disk") && !parse_int(value, 1, 1000, &n)) c->sas_max_grants = (int)n;
    else if (!strcmp(key, "max_duration") && !parse_int(value, 60, 365 * 86400, &n)) c->sas_max_duration_s = (int)n;
    else bad = 1;
  } else if (!strcmp(section, "store")) {
    long n;
    if (!strcmp(key, "metadata") && *value)
      config_set(&c->metadata, value);
    else if (!strcmp(key, "chunk_size") && !parse_int(value, 4096, 4 << 20, &n) && !(n & (n - 1)))
      c->chunk_size = (unsigned)n;
    else if (!strcmp(key, "gc_interval") && !parse_int(value, 0, 86400 * 30, &n))
      c->gc_interval_s = (int)n;
    else if (!strcmp(key, "location") && *value)
      config_set(&c->store_location, value);
    else
      bad = 1;
  } else if (!strcmp(section, "restore_points")) {
    long n;
    if (!strcmp(key, "max_per_vm") && !parse_int(value, 1, 100000, &n))
      c->rp_max_per_vm = (int)n;
    else if (!strcmp(key, "min_interval") && !parse_int(value, 0, 86400, &n))
      c->rp_min_interval_s = (int)n;
    else
      bad = 1;
  } else if (!strcmp(section, "disks")) {
    long n;
    bad = strcmp(key, "overcommit") || parse_int(value, 1, 1000, &n);
    if (!bad)
      c->disk_overcommit = (int)n;
  } else if (!strcmp(section, "encryption")) {
    long n;
    if (!strcmp(key, "keyring")) config_set(&c->keyring, value);
    else if (!strcmp(key, "pkcs11_module")) config_set(&c->pkcs11_module, value);
    else if (!strcmp(key, "pkcs11_pin_file")) config_set(&c->pkcs11_pin_file, value);
    else if (!strcmp(key, "volumes") && (!strcmp(value, "on") || !strcmp(value, "off")))
      c->volumes_plain = !strcmp(value, "off");
    else if (!strcmp(key, "key_probe_interval") && !parse_int(value, 0, 86400, &n))
      c->key_probe_interval_s = (int)n;
    else bad = 1;
  } else if (!strcmp(section, "testing")) {
    bad = strcmp(key, "failpoints") || (strcmp(value, "on") && strcmp(value, "off"));
    if (!bad)
      c->testing_failpoints = !strcmp(value, "on");
  } else if (!strcmp(section, "notifications")) {
    long n;
    struct notify_config *nc = &c->notify;
    if (!strcmp(key, "ca_file")) config_set(&c->notify_ca_file, value);
    else if (!strcmp(key, "timeout") && !parse_int(value, 1, 300, &n)) nc->timeout_s = (int)n;
    else if (!strcmp(key, "concurrency") && !parse_int(value, 1, 64, &n)) nc->concurrency = (int)n;
    else if (!strcmp(key, "max_per_policy") && !parse_int(value, 1, 1000000, &n)) nc->max_per_policy = (int)n;
    else if (!strcmp(key, "retry_initial") && !parse_int(value, 1, 3600, &n)) nc->retry_initial_s = (int)n;
    else if (!strcmp(key, "retry_max") && !parse_int(value, 1, 86400, &n)) nc->retry_max_s = (int)n;
    else if (!strcmp(key, "give_up") && !parse_int(value, 60, 30L * 86400, &n)) nc->give_up_s = (int)n;
    else bad = 1;
  } else if (!strcmp(section, "node")) {
    long n;
    /* shown in the API and logs, compared as given: a name, not a path */
    if (!strcmp(key, "id") && *value && strlen(value) < 64 && strspn(value, "abcdefghijklmnopqrstuvwxyz"
                                                                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") ==
                                                             strlen(value))
      config_set(&c->node_id, value);
    else if (!strcmp(key, "lease") && !parse_int(value, 2, 600, &n))
      c->node_lease_s = (int)n;
    else
      bad = 1;
  } else if (!strcmp(section, "jobs")) {
    long n;
    bad = strcmp(key, "workers") || parse_int(value, 1, 64, &n);
    if (!bad)
      c->job_workers = (int)n;
  } else if (!strncmp(section, "subscription ", 13) && arg) {
    int i;
    for (i = 0; i < c->nsubs && strcmp(c->subs[i].id, arg); i++)
      ;
    if (i == c->nsubs && c->nsubs < CONFIG_MAX_LIST)
      c->subs[c->nsubs++].id = strdup(arg);
    bad = i >= CONFIG_MAX_LIST || strcmp(key, "display_name");
    if (!bad) {
      free((char *)c->subs[i].display_name);
      c->subs[i].display_name = strdup(value);
    }
  } else if (!strncmp(section, "peer ", 5) && arg) {
    int i; /* peers live in locs[1..]; locs[0] is filled by config_finish */
    for (i = 1; i < c->nlocs && strcmp(c->locs[i].name, arg); i++)
      ;
    if (c->nlocs == 0)
      c->nlocs = 1, i = 1;
    if (i == c->nlocs && c->nlocs < CONFIG_MAX_LIST)
      c->locs[c->nlocs++].name = strdup(arg);
    if (i >= CONFIG_MAX_LIST) bad = 1;
    else if (!strcmp(key, "endpoint")) { free((char *)c->locs[i].endpoint); c->locs[i].endpoint = strdup(value); }
    else if (!strcmp(key, "display_name")) { free((char *)c->locs[i].display_name); c->locs[i].display_name = strdup(value); }
    else if (!strcmp(key, "credential")) config_set(&c->peer_credentials[i], value);
    else bad = 1;
  } else if (!strncmp(section, "issuer ", 7) && arg) {
    int i = c->nissuers - 1; /* keys of one [issuer x] section fill the last entry */
    if (!strcmp(key, "issuer") && c->nissuers < CONFIG_MAX_LIST) {
      c->issuers[c->nissuers++].issuer = strdup(value);
    } else if (!strcmp(key, "jwks_file") && i >= 0 && !c->issuers[i].jwks_file) {
      c->issuers[i].jwks_file = strdup(value);
    } else {
      bad = 1;
    }
  } else {
    bad = 1;
  }
  if (bad) {
    log_error("config", "%s: invalid key or value [%s] %s = %s", st->path, section, key, value);
    st->error = -EINVAL;
  }
  return 1;
}

int config_load(struct config *c, const char *path)
{
  struct load_state st = {c, path, 0};
  if (c->nconfig_files < CONFIG_MAX_LIST)
    c->config_files[c->nconfig_files++] = strdup(path);
  int r = ini_parse(path, on_ini, &st);
  if (r < 0) {
    log_error("config", "cannot open %s", path);
    return -ENOENT;
  }
  if (r > 0) {
    log_error("config", "%s: syntax error on line %d", path, r);
    return -EINVAL;
  }
  for (int i = 0; i < c->nissuers; i++)
    if (!c->issuers[i].jwks_file) {
      log_error("config", "%s: issuer %s has no jwks_file", path, c->issuers[i].issuer);
      return -EINVAL;
    }
  return st.error;
}

static char *path_in(const char *dir, const char *rel)
{
  char *p = NULL;
  return asprintf(&p, "%s/%s", dir, rel) < 0 ? NULL : p;
}

int config_finish(struct config *c)
{
  for (int i = 1; i < c->nlocs; i++)
    c->locs[i].credential = c->peer_credentials[i];
  if (!c->data_dir)
    c->data_dir = path_in("var", c->region);
  if (!c->tls_cert)
    c->tls_cert = path_in(c->data_dir, "tls/server.pem");
  if (!c->tls_key)
    c->tls_key = path_in(c->data_dir, "tls/server.key");
  if (!c->peer_ca) { /* scripts/run and scripts/gen-certs put the CA beside the certificate */
    const char *slash = strrchr(c->tls_cert, '/');
    char *ca = NULL;
    if (asprintf(&ca, "%.*sca.pem", slash ? (int)(slash - c->tls_cert + 1) : 0, c->tls_cert) < 0)
      return -ENOMEM;
    if (access(ca, R_OK) == 0)
      c->peer_ca = ca;
    else
      free(ca);
  }
  if (!c->signing_key)
    c->signing_key = path_in(c->data_dir, "keys/signing.pem");
  if (!c->node_id) {
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    config_set(&c->node_id, *host ? host : "node-1");
  }
  if (!c->metadata)
    c->metadata = path_in(c->data_dir, "meta.db");
  if (!c->pkcs11_module && access(DEFAULT_PKCS11_MODULE, R_OK) == 0)
    config_set(&c->pkcs11_module, DEFAULT_PKCS11_MODULE);
  if (!c->nbd_unix)
    c->nbd_unix = path_in(c->data_dir, "nbd.sock");
  if (!c->agent_socket_dir)
    c->agent_socket_dir = path_in(c->data_dir, "agents");
  if (!c->nbd_public_host && *c->nbd_listen) {
    bool v6 = strchr(c->nbd_listen, ':') != NULL;
    if (asprintf(&c->nbd_public_host, "%s%s%s:%d", v6 ? "[" : "", c->nbd_listen, v6 ? "]" : "", c->nbd_port) < 0)
      return -ENOMEM;
  }
  if (c->dp_port < 0)
    c->dp_port = c->port ? c->port + 1 : 0;
  if (!c->dp_public_url && *c->dp_listen && c->dp_port) { /* port 0: set once bound (main.c) */
    bool v6 = strchr(c->dp_listen, ':') != NULL;
    if (asprintf(&c->dp_public_url, "%s://%s%s%s:%d", c->plain_http ? "http" : "https", v6 ? "[" : "",
                 c->dp_listen, v6 ? "]" : "", c->dp_port) < 0)
      return -ENOMEM;
  }
  if (!c->public_url) {
    bool v6 = strchr(c->listen, ':') != NULL;
    if (asprintf(&c->public_url, "%s://%s%s%s:%d", c->plain_http ? "http" : "https", v6 ? "[" : "", c->listen,
                 v6 ? "]" : "", c->port) < 0)
      return -ENOMEM;
  }
  size_t n = strlen(c->public_url);
  while (n && c->public_url[n - 1] == '/')
    c->public_url[--n] = '\0';
  if (c->nsubs == 0) {
    c->subs[0].id = strdup(DEFAULT_SUBSCRIPTION);
    c->subs[0].display_name = strdup("vmrp");
    c->nsubs = 1;
  }
  if (c->nlocs == 0)
    c->nlocs = 1;
  free((char *)c->locs[0].name);
  c->locs[0].name = strdup(c->region);
  c->locs[0].display_name = c->region_display ? strdup(c->region_display) : NULL;
  c->locs[0].endpoint = strdup(c->public_url);
  /* This region's endpoint and Azure's public ARM audiences: the JS SDK asks
   * for https://management.azure.com/.default even with a custom endpoint. */
  c->audiences[c->naudiences++] = strdup(c->public_url);
  c->audiences[c->naudiences++] = strdup("https://management.azure.com");
  c->audiences[c->naudiences++] = strdup("https://management.core.windows.net");
  return 0;
}

void config_free(struct config *c)
{
  for (int i = 0; i < c->nconfig_files; i++)
    free(c->config_files[i]);
  free(c->region);
  free(c->region_display);
  free(c->data_dir);
  free(c->store_location);
  free(c->listen);
  free(c->public_url);
  free(c->tls_cert);
  free(c->tls_key);
  free(c->peer_ca);
  free(c->log_level);
  free(c->tenant_id);
  free(c->node_id);
  free(c->signing_key);
  free(c->metadata);
  free(c->keyring);
  free(c->pkcs11_module);
  free(c->pkcs11_pin_file);
  free(c->notify_ca_file);
  free(c->nbd_unix);
  free(c->nbd_listen);
  free(c->nbd_public_host);
  free(c->agent_socket_dir);
  free(c->dp_listen);
  free(c->dp_public_url);
  for (int i = 0; i < c->naudiences; i++)
    free(c->audiences[i]);
  for (int i = 0; i < c->nsubs; i++) {
    free((char *)c->subs[i].id);
    free((char *)c->subs[i].display_name);
  }
  for (int i = 0; i < c->nlocs; i++) {
    free((char *)c->locs[i].name);
    free((char *)c->locs[i].display_name);
    free((char *)c->locs[i].endpoint);
    free(c->peer_credentials[i]);
  }
  for (int i = 0; i < c->nissuers; i++) {
    free((char *)c->issuers[i].issuer);
    free((char *)c->issuers[i].jwks_file);
  }
  memset(c, 0, sizeof *c);
}
