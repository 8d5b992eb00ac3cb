#!/bin/bash
# damage.sh — operator view of damage: flip a bit in a pack, truncate a pack,
# delete an index file.  verify must report the damage and the affected root
# (exit 1), get-image of that root must fail instead of returning wrong
# bytes, and unaffected roots still read back exactly.  A deleted index file
# is rebuilt from its pack.
. "$(dirname "$0")/lib.sh"
S=$W/store
make_image "$W/a.raw" 8
make_image "$W/b.raw" 8
ra=$("$VS" -q -s "$S" --pack-size 1048576 put-image "$W/a.raw")
rb=$("$VS" -q -s "$S" --pack-size 1048576 put-image "$W/b.raw")
"$VS" -q -s "$S" verify > /dev/null || fail "fresh store does not verify"
first=$(ls "$S/packs" | grep 'pack$' | head -1)

# 1. A deleted index file: verify (read-only) scans the pack instead; the
#    next writable open rebuilds the file; nothing is lost.
rm "$S/packs/${first%.pack}.idx"
"$VS" -q -s "$S" verify > /dev/null || fail "verify after deleting an index"
"$VS" -q -s "$S" gc --dry-run > /dev/null || fail "writable open"
[ -f "$S/packs/${first%.pack}.idx" ] || fail "index not rebuilt"
echo "$ra $W/a.raw" > "$W/both"; echo "$rb $W/b.raw" >> "$W/both"
check_roots "$S" "$W/both"

# 2. A flipped bit in the first pack (holding only a's data) is found.
printf '\377' | dd of="$S/packs/$first" bs=1 seek=5000 conv=notrunc status=none
if "$VS" -q -s "$S" verify > "$W/v1"; then fail "bit flip not detected"; fi
grep -q "^damaged " "$W/v1" || fail "no damaged object listed"
grep -q "^affected-root $ra" "$W/v1" || fail "affected root a not named"
grep -q "^affected-root $rb" "$W/v1" && fail "root b wrongly named"
if "$VS" -q -s "$S" get-image "$ra" "$W/out.raw" 2> /dev/null; then fail "damaged root a was served"; fi
echo "$rb $W/b.raw" > "$W/b"
check_roots "$S" "$W/b"

# 3. A truncated pack: its missing records are reported.
second=$(ls "$S/packs" | grep 'pack$' | sed -n 2p)
truncate -s 3000 "$S/packs/$second"
if "$VS" -q -s "$S" verify > "$W/v2"; then fail "truncation not detected"; fi
grep -q "^affected-root $ra" "$W/v2" || fail "truncation: root a not named"
check_roots "$S" "$W/b"
echo "damage: all detected, nothing damaged served"
