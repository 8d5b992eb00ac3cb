# lib.sh — shared by the NBD shell tests: a temporary directory, nbd-serve
# started and stopped by PID, free loopback ports, ok/not ok accounting.
# Source it; it sets `set -euo pipefail` and cleans up on exit.  Sanitizer
# reports in a server log fail the test.
set -euo pipefail
: "${VMRP_BUILD:?VMRP_BUILD must point at a build tree}"
SERVE=$VMRP_BUILD/tests/nbd/nbd-serve
HOSTILE=$VMRP_BUILD/tests/nbd/nbd-hostile
T=$(mktemp -d "${TMPDIR:-/tmp}/vmrp-nbd.XXXXXX")
PASSED=0
FAILED=0
SERVER_PIDS=()

nbd_cleanup() {
  local rc=$?
  for p in "${SERVER_PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  if grep -l -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$T"/*.log 2>/dev/null; then
    echo "FAIL: sanitizer report in a server log"
    grep -h -A30 -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$T"/*.log | head -60
    rc=1
  fi
  rm -rf "$T"
  exit "$rc"
}
trap nbd_cleanup EXIT

need() { command -v "$1" >/dev/null || { echo "$1 not installed (scripts/deps test)"; exit 1; }; }
free_port() { python3 "$VMRP_SRC/tests/lib/free_port.py"; }
ok() { echo "ok - $*"; PASSED=$((PASSED + 1)); }
notok() { echo "not ok - $*"; FAILED=$((FAILED + 1)); }
# t DESCRIPTION COMMAND...: runs the command, ok if it exits 0.
t() {
  local d=$1; shift
  if "$@" >"$T/out" 2>&1; then ok "$d"; else notok "$d"; sed 's/^/#   /' "$T/out" | tail -n 20; fi
}
# tf DESCRIPTION COMMAND...: ok if the command fails.
tf() {
  local d=$1; shift
  if "$@" >"$T/out" 2>&1; then notok "$d"; sed 's/^/#   /' "$T/out" | tail -n 20; else ok "$d"; fi
}
# serve NAME ARGS...: starts nbd-serve, waits until it listens; $NAME_PID.
serve() {
  local name=$1; shift
  rm -f "$T/$name.port"
  "$SERVE" --port-file "$T/$name.port" "$@" 2>"$T/$name.log" &
  local pid=$!
  SERVER_PIDS+=("$pid")
  eval "${name}_PID=$pid"
  for _ in $(seq 200); do
    [ -f "$T/$name.port" ] && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$T/$name.log"; return 1; }
    sleep 0.05
  done
  return 1
}
# stop NAME: SIGTERM, and the server must exit 0 (volumes closed cleanly).
stop() {
  local pid; eval "pid=\$${1}_PID"
  kill "$pid"
  wait "$pid"
}
# cap NAME: the export name that opens export NAME when nbd-serve was given
# --grant "$(cap NAME)=NAME" (export names are capabilities: src/nbd/access.c).
cap() { echo "$1.s3cret-of-$1"; }
finish() {
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" = 0 ]
}
# A deterministic 8 MiB image with data and zero regions.
make_image() {
  python3 - "$1" <<'PY'
import hashlib, sys
with open(sys.argv[1], "wb") as f:
    for i in range(128):                      # 64 KiB regions
        if i % 3 == 1:
            f.write(b"\0" * 65536)
        else:
            f.write(hashlib.shake_128(b"img%d" % i).digest(65536))
PY
}
