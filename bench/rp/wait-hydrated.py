#!/usr/bin/env python3
"""wait-hydrated.py CA TOKEN URL — polls a restored disk (ARM GET URL) every
20 ms over one kept-alive HTTPS connection until its hydration state is
Hydrated; prints two wall-clock times in ns: when hydration.percent was first
seen at 100 (all data in the volume) and when Hydrated was seen.

Why not curl + jq in a shell loop: on a 2-vCPU machine two processes started
50 times a second took about a fifth of the CPU that the hydration itself
needs, so the loop measured itself as much as the restore."""
import http.client, json, ssl, sys, time, urllib.parse

ca, token, url = sys.argv[1:4]
u = urllib.parse.urlsplit(url)
ctx = ssl.create_default_context(cafile=ca)
conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx)
path = u.path + ("?" + u.query if u.query else "")
headers = {"Authorization": "Bearer " + token}
t_data = None
deadline = time.monotonic() + 1200
while time.monotonic() < deadline:
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200:
        sys.exit(f"wait-hydrated: GET answered {resp.status}: {body[:300]!r}")
    h = (json.loads(body).get("properties", {}).get("vmrpExport", {}) or {}).get("hydration") or {}
    state, percent = h.get("state", "Hydrated"), h.get("percent", 100)
    now = time.time_ns()
    if t_data is None and percent == 100:
        t_data = now
    if state == "Hydrated":
        print(t_data, now)
        sys.exit(0)
    time.sleep(0.02)
sys.exit("wait-hydrated: not Hydrated after 20 minutes")
