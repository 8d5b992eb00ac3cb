#!/usr/bin/env python3
"""free_port.py — prints a loopback TCP port that is free now and lies below
the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768–60999 on
Debian), picked at random.  A port from bind(0) comes from that range, so an
outgoing connection of a test running beside (its client's local port) could
take it between this choice and the daemon's bind — which failed a CI run.
Ports below the range are never handed out to connections."""
import random
import socket

lo, _ = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
first = 20000 if lo > 21000 else 1024
for _ in range(1000):
    port = random.randrange(first, lo)
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
    print(port)
    break
else:
    raise SystemExit("free_port: no free port below the ephemeral range")
