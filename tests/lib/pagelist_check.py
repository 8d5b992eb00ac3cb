#!/usr/bin/env python3
"""Checks a Get Page Ranges answer against disk images (used by tests/arm/sas.sh).

  cover LIST.xml IMAGE        every non-zero 512-byte page of IMAGE, and the
                              footer page after it, lies in a PageRange; ranges
                              are 512-aligned, ordered, disjoint
  diff LIST.xml OLD NEW       every page where OLD and NEW differ lies in a range;
                              PageRange pages hold data in NEW only where listed
                              as such; every ClearRange reads as zeros in NEW;
                              nothing outside the ranges differs
  blobdiff LIST.xml OLD NEW   as diff, for two downloaded blobs (VHDs) of different
                              sizes: OLD is read as zeros past its end, so its
                              footer's bytes must be listed too
  paged SAS CA WHOLE.xml      maxresults=1 pages followed through NextMarker give
                              exactly the ranges of WHOLE.xml
"""
import ssl
import sys
import urllib.request
import xml.etree.ElementTree as ET


def ranges(xml_bytes):
    root = ET.fromstring(xml_bytes.lstrip(b"\xef\xbb\xbf"))
    out = []
    for el in root:
        if el.tag in ("PageRange", "ClearRange"):
            s, e = int(el.find("Start").text), int(el.find("End").text)
            out.append((el.tag, s, e))
    nm = root.find("NextMarker")
    return out, (nm.text if nm is not None else None)


def well_formed(rs):
    last = -1
    for _, s, e in rs:
        assert s % 512 == 0 and (e + 1) % 512 == 0, f"range {s}-{e} not 512-aligned"
        assert s > last and e >= s, f"range {s}-{e} out of order or overlapping"
        last = e


def nonzero_pages(img):
    with open(img, "rb") as f:
        data = f.read()
    z = bytes(512)
    return data, [i for i in range(0, len(data), 512) if data[i:i + 512] != z]


def covered(rs, off):
    # binary search over sorted ranges
    lo, hi = 0, len(rs) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        _, s, e = rs[mid]
        if off < s:
            hi = mid - 1
        elif off > e:
            lo = mid + 1
        else:
            return rs[mid]
    return None


def cover(xml, img):
    rs, _ = ranges(open(xml, "rb").read())
    well_formed(rs)
    assert all(t == "PageRange" for t, _, _ in rs), "a plain page list has only PageRange"
    data, pages = nonzero_pages(img)
    for p in pages:
        assert covered(rs, p), f"non-zero page at {p} not listed"
    assert covered(rs, len(data)), "the footer page is not listed"
    assert rs[-1][2] == len(data) + 511, "the list goes beyond the blob"


def check_changes(xml, a, b):
    """Every page where a and b differ is listed; ClearRange pages are zero in b."""
    rs, _ = ranges(open(xml, "rb").read())
    well_formed(rs)
    z = bytes(512)
    for i in range(0, len(b), 512):
        r = covered(rs, i)
        if a[i:i + 512] != b[i:i + 512]:
            assert r, f"changed page at {i} not listed"
        if r and r[0] == "ClearRange":
            assert b[i:i + 512] == z, f"ClearRange page at {i} is not zero"
    return rs


def diff(xml, old, new):
    a, b = open(old, "rb").read(), open(new, "rb").read()
    assert len(a) == len(b)
    for t, s, e in check_changes(xml, a, b):
        assert e < len(b), f"a diff lists the footer or beyond ({s}-{e})"


def blobdiff(xml, old, new):
    a, b = open(old, "rb").read(), open(new, "rb").read()
    assert len(a) < len(b), "blobdiff is for a grown blob"
    rs = check_changes(xml, a + bytes(len(b) - len(a)), b)
    assert rs[-1][2] < len(b), "the list goes beyond the blob"


def paged(sas, ca, whole_xml):
    want, _ = ranges(open(whole_xml, "rb").read())
    ctx = ssl.create_default_context(cafile=ca)
    got, marker, n = [], None, 0
    while True:
        url = sas + "&comp=pagelist&maxresults=1" + (f"&marker={marker}" if marker else "")
        with urllib.request.urlopen(url, context=ctx) as r:
            rs, marker = ranges(r.read())
        assert len(rs) <= 1, "maxresults=1 gave more than one range"
        got += rs
        n += 1
        if not marker:
            break
        assert n < 100000
    assert got == want, f"paged list differs: {len(got)} vs {len(want)} ranges"
    assert n == len(want), f"{n} pages for {len(want)} ranges"


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    {"cover": cover, "diff": diff, "blobdiff": blobdiff, "paged": paged}[mode](*args)
