/*
 * membership.h — this node in its region's nodes table (meta/node.c): it
 * joins at start, holds a lease while it runs, and stops itself when the
 * lease is lost (SCALE-OUT.md §3.1).
 *
 * Two modes, chosen by the metadata store:
 *   - shared (PostgreSQL): several nodes may run; the node renews its lease
 *     every ttl / 5 on the database's clock, and every write of the node is
 *     refused once the lease has run out or another node fenced it (meta/,
 *     invariant N1).  Joining waits until the lease of this node id's
 *     previous process has run out (at most ttl), so two processes never
 *     hold one id.  When a renewal is refused, or none has succeeded for
 *     ttl on the node's own monotonic clock (cut off from the database),
 *     the node logs why and exits with status 75 (EX_TEMPFAIL): what it
 *     holds in memory may be stale, and a supervisor restarts it as a new
 *     incarnation.
 *   - embedded (SQLite): one process per store by construction (the store's
 *     lock); the node's row is taken over at start and holds no lease.
 */
#pragma once
#include <stdbool.h>
#include <stdint.h>

struct meta;
struct membership;

struct membership_config {
  const char *node_id;  /* unique in the region */
  const char *addr;     /* where the node answers ARM (shown in node status) */
  const char *version;
  int64_t ttl_us;       /* the lease; renewed every ttl / 5 */
  bool shared;          /* the metadata store is shared between processes */
};

/* Joins (waiting out a previous lease of the same id, up to ttl plus a
 * margin: -EBUSY after that, another process holds the id) and starts the
 * renewals when shared. */
int membership_start(struct meta *m, const struct membership_config *c, struct membership **out);
/* Stops renewing and gives up the lease (other nodes may take over at
 * once); NULL is accepted. */
void membership_stop(struct membership *mb);
