#!/usr/bin/env bash
# The az CLI (Debian azure-cli 2.45) end to end over TLS in both regions:
# cloud register, service-principal login, account show, group create / show /
# list / exists / update / delete / wait.
. "$VMRP_SRC/tests/lib/harness.sh"
. "$VMRP_SRC/tests/lib/az.sh"
command -v az >/dev/null || { echo "az CLI missing"; exit 1; }
start_regions
az_env

for region in eastus westus; do
  [ $region = eastus ] && base=$EAST || base=$WEST
  cloud=vmrp-$region
  STATUS=; BODY=
  check az cloud register -n $cloud --endpoint-resource-manager "$base/" --endpoint-active-directory "$base/adfs" \
    --endpoint-active-directory-resource-id "$base/" --endpoint-active-directory-graph-resource-id "$base/graph/" \
    -o none "$region: az cloud register"
  check az cloud set -n $cloud "$region: az cloud set"
  check az login --service-principal -u "$CLIENT_ID" -p "$CLIENT_SECRET" --tenant "$TENANT" -o none \
    "$region: az login --service-principal"
  BODY=$(az account show -o json)
  check test "$(echo "$BODY" | jq -r .id)" = "$SUB" "$region: az account show names the subscription"
  check test "$(echo "$BODY" | jq -r .tenantId)" = "$TENANT" "$region: az account show names the tenant"

  rg=az-$region-rg
  BODY=$(az group create -n $rg -l $region --tags team=storage -o json)
  check test "$(echo "$BODY" | jq -r .properties.provisioningState)" = Succeeded "$region: az group create"
  BODY=$(az group show -n $rg -o json)
  check test "$(echo "$BODY" | jq -r .tags.team)" = storage "$region: az group show returns the tags"
  check test "$(echo "$BODY" | jq -r .id)" = "/subscriptions/$SUB/resourceGroups/$rg" "$region: id uses the canonical casing"
  BODY=$(az group update -n $rg --set tags.tier=gold -o json)
  check test "$(echo "$BODY" | jq -r .tags.tier)" = gold "$region: az group update"
  check test "$(az group list --query "[?name=='$rg'] | length(@)" -o tsv)" = 1 "$region: az group list"
  check test "$(az group exists -n $rg)" = true "$region: az group exists (true)"
  check az group delete -n $rg --yes "$region: az group delete (long-running)"
  check test "$(az group exists -n $rg)" = false "$region: az group exists (false) after delete"
  az group create -n $rg-2 -l $region -o none
  az group delete -n $rg-2 --yes --no-wait
  check az group wait -n $rg-2 --deleted --interval 1 --timeout 60 "$region: az group wait --deleted"
  if az group show -n missing-rg -o none 2>"$VAR/err"; then
    fail "$region: az group show of a missing group"
  else
    check grep -q ResourceGroupNotFound "$VAR/err" "$region: az group show of a missing group says ResourceGroupNotFound"
  fi
done

# Managed disks (eastus): create, show, list, update (grow), the NBD URI via
# az rest …/vmrpGrantNbdAccess (an NBD grant), qemu-img on it, delete.
az cloud set -n vmrp-eastus
az login --service-principal -u "$CLIENT_ID" -p "$CLIENT_SECRET" --tenant "$TENANT" -o none
az group create -n az-disks -l eastus -o none
BODY=$(az disk create -g az-disks -n d1 --size-gb 2 -o json)
check test "$(echo "$BODY" | jq -r .provisioningState)" = Succeeded "az disk create --size-gb"
check test "$(echo "$BODY" | jq -r .diskSizeGb)" = 2 "the disk has the requested size"
check test "$(az disk show -g az-disks -n d1 --query diskState -o tsv)" = Unattached "az disk show"
check test "$(az disk list -g az-disks --query "length(@)" -o tsv)" = 1 "az disk list"
check test "$(az disk update -g az-disks -n d1 --size-gb 3 --query diskSizeGb -o tsv)" = 3 "az disk update --size-gb grows it"
uri=$(az_nbd_uri "/subscriptions/$SUB/resourceGroups/az-disks/providers/Microsoft.Compute/disks/d1")
check bash -c "qemu-img info --output=json '$uri' | jq -e '.\"virtual-size\" == 3221225472' >/dev/null" \
  "qemu-img opens the disk at the URI az rest …/vmrpGrantNbdAccess returns"
check az disk delete -g az-disks -n d1 --yes "az disk delete"
check test "$(az disk list -g az-disks --query "length(@)" -o tsv)" = 0 "the disk is gone"
finish
