"""crashloop_regions.py — two real regions for scripts/crashloop: started
with scripts/run on a state directory of their own and ports of their own
(two crash loops can run side by side), killed with SIGKILL and started
again the way tests/lib/harness.sh does (kill9_region, restart_region), and
an ARM / data-plane / NBD client that knows that a region may vanish under
it at any moment: every call raises Down when the connection breaks.
"""
import http.client
import json
import os
import signal
import sqlite3
import ssl
import subprocess
import sys
import time
import urllib.parse

import nbd

REGIONS = ("eastus", "westus")
GV = "api-version=2021-04-01"
DV = "api-version=2024-03-02"
CV = "api-version=2024-07-01"


class Down(Exception):
    """The region did not answer (killed, restarting); region: the one that
    did not (None: the one asked)."""

    def __init__(self, msg, region=None):
        super().__init__(msg)
        self.region = region


class Loss(Exception):
    """A check failed, or a region answered as it should not have: the
    round is lost."""


class Regions:
    def __init__(self, src, build, var, ports, config_extra):
        self.src, self.build, self.var = src, build, var
        self.vmrpd = os.path.join(build, "src/daemon/vmrpd")
        self.ports = ports  # region -> (arm, nbd, dataplane)
        self.children = {}  # region -> Popen of a restarted daemon (ours to reap)
        env = dict(os.environ, VMRP_VAR=var, VMRP_BUILD=build, VMRP_CONFIG_EXTRA=config_extra)
        for r in REGIONS:
            up = r.upper()
            env[f"VMRP_{up}_PORT"], env[f"VMRP_{up}_NBD_PORT"], env[f"VMRP_{up}_DP_PORT"] = map(str, ports[r])
        out = subprocess.run([os.path.join(src, "scripts/run"), "--detach"], env=env, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError("scripts/run --detach failed:\n" + out.stdout + out.stderr)
        ids = dict(line.strip().split("=", 1) for line in open(os.path.join(var, "ids.env")) if "=" in line)
        self.sub, self.client_id, self.secret = ids["SUBSCRIPTION_ID"], ids["CLIENT_ID"], ids["CLIENT_SECRET"]
        self.ctx = ssl.create_default_context(cafile=os.path.join(var, "tls/ca.pem"))
        self.tokens = {}
        self.nbd_uris = {}

    def base(self, r):
        return f"https://127.0.0.1:{self.ports[r][0]}"

    def pid(self, r):
        with open(os.path.join(self.var, r, "vmrpd.pid")) as f:
            return int(f.readline())

    def _alive(self, pid):
        """Some thread of pid has not exited yet: a multithreaded process's
        leader is a zombie while its other threads still hold its files (and
        the data directory's lock)."""
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            return False
        for t in tasks:
            try:
                with open(f"/proc/{pid}/task/{t}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
                        return True
            except OSError:
                pass
        return False

    def kill9(self, r):
        pid = self.pid(r)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        child = self.children.pop(r, None)
        if child is not None:
            child.wait()
        for _ in range(400):
            if not self._alive(pid):
                return
            time.sleep(0.01)
        raise RuntimeError(f"region {r} (pid {pid}) survived kill -9")

    def restart(self, r, timeout=60):
        log = open(os.path.join(self.var, r, "vmrpd.log"), "ab")
        self.children[r] = subprocess.Popen([self.vmrpd, "-c", os.path.join(self.var, r, "vmrpd.conf")],
                                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.children[r].poll() is not None:
                raise RuntimeError(f"region {r} exited at restart (status {self.children[r].returncode})")
            try:
                if self.call("GET", self.base(r) + "/metadata/endpoints", auth=False, timeout=2)[0] == 200:
                    return
            except Down:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"region {r} did not answer within {timeout} s of its restart")

    def stop(self):
        subprocess.run([os.path.join(self.src, "scripts/run"), "--stop"], env=dict(os.environ, VMRP_VAR=self.var),
                       capture_output=True)
        for child in self.children.values():
            child.wait()
        self.children = {}

    # ---- HTTP --------------------------------------------------------------
    def token(self, r, fresh=False):
        if fresh or r not in self.tokens or self.tokens[r][1] < time.monotonic():
            base = self.base(r)
            form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": self.client_id,
                                           "client_secret": self.secret, "scope": base + "//.default"})
            st, _, body = self.call("POST", base + "/adfs/oauth2/token", form.encode(), auth=False,
                                    ctype="application/x-www-form-urlencoded")
            if st != 200:
                raise Down(f"token: HTTP {st}")
            self.tokens[r] = (json.loads(body)["access_token"], time.monotonic() + 600)
        return self.tokens[r][0]

    def call(self, method, url, body=None, auth=True, ctype="application/json", headers=None, timeout=30):
        """(status, headers (lower-case names), body bytes); Down when the
        region does not answer."""
        u = urllib.parse.urlsplit(url)
        h = dict(headers or {})
        if auth:
            h["Authorization"] = "Bearer " + self.token(self.region_of(u.port))
        if body is not None:
            if not isinstance(body, (bytes, bytearray)):
                body = json.dumps(body).encode()
            h["Content-Type"] = ctype
        conn = http.client.HTTPSConnection(u.hostname, u.port, context=self.ctx, timeout=timeout)
        try:
            conn.request(method, u.path + ("?" + u.query if u.query else ""), body=body, headers=h)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        except (OSError, http.client.HTTPException) as e:
            raise Down(f"{method} {u.path}: {e}") from e
        finally:
            conn.close()

    def region_of(self, port):
        for r in REGIONS:
            if port in self.ports[r]:
                return r
        raise ValueError(f"no region on port {port}")

    def arm(self, method, url, body=None, timeout=30):
        """(status, json or None, headers)"""
        st, hd, data = self.call(method, url, body, timeout=timeout)
        if st == 401:  # a token of a restarted region's signing key is still good; be safe anyway
            self.token(self.region_of(urllib.parse.urlsplit(url).port), fresh=True)
            st, hd, data = self.call(method, url, body, timeout=timeout)
        try:
            doc = json.loads(data) if data else None
        except ValueError:
            doc = None
        return st, doc, hd

    def wait_op(self, hd, deadline, field="status"):
        """Polls the Azure-AsyncOperation of an answer until it is final;
        its status ("none" without one).  Down when the region goes away,
        TimeoutError past deadline (time.monotonic())."""
        aao = hd.get("azure-asyncoperation")
        if not aao and hd.get("location"):  # a resource group's DELETE: 202 until done
            while True:
                st, doc, _ = self.arm("GET", hd["location"])
                if st != 202:
                    return ("Succeeded" if st in (200, 204) else f"HTTP {st}"), doc
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{hd['location']} still 202")
                time.sleep(0.05)
        if not aao:
            return "none", None
        while True:
            st, doc, _ = self.arm("GET", aao)
            s = (doc or {}).get(field)
            if st == 200 and s not in ("InProgress", "Running", "Accepted", None):
                return s, doc
            if time.monotonic() > deadline:
                raise TimeoutError(f"operation {aao} still {s} (HTTP {st})")
            time.sleep(0.05)

    def nbd_connect(self, r, res_id, access):
        """An NBD handle on a disk or disk restore point.  One grant per
        resource and access, kept (grants last until revoked, 64 a disk at
        most); granted again when it no longer opens (resource made anew)."""
        key = (r, res_id.lower(), access)
        if key in self.nbd_uris:
            h = nbd.NBD()
            try:
                h.connect_uri(self.nbd_uris[key])
                return h
            except nbd.Error:
                self.nbd_uris.pop(key, None)
        st, doc, _ = self.arm("POST", f"{self.base(r)}{res_id}/vmrpGrantNbdAccess?{DV}", {"access": access})
        if st != 200 or not doc or "nbdUri" not in doc:
            raise Loss(f"NBD grant of {res_id}: HTTP {st} {doc}")
        h = nbd.NBD()
        try:
            h.connect_uri(doc["nbdUri"])
        except nbd.Error as e:
            raise Down(f"NBD connect to {res_id}: {e}") from e
        self.nbd_uris[key] = doc["nbdUri"]
        return h

    # ---- the regions' tables, read-only ------------------------------------
    def unfinished(self, r):
        """What the region's tables show as not final: operations in
        progress, resources mid-way, images capturing or copying, volumes
        being created or deleted, deployments active."""
        db = sqlite3.connect(f"file:{os.path.join(self.var, r, 'meta.db')}?mode=ro", uri=True, timeout=10)
        try:
            q = [("operation", "SELECT kind || ' ' || coalesce(resource_id, '') FROM operations WHERE status = 0"),
                 ("resource", "SELECT provisioning_state || ' ' || id FROM resources WHERE provisioning_state"
                              " NOT IN ('Succeeded', 'Failed', 'Canceled')"),
                 ("image", "SELECT state || ' ' || id FROM images WHERE state IN (0, 3)"),
                 ("volume", "SELECT state || ' ' || resource_id FROM volumes WHERE state <> 1"),
                 ("deployment", "SELECT state || ' ' || id FROM deployments WHERE state IN ('Accepted', 'Running')")]
            return [f"{r} {what}: {row[0]}" for what, sql in q for row in db.execute(sql)]
        finally:
            db.close()

    def count(self, r, sql):
        db = sqlite3.connect(f"file:{os.path.join(self.var, r, 'meta.db')}?mode=ro", uri=True, timeout=10)
        try:
            return db.execute(sql).fetchone()[0]
        finally:
            db.close()


def log(*a):
    print(*a, flush=True, file=sys.stderr)
