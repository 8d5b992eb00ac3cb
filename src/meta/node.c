/*
 * node.c — the nodes table: membership of a region's vmrpd nodes, their
 * leases and fencing (SCALE-OUT.md §3.1).
 *
 * A node joins under an id the operator gives it and gets a new
 * incarnation; it then renews a lease (lease_until_us) on the database's
 * clock, vmrp_now_us() — never on a node's own clock, so no two nodes need
 * to agree on time, only with the database.  A node whose lease has run out
 * may be fenced by another: fenced = 1 and incarnation + 1.
 *
 * The fencing token is the pair (id, incarnation).  Every write transaction
 * of a node that joined checks it under the one-writer lock (meta.c's
 * writer check, run by the driver once the lock is held, for explicit
 * transactions and lone writes alike), so:
 *   (N1) a node whose lease has expired, or that was fenced, commits nothing
 *        afterwards — the check and the fencer's update are serialised by
 *        the same lock (tests/unit/test_meta_node.c "expired", "fenced";
 *        tests/region/fence_pg.sh on a daemon);
 *   (N2) fencing never takes a live lease: the fencer's update carries the
 *        expiry test in its WHERE clause (test_meta_node.c "live").
 * Refusals are -ENOLCK.  Renewal is a lone write too, so an expired lease cannot be renewed: the
 * node has to join again, as a new incarnation, and what it held in memory
 * is stale (region/membership.c stops the daemon instead).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta/internal.h"

#define NODE_COLS "id, incarnation, addr, version, started_us, lease_until_us, fenced, vmrp_now_us()"

int meta_node_join(struct meta *m, const char *id, const char *addr, const char *version, int64_t ttl_us,
                   bool takeover, int64_t *incarnation)
{
  meta_self_set(m, NULL, 0); /* a new incarnation: the old token must not judge its own join */
  int r = meta_begin(m);
  if (r < 0)
    return r;
  /* A row whose lease is live belongs to a running process: another node
   * under the same id, or this node's previous process (killed, its lease
   * not yet run out) — unless the caller proved it is the only one
   * (takeover: the embedded store's lock). */
  struct meta_stmt *st = meta_prepare(m, "INSERT INTO nodes(id, incarnation, addr, version, started_us,"
                                         " lease_until_us, fenced) VALUES(?1, 1, ?2, ?3, vmrp_now_us(),"
                                         " vmrp_now_us() + ?4, 0)"
                                         " ON CONFLICT(id) DO UPDATE SET incarnation = nodes.incarnation + 1,"
                                         "  addr = ?2, version = ?3, started_us = vmrp_now_us(),"
                                         "  lease_until_us = vmrp_now_us() + ?4, fenced = 0"
                                         " WHERE ?5 = 1 OR nodes.fenced = 1 OR nodes.lease_until_us <= vmrp_now_us()"
                                         " RETURNING incarnation");
  if (!st) {
    r = -EIO;
    goto out;
  }
  meta_bind_text(st, 1, id);
  meta_bind_text(st, 2, addr);
  meta_bind_text(st, 3, version);
  meta_bind_int64(st, 4, ttl_us);
  meta_bind_int64(st, 5, takeover);
  r = meta_step(st);
  if (r == META_ROW)
    *incarnation = meta_col_int64(st, 0);
  meta_finalize(st);
  r = r == META_ROW ? 0 : r == META_DONE ? -EBUSY : r;
  if (r == 0)
    meta_self_set(m, id, *incarnation);
out:
  if (r == 0)
    r = meta_commit(m);
  else
    meta_rollback(m);
  if (r < 0)
    meta_self_set(m, NULL, 0);
  return r;
}

/* sql prepared with this node's token bound to ?1 (id) and ?2
 * (incarnation); serialized: behind the writer lock outside a transaction. */
static struct meta_stmt *prepare_self(struct meta *m, const char *sql, bool serialized)
{
  struct meta_stmt *st = serialized ? meta_prepare(m, sql) : meta_prepare_unserialized(m, sql);
  if (st) {
    char id[64];
    int64_t inc;
    meta_self_get(m, id, &inc);
    meta_bind_str(st, 1, id);
    meta_bind_int64(st, 2, inc);
  }
  return st;
}

int meta_node_renew(struct meta *m, int64_t ttl_us)
{
  /* Not behind the writer lock: a node stalled while holding it must not
   * cost the others their leases.  The WHERE clause is the whole check, and
   * the row's lock orders it against a fence. */
  struct meta_stmt *st = prepare_self(m,
                                      "UPDATE nodes SET lease_until_us = vmrp_now_us() + ?3"
                                      " WHERE id = ?1 AND incarnation = ?2 AND fenced = 0"
                                      "  AND lease_until_us > vmrp_now_us()",
                                      false);
  if (!st)
    return -EIO;
  meta_bind_int64(st, 3, ttl_us);
  int r = meta_exec_count(st);
  return r < 0 ? r : r == 0 ? -ENOLCK : 0;
}

int meta_node_leave(struct meta *m)
{
  struct meta_stmt *st =
      prepare_self(m, "UPDATE nodes SET lease_until_us = 0 WHERE id = ?1 AND incarnation = ?2", true);
  int r = st ? meta_exec_stmt(st) : -EIO;
  meta_self_set(m, NULL, 0);
  return r;
}

int meta_node_fence(struct meta *m, const char *id)
{
  struct meta_stmt *st = meta_prepare(m, "UPDATE nodes SET fenced = 1, incarnation = incarnation + 1"
                                         " WHERE id = ?1 AND (fenced = 1 OR lease_until_us <= vmrp_now_us())");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, id);
  int r = meta_exec_count(st);
  if (r == 0) {
    struct meta_node n;
    r = meta_node_get(m, id, &n);
    if (r == 0) {
      meta_node_clear(&n);
      r = -EBUSY;
    }
  }
  return r < 0 ? r : 0;
}

void meta_node_clear(struct meta_node *n)
{
  free(n->addr);
  free(n->version);
  memset(n, 0, sizeof *n);
}

static void read_row(struct meta_stmt *st, void *out)
{
  struct meta_node *n = out;
  memset(n, 0, sizeof *n);
  snprintf(n->id, sizeof n->id, "%s", meta_col_text(st, 0));
  n->incarnation = meta_col_int64(st, 1);
  n->addr = meta_col_str(st, 2);
  n->version = meta_col_str(st, 3);
  n->started_us = meta_col_int64(st, 4);
  n->lease_until_us = meta_col_int64(st, 5);
  n->fenced = meta_col_int(st, 6) != 0;
  n->now_us = meta_col_int64(st, 7);
}

int meta_node_get(struct meta *m, const char *id, struct meta_node *out)
{
  struct meta_stmt *st = meta_prepare(m, "SELECT " NODE_COLS " FROM nodes WHERE id = ?1");
  if (!st)
    return -EIO;
  meta_bind_text(st, 1, id);
  return meta_one_row(st, read_row, out);
}

struct node_walk {
  meta_node_cb cb;
  void *ctx;
};

static int node_row(struct meta_stmt *st, void *ctx)
{
  struct node_walk *w = ctx;
  struct meta_node n;
  read_row(st, &n);
  int r = w->cb(w->ctx, &n);
  meta_node_clear(&n);
  return r;
}

int meta_node_list(struct meta *m, meta_node_cb cb, void *ctx)
{
  struct meta_stmt *st = meta_prepare(m, "SELECT " NODE_COLS " FROM nodes ORDER BY id");
  if (!st)
    return -EIO;
  struct node_walk w = {cb, ctx};
  return meta_each_row(st, node_row, &w);
}
