#!/usr/bin/env bash
# Restore point collections, crash-consistent incremental restore points and
# disk restore points, end to end over ARM and NBD:
#  - write-order consistency across two disks under continuous dependent
#    writes, and a read-modify-write pair on one disk, checked on every
#    restore point read back over NBD;
#  - byte-for-byte against a model for random writes, incremental capture
#    reading only the changed chunks, vmrp:changed listing them;
#  - excludeDisks, idempotent PUT, bad input, limits, delete;
#  - kill -9 during a capture: Failed, never Succeeded, and the next restore
#    point still holds every change.
. "$VMRP_SRC/tests/lib/harness.sh"
/usr/bin/python3 -c 'import nbd' 2>/dev/null || { echo "python3-libnbd missing"; exit 1; }
start_regions
TOKEN=$(token "$EAST")
DV=api-version=2024-03-02
CV=api-version=2024-07-01
RG=$EAST/subscriptions/$SUB/resourceGroups/rp
C=$RG/providers/Microsoft.Compute
RGID=/subscriptions/$SUB/resourceGroups/rp
arm PUT "$RG?api-version=2021-04-01" '{"location":"eastus"}'

for d in os data1 data2; do
  arm PUT "$C/disks/$d?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
  wait_op
done
uri() { nbd_uri "$C/disks/$1"; }
OS=$(uri os); D1=$(uri data1); D2=$(uri data2)
arm PUT "$C/virtualMachines/vm1?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_D2s_v3"},
  "storageProfile":{"osDisk":{"osType":"Linux","name":"os","createOption":"Attach","managedDisk":{"id":"'$RGID'/providers/Microsoft.Compute/disks/os"}},
  "dataDisks":[{"lun":0,"name":"data1","createOption":"Attach","managedDisk":{"id":"'$RGID'/providers/Microsoft.Compute/disks/data1"}},
               {"lun":1,"name":"data2","createOption":"Attach","managedDisk":{"id":"'$RGID'/providers/Microsoft.Compute/disks/data2"}}]}}}'
wait_op
check test "$OP_STATUS" = Succeeded "a VM with an OS disk and two data disks"
VMID=$RGID/providers/Microsoft.Compute/virtualMachines/vm1

arm PUT "$C/restorePointCollections/rpc?api-version=2022-08-01" '{"location":"eastus","properties":{"source":{"id":"'$VMID'"}}}'
expect 201 "" "create a restore point collection (synchronous, 201)"
check test "$(echo "$BODY" | jq -r .properties.source.id)" = "$VMID" "its source is the VM"
RPC=$C/restorePointCollections/rpc

# take NAME [BODY]: PUT a restore point and wait; sets OP_STATUS
take() {
  local body=${2:-'{}'}
  arm PUT "$RPC/restorePoints/$1?$CV" "$body"
  TAKE_STATUS=$STATUS
  wait_op
}
drp_uri() { # RP DISKNAME-PREFIX → NBD URI of that disk restore point
  arm GET "$RPC/restorePoints/$1/diskRestorePoints?$DV"
  nbd_uri "$EAST$(echo "$BODY" | jq -r --arg p "$2_" '.value[] | select(.name | startswith($p)) | .id')"
}

# 1. Write-order consistency under continuous dependent writes.
/usr/bin/python3 "$VMRP_SRC/tests/lib/rp_consistency.py" write "$D1" "$D2" "$VAR/progress" &
writer=$!
for _ in $(seq 100); do [ -s "$VAR/progress" ] && break; sleep 0.05; done
bad=0
for k in $(seq 1 8); do
  acked=$(cat "$VAR/progress")
  take "c$k"
  [ "$TAKE_STATUS" = 201 ] && [ "$OP_STATUS" = Succeeded ] || { bad=$((bad + 1)); echo "c$k: $TAKE_STATUS $OP_STATUS"; continue; }
  /usr/bin/python3 "$VMRP_SRC/tests/lib/rp_consistency.py" check "$(drp_uri c$k data1)" "$(drp_uri c$k data2)" "$acked" \
    > "$VAR/check.out" 2>&1 || { bad=$((bad + 1)); cat "$VAR/check.out"; }
done
kill "$writer"; wait "$writer" 2>/dev/null || true
# ... and the last one restored to new disks (createOption Restore) passes the same check.
arm GET "$RPC/restorePoints/c8/diskRestorePoints?$DV"
drps=$(echo "$BODY" | jq -c '[.value[] | {(.name | split("_")[0]): .id}] | add')
for d in data1 data2; do
  arm PUT "$C/disks/r-$d?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Restore","sourceResourceId":"'"$(echo "$drps" | jq -r ".$d")"'"}}}'
  wait_op
done
/usr/bin/python3 "$VMRP_SRC/tests/lib/rp_consistency.py" check "$(uri r-data1)" "$(uri r-data2)" "$acked" \
  > "$VAR/check-restored.out" 2>&1 || { bad=$((bad + 1)); cat "$VAR/check-restored.out"; }
STATUS=; BODY=
check test "$bad" = 0 "8 restore points under dependent writes: each is write-order consistent across the disks, holds every record acknowledged before its PUT, and keeps the read-modify-write pair whole (last: $(cat "$VAR/check.out")), also once restored to new disks"

# 2. Byte for byte against a model; incremental reads only changed chunks.
head -c 8M /dev/urandom > "$VAR/model.img"; truncate -s 1G "$VAR/model.img"
nbdcopy "$VAR/model.img" "$OS"
take full
check test "$OP_STATUS" = Succeeded "restore point after filling the OS disk"
nbdcopy "$(drp_uri full os)" "$VAR/got.img"
check cmp "$VAR/model.img" "$VAR/got.img" "the OS disk restore point equals the model byte for byte"
for i in 1 2 3 4 5; do
  off=$(( (RANDOM % 16000) * 65536 + RANDOM % 60000 ))
  head -c 5000 /dev/urandom > "$VAR/patch"
  dd if="$VAR/patch" of="$VAR/model.img" bs=1 seek="$off" conv=notrunc status=none
  qemu-io -f raw -c "write -s $VAR/patch $off 5000" "$OS" >/dev/null
done
take incr
arm GET "$RPC/restorePoints/incr/diskRestorePoints?$DV"
read_chunks=$(echo "$BODY" | jq -r '.value[] | select(.name | startswith("os_")) | .properties.vmrpCapture.chunksRead')
check test "$read_chunks" -le 10 "the incremental capture read only the changed chunks ($read_chunks read for 5 writes)"
nbdcopy "$(drp_uri incr os)" "$VAR/got.img"
check cmp "$VAR/model.img" "$VAR/got.img" "the incremental disk restore point equals the model byte for byte"
changed=$(nbdinfo --map=vmrp:changed "$(drp_uri incr os)" | awk '$3 == 1 {n += $2} END {print n + 0}')
check test "$changed" -le $((10 * 65536)) "vmrp:changed lists only the changed chunks ($changed bytes)"
check test "$changed" -ge 5000 "and at least the bytes written"

# 3. excludeDisks, sourceMetadata, instance view, idempotency.
take excl '{"properties":{"excludeDisks":[{"id":"'$RGID'/providers/Microsoft.Compute/disks/data2"}]}}'
check test "$OP_STATUS" = Succeeded "a restore point excluding a disk"
arm GET "$RPC/restorePoints/excl/diskRestorePoints?$DV"
check test "$(echo "$BODY" | jq '[.value[].name | split("_")[0]] | sort | join(",")' -r)" = "data1,os" "it has disk restore points for the included disks only"
arm GET "$RPC/restorePoints/excl?$CV&\$expand=instanceView"
check test "$(echo "$BODY" | jq -r .properties.provisioningState)" = Succeeded "GET restore point"
check test "$(echo "$BODY" | jq -r .properties.consistencyMode)" = CrashConsistent "consistencyMode as achieved: CrashConsistent"
check test "$(echo "$BODY" | jq -r '.properties.sourceMetadata.storageProfile.dataDisks[] | select(.lun == 1) | .diskRestorePoint')" = null \
  "sourceMetadata maps the excluded disk to no disk restore point"
check test "$(echo "$BODY" | jq -r '.properties.sourceMetadata.storageProfile.osDisk.diskRestorePoint.id | test("/diskRestorePoints/os_")')" = true \
  "and the OS disk to its disk restore point"
check test "$(echo "$BODY" | jq -r '.properties.instanceView.statuses[0].code')" = ProvisioningState/succeeded "instance view status"
check test "$(echo "$BODY" | jq '.properties.instanceView.diskRestorePoints | length')" = 2 "instance view lists the disk restore points"
arm PUT "$RPC/restorePoints/excl?$CV" '{"properties":{"excludeDisks":[{"id":"'$RGID'/providers/Microsoft.Compute/disks/data2"}]}}'
expect 200 "" "repeating the same PUT is idempotent"
arm PUT "$RPC/restorePoints/excl?$CV" '{}'
expect 409 OperationNotAllowed "a different body for an existing restore point is refused"
arm GET "$RPC?$CV&\$expand=restorePoints"
check test "$(echo "$BODY" | jq '.properties.restorePoints | length')" = 11 "GET collection with \$expand=restorePoints lists them"

# 4. Bad input: Azure's errors, nothing changed.
before=$(store_dump eastus)
arm PUT "$C/restorePointCollections/nope/restorePoints/x?$CV" '{}'
expect 404 ResourceNotFound "restore point in a missing collection"
arm PUT "$RPC/restorePoints/x?$CV" '{"properties":{"excludeDisks":[{"id":"'$RGID'/providers/Microsoft.Compute/disks/notattached"}]}}'
expect 400 InvalidParameter "excludeDisks naming a disk that is not attached"
arm PUT "$RPC/restorePoints/x?$CV" '{"properties":{"consistencyMode":"ApplicationConsistent"}}'
expect 400 VMAgentStatusCommunicationError "application consistency of a running VM without a guest agent"
arm PUT "$RPC/restorePoints/x?$CV" '{"properties":{"consistencyMode":"Sometimes"}}'
expect 400 InvalidParameter "an unknown consistencyMode"
arm PUT "$RPC/restorePoints/-bad?$CV" '{}'
expect 400 InvalidParameter "an invalid restore point name"
arm PUT "$RPC/restorePoints/x?api-version=2020-06-01" '{}'
expect 400 NoRegisteredProviderFound "an api-version without restore points"
arm PUT "$RPC/restorePoints/x?$CV" '{"properties":{"excludeDisks":"all"}}'
expect 400 InvalidRequestContent "excludeDisks of the wrong JSON type"
arm PUT "$RPC?api-version=2022-08-01" '{"location":"eastus","properties":{"source":{"id":"'$RGID'/providers/Microsoft.Compute/virtualMachines/other"}}}'
expect 409 OperationNotAllowed "changing a collection's source is refused"
arm PUT "$C/restorePointCollections/rpc2?api-version=2022-08-01" '{"location":"eastus","properties":{"source":{"id":"'$RGID'/providers/Microsoft.Compute/virtualMachines/missing"}}}'
expect 404 NotFound "a collection for a missing VM"
arm PUT "$C/restorePointCollections/rpc2?api-version=2022-08-01" '{"location":"westus","properties":{"source":{"id":"'$VMID'"}}}'
expect 201 "" "a westus collection of the eastus VM (for cross-region creation, tests/arm/copy.sh): made in westus"
check test "$(echo "$BODY" | jq -r .properties.source.location)" = eastus "its source is in eastus"
check test "$(store_dump eastus)" = "$before" "none of the refused requests changed the store"

# 5. kill -9 during a capture: Failed, never Succeeded; the changes are not lost.
kill9_region eastus
VMRP_FAILPOINTS=jobs.run.delay_ms=60000 restart_region eastus
TOKEN=$(token "$EAST")
qemu-io -f raw -c "write -P 0x77 512M 64k" "$OS" >/dev/null
python3 -c 'import sys; sys.stdout.buffer.write(b"\x77" * 65536)' |
  dd of="$VAR/model.img" bs=65536 seek=8192 conv=notrunc status=none
arm PUT "$RPC/restorePoints/crash?$CV" '{}'
expect 201 "" "restore point accepted"
kill9_region eastus
restart_region eastus
TOKEN=$(token "$EAST")
arm GET "$RPC/restorePoints/crash?$CV&\$expand=instanceView"
check test "$(echo "$BODY" | jq -r .properties.provisioningState)" = Failed "a capture interrupted by kill -9 ends Failed"
check test "$(echo "$BODY" | jq -r '.properties.instanceView.statuses[0].code')" = ProvisioningState/failed/OperationInterrupted "with the reason in the instance view"
arm GET "$RPC/restorePoints/crash/diskRestorePoints?$DV"
check test "$(echo "$BODY" | jq '[.value[] | select(.properties.vmrpExport)] | length')" = 0 "none of its disk restore points is readable"
take after
check test "$OP_STATUS" = Succeeded "the next restore point succeeds"
nbdcopy "$(drp_uri after os)" "$VAR/got.img"
check cmp "$VAR/model.img" "$VAR/got.img" "and holds the change the failed one did not capture"

# 6. Deletes: a restore point, then the collection (long-running).
arm DELETE "$RPC/restorePoints/c1?$CV"
expect 202 "" "delete a restore point"
wait_op
arm GET "$RPC/restorePoints/c1?$CV"
expect 404 NotFound "it is gone"
u=$(drp_uri c2 data1)
arm DELETE "$RPC?$CV"
expect 202 "" "delete the collection"
wait_op
check test "$OP_STATUS" = Succeeded "collection delete succeeds"
arm GET "$RPC/restorePoints/c2?$CV"
expect 404 NotFound "its restore points are gone"
check bash -c "! nbdinfo '$u' >/dev/null 2>&1" "and their NBD exports"

# 7. Store GC and verify, wired to the metadata: the deleted restore points'
#    trees are garbage, the disks' capture bases stay live.
store_op storeVerify
all=$(echo "$BODY" | jq -r .objectsChecked)
store_op storeGc
expect 200 "" "POST storeGc runs a garbage collection (long-running)"
live=$(echo "$BODY" | jq -r .liveObjects)
check test "$live" -lt "$all" "the deleted restore points' objects are no longer live ($live of $all; packs under half live are rewritten: $(echo "$BODY" | jq -c '{packsRewritten,packsDeleted,bytesFreed}'))"
check test "$live" -gt 0 "and the disks' capture bases stay live"
store_op storeVerify
expect 200 "" "POST storeVerify scrubs the store"
check test "$(echo "$BODY" | jq -r .clean)" = true "the store is clean after GC ($(echo "$BODY" | jq -c '{objectsChecked,badRecords}'))"
arm PUT "$C/restorePointCollections/rpc3?api-version=2022-08-01" '{"location":"eastus","properties":{"source":{"id":"'$VMID'"}}}'
RPC=$C/restorePointCollections/rpc3
qemu-io -f raw -c "write -P 0x99 300M 4k" "$OS" >/dev/null
python3 -c 'import sys; sys.stdout.buffer.write(b"\x99" * 4096)' |
  dd of="$VAR/model.img" bs=4096 seek=76800 conv=notrunc status=none
take post-gc
check test "$OP_STATUS" = Succeeded "an incremental restore point on the bases the GC kept"
nbdcopy "$(drp_uri post-gc os)" "$VAR/got.img"
check cmp "$VAR/model.img" "$VAR/got.img" "is right byte for byte"
"$VMRPD" sp create -c "$EAST_CONF" --name reader --role Reader > "$VAR/reader.json" 2>/dev/null
TOKEN=$(token "$EAST" "$(jq -r .clientId "$VAR/reader.json")" "$(jq -r .clientSecret "$VAR/reader.json")")
arm POST "$EAST/subscriptions/$SUB/providers/Microsoft.Vmrp/storeGc?api-version=2024-03-01"
expect 403 AuthorizationFailed "a Reader cannot start a GC"
# 8. kill -9 in the middle of a GC (failpoint: the daemon dies at the GC's
#    "committed" step): the GC resumes after the restart, the store stays
#    clean, restore points read right.
kill9_region eastus
VMRP_FAILPOINTS=store.gc.crash=5 restart_region eastus
TOKEN=$(token "$EAST")
pid=$(region_pid eastus)
arm POST "$EAST/subscriptions/$SUB/providers/Microsoft.Vmrp/storeGc?api-version=2024-03-01"
expect 202 "" "GC started on a daemon that will die in it"
gc_loc=$(header Location)
for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
check bash -c "! kill -0 $pid 2>/dev/null" "the daemon died inside the GC"
restart_region eastus
TOKEN=$(token "$EAST")
for _ in $(seq 300); do arm GET "$gc_loc"; [ "$STATUS" != 202 ] && break; sleep 0.1; done
expect 200 "" "the interrupted GC resumes and completes after the restart"
store_op storeVerify
check test "$(echo "$BODY" | jq -r .clean)" = true "the store is clean"
nbdcopy "$(drp_uri post-gc os)" "$VAR/got.img"
check cmp "$VAR/model.img" "$VAR/got.img" "the restore point still reads right byte for byte"

# 9. A stopped VM is consistent: ApplicationConsistent is achieved.
arm POST "$C/virtualMachines/vm1/powerOff?$CV"
wait_op
take stopped
check test "$OP_STATUS" = Succeeded "a restore point of a stopped VM"
arm GET "$RPC/restorePoints/stopped?$CV"
check test "$(echo "$BODY" | jq -r .properties.consistencyMode)" = ApplicationConsistent "is ApplicationConsistent"
take stopped-app '{"properties":{"consistencyMode":"ApplicationConsistent"}}'
check test "$OP_STATUS" = Succeeded "ApplicationConsistent may be asked of a stopped VM"
arm POST "$C/virtualMachines/vm1/start?$CV"
wait_op

# 10. A disk detached between two restore points, then attached again.
DISKS="$RGID/providers/Microsoft.Compute/disks"
arm PATCH "$C/virtualMachines/vm1?$CV" '{"properties":{"storageProfile":{"dataDisks":[{"lun":0,"createOption":"Attach","managedDisk":{"id":"'$DISKS'/data1"}}]}}}'
[ "$STATUS" = 202 ] || [ -n "$(header Azure-AsyncOperation)" ] && wait_op
take detached
arm GET "$RPC/restorePoints/detached/diskRestorePoints?$DV"
check test "$(echo "$BODY" | jq '[.value[].name | split("_")[0]] | sort | join(",")' -r)" = "data1,os" "a detached disk is not in the next restore point"
qemu-io -f raw -c "write -P 0x5d 16M 64k" "$D2" >/dev/null
arm PATCH "$C/virtualMachines/vm1?$CV" '{"properties":{"storageProfile":{"dataDisks":[{"lun":0,"createOption":"Attach","managedDisk":{"id":"'$DISKS'/data1"}},{"lun":1,"createOption":"Attach","managedDisk":{"id":"'$DISKS'/data2"}}]}}}'
[ "$STATUS" = 202 ] || [ -n "$(header Azure-AsyncOperation)" ] && wait_op
take reattached
arm GET "$RPC/restorePoints/reattached/diskRestorePoints?$DV"
check test "$(echo "$BODY" | jq -r '.value[] | select(.name | startswith("data2_")) | .properties.vmrpCapture.chunksRead')" = 1 \
  "after re-attaching, the disk's restore point is incremental: it reads only the chunk written while detached"
nbdcopy "$D2" "$VAR/d2.img"
nbdcopy "$(drp_uri reattached data2)" "$VAR/got.img"
check cmp "$VAR/d2.img" "$VAR/got.img" "and equals the disk byte for byte"

# 11. A disk grown between two restore points: diff and content still right;
#     the store grows by about what changed.
arm PATCH "$C/disks/os?$DV" '{"properties":{"diskSizeGB":2}}'
expect 200 "" "grow the OS disk to 2 GiB"
truncate -s 2G "$VAR/model.img"
head -c 65536 /dev/urandom > "$VAR/patch"
dd if="$VAR/patch" of="$VAR/model.img" bs=65536 seek=24576 conv=notrunc status=none # at 1.5 GiB
qemu-io -f raw -c "write -s $VAR/patch 1536M 65536" "$OS" >/dev/null
take grown
arm GET "$RPC/restorePoints/grown/diskRestorePoints?$DV"
os_drp=$(echo "$BODY" | jq -c '.value[] | select(.name | startswith("os_")) | .properties.vmrpCapture')
check test "$(echo "$os_drp" | jq -r .sizeBytes)" = 2147483648 "the new restore point has the new size"
check test "$(echo "$os_drp" | jq -r .bytesStored)" -le $((4 * 65536 + 65536)) "it stored about what changed ($(echo "$os_drp" | jq -r .bytesStored) bytes for 64 KiB written)"
nbdcopy "$(drp_uri grown os)" "$VAR/got.img"
check cmp "$VAR/model.img" "$VAR/got.img" "and reads back as the grown disk, byte for byte"
changed=$(nbdinfo --map=vmrp:changed "$(drp_uri grown os)" | awk '$3 == 1 && $1 >= 1073741824 {n += $2} END {print n + 0}')
check test "$changed" -ge 65536 "vmrp:changed reports the change in the grown area"
finish
