#!/usr/bin/python3
"""apply-changes.py IMAGE LIST TARGET — writes the 4 KiB blocks of IMAGE that
LIST names (one block number a line, as gen-image.py --changed-list writes
them) to TARGET: an NBD URI (nbd://, nbd+unix://, ...; through libnbd, then
flushed) or a file (written in place, then fsync'd).  Contiguous blocks are
coalesced, up to 1 MiB a write.  (bench/lib/images.sh: `apply`.)"""
import os
import sys

img, lst, target = sys.argv[1:4]
blocks = sorted(int(l) for l in open(lst) if l.strip())
runs, start, prev = [], None, None
for b in blocks:
    if start is not None and b == prev + 1 and b - start < 256:
        prev = b; continue
    if start is not None: runs.append((start, prev))
    start = prev = b
if start is not None: runs.append((start, prev))
if "://" in target:
    import nbd
    h = nbd.NBD(); h.connect_uri(target)
    with open(img, "rb") as f:
        for a, z in runs:
            f.seek(a * 4096); h.pwrite(f.read((z - a + 1) * 4096), a * 4096)
    h.flush(); h.shutdown()
else:
    fd = os.open(target, os.O_WRONLY)
    with open(img, "rb") as f:
        for a, z in runs:
            f.seek(a * 4096); os.pwrite(fd, f.read((z - a + 1) * 4096), a * 4096)
    os.fsync(fd); os.close(fd)
