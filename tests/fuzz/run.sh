#!/usr/bin/env bash
# One fuzzing session of a harness: replays every file of regress/NAME/ and
# corpus/NAME/, then fuzzes for VMRP_FUZZ_SECONDS (default 10) from those
# inputs, dictionary dict/NAME.dict if there is one.  Fails on any crash,
# leak, UBSan report or input slower than 60 s; libFuzzer writes the input
# that did it to VMRP_FUZZ_ARTIFACTS (default <build>/fuzz/NAME/).
#   Usage: run.sh BINARY NAME
#   VMRP_FUZZ_CORPUS   where new inputs go (default: a fresh <build>/fuzz/NAME/corpus)
# The CTest fuzz_NAME runs this; scripts/fuzz runs it for longer.
set -euo pipefail
bin=$1 name=$2
here=$(cd "$(dirname "$0")" && pwd)
secs=${VMRP_FUZZ_SECONDS:-10}
work=${VMRP_BUILD:-$(dirname "$(dirname "$bin")")}/fuzz/$name
if [ -z "${VMRP_FUZZ_CORPUS:-}" ]; then
  rm -rf "$work/corpus"
  VMRP_FUZZ_CORPUS=$work/corpus
fi
artifacts=${VMRP_FUZZ_ARTIFACTS:-$work/}
mkdir -p "$work" "$VMRP_FUZZ_CORPUS" "$(dirname "$artifacts.")"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

opts=(-timeout=60 -rss_limit_mb=4096 -artifact_prefix="$artifacts")
[ ! -f "$here/dict/$name.dict" ] || opts+=(-dict="$here/dict/$name.dict")
seeds=()
for d in "$here/regress/$name" "$here/corpus/$name"; do
  [ ! -d "$d" ] || seeds+=("$d")
done

replay=()
[ ${#seeds[@]} -eq 0 ] || mapfile -t replay < <(find -L "${seeds[@]}" -type f | sort)
echo "fuzz_$name: replaying ${#replay[@]} inputs"
[ ${#replay[@]} -eq 0 ] || "$bin" "${opts[@]}" "${replay[@]}" >/dev/null 2>"$work/replay.log" ||
  { cat "$work/replay.log" >&2; echo "fuzz_$name: FAIL: a committed input crashes" >&2; exit 1; }

echo "fuzz_$name: fuzzing ${secs} s"
exec "$bin" "${opts[@]}" -max_total_time="$secs" -print_final_stats=1 "$VMRP_FUZZ_CORPUS" "${seeds[@]}"
