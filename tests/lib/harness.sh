# harness.sh — shared by the shell tests: starts real regions with
# scripts/run on a temporary state directory and free loopback ports, and
# offers small assertion helpers.  Source it; it sets `set -euo pipefail` and
# cleans up (stops the regions, removes the directory) on exit.
#
# After start_regions: $VAR, $ENDPOINTS, $CA, $EAST, $WEST (ARM base URLs
# without trailing slash), $SUB, $TENANT, $CLIENT_ID, $CLIENT_SECRET,
# $EAST_CONF, $WEST_CONF, $VMRPD.
#
# Metadata: each region's SQLite file, or with VMRP_TEST_METADATA=pg (a
# test's `_pg` variant, label distributed) a fresh PostgreSQL database per
# region on the server of VMRP_PG_CONNINFO (a libpq key=value string, as
# scripts/backends/ci-backends.sh sets it), dropped at exit; without the
# server the test fails.  meta_sql reads or writes either.
set -euo pipefail
umask 077 # configurations the tests write: vmrpd refuses one that others can read

: "${VMRP_BUILD:?VMRP_BUILD must point at a build tree}"
: "${VMRP_SRC:?VMRP_SRC must point at the source tree}"
VMRPD=$VMRP_BUILD/src/daemon/vmrpd
VAR=$(mktemp -d "${TMPDIR:-/tmp}/vmrp-test.XXXXXX")
PASSED=0
FAILED=0
META_PG=
if [ "${VMRP_TEST_METADATA:-}" = pg ]; then
  [ -n "${VMRP_PG_CONNINFO:-}" ] || { echo "FAIL - a _pg test needs VMRP_PG_CONNINFO (scripts/backends/ci-backends.sh)"; exit 1; }
  META_PG=vmrp_h_$$
fi

harness_cleanup() {
  local rc=$? r
  VMRP_VAR=$VAR "$VMRP_SRC/scripts/run" --stop >/dev/null 2>&1 || true
  pkill -KILL -f "vmrpd -c $VAR/" 2>/dev/null || true
  for r in eastus westus; do
    [ -z "$META_PG" ] || psql "$VMRP_PG_CONNINFO" -Xq -c "DROP DATABASE IF EXISTS ${META_PG}_$r WITH (FORCE)" || true
  done
  if [ "$rc" != 0 ] || [ "$FAILED" != 0 ]; then
    for log in "$VAR"/*/vmrpd.log; do
      [ -f "$log" ] && { echo "--- last lines of $log"; tail -n 30 "$log"; }
    done
  fi
  # Sanitizer reports in the daemon logs fail the test.
  if grep -l -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$VAR"/*/vmrpd*.log 2>/dev/null; then
    echo "FAIL: sanitizer report in a daemon log"
    grep -h -A20 -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$VAR"/*/vmrpd*.log | head -60
    rc=1
  fi
  rm -rf "$VAR"
  exit "$rc"
}
trap harness_cleanup EXIT
if [ -n "$META_PG" ]; then
  for r in eastus westus; do
    psql "$VMRP_PG_CONNINFO" -Xq -v ON_ERROR_STOP=1 \
      -c "CREATE DATABASE ${META_PG}_$r TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'" || exit 1
  done
  export VMRP_EASTUS_METADATA="$VMRP_PG_CONNINFO dbname=${META_PG}_eastus"
  export VMRP_WESTUS_METADATA="$VMRP_PG_CONNINFO dbname=${META_PG}_westus"
fi

# meta_sql REGION SQL: runs SQL (what SQLite and PostgreSQL both accept) on
# the region's metadata; rows on stdout, columns separated by '|'
meta_sql() {
  if [ -n "$META_PG" ]; then
    psql "$VMRP_PG_CONNINFO dbname=${META_PG}_$1" -XqAt -v ON_ERROR_STOP=1 -c "$2"
  else
    sqlite3 "$VAR/$1/meta.db" "$2"
  fi
}
# meta_files REGION: what the region's metadata holds, readable in its
# directory for a grep: SQLite's WAL checkpointed into meta.db, PostgreSQL's
# database dumped into meta.dump
meta_files() {
  if [ -n "$META_PG" ]; then
    pg_dump "$VMRP_PG_CONNINFO dbname=${META_PG}_$1" >"$VAR/$1/meta.dump"
  else
    sqlite3 "$VAR/$1/meta.db" "PRAGMA wal_checkpoint(FULL)" >/dev/null
  fi
}
# meta_blob_text COLUMN: SQL reading a blob column as its UTF-8 text
meta_blob_text() { if [ -n "$META_PG" ]; then echo "convert_from($1, 'UTF8')"; else echo "CAST($1 AS TEXT)"; fi; }

free_port() { python3 "$VMRP_SRC/tests/lib/free_port.py"; }

# Starts both regions on free ports (those the caller did not set).  A port
# can still be taken by a test running beside between its choice and the
# daemon's bind: then the ports are chosen again, up to three times.
start_regions() {
  local v try auto=()
  for v in VMRP_EASTUS_PORT VMRP_WESTUS_PORT VMRP_EASTUS_NBD_PORT VMRP_WESTUS_NBD_PORT VMRP_EASTUS_DP_PORT \
           VMRP_WESTUS_DP_PORT; do
    [ -n "${!v:-}" ] || auto+=("$v")
  done
  for try in 1 2 3; do
    for v in "${auto[@]}"; do export "$v=$(free_port)"; done
    VMRP_VAR=$VAR "$VMRP_SRC/scripts/run" --detach >"$VAR/run.out" 2>&1 && break
    if [ "$try" = 3 ] || [ ${#auto[@]} = 0 ] || ! grep -q "cannot listen" "$VAR"/*/vmrpd.log 2>/dev/null; then
      cat "$VAR/run.out"; return 1
    fi
    VMRP_VAR=$VAR "$VMRP_SRC/scripts/run" --stop >/dev/null 2>&1 || true # the region that did start
    for v in "$VAR"/*/vmrpd.log; do mv "$v" "${v%.log}.try$try.log"; done
    echo "start_regions: a port was taken meanwhile ($(grep -h "cannot listen" "$VAR"/*/vmrpd.try$try.log | head -n1 | sed 's/.*msg=//')); new ports"
  done
  ENDPOINTS=$VAR/endpoints.json
  CA=$VAR/tls/ca.pem
  EAST=https://127.0.0.1:$VMRP_EASTUS_PORT
  WEST=https://127.0.0.1:$VMRP_WESTUS_PORT
  EAST_DP=https://127.0.0.1:$VMRP_EASTUS_DP_PORT
  EAST_CONF=$VAR/eastus/vmrpd.conf
  WEST_CONF=$VAR/westus/vmrpd.conf
  # shellcheck disable=SC1091
  . "$VAR/ids.env"
  SUB=$SUBSCRIPTION_ID
  TENANT=$TENANT_ID
}

# start_regions_from TARBALL: start_regions on a state directory an older
# vmrp wrote, unpacked from TARBALL (tests/fixtures/make-legacy.sh packs
# one: its ids.env, meta.db, volumes and stores; configurations, keyring
# and certificates are made here as for a new directory)
start_regions_from() {
  tar -C "$VAR" --zstd -xf "$1"
  start_regions
}

# second_subscription: a subscription B (its id in $SUB_B, display name
# tenant-b) beside $SUB in the regions start_regions starts next
second_subscription() {
  SUB_B=$(cat /proc/sys/kernel/random/uuid)
  export VMRP_CONFIG_EXTRA="[subscription $SUB_B]\ndisplay_name = tenant-b"
}

# principal NAME SCOPE ROLE: the same service principal in both regions
# (prints "id secret")
principal() {
  local id secret conf; id=$(cat /proc/sys/kernel/random/uuid); secret=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
  for conf in "$EAST_CONF" "$WEST_CONF"; do
    "$VMRPD" sp create -c "$conf" --name "$1" --scope "$2" --role "$3" --client-id "$id" --secret "S$secret" >/dev/null
  done
  echo "$id S$secret"
}
role() { # CLIENT_ID SCOPE ROLE|none, in both regions
  local conf
  for conf in "$EAST_CONF" "$WEST_CONF"; do "$VMRPD" sp role -c "$conf" --client-id "$1" --scope "$2" --role "$3" >/dev/null; done
}

# pid of a region's daemon
region_pid() { head -n1 "$VAR/$1/vmrpd.pid"; }

# kill -9 a region and wait until the process is gone (its lock with it)
kill9_region() {
  local pid; pid=$(region_pid "$1")
  kill -9 "$pid" 2>/dev/null || true
  for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
  echo "region $1 (pid $pid) survived kill -9"; return 1
}

# start one region again (after a kill) and wait until it answers — on
# PostgreSQL (a shared store) after its previous process's node lease has run
# out ([node] lease, 10 s), so longer
restart_region() {
  local r=$1 url tries=200
  [ "$r" = eastus ] && url=$EAST || url=$WEST
  [ -z "$META_PG" ] || tries=400
  "$VMRPD" -c "$VAR/$r/vmrpd.conf" >>"$VAR/$r/vmrpd.log" 2>&1 &
  for _ in $(seq "$tries"); do
    curl -sf --cacert "$CA" "$url/metadata/endpoints" >/dev/null && return 0
    sleep 0.1
  done
  echo "region $r did not restart"; return 1
}

# token BASE [client_id secret] → prints an access token
token() {
  local base=$1 cid=${2:-$CLIENT_ID} sec=${3:-$CLIENT_SECRET}
  curl -sf --cacert "$CA" -X POST "$base/adfs/oauth2/token" \
    --data-urlencode grant_type=client_credentials --data-urlencode "client_id=$cid" \
    --data-urlencode "client_secret=$sec" --data-urlencode "scope=$base//.default" | jq -r .access_token
}

# arm METHOD URL [BODY] — uses $TOKEN; sets $STATUS, $BODY and $HEADERS (file)
HEADERS=$VAR/headers
arm() {
  local method=$1 url=$2 data=${3-} out
  local args=(-s --cacert "$CA" -X "$method" -D "$HEADERS" -o "$VAR/body" -w '%{http_code}')
  [ -n "${TOKEN:-}" ] && args+=(-H "Authorization: Bearer $TOKEN")
  [ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
  [ "$method" = HEAD ] && args=(-s --cacert "$CA" -I -D "$HEADERS" -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${TOKEN:-}")
  out=$(curl "${args[@]}" "$url" "${EXTRA_CURL[@]+"${EXTRA_CURL[@]}"}") || true
  STATUS=$out
  BODY=$(cat "$VAR/body" 2>/dev/null || true)
  : > "$VAR/body"
}

# nbd_uri URL [unix|tcp] [Read|Write]: grants NBD access to the disk or disk
# restore point at URL (its ARM URL, no query; $TOKEN's caller) and prints
# the URI that opens it: NBD opens only with a grant's capability in the
# export name (README "NBD access").  Write for a disk, Read for a disk
# restore point unless told.  Leaves $STATUS and $BODY alone.
nbd_uri() {
  local url=$1 field=nbdUri access=${3:-}
  [ "${2:-unix}" = tcp ] && field=nbdTcpUri
  [ -n "$access" ] || case $url in *diskRestorePoints*) access=Read ;; *) access=Write ;; esac
  curl -sf --cacert "$CA" -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    --data-binary "{\"access\":\"$access\"}" "$url/vmrpGrantNbdAccess?api-version=2024-03-02" | jq -er ".$field"
}

header() { grep -i "^$1:" "$HEADERS" | head -n1 | cut -d' ' -f2- | tr -d '\r'; }

ok() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $*"; echo "   status=$STATUS body=$BODY"; }

# store_op storeGc|storeVerify: runs eastus's store GC or verify (long-running)
# and leaves its result document in $BODY (STATUS 200 when it ended)
store_op() {
  arm POST "$EAST/subscriptions/$SUB/providers/Microsoft.Vmrp/$1?api-version=2024-03-01"
  [ "$STATUS" = 202 ] || return 1
  local loc; loc=$(header Location)
  for _ in $(seq 600); do arm GET "$loc"; [ "$STATUS" != 202 ] && break; sleep 0.1; done
}

# expect STATUS [ERROR_CODE] DESCRIPTION
expect() {
  local want=$1 code=$2 desc=$3
  if [ "$STATUS" != "$want" ]; then fail "$desc (want HTTP $want)"; return 0; fi
  if [ -n "$code" ] && [ "$(echo "$BODY" | jq -r .error.code 2>/dev/null)" != "$code" ]; then
    fail "$desc (want error code $code)"; return 0
  fi
  ok "$desc"
}

# check CONDITION_COMMAND... DESCRIPTION (last argument)
check() {
  local desc=${*: -1}
  if "${@:1:$#-1}"; then ok "$desc"; else fail "$desc"; fi
}

# wait_op [TRIES]: polls the last request's Azure-AsyncOperation every 0.1 s
# until it is no longer running — InProgress (Compute's operations) or
# Running (a deployment's) — at most TRIES polls, default 600; sets
# OP_STATUS ("none" when the request started no operation).
wait_op() {
  local aao; aao=$(header Azure-AsyncOperation)
  OP_STATUS=none
  [ -n "$aao" ] || return 0
  for _ in $(seq "${1:-600}"); do
    arm GET "$aao"
    case $(echo "$BODY" | jq -r .status) in InProgress | Running) ;; *) break ;; esac
    sleep 0.1
  done
  OP_STATUS=$(echo "$BODY" | jq -r .status)
}

# the resource table of a region, for "nothing changed" comparisons
store_dump() { meta_sql "$1" "SELECT id, type, location, tags, properties, etag FROM resources ORDER BY id"; }

finish() {
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" = 0 ]
}
