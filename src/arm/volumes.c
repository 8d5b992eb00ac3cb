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
  snprintf(p, sizeof p, "%s/volumes", arm->cfg.data_dir);
  fsync_dir(p);
}

/* Opens and exports a READY volume; clears its clean flag first. */
static int attach(struct arm *arm, struct meta_volume *mv)
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
  mv->clean = false; /* from here on a crash makes the bitmap untrusted */
  r = meta_volume_put(arm->meta, mv);
  if (r == 0 && arm->cfg.nbd)
    r = nbd_export_add(arm->cfg.nbd, mv->id, &nbd_vol_ops, av->vol);
  if (r < 0) {
    vol_close(av->vol);
    free(av);
    return r;
  }
  pthread_mutex_lock(&arm->volumes_lock);
  av->next = arm->volumes;
  arm->volumes = av;
  pthread_mutex_unlock(&arm->volumes_lock);
  return 0;
}

static int open_one(void *ctx, const struct meta_volume *row)
{
  struct arm *arm = ctx;
  struct meta_volume mv = *row;
  mv.resource_id = row->resource_id;
  if (mv.state == VOLUME_READY) {
    if (attach(arm, &mv) < 0)
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
  if (r == 0) {
    mv.state = VOLUME_READY;
    r = meta_volume_put(arm->meta, &mv);
  }
  if (r == 0)
    r = attach(arm, &mv);
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
