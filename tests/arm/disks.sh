#!/usr/bin/env bash
# Microsoft.Compute/disks over ARM, and each disk as a real block device over
# NBD: create (Empty, Copy), get, list, patch (tags, grow), delete; qemu-img,
# qemu-io and nbdcopy against the returned NBD URIs; bad input answered with
# Azure's errors and nothing changed; delete refused while attached or
# exported; a copy is a point-in-time image; a resource-group delete removes
# its disks' volumes; a disk says EncryptionAtRestWithPlatformKey because its
# volume file is encrypted under its own key, kept wrapped in the metadata.
. "$VMRP_SRC/tests/lib/harness.sh"
command -v qemu-img >/dev/null && command -v nbdcopy >/dev/null || { echo "qemu-utils/libnbd-bin missing"; exit 1; }
start_regions
TOKEN=$(token "$EAST")
V=api-version=2024-03-02
RG=$EAST/subscriptions/$SUB/resourceGroups/drg
D=$RG/providers/Microsoft.Compute/disks
arm PUT "$RG?api-version=2021-04-01" '{"location":"eastus"}'
expect 201 "" "resource group for disks"

# wait_op: polls the Azure-AsyncOperation URL of the last request until it ends

arm PUT "$D/d1?$V" '{"location":"eastus","sku":{"name":"Premium_LRS"},"tags":{"app":"db"},"properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
expect 202 "" "PUT disk (Empty) answers 202"
check test -n "$(header Azure-AsyncOperation)" "with Azure-AsyncOperation"
check test -n "$(header Location)" "and Location"
check test "$(header Retry-After)" = 1 "and Retry-After"
wait_op
check test "$OP_STATUS" = Succeeded "disk creation succeeds"
arm GET "$D/d1?$V"
expect 200 "" "GET disk"
check test "$(echo "$BODY" | jq -r .properties.provisioningState)" = Succeeded "provisioningState Succeeded"
check test "$(echo "$BODY" | jq -r .properties.diskSizeBytes)" = 1073741824 "diskSizeBytes"
check test "$(echo "$BODY" | jq -r .properties.diskState)" = Unattached "diskState Unattached"
check test "$(echo "$BODY" | jq -r .sku.name)" = Premium_LRS "sku kept"
check test "$(echo "$BODY" | jq -r .tags.app)" = db "tags kept"
VOLID=$(echo "$BODY" | jq -r .properties.uniqueId)
check test "$(echo "$BODY" | jq -r '.properties.vmrpExport | keys | join(",")')" = allocatedBytes,changeTracking,nbdAccess "the disk's document holds no NBD address (a grant gives one)"
URI=$(nbd_uri "$D/d1")
TURI=$(nbd_uri "$D/d1" tcp)
check test "$(echo "$BODY" | jq -r .properties.vmrpExport.changeTracking)" = Untrusted "a new disk's change tracking starts untrusted (first restore point reads it all)"
check test -f "$VAR/eastus/volumes/$VOLID.img" "the volume file is named by the generated id"

# Real clients on the block device.
check bash -c "qemu-img info --output=json '$URI' | jq -e '.\"virtual-size\" == 1073741824' >/dev/null" "qemu-img info over the unix socket"
check bash -c "qemu-img info --output=json '$TURI' | jq -e '.\"virtual-size\" == 1073741824' >/dev/null" "qemu-img info over TCP"
check qemu-io -f raw -c "write -P 0x5a 1M 256k" -c "read -P 0x5a 1M 256k" "$URI" "qemu-io write and read back a pattern"
head -c 4M /dev/urandom > "$VAR/img.bin"
check qemu-img convert -n -f raw -O raw "$VAR/img.bin" "$URI" "qemu-img convert into the disk"
check nbdcopy --connections=4 "$URI" "$VAR/back.bin" "nbdcopy (multi-conn) out of the disk"
check cmp -n 4194304 "$VAR/img.bin" "$VAR/back.bin" "the bytes read back equal the bytes written"
# Encryption at rest: the disk says so because its volume is.
arm GET "$D/d1?$V"
check test "$(echo "$BODY" | jq -r .properties.encryption.type)" = EncryptionAtRestWithPlatformKey \
  "the disk says EncryptionAtRestWithPlatformKey"
check test "$(meta_sql eastus "SELECT length(key_wrapped) || '/' || crypt_state || '/' || length(domain) FROM volumes WHERE id = '$VOLID'")" = 92/2/32 \
  "its volume's XTS key is kept wrapped by the platform domain (92 bytes, crypt_state 2)"
check bash -c "! cmp -s -n 4194304 '$VAR/img.bin' '$VAR/eastus/volumes/$VOLID.img'" "and its file does not hold the bytes written"

# Copy: a point-in-time copy through the fence.
arm PUT "$D/d2?$V" '{"location":"eastus","properties":{"creationData":{"createOption":"Copy","sourceResourceId":"/subscriptions/'$SUB'/resourceGroups/drg/providers/Microsoft.Compute/disks/d1"}}}'
expect 202 "" "PUT disk (Copy)"
wait_op
check test "$OP_STATUS" = Succeeded "copy succeeds"
arm GET "$D/d2?$V"
check test "$(echo "$BODY" | jq -r .properties.diskSizeGB)" = 1 "the copy has the source's size"
URI2=$(nbd_uri "$D/d2")
nbdcopy "$URI2" "$VAR/copy.bin"
check cmp "$VAR/back.bin" "$VAR/copy.bin" "the copy equals the source byte for byte"
check qemu-io -f raw -c "write -P 0x11 0 64k" "$URI2" "writing the copy"
nbdcopy "$URI" "$VAR/back2.bin"
check cmp "$VAR/back.bin" "$VAR/back2.bin" "leaves the source untouched"

# PATCH: tags and grow; never shrink.
arm PATCH "$D/d1?$V" '{"tags":{"app":"db","tier":"gold"},"properties":{"diskSizeGB":2}}'
expect 200 "" "PATCH tags and grow"
check test "$(echo "$BODY" | jq -r .properties.diskSizeBytes)" = 2147483648 "disk grew to 2 GiB"
check bash -c "qemu-img info --output=json '$URI' | jq -e '.\"virtual-size\" == 2147483648' >/dev/null" "NBD clients see the new size"
before=$(store_dump eastus)
arm PATCH "$D/d1?$V" '{"properties":{"diskSizeGB":1}}'
expect 400 OperationNotAllowed "shrinking is refused"

# Lists.
arm GET "$D?$V"
check test "$(echo "$BODY" | jq '.value | length')" = 2 "list by resource group"
arm GET "$EAST/subscriptions/$SUB/providers/Microsoft.Compute/disks?$V"
check test "$(echo "$BODY" | jq '[.value[].name] | sort | join(",")' -r)" = "d1,d2" "list by subscription"

# The generic resource list (az resource list) with $filter and $expand.
arm GET "$EAST/subscriptions/$SUB/resources?api-version=2021-04-01&\$filter=resourceType%20eq%20'Microsoft.Compute/disks'&\$expand=createdTime,provisioningState"
check test "$(echo "$BODY" | jq '[.value[].name] | sort | join(",")' -r)" = "d1,d2" "GET …/resources filtered by resourceType"
check test "$(echo "$BODY" | jq -r '.value[0].provisioningState')" = Succeeded "\$expand=provisioningState adds it"
check test "$(echo "$BODY" | jq -r '.value[0].createdTime | test("^20")')" = true "\$expand=createdTime adds it"
arm GET "$RG/resources?api-version=2021-04-01&\$filter=name%20eq%20'D1'"
check test "$(echo "$BODY" | jq -r '[.value[].name] | join(",")')" = d1 "GET …/resourceGroups/{rg}/resources filtered by name"
arm GET "$EAST/subscriptions/$SUB/resources?api-version=2021-04-01&\$filter=location%20gt%20'x'"
expect 400 InvalidFilterInQueryString "an unsupported \$filter is refused"

# Bad input: Azure's errors, nothing changed.
arm PUT "$D/bad?$V" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":0}}'
expect 400 InvalidParameter "size 0"
arm PUT "$D/bad?$V" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":32767}}'
expect 400 OperationNotAllowed "a size past [disks] overcommit (10) × the data file system (thin.sh tests the limit exactly)"
arm PUT "$D/bad?$V" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"}}}'
expect 400 InvalidParameter "missing diskSizeGB"
arm PUT "$D/bad?$V" '{"location":"eastus","sku":{"name":"UltraSSD_LRS"},"properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
expect 400 InvalidParameter "UltraSSD_LRS is refused"
arm PUT "$D/bad?$V" '{"location":"eastus","sku":{"name":"PremiumV2_LRS"},"properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
expect 400 InvalidParameter "PremiumV2_LRS is refused"
arm PUT "$D/bad?$V" '{"location":"eastus","properties":{"maxShares":2,"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
expect 400 InvalidParameter "shared disks (maxShares 2) are refused"
arm PUT "$D/bad?$V" '{"location":"eastus","properties":{"creationData":{"createOption":"Import"},"diskSizeGB":1}}'
expect 400 InvalidParameter "an unsupported createOption"
arm PUT "$D/bad?$V" '{"location":"eastus","properties":{"creationData":{"createOption":"Copy","sourceResourceId":"/subscriptions/'$SUB'/resourceGroups/drg/providers/Microsoft.Compute/disks/nope"}}}'
expect 404 NotFound "copy from a missing disk"
arm PUT "$D/bad?$V" '{"location":"northpole","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
expect 400 LocationNotAvailableForResourceType "a location no region serves (another region's goes there: arm_regions)"
arm PUT "$D/bad?$V" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":"big"}}'
expect 400 InvalidRequestContent "diskSizeGB of the wrong JSON type"
arm PUT "$D/bad%21disk?$V" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
expect 400 InvalidResourceName "an invalid disk name"
arm PUT "$EAST/subscriptions/$SUB/resourceGroups/nope/providers/Microsoft.Compute/disks/x?$V" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
expect 404 ResourceGroupNotFound "a missing resource group"
arm PUT "$D/bad?api-version=2019-01-01" '{}'
expect 400 NoRegisteredProviderFound "an api-version the disk provider does not have"
check test "$(store_dump eastus)" = "$before" "none of the refused requests changed the store"
check test "$(ls "$VAR/eastus/volumes" | grep -c '\.img$')" = 2 "and no volume file was created"

# Delete refused while attached (managedBy) or exported to a client.
extra=$(meta_sql eastus "SELECT extra FROM resources WHERE name = 'd2'")
managed=$(jq -c --arg vm "/subscriptions/$SUB/resourceGroups/drg/providers/Microsoft.Compute/virtualMachines/vm1" \
  '.managedBy = $vm' <<<"${extra:-{\}}")
meta_sql eastus "UPDATE resources SET extra = '$managed' WHERE name = 'd2'"
arm DELETE "$D/d2?$V"
expect 409 OperationNotAllowed "delete of an attached disk is refused"
meta_sql eastus "UPDATE resources SET extra = $([ -n "$extra" ] && echo "'$extra'" || echo NULL) WHERE name = 'd2'"
# an NBD client holding a connection (libnbd's Python binding, Debian's python3)
/usr/bin/python3 -c '
import nbd, sys, time
h = nbd.NBD(); h.connect_uri(sys.argv[1]); open(sys.argv[2], "w").close()
while not __import__("os").path.exists(sys.argv[3]): time.sleep(0.05)
h.shutdown()' "$URI2" "$VAR/connected" "$VAR/release" &
holder=$!
for _ in $(seq 100); do [ -f "$VAR/connected" ] && break; sleep 0.1; done
arm DELETE "$D/d2?$V"
expect 409 OperationNotAllowed "delete of a disk an NBD client is using is refused"
touch "$VAR/release"
wait $holder
for _ in $(seq 50); do arm DELETE "$D/d2?$V"; [ "$STATUS" != 409 ] && break; sleep 0.1; done # server sees the close
expect 202 "" "delete once the client is gone"
wait_op
check test "$OP_STATUS" = Succeeded "delete succeeds"
arm GET "$D/d2?$V"
expect 404 ResourceNotFound "the disk is gone"
arm DELETE "$D/d2?$V"
expect 204 "" "deleting a missing disk is 204"
check bash -c "! qemu-img info '$URI2' >/dev/null 2>&1" "its export is gone"
check test "$(meta_sql eastus "SELECT count(*) FROM nbd_grants WHERE resource_id LIKE '%/disks/d2'")" = 0 "and its NBD grant with it"

# A resource-group delete removes the disks inside and their volumes.
arm DELETE "$RG?api-version=2021-04-01"
expect 202 "" "delete the resource group"
loc=$(header Location)
for _ in $(seq 100); do arm GET "$loc"; [ "$STATUS" != 202 ] && break; sleep 0.1; done
check test "$STATUS" = 200 "resource group delete finishes"
check test "$(ls "$VAR/eastus/volumes" | grep -c '\.img$')" = 0 "its disks' volumes are deleted"
check bash -c "! qemu-img info '$URI' >/dev/null 2>&1" "and unexported"
finish
