/*
 * verify.c — scrub: re-read every record of every pack (CRC32C, the seal of
 * an encrypted store, decompress, re-hash), match the records against the index entries that point at them,
 * then walk every root and report missing or damaged objects and the roots
 * they affect.  Read-only: repairs (from a peer region) belong to later work.
 * What counts as damage is invariant (7) in store.c: besides the records,
 * each pack's file header and each index file are checked, so a flipped bit
 * anywhere in a pack or an index file is reported.
 *
 * The walk memoises per node whether its subtree is clean, so roots sharing
 * subtrees cost little more than one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cas/cas_int.h"
#include "cas/keyset.h"
#include "common/cleanup.h"
#include "common/log.h"

struct verify {
  struct cas *cas;
  struct cas_verify_report *rep;
  struct keyset damaged, clean, bad_nodes;
  size_t cap_damage;
  uint32_t *good_offs;
  size_t n_good, cap_good;
};

static int add_damage(struct verify *v, const struct cas_addr *a, int err)
{
  int r = keyset_add(&v->damaged, a);
  if (r <= 0)
    return r;
  struct cas_verify_report *rep = v->rep;
  if (rep->n_damage == v->cap_damage) {
    size_t n = v->cap_damage ? 2 * v->cap_damage : 16;
    struct cas_damage *nd = realloc(rep->damage, n * sizeof *nd);
    if (!nd)
      return -ENOMEM;
    rep->damage = nd;
    v->cap_damage = n;
  }
  rep->damage[rep->n_damage++] = (struct cas_damage){.addr = *a, .error = err};
  return 0;
}

static int scan_good(void *ctx, const struct pack_rec *rec, const uint8_t *body, uint32_t off, uint32_t len)
{
  struct verify *v = ctx;
  struct pack_idx_ent objs[PACK_GROUP_MAX];
  int n_objs = pack_rec_objects(NULL, rec, body, off, len, false, NULL, objs);
  if (v->n_good == v->cap_good) {
    size_t n = v->cap_good ? 2 * v->cap_good : 4096;
    uint32_t *ng = realloc(v->good_offs, n * sizeof *ng);
    if (!ng)
      return -ENOMEM;
    v->good_offs = ng;
    v->cap_good = n;
  }
  v->good_offs[v->n_good++] = off;
  v->rep->objects_checked += n_objs > 0 ? (uint64_t)n_objs : 0;
  v->rep->bytes_checked += len;
  return 0;
}

static bool is_good(const struct verify *v, uint32_t off)
{
  size_t lo = 0, hi = v->n_good;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (v->good_offs[mid] == off)
      return true;
    if (v->good_offs[mid] < off)
      lo = mid + 1;
    else
      hi = mid;
  }
  return false;
}

/* Entries the pack claims: its .idx, or the in-memory list of a pack not
 * sealed yet (seal() frees that list and sets sealed under write_lock). */
static int pack_entries(struct cas *cas, struct pack *p, struct pack_idx_ent **out, size_t *n)
{
  {
    LOCK_GUARD(&cas->write_lock);
    if (!p->sealed) {
      *out = malloc((p->n_ents ? p->n_ents : 1) * sizeof **out);
      if (!*out)
        return -ENOMEM;
      if (p->n_ents)
        memcpy(*out, p->ents, p->n_ents * sizeof **out);
      *n = p->n_ents;
      return 0;
    }
  }
  return pack_idx_read(cas->store, p->id, out, n);
}

static int check_pack(struct verify *v, struct pack *p);

/* Verifies a pack and names it among the bad ones when it had a bad record. */
static int verify_pack(struct verify *v, struct pack *p)
{
  uint64_t before = v->rep->bad_records;
  int r = check_pack(v, p);
  if (r == 0 && v->rep->bad_records > before) {
    uint32_t *b = realloc(v->rep->bad_packs, (v->rep->n_bad_packs + 1) * sizeof *b);
    if (!b)
      return -ENOMEM;
    v->rep->bad_packs = b;
    b[v->rep->n_bad_packs++] = p->id;
  }
  return r;
}

static int check_pack(struct verify *v, struct pack *p)
{
  struct cas *cas = v->cas;
  uint64_t size, bad = 0;
  bool open;
  {
    LOCK_GUARD(&cas->write_lock);
    size = p->size;
    open = !p->sealed;
  }
  v->n_good = 0;
  if (size < PACK_HDR_SIZE) /* a creation cut short, seen read-only: it holds nothing (store.c) */
    return 0;
  /* The file header holds no data but is checked byte for byte, so that no
   * bit of a pack goes unchecked (invariant (7) in store.c). */
  int r = pack_hdr_check(p->obj, cas_pack_version(cas));
  if (r == -EIO) {
    log_error("cas", "verify: pack %08x: file header damaged", p->id);
    v->rep->bad_records++;
  } else if (r < 0) {
    return r;
  }
  /* A damaged .idx that a read-only open could not rebuild: the entries
   * below come from the scan, but the file itself is damage. */
  if (p->idx_damaged) {
    log_error("cas", "verify: pack %08x: index file damaged", p->id);
    v->rep->bad_records++;
  }
  uint64_t end = 0;
  r = pack_scan(p->obj, size, cas->crypt, true, scan_good, v, &end, &bad);
  if (r < 0)
    return r;
  /* pack_scan calls a bad region at the end a torn tail; but size only
   * covers complete appends (and sealed packs were recovered), so here it is
   * damage too. */
  v->rep->bad_records += bad + (end < size);
  CLEANUP_FREE struct pack_idx_ent *ents = NULL;
  size_t n = 0;
  if ((r = pack_entries(cas, p, &ents, &n)) < 0) {
    log_error("cas", "verify: pack %08x: index unreadable (%s)", p->id, strerror(-r));
    v->rep->bad_records++;
    return 0;
  }
  for (size_t i = 0; i < n; i++) {
    /* In a pack open at the snapshot above, an entry at or past size is a
     * record appended since (the scan stopped at size): the next verify
     * reads it.  In a sealed pack it is damage (a truncated file). */
    if ((open && ents[i].off >= size) || is_good(v, ents[i].off))
      continue;
    struct idx_ent e;
    pthread_rwlock_rdlock(&cas->idx_lock);
    bool used = index_lookup(&cas->idx, &ents[i].addr, &e) && e.pack == p->id && e.off == ents[i].off;
    pthread_rwlock_unlock(&cas->idx_lock);
    if (used && (r = add_damage(v, &ents[i].addr, -EIO)) < 0)
      return r;
  }
  return 0;
}

struct walk_ctx {
  struct verify *v;
  bool bad;
  int err;
};

static int walk(struct verify *v, const struct cas_addr *a, enum cas_type t, bool *bad);

static int walk_child(void *ctx, const struct cas_addr *a, enum cas_type t)
{
  struct walk_ctx *w = ctx;
  return walk(w->v, a, t, &w->bad);
}

static int walk(struct verify *v, const struct cas_addr *a, enum cas_type t, bool *bad)
{
  if (keyset_has(&v->damaged, a) || keyset_has(&v->bad_nodes, a)) {
    *bad = true;
    return 0;
  }
  if (t == CAS_CHUNK) {
    if (cas_has(v->cas, a))
      return 0;
    *bad = true;
    return add_damage(v, a, -ENOENT);
  }
  if (keyset_has(&v->clean, a))
    return 0;
  CLEANUP_FREE uint8_t *buf = malloc(CAS_MAX_OBJECT);
  if (!buf)
    return -ENOMEM;
  size_t len;
  int r = cas_get(v->cas, CAS_NODE, a, buf, CAS_MAX_OBJECT, &len);
  if (r == -ENOENT || r == -EIO) {
    *bad = true;
    return add_damage(v, a, r);
  }
  if (r < 0)
    return r;
  struct walk_ctx w = {.v = v};
  r = cas_node_children(buf, len, walk_child, &w);
  if (r == -EIO) {
    *bad = true;
    return add_damage(v, a, -EIO);
  }
  if (r < 0)
    return r;
  if (w.bad) {
    *bad = true;
    return keyset_add(&v->bad_nodes, a) < 0 ? -ENOMEM : 0;
  }
  return keyset_add(&v->clean, a) < 0 ? -ENOMEM : 0;
}

int cas_verify(struct cas *cas, const struct cas_addr *roots, size_t nroots,
               void (*progress)(void *ctx, uint64_t done, uint64_t total), void *ctx,
               struct cas_verify_report *rep)
{
  memset(rep, 0, sizeof *rep);
  struct verify v = {.cas = cas, .rep = rep};
  keyset_init(&v.damaged);
  keyset_init(&v.clean);
  keyset_init(&v.bad_nodes);
  int r = 0;
  uint32_t n_slots;
  {
    LOCK_GUARD(&cas->packs_lock);
    n_slots = cas->n_packs_slots;
  }
  uint64_t total = 0, done = 0;
  for (uint32_t id = 0; id < n_slots; id++) {
    struct pack *p = cas_pack_ref(cas, id);
    if (p) {
      LOCK_GUARD(&cas->write_lock);
      total += p->size;
      cas_pack_unref(p);
    }
  }
  for (uint32_t id = 0; id < n_slots && r == 0; id++) {
    struct pack *p = cas_pack_ref(cas, id);
    if (!p)
      continue;
    uint64_t size;
    {
      LOCK_GUARD(&cas->write_lock);
      size = p->size;
    }
    r = verify_pack(&v, p);
    done += size;
    rep->packs_checked++;
    cas_pack_unref(p);
    if (progress)
      progress(ctx, done, total);
  }
  rep->root_affected = calloc(nroots ? nroots : 1, sizeof *rep->root_affected);
  if (!rep->root_affected && r == 0)
    r = -ENOMEM;
  for (size_t i = 0; i < nroots && r == 0; i++) {
    bool bad = false;
    if (!cas_addr_is_zero(&roots[i]))
      r = walk(&v, &roots[i], CAS_NODE, &bad);
    rep->root_affected[i] = bad;
  }
  keyset_free(&v.damaged);
  keyset_free(&v.clean);
  keyset_free(&v.bad_nodes);
  free(v.good_offs);
  return r;
}

void cas_verify_report_free(struct cas_verify_report *rep)
{
  free(rep->damage);
  free(rep->bad_packs);
  free(rep->root_affected);
  memset(rep, 0, sizeof *rep);
}
