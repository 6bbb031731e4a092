"""scripts/bench.py with servers = pushpull nchan, for real: pushpull-server
and Nchan (peers/nchan/run: nginx + libnginx-mod-nchan, which
scripts/install-deps.sh installs; without them this test fails).

First with a stand-in client (a script in place of bin/pushpull-client
that writes the JSON a client would and notes what it was given), so the
runner's own part is checked whatever the client can do: each server
started once and stopped (no nginx left behind), runs interleaved, the
--dialect and --server-pid of each run (nginx's master and worker, not the
run script; pushpull-server itself), a "not_offered" answer recorded as
such, the manifest's servers (version, command, config and its sha256),
and a report with a Servers part. Then the real client on both servers:
every run ok, lost 0, CPU and RSS from /proc."""

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time

from harness import Tap, BIN, check, check_eq, diag

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(REPO, "scripts", "bench.py")
NCHAN_CONF = os.path.join(REPO, "peers", "nchan", "nginx.conf.in")

# The stand-in client: writes runs[0] as the client would (enough for the
# runner and the report), plus what it saw of the --server-pid processes.
# It answers "not_offered" for the dialect:transport in $STUB_NOT_OFFERED.
STUB = r'''#!/usr/bin/python3
import json, os, socket, sys, time
a = sys.argv[1:]
def opt(k):
    return a[a.index(k) + 1] if k in a else None
seen = []
for pid in (opt("--server-pid") or "").split(","):
    with open("/proc/%s/cmdline" % pid, "rb") as f:
        seen.append({"pid": int(pid), "cmdline": f.read().replace(b"\0", b" ").decode().strip()})
host, port = opt("--url").split("//")[1].split(":")
socket.create_connection((host, int(port)), timeout=5).close()
t, d = opt("--transport"), opt("--dialect")
run = {"transport": t, "dialect": d, "status": "ok", "failure": None, "stub_seen": seen}
if os.environ.get("STUB_NOT_OFFERED") == "%s:%s" % (d, t):
    run["status"] = "not_offered"
else:
    n = int(opt("--subscribers")) * 10
    run.update(latency_us={"count": n, "p50": 900, "p99": 1900, "mean": 1000, "min": 500, "max": 2500},
               delivery={"expected": n, "delivered": n, "lost": 0, "duplicates": 0},
               throughput={"delivered_per_s": n / 1.0},
               cost={"requests_per_delivered": 0, "bytes_per_delivered": 100, "server_cpu_source": "proc",
                     "server_cpu_us_per_delivered": 10.0})
time.sleep(0.2)
with open(opt("--json"), "w") as f:
    json.dump({"runs": [run]}, f)
'''

SCENARIO = """[scenario]
name        = peers-test
description = Two transports on pushpull-server and Nchan, for the runner's own test.

[defaults]
transports = %s
servers    = pushpull nchan
subscribers = 2
rate       = 20
duration   = 1s
warmup     = 200ms
drain      = 1s
profiles   = loopback

[section main]
size = 64 128
"""


class Run:
    def __init__(self, transports, bin_dir, env=None, timeout=150):
        self.dir = tempfile.mkdtemp(prefix="ppbench-peers-")
        self.out = os.path.join(self.dir, "out")
        scn = os.path.join(self.dir, "peers-test.scn")
        with open(scn, "w") as f:
            f.write(SCENARIO % transports)
        self.args = ["/usr/bin/python3", BENCH, scn, "--out", self.out]
        t0 = time.monotonic()
        try:
            r = subprocess.run(self.args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, cwd=REPO,
                               env=dict(os.environ, PUSHPULL_BIN=bin_dir, **(env or {})))
            self.rc, self.stdout, self.stderr = r.returncode, r.stdout.decode(), r.stderr.decode()
        except subprocess.TimeoutExpired as e:
            self.rc, self.stdout = "timeout", (e.stdout or b"").decode(errors="replace")
            self.stderr = (e.stderr or b"").decode(errors="replace")
        self.elapsed = time.monotonic() - t0
        self.ok = False

    def describe(self):
        return "%s: exit %s after %.1fs\nstderr:\n%s\nstdout:\n%s" % (
            " ".join(self.args), self.rc, self.elapsed, self.stderr[-3000:], self.stdout[-2000:])

    def runs(self):
        with open(os.path.join(self.out, "runs.jsonl")) as f:
            return [json.loads(line) for line in f if line.strip()]

    def manifest(self):
        with open(os.path.join(self.out, "manifest.json")) as f:
            return json.load(f)

    def cleanup(self):
        if self.ok:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            diag("kept %s" % self.dir)


def stub_bin():
    d = tempfile.mkdtemp(prefix="ppbench-stub-")
    for name in ("pushpull-server", "pushpull-relay"):
        os.symlink(os.path.join(BIN, name), os.path.join(d, name))
    with open(os.path.join(d, "pushpull-client"), "w") as f:
        f.write(STUB)
    os.chmod(os.path.join(d, "pushpull-client"), 0o755)
    return d


def check_manifest(m):
    check_eq(list(m["servers"]), ["pushpull", "nchan"], "manifest servers")
    pp, nc = m["servers"]["pushpull"], m["servers"]["nchan"]
    check_eq((pp["name"], pp["dialect"], nc["name"], nc["dialect"]), ("pushpull", "pushpull", "nchan", "nchan"),
             "names and dialects")
    check(pp["version"] and pp["version"].startswith("pushpull-server "), "pushpull version %r" % pp["version"])
    check(nc["version"] and "nginx/1." in nc["version"] and "libnginx-mod-nchan" in nc["version"],
          "nchan version %r (nginx -v; dpkg-query -W libnginx-mod-nchan)" % nc["version"])
    check_eq(nc["command"], [os.path.join(REPO, "peers", "nchan", "run"), "0"], "nchan command")
    check(pp["command"] and pp["command"][0].endswith("pushpull-server"), "pushpull command %r" % pp["command"])
    with open(NCHAN_CONF, "rb") as f:
        data = f.read()
    conf = [c for c in nc["config"] if c["file"] == "peers/nchan/nginx.conf.in"]
    check_eq(len(conf), 1, "nginx.conf.in in the nchan config %r" % [c["file"] for c in nc["config"]])
    check_eq((conf[0]["sha256"], conf[0]["text"]), (hashlib.sha256(data).hexdigest(), data.decode()), "config")
    ex = m["profiles"]["loopback"]["servers"]
    check_eq((ex["pushpull"]["exit_status"], ex["nchan"]["exit_status"]), (0, 0), "exit status on SIGTERM")
    check(not m.get("incidents"), "incidents %r" % m.get("incidents"))


def check_pids(r):
    seen = r["result"]["stub_seen"]
    if r["server"] == "pushpull":
        check_eq(len(seen), 1, "run %d: one pushpull pid %r" % (r["n"], seen))
        check("pushpull-server" in seen[0]["cmdline"], "run %d: pid of %r" % (r["n"], seen[0]["cmdline"]))
        return []
    names = [s["cmdline"] for s in seen]
    check(all(c.startswith("nginx: ") for c in names), "run %d: only nginx processes, not the run script: %r"
          % (r["n"], names))
    check_eq(sum(c.startswith("nginx: master") for c in names), 1, "run %d: the master in %r" % (r["n"], names))
    check(sum(c.startswith("nginx: worker") for c in names) >= 1, "run %d: a worker in %r" % (r["n"], names))
    return [s["pid"] for s in seen]


def t_stub():
    b = Run("sse ws", stub_bin(), {"STUB_NOT_OFFERED": "nchan:ws"})
    try:
        check_eq(b.rc, 0, "exit status; " + b.describe())
        runs = b.runs()
        got = [(r["params"]["size"], r["params"]["transport"], r["server"]) for r in runs]
        check_eq(got, [(64, "sse", "pushpull"), (64, "sse", "nchan"), (64, "ws", "nchan"), (64, "ws", "pushpull"),
                       (128, "sse", "pushpull"), (128, "sse", "nchan"), (128, "ws", "nchan"),
                       (128, "ws", "pushpull")], "runs interleaved, the first server alternating")
        nginx = set()
        for r in runs:
            check_eq(r["params"]["server"], r["server"], "params.server")
            cmd = r["command"]
            check_eq(cmd[cmd.index("--dialect") + 1], r["server"], "run %d --dialect" % r["n"])
            if r["server"] == "nchan" and r["params"]["transport"] == "ws":
                check_eq((r["status"], r["failure"]), ("not_offered", None), "run %d not offered" % r["n"])
            else:
                check_eq((r["status"], r["failure"]), ("ok", None), "run %d" % r["n"])
            nginx.update(check_pids(r))
        check_eq(len({tuple(r["result"]["stub_seen"][0].values()) for r in runs if r["server"] == "nchan"}), 1,
                 "one Nchan for every nchan run (started once)")
        m = b.manifest()
        check_eq((m["runs"], m["failed"], m["not_offered"]), (8, 0, 2), "manifest counts")
        check_manifest(m)
        left = [p for p in nginx if os.path.exists("/proc/%d" % p)]
        check(not left, "nginx processes left behind after the runner: %r" % left)
        check("8 runs, 6 ok, 2 not offered, 0 failed" in b.stdout, "summary line in %r" % b.stdout[-300:])
        with open(os.path.join(b.out, "report.md"), encoding="utf-8") as f:
            md = f.read()
        check("## Servers: pushpull and nchan side by side" in md and "not offered" in md, "report Servers part")
        b.ok = True
    finally:
        b.cleanup()


def t_real():
    b = Run("sse ws", BIN)
    try:
        check_eq(b.rc, 0, "exit status; " + b.describe())
        for r in b.runs():
            res = r["result"]
            check_eq((r["status"], res["dialect"]), ("ok", r["server"]), "run %d (%s)" % (r["n"], r["failure"]))
            check_eq(res["delivery"]["lost"], 0, "run %d lost" % r["n"])
            c = res["cost"]
            check_eq(c["server_cpu_source"], "proc", "run %d server_cpu_source" % r["n"])
            check(c["server_cpu_s"] is not None and c["server_rss_base_bytes"] > 0,
                  "run %d server CPU and RSS %r" % (r["n"], c))
        with open(os.path.join(b.out, "report.md"), encoding="utf-8") as f:
            md = f.read()
        check("### SSE" in md and "### WebSocket" in md and "## Servers" in md, "report Servers part")
        b.ok = True
    finally:
        b.cleanup()


def main():
    tap = Tap(__file__, watchdog_s=280)
    tap.run("bench.py servers = pushpull nchan with a stand-in client: interleaved, --dialect, --server-pid "
            "(nginx master + worker), not_offered, manifest servers, nothing left running", t_stub)
    tap.run("bench.py servers = pushpull nchan for real: every run ok, lost 0, CPU and RSS from /proc", t_real)
    tap.done()


if __name__ == "__main__":
    main()
