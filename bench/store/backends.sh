#!/bin/bash
# bench/store/backends.sh — the pack store's back ends against each other and
# against the cluster's own ceiling, in one run on the same machine:
#   ingest   vmrp-store put-image of an incompressible image (stored bytes =
#            image bytes) into a directory store and into a RADOS store
#   restore  vmrp-store get-image of it back (--check crc, as vmrpd reads)
#   ceiling  rados bench write (4 MiB objects, 16 in flight) and seq on the
#            same pool, 10 s each: what the cluster takes and gives
# and prints MiB/s per line and the ratios RADOS/ceiling and RADOS/dir (the
# issue's bar: ingest and restore at >= 0.8 of the ceiling).  The directory
# restore reads from the page cache (the image was just written); the RADOS
# restore reads through the OSD, whose BlueStore cache is cold for most of it.
# Run under a cluster: scripts/backends/ci-backends.sh bench/store/backends.sh
# (CEPH_CONF, VMRP_RADOS_POOL).  SIZE (default 1G) sets the image size.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
: "${CEPH_CONF:?run under scripts/backends/ci-backends.sh (CEPH_CONF)}"
: "${VMRP_RADOS_POOL:?run under scripts/backends/ci-backends.sh (VMRP_RADOS_POOL)}"
vs=${VMRP_BUILD:-$repo/build}/src/tools/vmrp-store
[ -x "$vs" ] || { echo "bench/store/backends: build vmrp-store first ($vs)" >&2; exit 1; }
size=${SIZE:-1G}
work=$(mktemp -d "${TMPDIR:-/tmp}/vmrp-bench-backends.XXXXXX")
trap 'rm -rf "$work"' EXIT
pool=$VMRP_RADOS_POOL
loc="rados:pool=$pool,namespace=bench-backends-$$"
head -c 80 /dev/urandom > "$work/key"
head -c "$size" /dev/urandom > "$work/img"
bytes=$(stat -c %s "$work/img")
export VMRP_STORE_KEY_FILE=$work/key

# timed NAME CMD...: runs CMD after a sync, prints NAME's MiB/s of the image
timed() {
  local name=$1 t0 t1
  shift
  sync
  t0=$(date +%s%N)
  "$@" > "$work/out"
  t1=$(date +%s%N)
  awk -v n="$name" -v b="$bytes" -v ns=$((t1 - t0)) 'BEGIN { printf "%s %.1f\n", n, b / 1048576 / (ns / 1e9) }'
}
# rados_bench MODE: rados bench's bandwidth (MiB/s) for MODE (write, then seq)
rados_bench() {
  rados bench -p "$pool" 10 "$1" -t 16 ${2:+"$2"} | awk '/^Bandwidth \(MB\/sec\)/ { print $3 }'
}

{
  timed dir_ingest "$vs" -q -s "$work/dir" put-image "$work/img"
  root=$(cat "$work/out")
  timed dir_restore "$vs" -q -s "$work/dir" get-image "$root" "$work/back"
  cmp -s "$work/img" "$work/back" || { echo "dir restore differs" >&2; exit 1; }
  rm -f "$work/back"
  timed rados_ingest "$vs" -q -s "$loc" --roots "$work/roots" put-image "$work/img"
  root=$(cat "$work/out")
  timed rados_restore "$vs" -q -s "$loc" --roots "$work/roots" get-image "$root" "$work/back"
  cmp -s "$work/img" "$work/back" || { echo "RADOS restore differs" >&2; exit 1; }
  echo "ceiling_write $(rados_bench write --no-cleanup)"
  echo "ceiling_seq $(rados_bench seq)"
  rados -p "$pool" cleanup > /dev/null
} > "$work/results"
awk -v size="$size" '
  { v[$1] = $2; printf "%-14s %8.1f MiB/s\n", $1, $2 }
  END {
    printf "image %s, incompressible; ratios:\n", size
    printf "  RADOS ingest / rados bench write  %.2f\n", v["rados_ingest"] / v["ceiling_write"]
    printf "  RADOS restore / rados bench seq   %.2f\n", v["rados_restore"] / v["ceiling_seq"]
    printf "  RADOS ingest / dir ingest         %.2f\n", v["rados_ingest"] / v["dir_ingest"]
    printf "  RADOS restore / dir restore       %.2f\n", v["rados_restore"] / v["dir_restore"]
  }' "$work/results"
