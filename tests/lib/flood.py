#!/usr/bin/env python3
"""flood.py — a connection-exhaustion attacker for the HTTP listeners' tests.

    flood.py HOST PORT [--idle N] [--tls-trickle N] [--raw-trickle N] [--body-trickle N]
             [--slow-read N --path PATH] [--big-body N]
             [--sources 127.0.0.2-127.0.0.101] [--interval S] [--reconnect]
             [--cafile CA] [--duration S] [--status FILE]

Opens N idle TCP connections (connect, send nothing), N TLS connections that
complete the handshake and then send a request's headers a byte every
--interval seconds, and N TCP connections that send the start of a TLS
ClientHello the same way (a handshake that never ends), N TLS connections
that send a POST's headers at once and then its body a byte every --interval
seconds, N TLS connections that send a POST of a 4,194,000-byte body but its
last 1,000 bytes at once and then trickle those, N TLS connections that GET
PATH and never read the answer,
round-robin over the
source addresses.  With --reconnect each connection the server closes is
opened again at once, as a persistent attacker would.  Every second (and at
the end) it writes a JSON status to --status: per kind, how many are open,
opened, closed by the server, closed within 1 s of being opened (refused),
and the lifetimes (s) of those the server closed.  Runs for --duration
seconds, or until SIGTERM; then reads what the slow readers were sent (up to
256 MiB or 3 s each): "closed" counts those that reached the end of a
connection the server closed, "drained" the bytes each got.
"""
import argparse
import ipaddress
import json
import resource
import select
import signal
import socket
import ssl
import sys
import time

p = argparse.ArgumentParser()
p.add_argument("host")
p.add_argument("port", type=int)
p.add_argument("--idle", type=int, default=0)
p.add_argument("--tls-trickle", type=int, default=0)
p.add_argument("--raw-trickle", type=int, default=0)
p.add_argument("--body-trickle", type=int, default=0)
p.add_argument("--slow-read", type=int, default=0)
p.add_argument("--big-body", type=int, default=0)
p.add_argument("--path", default="/")
p.add_argument("--sources", default="127.0.0.2")
p.add_argument("--interval", type=float, default=1.0)
p.add_argument("--reconnect", action="store_true")
p.add_argument("--cafile")
p.add_argument("--duration", type=float, default=3600)
p.add_argument("--status")
a = p.parse_args()

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

lo, _, hi = a.sources.partition("-")
lo = ipaddress.IPv4Address(lo)
hi = ipaddress.IPv4Address(hi or str(lo))
sources = [str(ipaddress.IPv4Address(i)) for i in range(int(lo), int(hi) + 1)]
next_source = 0

ctx = ssl.create_default_context(cafile=a.cafile) if a.tls_trickle or a.body_trickle or a.slow_read or a.big_body else None
if ctx:
    ctx.check_hostname = False
REQUEST = b"GET /metadata/endpoints HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 100000
POST = b"POST /adfs/oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
BODY = b"a" * 100000
BIG = 4194000
BIG_POST = b"POST /adfs/oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % BIG
HELLO = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 100000

stats = {k: {"open": 0, "opened": 0, "closed": 0, "refused": 0, "failed": 0, "lifetimes": []}
         for k in ("idle", "tls", "raw", "body", "slowread", "big")}
stats["slowread"]["drained"] = []
conns = {}  # fd -> [sock, kind, opened_at, bytes_sent, next_send]
stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)


def open_one(kind):
    global next_source
    src = sources[next_source % len(sources)]
    next_source += 1
    s = socket.socket()
    t0 = time.monotonic()  # the server's deadlines count from its accept: from the connect, not after the handshake
    try:
        s.bind((src, 0))
        s.settimeout(5)
        s.connect((a.host, a.port))
        if kind in ("tls", "body", "slowread", "big"):
            s = ctx.wrap_socket(s)
        if kind == "big":
            s.sendall(BIG_POST + b"b" * (BIG - 1000))
        if kind == "body":
            s.sendall(POST)
        if kind == "slowread":
            s.sendall(b"GET " + a.path.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        s.setblocking(False)
    except (OSError, ssl.SSLError):
        s.close()
        stats[kind]["failed"] += 1
        return
    now = time.monotonic()
    conns[s.fileno()] = [s, kind, now, 0, now + a.interval, t0]
    stats[kind]["open"] += 1
    stats[kind]["opened"] += 1


def closed(fd):
    s, kind, opened, _, _, t0 = conns.pop(fd)
    now = time.monotonic()
    st = stats[kind]
    st["open"] -= 1
    st["closed"] += 1
    if now - opened < 1.0:
        st["refused"] += 1
    st["lifetimes"].append(round(now - t0, 2))
    try:
        s.close()
    except OSError:
        pass
    if a.reconnect and not stop:
        open_one(kind)


def write_status():
    if not a.status:
        return
    with open(a.status + ".tmp", "w") as f:
        json.dump(stats, f)
    import os
    os.replace(a.status + ".tmp", a.status)


for kind, n in (("idle", a.idle), ("tls", a.tls_trickle), ("raw", a.raw_trickle), ("body", a.body_trickle),
                ("slowread", a.slow_read), ("big", a.big_body)):
    for _ in range(n):
        open_one(kind)
write_status()

end = time.monotonic() + a.duration
last_status = time.monotonic()
poller = select.poll()
while not stop and time.monotonic() < end:
    poller = select.poll()
    for fd, c in conns.items():
        if c[1] != "slowread":  # it reads nothing: what it was sent waits
            poller.register(fd, select.POLLIN)
    for fd, ev in poller.poll(200):
        if fd not in conns:
            continue
        s = conns[fd][0]
        try:
            data = s.recv(4096)
        except (ssl.SSLWantReadError, BlockingIOError):
            continue
        except (OSError, ssl.SSLError):
            data = b""
        if not data:
            closed(fd)
    now = time.monotonic()
    for fd in list(conns):
        c = conns.get(fd)
        if not c or c[1] in ("idle", "slowread") or now < c[4]:
            continue
        payload = {"tls": REQUEST, "raw": HELLO, "body": BODY, "big": BODY}[c[1]]
        try:
            c[0].send(payload[c[3]:c[3] + 1])
            c[3] += 1
            c[4] = now + a.interval
        except (ssl.SSLWantWriteError, BlockingIOError):
            pass
        except (OSError, ssl.SSLError):
            closed(fd)
    if now - last_status >= 1:
        write_status()
        last_status = now
for c in list(conns.values()):
    if c[1] != "slowread":
        continue
    sock, got, t_end = c[0], 0, time.monotonic() + 3
    while time.monotonic() < t_end and got < 256 << 20:
        if not sock.pending() and not select.select([sock], [], [], 0.2)[0]:
            continue
        try:
            d = sock.recv(1 << 20)
        except ssl.SSLWantReadError:
            continue
        except (OSError, ssl.SSLError):
            d = b""
        if not d:
            stats["slowread"]["closed"] += 1
            break
        got += len(d)
    stats["slowread"]["drained"].append(got)
write_status()
for c in list(conns.values()):
    c[0].close()
sys.exit(0)
