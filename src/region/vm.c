/*
 * vm.c — a VM as the region sees it: the disks a restore point of it fences.
 *
 * The VM's document is the front end's; the region reads the attachments
 * derived from it (meta/attachment.c), each disk's provisioning state and its
 * volume row, and whether that volume is open here.  "Available" is the
 * region's one rule for what may be fenced: the disk is Succeeded (not being
 * created, restored, grown or deleted) and its volume is open.  The restore
 * point path of arm and, next, a peer region's request to capture a VM both
 * ask here, so the rule cannot drift between them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "region/internal.h"

struct disk_list {
  struct region *rg;
  struct region_vm_disk *d;
  int n, cap;
};

static int add_disk(void *ctx, const struct meta_attachment *a)
{
  struct disk_list *l = ctx;
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 8;
    struct region_vm_disk *nd = realloc(l->d, (size_t)cap * sizeof *nd);
    if (!nd)
      return -ENOMEM;
    l->d = nd;
    l->cap = cap;
  }
  struct region_vm_disk *d = &l->d[l->n];
  memset(d, 0, sizeof *d);
  d->disk_id = strdup(a->disk_id);
  if (!d->disk_id)
    return -ENOMEM;
  d->lun = a->lun;
  l->n++;
  struct meta_volume v;
  if (meta_volume_by_resource(l->rg->meta, a->disk_id, &v) == 0) {
    snprintf(d->vol_id, sizeof d->vol_id, "%s", v.id);
    d->available = v.state == VOLUME_READY && region_volume_find(l->rg, v.id) != NULL;
    meta_volume_clear(&v);
  }
  struct meta_resource r;
  if (d->available && meta_resource_get(l->rg->meta, a->disk_id, &r) == 0) {
    d->available = r.provisioning_state && !strcmp(r.provisioning_state, "Succeeded");
    meta_resource_clear(&r);
  } else {
    d->available = false;
  }
  return 0;
}

int region_vm_disks(struct region *rg, const char *vm_id, struct region_vm_disk **out, int *n)
{
  struct disk_list l = {.rg = rg};
  int rc = meta_attachment_list(rg->meta, vm_id, add_disk, &l);
  if (rc < 0) {
    region_vm_disks_free(l.d, l.n);
    l.d = NULL;
    l.n = 0;
  }
  *out = l.d;
  *n = l.n;
  return rc < 0 ? rc : 0;
}

void region_vm_disks_free(struct region_vm_disk *d, int n)
{
  for (int i = 0; i < n; i++)
    free(d[i].disk_id);
  free(d);
}
