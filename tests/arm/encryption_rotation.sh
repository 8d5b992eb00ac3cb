#!/usr/bin/env bash
# Master-key rotation while the regions work (docs/encryption.md "Rotation"):
# `vmrpd keys rotate-master` runs every 0.2 s during a restore point's
# capture, NBD writes to a disk and a copy of the restore point to westus;
# both regions are then killed (-9) and restarted on the new key, and the
# disk, the restore point (NBD) and a westus disk restored from the copy
# read back byte for byte.
. "$VMRP_SRC/tests/lib/harness.sh"
export VMRP_CONFIG_EXTRA='[copy]\nper_hour = 0'
start_regions
TOKEN=$(token "$EAST")
CV=api-version=2024-07-01
DV=api-version=2024-03-02
G=/subscriptions/$SUB/resourceGroups/rot
C=$EAST$G/providers/Microsoft.Compute
P=$G/providers/Microsoft.Compute
arm PUT "$EAST$G?api-version=2021-04-01" '{"location":"eastus"}'
expect 201 "" "resource group"

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
mkdisk() { # NAME SIZE_GB
  arm PUT "$C/disks/$1?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":'$2'}}'
  wait_op 1200
}
mkdisk os 1
mkdisk data 1
pattern "$VAR/os.img" 1024 1
pattern "$VAR/data.img" 1024 2
nbdcopy --flush "$VAR/os.img" "$(nbd_uri "$C/disks/os" tcp)"
nbdcopy --flush "$VAR/data.img" "$(nbd_uri "$C/disks/data" tcp)"
arm PUT "$C/virtualMachines/vm1?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},
  "storageProfile":{"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"'$P'/disks/os"}},
  "dataDisks":[{"lun":0,"createOption":"Attach","managedDisk":{"id":"'$P'/disks/data"}}]}}}'
wait_op 1200
arm PUT "$C/restorePointCollections/src?$CV" '{"location":"eastus","properties":{"source":{"id":"'$P'/virtualMachines/vm1"}}}'
expect 201 "" "a restore point collection of vm1"

# rotate_loop: a rotation at once, then one every 0.2 s until $VAR/stop
# exists; counts them
rotate_loop() {
  local n=0 bad=0
  while :; do
    if "$VMRPD" keys rotate-master -c "$EAST_CONF" >/dev/null 2>>"$VAR/rotate.err"; then n=$((n + 1)); else bad=$((bad + 1)); fi
    [ -e "$VAR/stop" ] && break
    sleep 0.2
  done
  echo "$n $bad" > "$VAR/rotations"
}
rotating() { rm -f "$VAR/stop"; rotate_loop & ROT=$!; }
rotated() { # DESC: stops the loop, checks it rotated and never failed
  touch "$VAR/stop"; wait "$ROT"
  local n bad; read -r n bad < "$VAR/rotations"
  check test "$n" -ge 1 -a "$bad" = 0 "$1: the master key rotated $n times meanwhile, no rotation failed"
}

rotating
arm PUT "$C/restorePointCollections/src/restorePoints/rp1?$CV" '{}'
wait_op 1200
check test "$OP_STATUS" = Succeeded "restore point rp1 captured"
rotated "capture"
cp --sparse=always "$VAR/data.img" "$VAR/rp1.data.img"

rotating
# 200 scattered 64 KiB writes (the model data.img changed alike)
python3 "$VMRP_SRC/tests/lib/scatter.py" "$VAR/data.img" 3 200 65536 | qemu-io -f raw "$(nbd_uri "$C/disks/data" tcp)" >/dev/null
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
nbdcopy "$(nbd_uri "$C/disks/data" tcp)" "$VAR/back"
check cmp "$VAR/data.img" "$VAR/back" "the disk written during rotations reads back byte for byte"
drp() { # COLL RP: the data disk's restore point id
  arm GET "$EAST$P/restorePointCollections/$1/restorePoints/$2?$CV"
  echo "$BODY" | jq -r .properties.sourceMetadata.storageProfile.dataDisks[0].diskRestorePoint.id
}
nbdcopy "$(nbd_uri "$EAST$(drp src rp1)" tcp)" "$VAR/back"
check cmp "$VAR/rp1.data.img" "$VAR/back" "rp1's data disk restore point reads back byte for byte"
arm PUT "$EAST$P/disks/r1?$DV" '{"location":"westus","properties":{"creationData":{"createOption":"Restore","sourceResourceId":"'"$(drp dst c1)"'"}}}'
wait_op 1200
nbdcopy "$(nbd_uri "$EAST$P/disks/r1" tcp)" "$VAR/back"
check cmp "$VAR/rp1.data.img" "$VAR/back" "a westus disk restored from the copy equals it byte for byte"
finish
