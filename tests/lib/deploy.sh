# deploy.sh — helpers of the template deployment tests: source it after
# harness.sh.

# the head of a resource-group-scope template
DEP_SCHEMA='"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0"'

# dep_disk NAME [DEPENDS-ON-NAME]: a 1 GiB empty disk resource of a template
dep_disk() {
  local dep=""
  [ -n "${2:-}" ] && dep=", \"dependsOn\": [\"Microsoft.Compute/disks/$2\"]"
  echo "{\"type\": \"Microsoft.Compute/disks\", \"apiVersion\": \"2020-12-01\", \"name\": \"$1\", \"location\": \"[resourceGroup().location]\", \"properties\": {\"creationData\": {\"createOption\": \"Empty\"}, \"diskSizeGB\": 1}$dep}"
}

# dep_chain N: N disks c0..c(N-1), each depending on the one before
dep_chain() {
  local chain i
  chain=$(dep_disk c0)
  for i in $(seq 1 $(($1 - 1))); do chain="$chain, $(dep_disk "c$i" "c$((i - 1))")"; done
  echo "$chain"
}

# wait_dep URL: polls a deployment's status URL every 0.1 s until it is no
# longer Running; sets DEP_STATUS (and $BODY, the last answer)
wait_dep() {
  for _ in $(seq 600); do
    arm GET "$1"
    [ "$(echo "$BODY" | jq -r .status)" != Running ] && break
    sleep 0.1
  done
  DEP_STATUS=$(echo "$BODY" | jq -r .status)
}
