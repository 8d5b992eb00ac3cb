#!/usr/bin/env python3
"""ref.py — the references bench/repl compares vmrp's copies with.

  ref.py nonzero IMG
      prints `chunks bytes`: IMG's 64 KiB chunks that are not all zero, and
      their bytes (what a copy must move at least before compression; the
      store skips zero chunks)
  ref.py changed OLD NEW LIST [LEVEL]
      the 64 KiB chunks of NEW that hold a block LIST names (4 KiB block
      numbers, one a line) and differ from OLD: prints `chunks raw_bytes
      zstd_chunks zstd_groups`, where zstd_chunks is the sum of each chunk
      compressed alone with zstd at LEVEL (default 2, CAS_DEFAULT_ZSTD_LEVEL
      of src/cas/cas.h) and zstd_groups the sum over the changed chunks
      compressed in 1 MiB groups in disk order (the store's groups of new
      chunks, CAS_GROUP_BYTES), each frame taken as zstd writes it (an
      incompressible chunk costs its size plus the frame's few bytes).

libzstd through ctypes (the library vmrpd links), so no Python module is
needed."""
import ctypes
import ctypes.util
import os
import sys

CHUNK = 64 << 10
GROUP = 1 << 20


def zstd():
    lib = ctypes.CDLL(ctypes.util.find_library("zstd") or "libzstd.so.1")
    lib.ZSTD_compressBound.restype = ctypes.c_size_t
    lib.ZSTD_compressBound.argtypes = [ctypes.c_size_t]
    lib.ZSTD_compress.restype = ctypes.c_size_t
    lib.ZSTD_compress.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
    lib.ZSTD_isError.restype = ctypes.c_uint
    lib.ZSTD_isError.argtypes = [ctypes.c_size_t]
    cap = lib.ZSTD_compressBound(GROUP)
    buf = ctypes.create_string_buffer(cap)

    def size(data, level):
        n = lib.ZSTD_compress(buf, cap, data, len(data), level)
        if lib.ZSTD_isError(n):
            sys.exit("ref.py: ZSTD_compress failed")
        return n
    return size


def nonzero(img):
    zero = bytes(CHUNK)
    n = 0
    with open(img, "rb", buffering=0) as f:
        while True:
            b = f.read(64 * CHUNK)
            if not b:
                break
            for o in range(0, len(b), CHUNK):
                c = b[o:o + CHUNK]
                n += c != zero[:len(c)]
    print(n, n * CHUNK)


def changed(old, new, lst, level):
    cz = zstd()
    chunks = sorted({int(l) * 4096 // CHUNK for l in open(lst) if l.strip()})
    fo, fn = os.open(old, os.O_RDONLY), os.open(new, os.O_RDONLY)
    n = raw = zc = zg = 0
    group = bytearray()
    for c in chunks:
        a, b = os.pread(fo, CHUNK, c * CHUNK), os.pread(fn, CHUNK, c * CHUNK)
        if a == b:
            continue
        n += 1
        raw += len(b)
        zc += cz(b, level)
        group += b
        if len(group) >= GROUP:
            zg += cz(bytes(group), level)
            group = bytearray()
    if group:
        zg += cz(bytes(group), level)
    print(n, raw, zc, zg)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "nonzero":
        nonzero(sys.argv[2])
    elif len(sys.argv) in (5, 6) and sys.argv[1] == "changed":
        changed(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]) if len(sys.argv) == 6 else 2)
    else:
        sys.exit(__doc__)
