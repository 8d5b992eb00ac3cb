#!/usr/bin/env bash
# Disks restored from a disk restore point (createOption Restore), end to end:
#  - the disk is usable at once and reads equal the restore point byte for
#    byte while it is still hydrating (nbdcopy + cmp);
#  - a client's writes during hydration are never overwritten by it, and a
#    whole-disk read racing a client's writes during hydration sees old or
#    new bytes where they write and the restore point elsewhere;
#  - kill -9 during hydration: it resumes, nothing acknowledged is lost;
#  - deleting the source restore point (and a store GC) during hydration is
#    safe: the tree stays held until the disk is hydrated;
#  - a larger diskSizeGB grows the disk, a smaller one is refused; a missing
#    source answers 404, a capturing or Failed one 409.
# Hydration is slowed down with the disk.hydrate.* failpoints.
. "$VMRP_SRC/tests/lib/harness.sh"
command -v qemu-io >/dev/null && command -v nbdcopy >/dev/null || { echo "qemu-utils/libnbd-bin missing"; exit 1; }
start_regions
TOKEN=$(token "$EAST")
DV=api-version=2024-03-02
CV=api-version=2024-07-01
RG=$EAST/subscriptions/$SUB/resourceGroups/rs
C=$RG/providers/Microsoft.Compute
RGID=/subscriptions/$SUB/resourceGroups/rs
SLOW=disk.hydrate.step_bytes=1048576,disk.hydrate.step_delay_ms=150
GIB=1073741824
arm PUT "$RG?api-version=2021-04-01" '{"location":"eastus"}'

disk() { arm GET "$C/disks/$1?$DV"; }
hyd() { disk "$1"; echo "$BODY" | jq -r '.properties.vmrpExport.hydration.state // "none"'; }
wait_hydrated() {
  for _ in $(seq 600); do [ "$(hyd "$1")" = Hydrated ] && return 0; sleep 0.1; done
  return 1
}
restart_slow() { kill9_region eastus; VMRP_FAILPOINTS=${1:-$SLOW} restart_region eastus; TOKEN=$(token "$EAST"); }

# A 2 GiB source disk with 48 MiB of data (random, a pattern, a gap), a VM,
# a restore point.
arm PUT "$C/disks/src?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":2}}'
wait_op
disk src
SRC=$(nbd_uri "$C/disks/src")
head -c 40M /dev/urandom > "$VAR/model.img"
truncate -s 100M "$VAR/model.img"
python3 -c 'import sys; sys.stdout.buffer.write(b"\x5a" * (8 << 20))' >> "$VAR/model.img"
truncate -s 2G "$VAR/model.img"
nbdcopy "$VAR/model.img" "$SRC"
arm PUT "$C/virtualMachines/vm1?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_D2s_v3"},
  "storageProfile":{"osDisk":{"osType":"Linux","name":"src","createOption":"Attach","managedDisk":{"id":"'$RGID'/providers/Microsoft.Compute/disks/src"}}}}}'
wait_op
check test "$OP_STATUS" = Succeeded "a VM with the source disk"
arm PUT "$C/restorePointCollections/rpc?api-version=2022-08-01" \
  '{"location":"eastus","properties":{"source":{"id":"'$RGID'/providers/Microsoft.Compute/virtualMachines/vm1"}}}'
RPC=$C/restorePointCollections/rpc
arm PUT "$RPC/restorePoints/rp1?$CV" '{}'
wait_op
check test "$OP_STATUS" = Succeeded "a restore point of the VM"
arm GET "$RPC/restorePoints/rp1/diskRestorePoints?$DV"
DRP=$(echo "$BODY" | jq -r '.value[0].id')
check test -n "$DRP" "its disk restore point ($DRP)"
# later changes to the source disk must not show in the restored disk
qemu-io -f raw -c "write -P 0x11 0 1M" "$SRC" >/dev/null

# 1. Restore: usable at once; reads come from the restore point meanwhile.
cp --sparse=always "$VAR/model.img" "$VAR/orig.img"
restart_slow
restore_body() { echo '{"location":"eastus","properties":{"creationData":{"createOption":"Restore","sourceResourceId":"'"$1"'"}'"${2:+,\"diskSizeGB\":$2}"'}}'; }
t0=$(date +%s%N)
arm PUT "$C/disks/r1?$DV" "$(restore_body "$DRP")"
expect 202 "" "PUT disk (Restore) answers 202"
wait_op
t1=$(date +%s%N)
check test "$OP_STATUS" = Succeeded "the restored disk is created"
check test $(( (t1 - t0) / 1000000 )) -lt 3000 "at once ($(( (t1 - t0) / 1000000 )) ms)"
disk r1
R1=$(nbd_uri "$C/disks/r1")
check test "$(echo "$BODY" | jq -r .properties.creationData.createOption)" = Restore "creationData.createOption Restore"
check test "$(echo "$BODY" | jq -r .properties.creationData.sourceResourceId)" = "$DRP" "creationData.sourceResourceId"
check test "$(echo "$BODY" | jq -r .properties.diskSizeBytes)" = $((2 * GIB)) "its size is the restore point's"
check test "$(echo "$BODY" | jq -r .properties.vmrpExport.hydration.state)" = Hydrating "hydration state Hydrating ($(echo "$BODY" | jq -c .properties.vmrpExport.hydration))"
check qemu-io -f raw -c "read -P 0x5a 100M 8M" -c "read -P 0 1G 1M" "$R1" "NBD reads of chunks not yet hydrated come from the restore point"
alloc=$(nbdinfo --map "$R1" | awk '$3 == 0 {n += $2} END {print n + 0}')
check test "$alloc" = $((48 << 20)) "base:allocation reports the restore point's data and holes ($alloc bytes of data)"

# 2. A client writes during hydration (partial chunks, whole chunks, in data
#    and in holes); the writes are never overwritten.
write() { # OFFSET LEN BYTE: on the disk and in the model
  qemu-io -f raw -c "write -P $3 $1 $2" "$R1" >/dev/null
  python3 -c 'import sys
f = open(sys.argv[1], "r+b"); f.seek(int(sys.argv[2])); f.write(bytes([int(sys.argv[4], 0)]) * int(sys.argv[3]))' \
    "$VAR/model.img" "$1" "$2" "$3"
}
write 1000 5000 0x21                # partial chunk in the random data
write $((30 << 20)) 65536 0x22      # whole chunk in the data
write $((60 << 20 | 512)) 700 0x23  # partial chunk in a hole
write $((104 << 20)) 131072 0x24    # two whole chunks in the pattern
write $((1500 << 20)) 4096 0x25     # far into the zeros
hyd r1 >/dev/null
pct=$(echo "$BODY" | jq -r .properties.vmrpExport.hydration.percent)
check test "$pct" -lt 100 "the writes landed during hydration ($pct %)"

# 3. kill -9 during hydration: it resumes and loses nothing acknowledged;
#    reads racing writes during hydration.
restart_slow
hyd r1 >/dev/null
check test "$(echo "$BODY" | jq -r .properties.vmrpExport.hydration.state)" = Hydrating "after kill -9 the disk is still hydrating ($(echo "$BODY" | jq -c .properties.vmrpExport.hydration))"
write $((5 << 20)) 65536 0x26

# Reads while a client writes, both during hydration: 32 whole and partial
# writes (1 MiB apart from 64 MiB on) race a read of the whole disk.  Every
# byte of a written range reads as before or as written (overlapping
# concurrent requests are unordered, as on a disk: a range may be seen in
# part), never anything else; the rest as the model; and a read after the
# writer finished returns every write.
# (The first whole-disk read: reads hydrate what they touch.)
hyd r1 >/dev/null
check test "$(echo "$BODY" | jq -r .properties.vmrpExport.hydration.state)" = Hydrating "still hydrating before the concurrent reads and writes"
racing=()
for i in $(seq 0 31); do racing+=(-c "write -P 0x27 $(( (64 + i) << 20 | (i % 2) * 4096 )) $(( 65536 - (i % 2) * 8192 ))"); done
qemu-io -f raw "${racing[@]}" "$R1" >/dev/null &
writer=$!
nbdcopy "$R1" "$VAR/got.img"
wait "$writer"
check python3 - "$VAR/model.img" "$VAR/got.img" <<'PY' "a read racing writes sees old or new bytes where it writes, everything else as it was"
import sys
model, got = (open(p, "rb").read() for p in sys.argv[1:3])
ok = len(model) == len(got)
prev = 0
for i in range(32):
    off = ((64 + i) << 20) | (i % 2) * 4096
    n = 65536 - (i % 2) * 8192
    ok = ok and got[prev:off] == model[prev:off]
    ok = ok and all(g == m or g == 0x27 for g, m in zip(got[off:off + n], model[off:off + n]))
    prev = off + n
ok = ok and got[prev:] == model[prev:]
sys.exit(0 if ok else 1)
PY
for i in $(seq 0 31); do
  python3 -c 'import sys
f = open(sys.argv[1], "r+b"); f.seek(int(sys.argv[2])); f.write(b"\x27" * int(sys.argv[3]))' \
    "$VAR/model.img" $(( (64 + i) << 20 | (i % 2) * 4096 )) $(( 65536 - (i % 2) * 8192 ))
done
nbdcopy "$R1" "$VAR/got.img"
check cmp "$VAR/model.img" "$VAR/got.img" "reads return every write and the restore point around them"

# 4. A second disk from the same restore point; delete the restore point and
#    collect garbage while it hydrates.
arm PUT "$C/disks/r2?$DV" "$(restore_body "$DRP")"
wait_op
disk r2
R2=$(nbd_uri "$C/disks/r2")
R2VOL=$(echo "$BODY" | jq -r .properties.uniqueId)
arm DELETE "$RPC/restorePoints/rp1?$CV"
expect 202 "" "delete the source restore point during hydration"
wait_op
check test "$OP_STATUS" = Succeeded "the delete succeeds"
arm POST "$EAST/subscriptions/$SUB/providers/Microsoft.Vmrp/storeGc?api-version=2024-03-01"
loc=$(header Location)
for _ in $(seq 300); do arm GET "$loc"; [ "$STATUS" != 202 ] && break; sleep 0.1; done
expect 200 "" "a store GC runs meanwhile"
check test "$(hyd r2)" = Hydrating "the disk is still hydrating"
restart_slow "disk.hydrate.step_bytes=16777216"
check wait_hydrated r2 "hydration resumes after a restart and completes"
disk r2
check test "$(echo "$BODY" | jq -r .properties.vmrpExport.hydration.percent)" = 100 "percent 100"
nbdcopy "$R2" "$VAR/got.img"
check cmp "$VAR/orig.img" "$VAR/got.img" "the hydrated disk equals the deleted restore point byte for byte"
check test ! -e "$VAR/eastus/volumes/$R2VOL.src" "its source is released"
check test ! -e "$VAR/eastus/volumes/$R2VOL.hyd" "and its hydration bitmap removed"
check wait_hydrated r1 "the first disk completes too"
nbdcopy "$R1" "$VAR/got.img"
check cmp "$VAR/model.img" "$VAR/got.img" "and holds the restore point and every write"
for d in r1 r2; do
  arm DELETE "$C/disks/$d?$DV"
  wait_op
  check test "$OP_STATUS" = Succeeded "restored disk $d deletes"
done

# 5. Sizes, missing and incomplete sources.
arm PUT "$RPC/restorePoints/rp2?$CV" '{}'
wait_op
arm GET "$RPC/restorePoints/rp2/diskRestorePoints?$DV"
DRP2=$(echo "$BODY" | jq -r '.value[0].id')
arm PUT "$C/disks/r4?$DV" "$(restore_body "$DRP2" 3)"
expect 202 "" "Restore with a larger diskSizeGB"
wait_op
disk r4
check test "$(echo "$BODY" | jq -r .properties.diskSizeBytes)" = $((3 * GIB)) "grows the disk"
R4=$(nbd_uri "$C/disks/r4")
check qemu-io -f raw -c "read -P 0x11 0 1M" -c "read -P 0 $((2 * GIB)) 1M" "$R4" "the later source change is in, the grown area reads zeros"
before=$(store_dump eastus)
arm PUT "$C/disks/r3?$DV" "$(restore_body "$DRP2" 1)"
expect 400 OperationNotAllowed "a smaller diskSizeGB is refused"
arm PUT "$C/disks/r3?$DV" "$(restore_body "${DRP2%/*}/nope")"
expect 404 NotFound "a missing disk restore point answers 404"
check test "$(echo "$BODY" | jq -r .error.target)" = creationData.sourceResourceId "with target creationData.sourceResourceId"
arm PUT "$C/disks/r3?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Restore"}}}'
expect 400 InvalidParameter "Restore without sourceResourceId"
check test "$(store_dump eastus)" = "$before" "none of the refused requests changed the store"
restart_slow "jobs.run.delay_ms=60000"
arm PUT "$RPC/restorePoints/rp3?$CV" '{}'
expect 201 "" "a restore point that stays capturing"
arm GET "$RPC/restorePoints/rp3/diskRestorePoints?$DV"
DRP3=$(echo "$BODY" | jq -r '.value[0].id // empty')
[ -n "$DRP3" ] || DRP3=${DRP2/rp2/rp3}
arm PUT "$C/disks/r3?$DV" "$(restore_body "$DRP3")"
check test "$STATUS" != 202 "restore from a capturing restore point is refused ($STATUS $(echo "$BODY" | jq -r .error.code))"
restart_slow ""
arm GET "$RPC/restorePoints/rp3?$CV"
check test "$(echo "$BODY" | jq -r .properties.provisioningState)" = Failed "the interrupted restore point is Failed"
arm GET "$RPC/restorePoints/rp3/diskRestorePoints?$DV"
DRP3=$(echo "$BODY" | jq -r '.value[0].id // empty')
if [ -n "$DRP3" ]; then
  arm PUT "$C/disks/r3?$DV" "$(restore_body "$DRP3")"
  expect 409 OperationNotAllowed "restore from a Failed restore point's disk restore point is refused"
fi
finish
