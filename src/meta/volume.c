/*
 * volume.c — the volumes table: which generated volume id (and so which
 * files) backs which disk resource, its size, its life-cycle state and
 * whether the last shutdown was clean (the CBT trust flag).  The state lets a
 * crash in the middle of a creation or deletion be finished at start-up.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta/internal.h"

#define VOLUME_COLS "id, resource_id, size, state, clean, created_us, key_wrapped, domain, crypt_state"

void meta_volume_clear(struct meta_volume *v)
{
  free(v->resource_id);
  memset(v, 0, sizeof *v);
}

/* The row of resource v->resource_id under another id goes first: a volume
 * replaces the one its disk had (as INSERT OR REPLACE did, but as a delete,
 * so its capture base goes with it). */
static int put_locked(struct meta *m, void *ctx)
{
  const struct meta_volume *v = ctx;
  struct meta_stmt *st = meta_prepare(m, "DELETE FROM volumes WHERE resource_id = ?2 AND id <> ?1");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, v->id);
  meta_bind_text(st, 2, v->resource_id);
  int r = meta_exec_stmt(st);
  if (r < 0)
    return r;
  st = meta_prepare(m, "INSERT INTO volumes(" VOLUME_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)"
                       " ON CONFLICT(id) DO UPDATE SET resource_id = excluded.resource_id, size = excluded.size,"
                       " state = excluded.state, clean = excluded.clean, created_us = excluded.created_us,"
                       " key_wrapped = excluded.key_wrapped, domain = excluded.domain,"
                       " crypt_state = excluded.crypt_state");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, v->id);
  meta_bind_text(st, 2, v->resource_id);
  meta_bind_int64(st, 3, (int64_t)v->size);
  meta_bind_int64(st, 4, v->state);
  meta_bind_int64(st, 5, v->clean);
  meta_bind_int64(st, 6, v->created_us);
  if (v->key_wrapped_len)
    meta_bind_blob(st, 7, v->key_wrapped, (int)v->key_wrapped_len);
  meta_bind_str(st, 8, v->domain[0] ? v->domain : NULL);
  meta_bind_int64(st, 9, v->crypt_state);
  return meta_exec_stmt(st);
}

int meta_volume_put(struct meta *m, const struct meta_volume *v)
{
  return meta_atomic(m, put_locked, (void *)v);
}

static void read_row(struct meta_stmt *st, void *out)
{
  struct meta_volume *v = out;
  memset(v, 0, sizeof *v);
  snprintf(v->id, sizeof v->id, "%s", meta_col_text(st, 0));
  v->resource_id = meta_col_str(st, 1);
  v->size = (uint64_t)meta_col_int64(st, 2);
  v->state = (enum meta_volume_state)meta_col_int(st, 3);
  v->clean = meta_col_int(st, 4) != 0;
  v->created_us = meta_col_int64(st, 5);
  size_t n;
  const void *key = meta_col_blob(st, 6, &n);
  if (n <= sizeof v->key_wrapped && key) {
    memcpy(v->key_wrapped, key, n);
    v->key_wrapped_len = n;
  }
  const char *d = meta_col_text(st, 7);
  snprintf(v->domain, sizeof v->domain, "%s", d ? d : "");
  v->crypt_state = (enum meta_crypt_state)meta_col_int(st, 8);
}

static int get_one(struct meta *m, const char *sql, const char *key, struct meta_volume *out)
{
  struct meta_stmt *st = meta_prepare(m, sql);
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, key);
  return meta_one_row(st, read_row, out);
}

int meta_volume_get(struct meta *m, const char *id, struct meta_volume *out)
{
  return get_one(m, "SELECT " VOLUME_COLS " FROM volumes WHERE id = ?1", id, out);
}

int meta_volume_by_resource(struct meta *m, const char *resource_id, struct meta_volume *out)
{
  return get_one(m, "SELECT " VOLUME_COLS " FROM volumes WHERE resource_id = ?1", resource_id, out);
}

int meta_volume_delete(struct meta *m, const char *id)
{
  struct meta_stmt *st = meta_prepare(m, "DELETE FROM volumes WHERE id = ?1");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, id);
  return meta_exec_stmt(st);
}

struct volume_walk {
  meta_volume_cb cb;
  void *ctx;
};

static int volume_row(struct meta_stmt *st, void *ctx)
{
  struct volume_walk *w = ctx;
  struct meta_volume v;
  read_row(st, &v);
  int r = w->cb(w->ctx, &v);
  meta_volume_clear(&v);
  return r;
}

int meta_volume_list(struct meta *m, meta_volume_cb cb, void *ctx)
{
  struct meta_stmt *st = meta_prepare(m, "SELECT " VOLUME_COLS " FROM volumes ORDER BY created_us");
  if (!st)
    return -EIO;
  struct volume_walk w = {cb, ctx};
  return meta_each_row(st, volume_row, &w);
}
