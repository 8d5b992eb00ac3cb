#!/usr/bin/env bash
# Connection exhaustion of the HTTP listeners (ARM and the SAS data plane),
# with the default limits but 4 s header and body deadlines:
#  - one address (127.0.0.2) gets no more than its connections_per_address
#    (64 on ARM, 128 on the data plane); 127.0.0.1 is unaffected;
#  - connections that trickle a byte a second, TLS ones sending their headers
#    and plain ones a ClientHello, are closed at the header deadline (4-6 s),
#    and TLS ones sending a POST's body at the body deadline, not held; a
#    download nobody reads is closed after the send deadline (3 s here);
#  - 20 POSTs holding 4 MiB bodies each cannot make the server hold more than
#    its body memory (16 MiB here): a large body then gets 503 ServerBusy
#    with Retry-After, a small request is still served;
#  - 1,100 idle TCP connections and 300 trickling TLS ones on ARM from 200
#    addresses, reopened as soon as they are closed, while a legitimate client
#    gets a token and lists resource groups within 5 s, three times;
#  - the same on the data plane (300 idle, 100 trickling) while a SAS
#    download works;
#  - the limits say so in the log, at most once per 10 s per listener.
. "$VMRP_SRC/tests/lib/harness.sh"
STATUS=; BODY=
export VMRP_CONFIG_EXTRA='[server]\nheader_timeout = 4\nbody_timeout = 4\nsend_timeout = 3\nbody_memory = 16'
# The memory check below compares resident memory, in the sanitizer build too: ASan keeps freed blocks
# resident in its quarantine (256 MiB by default), so the daemon gets a small one (no effect without ASan).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8"
start_regions
FLOOD=(python3 "$VMRP_SRC/tests/lib/flood.py")
ARM_PORT=$VMRP_EASTUS_PORT
DP_PORT=$VMRP_EASTUS_DP_PORT
LOG=$VAR/eastus/vmrpd.log
TOKEN=$(token "$EAST")
DV=api-version=2024-03-02
RG=$EAST/subscriptions/$SUB/resourceGroups/ex
arm PUT "$RG?api-version=2021-04-01" '{"location":"eastus"}'
arm PUT "$RG/providers/Microsoft.Compute/disks/d1?$DV" \
  '{"location":"eastus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}'
wait_op
arm POST "$RG/providers/Microsoft.Compute/disks/d1/beginGetAccess?$DV" '{"access":"Read","durationInSeconds":3600}'
location=$(header Location)
wait_op
arm GET "$location"
SAS=$(jq -r .accessSAS <<<"$BODY")
check test "${SAS#"$EAST_DP"}" != "$SAS" "a SAS URL on the data plane for the downloads"

# legit WHAT → runs the legitimate client's requests from 127.0.0.1 (a new
# connection each), checks each answers within 5 s
legit() {
  local t0 t code tok
  t0=$(date +%s%N)
  tok=$(curl -s --max-time 10 --cacert "$CA" -X POST "$EAST/adfs/oauth2/token" \
    --data-urlencode grant_type=client_credentials --data-urlencode "client_id=$CLIENT_ID" \
    --data-urlencode "client_secret=$CLIENT_SECRET" --data-urlencode "scope=$EAST//.default" | jq -r .access_token) || true
  code=$(curl -s --max-time 10 --cacert "$CA" -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" \
    "$EAST/subscriptions/$SUB/resourcegroups?api-version=2021-04-01") || true
  t=$(( ($(date +%s%N) - t0) / 1000000 ))
  check test "${#tok}" -gt 100 -a "$code" = 200 -a "$t" -lt 5000 "$1: a token and a GET of resource groups ($code in $t ms)"
}
legit_sas() {
  local t0 t code
  t0=$(date +%s%N)
  rm -f "$VAR/piece"
  code=$(curl -s --max-time 10 --cacert "$CA" -r 0-65535 -o "$VAR/piece" -w '%{http_code}' "$SAS") || true
  t=$(( ($(date +%s%N) - t0) / 1000000 ))
  check test "$code" = 206 -a "$(stat -c %s "$VAR/piece" 2>/dev/null)" = 65536 -a "$t" -lt 5000 \
    "$1: a SAS download of 64 KiB ($code in $t ms)"
}
# flood NAME ARGS... → starts the attacker in the background (status in
# $VAR/NAME.json), waits until it has opened what it was asked
flood() {
  local name=$1; shift
  "${FLOOD[@]}" "$@" --cafile "$CA" --status "$VAR/$name.json" >"$VAR/$name.out" 2>&1 &
  FLOOD_PID=$!
  for _ in $(seq 600); do
    [ -s "$VAR/$name.json" ] && break
    sleep 0.1
  done
}
stat_of() { jq -r "$2" "$VAR/$1.json"; }
stop_flood() { kill "$FLOOD_PID" 2>/dev/null || true; wait "$FLOOD_PID" 2>/dev/null || true; }
# Idle connections that send nothing are closed at the 4 s header deadline
# too, so a connection refused over the per-address limit is one closed before
# it (at its accept, which a loaded machine may delay past 1 s), and one that
# stayed is still open or was closed at the deadline (lifetimes count from the
# connect).  early NAME → how many the server closed before the deadline;
# kept NAME → how many stayed; settled NAME N waits (10 s at most) until the
# attacker's status, rewritten once a second, counts N closed early.
early() { stat_of "$1" '[.idle.lifetimes[] | select(. < 3.9)] | length'; }
kept() { stat_of "$1" '.idle.open + ([.idle.lifetimes[] | select(. >= 3.9)] | length)'; }
settled() { for _ in $(seq 100); do [ "$(early "$1")" = "$2" ] && return 0; sleep 0.1; done; return 0; }

# ---- per-address limits ----
flood peraddr 127.0.0.1 "$ARM_PORT" --idle 100 --sources 127.0.0.2 --duration 60
sleep 1.5
code=$(curl -s --max-time 5 --cacert "$CA" --interface 127.0.0.2 -o /dev/null -w '%{http_code}' "$EAST/metadata/endpoints") || true
check test "$code" != 200 "ARM: the 101st connection from 127.0.0.2 is refused ($code)"
legit "ARM, 127.0.0.2 at its limit"
settled peraddr 36
stop_flood
check test "$(early peraddr)" = 36 -a "$(kept peraddr)" = 64 \
  "ARM: of 100 idle connections from one address $(kept peraddr) stay, $(early peraddr) are closed ($(stat_of peraddr .idle.refused) within 1 s)"
flood dpaddr 127.0.0.1 "$DP_PORT" --idle 150 --sources 127.0.0.2 --duration 60
sleep 1.5
legit_sas "data plane, 127.0.0.2 at its limit"
settled dpaddr 22
stop_flood
check test "$(early dpaddr)" = 22 -a "$(kept dpaddr)" = 128 \
  "data plane: of 150 idle connections from one address $(kept dpaddr) stay, $(early dpaddr) are closed ($(stat_of dpaddr .idle.refused) within 1 s)"

# ---- trickles end at the header deadline ----
flood trickle 127.0.0.1 "$ARM_PORT" --tls-trickle 5 --raw-trickle 5 --body-trickle 5 --sources 127.0.0.3 \
  --interval 1 --duration 9
wait "$FLOOD_PID" || true
lives=$(stat_of trickle '[.tls.lifetimes[], .raw.lifetimes[]] | map(tostring) | join(" ")')
check jq -e '(.tls.closed == 5) and (.raw.closed == 5) and
  ([.tls.lifetimes[], .raw.lifetimes[]] | all(. >= 3.9 and . <= 6.5))' "$VAR/trickle.json" \
  "ARM: 10 connections trickling a byte a second (5 TLS, 5 in the handshake) are closed at the 4 s deadline ($lives)"
lives=$(stat_of trickle '.body.lifetimes | map(tostring) | join(" ")')
check jq -e '(.body.closed == 5) and (.body.lifetimes | all(. >= 3.9 and . <= 6.5))' "$VAR/trickle.json" \
  "ARM: 5 POSTs trickling their body a byte a second are closed at the 4 s body deadline ($lives)"

# A download of the whole 1 GiB blob that is never read: the server fills the
# socket's buffers, then closes it once no block was taken for 3 s.
flood slowread 127.0.0.1 "$DP_PORT" --slow-read 3 --path "${SAS#"$EAST_DP"}" --sources 127.0.0.4 --duration 8
wait "$FLOOD_PID" || true
check jq -e '.slowread.closed == 3 and (.slowread.drained | all(. < 268435456))' "$VAR/slowread.json" \
  "data plane: 3 downloads never read are closed at the send deadline ($(stat_of slowread '.slowread.drained | map(tostring) | join(" ")') bytes sent)"

# Bodies held: 20 connections each send 4 MiB of a POST but its last 1,000
# bytes (a byte a second after that: dropped at the 4 s body deadline).
rss() { awk '/^VmRSS/ {print int($2 / 1024)}' "/proc/$(region_pid eastus)/status"; }
head -c 1048576 /dev/zero | tr '\0' x > "$VAR/1mib"
big_post() { # → the status of a POST with a 1 MiB body from 127.0.0.1 (headers in $HEADERS)
  curl -s --max-time 10 --cacert "$CA" -D "$HEADERS" -o /dev/null -w '%{http_code}' -X POST \
    --data-binary @"$VAR/1mib" "$EAST/adfs/oauth2/token" || true
}
rss0=$(rss)
flood big 127.0.0.1 "$ARM_PORT" --big-body 20 --sources 127.0.0.5 --interval 1 --duration 30
sleep 0.5
rss1=$(rss)
code=$(big_post)
check test "$code" = 503 -a "$(header Retry-After)" = 1 \
  "ARM holding 16 MiB of bodies: a POST with a 1 MiB body is answered 503 with Retry-After: 1 ($code)"
legit "ARM holding 16 MiB of bodies"
check test $((rss1 - rss0)) -lt 40 "with 20 x 4 MiB sent, the server grew by $((rss1 - rss0)) MiB (< 40: 16 MiB of bodies and 64 KiB each)"
stop_flood
sleep 0.5
code=$(big_post)
check test "$code" != 503 "once they are gone a 1 MiB body is taken again ($code)"

# ---- exhaustion from many addresses, the attacker reconnecting ----
flood arm 127.0.0.1 "$ARM_PORT" --idle 1100 --tls-trickle 300 --sources 127.0.0.2-127.0.0.201 --interval 1 \
  --reconnect --duration 120
check test "$(stat_of arm '.idle.opened + .tls.opened')" -ge 1400 "ARM: the attacker opened 1,100 idle and 300 TLS connections"
for round in 1 2 3; do
  legit "ARM under 1,100 idle + 300 trickling connections, round $round"
  sleep 2
done
stop_flood
echo "# ARM attacker: $(jq -c 'map_values(del(.lifetimes))' "$VAR/arm.json")"

flood dp 127.0.0.1 "$DP_PORT" --idle 300 --tls-trickle 100 --sources 127.0.0.2-127.0.0.201 --interval 1 \
  --reconnect --duration 120
check test "$(stat_of dp '.idle.opened + .tls.opened')" -ge 400 "data plane: the attacker opened 300 idle and 100 TLS connections"
for round in 1 2 3; do
  legit_sas "data plane under 300 idle + 100 trickling connections, round $round"
  sleep 2
done
stop_flood
echo "# data plane attacker: $(jq -c 'map_values(del(.lifetimes))' "$VAR/dp.json")"

sleep 10.5 # the last report period ends
arm_lines=$(grep -c 'mod=http msg="arm: connection limits' "$LOG" || true)
dp_lines=$(grep -c 'mod=http msg="dataplane: connection limits' "$LOG" || true)
check test "$arm_lines" -ge 2 -a "$dp_lines" -ge 1 "the limits are logged when they bite ($arm_lines ARM, $dp_lines data plane lines)"
check grep -q 'refused over the per-address limit (64)' "$LOG" "naming the limit"
span=$(( $(date +%s) - $(stat -c %Y "$VAR/peraddr.json") ))
check test "$arm_lines" -le $(( span / 10 + 2 )) -a "$(grep -c 'libmicrohttpd' "$LOG" || true)" -le 100 \
  "at most one report per 10 s, and libmicrohttpd's own messages are cut short"
legit "after the attacks"
finish
