#!/usr/bin/python3
"""nbd_fault.py — NBD requests whose failure is the point (python3-libnbd).

  write URI OFF LEN BYTE   writes LEN bytes of BYTE at OFF (FUA: durable when
                           acknowledged); prints "ok" or the error's errno
                           name (ENOSPC, EIO, ...); exit 0 either way
  flush URI                FLUSH; prints "ok" or the errno name
  sha URI [OFF LEN]        SHA-256 of the export's bytes (all, or LEN at OFF)
"""
import errno
import hashlib
import sys

import nbd


def outcome(fn):
    try:
        fn()
        return "ok"
    except nbd.Error as e:
        return errno.errorcode.get(e.errno, str(e.errno)) if e.errno else e.string


def main():
    cmd, uri = sys.argv[1], sys.argv[2]
    h = nbd.NBD()
    h.connect_uri(uri)
    if cmd == "write":
        off, length, byte = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        print(outcome(lambda: h.pwrite(bytes([byte]) * length, off, nbd.CMD_FLAG_FUA)))
    elif cmd == "flush":
        print(outcome(h.flush))
    elif cmd == "sha":
        size = h.get_size()
        off, length = (int(sys.argv[3]), int(sys.argv[4])) if len(sys.argv) > 4 else (0, size)
        d = hashlib.sha256()
        step = 4 << 20
        for o in range(off, off + length, step):
            d.update(h.pread(min(step, off + length - o), o))
        print(d.hexdigest())
    else:
        sys.exit(__doc__)
    h.shutdown()


if __name__ == "__main__":
    main()
