"""nbd_acked.py — writes records to an NBD export and logs the ones the server
acknowledged as durable (FUA writes, and every write completed before an
acknowledged FLUSH); `verify` checks after a crash that each of them is there.

  nbd_acked.py write URI LOG REGION_START REGION_BLOCKS SEED   (runs until killed)
  nbd_acked.py verify URI LOG

Record = one 4 KiB block: 8-byte sequence number + pattern derived from it,
so a block tells which write it holds.  A block may hold a later write than
the durable one (that write may have reached the disk too), never an earlier
one and never a torn or foreign block.  Uses libnbd's Python binding
(Debian python3-libnbd).
"""
import os
import random
import struct
import sys

import nbd

BLOCK = 4096


def record(seq):
    head = struct.pack("<Q", seq)
    body = bytes((seq * 31 + i) & 0xFF for i in range(256)) * (BLOCK // 256)
    return head + body[len(head):]


def write(uri, log, start, blocks, seed):
    rnd = random.Random(seed)
    h = nbd.NBD()
    h.connect_uri(uri)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    pending = []
    seq = seed * 10_000_000
    while True:
        seq += 1
        off = (start + rnd.randrange(blocks)) * BLOCK
        fua = rnd.random() < 0.25
        h.pwrite(record(seq), off, nbd.CMD_FLAG_FUA if fua else 0)
        if fua:
            os.write(fd, b"%d %d\n" % (seq, off))
        else:
            pending.append((seq, off))
        if len(pending) >= 8:
            h.flush()
            os.write(fd, b"".join(b"%d %d\n" % p for p in pending))
            pending = []


def verify(uri, log):
    durable = {}
    with open(log) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 2:
                continue  # a line cut by the kill of the writer
            seq, off = int(parts[0]), int(parts[1])
            durable[off] = max(seq, durable.get(off, 0))
    h = nbd.NBD()
    h.connect_uri(uri)
    bad = 0
    for off, seq in sorted(durable.items()):
        got = h.pread(BLOCK, off)
        have = struct.unpack("<Q", got[:8])[0]
        if have < seq or got != record(have):
            bad += 1
            print(f"block at {off}: durable write {seq} lost (holds {have})")
    h.shutdown()
    print(f"{len(durable)} acknowledged blocks checked, {bad} lost")
    return bad == 0


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
    else:
        sys.exit(0 if verify(sys.argv[2], sys.argv[3]) else 1)
