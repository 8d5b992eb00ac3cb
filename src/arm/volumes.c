/*
 * volumes.c — the live volumes of the region's disks, and their NBD exports.
 *
 * Each disk resource is backed by one volume: <data_dir>/volumes/<id>.img
 * (and <id>.cbt, its saved dirty bitmap), where id is generated — request
 * names never reach the file system.  The volumes table (meta/volume.c) maps
 * disk → id and carries a life-cycle state and the clean-shutdown flag.
 *
 * States and what a crash in each leaves (arm_volumes_open finishes it):
 *   VOLUME_CREATING  the file may be partial: file and row are removed; the
 *                    disk's create operation is resumed by its job and
 *                    creates a fresh volume.
 *   VOLUME_READY     the file is the disk.  Opened with its CBT bitmap trusted
 *                    only if the row says the last shutdown was clean; the
 *                    flag is then cleared (durably) before any write can
 *                    arrive, and set again by arm_volumes_close.
 *   VOLUME_DELETING  the disk is being deleted: files and row are removed.
 *
 * A disk restored from a disk restore point is a lazy volume (vol/hydrate.c)
 * with two more files: <id>.src names the tree it hydrates from (written
 * before the row turns READY) and <id>.hyd is vol's hydration bitmap.  While
 * <id>.src exists the volume is opened attached to that tree (held against GC
 * by a cas_hold, hydration.c), so a restart resumes where the durable bitmap
 * says.  When hydration is complete and durable, <id>.src goes first, then
 * the hold, then <id>.hyd: a crash in between reopens a complete bitmap and
 * never touches the tree.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arm/internal.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/random.h"
#include "common/timefmt.h"
#include "nbd/nbd.h"
#include "vol/vol.h"

struct arm_volume {
  char id[40];
  struct volume *vol;
  struct arm_hydration *hyd; /* the source of a lazy volume, or NULL */
  int stepping;              /* hydration steps running (volumes_lock) */
  pthread_cond_t idle;       /* signalled when stepping drops (volumes_lock) */
  struct arm_volume *next;
};

static void vol_path(struct arm *arm, const char *id, const char *ext, char *out, size_t cap)
{
  snprintf(out, cap, "%s/volumes/%s.%s", arm->cfg.data_dir, id, ext);
}

static void remove_files(struct arm *arm, const char *id)
{
  char p[4096];
  vol_path(arm, id, "img", p, sizeof p);
  unlink(p);
  vol_path(arm, id, "cbt", p, sizeof p);
  unlink(p);
  vol_path(arm, id, "src", p, sizeof p);
  unlink(p);
  vol_path(arm, id, "hyd", p, sizeof p);
  unlink(p);
  snprintf(p, sizeof p, "%s/volumes", arm->cfg.data_dir);
  fsync_dir(p);
}

/* Hydration is complete and durable: <id>.src, then the source (its hold),
 * then the bitmap file go. */
static int finish_hydration(struct arm *arm, struct arm_volume *av)
{
  char p[4096];
  vol_path(arm, av->id, "src", p, sizeof p);
  int r = unlink(p) == 0 || errno == ENOENT ? 0 : -errno;
  snprintf(p, sizeof p, "%s/volumes", arm->cfg.data_dir);
  if (r == 0)
    r = fsync_dir(p);
  if (r == 0) {
    arm_hydration_close(av->hyd);
    av->hyd = NULL;
    vol_path(arm, av->id, "hyd", p, sizeof p);
    unlink(p);
  }
  return r;
}

/* Attaches the volume to the tree its <id>.src names, if any.  fresh: a new
 * volume (an all-clear hydration bitmap is made). */
static int attach_source(struct arm *arm, struct arm_volume *av, bool fresh)
{
  char src[4096], hyd[4096];
  vol_path(arm, av->id, "src", src, sizeof src);
  vol_path(arm, av->id, "hyd", hyd, sizeof hyd);
  if (access(src, F_OK) != 0)
    return 0;
  struct vol_source vs;
  int r = arm_hydration_open(arm, src, fresh, &vs, &av->hyd);
  if (r == 0)
    r = vol_hydrate_attach(av->vol, &vs, hyd, fresh);
  if (r == 0 && vol_hydrated(av->vol))
    r = finish_hydration(arm, av);
  return r;
}

/* Opens and exports a volume and marks its row READY; clears its clean flag
 * first.  fresh: the volume was just created. */
static int attach(struct arm *arm, struct meta_volume *mv, bool fresh)
{
  char img[4096], cbt[4096];
  vol_path(arm, mv->id, "img", img, sizeof img);
  vol_path(arm, mv->id, "cbt", cbt, sizeof cbt);
  struct arm_volume *av = calloc(1, sizeof *av);
  if (!av)
    return -ENOMEM;
  snprintf(av->id, sizeof av->id, "%s", mv->id);
  int r = vol_open(img, cbt, arm->cfg.chunk_size, mv->clean, false, &av->vol);
  if (r < 0) {
    log_error("arm", "cannot open volume %s of %s: %s", mv->id, mv->resource_id, strerror(-r));
    free(av);
    return r;
  }
  pthread_cond_init(&av->idle, NULL);
  r = attach_source(arm, av, fresh);
  mv->clean = false; /* from here on a crash makes the bitmap untrusted */
  mv->state = VOLUME_READY;
  if (r == 0)
    r = meta_volume_put(arm->meta, mv);
  if (r == 0 && arm->cfg.nbd)
    r = nbd_export_add(arm->cfg.nbd, mv->id, &nbd_vol_ops, av->vol);
  if (r < 0) {
    vol_close(av->vol);
    arm_hydration_close(av->hyd);
    pthread_cond_destroy(&av->idle);
    free(av);
    return r;
  }
  pthread_mutex_lock(&arm->volumes_lock);
  av->next = arm->volumes;
  arm->volumes = av;
  pthread_mutex_unlock(&arm->volumes_lock);
  arm_hydration_unhold(av->hyd); /* listed as a GC root from here on */
  return 0;
}

int arm_volumes_hydration_roots(struct arm *arm, int (*fn)(void *ctx, const struct cas_addr *root, const char *vol_id),
                                void *ctx)
{
  int r = 0;
  pthread_mutex_lock(&arm->volumes_lock);
  for (struct arm_volume *av = arm->volumes; av && r == 0; av = av->next)
    if (av->hyd)
      r = fn(ctx, arm_hydration_root(av->hyd), av->id);
  pthread_mutex_unlock(&arm->volumes_lock);
  return r;
}

static int open_one(void *ctx, const struct meta_volume *row)
{
  struct arm *arm = ctx;
  struct meta_volume mv = *row;
  mv.resource_id = row->resource_id;
  if (mv.state == VOLUME_READY) {
    if (attach(arm, &mv, false) < 0)
      log_error("arm", "disk %s is unavailable: its volume could not be opened", row->resource_id);
    return 0;
  }
  log_warn("arm", "finishing the interrupted %s of volume %s (%s)",
           mv.state == VOLUME_CREATING ? "creation" : "deletion", mv.id, mv.resource_id);
  remove_files(arm, mv.id);
  meta_volume_delete(arm->meta, mv.id);
  return 0;
}

int arm_volumes_open(struct arm *arm)
{
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/volumes", arm->cfg.data_dir);
  int r = mkdir_exist_ok(dir, 0700);
  return r < 0 ? r : meta_volume_list(arm->meta, open_one, arm);
}

void arm_volumes_close(struct arm *arm)
{
  pthread_mutex_lock(&arm->volumes_lock);
  struct arm_volume *av = arm->volumes;
  arm->volumes = NULL;
  pthread_mutex_unlock(&arm->volumes_lock);
  while (av) {
    struct arm_volume *next = av->next;
    if (arm->cfg.nbd)
      nbd_export_remove(arm->cfg.nbd, av->id, NBD_REMOVE_DISCONNECT);
    int r = vol_close(av->vol);
    arm_hydration_close(av->hyd);
    pthread_cond_destroy(&av->idle);
    struct meta_volume mv;
    if (r == 0 && meta_volume_get(arm->meta, av->id, &mv) == 0) {
      mv.clean = true;
      meta_volume_put(arm->meta, &mv);
      meta_volume_clear(&mv);
    }
    free(av);
    av = next;
  }
}

struct volume *arm_volume_find(struct arm *arm, const char *vol_id)
{
  struct volume *v = NULL;
  pthread_mutex_lock(&arm->volumes_lock);
  for (struct arm_volume *av = arm->volumes; av && !v; av = av->next)
    if (strcmp(av->id, vol_id) == 0)
      v = av->vol;
  pthread_mutex_unlock(&arm->volumes_lock);
  return v;
}

int arm_volume_create(struct arm *arm, const char *resource_id, uint64_t size, char vol_id[40])
{
  return arm_volume_create_from(arm, resource_id, size, NULL, vol_id);
}

int arm_volume_create_from(struct arm *arm, const char *resource_id, uint64_t size,
                           const struct arm_hydration_source *src, char vol_id[40])
{
  struct meta_volume mv = {.resource_id = (char *)resource_id, .size = size, .state = VOLUME_CREATING,
                           .created_us = time_now_us()};
  random_uuid(mv.id);
  /* The row first: a crash after the file exists leaves a row saying so. */
  int r = meta_volume_put(arm->meta, &mv);
  if (r < 0)
    return r;
  char img[4096];
  vol_path(arm, mv.id, "img", img, sizeof img);
  r = vol_create(img, size);
  if (r == 0 && src) {
    char p[4096];
    vol_path(arm, mv.id, "src", p, sizeof p);
    r = arm_hydration_save(src, p);
  }
  if (r == 0)
    r = attach(arm, &mv, true);
  if (r < 0) {
    log_error("arm", "creating the volume of %s failed: %s", resource_id, strerror(-r));
    remove_files(arm, mv.id);
    meta_volume_delete(arm->meta, mv.id);
    return r;
  }
  snprintf(vol_id, 40, "%s", mv.id);
  return 0;
}

bool arm_volume_in_use(struct arm *arm, const char *vol_id)
{
  return arm->cfg.nbd && nbd_export_in_use(arm->cfg.nbd, vol_id);
}

int arm_volume_destroy(struct arm *arm, const char *vol_id)
{
  if (arm->cfg.nbd) {
    int r = nbd_export_remove(arm->cfg.nbd, vol_id, 0);
    if (r == -EBUSY)
      return r;
  }
  pthread_mutex_lock(&arm->volumes_lock);
  struct arm_volume **pp = &arm->volumes, *av = NULL;
  while (*pp && strcmp((*pp)->id, vol_id) != 0)
    pp = &(*pp)->next;
  if (*pp) {
    av = *pp;
    *pp = av->next;
  }
  while (av && av->stepping) /* a hydration step still uses it */
    pthread_cond_wait(&av->idle, &arm->volumes_lock);
  pthread_mutex_unlock(&arm->volumes_lock);
  struct meta_volume mv;
  int r = meta_volume_get(arm->meta, vol_id, &mv);
  if (r == 0) { /* DELETING before the files go: a crash finishes the job at start-up */
    mv.state = VOLUME_DELETING;
    r = meta_volume_put(arm->meta, &mv);
    meta_volume_clear(&mv);
  }
  if (av) {
    vol_close(av->vol);
    arm_hydration_close(av->hyd);
    pthread_cond_destroy(&av->idle);
    free(av);
  }
  if (r < 0 && r != -ENOENT)
    return r;
  remove_files(arm, vol_id);
  r = meta_volume_delete(arm->meta, vol_id);
  return r;
}

char *arm_volume_nbd_uri(struct arm *arm, const char *vol_id, bool tcp)
{
  char *uri = NULL;
  if (tcp && arm->cfg.nbd_tcp)
    uri = asprintf(&uri, "nbd://%s/%s", arm->cfg.nbd_tcp, vol_id) < 0 ? NULL : uri;
  else if (!tcp && arm->cfg.nbd_unix)
    uri = asprintf(&uri, "nbd+unix:///%s?socket=%s", vol_id, arm->cfg.nbd_unix) < 0 ? NULL : uri;
  return uri;
}

int arm_volume_hydrate_step(struct arm *arm, const char *vol_id, uint64_t budget, double *percent)
{
  pthread_mutex_lock(&arm->volumes_lock);
  struct arm_volume *av = arm->volumes;
  while (av && strcmp(av->id, vol_id) != 0)
    av = av->next;
  int r = !av ? -ENOENT : av->stepping ? -EBUSY : 0;
  if (r == 0)
    av->stepping++;
  pthread_mutex_unlock(&arm->volumes_lock);
  if (r < 0)
    return r;
  r = vol_hydrate_step(av->vol, budget);
  if (r == 1 && av->hyd)
    r = finish_hydration(arm, av) ?: 1;
  uint64_t done, total;
  vol_hydrate_progress(av->vol, &done, &total);
  *percent = total && r != 1 ? 100.0 * (double)done / (double)total : 100.0;
  pthread_mutex_lock(&arm->volumes_lock);
  av->stepping--;
  pthread_cond_broadcast(&av->idle);
  pthread_mutex_unlock(&arm->volumes_lock);
  return r;
}
