#!/usr/bin/env bash
# Template deployments as a hostile tenant: alice, Contributor of
# subscription A with no role on B, writes templates that reach into B —
# a nested deployment into B's resource group (resourceGroup and
# subscriptionId members), one at subscription scope that would create a
# resource group in B, reference() of B's disk in an output, resourceId()
# of B's disk as a copy source — run, validated and asked what-if.  Each
# fails with AuthorizationFailed / LinkedAuthorizationFailed as the caller's
# own requests would, before B is read: nothing appears in B (no resource,
# no resource group, no deployment in B's history) and nothing of B (its
# resource group's tags, its disk's properties) appears in A's deployments,
# operations or what-if.  Control: carol, Contributor of both, runs the same
# nested deployment into B.  And a caller whose role goes while their
# deployment waits for a resource: the deployment ends Failed.
. "$VMRP_SRC/tests/lib/harness.sh"
. "$VMRP_SRC/tests/lib/deploy.sh"
second_subscription
start_regions
R=api-version=2021-04-01
DV=api-version=2024-03-02
SCHEMA=$DEP_SCHEMA
SUBSCHEMA='"$schema": "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#", "contentVersion": "1.0.0.0"'
read -r BOB_ID BOB_SEC <<<"$(principal bob "$SUB_B" Owner)"
read -r ALICE_ID ALICE_SEC <<<"$(principal alice "$SUB" Contributor)"
read -r CAROL_ID CAROL_SEC <<<"$(principal carol "$SUB" Contributor)"
role "$CAROL_ID" "$SUB_B" Contributor
BOB=$(token "$EAST" "$BOB_ID" "$BOB_SEC")
ALICE=$(token "$EAST" "$ALICE_ID" "$ALICE_SEC")
CAROL=$(token "$EAST" "$CAROL_ID" "$CAROL_SEC")
B=/subscriptions/$SUB_B/resourceGroups/brg
PRIVATE=bob-private-Qx7
TOKEN=$BOB
arm PUT "$EAST/subscriptions/$SUB_B/resourcegroups/brg?$R" '{"location":"eastus","tags":{"t":"'$PRIVATE'-rg"}}'
expect 201 "" "bob's resource group in B"
arm PUT "$EAST$B/providers/Microsoft.Compute/disks/bdisk?$DV" '{"location":"eastus","tags":{"t":"'$PRIVATE'-disk"},"properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
wait_op
b_state() { sqlite3 "$VAR/eastus/meta.db" "SELECT id FROM resources WHERE id LIKE '/subscriptions/$SUB_B/%' ORDER BY id; SELECT id FROM deployments WHERE id LIKE '/subscriptions/$SUB_B/%'"; }
BEFORE=$(b_state)
TOKEN=$ALICE
arm PUT "$EAST/subscriptions/$SUB/resourcegroups/arg?$R" '{"location":"eastus"}'
expect 201 "" "alice's resource group in A"
X=$EAST/subscriptions/$SUB/resourceGroups/arg/providers/Microsoft.Resources/deployments
OPS=$EAST/subscriptions/$SUB/resourceGroups/arg/deployments

# run NAME BODY: PUT, wait; $BODY is the deployment afterwards
run() {
  arm PUT "$X/$1?$R" "$2"
  expect 201 "" "$1: accepted"
  wait_dep "$(header Azure-AsyncOperation)"
  arm GET "$X/$1?$R"
}
seen_b() { # NAME: nothing of B's private values in $BODY (A's deployment NAME) nor in its operations
  local all; all=$BODY
  arm GET "$OPS/$1/operations?$R"; all="$all $BODY"
  [[ "$all" != *"$PRIVATE"* ]]
}

# ---- a nested deployment into B's resource group
NESTED='{"type": "Microsoft.Resources/deployments", "apiVersion": "2021-04-01", "name": "intoB", "subscriptionId": "'$SUB_B'", "resourceGroup": "brg",
  "properties": {"mode": "Incremental", "template": {'"$SCHEMA"', "resources": ['"$(dep_disk evil)"'],
    "outputs": {"tags": {"type": "object", "value": "[resourceGroup().tags]"}}}}}'
NEST_BODY='{"properties": {"mode": "Incremental", "template": {'"$SCHEMA"', "resources": ['"$NESTED"']}}}'
run iso1 "$NEST_BODY"
check test "$(echo "$BODY" | jq -r .properties.provisioningState)" = Failed "a nested deployment into B fails"
check test "$(echo "$BODY" | jq -r '.properties.error.details[0].code')" = AuthorizationFailed "with AuthorizationFailed"
has() { [[ "$1" == *"$2"* ]]; }
check has "$(echo "$BODY" | jq -r '.properties.error.details[0].message')" \
  "perform action 'Microsoft.Resources/deployments/write' over scope '$B' " "naming deployments/write over B's resource group"
check seen_b iso1 "nothing of B (its resource group's tags) in the deployment or its operations"
arm GET "$OPS/iso1/operations?$R"
check test "$(echo "$BODY" | jq -r '.value[0].properties.statusCode')" = Forbidden "the nested deployment's operation: Forbidden"
check test "$(b_state)" = "$BEFORE" "nothing created in B: no disk, no deployment in B's history"

arm POST "$X/iso1w/whatIf?$R" "$NEST_BODY"
expect 202 "" "what-if of the nested deployment into B"
LOC=$(header Location)
for _ in $(seq 100); do arm GET "$LOC"; [ "$STATUS" = 200 ] && break; sleep 0.1; done
check test "$(echo "$BODY" | jq -r '.properties.changes[] | select(.resourceId | endswith("/deployments/intoB")) | .changeType')" = Unsupported \
  "what-if: the nested deployment into B is Unsupported"
check has "$(echo "$BODY" | jq -r '.properties.changes[0].unsupportedReason')" "does not have authorization" "for want of authorization"
check test "$(echo "$BODY" | grep -c -e "$PRIVATE" -e /disks/evil)" = 0 "and shows nothing in B"

# ---- at subscription scope: a resource group in B
XS=$EAST/subscriptions/$SUB/providers/Microsoft.Resources/deployments
arm PUT "$XS/iso2?$R" '{"location": "eastus", "properties": {"mode": "Incremental", "template": {'"$SUBSCHEMA"', "resources": [
  {"type": "Microsoft.Resources/deployments", "apiVersion": "2021-04-01", "name": "subB", "subscriptionId": "'$SUB_B'", "location": "eastus",
   "properties": {"mode": "Incremental", "template": {'"$SUBSCHEMA"', "resources": [
     {"type": "Microsoft.Resources/resourceGroups", "apiVersion": "2021-04-01", "name": "evilrg", "location": "eastus"}]}}}]}}}'
expect 201 "" "iso2 (subscription scope): accepted"
wait_dep "$(header Azure-AsyncOperation)"
check test "$DEP_STATUS" = Failed "a nested deployment at B's subscription scope fails"
arm GET "$XS/iso2?$R"
check test "$(echo "$BODY" | jq -r '.properties.error.details[0].code')" = AuthorizationFailed "with AuthorizationFailed"
check test "$(b_state)" = "$BEFORE" "no resource group created in B"

# ---- reference() of B's disk; resourceId() of it as a copy source
run iso3 '{"properties": {"mode": "Incremental", "template": {'"$SCHEMA"', "resources": [],
  "outputs": {"o": {"type": "object", "value": "[reference(concat(\u0027'$B'\u0027, \u0027/providers/Microsoft.Compute/disks/bdisk\u0027), \u00272024-03-02\u0027, \u0027Full\u0027)]"}}}}}'
check test "$(echo "$BODY" | jq -r .properties.provisioningState)" = Failed "reference() of B's disk fails"
check seen_b iso3 "and reads nothing of it"
run iso4 '{"properties": {"mode": "Incremental", "template": {'"$SCHEMA"', "resources": [
  {"type": "Microsoft.Compute/disks", "apiVersion": "2020-12-01", "name": "copyb", "location": "eastus",
   "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": "[resourceId(\u0027'$SUB_B'\u0027, \u0027brg\u0027, \u0027Microsoft.Compute/disks\u0027, \u0027bdisk\u0027)]"}}}]}}}'
check test "$(echo "$BODY" | jq -r '.properties.error.details[0].code')" = LinkedAuthorizationFailed \
  "a copy of B's disk named by resourceId(): LinkedAuthorizationFailed"
arm GET "$EAST/subscriptions/$SUB/resourceGroups/arg/providers/Microsoft.Compute/disks/copyb?$DV"
expect 404 "" "no copy made"
arm PUT "$EAST$B/providers/Microsoft.Resources/deployments/direct?$R" "$NEST_BODY"
expect 403 AuthorizationFailed "a deployment PUT straight into B"
check test "$(b_state)" = "$BEFORE" "B unchanged after all of alice's attempts"

# ---- control: carol, Contributor of both
TOKEN=$CAROL
run ok1 "$NEST_BODY"
check test "$(echo "$BODY" | jq -r .properties.provisioningState)" = Succeeded "carol's nested deployment into B succeeds"
TOKEN=$BOB
arm GET "$EAST$B/providers/Microsoft.Compute/disks/evil?$DV"
expect 200 "" "its disk is in B"
arm GET "$EAST$B/providers/Microsoft.Resources/deployments/intoB?$R"
check test "$(echo "$BODY" | jq -r .properties.outputs.tags.value.t)" = "$PRIVATE-rg" "and it saw B's resource group"

# ---- a caller who loses their role while their deployment waits for a resource: it ends Failed (it polled for
# ever); each job is slowed down so that the role goes while the disk is still being created
kill9_region eastus
VMRP_FAILPOINTS=jobs.run.delay_ms=20000 restart_region eastus
TOKEN=$(token "$EAST" "$ALICE_ID" "$ALICE_SEC")
arm PUT "$X/revoked?$R" '{"properties": {"mode": "Incremental", "template": {'"$SCHEMA"', "resources": ['"$(dep_disk slow)"', '"$(dep_disk after slow)"']}}}'
expect 201 "" "alice's deployment of a slow disk"
AAO=$(header Azure-AsyncOperation)
for _ in $(seq 200); do
  arm GET "$EAST/subscriptions/$SUB/resourceGroups/arg/providers/Microsoft.Compute/disks/slow?$DV"
  [ "$STATUS" = 200 ] && break
  sleep 0.1
done
check test "$(echo "$BODY" | jq -r .properties.provisioningState)" != Succeeded "the disk is still being made"
role "$ALICE_ID" "$SUB" none
TOKEN=$(token "$EAST")
wait_dep "$AAO"
check test "$DEP_STATUS" = Failed "the deployment ends Failed once its caller has no role"
arm GET "$OPS/revoked/operations?$R"
check test "$(echo "$BODY" | jq -r '[.value[].properties.statusMessage.error.details[0].code] | join(",")')" = AuthorizationFailed \
  "its operation: the GET refused (AuthorizationFailed); the next disk never requested"
finish
