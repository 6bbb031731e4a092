"""The report's "Servers" part (scripts/reportlib/servers.py): the verdict
rule by import (agree within 25 % or the noise floor, differ beyond, zeros
and negatives); then scripts/report.py on the committed three-server
fixture tests/fixtures/results-servers/ (made by make_fixture_servers.py):
a table per transport, agree and differ sentences whose numbers come from
runs.jsonl, "not offered" rows and sentences, noise that is not called a
difference, the other parts on the first server only; and no Servers part
on a single-server folder. No server needed."""

import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unicodedata

from harness import Tap, check, check_eq

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from reportlib import servers  # noqa: E402
from reportlib.text import sig  # noqa: E402

REPORT = os.path.join(ROOT, "scripts", "report.py")
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "results-servers")
SMALL = os.path.join(ROOT, "tests", "fixtures", "results-small")
MAKE = os.path.join(ROOT, "tests", "fixtures", "make_fixture_servers.py")
PY = "/usr/bin/python3"
_tmp = tempfile.mkdtemp(prefix="pp-report-servers-")
state = {}


def render(src, name):
    d = os.path.join(_tmp, name)
    shutil.copytree(src, d)
    p = subprocess.run([PY, REPORT, d], capture_output=True, timeout=60)
    check_eq(p.returncode, 0, "report.py exit status (%s)" % p.stderr.decode()[-500:])
    with open(os.path.join(d, "report.md"), encoding="utf-8") as f:
        return f.read()


def md():
    if "md" not in state:
        state["md"] = render(FIXTURE, "fx")
    return state["md"]


def part(text, heading, level="##"):
    m = re.search(r"^%s %s[^\n]*\n(.*?)(?=^#{2,%d} |\Z)" % (level, re.escape(heading), len(level)), text,
                  re.M | re.S)
    check(m is not None, "no '%s %s'; headings: %s" % (level, heading, re.findall(r"^#+ .*$", text, re.M)))
    return m.group(1)


def rows(text, workload=None):
    """{(workload, server): [cells]} of the markdown table rows in text."""
    out, cur = {}, None
    for line in text.splitlines():
        if not line.startswith("| ") or line.startswith("| workload"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        cur = cells[0] or cur
        out[(cur, cells[1].split(" (run")[0])] = cells[2:]
    return out


def fixture_runs():
    with open(os.path.join(FIXTURE, "runs.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def run_of(transport, subscribers, server):
    for r in fixture_runs():
        p = r["params"]
        if (p["transport"], p["subscribers"], p["server"]) == (transport, subscribers, server):
            return r
    raise AssertionError("no %s run on %s with %d subscribers in the fixture" % (transport, server, subscribers))


# ------------------------------------------------------------------ by import

def t_judge():
    j = servers.judge
    check_eq(j({"a": 1.0, "b": 1.25}, 0).kind, "agree", "25 % apart")
    v = j({"a": 1.0, "b": 1.26}, 0)
    check_eq((v.kind, round(v.ratio, 2), v.best, v.worst), ("differ", 1.26, "a", "b"), "26 % apart, lower better")
    v = j({"a": 100.0, "b": 50.0}, 0, servers.HIGHER)
    check_eq((v.kind, v.best, v.worst), ("differ", "a", "b"), "higher better")
    check_eq(j({"a": 0.05, "b": 0.14}, 0.1).kind, "agree", "2.8x apart but within the floor")
    check_eq(j({"a": 0.05, "b": 0.16}, 0.1).kind, "differ", "beyond the floor")
    check_eq(j({"a": 0, "b": 0}, 0).kind, "agree", "both 0")
    v = j({"a": 0, "b": 3}, 0)
    check_eq((v.kind, v.ratio, v.best), ("differ", None, "a"), "0 against 3")
    v = j({"a": -5000.0, "b": 2000.0}, 100)
    check_eq((v.kind, v.ratio), ("differ", None), "a negative and a positive")
    check_eq(j({"a": 1.0, "b": None}, 0).kind, None, "one value: no verdict")
    check_eq(j({"a": 1.0, "b": 9.0, "c": 1.1}, 0).worst, "b", "three servers: the extremes")


def t_names():
    class R:
        def __init__(self, s):
            self.server = s
    runs = [R("nchan"), R("pushpull"), R("extra")]
    check_eq(servers.server_names(runs, {"servers": {"pushpull": {}, "nchan": {}, "gone": {}}}),
             ["pushpull", "nchan", "extra"], "manifest order, then run order, only servers that ran")
    check_eq(servers.render([R("pushpull")] * 2, {}), "", "one server: no Servers part")


# ------------------------------------------------------------------ the fixture

def t_fixture_up_to_date():
    d = os.path.join(_tmp, "regen")
    p = subprocess.run([PY, MAKE, d], capture_output=True, timeout=60)
    check_eq(p.returncode, 0, "make_fixture_servers.py exit status (%s)" % p.stderr.decode()[-500:])
    for name in ("manifest.json", "runs.jsonl"):
        check(filecmp.cmp(os.path.join(d, name), os.path.join(FIXTURE, name), shallow=False),
              "tests/fixtures/results-servers/%s differs from what make_fixture_servers.py writes" % name)


def t_tables():
    text = part(md(), "Servers")
    for t in ("short poll", "long poll", "SSE", "WebSocket"):
        part(text, t, "###")
    srv = rows(text.split("\n### ")[0])
    check(("nchan", "nchan") in srv and "nginx/1.22.1" in " ".join(srv[("nchan", "nchan")]), "servers table %r" % srv)
    ws = rows(part(text, "WebSocket", "###"))
    check_eq(len(ws), 6, "2 workloads x 3 servers")
    for server in ("pushpull", "nchan", "socketio"):
        r = run_of("ws", 100, server)["result"]
        cells = ws[("100 subscribers × 100 msg/s", server)]
        check_eq(cells[0].split(" (")[0], sig(r["latency_us"]["p50"] / 1000), "%s p50 cell" % server)
        check_eq(cells[6].split(" (")[0], sig(r["cost"]["server_cpu_us_per_delivered"]), "%s CPU cell" % server)
        check_eq(cells[7].split(" (")[0], sig(r["cost"]["server_rss_per_subscriber_bytes"]), "%s RSS cell" % server)


def t_differ():
    ws = part(part(md(), "Servers"), "WebSocket", "###")
    pp, nc = (run_of("ws", 100, s)["result"]["latency_us"]["p50"] / 1000 for s in ("pushpull", "nchan"))
    check(pp / nc > servers.AGREE_RATIO, "the fixture's WebSocket p50s (%s, %s) should differ" % (pp, nc))
    want = "They differ on p50 latency in 1 of 2 workloads, at 100 subscribers × 100 msg/s: nchan %s ms against " \
           "pushpull %s ms, %s× lower on nchan. The implementation decides it." % (sig(nc), sig(pp), sig(pp / nc, 2))
    check(want in ws, "no sentence %r in:\n%s" % (want, ws))
    cells = rows(ws)[("100 subscribers × 100 msg/s", "pushpull")]
    check(cells[0].endswith("(%s×)" % sig(pp / nc, 2)), "the larger p50 carries the ratio: %r" % cells[0])
    lp = part(part(md(), "Servers"), "long poll", "###")
    lost = run_of("longpoll", 100, "nchan")["result"]["delivery"]["lost"]
    check(lost > 0, "the fixture's nchan long poll should lose messages")
    check("They differ on messages lost" in lp and "against nchan %d," % lost in lp, "lost sentence in:\n%s" % lp)
    check_eq(rows(lp)[("100 subscribers × 100 msg/s", "nchan")][3], "%d (≠)" % lost, "lost cell")


def t_agree():
    sse = part(part(md(), "Servers"), "SSE", "###")
    b = [run_of("sse", 100, s)["result"]["cost"]["bytes_per_delivered"] for s in ("pushpull", "nchan")]
    check(max(b) / min(b) <= servers.AGREE_RATIO, "the fixture's SSE bytes per message should agree: %r" % b)
    m = re.search(r"^- The servers agree on ([^:]*): the transport decides these\.$", sse, re.M)
    check(m is not None, "no agree sentence in:\n%s" % sse)
    for words in ("requests per message", "bytes per message", "messages lost"):
        check(words in m.group(1), "%r missing from the agree sentence %r" % (words, m.group(0)))
    check("p50 latency" not in m.group(1), "p50 latency differs at 100 subscribers: %r" % m.group(0))


def t_noise():
    ws = part(part(md(), "Servers"), "WebSocket", "###")
    p99 = [run_of("ws", 1, s)["result"]["latency_us"]["p99"] for s in ("pushpull", "nchan")]
    check(max(p99) / min(p99) > servers.AGREE_RATIO, "fixture: 1-subscriber p99s should be > 25 %% apart")
    check("(" not in rows(ws)[("1 subscriber × 10 msg/s", "pushpull")][1], "a p99 of 30 samples is not compared")
    check("p99 latency in the one workload where it can be compared" in ws, "p99 sentence in:\n%s" % ws)


class FakeRun:
    def __init__(self, delivered, source):
        self.result = {"delivery": {"delivered": delivered}, "cost": {"server_cpu_source": source}}

    def r(self, path):
        return servers.get(self.result, path)


def t_cpu_floor():
    cpu = next(f for f in servers.FIGURES if f.key == "cpu")
    stats = [FakeRun(30, "stats"), FakeRun(60, "stats")]
    check_eq(round(cpu.floor(stats), 6), round(servers.CLOCK_TICK_US / 30 + servers.CLOCK_TICK_US / 60, 6),
             "from /stats: one tick per run over its deliveries")
    check_eq(cpu.floor([FakeRun(30, "proc"), FakeRun(30, "proc")]), 0, "from /proc (ns): no floor")
    v = servers.judge({"a": 14.0, "b": 20.0}, cpu.floor(stats))
    check_eq(v.kind, "agree", "1.4x apart over 30 and 60 messages from /stats is within the ticks")
    check_eq(servers.judge({"a": 14.0, "b": 20.0}, 0).kind, "differ", "the same from /proc differs")


def t_not_offered():
    text = part(md(), "Servers")
    for t in ("short poll", "SSE"):
        body = part(text, t, "###")
        for w in ("1 subscriber × 10 msg/s", "100 subscribers × 100 msg/s"):
            check_eq(rows(body)[(w, "socketio")][0], "not offered", "%s %s socketio" % (t, w))
        check("- socketio does not offer %s (2 of its 2 runs are marked not offered)." % t in body,
              "not-offered sentence for %s" % t)
    check("not offered" not in part(text, "WebSocket", "###"), "socketio offers WebSocket")
    head = md().split("## How to read")[0]
    check("24 client runs, 0 failed, 4 not offered by their server" in head, "runs line in the header")
    check("4 ok, 4 not offered, 0 failed" in text, "socketio's run counts")


def t_rest_first_server():
    every = part(md(), "Every run")
    ns = [int(line.split("|")[1]) for line in every.splitlines() if re.match(r"\| +\d+ +\|", line)]
    want = [r["n"] for r in fixture_runs() if r["server"] == "pushpull"]
    check_eq(ns, want, "Every run lists pushpull's runs (the others are in the Servers part)")
    check("pushpull, nchan, socketio; the parts after \"Servers\" cover pushpull alone" in md(), "header says so")
    check("Every run of pushpull (the other servers' runs are in the Servers part) in run order" in every,
          "Every run says whose runs it lists")


def t_aligned():
    for block in re.findall(r"((?:^\|.*\n)+)", part(md(), "Servers"), re.M):
        widths = {sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in line)
                  for line in block.splitlines()}
        check_eq(len(widths), 1, "table lines of one width:\n%s" % block[:400])


def t_single_server():
    text = render(SMALL, "small")
    check("## Servers" not in text, "a single-server folder has no Servers part")
    check("not offered" not in text, "nothing is marked not offered")


def main():
    tap = Tap(__file__, watchdog_s=120)
    try:
        tap.run("servers.judge: 25 %, noise floor, higher/lower better, zeros, negatives, one value", t_judge)
        tap.run("servers.server_names and render: manifest order; one server renders nothing", t_names)
        tap.run("the committed fixture is what make_fixture_servers.py writes", t_fixture_up_to_date)
        tap.run("Servers part: servers table, a table per transport, cells from runs.jsonl", t_tables)
        tap.run("differ sentences: ratio and server from the data; the larger cell carries it; lost (≠)", t_differ)
        tap.run("agree sentence: requests, bytes and lost on SSE, the transport decides", t_agree)
        tap.run("noise is not a difference: a p99 of 30 samples is not compared", t_noise)
        tap.run("server CPU floor: a clock tick per run from /stats, none from /proc (schedstat)", t_cpu_floor)
        tap.run("not offered: rows, sentence, counts", t_not_offered)
        tap.run("the parts after Servers cover the first server (pushpull)", t_rest_first_server)
        tap.run("Servers tables are aligned as plain text", t_aligned)
        tap.run("single-server folder: no Servers part", t_single_server)
    finally:
        shutil.rmtree(_tmp, ignore_errors=True)
    tap.done()


if __name__ == "__main__":
    main()
