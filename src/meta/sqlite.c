/*
 * sqlite.c — the SQLite driver of the statement layer (driver.h): the only
 * file of vmrp that calls libsqlite3 (scripts/check-layers keeps it so).
 *
 * Connections: SQLite handles must not be used by two threads at once, and a
 * mutex around one handle would serialise all readers.  So each thread has
 * its own connection (meta.c keeps them per thread); WAL lets those readers
 * run alongside one writer.
 *
 * Durability: journal_mode=WAL with synchronous=FULL — COMMIT returns only
 * after the WAL is fsync'd, so an acknowledged ARM write survives kill -9 and
 * power loss.  Writers use BEGIN IMMEDIATE so two writers never deadlock on a
 * lock upgrade.
 *
 * Writer queueing: SQLite makes a writer that finds the lock taken sleep and
 * retry (busy_timeout), with sleeps that grow to 100 ms — under 32 concurrent
 * PUTs that put p99 above a second.  Explicit transactions of this process
 * therefore queue on the store's write_lock first and reach SQLite one at a
 * time; busy_timeout remains for other processes (the admin sub-commands).
 *
 * Statements: a sqlite3_stmt wrapped with the driver's header (struct
 * meta_stmt).  Finalized wrappers are kept on their connection for the next
 * prepare (its thread's only: no lock), so the seam adds no allocation to a
 * statement prepared per call (callgrind: a malloc each cost a resource GET
 * 1.5 % more instructions, in glibc's consolidation).  Text and blobs are
 * bound SQLITE_STATIC unless the caller asks for a copy.
 *
 * Failpoint `meta.commit` fails a commit: meta_commit's, and a write's
 * outside a transaction (which commits itself) before its first step.
 */
#include <sqlite3.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/failpoint.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "meta/driver.h"
#include "meta/sqlite.h"

struct meta_store {
  char *path;
  pthread_mutex_t write_lock; /* held from begin to commit/rollback */
  int (*check)(struct meta_db *db, void *ctx); /* the writer check (driver.h), or NULL */
  void *check_ctx;
};

struct sq_stmt {
  struct meta_stmt base;
  sqlite3_stmt *h;
  struct meta_db *db;
  struct sq_stmt *next_spare;
  bool stepped;
};

struct meta_db {
  sqlite3 *h;
  struct meta_store *s;
  struct sq_stmt *spares; /* finalized wrappers, for the next prepare */
};

static inline sqlite3_stmt *H(struct meta_stmt *st) { return ((struct sq_stmt *)st)->h; }

/* A failed write's errno: a full file system is told apart (the caller can
 * say so, and retrying once space returns succeeds). */
static int write_errno(int rc) { return (rc & 0xff) == SQLITE_FULL ? -ENOSPC : -EIO; }

static int exec_sql(sqlite3 *db, const char *sql)
{
  char *err = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
  if (rc != SQLITE_OK) {
    log_error("meta", "sql failed: %s (%.80s)", err ? err : "?", sql);
    sqlite3_free(err);
    return write_errno(rc);
  }
  return 0;
}

static int store_open(const char *target, struct meta_store **out)
{
  struct meta_store *s = calloc(1, sizeof *s);
  if (!s || !(s->path = strdup(target))) {
    free(s);
    return -ENOMEM;
  }
  pthread_mutex_init(&s->write_lock, NULL);
  *out = s;
  return 0;
}

static void store_close(struct meta_store *s)
{
  pthread_mutex_destroy(&s->write_lock);
  free(s->path);
  free(s);
}

/* vmrp_now_us(): the store's clock in SQL (node.c's leases), this host's
 * for SQLite — as PostgreSQL's schema defines it on the server's. */
static void sql_now_us(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
  (void)argc;
  (void)argv;
  sqlite3_result_int64(ctx, time_now_us());
}

static struct meta_db *open_conn(struct meta_store *s)
{
  sqlite3 *h = NULL;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(s->path, &h, flags, NULL) != SQLITE_OK) {
    log_error("meta", "cannot open %s: %s", s->path, h ? sqlite3_errmsg(h) : "out of memory");
    sqlite3_close(h);
    return NULL;
  }
  sqlite3_busy_timeout(h, 10000);
  struct meta_db *db = NULL;
  if (exec_sql(h, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;") < 0 ||
      sqlite3_create_function(h, "vmrp_now_us", 0, SQLITE_UTF8, NULL, sql_now_us, NULL, NULL) != SQLITE_OK ||
      !(db = malloc(sizeof *db))) {
    sqlite3_close(h);
    return NULL;
  }
  db->h = h;
  db->s = s;
  db->spares = NULL;
  return db;
}

static void close_conn(struct meta_db *db)
{
  sqlite3_close_v2(db->h);
  while (db->spares) {
    struct sq_stmt *next = db->spares->next_spare;
    free(db->spares);
    db->spares = next;
  }
  free(db);
}

static int migrate(struct meta_db *db)
{
  if (exec_sql(db->h, "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL);") < 0)
    return -EIO;
  int have = 0;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db->h, "SELECT version FROM schema_version", -1, &st, NULL) != SQLITE_OK) {
    log_error("meta", "prepare failed: %s (schema_version)", sqlite3_errmsg(db->h));
    return -EIO;
  }
  if (sqlite3_step(st) == SQLITE_ROW)
    have = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  int want = meta_sqlite_migration_count;
  if (have > want) {
    log_error("meta", "database schema version %d is newer than this vmrpd (%d)", have, want);
    return -EPROTO;
  }
  for (int v = have; v < want; v++) {
    char bump[96];
    snprintf(bump, sizeof bump, "DELETE FROM schema_version; INSERT INTO schema_version VALUES(%d);", v + 1);
    if (exec_sql(db->h, "BEGIN IMMEDIATE") < 0)
      return -EIO;
    if (exec_sql(db->h, meta_sqlite_migrations[v]) < 0 || exec_sql(db->h, bump) < 0) {
      exec_sql(db->h, "ROLLBACK");
      return -EIO;
    }
    if (exec_sql(db->h, "COMMIT") < 0)
      return -EIO;
    log_info("meta", "schema migrated to version %d", v + 1);
  }
  return 0;
}

static int begin(struct meta_db *db)
{
  pthread_mutex_lock(&db->s->write_lock);
  int r = exec_sql(db->h, "BEGIN IMMEDIATE");
  if (r == 0 && db->s->check && (r = db->s->check(db, db->s->check_ctx)) < 0)
    exec_sql(db->h, "ROLLBACK");
  if (r < 0)
    pthread_mutex_unlock(&db->s->write_lock);
  return r;
}

static void set_writer_check(struct meta_store *s, int (*check)(struct meta_db *db, void *ctx), void *ctx)
{
  s->check = check;
  s->check_ctx = ctx;
}


/* Ends the transaction and releases the write lock: commits when asked,
 * rolls back when not or when the commit failed (unless SQLite has already
 * rolled back on its own).  0 or the commit's -errno. */
static int end_txn(struct meta_db *db, bool commit)
{
  int r = 0;
  if (commit && (r = failpoint_err("meta.commit")) == 0)
    r = exec_sql(db->h, "COMMIT");
  if ((!commit || r < 0) && !sqlite3_get_autocommit(db->h))
    exec_sql(db->h, "ROLLBACK");
  pthread_mutex_unlock(&db->s->write_lock);
  return r;
}

static int commit(struct meta_db *db) { return end_txn(db, true); }

static void rollback(struct meta_db *db) { end_txn(db, false); }

static void finalize(struct meta_stmt *base)
{
  struct sq_stmt *st = (struct sq_stmt *)base;
  sqlite3_finalize(st->h);
  st->next_spare = st->db->spares;
  st->db->spares = st;
}

static struct meta_stmt *prepare(struct meta_db *db, const char *sql)
{
  struct sq_stmt *st = db->spares;
  if (st)
    db->spares = st->next_spare;
  else if (!(st = malloc(sizeof *st)))
    return NULL;
  st->base.drv = &meta_sqlite_driver;
  st->db = db;
  st->stepped = false;
  if (sqlite3_prepare_v2(db->h, sql, -1, &st->h, NULL) != SQLITE_OK) {
    log_error("meta", "prepare failed: %s (%.80s)", sqlite3_errmsg(db->h), sql);
    finalize(&st->base);
    return NULL;
  }
  return &st->base;
}

static void bind_text(struct meta_stmt *st, int idx, const char *s, bool copy)
{
  sqlite3_bind_text(H(st), idx, s, -1, copy ? SQLITE_TRANSIENT : SQLITE_STATIC);
}

static void bind_int64(struct meta_stmt *st, int idx, int64_t v) { sqlite3_bind_int64(H(st), idx, v); }

static void bind_double(struct meta_stmt *st, int idx, double v) { sqlite3_bind_double(H(st), idx, v); }

static void bind_blob(struct meta_stmt *st, int idx, const void *p, size_t n)
{
  sqlite3_bind_blob64(H(st), idx, p, n, SQLITE_STATIC);
}

static int step(struct meta_stmt *base)
{
  struct sq_stmt *st = (struct sq_stmt *)base;
  sqlite3 *db = sqlite3_db_handle(st->h);
  /* a write outside a transaction commits itself: the same failpoint */
  int r = st->stepped || sqlite3_stmt_readonly(st->h) || !sqlite3_get_autocommit(db) ? 0
                                                                                     : failpoint_err("meta.commit");
  st->stepped = true;
  if (r < 0)
    return r;
  int rc = sqlite3_step(st->h);
  if (rc == SQLITE_ROW)
    r = 1;
  else if (rc == SQLITE_DONE)
    r = 0;
  else if ((rc & 0xff) == SQLITE_CONSTRAINT && sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_TRIGGER) {
    log_warn("meta", "refused: %s", sqlite3_errmsg(db)); /* a trigger's rule (retention locks) */
    r = -EPERM;
  } else if ((rc & 0xff) == SQLITE_CONSTRAINT)
    r = -EEXIST;
  else {
    log_error("meta", "step failed: %s", sqlite3_errmsg(db));
    r = write_errno(rc);
  }
  return r;
}

static int changes(struct meta_stmt *st) { return sqlite3_changes(sqlite3_db_handle(H(st))); }

static int col_count(struct meta_stmt *st) { return sqlite3_column_count(H(st)); }

static bool col_null(struct meta_stmt *st, int col) { return sqlite3_column_type(H(st), col) == SQLITE_NULL; }

static int64_t col_int64(struct meta_stmt *st, int col) { return sqlite3_column_int64(H(st), col); }

static double col_double(struct meta_stmt *st, int col) { return sqlite3_column_double(H(st), col); }

static const char *col_text(struct meta_stmt *st, int col) { return (const char *)sqlite3_column_text(H(st), col); }

static const void *col_blob(struct meta_stmt *st, int col, size_t *len)
{
  const void *p = sqlite3_column_blob(H(st), col); /* before _bytes: the documented order */
  *len = (size_t)sqlite3_column_bytes(H(st), col);
  return p;
}


const struct meta_driver meta_sqlite_driver = {
    .store_open = store_open,
    .store_close = store_close,
    .connect = open_conn,
    .disconnect = close_conn,
    .migrate = migrate,
    .begin = begin,
    .commit = commit,
    .rollback = rollback,
    .prepare = prepare,
    .bind_text = bind_text,
    .bind_int64 = bind_int64,
    .bind_double = bind_double,
    .bind_blob = bind_blob,
    .step = step,
    .changes = changes,
    .col_count = col_count,
    .col_null = col_null,
    .col_int64 = col_int64,
    .col_double = col_double,
    .col_text = col_text,
    .col_blob = col_blob,
    .finalize = finalize,
    .set_writer_check = set_writer_check,
};
