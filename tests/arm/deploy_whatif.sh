#!/usr/bin/env bash
# POST {deployment}/whatIf: 202 + Location, then the change list — Create for
# an absent resource, NoChange when the template sets what the resource
# has (a numeric string equal to its number included), Modify with the
# property-level delta, Ignore / Delete (Complete mode) for the group's
# other resources, ResourceIdOnly; nested deployments expanded; template
# errors refused as validate refuses them; nothing is created or changed;
# a secure parameter's value masked.
# Then the az CLI's `deployment group what-if` renders it and
# `create --what-if` stops before any PUT.
. "$VMRP_SRC/tests/lib/harness.sh"
. "$VMRP_SRC/tests/lib/az.sh"
. "$VMRP_SRC/tests/lib/deploy.sh"
command -v az >/dev/null || { echo "az CLI missing"; exit 1; }
start_regions
TOKEN=$(token "$EAST")
R=api-version=2021-04-01
G=$EAST/subscriptions/$SUB/resourcegroups
X=$G/wirg/providers/Microsoft.Resources/deployments
DISKS=/subscriptions/$SUB/resourceGroups/wirg/providers/Microsoft.Compute/disks
DV=api-version=2024-03-02
arm PUT "$G/wirg?$R" '{"location":"eastus"}'
expect 201 "" "resource group"
for d in same grow other; do
  arm PUT "$EAST$DISKS/$d?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
  wait_op
  check test "$OP_STATUS" = Succeeded "disk $d"
done

# whatif BODY: POSTs it, follows Location; sets $BODY to the result
whatif() {
  arm POST "$X/wi/whatIf?$R" "$1"
  expect 202 "" "whatIf answers 202"
  local loc
  loc=$(header Location)
  check test -n "$loc" "with a Location"
  arm GET "$loc"
  expect 200 "" "the Location answers the result"
}
change() { echo "$BODY" | jq -r --arg id "$DISKS/$1" '.properties.changes[] | select(.resourceId == $id) | .changeType'; }
disk() { # disk NAME SIZE
  echo "{\"type\": \"Microsoft.Compute/disks\", \"apiVersion\": \"2020-12-01\", \"name\": \"$1\", \"location\": \"eastus\", \"properties\": {\"creationData\": {\"createOption\": \"Empty\"}, \"diskSizeGB\": $2}}"
}
TPL="{$DEP_SCHEMA, \"resources\": [$(disk same '"1"'), $(disk grow 2), $(disk new 1)]}"
whatif "{\"properties\": {\"mode\": \"Incremental\", template: $TPL}}"
check test "$(echo "$BODY" | jq -r .status)" = Succeeded "status Succeeded"
check test "$(change new)" = Create "an absent disk: Create"
check test "$(echo "$BODY" | jq -r --arg id "$DISKS/new" '.properties.changes[] | select(.resourceId == $id) | .after.properties.diskSizeGB')" = 1 \
  "Create shows the resource it would make"
check test "$(change same)" = NoChange "\"1\" where the disk has 1: NoChange"
check test "$(change grow)" = Modify "a larger size: Modify"
check test "$(echo "$BODY" | jq -c --arg id "$DISKS/grow" '.properties.changes[] | select(.resourceId == $id) | .delta')" = \
  '[{"path":"properties.diskSizeGB","propertyChangeType":"Modify","before":1,"after":2}]' "its delta names the property, before and after"
check test "$(change other)" = Ignore "a disk the template does not name: Ignore (Incremental)"
arm GET "$EAST$DISKS/new?$DV"
expect 404 "" "what-if created nothing"
arm GET "$EAST$DISKS/grow?$DV"
check test "$(echo "$BODY" | jq -r .properties.diskSizeGB)" = 1 "and changed nothing"

whatif "{\"properties\": {\"mode\": \"Complete\", template: $TPL}}"
check test "$(change other)" = Delete "Complete mode: Delete"
whatif "{\"properties\": {\"mode\": \"Incremental\", \"whatIfSettings\": {\"resultFormat\": \"ResourceIdOnly\"}, template: $TPL}}"
check test "$(echo "$BODY" | jq -c --arg id "$DISKS/grow" '.properties.changes[] | select(.resourceId == $id)')" = \
  "{\"resourceId\":\"$DISKS/grow\",\"changeType\":\"Modify\"}" "ResourceIdOnly: id and change type only"

# a nested deployment's resources are listed as its own
NESTED="{$DEP_SCHEMA, \"resources\": [{\"type\": \"Microsoft.Resources/deployments\", \"apiVersion\": \"2021-04-01\", \"name\": \"inner\",
  \"properties\": {\"mode\": \"Incremental\", \"template\": {$DEP_SCHEMA, \"resources\": [$(disk nested 1)]}}}]}"
whatif "{\"properties\": {\"mode\": \"Incremental\", template: $NESTED}}"
check test "$(change nested)" = Create "a nested template's disk: Create"

# bad input: refused as validate refuses it, nothing recorded
arm POST "$X/wi/whatIf?$R" "{\"properties\": {\"mode\": \"Incremental\", template: {$DEP_SCHEMA, \"resources\": [{\"type\": \"Microsoft.Compute/disks\", \"apiVersion\": \"2020-12-01\", \"name\": \"[nosuch()]\"}]}}}"
expect 400 InvalidTemplate "an unknown function"
arm POST "$X/wi/whatIf?$R" '{"properties": {"mode": "Incremental", template: {'
expect 400 InvalidRequestContent "a body cut short"
arm GET "$X/wi?$R"
expect 404 DeploymentNotFound "what-if records no deployment"
arm POST "$EAST/subscriptions/$SUB/resourcegroups/nosuchrg/providers/Microsoft.Resources/deployments/wi/whatIf?$R" \
  "{\"properties\": {\"mode\": \"Incremental\", template: $TPL}}"
expect 404 ResourceGroupNotFound "a missing resource group"
OWNER_TOKEN=$TOKEN
# a secure parameter in a body: '***' in the change list, nowhere in what is stored
PW=Wi-s3cure-Zq8
whatif "{\"properties\": {\"mode\": \"Incremental\", \"parameters\": {\"pw\": {\"value\": \"$PW\"}}, template: {$DEP_SCHEMA,
  \"parameters\": {\"pw\": {\"type\": \"securestring\"}}, \"resources\": [{\"type\": \"Microsoft.Compute/disks\", \"apiVersion\": \"2020-12-01\",
  \"name\": \"sec\", \"location\": \"eastus\", \"tags\": {\"pw\": \"[concat('was ', parameters('pw'))]\"},
  \"properties\": {\"creationData\": {\"createOption\": \"Empty\"}, \"diskSizeGB\": 1}}]}}}"
check test "$(echo "$BODY" | jq -r --arg id "$DISKS/sec" '.properties.changes[] | select(.resourceId == $id) | .after.tags.pw')" = 'was ***' \
  "a secure parameter's value is masked in the change list"
check test "$(sqlite3 "$VAR/eastus/meta.db" .dump | grep -c -- "$PW")" = 0 "and is not in the database"

reader=$("$VMRPD" sp create -c "$EAST_CONF" --name wireader --role Reader)
TOKEN=$(token "$EAST" "$(echo "$reader" | jq -r .clientId)" "$(echo "$reader" | jq -r .clientSecret)")
arm POST "$X/wi/whatIf?$R" "{\"properties\": {\"mode\": \"Incremental\", template: $TPL}}"
expect 403 AuthorizationFailed "a Reader may not ask what a deployment would change"
TOKEN=$OWNER_TOKEN

# the az CLI: what-if renders the change list; create --what-if deploys nothing
az_login "$EAST"
echo "$TPL" > "$VAR/t.json"
OUT=$(az deployment group what-if -g wirg -n azwi --template-file "$VAR/t.json" 2>&1)
check test $? = 0 "az deployment group what-if"
check grep -q "+ Microsoft.Compute/disks/new" <<< "$OUT" "az shows the Create"
check grep -q "~ Microsoft.Compute/disks/grow" <<< "$OUT" "az shows the Modify"
check grep -q "properties.diskSizeGB: *1 => 2" <<< "$OUT" "az shows the property change"
check grep -q "1 to create, 1 to modify" <<< "$OUT" "az counts the changes"
check bash -c "az deployment group create -g wirg -n azwi --template-file '$VAR/t.json' --what-if >/dev/null 2>&1" \
  "az deployment group create --what-if"
arm GET "$EAST$DISKS/new?$DV"
expect 404 "" "create --what-if created nothing"
finish
