/*
 * grant.c — SAS grants (the stored access policies behind SAS URLs) and the
 * region's secrets.
 *
 * A grant gives read (or, for an Upload disk, write) access to one disk or
 * disk restore point until expires_us.  Its row is the authority: the URL
 * names the grant (`si`) and is signed over it, so extending a grant only
 * moves expires_us here and the URL stays the same, and deleting the row
 * revokes every copy of the URL at once.  Expired rows are inert (every
 * query compares with the caller's clock) and are purged lazily by the
 * next grant.  A trigger (migration 6) deletes a resource's grants with its
 * row, so a URL never outlives what it reads.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta/internal.h"

#define GRANT_COLS "id, resource_id, family, access, created_us, expires_us"

void meta_grant_clear(struct meta_grant *g)
{
  free(g->resource_id);
  free(g->family);
  memset(g, 0, sizeof *g);
}

int meta_grant_put(struct meta *m, const struct meta_grant *g)
{
  struct meta_stmt *st = meta_prepare(m, "INSERT INTO grants(" GRANT_COLS ") VALUES(?1,?2,?3,?4,?5,?6)"
                                         " ON CONFLICT(id) DO UPDATE SET resource_id = excluded.resource_id,"
                                         " family = excluded.family, access = excluded.access,"
                                         " created_us = excluded.created_us, expires_us = excluded.expires_us");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, g->id);
  meta_bind_text(st, 2, g->resource_id);
  meta_bind_text(st, 3, g->family);
  meta_bind_int64(st, 4, g->access);
  meta_bind_int64(st, 5, g->created_us);
  meta_bind_int64(st, 6, g->expires_us);
  return meta_exec_stmt(st);
}

static void read_grant(struct meta_stmt *st, void *out)
{
  struct meta_grant *g = out;
  memset(g, 0, sizeof *g);
  const char *id = meta_col_text(st, 0);
  snprintf(g->id, sizeof g->id, "%s", id ? id : "");
  g->resource_id = meta_col_str(st, 1);
  g->family = meta_col_str(st, 2);
  g->access = meta_col_int(st, 3);
  g->created_us = meta_col_int64(st, 4);
  g->expires_us = meta_col_int64(st, 5);
}

int meta_grant_get(struct meta *m, const char *id, int64_t now_us, struct meta_grant *out)
{
  struct meta_stmt *st = meta_prepare(m, "SELECT " GRANT_COLS " FROM grants WHERE id = ?1 AND expires_us > ?2");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, id);
  meta_bind_int64(st, 2, now_us);
  return meta_one_row(st, read_grant, out);
}

int meta_grant_of(struct meta *m, const char *resource_id, int64_t now_us, struct meta_grant *out)
{
  struct meta_stmt *st = meta_prepare(m, "SELECT " GRANT_COLS " FROM grants WHERE resource_id = ?1 AND expires_us > ?2"
                                         " ORDER BY created_us LIMIT 1");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, resource_id);
  meta_bind_int64(st, 2, now_us);
  return meta_one_row(st, read_grant, out);
}

static void read_int(struct meta_stmt *st, void *out) { *(int *)out = meta_col_int(st, 0); }

int meta_grant_count_family(struct meta *m, const char *family, int64_t now_us, int *n)
{
  struct meta_stmt *st = meta_prepare(m, "SELECT count(*) FROM grants WHERE family = ?1 AND expires_us > ?2");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, family);
  meta_bind_int64(st, 2, now_us);
  return meta_one_row(st, read_int, n);
}

int meta_grant_delete_of(struct meta *m, const char *resource_id)
{
  struct meta_stmt *st =
      meta_prepare(m, resource_id ? "DELETE FROM grants WHERE resource_id = ?1" : "DELETE FROM grants");
  if (!st)
    return -EIO;
  if (resource_id)
    meta_bind_text(st, 1, resource_id);
  return meta_exec_stmt(st);
}

int meta_grant_purge(struct meta *m, int64_t now_us)
{
  struct meta_stmt *st = meta_prepare(m, "DELETE FROM grants WHERE expires_us <= ?1");
  if (!st)
    return -EIO;
  meta_bind_int64(st, 1, now_us);
  return meta_exec_stmt(st);
}

struct secret_out {
  unsigned char *buf;
  size_t cap, len;
};

static void read_secret(struct meta_stmt *st, void *out)
{
  struct secret_out *s = out;
  const void *p = meta_col_blob(st, 0, &s->len);
  if (s->len <= s->cap)
    memcpy(s->buf, p, s->len);
}

int meta_secret_get(struct meta *m, const char *name, unsigned char *buf, size_t cap, size_t *len)
{
  struct meta_stmt *st = meta_prepare(m, "SELECT value FROM secrets WHERE name = ?1");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, name);
  struct secret_out s = {buf, cap, 0};
  int r = meta_one_row(st, read_secret, &s);
  if (r == 0 && s.len > cap)
    r = -EOVERFLOW;
  if (r == 0)
    *len = s.len;
  return r;
}

int meta_secret_delete(struct meta *m, const char *name)
{
  struct meta_stmt *st = meta_prepare(m, "DELETE FROM secrets WHERE name = ?1");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, name);
  int rc = meta_exec_count(st);
  return rc < 0 ? rc : rc == 0 ? -ENOENT : 0;
}

int meta_secret_put(struct meta *m, const char *name, const unsigned char *value, size_t len, int64_t now_us)
{
  struct meta_stmt *st = meta_prepare(m, "INSERT INTO secrets(name, value, created_us) VALUES(?1,?2,?3)"
                                         " ON CONFLICT(name) DO UPDATE SET value = excluded.value,"
                                         " created_us = excluded.created_us");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, name);
  meta_bind_blob(st, 2, value, (int)len);
  meta_bind_int64(st, 3, now_us);
  return meta_exec_stmt(st);
}
