#!/usr/bin/python3
"""Independent reader of seedsec output, for the tests.

  values.py dump FILE...            name=<len> per key (never the values)
  values.py rules FILE [--expect N] check each value against its consumer's rule
  values.py same A B                the two streams carry identical values
  values.py leak ERRFILE FILE...    no value of the streams appears in ERRFILE
  values.py get FILE NAME           print one decoded value (no newline)

FILE is a YAML stream, a v1 List, or concatenated JSON objects; '-' is stdin.
"""
import base64
import json
import re
import sys

import yaml

try:
    import bcrypt
except ImportError:  # tests that need it say so
    bcrypt = None

PROP = "value"


def objects(path):
    text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    s = text.lstrip()
    if s.startswith("{") or s.startswith("["):
        dec = json.JSONDecoder()
        i, docs = 0, []
        while True:
            while i < len(text) and text[i].isspace():
                i += 1
            if i >= len(text):
                break
            obj, i = dec.raw_decode(text, i)
            docs.append(obj)
    else:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    out = []
    for d in docs:
        if d.get("kind") == "List":
            out.extend(d["items"])
        else:
            out.append(d)
    return out


def values(path):
    vals = {}
    for o in objects(path):
        assert o["apiVersion"] == "v1" and o["kind"] == "Secret", o.get("kind")
        name = o["metadata"]["name"]
        assert name not in vals, "duplicate " + name
        raw = o["data"][PROP]
        assert isinstance(raw, str)
        dec = base64.b64decode(raw, validate=True)
        assert base64.b64encode(dec).decode() == raw, name + ": not canonical padded base64"
        vals[name] = dec
    return vals


ALNUM = re.compile(rb"^[A-Za-z0-9]+$")


def cookie_bytes(v):
    """oauth2-proxy: trim '=', URL-safe base64 (raw) if 16/24/32 bytes, else the raw string."""
    t = v.rstrip(b"=")
    if re.fullmatch(rb"[A-Za-z0-9_-]*", t) and len(t) % 4 != 1:
        try:
            b = base64.urlsafe_b64decode(t + b"=" * (-len(t) % 4))
            if len(b) in (16, 24, 32):
                return len(b)
        except Exception:
            pass
    return len(v)


def rule_problems(vals):
    p = []

    def need(cond, msg):
        if not cond:
            p.append(msg)

    for name, v in vals.items():
        need(v == v.strip() and b"\n" not in v and b"\r" not in v and b" " not in v,
             name + ": whitespace")
        need(all(0x20 < c < 0x7f for c in v) or name in ("cloudflare-api-token",
             "anthropic-api-key", "hf-token"), name + ": not printable ASCII")
    for name in ("litellm-master-key", "litellm-salt-key"):
        if name in vals:
            v = vals[name]
            need(v.startswith(b"sk-") and len(v) == 51 and ALNUM.match(v[3:]), name + ": shape")
    for name in ("vllm-api-key", "n8n-encryption-key") + tuple(
            "dex-%s-client-secret" % c for c in
            ("oauth2-proxy", "argocd", "litellm", "grafana", "open-webui", "tabby")):
        if name in vals:
            need(len(vals[name]) == 48 and ALNUM.match(vals[name]), name + ": shape")
    for name in ("litellm-db-password", "litellm-grafana-ro-password", "dex-admin-password"):
        if name in vals:
            need(len(vals[name]) == 32 and ALNUM.match(vals[name]), name + ": shape")
    if "oauth2-proxy-cookie-secret" in vals:
        v = vals["oauth2-proxy-cookie-secret"]
        need(cookie_bytes(v) == 32, "cookie secret: oauth2-proxy reads %d bytes" % cookie_bytes(v))
        need(len(base64.urlsafe_b64decode(v)) == 32 and len(v) == 44, "cookie secret: shape")
    if "dex-admin-hash" in vals:
        h = vals["dex-admin-hash"]
        need(len(h) == 60 and h.startswith(b"$2a$") and 10 <= int(h[4:6]) <= 16,
             "dex-admin-hash: shape")
        if "dex-admin-password" in vals:
            need(bcrypt is not None and bcrypt.checkpw(vals["dex-admin-password"], h),
                 "dex-admin-hash does not verify (python3-bcrypt)")
    gen = [v for n, v in vals.items() if n not in ("dex-admin-hash",)]
    need(len(set(gen)) == len(gen), "values not distinct")
    return p


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "dump":
        for path in args:
            for n, v in values(path).items():
                print("%s=%d" % (n, len(v)))
    elif cmd == "rules":
        vals = values(args[0])
        probs = rule_problems(vals)
        if "--expect" in args:
            want = int(args[args.index("--expect") + 1])
            if len(vals) != want:
                probs.append("expected %d Secrets, got %d" % (want, len(vals)))
        for x in probs:
            print("rule:", x)
        sys.exit(1 if probs else 0)
    elif cmd == "same":
        a, b = values(args[0]), values(args[1])
        if a != b:
            diff = sorted(set(a) ^ set(b)) + sorted(k for k in set(a) & set(b) if a[k] != b[k])
            print("differ:", diff)
            sys.exit(1)
    elif cmd == "leak":
        err = open(args[0], "rb").read()
        for path in args[1:]:
            for n, v in values(path).items():
                if len(v) >= 6 and v in err:
                    print("LEAK: value of %s appears in %s" % (n, args[0]))
                    sys.exit(1)
    elif cmd == "get":
        sys.stdout.buffer.write(values(args[0])[args[1]])
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
