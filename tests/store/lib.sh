# lib.sh — helpers for the vmrp-store shell tests (sourced by bash).
set -eu
: "${VMRP_BUILD:?VMRP_BUILD must point at the build tree}"
VS="$VMRP_BUILD/src/tools/vmrp-store"
[ -x "$VS" ] || { echo "missing $VS"; exit 1; }
W=$(mktemp -d "${TMPDIR:-/tmp}/vmrp-store-test.XXXXXX")
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# Every store of these tests is encrypted: vmrp-store reads its key (domain
# id, enc and addr keys, 80 random bytes) from this file.
(umask 077; head -c 80 /dev/urandom > "$W/store.key")
export VMRP_STORE_KEY_FILE=$W/store.key

# make_image FILE MIB [SEED]: random, text and zero regions of 1 MiB each;
# with SEED the random regions are a function of it (a run can be replayed).
make_image() {
  local m key
  : > "$1"
  for ((m = 0; m < $2; m++)); do
    case $((m % 3)) in
      0) if [ -n "${3-}" ]; then
           # AES-128-CTR keystream keyed by SEED, the image's name and m
           key=$(echo "$3/${1##*/}/$m" | sha256sum | head -c 32)
           openssl enc -aes-128-ctr -nosalt -K "$key" -iv 0 -in /dev/zero 2> /dev/null | head -c 1048576 >> "$1"
         else
           head -c 1048576 /dev/urandom >> "$1"
         fi ;;
      1) yes "vmrp test line $m with some words in it" | head -c 1048576 >> "$1" ;;
      2) head -c 1048576 /dev/zero >> "$1" ;;
    esac
  done
}

# mutate SRC DST LIST N: DST = SRC with N random 4 KiB blocks rewritten; LIST
# gets their block numbers (the changed list put-image --changed reads).
mutate() {
  local blocks k b
  cp "$1" "$2"
  blocks=$(($(stat -c %s "$1") / 4096))
  : > "$3"
  for ((k = 0; k < $4; k++)); do
    b=$(( (RANDOM * 32768 + RANDOM) % blocks ))
    head -c 4096 /dev/urandom | dd of="$2" bs=4096 seek="$b" conv=notrunc status=none
    echo "$b" >> "$3"
  done
}

# check_roots STORE FILE: every "ROOT IMAGE" line of FILE reads back exactly.
check_roots() {
  local root img
  while read -r root img; do
    "$VS" -q -s "$1" get-image "$root" "$W/check.raw" || fail "get-image $root"
    cmp "$W/check.raw" "$img" || fail "root $root differs from $img"
  done < "$2"
  rm -f "$W/check.raw"
}

# random_sleep MAX_MS
random_sleep() { sleep "$(awk -v r="$RANDOM" -v m="$1" 'BEGIN { printf "%.3f", (r % m) / 1000 }')"; }
