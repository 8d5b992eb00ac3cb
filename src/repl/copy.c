/*
 * copy.c — copying a tree from a peer's store into this one (repl.h).
 *
 * The walk is top-down over the protocol and the stores are bottom-up:
 *   - a node is fetched and checked (re-hashed) but held in memory, not
 *     stored, until everything below it is stored;
 *   - a child the target already has is skipped with its whole subtree (the
 *     closure invariant), which is what makes a copy incremental against
 *     anything in the target: earlier copies, other copies, local captures;
 *   - the chunks of all missing leaves under one level-1 node (up to 65536
 *     chunks, 4 GiB at 64 KiB) are fetched as one set, split into batches
 *     that run on `streams` connections at once, each record imported as it
 *     arrives (its re-hash runs on the stream's thread, so the cores share
 *     the work), and only then are those leaves and their parent stored.
 * Memory: one level-1 node's leaves (256 × 8 KiB) plus the nodes on the path
 * and one record per stream.
 *
 * Progress: `covered` grows as subtrees are skipped or filled, in bytes of
 * the disk; a checkpoint (about once a second, and when a run fails) syncs
 * the store first, so what it reports is durable.  After a crash the copy
 * starts again from the top; what arrived before is skipped by the same
 * has-check, so nothing is sent twice (chunks stored but whose leaf was not
 * are found one by one).
 *
 * Bad records: an address a checked record should have brought and did not
 * (damaged, cut stream) is asked for again, up to REFETCH_ROUNDS times; the
 * source saying it does not have one is final (-ENOENT).
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/failpoint.h"
#include "common/log.h"
#include "common/pool.h"
#include "repl/internal.h"
#include "snap/tree.h"

#define NODE_MAX (sizeof(struct cas_node_hdr) + TREE_FANOUT * CAS_ADDR_LEN)
#define CHUNK_BATCH 256u   /* chunks per request: a leaf, 16 MiB raw at 64 KiB */
#define NODE_BATCH 256u
#define MAX_STREAMS 16u
#define REFETCH_ROUNDS 3
#define CHECKPOINT_US 1000000

enum want { PENDING = 0, GOT, MISSING };

/* A node fetched and checked, not stored yet. */
struct node {
  struct cas_addr addr;
  uint8_t *rec;
  uint32_t rec_len;
  uint8_t content[NODE_MAX];
  size_t len;
};

struct copy {
  struct cas *cas;
  const struct repl_peer *peer;
  const struct repl_copy_opts *o;
  struct repl_copy_state *st;
  uint32_t chunk_size;
  pthread_mutex_t lock;   /* st, checkpoint timing, stop */
  int64_t last_checkpoint_us, start_us;
  int stop;               /* the checkpoint's non-zero answer (callback or sync) */
  bool in_checkpoint;
  bool repair;            /* records replace damaged copies (repl_repair_object) */
  char path[96];          /* the objects request's, naming the peer's store (its key domain) */
  CURL *handles[MAX_STREAMS];
  unsigned streams;
};

static int64_t now_us(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void cover(struct copy *c, uint64_t bytes)
{
  pthread_mutex_lock(&c->lock);
  c->st->covered += bytes;
  if (c->st->size && c->st->covered > c->st->size)
    c->st->covered = c->st->size;
  pthread_mutex_unlock(&c->lock);
}

/* The copy's answer once stopped: the callback's error, or -EINTR. */
static int stop_status_locked(const struct copy *c) { return c->stop < 0 ? c->stop : c->stop ? -EINTR : 0; }

/* Syncs and reports when a second has passed (or force).  The state is
 * taken before the sync, so what is reported is durable; the sync and the
 * report (a metadata commit) run outside c->lock, so the streams go on
 * importing meanwhile (both together take a good part of a second on a busy
 * disk, and under the lock every stream waited for them).  One checkpoint
 * runs at a time; force is only used once the streams are done. */
static int checkpoint(struct copy *c, bool force)
{
  struct repl_copy_state snap;
  pthread_mutex_lock(&c->lock);
  int64_t t = now_us();
  bool due = !c->stop && !c->in_checkpoint && (force || t - c->last_checkpoint_us >= CHECKPOINT_US);
  if (due) {
    c->last_checkpoint_us = t;
    c->in_checkpoint = true;
    snap = *c->st;
  }
  pthread_mutex_unlock(&c->lock);
  if (due) {
    int stop = cas_sync(c->cas);
    if (stop == 0 && c->o->checkpoint)
      stop = c->o->checkpoint(c->o->ctx, &snap);
    pthread_mutex_lock(&c->lock);
    c->in_checkpoint = false;
    if (!c->stop)
      c->stop = stop;
    pthread_mutex_unlock(&c->lock);
  }
  pthread_mutex_lock(&c->lock);
  int r = stop_status_locked(c);
  pthread_mutex_unlock(&c->lock);
  return r;
}

/* Sleeps as long as the bytes received so far run ahead of the rate limit. */
static void pace(struct copy *c)
{
  if (!c->o->max_bytes_per_s)
    return;
  pthread_mutex_lock(&c->lock);
  int64_t due = c->start_us + (int64_t)(c->st->bytes_received * 1000000.0 / (double)c->o->max_bytes_per_s);
  pthread_mutex_unlock(&c->lock);
  int64_t t = now_us();
  if (due > t)
    usleep((useconds_t)(due - t > 1000000 ? 1000000 : due - t));
}

/* ---- address sets ------------------------------------------------------------ */

/* An address and its position in a list, sorted by address for lookups
 * while the list itself stays in disk order (the order a tree build
 * grouped chunks in: batches cut in that order carry whole groups). */
struct pos_ent {
  struct cas_addr a;
  size_t pos;
};

static int pos_cmp(const void *x, const void *y) { return memcmp(x, y, CAS_ADDR_LEN); }

static struct pos_ent *index_build(const struct cas_addr *a, size_t n)
{
  struct pos_ent *ix = malloc((n + 1) * sizeof *ix);
  for (size_t i = 0; ix && i < n; i++)
    ix[i] = (struct pos_ent){a[i], i};
  if (ix)
    qsort(ix, n, sizeof *ix, pos_cmp);
  return ix;
}

static long index_find(const struct pos_ent *ix, size_t n, const struct cas_addr *a)
{
  const struct pos_ent *f = bsearch(a, ix, n, sizeof *ix, pos_cmp);
  return f ? (long)f->pos : -1;
}

/* Drops repeated addresses, keeping the first of each in place (and its
 * tag, when tags is not NULL); the new count.  -ENOMEM as (size_t)-1. */
static size_t dedup(struct cas_addr *a, uint32_t *tags, size_t n)
{
  struct pos_ent *ix = index_build(a, n);
  if (!ix)
    return (size_t)-1;
  bool *drop = calloc(n + 1, 1);
  if (!drop) {
    free(ix);
    return (size_t)-1;
  }
  for (size_t i = 0, j; i < n; i = j) { /* a run of one address: keep its first position */
    size_t first = ix[i].pos;
    for (j = i + 1; j < n && !memcmp(&ix[j].a, &ix[i].a, CAS_ADDR_LEN); j++)
      first = ix[j].pos < first ? ix[j].pos : first;
    for (size_t m = i; m < j; m++)
      drop[ix[m].pos] = ix[m].pos != first;
  }
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (!drop[i]) {
      if (tags)
        tags[k] = tags[i];
      a[k++] = a[i];
    }
  free(drop);
  free(ix);
  return k;
}

/* ---- a set of addresses over several streams --------------------------------- */

struct fetch {
  struct copy *c;
  const struct cas_addr *addrs; /* disk order, unique */
  size_t n;
  struct pos_ent *ix;           /* addrs sorted */
  _Atomic uint8_t *state;       /* enum want per address, marked as records arrive */
  struct node **nodes;          /* keep mode: per address, the node fetched */
  bool keep;                    /* nodes: check and keep; chunks: import */
  size_t *starts;               /* batch b is [starts[b], starts[b + 1]) */
  size_t nbatches;
  atomic_uint next_handle;
};

/* One objects request: the frames of its response as they arrive. */
struct rx {
  struct fetch *f;
  uint8_t hdr[REPL_FRAME_HDR];
  size_t hlen;
  uint8_t *payload;
  uint32_t need, plen;
  bool ended;
  int err;
};

static void on_record(struct rx *x)
{
  struct fetch *f = x->f;
  struct copy *c = f->c;
  struct cas_record_info info;
  int r;
  if (f->keep) {
    struct node *nd = calloc(1, sizeof *nd);
    if (!nd) {
      x->err = -ENOMEM;
      return;
    }
    r = cas_record_check(c->cas, x->payload, x->plen, &info, nd->content, sizeof nd->content);
    long i = r == 0 && info.type == CAS_NODE && info.n == 1 ? index_find(f->ix, f->n, &info.addrs[0]) : -1;
    if (i < 0 || f->state[i] == GOT) {
      free(nd);
    } else {
      nd->addr = info.addrs[0];
      nd->len = info.raw_len;
      nd->rec = x->payload;
      nd->rec_len = x->plen;
      x->payload = NULL;
      f->nodes[i] = nd;
      f->state[i] = GOT;
    }
  } else {
    uint64_t stored = 0;
    r = failpoint_err("repl.record.write");
    if (r == 0)
      r = c->repair ? cas_record_repair(c->cas, x->payload, x->plen, &info)
                    : cas_record_import(c->cas, x->payload, x->plen, &info, &stored);
    if (r == 0) {
      uint64_t got = 0;
      for (unsigned k = 0; k < info.n; k++) {
        long i = index_find(f->ix, f->n, &info.addrs[k]);
        uint8_t was = PENDING;
        if (i >= 0 && atomic_compare_exchange_strong(&f->state[i], &was, GOT))
          got++;
      }
      pthread_mutex_lock(&c->lock);
      c->st->bytes_stored += stored;
      c->st->records_received++;
      c->st->covered += got * c->chunk_size;
      if (c->st->covered > c->st->size)
        c->st->covered = c->st->size;
      pthread_mutex_unlock(&c->lock);
    } else if (r != -EIO) {
      x->err = r;
    }
  }
  if (r == -EIO) /* damaged on the way: its addresses stay pending and are asked for again */
    log_warn("repl", "a damaged record from region %s was rejected; its objects are fetched again", c->peer->name);
  int cr = checkpoint(c, false); /* nodes too: a long batch of them still notices a stop */
  if (cr < 0 && !x->err)
    x->err = cr;
}

static void on_frame(struct rx *x)
{
  switch (x->hdr[0]) {
  case REPL_FRAME_RECORD:
    on_record(x);
    break;
  case REPL_FRAME_MISSING: {
    long i = x->plen == CAS_ADDR_LEN ? index_find(x->f->ix, x->f->n, (const struct cas_addr *)x->payload) : -1;
    uint8_t was = PENDING;
    if (i >= 0)
      atomic_compare_exchange_strong(&x->f->state[i], &was, MISSING);
    break;
  }
  case REPL_FRAME_END:
    x->ended = true;
    break;
  default:
    x->err = -EPROTO;
  }
}

/* The copy was stopped (by its checkpoint, on another stream): every
 * stream ends at once rather than after its batch. */
static bool stopped(struct copy *c)
{
  pthread_mutex_lock(&c->lock);
  bool s = c->stop != 0;
  pthread_mutex_unlock(&c->lock);
  return s;
}

static int on_xfer(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
  (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
  return stopped(((struct rx *)ctx)->f->c); /* non-zero aborts the transfer */
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *ctx)
{
  struct rx *x = ctx;
  struct copy *c = x->f->c;
  size_t len = size * nmemb, used = 0;
  pthread_mutex_lock(&c->lock);
  c->st->bytes_received += len;
  if (c->stop)
    x->err = stop_status_locked(c);
  pthread_mutex_unlock(&c->lock);
  while (used < len && !x->err) {
    if (x->hlen < REPL_FRAME_HDR) {
      size_t k = REPL_FRAME_HDR - x->hlen < len - used ? REPL_FRAME_HDR - x->hlen : len - used;
      memcpy(x->hdr + x->hlen, data + used, k);
      x->hlen += k;
      used += k;
      if (x->hlen < REPL_FRAME_HDR)
        break;
      uint32_t le;
      memcpy(&le, x->hdr + 4, 4);
      x->need = le32toh(le);
      x->plen = 0;
      if (x->need > CAS_MAX_OBJECT + (64u << 10) || x->ended) {
        x->err = -EPROTO;
        break;
      }
      free(x->payload);
      x->payload = malloc(x->need ? x->need : 1);
      if (!x->payload) {
        x->err = -ENOMEM;
        break;
      }
    }
    size_t k = x->need - x->plen < len - used ? x->need - x->plen : len - used;
    memcpy(x->payload + x->plen, data + used, k);
    x->plen += (uint32_t)k;
    used += k;
    if (x->plen == x->need) {
      on_frame(x);
      x->hlen = 0;
    }
  }
  if (x->err)
    return 0; /* ends the transfer */
  pace(c);
  return len;
}

static int fetch_batch(struct fetch *f, CURL *h, const struct cas_addr *want, size_t k)
{
  struct copy *c = f->c;
  struct rx x = {.f = f};
  struct curl_slist *hdrs = NULL; /* each request signed: a signature is good once */
  int r = repl_curl_sign(h, c->peer, NULL, "POST", c->path, want, k * CAS_ADDR_LEN,
                         "application/octet-stream", &hdrs);
  if (r < 0)
    return r == -ENOMEM ? r : -EACCES;
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)want);
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)(k * CAS_ADDR_LEN));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_xfer);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  CURLcode cr = curl_easy_perform(h);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
  curl_slist_free_all(hdrs);
  free(x.payload);
  if (!x.err && cr == CURLE_ABORTED_BY_CALLBACK) { /* stopped meanwhile */
    pthread_mutex_lock(&c->lock);
    x.err = stop_status_locked(c);
    pthread_mutex_unlock(&c->lock);
  }
  if (x.err)
    return x.err == -EPROTO ? -EHOSTUNREACH : x.err;
  if (cr != CURLE_OK)
    return repl_curl_error(c->peer, c->path, cr);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (status == 401 || status == 403) {
    log_error("repl", "region %s refused this region's peer signature", c->peer->name);
    return -EACCES;
  }
  if (status != 200) {
    log_warn("repl", "objects request at region %s: HTTP %ld", c->peer->name, status);
    return -EHOSTUNREACH;
  }
  if (!x.ended) /* cut: what did not arrive is asked for again */
    log_warn("repl", "an objects stream from region %s ended early", c->peer->name);
  return 0;
}

static void *fetch_init(void *ctx)
{
  struct fetch *f = ctx;
  unsigned i = atomic_fetch_add(&f->next_handle, 1);
  return f->c->handles[i % f->c->streams];
}

static int fetch_run(void *ctx, void *state, uint64_t item)
{
  struct fetch *f = ctx;
  size_t from = f->starts[item], to = f->starts[item + 1];
  /* only what is still pending goes out: a group an earlier batch brought
   * whole, or a refetch round, leaves less */
  struct cas_addr *want = malloc((to - from) * sizeof *want);
  if (!want)
    return -ENOMEM;
  size_t k = 0;
  for (size_t i = from; i < to; i++)
    if (f->state[i] == PENDING)
      want[k++] = f->addrs[i];
  int r = k ? fetch_batch(f, state, want, k) : 0;
  free(want);
  return r;
}

static void fetch_fini(void *ctx, void *state) { (void)ctx, (void)state; }

/* Batches of at most max addresses, cut only where the tag changes (a
 * leaf's chunks, which a tree build grouped together, travel together)
 * unless one tag alone has more. */
static size_t *cut_batches(const uint32_t *tags, size_t n, size_t max, size_t *nb)
{
  size_t *starts = malloc((n + 2) * sizeof *starts), b = 0, i = 0;
  if (!starts)
    return NULL;
  while (i < n) {
    starts[b++] = i;
    size_t end = i + max < n ? i + max : n;
    if (tags && end < n && tags[end] == tags[end - 1]) { /* back to the start of the tag cut through */
      size_t j = end;
      while (j > i && tags[j - 1] == tags[end])
        j--;
      if (j > i)
        end = j;
    }
    i = end;
  }
  starts[b] = n;
  *nb = b;
  return starts;
}

/* Fetches addrs (repeats dropped here, *n updated; the order kept): chunks
 * are imported; with nodes (keep), nodes[i] gets the node of addrs[i].
 * tags (may be NULL, compacted with addrs) say where batches may be cut. */
static int fetch_all(struct copy *c, struct cas_addr *addrs, uint32_t *tags, size_t *n, struct node **nodes)
{
  if ((*n = dedup(addrs, tags, *n)) == (size_t)-1)
    return -ENOMEM;
  if (*n == 0)
    return 0;
  struct fetch f = {.c = c, .addrs = addrs, .n = *n, .nodes = nodes, .keep = nodes != NULL};
  f.starts = cut_batches(tags, *n, nodes ? NODE_BATCH : CHUNK_BATCH, &f.nbatches);
  f.state = calloc(*n, sizeof *f.state);
  f.ix = index_build(addrs, *n);
  int r = f.state && f.ix && f.starts ? 0 : -ENOMEM;
  static const struct pool_ops ops = {fetch_init, fetch_run, fetch_fini};
  for (int round = 0; r == 0; round++) {
    uint64_t batches = f.nbatches;
    atomic_store(&f.next_handle, 0);
    r = pool_run(batches < c->streams ? (unsigned)batches : c->streams, batches, &ops, &f);
    size_t pending = 0, missing = 0;
    for (size_t i = 0; i < f.n; i++) {
      pending += f.state[i] == PENDING;
      missing += f.state[i] == MISSING;
    }
    if (r < 0)
      break;
    if (missing) {
      log_error("repl", "region %s no longer has %zu object(s) of the tree being copied", c->peer->name, missing);
      r = -ENOENT;
    } else if (pending && round == REFETCH_ROUNDS) {
      log_error("repl", "%zu object(s) from region %s stayed damaged after %d refetches", pending, c->peer->name,
                REFETCH_ROUNDS);
      r = -EIO;
    } else if (pending) {
      pthread_mutex_lock(&c->lock);
      c->st->refetched += pending;
      pthread_mutex_unlock(&c->lock);
    } else {
      break;
    }
  }
  free((void *)f.state);
  free(f.ix);
  free(f.starts);
  return r;
}

/* ---- the walk ------------------------------------------------------------------ */

static void node_free(struct node *n)
{
  if (n) {
    free(n->rec);
    free(n);
  }
}

static int node_store(struct copy *c, struct node *n)
{
  struct cas_record_info info;
  uint64_t stored = 0;
  int r = failpoint_err("repl.record.write");
  if (r == 0)
    r = cas_record_import(c->cas, n->rec, n->rec_len, &info, &stored);
  pthread_mutex_lock(&c->lock);
  c->st->bytes_stored += stored;
  c->st->records_received++;
  pthread_mutex_unlock(&c->lock);
  return r;
}

/* The children of a checked node. */
static int node_children(const struct node *n, struct cas_node_hdr *h, const uint8_t **ents)
{
  if (n->len < sizeof *h)
    return -EIO;
  memcpy(h, n->content, sizeof *h);
  if (n->len != sizeof *h + (size_t)h->count * CAS_ADDR_LEN || h->count > TREE_FANOUT)
    return -EIO;
  *ents = n->content + sizeof *h;
  return 0;
}

/* Bytes of the disk child j of a node at level L (at off) covers. */
static uint64_t child_span(struct copy *c, unsigned level, uint64_t off, unsigned j, uint64_t *child_off)
{
  uint64_t s = (uint64_t)c->chunk_size << (8 * level);
  *child_off = off + j * s;
  if (*child_off >= c->st->size)
    return 0;
  return *child_off + s > c->st->size ? c->st->size - *child_off : s;
}

/* The children of n the target lacks, into *out (malloc'd); the others are
 * covered. */
static int missing_children(struct copy *c, const struct node *n, unsigned level, uint64_t off,
                            struct cas_addr **out, size_t *k, uint64_t **offs)
{
  struct cas_node_hdr h;
  const uint8_t *ents;
  int r = node_children(n, &h, &ents);
  if (r < 0)
    return r;
  *out = malloc((h.count + 1) * sizeof **out);
  if (offs)
    *offs = malloc((h.count + 1) * sizeof **offs);
  if (!*out || (offs && !*offs))
    return -ENOMEM;
  *k = 0;
  for (unsigned j = 0; j < h.count; j++) {
    struct cas_addr a;
    memcpy(a.b, ents + (size_t)j * CAS_ADDR_LEN, CAS_ADDR_LEN);
    uint64_t coff, span = child_span(c, level, off, j, &coff);
    if (cas_addr_is_zero(&a) || cas_has(c->cas, &a)) {
      cover(c, span);
      continue;
    }
    if (offs)
      (*offs)[*k] = coff;
    (*out)[(*k)++] = a;
  }
  return 0;
}

/* Fills in the chunks of leaves[0..n), then stores the leaves. */
static int copy_leaves(struct copy *c, struct node **leaves, size_t n, const uint64_t *offs)
{
  size_t cap = n * TREE_FANOUT + 1, k = 0;
  struct cas_addr *want = malloc(cap * sizeof *want);
  uint32_t *leaf_of = malloc(cap * sizeof *leaf_of);
  int r = want && leaf_of ? 0 : -ENOMEM;
  for (size_t i = 0; r == 0 && i < n; i++) {
    struct cas_addr *m = NULL;
    size_t mk = 0;
    r = missing_children(c, leaves[i], 0, offs[i], &m, &mk, NULL);
    if (r == 0)
      memcpy(want + k, m, mk * sizeof *m);
    for (size_t j = 0; r == 0 && j < mk; j++)
      leaf_of[k + j] = (uint32_t)i;
    k += r == 0 ? mk : 0;
    free(m);
  }
  if (r == 0)
    r = fetch_all(c, want, leaf_of, &k, NULL);
  for (size_t i = 0; r == 0 && i < n; i++)
    r = node_store(c, leaves[i]);
  free(want);
  free(leaf_of);
  return r;
}

/* Copies what is missing below n (at level >= 1, at off), then stores n. */
static int copy_node(struct copy *c, struct node *n, unsigned level, uint64_t off)
{
  struct cas_addr *kids = NULL;
  uint64_t *offs = NULL;
  size_t k = 0;
  int r = missing_children(c, n, level, off, &kids, &k, &offs);
  struct node **got = r == 0 ? calloc(k + 1, sizeof *got) : NULL;
  if (r == 0 && !got)
    r = -ENOMEM;
  /* fetch_all drops repeats (the same subtree twice): map each child to its node */
  struct cas_addr *uniq = r == 0 ? malloc((k + 1) * sizeof *uniq) : NULL;
  if (r == 0 && !uniq)
    r = -ENOMEM;
  size_t ks = k;
  if (r == 0) {
    memcpy(uniq, kids, k * sizeof *kids);
    r = fetch_all(c, uniq, NULL, &ks, got);
  }
  struct pos_ent *ix = r == 0 ? index_build(uniq, ks) : NULL;
  struct node **ordered = r == 0 ? calloc(k + 1, sizeof *ordered) : NULL;
  if (r == 0 && (!ordered || !ix))
    r = -ENOMEM;
  for (size_t i = 0; r == 0 && i < k; i++) {
    long f = index_find(ix, ks, &kids[i]);
    ordered[i] = f >= 0 ? got[f] : NULL;
    if (!ordered[i])
      r = -EIO;
  }
  free(ix);
  if (r == 0 && level == 1) {
    /* the same leaf twice: fill it once, store it once */
    size_t u = 0;
    struct node **leaves = calloc(k + 1, sizeof *leaves);
    uint64_t *uoffs = calloc(k + 1, sizeof *uoffs);
    r = leaves && uoffs ? 0 : -ENOMEM;
    for (size_t i = 0; r == 0 && i < k; i++) {
      bool seen = false;
      for (size_t j = 0; j < u && !seen; j++)
        seen = leaves[j] == ordered[i];
      if (seen) {
        cover(c, child_span(c, 1, off, 0, &(uint64_t){0})); /* its chunks are filled with the first */
        continue;
      }
      uoffs[u] = offs[i];
      leaves[u++] = ordered[i];
    }
    if (r == 0)
      r = copy_leaves(c, leaves, u, uoffs);
    free(leaves);
    free(uoffs);
  }
  for (size_t i = 0; r == 0 && level > 1 && i < k; i++) {
    if (cas_has(c->cas, &ordered[i]->addr)) /* the same subtree, earlier in this node */
      cover(c, child_span(c, level, off, (unsigned)((offs[i] - off) / ((uint64_t)c->chunk_size << (8 * level))),
                          &(uint64_t){0}));
    else
      r = copy_node(c, ordered[i], level - 1, offs[i]);
  }
  if (r == 0)
    r = checkpoint(c, false);
  if (r == 0)
    r = node_store(c, n);
  for (size_t i = 0; got && i < ks; i++)
    node_free(got[i]);
  free(got);
  free(ordered);
  free(uniq);
  free(kids);
  free(offs);
  return r;
}

static int fetch_one(struct copy *c, const struct cas_addr *a, struct node **out)
{
  struct cas_addr one = *a;
  size_t n = 1;
  *out = NULL;
  return fetch_all(c, &one, NULL, &n, out);
}

static int copy_tree(struct copy *c, const struct cas_addr *root)
{
  struct node *rn = NULL, *top = NULL;
  int r = fetch_one(c, root, &rn);
  struct cas_node_hdr h;
  const uint8_t *ents;
  if (r == 0 && (node_children(rn, &h, &ents) < 0 || h.count != 1 || h.level < 1))
    r = -EIO; /* not a tree root */
  if (r == 0 && h.flags != cas_chunk_shift(c->cas)) {
    log_error("repl", "region %s stores %u-byte chunks, this region %u: trees cannot be copied", c->peer->name,
              1u << h.flags, c->chunk_size);
    r = -EXDEV;
  }
  struct cas_addr ta;
  if (r == 0) {
    pthread_mutex_lock(&c->lock);
    c->st->size = h.aux;
    pthread_mutex_unlock(&c->lock);
    memcpy(ta.b, ents, CAS_ADDR_LEN);
    unsigned height = h.level - 1u;
    if (cas_addr_is_zero(&ta) || cas_has(c->cas, &ta)) {
      cover(c, h.aux);
    } else if ((r = fetch_one(c, &ta, &top)) == 0) {
      uint64_t zero = 0;
      r = height == 0 ? copy_leaves(c, &top, 1, &zero) : copy_node(c, top, height, 0);
    }
  }
  if (r == 0)
    r = node_store(c, rn);
  node_free(top);
  node_free(rn);
  return r;
}

/* A copy's state and its connections (streams of them). */
static int copy_init(struct copy *c, struct cas *cas, const struct repl_peer *peer, const struct repl_copy_opts *o,
                     struct repl_copy_state *st)
{
  static const struct repl_copy_opts none;
  *c = (struct copy){.cas = cas, .peer = peer, .o = o ? o : &none, .st = st, .chunk_size = cas_chunk_size(cas)};
  c->streams = c->o->streams ? c->o->streams : 4;
  if (c->streams > MAX_STREAMS)
    c->streams = MAX_STREAMS;
  pthread_mutex_init(&c->lock, NULL);
  c->start_us = c->last_checkpoint_us = now_us();
  snprintf(c->path, sizeof c->path, REPL_PATH "objects%s%.32s", peer->domain && *peer->domain ? "?domain=" : "",
           peer->domain ? peer->domain : "");
  for (unsigned i = 0; i < c->streams; i++) {
    c->handles[i] = repl_curl(peer, c->path);
    if (!c->handles[i])
      return -ENOMEM;
  }
  return 0;
}

static void copy_fini(struct copy *c)
{
  for (unsigned i = 0; i < c->streams; i++)
    curl_easy_cleanup(c->handles[i]);
  pthread_mutex_destroy(&c->lock);
}

int repl_copy_tree(struct cas *cas, const struct repl_peer *peer, const struct cas_addr *root,
                   const struct repl_copy_opts *opts, struct repl_copy_state *st)
{
  struct copy c;
  int r = copy_init(&c, cas, peer, opts, st);
  if (r == 0 && cas_has(cas, root)) {
    struct tree_info ti;
    if ((r = tree_info(cas, root, &ti)) == 0)
      st->size = st->covered = ti.size;
  } else if (r == 0) {
    r = copy_tree(&c, root);
  }
  if (r == 0) {
    st->covered = st->size;
    r = checkpoint(&c, true);
  } else {
    /* a failed run (the peer went away) still records what it stored: the
     * next run starts from the last checkpoint, and without this one the
     * objects stored since would count as neither received nor stored */
    checkpoint(&c, true);
  }
  copy_fini(&c);
  return r;
}

int repl_repair_object(struct cas *cas, const struct repl_peer *peer, const struct cas_addr *a)
{
  struct repl_copy_state st = {0};
  struct repl_copy_opts o = {.streams = 1};
  struct copy c;
  int r = copy_init(&c, cas, peer, &o, &st);
  c.repair = true;
  struct cas_addr one = *a;
  size_t n = 1;
  if (r == 0)
    r = fetch_all(&c, &one, NULL, &n, NULL);
  copy_fini(&c);
  return r;
}
