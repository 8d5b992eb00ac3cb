/*
 * driver.h — the metadata back-end interface: what a database driver gives
 * meta.c (SCALE-OUT.md §5.2).  Not part of meta's public interface; the
 * entity files never see it (they use internal.h).
 *
 * A driver has three objects, all opaque to the rest of meta/:
 *   - a store (struct meta_store): one per meta_open, whatever the back end
 *     shares between threads (SQLite: the path and the one-writer mutex);
 *   - a connection (struct meta_db): one per thread, opened on the thread's
 *     first use and closed by meta.c (SQLite handles and PGconns alike must
 *     not be used by two threads at once);
 *   - a statement (struct meta_stmt): prepared on the calling thread's
 *     connection, used and finalized on that thread.  Drivers embed struct
 *     meta_stmt as the first member of their own statement, so the generic
 *     calls of meta.c reach the statement's driver without a lookup.
 *
 * SQL is written in one canonical form, SQLite's: `?N` placeholders (a
 * driver whose database numbers them otherwise, `$N` in PostgreSQL,
 * rewrites them in prepare).  Statements that differ by dialect (INSERT OR
 * REPLACE, generated columns, triggers) and the migrations are per driver.
 *
 * Errors: every call that can fail returns -errno, mapped by the driver:
 * -EEXIST for a uniqueness/constraint violation (SQLite SQLITE_CONSTRAINT,
 * PostgreSQL SQLSTATE 23505), -EPERM for a rule the schema enforces (a
 * trigger's refusal: retention locks), -ENOSPC when the database's storage is
 * full, -EIO otherwise.  The driver logs the database's message.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct meta_store;
struct meta_db;

struct meta_stmt {
  const struct meta_driver *drv;
};

struct meta_driver {
  /* Several processes (nodes) may use one store at once: membership
   * leases are kept and checked (node.c).  SQLite: false, its file is one
   * process's. */
  bool shared;
  /* target names the store (SQLite: the database file's path; PostgreSQL:
   * a connection string or URL). */
  int (*store_open)(const char *target, struct meta_store **out);
  void (*store_close)(struct meta_store *s);
  /* A connection for the calling thread; NULL on failure (logged). */
  struct meta_db *(*connect)(struct meta_store *s);
  void (*disconnect)(struct meta_db *db);
  /* Brings the schema to this build's version (each step in its own
   * transaction); -EPROTO when the database is newer than this build. */
  int (*migrate)(struct meta_db *db);
  /* The one-writer transaction: begin waits until no other writer of the
   * store holds one (SQLite: a process mutex + BEGIN IMMEDIATE; PostgreSQL:
   * an advisory transaction lock).  commit ends it whatever happens (rolled
   * back when the commit fails), rollback too. */
  int (*begin)(struct meta_db *db);
  int (*commit)(struct meta_db *db);
  void (*rollback)(struct meta_db *db);
  /* NULL on failure (logged). */
  struct meta_stmt *(*prepare)(struct meta_db *db, const char *sql);
  /* idx counts from 1.  Text: NULL binds SQL NULL; copy = false borrows s
   * until the statement is finalized. */
  void (*bind_text)(struct meta_stmt *st, int idx, const char *s, bool copy);
  void (*bind_int64)(struct meta_stmt *st, int idx, int64_t v);
  void (*bind_double)(struct meta_stmt *st, int idx, double v);
  /* Borrowed until the statement is finalized. */
  void (*bind_blob)(struct meta_stmt *st, int idx, const void *p, size_t n);
  /* 1: a row is ready, 0: done, -errno. */
  int (*step)(struct meta_stmt *st);
  /* Rows the statement changed, read after the step that returned 0. */
  int (*changes)(struct meta_stmt *st);
  int (*col_count)(struct meta_stmt *st);
  bool (*col_null)(struct meta_stmt *st, int col);
  int64_t (*col_int64)(struct meta_stmt *st, int col);
  double (*col_double)(struct meta_stmt *st, int col);
  /* Valid until the next step or finalize; NULL for SQL NULL. */
  const char *(*col_text)(struct meta_stmt *st, int col);
  const void *(*col_blob)(struct meta_stmt *st, int col, size_t *len);
  void (*finalize)(struct meta_stmt *st);
  /* Sets the check the driver runs once it holds the one-writer lock: in
   * begin, and before a write outside a transaction where the driver takes
   * the lock for it (a shared store's; SQLite's lone writes are one
   * process's, whose store lock excludes any other).  A negative result
   * fails the begin or the write, nothing of it done, and is returned.
   * meta.c's checks the node's fencing token (node.c, invariant N1).  May
   * be NULL in a driver that is not shared. */
  void (*set_writer_check)(struct meta_store *s, int (*check)(struct meta_db *db, void *ctx), void *ctx);
  /* Marks a prepared write that needs neither the one-writer lock nor the
   * writer check outside a transaction (its WHERE clause makes it safe on
   * its own); NULL where lone writes take no lock (SQLite). */
  void (*unserialized)(struct meta_stmt *st);
};

extern const struct meta_driver meta_sqlite_driver;
#ifdef VMRP_HAVE_PG
extern const struct meta_driver meta_pg_driver;
#endif
