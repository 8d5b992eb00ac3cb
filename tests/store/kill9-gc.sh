#!/bin/bash
# kill9-gc.sh — kill -9 vmrp-store gc at random moments, repeatedly, while
# roots are being forgotten.  After each kill: verify is clean and every
# remaining root reads back byte for byte; a final gc completes and frees
# the space of the forgotten roots.
. "$(dirname "$0")/lib.sh"
S=$W/store
: > "$W/live"
for i in 0 1 2 3 4 5 6 7; do
  make_image "$W/v$i.raw" 6
  r=$("$VS" -q -s "$S" --pack-size 262144 put-image "$W/v$i.raw")
  echo "$r $W/v$i.raw" >> "$W/live"
done
before=$(du -sb "$S/packs" | cut -f1)
kills=0
for i in 0 1 2 3 4 5; do
  root=$(sed -n 1p "$W/live" | cut -d' ' -f1)
  "$VS" -q -s "$S" forget "$root"
  sed -i 1d "$W/live"
  "$VS" -q -s "$S" --threshold 0.9 gc > /dev/null 2>&1 &
  pid=$!
  random_sleep 80
  if kill -9 "$pid" 2> /dev/null; then kills=$((kills + 1)); fi
  wait "$pid" 2> /dev/null || true
  "$VS" -q -s "$S" verify > "$W/verify" || { cat "$W/verify"; fail "verify after gc kill $i"; }
  check_roots "$S" "$W/live"
done
"$VS" -q -s "$S" --threshold 0.9 gc > /dev/null
"$VS" -q -s "$S" verify > /dev/null || fail "verify after final gc"
check_roots "$S" "$W/live"
after=$(du -sb "$S/packs" | cut -f1)
[ "$after" -lt $((before / 2)) ] || fail "gc freed too little: $before -> $after"
echo "kill9-gc: $kills kills; $(wc -l < "$W/live") roots verified; packs $before -> $after bytes"
