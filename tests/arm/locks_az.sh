#!/usr/bin/env bash
# `az lock` unchanged (Debian azure-cli 2.45, its 2016-09-01 ManagementLockClient) against one endpoint
# (eastus): create, list, show (by name and by --ids), update and delete at subscription, resource group,
# resource and child resource scope (a subnet, --parent; az sends the resource form with an empty parent path,
# "Microsoft.Compute//disks/de"), a westus disk's lock through eastus, and each lock holding what it should:
# az's own commands (disk update and delete, group delete) fail with ScopeLocked while it stands and succeed
# once it is deleted.  The resources are made with curl (each az command costs seconds); tests/arm/locks.sh
# covers the rest over REST.
. "$VMRP_SRC/tests/lib/harness.sh"
. "$VMRP_SRC/tests/lib/az.sh"
command -v az >/dev/null || { echo "az CLI missing"; exit 1; }
start_regions
TOKEN=$(token "$EAST")
az_login "$EAST"
GID=/subscriptions/$SUB/resourceGroups/lz
arm PUT "$EAST$GID?api-version=2021-04-01" '{"location":"eastus"}'
for d in de:eastus dw:westus; do
  arm PUT "$EAST$GID/providers/Microsoft.Compute/disks/${d%:*}?api-version=2024-03-02" \
    '{"location":"'${d#*:}'","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
  wait_op
done
arm PUT "$EAST$GID/providers/Microsoft.Network/virtualNetworks/vn?api-version=2022-07-01" \
  '{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]},"subnets":[{"name":"s1","properties":{"addressPrefix":"10.0.0.0/24"}}]}}'
check test "$STATUS" = 201 "a group, disks in both regions, a virtual network"
# refused CMD...: the az command fails with ScopeLocked
refused() {
  local desc=${*: -1}
  if "${@:1:$#-1}" -o none 2>"$VAR/az.err"; then
    fail "$desc: az succeeded"
  elif grep -q ScopeLocked "$VAR/az.err"; then
    ok "$desc: ScopeLocked"
  else
    cat "$VAR/az.err"; fail "$desc: not ScopeLocked"
  fi
}

# ---- subscription ------------------------------------------------------------------
BODY=$(az lock create -n sublock -t CanNotDelete --notes "the whole subscription" -o json)
check test "$(echo "$BODY" | jq -r '.id + " " + .level + " " + .notes')" = \
  "/subscriptions/$SUB/providers/Microsoft.Authorization/locks/sublock CanNotDelete the whole subscription" \
  "az lock create at the subscription"
check test "$(az lock show -n sublock --query level -o tsv)" = CanNotDelete "az lock show -n"
check test "$(az lock list --query "[?name=='sublock'] | length(@)" -o tsv)" = 1 "az lock list"
refused az disk delete -g lz -n de --yes "az disk delete under the subscription's lock"
check az lock delete -n sublock "az lock delete at the subscription"

# ---- resource group ----------------------------------------------------------------
BODY=$(az lock create -n glock -g lz -t ReadOnly -o json)
check test "$(echo "$BODY" | jq -r '.id + " " + .level')" = "$GID/providers/Microsoft.Authorization/locks/glock ReadOnly" \
  "az lock create -g"
check test "$(az group lock list -g lz --query "[].name" -o tsv)" = glock "az group lock list"
refused az disk update -g lz -n dw --set tags.x=y "az disk update of the westus disk (forwarded) under the group's ReadOnly"
BODY=$(az lock update -n glock -g lz --notes "frozen for audit" -o json)
check test "$(echo "$BODY" | jq -r '.level + " " + .notes')" = "ReadOnly frozen for audit" "az lock update (a GET, then a PUT)"
check test "$(az lock show --ids "$GID/providers/Microsoft.Authorization/locks/glock" --query notes -o tsv)" = \
  "frozen for audit" "az lock show --ids"
check az lock delete --ids "$GID/providers/Microsoft.Authorization/locks/glock" "az lock delete --ids"

# ---- resources ---------------------------------------------------------------------
BODY=$(az lock create -n rlock -g lz --resource-type Microsoft.Compute/disks --resource de -t CanNotDelete -o json)
check test "$(echo "$BODY" | jq -r .id)" = "$GID/providers/Microsoft.Compute/disks/de/providers/Microsoft.Authorization/locks/rlock" \
  "az lock create --resource-type --resource"
check test "$(az lock show -n rlock -g lz --resource-type Microsoft.Compute/disks --resource de --query level -o tsv)" = CanNotDelete \
  "az lock show at the resource"
check test "$(az lock list -g lz --resource-type Microsoft.Compute/disks --resource de --query "[].name" -o tsv)" = rlock \
  "az lock list at the resource"
refused az disk delete -g lz -n de --yes "az disk delete of the locked disk"
refused az group delete -n lz --yes "az group delete: the group holds a locked disk"
BODY=$(az lock create -n wlock -g lz --resource-type Microsoft.Compute/disks --resource dw -t CanNotDelete -o json)
check test "$(echo "$BODY" | jq -r .name)" = wlock "az lock create on the westus disk through eastus"
check test "$(sqlite3 "$VAR/westus/meta.db" "SELECT count(*) FROM resources WHERE name = 'wlock'")/$(sqlite3 "$VAR/eastus/meta.db" "SELECT count(*) FROM resources WHERE name = 'wlock'")" = 1/0 \
  "it lives in westus"
refused az disk delete -g lz -n dw --yes "az disk delete of the westus disk"
BODY=$(az lock create -n slock -g lz --namespace Microsoft.Network --parent virtualNetworks/vn --resource-type subnets \
  --resource s1 -t ReadOnly -o json)
check test "$(echo "$BODY" | jq -r .id)" = \
  "$GID/providers/Microsoft.Network/virtualNetworks/vn/subnets/s1/providers/Microsoft.Authorization/locks/slock" \
  "az lock create on a child resource (--parent)"
arm DELETE "$EAST$GID/providers/Microsoft.Network/virtualNetworks/vn/subnets/s1?api-version=2022-07-01"
expect 409 ScopeLocked "the locked subnet cannot be deleted"
check test "$(az lock list --query "length(@)" -o tsv)" = 3 "az lock list at the subscription: the three, of both regions"
check az lock delete -n rlock -g lz --resource-type Microsoft.Compute/disks --resource de "az lock delete at the resource"
check az lock delete -n wlock -g lz --resource-type Microsoft.Compute/disks --resource dw "az lock delete of the westus lock"
check az lock delete -n slock -g lz --namespace Microsoft.Network --parent virtualNetworks/vn --resource-type subnets \
  --resource s1 "az lock delete on the child"

check az disk delete -g lz -n de --yes "no lock left: az disk delete succeeds"
finish
