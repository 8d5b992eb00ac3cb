/*
 * repl.h — the peer protocol: how regions authenticate each other, exchange
 * objects, and copy a tree from one store to another.
 *
 * Transport: HTTPS to the peer's ARM endpoint, paths under /vmrp/peer/v1/.
 * The client verifies the server's certificate against the peer CA
 * (libcurl).  Every request between regions — the peer protocol below and
 * the ARM calls one region forwards to another (arm/forward.c) — is signed
 * with the credential the two regions share, which itself never travels:
 *     x-vmrp-peer:   <sending region>
 *     x-vmrp-caller: <oid> <appid> <tid>   (each percent-encoded; absent when
 *                                           the region calls for itself)
 *     Authorization: VMRP1-HMAC-SHA256 t=<unix ms>,n=<32 hex>,s=<64 hex>
 * s = HMAC-SHA256(credential, canonical string), the canonical string being
 * these lines joined by "\n" (no field may hold a control character):
 *     VMRP1-HMAC-SHA256            the version tag
 *     <sender> <receiver>          region names, lower-case, one line each
 *     <METHOD>
 *     <target>                     the path as sent, then "?" and the query
 *                                  as name=value pairs, each percent-encoded
 *                                  (url_encode) in the order sent, joined
 *                                  by "&" (no "?" without a query)
 *     <t> <n>                      the timestamp and the 128-bit nonce (hex)
 *     <SHA-256 of the body, hex>   (of no bytes when there is no body)
 *     <x-vmrp-caller's value>      ("" when absent)
 * The receiver (repl_verify) accepts a request only when t is within
 * REPL_WINDOW_MS of its clock and not older than its own start (a restart
 * does not reopen replays), the MAC matches (compared in constant time), and
 * the nonce was not accepted before; then the caller's identity is the one
 * the sender asserts, and the receiver decides with its own role table what
 * that caller may do.  ARM bearer tokens never go to a peer: a peer that is
 * compromised gets no credential valid anywhere else.
 *
 * Objects travel as the source's packs store them (cas_record_export):
 *     POST /vmrp/peer/v1/objects[?domain=<key domain, 32 hex digits>]
 *                                  body: n × 32-byte addresses
 *                                  (from the store of that key domain, as
 *                                  both regions hold the same domains; none:
 *                                  the legacy plaintext store)
 *     → 200, a stream of frames: u8 kind, 3 bytes 0, u32 length (LE), payload
 *         REPL_FRAME_RECORD   a record holding one or more of the addresses
 *         REPL_FRAME_MISSING  payload: an address the source does not have
 *         REPL_FRAME_END      the stream is complete (a cut stream has none)
 * A record that holds several requested addresses (a group) is sent once.
 * The receiver checks every record (cas_record_check) before storing it; an
 * address a bad record should have brought is asked for again.
 *
 * Copy (repl_copy_tree): the target walks the source's tree top-down over
 * the protocol, skipping every subtree its own store already has (the
 * closure invariant of snap/tree.h: having a node means having all below
 * it), fetches the missing chunks in batches on several streams at once, and
 * stores each node only after everything below it is stored, so the
 * invariant holds in the target at every moment, across crashes too.
 * Nothing the target holds is fetched again: a resumed copy re-walks from
 * the top and skips what arrived before.
 *
 * Thread safety: every function may be called from several threads; a
 * struct repl_export belongs to one.
 * Errors: 0 or -errno.  -EHOSTUNREACH the peer did not answer (or the stream
 * broke: worth a retry later), -EACCES it refused our signature, -ENOENT
 * the source lacks an object the tree needs (its restore point was deleted),
 * -EIO an object stayed damaged after refetching, -EXDEV the stores' chunk
 * sizes differ, -EINTR stopped by the checkpoint callback.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cas/cas.h"

#define REPL_PATH "/vmrp/peer/v1/"
#define REPL_HEADER_PEER "x-vmrp-peer"
#define REPL_HEADER_CALLER "x-vmrp-caller"
#define REPL_SIG_SCHEME "VMRP1-HMAC-SHA256" /* the version tag */
#define REPL_WINDOW_MS 300000               /* a signature's freshness, either way */
#define REPL_MAX_BATCH 4096 /* addresses in one objects request */

struct repl_peer {
  const char *self;        /* this region's name, sent in x-vmrp-peer and signed */
  const char *name;        /* the peer's region name (logs, errors) */
  const char *endpoint;    /* its ARM base URL */
  const char *credential;  /* the credential shared with it: the HMAC key */
  const char *ca_file;     /* its certificate's CA (NULL: the system's) */
  const char *domain;      /* the key domain (hex) whose store objects come from; NULL or "": the
                              legacy plaintext store */
};

/* ---- signatures (sign.c) ---------------------------------------------------- */

/* Whom a request is made for: the caller's identity as the sending region
 * authenticated it (arm's struct auth_identity), or oid "" for the region
 * itself (a copy job long after the request). */
struct repl_caller {
  char oid[64];
  char appid[64];
  char tid[64];
};

/* The headers' values of one signed request (x-vmrp-peer is the sender's
 * name): Authorization, and x-vmrp-caller unless caller is "". */
struct repl_signature {
  char authorization[160];
  char caller[600];
};

/* Signs a request from region `from` to region `to` at now_ms (wall clock,
 * Unix ms) with a fresh nonce.  target as above; body may be NULL; who NULL
 * or with oid "": the region itself.  -EINVAL: a field holds a control
 * character, the credential is empty, or an identity field is too long. */
int repl_sign(const char *credential, const char *from, const char *to, const char *method, const char *target,
              const void *body, size_t body_len, const struct repl_caller *who, int64_t now_ms,
              struct repl_signature *out);

/* A received request as the receiver sees it: `from` is x-vmrp-peer, `to`
 * the receiver's own name, authorization and caller the headers' values
 * (NULL when absent), target rebuilt from the path and the parsed query. */
struct repl_signed_request {
  const char *from, *to, *method, *target, *authorization, *caller;
  const void *body;
  size_t body_len;
};

/* The receiver's memory of accepted nonces (thread-safe, ~4 MiB). */
struct repl_guard;
/* start_ms: when this process started; older timestamps are refused. */
int repl_guard_open(int64_t start_ms, struct repl_guard **out);
void repl_guard_close(struct repl_guard *g);

/* Checks r against credential at now_ms; on 0 *who is the asserted caller
 * (oid "": the region itself) and the nonce is spent.  -EBADMSG no or a
 * malformed signature, -ETIME stale or from before the start, -EACCES the
 * MAC does not match, -EALREADY a replay, -ENOBUFS more requests in the
 * window than the guard can remember (fails closed). */
int repl_verify(struct repl_guard *g, const char *credential, const struct repl_signed_request *r, int64_t now_ms,
                struct repl_caller *who);
/* Why repl_verify refused, for the receiver's log (never for the peer). */
const char *repl_verify_error(int rc);

/* ---- client calls (peer.c) ------------------------------------------------ */

/* A small signed request: method path (with a canonical query, see above)
 * and an optional body, made for who (NULL: the region itself); *status and
 * the reply (malloc'd, NUL-terminated, *reply_len) on 0. */
int repl_call(const struct repl_peer *p, const struct repl_caller *who, const char *method, const char *path,
              const char *body, size_t body_len, long *status, char **reply, size_t *reply_len);

/* ---- the objects stream, server side (objects.c) ------------------------- */

enum repl_frame_kind { REPL_FRAME_RECORD = 1, REPL_FRAME_MISSING = 2, REPL_FRAME_END = 3 };
#define REPL_FRAME_HDR 8u

struct repl_export;
/* A stream over the records holding the addresses in body (a multiple of 32
 * bytes, at most REPL_MAX_BATCH of them; -EINVAL otherwise). */
int repl_export_open(struct cas *cas, const void *body, size_t len, struct repl_export **out);
/* The next bytes of the stream (an http_stream_fn): > 0, 0 at its end, -1
 * on a storage error (the client sees a cut stream). */
ssize_t repl_export_read(void *x, uint64_t pos, char *buf, size_t max);
void repl_export_close(void *x);
/* Records sent, bytes sent. */
void repl_export_counts(const struct repl_export *x, uint64_t *records, uint64_t *bytes);

/* ---- copy (copy.c) ------------------------------------------------------- */

struct repl_copy_state {
  uint64_t size;            /* the disk's bytes (known once the root arrived) */
  uint64_t covered;         /* bytes of the disk whose data the target holds */
  uint64_t bytes_received;  /* on the wire: frames, headers included */
  uint64_t records_received, bytes_stored, refetched;
};
struct repl_copy_opts {
  unsigned streams;            /* concurrent object requests (0: 4) */
  uint64_t max_bytes_per_s;    /* 0: unlimited */
  /* Called about once a second with the store synced (what covered counts
   * is durable), and once at the end; non-zero stops the copy, which
   * returns it when it is a negative errno, else -EINTR. */
  int (*checkpoint)(void *ctx, const struct repl_copy_state *st);
  void *ctx;
};
/* Copies the tree under root (a hex tree root) from the peer into cas and
 * syncs it: on 0 the whole tree is durable in cas.  st (never NULL) is
 * updated as the copy goes. */
int repl_copy_tree(struct cas *cas, const struct repl_peer *peer, const struct cas_addr *root,
                   const struct repl_copy_opts *opts, struct repl_copy_state *st);

/* ---- repair ----------------------------------------------------------------- */

/* Fetches object a from the peer and stores it over this store's damaged or
 * missing copy (cas_record_repair), checked like any received object.
 * -ENOENT: the peer does not have it either.  Not durable until cas_sync. */
int repl_repair_object(struct cas *cas, const struct repl_peer *peer, const struct cas_addr *a);
