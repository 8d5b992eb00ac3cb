#!/usr/bin/env bash
# Azure's documented restore point steps as template deployments through the
# az CLI (Debian's 2.45, which sends each template file verbatim after an
# unquoted `template:` key): Microsoft's four sample templates
# (tests/templates/seed/, unchanged) with `az deployment group create`
# (--parameters k=v, @file and both mixed; the default name), `validate`,
# `what-if`, `show`, `list`, `export`, `operation group list`, `delete`:
#  - a collection of a VM whose disks hold known bytes, a restore point of it;
#  - a disk from a disk restore point, equal to it byte for byte over NBD;
#  - RestoreVMFromRestorePoint.json: both 1024 GB restored disks (thin
#    provisioned) attached with the disk restore points' bytes, its NIC, NSG,
#    VNet and public IP answering GET, the secure parameter nowhere after;
#  - Microsoft's crash-consistent sample (concat without '/') refused as ARM
#    refuses it (InvalidTemplate, incorrect segment lengths), nothing made;
#    deployed once the collection parameter ends in '/'.
# Checks read the resources with curl (an az start costs seconds).
. "$VMRP_SRC/tests/lib/harness.sh"
. "$VMRP_SRC/tests/lib/az.sh"
. "$VMRP_SRC/tests/lib/templates.sh"
command -v az >/dev/null || { echo "az CLI missing"; exit 1; }
command -v qemu-img >/dev/null && command -v qemu-io >/dev/null || { echo "qemu-utils missing"; exit 1; }
# 2 GB of source disks, a 1 GB restored disk, two of 1024 GB
thin_provisioning 2100
start_regions
TOKEN=$(token "$EAST")
T=$VMRP_SRC/tests/templates
SEED=$T/seed
RGID=/subscriptions/$SUB/resourceGroups/tpl
CID=$RGID/providers/Microsoft.Compute
NID=$RGID/providers/Microsoft.Network
DV=api-version=2024-03-02
CV=api-version=2024-07-01

# az_error: the JSON that `ERROR: ` heads on az's stderr ($VAR/az.err).
az_error() { sed -n 's/^ERROR: //p' "$VAR/az.err" | head -n1; }

# az_deploy DESCRIPTION ARGS...: `az deployment group create ARGS -o json`,
# its answer in $OUT; ok when the deployment Succeeded.
az_deploy() {
  local desc=$1
  shift
  if OUT=$(az deployment group create "$@" -o json 2>"$VAR/az.err"); then
    check test "$(jq -r .properties.provisioningState <<<"$OUT")" = Succeeded "$desc"
  else
    OUT='{}'
    az_fail "$desc"
  fi
}

source_vm tpl
az_login "$EAST"

# 1. Create a restore point collection (CreateRestorePointCollection.json,
#    --parameters k=v): validate, what-if, then create with the default name.
RPCID=$CID/restorePointCollections/rpc
COLL=(-g tpl -f "$SEED/CreateRestorePointCollection.json" --parameters RestorePointCollectionName=rpc "VMResourceId=$VMID")
if OUT=$(az deployment group validate "${COLL[@]}" -o json 2>"$VAR/az.err"); then
  check test "$(jq -r .properties.provisioningState <<<"$OUT")" = Succeeded "az deployment group validate: Succeeded"
  check test "$(jq -r '[.properties.validatedResources[].id] | join(",")' <<<"$OUT")" = "$RPCID" \
    "validate lists the collection it would create"
else
  az_fail "az deployment group validate"
fi
arm GET "$EAST$RPCID?api-version=2021-03-01"
expect 404 ResourceNotFound "validate created nothing"
if OUT=$(az deployment group what-if "${COLL[@]}" --no-pretty-print -o json 2>"$VAR/az.err"); then
  check test "$(jq -r --arg id "$RPCID" '[.changes[] | select(.resourceId == $id) | .changeType] | join(",")' <<<"$OUT")" = Create \
    "az deployment group what-if: the collection is a Create"
  check test "$(jq -r --arg id "$RPCID" '[.changes[] | select(.resourceId != $id) | "\(.changeType) \(.resourceId | ascii_downcase)"] | sort | join(",")' <<<"$OUT")" = \
    "Ignore $(lower "$CID/disks/data"),Ignore $(lower "$CID/disks/os"),Ignore $(lower "$CID/virtualMachines/vm1")" \
    "the group's other resources are Ignore (Incremental mode)"
else
  az_fail "az deployment group what-if"
fi
arm GET "$EAST$RPCID?api-version=2021-03-01"
expect 404 ResourceNotFound "what-if created nothing"
az_deploy "az deployment group create of CreateRestorePointCollection.json" "${COLL[@]}"
check test "$(jq -r .name <<<"$OUT")" = CreateRestorePointCollection "named after the file (no -n)"
check test "$(jq -r '[.properties.outputResources[]?.id] | join(",")' <<<"$OUT")" = "$RPCID" "its output resource is the collection"
arm GET "$EAST$RPCID?api-version=2021-03-01"
expect 200 "" "the collection exists"
check test "$(jq -r '.properties.source.id | ascii_downcase' <<<"$BODY")" = "$(lower "$VMID")" "with the VM as its source"
check test "$(jq -r .location <<<"$BODY")" = eastus "in the resource group's location"

# 2. Create a restore point (CreateRestorePoint.json, --parameters @file in
#    the parameter-file form with its $schema wrapper).
RPID=$RPCID/restorePoints/rp1
cat > "$VAR/rp.parameters.json" <<'EOF'
{
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
  "contentVersion": "1.0.0.0",
  "parameters": {
    "RestorePointCollectionName": { "value": "rpc" },
    "RestorePointName": { "value": "rp1" }
  }
}
EOF
az_deploy "az deployment group create of CreateRestorePoint.json (@file)" \
  -g tpl -n restorepoint -f "$SEED/CreateRestorePoint.json" --parameters "@$VAR/rp.parameters.json"
arm GET "$EAST$RPID?$CV"
expect 200 "" "the restore point exists"
check test "$(jq -r .properties.provisioningState <<<"$BODY")" = Succeeded "and Succeeded"
arm GET "$EAST$RPID/diskRestorePoints?$DV"
DRP_OS=$(jq -r '.value[] | select(.name | startswith("os_")) | .id' <<<"$BODY")
DRP_DATA=$(jq -r '.value[] | select(.name | startswith("data_")) | .id' <<<"$BODY")
check test -n "$DRP_OS" -a -n "$DRP_DATA" "with a disk restore point per disk"
DRP_OS_URI=$(nbd_uri "$EAST$DRP_OS")
DRP_DATA_URI=$(nbd_uri "$EAST$DRP_DATA")
check has_bytes "$DRP_OS_URI" 0xa1 0 1M "the OS disk restore point holds the bytes written"
check has_bytes "$DRP_DATA_URI" 0xb2 1023M 1M "the data disk restore point too"

if OUT=$(az deployment operation group list -g tpl -n restorepoint -o json 2>"$VAR/az.err"); then
  check test "$(jq -r '[.[] | select(.properties.provisioningOperation == "Create")] | length' <<<"$OUT")" = 1 \
    "az deployment operation group list: one Create operation"
  OP=$(jq -c '.[] | select(.properties.provisioningOperation == "Create") | .properties' <<<"$OUT")
  check test "$(jq -r .targetResource.id <<<"$OP")" = "$RPID" "on the restore point"
  check test "$(jq -r .targetResource.resourceType <<<"$OP")" = Microsoft.Compute/restorePointCollections/restorePoints \
    "with its type"
  check test "$(jq -r .provisioningState <<<"$OP")" = Succeeded "Succeeded"
  check test "$(jq -r .statusCode <<<"$OP")" = Created "statusCode Created (the restore point PUT's 201)"
  check jq -e '(.timestamp | test("^20[0-9-]+T")) and (.duration | test("^PT[0-9.]+S$"))' <<<"$OP" "with a timestamp and a duration"
else
  az_fail "az deployment operation group list"
fi
if OUT=$(az deployment group show -g tpl -n restorepoint -o json 2>"$VAR/az.err"); then
  check test "$(jq -r .properties.provisioningState <<<"$OUT")" = Succeeded "az deployment group show"
  check test "$(jq -r .properties.parameters.RestorePointName.value <<<"$OUT")" = rp1 "shows the parameters given"
  check test "$(jq -r .properties.parameters.RestorePointCollectionResourceId.type <<<"$OUT")" = String \
    "and the defaulted one, with its type"
  check test "$(jq -r '[.properties.outputResources[].id] | join(",")' <<<"$OUT")" = "$RPID" "its output resource is the restore point"
  check jq -e '.properties.templateHash | test("^[0-9]+$")' <<<"$OUT" "and a templateHash"
else
  az_fail "az deployment group show"
fi
if OUT=$(az deployment group export -g tpl -n restorepoint -o json 2>"$VAR/az.err"); then
  check test "$(jq -S . <<<"$OUT")" = "$(jq -S . "$SEED/CreateRestorePoint.json")" \
    "az deployment group export gives the template as submitted"
else
  az_fail "az deployment group export"
fi

# 3. Create a disk from a disk restore point (CreateDiskFromDiskRestorePoint.json).
az_deploy "az deployment group create of CreateDiskFromDiskRestorePoint.json" \
  -g tpl -n disk -f "$SEED/CreateDiskFromDiskRestorePoint.json" --parameters DiskName=restored "DiskRestorePointResourceId=$DRP_OS"
arm GET "$EAST$CID/disks/restored?$DV"
expect 200 "" "the restored disk exists"
check test "$(jq -r .properties.creationData.createOption <<<"$BODY")" = Restore "made with createOption Restore"
check test "$(jq -r .properties.creationData.sourceResourceId <<<"$BODY")" = "$DRP_OS" "from the disk restore point"
RESTORED_URI=$(nbd_uri "$EAST$CID/disks/restored")
check same_disk "$DRP_OS_URI" "$RESTORED_URI" "the restored disk equals its disk restore point byte for byte"
check has_bytes "$RESTORED_URI" 0xa2 700M 64k "and holds the bytes written before the restore point"

# 4. Restore the VM (RestoreVMFromRestorePoint.json): a parameter file, then
#    k=v items overriding it (the secure one among them).  Both disks keep
#    the template's default of 1024 GB: far beyond this machine's free space.
PW="Pw-$RANDOM-$RANDOM-never-shown"
jq -n --arg os "$DRP_OS" --arg data "$DRP_DATA" '{parameters: {
  location: {value: "eastus"}, networkInterfaceName: {value: "nic1"}, networkSecurityGroupName: {value: "nsg1"},
  subnetName: {value: "default"}, virtualNetworkName: {value: "vnet1"}, publicIpAddressName: {value: "pip1"},
  virtualMachineName: {value: "vm-restored"}, virtualMachineComputerName: {value: "restored"},
  virtualMachineSize: {value: "Standard_D2s_v3"}, adminUsername: {value: "azureuser"}, adminPassword: {value: "<unused>"},
  osdiskRestorePointResourceId: {value: $os}, datadiskRestorePointResourceId: {value: "<overridden>"},
  restoredOSDiskName: {value: "vm-restored-os"}, restoredDataDiskName: {value: "vm-restored-data"}}}' > "$VAR/vm.parameters.json"
az_deploy "az deployment group create of RestoreVMFromRestorePoint.json" -g tpl -n restorevm \
  -f "$SEED/RestoreVMFromRestorePoint.json" \
  --parameters "@$VAR/vm.parameters.json" "datadiskRestorePointResourceId=$DRP_DATA" "adminPassword=$PW"
check test "$(jq -r '.properties.outputResources | length' <<<"$OUT")" = 7 "its seven resources are its output resources"
arm GET "$EAST$CID/virtualMachines/vm-restored?$CV"
expect 200 "" "the restored VM exists"
VM=$BODY
check test "$(jq -r .properties.provisioningState <<<"$VM")" = Succeeded "and Succeeded"
check test "$(jq -r '.properties.storageProfile.osDisk.managedDisk.id | ascii_downcase' <<<"$VM")" = \
  "$(lower "$CID/disks/vm-restored-os")" "its OS disk is the restored OS disk"
check test "$(jq -r '[.properties.storageProfile.dataDisks[] | "\(.lun) \(.managedDisk.id | ascii_downcase)"] | join(",")' <<<"$VM")" = \
  "0 $(lower "$CID/disks/vm-restored-data")" "its one data disk (\"datadisks\" in the template) is the restored data disk at lun 0"
check test "$(jq -r '.properties.networkProfile.networkInterfaces[0].id | ascii_downcase' <<<"$VM")" = \
  "$(lower "$NID/networkInterfaces/nic1")" "its network interface is the template's NIC"
for d in os data; do
  arm GET "$EAST$CID/disks/vm-restored-$d?$DV"
  check test "$(jq -r '"\(.properties.diskSizeGB) \(.sku.name) \(.managedBy | ascii_downcase)"' <<<"$BODY")" = \
    "1024 Premium_LRS $(lower "$CID/virtualMachines/vm-restored")" "restored $d disk: 1024 GB (a string in the template), Premium_LRS, attached"
  check test "$(jq -r .properties.vmrpExport.allocatedBytes <<<"$BODY")" -le $((16 << 20)) \
    "restored $d disk: thin, it takes only what it holds (at most 16 MiB)"
done
check same_disk "$DRP_OS_URI" "$(nbd_uri "$EAST$CID/disks/vm-restored-os")" "the restored OS disk equals its disk restore point byte for byte"
check same_disk "$DRP_DATA_URI" "$(nbd_uri "$EAST$CID/disks/vm-restored-data")" "the restored data disk equals its disk restore point byte for byte"
for r in networkInterfaces/nic1@2021-03-01 networkSecurityGroups/nsg1@2019-02-01 virtualNetworks/vnet1@2020-11-01 \
         publicIpAddresses/pip1@2020-08-01; do
  arm GET "$EAST$NID/${r%@*}?api-version=${r#*@}"
  expect 200 "" "GET of the template's ${r%@*}"
  check test "$(jq -r .properties.provisioningState <<<"$BODY")" = Succeeded "${r%@*} is Succeeded"
done
arm GET "$EAST$NID/networkInterfaces/nic1?api-version=2021-03-01"
check test "$(jq -r '.properties.ipConfigurations[0].properties.subnet.id | ascii_downcase' <<<"$BODY")" = \
  "$(lower "$NID/virtualNetworks/vnet1/subnets/default")" "the NIC is in the VNet's subnet"
arm GET "$EAST$NID/virtualNetworks/vnet1?api-version=2020-11-01"
check test "$(jq -r '[.properties.subnets[].name] | join(",")' <<<"$BODY")" = default "the VNet has its subnet"
az deployment group show -g tpl -n restorevm -o json > "$VAR/answers" 2>/dev/null || true
check test "$(jq -r .properties.parameters.adminPassword.type "$VAR/answers")" = SecureString "the secure parameter is shown by its type"
check test "$(jq -r '.properties.parameters.adminPassword | has("value")' "$VAR/answers")" = false "without a value"
D=$EAST$RGID/providers/Microsoft.Resources/deployments
for u in "POST $D/restorevm/exportTemplate" "GET $D/restorevm/operations" "GET $D/" "GET $D/restorevm"; do
  arm ${u% *} "${u#* }?api-version=2021-04-01"
  echo "$BODY" >> "$VAR/answers"
done
check bash -c "! grep -qF -e '$PW' '$VAR/answers'" "the secure parameter is in no answer (show, export, operations, list)"
check bash -c "! grep -a -qF -e '$PW' '$VAR'/eastus/meta.db* '$VAR'/eastus/vmrpd.log" "nor in the region's database files or log"
check test "$(sqlite3 "$VAR/eastus/meta.db" .dump | grep -cF -e "$PW")" = 0 "nor in the database dump"

# 5. Microsoft's crash-consistent sample: its name has no '/'.
if az deployment group validate -g tpl -f "$T/crash-consistent-createRestorePoint.json" \
    --parameters RPCName=rpc RPName=crash -o none 2>"$VAR/az.err"; then
  fail "the crash-consistent sample validates"
else
  ERR=$(az_error)
  check test "$(jq -r .code <<<"$ERR")" = InvalidTemplate "the crash-consistent sample: InvalidTemplate"
  check jq -e '.message | test("The template resource .rpccrash. for type .Microsoft.Compute/restorePointCollections/restorePoints. at line .[0-9]+. and column .[0-9]+. has incorrect segment lengths")' \
    <<<"$ERR" "naming the resource, its type, its line and the segment lengths"
  # the resource is declared on lines 18-25 of the file
  check jq -e '.additionalInfo[0].info.lineNumber | . >= 18 and . <= 25' <<<"$ERR" "at its line in the file"
fi
if az deployment group create -g tpl -f "$T/crash-consistent-createRestorePoint.json" \
    --parameters RPCName=rpc RPName=crash -o none 2>"$VAR/az.err"; then
  fail "the crash-consistent sample deploys"
else
  check test "$(az_error | jq -r .code)" = InvalidTemplate "create refuses it too"
fi
arm GET "$EAST$RPCID/restorePoints/crash?$CV"
expect 404 "" "no restore point was made"
arm GET "$EAST$RGID/providers/Microsoft.Resources/deployments/crash-consistent-createRestorePoint?api-version=2021-04-01"
expect 404 DeploymentNotFound "no deployment was recorded"
az_deploy "with RPCName 'rpc/' it deploys" -g tpl -n crash -f "$T/crash-consistent-createRestorePoint.json" \
  --parameters RPCName=rpc/ RPName=crash
arm GET "$EAST$RPCID/restorePoints/crash?$CV"
check test "$(jq -r '"\(.properties.provisioningState) \(.properties.consistencyMode)"' <<<"$BODY")" = "Succeeded CrashConsistent" \
  "a crash-consistent restore point"

# 6. list, delete: the history entry goes, the resources stay.
if OUT=$(az deployment group list -g tpl -o json 2>"$VAR/az.err"); then
  check test "$(jq -r '[.[].name] | sort | join(",")' <<<"$OUT")" = CreateRestorePointCollection,crash,disk,restorepoint,restorevm \
    "az deployment group list"
else
  az_fail "az deployment group list"
fi
check az deployment group delete -g tpl -n restorepoint "az deployment group delete"
rc=0; az deployment group show -g tpl -n restorepoint -o none 2>"$VAR/az.err" || rc=$?
check test "$rc" = 3 "az deployment group show of it: exit 3 (DeploymentNotFound)"
arm GET "$EAST$RGID/deployments/restorepoint/operations?api-version=2021-04-01"
expect 404 DeploymentNotFound "its operations are gone"
arm GET "$EAST$RPID?$CV"
expect 200 "" "the restore point it made stays"
finish
