#!/usr/bin/python3
"""Differential check of seedsec's YAML and JSON readers against PyYAML / json.

  yaml_diff.py SEEDSEC WORKDIR

Builds Secret streams (kubectl shape, stringData) whose values are written in
every style PyYAML's emitter knows (plain, single/double quoted, literal and
folded block scalars, flow mappings; wide and narrow lines, ASCII-only and
not) plus hand-written edge cases, and concatenated JSON the same way. Each
stream goes through `seedsec render --existing`; every value seedsec renders
must be exactly what PyYAML (or json) read from the same bytes. One line per
disagreement; exit 1 if any. Values are test data, not secrets.
"""
import base64
import json
import random
import subprocess
import sys

import yaml

seedsec, work = sys.argv[1], sys.argv[2]
plan = json.loads(subprocess.run([seedsec, "--all", "plan", "--json"], capture_output=True,
                                 check=True, text=True).stdout)
KEYS = [k["name"] for k in plan["keys"] if not k["name"].startswith("dex-admin-")]

HAND = [
    "plain", "with space inside", "it's", 'say "hi"', "back\\slash", "a #b", "a: b", "a:b",
    "- dash", "[x]", "{y}", "trailing ", " leading", "tab\there", "two\nlines",
    "ends with newline\n", "\n\nleading breaks", "yes", "null", "~", "0123", "1e3", "!pw",
    "*x", "&y", "%z", "@a", "`b", "?", "-", "--- doc", "... end", "#hash", "'q'", '"dq"',
    "\u00e9t\u00e9", "\U0001f511key", "nbsp\u00a0x", "nel\u0085x", "ls\u2028ps\u2029x",
    "bom\ufeffx", "\x01\x02\x1f\x7f", "cr\rx", "crlf\r\nx", "  \n  indented\n lines  ",
    "x" * 300, "word " * 40, "|", ">", "|-", "a\n\n\nb", "a\n b\n  c\n", "\t", "\\n",
]
ALPHA = ("abcXYZ019 _-:#'\"\\/{}[],&*!|>%@`?~.\t\n\r\x01\x1b\x7f"
         "\u00e9\u00a0\u0085\u2028\u2029\ufeff\U0001f511")


def rand_value(r):
    v = "".join(r.choice(ALPHA) for _ in range(r.randint(1, 40)))
    # seedsec treats an empty value as absent, PyYAML never strips: keep one visible char
    return v if v.strip(" \t\r\n\ufeff") else v + "x"


def secret(name, value):
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": "secret-source"},
            "type": "Opaque", "stringData": {"value": value}}


def yaml_styles():
    for style in (None, '"', "'", "|", ">"):
        for width in (80, 12):
            for uni in (True, False):
                for flow in (False, True):
                    yield dict(default_style=style, width=width, allow_unicode=uni,
                               default_flow_style=flow, explicit_start=True)


def render(path):
    p = subprocess.run([seedsec, "--all", "--bcrypt-cost", "10", "--state", work + "/state",
                        "-q", "render", "--existing", path], capture_output=True)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


problems = 0


AMBIGUOUS = ("\x85", "\u2028", "\u2029")


def judge(path, kind, expected):
    """expected: {name: value as the independent reader has it}"""
    global problems
    rc, out, err = render(path)
    text = open(path, encoding="utf-8", newline="").read()
    if not kind.startswith("json") and (any(c in text for c in AMBIGUOUS) or
                                        "\r" in text.replace("\r\n", "")):
        # YAML 1.1 (PyYAML, kubectl) breaks lines there, YAML 1.2 does not: refused
        if rc != 2 or "a line break to YAML 1.1 readers" not in err:
            problems += 1
            print(f"FAIL {kind} {path}: raw NEL/LS/PS/CR not refused (exit {rc})")
        return
    if rc not in (0, 1):  # 1: a key of the batch was left out (MISSING)
        problems += 1
        print(f"FAIL {kind} {path}: seedsec exit {rc}: {err.strip()[:300]}")
        return
    got = {}
    for d in yaml.safe_load_all(out):
        got[d["metadata"]["name"]] = base64.b64decode(d["data"]["value"])
    for name, want in expected.items():
        w = want.encode("utf-8")
        if got.get(name) != w:
            problems += 1
            print(f"FAIL {kind} {path}: {name}: PyYAML/json read {w!r}, seedsec {got.get(name)!r}")


def usable(v):
    # what seedsec accepts as an earlier value at all: UTF-8 text without NUL, not empty
    return isinstance(v, str) and v != "" and "\x00" not in v


r = random.Random(20240501)
values = HAND + [rand_value(r) for _ in range(200)]
n = 0
i = 0
for opts in yaml_styles():
    batch = values[i:i + len(KEYS)] or values[:len(KEYS)]
    i = (i + len(KEYS)) % len(values)
    if opts["allow_unicode"] and n % 8 != 0:  # most batches: no raw NEL/LS/PS (refused)
        batch = ["".join("x" if c in AMBIGUOUS else c for c in v) for v in batch]
    docs = [secret(k, v) for k, v in zip(KEYS, batch)]
    text = yaml.dump_all(docs, **opts)
    path = f"{work}/y{n}.yaml"
    n += 1
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    expected = {}
    for d in yaml.safe_load_all(text):
        v = d["stringData"]["value"]
        if usable(v):
            expected[d["metadata"]["name"]] = v
    judge(path, "yaml " + json.dumps({k: v for k, v in opts.items() if k != "explicit_start"}),
          expected)

# the same batches as a v1 List and as concatenated JSON objects
for j in range(0, len(values), len(KEYS)):
    batch = values[j:j + len(KEYS)]
    docs = [secret(k, v) for k, v in zip(KEYS, batch)]
    for form in ("list", "json", "json-ascii"):
        path = f"{work}/{form}{j}"
        if form == "list":
            text = yaml.dump({"apiVersion": "v1", "kind": "List", "items": docs}, width=30)
            expected = {d["metadata"]["name"]: d["stringData"]["value"]
                        for d in yaml.safe_load(text)["items"]}
        else:
            text = "\n".join(json.dumps(d, indent=4 if j % 2 else None,
                                        ensure_ascii=form == "json-ascii") for d in docs)
            dec, pos, expected = json.JSONDecoder(), 0, {}
            while pos < len(text):
                while pos < len(text) and text[pos].isspace():
                    pos += 1
                if pos >= len(text):
                    break
                d, pos = dec.raw_decode(text, pos)
                expected[d["metadata"]["name"]] = d["stringData"]["value"]
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        judge(path, form, {k: v for k, v in expected.items() if usable(v)})
        n += 1

# hand-written YAML that no emitter produces: comments, continuation lines, odd spacing
HANDWRITTEN = [
    "stringData:\n  value: plain # comment\n",
    "stringData:\n  value: first\n    second\n\n    third\n",
    "stringData:\n  value: 'single\n\n    folded'\n",
    "stringData:\n  value: \"esc \\x41\\u00e9\\U0001F511 \\\n    joined\"\n",
    "stringData:\n  value: |+\n    keep\n\n\n",
    "stringData:\n  value: >-\n    folded\n    text\n\n     more\n    end\n",
    "stringData:\n  value: |2-\n      two\n     one\n",
    "stringData: {value: flow plain}\n",
    "stringData: {value: \"flow\n  quoted\"}\n",
    "stringData: {\n  value: multi,\n  other: x\n}\n",
    "stringData:\n  value: >\n\n    after blank\n",
    "stringData:\n    value:   spaced   \n",
    "stringData:\n  value: \"\\t\\ttabs\"\n",
    "stringData:\n  value: 'a''b'\n",
    "stringData:\n  value: |\n    literal\n     more\n    less\n",
    "stringData:\n  value: old\rmac\n",
    "stringData:\n  value: 'a \u2028  b'\n",
    "# comment\u2029stringData: {value: x}\nstringData:\n  value: y\n",
]
for h, body in enumerate(HANDWRITTEN):
    name = KEYS[h % len(KEYS)]
    text = f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n{body}"
    path = f"{work}/hand{h}.yaml"
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    try:
        v = yaml.safe_load(text)["stringData"]["value"]
    except yaml.YAMLError:
        v = None
    judge(path, f"hand-written #{h}", {name: v} if usable(v) else {})
    n += 1

print(f"{n} streams, {problems} disagreements")
sys.exit(1 if problems else 0)
