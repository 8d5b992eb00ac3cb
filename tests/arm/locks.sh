#!/usr/bin/env bash
# Microsoft.Authorization/locks over REST (curl), ARM's way:
#  - a lock at each scope (subscription, group, a top-level resource, a child
#    restore point) and each level: its shape, the lists (a subscription's
#    shows every lock in it, of both regions), removal unlocking;
#  - every write and delete route refused while locked, listed explicitly
#    (disks, VMs and their actions and extensions, collections, restore
#    points, retention locks, disk restore point access, network, protection
#    policies, resource group), reads and
#    the read-only POSTs (validate, whatIf) let through, 409 ScopeLocked in
#    ARM's words;
#  - a DELETE looks below its target: a collection holding a locked restore
#    point, a group holding a locked westus disk (asked of westus first);
#  - both regions' endpoints: a westus disk's lock made through eastus lives
#    in westus and refuses requests forwarded there; a group's lock is in
#    both regions; a lock set while westus is down answers 503 and a retry
#    places it there;
#  - template deployments: the deployment refused under a group's ReadOnly,
#    a resource it changes refused inside it (the deployment Failed with
#    ScopeLocked), Complete mode leaving a group's lock alone, a template
#    deploying a group's lock;
#  - bad input (level, notes, name, scope) changes nothing; a Contributor
#    can read locks but neither make nor remove one.
. "$VMRP_SRC/tests/lib/harness.sh"
. "$VMRP_SRC/tests/lib/deploy.sh"
start_regions
TOKEN=$(token "$EAST")
LV=api-version=2016-09-01
DV=api-version=2024-03-02
CV=api-version=2024-07-01
GV=api-version=2021-04-01
NV=api-version=2022-07-01
GID=/subscriptions/$SUB/resourceGroups/lk
G=$EAST$GID
C=$G/providers/Microsoft.Compute
N=$G/providers/Microsoft.Network
L=providers/Microsoft.Authorization/locks
nlocks() { sqlite3 "$VAR/$1/meta.db" "SELECT count(*) FROM resources WHERE type = 'Microsoft.Authorization/locks'"; }
lock() { # URL-OF-SCOPE NAME LEVEL
  arm PUT "$1/$L/$2?$LV" '{"properties":{"level":"'$3'","notes":"kept by the test"}}'
}
unlock() { arm DELETE "$1/$L/$2?$LV"; }
# refused METHOD URL BODY VERB DESCRIPTION: 409 ScopeLocked for a VERB operation
refused() {
  arm "$1" "$2" "$3"
  if [ "$STATUS" = 409 ] && [ "$(echo "$BODY" | jq -r .error.code)" = ScopeLocked ] &&
     echo "$BODY" | jq -er '.error.message | test("cannot perform '"$4"' operation because following scope\\(s\\) are locked")' >/dev/null; then
    ok "$5: 409 ScopeLocked ($4)"
  else
    fail "$5: want 409 ScopeLocked ($4)"
  fi
}

arm PUT "$G?$GV" '{"location":"eastus"}'
expect 201 "" "group lk (both regions)"
disk() { # NAME LOCATION
  arm PUT "$C/disks/$1?$DV" '{"location":"'$2'","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
  wait_op
}
disk os eastus; disk de eastus; disk dw westus
arm PUT "$C/virtualMachines/vm?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},
  "storageProfile":{"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"'$GID'/providers/Microsoft.Compute/disks/os"}}}}}'
wait_op
arm PUT "$C/restorePointCollections/rpc?$CV" '{"location":"eastus","properties":{"source":{"id":"'$GID'/providers/Microsoft.Compute/virtualMachines/vm"}}}'
arm PUT "$C/restorePointCollections/rpc/restorePoints/rp1?$CV" '{}'
wait_op 1200
check test "$OP_STATUS" = Succeeded "disks in both regions, a VM, a collection, a restore point"
arm GET "$C/restorePointCollections/rpc/restorePoints/rp1/diskRestorePoints?$DV"
DRP=$EAST$(echo "$BODY" | jq -r '.value[0].id')
arm PUT "$N/virtualNetworks/vn?$NV" '{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]},"subnets":[{"name":"s1","properties":{"addressPrefix":"10.0.0.0/24"}}]}}'
check test "$STATUS" = 201 "a virtual network"

# ---- the lock resource --------------------------------------------------------
lock "$C/disks/de" ro ReadOnly
expect 201 "" "PUT a ReadOnly lock on disk de: 201"
check test "$(echo "$BODY" | jq -c '{id,name,type,properties}')" = \
  '{"id":"'$GID'/providers/Microsoft.Compute/disks/de/providers/Microsoft.Authorization/locks/ro","name":"ro","type":"Microsoft.Authorization/locks","properties":{"level":"ReadOnly","notes":"kept by the test"}}' \
  "Azure's shape: id under its scope, name, type, properties.level and notes"
lock "$C/disks/de" ro readonly
expect 200 "" "PUT again (the level in another case): 200, an update"
check test "$(echo "$BODY" | jq -r .properties.level)" = ReadOnly "the level as Azure spells it"
arm GET "$C/disks/de/$L/ro?$LV"
check test "$STATUS/$(echo "$BODY" | jq -r .name)" = 200/ro "GET the lock"
arm GET "$C/disks/de?$DV"
expect 200 "" "ReadOnly: GET of the disk still answers"
refused PATCH "$C/disks/de?$DV" '{"tags":{"a":"b"}}' write "ReadOnly disk: PATCH"
check test "$(echo "$BODY" | jq -r .error.message)" = \
  "The scope '$GID/providers/Microsoft.Compute/disks/de' cannot perform write operation because following scope(s) are locked: '$GID/providers/Microsoft.Compute/disks/de'. Please remove the lock and try again." \
  "ARM's message, word for word"
refused PUT "$C/disks/de?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":2}}' write "ReadOnly disk: PUT"
refused DELETE "$C/disks/de?$DV" "" delete "ReadOnly disk: DELETE"
refused POST "$C/disks/de/beginGetAccess?$DV" '{"access":"Read","durationInSeconds":60}' write "ReadOnly disk: beginGetAccess"
refused POST "$C/disks/de/endGetAccess?$DV" "" write "ReadOnly disk: endGetAccess"
refused POST "$C/disks/de/vmrpGrantNbdAccess?$DV" '{"access":"Read"}' write "ReadOnly disk: vmrpGrantNbdAccess"
arm PATCH "$C/disks/os?$DV" '{"tags":{"a":"b"}}'
expect 200 "" "another disk of the group is not held by de's lock"
unlock "$C/disks/de" ro
expect 200 "" "DELETE the lock: 200"
unlock "$C/disks/de" ro
expect 204 "" "DELETE it again: 204"
arm PATCH "$C/disks/de?$DV" '{"tags":{"a":"b"}}'
expect 200 "" "removal unlocks: PATCH of de"

lock "$C/disks/de" cnd CanNotDelete
arm PATCH "$C/disks/de?$DV" '{"tags":{"c":"d"}}'
expect 200 "" "CanNotDelete disk: PATCH allowed"
refused DELETE "$C/disks/de?$DV" "" delete "CanNotDelete disk: DELETE"
unlock "$C/disks/de" cnd

# ---- a group's ReadOnly: every write route, both regions ------------------------
lock "$G" ro ReadOnly
expect 201 "" "a ReadOnly lock on group lk through eastus"
arm GET "$WEST$GID/$L/ro?$LV"
check test "$STATUS/$(echo "$BODY" | jq -r .properties.level)" = 200/ReadOnly "the group's lock is in westus too"
D='{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
VMB='{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},"storageProfile":{"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"'$GID'/providers/Microsoft.Compute/disks/de"}}}}}'
RPCB='{"location":"eastus","properties":{"source":{"id":"'$GID'/providers/Microsoft.Compute/virtualMachines/vm"}}}'
EXT='{"location":"eastus","properties":{"publisher":"Vmrp","type":"QemuGuestAgent","settings":{"socket":"'$VAR'/x.sock"}}}'
east_before=$(store_dump eastus) west_before=$(store_dump westus)
while IFS='|' read -r method path body verb; do
  refused "$method" "$G$path" "$body" "$verb" "group ReadOnly: $method ${path#/providers/}"
done <<EOF
PUT|/providers/Microsoft.Compute/disks/new?$DV|$D|write
PUT|/providers/Microsoft.Compute/disks/de?$DV|$D|write
PATCH|/providers/Microsoft.Compute/disks/de?$DV|{"tags":{"x":"y"}}|write
DELETE|/providers/Microsoft.Compute/disks/de?$DV||delete
POST|/providers/Microsoft.Compute/disks/de/beginGetAccess?$DV|{"access":"Read","durationInSeconds":60}|write
POST|/providers/Microsoft.Compute/disks/de/endGetAccess?$DV||write
POST|/providers/Microsoft.Compute/disks/de/vmrpGrantNbdAccess?$DV|{"access":"Read"}|write
POST|/providers/Microsoft.Compute/disks/de/vmrpRevokeNbdAccess?$DV|{"accessId":"x"}|write
PUT|/providers/Microsoft.Compute/virtualMachines/vm2?$CV|$VMB|write
PATCH|/providers/Microsoft.Compute/virtualMachines/vm?$CV|{"tags":{"x":"y"}}|write
DELETE|/providers/Microsoft.Compute/virtualMachines/vm?$CV||delete
POST|/providers/Microsoft.Compute/virtualMachines/vm/start?$CV||write
POST|/providers/Microsoft.Compute/virtualMachines/vm/powerOff?$CV||write
POST|/providers/Microsoft.Compute/virtualMachines/vm/deallocate?$CV||write
POST|/providers/Microsoft.Compute/virtualMachines/vm/restart?$CV||write
PUT|/providers/Microsoft.Compute/virtualMachines/vm/extensions/qga?$CV|$EXT|write
DELETE|/providers/Microsoft.Compute/virtualMachines/vm/extensions/qga?$CV||delete
PUT|/providers/Microsoft.Compute/restorePointCollections/rpc2?$CV|$RPCB|write
PATCH|/providers/Microsoft.Compute/restorePointCollections/rpc?$CV|{"tags":{"x":"y"}}|write
DELETE|/providers/Microsoft.Compute/restorePointCollections/rpc?$CV||delete
PUT|/providers/Microsoft.Compute/restorePointCollections/rpc/restorePoints/rp2?$CV|{}|write
DELETE|/providers/Microsoft.Compute/restorePointCollections/rpc/restorePoints/rp1?$CV||delete
POST|/providers/Microsoft.Compute/restorePointCollections/rpc/restorePoints/rp1/vmrpSetRetentionLock?$CV|{"mode":"Governance","expiresAt":"2099-01-01T00:00:00Z"}|write
POST|${DRP#"$G"}/beginGetAccess?$DV|{"access":"Read","durationInSeconds":60}|write
POST|${DRP#"$G"}/endGetAccess?$DV||write
POST|${DRP#"$G"}/vmrpGrantNbdAccess?$DV|{"access":"Read"}|write
POST|${DRP#"$G"}/vmrpRevokeNbdAccess?$DV|{"accessId":"x"}|write
PUT|/providers/Microsoft.Network/virtualNetworks/vn2?$NV|{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.1.0.0/16"]}}}|write
PATCH|/providers/Microsoft.Network/virtualNetworks/vn?$NV|{"tags":{"x":"y"}}|write
DELETE|/providers/Microsoft.Network/virtualNetworks/vn?$NV||delete
PUT|/providers/Microsoft.Network/virtualNetworks/vn/subnets/s2?$NV|{"properties":{"addressPrefix":"10.0.1.0/24"}}|write
DELETE|/providers/Microsoft.Network/virtualNetworks/vn/subnets/s1?$NV||delete
PUT|/providers/Microsoft.Network/networkSecurityGroups/nsg?$NV|{"location":"eastus","properties":{"securityRules":[]}}|write
PUT|/providers/Microsoft.Network/publicIPAddresses/pip?$NV|{"location":"eastus","properties":{"publicIPAllocationMethod":"Dynamic"}}|write
PUT|/providers/Microsoft.Network/networkInterfaces/nic?$NV|{"location":"eastus","properties":{"ipConfigurations":[{"name":"c","properties":{"subnet":{"id":"$GID/providers/Microsoft.Network/virtualNetworks/vn/subnets/s1"}}}]}}|write
PUT|/providers/Microsoft.Vmrp/protectionPolicies/pp?api-version=2026-12-01|{"location":"eastus","properties":{}}|write
PATCH|/providers/Microsoft.Vmrp/protectionPolicies/pp?api-version=2026-12-01|{"tags":{"x":"y"}}|write
DELETE|/providers/Microsoft.Vmrp/protectionPolicies/pp?api-version=2026-12-01||delete
PUT|?$GV|{"location":"eastus","tags":{"x":"y"}}|write
PATCH|?$GV|{"tags":{"x":"y"}}|write
DELETE|?$GV||delete
EOF
refused PATCH "$C/disks/dw?$DV" '{"tags":{"x":"y"}}' write "group ReadOnly: the westus disk, through eastus (westus judges)"
refused PATCH "$WEST$GID/providers/Microsoft.Compute/disks/dw?$DV" '{"tags":{"x":"y"}}' write "group ReadOnly: the westus disk at westus"
check test "$(store_dump eastus)/$(store_dump westus)" = "$east_before/$west_before" "every refused request changed nothing, in either region"
for u in "$C/disks/de?$DV" "$C/disks?$DV" "$C/virtualMachines/vm?$CV" "$C/restorePointCollections/rpc/restorePoints/rp1?$CV" \
         "$N/virtualNetworks/vn?$NV" "$G?$GV" "$G/resources?$GV" "$C/disks/dw?$DV"; do
  arm GET "$u"
  [ "$STATUS" = 200 ] || fail "group ReadOnly: GET ${u#"$G"}"
done
ok "group ReadOnly: reads answer (disk, lists, VM, restore point, network, group, the westus disk)"
X=$G/providers/Microsoft.Resources/deployments
TPL='{"properties":{"mode":"Incremental","template":{'$DEP_SCHEMA',"resources":['$(dep_disk t1)']}}}'
arm POST "$X/d1/validate?$GV" "$TPL"
expect 200 "" "group ReadOnly: deployment validate is read-only, let through"
arm POST "$X/d1/whatIf?$GV" "$TPL"
expect 202 "" "group ReadOnly: whatIf let through"
refused PUT "$X/d1?$GV" "$TPL" write "group ReadOnly: a template deployment"
check test "$(nlocks eastus)/$(nlocks westus)" = 1/1 "one lock row in each region"
unlock "$G" ro
expect 200 "" "the group's lock removed through eastus"
arm GET "$WEST$GID/$L/ro?$LV"
expect 404 LockNotFound "and from westus: GET there is 404 LockNotFound"
arm PATCH "$C/disks/dw?$DV" '{"tags":{"free":"yes"}}'
expect 200 "" "removal unlocks the westus disk"
arm PATCH "$G?$GV" '{"tags":{"free":"yes"}}'
expect 200 "" "and the group"

# ---- subscription CanNotDelete ----------------------------------------------------
lock "$EAST/subscriptions/$SUB" nodel CanNotDelete
expect 201 "" "a CanNotDelete lock on the subscription"
arm PATCH "$C/disks/de?$DV" '{"tags":{"s":"1"}}'
expect 200 "" "subscription CanNotDelete: a PATCH is allowed"
refused DELETE "$C/disks/de?$DV" "" delete "subscription CanNotDelete: DELETE of an eastus disk"
refused DELETE "$C/disks/dw?$DV" "" delete "subscription CanNotDelete: DELETE of the westus disk through eastus"
refused DELETE "$WEST$GID/providers/Microsoft.Compute/disks/dw?$DV" "" delete "subscription CanNotDelete: the same at westus"
refused DELETE "$G?$GV" "" delete "subscription CanNotDelete: DELETE of the group"
check test "$(echo "$BODY" | jq -r .error.message | grep -c "locked: '/subscriptions/$SUB'")" = 1 "naming the subscription"
unlock "$EAST/subscriptions/$SUB" nodel

# ---- locks below a DELETE's target; a westus resource's lock -----------------------
lock "$C/restorePointCollections/rpc/restorePoints/rp1" keep CanNotDelete
expect 201 "" "a CanNotDelete lock on restore point rp1 (a child resource)"
refused DELETE "$C/restorePointCollections/rpc/restorePoints/rp1?$CV" "" delete "locked restore point: DELETE"
refused DELETE "$C/restorePointCollections/rpc?$CV" "" delete "its collection: DELETE (a locked child)"
check test "$(echo "$BODY" | jq -r .error.message | grep -c "locked: '$GID/providers/Microsoft.Compute/restorePointCollections/rpc/restorePoints/rp1'")" = 1 \
  "naming the restore point's scope"
arm PATCH "$C/restorePointCollections/rpc?$CV" '{"tags":{"k":"v"}}'
expect 200 "" "the collection can still be changed"
unlock "$C/restorePointCollections/rpc/restorePoints/rp1" keep
lock "$C/disks/dw" w CanNotDelete
expect 201 "" "a lock on the westus disk, through eastus"
check test "$(nlocks eastus)/$(nlocks westus)" = 0/1 "it lives in westus only"
arm GET "$C/disks/dw/$L/w?$LV"
expect 200 "" "GET of it through eastus (forwarded)"
arm GET "$EAST/subscriptions/$SUB/$L?$LV"
check test "$(echo "$BODY" | jq -r '[.value[].name] | join(",")')" = w "the subscription's list through eastus shows the westus lock"
arm GET "$G/$L?$LV"
check test "$(echo "$BODY" | jq -r '[.value[].name] | join(",")')" = w "so does the group's"
refused DELETE "$G?$GV" "" delete "a group holding a locked westus disk: DELETE through eastus"
check test "$(echo "$BODY" | jq -r .error.message | grep -c "disks/dw'")" = 1 "naming the westus disk"
arm GET "$WEST$GID?$GV"
check test "$STATUS/$(echo "$BODY" | jq -r .properties.provisioningState)" = 200/Succeeded "nothing was deleted: the group in westus"
arm GET "$G?$GV"
check test "$STATUS/$(echo "$BODY" | jq -r .properties.provisioningState)" = 200/Succeeded "and in eastus"
unlock "$C/disks/dw" w
expect 200 "" "the westus lock removed through eastus"

# ---- template deployments ----------------------------------------------------------
lock "$C/disks/de" ro ReadOnly
TPL2='{"properties":{"mode":"Incremental","template":{'$DEP_SCHEMA',"resources":['$(dep_disk t2)', {"type":"Microsoft.Compute/disks","apiVersion":"2020-12-01","name":"de","location":"eastus","tags":{"by":"template"},"properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}]}}}'
arm PUT "$X/d2?$GV" "$TPL2"
expect 201 "" "a deployment touching the ReadOnly disk de: accepted"
wait_dep "$(header Azure-AsyncOperation)"
check test "$DEP_STATUS" = Failed "it fails"
arm GET "$X/d2/operations?$GV"
check test "$(echo "$BODY" | jq -r '[.value[] | select(.properties.targetResource.resourceName == "de") | .properties.statusMessage.error.code] | join(",")')" = ScopeLocked \
  "its operation on de: ScopeLocked (the dispatched PUT judged like a client's)"
arm GET "$C/disks/t2?$DV"
expect 200 "" "the unlocked disk of the same template was made"
unlock "$C/disks/de" ro
lock "$G" keep CanNotDelete
TPL3='{"properties":{"mode":"Complete","template":{'$DEP_SCHEMA',"resources":[]}}}'
arm PUT "$X/d3?$GV" "$TPL3"
wait_dep "$(header Azure-AsyncOperation)"
check test "$DEP_STATUS" = Failed "a Complete-mode deployment under the group's CanNotDelete fails its clean-up"
arm GET "$G/$L/keep?$LV"
expect 200 "" "and leaves the group's lock alone"
arm GET "$C/disks/os?$DV"
expect 200 "" "and the group's resources"
unlock "$G" keep
TPL4='{"properties":{"mode":"Incremental","template":{'$DEP_SCHEMA',"resources":[{"type":"Microsoft.Authorization/locks","apiVersion":"2016-09-01","name":"tpl","properties":{"level":"CanNotDelete","notes":"from a template"}}]}}}'
arm PUT "$X/d4?$GV" "$TPL4"
wait_dep "$(header Azure-AsyncOperation)"
check test "$DEP_STATUS" = Succeeded "a template deploys a lock on its group"
arm GET "$WEST$GID/$L/tpl?$LV"
check test "$STATUS/$(echo "$BODY" | jq -r .properties.level)" = 200/CanNotDelete "in both regions"
refused DELETE "$C/disks/de?$DV" "" delete "and it holds"
unlock "$G" tpl

# ---- who may lock ------------------------------------------------------------------
read -r CID CSEC <<<"$(principal contrib "$SUB" Contributor)"
lock "$C/disks/de" owner CanNotDelete
OWNER=$TOKEN
TOKEN=$(token "$EAST" "$CID" "$CSEC")
lock "$C/disks/os" mine ReadOnly
expect 403 AuthorizationFailed "a Contributor cannot make a lock"
check test "$(echo "$BODY" | jq -r .error.message | grep -c "Microsoft.Authorization/locks/write")" = 1 "naming Microsoft.Authorization/locks/write"
unlock "$C/disks/de" owner
expect 403 AuthorizationFailed "nor remove one"
arm GET "$C/disks/de/$L/owner?$LV"
expect 200 "" "but can read it"
refused DELETE "$C/disks/de?$DV" "" delete "and is held by it"
TOKEN=$OWNER
unlock "$C/disks/de" owner
expect 200 "" "the Owner removes it"

# ---- bad input: nothing changes ----------------------------------------------------
before=$(store_dump eastus)
for b in '{}' '{"properties":{}}' '{"properties":{"notes":"x"}}' '{"properties":{"level":"NotSpecified"}}' \
         '{"properties":{"level":"Sometimes"}}' '{"properties":{"level":5}}' '{"properties":"ReadOnly"}' \
         '{"properties":{"level":"ReadOnly","notes":"'$(head -c 513 /dev/zero | tr '\0' n)'"}}' \
         '{"properties":{"level":"ReadOnly","owners":"me"}}' 'not json'; do
  arm PUT "$C/disks/de/$L/bad?$LV" "$b"
  check test "$STATUS/$(echo "$BODY" | jq -r '.error.code | test("^Invalid")')" = 400/true "bad body ${b:0:60}: 400 $(echo "$BODY" | jq -r .error.code)"
done
arm PUT "$C/disks/de/$L/bad?$LV"
expect 400 InvalidRequestContent "no body: 400"
lock "$C/disks/de" 'a:b' ReadOnly
expect 400 InvalidParameter "a lock name with ':'"
lock "$C/disks/de" "$(head -c 261 /dev/zero | tr '\0' n)" ReadOnly
expect 400 InvalidParameter "a lock name of 261 characters"
lock "$C/disks/de" "$(head -c 260 /dev/zero | tr '\0' n)" ReadOnly
expect 201 "" "260 characters are allowed"
unlock "$C/disks/de" "$(head -c 260 /dev/zero | tr '\0' n)"
lock "$C/disks/nosuch" l ReadOnly
expect 404 ResourceNotFound "a missing disk: 404 ResourceNotFound"
lock "$C/restorePointCollections/rpc/restorePoints/nosuch" l ReadOnly
expect 404 ResourceNotFound "a missing restore point"
check test "$(echo "$BODY" | jq -r .error.message | grep -c "Microsoft.Compute/restorePointCollections/rpc/restorePoints/nosuch")" = 1 "named as ARM names a child"
lock "$EAST/subscriptions/$SUB/resourceGroups/nosuch" l ReadOnly
expect 404 ResourceGroupNotFound "a missing group"
lock "$EAST/subscriptions/00000000-0000-0000-0000-000000000000" l ReadOnly
expect 404 SubscriptionNotFound "a missing subscription"
arm PUT "$C/disks/de/$L/l" '{"properties":{"level":"ReadOnly"}}'
expect 400 MissingApiVersionParameter "no api-version"
arm GET "$C/disks/de/$L/nosuch?$LV"
expect 404 LockNotFound "GET of a missing lock"
arm GET "$EAST/subscriptions/$SUB/$L?$LV&%24filter=name%20eq%20%27x%27"
expect 400 InvalidFilterInQueryString "an unsupported \$filter"
check test "$(store_dump eastus)" = "$before" "bad input changed nothing"

# ---- a region down: a group's lock, retried --------------------------------------
kill9_region westus
lock "$G" late CanNotDelete
expect 503 RegionUnavailable "westus down: the group's lock is set in eastus, the answer says westus missed it"
refused DELETE "$C/disks/de?$DV" "" delete "eastus holds it already"
restart_region westus
arm GET "$WEST$GID/$L/late?$LV"
expect 404 LockNotFound "westus missed it"
lock "$G" late CanNotDelete
expect 200 "" "the PUT retried: 200"
refused DELETE "$C/disks/dw?$DV" "" delete "and westus holds it now"
unlock "$G" late
arm DELETE "$G?$GV"
expect 202 "" "no lock left: the group is deleted"
finish
