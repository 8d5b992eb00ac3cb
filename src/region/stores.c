/*
 * stores.c — the region's chunk stores: one per key domain.
 *
 * A store belongs to one key domain (cas.h): objects under different keys
 * never deduplicate, so the region keeps a store per domain and every tree
 * is in exactly one of them — the one its image (meta_image.domain), capture
 * base or hydration source names.  region_store_for is the only way from a
 * domain to its store; the captures, reads, holds, GC, verify, repair and
 * copies all go through it, so a new domain (a disk encryption set) is a new
 * store and nothing else.
 *
 * Domain "" is the legacy store, <data_dir>/store.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "region/internal.h"

struct region_store {
  char domain[META_DOMAIN_HEX];
  struct cas *cas;
  struct region_store *next;
};

static int open_store(struct region *rg, const char *domain, const char *dir, bool create, struct cas **out)
{
  unsigned shift = 0;
  while ((1u << shift) < rg->cfg.chunk_size)
    shift++;
  struct cas_options copts = {.chunk_shift = shift, .create = create, .crc_reads = true};
  int rc = cas_open(dir, &copts, out);
  if (rc == 0 && cas_chunk_size(*out) != rg->cfg.chunk_size) {
    log_error("region", "the store in %s uses %u-byte chunks, the configuration says %u", dir, cas_chunk_size(*out),
              rg->cfg.chunk_size);
    cas_close(*out);
    rc = -EINVAL;
  }
  if (rc < 0)
    log_error("region", "cannot open the store of domain '%s' in %s: %s", domain, dir, strerror(-rc));
  return rc;
}

/* Adds the store of domain to the open ones (stores_lock held). */
static int add_locked(struct region *rg, const char *domain, struct cas **out)
{
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/store", rg->cfg.data_dir);
  struct region_store *s = calloc(1, sizeof *s);
  int rc = s ? open_store(rg, domain, dir, true, &s->cas) : -ENOMEM;
  if (rc < 0) {
    free(s);
    return rc;
  }
  snprintf(s->domain, sizeof s->domain, "%s", domain);
  s->next = rg->stores;
  rg->stores = s;
  *out = s->cas;
  return 0;
}

struct cas *region_store_for(struct region *rg, const char *domain_hex)
{
  const char *d = domain_hex ? domain_hex : "";
  struct cas *cas = NULL;
  pthread_mutex_lock(&rg->stores_lock);
  for (struct region_store *s = rg->stores; s && !cas; s = s->next)
    if (!strcmp(s->domain, d))
      cas = s->cas;
  int rc = cas ? 0 : add_locked(rg, d, &cas);
  pthread_mutex_unlock(&rg->stores_lock);
  if (rc < 0)
    errno = -rc;
  return rc < 0 ? NULL : cas;
}

int region_stores_open(struct region *rg)
{
  return region_store_for(rg, rg->platform) ? 0 : -errno;
}

int region_stores_each(struct region *rg, int (*fn)(void *ctx, const char *domain, struct cas *cas), void *ctx)
{
  /* stores are only added (at the head) while the region is open: the
   * list from the head read under the lock stays valid without it */
  pthread_mutex_lock(&rg->stores_lock);
  struct region_store *head = rg->stores;
  pthread_mutex_unlock(&rg->stores_lock);
  int rc = 0;
  for (struct region_store *s = head; s && rc == 0; s = s->next)
    rc = fn(ctx, s->domain, s->cas);
  return rc;
}

void region_stores_close(struct region *rg)
{
  while (rg->stores) {
    struct region_store *s = rg->stores;
    rg->stores = s->next;
    cas_close(s->cas);
    free(s);
  }
}
