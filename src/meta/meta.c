/*
 * meta.c — opening the store, per-thread connections, transactions and the
 * statement layer (internal.h), over a back-end driver (driver.h) chosen by
 * the target meta_open is given.  What is here is the same for every back
 * end; what is SQLite's (pragmas, the write lock, error codes, the schema)
 * is in sqlite.c and schema_sqlite.c, PostgreSQL's in pg.c and
 * schema_pg.c.
 *
 * Connections: database connections must not be used by two threads at once
 * (SQLite handles, PostgreSQL PGconns), and a mutex around one would
 * serialise all readers.  So each thread opens its own connection on first
 * use (pthread key).  A thread's connection is closed when the thread exits
 * (the key's destructor): threads come and go (an NBD connection's workers,
 * copy streams), and connections kept for gone threads held two descriptors
 * and a page cache each until the daemon stopped (scripts/soak: ten more a
 * minute).  Every connection is also linked into m->conns so meta_close()
 * can close those of threads still running.
 *
 * Statements: each call of internal.h is one indirect call into the
 * statement's driver; statements are prepared per call, as before the seam.
 */
#include "meta/internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "meta/driver.h"

struct meta_conn {
  struct meta_db *db;
  struct meta *m;
  struct meta_conn *next;
};

struct meta {
  const struct meta_driver *drv;
  struct meta_store *store;
  pthread_key_t key;
  pthread_mutex_t lock; /* protects conns and self */
  struct meta_conn *conns;
  char self_id[64];     /* the node that joined through m (node.c), "" before */
  int64_t self_inc;
};

/* The key's destructor: the exiting thread's connection (unlinked, closed). */
static void close_conn(void *p)
{
  struct meta_conn *c = p;
  struct meta *m = c->m;
  pthread_mutex_lock(&m->lock);
  for (struct meta_conn **pp = &m->conns; *pp; pp = &(*pp)->next) {
    if (*pp == c) {
      *pp = c->next;
      break;
    }
  }
  pthread_mutex_unlock(&m->lock);
  m->drv->disconnect(c->db);
  free(c);
}

static struct meta_db *open_conn(struct meta *m)
{
  struct meta_db *db = m->drv->connect(m->store);
  if (!db)
    return NULL;
  struct meta_conn *c = calloc(1, sizeof *c);
  if (!c) {
    m->drv->disconnect(db);
    return NULL;
  }
  c->db = db;
  c->m = m;
  pthread_mutex_lock(&m->lock);
  c->next = m->conns;
  m->conns = c;
  pthread_mutex_unlock(&m->lock);
  if (pthread_setspecific(m->key, c) != 0) {
    close_conn(c);
    return NULL;
  }
  return db;
}

/* The calling thread's connection to m (opened on first use), or NULL. */
static struct meta_db *thread_db(struct meta *m)
{
  struct meta_conn *c = pthread_getspecific(m->key);
  return c ? c->db : open_conn(m);
}

/* The writer check (driver.h): a node's writes need its fencing token
 * current and its lease live, judged under the one-writer lock that the
 * fencer's update also takes (node.c, invariant N1). */
static int fencing_check(struct meta_db *db, void *ctx)
{
  struct meta *m = ctx;
  char id[sizeof m->self_id];
  int64_t inc;
  meta_self_get(m, id, &inc);
  if (!id[0])
    return 0;
  struct meta_stmt *st = m->drv->prepare(db, "SELECT 1 FROM nodes WHERE id = ?1 AND incarnation = ?2 AND fenced = 0"
                                             " AND lease_until_us > vmrp_now_us()");
  if (!st)
    return -EIO;
  m->drv->bind_text(st, 1, id, false);
  m->drv->bind_int64(st, 2, inc);
  int r = m->drv->step(st);
  m->drv->finalize(st);
  if (r == 0)
    log_error("meta", "write refused: node %s (incarnation %lld) lost its lease or was fenced", id, (long long)inc);
  return r == 1 ? 0 : r == 0 ? -ENOLCK : r;
}

/* Whether a target names a PostgreSQL database: a URL, or a libpq
 * key=value string (it starts with a keyword and '='). */
static bool target_pg(const char *target)
{
  size_t word = strspn(target, "abcdefghijklmnopqrstuvwxyz_");
  return !strncmp(target, "postgresql://", 13) || !strncmp(target, "postgres://", 11) ||
         (word > 0 && target[word + strspn(target + word, " ")] == '=');
}

const char *meta_target_file(const char *target)
{
  return !strncmp(target, "sqlite:", 7) ? target + 7 : target_pg(target) ? NULL : target;
}

/* The driver a target names, and what it passes the driver (*rest). */
static const struct meta_driver *driver_of(const char *target, const char **rest)
{
  *rest = meta_target_file(target);
  if (*rest)
    return &meta_sqlite_driver;
  *rest = target;
#ifdef VMRP_HAVE_PG
  return &meta_pg_driver;
#else
  log_error("meta", "[store] metadata names PostgreSQL, but this vmrpd was built without libpq (libpq-dev)");
  return NULL;
#endif
}

int meta_open(const char *target, struct meta **out)
{
  const char *rest;
  const struct meta_driver *drv = driver_of(target, &rest);
  if (!drv)
    return -EPROTONOSUPPORT;
  struct meta *m = calloc(1, sizeof *m);
  if (!m)
    return -ENOMEM;
  m->drv = drv;
  pthread_mutex_init(&m->lock, NULL);
  int r = m->drv->store_open(rest, &m->store);
  if (r == 0 && pthread_key_create(&m->key, close_conn) != 0) {
    m->drv->store_close(m->store);
    r = -ENOMEM;
  }
  if (r < 0) {
    pthread_mutex_destroy(&m->lock);
    free(m);
    return r;
  }
  if (m->drv->set_writer_check)
    m->drv->set_writer_check(m->store, fencing_check, m);
  struct meta_db *db = thread_db(m);
  r = db ? m->drv->migrate(db) : -EIO;
  if (r < 0) {
    meta_close(m);
    return r;
  }
  *out = m;
  return 0;
}

void meta_close(struct meta *m)
{
  if (!m)
    return;
  struct meta_conn *c = m->conns;
  while (c) {
    struct meta_conn *next = c->next;
    m->drv->disconnect(c->db);
    free(c);
    c = next;
  }
  pthread_key_delete(m->key);
  pthread_mutex_destroy(&m->lock);
  m->drv->store_close(m->store);
  free(m);
}

void meta_self_set(struct meta *m, const char *id, int64_t incarnation)
{
  pthread_mutex_lock(&m->lock);
  snprintf(m->self_id, sizeof m->self_id, "%s", id ? id : "");
  m->self_inc = incarnation;
  pthread_mutex_unlock(&m->lock);
}

void meta_self_get(struct meta *m, char id[64], int64_t *incarnation)
{
  pthread_mutex_lock(&m->lock);
  memcpy(id, m->self_id, sizeof m->self_id);
  *incarnation = m->self_inc;
  pthread_mutex_unlock(&m->lock);
}

/* The store whose transaction this thread holds, if any.  Tracked here
 * rather than asked of the database, which may end a transaction on its own
 * after an error (SQLite rolls back) — the driver's writer lock must still
 * be released exactly once. */
static _Thread_local struct meta *txn_owner;

bool meta_shared(const struct meta *m) { return m->drv->shared; }

bool meta_in_txn(struct meta *m) { return txn_owner == m; }

int meta_begin(struct meta *m)
{
  struct meta_db *db = thread_db(m);
  if (!db)
    return -EIO;
  int r = m->drv->begin(db);
  if (r == 0)
    txn_owner = m;
  return r;
}

/* A thread that holds a transaction has its connection. */
int meta_commit(struct meta *m)
{
  int r = -EIO;
  if (meta_in_txn(m)) {
    r = m->drv->commit(thread_db(m));
    txn_owner = NULL;
  }
  return r;
}

void meta_rollback(struct meta *m)
{
  if (meta_in_txn(m)) {
    m->drv->rollback(thread_db(m));
    txn_owner = NULL;
  }
}

int meta_atomic(struct meta *m, int (*fn)(struct meta *m, void *ctx), void *ctx)
{
  bool own = !meta_in_txn(m);
  int r = own ? meta_begin(m) : 0;
  if (r == 0)
    r = fn(m, ctx);
  if (own && r == 0)
    r = meta_commit(m);
  else if (own)
    meta_rollback(m);
  return r;
}

struct meta_stmt *meta_prepare(struct meta *m, const char *sql)
{
  struct meta_db *db = thread_db(m);
  return db ? m->drv->prepare(db, sql) : NULL;
}

int meta_exec_count(struct meta_stmt *st)
{
  if (!st)
    return -EIO;
  int r = st->drv->step(st);
  if (r >= 0)
    r = st->drv->changes(st);
  st->drv->finalize(st);
  return r;
}

int meta_exec_stmt(struct meta_stmt *st)
{
  int r = meta_exec_count(st);
  return r < 0 ? r : 0;
}

struct meta_stmt *meta_prepare_unserialized(struct meta *m, const char *sql)
{
  struct meta_stmt *st = meta_prepare(m, sql);
  if (st && m->drv->unserialized)
    m->drv->unserialized(st);
  return st;
}

void meta_bind_text(struct meta_stmt *st, int idx, const char *s) { st->drv->bind_text(st, idx, s, false); }

void meta_bind_str(struct meta_stmt *st, int idx, const char *s) { st->drv->bind_text(st, idx, s, true); }

void meta_bind_int64(struct meta_stmt *st, int idx, int64_t v) { st->drv->bind_int64(st, idx, v); }

void meta_bind_double(struct meta_stmt *st, int idx, double v) { st->drv->bind_double(st, idx, v); }

void meta_bind_blob(struct meta_stmt *st, int idx, const void *p, size_t n) { st->drv->bind_blob(st, idx, p, n); }

int meta_step(struct meta_stmt *st) { return st->drv->step(st); }

void meta_finalize(struct meta_stmt *st) { st->drv->finalize(st); }

int meta_col_count(struct meta_stmt *st) { return st->drv->col_count(st); }

bool meta_col_null(struct meta_stmt *st, int col) { return st->drv->col_null(st, col); }

int64_t meta_col_int64(struct meta_stmt *st, int col) { return st->drv->col_int64(st, col); }

int meta_col_int(struct meta_stmt *st, int col) { return (int)st->drv->col_int64(st, col); }

double meta_col_double(struct meta_stmt *st, int col) { return st->drv->col_double(st, col); }

const char *meta_col_text(struct meta_stmt *st, int col) { return st->drv->col_text(st, col); }

char *meta_col_str(struct meta_stmt *st, int col)
{
  const char *s = st->drv->col_text(st, col);
  return s ? strdup(s) : NULL;
}

const void *meta_col_blob(struct meta_stmt *st, int col, size_t *len) { return st->drv->col_blob(st, col, len); }

int meta_each_row(struct meta_stmt *st, int (*row)(struct meta_stmt *st, void *ctx), void *ctx)
{
  int rc, ret = 0;
  while ((rc = meta_step(st)) == META_ROW && (ret = row(st, ctx)) == 0)
    ;
  if (!ret && rc != META_DONE)
    ret = -EIO;
  meta_finalize(st);
  return ret;
}

int meta_one_row(struct meta_stmt *st, void (*read)(struct meta_stmt *st, void *out), void *out)
{
  int rc = meta_step(st), r = 0;
  if (rc == META_ROW)
    read(st, out);
  else
    r = rc == META_DONE ? -ENOENT : -EIO;
  meta_finalize(st);
  return r;
}
