#!/usr/bin/env bash
# ARM locks and the protection policy scheduler, which makes and deletes
# restore points through arm_dispatch as the policy's actor: its requests are
# judged by the locks like a client's.  One slot of a one-minute policy over
# two VMs whose collections (made by hand, tagged as the policy makes them)
# are locked:
#  - vm1's collection ReadOnly: the slot's restore point PUT is refused, the
#    instance view's lastError is ScopeLocked, no restore point is made;
#  - vm2's collection CanNotDelete holding an older slot's restore point: the
#    slot's restore point is made, retention (keepLast 1) would remove the
#    older one, its DELETE is refused with ScopeLocked and skipped (reported
#    in retentionConflicts), the restore point stays;
#  - under the group's ReadOnly, previewRetention (a POST that reads) answers
#    and the policy cannot be changed.
. "$VMRP_SRC/tests/lib/harness.sh"
start_regions
TOKEN=$(token "$EAST")
PV=api-version=2026-12-01
CV=api-version=2024-07-01
DV=api-version=2024-03-02
LV=api-version=2016-09-01
G=/subscriptions/$SUB/resourceGroups/lp
C=$G/providers/Microsoft.Compute
PID=$G/providers/Microsoft.Vmrp/protectionPolicies/pl
L=providers/Microsoft.Authorization/locks

arm PUT "$EAST$G?api-version=2021-04-01" '{"location":"eastus"}'
for v in vm1 vm2; do
  arm PUT "$EAST$C/disks/$v-os?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
  wait_op 1200
  arm PUT "$EAST$C/virtualMachines/$v?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},
    "storageProfile":{"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"'$C'/disks/'$v'-os"}}}}}'
  wait_op 1200
  arm PUT "$EAST$C/restorePointCollections/pp-pl-$v?$CV" \
    '{"location":"eastus","tags":{"vmrp-policy":"'$PID'"},"properties":{"source":{"id":"'$C'/virtualMachines/'$v'"}}}'
done
OLD=$(date -u -d "@$(( $(date +%s) / 60 * 60 - 3600 ))" +%Y%m%dT%H%M%SZ)
arm PUT "$EAST$C/restorePointCollections/pp-pl-vm2/restorePoints/$OLD?$CV" '{}'
wait_op 1200
check test "$OP_STATUS" = Succeeded "two VMs, their collections as the policy names and tags them, an older slot's restore point of vm2"

M1=$(( ($(date +%s) + 10 + 59) / 60 * 60 ))
START=$(date -u -d "@$M1" +%Y-%m-%dT%H:%M:%SZ)
SLOT=$(date -u -d "@$M1" +%Y%m%dT%H%M%SZ)
arm PUT "$EAST$PID?$PV" '{"location":"eastus","properties":{"virtualMachines":["'$C'/virtualMachines/vm1","'$C'/virtualMachines/vm2"],
  "schedules":["R/'$START'/PT1M"],"spreadWindow":"PT5S","retention":{"keepLast":1}}}'
expect 201 "" "a one-minute policy over both, its first slot at $START"
arm PUT "$EAST$C/restorePointCollections/pp-pl-vm1/$L/ro?$LV" '{"properties":{"level":"ReadOnly"}}'
expect 201 "" "vm1's collection ReadOnly"
arm PUT "$EAST$C/restorePointCollections/pp-pl-vm2/$L/keep?$LV" '{"properties":{"level":"CanNotDelete"}}'
expect 201 "" "vm2's collection CanNotDelete"

view_vm() { # VM: its entry of the instance view in $VIEW
  arm GET "$EAST$PID/instanceView?$PV"
  VIEW=$(echo "$BODY" | jq -c --arg v "$1" '.virtualMachines[] | select(.vmId | endswith("/" + $v))')
}
for _ in $(seq 120); do # the slot, its spread and its retention
  view_vm vm1; e1=$(echo "$VIEW" | jq -r '.lastError.code // empty')
  view_vm vm2; c2=$(echo "$VIEW" | jq -r '[.retentionConflicts[]] | length')
  [ -n "$e1" ] && [ "$c2" -gt 0 ] && break
  [ "$(date +%s)" -gt $(( M1 + 90 )) ] && break
  sleep 1
done
view_vm vm1
check test "$(echo "$VIEW" | jq -r .lastError.code)" = ScopeLocked "vm1: the scheduler's restore point PUT was refused: lastError ScopeLocked"
arm GET "$EAST$C/restorePointCollections/pp-pl-vm1/restorePoints/$SLOT?$CV"
expect 404 "" "vm1: no restore point of the slot"
arm GET "$EAST$C/restorePointCollections/pp-pl-vm2/restorePoints/$SLOT?$CV"
check test "$STATUS/$(echo "$BODY" | jq -r .properties.provisioningState)" = 200/Succeeded "vm2: the slot's restore point was made (CanNotDelete lets it)"
view_vm vm2
check test "$(echo "$VIEW" | jq -r --arg id "$C/restorePointCollections/pp-pl-vm2/restorePoints/$OLD" \
  '[.retentionConflicts[] | select(.id == $id) | .code] | join(",")')" = ScopeLocked \
  "vm2: retention's DELETE of the older one refused with ScopeLocked, reported in retentionConflicts"
arm GET "$EAST$C/restorePointCollections/pp-pl-vm2/restorePoints/$OLD?$CV"
expect 200 "" "vm2: the older restore point stays"
arm PUT "$EAST$G/$L/ro?$LV" '{"properties":{"level":"ReadOnly"}}'
arm POST "$EAST$PID/previewRetention?$PV"
check test "$STATUS/$(echo "$BODY" | jq -r '.regions.eastus.skipped | type')" = 200/array "the group ReadOnly: previewRetention (read-only) answers"
arm PATCH "$EAST$PID?$PV" '{"tags":{"x":"y"}}'
expect 409 ScopeLocked "and the policy cannot be changed"
finish
