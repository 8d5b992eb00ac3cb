/*
 * copy.c — the rows of disk restore points being copied from another region
 * (meta.h, struct meta_image_copy).
 *
 * The row is written when the copy is recorded (in the transaction that
 * creates the restore point) and updated at each checkpoint of the copy,
 * which has synced the chunk store before: a covered value here is durable
 * in the store.  covered only grows (the larger of the stored and the new
 * value), so no update can move the progress a client sees backwards.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta/internal.h"

#define COPY_COLS                                                                                             \
  "image_id, source_id, source_location, root, size, covered, bytes_received, records_received, bytes_stored, " \
  "refetched, attempts, error, started_us, changed_us"

void meta_image_copy_clear(struct meta_image_copy *c)
{
  free(c->image_id);
  free(c->source_id);
  free(c->source_location);
  free(c->error);
  memset(c, 0, sizeof *c);
}

static void bind_counters(struct meta_stmt *st, const struct meta_image_copy *c)
{
  meta_bind_int64(st, 5, (int64_t)c->size);
  meta_bind_int64(st, 6, (int64_t)c->covered);
  meta_bind_int64(st, 7, (int64_t)c->bytes_received);
  meta_bind_int64(st, 8, (int64_t)c->records_received);
  meta_bind_int64(st, 9, (int64_t)c->bytes_stored);
  meta_bind_int64(st, 10, (int64_t)c->refetched);
  meta_bind_int64(st, 11, c->attempts);
  meta_bind_str(st, 12, c->error);
}

int meta_image_copy_put(struct meta *m, const struct meta_image_copy *c)
{
  struct meta_stmt *st =
      meta_prepare(m, "INSERT INTO image_copies(" COPY_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,"
                      "?11,?12,?13,?13)");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, c->image_id);
  meta_bind_text(st, 2, c->source_id);
  meta_bind_text(st, 3, c->source_location);
  meta_bind_text(st, 4, c->root);
  bind_counters(st, c);
  meta_bind_int64(st, 13, c->started_us);
  return meta_exec_stmt(st);
}

int meta_image_copy_update(struct meta *m, const struct meta_image_copy *c)
{
  struct meta_stmt *st =
      meta_prepare(m, "UPDATE image_copies SET size = ?5, covered = CASE WHEN covered > ?6 THEN covered ELSE ?6 END,"
                      " bytes_received = ?7, records_received = ?8, bytes_stored = ?9, refetched = ?10,"
                      " attempts = ?11, error = ?12, changed_us = ?13 WHERE image_id = ?1");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, c->image_id);
  bind_counters(st, c);
  meta_bind_int64(st, 13, c->changed_us);
  int r = meta_exec_count(st);
  return r < 0 ? r : r == 0 ? -ENOENT : 0;
}

int meta_image_copy_set_root(struct meta *m, const char *image_id, const char *root, uint64_t size)
{
  struct meta_stmt *st = meta_prepare(m, "UPDATE image_copies SET root = ?2, size = ?3 WHERE image_id = ?1");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, image_id);
  meta_bind_text(st, 2, root);
  meta_bind_int64(st, 3, (int64_t)size);
  int r = meta_exec_count(st);
  return r < 0 ? r : r == 0 ? -ENOENT : 0;
}

static void read_copy(struct meta_stmt *st, void *out)
{
  struct meta_image_copy *c = out;
  memset(c, 0, sizeof *c);
  c->image_id = meta_col_str(st, 0);
  c->source_id = meta_col_str(st, 1);
  c->source_location = meta_col_str(st, 2);
  const char *t = meta_col_text(st, 3);
  snprintf(c->root, sizeof c->root, "%s", t ? t : "");
  c->size = (uint64_t)meta_col_int64(st, 4);
  c->covered = (uint64_t)meta_col_int64(st, 5);
  c->bytes_received = (uint64_t)meta_col_int64(st, 6);
  c->records_received = (uint64_t)meta_col_int64(st, 7);
  c->bytes_stored = (uint64_t)meta_col_int64(st, 8);
  c->refetched = (uint64_t)meta_col_int64(st, 9);
  c->attempts = meta_col_int(st, 10);
  c->error = meta_col_str(st, 11);
  c->started_us = meta_col_int64(st, 12);
  c->changed_us = meta_col_int64(st, 13);
}

int meta_image_copy_get(struct meta *m, const char *image_id, struct meta_image_copy *out)
{
  struct meta_stmt *st = meta_prepare(m, "SELECT " COPY_COLS " FROM image_copies WHERE image_id = ?1");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, image_id);
  return meta_one_row(st, read_copy, out);
}

static void read_count(struct meta_stmt *st, void *out) { *(int *)out = meta_col_int(st, 0); }

int meta_image_copies_active(struct meta *m, int *n)
{
  struct meta_stmt *st = meta_prepare(m, "SELECT count(*) FROM images WHERE state = 3");
  if (!st)
    return -EIO;
  return meta_one_row(st, read_count, n);
}
