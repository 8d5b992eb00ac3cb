# Access by capability (src/nbd/access.c) over a unix socket and TCP, as root
# and as another local user (nobody): the export's own name, no name, a
# forged, truncated or other grant's secret, an unknown id — each opens
# nothing by any option (tests/lib/nbd_probe.py: LIST, INFO, GO, the meta
# context options, EXPORT_NAME) and is logged without the secret, at most
# ten lines a minute; the right capability opens the export for either
# user; a read-only grant on a writable export cannot write.
. "$(dirname "$0")/lib.sh"
need nbdinfo; need qemu-io; need runuser
PROBE="python3 $VMRP_SRC/tests/lib/nbd_probe.py"
make_image "$T/a.img"
cp "$T/a.img" "$T/orig.img"
make_image "$T/b.img"
chmod 0755 "$T"
chmod 0666 "$T/a.img" "$T/b.img"
A=a.0123456789abcdef0123456789abcdef
B=b.fedcba9876543210fedcba9876543210
AR=ar.00112233445566778899aabbccddeeff
PORT=$(free_port)
serve S --unix "$T/s.sock" --tcp "127.0.0.1:$PORT" --export a="$T/a.img" --export b="$T/b.img" \
  --grant "$A=a" --grant "$B=b" --grant "$AR=a:ro"
chmod 0777 "$T/s.sock"
t "a wrong secret opens nothing" sh -c "! nbdinfo 'nbd+unix:///a.0123456789abcdef0123456789abcdee?socket=$T/s.sock'"
t "and is logged with the peer and the grant id" grep -q "refused to open an export for uid 0: grant 'a' presented with a wrong secret" "$T/S.log"

for tr in unix tcp; do
  if [ $tr = unix ]; then ADDR=unix:$T/s.sock; URI() { echo "nbd+unix:///$1?socket=$T/s.sock"; }
  else ADDR=tcp:127.0.0.1:$PORT; URI() { echo "nbd://127.0.0.1:$PORT/$1"; }; fi
  for who in root nobody; do
    [ $who = root ] && as=() || as=(runuser -u nobody --)
    for name in a "" a.0123456789abcdef0123456789abcdee a.fedcba9876543210fedcba9876543210 \
                b.0123456789abcdef0123456789abcdef a.0123456789abcdef zz.0123456789abcdef0123456789abcdef a. \
                .0123456789abcdef0123456789abcdef "$A.x" "$A/"; do
      t "$tr, $who: '$name' opens nothing (LIST, INFO, GO, meta contexts, EXPORT_NAME)" "${as[@]}" $PROBE refused "$ADDR" "$name"
    done
    tf "$tr, $who: nbdinfo of the export's own name fails" "${as[@]}" nbdinfo "$(URI a)"
    t "$tr, $who: nbdinfo --list lists nothing" sh -c "! ${as[*]} nbdinfo --list '$(URI '')' 2>&1 | grep -q '^export='"
    t "$tr, $who: the capability opens the export" "${as[@]}" $PROBE opens "$ADDR" "$A"
    t "$tr, $who: nbdinfo with the capability" sh -c "${as[*]} nbdinfo '$(URI "$A")' | grep -q 'is_read_only: false'"
    t "$tr, $who: the read-only grant opens it read-only" sh -c "${as[*]} nbdinfo '$(URI "$AR")' | grep -q 'is_read_only: true'"
    t "$tr, $who: a WRITE sent through the read-only grant anyway: EPERM" "${as[@]}" $PROBE readonly "$ADDR" "$AR"
    t "$tr, $who: a write through the read-only grant fails" sh -c "
      ! ${as[*]} qemu-io -f raw -c 'write -P 0x42 0 64k' '$(URI "$AR")' 2>&1 | grep -q '^wrote'"
  done
done
t "the read-only grant's writes did not reach the file" cmp "$T/orig.img" "$T/a.img"
t "a write through the read-write grant does" qemu-io -f raw -c 'write -P 0x42 0 64k' "$(URI "$A")"
tf "and the file changed" cmp "$T/orig.img" "$T/a.img"

t "no secret appears in the log" sh -c "! grep -E '0123456789abcdef|fedcba9876543210|00112233445566778899aabbccddeeff' '$T/S.log'"
n=$(grep -c "refused to open" "$T/S.log" || true)
t "at most 10 refusals logged a minute (of about 100: $n)" test "$n" -le 10
t "server exits cleanly on SIGTERM" stop S
finish
