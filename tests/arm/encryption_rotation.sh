#!/usr/bin/env bash
# Key rotation while the regions work (docs/encryption.md "Rotation"): every
# 0.2 s `vmrpd keys rotate-master` runs and a disk encryption set's customer
# key is rotated to a new key version of a SoftHSM2 token (PATCH
# activeKey.keyUrl), the version it replaced destroyed at once — during a
# restore point's capture, NBD writes to a platform-key disk and to a disk in
# the set, and a copy of the restore point to westus; both regions are then
# killed (-9) and restarted on the last keys, and both disks, their disk
# restore points (NBD) and westus disks restored from the copy read back
# byte for byte.
. "$VMRP_SRC/tests/lib/harness.sh"
. "$VMRP_SRC/tests/lib/hsm.sh"
hsm_init
K1=$(hsm_key cmk 0001)
export VMRP_CONFIG_EXTRA="[copy]\nper_hour = 0\n$(hsm_config)"
start_regions
TOKEN=$(token "$EAST")
CV=api-version=2024-07-01
DV=api-version=2024-03-02
G=/subscriptions/$SUB/resourceGroups/rot
C=$EAST$G/providers/Microsoft.Compute
P=$G/providers/Microsoft.Compute
arm PUT "$EAST$G?api-version=2021-04-01" '{"location":"eastus"}'
expect 201 "" "resource group"
arm PUT "$C/diskEncryptionSets/des1?$DV" '{"location":"eastus","identity":{"type":"SystemAssigned"},"properties":{"activeKey":{"keyUrl":"'$K1'"}}}'
expect 200 "" "a disk encryption set over the customer key cmk/0001"

pattern() { # FILE SIZE_MIB SEED: scattered random and compressible 1 MiB extents
  python3 - "$@" <<'PY'
import random, sys
path, size, seed = sys.argv[1], int(sys.argv[2]) << 20, int(sys.argv[3])
r = random.Random(seed)
with open(path, "wb") as f:
    f.truncate(size)
    for _ in range(size >> 25):
        f.seek(r.randrange(size >> 20) << 20)
        f.write(r.randbytes(4096) * 256 if r.random() < 0.5 else r.randbytes(1 << 20))
PY
}
mkdisk() { # NAME SIZE_GB [ENCRYPTION]
  arm PUT "$C/disks/$1?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":'"$2${3:+,\"encryption\":$3}"'}}'
  wait_op 1200
}
mkdisk os 1
mkdisk data 1
mkdisk cmk 1 '{"type":"EncryptionAtRestWithCustomerKey","diskEncryptionSetId":"'$P'/diskEncryptionSets/des1"}'
arm GET "$C/disks/cmk?$DV"
check test "$(echo "$BODY" | jq -r .properties.encryption.type)" = EncryptionAtRestWithCustomerKey "disk cmk is in the set"
pattern "$VAR/os.img" 1024 1
pattern "$VAR/data.img" 1024 2
pattern "$VAR/cmk.img" 1024 3
for d in os data cmk; do nbdcopy --flush "$VAR/$d.img" "$(nbd_uri "$C/disks/$d" tcp)"; done
arm PUT "$C/virtualMachines/vm1?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},
  "storageProfile":{"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"'$P'/disks/os"}},
  "dataDisks":[{"lun":0,"createOption":"Attach","managedDisk":{"id":"'$P'/disks/data"}},
               {"lun":1,"createOption":"Attach","managedDisk":{"id":"'$P'/disks/cmk"}}]}}}'
wait_op 1200
arm PUT "$C/restorePointCollections/src?$CV" '{"location":"eastus","properties":{"source":{"id":"'$P'/virtualMachines/vm1"}}}'
expect 201 "" "a restore point collection of vm1"

# rotate_cmk: the set's key to version $KV + 1 (a new key in the token), the
# version it replaced destroyed; its own curl (arm's files are the test's)
KV=1
rotate_cmk() {
  local url code
  url=$(hsm_key cmk "$(printf %04x $((KV + 1)))") || return 1
  code=$(curl -s --cacert "$CA" -X PATCH -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    --data-binary '{"properties":{"activeKey":{"keyUrl":"'"$url"'"}}}' -o "$VAR/rotate.body" -w '%{http_code}' \
    "$C/diskEncryptionSets/des1?$DV") || true
  [ "$code" = 200 ] && [ "$(jq -r .properties.activeKey.keyUrl "$VAR/rotate.body")" = "$url" ] ||
    { echo "cmk rotation to $url: $code $(cat "$VAR/rotate.body")" >>"$VAR/rotate.err"; return 1; }
  hsm_delete cmk "$(printf %04x "$KV")" && KV=$((KV + 1))
}
# rotate_loop: a rotation of each key at once, then one every 0.2 s until
# $VAR/stop exists; counts them
rotate_loop() {
  local n=0 bad=0 m=0 mbad=0
  while :; do
    if "$VMRPD" keys rotate-master -c "$EAST_CONF" >/dev/null 2>>"$VAR/rotate.err"; then n=$((n + 1)); else bad=$((bad + 1)); fi
    if rotate_cmk; then m=$((m + 1)); else mbad=$((mbad + 1)); fi
    [ -e "$VAR/stop" ] && break
    sleep 0.2
  done
  echo "$n $bad $m $mbad $KV" > "$VAR/rotations"
}
rotating() { rm -f "$VAR/stop"; rotate_loop & ROT=$!; }
rotated() { # DESC: stops the loop, checks it rotated and never failed
  touch "$VAR/stop"; wait "$ROT"
  local n bad m mbad; read -r n bad m mbad KV < "$VAR/rotations"
  check test "$n" -ge 1 -a "$bad" = 0 "$1: the master key rotated $n times meanwhile, no rotation failed"
  check test "$m" -ge 1 -a "$mbad" = 0 "$1: the customer key rotated $m times meanwhile (now cmk/$KV), no rotation failed"
  [ "$bad$mbad" = 00 ] || cat "$VAR/rotate.err"
}

rotating
arm PUT "$C/restorePointCollections/src/restorePoints/rp1?$CV" '{}'
wait_op 1200
check test "$OP_STATUS" = Succeeded "restore point rp1 captured"
rotated "capture"
for d in data cmk; do cp --sparse=always "$VAR/$d.img" "$VAR/rp1.$d.img"; done

rotating
# 200 scattered 64 KiB writes (the model data.img changed alike)
python3 "$VMRP_SRC/tests/lib/scatter.py" "$VAR/data.img" 3 200 65536 | qemu-io -f raw "$(nbd_uri "$C/disks/data" tcp)" >/dev/null
python3 "$VMRP_SRC/tests/lib/scatter.py" "$VAR/cmk.img" 4 200 65536 | qemu-io -f raw "$(nbd_uri "$C/disks/cmk" tcp)" >/dev/null
rotated "NBD writes"

arm PUT "$C/restorePointCollections/dst?$CV" '{"location":"westus","properties":{"source":{"id":"'$P'/restorePointCollections/src"}}}'
expect 201 "" "a westus collection copying src"
rotating
arm PUT "$C/restorePointCollections/dst/restorePoints/c1?$CV" \
  '{"properties":{"sourceRestorePoint":{"id":"'$P'/restorePointCollections/src/restorePoints/rp1"}}}'
wait_op 3000
check test "$OP_STATUS" = Succeeded "the copy of rp1 to westus"
rotated "copy"

kill9_region eastus
kill9_region westus
restart_region eastus
restart_region westus
check grep -q "platform  wrapped by the master key" <(
  "$VMRPD" keys show -c "$EAST_CONF") "both regions restarted on the last master key"
TOKEN=$(token "$EAST")
arm GET "$C/diskEncryptionSets/des1?$DV"
check test "$(echo "$BODY" | jq -r .properties.activeKey.keyUrl)" = "$(hsm_url cmk "$(printf %04x "$KV")")" \
  "the set's active key is the last version, cmk/$KV (all $((KV - 1)) before it destroyed)"
for d in data cmk; do
  nbdcopy "$(nbd_uri "$C/disks/$d" tcp)" "$VAR/back"
  check cmp "$VAR/$d.img" "$VAR/back" "disk $d written during rotations reads back byte for byte"
done
drp() { # COLL RP LUN: the restore point id of the data disk at LUN
  arm GET "$EAST$P/restorePointCollections/$1/restorePoints/$2?$CV"
  echo "$BODY" | jq -r --argjson lun "$3" '.properties.sourceMetadata.storageProfile.dataDisks[] | select(.lun == $lun) | .diskRestorePoint.id'
}
lun=0
for d in data cmk; do
  nbdcopy "$(nbd_uri "$EAST$(drp src rp1 $lun)" tcp)" "$VAR/back"
  check cmp "$VAR/rp1.$d.img" "$VAR/back" "rp1's restore point of disk $d reads back byte for byte"
  arm PUT "$EAST$P/disks/r$lun?$DV" '{"location":"westus","properties":{"creationData":{"createOption":"Restore","sourceResourceId":"'"$(drp dst c1 $lun)"'"}}}'
  wait_op 1200
  nbdcopy "$(nbd_uri "$EAST$P/disks/r$lun" tcp)" "$VAR/back"
  check cmp "$VAR/rp1.$d.img" "$VAR/back" "a westus disk restored from the copy of disk $d's equals it byte for byte"
  lun=$((lun + 1))
done
arm GET "$EAST$P/disks/r1?$DV"
check test "$(echo "$BODY" | jq -r .properties.encryption.type)" = EncryptionAtRestWithCustomerKey \
  "the westus disk restored from the copy of disk cmk's is under the customer key"
finish
