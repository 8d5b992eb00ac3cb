/*
 * vm.c — what the metadata knows of a VM for the region: which disks it has
 * attached, its power state and its restore points.
 *
 * The VM's document (its storageProfile) is the front end's; the region needs
 * only "disk D is attached to VM V at lun L" to resolve the disks it fences.
 * Rather than ask every writer of a VM row to keep a second record in step,
 * the rows are derived from the document by triggers (schema_*.c) inside
 * the statement that writes the VM, so they are in its transaction and
 * cannot disagree with it.  This file only reads them, and
 * the other facts about a VM that the region's admission of its next restore
 * point reads (migration 5's computed columns).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "meta/internal.h"

struct attachment_walk {
  meta_attachment_cb cb;
  void *ctx;
};

static int attachment_row(struct meta_stmt *st, void *ctx)
{
  struct attachment_walk *w = ctx;
  struct meta_attachment a = {.vm_id = meta_col_str(st, 0), .disk_id = meta_col_str(st, 1),
                              .lun = meta_col_int(st, 2)};
  int r = a.vm_id && a.disk_id ? w->cb(w->ctx, &a) : -ENOMEM;
  free(a.vm_id);
  free(a.disk_id);
  return r;
}

int meta_attachment_list(struct meta *m, const char *vm_id, meta_attachment_cb cb, void *ctx)
{
  struct meta_stmt *st =
      meta_prepare(m, "SELECT vm_id, disk_id, lun FROM attachments WHERE vm_id = ?1 ORDER BY lun, disk_id");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, vm_id);
  struct attachment_walk w = {cb, ctx};
  return meta_each_row(st, attachment_row, &w);
}

static void read_counts(struct meta_stmt *st, void *out)
{
  struct meta_vm_restore_points *c = out;
  c->total = meta_col_int(st, 0);
  c->creating = meta_col_int(st, 1) != 0;
  c->newest_us = meta_col_int64(st, 2);
}

int meta_vm_restore_points(struct meta *m, const char *vm_id, struct meta_vm_restore_points *out)
{
  struct meta_stmt *st = meta_prepare(
      m, "SELECT count(rp.id), coalesce(max(CASE WHEN rp.provisioning_state = 'Creating' THEN 1 ELSE 0 END), 0),"
         " coalesce(max(rp.created_us), 0)"
         " FROM resources c JOIN resources rp ON rp.parent_id = c.id"
         " AND rp.type = 'Microsoft.Compute/restorePointCollections/restorePoints'"
         " WHERE c.type = 'Microsoft.Compute/restorePointCollections' AND c.source_id = ?1");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, vm_id);
  return meta_one_row(st, read_counts, out);
}

static void read_power(struct meta_stmt *st, void *out)
{
  const char *t = meta_col_text(st, 0);
  snprintf(out, 32, "%s", t ? t : "");
}

int meta_vm_power_state(struct meta *m, const char *vm_id, char out[32])
{
  struct meta_stmt *st = meta_prepare(m, "SELECT power_state FROM resources WHERE id = ?1");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, vm_id);
  return meta_one_row(st, read_power, out);
}
