#!/usr/bin/env bash
# What vmrp says about encryption follows the bytes, with [encryption]
# volumes = off (the operator encrypts the device below): a disk's volume is
# written plain — no key in its row (key_wrapped NULL, crypt_state 0), a
# known pattern readable in its file — so the disk claims nothing (the ARM
# `encryption` property absent, its SAS reads x-ms-server-encrypted: false),
# while its restore point, in the always-encrypted store, says
# EncryptionAtRestWithPlatformKey and x-ms-server-encrypted: true.
. "$VMRP_SRC/tests/lib/harness.sh"
command -v qemu-io >/dev/null || { echo "qemu-utils missing"; exit 1; }
export VMRP_CONFIG_EXTRA='[encryption]\nvolumes = off'
start_regions
TOKEN=$(token "$EAST")
CV=api-version=2024-07-01
DV=api-version=2024-03-02
G=/subscriptions/$SUB/resourceGroups/claims
C=$EAST$G/providers/Microsoft.Compute
P=$G/providers/Microsoft.Compute
arm PUT "$EAST$G?api-version=2021-04-01" '{"location":"eastus"}'
arm PUT "$C/disks/d1?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
wait_op
check test "$OP_STATUS" = Succeeded "a disk with volumes = off"
arm GET "$C/disks/d1?$DV"
VOL=$(echo "$BODY" | jq -r .properties.uniqueId)
check test "$(echo "$BODY" | jq -c .properties.encryption)" = null "the disk claims no encryption: the property is absent"
check test "$(sqlite3 "$VAR/eastus/meta.db" "SELECT coalesce(length(key_wrapped), 'none') || '/' || crypt_state FROM volumes WHERE id = '$VOL'")" = none/0 \
  "its volume has no key (key_wrapped NULL, crypt_state 0)"
qemu-io -f raw -c "write -P 0x5a 0 1M" "$(nbd_uri "$C/disks/d1")" >/dev/null
check bash -c "head -c 1048576 '$VAR/eastus/volumes/$VOL.img' | cmp -s - <(head -c 1048576 /dev/zero | tr '\\0' '\\132')" \
  "and its file holds what was written, plain (the claim is not false)"
sas_says() { # URL true|false WHAT: a Read grant's blob answers x-ms-server-encrypted as told
  arm POST "$1/beginGetAccess?$DV" '{"access":"Read","durationInSeconds":600}'
  local loc; loc=$(header Location); wait_op; arm GET "$loc"
  local sas; sas=$(echo "$BODY" | jq -r .accessSAS)
  check bash -c "curl -s --cacert '$CA' -I '$sas' | grep -qi '^x-ms-server-encrypted: $2'" "$3"
  arm POST "$1/endGetAccess?$DV"
  wait_op
}
sas_says "$C/disks/d1" false "its SAS reads answer x-ms-server-encrypted: false"

arm PUT "$C/virtualMachines/vm1?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},
  "storageProfile":{"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"'$P'/disks/d1"}}}}}'
wait_op
arm PUT "$C/restorePointCollections/rpc?$CV" '{"location":"eastus","properties":{"source":{"id":"'$P'/virtualMachines/vm1"}}}'
arm PUT "$C/restorePointCollections/rpc/restorePoints/rp1?$CV" '{}'
wait_op 1200
check test "$OP_STATUS" = Succeeded "a restore point of it"
arm GET "$C/restorePointCollections/rpc/restorePoints/rp1?$CV"
DRP=$(echo "$BODY" | jq -r .properties.sourceMetadata.storageProfile.osDisk.diskRestorePoint.id)
arm GET "$EAST$DRP?$DV"
check test "$(echo "$BODY" | jq -r .properties.encryption.type)" = EncryptionAtRestWithPlatformKey \
  "its disk restore point says EncryptionAtRestWithPlatformKey (the store is always encrypted)"
sas_says "$EAST$DRP" true "and its SAS reads x-ms-server-encrypted: true"
arm GET "$C/disks/d1?$DV"
check test "$(echo "$BODY" | jq -c .properties.encryption)" = null "the disk still claims nothing"
finish
