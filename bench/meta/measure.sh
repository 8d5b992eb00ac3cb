#!/usr/bin/env bash
# bench/meta/measure.sh — one side of bench/meta/run: a region started by
# scripts/run through tests/lib/harness.sh on the metadata the environment
# selects (SQLite by default; VMRP_TEST_METADATA=pg with VMRP_PG_CONNINFO:
# a fresh PostgreSQL database), then prints one line
#   "<restore points per s> <GET req/s> <GET p99 ms> <PUT req/s> <PUT p99 ms>"
# RPS restore points of a VM with one empty 1 GiB disk, taken one after the
# other (PUT, then GET every 20 ms until Succeeded); wrk -t2 -c32 for DUR s
# on an authenticated GET and a PUT of resource groups (bench/arm/*.lua).
set -euo pipefail
. "$VMRP_SRC/tests/lib/harness.sh"
rps=${RPS:-30} dur=${DUR:-10}
start_regions
TOKEN=$(token "$EAST")
CV=api-version=2024-07-01 DV=api-version=2024-03-02
RGID=/subscriptions/$SUB/resourceGroups/bench
C=$EAST$RGID/providers/Microsoft.Compute
arm PUT "$EAST$RGID?api-version=2021-04-01" '{"location":"eastus"}'
arm PUT "$C/disks/os?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
wait_op
arm PUT "$C/virtualMachines/vm?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_D2s_v3"},
  "storageProfile":{"osDisk":{"osType":"Linux","name":"os","createOption":"Attach","managedDisk":{"id":"'$RGID'/providers/Microsoft.Compute/disks/os"}}}}}'
wait_op
arm PUT "$C/restorePointCollections/rpc?api-version=2022-08-01" \
  '{"location":"eastus","properties":{"source":{"id":"'$RGID'/providers/Microsoft.Compute/virtualMachines/vm"}}}'
[ "$STATUS" = 201 ] || { echo "bench/meta: the collection: HTTP $STATUS $BODY" >&2; exit 1; }
t0=$(date +%s%N)
for i in $(seq "$rps"); do
  arm PUT "$C/restorePointCollections/rpc/restorePoints/rp$i?$CV" '{}'
  for _ in $(seq 1500); do
    arm GET "$C/restorePointCollections/rpc/restorePoints/rp$i?$CV"
    case $(jq -r .properties.provisioningState <<<"$BODY") in Succeeded) break ;; Creating) sleep 0.02 ;;
      *) echo "bench/meta: restore point rp$i: $BODY" >&2; exit 1 ;; esac
  done
done
ms=$((($(date +%s%N) - t0) / 1000000))
wrkrun() { # lua url → "rps p99ms"
  local out rps p99
  out=$(wrk -t2 -c32 -d"${dur}s" --latency -s "$1" "$2" 2>&1)
  grep -Eq 'Non-2xx or 3xx responses' <<<"$out" && echo "bench/meta: $(grep -E 'Non-2xx' <<<"$out")" >&2
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' <<<"$out")
  echo "$rps $p99"
}
export VMRP_TOKEN=$TOKEN
read -r get_rps get_p99 < <(VMRP_PATH="$RGID?api-version=2021-04-01" wrkrun "$VMRP_SRC/bench/arm/get.lua" "$EAST")
read -r put_rps put_p99 < <(VMRP_PREFIX="/subscriptions/$SUB/resourcegroups/" VMRP_QUERY="?api-version=2021-04-01" \
  wrkrun "$VMRP_SRC/bench/arm/put.lua" "$EAST")
echo "$(awk "BEGIN{printf \"%.2f\", $rps * 1000 / $ms}") $get_rps $get_p99 $put_rps $put_p99" >&3
