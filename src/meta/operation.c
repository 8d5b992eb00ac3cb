/*
 * operation.c — long-running operation records.
 *
 * A row is created InProgress in the same transaction as the resource change
 * that starts the work (the caller wraps both in meta_begin/meta_commit), so a
 * crash can never leave a resource marked "Deleting" without an operation that
 * will finish it.  Finishing writes status, error/result and end time in one
 * statement.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timefmt.h"
#include "meta/internal.h"

#define OP_COLS                                                                                    \
  "id, subscription, provider, location, kind, resource_id, status, percent, start_us, end_us, "   \
  "error, result, payload"

const char *meta_op_status_to_string(enum meta_op_status s)
{
  switch (s) {
  case OP_IN_PROGRESS: return "InProgress";
  case OP_SUCCEEDED: return "Succeeded";
  case OP_FAILED: return "Failed";
  case OP_CANCELED: return "Canceled";
  }
  return "Unknown";
}

void meta_operation_clear(struct meta_operation *op)
{
  free(op->subscription);
  free(op->provider);
  free(op->location);
  free(op->kind);
  free(op->resource_id);
  free(op->error);
  free(op->result);
  free(op->payload);
  memset(op, 0, sizeof *op);
}

static void read_row(struct meta_stmt *st, struct meta_operation *op)
{
  memset(op, 0, sizeof *op);
  snprintf(op->id, sizeof op->id, "%s", meta_col_text(st, 0));
  op->subscription = meta_col_str(st, 1);
  op->provider = meta_col_str(st, 2);
  op->location = meta_col_str(st, 3);
  op->kind = meta_col_str(st, 4);
  op->resource_id = meta_col_str(st, 5);
  op->status = (enum meta_op_status)meta_col_int(st, 6);
  op->percent = meta_col_double(st, 7);
  op->start_us = meta_col_int64(st, 8);
  op->end_us = meta_col_int64(st, 9);
  op->error = meta_col_str(st, 10);
  op->result = meta_col_str(st, 11);
  op->payload = meta_col_str(st, 12);
}

int meta_operation_create(struct meta *m, const struct meta_operation *op)
{
  struct meta_stmt *st = meta_prepare(m, "INSERT INTO operations(" OP_COLS
                                         ") VALUES(?1,?2,?3,?4,?5,?6,?7,0,?8,NULL,NULL,NULL,?9)");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, op->id);
  meta_bind_text(st, 2, op->subscription);
  meta_bind_text(st, 3, op->provider);
  meta_bind_text(st, 4, op->location);
  meta_bind_text(st, 5, op->kind);
  meta_bind_str(st, 6, op->resource_id);
  meta_bind_int64(st, 7, OP_IN_PROGRESS);
  meta_bind_int64(st, 8, op->start_us ? op->start_us : time_now_us());
  meta_bind_str(st, 9, op->payload);
  return meta_exec_stmt(st);
}

int meta_operation_get(struct meta *m, const char *id, struct meta_operation *out)
{
  struct meta_stmt *st = meta_prepare(m, "SELECT " OP_COLS " FROM operations WHERE id = ?1");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, id);
  int rc = meta_step(st), r = 0;
  if (rc == META_ROW)
    read_row(st, out);
  else
    r = rc == META_DONE ? -ENOENT : -EIO;
  meta_finalize(st);
  return r;
}

int meta_operation_progress(struct meta *m, const char *id, double percent)
{
  struct meta_stmt *st = meta_prepare(m, "UPDATE operations SET percent = ?2 WHERE id = ?1 AND status = ?3");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, id);
  meta_bind_double(st, 2, percent);
  meta_bind_int64(st, 3, OP_IN_PROGRESS);
  return meta_exec_stmt(st);
}

int meta_operation_finish(struct meta *m, const char *id, enum meta_op_status status, const char *error,
                          const char *result)
{
  struct meta_stmt *st = meta_prepare(m, "UPDATE operations SET status = ?2, error = ?3, result = ?4,"
                                         " end_us = ?5, percent = CASE WHEN ?2 = 1 THEN 100 ELSE percent END"
                                         " WHERE id = ?1");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, id);
  meta_bind_int64(st, 2, status);
  meta_bind_str(st, 3, error);
  meta_bind_str(st, 4, result);
  meta_bind_int64(st, 5, time_now_us());
  int r = meta_exec_count(st);
  return r < 0 ? r : r == 0 ? -ENOENT : 0;
}

int meta_operation_list_in_progress(struct meta *m, meta_operation_cb cb, void *ctx)
{
  struct meta_stmt *st = meta_prepare(m, "SELECT " OP_COLS " FROM operations WHERE status = ?1 ORDER BY start_us");
  if (!st)
    return -EIO;
  meta_bind_int64(st, 1, OP_IN_PROGRESS);
  int rc, ret = 0;
  while ((rc = meta_step(st)) == META_ROW) {
    struct meta_operation op;
    read_row(st, &op);
    ret = cb(ctx, &op);
    meta_operation_clear(&op);
    if (ret)
      break;
  }
  if (!ret && rc != META_DONE)
    ret = -EIO;
  meta_finalize(st);
  return ret;
}
