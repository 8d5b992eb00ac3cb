/*
 * admin.h — operator sub-commands that work on a region's data directory
 * directly (safe while the daemon runs: SQLite WAL handles the concurrency).
 */
#pragma once
#include "daemon/config.h"

struct admin_args {
  const char *name, *role, *scope, *client_id, *secret;
  const char *key_url; /* vmrpd keys --key */
};

/* argv[0] is "sp" or "jwks"; returns the process exit code. */
int admin_main(struct config *c, const struct admin_args *a, int argc, char **argv);
