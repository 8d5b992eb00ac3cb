/*
 * test_meta_policy.c — the protection policies' scheduler's rows in
 * src/meta (policy.c, migration 12): a slot taken with its VM row in one
 * transaction and never twice (invariants 1 and 2), the due query earliest
 * first and bounded (3), final slots pruned so the rows stay as few as the
 * slots open, a VM's and a policy's rows deleted, a reopen keeping all.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "meta/meta.h"
#include "meta_target.h"
#include "unit.h"

#define POL "/subscriptions/s1/resourceGroups/g/providers/Microsoft.Vmrp/protectionPolicies/p"
#define VM(n) "/subscriptions/s1/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/" n

static char dir[] = "/tmp/vmrp-unit-policy.XXXXXX";

static struct meta_policy_vm vm_row(const char *vm, int64_t next, int64_t due)
{
  return (struct meta_policy_vm){.policy_id = POL, .vm_id = (char *)vm, .next_slot_us = next, .due_us = due};
}

static struct meta_policy_slot slot_row(const char *vm, int64_t t, const char *state)
{
  return (struct meta_policy_slot){.policy_id = POL, .vm_id = (char *)vm, .slot_us = t, .rp_id = "rp",
                                   .state = (char *)state, .created_us = t, .changed_us = t};
}

static int append_vm(void *ctx, const struct meta_policy_vm *v)
{
  strcat(ctx, strrchr(v->vm_id, '/') + 1);
  strcat(ctx, ",");
  return 0;
}

static int append_slot(void *ctx, const struct meta_policy_slot *s)
{
  char b[32];
  snprintf(b, sizeof b, "%lld:%s,", (long long)s->slot_us, s->state);
  strcat(ctx, b);
  return 0;
}

static void take_is_atomic(void **state)
{
  (void)state;
  char path[256];
  meta_target(path, sizeof path, dir, "t");
  struct meta *m;
  CHECK(meta_open(path, &m) == 0, "a new database opens at the newest schema");
  struct meta_policy_vm v = vm_row(VM("a"), 60, 60);
  CHECK(meta_policy_save(m, &v, NULL, false) == 0, "a VM joins a policy");
  v.next_slot_us = 120;
  v.last_slot_us = 60;
  struct meta_policy_slot s = slot_row(VM("a"), 60, "Pending");
  CHECK(meta_policy_save(m, &v, &s, true) == 0, "slot 60 taken, next slot 120");
  v.next_slot_us = 999;
  CHECK(meta_policy_save(m, &v, &s, true) == -EEXIST, "the same slot taken again: -EEXIST");
  struct meta_policy_vm got;
  CHECK(meta_policy_vm_get(m, POL, VM("A"), &got) == 0 && got.next_slot_us == 120 && got.last_slot_us == 60,
        "and nothing of that second take was written (next slot still 120; ids any case)");
  meta_policy_vm_clear(&got);
  struct meta_policy_slot bad = slot_row(VM("a"), 120, "Pending");
  bad.rp_id = NULL;
  v.next_slot_us = 180;
  CHECK(meta_policy_save(m, &v, &bad, true) == -EINVAL, "a slot without its restore point is refused");
  CHECK(meta_policy_vm_get(m, POL, VM("a"), &got) == 0 && got.next_slot_us == 120, "with its VM row untouched");
  meta_policy_vm_clear(&got);
  meta_close(m);
  CHECK(meta_open(path, &m) == 0, "reopened");
  char buf[256] = "";
  meta_policy_slot_list(m, POL, VM("a"), true, append_slot, buf);
  CHECK(!strcmp(buf, "60:Pending,"), "the slot taken is there after a reopen (%s)", buf);
  meta_close(m);
}

static void due_order(void **state)
{
  (void)state;
  char path[256];
  meta_target(path, sizeof path, dir, "d");
  struct meta *m;
  CHECK(meta_open(path, &m) == 0, "a new database");
  int64_t d;
  CHECK(meta_policy_vm_next_due(m, &d) == -ENOENT, "no rows: nothing is due");
  const char *names[] = {"c", "a", "d", "b"};
  int64_t dues[] = {30, 10, 40, 20};
  for (int i = 0; i < 4; i++) {
    char id[160];
    snprintf(id, sizeof id, VM("%s"), names[i]);
    struct meta_policy_vm v = vm_row(id, 0, dues[i]);
    meta_policy_save(m, &v, NULL, false);
  }
  CHECK(meta_policy_vm_next_due(m, &d) == 0 && d == 10, "the earliest due time (%lld)", (long long)d);
  char buf[256] = "";
  meta_policy_vm_due(m, 30, 2, append_vm, buf);
  CHECK(!strcmp(buf, "a,b,"), "due at 30, limit 2: the two earliest, in due order (%s)", buf);
  buf[0] = '\0';
  meta_policy_vm_due(m, 35, 10, append_vm, buf);
  CHECK(!strcmp(buf, "a,b,c,"), "due at 35: three, not the one due later (%s)", buf);
  buf[0] = '\0';
  meta_policy_vm_list(m, POL, append_vm, buf);
  CHECK(!strcmp(buf, "a,b,c,d,"), "the policy's VMs in id order (%s)", buf);

  /* final slots prune the older final ones, never an open one */
  struct meta_policy_vm v = vm_row(VM("a"), 0, 10);
  struct meta_policy_slot s1 = slot_row(VM("a"), 100, "Done"), s2 = slot_row(VM("a"), 200, "Creating"),
                          s3 = slot_row(VM("a"), 300, "Failed"), s4 = slot_row(VM("a"), 400, "Done");
  meta_policy_save(m, &v, &s1, true);
  meta_policy_save(m, &v, &s2, true);
  meta_policy_save(m, &v, &s3, true);
  buf[0] = '\0';
  meta_policy_slot_list(m, POL, VM("a"), false, append_slot, buf);
  CHECK(!strcmp(buf, "200:Creating,300:Failed,"), "a slot ending drops the older final ones, not the open (%s)", buf);
  meta_policy_save(m, &v, &s4, true);
  s2.state = "Done";
  CHECK(meta_policy_save(m, &v, &s2, false) == 0, "an open slot updated to Done");
  buf[0] = '\0';
  meta_policy_slot_list(m, POL, VM("a"), false, append_slot, buf);
  CHECK(!strcmp(buf, "200:Done,400:Done,"), "an older slot ending leaves the newer ones (%s)", buf);
  buf[0] = '\0';
  meta_policy_slot_list(m, POL, VM("a"), true, append_slot, buf);
  CHECK(!strcmp(buf, ""), "none open (%s)", buf);

  CHECK(meta_policy_vm_delete(m, POL, VM("a")) == 0, "a VM leaves the policy");
  buf[0] = '\0';
  meta_policy_slot_list(m, POL, VM("a"), false, append_slot, buf);
  struct meta_policy_vm got;
  CHECK(!strcmp(buf, "") && meta_policy_vm_get(m, POL, VM("a"), &got) == -ENOENT, "its row and slots went");
  CHECK(meta_policy_vm_delete(m, POL, NULL) == 0 && meta_policy_vm_next_due(m, &d) == -ENOENT,
        "the policy deleted: every row went");
  meta_close(m);
}

int main(void)
{
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  const struct CMUnitTest tests[] = {UNIT_TEST(take_is_atomic), UNIT_TEST(due_order)};
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
  return unit_finish(rc);
}
