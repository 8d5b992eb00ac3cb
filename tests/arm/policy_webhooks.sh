#!/usr/bin/env bash
# Protection policies' webhooks (docs/policies.md "Notifications") end to
# end: real RestorePointFailed events from the scheduler, delivered over
# HTTPS to local receivers (tests/lib/webhook_receiver.py) that check each
# signature with the policy's secret.
#
# Three policies protect one VM, PUT by a principal that is then demoted to
# Reader, so each policy's first slot fails (AuthorizationFailed) and sends
# one event, each to its own receiver:
#  - pb → a receiver answering 500, then 200: retried, same event id, every
#    attempt's signature valid, the body the event as documented;
#  - pc → a receiver whose certificate is from another CA: refused, retried
#    with the TLS error in the log, nothing received;
#  - pa → a receiver that is down: the event waits in the outbox, eastus is
#    killed (-9) and started again, then the receiver comes up: the event
#    arrives once, under the id it had before the kill.
# The log never shows a secret or a signature.  Backoff 2 s doubling to 4 s
# ([notifications] retry_initial/retry_max) keeps it short.
. "$VMRP_SRC/tests/lib/harness.sh"
export VMRP_CONFIG_EXTRA="[notifications]\nca_file = $VAR/tls/ca.pem\nretry_initial = 2\nretry_max = 4"
RPIDS=()
trap 'rc=$?; set +e; for p in "${RPIDS[@]}"; do kill "$p" 2>/dev/null; done; (exit $rc); harness_cleanup' EXIT
for bad in 'timeout = 0' 'concurrency = 65' 'give_up = 59' 'max_per_policy = many' 'ca = x'; do
  printf '[notifications]\n%s\n' "$bad" > "$VAR/bad.conf"
  out=$("$VMRPD" -c "$VAR/bad.conf" --data-dir "$VAR/bad" 2>&1) && rc=0 || rc=$?
  check test "$rc" != 0 -a -n "$(grep "${bad%% *}" <<<"$out")" "[notifications] $bad is refused, naming the key"
done
start_regions
TOKEN=$(token "$EAST")
PV=api-version=2026-12-01
CV=api-version=2024-07-01
DV=api-version=2024-03-02
GV=api-version=2021-04-01
G=/subscriptions/$SUB/resourceGroups/hooks
C=$G/providers/Microsoft.Compute
P=$G/providers/Microsoft.Vmrp/protectionPolicies
SECRET=whsec-$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
printf '%s' "$SECRET" > "$VAR/secret"
"$VMRP_SRC/scripts/gen-certs" "$VAR/other-ca" # a CA eastus does not trust

receiver() { # NAME TLS-DIR [PORT]: starts a receiver into $VAR/hook-NAME; prints nothing
  local d=$VAR/hook-$1
  mkdir -p "$d"
  rm -f "$d/port"
  /usr/bin/python3 "$VMRP_SRC/tests/lib/webhook_receiver.py" --cert "$2/server.pem" --key "$2/server.key" \
    --secret-file "$VAR/secret" --dir "$d" --port "${3:-0}" 2>>"$d/stderr" &
  RPIDS+=($!)
  for _ in $(seq 100); do [ -s "$d/port" ] && return 0; sleep 0.05; done
  echo "receiver $1 did not start"; return 1
}
port_of() { cat "$VAR/hook-$1/port"; }
records() { cat "$VAR/hook-$1/events.jsonl" 2>/dev/null || true; } # NAME
waitfor() { # TRIES CMD...: every 0.5 s until CMD succeeds
  local n=$1; shift
  for _ in $(seq "$n"); do "$@" && return 0; sleep 0.5; done
  return 1
}
has() { [ "$(records "$1" | jq -s "[.[] | select($2)] | length")" -ge "${3:-1}" ]; } # NAME JQ-FILTER [N]

receiver b "$VAR/tls"
echo 500 > "$VAR/hook-b/status"
receiver c "$VAR/other-ca"
PA=$(free_port) # receiver a: down until after the restart

arm PUT "$EAST$G?$GV" '{"location":"eastus"}'
expect 201 "" "a resource group"
arm PUT "$EAST$C/disks/vm1-os?$DV" '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
wait_op 1200
arm PUT "$EAST$C/virtualMachines/vm1?$CV" '{"location":"eastus","properties":{"hardwareProfile":{"vmSize":"Standard_B1s"},
  "storageProfile":{"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"'$C'/disks/vm1-os"}}}}}'
wait_op 1200
check test "$OP_STATUS" = Succeeded "a VM"

read -r ACTOR ACTOR_SECRET <<< "$(principal actor "$SUB" Contributor)"
ADMIN_TOKEN=$TOKEN
TOKEN=$(token "$EAST" "$ACTOR" "$ACTOR_SECRET")
M1=$(( $(date +%s) + 12 ))
START=$(date -u -d "@$M1" +%Y-%m-%dT%H:%M:%SZ)
policy() { # NAME RECEIVER-URL
  arm PUT "$EAST$P/$1?$PV" '{"location":"eastus","properties":{"virtualMachines":["'$C'/virtualMachines/vm1"],
    "schedules":["R/'$START'/PT1M"],"spreadWindow":"PT5S","retention":{"keepLast":2},
    "notifications":{"webhooks":["'"$2"'"],"secret":"'"$SECRET"'"}}}'
  expect 201 "" "policy $1 → $2"
}
policy pa "https://127.0.0.1:$PA/hooks/a?token=tok-a"
policy pb "https://127.0.0.1:$(port_of b)/hooks/b"
policy pc "https://127.0.0.1:$(port_of c)/hooks/c"
arm GET "$EAST$P/pb?$PV"
check test "$(echo "$BODY" | jq -c .properties.notifications)" = \
  '{"webhooks":["https://127.0.0.1:'"$(port_of b)"'/hooks/b"],"secretSet":true}' "GET shows secretSet, never the secret"
role "$ACTOR" "$SUB" Reader # the policies' slots now fail: the scheduler acts as the actor
TOKEN=$ADMIN_TOKEN
echo "first slot at $START, $(( M1 - $(date +%s) )) s from now"

# ---- pb: 500, then 200 -----------------------------------------------------
check waitfor 150 has b '.status == 500' "pb's receiver got the event and answered 500"
check waitfor 20 has b '.status == 500' 2 "retried after the backoff"
echo 200 > "$VAR/hook-b/status"
check waitfor 20 has b '.status == 200' "delivered once the receiver answers 200"
sleep 1
REC=$(records b)
EV=$(echo "$REC" | jq -rs '.[0].eventId')
check test "$(echo "$REC" | jq -s '[.[] | select(.status == 200)] | length')" = 1 "delivered once"
check test "$(echo "$REC" | jq -rs '[.[].eventId] | unique | length')" = 1 "every attempt carries the same event id ($EV)"
check test "$(echo "$REC" | jq -s 'length > 1 and all(.[]; .signatureValid and .age < 10)')" = true \
  "every attempt's signature verifies with the policy's secret, signed at the attempt"
check test "$(echo "$REC" | jq -rs 'map(.contentType) | unique | join(",")')" = application/json "Content-Type: application/json"
B=$(echo "$REC" | jq -sc '[.[] | select(.status == 200)][0].body')
check test "$(echo "$B" | jq -r '[.id, .type, (.policyId | ascii_downcase), (.vmId | ascii_downcase), .region] | join(" ")')" = \
  "$EV RestorePointFailed $(echo "$P/pb" | tr A-Z a-z) $(echo "$C/virtualMachines/vm1" | tr A-Z a-z) eastus" \
  "the body: id (= x-vmrp-event-id), type, policyId, vmId, region"
check test "$(echo "$B" | jq -r '.error.code')" = AuthorizationFailed "the error is the ARM error the slot got"
check test "$(echo "$B" | jq -r '.time | test("^[0-9]{4}-")')" = true "and the event's time"

# ---- pc: a certificate from another CA ------------------------------------
LOG=$VAR/eastus/vmrpd.log
tls_refusals() { grep -c "to https://127.0.0.1:$(port_of c)/hooks/c: attempt .* failed: SSL certificate problem" "$LOG" || true; }
check waitfor 30 test "$(tls_refusals)" -ge 2 "pc's receiver (another CA) is refused, retried, logged ($(tls_refusals) attempts)"
check test "$(records c | wc -l)" = 0 "nothing reached it"
pending_c() { sqlite3 "$VAR/eastus/meta.db" "SELECT count(*) FROM notify_outbox WHERE url LIKE '%:$(port_of c)/%'"; }
check test "$(pending_c)" = 1 "its event waits in the outbox"
arm DELETE "$EAST$P/pc?$PV"
expect 200 "" "policy pc deleted"
check test "$(pending_c)" = 0 "its waiting event went with it (it could no longer be signed)"

# ---- pa: receiver down, a kill -9, then up ---------------------------------
pending_a() { sqlite3 "$VAR/eastus/meta.db" "SELECT event_id FROM notify_outbox WHERE url LIKE '%:$PA/%'"; }
check waitfor 30 test -n "$(pending_a)" "pa's event waits in the outbox while its receiver is down"
EVA=$(pending_a)
check waitfor 20 grep -q "to https://127.0.0.1:$PA/hooks/a: attempt 2 failed" "$LOG" \
  "its attempts fail and are logged (the URL's query left out)"
kill9_region eastus
restart_region eastus
check test -n "$EVA" -a "$(pending_a)" = "$EVA" "the row survived kill -9"
receiver a "$VAR/tls" "$PA"
check waitfor 20 has a '.status == 200' "after the restart, the receiver up: delivered"
sleep 1
REC=$(records a)
check test -n "$EVA" -a "$(echo "$REC" | jq -rs 'map(.eventId) | join(",")')" = "$EVA" \
  "once, under the id it had before the kill"
check test "$(echo "$REC" | jq -s 'length == 1 and all(.[]; .signatureValid)')" = true "its signature verifies"
check test "$(echo "$REC" | jq -r .path)" = "/hooks/a?token=tok-a" "to the URL's path and query"
check waitfor 10 test -z "$(pending_a)" "its row is gone"

# ---- what the logs hold ----------------------------------------------------
check bash -c "! grep -h -e '$SECRET' -e 'v1=' -e 'tok-a' '$VAR'/*/vmrpd.log" \
  "no log line holds the secret, a signature or the URL's query"
finish
