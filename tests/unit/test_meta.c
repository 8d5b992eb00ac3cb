/*
 * test_meta.c — src/meta on a fresh database in a temporary directory:
 * resources (put/get/delete, case-insensitive ids keeping the creator's
 * casing, If-Match / If-None-Match / create-only, list order and keyset
 * paging, list_under depth order and prefix boundaries, transactions),
 * operations (create/progress/finish/list_in_progress) and principals with
 * their role assignments; a thread's connection closes when the thread exits;
 * the data survives closing and reopening.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/failpoint.h"
#include "meta/meta.h"
#include "meta_target.h"
#include "unit.h"

#define SUB "/subscriptions/s1"
#define RG_TYPE "Microsoft.Resources/resourceGroups"

static char dir[] = "/tmp/vmrp-unit-meta.XXXXXX";
static char path[256];
static struct meta *m;

static int put(const char *id, const char *type, const char *name, const char *parent, const char *if_match,
               int flags, bool *created, char **etag_out)
{
  struct meta_resource r = {.id = strdup(id), .type = strdup(type), .name = strdup(name),
                            .parent_id = strdup(parent), .location = strdup("eastus"),
                            .tags = strdup("{\"a\":\"b\"}"), .provisioning_state = strdup("Succeeded")};
  int rc = meta_resource_put(m, &r, if_match, flags, created);
  if (etag_out)
    *etag_out = r.etag ? strdup(r.etag) : NULL;
  meta_resource_clear(&r);
  return rc;
}

static int put_rg(const char *name, const char *if_match, int flags, bool *created, char **etag)
{
  char id[256];
  snprintf(id, sizeof id, SUB "/resourceGroups/%s", name);
  return put(id, RG_TYPE, name, SUB, if_match, flags, created, etag);
}

static void resources_casing(void **state)
{
  (void)state;
  bool created = false;
  char *etag1 = NULL, *etag2 = NULL;
  int rc = put_rg("MyRG", NULL, 0, &created, &etag1);
  CHECK(rc == 0 && created, "put creates MyRG (created = true)");
  CHECK(etag1 && etag1[0] == '"' && etag1[strlen(etag1) - 1] == '"' && strlen(etag1) > 2, "the etag is quoted");
  struct meta_resource r = {0};
  rc = meta_resource_get(m, SUB "/resourcegroups/myrg", &r);
  CHECK(rc == 0, "get with other casing finds it");
  CHECK(rc == 0 && strcmp(r.id, SUB "/resourceGroups/MyRG") == 0 && strcmp(r.name, "MyRG") == 0,
        "get returns the creator's casing of id and name");
  CHECK(rc == 0 && strcmp(r.tags, "{\"a\":\"b\"}") == 0 && strcmp(r.location, "eastus") == 0 &&
            r.properties == NULL,
        "get returns the stored columns (NULL stays NULL)");
  int64_t created_us = r.created_us;
  meta_resource_clear(&r);

  struct meta_resource u = {.id = strdup("/SUBSCRIPTIONS/S1/RESOURCEGROUPS/MYRG"), .type = strdup(RG_TYPE),
                            .name = strdup("MYRG"), .parent_id = strdup(SUB), .location = strdup("eastus")};
  rc = meta_resource_put(m, &u, NULL, 0, &created);
  CHECK(rc == 0 && !created, "put with upper-case id updates (created = false)");
  CHECK(rc == 0 && strcmp(u.id, SUB "/resourceGroups/MyRG") == 0 && strcmp(u.name, "MyRG") == 0,
        "the update reports the stored casing back");
  CHECK(rc == 0 && u.created_us == created_us, "the update keeps the creation time");
  etag2 = u.etag ? strdup(u.etag) : NULL;
  CHECK(etag2 && strcmp(etag1, etag2) != 0, "every write gets a new etag");
  meta_resource_clear(&u);
  rc = meta_resource_get(m, SUB "/resourceGroups/myRG", &r);
  CHECK(rc == 0 && strcmp(r.name, "MyRG") == 0 && r.tags == NULL && strcmp(r.etag, etag2) == 0,
        "one row, updated in place, with the new etag");
  meta_resource_clear(&r);
  free(etag1);
  free(etag2);
}

static void resources_conditions(void **state)
{
  (void)state;
  bool created = false;
  char *etag = NULL, *etag2 = NULL;
  CHECK(put_rg("cond", "*", META_PUT_IF_MATCH, &created, NULL) == -ESTALE, "If-Match: * on a missing row is -ESTALE");
  CHECK(put_rg("cond", "\"x\"", META_PUT_IF_MATCH, &created, NULL) == -ESTALE,
        "If-Match: etag on a missing row is -ESTALE");
  CHECK(put_rg("cond", NULL, META_PUT_IF_NONE_MATCH, &created, &etag) == 0 && created,
        "If-None-Match on a missing row creates it");
  CHECK(put_rg("COND", NULL, META_PUT_IF_NONE_MATCH, &created, NULL) == -ESTALE,
        "If-None-Match on an existing row (other casing) is -ESTALE");
  CHECK(put_rg("cond", NULL, META_PUT_CREATE_ONLY, &created, NULL) == -EEXIST, "create-only on an existing row is -EEXIST");
  CHECK(put_rg("cond", "\"stale\"", META_PUT_IF_MATCH, &created, NULL) == -ESTALE, "If-Match with a stale etag is -ESTALE");
  CHECK(put_rg("cond", etag, META_PUT_IF_MATCH, &created, &etag2) == 0 && !created, "If-Match with the current etag updates");
  CHECK(put_rg("cond", etag, META_PUT_IF_MATCH, &created, NULL) == -ESTALE, "the etag used once is stale now");
  CHECK(put_rg("cond", "*", META_PUT_IF_MATCH, &created, NULL) == 0, "If-Match: * on an existing row updates");
  struct meta_resource r = {0};
  CHECK(meta_resource_get(m, SUB "/resourceGroups/cond", &r) == 0 && strcmp(r.etag, etag2) != 0,
        "the stored etag moved on");
  meta_resource_clear(&r);
  free(etag);
  free(etag2);
}

struct seen {
  char ids[64][256];
  int n;
  int stop_after;
};

static int collect(void *ctx, const struct meta_resource *r)
{
  struct seen *s = ctx;
  if (s->n < 64)
    snprintf(s->ids[s->n++], sizeof s->ids[0], "%s", r->id);
  return s->stop_after && s->n == s->stop_after ? 7 : 0;
}

static void resources_lists(void **state)
{
  (void)state;
  const char *names[] = {"rg-c", "rg-a", "RG-B", "rg-ab", "rg-a-x", "rg-a.b"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    put_rg(names[i], NULL, 0, NULL, NULL);
  put("/subscriptions/s2/resourceGroups/rg-a", RG_TYPE, "rg-a", "/subscriptions/s2", NULL, 0, NULL, NULL);
  const char *A = SUB "/resourceGroups/rg-a";
  put(SUB "/resourceGroups/rg-a/providers/Microsoft.Compute/disks/d1", "Microsoft.Compute/disks", "d1", A, NULL, 0,
      NULL, NULL);
  put(SUB "/resourceGroups/rg-a/providers/Microsoft.Compute/restorePointCollections/c1",
      "Microsoft.Compute/restorePointCollections", "c1", A, NULL, 0, NULL, NULL);
  put(SUB "/resourceGroups/RG-A/providers/Microsoft.Compute/restorePointCollections/c1/restorePoints/p1",
      "Microsoft.Compute/restorePointCollections/restorePoints", "p1",
      SUB "/resourceGroups/rg-a/providers/Microsoft.Compute/restorePointCollections/c1", NULL, 0, NULL, NULL);
  put(SUB "/resourceGroups/rg-ab/providers/Microsoft.Compute/disks/d2", "Microsoft.Compute/disks", "d2",
      SUB "/resourceGroups/rg-ab", NULL, 0, NULL, NULL);

  struct seen s = {0};
  int rc = meta_resource_list(m, SUB, RG_TYPE, NULL, 0, collect, &s);
  /* cond, MyRG from the tests above, then the six here, in NOCASE id order */
  const char *want[] = {"cond", "MyRG", "rg-a", "rg-a-x", "rg-a.b", "rg-ab", "RG-B", "rg-c"};
  bool order = rc == 0 && s.n == 8;
  for (int i = 0; order && i < 8; i++) {
    char id[256];
    snprintf(id, sizeof id, SUB "/resourceGroups/%s", want[i]);
    order = strcmp(s.ids[i], id) == 0;
  }
  CHECK(order, "list: the subscription's groups only, in case-insensitive id order (%d rows)", s.n);

  struct seen p1 = {0}, p2 = {0};
  rc = meta_resource_list(m, SUB, RG_TYPE, NULL, 3, collect, &p1);
  CHECK(rc == 0 && p1.n == 3, "list with limit 3 returns 3 rows");
  rc = meta_resource_list(m, SUB, RG_TYPE, p1.ids[2], 0, collect, &p2);
  CHECK(rc == 0 && p2.n == 5 && strcmp(p2.ids[0], SUB "/resourceGroups/rg-a-x") == 0,
        "list after the last id of a page continues with the next row");
  struct seen lower = {0};
  rc = meta_resource_list(m, SUB, RG_TYPE, SUB "/RESOURCEGROUPS/RG-A-X", 0, collect, &lower);
  CHECK(rc == 0 && lower.n == 4, "the after-id compares case-insensitively");
  struct seen any = {0};
  rc = meta_resource_list(m, A, NULL, NULL, 0, collect, &any);
  CHECK(rc == 0 && any.n == 2, "list with type NULL returns every direct child (%d)", any.n);
  struct seen disks = {0};
  rc = meta_resource_list(m, A, "microsoft.compute/DISKS", NULL, 0, collect, &disks);
  CHECK(rc == 0 && disks.n == 1, "the type filter is case-insensitive");
  struct seen stop = {.stop_after = 2};
  CHECK(meta_resource_list(m, SUB, RG_TYPE, NULL, 0, collect, &stop) == 7 && stop.n == 2,
        "a callback's non-zero return stops the walk and is returned");

  struct seen u = {0};
  rc = meta_resource_list_under(m, A, collect, &u);
  CHECK(rc == 0 && u.n == 3, "list_under: all three descendants of rg-a, across casings (%d)", u.n);
  CHECK(u.n == 3 && strstr(u.ids[0], "/restorePoints/p1") != NULL, "list_under: deepest first");
  bool no_sibling = true;
  for (int i = 0; i < u.n; i++)
    if (strstr(u.ids[i], "rg-ab") || strcasecmp(u.ids[i], A) == 0)
      no_sibling = false;
  CHECK(no_sibling, "list_under: neither the group itself nor the sibling rg-ab");
  struct seen none = {0};
  CHECK(meta_resource_list_under(m, SUB "/resourceGroups/rg-a-x", collect, &none) == 0 && none.n == 0,
        "list_under of a childless group is empty");

  CHECK(meta_resource_delete(m, SUB "/RESOURCEGROUPS/RG-C") == 0, "delete with other casing");
  struct meta_resource r;
  CHECK(meta_resource_get(m, SUB "/resourceGroups/rg-c", &r) == -ENOENT, "get after delete is -ENOENT");
  CHECK(meta_resource_delete(m, SUB "/resourceGroups/rg-c") == -ENOENT, "delete of a missing row is -ENOENT");
}

static void transactions(void **state)
{
  (void)state;
  struct meta_resource r;
  CHECK(meta_begin(m) == 0, "begin");
  CHECK(put_rg("txn", NULL, 0, NULL, NULL) == 0, "put inside a transaction");
  CHECK(meta_resource_get(m, SUB "/resourceGroups/txn", &r) == 0, "visible inside the transaction");
  meta_resource_clear(&r);
  meta_rollback(m);
  CHECK(meta_resource_get(m, SUB "/resourceGroups/txn", &r) == -ENOENT, "gone after rollback");
  CHECK(meta_begin(m) == 0 && put_rg("txn", NULL, 0, NULL, NULL) == 0 && meta_commit(m) == 0, "put and commit");
  CHECK(meta_resource_get(m, SUB "/resourceGroups/txn", &r) == 0, "present after commit");
  meta_resource_clear(&r);
  /* a statement that fails inside a transaction fails alone (SQLite's rule;
   * pg.c runs each write under a savepoint), and the rest commits */
  struct meta_nbd_grant g = {.id = "txn-grant", .resource_id = SUB "/resourceGroups/txn", .export_name = "e"};
  int n = -1;
  CHECK(meta_begin(m) == 0 && meta_nbd_grant_put(m, &g) == 0, "a grant written in a transaction");
  CHECK(meta_nbd_grant_put(m, &g) == -EEXIST, "the same id again fails -EEXIST");
  CHECK(put_rg("txn2", NULL, 0, NULL, NULL) == 0 && meta_commit(m) == 0, "the transaction goes on and commits");
  CHECK(meta_nbd_grant_count(m, SUB "/resourceGroups/txn", &n) == 0 && n == 1 &&
            meta_resource_get(m, SUB "/resourceGroups/txn2", &r) == 0,
        "with its other writes");
  meta_resource_clear(&r);
}

/* The failpoint meta.commit: a COMMIT that fails rolls back whole and lets
 * the next transaction in (the write lock is released); a write outside a
 * transaction fails the same way and writes nothing. */
static void commit_failures(void **state)
{
  (void)state;
  struct meta_resource r;
  CHECK(failpoint_arm("meta.commit=eiox1") == 0, "arm meta.commit=eiox1");
  CHECK(meta_begin(m) == 0 && put_rg("fp1", NULL, 0, NULL, NULL) == 0, "a write in a transaction");
  CHECK(meta_commit(m) == -EIO, "its commit fails -EIO");
  CHECK(meta_resource_get(m, SUB "/resourceGroups/fp1", &r) == -ENOENT, "nothing of it was written");
  CHECK(meta_begin(m) == 0 && put_rg("fp1", NULL, 0, NULL, NULL) == 0 && meta_commit(m) == 0,
        "the next transaction commits");
  CHECK(meta_resource_get(m, SUB "/resourceGroups/fp1", &r) == 0, "and is there");
  meta_resource_clear(&r);
  CHECK(failpoint_arm("meta.commit=enospcx1") == 0, "arm meta.commit=enospcx1");
  CHECK(put_rg("fp2", NULL, 0, NULL, NULL) == -ENOSPC, "a write outside a transaction fails -ENOSPC");
  CHECK(meta_resource_get(m, SUB "/resourceGroups/fp2", &r) == -ENOENT, "and wrote nothing");
  CHECK(put_rg("fp2", NULL, 0, NULL, NULL) == 0, "the next one is written");
  failpoint_arm("");
}

static int count_ops(void *ctx, const struct meta_operation *op)
{
  int *n = ctx;
  (*n)++;
  return strcmp(op->kind, "k") == 0 ? 0 : -EINVAL;
}

static int first_op(void *ctx, const struct meta_operation *op)
{
  snprintf(ctx, 40, "%s", op->id);
  return 1;
}

static void operations(void **state)
{
  (void)state;
  struct meta_operation a = {.id = "op-a", .subscription = "s1", .provider = "Microsoft.Resources",
                             .location = "eastus", .kind = "k", .resource_id = SUB "/resourceGroups/x",
                             .payload = "{\"p\":1}", .start_us = 1000};
  struct meta_operation b = a;
  snprintf(b.id, sizeof b.id, "op-b");
  b.start_us = 2000;
  b.resource_id = NULL;
  CHECK(meta_operation_create(m, &b) == 0 && meta_operation_create(m, &a) == 0, "create two operations");
  CHECK(meta_operation_create(m, &a) == -EEXIST, "creating the same id again is -EEXIST");
  struct meta_operation g;
  int rc = meta_operation_get(m, "op-a", &g);
  CHECK(rc == 0 && g.status == OP_IN_PROGRESS && g.percent == 0 && g.start_us == 1000 && g.end_us == 0,
        "a new operation is InProgress at 0%% with its start time");
  CHECK(rc == 0 && strcmp(g.payload, "{\"p\":1}") == 0 && strcmp(g.resource_id, SUB "/resourceGroups/x") == 0 &&
            strcmp(g.provider, "Microsoft.Resources") == 0 && strcmp(g.location, "eastus") == 0 && !g.error &&
            !g.result,
        "the operation's columns round-trip");
  meta_operation_clear(&g);
  CHECK(meta_operation_progress(m, "op-a", 42.5) == 0 && meta_operation_get(m, "op-a", &g) == 0 && g.percent == 42.5,
        "progress is stored");
  meta_operation_clear(&g);
  int n = 0;
  char first[40] = "";
  CHECK(meta_operation_list_in_progress(m, count_ops, &n) == 0 && n == 2, "two operations in progress");
  CHECK(meta_operation_list_in_progress(m, first_op, first) == 1 && strcmp(first, "op-a") == 0,
        "in-progress list is in start order and stops on the callback's return");
  CHECK(meta_operation_finish(m, "op-a", OP_SUCCEEDED, NULL, "{\"r\":2}") == 0, "finish Succeeded");
  rc = meta_operation_get(m, "op-a", &g);
  CHECK(rc == 0 && g.status == OP_SUCCEEDED && g.percent == 100 && g.end_us > 0 && strcmp(g.result, "{\"r\":2}") == 0,
        "Succeeded: 100%%, end time and result");
  meta_operation_clear(&g);
  CHECK(meta_operation_progress(m, "op-a", 10) == 0 && meta_operation_get(m, "op-a", &g) == 0 && g.percent == 100,
        "progress after the end changes nothing");
  meta_operation_clear(&g);
  CHECK(meta_operation_finish(m, "op-b", OP_FAILED, "{\"code\":\"X\",\"message\":\"y\"}", NULL) == 0, "finish Failed");
  rc = meta_operation_get(m, "op-b", &g);
  CHECK(rc == 0 && g.status == OP_FAILED && g.percent < 100 && strstr(g.error, "\"X\"") && !g.resource_id,
        "Failed keeps the error and its percent");
  meta_operation_clear(&g);
  n = 0;
  CHECK(meta_operation_list_in_progress(m, count_ops, &n) == 0 && n == 0, "nothing in progress after both ended");
  CHECK(meta_operation_finish(m, "op-missing", OP_SUCCEEDED, NULL, NULL) == -ENOENT, "finishing an unknown id is -ENOENT");
  CHECK(meta_operation_get(m, "op-missing", &g) == -ENOENT, "getting an unknown id is -ENOENT");
  CHECK(strcmp(meta_op_status_to_string(OP_IN_PROGRESS), "InProgress") == 0 &&
            strcmp(meta_op_status_to_string(OP_CANCELED), "Canceled") == 0,
        "status names");
}

static int count_principals(void *ctx, const struct meta_principal *p)
{
  char *names = ctx;
  strcat(names, p->name);
  strcat(names, ",");
  return 0;
}

static int count_roles(void *ctx, const char *oid, const char *scope, const char *role)
{
  (void)oid;
  (void)scope;
  (void)role;
  (*(int *)ctx)++;
  return 0;
}

static void principals(void **state)
{
  (void)state;
  struct meta_principal p = {.client_id = "cid-1", .object_id = "oid-1", .name = "zeta", .created_us = 5};
  memset(p.salt, 1, sizeof p.salt);
  memset(p.hash, 2, sizeof p.hash);
  struct meta_principal q = {.client_id = "cid-2", .object_id = "oid-2", .name = "alpha", .created_us = 6};
  CHECK(meta_principal_put(m, &p) == 0 && meta_principal_put(m, &q) == 0, "put two principals");
  struct meta_principal g;
  int rc = meta_principal_get(m, "CID-1", &g);
  CHECK(rc == 0 && strcmp(g.client_id, "cid-1") == 0 && strcmp(g.object_id, "oid-1") == 0 &&
            strcmp(g.name, "zeta") == 0 && g.created_us == 5,
        "get by client id, case-insensitively");
  CHECK(rc == 0 && memcmp(g.salt, p.salt, 16) == 0 && memcmp(g.hash, p.hash, 32) == 0, "salt and hash round-trip");
  meta_principal_clear(&g);
  memset(p.hash, 3, sizeof p.hash);
  CHECK(meta_principal_put(m, &p) == 0 && meta_principal_get(m, "cid-1", &g) == 0 && g.hash[0] == 3,
        "put again replaces (secret rotation)");
  meta_principal_clear(&g);
  char names[128] = "";
  CHECK(meta_principal_list(m, count_principals, names) == 0 && strcmp(names, "alpha,zeta,") == 0,
        "list in name order");

  char role[16];
  CHECK(meta_role_get(m, "oid-1", "s1", role, sizeof role) == -ENOENT, "no role yet: -ENOENT");
  CHECK(meta_role_set(m, "oid-1", "*", "Reader") == 0, "role Reader on every subscription");
  CHECK(meta_role_get(m, "oid-1", "s1", role, sizeof role) == 0 && strcmp(role, "Reader") == 0,
        "the '*' role applies to any subscription");
  CHECK(meta_role_set(m, "oid-1", "s1", "Owner") == 0, "role Owner on s1");
  CHECK(meta_role_get(m, "OID-1", "S1", role, sizeof role) == 0 && strcmp(role, "Owner") == 0,
        "the exact scope wins over '*' (case-insensitive)");
  CHECK(meta_role_get(m, "oid-1", "s2", role, sizeof role) == 0 && strcmp(role, "Reader") == 0,
        "other subscriptions still get the '*' role");
  CHECK(meta_role_set(m, "oid-1", "s1", "Contributor") == 0 && meta_role_get(m, "oid-1", "s1", role, sizeof role) == 0 &&
            strcmp(role, "Contributor") == 0,
        "setting a role again replaces it");
  CHECK(meta_role_set(m, "oid-2", "s9", "Owner") == 0 && meta_role_get(m, "oid-2", "s1", role, sizeof role) == -ENOENT,
        "a role on another subscription gives nothing here");
  int n = 0;
  CHECK(meta_role_list(m, "oid-1", count_roles, &n) == 0 && n == 2, "role list of one principal");
  n = 0;
  CHECK(meta_role_list(m, NULL, count_roles, &n) == 0 && n == 3, "role list of everyone");
  CHECK(meta_role_set(m, "oid-1", "*", NULL) == 0 && meta_role_get(m, "oid-1", "s2", role, sizeof role) == -ENOENT,
        "role NULL removes the assignment");
  CHECK(meta_principal_delete(m, "cid-1") == 0, "delete a principal");
  CHECK(meta_principal_get(m, "cid-1", &g) == -ENOENT, "get after delete is -ENOENT");
  CHECK(meta_role_get(m, "oid-1", "s1", role, sizeof role) == -ENOENT, "its role assignments went with it");
  CHECK(meta_principal_delete(m, "cid-1") == -ENOENT, "delete of a missing principal is -ENOENT");
}

static int open_fds(void)
{
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return -1;
  while (readdir(d))
    n++;
  closedir(d);
  return n;
}

static void *one_read(void *arg)
{
  struct meta_resource r;
  *(int *)arg = meta_resource_get(m, SUB "/resourceGroups/myrg", &r);
  if (*(int *)arg == 0)
    meta_resource_clear(&r);
  return NULL;
}

/* Threads come and go in the daemon (an NBD connection's workers): each
 * opens a connection of its own, which must go with it, descriptors and all.
 * (SQLite may keep one descriptor of a closed connection while others hold
 * locks on the file, to reuse at the next open: hence rounds compared.) */
static int thread_round(void)
{
  int ok = 0;
  for (int i = 0; i < 20; i++) {
    pthread_t t;
    int rc = -1;
    if (pthread_create(&t, NULL, one_read, &rc) == 0)
      pthread_join(t, NULL);
    ok += rc == 0;
  }
  return ok;
}

static void connections_follow_threads(void **state)
{
  (void)state;
  int before = open_fds();
  CHECK(thread_round() == 20, "20 threads one after the other each read a resource on a connection of its own");
  int first = open_fds();
  CHECK(thread_round() == 20 && thread_round() == 20, "40 more");
  int last = open_fds();
  CHECK(first <= before + 2 && last == first,
        "the threads gone left no connection open (%d descriptors before, %d after 20 threads, %d after 60)",
        before, first, last);
}

static void reopen(void **state)
{
  (void)state;
  meta_close(m);
  m = NULL;
  CHECK(meta_open(path, &m) == 0, "reopen the database (migrations are idempotent)");
  struct meta_resource r;
  CHECK(m && meta_resource_get(m, SUB "/resourceGroups/myrg", &r) == 0 && strcmp(r.name, "MyRG") == 0,
        "resources survive closing and reopening");
  if (m)
    meta_resource_clear(&r);
  struct meta_operation g;
  CHECK(m && meta_operation_get(m, "op-b", &g) == 0 && g.status == OP_FAILED, "operations survive too");
  if (m)
    meta_operation_clear(&g);
}

int main(void)
{
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  meta_target(path, sizeof path, dir, "meta");
  if (meta_open(path, &m) != 0) {
    fprintf(stderr, "cannot open %s\n", path);
    return 1;
  }
  const struct CMUnitTest tests[] = {
      UNIT_TEST(resources_casing), UNIT_TEST(resources_conditions), UNIT_TEST(resources_lists),
      UNIT_TEST(transactions), UNIT_TEST(commit_failures), UNIT_TEST(operations), UNIT_TEST(principals),
      UNIT_TEST(connections_follow_threads), UNIT_TEST(reopen),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  meta_close(m);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
  return unit_finish(rc);
}
