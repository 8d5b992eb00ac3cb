/*
 * meta.c — opening the store, per-thread connections, schema migrations and
 * transactions.
 *
 * Connections: SQLite handles must not be used by two threads at once, and a
 * mutex around one handle would serialise all readers.  So each thread opens
 * its own connection on first use (pthread key); WAL lets those readers run
 * alongside one writer.  A thread's connection is closed when the thread
 * exits (the key's destructor): threads come and go (an NBD connection's
 * workers, copy streams), and connections kept for gone threads held two
 * descriptors and a page cache each until the daemon stopped (scripts/soak:
 * ten more a minute).  Every connection is also linked into m->conns so
 * meta_close() can close those of threads still running.
 *
 * Durability: journal_mode=WAL with synchronous=FULL — COMMIT returns only
 * after the WAL is fsync'd, so an acknowledged ARM write survives kill -9 and
 * power loss.  Writers use BEGIN IMMEDIATE so two writers never deadlock on a
 * lock upgrade.
 *
 * Writer queueing: SQLite makes a writer that finds the lock taken sleep and
 * retry (busy_timeout), with sleeps that grow to 100 ms — under 32 concurrent
 * PUTs that put p99 above a second.  Explicit transactions of this process
 * therefore queue on write_lock first and reach SQLite one at a time;
 * busy_timeout remains for other processes (the admin sub-commands).
 *
 * Schema: `schema_version` holds the number of migrations applied; each entry
 * of migrations[] runs once, in order, in its own transaction.  Migrations are
 * append-only: never edit one that has shipped.
 */
#include "meta/internal.h"

#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/failpoint.h"
#include "common/log.h"

struct meta_conn {
  sqlite3 *db;
  struct meta *m;
  struct meta_conn *next;
};

struct meta {
  char *path;
  pthread_key_t key;
  pthread_mutex_t lock; /* protects conns */
  struct meta_conn *conns;
  pthread_mutex_t write_lock; /* held from meta_begin to commit/rollback */
};

/* The attachments of VM row R (new or old in a trigger): the OS disk as lun
 * -1, each data disk under its lun (its place in the list when it has none).
 * Replacing a VM row (INSERT OR REPLACE fires no delete trigger) rewrites them. */
#define ATTACHMENTS_OF(R)                                                                                          \
  "DELETE FROM attachments WHERE vm_id = " R ".id;"                                                                \
  "INSERT OR IGNORE INTO attachments SELECT " R ".id, d, -1 FROM (SELECT json_extract(" R ".properties,"           \
  "  '$.storageProfile.osDisk.managedDisk.id') AS d) WHERE d IS NOT NULL;"                                       \
  "INSERT OR IGNORE INTO attachments SELECT " R ".id, json_extract(value, '$.managedDisk.id'),"                    \
  "  coalesce(json_extract(value, '$.lun'), key) FROM json_each(" R ".properties, '$.storageProfile.dataDisks')"   \
  "  WHERE json_extract(value, '$.managedDisk.id') IS NOT NULL;"

static const char *const migrations[] = {
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
};

/* A failed write's errno: a full file system is told apart (the caller can
 * say so, and retrying once space returns succeeds). */
static int write_errno(int rc) { return (rc & 0xff) == SQLITE_FULL ? -ENOSPC : -EIO; }

static int exec_sql(sqlite3 *db, const char *sql)
{
  char *err = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
  if (rc != SQLITE_OK) {
    log_error("meta", "sql failed: %s (%.80s)", err ? err : "?", sql);
    sqlite3_free(err);
    return write_errno(rc);
  }
  return 0;
}

/* The key's destructor: the exiting thread's connection (unlinked, closed). */
static void close_conn(void *p)
{
  struct meta_conn *c = p;
  struct meta *m = c->m;
  pthread_mutex_lock(&m->lock);
  for (struct meta_conn **pp = &m->conns; *pp; pp = &(*pp)->next) {
    if (*pp == c) {
      *pp = c->next;
      break;
    }
  }
  pthread_mutex_unlock(&m->lock);
  sqlite3_close_v2(c->db);
  free(c);
}

static sqlite3 *open_conn(struct meta *m)
{
  sqlite3 *db = NULL;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(m->path, &db, flags, NULL) != SQLITE_OK) {
    log_error("meta", "cannot open %s: %s", m->path, db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return NULL;
  }
  sqlite3_busy_timeout(db, 10000);
  if (exec_sql(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;") < 0) {
    sqlite3_close(db);
    return NULL;
  }
  struct meta_conn *c = calloc(1, sizeof *c);
  if (!c) {
    sqlite3_close(db);
    return NULL;
  }
  c->db = db;
  c->m = m;
  pthread_mutex_lock(&m->lock);
  c->next = m->conns;
  m->conns = c;
  pthread_mutex_unlock(&m->lock);
  if (pthread_setspecific(m->key, c) != 0) {
    close_conn(c);
    return NULL;
  }
  return db;
}

sqlite3 *meta_db(struct meta *m)
{
  struct meta_conn *c = pthread_getspecific(m->key);
  return c ? c->db : open_conn(m);
}

static int migrate(struct meta *m)
{
  sqlite3 *db = meta_db(m);
  if (!db)
    return -EIO;
  if (exec_sql(db, "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL);") < 0)
    return -EIO;
  int have = 0;
  sqlite3_stmt *st = meta_prepare(m, "SELECT version FROM schema_version");
  if (!st)
    return -EIO;
  if (sqlite3_step(st) == SQLITE_ROW)
    have = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  int want = (int)(sizeof migrations / sizeof migrations[0]);
  if (have > want) {
    log_error("meta", "database schema version %d is newer than this vmrpd (%d)", have, want);
    return -EPROTO;
  }
  for (int v = have; v < want; v++) {
    char bump[96];
    snprintf(bump, sizeof bump, "DELETE FROM schema_version; INSERT INTO schema_version VALUES(%d);", v + 1);
    if (exec_sql(db, "BEGIN IMMEDIATE") < 0)
      return -EIO;
    if (exec_sql(db, migrations[v]) < 0 || exec_sql(db, bump) < 0) {
      exec_sql(db, "ROLLBACK");
      return -EIO;
    }
    if (exec_sql(db, "COMMIT") < 0)
      return -EIO;
    log_info("meta", "schema migrated to version %d", v + 1);
  }
  return 0;
}

int meta_open(const char *path, struct meta **out)
{
  struct meta *m = calloc(1, sizeof *m);
  if (!m)
    return -ENOMEM;
  m->path = strdup(path);
  pthread_mutex_init(&m->lock, NULL);
  pthread_mutex_init(&m->write_lock, NULL);
  if (!m->path || pthread_key_create(&m->key, close_conn) != 0) {
    free(m->path);
    free(m);
    return -ENOMEM;
  }
  int r = migrate(m);
  if (r < 0) {
    meta_close(m);
    return r;
  }
  *out = m;
  return 0;
}

void meta_close(struct meta *m)
{
  if (!m)
    return;
  struct meta_conn *c = m->conns;
  while (c) {
    struct meta_conn *next = c->next;
    sqlite3_close_v2(c->db);
    free(c);
    c = next;
  }
  pthread_key_delete(m->key);
  pthread_mutex_destroy(&m->lock);
  pthread_mutex_destroy(&m->write_lock);
  free(m->path);
  free(m);
}

/* The store whose transaction this thread holds (write_lock taken), if any.
 * Tracked here rather than read from sqlite3_get_autocommit(), which also
 * turns true when SQLite rolls back on its own after an error — the lock
 * must still be released exactly once. */
static _Thread_local struct meta *txn_owner;

bool meta_in_txn(struct meta *m) { return txn_owner == m; }

int meta_begin(struct meta *m)
{
  sqlite3 *db = meta_db(m);
  if (!db)
    return -EIO;
  pthread_mutex_lock(&m->write_lock);
  int r = exec_sql(db, "BEGIN IMMEDIATE");
  if (r < 0)
    pthread_mutex_unlock(&m->write_lock);
  else
    txn_owner = m;
  return r;
}

static void end_txn(struct meta *m, bool commit, int *r)
{
  sqlite3 *db = meta_db(m);
  if (db && commit && (*r = failpoint_err("meta.commit")) == 0)
    *r = exec_sql(db, "COMMIT");
  if (db && (!commit || *r < 0) && !sqlite3_get_autocommit(db))
    exec_sql(db, "ROLLBACK");
  txn_owner = NULL;
  pthread_mutex_unlock(&m->write_lock);
}

int meta_commit(struct meta *m)
{
  int r = -EIO;
  if (meta_in_txn(m))
    end_txn(m, true, &r);
  return r;
}

void meta_rollback(struct meta *m)
{
  int r = 0;
  if (meta_in_txn(m))
    end_txn(m, false, &r);
}

sqlite3_stmt *meta_prepare(struct meta *m, const char *sql)
{
  sqlite3 *db = meta_db(m);
  sqlite3_stmt *st = NULL;
  if (!db)
    return NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
    log_error("meta", "prepare failed: %s (%.80s)", sqlite3_errmsg(db), sql);
    return NULL;
  }
  return st;
}

int meta_exec_stmt(sqlite3_stmt *st)
{
  if (!st)
    return -EIO;
  /* a write outside a transaction commits itself: the same failpoint */
  int r = sqlite3_stmt_readonly(st) || !sqlite3_get_autocommit(sqlite3_db_handle(st)) ? 0 : failpoint_err("meta.commit");
  if (r < 0) {
    sqlite3_finalize(st);
    return r;
  }
  int rc = sqlite3_step(st);
  if ((rc & 0xff) == SQLITE_CONSTRAINT && sqlite3_extended_errcode(sqlite3_db_handle(st)) == SQLITE_CONSTRAINT_TRIGGER) {
    log_warn("meta", "refused: %s", sqlite3_errmsg(sqlite3_db_handle(st))); /* a trigger's rule (retention locks) */
    r = -EPERM;
  } else if (rc == SQLITE_CONSTRAINT || (rc & 0xff) == SQLITE_CONSTRAINT)
    r = -EEXIST;
  else if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
    log_error("meta", "step failed: %s", sqlite3_errmsg(sqlite3_db_handle(st)));
    r = write_errno(rc);
  }
  sqlite3_finalize(st);
  return r;
}

char *meta_col_str(sqlite3_stmt *st, int col)
{
  const unsigned char *s = sqlite3_column_text(st, col);
  return s ? strdup((const char *)s) : NULL;
}

void meta_bind_str(sqlite3_stmt *st, int idx, const char *s)
{
  if (s)
    sqlite3_bind_text(st, idx, s, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null(st, idx);
}

int meta_each_row(sqlite3_stmt *st, int (*row)(sqlite3_stmt *st, void *ctx), void *ctx)
{
  int rc, ret = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW && (ret = row(st, ctx)) == 0)
    ;
  if (!ret && rc != SQLITE_DONE)
    ret = -EIO;
  sqlite3_finalize(st);
  return ret;
}

int meta_one_row(sqlite3_stmt *st, void (*read)(sqlite3_stmt *st, void *out), void *out)
{
  int rc = sqlite3_step(st), r = 0;
  if (rc == SQLITE_ROW)
    read(st, out);
  else
    r = rc == SQLITE_DONE ? -ENOENT : -EIO;
  sqlite3_finalize(st);
  return r;
}
