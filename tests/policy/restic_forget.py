#!/usr/bin/env python3
"""restic_forget.py — vmrp's retention (src/policy/retention.c) against the
real restic forget, on the same timeline of snapshot times.

Usage: restic_forget.py DRIVER   (DRIVER: tests/policy/policy-retention-driver)
       restic_forget.py --hourly-repo WORK START COUNT   (bench/policy's repository)
Env:   VMRP_RESTIC_LONG=1  three timelines of 700 snapshots and more rules
       (minutes); default: one timeline of 342 (CI: 40-65 s on the shared
       2-core machine, nearly all of it making the repository).

What it does:
  1. A timeline in Europe/Berlin, seeded: irregular snapshots from 2025-10-20 to
     2026-04-05, dense across both daylight-saving changes (both passes
     through the repeated hour 02:00-03:00 of 2025-10-26), the year end
     (2025-12-29 is ISO week 2026-W01), every month end and a Sunday/Monday
     midnight, sparse elsewhere.  Every time distinct (restic's order of
     equal times is its listing's, not a rule).
  2. A real restic repository holding one `restic backup --time` snapshot
     for each time, of one tiny directory, host "h".  restic parses --time
     in its process's zone and stores the local offset, and restic forget
     buckets a snapshot in its own zone only when the stored offset is the
     zone's offset at that instant — so each backup runs with TZ set to the
     fixed zone of Berlin's offset at that instant (Etc/GMT-1 or -2), which
     also reaches the first pass through the repeated hour, which Berlin
     wall times cannot name.  Speed, honestly: every restic command
     derives the repository key with scrypt calibrated to ~0.5 s, and
     backup waits 200 ms after taking its lock; so the key file is
     re-wrapped once with scrypt N=1024 (the same master key, restic opens
     it as any other), and the backups run in several repositories at
     once, then `restic copy` brings every snapshot into one.  The snapshots
     are restic's own, made by restic backup.
  3. For each rule and combination: `restic forget --dry-run --json` with
     TZ=Europe/Berlin (restic buckets in its process's zone) over one of
     several subsets (restic's --tag filter: the timeline cut just after
     each DST change, at the year end, on a 31st) — the subset's newest
     moves keep-within's reference — against the driver over the same
     times in Europe/Berlin.  The keep and remove sets must be equal, and
     each kept snapshot's reasons (restic's "matches") equal to ours.

restic 0.14 knows no -1 ("unlimited" came in 0.15: 0.14 keeps nothing for
it); our -1 is compared with restic given a count above the number of
buckets, which is what unlimited means.
"""
import base64
import calendar
import concurrent.futures
import datetime
import glob
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zoneinfo

ZONE = "Europe/Berlin"
PASSWORD = "vmrp-retention-test"

def berlin_offset(t):
    """Berlin's UTC offset in whole hours at UTC instant t."""
    off = datetime.datetime.fromtimestamp(t, zoneinfo.ZoneInfo(ZONE)).utcoffset()
    return int(off.total_seconds()) // 3600


def utc(*args):
    return calendar.timegm(args + (0,) * (6 - len(args)))


def timeline(seed, n):
    """n distinct UTC seconds, irregular, newest 2026-04-05."""
    rnd = random.Random(seed)
    times = set()

    def burst(start, end, count):
        for _ in range(count):
            times.add(rnd.randrange(start, end))

    scale = n / 320
    # both passes through Berlin's repeated hour, and the hours around it
    burst(utc(2025, 10, 25, 20), utc(2025, 10, 26, 6), int(40 * scale))
    burst(utc(2025, 10, 26, 0), utc(2025, 10, 26, 1), int(8 * scale))
    burst(utc(2025, 10, 26, 1), utc(2025, 10, 26, 2), int(8 * scale))
    # the skipped hour's neighbours
    burst(utc(2026, 3, 28, 20), utc(2026, 3, 29, 6), int(30 * scale))
    # the year end in Berlin (23:00Z Dec 31 is midnight)
    burst(utc(2025, 12, 31, 20), utc(2026, 1, 1, 2), int(24 * scale))
    # month ends in Berlin
    for y, m in ((2025, 11), (2025, 12), (2026, 2), (2026, 3), (2026, 4)):
        end = utc(y, m, 1) - berlin_offset(utc(y, m, 1)) * 3600
        burst(end - 4 * 3600, end + 3 * 3600, int(8 * scale))
    # a Sunday/Monday midnight (2026-02-09 00:00 CET is Monday), around Mar 3
    burst(utc(2026, 2, 8, 20), utc(2026, 2, 9, 2), int(8 * scale))
    burst(utc(2026, 3, 2, 18), utc(2026, 3, 4, 0), int(10 * scale))
    # the 31st that keep-within P1M counts back from
    times.add(utc(2026, 3, 31, 17, 42, 13))
    # sparse background: gaps of 1 to 30 hours
    t = utc(2025, 10, 20)
    while len(times) < n and t < utc(2026, 4, 5):
        times.add(t)
        t += rnd.randrange(3600, 30 * 3600)
    while len(times) < n:
        times.add(rnd.randrange(utc(2025, 10, 20), utc(2026, 4, 5)))
    times.add(utc(2026, 4, 5, 9, 13, 7))
    for cut in CUTS.values():
        # nothing random between an edge snapshot and its cut
        times = {t for t in times if not cut - 11 * 60 < t < cut}
    times |= set(EDGES)
    return sorted(times)


# subsets by restic tag: each snapshot gets every tag whose cut it is after
# not; a subset's newest is keep-within's reference, and each is placed so
# that restic's calendar day differs from 24 hours, with snapshots on both
# sides of the difference and on the cutoff itself (restic keeps strictly
# after it)
CUTS = {
    "all": utc(2026, 4, 6),
    # newest 12:20 CET Oct 26: P1D back is 12:20 CEST Oct 25 = 25 hours
    "fall": utc(2025, 10, 26, 11, 30),
    # newest 06:20 CEST Mar 29: P1D back is 06:20 CET Mar 28 = 23 hours
    "spring": utc(2026, 3, 29, 4, 30),
    # newest 02:30 CET Oct 27: P1D back is 02:30 Oct 26, a repeated wall
    # time; Go's time.Date takes the later one (CET, 01:30Z)
    "fold": utc(2025, 10, 27, 1, 31),
    # newest 02:30 CEST Mar 30: P1D back is 02:30 Mar 29, a skipped wall
    # time; Go's time.Date moves it forward (03:30 CEST, 01:30Z)
    "gap": utc(2026, 3, 30, 0, 31),
    "newyear": utc(2026, 1, 1, 0, 30),       # newest at 01:xx on Jan 1 in Berlin
    "mar31": utc(2026, 3, 31, 18),           # newest on a 31st: P1M back is "Feb 31", Mar 3
}
EDGES = [
    utc(2025, 10, 26, 11, 20), utc(2025, 10, 25, 10, 50), utc(2025, 10, 25, 10, 20),
    utc(2025, 10, 24, 10, 20), utc(2025, 10, 23, 22, 20), utc(2025, 10, 23, 22, 50),
    utc(2026, 3, 29, 4, 20), utc(2026, 3, 28, 4, 50), utc(2026, 3, 28, 5, 20), utc(2026, 3, 26, 16, 50),
    utc(2026, 3, 26, 17, 20), utc(2026, 3, 26, 17, 50),
    utc(2025, 10, 27, 1, 30), utc(2025, 10, 26, 0, 45), utc(2025, 10, 26, 1, 10), utc(2025, 10, 26, 1, 30),
    utc(2025, 10, 26, 1, 30, 1),
    utc(2026, 3, 30, 0, 30), utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 1, 40),
]

# (restic flags, our rules, our keepWithin as written) per rule; reasons
# compare restic "within 2d12h" with ours "within P2DT12H".
BASE_RULES = [
    (["--keep-last", "1"], {"keepLast": 1}),
    (["--keep-last", "9"], {"keepLast": 9}),
    (["--keep-hourly", "30"], {"keepHourly": 30}),
    (["--keep-daily", "12"], {"keepDaily": 12}),
    (["--keep-weekly", "9"], {"keepWeekly": 9}),
    (["--keep-monthly", "4"], {"keepMonthly": 4}),
    (["--keep-yearly", "3"], {"keepYearly": 3}),
    (["--keep-hourly", "100000"], {"keepHourly": -1}),
    (["--keep-weekly", "100000"], {"keepWeekly": -1}),
    (["--keep-within", "1d"], {"keepWithin": "P1D"}),
    (["--keep-within", "2d12h"], {"keepWithin": "P2DT12H"}),
    (["--keep-within", "1m"], {"keepWithin": "P1M"}),
    (["--keep-within", "7d"], {"keepWithin": "P1W"}),
    (["--keep-last", "3", "--keep-hourly", "24", "--keep-daily", "7", "--keep-weekly", "4",
      "--keep-monthly", "12", "--keep-yearly", "3"],
     {"keepLast": 3, "keepHourly": 24, "keepDaily": 7, "keepWeekly": 4, "keepMonthly": 12, "keepYearly": 3}),
    (["--keep-within", "1d", "--keep-daily", "10", "--keep-monthly", "100000"],
     {"keepWithin": "P1D", "keepDaily": 10, "keepMonthly": -1}),
]
LONG_RULES = [
    (["--keep-last", "100000"], {"keepLast": -1}),
    (["--keep-daily", "100000"], {"keepDaily": -1}),
    (["--keep-monthly", "100000", "--keep-yearly", "100000"], {"keepMonthly": -1, "keepYearly": -1}),
    (["--keep-hourly", "200"], {"keepHourly": 200}),
    (["--keep-within", "1y"], {"keepWithin": "P1Y"}),
    (["--keep-within", "1m15d"], {"keepWithin": "P1M15D"}),
    (["--keep-within", "36h"], {"keepWithin": "PT36H"}),
    (["--keep-within", "3d", "--keep-weekly", "6", "--keep-yearly", "1"],
     {"keepWithin": "P3D", "keepWeekly": 6, "keepYearly": 1}),
    (["--keep-last", "2", "--keep-hourly", "6", "--keep-weekly", "3"],
     {"keepLast": 2, "keepHourly": 6, "keepWeekly": 3}),
]


def restic_env(tz, repo):
    env = dict(os.environ, TZ=tz, RESTIC_PASSWORD=PASSWORD, RESTIC_REPOSITORY=repo)
    env.pop("RESTIC_PASSWORD_FILE", None)
    return env


def restic(repo, tz, *args, extra_env=None):
    env = restic_env(tz, repo)
    env["GOMAXPROCS"] = "1"  # dozens at once on a small machine: no thread pool each
    if extra_env:
        env.update(extra_env)
    p = subprocess.run(["restic", "--no-cache", *args], env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("restic %s: %s" % (" ".join(args), p.stderr.strip()))
    return p.stdout


def cheap_key(repo):
    """Re-wraps the repository's master key under scrypt N=1024 (restic's
    key file format: scrypt → 32-byte AES-256-CTR key, 16-byte Poly1305 K
    and R; data = IV ‖ ciphertext ‖ Poly1305-AES tag) and drops the
    calibrated one.  The repository's contents are untouched."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.poly1305 import Poly1305

    def split(dk):
        return dk[:32], dk[32:48], dk[48:64]

    def tag(k, r, iv, ct):
        enc = Cipher(algorithms.AES(k), modes.ECB()).encryptor()
        return Poly1305.generate_tag(r + enc.update(iv) + enc.finalize(), ct)

    [path] = glob.glob(os.path.join(repo, "keys", "*"))
    with open(path) as f:
        kf = json.load(f)
    dk = hashlib.scrypt(PASSWORD.encode(), salt=base64.b64decode(kf["salt"]), n=kf["N"], r=kf["r"], p=kf["p"],
                        maxmem=1 << 30, dklen=64)
    ek, mk, mr = split(dk)
    blob = base64.b64decode(kf["data"])
    iv, ct, mac = blob[:16], blob[16:-16], blob[-16:]
    if tag(mk, mr, iv, ct) != mac:
        raise RuntimeError("restic key file: authentication failed")
    dec = Cipher(algorithms.AES(ek), modes.CTR(iv)).decryptor()
    master = dec.update(ct) + dec.finalize()
    salt = os.urandom(64)
    ek, mk, mr = split(hashlib.scrypt(PASSWORD.encode(), salt=salt, n=1024, r=8, p=1, dklen=64))
    iv = os.urandom(16)
    enc = Cipher(algorithms.AES(ek), modes.CTR(iv)).encryptor()
    ct = enc.update(master) + enc.finalize()
    kf.update(N=1024, r=8, p=1, salt=base64.b64encode(salt).decode(),
              data=base64.b64encode(iv + ct + tag(mk, mr, iv, ct)).decode())
    body = json.dumps(kf).encode()
    with open(os.path.join(repo, "keys", hashlib.sha256(body).hexdigest()), "wb") as f:
        f.write(body)
    os.remove(path)


def make_repo(work, times, repos, tagged=True, parallel=16):
    data = os.path.join(work, "data")
    os.makedirs(data)
    with open(os.path.join(data, "f"), "w") as f:
        f.write("vmrp\n")

    def worker(i):
        repo = os.path.join(work, "w%d" % i)
        restic(repo, "UTC", "init", "-q")
        cheap_key(repo)
        for t in times[i::repos]:
            off = berlin_offset(t)
            wall = datetime.datetime.fromtimestamp(t + off * 3600, datetime.timezone.utc)
            tags = [tag for tag, cut in CUTS.items() if t < cut] if tagged else []
            args = ["backup", "-q", "--host", "h", "--time", wall.strftime("%Y-%m-%d %H:%M:%S")]
            for tag in tags:
                args += ["--tag", tag]
            restic(repo, "Etc/GMT-%d" % off, *args, data)
        return repo

    main = os.path.join(work, "repo")
    restic(main, ZONE, "init", "-q")
    cheap_key(main)
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        made = list(pool.map(worker, range(repos)))
    for repo in made:
        restic(main, ZONE, "copy", "-q", "--from-repo", repo, extra_env={"RESTIC_FROM_PASSWORD": PASSWORD})
    return main


def rfc3339(s):
    return int(datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp())


def restic_answer(repo, tag, flags):
    out = restic(repo, ZONE, "--no-lock", "forget", "--dry-run", "--json", "--tag", tag, *flags)
    groups = json.loads(out)
    if len(groups) != 1:
        raise RuntimeError("restic forget: %d groups, expected one" % len(groups))
    g = groups[0]
    keep = {rfc3339(r["snapshot"]["time"]): r["matches"] for r in g["reasons"]}
    remove = {rfc3339(s["time"]) for s in (g["remove"] or [])}
    offsets = {r["snapshot"]["time"][-6:] for r in g["reasons"]} | {s["time"][-6:] for s in (g["remove"] or [])}
    return keep, remove, offsets


def restic_within(iso):
    """P2DT12H → restic's 2d12h (as restic prints its Duration)."""
    d = iso[1:]
    days = 0
    out = ""
    date, _, tpart = d.partition("T")
    num = ""
    for c in date:
        if c.isdigit():
            num += c
            continue
        if c == "W":
            days += 7 * int(num)
        elif c == "D":
            days += int(num)
        else:
            out += num + {"Y": "y", "M": "m"}[c]
        num = ""
    if days:
        out += "%dd" % days
    for c in tpart:
        if c.isdigit():
            num += c
            continue
        out += num + "h"
        num = ""
    return out


def our_answer(driver, times, rules):
    p = subprocess.run([driver, ZONE, json.dumps(rules)], input="".join("%d\n" % t for t in times),
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("driver: %s" % p.stderr.strip())
    keep, remove = {}, set()
    for line in p.stdout.splitlines():
        o = json.loads(line)
        if o["keep"]:
            reasons = o["reasons"].split(", ")
            keep[o["time"]] = ["within " + restic_within(r[7:]) if r.startswith("within ") else r for r in reasons]
        else:
            remove.add(o["time"])
    return keep, remove


def show(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def compare(repo, driver, times, tag, flags, rules):
    subset = [t for t in times if t < CUTS[tag]]
    rk, rr, offsets = restic_answer(repo, tag, flags)
    ok = True
    if set(rk) | rr != set(subset):
        print("FAIL - restic's snapshots of tag %s are not the timeline's (%d vs %d)" % (tag, len(rk) + len(rr),
                                                                                       len(subset)))
        return False
    if offsets - {"+01:00", "+02:00"}:
        print("FAIL - restic stored offsets %s, not Berlin's" % sorted(offsets))
        return False
    ok_keep, ok_remove = our_answer(driver, subset, rules)
    label = "%s over %s (%d snapshots): restic keeps %d" % (" ".join(flags), tag, len(subset), len(rk))
    diffs = []
    for t in sorted(set(rk) | set(ok_keep), reverse=True):
        if t not in ok_keep:
            diffs.append("%s restic keeps (%s), vmrp removes" % (show(t), ", ".join(rk[t])))
        elif t not in rk:
            diffs.append("%s vmrp keeps (%s), restic removes" % (show(t), ", ".join(ok_keep[t])))
        elif rk[t] != ok_keep[t]:
            diffs.append("%s reasons differ: restic %s, vmrp %s" % (show(t), rk[t], ok_keep[t]))
    if ok_remove != rr and not diffs:
        diffs.append("remove sets differ")
    if diffs:
        ok = False
        print("FAIL - %s; %d differences:" % (label, len(diffs)))
        for d in diffs[:20]:
            print("    " + d)
    else:
        print("ok - %s, vmrp the same snapshots with the same reasons" % label)
    return ok


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--hourly-repo":
        # bench/policy: a repository of COUNT hourly snapshots from START (UTC
        # seconds) in WORK/repo, the same timeline as the benchmark's slots
        start, count = int(sys.argv[3]), int(sys.argv[4])
        t0 = time.monotonic()
        # each backup reads every index file of its repository, so many
        # small ones (about 90 snapshots each) keep that from going quadratic
        repo = make_repo(sys.argv[2], [start + i * 3600 for i in range(count)], max(16, count // 90),
                         tagged=False)
        print("# %d hourly snapshots in %s in %.0f s" % (count, repo, time.monotonic() - t0))
        return 0
    if len(sys.argv) != 2:
        print("usage: restic_forget.py DRIVER | --hourly-repo WORK START COUNT", file=sys.stderr)
        return 2
    driver = sys.argv[1]
    long_mode = os.environ.get("VMRP_RESTIC_LONG") == "1"
    if not shutil.which("restic"):
        print("FAIL - restic is not installed (scripts/deps test installs it)")
        return 1
    version = subprocess.run(["restic", "version"], capture_output=True, text=True).stdout.strip()
    print("# " + version)
    seeds = [30, 31, 32] if long_mode else [30]
    n = 700 if long_mode else 320
    rules = BASE_RULES + (LONG_RULES if long_mode else [])
    failed = 0
    for seed in seeds:
        times = timeline(seed, n)
        work = tempfile.mkdtemp(prefix="vmrp-restic-")
        try:
            t0 = time.monotonic()
            repo = make_repo(work, times, 16)
            print("# seed %d: %d snapshots in a restic repository in %.1f s" % (seed, len(times),
                                                                               time.monotonic() - t0))
            t0 = time.monotonic()
            checks = 0
            for flags, r in rules:
                tags = CUTS if long_mode or "--keep-within" in flags else ["all"]
                for tag in tags:
                    checks += 1
                    if not compare(repo, driver, times, tag, flags, r):
                        failed += 1
            print("# %d comparisons in %.1f s" % (checks, time.monotonic() - t0))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print("%s: %d comparisons failed" % ("FAIL" if failed else "ok", failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
