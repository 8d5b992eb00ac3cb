# TLS: STARTTLS with GnuTLS X.509 (forced and optional), and the rule that a
# non-loopback TCP listener refuses to start without TLS credentials.
. "$(dirname "$0")/lib.sh"
need openssl; need nbdinfo; need qemu-img; need nbdcopy
P=$T/pki; mkdir -p "$P"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=vmrp test CA" \
  -keyout "$P/ca-key.pem" -out "$P/ca-cert.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$P/server-key.pem" -out "$P/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$P/ext"
openssl x509 -req -in "$P/server.csr" -CA "$P/ca-cert.pem" -CAkey "$P/ca-key.pem" -CAcreateserial -days 2 \
  -extfile "$P/ext" -out "$P/server-cert.pem" 2>/dev/null
make_image "$T/d.img"

tf "non-loopback TCP listener without TLS is refused" sh -c "'$SERVE' --tcp 0.0.0.0:0 --export d='$T/d.img' 2>'$T/refuse.log'"
t "the refusal says why" grep -q "listen tcp: Operation not permitted" "$T/refuse.log"

PORT=$(free_port)
serve F --tcp "127.0.0.1:$PORT" --require-tls --tls-cert "$P/server-cert.pem" --tls-key "$P/server-key.pem" \
  --export d="$T/d.img" --grant "$(cap d)=d"
D=$(cap d)
tf "forced TLS: a plain-text client is refused" nbdinfo "nbd://127.0.0.1:$PORT/$D"
t "forced TLS: nbdinfo over nbds://" sh -c "nbdinfo 'nbds://localhost:$PORT/$D?tls-certificates=$P' | grep -q 'with TLS'"
tf "forced TLS: a TLS client naming the export without its capability gets nothing" nbdinfo "nbds://localhost:$PORT/d?tls-certificates=$P"
tf "forced TLS: nor with a wrong secret" nbdinfo "nbds://localhost:$PORT/${D%?}x?tls-certificates=$P"
t "forced TLS: nbdinfo --list over TLS lists nothing" sh -c "
  ! nbdinfo --list 'nbds://localhost:$PORT/?tls-certificates=$P' 2>&1 | grep -q '^export='"
t "forced TLS: nbdinfo --map" nbdinfo --map "nbds://localhost:$PORT/$D?tls-certificates=$P"
t "forced TLS: nbdcopy out and compare" sh -c "nbdcopy 'nbds://localhost:$PORT/$D?tls-certificates=$P' '$T/copy.img' && cmp '$T/d.img' '$T/copy.img'"
t "forced TLS: nbdcopy 4 connections in" nbdcopy --connections=4 "$T/copy.img" "nbds://localhost:$PORT/$D?tls-certificates=$P"
t "forced TLS: qemu-img convert with tls-creds-x509" sh -c "
  qemu-img convert --object tls-creds-x509,id=tls0,dir=$P,endpoint=client \
    --image-opts driver=nbd,host=localhost,port=$PORT,export=$D,tls-creds=tls0 -O raw '$T/q.img' &&
  cmp '$T/d.img' '$T/q.img'"
t "forced TLS: qemu-io write/read" qemu-io --object tls-creds-x509,id=tls0,dir=$P,endpoint=client \
  --image-opts driver=nbd,host=localhost,port=$PORT,export=$D,tls-creds=tls0 \
  -c 'write -P 0x42 1M 64k' -c 'read -P 0x42 1M 64k'
t "forced TLS server stops cleanly" stop F

serve U --unix "$T/s.sock" --tls-cert "$P/server-cert.pem" --tls-key "$P/server-key.pem" --export d="$T/d.img" --grant "$(cap d)=d"
t "optional TLS (unix): plain text works" nbdinfo "nbd+unix:///$D?socket=$T/s.sock"
t "optional TLS (unix): STARTTLS works" sh -c "nbdinfo 'nbds+unix:///$D?socket=$T/s.sock&tls-certificates=$P&tls-hostname=localhost' | grep -q 'with TLS'"
t "optional TLS server stops cleanly" stop U
finish
