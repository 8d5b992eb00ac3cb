#!/usr/bin/env python3
"""flips.py PACKDIR SEED NRANDOM — the bit flips of tests/store/damage.sh.

Parses every pack (format in src/cas/pack.h) and index file of PACKDIR into
byte classes and prints one flip per line, "CLASS FILE OFFSET BIT":

  pack-header     the 16-byte file header of any pack
  record-header   the 52-byte header of a chunk record in a sealed pack
  group-table     the member table (count, addresses, lengths) of a group record
  payload-plain   the content of a record stored verbatim
  payload-zstd    the content of a zstd-compressed record
  tree-node       any byte of a tree node record in a sealed pack
  open-tail       any byte of the last record of the open pack (the torn
                  tail of store.c's invariant (4): reported as missing objects)
  index           any byte of an index file

One flip per class, its region, byte and bit drawn from SEED, then NRANDOM
flips at bytes drawn uniformly from all pack and index bytes ("random").
Everything follows from SEED and the store, so a failure replays exactly.
"""
import os
import random
import struct
import sys

REC_MAGIC, REC_HDR, FLAG_ZSTD, FLAG_GROUP, NODE = 0x43455256, 52, 1, 2, 2


def records(data):
    """(offset, type, flags, stored_len, group member count or 0) of each record."""
    off = 16
    while off + REC_HDR <= len(data):
        magic, typ, flags, _, _, stored = struct.unpack_from('<IBBHII', data, off)
        if magic != REC_MAGIC or off + REC_HDR + stored > len(data):
            sys.exit(f'flips.py: no record at {off}: the store is damaged before any flip')
        n = struct.unpack_from('<I', data, off + REC_HDR)[0] if flags & FLAG_GROUP else 0
        yield off, typ, flags, stored, n
        off += REC_HDR + stored
    if off != len(data):
        sys.exit(f'flips.py: {len(data) - off} bytes after the last record')


def classify(packdir):
    """{class: [(file, start, end), ...]} and [(file, size), ...] of every file."""
    regions = {c: [] for c in ('pack-header', 'record-header', 'group-table', 'payload-plain', 'payload-zstd',
                               'tree-node', 'open-tail', 'index')}
    names = sorted(os.listdir(packdir))
    packs = [n for n in names if n.endswith('.pack')]
    files = [(n, os.path.getsize(os.path.join(packdir, n))) for n in names if n.endswith(('.pack', '.idx'))]
    for n in names:
        if n.endswith('.idx'):
            regions['index'].append((n, 0, os.path.getsize(os.path.join(packdir, n))))
    for p in packs:
        with open(os.path.join(packdir, p), 'rb') as f:
            data = f.read()
        sealed = p[:-5] + '.idx' in names
        regions['pack-header'].append((p, 0, 16))
        recs = list(records(data))
        for i, (off, typ, flags, stored, n) in enumerate(recs):
            end = off + REC_HDR + stored
            if not sealed and i == len(recs) - 1:
                regions['open-tail'].append((p, off, end))
                continue
            if typ == NODE:
                if sealed:
                    regions['tree-node'].append((p, off, end))
                continue
            if sealed:
                regions['record-header'].append((p, off, off + REC_HDR))
            content = off + REC_HDR
            if flags & FLAG_GROUP:
                table_end = content + 4 + 36 * n
                regions['group-table'].append((p, content, table_end))
                content = table_end
            regions['payload-zstd' if flags & FLAG_ZSTD else 'payload-plain'].append((p, content, end))
    return regions, files


def main():
    packdir, seed, nrandom = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    regions, files = classify(packdir)
    for cls, regs in regions.items():
        if not regs:
            sys.exit(f'flips.py: the store has no byte of class {cls}')
        name, start, end = rng.choice(regs)
        print(cls, name, rng.randrange(start, end), rng.randrange(8))
    total = sum(size for _, size in files)
    for _ in range(nrandom):
        k = rng.randrange(total)
        for name, size in files:
            if k < size:
                break
            k -= size
        print('random', name, k, rng.randrange(8))


main()
