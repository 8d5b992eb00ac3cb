# Hostile clients (hostile.c) against nbd-serve: every violation gets the
# protocol's error or a disconnect, the server keeps serving, and the
# volumes' bytes are unchanged.
. "$(dirname "$0")/lib.sh"
make_image "$T/rw.img"
cp "$T/rw.img" "$T/ro.img"
cp "$T/rw.img" "$T/orig.img"
serve S --unix "$T/s.sock" --export rw="$T/rw.img" --export "ro=$T/ro.img:ro" --grant "$(cap rw)=rw" \
  --grant "$(cap ro)=ro"
if "$HOSTILE" "$T/s.sock" "$(cap rw)" "$(cap ro)" >"$T/hostile.out"; then ok "hostile client: all checks"; else notok "hostile client"; fi
cat "$T/hostile.out"
h=$(tail -n 1 "$T/hostile.out"); PASSED=$((PASSED + ${h%% passed*})); FAILED=$((FAILED + $(echo "$h" | sed 's/.*, \([0-9]*\) failed/\1/')))
t "server still answers qemu-img info" qemu-img info "nbd+unix:///$(cap rw)?socket=$T/s.sock"
t "server exits cleanly on SIGTERM" stop S
t "writable volume unchanged" cmp "$T/orig.img" "$T/rw.img"
t "read-only volume unchanged" cmp "$T/orig.img" "$T/ro.img"
finish
