#!/usr/bin/env bash
# A region on RADOS, end to end through ARM: eastus is restarted with
# [store] location = rados:pool=…,namespace=… (its own namespace in the test
# cluster's pool) before it holds any data, then
#  - a restore point of a VM is taken and a disk restored from it equals the
#    source byte for byte (nbdcopy + cmp), which the store's objects hold;
#  - kill -9 while a second restore point is being captured: the daemon
#    restarts on the same store (after the lease of its crashed lock), the
#    first restore point still restores byte for byte, a new one is taken;
#  - store GC after deleting a restore point, then storeVerify: clean, and
#    the kept restore point still restores byte for byte;
#  - a location whose pool does not exist, and one whose cluster does not
#    answer, fail the start with a clear error, within the connect timeout.
. "$VMRP_SRC/tests/lib/harness.sh"
: "${CEPH_CONF:?CEPH_CONF is not set: run under scripts/backends/ci-backends.sh}"
: "${VMRP_RADOS_POOL:?VMRP_RADOS_POOL is not set: run under scripts/backends/ci-backends.sh}"
command -v nbdcopy >/dev/null && command -v rados >/dev/null || { echo "libnbd-bin/ceph-common missing"; exit 1; }
start_regions
NS=$(basename "$VAR")/eastus
LOC="rados:pool=$VMRP_RADOS_POOL,namespace=$NS,conf=$CEPH_CONF,lease=5"
stop_east() {
  local pid; pid=$(region_pid eastus)
  kill "$pid"
  for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
  echo "eastus did not stop"; return 1
}
stop_east
rm -rf "$VAR/eastus/stores"/* # the directory store of the first start: unused from here on
cp "$EAST_CONF" "$VAR/east.conf.dir"
printf '[store]\nlocation = %s\n' "$LOC" >> "$EAST_CONF"
restart_region eastus
TOKEN=$(token "$EAST")
DV=api-version=2024-03-02
CV=api-version=2024-07-01
RG=$EAST/subscriptions/$SUB/resourceGroups/rados
C=$RG/providers/Microsoft.Compute
RGID=/subscriptions/$SUB/resourceGroups/rados
arm PUT "$RG?api-version=2021-04-01" '{"location":"eastus"}'

disk() { arm GET "$C/disks/$1?$DV"; }
wait_hydrated() {
  for _ in $(seq 600); do
    disk "$1"
    [ "$(echo "$BODY" | jq -r '.properties.vmrpExport.hydration.state // "none"')" = Hydrated ] && return 0
    sleep 0.1
  done
  return 1
}
restore_check() { # RP DISK FILE: restores DISK from RP's disk restore point, compares it with FILE
  arm GET "$RPC/restorePoints/$1/diskRestorePoints?$DV"
  local drp; drp=$(echo "$BODY" | jq -r '.value[0].id')
  arm PUT "$C/disks/$2?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Restore","sourceResourceId":"'"$drp"'"}}}'
  wait_op
  check test "$OP_STATUS" = Succeeded "disk $2 restored from $1"
  check wait_hydrated "$2" "disk $2 hydrates from the RADOS store"
  nbdcopy "$(nbd_uri "$C/disks/$2")" "$VAR/got.img"
  check cmp "$3" "$VAR/got.img" "disk $2 equals restore point $1 byte for byte"
}

# 1. A 1 GiB disk with 40 MiB of random data and 24 MiB of text (zstd's case),
#    its VM, a restore point, a restore.
arm PUT "$C/disks/src?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
wait_op
{ head -c 40M /dev/urandom; (yes 'vmrp on rados' || true) | head -c 24M; } > "$VAR/rp1.img"
truncate -s 1G "$VAR/rp1.img"
SRC=$(nbd_uri "$C/disks/src")
nbdcopy "$VAR/rp1.img" "$SRC"
OSDISK='{"osType":"Linux","name":"src","createOption":"Attach","managedDisk":{"id":"'$RGID'/providers/Microsoft.Compute/disks/src"}}'
arm PUT "$C/virtualMachines/vm1?$CV" \
  '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_D2s_v3"},"storageProfile":{"osDisk":'"$OSDISK"'}}}'
wait_op
check test "$OP_STATUS" = Succeeded "a VM with the disk"
RPC=$C/restorePointCollections/rpc
arm PUT "$RPC?api-version=2022-08-01" '{"location":"eastus","properties":{"source":{"id":"'$RGID'/providers/Microsoft.Compute/virtualMachines/vm1"}}}'
arm PUT "$RPC/restorePoints/rp1?$CV" '{}'
wait_op
check test "$OP_STATUS" = Succeeded "restore point rp1"
objs=$(rados -p "$VMRP_RADOS_POOL" --all ls | awk -F'\t' -v ns="$NS/" 'index($1, ns) == 1 && $2 ~ /^pack\./' | wc -l)
check test "$objs" -gt 0 "its packs are RADOS objects in the store's namespace ($objs)"
check test -z "$(find "$VAR/eastus/stores" -name '*.pack')" "and no pack is in the data directory"
restore_check rp1 r1 "$VAR/rp1.img"

# 2. kill -9 during a capture; the restart waits out the crashed lock's lease.
cp "$VAR/rp1.img" "$VAR/rp2.img"
head -c 16M /dev/urandom | dd of="$VAR/rp2.img" bs=1M seek=300 conv=notrunc status=none
nbdcopy "$VAR/rp2.img" "$SRC"
arm PUT "$RPC/restorePoints/rp2?$CV" '{}'
kill9_region eastus
t0=$(date +%s)
restart_region eastus
TOKEN=$(token "$EAST")
check test $(( $(date +%s) - t0 )) -lt 30 "the restart after kill -9 opens the store within its lease ($(( $(date +%s) - t0 )) s)"
arm GET "$RPC/restorePoints/rp2?$CV"
check test "$(echo "$BODY" | jq -r .properties.provisioningState)" = Failed "the interrupted restore point is Failed"
restore_check rp1 r2 "$VAR/rp1.img"
arm PUT "$RPC/restorePoints/rp3?$CV" '{}'
wait_op
check test "$OP_STATUS" = Succeeded "a restore point after the restart"
restore_check rp3 r3 "$VAR/rp2.img"

# 3. GC after deleting rp1 (its restored disks first), verify, rp3 intact.
for d in r1 r2; do arm DELETE "$C/disks/$d?$DV"; wait_op; done
arm DELETE "$RPC/restorePoints/rp1?$CV"
wait_op
check test "$OP_STATUS" = Succeeded "rp1 deleted"
store_op storeGc
expect 200 "" "a store GC on RADOS ($(echo "$BODY" | jq -c '{liveObjects,packsRewritten,packsDeleted,bytesFreed}'))"
store_op storeVerify
expect 200 "" "storeVerify on RADOS"
check test "$(echo "$BODY" | jq -r .clean)" = true "the store is clean after GC ($(echo "$BODY" | jq -c '{objectsChecked,badRecords}'))"
arm DELETE "$C/disks/r3?$DV"
wait_op
restore_check rp3 r4 "$VAR/rp2.img"

# 4. Bad locations fail the start, with a clear error, in bounded time.
stop_east
bad_start() { # LOCATION WHAT PATTERN
  cp "$VAR/east.conf.dir" "$EAST_CONF"
  printf '[store]\nlocation = %s\n' "$1" >> "$EAST_CONF"
  local t0 rc=0; t0=$(date +%s)
  timeout 60 "$VMRPD" -c "$EAST_CONF" >"$VAR/bad.log" 2>&1 || rc=$?
  check test "$rc" != 0 -a "$rc" != 124 "$2: vmrpd exits ($rc) after $(( $(date +%s) - t0 )) s"
  check grep -q "$3" "$VAR/bad.log" "$2: the log says why ($(grep -m1 "$3" "$VAR/bad.log" | sed 's/.*msg=//'))"
}
bad_start "rados:pool=vmrp-no-such-pool,conf=$CEPH_CONF" "a pool that does not exist" "no such pool"
printf '[global]\nmon_host = v2:127.0.0.1:9\nms_bind_msgr1 = false\n' > "$VAR/nomon.conf"
bad_start "rados:pool=$VMRP_RADOS_POOL,conf=$VAR/nomon.conf" "a cluster that does not answer" "cannot connect to the Ceph cluster"
bad_start "s3:bucket=x" "an unknown scheme" "unknown scheme"
bad_start "rados:pool=$VMRP_RADOS_POOL,bogus=1" "a malformed location" "expected pool=NAME"
finish
