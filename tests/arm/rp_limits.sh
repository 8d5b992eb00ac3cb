#!/usr/bin/env bash
# Restore point limits: at most [restore_points] max_per_vm per VM (409), one
# creation at a time per VM (409), and the optional creation-rate limit
# (min_interval: 429 TooManyRequests with Retry-After).  Refused requests
# change nothing.
. "$VMRP_SRC/tests/lib/harness.sh"
# min_interval must outlast a restore point's creation on a busy machine: with
# 2 s, the first one took longer than that under ASan beside another suite and
# the second was no longer throttled.
INTERVAL=10
export VMRP_CONFIG_EXTRA="[restore_points]\nmax_per_vm = 3\nmin_interval = $INTERVAL"
start_regions
TOKEN=$(token "$EAST")
C=$EAST/subscriptions/$SUB/resourceGroups/lim/providers/Microsoft.Compute
RGID=/subscriptions/$SUB/resourceGroups/lim
CV=api-version=2024-07-01
arm PUT "$EAST/subscriptions/$SUB/resourceGroups/lim?api-version=2021-04-01" '{"location":"eastus"}'
arm PUT "$C/disks/os?api-version=2024-03-02" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
wait_op
arm PUT "$C/virtualMachines/vm?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},
  "storageProfile":{"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"'$RGID'/providers/Microsoft.Compute/disks/os"}}}}}'
wait_op
arm PUT "$C/restorePointCollections/rpc?api-version=2022-08-01" '{"location":"eastus","properties":{"source":{"id":"'$RGID'/providers/Microsoft.Compute/virtualMachines/vm"}}}'
expect 201 "" "collection"
RPC=$C/restorePointCollections/rpc

arm PUT "$RPC/restorePoints/rp1?$CV" '{}'
expect 201 "" "first restore point"
wait_op
before=$(store_dump eastus)
arm PUT "$RPC/restorePoints/rp2?$CV" '{}'
expect 429 TooManyRequests "a second one within min_interval is throttled"
retry=$(header Retry-After)
check test -n "$retry" "with Retry-After ($retry s)"
check test "$(store_dump eastus)" = "$before" "and nothing changed"
sleep "$retry"
arm PUT "$RPC/restorePoints/rp2?$CV" '{}'
expect 201 "" "after Retry-After it is accepted"
wait_op
sleep "$INTERVAL"
arm PUT "$RPC/restorePoints/rp3?$CV" '{}'
wait_op
check test "$OP_STATUS" = Succeeded "third restore point"
sleep 2
before=$(store_dump eastus)
arm PUT "$RPC/restorePoints/rp4?$CV" '{}'
expect 409 OperationNotAllowed "a fourth one exceeds max_per_vm = 3"
check test "$(store_dump eastus)" = "$before" "and nothing changed"

# One creation at a time per VM (jobs held back by a failpoint).
arm DELETE "$RPC/restorePoints/rp1?$CV"
wait_op
kill9_region eastus
VMRP_FAILPOINTS=jobs.run.delay_ms=60000 restart_region eastus
TOKEN=$(token "$EAST")
sleep "$INTERVAL"
arm PUT "$RPC/restorePoints/rp5?$CV" '{}'
expect 201 "" "a restore point whose capture is held back"
arm PUT "$RPC/restorePoints/rp6?$CV" '{}'
expect 409 OperationNotAllowed "a concurrent creation for the same VM is refused"
finish
