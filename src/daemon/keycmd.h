/*
 * keycmd.h — the daemon's side of the keyring: opening it at start with
 * the messages an operator needs, and `vmrpd keys ...`.
 */
#pragma once
#include "daemon/config.h"

struct keys;

/* Opens c->keyring (NULL in *out when none is configured); on an error
 * logs what is wrong and what to do and returns -errno. */
int keycmd_open(const struct config *c, struct keys **out);
/* argv[0] is "keys"; returns the process exit code. */
int keycmd_main(struct config *c, const char *key_url, int argc, char **argv);
