/*
 * schema_sqlite.c — the SQLite driver's schema: its migrations, in SQLite's
 * dialect (sqlite.c runs them).  Another back end has its own array, which
 * starts from the schema these reach (SCALE-OUT.md §3.7).
 *
 * `schema_version` holds the number of migrations applied; each entry runs
 * once, in order, in its own transaction.  Migrations are append-only: never
 * edit one that has shipped.
 */
#include "meta/sqlite.h"

/* The attachments of VM row R (new or old in a trigger): the OS disk as lun
 * -1, each data disk under its lun (its place in the list when it has none).
 * Writing a VM row, new (migration 4) or updated in place (17), rewrites them. */
#define ATTACHMENTS_OF(R)                                                                                          \
  "DELETE FROM attachments WHERE vm_id = " R ".id;"                                                                \
  "INSERT OR IGNORE INTO attachments SELECT " R ".id, d, -1 FROM (SELECT json_extract(" R ".properties,"           \
  "  '$.storageProfile.osDisk.managedDisk.id') AS d) WHERE d IS NOT NULL;"                                       \
  "INSERT OR IGNORE INTO attachments SELECT " R ".id, json_extract(value, '$.managedDisk.id'),"                    \
  "  coalesce(json_extract(value, '$.lun'), key) FROM json_each(" R ".properties, '$.storageProfile.dataDisks')"   \
  "  WHERE json_extract(value, '$.managedDisk.id') IS NOT NULL;"

const char *const meta_sqlite_migrations[] = {
    /* 1: resources, operations, principals */
    "CREATE TABLE resources("
    "  id TEXT PRIMARY KEY COLLATE NOCASE,"
    "  type TEXT NOT NULL COLLATE NOCASE,"
    "  name TEXT NOT NULL,"
    "  parent_id TEXT NOT NULL COLLATE NOCASE,"
    "  location TEXT, tags TEXT, properties TEXT, extra TEXT,"
    "  provisioning_state TEXT,"
    "  etag TEXT NOT NULL,"
    "  created_us INTEGER NOT NULL, changed_us INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX resources_parent ON resources(parent_id, type, id);"
    "CREATE TABLE operations("
    "  id TEXT PRIMARY KEY, subscription TEXT NOT NULL, provider TEXT NOT NULL,"
    "  location TEXT NOT NULL, kind TEXT NOT NULL, resource_id TEXT,"
    "  status INTEGER NOT NULL, percent REAL NOT NULL DEFAULT 0,"
    "  start_us INTEGER NOT NULL, end_us INTEGER,"
    "  error TEXT, result TEXT, payload TEXT);"
    "CREATE INDEX operations_status ON operations(status);"
    "CREATE TABLE principals("
    "  client_id TEXT PRIMARY KEY COLLATE NOCASE, object_id TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    "  name TEXT NOT NULL, salt BLOB NOT NULL, hash BLOB NOT NULL, created_us INTEGER NOT NULL);"
    "CREATE TABLE role_assignments("
    "  object_id TEXT NOT NULL COLLATE NOCASE, scope TEXT NOT NULL COLLATE NOCASE,"
    "  role TEXT NOT NULL, PRIMARY KEY(object_id, scope));",
    /* 2: live volumes behind managed disks */
    "CREATE TABLE volumes("
    "  id TEXT PRIMARY KEY, resource_id TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    "  size INTEGER NOT NULL, state INTEGER NOT NULL, clean INTEGER NOT NULL DEFAULT 0,"
    "  created_us INTEGER NOT NULL);",
    /* 3: the region's typed records (image.c): disk restore points as images,
     * each volume's capture base, and why a resource failed.  Moves them out
     * of the ARM rows' `extra` JSON, where only the front end could read them. */
    "CREATE TABLE images("
    "  id TEXT PRIMARY KEY COLLATE NOCASE, rp_id TEXT NOT NULL COLLATE NOCASE,"
    "  disk_id TEXT NOT NULL, volume_id TEXT NOT NULL, previous_id TEXT,"
    "  state INTEGER NOT NULL, root TEXT, size INTEGER NOT NULL DEFAULT 0,"
    "  percent INTEGER NOT NULL DEFAULT 0, chunks_read INTEGER NOT NULL DEFAULT 0,"
    "  bytes_stored INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
    "CREATE INDEX images_rp ON images(rp_id, id);"
    "CREATE TRIGGER images_gone AFTER DELETE ON resources BEGIN DELETE FROM images WHERE id = old.id; END;"
    "CREATE TABLE capture_bases("
    "  volume_id TEXT PRIMARY KEY, root TEXT NOT NULL, size INTEGER NOT NULL, image_id TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TRIGGER capture_bases_gone AFTER DELETE ON volumes BEGIN"
    "  DELETE FROM capture_bases WHERE volume_id = old.id; END;"
    "ALTER TABLE resources ADD COLUMN failure_code TEXT;"
    "INSERT INTO images SELECT id, parent_id, coalesce(json_extract(properties, '$.sourceResourceId'), ''),"
    "  coalesce(json_extract(extra, '$.volumeId'), ''), json_extract(properties, '$.vmrpPreviousDiskRestorePointId'),"
    "  CASE json_extract(extra, '$.state') WHEN 'Succeeded' THEN 1 WHEN 'Failed' THEN 2 ELSE 0 END,"
    "  json_extract(extra, '$.root'), coalesce(json_extract(extra, '$.size'), 0),"
    "  coalesce(json_extract(extra, '$.percent'), 0), coalesce(json_extract(extra, '$.chunksRead'), 0),"
    "  coalesce(json_extract(extra, '$.bytesStored'), 0)"
    "  FROM resources WHERE type = 'Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints';"
    "UPDATE resources SET extra = json_remove(extra, '$.state', '$.root', '$.size', '$.percent', '$.chunksRead',"
    "  '$.bytesStored', '$.volumeId')"
    "  WHERE type = 'Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints' AND extra IS NOT NULL;"
    "INSERT OR REPLACE INTO capture_bases SELECT json_extract(properties, '$.uniqueId'),"
    "  json_extract(extra, '$.captureBase.root'), json_extract(extra, '$.captureBase.size'),"
    "  json_extract(extra, '$.captureBase.diskRestorePoint')"
    "  FROM resources WHERE type = 'Microsoft.Compute/disks' AND json_extract(extra, '$.captureBase.root') IS NOT NULL"
    "  AND json_extract(properties, '$.uniqueId') IS NOT NULL;"
    "UPDATE resources SET extra = json_remove(extra, '$.captureBase')"
    "  WHERE type = 'Microsoft.Compute/disks' AND extra IS NOT NULL;"
    "UPDATE resources SET failure_code = json_extract(extra, '$.error'), extra = json_remove(extra, '$.error')"
    "  WHERE type = 'Microsoft.Compute/restorePointCollections/restorePoints'"
    "  AND json_extract(extra, '$.error') IS NOT NULL;",
    /* 4: which disks each VM has attached (meta/vm.c), derived from the VM
     * row by triggers, so the region resolves a VM's disks from typed rows. */
    "CREATE TABLE attachments("
    "  vm_id TEXT NOT NULL COLLATE NOCASE, disk_id TEXT NOT NULL COLLATE NOCASE,"
    "  lun INTEGER NOT NULL, PRIMARY KEY(vm_id, disk_id)) WITHOUT ROWID;"
    "CREATE INDEX attachments_disk ON attachments(disk_id);"
    "CREATE TRIGGER attachments_put AFTER INSERT ON resources"
    "  WHEN new.type = 'Microsoft.Compute/virtualMachines' BEGIN " ATTACHMENTS_OF("new") " END;"
    "CREATE TRIGGER attachments_gone AFTER DELETE ON resources"
    "  WHEN old.type = 'Microsoft.Compute/virtualMachines' BEGIN"
    "  DELETE FROM attachments WHERE vm_id = old.id; END;"
    /* the VMs written before this migration, through the same statements */
    "CREATE TEMP TABLE backfill(id TEXT, properties TEXT);"
    "CREATE TEMP TRIGGER backfill_vm AFTER INSERT ON backfill BEGIN " ATTACHMENTS_OF("new") " END;"
    "INSERT INTO backfill SELECT id, properties FROM resources WHERE type = 'Microsoft.Compute/virtualMachines';"
    "DROP TABLE backfill;",
    /* 5: what the region's admission of a restore point reads (region/vm.c):
     * a VM's power state and a collection's source VM, as columns computed
     * from the rows' documents (virtual: nothing stored, nothing to keep in
     * step). */
    "ALTER TABLE resources ADD COLUMN power_state TEXT GENERATED ALWAYS AS"
    "  (coalesce(json_extract(extra, '$.powerState'), json_extract(properties, '$.powerState'))) VIRTUAL;"
    "ALTER TABLE resources ADD COLUMN source_id TEXT COLLATE NOCASE GENERATED ALWAYS AS"
    "  (json_extract(properties, '$.source.id')) VIRTUAL;",
    /* 6: SAS grants and the region's secrets (grant.c); a resource's grants
     * go with its row. */
    "CREATE TABLE grants("
    "  id TEXT PRIMARY KEY, resource_id TEXT NOT NULL COLLATE NOCASE, family TEXT NOT NULL COLLATE NOCASE,"
    "  access INTEGER NOT NULL, created_us INTEGER NOT NULL, expires_us INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX grants_resource ON grants(resource_id);"
    "CREATE INDEX grants_family ON grants(family);"
    "CREATE TRIGGER grants_gone AFTER DELETE ON resources BEGIN"
    "  DELETE FROM grants WHERE resource_id = old.id; END;"
    "CREATE TABLE secrets(name TEXT PRIMARY KEY, value BLOB NOT NULL, created_us INTEGER NOT NULL) WITHOUT ROWID;",
    /* 7: guest agents (agent.c): the socket a VM's QemuGuestAgent extension
     * names, computed from its row, and the guests a freeze may have left
     * frozen (a row from before the freeze until its thaw succeeded). */
    "ALTER TABLE resources ADD COLUMN agent_socket TEXT GENERATED ALWAYS AS"
    "  (CASE WHEN type = 'Microsoft.Compute/virtualMachines/extensions'"
    "   AND lower(json_extract(properties, '$.publisher')) = 'vmrp'"
    "   AND lower(json_extract(properties, '$.type')) = 'qemuguestagent'"
    "   THEN json_extract(properties, '$.settings.socket') END) VIRTUAL;"
    "CREATE TABLE agent_freezes("
    "  vm_id TEXT PRIMARY KEY COLLATE NOCASE, socket TEXT NOT NULL, since_us INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TRIGGER extensions_gone AFTER DELETE ON resources"
    "  WHEN old.type = 'Microsoft.Compute/virtualMachines' BEGIN"
    "  DELETE FROM resources WHERE parent_id = old.id AND type = 'Microsoft.Compute/virtualMachines/extensions'; END;",
    /* 8: copies of disk restore points from another region (copy.c): where
     * each comes from, the tree being copied and how far it got; the row
     * goes with its image. */
    "CREATE TABLE image_copies("
    "  image_id TEXT PRIMARY KEY COLLATE NOCASE, source_id TEXT NOT NULL, source_location TEXT NOT NULL,"
    "  root TEXT NOT NULL, size INTEGER NOT NULL DEFAULT 0, covered INTEGER NOT NULL DEFAULT 0,"
    "  bytes_received INTEGER NOT NULL DEFAULT 0, records_received INTEGER NOT NULL DEFAULT 0,"
    "  bytes_stored INTEGER NOT NULL DEFAULT 0, refetched INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL"
    "  DEFAULT 0, error TEXT, started_us INTEGER NOT NULL, changed_us INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TRIGGER image_copies_gone AFTER DELETE ON images BEGIN"
    "  DELETE FROM image_copies WHERE image_id = old.id; END;",
    /* 9: NBD grants (nbd_grant.c): a secret's hash per capability; a
     * resource's grants go with its row. */
    "CREATE TABLE nbd_grants("
    "  id TEXT PRIMARY KEY, resource_id TEXT NOT NULL COLLATE NOCASE, export TEXT NOT NULL,"
    "  readonly INTEGER NOT NULL, secret_sha256 BLOB NOT NULL, created_us INTEGER NOT NULL,"
    "  expires_us INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX nbd_grants_resource ON nbd_grants(resource_id);"
    "CREATE TRIGGER nbd_grants_gone AFTER DELETE ON resources BEGIN"
    "  DELETE FROM nbd_grants WHERE resource_id = old.id; END;",
    /* 10: template deployments (deployment.c): the history entries and
     * their operations, in tables of their own so that no resource list
     * shows them; operations go with their deployment, a resource group's
     * deployments with the group. */
    "CREATE TABLE deployments("
    "  id TEXT PRIMARY KEY COLLATE NOCASE, scope TEXT NOT NULL COLLATE NOCASE, name TEXT NOT NULL,"
    "  location TEXT, state TEXT NOT NULL, op_id TEXT NOT NULL, parent_id TEXT COLLATE NOCASE,"
    "  caller TEXT NOT NULL, document TEXT NOT NULL, template TEXT, cancel INTEGER NOT NULL DEFAULT 0,"
    "  seq INTEGER NOT NULL, start_us INTEGER NOT NULL, end_us INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
    "CREATE INDEX deployments_scope ON deployments(scope, seq);"
    "CREATE INDEX deployments_state ON deployments(state);"
    "CREATE TABLE deployment_operations("
    "  deployment_id TEXT NOT NULL COLLATE NOCASE, id TEXT NOT NULL, state TEXT NOT NULL, target_id TEXT,"
    "  document TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY(deployment_id, id)) WITHOUT ROWID;"
    "CREATE TRIGGER deployment_operations_gone AFTER DELETE ON deployments BEGIN"
    "  DELETE FROM deployment_operations WHERE deployment_id = old.id; END;"
    "CREATE TRIGGER deployments_gone AFTER DELETE ON resources"
    "  WHEN old.type = 'Microsoft.Resources/resourceGroups' BEGIN"
    "  DELETE FROM deployments WHERE scope = old.id; END;",
    /* 11: encryption at rest (region/): a volume's XTS key wrapped by its
     * key domain (NULL: a plaintext volume), the domain (hex id) its key and
     * its restore points belong to, and how far its file is encrypted; the
     * domain whose store holds an image's tree or a capture base's (NULL:
     * the plaintext store of a vmrp from before, which the upgrade empties). */
    "ALTER TABLE volumes ADD COLUMN key_wrapped BLOB;"
    "ALTER TABLE volumes ADD COLUMN domain TEXT;"
    "ALTER TABLE volumes ADD COLUMN crypt_state INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE images ADD COLUMN domain TEXT;"
    "ALTER TABLE capture_bases ADD COLUMN domain TEXT;",
    /* 12: protection policies' scheduler (policy.c): per policy and VM when
     * it is next due and what it last achieved; per slot taken, its restore
     * point and copies until they are final.  due_us is indexed: the
     * scheduler reads only what is due. */
    "CREATE TABLE policy_vms("
    "  policy_id TEXT NOT NULL COLLATE NOCASE, vm_id TEXT NOT NULL COLLATE NOCASE,"
    "  next_slot_us INTEGER NOT NULL, due_us INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    "  last_slot_us INTEGER NOT NULL DEFAULT 0, last_rp_id TEXT, last_rp_us INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT, missed INTEGER NOT NULL DEFAULT 0, regions TEXT,"
    "  PRIMARY KEY(policy_id, vm_id)) WITHOUT ROWID;"
    "CREATE INDEX policy_vms_due ON policy_vms(due_us);"
    "CREATE TABLE policy_slots("
    "  policy_id TEXT NOT NULL COLLATE NOCASE, vm_id TEXT NOT NULL COLLATE NOCASE, slot_us INTEGER NOT NULL,"
    "  rp_id TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, due_us INTEGER NOT NULL,"
    "  copies TEXT, error TEXT,"
    "  created_us INTEGER NOT NULL, changed_us INTEGER NOT NULL,"
    "  PRIMARY KEY(policy_id, vm_id, slot_us)) WITHOUT ROWID;",
    /* 13: protection policies' webhook outbox (notify.c): one row per event
     * and URL until its receiver answers 2xx or it is given up; seq is the
     * order of delivery within a (policy, URL) queue. */
    "CREATE TABLE notify_outbox("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT, policy_id TEXT NOT NULL COLLATE NOCASE, url TEXT NOT NULL,"
    "  event_id TEXT NOT NULL, body TEXT NOT NULL, created_us INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT);"
    "CREATE INDEX notify_outbox_queue ON notify_outbox(policy_id, url, seq);",
    /* 14: retention locks (arm/retention_lock.c): the store itself refuses
     * to delete a restore point whose lock is in force (expiresAt, stored as
     * YYYY-MM-DDTHH:MM:SSZ, after 'now' on this host's clock), its disk
     * restore points (whose image rows, the GC's roots, go with them) and a
     * collection holding it — whatever code path asks. */
    "CREATE TRIGGER retention_lock_rp BEFORE DELETE ON resources"
    "  WHEN old.type = 'Microsoft.Compute/restorePointCollections/restorePoints'"
    "   AND json_extract(old.properties, '$.vmrpRetentionLock.expiresAt') > strftime('%Y-%m-%dT%H:%M:%SZ', 'now')"
    "  BEGIN SELECT RAISE(ABORT, 'retention lock: the restore point is locked'); END;"
    "CREATE TRIGGER retention_lock_drp BEFORE DELETE ON resources"
    "  WHEN old.type = 'Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints'"
    "   AND EXISTS (SELECT 1 FROM resources p WHERE p.id = old.parent_id"
    "     AND json_extract(p.properties, '$.vmrpRetentionLock.expiresAt') > strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))"
    "  BEGIN SELECT RAISE(ABORT, 'retention lock: its restore point is locked'); END;"
    "CREATE TRIGGER retention_lock_rpc BEFORE DELETE ON resources"
    "  WHEN old.type = 'Microsoft.Compute/restorePointCollections'"
    "   AND EXISTS (SELECT 1 FROM resources c WHERE c.parent_id = old.id"
    "     AND c.type = 'Microsoft.Compute/restorePointCollections/restorePoints'"
    "     AND json_extract(c.properties, '$.vmrpRetentionLock.expiresAt') > strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))"
    "  BEGIN SELECT RAISE(ABORT, 'retention lock: a restore point of the collection is locked'); END;",
    /* 15: the region's nodes (node.c): membership, leases on the store's
     * clock (vmrp_now_us()), fencing tokens (id, incarnation). */
    "CREATE TABLE nodes("
    "  id TEXT PRIMARY KEY, incarnation INTEGER NOT NULL, addr TEXT, version TEXT,"
    "  started_us INTEGER NOT NULL, lease_until_us INTEGER NOT NULL, fenced INTEGER NOT NULL DEFAULT 0);",
    /* 16: which node (incarnation) runs an operation's job (operation.c's
     * claims); NULL for those written before, which the next start claims. */
    "ALTER TABLE operations ADD COLUMN owner_node TEXT;"
    "ALTER TABLE operations ADD COLUMN owner_inc INTEGER;"
    "CREATE INDEX operations_owner ON operations(owner_node) WHERE status = 0;",
    /* 17: resource rows are written with upserts (resource.c), which update
     * an existing row in place where INSERT OR REPLACE deleted and inserted
     * it: a VM's attachments follow its row on update too. */
    "CREATE TRIGGER attachments_update AFTER UPDATE ON resources"
    "  WHEN new.type = 'Microsoft.Compute/virtualMachines' BEGIN " ATTACHMENTS_OF("new") " END;",
};

const int meta_sqlite_migration_count = (int)(sizeof meta_sqlite_migrations / sizeof meta_sqlite_migrations[0]);
