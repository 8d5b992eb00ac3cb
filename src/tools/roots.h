/*
 * roots.h — the roots file of a store used by vmrp-store: the GC root set
 * for stores driven from the command line (the daemon keeps its roots in the
 * metadata store instead): a file (`DIR/roots` in a directory store, any
 * file for one on RADOS) holding one root address in hex per line,
 * replaced atomically; callers hold the store open (its lock) while they
 * change it.
 */
#pragma once
#include <stddef.h>

#include "cas/cas.h"

int roots_load(const char *path, struct cas_addr **out, size_t *n);
/* Adds root if absent (durably: the file is replaced atomically). */
int roots_add(const char *path, const struct cas_addr *root);
/* Removes root; -ENOENT if it was not there. */
int roots_remove(const char *path, const struct cas_addr *root);
