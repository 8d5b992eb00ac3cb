#!/bin/bash
# ci-backends.sh CMD [ARGS...] — runs CMD with a throw-away Ceph cluster (1 mon, 1 mgr, 1 bluestore OSD
# on a sparse file) and a throw-away PostgreSQL 15 cluster, both under one temporary directory, then
# stops them (by their own pid files) and removes everything, whatever CMD returned; exits with CMD's
# status.  What scripts/test runs the tests labelled `distributed` under (they fail without it).
#   CMD sees: CEPH_CONF (librados, rados, ceph), VMRP_RADOS_POOL=vmrp, VMRP_PG_CONNINFO (libpq).
# Packages: scripts/deps distributed (Debian 12's Ceph 16 and PostgreSQL 15).  No network, no systemd.
# Several may run at once (a helper's tests beside CI's): each cluster takes the first free monitor
# port from 3300 (its OSD binds a free one of 6800-7300 itself) and PostgreSQL listens only on a unix
# socket in its own directory; the choice and the start are serialised by a lock so two never pick the
# same port.
# As root the daemons run as nobody (initdb refuses root; nothing needs privileges); ceph-one-node.sh and
# pg-one-node.sh are then copied into the temporary directory, so this directory need not be readable by
# nobody.  Both are found next to this script, wherever it is called from.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
D=$(mktemp -d "${TMPDIR:-/tmp}/vmrp-backends.XXXXXX")
as=(); bin=$here
mkdir -p "$D/ceph" "$D/pg"
if [ "$(id -u)" = 0 ]; then
  as=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
  mkdir -p "$D/bin"; install -m 755 "$here/ceph-one-node.sh" "$here/pg-one-node.sh" "$D/bin/"; bin=$D/bin
  chown nobody:nogroup "$D" "$D/ceph" "$D/pg"
fi
cmd=
cleanup() { [ -z "$cmd" ] || kill "$cmd" 2>/dev/null || true; "${as[@]}" "$bin/pg-one-node.sh" down "$D/pg" || true; "$bin/ceph-one-node.sh" down "$D/ceph" || true; rm -rf "$D"; }
trap cleanup EXIT
# A signal (CI timing out, a Ctrl-C) must not leave the daemons behind: end through the EXIT trap.
trap "exit 129" HUP; trap "exit 130" INT; trap "exit 143" TERM
t0=$(date +%s%N)
exec 9>"${TMPDIR:-/tmp}/vmrp-backends-start.lock"
flock 9
port=3300
while ss -Htln "sport = :$port" | grep -q .; do port=$((port + 1)); done
VMRP_CEPH_MON_PORT=$port "${as[@]}" "$bin/ceph-one-node.sh" up "$D/ceph" bluestore >"$D/ceph-up.log" 2>&1 9>&- &
cpid=$!
conninfo=$("${as[@]}" "$bin/pg-one-node.sh" up "$D/pg" 9>&-)
wait "$cpid" || { cat "$D/ceph-up.log"; exit 1; }
flock -u 9; exec 9>&-
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
printf 'backends ready in %d.%d s\n' $((ms / 1000)) $((ms % 1000 / 100)) >&2
export CEPH_CONF=$D/ceph/ceph.conf VMRP_RADOS_POOL=vmrp VMRP_PG_CONNINFO=$conninfo
# In the background so that a signal reaches the trap at once (CMD's stdin is /dev/null).
"$@" &
cmd=$!
wait "$cmd"
