#!/usr/bin/env bash
# Cross-region copy of restore points through the official clients, the
# documented DR flow with every request sent to ONE endpoint (eastus) until
# eastus is lost:
#  - az CLI (Debian azure-cli 2.45; az rest for the VM, whose az vm commands
#    crash client-side on Debian): a group, two eastus disks written with
#    distinct random data over NBD, a VM with both, an eastus collection
#    (az restore-point collection create --source-id <vm>), a restore point,
#    a westus collection whose source is the eastus collection
#    (collection create -l westus), a copy into it (az restore-point create
#    --source-restore-point), az restore-point show --instance-view until
#    Succeeded with every disk restore point ReplicationState/succeeded at
#    100 %;
#  - the JS SDK (tests/clients/copy.mjs): the same copy flow, once against
#    eastus and once with every request sent to westus (createOrUpdate,
#    beginCreateAndWait with sourceRestorePoint, get with instanceView,
#    sourceRestorePoint, diskRestorePoint.get: replicationState,
#    completionPercent, sourceResourceLocation);
#  - region loss: eastus killed -9, az logged in at westus, az disk create
#    --source <copied disk restore point> -l westus, and the restored disks
#    equal what was written into the eastus disks, byte for byte.
. "$VMRP_SRC/tests/lib/harness.sh"
. "$VMRP_SRC/tests/lib/az.sh"
command -v az >/dev/null || { echo "az CLI missing"; exit 1; }
[ -d "$VMRP_SRC/tests/clients/node_modules/@azure/arm-compute" ] || { echo "npm packages missing"; exit 1; }
# Azure allows 3 copies an hour per collection (vmrp's default); this test makes more.
export VMRP_CONFIG_EXTRA='[copy]\nper_hour = 0'
start_regions
STATUS=; BODY=
RG=xcc
P=/subscriptions/$SUB/resourceGroups/$RG/providers/Microsoft.Compute
VMID=$P/virtualMachines/vm1
SRC=$P/restorePointCollections/src
RP1=$SRC/restorePoints/rp1
DV=api-version=2022-07-02 # what az disk sends

# azj ARGS...: az ARGS -o json into $BODY (empty, and az's stderr shown, when it fails)
azj() { BODY=$(az "$@" -o json 2>"$VAR/az.err") || { cat "$VAR/az.err"; BODY=; }; }
jqb() { echo "$BODY" | jq -r "$@"; }
nbd_of() { az_nbd_uri "$P/disks/$1" tcp; }

az_login "$EAST"
check az group create -n $RG -l eastus -o none "az group create"
for d in os data; do
  azj disk create -g $RG -n $d -l eastus --size-gb 1
  check test "$(jqb .provisioningState)/$(jqb .location)" = Succeeded/eastus "az disk create $d in eastus"
done
python3 - "$VAR/os.img" "$VAR/data.img" <<'PY'
import random, sys
for seed, path in enumerate(sys.argv[1:]):  # distinct random data per disk
    r = random.Random(seed)
    size = 1 << 30
    with open(path, "wb") as f:
        f.truncate(size)
        offsets = [0, size - (1 << 20)] + [r.randrange(size >> 20) << 20 for _ in range(24)]
        for off in offsets:  # 1 MiB extents, the first and the last included
            f.seek(off); f.write(r.randbytes(1 << 20))
        for _ in range(64):  # scattered 4 KiB blocks
            f.seek(r.randrange(size >> 12) << 12); f.write(r.randbytes(4096))
PY
for d in os data; do
  uri=$(nbd_of $d)
  check nbdcopy --flush "$VAR/$d.img" "$uri" "random data written into the $d disk over NBD"
done
check az rest --method put --url "$VMID?api-version=2024-07-01" -o none --body '{"location":"eastus","properties":{
  "hardwareProfile":{"vmSize":"Standard_D2s_v3"},"storageProfile":{
  "osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"'$P'/disks/os"}},
  "dataDisks":[{"lun":0,"createOption":"Attach","managedDisk":{"id":"'$P'/disks/data"}}]}}}' "az rest creates the eastus VM with both disks"
for _ in $(seq 100); do
  state=$(az rest --method get --url "$VMID?api-version=2024-07-01" --query properties.provisioningState -o tsv)
  [ "$state" = Succeeded ] && break
  sleep 0.2
done
check test "$state" = Succeeded "the VM is Succeeded"

azj restore-point collection create -g $RG --collection-name src --source-id "$VMID" -l eastus
check test "$(jqb .provisioningState)/$(jqb .location)" = Succeeded/eastus "az restore-point collection create --source-id <vm> (eastus)"
azj restore-point create -g $RG --collection-name src -n rp1
check test "$(jqb .provisioningState)" = Succeeded "az restore-point create rp1 of the eastus VM"

# ---- the copy: a westus collection whose source is the eastus collection ----
azj restore-point collection create -g $RG --collection-name dst -l westus --source-id "$SRC"
check test "$(jqb .provisioningState)/$(jqb .location)" = Succeeded/westus "az restore-point collection create -l westus --source-id <eastus collection>"
check test "$(jqb .source.id | tr A-Z a-z)/$(jqb .source.location)" = "$(echo "$SRC" | tr A-Z a-z)/eastus" "its source: the eastus collection, in eastus"
azj restore-point create -g $RG --collection-name dst -n c1 --source-restore-point "$RP1"
check test "$(jqb .provisioningState)" = Succeeded "az restore-point create --source-restore-point <eastus rp1> (az waits for the copy)"
check test "$(jqb .sourceRestorePoint.id)" = "$RP1" "it names its source restore point"
for _ in $(seq 120); do
  azj restore-point show -g $RG --collection-name dst -n c1 --instance-view
  [ "$(jqb .provisioningState)" != Creating ] && break
  sleep 1
done
check test "$(jqb .provisioningState)" = Succeeded "az restore-point show --instance-view: Succeeded"
check test "$(jqb '.instanceView.diskRestorePoints | length')" = 2 "with both disk restore points"
check test "$(jqb '[.instanceView.diskRestorePoints[] | "\(.replicationStatus.status.code)/\(.replicationStatus.completionPercent)"] | unique | join(",")')" \
  = ReplicationState/succeeded/100 "each replicationStatus ReplicationState/succeeded, completionPercent 100"
DRP_OS=$(jqb .sourceMetadata.storageProfile.osDisk.diskRestorePoint.id)
DRP_DATA=$(jqb '.sourceMetadata.storageProfile.dataDisks[0].diskRestorePoint.id')
for id in "$DRP_OS" "$DRP_DATA"; do
  check test "${id#"$P/restorePointCollections/dst/restorePoints/c1/diskRestorePoints/"}" != "$id" \
    "sourceMetadata.storageProfile maps the disk to its copy ($id)"
done

# ---- the same copy through the JS SDK, against one endpoint -------------------
if NODE_EXTRA_CA_CERTS=$CA node "$VMRP_SRC/tests/clients/copy.mjs" "$ENDPOINTS" eastus $RG src rp1 westus > "$VAR/sdk.out" 2>&1; then
  cat "$VAR/sdk.out"; ok "JS SDK: a westus copy of the eastus restore point through eastus"
else
  cat "$VAR/sdk.out"; fail "JS SDK copy flow"
fi
# and with every request sent to westus: the eastus collection and restore point are reached through it
if NODE_EXTRA_CA_CERTS=$CA node "$VMRP_SRC/tests/clients/copy.mjs" "$ENDPOINTS" eastus $RG src rp1 westus westus > "$VAR/sdk.out" 2>&1; then
  cat "$VAR/sdk.out"; ok "JS SDK: the same copy flow with every request sent to westus (forwarded to eastus where needed)"
else
  cat "$VAR/sdk.out"; fail "JS SDK copy flow through westus"
fi

# ---- region loss: eastus is gone, the disks are restored in westus ----------
kill9_region eastus
az_login "$WEST" vmrp-west
check test "$(az account show --query id -o tsv)" = "$SUB" "eastus killed: az logged in at westus"
for d in os data; do
  [ $d = os ] && src=$DRP_OS || src=$DRP_DATA
  azj disk create -g $RG -n restored-$d -l westus --source "$src"
  check test "$(jqb .provisioningState)/$(jqb .location)/$(jqb .creationData.createOption)" = Succeeded/westus/Restore \
    "az disk create -l westus --source <copied $d disk restore point>"
  nbdcopy "$(nbd_of restored-$d)" "$VAR/back.img" 2>"$VAR/nbd.err" || cat "$VAR/nbd.err"
  check cmp "$VAR/$d.img" "$VAR/back.img" "the restored $d disk equals what was written into the eastus $d disk, byte for byte"
done
finish
