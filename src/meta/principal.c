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
  struct meta_stmt *st = meta_prepare(m, "INSERT INTO principals(client_id, object_id, name, salt, hash, created_us)"
                                         " VALUES(?1,?2,?3,?4,?5,?6) ON CONFLICT(client_id) DO UPDATE SET"
                                         " object_id = excluded.object_id, name = excluded.name, salt = excluded.salt,"
                                         " hash = excluded.hash, created_us = excluded.created_us");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, p->client_id);
  meta_bind_text(st, 2, p->object_id);
  meta_bind_text(st, 3, p->name);
  meta_bind_blob(st, 4, p->salt, sizeof p->salt);
  meta_bind_blob(st, 5, p->hash, sizeof p->hash);
  meta_bind_int64(st, 6, p->created_us);
  return meta_exec_stmt(st);
}

static void read_row(struct meta_stmt *st, struct meta_principal *p)
{
  memset(p, 0, sizeof *p);
  snprintf(p->client_id, sizeof p->client_id, "%s", meta_col_text(st, 0));
  snprintf(p->object_id, sizeof p->object_id, "%s", meta_col_text(st, 1));
  p->name = meta_col_str(st, 2);
  size_t n;
  const void *b = meta_col_blob(st, 3, &n);
  if (n == sizeof p->salt)
    memcpy(p->salt, b, sizeof p->salt);
  b = meta_col_blob(st, 4, &n);
  if (n == sizeof p->hash)
    memcpy(p->hash, b, sizeof p->hash);
  p->created_us = meta_col_int64(st, 5);
}

#define PRINCIPAL_SELECT "SELECT client_id, object_id, name, salt, hash, created_us FROM principals"

int meta_principal_get(struct meta *m, const char *client_id, struct meta_principal *out)
{
  struct meta_stmt *st = meta_prepare(m, PRINCIPAL_SELECT " WHERE client_id = ?1");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, client_id);
  int rc = meta_step(st), r = 0;
  if (rc == META_ROW)
    read_row(st, out);
  else
    r = rc == META_DONE ? -ENOENT : -EIO;
  meta_finalize(st);
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
  struct meta_stmt *st = meta_prepare(m, "DELETE FROM role_assignments WHERE object_id = ?1");
  if (st)
    meta_bind_text(st, 1, p.object_id);
  r = meta_exec_stmt(st);
  if (r == 0) {
    st = meta_prepare(m, "DELETE FROM principals WHERE client_id = ?1");
    if (st)
      meta_bind_text(st, 1, client_id);
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
  struct meta_stmt *st = meta_prepare(m, PRINCIPAL_SELECT " ORDER BY name, client_id");
  if (!st)
    return -EIO;
  int rc, ret = 0;
  while ((rc = meta_step(st)) == META_ROW) {
    struct meta_principal p;
    read_row(st, &p);
    ret = cb(ctx, &p);
    meta_principal_clear(&p);
    if (ret)
      break;
  }
  if (!ret && rc != META_DONE)
    ret = -EIO;
  meta_finalize(st);
  return ret;
}

int meta_role_set(struct meta *m, const char *object_id, const char *scope, const char *role)
{
  struct meta_stmt *st = role ? meta_prepare(m, "INSERT INTO role_assignments(object_id, scope, role) VALUES(?1,?2,?3)"
                                                " ON CONFLICT(object_id, scope) DO UPDATE SET role = excluded.role")
                              : meta_prepare(m, "DELETE FROM role_assignments WHERE object_id=?1 AND scope=?2");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, object_id);
  meta_bind_text(st, 2, scope);
  if (role)
    meta_bind_text(st, 3, role);
  return meta_exec_stmt(st);
}

int meta_role_get(struct meta *m, const char *object_id, const char *subscription, char *role, int role_len)
{
  struct meta_stmt *st =
      meta_prepare(m, "SELECT role FROM role_assignments WHERE object_id = ?1"
                       " AND (scope = ?2 OR scope = '*') ORDER BY scope = '*' LIMIT 1"); /* scope: a NOCASE column */
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, object_id);
  meta_bind_text(st, 2, subscription);
  int rc = meta_step(st), r = 0;
  if (rc == META_ROW)
    snprintf(role, (size_t)role_len, "%s", meta_col_text(st, 0));
  else
    r = rc == META_DONE ? -ENOENT : -EIO;
  meta_finalize(st);
  return r;
}

int meta_role_list(struct meta *m, const char *object_id, meta_role_cb cb, void *ctx)
{
  struct meta_stmt *st = meta_prepare(m, "SELECT object_id, scope, role FROM role_assignments"
                                         " WHERE ?1 IS NULL OR object_id = ?1 ORDER BY object_id, scope");
  if (!st)
    return -EIO;
  meta_bind_str(st, 1, object_id);
  int rc, ret = 0;
  while ((rc = meta_step(st)) == META_ROW) {
    ret = cb(ctx, meta_col_text(st, 0), meta_col_text(st, 1),
             meta_col_text(st, 2));
    if (ret)
      break;
  }
  if (!ret && rc != META_DONE)
    ret = -EIO;
  meta_finalize(st);
  return ret;
}
