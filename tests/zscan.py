#!/usr/bin/python3
"""Which secret values are still in blocks freed without a wipe (see tests/zshim.c).

  zscan.py DUMP BINARY VALUES_FILE

VALUES_FILE: one "name<TAB>value" line per secret (values are printable, no tab or
newline). Each value is looked for as is and in standard base64 (how render, seal and
GSM carry it). Prints one line per (value, form) found, with the frames of the first free
that still held it, symbolized against BINARY; exit 1 if anything was found.
"""
import base64
import re
import subprocess
import sys

HDR = re.compile(rb"\n@@FREED (\d+)((?: 0x[0-9a-f]+)*)@@\n")


def blocks(path):
    data = open(path, "rb").read()
    pos = 0
    while pos < len(data):
        m = HDR.match(data, pos)
        if not m:
            raise SystemExit("zscan: malformed dump at byte %d" % pos)
        n = int(m.group(1))
        start = m.end()
        yield m.group(2).split(), data[start:start + n]
        pos = start + n


def symbolize(binary, pcs):
    if not pcs:
        return []
    out = subprocess.run(["addr2line", "-f", "-i", "-p", "-s", "-e", binary] +
                         ["0x%x" % (int(p, 16) - 1) for p in pcs],
                         capture_output=True, text=True).stdout
    return [l.strip() for l in out.splitlines() if l.strip()]


def main():
    dump, binary, vfile = sys.argv[1:4]
    values = []
    for line in open(vfile, encoding="utf-8"):
        name, _, v = line.rstrip("\n").partition("\t")
        if len(v) >= 8:
            raw = v.encode()
            values.append((name, "raw", raw))
            values.append((name, "base64", base64.b64encode(raw)))
    found = {}
    count = 0
    for pcs, b in blocks(dump):
        count += 1
        for name, form, needle in values:
            if needle in b and (name, form) not in found:
                found[(name, form)] = (pcs, len(b))
    for (name, form), (pcs, n) in sorted(found.items()):
        frames = symbolize(binary, pcs)
        print("unwiped %s (%s) in a freed %d-byte block: %s" % (name, form, n, " <- ".join(frames[:6])))
    print("# %d freed blocks scanned for %d values" % (count, len(values) // 2))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
