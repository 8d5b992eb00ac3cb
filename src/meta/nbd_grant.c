/*
 * nbd_grant.c — NBD grants: the capabilities that open a disk or a disk
 * restore point over NBD (src/nbd/access.c checks them, src/region/
 * nbd_access.c makes them).
 *
 * A row holds what the NBD server needs to check a presented secret and
 * nothing from which the secret could be recovered: its SHA-256.  The row is
 * the authority across restarts (the region registers every row with the
 * NBD server when it opens); deleting it is the revocation.  A trigger
 * (migration 9) deletes a resource's grants with its row, so a grant never
 * outlives what it opens.  Expired rows are inert (the NBD server compares
 * the expiry at open) and are purged by the next grant.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta/internal.h"

#define NBD_GRANT_COLS "id, resource_id, export, readonly, secret_sha256, created_us, expires_us"

void meta_nbd_grant_clear(struct meta_nbd_grant *g)
{
  free(g->resource_id);
  free(g->export_name);
  memset(g, 0, sizeof *g);
}

int meta_nbd_grant_put(struct meta *m, const struct meta_nbd_grant *g)
{
  struct meta_stmt *st = meta_prepare(m, "INSERT INTO nbd_grants(" NBD_GRANT_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7)");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, g->id);
  meta_bind_text(st, 2, g->resource_id);
  meta_bind_text(st, 3, g->export_name);
  meta_bind_int64(st, 4, g->readonly);
  meta_bind_blob(st, 5, g->secret_sha256, sizeof g->secret_sha256);
  meta_bind_int64(st, 6, g->created_us);
  meta_bind_int64(st, 7, g->expires_us);
  return meta_exec_stmt(st);
}

struct each_ctx {
  meta_nbd_grant_cb cb;
  void *ctx;
};

static int each_row(struct meta_stmt *st, void *ctx)
{
  struct each_ctx *e = ctx;
  struct meta_nbd_grant g = {0};
  const char *id = meta_col_text(st, 0);
  snprintf(g.id, sizeof g.id, "%s", id ? id : "");
  g.resource_id = meta_col_str(st, 1);
  g.export_name = meta_col_str(st, 2);
  g.readonly = meta_col_int(st, 3) != 0;
  size_t n;
  const void *secret = meta_col_blob(st, 4, &n);
  if (n == sizeof g.secret_sha256)
    memcpy(g.secret_sha256, secret, sizeof g.secret_sha256);
  g.created_us = meta_col_int64(st, 5);
  g.expires_us = meta_col_int64(st, 6);
  int r = g.resource_id && g.export_name ? e->cb(e->ctx, &g) : -ENOMEM;
  meta_nbd_grant_clear(&g);
  return r;
}

int meta_nbd_grant_list(struct meta *m, const char *resource_id, meta_nbd_grant_cb cb, void *ctx)
{
  struct meta_stmt *st =
      meta_prepare(m, resource_id ? "SELECT " NBD_GRANT_COLS " FROM nbd_grants WHERE resource_id = ?1"
                                    " ORDER BY created_us, id"
                                  : "SELECT " NBD_GRANT_COLS " FROM nbd_grants");
  if (!st)
    return -EIO;
  if (resource_id)
    meta_bind_text(st, 1, resource_id);
  struct each_ctx e = {cb, ctx};
  return meta_each_row(st, each_row, &e);
}

int meta_nbd_grant_delete(struct meta *m, const char *resource_id, const char *id)
{
  struct meta_stmt *st = meta_prepare(m, "DELETE FROM nbd_grants WHERE resource_id = ?1 AND id = ?2");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, resource_id);
  meta_bind_text(st, 2, id);
  int r = meta_exec_count(st);
  return r < 0 ? r : r == 0 ? -ENOENT : 0;
}

int meta_nbd_grant_purge(struct meta *m, int64_t now_us)
{
  struct meta_stmt *st = meta_prepare(m, "DELETE FROM nbd_grants WHERE expires_us != 0 AND expires_us <= ?1");
  if (!st)
    return -EIO;
  meta_bind_int64(st, 1, now_us);
  return meta_exec_stmt(st);
}

static void read_int(struct meta_stmt *st, void *out) { *(int *)out = meta_col_int(st, 0); }

int meta_nbd_grant_count(struct meta *m, const char *resource_id, int *n)
{
  struct meta_stmt *st = meta_prepare(m, "SELECT count(*) FROM nbd_grants WHERE resource_id = ?1");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, resource_id);
  return meta_one_row(st, read_int, n);
}
