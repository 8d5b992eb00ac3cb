/*
 * snap_backend.h — the read-only NBD backend over a snapshot tree.
 *
 * The handle is a struct nbd_snap the owner fills and keeps valid until
 * nbd_export_remove of the export returns 0.  previous (may be NULL) gives
 * the tree "vmrp:changed" is computed against, or -ENOENT when there is none
 * (any more); it is called per request, so a deleted predecessor is noticed.
 */
#pragma once
#include "cas/cas.h"
#include "nbd/nbd.h"

struct nbd_snap {
  struct cas *cas;
  struct cas_addr root;
  uint64_t size;
  int (*previous)(void *ctx, struct cas_addr *root);
  void *ctx;
};

extern const struct nbd_backend_ops nbd_snap_ops;
