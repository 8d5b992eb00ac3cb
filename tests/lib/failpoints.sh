# failpoints.sh — what the failpoint tests (tests/reliability/failpoints*.sh)
# share.  Source after harness.sh and start_regions; $TOKEN is eastus's.
# Sets $DV $CV, $FP (eastus's admin call), $RG $C $RGID (resource group fp),
# $NF (tests/lib/nbd_fault.py), $SPAN and SHA (restore point → the SHA-256
# of the first $SPAN bytes of the disk it holds, where every write of these
# tests lands).
NF=("/usr/bin/python3" "$VMRP_SRC/tests/lib/nbd_fault.py")
DV=api-version=2024-03-02
CV=api-version=2024-07-01
FP="$EAST/providers/Microsoft.Vmrp/failpoints?$DV"
RG=$EAST/subscriptions/$SUB/resourceGroups/fp
C=$RG/providers/Microsoft.Compute
RGID=/subscriptions/$SUB/resourceGroups/fp
SPAN=$((16 << 20))
declare -A SHA

store_op() { # storeGc|storeVerify → its result (or error) in $STATUS, $BODY
  arm POST "$EAST/subscriptions/$SUB/providers/Microsoft.Vmrp/$1?$DV"
  local loc; loc=$(header Location)
  for _ in $(seq 600); do arm GET "$loc"; [ "$STATUS" != 202 ] && break; sleep 0.1; done
}

fired() { # SITE → how often it fired (the admin call's GET)
  arm GET "$FP"
  echo "$BODY" | jq -r --arg s "$1" '.failpoints[] | select(.site == $s) | .fired'
}

# fp_vm: a VM vm1 with one 1 GiB disk os and its restore point collection
# ($RPC); "expect"s that the collection was made.
fp_vm() {
  arm PUT "$RG?api-version=2021-04-01" '{"location":"eastus"}'
  arm PUT "$C/disks/os?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
  wait_op
  arm PUT "$C/virtualMachines/vm1?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_D2s_v3"},
    "storageProfile":{"osDisk":{"osType":"Linux","name":"os","createOption":"Attach","managedDisk":{"id":"'$RGID'/providers/Microsoft.Compute/disks/os"}}}}}'
  wait_op
  arm PUT "$C/restorePointCollections/rpc?api-version=2022-08-01" \
    '{"location":"eastus","properties":{"source":{"id":"'$RGID'/providers/Microsoft.Compute/virtualMachines/vm1"}}}'
  expect 201 "" "a VM with one disk and its restore point collection"
  RPC=$C/restorePointCollections/rpc
}

take() { # NAME → OP_STATUS, SHA[NAME]; Succeeded only if its disk restore point reads back as the disk ($URI)
  arm PUT "$RPC/restorePoints/$1?$CV" '{}'
  wait_op
  [ "$OP_STATUS" = Succeeded ] || return 0
  arm GET "$RPC/restorePoints/$1/diskRestorePoints?$DV"
  local drp; drp=$(nbd_uri "$EAST$(echo "$BODY" | jq -r '.value[0].id')")
  SHA[$1]=$("${NF[@]}" sha "$URI" 0 $SPAN)
  [ "$("${NF[@]}" sha "$drp" 0 $SPAN)" = "${SHA[$1]}" ] || OP_STATUS="Succeeded, but its bytes differ from the disk's"
}
