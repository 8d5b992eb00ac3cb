/*
 * region.c — opening and closing the region.
 *
 * Start-up order: the chunk stores (stores.c; their chunk size must be the
 * configured one: a disk's changed-block bitmap counts store chunks), then every volume
 * (region_volumes_open finishes what a crash interrupted), then restore
 * points a crash left Creating become Failed — their captures lived only in
 * memory — every ready image is exported and the stored NBD grants are
 * registered again.  Shutdown runs it backwards:
 * the GC timer stops, captures never run end uncommitted (their chunks stay
 * dirty for the next restore point), exports go, volumes close clean.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "region/internal.h"

int region_open(const struct region_config *cfg, struct meta *m, struct region **out)
{
  struct region *r = calloc(1, sizeof *r);
  if (!r)
    return -ENOMEM;
  r->cfg = *cfg;
  r->meta = m;
  pthread_mutex_init(&r->volumes_lock, NULL);
  pthread_mutex_init(&r->captures_lock, NULL);
  pthread_mutex_init(&r->agents_lock, NULL);
  pthread_cond_init(&r->agents_cv, NULL);
  pthread_mutex_init(&r->stores_lock, NULL);
  pthread_mutex_init(&r->maint_lock, NULL);
  pthread_mutex_init(&r->domains_lock, NULL);
  pthread_mutex_init(&r->prober_lock, NULL);
  pthread_cond_init(&r->prober_cv, NULL);
  int rc = region_upgrade_open(r); /* before the stores: finishes a removal of the plaintext one */
  if (rc == 0)
    rc = region_stores_open(r);
  if (rc == 0)
    rc = region_agents_open(r); /* thaws guests a crash may have left frozen */
  if (rc == 0)
    rc = region_volumes_open(r);
  if (rc == 0)
    rc = region_images_recover(r);
  if (rc == 0)
    rc = region_images_export_all(r);
  if (rc == 0)
    rc = region_nbd_access_load(r);
  if (rc == 0)
    region_domains_start(r);
  if (rc < 0) {
    region_close(r);
    return rc;
  }
  *out = r;
  return 0;
}

void region_set_jobs(struct region *r, struct jobs *jobs)
{
  r->jobs = jobs;
  region_gc_timer_start(r);
}

void region_close(struct region *r)
{
  if (!r)
    return;
  if (r->jobs)
    region_gc_timer_stop(r);
  region_domains_stop(r);
  region_agents_close(r);
  region_captures_free(r);
  if (r->stores)
    region_images_unexport_all(r);
  region_volumes_close(r);
  region_stores_close(r);
  region_upgrade_close(r);
  pthread_mutex_destroy(&r->stores_lock);
  pthread_mutex_destroy(&r->maint_lock);
  pthread_mutex_destroy(&r->domains_lock);
  pthread_mutex_destroy(&r->prober_lock);
  pthread_cond_destroy(&r->prober_cv);
  pthread_mutex_destroy(&r->volumes_lock);
  pthread_mutex_destroy(&r->captures_lock);
  pthread_cond_destroy(&r->agents_cv);
  pthread_mutex_destroy(&r->agents_lock);
  free(r);
}

void region_set_sas_url(struct region *r, const char *url) { r->cfg.sas_url = url; }

char *region_nbd_uri(struct region *r, const char *export_name, bool tcp)
{
  char *uri = NULL;
  if (tcp && r->cfg.nbd_tcp)
    uri = asprintf(&uri, "nbd://%s/%s", r->cfg.nbd_tcp, export_name) < 0 ? NULL : uri;
  else if (!tcp && r->cfg.nbd_unix)
    uri = asprintf(&uri, "nbd+unix:///%s?socket=%s", export_name, r->cfg.nbd_unix) < 0 ? NULL : uri;
  return uri;
}
