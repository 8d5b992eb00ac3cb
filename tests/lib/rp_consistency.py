"""rp_consistency.py — workloads and checks for restore points over NBD.

  rp_consistency.py write URI1 URI2 PROGRESS     dependent writes until killed:
      record n goes to block n % BLOCKS of disk 1, and once that is
      acknowledged, to the same block of disk 2; PROGRESS holds the last n
      acknowledged on both.  Between records, a read-modify-write pair on
      disk 1 (a counter at RMW_A copied to RMW_B first): any crash-consistent
      image has B == A or B == A + 1.
  rp_consistency.py check URI1 URI2 ACKED      checks two disk restore points:
      each disk holds exactly the first p records (p1, p2), p2 <= p1 (record
      n on disk 2 => record n on disk 1), p2 >= ACKED (everything
      acknowledged before the PUT is there), and the RMW pair is consistent.
      Prints "p1 p2".
Uses libnbd's Python binding (Debian python3-libnbd).
"""
import os
import struct
import sys

import nbd

BLOCK = 4096
BLOCKS = 2048                      # records cycle over the first 8 MiB
RMW_A, RMW_B = 4096 * BLOCK, 4097 * BLOCK


def record(n, disk):
    head = struct.pack("<QQ", n + 1, disk)
    return head + bytes((n * 7 + disk * 13 + i) & 0xFF for i in range(BLOCK - len(head)))


def write(uri1, uri2, progress):
    h1, h2 = nbd.NBD(), nbd.NBD()
    h1.connect_uri(uri1)
    h2.connect_uri(uri2)
    n = 0
    while True:
        h1.pwrite(record(n, 1), (n % BLOCKS) * BLOCK)
        h2.pwrite(record(n, 2), (n % BLOCKS) * BLOCK)
        a = struct.unpack("<Q", h1.pread(8, RMW_A))[0]
        h1.pwrite(struct.pack("<Q", a + 1) + bytes(BLOCK - 8), RMW_B)
        h1.pwrite(struct.pack("<Q", a + 1) + bytes(BLOCK - 8), RMW_A)
        tmp = progress + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % (n + 1))
        os.replace(tmp, progress)
        n += 1


def prefix(h, disk):
    data = h.pread(BLOCKS * BLOCK, 0)
    p = 0
    for b in range(BLOCKS):
        p = max(p, struct.unpack_from("<Q", data, b * BLOCK)[0])
    for b in range(BLOCKS):
        # the last record < p that maps to block b, if any
        n = p - 1 - ((p - 1 - b) % BLOCKS) if p > b else -1
        want = record(n, disk) if n >= 0 else bytes(BLOCK)
        if data[b * BLOCK:(b + 1) * BLOCK] != want:
            raise SystemExit(f"disk {disk}: block {b} is not record {n} of a prefix of {p} records")
    return p


def check(uri1, uri2, acked):
    h1, h2 = nbd.NBD(), nbd.NBD()
    h1.connect_uri(uri1)
    h2.connect_uri(uri2)
    p1, p2 = prefix(h1, 1), prefix(h2, 2)
    if p2 > p1:
        raise SystemExit(f"write order broken: disk 2 has {p2} records, disk 1 only {p1}")
    if p2 < acked:
        raise SystemExit(f"lost: {acked} records were acknowledged before the PUT, disk 2 has {p2}")
    a = struct.unpack("<Q", h1.pread(8, RMW_A))[0]
    b = struct.unpack("<Q", h1.pread(8, RMW_B))[0]
    if b not in (a, a + 1):
        raise SystemExit(f"read-modify-write pair torn: A={a} B={b}")
    print(p1, p2)


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        check(sys.argv[2], sys.argv[3], int(sys.argv[4]))
