/*
 * deployment.c — template deployments' history entries and operations.
 *
 * Two tables of their own (not rows of `resources`), so the generic
 * resource lists and a resource group's walk never see a deployment.  The
 * documents are opaque JSON written by deploy/; what this file enforces is
 * the table's rules, each in the statement or transaction that writes
 * (tests/unit/test_meta_deployment.c checks each):
 *  (1) a name that is active (Accepted, Running) is neither replaced nor
 *      deleted (-EBUSY);
 *  (2) a replaced deployment's operations go with its old row;
 *  (3) a scope holds at most `keep` deployments: inserting one deletes the
 *      oldest final ones beyond it (ARM deletes old history automatically),
 *      never an active one, never another scope's;
 *  (4) a deployment's operations go with it, and a resource group's
 *      deployments with the group's row — not when the row is replaced
 *      (triggers of migration 10);
 *  (5) an operation is written only for a deployment that exists.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "meta/internal.h"

#define DEP_COLS                                                                                         \
  "id, scope, name, location, state, op_id, parent_id, caller, document, template, cancel, seq, start_us, " \
  "end_us"
#define ACTIVE "('Accepted','Running')"

void meta_deployment_clear(struct meta_deployment *d)
{
  free(d->id);
  free(d->scope);
  free(d->name);
  free(d->location);
  free(d->state);
  free(d->op_id);
  free(d->parent_id);
  free(d->caller);
  free(d->document);
  free(d->template);
  memset(d, 0, sizeof *d);
}

static void read_deployment(struct meta_stmt *st, void *out)
{
  struct meta_deployment *d = out;
  d->id = meta_col_str(st, 0);
  d->scope = meta_col_str(st, 1);
  d->name = meta_col_str(st, 2);
  d->location = meta_col_str(st, 3);
  d->state = meta_col_str(st, 4);
  d->op_id = meta_col_str(st, 5);
  d->parent_id = meta_col_str(st, 6);
  d->caller = meta_col_str(st, 7);
  d->document = meta_col_str(st, 8);
  d->template = meta_col_str(st, 9);
  d->cancel = meta_col_int(st, 10) != 0;
  d->seq = meta_col_int64(st, 11);
  d->start_us = meta_col_int64(st, 12);
  d->end_us = meta_col_int64(st, 13);
}

/* Whether id is active: 1, 0 (final or absent), -EIO. */
static int is_active(struct meta *m, const char *id)
{
  struct meta_stmt *st = meta_prepare(m, "SELECT 1 FROM deployments WHERE id = ?1 AND state IN " ACTIVE);
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, id);
  int rc = meta_step(st);
  meta_finalize(st);
  return rc == META_ROW ? 1 : rc == META_DONE ? 0 : -EIO;
}

/* Runs sql with ?1 = id: the rows it changed, -errno. */
static int exec_count_id(struct meta *m, const char *sql, const char *id)
{
  struct meta_stmt *st = meta_prepare(m, sql);
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, id);
  return meta_exec_count(st);
}

static int exec_id(struct meta *m, const char *sql, const char *id)
{
  int r = exec_count_id(m, sql, id);
  return r < 0 ? r : 0;
}

static int insert(struct meta *m, const struct meta_deployment *d, int keep)
{
  int r = is_active(m, d->id);
  if (r > 0)
    return -EBUSY;
  if (r == 0)
    r = exec_id(m, "DELETE FROM deployments WHERE id = ?1", d->id); /* its operations with it (trigger) */
  struct meta_stmt *st =
      r < 0 ? NULL
            : meta_prepare(m, "INSERT INTO deployments(" DEP_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,"
                              "?10,0,(SELECT coalesce(max(seq),0)+1 FROM deployments),?11,?12)");
  if (r < 0 || !st)
    return r < 0 ? r : -EIO;
  meta_bind_str(st, 1, d->id);
  meta_bind_str(st, 2, d->scope);
  meta_bind_str(st, 3, d->name);
  meta_bind_str(st, 4, d->location);
  meta_bind_str(st, 5, d->state);
  meta_bind_str(st, 6, d->op_id);
  meta_bind_str(st, 7, d->parent_id);
  meta_bind_str(st, 8, d->caller);
  meta_bind_str(st, 9, d->document);
  meta_bind_str(st, 10, d->template);
  meta_bind_int64(st, 11, d->start_us);
  meta_bind_int64(st, 12, d->end_us);
  r = meta_exec_stmt(st);
  if (r < 0 || keep <= 0)
    return r;
  st = meta_prepare(m, "DELETE FROM deployments WHERE id IN (SELECT id FROM deployments WHERE scope = ?1"
                       " AND state NOT IN " ACTIVE " ORDER BY seq LIMIT (SELECT CASE WHEN count(*) > ?2"
                       " THEN count(*) - ?2 ELSE 0 END FROM deployments WHERE scope = ?1))");
  if (!st)
    return -EIO;
  meta_bind_str(st, 1, d->scope);
  meta_bind_int64(st, 2, keep);
  return meta_exec_stmt(st);
}

int meta_deployment_put(struct meta *m, const struct meta_deployment *d, int keep)
{
  bool own = !meta_in_txn(m);
  int r = own ? meta_begin(m) : 0;
  if (r == 0)
    r = insert(m, d, keep);
  if (own && r == 0)
    r = meta_commit(m);
  else if (own)
    meta_rollback(m);
  return r;
}

int meta_deployment_get(struct meta *m, const char *id, struct meta_deployment *out)
{
  memset(out, 0, sizeof *out);
  struct meta_stmt *st = meta_prepare(m, "SELECT " DEP_COLS " FROM deployments WHERE id = ?1");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, id);
  return meta_one_row(st, read_deployment, out);
}

int meta_deployment_update(struct meta *m, const char *id, const char *state, const char *document, int64_t end_us)
{
  struct meta_stmt *st = meta_prepare(m, "UPDATE deployments SET state = ?2, document = coalesce(?3, document),"
                                         " end_us = ?4 WHERE id = ?1");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, id);
  meta_bind_str(st, 2, state);
  meta_bind_str(st, 3, document);
  meta_bind_int64(st, 4, end_us);
  int r = meta_exec_count(st);
  return r < 0 ? r : r == 0 ? -ENOENT : 0;
}

int meta_deployment_cancel(struct meta *m, const char *id)
{
  int r = exec_count_id(m, "UPDATE deployments SET cancel = 1 WHERE id = ?1 AND state IN " ACTIVE, id);
  return r < 0 ? r : r == 0 ? -EALREADY : 0;
}

int meta_deployment_delete(struct meta *m, const char *id)
{
  bool own = !meta_in_txn(m);
  int r = own ? meta_begin(m) : 0;
  if (r == 0)
    r = is_active(m, id) ? -EBUSY : 0; /* -EIO counts as busy: nothing is deleted */
  if (r == 0)
    r = exec_id(m, "DELETE FROM deployments WHERE id = ?1", id);
  if (own && r == 0)
    r = meta_commit(m);
  else if (own)
    meta_rollback(m);
  return r;
}

struct each_deployment {
  meta_deployment_cb cb;
  void *ctx;
};

static int each_deployment(struct meta_stmt *st, void *ctx)
{
  struct each_deployment *e = ctx;
  struct meta_deployment d = {0};
  read_deployment(st, &d);
  int r = e->cb(e->ctx, &d);
  meta_deployment_clear(&d);
  return r;
}

int meta_deployment_list(struct meta *m, const char *scope, meta_deployment_cb cb, void *ctx)
{
  struct meta_stmt *st = meta_prepare(m, scope ? "SELECT " DEP_COLS " FROM deployments WHERE scope = ?1 ORDER BY seq"
                                               : "SELECT " DEP_COLS " FROM deployments WHERE state IN " ACTIVE
                                                 " ORDER BY seq");
  if (!st)
    return -EIO;
  if (scope)
    meta_bind_text(st, 1, scope);
  struct each_deployment e = {cb, ctx};
  return meta_each_row(st, each_deployment, &e);
}

/* ---- operations ---------------------------------------------------------- */

#define OP_COLS "deployment_id, id, state, target_id, document, seq"

void meta_deployment_op_clear(struct meta_deployment_op *op)
{
  free(op->deployment_id);
  free(op->id);
  free(op->state);
  free(op->target_id);
  free(op->document);
  memset(op, 0, sizeof *op);
}

static void read_op(struct meta_stmt *st, void *out)
{
  struct meta_deployment_op *op = out;
  op->deployment_id = meta_col_str(st, 0);
  op->id = meta_col_str(st, 1);
  op->state = meta_col_str(st, 2);
  op->target_id = meta_col_str(st, 3);
  op->document = meta_col_str(st, 4);
  op->seq = meta_col_int64(st, 5);
}

int meta_deployment_op_put(struct meta *m, const struct meta_deployment_op *op)
{
  struct meta_stmt *st = meta_prepare(
      m, "INSERT INTO deployment_operations(" OP_COLS ") SELECT ?1, ?2, ?3, ?4, ?5,"
         " (SELECT coalesce(max(seq),0)+1 FROM deployment_operations WHERE deployment_id = ?1)"
         " WHERE EXISTS (SELECT 1 FROM deployments WHERE id = ?1)"
         " ON CONFLICT(deployment_id, id) DO UPDATE SET state = excluded.state, target_id = excluded.target_id,"
         " document = excluded.document");
  if (!st)
    return -EIO;
  meta_bind_str(st, 1, op->deployment_id);
  meta_bind_str(st, 2, op->id);
  meta_bind_str(st, 3, op->state);
  meta_bind_str(st, 4, op->target_id);
  meta_bind_str(st, 5, op->document);
  int r = meta_exec_count(st);
  return r < 0 ? r : r == 0 ? -ENOENT : 0;
}

int meta_deployment_op_get(struct meta *m, const char *deployment_id, const char *id, struct meta_deployment_op *out)
{
  memset(out, 0, sizeof *out);
  struct meta_stmt *st =
      meta_prepare(m, "SELECT " OP_COLS " FROM deployment_operations WHERE deployment_id = ?1 AND id = ?2");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, deployment_id);
  meta_bind_text(st, 2, id);
  return meta_one_row(st, read_op, out);
}

struct each_op {
  meta_deployment_op_cb cb;
  void *ctx;
};

static int each_op(struct meta_stmt *st, void *ctx)
{
  struct each_op *e = ctx;
  struct meta_deployment_op op = {0};
  read_op(st, &op);
  int r = e->cb(e->ctx, &op);
  meta_deployment_op_clear(&op);
  return r;
}

int meta_deployment_op_list(struct meta *m, const char *deployment_id, meta_deployment_op_cb cb, void *ctx)
{
  struct meta_stmt *st =
      meta_prepare(m, "SELECT " OP_COLS " FROM deployment_operations WHERE deployment_id = ?1 ORDER BY seq");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, deployment_id);
  struct each_op e = {cb, ctx};
  return meta_each_row(st, each_op, &e);
}
