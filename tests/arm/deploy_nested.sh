#!/usr/bin/env bash
# Deployments that reach beyond one resource group: a template with a
# restore point collection and two restore points of the same VM without a
# dependsOn between them (the engine creates them one at a time: vmrp
# captures one restore point of a VM at a time), reference() evaluated at
# run time in an output, a nested deployment into another resource group
# (its own history entry and operations); and at subscription scope a
# resource group created and a nested deployment into it, the location
# rules (LocationRequired, InvalidDeploymentLocation), and the az CLI's
# `deployment sub` commands.  (A role withdrawn mid-deployment: arm_deploy_isolation, where a failpoint
# holds the resource's job so that the withdrawal lands mid-run every time.)
. "$VMRP_SRC/tests/lib/harness.sh"
. "$VMRP_SRC/tests/lib/az.sh"
. "$VMRP_SRC/tests/lib/deploy.sh"
command -v az >/dev/null || { echo "az CLI missing"; exit 1; }
SUB_B=$(cat /proc/sys/kernel/random/uuid)
export VMRP_CONFIG_EXTRA="[subscription $SUB_B]\ndisplay_name = tenant-b"
start_regions
TOKEN=$(token "$EAST")
R=api-version=2021-04-01
G=$EAST/subscriptions/$SUB/resourcegroups
S=/subscriptions/$SUB
SCHEMA=$DEP_SCHEMA
SUBSCHEMA='"$schema": "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#", "contentVersion": "1.0.0.0"'
for rg in nrg otherrg; do
  arm PUT "$G/$rg?$R" '{"location":"eastus"}'
  expect 201 "" "resource group $rg"
done
DISKS=$EAST$S/resourceGroups/nrg/providers/Microsoft.Compute/disks
arm PUT "$DISKS/os?api-version=2024-03-02" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
wait_op
VMID=$S/resourceGroups/nrg/providers/Microsoft.Compute/virtualMachines/vm1
arm PUT "$EAST$VMID?api-version=2024-07-01" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_D2s_v3"},
  "storageProfile":{"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"'$S'/resourceGroups/nrg/providers/Microsoft.Compute/disks/os"}}}}}'
wait_op
check test "$OP_STATUS" = Succeeded "a VM to take restore points of"

RPC=Microsoft.Compute/restorePointCollections
T='{"properties": {"mode": "Incremental", "parameters": {"vm": {"value": "'$VMID'"}}, template:{
  '"$SCHEMA"',
  "parameters": {"vm": {"type": "string"}},
  "resources": [
    {"type": "'$RPC'", "apiVersion": "2021-03-01", "name": "rpc", "location": "[resourceGroup().location]",
     "properties": {"source": {"id": "[parameters('"'"'vm'"'"')]"}}},
    {"type": "'$RPC'/restorePoints", "apiVersion": "2021-03-01", "name": "rpc/rp1", "dependsOn": ["'$RPC'/rpc"], "properties": {}},
    {"type": "'$RPC'/restorePoints", "apiVersion": "2021-03-01", "name": "rpc/rp2", "dependsOn": ["'$RPC'/rpc"], "properties": {}},
    {"type": "Microsoft.Resources/deployments", "apiVersion": "2021-04-01", "name": "inner", "resourceGroup": "otherrg",
     "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"}, "template": {
       '"$SCHEMA"',
       "resources": [{"type": "Microsoft.Compute/disks", "apiVersion": "2020-12-01", "name": "nd",
         "location": "[resourceGroup().location]", "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 2}}],
       "outputs": {"rg": {"type": "string", "value": "[resourceGroup().name]"}}}}}
  ],
  "outputs": {
    "source": {"type": "string", "value": "[reference(resourceId('"'"''$RPC''"'"', '"'"'rpc'"'"')).source.id]"},
    "innerRg": {"type": "string", "value": "[reference('"'"'inner'"'"').outputs.rg.value]"}}
}}}'
arm PUT "$G/nrg/providers/Microsoft.Resources/deployments/main?$R" "$T"
expect 201 "" "PUT: a collection, two restore points of one VM, a nested deployment"
wait_dep "$(header Azure-AsyncOperation)"
check test "$DEP_STATUS" = Succeeded "the deployment succeeds ($(echo "$BODY" | jq -c .error))"
arm GET "$EAST$S/resourceGroups/nrg/providers/$RPC/rpc/restorePoints/rp1?api-version=2024-03-01"
check test "$(echo "$BODY" | jq -r .properties.provisioningState)" = Succeeded "restore point rp1"
arm GET "$EAST$S/resourceGroups/nrg/providers/$RPC/rpc/restorePoints/rp2?api-version=2024-03-01"
check test "$(echo "$BODY" | jq -r .properties.provisioningState)" = Succeeded "and rp2 of the same VM, no dependsOn between them"
arm GET "$G/nrg/providers/Microsoft.Resources/deployments/main?$R"
check test "$(echo "$BODY" | jq -r .properties.outputs.source.value)" = "$VMID" "reference() at run time, in an output"
check test "$(echo "$BODY" | jq -r .properties.outputs.innerRg.value)" = otherrg "the nested deployment's outputs"
arm GET "$G/otherrg/providers/Microsoft.Resources/deployments/inner?$R"
expect 200 "" "the nested deployment has its own history entry, in its resource group"
check test "$(echo "$BODY" | jq -r .properties.provisioningState)" = Succeeded "Succeeded"
arm GET "$G/otherrg/deployments/inner/operations?$R"
check test "$(echo "$BODY" | jq -r '.value[0].properties.targetResource.resourceName')" = nd "and its own operations"
arm GET "$EAST$S/resourceGroups/otherrg/providers/Microsoft.Compute/disks/nd?api-version=2024-03-02"
check test "$(echo "$BODY" | jq -r .properties.diskSizeGB)" = 2 "the nested deployment's disk, in the other group"
arm GET "$G/nrg/deployments/main/operations?$R"
check test "$(echo "$BODY" | jq -r '[.value[].properties | select(.targetResource.resourceType == "Microsoft.Resources/deployments")][0].provisioningState')" = Succeeded \
  "the parent names the nested deployment as an operation"
check test "$(echo "$BODY" | jq '.value | length')" = 4 "one operation per resource"

arm PUT "$G/nrg/providers/Microsoft.Resources/deployments/main?$R" "$T"
expect 200 "" "the same template deployed again (Incremental)"
wait_dep "$(header Azure-AsyncOperation)"
check test "$DEP_STATUS" = Succeeded "succeeds: a restore point PUT again with the same body is idempotent ($(echo "$BODY" | jq -c .error))"
arm GET "$EAST$S/resourceGroups/nrg/providers/$RPC/rpc?api-version=2024-03-01&\$expand=restorePoints"
check test "$(echo "$BODY" | jq '.properties.restorePoints | length')" = 2 "and makes no new restore point"

# ---- each resource is checked as the deployment's caller ----
arm PUT "$EAST/subscriptions/$SUB_B/resourcegroups/brg?$R" '{"location":"eastus"}'
BDISK=/subscriptions/$SUB_B/resourceGroups/brg/providers/Microsoft.Compute/disks/bd
arm PUT "$EAST$BDISK?api-version=2024-03-02" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
wait_op
alice=$("$VMRPD" sp create -c "$EAST_CONF" --name alice --scope "$SUB" --role Contributor)
OWNER_TOKEN=$TOKEN
TOKEN=$(token "$EAST" "$(echo "$alice" | jq -r .clientId)" "$(echo "$alice" | jq -r .clientSecret)")
before=$(store_dump eastus | grep "$SUB_B")
arm PUT "$G/nrg/providers/Microsoft.Resources/deployments/steal?$R" '{"properties": {"mode": "Incremental", "template": {'"$SCHEMA"', "resources": [
  {"type": "Microsoft.Compute/disks", "apiVersion": "2020-12-01", "name": "stolen", "location": "eastus",
   "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": "'$BDISK'"}}}]}}}'
expect 201 "" "a Contributor of one subscription deploys a copy of another's disk"
wait_dep "$(header Azure-AsyncOperation)"
check test "$DEP_STATUS" = Failed "the deployment fails"
check test "$(echo "$BODY" | jq -r '.error.details[0].code')" = LinkedAuthorizationFailed "LinkedAuthorizationFailed, as the REST PUT would answer"
arm GET "$G/nrg/deployments/steal/operations?$R"
check test "$(echo "$BODY" | jq -r '.value[0].properties.statusCode')" = Forbidden "the operation's statusCode Forbidden"
TOKEN=$OWNER_TOKEN
arm GET "$EAST$S/resourceGroups/nrg/providers/Microsoft.Compute/disks/stolen?api-version=2024-03-02"
expect 404 "" "nothing copied"
check test "$(store_dump eastus | grep "$SUB_B")" = "$before" "the other subscription unchanged"

# ---- a resource in another region goes through the one namespace ----
arm PUT "$G/nrg/providers/Microsoft.Resources/deployments/west?$R" '{"properties": {"mode": "Incremental", "template": {'"$SCHEMA"', "resources": [
  {"type": "Microsoft.Compute/disks", "apiVersion": "2020-12-01", "name": "wd", "location": "westus",
   "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 1}}]}}}'
expect 201 "" "PUT a deployment of a disk in westus, to eastus"
wait_dep "$(header Azure-AsyncOperation)"
check test "$DEP_STATUS" = Succeeded "it succeeds ($(echo "$BODY" | jq -c .error))"
check test "$(sqlite3 "$VAR/westus/meta.db" "SELECT count(*) FROM resources WHERE name = 'wd'")" = 1 "the disk lives in westus"
check test "$(sqlite3 "$VAR/eastus/meta.db" "SELECT count(*) FROM resources WHERE name = 'wd'")" = 0 "not in eastus"
arm GET "$G/nrg/deployments/west/operations?$R"
check test "$(echo "$BODY" | jq -r '.value[0].properties.provisioningState')" = Succeeded "its operation Succeeded"

# ---- subscription scope ----
SX=$EAST$S/providers/Microsoft.Resources/deployments
ST='{"location": "eastus", "properties": {"mode": "Incremental", "parameters": {"rg": {"value": "subrg"}}, template:{
  '"$SUBSCHEMA"',
  "parameters": {"rg": {"type": "string"}},
  "resources": [
    {"type": "Microsoft.Resources/resourceGroups", "apiVersion": "2021-04-01", "name": "[parameters('"'"'rg'"'"')]",
     "location": "[deployment().location]"},
    {"type": "Microsoft.Resources/deployments", "apiVersion": "2021-04-01", "name": "intorg",
     "resourceGroup": "[parameters('"'"'rg'"'"')]", "dependsOn": ["[resourceId('"'"'Microsoft.Resources/resourceGroups'"'"', parameters('"'"'rg'"'"'))]"],
     "properties": {"mode": "Incremental", "template": {
       '"$SCHEMA"',
       "resources": [{"type": "Microsoft.Compute/disks", "apiVersion": "2020-12-01", "name": "sd",
         "location": "[resourceGroup().location]", "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 1}}]}}}
  ]
}}}'
arm PUT "$SX/subdep?$R" "$(echo "$ST" | sed 's/"location": "eastus", //')"
expect 400 LocationRequired "subscription scope: location required"
arm POST "$SX/subdep/validate?$R" "$ST"
expect 200 "" "validate at subscription scope"
arm PUT "$SX/subdep?$R" "$ST"
expect 201 "" "PUT at subscription scope"
check test "$(echo "$BODY" | jq -r .location)" = eastus "the deployment carries its location"
wait_dep "$(header Azure-AsyncOperation)"
check test "$DEP_STATUS" = Succeeded "a resource group created, then a deployment into it ($(echo "$BODY" | jq -c .error))"
arm GET "$G/subrg?$R"
expect 200 "" "the resource group exists"
arm GET "$EAST$S/resourceGroups/subrg/providers/Microsoft.Compute/disks/sd?api-version=2024-03-02"
expect 200 "" "with the nested deployment's disk"
arm GET "$G/subrg/providers/Microsoft.Resources/deployments/intorg?$R"
expect 200 "" "the nested deployment's entry in the new group"
arm PUT "$SX/subdep?$R" "$(echo "$ST" | sed 's/"location": "eastus"/"location": "westus"/')"
expect 400 InvalidDeploymentLocation "a re-run in another location"
arm GET "$SX/?$R"
check test "$(echo "$BODY" | jq -r '[.value[].name] | join(",")')" = subdep "the subscription's list (trailing slash)"
arm GET "$SX/subdep/operations?$R"
check test "$(echo "$BODY" | jq '.value | length')" = 2 "its operations"

# the az CLI at subscription scope
az_login "$EAST"
cat > "$VAR/sub.json" <<'J'
{
  // subscription scope: a resource group and a deployment into it
  "$schema": "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "parameters": {"rg": {"type": "string"}},
  "resources": [
    {"type": "Microsoft.Resources/resourceGroups", "apiVersion": "2021-04-01", "name": "[parameters('rg')]",
     "location": "[deployment().location]"},
    {"type": "Microsoft.Resources/deployments", "apiVersion": "2021-04-01", "name": "azinner",
     "resourceGroup": "[parameters('rg')]", "dependsOn": ["[resourceId('Microsoft.Resources/resourceGroups', parameters('rg'))]"],
     "properties": {"mode": "Incremental", "template": {
       "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
       "contentVersion": "1.0.0.0", "resources": []}}}
  ]
}
J
check az deployment sub create -l eastus -n azsub --template-file "$VAR/sub.json" --parameters rg=azsubrg -o none \
  "az deployment sub create"
check test "$(az deployment sub show -n azsub --query properties.provisioningState -o tsv)" = Succeeded "az deployment sub show"
check test "$(az deployment operation sub list -n azsub --query 'length(@)' -o tsv)" = 2 "az deployment operation sub list"
check az deployment sub delete -n azsub "az deployment sub delete"
finish
