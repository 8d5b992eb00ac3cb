/*
 * fuzz_arm.c — libFuzzer harness of the ARM front end: requests with fuzzed
 * method, path, query, headers and body go through arm_handle(), the HTTP
 * server's handler, into the router and every handler, against a real
 * region (metadata store, keyring, chunk store, volumes, jobs, the
 * deployment engine) in a temporary directory.
 *
 * An input is a short session of requests separated by a line "###":
 *
 *     PUT /subscriptions/<sub>/resourceGroups/rg1?api-version=2021-04-01
 *     Content-Type: application/json
 *
 *     {"location": "eastus"}
 *
 * the first line is the method and the target as sent (percent-encoded;
 * the query decoded as the HTTP server decodes it), then header lines, an
 * empty line and the body.  "$DRP" anywhere in a request stands for the
 * name of the disk restore point an earlier answer of the session named
 * last (their names hold a random suffix).  Requests carry the Owner's token unless they
 * name an Authorization header: its value "@reader" is a Reader's token,
 * "@none" sends none, anything else is sent as written.  A session brings
 * its own resources (a group, then a disk ...), so it replays alone: after
 * each request that may start one, the harness waits for the region's
 * operations to end.  The region persists across inputs and is made anew
 * every RESET_EVERY inputs, so that its store stays small.
 *
 * The one region serves one subscription, SUB, and has no peers: nothing
 * is forwarded, nothing leaves the process.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "arm/arm.h"
#include "auth/auth.h"
#include "common/fsutil.h"
#include "common/urlcode.h"
#include "jobs/jobs.h"
#include "keys/keys.h"
#include "meta/meta.h"
#include "nbd/nbd.h"
#include "region/region.h"
#include "support.h"

#define SUB "4f3b2a1c-5d6e-4f70-8a9b-0c1d2e3f4a5b"
#define TENANT "8d8a4c6e-3f2b-4b7a-9c1d-0e5f6a7b8c9d"
#define PUBLIC_URL "https://127.0.0.1:8443"
#define OWNER_ID "3b9f2c1e-7a4d-4e2b-9c8f-1d2e3f4a5b6c"
#define OWNER_SECRET "Sx8Jk2mQ9vT4pL7nR3wY6zA1bC5dE0fG"
#define READER_ID "5c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
#define RESET_EVERY 2000
#define MAX_REQUESTS 12
#define MAX_PAIRS 16

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct arm_subscription subs[] = {{SUB, "vmrp"}};
static const struct arm_location locs[] = {{"eastus", "East US", PUBLIC_URL, NULL}};

static struct {
  const char *dir;
  char data[128], agents[192], nbd_unix[192]; /* the region keeps these pointers */
  struct meta *meta;
  struct auth *auth;
  struct keys *keys;
  struct nbd_server *nbd;
  struct region *region;
  struct arm *arm;
  struct jobs *jobs;
  char *owner, *reader; /* "Bearer ..." */
  char drp[128];        /* $DRP: the last disk restore point an answer named */
  unsigned inputs, requests;
} s;

static void principal(const char *id, const char *secret, const char *role)
{
  struct meta_principal p = {.name = (char *)role};
  snprintf(p.client_id, sizeof p.client_id, "%s", id);
  snprintf(p.object_id, sizeof p.object_id, "%s", id);
  memset(p.salt, 7, sizeof p.salt);
  if (auth_secret_hash(secret, p.salt, p.hash) < 0 || meta_principal_put(s.meta, &p) < 0 ||
      meta_role_set(s.meta, id, "*", role) < 0)
    fuzz_die("a principal");
}

static char *bearer(const char *id)
{
  char *token = NULL, *header = NULL;
  int expires;
  if (auth_issue_token(s.auth, id, id, PUBLIC_URL, &token, &expires) < 0 ||
      asprintf(&header, "Bearer %s", token) < 0)
    fuzz_die("a token");
  free(token);
  return header;
}

/* A new region in a new directory under the harness's, as vmrpd serve opens one. */
static void open_region(void)
{
  char path[192];
  static unsigned generation;
  snprintf(s.data, sizeof s.data, "%s/%u", s.dir, generation++);
  fuzz_path(path, sizeof path, s.data, "keys");
  if (mkdir_exist_ok(s.data, 0700) < 0 || mkdir_exist_ok(path, 0700) < 0)
    fuzz_die("the data directory");
  fuzz_path(path, sizeof path, s.data, "keyring");
  struct keys_config kc = {.dir = path};
  if (keys_create(&kc) < 0 || keys_open(&kc, &s.keys) < 0)
    fuzz_die("the keyring");
  fuzz_path(path, sizeof path, s.data, "meta.db");
  if (meta_open(path, &s.meta) < 0)
    fuzz_die("meta_open");
  const char *auds[] = {PUBLIC_URL, "https://management.azure.com", NULL};
  fuzz_path(path, sizeof path, s.data, "keys/signing.pem");
  struct auth_config ac = {.key_file = path, .issuer = PUBLIC_URL "/adfs", .tenant_id = TENANT, .audiences = auds,
                           .token_lifetime_s = 86400};
  if (auth_open(&ac, &s.auth) < 0)
    fuzz_die("auth_open");
  struct nbd_server_config nc = {0};
  if (nbd_server_new(&nc, &s.nbd) < 0)
    fuzz_die("nbd_server_new");
  fuzz_path(s.agents, sizeof s.agents, s.data, "agents");
  fuzz_path(s.nbd_unix, sizeof s.nbd_unix, s.data, "nbd.sock");
  struct region_config rc = {.data_dir = s.data, .chunk_size = 65536, .nbd = s.nbd, .nbd_unix = s.nbd_unix,
                             .location = "eastus", .subscription = SUB, .rp_max_per_vm = 500,
                             .sas_url = "https://127.0.0.1:8444", .sas_max_grants = 5,
                             .agent_socket_dir = s.agents, .agent_timeout_ms = 200, .agent_frozen_max_ms = 1000,
                             .keys = s.keys};
  if (region_open(&rc, s.meta, &s.region) < 0)
    fuzz_die("region_open");
  struct arm_config armc = {.public_url = PUBLIC_URL, .tenant_id = TENANT, .subscriptions = subs,
                            .nsubscriptions = 1, .locations = locs, .nlocations = 1, .page_size = 5,
                            .sas_max_duration_s = 86400, .sas_max_grants = 5, .copy_per_hour = 3,
                            .copy_deadline_s = 3600, .copy_streams = 2, .deploy_threads = 2,
                            .deploy_history = 20, .disk_overcommit = 10};
  if (arm_open(&armc, s.meta, s.auth, s.region, &s.arm) < 0)
    fuzz_die("arm_open");
  int nkinds;
  const struct job_kind *kinds = arm_job_kinds(&nkinds);
  if (jobs_start(s.meta, s.arm, kinds, nkinds, 2, &s.jobs) < 0 || arm_set_jobs(s.arm, s.jobs) < 0)
    fuzz_die("jobs");
  region_set_jobs(s.region, s.jobs);
  principal(OWNER_ID, OWNER_SECRET, "Owner");
  principal(READER_ID, OWNER_SECRET, "Reader");
  s.owner = bearer(OWNER_ID);
  s.reader = bearer(READER_ID);
}

static void close_region(void)
{
  jobs_stop(s.jobs);
  arm_close(s.arm);
  region_close(s.region);
  nbd_server_free(s.nbd);
  keys_close(s.keys);
  auth_close(s.auth);
  meta_close(s.meta);
  free(s.owner);
  free(s.reader);
  s.jobs = NULL, s.arm = NULL, s.region = NULL, s.nbd = NULL, s.keys = NULL, s.auth = NULL, s.meta = NULL;
  fuzz_remove_tree(s.data);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  fuzz_quiet();
  s.dir = fuzz_tempdir("arm");
  open_region();
  atexit(close_region);
  return 0;
}

struct request {
  char *method, *target, *body;
  size_t body_len;
  struct http_pair headers[MAX_PAIRS], query[MAX_PAIRS];
  int nheaders, nquery;
  char *owned[2 * MAX_PAIRS + 2]; /* decoded strings */
  int nowned;
};

static char *own(struct request *r, char *p)
{
  if (!p)
    fuzz_die("out of memory");
  r->owned[r->nowned++] = p;
  return p;
}

/* Splits "a=b&c" (in place) into decoded pairs, as the HTTP server hands them over. */
static void split_query(struct request *r, char *q)
{
  char *save = NULL;
  for (char *p = strtok_r(q, "&", &save); p && r->nquery < MAX_PAIRS; p = strtok_r(NULL, "&", &save)) {
    char *eq = strchr(p, '=');
    if (eq)
      *eq++ = '\0';
    char *name = url_decode(p, strlen(p), 1), *value = eq ? url_decode(eq, strlen(eq), 1) : NULL;
    if (!name || (eq && !value)) { /* not decodable: the server would not have passed it on */
      free(name);
      free(value);
      continue;
    }
    r->query[r->nquery].name = own(r, name);
    r->query[r->nquery++].value = value ? own(r, value) : NULL;
  }
}

/* One request block (modified in place); false when it has no request line. */
static bool parse(char *block, size_t len, struct request *r)
{
  char *end = block + len;
  char *line_end = memchr(block, '\n', len);
  char *head_end = line_end ? line_end : end;
  *head_end = '\0';
  char *sp = strchr(block, ' ');
  if (!sp || sp == block)
    return false;
  *sp = '\0';
  r->method = block;
  r->target = sp + 1;
  char *p = line_end ? line_end + 1 : end;
  while (p < end) { /* header lines up to an empty one */
    char *nl = memchr(p, '\n', (size_t)(end - p));
    char *le = nl ? nl : end;
    *le = '\0';
    if (le == p) {
      p = le + 1;
      break;
    }
    char *colon = strchr(p, ':');
    if (colon && r->nheaders < MAX_PAIRS) {
      *colon = '\0';
      char *v = colon + 1;
      v += strspn(v, " ");
      r->headers[r->nheaders].name = p;
      r->headers[r->nheaders++].value = v;
    }
    p = le + 1;
  }
  r->body = p < end ? p : NULL;
  r->body_len = p < end ? (size_t)(end - p) : 0;
  return true;
}

static int count_op(void *ctx, const struct meta_operation *op)
{
  (void)op;
  ++*(int *)ctx;
  return 0;
}

/* Waits (5 s at most) until no operation is in progress: the next request
 * sees what this one's jobs made, so a session runs the same way each time. */
static void wait_idle(void)
{
  for (int i = 0; i < 5000; i++) {
    int n = 0;
    if (meta_operation_list_in_progress(s.meta, count_op, &n) < 0 || n == 0)
      return;
    usleep(1000);
  }
}

/* The name after the last "/diskRestorePoints/" of an answer, into s.drp. */
static void remember_drp(const char *body, size_t len)
{
  static const char key[] = "/diskRestorePoints/";
  const char *last = NULL;
  for (const char *p = body; p && (p = memmem(p, len - (size_t)(p - body), key, sizeof key - 1)); p++)
    last = p + sizeof key - 1;
  if (last) {
    size_t n = strspn(last, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.");
    snprintf(s.drp, sizeof s.drp, "%.*s", (int)(n < sizeof s.drp ? n : sizeof s.drp - 1), last);
  }
}

/* block (len bytes) with every "$DRP" replaced by s.drp, NUL-terminated; *out_len its length. */
static char *expand(const char *block, size_t len, size_t *out_len)
{
  size_t dl = strlen(s.drp), n = 0;
  char *out = malloc(len * (dl > 4 ? dl : 4) / 4 + 1);
  if (!out)
    fuzz_die("out of memory");
  for (size_t i = 0; i < len;) {
    if (i + 4 <= len && !memcmp(block + i, "$DRP", 4)) {
      memcpy(out + n, s.drp, dl);
      n += dl;
      i += 4;
    } else {
      out[n++] = block[i++];
    }
  }
  out[n] = '\0';
  *out_len = n;
  return out;
}

static void run(struct request *r)
{
  char *q = strchr(r->target, '?');
  if (q)
    *q++ = '\0';
  if (q)
    split_query(r, q);
  const char *raw_path = r->target;
  char *decoded = url_decode(raw_path, strlen(raw_path), 0);
  const char *path = own(r, decoded ? decoded : strdup(raw_path));
  const char *auth = s.owner;
  for (int i = 0; i < r->nheaders; i++)
    if (!strcasecmp(r->headers[i].name, "Authorization")) {
      auth = NULL; /* the request's own */
      if (!strcmp(r->headers[i].value, "@reader") || !strcmp(r->headers[i].value, "@none")) {
        if (r->headers[i].value[1] == 'r')
          r->headers[i].value = s.reader;
        else
          r->headers[i] = r->headers[--r->nheaders];
      }
      break;
    }
  if (auth && r->nheaders < MAX_PAIRS)
    r->headers[r->nheaders++] = (struct http_pair){"Authorization", auth};
  struct http_request req = {.method = r->method, .path = path, .raw_path = raw_path, .body = r->body,
                             .body_len = r->body_len, .tls = true, .client_addr = "127.0.0.1",
                             .client_net = "127.0.0.1", .headers = r->headers, .nheaders = r->nheaders,
                             .query = r->query, .nquery = r->nquery};
  snprintf(req.request_id, sizeof req.request_id, "fuzz-%u", s.requests++);
  struct http_response resp = {.status = 200};
  arm_handle(s.arm, &req, &resp);
  remember_drp(resp.body, resp.body_len);
  http_response_release(&resp);
  if (strcmp(r->method, "GET") && strcmp(r->method, "HEAD"))
    wait_idle();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (s.inputs++ == RESET_EVERY) {
    close_region();
    open_region();
    s.inputs = 1;
  }
  const char *p = (const char *)data, *end = p + size;
  s.drp[0] = '\0';
  for (int n = 0; n < MAX_REQUESTS && p < end; n++) {
    const char *sep = memmem(p, (size_t)(end - p), "\n###\n", 5);
    size_t len;
    char *block = expand(p, (size_t)((sep ? sep : end) - p), &len); /* NUL-terminated, as the server hands a body over */
    struct request r = {0};
    if (parse(block, len, &r))
      run(&r);
    for (int i = 0; i < r.nowned; i++)
      free(r.owned[i]);
    free(block);
    p = sep ? sep + 5 : end;
  }
  return 0;
}
