/*
 * operation.c — long-running operation records.
 *
 * A row is created InProgress in the same transaction as the resource change
 * that starts the work (the caller wraps both in meta_begin/meta_commit), so a
 * crash can never leave a resource marked "Deleting" without an operation that
 * will finish it.  Finishing writes status, error/result and end time in one
 * statement.
 *
 * Owners: each row names the node incarnation whose job runs it
 * (owner_node, owner_inc: the one that created it, or that claimed it).  A
 * node claims at its start what its earlier incarnations left (embedded:
 * everything), and takes over the operations of incarnations that are gone.
 * A claim is one UPDATE whose WHERE clause requires the owning incarnation
 * gone — no longer the node's, its lease run out, or fenced, judged in the
 * same statement under the one-writer lock — so two nodes never both claim
 * an operation and a live incarnation never loses one (N3:
 * tests/unit/test_meta_node.c "claims").
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
  struct meta_stmt *st = meta_prepare(m, "INSERT INTO operations(" OP_COLS ", owner_node, owner_inc"
                                         ") VALUES(?1,?2,?3,?4,?5,?6,?7,0,?8,NULL,NULL,NULL,?9,?10,?11)");
  if (!st)
    return -EIO;
  char self[64];
  int64_t inc;
  meta_self_get(m, self, &inc);
  meta_bind_str(st, 10, self[0] ? self : NULL);
  meta_bind_int64(st, 11, inc);
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

int meta_operation_claim(struct meta *m, enum meta_claim which, const char *node, const char *kind, char (**ids)[40],
                         size_t *n)
{
#define CLAIM_SET                                                                                                \
  "UPDATE operations SET owner_node = ?1, owner_inc = ?4 WHERE status = 0 AND (?3 IS NULL OR kind = ?3)"
  static const char *const sql[] = {
      [CLAIM_ANY] = CLAIM_SET " RETURNING id",
      [CLAIM_UNOWNED] = CLAIM_SET " AND owner_node IS NULL RETURNING id",
      [CLAIM_MINE] = CLAIM_SET " AND owner_node = ?1 AND owner_inc <> ?4 RETURNING id",
      [CLAIM_GONE] = CLAIM_SET " AND owner_node IS NOT NULL AND (?2 = '' OR owner_node = ?2)"
                     " AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = operations.owner_node"
                     "  AND n.incarnation = operations.owner_inc AND n.fenced = 0"
                     "  AND n.lease_until_us > vmrp_now_us()) RETURNING id",
  };
#undef CLAIM_SET
  char self[64];
  int64_t inc;
  meta_self_get(m, self, &inc);
  *ids = NULL;
  *n = 0;
  struct meta_stmt *st = meta_prepare(m, sql[which]);
  if (!st)
    return -EIO;
  meta_bind_str(st, 1, self[0] ? self : NULL);
  meta_bind_text(st, 2, node ? node : "");
  meta_bind_text(st, 3, kind);
  meta_bind_int64(st, 4, inc);
  int r;
  size_t cap = 0;
  while ((r = meta_step(st)) == META_ROW) {
    if (*n == cap) {
      cap = cap ? 2 * cap : 16;
      char(*grown)[40] = realloc(*ids, cap * sizeof **ids);
      if (!grown) {
        r = -ENOMEM;
        break;
      }
      *ids = grown;
    }
    snprintf((*ids)[(*n)++], sizeof **ids, "%s", meta_col_text(st, 0));
  }
  meta_finalize(st);
  if (r < 0) {
    free(*ids);
    *ids = NULL;
    *n = 0;
  }
  return r < 0 ? r : 0;
}
