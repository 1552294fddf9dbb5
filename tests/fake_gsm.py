#!/usr/bin/python3
"""Fake Google Secret Manager for the seedsec tests.

One process serves, on 127.0.0.1:
  - over TLS: the Secret Manager v1 REST API (global and regional paths), the
    OAuth 2.0 token endpoint POST /token (JWT bearer and refresh-token grants)
    and the control API under /_fake/;
  - over plain HTTP (optional): the GCE metadata server, the control API, and a
    CONNECT proxy restricted to loopback targets (for HTTPS_PROXY tests).

It is kept honest by tests/test_fake_gsm_gcloud.sh, which drives it with the
real gcloud CLI. Standard library only. Payload values are never logged.
The full usage is at the end of tests/gsm_env.sh.
"""

import argparse
import base64
import binascii
import datetime
import hashlib
import hmac
import html
import http.server
import io
import json
import os
import re
import secrets as rnd
import select
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse

MAX_PAYLOAD = 65536
MAX_BODY = 1 << 20
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
ID_RE = re.compile(r"[A-Za-z0-9_-]{1,255}\Z")
LOCATION_RE = re.compile(r"[a-z][a-z0-9-]{0,62}\Z")
LABEL_KEY_RE = re.compile(r"[a-z][a-z0-9_-]{0,62}\Z")
LABEL_VALUE_RE = re.compile(r"[a-z0-9_-]{0,63}\Z")
SECRET_FIELDS = {"name", "replication", "createTime", "labels", "topics", "expireTime",
                 "ttl", "etag", "rotation", "versionAliases", "annotations",
                 "versionDestroyTtl", "customerManagedEncryption", "tags"}
STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                404: "NOT_FOUND", 409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED",
                499: "CANCELLED", 500: "INTERNAL", 501: "NOT_IMPLEMENTED",
                503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
FAULT_ACTIONS = {"status", "reset_before", "reset_after", "delay", "html", "chunked",
                 "close_after", "truncate"}
DEFAULT_PROJECT_NUMBERS = {"ai-lab": "123456789012"}


# ---------------------------------------------------------------- utilities

def _crc_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC_TABLE = _crc_table()


def crc32c(data):
    """CRC-32C (Castagnoli), as Secret Manager's dataCrc32c."""
    c = 0xFFFFFFFF
    t = CRC_TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_etag():
    return '"%x"' % (time.time_ns() // 1000 * 1000 + rnd.randbelow(1000))


def b64decode_any(text):
    """Decode base64 the way proto3 JSON does: standard or URL-safe, padded or not."""
    if not isinstance(text, str):
        raise ValueError("not a string")
    s = text.strip()
    if not re.fullmatch(r"[A-Za-z0-9+/_-]*={0,2}", s):
        raise ValueError("invalid base64 characters")
    s = s.rstrip("=").replace("-", "+").replace("_", "/")
    if len(s) % 4 == 1:
        raise ValueError("invalid base64 length")
    return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)


def b64url_decode(text):
    s = text.replace("-", "+").replace("_", "/")
    if not re.fullmatch(r"[A-Za-z0-9+/]*", s) or len(s) % 4 == 1:
        raise ValueError("invalid base64url")
    return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)


# ---------------------------------------------------------------- RSA (stdlib only)

def _der(buf, pos):
    """One DER element at pos: (tag, value, next)."""
    if pos + 2 > len(buf):
        raise ValueError("truncated DER")
    tag, ln = buf[pos], buf[pos + 1]
    pos += 2
    if ln & 0x80:
        n = ln & 0x7F
        if n == 0 or n > 4 or pos + n > len(buf):
            raise ValueError("bad DER length")
        ln = int.from_bytes(buf[pos:pos + n], "big")
        pos += n
    if pos + ln > len(buf):
        raise ValueError("truncated DER")
    return tag, buf[pos:pos + ln], pos + ln


def _der_items(buf):
    items, pos = [], 0
    while pos < len(buf):
        tag, val, pos = _der(buf, pos)
        items.append((tag, val))
    return items


RSA_OID = bytes.fromhex("2a864886f70d010101")


def _rsa_from_spki(der):
    alg, bits = _der_items(der)[:2]
    if _der_items(alg[1])[0][1] != RSA_OID:
        raise ValueError("not an RSA key")
    if bits[0] != 0x03 or bits[1][0] != 0:
        raise ValueError("bad public key bit string")
    return _rsa_from_pkcs1_public(_der(bits[1][1:], 0)[1])


def _rsa_from_pkcs1_public(seq):
    items = _der_items(seq)
    return int.from_bytes(items[0][1], "big"), int.from_bytes(items[1][1], "big")


def rsa_public_key(pem):
    """(n, e) from a PEM public key, private key (PKCS#1/#8) or certificate."""
    m = re.search(r"-----BEGIN ([A-Z ]+)-----(.*?)-----END \1-----", pem, re.S)
    if not m:
        raise ValueError("no PEM block")
    label, der = m.group(1), base64.b64decode("".join(m.group(2).split()))
    top = _der(der, 0)[1]
    if label == "PUBLIC KEY":
        return _rsa_from_spki(top)
    if label == "RSA PUBLIC KEY":
        return _rsa_from_pkcs1_public(top)
    if label == "RSA PRIVATE KEY":
        items = _der_items(top)
        return int.from_bytes(items[1][1], "big"), int.from_bytes(items[2][1], "big")
    if label == "PRIVATE KEY":
        items = _der_items(top)
        if _der_items(items[1][1])[0][1] != RSA_OID:
            raise ValueError("not an RSA key")
        inner = _der_items(_der(items[2][1], 0)[1])
        return int.from_bytes(inner[1][1], "big"), int.from_bytes(inner[2][1], "big")
    if label == "CERTIFICATE":
        tbs = _der_items(_der_items(top)[0][1])
        start = 1 if tbs[0][0] == 0xA0 else 0
        spki = tbs[start + 5]
        return _rsa_from_spki(spki[1])
    raise ValueError("unsupported PEM block " + label)


SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def rsa_verify_sha256(key, msg, sig):
    """RSASSA-PKCS1-v1_5 with SHA-256, comparing the whole encoded block."""
    n, e = key
    k = (n.bit_length() + 7) // 8
    if len(sig) != k or k < 64:
        return False
    s = int.from_bytes(sig, "big")
    if s >= n:
        return False
    t = SHA256_DIGEST_INFO + hashlib.sha256(msg).digest()
    expected = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    return hmac.compare_digest(pow(s, e, n).to_bytes(k, "big"), expected)


# ---------------------------------------------------------------- errors

class ApiError(Exception):
    def __init__(self, code, message, status=None, headers=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS_NAMES.get(code, "UNKNOWN")
        self.headers = headers or {}


class OAuthError(Exception):
    def __init__(self, code, error, description):
        super().__init__(description)
        self.code, self.error, self.description = code, error, description


class BadRequest(Exception):
    pass


def error_body(code, message, status=None):
    return {"error": {"code": code, "message": message,
                      "status": status or STATUS_NAMES.get(code, "UNKNOWN")}}


def html_404(path):
    return ("<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n"
            "  <meta name=viewport content=\"initial-scale=1, minimum-scale=1, width=device-width\">\n"
            "  <title>Error 404 (Not Found)!!1</title>\n"
            "  <a href=//www.google.com/><span id=logo aria-label=Google></span></a>\n"
            "  <p><b>404.</b> <ins>That\u2019s an error.</ins>\n"
            "  <p>The requested URL <code>%s</code> was not found on this server."
            "  <ins>That\u2019s all we know.</ins>\n" % html.escape(path)).encode("utf-8")


# ---------------------------------------------------------------- state

class Version:
    def __init__(self, num, data, state="ENABLED", client_crc=False, create_time=None):
        self.num = num
        self.data = data
        self.state = state
        self.client_crc = client_crc
        self.create_time = create_time or now_rfc3339()
        self.destroy_time = None
        self.etag = new_etag()
        if state == "DESTROYED":
            self.data = b""
            self.destroy_time = self.create_time


class Secret:
    def __init__(self, number, location, sid, replication, labels, extra):
        self.number = number
        self.location = location
        self.sid = sid
        self.replication = replication
        self.labels = labels
        self.extra = extra
        self.create_time = now_rfc3339()
        self.etag = new_etag()
        self.versions = {}

    def name(self):
        if self.location:
            return "projects/%s/locations/%s/secrets/%s" % (self.number, self.location, self.sid)
        return "projects/%s/secrets/%s" % (self.number, self.sid)

    def next_version(self):
        return max(self.versions, default=0) + 1

    def latest(self):
        return self.versions[max(self.versions)] if self.versions else None

    def to_json(self):
        out = {"name": self.name()}
        if not self.location:
            out["replication"] = self.replication
        out["createTime"] = self.create_time
        if self.labels:
            out["labels"] = self.labels
        for k, v in self.extra.items():
            if v not in ({}, [], "", None):
                out[k] = v
        out["etag"] = self.etag
        return out

    def version_json(self, v):
        out = {"name": "%s/versions/%d" % (self.name(), v.num), "createTime": v.create_time}
        if v.destroy_time:
            out["destroyTime"] = v.destroy_time
        out["state"] = v.state
        if not self.location:
            if "userManaged" in (self.replication or {}):
                out["replicationStatus"] = {"userManaged": {"replicas": [
                    {"location": r.get("location")} for r in self.replication["userManaged"].get("replicas", [])]}}
            else:
                out["replicationStatus"] = {"automatic": {}}
        out["etag"] = v.etag
        if v.client_crc:
            out["clientSpecifiedPayloadChecksum"] = True
        return out


class App:
    """All mutable state, behind one lock."""

    def __init__(self, args):
        self.lock = threading.RLock()
        self.args = args
        self.tokens_file = args.tokens
        self.state_dir = args.state_dir
        self.log_file = None
        if args.log:
            self.log_file = open(args.log, "a", buffering=1, encoding="utf-8")
        self.conn_counter = 0
        self.seen_ids = {}
        self.reset_all()
        self.load_snapshot()

    # -- reset / persistence

    def reset_all(self):
        self.reset_data()
        self.reset_auth()
        self.reset_config()

    def reset_data(self):
        self.secrets = {}
        self.log = []
        self.seq = 0
        self.gsm_count = 0
        self.faults = []

    def reset_auth(self):
        self.sa_keys = []          # {"client_email", "key_id", "key": (n, e)}
        self.refresh = []          # {"client_id", "client_secret", "refresh_token", "scope"}
        self.extra_tokens = set()
        self.minted = {}           # token -> {"who", "scopes", "expires"}

    def reset_config(self):
        self.config = {"deny_projects": [], "deny_permissions": {},
                       "project_numbers": dict(DEFAULT_PROJECT_NUMBERS),
                       "chunked": False, "token_expires_in": 3599,
                       "metadata_project": "ai-lab", "metadata_token": True,
                       "metadata_email": "default@ai-lab.iam.gserviceaccount.com",
                       "accept_google_aud": True}
        # command-line settings survive a reset
        args = self.args
        self.config["deny_projects"] = [p for p in (args.deny_projects or "").split(",") if p]
        self.config["chunked"] = bool(args.chunked)
        for item in args.project_number or []:
            pid, _, num = item.partition("=")
            self.config["project_numbers"][pid] = num

    def snapshot(self, with_log=True, since=0):
        with self.lock:
            out = {"requests": self.gsm_count, "seq": self.seq,
                   "secrets": [self.secret_state(s) for s in self.secrets.values()],
                   "faults": self.faults_json(), "config": self.config,
                   "tokens_minted": len(self.minted),
                   "sa_keys": [{"client_email": k["client_email"], "key_id": k["key_id"]} for k in self.sa_keys],
                   "refresh_clients": [r["client_id"] for r in self.refresh]}
            if with_log:
                out["log"] = [e for e in self.log if e["seq"] > since]
            return out

    def secret_state(self, s):
        return {"name": s.name(), "project": self.project_id_of(s.number), "projectNumber": s.number,
                "location": s.location, "secretId": s.sid, "labels": s.labels,
                "replication": s.replication, "extra": s.extra, "createTime": s.create_time,
                "etag": s.etag,
                "versions": [{"version": v.num, "name": "%s/versions/%d" % (s.name(), v.num),
                              "state": v.state, "data": base64.b64encode(v.data).decode(),
                              "dataCrc32c": str(crc32c(v.data)), "size": len(v.data),
                              "clientSpecifiedPayloadChecksum": v.client_crc,
                              "createTime": v.create_time, "destroyTime": v.destroy_time}
                             for v in sorted(s.versions.values(), key=lambda v: v.num)]}

    def save_snapshot(self):
        if not self.state_dir:
            return
        with self.lock:
            data = {"secrets": [self.secret_state(s) for s in self.secrets.values()],
                    "config": self.config,
                    "sa_keys": [{"client_email": k["client_email"], "key_id": k["key_id"],
                                 "n": str(k["key"][0]), "e": k["key"][1]} for k in self.sa_keys],
                    "refresh": self.refresh, "extra_tokens": sorted(self.extra_tokens),
                    "minted": self.minted}
            path = os.path.join(self.state_dir, "state.json")
            tmp = path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1)
            os.replace(tmp, path)

    def load_snapshot(self):
        if not self.state_dir:
            return
        os.makedirs(self.state_dir, exist_ok=True)
        path = os.path.join(self.state_dir, "state.json")
        if not os.path.exists(path):
            return
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        self.config.update(data.get("config", {}))
        for s in data.get("secrets", []):
            sec = Secret(s["projectNumber"], s["location"], s["secretId"], s["replication"],
                         s["labels"], s.get("extra", {}))
            sec.create_time, sec.etag = s["createTime"], s["etag"]
            for v in s["versions"]:
                ver = Version(v["version"], base64.b64decode(v["data"]), v["state"],
                              v["clientSpecifiedPayloadChecksum"], v["createTime"])
                ver.destroy_time = v["destroyTime"]
                sec.versions[ver.num] = ver
            self.secrets[(sec.number, sec.location or "", sec.sid)] = sec
        for k in data.get("sa_keys", []):
            self.sa_keys.append({"client_email": k["client_email"], "key_id": k["key_id"],
                                 "key": (int(k["n"]), k["e"])})
        self.refresh = data.get("refresh", [])
        self.extra_tokens = set(data.get("extra_tokens", []))
        self.minted = data.get("minted", {})

    # -- projects

    def project_number(self, pid):
        nums = self.config["project_numbers"]
        if pid in nums:
            return str(nums[pid])
        if pid.isdigit():
            return pid
        h = int(hashlib.sha256(pid.encode()).hexdigest(), 16)
        return str(100000000000 + h % 900000000000)

    def project_id_of(self, number):
        for pid, num in self.config["project_numbers"].items():
            if str(num) == number:
                return pid
        return self.seen_ids.get(number, number)

    def remember_project(self, pid):
        if not pid.isdigit():
            self.seen_ids[self.project_number(pid)] = pid

    def denied(self, pid, permission):
        number = self.project_number(pid)
        ids = {pid, number, self.project_id_of(number)}
        if ids & set(self.config["deny_projects"]):
            return True
        for p, perms in self.config["deny_permissions"].items():
            if p in ids and (permission in perms or "*" in perms):
                return True
        return False

    # -- auth

    def file_tokens(self):
        if not self.tokens_file:
            return set()
        try:
            with open(self.tokens_file, encoding="utf-8") as f:
                return {ln.strip() for ln in f if ln.strip() and not ln.startswith("#")}
        except OSError:
            return set()

    def check_token(self, token):
        """(who, scopes) for an accepted token, else None."""
        if token in self.file_tokens():
            return "file", [CLOUD_PLATFORM]
        with self.lock:
            if token in self.extra_tokens:
                return "control", [CLOUD_PLATFORM]
            m = self.minted.get(token)
            if m and m["expires"] > time.time():
                return m["who"], m["scopes"]
        return None

    def mint(self, who, scopes):
        token = "ya29.fake-" + rnd.token_urlsafe(32)
        with self.lock:
            expires_in = int(self.config["token_expires_in"])
            self.minted[token] = {"who": who, "scopes": scopes, "expires": time.time() + expires_in}
        return token, expires_in

    # -- faults

    def set_faults(self, rules, append):
        compiled = []
        for r in rules:
            if not isinstance(r, dict):
                raise ValueError("a rule must be an object")
            unknown = set(r) - {"method", "path", "query", "index", "listener", "kind", "action",
                                "status", "message", "error_status", "body", "headers",
                                "content_type", "seconds", "when", "times", "rst", "delay", "comment"}
            if unknown:
                raise ValueError("unknown rule field(s): " + ", ".join(sorted(unknown)))
            action = r.get("action", "status" if "status" in r else None)
            if action not in FAULT_ACTIONS:
                raise ValueError("action must be one of " + ", ".join(sorted(FAULT_ACTIONS)))
            rule = dict(r)
            rule["action"] = action
            rule.setdefault("times", 1)
            rule["fired"] = 0
            idx = r.get("index")
            if idx is not None:
                rule["index"] = [idx] if isinstance(idx, int) else list(idx)
            for key in ("path", "query"):
                if key in r:
                    re.compile(r[key])
            if action == "status":
                rule.setdefault("status", 503)
            compiled.append(rule)
        with self.lock:
            if not append:
                self.faults = []
            self.faults.extend(compiled)

    def faults_json(self):
        return [{k: v for k, v in r.items()} for r in self.faults]

    def match_fault(self, method, path, query, index, listener, kind):
        with self.lock:
            for r in self.faults:
                if r["times"] >= 0 and r["fired"] >= r["times"]:
                    continue
                if "method" in r and r["method"].upper() != method:
                    continue
                if "listener" in r and r["listener"] != listener:
                    continue
                if "kind" in r and r["kind"] != kind:
                    continue
                if "index" in r and (index is None or index not in r["index"]):
                    continue
                if "path" in r and not re.search(r["path"], path):
                    continue
                if "query" in r and not re.search(r["query"], query):
                    continue
                r["fired"] += 1
                return dict(r)
        return None

    # -- logging

    def note(self, entry):
        with self.lock:
            self.log.append(entry)
            if len(self.log) > 10000:
                del self.log[:1000]
        line = "fake_gsm: %s%s %s c%s %s %s -> %s%s" % (
            "#%s " % entry["n"] if entry.get("n") else "", entry["kind"], entry["listener"],
            entry.get("conn"), entry["method"], entry["path"], entry["status"],
            " [fault %s]" % entry["fault"] if entry.get("fault") else "")
        self.emit(line)

    def emit(self, line):
        now = time.time()
        line = "%s.%03d %s" % (time.strftime("%H:%M:%S", time.localtime(now)), int(now * 1000) % 1000, line)
        if self.log_file:
            self.log_file.write(line + "\n")
        if not self.args.quiet:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()


# ---------------------------------------------------------------- Secret Manager API

ROUTE = re.compile(r"/v1/projects/(?P<p>[^/]+)(?:/locations/(?P<l>[^/]+))?/secrets"
                   r"(?:/(?P<s>[^/:]+)(?::(?P<sverb>[A-Za-z]+)|/versions(?:/(?P<v>[^/:]+)"
                   r"(?::(?P<vverb>[A-Za-z]+))?)?)?)?\Z")

PERMISSIONS = {
    ("GET", "collection"): "secretmanager.secrets.list",
    ("POST", "collection"): "secretmanager.secrets.create",
    ("GET", "secret"): "secretmanager.secrets.get",
    ("DELETE", "secret"): "secretmanager.secrets.delete",
    ("PATCH", "secret"): "secretmanager.secrets.update",
    ("POST", "addVersion"): "secretmanager.versions.add",
    ("GET", "versions"): "secretmanager.versions.list",
    ("GET", "version"): "secretmanager.versions.get",
    ("GET", "access"): "secretmanager.versions.access",
    ("POST", "enable"): "secretmanager.versions.enable",
    ("POST", "disable"): "secretmanager.versions.disable",
    ("POST", "destroy"): "secretmanager.versions.destroy",
}


class Gsm:
    def __init__(self, app):
        self.app = app

    def route(self, method, path):
        """(operation, match) or None for a path the front end does not know."""
        m = ROUTE.match(path)
        if not m:
            return None
        if m.group("sverb"):
            op = m.group("sverb")
            if op != "addVersion":
                return None
        elif m.group("vverb"):
            op = m.group("vverb")
            if op not in ("access", "enable", "disable", "destroy"):
                return None
        elif m.group("v"):
            op = "version"
        elif m.group("s") and path.endswith("/versions"):
            op = "versions"
        elif m.group("s"):
            op = "secret"
        else:
            op = "collection"
        if (method, op) not in PERMISSIONS:
            return None
        return op, m

    def handle(self, method, op, m, query, body, who_scopes):
        app = self.app
        pid, loc, sid, vid = m.group("p"), m.group("l"), m.group("s"), m.group("v")
        permission = PERMISSIONS[(method, op)]
        if CLOUD_PLATFORM not in who_scopes[1]:
            raise ApiError(403, "Request had insufficient authentication scopes.")
        resource = "projects/%s" % pid + ("/locations/%s" % loc if loc else "")
        if sid:
            resource += "/secrets/%s" % sid
        if app.denied(pid, permission):
            raise ApiError(403, "Permission '%s' denied for resource '%s' (or it may not exist)."
                           % (permission, resource))
        if loc is not None and not LOCATION_RE.match(loc):
            raise ApiError(400, "Invalid location: %s" % loc)
        app.remember_project(pid)
        number = app.project_number(pid)
        if op == "collection" and method == "POST":
            sid = (query.get("secretId") or [""])[0]
        if sid is not None and not ID_RE.match(sid):
            raise ApiError(400, "The provided Secret ID [%s] does not match the expected format "
                           "[[a-zA-Z_0-9-]+]." % sid)
        key = (number, loc or "", sid)
        prefix = "projects/%s" % number + ("/locations/%s" % loc if loc else "")
        sname = "%s/secrets/%s" % (prefix, sid)
        with app.lock:
            if op == "collection":
                if method == "GET":
                    return self.list_secrets(number, loc or "", query)
                return self.create(key, loc, sname, body)
            sec = app.secrets.get(key)
            if op == "secret" and method == "GET":
                if not sec:
                    raise ApiError(404, "Secret [%s] not found." % sname)
                return sec.to_json()
            if op == "secret" and method == "DELETE":
                if not sec:
                    raise ApiError(404, "Secret [%s] not found." % sname)
                etag = (query.get("etag") or [None])[0]
                if etag and etag != sec.etag:
                    raise ApiError(409, "The etag provided does not match.", "ABORTED")
                del app.secrets[key]
                return {}
            if op == "secret" and method == "PATCH":
                return self.patch(sec, sname, query, body)
            if op == "addVersion":
                return self.add_version(sec, sname, body)
            if op == "versions":
                if not sec:
                    raise ApiError(404, "Secret [%s] not found." % sname)
                return self.list_versions(sec, query)
            # single-version operations
            if not sec:
                raise ApiError(404, "Secret [%s] not found or has no versions." % sname)
            ver = self.resolve(sec, sname, vid)
            vname = "%s/versions/%d" % (sname, ver.num)
            if op == "version":
                return sec.version_json(ver)
            if op == "access":
                if ver.state != "ENABLED":
                    raise ApiError(400, "Secret Version [%s] is in %s state." % (vname, ver.state),
                                   "FAILED_PRECONDITION")
                return {"name": vname,
                        "payload": {"data": base64.b64encode(ver.data).decode(),
                                    "dataCrc32c": str(crc32c(ver.data))}}
            self.check_fields(body, {"etag"}, "request")
            if body.get("etag") and body["etag"] != ver.etag:
                raise ApiError(409, "The etag provided does not match.", "ABORTED")
            if ver.state == "DESTROYED":
                raise ApiError(400, "Secret Version [%s] is in DESTROYED state." % vname,
                               "FAILED_PRECONDITION")
            if op == "destroy":
                ver.state, ver.data, ver.destroy_time = "DESTROYED", b"", now_rfc3339()
            else:
                ver.state = "ENABLED" if op == "enable" else "DISABLED"
            ver.etag = new_etag()
            return sec.version_json(ver)

    def resolve(self, sec, sname, vid):
        if vid == "latest":
            ver = sec.latest()
            if not ver:
                raise ApiError(404, "Secret [%s] not found or has no versions." % sname)
            return ver
        aliases = sec.extra.get("versionAliases") or {}
        if vid in aliases:
            vid = str(aliases[vid])
        if not re.fullmatch(r"[0-9]{1,18}", vid) or int(vid) == 0:
            raise ApiError(400, "Invalid secret version id [%s]." % vid)
        ver = sec.versions.get(int(vid))
        if not ver:
            raise ApiError(404, "Secret Version [%s/versions/%s] not found." % (sname, vid))
        return ver

    @staticmethod
    def check_fields(obj, allowed, where):
        if not isinstance(obj, dict):
            raise ApiError(400, "Invalid JSON payload received. Expected an object at '%s'." % where)
        for k in obj:
            if k not in allowed:
                raise ApiError(400, "Invalid JSON payload received. Unknown name \"%s\" at '%s': "
                               "Cannot find field." % (k, where))

    @staticmethod
    def check_labels(labels):
        if not isinstance(labels, dict) or len(labels) > 64:
            raise ApiError(400, "Invalid labels.")
        for k, v in labels.items():
            if not isinstance(v, str) or not LABEL_KEY_RE.match(k) or not LABEL_VALUE_RE.match(v):
                raise ApiError(400, "Invalid label [%s]: keys and values must be lowercase letters, "
                               "digits, '_' or '-', at most 63 characters; keys start with a letter." % k)

    def create(self, key, loc, sname, body):
        app = self.app
        self.check_fields(body, SECRET_FIELDS, "secret")
        replication = body.get("replication")
        if loc:
            if replication is not None:
                raise ApiError(400, "Replication policy must not be set for regional secrets.")
        else:
            if not isinstance(replication, dict) or len(replication) != 1:
                raise ApiError(400, "Secret.replication must be set with exactly one of "
                               "automatic or user_managed.")
            kind = next(iter(replication))
            if kind == "automatic":
                self.check_fields(replication["automatic"], {"customerManagedEncryption"},
                                  "secret.replication.automatic")
            elif kind == "userManaged":
                um = replication["userManaged"]
                self.check_fields(um, {"replicas"}, "secret.replication.user_managed")
                reps = um.get("replicas")
                if not isinstance(reps, list) or not reps or not all(
                        isinstance(r, dict) and isinstance(r.get("location"), str) for r in reps):
                    raise ApiError(400, "Secret.replication.user_managed.replicas must list at "
                                   "least one replica with a location.")
            else:
                raise ApiError(400, "Invalid JSON payload received. Unknown name \"%s\" at "
                               "'secret.replication': Cannot find field." % kind)
        labels = body.get("labels") or {}
        self.check_labels(labels)
        if key in app.secrets:
            raise ApiError(409, "Secret [%s] already exists." % sname)
        extra = {k: v for k, v in body.items()
                 if k not in ("name", "replication", "labels", "createTime", "etag", "ttl")}
        sec = Secret(key[0], loc, key[2], replication, labels, extra)
        app.secrets[key] = sec
        return sec.to_json()

    def patch(self, sec, sname, query, body):
        if not sec:
            raise ApiError(404, "Secret [%s] not found." % sname)
        self.check_fields(body, SECRET_FIELDS, "secret")
        mask = (query.get("updateMask") or [""])[0]
        if not mask:
            raise ApiError(400, "update_mask must be specified.")
        for field in mask.split(","):
            if field == "labels":
                labels = body.get("labels") or {}
                self.check_labels(labels)
                sec.labels = labels
            elif field in SECRET_FIELDS and field not in ("name", "createTime", "etag", "replication"):
                if field in body:
                    sec.extra[field] = body[field]
                else:
                    sec.extra.pop(field, None)
            else:
                raise ApiError(400, "Invalid update_mask field: %s" % field)
        sec.etag = new_etag()
        return sec.to_json()

    def add_version(self, sec, sname, body):
        self.check_fields(body, {"payload"}, "request")
        payload = body.get("payload")
        if payload is None:
            raise ApiError(400, "Payload must be set.")
        self.check_fields(payload, {"data", "dataCrc32c"}, "payload")
        try:
            data = b64decode_any(payload.get("data", ""))
        except (ValueError, binascii.Error):
            raise ApiError(400, "Invalid value at 'payload.data' (TYPE_BYTES), Base64 decoding failed.")
        if len(data) > MAX_PAYLOAD:
            raise ApiError(400, "Secret Payload cannot be larger than 64KiB.")
        client_crc = False
        if "dataCrc32c" in payload:
            given = payload["dataCrc32c"]
            if isinstance(given, bool) or not isinstance(given, (str, int)) or \
                    not re.fullmatch(r"-?[0-9]{1,20}", str(given)):
                raise ApiError(400, "Invalid value at 'payload.data_crc32c' (TYPE_INT64), \"%s\"" % given)
            if int(given) != crc32c(data):
                raise ApiError(400, "Checksum mismatch: the data_crc32c provided does not match "
                               "the CRC32C of the payload data.")
            client_crc = True
        if not sec:
            raise ApiError(404, "Secret [%s] not found." % sname)
        ver = Version(sec.next_version(), data, "ENABLED", client_crc)
        sec.versions[ver.num] = ver
        return sec.version_json(ver)

    @staticmethod
    def page(items, query, field):
        try:
            size = int((query.get("pageSize") or ["0"])[0])
            token = (query.get("pageToken") or [""])[0]
            start = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise ApiError(400, "Invalid page size or page token.")
        if size < 0 or start < 0:
            raise ApiError(400, "Invalid page size or page token.")
        size = min(size, 25000)  # GSM caps pageSize at 25000
        end = len(items) if size == 0 else min(len(items), start + size)
        out = {}
        if items[start:end]:
            out[field] = items[start:end]
        if end < len(items):
            out["nextPageToken"] = base64.urlsafe_b64encode(str(end).encode()).decode()
        if items:
            out["totalSize"] = len(items)
        return out

    def list_secrets(self, number, loc, query):
        items = [s.to_json() for k, s in self.app.secrets.items() if k[0] == number and k[1] == loc]
        return self.page(items, query, "secrets")

    def list_versions(self, sec, query):
        items = [sec.version_json(v) for v in sorted(sec.versions.values(), key=lambda v: -v.num)]
        return self.page(items, query, "versions")

    def preload(self, spec):
        """Control API: create secrets with versions and states directly."""
        app = self.app
        default_project = spec.get("project", "ai-lab")
        with app.lock:
            if spec.get("replace"):
                app.secrets = {}
            for s in spec.get("secrets", []):
                pid = s.get("project", default_project)
                loc = s.get("location")
                sid = s["id"] if "id" in s else s["secretId"]
                if not ID_RE.match(sid):
                    raise ValueError("bad secret id %r" % sid)
                app.remember_project(pid)
                number = app.project_number(pid)
                replication = None if loc else s.get("replication", {"automatic": {}})
                sec = Secret(number, loc, sid, replication, s.get("labels", {}), s.get("extra", {}))
                for i, v in enumerate(s.get("versions", []), 1):
                    if isinstance(v, str):
                        v = {"data": v}
                    num = int(v.get("version", max(sec.versions, default=0) + 1))
                    if "data_b64" in v:
                        data = base64.b64decode(v["data_b64"])
                    else:
                        data = v.get("data", "").encode("utf-8")
                    state = v.get("state", "ENABLED")
                    if state not in ("ENABLED", "DISABLED", "DESTROYED"):
                        raise ValueError("bad version state %r" % state)
                    sec.versions[num] = Version(num, data, state, bool(v.get("client_crc", True)))
                app.secrets[(number, loc or "", sid)] = sec


# ---------------------------------------------------------------- token endpoint

class TokenEndpoint:
    def __init__(self, app):
        self.app = app

    def handle(self, host, content_type, body, info):
        try:
            if content_type.startswith("application/json"):
                params = {k: str(v) for k, v in json.loads(body.decode("utf-8")).items()}
            else:
                params = {k: v[0] for k, v in urllib.parse.parse_qs(
                    body.decode("utf-8"), keep_blank_values=True).items()}
        except (ValueError, UnicodeDecodeError, AttributeError):
            raise OAuthError(400, "invalid_request", "Could not parse the request body.")
        grant = params.get("grant_type", "")
        if grant == JWT_BEARER:
            who, scopes = self.jwt_grant(host, params.get("assertion", ""), info)
        elif grant == "refresh_token":
            who, scopes = self.refresh_grant(params)
        else:
            raise OAuthError(400, "unsupported_grant_type", "Invalid grant_type: %s" % grant)
        info["grant_type"] = grant
        if scopes is None:
            return {"id_token": self.id_token(who[3:], info["id_token_for"])}
        token, expires_in = self.app.mint(who, scopes)
        out = {"access_token": token, "expires_in": expires_in, "token_type": "Bearer"}
        if grant == "refresh_token":
            out["scope"] = " ".join(scopes)
        return out

    def jwt_grant(self, host, assertion, info):
        parts = assertion.split(".")
        if len(parts) != 3:
            raise OAuthError(400, "invalid_grant", "Invalid JWT: the assertion is not a JWT.")
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            sig = b64url_decode(parts[2])
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise OAuthError(400, "invalid_grant", "Invalid JWT: the assertion is not valid base64url JSON.")
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise OAuthError(400, "invalid_grant", "Invalid JWT: header and claims must be objects.")
        info["jwt"] = {"header": header, "claims": claims}
        if header.get("alg") != "RS256":
            raise OAuthError(400, "invalid_grant", "Invalid JWT: alg must be RS256.")
        iss = claims.get("iss")
        with self.app.lock:
            keys = [k for k in self.app.sa_keys if k["client_email"] == iss]
        if not keys:
            raise OAuthError(400, "invalid_grant", "Invalid grant: account not found")
        kid = header.get("kid")
        if kid and any(k["key_id"] == kid for k in keys):
            keys = [k for k in keys if k["key_id"] == kid]
        signed = (parts[0] + "." + parts[1]).encode("ascii")
        if not any(rsa_verify_sha256(k["key"], signed, sig) for k in keys):
            raise OAuthError(400, "invalid_grant", "Invalid JWT Signature.")
        port = self.app.tls_port
        auds = {"https://%s/token" % host, "https://127.0.0.1:%d/token" % port,
                "https://localhost:%d/token" % port}
        if self.app.config["accept_google_aud"]:
            auds.add(GOOGLE_TOKEN_URI)
        if claims.get("aud") not in auds:
            raise OAuthError(400, "invalid_grant", "Invalid JWT: Failed audience check. The right "
                             "audience is https://127.0.0.1:%d/token" % port)
        iat, exp, now = claims.get("iat"), claims.get("exp"), time.time()
        if not (isinstance(iat, int) and isinstance(exp, int) and not isinstance(iat, bool)
                and not isinstance(exp, bool) and iat < exp <= iat + 3600
                and iat <= now + 300 and exp >= now - 300):
            raise OAuthError(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token "
                             "(60 minutes) and in a reasonable timeframe. Check your iat and exp "
                             "values in the JWT claim.")
        if "target_audience" in claims and "scope" not in claims:
            info["id_token_for"] = claims["target_audience"]
            return "sa:" + iss, None
        scope = claims.get("scope")
        if not isinstance(scope, str) or not scope.split():
            raise OAuthError(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        return "sa:" + iss, scope.split()

    @staticmethod
    def id_token(email, audience):
        """An OpenID Connect ID token; its signature is random (nobody checks it here)."""
        now = int(time.time())
        enc = lambda obj: base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
        claims = {"aud": audience, "azp": email, "email": email, "email_verified": True,
                  "exp": now + 3600, "iat": now, "iss": "https://accounts.google.com",
                  "sub": str(100000000000000000000 + int(hashlib.sha256(email.encode()).hexdigest(), 16) % 10 ** 20)}
        sig = base64.urlsafe_b64encode(rnd.token_bytes(256)).rstrip(b"=").decode()
        return enc({"alg": "RS256", "kid": "fake", "typ": "JWT"}) + "." + enc(claims) + "." + sig

    def refresh_grant(self, params):
        with self.app.lock:
            clients = [r for r in self.app.refresh if r["client_id"] == params.get("client_id")]
        if not clients:
            raise OAuthError(401, "invalid_client", "The OAuth client was not found.")
        clients = [r for r in clients if r["client_secret"] == params.get("client_secret")]
        if not clients:
            raise OAuthError(401, "invalid_client", "Unauthorized")
        clients = [r for r in clients if r["refresh_token"] == params.get("refresh_token")]
        if not clients:
            raise OAuthError(400, "invalid_grant", "Bad Request")
        return "refresh:" + clients[0]["client_id"], clients[0]["scope"].split()


# ---------------------------------------------------------------- HTTP

class Reply:
    def __init__(self, status, body=b"", content_type="application/json; charset=UTF-8", headers=None):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or {}


def json_reply(status, obj, headers=None):
    return Reply(status, (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
                 headers=headers)


def api_error_reply(e):
    h = dict(e.headers)
    if e.code == 401:
        h["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/"'
    return json_reply(e.code, error_body(e.code, e.message, e.status), h)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # replies go out at once (keep-alive clients wait otherwise)
    server_version = "ESF"
    # headers and body are separate writes: without TCP_NODELAY every reply waits out
    # the client's delayed ACK (~40 ms a request)
    disable_nagle_algorithm = True
    sys_version = ""

    def version_string(self):
        return "ESF"

    def setup(self):
        self.timeout = self.server.app.args.idle_timeout
        super().setup()
        with self.server.app.lock:
            self.server.app.conn_counter += 1
            self.conn_id = self.server.app.conn_counter

    def log_message(self, fmt, *args):
        pass

    def handle(self):
        self.requests_seen = 0
        try:
            super().handle()
        except (ssl.SSLError, OSError) as e:
            self.server.note_conn_error(self.conn_id, e)
            self.close_connection = True
            return
        if self.requests_seen == 0 and self.server.ctx is not None:
            self.server.note_conn_error(self.conn_id, None)

    def log_error(self, fmt, *args):
        self.server.app.emit("fake_gsm: c%s %s" % (getattr(self, "conn_id", "?"), fmt % args))

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_CONNECT = do_GET

    # -- body

    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if te:
            if te.strip().lower() != "chunked":
                raise BadRequest("unsupported Transfer-Encoding")
            body = bytearray()
            while True:
                line = self.rfile.readline(1024)
                if not line.endswith(b"\r\n"):
                    raise BadRequest("bad chunk size line")
                size_s = line[:-2].split(b";", 1)[0].strip()
                if not re.fullmatch(rb"[0-9A-Fa-f]{1,8}", size_s):
                    raise BadRequest("bad chunk size")
                size = int(size_s, 16)
                if size == 0:
                    while True:
                        t = self.rfile.readline(8192)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    self.body_kind = "chunked"
                    return bytes(body)
                if len(body) + size > MAX_BODY:
                    raise BadRequest("body too large")
                chunk = self.rfile.read(size)
                if len(chunk) != size or self.rfile.read(2) != b"\r\n":
                    raise BadRequest("truncated chunk")
                body += chunk
        cl = self.headers.get("Content-Length")
        if cl is None:
            self.body_kind = "none"
            return b""
        if not re.fullmatch(r"[0-9]{1,9}", cl.strip()) or int(cl) > MAX_BODY:
            raise BadRequest("bad Content-Length")
        body = self.rfile.read(int(cl))
        if len(body) != int(cl):
            raise BadRequest("truncated body")
        self.body_kind = "length"
        return body

    # -- replies

    def send_reply(self, reply, chunked=False, truncate=False):
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        if reply.content_type.startswith("application/json") and self.kind == "gsm":
            for v in ("Origin", "X-Origin", "Referer"):
                self.send_header("Vary", v)
            self.send_header("Cache-Control", "private")
            self.send_header("X-XSS-Protection", "0")
            self.send_header("X-Frame-Options", "SAMEORIGIN")
            self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in reply.headers.items():
            self.send_header(k, v)
        body = reply.body
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Trailer", "X-Fake-Trailer")
        else:
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if truncate:
            self.wfile.write(body[:len(body) // 2])
            return
        if not chunked:
            self.wfile.write(body)
            return
        pos, sizes, i = 0, (1, 5, 17, 100, 4096), 0
        out = bytearray()
        while pos < len(body):
            piece = body[pos:pos + sizes[min(i, len(sizes) - 1)]]
            size = ("%X" if i % 2 else "%x") % len(piece)
            out += (size + (";ext=%d" % i if i == 0 else "") + "\r\n").encode() + piece + b"\r\n"
            pos += len(piece)
            i += 1
        out += b"0\r\nX-Fake-Trailer: done\r\n\r\n"
        self.wfile.write(bytes(out))

    def hard_close(self, rst=True):
        """Drop the TCP connection now: RST (SO_LINGER 0) or a bare FIN, no TLS close_notify."""
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            if rst:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.rfile.close()
        except OSError:
            pass
        try:
            self.connection.close()
        except OSError:
            pass
        self.close_connection = True
        self.wfile = io.BytesIO()
        self.rfile = io.BytesIO()

    # -- dispatch

    def dispatch(self):
        app = self.server.app
        listener = self.server.listener
        method = self.command
        self.body_kind = "none"
        self.requests_seen += 1
        if method == "CONNECT":
            split = urllib.parse.SplitResult("", "", self.path, "", "")
        else:
            split = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(split.path)
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        if path.startswith("/_fake/"):
            return self.control(method, path, query)
        if method == "CONNECT":
            kind = "proxy" if listener == "plain" else "other"
        elif listener == "tls":
            kind = "gsm" if path.startswith("/v1/") else "token" if path == "/token" else "other"
        else:
            kind = "metadata" if path.startswith("/computeMetadata/") or path == "/" else "other"
        self.kind = kind
        with app.lock:
            app.seq += 1
            n = None
            if kind == "gsm":
                app.gsm_count += 1
                n = app.gsm_count
            entry = {"seq": app.seq, "n": n, "time": round(time.time(), 6), "kind": kind, "listener": listener,
                     "conn": self.conn_id, "method": method, "path": path, "query": split.query,
                     "status": None, "fault": None, "auth": None,
                     "headers": {k.lower(): self.headers[k] for k in
                                 ("User-Agent", "Content-Type", "Transfer-Encoding", "Connection",
                                  "X-Goog-User-Project", "Metadata-Flavor", "Expect")
                                 if self.headers.get(k) is not None}}
        rule = app.match_fault(method, path, split.query, n, listener, kind)
        if rule:
            entry["fault"] = rule["action"]
            if rule.get("delay"):
                time.sleep(float(rule["delay"]))
            action = rule["action"]
            if action == "reset_before":
                entry["status"] = "reset_before"
                app.note(entry)
                self.hard_close(rule.get("rst", True))
                return
            if action == "delay" and rule.get("when", "before") == "before":
                time.sleep(float(rule.get("seconds", 1)))
            if action in ("status", "html"):
                try:
                    self.read_body()
                except BadRequest:
                    self.close_connection = True
                if action == "html":
                    reply = Reply(int(rule.get("status", 404)), html_404(path), "text/html; charset=UTF-8")
                elif "body" in rule:
                    reply = Reply(int(rule["status"]), rule["body"].encode("utf-8"),
                                  rule.get("content_type", "application/json; charset=UTF-8"))
                else:
                    code = int(rule["status"])
                    reply = json_reply(code, error_body(code, rule.get("message", "Fault injected by fake_gsm."),
                                                        rule.get("error_status")))
                reply.headers.update(rule.get("headers", {}))
                entry["status"] = reply.status
                app.note(entry)
                self.send_reply(reply)
                return
        try:
            body = self.read_body()
        except BadRequest as e:
            self.close_connection = True
            reply = Reply(400, html.escape(str(e)).encode() + b"\n", "text/html; charset=UTF-8")
            entry["status"] = 400
            app.note(entry)
            self.send_reply(reply)
            return
        entry["body_kind"] = self.body_kind
        if kind == "proxy":
            return self.connect_tunnel(entry)
        reply = self.serve(kind, method, path, query, body, entry)
        entry["status"] = reply.status
        if kind == "gsm" and method != "GET" and reply.status < 300:
            app.save_snapshot()
        action = rule["action"] if rule else None
        if action == "reset_after":
            entry["status"] = "reset_after(%d)" % reply.status
            app.note(entry)
            self.hard_close(rule.get("rst", True))
            return
        if action == "delay" and rule.get("when") == "after":
            time.sleep(float(rule.get("seconds", 1)))
        app.note(entry)
        if action == "truncate":
            self.send_reply(reply, truncate=True)
            self.hard_close(rule.get("rst", False))
            return
        self.send_reply(reply, chunked=(action == "chunked" or app.config["chunked"]))
        if action == "close_after":
            self.hard_close(rule.get("rst", False))

    def serve(self, kind, method, path, query, body, entry):
        app = self.server.app
        if kind == "gsm":
            routed = app.gsm.route(method, path)
            if not routed:
                return Reply(404, html_404(path), "text/html; charset=UTF-8")
            auth = self.headers.get("Authorization", "")
            m = re.fullmatch(r"(?i:bearer)\s+(\S+)\s*", auth)
            who = app.check_token(m.group(1)) if m else None
            if not who:
                return api_error_reply(ApiError(
                    401, "Request had invalid authentication credentials. Expected OAuth 2 access "
                    "token, login cookie or other valid authentication credential. See "
                    "https://developers.google.com/identity/sign-in/web/devconsole-project."))
            entry["auth"] = who[0]
            op, m = routed
            try:
                req = {}
                if method in ("POST", "PATCH") and body.strip():
                    try:
                        req = json.loads(body.decode("utf-8"))
                    except (ValueError, UnicodeDecodeError) as e:
                        raise ApiError(400, "Invalid JSON payload received. %s" % e)
                    if not isinstance(req, dict):
                        raise ApiError(400, "Invalid JSON payload received. Expected an object.")
                if op == "addVersion" and isinstance(req.get("payload"), dict):
                    p = req["payload"]
                    entry["payload"] = {"dataCrc32c": p.get("dataCrc32c"),
                                        "b64_len": len(p.get("data", "")) if isinstance(p.get("data"), str) else None}
                elif op in ("collection", "secret") and method != "GET":
                    entry["body"] = req
                return json_reply(200, app.gsm.handle(method, op, m, query, req, who))
            except ApiError as e:
                return api_error_reply(e)
        if kind == "token":
            if method != "POST":
                return Reply(405, html_404(path), "text/html; charset=UTF-8")
            try:
                host = self.headers.get("Host", "")
                info = {}
                try:
                    out = app.token.handle(host, self.headers.get("Content-Type", ""), body, info)
                finally:
                    entry.update(info)
                if "access_token" in out:
                    entry["auth"] = app.minted[out["access_token"]]["who"]
                return json_reply(200, out, {"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate",
                                             "Pragma": "no-cache"})
            except OAuthError as e:
                return json_reply(e.code, {"error": e.error, "error_description": e.description})
        if kind == "metadata":
            return self.metadata(method, path, query, entry)
        return Reply(404, html_404(path), "text/html; charset=UTF-8")

    def metadata(self, method, path, query, entry):
        app = self.server.app
        mh = {"Metadata-Flavor": "Google"}
        if path == "/":
            return Reply(200, b"computeMetadata/\n", "application/text", mh)
        if self.headers.get("Metadata-Flavor") != "Google" or self.headers.get("X-Forwarded-For"):
            return Reply(403, b"Missing required header: Metadata-Flavor: Google\n", "text/html; charset=UTF-8", mh)
        base = "/computeMetadata/v1/"
        sub = path[len(base):] if path.startswith(base) else None
        if method != "GET" or sub is None:
            return Reply(404, html_404(path), "text/html; charset=UTF-8", mh)
        cfg = app.config
        project = cfg["metadata_project"]
        email = cfg["metadata_email"]
        text = {"project/project-id": project,
                "project/numeric-project-id": app.project_number(project),
                "instance/zone": "projects/%s/zones/us-central1-a" % app.project_number(project),
                "universe/universe-domain": "googleapis.com"}
        if sub in text:
            return Reply(200, text[sub].encode(), "application/text", mh)
        if not cfg["metadata_token"]:
            return Reply(404, html_404(path), "text/html; charset=UTF-8", mh)
        if sub == "instance/service-accounts/":
            return Reply(200, ("default/\n%s/\n" % email).encode(), "application/text", mh)
        sa = re.fullmatch(r"instance/service-accounts/([^/]+)/(email|token|scopes|identity|)", sub)
        if not sa or sa.group(1) not in ("default", email):
            return Reply(404, html_404(path), "text/html; charset=UTF-8", mh)
        scopes = [CLOUD_PLATFORM]
        if sa.group(2) == "email":
            return Reply(200, email.encode(), "application/text", mh)
        if sa.group(2) == "scopes":
            return Reply(200, ("\n".join(scopes) + "\n").encode(), "application/text", mh)
        if sa.group(2) == "identity":
            audience = (query.get("audience") or [""])[0]
            if not audience:
                return Reply(400, b"non-empty audience parameter required\n", "text/html; charset=UTF-8", mh)
            return Reply(200, TokenEndpoint.id_token(email, audience).encode(), "text/html; charset=UTF-8", mh)
        if sa.group(2) == "":
            return json_reply(200, {"aliases": ["default"], "email": email, "scopes": scopes}, mh)
        if query.get("scopes"):
            scopes = query["scopes"][0].split(",")
        token, expires_in = app.mint("metadata", scopes)
        entry["auth"] = "metadata"
        return json_reply(200, {"access_token": token, "expires_in": expires_in,
                                "token_type": "Bearer"}, mh)

    def connect_tunnel(self, entry):
        """CONNECT host:port to a loopback target, then relay bytes both ways."""
        app = self.server.app
        host, _, port = self.path.rpartition(":")
        host = host.strip("[]")
        if host not in ("127.0.0.1", "localhost", "::1") or not port.isdigit():
            entry["status"] = 403
            app.note(entry)
            self.close_connection = True
            self.send_reply(Reply(403, b"CONNECT only to loopback\n", "text/plain"))
            return
        try:
            upstream = socket.create_connection((host, int(port)), timeout=10)
        except OSError:
            entry["status"] = 502
            app.note(entry)
            self.close_connection = True
            self.send_reply(Reply(502, b"cannot connect\n", "text/plain"))
            return
        entry["status"] = 200
        app.note(entry)
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.close_connection = True
        client = self.connection
        upstream.settimeout(None)
        client.settimeout(None)
        # bytes the client sent right after the CONNECT head sit in rfile's buffer
        client.setblocking(False)
        try:
            buffered = self.rfile.peek(65536) or b""
        except (BlockingIOError, ssl.SSLWantReadError, OSError):
            buffered = b""
        client.setblocking(True)
        if buffered:
            upstream.sendall(self.rfile.read(len(buffered)))
        socks = [client, upstream]
        try:
            while True:
                r, _, _ = select.select(socks, [], [], app.args.idle_timeout)
                if not r:
                    break
                done = False
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        done = True
                        break
                    (upstream if s is client else client).sendall(data)
                if done:
                    break
        except OSError:
            pass
        finally:
            upstream.close()

    # -- control API

    def control(self, method, path, query):
        app = self.server.app
        self.kind = "control"
        try:
            body = self.read_body()
            req = json.loads(body.decode("utf-8")) if body.strip() else {}
        except (BadRequest, ValueError, UnicodeDecodeError) as e:
            self.close_connection = True
            return self.send_reply(json_reply(400, {"error": "bad control request: %s" % e}))
        what = path[len("/_fake/"):]
        try:
            reply = self.control_op(method, what, query, req)
        except (ValueError, KeyError, TypeError) as e:
            reply = json_reply(400, {"error": "%s: %s" % (type(e).__name__, e)})
        if method != "GET" and reply.status < 300:
            app.save_snapshot()
        app.emit("fake_gsm: control c%s %s %s -> %s" % (self.conn_id, method, path, reply.status))
        self.send_reply(reply)

    def control_op(self, method, what, query, req):
        app = self.server.app
        ok = json_reply(200, {"ok": True})
        if method == "GET" and what == "health":
            return Reply(200, b"ok\n", "text/plain")
        if method == "GET" and what == "state":
            since = int((query.get("since") or ["0"])[0])
            return json_reply(200, app.snapshot(since=since))
        if method == "GET" and what == "log":
            since = int((query.get("since") or ["0"])[0])
            with app.lock:
                return json_reply(200, [e for e in app.log if e["seq"] > since])
        if method == "POST" and what == "reset":
            with app.lock:
                app.reset_data()
                if req.get("auth"):
                    app.reset_auth()
                if req.get("config"):
                    app.reset_config()
            return ok
        if method == "POST" and what == "preload":
            app.gsm.preload(req)
            return ok
        if what == "faults":
            if method == "GET":
                with app.lock:
                    return json_reply(200, app.faults_json())
            if method in ("POST", "DELETE"):
                if method == "DELETE":
                    rules, append = [], False
                elif isinstance(req, list):
                    rules, append = req, False
                else:
                    rules, append = req.get("rules", []), bool(req.get("append"))
                app.set_faults(rules, append)
                return ok
        if method == "POST" and what == "register_key":
            sa = req.get("service_account") or {}
            email = req.get("client_email") or sa.get("client_email")
            pem = req.get("public_key_pem") or req.get("private_key") or sa.get("private_key")
            if not email or not pem:
                raise ValueError("need client_email and public_key_pem (or service_account)")
            key = rsa_public_key(pem)
            with app.lock:
                app.sa_keys.append({"client_email": email, "key": key,
                                    "key_id": req.get("private_key_id") or sa.get("private_key_id")})
            return json_reply(200, {"ok": True, "bits": key[0].bit_length()})
        if method == "POST" and what == "register_refresh":
            au = req.get("authorized_user") or req
            entry = {k: au[k] for k in ("client_id", "client_secret", "refresh_token")}
            entry["scope"] = req.get("scope", CLOUD_PLATFORM)
            with app.lock:
                app.refresh.append(entry)
            return ok
        if method == "POST" and what == "tokens":
            if isinstance(req, list):
                req = {"add": req}
            with app.lock:
                app.extra_tokens.update(req.get("add", []))
                for t in req.get("remove", []):
                    app.extra_tokens.discard(t)
                    app.minted.pop(t, None)
                if req.get("revoke_minted"):
                    app.minted = {}
            return ok
        if what == "config":
            if method == "POST":
                with app.lock:
                    for k, v in req.items():
                        if k not in app.config:
                            raise ValueError("unknown config key %s" % k)
                        app.config[k] = v
            with app.lock:
                return json_reply(200, app.config)
        m = re.fullmatch(r"(secret|value)/([^/]+)/([^/]+)(?:/([^/]+))?", what)
        if method == "GET" and m:
            loc = (query.get("location") or [""])[0]
            with app.lock:
                sec = app.secrets.get((app.project_number(m.group(2)), loc, m.group(3)))
                if not sec:
                    return json_reply(404, {"error": "no such secret"})
                if m.group(1) == "secret":
                    return json_reply(200, app.secret_state(sec))
                vid = m.group(4) or "latest"
                ver = sec.latest() if vid == "latest" else sec.versions.get(int(vid))
                if not ver:
                    return json_reply(404, {"error": "no such version"})
                return Reply(200, ver.data, "application/octet-stream",
                             {"X-Fake-Version": str(ver.num), "X-Fake-State": ver.state})
        return json_reply(404, {"error": "unknown control endpoint %s %s" % (method, what)})


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False
    request_queue_size = 64

    def __init__(self, app, listener, ctx):
        self.app = app
        self.listener = listener
        self.ctx = ctx
        super().__init__(("127.0.0.1", 0), Handler)

    def finish_request(self, request, client_address):
        tls = None
        if self.ctx is not None:
            request.settimeout(10)
            try:
                tls = self.ctx.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as e:
                self.note_conn_error(None, e)
                return
            request = tls
        try:
            self.RequestHandlerClass(request, client_address, self)
        finally:
            if tls is not None:
                try:
                    tls.close()
                except OSError:
                    pass

    def note_conn_error(self, conn, err):
        """A connection that failed in TLS (handshake or later) or closed without a request."""
        if err is None:
            kind, reason = "no_request", "closed before sending a request"
        else:
            kind = "tls_error" if isinstance(err, ssl.SSLError) else "conn_error"
            reason = str(getattr(err, "reason", None) or err)
        with self.app.lock:
            self.app.seq += 1
            self.app.log.append({"seq": self.app.seq, "time": round(time.time(), 6), "kind": kind,
                                 "listener": self.listener,
                                 "conn": conn, "error": reason})
        self.app.emit("fake_gsm: %s c%s %s" % (kind, conn, reason))

    def handle_error(self, request, client_address):
        self.app.emit("fake_gsm: handler error: %r" % (sys.exc_info()[1],))


def write_atomic(path, text):
    tmp = path + ".tmp%d" % os.getpid()
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description="fake Google Secret Manager for tests")
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--plain-port-file")
    ap.add_argument("--state-dir")
    ap.add_argument("--tokens", help="file of accepted bearer tokens, one a line, re-read per request")
    ap.add_argument("--deny-projects", help="comma-separated project ids/numbers answering 403")
    ap.add_argument("--project-number", action="append", metavar="ID=NUMBER")
    ap.add_argument("--chunked", action="store_true", help="send every reply with chunked encoding")
    ap.add_argument("--log", help="append one line per request to this file")
    ap.add_argument("--quiet", action="store_true", help="no request lines on stderr")
    ap.add_argument("--tls-max", choices=["1.2", "1.3"])
    ap.add_argument("--tls-min", choices=["1.2", "1.3"])
    ap.add_argument("--idle-timeout", type=float, default=60.0)
    ap.add_argument("--parent-pid", type=int, help="exit when this process is gone")
    args = ap.parse_args()

    app = App(args)
    app.gsm = Gsm(app)
    app.token = TokenEndpoint(app)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    ctx.set_alpn_protocols(["http/1.1"])
    versions = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
    if args.tls_max:
        ctx.maximum_version = versions[args.tls_max]
    if args.tls_min:
        ctx.minimum_version = versions[args.tls_min]

    servers = [Server(app, "tls", ctx)]
    app.tls_port = servers[0].server_address[1]
    if args.plain_port_file:
        servers.append(Server(app, "plain", None))
    for s in servers:
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.plain_port_file:
        write_atomic(args.plain_port_file, "%d\n" % servers[1].server_address[1])
    write_atomic(args.port_file, "%d\n" % app.tls_port)
    app.emit("fake_gsm: listening tls=%d%s pid=%d" % (
        app.tls_port, " plain=%d" % servers[1].server_address[1] if len(servers) > 1 else "", os.getpid()))
    while not stop.wait(0.5):
        if args.parent_pid:
            try:
                os.kill(args.parent_pid, 0)
            except ProcessLookupError:
                app.emit("fake_gsm: parent %d gone, exiting" % args.parent_pid)
                break
            except PermissionError:
                pass
    for s in servers:
        s.shutdown()
        s.server_close()
    app.emit("fake_gsm: stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
