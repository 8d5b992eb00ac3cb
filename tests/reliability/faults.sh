#!/usr/bin/env bash
# The fault matrix's CI slice (docs/reliability.md "Fault matrix"): a chunk
# store append cut short (a full disk), the metadata commit killed, and a
# restored disk's hydration failing (it goes on by itself once the fault is
# gone) — each through scripts/fault-matrix's workload and checks: a clean
# error (or a crash and a restart), nothing stuck, everything durable read
# back byte for byte, the next attempt succeeding, the stores clean.  The
# volume and copy sites are in reliability_failpoints; the whole matrix is
# the command.
set -euo pipefail
: "${VMRP_BUILD:?VMRP_BUILD must point at a build tree}" "${VMRP_SRC:?VMRP_SRC must point at the source tree}"
command -v jq >/dev/null || { echo "jq missing"; exit 1; }
out=$(mktemp -d "${TMPDIR:-/tmp}/vmrp-faults.XXXXXX")
trap 'rm -rf "$out"' EXIT
entries=cas.pack.write=short,meta.commit=crash,vol.hydrate.write=eio
rc=0
"$VMRP_SRC/scripts/fault-matrix" --build "$VMRP_BUILD" --entries "$entries" --out "$out" | grep -v '^ts=' || rc=$?
result=$(ls "$out"/fault-matrix-*.json)
want=$(tr ',' '\n' <<<"$entries" | wc -l)
got=$(jq '[.entries[] | select(.verdict == "ok")] | length' "$result")
jq -r '.entries[] | select(.verdict != "ok") | "FAIL - \(.site)=\(.action): \(.observed) -> \(.verdict)"' "$result"
echo "$got of $want entries ok (exit $rc)"
[ "$rc" = 0 ] && [ "$got" = "$want" ]
