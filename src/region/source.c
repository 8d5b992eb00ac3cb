/*
 * source.c — a tree as the source a restored disk's lazy volume hydrates
 * from (vol/hydrate.c: usable at once, chunks not yet hydrated read here).
 *
 * The tree is described in <vol>.src, written before the volume turns READY,
 * so a restart re-attaches it (volumes.c).  Its format is text, one
 * "key value" line each (root, size, image, domain: the key domain whose
 * store holds the tree; none, as earlier versions wrote, is the legacy
 * store); the JSON object still earlier versions wrote,
 * {"root":"<hex>","size":N,...}, is still read.  For as long as the
 * volume may read it, the tree is a GC root: the GC's root source lists the
 * source tree of every open lazy volume (region_volumes_hydration_roots), so
 * deleting the disk restore point meanwhile is safe.  A cas_hold with the
 * root covers only the moment between opening the source and the volume
 * joining the open volumes (region_source_unhold): a hold open for a whole
 * hydration would make every GC meanwhile keep everything put while it lasts.
 *
 * Reads come from several threads (NBD connections, the hydration's fillers,
 * captures); a tree_reader serves one thread at a time, so a small pool of
 * readers is kept.  A thread gets back the reader it last returned when that
 * one is idle (else the last one returned), so each filler keeps its own path
 * cache and read-ahead.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "region/internal.h"
#include "snap/tree.h"
#include "vol/vol.h"

#define POOL 8

struct region_source {
  struct cas *cas;
  char domain[META_DOMAIN_HEX];
  struct cas_hold *hold;
  struct cas_addr root;
  uint64_t size;
  unsigned shift;
  bool broken; /* the tree could not be opened: every read fails */
  pthread_mutex_t lock;
  struct tree_reader *pool[POOL];
  pthread_t owner[POOL]; /* the thread that returned pool[i] */
  int npool;
};

int region_source_save(const struct cas_addr *root, uint64_t size, const char *image_id, const char *domain,
                       const char *path)
{
  char hex[2 * CAS_ADDR_LEN + 1], *text = NULL;
  cas_addr_to_hex(root, hex);
  int n = asprintf(&text, "root %s\nsize %llu\nimage %s\ndomain %s\n", hex, (unsigned long long)size,
                   image_id ? image_id : "", domain);
  int r = n < 0 ? -ENOMEM : write_file_atomic(path, text, (size_t)n);
  free(text);
  return r;
}

/* Parses a description: the text form, or the JSON object of earlier versions
 * (written by jansson in that key order, so its prefix is fixed). */
static int parse_source(const char *text, char hex[2 * CAS_ADDR_LEN + 1], uint64_t *size,
                        char domain[META_DOMAIN_HEX])
{
  unsigned long long sz;
  const char *d = strstr(text, "\ndomain ");
  domain[0] = '\0';
  if (d && sscanf(d, "\ndomain %32[0-9a-f]", domain) != 1)
    domain[0] = '\0';
  if (sscanf(text, "root %64[0-9a-f] size %llu", hex, &sz) == 2 ||
      sscanf(text, "{\"root\":\"%64[0-9a-f]\",\"size\":%llu", hex, &sz) == 2) {
    *size = sz;
    return 0;
  }
  return -EIO;
}

static struct tree_reader *reader_get(struct region_source *h)
{
  struct tree_reader *rd = NULL;
  pthread_t self = pthread_self();
  pthread_mutex_lock(&h->lock);
  if (h->npool) {
    int i = h->npool - 1;
    for (int k = 0; k < h->npool; k++)
      if (pthread_equal(h->owner[k], self))
        i = k;
    rd = h->pool[i];
    h->npool--;
    h->pool[i] = h->pool[h->npool];
    h->owner[i] = h->owner[h->npool];
  }
  pthread_mutex_unlock(&h->lock);
  if (!rd && tree_reader_open(h->cas, &h->root, &rd) < 0)
    rd = NULL;
  return rd;
}

static void reader_put(struct region_source *h, struct tree_reader *rd)
{
  pthread_mutex_lock(&h->lock);
  if (h->npool < POOL) {
    h->owner[h->npool] = pthread_self();
    h->pool[h->npool++] = rd;
    rd = NULL;
  }
  pthread_mutex_unlock(&h->lock);
  tree_reader_close(rd);
}

static int src_read(void *ctx, uint64_t idx, void *buf, size_t len)
{
  struct region_source *h = ctx;
  struct tree_reader *rd = h->broken ? NULL : reader_get(h);
  if (!rd)
    return -EIO;
  int r = tree_reader_read(rd, buf, len, idx << h->shift);
  reader_put(h, rd);
  return r;
}

static int src_zero(void *ctx, uint64_t idx)
{
  struct region_source *h = ctx;
  struct tree_reader *rd = h->broken ? NULL : reader_get(h);
  if (!rd)
    return -EIO;
  struct cas_addr a;
  int r = tree_reader_chunk(rd, idx, &a);
  reader_put(h, rd);
  return r < 0 ? r : cas_addr_is_zero(&a);
}

int region_source_open(struct region *rg, const char *path, bool fresh, struct vol_source *vs,
                       struct region_source **out)
{
  char *text = NULL, hex[2 * CAS_ADDR_LEN + 1];
  size_t len;
  uint64_t size = 0;
  int r = read_file(path, (void **)&text, &len);
  struct region_source *h = r == 0 ? calloc(1, sizeof *h) : NULL;
  if (r == 0 && !h)
    r = -ENOMEM;
  char *nul = r == 0 ? realloc(text, len + 1) : NULL;
  if (r == 0 && !nul)
    r = -ENOMEM;
  if (r == 0) {
    text = nul;
    text[len] = '\0';
    r = parse_source(text, hex, &size, h->domain);
  }
  if (r == 0 && !(h->cas = region_store_for(rg, h->domain)))
    r = -errno;
  if (r == 0 && cas_addr_from_hex(hex, &h->root) < 0)
    r = -EIO;
  free(text);
  if (r < 0) {
    log_error("region", "cannot read the hydration source %s: %s", path, strerror(-r));
    free(h);
    return r;
  }
  h->size = size;
  pthread_mutex_init(&h->lock, NULL);
  r = cas_hold_begin(h->cas, &h->hold);
  if (r == 0)
    r = cas_hold_root(h->cas, h->hold, &h->root);
  struct tree_info ti;
  if (r == 0 && (tree_info(h->cas, &h->root, &ti) < 0 || ti.size != h->size ||
                 (1u << ti.chunk_shift) != rg->cfg.chunk_size)) {
    log_error("region", "the tree %s that %s hydrates from cannot be read; its chunks not yet hydrated fail with EIO",
              hex, path);
    h->broken = true;
    if (fresh) /* a new disk: refuse it rather than serve errors */
      r = -ENOENT;
  }
  h->shift = h->broken ? 0 : ti.chunk_shift;
  if (r < 0) {
    region_source_close(h);
    return r;
  }
  *vs = (struct vol_source){src_read, src_zero, h, h->size};
  *out = h;
  return 0;
}

const struct cas_addr *region_source_root(const struct region_source *h) { return &h->root; }
const char *region_source_domain(const struct region_source *h) { return h->domain; }

void region_source_unhold(struct region_source *h)
{
  if (h && h->hold) {
    cas_hold_end(h->cas, h->hold);
    h->hold = NULL;
  }
}

void region_source_close(struct region_source *h)
{
  if (!h)
    return;
  for (int i = 0; i < h->npool; i++)
    tree_reader_close(h->pool[i]);
  if (h->hold)
    cas_hold_end(h->cas, h->hold);
  pthread_mutex_destroy(&h->lock);
  free(h);
}
