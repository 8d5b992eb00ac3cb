/*
 * gc.c — garbage collection: mark from the live roots, sweep, rewrite sparse
 * packs, delete dead packs; safe against concurrent writers and crashes.
 *
 * Protocol (each step names its crash point; a crash anywhere leaves a store
 * that opens, loses nothing live, and at worst keeps some garbage):
 *
 *  1. "start": under rec_lock set gc_running, so from now on every put —
 *     new object or deduplicated hit — is appended to the recording log.
 *     Rotate: seal the open pack and wait for all seals.  Packs with an id
 *     below the new open pack are the only candidates; new puts go elsewhere.
 *  2. "marked": ask the caller for the roots (after 1, so a root created
 *     later was built from puts that are in the log, or under a hold whose
 *     puts and roots are in the log).  Mark every object reachable from the
 *     roots and from every logged address; a root that cannot be walked
 *     completely (missing or damaged node) stops the GC: nothing is deleted.
 *  3. "planned": per candidate pack, from its .idx: live bytes = marked
 *     objects the index still locates in this pack.  No live bytes: delete.
 *     Live ratio below the threshold: rewrite.  Otherwise keep.
 *  4. "copied": copy each live object of a rewrite pack (re-checked: CRC,
 *     the seal of an encrypted store, and hash) into the open pack through cas_append_record, which moves the
 *     index entry only if it still points into the old pack; then cas_sync.
 *     A group record with dead members is rebuilt from its live ones
 *     (cas_put_group with the same rule); live bytes count each member's
 *     share of its group's record (pack_idx_shares).
 *     The copies are durable before step 5 can drop anything (invariant 6;
 *     failpoints cas.pack.write, cas.pack.fsync make the copies fail).
 *  5. "committed": under write_lock (no put can run): mark what the log got
 *     since step 2; a victim pack that the index still uses for any marked
 *     object — a writer deduplicated against it after planning — is kept this
 *     round.  Then the victims' entries leave the index and their packs the
 *     table (readers holding a reference finish first).  A put that looks up
 *     after this point misses and stores a fresh copy.
 *  6. "deleted": remove each victim from the pack store (its .idx, then its
 *     .pack), then make the removals durable (the dir back end: fsync packs/).
 *     A crash between the two leaves a pack without .idx, which open rescans
 *     and re-indexes (garbage comes back, nothing is lost); so does a failed
 *     deletion (failpoints cas.gc.unlink, cas.gc.fsync_dir: GC fails, the
 *     next open finds the pack again; test_cas_faults gc_delete_failure).
 *  7. gc_running is cleared; the log is dropped when no hold is open.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cas/cas_int.h"
#include "cas/crypt.h"
#include "cas/keyset.h"
#include "common/cleanup.h"
#include "common/log.h"

enum victim_kind { KEEP, DELETE, REWRITE };

struct victim {
  uint32_t id;
  enum victim_kind kind;
  struct pack_idx_ent *ents;
  size_t n;
  uint64_t size, live_bytes;
};

struct gc {
  struct cas *cas;
  struct keyset live;
  uint8_t *node_buf;
  struct cas_addr *stack;
  size_t n_stack, cap_stack;
  size_t log_done;
  const struct cas_gc_options *opts;
};

static int push(struct gc *g, const struct cas_addr *a)
{
  if (g->n_stack == g->cap_stack) {
    size_t n = g->cap_stack ? 2 * g->cap_stack : 256;
    struct cas_addr *ns = realloc(g->stack, n * sizeof *ns);
    if (!ns)
      return -ENOMEM;
    g->stack = ns;
    g->cap_stack = n;
  }
  g->stack[g->n_stack++] = *a;
  return 0;
}

static int mark_child(void *ctx, const struct cas_addr *a, enum cas_type t)
{
  struct gc *g = ctx;
  int r = keyset_add(&g->live, a);
  if (r <= 0)
    return r;
  if (t == CAS_NODE)
    return push(g, a);
  return cas_has(g->cas, a) ? 0 : -EIO;
}

/* Marks a and everything below it; -EIO if something is missing or damaged. */
static int mark(struct gc *g, const struct cas_addr *a, enum cas_type t)
{
  int r = mark_child(g, a, t);
  while (r == 0 && g->n_stack > 0) {
    struct cas_addr n = g->stack[--g->n_stack];
    size_t len;
    r = cas_get(g->cas, CAS_NODE, &n, g->node_buf, CAS_MAX_OBJECT, &len);
    if (r == 0)
      r = cas_node_children(g->node_buf, len, mark_child, g);
    if (r < 0) {
      char hex[2 * CAS_ADDR_LEN + 1];
      cas_addr_to_hex(&n, hex);
      log_error("cas", "gc: cannot walk node %s (%s); nothing will be deleted", hex, strerror(-r));
      r = -EIO;
    }
  }
  g->n_stack = 0;
  return r;
}

/* Marks the log entries added since the previous call; returns how many. */
static int mark_log(struct gc *g, size_t *n_new)
{
  struct cas *cas = g->cas;
  CLEANUP_FREE struct rec_item *items = NULL;
  size_t n = 0;
  {
    LOCK_GUARD(&cas->rec_lock);
    n = cas->n_rec - g->log_done;
    if (n && !(items = malloc(n * sizeof *items)))
      return -ENOMEM;
    if (n)
      memcpy(items, cas->rec + g->log_done, n * sizeof *items);
    g->log_done = cas->n_rec;
  }
  *n_new = n;
  for (size_t i = 0; i < n; i++) {
    int r = mark(g, &items[i].addr, items[i].type);
    if (r < 0)
      return r;
  }
  return 0;
}

static int plan(struct gc *g, uint32_t first_new, double threshold, struct victim **out, size_t *n_out)
{
  struct cas *cas = g->cas;
  struct victim *v = calloc(first_new ? first_new : 1, sizeof *v);
  size_t nv = 0;
  if (!v)
    return -ENOMEM;
  for (uint32_t id = 0; id < first_new; id++) {
    struct pack *p = cas_pack_ref(cas, id);
    if (!p)
      continue;
    struct victim *x = &v[nv];
    memset(x, 0, sizeof *x);
    x->id = id;
    x->size = p->size;
    cas_pack_unref(p);
    int r = pack_idx_read(cas->store, id, &x->ents, &x->n);
    if (r < 0) {
      log_warn("cas", "gc: pack %08x has no readable index; skipped", id);
      continue;
    }
    CLEANUP_FREE uint64_t *share = malloc((x->n ? x->n : 1) * sizeof *share);
    if (!share || pack_idx_shares(x->ents, x->n, share) < 0) {
      for (size_t k = 0; k <= nv; k++)
        free(v[k].ents);
      free(v);
      return -ENOMEM;
    }
    pthread_rwlock_rdlock(&cas->idx_lock);
    for (size_t i = 0; i < x->n; i++) {
      struct idx_ent e;
      if (keyset_has(&g->live, &x->ents[i].addr) && index_lookup(&cas->idx, &x->ents[i].addr, &e) &&
          e.pack == id && e.off == x->ents[i].off)
        x->live_bytes += share[i];
    }
    pthread_rwlock_unlock(&cas->idx_lock);
    bool forced = false;
    for (size_t k = 0; k < g->opts->n_rewrite; k++)
      forced = forced || g->opts->rewrite[k] == id;
    if (x->live_bytes == 0)
      x->kind = DELETE;
    else if (forced || (double)x->live_bytes < threshold * (double)(x->size - PACK_HDR_SIZE))
      x->kind = REWRITE;
    else {
      free(x->ents);
      continue;
    }
    nv++;
  }
  *out = v;
  *n_out = nv;
  return 0;
}

static int member_cmp(const void *a, const void *b)
{
  const struct pack_idx_ent *x = a, *y = b;
  return x->member < y->member ? -1 : x->member > y->member;
}

static int by_off(const void *a, const void *b)
{
  const struct pack_idx_ent *x = a, *y = b;
  return x->off < y->off ? -1 : x->off > y->off;
}

/* Copies the live objects of the record holding ents[0..n) (one record, all
 * with the same offset).  A plain record, or a group whose members are all
 * live, is copied verbatim; a group with dead members is rebuilt from its
 * live ones.  Every copied object is re-checked (CRC32C and re-hash) first.
 * Returns -EIO for a damaged record. */
static int copy_record(struct gc *g, struct victim *x, struct pack_idx_ent *ents, size_t n, uint8_t *content,
                       struct cas_gc_stats *st)
{
  struct cas *cas = g->cas;
  struct idx_ent e = {.pack = x->id, .off = ents[0].off, .len = ents[0].len};
  CLEANUP_FREE uint8_t *rec = NULL;
  struct pack_rec pr;
  int r = cas_read_record(cas, &e, &rec, &pr);
  if (r < 0)
    return r == -ENOENT ? r : -EIO;
  /* opened out of place: the record itself is what a verbatim copy appends */
  CLEANUP_FREE uint8_t *opened = cas->crypt ? malloc(pr.body_len) : NULL;
  const uint8_t *body;
  if (cas->crypt && !opened)
    return -ENOMEM;
  if (pack_rec_open(cas->crypt, &pr, rec + PACK_REC_HDR, opened, &body) < 0)
    return -EIO;
  if (!(pr.flags & PACK_FLAG_GROUP)) {
    if (pack_rec_content(cas->crypt, &pr, body, content, true) < 0 ||
        memcmp(pr.addr.b, ents[0].addr.b, CAS_ADDR_LEN) != 0)
      return -EIO;
    st->bytes_copied += ents[0].len;
    return cas_append_record(cas, rec, ents[0].len, ents, 1, x->id, NULL);
  }
  struct pack_member m[PACK_GROUP_MAX];
  unsigned count;
  const uint8_t *data;
  uint32_t data_len;
  if (pack_group_parse(&pr, body, m, &count, &data, &data_len) < 0 ||
      pack_group_content(&pr, data, data_len, content) < 0)
    return -EIO;
  /* The live members, in table order, re-hashed. */
  struct pack_idx_ent live[PACK_GROUP_MAX];
  unsigned k = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned j = ents[i].member - 1u;
    struct cas_addr a;
    if (ents[i].member == 0 || j >= count || memcmp(m[j].addr.b, ents[i].addr.b, CAS_ADDR_LEN) != 0)
      return -EIO;
    crypt_addr(cas->crypt, CAS_CHUNK, content + m[j].off, m[j].raw_len, &a);
    if (memcmp(a.b, m[j].addr.b, CAS_ADDR_LEN) != 0)
      return -EIO;
    live[k++] = ents[i];
  }
  if (k == count) {
    st->bytes_copied += ents[0].len;
    return cas_append_record(cas, rec, ents[0].len, live, k, x->id, NULL);
  }
  /* Rebuild: the live members' contents, packed in member order. */
  CLEANUP_FREE uint8_t *packed = malloc(pr.raw_len);
  if (!packed)
    return -ENOMEM;
  uint32_t used = 0;
  for (unsigned j = 0, i; j < count; j++) {
    for (i = 0; i < k && live[i].member != j + 1; i++)
      ;
    if (i == k)
      continue;
    memcpy(packed + used, content + m[j].off, m[j].raw_len);
    used += m[j].raw_len;
  }
  qsort(live, k, sizeof *live, member_cmp);
  st->bytes_copied += used;
  return cas_put_group(cas, live, k, packed, x->id, NULL, NULL);
}

static int copy_live(struct gc *g, struct victim *x, struct cas_gc_stats *st)
{
  CLEANUP_FREE uint8_t *content = malloc(CAS_MAX_OBJECT);
  CLEANUP_FREE struct pack_idx_ent *live = malloc((x->n ? x->n : 1) * sizeof *live);
  if (!content || !live)
    return -ENOMEM;
  size_t n = 0;
  /* live and still located here (as plan() counted): a live object the
   * index finds elsewhere (a repair's good copy) is not copied from here */
  pthread_rwlock_rdlock(&g->cas->idx_lock);
  for (size_t i = 0; i < x->n; i++) {
    struct idx_ent e;
    if (keyset_has(&g->live, &x->ents[i].addr) && index_lookup(&g->cas->idx, &x->ents[i].addr, &e) &&
        e.pack == x->id && e.off == x->ents[i].off)
      live[n++] = x->ents[i];
  }
  pthread_rwlock_unlock(&g->cas->idx_lock);
  qsort(live, n, sizeof *live, by_off);
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && live[j].off == live[i].off)
      j++;
    int r = copy_record(g, x, live + i, j - i, content, st);
    if (r == -EIO) {
      log_error("cas", "gc: damaged live record in pack %08x at %u; pack kept", x->id, live[i].off);
      x->kind = KEEP;
      return 0;
    }
    if (r < 0)
      return r;
    i = j;
  }
  return 0;
}

/* Step 5, under write_lock. */
static int commit(struct gc *g, struct victim *v, size_t nv)
{
  struct cas *cas = g->cas;
  size_t n_new;
  int r = mark_log(g, &n_new);
  if (r < 0)
    return r;
  pthread_rwlock_wrlock(&cas->idx_lock);
  for (size_t k = 0; k < nv; k++) {
    struct victim *x = &v[k];
    if (x->kind == KEEP)
      continue;
    for (size_t i = 0; i < x->n && x->kind != KEEP; i++) {
      struct idx_ent e;
      if (keyset_has(&g->live, &x->ents[i].addr) && index_lookup(&cas->idx, &x->ents[i].addr, &e) &&
          e.pack == x->id)
        x->kind = KEEP;
    }
    if (x->kind == KEEP)
      continue;
    for (size_t i = 0; i < x->n; i++)
      index_remove(&cas->idx, &x->ents[i].addr, x->id);
  }
  pthread_rwlock_unlock(&cas->idx_lock);
  for (size_t k = 0; k < nv; k++)
    if (v[k].kind != KEEP)
      cas_pack_drop(cas, v[k].id);
  return 0;
}

static int crash(const struct cas_gc_options *o, const char *step)
{
  return o->crash_point ? o->crash_point(step) : 0;
}

static int run(struct gc *g, cas_roots_fn roots_fn, void *ctx, const struct cas_gc_options *o,
               struct cas_gc_stats *st)
{
  struct cas *cas = g->cas;
  uint32_t first_new;
  int r;
  if ((r = crash(o, "start")) < 0 || (r = cas_rotate(cas, &first_new)) < 0)
    return r;
  CLEANUP_FREE struct cas_addr *roots = NULL;
  size_t nroots = 0;
  if ((r = roots_fn(ctx, &roots, &nroots)) < 0)
    return r;
  for (size_t i = 0; i < nroots; i++)
    if (!cas_addr_is_zero(&roots[i]) && (r = mark(g, &roots[i], CAS_NODE)) < 0)
      return r;
  size_t n_new = 1;
  for (int pass = 0; pass < 4 && n_new > 0; pass++)
    if ((r = mark_log(g, &n_new)) < 0)
      return r;
  if ((r = crash(o, "marked")) < 0)
    return r;
  struct victim *v = NULL;
  size_t nv = 0;
  g->opts = o;
  if ((r = plan(g, first_new, o->rewrite_below > 0 ? o->rewrite_below : 0.5, &v, &nv)) < 0)
    return r;
  st->live_objects = g->live.n;
  if (o->dry_run || (r = crash(o, "planned")) < 0)
    goto out;
  for (size_t k = 0; k < nv && r == 0; k++)
    if (v[k].kind == REWRITE)
      r = copy_live(g, &v[k], st);
  if (r < 0 || (r = cas_sync(cas)) < 0 || (r = crash(o, "copied")) < 0)
    goto out;
  {
    LOCK_GUARD(&cas->write_lock);
    r = commit(g, v, nv);
  }
  if (r < 0 || (r = crash(o, "committed")) < 0)
    goto out;
  for (size_t k = 0; k < nv; k++) {
    if (v[k].kind == KEEP)
      continue;
    int e = cas->store->ops->remove(cas->store, v[k].id);
    if (e) {
      r = e;
      log_error("cas", "gc: cannot delete pack %08x: %s", v[k].id, strerror(-r));
      break;
    }
    for (size_t i = 0; i < v[k].n; i++)
      if (!keyset_has(&g->live, &v[k].ents[i].addr))
        st->dead_objects++;
    st->bytes_freed += v[k].size;
    if (v[k].kind == DELETE)
      st->packs_deleted++;
    else
      st->packs_rewritten++;
  }
  if (r == 0 && nv > 0)
    r = cas->store->ops->sync_removals(cas->store);
  if (r == 0)
    r = crash(o, "deleted");
out:
  for (size_t k = 0; k < nv; k++)
    free(v[k].ents);
  free(v);
  return r;
}

int cas_gc(struct cas *cas, cas_roots_fn roots, void *ctx, const struct cas_gc_options *opts,
           struct cas_gc_stats *stats)
{
  static const struct cas_gc_options defaults;
  const struct cas_gc_options *o = opts ? opts : &defaults;
  struct cas_gc_stats st = {0};
  if (cas->read_only)
    return -EROFS;
  if (pthread_mutex_trylock(&cas->gc_lock) != 0)
    return -EBUSY;
  struct gc g = {.cas = cas, .node_buf = malloc(CAS_MAX_OBJECT)};
  keyset_init(&g.live);
  int r = -ENOMEM;
  if (g.node_buf) {
    {
      LOCK_GUARD(&cas->rec_lock);
      cas->gc_running = true;
    }
    r = run(&g, roots, ctx, o, &st);
    LOCK_GUARD(&cas->rec_lock);
    cas->gc_running = false;
    if (!cas->holds)
      cas->n_rec = 0;
  }
  keyset_free(&g.live);
  free(g.node_buf);
  free(g.stack);
  pthread_mutex_unlock(&cas->gc_lock);
  if (stats)
    *stats = st;
  return r;
}
