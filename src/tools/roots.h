/*
 * roots.h — the roots file of a store used by vmrp-store: the GC root set
 * for stores driven from the command line (the daemon keeps its roots in the
 * metadata store instead).  `DIR/roots` holds one root address in hex per
 * line and is replaced atomically; callers hold the store open (its flock)
 * while they change it.
 */
#pragma once
#include <stddef.h>

#include "cas/cas.h"

int roots_load(const char *store, struct cas_addr **out, size_t *n);
/* Adds root if absent (durably: the file is replaced atomically). */
int roots_add(const char *store, const struct cas_addr *root);
/* Removes root; -ENOENT if it was not there. */
int roots_remove(const char *store, const struct cas_addr *root);
