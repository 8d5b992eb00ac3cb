#!/usr/bin/python3
"""scan_plain.py — does any file under DIRs hold a known pattern in clear?

    scan_plain.py [--chunk BYTES] [--expect-hit] PATTERN... -- DIR|FILE...

Looks, in every regular file under each DIR (and each FILE) (volumes, packs, indexes, the
SQLite database and its WAL, logs, temporary files: everything), for
  - the pattern itself: a copy of 1,104 or more contiguous bytes of a
    PATTERN, at any offset in any file (every 4 KiB-aligned sector, every
    chunk, any part of one past that size);
  - the plaintext chunk address of each non-zero chunk of each PATTERN,
    SHA-256(0x01 || chunk), as raw bytes and as hex digits, at any offset.
How: every 16-byte substring of the needles at a step coprime with 17 (the
pattern's at every 64th byte, each address's at every byte) goes into a
set, and each file's data (its holes skipped) is sampled at every 17th
byte: a needle copy of length L is sampled at least once when L >= 17 *
step + 16.  Prints each file with a hit; exits 1 when one has one (0 with
--expect-hit: the positive control, which must find something).
"""
import hashlib
import os
import sys

K = 16         # bytes per key
STEP = 17      # sampling step in the files
PSTEP = 64     # key step in the patterns (gcd(64, 17) = 1)
BLOCK = STEP * (1 << 20)


def keys_of(needle, step):
    return (needle[i:i + K] for i in range(0, len(needle) - K + 1, step))


def file_hits(path, keys):
    with open(path, "rb") as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        off = 0
        while off < size:
            try:
                off = os.lseek(fd, off, os.SEEK_DATA)
                end = os.lseek(fd, off, os.SEEK_HOLE)
            except OSError:  # ENXIO: no data past off
                return False
            while off < end:
                n = min(BLOCK, end - off)
                data = os.pread(fd, n + K - 1, off)
                samples = map(data.__getitem__, map(slice, range(0, n, STEP), range(K, n + K, STEP)))
                if not keys.isdisjoint(samples):
                    return True
                off += n
    return False


def main():
    args = sys.argv[1:]
    chunk = 65536
    expect_hit = False
    while args and args[0] != "--" and args[0].startswith("--"):
        if args[0] == "--chunk":
            chunk = int(args[1])
            args = args[2:]
        elif args[0] == "--expect-hit":
            expect_hit = True
            args = args[1:]
        else:
            sys.exit("unknown option " + args[0])
    sep = args.index("--")
    patterns, dirs = args[:sep], args[sep + 1:]
    keys = set()
    for p in patterns:
        data = open(p, "rb").read()
        keys.update(keys_of(data, PSTEP))
        for i in range(0, len(data), chunk):
            piece = data[i:i + chunk]
            if piece.count(0) == len(piece):
                continue  # a hole: never stored, no address
            addr = hashlib.sha256(b"\x01" + piece)
            keys.update(keys_of(addr.digest(), 1))
            keys.update(keys_of(addr.hexdigest().encode(), 1))
    keys.discard(bytes(K))
    paths = [d for d in dirs if os.path.isfile(d)]
    for d in dirs:
        for root, _, names in os.walk(d):
            paths += [os.path.join(root, name) for name in names]
    files, total, hits = 0, 0, []
    for path in paths:
        if not os.path.isfile(path) or os.path.islink(path):
            continue
        files += 1
        total += os.path.getsize(path)
        if file_hits(path, keys):
            hits.append(path)
    print("scanned %d files (%d bytes, holes skipped) for %d keys: %d with a hit" % (files, total, len(keys), len(hits)))
    for h in hits:
        print("  plaintext in " + h)
    sys.exit(0 if bool(hits) == expect_hit else 1)


main()
