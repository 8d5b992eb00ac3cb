#!/usr/bin/env bash
# kill -9 of vmrpd during a deployment, at several points (at once after the
# PUT is answered, and at growing delays into a serial chain of disks), and
# a SIGTERM mid-deployment (what the engine held freed: the sanitizer build's
# leak check), and a nested deployment cut short (the child settled first),
# then a restart: the deployment is never left Running (src/deploy/
# engine.c, invariant 4) and is consistent with its resources and
# operations — every disk that exists is the target of one of its
# operations (invariant 2), no operation is left Running, an operation
# that Succeeded names a resource that exists, and one that names a
# missing resource did not succeed.
. "$VMRP_SRC/tests/lib/harness.sh"
. "$VMRP_SRC/tests/lib/deploy.sh"
start_regions
# Every job (each disk's creation) waits 100 ms first, so a chain of 100 disks
# runs for 10 s at least: each kill below lands mid-deployment however fast
# the machine (a bare Empty disk takes 2-20 ms).
export VMRP_FAILPOINTS=jobs.run.delay_ms=100
kill9_region eastus
restart_region eastus
TOKEN=$(token "$EAST")
R=api-version=2021-04-01
TEMPLATE='{"properties": {"mode": "Incremental", "template": {'"$DEP_SCHEMA"', "resources": ['"$(dep_chain 100)"']}}}'

round=0
for delay in 0 0.2 0.5 1 2 term; do
  round=$((round + 1))
  rg=crash$round
  G=$EAST/subscriptions/$SUB/resourcegroups/$rg
  arm PUT "$G?$R" '{"location":"eastus"}'
  arm PUT "$G/providers/Microsoft.Resources/deployments/dep?$R" "$TEMPLATE"
  expect 201 "" "round $round: PUT a chain of 100 disks"
  if [ "$delay" = term ]; then # a clean stop mid-deployment: the engine frees what it holds (ASan's leak check)
    sleep 0.5
    pid=$(region_pid eastus)
    kill -TERM "$pid"
    for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  else
    sleep "$delay"
    kill9_region eastus
  fi
  restart_region eastus
  state=Running
  for _ in $(seq 300); do
    arm GET "$G/providers/Microsoft.Resources/deployments/dep?$R"
    state=$(echo "$BODY" | jq -r .properties.provisioningState)
    [ "$state" != Running ] && [ "$state" != Accepted ] && break
    sleep 0.1
  done
  check test "$state" = Failed "round $round (kill after ${delay}s): the deployment ends Failed, not Running"
  check test "$(echo "$BODY" | jq -r '.properties.error.details[0].code')" = DeploymentInterrupted "naming the restart"
  arm GET "$G/deployments/dep/operations?$R"
  ops=$BODY
  check test "$(echo "$ops" | jq '[.value[] | select(.properties.provisioningState == "Running")] | length')" = 0 \
    "round $round: no operation left Running"
  arm GET "$EAST/subscriptions/$SUB/resourceGroups/$rg/providers/Microsoft.Compute/disks?api-version=2024-03-02"
  disks=$(echo "$BODY" | jq -r '[.value[].name] | sort | join(" ")')
  named=$(echo "$ops" | jq -r '[.value[].properties.targetResource.resourceName] | sort | join(" ")')
  missing=""
  for d in $disks; do [[ " $named " == *" $d "* ]] || missing="$missing $d"; done
  check test -z "$missing" "round $round: every disk created is the target of an operation (${disks:-none})"
  wrong=""
  for row in $(echo "$ops" | jq -r '.value[].properties | "\(.targetResource.resourceName)=\(.provisioningState)"'); do
    d=${row%%=*}; s=${row#*=}
    exists=no; [[ " $disks " == *" $d "* ]] && exists=yes
    if [ "$s" = Succeeded ] && [ $exists = no ]; then wrong="$wrong $row(missing)"; fi
    if [ $exists = no ] && [ "$s" != Failed ]; then wrong="$wrong $row"; fi
  done
  check test -z "$wrong" "round $round: each operation agrees with its resource"
  arm PUT "$G/providers/Microsoft.Resources/deployments/dep?$R" \
    '{"properties": {"mode": "Incremental", "template": {'"$DEP_SCHEMA"', "resources": []}}}'
  expect 200 "" "round $round: the name can be deployed again"
done

# a nested deployment cut short: the child ends Failed first, then the parent's operation for it and the parent
G=$EAST/subscriptions/$SUB/resourcegroups/crashnest
arm PUT "$G?$R" '{"location":"eastus"}'
arm PUT "$G/providers/Microsoft.Resources/deployments/outer?$R" '{"properties": {"mode": "Incremental", "template": {'"$DEP_SCHEMA"', "resources": [
  {"type": "Microsoft.Resources/deployments", "apiVersion": "2021-04-01", "name": "inner",
   "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
     "template": {'"$DEP_SCHEMA"', "resources": ['"$(dep_chain 100)"']}}}]}}}'
expect 201 "" "a nested deployment of 100 disks"
sleep 0.5
kill9_region eastus
restart_region eastus
for d in outer inner; do
  for _ in $(seq 300); do
    arm GET "$G/providers/Microsoft.Resources/deployments/$d?$R"
    state=$(echo "$BODY" | jq -r .properties.provisioningState)
    [ "$state" != Running ] && break
    sleep 0.1
  done
  check test "$state" = Failed "the $d deployment ends Failed"
  arm GET "$G/deployments/$d/operations?$R"
  check test "$(echo "$BODY" | jq '[.value[] | select(.properties.provisioningState == "Running")] | length')" = 0 \
    "no operation of $d left Running"
done
arm GET "$G/deployments/outer/operations?$R"
check test "$(echo "$BODY" | jq -r '.value[0].properties | "\(.targetResource.resourceName) \(.provisioningState)"')" = "inner Failed" \
  "the parent's operation for the nested deployment says Failed"
finish
