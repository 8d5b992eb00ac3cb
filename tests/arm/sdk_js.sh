#!/usr/bin/env bash
# The official JS SDK (@azure/identity ClientSecretCredential +
# @azure/arm-resources) runs the resource-group flow in both regions.
. "$VMRP_SRC/tests/lib/harness.sh"
[ -d "$VMRP_SRC/tests/clients/node_modules/@azure/arm-resources" ] || { echo "npm packages missing (scripts/deps test)"; exit 1; }
start_regions
for region in eastus westus; do
  if NODE_EXTRA_CA_CERTS=$CA node "$VMRP_SRC/tests/clients/resource-groups.mjs" "$ENDPOINTS" $region; then
    ok "JS SDK resource-group flow in $region"
  else
    STATUS=; BODY=; fail "JS SDK resource-group flow in $region"
  fi
done
finish
