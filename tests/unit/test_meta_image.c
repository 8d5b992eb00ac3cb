/*
 * test_meta_image.c — the region's typed records in src/meta: images and
 * capture bases (put/get/list), the triggers that delete them with their
 * disk restore point row and their volume row (and not when a row is
 * replaced), failure codes, schema migration 3, which moves these fields
 * out of a version-2 database's `extra` JSON, and the attachments derived
 * from VM rows (migration 4: written, replaced and deleted with the row, and
 * backfilled for the VMs of an older database), and the encryption columns
 * of migration 11 (a volume's wrapped key, domain and crypt state, the
 * domain of an image and of a capture base; none for rows from before),
 * and the rows the upgrade moves out of the legacy store (meta/upgrade.c:
 * what is left, the images capture bases name first, an image moved in one
 * transaction with the capture bases and copy row naming its tree, nothing
 * when the row changed meanwhile, orphan capture bases, volumes by crypt
 * state).
 */
#include <errno.h>
#include <sqlite3.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "meta/meta.h"
#include "meta_target.h"
#include "unit.h"

#define DRP_TYPE "Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints"
#define RP_TYPE "Microsoft.Compute/restorePointCollections/restorePoints"
#define RP "/subscriptions/s1/resourceGroups/g/providers/Microsoft.Compute/restorePointCollections/c/restorePoints/rp1"
#define DRP RP "/diskRestorePoints/d1_x"
#define DISK "/subscriptions/s1/resourceGroups/g/providers/Microsoft.Compute/disks/d1"
#define VM_TYPE "Microsoft.Compute/virtualMachines"
#define VM "/subscriptions/s1/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/vm1"
#define VM_DISKS(os, data) "{\"storageProfile\":{\"osDisk\":{\"managedDisk\":{\"id\":\"" os "\"}},\"dataDisks\":[" data "]}}"
#define DATA_DISK(id, lun) "{\"lun\":" #lun ",\"managedDisk\":{\"id\":\"" id "\"}}"
#define ROOT "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define DOMAIN "0f1e2d3c4b5a69788796a5b4c3d2e1f0"

static char dir[] = "/tmp/vmrp-unit-image.XXXXXX";

static int put_row(struct meta *m, const char *id, const char *type, const char *parent, const char *props,
                   const char *extra)
{
  const char *name = strrchr(id, '/') + 1;
  struct meta_resource r = {.id = strdup(id), .type = strdup(type), .name = strdup(name), .parent_id = strdup(parent),
                            .properties = props ? strdup(props) : NULL, .extra = extra ? strdup(extra) : NULL,
                            .provisioning_state = strdup("Creating")};
  int rc = meta_resource_put(m, &r, NULL, 0, NULL);
  meta_resource_clear(&r);
  return rc;
}

static int count_image(void *ctx, const struct meta_image *im)
{
  (void)im;
  ++*(int *)ctx;
  return 0;
}

static void images_and_triggers(void **state)
{
  (void)state;
  char path[256];
  meta_target(path, sizeof path, dir, "fresh");
  struct meta *m;
  CHECK(meta_open(path, &m) == 0, "a new database opens at the newest schema");
  CHECK(put_row(m, RP, RP_TYPE, "/x", NULL, NULL) == 0 && put_row(m, DRP, DRP_TYPE, RP, NULL, NULL) == 0,
        "a restore point and a disk restore point row");
  struct meta_image im = {.id = DRP, .rp_id = RP, .disk_id = DISK, .state = IMAGE_CAPTURING};
  snprintf(im.volume_id, sizeof im.volume_id, "vol-1");
  snprintf(im.domain, sizeof im.domain, DOMAIN);
  CHECK(meta_image_put(m, &im) == 0, "meta_image_put: a Capturing image");
  im.state = IMAGE_READY;
  im.size = 1 << 20;
  im.percent = 100;
  im.chunks_read = 3;
  im.bytes_stored = 4096;
  snprintf(im.root, sizeof im.root, ROOT);
  CHECK(meta_image_put(m, &im) == 0, "meta_image_put: the same image made READY");
  struct meta_image got;
  int rc = meta_image_get(m,
                          "/SUBSCRIPTIONS/S1/RESOURCEGROUPS/G/providers/Microsoft.Compute/restorePointCollections/C"
                          "/restorePoints/RP1/diskRestorePoints/D1_X",
                          &got);
  CHECK(rc == 0, "the image is found under any casing of its id");
  if (rc == 0) {
    CHECK(got.state == IMAGE_READY && !strcmp(got.root, ROOT) && got.size == 1 << 20 && got.percent == 100 &&
              got.chunks_read == 3 && got.bytes_stored == 4096 && !strcmp(got.volume_id, "vol-1") &&
              !strcmp(got.disk_id, DISK) && got.previous_id == NULL && !strcmp(got.domain, DOMAIN),
          "every field reads back as written");
    meta_image_clear(&got);
  }
  int n = 0;
  CHECK(meta_image_list(m, RP, count_image, &n) == 0 && n == 1, "the restore point lists its image");
  CHECK(put_row(m, DRP, DRP_TYPE, RP, "{\"a\":1}", NULL) == 0 && meta_image_get(m, DRP, &got) == 0,
        "replacing the disk restore point row keeps its image");
  meta_image_clear(&got);
  CHECK(meta_resource_set_state(m, RP, "Failed", "OperationInterrupted") == 0, "meta_resource_set_state");
  struct meta_resource r;
  rc = meta_resource_get(m, RP, &r);
  CHECK(rc == 0 && !strcmp(r.provisioning_state, "Failed") && r.failure_code &&
            !strcmp(r.failure_code, "OperationInterrupted"),
        "the state and failure code read back");
  if (rc == 0)
    meta_resource_clear(&r);
  CHECK(meta_resource_set_state(m, "/nope", "Failed", NULL) == -ENOENT, "set_state of a missing row: -ENOENT");
  CHECK(meta_resource_delete(m, DRP) == 0 && meta_image_get(m, DRP, &got) == -ENOENT,
        "deleting the disk restore point row deletes its image");

  struct meta_volume v = {.resource_id = DISK, .size = 1 << 20, .state = VOLUME_READY,
                          .crypt_state = VOLUME_ENCRYPTED, .key_wrapped_len = 92};
  snprintf(v.id, sizeof v.id, "vol-1");
  snprintf(v.domain, sizeof v.domain, DOMAIN);
  for (size_t i = 0; i < v.key_wrapped_len; i++)
    v.key_wrapped[i] = (uint8_t)(i * 7 + 1);
  struct meta_capture_base b = {.size = 1 << 20, .image_id = DRP};
  snprintf(b.volume_id, sizeof b.volume_id, "vol-1");
  snprintf(b.root, sizeof b.root, ROOT);
  snprintf(b.domain, sizeof b.domain, DOMAIN);
  CHECK(meta_volume_put(m, &v) == 0 && meta_capture_base_put(m, &b) == 0, "a volume and its capture base");
  struct meta_volume gv;
  rc = meta_volume_get(m, "vol-1", &gv);
  CHECK(rc == 0 && gv.crypt_state == VOLUME_ENCRYPTED && gv.key_wrapped_len == 92 &&
            !memcmp(gv.key_wrapped, v.key_wrapped, 92) && !strcmp(gv.domain, DOMAIN),
        "the volume's wrapped key, domain and crypt state read back");
  if (rc == 0)
    meta_volume_clear(&gv);
  struct meta_volume pv = {.resource_id = DISK "p", .size = 1 << 20, .state = VOLUME_READY};
  snprintf(pv.id, sizeof pv.id, "vol-p");
  rc = meta_volume_put(m, &pv) == 0 ? meta_volume_get(m, "vol-p", &gv) : -1;
  CHECK(rc == 0 && gv.crypt_state == VOLUME_PLAIN && gv.key_wrapped_len == 0 && gv.domain[0] == 0,
        "a plaintext volume has no key and no domain");
  if (rc == 0)
    meta_volume_clear(&gv);
  struct meta_capture_base gb;
  rc = meta_capture_base_get(m, "vol-1", &gb);
  CHECK(rc == 0 && !strcmp(gb.root, ROOT) && gb.size == 1 << 20 && !strcmp(gb.image_id, DRP) &&
            !strcmp(gb.domain, DOMAIN),
        "the capture base reads back");
  if (rc == 0)
    meta_capture_base_clear(&gb);
  v.clean = true;
  CHECK(meta_volume_put(m, &v) == 0 && meta_capture_base_get(m, "vol-1", &gb) == 0,
        "replacing the volume row keeps its base");
  meta_capture_base_clear(&gb);
  CHECK(meta_volume_delete(m, "vol-1") == 0 && meta_capture_base_get(m, "vol-1", &gb) == -ENOENT,
        "deleting the volume deletes its base: a disk made again under the same name starts full");
  meta_close(m);
}

/* "disk@lun disk@lun ..." of a VM's attachments, in list order. */
static int join_attachment(void *ctx, const struct meta_attachment *a)
{
  char *out = ctx;
  snprintf(out + strlen(out), 256 - strlen(out), "%s%s@%d", *out ? " " : "", strrchr(a->disk_id, '/') + 1, a->lun);
  return 0;
}

static void attachments_of(struct meta *m, const char *vm, char out[256])
{
  out[0] = 0;
  if (meta_attachment_list(m, vm, join_attachment, out) < 0)
    snprintf(out, 256, "(error)");
}

static void attachments_follow_vm_rows(void **state)
{
  (void)state;
  char path[256], got[256];
  meta_target(path, sizeof path, dir, "attach");
  struct meta *m;
  CHECK(meta_open(path, &m) == 0, "a new database");
  CHECK(put_row(m, VM, VM_TYPE, "/g", VM_DISKS("/d/os", DATA_DISK("/d/b", 2) "," DATA_DISK("/d/a", 0)), NULL) == 0,
        "a VM with an OS disk and data disks at luns 2 and 0");
  attachments_of(m, VM, got);
  CHECK(!strcmp(got, "os@-1 a@0 b@2"), "its attachments: the OS disk first, then by lun (%s)", got);
  CHECK(put_row(m, VM, VM_TYPE, "/g", VM_DISKS("/d/os", DATA_DISK("/d/c", 1)), NULL) == 0,
        "the VM row replaced: b and a detached, c attached");
  attachments_of(m, VM, got);
  CHECK(!strcmp(got, "os@-1 c@1"), "the attachments follow the replaced row (%s)", got);
  CHECK(put_row(m, VM "x", VM_TYPE, "/g", "{}", NULL) == 0, "a VM without a storage profile");
  attachments_of(m, VM "x", got);
  CHECK(!strcmp(got, ""), "has no attachments (%s)", got);
  CHECK(put_row(m, DISK, "Microsoft.Compute/disks", "/g", VM_DISKS("/d/z", ""), NULL) == 0,
        "a row of another type with the same shape");
  attachments_of(m, DISK, got);
  CHECK(!strcmp(got, ""), "is not taken for a VM (%s)", got);
  CHECK(meta_resource_delete(m, VM) == 0, "the VM row deleted");
  attachments_of(m, VM, got);
  CHECK(!strcmp(got, ""), "its attachments went with it (%s)", got);
  meta_close(m);
}

/* A database as vmrpd wrote it at schema version 2 (migrations 1 and 2). */
static int legacy_image(struct meta *m, const char *name, enum meta_image_state state, const char *root,
                        const char *domain)
{
  char id[512];
  snprintf(id, sizeof id, RP "/diskRestorePoints/%s", name);
  struct meta_image im = {.id = id, .rp_id = RP, .disk_id = DISK, .state = state, .size = 1 << 20};
  snprintf(im.volume_id, sizeof im.volume_id, "v1");
  snprintf(im.root, sizeof im.root, "%s", root);
  snprintf(im.domain, sizeof im.domain, "%s", domain);
  int rc = put_row(m, id, DRP_TYPE, RP, NULL, NULL);
  return rc ? rc : meta_image_put(m, &im);
}

static void upgrade_moves(void **state)
{
  (void)state;
  char path[256];
  meta_target(path, sizeof path, dir, "upgrade");
  struct meta *m;
  CHECK(meta_open(path, &m) == 0, "a database");
  CHECK(legacy_image(m, "a", IMAGE_READY, "root-1", "") == 0 && legacy_image(m, "b", IMAGE_READY, "root-2", "") == 0 &&
            legacy_image(m, "f", IMAGE_FAILED, "", "") == 0 &&
            legacy_image(m, "n", IMAGE_READY, "root-9", DOMAIN) == 0,
        "legacy images a and b, a failed one, one in the platform store");
  struct meta_capture_base b = {.root = "root-2", .size = 1 << 20, .image_id = RP "/diskRestorePoints/b"};
  snprintf(b.volume_id, sizeof b.volume_id, "v1");
  CHECK(meta_capture_base_put(m, &b) == 0, "v1's capture base is b's tree");
  struct meta_capture_base orphan = {.root = "root-3", .size = 1 << 20, .image_id = RP "/diskRestorePoints/gone"};
  snprintf(orphan.volume_id, sizeof orphan.volume_id, "v2");
  CHECK(meta_capture_base_put(m, &orphan) == 0, "v2's capture base is a tree no image names");

  struct meta_upgrade_counts c;
  CHECK(meta_upgrade_counts(m, &c) == 0 && c.images_total == 3 && c.images_legacy == 2 && c.bases_legacy == 2,
        "counts: 3 images (the failed one is none), 2 in the legacy store, 2 legacy capture bases");
  struct meta_upgrade_image im;
  CHECK(meta_upgrade_next_image(m, &im) == 0 && strstr(im.id, "/b") && !strcmp(im.root, "root-2"),
        "the image a capture base builds on moves first (b)");
  meta_upgrade_image_clear(&im);
  CHECK(meta_upgrade_image_move(m, RP "/diskRestorePoints/b", "root-2", "root-4", DOMAIN) == 0, "b moves");
  struct meta_image got;
  CHECK(meta_image_get(m, RP "/diskRestorePoints/b", &got) == 0 && !strcmp(got.root, "root-4") &&
            !strcmp(got.domain, DOMAIN),
        "its row names the new root in the platform domain");
  meta_image_clear(&got);
  struct meta_capture_base gb;
  CHECK(meta_capture_base_get(m, "v1", &gb) == 0 && !strcmp(gb.root, "root-4") && !strcmp(gb.domain, DOMAIN),
        "and so does the capture base built on it, in the same transaction");
  meta_capture_base_clear(&gb);
  CHECK(meta_upgrade_image_move(m, RP "/diskRestorePoints/b", "root-2", "root-5", DOMAIN) == -ESTALE,
        "a second move of b: -ESTALE");
  CHECK(meta_upgrade_image_move(m, RP "/diskRestorePoints/a", "root-7", "root-5", DOMAIN) == -ESTALE,
        "a move from a root a does not name: -ESTALE");
  CHECK(meta_image_get(m, RP "/diskRestorePoints/a", &got) == 0 && !strcmp(got.root, "root-1") && !got.domain[0],
        "and a is unchanged");
  meta_image_clear(&got);
  CHECK(meta_upgrade_next_image(m, &im) == 0 && strstr(im.id, "/a"), "a is next");
  meta_upgrade_image_clear(&im);
  CHECK(meta_upgrade_image_move(m, RP "/diskRestorePoints/a", "root-1", "root-6", DOMAIN) == 0, "a moves");
  CHECK(meta_upgrade_next_image(m, &im) == -ENOENT, "no legacy image is left");
  CHECK(meta_upgrade_next_base(m, &im) == 0 && !strcmp(im.root, "root-3"), "the orphan capture base is left");
  meta_upgrade_image_clear(&im);
  CHECK(meta_upgrade_base_move(m, "root-3", "root-8", DOMAIN) == 0 && meta_capture_base_get(m, "v2", &gb) == 0 &&
            !strcmp(gb.root, "root-8") && !strcmp(gb.domain, DOMAIN),
        "it moves");
  meta_capture_base_clear(&gb);
  CHECK(meta_upgrade_next_base(m, &im) == -ENOENT && meta_upgrade_counts(m, &c) == 0 && c.images_legacy == 0 &&
            c.bases_legacy == 0,
        "nothing names the legacy store any more");
  meta_close(m);
}

static int upgrade_volume(struct meta *m, const char *id, enum meta_crypt_state cs)
{
  char res[128];
  snprintf(res, sizeof res, DISK "%s", id);
  struct meta_volume v = {.resource_id = res, .size = 1 << 20, .state = VOLUME_READY, .crypt_state = cs};
  snprintf(v.id, sizeof v.id, "%s", id);
  return meta_volume_put(m, &v);
}

static int count_vol(void *ctx, const char *vol_id)
{
  ++*(int *)ctx;
  return 0;
}

static void upgrade_volumes(void **state)
{
  (void)state;
  char path[256];
  meta_target(path, sizeof path, dir, "upgrade_volumes");
  struct meta *m;
  CHECK(meta_open(path, &m) == 0, "a database");
  CHECK(upgrade_volume(m, "p", VOLUME_PLAIN) == 0 && upgrade_volume(m, "c", VOLUME_CONVERTING) == 0 &&
            upgrade_volume(m, "e", VOLUME_ENCRYPTED) == 0,
        "a plaintext, a converting and an encrypted volume");
  struct meta_upgrade_counts c;
  CHECK(meta_upgrade_counts(m, &c) == 0 && c.volumes_total == 3 && c.volumes_plain == 1 && c.volumes_converting == 1,
        "counted by crypt state");
  int n = 0;
  CHECK(meta_upgrade_volumes(m, count_vol, &n) == 0 && n == 2, "two have a key");
  char id[40];
  CHECK(meta_upgrade_next_volume(m, id) == 0 && !strcmp(id, "c"), "c is the one to convert");
  CHECK(meta_upgrade_volume_encrypted(m, "c") == 0 && meta_upgrade_next_volume(m, id) == -ENOENT, "then none is");
  struct meta_volume v;
  CHECK(meta_volume_get(m, "c", &v) == 0 && v.crypt_state == VOLUME_ENCRYPTED, "c is encrypted");
  meta_volume_clear(&v);
  meta_close(m);
}

static const char *const v2_schema =
    "CREATE TABLE resources(id TEXT PRIMARY KEY COLLATE NOCASE, type TEXT NOT NULL COLLATE NOCASE,"
    "  name TEXT NOT NULL, parent_id TEXT NOT NULL COLLATE NOCASE, location TEXT, tags TEXT, properties TEXT,"
    "  extra TEXT, provisioning_state TEXT, etag TEXT NOT NULL, created_us INTEGER NOT NULL,"
    "  changed_us INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX resources_parent ON resources(parent_id, type, id);"
    "CREATE TABLE operations(id TEXT PRIMARY KEY, subscription TEXT NOT NULL, provider TEXT NOT NULL,"
    "  location TEXT NOT NULL, kind TEXT NOT NULL, resource_id TEXT, status INTEGER NOT NULL,"
    "  percent REAL NOT NULL DEFAULT 0, start_us INTEGER NOT NULL, end_us INTEGER, error TEXT, result TEXT,"
    "  payload TEXT);"
    "CREATE INDEX operations_status ON operations(status);"
    "CREATE TABLE principals(client_id TEXT PRIMARY KEY COLLATE NOCASE, object_id TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    "  name TEXT NOT NULL, salt BLOB NOT NULL, hash BLOB NOT NULL, created_us INTEGER NOT NULL);"
    "CREATE TABLE role_assignments(object_id TEXT NOT NULL COLLATE NOCASE, scope TEXT NOT NULL COLLATE NOCASE,"
    "  role TEXT NOT NULL, PRIMARY KEY(object_id, scope));"
    "CREATE TABLE volumes(id TEXT PRIMARY KEY, resource_id TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    "  size INTEGER NOT NULL, state INTEGER NOT NULL, clean INTEGER NOT NULL DEFAULT 0, created_us INTEGER NOT NULL);"
    "CREATE TABLE schema_version(version INTEGER NOT NULL); INSERT INTO schema_version VALUES(2);"
    "INSERT INTO resources VALUES('" RP "', '" RP_TYPE "', 'rp1', '/c', NULL, NULL, '{}',"
    "  '{\"operation\":\"op1\",\"error\":\"OperationInterrupted\"}', 'Failed', 'e', 1, 1);"
    "INSERT INTO resources VALUES('" DRP "', '" DRP_TYPE "', 'd1_x', '" RP "', NULL, NULL,"
    "  '{\"sourceResourceId\":\"" DISK "\",\"vmrpPreviousDiskRestorePointId\":\"/prev\"}',"
    "  '{\"state\":\"Succeeded\",\"volumeId\":\"vol-1\",\"percent\":100,\"root\":\"" ROOT "\",\"size\":1048576,"
    "\"chunksRead\":16,\"bytesStored\":8192}', 'Succeeded', 'e', 1, 1);"
    "INSERT INTO resources VALUES('" DISK "', 'Microsoft.Compute/disks', 'd1', '/g', 'eastus', NULL,"
    "  '{\"uniqueId\":\"vol-1\"}', '{\"sku\":{\"name\":\"Premium_LRS\"},\"captureBase\":{\"root\":\"" ROOT "\","
    "\"size\":1048576,\"diskRestorePoint\":\"" DRP "\"}}', 'Succeeded', 'e', 1, 1);"
    "INSERT INTO volumes VALUES('vol-1', '" DISK "', 1048576, 1, 1, 1);"
    "INSERT INTO resources VALUES('" VM "', '" VM_TYPE "', 'vm1', '/g', 'eastus', NULL,"
    "  '" VM_DISKS(DISK, DATA_DISK("/d/b", 3)) "', NULL, 'Succeeded', 'e', 1, 1);";

static void migration_from_v2(void **state)
{
  (void)state;
  char path[256];
  meta_target(path, sizeof path, dir, "v2");
  sqlite3 *db;
  char *err = NULL;
  CHECK(sqlite3_open(path, &db) == SQLITE_OK && sqlite3_exec(db, v2_schema, NULL, NULL, &err) == SQLITE_OK,
        "a version-2 database with a restore point, a disk restore point and a disk (%s)", err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
  struct meta *m;
  CHECK(meta_open(path, &m) == 0, "it opens: migrations 3 and 4 run");
  struct meta_image im;
  int rc = meta_image_get(m, DRP, &im);
  CHECK(rc == 0, "the disk restore point has an image");
  if (rc == 0) {
    CHECK(im.state == IMAGE_READY && !strcmp(im.root, ROOT) && im.size == 1048576 && im.percent == 100 &&
              im.chunks_read == 16 && im.bytes_stored == 8192 && !strcmp(im.volume_id, "vol-1") &&
              !strcmp(im.rp_id, RP) && !strcmp(im.disk_id, DISK) && im.previous_id &&
              !strcmp(im.previous_id, "/prev") && im.domain[0] == 0,
          "with the state, root, size, counters, volume, disk and predecessor its extra held (in the legacy "
          "store: no domain)");
    meta_image_clear(&im);
  }
  struct meta_capture_base b;
  rc = meta_capture_base_get(m, "vol-1", &b);
  CHECK(rc == 0 && !strcmp(b.root, ROOT) && b.size == 1048576 && !strcmp(b.image_id, DRP) && b.domain[0] == 0,
        "the disk's captureBase became its volume's capture base");
  struct meta_volume v;
  rc = meta_volume_get(m, "vol-1", &v);
  CHECK(rc == 0 && v.crypt_state == VOLUME_PLAIN && v.key_wrapped_len == 0 && v.domain[0] == 0 && v.clean,
        "migration 11: the volume from before is plaintext, with no key and no domain");
  if (rc == 0)
    meta_volume_clear(&v);
  if (rc == 0)
    meta_capture_base_clear(&b);
  struct meta_resource r;
  rc = meta_resource_get(m, RP, &r);
  CHECK(rc == 0 && r.failure_code && !strcmp(r.failure_code, "OperationInterrupted") && r.extra &&
            !strcmp(r.extra, "{\"operation\":\"op1\"}"),
        "the restore point's error became its failure code; the rest of extra stays");
  if (rc == 0)
    meta_resource_clear(&r);
  rc = meta_resource_get(m, DRP, &r);
  CHECK(rc == 0 && r.extra && !strcmp(r.extra, "{}"), "the disk restore point's extra is emptied");
  if (rc == 0)
    meta_resource_clear(&r);
  rc = meta_resource_get(m, DISK, &r);
  CHECK(rc == 0 && r.extra && !strcmp(r.extra, "{\"sku\":{\"name\":\"Premium_LRS\"}}"),
        "the disk keeps its sku and loses captureBase");
  if (rc == 0)
    meta_resource_clear(&r);
  char got[256];
  attachments_of(m, VM, got);
  CHECK(!strcmp(got, "d1@-1 b@3"), "the VM's attachments were backfilled (%s)", got);
  char power[32];
  CHECK(meta_vm_power_state(m, VM, power) == 0 && !strcmp(power, ""),
        "migration 5: the VM's power state is computed (none recorded: \"%s\")", power);
  meta_close(m);
}

int main(void)
{
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  /* the last is SQLite's own history: PostgreSQL's schema starts after it */
  const struct CMUnitTest tests[] = {UNIT_TEST(images_and_triggers), UNIT_TEST(attachments_follow_vm_rows),
                                     UNIT_TEST(upgrade_moves),
                                     UNIT_TEST(upgrade_volumes), UNIT_TEST(migration_from_v2)};
  size_t n = sizeof tests / sizeof tests[0] - (meta_target_pg() ? 1 : 0);
  int rc = _cmocka_run_group_tests("meta_image", tests, n, NULL, NULL);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
  return unit_finish(rc);
}
