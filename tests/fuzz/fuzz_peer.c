/*
 * fuzz_peer.c — the peer protocol between regions, from both ends: what a
 * peer sends this region (its JSON documents, checked by arm/peer_doc.c
 * before anything reads them; the frames of an objects stream, parsed,
 * checked and imported by repl/copy.c) and what this region answers a peer
 * (the signature check of repl/sign.c; the objects stream of repl/objects.c
 * over the addresses a peer's body names).  A malformed peer answer once
 * crashed a region five ways (tests/arm/peer_hostile.sh); this keeps looking.
 *
 * Input: byte 0 picks the mode (its value mod 6), the rest is cut at
 * FUZZ_SEP into parts:
 *   0 doc       part 0 the id asked for, part 1 a resource document
 *               (arm_peer_doc_check)
 *   1 capture   part 0 the answer to POST captures (arm_peer_capture_check)
 *   2 error     byte 1 a status - 300 (arm_peer_error_ok), part 0 from byte 2
 *   3 verify    parts: sender, method, target, Authorization, x-vmrp-caller,
 *               body; with byte 0 bit 7 the harness signs the request itself
 *               (caller "oid appid tid") and it must verify once, then be a
 *               replay
 *   4 copy      a copy of the source store's tree into an empty store from a
 *               fake peer (plain HTTP on loopback): part 0 the root ("" the
 *               real one), part k the answer to the k-th objects request
 *               ("=" the real stream of the addresses asked, from the source)
 *   5 export    the objects stream this region sends for a body of
 *               addresses: each 32-byte block starting 0xff names one of the
 *               source's real addresses (its second byte, mod their count)
 * Stores use the fixed test key of fuzz_pack.c's kind (format 2), 4 KiB
 * chunks.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arm/internal.h"
#include "support.h"
#include "http/server.h"
#include "repl/repl.h"
#include "snap/tree.h"

#define MAX_PARTS 12
#define IMAGE (96u << 10)
#define CREDENTIAL "fuzz-peer-credential"
#define MAX_KNOWN 64

static const char *scratch;
static char source_dir[4200], target_dir[4200];
static struct cas_key key;
static struct cas *source;
static struct cas_addr root, known[MAX_KNOWN];
static size_t nknown;
static struct repl_guard *guard;
static struct http_server *peer_http;
static char endpoint[64];

/* What the fake peer answers in this run (mode 4). */
static struct fuzz_part answers[MAX_PARTS];
static size_t nanswers;
static atomic_uint requests;

static void note_known(const struct cas_addr *a)
{
  if (nknown < MAX_KNOWN && !cas_addr_is_zero(a))
    known[nknown++] = *a;
}

/* The source's root, its top node and the top node's children. */
static void collect_known(void)
{
  uint8_t *node = malloc(CAS_MAX_OBJECT);
  size_t len;
  note_known(&root);
  for (int depth = 0; node && depth < 2; depth++) {
    const struct cas_addr *a = &known[nknown - 1];
    if (cas_get(source, CAS_NODE, a, node, CAS_MAX_OBJECT, &len) < 0 || len < sizeof(struct cas_node_hdr))
      abort();
    struct cas_node_hdr h;
    memcpy(&h, node, sizeof h);
    for (unsigned i = 0; i < h.count; i++)
      note_known((const struct cas_addr *)(node + sizeof h + (size_t)i * CAS_ADDR_LEN));
  }
  free(node);
}

static int image_read(void *ctx, void *buf, size_t len, uint64_t off)
{
  (void)ctx;
  for (size_t i = 0; i < len; i++) /* chunk 3 zero, the others distinct and half compressible */
    ((uint8_t *)buf)[i] = (off + i) / 4096 == 3 ? 0 : (uint8_t)(((off + i) * 2654435761u) >> ((off + i) % 2 * 13));
  return 0;
}

static int image_is_zero(void *ctx, uint64_t off, uint64_t len)
{
  (void)ctx;
  return off == 3 * 4096 && len == 4096;
}

/* The fake peer: the run's next canned answer, or the real stream ("="). */
static void peer_handler(void *ctx, const struct http_request *req, struct http_response *resp)
{
  (void)ctx;
  unsigned k = atomic_fetch_add(&requests, 1) + 1;
  if (k < nanswers && !(answers[k].len == 1 && answers[k].p[0] == '=')) {
    char *body = malloc(answers[k].len + 1);
    if (body)
      memcpy(body, answers[k].p, answers[k].len);
    http_response_body(resp, 200, "application/octet-stream", body, body ? answers[k].len : 0);
    return;
  }
  struct repl_export *x;
  if (repl_export_open(source, req->body, req->body_len, &x) < 0) {
    http_response_body(resp, 400, NULL, NULL, 0);
    return;
  }
  http_response_stream(resp, 200, "application/octet-stream", HTTP_SIZE_UNKNOWN, repl_export_read, x,
                       repl_export_close);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc, (void)argv;
  fuzz_quiet();
  for (size_t i = 0; i < sizeof key; i++)
    ((uint8_t *)&key)[i] = (uint8_t)(0xA5 ^ (i * 29));
  scratch = fuzz_tempdir("peer");
  snprintf(source_dir, sizeof source_dir, "%s/source", scratch);
  snprintf(target_dir, sizeof target_dir, "%s/target", scratch);
  struct cas_options o = {.create = true, .key = &key, .chunk_shift = 12};
  struct tree_source src = {image_read, image_is_zero, NULL};
  struct tree_opts to = {.threads = 1};
  if (cas_open(source_dir, &o, &source) < 0 || tree_build_full(source, &src, IMAGE, &to, &root, NULL) < 0 ||
      cas_sync(source) < 0)
    abort();
  collect_known();
  if (repl_guard_open(time(NULL) * 1000 - 1000, &guard) < 0)
    abort();
  struct http_server_config hc = {.name = "peer", .bind_addr = "127.0.0.1", .plain_http = true,
                                  .max_body = 1 << 20, .timeout_s = 30, .header_timeout_s = 30,
                                  .body_timeout_s = 30, .send_timeout_s = 30, .threads = 2};
  if (http_server_start(&hc, peer_handler, NULL, &peer_http) < 0)
    abort();
  snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", http_server_port(peer_http));
  return 0;
}

/* A part as a NUL-terminated string (its first NUL ends it). */
static char *str_of(const struct fuzz_part *p)
{
  char *s = strndup((const char *)p->p, p->len);
  if (!s)
    abort();
  return s;
}

static json_t *json_of(const struct fuzz_part *p) { return json_loadb((const char *)p->p, p->len, 0, NULL); }

static void verify(uint8_t flags, struct fuzz_part *parts, size_t n)
{
  static const struct fuzz_part none = {(const uint8_t *)"", 0};
  const struct fuzz_part *f[6];
  for (size_t i = 0; i < 6; i++)
    f[i] = i < n ? &parts[i] : &none;
  char *from = str_of(f[0]), *method = str_of(f[1]), *target = str_of(f[2]), *auth = str_of(f[3]),
       *caller = str_of(f[4]);
  struct repl_signed_request r = {from, "westus", method, target, auth, caller, f[5]->p, f[5]->len};
  struct repl_caller who;
  int64_t now = time(NULL) * 1000;
  if (flags & 0x80) {
    struct repl_caller as = {"", "", ""};
    sscanf(caller, "%63s %63s %63s", as.oid, as.appid, as.tid);
    struct repl_signature sig;
    if (repl_sign(CREDENTIAL, from, "westus", method, target, f[5]->p, f[5]->len, &as, now, &sig) == 0) {
      r.authorization = sig.authorization;
      r.caller = sig.caller[0] ? sig.caller : NULL;
      int rc = repl_verify(guard, CREDENTIAL, &r, now, &who);
      if (rc != 0 && rc != -ENOBUFS)
        abort(); /* what repl_sign signed must verify */
      if (rc == 0 && (strcmp(who.oid, as.oid) || strcmp(who.appid, as.appid) || strcmp(who.tid, as.tid)))
        abort(); /* as the caller it asserted */
      rc = repl_verify(guard, CREDENTIAL, &r, now, &who);
      if (rc != -EALREADY && rc != -ENOBUFS)
        abort(); /* once */
    }
  } else {
    repl_verify(guard, CREDENTIAL, &r, now, &who);
  }
  free(from), free(method), free(target), free(auth), free(caller);
}

static void copy(struct fuzz_part *parts, size_t n)
{
  struct cas_addr want = root;
  if (parts[0].len == CAS_ADDR_LEN)
    memcpy(want.b, parts[0].p, CAS_ADDR_LEN);
  else if (parts[0].len)
    return;
  memcpy(answers, parts, n * sizeof *parts);
  nanswers = n;
  atomic_store(&requests, 0);
  fuzz_remove_tree(target_dir);
  struct cas_options o = {.create = true, .key = &key, .chunk_shift = 12};
  struct cas *target;
  if (cas_open(target_dir, &o, &target) < 0)
    abort();
  struct repl_peer peer = {.self = "westus", .name = "eastus", .endpoint = endpoint, .credential = CREDENTIAL};
  struct repl_copy_opts co = {.streams = 1};
  struct repl_copy_state st = {0};
  int rc = repl_copy_tree(target, &peer, &want, &co, &st);
  if (rc == 0 && !memcmp(&want, &root, sizeof root)) { /* then the tree is whole in the target, as the source's */
    uint8_t *a = malloc(IMAGE), *b = malloc(IMAGE);
    if (!a || !b || tree_read(target, &want, a, IMAGE, 0) < 0 || tree_read(source, &want, b, IMAGE, 0) < 0 ||
        memcmp(a, b, IMAGE))
      abort();
    free(a);
    free(b);
  }
  cas_close(target);
}

static void export(const uint8_t *data, size_t len)
{
  uint8_t *body = malloc(len + 1);
  if (!body)
    abort();
  memcpy(body, data, len);
  for (size_t o = 0; o + CAS_ADDR_LEN <= len; o += CAS_ADDR_LEN)
    if (body[o] == 0xff)
      memcpy(body + o, known[body[o + 1] % nknown].b, CAS_ADDR_LEN);
  struct repl_export *x;
  if (repl_export_open(source, body, len, &x) == 0) {
    static char out[1 << 16];
    uint64_t pos = 0;
    size_t max = 1;
    for (ssize_t got; (got = repl_export_read(x, pos, out, max)) > 0; pos += (uint64_t)got)
      max = max * 3 % sizeof out + 1; /* every kind of cut between frames */
    repl_export_close(x);
  }
  free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  unsigned mode = data[0] % 6;
  struct fuzz_part parts[MAX_PARTS];
  size_t n = fuzz_split(data + 1, size - 1, parts, MAX_PARTS);
  char why[256];
  json_t *doc;
  switch (mode) {
  case 0: {
    char *id = str_of(&parts[0]);
    if (n > 1 && (doc = json_of(&parts[1]))) {
      arm_peer_doc_check(doc, id, why, sizeof why);
      json_decref(doc);
    }
    free(id);
    break;
  }
  case 1:
    if ((doc = json_of(&parts[0]))) {
      arm_peer_capture_check(doc, why, sizeof why);
      json_decref(doc);
    }
    break;
  case 2:
    if (size >= 2 && (doc = json_loadb((const char *)data + 2, size - 2, 0, NULL))) {
      arm_peer_error_ok(300 + data[1], doc);
      json_decref(doc);
    }
    break;
  case 3:
    verify(data[0], parts, n);
    break;
  case 4:
    copy(parts, n);
    break;
  case 5:
    export(data + 1, size - 1);
    break;
  }
  return 0;
}
