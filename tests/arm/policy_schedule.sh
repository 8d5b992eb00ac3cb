#!/usr/bin/env bash
# The protection policies' scheduler (docs/policies.md "The scheduler"), two
# real regions: a policy per region at a one-minute cadence (R/<start>/PT1M,
# a 10 s spread), eastus protecting vm1 (by id) and vm2 (by tag), westus
# protecting vmw, each copying to the other region.  Timeline, slots M1..M4:
#  - M1: eastus killed (-9) in the middle of a slot — right after a restore
#    point PUT, before the slot's state is written (failpoint
#    policy.slot.after_put=crash) — and started again at once: the slot
#    adopts its restore point, none is made twice, the slot completes;
#  - M2: a normal slot in both regions;
#  - after M2, eastus stopped gracefully and started again after M4 is due:
#    M3 is missed (counted once in missedSlots, never replayed), M4 taken;
#    westus's copies into eastus fail meanwhile and arrive afterwards;
#  - then: every slot taken exactly once (restore point names are slot
#    times, one creation each, no gap but the missed slot), copies in the
#    target regions, retention (keepLast 2 in eastus and for copies, 3 in
#    westus) removed exactly the oldest, the instance view's ages equal to
#    the ages measured from the restore points (±3 s), nextSlot, missedSlots;
#    westus's 2-minute RPO target for its copies in eastus exceeded once while
#    eastus was down (RpoExceeded), then met again.
. "$VMRP_SRC/tests/lib/harness.sh"
export VMRP_CONFIG_EXTRA='[copy]\nper_hour = 0\n[testing]\nfailpoints = on'
export VMRP_FAILPOINTS=policy.backoff_s=5 # first retry after 5 s, not 30, in both regions and across restarts
start_regions
TOKEN=$(token "$EAST")
PV=api-version=2026-12-01
CV=api-version=2024-07-01
DV=api-version=2024-03-02
GV=api-version=2021-04-01
FV=api-version=2024-03-02
G=/subscriptions/$SUB/resourceGroups/ps
C=$G/providers/Microsoft.Compute
P=$G/providers/Microsoft.Vmrp/protectionPolicies
T0=$(date +%s)

arm PUT "$EAST$G?$GV" '{"location":"eastus"}'
expect 201 "" "a resource group (both regions')"
vm() { # REGION NAME [TAGS]: a VM on an empty 1 GiB disk
  arm PUT "$EAST$C/disks/$2-os?$DV" '{"location":"'$1'","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
  wait_op 1200
  arm PUT "$EAST$C/virtualMachines/$2?$CV" '{"location":"'$1'","tags":'"${3:-{\}}"',"properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},
    "storageProfile":{"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"'$C'/disks/'$2'-os"}}}}}'
  wait_op 1200
  check test "$OP_STATUS" = Succeeded "VM $2 in $1"
}
vm eastus vm1
vm eastus vm2 '{"protect":"yes"}'
vm westus vmw

# The first slot M1 is the next minute that leaves 15 s for the policies.
M1=$(( ($(date +%s) + 15 + 59) / 60 * 60 ))
START=$(date -u -d "@$M1" +%Y-%m-%dT%H:%M:%SZ)
slot() { date -u -d "@$(( M1 + 60 * ($1 - 1) ))" +%Y%m%dT%H%M%SZ; } # slot N's restore point name
doc() { # LOCATION COPY-REGION SELECTION KEEP RPO-TARGET
  echo '{"location":"'$1'","properties":{'"$3"',"schedules":["R/'$START'/PT1M"],"spreadWindow":"PT10S",
  "retention":{"keepLast":'$4'},"copies":[{"region":"'$2'","retention":{"keepLast":2}}],"rpoTarget":"'$5'"}}'
}
arm PUT "$EAST$P/pe?$PV" "$(doc eastus westus '"virtualMachines":["'$C'/virtualMachines/vm1"],"vmTagSelector":{"protect":"yes"}' 2 PT3M)"
expect 201 "" "policy pe in eastus: vm1 by id, vm2 by tag, copies to westus"
arm PUT "$EAST$P/pw?$PV" "$(doc westus eastus '"virtualMachines":["'$C'/virtualMachines/vmw"]' 3 PT2M)"
expect 201 "" "policy pw in westus (sent to eastus): vmw, copies to eastus"

view() { # POLICY: its instance view in $BODY
  arm GET "$EAST$P/$1/instanceView?$PV"
}
sleep 2
view pe
check test "$(echo "$BODY" | jq -r '[.virtualMachines[].vmId | split("/")[-1]] | sort | join(",")')" = vm1,vm2 \
  "pe's members: vm1 (id) and vm2 (tag selector)"
check test "$(echo "$BODY" | jq -r '[.virtualMachines[].nextSlot] | unique | join(",")')" = "$(date -u -d "@$M1" +%Y-%m-%dT%H:%M:%S.0000000+00:00)" \
  "each VM's next slot is M1"

# ---- M1: kill -9 in the middle of eastus's slot ----------------------------
arm PUT "$EAST/providers/Microsoft.Vmrp/failpoints?$FV" '{"spec":"policy.slot.after_put=crashx1"}'
expect 200 "" "eastus dies right after its next restore point PUT"
PID=$(region_pid eastus)
while kill -0 "$PID" 2>/dev/null && [ "$(date +%s)" -lt $(( M1 + 40 )) ]; do sleep 0.2; done
check bash -c "! kill -0 $PID 2>/dev/null" "eastus died in slot M1 ($(( $(date +%s) - M1 )) s after it)"
restart_region eastus
echo "eastus back $(( $(date +%s) - M1 )) s after M1"
TOKEN=$(token "$EAST")

wait_rp() { # BASE COLLECTION NAME TRIES: until the restore point Succeeded
  local i
  for i in $(seq "$4"); do
    arm GET "$1$C/restorePointCollections/$2/restorePoints/$3?$CV"
    [ "$(echo "$BODY" | jq -r .properties.provisioningState 2>/dev/null)" = Succeeded ] && return 0
    sleep 1
  done
  return 1
}
for v in vm1 vm2; do
  check wait_rp "$EAST" "pp-pe-$v" "$(slot 1)" 60 "M1's restore point of $v Succeeded after the kill ($(slot 1))"
done
check wait_rp "$WEST" pp-pw-vmw "$(slot 1)" 60 "M1's restore point of vmw (westus)"

# ---- M2, then a graceful stop over M3 and M4 ------------------------------
sleep $(( M1 + 60 - $(date +%s) > 0 ? M1 + 60 - $(date +%s) : 0 ))
for v in vm1 vm2; do
  check wait_rp "$EAST" "pp-pe-$v" "$(slot 2)" 40 "M2's restore point of $v"
done
for v in vm1 vm2; do
  check wait_rp "$WEST" "pp-pe-$v-westus" "$(slot 2)" 60 "M2's copy of $v in westus"
done
PID=$(region_pid eastus)
kill -TERM "$PID"
for _ in $(seq 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
check bash -c "! kill -0 $PID 2>/dev/null" "eastus stopped gracefully ($(( $(date +%s) - M1 - 60 )) s after M2)"
sleep $(( M1 + 180 + 12 - $(date +%s) > 0 ? M1 + 180 + 12 - $(date +%s) : 0 )) # M4 and its spread are due
restart_region eastus
echo "eastus back $(( $(date +%s) - M1 - 180 )) s after M4"
TOKEN=$(token "$EAST")
for v in vm1 vm2; do
  check wait_rp "$EAST" "pp-pe-$v" "$(slot 4)" 40 "M4's restore point of $v, taken after the restart"
done

# ---- copies arrive, retention ran -----------------------------------------
wait_copy() { # BASE COLLECTION NAME: the copy Succeeded
  wait_rp "$1" "$2" "$3" 90
}
for v in vm1 vm2; do
  check wait_copy "$WEST" "pp-pe-$v-westus" "$(slot 4)" "M4's copy of $v arrived in westus"
done
check wait_copy "$EAST" pp-pw-vmw-eastus "$(slot 4)" "M4's copy of vmw arrived in eastus (its copies failed while eastus was down)"
sleep 3 # the scheduler's retention after the last copy
names() { # BASE COLLECTION: its restore points' names, sorted
  arm GET "$1$C/restorePointCollections/$2?$CV&\$expand=restorePoints"
  echo "$BODY" | jq -r '[.properties.restorePoints[].name] | sort | join(",")'
}
for v in vm1 vm2; do
  got=$(names "$EAST" "pp-pe-$v")
  check test "$got" = "$(slot 2),$(slot 4)" "eastus $v: keepLast 2 of M1, M2, M4 kept M2 and M4 (M3 missed): $got"
  got=$(names "$WEST" "pp-pe-$v-westus")
  check test "$got" = "$(slot 2),$(slot 4)" "its copies in westus: keepLast 2 kept M2 and M4: $got"
done
got=$(names "$WEST" pp-pw-vmw)
check test "$got" = "$(slot 2),$(slot 3),$(slot 4)" "westus vmw: keepLast 3 of M1..M4 kept M2, M3, M4: $got"
got=$(names "$EAST" pp-pw-vmw-eastus)
check bash -c "[[ '$got' == *'$(slot 4)' ]] && [ $(tr ',' '\n' <<<"$got" | wc -l) -le 2 ]" "vmw's copies in eastus: M4 and at most one more ($got)"
arm GET "$EAST$C/restorePointCollections/pp-pe-vm1?$CV"
check test "$(echo "$BODY" | jq -r '.tags["vmrp-policy"] | ascii_downcase')" = "$(echo "$P/pe" | tr 'A-Z' 'a-z')" \
  "the collection is tagged with its policy's id"

# ---- every slot exactly once ------------------------------------------------
# Each restore point a slot made Succeeded once (the scheduler logs each);
# the one the kill interrupted was adopted after the restart, not made again
# under another name; no restore point of a policy's collection is named
# other than a slot.
succeeded() { grep -h "restore point .*/$1/restorePoints/$2 Succeeded" "$VAR"/*/vmrpd.log | wc -l; }
for v in vm1 vm2; do
  for n in 1 2 4; do
    check test "$(succeeded "pp-pe-$v" "$(slot $n)")" = 1 "$v slot M$n: one restore point, Succeeded once"
  done
  check test "$(succeeded "pp-pe-$v" "$(slot 3)")" = 0 "$v slot M3 (eastus down): none"
done
for n in 1 2 3 4; do
  check test "$(succeeded pp-pw-vmw "$(slot $n)")" = 1 "vmw slot M$n: one restore point, Succeeded once"
done
check test "$(grep -hc 'exists (adopted)' "$VAR"/eastus/vmrpd.log)" -ge 1 "after the kill, a slot's restore point PUT before it was adopted"
check test "$(sqlite3 "$VAR/eastus/meta.db" "SELECT count(*) FROM resources WHERE type = 'Microsoft.Compute/restorePointCollections/restorePoints' AND name NOT GLOB '2[0-9][0-9][0-9][01][0-9][0-3][0-9]T[0-2][0-9][0-5][0-9]00Z'")" = 0 \
  "every restore point in eastus is named after a slot"

# ---- the instance view --------------------------------------------------------
age_of() { # BASE RP-ID: its age when the view was made ($AT, this clock's), from its own timeCreated
  arm GET "$1$2?$CV"
  echo $(( AT - $(date -d "$(echo "$BODY" | jq -r .properties.timeCreated)" +%s) ))
}
view_at() { # the instance view in $BODY was made now: its time and this clock agree (±2 s); sets AT
  AT=$(date +%s)
  local t; t=$(date -d "$(echo "$BODY" | jq -r .time)" +%s)
  [ "$t" -ge $(( AT - 2 )) ] && [ "$t" -le $(( AT + 2 )) ]
}
near() { local d=$(( $1 - $2 )); [ "${d#-}" -le 3 ]; }
view pe
check view_at "the view of pe was made now"
IV=$BODY
for v in vm1 vm2; do
  e=$(echo "$IV" | jq -c --arg v "$v" '.virtualMachines[] | select(.vmId | endswith("/" + $v))')
  check test "$(echo "$e" | jq -r .missedSlots)" = 1 "$v: missedSlots 1 (M3)"
  check test "$(echo "$e" | jq -r '.lastRestorePoint.id | split("/")[-1]')" = "$(slot 4)" "$v: lastRestorePoint is M4's"
  rp=$(echo "$e" | jq -r .lastRestorePoint.id); shown=$(echo "$e" | jq -r .lastRestorePoint.ageSeconds)
  measured=$(age_of "$EAST" "$rp")
  check near "$shown" "$measured" "$v: lastRestorePoint.ageSeconds $shown = measured $measured (±3 s)"
  check test "$(echo "$e" | jq -r .rpoSeconds)" -le "$(( measured + 3 ))" "$v: rpoSeconds of eastus is that age"
  copy=$(echo "$e" | jq -c '.copies[] | select(.region == "westus")')
  check test "$(echo "$copy" | jq -r '.newestCopy.id | split("/")[-1]')" = "$(slot 4)" "$v: newest copy in westus is M4's"
  shown=$(echo "$copy" | jq -r .newestCopy.ageSeconds)
  check near "$shown" "$measured" "$v: the westus copy's age $shown (its source's time) = measured $measured (±3 s)"
  check test "$(echo "$e" | jq -r .nextSlot)" = "$(date -u -d "@$(( M1 + 240 ))" +%Y-%m-%dT%H:%M:%S.0000000+00:00)" \
    "$v: nextSlot is M5"
done
view pw
check view_at "the view of pw was made now"
e=$(echo "$BODY" | jq -c '.virtualMachines[0]')
check test "$(echo "$e" | jq -r .missedSlots)" = 0 "vmw: no slot missed"
rp=$(echo "$e" | jq -r .lastRestorePoint.id); shown=$(echo "$e" | jq -r .lastRestorePoint.ageSeconds)
measured=$(age_of "$EAST" "$rp")
check near "$shown" "$measured" "vmw: lastRestorePoint.ageSeconds $shown = measured $measured (±3 s, read through eastus)"
check test "$(echo "$e" | jq -r '.copies[0].newestCopy.id | split("/")[-1]')" = "$(slot 4)" "vmw: newest copy in eastus is M4's"
# pw's target is 2 minutes: its copies stopped at M2's while eastus was down
# past M4, so the eastus copies breached it once, and recovered.
check test "$(grep -c "vmw: The newest copy in eastus is .* above the policy's target of 120 s" "$VAR/westus/vmrpd.log")" = 1 \
  "vmw: the RPO of eastus above pw's 2-minute target while eastus was down, reported once (RpoExceeded)"
check test "$(echo "$e" | jq -r '[.copies[0].rpoExceeded, .rpoExceeded] | join(",")')" = false,false "vmw: back under the target in both regions"

# ---- a deleted policy stops ---------------------------------------------------
arm DELETE "$EAST$P/pe?$PV"
expect 200 "" "policy pe deleted"
sleep 1
check test "$(sqlite3 "$VAR/eastus/meta.db" "SELECT count(*) FROM policy_vms WHERE policy_id LIKE '%/pe'")" = 0 \
  "its schedule is gone with it (no rows left)"
echo "wall time $(( $(date +%s) - T0 )) s"
finish
