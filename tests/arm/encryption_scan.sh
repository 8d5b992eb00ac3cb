#!/usr/bin/env bash
# Encryption at rest, checked on the bytes: 64 MiB of a known random
# pattern (AES-CTR of zeros under a fixed key: reproducible) written to a
# disk over NBD, two restore points (the second after 4 MiB changed), a
# disk restored from the first, the second downloaded through SAS, copied
# to westus, a store GC in both regions, both regions stopped cleanly —
# then every file of the state directory (volumes, stores, packs, indexes,
# meta.db and its WAL, logs, temporary files, the keyring) is scanned
# (tests/lib/scan_plain.py): neither pattern, nor any of its chunks'
# plaintext addresses SHA-256(0x01 || chunk), raw or hex, appears anywhere.
# The scanner's positive control finds them in the test's own copy.  After
# a restart both stores verify clean and everything reads back byte for
# byte: the disk, the restored disk, both restore points, the westus copy.
. "$VMRP_SRC/tests/lib/harness.sh"
command -v nbdcopy >/dev/null && command -v qemu-io >/dev/null || { echo "qemu-utils/libnbd-bin missing"; exit 1; }
export VMRP_CONFIG_EXTRA='[copy]\nper_hour = 0'
T=$VAR/t # the test's own files (models, downloads): not state, not scanned
mkdir -p "$T" "$VAR/tmp"
export TMPDIR=$VAR/tmp # the daemons' temporary files land in what is scanned
start_regions
TOKEN=$(token "$EAST")
CV=api-version=2024-07-01
DV=api-version=2024-03-02
G=/subscriptions/$SUB/resourceGroups/scan
C=$EAST$G/providers/Microsoft.Compute
P=$G/providers/Microsoft.Compute
MIB=1048576

pattern() { # KEY BYTES: AES-256-CTR of zeros, a fixed key and IV
  head -c "$2" /dev/zero | openssl enc -aes-256-ctr -K "$(printf '%064x' "$1")" -iv 00000000000000000000000000000000 -nosalt
}
pattern 28 $((64 * MIB)) > "$T/pattern"
pattern 29 $((4 * MIB)) > "$T/change"
truncate -s 1G "$T/model1"
dd if="$T/pattern" of="$T/model1" conv=notrunc status=none
cp --sparse=always "$T/model1" "$T/model2"
dd if="$T/change" of="$T/model2" bs=$MIB seek=8 conv=notrunc status=none
check python3 "$VMRP_SRC/tests/lib/scan_plain.py" --expect-hit "$T/pattern" "$T/change" -- "$T/model2" \
  "the scanner's positive control: it finds the patterns in the test's own model"

arm PUT "$EAST$G?api-version=2021-04-01" '{"location":"eastus"}'
arm PUT "$C/disks/d1?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
wait_op
D1=$(nbd_uri "$C/disks/d1" tcp)
nbdcopy --flush "$T/pattern" "$D1"
arm PUT "$C/virtualMachines/vm1?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},
  "storageProfile":{"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"'$P'/disks/d1"}}}}}'
wait_op
arm PUT "$C/restorePointCollections/src?$CV" '{"location":"eastus","properties":{"source":{"id":"'$P'/virtualMachines/vm1"}}}'
take() {
  arm PUT "$C/restorePointCollections/src/restorePoints/$1?$CV" '{}'
  wait_op 1200
  check test "$OP_STATUS" = Succeeded "restore point $1"
  arm GET "$C/restorePointCollections/src/restorePoints/$1?$CV"
  echo "$BODY" | jq -r .properties.sourceMetadata.storageProfile.osDisk.diskRestorePoint.id > "$T/$1.drp"
}
take rp1
qemu-io -f raw -c "write -s $T/change 8M 4M" "$D1" >/dev/null
take rp2
DRP1=$(cat "$T/rp1.drp"); DRP2=$(cat "$T/rp2.drp")

# a disk restored from rp1, read whole (hydrating it)
arm PUT "$C/disks/r1?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Restore","sourceResourceId":"'"$DRP1"'"}}}'
wait_op 1200
nbdcopy "$(nbd_uri "$C/disks/r1" tcp)" "$T/r1"
check cmp "$T/model1" "$T/r1" "a disk restored from rp1 equals the disk as of rp1"
# rp2 downloaded through SAS
arm POST "$EAST$DRP2/beginGetAccess?$DV" '{"access":"Read","durationInSeconds":600}'
LOC=$(header Location); wait_op; arm GET "$LOC"
SAS=$(echo "$BODY" | jq -r .accessSAS)
code=$(curl -s --cacert "$CA" -o "$T/rp2.part" -D "$T/h" -w '%{http_code}' -H "x-ms-range: bytes=0-$((80 * MIB - 1))" "$SAS")
check test "$code" = 206 "rp2's first 80 MiB downloaded through SAS"
check cmp -n $((80 * MIB)) "$T/rp2.part" "$T/model2" "they are the disk as of rp2"
check grep -qi '^x-ms-server-encrypted: true' "$T/h" "served with x-ms-server-encrypted: true"
# rp2 copied to westus
arm PUT "$C/restorePointCollections/dst?$CV" '{"location":"westus","properties":{"source":{"id":"'$P'/restorePointCollections/src"}}}'
arm PUT "$C/restorePointCollections/dst/restorePoints/c2?$CV" '{"properties":{"sourceRestorePoint":{"id":"'$P'/restorePointCollections/src/restorePoints/rp2"}}}'
wait_op 3000
check test "$OP_STATUS" = Succeeded "rp2 copied to westus"
arm GET "$C/restorePointCollections/dst/restorePoints/c2?$CV"
COPY=$(echo "$BODY" | jq -r .properties.sourceMetadata.storageProfile.osDisk.diskRestorePoint.id)
arm GET "$EAST$COPY?$DV"
check test "$(echo "$BODY" | jq -r .properties.encryption.type)" = EncryptionAtRestWithPlatformKey \
  "the copy says EncryptionAtRestWithPlatformKey"
store_op() { # BASE storeGc|storeVerify → the result in $BODY
  arm POST "$1/subscriptions/$SUB/providers/Microsoft.Vmrp/$2?api-version=2024-03-01"
  local loc; loc=$(header Location)
  for _ in $(seq 600); do arm GET "$loc"; [ "$STATUS" != 202 ] && break; sleep 0.1; done
}
store_op "$EAST" storeGc
check test "$STATUS" = 200 "a store GC in eastus ($(echo "$BODY" | jq -c '{liveObjects,deadObjects}'))"
store_op "$WEST" storeGc
check test "$STATUS" = 200 "and in westus ($(echo "$BODY" | jq -c '{liveObjects,deadObjects}'))"

VMRP_VAR=$VAR "$VMRP_SRC/scripts/run" --stop >/dev/null
check test "$(grep -l 'stopped cleanly' "$VAR"/*/vmrpd.log | wc -l)" = 2 "both regions stopped cleanly"
check python3 "$VMRP_SRC/tests/lib/scan_plain.py" "$T/pattern" "$T/change" -- \
  $(find "$VAR" -mindepth 1 -maxdepth 1 ! -name t) \
  "no file of the state directory holds the patterns or their chunks' plaintext addresses"

start_regions
TOKEN=$(token "$EAST")
for r in eastus westus; do
  [ $r = eastus ] && base=$EAST || base=$WEST
  store_op "$base" storeVerify
  check test "$(echo "$BODY" | jq -r .clean)" = true \
    "after the restart the stores of $r verify clean ($(echo "$BODY" | jq -c '{objectsChecked,badRecords}'))"
done
readback() { # URL MODEL WHAT
  rm -f "$T/back"
  nbdcopy "$(nbd_uri "$1" tcp)" "$T/back"
  check cmp "$2" "$T/back" "$3 reads back byte for byte"
}
readback "$C/disks/d1" "$T/model2" "the disk"
readback "$C/disks/r1" "$T/model1" "the restored disk"
readback "$EAST$DRP1" "$T/model1" "rp1"
readback "$EAST$DRP2" "$T/model2" "rp2"
readback "$EAST$COPY" "$T/model2" "the westus copy of rp2"
finish
