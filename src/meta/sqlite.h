/*
 * sqlite.h — what the SQLite driver's files share (sqlite.c,
 * schema_sqlite.c).  Not seen by the rest of meta/.
 */
#pragma once

/* The migrations, in order (schema_sqlite.c). */
extern const char *const meta_sqlite_migrations[];
extern const int meta_sqlite_migration_count;
