#!/usr/bin/python3
"""tests/seal_check.py - read seedsec seal output with PyYAML/json, for tests/t_seal.sh.

  items SEALED [--as-scope S]     JSON items for unseal.js; the OAEP label is derived
                                  from each document as the controller does, or forced
                                  to scope S (to show another scope's label fails)
  layout SEALED SCOPE NS RSALEN   kubeseal's layout, the scope annotation, base64, length
  compare OPENED PLAIN [--expect-fail]   every opened value equals the plain Secret's
  docs FILE                       number of documents
  leak ERRFILE PLAIN...           no value of the plain streams appears in ERRFILE
"""
import base64
import json
import sys

import yaml

NS_WIDE = "sealedsecrets.bitnami.com/namespace-wide"
CLUSTER = "sealedsecrets.bitnami.com/cluster-wide"


def load(path):
    text = open(path, encoding="utf-8").read()
    if text.lstrip().startswith(("{", "[")):
        dec, i, out = json.JSONDecoder(), 0, []
        while True:
            while i < len(text) and text[i].isspace():
                i += 1
            if i >= len(text):
                return out
            obj, i = dec.raw_decode(text, i)
            out.append(obj)
    return [d for d in yaml.safe_load_all(text) if d is not None]


def objects(path):
    for d in load(path):
        if d.get("kind") == "List":
            yield from d["items"]
        else:
            yield d


def scope_of(md):
    an = md.get("annotations") or {}
    if an.get(CLUSTER) == "true":
        return "cluster-wide"
    if an.get(NS_WIDE) == "true":
        return "namespace-wide"
    return "strict"


def label(scope, ns, name):
    return {"strict": f"{ns}/{name}", "namespace-wide": ns, "cluster-wide": ""}[scope]


def fail(msg):
    print("seal_check: " + msg, file=sys.stderr)
    sys.exit(1)


def cmd_items(args):
    force = args[args.index("--as-scope") + 1] if "--as-scope" in args else None
    items = []
    for d in objects(args[0]):
        md = d["metadata"]
        sc = force or scope_of(md)
        for k, v in d["spec"]["encryptedData"].items():
            items.append({"id": f'{md["namespace"]}/{md["name"]}/{k}',
                          "label": label(sc, md["namespace"], md["name"]), "data": v})
    json.dump(items, sys.stdout)


def cmd_layout(args):
    path, scope, ns, rsalen = args[0], args[1], args[2], int(args[3])
    n = 0
    for d in objects(path):
        n += 1
        name = d["metadata"]["name"]
        where = f"{path}: {name}"
        if d.get("apiVersion") != "bitnami.com/v1alpha1" or d.get("kind") != "SealedSecret":
            fail(f"{where}: not a bitnami.com/v1alpha1 SealedSecret")
        if set(d) != {"apiVersion", "kind", "metadata", "spec"}:
            fail(f"{where}: top-level keys {sorted(d)}")
        for md, what in ((d["metadata"], "metadata"), (d["spec"]["template"]["metadata"], "template")):
            if md.get("name") != name or md.get("namespace") != ns:
                fail(f"{where}: {what} name/namespace {md.get('name')}/{md.get('namespace')}")
            if "creationTimestamp" not in md or md["creationTimestamp"] is not None:
                fail(f"{where}: {what} creationTimestamp is not null")
            if scope_of(md) != scope:
                fail(f"{where}: {what} scope {scope_of(md)}, want {scope}")
            an = md.get("annotations") or {}
            if scope == "strict" and an:
                fail(f"{where}: {what} has annotations {an}")
            if scope != "strict" and len(an) != 1:
                fail(f"{where}: {what} annotations {an}")
        if d["spec"]["template"]["metadata"].get("labels") != {"app.kubernetes.io/managed-by": "seedsec"}:
            fail(f"{where}: template labels")
        if d["spec"]["template"].get("type") != "Opaque":
            fail(f"{where}: template type")
        if set(d["spec"]) != {"encryptedData", "template"}:
            fail(f"{where}: spec keys {sorted(d['spec'])}")
        ed = d["spec"]["encryptedData"]
        if list(ed) != ["value"]:
            fail(f"{where}: encryptedData keys {list(ed)}")
        for v in ed.values():
            if not isinstance(v, str):
                fail(f"{where}: encrypted value is not a string")
            raw = base64.b64decode(v, validate=True)
            if base64.b64encode(raw).decode() != v:
                fail(f"{where}: not standard padded base64")
            got = int.from_bytes(raw[:2], "big")
            if got != rsalen:
                fail(f"{where}: RSA length {got}, want {rsalen}")
            if len(raw) < 2 + rsalen + 16 + 1:
                fail(f"{where}: too short")
    if n == 0:
        fail(f"{path}: no documents")
    print(n)


def plain_values(paths):
    vals = {}
    for p in paths:
        for d in objects(p):
            md = d["metadata"]
            for k, v in (d.get("data") or {}).items():
                vals[f'{md.get("namespace", "secret-source")}/{md["name"]}/{k}'] = base64.b64decode(v)
    return vals


def cmd_compare(args):
    opened = json.load(open(args[0]))
    plain = plain_values([args[1]])
    expect_fail = "--expect-fail" in args
    if not opened:
        fail("nothing opened")
    for i, r in opened.items():
        if expect_fail:
            if "error" not in r:
                fail(f"{i}: opened with the wrong label")
            continue
        if "error" in r:
            fail(f"{i}: {r['error']}")
        if i not in plain:
            fail(f"{i}: not in the plain stream")
        if base64.b64decode(r["value"]) != plain[i]:
            fail(f"{i}: opened value differs from the plain one")
    if not expect_fail and set(plain) - set(opened):
        fail(f"not sealed: {sorted(set(plain) - set(opened))}")
    print(len(opened))


def cmd_docs(args):
    print(len(list(objects(args[0]))))


def cmd_leak(args):
    err = open(args[0], "rb").read()
    for i, v in plain_values(args[1:]).items():
        if len(v) >= 6 and v in err:
            fail(f"{args[0]}: shows the value of {i}")


if __name__ == "__main__":
    {"items": cmd_items, "layout": cmd_layout, "compare": cmd_compare, "docs": cmd_docs,
     "leak": cmd_leak}[sys.argv[1]](sys.argv[2:])
