#!/usr/bin/env python3
"""bench/sas's page-diff peer and the check of vmrp's diff.

  compare OLD NEW OUT   finds every 512-byte page where the images OLD and NEW
                        differ (what a client without page-range diffs must do:
                        read both and compare; `cmp` alone stops at the first
                        difference).  Both read in 64 MiB pieces, compared with
                        memcmp (bytes ==) and descended 64 MiB → 64 KiB → 4 KiB
                        → 512 B only where a piece differs.  Writes the changed
                        pages' offsets to OUT, prints "SECONDS PAGES".
  sum LIST.xml          prints the bytes the ranges of LIST.xml cover.
  check LIST.xml PAGES  every offset in PAGES (from compare) lies in a
                        PageRange or ClearRange of the Get Page Ranges answer
                        LIST.xml (vmrp's diff: one XML document per page
                        of the answer, concatenated); prints "RANGES LISTED_BYTES".
"""
import sys
import time
import xml.etree.ElementTree as ET


def compare(old, new, out):
    piece = 64 << 20
    pages = []
    t0 = time.perf_counter()
    with open(old, "rb", buffering=0) as fa, open(new, "rb", buffering=0) as fb:
        ba, bb = bytearray(piece), bytearray(piece)
        off = 0
        while True:
            na, nb = fa.readinto(ba), fb.readinto(bb)
            if na != nb:
                sys.exit(f"diff-images: {old} and {new} differ in size")
            if na == 0:
                break
            a, b = (ba, bb) if na == piece else (ba[:na], bb[:na])
            if a != b:
                for i in range(0, na, 65536):
                    if a[i:i + 65536] == b[i:i + 65536]:
                        continue
                    for j in range(i, min(i + 65536, na), 4096):
                        if a[j:j + 4096] == b[j:j + 4096]:
                            continue
                        for k in range(j, min(j + 4096, na), 512):
                            if a[k:k + 512] != b[k:k + 512]:
                                pages.append(off + k)
            off += na
    t1 = time.perf_counter()
    with open(out, "w") as f:
        f.write("".join(f"{p}\n" for p in pages))
    print(f"{t1 - t0:.4f} {len(pages)}")


def ranges(xml):
    rs = []
    data = open(xml, "rb").read().replace(b"\xef\xbb\xbf", b"")
    for doc in data.split(b"<?xml")[1:]:  # one document per page (NextMarker followed)
        root = ET.fromstring(b"<?xml" + doc)
        for el in root:
            if el.tag in ("PageRange", "ClearRange"):
                rs.append((int(el.find("Start").text), int(el.find("End").text)))
    return sorted(rs)


def check(xml, pages_file):
    rs = ranges(xml)
    pages = [int(l) for l in open(pages_file) if l.strip()]
    i = 0
    for p in pages:  # both sorted
        while i < len(rs) and rs[i][1] < p:
            i += 1
        if i == len(rs) or not (rs[i][0] <= p and p + 511 <= rs[i][1]):
            sys.exit(f"diff-images: changed page at {p} is not in the diff")
    print(len(rs), sum(e - s + 1 for s, e in rs))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "compare":
        compare(*sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == "check":
        check(*sys.argv[2:])
    elif len(sys.argv) == 3 and sys.argv[1] == "sum":
        print(sum(e - s + 1 for s, e in ranges(sys.argv[2])))
    else:
        sys.exit(__doc__)
