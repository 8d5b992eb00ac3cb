/*
 * internal.h — what the meta/ files share: the per-thread connection and the
 * statement helpers.  Not part of meta's public interface.
 */
#pragma once
#include <sqlite3.h>

#include "meta/meta.h"

/* The calling thread's connection to m (opened on first use), or NULL. */
sqlite3 *meta_db(struct meta *m);
/* Prepares sql on the thread's connection; logs and returns NULL on error. */
sqlite3_stmt *meta_prepare(struct meta *m, const char *sql);
/* Steps a statement that returns no rows and finalizes it: 0, -EEXIST on a
 * constraint violation, -ENOSPC when the file system is full, -EIO
 * otherwise. */
int meta_exec_stmt(sqlite3_stmt *st);
/* Whether the calling thread holds an explicit transaction on m. */
bool meta_in_txn(struct meta *m);
/* strdup of a column, NULL for SQL NULL. */
char *meta_col_str(sqlite3_stmt *st, int col);
/* Binds a string, or NULL when s is NULL. */
void meta_bind_str(sqlite3_stmt *st, int idx, const char *s);
/* Steps a SELECT, calling row(st, ctx) for each row until it returns
 * non-zero (which is returned); -EIO when a step fails.  Finalizes st. */
int meta_each_row(sqlite3_stmt *st, int (*row)(sqlite3_stmt *st, void *ctx), void *ctx);
/* Steps a SELECT of at most one row: read(st, out) and 0, -ENOENT when there
 * is none, -EIO.  Finalizes st. */
int meta_one_row(sqlite3_stmt *st, void (*read)(sqlite3_stmt *st, void *out), void *out);
