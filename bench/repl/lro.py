#!/usr/bin/env python3
"""lro.py CA TOKEN URL BODY [WARM_URL...] — PUT BODY to URL (ARM), then polls
the operation it names (Azure-AsyncOperation) every 20 ms until it is no
longer InProgress.  Prints `STATUS T0 T1`: the operation's final status and
the wall-clock times in ns (comparable with `date +%s%N`) just before the PUT
was sent and when the end was first seen.

The connections (to URL's host and to each WARM_URL's, e.g. the region that
will answer the polls) are opened, TLS handshake included, before T0, and
kept alive: what is timed is the server, not a client process starting, its
TLS handshakes or curl + jq 50 times a second (on 2 vCPUs that took a fifth
of a CPU, bench/rp/wait-hydrated.py; a fresh Python poller's start and
handshakes added 0.3 s to a 0.1 s copy).  A PUT answered other than 200/201
exits 1 with the answer on stderr."""
import http.client, json, ssl, sys, time, urllib.parse

ca, token, url, body = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=ca)
conns = {}


def conn(u):
    key = (u.hostname, u.port)
    if key not in conns:
        c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx)
        c.connect()
        conns[key] = c
    return conns[key]


def path(u):
    return u.path + ("?" + u.query if u.query else "")


headers = {"Authorization": "Bearer " + token}
put = urllib.parse.urlsplit(url)
conn(put)
for w in sys.argv[5:]:
    conn(urllib.parse.urlsplit(w))
t0 = time.time_ns()
c = conn(put)
c.request("PUT", path(put), body=body.encode(), headers={**headers, "Content-Type": "application/json"})
resp = c.getresponse()
answer = resp.read()
if resp.status not in (200, 201):
    sys.exit(f"lro: PUT answered {resp.status}: {answer[:500]!r}")
aao = urllib.parse.urlsplit(resp.getheader("Azure-AsyncOperation"))
deadline = time.monotonic() + 3600
while time.monotonic() < deadline:
    c = conn(aao)
    c.request("GET", path(aao), headers=headers)
    resp = c.getresponse()
    answer = resp.read()
    now = time.time_ns()
    if resp.status != 200:
        sys.exit(f"lro: GET of the operation answered {resp.status}: {answer[:500]!r}")
    status = json.loads(answer).get("status")
    if status != "InProgress":
        print(status, t0, now)
        sys.exit(0)
    time.sleep(0.02)
sys.exit("lro: still InProgress after an hour")
