#!/usr/bin/python3
"""Fault matrix for seedsec push (driven by tests/t_push_matrix.sh).

For every GSM request index of a clean full push and every fault kind: reset the
fake, arm one fault rule on that index, run the faulty push, then a clean re-run
with the same state dir, and check convergence:
  - the re-run exits 0 and every needed key has exactly one version, ENABLED
    (so no key got two versions from the pair of runs);
  - every version that existed after the faulty run is byte-identical after the
    re-run (nothing existing changed);
  - the Dex mirror equals dex-admin-password in GSM, the Cloudflare token is the
    one provided, no stored value appears on either run's stderr;
  - for the kinds seedsec retries by itself, the faulty run already exits 0.

  push_matrix.py --seedsec BIN --config CFG --work DIR --fake URL CONTROL CA TOKENFILE
                 [--fake ...] [--kinds a,b] [--indices 1-48|all] [--expect-requests N]

One fake per worker (each --fake), scenarios shared out from one queue. Prints
"ok   ..." / "FAIL ..." lines and "# ..." notes; exit 1 on any failure.
"""
import argparse
import base64
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request

TIMEOUT = 1          # seedsec --timeout for every run (the stall kind exceeds it)
STALL = 2.5          # a reply held this long: past --timeout, and past seedsec's re-add
HOLD = 0.6           # how long the fake holds request i while seedsec is killed
BCRYPT_COST = "10"   # the cheapest cost Dex accepts: the runs stay fast
CF_TOKEN = "cfut_MatrixCanary0123456789abcdefABCDEF"
RUN_LIMIT = 60       # seconds: a run that takes longer is a failure (and is killed)

# kind -> (the rule for index i, does seedsec's own retry policy settle it?)
KINDS = {
    "reset_before": (lambda i: {"index": i, "action": "reset_before"}, True),
    "reset_after": (lambda i: {"index": i, "action": "reset_after"}, True),
    "500": (lambda i: {"index": i, "status": 500, "error_status": "INTERNAL"}, True),
    "503": (lambda i: {"index": i, "status": 503, "error_status": "UNAVAILABLE"}, True),
    "429": (lambda i: {"index": i, "status": 429, "error_status": "RESOURCE_EXHAUSTED"}, True),
    "stall": (lambda i: {"index": i, "action": "delay", "seconds": STALL}, True),
    # SIGKILL while the fake holds request i, before it is processed (then dropped) ...
    "kill_before": (lambda i: {"index": i, "action": "reset_before", "delay": HOLD}, False),
    # ... and after it was processed, before the reply
    "kill_after": (lambda i: {"index": i, "action": "delay", "when": "after", "seconds": HOLD}, False),
}
# not part of the matrix: an addVersion held longer than seedsec keeps looking for it;
# the faulty run must fail (exit 2) rather than send it again, the re-run then converges
LONG_STALL = 12
EXTRA = {"stall_long": lambda i: {"index": i, "action": "delay", "seconds": LONG_STALL}}
EXTRA_AT = ("litellm-salt-key:addVersion", "dex-admin-password:addVersion")


class Fake:
    def __init__(self, url, control, ca, token_file):
        self.url, self.control, self.ca, self.token_file = url, control, ca, token_file
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def ctl(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.control + "/" + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with self.opener.open(req, timeout=30) as r:
            return json.loads(r.read())

    def state(self):
        return self.ctl("GET", "state")

    def wait_entry(self, index, limit=30.0):
        """the log entry of GSM request index (it is written once the fake is done with it)"""
        end = time.monotonic() + limit
        while time.monotonic() < end:
            for e in self.ctl("GET", "log"):
                if e.get("n") == index and e.get("status") is not None:
                    return e
            time.sleep(0.02)
        return None


def snapshot(st):
    """secret id -> {version: (state, data bytes)}"""
    out = {}
    for s in st["secrets"]:
        out[s["secretId"]] = {v["version"]: (v["state"], base64.b64decode(v.get("data") or ""))
                              for v in s["versions"]}
    return out


class Runner:
    def __init__(self, args, fake, wid):
        self.a, self.fake, self.wid = args, fake, wid
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("CLOUDSDK_", "GOOGLE_", "HTTPS_PROXY", "https_proxy"))}
        self.env["CLOUDFLARE_API_TOKEN"] = CF_TOKEN

    def argv(self, state):
        return [self.a.seedsec, "-c", self.a.config, "--state", state, "--endpoint", self.fake.url,
                "--ca-file", self.fake.ca, "--token-file", self.fake.token_file,
                "--timeout", str(TIMEOUT), "--bcrypt-cost", BCRYPT_COST, "push"]

    def start(self, state, name):
        err = open(os.path.join(self.a.work, "w%d.%s.err" % (self.wid, name)), "wb")
        p = subprocess.Popen(self.argv(state), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=err, env=self.env)
        err.close()
        return p

    def finish(self, p, name):
        try:
            rc = p.wait(RUN_LIMIT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            rc = "hung"
        with open(os.path.join(self.a.work, "w%d.%s.err" % (self.wid, name)), "rb") as f:
            return rc, f.read()

    def run(self, state, name):
        return self.finish(self.start(state, name), name)

    def scenario(self, kind, i):
        """one faulty push and a clean re-run; a list of problems (empty: converged)"""
        f = self.fake
        probs = []
        state = os.path.join(self.a.work, "w%d.state" % self.wid)
        subprocess.run(["rm", "-rf", state], check=True)
        f.ctl("POST", "reset", {})
        rule, self_heals = KINDS[kind] if kind in KINDS else (EXTRA[kind], False)
        f.ctl("POST", "faults", [rule(i)])
        p = self.start(state, "faulty")
        if kind.startswith("kill"):
            end = time.monotonic() + RUN_LIMIT
            while p.poll() is None and f.state()["requests"] < i and time.monotonic() < end:
                time.sleep(0.005)
            if p.poll() is not None:
                probs.append("seedsec ended before request %d arrived" % i)
            p.send_signal(signal.SIGKILL)
        rc1, err1 = self.finish(p, "faulty")
        if kind.startswith("kill") and rc1 != -signal.SIGKILL:
            probs.append("the faulty run was not killed (exit %s)" % rc1)
        if self_heals and rc1 != 0:
            probs.append("faulty run exit %s, want 0 (seedsec retries this itself): %s"
                         % (rc1, err1.decode(errors="replace").strip().splitlines()[-1:]))
        if kind == "stall_long" and (rc1 != 2 or b"not sent again" not in err1):
            probs.append("faulty run exit %s, want 2 and 'not sent again'" % rc1)
        fired = sum(r.get("fired", 0) for r in f.ctl("GET", "faults"))
        if fired != 1:
            probs.append("the fault fired %d times, want 1" % fired)
        # the fake finishes request i on its own (a held or stalled request is processed
        # after seedsec gave up on it or died): wait for that before looking
        if kind in ("stall", "stall_long", "kill_before", "kill_after") and not f.wait_entry(i):
            probs.append("request %d never finished in the fake" % i)
        before = snapshot(f.state())
        f.ctl("DELETE", "faults")
        rc2, err2 = self.run(state, "rerun")
        if rc2 != 0:
            probs.append("clean re-run exit %s: %s" % (rc2, err2.decode(errors="replace").strip().splitlines()[-1:]))
        after = snapshot(f.state())
        for sid, vs in sorted(before.items()):
            for num, (vstate, data) in sorted(vs.items()):
                got = after.get(sid, {}).get(num)
                if got != (vstate, data):
                    probs.append("%s version %d changed by the re-run (%s -> %s)" % (
                        sid, num, vstate, got[0] if got else "gone"))
        if sorted(after) != sorted(self.a.keys):
            probs.append("secrets %s, want %s" % (sorted(after), sorted(self.a.keys)))
        for sid in sorted(after):
            vs = after[sid]
            if [st for _, (st, _) in sorted(vs.items())] != ["ENABLED"]:
                probs.append("%s: versions %s, want exactly one, ENABLED" % (
                    sid, [(n, st) for n, (st, _) in sorted(vs.items())]))
        cf = after.get("cloudflare-api-token", {})
        if cf and max(cf.items())[1][1] != CF_TOKEN.encode():
            probs.append("cloudflare-api-token is not the provided value")
        pw = after.get("dex-admin-password", {})
        try:
            with open(os.path.join(state, "dex-admin-password"), "rb") as m:
                mirror = m.read()
        except OSError:
            mirror = None
        if pw and mirror != max(pw.items())[1][1]:
            probs.append("the Dex mirror differs from dex-admin-password in GSM")
        vals = {d for vs in after.values() for (_, d) in vs.values() if len(d) >= 8}
        vals |= {d for vs in before.values() for (_, d) in vs.values() if len(d) >= 8}
        for name, err in (("faulty", err1), ("re-run", err2)):
            if any(v in err for v in vals):
                probs.append("a stored value appears on the %s run's stderr" % name)
        return probs


def count_clean(args, fake):
    """the GSM requests of a clean first push: (count, [method path...])"""
    r = Runner(args, fake, 0)
    state = os.path.join(args.work, "count.state")
    fake.ctl("POST", "reset", {})
    rc, err = r.run(state, "count")
    if rc != 0:
        sys.exit("push_matrix: the clean push failed (exit %s): %s" % (rc, err.decode(errors="replace")))
    st = fake.state()
    reqs = [(e["n"], e["method"], e["path"].rsplit("/", 1)[-1]) for e in st["log"] if e.get("kind") == "gsm"]
    keys = sorted(s["secretId"] for s in st["secrets"])
    subprocess.run(["rm", "-rf", state], check=True)
    return st["requests"], reqs, keys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seedsec", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--fake", nargs=4, action="append", required=True,
                    metavar=("URL", "CONTROL", "CA", "TOKEN_FILE"))
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--indices", default="all", help="all, or a list like 1-5,9,40-48")
    ap.add_argument("--expect-requests", type=int)
    ap.add_argument("--no-extra", action="store_true", help="skip the long-stall scenarios")
    args = ap.parse_args()
    fakes = [Fake(*f) for f in args.fake]
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        sys.exit("push_matrix: unknown kind(s) %s; known: %s" % (unknown, ", ".join(KINDS)))

    n, reqs, args.keys = count_clean(args, fakes[0])
    ok = args.expect_requests is None or n == args.expect_requests
    print("%s clean first push: %d GSM requests, %d secrets" % ("ok  " if ok else "FAIL", n, len(args.keys)))
    if not ok:
        print("# want %d requests: %s" % (args.expect_requests, reqs))
    if args.indices == "all":
        indices = list(range(1, n + 1))
    else:
        indices = []
        for part in args.indices.split(","):
            lo, _, hi = part.partition("-")
            indices += range(int(lo), int(hi or lo) + 1)
        indices = [i for i in indices if 1 <= i <= n]
    what = {i: "%s %s" % (m, p) for i, m, p in reqs}

    # the slow kinds first, so the workers end together
    order = sorted(kinds, key=lambda k: (k not in ("stall", "kill_before", "kill_after"), kinds.index(k)))
    work = queue.Queue()
    extra = [] if args.no_extra else [("stall_long", i) for i, _, p in reqs if p in EXTRA_AT]
    for k, i in extra:
        work.put((k, i))
    for k in order:
        for i in indices:
            work.put((k, i))
    results = {}
    lock = threading.Lock()

    def worker(wid, fake):
        r = Runner(args, fake, wid)
        while True:
            try:
                k, i = work.get_nowait()
            except queue.Empty:
                return
            t0 = time.monotonic()
            try:
                probs = r.scenario(k, i)
            except Exception as e:  # a broken scenario is a failure, not a crash
                probs = ["driver error: %r" % (e,)]
            with lock:
                results[(k, i)] = (probs, time.monotonic() - t0)

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(w + 1, f)) for w, f in enumerate(fakes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0

    bad = 0
    for k, i in extra:
        probs, secs = results[(k, i)]
        if probs:
            bad += 1
            print("FAIL %s at request %d (%s): %s" % (k, i, what.get(i, "?"), "; ".join(probs)))
        else:
            print("ok   %s at request %d (%s): exit 2 without re-sending, re-run converges (%.1f s)"
                  % (k, i, what.get(i), secs))
    for k in kinds:
        fails = [(i, results[(k, i)][0]) for i in indices if results[(k, i)][0]]
        secs = sum(results[(k, i)][1] for i in indices)
        if not fails:
            print("ok   %s at each of %d request indices: converges (%.1f s)" % (k, len(indices), secs))
        for i, probs in fails:
            bad += 1
            print("FAIL %s at request %d (%s): %s" % (k, i, what.get(i, "?"), "; ".join(probs)))
    print("# %d scenarios (%d indices x %d kinds + %d long stalls), %d failed, %.1f s with %d worker(s)"
          % (len(results), len(indices), len(kinds), len(extra), bad, elapsed, len(fakes)))
    return 1 if bad or not ok else 0


if __name__ == "__main__":
    sys.exit(main())
