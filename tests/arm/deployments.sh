#!/usr/bin/env bash
# Microsoft.Resources/deployments: the az CLI's wire form (an unquoted
# template member, comments, raw newlines) with curl, every status code of
# PUT, the status URL, GET, HEAD, list, DELETE, cancel, validate,
# exportTemplate and deployment operations (both path forms); bad input
# answered with ARM's errors and nothing created; a failed deployment's
# DeploymentFailed and operations; Complete mode and its refusal; a secure
# parameter never visible afterwards; the history limit; resources of one
# deployment created through the handlers (the same checks as a REST PUT);
# and the az CLI's create/show/list/operation list/export/cancel/delete
# with their exit codes.
. "$VMRP_SRC/tests/lib/harness.sh"
. "$VMRP_SRC/tests/lib/az.sh"
. "$VMRP_SRC/tests/lib/deploy.sh"
command -v az >/dev/null || { echo "az CLI missing"; exit 1; }
# Every job waits 100 ms (failpoint), so the chain of 30 disks below runs 3 s
# at least and the cancel lands while it runs whatever the machine's speed
# (ci: an idle machine finished the chain before the cancel arrived).
export VMRP_FAILPOINTS=jobs.run.delay_ms=100
start_regions
TOKEN=$(token "$EAST")
R=api-version=2021-04-01
G=$EAST/subscriptions/$SUB/resourcegroups
X=$G/deprg/providers/Microsoft.Resources/deployments
DISKS=/subscriptions/$SUB/resourceGroups/deprg/providers/Microsoft.Compute/disks
SCHEMA=$DEP_SCHEMA
arm PUT "$G/deprg?$R" '{"location":"eastus"}'
expect 201 "" "resource group for deployments"
ndeployments() { meta_sql eastus "SELECT count(*) FROM deployments"; }

# ---- the az CLI's wire form, byte for byte (TEMPLATES.md §2.3) ----
AZBODY='{"properties": {"parameters": {"n": {"value": "d1"}, "pw": {"value": "Hunter2-s3cret-Zq"}}, "mode": "Incremental", template:{
  // a JSONC comment az passes through verbatim
  '"$SCHEMA"',
  "parameters": {
    "n": {"type": "string"},
    /* block comment */
    "pw": {"type": "securestring"}
  },
  "variables": {"multi": "line one
line two"},
  "resources": [
    '"$(dep_disk "[parameters('n')]")"'
  ],
  "outputs": {"name": {"type": "string", "value": "[parameters('"'"'n'"'"')]"}, "multi": {"type": "string", "value": "[variables('"'"'multi'"'"')]"}}
}
}}'
arm POST "$X/dep1/validate?$R" "$AZBODY"
expect 200 "" "validate the az wire form"
check test "$(echo "$BODY" | jq -r '.properties.validatedResources[0].id')" = "$DISKS/d1" "validatedResources names the disk"
check test "$(echo "$BODY" | jq -r .properties.provisioningState)" = Succeeded "validate: Succeeded"
check test "$(ndeployments)" = 0 "validate records nothing"
arm GET "$EAST/subscriptions/$SUB/resourceGroups/deprg/providers/Microsoft.Compute/disks/d1?api-version=2024-03-02"
expect 404 "" "validate creates nothing"

arm PUT "$X/dep1?$R" "$AZBODY"
expect 201 "" "PUT a new deployment: 201"
check test "$(echo "$BODY" | jq -r .properties.provisioningState)" = Accepted "provisioningState Accepted"
AAO=$(header Azure-AsyncOperation)
check bash -c "[[ '$AAO' == $EAST/subscriptions/$SUB/resourceGroups/deprg/providers/Microsoft.Resources/deployments/dep1/operationStatuses/*'?api-version=2021-04-01' ]]" \
  "Azure-AsyncOperation {X}/operationStatuses/{id}?api-version=same"
check test "$(header Retry-After)" = 1 "Retry-After: 1"
wait_dep "$AAO"
expect 200 "" "status URL answers 200"
check test "$DEP_STATUS" = Succeeded "the deployment succeeds"
arm GET "$X/dep1?$R"
expect 200 "" "GET the deployment"
check test "$(echo "$BODY" | jq -r .properties.outputs.name.value)" = d1 "outputs"
check test "$(echo "$BODY" | jq -r .properties.outputs.multi.value)" = $'line one\nline two' "a raw newline inside a string"
check test "$(echo "$BODY" | jq -r .properties.parameters.pw.type)" = SecureString "the secure parameter's type"
check test "$(echo "$BODY" | jq -r '.properties.parameters.pw | has("value")')" = false "and never its value"
check test "$(echo "$BODY" | jq -r '.properties.outputResources[0].id')" = "$DISKS/d1" "outputResources"
arm GET "$EAST/subscriptions/$SUB/resourceGroups/deprg/providers/Microsoft.Compute/disks/d1?api-version=2024-03-02"
check test "$(echo "$BODY" | jq -r .properties.provisioningState)" = Succeeded "the disk was created through its handler"
arm HEAD "$X/dep1?$R"
expect 204 "" "HEAD: 204"
arm HEAD "$X/nope?$R"
expect 404 "" "HEAD of an unknown deployment: 404"
arm GET "$X/nope?$R"
expect 404 DeploymentNotFound "GET of an unknown deployment"
check test "$(echo "$BODY" | jq -r .error.message)" = "Deployment 'nope' could not be found." "ARM's message"

# operations, both path forms, one by id
arm GET "$G/deprg/deployments/dep1/operations?$R"
expect 200 "" "operations (the az CLI's path, no providers/)"
check test "$(echo "$BODY" | jq -r '.value[0].properties.provisioningOperation')" = Create "a Create operation"
check test "$(echo "$BODY" | jq -r '.value[0].properties.provisioningState')" = Succeeded "Succeeded"
check test "$(echo "$BODY" | jq -r '.value[0].properties.targetResource.id')" = "$DISKS/d1" "naming its target"
check test "$(echo "$BODY" | jq -r '.value[0].properties.targetResource.resourceType')" = Microsoft.Compute/disks "and type"
check test "$(echo "$BODY" | jq -r '.value[0].properties | has("timestamp") and has("duration") and has("trackingId") and has("serviceRequestId")')" = true \
  "with timestamp, duration, trackingId, serviceRequestId"
OPID=$(echo "$BODY" | jq -r '.value[0].operationId')
arm GET "$X/dep1/operations?$R"
check test "$(echo "$BODY" | jq -r '.value[0].operationId')" = "$OPID" "operations (the path with providers/Microsoft.Resources)"
arm GET "$X/dep1/operations/$OPID?$R"
expect 200 "" "one operation by id"
check test "$(echo "$BODY" | jq -r .id)" = "/subscriptions/$SUB/resourceGroups/deprg/providers/Microsoft.Resources/deployments/dep1/operations/$OPID" "its id"
arm GET "$X/dep1/operations/0000?$R"
expect 404 DeploymentOperationNotFound "an unknown operation"

# re-run: 200; list with a trailing slash, $filter, $top; export
arm PUT "$X/dep1?$R" "$AZBODY"
expect 200 "" "PUT of an existing name: 200"
wait_dep "$(header Azure-AsyncOperation)"
arm GET "$X/?$R"
expect 200 "" "list (trailing slash form)"
check test "$(echo "$BODY" | jq '.value | length')" = 1 "one deployment"
arm GET "$X/?\$filter=provisioningState%20eq%20'Failed'&$R"
check test "$(echo "$BODY" | jq '.value | length')" = 0 "\$filter provisioningState eq 'Failed'"
arm GET "$X/?\$filter=name%20eq%20'x'&$R"
expect 400 InvalidFilterInQueryString "an unsupported \$filter"
arm POST "$X/dep1/exportTemplate?$R"
expect 200 "" "exportTemplate"
check test "$(echo "$BODY" | jq -r '.template.resources[0].type')" = Microsoft.Compute/disks "the template as submitted"
arm GET "$G/deprg/resources?$R"
check test "$(echo "$BODY" | jq '[.value[] | select(.type == "Microsoft.Resources/deployments")] | length')" = 0 \
  "the resource list shows no deployment"

# template and parameters as JSON strings (the spec allows both), the template's with a comment
arm PUT "$X/strings?$R" "$(jq -cn --arg t '{ /* c */ '"$DEP_SCHEMA"', "parameters": {"n": {"type": "string"}}, "resources": [], "outputs": {"o": {"type": "string", "value": "[parameters('"'"'n'"'"')]"}}}' \
  '{properties: {mode: "Incremental", template: $t, parameters: ({n: {value: "as-string"}} | tostring)}}')"
expect 201 "" "template and parameters as JSON strings"
wait_dep "$(header Azure-AsyncOperation)"
arm GET "$X/strings?$R"
check test "$(echo "$BODY" | jq -r .properties.outputs.o.value)" = as-string "read as their objects"
arm PUT "$X/strings?$R" '{"properties": {"mode": "Incremental", "template": "[1, 2]"}}'
expect 400 InvalidRequestContent "a string holding no object"
arm DELETE "$X/strings?$R"

# calculateTemplateHash: the spec's example (TEMPLATES.md §3.5), hash verified against Azure
arm POST "$EAST/providers/Microsoft.Resources/calculateTemplateHash?$R" '{"$schema": "http://schema.management.azure.com/schemas/2014-04-01-preview/deploymentTemplate.json#", "contentVersion": "1.0.0.0", "parameters": {"string": {"type": "string"}}, "variables": {"string": "string"}, "resources": [], "outputs": {"string": {"type": "string", "value": "myvalue"}}}'
expect 200 "" "calculateTemplateHash"
check test "$(echo "$BODY" | jq -r .minifiedTemplate | head -c 39)" = '{"$SCHEMA":"HTTP://SCHEMA.MANAGEMENT.AZ' "minifiedTemplate upper-cased"
check test -n "$(echo "$BODY" | jq -r .templateHash | grep -E '^[0-9]+$')" "a decimal templateHash"

# ---- bad input: ARM's errors, nothing created ----
before=$(store_dump eastus); nbefore=$(ndeployments)
arm PUT "$X/bad1?$R" '{"properties": {"mode": "Incremental", template:{'
expect 400 InvalidRequestContent "a malformed body"
arm PUT "$X/bad1?$R" '{"properties": {"mode": "Sometimes", "template": {}}}'
expect 400 InvalidRequestContent "an unknown mode"
arm PUT "$X/bad1?$R" '{"properties": {"mode": "Incremental"}}'
expect 400 InvalidRequestContent "no template"
BAD='{"properties": {"parameters": {}, "mode": "Incremental", template:{
  '"$SCHEMA"',
  "parameters": {
    "needed": {"type": "string"}
  },
  "resources": []
}
}}'
arm PUT "$X/bad1?$R" "$BAD"
expect 400 InvalidTemplate "a missing parameter"
check test "$(echo "$BODY" | jq -r '.error.additionalInfo[0].info.lineNumber')" = 4 "cites the line of the user's file"
check test "$(echo "$BODY" | jq -r '.error.additionalInfo[0].type')" = TemplateViolation "as a TemplateViolation"
BAD='{"properties": {"mode": "Incremental", template:{
  '"$SCHEMA"',
  "resources": [
    {"type": "Microsoft.Compute/disks", "apiVersion": "2020-12-01", "name": "[parameterz('"'"'n'"'"')]", "location": "eastus"}
  ]
}
}}'
arm POST "$X/bad1/validate?$R" "$BAD"
expect 400 InvalidTemplate "an unknown function (validate)"
check test "$(echo "$BODY" | jq -r '.error.additionalInfo[0].info.lineNumber')" = 4 "at its line"
PRE='{"properties": {"mode": "Incremental", template:{'"$SCHEMA"', "resources": [
  '"$(dep_disk ok1)"',
  {"type": "Microsoft.Compute/disks", "apiVersion": "1999-01-01", "name": "old", "location": "eastus", "properties": {}},
  {"type": "Microsoft.Compute/widgets", "apiVersion": "2024-03-01", "name": "w", "location": "eastus"}]}}}'
arm POST "$X/bad1/validate?$R" "$PRE"
expect 400 InvalidTemplateDeployment "preflight: validate names what no handler would take"
check test "$(echo "$BODY" | jq -r '[.error.details[].code] | join(",")')" = NoRegisteredProviderFound,InvalidResourceType \
  "an unknown apiVersion, an unknown type, as the router answers them"
arm PUT "$X/bad1?$R" "$PRE"
expect 400 InvalidTemplateDeployment "preflight on PUT: nothing runs"
arm PUT "$X/bad1?$R" '{"properties": {"mode": "Incremental", "templateLink": {"uri": "http://files.example/t.json"}}}'
expect 400 InvalidContentLink "templateLink refused (no network)"
arm PUT "$X/bad1?$R" '{"properties": {"mode": "Incremental", "template": {}, "parametersLink": {"uri": "http://x"}}}'
expect 400 InvalidContentLink "parametersLink refused"
arm PUT "$X/bad1?$R" '{"properties": {"mode": "Incremental", "onErrorDeployment": {"type": "LastSuccessful"}, template:{'"$SCHEMA"', "resources": []}}}'
expect 400 InvalidOnErrorDeployment "onErrorDeployment refused"
arm PUT "$X/bad1?$R" '{"properties": {"mode": "Incremental", "debugSetting": {"detailLevel": "requestContent,responseContent"}, template:{'"$SCHEMA"', "resources": []}}}'
expect 400 InvalidDebugSetting "debugSetting with content refused (operations never carry it)"
arm POST "$X/bad1/validate?$R" '{"properties": {"mode": "Incremental", "debugSetting": {"detailLevel": "None"}, template:{'"$SCHEMA"', "resources": []}}}'
expect 200 "" "debugSetting none asks for nothing"
arm PUT "$X/bad1?$R" '{"properties": {"mode": "Incremental", "parameters": {"p": {"reference": {"keyVault": {"id": "/subscriptions/'$SUB'/resourceGroups/r/providers/Microsoft.KeyVault/vaults/v"}, "secretName": "s"}}}, template:{'"$SCHEMA"', "parameters": {"p": {"type": "securestring"}}, "resources": []}}}'
check test "$STATUS" = 400 "a Key Vault reference refused ($(echo "$BODY" | jq -r .error.code))"
arm PUT "$X/$(printf 'a%.0s' $(seq 65))?$R" "$AZBODY"
expect 400 DeploymentNameLengthLimitExceeded "a 65-character name"
arm PUT "$X/bad%20name%21?$R" "$AZBODY"
expect 400 DeploymentNameInvalidCharacters "a name with a space and '!'"
arm POST "$G/nosuchrg/providers/Microsoft.Resources/deployments/d/validate?$R" "$AZBODY"
expect 404 ResourceGroupNotFound "validate in a missing resource group"
check test "$(echo "$BODY" | jq -r .error.message)" = "Resource group 'nosuchrg' could not be found." "ARM's message"
arm PUT "$G/nosuchrg/providers/Microsoft.Resources/deployments/d?$R" "$AZBODY"
expect 404 ResourceGroupNotFound "PUT in a missing resource group"
for call in "POST $X/nope/cancel" "POST $X/nope/exportTemplate" "GET $X/nope/operations" "GET $G/deprg/deployments/nope/operations"; do
  arm ${call%% *} "${call#* }?$R"
  expect 404 DeploymentNotFound "${call%% *} …/${call##*/nope} of an unknown deployment"
done
arm PUT "$X/bad1?api-version=2099-01-01" "$AZBODY"
expect 400 InvalidApiVersionParameter "an unknown api-version"
check test "$(store_dump eastus)" = "$before" "nothing created by refused deployments"
check test "$(ndeployments)" = "$nbefore" "and no history entry"
arm DELETE "$X/nope?$R"
expect 204 "" "DELETE of an unknown deployment: 204"
arm POST "$X/dep1/cancel?$R"
expect 409 DeploymentCannotBeCancelled "cancel of a finished deployment"

# api-versions the SDKs send
for v in 2022-09-01 2025-03-01 2026-06-01; do
  arm GET "$X/dep1?api-version=$v"
  expect 200 "" "api-version $v"
done

# ---- a failure: DeploymentFailed, per-operation details, what was created stays ----
FAIL='{"properties": {"mode": "Incremental", template:{'"$SCHEMA"', "resources": [
  '"$(dep_disk f1)"',
  {"type": "Microsoft.Compute/disks", "apiVersion": "2020-12-01", "name": "f2", "location": "eastus",
   "dependsOn": ["Microsoft.Compute/disks/f1"], "sku": {"name": "Gold_LRS"},
   "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 1}}]}}}'
arm PUT "$X/depfail?$R" "$FAIL"
expect 201 "" "PUT a deployment that will fail"
wait_dep "$(header Azure-AsyncOperation)"
check test "$DEP_STATUS" = Failed "it fails"
check test "$(echo "$BODY" | jq -r .error.code)" = DeploymentFailed "with DeploymentFailed on the status URL"
check test "$(echo "$BODY" | jq -r '.error.details[0].code')" = InvalidParameter "and the handler's error in details"
arm GET "$X/depfail?$R"
check test "$(echo "$BODY" | jq -r .properties.error.code)" = DeploymentFailed "GET shows the error"
arm GET "$G/deprg/deployments/depfail/operations?$R"
check test "$(echo "$BODY" | jq -r '[.value[].properties | select(.targetResource.resourceName == "f2")][0].statusCode')" = BadRequest \
  "the failed operation's statusCode"
check test "$(echo "$BODY" | jq -r '[.value[].properties | select(.targetResource.resourceName == "f2")][0].statusMessage.error.code')" = InvalidParameter \
  "and statusMessage"
arm GET "$EAST$DISKS/f1?api-version=2024-03-02"
expect 200 "" "the resource created before the failure stays"
arm GET "$EAST$DISKS/f2?api-version=2024-03-02"
expect 404 "" "the refused one does not exist"

# ---- cancel: a long serial chain stops starting resources ----
arm PUT "$X/depcancel?$R" '{"properties": {"mode": "Incremental", "template": {'"$SCHEMA"', "resources": ['"$(dep_chain 30)"']}}}'
expect 201 "" "PUT a chain of 30 disks"
CAAO=$(header Azure-AsyncOperation)
arm PUT "$X/depcancel?$R" '{"properties": {"mode": "Incremental", "template": {'"$SCHEMA"', "resources": []}}}'
expect 409 DeploymentActive "re-PUT of a running name: DeploymentActive"
arm DELETE "$X/depcancel?$R"
expect 409 DeploymentActive "DELETE of a running deployment refused"
arm POST "$X/depcancel/cancel?$R"
expect 204 "" "cancel: 204"
wait_dep "$CAAO"
check test "$DEP_STATUS" = Canceled "the deployment ends Canceled"
arm GET "$EAST$DISKS/c29?api-version=2024-03-02"
expect 404 "" "the last disk of the chain was never started"
arm GET "$G/deprg/deployments/depcancel/operations?$R"
check test "$(echo "$BODY" | jq '[.value[].properties.provisioningState | select(. == "Running")] | length')" = 0 \
  "no operation left Running"

# ---- DELETE: the history entry and its operations, never the resources ----
arm DELETE "$X/depfail?$R"
expect 202 "" "DELETE: 202"
LOC=$(header Location)
check test -n "$LOC" "with Location"
arm GET "$LOC"
expect 204 "" "the Location answers 204 when done"
arm GET "$X/depfail?$R"
expect 404 DeploymentNotFound "the entry is gone"
check test "$(meta_sql eastus "SELECT count(*) FROM deployment_operations WHERE deployment_id LIKE '%/depfail'")" = 0 \
  "with its operations"
arm GET "$EAST$DISKS/f1?api-version=2024-03-02"
expect 200 "" "its resources stay"

# ---- Complete mode ----
arm PUT "$G/cmprg?$R" '{"location":"eastus"}'
CX=$G/cmprg/providers/Microsoft.Resources/deployments
CD=$EAST/subscriptions/$SUB/resourceGroups/cmprg/providers/Microsoft.Compute/disks
for d in keep other held; do
  arm PUT "$CD/$d?api-version=2024-03-02" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
  wait_op
done
arm POST "$CD/held/beginGetAccess?api-version=2024-03-02" '{"access":"Read","durationInSeconds":600}'
check test "$STATUS" = 202 "a SAS grant holds the disk 'held'"
wait_op
arm PUT "$CX/cmp1?$R" '{"properties": {"mode": "Complete", "template": {'"$SCHEMA"', "resources": ['"$(dep_disk keep)"']}}}'
expect 201 "" "PUT in Complete mode"
wait_dep "$(header Azure-AsyncOperation)"
check test "$DEP_STATUS" = Failed "a deletion refused by its handler fails the deployment"
check test "$(echo "$BODY" | jq -r .error.code)" = DeploymentFailedCleanUp "with DeploymentFailedCleanUp"
arm GET "$CD/other?api-version=2024-03-02"
expect 404 "" "a resource not in the template was deleted"
arm GET "$CD/held?api-version=2024-03-02"
expect 200 "" "the refused one stays"
arm GET "$G/cmprg/deployments/cmp1/operations?$R"
check test "$(echo "$BODY" | jq -r '[.value[].properties | select(.provisioningOperation == "Delete" and .provisioningState == "Succeeded")][0].targetResource.resourceName')" = other \
  "the deletion is a Delete operation"
arm POST "$CD/held/endGetAccess?api-version=2024-03-02"
wait_op
arm PUT "$CX/cmp2?$R" '{"properties": {"mode": "Complete", "template": {'"$SCHEMA"', "resources": ['"$(dep_disk keep)"']}}}'
wait_dep "$(header Azure-AsyncOperation)"
check test "$DEP_STATUS" = Succeeded "Complete mode succeeds once nothing refuses"
arm GET "$CD?api-version=2024-03-02"
check test "$(echo "$BODY" | jq -r '[.value[].name] | join(",")')" = keep "only the template's resource is left"
arm PUT "$EAST/subscriptions/$SUB/providers/Microsoft.Resources/deployments/subc?$R" \
  '{"location": "eastus", "properties": {"mode": "Complete", "template": {"$schema": "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#", "contentVersion": "1.0.0.0", "resources": []}}}'
expect 400 InvalidDeploymentMode "Complete mode at subscription scope refused"

# ---- authorization: deploying needs write; each resource is checked as the caller ----
reader=$("$VMRPD" sp create -c "$EAST_CONF" --name depreader --role Reader)
OWNER_TOKEN=$TOKEN
TOKEN=$(token "$EAST" "$(echo "$reader" | jq -r .clientId)" "$(echo "$reader" | jq -r .clientSecret)")
arm PUT "$X/byreader?$R" "$AZBODY"
expect 403 AuthorizationFailed "a Reader cannot deploy"
arm GET "$X/dep1?$R"
expect 200 "" "but can read a deployment"
TOKEN=$OWNER_TOKEN

# ---- the az CLI ----
az_login "$EAST"
cat > "$VAR/t.json" <<'T'
{
  // az sends this file verbatim after "template:"
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "parameters": {"n": {"type": "string"}, "pw": {"type": "securestring"}},
  "resources": [{"type": "Microsoft.Compute/disks", "apiVersion": "2020-12-01", "name": "[parameters('n')]",
     "location": "[resourceGroup().location]", "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 1}}],
  "outputs": {"o": {"type": "string", "value": "[parameters('n')]"}}
}
T
check az deployment group create -g deprg -n azdep --template-file "$VAR/t.json" --parameters n=azd pw=Hunter2-s3cret-Zq -o none \
  "az deployment group create"
check test "$(az deployment group show -g deprg -n azdep --query properties.outputs.o.value -o tsv)" = azd "az deployment group show"
check bash -c "az deployment group list -g deprg --query '[].name' -o tsv | grep -qx azdep" "az deployment group list"
check test "$(az deployment operation group list -g deprg -n azdep --query '[0].properties.targetResource.resourceName' -o tsv)" = azd \
  "az deployment operation group list"
check test "$(az deployment group export -g deprg -n azdep -o json | jq -r '.resources[0].name')" = "[parameters('n')]" \
  "az deployment group export"
az deployment group cancel -g deprg -n azdep 2>/dev/null && rc=0 || rc=$?
check test "$rc" = 1 "az deployment group cancel of a finished one: exit 1"
check az deployment group delete -g deprg -n azdep "az deployment group delete"
az deployment group show -g deprg -n azdep >/dev/null 2>&1 && rc=0 || rc=$?
check test "$rc" = 3 "az deployment group show of a missing one: exit 3"
echo '{ "resources": [ broken' > "$VAR/bad.json"
az deployment group create -g deprg -n azbad --template-file "$VAR/bad.json" -o none 2>/dev/null && rc=0 || rc=$?
check test "$rc" != 0 "az deployment group create of a broken template fails"

# ---- a secure parameter is never visible afterwards ----
secret=Hunter2-s3cret-Zq
seen=""
for u in "$X/dep1?$R" "$X/?$R" "$G/deprg/deployments/dep1/operations?$R"; do
  arm GET "$u"; [[ "$BODY" == *"$secret"* ]] && seen="$seen $u"
done
arm POST "$X/dep1/exportTemplate?$R"; [[ "$BODY" == *"$secret"* ]] && seen="$seen export"
check test -z "$seen" "the secure value is in no answer"
meta_files eastus
meta_files westus
check bash -c "! grep -rqa '$secret' '$VAR/eastus' '$VAR/westus'" "nor in any file of either region (database, WAL, logs)"

# ---- a resource group's delete removes its deployments ----
arm DELETE "$G/cmprg?$R"
for _ in $(seq 100); do arm HEAD "$G/cmprg?$R"; [ "$STATUS" = 404 ] && break; sleep 0.1; done
check test "$(meta_sql eastus "SELECT count(*) FROM deployments WHERE scope LIKE '%/cmprg'")" = 0 \
  "deleting a resource group deletes its deployments"

# ---- the history limit: the oldest finished deployments go (ARM: 800) ----
check grep -q "history of 800 deployments per scope" "$VAR/eastus/vmrpd.log" "the default history limit is 800"
printf '[deployments]\nhistory = 3\n' >> "$EAST_CONF"
kill9_region eastus
restart_region eastus
TOKEN=$(token "$EAST")
check grep -q "history of 3 deployments per scope" "$VAR/eastus/vmrpd.log" "history = 3 configured"
arm PUT "$G/histrg?$R" '{"location":"eastus"}'
HX=$G/histrg/providers/Microsoft.Resources/deployments
for i in 1 2 3 4 5; do
  arm PUT "$HX/h$i?$R" '{"properties": {"mode": "Incremental", "template": {'"$SCHEMA"', "resources": []}}}'
  wait_dep "$(header Azure-AsyncOperation)"
done
arm GET "$HX/?$R"
check test "$(echo "$BODY" | jq -r '[.value[].name] | sort | join(",")')" = h3,h4,h5 "the oldest are deleted beyond the limit"
arm GET "$HX/?\$top=1&$R"
check test "$(echo "$BODY" | jq -r '[.value[].name] | join(",")')" = h5 "\$top=1: the newest"
finish
