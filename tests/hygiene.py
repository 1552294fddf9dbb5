#!/usr/bin/python3
"""Helpers for tests/t_hygiene.sh: collect every secret value seen, find them where they
must not be.

  hygiene.py render VALS FILE...      append the values of rendered streams (values.py reader)
  hygiene.py gsm VALS CONTROL_URL     append every version of every secret in the fake GSM
  hygiene.py leaks VALS FILE...       each FILE must hold no value (as is, or standard base64);
                                      prints "FILE: NAME (form)" per hit, exit 1 on any
  hygiene.py cmdline VALS PID         /proc/PID/cmdline must hold no value

VALS: "name<TAB>value" lines; values shorter than 8 bytes are ignored (too likely by chance).
"""
import base64
import json
import os
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import values  # noqa: E402  (tests/values.py)


def load(vals):
    out = []
    for line in open(vals, "rb"):
        name, _, v = line.rstrip(b"\n").partition(b"\t")
        if len(v) >= 8:
            out.append((name.decode(), v))
    return out


def needles(vals):
    for name, v in load(vals):
        yield name, "raw", v
        yield name, "base64", base64.b64encode(v)


def append(vals, pairs):
    with open(vals, "ab") as f:
        for name, v in pairs:
            if b"\n" not in v and b"\t" not in v:
                f.write(name.encode() + b"\t" + v + b"\n")


def main():
    cmd, vals = sys.argv[1], sys.argv[2]
    args = sys.argv[3:]
    if cmd == "render":
        for path in args:
            append(vals, values.values(path).items())
    elif cmd == "gsm":
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        st = json.loads(opener.open(args[0] + "/state").read())
        append(vals, [(s["secretId"], base64.b64decode(v["data"]))
                      for s in st["secrets"] for v in s["versions"] if v.get("data")])
    elif cmd == "leaks":
        ns = list(needles(vals))
        hits = 0
        for path in args:
            data = open(path, "rb").read()
            for name, form, n in ns:
                if n in data:
                    hits += 1
                    print("%s: %s (%s)" % (path, name, form))
                    break
        return 1 if hits else 0
    elif cmd == "cmdline":
        data = open("/proc/%s/cmdline" % args[0], "rb").read()
        hit = [name for name, _, n in needles(vals) if n in data]
        if hit:
            print("/proc/%s/cmdline holds %s" % (args[0], ", ".join(sorted(set(hit)))))
        return 1 if hit or not data else 0
    else:
        raise SystemExit("hygiene.py: unknown command " + cmd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
