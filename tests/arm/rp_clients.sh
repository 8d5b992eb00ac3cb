#!/usr/bin/env bash
# Restore points through the official clients: the az CLI (what works in
# Debian's azure-cli 2.45: restore-point collection create/show/update,
# restore-point create/show/delete with --exclude-disks and
# --consistency-mode; az rest for the VM, whose az vm commands crash
# client-side on Debian) and the JS SDK (@azure/arm-compute).
. "$VMRP_SRC/tests/lib/harness.sh"
. "$VMRP_SRC/tests/lib/az.sh"
command -v az >/dev/null || { echo "az CLI missing"; exit 1; }
[ -d "$VMRP_SRC/tests/clients/node_modules/@azure/arm-compute" ] || { echo "npm packages missing"; exit 1; }
start_regions
STATUS=; BODY=
az_login "$EAST"
az group create -n azrp -l eastus -o none
az disk create -g azrp -n os --size-gb 1 -o none
az disk create -g azrp -n data1 --size-gb 1 -o none
DID=/subscriptions/$SUB/resourceGroups/azrp/providers/Microsoft.Compute/disks
VMID=/subscriptions/$SUB/resourceGroups/azrp/providers/Microsoft.Compute/virtualMachines/vm1
check az rest --method put --url "$VMID?api-version=2024-07-01" -o none --body '{"location":"eastus","properties":{
  "hardwareProfile":{"vmSize":"Standard_D2s_v3"},"storageProfile":{
  "osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"'$DID'/os"}},
  "dataDisks":[{"lun":0,"createOption":"Attach","managedDisk":{"id":"'$DID'/data1"}}]}}}' "az rest creates the VM"
for _ in $(seq 100); do
  [ "$(az rest --method get --url "$VMID?api-version=2024-07-01" --query properties.provisioningState -o tsv)" = Succeeded ] && break
  sleep 0.1
done
BODY=$(az restore-point collection create -g azrp --collection-name rpc --source-id "$VMID" -o json)
check test "$(echo "$BODY" | jq -r .provisioningState)" = Succeeded "az restore-point collection create"
BODY=$(az restore-point create -g azrp --collection-name rpc -n rp1 -o json)
check test "$(echo "$BODY" | jq -r .provisioningState)" = Succeeded "az restore-point create"
check test "$(echo "$BODY" | jq -r .consistencyMode)" = CrashConsistent "reports the consistency achieved"
BODY=$(az restore-point create -g azrp --collection-name rpc -n rp2 --exclude-disks "$DID/data1" \
  --consistency-mode CrashConsistent -o json 2>/dev/null)
check test "$(echo "$BODY" | jq -r '.excludeDisks[0].id')" = "$DID/data1" "az restore-point create --exclude-disks --consistency-mode"
BODY=$(az restore-point show -g azrp --collection-name rpc -n rp1 --instance-view -o json)
check test "$(echo "$BODY" | jq -r '.instanceView.statuses[0].code')" = ProvisioningState/succeeded "az restore-point show --instance-view"
check test "$(echo "$BODY" | jq '.instanceView.diskRestorePoints | length')" = 2 "lists both disk restore points"
BODY=$(az restore-point collection show -g azrp --collection-name rpc --restore-points -o json)
check test "$(echo "$BODY" | jq -r '[.restorePoints[].name] | sort | join(",")')" = rp1,rp2 "az restore-point collection show --restore-points"
check test "$(az restore-point collection update -g azrp --collection-name rpc --tags team=storage --query tags.team -o tsv)" = storage \
  "az restore-point collection update --tags"
# Restore: a disk from a disk restore point with az, and a whole VM with scripts/vm-restore.
qemu-io -f raw -c "write -P 0x3c 8M 64k" "$(az_nbd_uri "$DID/os")" >/dev/null
BODY=$(az restore-point create -g azrp --collection-name rpc -n rp3 -o json)
drp=$(echo "$BODY" | jq -r .sourceMetadata.storageProfile.osDisk.diskRestorePoint.id)
BODY=$(az disk create -g azrp -n restored --source "$drp" -o json)
check test "$(echo "$BODY" | jq -r .provisioningState)" = Succeeded "az disk create --source <disk restore point id>"
check test "$(echo "$BODY" | jq -r .creationData.createOption)" = Restore "with createOption Restore"
nbdcopy "$(az_nbd_uri "$DID/restored")" "$VAR/restored.img"
nbdcopy "$(az_nbd_uri "$drp")" "$VAR/drp.img"
check cmp "$VAR/drp.img" "$VAR/restored.img" "the restored disk equals the disk restore point byte for byte"
check cmp -n 65536 -i 8388608:0 "$VAR/restored.img" <(python3 -c 'import sys; sys.stdout.buffer.write(b"\x3c" * 65536)') \
  "and holds what was written before the restore point"
rp3=/subscriptions/$SUB/resourceGroups/azrp/providers/Microsoft.Compute/restorePointCollections/rpc/restorePoints/rp3
check bash -c "'$VMRP_SRC/scripts/vm-restore' -e '$ENDPOINTS' '$rp3' azrp vm2 > '$VAR/vm2.id'" "scripts/vm-restore makes a new VM from the restore point"
BODY=$(az rest --method get --url "$(cat "$VAR/vm2.id")?api-version=2024-07-01" -o json)
check test "$(echo "$BODY" | jq -r .properties.provisioningState)" = Succeeded "the new VM is Succeeded"
check test "$(echo "$BODY" | jq -r '.properties.storageProfile.dataDisks[0].lun')" = 0 "with its data disk at the same lun"
nbdcopy "$(az_nbd_uri "$DID/vm2-os")" "$VAR/vm2-os.img"
check cmp "$VAR/drp.img" "$VAR/vm2-os.img" "its OS disk equals the restore point's"
check bash -c "'$VMRP_SRC/scripts/vm-qemu' -e '$ENDPOINTS' azrp vm2 | grep -q 'vm2-os\|nbd'" "scripts/vm-qemu prints its qemu command"
check az restore-point delete -g azrp --collection-name rpc -n rp2 --yes "az restore-point delete"
check bash -c "! az restore-point show -g azrp --collection-name rpc -n rp2 -o none 2>/dev/null" "the restore point is gone"
check az resource delete --ids "/subscriptions/$SUB/resourceGroups/azrp/providers/Microsoft.Compute/restorePointCollections/rpc" \
  --api-version 2022-08-01 "az resource delete of the collection (Debian's az restore-point collection delete crashes)"
if NODE_EXTRA_CA_CERTS=$CA node "$VMRP_SRC/tests/clients/restore-points.mjs" "$ENDPOINTS" eastus; then
  ok "JS SDK (@azure/arm-compute) restore point flow"
else
  fail "JS SDK (@azure/arm-compute) restore point flow"
fi
finish
