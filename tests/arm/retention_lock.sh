#!/usr/bin/env bash
# Retention locks (immutability, docs/locks.md), two real regions:
#  - a lock set in the restore point PUT (normalised: mode any case, an
#    offset and a fraction → whole seconds UTC, rounded up), shown on GET,
#    az restore-point show and the JS SDK's restorePoints.get still working
#    (their models drop the unknown member; az resource show and the
#    generic resources client show it) and their deletes refused;
#  - while it is in force, DELETE by an Owner of the restore point, its
#    collection, the VM it was taken of and the resource group → 409
#    RestorePointRetentionLocked, through eastus and forwarded from westus,
#    and through a Complete-mode template deployment; nothing changed; the
#    database itself refuses a direct DELETE of the rows (meta_sql);
#  - vmrpSetRetentionLock: shortening, Compliance → Governance, removing a
#    Compliance lock (as Owner) refused; removing a Governance lock 403 for a
#    Contributor, done by an Owner; a Contributor extends; Governance →
#    Compliance; bad input each a clear 400;
#  - a copy in westus carries the lock, refuses deletes there, and an
#    extension of the source's lock reaches it — the extension durable
#    across kill -9, and, made while westus is down, reported as not reached
#    there and applied when sent again;
#  - a restore point created in westus of an eastus VM (cross-region
#    creation) with a lock: the VM's DELETE in eastus refused;
#  - GC and verify in both regions while locked (the locked restore point's
#    data only it holds, read back byte for byte from it and from its copy);
#  - after expiry the deletes go through and the GC frees the data.
. "$VMRP_SRC/tests/lib/harness.sh"
. "$VMRP_SRC/tests/lib/az.sh"
. "$VMRP_SRC/tests/lib/deploy.sh"
command -v az >/dev/null || { echo "az CLI missing"; exit 1; }
export VMRP_CONFIG_EXTRA='[copy]\nper_hour = 0'
start_regions
TOKEN=$(token "$EAST"); OWNER=$TOKEN
WTOKEN=$(token "$WEST")
read -r CON_ID CON_SEC <<<"$(principal carol "$SUB" Contributor)"
CTOKEN=$(token "$EAST" "$CON_ID" "$CON_SEC")
CV=api-version=2024-07-01; DV=api-version=2024-03-02; GV=api-version=2021-04-01
G=/subscriptions/$SUB/resourceGroups/imm
P=$G/providers/Microsoft.Compute
C=$EAST$P
RPC=$C/restorePointCollections/c1
L=$RPC/restorePoints
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
lock_of() { echo "$BODY" | jq -c '.properties.vmrpRetentionLock'; }
code_of() { echo "$BODY" | jq -r .error.code; }

arm PUT "$EAST$G?$GV" '{"location":"eastus"}'
arm PUT "$C/disks/os?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
wait_op
# A: the data only the locked restore point will hold; B: what the disk holds after it.  A is
# the larger, so that once it is garbage its packs are mostly dead (the GC rewrites a pack only
# when less than half of it is live).
head -c 8M /dev/urandom > "$VAR/A.img"; head -c 1M /dev/urandom > "$VAR/B.img"
truncate -s 1G "$VAR/A.img" "$VAR/B.img"
OSURI=$(nbd_uri "$C/disks/os")
nbdcopy --flush "$VAR/A.img" "$OSURI"
arm PUT "$C/virtualMachines/vm1?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},
  "storageProfile":{"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"'$P'/disks/os"}}}}}'
wait_op
arm PUT "$RPC?$CV" '{"location":"eastus","properties":{"source":{"id":"'$P'/virtualMachines/vm1"}}}'
expect 201 "" "a VM with a written disk and its collection"

# ---- bad input in the PUT: a clear 400, nothing changed --------------------------
before=$(store_dump eastus)
FUT=$(iso $(( $(date +%s) + 3600 )))
bad_put() { # LOCK-JSON CODE TARGET DESCRIPTION
  arm PUT "$L/bad?$CV" '{"properties":{"vmrpRetentionLock":'"$1"'}}'
  if [ "$STATUS/$(code_of)" = "400/$2" ] && { [ -z "$3" ] || [ "$(echo "$BODY" | jq -r .error.target)" = "$3" ]; }; then
    ok "$4 → 400 $2 ($(echo "$BODY" | jq -r .error.message))"
  else fail "$4"; fi
}
T=properties.vmrpRetentionLock
bad_put '{"mode":"Forever","expiresAt":"'$FUT'"}' InvalidParameter $T.mode "an unknown mode"
bad_put '{"mode":"None"}' InvalidParameter $T.mode "mode None in a PUT"
bad_put '{"mode":"Governance"}' InvalidParameter $T.expiresAt "no expiresAt"
bad_put '{"mode":"Governance","expiresAt":"next tuesday"}' InvalidParameter $T.expiresAt "expiresAt not a time"
bad_put '{"mode":"Governance","expiresAt":"2027-02-30T00:00:00Z"}' InvalidParameter $T.expiresAt "expiresAt 30 February"
bad_put '{"mode":"Governance","expiresAt":"2030-01-01T00:00:00"}' InvalidParameter $T.expiresAt "expiresAt without a zone"
bad_put '{"mode":"Governance","expiresAt":"2020-01-01T00:00:00Z"}' InvalidParameter $T.expiresAt "expiresAt in the past"
bad_put '{"mode":"Governance","expiresAt":"'"$(iso $(( $(date +%s) + 101 * 366 * 86400 )))"'"}' InvalidParameter $T.expiresAt "expiresAt 101 years ahead"
bad_put '{"mode":"Governance","expiresAt":"'$FUT'","legalHold":true}' InvalidParameter $T.legalHold "an unknown member"
bad_put '{"mode":"Governance","expiresAt":1893456000}' InvalidRequestContent "" "expiresAt a number"
bad_put '"Compliance"' InvalidRequestContent "" "the lock a string"
check test "$(store_dump eastus)" = "$before" "nothing changed"

# ---- locks set in the PUT ----------------------------------------------------------
T0=$(date +%s)
# rpC: Compliance, in a spelling the service normalises (+01:00, a fraction: rounded up to the next second)
EXPC=$(iso $((T0 + 61)))
arm PUT "$L/rpC?$CV" '{"properties":{"vmrpRetentionLock":{"Mode":"compliance","expiresAt":"'"$(date -u -d "@$((T0 + 3660))" +%Y-%m-%dT%H:%M:%S.25+01:00)"'"}}}'
check test "$STATUS/$(lock_of)" = "201/{\"mode\":\"Compliance\",\"expiresAt\":\"$EXPC\"}" \
  "PUT a restore point with a Compliance lock: 201, the lock normalised to $EXPC"
wait_op
check test "$OP_STATUS" = Succeeded "it is Succeeded"
RPC_ID=$P/restorePointCollections/c1/restorePoints/rpC
arm GET "$L/rpC?$CV"
check test "$(lock_of)" = "{\"mode\":\"Compliance\",\"expiresAt\":\"$EXPC\"}" "GET shows properties.vmrpRetentionLock"
arm PUT "$L/rpC?$CV" '{"properties":{"vmrpRetentionLock":{"mode":"Compliance","expiresAt":"'$EXPC'"}}}'
expect 200 "" "the same PUT again is an idempotent repeat"
arm PUT "$L/rpC?$CV" '{"properties":{"vmrpRetentionLock":{"mode":"Compliance","expiresAt":"'$FUT'"}}}'
expect 409 OperationNotAllowed "a repeated PUT asking for a longer lock is refused (vmrpSetRetentionLock extends)"
arm GET "$L/rpC/diskRestorePoints?$DV"
DRP_C=$(echo "$BODY" | jq -r '.value[0].id')
nbdcopy --flush "$VAR/B.img" "$OSURI" # from here on only rpC (and its copy) hold A
arm PUT "$L/rpX?$CV" '{"properties":{"vmrpRetentionLock":{"mode":"Governance","expiresAt":"'$EXPC'"}}}'
wait_op
arm PUT "$L/rpG?$CV" '{"properties":{"vmrpRetentionLock":{"mode":"Governance","expiresAt":"'$FUT'"}}}'
wait_op
check test "$OP_STATUS" = Succeeded "two more restore points with Governance locks (rpX until $EXPC, rpG an hour)"

# the az CLI (its SDK model has no such member) keeps working; in the background, timed below
( set +e
  az_login "$EAST" >/dev/null 2>&1
  az restore-point show -g imm --collection-name c1 -n rpC -o json > "$VAR/az-show.json" 2>"$VAR/az-show.err"
  az restore-point delete -g imm --collection-name c1 -n rpC --yes > "$VAR/az-del.out" 2>&1
  echo $? > "$VAR/az-del.rc"
  az resource show --ids "$RPC_ID" --api-version 2024-07-01 --query properties.vmrpRetentionLock.mode -o tsv \
    > "$VAR/az-res.out" 2>&1 ) &
AZ=$!
NODE_EXTRA_CA_CERTS=$CA node "$VMRP_SRC/tests/clients/retention-lock.mjs" "$ENDPOINTS" eastus imm c1 rpC \
  > "$VAR/sdk.out" 2>&1 &
SDK=$!

# ---- deletes refused, by an Owner, through every route -----------------------------
before_e=$(store_dump eastus); before_w=$(store_dump westus)
refused() { # DESCRIPTION
  if [ "$STATUS/$(code_of)" = 409/RestorePointRetentionLocked ] && echo "$BODY" | jq -r .error.message | grep -q "$RPC_ID' has a Compliance retention lock until $EXPC"; then
    ok "$1 → 409 RestorePointRetentionLocked"
  else fail "$1"; fi
}
arm DELETE "$L/rpC?$CV"; refused "DELETE the restore point"
echo "   $(echo "$BODY" | jq -r .error.message)"
arm DELETE "$RPC?$CV"; refused "DELETE its collection"
arm DELETE "$C/virtualMachines/vm1?$CV"; refused "DELETE the VM it was taken of"
arm DELETE "$EAST$G?$GV"; refused "DELETE the resource group"
TOKEN=$WTOKEN arm DELETE "$WEST$P/restorePointCollections/c1/restorePoints/rpC?$CV"; refused "DELETE the restore point sent to westus (forwarded)"
TOKEN=$WTOKEN arm DELETE "$WEST$P/virtualMachines/vm1?$CV"; refused "DELETE the VM sent to westus (forwarded)"
TOKEN=$WTOKEN arm DELETE "$WEST$G?$GV"; refused "DELETE the resource group sent to westus"
arm PUT "$EAST$G/providers/Microsoft.Resources/deployments/wipe?$GV" '{"properties":{"mode":"Complete","template":{'"$DEP_SCHEMA"',"resources":[]}}}'
wait_dep "$(header Azure-AsyncOperation)"
arm GET "$EAST$G/providers/Microsoft.Resources/deployments/wipe/operations?$GV"
check test "$DEP_STATUS/$(echo "$BODY" | jq '[.value[].properties | select(.provisioningOperation == "Delete") | .statusMessage.error.code // .statusMessage.code] | map(select(. == "RestorePointRetentionLocked")) | length > 0')" = Failed/true \
  "a Complete-mode deployment of an empty template fails: its deletes answer RestorePointRetentionLocked"
check test "$(store_dump eastus)/$(store_dump westus)" = "$before_e/$before_w" "nothing was deleted or changed in either region"
if meta_sql eastus "DELETE FROM resources WHERE id = '$RPC_ID'" 2>"$VAR/sql.err"; then fail "a direct DELETE of the row"; else
  check grep -q "retention lock" "$VAR/sql.err" "the database itself refuses to delete the locked restore point's row ($(cat "$VAR/sql.err"))"; fi
if meta_sql eastus "DELETE FROM resources WHERE id = '$DRP_C'" 2>"$VAR/sql.err"; then fail "a direct DELETE of the disk restore point"; else
  check grep -q "retention lock" "$VAR/sql.err" "and its disk restore point's (whose image the GC keeps)"; fi

# ---- vmrpSetRetentionLock ---------------------------------------------------------------
setlock() { arm POST "$L/$1/vmrpSetRetentionLock?$CV" "$2"; }
before=$(store_dump eastus)
setlock rpG '{"mode":"Governance","expiresAt":"'"$(iso $((T0 + 1800)))"'"}'
expect 409 RetentionLockNotWeakened "shortening a Governance lock"
setlock rpC '{"mode":"Governance","expiresAt":"'$EXPC'"}'
expect 409 RetentionLockNotWeakened "Compliance → Governance"
setlock rpC '{"mode":"None"}'
expect 409 RetentionLockNotWeakened "removing a Compliance lock, as an Owner"
TOKEN=$CTOKEN setlock rpG '{"mode":"None"}'
expect 403 AuthorizationFailed "removing a Governance lock as a Contributor"
setlock rpG '{"mode":"None","expiresAt":"'$FUT'"}'
expect 400 InvalidParameter "mode None with an expiresAt"
setlock rpG '{}'
expect 400 InvalidParameter "no mode"
setlock rpG '{"mode":"Governance","expiresAt":"soon"}'
expect 400 InvalidParameter "expiresAt not a time"
setlock rpG '{"mode":"Governance","expiresAt":"'$FUT'","by":"me"}'
expect 400 InvalidParameter "an unknown member"
setlock rpG ''
expect 400 InvalidRequestContent "no body"
setlock nope '{"mode":"Governance","expiresAt":"'$FUT'"}'
expect 404 NotFound "a restore point that does not exist"
check test "$(store_dump eastus)" = "$before" "nothing changed"
EXT_G=$(iso $((T0 + 7200)))
TOKEN=$CTOKEN setlock rpG '{"mode":"Governance","expiresAt":"'$EXT_G'"}'
check test "$STATUS/$(echo "$BODY" | jq -r .vmrpRetentionLock.expiresAt)" = "200/$EXT_G" "a Contributor extends a Governance lock"
setlock rpX '{"mode":"Compliance","expiresAt":"'$EXPC'"}'
check test "$STATUS/$(echo "$BODY" | jq -r .vmrpRetentionLock.mode)" = 200/Compliance "Governance → Compliance"
setlock rpX '{"mode":"None"}'
expect 409 RetentionLockNotWeakened "which then cannot be removed"
setlock rpG '{"mode":"None"}'
expect 200 "" "an Owner removes a Governance lock"
arm GET "$L/rpG?$CV"
check test "$(lock_of)" = null "it is gone from the restore point"
arm DELETE "$L/rpG?$CV"
wait_op
check test "$OP_STATUS" = Succeeded "and the restore point can be deleted"

# ---- the copy in westus ---------------------------------------------------------------------
arm PUT "$C/restorePointCollections/dst?$CV" '{"location":"westus","properties":{"source":{"id":"'$P'/restorePointCollections/c1"}}}'
expect 201 "" "a westus collection whose source is c1"
arm PUT "$C/restorePointCollections/dst/restorePoints/cpC?$CV" '{"properties":{"sourceRestorePoint":{"id":"'$RPC_ID'"}}}'
check test "$STATUS/$(lock_of)" = "201/{\"mode\":\"Compliance\",\"expiresAt\":\"$EXPC\"}" "a copy of rpC carries its lock"
wait_op
check test "$OP_STATUS" = Succeeded "the copy is Succeeded"
CP=$P/restorePointCollections/dst/restorePoints/cpC
TOKEN=$WTOKEN arm DELETE "$WEST$CP?$CV"
expect 409 RestorePointRetentionLocked "DELETE the copy in its region (westus) by an Owner"
TOKEN=$WTOKEN arm DELETE "$WEST$P/restorePointCollections/dst?$CV"
expect 409 RestorePointRetentionLocked "DELETE its collection in westus"
arm DELETE "$EAST$CP?$CV"
expect 409 RestorePointRetentionLocked "DELETE the copy sent to eastus (forwarded)"
# cross-region creation: a westus collection of an eastus VM (vm2, nothing locked in eastus)
arm PUT "$C/disks/os2?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
wait_op
arm PUT "$C/virtualMachines/vm2?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},
  "storageProfile":{"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"'$P'/disks/os2"}}}}}'
wait_op
arm PUT "$C/restorePointCollections/xr?$CV" '{"location":"westus","properties":{"source":{"id":"'$P'/virtualMachines/vm2"}}}'
arm PUT "$C/restorePointCollections/xr/restorePoints/x1?$CV" '{"properties":{"vmrpRetentionLock":{"mode":"Governance","expiresAt":"'$EXPC'"}}}'
check test "$STATUS/$(lock_of)" = "201/{\"mode\":\"Governance\",\"expiresAt\":\"$EXPC\"}" "a locked restore point of an eastus VM created in westus"
wait_op
arm GET "$C/restorePointCollections/vmrp-xr-westus-vm2?$CV&\$expand=restorePoints"
check test "$OP_STATUS/$(echo "$BODY" | jq '.properties.restorePoints | length')" = Succeeded/0 \
  "it is Succeeded, and eastus released its capture (which was made without the lock)"
arm DELETE "$C/virtualMachines/vm2?$CV"
names=$(echo "$BODY" | jq -r .error.message | grep -c "/restorePointCollections/xr/restorePoints/x1. has a Governance" || true)
check test "$STATUS/$(code_of)/$names" = 409/RestorePointRetentionLocked/1 \
  "DELETE of that VM in eastus is refused: its collection in westus holds the locked restore point"
EXT=$(iso $((T0 + 75)))
setlock rpC '{"mode":"Compliance","expiresAt":"'$EXT'"}'
check test "$STATUS/$(echo "$BODY" | jq -c '[.copies[] | {id, status}]')" = "200/[{\"id\":\"$CP\",\"status\":\"Applied\"}]" \
  "extending rpC's lock to $EXT is applied to its copy"
TOKEN=$WTOKEN arm GET "$WEST$CP?$CV"
check test "$(echo "$BODY" | jq -r .properties.vmrpRetentionLock.expiresAt)" = "$EXT" "the copy's lock in westus ends at $EXT"

wait "$AZ" || true # before a region is killed under it
sdk_rc=0; wait "$SDK" || sdk_rc=$?
grep "^ok - " "$VAR/sdk.out" || true
check test "$sdk_rc/$(grep -c "^ok - " "$VAR/sdk.out")" = 0/3 "the JS SDK: typed get works, typed delete 409, generic get shows the lock$( [ "$sdk_rc" = 0 ] || tail -n 5 "$VAR/sdk.out")"
check test "$(cat "$VAR/az-res.out")" = Compliance "az resource show --ids shows properties.vmrpRetentionLock"
check test "$(jq -r .name "$VAR/az-show.json" 2>/dev/null)/$(jq -r .provisioningState "$VAR/az-show.json" 2>/dev/null)" = rpC/Succeeded \
  "az restore-point show of the locked restore point works"
check test "$(cat "$VAR/az-del.rc")" != 0 "az restore-point delete fails"
check grep -q RestorePointRetentionLocked "$VAR/az-del.out" "with RestorePointRetentionLocked ($(grep -o "Message: .*" "$VAR/az-del.out" | head -c 160))"

# durable: the extension survives kill -9 of the region that answered it
kill9_region eastus; restart_region eastus
arm GET "$L/rpC?$CV"
check test "$(lock_of)" = "{\"mode\":\"Compliance\",\"expiresAt\":\"$EXT\"}" "after kill -9 and a restart of eastus the extension is there"
arm DELETE "$L/rpC?$CV"
expect 409 RestorePointRetentionLocked "and DELETE is still refused"
# the copy's region down: the answer says so; sent again once it is back, it is applied
EXT2=$(iso $((T0 + 80)))
kill9_region westus
setlock rpC '{"mode":"Compliance","expiresAt":"'$EXT2'"}'
check test "$STATUS/$(echo "$BODY" | jq -c '[.copies[] | {region, status, code: .error.code}]')" = \
  '200/[{"region":"westus","status":"Failed","code":"RegionUnavailable"}]' "an extension while westus is down: 200, the copies' region named as not reached"
restart_region westus
setlock rpC '{"mode":"Compliance","expiresAt":"'$EXT2'"}'
check test "$STATUS/$(echo "$BODY" | jq -c '[.copies[] | {id, status}]')" = "200/[{\"id\":\"$CP\",\"status\":\"Applied\"}]" \
  "sent again once westus is back: applied to the copy"
TOKEN=$WTOKEN arm GET "$WEST$CP?$CV"
check test "$(echo "$BODY" | jq -r .properties.vmrpRetentionLock.expiresAt)" = "$EXT2" "the copy's lock ends at $EXT2"
setlock rpC '{"mode":"Compliance","expiresAt":"'$EXT2'"}'
check test "$STATUS/$(echo "$BODY" | jq -c '[.copies[] | .status]')" = '200/["Unchanged"]' "a third time: Unchanged"
EXT=$EXT2

# ---- GC while locked: every object kept, the data read back byte for byte -------------
store_op() { # BASE TOKEN storeGc|storeVerify → the result in $BODY
  TOKEN=$2 arm POST "$1/subscriptions/$SUB/providers/Microsoft.Vmrp/$3?$GV"
  local loc; loc=$(header Location)
  for _ in $(seq 600); do TOKEN=$2 arm GET "$loc"; [ "$STATUS" != 202 ] && break; sleep 0.1; done
}
readback() { # BASE TOKEN DRP_ID OUT
  local uri; uri=$(TOKEN=$2 nbd_uri "$1$3")
  nbdcopy "$uri" "$4"
}
for r in eastus westus; do
  [ $r = eastus ] && { base=$EAST; tok=$OWNER; } || { base=$WEST; tok=$WTOKEN; }
  store_op "$base" "$tok" storeGc
  check test "$STATUS" = 200 "a GC in $r while locked ($(echo "$BODY" | jq -c '{liveObjects,deadObjects,bytesFreed}'))"
  store_op "$base" "$tok" storeVerify
  check test "$(echo "$BODY" | jq -r .clean)" = true "and $r verifies clean ($(echo "$BODY" | jq -c '{objectsChecked,badRecords}'))"
done
readback "$EAST" "$OWNER" "$DRP_C" "$VAR/rpC.img"
check cmp "$VAR/A.img" "$VAR/rpC.img" "rpC's disk restore point reads back byte for byte after the GC"
TOKEN=$WTOKEN arm GET "$WEST$CP/diskRestorePoints?$DV"
readback "$WEST" "$WTOKEN" "$(echo "$BODY" | jq -r '.value[0].id')" "$VAR/cpC.img"
check cmp "$VAR/A.img" "$VAR/cpC.img" "and so does its copy in westus"


# ---- after expiry ---------------------------------------------------------------------------
while [ "$(date +%s)" -le $((T0 + 81)) ]; do sleep 0.5; done
arm PUT "$L/rpX?$CV" '{"properties":{"vmrpRetentionLock":{"mode":"Governance","expiresAt":"'$EXPC'"}}}'
expect 200 "" "rpX's PUT sent again after its lock ended (a policy's slot after a restart): an idempotent repeat"
arm DELETE "$L/rpC?$CV"
expect 202 "" "after $EXT, DELETE of rpC is accepted"
wait_op
check test "$OP_STATUS" = Succeeded "and done"
TOKEN=$WTOKEN arm DELETE "$WEST$CP?$CV"
wait_op
check test "$OP_STATUS" = Succeeded "and its copy in westus"
for r in eastus westus; do
  [ $r = eastus ] && { base=$EAST; tok=$OWNER; } || { base=$WEST; tok=$WTOKEN; }
  store_op "$base" "$tok" storeGc
  check test "$(echo "$BODY" | jq '.deadObjects > 0 and .bytesFreed > 0')" = true \
    "the GC in $r then frees its data ($(echo "$BODY" | jq -c '{liveObjects,deadObjects,bytesFreed}'))"
  store_op "$base" "$tok" storeVerify
  check test "$(echo "$BODY" | jq -r .clean)" = true "and $r verifies clean"
done
arm DELETE "$EAST$G?$GV"
expect 202 "" "DELETE of the resource group (the VM, its collection, rpX with an expired lock) is accepted"
for _ in $(seq 300); do arm GET "$EAST$G?$GV"; [ "$STATUS" = 404 ] && break; sleep 0.1; done
expect 404 ResourceGroupNotFound "and the group is gone"
finish
