#!/usr/bin/env bash
# A short slice of scripts/crashloop (docs/reliability.md "Crash loop"):
# 15 rounds of a random workload against two regions (NBD writers, restore
# points, a restore, SAS reads, a copy, GC, verify, a deployment, deletes),
# kill -9 of either region at a random moment, restart, and the round's
# checks — every acknowledged write there, every Succeeded restore point,
# restored disk and copy holding exactly the bytes of their disks, nothing
# left in progress; both stores verify clean every 5 rounds; at the end,
# everything deleted, a GC leaves no live object and no pack data; no
# sanitizer report in the daemons' logs.  VMRP_CRASHLOOP_ROUNDS and
# VMRP_CRASHLOOP_SEED (default: random, printed) for a longer or a repeated run.
set -euo pipefail
: "${VMRP_BUILD:?VMRP_BUILD must point at a build tree}"
: "${VMRP_SRC:?VMRP_SRC must point at the source tree}"
/usr/bin/python3 -c 'import nbd' 2>/dev/null || { echo "python3-libnbd missing"; exit 1; }
out=$(mktemp -d "${TMPDIR:-/tmp}/vmrp-crashloop-out.XXXXXX")
trap 'rm -rf "$out"' EXIT
args=(--rounds "${VMRP_CRASHLOOP_ROUNDS:-15}" --build "$VMRP_BUILD" --verify-every 5 --out "$out")
[ -n "${VMRP_CRASHLOOP_SEED:-}" ] && args+=(--seed "$VMRP_CRASHLOOP_SEED")
"$VMRP_SRC/scripts/crashloop" "${args[@]}"
