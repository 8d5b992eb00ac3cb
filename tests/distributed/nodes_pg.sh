#!/usr/bin/env bash
# Two nodes of one region over one PostgreSQL (meta/node.c, region/membership.c,
# jobs/jobs.c, arm/nodes.c): east-a (scripts/run's eastus) and east-b, a second
# vmrpd with the same metadata database, signing key and public URL (its own
# data directory and ports), leases of 4 s.
#  - Both list both nodes, Active, shared, each itself; either answers ARM for
#    the region (a group written through one is read through the other).
#  - A second process under a live node's id does not start.
#  - Fencing (N1): east-b stopped (SIGSTOP) past its lease is fenced by east-a;
#    a PUT sent to it meanwhile is answered 503 NodeFenced once it wakes and
#    is not in the store, and east-b stops itself (exit 75) — a node that
#    lost its lease writes nothing.
#  - It rejoins as the next incarnation at once (its old one was fenced).
#  - Cut off from the database (failpoint node.renew = eio), it stops itself
#    within about a lease, and east-a shows it Fenced.
#  - Job takeover (N3): a collection delete accepted by east-b and held there,
#    east-b killed: east-a takes the operation over and it Succeeds.
export VMRP_TEST_METADATA=pg # both regions on PostgreSQL (harness.sh)
. "$VMRP_SRC/tests/lib/harness.sh"
export VMRP_CONFIG_EXTRA="[node]\nid = east-a\nlease = 4\n[testing]\nfailpoints = on"
start_regions
TOKEN=$(token "$EAST")
DV=api-version=2024-03-02; CV=api-version=2024-07-01; GV=api-version=2021-04-01
NODES=subscriptions/$SUB/providers/Microsoft.Vmrp/nodes?api-version=2024-03-01
B_PORT=$(free_port)
B=https://127.0.0.1:$B_PORT
B_PID=

# start_b [EXTRA INI LINES]: east-b, in the background ($B_PID), until it answers
start_b() {
  mkdir -p "$VAR/east-b"
  printf '[server]\ndata_dir = %s\nport = %s\npublic_url = %s\n[identity]\nsigning_key = %s\n' \
    "$VAR/east-b" "$B_PORT" "$EAST" "$VAR/eastus/keys/signing.pem" > "$VAR/east-b.conf"
  printf '[dataplane]\nport = %s\n[nbd]\nunix_socket = %s\nport = %s\n[node]\nid = east-b\n%b\n' "$(free_port)" \
    "$VAR/east-b/nbd.sock" "$(free_port)" "${1:-}" >> "$VAR/east-b.conf"
  "$VMRPD" -c "$EAST_CONF" -c "$VAR/east-b.conf" >>"$VAR/east-b/vmrpd.log" 2>&1 &
  B_PID=$!
  for _ in $(seq 300); do
    curl -sf --cacert "$CA" "$B/metadata/endpoints" >/dev/null && return 0
    kill -0 "$B_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "east-b did not start"; tail -n 20 "$VAR/east-b/vmrpd.log"; return 1
}
# nodes_of URL: "name:state:incarnation:self" per node
nodes_of() {
  curl -s --cacert "$CA" -H "Authorization: Bearer $TOKEN" "$1/$NODES" |
    jq -r '[.value[] | "\(.name):\(.properties.state):\(.properties.incarnation):\(.properties.self)"] | join(" ")'
}
# wait_b_exit: east-b's exit status in B_RC once it is gone (waits 20 s at most)
wait_b_exit() {
  for _ in $(seq 200); do kill -0 "$B_PID" 2>/dev/null || break; sleep 0.1; done
  B_RC=0
  wait "$B_PID" || B_RC=$?
}

start_b
check test "$(nodes_of "$EAST")" = "east-a:Active:1:true east-b:Active:1:false" "east-a lists both nodes, Active"
check test "$(nodes_of "$B")" = "east-a:Active:1:false east-b:Active:1:true" "so does east-b, itself marked"
arm GET "$EAST/$NODES"
check test "$(echo "$BODY" | jq -r '[.value[].properties | .mode, (.leaseExpiresAt | type)] | unique | join(",")')" \
  = "shared,string" "shared nodes show their leases"

arm PUT "$EAST/subscriptions/$SUB/resourceGroups/via-a?$GV" '{"location":"eastus"}'
arm GET "$B/subscriptions/$SUB/resourceGroups/via-a?$GV"
expect 200 "" "a group written through east-a is read through east-b"
arm PUT "$B/subscriptions/$SUB/resourceGroups/via-b?$GV" '{"location":"eastus"}'
expect 201 "" "east-b writes too"
arm GET "$EAST/subscriptions/$SUB/resourceGroups/via-b?$GV"
expect 200 "" "and east-a reads it"

mkdir -p "$VAR/east-c"
printf '[server]\ndata_dir = %s\nport = %s\n[dataplane]\nport = %s\n[nbd]\nunix_socket = %s\nport = %s\n[node]\nid = east-b\n' \
  "$VAR/east-c" "$(free_port)" "$(free_port)" "$VAR/east-c/nbd.sock" "$(free_port)" > "$VAR/east-c.conf"
out=$(timeout 30 "$VMRPD" -c "$EAST_CONF" -c "$VAR/east-c.conf" 2>&1) && rc=0 || rc=$?
check test "$rc" = 1 "a second process under east-b's id, whose lease is live, does not start (exit $rc)"
check grep -q "node id east-b is held by a running process" <<<"$out" "and says why"

# Fencing: east-b stopped past its lease.  Once woken it waits 3 s before it
# stops (node.lost.delay_ms), so that it serves the PUT sent meanwhile.
arm PUT "$B/providers/Microsoft.Vmrp/failpoints?$DV" '{"spec":"node.lost.delay_ms=3000"}'
kill -STOP "$B_PID"
for _ in $(seq 150); do [[ $(nodes_of "$EAST") == *east-b:Fenced* ]] && break; sleep 0.1; done
check test "$(nodes_of "$EAST")" = "east-a:Active:1:true east-b:Fenced:2:false" \
  "east-b stopped past its lease: east-a fences it (incarnation 2: its token is dead)"
curl -s --cacert "$CA" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -X PUT \
  --data-binary '{"location":"eastus"}' -o "$VAR/zombie.out" -w '%{http_code}' --max-time 60 \
  "$B/subscriptions/$SUB/resourceGroups/zombie?$GV" > "$VAR/zombie.status" 2>/dev/null &
zombie=$!
sleep 1
kill -CONT "$B_PID"
wait_b_exit; rc=$B_RC
wait "$zombie" || true
check test "$rc" = 75 "woken, east-b stops itself (exit 75: its lease is lost)"
check grep -q "lost its lease" "$VAR/east-b/vmrpd.log" "and logs why"
arm GET "$EAST/subscriptions/$SUB/resourceGroups/zombie?$GV"
expect 404 ResourceGroupNotFound "N1: the PUT it took while fenced is not in the store"
check test "$(cat "$VAR/zombie.status")/$(jq -r .error.code "$VAR/zombie.out")" = 503/NodeFenced \
  "east-b answered it 503 NodeFenced: the store refused its write"

start_b
check test "$(nodes_of "$EAST")" = "east-a:Active:1:true east-b:Active:3:false" \
  "east-b rejoins at once as incarnation 3 (its old one was fenced: nothing to wait out)"

# Cut off from the database: renewals fail.
arm PUT "$B/providers/Microsoft.Vmrp/failpoints?$DV" '{"spec":"node.renew=eio"}'
expect 200 "" "east-b's renewals fail from now on (failpoint node.renew)"
t0=$(date +%s)
wait_b_exit; rc=$B_RC
check test "$rc" = 75 "east-b stops itself (exit $rc) within $(($(date +%s) - t0)) s of being cut off (lease 4 s)"
check grep -q "no renewal reached the metadata store within the lease" "$VAR/east-b/vmrpd.log" "saying it was cut off"
for _ in $(seq 100); do [[ $(nodes_of "$EAST") == *east-b:Fenced* ]] && break; sleep 0.1; done
check test "$(nodes_of "$EAST")" = "east-a:Active:1:true east-b:Fenced:4:false" "east-a fences it"

# Job takeover: a collection delete held on east-b, east-b killed.
start_b
G=/subscriptions/$SUB/resourceGroups/jobs
P=$G/providers/Microsoft.Compute
arm PUT "$EAST$G?$GV" '{"location":"eastus"}'
arm PUT "$EAST$P/disks/os?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
wait_op
arm PUT "$EAST$P/virtualMachines/vm1?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},
  "storageProfile":{"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"'$P'/disks/os"}}}}}'
wait_op
arm PUT "$EAST$P/restorePointCollections/c1?$CV" '{"location":"eastus","properties":{"source":{"id":"'$P'/virtualMachines/vm1"}}}'
expect 201 "" "a VM and its restore point collection (through east-a)"
arm PUT "$B/providers/Microsoft.Vmrp/failpoints?$DV" '{"spec":"jobs.run.delay_ms=600000"}'
arm DELETE "$B$P/restorePointCollections/c1?$CV"
expect 202 "" "east-b accepts the collection's delete, and holds its job"
aao=$(header Azure-AsyncOperation) # east-a's URL: east-b's public_url is the region's
sleep 1
kill -9 "$B_PID"
wait "$B_PID" 2>/dev/null || true
for _ in $(seq 200); do
  arm GET "$aao"
  [ "$(echo "$BODY" | jq -r .status)" != InProgress ] && break
  sleep 0.1
done
check test "$(echo "$BODY" | jq -r .status)" = Succeeded "N3: east-b killed, east-a takes the delete over and it Succeeds"
check grep -q "taking over restorePointCollectionDelete operation" "$VAR/eastus/vmrpd.log" "east-a logs the takeover"
arm GET "$EAST$P/restorePointCollections/c1?$CV"
expect 404 "" "the collection is gone"
finish
