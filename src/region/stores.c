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
 * The stores of the key domains (keys.h) are <data_dir>/stores/<domain id
 * in hex>/, or the domain id under the configured store location (a RADOS
 * namespace: cas_location_join), encrypted and addressed under the domain's keys (a struct
 * cas_key made from the domain's key set here: cas/ knows no keys/), the
 * platform domain's opened at start, a customer domain's on first use.
 * Domain "" is the legacy plaintext store <data_dir>/store of a vmrp from
 * before encryption: opened only when it exists, read until the upgrade
 * has moved its trees.  A region without a keyring (cfg.keys NULL: unit
 * tests of other layers) keeps every tree there, and claims nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "keys/keys.h"
#include "region/internal.h"

#include <openssl/crypto.h>

struct region_store {
  char domain[META_DOMAIN_HEX];
  struct cas *cas;
  struct region_store *next;
};

static int open_store(struct region *rg, const char *domain, const char *loc, const struct cas_key *key,
                      struct cas **out)
{
  unsigned shift = 0;
  while ((1u << shift) < rg->cfg.chunk_size)
    shift++;
  struct cas_options copts = {.chunk_shift = shift, .create = key || !rg->cfg.keys, .crc_reads = true, .key = key};
  int rc = cas_open(loc, &copts, out);
  if (rc == 0 && cas_chunk_size(*out) != rg->cfg.chunk_size) {
    log_error("region", "the store in %s uses %u-byte chunks, the configuration says %u", loc, cas_chunk_size(*out),
              rg->cfg.chunk_size);
    cas_close(*out);
    rc = -EINVAL;
  }
  if (rc < 0 && (*domain || rc != -ENOENT)) /* no legacy store: nothing to say */
    log_error("region", "cannot open the store of domain '%s' in %s: %s", domain, loc, strerror(-rc));
  return rc;
}

int region_domain_set(struct region *rg, const char *domain, struct keys_set *out)
{
  uint8_t id[KEYS_ID_LEN];
  int rc = rg->cfg.keys ? keys_id_from_hex(domain, id) : -ENOKEY;
  return rc < 0 ? rc : keys_domain_get(rg->cfg.keys, id, out);
}

/* The cas key of a domain, from its key set. */
static int domain_key(struct region *rg, const char *domain, struct cas_key *key)
{
  struct keys_set set;
  int rc = region_domain_set(rg, domain, &set);
  if (rc == 0) {
    memcpy(key->id, set.id, sizeof key->id);
    memcpy(key->enc, set.enc, sizeof key->enc);
    memcpy(key->addr, set.addr, sizeof key->addr);
  }
  OPENSSL_cleanse(&set, sizeof set);
  return rc;
}

/* Adds the store of domain to the open ones (stores_lock held). */
static int add_locked(struct region *rg, const char *domain, struct cas **out)
{
  char base[4096];
  CLEANUP_FREE char *loc = NULL;
  struct cas_key key;
  struct region_store *s = calloc(1, sizeof *s);
  if (!s)
    return -ENOMEM;
  int rc = *domain ? domain_key(rg, domain, &key) : 0; /* a known domain: its id names the store */
  snprintf(base, sizeof base, "%s/stores", rg->cfg.data_dir);
  if (rc == 0 && *domain)
    rc = cas_location_join(rg->cfg.store_location ? rg->cfg.store_location : base, domain, &loc);
  else if (rc == 0 && asprintf(&loc, "%s/store", rg->cfg.data_dir) < 0)
    loc = NULL, rc = -ENOMEM;
  if (rc == 0)
    rc = open_store(rg, domain, loc, *domain ? &key : NULL, &s->cas);
  OPENSSL_cleanse(&key, sizeof key);
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
  struct keys_set set;
  char dir[4096];
  if (rg->cfg.keys) {
    keys_platform(rg->cfg.keys, &set);
    keys_id_to_hex(set.id, rg->platform);
    OPENSSL_cleanse(&set, sizeof set);
    snprintf(dir, sizeof dir, "%s/stores", rg->cfg.data_dir);
    int rc = mkdir_exist_ok(dir, 0700);
    if (rc < 0)
      return rc;
  }
  snprintf(dir, sizeof dir, "%s/store", rg->cfg.data_dir);
  if (rg->cfg.keys && access(dir, F_OK) == 0 && !region_store_for(rg, "")) /* a store from before */
    return -errno;
  return region_store_for(rg, rg->platform) ? 0 : -errno;
}

int region_stores_each(struct region *rg, int (*fn)(void *ctx, const char *domain, struct cas *cas), void *ctx)
{
  /* stores are only added (at the head) while the region is open: the
   * list from the head read under the lock stays valid without it */
  pthread_mutex_lock(&rg->stores_lock);
  struct region_store *head = rg->stores;
  pthread_mutex_unlock(&rg->stores_lock);
  char legacy[4096];
  snprintf(legacy, sizeof legacy, "%s/store", rg->cfg.data_dir);
  int rc = 0;
  for (struct region_store *s = head; s && rc == 0; s = s->next)
    if (*s->domain || access(legacy, F_OK) == 0) /* the upgrade deletes the legacy store */
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
