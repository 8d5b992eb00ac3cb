/*
 * internal.h — what the meta/ files share: the statement layer.  Not part of
 * meta's public interface.
 *
 * The entity files (resource.c, operation.c, …) speak to the database only
 * through these calls, which are the same whatever the back end: a
 * statement is prepared on the calling thread's connection, bound, stepped,
 * read and finalized; meta.c forwards each call to the statement's driver
 * (driver.h; SQLite in sqlite.c).  SQL uses `?N` placeholders.  A write
 * that must know how many rows it touched uses meta_exec_count (a count of
 * that statement, not of the connection); an id the database assigns is
 * read back with `RETURNING` (SQLite ≥ 3.35 and PostgreSQL share it), never
 * with a last-insert-id call, stepping the write with meta_step, whose
 * errors are meta_exec_stmt's (meta_one_row reports every failure as -EIO).
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta/meta.h"

struct meta_stmt;

/* meta_step's results besides -errno. */
enum { META_DONE = 0, META_ROW = 1 };

/* Prepares sql on the thread's connection; logs and returns NULL on error. */
struct meta_stmt *meta_prepare(struct meta *m, const char *sql);
/* meta_prepare for a write that must not wait for the one-writer lock
 * outside a transaction — a lease renewal, which a node stalled while
 * holding the lock would otherwise cost every other node (node.c) — and
 * whose own WHERE clause makes it safe without the writer check. */
struct meta_stmt *meta_prepare_unserialized(struct meta *m, const char *sql);
/* Steps a statement that returns no rows and finalizes it: 0, -EEXIST on a
 * constraint violation, -EPERM when a rule of the schema refuses it,
 * -ENOSPC when the storage is full, -EIO otherwise (-EIO for st NULL). */
int meta_exec_stmt(struct meta_stmt *st);
/* meta_exec_stmt, returning the number of rows the statement changed. */
int meta_exec_count(struct meta_stmt *st);
/* Whether the calling thread holds an explicit transaction on m. */
bool meta_in_txn(struct meta *m);
/* Runs fn(m, ctx) in a transaction: the caller's when it holds one, else
 * its own (committed when fn returns 0, rolled back otherwise).  fn's
 * result, or the begin's or commit's -errno. */
int meta_atomic(struct meta *m, int (*fn)(struct meta *m, void *ctx), void *ctx);

/* The node that joined through m (node.c): id "" and 0 before a join and
 * after a leave.  Its writes are checked against the nodes table (meta.c). */
void meta_self_set(struct meta *m, const char *id, int64_t incarnation);
void meta_self_get(struct meta *m, char id[64], int64_t *incarnation);

/* Binds (idx from 1).  meta_bind_text borrows s until the statement is
 * finalized, meta_bind_str copies it; both bind SQL NULL for NULL. */
void meta_bind_text(struct meta_stmt *st, int idx, const char *s);
void meta_bind_str(struct meta_stmt *st, int idx, const char *s);
void meta_bind_int64(struct meta_stmt *st, int idx, int64_t v);
void meta_bind_double(struct meta_stmt *st, int idx, double v);
/* Borrows p until the statement is finalized. */
void meta_bind_blob(struct meta_stmt *st, int idx, const void *p, size_t n);

/* META_ROW, META_DONE or -errno (as meta_exec_stmt). */
int meta_step(struct meta_stmt *st);
void meta_finalize(struct meta_stmt *st);

/* The current row's columns (col from 0). */
int meta_col_count(struct meta_stmt *st);
bool meta_col_null(struct meta_stmt *st, int col);
int64_t meta_col_int64(struct meta_stmt *st, int col);
int meta_col_int(struct meta_stmt *st, int col);
double meta_col_double(struct meta_stmt *st, int col);
/* Borrowed until the next step or finalize; NULL for SQL NULL. */
const char *meta_col_text(struct meta_stmt *st, int col);
/* strdup of a column, NULL for SQL NULL. */
char *meta_col_str(struct meta_stmt *st, int col);
/* Borrowed as meta_col_text; *len is its size (0 for SQL NULL). */
const void *meta_col_blob(struct meta_stmt *st, int col, size_t *len);

/* Steps a SELECT, calling row(st, ctx) for each row until it returns
 * non-zero (which is returned); -EIO when a step fails.  Finalizes st. */
int meta_each_row(struct meta_stmt *st, int (*row)(struct meta_stmt *st, void *ctx), void *ctx);
/* Steps a SELECT of at most one row: read(st, out) and 0, -ENOENT when there
 * is none, -EIO.  Finalizes st. */
int meta_one_row(struct meta_stmt *st, void (*read)(struct meta_stmt *st, void *out), void *out);
