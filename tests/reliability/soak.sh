#!/usr/bin/env bash
# The soak's CI slice: scripts/soak for 30 s of the same mix (wrk on both
# regions' ARM, fio with verify on two NBD disks, SAS range downloads, a
# restore point every 7 s with every disk read back, copies to westus read
# back and deleted, GC and verify twice) on this build.  Asserts what holds
# on any machine: no error on any surface — every read byte for byte, every
# operation Succeeded, every verify clean, no error line in the daemons'
# logs — and that every surface ran.  Latencies, descriptors and memory are
# the long run's verdict (scripts/soak, docs/reliability.md "Soak"), not
# asserted here.
set -euo pipefail
: "${VMRP_BUILD:?VMRP_BUILD must point at a build tree}"
: "${VMRP_SRC:?VMRP_SRC must point at the source tree}"
out=$(mktemp -d "${TMPDIR:-/tmp}/vmrp-soak.XXXXXX")
trap 'rm -rf "$out"' EXIT
rc=0
"$VMRP_SRC/scripts/soak" --minutes 0.5 --build "$VMRP_BUILD" --out "$out" || rc=$?
json=$(ls "$out"/soak-*.json 2>/dev/null | head -n1)
[ -n "$json" ] || { echo "FAIL - scripts/soak wrote no result (exit $rc)"; exit 1; }
failed=0
check() { # DESCRIPTION JQ-CONDITION
  if jq -e "$2" "$json" >/dev/null; then echo "ok - $1"; else echo "FAIL - $1"; failed=$((failed + 1)); fi
}
check "no error on any surface (reads byte for byte, operations Succeeded, verify clean): $(jq -c '[.surfaces | to_entries[] | select(.value.errors > 0) | .key]' "$json")" \
  '.errors == 0'
check "every surface ran: $(jq -c '.surfaces | map_values(.count)' "$json")" \
  '[.surfaces[] | .count] | all(. > 0)'
check "restore points' disks read back: $(jq -c .surfaces.rp_read.count "$json")" '.surfaces.rp_read.count >= 3'
check "copies read back in westus: $(jq -c .surfaces.copy_read.count "$json")" '.surfaces.copy_read.count >= 1'
check "NBD: fio verified its writes: $(jq -c '[.surfaces.nbd_read.count, .surfaces.nbd_write.count]' "$json")" \
  '.surfaces.nbd_write.count > 0 and .surfaces.nbd_read.count > 0'
jq -r '.error_details[]' "$json" | head -n 20
if grep -l -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$out"/soak-*/vmrpd-*.log; then
  echo "FAIL - sanitizer report in a daemon log"; failed=$((failed + 1))
fi
[ "$rc" = 0 ] || { echo "FAIL - scripts/soak exited $rc"; failed=$((failed + 1)); }
echo "soak slice: $(jq -c '{errors, verdict, verdict_notes}' "$json")"
[ "$failed" = 0 ]
