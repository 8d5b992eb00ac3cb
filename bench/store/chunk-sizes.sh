#!/bin/sh
# chunk-sizes.sh — measures vmrp-store with several chunk sizes and zstd levels
# on the standard images: v1 full ingest (time, store size), v2 (1 % scattered)
# and v2c (1 % clustered) incremental with the changed list (time, bytes added).
# Usage: chunk-sizes.sh DATA_DIR WORK_DIR [SIZES_KIB] [LEVELS]
# Prints one tab-separated row per configuration.
set -eu
data=$1 work=$2
sizes=${3:-"16 32 64 128"}
levels=${4:-"1 3"}
vs=${VMRP_STORE_BIN:-${VMRP_BUILD:-build}/src/tools/vmrp-store}
size_of() { du -sb "$1" | cut -f1; }
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
secs() { # secs CMD...: runs CMD with stdout in $tmp, prints wall seconds
  t0=$(date +%s.%N); "$@" > "$tmp"; t1=$(date +%s.%N)
  echo "$t0 $t1" | awk '{printf "%.2f", $2-$1}'
}
printf 'chunk_kib\tzstd\tv1_s\tv1_bytes\tv2_s\tv2_added\tv2c_s\tv2c_added\tindex_objects\n'
for kib in $sizes; do
  for lvl in $levels; do
    st=$work/cs-$kib-$lvl
    rm -rf "$st"
    sync
    t1=$(secs "$vs" -q -s "$st" --chunk-size $((kib * 1024)) --zstd-level "$lvl" put-image "$data/v1.raw"); r1=$(cat "$tmp")
    s1=$(size_of "$st")
    sync
    t2=$(secs "$vs" -q -s "$st" --zstd-level "$lvl" put-image "$data/v2.raw" --base "$r1" --changed "$data/v2.lst")
    s2=$(size_of "$st")
    "$vs" -q -s "$st" forget "$(cat "$tmp")"
    "$vs" -q -s "$st" gc > /dev/null
    s1b=$(size_of "$st")
    sync
    t3=$(secs "$vs" -q -s "$st" --zstd-level "$lvl" put-image "$data/v2c.raw" --base "$r1" --changed "$data/v2c.lst")
    s3=$(size_of "$st")
    objs=$("$vs" -q -s "$st" stats | awk '/^objects/ {print $2}')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kib" "$lvl" "$t1" "$s1" "$t2" $((s2 - s1)) "$t3" $((s3 - s1b)) "$objs"
    rm -rf "$st"
  done
done
