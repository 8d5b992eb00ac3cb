/*
 * copy.c — disk restore points copied from another region.
 *
 * A copy is recorded with its restore point (region_copy_record: an image in
 * state Copying and its copy row naming the source tree), then run by the
 * creation operation, again after every restart (region_copy_run): the tree
 * is walked from the top and what this store already holds is skipped
 * (repl/copy.c), so a run resumes where the last one stopped.  Each
 * checkpoint records durable progress (the store synced first); the last
 * one commits the image READY with the same root as the source, exports it,
 * and marks the restore point Succeeded once all of its images are.
 *
 * Stores: a copy goes to the store of the source's key domain (the peer
 * document names it; both regions hold the same domains, from one
 * keyring), so its records travel sealed as the source stored them and this
 * store opens and re-addresses each before keeping it (cas_record_check):
 * dedup within the domain, incremental copies and the verification by the
 * target work as for plaintext.
 *
 * GC: a copy's objects are reachable from no root until the image commits,
 * so the region does not collect while any image is Copying (store.c), and a
 * run holds a cas_hold so that a GC that started before it keeps what it
 * puts.  A restore from an image that is still Copying is refused
 * (region_image_source: -EBUSY).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "region/internal.h"

static int64_t wall_us(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A domain as a peer names it: NULL (not yet known), "" (its legacy store)
 * or 32 lower-case hex digits. */
static bool domain_ok(const char *d)
{
  size_t n = d ? strspn(d, "0123456789abcdef") : 0;
  return !d || (n == strlen(d) && (n == 0 || n == 2 * 16));
}

int region_copy_record(struct region *rg, const struct region_copy_disk *d)
{
  struct cas_addr a;
  if (d->root[0] && cas_addr_from_hex(d->root, &a) < 0) /* "": named later (region_copy_set_root) */
    return -EINVAL;
  if (!domain_ok(d->domain))
    return -EINVAL;
  struct meta_image im = {.id = (char *)d->image_id, .rp_id = (char *)d->rp_id, .disk_id = (char *)d->disk_id,
                          .state = IMAGE_COPYING, .size = d->size};
  snprintf(im.domain, sizeof im.domain, "%s", d->domain ? d->domain : rg->platform);
  struct meta_image_copy c = {.image_id = (char *)d->image_id, .source_id = (char *)d->source_id,
                              .source_location = (char *)d->source_location, .size = d->size,
                              .started_us = wall_us()};
  snprintf(c.root, sizeof c.root, "%s", d->root);
  int rc = meta_image_put(rg->meta, &im);
  return rc == 0 ? meta_image_copy_put(rg->meta, &c) : rc;
}

struct run {
  struct region *rg;
  struct meta_image_copy row;
  const struct region_copy_opts *o;
};

static int on_checkpoint(void *ctx, const struct repl_copy_state *st)
{
  struct run *x = ctx;
  x->row.size = st->size;
  x->row.covered = st->covered;
  x->row.bytes_received = st->bytes_received;
  x->row.records_received = st->records_received;
  x->row.bytes_stored = st->bytes_stored;
  x->row.refetched = st->refetched;
  x->row.changed_us = wall_us();
  int rc = meta_image_copy_update(x->rg->meta, &x->row);
  if (rc < 0)
    return rc == -ENOENT ? -ECANCELED : rc; /* the restore point was deleted meanwhile */
  if (x->o->progress)
    x->o->progress(x->o->ctx, st->size ? 100.0 * (double)st->covered / (double)st->size : 0);
  return x->o->should_stop && x->o->should_stop(x->o->ctx) ? -EINTR : 0;
}

static int count_unready(void *ctx, const struct meta_image *im)
{
  *(int *)ctx += im->state != IMAGE_READY;
  return 0;
}

/* Image READY with the copied root, its restore point Succeeded when it was
 * the last image still copying. */
static int commit(struct region *rg, const struct meta_image_copy *row)
{
  struct meta *m = rg->meta;
  struct meta_image im;
  int rc = meta_begin(m);
  if (rc < 0)
    return rc;
  rc = meta_image_get(m, row->image_id, &im);
  if (rc == 0) {
    im.state = IMAGE_READY;
    snprintf(im.root, sizeof im.root, "%s", row->root);
    im.size = row->size;
    im.percent = 100;
    im.bytes_stored = row->bytes_stored;
    rc = meta_image_put(m, &im);
  }
  if (rc == 0)
    rc = meta_image_copy_update(m, row);
  if (rc == 0)
    rc = meta_resource_set_state(m, row->image_id, "Succeeded", NULL);
  int unready = 0;
  if (rc == 0)
    rc = meta_image_list(m, im.rp_id, count_unready, &unready);
  if (rc == 0 && unready == 0)
    rc = meta_resource_set_state(m, im.rp_id, "Succeeded", NULL);
  if (rc == 0)
    rc = meta_commit(m);
  else
    meta_rollback(m);
  meta_image_clear(&im);
  return rc;
}

int region_copy_run(struct region *rg, const char *image_id, const struct repl_peer *peer,
                    const struct region_copy_opts *o)
{
  struct run x = {.rg = rg, .o = o};
  struct meta_image im;
  int rc = meta_image_get(rg->meta, image_id, &im);
  if (rc < 0)
    return rc;
  bool copying = im.state == IMAGE_COPYING;
  struct cas *cas = region_store_for(rg, im.domain);
  struct repl_peer from = *peer; /* its store of the same key domain */
  char domain[META_DOMAIN_HEX];
  memcpy(domain, im.domain, sizeof domain);
  from.domain = domain;
  meta_image_clear(&im);
  if (!copying)
    return 0; /* done in an earlier run (or failed: not ours to redo) */
  if (!cas)
    return -errno;
  if ((rc = meta_image_copy_get(rg->meta, image_id, &x.row)) < 0)
    return rc;
  struct cas_addr root;
  struct repl_copy_state st = {.size = x.row.size, .covered = 0, .bytes_received = x.row.bytes_received,
                               .records_received = x.row.records_received, .bytes_stored = x.row.bytes_stored,
                               .refetched = x.row.refetched};
  struct repl_copy_opts ro = {.streams = o->streams, .max_bytes_per_s = o->max_bytes_per_s,
                              .checkpoint = on_checkpoint, .ctx = &x};
  struct cas_hold *hold = NULL;
  rc = x.row.root[0] ? cas_addr_from_hex(x.row.root, &root) : -EAGAIN; /* its source is not captured yet */
  if (rc == 0)
    rc = cas_hold_begin(cas, &hold);
  if (rc == 0)
    rc = repl_copy_tree(cas, &from, &root, &ro, &st); /* synced on 0 */
  if (rc == 0) {
    on_checkpoint(&x, &st);
    free(x.row.error);
    x.row.error = NULL;
    rc = commit(rg, &x.row);
  }
  if (hold)
    cas_hold_end(cas, hold);
  if (rc == 0) {
    region_image_export(rg, image_id);
    log_info("region", "disk restore point %s copied from %s: %llu bytes received, %llu stored, %llu refetched",
             image_id, peer->name, (unsigned long long)st.bytes_received, (unsigned long long)st.bytes_stored,
             (unsigned long long)st.refetched);
  }
  meta_image_copy_clear(&x.row);
  return rc;
}

int region_copy_set_root(struct region *rg, const char *image_id, const char *root, uint64_t size,
                         const char *domain)
{
  struct cas_addr a;
  struct meta_image im;
  if (cas_addr_from_hex(root, &a) < 0 || !domain_ok(domain))
    return -EINVAL;
  int rc = meta_begin(rg->meta);
  if (rc < 0)
    return rc;
  rc = meta_image_get(rg->meta, image_id, &im);
  if (rc == 0 && domain) {
    snprintf(im.domain, sizeof im.domain, "%s", domain);
    rc = meta_image_put(rg->meta, &im);
  }
  if (rc == 0)
    meta_image_clear(&im);
  if (rc == 0)
    rc = meta_image_copy_set_root(rg->meta, image_id, root, size);
  if (rc == 0)
    rc = meta_commit(rg->meta);
  else
    meta_rollback(rg->meta);
  return rc;
}

int region_copy_note(struct region *rg, const char *image_id, const char *error, bool attempt)
{
  struct meta_image_copy row;
  int rc = meta_image_copy_get(rg->meta, image_id, &row);
  if (rc < 0)
    return rc;
  free(row.error);
  row.error = error ? strdup(error) : NULL;
  row.attempts += attempt;
  row.changed_us = wall_us();
  rc = meta_image_copy_update(rg->meta, &row);
  meta_image_copy_clear(&row);
  return rc;
}

int region_copy_get(struct region *rg, const char *image_id, struct meta_image_copy *out)
{
  return meta_image_copy_get(rg->meta, image_id, out);
}

int region_export_open(struct region *rg, const char *domain, const void *body, size_t len, struct repl_export **out)
{
  if (!domain_ok(domain))
    return -EINVAL;
  struct cas *cas = region_store_for(rg, domain);
  return cas ? repl_export_open(cas, body, len, out) : -errno;
}
