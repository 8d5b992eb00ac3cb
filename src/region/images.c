/*
 * images.c — the region's disk restore points (images): their trees, their
 * read-only NBD exports, their failure and their removal.
 *
 * An image's record (meta/image.c) goes Capturing → Succeeded (READY, with
 * its root) or → Failed, never back: region_restore_point_fail leaves a
 * READY image alone.  Only a READY image has a tree anyone may read; it is a
 * GC root for as long as its record exists (store.c).
 *
 * Exports: every READY image is exported read-only over NBD under its name
 * ({disk}_{guid}), through nbd/snap_backend.c; "vmrp:changed" is computed
 * against the image it was built on (looked up per request, so a deleted
 * predecessor makes the whole disk changed).  Removing an image unexports it
 * — disconnecting its clients — before its rows go, so no client reads a tree
 * the GC may take.  Exports hold no cas_hold: a hold lives for a bounded
 * operation (one open for the daemon's life would make every GC keep
 * everything put meanwhile).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/strlist.h"
#include "nbd/snap_backend.h"
#include "region/internal.h"

#define DRP_TYPE "Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints"
#define RP_TYPE "Microsoft.Compute/restorePointCollections/restorePoints"

/* A READY image's tree and the domain of the store it is in. */
static int ready_tree(struct region *rg, const char *image_id, char root[65], uint64_t *size,
                      char domain[META_DOMAIN_HEX])
{
  struct meta_image im;
  int rc = meta_image_get(rg->meta, image_id, &im);
  if (rc < 0)
    return rc;
  rc = im.state == IMAGE_READY && im.root[0] ? 0 : -EBUSY;
  if (rc == 0) {
    memcpy(root, im.root, 65);
    *size = im.size;
    memcpy(domain, im.domain, META_DOMAIN_HEX);
  }
  meta_image_clear(&im);
  return rc;
}

int region_image_source(struct region *rg, const char *image_id, char root[65], uint64_t *size)
{
  char domain[META_DOMAIN_HEX];
  return ready_tree(rg, image_id, root, size, domain);
}

int region_image_get(struct region *rg, const char *image_id, struct meta_image *out)
{
  return meta_image_get(rg->meta, image_id, out);
}

struct region_hold {
  struct cas *cas;
  struct cas_hold *hold;
};

struct cas *region_hold_store(const struct region_hold *h) { return h->cas; }

/* The hold is recorded before the image is read again: a GC that gathered
 * its roots before that read saw the image (it still existed then; images
 * are never re-created under one id with another tree), and any later GC
 * sees the hold. */
int region_image_hold(struct region *rg, const char *image_id, char root[65], uint64_t *size,
                      struct region_hold **out)
{
  *out = NULL;
  char want[65], again[65], domain[META_DOMAIN_HEX];
  uint64_t n;
  struct cas_addr a;
  int rc = ready_tree(rg, image_id, want, size, domain);
  if (rc == 0)
    rc = region_domain_error(rg, domain); /* crypto-erased */
  if (rc < 0)
    return rc;
  struct region_hold *h = calloc(1, sizeof *h);
  if (!h)
    return -ENOMEM;
  rc = cas_addr_from_hex(want, &a);
  if (rc == 0 && !(h->cas = region_store_for(rg, domain)))
    rc = -errno;
  if (rc == 0)
    rc = cas_hold_begin(h->cas, &h->hold);
  if (rc == 0)
    rc = cas_hold_root(h->cas, h->hold, &a);
  if (rc == 0)
    rc = region_image_source(rg, image_id, again, &n);
  if (rc == 0 && strcmp(want, again) != 0)
    rc = -ENOENT;
  if (rc < 0) {
    region_image_unhold(rg, h);
    return rc;
  }
  memcpy(root, want, 65);
  *out = h;
  return 0;
}

void region_image_unhold(struct region *rg, struct region_hold *h)
{
  if (!h)
    return;
  if (h->hold)
    cas_hold_end(h->cas, h->hold);
  free(h);
}

struct image_export {
  struct nbd_snap snap;
  struct region *rg;
  char *prev_id; /* the image it was built on, or NULL */
};

static int previous_root(void *ctx, struct cas_addr *root)
{
  struct image_export *e = ctx;
  char hex[65];
  uint64_t size;
  int rc = e->prev_id ? region_image_source(e->rg, e->prev_id, hex, &size) : -ENOENT;
  return rc < 0 ? rc : cas_addr_from_hex(hex, root);
}

static const char *name_of(const char *id)
{
  const char *s = strrchr(id, '/');
  return s ? s + 1 : id;
}

static void export_free(struct image_export *e)
{
  free(e->prev_id);
  free(e);
}

static int export_image(struct region *rg, const struct meta_image *im)
{
  if (!rg->cfg.nbd)
    return 0;
  struct image_export *e = calloc(1, sizeof *e);
  if (!e)
    return -ENOMEM;
  e->rg = rg;
  e->snap = (struct nbd_snap){.cas = region_store_for(rg, im->domain), .size = im->size, .previous = previous_root,
                              .ctx = e};
  int rc = !e->snap.cas ? -errno : im->state == IMAGE_READY && cas_addr_from_hex(im->root, &e->snap.root) == 0 ? 0 : -EBUSY;
  if (rc == 0 && im->previous_id && !(e->prev_id = strdup(im->previous_id)))
    rc = -ENOMEM;
  if (rc == 0)
    rc = nbd_export_add(rg->cfg.nbd, name_of(im->id), &nbd_snap_ops, &e->snap);
  if (rc < 0) {
    log_error("region", "cannot export disk restore point %s: %s", im->id, strerror(-rc));
    export_free(e);
  }
  return rc;
}

int region_image_export(struct region *rg, const char *image_id)
{
  if (rg->cfg.nbd && nbd_export_handle(rg->cfg.nbd, name_of(image_id)))
    return 0; /* exported already */
  struct meta_image im;
  int rc = meta_image_get(rg->meta, image_id, &im);
  if (rc == 0) {
    rc = export_image(rg, &im);
    meta_image_clear(&im);
  }
  return rc;
}

/* flags: nbd_export_remove's (0: -EBUSY while a client uses it) */
static int unexport(struct region *rg, const char *image_id, unsigned flags)
{
  struct nbd_snap *h = rg->cfg.nbd ? nbd_export_handle(rg->cfg.nbd, name_of(image_id)) : NULL;
  int rc = h ? nbd_export_remove(rg->cfg.nbd, name_of(image_id), flags) : 0;
  if (rc == 0 && h)
    export_free((struct image_export *)h); /* snap is the first member */
  return rc;
}

int region_image_reexport(struct region *rg, const char *image_id)
{
  int rc = unexport(rg, image_id, 0);
  if (rc == 0)
    rc = region_image_export(rg, image_id);
  if (rc == 0) /* the remove forgot the capabilities that open it */
    rc = region_nbd_access_reload(rg, image_id);
  return rc;
}

bool region_image_exported_from(struct region *rg, const char *image_id, const struct cas *cas)
{
  struct nbd_snap *h = rg->cfg.nbd ? nbd_export_handle(rg->cfg.nbd, name_of(image_id)) : NULL;
  return h && h->cas == cas;
}

static int export_ready(void *ctx, const struct meta_image *im)
{
  if (im->state == IMAGE_READY)
    export_image(ctx, im);
  return 0;
}

static int unexport_one(void *ctx, const struct meta_image *im)
{
  unexport(ctx, im->id, NBD_REMOVE_DISCONNECT);
  return 0;
}

int region_images_export_all(struct region *rg) { return meta_image_list(rg->meta, NULL, export_ready, rg); }
void region_images_unexport_all(struct region *rg) { meta_image_list(rg->meta, NULL, unexport_one, rg); }

int region_image_delete(struct region *rg, const char *image_id)
{
  unexport(rg, image_id, NBD_REMOVE_DISCONNECT); /* disconnects its readers first */
  int rc = meta_resource_delete(rg->meta, image_id); /* the image row goes with it (trigger) */
  return rc == -ENOENT ? 0 : rc;
}

static int collect_unready(void *ctx, const struct meta_image *im)
{
  return im->state == IMAGE_READY ? 0 : strlist_add(ctx, im->id);
}

int region_restore_point_fail(struct region *rg, const char *rp_id, const char *code)
{
  struct strlist l = {0};
  int rc = meta_image_list(rg->meta, rp_id, collect_unready, &l);
  if (rc == 0)
    rc = meta_begin(rg->meta);
  if (rc == 0) {
    rc = meta_resource_set_state(rg->meta, rp_id, "Failed", code);
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
      struct meta_image im;
      rc = meta_image_get(rg->meta, l.v[i], &im);
      if (rc == 0) {
        im.state = IMAGE_FAILED;
        rc = meta_image_put(rg->meta, &im);
        meta_image_clear(&im);
      }
      if (rc == 0)
        rc = meta_resource_set_state(rg->meta, l.v[i], "Failed", NULL);
      if (rc == -ENOENT)
        rc = 0;
    }
    if (rc == 0)
      rc = meta_commit(rg->meta);
    else
      meta_rollback(rg->meta);
  }
  if (rc < 0)
    log_error("region", "cannot mark restore point %s Failed: %s", rp_id, strerror(-rc));
  strlist_free(&l);
  return rc;
}

/* At start-up: restore points a crash left Creating become Failed (their
 * captures lived in memory). */
static int is_copying(void *ctx, const struct meta_image *im)
{
  (void)ctx;
  return im->state == IMAGE_COPYING;
}

/* A copy is resumed by its operation (copy.c), not failed. */
struct creating {
  struct strlist ids;
  struct meta *meta;
};

static int find_creating(void *ctx, const struct meta_resource *r)
{
  struct creating *l = ctx;
  if (strcasecmp(r->type, RP_TYPE) != 0 || !r->provisioning_state || strcmp(r->provisioning_state, "Creating") != 0)
    return 0;
  int copying = meta_image_list(l->meta, r->id, is_copying, NULL);
  return copying < 0 ? copying : copying ? 0 : strlist_add(&l->ids, r->id);
}

int region_images_recover(struct region *rg)
{
  struct creating c = {.meta = rg->meta};
  struct strlist *l = &c.ids;
  int rc = meta_resource_list_type(rg->meta, RP_TYPE, find_creating, &c);
  for (size_t i = 0; rc == 0 && i < l->n; i++) {
    log_warn("region", "restore point %s was being created when the service stopped: marking it Failed", l->v[i]);
    region_restore_point_fail(rg, l->v[i], "OperationInterrupted");
  }
  strlist_free(l);
  return rc;
}
