"""scripts/report.py on the committed fixture tests/fixtures/results-small/
(made by tests/fixtures/make_fixture.py): the report's tables, model
ratios and flags, the failed run, the generated sentences, the charts (valid
SVG), plain-text alignment, re-rendering, and clear errors for a corrupt
folder. No server needed."""

import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unicodedata
import xml.etree.ElementTree as ET

from harness import Tap, check, check_eq

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REPORT = os.path.join(ROOT, "scripts", "report.py")
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "results-small")
MAKE_FIXTURE = os.path.join(ROOT, "tests", "fixtures", "make_fixture.py")
PY = "/usr/bin/python3"

_tmp = tempfile.mkdtemp(prefix="pp-report-")
state = {}


HAVE_GNUPLOT = shutil.which("gnuplot") is not None


def run_report(folder, env=None):
    p = subprocess.run([PY, REPORT, folder], capture_output=True, timeout=60, env=env)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def fixture_copy(name):
    d = os.path.join(_tmp, name)
    shutil.copytree(FIXTURE, d)
    return d


def fixture_runs():
    with open(os.path.join(FIXTURE, "runs.jsonl"), encoding="utf-8") as f:
        return {r["n"]: r for r in (json.loads(l) for l in f if l.strip())}


def sig3(x):
    """3 significant digits, the report's format for the values used here."""
    e = len(str(int(abs(x)))) if abs(x) >= 1 else 0
    return "%.*f" % (max(0, 3 - e), x) if abs(x) < 100 else str(int(round(x)))


def section(text, title):
    """The body of the '## title' section (up to the next '## ')."""
    m = re.search(r"^## %s[^\n]*\n(.*?)(?=^## |\Z)" % re.escape(title), text, re.M | re.S)
    check(m is not None, "no '## %s' section; headings: %s" % (title, re.findall(r"^##+ .*$", text, re.M)))
    return m.group(1)


def table_row(text, first_cells):
    """Lines of markdown tables whose first cells are first_cells."""
    out = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[:len(first_cells)] == first_cells:
            out.append(line)
    return out


def width(s):
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in s
               if not unicodedata.combining(c))


def twin(src, n, section, profile, latency, srv):
    """A copy of fixture run src as run n on another profile: latency and
    server CPU per delivered message scaled."""
    r = json.loads(json.dumps(src))
    r["n"], r["section"] = n, section
    r["params"]["profile"] = profile["name"]
    r["profile"] = dict(profile)
    for k in ("p50", "p99", "mean", "min", "max"):
        r["result"]["latency_us"][k] = r["result"]["latency_us"][k] * latency
    r["result"]["cost"]["server_cpu_us_per_delivered"] *= srv
    return r


def extended_fixture(name, runs, extra, profiles):
    """A copy of the fixture whose runs.jsonl is runs (fixture runs, maybe
    edited) and extra, with profiles added to the manifest."""
    d = fixture_copy(name)
    with open(os.path.join(d, "runs.jsonl"), "w", encoding="utf-8") as f:
        for r in list(runs.values()) + extra:
            f.write(json.dumps(r) + "\n")
    mpath = os.path.join(d, "manifest.json")
    with open(mpath, encoding="utf-8") as f:
        m = json.load(f)
    m["profiles"].update(profiles)
    m["runs"] = m["runs"] + len(extra)
    m["failed"] = m["failed"] + sum(r["status"] == "failed" for r in extra)
    with open(mpath, "w", encoding="utf-8") as f:
        json.dump(m, f)
    return d


def tls_folder():
    """The fixture plus tls runs: twins of runs 5-8 (100 subscribers, loopback)
    with twice the server CPU, 1.5 times the client CPU and 1.25 times the
    latency; one tls run without a loopback twin (21) and a failed one (22)."""
    runs = fixture_runs()
    tls_profile = {"name": "tls", "rtt_ms": 0, "rate_bits": None, "method": "none", "tls": True,
                   "publish_path": "direct"}
    extra = []
    for n, src in ((17, 5), (18, 6), (19, 7), (20, 8), (21, 8), (22, 8)):
        r = twin(runs[src], n, "tls", tls_profile, 1.25, 2)
        r["result"]["cost"]["client_cpu_us_per_delivered"] *= 1.5
        if n == 21:
            r["params"]["subscribers"] = 7
        if n == 22:
            r["status"], r["failure"], r["result"] = "failed", "the client could not verify the certificate", None
        extra.append(r)
    return extended_fixture("tls", runs, extra, {"tls": {"rtt_ms": 0, "rate_bits": None, "method": "none",
                                                         "tls": True, "why": "direct over HTTPS and wss://"}})


def t_tls_section():
    rc, out, err = run_report(fixture_copy("notls"))
    check(rc == 0, "report on the fixture: exit %s: %s" % (rc, err))
    check("## What TLS costs" not in out and "## What TLS costs" not in open(
        os.path.join(_tmp, "notls", "report.md"), encoding="utf-8").read(), "a TLS section without tls runs")
    d = tls_folder()
    rc, out, err = run_report(d)
    check(rc == 0, "report with tls runs: exit %s: %s" % (rc, err))
    with open(os.path.join(d, "report.md"), encoding="utf-8") as f:
        text = f.read()
    body = section(text, "What TLS costs")
    runs = fixture_runs()
    for t, plain, tls in (("short poll", 5, 17), ("long poll", 6, 18), ("SSE", 7, 19), ("WebSocket", 8, 20)):
        check(re.search(r"^### %s: 100 subscribers, 10 msg/s, 64 B messages, .*keep-alive on" % t, body, re.M), "no table for %s:\n%s" % (t, body))
        check(table_row(body, ["figure", "loopback (run %d)" % plain, "tls (run %d)" % tls, "tls / loopback"]),
              "%s: header naming runs %d and %d" % (t, plain, tls))
        srv = runs[plain]["result"]["cost"]["server_cpu_us_per_delivered"]
        rows = [r for r in table_row(body, ["srv µs/msg", sig3(srv), sig3(srv * 2), "2.00×"])]
        check(rows, "%s: srv µs/msg %s -> %s, 2.00×" % (t, sig3(srv), sig3(srv * 2)))
    check(table_row(body, ["cli µs/msg", "21.0", "31.5", "1.50×"]), "SSE's cli µs/msg row:\n%s" % body)
    check(table_row(body, ["p50 ms", "1.05", "1.31", "1.25×"]), "SSE's p50 row")
    check("Server CPU per delivered message, tls / loopback: short poll ×2.00, long poll ×2.00, "
          "SSE ×2.00, WebSocket ×2.00." in body, "summary sentence:\n%s" % body)
    check("Without a loopback twin: run 21 (WebSocket)." in body, "the lone tls run")
    check("Failed tls runs: run 22 (WebSocket): the client could not verify the certificate." in body,
          "the failed tls run")
    check_eq(len(re.findall(r"^### ", body, re.M)), 4, "tables in the TLS section")


# ------------------------------------------------------------------ tests

def t_render_fixture():
    d = fixture_copy("fx")
    rc, out, err = run_report(d)
    check_eq(rc, 0, "report.py exit status (stderr: %s)" % err.strip())
    if HAVE_GNUPLOT:
        check("chart not drawn" not in err, "a chart was not drawn: %s" % err.strip())
    path = os.path.join(d, "report.md")
    check(os.path.exists(path), "no report.md in %s" % d)
    with open(path, encoding="utf-8") as f:
        state["md"] = f.read()
    state["dir"] = d


def md():
    check("md" in state, "the fixture report was not rendered (see the first test)")
    return state["md"]


def t_header():
    text = md()
    for want in ("# pushpull results: small", "Test fixture: the four transports", "abc1234",
                 "AMD EPYC (fixture)", "2026-11-25T08:15:00Z", "16 client runs, 1 failed",
                 "no netem qdisc in this kernel"):
        check(want in text, "header lacks %r" % want)
    prof = table_row(text, ["wan", "80"])
    check(prof and "relay" in prof[0], "profiles table has no 'wan | 80 | ... | relay' row: %r" % prof)
    check(table_row(text, ["loopback", "0"]) and "none" in table_row(text, ["loopback", "0"])[0],
          "profiles table has no loopback row with method none")


def t_failed_run_listed():
    text = md()
    reason = "8 of 10 subscribers could not connect within the connect timeout (5 s)"
    head = text.split("## How to read")[0]
    check(reason in head, "the failed run's reason is not in the header")
    check(re.search(r"run 16 \(WebSocket", head), "the failed run is not named as run 16 (WebSocket)")
    rows = table_row(text, ["16", "profiles", "WebSocket"])
    check(rows and "FAILED: " + reason in rows[0], "every-run table hides the failure: %r" % rows)


def t_headline_table():
    body = section(md(), "Headline")
    for col in ("p50 ms", "p99 ms", "mean ms", "model ms", "mean/model", "deliv/s", "req/msg", "model req/msg",
                "B/msg", "srv µs/msg", "cli µs/msg", "lost", "dup", "reconn"):
        check("| %s " % col in body or " %s |" % col in body, "headline table lacks column %r" % col)
    for label in ("short poll", "long poll", "SSE", "WebSocket"):
        check_eq(len(table_row(body, [label])), 2, "headline rows of %s (one per subscriber count)" % label)
    check("### 10 subscribers" in body and "### 100 subscribers" in body,
          "headline has no table per subscriber count")
    # The short poll at 100 subscribers: the exact req/msg of the fixture and the model's 1/(P·r) = 1.
    runs = fixture_runs()
    r5 = runs[5]["result"]
    rows = table_row(body.split("### 100 subscribers")[1], ["short poll"])
    cells = [c.strip() for c in rows[0].strip().strip("|").split("|")]
    check_eq(cells[7], "1.03", "short poll req/msg (100 subscribers)")
    check_eq(cells[8], "1.00", "short poll model req/msg (1/(P·r) = 1/(0.1 s × 10/s))")
    check_eq(cells[1], sig3(r5["latency_us"]["p50"] / 1000), "short poll p50 ms")


def t_flags():
    """Run 6 (long poll, 100 subscribers, 24 µs of server CPU per delivery)
    was flagged by the model without load (mean 2.5× d + s); fan-out
    explains it now: (100 - 1)/2 × 24 µs. Run 9 (10 ms polls over an 80 ms
    round trip) is off the model anyway and stays flagged."""
    text = md()
    fanout = table_row(text, ["6", "main", "long poll"])
    check(fanout and "⚠" not in fanout[0], "run 6 (fan-out explains it) is flagged: %r" % fanout)
    good = table_row(text, ["3", "main", "SSE"])
    check(good and "⚠" not in good[0], "run 3 (within 25%% of the model) is flagged: %r" % good)
    m = re.search(r"\|\s*[01]\.(\d\d)\s*\|", good[0])
    check(m, "run 3 has no plain ratio 0.xx or 1.xx: %r" % good[0])
    dis = text.split("### Where the model and the measurement disagree")[1].split("\n## ")[0]
    items = [l for l in dis.splitlines() if l.startswith("- ⚠ ")]
    check(any("run 9 " in l and "Likely:" in l and "longer than P = 10 ms" in l for l in items),
          "run 9 (10 ms polls over 80 ms RTT) missing or unexplained: %r" % items)
    check(not any("run 3 " in l or "run 6 " in l for l in items), "run 3 or 6 listed as a disagreement")
    flagged_rows = [l for l in text.split("## Every run")[1].splitlines() if "⚠" in l]
    check_eq(len(items), sum(l.count("⚠") for l in flagged_rows),
             "one disagreement line per ⚠ in the every-run table")
    check("%d of 15 successful runs flagged." % len({l.split()[2] for l in items}) in dis, "the flag count")


def t_model_stated():
    """s: the lowest mean of an SSE or WebSocket loopback workload (the
    fixture has no run with one subscriber per channel: any count)."""
    text = md()
    runs = fixture_runs()
    s = min(r["result"]["latency_us"]["mean"] for r in runs.values()
            if r["status"] == "ok" and r["params"]["transport"] in ("sse", "ws") and r["profile"]["rtt_ms"] == 0)
    body = section(text, "Model against measurement")
    check("s = %s ms" % sig3(s / 1000) in body, "service time s = %s ms not stated" % sig3(s / 1000))
    for formula in ("P/2 + d + s", "1/(P·r)", "1/max(1, r·RT)", "RT = 2d + s + F + Q", "d = RTT/2",
                    "F = (n − 1)/2 · c", "Q = ρ/(2(1 − ρ)) · S", "RFC 6202"):
        check(formula in body, "model formula %r not stated" % formula)


def t_which_when():
    text = section(md(), "Which transport when")
    sentences = [s for s in re.split(r"(?<=\.) (?=[A-Z])", text.strip()) if s]
    check(3 <= len(sentences) <= 6, "want 3-6 sentences, got %d: %r" % (len(sentences), sentences))
    runs = fixture_runs()
    p50_poll = sig3(runs[5]["result"]["latency_us"]["p50"] / 1000)
    p50_sse = sig3(runs[7]["result"]["latency_us"]["p50"] / 1000)
    first = sentences[0]
    for want in ("100 subscribers", "1.03 requests per delivered message", p50_poll + " ms", p50_sse + " ms"):
        check(want in first, "first sentence lacks %r: %r" % (want, first))
    conns = runs[13]["result"]["cost"]["connections_opened"]
    check("opened %d connections" % conns in text, "no pooling sentence with %d connections" % conns)
    # One run per transport: no ranking, whatever the numbers.
    check("no ranking of p99 latency is claimed: each transport ran once" in text,
          "the single-run folder does not say why it ranks nothing: %r" % text)
    check("had the lowest" not in text and "had the highest" not in text, "a ranking from single runs")


def t_charts_valid_svg():
    text = md()
    d = state["dir"]
    refs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    check(len(refs) >= 4, "want at least 4 charts (CDF x2, subscribers, poll interval, pooling), got %r" % refs)
    for ref in refs:
        check(ref.endswith(".svg") and "/" not in ref, "chart reference %r is not a local .svg" % ref)
        path = os.path.join(d, ref)
        check(os.path.exists(path), "referenced chart %s missing" % ref)
        root = ET.parse(path).getroot()
        check_eq(root.tag.split("}")[-1], "svg", "%s root element" % ref)
        body = open(path, encoding="utf-8").read()
        check("<path" in body or "<polyline" in body, "%s draws nothing" % ref)
    for want in ("chart-cdf-loopback.svg", "chart-cdf-wan.svg", "chart-subscribers.svg",
                 "chart-poll-interval.svg", "chart-pooling.svg"):
        check(want in refs, "no %s in the report" % want)
    check("No chart: no two successful runs in this folder differ only in message rate." in text,
          "the rate chart (no data in the fixture) is not explained by a sentence")
    cdf = open(os.path.join(d, "chart-cdf-loopback.svg"), encoding="utf-8").read()
    for label in ("short poll (run 5)", "long poll (run 6)", "SSE (run 7)", "WebSocket (run 8)"):
        check(label in cdf, "CDF legend lacks %r" % label)


def t_without_gnuplot():
    d = fixture_copy("nognuplot")
    rc, out, err = run_report(d, env=dict(os.environ, PATH="/nonexistent"))
    check_eq(rc, 0, "exit status without gnuplot (stderr: %s)" % err.strip())
    with open(os.path.join(d, "report.md"), encoding="utf-8") as f:
        text = f.read()
    check("chart not drawn: gnuplot is not installed" in text, "the report does not say why charts are missing")
    check(not re.findall(r"!\[[^\]]*\]\(", text), "the report references charts that were not drawn")
    check(not [n for n in os.listdir(d) if n.endswith(".svg")], "SVG files written without gnuplot")
    check("| short poll |" in text and "1.03 requests per delivered message" in text,
          "tables and sentences missing without gnuplot")


def t_plain_text_tables():
    """Every table's lines have one width, so the source reads as plain text."""
    block = []
    for line in md().splitlines() + [""]:
        if line.startswith("|"):
            block.append(line)
            continue
        if block:
            widths = {width(l) for l in block}
            check(len(widths) == 1, "table lines of different widths %s:\n%s" % (sorted(widths), "\n".join(block[:4])))
            block = []


def t_rerender_same():
    d = state["dir"]
    rc, _, err = run_report(d)
    check_eq(rc, 0, "second render exit status (%s)" % err.strip())
    with open(os.path.join(d, "report.md"), encoding="utf-8") as f:
        check(f.read() == md(), "report.md differs when rendered again from the same folder")


def t_corrupt_line():
    d = fixture_copy("corrupt")
    path = os.path.join(d, "runs.jsonl")
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines(True)
    lines[2] = lines[2][:40] + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(lines)
    rc, out, err = run_report(d)
    check_eq(rc, 2, "exit status for a corrupt runs.jsonl (stderr: %s)" % err.strip())
    check("runs.jsonl line 3" in err and "not valid JSON" in err, "message does not name the line: %r" % err)
    check(len(err.strip().splitlines()) == 1, "want a one-line message, got %r" % err)
    check(not os.path.exists(os.path.join(d, "report.md")), "a report was written from a corrupt folder")


def broker_profile(name, instances=1, workers=1):
    return {"name": name, "rtt_ms": 0, "rate_bits": None, "method": "none", "tls": False,
            "publish_path": "direct", "broker": {"instances": instances, "workers": workers}}


REDIS, TWO, WORKERS = broker_profile("redis"), broker_profile("redis-two", 2), broker_profile("redis-workers", 1, 2)
MIB = 2 ** 20


def broker_twin(src, n, profile, latency, srv, redis_us, rss_mib, repeat=1):
    r = twin(src, n, "broker", profile, latency, srv)
    r["repeat"] = repeat
    r["result"]["cost"]["server_rss_bytes"] = rss_mib * MIB
    r["broker"] = {"server": "redis-server", "pid": 4242, "cpu_s": 0.1, "deliveries": 1000,
                   "cpu_us_per_delivered": redis_us, "rss_bytes": 10 * MIB}
    return r


def broker_folder():
    """The fixture (its loopback runs with 6 MiB of server RSS) plus broker
    twins: redis of runs 5-8 (17-20: 1.5× latency and server CPU, Redis 2 µs
    per delivery, 8 MiB) and a second repetition of SSE (25: 1.7× latency);
    redis-two of runs 5-8 (21-24: 2× latency, 1.8× CPU, Redis 2.5 µs,
    12 MiB); redis-workers of SSE (26: 1.2× latency, 2× CPU, Redis 3 µs,
    16 MiB; client-limited); a redis twin of run 3 that looks faster than it (27: half the
    latency), which must not become the model's service time; a redis-two
    run without a twin (28) and a failed redis run (29)."""
    runs = fixture_runs()
    for n in (3, 5, 6, 7, 8):
        runs[n]["result"]["cost"]["server_rss_bytes"] = 6 * MIB
    extra = [broker_twin(runs[src], n, REDIS, 1.5, 1.5, 2.0, 8) for n, src in ((17, 5), (18, 6), (19, 7), (20, 8))]
    extra += [broker_twin(runs[src], n, TWO, 2.0, 1.8, 2.5, 12) for n, src in ((21, 5), (22, 6), (23, 7), (24, 8))]
    extra += [broker_twin(runs[7], 25, REDIS, 1.7, 1.5, 2.0, 8, repeat=2),
              broker_twin(runs[7], 26, WORKERS, 1.2, 2.0, 3.0, 16),
              broker_twin(runs[3], 27, REDIS, 0.5, 1.5, 2.0, 8),
              broker_twin(runs[8], 28, TWO, 2.0, 1.8, 2.5, 12)]
    extra[-1]["params"]["subscribers"] = 7
    workers = next(r for r in extra if r["n"] == 26)
    workers["result"].setdefault("client_saturation", {})["client_limited"] = True
    failed = broker_twin(runs[6], 29, REDIS, 1.5, 1.5, 2.0, 8)
    failed["status"], failed["failure"], failed["result"] = "failed", "redis-server died during run 29", None
    del failed["broker"]
    extra.append(failed)
    profiles = {p["name"]: {k: v for k, v in p.items() if k != "name"} for p in (REDIS, TWO, WORKERS)}
    return extended_fixture("broker", runs, extra, profiles), runs


def t_broker_section():
    check("## What the broker hop costs" not in md(), "a broker section without broker runs")
    d, runs = broker_folder()
    rc, out, err = run_report(d)
    check(rc == 0, "report with broker runs: exit %s: %s" % (rc, err))
    with open(os.path.join(d, "report.md"), encoding="utf-8") as f:
        text = f.read()
    body = section(text, "What the broker hop costs")
    for want in ("- **redis**: one pushpull-server, `--broker`",
                 "- **redis-two**: two pushpull-servers (the publisher on A, the subscribers on B), `--broker`",
                 "- **redis-workers**: one pushpull-server with `--workers 2`, `--broker`"):
        check(want in body, "set-up line %r missing:\n%s" % (want, body[:1500]))
    hop, workers = body.split("### The hop")[1].split("### `--workers` beside one process")
    check_eq(len(re.findall(r"^#### ", hop, re.M)), 5, "hop tables (four transports at 100, SSE at 10)")
    sse = hop.split("#### SSE: 100 subscribers")[1].split("####")[0]
    check(table_row(sse, ["figure", "loopback (run 7)", "redis (runs 19, 25)", "redis / loopback",
                          "redis-two (run 23)", "redis-two / loopback"]), "SSE hop header:\n%s" % sse)
    p50 = runs[7]["result"]["latency_us"]["p50"] / 1000
    spread = "%s (%s–%s)" % (sig3(p50 * 1.6), sig3(p50 * 1.5), sig3(p50 * 1.7))
    check(table_row(sse, ["p50 ms", sig3(p50), spread, "1.60×", sig3(p50 * 2), "2.00×"]), "SSE p50 row:\n%s" % sse)
    check(table_row(sse, ["redis µs/msg", "-", "2.00", "-", "2.50", "-"]), "SSE redis µs/msg row")
    srv = runs[7]["result"]["cost"]["server_cpu_us_per_delivered"]
    both, both2 = srv * 1.5 + 2.0, srv * 1.8 + 2.5
    check(table_row(sse, ["pushpull + redis µs/msg", sig3(srv), sig3(both), "%s×" % sig3(both / srv),
                          sig3(both2), "%s×" % sig3(both2 / srv)]), "SSE pushpull + redis row:\n%s" % sse)
    check(table_row(sse, ["pushpull RSS MiB", "6.00", "8.00", "1.33×", "12.0", "2.00×"]), "SSE RSS row")
    check(table_row(sse, ["lost", "0", "0", "-", "0", "-"]), "SSE lost row")
    check("SSE (100 subscribers, 10 msg/s): redis ×1.60, redis-two ×2.00" in hop, "p50 summary:\n%s" % hop[:800])
    check(table_row(workers, ["figure", "redis (runs 19, 25)", "redis-workers † (run 26)", "redis-workers / redis"]),
          "workers header (run 26 client-limited):\n%s" % workers)
    check("† client-limited (run 26): the load client's own loop was saturated" in workers, "the † note")
    check(table_row(workers, ["p50 ms", spread, sig3(p50 * 1.2), "0.750×"]), "workers p50 row:\n%s" % workers)
    check(table_row(workers, ["redis µs/msg", "2.00", "3.00", "1.50×"]), "workers redis row")
    check_eq(len(re.findall(r"^#### ", workers, re.M)), 1, "workers tables")
    check("Without a twin: run 28 (WebSocket, redis-two)." in body, "the lone broker run")
    check("Failed runs through Redis: run 29 (long poll, redis): redis-server died during run 29." in body,
          "the failed broker run")
    # Broker runs are not plain loopback runs: run 27's low latency is not the
    # service time, the sentences are the plain fixture's, a flag says Redis.
    s = runs[3]["result"]["latency_us"]["mean"] / 1000
    model = section(text, "Model against measurement")
    check("s = %s ms" % sig3(s) in model, "service time changed by a broker run: %s" % model[:600])
    check_eq(section(text, "Which transport when"), section(md(), "Which transport when"), "sentences")
    flags = [l for l in model.splitlines() if l.startswith("- ⚠ run 2") and "redis-two" in l]
    check(flags and all("the run went through Redis (profile redis-two: two pushpull-servers" in l for l in flags),
          "redis-two flags without the broker reason: %r" % flags)
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from reportlib.facts import Facts
    f = Facts(d)
    by = {r.n: r for r in f.runs}
    check_eq([f.model.is_loopback(by[n]) for n in (7, 9, 19, 23, 26)], [True, False, False, False, False],
             "is_loopback of runs 7 (loopback), 9 (wan), 19, 23, 26 (broker)")
    check_eq([f.model.is_emulated(by[n]) for n in (7, 9, 19)], [False, True, False], "is_emulated of runs 7, 9, 19")


def t_bad_folders():
    d = os.path.join(_tmp, "empty")
    os.mkdir(d)
    rc, _, err = run_report(d)
    check_eq(rc, 2, "exit status without runs.jsonl")
    check("runs.jsonl: missing" in err, "message for a missing runs.jsonl: %r" % err)
    d2 = fixture_copy("badrun")
    with open(os.path.join(d2, "runs.jsonl"), "a", encoding="utf-8") as f:
        f.write('{"n": 17, "params": {"transport": "carrier-pigeon"}, "status": "ok", "result": {}}\n')
    rc, _, err = run_report(d2)
    check_eq(rc, 2, "exit status for an unknown transport")
    check("line 17" in err and "carrier-pigeon" in err, "message for an unknown transport: %r" % err)
    rc, _, err = run_report(os.path.join(_tmp, "no-such-dir"))
    check_eq(rc, 2, "exit status for a missing folder")


def t_fixture_up_to_date():
    d = os.path.join(_tmp, "regen")
    p = subprocess.run([PY, MAKE_FIXTURE, d], capture_output=True, timeout=60)
    check_eq(p.returncode, 0, "make_fixture.py exit status (%s)" % p.stderr.decode()[-500:])
    for name in ("manifest.json", "runs.jsonl", "server-stats.json"):
        check(filecmp.cmp(os.path.join(d, name), os.path.join(FIXTURE, name), shallow=False),
              "tests/fixtures/results-small/%s differs from what make_fixture.py writes: re-run it" % name)


def main():
    tap = Tap(__file__, watchdog_s=120)
    try:
        tap.run("report: renders the fixture folder (exit 0, report.md, every chart drawn)", t_render_fixture)
        tap.run("report: header has scenario, machine, versions, runs/failed, profile methods and why", t_header)
        tap.run("report: the failed run and its reason are listed, never hidden", t_failed_run_listed)
        tap.run("report: headline table per subscriber count, every transport, model columns", t_headline_table)
        tap.run("report: a fan-out run is explained by the model, a run off it anyway is flagged with its "
                "reason, one within 25% is not", t_flags)
        tap.run("report: the model's formulas and the service-time estimate are stated", t_model_stated)
        tap.run("report: 'which transport when' sentences carry the fixture's numbers", t_which_when)
        if HAVE_GNUPLOT:
            tap.run("report: every referenced chart exists and is valid SVG; a chart without data says so",
                    t_charts_valid_svg)
        else:
            tap.ok(True, "report: charts are valid SVG # SKIP gnuplot not installed (apt-get install gnuplot-nox)")
        tap.run("report: without gnuplot the report is still written and says why charts are missing",
                t_without_gnuplot)
        tap.run("report: markdown tables are aligned as plain text", t_plain_text_tables)
        tap.run("report: rendering again from the folder gives the same report.md", t_rerender_same)
        tap.run("report: a corrupt runs.jsonl line is exit 2 with a message naming the line", t_corrupt_line)
        tap.run("report: missing runs.jsonl, an unknown transport, a missing folder: exit 2", t_bad_folders)
        tap.run("report: the committed fixture is what make_fixture.py writes", t_fixture_up_to_date)
        tap.run("report: tls runs get a 'What TLS costs' table per transport beside their loopback twins "
                "(ratios, lone and failed tls runs named); none without tls runs", t_tls_section)
        tap.run("report: broker runs get 'What the broker hop costs' beside their in-memory twins and --workers "
                "beside one process (medians, ratios, Redis's CPU and RSS, lone and failed runs named); they "
                "are not plain loopback runs for the model or the sentences", t_broker_section)
    finally:
        shutil.rmtree(_tmp, ignore_errors=True)
    tap.done()


if __name__ == "__main__":
    main()
