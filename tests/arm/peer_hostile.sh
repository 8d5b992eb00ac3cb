#!/usr/bin/env bash
# A hostile peer: a third region, "evil" (tests/lib/hostile_peer.py, stdlib
# Python over HTTPS), configured as both regions' peer, answers the peer
# protocol with malformed documents — type missing, null, a number, an
# array; a disk restore point without id; a tree root that is not 64 hex
# digits, a key domain that is not 32 hex digits; sizes out of range; ids
# not the ones asked for — and malformed
# answers to a cross-region creation's capture.  Each is refused with 502
# InvalidPeerResponse naming the region and the field (a capture found bad
# later fails its restore point with that message), never a crash (ASan
# build: the daemon's log must stay clean).  What the regions send it is
# signed (it verifies the signatures), carries the caller's identity and
# never a bearer token.  Then `release`: only a capture made for the asking
# peer goes, never a user's restore point, whatever its collection's name.
. "$VMRP_SRC/tests/lib/harness.sh"
EVIL_PORT=$(free_port)
EVIL_CRED=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
export VMRP_CONFIG_EXTRA="[peer evil]\nendpoint = https://127.0.0.1:$EVIL_PORT\ncredential = $EVIL_CRED"
start_regions
python3 "$VMRP_SRC/tests/lib/hostile_peer.py" "$EVIL_PORT" "$VAR/tls/server.pem" "$VAR/tls/server.key" \
  "$EVIL_CRED" "$VAR/evil.log" &
EVIL_PID=$!
trap 'rc=$?; kill "$EVIL_PID" 2>/dev/null; (exit $rc); harness_cleanup' EXIT
for _ in $(seq 100); do curl -s --cacert "$CA" -o /dev/null "https://127.0.0.1:$EVIL_PORT/probe" && break; sleep 0.1; done
. "$VAR/ids.env"
TOKEN=$(token "$EAST")
OID=$(sqlite3 "$VAR/eastus/meta.db" "SELECT object_id FROM principals WHERE client_id = '$CLIENT_ID'")
CV=api-version=2024-07-01
DV=api-version=2024-03-02
GV=api-version=2021-04-01
G=/subscriptions/$SUB/resourceGroups/hp
C=$EAST$G/providers/Microsoft.Compute
E=/subscriptions/$SUB/resourceGroups/evil/providers/Microsoft.Compute
arm PUT "$EAST$G?$GV" '{"location":"eastus"}'
expect 201 "" "a resource group"

# ---- copies from the hostile region -------------------------------------------------
arm PUT "$C/restorePointCollections/copies?$CV" '{"location":"eastus","properties":{"source":{"id":"'$E'/restorePointCollections/src"}}}'
expect 201 "" "a collection whose source is the hostile region's collection (a valid answer)"
arm PUT "$C/restorePointCollections/bad?$CV" '{"location":"eastus","properties":{"source":{"id":"'$E'/restorePointCollections/src-notype"}}}'
expect 502 InvalidPeerResponse "a source collection whose document has no type: 502"
declare -A field=([notype]=type [nulltype]=type [numtype]=type [arraytype]=type [wrongid]="id is not"
  [propsnotobject]=properties [drpsnotarray]=diskRestorePoints [drpnoid]="diskRestorePoints\[0\].id"
  [drpnullid]="diskRestorePoints\[0\].id" [drpforeignid]="diskRestorePoints\[0\].id"
  [drpbadname]="diskRestorePoints\[0\]" [dupdrp]="repeats the id" [badroot]="vmrpTree.root"
  [shortroot]="vmrpTree.root" [numroot]="vmrpTree.root" [negsize]="vmrpTree.size" [hugesize]="vmrpTree.size"
  [strsize]="vmrpTree.size" [treenotobject]="vmrpTree is not" [excludestring]="excludeDisks"
  [pathdomain]="vmrpTree.domain" [upperdomain]="vmrpTree.domain" [numdomain]="vmrpTree.domain"
  [metadatastring]="sourceMetadata" [notjson]="not JSON")
for v in notype nulltype numtype arraytype wrongid propsnotobject drpsnotarray drpnoid drpnullid drpforeignid \
         drpbadname dupdrp badroot shortroot numroot negsize hugesize strsize treenotobject excludestring \
         metadatastring notjson pathdomain upperdomain numdomain; do
  arm PUT "$C/restorePointCollections/copies/restorePoints/c-$v?$CV" '{"properties":{"sourceRestorePoint":{"id":"'$E'/restorePointCollections/src/restorePoints/'$v'"}}}'
  msg=$(jq -r .error.message <<< "$BODY" 2>/dev/null || true)
  if [ "$STATUS/$(jq -r .error.code <<< "$BODY" 2>/dev/null)" = 502/InvalidPeerResponse ] &&
     [[ $msg == "Region 'evil' "* ]] && grep -q -- "${field[$v]}" <<< "$msg"; then
    ok "a copy from a source document with $v: 502 naming the region and the field ($msg)"
  else
    fail "a copy from a source document with $v: 502 naming the region and ${field[$v]}"
  fi
done
check test "$(sqlite3 "$VAR/eastus/meta.db" "SELECT count(*) FROM resources WHERE parent_id LIKE '%/restorePointCollections/copies'")" = 0 "nothing was recorded for them"
arm GET "$C/restorePointCollections/copies?$CV"
expect 200 "" "and the region still answers"

# ---- cross-region creation from the hostile region ------------------------------------
for v in notjson ok200 badid nullid drpnumid drpforeign datadisksobject profilenull errnotarm; do
  arm PUT "$C/restorePointCollections/x-$v?$CV" '{"location":"eastus","properties":{"source":{"id":"'$E'/virtualMachines/cap-'$v'"}}}'
  [ "$STATUS" = 201 ] || fail "collection x-$v"
  arm PUT "$C/restorePointCollections/x-$v/restorePoints/r?$CV" '{}'
  msg=$(jq -r .error.message <<< "$BODY" 2>/dev/null || true)
  if [ "$STATUS/$(jq -r .error.code <<< "$BODY" 2>/dev/null)" = 502/InvalidPeerResponse ] && [[ $msg == "Region 'evil' "* ]]; then
    ok "a capture answered with $v: 502 naming the region ($msg)"
  else
    fail "a capture answered with $v: 502"
  fi
done
arm PUT "$C/restorePointCollections/x-err?$CV" '{"location":"eastus","properties":{"source":{"id":"'$E'/virtualMachines/cap-err"}}}'
arm PUT "$C/restorePointCollections/x-err/restorePoints/r?$CV" '{}'
expect 409 OperationNotAllowed "a capture the source refuses with an ARM error: its error, relayed"
arm PUT "$C/restorePointCollections/x-badroot?$CV" '{"location":"eastus","properties":{"source":{"id":"'$E'/virtualMachines/cap-badroot"}}}'
arm PUT "$C/restorePointCollections/x-badroot/restorePoints/r?$CV" '{}'
expect 201 "" "a capture answered well (without properties in the PUT: no leak under ASan)"
wait_op 600
msg=$(jq -r .error.message <<< "$BODY")
check test "$OP_STATUS" = Failed "then its tree's document is malformed: the restore point fails"
check grep -q "Region 'evil' sent an invalid document .*vmrpTree.root is not 64 hex digits" <<< "$msg" \
  "with an error naming the region and the field ($msg)"

# ---- what the regions sent it ----------------------------------------------------------------
arm PUT "$C/disks/forwarded?$DV" '{"location":"evil","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
expect 201 "" "a disk PUT for the hostile region, forwarded there"
fwd=$(jq -c 'select(.path | startswith("'$G'/providers/Microsoft.Compute/disks/forwarded"))' "$VAR/evil.log")
check test -n "$fwd" "the forwarded request reached it"
check test "$(jq -r '.headers | to_entries[] | select(.key | ascii_downcase == "x-vmrp-caller") | .value | split(" ")[0]' <<< "$fwd")" = "$OID" "it names the caller (x-vmrp-caller: the caller's object id)"
check test "$(jq -r '.headers | to_entries[] | select(.key | ascii_downcase == "authorization") | .value | split(" ")[0]' <<< "$fwd")" = VMRP1-HMAC-SHA256 "its Authorization is a peer signature"
check test "$(jq -r .signature_ok <<< "$fwd")" = true "which the peer verifies with the shared credential"
check test "$(grep -ci bearer "$VAR/evil.log")" = 0 "no request the hostile region received carries a bearer token ($(wc -l < "$VAR/evil.log") requests)"
check test "$(grep -c "${TOKEN:0:40}" "$VAR/evil.log")" = 0 "nor the caller's token in any header"
check test "$(jq -r 'select(.path != "/probe") | .signature_ok' "$VAR/evil.log" | sort -u | tr '\n' ' ')" = "true " "every request the regions sent it verifies"
check test "$(jq -r 'select(.path | startswith("/vmrp/peer/v1/resource?id=" + ("'$E'/restorePointCollections/src/restorePoints/" | @uri))) | .headers | to_entries[] | select(.key | ascii_downcase == "x-vmrp-caller") | .value | split(" ")[0]' "$VAR/evil.log" | sort -u)" = "$OID" "the copies' source lookups carry the caller's identity"

# ---- release: only what this region made for the asking peer -------------------------------
peer_call() { # FROM CREDENTIAL METHOD TARGET [BODY [CALLER_OID]] → $STATUS, $BODY
  local body=${5-} f=$VAR/peer.body h=() who=()
  [ -z "${6-}" ] || who=(--caller "$6" "$CLIENT_ID" "$TENANT")
  printf '%s' "$body" > "$f"
  while IFS= read -r l; do h+=(-H "$l"); done < <(python3 "$VMRP_SRC/tests/lib/peer_sign.py" "$2" "$1" eastus "$3" "$4" "$f" "${who[@]}")
  STATUS=$(curl -s --cacert "$CA" -X "$3" -o "$VAR/body" -w '%{http_code}' "${h[@]}" -H 'Content-Type: application/json' \
    ${body:+--data-binary @"$f"} "$EAST$4")
  BODY=$(cat "$VAR/body")
}
P=$G/providers/Microsoft.Compute
for d in os1 os2; do
  arm PUT "$C/disks/$d?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
  wait_op 600
done
for v in 1 2; do
  arm PUT "$C/virtualMachines/vm$v?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},
    "storageProfile":{"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"'$P'/disks/os'$v'"}}}}}'
  wait_op 600
done
# a user's collection with the name a staging collection would have, and a restore point in it
arm PUT "$C/restorePointCollections/vmrp-xr-westus-vm1?$CV" '{"location":"eastus","properties":{"source":{"id":"'$P'/virtualMachines/vm1"}}}'
expect 201 "" "a user's collection named vmrp-xr-westus-vm1"
arm PUT "$C/restorePointCollections/vmrp-xr-westus-vm1/restorePoints/mine?$CV" '{}'
wait_op 600
check test "$OP_STATUS" = Succeeded "with a restore point of the user's"
MINE=$P/restorePointCollections/vmrp-xr-westus-vm1/restorePoints/mine
peer_call westus "$PEER_CREDENTIAL" POST "/vmrp/peer/v1/release?id=$(jq -rn --arg s "$MINE" '$s | @uri')" '{}'
check test "$STATUS" = 404 "westus releasing the user's restore point (its collection named vmrp-xr-…): 404"
arm GET "$C/restorePointCollections/vmrp-xr-westus-vm1/restorePoints/mine?$CV"
expect 200 "" "and the user's restore point is still there"
peer_call westus "$PEER_CREDENTIAL" POST /vmrp/peer/v1/captures '{"vmId":"'$P'/virtualMachines/vm1"}'
expect 403 AuthorizationFailed "a capture asked for no caller: refused (only a caller's request fences a VM)"
peer_call westus "$PEER_CREDENTIAL" POST /vmrp/peer/v1/captures '{"vmId":"'$P'/virtualMachines/vm1"}' "$CLIENT_ID"
expect 409 OperationNotAllowed "a capture for westus where the user's collection holds the staging name: 409, not into the user's collection"
peer_call westus "$PEER_CREDENTIAL" POST /vmrp/peer/v1/captures '{"vmId":"'$P'/virtualMachines/vm2"}' "$CLIENT_ID"
expect 201 "" "westus asks a capture of vm2"
CAP=$(jq -r .id <<< "$BODY")
for _ in $(seq 600); do
  arm GET "$EAST$CAP?$CV"
  [ "$(jq -r .properties.provisioningState <<< "$BODY")" = Creating ] || break; sleep 0.1
done
check test "$(jq -r .properties.provisioningState <<< "$BODY")" = Succeeded "the capture is made"
arm PUT "$C/restorePointCollections/vmrp-xr-westus-vm2/restorePoints/xr-0000mine?$CV" '{}'
wait_op 600
check test "$OP_STATUS" = Succeeded "a user's own restore point in the staging collection"
peer_call westus "$PEER_CREDENTIAL" POST "/vmrp/peer/v1/release?id=$(jq -rn --arg s "$P/restorePointCollections/vmrp-xr-westus-vm2/restorePoints/xr-0000mine" '$s | @uri')" '{}'
check test "$STATUS" = 404 "westus releasing it (not a capture made for westus): 404"
arm GET "$C/restorePointCollections/vmrp-xr-westus-vm2/restorePoints/xr-0000mine?$CV"
expect 200 "" "it is still there"
peer_call evil "$EVIL_CRED" POST "/vmrp/peer/v1/release?id=$(jq -rn --arg s "$CAP" '$s | @uri')" '{}'
check test "$STATUS" = 404 "another peer releasing westus's capture: 404"
arm GET "$EAST$CAP?$CV"
expect 200 "" "the capture is still there"
peer_call westus "$PEER_CREDENTIAL" POST "/vmrp/peer/v1/release?id=$(jq -rn --arg s "$CAP" '$s | @uri')" '{}'
check test "$STATUS" = 204 "westus releasing its own capture: 204"
arm GET "$EAST$CAP?$CV"
expect 404 "" "and it is gone"
peer_call westus "$PEER_CREDENTIAL" POST "/vmrp/peer/v1/release?id=$(jq -rn --arg s "$CAP" '$s | @uri')" '{}'
check test "$STATUS" = 404 "releasing it again: 404"
# the serving side checks the caller a peer names: a write role on the resource's subscription
VM1Q=$(jq -rn --arg s "$P/virtualMachines/vm1" '$s | @uri')
peer_call westus "$PEER_CREDENTIAL" GET "/vmrp/peer/v1/resource?id=$VM1Q"
check test "$STATUS" = 200 "a resource lookup westus makes for itself: 200"
peer_call westus "$PEER_CREDENTIAL" GET "/vmrp/peer/v1/resource?id=$VM1Q" "" "$OID"
check test "$STATUS" = 200 "made for a caller with a role on the subscription: 200"
peer_call westus "$PEER_CREDENTIAL" GET "/vmrp/peer/v1/resource?id=$VM1Q" "" nobody-with-a-role
check test "$STATUS/$(jq -r .error.code <<< "$BODY")" = 404/ResourceNotFound "made for a caller without a role there: 404, its existence not told"
peer_call westus "$PEER_CREDENTIAL" POST /vmrp/peer/v1/captures '{"vmId":"'$P'/virtualMachines/vm2"}' nobody-with-a-role
check test "$STATUS" = 404 "a capture made for a caller without a role there: 404, nothing captured"
finish
