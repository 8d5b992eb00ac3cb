#!/usr/bin/env bash
# Bad input with curl against a started region: each request is answered with
# the ARM error Azure gives (shared/reference/API-SURFACE.md §0, §7, §9) and
# the resource table is the same before and after the whole batch.
. "$VMRP_SRC/tests/lib/harness.sh"
start_regions
TOKEN=$(token "$EAST")
RV=api-version=2024-03-01
G=$EAST/subscriptions/$SUB/resourcegroups
BODY_OK='{"location":"eastus"}'

# A group the conditional and location checks work on, created before the
# "nothing changed" snapshot.
arm PUT "$G/existing?$RV" "$BODY_OK"
expect 201 "" "setup: create resource group 'existing'"
ETAG=$(header ETag)
# A child row inside it (as a disk would be), which no resource-group request
# may reach through an encoded '/' in the group name.
CHILD=/subscriptions/$SUB/resourceGroups/existing/providers/Microsoft.Compute/disks/d1
sqlite3 "$VAR/eastus/meta.db" "INSERT INTO resources(id, type, name, parent_id, location, etag, created_us, changed_us)
  VALUES('$CHILD', 'Microsoft.Compute/disks', 'd1', '/subscriptions/$SUB/resourceGroups/existing', 'eastus', '\"x\"', 0, 0)"
BEFORE=$(store_dump eastus)

# ---- api-version ----
arm GET "$G/existing"
expect 400 MissingApiVersionParameter "GET without api-version"
arm PUT "$G/newrg" "$BODY_OK"
expect 400 MissingApiVersionParameter "PUT without api-version"
arm PUT "$G/newrg?api-version=" "$BODY_OK"
expect 400 MissingApiVersionParameter "PUT with an empty api-version"
arm PUT "$G/newrg?api-version=2099-01-01" "$BODY_OK"
expect 400 InvalidApiVersionParameter "PUT with an unknown api-version"
check grep -q "2024-03-01" <<<"$(echo "$BODY" | jq -r .error.message)" "InvalidApiVersionParameter lists the supported versions"
arm GET "$EAST/subscriptions?api-version=1999-01-01"
expect 400 InvalidApiVersionParameter "GET /subscriptions with an unknown api-version"
arm PUT "$G/newrg?api-version=2022-08-01-preview" "$BODY_OK"
expect 400 InvalidApiVersionParameter "PUT with a compute-style preview api-version"

# ---- body: JSON syntax and types ----
arm PUT "$G/newrg?$RV" '{"location":'
expect 400 InvalidRequestContent "malformed JSON (truncated)"
arm PUT "$G/newrg?$RV" '{location: eastus}'
expect 400 InvalidRequestContent "malformed JSON (unquoted)"
arm PUT "$G/newrg?$RV" '{"location":"eastus","location":"westus"}'
expect 400 InvalidRequestContent "JSON with a duplicated member"
arm PUT "$G/newrg?$RV" '["eastus"]'
expect 400 InvalidRequestContent "JSON body that is an array"
arm PUT "$G/newrg?$RV" '"eastus"'
expect 400 InvalidRequestContent "JSON body that is a string"
arm PUT "$G/newrg?$RV" '{"location":5}'
expect 400 InvalidRequestContent "location as a number"
arm PUT "$G/newrg?$RV" '{"location":["eastus"]}'
expect 400 InvalidRequestContent "location as an array"
arm PUT "$G/newrg?$RV" '{"location":"eastus","tags":["a","b"]}'
expect 400 InvalidRequestContent "tags as an array"
arm PUT "$G/newrg?$RV" '{"location":"eastus","tags":"a=b"}'
expect 400 InvalidRequestContent "tags as a string"
arm PUT "$G/newrg?$RV" '{"location":"eastus","tags":{"a":1}}'
expect 400 InvalidRequestContent "tag value as a number"
arm PUT "$G/newrg?$RV" '{"location":"eastus","tags":{"a":{"b":"c"}}}'
expect 400 InvalidRequestContent "tag value as an object"
arm PUT "$G/newrg?$RV" '{"location":"eastus","managedBy":7}'
expect 400 InvalidRequestContent "managedBy as a number"
arm PATCH "$G/existing?$RV" '{"tags":[1]}'
expect 400 InvalidRequestContent "PATCH with tags as an array"
arm PATCH "$G/existing?$RV" '{"tags":'
expect 400 InvalidRequestContent "PATCH with malformed JSON"
arm PUT "$G/newrg?$RV" '{"location":"eastus","tags":{"bad/name":"x"}}'
expect 400 InvalidTagNameCharacters "tag name with a reserved character"
tags51=$(jq -cn '[range(51)] | map({key:"t\(.)", value:"v"}) | from_entries')
arm PUT "$G/newrg?$RV" "{\"location\":\"eastus\",\"tags\":$tags51}"
expect 400 InvalidTagCount "51 tags"
arm PUT "$G/newrg?$RV" "{\"location\":\"eastus\",\"tags\":{\"a\":\"$(printf 'v%.0s' $(seq 257))\"}}"
expect 400 InvalidTagValueLength "tag value of 257 characters"

# ---- body: size limit (max_body 4 MiB) ----
big=$VAR/big.json
python3 -c 'import sys; sys.stdout.write("{\"location\":\"eastus\",\"tags\":{\"a\":\"" + "x"*(5<<20) + "\"}}")' >"$big"
STATUS=$(curl -s --cacert "$CA" -o "$VAR/body" -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' --data-binary @"$big" "$G/bigrg?$RV" || true)
BODY=$(cat "$VAR/body" 2>/dev/null || true)
expect 413 RequestEntityTooLarge "5 MiB body with Content-Length"
STATUS=$(curl -s --cacert "$CA" -o "$VAR/body" -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary @"$big" "$G/bigrg?$RV" || true)
BODY=$(cat "$VAR/body" 2>/dev/null || true)
expect 413 RequestEntityTooLarge "5 MiB chunked body (no Content-Length)"
rm -f "$big"
arm GET "$G/existing?$RV"
expect 200 "" "the server still answers after the oversized bodies"

# ---- resource group names ----
EXTRA_CURL=(--path-as-is)
name91=$(printf 'a%.0s' $(seq 91))
for n in "$name91" 'a!b' 'a%20b' 'a%25b' 'rg.' '..' '.' 'a%2Fb' '..%2F..%2Fetc' '%2E%2E' 'a%3Bb' 'a*b' 'a%2Cb'; do
  arm PUT "$G/$n?$RV" "$BODY_OK"
  expect 400 InvalidResourceGroup "PUT of resource group name '${n:0:40}'"
done
arm PUT "$EAST/subscriptions/$SUB/resourcegroups/..%2F..%2F..%2Fetc%2Fpasswd?$RV" "$BODY_OK"
expect 400 InvalidResourceGroup "path traversal to /etc/passwd in the name"
arm GET "$G/a%2Fb?$RV"
expect 400 InvalidResourceGroup "GET of a name with an encoded slash"
arm DELETE "$G/..%2Fexisting?$RV"
expect 400 InvalidResourceGroup "DELETE of a name with an encoded traversal"
SMUGGLED=existing%2Fproviders%2FMicrosoft.Compute%2Fdisks%2Fd1
arm GET "$G/$SMUGGLED?$RV"
expect 400 InvalidResourceGroup "GET of a group name that spells a disk id"
arm HEAD "$G/$SMUGGLED?$RV"
expect 404 "" "HEAD of a group name that spells a disk id"
arm PATCH "$G/$SMUGGLED?$RV" '{"tags":{"a":"b"}}'
expect 400 InvalidResourceGroup "PATCH of a group name that spells a disk id"
arm DELETE "$G/$SMUGGLED?$RV"
expect 400 InvalidResourceGroup "DELETE of a group name that spells a disk id"
arm PUT "$G/$SMUGGLED?$RV" "$BODY_OK"
expect 400 InvalidResourceGroup "PUT of a group name that spells a disk id"
arm HEAD "$G/a!b?$RV"
expect 404 "" "HEAD of an invalid name"

# ---- names that are not UTF-8: 400 InvalidRequestUri, a well-formed JSON body ----
# (a name echoed in an error message once made jansson fail: 500 "Out of
# memory." with a stray NUL byte)
DV=api-version=2024-03-02
CV=api-version=2024-07-01
P=$G/existing/providers/Microsoft.Compute
DISK_BODY='{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
for u in "$G/a%FFb?$RV" "$P/disks/a%FFb?$DV" "$P/disks/a%C0%AFb?$DV" "$P/disks/a%ED%A0%80b?$DV" \
         "$P/virtualMachines/vm%E9?$CV" "$P/restorePointCollections/c%FF?$CV" \
         "$P/restorePointCollections/c/restorePoints/r%FF?$CV" "$P/virtualMachines/vm/extensions/e%FF?$CV" \
         "$EAST/subscriptions/%FF$SUB/resourcegroups/existing?$RV" "$EAST/no/such/p%FFth?$RV" \
         "$G/existing?api-version=%FF" "$G/existing?$RV&%FF=1"; do
  arm PUT "$u" "$DISK_BODY"
  expect 400 InvalidRequestUri "PUT ${u#"$EAST"}: not UTF-8"
  check test "$(header Content-Length)" = "${#BODY}" "its body's Content-Length is its length (no stray byte)"
done
arm GET "$P/disks/a%FFb?$DV"
expect 400 InvalidRequestUri "GET of a disk whose name is not UTF-8"
arm GET "$EAST/%FF/.well-known/openid-configuration"
expect 400 InvalidRequestUri "an identity route (anonymous) whose tenant is not UTF-8"
check test "$(header Content-Length)" = "${#BODY}" "its body's Content-Length is its length (no stray byte)"
arm PUT "$G/newrg?$RV" $'{"location":"eastus","tags":{"a":"\xff\xfe"}}'
expect 400 InvalidRequestContent "a body string that is not UTF-8"
arm PUT "$P/disks/d2?$DV" $'{"location":"east\xc3\x28us","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
expect 400 InvalidRequestContent "a disk body whose location is not UTF-8"

# ---- Compute names: Azure's rules (1-80 of letters, digits, _ - ., starting
# with a letter or digit, ending with a letter, digit or '_') ----
for n in . .. abc. -abc _abc abc- .abc "$(printf 'd%.0s' $(seq 81))" 'a%0Ab'; do
  arm PUT "$P/disks/$n?$DV" "$DISK_BODY"
  expect 400 InvalidResourceName "disk name '${n:0:40}'"
done
# (a restore point of a collection that is not here is forwarded: its name
# "." or ".." once reached the peer resolved, as a PUT of the collection)
for n in . .. abc. -abc abc- 'a%0Ab'; do
  arm PUT "$P/restorePointCollections/$n?$CV" '{"location":"eastus","properties":{"source":{"id":"/x"}}}'
  expect 400 InvalidParameter "collection name '$n'"
  arm PUT "$P/restorePointCollections/c/restorePoints/$n?$CV" '{}'
  expect 400 InvalidParameter "restore point name '$n'"
done
for n in . .. abc. abc- _abc 'a%0Ab'; do
  arm PUT "$P/virtualMachines/$n?$CV" '{"location":"eastus"}'
  expect 400 InvalidParameter "VM name '$n'"
done
for n in . .. abc. 'a%0Ab' 'a%09b' 'a%7Fb'; do
  arm PUT "$P/virtualMachines/vm/extensions/$n?$CV" '{"location":"eastus","properties":{}}'
  expect 400 InvalidParameter "extension name '$n'"
done
EXTRA_CURL=()

# ---- resource types, namespaces, subscriptions ----
arm PUT "$G/existing/providers/Microsoft.Compute/fooBars/x?api-version=2024-07-01" "$BODY_OK"
expect 400 InvalidResourceType "unknown resource type in Microsoft.Compute"
arm GET "$G/existing/providers/Microsoft.Resources/widgets/x?$RV"
expect 400 InvalidResourceType "unknown resource type in Microsoft.Resources"
arm GET "$G/existing/providers/Microsoft.Network/loadBalancers/x?api-version=2023-09-01"
expect 400 InvalidResourceType "unknown resource type in Microsoft.Network (vmrp keeps four of its types)"
arm PUT "$G/existing/providers/Microsoft.Foo/bars/x?$RV" "$BODY_OK"
expect 400 InvalidResourceNamespace "unknown resource namespace"
OTHER=$(cat /proc/sys/kernel/random/uuid)
arm PUT "$EAST/subscriptions/$OTHER/resourcegroups/newrg?$RV" "$BODY_OK"
expect 404 SubscriptionNotFound "PUT under an unknown subscription"
arm GET "$EAST/subscriptions/$OTHER?api-version=2022-12-01"
expect 404 SubscriptionNotFound "GET of an unknown subscription"
arm GET "$EAST/subscriptions/$OTHER/resourcegroups?$RV"
expect 404 SubscriptionNotFound "list under an unknown subscription"

# ---- location ----
arm PUT "$G/newrg?$RV" '{"location":"northeurope"}'
expect 400 LocationNotAvailableForResourceGroup "location not in the deployment"
arm PUT "$G/newrg?$RV" '{"location":""}'
expect 400 LocationNotAvailableForResourceGroup "empty location"
arm PUT "$G/newrg?$RV" '{"tags":{"a":"b"}}'
expect 400 LocationRequired "missing location"
arm PUT "$G/newrg?$RV" '{"location":null}'
expect 400 LocationRequired "null location"
arm PUT "$G/newrg?$RV"
expect 400 InvalidRequestContent "PUT without a body"
arm PUT "$G/existing?$RV" '{"location":"westus"}'
expect 409 InvalidResourceGroupLocation "changing a resource group's location"
arm PUT "$G/EXISTING?$RV" '{"location":"West US"}'
expect 409 InvalidResourceGroupLocation "changing the location (other casing, display name)"

# ---- conditional requests ----
EXTRA_CURL=(-H 'If-Match: "00000000-0000-0000-0000-000000000000"')
arm PUT "$G/existing?$RV" "$BODY_OK"
expect 412 PreconditionFailed "PUT with a stale If-Match"
arm PATCH "$G/existing?$RV" '{"tags":{"a":"b"}}'
expect 412 PreconditionFailed "PATCH with a stale If-Match"
arm DELETE "$G/existing?$RV"
expect 412 PreconditionFailed "DELETE with a stale If-Match"
EXTRA_CURL=(-H 'If-Match: *')
arm PUT "$G/newrg?$RV" "$BODY_OK"
expect 412 PreconditionFailed "PUT with If-Match: * of a missing group"
EXTRA_CURL=(-H 'If-None-Match: *')
arm PUT "$G/existing?$RV" "$BODY_OK"
expect 412 PreconditionFailed "PUT with If-None-Match: * of an existing group"
arm PUT "$G/Existing?$RV" "$BODY_OK"
expect 412 PreconditionFailed "PUT with If-None-Match: * of an existing group (other casing)"
EXTRA_CURL=()
arm GET "$G/existing?$RV"
check test "$(header ETag)" = "$ETAG" "the etag did not change"

# ---- missing things, methods ----
arm DELETE "$G/missing-rg?$RV"
expect 404 ResourceGroupNotFound "DELETE of a missing group"
arm GET "$G/missing-rg?$RV"
expect 404 ResourceGroupNotFound "GET of a missing group"
arm PATCH "$G/missing-rg?$RV" '{"tags":{}}'
expect 404 ResourceGroupNotFound "PATCH of a missing group"
arm GET "$EAST/subscriptions/$SUB/providers/Microsoft.Resources/locations/eastus/operations/$OTHER?$RV"
expect 404 NotFound "status of an unknown operation id"
arm GET "$EAST/subscriptions/$SUB/operationresults/$OTHER?$RV"
expect 404 NotFound "operation result of an unknown operation id"
arm POST "$G/existing?$RV" '{}'
expect 405 HttpMethodNotAllowed "POST to a resource group"
arm DELETE "$EAST/subscriptions/$SUB/resourcegroups?$RV"
expect 405 HttpMethodNotAllowed "DELETE of the resource group collection"
arm PUT "$EAST/subscriptions/$SUB?api-version=2022-12-01" '{}'
expect 405 HttpMethodNotAllowed "PUT of a subscription"
arm GET "$EAST/no/such/path?$RV"
expect 404 NotFound "unknown path"
arm GET "$G?$RV&\$top=0"
expect 400 InvalidParameter "list with \$top=0"
arm GET "$G?$RV&\$skiptoken=%25%25%25"
expect 400 InvalidParameter "list with a garbage \$skiptoken"

# ---- wrong-typed, out-of-enum and overlong members: 400, nothing stored ----
# (each was accepted and silently dropped or stored as sent)
long() { python3 -c "import sys; print('x' * int(sys.argv[1]))" "$1"; }
disk() { echo '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1'"$1"'}}'; }
for v in 5 '["Linux"]' '{"a":1}' true; do
  arm PUT "$P/disks/typed?$DV" "$(disk ",\"osType\":$v")"
  expect 400 InvalidRequestContent "disk osType $v"
  arm PUT "$P/disks/typed?$DV" "$(disk ",\"hyperVGeneration\":$v")"
  expect 400 InvalidRequestContent "disk hyperVGeneration $v"
done
arm PUT "$P/disks/typed?$DV" "$(disk ',"osType":"Solaris"')"
expect 400 InvalidParameter "disk osType 'Solaris'"
arm PUT "$P/disks/typed?$DV" "$(disk ',"hyperVGeneration":"V3"')"
expect 400 InvalidParameter "disk hyperVGeneration 'V3'"
arm PUT "$P/disks/typed?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Copy","sourceResourceId":7}}}'
expect 400 InvalidRequestContent "disk creationData.sourceResourceId 7"
arm PATCH "$P/disks/d1?$DV" '{"properties":{"osType":5}}'
expect 400 InvalidRequestContent "disk PATCH with osType 5"
arm PATCH "$P/disks/d1?$DV" '{"properties":{"hyperVGeneration":"V9"}}'
expect 400 InvalidParameter "disk PATCH with hyperVGeneration 'V9'"
vm() { echo '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":'"$1"'},"storageProfile":{"osDisk":{"createOption":"Attach","managedDisk":{"id":"/x"}}'"${2-}"'}'"${3-}"'}}'; }
arm PUT "$P/virtualMachines/vmx?$CV" "$(vm "\"Standard_$(long 100000)\"")"
expect 400 InvalidParameter "VM vmSize of 100 KB"
arm PUT "$P/virtualMachines/vmx?$CV" "$(vm "\"$(long 65)\"")"
expect 400 InvalidParameter "VM vmSize of 65 characters"
arm PUT "$P/virtualMachines/vmx?$CV" "$(vm 5)"
expect 400 InvalidRequestContent "VM vmSize 5"
arm PUT "$P/virtualMachines/vmx?$CV" "$(vm '"Standard_B2s"' '' ",\"osProfile\":{\"computerName\":\"$(long 65)\"}")"
expect 400 InvalidParameter "VM computerName of 65 characters"
arm PUT "$P/virtualMachines/vmx?$CV" "$(vm '"Standard_B2s"' ',"dataDisks":[{"lun":0,"createOption":"Attach","managedDisk":{"id":"/y","storageAccountType":"Gold_LRS"}}]')"
expect 400 InvalidParameter "VM data disk storageAccountType 'Gold_LRS'"
arm PUT "$P/virtualMachines/vmx?$CV" "$(vm '"Standard_B2s"' ",\"dataDisks\":[{\"lun\":0,\"createOption\":\"Empty\",\"diskSizeGB\":1,\"name\":\"$(long 81)\"}]")"
expect 400 InvalidParameter "VM data disk name of 81 characters"
for v in 5 '"x"' '[]' true; do
  arm PUT "$G/newrg?$RV" "{\"location\":\"eastus\",\"properties\":$v}"
  expect 400 InvalidRequestContent "resource group properties $v"
done
arm PATCH "$G/existing?$RV" '{"properties":5}'
expect 400 InvalidRequestContent "resource group PATCH with properties 5"
arm PUT "$G/newrg?$RV" "{\"location\":\"eastus\",\"managedBy\":\"/$(long 2000)\"}"
expect 400 InvalidParameter "resource group managedBy of 2001 characters"
arm PATCH "$G/existing?$RV" "{\"managedBy\":\"/$(long 2000)\"}"
expect 400 InvalidParameter "resource group PATCH with managedBy of 2001 characters"
arm PUT "$P/virtualMachines/vm/extensions/agent?$CV" '{"location":"eastus","properties":{"publisher":"Vmrp","type":"QemuGuestAgent","autoUpgradeMinorVersion":"yes","settings":{"socket":"/s"}}}'
expect 400 InvalidRequestContent "extension autoUpgradeMinorVersion 'yes'"
arm PUT "$P/restorePointCollections/c/restorePoints/r?$CV" '{"properties":{"sourceRestorePoint":{"id":5}}}'
expect 400 InvalidRequestContent "restore point sourceRestorePoint.id 5"

# ---- nothing changed ----
AFTER=$(store_dump eastus)
if [ "$BEFORE" = "$AFTER" ]; then ok "the store is unchanged after every refused request"
else STATUS=; BODY=$(diff <(echo "$BEFORE") <(echo "$AFTER") || true); fail "the store is unchanged after every refused request"; fi
check test "$(sqlite3 "$VAR/eastus/meta.db" "SELECT count(*) FROM operations")" = 0 "no operation was started"

# Positive controls: the limits are exact.
name90=$(printf 'b%.0s' $(seq 90))
arm PUT "$G/$name90?$RV" "$BODY_OK"
expect 201 "" "a 90-character name is accepted"
arm PUT "$G/a.b-c_d(e)?$RV" "$BODY_OK"
expect 201 "" "letters, digits and . - _ ( ) are accepted"
arm PUT "$G/caf%C3%A9-%E6%9D%B1?$RV" "$BODY_OK"
expect 201 "" "a resource group name in UTF-8 (non-ASCII letters) is accepted"
check test "$(echo "$BODY" | jq -r .name)" = "café-東" "and echoed as sent"
arm PUT "$P/disks/typedok?$DV" "$(disk ',"osType":"linux","hyperVGeneration":"v2"')"
wait_op
arm GET "$P/disks/typedok?$DV"
check test "$(echo "$BODY" | jq -r '.properties.osType + " " + .properties.hyperVGeneration')" = "Linux V2" \
  "osType and hyperVGeneration in any casing are accepted and stored as Azure spells them"
for n in abc_ a.b-c_d 9 "$(printf 'd%.0s' $(seq 80))"; do
  arm PUT "$P/disks/$n?$DV" "$DISK_BODY"
  check test "$STATUS" -lt 300 "disk name '${n:0:40}' is accepted (HTTP $STATUS)"
done
finish
