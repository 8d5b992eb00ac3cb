#!/usr/bin/env python3
"""fake_qga.py — a scripted QEMU guest agent (qemu-ga) on a unix socket, for
the tests of vmrp's agent client (tests/agent) and of guest freezes driven
through the ARM API.

  fake_qga.py SOCKET [--mode MODE] [--log FILE] [--pidfile FILE]
              [--version V] [--fs-count N] [--disable CMD]... [--chunk BYTES]
              [--exit-with-parent]

One process plays both sides of a VM's agent channel: QEMU's chardev (the
unix socket, one client served at a time, the next one waiting in the listen
backlog; a reply written while no client is connected is lost, as QEMU drops
it) and the guest's qemu-ga behind it (its input stream and the guest's
freeze state, which outlive any connection: a half-sent command and a freeze
are still there for the next client).  Single-threaded like qemu-ga, so a
slow freeze holds every other command back.

The input is cut into JSON values the way qemu-ga's json-streamer does (the
bracket depth outside strings), so a command may come in pieces or several
in one read.  A 0xFF byte drops any partial input and, as in qemu-ga 7.2, is
answered with a {"error": {"class": "GenericError", "desc": "JSON parse
error, stray ..."}} reply, which a correct client skips because it comes
before the 0xFF that starts the answer to its guest-sync-delimited.  Replies
are one line of JSON with qemu-ga's ", " and ": " separators, ending in "\n",
with the request's "id" member echoed.  Error texts are qemu-ga's, but for
the failures the modes below script.

Commands (the rest of qemu-ga 7.2's list appears in guest-info; calling one
of those gets a GenericError "not implemented by fake_qga.py"):
  guest-sync-delimited {"id": N}  0xFF + {"return": N}
  guest-sync {"id": N}            {"return": N}
  guest-ping                      {"return": {}}
  guest-info                      {"return": {"version": V, "supported_commands":
                                   [{"enabled": B, "name": C, "success-response": B}, ...]}}
  guest-fsfreeze-status           {"return": "thawed" | "frozen"}
  guest-fsfreeze-freeze           {"return": N} (--fs-count, default 2), frozen
  guest-fsfreeze-thaw             {"return": N} (0 when not frozen), thawed
  anything else                   {"error": {"class": "CommandNotFound", ...}}
While frozen, as in qemu-ga, every command but guest-ping, guest-info,
guest-sync, guest-sync-delimited, guest-fsfreeze-status and
guest-fsfreeze-thaw is disabled (guest-info lists it "enabled": false and a
call answers CommandNotFound "Command C has been disabled: the agent is in
frozen state"); --disable CMD disables one for good, like qemu-ga -b.

--mode
  ok                the above (default)
  silent            accepts and reads, never answers anything (commands are
                    still logged; nothing is carried out)
  garbage           the first guest-sync-delimited of each connection is
                    answered after junk: bytes that are not JSON, a stale
                    reply, a 0xFF followed by invalid JSON and a 0xFF reply
                    with a wrong id, each written separately; then the real
                    one.  A correct client still synchronises.
  die-on-freeze     guest-fsfreeze-freeze: frozen, then the process exits
                    (status 0) without answering; the socket file stays, stale,
                    as a dead QEMU leaves it; the pidfile is removed
  freeze-hang       guest-fsfreeze-freeze: frozen, never answered; input is
                    still read, and a thaw (on that connection or a new one)
                    thaws and is answered
  thaw-fail         guest-fsfreeze-thaw answers GenericError "fsfreeze thaw
                    failed" and the guest stays frozen
  freeze-fail       guest-fsfreeze-freeze answers GenericError "fsfreeze freeze
                    failed" and the guest stays thawed
  slow-freeze=S     guest-fsfreeze-freeze takes S seconds (nothing is read
                    meanwhile), then the guest is frozen and it answers

--chunk BYTES  writes every reply in pieces of at most BYTES, 2 ms apart (a
               slow virtio-serial port: a client must reassemble a reply cut
               anywhere, even inside a JSON token)
--log FILE     appends, flushed at once, one line per command once it was
               handled, and one per connection and disconnection:
                 "<unix time, ms> <command|connect|disconnect> <thawed|frozen>"
               e.g. "1733240000.123 guest-fsfreeze-freeze frozen" (the state
               after it).  Input that is not a command is not logged.
--pidfile FILE written (atomically) once the socket listens: wait for it.
--exit-with-parent
               exits as on SIGTERM once its parent process is gone (checked
               twice a second while waiting), so a test that crashed leaves
               no fake behind

A stale socket file at SOCKET is removed before binding.  SIGTERM or SIGINT:
the socket and the pidfile are removed and the process exits with status 0.
"""
import argparse
import json
import os
import select
import signal
import socket
import stat
import sys
import time

# qemu-ga 7.2's commands, in the order its guest-info lists them.
COMMANDS = [
    "guest-get-cpustats", "guest-get-diskstats", "guest-ssh-remove-authorized-keys",
    "guest-ssh-add-authorized-keys", "guest-ssh-get-authorized-keys", "guest-get-devices",
    "guest-get-osinfo", "guest-get-timezone", "guest-get-users", "guest-get-host-name", "guest-exec",
    "guest-exec-status", "guest-get-memory-block-info", "guest-set-memory-blocks",
    "guest-get-memory-blocks", "guest-set-user-password", "guest-get-fsinfo", "guest-get-disks",
    "guest-set-vcpus", "guest-get-vcpus", "guest-network-get-interfaces", "guest-suspend-hybrid",
    "guest-suspend-ram", "guest-suspend-disk", "guest-fstrim", "guest-fsfreeze-thaw",
    "guest-fsfreeze-freeze-list", "guest-fsfreeze-freeze", "guest-fsfreeze-status",
    "guest-file-flush", "guest-file-seek", "guest-file-write", "guest-file-read", "guest-file-close",
    "guest-file-open", "guest-shutdown", "guest-info", "guest-set-time", "guest-get-time",
    "guest-ping", "guest-sync", "guest-sync-delimited",
]
NO_SUCCESS_RESPONSE = {"guest-suspend-hybrid", "guest-suspend-ram", "guest-suspend-disk", "guest-shutdown"}
FROZEN_ALLOWED = {"guest-ping", "guest-info", "guest-sync", "guest-sync-delimited",
                  "guest-fsfreeze-status", "guest-fsfreeze-thaw"}
WHITESPACE = b" \t\r\n"


class Terminate(Exception):
    pass


class Waker:
    """SIGTERM and SIGINT without a race: Python runs a signal's handler only
    between bytecodes, so one that comes just before a blocking accept() or
    recv() would wait for that call to return.  Its byte in the wakeup pipe
    ends the select() every wait goes through, however early it came."""

    def __init__(self, parent=None):
        self.parent = parent  # --exit-with-parent: the pid whose end ends us
        self.stopping = False
        self.r, self.w = socket.socketpair()
        self.r.setblocking(False)
        self.w.setblocking(False)
        signal.set_wakeup_fd(self.w.fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGINT, self.on_signal)

    def stop(self):
        if not self.stopping:  # once: never again inside the clean-up
            self.stopping = True
            raise Terminate()

    def on_signal(self, signum, frame):
        self.stop()

    def wait(self, sock):
        """Returns once sock is readable, or raises Terminate."""
        while True:
            ready, _, _ = select.select([sock, self.r], [], [], 0.5 if self.parent else None)
            if self.r in ready or (self.parent and os.getppid() != self.parent):
                self.stop()
            if ready:
                return


class QgaError(Exception):
    def __init__(self, cls, desc):
        super().__init__(desc)
        self.cls, self.desc = cls, desc


def parse_mode(text):
    if text in ("ok", "silent", "garbage", "die-on-freeze", "freeze-hang", "thaw-fail", "freeze-fail"):
        return text, 0.0
    if text.startswith("slow-freeze="):
        try:
            seconds = float(text.split("=", 1)[1])
        except ValueError:
            seconds = -1.0
        if seconds >= 0:
            return "slow-freeze", seconds
    raise argparse.ArgumentTypeError(f"unknown mode {text!r}")


def dumps(obj):
    # qemu-ga writes "\uFFFD" where Python writes "\ufffd"; both are JSON.
    return json.dumps(obj).replace("\\ufffd", "\\uFFFD").encode()


class Streamer:
    """Cuts a byte stream into top-level JSON values (qemu-ga's json-streamer).

    feed() returns events: ("value", bytes) a complete object or array,
    ("scalar", bytes) a top-level token that is not one, ("stray", bytes) a
    0xFF with the partial token it cut off."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.buf = bytearray()
        self.depth = 0
        self.in_str = self.esc = False
        self.str_start = 0

    def partial_token(self):
        if self.in_str:
            return bytes(self.buf[self.str_start:])
        i = len(self.buf)
        while i > 0 and (chr(self.buf[i - 1]).isalnum() or self.buf[i - 1] in b".+-"):
            i -= 1
        return bytes(self.buf[i:])

    def feed(self, data):
        events = []
        for b in data:
            if b == 0xFF:
                events.append(("stray", self.partial_token()))
                self.reset()
            elif self.depth == 0:
                if b in b"{[":
                    if self.buf:
                        events.append(("scalar", bytes(self.buf)))
                    self.buf = bytearray([b])
                    self.depth = 1
                elif b in WHITESPACE or b in b"]},:":
                    if self.buf:
                        events.append(("scalar", bytes(self.buf)))
                        self.buf = bytearray()
                    if b not in WHITESPACE:
                        events.append(("scalar", bytes([b])))
                else:
                    self.buf.append(b)
            else:
                self.buf.append(b)
                if self.in_str:
                    if self.esc:
                        self.esc = False
                    elif b == 0x5C:  # backslash
                        self.esc = True
                    elif b == 0x22:  # double quote
                        self.in_str = False
                elif b == 0x22:
                    self.in_str, self.str_start = True, len(self.buf) - 1
                elif b in b"{[":
                    self.depth += 1
                elif b in b"}]":
                    self.depth -= 1
                    if self.depth == 0:
                        events.append(("value", bytes(self.buf)))
                        self.buf = bytearray()
        return events


class Connection:
    """A client of the chardev; a write it can no longer take is lost."""

    def __init__(self, sock, chunk):
        self.sock, self.chunk, self.alive = sock, chunk, True

    def write(self, data):
        if not self.alive:
            return
        try:
            if self.chunk:
                for i in range(0, len(data), self.chunk):
                    if i:
                        time.sleep(0.002)
                    self.sock.sendall(data[i:i + self.chunk])
            else:
                self.sock.sendall(data)
        except OSError:
            self.alive = False


class Agent:
    def __init__(self, args, waker):
        self.waker = waker
        self.mode, self.slow = args.mode
        self.version = args.version
        self.fs_count = args.fs_count
        self.disabled = set(args.disable)
        self.frozen = False
        self.log_file = open(args.log, "a", encoding="utf-8") if args.log else None
        self.pidfile = args.pidfile
        self.streamer = Streamer()  # the guest's input: outlives connections
        self.synced = False          # garbage mode: this connection's first sync is answered

    def state(self):
        return "frozen" if self.frozen else "thawed"

    def log(self, what):
        if self.log_file:
            self.log_file.write(f"{time.time():.3f} {what} {self.state()}\n")
            self.log_file.flush()

    def enabled(self, cmd):
        return cmd not in self.disabled and (not self.frozen or cmd in FROZEN_ALLOWED)

    def info(self):
        return {"version": self.version,
                "supported_commands": [{"enabled": self.enabled(c), "name": c,
                                        "success-response": c not in NO_SUCCESS_RESPONSE}
                                       for c in COMMANDS]}

    @staticmethod
    def sync_id(args):
        if "id" not in args:
            raise QgaError("GenericError", "Parameter 'id' is missing")
        for name in args:
            if name != "id":
                raise QgaError("GenericError", f"Parameter '{name}' is unexpected")
        v = args["id"]
        if isinstance(v, bool) or not isinstance(v, int) or not -2**63 <= v < 2**63:
            raise QgaError("GenericError", "Invalid parameter type for 'id', expected: integer")
        return v

    def check_request(self, req):
        """The command and its arguments, or QgaError (qemu-ga's qmp-dispatch checks)."""
        if not isinstance(req, dict):
            raise QgaError("GenericError", "QMP input must be a JSON object")
        for name in req:
            if name not in ("execute", "arguments", "id"):
                raise QgaError("GenericError", f"QMP input member '{name}' is unexpected")
        if "execute" not in req:
            raise QgaError("GenericError", "QMP input lacks member 'execute'")
        cmd = req["execute"]
        if not isinstance(cmd, str):
            raise QgaError("GenericError", "QMP input member 'execute' must be a string")
        args = req.get("arguments", {})
        if not isinstance(args, dict):
            raise QgaError("GenericError", "QMP input member 'arguments' must be an object")
        return cmd, args

    def run(self, cmd, args):
        """Carries cmd out: its return value, None for no answer, or QgaError."""
        if cmd not in COMMANDS:
            raise QgaError("CommandNotFound", f"The command {cmd} has not been found")
        if not self.enabled(cmd):
            why = ": the agent is in frozen state" if cmd not in self.disabled else ""
            raise QgaError("CommandNotFound", f"Command {cmd} has been disabled{why}")
        if cmd in ("guest-sync", "guest-sync-delimited"):
            return self.sync_id(args)
        if args:
            raise QgaError("GenericError", f"Parameter '{next(iter(args))}' is unexpected")
        if cmd == "guest-ping":
            return {}
        if cmd == "guest-info":
            return self.info()
        if cmd == "guest-fsfreeze-status":
            return self.state()
        if cmd == "guest-fsfreeze-freeze":
            if self.mode == "freeze-fail":
                raise QgaError("GenericError", "fsfreeze freeze failed")
            if self.mode == "slow-freeze":
                time.sleep(self.slow)
            self.frozen = True
            if self.mode == "die-on-freeze":
                self.log(cmd)
                if self.pidfile:
                    os.unlink(self.pidfile)
                os._exit(0)
            if self.mode == "freeze-hang":
                return None
            return self.fs_count
        if cmd == "guest-fsfreeze-thaw":
            if self.mode == "thaw-fail":
                raise QgaError("GenericError", "fsfreeze thaw failed")
            n = self.fs_count if self.frozen else 0
            self.frozen = False
            return n
        raise QgaError("GenericError", f"{cmd} is not implemented by fake_qga.py")

    def garbage(self, conn, ident):
        for junk in (b"\x00\x01 junk }{ that is not JSON\n",
                     b'{"return": {}}\n',
                     b'\xff{"return": "not the reply", broken\n',
                     b'\xff{"return": %d}\n' % (ident + 1)):
            conn.write(junk)
            time.sleep(0.005)

    def handle(self, event, conn):
        kind, text = event
        if self.mode == "silent":
            if kind == "value":
                try:
                    cmd = json.loads(text).get("execute")
                except (ValueError, AttributeError):
                    cmd = None
                if isinstance(cmd, str):
                    self.log(cmd)
            return
        req, cmd, delimited = None, None, False
        try:
            if kind == "stray":
                tok = text.decode("utf-8", "replace") + "\ufffd"
                raise QgaError("GenericError", f"JSON parse error, stray '{tok}'")
            if kind == "scalar":
                word = text.decode("utf-8", "replace")
                if word.isalpha() and word not in ("true", "false", "null"):
                    raise QgaError("GenericError", f"JSON parse error, invalid keyword '{word}'")
                raise QgaError("GenericError", "QMP input must be a JSON object")
            try:
                req = json.loads(text.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                raise QgaError("GenericError", f"JSON parse error, {getattr(e, 'msg', e)}") from None
            cmd, args = self.check_request(req)
            delimited = cmd == "guest-sync-delimited"
            ret = self.run(cmd, args)
            if ret is None:
                self.log(cmd)
                return
            reply = {"return": ret}
        except QgaError as e:
            reply = {"error": {"class": e.cls, "desc": e.desc}}
            delimited = False
        if isinstance(req, dict) and "id" in req:
            reply["id"] = req["id"]
        if cmd:
            self.log(cmd)
        if delimited and self.mode == "garbage" and not self.synced:
            self.garbage(conn, reply["return"])
        if delimited:
            self.synced = True
            conn.write(b"\xff")
        conn.write(dumps(reply) + b"\n")

    def serve(self, sock, chunk):
        conn = Connection(sock, chunk)
        self.synced = False
        self.log("connect")
        try:
            while True:  # until the client hangs up, even when it no longer reads
                self.waker.wait(sock)
                try:
                    data = sock.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                for event in self.streamer.feed(data):
                    self.handle(event, conn)  # carried out even when the reply is lost
        finally:
            sock.close()
            self.log("disconnect")


def main():
    p = argparse.ArgumentParser(description="a scripted qemu-ga on a unix socket")
    p.add_argument("socket")
    p.add_argument("--mode", type=parse_mode, default=("ok", 0.0),
                   help="ok | silent | garbage | die-on-freeze | freeze-hang | thaw-fail | "
                        "freeze-fail | slow-freeze=SECONDS")
    p.add_argument("--log")
    p.add_argument("--pidfile")
    p.add_argument("--version", default="8.2.0-fake")
    p.add_argument("--fs-count", type=int, default=2)
    p.add_argument("--disable", action="append", default=[], metavar="CMD")
    p.add_argument("--chunk", type=int, default=0, metavar="BYTES")
    p.add_argument("--exit-with-parent", action="store_true")
    args = p.parse_args()
    listener = None
    bound = None
    try:
        agent = Agent(args, Waker(os.getppid() if args.exit_with_parent else None))
        try:
            if stat.S_ISSOCK(os.lstat(args.socket).st_mode):
                os.unlink(args.socket)
        except FileNotFoundError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(args.socket)
        bound = os.stat(args.socket).st_ino
        listener.listen(1)  # like QEMU's chardev: the next client waits
        if args.pidfile:
            tmp = f"{args.pidfile}.tmp{os.getpid()}"
            with open(tmp, "w", encoding="ascii") as f:
                f.write(f"{os.getpid()}\n")
            os.rename(tmp, args.pidfile)
        while True:
            agent.waker.wait(listener)
            sock, _ = listener.accept()
            agent.serve(sock, args.chunk)
    except Terminate:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if listener:
            listener.close()
        try:
            if bound is not None and os.stat(args.socket).st_ino == bound:
                os.unlink(args.socket)
        except FileNotFoundError:
            pass
        if args.pidfile:
            try:
                os.unlink(args.pidfile)
            except FileNotFoundError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
