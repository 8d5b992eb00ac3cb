/*
 * principal.c — service principals and their role assignments.
 *
 * Secrets are never stored: only a random salt and PBKDF2-HMAC-SHA256 of the
 * secret (computed in auth/, compared there in constant time).  Role
 * assignments are keyed by the principal's object id, which is also the `oid`
 * claim of its tokens, so principals of an external OIDC issuer can be given
 * roles the same way.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta/internal.h"

void meta_principal_clear(struct meta_principal *p)
{
  free(p->name);
  memset(p, 0, sizeof *p);
}

int meta_principal_put(struct meta *m, const struct meta_principal *p)
{
  sqlite3_stmt *st = meta_prepare(m, "INSERT OR REPLACE INTO principals(client_id, object_id, name, salt, hash,"
                                     " created_us) VALUES(?1,?2,?3,?4,?5,?6)");
  if (!st)
    return -EIO;
  sqlite3_bind_text(st, 1, p->client_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, p->object_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, p->name, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 4, p->salt, sizeof p->salt, SQLITE_STATIC);
  sqlite3_bind_blob(st, 5, p->hash, sizeof p->hash, SQLITE_STATIC);
  sqlite3_bind_int64(st, 6, p->created_us);
  return meta_exec_stmt(st);
}

static void read_row(sqlite3_stmt *st, struct meta_principal *p)
{
  memset(p, 0, sizeof *p);
  snprintf(p->client_id, sizeof p->client_id, "%s", (const char *)sqlite3_column_text(st, 0));
  snprintf(p->object_id, sizeof p->object_id, "%s", (const char *)sqlite3_column_text(st, 1));
  p->name = meta_col_str(st, 2);
  if (sqlite3_column_bytes(st, 3) == sizeof p->salt)
    memcpy(p->salt, sqlite3_column_blob(st, 3), sizeof p->salt);
  if (sqlite3_column_bytes(st, 4) == sizeof p->hash)
    memcpy(p->hash, sqlite3_column_blob(st, 4), sizeof p->hash);
  p->created_us = sqlite3_column_int64(st, 5);
}

#define PRINCIPAL_SELECT "SELECT client_id, object_id, name, salt, hash, created_us FROM principals"

int meta_principal_get(struct meta *m, const char *client_id, struct meta_principal *out)
{
  sqlite3_stmt *st = meta_prepare(m, PRINCIPAL_SELECT " WHERE client_id = ?1");
  if (!st)
    return -EIO;
  sqlite3_bind_text(st, 1, client_id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st), r = 0;
  if (rc == SQLITE_ROW)
    read_row(st, out);
  else
    r = rc == SQLITE_DONE ? -ENOENT : -EIO;
  sqlite3_finalize(st);
  return r;
}

int meta_principal_delete(struct meta *m, const char *client_id)
{
  struct meta_principal p;
  int r = meta_principal_get(m, client_id, &p);
  if (r < 0)
    return r;
  if ((r = meta_begin(m)) < 0)
    goto out;
  sqlite3_stmt *st = meta_prepare(m, "DELETE FROM role_assignments WHERE object_id = ?1");
  if (st)
    sqlite3_bind_text(st, 1, p.object_id, -1, SQLITE_STATIC);
  r = meta_exec_stmt(st);
  if (r == 0) {
    st = meta_prepare(m, "DELETE FROM principals WHERE client_id = ?1");
    if (st)
      sqlite3_bind_text(st, 1, client_id, -1, SQLITE_STATIC);
    r = meta_exec_stmt(st);
  }
  if (r == 0)
    r = meta_commit(m);
  else
    meta_rollback(m);
out:
  meta_principal_clear(&p);
  return r;
}

int meta_principal_list(struct meta *m, meta_principal_cb cb, void *ctx)
{
  sqlite3_stmt *st = meta_prepare(m, PRINCIPAL_SELECT " ORDER BY name, client_id");
  if (!st)
    return -EIO;
  int rc, ret = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    struct meta_principal p;
    read_row(st, &p);
    ret = cb(ctx, &p);
    meta_principal_clear(&p);
    if (ret)
      break;
  }
  if (!ret && rc != SQLITE_DONE)
    ret = -EIO;
  sqlite3_finalize(st);
  return ret;
}

int meta_role_set(struct meta *m, const char *object_id, const char *scope, const char *role)
{
  sqlite3_stmt *st = role ? meta_prepare(m, "INSERT OR REPLACE INTO role_assignments(object_id, scope, role)"
                                            " VALUES(?1,?2,?3)")
                          : meta_prepare(m, "DELETE FROM role_assignments WHERE object_id=?1 AND scope=?2");
  if (!st)
    return -EIO;
  sqlite3_bind_text(st, 1, object_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, scope, -1, SQLITE_STATIC);
  if (role)
    sqlite3_bind_text(st, 3, role, -1, SQLITE_STATIC);
  return meta_exec_stmt(st);
}

int meta_role_get(struct meta *m, const char *object_id, const char *subscription, char *role, int role_len)
{
  sqlite3_stmt *st = meta_prepare(m, "SELECT role FROM role_assignments WHERE object_id = ?1"
                                      " AND (scope = ?2 COLLATE NOCASE OR scope = '*') ORDER BY scope = '*' LIMIT 1");
  if (!st)
    return -EIO;
  sqlite3_bind_text(st, 1, object_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, subscription, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st), r = 0;
  if (rc == SQLITE_ROW)
    snprintf(role, (size_t)role_len, "%s", (const char *)sqlite3_column_text(st, 0));
  else
    r = rc == SQLITE_DONE ? -ENOENT : -EIO;
  sqlite3_finalize(st);
  return r;
}

int meta_role_list(struct meta *m, const char *object_id, meta_role_cb cb, void *ctx)
{
  sqlite3_stmt *st = meta_prepare(m, "SELECT object_id, scope, role FROM role_assignments"
                                     " WHERE ?1 IS NULL OR object_id = ?1 ORDER BY object_id, scope");
  if (!st)
    return -EIO;
  meta_bind_str(st, 1, object_id);
  int rc, ret = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    ret = cb(ctx, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
             (const char *)sqlite3_column_text(st, 2));
    if (ret)
      break;
  }
  if (!ret && rc != SQLITE_DONE)
    ret = -EIO;
  sqlite3_finalize(st);
  return ret;
}
