/*
 * fuzz_blob.c — the SAS data plane (Blob REST on SAS URLs) as blob_handle
 * receives a request: method, path, query, headers, body, against a real
 * region on a scratch directory holding a 1 MiB disk, two of its restore
 * points (disk restore points, the second incremental on the first) and an
 * Upload disk, each with a SAS grant signed by the region.  It covers the
 * SAS's parsing and verification, x-ms-version, the preconditions,
 * Range / x-ms-range, Get Blob and its streamed body, Get Page Ranges with
 * marker, maxresults and the diff against another SAS URL
 * (prevsnapshot, x-ms-previous-snapshot-url), Put Blob, Put Page and Set
 * Blob Properties.  The request is built as arm/dispatch.c builds a
 * synthetic one (http/server.h), so the handler sees what the HTTP server
 * would hand it after libmicrohttpd's own parsing (fuzzed with the HTTP
 * front end's harness).
 *
 * Input, as text:
 *     METHOD PATH[?QUERY]\n
 *     Name: value\n            (any number, up to HTTP_MAX_HEADERS)
 *     \n
 *     body
 * QUERY is split at '&' and '=' and percent-decoded.  Before parsing,
 * $P<n>, $Q<n>, $U<n> and $E<n> are replaced by grant n's path, query, URL
 * and URL percent-encoded (a query parameter's value):
 * 1 the newer disk restore point, 2 the older one, 3 the Upload disk (a
 * Write grant), 4 the disk itself (a Read grant), so the corpus keeps
 * reaching past the signature in every run, whose keys and ids are new.
 * The whole answer is taken, streamed bodies included.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob/blob.h"
#include "common/urlcode.h"
#include "support.h"
#include "region/region.h"

#define SIZE (1u << 20)
#define SUB "/subscriptions/00000000-0000-0000-0000-00000000f022/resourceGroups/g/providers/Microsoft.Compute"
#define DISK SUB "/disks/d1"
#define UPLOAD SUB "/disks/up"
#define RPC SUB "/restorePointCollections/c"
#define RP_TYPE "Microsoft.Compute/restorePointCollections/restorePoints"
#define NGRANTS 4

static const char *scratch;
static struct meta *meta;
static struct region *region;
static struct blob_plane plane;
static char *grant_url[NGRANTS], *grant_enc[NGRANTS];

static void put_row(const char *id, const char *type, const char *parent)
{
  struct meta_resource r = {.id = strdup(id), .type = strdup(type), .name = strdup(strrchr(id, '/') + 1),
                            .parent_id = strdup(parent), .properties = strdup("{}"),
                            .provisioning_state = strdup("Succeeded")};
  if (meta_resource_put(meta, &r, NULL, 0, NULL) < 0)
    abort();
  meta_resource_clear(&r);
}

static void progress(void *ctx, double percent) { (void)ctx, (void)percent; }

/* Restore point rp of the disk's volume: its disk restore point drp. */
static void capture(const char *vol_id, const char *rp, const char *drp, const char *op)
{
  const char *vols[1] = {vol_id};
  struct region_capture *c;
  struct region_fence_report rep;
  put_row(rp, RP_TYPE, RPC);
  put_row(drp, RP_TYPE "/diskRestorePoints", rp);
  if (region_capture_fence(region, vols, 1, NULL, &c, &rep) < 0 || meta_begin(meta) < 0 ||
      region_capture_record(region, c, 0, drp, rp, DISK) < 0 || meta_commit(meta) < 0 ||
      region_capture_queue(region, c, op, rp) < 0 || region_capture_run(region, op, progress, NULL) < 0)
    abort();
}

static char *grant(const char *id, const char *family, enum region_access access)
{
  struct region_grant g;
  struct region_grant_request rq = {.resource_id = id, .family = family, .access = access,
                                    .duration_s = 10 * 365 * 86400};
  if (region_grant_begin(region, &rq, &g) < 0)
    abort();
  char *url = strdup(g.url);
  region_grant_clear(&g);
  return url;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc, (void)argv;
  fuzz_quiet();
  scratch = fuzz_tempdir("blob");
  char path[4200];
  snprintf(path, sizeof path, "%s/meta.db", scratch);
  struct region_config cfg = {.data_dir = scratch, .chunk_size = 65536, .location = "eastus",
                              .sas_url = "https://dp.test", .sas_max_grants = 8};
  if (meta_open(path, &meta) < 0 || region_open(&cfg, meta, &region) < 0)
    abort();
  plane = (struct blob_plane){region, meta};
  put_row(RPC, "Microsoft.Compute/restorePointCollections", SUB);
  put_row(DISK, "Microsoft.Compute/disks", SUB);
  put_row(UPLOAD, "Microsoft.Compute/disks", SUB);
  char vol_id[40], up_id[40];
  if (region_volume_create(region, DISK, SIZE, NULL, NULL, vol_id) < 0 ||
      region_volume_create(region, UPLOAD, SIZE, NULL, NULL, up_id) < 0)
    abort();
  struct region_reader *rd;
  uint8_t *data = malloc(SIZE);
  if (!data || region_reader_open_disk(region, DISK, &rd) < 0)
    abort();
  for (size_t i = 0; i < SIZE / 2; i++) /* the first half written, the rest a hole */
    data[i] = (uint8_t)(i * 2654435761u >> 13);
  if (region_reader_write(rd, data, SIZE / 2, 0) < 0 || region_reader_flush(rd) < 0)
    abort();
  capture(vol_id, RPC "/restorePoints/rp1", RPC "/restorePoints/rp1/diskRestorePoints/d1_a", "op1");
  memset(data, 0x5a, 3 * 65536); /* three chunks changed, one of them beyond the old data */
  if (region_reader_write(rd, data, 65536, 0) < 0 || region_reader_write(rd, data, 2 * 65536, SIZE - 4 * 65536) < 0 ||
      region_reader_flush(rd) < 0)
    abort();
  region_reader_close(rd);
  free(data);
  capture(vol_id, RPC "/restorePoints/rp2", RPC "/restorePoints/rp2/diskRestorePoints/d1_b", "op2");
  grant_url[0] = grant(RPC "/restorePoints/rp2/diskRestorePoints/d1_b", DISK, REGION_READ);
  grant_url[1] = grant(RPC "/restorePoints/rp1/diskRestorePoints/d1_a", DISK, REGION_READ);
  grant_url[2] = grant(UPLOAD, UPLOAD, REGION_WRITE);
  grant_url[3] = grant(DISK, DISK, REGION_READ);
  for (int i = 0; i < NGRANTS; i++)
    if (!(grant_enc[i] = url_encode(grant_url[i])))
      abort();
  return 0;
}

/* The input with $P<n>, $Q<n>, $U<n>, $E<n> expanded (malloc'd,
 * NUL-terminated; *len its length). */
static char *expand(const uint8_t *data, size_t size, size_t *len)
{
  size_t cap = size + 1;
  for (size_t i = 0; i + 2 < size; i++)
    if (data[i] == '$')
      cap += 1536;
  char *out = malloc(cap);
  if (!out)
    abort();
  size_t o = 0;
  for (size_t i = 0; i < size; i++) {
    unsigned n = i + 2 < size ? (unsigned)(data[i + 2] - '1') : NGRANTS;
    if (data[i] != '$' || n >= NGRANTS || !data[i + 1] || !strchr("PQUE", data[i + 1])) {
      out[o++] = (char)data[i];
      continue;
    }
    const char *url = grant_url[n], *path = strchr(url + 8, '/'), *q = strchr(url, '?');
    const char *from = data[i + 1] == 'U' ? url : data[i + 1] == 'E' ? grant_enc[n] : data[i + 1] == 'P' ? path : q + 1;
    size_t k = data[i + 1] == 'P' ? (size_t)(q - path) : strlen(from);
    memcpy(out + o, from, k);
    o += k;
    i += 2;
  }
  out[o] = '\0';
  *len = o;
  return out;
}

static char *decode(const char *s, size_t n)
{
  char *d = url_decode(s, n, 0);
  return d ? d : strndup(s, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  size_t len;
  char *text = expand(data, size, &len);
  struct http_pair headers[HTTP_MAX_HEADERS], query[64];
  char *owned[2 * 64];
  int nowned = 0, nh = 0, nq = 0;
  /* the request line */
  char *line_end = memchr(text, '\n', len);
  char *sp = line_end ? memchr(text, ' ', (size_t)(line_end - text)) : NULL;
  if (!sp) {
    free(text);
    return 0;
  }
  *sp = *line_end = '\0';
  char *target = sp + 1, *qs = strchr(target, '?');
  if (qs)
    *qs++ = '\0';
  for (char *p = qs; p && *p && nq < 64;) {
    char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p);
    char *eq = memchr(p, '=', (size_t)(end - p));
    char *name = decode(p, (size_t)((eq ? eq : end) - p)), *value = eq ? decode(eq + 1, (size_t)(end - eq - 1)) : strdup("");
    owned[nowned++] = name, owned[nowned++] = value;
    query[nq++] = (struct http_pair){name, value};
    p = amp ? amp + 1 : NULL;
  }
  /* headers up to an empty line, then the body */
  char *p = line_end + 1, *body = NULL;
  while (p < text + len) {
    char *nl = memchr(p, '\n', (size_t)(text + len - p));
    if (nl == p) {
      body = p + 1;
      break;
    }
    if (nl)
      *nl = '\0';
    char *colon = strchr(p, ':');
    if (colon && nh < HTTP_MAX_HEADERS) {
      *colon = '\0';
      char *v = colon + 1;
      while (*v == ' ')
        v++;
      headers[nh++] = (struct http_pair){p, v};
    }
    if (!nl)
      break;
    p = nl + 1;
  }
  char *path = decode(target, strlen(target));
  struct http_request req = {.method = text, .path = path, .raw_path = target, .headers = headers,
                             .nheaders = nh, .query = query, .nquery = nq};
  if (body && body < text + len) {
    req.body = body;
    req.body_len = (size_t)(text + len - body);
  }
  snprintf(req.client_addr, sizeof req.client_addr, "127.0.0.1");
  snprintf(req.client_net, sizeof req.client_net, "127.0.0.1");
  struct http_response resp = {0};
  blob_handle(&plane, &req, &resp);
  if (resp.stream) {
    static char block[1 << 16];
    uint64_t pos = 0;
    for (ssize_t got; pos < resp.stream_size && (got = resp.stream(resp.stream_ctx, pos, block, sizeof block)) > 0;)
      pos += (uint64_t)got;
  }
  http_response_release(&resp);
  free(path);
  for (int i = 0; i < nowned; i++)
    free(owned[i]);
  free(text);
  return 0;
}
