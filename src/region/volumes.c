/*
 * volumes.c — the live volumes of the region's disks, and their NBD exports.
 *
 * Each disk resource is backed by one volume: <data_dir>/volumes/<id>.img
 * (and <id>.cbt, its saved dirty bitmap), where id is generated — request
 * names never reach the file system.  The volumes table (meta/volume.c) maps
 * disk → id and carries a life-cycle state and the clean-shutdown flag.
 *
 * States and what a crash in each leaves (region_volumes_open finishes it):
 *   VOLUME_CREATING  the file may be partial: file and row are removed; the
 *                    disk's create operation is resumed by its job and
 *                    creates a fresh volume.
 *   VOLUME_READY     the file is the disk.  Opened with its CBT bitmap trusted
 *                    only if the row says the last shutdown was clean; the
 *                    flag is then cleared (durably) before any write can
 *                    arrive, and set again by region_volumes_close.
 *   VOLUME_DELETING  the disk is being deleted: files and row are removed.
 *
 * A disk restored from a disk restore point is a lazy volume (vol/hydrate.c)
 * with two more files: <id>.src names the tree it hydrates from (written
 * before the row turns READY) and <id>.hyd is vol's hydration bitmap.  While
 * <id>.src exists the volume is opened attached to that tree (held against GC
 * by a cas_hold, source.c), so a restart resumes where the durable bitmap
 * says.  When hydration is complete and durable, <id>.src goes first, then
 * the hold, then <id>.hyd: a crash in between reopens a complete bitmap and
 * never touches the tree.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "common/random.h"
#include "common/timefmt.h"
#include "common/bytes.h"
#include "nbd/nbd.h"
#include "region/internal.h"
#include "vol/vol.h"

struct region_volume {
  char id[40];
  struct volume *vol;
  struct region_source *hyd; /* the source of a lazy volume, or NULL */
  int stepping;              /* hydration steps running (volumes_lock) */
  int readers;               /* data-plane readers and writers (volumes_lock): no destroy meanwhile */
  pthread_cond_t idle;       /* signalled when stepping drops (volumes_lock) */
  struct region_volume *next;
};

static struct region_volume *find_locked(struct region *rg, const char *vol_id)
{
  struct region_volume *av = rg->volumes;
  while (av && strcmp(av->id, vol_id) != 0)
    av = av->next;
  return av;
}

static void vol_path(struct region *rg, const char *id, const char *ext, char *out, size_t cap)
{
  snprintf(out, cap, "%s/volumes/%s.%s", rg->cfg.data_dir, id, ext);
}

void region_volume_crypt_path(struct region *rg, const char *vol_id, char *out, size_t cap)
{
  vol_path(rg, vol_id, "xts", out, cap);
}

/* The volume's files, and the <file>.tmp a crash inside write_file_atomic
 * leaves of those written that way (.cbt, .src, .hyd). */
static void remove_files(struct region *rg, const char *id)
{
  static const char *const exts[] = {"img", "cbt", "src", "hyd", "cbt.tmp", "src.tmp", "hyd.tmp"};
  char p[4096];
  region_volume_crypt_path(rg, id, p, sizeof p);
  unlink(p);
  for (size_t i = 0; i < sizeof exts / sizeof *exts; i++) {
    vol_path(rg, id, exts[i], p, sizeof p);
    unlink(p);
  }
  snprintf(p, sizeof p, "%s/volumes", rg->cfg.data_dir);
  fsync_dir(p);
}

/* Hydration is complete and durable: <id>.src, then the source (its hold),
 * then the bitmap file go. */
static int finish_hydration(struct region *rg, struct region_volume *av)
{
  char p[4096];
  vol_path(rg, av->id, "src", p, sizeof p);
  int r = unlink(p) == 0 || errno == ENOENT ? 0 : -errno;
  snprintf(p, sizeof p, "%s/volumes", rg->cfg.data_dir);
  if (r == 0)
    r = fsync_dir(p);
  if (r == 0) {
    region_source_close(av->hyd);
    av->hyd = NULL;
    vol_path(rg, av->id, "hyd", p, sizeof p);
    unlink(p);
  }
  return r;
}

/* Attaches the volume to the tree its <id>.src names, if any.  fresh: a new
 * volume (an all-clear hydration bitmap is made). */
static int attach_source(struct region *rg, struct region_volume *av, bool fresh)
{
  char src[4096], hyd[4096];
  vol_path(rg, av->id, "src", src, sizeof src);
  vol_path(rg, av->id, "hyd", hyd, sizeof hyd);
  if (access(src, F_OK) != 0)
    return 0;
  struct vol_source vs;
  int r = region_source_open(rg, src, fresh, &vs, &av->hyd);
  if (r == 0)
    r = vol_hydrate_attach(av->vol, &vs, hyd, fresh);
  if (r == 0 && vol_hydrated(av->vol))
    r = finish_hydration(rg, av);
  return r;
}

/* Opens and exports a volume and marks its row READY; clears its clean flag
 * first.  fresh: the volume was just created. */
static int attach(struct region *rg, struct meta_volume *mv, bool fresh)
{
  char img[4096], cbt[4096];
  vol_path(rg, mv->id, "img", img, sizeof img);
  vol_path(rg, mv->id, "cbt", cbt, sizeof cbt);
  struct region_volume *av = calloc(1, sizeof *av);
  if (!av)
    return -ENOMEM;
  snprintf(av->id, sizeof av->id, "%s", mv->id);
  int r = fresh ? 0 : region_volume_key_upgrade(rg, mv); /* a volume from before encryption */
  if (r == 0)
    r = vol_open(img, cbt, rg->cfg.chunk_size, mv->clean, false, &av->vol);
  if (r == 0 && (r = region_volume_key_attach(rg, mv, av->vol)) < 0)
    vol_close(av->vol);
  if (r < 0) {
    log_error("region", "cannot open volume %s of %s: %s", mv->id, mv->resource_id, strerror(-r));
    free(av);
    return r;
  }
  pthread_cond_init(&av->idle, NULL);
  r = attach_source(rg, av, fresh);
  mv->clean = false; /* from here on a crash makes the bitmap untrusted */
  mv->state = VOLUME_READY;
  if (r == 0)
    r = meta_volume_put(rg->meta, mv);
  if (r == 0 && rg->cfg.nbd)
    r = nbd_export_add(rg->cfg.nbd, mv->id, &nbd_vol_ops, av->vol);
  if (r < 0) {
    vol_close(av->vol);
    region_source_close(av->hyd);
    pthread_cond_destroy(&av->idle);
    free(av);
    return r;
  }
  pthread_mutex_lock(&rg->volumes_lock);
  av->next = rg->volumes;
  rg->volumes = av;
  pthread_mutex_unlock(&rg->volumes_lock);
  region_source_unhold(av->hyd); /* listed as a GC root from here on */
  return 0;
}

int region_volumes_hydration_roots(struct region *rg,
                                   int (*fn)(void *ctx, const struct cas_addr *root, const char *vol_id,
                                             const char *domain),
                                   void *ctx)
{
  int r = 0;
  pthread_mutex_lock(&rg->volumes_lock);
  for (struct region_volume *av = rg->volumes; av && r == 0; av = av->next)
    if (av->hyd)
      r = fn(ctx, region_source_root(av->hyd), av->id, region_source_domain(av->hyd));
  pthread_mutex_unlock(&rg->volumes_lock);
  return r;
}

static int open_one(void *ctx, const struct meta_volume *row)
{
  struct region *rg = ctx;
  struct meta_volume mv = *row;
  mv.resource_id = row->resource_id;
  if (mv.state == VOLUME_READY) {
    if (attach(rg, &mv, false) < 0)
      log_error("region", "disk %s is unavailable: its volume could not be opened", row->resource_id);
    return 0;
  }
  log_warn("region", "finishing the interrupted %s of volume %s (%s)",
           mv.state == VOLUME_CREATING ? "creation" : "deletion", mv.id, mv.resource_id);
  remove_files(rg, mv.id);
  meta_volume_delete(rg->meta, mv.id);
  return 0;
}

int region_volume_reopen(struct region *rg, const char *vol_id)
{
  if (region_volume_find(rg, vol_id))
    return 0;
  struct meta_volume mv;
  int r = meta_volume_get(rg->meta, vol_id, &mv);
  if (r < 0)
    return r == -ENOENT ? 0 : r;
  if (mv.state == VOLUME_READY)
    r = attach(rg, &mv, false);
  meta_volume_clear(&mv);
  return r;
}

int region_volumes_open(struct region *rg)
{
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/volumes", rg->cfg.data_dir);
  int r = mkdir_exist_ok(dir, 0700);
  return r < 0 ? r : meta_volume_list(rg->meta, open_one, rg);
}

void region_volumes_close(struct region *rg)
{
  pthread_mutex_lock(&rg->volumes_lock);
  struct region_volume *av = rg->volumes;
  rg->volumes = NULL;
  pthread_mutex_unlock(&rg->volumes_lock);
  while (av) {
    struct region_volume *next = av->next;
    if (rg->cfg.nbd)
      nbd_export_remove(rg->cfg.nbd, av->id, NBD_REMOVE_DISCONNECT);
    int r = vol_close(av->vol);
    region_source_close(av->hyd);
    pthread_cond_destroy(&av->idle);
    struct meta_volume mv;
    if (r == 0 && meta_volume_get(rg->meta, av->id, &mv) == 0) {
      mv.clean = true;
      meta_volume_put(rg->meta, &mv);
      meta_volume_clear(&mv);
    }
    free(av);
    av = next;
  }
}

struct volume *region_volume_find(struct region *rg, const char *vol_id)
{
  pthread_mutex_lock(&rg->volumes_lock);
  struct region_volume *av = find_locked(rg, vol_id);
  struct volume *v = av ? av->vol : NULL;
  pthread_mutex_unlock(&rg->volumes_lock);
  return v;
}

/* The store a restore's tree is in: its image's, while the image has that
 * tree (else the platform's, where a tree gone with its image is missing:
 * -ENOENT at the source's open, as for any vanished tree). */
static void source_domain(struct region *rg, const struct region_restore_source *src, char out[META_DOMAIN_HEX])
{
  struct meta_image im;
  snprintf(out, META_DOMAIN_HEX, "%s", rg->platform);
  if (src->image_id && meta_image_get(rg->meta, src->image_id, &im) == 0) {
    if (!strcmp(im.root, src->root))
      snprintf(out, META_DOMAIN_HEX, "%s", im.domain);
    meta_image_clear(&im);
  }
}

int region_volume_create(struct region *rg, const char *resource_id, uint64_t size,
                         const struct region_restore_source *src, const char *domain_hex, char vol_id[40])
{
  struct meta_volume mv = {.resource_id = (char *)resource_id, .size = size, .state = VOLUME_CREATING,
                           .created_us = time_now_us()};
  random_uuid(mv.id);
  snprintf(mv.domain, sizeof mv.domain, "%s", domain_hex ? domain_hex : rg->platform);
  /* The row first, with the volume's key (volume_keys.c): a crash after the
   * file exists leaves a row saying so, and no byte is written under a key
   * not committed. */
  int r = rg->cfg.keys && !rg->cfg.volumes_plain && mv.domain[0] ? region_volume_key_new(rg, &mv, VOLUME_ENCRYPTED)
                                                                 : 0;
  if (r == 0)
    r = meta_volume_put(rg->meta, &mv);
  if (r < 0)
    return r;
  char img[4096];
  vol_path(rg, mv.id, "img", img, sizeof img);
  r = vol_create(img, size);
  if (r == 0 && src) {
    char p[4096], sd[META_DOMAIN_HEX];
    struct cas_addr root;
    vol_path(rg, mv.id, "src", p, sizeof p);
    source_domain(rg, src, sd);
    r = cas_addr_from_hex(src->root, &root) < 0 ? -EINVAL
                                                : region_source_save(&root, src->size, src->image_id, sd, p);
  }
  if (r == 0)
    r = attach(rg, &mv, true);
  if (r < 0) {
    log_error("region", "creating the volume of %s failed: %s", resource_id, strerror(-r));
    remove_files(rg, mv.id);
    meta_volume_delete(rg->meta, mv.id);
    return r;
  }
  snprintf(vol_id, 40, "%s", mv.id);
  return 0;
}

struct volume *region_volume_use(struct region *rg, const char *vol_id)
{
  pthread_mutex_lock(&rg->volumes_lock);
  struct region_volume *av = find_locked(rg, vol_id);
  if (av)
    av->readers++;
  pthread_mutex_unlock(&rg->volumes_lock);
  return av ? av->vol : NULL;
}

void region_volume_unuse(struct region *rg, const char *vol_id)
{
  pthread_mutex_lock(&rg->volumes_lock);
  struct region_volume *av = find_locked(rg, vol_id);
  if (av)
    av->readers--;
  pthread_mutex_unlock(&rg->volumes_lock);
}

bool region_volume_in_use(struct region *rg, const char *vol_id)
{
  pthread_mutex_lock(&rg->volumes_lock);
  struct region_volume *av = find_locked(rg, vol_id);
  bool busy = av && av->readers > 0;
  pthread_mutex_unlock(&rg->volumes_lock);
  return busy || (rg->cfg.nbd && nbd_export_in_use(rg->cfg.nbd, vol_id));
}

int region_volume_destroy(struct region *rg, const char *vol_id)
{
  pthread_mutex_lock(&rg->volumes_lock);
  struct region_volume *used = find_locked(rg, vol_id);
  bool reading = used && used->readers > 0;
  pthread_mutex_unlock(&rg->volumes_lock);
  if (reading) /* a data-plane transfer; its grant is gone, the transfer ends soon */
    return -EBUSY;
  if (rg->cfg.nbd) {
    int r = nbd_export_remove(rg->cfg.nbd, vol_id, 0);
    if (r == -EBUSY)
      return r;
  }
  pthread_mutex_lock(&rg->volumes_lock);
  struct region_volume **pp = &rg->volumes, *av = NULL;
  while (*pp && strcmp((*pp)->id, vol_id) != 0)
    pp = &(*pp)->next;
  if (*pp) {
    av = *pp;
    *pp = av->next;
  }
  while (av && av->stepping) /* a hydration step still uses it */
    pthread_cond_wait(&av->idle, &rg->volumes_lock);
  pthread_mutex_unlock(&rg->volumes_lock);
  struct meta_volume mv;
  int r = meta_volume_get(rg->meta, vol_id, &mv);
  if (r == 0) { /* DELETING before the files go: a crash finishes the job at start-up */
    mv.state = VOLUME_DELETING;
    r = meta_volume_put(rg->meta, &mv);
    meta_volume_clear(&mv);
  }
  if (av) {
    vol_close(av->vol);
    region_source_close(av->hyd);
    pthread_cond_destroy(&av->idle);
    free(av);
  }
  if (r < 0 && r != -ENOENT)
    return r;
  remove_files(rg, vol_id);
  r = meta_volume_delete(rg->meta, vol_id);
  return r;
}

int region_volume_hydrate_step(struct region *rg, const char *vol_id, uint64_t budget, double *percent)
{
  pthread_mutex_lock(&rg->volumes_lock);
  struct region_volume *av = find_locked(rg, vol_id);
  int r = !av ? -ENOENT : av->stepping ? -EBUSY : 0;
  if (r == 0)
    av->stepping++;
  pthread_mutex_unlock(&rg->volumes_lock);
  if (r < 0)
    return r;
  r = vol_hydrate_step(av->vol, budget);
  if (r == 1 && av->hyd)
    r = finish_hydration(rg, av) ?: 1;
  uint64_t done, total;
  vol_hydrate_progress(av->vol, &done, &total);
  *percent = total && r != 1 ? 100.0 * (double)done / (double)total : 100.0;
  pthread_mutex_lock(&rg->volumes_lock);
  av->stepping--;
  pthread_cond_broadcast(&av->idle);
  pthread_mutex_unlock(&rg->volumes_lock);
  return r;
}

int region_volume_fs(struct region *rg, uint64_t *size, uint64_t *avail)
{
  struct statvfs sv;
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/volumes", rg->cfg.data_dir);
  if (statvfs(dir, &sv) < 0)
    return -errno;
  *size = (uint64_t)sv.f_blocks * sv.f_frsize;
  *avail = (uint64_t)sv.f_bavail * sv.f_frsize;
  return 0;
}

int region_volume_grow(struct region *rg, const char *vol_id, uint64_t size)
{
  struct volume *v = region_volume_find(rg, vol_id);
  return v ? vol_grow(v, size) : -ENOENT;
}

int region_volume_info(struct region *rg, const char *vol_id, struct region_volume_info *out)
{
  struct volume *v = region_volume_find(rg, vol_id);
  if (!v)
    return -ENOENT;
  out->cbt_trusted = vol_cbt_trusted(v);
  out->allocated = vol_allocated(v);
  out->hydrated = vol_hydrated(v);
  vol_hydrate_progress(v, &out->hydrate_done, &out->hydrate_total);
  return 0;
}

/* Copies the source volume as of a fence into dst, chunk by chunk; chunks of
 * zeros stay holes. */
int region_volume_copy(struct region *rg, const char *src_vol, const char *dst_vol,
                       bool (*progress)(void *ctx, double percent), void *ctx)
{
  struct volume *src = region_volume_find(rg, src_vol), *dst = region_volume_find(rg, dst_vol);
  if (!src || !dst)
    return -ENOENT;
  struct vol_capture *cap;
  int rc = vol_fence(&src, 1, VOL_FENCE_ALL, &cap, NULL);
  if (rc < 0)
    return rc;
  uint32_t cs = vol_chunk_size(src);
  unsigned char *buf = malloc(cs);
  uint64_t n = vol_capture_chunks(cap);
  rc = buf ? 0 : -ENOMEM;
  for (uint64_t i = 0; i < n && rc == 0; i++) {
    size_t len;
    rc = vol_capture_read(cap, i, buf, &len);
    bool zero = rc == 0 && bytes_zero(buf, len);
    if (rc == 0 && !zero)
      rc = vol_pwrite(dst, buf, len, i * cs, 0);
    if (i % 256 == 0 && !progress(ctx, 100.0 * (double)i / (double)n))
      rc = -EINTR;
  }
  free(buf);
  vol_capture_end(cap, false);
  return rc == 0 ? vol_flush(dst) : rc;
}
