"""Structural checks for tests/t_patch.sh and tests/t_store.sh (PyYAML).

  compare UNPATCHED PATCHED PROPERTY [MIN_ADDED]
      two `kubectl kustomize` outputs: every ExternalSecret data entry in
      PATCHED has remoteRef.property; the ones added hold PROPERTY, the ones
      already there are unchanged; with the added ones removed, PATCHED equals
      UNPATCHED. Prints "added N"; fails if N < MIN_ADDED.
  store FILE STORE SA SANS NS
      the objects of `seedsec store` (YAML, JSON objects or a v1 List).
"""
import copy
import json
import sys

import yaml


def load(path):
    text = open(path).read()
    if text.lstrip().startswith("{"):
        dec, docs, i = json.JSONDecoder(), [], 0
        while True:
            while i < len(text) and text[i].isspace():
                i += 1
            if i >= len(text):
                return docs
            obj, i = dec.raw_decode(text, i)
            docs.append(obj)
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    if len(docs) == 1 and docs[0].get("kind") == "List":
        return docs[0]["items"]
    return docs


def data_of(doc):
    if doc.get("kind") == "ExternalSecret":
        return doc.get("spec", {}).get("data") or []
    if doc.get("kind") == "ClusterExternalSecret":
        return doc.get("spec", {}).get("externalSecretSpec", {}).get("data") or []
    return []


def compare(unpatched, patched, prop, min_added=0):
    a, b = load(unpatched), load(patched)
    if len(a) != len(b):
        sys.exit("document count differs: %d vs %d" % (len(a), len(b)))
    added = 0
    stripped = []
    for x, y in zip(a, b):
        y = copy.deepcopy(y)
        if y.get("apiVersion", "").startswith("external-secrets.io/"):
            xd, yd = data_of(x), data_of(y)
            if len(xd) != len(yd):
                sys.exit("%s: data length differs" % y["metadata"]["name"])
            for i, (xe, ye) in enumerate(zip(xd, yd)):
                where = "%s data[%d]" % (y["metadata"]["name"], i)
                rr = ye.get("remoteRef", {})
                if not rr.get("property"):
                    sys.exit(where + ": no remoteRef.property")
                if xe.get("remoteRef", {}).get("property"):
                    if rr["property"] != xe["remoteRef"]["property"]:
                        sys.exit(where + ": an existing property was changed")
                    continue
                if rr["property"] != prop:
                    sys.exit(where + ": property %r, want %r" % (rr["property"], prop))
                added += 1
                if "property" in xe.get("remoteRef", {}):
                    rr["property"] = xe["remoteRef"]["property"]
                else:
                    del rr["property"]
        stripped.append(y)
    if stripped != a:
        for x, y in zip(a, stripped):
            if x != y:
                sys.exit("differs beyond the added properties:\n%r\n%r" % (x, y))
    print("added %d" % added)
    if added < min_added:
        sys.exit("added %d properties, want at least %d" % (added, min_added))


def store(path, name, sa, sans, ns):
    docs = load(path)
    by = {d["kind"]: d for d in docs}
    want = ["Namespace", "ServiceAccount", "Role", "RoleBinding", "ClusterSecretStore"]
    assert [d["kind"] for d in docs] == want, [d["kind"] for d in docs]
    for d in docs:
        assert d["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "seedsec"}, d
    n = by["Namespace"]
    assert n["apiVersion"] == "v1" and n["metadata"]["name"] == ns and "namespace" not in n["metadata"]
    s = by["ServiceAccount"]
    assert s["apiVersion"] == "v1" and s["metadata"]["name"] == sa and s["metadata"]["namespace"] == sans
    r = by["Role"]
    assert r["apiVersion"] == "rbac.authorization.k8s.io/v1" and r["metadata"]["namespace"] == ns
    assert r["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}], r
    b = by["RoleBinding"]
    assert b["apiVersion"] == "rbac.authorization.k8s.io/v1" and b["metadata"]["namespace"] == ns
    assert b["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                            "name": r["metadata"]["name"]}, b
    assert b["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": sans}], b
    c = by["ClusterSecretStore"]
    assert c["apiVersion"] == "external-secrets.io/v1", c
    assert c["metadata"]["name"] == name and "namespace" not in c["metadata"]
    assert list(c["spec"]["provider"]) == ["kubernetes"], c
    k = c["spec"]["provider"]["kubernetes"]
    assert k == {
        "remoteNamespace": ns,
        "server": {
            "url": "https://kubernetes.default.svc",
            "caProvider": {"type": "ConfigMap", "name": "kube-root-ca.crt", "key": "ca.crt",
                           "namespace": sans},
        },
        "auth": {"serviceAccount": {"name": sa, "namespace": sans}},
    }, k


if __name__ == "__main__":
    if sys.argv[1] == "compare":
        compare(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]) if len(sys.argv) > 5 else 0)
    elif sys.argv[1] == "store":
        store(*sys.argv[2:7])
    else:
        sys.exit("usage: patch_check.py compare|store ...")
