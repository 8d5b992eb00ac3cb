#!/usr/bin/env bash
# Crash and restart: resources and operation records survive kill -9; an
# operation running at kill time ends Succeeded (resumed) or Failed with an
# error, never InProgress forever (jobs.c invariants 1-3); SIGTERM interrupts a
# job cleanly and the next start resumes it.
. "$VMRP_SRC/tests/lib/harness.sh"
start_regions
TOKEN=$(token "$EAST")
RGS=$EAST/subscriptions/$SUB/resourcegroups
V=api-version=2021-04-01

for i in 1 2 3; do arm PUT "$RGS/keep-$i?$V" '{"location":"eastus","tags":{"n":"'$i'"}}'; done
expect 201 "" "create resource groups"
etag_before=$(sqlite3 "$VAR/eastus/meta.db" "SELECT etag FROM resources WHERE id LIKE '%/keep-2'")

kill9_region eastus
restart_region eastus
arm GET "$RGS/keep-2?$V"
expect 200 "" "resource group survives kill -9"
check test "$(echo "$BODY" | jq -r .tags.n)" = 2 "its tags survive"
check test "$(header ETag)" = "$etag_before" "its etag is unchanged"
TOKEN=$(token "$EAST")
arm GET "$RGS?$V"
check test "$(echo "$BODY" | jq '[.value[].name | select(startswith("keep-"))] | length')" = 3 "all groups listed after restart"

# (2)+(3): kill -9 while a delete operation runs → resumed to Succeeded.
kill9_region eastus
VMRP_FAILPOINTS=jobs.run.delay_ms=60000 restart_region eastus
arm DELETE "$RGS/keep-1?$V"
expect 202 "" "delete accepted"
loc=$(header Location)
arm GET "$loc"
expect 202 "" "operation in progress before the crash"
op=$(basename "${loc%%\?*}")
arm GET "$EAST/subscriptions/$SUB/providers/Microsoft.Resources/locations/eastus/operations/$op?$V"
check test "$(echo "$BODY" | jq -r .status)" = InProgress "status resource says InProgress"
check test "$(header Retry-After)" = 1 "with Retry-After: 1 (else the az CLI waits 30 s before its next poll)"
check test "$(sqlite3 "$VAR/eastus/meta.db" "SELECT status FROM operations WHERE id='$op'")" = 0 "operation row is InProgress"
kill9_region eastus
restart_region eastus
for _ in $(seq 100); do arm GET "$loc"; [ "$STATUS" != 202 ] && break; sleep 0.1; done
check test "$STATUS" = 200 "interrupted delete resumed and succeeded after restart"
arm GET "$RGS/keep-1?$V"
expect 404 ResourceGroupNotFound "the group is gone"
arm GET "$EAST/subscriptions/$SUB/providers/Microsoft.Resources/locations/eastus/operations/$op?$V"
check test "$(echo "$BODY" | jq -r .status)" = Succeeded "status resource says Succeeded"
check test "$(echo "$BODY" | jq -r .endTime)" != null "status resource has an endTime"

# SIGTERM during a job: clean stop, operation left InProgress, resumed at start.
kill9_region eastus
VMRP_FAILPOINTS=jobs.run.delay_ms=60000 restart_region eastus
arm DELETE "$RGS/keep-2?$V"
loc=$(header Location)
pid=$(region_pid eastus)
kill -TERM "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
check test "$(kill -0 "$pid" 2>/dev/null && echo alive || echo gone)" = gone "SIGTERM stops the daemon while a job waits"
check grep -q "stopped cleanly" "$VAR/eastus/vmrpd.log" "the daemon logs a clean stop"
restart_region eastus
for _ in $(seq 100); do arm GET "$loc"; [ "$STATUS" != 202 ] && break; sleep 0.1; done
check test "$STATUS" = 200 "the interrupted operation resumes after a clean restart"

# (3): an operation whose kind cannot be resumed is failed with an error.
kill9_region eastus
sqlite3 "$VAR/eastus/meta.db" "INSERT INTO operations(id, subscription, provider, location, kind, status, start_us)
  VALUES('11111111-2222-4333-8444-555555555555', '$SUB', 'Microsoft.Compute', 'eastus', 'retiredKind', 0, 1)"
restart_region eastus
arm GET "$EAST/subscriptions/$SUB/providers/Microsoft.Compute/locations/eastus/operations/11111111-2222-4333-8444-555555555555?api-version=2024-07-01"
check test "$(echo "$BODY" | jq -r .status)" = Failed "a non-resumable operation is Failed after restart"
check test "$(echo "$BODY" | jq -r .error.code)" = OperationInterrupted "with the OperationInterrupted error"
check test "$(sqlite3 "$VAR/eastus/meta.db" "SELECT count(*) FROM operations WHERE status = 0")" = 0 \
  "no operation is left InProgress"
finish
