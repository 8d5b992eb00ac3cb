/*
 * upgrade.c — encrypting in place what a vmrp from before encryption at
 * rest wrote: the trees of its disk restore points in the plaintext store
 * <data_dir>/store (images.domain NULL) and its plaintext volumes.
 *
 * The region's job runs region_upgrade_step until it answers 1; every step
 * is short and leaves the region consistent, so a kill -9 anywhere costs at
 * most the step it cut short, and the next start goes on from the rows:
 *
 *   images      one per step: its tree is built again in the platform
 *               store from a reader of the legacy tree (holes stay holes;
 *               objects already there — an earlier attempt, an equal disk —
 *               deduplicate), made durable (cas_sync), then ONE transaction
 *               names the new root and domain in the image, the capture
 *               bases and the copy row that named the old root
 *               (meta_upgrade_image_move).  A cas hold keeps the new tree
 *               from the platform store's GC until that commit.  Reads go to
 *               whichever store the row names: the old tree until the
 *               commit, the new one after (a reader open across it keeps
 *               its hold on the old tree, which the legacy store keeps).
 *   bases       capture bases whose image is gone, the same way.
 *   volumes     a plaintext volume got its key (wrapped by the platform
 *               domain, committed with crypt_state converting) when the
 *               region opened it, before any I/O (volumes.c); a step
 *               converts a budget of its bytes online (vol_crypt_step,
 *               journalled), and the one that finishes commits crypt_state
 *               encrypted.  NBD and the data plane keep using it.
 *   the store   once no row names it (no image, base or hydrating volume):
 *               renamed <data_dir>/store.deleted (atomic), then removed;
 *               region_upgrade_open finishes a removal a crash cut short.
 *               The open handle stays valid until region_close (readers
 *               that held an old tree finish on its open files).
 *
 * A disk restore point claims encryption only once its own tree moved, a
 * disk once its volume is converted (crypt.c reads the same rows and
 * vol_encrypted).  Until the region has a platform domain
 * (r->platform) there is nowhere to move to: the step does nothing.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/failpoint.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "region/internal.h"
#include "snap/tree.h"
#include "vol/vol.h"

#define LEGACY ""

static void legacy_path(struct region *r, const char *suffix, char *out, size_t cap)
{
  snprintf(out, cap, "%s/store%s", r->cfg.data_dir, suffix);
}

static bool legacy_exists(struct region *r)
{
  char p[4096];
  struct stat st;
  legacy_path(r, "", p, sizeof p);
  return stat(p, &st) == 0;
}

/* ---- a legacy tree as a tree source ---------------------------------------- */

struct legacy_source {
  pthread_mutex_t lock;  /* a tree reader is for one thread at a time */
  struct tree_reader *rd;
  unsigned shift;
};

static int legacy_read(void *ctx, void *buf, size_t len, uint64_t off)
{
  struct legacy_source *s = ctx;
  pthread_mutex_lock(&s->lock);
  int rc = tree_reader_read(s->rd, buf, len, off);
  pthread_mutex_unlock(&s->lock);
  return rc;
}

/* A hole of the legacy tree is a hole of the new one, never read. */
static int legacy_is_zero(void *ctx, uint64_t off, uint64_t len)
{
  struct legacy_source *s = ctx;
  int rc = 1;
  pthread_mutex_lock(&s->lock);
  for (uint64_t i = off >> s->shift; rc == 1 && len && i <= (off + len - 1) >> s->shift; i++) {
    struct cas_addr a;
    rc = tree_reader_chunk(s->rd, i, &a);
    rc = rc < 0 ? rc : cas_addr_is_zero(&a) ? 1 : 0;
  }
  pthread_mutex_unlock(&s->lock);
  return rc;
}

/* Builds the legacy tree old_hex in the platform store; *hold keeps it
 * from that store's GC until the caller commits it (and ends the hold). */
static int convert_tree(struct region *r, const char *old_hex, uint64_t size, char new_hex[65],
                        struct cas_hold **hold)
{
  struct cas *legacy = region_store_for(r, LEGACY), *plat = region_store_for(r, r->platform);
  struct cas_addr old, root;
  struct legacy_source s = {.shift = plat ? cas_chunk_shift(plat) : 0};
  int rc = legacy && plat ? cas_addr_from_hex(old_hex, &old) : -errno;
  struct cas_hold *lh = NULL; /* the legacy tree, should its image go meanwhile */
  if (rc == 0)
    rc = cas_hold_begin(plat, hold);
  if (rc == 0)
    rc = cas_hold_begin(legacy, &lh);
  if (rc == 0)
    rc = cas_hold_root(legacy, lh, &old);
  if (rc == 0)
    rc = tree_reader_open(legacy, &old, &s.rd);
  if (rc == 0) {
    pthread_mutex_init(&s.lock, NULL);
    struct tree_source src = {legacy_read, legacy_is_zero, &s};
    struct tree_opts opts = {.threads = 2};
    rc = tree_build_full(plat, &src, size, &opts, &root, NULL);
    tree_reader_close(s.rd);
    pthread_mutex_destroy(&s.lock);
  }
  if (rc == 0)
    rc = cas_hold_root(plat, *hold, &root);
  if (rc == 0)
    rc = cas_sync(plat); /* durable before any row names it */
  if (rc == 0)
    cas_addr_to_hex(&root, new_hex);
  if (lh)
    cas_hold_end(legacy, lh);
  return rc;
}

static void end_hold(struct region *r, struct cas_hold *hold)
{
  if (hold)
    cas_hold_end(region_store_for(r, r->platform), hold);
}

static bool image_gone(struct region *r, const char *id)
{
  struct meta_image row;
  int rc = meta_image_get(r->meta, id, &row);
  if (rc == 0)
    meta_image_clear(&row);
  return rc == -ENOENT;
}

static int upgrade_image(struct region *r, const struct meta_upgrade_image *im)
{
  char new_hex[65];
  struct cas_hold *hold = NULL;
  int rc = convert_tree(r, im->root, im->size, new_hex, &hold);
  if (rc == 0)
    rc = meta_upgrade_image_move(r->meta, im->id, im->root, new_hex, r->platform);
  end_hold(r, hold);
  if (rc < 0 && rc != -ESTALE && image_gone(r, im->id))
    rc = -ESTALE; /* its tree went with it before the hold */
  if (rc == -ESTALE) /* deleted (or moved) meanwhile: nothing to do */
    rc = 0;
  else if (rc == 0)
    region_image_reexport(r, im->id);
  else
    log_error("region", "upgrade: disk restore point %s not moved to the encrypted store: %s", im->id,
              strerror(-rc));
  return rc;
}

/* A capture base whose image is gone (no image row names its tree). */
static int upgrade_base(struct region *r, const struct meta_upgrade_image *b)
{
  char new_hex[65];
  struct cas_hold *hold = NULL;
  int rc = convert_tree(r, b->root, b->size, new_hex, &hold);
  if (rc == 0)
    rc = meta_upgrade_base_move(r->meta, b->root, new_hex, r->platform);
  end_hold(r, hold);
  if (rc < 0)
    log_error("region", "upgrade: a capture base not moved to the encrypted store: %s", strerror(-rc));
  return rc;
}

static int upgrade_volume(struct region *r, const char *vol_id, uint64_t budget)
{
  struct volume *v = region_volume_use(r, vol_id);
  if (!v)
    return -ENOENT;
  int rc = vol_crypt_step(v, budget);
  if (rc == 1) {
    rc = meta_upgrade_volume_encrypted(r->meta, vol_id);
    if (rc == 0) {
      char p[4096];
      region_volume_crypt_path(r, vol_id, p, sizeof p);
      unlink(p);
      log_info("region", "upgrade: volume %s is encrypted", vol_id);
    }
  }
  region_volume_unuse(r, vol_id);
  return rc;
}

/* ---- the legacy store's removal -------------------------------------------- */

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  return remove(path) == 0 || errno == ENOENT ? 0 : -errno;
}

/* Finishes the removal of <data>/store.deleted. */
static int remove_deleted(struct region *r)
{
  char p[4096];
  legacy_path(r, ".deleted", p, sizeof p);
  int rc = nftw(p, remove_one, 16, FTW_DEPTH | FTW_PHYS);
  rc = rc == 0 || errno == ENOENT ? 0 : rc < 0 ? -errno : rc;
  if (rc == 0)
    rc = fsync_dir(r->cfg.data_dir);
  return rc;
}

static int hydrating_from_legacy(void *ctx, const struct cas_addr *root, const char *vol_id, const char *domain)
{
  return domain[0] == 0;
}

struct legacy_exports {
  struct region *r;
  struct cas *legacy;
  int busy;
};

/* An image whose move found its export in use: exported again now, or
 * counted busy. */
static int leave_legacy(void *ctx, const struct meta_image *im)
{
  struct legacy_exports *x = ctx;
  if (im->state == IMAGE_READY && region_image_exported_from(x->r, im->id, x->legacy) &&
      region_image_reexport(x->r, im->id) == -EBUSY)
    x->busy++;
  return 0;
}

static int drop_legacy(struct region *r)
{
  struct legacy_exports x = {r, region_store_for(r, LEGACY), 0};
  int rc = x.legacy ? meta_image_list(r->meta, NULL, leave_legacy, &x) : -errno;
  if (rc == 0 && (x.busy || region_volumes_hydration_roots(r, hydrating_from_legacy, NULL) != 0))
    rc = -EAGAIN; /* an NBD client or a restore still reads a legacy tree */
  if (rc < 0)
    return rc;
  char from[4096], to[4096];
  legacy_path(r, "", from, sizeof from);
  legacy_path(r, ".deleted", to, sizeof to);
  rc = rename(from, to) == 0 ? fsync_dir(r->cfg.data_dir) : -errno;
  if (rc == 0)
    rc = remove_deleted(r);
  if (rc == 0)
    log_info("region", "upgrade: the plaintext store %s is deleted (its blocks may survive on the device)", from);
  return rc;
}

/* ---- the steps -------------------------------------------------------------- */

int region_upgrade_open(struct region *r)
{
  pthread_mutex_init(&r->upgrade_lock, NULL);
  return remove_deleted(r);
}

void region_upgrade_close(struct region *r) { pthread_mutex_destroy(&r->upgrade_lock); }

struct bytes_walk {
  struct region *r;
  struct region_upgrade_progress *out;
};

/* A volume under encryption: its bytes converted so far. */
static int volume_bytes(void *ctx, const char *vol_id)
{
  struct bytes_walk *w = ctx;
  struct volume *v = region_volume_use(w->r, vol_id);
  if (v) {
    uint64_t done, total;
    vol_crypt_progress(v, &done, &total);
    w->out->bytes_done += done;
    w->out->bytes_total += total;
    region_volume_unuse(w->r, vol_id);
  }
  return 0;
}

/* Whether there is an encrypted store to move to (the platform domain's). */
static bool can_encrypt(struct region *r) { return r->platform[0] != 0; }

int region_upgrade_progress(struct region *r, struct region_upgrade_progress *out)
{
  memset(out, 0, sizeof *out);
  struct meta_upgrade_counts c;
  int rc = meta_upgrade_counts(r->meta, &c);
  if (rc < 0)
    return rc;
  out->images_total = c.images_total;
  out->images_done = c.images_total - c.images_legacy;
  out->volumes_total = c.volumes_total;
  out->volumes_done = c.volumes_total - c.volumes_plain - c.volumes_converting;
  out->legacy_store = legacy_exists(r);
  out->pending = c.images_legacy || c.bases_legacy || c.volumes_converting || out->legacy_store;
  out->can_encrypt = can_encrypt(r);
  return meta_upgrade_volumes(r->meta, volume_bytes, &(struct bytes_walk){r, out});
}

int region_upgrade_step(struct region *r, uint64_t budget)
{
  pthread_mutex_lock(&r->upgrade_lock);
  struct meta_upgrade_image im = {0};
  struct meta_upgrade_counts c;
  char vol_id[40];
  int rc = can_encrypt(r) ? meta_upgrade_next_image(r->meta, &im) : 1;
  if (rc == 1)
    goto out;
  if (rc == 0) {
    rc = upgrade_image(r, &im);
    goto out;
  }
  if (rc == -ENOENT && (rc = meta_upgrade_next_base(r->meta, &im)) == 0) {
    rc = upgrade_base(r, &im);
    goto out;
  }
  if (rc == -ENOENT && (rc = meta_upgrade_next_volume(r->meta, vol_id)) == 0) {
    rc = upgrade_volume(r, vol_id, budget);
    rc = rc == 1 ? 0 : rc;
    goto out;
  }
  if (rc == -ENOENT)
    rc = meta_upgrade_counts(r->meta, &c);
  if (rc == 0 && c.images_legacy)
    rc = -EAGAIN; /* copies into the legacy store still run: their images move once ready */
  else if (rc == 0 && legacy_exists(r))
    rc = drop_legacy(r);
  rc = rc == 0 ? 1 : rc;
out:
  meta_upgrade_image_clear(&im);
  pthread_mutex_unlock(&r->upgrade_lock);
  int64_t delay = failpoint_value("upgrade.step.delay_ms", 0);
  if (rc == 0 && delay > 0)
    usleep((useconds_t)delay * 1000);
  return rc;
}
