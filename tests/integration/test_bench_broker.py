"""scripts/bench.py on the broker profiles, for real: a tiny scenario (5
subscribers x 50 msg/s, 1 s) with SSE and WebSocket on loopback, redis and
redis-two, and SSE on redis-workers; each broker profile starts its own
redis-server (the Debian package, which scripts/install-deps.sh installs:
without it this test fails, it does not skip). Every run ok, lost 0;
runs.jsonl has redis-server's CPU and RSS; redis-two's client publishes on
A and subscribes on B with both in --server-pid, redis-workers' names the
parent and its two workers; the manifest has redis-server's command and
version; the report has its broker section; afterwards no redis-server or
pushpull-server of the run is left (checked by pid) and redis's
temporary folders are gone."""

import json
import os
import shutil
import subprocess
import tempfile
import time

from harness import Tap, BIN, check, check_eq, diag

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(REPO, "scripts", "bench.py")

SCENARIO = """[scenario]
name        = broker-test
description = The broker profiles beside loopback, for the runner's own test.

[defaults]
subscribers = 5
rate        = 50
duration    = 1s
warmup      = 200ms
drain       = 500ms

[section hop]
transports = sse ws
profiles   = loopback redis redis-two

[section workers]
transports = sse
profiles   = redis-workers
"""


def opt(cmd, name):
    return cmd[cmd.index(name) + 1] if name in cmd else None


def alive(pid):
    """Running (a zombie not yet reaped by its parent counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def check_run(r, by_profile):
    n, p, res = r["n"], r["params"], r["result"]
    check_eq((r["status"], r["failure"]), ("ok", None), "run %d" % n)
    check_eq((res["delivery"]["lost"], res["delivery"]["publish_errors"]), (0, 0), "run %d lost, publish errors" % n)
    c = res["cost"]
    check_eq(c["server_cpu_source"], "proc", "run %d server CPU from /proc" % n)
    check(c["server_cpu_s"] > 0 and c["server_rss_bytes"] > 0, "run %d server CPU and RSS %r" % (n, c))
    pids = [int(x) for x in opt(r["command"], "--server-pid").split(",")]
    url, pub = opt(r["command"], "--url"), opt(r["command"], "--publish-url")
    broker = (r["profile"] or {}).get("broker")
    by_profile.setdefault(p["profile"], []).append((pids, url, pub, r.get("broker")))
    if p["profile"] == "loopback":
        check_eq((broker, r.get("broker")), (None, None), "run %d: no broker in memory" % n)
        return
    check_eq(broker, {"redis": {"instances": 1, "workers": 1}, "redis-two": {"instances": 2, "workers": 1},
                      "redis-workers": {"instances": 1, "workers": 2}}[p["profile"]], "run %d profile.broker" % n)
    b = r["broker"]
    check(b["cpu_s"] > 0 and b["cpu_us_per_delivered"] > 0 and b["rss_bytes"] > 1 << 20,
          "run %d redis-server figures %r" % (n, b))
    d = res["delivery"]
    check_eq(b["deliveries"], round(d["delivered"] * d["published_total"] / d["published"]),
             "run %d broker deliveries: the whole run's" % n)
    want = {"redis": 1, "redis-two": 2, "redis-workers": 3}[p["profile"]]
    check_eq(len(pids), want, "run %d --server-pid %r (%s)" % (n, pids, p["profile"]))
    check_eq(pub != url, p["profile"] == "redis-two", "run %d: publisher on A, subscribers on B: %s, %s"
             % (n, pub, url))


def check_manifest(m, out):
    check(m["broker"]["version"] and m["broker"]["version"].startswith("Redis server v="),
          "redis-server version %r" % m["broker"])
    check_eq(m["broker"]["version_command"], ["redis-server", "--version"], "version command")
    folders = []
    for prof in ("redis", "redis-two", "redis-workers"):
        info = m["profiles"][prof]
        cmd = info["broker"]["redis_command"]
        check_eq(cmd[:2] + cmd[3:6] + cmd[7:], ["redis-server", "--port", "--bind", "127.0.0.1", "--dir",
                                                "--save", "", "--appendonly", "no"], "%s redis command" % prof)
        check_eq(info["broker"]["redis_exit_status"], 0, "%s redis-server exit status" % prof)
        srv = info["servers"]["pushpull"]
        check(opt(srv["command"], "--broker") == "redis://127.0.0.1:%s" % cmd[2], "%s --broker %r"
              % (prof, srv["command"]))
        check_eq(srv["exit_status"], 0, "%s pushpull-server exit status" % prof)
        folders.append(cmd[6])
    two = m["profiles"]["redis-two"]["servers"]["pushpull"]
    check_eq(two["publisher"]["exit_status"], 0, "instance A's exit status")
    check_eq(opt(m["profiles"]["redis-workers"]["servers"]["pushpull"]["command"], "--workers"), "2", "--workers")
    check(not m.get("incidents"), "incidents %r" % m.get("incidents"))
    return folders


def t_real():
    check(shutil.which("redis-server"), "no redis-server: scripts/install-deps.sh installs it (redis-server)")
    work = tempfile.mkdtemp(prefix="ppbench-broker-")
    out = os.path.join(work, "out")
    scn = os.path.join(work, "broker-test.scn")
    with open(scn, "w") as f:
        f.write(SCENARIO)
    args = ["/usr/bin/python3", BENCH, scn, "--out", out]
    t0 = time.monotonic()
    r = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=90, cwd=REPO,
                       env=dict(os.environ, PUSHPULL_BIN=BIN))
    diag("bench.py took %.1f s" % (time.monotonic() - t0))
    ok = False
    try:
        check_eq(r.returncode, 0, "exit status; stderr:\n%s" % r.stderr.decode()[-3000:])
        with open(os.path.join(out, "runs.jsonl")) as f:
            runs = [json.loads(line) for line in f if line.strip()]
        check_eq(len(runs), 7, "runs")
        by_profile = {}
        for run in runs:
            check_run(run, by_profile)
        for prof, seen in by_profile.items():
            check_eq(len({tuple(x[0]) for x in seen}), 1, "%s: one set of servers for its runs" % prof)
        redis_pids = {x[3]["pid"] for seen in by_profile.values() for x in seen if x[3]}
        check_eq(len(redis_pids), 3, "one redis-server per broker profile: %r" % redis_pids)
        with open(os.path.join(out, "manifest.json")) as f:
            folders = check_manifest(json.load(f), out)
        left = [p for seen in by_profile.values() for x in seen for p in x[0] if alive(p)]
        left += [p for p in redis_pids if alive(p)]
        check(not left, "processes left running after the runner: %r" % left)
        check(not [d for d in folders if os.path.exists(d)], "redis temporary folders left: %r" % folders)
        with open(os.path.join(out, "report.md"), encoding="utf-8") as f:
            md = f.read()
        check("## What the broker hop costs" in md and "redis-two / loopback" in md and
              "redis-workers / redis" in md, "report broker section")
        ok = True
    finally:
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            diag("kept %s" % work)


def main():
    tap = Tap(__file__, watchdog_s=150)
    tap.run("bench.py on loopback, redis, redis-two, redis-workers for real: every run ok, lost 0, redis-server's "
            "CPU and RSS per run, A and B, the workers in --server-pid, command and version in the manifest, "
            "nothing left running", t_real)
    tap.done()


if __name__ == "__main__":
    main()
