# Bounded resources (src/nbd/server.c, transmission.c): 300 idle handshakes
# from one client (user nobody on the unix socket, 127.0.0.2 on TCP) are
# refused past the per-client limit and dropped at the handshake deadline
# while a legitimate client opens at once; a client trickling its handshake
# a byte at a time is dropped at the deadline all the same; an idle
# connection in transmission is dropped after the idle timeout (a busy one
# is not); clients that send 32 MiB READs and never read the replies keep the
# server's memory bounded and are dropped after the send timeout while
# another client keeps working; when many clients fill the server with
# handshakes, a new one gets in by closing a handshake of the heaviest.
# Each limit is logged when it bites.
. "$(dirname "$0")/lib.sh"
need nbdinfo; need qemu-io; need runuser
PROBE="python3 $VMRP_SRC/tests/lib/nbd_probe.py"
chmod 0755 "$T"
mkdir -m 0777 "$T/w" # what user nobody writes
C=d.0123456789abcdef0123456789abcdef
PORT=$(free_port)
serve S --unix "$T/s.sock" --tcp "127.0.0.1:$PORT" --create 64M --export d="$T/d.img" --grant "$C=d" \
  --handshake-timeout 3 --idle-timeout 3 --send-timeout 3
chmod 0777 "$T/s.sock"
U=nbd+unix:///$C?socket=$T/s.sock
PID=$S_PID
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# 1. 300 idle handshakes from one client, over unix (nobody) and TCP (127.0.0.2).
for tr in unix tcp; do
  rm -f "$T/w/ready"
  if [ $tr = unix ]; then
    runuser -u nobody -- $PROBE hold "unix:$T/s.sock" 300 12 "$T/w/ready" >"$T/hold.out" 2>&1 &
  else
    NBD_PROBE_SOURCE=127.0.0.2 $PROBE hold "tcp:127.0.0.1:$PORT" 300 12 "$T/w/ready" >"$T/hold.out" 2>&1 &
  fi
  holder=$!
  for _ in $(seq 100); do [ -f "$T/w/ready" ] && break; sleep 0.1; done
  # "at once": well before the held handshakes' 3 s deadline frees any room,
  # timed by the probe from its connect (a loaded machine's Python start-up
  # is not the server's doing)
  out=$($PROBE opens "unix:$T/s.sock" "$C") || out=refused
  took=$(sed -n 's/^opened in \([0-9]*\)\.[0-9] ms$/\1/p' <<<"$out")
  t "$tr: with 300 handshakes of another client held, a client opens at once ($out)" test -n "$took"
  t "$tr: ... in ${took:-?} ms" test "${took:-9999}" -lt 2000
  t "$tr: and over TCP" $PROBE opens "tcp:127.0.0.1:$PORT" "$C"
  wait "$holder"
  out=$(cat "$T/hold.out")
  t "$tr: every one of the 300 is closed by the server, the last at the 3 s deadline ($out)" \
    python3 -c "import re,sys; m=re.match(r'(\d+) of 300 closed.*after ([\d.]+) s', sys.argv[1]); sys.exit(not (m and int(m[1]) == 300 and float(m[2]) < 6))" "$out"
done
t "the per-client limit is logged" grep -q "refused a connection of uid 65534: its own connection limit (32) is reached" "$T/S.log"
t "the handshake deadline is logged" grep -q "dropped a connection of uid 65534: its handshake did not end in time (limit 3 s)" "$T/S.log"
n=$(grep -c "refused a connection" "$T/S.log" || true)
t "at most 10 refusals logged a minute (of 536: $n)" test "$n" -le 10

# 2. A trickle does not extend the handshake deadline.  (The timeouts' log
# budget is spent for this minute: from here the test judges by behaviour.)
out=$($PROBE trickle "unix:$T/s.sock" 0.5 15)
t "a client sending its handshake a byte every 0.5 s is dropped at the deadline ($out)" \
  python3 -c "import re,sys; m=re.match(r'closed after ([\d.]+) s', sys.argv[1]); sys.exit(not (m and 2.5 < float(m[1]) < 5.5))" "$out"

# 3. and 4. on a server of their own, whose log budget is fresh.
t "server exits cleanly on SIGTERM" stop S
serve S2 --unix "$T/s2.sock" --create 64M --export d="$T/d.img" --grant "$C=d" --idle-timeout 3 --send-timeout 3
U=nbd+unix:///$C?socket=$T/s2.sock
PID=$S2_PID

# 3. Idle in transmission.
t "a connection idle for 6 s is dropped (idle timeout 3 s), one reading every 0.5 s is not" /usr/bin/python3 -c '
import nbd, sys, time
idle = nbd.NBD(); idle.connect_uri(sys.argv[1])
busy = nbd.NBD(); busy.connect_uri(sys.argv[1])
for _ in range(12):
    time.sleep(0.5)
    busy.pread(4096, 0)
try:
    idle.pread(4096, 0)
    sys.exit("the idle connection still answers after 6 s")
except nbd.Error:
    pass
busy.pread(4096, 0)' "$U"
t "and logged" grep -q "dropped a connection of uid 0: idle in transmission (limit 3 s)" "$T/S2.log"

# 4. 32 MiB READs never read: 4 connections, 32 requests each.
rss() { awk '/^VmRSS/ {print $2}' "/proc/$PID/status"; }
base=$(rss)
for i in 1 2 3 4; do $PROBE unread "unix:$T/s2.sock" "$C" 32 33554432 >"$T/unread.$i" 2>&1 & eval "u$i=\$!"; done
max=$base; ok_reads=0
t0=$(date +%s%N)
while kill -0 "$u1" 2>/dev/null || kill -0 "$u2" 2>/dev/null || kill -0 "$u3" 2>/dev/null || kill -0 "$u4" 2>/dev/null; do
  r=$(rss); [ "$r" -gt "$max" ] && max=$r
  qemu-io -r -f raw -c 'read 0 1M' "$U" >/dev/null 2>&1 && ok_reads=$((ok_reads + 1))
  [ "$(ms_since "$t0")" -gt 60000 ] && break
  sleep 0.2
done
wait "$u1" "$u2" "$u3" "$u4" || true
grow=$(( (max - base) / 1024 ))
t "4 clients with 32 x 32 MiB READs unread: the server grew by $grow MiB (< 256; unbounded: 4 x 8 x 32 MiB)" test "$grow" -lt 256
for i in 1 2 3 4; do
  out=$(tr '\n' ' ' <"$T/unread.$i")
  t "client $i is dropped after the 3 s send timeout ($out)" \
    python3 -c "import re,sys; m=re.search(r'dropped after ([\d.]+) s', sys.argv[1]); sys.exit(not (m and float(m[1]) < 20))" "$out"
done
t "meanwhile another client read the disk ($ok_reads reads)" test "$ok_reads" -gt 3
t "the wait for replies to go out is logged" grep -q "bytes of replies and payloads in flight: no more requests read until they are answered" "$T/S2.log"
t "the send timeout is logged" grep -q "dropped a connection of uid 0: a reply made no progress (the client does not read) (limit 3 s)" "$T/S2.log"
t "the server still serves" nbdinfo "$U"
t "server exits cleanly on SIGTERM" stop S2

# 5. Many clients: 3 addresses x 16 handshakes fill max_connections = 48; a
# new client's connection closes a handshake of the heaviest to get in.
P3=$(free_port)
serve S3 --tcp "127.0.0.1:$P3" --create 64M --export d="$T/d.img" --grant "$C=d" --max-conns 48 \
  --max-conns-per-client 16 --handshake-timeout 30
for i in 2 3 4; do
  NBD_PROBE_SOURCE=127.0.0.$i $PROBE hold "tcp:127.0.0.1:$P3" 16 8 "$T/w/ready.$i" >"$T/hold3.$i" 2>&1 &
  eval "h$i=\$!"
done
for _ in $(seq 100); do [ -f "$T/w/ready.2" ] && [ -f "$T/w/ready.3" ] && [ -f "$T/w/ready.4" ] && break; sleep 0.1; done
t "with the server full of 3 clients' handshakes, a fourth client opens" $PROBE opens "tcp:127.0.0.1:$P3" "$C"
t "and again" $PROBE opens "tcp:127.0.0.1:$P3" "$C"
wait "$h2" "$h3" "$h4" || true
t "room was made by closing a handshake of the heaviest client, logged" \
  grep -q "closed a handshake of 127.0.0.[234] (16 connections) to make room: the server's connection limit (48) is reached" "$T/S3.log"
t "server exits cleanly on SIGTERM" stop S3
finish
