/*
 * pg.c — the PostgreSQL driver of the statement layer (driver.h), over
 * libpq: the only file of vmrp that calls libpq (scripts/check-layers keeps
 * it so).  The store is a PostgreSQL 15 database named by a libpq
 * connection string or URL; its schema is schema_pg.c's.
 *
 * Connections: a PGconn must not be used by two threads at once, so each
 * thread has its own (meta.c keeps them per thread), opened with bounded
 * waits: connect_timeout, and on the server statement_timeout, lock_timeout
 * and idle_in_transaction_session_timeout, so a stuck server or a stuck
 * peer cannot hang a thread for ever; a client-side deadline (CLIENT_WAIT_S)
 * covers a server that stops answering at all, after which the connection
 * is dropped.  A lost connection is opened again by the next statement
 * outside a transaction — a read, or a write whose transaction had not
 * begun, is retried once on the new connection, as nothing of it was
 * applied; inside a transaction every statement and the commit fail (-EIO):
 * the server rolled it back.
 *
 * One writer (SQLite's rule, now across every node of a region): a write
 * transaction is BEGIN + pg_advisory_xact_lock(WRITER_KEY), held until
 * commit or rollback; this process's writers queue on the store's
 * write_lock first (as in sqlite.c), so only other nodes wait in the
 * server.  A write statement outside a transaction (INSERT, UPDATE,
 * DELETE) is run in one of its own that takes the same lock, as SQLite's
 * autocommit write takes its write lock.  Once it holds the lock, either
 * runs the store's writer check (driver.h: this node's fencing token and
 * lease, node.c), which may refuse the write.  READ COMMITTED: each statement
 * of a transaction sees what committed before it, and as writers are
 * serialised nothing commits under a writer.  Durability:
 * synchronous_commit = on, so COMMIT returns once the WAL is flushed.
 *
 * Statements fail alone, as in SQLite: a write inside a transaction runs
 * under a savepoint, rolled back to when it fails (a constraint, a
 * trigger's refusal), so the caller's transaction goes on.
 *
 * SQL: the statement layer's `?N` placeholders are rewritten to `$N` at
 * prepare; the statement is sent (parsed, planned, run) at its first step,
 * once its parameters are bound, and its rows are read whole (the caller
 * may run other statements on the connection between two steps).  Text is
 * sent untyped, so the server gives it the type of the column it meets
 * (case-insensitive citext keys compare as citext); a NULL text is typed
 * text, so `?N IS NULL` alone can be planned.  Integers are int8, doubles
 * float8, blobs binary bytea; rows come back as text.
 *
 * Errors: SQLSTATE class 23 (integrity) → -EEXIST, VR001 (a trigger's
 * refusal, schema_pg.c) → -EPERM, 53100 (disk full) → -ENOSPC, the rest
 * -EIO, each logged with the server's message.  Logs name the server by
 * host, port, database and user, never by the connection string, which may
 * hold a password.
 *
 * Failpoint `meta.commit` fails a commit: meta_commit's, and a write's
 * outside a transaction before it is sent.
 */
#include <libpq-fe.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/failpoint.h"
#include "common/log.h"
#include "meta/driver.h"
#include "meta/pg.h"

/* The one-writer lock's key: "vmrp" in ASCII.  Advisory locks belong to
 * their database, so regions sharing a server do not contend. */
#define WRITER_LOCK "SELECT pg_advisory_xact_lock(1986884208)"
/* Session settings (overridden by an `options` in the connection string):
 * a statement runs 60 s at most, waits 10 s at most for a lock (SQLite's
 * busy_timeout), and a transaction left idle 5 s is ended by the server so
 * a stuck node (stopped, partitioned) cannot keep the writer lock — it
 * must be released well before the others' writes give up waiting for it
 * (lock_timeout) and within a node's lease (10 s by default). */
#define SESSION_OPTIONS                                                                                     \
  "-c statement_timeout=60000 -c lock_timeout=10000 -c idle_in_transaction_session_timeout=5000 "          \
  "-c synchronous_commit=on"
/* How long the client waits for any answer: past the server's own limits. */
#define CLIENT_WAIT_S 75
#define MAX_PARAMS 32
/* PostgreSQL's type oids (pg_type.h is a server header). */
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_TEXT 25
/* A text parameter's type until it is sent: citext has no fixed oid. */
#define OID_CITEXT_SLOT ((Oid)-1)
#define OID_FLOAT8 701

struct meta_store {
  char *conninfo; /* as configured: may hold a password, never logged */
  char where[256]; /* host, port, database, user: what the logs name */
  pthread_mutex_t write_lock; /* held from begin to commit/rollback */
  int (*check)(struct meta_db *db, void *ctx); /* the writer check (driver.h), or NULL */
  void *check_ctx;
};

struct meta_db {
  PGconn *c; /* NULL after a connection was dropped */
  struct meta_store *s;
  bool in_txn;
  Oid citext; /* the type of text parameters, once known */
};

struct param {
  const char *v; /* NULL: SQL NULL */
  char *owned;   /* a copy the statement frees */
  int len, fmt;
  Oid type;
  char num[32];
};

struct blob {
  unsigned char *p;
  struct blob *next;
};

struct pg_stmt {
  struct meta_stmt base;
  struct meta_db *db;
  char *sql;  /* with $N placeholders */
  bool write; /* INSERT, UPDATE or DELETE */
  int nparams;
  uint32_t used; /* bit N-1: the SQL has ?N */
  struct param p[MAX_PARAMS];
  PGresult *res; /* the rows, once sent */
  int err;       /* the send's -errno, returned by every later step */
  int row, rows, changes;
  struct blob *blobs; /* the current row's decoded bytea */
};

static inline struct pg_stmt *PS(struct meta_stmt *st) { return (struct pg_stmt *)st; }

static int64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool conn_ok(struct meta_db *db) { return db->c && PQstatus(db->c) == CONNECTION_OK; }

/* Drops a connection that stopped answering: the server ends its
 * transaction when it notices; the next statement outside a transaction
 * opens another. */
static void drop_conn(struct meta_db *db)
{
  PQfinish(db->c);
  db->c = NULL;
}

/* The result of what was sent (the first failed one of several), waiting at
 * most CLIENT_WAIT_S; NULL when the connection was lost or dropped. */
static PGresult *collect(struct meta_db *db)
{
  int64_t deadline = now_ms() + CLIENT_WAIT_S * 1000;
  PGresult *res = NULL, *r;
  for (;;) {
    while (PQisBusy(db->c)) {
      int64_t left = deadline - now_ms();
      struct pollfd pfd = {.fd = PQsocket(db->c), .events = POLLIN};
      int ready = left > 0 ? poll(&pfd, 1, (int)left) : 0;
      if (ready < 0)
        continue; /* EINTR */
      if (ready == 0) {
        log_error("meta", "PostgreSQL (%s) did not answer in %d s: connection dropped", db->s->where,
                  CLIENT_WAIT_S);
        PQclear(res);
        drop_conn(db);
        return NULL;
      }
      if (!PQconsumeInput(db->c))
        break; /* lost: PQgetResult reports it */
    }
    if (!(r = PQgetResult(db->c)))
      break;
    ExecStatusType rs = PQresultStatus(r);
    if (!res || (rs == PGRES_FATAL_ERROR && PQresultStatus(res) != PGRES_FATAL_ERROR)) {
      PQclear(res);
      res = r;
    } else {
      PQclear(r);
    }
    if (PQstatus(db->c) == CONNECTION_BAD)
      break;
  }
  return res;
}

static PGresult *run(struct meta_db *db, const char *sql, const struct pg_stmt *st)
{
  if (!conn_ok(db))
    return NULL;
  const char *values[MAX_PARAMS];
  int lens[MAX_PARAMS], fmts[MAX_PARAMS];
  Oid types[MAX_PARAMS];
  int n = st ? st->nparams : 0;
  for (int i = 0; i < n; i++) {
    values[i] = st->p[i].v;
    lens[i] = st->p[i].len;
    fmts[i] = st->p[i].fmt;
    types[i] = st->p[i].type;
  }
  if (!PQsendQueryParams(db->c, sql, n, types, values, lens, fmts, 0))
    return NULL;
  return collect(db);
}

/* A statement's -errno, logged: res NULL is a lost connection. */
static int error_of(struct meta_db *db, const PGresult *res, const char *sql)
{
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  if (state && !strncmp(state, "23", 2))
    return -EEXIST;
  if (state && !strcmp(state, "VR001")) {
    log_warn("meta", "refused: %s", msg ? msg : "?"); /* a trigger's rule (retention locks) */
    return -EPERM;
  }
  if (!msg) {
    const char *why = db->c ? PQerrorMessage(db->c) : "no answer";
    log_error("meta", "PostgreSQL (%s) connection lost: %.*s (%.80s)", db->s->where, (int)strcspn(why, "\n"), why,
              sql);
  } else {
    log_error("meta", "sql failed: %s [%s] (%.80s)", msg, state ? state : "?", sql);
  }
  return state && !strcmp(state, "53100") ? -ENOSPC : -EIO;
}

static bool res_ok(const PGresult *res)
{
  ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

/* Runs sql (with st's parameters when st is given): 0, keeping the result
 * in *keep when asked, or -errno (logged). */
static int run_ok(struct meta_db *db, const char *sql, const struct pg_stmt *st, PGresult **keep)
{
  PGresult *res = run(db, sql, st);
  int r = res_ok(res) ? 0 : error_of(db, res, sql);
  if (r == 0 && keep)
    *keep = res;
  else
    PQclear(res);
  return r;
}

/* Rolls back what the server still holds open; a lost connection holds
 * nothing. */
static void abort_txn(struct meta_db *db)
{
  if (conn_ok(db) && PQtransactionStatus(db->c) != PQTRANS_IDLE)
    run_ok(db, "ROLLBACK", NULL, NULL);
}

/* The server's notices ("already exists, skipping") are not errors. */
static void notice(void *arg, const char *msg)
{
  (void)arg;
  log_debug("meta", "PostgreSQL: %.*s", (int)strcspn(msg, "\n"), msg);
}

static PGconn *connect_to(struct meta_store *s)
{
  /* connection-string values after dbname (expanded) override these */
  const char *keys[] = {"connect_timeout", "options", "application_name", "keepalives_idle", "keepalives_interval",
                        "keepalives_count", "tcp_user_timeout", "dbname", NULL};
  const char *vals[] = {"10", SESSION_OPTIONS, "vmrpd", "10", "5", "3", "30000", s->conninfo, NULL};
  PGconn *c = PQconnectdbParams(keys, vals, 1);
  if (PQstatus(c) != CONNECTION_OK) {
    const char *why = c ? PQerrorMessage(c) : "out of memory";
    log_error("meta", "cannot connect to PostgreSQL (%s): %.*s", s->where, (int)strcspn(why, "\n"), why);
    PQfinish(c);
    c = NULL;
  } else {
    PQsetNoticeProcessor(c, notice, NULL);
  }
  return c;
}

/* Outside a transaction: a connection that answers, opened again if it was
 * lost.  0 or -EIO (logged). */
static int reconnect(struct meta_db *db)
{
  if (conn_ok(db))
    return 0;
  if (db->c) {
    PQreset(db->c);
    if (conn_ok(db)) {
      log_info("meta", "PostgreSQL (%s): connection opened again", db->s->where);
      return 0;
    }
    drop_conn(db);
  }
  return (db->c = connect_to(db->s)) ? 0 : -EIO;
}

/* Whether a failure outside a transaction lost the connection before
 * anything was applied: then it is worth one retry on a new one. */
static bool lost(struct meta_db *db, const PGresult *res)
{
  return !res_ok(res) && !conn_ok(db);
}

/* BEGIN, retried once on a new connection when the old one was stale
 * (nothing had begun). */
static int begin_cmd(struct meta_db *db)
{
  PGresult *res = run(db, "BEGIN", NULL);
  if (lost(db, res) && reconnect(db) == 0) {
    PQclear(res);
    res = run(db, "BEGIN", NULL);
  }
  int r = res_ok(res) ? 0 : error_of(db, res, "BEGIN");
  PQclear(res);
  return r;
}

/* COMMIT: a transaction in which a statement failed outside a savepoint is
 * not committed — the server answers ROLLBACK. */
static int commit_cmd(struct meta_db *db)
{
  PGresult *res = run(db, "COMMIT", NULL);
  int r = res_ok(res) ? 0 : error_of(db, res, "COMMIT");
  if (r == 0 && strcmp(PQcmdStatus(res), "COMMIT") != 0) {
    log_error("meta", "commit failed: the transaction had failed and was rolled back");
    r = -EIO;
  }
  PQclear(res);
  return r;
}

/* Several statements in one round trip (the simple query protocol). */
static PGresult *run_script(struct meta_db *db, const char *sql)
{
  return conn_ok(db) && PQsendQuery(db->c, sql) ? collect(db) : NULL;
}

static void describe(const char *conninfo, char *out, size_t cap)
{
  PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
  const char *host = NULL, *port = NULL, *db = NULL, *user = NULL;
  for (PQconninfoOption *o = opts; o && o->keyword; o++) {
    if (!strcmp(o->keyword, "host") || (!host && !strcmp(o->keyword, "hostaddr")))
      host = o->val;
    else if (!strcmp(o->keyword, "port"))
      port = o->val;
    else if (!strcmp(o->keyword, "dbname"))
      db = o->val;
    else if (!strcmp(o->keyword, "user"))
      user = o->val;
  }
  snprintf(out, cap, "host=%s port=%s dbname=%s user=%s", host ? host : "(default)", port ? port : "(default)",
           db ? db : "(default)", user ? user : "(default)");
  PQconninfoFree(opts);
}

static int store_open(const char *target, struct meta_store **out)
{
  PQconninfoOption *opts = PQconninfoParse(target, NULL);
  if (!opts) { /* libpq's reason may quote the string: not logged */
    log_error("meta", "[store] metadata is not a PostgreSQL connection string or URL");
    return -EINVAL;
  }
  PQconninfoFree(opts);
  struct meta_store *s = calloc(1, sizeof *s);
  if (!s || !(s->conninfo = strdup(target))) {
    free(s);
    return -ENOMEM;
  }
  describe(target, s->where, sizeof s->where);
  pthread_mutex_init(&s->write_lock, NULL);
  *out = s;
  return 0;
}

static void store_close(struct meta_store *s)
{
  pthread_mutex_destroy(&s->write_lock);
  free(s->conninfo);
  free(s);
}

static struct meta_db *open_conn(struct meta_store *s)
{
  struct meta_db *db = calloc(1, sizeof *db);
  if (!db)
    return NULL;
  db->s = s;
  if (!(db->c = connect_to(s))) {
    free(db);
    return NULL;
  }
  return db;
}

static void close_conn(struct meta_db *db)
{
  PQfinish(db->c);
  free(db);
}

/* A value of the first row of a one-row query, copied into out; -EIO. */
static int query_value(struct meta_db *db, const char *sql, char *out, size_t cap)
{
  PGresult *res = run(db, sql, NULL);
  int r = res_ok(res) && PQntuples(res) == 1 ? 0 : -EIO;
  if (r == 0)
    snprintf(out, cap, "%s", PQgetvalue(res, 0, 0));
  else
    error_of(db, res, sql);
  PQclear(res);
  return r;
}

/* Ids compare case-insensitively in ASCII only, as SQLite's NOCASE: citext
 * folds case by the database's LC_CTYPE, which must therefore be C, and
 * text must be UTF-8. */
static int check_database(struct meta_db *db)
{
  char v[128];
  int r = query_value(db, "SELECT datctype || ' ' || pg_encoding_to_char(encoding) FROM pg_database"
                          " WHERE datname = current_database()", v, sizeof v);
  if (r == 0 && strcmp(v, "C UTF8") && strcmp(v, "POSIX UTF8")) {
    log_error("meta", "PostgreSQL database (%s) has LC_CTYPE and encoding %s: vmrp needs LC_CTYPE C and UTF8 "
              "(createdb --locale=C --encoding=UTF8 --template=template0), as ids compare case-insensitively in "
              "ASCII only", db->s->where, v);
    r = -EINVAL;
  }
  return r;
}

static int migrate(struct meta_db *db)
{
  int r = check_database(db);
  for (int step = 0; r == 0; step++) {
    /* under the writer lock: nodes starting together migrate one at a time */
    char v[32] = "";
    r = run_ok(db, "BEGIN", NULL, NULL);
    if (r == 0 && (r = run_ok(db, WRITER_LOCK, NULL, NULL)) == 0 &&
        (r = run_ok(db, "CREATE TABLE IF NOT EXISTS schema_version(version bigint NOT NULL)", NULL, NULL)) == 0) {
      PGresult *res = run(db, "SELECT coalesce(max(version), 0) FROM schema_version", NULL);
      if (res_ok(res) && PQntuples(res) == 1)
        snprintf(v, sizeof v, "%s", PQgetvalue(res, 0, 0));
      else
        r = error_of(db, res, "schema_version");
      PQclear(res);
    }
    int have = atoi(v), want = meta_pg_migration_count;
    if (r == 0 && have > want) {
      log_error("meta", "database schema version %d is newer than this vmrpd (%d)", have, want);
      r = -EPROTO;
    }
    if (r < 0 || have == want) {
      abort_txn(db);
      break;
    }
    char bump[96];
    snprintf(bump, sizeof bump, "DELETE FROM schema_version; INSERT INTO schema_version VALUES(%d)", have + 1);
    /* several statements: the simple query protocol */
    PGresult *res = run_script(db, meta_pg_migrations[have]);
    r = res_ok(res) ? 0 : error_of(db, res, meta_pg_migrations[have]);
    PQclear(res);
    res = r == 0 ? run_script(db, bump) : NULL;
    if (r == 0 && !res_ok(res))
      r = error_of(db, res, bump);
    PQclear(res);
    if (r == 0)
      r = run_ok(db, "COMMIT", NULL, NULL);
    if (r < 0) {
      abort_txn(db);
      break;
    }
    log_info("meta", "schema migrated to version %d", have + 1);
  }
  return r;
}

/* The writer check (driver.h), once the writer lock is held: 0 or why this
 * node may not write (its statements run in the caller's transaction). */
static int writer_check(struct meta_db *db)
{
  return db->s->check ? db->s->check(db, db->s->check_ctx) : 0;
}

static int begin(struct meta_db *db)
{
  pthread_mutex_lock(&db->s->write_lock);
  int r = reconnect(db);
  if (r == 0)
    r = begin_cmd(db);
  if (r == 0)
    r = run_ok(db, WRITER_LOCK, NULL, NULL);
  db->in_txn = r == 0; /* the check's statements run in the transaction */
  if (r == 0)
    r = writer_check(db);
  if (r < 0) {
    abort_txn(db);
    db->in_txn = false;
    pthread_mutex_unlock(&db->s->write_lock);
  }
  return r;
}

/* A write run as a read: one statement the server commits on its own,
 * neither waiting for the writer lock nor checked (driver.h). */
static void unserialized(struct meta_stmt *st) { PS(st)->write = false; }

static void set_writer_check(struct meta_store *s, int (*check)(struct meta_db *db, void *ctx), void *ctx)
{
  s->check = check;
  s->check_ctx = ctx;
}

/* Ends the transaction and releases the write lock: commits when asked,
 * rolls back when not or when the commit failed.  0 or the commit's
 * -errno. */
static int end_txn(struct meta_db *db, bool commit)
{
  int r = 0;
  if (commit && (r = failpoint_err("meta.commit")) == 0)
    r = commit_cmd(db);
  if (!commit || r < 0)
    abort_txn(db);
  db->in_txn = false;
  pthread_mutex_unlock(&db->s->write_lock);
  return r;
}

static int commit(struct meta_db *db) { return end_txn(db, true); }

static void rollback(struct meta_db *db) { end_txn(db, false); }

/* sql with ?N rewritten to $N outside quotes; nparams the largest N, used
 * the set of those present. */
static char *placeholders(const char *sql, int *nparams, uint32_t *used)
{
  size_t n = strlen(sql);
  char *out = malloc(n + 1), *o = out;
  bool quoted = false;
  *nparams = 0;
  for (const char *s = sql; out && *s; s++) {
    if (*s == '\'')
      quoted = !quoted;
    if (*s != '?' || quoted) {
      *o++ = *s;
      continue;
    }
    char *end;
    long v = strtol(s + 1, &end, 10);
    if (end == s + 1 || v < 1 || v > MAX_PARAMS) {
      log_error("meta", "prepare failed: placeholder %.8s (%.80s)", s, sql);
      free(out);
      return NULL;
    }
    *o++ = '$';
    *used |= 1u << (v - 1);
    if (v > *nparams)
      *nparams = (int)v;
  }
  if (out)
    *o = '\0';
  return out;
}

static void free_blobs(struct pg_stmt *st)
{
  while (st->blobs) {
    struct blob *next = st->blobs->next;
    PQfreemem(st->blobs->p);
    free(st->blobs);
    st->blobs = next;
  }
}

static void finalize(struct meta_stmt *base)
{
  struct pg_stmt *st = PS(base);
  for (int i = 0; i < st->nparams; i++)
    free(st->p[i].owned);
  free_blobs(st);
  PQclear(st->res);
  free(st->sql);
  free(st);
}

static struct meta_stmt *prepare(struct meta_db *db, const char *sql)
{
  struct pg_stmt *st = calloc(1, sizeof *st);
  if (!st || !(st->sql = placeholders(sql, &st->nparams, &st->used))) {
    free(st);
    return NULL;
  }
  st->base.drv = &meta_pg_driver;
  st->db = db;
  const char *verb = sql + strspn(sql, " \t\n");
  st->write = !strncasecmp(verb, "INSERT", 6) || !strncasecmp(verb, "UPDATE", 6) || !strncasecmp(verb, "DELETE", 6);
  return &st->base;
}

static struct param *param_at(struct meta_stmt *base, int idx)
{
  struct pg_stmt *st = PS(base);
  if (idx < 1 || idx > st->nparams)
    return NULL; /* as SQLite: a placeholder the SQL has not is ignored */
  struct param *p = &st->p[idx - 1];
  free(p->owned);
  memset(p, 0, sizeof *p);
  return p;
}

static void bind_text(struct meta_stmt *st, int idx, const char *s, bool copy)
{
  struct param *p = param_at(st, idx);
  if (!p)
    return;
  p->v = copy && s ? (p->owned = strdup(s)) : s;
  p->type = OID_CITEXT_SLOT; /* send_stmt puts the connection's citext oid */
}

static void bind_int64(struct meta_stmt *st, int idx, int64_t v)
{
  struct param *p = param_at(st, idx);
  if (!p)
    return;
  snprintf(p->num, sizeof p->num, "%" PRId64, v);
  p->v = p->num;
  p->type = OID_INT8;
}

static void bind_double(struct meta_stmt *st, int idx, double v)
{
  struct param *p = param_at(st, idx);
  if (!p)
    return;
  snprintf(p->num, sizeof p->num, "%.17g", v);
  p->v = p->num;
  p->type = OID_FLOAT8;
}

static void bind_blob(struct meta_stmt *st, int idx, const void *b, size_t n)
{
  struct param *p = param_at(st, idx);
  if (!p)
    return;
  p->v = b;
  p->len = (int)n;
  p->fmt = 1;
  p->type = OID_BYTEA;
}

/* A write outside a transaction, in one of its own under the writer lock. */
static int autocommit_write(struct pg_stmt *st, PGresult **out)
{
  struct meta_db *db = st->db;
  int r = begin_cmd(db);
  if (r == 0)
    r = run_ok(db, WRITER_LOCK, NULL, NULL);
  if (r == 0) {
    db->in_txn = true; /* the check's statements run in this transaction */
    r = writer_check(db);
    db->in_txn = false;
  }
  if (r == 0)
    r = run_ok(db, st->sql, st, out);
  if (r == 0 && (r = commit_cmd(db)) < 0) {
    PQclear(*out);
    *out = NULL;
  }
  if (r < 0)
    abort_txn(db);
  return r;
}

/* A write inside the caller's transaction, under a savepoint: when it
 * fails, the transaction is as before it. */
static int savepoint_write(struct pg_stmt *st, PGresult **out)
{
  struct meta_db *db = st->db;
  int r = run_ok(db, "SAVEPOINT vmrp_stmt", NULL, NULL);
  if (r < 0)
    return r;
  if ((r = run_ok(db, st->sql, st, out)) == 0 && (r = run_ok(db, "RELEASE SAVEPOINT vmrp_stmt", NULL, NULL)) < 0) {
    PQclear(*out);
    *out = NULL;
  }
  if (r < 0)
    PQclear(run_script(db, "ROLLBACK TO SAVEPOINT vmrp_stmt; RELEASE SAVEPOINT vmrp_stmt"));
  return r;
}

/* A read, retried once on a new connection outside a transaction when the
 * old one was stale. */
static int read_stmt(struct pg_stmt *st, PGresult **out)
{
  struct meta_db *db = st->db;
  PGresult *res = run(db, st->sql, st);
  if (!db->in_txn && lost(db, res) && reconnect(db) == 0) {
    PQclear(res);
    res = run(db, st->sql, st);
  }
  int r = res_ok(res) ? 0 : error_of(db, res, st->sql);
  if (r == 0)
    *out = res;
  else
    PQclear(res);
  return r;
}

/* Text parameters are typed citext: compared with a citext key they compare
 * case-insensitively, with a text column as text (citext casts to text
 * implicitly, not back), and `?N IS NULL` alone can be planned.  A number
 * the SQL skips (bound or not) must have a type too: text. */
static int type_text_params(struct pg_stmt *st)
{
  struct meta_db *db = st->db;
  char oid[16];
  if (!db->citext && query_value(db, "SELECT 'citext'::regtype::oid", oid, sizeof oid) == 0)
    db->citext = (Oid)strtoul(oid, NULL, 10);
  for (int i = 0; i < st->nparams; i++) {
    if (!(st->used & 1u << i))
      st->p[i] = (struct param){.owned = st->p[i].owned, .type = OID_TEXT};
    else if (st->p[i].type == OID_CITEXT_SLOT)
      st->p[i].type = db->citext;
  }
  return db->citext ? 0 : -EIO;
}

static int send_stmt(struct pg_stmt *st)
{
  struct meta_db *db = st->db;
  PGresult *res = NULL;
  int r = 0;
  if (!db->in_txn && (r = st->write ? failpoint_err("meta.commit") : 0) == 0)
    r = reconnect(db);
  if (r == 0)
    r = type_text_params(st);
  if (r == 0 && db->in_txn)
    r = st->write ? savepoint_write(st, &res) : read_stmt(st, &res);
  else if (r == 0)
    r = st->write ? autocommit_write(st, &res) : read_stmt(st, &res);
  if (r == 0) {
    st->res = res;
    st->rows = PQntuples(res);
    st->changes = atoi(PQcmdTuples(res));
    st->row = -1;
  }
  return r;
}

static int step(struct meta_stmt *base)
{
  struct pg_stmt *st = PS(base);
  if (st->err)
    return st->err;
  if (!st->res && (st->err = send_stmt(st)) < 0)
    return st->err;
  free_blobs(st);
  if (st->row < st->rows)
    st->row++;
  return st->row < st->rows ? 1 : 0;
}

static int changes(struct meta_stmt *st) { return PS(st)->changes; }

static int col_count(struct meta_stmt *st) { return PS(st)->res ? PQnfields(PS(st)->res) : 0; }

static bool col_null(struct meta_stmt *base, int col)
{
  struct pg_stmt *st = PS(base);
  return !st->res || st->row >= st->rows || PQgetisnull(st->res, st->row, col);
}

static const char *col_text(struct meta_stmt *base, int col)
{
  struct pg_stmt *st = PS(base);
  return col_null(base, col) ? NULL : PQgetvalue(st->res, st->row, col);
}

static int64_t col_int64(struct meta_stmt *st, int col)
{
  const char *t = col_text(st, col);
  if (!t)
    return 0;
  if (*t == 't' || *t == 'f') /* a boolean, as SQLite's 1 or 0 */
    return *t == 't';
  return strtoll(t, NULL, 10);
}

static double col_double(struct meta_stmt *st, int col)
{
  const char *t = col_text(st, col);
  return t ? strtod(t, NULL) : 0;
}

static const void *col_blob(struct meta_stmt *base, int col, size_t *len)
{
  struct pg_stmt *st = PS(base);
  const char *t = col_text(base, col);
  struct blob *b = t ? calloc(1, sizeof *b) : NULL;
  *len = 0;
  if (b && !(b->p = PQunescapeBytea((const unsigned char *)t, len))) {
    free(b);
    b = NULL;
  }
  if (!b)
    return NULL;
  b->next = st->blobs;
  st->blobs = b;
  return b->p;
}

const struct meta_driver meta_pg_driver = {
    .shared = true,
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
    .unserialized = unserialized,
};
