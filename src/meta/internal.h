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
 * constraint violation, -EIO otherwise. */
int meta_exec_stmt(sqlite3_stmt *st);
/* Whether the calling thread holds an explicit transaction on m. */
bool meta_in_txn(struct meta *m);
/* strdup of a column, NULL for SQL NULL. */
char *meta_col_str(sqlite3_stmt *st, int col);
/* Binds a string, or NULL when s is NULL. */
void meta_bind_str(sqlite3_stmt *st, int idx, const char *s);
