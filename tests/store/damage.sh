#!/bin/bash
# damage.sh — operator view of damage: flip bits in packs and index files,
# truncate a pack, delete an index file.  verify must report every flip and
# the affected roots (exit 1), get-image of an affected root must fail
# instead of returning wrong bytes, and every root verify does not name still
# reads back exactly.  A deleted index file is rebuilt from its pack.
#
# The flips (tests/store/flips.py): one in every byte class of a pack and its
# index file (pack header, record header, group member table, plain and zstd
# payload, tree node, the open pack's last record, index file), each at a
# byte and bit drawn from the seed, plus DAMAGE_RANDOM (default 3) bytes
# drawn from all pack and index bytes.  Each flip XORs one bit (so the byte
# always changes) and is undone before the next.  The images are a function
# of the seed too: DAMAGE_SEED=N replays a run exactly; the seed is printed
# first and again on failure.
. "$(dirname "$0")/lib.sh"
SEED=${DAMAGE_SEED:-$(( (RANDOM << 15 | RANDOM) ))}
echo "damage: seed $SEED (DAMAGE_SEED=$SEED replays this run)"
FLIP=
fail() { echo "FAIL: $* (DAMAGE_SEED=$SEED${FLIP:+; flip: $FLIP})" >&2; exit 1; }
S=$W/store
make_image "$W/a.raw" 4 "$SEED"
make_image "$W/b.raw" 4 "$SEED"
ra=$("$VS" -q -s "$S" --pack-size 1048576 put-image "$W/a.raw")
rb=$("$VS" -q -s "$S" --pack-size 1048576 put-image "$W/b.raw")
"$VS" -q -s "$S" verify > /dev/null || fail "fresh store does not verify"
first=$(ls "$S/packs" | grep 'pack$' | head -1)
echo "$ra $W/a.raw" > "$W/both"; echo "$rb $W/b.raw" >> "$W/both"

# flip FILE OFFSET BIT: XOR one bit of one byte (twice restores it).
flip() {
  local b
  b=$(od -An -tu1 -j "$2" -N1 "$S/packs/$1" | tr -d ' ')
  [ -n "$b" ] || fail "no byte $2 in $1"
  printf "\\$(printf %03o $((b ^ (1 << $3))))" | dd of="$S/packs/$1" bs=1 seek="$2" conv=notrunc status=none
}

# verify_flipped CLASS: verify reports the flip, and the roots it names are
# exactly those whose get-image fails; the others read back exactly.
verify_flipped() {
  local rc=0 root img named=0 summary
  "$VS" -q -s "$S" verify > "$W/v" 2> "$W/verr" < /dev/null || rc=$?
  [ "$rc" = 1 ] || { cat "$W/v" "$W/verr" >&2; fail "bit flip not detected (verify exit $rc)"; }
  summary=$(grep '^verify: ' "$W/v") || { cat "$W/verr" >&2; fail "verify failed without a report"; }
  if echo "$summary" | grep -q ' 0 damaged regions, 0 damaged or missing objects'; then
    fail "verify exit 1 but nothing reported"
  fi
  while read -r root img; do
    if grep -q "^affected-root $root" "$W/v"; then
      named=$((named + 1))
      if "$VS" -q -s "$S" get-image "$root" "$W/out.raw" 2> /dev/null; then fail "root $root named by verify was served"; fi
    else
      "$VS" -q -s "$S" get-image "$root" "$W/out.raw" 2> /dev/null || fail "root $root not named by verify does not read"
      cmp -s "$W/out.raw" "$img" || fail "root $root not named by verify reads back wrong bytes"
    fi
  done < "$W/both"
  case $1 in
    pack-header | index)
      [ "$named" = 0 ] || fail "$1: no object is damaged, but $named roots are named"
      if grep -q '^damaged \|^missing ' "$W/v"; then fail "$1: no object is damaged, but objects are listed"; fi
      if echo "$summary" | grep -q ' 0 damaged regions'; then fail "$1: the damaged region is not counted"; fi ;;
    open-tail)
      [ "$named" -gt 0 ] || fail "$1: no root named"
      grep -q '^damaged \|^missing ' "$W/v" || fail "$1: no damaged or missing object listed" ;;
    random) ;;
    *)
      [ "$named" -gt 0 ] || fail "$1: no root named"
      grep -q '^damaged ' "$W/v" || fail "$1: no damaged object listed" ;;
  esac
}

# 1. A flipped bit in the first pack (holding only a's data: a's first,
#    random MiB, stored verbatim) is found, and names a alone.
FLIP="first $first 5000 0"
flip "$first" 5000 0
verify_flipped payload-plain
grep -q "^affected-root $ra" "$W/v" || fail "affected root a not named"
grep -q "^affected-root $rb" "$W/v" && fail "root b wrongly named"
flip "$first" 5000 0

# 2. One flip in every byte class, then random ones (see the top).
python3 "$(dirname "$0")/flips.py" "$S/packs" "$SEED" "${DAMAGE_RANDOM:-3}" > "$W/flips" || fail "flips.py"
classes=0
while read -r -u 3 cls file off bit; do
  FLIP="$cls $file $off $bit"
  flip "$file" "$off" "$bit"
  verify_flipped "$cls"
  flip "$file" "$off" "$bit"
  classes=$((classes + 1))
done 3< "$W/flips"
FLIP=
[ "$classes" -ge 8 ] || fail "only $classes flips"
"$VS" -q -s "$S" verify > /dev/null || fail "store does not verify after the flips were undone"
check_roots "$S" "$W/both"

# 3. A deleted index file: verify (read-only) scans the pack instead; the
#    next writable open rebuilds the file; nothing is lost.
rm "$S/packs/${first%.pack}.idx"
"$VS" -q -s "$S" verify > /dev/null || fail "verify after deleting an index"
"$VS" -q -s "$S" gc --dry-run > /dev/null || fail "writable open"
[ -f "$S/packs/${first%.pack}.idx" ] || fail "index not rebuilt"
check_roots "$S" "$W/both"

# 4. A truncated pack: its missing records are reported.
second=$(ls "$S/packs" | grep 'pack$' | sed -n 2p)
truncate -s 3000 "$S/packs/$second"
if "$VS" -q -s "$S" verify > "$W/v2"; then fail "truncation not detected"; fi
grep -q "^affected-root $ra" "$W/v2" || fail "truncation: root a not named"
echo "$rb $W/b.raw" > "$W/b"
check_roots "$S" "$W/b"
echo "damage: $classes flips ($(cut -d' ' -f1 "$W/flips" | sort -u | paste -sd ' ')) all detected, nothing damaged served"
