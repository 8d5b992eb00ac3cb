/*
 * pack_rados.c — the Ceph RADOS back end of the pack store (pack_store.h),
 * through librados' C API.
 *
 * A store is a pool and a namespace in it (location "rados:pool=…", cas.h),
 * reached through one cluster handle and one I/O context, opened here and
 * closed by free.  Its objects mirror the directory back end's files:
 *     config          the store's config, replaced with write_full (atomic)
 *     lock            holds the store's lock: a cls_lock lease (below)
 *     packs           the registry: an omap key per pack ("%08x", no value),
 *                     set before the pack's object is created, removed after
 *     pack.NNNNNNNN   a pack's first STRIPE bytes: created exclusively with
 *                     its header in one op, then written with aio writes
 *     pack.NNNNNNNN.K its bytes [K·STRIPE, (K+1)·STRIPE), made by the writes
 *     idx.NNNNNNNN    its index blob, replaced with write_full
 *
 * A pack is striped over objects of STRIPE bytes (as RBD stripes an image)
 * because one object is one placement group, whose OSD applies the writes
 * to it one after another: the writes of an open pack in flight then spread
 * over as many PGs as stripes.  Writes to one object are applied in order,
 * writes to different objects are not, so after a crash with writes in
 * flight a later stripe may hold bytes an earlier one lacks: size counts
 * only the contiguous prefix — every byte a sync covered is in it, since a
 * sync waits for all writes before it — and truncate removes the stripes
 * beyond (up to the in-flight window past the end).
 *
 * Durability: a RADOS write is acknowledged once it is durable on every
 * replica of its placement group, so create, idx_put, conf_put and remove are
 * durable on return.  Appends are aio writes kept in flight (at most
 * MAX_INFLIGHT ops and MAX_INFLIGHT_BYTES: the writer waits for the oldest
 * beyond that); sync waits for every write submitted before it and returns
 * the first error any of them had — which stays, for every later sync and
 * append of the pack, as a failed fsync does for the store.  A write goes at
 * its append's offset rather than at the object's end, so one that failed
 * leaves a hole that recovery scans past, never records shifted from where
 * the index says they are.  Reads of a pack this process writes are ordered
 * after its writes (LIBRADOS_OPERATION_ORDER_READS_WRITES): a record is in
 * the index once its append was submitted, before its ack.  A read of a pack
 * that GC removed since the reader's lookup is -ENOENT, which get.c answers
 * by looking the object up again.
 *
 * Single node: two stand-ins for what several nodes will have
 * (SCALE-OUT.md §3.1–3.2) keep store.c's logic unchanged here.  The registry
 * object stands for the PostgreSQL pack registry: `list` reads it, so open
 * learns the packs without listing the pool; a pack registered whose
 * creation a crash cut short has no object, and size says 0 for it, which
 * store.c treats as in the directory (a pack shorter than its header holds
 * nothing; a writable open writes the header).  The lock object stands for
 * the node lease: open takes an exclusive cls_lock (shared when read-only)
 * with a duration of lease seconds, and a thread renews it every third of
 * that; a crashed process's lock ends with its lease, so open waits up to a
 * lease (and two seconds) for it before -EBUSY.  A lease that could not be
 * renewed in time, or that another took, makes every write of the store fail
 * with -ENOLCK: it is no longer this process's.  Nothing fences a process
 * stalled past its lease yet (the PostgreSQL epochs and blocklisting do
 * that with several nodes).  Because one process owns the store, it
 * recovers its own open pack after a crash (size, truncate) as the directory
 * back end does.
 *
 * Connecting is bounded: client_mount_timeout, rados_mon_op_timeout and
 * rados_osd_op_timeout are CONNECT_TIMEOUT_S / OP_TIMEOUT_S unless the
 * operator's ceph.conf sets them otherwise, so an unreachable cluster
 * fails start, and a cluster lost mid-run fails requests, instead of
 * hanging them.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rados/librados.h>

#include "cas/pack_store.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/timefmt.h"

#define PACK_TARGET (16ull << 20) /* recovery moves whole objects: SCALE-OUT.md §3.2 */
#define STRIPE (4ull << 20)       /* RGW's and RBD's default object size */
#define MAX_INFLIGHT 64
#define MAX_INFLIGHT_BYTES (64u << 20)
#define WINDOW_STRIPES (MAX_INFLIGHT_BYTES / STRIPE + 1) /* stripes writes in flight can reach past the end */
#define MAX_READ_EXTENTS 8
#define CONNECT_TIMEOUT_S "15"
#define OP_TIMEOUT_S "30"
#define DEFAULT_LEASE_S 15
#define LOCK_OID "lock"
#define LOCK_NAME "vmrp.store"
#define REGISTRY_OID "packs"
#define CONF_OID "config"
#define OID_LEN 24

struct rados_store {
  struct cas_pack_store base;
  rados_t cluster;
  rados_ioctx_t io;
  char *where;            /* "pool/namespace", for logs */
  bool read_only, locked;
  int lease_s;
  char cookie[24];
  pthread_t renewer;
  bool renewing;
  pthread_mutex_t mu;
  pthread_cond_t stop_cond;
  bool stopping;
  atomic_int lost;        /* -ENOLCK once the lease is not ours: writes refuse */
};

/* One aio write in flight. */
struct inflight {
  struct rados_pack *h;
  rados_completion_t c;
  size_t len;
  bool done;
  int rv;
};

struct rados_pack {
  struct pack_obj base;
  struct rados_store *s;
  uint32_t id;
  bool ordered;           /* this process writes it: reads go after the writes */
  pthread_mutex_t mu;
  pthread_cond_t done_cond;
  struct inflight ring[MAX_INFLIGHT];
  uint64_t submitted, reaped; /* ring[reaped % MAX_INFLIGHT .. submitted) in flight */
  size_t bytes;           /* of the writes in flight */
  int err;                /* the first failed write: every sync and append after it fails */
};

static const struct pack_store_ops rs_ops;

static struct rados_store *rs(struct cas_pack_store *s) { return (struct rados_store *)s; }
static struct rados_pack *rp(struct pack_obj *h) { return (struct rados_pack *)h; }

static void oid_of(char out[OID_LEN], const char *kind, uint32_t id) { snprintf(out, OID_LEN, "%s.%08x", kind, id); }

/* The object of pack id's stripe k. */
static void stripe_oid(char out[OID_LEN], uint32_t id, uint64_t k)
{
  if (k == 0)
    oid_of(out, "pack", id);
  else
    snprintf(out, OID_LEN, "pack.%08x.%u", id, (unsigned)k);
}

/* ---- whole objects: config and index blobs ---- */

static int blob_put(struct rados_store *s, const char *oid, const void *buf, size_t len)
{
  int r = atomic_load(&s->lost);
  return r ? r : rados_write_full(s->io, oid, buf, len);
}

/* *buf malloc'd with a NUL after its len bytes. */
static int blob_get(struct rados_store *s, const char *oid, void **buf, size_t *len)
{
  uint64_t size;
  time_t mtime;
  int r = rados_stat(s->io, oid, &size, &mtime);
  if (r < 0)
    return r;
  CLEANUP_FREE char *b = malloc(size + 1);
  if (!b)
    return -ENOMEM;
  size_t got = 0;
  int prval = 0;
  rados_read_op_t op = rados_create_read_op();
  rados_read_op_read(op, 0, size, b, &got, &prval);
  r = rados_read_op_operate(op, s->io, oid, 0);
  rados_release_read_op(op);
  if (r == 0)
    r = prval < 0 ? prval : got != size ? -EIO : 0; /* replaced meanwhile: only conf/idx writers, which are us */
  if (r < 0)
    return r;
  b[size] = 0;
  *len = size;
  *buf = STEAL_PTR(b);
  return 0;
}

static int rs_idx_put(struct cas_pack_store *s, uint32_t id, const void *buf, size_t len)
{
  char oid[OID_LEN];
  oid_of(oid, "idx", id);
  return blob_put(rs(s), oid, buf, len);
}

static int rs_idx_get(struct cas_pack_store *s, uint32_t id, void **buf, size_t *len)
{
  char oid[OID_LEN];
  oid_of(oid, "idx", id);
  return blob_get(rs(s), oid, buf, len);
}

static int rs_conf_put(struct cas_pack_store *s, const void *buf, size_t len)
{
  return blob_put(rs(s), CONF_OID, buf, len);
}

static int rs_conf_get(struct cas_pack_store *s, void **buf, size_t *len)
{
  return blob_get(rs(s), CONF_OID, buf, len);
}

/* ---- the registry ---- */

static int registry_set(struct rados_store *s, uint32_t id, bool add)
{
  char key[12];
  snprintf(key, sizeof key, "%08x", id);
  const char *keys[1] = {key}, *vals[1] = {""};
  size_t lens[1] = {0};
  rados_write_op_t op = rados_create_write_op();
  if (add)
    rados_write_op_omap_set(op, keys, vals, lens, 1);
  else
    rados_write_op_omap_rm_keys(op, keys, 1);
  int r = rados_write_op_operate(op, s->io, REGISTRY_OID, NULL, 0);
  rados_release_write_op(op);
  return r;
}

/* One page of the registry's keys after *after (updated), appended to ids. */
static int registry_page(struct rados_store *s, char after[12], uint32_t **ids, size_t *n, size_t *cap,
                         unsigned char *more)
{
  rados_omap_iter_t it = NULL;
  int prval = 0;
  rados_read_op_t op = rados_create_read_op();
  rados_read_op_omap_get_keys2(op, after, 1024, &it, more, &prval);
  int r = rados_read_op_operate(op, s->io, REGISTRY_OID, 0);
  if (r == 0)
    r = prval;
  char *key, *val;
  size_t vlen;
  while (r == 0 && rados_omap_get_next(it, &key, &val, &vlen) == 0 && key) {
    unsigned id;
    char end;
    if (strlen(key) == 8 && sscanf(key, "%8x%c", &id, &end) == 1)
      r = pack_ids_push(ids, n, cap, id);
    else
      log_warn("cas", "store %s: registry key '%s' is no pack id; ignored", s->where, key);
    snprintf(after, 12, "%s", key);
  }
  if (it)
    rados_omap_get_end(it);
  rados_release_read_op(op);
  return r;
}

/* The registered packs; keys are fixed-width hex, so omap's order is the ids'. */
static int rs_list(struct cas_pack_store *s, uint32_t **ids_out, size_t *n_out)
{
  uint32_t *ids = NULL;
  size_t n = 0, cap = 0;
  char after[12] = "";
  unsigned char more = 1;
  int r = 0;
  while (r == 0 && more)
    r = registry_page(rs(s), after, &ids, &n, &cap, &more);
  if (r == -ENOENT) /* no pack was ever registered */
    r = 0;
  if (r < 0) {
    free(ids);
    return r;
  }
  *ids_out = ids;
  *n_out = n;
  return 0;
}

/* ---- packs ---- */

static int handle_new(struct rados_store *s, uint32_t id, bool ordered, struct pack_obj **out)
{
  struct rados_pack *h = calloc(1, sizeof *h);
  if (!h)
    return -ENOMEM;
  h->base.ops = &rs_ops;
  h->s = s;
  h->id = id;
  h->ordered = ordered;
  pthread_mutex_init(&h->mu, NULL);
  pthread_cond_init(&h->done_cond, NULL);
  *out = &h->base;
  return 0;
}

/* Registered first: a crash before the object is made leaves a registered
 * pack of size 0, which holds nothing (never an object the registry misses). */
static int rs_create(struct cas_pack_store *st, uint32_t id, const void *hdr, size_t len, struct pack_obj **out)
{
  struct rados_store *s = rs(st);
  int r = atomic_load(&s->lost);
  if (r == 0)
    r = registry_set(s, id, true);
  char oid[OID_LEN];
  oid_of(oid, "pack", id);
  if (r == 0) {
    rados_write_op_t op = rados_create_write_op();
    rados_write_op_create(op, LIBRADOS_CREATE_EXCLUSIVE, NULL);
    rados_write_op_write(op, hdr, len, 0);
    r = rados_write_op_operate(op, s->io, oid, NULL, 0);
    rados_release_write_op(op);
  }
  if (r == 0)
    r = handle_new(s, id, true, out);
  return r;
}

/* Only registered packs are opened (store.c opens what list gave): the
 * object itself is looked at by size and read. */
static int rs_open(struct cas_pack_store *s, uint32_t id, bool writable, struct pack_obj **out)
{
  return handle_new(rs(s), id, writable, out);
}

static void write_done(rados_completion_t c, void *arg)
{
  struct inflight *w = arg;
  struct rados_pack *h = w->h;
  pthread_mutex_lock(&h->mu);
  w->rv = rados_aio_get_return_value(c);
  w->done = true;
  pthread_cond_broadcast(&h->done_cond);
  pthread_mutex_unlock(&h->mu);
}

/* h->mu held: releases the finished writes at the head of the ring. */
static void reap(struct rados_pack *h)
{
  while (h->reaped < h->submitted) {
    struct inflight *w = &h->ring[h->reaped % MAX_INFLIGHT];
    if (!w->done)
      break;
    if (w->rv < 0 && h->err == 0) {
      h->err = w->rv;
      log_error("cas", "store %s: a write to pack %08x failed: %s", h->s->where, h->id, strerror(-w->rv));
    }
    h->bytes -= w->len;
    rados_aio_release(w->c);
    h->reaped++;
  }
}

/* h->mu held: waits until every write submitted before upto is done. */
static void wait_writes(struct rados_pack *h, uint64_t upto)
{
  for (reap(h); h->reaped < upto; reap(h))
    pthread_cond_wait(&h->done_cond, &h->mu);
}

/* One aio write within stripe k. */
static int submit_one(struct rados_pack *h, uint64_t k, const char *buf, size_t len, uint64_t in)
{
  while (h->submitted - h->reaped == MAX_INFLIGHT || (h->bytes && h->bytes + len > MAX_INFLIGHT_BYTES))
    wait_writes(h, h->reaped + 1);
  struct inflight *w = &h->ring[h->submitted % MAX_INFLIGHT];
  *w = (struct inflight){.h = h, .len = len};
  char oid[OID_LEN];
  stripe_oid(oid, h->id, k);
  int r = rados_aio_create_completion2(w, write_done, &w->c);
  if (r < 0)
    return r;
  r = rados_aio_write(h->s->io, oid, w->c, buf, len, in);
  if (r < 0) {
    rados_aio_release(w->c);
    return r;
  }
  h->bytes += len;
  h->submitted++;
  return 0;
}

/* The write of [off, off+len), cut at stripe boundaries. */
static int submit(struct rados_pack *h, const char *buf, size_t len, uint64_t off)
{
  int r = 0;
  while (len > 0 && r == 0) {
    uint64_t in = off % STRIPE;
    size_t n = len < STRIPE - in ? len : (size_t)(STRIPE - in);
    r = submit_one(h, off / STRIPE, buf, n, in);
    buf += n;
    len -= n;
    off += n;
  }
  return r;
}

static int rs_append(struct pack_obj *ho, const struct iovec *iov, int n, uint64_t off)
{
  struct rados_pack *h = rp(ho);
  LOCK_GUARD(&h->mu);
  reap(h);
  int r = h->err ? h->err : atomic_load(&h->s->lost);
  for (int i = 0; i < n && r == 0; off += iov[i].iov_len, i++)
    r = submit(h, iov[i].iov_base, iov[i].iov_len, off);
  return r;
}

/* A piece of a read within one stripe. */
struct piece {
  char *buf;
  size_t len;
  uint64_t in; /* offset in the stripe */
};

/* Reads the pieces p[0..n) of stripe k in one op.  A stripe that is not there
 * is the pack's end (-EIO), unless the whole pack is gone (-ENOENT). */
static int read_stripe(struct rados_pack *h, uint64_t k, const struct piece *p, int n)
{
  char oid[OID_LEN];
  stripe_oid(oid, h->id, k);
  size_t got[MAX_READ_EXTENTS];
  int prval[MAX_READ_EXTENTS];
  rados_read_op_t op = rados_create_read_op();
  for (int i = 0; i < n; i++)
    rados_read_op_read(op, p[i].in, p[i].len, p[i].buf, &got[i], &prval[i]);
  int r = rados_read_op_operate(op, h->s->io, oid, h->ordered ? LIBRADOS_OPERATION_ORDER_READS_WRITES : 0);
  rados_release_read_op(op);
  for (int i = 0; i < n && r == 0; i++)
    r = prval[i] < 0 ? prval[i] : got[i] != p[i].len ? -EIO : 0; /* short: the pack ends first */
  if (r == -ENOENT && k > 0) {
    uint64_t size;
    time_t mtime;
    stripe_oid(oid, h->id, 0);
    r = rados_stat(h->s->io, oid, &size, &mtime) == -ENOENT ? -ENOENT : -EIO;
  }
  return r;
}

/* The iovecs' bytes cut at stripe boundaries, one op per stripe (and per
 * MAX_READ_EXTENTS pieces). */
static int rs_read(struct pack_obj *ho, struct iovec *iov, int n, uint64_t off)
{
  struct rados_pack *h = rp(ho);
  struct piece p[MAX_READ_EXTENTS];
  int np = 0, r = 0;
  uint64_t k = 0;
  for (int i = 0; i < n && r == 0; i++) {
    char *buf = iov[i].iov_base;
    size_t len = iov[i].iov_len;
    while (len > 0 && r == 0) {
      uint64_t in = off % STRIPE;
      size_t m = len < STRIPE - in ? len : (size_t)(STRIPE - in);
      if (np > 0 && (np == MAX_READ_EXTENTS || off / STRIPE != k)) {
        r = read_stripe(h, k, p, np);
        np = 0;
      }
      k = off / STRIPE;
      p[np++] = (struct piece){buf, m, in};
      buf += m;
      len -= m;
      off += m;
    }
  }
  if (r == 0 && np > 0)
    r = read_stripe(h, k, p, np);
  return r;
}

static void rs_hint(struct pack_obj *h, enum pack_hint what, uint64_t off, uint64_t len) {}

/* The contiguous prefix of the stripes: each full one, up to the first that
 * is short or missing.  A pack with no object (registered, its creation cut
 * short) is 0 bytes. */
static int rs_size(struct pack_obj *ho, uint64_t *size)
{
  struct rados_pack *h = rp(ho);
  {
    LOCK_GUARD(&h->mu);
    wait_writes(h, h->submitted);
  }
  int r = 0;
  *size = 0;
  for (uint64_t k = 0; r == 0; k++) {
    char oid[OID_LEN];
    uint64_t sz;
    time_t mtime;
    stripe_oid(oid, h->id, k);
    if ((r = rados_stat(h->s->io, oid, &sz, &mtime)) == -ENOENT)
      return 0;
    if (r == 0)
      *size = k * STRIPE + sz;
    if (r == 0 && sz < STRIPE)
      break;
  }
  return r;
}

/* Removes pack id's stripes from first on, until WINDOW_STRIPES in a row are
 * not there (a crash's writes in flight reach no further past a gap). */
static int remove_stripes(struct rados_store *s, uint32_t id, uint64_t first)
{
  int r = 0;
  for (uint64_t k = first, missing = 0; missing < WINDOW_STRIPES && r == 0; k++) {
    char oid[OID_LEN];
    stripe_oid(oid, id, k);
    r = rados_remove(s->io, oid);
    missing = r == -ENOENT ? missing + 1 : 0;
    if (r == -ENOENT)
      r = 0;
  }
  return r;
}

static int rs_truncate(struct pack_obj *ho, uint64_t size)
{
  struct rados_pack *h = rp(ho);
  LOCK_GUARD(&h->mu);
  wait_writes(h, h->submitted);
  uint64_t last = size ? (size - 1) / STRIPE : 0;
  char oid[OID_LEN];
  stripe_oid(oid, h->id, last);
  int r = atomic_load(&h->s->lost);
  if (r == 0)
    r = remove_stripes(h->s, h->id, last + 1);
  return r ? r : rados_trunc(h->s->io, oid, size - last * STRIPE);
}

/* The writes so far acknowledged.  After recovery also no stripe beyond the
 * pack's end: a GC removal that a crash cut short (the first stripe gone,
 * later ones not) leaves a pack that recovery gives a new header, and the
 * stale stripes must not read as its continuation. */
static int rs_sync(struct pack_obj *ho, enum pack_sync how)
{
  struct rados_pack *h = rp(ho);
  int r;
  {
    LOCK_GUARD(&h->mu);
    wait_writes(h, h->submitted);
    r = h->err ? h->err : atomic_load(&h->s->lost);
  }
  uint64_t size;
  if (r == 0 && how == PACK_SYNC_RECOVERED && (r = rs_size(ho, &size)) == 0)
    r = remove_stripes(h->s, h->id, size ? (size - 1) / STRIPE + 1 : 1);
  return r;
}

static void rs_close(struct pack_obj *ho)
{
  struct rados_pack *h = rp(ho);
  pthread_mutex_lock(&h->mu);
  wait_writes(h, h->submitted); /* the completions point into the handle */
  pthread_mutex_unlock(&h->mu);
  pthread_mutex_destroy(&h->mu);
  pthread_cond_destroy(&h->done_cond);
  free(h);
}

/* The index object first, then the pack, then its registration: a crash
 * between leaves a pack without index (rescanned) or a registered pack
 * without object (empty), never an index without pack. */
static int rs_remove(struct cas_pack_store *st, uint32_t id)
{
  struct rados_store *s = rs(st);
  char idx[OID_LEN];
  oid_of(idx, "idx", id);
  int r = atomic_load(&s->lost);
  if (r == 0 && (r = rados_remove(s->io, idx)) == -ENOENT)
    r = 0;
  if (r == 0) /* the first stripe first: a reader of another then learns the pack is gone */
    r = remove_stripes(s, id, 0);
  if (r == 0)
    r = registry_set(s, id, false);
  return r;
}

/* Removals are acknowledged once durable. */
static int rs_sync_removals(struct cas_pack_store *s) { return 0; }

/* ---- the store: connection, lock, lease ---- */

static int take_lock(struct rados_store *s, uint8_t flags)
{
  struct timeval d = {.tv_sec = s->lease_s};
  return s->read_only ? rados_lock_shared(s->io, LOCK_OID, LOCK_NAME, s->cookie, "ro", "vmrp reader", &d, flags)
                      : rados_lock_exclusive(s->io, LOCK_OID, LOCK_NAME, s->cookie, "vmrp store", &d, flags);
}

/* Renews the lease every third of it; gives it up as lost when it could not
 * be renewed for a whole lease or another holds it. */
static void *renew_main(void *arg)
{
  struct rados_store *s = arg;
  int64_t renewed = time_mono_ms();
  pthread_mutex_lock(&s->mu);
  while (!s->stopping && !atomic_load(&s->lost)) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += s->lease_s / 3 > 0 ? s->lease_s / 3 : 1;
    if (pthread_cond_timedwait(&s->stop_cond, &s->mu, &until) != ETIMEDOUT || s->stopping)
      continue;
    pthread_mutex_unlock(&s->mu);
    int64_t t0 = time_mono_ms();
    int r = take_lock(s, LIBRADOS_LOCK_FLAG_MUST_RENEW);
    if (r == 0)
      renewed = t0;
    else if (r == -ENOENT || r == -EBUSY || t0 - renewed >= (int64_t)s->lease_s * 1000) {
      log_error("cas", "store %s: its lease is lost (%s); every write of it fails from now on", s->where,
                strerror(-r));
      atomic_store(&s->lost, -ENOLCK);
    } else {
      log_warn("cas", "store %s: renewing its lease failed (%s); retrying", s->where, strerror(-r));
    }
    pthread_mutex_lock(&s->mu);
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

/* Takes the lock, waiting up to a lease for a crashed holder's to end. */
static int lock_store(struct rados_store *s)
{
  int64_t give_up = time_mono_ms() + ((int64_t)s->lease_s + 2) * 1000;
  int r;
  bool told = false;
  while ((r = take_lock(s, 0)) == -EBUSY && time_mono_ms() < give_up) {
    if (!told)
      log_warn("cas", "store %s: locked by another client; waiting up to %d s for its lease to end", s->where,
               s->lease_s + 2);
    told = true;
    sleep(1);
  }
  if (r == -EBUSY)
    log_error("cas", "store %s: in use by another process (its lock is held)", s->where);
  if (r < 0)
    return r;
  s->locked = true;
  if ((r = -pthread_create(&s->renewer, NULL, renew_main, s)) == 0)
    s->renewing = true;
  return r;
}

static void rs_free(struct cas_pack_store *st)
{
  struct rados_store *s = rs(st);
  if (s->renewing) {
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_signal(&s->stop_cond);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->renewer, NULL);
  }
  if (s->locked)
    rados_unlock(s->io, LOCK_OID, LOCK_NAME, s->cookie);
  if (s->io)
    rados_ioctx_destroy(s->io);
  if (s->cluster)
    rados_shutdown(s->cluster);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->stop_cond);
  free(s->where);
  free(s);
}

static const struct pack_store_ops rs_ops = {
    .create = rs_create,
    .open = rs_open,
    .close = rs_close,
    .append = rs_append,
    .sync = rs_sync,
    .read = rs_read,
    .hint = rs_hint,
    .size = rs_size,
    .truncate = rs_truncate,
    .idx_put = rs_idx_put,
    .idx_get = rs_idx_get,
    .remove = rs_remove,
    .sync_removals = rs_sync_removals,
    .conf_put = rs_conf_put,
    .conf_get = rs_conf_get,
    .list = rs_list,
    .free = rs_free,
};

/* A rados location's parameters. */
struct rados_params {
  char *pool, *ns, *conf, *user;
  int lease_s;
};

static void params_free(struct rados_params *p)
{
  free(p->pool);
  free(p->ns);
  free(p->conf);
  free(p->user);
}

/* "key=value" pairs separated by commas; every value non-empty, every key
 * known and given once, pool given. */
static int params_parse(const char *text, struct rados_params *p)
{
  *p = (struct rados_params){.lease_s = DEFAULT_LEASE_S};
  size_t n = strlen(text);
  if (n == 0 || text[0] == ',' || text[n - 1] == ',' || strstr(text, ",,"))
    return -EINVAL;
  CLEANUP_FREE char *copy = strdup(text);
  if (!copy)
    return -ENOMEM;
  bool lease_set = false;
  char *save = NULL;
  for (char *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
    char *v = strchr(kv, '=');
    if (!v || !v[1])
      return -EINVAL;
    *v++ = 0;
    char **slot = !strcmp(kv, "pool")        ? &p->pool
                  : !strcmp(kv, "namespace") ? &p->ns
                  : !strcmp(kv, "conf")      ? &p->conf
                  : !strcmp(kv, "user")      ? &p->user
                                             : NULL;
    if (slot) {
      if (*slot)
        return -EINVAL;
      if (!(*slot = strdup(v)))
        return -ENOMEM;
      continue;
    }
    char *end;
    long secs = strtol(v, &end, 10);
    if (strcmp(kv, "lease") || lease_set || *end || secs < 3 || secs > 3600)
      return -EINVAL;
    p->lease_s = (int)secs;
    lease_set = true;
  }
  return p->pool ? 0 : -EINVAL;
}

/* Sets a timeout to ours where the ceph.conf left Ceph's default (300 s to
 * mount, none for ops): a value set here would win over the file's. */
static int bound_timeout(rados_t cluster, const char *option, double ceph_default, const char *ours)
{
  char v[32];
  int r = rados_conf_get(cluster, option, v, sizeof v);
  if (r == 0 && strtod(v, NULL) == ceph_default)
    r = rados_conf_set(cluster, option, ours);
  return r;
}

static int connect_cluster(struct rados_store *s, const struct rados_params *p)
{
  int r = rados_create(&s->cluster, p->user ? p->user : "admin");
  if (r < 0) {
    s->cluster = NULL;
    return r;
  }
  if ((r = rados_conf_read_file(s->cluster, p->conf)) < 0) {
    log_error("cas", "store %s: cannot read the Ceph configuration %s: %s", s->where,
              p->conf ? p->conf : "($CEPH_CONF or Ceph's default paths)", strerror(-r));
    return r;
  }
  if ((r = bound_timeout(s->cluster, "client_mount_timeout", 300, CONNECT_TIMEOUT_S)) < 0 ||
      (r = bound_timeout(s->cluster, "rados_mon_op_timeout", 0, CONNECT_TIMEOUT_S)) < 0 ||
      (r = bound_timeout(s->cluster, "rados_osd_op_timeout", 0, OP_TIMEOUT_S)) < 0)
    return r;
  if ((r = rados_connect(s->cluster)) < 0) {
    log_error("cas", "store %s: cannot connect to the Ceph cluster as client.%s: %s", s->where,
              p->user ? p->user : "admin", strerror(-r));
    return r;
  }
  if ((r = rados_ioctx_create(s->cluster, p->pool, &s->io)) < 0) {
    s->io = NULL;
    log_error("cas", "store %s: cannot open pool %s: %s", s->where, p->pool,
              r == -ENOENT ? "no such pool" : strerror(-r));
    return r;
  }
  rados_ioctx_set_namespace(s->io, p->ns);
  snprintf(s->cookie, sizeof s->cookie, "%" PRIx64, rados_get_instance_id(s->cluster));
  return 0;
}

int pack_rados_open(const char *params, bool create, bool read_only, struct cas_pack_store **out)
{
  struct rados_params p;
  int r = params_parse(params, &p);
  if (r < 0) {
    if (r == -EINVAL)
      log_error("cas", "store location rados:%s: expected pool=NAME[,namespace=NS][,conf=FILE][,user=ID]"
                       "[,lease=SECONDS (3-3600)]", params);
    params_free(&p);
    return r;
  }
  struct rados_store *s = calloc(1, sizeof *s);
  if (!s) {
    params_free(&p);
    return -ENOMEM;
  }
  s->base.ops = &rs_ops;
  s->base.pack_target = PACK_TARGET;
  s->read_only = read_only;
  s->lease_s = p.lease_s;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->stop_cond, NULL);
  r = asprintf(&s->where, "%s/%s", p.pool, p.ns ? p.ns : "") < 0 ? (s->where = NULL, -ENOMEM) : 0;
  if (r == 0)
    r = connect_cluster(s, &p);
  if (r == 0)
    r = lock_store(s);
  params_free(&p);
  if (r < 0) {
    rs_free(&s->base);
    return r;
  }
  *out = &s->base;
  return 0;
}
