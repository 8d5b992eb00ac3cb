/*
 * index.c — address → (pack, offset, length) in 32 bytes per object.
 *
 * Structure: one array sorted by address prefix ("main"), with a directory of
 * 65,536 bucket starts taken from the first 16 bits (addresses are uniform, so
 * a lookup is a binary search over ~150 entries at 10 M objects), plus a small
 * open-addressing hash table ("overlay") for objects added since the last
 * merge.  When the overlay reaches 1/8 of main (at least 64 Ki entries) it is
 * sorted and merged into main in place from the back (amortised O(1) per
 * insert).  Removal marks an entry dead; merges drop dead entries.
 *
 * The key is the first 20 bytes (160 bits) of the address.  Two live objects
 * sharing 160 bits would need ~2^80 objects; even then nothing wrong is
 * served, because cas_get compares the full address stored in the record.
 *
 * Start-up (index_load) sorts all entries in place: an American-flag radix
 * pass on the 16-bit bucket, then a short sort per bucket.
 *
 * Measured on the project machine (2 vCPU EPYC, Debian 12, warm page cache;
 * `vmrp-store-bench index DIR 10000000`; docs/storage.md section 6):
 *   10 M objects: start-up (read and check the .idx files, sort, build the
 *   directory) 2.57 s; index 32.4 B/object, process RSS 32.0 B/object, peak
 *   35.8 B/object; 1.3 M lookups/s on one thread (hits, uniform addresses).
 * An LMDB store would have avoided the start-up sort but costs more per object
 * (B-tree pages with full 32-byte keys, ~60-70 B) and a second durability
 * mechanism next to the packs; the pack index files are already the
 * persistent form.
 */
#include "cas/index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DIR_BUCKETS 65536u
#define OVL_MIN 65536u

static inline uint32_t key_bucket(const uint8_t *k) { return ((uint32_t)k[0] << 8) | k[1]; }
static inline uint64_t key_hash(const uint8_t *k)
{
  uint64_t h;
  memcpy(&h, k + 4, 8);
  return h;
}

int index_init(struct index *ix)
{
  memset(ix, 0, sizeof *ix);
  ix->dir = calloc(DIR_BUCKETS + 1, sizeof *ix->dir);
  ix->ovl_cap = 2 * OVL_MIN;
  ix->ovl = calloc(ix->ovl_cap, sizeof *ix->ovl);
  if (!ix->dir || !ix->ovl) {
    index_free(ix);
    return -ENOMEM;
  }
  return 0;
}

void index_free(struct index *ix)
{
  free(ix->main);
  free(ix->dir);
  free(ix->ovl);
  memset(ix, 0, sizeof *ix);
}

static void build_dir(struct index *ix)
{
  size_t i = 0;
  for (uint32_t b = 0; b < DIR_BUCKETS; b++) {
    while (i < ix->n_main && key_bucket(ix->main[i].key) < b)
      i++;
    ix->dir[b] = (uint32_t)i;
  }
  ix->dir[DIR_BUCKETS] = (uint32_t)ix->n_main;
}

static int ent_cmp(const void *a, const void *b) { return memcmp(a, b, INDEX_KEY_LEN); }

/* ent_cmp, then the newest copy first (higher pack, then higher offset), so
 * that of duplicates index_load keeps the copy written last: a repair's good
 * copy rather than the damaged one it replaced (which stays in its pack until
 * a GC rewrite), a GC move's target rather than its source. */
static int load_cmp(const void *a, const void *b)
{
  const struct idx_ent *x = a, *y = b;
  int c = memcmp(x->key, y->key, INDEX_KEY_LEN);
  if (c)
    return c;
  if (x->pack != y->pack)
    return x->pack > y->pack ? -1 : 1;
  return x->off > y->off ? -1 : x->off < y->off;
}

/* In-place radix partition by bucket, then sort each bucket. */
static void sort_entries(struct idx_ent *e, size_t n)
{
  size_t *start = calloc(DIR_BUCKETS + 1, sizeof *start);
  size_t *next = calloc(DIR_BUCKETS, sizeof *next);
  if (!start || !next) {
    qsort(e, n, sizeof *e, load_cmp);
    goto out;
  }
  for (size_t i = 0; i < n; i++)
    start[key_bucket(e[i].key) + 1]++;
  for (uint32_t b = 0; b < DIR_BUCKETS; b++)
    start[b + 1] += start[b];
  memcpy(next, start, DIR_BUCKETS * sizeof *next);
  for (uint32_t b = 0; b < DIR_BUCKETS; b++) {
    while (next[b] < start[b + 1]) {
      struct idx_ent cur = e[next[b]];
      uint32_t d = key_bucket(cur.key);
      while (d != b) {
        struct idx_ent t = e[next[d]];
        e[next[d]++] = cur;
        cur = t;
        d = key_bucket(cur.key);
      }
      e[next[b]++] = cur;
    }
  }
  for (uint32_t b = 0; b < DIR_BUCKETS; b++)
    if (start[b + 1] - start[b] > 1)
      qsort(e + start[b], start[b + 1] - start[b], sizeof *e, load_cmp);
out:
  free(start);
  free(next);
}

/* Drops dead entries and later duplicates from a sorted array. */
static size_t compact(struct idx_ent *e, size_t n)
{
  size_t w = 0;
  for (size_t i = 0; i < n; i++) {
    if (e[i].pack == INDEX_DEAD)
      continue;
    if (w > 0 && memcmp(e[w - 1].key, e[i].key, INDEX_KEY_LEN) == 0)
      continue;
    e[w++] = e[i];
  }
  return w;
}

int index_load(struct index *ix, struct idx_ent *ents, size_t n)
{
  sort_entries(ents, n);
  n = compact(ents, n);
  free(ix->main);
  ix->main = n ? realloc(ents, n * sizeof *ents) : (free(ents), NULL);
  if (n && !ix->main)
    ix->main = ents;
  ix->n_main = n;
  memset(ix->ovl, 0, ix->ovl_cap * sizeof *ix->ovl);
  ix->n_ovl = 0;
  ix->n_live = n;
  build_dir(ix);
  return 0;
}

static struct idx_ent *main_find(const struct index *ix, const uint8_t *key)
{
  uint32_t b = key_bucket(key);
  size_t lo = ix->dir[b], hi = ix->dir[b + 1];
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = memcmp(ix->main[mid].key, key, INDEX_KEY_LEN);
    if (c == 0)
      return &ix->main[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

/* Slot holding key, or the empty slot where it would go. */
static struct idx_ent *ovl_slot(const struct index *ix, const uint8_t *key)
{
  size_t mask = ix->ovl_cap - 1;
  for (size_t i = key_hash(key) & mask;; i = (i + 1) & mask) {
    struct idx_ent *s = &ix->ovl[i];
    if (s->len == 0 || memcmp(s->key, key, INDEX_KEY_LEN) == 0)
      return s;
  }
}

bool index_lookup(const struct index *ix, const struct cas_addr *a, struct idx_ent *out)
{
  const struct idx_ent *e = main_find(ix, a->b);
  if (!e || e->pack == INDEX_DEAD) {
    e = ovl_slot(ix, a->b);
    if (e->len == 0 || e->pack == INDEX_DEAD)
      return false;
  }
  *out = *e;
  return true;
}

static int merge_overlay(struct index *ix)
{
  size_t m = 0;
  for (size_t i = 0; i < ix->ovl_cap; i++)
    if (ix->ovl[i].len && ix->ovl[i].pack != INDEX_DEAD)
      ix->ovl[m++] = ix->ovl[i];
  qsort(ix->ovl, m, sizeof *ix->ovl, ent_cmp);
  struct idx_ent *nm = realloc(ix->main, (ix->n_main + m) * sizeof *nm);
  if (!nm && ix->n_main + m)
    return -ENOMEM;
  ix->main = nm;
  /* Merge from the back: main[0..n) and ovl[0..m) into main[0..n+m). */
  size_t i = ix->n_main, j = m, w = ix->n_main + m;
  while (j > 0) {
    if (i > 0 && memcmp(ix->main[i - 1].key, ix->ovl[j - 1].key, INDEX_KEY_LEN) > 0)
      ix->main[--w] = ix->main[--i];
    else
      ix->main[--w] = ix->ovl[--j];
  }
  ix->n_main = compact(ix->main, ix->n_main + m);
  size_t cap = 2 * OVL_MIN;
  while (cap < ix->n_main / 4)
    cap *= 2;
  struct idx_ent *no = calloc(cap, sizeof *no);
  if (!no)
    return -ENOMEM;
  free(ix->ovl);
  ix->ovl = no;
  ix->ovl_cap = cap;
  ix->n_ovl = 0;
  build_dir(ix);
  return 0;
}

int index_insert(struct index *ix, const struct cas_addr *a, uint32_t pack, uint32_t off, uint32_t len)
{
  struct idx_ent *e = main_find(ix, a->b);
  if (e) {
    if (e->pack == INDEX_DEAD)
      ix->n_live++;
    e->pack = pack, e->off = off, e->len = len;
    return 0;
  }
  e = ovl_slot(ix, a->b);
  if (e->len == 0 || e->pack == INDEX_DEAD)
    ix->n_live++;
  if (e->len == 0)
    ix->n_ovl++;
  memcpy(e->key, a->b, INDEX_KEY_LEN);
  e->pack = pack, e->off = off, e->len = len;
  if (ix->n_ovl >= ix->ovl_cap / 2)
    return merge_overlay(ix);
  return 0;
}

bool index_remove(struct index *ix, const struct cas_addr *a, uint32_t pack)
{
  struct idx_ent *e = main_find(ix, a->b);
  if (!e || e->pack == INDEX_DEAD) {
    e = ovl_slot(ix, a->b);
    if (e->len == 0)
      return false;
  }
  if (e->pack != pack)
    return false;
  e->pack = INDEX_DEAD;
  ix->n_live--;
  return true;
}

size_t index_count(const struct index *ix) { return ix->n_live; }

size_t index_ram_bytes(const struct index *ix)
{
  return ix->n_main * sizeof(struct idx_ent) + ix->ovl_cap * sizeof(struct idx_ent) +
         (DIR_BUCKETS + 1) * sizeof(uint32_t);
}
