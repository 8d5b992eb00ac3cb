#!/usr/bin/env bash
# PostgreSQL unreachable and lost (src/meta/pg.c): both regions' metadata on
# a PostgreSQL 15 cluster of this test's own (scripts/backends/
# pg-one-node.sh: a unix socket in its directory), which it stops and starts.
#  - Unreachable at start: vmrpd exits non-zero at once when nothing listens,
#    and within connect_timeout (10 s) when a server accepts but never
#    answers, saying which server — never the password of the string.
#  - Lost mid-run (pg_ctl -m immediate: every server process killed, as in
#    a crash): reads and writes answer 500 with an ARM error body at once;
#    the daemons stay up; a write refused then is nowhere afterwards.
#  - Back (the same data directory, recovered): the same daemons serve
#    reads and writes again without a restart — their connections are
#    opened again by the next statement — and what was acknowledged before
#    is there.
. "$VMRP_SRC/tests/lib/harness.sh"
pgbin=/usr/lib/postgresql/15/bin
[ -x "$pgbin/initdb" ] || { echo "FAIL - PostgreSQL 15 is not installed (scripts/deps distributed)"; exit 1; }
P=$(mktemp -d "${TMPDIR:-/tmp}/vmrp-pgout.XXXXXX")
as=()
install -d -m 755 "$P/bin"
install -m 755 "$VMRP_SRC/scripts/backends/pg-one-node.sh" "$P/bin/"
if [ "$(id -u)" = 0 ]; then # initdb refuses root
  as=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
  chmod 755 "$P"
  chown nobody:nogroup "$P"
fi
pg_stop() { "${as[@]}" "$pgbin/pg_ctl" -D "$P/pg/data" -m immediate -w stop >/dev/null; }
pg_start() {
  "${as[@]}" "$pgbin/pg_ctl" -D "$P/pg/data" -l "$P/pg/postgres.log" -w \
    -o "-k $P/pg -p 54329 -c listen_addresses=''" start >/dev/null
}
cleanup() {
  local rc=$?
  VMRP_VAR=$VAR "$VMRP_SRC/scripts/run" --stop >/dev/null 2>&1
  "${as[@]}" "$P/bin/pg-one-node.sh" down "$P/pg" >/dev/null 2>&1
  rm -rf "$P"
  META_PG= # its databases went with the cluster
  (exit $rc)
  harness_cleanup
}
trap cleanup EXIT
conninfo=$("${as[@]}" "$P/bin/pg-one-node.sh" up "$P/pg")
META_PG=vmrp_out
for r in eastus westus; do
  psql "$conninfo" -Xq -v ON_ERROR_STOP=1 \
    -c "CREATE DATABASE ${META_PG}_$r TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
done
export VMRP_PG_CONNINFO=$conninfo VMRP_EASTUS_METADATA="$conninfo dbname=${META_PG}_eastus" \
  VMRP_WESTUS_METADATA="$conninfo dbname=${META_PG}_westus"
start_regions
TOKEN=$(token "$EAST")
RV=api-version=2021-04-01
G=$EAST/subscriptions/$SUB/resourceGroups

# ---- unreachable at start ----
nostart() { # METADATA: a configuration of a third region whose metadata is METADATA
  mkdir -p "$VAR/nostart"
  sed "s|^data_dir = .*|data_dir = $VAR/nostart|" "$EAST_CONF" >"$VAR/nostart.conf"
  printf '\n[store]\nmetadata = %s\n' "$1" >>"$VAR/nostart.conf"
}
nostart "host=$P/none port=54329 dbname=x user=vmrp password=Pw-$$-never-logged"
t0=$(date +%s%N)
if timeout 60 "$VMRPD" -c "$VAR/nostart.conf" >"$VAR/nostart.log" 2>&1; then rc=0; else rc=$?; fi
ms=$((($(date +%s%N) - t0) / 1000000))
check test "$rc" != 0 -a "$rc" != 124 "nothing listening: vmrpd exits with an error ($rc, $ms ms)"
check grep -q "cannot connect to PostgreSQL (host=$P/none port=54329 dbname=x user=vmrp)" "$VAR/nostart.log" \
  "and says which server"
check bash -c "! grep -q 'Pw-$$-never-logged' '$VAR/nostart.log'" "never the password"
# a server that accepts connections and never answers
silent=$(free_port)
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8); time.sleep(120)' "$silent" &
silent_pid=$!
for _ in $(seq 100); do ss -Htln "sport = :$silent" | grep -q . && break; sleep 0.1; done
nostart "postgresql://vmrp:Pw-$$-never-logged@127.0.0.1:$silent/x"
t0=$(date +%s%N)
if timeout 60 "$VMRPD" -c "$VAR/nostart.conf" >"$VAR/nostart.log" 2>&1; then rc=0; else rc=$?; fi
ms=$((($(date +%s%N) - t0) / 1000000))
kill "$silent_pid" 2>/dev/null || true
check test "$rc" != 0 -a "$rc" != 124 -a "$ms" -lt 25000 \
  "a server that never answers: vmrpd gives up within connect_timeout ($rc after $ms ms)"
check grep -q "cannot connect to PostgreSQL (host=127.0.0.1 port=$silent dbname=x user=vmrp)" "$VAR/nostart.log" \
  "and says which server"
check bash -c "! grep -q 'Pw-$$-never-logged' '$VAR/nostart.log'" "never the password"

# ---- lost mid-run ----
arm PUT "$G/before?$RV" '{"location":"eastus","tags":{"when":"before"}}'
expect 201 "" "a group created while the server is up"
pg_stop
t0=$(date +%s%N)
arm GET "$G/before?$RV"
ms=$((($(date +%s%N) - t0) / 1000000))
expect 500 InternalServerError "server gone: a read answers 500 with an ARM error"
check test "$ms" -lt 15000 "at once ($ms ms)"
arm PUT "$G/during?$RV" '{"location":"eastus"}'
expect 500 InternalServerError "a write answers 500 too"
arm GET "$G?$RV"
expect 500 InternalServerError "and a list"
check kill -0 "$(region_pid eastus)" "eastus is still running"
check kill -0 "$(region_pid westus)" "westus too"
check grep -q "PostgreSQL (host=$P/pg port=54329 dbname=${META_PG}_eastus user=vmrp) connection lost\|cannot connect to PostgreSQL" \
  "$VAR/eastus/vmrpd.log" "the log says the server is lost"

# ---- back ----
pg_start
ok=
for _ in $(seq 50); do arm GET "$G/before?$RV"; [ "$STATUS" = 200 ] && { ok=1; break; }; sleep 0.2; done
check test -n "$ok" "server back: the same daemon reads again"
check test "$(echo "$BODY" | jq -r .tags.when)" = before "what was acknowledged before is there"
arm GET "$G/during?$RV"
expect 404 ResourceGroupNotFound "the write refused during the outage is nowhere"
arm PUT "$G/after?$RV" '{"location":"eastus"}'
expect 201 "" "and writes again"
arm DELETE "$G/before?$RV"
for _ in $(seq 100); do arm HEAD "$G/before?$RV"; [ "$STATUS" = 404 ] && break; sleep 0.1; done
expect 404 "" "a delete runs to its end"
TOKEN=$(token "$EAST")
check test -n "$TOKEN" -a "$TOKEN" != null "a new token is issued (principals read)"
check test "$(meta_sql eastus "SELECT count(*) FROM resources WHERE name IN ('before', 'during', 'after')")" = 1 \
  "the database holds what the answers said"
finish
