#!/usr/bin/env bash
# Customer-managed keys end to end (docs/encryption.md "Customer keys and
# crypto-erase"): a disk encryption set over a key of a SoftHSM2 token made
# with the az CLI (id form of --source-vault) and a disk in it (az disk create
# --disk-encryption-set); data written over NBD; rotation to a new key
# version, the old one destroyed, the data read back after a restart; the JS
# SDK's set, disk, rotation and deletes; bad input for every new field,
# nothing created; crypto-erase (the key deleted from the token): an open NBD
# connection closed, SAS reads, NBD grants, copies and new disks refused with
# a clear error naming the set, also after a restart — a platform-key disk
# beside keeps working; a key disabled, then enabled again (after a restart)
# gives the data back; the group's deletion removes its sets' key domains.
. "$VMRP_SRC/tests/lib/harness.sh"
. "$VMRP_SRC/tests/lib/hsm.sh"
. "$VMRP_SRC/tests/lib/az.sh"
command -v qemu-io >/dev/null && command -v nbdcopy >/dev/null || { echo "qemu-utils/libnbd-bin missing"; exit 1; }
hsm_init
K1=$(hsm_key cmk 01); K2=$(hsm_key cmk 02); KO=$(hsm_key other 01)
second_subscription
export VMRP_CONFIG_EXTRA="$VMRP_CONFIG_EXTRA\n$(hsm_config)\nkey_probe_interval = 1"
start_regions
TOKEN=$(token "$EAST")
DV=api-version=2024-03-02
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
arm PUT "$C/disks/p1?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
wait_op

# ---- data over NBD ------------------------------------------------------------------
D1=$(nbd_uri "$C/disks/d1"); P1=$(nbd_uri "$C/disks/p1")
head -c 3M /dev/urandom > "$VAR/pattern"
check qemu-io -f raw -c "write -P 0x5c 0 1M" "$P1" "write the platform disk over NBD"
check nbdcopy "$VAR/pattern" "$D1" "write 3 MiB of a random pattern to the CMK disk over NBD"

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

# ---- the JS SDK -------------------------------------------------------------------
if NODE_EXTRA_CA_CERTS=$CA node "$VMRP_SRC/tests/clients/disk-encryption-sets.mjs" "$ENDPOINTS" eastus "$KO" "$K2"; then
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
des bad '{"location":"eastus","properties":{"encryptionType":"EncryptionAtRestWithPlatformAndCustomerKeys","activeKey":{"keyUrl":"'$K2'"}}}'
expect 400 InvalidParameter "encryptionType EncryptionAtRestWithPlatformAndCustomerKeys"
des bad '{"location":"eastus","properties":{"encryptionType":"Nope","activeKey":{"keyUrl":"'$K2'"}}}'
expect 400 InvalidParameter "an unknown encryptionType"
des bad '{"location":"eastus","identity":{"type":"UserAssigned"},"properties":{"activeKey":{"keyUrl":"'$K2'"}}}'
expect 400 InvalidParameter "a user-assigned identity"
des bad '{"location":"eastus","properties":{"rotationToLatestKeyVersionEnabled":true,"activeKey":{"keyUrl":"'$K2'"}}}'
expect 400 InvalidParameter "rotationToLatestKeyVersionEnabled true"
des bad '{"location":"eastus","properties":{"rotationToLatestKeyVersionEnabled":"maybe","activeKey":{"keyUrl":"'$K2'"}}}'
expect 400 InvalidRequestContent "rotationToLatestKeyVersionEnabled not a boolean"
des bad '{"location":"eastus","properties":{"activeKey":{"keyUrl":"'$K2'","sourceVault":{"id":"'$RGID'/providers/Microsoft.KeyVault/vaults/elsewhere"}}}}'
expect 400 InvalidParameter "a sourceVault that is not the key's token"
des bad '{"location":"eastus","properties":{"activeKey":{"keyUrl":"'$K2'","sourceVault":{"id":"not-an-id"}}}}'
expect 400 InvalidParameter "a sourceVault that is no resource id"
des bad '{"location":"eastus","properties":{"activeKey":{"keyUrl":42}}}'
expect 400 InvalidRequestContent "keyUrl not a string"
des 'bad!' '{"location":"eastus","properties":{"activeKey":{"keyUrl":"'$K2'"}}}'
expect 400 InvalidResourceName "an invalid set name"
des bad '{"location":"westeurope","properties":{"activeKey":{"keyUrl":"'$K2'"}}}'
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
hsm_delete cmk 02
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

# The group's deletion takes its sets last, and their key domains with them.
check test "$("$VMRPD" keys show -c "$EAST_CONF" | grep -c ' customer ')" = 2 "the keyring holds the two sets' domains"
arm DELETE "$RG?api-version=2021-04-01"
expect 202 "" "delete the resource group: disks, VM, restore points, sets"
loc=$(header Location)
for _ in $(seq 300); do arm GET "$loc"; [ "$STATUS" != 202 ] && break; sleep 0.1; done
check test "$STATUS" = 200 "the group's deletion finishes"
check test "$("$VMRPD" keys show -c "$EAST_CONF" | grep -c ' customer ')" = 0 "no customer domain is left in the keyring"
finish
