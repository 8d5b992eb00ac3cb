#!/bin/bash
# damage.sh — operator view of damage: flip bits in packs and index files,
# truncate a pack, delete an index file.  verify must report every flip and
# the affected roots (exit 1), get-image of an affected root must fail
# instead of returning wrong bytes, and every root verify does not name still
# reads back exactly.  A deleted index file is rebuilt from its pack.
#
# The store is encrypted (lib.sh).  The flips (tests/store/flips.py): one in
# every byte class of a pack and its index file (pack header, record header,
# a record's seal — domain id, salt, GCM tag —, group member table, plain and
# zstd payload, tree node, the open pack's last record, index file), each at a
# byte and bit drawn from the seed, plus DAMAGE_RANDOM (default 3) bytes
# drawn from all pack and index bytes.  Each flip XORs one bit (so the byte
# always changes) and is undone before the next.  The images are a function
# of the seed too: DAMAGE_SEED=N replays a run exactly; the seed is printed
# first and again on failure.
. "$(dirname "$0")/lib.sh"
SEED=${DAMAGE_SEED:-$(( (RANDOM << 15 | RANDOM) ))}
echo "damage: seed $SEED (DAMAGE_SEED=$SEED replays this run)"
fail() { echo "FAIL: $* (DAMAGE_SEED=$SEED)" >&2; exit 1; }
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

# 1. A flipped bit in the first pack (holding only a's data: a's first,
#    random MiB, stored verbatim) is found, and names a alone.
flip "$first" 5000 0
if "$VS" -q -s "$S" verify > "$W/v1"; then fail "bit flip not detected"; fi
grep -q "^damaged " "$W/v1" || fail "no damaged object listed"
grep -q "^affected-root $ra" "$W/v1" || fail "affected root a not named"
grep -q "^affected-root $rb" "$W/v1" && fail "root b wrongly named"
if "$VS" -q -s "$S" get-image "$ra" "$W/out.raw" 2> /dev/null; then fail "damaged root a was served"; fi
echo "$rb $W/b.raw" > "$W/b"
check_roots "$S" "$W/b"
flip "$first" 5000 0

# 2. One flip in every byte class, then random ones (see the top).
rc=0
python3 "$(dirname "$0")/flips.py" "$VS" "$S" "$W/both" "$SEED" "${DAMAGE_RANDOM:-3}" > "$W/flips" || rc=$?
cat "$W/flips"
[ "$rc" = 0 ] || exit 1
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
check_roots "$S" "$W/b"
echo "damage: $(grep -c '^ok - ' "$W/flips") flips ($(sed -n 's/^ok - \([a-z-]*\):.*/\1/p' "$W/flips" | sort -u | paste -sd ' ')) all detected, nothing damaged served"
