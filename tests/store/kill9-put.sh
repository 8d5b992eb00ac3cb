#!/bin/bash
# kill9-put.sh — kill -9 vmrp-store put-image (full and incremental) at random
# moments, repeatedly.  After each kill the store must open, verify clean,
# and every root put-image reported (printed) must read back byte for byte.
. "$(dirname "$0")/lib.sh"
S=$W/store
make_image "$W/v0.raw" 24
: > "$W/done"
base=$("$VS" -q -s "$S" --pack-size 1048576 put-image "$W/v0.raw")
echo "$base $W/v0.raw" >> "$W/done"
kills=0
for i in 1 2 3 4 5 6 7 8 9 10; do
  mutate "$W/v0.raw" "$W/v$i.raw" "$W/v$i.lst" 200
  if [ $((i % 2)) -eq 0 ]; then
    set -- put-image "$W/v$i.raw" --base "$base" --changed "$W/v$i.lst"
  else
    set -- put-image "$W/v$i.raw"
  fi
  "$VS" -q -s "$S" --pack-size 1048576 "$@" > "$W/out" 2> "$W/err" &
  pid=$!
  random_sleep 120
  if kill -9 "$pid" 2> /dev/null; then kills=$((kills + 1)); fi
  wait "$pid" 2> /dev/null || true
  # A root counts as reported only if it was printed in full.
  if [ "$(wc -c < "$W/out")" -eq 65 ]; then
    echo "$(cat "$W/out") $W/v$i.raw" >> "$W/done"
  fi
  "$VS" -q -s "$S" verify > "$W/verify" || { cat "$W/verify"; fail "verify after kill $i"; }
  check_roots "$S" "$W/done"
done
# The store still takes new work after all that.
r=$("$VS" -q -s "$S" put-image "$W/v1.raw")
echo "$r $W/v1.raw" > "$W/last"
check_roots "$S" "$W/last"
echo "kill9-put: $kills kills, $(wc -l < "$W/done") completed roots verified"
