"""scatter.py — changes an image the same way in a local copy and over NBD.

  scatter.py IMAGE SEED COUNT LEN [CLUSTER]   prints qemu-io commands on stdout

Writes COUNT extents of LEN bytes of seeded random data into IMAGE (a local
model of a disk), at LEN-aligned random offsets (within one CLUSTER-byte
area when CLUSTER is given), and prints the same writes as qemu-io commands
("write -P" cannot carry random bytes, so each is a "write -s FILE" of a
file written beside IMAGE); feed them to `qemu-io -f raw URI`.
"""
import os
import random
import sys


def main():
    image, seed, count, length = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    cluster = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    r = random.Random(seed)
    size = os.path.getsize(image)
    base = r.randrange((size - cluster) // length) * length if cluster else 0
    span = cluster if cluster else size
    d = os.path.dirname(os.path.abspath(image))
    with open(image, "r+b") as f:
        for i in range(count):
            off = base + r.randrange(span // length) * length
            data = r.randbytes(length)
            f.seek(off)
            f.write(data)
            path = os.path.join(d, "scatter.%d.%d" % (seed, i))
            with open(path, "wb") as p:
                p.write(data)
            print("write -s %s %d %d" % (path, off, length))
    print("flush")


if __name__ == "__main__":
    main()
