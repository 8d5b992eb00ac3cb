#!/usr/bin/env bash
# Azure's documented restore point steps as template deployments through the
# official SDKs, Microsoft's sample templates unchanged
# (tests/templates/seed/), each SDK in a resource group of its own with the
# same source VM: @azure/arm-resourcesdeployments 2.0.0
# (tests/clients/deployments.mjs) and Debian's azure-mgmt-resource 22.0.0
# (tests/lib/deployments.py, /usr/bin/python3) — validate, what-if, create,
# get, list, operations, export, delete; the disks each restores equal their
# disk restore points byte for byte over NBD.  Then the subscription scope
# with the az CLI: `az deployment sub create -l eastus` of a template that
# makes a resource group and a nested deployment into it creating a restore
# point collection (tests/templates/subscription-group-collection.json),
# checked with `show`, `list`, `operation sub list` and GETs.
. "$VMRP_SRC/tests/lib/harness.sh"
. "$VMRP_SRC/tests/lib/az.sh"
. "$VMRP_SRC/tests/lib/templates.sh"
command -v az >/dev/null || { echo "az CLI missing"; exit 1; }
command -v qemu-img >/dev/null && command -v qemu-io >/dev/null || { echo "qemu-utils missing"; exit 1; }
[ -d "$VMRP_SRC/tests/clients/node_modules/@azure/arm-resourcesdeployments" ] || { echo "npm packages missing (scripts/deps test)"; exit 1; }
/usr/bin/python3 -c 'import azure.mgmt.resource, azure.mgmt.compute, azure.identity' || { echo "python3-azure missing (scripts/deps test)"; exit 1; }
# per SDK: a 1 GB restored disk and two of 1024 GB; 2 GB of source disks
thin_provisioning 4200
start_regions
TOKEN=$(token "$EAST")
T=$VMRP_SRC/tests/templates
source_vm src

# restored_bytes CLIENT: the disks CLIENT's run restored (its RESULT line in
# $VAR/CLIENT.out) equal their disk restore points byte for byte.
restored_bytes() {
  local r drp_os drp_data
  r=$(sed -n 's/^RESULT //p' "$VAR/$1.out")
  if [ -z "$r" ]; then STATUS=; BODY=$(tail -n 5 "$VAR/$1.out"); fail "$1: no result to compare"; return 0; fi
  drp_os=$(nbd_uri "$EAST$(jq -r .drpOs <<<"$r")")
  drp_data=$(nbd_uri "$EAST$(jq -r .drpData <<<"$r")")
  check has_bytes "$drp_os" 0xa2 700M 64k "$1: the OS disk restore point holds the bytes written"
  check has_bytes "$drp_data" 0xb1 4M 1M "$1: the data disk restore point too"
  check same_disk "$drp_os" "$(nbd_uri "$EAST$(jq -r .restored <<<"$r")")" \
    "$1: the disk made from the disk restore point equals it byte for byte"
  check same_disk "$drp_os" "$(nbd_uri "$EAST$(jq -r .vmOs <<<"$r")")" "$1: the restored VM's OS disk equals its disk restore point"
  check same_disk "$drp_data" "$(nbd_uri "$EAST$(jq -r .vmData <<<"$r")")" "$1: the restored VM's data disk equals its disk restore point"
}

# sdk_flow NAME DESCRIPTION COMMAND...: one SDK's flow in resource group NAME
# (its output in $VAR/NAME.out, its steps shown), then its restored bytes.
sdk_flow() {
  local name=$1 desc=$2
  shift 2
  arm PUT "$EAST/subscriptions/$SUB/resourceGroups/$name?api-version=2021-04-01" '{"location":"eastus"}'
  if "$@" "$ENDPOINTS" eastus "$name" "$VMID" "$T" > "$VAR/$name.out" 2>&1; then
    ok "$desc"
  else
    STATUS=; BODY=$(grep -v '^ok - ' "$VAR/$name.out" | tail -n 20); fail "$desc"
  fi
  grep '^ok - ' "$VAR/$name.out" || true
  restored_bytes "$name"
}
sdk_flow js "JS SDK (@azure/arm-resourcesdeployments) deployment flow" \
  env NODE_EXTRA_CA_CERTS="$CA" node "$VMRP_SRC/tests/clients/deployments.mjs"
sdk_flow py "Python SDK (azure-mgmt-resource) deployment flow" \
  env REQUESTS_CA_BUNDLE="$CA" /usr/bin/python3 "$VMRP_SRC/tests/lib/deployments.py"

# Subscription scope: a resource group and, nested into it, a collection.
az_login "$EAST"
SUBRG=/subscriptions/$SUB/resourceGroups/made-by-sub
if OUT=$(az deployment sub create -l eastus -n subdep -f "$T/subscription-group-collection.json" \
    --parameters rgName=made-by-sub collectionName=rpc-sub "vmId=$VMID" -o json 2>"$VAR/az.err"); then
  check test "$(jq -r .properties.provisioningState <<<"$OUT")" = Succeeded "az deployment sub create: Succeeded"
  check test "$(jq -r .properties.outputs.collectionId.value <<<"$OUT")" = \
    "$SUBRG/providers/Microsoft.Compute/restorePointCollections/rpc-sub" "its output is the nested deployment's output"
else
  az_fail "az deployment sub create"
fi
arm GET "$EAST$SUBRG?api-version=2021-04-01"
expect 200 "" "the resource group it made exists"
check test "$(jq -r '"\(.location) \(.tags.createdBy)"' <<<"$BODY")" = "eastus subscription deployment" \
  "in the deployment's location (deployment().location), with its tags"
arm GET "$EAST$SUBRG/providers/Microsoft.Compute/restorePointCollections/rpc-sub?api-version=2021-03-01"
expect 200 "" "the collection the nested deployment made exists"
check test "$(jq -r '.properties.source.id | ascii_downcase' <<<"$BODY")" = "$(lower "$VMID")" "with the VM as its source"
arm GET "$EAST$SUBRG/providers/Microsoft.Resources/deployments/collection?api-version=2021-04-01"
expect 200 "" "the nested deployment is in the new group's history"
check test "$(jq -r .properties.provisioningState <<<"$BODY")" = Succeeded "and Succeeded"
if OUT=$(az deployment sub show -n subdep -o json 2>"$VAR/az.err"); then
  check test "$(jq -r '"\(.location) \(.properties.provisioningState)"' <<<"$OUT")" = "eastus Succeeded" \
    "az deployment sub show: its location and state"
  check test "$(jq -r .id <<<"$OUT")" = "/subscriptions/$SUB/providers/Microsoft.Resources/deployments/subdep" "at subscription scope"
else
  az_fail "az deployment sub show"
fi
if OUT=$(az deployment sub list -o json 2>"$VAR/az.err"); then
  check test "$(jq -r '[.[].name] | join(",")' <<<"$OUT")" = subdep "az deployment sub list"
else
  az_fail "az deployment sub list"
fi
if OUT=$(az deployment operation sub list -n subdep -o json 2>"$VAR/az.err"); then
  check test "$(jq -r '[.[] | select(.properties.provisioningOperation == "Create") | .properties.targetResource.id] | sort | join(",")' <<<"$OUT")" = \
    "$SUBRG,$SUBRG/providers/Microsoft.Resources/deployments/collection" \
    "az deployment operation sub list: the group, then the nested deployment"
else
  az_fail "az deployment operation sub list"
fi
finish
