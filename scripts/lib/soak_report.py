#!/usr/bin/python3
"""soak_report.py DIR START LOAD_END FIO_RC MINUTES BUILD — the report of
scripts/soak: reads what the run left in DIR (events.csv, resources.csv,
wrk-<region>.json, fio.json, daemon-warnings.log), prints per surface the
count, errors, p50/p99, the resource curves (first/min/max/last and a text
plot) and the verdict, writes DIR.json, and exits 0 when the verdict is
PASS.

The verdict: no error on any surface (and no error line in the daemons'
logs); after the load and a last GC, each vmrpd's sockets and pipes back to
at most their number before it, no descriptor of a deleted file, the
metadata database's descriptors no more than at their peak in the first
half of the load (SQLite keeps those of closed connections for reuse); each
vmrpd's heap (RssAnon) growing by less than RSS_BOUND_KIB over the second
half of the load: the median of its samples in the last quarter against
the median in the third (medians: a sample may catch a transfer's buffers
in flight).  The bound: by the second half the daemons are warm (SQLite's
page caches, per-thread arenas, connection buffers), so what still grows is
a leak; the quarters' middles are 7.5 minutes apart in a 30-minute run, in
which the load makes some 67,000 ARM requests and 90,000 NBD commands: a
leak of 250 bytes per request, or 190 per NBD command, exceeds the bound."""
import csv
import json
import os
import sys

RSS_BOUND_KIB = 16384
BARS = "▁▂▃▄▅▆▇█"


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def spark(values, width=60):
    if not values:
        return ""
    step = max(1, (len(values) + width - 1) // width)
    pts = [max(values[i:i + step]) for i in range(0, len(values), step)]
    lo, hi = min(pts), max(pts)
    return "".join(BARS[0 if hi == lo else int((x - lo) * (len(BARS) - 1) / (hi - lo))] for x in pts)


def fd_kinds(d, region, when):
    """fds-REGION-WHEN.txt (scripts/soak's fd_list) by kind"""
    kinds = {"sockets": 0, "meta": 0, "deleted": 0, "files": 0}
    try:
        with open(os.path.join(d, f"fds-{region}-{when}.txt")) as fh:
            for line in fh:
                target = line.rstrip("\n").partition(" ")[2]
                if target.startswith(("socket:", "pipe:", "anon_inode:")):
                    kinds["sockets"] += 1
                elif target.endswith("(deleted)"):
                    kinds["deleted"] += 1
                elif "/meta.db" in target:
                    kinds["meta"] += 1
                else:
                    kinds["files"] += 1
    except OSError:
        pass
    return kinds


def load_json(path):
    try:
        with open(path) as f:
            text = f.read()
        return json.loads(text[text.index("{"):])  # fio may print notes before its JSON
    except (OSError, ValueError):
        return None


def main():
    d, start, load_end, fio_rc, minutes, build = sys.argv[1:7]
    start, load_end, fio_rc = int(start), int(load_end), int(fio_rc)
    surfaces = {}
    errors = []

    def add(name, count, errs, p50, p99, unit, note=""):
        surfaces[name] = {"count": count, "errors": errs, "p50_ms": p50, "p99_ms": p99, "note": note}

    # wrk: the ARM surface of each region
    for region in ("eastus", "westus"):
        w = load_json(os.path.join(d, f"wrk-{region}.json"))
        if w is None:
            add(f"arm_{region}", 0, 1, None, None, "ms", "no wrk report")
            errors.append(f"arm_{region}: wrk wrote no report (wrk-{region}.out)")
            continue
        e = w["errors"]
        n_err = e["connect"] + e["read"] + e["write"] + e["status"] + e["timeout"]
        lat = w["latency_us"]
        add(f"arm_{region}", w["requests"], n_err, lat["p50"] / 1000, lat["p99"] / 1000, "ms",
            f"{w['requests'] * 1e6 / max(1, w['duration_us']):.0f} req/s, statuses {w['statuses']}, p99.9 "
            f"{lat['p999'] / 1000:.1f} ms, max {lat['max'] / 1000:.1f} ms")
        if n_err:
            errors.append(f"arm_{region}: {e} statuses {w['statuses']}")

    # fio: the NBD surface (both data disks, group reporting)
    f = load_json(os.path.join(d, "fio.json"))
    if f is None or not f.get("jobs"):
        add("nbd", 0, 1, None, None, "ms", "no fio report")
        errors.append("nbd: fio wrote no report (fio.err)")
    else:
        job = f["jobs"][0]
        for op, key in (("read", "clat_ns"), ("write", "clat_ns"), ("sync", "lat_ns")):
            s = job.get(op, {})
            pc = s.get(key, {}).get("percentile", {})
            p50, p99 = pc.get("50.000000"), pc.get("99.000000")
            n_err = (1 if (job.get("error") or fio_rc) and op == "read" else 0)
            add(f"nbd_{op}", s.get("total_ios", 0), n_err, p50 and p50 / 1e6, p99 and p99 / 1e6, "ms",
                "flush (fsync=16)" if op == "sync" else f"{s.get('iops', 0):.0f} IOPS, 4 KiB, verify=md5")
        if job.get("error") or fio_rc:
            errors.append(f"nbd: fio exit {fio_rc}, job error {job.get('error')} (fio.err)")

    # the shell loops: events.csv
    ev = {}
    with open(os.path.join(d, "events.csv")) as fh:
        for row in csv.DictReader(fh):
            e = ev.setdefault(row["surface"], {"ms": [], "errors": 0, "count": 0})
            e["count"] += 1
            e["ms"].append(float(row["ms"]))
            if row["result"] != "ok":
                e["errors"] += 1
                errors.append(f"{row['surface']}: {row['detail']}")
    notes = {"sas": "32 MiB ranges, SHA-256 each", "sas_full": "whole 1 GiB VHD, SHA-256 each",
             "rp": "PUT → Succeeded", "rp_read": "each disk read back",
             "copy": "PUT → Succeeded in westus", "copy_read": "OS disk of the copy read back",
             "gc": "store GC, both regions", "verify": "store verify, both regions: clean"}
    for name in ("sas", "sas_full", "rp", "rp_read", "rp_delete", "copy", "copy_read", "copy_delete", "gc", "verify",
                 "token"):
        if name in ev:
            e = ev[name]
            add(name, e["count"], e["errors"], pct(e["ms"], 50), pct(e["ms"], 99), "ms", notes.get(name, ""))
    for name in ("sas", "rp", "copy", "gc", "verify"):
        if name not in ev:
            add(name, 0, 1, None, None, "ms", "never ran")
            errors.append(f"{name}: never ran in the run")

    # the daemons' error lines
    daemon_errors = []
    try:
        with open(os.path.join(d, "daemon-warnings.log")) as fh:
            lines = fh.read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        if "level=error" in line:
            daemon_errors.append(line)
    warns = len(lines) - len(daemon_errors)
    if daemon_errors:
        errors.append(f"daemon logs: {len(daemon_errors)} error lines, first: {daemon_errors[0][:300]}")

    # resources
    res = {}
    with open(os.path.join(d, "resources.csv")) as fh:
        for row in csv.DictReader(fh):
            res.setdefault(row["region"], []).append(row)
    mid = start + (load_end - start) // 2
    q4_start = start + 3 * (load_end - start) // 4
    resources = {}
    verdict_notes = []
    judged = load_end - start >= 540  # a shorter run is all warm-up: its curves are shown, not judged
    resource_ok = True
    for region, rows in res.items():
        def col(name, rs=rows):
            return [int(r[name] or 0) for r in rs]
        load_rows = [r for r in rows if start <= int(r["time"]) <= load_end]
        q3 = [int(r["rss_anon_kib"]) for r in load_rows if mid <= int(r["time"]) < q4_start] or [0]
        q4 = [int(r["rss_anon_kib"]) for r in load_rows if int(r["time"]) >= q4_start] or [0]
        rss_growth = pct(q4, 50) - pct(q3, 50)
        r = {"samples": len(rows)}
        for name in ("rss_kib", "rss_anon_kib", "fds", "meta_fds", "threads", "store_bytes", "dir_bytes"):
            v = col(name)
            r[name] = {"first": v[0], "min": min(v), "max": max(v), "last": v[-1]}
        r["rss_anon_growth_second_half_kib"] = rss_growth  # median of the last quarter - of the third
        before, after = fd_kinds(d, region, "before"), fd_kinds(d, region, "after")
        r["fds_before"], r["fds_after"] = before, after
        # SQLite keeps the descriptors of a closed connection while other
        # connections hold locks on the file, and reuses them at the next
        # open: as many as connections were open at once (a thread each), a
        # plateau the load reaches in its first half, not a growth.
        first_half = [int(x["meta_fds"]) for x in load_rows if int(x["time"]) < mid] or [before["meta"]]
        meta_bound = max(first_half + [before["meta"]])
        r["meta_fds_bound"] = meta_bound
        resources[region] = r
        if after["sockets"] > before["sockets"]:
            resource_ok = False
            verdict_notes.append(f"{region}: {after['sockets']} sockets and pipes open after the load, "
                                 f"{before['sockets']} before")
        if after["deleted"]:
            resource_ok = False
            verdict_notes.append(f"{region}: {after['deleted']} descriptors of deleted files after the last GC")
        if after["meta"] > meta_bound:
            resource_ok = False
            verdict_notes.append(f"{region}: {after['meta']} metadata descriptors after the load, "
                                 f"more than at any time in its first half ({meta_bound})")
        if rss_growth >= RSS_BOUND_KIB:
            resource_ok = False
            verdict_notes.append(f"{region}: heap (RssAnon) grew {rss_growth} KiB over the second half "
                                 f"(bound {RSS_BOUND_KIB})")

    ok = not errors and (resource_ok or not judged)
    if not judged:
        verdict_notes.append("resources not judged: under 10 minutes of load is warm-up (the curves are shown)")
    n_errors = sum(s["errors"] for s in surfaces.values()) + len(daemon_errors)
    result = {
        "command": f"scripts/soak --minutes {minutes} --build {build}",
        "minutes": float(minutes), "load_seconds": load_end - start, "start": start,
        "surfaces": surfaces, "errors": n_errors, "error_details": errors[:50],
        "daemon_error_lines": len(daemon_errors), "daemon_warn_lines": warns,
        "resources": resources, "rss_bound_kib": RSS_BOUND_KIB, "resources_judged": judged,
        "verdict": "PASS" if ok else "FAIL", "verdict_notes": verdict_notes,
        "dir": d,
    }
    with open(d + ".json", "w") as fh:
        json.dump(result, fh, indent=1)

    print(f"\nsoak: {minutes} min of load ({load_end - start} s), {os.path.basename(d)}")
    print(f"{'surface':<14} {'count':>8} {'errors':>6} {'p50 ms':>9} {'p99 ms':>9}  note")
    for name, s in surfaces.items():
        p50 = "-" if s["p50_ms"] is None else f"{s['p50_ms']:.2f}"
        p99 = "-" if s["p99_ms"] is None else f"{s['p99_ms']:.2f}"
        print(f"{name:<14} {s['count']:>8} {s['errors']:>6} {p50:>9} {p99:>9}  {s['note']}")
    print(f"daemon logs: {len(daemon_errors)} error lines, {warns} warn lines")
    for region, rows in res.items():
        r = resources[region]
        print(f"\n{region} ({r['samples']} samples; first/min/max/last)")
        for name, unit, div in (("rss_kib", "MiB", 1024), ("rss_anon_kib", "MiB", 1024), ("fds", "", 1), ("meta_fds", "", 1),
                                ("threads", "", 1), ("store_bytes", "MiB", 1 << 20)):
            m = r[name]
            vals = "/".join(f"{m[k] / div:.1f}" if div > 1 else str(m[k]) for k in ("first", "min", "max", "last"))
            print(f"  {name:<12} {vals:<28} {unit:<4} {spark([int(x[name] or 0) for x in rows])}")
        print(f"  heap (RssAnon) over the second half: {r['rss_anon_growth_second_half_kib']:+d} KiB "
              f"(bound {RSS_BOUND_KIB} KiB)")
        print(f"  descriptors before/after: " + ", ".join(f"{k} {r['fds_before'][k]}/{r['fds_after'][k]}"
                                                        for k in r["fds_before"]))
    for e in errors[:20]:
        print(f"error: {e}")
    for n in verdict_notes:
        print(f"verdict: {n}")
    print(f"\nsoak: {result['verdict']} errors={n_errors} minutes={minutes} "
          + " ".join(f"{k}_p99_ms={v['p99_ms']:.1f}" for k, v in surfaces.items()
                     if v["p99_ms"] is not None and k in ("arm_eastus", "nbd_write", "sas", "rp", "copy"))
          + f" -> {d}.json")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
