/*
 * build.c — building trees: full images and incremental updates.
 *
 * Both builders work leaf by leaf: a leaf is a unit of work (256 chunks) that
 * one pool thread reads, hashes, compresses and stores through its cas_batch
 * (neighbouring chunks compressed together; the expensive parts run outside
 * locks), flushes, then stores the leaf node itself.  The
 * levels above are built afterwards on the calling thread from the sorted
 * list of new leaf addresses, taking untouched children from the base tree.
 * So every node is put after all of its children: the closure invariant.
 *
 * An incremental build touches only the leaves holding changed chunks (plus,
 * when the size changes, the leaves of the old and new last chunk, whose
 * extent changes) and their ancestors; everything else keeps its address
 * from the base.  Since the encoding is canonical, the result is the root a
 * full build of the same image would give (checked by test_model).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/cleanup.h"
#include "snap/node.h"
#include "common/pool.h"

struct upd {
  uint64_t j;
  struct cas_addr a;
};

struct leaf_job {
  uint64_t k;
  size_t first, n; /* slice of the sorted changed list (incremental) */
};

struct build {
  struct cas *cas;
  const struct tree_source *src;
  struct tree_geom g;
  bool incremental;
  struct tree_geom base_g;
  struct cas_addr base_top;
  const uint64_t *changed;
  struct leaf_job *jobs;
  struct upd *out;        /* one per job, same order */
  const struct tree_opts *opts;
  uint64_t total, done;
  pthread_mutex_t lock;   /* stats and progress */
  struct tree_build_stats st;
};

struct worker {
  uint8_t *buf;
  struct cas_batch *batch;
  struct path_cache *base;
  struct tree_build_stats st;
};

static int chunk_store(struct build *b, struct worker *w, uint64_t i, struct cas_addr *out)
{
  uint64_t off = i << b->g.chunk_shift;
  uint32_t len = geom_chunk_len(&b->g, i);
  memset(out, 0, sizeof *out);
  if (b->src->is_zero) {
    int z = b->src->is_zero(b->src->ctx, off, len);
    if (z < 0)
      return z;
    if (z == 1) {
      w->st.chunks_zero++;
      return 0;
    }
  }
  int r = b->src->read(b->src->ctx, w->buf, len, off);
  if (r < 0)
    return r;
  w->st.chunks_read++;
  w->st.bytes_read += len;
  if (bytes_zero(w->buf, len)) {
    w->st.chunks_zero++;
    return 0;
  }
  return cas_batch_put(w->batch, w->buf, len, out);
}

static int leaf_run(void *ctx, void *state, uint64_t item)
{
  struct build *b = ctx;
  struct worker *w = state;
  struct leaf_job *jb = &b->jobs[item];
  struct cas_addr ents[TREE_FANOUT];
  unsigned count = geom_count(&b->g, 0, jb->k), base_count;
  uint64_t first = jb->k * TREE_FANOUT;
  int r = 0;
  if (b->incremental) {
    struct cas_addr base_leaf;
    if ((r = path_node(b->cas, w->base, 0, jb->k, &base_leaf)) < 0 ||
        (r = node_get(b->cas, &base_leaf, 0, ents, &base_count)) < 0)
      return r;
    for (unsigned c = count; c < TREE_FANOUT; c++)
      memset(&ents[c], 0, sizeof ents[c]);
    for (size_t x = 0; x < jb->n && r == 0; x++) {
      uint64_t i = b->changed[jb->first + x];
      r = chunk_store(b, w, i, &ents[i - first]);
    }
  } else {
    for (unsigned c = 0; c < count && r == 0; c++)
      r = chunk_store(b, w, first + c, &ents[c]);
  }
  if (r == 0)
    r = cas_batch_flush(w->batch); /* the closure invariant: chunks before their leaf */
  if (r == 0)
    r = node_put(b->cas, 0, ents, count, &b->out[item].a, &w->st.nodes_stored);
  b->out[item].j = jb->k;
  if (r == 0 && b->opts && b->opts->progress) {
    uint64_t add = b->incremental ? (uint64_t)jb->n << b->g.chunk_shift : (uint64_t)count << b->g.chunk_shift;
    LOCK_GUARD(&b->lock);
    b->done += add;
    b->opts->progress(b->opts->progress_ctx, b->done < b->total ? b->done : b->total, b->total);
  }
  return r;
}

static void *worker_init(void *ctx)
{
  struct build *b = ctx;
  struct worker *w = calloc(1, sizeof *w);
  if (!w)
    return NULL;
  w->buf = malloc((size_t)1 << b->g.chunk_shift);
  w->base = b->incremental ? malloc(sizeof *w->base) : NULL;
  if (!w->buf || (b->incremental && !w->base) || cas_batch_new(b->cas, &w->batch) < 0) {
    cas_batch_free(w->batch);
    free(w->buf);
    free(w->base);
    free(w);
    return NULL;
  }
  if (w->base)
    path_cache_init(w->base, &b->base_g, &b->base_top);
  return w;
}

static void worker_fini(void *ctx, void *state)
{
  struct build *b = ctx;
  struct worker *w = state;
  cas_batch_counts(w->batch, &w->st.chunks_stored, &w->st.bytes_stored);
  cas_batch_free(w->batch);
  LOCK_GUARD(&b->lock);
  b->st.chunks_read += w->st.chunks_read;
  b->st.chunks_zero += w->st.chunks_zero;
  b->st.chunks_stored += w->st.chunks_stored;
  b->st.bytes_read += w->st.bytes_read;
  b->st.bytes_stored += w->st.bytes_stored;
  b->st.nodes_stored += w->st.nodes_stored;
  free(w->buf);
  free(w->base);
  free(w);
}

/* Builds levels 1..height from the sorted level-0 updates u[0..n). */
static int build_up(struct build *b, struct path_cache *base, struct upd *u, size_t n, struct cas_addr *top)
{
  struct cas_addr ents[TREE_FANOUT];
  for (unsigned level = 0; level < b->g.height; level++) {
    size_t w = 0;
    for (size_t i = 0; i < n;) {
      uint64_t p = u[i].j >> 8;
      unsigned count = geom_count(&b->g, level + 1, p);
      for (unsigned c = 0; c < count; c++) {
        int r = base ? path_node(b->cas, base, level, p * TREE_FANOUT + c, &ents[c]) : 0;
        if (!base)
          memset(&ents[c], 0, sizeof ents[c]);
        if (r < 0)
          return r;
      }
      for (; i < n && u[i].j >> 8 == p; i++)
        ents[u[i].j & 255] = u[i].a;
      struct upd nu = {.j = p};
      int r = node_put(b->cas, level + 1, ents, count, &nu.a, &b->st.nodes_stored);
      if (r < 0)
        return r;
      u[w++] = nu;
    }
    n = w;
  }
  if (n > 0)
    *top = u[0].a;
  else if (base)
    return path_node(b->cas, base, b->g.height, 0, top);
  else
    memset(top, 0, sizeof *top);
  return 0;
}

static int finish(struct build *b, size_t n_jobs, struct path_cache *base, struct cas_addr *root_out,
                  struct tree_build_stats *st)
{
  static const struct pool_ops ops = {.init = worker_init, .run = leaf_run, .fini = worker_fini};
  int r = n_jobs ? pool_run(pool_threads(b->opts ? b->opts->threads : 0), n_jobs, &ops, b) : 0;
  struct cas_addr top;
  if (r == 0)
    r = build_up(b, base, b->out, n_jobs, &top);
  if (r == 0)
    r = root_put(b->cas, &b->g, &top, root_out);
  if (st)
    *st = b->st;
  return r;
}

int tree_build_full(struct cas *cas, const struct tree_source *src, uint64_t size, const struct tree_opts *opts,
                    struct cas_addr *root_out, struct tree_build_stats *st)
{
  struct build b = {.cas = cas, .src = src, .opts = opts, .total = size};
  int r = tree_geom_init(&b.g, size, cas_chunk_shift(cas));
  if (r < 0)
    return r;
  uint64_t n = b.g.nchunks ? geom_nodes(&b.g, 0) : 0;
  CLEANUP_FREE struct leaf_job *jobs = malloc((n ? n : 1) * sizeof *jobs);
  CLEANUP_FREE struct upd *out = malloc((n ? n : 1) * sizeof *out);
  if (!jobs || !out)
    return -ENOMEM;
  for (uint64_t k = 0; k < n; k++)
    jobs[k] = (struct leaf_job){.k = k};
  b.jobs = jobs;
  b.out = out;
  pthread_mutex_init(&b.lock, NULL);
  r = finish(&b, n, NULL, root_out, st);
  pthread_mutex_destroy(&b.lock);
  return r;
}

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

int tree_build_incremental(struct cas *cas, const struct cas_addr *base, const struct tree_source *src,
                           uint64_t size, const uint64_t *changed, size_t n_changed, const struct tree_opts *opts,
                           struct cas_addr *root_out, struct tree_build_stats *st)
{
  struct build b = {.cas = cas, .src = src, .opts = opts, .incremental = true};
  int r = root_get(cas, base, &b.base_g, &b.base_top);
  if (r < 0)
    return r;
  if (b.base_g.chunk_shift != cas_chunk_shift(cas))
    return -EINVAL;
  if ((r = tree_geom_init(&b.g, size, b.base_g.chunk_shift)) < 0)
    return r;
  /* Sorted, unique, in range; the last chunks join when the size changes. */
  CLEANUP_FREE uint64_t *ch = malloc((n_changed + 2) * sizeof *ch);
  if (!ch)
    return -ENOMEM;
  size_t n = 0;
  for (size_t i = 0; i < n_changed; i++)
    if (changed[i] < b.g.nchunks)
      ch[n++] = changed[i];
  if (size != b.base_g.size) {
    if (b.base_g.nchunks && b.base_g.nchunks - 1 < b.g.nchunks)
      ch[n++] = b.base_g.nchunks - 1;
    if (b.g.nchunks)
      ch[n++] = b.g.nchunks - 1;
  }
  qsort(ch, n, sizeof *ch, cmp_u64);
  size_t u = 0;
  for (size_t i = 0; i < n; i++)
    if (u == 0 || ch[u - 1] != ch[i])
      ch[u++] = ch[i];
  n = u;
  size_t n_jobs = 0;
  for (size_t i = 0; i < n; i++)
    if (i == 0 || ch[i] >> 8 != ch[i - 1] >> 8)
      n_jobs++;
  CLEANUP_FREE struct leaf_job *jobs = malloc((n_jobs ? n_jobs : 1) * sizeof *jobs);
  CLEANUP_FREE struct upd *out = malloc((n_jobs ? n_jobs : 1) * sizeof *out);
  CLEANUP_FREE struct path_cache *pc = malloc(sizeof *pc);
  if (!jobs || !out || !pc)
    return -ENOMEM;
  size_t j = 0;
  for (size_t i = 0; i < n; i++) {
    if (i == 0 || ch[i] >> 8 != ch[i - 1] >> 8)
      jobs[j++] = (struct leaf_job){.k = ch[i] >> 8, .first = i};
    jobs[j - 1].n++;
  }
  path_cache_init(pc, &b.base_g, &b.base_top);
  b.changed = ch;
  b.jobs = jobs;
  b.out = out;
  b.total = (uint64_t)n << b.g.chunk_shift;
  pthread_mutex_init(&b.lock, NULL);
  r = finish(&b, n_jobs, pc, root_out, st);
  pthread_mutex_destroy(&b.lock);
  return r;
}
