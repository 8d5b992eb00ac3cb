# An encrypted volume (src/vol/crypt.c) served by nbd-serve --xts-key to
# real clients, over a unix socket (WRITE payloads spliced into a pipe, then
# encrypted) and TCP: a plaintext image converted in place at start reads
# back byte for byte (reads fall back from the splice path to vol_pread),
# its zero regions are holes in the map, writes of every shape read back,
# the file holds none of the data, a restart finds the conversion done, and
# another key reads something else; an independent XTS (Python's
# cryptography) decrypts the file.
. "$(dirname "$0")/lib.sh"
need qemu-io; need nbdinfo; need nbdcopy; need fio
make_image "$T/src.img"
cp --sparse=always "$T/src.img" "$T/enc.img"
head -c 64 /dev/urandom >"$T/key"
head -c 64 /dev/urandom >"$T/other"
PORT=$(free_port)
serve S --unix "$T/s.sock" --tcp "127.0.0.1:$PORT" --xts-key "$T/key" \
  --export e="$T/enc.img" --grant "$(cap e)=e"
U="nbd+unix:///$(cap e)?socket=$T/s.sock"
TCP="nbd://127.0.0.1:$PORT/$(cap e)"

# "pattern": none of the image's non-zero 64 KiB regions has its first,
# middle or last 32 bytes anywhere in FILE.
absent() {
  python3 - "$T/src.img" "$1" <<'PY'
import sys
src, f = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
for i in range(0, len(src), 65536):
    r = src[i:i + 65536]
    if r.strip(b"\0"):
        for o in (0, 32768, 65536 - 32):
            assert r[o:o + 32] not in f, f"region {i} found"
PY
}

t "converted at start: reads back byte for byte (unix)" sh -c "nbdcopy '$U' '$T/back.img' && cmp '$T/src.img' '$T/back.img'"
t "and over TCP" sh -c "nbdcopy --connections=4 '$TCP' '$T/back2.img' && cmp '$T/src.img' '$T/back2.img'"
t "the file holds none of the image" absent "$T/enc.img"
t "its format: XTS-AES-256 per 4 KiB sector, tweak = the sector number (dm-crypt's plain64)" \
  python3 - "$T/key" "$T/src.img" "$T/enc.img" <<'PY'
import sys
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
key, src, enc = (open(p, "rb").read() for p in sys.argv[1:])
for s in (0, 5, 1000, 2000):
    d = Cipher(algorithms.AES(key), modes.XTS(s.to_bytes(16, "little"))).decryptor()
    assert d.update(enc[s * 4096:(s + 1) * 4096]) + d.finalize() == src[s * 4096:(s + 1) * 4096], s
assert enc[2047 * 4096:] == bytes(4096)  # a zero sector is stored as zeros
PY
nbdinfo --map "$U" | awk '$3 == 3 {print $1, $2}' >"$T/holes" || true
python3 - "$T/want-holes" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(128):
        if i % 3 == 1:
            f.write(f"{i * 65536} 65536\n")
PY
t "its zero regions are holes" cmp "$T/want-holes" "$T/holes"

for tr in unix tcp; do
  if [ $tr = unix ]; then URI=$U; else URI=$TCP; fi
  t "$tr: qemu-io patterns, unaligned, FUA, discard, write -z" qemu-io -f raw \
    -c 'write -P 0xa5 1M 64k' -c 'write -P 0x33 4097 3001' -c 'write -f -P 0x11 3M 512' \
    -c 'write -P 0x77 5M 1M' -c 'discard 5M 512k' -c 'write -z 5767168 100000' -c 'flush' \
    -c 'read -P 0xa5 1M 64k' -c 'read -P 0x33 4097 3001' -c 'read -P 0x11 3M 512' \
    -c 'read -P 0 5767168 100000' -c 'read -P 0x77 5867168 180576' "$URI"
  t "$tr: fio randwrite 4k + verify QD16" fio --name=v --ioengine=nbd --uri="$URI" --rw=randwrite \
    --bs=4k --iodepth=16 --size=4M --verify=crc32c --verify_state_save=0 --do_verify=1 --verify_fatal=1 --output=/dev/null
  t "$tr: fio 1M sequential write + verify QD8" fio --name=v2 --ioengine=nbd --uri="$URI" --rw=write \
    --bs=1M --iodepth=8 --size=4M --offset=4M --verify=md5 --verify_state_save=0 --do_verify=1 --verify_fatal=1 --output=/dev/null
done
t "nbdcopy of the image over it, then back" sh -c "nbdcopy '$T/src.img' '$U' && nbdcopy '$U' '$T/back3.img' && cmp '$T/src.img' '$T/back3.img'"
t "clean stop" stop S

serve S --unix "$T/s.sock" --xts-key "$T/key" --export e="$T/enc.img" --grant "$(cap e)=e"
t "after a restart (conversion found done) it reads the same" sh -c "nbdcopy '$U' '$T/back4.img' && cmp '$T/src.img' '$T/back4.img'"
t "the file still holds none of it" absent "$T/enc.img"
t "clean stop" stop S
serve S --unix "$T/s.sock" --xts-key "$T/other" --export e="$T/enc.img:ro" --grant "$(cap e)=e"
t "another key reads something else (XTS has no integrity check)" sh -c "nbdcopy '$U' '$T/back5.img' && ! cmp -s '$T/src.img' '$T/back5.img'"
finish
