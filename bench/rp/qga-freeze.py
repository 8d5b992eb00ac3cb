#!/usr/bin/env python3
"""qga-freeze.py SOCKET [TIMEOUT_S] — bare freezes of a guest through its
qemu-ga, no restore point: the agent's own freeze cost, for bench/rp/run
--agent to compare with vmrp's vmrpConsistency.guestFrozenMs.

One freeze per line read from stdin (the process stays up between them, as
vmrpd does, so that its start-up is in no measurement's run-up), each on a
new connection to the agent's unix socket (the QEMU chardev of its
virtio-serial port), as vmrp opens one per freeze:
  - synchronise as vmrp does (src/agent/agent.c), untimed: 0xFF +
    guest-sync-delimited with a random id, everything up to a 0xFF skipped
    (qemu-ga 7.2 first answers the 0xFF itself with an error reply), then the
    JSON reply carrying that id;
  - timed as vmrp times guestFrozenMs (from sending guest-fsfreeze-freeze to
    receiving the thaw's reply): guest-fsfreeze-freeze, its reply,
    guest-fsfreeze-thaw, its reply; each reply one JSON line.
Prints one line per freeze: "FROZEN_MS FREEZE_COUNT THAW_COUNT FREEZE_MS"
(FREEZE_MS: the freeze's reply received; a count that is not an integer is
printed as the compact JSON reply); exits 1 on a failure (a thaw is sent
after every freeze sent, whatever happened).
"""
import json
import random
import socket
import sys
import time

path = sys.argv[1]
timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 15.0


class Agent:
    def __init__(self):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.buf = b""

    def recv_more(self):
        b = self.s.recv(65536)
        if not b:
            raise SystemExit("qga-freeze: the agent closed the connection")
        self.buf += b

    def reply(self):
        """The next reply (a JSON line), the buffer advanced past it."""
        while True:
            while b"\n" not in self.buf:
                self.recv_more()
            ln, self.buf = self.buf.split(b"\n", 1)
            if ln.strip():
                return json.loads(ln)

    def sync(self):
        sid = random.randrange(1, 2**31)
        self.s.sendall(b'\xff{"execute":"guest-sync-delimited","arguments":{"id":%d}}\n' % sid)
        while True:
            while b"\xff" not in self.buf:
                self.buf = b""
                self.recv_more()
            self.buf = self.buf[self.buf.index(b"\xff") + 1:]
            try:
                r = self.reply()
            except ValueError:
                continue  # garbage after a 0xFF: look for the next one
            if isinstance(r, dict) and r.get("return") == sid:
                return


def count(r):
    v = r.get("return") if isinstance(r, dict) else None
    return v if isinstance(v, int) else json.dumps(r, separators=(",", ":"))


while sys.stdin.readline():
    a = Agent()
    a.sync()  # untimed: vmrp connects and syncs before its t0 too
    t0 = time.monotonic_ns()
    a.s.sendall(b'{"execute":"guest-fsfreeze-freeze"}\n')
    try:
        fr = a.reply()
        tf = time.monotonic_ns()
    finally:
        # a thaw follows every freeze, as in vmrp
        a.s.sendall(b'{"execute":"guest-fsfreeze-thaw"}\n')
        th = a.reply()
        t1 = time.monotonic_ns()
    a.s.close()
    print("%.3f %s %s %.3f" % ((t1 - t0) / 1e6, count(fr), count(th), (tf - t0) / 1e6), flush=True)
    if not (isinstance(count(fr), int) and isinstance(count(th), int)):
        sys.exit(1)
