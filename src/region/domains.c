/*
 * domains.c — the key domains of disk encryption sets: made, rotated and
 * forgotten for the front end, which names them by hex id and never holds
 * a key; and crypto-erase.
 *
 * A customer key never leaves its token; what the keyring keeps of a set's
 * domain is its key set wrapped by that key (keys.h), so a probe asks the
 * token: a key destroyed or disabled there answers at once.  The stores and
 * volumes of a domain keep its unwrapped keys in memory for their I/O (a
 * token call per read would be an HSM round trip per block), so a failed
 * probe is what takes the data away: the domain is marked unreadable, the
 * NBD capabilities of its disks and disk restore points are withdrawn (which
 * closes the connections they opened: in-flight requests finish), the SAS
 * data plane's readers refuse it, and the front end refuses its grants,
 * restores and captures (it probes at every such call).  The first probe
 * that succeeds again registers the capabilities anew from the metadata.
 * Probes run at every front-end access and every [encryption]
 * key_probe_interval on every customer domain in use, so a key destroyed
 * under an idle connection closes it within one interval.
 *
 * What is not erased at once: the keys held in the running process (until
 * it restarts: the domain's stores and volumes then do not open) and the
 * reads already under way.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/strlist.h"
#include "keys/keys.h"
#include "region/internal.h"

struct region_domain_block {
  char domain[META_DOMAIN_HEX];
  int err; /* the key error of its last probe */
  struct region_domain_block *next;
};

int region_key_url_token(const char *key_url, char token[33])
{
  struct keys_url u;
  int rc = keys_url_parse(key_url, &u);
  if (rc == 0)
    memcpy(token, u.token, sizeof u.token);
  return rc;
}

int region_cmk_check(struct region *r, const char *key_url)
{
  return r->cfg.keys ? keys_cmk_check(r->cfg.keys, key_url) : -ENODEV;
}

int region_domain_create(struct region *r, const char *key_url, char domain[33])
{
  uint8_t id[KEYS_ID_LEN];
  int rc = r->cfg.keys ? keys_domain_create(r->cfg.keys, key_url, id) : -ENODEV;
  if (rc == 0)
    keys_id_to_hex(id, domain);
  return rc;
}

int region_domain_rewrap(struct region *r, const char *domain, const char *key_url)
{
  uint8_t id[KEYS_ID_LEN];
  int rc = r->cfg.keys ? keys_id_from_hex(domain, id) : -ENODEV;
  if (rc == 0)
    rc = keys_domain_rewrap(r->cfg.keys, id, key_url);
  return rc;
}

int region_domain_wrapping(struct region *r, const char *domain, char **key_url)
{
  uint8_t id[KEYS_ID_LEN];
  int rc = r->cfg.keys ? keys_id_from_hex(domain, id) : -ENODEV;
  if (rc == 0)
    rc = keys_domain_wrapping(r->cfg.keys, id, key_url);
  return rc;
}

static int volume_in(void *ctx, const struct meta_volume *v) { return strcmp(v->domain, ctx) == 0; }
static int image_in(void *ctx, const struct meta_image *im) { return strcmp(im->domain, ctx) == 0; }

int region_domain_in_use(struct region *r, const char *domain)
{
  int rc = meta_volume_list(r->meta, volume_in, (void *)domain);
  if (rc == 0)
    rc = meta_image_list(r->meta, NULL, image_in, (void *)domain);
  return rc;
}

int region_domain_delete(struct region *r, const char *domain)
{
  uint8_t id[KEYS_ID_LEN];
  int rc = r->cfg.keys ? keys_id_from_hex(domain, id) : -ENODEV;
  if (rc == 0)
    rc = keys_domain_delete(r->cfg.keys, id);
  return rc;
}

/* ---- crypto-erase ------------------------------------------------------- */

static bool key_error(int rc)
{
  return rc == -ENOKEY || rc == -EKEYREVOKED || rc == -EKEYREJECTED || rc == -ENODEV || rc == -EACCES ||
         rc == -ENOENT;
}

static bool customer(const struct region *r, const char *domain)
{
  return domain && *domain && strcmp(domain, r->platform) != 0;
}

int region_domain_error(struct region *r, const char *domain)
{
  int err = 0;
  if (!customer(r, domain))
    return 0;
  pthread_mutex_lock(&r->domains_lock);
  for (struct region_domain_block *b = r->blocked; b && !err; b = b->next)
    if (!strcmp(b->domain, domain))
      err = b->err;
  pthread_mutex_unlock(&r->domains_lock);
  return err;
}

/* The volumes (by id) and the ARM ids of the disks and disk restore points
 * in a domain. */
struct in_domain {
  const char *domain;
  struct strlist volumes, ids;
};

static int volume_id_in(void *ctx, const struct meta_volume *v)
{
  struct in_domain *d = ctx;
  if (strcmp(v->domain, d->domain) || !v->resource_id)
    return 0;
  int rc = strlist_add(&d->volumes, v->id);
  return rc < 0 ? rc : strlist_add(&d->ids, v->resource_id);
}

static int image_id_in(void *ctx, const struct meta_image *im)
{
  struct in_domain *d = ctx;
  return strcmp(im->domain, d->domain) ? 0 : strlist_add(&d->ids, im->id);
}

/* Withdraws the NBD capabilities of everything in the domain, or opens
 * what could not open without its key (at start) and registers them again. */
static void switch_access(struct region *r, const char *domain, bool on)
{
  struct in_domain d = {.domain = domain};
  int rc = meta_volume_list(r->meta, volume_id_in, &d);
  size_t nvol = d.ids.n;
  if (rc == 0)
    rc = meta_image_list(r->meta, NULL, image_id_in, &d);
  for (size_t i = 0; rc == 0 && on && i < d.ids.n; i++)
    rc = i < nvol ? region_volume_reopen(r, d.volumes.v[i]) : region_image_export(r, d.ids.v[i]);
  for (size_t i = 0; rc == 0 && i < d.ids.n; i++)
    rc = on ? region_nbd_access_reload(r, d.ids.v[i]) : region_nbd_access_drop(r, d.ids.v[i]);
  if (rc < 0)
    log_error("region", "cannot %s the NBD access of key domain %s: %s", on ? "restore" : "withdraw", domain,
              strerror(-rc));
  strlist_free(&d.volumes);
  strlist_free(&d.ids);
}

/* Records the outcome rc of a probe of domain; acts on a change. */
static void record(struct region *r, const char *domain, int rc)
{
  if (rc < 0 && !key_error(rc))
    return; /* not an answer about the key (ENOMEM, EIO): nothing changes */
  pthread_mutex_lock(&r->domains_lock);
  struct region_domain_block **p = &r->blocked;
  while (*p && strcmp((*p)->domain, domain) != 0)
    p = &(*p)->next;
  bool was = *p != NULL, now = rc < 0;
  if (now && !was && (*p = calloc(1, sizeof **p)))
    snprintf((*p)->domain, sizeof (*p)->domain, "%s", domain);
  if (now && *p)
    (*p)->err = rc;
  if (!now && was) {
    struct region_domain_block *gone = *p;
    *p = gone->next;
    free(gone);
  }
  pthread_mutex_unlock(&r->domains_lock);
  if (now && !was) {
    log_warn("region", "the customer key of key domain %s cannot be used (%s): its disks and restore points are "
             "unreadable until it can", domain, strerror(-rc));
    switch_access(r, domain, false);
  } else if (!now && was) {
    log_info("region", "the customer key of key domain %s works again: its disks and restore points are readable",
             domain);
    switch_access(r, domain, true);
  }
}

int region_domain_probe(struct region *r, const char *domain)
{
  if (!customer(r, domain))
    return 0;
  uint8_t id[KEYS_ID_LEN];
  struct keys_set set;
  int rc = r->cfg.keys ? keys_id_from_hex(domain, id) : -ENODEV;
  if (rc == 0)
    rc = keys_domain_get(r->cfg.keys, id, &set);
  OPENSSL_cleanse(&set, sizeof set);
  record(r, domain, rc);
  return rc;
}

/* The customer domains in use, once each. */
static int add_domain(struct strlist *l, const struct region *r, const char *domain)
{
  if (!customer(r, domain))
    return 0;
  for (size_t i = 0; i < l->n; i++)
    if (!strcmp(l->v[i], domain))
      return 0;
  return strlist_add(l, domain);
}

struct used {
  struct region *r;
  struct strlist domains;
};

static int volume_domain(void *ctx, const struct meta_volume *v)
{
  struct used *u = ctx;
  return add_domain(&u->domains, u->r, v->domain);
}

static int image_domain(void *ctx, const struct meta_image *im)
{
  struct used *u = ctx;
  return add_domain(&u->domains, u->r, im->domain);
}

static void probe_all(struct region *r)
{
  struct used u = {.r = r};
  int rc = meta_volume_list(r->meta, volume_domain, &u);
  if (rc == 0)
    rc = meta_image_list(r->meta, NULL, image_domain, &u);
  for (size_t i = 0; rc == 0 && i < u.domains.n; i++)
    region_domain_probe(r, u.domains.v[i]);
  strlist_free(&u.domains);
}

static void *prober(void *arg)
{
  struct region *r = arg;
  pthread_mutex_lock(&r->prober_lock);
  while (!r->prober_stop) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += r->cfg.key_probe_interval_s;
    while (!r->prober_stop && pthread_cond_timedwait(&r->prober_cv, &r->prober_lock, &until) != ETIMEDOUT)
      ;
    if (r->prober_stop)
      break;
    pthread_mutex_unlock(&r->prober_lock);
    probe_all(r);
    pthread_mutex_lock(&r->prober_lock);
  }
  pthread_mutex_unlock(&r->prober_lock);
  return NULL;
}

void region_domains_start(struct region *r)
{
  probe_all(r); /* a key destroyed while the region was down */
  r->prober_running = r->cfg.key_probe_interval_s > 0 && pthread_create(&r->prober, NULL, prober, r) == 0;
}

void region_domains_stop(struct region *r)
{
  if (r->prober_running) {
    pthread_mutex_lock(&r->prober_lock);
    r->prober_stop = true;
    pthread_cond_broadcast(&r->prober_cv);
    pthread_mutex_unlock(&r->prober_lock);
    pthread_join(r->prober, NULL);
    r->prober_running = false;
  }
  while (r->blocked) {
    struct region_domain_block *b = r->blocked;
    r->blocked = b->next;
    free(b);
  }
}

bool region_domain_is_customer(struct region *r, const char *domain) { return customer(r, domain); }

int region_volume_domain(struct region *r, const char *vol_id, char domain[33])
{
  struct meta_volume mv;
  int rc = meta_volume_get(r->meta, vol_id, &mv);
  if (rc == 0) {
    memcpy(domain, mv.domain, META_DOMAIN_HEX);
    meta_volume_clear(&mv);
  }
  return rc;
}

int region_image_domain(struct region *r, const char *image_id, char domain[33])
{
  struct meta_image im;
  int rc = meta_image_get(r->meta, image_id, &im);
  if (rc == 0) {
    memcpy(domain, im.domain, META_DOMAIN_HEX);
    meta_image_clear(&im);
  }
  return rc;
}
