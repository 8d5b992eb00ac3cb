/*
 * vm.c — a VM as the region sees it: the disks a restore point of it fences.
 *
 * The VM's document is the front end's; the region reads the attachments
 * derived from it (meta/vm.c), each disk's provisioning state and its
 * volume row, and whether that volume is open here.  "Available" is the
 * region's one rule for what may be fenced: the disk is Succeeded (not being
 * created, restored, grown or deleted) and its volume is open.  The restore
 * point path of arm and, next, a peer region's request to capture a VM both
 * ask here, so the rule cannot drift between them.  The same holds for the
 * admission of a VM's next restore point (region_rp_admit): the consistency
 * its power state allows (the guest agent will join here) and the per-VM
 * limits, read from computed columns of the VM and collection rows.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/timefmt.h"
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

const char *region_consistency_name(enum region_consistency c)
{
  switch (c) {
  case RP_CRASH_CONSISTENT: return "CrashConsistent";
  case RP_FILESYSTEM_CONSISTENT: return "FileSystemConsistent";
  case RP_APPLICATION_CONSISTENT: return "ApplicationConsistent";
  }
  return "?";
}

/* A VM that is not running is consistent without its guest's help. */
static bool at_rest(const char *power_state)
{
  const char *s = !strncasecmp(power_state, "PowerState/", 11) ? power_state + 11 : power_state;
  return !strcasecmp(s, "stopped") || !strcasecmp(s, "deallocated");
}

int region_rp_admit(struct region *rg, const char *vm_id, const enum region_consistency *asked,
                    struct region_rp_admission *out)
{
  memset(out, 0, sizeof *out);
  char power[32];
  int rc = meta_vm_power_state(rg->meta, vm_id, power);
  if (rc < 0)
    return rc;
  bool stopped = at_rest(power);
  char *socket = NULL;
  bool agent = false;
  if (!stopped) {
    rc = meta_vm_agent_socket(rg->meta, vm_id, &socket);
    if (rc < 0 && rc != -ENOENT)
      return rc;
    agent = rc == 0;
    free(socket);
  }
  out->mode = stopped || agent ? RP_APPLICATION_CONSISTENT : RP_CRASH_CONSISTENT;
  if (asked && *asked != RP_CRASH_CONSISTENT && !stopped && !agent) {
    out->refusal = RP_NEEDS_AGENT;
    return 0;
  }
  if (asked)
    out->mode = *asked; /* what was asked is what is achieved, or the restore point fails */
  out->freeze = !stopped && out->mode != RP_CRASH_CONSISTENT;
  out->freeze_required = out->freeze && asked;
  struct meta_vm_restore_points have;
  rc = meta_vm_restore_points(rg->meta, vm_id, &have);
  if (rc < 0)
    return rc;
  int64_t wait_us = have.newest_us + (int64_t)rg->cfg.rp_min_interval_s * 1000000 - time_now_us();
  if (have.creating) {
    out->refusal = RP_IN_FLIGHT;
  } else if (rg->cfg.rp_max_per_vm > 0 && have.total >= rg->cfg.rp_max_per_vm) {
    out->refusal = RP_TOO_MANY;
    out->limit = rg->cfg.rp_max_per_vm;
  } else if (rg->cfg.rp_min_interval_s > 0 && have.total > 0 && wait_us > 0) {
    out->refusal = RP_TOO_SOON;
    out->retry_after_s = (wait_us + 999999) / 1000000;
    out->limit = rg->cfg.rp_min_interval_s;
  }
  return 0;
}
