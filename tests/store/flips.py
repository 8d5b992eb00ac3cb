#!/usr/bin/env python3
"""flips.py VS STORE ROOTS SEED NRANDOM — the bit flips of tests/store/damage.sh.

Parses every pack (format in src/cas/pack.h) and index file of STORE into
byte classes:

  pack-header     the 16-byte file header of any pack
  record-header   the 52-byte header of a chunk record in a sealed pack
  seal            (an encrypted store) the domain id, salt and GCM tag of a
                  chunk record in a sealed pack
  group-table     the member table (count, addresses, lengths) of a group record
                  (encrypted: its ciphertext, sized from the index file)
  payload-plain   the content of a record stored verbatim
  payload-zstd    the content of a zstd-compressed record
  tree-node       any byte of a tree node record in a sealed pack
  open-tail       any byte of the last record of the open pack (the torn
                  tail of store.c's invariant (4): reported as missing objects)
  index           any byte of an index file

and flips one bit (XOR, so the byte always changes) in each class, at a
region, byte and bit drawn from SEED, then at NRANDOM bytes drawn uniformly
from all pack and index bytes ("random"), each flip undone before the next.
After each flip, `VS -s STORE verify` (read-only) must exit 1 and report it;
the roots it names (ROOTS: "ROOT IMAGE" lines) must be exactly those whose
get-image fails, the others must read back exactly; a flip that damages no
object (pack-header, index) must name no root and count a damaged region, a
flip in a record must list a damaged (open-tail: damaged or missing) object.
Prints one "ok -" line per flip; on failure the flip and the seed.
"""
import os
import random
import re
import struct
import subprocess
import sys

REC_MAGIC, REC_HDR, FLAG_ZSTD, FLAG_GROUP, FLAG_SEALED, NODE = 0x43455256, 52, 1, 2, 4, 2
SEAL_PRE, SEAL_TAG = 32, 16
CLASSES = ('pack-header', 'record-header', 'seal', 'group-table', 'payload-plain', 'payload-zstd', 'tree-node',
           'open-tail', 'index')


def idx_members(path):
    """{record offset: group members} from an index file (entries of 48 bytes)."""
    members = {}
    if os.path.exists(path):
        with open(path, 'rb') as f:
            data = f.read()
        for k in range(struct.unpack_from('<I', data, 8)[0]):
            off, member = struct.unpack_from('<I', data, 16 + 48 * k + 32)[0], data[16 + 48 * k + 46]
            if member:
                members[off] = members.get(off, 0) + 1
    return members


def records(data, members):
    """(offset, type, flags, stored_len, group member count, 0 if unknown) of each record."""
    off = 16
    while off + REC_HDR <= len(data):
        magic, typ, flags, _, _, stored = struct.unpack_from('<IBBHII', data, off)
        if magic != REC_MAGIC or off + REC_HDR + stored > len(data):
            raise SystemExit(f'flips.py: no record at {off}: the store is damaged before any flip')
        n = 0
        if flags & FLAG_GROUP:
            n = members.get(off, 0) if flags & FLAG_SEALED else struct.unpack_from('<I', data, off + REC_HDR)[0]
        yield off, typ, flags, stored, n
        off += REC_HDR + stored
    if off != len(data):
        raise SystemExit(f'flips.py: {len(data) - off} bytes after the last record')


def classify(packdir):
    """{class: [(file, start, end), ...]} and [(file, size), ...] of every file."""
    regions = {c: [] for c in CLASSES}
    names = sorted(os.listdir(packdir))
    files = [(n, os.path.getsize(os.path.join(packdir, n))) for n in names if n.endswith(('.pack', '.idx'))]
    for n, size in files:
        if n.endswith('.idx'):
            regions['index'].append((n, 0, size))
            continue
        with open(os.path.join(packdir, n), 'rb') as f:
            data = f.read()
        sealed = n[:-5] + '.idx' in names
        regions['pack-header'].append((n, 0, 16))
        recs = list(records(data, idx_members(os.path.join(packdir, n[:-5] + '.idx'))))
        for i, (off, typ, flags, stored, members) in enumerate(recs):
            end = off + REC_HDR + stored
            if not sealed and i == len(recs) - 1:
                regions['open-tail'].append((n, off, end))
            elif typ == NODE:
                if sealed:
                    regions['tree-node'].append((n, off, end))
            else:
                if sealed:
                    regions['record-header'].append((n, off, off + REC_HDR))
                content = off + REC_HDR
                if flags & FLAG_SEALED:
                    if sealed:
                        regions['seal'].append((n, content, content + SEAL_PRE))
                        regions['seal'].append((n, end - SEAL_TAG, end))
                    content, end = content + SEAL_PRE, end - SEAL_TAG
                if flags & FLAG_GROUP:
                    if not members:
                        continue  # an encrypted group of the open pack: its table's size is not known
                    regions['group-table'].append((n, content, content + 4 + 36 * members))
                    content += 4 + 36 * members
                regions['payload-zstd' if flags & FLAG_ZSTD else 'payload-plain'].append((n, content, end))
    return regions, files


def encrypted(packdir):
    """Whether the store's packs are of version 2 (pack.h)."""
    with open(os.path.join(packdir, sorted(n for n in os.listdir(packdir) if n.endswith('.pack'))[0]), 'rb') as f:
        return f.read(16)[8] == 2


def flip(path, off, bit):
    with open(path, 'r+b') as f:
        f.seek(off)
        b = f.read(1)
        if len(b) != 1:
            raise SystemExit(f'flips.py: no byte {off} in {path}')
        f.seek(off)
        f.write(bytes([b[0] ^ (1 << bit)]))


def check(vs, store, roots, cls, tmp):
    """None when the flip is reported as it must be, else what is wrong."""
    v = subprocess.run([vs, '-q', '-s', store, 'verify'], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    out = v.stdout
    if v.returncode != 1:
        return f'bit flip not detected (verify exit {v.returncode})\n{out}{v.stderr}'
    m = re.search(r'^verify: .*; (\d+) damaged regions, (\d+) damaged or missing objects', out, re.M)
    if not m:
        return f'verify failed without a report\n{out}{v.stderr}'
    regions, objects = int(m.group(1)), int(m.group(2))
    if regions + objects == 0:
        return f'verify exit 1 but nothing reported\n{out}'
    named = 0
    for root, img in roots:
        is_named = re.search(f'^affected-root {root}$', out, re.M) is not None
        g = subprocess.run([vs, '-q', '-s', store, 'get-image', root, tmp], capture_output=True,
                           stdin=subprocess.DEVNULL)
        if is_named:
            named += 1
            if g.returncode == 0:
                return f'root {root} named by verify was served'
        elif g.returncode != 0:
            return f'root {root} not named by verify does not read: {g.stderr.decode(errors="replace")}'
        else:
            with open(tmp, 'rb') as a, open(img, 'rb') as b:
                if a.read() != b.read():
                    return f'root {root} not named by verify reads back wrong bytes'
    listed = re.search(r'^(damaged|missing) ', out, re.M)
    if cls in ('pack-header', 'index'):
        if named or listed or regions == 0:
            return f'{cls}: no object is damaged, but {named} roots named, objects listed: {bool(listed)}, ' \
                   f'{regions} damaged regions\n{out}'
    elif cls == 'open-tail':
        if not named or not listed:
            return f'{cls}: no root named or no object listed\n{out}'
    elif cls != 'random':
        if not named or not re.search(r'^damaged ', out, re.M):
            return f'{cls}: no root named or no damaged object listed\n{out}'
    return None


def main():
    vs, store, roots_file, seed, nrandom = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    with open(roots_file) as f:
        roots = [tuple(line.split()) for line in f if line.strip()]
    packdir = os.path.join(store, 'packs')
    tmp = os.path.join(os.path.dirname(store), 'flip.raw')
    rng = random.Random(seed)
    regions, files = classify(packdir)
    flips = []
    for cls in CLASSES:
        if not regions[cls] and cls == 'seal' and not encrypted(packdir):
            continue  # a plaintext store
        if not regions[cls]:
            raise SystemExit(f'flips.py: the store has no byte of class {cls} (DAMAGE_SEED={seed})')
        name, start, end = rng.choice(regions[cls])
        flips.append((cls, name, rng.randrange(start, end), rng.randrange(8)))
    total = sum(size for _, size in files)
    for _ in range(nrandom):
        k = rng.randrange(total)
        for name, size in files:
            if k < size:
                break
            k -= size
        flips.append(('random', name, k, rng.randrange(8)))
    for cls, name, off, bit in flips:
        path = os.path.join(packdir, name)
        flip(path, off, bit)
        err = check(vs, store, roots, cls, tmp)
        flip(path, off, bit)
        if err:
            print(f'FAIL: {err.rstrip()}\n(DAMAGE_SEED={seed}; flip: {cls} {name} byte {off} bit {bit})',
                  file=sys.stderr)
            sys.exit(1)
        print(f'ok - {cls}: {name} byte {off} bit {bit} reported')
    if os.path.exists(tmp):
        os.unlink(tmp)


main()
