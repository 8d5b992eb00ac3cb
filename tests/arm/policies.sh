#!/usr/bin/env bash
# Microsoft.Vmrp/protectionPolicies, the resource (docs/policies.md "The
# policy resource"): PUT 201/200, GET, PATCH as a JSON merge patch, If-Match,
# lists of a group and a subscription over both regions, DELETE 200/204 (the
# policy's collections left alone); the caller kept as the policy's actor and
# the webhook secret kept apart, neither ever answered; a policy created in
# westus through eastus (forwarding) and one id never in two regions; the az
# CLI's generic resources, the JS SDK's and Debian's Python SDK's generic
# resources, and a template deployment of the type.  Bad input for every
# member — schedules, time zones, retention rules, durations, a VM of another
# subscription, of another region or missing, a copy to the policy's own
# region or an unknown one, a short secret, unknown members — each a 400
# naming the member, and GET after it shows the policy unchanged.
. "$VMRP_SRC/tests/lib/harness.sh"
. "$VMRP_SRC/tests/lib/az.sh"
command -v az >/dev/null || { echo "az CLI missing"; exit 1; }
second_subscription
start_regions
TOKEN=$(token "$EAST")
PV=api-version=2026-12-01
CV=api-version=2024-07-01
DV=api-version=2024-03-02
GV=api-version=2021-04-01
G=/subscriptions/$SUB/resourceGroups/pol
P=$G/providers/Microsoft.Vmrp/protectionPolicies
C=$G/providers/Microsoft.Compute
SECRET=0123456789abcdef-webhook-secret-0123456789

arm PUT "$EAST$G?$GV" '{"location":"eastus"}'
expect 201 "" "a resource group (both regions')"
vm() { # REGION NAME: a VM on an empty disk
  arm PUT "$EAST$C/disks/$2-os?$DV" '{"location":"'$1'","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
  wait_op 1200
  arm PUT "$EAST$C/virtualMachines/$2?$CV" '{"location":"'$1'","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},
    "storageProfile":{"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"'$C'/disks/'$2'-os"}}}}}'
  wait_op 1200
  check test "$OP_STATUS" = Succeeded "VM $2 in $1"
}
vm eastus vm1
vm eastus vm2
vm westus vmw
VM1=$C/virtualMachines/vm1

doc() { # LOCATION VM-ID [EXTRA-PROPERTIES]: a policy document
  echo '{"location":"'$1'","tags":{"team":"dr"},"properties":{"virtualMachines":["'$2'"],
  "schedules":["R/2099-12-07T02:00:00+01:00/PT4H",{"scheduleRunFrequency":"Weekly","scheduleRunTimes":["02:30"],"scheduleRunDays":["Sunday"]}],
  "timeZone":"Europe/Berlin","consistencyMode":"CrashConsistent","retention":{"keepLast":3,"keepDaily":7},
  "retentionLock":{"duration":"P7D","mode":"Governance"},"rpoTarget":"PT8H"'"${3:+,$3}"'}}'
}
COPY='"copies":[{"region":"westus","retention":{"keepDaily":30}}]'
HOOK='"notifications":{"webhooks":["https://hooks.example.com/vmrp"],"secret":"'$SECRET'"}'

# ---- create, read, replace ----
arm PUT "$EAST$P/p1?$PV" "$(doc eastus "$VM1" "$COPY,$HOOK")"
expect 201 "" "PUT of a policy: created"
check test "$(echo "$BODY" | jq -r '[.type, .location, .properties.provisioningState, .properties.notifications.secretSet] | join(",")')" \
  = "Microsoft.Vmrp/protectionPolicies,eastus,Succeeded,true" "its type, location, Succeeded, secretSet"
check bash -c "! grep -q -- '$SECRET' <<<'$BODY' && ! grep -q vmrpActor <<<'$BODY'" "the answer holds neither the secret nor the actor"
ETAG=$(header ETag)
check test -n "$ETAG" "an ETag"
ROW="SELECT extra FROM resources WHERE type = 'Microsoft.Vmrp/protectionPolicies' AND name = 'p1'"
check test "$(meta_sql eastus "$ROW" | jq -r .vmrpActor.appid)" = "$CLIENT_ID" "the caller is kept as the policy's actor (extra.vmrpActor)"
LID=$(echo "$G/providers/Microsoft.Vmrp/protectionPolicies/p1" | tr 'A-Z' 'a-z')
SECRET_ROW="SELECT $(meta_blob_text value) FROM secrets WHERE name = 'webhook:$LID'"
check test "$(meta_sql eastus "$SECRET_ROW")" = "$SECRET" "the secret is kept under webhook:<lower-case id>"
check test "$(meta_sql eastus "SELECT count(*) FROM resources WHERE properties LIKE '%$SECRET%'")" = 0 "and in no resource row"
arm GET "$EAST$P/p1?$PV"
expect 200 "" "GET"
check test "$(echo "$BODY" | jq -c '[.tags.team, .properties.retention, .properties.copies[0].region, .properties.timeZone, .properties.notifications]')" \
  = '["dr",{"keepLast":3,"keepDaily":7},"westus","Europe/Berlin",{"webhooks":["https://hooks.example.com/vmrp"],"secretSet":true}]' \
  "GET: the document as written, secretSet true, no secret"
arm PUT "$EAST$P/p1?$PV" "$(echo "$BODY" | jq -c '.properties.retention.keepLast = 5')"
expect 200 "" "PUT of the GET's answer, changed (read-only members and no secret): replaced, 200"
check test "$(echo "$BODY" | jq -r '[.properties.retention.keepLast, .properties.notifications.secretSet] | join(",")')" = 5,true \
  "the change is in, the stored secret kept"
EXTRA_CURL=(-H "If-Match: \"stale\"")
arm PUT "$EAST$P/p1?$PV" "$(doc eastus "$VM1")"
expect 412 PreconditionFailed "PUT with a stale If-Match: 412"
EXTRA_CURL=(-H "If-None-Match: *")
arm PUT "$EAST$P/p1?$PV" "$(doc eastus "$VM1")"
expect 412 PreconditionFailed "PUT with If-None-Match * of an existing policy: 412"
arm GET "$EAST$P/p1?$PV"
EXTRA_CURL=(-H "If-Match: $(header ETag)")
arm PATCH "$EAST$P/p1?$PV" '{"tags":{"tier":"gold"},"properties":{"retention":{"keepDaily":14,"keepLast":null},"spreadWindow":"PT5M"}}'
expect 200 "" "PATCH with the current ETag"
EXTRA_CURL=()
check test "$(echo "$BODY" | jq -c '[.tags, .properties.retention, .properties.spreadWindow, .properties.copies[0].region]')" \
  = '[{"tier":"gold"},{"keepDaily":14},"PT5M","westus"]' "PATCH merges: tags replaced, retention merged (null removes), the rest kept"
arm PATCH "$EAST$P/p1?$PV" '{"location":"westus"}'
expect 400 InvalidParameter "PATCH cannot move a policy"
arm PATCH "$EAST$P/nope?$PV" '{"tags":{}}'
expect 404 ResourceNotFound "PATCH of a missing policy: 404"

# ---- lists, forwarding, one id in one region ----
arm PUT "$EAST$P/pw?$PV" "$(doc westus "$C/virtualMachines/vmw" '"copies":[{"region":"eastus","retention":{"keepLast":2}}]')"
expect 201 "" "PUT through eastus of a westus policy (forwarded)"
check test "$(meta_sql westus "SELECT count(*) FROM resources WHERE name = 'pw'")/$(meta_sql eastus "SELECT count(*) FROM resources WHERE name = 'pw'")" \
  = 1/0 "it lives in westus only"
arm GET "$EAST$P/pw?$PV"
check test "$STATUS/$(echo "$BODY" | jq -r .location)" = 200/westus "GET of it through eastus"
arm PUT "$EAST$P/pw?$PV" "$(doc eastus "$VM1")"
expect 409 InvalidResourceLocation "the same id in eastus: refused, one id lives in one region"
arm PUT "$WEST$P/p1?$PV" "$(doc westus "$C/virtualMachines/vmw")"
expect 409 InvalidResourceLocation "and the eastus policy's id in westus, through westus"
arm GET "$EAST$P?$PV"
check test "$(echo "$BODY" | jq -r '[.value[].name] | sort | join(",")')" = p1,pw "the group's list through eastus: both regions'"
arm GET "$WEST/subscriptions/$SUB/providers/Microsoft.Vmrp/protectionPolicies?$PV"
check test "$(echo "$BODY" | jq -r '[.value[].name] | sort | join(",")')" = p1,pw "the subscription's list through westus: both regions'"
check bash -c "! grep -q -- '$SECRET' <<<'$BODY'" "no secret in a list"
arm GET "$EAST$G/resources?$GV&\$filter=resourceType%20eq%20'Microsoft.Vmrp/protectionPolicies'"
check test "$(echo "$BODY" | jq -r '[.value[].name] | sort | join(",")')" = p1,pw "the generic resource list of the type"

# ---- bad input: a 400 naming the member, and nothing changed ----
arm GET "$EAST$P/p1?$PV"
BEFORE=$(echo "$BODY" | jq -S -c .)
bad() { # MEMBER-PATH DESCRIPTION BODY (PUT of p1)
  arm PUT "$EAST$P/p1?$PV" "$3"
  local msg; msg=$(echo "$BODY" | jq -r .error.message 2>/dev/null)
  if [ "$STATUS" = 400 ] && [ "${msg#"$1"}" != "$msg" ]; then ok "$2: 400 '${msg:0:110}'"; else fail "$2 (want 400 starting '$1')"; fi
}
bad properties.schedules[0] "a schedule that is no ISO 8601 interval" "$(doc eastus "$VM1" | jq -c '.properties.schedules = ["R/tomorrow/PT4H"]')"
bad properties.schedules[0] "a schedule with a zero period" "$(doc eastus "$VM1" | jq -c '.properties.schedules = ["R/2026-12-07T00:00:00Z/PT0S"]')"
bad properties.schedules[1] "a weekly schedule on no day" "$(doc eastus "$VM1" | jq -c '.properties.schedules[1].scheduleRunDays = ["Caturday"]')"
bad properties.schedules[0] "daily run time 25:00" "$(doc eastus "$VM1" | jq -c '.properties.schedules = [{"scheduleRunFrequency":"Daily","scheduleRunTimes":["25:00"]}]')"
bad properties.schedules "no schedule" "$(doc eastus "$VM1" | jq -c '.properties.schedules = []')"
bad properties.schedules "nine schedules" "$(doc eastus "$VM1" | jq -c '.properties.schedules = [range(9) | "R/2026-12-07T00:00:00Z/PT4H"]')"
bad properties.timeZone "an unknown time zone" "$(doc eastus "$VM1" | jq -c '.properties.timeZone = "Mars/Olympus_Mons"')"
bad properties.timeZone "a zone name that is a path" "$(doc eastus "$VM1" | jq -c '.properties.timeZone = "../../etc/passwd"')"
bad properties.retention "no retention" "$(doc eastus "$VM1" | jq -c 'del(.properties.retention)')"
bad properties.retention "an empty retention" "$(doc eastus "$VM1" | jq -c '.properties.retention = {}')"
bad properties.retention "keepDaily 0" "$(doc eastus "$VM1" | jq -c '.properties.retention = {"keepDaily":0}')"
bad properties.retention "a misspelled rule" "$(doc eastus "$VM1" | jq -c '.properties.retention = {"keepDialy":3}')"
bad properties.retention "keepWithin that is no duration" "$(doc eastus "$VM1" | jq -c '.properties.retention = {"keepWithin":"7 days"}')"
bad properties.virtualMachines[0] "a VM of another subscription" "$(doc eastus "/subscriptions/$SUB_B/resourceGroups/pol/providers/Microsoft.Compute/virtualMachines/vm1")"
bad properties.virtualMachines[0] "a VM of another region" "$(doc eastus "$C/virtualMachines/vmw")"
check grep -q "region 'westus'" <<<"$BODY" "  (the message names the VM's region)"
bad properties.virtualMachines[0] "a VM that does not exist" "$(doc eastus "$C/virtualMachines/ghost")"
bad properties.virtualMachines[0] "a disk id as a VM" "$(doc eastus "$C/disks/vm1-os")"
bad properties.virtualMachines[1] "a VM twice" "$(doc eastus "$VM1" | jq -c --arg v "$VM1" '.properties.virtualMachines += [$v | ascii_upcase]')"
bad properties.virtualMachines "no VMs and no tag selector" "$(doc eastus "$VM1" | jq -c '.properties.virtualMachines = []')"
bad properties.excludeDisks[0] "an excluded disk that is no disk id" "$(doc eastus "$VM1" | jq -c '.properties.excludeDisks = ["vm1-os"]')"
bad properties.copies[0].region "a copy to the policy's own region" "$(doc eastus "$VM1" '"copies":[{"region":"East US","retention":{"keepLast":1}}]')"
bad properties.copies[0].region "a copy to an unknown region" "$(doc eastus "$VM1" '"copies":[{"region":"mars","retention":{"keepLast":1}}]')"
bad properties.copies[0].retention "a copy without retention" "$(doc eastus "$VM1" '"copies":[{"region":"westus"}]')"
bad properties.copies[1].region "two copies to one region" "$(doc eastus "$VM1" '"copies":[{"region":"westus","retention":{"keepLast":1}},{"region":"West US","retention":{"keepLast":1}}]')"
bad properties.copies "five copies" "$(doc eastus "$VM1" | jq -c '.properties.copies = [range(5) | {"region":"westus","retention":{"keepLast":1}}]')"
bad properties.notifications.secret "a short secret" "$(doc eastus "$VM1" '"notifications":{"webhooks":["https://h.example.com/x"],"secret":"short"}')"
bad properties.notifications.webhooks[0] "an http:// webhook" "$(doc eastus "$VM1" '"notifications":{"webhooks":["http://h.example.com/x"],"secret":"'$SECRET'"}')"
bad properties.notifications.webhooks "no webhook" "$(doc eastus "$VM1" '"notifications":{"webhooks":[],"secret":"'$SECRET'"}')"
bad properties.retentionLock.mode "an unknown lock mode" "$(doc eastus "$VM1" | jq -c '.properties.retentionLock.mode = "Forever"')"
bad properties.retentionLock.duration "a lock duration that is no duration" "$(doc eastus "$VM1" | jq -c '.properties.retentionLock.duration = "7d"')"
bad properties.spreadWindow "a spread window as long as the period" "$(doc eastus "$VM1" '"spreadWindow":"PT4H"')"
bad properties.rpoTarget "an RPO target of zero" "$(doc eastus "$VM1" | jq -c '.properties.rpoTarget = "PT0S"')"
bad properties.consistencyMode "an unknown consistency mode" "$(doc eastus "$VM1" | jq -c '.properties.consistencyMode = "Fuzzy"')"
bad properties.retension "an unknown member" "$(doc eastus "$VM1" '"retension":{"keepLast":1}')"
bad properties.copies[0].keep "an unknown member of a copy" "$(doc eastus "$VM1" '"copies":[{"region":"westus","retention":{"keepLast":1},"keep":1}]')"
bad properties.vmTagSelector.env "a tag selector value that is no string" "$(doc eastus "$VM1" '"vmTagSelector":{"env":1}')"
bad properties "no properties" '{"location":"eastus"}'
arm PUT "$EAST$P/p1?$PV" '{"properties":{}}'
expect 400 LocationRequired "no location"
arm PUT "$EAST$P/p1?$PV" "$(doc eastus "$VM1" | jq -c '.location = "mars"')"
expect 400 LocationNotAvailableForResourceType "an unknown location"
arm PUT "$EAST$P/bad.?$PV" "$(doc eastus "$VM1")"
expect 400 InvalidResourceName "a name ending in '.'"
arm PATCH "$EAST$P/p1?$PV" '{"properties":{"timeZone":"Nowhere/Land"}}'
expect 400 InvalidParameter "PATCH to an unknown zone"
arm GET "$EAST$P/p1?$PV"
check test "$(echo "$BODY" | jq -S -c .)" = "$BEFORE" "after every refusal GET shows the policy unchanged"
check test "$(meta_sql eastus "$SECRET_ROW")" = "$SECRET" "and its secret too"

# ---- the clients' generic resources ----
if env REQUESTS_CA_BUNDLE="$CA" /usr/bin/python3 "$VMRP_SRC/tests/lib/policies.py" "$ENDPOINTS" eastus pol "$VM1" >"$VAR/py.out" 2>&1; then
  ok "Python SDK generic resources ($(grep -c '^ok' "$VAR/py.out") steps)"
else
  STATUS=; BODY=$(tail -n 20 "$VAR/py.out"); fail "Python SDK generic resources"
fi
if NODE_EXTRA_CA_CERTS=$CA node "$VMRP_SRC/tests/clients/policies.mjs" "$ENDPOINTS" eastus pol "$VM1" >"$VAR/js.out" 2>&1; then
  ok "JS SDK generic resources ($(grep -c '^ok' "$VAR/js.out") steps)"
else
  STATUS=; BODY=$(tail -n 20 "$VAR/js.out"); fail "JS SDK generic resources"
fi
az_login "$EAST"
jq -c '.properties' <<<"$(doc eastus "$C/virtualMachines/vm2" "$HOOK")" >"$VAR/az-props.json"
got=$(az resource create -g pol -n paz --resource-type Microsoft.Vmrp/protectionPolicies -l eastus \
      --properties "@$VAR/az-props.json" --query properties.provisioningState -o tsv 2>"$VAR/az.err") || cat "$VAR/az.err"
check test "$got" = Succeeded "az resource create (api-version from the provider's metadata)"
got=$(az resource show -g pol -n paz --resource-type Microsoft.Vmrp/protectionPolicies --query properties.notifications.secretSet -o tsv 2>"$VAR/az.err") || cat "$VAR/az.err"
check test "$got" = true "az resource show"
got=$(az resource list -g pol --resource-type Microsoft.Vmrp/protectionPolicies --query '[].name' -o tsv 2>"$VAR/az.err" | sort | tr '\n' ,) || cat "$VAR/az.err"
check test "$got" = p1,paz,pw, "az resource list"
check az resource delete -g pol -n paz --resource-type Microsoft.Vmrp/protectionPolicies "az resource delete"
got=$(az deployment group create -g pol -n pdepaz --template-file "$VMRP_SRC/tests/templates/protection-policy.json" \
      --parameters policyName=ptaz vmName=vm2 copyRegion=westus webhookUrl=https://hooks.example.com/az webhookSecret="$SECRET" \
      --query properties.provisioningState -o tsv 2>"$VAR/az.err") || cat "$VAR/az.err"
check test "$got" = Succeeded "az deployment group create of the template (docs/policies.md's command)"
arm GET "$EAST$P/ptaz?$PV"
check test "$STATUS/$(echo "$BODY" | jq -r .properties.notifications.secretSet)" = 200/true "the policy it deployed"

# ---- a template deployment of the type ----
T=$(jq -c '{properties: {mode: "Incremental", template: ., parameters: {policyName: {value: "ptpl"}, vmName: {value: "vm2"},
  copyRegion: {value: "westus"}, webhookUrl: {value: "https://hooks.example.com/tpl"}, webhookSecret: {value: "'$SECRET'"}}}}' \
  "$VMRP_SRC/tests/templates/protection-policy.json")
arm PUT "$EAST$G/providers/Microsoft.Resources/deployments/pdep?$GV" "$T"
expect 201 "" "a template deployment of a policy"
for _ in $(seq 300); do
  arm GET "$EAST$G/providers/Microsoft.Resources/deployments/pdep?$GV"
  [ "$(echo "$BODY" | jq -r .properties.provisioningState)" != Running ] && break; sleep 0.1
done
check test "$(echo "$BODY" | jq -r '[.properties.provisioningState, .properties.outputs.secretSet.value] | join(",")')" = Succeeded,true \
  "it succeeds; reference() of the policy says secretSet"
check bash -c "! grep -q -- '$SECRET' <<<'$BODY'" "the deployment does not show the secret"
arm GET "$EAST$G/providers/Microsoft.Resources/deployments/pdep/operations?$GV"
check bash -c "[ '$STATUS' = 200 ] && ! grep -q -- '$SECRET' <<<'$BODY'" "nor do its operations"
arm GET "$EAST$P/ptpl?$PV"
check test "$(echo "$BODY" | jq -r '[.tags.createdBy, .properties.copies[0].region, .properties.retention.keepWeekly] | join(",")')" = template,westus,4 \
  "the deployed policy"

# ---- the actions: instanceView, previewRetention ----
arm GET "$EAST$P/p1/instanceView?$PV"
check test "$STATUS/$(echo "$BODY" | jq -r '.virtualMachines[0].vmId' | tr 'A-Z' 'a-z')" = "200/$(echo "$VM1" | tr 'A-Z' 'a-z')" \
  "GET instanceView: the policy's VM"
arm GET "$EAST$P/pw/instanceView?$PV"
expect 200 "" "GET instanceView of the westus policy through eastus"
arm GET "$EAST$P/nope/instanceView?$PV"
expect 404 ResourceNotFound "instanceView of a missing policy: 404"
# restore points named after slots of p1 (retention {keepDaily: 14} since the PATCH), and one by hand
arm PUT "$EAST$C/restorePointCollections/pp-p1-vm1?$CV" '{"location":"eastus","tags":{"vmrp-policy":"'$G'/providers/Microsoft.Vmrp/protectionPolicies/p1"},"properties":{"source":{"id":"'$VM1'"}}}'
expect 201 "" "a collection of the policy's (tagged vmrp-policy)"
for rp in 20261201T010000Z 20261202T010000Z 20261202T050000Z byhand; do
  arm PUT "$EAST$C/restorePointCollections/pp-p1-vm1/restorePoints/$rp?$CV" '{}'
  wait_op 1200
done
check test "$OP_STATUS" = Succeeded "four restore points in it"
arm POST "$EAST$P/p1/previewRetention?$PV"
expect 200 "" "POST previewRetention"
check test "$(echo "$BODY" | jq -c '.regions.eastus | [([.keep[].id | split("/") | last] | sort), [.remove[].id | split("/") | last], [.skipped[] | (.id | split("/") | last) + ":" + .reason]]')" \
  = '[["20261201T010000Z","20261202T050000Z"],["20261202T010000Z"],["byhand:not a slot of the policy"]]' \
  "keepDaily 14: the newest of each day kept, the other removed, the one made by hand skipped"
check test "$(echo "$BODY" | jq -r '[.regions.eastus.keep[] | select(.id | endswith("20261202T050000Z")) | .reasons] | join("")' | grep -c "daily")" = 1 \
  "and each survivor says why (restic's words)"
check test "$(echo "$BODY" | jq -r '.regions | keys | join(",")')" = eastus,westus "a plan per region: the policy's and its copy region"
arm POST "$WEST$P/p1/previewRetention?$PV"
check test "$STATUS/$(echo "$BODY" | jq '.regions.eastus.remove | length')" = 200/1 "the same through westus (forwarded)"
arm GET "$EAST$C/restorePointCollections/pp-p1-vm1/restorePoints/20261202T010000Z?$CV"
expect 200 "" "a preview deletes nothing"

# ---- DELETE leaves the policy's restore points alone ----
arm DELETE "$EAST$P/p1?$PV"
expect 200 "" "DELETE"
arm GET "$EAST$P/p1?$PV"
expect 404 ResourceNotFound "GET after it: 404"
arm DELETE "$EAST$P/p1?$PV"
expect 204 "" "DELETE again: 204"
check test "$(meta_sql eastus "$SECRET_ROW" | wc -c)" = 0 "its secret is gone"
arm GET "$EAST$C/restorePointCollections/pp-p1-vm1?\$expand=restorePoints&$CV"
check test "$STATUS/$(echo "$BODY" | jq '.properties.restorePoints | length')" = 200/4 "its collection and restore points are left alone"
arm DELETE "$EAST$P/pw?$PV"
expect 200 "" "DELETE of the westus policy through eastus"

# ---- a group deleted takes its policies and their secrets ----
G2=/subscriptions/$SUB/resourceGroups/pol2
arm PUT "$EAST$G2?$GV" '{"location":"eastus"}'
arm PUT "$EAST$G2/providers/Microsoft.Vmrp/protectionPolicies/pg?$PV" "$(doc eastus "$VM1" "$HOOK")"
expect 201 "" "a policy in another group (protecting vm1 of group pol)"
arm DELETE "$EAST$G2?$GV"
expect 202 "" "DELETE of that group"
for _ in $(seq 300); do arm GET "$EAST$G2?$GV"; [ "$STATUS" = 404 ] && break; sleep 0.1; done
check test "$(meta_sql eastus "SELECT count(*) FROM secrets WHERE name LIKE 'webhook:%/pol2/%'")/$(meta_sql eastus "SELECT count(*) FROM resources WHERE id LIKE '%/pol2/%'")" \
  = 0/0 "the group's policy and its secret are gone with it"
finish
