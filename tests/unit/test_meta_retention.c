/*
 * test_meta_retention.c — the store's own refusal to delete what a retention
 * lock protects (meta migration 14, arm/retention_lock.c): a restore point
 * row whose properties.vmrpRetentionLock.expiresAt is after now, its disk
 * restore points (and with them their image rows, the GC's roots) and a
 * collection holding it cannot be deleted, whatever calls
 * meta_resource_delete, and the refusal is -EPERM (not a conflict); the same
 * rows go once the lock has expired, and a row replaced (the lock extended or
 * removed) fires nothing.  Why a unit test: the ARM tests reach these
 * triggers only when a handler's own check has a hole, which they cannot
 * provoke.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "meta/meta.h"
#include "meta_target.h"
#include "unit.h"

#define RPC_TYPE "Microsoft.Compute/restorePointCollections"
#define RP_TYPE RPC_TYPE "/restorePoints"
#define DRP_TYPE RP_TYPE "/diskRestorePoints"
#define COLL "/subscriptions/s1/resourceGroups/g/providers/Microsoft.Compute/restorePointCollections/c"
#define RP COLL "/restorePoints/rp1"
#define DRP RP "/diskRestorePoints/os_x"

static char dir[] = "/tmp/vmrp-unit-retention.XXXXXX";

static int put_row(struct meta *m, const char *id, const char *type, const char *parent, const char *props)
{
  struct meta_resource r = {.id = strdup(id), .type = strdup(type), .name = strdup(strrchr(id, '/') + 1),
                            .parent_id = strdup(parent), .properties = props ? strdup(props) : NULL,
                            .provisioning_state = strdup("Succeeded")};
  int rc = meta_resource_put(m, &r, NULL, 0, NULL);
  meta_resource_clear(&r);
  return rc;
}

/* properties with a lock ending at now + delta seconds */
static void lock_props(char *out, size_t cap, const char *mode, long delta)
{
  time_t t = time(NULL) + delta;
  struct tm tm;
  gmtime_r(&t, &tm);
  char when[32];
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  snprintf(out, cap, "{\"timeCreated\":\"x\",\"vmrpRetentionLock\":{\"mode\":\"%s\",\"expiresAt\":\"%s\"}}", mode, when);
}

static bool exists(struct meta *m, const char *id)
{
  struct meta_resource r;
  if (meta_resource_get(m, id, &r) < 0)
    return false;
  meta_resource_clear(&r);
  return true;
}

static void locked_rows_stay(void **state)
{
  (void)state;
  char path[256], props[256];
  meta_target(path, sizeof path, dir, "locked");
  struct meta *m;
  CHECK(meta_open(path, &m) == 0, "a new database");
  lock_props(props, sizeof props, "Compliance", 3600);
  CHECK(put_row(m, COLL, RPC_TYPE, "/subscriptions/s1/resourceGroups/g", "{}") == 0 &&
            put_row(m, RP, RP_TYPE, COLL, props) == 0 && put_row(m, DRP, DRP_TYPE, RP, "{}") == 0,
        "a collection, a restore point locked for an hour, its disk restore point");
  struct meta_image im = {.id = DRP, .rp_id = RP, .disk_id = "/d", .state = IMAGE_READY,
                          .root = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"};
  CHECK(meta_image_put(m, &im) == 0, "and its image (a GC root)");
  CHECK(meta_resource_delete(m, DRP) == -EPERM && exists(m, DRP), "deleting the disk restore point: -EPERM, kept");
  struct meta_image got;
  bool img = meta_image_get(m, DRP, &got) == 0;
  if (img)
    meta_image_clear(&got);
  CHECK(img, "its image row stays with it");
  CHECK(meta_resource_delete(m, RP) == -EPERM && exists(m, RP), "deleting the restore point: -EPERM, kept");
  CHECK(meta_resource_delete(m, COLL) == -EPERM && exists(m, COLL), "deleting its collection: -EPERM, kept");
  CHECK(meta_begin(m) == 0 && meta_resource_delete(m, DRP) == -EPERM, "inside a transaction too");
  meta_rollback(m);
  lock_props(props, sizeof props, "Governance", 3600);
  CHECK(put_row(m, RP, RP_TYPE, COLL, props) == 0 && meta_resource_delete(m, RP) == -EPERM,
        "a Governance lock the same: the store judges expiresAt, the front end who may remove it");
  CHECK(put_row(m, RP, RP_TYPE, COLL, "{\"timeCreated\":\"x\"}") == 0, "the lock removed (the row replaced: no trigger)");
  CHECK(meta_resource_delete(m, DRP) == 0 && meta_resource_delete(m, RP) == 0 && meta_resource_delete(m, COLL) == 0,
        "then all three go");
  meta_close(m);
}

static void expired_rows_go(void **state)
{
  (void)state;
  char path[256], props[256];
  meta_target(path, sizeof path, dir, "expired");
  struct meta *m;
  CHECK(meta_open(path, &m) == 0, "a new database");
  lock_props(props, sizeof props, "Compliance", -1);
  CHECK(put_row(m, COLL, RPC_TYPE, "/subscriptions/s1/resourceGroups/g", "{}") == 0 &&
            put_row(m, RP, RP_TYPE, COLL, props) == 0 && put_row(m, DRP, DRP_TYPE, RP, "{}") == 0,
        "a restore point whose Compliance lock ended a second ago");
  CHECK(meta_resource_delete(m, DRP) == 0 && meta_resource_delete(m, RP) == 0 && meta_resource_delete(m, COLL) == 0,
        "its disk restore point, itself and its collection are deleted");
  lock_props(props, sizeof props, "Compliance", 3600);
  CHECK(put_row(m, "/subscriptions/s1/resourceGroups/g/providers/Microsoft.Compute/disks/d", "Microsoft.Compute/disks",
                "/subscriptions/s1/resourceGroups/g", props) == 0 &&
            meta_resource_delete(m, "/subscriptions/s1/resourceGroups/g/providers/Microsoft.Compute/disks/d") == 0,
        "the member means nothing on a row of another type");
  meta_close(m);
}

int main(void)
{
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  const struct CMUnitTest tests[] = {UNIT_TEST(locked_rows_stay), UNIT_TEST(expired_rows_go)};
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
  return unit_finish(rc);
}
