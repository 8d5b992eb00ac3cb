/*
 * repl.h — the peer protocol: how regions authenticate each other, exchange
 * objects, and copy a tree from one store to another.
 *
 * Transport: HTTPS to the peer's ARM endpoint, paths under /vmrp/peer/v1/.
 * Both ends are authenticated: the client verifies the server's certificate
 * against the peer CA (libcurl), and every request names the calling region
 * (x-vmrp-peer) and presents the credential the two regions share
 * (Authorization: VmrpPeer <credential>), which the server compares in
 * constant time with the one it has configured for that region
 * (repl_credential_ok).  ARM tokens are never used between regions, so a copy
 * keeps running long after the caller's token expired.
 *
 * Objects travel as the source's packs store them (cas_record_export):
 *     POST /vmrp/peer/v1/objects   body: n × 32-byte addresses
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
 * broke: worth a retry later), -EACCES it refused our credential, -ENOENT
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
#define REPL_AUTH_SCHEME "VmrpPeer "
#define REPL_MAX_BATCH 4096 /* addresses in one objects request */

struct repl_peer {
  const char *self;        /* this region's name, sent in x-vmrp-peer */
  const char *name;        /* the peer's region name (logs, errors) */
  const char *endpoint;    /* its ARM base URL */
  const char *credential;  /* the credential shared with it */
  const char *ca_file;     /* its certificate's CA (NULL: the system's) */
};

/* Whether presented (the Authorization header, may be NULL) carries
 * expected, compared in constant time. */
bool repl_credential_ok(const char *presented, const char *expected);

/* ---- client calls (peer.c) ------------------------------------------------ */

/* A small request: method path (with query) and an optional body; *status
 * and the reply (malloc'd, NUL-terminated, *reply_len) on 0. */
int repl_call(const struct repl_peer *p, const char *method, const char *path, const char *body, size_t body_len,
              long *status, char **reply, size_t *reply_len);

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
