"""nbd_probe.py — a raw NBD client (Python's standard library only) for what
libnbd's tools do not show: every option that names an export, one by one,
and clients that misbehave on purpose.

  nbd_probe.py refused ADDR NAME   NAME opens nothing by any route: LIST lists
                                   nothing, INFO / GO / LIST_META_CONTEXT /
                                   SET_META_CONTEXT answer NBD_REP_ERR_UNKNOWN,
                                   EXPORT_NAME is hung up on. Exit 0 if so.
  nbd_probe.py opens ADDR NAME     GO on NAME is acknowledged. Exit 0 if so;
                                   prints how long from the connect to the
                                   acknowledgement (ms, Python's start-up not
                                   counted).
  nbd_probe.py readonly ADDR NAME  GO on NAME says READ_ONLY, and a WRITE
                                   sent anyway (no client-side check) is
                                   answered EPERM.  Exit 0 if so.
  nbd_probe.py hold ADDR N SECONDS READY_FILE
                                   N connections that send nothing after
                                   connecting; READY_FILE (unless -) is written
                                   once all are connected; then held SECONDS (or until
                                   the server closes them).  Prints how many
                                   the server closed, and when (s since start).
  nbd_probe.py trickle ADDR PERIOD SECONDS
                                   one client sending its handshake a byte per
                                   PERIOD seconds; prints after how many
                                   seconds the server closed it.
  nbd_probe.py unread ADDR NAME COUNT LENGTH
                                   GO on NAME, then COUNT READs of LENGTH bytes
                                   sent without reading a reply; then waits
                                   (reading nothing) until the server closes
                                   the connection; prints how long that took.

ADDR is unix:PATH or tcp:HOST:PORT; NBD_PROBE_SOURCE=ADDRESS makes TCP
connections from that local address (another client, e.g. 127.0.0.2).
"""
import os
import select
import socket
import struct
import sys
import time

IHAVEOPT = 0x49484156454F5054
REP_MAGIC = 0x0003E889045565A9
OPT_EXPORT_NAME, OPT_LIST, OPT_INFO, OPT_GO = 1, 3, 6, 7
OPT_STRUCTURED_REPLY, OPT_LIST_META, OPT_SET_META = 8, 9, 10
REP_ACK, REP_SERVER = 1, 2
ERR_UNKNOWN = 0x80000006


def dial(addr):
    if addr.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(addr[5:])
    else:
        host, port = addr[4:].rsplit(":", 1)
        src = os.environ.get("NBD_PROBE_SOURCE")
        s = socket.create_connection((host, int(port)), source_address=(src, 0) if src else None)
    s.settimeout(10)  # a server that does not answer fails the probe, never hangs it
    return s


def rd(s, n):
    b = b""
    while len(b) < n:
        k = s.recv(n - len(b))
        if not k:
            raise EOFError
        b += k
    return b


def greet(s):
    magic, opt, _ = struct.unpack(">QQH", rd(s, 18))
    assert magic == 0x4E42444D41474943 and opt == IHAVEOPT
    s.sendall(struct.pack(">I", 3))  # fixed newstyle, no zeroes


def send_opt(s, opt, data=b""):
    s.sendall(struct.pack(">QII", IHAVEOPT, opt, len(data)) + data)


def replies(s, opt):
    """The replies to one option until a final one: [(type, data)]."""
    out = []
    while True:
        magic, o, typ, ln = struct.unpack(">QIII", rd(s, 20))
        assert magic == REP_MAGIC and o == opt, (hex(magic), o, opt)
        out.append((typ, rd(s, ln)))
        if typ != REP_SERVER and typ != 3 and typ != 4:  # SERVER, INFO, META_CONTEXT come before the end
            return out


def name_req(name, extra=b""):
    n = name.encode()
    return struct.pack(">I", len(n)) + n + extra


def refused(addr, name):
    try:
        return refused_(addr, name)
    except (OSError, EOFError, AssertionError) as e:
        print(f"unexpected: {e!r}")
        return False


def refused_(addr, name):
    ok = True
    s = dial(addr)
    greet(s)
    send_opt(s, OPT_LIST)
    r = replies(s, OPT_LIST)
    if r != [(REP_ACK, b"")]:
        print(f"LIST answered {[(hex(t), d[:40]) for t, d in r]}")
        ok = False
    for opt in (OPT_INFO, OPT_GO):
        send_opt(s, opt, name_req(name, struct.pack(">H", 0)))
        r = replies(s, opt)
        if r[-1][0] != ERR_UNKNOWN or len(r) != 1:
            print(f"option {opt} answered {[hex(t) for t, _ in r]}")
            ok = False
    send_opt(s, OPT_STRUCTURED_REPLY)
    replies(s, OPT_STRUCTURED_REPLY)
    q = b"base:allocation"
    for opt in (OPT_LIST_META, OPT_SET_META):
        send_opt(s, opt, name_req(name, struct.pack(">II", 1, len(q)) + q))
        r = replies(s, opt)
        if r[-1][0] != ERR_UNKNOWN or len(r) != 1:
            print(f"meta option {opt} answered {[hex(t) for t, _ in r]}")
            ok = False
    s.close()
    s = dial(addr)
    greet(s)
    send_opt(s, OPT_EXPORT_NAME, name.encode())
    try:
        got = s.recv(10)
    except ConnectionResetError:
        got = b""
    if got:
        print("EXPORT_NAME was answered")
        ok = False
    s.close()
    return ok


def go(s, name):
    send_opt(s, OPT_GO, name_req(name, struct.pack(">H", 0)))
    return replies(s, OPT_GO)[-1][0] == REP_ACK


def opens(addr, name):
    t0 = time.monotonic()
    s = dial(addr)
    greet(s)
    ok = go(s, name)
    s.close()
    if ok:
        print(f"opened in {(time.monotonic() - t0) * 1000:.1f} ms")
    return ok


def readonly(addr, name):
    s = dial(addr)
    greet(s)
    send_opt(s, OPT_GO, name_req(name, struct.pack(">H", 0)))
    r = replies(s, OPT_GO)
    if r[-1][0] != REP_ACK:
        print("GO refused")
        return False
    info = [d for t, d in r if t == 3 and struct.unpack(">H", d[:2])[0] == 0]
    flags = struct.unpack(">H", info[0][10:12])[0]
    if not flags & 2:
        print(f"transmission flags {flags:#x} lack READ_ONLY")
        return False
    s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 1, 7, 0, 512) + b"w" * 512)
    magic, err, cookie = struct.unpack(">IIQ", rd(s, 16))
    print(f"WRITE answered error {err}")
    return magic == 0x67446698 and cookie == 7 and err == 1


def hold(addr, n, seconds, ready):
    conns = [dial(addr) for _ in range(n)]
    if ready != "-":
        with open(ready, "w"):
            pass
    t0 = time.monotonic()
    closed = []
    for c in conns:
        c.setblocking(False)
    live = list(conns)
    while live and time.monotonic() - t0 < seconds:
        for c in list(live):
            try:
                while True:
                    b = c.recv(4096)
                    if not b:
                        raise EOFError
            except BlockingIOError:
                continue
            except (EOFError, ConnectionResetError):
                closed.append(time.monotonic() - t0)
                live.remove(c)
        time.sleep(0.05)
    print(f"{len(closed)} of {n} closed by the server" +
          (f", the last after {max(closed):.1f} s" if closed else ""))
    return True


def closed_by_peer(s):
    """Whether the server closed its end, without reading a byte of what it
    sent (POLLRDHUP: the peer shut down or closed)."""
    p = select.poll()
    p.register(s, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
    return any(ev & (select.POLLRDHUP | select.POLLHUP | select.POLLERR) for _, ev in p.poll(0))


def trickle(addr, period, seconds):
    s = dial(addr)
    rd(s, 18)
    stream = struct.pack(">I", 3) + struct.pack(">QII", IHAVEOPT, OPT_LIST, 0) * 1000
    t0 = time.monotonic()
    for i in range(len(stream)):
        if time.monotonic() - t0 > seconds:
            break
        try:
            s.send(stream[i:i + 1])
        except OSError:
            pass
        time.sleep(period)
        if closed_by_peer(s):
            print(f"closed after {time.monotonic() - t0:.1f} s")
            return True
    print(f"still open after {seconds} s")
    return True


def unread(addr, name, count, length):
    s = dial(addr)
    greet(s)
    if not go(s, name):
        print("GO refused")
        return False
    s.setblocking(False)
    t0 = time.monotonic()
    req = b"".join(struct.pack(">IHHQQI", 0x25609513, 0, 0, i, 0, length) for i in range(count))
    sent = 0
    while sent < len(req) and not closed_by_peer(s):  # the server may stop reading: then so do we
        try:
            sent += s.send(req[sent:])
        except BlockingIOError:
            time.sleep(0.01)
        except OSError:
            break
    print(f"sent {sent // 28} of {count} requests after {time.monotonic() - t0:.1f} s", flush=True)
    while time.monotonic() - t0 < 300 and not closed_by_peer(s):
        time.sleep(0.1)
    print(f"dropped after {time.monotonic() - t0:.1f} s")
    return True


def main():
    cmd = sys.argv[1]
    if cmd == "refused":
        ok = refused(sys.argv[2], sys.argv[3])
    elif cmd == "opens":
        ok = opens(sys.argv[2], sys.argv[3])
    elif cmd == "readonly":
        ok = readonly(sys.argv[2], sys.argv[3])
    elif cmd == "hold":
        ok = hold(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
    elif cmd == "trickle":
        ok = trickle(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]))
    elif cmd == "unread":
        ok = unread(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        sys.exit(__doc__)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
