#!/usr/bin/env bash
# One ARM namespace over both regions: every request goes to ONE endpoint
# (eastus) and reaches the region its resource lives in.  Resource groups are
# both regions'; a westus disk, VM and restore point collection are created,
# read, listed, changed and deleted through eastus with the same token (no
# second login), and their long-running operation URLs point at westus,
# where they are polled; a westus disk is written and read back over its NBD
# export, byte for byte; lists (disks, VMs, collections, resources) show both
# regions; a group deleted through eastus is gone in both.  With westus
# killed, eastus's resources still answer and westus's answer 503 naming the
# region; a forwarded request is never forwarded again, carries a peer
# signature and the caller's identity (no token) and does not replay.  The az CLI and the
# JS SDK do the same against the one endpoint.
. "$VMRP_SRC/tests/lib/harness.sh"
. "$VMRP_SRC/tests/lib/az.sh"
start_regions
TOKEN=$(token "$EAST")
CV=api-version=2024-07-01
DV=api-version=2024-03-02
GV=api-version=2021-04-01
G=/subscriptions/$SUB/resourceGroups/xr
C=$EAST$G/providers/Microsoft.Compute
CW=$WEST$G/providers/Microsoft.Compute

arm PUT "$EAST$G?$GV" '{"location":"eastus","tags":{"team":"dr"}}'
expect 201 "" "a resource group created through eastus"
arm GET "$WEST$G?$GV"
check test "$STATUS/$(echo "$BODY" | jq -r .tags.team)" = 200/dr "it exists in westus too (the same token)"

disk() { # REGION NAME
  arm PUT "$C/disks/$2?$DV" '{"location":"'$1'","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
}
disk westus dw
expect 202 "" "PUT of a westus disk through eastus: accepted"
AAO=$(header Azure-AsyncOperation)
check test "${AAO#"https://127.0.0.1:$VMRP_WESTUS_PORT/"}" != "$AAO" "its Azure-AsyncOperation points at westus"
wait_op 1200
check test "$OP_STATUS" = Succeeded "polled there, it succeeds"
disk eastus de; wait_op 1200
arm GET "$C/disks/dw?$DV"
check test "$STATUS/$(echo "$BODY" | jq -r .location)" = 200/westus "GET of the westus disk through eastus"
WURI=$(nbd_uri "$C/disks/dw" tcp) # granted through eastus: forwarded to westus, which made it
arm GET "$CW/disks/dw?$DV"
check test "$STATUS" = 200 "the disk lives in westus"
check test "$(sqlite3 "$VAR/eastus/meta.db" "SELECT count(*) FROM resources WHERE name = 'dw'")" = 0 "and not in eastus's metadata"
head -c 1048576 /dev/urandom > "$VAR/pat"
check nbdcopy --flush "$VAR/pat" "$WURI" "1 MiB written over the westus disk's NBD export (granted through eastus)"
nbdcopy "$WURI" "$VAR/back" 2>/dev/null
check cmp -n 1048576 "$VAR/pat" "$VAR/back" "and read back byte for byte"
arm PATCH "$C/disks/dw?$DV" '{"tags":{"k":"v"}}'
arm GET "$C/disks/dw?$DV"
check test "$(echo "$BODY" | jq -r .tags.k)" = v "PATCH through eastus reached westus"

arm PUT "$C/virtualMachines/vmw?$CV" '{"location":"westus","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},
  "storageProfile":{"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"'$G'/providers/Microsoft.Compute/disks/dw"}}}}}'
expect 201 "" "a westus VM through eastus"
wait_op 1200
arm PUT "$C/restorePointCollections/rpcw?$CV" '{"location":"westus","properties":{"source":{"id":"'$G'/providers/Microsoft.Compute/virtualMachines/vmw"}}}'
expect 201 "" "a westus restore point collection through eastus (the documented first step)"
arm PUT "$C/restorePointCollections/rpcw/restorePoints/rp1?$CV" '{}'
expect 201 "" "a restore point of the westus VM through eastus (a child: routed by its parent)"
wait_op 1200
check test "$OP_STATUS" = Succeeded "it succeeds"
arm GET "$C/restorePointCollections/rpcw/restorePoints/rp1/diskRestorePoints?$DV"
check test "$(echo "$BODY" | jq '.value | length')" = 1 "its disk restore point, listed through eastus"
arm POST "$C/virtualMachines/vmw/powerOff?$CV"
expect 202 "" "a POST action on the westus VM through eastus"

# lists from one endpoint show both regions
arm GET "$EAST$G/providers/Microsoft.Compute/disks?$DV"
check test "$(echo "$BODY" | jq -r '[.value[].name] | sort | join(",")')" = de,dw "disks of the group: both regions'"
arm GET "$EAST/subscriptions/$SUB/providers/Microsoft.Compute/disks?$DV"
check test "$(echo "$BODY" | jq -r '[.value[] | select(.id | test("/xr/")) | .name] | sort | join(",")')" = de,dw "disks of the subscription: both regions'"
arm GET "$EAST$G/providers/Microsoft.Compute/virtualMachines?$CV"
check test "$(echo "$BODY" | jq -r '[.value[].name] | join(",")')" = vmw "VMs of the group: the westus one"
arm GET "$EAST$G/resources?$GV"
check test "$(echo "$BODY" | jq -r '[.value[] | select(.type == "Microsoft.Compute/disks") | .location] | unique | join(",")')" = eastus,westus "resources of the group: both regions' disks"
arm GET "$WEST$G/providers/Microsoft.Compute/disks?$DV"
check test "$(echo "$BODY" | jq '.value | length')" = 2 "and the same list from westus"

# bad input stays an error, nothing is forwarded twice
arm GET "$C/disks/nope?$DV"
expect 404 "" "a disk no region has: 404"
arm PUT "$C/disks/dx?$DV" '{"location":"mars","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
check test "$STATUS" = 400 "a location no region serves: 400 (answered here)"
# Forwarded calls carry a peer signature and the caller's identity, never a
# token (src/repl/repl.h): a caller's own token marked forwarded is refused,
# a signed one runs here as the caller it names, is never forwarded again,
# and does not replay.
EXTRA_CURL=(-H "x-vmrp-forwarded: westus")
arm GET "$C/disks/dw?$DV"
check test "$STATUS" = 401 "a caller's ARM token marked forwarded, without a peer signature: 401"
TOKEN_SAVE=$TOKEN TOKEN=
. "$VAR/ids.env"
OID=$(sqlite3 "$VAR/eastus/meta.db" "SELECT object_id FROM principals WHERE client_id = '$CLIENT_ID'")
fwd_sign() { # METHOD TARGET [peer_sign options] → headers in $VAR/fwd.h
  python3 "$VMRP_SRC/tests/lib/peer_sign.py" "$PEER_CREDENTIAL" westus eastus "$1" "$2" "" "${@:3}" > "$VAR/fwd.h"
  EXTRA_CURL=(-H "x-vmrp-forwarded: westus")
  while IFS= read -r h; do EXTRA_CURL+=(-H "$h"); done < "$VAR/fwd.h"
}
fwd_sign GET "$G/providers/Microsoft.Compute/disks/dw?$DV" --caller "$OID" "$CLIENT_ID" "$TENANT"
arm GET "$C/disks/dw?$DV"
check test "$STATUS" = 404 "a signed forwarded request is answered where it arrived (as its caller), never forwarded again"
arm GET "$C/disks/dw?$DV"
check test "$STATUS" = 401 "the same signed request again (a replay): 401"
fwd_sign GET "$G/providers/Microsoft.Compute/disks/de?$DV" --caller "$OID" "$CLIENT_ID" "$TENANT"
arm GET "$C/disks/de?$DV"
check test "$STATUS/$(echo "$BODY" | jq -r .name)" = 200/de "a signed forwarded GET of an eastus disk runs as the caller it names"
fwd_sign GET "$G/providers/Microsoft.Compute/disks/dw?$DV" --caller "$OID" "$CLIENT_ID" "$TENANT"
arm GET "$C/disks/de?$DV"
check test "$STATUS" = 401 "signed for another path: 401"
fwd_sign GET "$G/providers/Microsoft.Compute/disks/de?$DV" --caller "$OID" "$CLIENT_ID" "$TENANT"
sed -i "s/^x-vmrp-caller: .*/x-vmrp-caller: someone-else $CLIENT_ID $TENANT/" "$VAR/fwd.h"
EXTRA_CURL=(-H "x-vmrp-forwarded: westus"); while IFS= read -r h; do EXTRA_CURL+=(-H "$h"); done < "$VAR/fwd.h"
arm GET "$C/disks/de?$DV"
check test "$STATUS" = 401 "signed for one caller, presented for another: 401"
fwd_sign GET "$G/providers/Microsoft.Compute/disks/de?$DV" --caller "$OID" "$CLIENT_ID" "$TENANT" \
  --ts-ms $(( $(date +%s) * 1000 - 400000 ))
arm GET "$C/disks/de?$DV"
check test "$STATUS" = 401 "signed 400 s ago (outside the 300 s window): 401"
fwd_sign GET "$G/providers/Microsoft.Compute/disks/de?$DV"
arm GET "$C/disks/de?$DV"
check test "$STATUS" = 401 "signed without a caller (a forwarded call is always someone's): 401"
fwd_sign GET "$G/providers/Microsoft.Compute/disks/de?$DV" --caller nobody-with-a-role "$CLIENT_ID" "$TENANT"
arm GET "$C/disks/de?$DV"
check test "$STATUS" = 403 "signed for a caller without a role here: 403 (this region's role table decides)"
EXTRA_CURL=()
TOKEN=$TOKEN_SAVE
arm GET "$C/disks/dw?$DV"
TOKEN_SAVE=$TOKEN TOKEN=forged.token.x
arm GET "$C/disks/dw?$DV"
check test "$STATUS" = 401 "a bad token is refused before anything is forwarded"
TOKEN=$TOKEN_SAVE

# the official clients against the one endpoint
az_login "$EAST"
got=$(az disk create -g xr -n dw2 -l westus --size-gb 1 --query location -o tsv 2>"$VAR/az.err") || cat "$VAR/az.err"
check test "$got" = westus "az disk create -l westus against the eastus endpoint"
got=$(az disk list -g xr --query "length(@)" -o tsv 2>"$VAR/az.err") || cat "$VAR/az.err"
check test "$got" = 3 "az disk list: both regions' disks"
got=$(az disk show -g xr -n dw2 --query location -o tsv 2>"$VAR/az.err") || cat "$VAR/az.err"
check test "$got" = westus "az disk show"
az disk delete -g xr -n dw2 --yes 2>"$VAR/az.err" || cat "$VAR/az.err"
arm GET "$CW/disks/dw2?$DV"
check test "$STATUS" = 404 "az disk delete through eastus deleted it in westus"

if NODE_EXTRA_CA_CERTS=$CA node "$VMRP_SRC/tests/clients/regions.mjs" "$ENDPOINTS" eastus xr westus > "$VAR/sdk.out" 2>&1; then
  ok "JS SDK against eastus alone: a westus disk created (polled), read, listed, deleted"
else
  cat "$VAR/sdk.out"; fail "JS SDK through one endpoint"
fi

# a region down: only its resources are unavailable
kill9_region westus
arm GET "$C/disks/de?$DV"
check test "$STATUS" = 200 "westus down: the eastus disk still answers"
arm GET "$C/disks/dw?$DV"
expect 503 RegionUnavailable "the westus disk: 503 RegionUnavailable"
check test "$(echo "$BODY" | jq -r '.error.message | test("westus")')" = true "naming the region"
disk westus dy
expect 503 RegionUnavailable "a new westus disk: 503"
arm GET "$EAST$G/providers/Microsoft.Compute/disks?$DV"
check test "$STATUS/$(echo "$BODY" | jq -r '[.value[].name] | join(",")')" = 200/de "the list: what the live region has"
arm PUT "$EAST/subscriptions/$SUB/resourceGroups/xr2?$GV" '{"location":"eastus"}'
expect 201 "" "westus down: a group created through eastus (eastus only, for now)"
restart_region westus
arm GET "$WEST/subscriptions/$SUB/resourceGroups/xr2?$GV"
check test "$STATUS" = 404 "westus missed it"
arm PUT "$EAST/subscriptions/$SUB/resourceGroups/xr2/providers/Microsoft.Compute/disks/late?$DV" \
  '{"location":"westus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
expect 202 "" "a westus disk in it through eastus: the group is made in westus on demand"
wait_op 1200
arm GET "$WEST/subscriptions/$SUB/resourceGroups/xr2?$GV"
check test "$STATUS" = 200 "and westus has the group now"

# deleting the group through eastus deletes it everywhere
arm DELETE "$EAST$G?$GV"
expect 202 "" "DELETE of the group through eastus"
for r in "$EAST" "$WEST"; do
  for _ in $(seq 300); do
    arm GET "$r$G?$GV"; [ "$STATUS" = 404 ] && break; sleep 0.1
  done
  check test "$STATUS" = 404 "the group is gone at $r"
done
check test "$(sqlite3 "$VAR/westus/meta.db" "SELECT count(*) FROM resources WHERE id LIKE '%/resourceGroups/xr/%'")" = 0 "with its westus resources"
finish
