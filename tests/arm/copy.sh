#!/usr/bin/env bash
# Cross-region copies of restore points, two real regions on loopback, every
# request sent to ONE endpoint (eastus; the westus resources are forwarded):
#  - the documented flow (a westus collection whose source is an eastus
#    collection, a restore point there with sourceRestorePoint): 201 +
#    operation, live replicationStatus, then disks restored in westus equal
#    the eastus disks byte for byte;
#  - the next copy is incremental: bytes on the wire ≈ what the target stores
#    new (the changed chunks' compressed bytes), far below a full copy;
#  - copy of a copy back to eastus sends nothing (it has every object), copies
#    out of order and two copies at once succeed; a copy outlives its source
#    restore point (deleted, a GC run at the source) with its sourceMetadata;
#  - resume: kill -9 of the target, then of the source, mid-copy; the copy
#    completes without starting over (bytes counted), completionPercent never
#    goes down, and a disk cannot be restored from the incomplete copy;
#  - a damaged record from the source (failpoint) is rejected, refetched, and
#    the copy is right; a source down past the deadline fails the copy with an
#    error per disk; a copy in progress can be deleted, and stops;
#  - region loss: eastus killed, disks restored in westus from the copies;
#  - repair: bytes flipped in a westus pack; storeVerify {"repair": true}
#    fetches the damaged objects from eastus, rewrites the pack, is clean;
#  - bad input: a source in the same region, a missing source, a VM
#    collection, a restore point of another collection, unauthenticated or
#    forged peer requests — each a clear error, nothing created; Azure's 3
#    copies an hour per collection.
. "$VMRP_SRC/tests/lib/harness.sh"
export VMRP_CONFIG_EXTRA='[copy]\nper_hour = 0\ndeadline = 600'
start_regions
TOKEN=$(token "$EAST")
CV=api-version=2024-07-01
DV=api-version=2024-03-02
GV=api-version=2021-04-01
G=/subscriptions/$SUB/resourceGroups/xc
C=$EAST$G/providers/Microsoft.Compute
P=$G/providers/Microsoft.Compute
MIB=1048576
BASE=$EAST

arm PUT "$EAST$G?$GV" '{"location":"eastus"}'
expect 201 "" "resource group"
mkdisk() { # NAME SIZE_GB [LOCATION]
  arm PUT "$C/disks/$1?$DV" '{"location":"'"${3:-eastus}"'","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":'$2'}}'
  wait_op 1200
}
nbd_of() { nbd_uri "$C/disks/$1" tcp; }
mkdisk os 1; mkdisk data 2
OS=$(nbd_of os); DATA=$(nbd_of data)
python3 - "$VAR/os.img" "$VAR/data.img" <<'PY'
import random, sys
r = random.Random(7)
for path, size, n in ((sys.argv[1], 1 << 30, 40), (sys.argv[2], 2 << 30, 80)):
    with open(path, "wb") as f:
        f.truncate(size)
        for _ in range(n):  # scattered 1 MiB extents, half of them compressible
            f.seek(r.randrange(size >> 20) << 20)
            f.write(r.randbytes(4096) * 256 if r.random() < 0.5 else r.randbytes(1 << 20))
PY
nbdcopy --flush "$VAR/os.img" "$OS"; nbdcopy --flush "$VAR/data.img" "$DATA"
mkvm() { # NAME OS_DISK DATA_DISK: an eastus VM with both attached
  arm PUT "$C/virtualMachines/$1?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},
    "storageProfile":{"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"'$P'/disks/'$2'"}},
    "dataDisks":[{"lun":0,"createOption":"Attach","managedDisk":{"id":"'$P'/disks/'$3'"}}]}}}'
  wait_op 1200
}
mkvm vm1 os data
arm PUT "$C/restorePointCollections/src?$CV" '{"location":"eastus","properties":{"source":{"id":"'$P'/virtualMachines/vm1"}}}'
expect 201 "" "source collection in eastus"
rp() { # NAME: a restore point of vm1 in src, and copies of the disks as they are now
  arm PUT "$C/restorePointCollections/src/restorePoints/$1?$CV" '{}'
  wait_op 1200
  check test "$OP_STATUS" = Succeeded "restore point $1 of the eastus VM"
  cp --sparse=always "$VAR/os.img" "$VAR/$1.os.img"; cp --sparse=always "$VAR/data.img" "$VAR/$1.data.img"
}
rp rp1

# ---- the documented flow --------------------------------------------------
arm PUT "$C/restorePointCollections/dst?$CV" '{"location":"westus","properties":{"source":{"id":"'$P'/restorePointCollections/src"}}}'
expect 201 "" "a westus collection whose source is the eastus collection (sent to eastus)"
check test "$(echo "$BODY" | jq -r .properties.source.location)/$(echo "$BODY" | jq -r .location)" = eastus/westus "source.location eastus, location westus"
check test "$(sqlite3 "$VAR/westus/meta.db" "SELECT count(*) FROM resources WHERE name = 'dst'")" = 1 "it lives in westus"
copy() { # COLL NAME SOURCE_RP_ID
  arm PUT "$C/restorePointCollections/$1/restorePoints/$2?$CV" '{"properties":{"sourceRestorePoint":{"id":"'"$3"'"}}}'
}
RP1=$P/restorePointCollections/src/restorePoints/rp1
copy dst c1 "$RP1"
expect 201 "" "copy of rp1: 201"
check test "$(echo "$BODY" | jq -r .properties.provisioningState)" = Creating "provisioningState Creating"
check test "$(echo "$BODY" | jq -r .properties.sourceRestorePoint.id)" = "$RP1" "sourceRestorePoint as given"
check test "$(echo "$BODY" | jq -r .properties.sourceMetadata.storageProfile.dataDisks[0].diskRestorePoint.sourceDiskRestorePoint.id | grep -c /restorePoints/rp1/)" = 1 "sourceMetadata maps the data disk to its copy and names the source's"
AAO=$(header Azure-AsyncOperation)
check test "${AAO#"$WEST/"}" != "$AAO" "its operation is polled at westus"
wait_op 3000
check test "$OP_STATUS" = Succeeded "the copy's operation succeeds"
iv() { arm GET "$C/restorePointCollections/$1/restorePoints/$2?$CV&\$expand=instanceView"; }
iv dst c1
check test "$(echo "$BODY" | jq -r .properties.provisioningState)" = Succeeded "c1 Succeeded"
check test "$(echo "$BODY" | jq -r '[.properties.instanceView.diskRestorePoints[] | "\(.replicationStatus.status.code)/\(.replicationStatus.completionPercent)"] | unique | join(",")')" = ReplicationState/succeeded/100 "both disk restore points: ReplicationState/succeeded, 100 %"
C1_BYTES=$(echo "$BODY" | jq '[.properties.instanceView.diskRestorePoints[].vmrpReplication.bytesReceived] | add')
C1_STORED=$(echo "$BODY" | jq '[.properties.instanceView.diskRestorePoints[].vmrpReplication.bytesStored] | add')
check test "$C1_BYTES" -le $((C1_STORED + C1_STORED / 100 + 65536)) "the full copy sent what it stored, no more ($C1_BYTES bytes on the wire, $C1_STORED stored)"
drp_of() { # COLL RP DISK → the disk restore point id of DISK
  arm GET "$BASE$P/restorePointCollections/$1/restorePoints/$2?$CV"
  if [ "$3" = os ]; then echo "$BODY" | jq -r .properties.sourceMetadata.storageProfile.osDisk.diskRestorePoint.id
  else echo "$BODY" | jq -r .properties.sourceMetadata.storageProfile.dataDisks[0].diskRestorePoint.id; fi
}
arm GET "$EAST$(drp_of dst c1 data)?$DV"
check test "$(echo "$BODY" | jq -r '"\(.properties.replicationState)/\(.properties.completionPercent)/\(.properties.sourceResourceLocation)"')" = Succeeded/100/eastus "the copied disk restore point: replicationState, completionPercent, sourceResourceLocation"
restored=0
restore_cmp() { # COLL RP DISK MODEL BASE DESC: a westus disk restored from the copy equals MODEL
  restored=$((restored + 1))
  local d=r$restored
  arm PUT "$5$P/disks/$d?$DV" '{"location":"westus","properties":{"creationData":{"createOption":"Restore","sourceResourceId":"'"$(drp_of "$1" "$2" "$3")"'"}}}'
  wait_op 1200
  nbdcopy "$(nbd_uri "$5$P/disks/$d" tcp)" "$VAR/back" 2>/dev/null
  check cmp "$4" "$VAR/back" "$6"
}
restore_cmp dst c1 os "$VAR/rp1.os.img" "$EAST" "a westus disk restored from the copy of rp1's OS disk equals it byte for byte"
restore_cmp dst c1 data "$VAR/rp1.data.img" "$EAST" "and of its data disk"

# ---- incremental ------------------------------------------------------------
scatter() { # SEED COUNT LEN [CLUSTER]: changes the data disk and its model
  python3 "$VMRP_SRC/tests/lib/scatter.py" "$VAR/data.img" "$@" | qemu-io -f raw "$DATA" >/dev/null
}
scatter 11 300 4096           # scattered 4 KiB writes
scatter 12 8 $MIB $((64 * MIB)) # clustered 1 MiB writes
rp rp2
copy dst c2 "$P/restorePointCollections/src/restorePoints/rp2"
expect 201 "" "copy of rp2"
wait_op 3000
iv dst c2
check test "$(echo "$BODY" | jq -r .properties.provisioningState)" = Succeeded "c2 Succeeded"
read -r C2_BYTES C2_STORED < <(echo "$BODY" | jq -r '[([.properties.instanceView.diskRestorePoints[].vmrpReplication.bytesReceived] | add), ([.properties.instanceView.diskRestorePoints[].vmrpReplication.bytesStored] | add)] | @tsv')
# 300 changed 64 KiB chunks of random data and 8 MiB: about 27 MiB new
check test "$C2_BYTES" -le $((C2_STORED * 11 / 10 + 65536)) "the incremental copy sent ≈ what was new ($C2_BYTES on the wire, $C2_STORED stored)"
check test "$C2_STORED" -le $((32 * MIB)) "and what was new is the changed chunks (≤ 32 MiB of $((C1_STORED / MIB)) MiB)"
restore_cmp dst c2 data "$VAR/rp2.data.img" "$EAST" "a disk restored from the incremental copy equals rp2's data disk"

# ---- beyond Azure: copy of a copy, out of order, two at once ---------------
arm PUT "$C/restorePointCollections/back?$CV" '{"location":"eastus","properties":{"source":{"id":"'$P'/restorePointCollections/dst"}}}'
expect 201 "" "an eastus collection copying the westus copies"
copy back cc2 "$P/restorePointCollections/dst/restorePoints/c2"
expect 201 "" "copy of a copy (c2 back to eastus)"
wait_op 3000
iv back cc2
check test "$(echo "$BODY" | jq -r .properties.provisioningState)/$(echo "$BODY" | jq '[.properties.instanceView.diskRestorePoints[].vmrpReplication.bytesReceived] | add')" = Succeeded/0 "it succeeds with nothing sent: eastus has every object"
arm PUT "$C/restorePointCollections/dst2?$CV" '{"location":"westus","properties":{"source":{"id":"'$P'/restorePointCollections/src"}}}'
copy dst2 o2 "$P/restorePointCollections/src/restorePoints/rp2"; wait_op 3000; S1=$OP_STATUS
copy dst2 o1 "$RP1"; wait_op 3000
check test "$S1/$OP_STATUS" = Succeeded/Succeeded "copies out of order (rp2, then rp1)"
scatter 13 200 4096; rp rp3
scatter 14 200 4096; rp rp4
copy dst c3 "$P/restorePointCollections/src/restorePoints/rp3"; A3=$(header Azure-AsyncOperation)
copy dst c4 "$P/restorePointCollections/src/restorePoints/rp4"
wait_op 3000; S4=$OP_STATUS
arm GET "$A3"; check test "$(echo "$BODY" | jq -r .status)/$S4" = Succeeded/Succeeded "two copies at once into one collection"
restore_cmp dst c4 data "$VAR/rp4.data.img" "$EAST" "and each holds its own bytes (rp4)"
# the source restore point deleted and its objects collected: the copy stands alone
arm DELETE "$C/restorePointCollections/src/restorePoints/rp3?$CV"
wait_op 1200
arm GET "$C/restorePointCollections/src/restorePoints/rp3?$CV"
check test "$STATUS" = 404 "rp3 deleted at the source"
arm POST "$EAST/subscriptions/$SUB/providers/Microsoft.Vmrp/storeGc?$GV"
GC=$(header Location)
wait_op 1200
arm GET "$GC"
check test "$OP_STATUS/$(echo "$BODY" | jq '.liveObjects > 0')" = Succeeded/true "and a GC ran at the source ($(echo "$BODY" | jq -c '{liveObjects, deadObjects, packsRewritten}'))"
iv dst c3
check test "$(echo "$BODY" | jq -r '"\(.properties.provisioningState)/\(.properties.sourceRestorePoint.id)/\(.properties.sourceMetadata.storageProfile.dataDisks[0].diskRestorePoint.sourceDiskRestorePoint.id | test("/restorePoints/rp3/"))"')" = "Succeeded/$P/restorePointCollections/src/restorePoints/rp3/true" "its copy c3 is still Succeeded and keeps sourceRestorePoint and sourceMetadata"
restore_cmp dst c3 data "$VAR/rp3.data.img" "$EAST" "and a disk restored from it holds rp3's bytes"

# ---- cross-region creation, under dependent writes ---------------------------
mkdisk x1 1; mkdisk x2 1
mkvm vm2 x1 x2
arm PUT "$C/restorePointCollections/xr?$CV" '{"location":"westus","properties":{"source":{"id":"'$P'/virtualMachines/vm2"}}}'
expect 201 "" "a westus collection whose source is the eastus VM (cross-region creation)"
check test "$(echo "$BODY" | jq -r .properties.source.location)" = eastus "source.location eastus"
/usr/bin/python3 "$VMRP_SRC/tests/lib/rp_consistency.py" write "$(nbd_of x1)" "$(nbd_of x2)" "$VAR/progress" &
writer=$!
for _ in $(seq 100); do [ -s "$VAR/progress" ] && break; sleep 0.05; done
bad=0; XR_BYTES=()
for k in 1 2 3; do
  acked=$(cat "$VAR/progress")
  arm PUT "$C/restorePointCollections/xr/restorePoints/x$k?$CV" '{}'
  [ "$STATUS" = 201 ] || { bad=$((bad + 1)); echo "x$k: $STATUS $BODY"; continue; }
  wait_op 3000
  [ "$OP_STATUS" = Succeeded ] || { bad=$((bad + 1)); echo "x$k: $OP_STATUS $BODY"; continue; }
  iv xr "x$k"
  XR_BYTES+=("$(echo "$BODY" | jq '[.properties.instanceView.diskRestorePoints[].vmrpReplication.bytesReceived] | add')")
  arm GET "$C/restorePointCollections/xr/restorePoints/x$k/diskRestorePoints?$DV"
  u() { nbd_uri "$EAST$(echo "$BODY" | jq -r --arg p "$1_" '.value[] | select(.name | startswith($p)) | .id')"; }
  /usr/bin/python3 "$VMRP_SRC/tests/lib/rp_consistency.py" check "$(u x1)" "$(u x2)" "$acked" > "$VAR/check.out" 2>&1 ||
    { bad=$((bad + 1)); cat "$VAR/check.out"; }
done
kill "$writer"; wait "$writer" 2>/dev/null || true
STATUS=; BODY=
check test "$bad" = 0 "3 restore points created in westus from the eastus VM under dependent writes: each copy is write-order consistent across the disks and holds every record acknowledged before its PUT (last: $(cat "$VAR/check.out"))"
check test "${XR_BYTES[2]}" -lt $((4 * MIB)) "the source kept each capture as the base of the next: the third sent ${XR_BYTES[2]} bytes (the first ${XR_BYTES[0]})"
check test "$(sqlite3 "$VAR/eastus/meta.db" "SELECT count(*) FROM resources WHERE type = 'Microsoft.Compute/restorePointCollections/restorePoints' AND parent_id LIKE '%/vmrp-xr-westus-vm2'")" = 0 "and released its captures once copied"
arm GET "$C/restorePointCollections/xr/restorePoints/x3?$CV"
check test "$(echo "$BODY" | jq -r .properties.sourceMetadata.storageProfile.dataDisks[0].managedDisk.id)" = "$P/disks/x2" "the copy's sourceMetadata names the eastus VM's disks"

# ---- resume after kill -9 -----------------------------------------------------
scatter 15 96 $MIB; rp rp5   # 96 MiB of new random data
slow_east() { kill9_region eastus; VMRP_FAILPOINTS=repl.send_delay_ms=${1:-150} restart_region eastus; TOKEN=$(token "$EAST"); }
slow_east 400
copy dst c5 "$P/restorePointCollections/src/restorePoints/rp5"
expect 201 "" "copy of rp5 (96 MiB new; the source sends slowly)"
PCTS=(); GOT=0; IVBASE=$EAST
# samples the copy: each disk's completionPercent (kept to check that none
# ever goes down) and the bytes of the data disk received so far
pct() {
  arm GET "$IVBASE$P/restorePointCollections/dst/restorePoints/c5?$CV&\$expand=instanceView"
  [ "$STATUS" = 200 ] || return 0
  PCTS+=("$(echo "$BODY" | jq -r '[.properties.instanceView.diskRestorePoints[].replicationStatus.completionPercent] | map(tostring) | join(" ")')")
  GOT=$(echo "$BODY" | jq '[.properties.instanceView.diskRestorePoints[].vmrpReplication.bytesReceived] | add')
}
until_got() { for _ in $(seq 600); do pct; [ "$GOT" -ge "$1" ] && return 0; sleep 0.2; done; return 1; }
check until_got $((20 * MIB)) "the copy moves (20 of 96 MiB received)"
arm PUT "$C/disks/early?$DV" '{"location":"westus","properties":{"creationData":{"createOption":"Restore","sourceResourceId":"'"$(drp_of dst c5 data)"'"}}}'
expect 409 OperationNotAllowed "a disk cannot be restored from an incomplete copy"
kill9_region westus; restart_region westus
check until_got $((40 * MIB)) "after kill -9 of the target the copy goes on (40 MiB received)"
kill9_region eastus; IVBASE=$WEST
waits() { for _ in $(seq 100); do pct; echo "$BODY" | jq -r '.properties.instanceView.diskRestorePoints[].replicationStatus.status.message // empty' | grep -q "'eastus' does not answer; retrying" && return 0; sleep 0.2; done; return 1; }
check waits "with the source killed, the copy waits and says why"
VMRP_FAILPOINTS=repl.send_delay_ms=20 restart_region eastus; TOKEN=$(token "$EAST"); IVBASE=$EAST
for _ in $(seq 900); do pct; [ "$(echo "$BODY" | jq -r .properties.provisioningState)" != Creating ] && break; sleep 0.2; done
check test "$(echo "$BODY" | jq -r .properties.provisioningState)" = Succeeded "after kill -9 of the source too, the copy completes"
mono=ok; prev="0 0"
for p in "${PCTS[@]}"; do
  read -r a b <<< "$p"; read -r pa pb <<< "$prev"
  { [ "$a" -ge "$pa" ] && [ "$b" -ge "$pb" ]; } || mono="went from $prev to $p"
  prev=$p
done
check test "$mono" = ok "completionPercent never went down over ${#PCTS[@]} samples"
read -r C5_BYTES C5_STORED C5_TRIES < <(echo "$BODY" | jq -r '[([.properties.instanceView.diskRestorePoints[].vmrpReplication.bytesReceived] | add), ([.properties.instanceView.diskRestorePoints[].vmrpReplication.bytesStored] | add), ([.properties.instanceView.diskRestorePoints[].vmrpReplication.failedAttempts] | add)] | @tsv')
check test "$C5_BYTES" -le $((C5_STORED * 5 / 4 + 65536)) "nothing stored was sent again ($C5_BYTES bytes on the wire for $C5_STORED stored)"
check test "$C5_STORED" -ge $((80 * MIB)) "and the 96 MiB arrived ($C5_STORED bytes stored; what came after the last checkpoint before a kill is not counted)"
restore_cmp dst c5 data "$VAR/rp5.data.img" "$EAST" "the resumed copy holds rp5's bytes"

# ---- damage on the way, a deadline --------------------------------------------
kill9_region eastus; VMRP_FAILPOINTS=repl.corrupt_records=2 restart_region eastus; TOKEN=$(token "$EAST")
scatter 16 16 $MIB; rp rp6
copy dst c6 "$P/restorePointCollections/src/restorePoints/rp6"; wait_op 3000
iv dst c6
check test "$OP_STATUS/$(echo "$BODY" | jq '[.properties.instanceView.diskRestorePoints[].vmrpReplication.refetched] | add')" = Succeeded/2 "two damaged records were rejected and fetched again; the copy succeeds"
check grep -q "damaged record from region eastus was rejected" "$VAR/westus/vmrpd.log" "and the target says so in its log"
restore_cmp dst c6 data "$VAR/rp6.data.img" "$EAST" "the copy is right"
kill9_region westus; sed -i 's/^deadline = .*/deadline = 10/' "$WEST_CONF"; restart_region westus
scatter 17 64 $MIB; rp rp7
slow_east 1000
copy dst c7 "$P/restorePointCollections/src/restorePoints/rp7"
AAO7=$(header Azure-AsyncOperation)
sleep 2; kill9_region eastus
for _ in $(seq 600); do arm GET "$AAO7"; [ "$(echo "$BODY" | jq -r .status)" != InProgress ] && break; sleep 0.2; done
check test "$(echo "$BODY" | jq -r .status)/$(echo "$BODY" | jq -r .error.code)" = Failed/VMRestorePointCopyFailed "the source down past the deadline ([copy] deadline = 10): the copy fails"
arm GET "$WEST$P/restorePointCollections/dst/restorePoints/c7?$CV&\$expand=instanceView"
check test "$(echo "$BODY" | jq -r '.properties.instanceView.diskRestorePoints[] | select(.replicationStatus.status.code == "ReplicationState/failed") | .replicationStatus.status.message' | grep -c "eastus' does not answer; the copy's deadline passed")" -ge 1 "a failed disk restore point says why"

kill9_region westus; sed -i 's/^deadline = .*/deadline = 600/' "$WEST_CONF"; restart_region westus

# ---- region loss ----------------------------------------------------------------
TOKEN=$(token "$WEST"); BASE=$WEST
restore_cmp dst c4 os "$VAR/rp4.os.img" "$WEST" "eastus is gone: an OS disk restored in westus from the copy is right"
restore_cmp dst c5 data "$VAR/rp5.data.img" "$WEST" "and a data disk"
VMRP_FAILPOINTS=repl.send_delay_ms=1000 restart_region eastus; TOKEN=$(token "$EAST"); BASE=$EAST
copy dst2 o7 "$P/restorePointCollections/src/restorePoints/rp7"
AAO8=$(header Azure-AsyncOperation)
sleep 1
arm DELETE "$C/restorePointCollections/dst2/restorePoints/o7?$CV"
check test "$STATUS" = 202 "a copy in progress can be deleted"
wait_op 1200
arm GET "$C/restorePointCollections/dst2/restorePoints/o7?$CV"
check test "$STATUS" = 404 "it is gone"
for _ in $(seq 100); do arm GET "$AAO8"; [ "$(echo "$BODY" | jq -r .status)" != InProgress ] && break; sleep 0.2; done
check test "$(echo "$BODY" | jq -r .status)/$(echo "$BODY" | jq -r .error.code)" = Failed/OperationNotAllowed "and its copy stopped: the operation says it was deleted"
slow_east 0

# ---- repair from the peer --------------------------------------------------------
pack=$(ls -S "$VAR"/westus/stores/*/packs/*.pack | head -n1) # the platform domain's store
kill9_region westus
printf '\x55\xaa' | dd of="$pack" bs=1 seek=$(( $(stat -c %s "$pack") / 2 )) conv=notrunc status=none
restart_region westus
arm POST "$WEST/subscriptions/$SUB/providers/Microsoft.Vmrp/storeVerify?$GV" '{"repair":true}'
expect 202 "" "storeVerify with repair at westus, two bytes of a pack flipped"
RESULT=$(header Location)
wait_op 3000
arm GET "$RESULT"
check test "$(echo "$BODY" | jq -r '"\(.beforeRepair.clean)/\(.beforeRepair.damagedObjects | length > 0)"')" = false/true "verify found the damage ($(echo "$BODY" | jq -c '.beforeRepair | {badRecords, damaged: (.damagedObjects | length)}'))"
check test "$(echo "$BODY" | jq -r '[.repaired[].fromRegion] | unique | join(",")')/$(echo "$BODY" | jq '.repaired | length')" = "eastus/$(echo "$BODY" | jq '.beforeRepair.damagedObjects | length')" "every damaged object was fetched from eastus"
check test "$(echo "$BODY" | jq -r '"\(.clean)/\(.packsRewritten)/\(.badRecords)"')" = true/true/0 "and the store is clean again: the damaged pack was rewritten without its bad record"
restore_cmp dst c1 data "$VAR/rp1.data.img" "$EAST" "a disk restored from the repaired copy of rp1 is right"
restore_cmp dst c5 data "$VAR/rp5.data.img" "$EAST" "and from rp5's"

# ---- bad input ----------------------------------------------------------------------
before=$(store_dump westus)
arm PUT "$C/restorePointCollections/bad1?$CV" '{"location":"eastus","properties":{"source":{"id":"'$P'/restorePointCollections/src"}}}'
expect 400 InvalidParameter "a source collection in the same region"
arm PUT "$C/restorePointCollections/bad2?$CV" '{"location":"westus","properties":{"source":{"id":"'$P'/restorePointCollections/nope"}}}'
expect 404 NotFound "a missing source"
copy dst bad3 "$P/restorePointCollections/src/restorePoints/nope"
expect 404 NotFound "a missing source restore point"
copy dst bad4 "$P/restorePointCollections/back/restorePoints/cc2"
expect 400 InvalidParameter "a restore point of another collection than the source"
copy src bad5 "$P/restorePointCollections/dst/restorePoints/c1"
expect 400 InvalidParameter "sourceRestorePoint in a collection that protects a VM"
arm PUT "$C/restorePointCollections/dst/restorePoints/bad6?$CV" '{}'
expect 400 InvalidParameter "a restore point without sourceRestorePoint in a copy collection"
arm PUT "$C/restorePointCollections/dst/restorePoints/bad7?$CV" '{"properties":{"sourceRestorePoint":{"id":"'"$RP1"'"},"excludeDisks":[{"id":"'$P'/disks/os"}]}}'
expect 400 InvalidParameter "excludeDisks with sourceRestorePoint"
check test "$(store_dump westus)" = "$before" "nothing was created in westus"
printf '%064d' 0 | xxd -r -p > "$VAR/addr"
peer() { curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" -X POST --data-binary @"$VAR/addr" "$@"; }
. "$VAR/ids.env"
OBJ=/vmrp/peer/v1/objects?domain=$(basename "$(ls -d "$VAR"/eastus/stores/*)") # the platform domain's store
signed() { # FROM [BODY_FILE] [peer_sign options] → curl -H arguments in SIGNED (for $OBJ)
  SIGNED=()
  while IFS= read -r h; do SIGNED+=(-H "$h"); done < <(python3 "$VMRP_SRC/tests/lib/peer_sign.py" \
    "$PEER_CREDENTIAL" "$1" eastus POST "$OBJ" "${2:-$VAR/addr}" "${@:3}")
}
check test "$(peer "$EAST/vmrp/peer/v1/objects")" = 401 "a peer request without a signature: 401"
check test "$(peer -H 'x-vmrp-peer: westus' -H 'Authorization: VmrpPeer forged' "$EAST/vmrp/peer/v1/objects")" = 401 "with a forged credential: 401"
check test "$(peer -H 'x-vmrp-peer: westus' -H "Authorization: VmrpPeer $PEER_CREDENTIAL" "$EAST/vmrp/peer/v1/objects")" = 401 "with the credential itself (it never travels; only signatures count): 401"
signed eastus
check test "$(peer "${SIGNED[@]}" "$EAST$OBJ")" = 401 "signed but claiming to be the region itself: 401"
check test "$(peer -H "Authorization: Bearer $TOKEN" "$EAST/vmrp/peer/v1/objects")" = 401 "with an ARM token: 401"
signed westus
check test "$(peer "${SIGNED[@]}" "$EAST$OBJ")" = 200 "signed by westus: 200"
check test "$(peer "${SIGNED[@]}" "$EAST$OBJ")" = 401 "the same signed request again (a replay): 401"
GOOD=$OBJ
OBJ=/vmrp/peer/v1/objects?domain=zz; signed westus
check test "$(peer "${SIGNED[@]}" "$EAST$OBJ")" = 400 "signed, naming a malformed key domain: 400"
OBJ=/vmrp/peer/v1/objects?domain=$(printf '%032d' 0); signed westus
check test "$(peer "${SIGNED[@]}" "$EAST$OBJ")" = 404 "signed, naming a key domain the region does not hold: 404"
OBJ=$GOOD
signed westus
printf '%064d' 1 | xxd -r -p > "$VAR/addr2"
check test "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" -X POST --data-binary @"$VAR/addr2" "${SIGNED[@]}" "$EAST$OBJ")" = 401 "signed, with another body: 401"
signed westus "$VAR/addr" --ts-ms $(( $(date +%s) * 1000 - 400000 ))
check test "$(peer "${SIGNED[@]}" "$EAST$OBJ")" = 401 "signed 400 s ago (outside the window): 401"
check test "$(grep -c 'the nonce was used before (a replay)' "$VAR/eastus/vmrpd.log")" -ge 1 "the replay is logged as one"
# Azure's rate limit, the default: 3 copies an hour into one collection
kill9_region westus; sed -i 's/^per_hour = .*/per_hour = 3/' "$WEST_CONF"; restart_region westus
copy dst bad8 "$RP1"
expect 429 TooManyRequests "[copy] per_hour = 3: a fourth copy into a collection within the hour"
check test -n "$(header Retry-After)" "with Retry-After"
finish
