#!/usr/bin/env bash
# Bodies read as Azure's resource providers read them (Newtonsoft.Json), as
# Microsoft's RestoreVMFromRestorePoint.json needs: integral strings where
# integers are expected ("diskSizeGB": "1", "lun": "0"), "true"/"false" in
# any case where booleans are, member names in any case ("datadisks",
# "StorageProfile", "Properties") — stored and returned in Azure's spelling
# and types.  Refused, with nothing stored: a non-integral or out-of-range
# string, a word where a boolean is expected, one member in two spellings.
# "Location" in any case picks the region a PUT goes to, as "location" does.
. "$VMRP_SRC/tests/lib/harness.sh"
command -v sqlite3 >/dev/null || { echo "sqlite3 missing"; exit 1; }
start_regions
TOKEN=$(token "$EAST")
V=api-version=2021-07-01
DV=api-version=2021-04-01
RGID=/subscriptions/$SUB/resourceGroups/lrg
RG=$EAST$RGID
D=$RG/providers/Microsoft.Compute/disks
DID=$RGID/providers/Microsoft.Compute/disks
arm PUT "$RG?api-version=2021-04-01" '{"Location":"eastus","TAGS":{"k":"v"}}'
expect 201 "" "resource group with 'Location' and 'TAGS'"
check test "$(echo "$BODY" | jq -r .tags.k)" = v "its tags kept"

# ---- disks ----
arm PUT "$D/os?$DV" '{"location":"eastus","Properties":{"CreationData":{"createoption":"Empty"},"diskSizeGB":"1","OSTYPE":"windows"},"SKU":{"Name":"premium_lrs"}}'
expect 202 "" "disk with diskSizeGB \"1\" and members in other cases"
wait_op
check test "$OP_STATUS" = Succeeded "created"
arm GET "$D/os?$DV"
check test "$(echo "$BODY" | jq -c '[.properties.diskSizeGB, .properties.osType, .properties.creationData.createOption, .sku.name]')" \
  = '[1,"Windows","Empty","Premium_LRS"]' "GET: diskSizeGB the integer 1, Azure's spellings"
arm PUT "$D/data?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":"+1"}}'
expect 202 "" "disk with diskSizeGB \"+1\""
wait_op
arm PATCH "$D/data?$DV" '{"Properties":{"DiskSizeGB":"2"}}'
expect 200 "" "PATCH diskSizeGB \"2\""
check test "$(echo "$BODY" | jq -c .properties.diskSizeGB)" = 2 "grown to 2, an integer"

BEFORE=$(store_dump eastus)
for bad in '"1.5"' '"abc"' '""' '"1 "' '"99999999999999999999"' '"0x10"' 'true'; do
  arm PUT "$D/bad?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":'"$bad"'}}'
  expect 400 InvalidRequestContent "diskSizeGB $bad: InvalidRequestContent"
done
arm PUT "$D/bad?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":"0"}}'
expect 400 InvalidParameter "diskSizeGB \"0\": InvalidParameter, as 0"
arm PUT "$D/bad?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":"99999"}}'
expect 400 InvalidParameter "diskSizeGB \"99999\": InvalidParameter, as 99999"
arm PUT "$D/bad?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1,"DiskSizeGB":2}}'
expect 400 InvalidRequestContent "diskSizeGB in two spellings"
check grep -q "given twice" <<<"$(echo "$BODY" | jq -r .error.message)" "the message says the member is given twice"
arm PUT "$D/bad?$DV" '{"location":"eastus","Properties":{},"properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
expect 400 InvalidRequestContent "properties in two spellings"

# ---- a VM as the template declares it: "datadisks", "lun": "0", "attach" ----
VMB='{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_B2s"},
  "StorageProfile":{"osDisk":{"osType":"Windows","createOption":"attach","managedDisk":{"ID":"'$DID/os'"}},
    "datadisks":[{"lun":"0","createOption":"attach","managedDisk":{"id":"'$DID/data'"},"writeAcceleratorEnabled":"FALSE"}]},
  "diagnosticsProfile":{"BootDiagnostics":{"enabled":"True"}}}}'
arm PUT "$RG/providers/Microsoft.Compute/virtualMachines/vm?$V" "${VMB//\"0\"/\"x\"}"
expect 400 InvalidRequestContent "lun \"x\": InvalidRequestContent"
arm PUT "$RG/providers/Microsoft.Compute/virtualMachines/vm?$V" "${VMB//\"FALSE\"/\"no\"}"
expect 400 InvalidRequestContent "writeAcceleratorEnabled \"no\": InvalidRequestContent"
arm PUT "$RG/providers/Microsoft.Compute/virtualMachines/vm?$V" "${VMB//\"datadisks\":/\"dataDisks\":[],\"datadisks\":}"
expect 400 InvalidRequestContent "dataDisks and datadisks together"
check test "$(store_dump eastus)" = "$BEFORE" "nothing stored or changed by the refused requests"

arm PUT "$RG/providers/Microsoft.Compute/virtualMachines/vm?$V" "$VMB"
expect 201 "" "VM with StorageProfile, datadisks, lun \"0\", createOption attach"
wait_op
check test "$OP_STATUS" = Succeeded "created"
arm GET "$RG/providers/Microsoft.Compute/virtualMachines/vm?$V"
check test "$(echo "$BODY" | jq -c '[.properties.storageProfile.dataDisks[] | [.lun, .managedDisk.id, .createOption]]')" \
  = "[[0,\"$DID/data\",\"Attach\"]]" "the data disk attached at lun 0 (an integer)"
check test "$(echo "$BODY" | jq -c .properties.diagnosticsProfile)" = '{"bootDiagnostics":{"enabled":true}}' \
  "diagnosticsProfile stored in Azure's spelling and types"
arm GET "$D/data?$DV"
check test "$(echo "$BODY" | jq -r .managedBy)" = "$RGID/providers/Microsoft.Compute/virtualMachines/vm" "the data disk is managed by the VM"

# ---- grants: durationInSeconds "60" ----
arm POST "$D/data/vmrpGrantNbdAccess?api-version=2024-03-02" '{"Access":"Read","DurationInSeconds":"x"}'
expect 400 InvalidParameter "an NBD grant for \"x\" seconds: InvalidParameter"
arm POST "$D/data/vmrpGrantNbdAccess?api-version=2024-03-02" '{"Access":"Read","DurationInSeconds":"60"}'
expect 200 "" "an NBD grant with 'Access' and 'DurationInSeconds' \"60\""
check test "$(echo "$BODY" | jq -r '.access, (.expiresOn | length > 0)' | tr '\n' ,)" = "Read,true," "for Read, expiring"

# ---- "LOCATION" decides the region as "location" does (forward.c) ----
arm PUT "$D/west?$DV" '{"LOCATION":"westus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":"1"}}'
expect 202 "" "a disk PUT to eastus with 'LOCATION': 'westus'"
wait_op
check test "$OP_STATUS" = Succeeded "created"
arm GET "$WEST${D#"$EAST"}/west?$DV"
check test "$(echo "$BODY" | jq -r .location)" = westus "it lives in westus"
arm PUT "$D/east?$DV" '{"Location":"EastUS","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
expect 202 "" "a disk PUT to eastus with 'Location': 'EastUS' (not sent to westus)"
wait_op
check test "$OP_STATUS" = Succeeded "created in eastus"
finish
