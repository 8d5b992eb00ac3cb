/*
 * test_meta_deployment.c — template deployments' rows in src/meta
 * (deployment.c, migration 10): put/get/update, an active name never
 * replaced (-EBUSY) nor deleted, a final one replaced with its operations
 * gone, the history limit deleting the oldest final deployments of the
 * scope only, cancel of active and final ones, operations kept in order
 * and refused for a missing deployment, and a resource group's row taking
 * its deployments (and their operations) with it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "meta/meta.h"
#include "meta_target.h"
#include "unit.h"

#define RG "/subscriptions/s1/resourceGroups/g"
#define DEP(n) RG "/providers/Microsoft.Resources/deployments/" n

static char dir[] = "/tmp/vmrp-unit-deployment.XXXXXX";

static int put(struct meta *m, const char *id, const char *scope, const char *state, int keep)
{
  struct meta_deployment d = {.id = (char *)id, .scope = (char *)scope, .name = strrchr(id, '/') + 1,
                              .state = (char *)state, .op_id = "OP", .caller = "{}", .document = "{}",
                              .start_us = 1};
  return meta_deployment_put(m, &d, keep);
}

static int put_op(struct meta *m, const char *dep, const char *id, const char *state)
{
  struct meta_deployment_op op = {.deployment_id = (char *)dep, .id = (char *)id, .state = (char *)state,
                                  .document = "{}"};
  return meta_deployment_op_put(m, &op);
}

static int count_dep(void *ctx, const struct meta_deployment *d)
{
  (void)d;
  ++*(int *)ctx;
  return 0;
}

static int names(void *ctx, const struct meta_deployment *d)
{
  strcat(ctx, d->name);
  strcat(ctx, ",");
  return 0;
}

static int op_ids(void *ctx, const struct meta_deployment_op *op)
{
  strcat(ctx, op->id);
  strcat(ctx, ",");
  return 0;
}

static int ops_of(struct meta *m, const char *dep)
{
  char buf[256] = "";
  meta_deployment_op_list(m, dep, op_ids, buf);
  int n = 0;
  for (char *c = buf; *c; c++)
    n += *c == ',';
  return n;
}

static void deployments(void **state)
{
  (void)state;
  char path[256];
  meta_target(path, sizeof path, dir, "d");
  struct meta *m;
  CHECK(meta_open(path, &m) == 0, "a new database opens at the newest schema");
  CHECK(put(m, DEP("a"), RG, "Running", 0) == 0, "a running deployment");
  CHECK(put(m, DEP("A"), RG, "Running", 0) == -EBUSY, "its name (any case) cannot be replaced while it runs");
  CHECK(meta_deployment_delete(m, DEP("a")) == -EBUSY, "nor deleted");
  CHECK(put_op(m, DEP("a"), "OP2", "Running") == 0 && put_op(m, DEP("a"), "OP1", "Running") == 0 &&
            put_op(m, DEP("a"), "OP2", "Succeeded") == 0,
        "operations written, one updated");
  char buf[256] = "";
  meta_deployment_op_list(m, DEP("a"), op_ids, buf);
  CHECK(!strcmp(buf, "OP2,OP1,"), "listed in the order they were created (%s)", buf);
  struct meta_deployment_op op;
  CHECK(meta_deployment_op_get(m, DEP("a"), "OP2", &op) == 0 && !strcmp(op.state, "Succeeded"),
        "an operation read back with its new state");
  meta_deployment_op_clear(&op);
  CHECK(put_op(m, DEP("none"), "X", "Running") == -ENOENT, "an operation of no deployment is refused");
  CHECK(meta_deployment_cancel(m, DEP("a")) == 0, "cancel of a running deployment");
  struct meta_deployment d;
  CHECK(meta_deployment_get(m, DEP("a"), &d) == 0 && d.cancel, "is recorded");
  meta_deployment_clear(&d);
  CHECK(meta_deployment_update(m, DEP("a"), "Succeeded", "{\"x\":1}", 5) == 0, "it ends");
  CHECK(meta_deployment_get(m, DEP("a"), &d) == 0 && !strcmp(d.state, "Succeeded") && d.end_us == 5 &&
            !strcmp(d.document, "{\"x\":1}"),
        "state, document and end read back");
  meta_deployment_clear(&d);
  CHECK(meta_deployment_cancel(m, DEP("a")) == -EALREADY, "cancel of a final one: -EALREADY");
  CHECK(meta_deployment_update(m, DEP("gone"), "Failed", NULL, 1) == -ENOENT, "update of none: -ENOENT");
  CHECK(put(m, DEP("a"), RG, "Running", 0) == 0 && ops_of(m, DEP("a")) == 0,
        "a final one is replaced, its operations gone");
  meta_deployment_update(m, DEP("a"), "Failed", NULL, 6);

  /* the history limit: keep 3, the oldest final ones of the scope go */
  put(m, DEP("b"), RG, "Running", 3);
  put(m, DEP("c"), RG, "Succeeded", 3);
  put(m, "/subscriptions/s1/providers/Microsoft.Resources/deployments/s", "/subscriptions/s1", "Succeeded", 3);
  put_op(m, DEP("c"), "OPC", "Succeeded");
  CHECK(put(m, DEP("d"), RG, "Succeeded", 3) == 0, "a fourth deployment in a scope limited to 3");
  buf[0] = '\0';
  meta_deployment_list(m, RG, names, buf);
  CHECK(!strcmp(buf, "b,c,d,"), "the oldest final one went; a running one stays (%s)", buf);
  CHECK(put(m, DEP("e"), RG, "Succeeded", 3) == 0, "a fifth");
  buf[0] = '\0';
  meta_deployment_list(m, RG, names, buf);
  CHECK(!strcmp(buf, "b,d,e,"), "the next oldest final one went, with its operations (%s)", buf);
  CHECK(ops_of(m, DEP("c")) == 0, "(its operations too)");
  int n = 0;
  meta_deployment_list(m, "/subscriptions/s1", count_dep, &n);
  CHECK(n == 1, "another scope's history is untouched");
  n = 0;
  meta_deployment_list(m, NULL, count_dep, &n);
  CHECK(n == 1, "one deployment is active");

  /* a resource group's row takes its deployments */
  put_op(m, DEP("d"), "OPD", "Succeeded");
  struct meta_resource rg = {.id = strdup(RG), .type = strdup("Microsoft.Resources/resourceGroups"),
                             .name = strdup("g"), .parent_id = strdup("/subscriptions/s1"),
                             .provisioning_state = strdup("Succeeded")};
  CHECK(meta_resource_put(m, &rg, NULL, 0, NULL) == 0 && meta_resource_put(m, &rg, NULL, 0, NULL) == 0,
        "the resource group's row, written twice");
  meta_resource_clear(&rg);
  n = 0;
  meta_deployment_list(m, RG, count_dep, &n);
  CHECK(n == 3, "replacing the group's row deletes no deployment");
  CHECK(meta_resource_delete(m, RG) == 0, "the group's row deleted");
  n = 0;
  meta_deployment_list(m, RG, count_dep, &n);
  CHECK(n == 0 && ops_of(m, DEP("d")) == 0, "its deployments and their operations went with it");
  n = 0;
  meta_deployment_list(m, "/subscriptions/s1", count_dep, &n);
  CHECK(n == 1, "the subscription's stays");
  meta_close(m);
}

int main(void)
{
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  const struct CMUnitTest tests[] = {UNIT_TEST(deployments)};
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
  return unit_finish(rc);
}
