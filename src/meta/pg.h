/*
 * pg.h — what the PostgreSQL driver's files share (pg.c, schema_pg.c).  Not
 * seen by the rest of meta/.
 */
#pragma once

/* The migrations, in order (schema_pg.c). */
extern const char *const meta_pg_migrations[];
extern const int meta_pg_migration_count;
