/*
 * meta_target.h — the metadata store a meta unit test opens: a SQLite file
 * in the test's temporary directory, or, in the test's `_pg` variant
 * (CTest sets VMRP_TEST_METADATA=pg; label `distributed`), a database of its
 * own on the PostgreSQL server VMRP_PG_CONNINFO names (a libpq key=value
 * string, as scripts/backends/ci-backends.sh sets it).  Each name gets a
 * fresh database, created on first use (LC_CTYPE C, UTF8: what pg.c
 * requires) and dropped when the test exits, so tests run in parallel on one
 * server.  A `_pg` run without VMRP_PG_CONNINFO, or that cannot create its
 * database, fails at once: it never passes on SQLite instead.
 */
#pragma once
#ifdef VMRP_HAVE_PG
#include <libpq-fe.h>
#endif

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char meta_target_dbs[16][64];
static int meta_target_ndbs;

static inline bool meta_target_pg(void)
{
  const char *t = getenv("VMRP_TEST_METADATA");
  return t && !strcmp(t, "pg");
}

/* Runs sql on the server's maintenance connection: whether it succeeded. */
static inline bool meta_target_sql(const char *sql)
{
#ifndef VMRP_HAVE_PG
  fprintf(stderr, "meta_target: %s: this build has no libpq (libpq-dev)\n", sql);
  return false;
#else
  PGconn *c = PQconnectdb(getenv("VMRP_PG_CONNINFO"));
  PGresult *res = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
  bool ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
  if (!ok)
    fprintf(stderr, "meta_target: %s: %s", sql, PQerrorMessage(c));
  PQclear(res);
  PQfinish(c);
  return ok;
#endif
}

static inline void meta_target_drop(void)
{
  char sql[128];
  for (int i = 0; i < meta_target_ndbs; i++) {
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %.63s WITH (FORCE)", meta_target_dbs[i]);
    meta_target_sql(sql);
  }
}

/* The target of store `name` into out: dir/name.db, or the connection
 * string of a new database.  Exits the test when it cannot make one. */
static inline void meta_target(char *out, size_t cap, const char *dir, const char *name)
{
  if (!meta_target_pg()) {
    snprintf(out, cap, "%s/%s.db", dir, name);
    return;
  }
  const char *base = getenv("VMRP_PG_CONNINFO");
  if (!base || !*base || meta_target_ndbs == 16) {
    fprintf(stderr, "meta_target: a _pg test needs VMRP_PG_CONNINFO (run it under scripts/backends/ci-backends.sh)\n");
    exit(1);
  }
  char *db = meta_target_dbs[meta_target_ndbs];
  snprintf(db, sizeof meta_target_dbs[0], "vmrp_t_%d_%.32s", (int)getpid(), name);
  char sql[256];
  snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
  bool ok = meta_target_sql(sql);
  snprintf(sql, sizeof sql, "CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'", db);
  if (!ok || !meta_target_sql(sql))
    exit(1);
  if (meta_target_ndbs++ == 0)
    atexit(meta_target_drop);
  snprintf(out, cap, "%s dbname=%s", base, db);
}
