#!/usr/bin/python3
"""hostile_peer.py — a region's peer that answers the peer protocol with
malformed documents (tests/arm/peer_hostile.sh).

  hostile_peer.py PORT CERT KEY CREDENTIAL LOG

Serves HTTPS on 127.0.0.1:PORT.  The document it sends is chosen by the name
the request asks about (the last segment of the id, or of the VM for
captures), so the test picks each defect by naming it:
  GET resource?id=…/restorePointCollections/src       a valid collection
  GET resource?id=…/virtualMachines/<any>              a valid VM
  GET resource?id=…/restorePoints/<variant>            a restore point, broken
                                                       as <variant> says
  POST captures {vmId: …/virtualMachines/cap-<variant>} an answer broken as
                                                       <variant> says
Anything else (an ARM call forwarded to it) is answered 201 with a small
document.  Every request is logged to LOG as one JSON line: method, path,
headers, and whether its peer signature verifies with CREDENTIAL.
"""
import copy
import hashlib
import hmac
import http.server
import json
import ssl
import sys
import threading
import urllib.parse

RPC = "Microsoft.Compute/restorePointCollections"
RP = RPC + "/restorePoints"
VM = "Microsoft.Compute/virtualMachines"
PORT, CERT, KEY, CRED, LOG = sys.argv[1:6]
lock = threading.Lock()


def rp_doc(rp_id, variant):
    drp_id = rp_id + "/diskRestorePoints/d_1"
    d = {"id": rp_id, "type": RP, "name": rp_id.rsplit("/", 1)[1], "location": "evil",
         "provisioningState": "Succeeded", "properties": {"sourceMetadata": {}},
         "diskRestorePoints": [{"id": drp_id, "name": "d_1",
                                "properties": {"sourceResourceId": "/subscriptions/s/resourceGroups/g/providers/"
                                                                   "Microsoft.Compute/disks/d"},
                                "vmrpTree": {"root": "ab" * 32, "size": 1 << 20, "state": "Succeeded"}}]}
    drp = d["diskRestorePoints"][0]
    mutate = {
        "notype": lambda: d.pop("type"),
        "nulltype": lambda: d.update(type=None),
        "numtype": lambda: d.update(type=5),
        "arraytype": lambda: d.update(type=[RP]),
        "wrongid": lambda: d.update(id=rp_id + "x"),
        "propsnotobject": lambda: d.update(properties="x"),
        "drpsnotarray": lambda: d.update(diskRestorePoints={}),
        "drpnoid": lambda: drp.pop("id"),
        "drpnullid": lambda: drp.update(id=None),
        "drpforeignid": lambda: drp.update(id="/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/"
                                              "restorePointCollections/c/restorePoints/other/diskRestorePoints/d_1"),
        "drpbadname": lambda: (drp.update(name="../x"), drp.update(id=rp_id + "/diskRestorePoints/../x")),
        "dupdrp": lambda: d["diskRestorePoints"].append(copy.deepcopy(drp)),
        "badroot": lambda: drp["vmrpTree"].update(root="zz" * 32),
        "shortroot": lambda: drp["vmrpTree"].update(root="abc"),
        "numroot": lambda: drp["vmrpTree"].update(root=7),
        "negsize": lambda: drp["vmrpTree"].update(size=-1),
        "hugesize": lambda: drp["vmrpTree"].update(size=1 << 62),
        "strsize": lambda: drp["vmrpTree"].update(size="1"),
        "treenotobject": lambda: drp.update(vmrpTree=[]),
        "pathdomain": lambda: drp["vmrpTree"].update(domain="../../../etc/passwd"),
        "upperdomain": lambda: drp["vmrpTree"].update(domain="AB" * 16),
        "numdomain": lambda: drp["vmrpTree"].update(domain=16),
        "excludestring": lambda: d["properties"].update(excludeDisks="x"),
        "metadatastring": lambda: d["properties"].update(sourceMetadata="x"),
    }
    if variant in mutate:
        mutate[variant]()
    return d


def capture_doc(vm_id, variant):
    base = vm_id.split("/providers/")[0]
    rp_id = base + "/providers/" + RPC + "/vmrp-xr-eastus-vm/restorePoints/" + variant
    disk = {"managedDisk": {"id": base + "/providers/Microsoft.Compute/disks/os"},
            "diskRestorePoint": {"id": rp_id + "/diskRestorePoints/os_1"}}
    d = {"id": rp_id, "name": variant, "type": RP,
         "properties": {"sourceMetadata": {"storageProfile": {"osDisk": disk, "dataDisks": []}},
                        "provisioningState": "Creating"}}
    if variant == "badid":
        d["id"] = "not-an-id"
    elif variant == "nullid":
        d["id"] = None
    elif variant == "drpnumid":
        disk["diskRestorePoint"]["id"] = 5
    elif variant == "drpforeign":
        disk["diskRestorePoint"]["id"] = base + "/providers/" + RPC + "/c/restorePoints/other/diskRestorePoints/os_1"
    elif variant == "datadisksobject":
        d["properties"]["sourceMetadata"]["storageProfile"]["dataDisks"] = {"a": 1}
    elif variant == "profilenull":
        d["properties"]["sourceMetadata"]["storageProfile"] = None
    return d


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def signature_ok(self, body):
        auth = self.headers.get("Authorization", "")
        try:
            scheme, rest = auth.split(" ", 1)
            fields = dict(kv.split("=", 1) for kv in rest.split(","))
            u = urllib.parse.urlsplit(self.path)
            query = "&".join(urllib.parse.quote(k, safe="-._~") + "=" + urllib.parse.quote(v, safe="-._~")
                             for k, v in urllib.parse.parse_qsl(u.query, keep_blank_values=True))
            target = u.path + ("?" + query if query else "")
            canon = "\n".join([scheme, self.headers.get("x-vmrp-peer", "").lower(), "evil", self.command, target,
                               fields["t"], fields["n"], hashlib.sha256(body).hexdigest(),
                               self.headers.get("x-vmrp-caller", "")])
            want = hmac.new(CRED.encode(), canon.encode(), hashlib.sha256).hexdigest()
            return scheme == "VMRP1-HMAC-SHA256" and hmac.compare_digest(want, fields["s"])
        except (ValueError, KeyError):
            return False

    def reply(self, status, doc=None, raw=None):
        body = raw if raw is not None else json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        with lock, open(LOG, "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                                "signature_ok": self.signature_ok(body)}) + "\n")
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        if u.path == "/vmrp/peer/v1/resource":
            rid = q.get("id", "")
            last = rid.rsplit("/", 1)[-1]
            if "/restorePoints/" in rid:
                if last == "notjson":
                    return self.reply(200, raw=b"{not json")
                return self.reply(200, rp_doc(rid, last))
            if "/virtualMachines/" in rid:
                return self.reply(200, {"id": rid, "type": VM, "name": last, "location": "evil",
                                        "provisioningState": "Succeeded", "properties": {}})
            if rid.lower().endswith("/restorepointcollections/src"):
                return self.reply(200, {"id": rid, "type": RPC, "name": last, "location": "evil",
                                        "provisioningState": "Succeeded", "properties": {}})
            if rid.lower().endswith("/restorepointcollections/src-notype"):
                return self.reply(200, {"id": rid, "name": last, "location": "evil", "properties": {}})
            return self.reply(404, {"error": {"code": "ResourceNotFound", "message": "no"}})
        if u.path == "/vmrp/peer/v1/captures":
            vm_id = json.loads(body or b"{}").get("vmId", "")
            variant = vm_id.rsplit("/", 1)[-1][len("cap-"):]
            if variant == "notjson":
                return self.reply(201, raw=b"<html>")
            if variant == "ok200":
                return self.reply(200, capture_doc(vm_id, "badroot"))
            if variant == "err":
                return self.reply(409, {"error": {"code": "OperationNotAllowed", "message": "busy here"}})
            if variant == "errnotarm":
                return self.reply(409, ["not", "an", "error"])
            return self.reply(201, capture_doc(vm_id, variant))
        if u.path == "/vmrp/peer/v1/release":
            return self.reply(204, raw=b"")
        if self.command == "GET" and "/resourceGroups/" not in u.path:  # lists merged over the regions
            return self.reply(200, {"value": []})
        return self.reply(201, {"id": u.path, "name": u.path.rsplit("/", 1)[-1], "location": "evil"})

    do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = handle_any


srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(PORT)), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(CERT, KEY)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
