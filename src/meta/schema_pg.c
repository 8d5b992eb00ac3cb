/*
 * schema_pg.c — the PostgreSQL driver's schema: its migrations, in
 * PostgreSQL 15's dialect (pg.c runs them).  Migration 1 is the schema
 * SQLite's migrations 1–17 reach (schema_sqlite.c), with the same tables,
 * columns and rules (SCALE-OUT.md §3.7):
 *  - SQLite's NOCASE keys are citext: case-insensitive, ASCII only in a
 *    database whose LC_CTYPE is C (pg.c checks it), and every text column
 *    is COLLATE "C", so ORDER BY and the range scans of resource.c
 *    (`id >= 'p/' AND id < 'p0'`) order bytes as SQLite does;
 *  - INTEGER is bigint, REAL double precision, BLOB bytea;
 *  - JSON stays text (replies are byte-exact); what SQLite computes from it
 *    with json_extract, PostgreSQL computes with jsonb through vmrp_json(),
 *    which reads malformed text as NULL: the generated columns are STORED
 *    (PostgreSQL 15 has no virtual ones) and an insert must not fail on a
 *    document no query asks about;
 *  - SQLite's triggers are PL/pgSQL triggers doing the same: the rows that
 *    go with a resource, image, volume or deployment, a VM's attachments on
 *    insert and update, and the retention locks, whose refusal raises
 *    SQLSTATE VR001 (pg.c: -EPERM) and compares expiresAt with the server's
 *    clock at the statement.
 *
 * `schema_version` holds the number of migrations applied; each entry runs
 * once, in order, in its own transaction.  Migrations are append-only: never
 * edit one that has shipped.
 */
#include "meta/pg.h"

#define TEXT "text COLLATE \"C\""
#define NOCASE "citext COLLATE \"C\""
#define RP_TYPE "'Microsoft.Compute/restorePointCollections/restorePoints'"

const char *const meta_pg_migrations[] = {
    /* 1: the schema of SQLite's migration 17 */
    "CREATE EXTENSION IF NOT EXISTS citext;"
    /* the store's clock in SQL (node.c's leases): the server's, whichever
     * node asks (SQLite's is a function of its host) */
    "CREATE FUNCTION vmrp_now_us() RETURNS bigint LANGUAGE sql VOLATILE AS $$"
    "  SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint $$;"
    "CREATE FUNCTION vmrp_json(doc text) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$"
    "  BEGIN RETURN doc::jsonb; EXCEPTION WHEN data_exception THEN RETURN NULL; END $$;"
    "CREATE TABLE resources("
    "  id " NOCASE " PRIMARY KEY, type " NOCASE " NOT NULL, name " TEXT " NOT NULL,"
    "  parent_id " NOCASE " NOT NULL, location " TEXT ", tags " TEXT ", properties " TEXT ", extra " TEXT ","
    "  provisioning_state " TEXT ", etag " TEXT " NOT NULL, created_us bigint NOT NULL, changed_us bigint NOT NULL,"
    "  failure_code " TEXT ","
    "  power_state " TEXT " GENERATED ALWAYS AS (coalesce(vmrp_json(extra) ->> 'powerState',"
    "    vmrp_json(properties) ->> 'powerState')) STORED,"
    "  source_id " NOCASE " GENERATED ALWAYS AS ((vmrp_json(properties) #>> '{source,id}')::citext) STORED,"
    "  agent_socket " TEXT " GENERATED ALWAYS AS (CASE WHEN type = 'Microsoft.Compute/virtualMachines/extensions'"
    "    AND lower(vmrp_json(properties) ->> 'publisher') = 'vmrp'"
    "    AND lower(vmrp_json(properties) ->> 'type') = 'qemuguestagent'"
    "    THEN vmrp_json(properties) #>> '{settings,socket}' END) STORED);"
    "CREATE INDEX resources_parent ON resources(parent_id, type, id);"
    "CREATE INDEX resources_source ON resources(source_id) WHERE source_id IS NOT NULL;"
    "CREATE TABLE operations("
    "  id " TEXT " PRIMARY KEY, subscription " TEXT " NOT NULL, provider " TEXT " NOT NULL,"
    "  location " TEXT " NOT NULL, kind " TEXT " NOT NULL, resource_id " TEXT ","
    "  status bigint NOT NULL, percent double precision NOT NULL DEFAULT 0,"
    "  start_us bigint NOT NULL, end_us bigint, error " TEXT ", result " TEXT ", payload " TEXT ","
    "  owner_node " TEXT ", owner_inc bigint);"
    "CREATE INDEX operations_status ON operations(status);"
    "CREATE INDEX operations_owner ON operations(owner_node) WHERE status = 0;"
    "CREATE TABLE nodes("
    "  id " TEXT " PRIMARY KEY, incarnation bigint NOT NULL, addr " TEXT ", version " TEXT ","
    "  started_us bigint NOT NULL, lease_until_us bigint NOT NULL, fenced bigint NOT NULL DEFAULT 0);"
    "CREATE TABLE principals("
    "  client_id " NOCASE " PRIMARY KEY, object_id " NOCASE " NOT NULL UNIQUE,"
    "  name " TEXT " NOT NULL, salt bytea NOT NULL, hash bytea NOT NULL, created_us bigint NOT NULL);"
    "CREATE TABLE role_assignments("
    "  object_id " NOCASE " NOT NULL, scope " NOCASE " NOT NULL, role " TEXT " NOT NULL,"
    "  PRIMARY KEY(object_id, scope));"
    "CREATE TABLE volumes("
    "  id " TEXT " PRIMARY KEY, resource_id " NOCASE " NOT NULL UNIQUE, size bigint NOT NULL,"
    "  state bigint NOT NULL, clean bigint NOT NULL DEFAULT 0, created_us bigint NOT NULL,"
    "  key_wrapped bytea, domain " TEXT ", crypt_state bigint NOT NULL DEFAULT 0);"
    "CREATE TABLE images("
    "  id " NOCASE " PRIMARY KEY, rp_id " NOCASE " NOT NULL, disk_id " TEXT " NOT NULL,"
    "  volume_id " TEXT " NOT NULL, previous_id " TEXT ", state bigint NOT NULL, root " TEXT ","
    "  size bigint NOT NULL DEFAULT 0, percent bigint NOT NULL DEFAULT 0, chunks_read bigint NOT NULL DEFAULT 0,"
    "  bytes_stored bigint NOT NULL DEFAULT 0, domain " TEXT ");"
    "CREATE INDEX images_rp ON images(rp_id, id);"
    "CREATE TABLE capture_bases("
    "  volume_id " TEXT " PRIMARY KEY, root " TEXT " NOT NULL, size bigint NOT NULL, image_id " TEXT " NOT NULL,"
    "  domain " TEXT ");"
    "CREATE TABLE attachments("
    "  vm_id " NOCASE " NOT NULL, disk_id " NOCASE " NOT NULL, lun bigint NOT NULL, PRIMARY KEY(vm_id, disk_id));"
    "CREATE INDEX attachments_disk ON attachments(disk_id);"
    "CREATE TABLE grants("
    "  id " TEXT " PRIMARY KEY, resource_id " NOCASE " NOT NULL, family " NOCASE " NOT NULL,"
    "  access bigint NOT NULL, created_us bigint NOT NULL, expires_us bigint NOT NULL);"
    "CREATE INDEX grants_resource ON grants(resource_id);"
    "CREATE INDEX grants_family ON grants(family);"
    "CREATE TABLE secrets(name " TEXT " PRIMARY KEY, value bytea NOT NULL, created_us bigint NOT NULL);"
    "CREATE TABLE agent_freezes(vm_id " NOCASE " PRIMARY KEY, socket " TEXT " NOT NULL, since_us bigint NOT NULL);"
    "CREATE TABLE image_copies("
    "  image_id " NOCASE " PRIMARY KEY, source_id " TEXT " NOT NULL, source_location " TEXT " NOT NULL,"
    "  root " TEXT " NOT NULL, size bigint NOT NULL DEFAULT 0, covered bigint NOT NULL DEFAULT 0,"
    "  bytes_received bigint NOT NULL DEFAULT 0, records_received bigint NOT NULL DEFAULT 0,"
    "  bytes_stored bigint NOT NULL DEFAULT 0, refetched bigint NOT NULL DEFAULT 0,"
    "  attempts bigint NOT NULL DEFAULT 0, error " TEXT ", started_us bigint NOT NULL, changed_us bigint NOT NULL);"
    "CREATE TABLE nbd_grants("
    "  id " TEXT " PRIMARY KEY, resource_id " NOCASE " NOT NULL, export " TEXT " NOT NULL,"
    "  readonly bigint NOT NULL, secret_sha256 bytea NOT NULL, created_us bigint NOT NULL,"
    "  expires_us bigint NOT NULL);"
    "CREATE INDEX nbd_grants_resource ON nbd_grants(resource_id);"
    "CREATE TABLE deployments("
    "  id " NOCASE " PRIMARY KEY, scope " NOCASE " NOT NULL, name " TEXT " NOT NULL, location " TEXT ","
    "  state " TEXT " NOT NULL, op_id " TEXT " NOT NULL, parent_id " NOCASE ", caller " TEXT " NOT NULL,"
    "  document " TEXT " NOT NULL, template " TEXT ", cancel bigint NOT NULL DEFAULT 0, seq bigint NOT NULL,"
    "  start_us bigint NOT NULL, end_us bigint NOT NULL DEFAULT 0);"
    "CREATE INDEX deployments_scope ON deployments(scope, seq);"
    "CREATE INDEX deployments_state ON deployments(state);"
    "CREATE TABLE deployment_operations("
    "  deployment_id " NOCASE " NOT NULL, id " TEXT " NOT NULL, state " TEXT " NOT NULL, target_id " TEXT ","
    "  document " TEXT " NOT NULL, seq bigint NOT NULL, PRIMARY KEY(deployment_id, id));"
    "CREATE TABLE policy_vms("
    "  policy_id " NOCASE " NOT NULL, vm_id " NOCASE " NOT NULL, next_slot_us bigint NOT NULL,"
    "  due_us bigint NOT NULL, attempts bigint NOT NULL DEFAULT 0, last_slot_us bigint NOT NULL DEFAULT 0,"
    "  last_rp_id " TEXT ", last_rp_us bigint NOT NULL DEFAULT 0, last_error " TEXT ","
    "  missed bigint NOT NULL DEFAULT 0, regions " TEXT ", PRIMARY KEY(policy_id, vm_id));"
    "CREATE INDEX policy_vms_due ON policy_vms(due_us);"
    "CREATE TABLE policy_slots("
    "  policy_id " NOCASE " NOT NULL, vm_id " NOCASE " NOT NULL, slot_us bigint NOT NULL,"
    "  rp_id " TEXT " NOT NULL, state " TEXT " NOT NULL, attempts bigint NOT NULL DEFAULT 0,"
    "  due_us bigint NOT NULL, copies " TEXT ", error " TEXT ", created_us bigint NOT NULL,"
    "  changed_us bigint NOT NULL, PRIMARY KEY(policy_id, vm_id, slot_us));"
    "CREATE TABLE notify_outbox("
    "  seq bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, policy_id " NOCASE " NOT NULL,"
    "  url " TEXT " NOT NULL, event_id " TEXT " NOT NULL, body " TEXT " NOT NULL, created_us bigint NOT NULL,"
    "  attempts bigint NOT NULL DEFAULT 0, last_error " TEXT ");"
    "CREATE INDEX notify_outbox_queue ON notify_outbox(policy_id, url, seq);"
    /* what goes with a resource's row (SQLite: images_gone, grants_gone,
     * nbd_grants_gone, attachments_gone, extensions_gone, deployments_gone) */
    "CREATE FUNCTION vmrp_resource_gone() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    "  DELETE FROM images WHERE id = OLD.id;"
    "  DELETE FROM grants WHERE resource_id = OLD.id;"
    "  DELETE FROM nbd_grants WHERE resource_id = OLD.id;"
    "  IF OLD.type = 'Microsoft.Compute/virtualMachines' THEN"
    "    DELETE FROM attachments WHERE vm_id = OLD.id;"
    "    DELETE FROM resources WHERE parent_id = OLD.id AND type = 'Microsoft.Compute/virtualMachines/extensions';"
    "  ELSIF OLD.type = 'Microsoft.Resources/resourceGroups' THEN"
    "    DELETE FROM deployments WHERE scope = OLD.id;"
    "  END IF;"
    "  RETURN NULL; END $$;"
    "CREATE TRIGGER resources_gone AFTER DELETE ON resources FOR EACH ROW EXECUTE FUNCTION vmrp_resource_gone();"
    /* a VM's attachments, from its row (SQLite: attachments_put and
     * attachments_update, ATTACHMENTS_OF): the OS disk as lun -1, each data
     * disk under its lun or its place in the list */
    "CREATE FUNCTION vmrp_vm_written() RETURNS trigger LANGUAGE plpgsql AS $$"
    "  DECLARE doc jsonb := vmrp_json(NEW.properties); disks jsonb := doc #> '{storageProfile,dataDisks}';"
    "  BEGIN"
    "  DELETE FROM attachments WHERE vm_id = NEW.id;"
    "  INSERT INTO attachments SELECT NEW.id, d, -1 FROM"
    "    (SELECT doc #>> '{storageProfile,osDisk,managedDisk,id}' AS d) os WHERE d IS NOT NULL ON CONFLICT DO NOTHING;"
    "  IF jsonb_typeof(disks) = 'array' THEN"
    "    INSERT INTO attachments SELECT NEW.id, e.value #>> '{managedDisk,id}',"
    "      coalesce(CASE WHEN jsonb_typeof(e.value -> 'lun') = 'number' THEN (e.value ->> 'lun')::numeric::bigint END,"
    "        e.ord - 1)"
    "      FROM jsonb_array_elements(disks) WITH ORDINALITY AS e(value, ord)"
    "      WHERE e.value #>> '{managedDisk,id}' IS NOT NULL ON CONFLICT DO NOTHING;"
    "  END IF;"
    "  RETURN NULL; END $$;"
    "CREATE TRIGGER attachments_put AFTER INSERT OR UPDATE ON resources FOR EACH ROW"
    "  WHEN (NEW.type = 'Microsoft.Compute/virtualMachines') EXECUTE FUNCTION vmrp_vm_written();"
    /* retention locks (SQLite: retention_lock_rp, _drp, _rpc) */
    "CREATE FUNCTION vmrp_locked(props text) RETURNS boolean LANGUAGE sql STABLE AS $$"
    "  SELECT (vmrp_json(props) #>> '{vmrpRetentionLock,expiresAt}') COLLATE \"C\""
    "    > to_char(statement_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') $$;"
    "CREATE FUNCTION vmrp_retention_lock() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    "  IF OLD.type = " RP_TYPE " AND vmrp_locked(OLD.properties) THEN"
    "    RAISE EXCEPTION 'retention lock: the restore point is locked' USING ERRCODE = 'VR001';"
    "  ELSIF OLD.type = 'Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints'"
    "    AND EXISTS (SELECT 1 FROM resources p WHERE p.id = OLD.parent_id AND vmrp_locked(p.properties)) THEN"
    "    RAISE EXCEPTION 'retention lock: its restore point is locked' USING ERRCODE = 'VR001';"
    "  ELSIF OLD.type = 'Microsoft.Compute/restorePointCollections' AND EXISTS (SELECT 1 FROM resources c"
    "    WHERE c.parent_id = OLD.id AND c.type = " RP_TYPE " AND vmrp_locked(c.properties)) THEN"
    "    RAISE EXCEPTION 'retention lock: a restore point of the collection is locked' USING ERRCODE = 'VR001';"
    "  END IF;"
    "  RETURN OLD; END $$;"
    "CREATE TRIGGER retention_lock BEFORE DELETE ON resources FOR EACH ROW EXECUTE FUNCTION vmrp_retention_lock();"
    /* the rows that go with an image, a volume, a deployment (SQLite:
     * image_copies_gone, capture_bases_gone, deployment_operations_gone) */
    "CREATE FUNCTION vmrp_image_gone() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    "  DELETE FROM image_copies WHERE image_id = OLD.id; RETURN NULL; END $$;"
    "CREATE TRIGGER image_copies_gone AFTER DELETE ON images FOR EACH ROW EXECUTE FUNCTION vmrp_image_gone();"
    "CREATE FUNCTION vmrp_volume_gone() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    "  DELETE FROM capture_bases WHERE volume_id = OLD.id; RETURN NULL; END $$;"
    "CREATE TRIGGER capture_bases_gone AFTER DELETE ON volumes FOR EACH ROW EXECUTE FUNCTION vmrp_volume_gone();"
    "CREATE FUNCTION vmrp_deployment_gone() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    "  DELETE FROM deployment_operations WHERE deployment_id = OLD.id; RETURN NULL; END $$;"
    "CREATE TRIGGER deployment_operations_gone AFTER DELETE ON deployments FOR EACH ROW"
    "  EXECUTE FUNCTION vmrp_deployment_gone();",
};

const int meta_pg_migration_count = (int)(sizeof meta_pg_migrations / sizeof meta_pg_migrations[0]);
