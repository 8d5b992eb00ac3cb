#!/usr/bin/env python3
"""pagelist.py CA URL PREV_URL REPS — times Get Page Ranges Diff as a backup
tool sees it: one kept-alive TLS connection (opened, handshake included,
before the first timed request, as an SDK client keeps its connection), then
REPS diffs of URL against PREV_URL (x-ms-previous-snapshot-url), each
following NextMarker to the end of the list.  Prints the median seconds of
one whole diff (every page of it, request sent to last byte read) and the
ranges listed by the last one.  A status other than 200 exits 1."""
import http.client, re, ssl, statistics, sys, time, urllib.parse

ca, url, prev, reps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
u = urllib.parse.urlsplit(url)
conn = http.client.HTTPSConnection(u.hostname, u.port, context=ssl.create_default_context(cafile=ca))
conn.connect()
headers = {"x-ms-previous-snapshot-url": prev, "x-ms-version": "2021-08-06"}


def diff():
    marker, ranges = "", 0
    while True:
        path = f"{u.path}?{u.query}&comp=pagelist" + (f"&marker={marker}" if marker else "")
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            sys.exit(f"pagelist: {resp.status}: {body[:300]!r}")
        ranges += body.count(b"<PageRange>") + body.count(b"<ClearRange>")
        m = re.search(rb"<NextMarker>([^<]+)</NextMarker>", body)
        if not m:
            return ranges
        marker = m.group(1).decode()


times = []
for _ in range(reps):
    t0 = time.perf_counter()
    n = diff()
    times.append(time.perf_counter() - t0)
print(f"{statistics.median(times):.4f} {n}")
