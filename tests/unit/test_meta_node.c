/*
 * test_meta_node.c — membership, leases and fencing in the metadata store
 * (meta/node.c, invariants N1 and N2): two handles on one store play two
 * nodes.  A node's transactions are refused (-ENOLCK) once its lease has run
 * out or another node fenced it; a live lease can neither be fenced nor
 * joined under; a node that left or was fenced can join again as a new
 * incarnation.  Operations' owners (meta/operation.c, N3): a claim
 * takes an operation only from an incarnation that is gone, once.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "meta/meta.h"
#include "meta_target.h"
#include "unit.h"

#define SEC 1000000LL

/* A write transaction of m: 0 or why it was refused. */
static int write_txn(struct meta *m, const char *name)
{
  int r = meta_begin(m);
  if (r < 0)
    return r;
  char id[128];
  snprintf(id, sizeof id, "/subscriptions/s1/resourceGroups/%s", name);
  struct meta_resource res = {.id = id, .type = "Microsoft.Resources/resourceGroups", .name = (char *)name,
                              .parent_id = "/subscriptions/s1", .provisioning_state = "Succeeded"};
  r = meta_resource_put(m, &res, NULL, 0, NULL);
  free(res.etag); /* the one field the put sets */
  if (r == 0)
    return meta_commit(m);
  meta_rollback(m);
  return r;
}

static int list_row(void *ctx, const struct meta_node *n)
{
  char *seen = ctx;
  size_t len = strlen(seen);
  snprintf(seen + len, 256 - len, "%s:%lld:%s:%s ", n->id, (long long)n->incarnation, n->addr,
           n->fenced ? "fenced" : n->lease_until_us > n->now_us ? "live" : "expired");
  return 0;
}

/* Two handles, a and b, on a new store (in the directory made of dir, a
 * mkdtemp template, or a new database: meta_target.h): two nodes of one
 * region. */
static bool two_nodes(char *dir, struct meta **a, struct meta **b)
{
  static int stores;
  char path[512], name[16];
  snprintf(name, sizeof name, "node%d", stores++);
  CHECK(mkdtemp(dir) && (meta_target(path, sizeof path, dir, name), meta_open(path, a) == 0) &&
            meta_open(path, b) == 0,
        "two handles on one new store");
  return *a && *b;
}

static void gone(const char *dir, struct meta *a, struct meta *b)
{
  meta_close(a);
  meta_close(b);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK(system(cmd) == 0, "the store removed");
}

static void leases_and_fencing(void **state)
{
  (void)state;
  char dir[] = "/tmp/vmrp-unit-node.XXXXXX";
  struct meta *a = NULL, *b = NULL;
  if (!two_nodes(dir, &a, &b))
    goto out;
  int64_t inc = 0, inc_b = 0;
  CHECK(meta_node_join(a, "n1", "https://n1", "t", 60 * SEC, false, &inc) == 0 && inc == 1,
        "n1 joins as incarnation 1");
  CHECK(write_txn(a, "g1") == 0, "n1 writes while its lease is live");
  CHECK(meta_node_join(b, "n1", "https://other", "t", 60 * SEC, false, &inc_b) == -EBUSY,
        "a second process cannot join as n1 while n1's lease is live (-EBUSY)");
  CHECK(meta_node_fence(b, "n1") == -EBUSY, "nor fence it (N2: a live lease is never fenced)");
  CHECK(meta_node_fence(b, "n9") == -ENOENT, "fencing a node that never joined: -ENOENT");
  CHECK(write_txn(a, "g2") == 0, "n1 still writes after both attempts");

  CHECK(meta_node_join(b, "n2", "https://n2", "t", 60 * SEC, false, &inc_b) == 0 && inc_b == 1, "n2 joins");
  CHECK(meta_node_renew(a, 1000) == 0, "n1 renews with a lease of 1 ms (as if it stopped renewing)");
  usleep(50 * 1000);
  CHECK(write_txn(a, "g3") == -ENOLCK, "N1: once its lease ran out, n1's transaction is refused (-ENOLCK)");
  CHECK(meta_node_renew(a, 60 * SEC) == -ENOLCK, "and an expired lease cannot be renewed");
  CHECK(meta_node_fence(b, "n1") == 0, "n2 fences n1");
  struct meta_node n;
  CHECK(meta_node_get(b, "n1", &n) == 0 && n.fenced && n.incarnation == 2 && n.lease_until_us <= n.now_us,
        "n1's row: fenced, incarnation 2 (the old token is dead)");
  meta_node_clear(&n);
  CHECK(write_txn(a, "g4") == -ENOLCK, "N1: the fenced n1 commits nothing");
  struct meta_resource res;
  CHECK(meta_resource_get(b, "/subscriptions/s1/resourceGroups/g4", &res) == -ENOENT &&
            meta_resource_get(b, "/subscriptions/s1/resourceGroups/g3", &res) == -ENOENT,
        "neither refused write is in the store");
  CHECK(write_txn(b, "g5") == 0, "n2 writes on");

  CHECK(meta_node_join(a, "n1", "https://n1", "t", 60 * SEC, false, &inc) == 0 && inc == 3,
        "n1 joins again as incarnation 3");
  CHECK(write_txn(a, "g6") == 0, "and writes again");
  CHECK(meta_node_leave(a) == 0, "n1 leaves (a clean stop gives the lease up)");
  CHECK(meta_node_join(b, "n1", "https://n1b", "t", 60 * SEC, false, &inc_b) == 0 && inc_b == 4,
        "its id can be joined at once, without waiting for the lease (incarnation 4)");
  CHECK(meta_node_join(a, "n1", "https://n1", "t", 60 * SEC, true, &inc) == 0 && inc == 5,
        "takeover (the embedded store: one process by its lock) joins over a live lease");

  char seen[256] = "";
  CHECK(meta_node_list(b, list_row, seen) == 0 && strcmp(seen, "n1:5:https://n1:live n2:1:https://n2:live ") == 0,
        "the list: every node with its incarnation, address and state (%s)", seen);
out:
  gone(dir, a, b);
}

/* An InProgress operation of kind created through m. */
static int new_op(struct meta *m, const char *id, const char *kind)
{
  struct meta_operation op = {.subscription = "s1", .provider = "Microsoft.Compute", .location = "eastus",
                              .kind = (char *)kind};
  snprintf(op.id, sizeof op.id, "%s", id);
  return meta_operation_create(m, &op);
}

static int by_id(const void *a, const void *b) { return strcmp(a, b); }

/* "claims" (N3): what each claim takes, as "id id ...". */
static void claimed(struct meta *m, enum meta_claim which, const char *node, const char *kind, char *out, size_t cap)
{
  char(*ids)[40];
  size_t n;
  out[0] = '\0';
  if (meta_operation_claim(m, which, node, kind, &ids, &n) < 0) {
    snprintf(out, cap, "error");
    return;
  }
  if (n)
    qsort(ids, n, sizeof *ids, by_id); /* RETURNING has no order */
  for (size_t i = 0; i < n; i++)
    snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? " " : "", ids[i]);
  free(ids);
}

static void claims(void **state)
{
  (void)state;
  char dir[] = "/tmp/vmrp-unit-claim.XXXXXX", got[256];
  struct meta *a = NULL, *b = NULL;
  if (!two_nodes(dir, &a, &b))
    goto out;
  int64_t inc;
  CHECK(new_op(a, "old", "restorePointCopy") == 0, "an operation written before any node joined (no owner)");
  CHECK(meta_node_join(a, "n1", "https://n1", "t", 60 * SEC, false, &inc) == 0 &&
            meta_node_join(b, "n2", "https://n2", "t", 60 * SEC, false, &inc) == 0,
        "n1 and n2 join");
  claimed(a, CLAIM_UNOWNED, NULL, NULL, got, sizeof got);
  CHECK(strcmp(got, "old") == 0, "n1 claims the unowned one (%s)", got);
  CHECK(new_op(a, "c1", "restorePointCopy") == 0 && new_op(a, "d1", "diskCreate") == 0 &&
            new_op(b, "c2", "restorePointCopy") == 0,
        "n1 creates c1 and d1, n2 creates c2");
  claimed(b, CLAIM_GONE, NULL, NULL, got, sizeof got);
  CHECK(strcmp(got, "") == 0, "N3: n2 takes nothing from n1 while n1's lease is live (%s)", got);
  claimed(a, CLAIM_MINE, NULL, NULL, got, sizeof got);
  CHECK(strcmp(got, "") == 0, "and n1's own rows are not its earlier incarnations' (%s)", got);
  CHECK(meta_node_renew(a, 1000) == 0, "n1's lease runs out (1 ms)");
  usleep(50 * 1000);
  claimed(b, CLAIM_GONE, NULL, "restorePointCopy", got, sizeof got);
  CHECK(strcmp(got, "c1 old") == 0, "n2 takes n1's copies (%s), not its disk work",
        got);
  claimed(b, CLAIM_GONE, NULL, "restorePointCopy", got, sizeof got);
  CHECK(strcmp(got, "") == 0, "a second claim takes nothing: each operation is taken once (%s)", got);
  CHECK(meta_node_join(a, "n1", "https://n1", "t", 60 * SEC, false, &inc) == 0, "n1 comes back (a new incarnation)");
  claimed(a, CLAIM_MINE, NULL, NULL, got, sizeof got);
  CHECK(strcmp(got, "d1") == 0, "and claims what its earlier incarnation left: the disk work (%s)", got);
  claimed(a, CLAIM_GONE, NULL, NULL, got, sizeof got);
  CHECK(strcmp(got, "") == 0, "nothing of n2's, whose lease is live (%s)", got);
  meta_node_leave(a);
  meta_node_leave(b);
  CHECK(new_op(a, "e1", "storeGc") == 0, "an operation created by a process that left (no node: no owner)");
  claimed(a, CLAIM_ANY, NULL, NULL, got, sizeof got);
  CHECK(strcmp(got, "c1 c2 d1 e1 old") == 0,
        "embedded, the start claims every InProgress operation (%s)", got);
out:
  gone(dir, a, b);
}

int main(void)
{
  const struct CMUnitTest tests[] = {UNIT_TEST(leases_and_fencing), UNIT_TEST(claims)};
  return unit_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
