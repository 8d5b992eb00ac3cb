# Large requests (payload.c) against nbd-serve over a unix socket and TCP:
# WRITE payloads spliced into the volume or copied, READ replies spliced to
# a slow reader, disconnects mid-payload and mid-reply.  Every READ is
# checked against the client's model, and after a clean stop each volume
# file must equal its model byte for byte.
. "$(dirname "$0")/lib.sh"
PAYLOAD=$VMRP_BUILD/tests/nbd/nbd-payload
PORT=$(free_port)
serve S --unix "$T/s.sock" --tcp "127.0.0.1:$PORT" --create 16M --export u="$T/u.img" --export t="$T/t.img" \
  --grant "$(cap u)=u" --grant "$(cap t)=t"
for tr in unix tcp; do
  if [ $tr = unix ]; then addr=unix:$T/s.sock; e=u; else addr=tcp:$PORT; e=t; fi
  if "$PAYLOAD" "$addr" "$(cap $e)" "$T/$tr.model" >"$T/$tr.out" 2>&1; then ok "$tr: large requests"; else notok "$tr: large requests"; fi
  cat "$T/$tr.out"
done
t "server exits cleanly on SIGTERM" stop S
t "unix: the volume file equals the client's model" cmp "$T/unix.model" "$T/u.img"
t "tcp: the volume file equals the client's model" cmp "$T/tcp.model" "$T/t.img"
finish
