#!/usr/bin/python3
"""peer_sign.py — signs a request between regions the way src/repl/sign.c
does (repl.h), for tests that speak the peer protocol themselves.

  peer_sign.py CREDENTIAL FROM TO METHOD TARGET [BODY_FILE] [--caller OID APPID TID]
               [--ts-ms N] [--nonce HEX]

prints one header per line (Authorization, x-vmrp-peer, x-vmrp-caller), ready
for curl -H.  --ts-ms and --nonce forge what a real sender never would (an
old timestamp, a reused nonce).
"""
import hashlib
import hmac
import os
import sys
import time
import urllib.parse


def main(argv):
    args, opts = [], {}
    i = 0
    while i < len(argv):
        if argv[i] == "--caller":
            opts["caller"] = argv[i + 1:i + 4]
            i += 4
        elif argv[i] in ("--ts-ms", "--nonce"):
            opts[argv[i]] = argv[i + 1]
            i += 2
        else:
            args.append(argv[i])
            i += 1
    cred, frm, to, method, target = args[:5]
    body = open(args[5], "rb").read() if len(args) > 5 and args[5] else b""
    ts = int(opts.get("--ts-ms", int(time.time() * 1000)))
    nonce = opts.get("--nonce", os.urandom(16).hex())
    caller = ""
    if "caller" in opts:
        caller = " ".join(urllib.parse.quote(v, safe="-._~") for v in opts["caller"])
    canon = "\n".join(["VMRP1-HMAC-SHA256", frm.lower(), to.lower(), method, target, str(ts), nonce,
                       hashlib.sha256(body).hexdigest(), caller])
    mac = hmac.new(cred.encode(), canon.encode(), hashlib.sha256).hexdigest()
    print(f"Authorization: VMRP1-HMAC-SHA256 t={ts},n={nonce},s={mac}")
    print(f"x-vmrp-peer: {frm}")
    if caller:
        print(f"x-vmrp-caller: {caller}")


if __name__ == "__main__":
    main(sys.argv[1:])
