/*
 * attachment.c — which disks each VM has attached, as typed rows.
 *
 * The VM's document (its storageProfile) is the front end's; the region needs
 * only "disk D is attached to VM V at lun L" to resolve the disks it fences.
 * Rather than ask every writer of a VM row to keep a second record in step,
 * the rows are derived from the document by the triggers of migration 4
 * (meta.c) inside the statement that writes the VM, so they are in its
 * transaction and cannot disagree with it.  This file only reads them.
 */
#include <errno.h>
#include <stdlib.h>

#include "meta/internal.h"

struct attachment_walk {
  meta_attachment_cb cb;
  void *ctx;
};

static int attachment_row(sqlite3_stmt *st, void *ctx)
{
  struct attachment_walk *w = ctx;
  struct meta_attachment a = {.vm_id = meta_col_str(st, 0), .disk_id = meta_col_str(st, 1),
                              .lun = sqlite3_column_int(st, 2)};
  int r = a.vm_id && a.disk_id ? w->cb(w->ctx, &a) : -ENOMEM;
  free(a.vm_id);
  free(a.disk_id);
  return r;
}

int meta_attachment_list(struct meta *m, const char *vm_id, meta_attachment_cb cb, void *ctx)
{
  sqlite3_stmt *st = meta_prepare(m, "SELECT vm_id, disk_id, lun FROM attachments WHERE vm_id = ?1 ORDER BY lun, disk_id");
  if (!st)
    return -EIO;
  sqlite3_bind_text(st, 1, vm_id, -1, SQLITE_STATIC);
  struct attachment_walk w = {cb, ctx};
  return meta_each_row(st, attachment_row, &w);
}
