#!/usr/bin/env bash
# The vmrpd process: --version, one daemon per data directory, clean SIGTERM,
# configuration errors, plain HTTP only on loopback and only when asked.
. "$VMRP_SRC/tests/lib/harness.sh"
STATUS=; BODY=
check bash -c "'$VMRPD' --version | grep -Eq '^vmrpd [0-9]+\.[0-9]+\.[0-9]+$'" "--version prints the version"
start_regions

out=$("$VMRPD" -c "$EAST_CONF" --port "$(free_port)" 2>&1) && rc=0 || rc=$?
check test "$rc" != 0 "a second daemon on the same data directory refuses to start"
check grep -q "in use by another vmrpd" <<<"$out" "and says the directory is in use"
check curl -sf --cacert "$CA" "$EAST/metadata/endpoints" -o /dev/null "the first daemon still serves"

check bash -c "! curl -sf 'http://127.0.0.1:$VMRP_EASTUS_PORT/metadata/endpoints' -o /dev/null" "plain HTTP is refused on the TLS port"

printf '[nbd]\nport = 0\n[dataplane]\nport = 0\n' > "$VAR/nbd0.conf" # any free ports: tests run in parallel
out=$("$VMRPD" -c "$VAR/nbd0.conf" --data-dir "$VAR/plain" --plain-http --listen 0.0.0.0 --port 0 2>&1) && rc=0 || rc=$?
check test "$rc" != 0 "plain HTTP on a non-loopback address is refused"
check grep -q "only allowed on a loopback" <<<"$out" "with a clear message"

printf '[server]\nno_such_key = 1\n' > "$VAR/bad.conf"
out=$("$VMRPD" -c "$VAR/bad.conf" --data-dir "$VAR/bad" 2>&1) && rc=0 || rc=$?
check test "$rc" != 0 "an unknown configuration key is an error"
check grep -q "no_such_key" <<<"$out" "naming the key"
for v in 0 1001 ten; do
  printf '[disks]\novercommit = %s\n' "$v" > "$VAR/bad.conf"
  out=$("$VMRPD" -c "$VAR/bad.conf" --data-dir "$VAR/bad" 2>&1) && rc=0 || rc=$?
  check test "$rc" != 0 "[disks] overcommit = $v is an error (1 to 1000)"
done
out=$("$VMRPD" --log-level loud --data-dir "$VAR/bad" 2>&1) && rc=0 || rc=$?
check test "$rc" = 2 "an unknown log level is a usage error"

port=$(free_port)
"$VMRPD" -c "$VAR/nbd0.conf" --data-dir "$VAR/plain" --plain-http --port "$port" >"$VAR/plain.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/metadata/endpoints" -o /dev/null && break; sleep 0.1; done
check curl -sf "http://127.0.0.1:$port/metadata/endpoints" -o /dev/null "development mode serves plain HTTP on loopback"
check test -f "$VAR/plain/vmrpd.pid" "the pid file exists while running"
dp=$(sed -n 's/.*SAS data plane at \(http:[^ ]*\) .*/\1/p' "$VAR/plain.log")
check bash -c "[ -n '$dp' ] && [ \"\$(curl -s -o /dev/null -w '%{http_code}' '$dp/md-a/a/abcd?sr=b&si=a&sp=r&sig=a')\" = 403 ]" \
  "[dataplane] port = 0: the data plane listens on a free port and says which ($dp)"
kill -TERM $pid
wait $pid && rc=0 || rc=$?
check test "$rc" = 0 "SIGTERM exits 0"
check grep -q "stopped cleanly" "$VAR/plain.log" "and logs a clean stop"
check test ! -f "$VAR/plain/vmrpd.pid" "the pid file is removed"
printf '[nbd]\nport = 0\n[dataplane]\nlisten =\n' > "$VAR/nodp.conf"
port=$(free_port)
"$VMRPD" -c "$VAR/nodp.conf" --data-dir "$VAR/nodp" --plain-http --port "$port" >"$VAR/nodp.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/metadata/endpoints" -o /dev/null && break; sleep 0.1; done
check bash -c "curl -sf 'http://127.0.0.1:$port/metadata/endpoints' -o /dev/null && ! grep -q 'SAS data plane at' '$VAR/nodp.log'" \
  "[dataplane] listen = \"\": the daemon serves without a data plane"
kill -TERM $pid
wait $pid || true
if grep -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$VAR/plain.log" "$VAR/nodp.log"; then
  fail "sanitizer report in the development-mode daemon"
fi
finish
