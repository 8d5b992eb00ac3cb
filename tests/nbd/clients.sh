# Real clients against nbd-serve over a unix socket and TCP loopback:
# qemu-img (info, convert both ways), qemu-io (patterns, discard, write -z),
# nbdinfo (--list, --map with exact holes), nbdcopy (round trips, 4
# connections), fio's nbd engine in verify mode.
. "$(dirname "$0")/lib.sh"
need qemu-img; need qemu-io; need nbdinfo; need nbdcopy; need fio
make_image "$T/src.img"
PORT=$(free_port)
serve S --unix "$T/s.sock" --tcp "127.0.0.1:$PORT" --create 16M \
  --export u1="$T/u1.img" --export u2="$T/u2.img" --export t1="$T/t1.img" --export t2="$T/t2.img" \
  --export ro="$T/src.img:ro" --grant "$(cap u1)=u1" --grant "$(cap u2)=u2" --grant "$(cap t1)=t1" \
  --grant "$(cap t2)=t2" --grant "$(cap ro)=ro"

t "nbdinfo --list lists nothing (names are capabilities)" sh -c "
  nbdinfo --list 'nbd+unix:///?socket=$T/s.sock' >'$T/list' 2>&1; ! grep -q '^export=' '$T/list'"
t "read-only export is read-only, others are writable with multi-conn" sh -c "
  nbdinfo 'nbd+unix:///$(cap ro)?socket=$T/s.sock' | grep -q 'is_read_only: true' &&
  nbdinfo 'nbd+unix:///$(cap u1)?socket=$T/s.sock' | grep -q 'can_multi_conn: true' &&
  nbdinfo 'nbd+unix:///$(cap u1)?socket=$T/s.sock' | grep -q 'is_read_only: false'"

for tr in unix tcp; do
  if [ $tr = unix ]; then a=u1; b=u2; URI() { echo "nbd+unix:///$(cap "$1")?socket=$T/s.sock"; }
  else a=t1; b=t2; URI() { echo "nbd://127.0.0.1:$PORT/$(cap "$1")"; }; fi
  A=$(URI $a); B=$(URI $b); RO=$(URI ro)

  t "$tr: qemu-img info reports 16 MiB" sh -c "qemu-img info '$A' | grep -q '16 MiB'"
  t "$tr: qemu-img convert file -> nbd" qemu-img convert -n -f raw -O raw "$T/src.img" "$A"
  t "$tr: qemu-img convert nbd -> file" qemu-img convert -f raw -O raw "$A" "$T/$tr-back.img"
  t "$tr: round trip is byte for byte (first 8 MiB)" cmp -n 8388608 "$T/src.img" "$T/$tr-back.img"
  t "$tr: rest of the disk reads as zeros" sh -c "cmp -i 8388608 -n 8388608 '$T/$tr-back.img' /dev/zero"
  t "$tr: qemu-img convert from the read-only export" sh -c "qemu-img convert -f raw -O raw '$RO' '$T/$tr-ro.img' && cmp '$T/src.img' '$T/$tr-ro.img'"
  t "$tr: qemu-img refuses to write the read-only export" sh -c "! qemu-io -f raw -c 'write -P 1 0 4k' '$RO' 2>&1 | grep -q '^wrote'"

  t "$tr: qemu-io write/read patterns, FUA, flush" qemu-io -f raw \
    -c 'write -P 0xa5 1M 64k' -c 'write -P 0x5a 1114112 4k' -c 'write -f -P 0x11 3M 512' -c 'flush' \
    -c 'read -P 0xa5 1M 64k' -c 'read -P 0x5a 1114112 4k' -c 'read -P 0x11 3M 512' -c 'read -P 0 3146240 512' "$B"
  t "$tr: qemu-io unaligned write and read back" qemu-io -f raw -c 'write -P 0x33 4097 3001' \
    -c 'read -P 0x33 4097 3001' -c 'read -P 0 4096 1' -c 'read -P 0 7098 1' "$B"
  t "$tr: qemu-io discard and write -z read back zeros" qemu-io -f raw \
    -c 'write -P 0x77 8M 2M' -c 'discard 8M 512k' -c 'write -z 9M 256k' -c 'write -z -u 9699328 256k' \
    -c 'read -P 0 8M 512k' -c 'read -P 0x77 8912896 512k' -c 'read -P 0 9M 512k' -c 'read -P 0x77 9961472 512k' "$B"
  # Exact map: b now has data at [0,8M) only where written; start from a fresh layout on a.
  t "$tr: qemu-io layout for the map" qemu-io -f raw -c 'write -z -u 0 16M' -c 'write -P 1 0 1M' \
    -c 'write -P 2 4M 1M' -c 'discard 0 64k' -c 'write -z -u 4M 256k' "$A"
  nbdinfo --map "$A" | awk '{print $1, $2, $3}' >"$T/$tr-map" || true
  printf '%s\n' "0 65536 3" "65536 983040 0" "1048576 3407872 3" "4456448 786432 0" "5242880 11534336 3" >"$T/want-map"
  if cmp -s "$T/want-map" "$T/$tr-map"; then ok "$tr: nbdinfo --map shows the holes exactly"
  else notok "$tr: nbdinfo --map"; diff "$T/want-map" "$T/$tr-map" | sed 's/^/#   /'; fi
  t "$tr: nbdinfo --map --totals" sh -c "nbdinfo --map --totals '$A' | grep -q ."

  t "$tr: nbdcopy file -> nbd" nbdcopy "$T/src.img" "$B"
  t "$tr: nbdcopy nbd -> file" nbdcopy "$B" "$T/$tr-copy.img"
  t "$tr: nbdcopy round trip is byte for byte" cmp -n 8388608 "$T/src.img" "$T/$tr-copy.img"
  t "$tr: nbdcopy 4 connections nbd -> nbd" nbdcopy --connections=4 --requests=16 "$RO" "$A"
  t "$tr: nbdcopy 4 connections back to a file" nbdcopy --connections=4 "$A" "$T/$tr-mc.img"
  t "$tr: multi-conn copy is byte for byte" cmp -n 8388608 "$T/src.img" "$T/$tr-mc.img"
  t "$tr: fio nbd engine randwrite+verify QD16" fio --name=v --ioengine=nbd --uri="$B" --rw=randwrite \
    --bs=4k --iodepth=16 --size=8M --verify=crc32c --do_verify=1 --verify_fatal=1 --output=/dev/null
  t "$tr: fio nbd engine 64k sequential write+verify QD8" fio --name=v2 --ioengine=nbd --uri="$B" --rw=write \
    --bs=64k --iodepth=8 --size=8M --offset=8M --verify=md5 --do_verify=1 --verify_fatal=1 --output=/dev/null
done
t "server exits cleanly on SIGTERM" stop S
finish
