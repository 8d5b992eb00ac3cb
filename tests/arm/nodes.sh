#!/usr/bin/env bash
# A region's nodes (meta/node.c, region/membership.c, arm/nodes.c), embedded:
# GET .../providers/Microsoft.Vmrp/nodes lists the serving region's node with
# its state, incarnation and address; a kill -9 and restart is a new
# incarnation at once (the data directory's lock makes the embedded node the
# only process: no lease to wait out); a clean stop gives the lease up; only
# an Owner reads the list; a bad [node] key stops the start with a clear
# message.  Several nodes over PostgreSQL: tests/arm/nodes_pg.sh.
. "$VMRP_SRC/tests/lib/harness.sh"
export VMRP_CONFIG_EXTRA="[node]\nid = east-a"
start_regions
TOKEN=$(token "$EAST")
NODES=$EAST/subscriptions/$SUB/providers/Microsoft.Vmrp/nodes?api-version=2024-03-01

arm GET "$NODES"
expect 200 "" "GET nodes"
check test "$(echo "$BODY" | jq -c '[.value[] | [.name, .type, .location, .properties.state, .properties.incarnation,
  .properties.self, .properties.mode, .properties.address]]')" = \
  "[[\"east-a\",\"Microsoft.Vmrp/nodes\",\"eastus\",\"Active\",1,true,\"embedded\",\"$EAST\"]]" \
  "one node: east-a, Active, incarnation 1, this one, embedded, at the region's address"
check test "$(echo "$BODY" | jq -r '.value[0].properties.leaseExpiresAt')" = null "an embedded node shows no lease"
check test "$(echo "$BODY" | jq -r '.value[0].properties.startedAt | test("^[0-9-]+T[0-9:.]+(Z|[+]00:00)$")')" = true \
  "with its start time"
TOKEN_W=$(token "$WEST")
check test "$(curl -s --cacert "$CA" -H "Authorization: Bearer $TOKEN_W" \
  "$WEST/subscriptions/$SUB/providers/Microsoft.Vmrp/nodes?api-version=2024-03-01" | jq -c '[.value[] | [.name, .location]]')" \
  = '[["east-a","westus"]]' "westus lists its own node (the same [node] id there: another region, another table)"

kill9_region eastus
t0=$(date +%s%N)
restart_region eastus
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
arm GET "$NODES"
check test "$(echo "$BODY" | jq -c '[.value[] | [.properties.state, .properties.incarnation]]')" = '[["Active",2]]' \
  "after kill -9 and a restart: incarnation 2"
check test "$ms" -lt 10000 "and no lease was waited out (restart answered in $ms ms)"

pid=$(region_pid eastus)
kill -TERM "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
check test "$(sqlite3 "$VAR/eastus/meta.db" "SELECT incarnation || ':' || lease_until_us FROM nodes")" = "2:0" \
  "a clean stop gives the lease up"
restart_region eastus
arm GET "$NODES"
check test "$(echo "$BODY" | jq -r '.value[0].properties.incarnation')" = 3 "and the next start is incarnation 3"

read -r rid rsec < <(principal reader "/subscriptions/$SUB" Reader)
TOKEN=$(token "$EAST" "$rid" "$rsec")
arm GET "$NODES"
expect 403 AuthorizationFailed "a Reader may not list the nodes"

# bad input: the daemon refuses the configuration, naming the key, and starts nothing
for bad in "id = ../etc" "id = " "lease = 1" "colour = blue"; do
  printf '[node]\n%s\n' "$bad" > "$VAR/bad.conf"
  out=$("$VMRPD" -c "$EAST_CONF" -c "$VAR/bad.conf" 2>&1) && rc=0 || rc=$?
  check test "$rc" != 0 "[node] $bad: refused"
  check grep -qF "invalid key or value [node] ${bad%% *}" <<< "$out" \
    "[node] $bad: the message names it ($(grep -m1 -o 'msg=.*' <<< "$out"))"
done
finish
