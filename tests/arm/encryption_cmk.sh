#!/usr/bin/env bash
# Customer-managed keys end to end (docs/encryption.md "Customer keys and
# crypto-erase"): a disk encryption set over a key of a SoftHSM2 token made
# with the az CLI (id form of --source-vault) and a disk in it (az disk create
# --disk-encryption-set); data written over NBD, a restore point, a restore,
# an azcopy download of the disk restore point byte for byte, a copy to
# westus under the same key and a disk restored there; rotation to a new key
# version (az disk-encryption-set update), the old one destroyed, the data
# read back after a restart; a crash between a rotation's re-wrap and the
# row's update (the set then names the key the data needs); the JS SDK's set, disk, rotation and deletes;
# bad input for every new field, nothing created; crypto-erase (the key
# deleted from the token): an open NBD connection closed, SAS reads, NBD
# grants, restores, copies, captures and new disks refused with a clear
# error naming the set — in westus too, and after a restart — while
# platform-key data beside keeps working; a key disabled, then enabled again
# (after a restart) gives the data back; the group's deletion takes its sets.
. "$VMRP_SRC/tests/lib/harness.sh"
. "$VMRP_SRC/tests/lib/hsm.sh"
. "$VMRP_SRC/tests/lib/az.sh"
command -v qemu-io >/dev/null && command -v nbdcopy >/dev/null || { echo "qemu-utils/libnbd-bin missing"; exit 1; }
AZCOPY=$VMRP_SRC/tests/clients/node_modules/@azure-tools/azcopy-linux/dist/bin/azcopy_linux_amd64
[ -x "$AZCOPY" ] || { echo "azcopy missing (scripts/deps test)"; exit 1; }
export AZCOPY_LOG_LOCATION=$VAR/azcopy AZCOPY_JOB_PLAN_LOCATION=$VAR/azcopy/plans
hsm_init
K1=$(hsm_key cmk 01); K2=$(hsm_key cmk 02); KO=$(hsm_key other 01)
second_subscription
export VMRP_CONFIG_EXTRA="$VMRP_CONFIG_EXTRA\n$(hsm_config)\nkey_probe_interval = 1"
start_regions
TOKEN=$(token "$EAST")
DV=api-version=2024-03-02
CV=api-version=2024-07-01
RGID=/subscriptions/$SUB/resourceGroups/cmk
RG=$EAST$RGID
C=$RG/providers/Microsoft.Compute
VAULT=$RGID/providers/Microsoft.KeyVault/vaults/$HSM_TOKEN
arm PUT "$RG?api-version=2021-04-01" '{"location":"eastus"}'

# ---- the az CLI: the set and a disk in it -----------------------------------
az_login "$EAST"
check az disk-encryption-set create -g cmk -n des1 --key-url "$K1" --source-vault "$VAULT" -o none \
  "az disk-encryption-set create --key-url --source-vault <id>"
check az disk create -g cmk -n d1 --size-gb 1 --disk-encryption-set des1 -o none "az disk create --disk-encryption-set des1"
SET=$RGID/providers/Microsoft.Compute/diskEncryptionSets/des1
arm GET "$C/diskEncryptionSets/des1?$DV"
expect 200 "" "GET the set"
check test "$(echo "$BODY" | jq -r '.properties | [.encryptionType, .activeKey.keyUrl, .activeKey.sourceVault.id, .provisioningState] | join(" ")')" \
  = "EncryptionAtRestWithCustomerKey $K1 $VAULT Succeeded" "the set: its type, key, vault, Succeeded"
check test "$(echo "$BODY" | jq -r '[.identity.type, (.identity.principalId | length), .identity.tenantId] | join(" ")')" \
  = "SystemAssigned 36 $TENANT" "its system-assigned identity"
check test "$(echo "$BODY" | jq -c '.properties.previousKeys')" = "[]" "no previous keys"
check bash -c "! grep -q domain <<< '$BODY'" "the set's document names no key domain"
arm GET "$EAST/subscriptions/$SUB/providers/Microsoft.Compute/diskEncryptionSets?$DV"
check test "$(echo "$BODY" | jq -r '[.value[].id] | join(" ")')" = "$SET" "the subscription's list"
arm PATCH "$C/diskEncryptionSets/des1?$DV" '{"tags":{"team":"db"}}'
check test "$STATUS/$(echo "$BODY" | jq -r '.tags.team + " " + .properties.activeKey.keyUrl')" = "200/db $K1" "PATCH tags, the key kept"
arm GET "$C/disks/d1?$DV"
check test "$(echo "$BODY" | jq -r '.properties.encryption | [.type, .diskEncryptionSetId] | join(" ")')" \
  = "EncryptionAtRestWithCustomerKey $SET" "the disk: under the customer key of des1, naming it"
arm PUT "$C/disks/p1?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
wait_op
arm GET "$C/disks/p1?$DV"
check test "$(echo "$BODY" | jq -r '.properties.encryption.type')" = EncryptionAtRestWithPlatformKey "a disk beside: the platform key"

# ---- data over NBD ------------------------------------------------------------------
D1=$(nbd_uri "$C/disks/d1"); P1=$(nbd_uri "$C/disks/p1")
head -c 3M /dev/urandom > "$VAR/pattern"
check qemu-io -f raw -c "write -P 0x5c 0 1M" "$P1" "write the platform disk over NBD"
check nbdcopy "$VAR/pattern" "$D1" "write 3 MiB of a random pattern to the CMK disk over NBD"

# ---- a VM, a restore point, a restore, azcopy --------------------------------------------
for d in d3 p2; do
  set_json=; [ $d = d3 ] && set_json=',"encryption":{"diskEncryptionSetId":"'$SET'"}'
  arm PUT "$C/disks/$d?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1'"$set_json"'}}'
  wait_op
done
check nbdcopy "$VAR/pattern" "$(nbd_uri "$C/disks/d3")" "the pattern written to d3 (in des1) over NBD"
arm PUT "$C/virtualMachines/vm1?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_D2s_v3"},
  "storageProfile":{"osDisk":{"osType":"Linux","name":"d3","createOption":"Attach","managedDisk":{"id":"'$RGID'/providers/Microsoft.Compute/disks/d3"}},
  "dataDisks":[{"lun":0,"name":"p2","createOption":"Attach","managedDisk":{"id":"'$RGID'/providers/Microsoft.Compute/disks/p2"}}]}}}'
wait_op
arm PUT "$C/restorePointCollections/rpc?$CV" '{"location":"eastus","properties":{"source":{"id":"'$RGID'/providers/Microsoft.Compute/virtualMachines/vm1"}}}'
RPC=$C/restorePointCollections/rpc
arm PUT "$RPC/restorePoints/rp1?$CV" '{}'
wait_op
check test "$OP_STATUS" = Succeeded "a restore point of the VM"
arm GET "$RPC/restorePoints/rp1/diskRestorePoints?$DV"
DRP=$(echo "$BODY" | jq -r '.value[] | select(.name | startswith("d3_")) | .id')
PDRP=$(echo "$BODY" | jq -r '.value[] | select(.name | startswith("p2_")) | .id')
check test "$(echo "$BODY" | jq -r --arg id "$DRP" '.value[] | select(.id == $id) | .properties.encryption | [.type, .diskEncryptionSetId] | join(" ")')" \
  = "EncryptionAtRestWithCustomerKey $SET" "d3's disk restore point: under des1's key, naming the set"
check test "$(echo "$BODY" | jq -r --arg id "$PDRP" '.value[] | select(.id == $id) | .properties.encryption.type')" \
  = EncryptionAtRestWithPlatformKey "p2's: under the platform key"
arm PUT "$C/disks/r1?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Restore","sourceResourceId":"'$DRP'"}}}'
wait_op
check test "$OP_STATUS" = Succeeded "a disk restored from it"
arm GET "$C/disks/r1?$DV"
check test "$(echo "$BODY" | jq -r '.properties.encryption.diskEncryptionSetId')" = "$SET" "in the set by default"
nbdcopy "$(nbd_uri "$C/disks/r1")" "$VAR/r1.img"
check cmp -n 3145728 "$VAR/pattern" "$VAR/r1.img" "the restored disk reads back the pattern"
arm PUT "$C/disks/r3?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Restore","sourceResourceId":"'$DRP'"},"encryption":{"type":"EncryptionAtRestWithPlatformKey"}}}'
wait_op
arm GET "$C/disks/r3?$DV"
check test "$(echo "$BODY" | jq -c '.properties.encryption')" = '{"type":"EncryptionAtRestWithPlatformKey"}' "a restore asking for the platform key gets it"
nbdcopy "$(nbd_uri "$C/disks/r3")" "$VAR/r3.img"
check cmp -n 3145728 "$VAR/pattern" "$VAR/r3.img" "and reads back the pattern"
arm POST "$EAST$DRP/beginGetAccess?$DV" '{"access":"Read","durationInSeconds":3600}'
wait_op
DSAS=$(echo "$BODY" | jq -r '.properties.output.accessSAS')
SSL_CERT_FILE=$CA timeout -s KILL 120 "$AZCOPY" copy "$DSAS" "$VAR/drp.vhd" --from-to BlobLocal </dev/null >"$VAR/azcopy.out" 2>&1 ||
  cat "$VAR/azcopy.out"
check cmp -n 3145728 "$VAR/pattern" "$VAR/drp.vhd" "azcopy download of the disk restore point under the customer key: the pattern"

# ---- a copy to westus keeps the set's key --------------------------------------------------
arm PUT "$C/restorePointCollections/wrpc?$CV" '{"location":"westus","properties":{"source":{"id":"'$RGID'/providers/Microsoft.Compute/restorePointCollections/rpc"}}}'
expect 201 "" "a westus collection copying rpc"
arm PUT "$C/restorePointCollections/wrpc/restorePoints/rp1c?$CV" '{"properties":{"sourceRestorePoint":{"id":"'$RGID'/providers/Microsoft.Compute/restorePointCollections/rpc/restorePoints/rp1"}}}'
wait_op
check test "$OP_STATUS" = Succeeded "rp1 copied to westus"
arm GET "$C/restorePointCollections/wrpc/restorePoints/rp1c/diskRestorePoints?$DV"
CDRP=$(echo "$BODY" | jq -r '.value[] | select(.name | startswith("d3_")) | .id')
check test "$(echo "$BODY" | jq -r --arg id "$CDRP" '.value[] | select(.id == $id) | .properties.encryption.type')" \
  = EncryptionAtRestWithCustomerKey "the westus copy of d3's disk restore point: under the set's key"
arm PUT "$C/disks/wr1?$DV" '{"location":"westus","properties":{"creationData":{"createOption":"Restore","sourceResourceId":"'$CDRP'"}}}'
wait_op
nbdcopy "$(nbd_uri "$C/disks/wr1")" "$VAR/wr1.img"
check cmp -n 3145728 "$VAR/pattern" "$VAR/wr1.img" "a westus disk restored from the copy reads back the pattern"

# ---- rotation ---------------------------------------------------------------------------
check az disk-encryption-set update -g cmk -n des1 --key-url "$K2" -o none "az disk-encryption-set update --key-url: rotation to cmk/02"
arm GET "$C/diskEncryptionSets/des1?$DV"
check test "$(echo "$BODY" | jq -r '.properties.activeKey | [.keyUrl, .sourceVault.id] | join(" ")')" = "$K2 $VAULT" "the new key is active, the vault kept"
check test -n "$(echo "$BODY" | jq -r '.properties.lastKeyRotationTimestamp // empty')" "lastKeyRotationTimestamp set"
hsm_delete cmk 01
ok "the old key version deleted from the token"
kill9_region eastus
restart_region eastus
nbdcopy "$(nbd_uri "$C/disks/d1")" "$VAR/d1.img"
check cmp -n 3145728 "$VAR/pattern" "$VAR/d1.img" "after rotation and a restart the disk reads back the pattern"
# A crash between a rotation's re-wrap and the row's update: the set then
# shows the key the keyring says wraps its data (cmk/03), so destroying the
# one it replaced (cmk/02) loses nothing.
K3=$(hsm_key cmk 03)
kill9_region eastus
VMRP_FAILPOINTS=des.rotate.exit_after_rewrap=1 restart_region eastus
arm PATCH "$C/diskEncryptionSets/des1?$DV" '{"properties":{"activeKey":{"keyUrl":"'$K3'"}}}'
for _ in $(seq 100); do kill -0 "$(region_pid eastus)" 2>/dev/null || break; sleep 0.1; done
check test "$(kill -0 "$(region_pid eastus)" 2>/dev/null && echo alive || echo gone)" = gone \
  "the region died between the re-wrap and the row's update (failpoint)"
restart_region eastus
arm GET "$C/diskEncryptionSets/des1?$DV"
check test "$(echo "$BODY" | jq -r .properties.activeKey.keyUrl)" = "$K3" \
  "after that crash the set names the key that wraps its data now (cmk/03), not the row's cmk/02"
hsm_delete cmk 02
kill9_region eastus
restart_region eastus
nbdcopy "$(nbd_uri "$C/disks/d1")" "$VAR/d1.img"
check cmp -n 3145728 "$VAR/pattern" "$VAR/d1.img" "with cmk/02 destroyed the disk reads back the pattern"

# ---- the JS SDK -------------------------------------------------------------------
if NODE_EXTRA_CA_CERTS=$CA node "$VMRP_SRC/tests/clients/disk-encryption-sets.mjs" "$ENDPOINTS" eastus "$KO" "$K3"; then
  ok "JS SDK: set, disk in it, rotation, delete refused in use, deletes"
else
  STATUS=; BODY=; fail "JS SDK disk encryption set flow"
fi

# ---- bad input: a clear error, nothing created ------------------------------------
before=$(store_dump eastus)
des() { arm PUT "$C/diskEncryptionSets/$1?$DV" "$2"; }
des bad '{"location":"eastus","properties":{"activeKey":{"keyUrl":"https://vmrp-hsm/keys/cmk"}}}'
expect 400 InvalidParameter "a malformed keyUrl"
des bad '{"location":"eastus","properties":{"activeKey":{"keyUrl":"'$(hsm_url nokey 01)'"}}}'
expect 400 KeyVaultKeyNotFound "a key the token does not hold"
des bad '{"location":"eastus","properties":{"activeKey":{"keyUrl":"https://notoken.vault.local/keys/cmk/02"}}}'
expect 400 KeyVaultServiceUnavailable "a token that does not exist"
des bad '{"location":"eastus","properties":{"activeKey":{}}}'
expect 400 InvalidParameter "activeKey without keyUrl"
des bad '{"location":"eastus","properties":{}}'
expect 400 InvalidParameter "no activeKey"
des bad '{"location":"eastus","properties":{"encryptionType":"EncryptionAtRestWithPlatformAndCustomerKeys","activeKey":{"keyUrl":"'$K3'"}}}'
expect 400 InvalidParameter "encryptionType EncryptionAtRestWithPlatformAndCustomerKeys"
des bad '{"location":"eastus","properties":{"encryptionType":"Nope","activeKey":{"keyUrl":"'$K3'"}}}'
expect 400 InvalidParameter "an unknown encryptionType"
des bad '{"location":"eastus","identity":{"type":"UserAssigned"},"properties":{"activeKey":{"keyUrl":"'$K3'"}}}'
expect 400 InvalidParameter "a user-assigned identity"
des bad '{"location":"eastus","properties":{"rotationToLatestKeyVersionEnabled":true,"activeKey":{"keyUrl":"'$K3'"}}}'
expect 400 InvalidParameter "rotationToLatestKeyVersionEnabled true"
des bad '{"location":"eastus","properties":{"rotationToLatestKeyVersionEnabled":"maybe","activeKey":{"keyUrl":"'$K3'"}}}'
expect 400 InvalidRequestContent "rotationToLatestKeyVersionEnabled not a boolean"
des bad '{"location":"eastus","properties":{"activeKey":{"keyUrl":"'$K3'","sourceVault":{"id":"'$RGID'/providers/Microsoft.KeyVault/vaults/elsewhere"}}}}'
expect 400 InvalidParameter "a sourceVault that is not the key's token"
des bad '{"location":"eastus","properties":{"activeKey":{"keyUrl":"'$K3'","sourceVault":{"id":"not-an-id"}}}}'
expect 400 InvalidParameter "a sourceVault that is no resource id"
des bad '{"location":"eastus","properties":{"activeKey":{"keyUrl":42}}}'
expect 400 InvalidRequestContent "keyUrl not a string"
des bad '{"location":"eastus","properties":{"federatedClientId":"0d7a2b1c-0000-4000-8000-000000000001","activeKey":{"keyUrl":"'$K3'"}}}'
expect 400 InvalidParameter "federatedClientId (cross-tenant keys)"
des bad '{"location":"eastus","identity":{"type":"Bogus"},"properties":{"activeKey":{"keyUrl":"'$K3'"}}}'
expect 400 InvalidParameter "an unknown identity type"
des bad ''
expect 400 InvalidRequestContent "no body"
arm GET "$C/diskEncryptionSets/bad?$DV"
expect 404 ResourceNotFound "GET of a set that does not exist"
arm PATCH "$C/diskEncryptionSets/bad?$DV" '{"tags":{"a":"b"}}'
expect 404 ResourceNotFound "PATCH of a set that does not exist"
arm DELETE "$C/diskEncryptionSets/bad?$DV"
expect 204 "" "DELETE of a set that does not exist"
des 'bad!' '{"location":"eastus","properties":{"activeKey":{"keyUrl":"'$K3'"}}}'
expect 400 InvalidResourceName "an invalid set name"
des bad '{"location":"westeurope","properties":{"activeKey":{"keyUrl":"'$K3'"}}}'
expect 400 LocationNotAvailableForResourceType "a location of no region"
arm PATCH "$C/diskEncryptionSets/des1?$DV" '{"properties":{"encryptionType":"ConfidentialVmEncryptedWithCustomerKey"}}'
expect 400 PropertyChangeNotAllowed "changing the set's encryptionType"
arm PATCH "$C/diskEncryptionSets/des1?$DV" '{"properties":{"activeKey":{"keyUrl":"'$(hsm_url nokey 01)'"}}}'
expect 400 KeyVaultKeyNotFound "rotation to a key the token does not hold"
disk() { arm PUT "$C/disks/$1?$DV" "{\"location\":\"eastus\",\"properties\":{\"creationData\":{\"createOption\":\"Empty\"},\"diskSizeGB\":1,\"encryption\":$2}}"; }
disk bad '{"type":"EncryptionAtRestWithCustomerKey","diskEncryptionSetId":"'$RGID'/providers/Microsoft.Compute/diskEncryptionSets/none"}'
expect 400 InvalidParameter "a disk in a set that does not exist"
disk bad '{"type":"EncryptionAtRestWithCustomerKey"}'
expect 400 InvalidParameter "EncryptionAtRestWithCustomerKey without a set"
disk bad '{"type":"EncryptionAtRestWithPlatformKey","diskEncryptionSetId":"'$SET'"}'
expect 400 InvalidParameter "a set with EncryptionAtRestWithPlatformKey"
disk bad '{"type":"EncryptionAtRestWithPlatformAndCustomerKeys","diskEncryptionSetId":"'$SET'"}'
expect 400 InvalidParameter "EncryptionAtRestWithPlatformAndCustomerKeys"
disk bad '{"type":"Nope"}'
expect 400 InvalidParameter "an unknown encryption type"
disk bad '{"diskEncryptionSetId":17}'
expect 400 InvalidRequestContent "diskEncryptionSetId not a string"
read -r ALICE_ID ALICE_SEC <<<"$(principal alice "$SUB" Contributor)"
OWNER_TOKEN=$TOKEN; TOKEN=$(token "$EAST" "$ALICE_ID" "$ALICE_SEC")
disk bad '{"type":"EncryptionAtRestWithCustomerKey","diskEncryptionSetId":"/subscriptions/'$SUB_B'/resourceGroups/cmk/providers/Microsoft.Compute/diskEncryptionSets/des1"}'
expect 403 LinkedAuthorizationFailed "a set in a subscription the caller may not use"
TOKEN=$OWNER_TOKEN
arm PATCH "$C/disks/p1?$DV" '{"properties":{"encryption":{"type":"EncryptionAtRestWithCustomerKey","diskEncryptionSetId":"'$SET'"}}}'
expect 409 OperationNotAllowed "moving a disk to another key"
arm DELETE "$C/diskEncryptionSets/des1?$DV"
expect 409 OperationNotAllowed "deleting a set in use"
check test "$before" = "$(store_dump eastus)" "no bad request created or changed anything"

# ---- crypto-erase ---------------------------------------------------------------------
# an NBD client holding a connection (libnbd's Python binding, Debian's python3)
exec 7< <(/usr/bin/python3 -c '
import nbd, sys, time
h = nbd.NBD(); h.connect_uri(sys.argv[1]); h.pread(4096, 0)
print("open", flush=True)
try:
  for _ in range(300): h.pread(4096, 0); time.sleep(0.05)
  print("still open")
except Exception:
  print("closed")' "$(nbd_uri "$C/disks/d1")" 2>/dev/null)
read -r -t 30 line <&7 || true
check test "$line" = open "an NBD connection to a disk of the set reads"
arm POST "$C/disks/d1/beginGetAccess?$DV" '{"access":"Read","durationInSeconds":3600}'
wait_op
SAS=$(echo "$BODY" | jq -r '.properties.output.accessSAS')
code=$(curl -s --cacert "$CA" -o /dev/null -w '%{http_code}' -r 0-511 "$SAS")
check test "$code" = 206 "a SAS read of the disk works while its key does"
arm POST "$EAST$PDRP/beginGetAccess?$DV" '{"access":"Read","durationInSeconds":3600}'
wait_op
PSAS=$(echo "$BODY" | jq -r '.properties.output.accessSAS')
hsm_delete cmk 03
ok "crypto-erase: the set's key deleted from the token (pkcs11-tool --delete-object)"
read -r -t 30 line <&7 || true
check test "$line" = closed "the open NBD connection is closed"
code=$(curl -s --cacert "$CA" -o "$VAR/out" -w '%{http_code}' -r 0-511 "$SAS")
check bash -c "[ $code = 403 ] && grep -q KeyVaultEncryptionKeyNotFound '$VAR/out'" "a SAS read of it: 403 KeyVaultEncryptionKeyNotFound"
arm POST "$C/disks/d1/vmrpGrantNbdAccess?$DV" '{"access":"Write"}'
expect 409 KeyVaultKeyNotFound "NBD grant of a disk of the set"
check bash -c "grep -q des1 <<< '$BODY'" "the error names the set"
arm POST "$C/disks/d1/endGetAccess?$DV"
arm POST "$C/disks/d1/beginGetAccess?$DV" '{"access":"Read","durationInSeconds":60}'
expect 409 KeyVaultKeyNotFound "beginGetAccess of a disk of the set"
arm PUT "$C/disks/c1?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Copy","sourceResourceId":"'$RGID'/providers/Microsoft.Compute/disks/d1"}}}'
expect 409 KeyVaultKeyNotFound "a copy of a disk of the set"
arm PUT "$C/disks/c1?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1,"encryption":{"diskEncryptionSetId":"'$SET'"}}}'
expect 400 KeyVaultKeyNotFound "a new disk in the set"
code=$(curl -s --cacert "$CA" -o "$VAR/out" -w '%{http_code}' -r 0-511 "$DSAS")
check bash -c "[ $code = 403 ] && grep -q KeyVaultEncryptionKeyNotFound '$VAR/out'" "a SAS read of its disk restore point: 403"
arm POST "$EAST$DRP/vmrpGrantNbdAccess?$DV" '{"access":"Read"}'
expect 409 KeyVaultKeyNotFound "NBD grant of its disk restore point"
arm POST "$EAST$DRP/endGetAccess?$DV"
arm POST "$EAST$DRP/beginGetAccess?$DV" '{"access":"Read","durationInSeconds":60}'
expect 409 KeyVaultKeyNotFound "beginGetAccess of its disk restore point"
arm PUT "$C/disks/r2?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Restore","sourceResourceId":"'$DRP'"}}}'
expect 409 KeyVaultKeyNotFound "a disk restored from it"
arm PUT "$RPC/restorePoints/rp2?$CV" '{}'
expect 409 KeyVaultKeyNotFound "a restore point of the VM whose OS disk is in the set"
arm POST "$EAST$CDRP/vmrpGrantNbdAccess?$DV" '{"access":"Read"}'
expect 409 KeyVaultKeyNotFound "NBD grant of the westus copy"
arm POST "$C/disks/wr1/vmrpGrantNbdAccess?$DV" '{"access":"Write"}'
expect 409 KeyVaultKeyNotFound "NBD grant of the westus disk restored from it"
code=$(curl -s --cacert "$CA" -o /dev/null -w '%{http_code}' -r 0-511 "$PSAS")
check test "$code" = 206 "a SAS read of the platform disk's restore point works"
check qemu-io -f raw -c "read -P 0x5c 0 1M" "$(nbd_uri "$C/disks/p1")" "the platform-key disk reads back over NBD"
arm GET "$C/disks/d1?$DV"
expect 200 "" "the erased disk is still listed"

# A key disabled, then enabled again: the data goes, then comes back.
KD=$(hsm_key other 02)
arm PUT "$C/diskEncryptionSets/des2?$DV" '{"location":"eastus","identity":{"type":"SystemAssigned"},"properties":{"activeKey":{"keyUrl":"'$KD'"}}}'
expect 200 "" "a second set"
arm PUT "$C/disks/d2?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1,"encryption":{"type":"EncryptionAtRestWithCustomerKey","diskEncryptionSetId":"'$RGID'/providers/Microsoft.Compute/diskEncryptionSets/des2"}}}'
wait_op
check qemu-io -f raw -c "write -P 0x7e 0 64k" "$(nbd_uri "$C/disks/d2")" "a disk in it written"
hsm_disable other 02
arm POST "$C/disks/d2/vmrpGrantNbdAccess?$DV" '{"access":"Write"}'
expect 409 KeyVaultAccessForbidden "its key disabled: NBD refused"
kill9_region eastus
restart_region eastus
arm POST "$C/disks/d1/vmrpGrantNbdAccess?$DV" '{"access":"Write"}'
expect 409 KeyVaultKeyNotFound "after a restart: the erased set's disk still refused with the key's error"
arm POST "$C/disks/d2/vmrpGrantNbdAccess?$DV" '{"access":"Write"}'
expect 409 KeyVaultAccessForbidden "and the disabled one's"
check qemu-io -f raw -c "read -P 0x5c 0 1M" "$(nbd_uri "$C/disks/p1")" "the platform-key disk reads after the restart"
hsm_enable other 02
check qemu-io -f raw -c "read -P 0x7e 0 64k" "$(nbd_uri "$C/disks/d2")" "its key enabled again: the disk (closed at start) opens and reads back"

# The group's deletion: disks, VM, restore points, sets (their key domains stay, wrapped by the customer keys).
arm DELETE "$RG?api-version=2021-04-01"
expect 202 "" "delete the resource group"
loc=$(header Location)
for _ in $(seq 300); do arm GET "$loc"; [ "$STATUS" != 202 ] && break; sleep 0.1; done
check test "$STATUS" = 200 "the group's deletion finishes"
arm GET "$EAST/subscriptions/$SUB/providers/Microsoft.Compute/diskEncryptionSets?$DV"
check test "$(echo "$BODY" | jq '.value | length')" = 0 "no set is left"
finish
