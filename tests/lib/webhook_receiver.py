#!/usr/bin/python3
"""webhook_receiver.py — a local HTTPS receiver of vmrp's policy webhooks.

Why a receiver of our own: the tests must see what a real receiver sees
(TLS with a certificate from the test CA, the headers, the exact body) and
check the signature the way docs/policies.md tells receivers to, with the
standard library only (Debian's /usr/bin/python3).

Usage: webhook_receiver.py --cert PEM --key KEY --secret-file F --dir D [--port N]
  Writes the port it listens on to D/port, then one JSON line per POST to
  D/events.jsonl: {"eventId", "signatureValid", "age", "contentType", "status",
  "body" (parsed), "path"}.  The status it answers is the number in D/status
  when that file exists (read at each request), else 200.  A signature is
  valid when x-vmrp-signature is "t=<unix>,v1=<hex>" and hex is
  HMAC-SHA256(secret, "<t>.<body>"); age is now - t in seconds.
"""
import argparse
import hashlib
import hmac
import http.server
import json
import os
import ssl
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--secret-file", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    with open(args.secret_file, "rb") as f:
        secret = f.read().strip()
    events = os.path.join(args.dir, "events.jsonl")
    status_file = os.path.join(args.dir, "status")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # the answer leaves in one segment: written piecemeal it meets the
        # client's delayed ACK (40 ms per request on loopback)
        wbufsize = 65536
        disable_nagle_algorithm = True

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            sig = self.headers.get("x-vmrp-signature", "")
            valid, age = False, None
            try:
                parts = dict(p.split("=", 1) for p in sig.split(","))
                t = parts["t"]
                want = hmac.new(secret, t.encode() + b"." + body, hashlib.sha256).hexdigest()
                valid = hmac.compare_digest(want, parts["v1"])
                age = time.time() - int(t)
            except (KeyError, ValueError):
                pass
            status = 200
            try:
                with open(status_file) as f:
                    status = int(f.read().strip() or "200")
            except FileNotFoundError:
                pass
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            rec = {"eventId": self.headers.get("x-vmrp-event-id"), "signatureValid": valid, "age": age,
                   "contentType": self.headers.get("Content-Type"), "status": status, "body": parsed,
                   "path": self.path}
            with open(events, "a") as f:
                f.write(json.dumps(rec) + "\n")
            reply = b'{"received":true}' if status < 300 else b"receiver says no"
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
            self.wfile.flush()

        def log_message(self, fmt, *a):
            sys.stderr.write("receiver: " + (fmt % a) + "\n")

    http.server.ThreadingHTTPServer.allow_reuse_address = True
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    tmp = os.path.join(args.dir, "port.tmp")
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, os.path.join(args.dir, "port"))
    server.serve_forever()


if __name__ == "__main__":
    main()
