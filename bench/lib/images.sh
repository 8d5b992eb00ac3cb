# bench/lib/images.sh — the shared generator's images and the changed-block
# writer, for the suites that put them on vmrp disks (bench/rp, bench/repl).
# Source it from bash after setting `repo` (the source tree) and `quick`
# (0 or 1).  It sets:
#   gen   the generator (VMRP_GEN_IMAGE, default ../shared/bench/gen-image.py)
#   data  the image directory: VMRP_BENCH_DATA (default var/bench-data), with
#         --quick VMRP_BENCH_DATA_QUICK (default var/bench-data-quick)
bench_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
gen=${VMRP_GEN_IMAGE:-$repo/../shared/bench/gen-image.py}
data=${VMRP_BENCH_DATA:-$repo/var/bench-data}
[ "$quick" = 1 ] && data=${VMRP_BENCH_DATA_QUICK:-$repo/var/bench-data-quick}

# bench_images SIZE: v1.raw (seed 1), v2.raw + v2.lst (1 % scattered 4 KiB
# blocks, seed 2, base v1) and v2c.raw + v2c.lst (the same count in 1 MiB
# runs, base v1) in $data, generated once and then reused; sets img (bytes
# of v1.raw) and gib (the disk size in GiB that holds it).
bench_images() {
  mkdir -p "$data"
  if [ ! -f "$data/v2c.lst" ] || [ ! -f "$data/v2.lst" ]; then
    echo "generating $1 images in $data" >&2
    python3 "$gen" create "$data/v1.raw" --size "$1" --seed 1 --quiet >/dev/null
    python3 "$gen" mutate "$data/v1.raw" "$data/v2.raw" --percent 1 --seed 2 --changed-list "$data/v2.lst" >/dev/null
    python3 "$gen" mutate "$data/v1.raw" "$data/v2c.raw" --percent 1 --seed 2 --run 256 --changed-list "$data/v2c.lst" >/dev/null
  fi
  img=$(stat -c %s "$data/v1.raw")
  gib=$(( (img + (1 << 30) - 1) >> 30 ))
}

# apply IMAGE LIST TARGET: writes the listed 4 KiB blocks of IMAGE (contiguous
# blocks coalesced, up to 1 MiB a write) to TARGET, then flushes: an NBD URI
# (libnbd: the changed blocks only, as a guest writes them), or a file (for
# images derived from others: written in place, fsync'd).
apply() {
  /usr/bin/python3 "$bench_lib/apply-changes.py" "$@"
}
