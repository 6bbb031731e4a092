"""scripts/bench.py for real: bench/smoke.scn (four one-second runs on
loopback) into a temporary folder, then the folder against
docs/RESULTS-FORMAT.md: exit 0, every manifest field, one ok runs.jsonl line
per run with nothing lost, client/<n>.json, the server's /stats under the
profile's name. Then, when bin/pushpull-relay is built, the same scenario on
the wan profile through the relay (--network relay, so a machine with netem
tests the relay too): profile.method "relay" and an SSE p50 latency of at
least the profile's 40 ms one-way delay. Everything on 127.0.0.1, bounded."""

import json
import os
import shutil
import subprocess
import tempfile
import time

from harness import Tap, BIN, check, check_eq, diag

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(REPO, "scripts", "bench.py")
RELAY = os.path.join(BIN, "pushpull-relay")
TRANSPORTS = ["poll", "longpoll", "sse", "ws"]

MANIFEST_FIELDS = {
    "": ["schema", "scenario", "started_utc", "finished_utc", "machine", "versions", "profiles",
         "server_command", "runs", "failed"],
    "scenario": ["name", "file", "text"],
    "machine": ["cpu_model", "cores", "memory_bytes", "kernel", "hostname"],
    "versions": ["pushpull", "git_revision", "libcurl", "libmicrohttpd", "libevent", "wslay", "jansson",
                 "openssl", "gnuplot"],
}
RUN_FIELDS = ["n", "section", "repeat", "params", "profile", "command", "status", "failure", "elapsed_s",
              "machine_busy", "result"]


class Bench:
    def __init__(self, *args, timeout=120, scn="bench/smoke.scn"):
        self.dir = tempfile.mkdtemp(prefix="ppbench-")
        self.out = os.path.join(self.dir, "out")
        self.args = ["/usr/bin/python3", BENCH, scn, "--out", self.out] + list(args)
        t0 = time.monotonic()
        try:
            r = subprocess.run(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=timeout, cwd=REPO,
                               env=dict(os.environ, PUSHPULL_BIN=BIN))
            self.rc, self.stdout, self.stderr = r.returncode, r.stdout.decode(), r.stderr.decode()
        except subprocess.TimeoutExpired as e:   # subprocess.run kills it
            self.rc = "timeout"
            self.stdout = (e.stdout or b"").decode(errors="replace")
            self.stderr = (e.stderr or b"").decode(errors="replace")
        self.elapsed = time.monotonic() - t0
        self.ok = False

    def describe(self):
        return "%s: exit %s after %.1fs\nstderr:\n%s\nstdout:\n%s" % (
            " ".join(self.args), self.rc, self.elapsed, self.stderr[-3000:], self.stdout[-2000:])

    def json(self, name):
        with open(os.path.join(self.out, name)) as f:
            return json.load(f)

    def runs(self):
        with open(os.path.join(self.out, "runs.jsonl")) as f:
            return [json.loads(line) for line in f if line.strip()]

    def cleanup(self):
        if self.ok:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            diag("kept %s" % self.out)


def check_folder(b, profile, method):
    check_eq(b.rc, 0, "exit status; " + b.describe())
    last = b.stdout.strip().splitlines()[-1] if b.stdout.strip() else ""
    if os.path.exists(os.path.join(REPO, "scripts", "report.py")):
        check_eq(last, "report: %s" % os.path.join(b.out, "report.md"), "last stdout line")
        check(os.path.exists(os.path.join(b.out, "report.md")), "no report.md")
    else:
        check(last.startswith("results: "), "last stdout line %r" % last)

    m = b.json("manifest.json")
    for where, fields in MANIFEST_FIELDS.items():
        obj = m if not where else m[where]
        missing = [f for f in fields if f not in obj]
        check(not missing, "manifest%s lacks %s" % ("." + where if where else "", missing))
    check_eq(m["schema"], "pushpull-results/1", "schema")
    check_eq((m["scenario"]["name"], m["scenario"]["file"]), ("smoke", "bench/smoke.scn"), "scenario")
    with open(os.path.join(REPO, "bench", "smoke.scn")) as f:
        check_eq(m["scenario"]["text"], f.read(), "scenario text")
    check_eq((m["runs"], m["failed"]), (4, 0), "manifest run counts")
    check(m["finished_utc"] and m["finished_utc"] >= m["started_utc"], "finished_utc %r" % m["finished_utc"])
    check(isinstance(m["machine"]["cores"], int) and m["machine"]["cores"] >= 1, "cores")
    check(m["machine"]["kernel"].startswith("Linux "), "kernel %r" % m["machine"]["kernel"])
    check(m["versions"]["pushpull"], "pushpull version %r" % m["versions"]["pushpull"])
    check(isinstance(m["server_command"], list) and any("pushpull-server" in x for x in m["server_command"]),
          "server_command %r" % m["server_command"])
    check_eq(list(m["profiles"]), [profile], "manifest profiles")
    pr = m["profiles"][profile]
    for f in ("rtt_ms", "rate_bits", "method", "why"):
        check(f in pr, "manifest.profiles.%s lacks %s" % (profile, f))
    check_eq(pr["method"], method, "manifest profile method")
    check(not m.get("incidents"), "incidents (server or relay trouble): %r" % m.get("incidents"))
    check_eq(pr.get("server_exit_status"), 0, "server exit status on SIGTERM")

    runs = b.runs()
    check_eq(len(runs), 4, "runs.jsonl lines")
    for i, r in enumerate(runs, 1):
        missing = [f for f in RUN_FIELDS if f not in r]
        check(not missing, "run %d lacks %s" % (i, missing))
        check_eq((r["n"], r["section"], r["repeat"], r["status"], r["failure"]), (i, "main", 1, "ok", None),
                 "run %d (failure %r)" % (i, r.get("failure")))
        check(r["machine_busy"] is None or 0 <= r["machine_busy"] <= 1, "run %d machine_busy %r"
              % (i, r["machine_busy"]))
        check_eq(r["params"]["transport"], TRANSPORTS[i - 1], "run %d transport" % i)
        check_eq(r["params"]["profile"], profile, "run %d params.profile" % i)
        check_eq((r["profile"]["name"], r["profile"]["method"]), (profile, method), "run %d profile" % i)
        check(any("pushpull-client" in x for x in r["command"]), "run %d command %r" % (i, r["command"]))
        res = r["result"]
        check(isinstance(res, dict), "run %d result %r" % (i, res))
        check_eq((res["transport"], res["status"]), (TRANSPORTS[i - 1], "ok"), "run %d result" % i)
        check(res["delivery"]["expected"] > 0, "run %d expected nothing" % i)
        check_eq(res["delivery"]["lost"], 0, "run %d lost" % i)
        check(r["elapsed_s"] > 0, "run %d elapsed_s" % i)
        path = os.path.join(b.out, "client", "%d.json" % i)
        check(os.path.exists(path), "no %s" % path)
        with open(path) as f:
            doc = json.load(f)
        check_eq(doc["runs"][0], res, "run %d: result is the client JSON's runs[0]" % i)
    st = b.json("server-stats.json")
    check_eq(list(st), [profile], "server-stats.json profiles")
    check(isinstance(st[profile], dict) and st[profile].get("published", 0) > 0, "stats %r" % st[profile])
    return runs


def t_loopback():
    b = Bench()
    try:
        check_folder(b, "loopback", "none")
        b.ok = True
    finally:
        b.cleanup()


def t_wan():
    b = Bench("--profiles", "wan", "--duration", "1s", "--network", "relay")
    try:
        runs = check_folder(b, "wan", "relay")
        m = b.json("manifest.json")
        check_eq((m["profiles"]["wan"]["rtt_ms"], m["profiles"]["wan"]["rate_bits"]), (80, None), "wan profile")
        check(any("pushpull-relay" in x for x in m["profiles"]["wan"].get("relay_command", [])),
              "relay_command %r" % m["profiles"]["wan"].get("relay_command"))
        sse = runs[2]["result"]["latency_us"]
        # The publisher reaches the server directly; a message crosses the
        # emulated network once, to the subscriber: one-way delay 40 ms.
        check_eq(runs[2]["profile"].get("publish_path"), "direct", "publish_path")
        check(sse["p50"] >= 40_000, "sse p50 %d us through an 80 ms round trip (40 ms one way)" % sse["p50"])
        check(sse["p50"] < 1_000_000, "sse p50 %d us: far more than the profile's round trip" % sse["p50"])
        b.ok = True
    finally:
        b.cleanup()


CLIENTS_SCN = """[scenario]
name = clients
description = One workload over two client processes.

[defaults]
transports  = sse ws
subscribers = 5
channels    = 2
rate        = 40
duration    = 1s
warmup      = 300ms
drain       = 1s

[section split]
clients     = 2
"""


def t_clients():
    """clients = 2: a --no-publish process, then the publishing one, merged
    into the run's client JSON as one run of the workload."""
    d = tempfile.mkdtemp(prefix="ppscn-")
    scn = os.path.join(d, "clients.scn")
    with open(scn, "w") as f:
        f.write(CLIENTS_SCN)
    b = Bench(scn=scn)
    try:
        check_eq(b.rc, 0, "exit status; " + b.describe())
        runs = b.runs()
        check_eq([r["params"]["transport"] for r in runs], ["sse", "ws"], "runs")
        for r in runs:
            check_eq((r["status"], r["failure"], r["params"]["clients"]), ("ok", None, 2), "run %d" % r["n"])
            cmds = r["commands"]
            check_eq(len(cmds), 3, "run %d: two client commands and the merge: %r" % (r["n"], cmds))
            check_eq(["--no-publish" in c for c in cmds[:2]], [True, False], "the first subscribes only")
            check_eq([c[c.index("--subscribers") + 1] for c in cmds[:2]], ["3", "2"], "5 subscribers split")
            check_eq(len({c[c.index("--run-tag") + 1] for c in cmds[:2]}), 1, "one --run-tag")
            check("--merge" in cmds[2], "the third is the merge: %r" % cmds[2])
            with open(os.path.join(b.out, "client", "%d.json" % r["n"])) as f:
                doc = json.load(f)
            check_eq(doc["runs"][0], r["result"], "result = the merged JSON's run")
            check_eq((doc["merged"]["processes"], doc["merged"]["shared_workload"]), (2, True), "merged")
            check_eq((doc["config"]["subscribers"], doc["config"]["channels"]), (5, 2), "the workload's")
            dl = r["result"]["delivery"]
            parts = []
            for i in (1, 2):
                with open(os.path.join(b.out, "client", "%d.part%d.json" % (r["n"], i))) as f:
                    parts.append(json.load(f)["runs"][0]["delivery"])
            check_eq(parts[0]["published"], 0, "the --no-publish part published nothing")
            check_eq(dl["expected"], parts[0]["expected"] + parts[1]["expected"], "expected: the parts'")
            # 5 subscribers on 2 channels: 3 and 2 listeners per message
            check(dl["published"] >= 35 and dl["published"] * 2 < dl["expected"] < dl["published"] * 3,
                  "expected %d of %d published" % (dl["expected"], dl["published"]))
            check_eq((dl["delivered"], dl["lost"]), (dl["expected"], 0), "run %d delivered, lost" % r["n"])
        b.ok = True
    finally:
        b.cleanup()
        shutil.rmtree(d, ignore_errors=True)


def main():
    tap = Tap(__file__, watchdog_s=280)
    tap.run("bench.py, clients = 2: a --no-publish process and the publisher, merged as one run", t_clients)
    tap.run("bench.py bench/smoke.scn: 4 ok runs on loopback, every documented file and field", t_loopback)
    if os.access(RELAY, os.X_OK):
        tap.run("bench.py --profiles wan: through pushpull-relay, sse p50 >= 40 ms one way", t_wan)
    else:
        tap.ok(True, "# SKIP relay not built (%s)" % RELAY)
    tap.done()


if __name__ == "__main__":
    main()
