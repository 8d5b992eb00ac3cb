#!/usr/bin/python3
"""Read-back checks of scripts/soak, over NBD (python3-libnbd).

soak_read.py image URI MODEL — the export equals the file MODEL byte for
byte, as nbdcopy and cmp would say but without reading a GiB of zeros on
each side: the export's extents that base:allocation says read as zeros
must be zeros in MODEL (its data found with SEEK_DATA/SEEK_HOLE), every other
extent is read and compared.  Prints "bytes=N compared=C" or the first
difference; exit 1 if any.

soak_read.py fio URI BYTES — checks a disk restore point of a disk that fio
wrote with verify=md5: every 4 KiB block of the first BYTES is
either all zero (never written before the restore point) or a whole block
fio wrote at that very offset (its header's magic, length and offset, and the
MD5 of its data).  A restore point taken while fio writes holds each block
as one write left it: a torn block, a block from elsewhere or damaged bytes
fail.  Prints "blocks=N written=W" or the first bad blocks; exit 1 if any.

fio 3.x's verify header (verify.h): u16 magic 0xacca, u16 verify_type,
u32 len, u64 rand_seed, u64 offset, u32 time_sec, u32 time_nsec, u16
thread, u16 numberio, u32 crc32 (40 bytes), then for md5 the 16-byte digest
of the rest of the block."""
import hashlib
import os
import struct
import sys

import nbd

BLOCK = 4096
STEP = 4 << 20


def check_fio(h, size):
    zero = bytes(BLOCK)
    written = blocks = 0
    bad = []
    for base in range(0, size, STEP):
        buf = h.pread(min(STEP, size - base), base)
        for off in range(0, len(buf), BLOCK):
            b = buf[off:off + BLOCK]
            blocks += 1
            if b == zero:
                continue
            magic, _vt, length, _seed, where = struct.unpack_from("<HHIQQ", b)
            if (magic, length, where) != (0xACCA, BLOCK, base + off) or hashlib.md5(b[56:]).digest() != b[40:56]:
                bad.append(f"offset {base + off}: magic {magic:#x} len {length} offset {where}")
            else:
                written += 1
    if bad:
        return f"{len(bad)} bad blocks of {blocks}: " + "; ".join(bad[:5])
    print(f"blocks={blocks} written={written}")
    return None


def model_data(fd, size):
    """the [start, end) ranges of data in the sparse file fd"""
    out, pos = [], 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError:
            break
        end = os.lseek(fd, start, os.SEEK_HOLE)
        out.append((start, end))
        pos = end
    return out


def check_image(h, model):
    fd = os.open(model, os.O_RDONLY)
    size = os.fstat(fd).st_size
    if h.get_size() != size:
        return f"size {h.get_size()}, the model's {size}"
    extents = []  # (start, end, reads as zeros)

    def status(meta, offset, entries, err):
        if meta == nbd.CONTEXT_BASE_ALLOCATION:
            for i in range(0, len(entries), 2):
                extents.append((offset, offset + entries[i], bool(entries[i + 1] & nbd.STATE_ZERO)))
                offset += entries[i]
        return 0

    pos = 0
    while pos < size:
        n = len(extents)
        h.block_status(min(size - pos, 1 << 30), pos, status)
        if len(extents) == n:
            return f"no block status at offset {pos}"
        pos = extents[-1][1]
    data = model_data(fd, size)
    compared = 0
    for start, end, zero in extents:
        end = min(end, size)
        if zero:
            for ds, de in data:
                a, b = max(ds, start), min(de, end)
                if a < b and os.pread(fd, b - a, a) != bytes(b - a):
                    return f"[{a}, {b}) reads as zeros, the model has data there"
            continue
        for off in range(start, end, STEP):
            n = min(STEP, end - off)
            if h.pread(n, off) != os.pread(fd, n, off):
                return f"[{off}, {off + n}) differs from the model"
            compared += n
    os.close(fd)
    print(f"bytes={size} compared={compared}")
    return None


def main():
    mode, uri = sys.argv[1], sys.argv[2]
    h = nbd.NBD()
    if mode == "image":
        h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    h.connect_uri(uri)
    why = check_fio(h, int(sys.argv[3])) if mode == "fio" else check_image(h, sys.argv[3])
    h.shutdown()
    if why:
        print(why)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
