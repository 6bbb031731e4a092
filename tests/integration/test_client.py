"""pushpull-client against the real server: every transport delivers every
measured message exactly once to every subscriber (also with churn and a
WebSocket publisher), short polling reuses its connections (and a counting
TCP proxy between client and server confirms it from the outside), the JSON
document has every field docs/CLIENT-OUTPUT.md documents and the CSV every
documented column, consistent with the JSON."""

import csv
import os
import re
import select
import socket
import threading
import time

from harness import (Tap, Server, HOST, run_client, client_tmpdir, check, check_eq, wait_until,
                     T, diag)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join(REPO, "docs", "CLIENT-OUTPUT.md")
TRANSPORTS = ("poll", "longpoll", "sse", "ws")
SUBS = 10
# 100 msg/s, 0.5 s warm-up, 2 s measured: messages 50..249 are measured
WORKLOAD = ["--subscribers", SUBS, "--rate", 100, "--duration", "2s", "--warmup", "500ms",
            "--drain", "2s", "--quiet"]
MEASURED = 200
PUBLISHED_TOTAL = 250
HIST_FIELDS = ("latency_us", "latency_uncorrected_us", "connect_us", "first_message_us")


class S:
    """State shared between the tests of one program run."""
    main = None          # the --transport all run (ClientResult)
    csv_path = None
    stats0 = stats1 = None


# ------------------------------------------------------------ TCP proxy

class CountingProxy:
    """A TCP relay between the client and the server that records, for each
    connection the client opens, the request lines it carries. It sees what
    the server sees: how many TCP connections carried /poll/ requests, and
    how many requests each carried."""

    REQ = re.compile(rb"(GET|POST|HEAD) (\S+) HTTP/1\.[01]\r\n")

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((HOST, 0))
        self.lsock.listen(128)
        self.port = self.lsock.getsockname()[1]
        self.conns = []           # bytearray of client->server bytes, per connection
        self.lock = threading.Lock()
        self.stopped = False
        self.errors = []
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self):
        return "http://%s:%d" % (HOST, self.port)

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            rec = bytearray()
            with self.lock:
                self.conns.append(rec)
            threading.Thread(target=self._pump, args=(c, rec), daemon=True).start()

    def _pump(self, c, rec):
        try:
            u = socket.create_connection((HOST, self.upstream), timeout=10)
        except OSError as e:
            self.errors.append(repr(e))
            c.close()
            return
        for s in (c, u):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.settimeout(None)
        try:
            while not self.stopped:
                r, _, _ = select.select([c, u], [], [], 0.5)
                for s in r:
                    try:
                        b = s.recv(65536)
                    except OSError:
                        b = b""
                    if not b:
                        return
                    if s is c:
                        with self.lock:
                            rec += b
                        u.sendall(b)
                    else:
                        c.sendall(b)
        except OSError:
            return
        finally:
            c.close()
            u.close()

    def connections(self):
        """[[(method, path), ...] per connection]"""
        with self.lock:
            return [[(m.group(1).decode(), m.group(2).decode()) for m in self.REQ.finditer(bytes(rec))]
                    for rec in self.conns]

    def poll_connections(self):
        """Request lists of the connections whose first request was a /poll/."""
        return [reqs for reqs in self.connections() if reqs and reqs[0][1].startswith("/poll/")]

    def close(self):
        self.stopped = True
        try:
            self.lsock.close()
        except OSError:
            pass


# ------------------------------------------------------------- helpers

def clean_exit(res, what):
    check(not res.timed_out, "%s: the client did not finish; %s" % (what, res.describe()))
    check(not res.sanitizer_report(), "%s: sanitizer report; %s" % (what, res.describe()))
    check(res.rc == 0, "%s: exit status %s, want 0; %s" % (what, res.rc, res.describe()))
    check(res.doc is not None, "%s: no valid JSON document (%s); %s" % (what, res.json_error, res.describe()))


def check_hist(h, what, count=None):
    check(isinstance(h, dict), "%s: not an object: %r" % (what, h))
    n = h["count"]
    if count is not None:
        check_eq(n, count, "%s.count" % what)
    got = sum(c for _, c in h["buckets"])
    check_eq(got, n, "%s: sum of bucket counts (= count)" % what)
    idx = [i for i, _ in h["buckets"]]
    check(idx == sorted(set(idx)), "%s: bucket indexes not increasing: %r" % (what, idx[:20]))
    check(all(c > 0 for _, c in h["buckets"]), "%s: an empty bucket is listed" % what)
    check_eq(h["bucket_scheme"], "log-linear:128", "%s.bucket_scheme" % what)
    if n:
        ps = [h["min"], h["p50"], h["p90"], h["p99"], h["p999"], h["max"]]
        # percentiles are bucket values (0.4 %); min and max are exact
        tol = lambda v: v * 0.004 + 1   # noqa: E731
        check(all(ps[i] <= ps[i + 1] + tol(ps[i + 1]) for i in range(len(ps) - 1)),
              "%s: not min <= p50 <= p90 <= p99 <= p999 <= max: %r" % (what, ps))
        check(h["p50"] <= h["p99"] <= h["max"] + tol(h["max"]), "%s: p50 <= p99 <= max: %r" % (what, ps))
        check(abs(h["mean"] - h["sum"] / n) <= 0.01 * max(1, h["mean"]),
              "%s: mean %r is not sum/count %r" % (what, h["mean"], h["sum"] / n))
        check(h["min"] * n <= h["sum"] <= h["max"] * n, "%s: sum %r outside [min, max] x count" % (what, h["sum"]))
    else:
        check(h["p50"] == 0 and h["max"] == 0, "%s: empty histogram with nonzero figures: %r" % (what, h))


def check_clean_delivery(r, what, subs=SUBS, measured=MEASURED):
    d = r["delivery"]
    check_eq(r["status"], "ok", "%s: status (failure %r)" % (what, r.get("failure")))
    check(r["failure"] is None, "%s: failure %r with status ok" % (what, r["failure"]))
    check_eq(d["publish_errors"], 0, "%s: publish_errors" % what)
    if measured is not None:
        check_eq(d["published"], measured, "%s: published (measured messages acknowledged)" % what)
    if subs is not None:
        check_eq(d["expected"], d["published"] * subs, "%s: expected = published x subscribers" % what)
    check_eq(d["lost"], 0, "%s: lost (delivery %r)" % (what, d))
    check_eq(d["delivered"], d["expected"], "%s: delivered = expected" % what)
    check_eq(d["duplicates"], 0, "%s: duplicates" % what)
    check_eq(d["out_of_order"], 0, "%s: out_of_order" % what)
    check_eq(d["gap_lost"], 0, "%s: gap_lost" % what)
    check_eq(d["loss_ratio"], 0, "%s: loss_ratio" % what)
    check_eq(r["cost"]["protocol_errors"], 0, "%s: protocol_errors" % what)
    check_hist(r["latency_us"], what + " latency_us", d["delivered"])


def run_of(res, t):
    return res.run(t)


# ---------------------------------------------------------------- tests

def t_main_run(srv):
    S.stats0 = srv.stats()
    S.csv_path = os.path.join(client_tmpdir(), "runs.csv")
    S.main = run_client(["--url", srv.url(""), "--transport", "all", "--csv", S.csv_path] + WORKLOAD,
                        timeout=60)
    S.stats1 = srv.stats()
    clean_exit(S.main, "--transport all")
    check_eq([r["transport"] for r in S.main.doc["runs"]], list(TRANSPORTS), "runs[].transport, in order")


def t_transport(t):
    r = run_of(S.main, t)
    check_clean_delivery(r, t)
    d = r["delivery"]
    check_eq(d["delivered"], MEASURED * SUBS, "%s: delivered = 200 measured x 10 subscribers" % t)
    check_eq(d["published_total"], PUBLISHED_TOTAL, "%s: published_total (warm-up included)" % t)
    # every delivery also has an uncorrected sample; one connect and one
    # first-message sample per subscriber
    check_hist(r["latency_uncorrected_us"], t + " latency_uncorrected_us", d["delivered"])
    check_hist(r["connect_us"], t + " connect_us", SUBS)
    check_hist(r["first_message_us"], t + " first_message_us", SUBS)
    lat, unc = r["latency_us"], r["latency_uncorrected_us"]
    check(lat["max"] < 5_000_000, "%s: max latency %d µs on an idle loopback" % (t, lat["max"]))
    # the uncorrected latency starts later (actual send >= scheduled), so it
    # cannot be much larger
    check(unc["p50"] <= lat["p50"] * 1.01 + 1000, "%s: uncorrected p50 %d above corrected %d"
          % (t, unc["p50"], lat["p50"]))
    check_eq(r["elapsed_s"], 2.0, "%s: elapsed_s (the measure window)" % t)
    tp = r["throughput"]
    check(abs(tp["delivered_per_s"] - d["delivered"] / 2.0) < 1e-6, "%s: delivered_per_s %r" % (t, tp))
    check(abs(tp["published_per_s"] - d["published"] / 2.0) < 1e-6, "%s: published_per_s %r" % (t, tp))
    c = r["cost"]
    check_eq(c["transport_errors"], 0, "%s: transport_errors" % t)
    check_eq(c["reconnects"], 0, "%s: reconnects" % t)
    if c["requests"]:
        check(abs(c["requests_per_delivered"] - c["requests"] / d["delivered"]) < 1e-6,
              "%s: requests_per_delivered %r" % (t, c))
    check(abs(c["bytes_per_delivered"] - (c["bytes_rx"] + c["bytes_tx"]) / d["delivered"]) < 1e-3,
          "%s: bytes_per_delivered %r" % (t, c))
    check(c["bytes_rx"] > 0, "%s: bytes_rx 0" % t)
    if t in ("sse", "ws"):
        # connected before the measure window: no request, no connection in it
        check_eq(c["requests"], 0, "%s: requests in the window" % t)
        check_eq(c["connections_opened"], 0, "%s: connections_opened in the window" % t)
        check(c["connection_reuse_ratio"] is None, "%s: reuse ratio without requests must be null" % t)
        # a message costs at least its payload (64 B) plus framing
        check(64 <= c["bytes_per_delivered"] < 400, "%s: bytes_per_delivered %r" % (t, c["bytes_per_delivered"]))
    else:
        check(c["requests"] > 0, "%s: no requests counted" % t)
        check(c["connections_opened"] <= SUBS, "%s: connections_opened %d > subscribers" % (t, c["connections_opened"]))
    if t == "longpoll":
        # one answer per published message at 100 msg/s and sparse traffic
        check(c["requests"] <= d["delivered"] * 1.1, "%s: %d requests for %d deliveries"
              % (t, c["requests"], d["delivered"]))
    check(c["server_cpu_s"] is not None and c["server_cpu_s"] >= 0, "%s: server_cpu_s %r" % (t, c["server_cpu_s"]))
    check(c["server_bytes_out"] is not None and c["server_bytes_out"] > 0,
          "%s: server_bytes_out %r" % (t, c["server_bytes_out"]))
    check(c["client_cpu_s"] is not None and c["client_cpu_s"] >= 0, "%s: client_cpu_s" % t)


def t_server_side():
    """What the server counted agrees with the client's figures."""
    d0, d1 = S.stats0, S.stats1
    runs = S.main.doc["runs"]
    total = sum(r["delivery"]["published_total"] for r in runs)
    check_eq(d1["published"] - d0["published"], total,
             "server published (delta) vs the client's published_total summed over the runs")
    for r in runs:
        t = r["transport"]
        got = d1["deliveries"][t] - d0["deliveries"][t]
        # every subscriber reads every message of the run once (cursor from 0)
        check_eq(got, r["delivery"]["published_total"] * SUBS,
                 "server deliveries.%s (delta) = published_total x subscribers" % t)


def t_no_leftovers(srv):
    """The client closed its WebSockets (the server notices an SSE stream or
    a long poll whose client left only at its next heartbeat or timeout, so
    those are not checked here)."""
    wait_until(lambda: srv.stats()["connections"]["ws"] == 0, T(5),
               what="server connections.ws back to 0", show=lambda: srv.stats()["connections"])


def doc_fields():
    """Parse docs/CLIENT-OUTPUT.md: {section: [field names]} from the tables
    whose first column is a backquoted field name. Sections: "hist",
    "config", "manifest", "runs[]", "runs[].delivery", ..., "csv"."""
    with open(DOC, encoding="utf-8") as f:
        lines = f.read().splitlines()
    out = {}
    section = None
    for ln in lines:
        if ln.startswith("#"):
            m = re.search(r"`([^`]+)`", ln)
            if "Latency histograms" in ln:
                section = "hist"
            elif "The CSV file" in ln:
                section = "csv"
            elif m and ln.startswith("##"):
                section = m.group(1)
            else:
                section = None
            continue
        if section is None or not ln.startswith("|"):
            continue
        cells = [c.strip() for c in ln.strip().strip("|").split("|")]
        if not cells or not cells[0].startswith("`"):
            continue
        names = re.findall(r"`([^`]+)`", cells[0])
        out.setdefault(section, []).extend(names)
    return out


def t_json_fields():
    doc = S.main.doc
    fields = doc_fields()
    want_sections = {"hist", "config", "manifest", "runs[]", "runs[].delivery", "runs[].throughput",
                     "runs[].cost", "csv"}
    check(want_sections <= set(fields), "sections parsed from %s: %r" % (DOC, sorted(fields)))
    check(len(fields["runs[].cost"]) >= 15 and len(fields["config"]) >= 20,
          "too few documented fields parsed: %r" % fields)
    missing = []
    for k in ("schema", "config", "manifest", "runs"):
        check(k in doc, "top-level key %r missing (have %r)" % (k, sorted(doc)))
    check_eq(doc["schema"], "pushpull-client/1", "schema")
    for sec in ("config", "manifest"):
        for k in fields[sec]:
            if k not in doc[sec]:
                missing.append("%s.%s" % (sec, k))
    for r in doc["runs"]:
        t = r["transport"]
        for k in fields["runs[]"]:
            if k not in r:
                missing.append("runs[%s].%s" % (t, k))
        for sub in ("delivery", "throughput", "cost"):
            for k in fields["runs[].%s" % sub]:
                if k not in r.get(sub, {}):
                    missing.append("runs[%s].%s.%s" % (t, sub, k))
        for h in HIST_FIELDS:
            for k in fields["hist"]:
                if k not in r.get(h, {}):
                    missing.append("runs[%s].%s.%s" % (t, h, k))
    check(not missing, "documented fields missing from the JSON: %s" % missing)
    # the other way round: nothing undocumented in the sections with tables
    undoc = [("config." + k) for k in doc["config"] if k not in fields["config"]]
    undoc += [("manifest." + k) for k in doc["manifest"] if k not in fields["manifest"]]
    r = doc["runs"][0]
    undoc += ["runs[]." + k for k in r if k not in fields["runs[]"]]
    for sub in ("delivery", "throughput", "cost"):
        undoc += ["runs[].%s.%s" % (sub, k) for k in r[sub] if k not in fields["runs[].%s" % sub]]
    undoc += ["runs[].latency_us." + k for k in r["latency_us"] if k not in fields["hist"]]
    if undoc:
        diag("JSON fields not in %s (allowed: new fields may be added): %s" % (os.path.basename(DOC), undoc))


def t_json_values():
    doc = S.main.doc
    c = doc["config"]
    check_eq(c["transports"], list(TRANSPORTS), "config.transports")
    check_eq((c["subscribers"], c["channels"], c["rate"], c["size"]), (SUBS, 1, 100, 64),
             "config subscribers, channels, rate, size")
    check_eq((c["duration_s"], c["warmup_s"], c["drain_s"]), (2, 0.5, 2), "config durations in seconds")
    check_eq((c["poll_interval_s"], c["longpoll_timeout_s"], c["connect_timeout_s"]), (0.1, 30, 5),
             "config defaults poll_interval_s, longpoll_timeout_s, connect_timeout_s")
    check_eq((c["connect_rate"], c["churn_s"], c["connections"], c["keepalive"], c["publish_via"]),
             (0, 0, 0, True, "http"), "config connect_rate, churn_s, connections, keepalive, publish_via")
    check_eq(c["seed"], "1", "config.seed (a string)")
    check_eq(c["json_path"], S.main.json_path, "config.json_path")
    check_eq(c["csv_path"], S.csv_path, "config.csv_path")
    check_eq(c["quiet"], True, "config.quiet")
    check(isinstance(c["run_tag"], str) and c["run_tag"], "config.run_tag %r" % c["run_tag"])
    m = doc["manifest"]
    check(m["client"].startswith("pushpull-client "), "manifest.client %r" % m["client"])
    check(isinstance(m["cores"], int) and m["cores"] >= 1, "manifest.cores %r" % m["cores"])
    check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", m["started_utc"] or ""),
          "manifest.started_utc %r" % m["started_utc"])
    check("libcurl" in (m["libcurl"] or ""), "manifest.libcurl %r" % m["libcurl"])
    check(not os.path.exists(S.main.json_path + ".tmp"), "%s.tmp left behind" % S.main.json_path)


def t_csv():
    fields = doc_fields()["csv"]
    with open(S.csv_path, newline="") as f:
        text = f.read()
    rows = list(csv.reader(text.splitlines()))
    check(len(rows) >= 1, "empty CSV")
    check_eq(rows[0], fields, "CSV header vs the columns documented in docs/CLIENT-OUTPUT.md section 5")
    check_eq(len(rows), 1 + len(TRANSPORTS), "CSV lines (header + one row per transport)")
    for row in rows[1:]:
        check_eq(len(row), len(rows[0]), "fields in CSV row %r" % row[:1])
    check('"' not in text, "CSV fields are never quoted")
    by = {row[0]: dict(zip(rows[0], row)) for row in rows[1:]}
    for r in S.main.doc["runs"]:
        t = r["transport"]
        check(t in by, "no CSV row for %s" % t)
        row = by[t]
        pairs = {
            "status": r["status"], "subscribers": SUBS, "channels": 1, "keepalive": 1,
            "p50_us": r["latency_us"]["p50"], "p99_us": r["latency_us"]["p99"],
            "max_us": r["latency_us"]["max"], "uncorrected_p99_us": r["latency_uncorrected_us"]["p99"],
            "delivered": r["delivery"]["delivered"], "expected": r["delivery"]["expected"],
            "lost": r["delivery"]["lost"], "duplicates": r["delivery"]["duplicates"],
            "out_of_order": r["delivery"]["out_of_order"], "requests": r["cost"]["requests"],
            "connections_opened": r["cost"]["connections_opened"],
            "reconnects": r["cost"]["reconnects"], "protocol_errors": r["cost"]["protocol_errors"],
        }
        for k, v in pairs.items():
            check_eq(row[k], str(v), "CSV %s.%s vs JSON" % (t, k))
        for k, jv in (("reuse_ratio", r["cost"]["connection_reuse_ratio"]),
                      ("delivered_per_s", r["throughput"]["delivered_per_s"]),
                      ("requests_per_delivered", r["cost"]["requests_per_delivered"]),
                      ("bytes_per_delivered", r["cost"]["bytes_per_delivered"]),
                      ("mean_us", r["latency_us"]["mean"]),
                      ("server_cpu_us_per_delivered", r["cost"]["server_cpu_us_per_delivered"])):
            if jv is None:
                check_eq(row[k], "", "CSV %s.%s (JSON null)" % (t, k))
            else:
                check(row[k] != "" and abs(float(row[k]) - jv) <= 1e-6 * max(1, abs(jv)),
                      "CSV %s.%s = %r, JSON %r" % (t, k, row[k], jv))


def t_poll_reuse(srv):
    proxy = CountingProxy(srv.port)
    csv_path = os.path.join(client_tmpdir(), "poll.csv")
    try:
        res = run_client(["--url", proxy.url(), "--transport", "poll", "--poll-interval", "50ms",
                          "--csv", csv_path] + WORKLOAD, timeout=40)
        time.sleep(0.2)
        conns = proxy.poll_connections()
    finally:
        proxy.close()
    clean_exit(res, "poll every 50 ms")
    r = res.run("poll")
    check_clean_delivery(r, "poll")
    c = r["cost"]
    want = SUBS * 2.0 / 0.05      # 10 pollers, 20 polls/s each, 2 s
    check(0.7 * want <= c["requests"] <= 1.5 * want,
          "requests %d, want about %d (10 pollers every 50 ms for 2 s)" % (c["requests"], want))
    check(c["connections_opened"] <= SUBS, "connections_opened %d > %d subscribers" % (c["connections_opened"], SUBS))
    check(c["connection_reuse_ratio"] is not None and c["connection_reuse_ratio"] > 0.9,
          "connection_reuse_ratio %r, want > 0.9 (requests %d, connections %d)"
          % (c["connection_reuse_ratio"], c["requests"], c["connections_opened"]))
    check(c["requests"] >= 10 * max(1, c["connections_opened"]), "requests not much larger than connections: %r" % c)
    # from the outside: the subscribers' connections over the whole run
    n_req = sum(len(x) for x in conns)
    check(0 < len(conns) <= SUBS, "the proxy saw %d connections carrying /poll/ requests, want 1..%d"
          % (len(conns), SUBS))
    check(all(p.startswith("/poll/") for x in conns for _, p in x),
          "a subscriber connection carried another request: %r" % [x for x in conns if any(not p.startswith("/poll/") for _, p in x)][:1])
    check(n_req >= c["requests"], "the proxy saw %d poll requests, the client counted %d in the window"
          % (n_req, c["requests"]))
    S.poll_csv = csv_path


def t_poll_connections_cap(srv):
    proxy = CountingProxy(srv.port)
    try:
        res = run_client(["--url", proxy.url(), "--transport", "poll", "--connections", 2,
                          "--csv", S.poll_csv] + WORKLOAD, timeout=40)
        time.sleep(0.2)
        conns = proxy.poll_connections()
    finally:
        proxy.close()
    clean_exit(res, "poll --connections 2")
    r = res.run("poll")
    check_clean_delivery(r, "poll --connections 2")
    check_eq(res.doc["config"]["connections"], 2, "config.connections")
    c = r["cost"]
    check(c["connections_opened"] <= 2, "connections_opened %d with --connections 2" % c["connections_opened"])
    check(c["requests"] >= 0.7 * SUBS * 2 / 0.1, "requests %d: the 10 pollers did not all poll every 100 ms"
          % c["requests"])
    check(0 < len(conns) <= 2, "the proxy saw %d connections carrying /poll/ requests with --connections 2: %r"
          % (len(conns), [len(x) for x in conns]))


def t_csv_append():
    with open(S.poll_csv, newline="") as f:
        rows = list(csv.reader(f))
    check_eq(len(rows), 3, "lines after two invocations appending to one CSV (one header, two rows)")
    check_eq(rows[0][0], "transport", "first line is the header")
    check(rows[1][0] == rows[2][0] == "poll", "rows %r" % [r[:1] for r in rows])
    check_eq(len(rows[1]), len(rows[0]), "row length")
    check_eq(len(rows[2]), len(rows[0]), "row length of the appended row")


def t_no_keepalive(srv):
    proxy = CountingProxy(srv.port)
    try:
        res = run_client(["--url", proxy.url(), "--transport", "poll", "--no-keepalive"] + WORKLOAD,
                         timeout=40)
        time.sleep(0.2)
        conns = proxy.poll_connections()
    finally:
        proxy.close()
    clean_exit(res, "poll --no-keepalive")
    r = res.run("poll")
    check_clean_delivery(r, "poll --no-keepalive")
    check_eq(res.doc["config"]["keepalive"], False, "config.keepalive")
    c = r["cost"]
    check(c["requests"] > 0, "no requests")
    check_eq(c["connections_opened"], c["requests"], "connections_opened vs requests with --no-keepalive")
    check_eq(c["connection_reuse_ratio"], 0, "connection_reuse_ratio with --no-keepalive")
    multi = [x for x in conns if len(x) != 1]
    check(not multi, "with --no-keepalive the proxy saw connections with %r requests" % [len(x) for x in multi][:10])
    check(len(conns) >= c["requests"], "proxy: %d poll connections, client: %d requests in the window"
          % (len(conns), c["requests"]))


def t_drain_counted(srv):
    """docs/CLIENT-OUTPUT.md section 4, counting windows: requests, bytes and
    connections are counted "from the start of the measure window to the end
    of the run (the drain included, because late deliveries of measured
    messages arrive then)". With a 1 s poll interval and a 1 s window, each
    poller answers about once in the window and must poll once more during
    the drain to fetch the window's last messages."""
    res = run_client(["--url", srv.url(""), "--transport", "poll", "--poll-interval", "1s",
                      "--subscribers", SUBS, "--rate", 100, "--duration", "1s", "--warmup", "200ms",
                      "--drain", "3s", "--quiet"], timeout=40)
    clean_exit(res, "poll every 1 s")
    r = res.run("poll")
    check_clean_delivery(r, "poll every 1 s", measured=None)
    c = r["cost"]
    check(c["requests"] >= 1.5 * SUBS,
          "requests %d: the drain's polls (about %d, one per subscriber, which fetched the last "
          "measured messages) are not counted; the window seems to end with the measure phase "
          "(bytes_rx %d)" % (c["requests"], SUBS, c["bytes_rx"]))


def t_churn(srv):
    res = run_client(["--url", srv.url(""), "--transport", "all", "--churn", "500ms",
                      "--subscribers", SUBS, "--rate", 100, "--duration", "2s", "--warmup", "500ms",
                      "--drain", "3s", "--quiet"], timeout=80)
    S.churn = res
    clean_exit(res, "--churn 500ms")
    check_eq(res.doc["config"]["churn_s"], 0.5, "config.churn_s")


def t_churn_transport(t):
    r = S.churn.run(t)
    check_clean_delivery(r, "%s with churn" % t)
    c = r["cost"]
    check(c["reconnects"] >= SUBS, "%s: reconnects %d, want >= %d (every subscriber dropped at least once)"
          % (t, c["reconnects"], SUBS))
    check(c["connections_opened"] > 0, "%s: no new connection counted in the window despite churn: %r" % (t, c))


def t_publish_via_ws(srv):
    st0 = srv.stats()
    res = run_client(["--url", srv.url(""), "--transport", "sse,ws", "--publish-via", "ws"] + WORKLOAD,
                     timeout=40)
    st1 = srv.stats()
    clean_exit(res, "--publish-via ws")
    check_eq(res.doc["config"]["publish_via"], "ws", "config.publish_via")
    total = 0
    for t in ("sse", "ws"):
        r = res.run(t)
        check_clean_delivery(r, "%s, published via ws" % t)
        total += r["delivery"]["published_total"]
    check_eq(st1["published"] - st0["published"], total,
             "server published (delta) vs the client's published_total over both runs")


def t_publish_url(srv):
    """--publish-url: the publisher (here over WebSocket) and the /stats
    reads go straight to the server; only subscriber traffic (and the
    /healthz check) goes to --url, a proxy here."""
    proxy = CountingProxy(srv.port)
    try:
        res = run_client(["--url", proxy.url(), "--publish-url", srv.url(""), "--transport", "sse,ws",
                          "--publish-via", "ws", "--subscribers", SUBS, "--rate", 100, "--duration", "1s",
                          "--warmup", "300ms", "--drain", "2s", "--quiet"], timeout=40)
        time.sleep(0.2)
        conns = proxy.connections()
    finally:
        proxy.close()
    clean_exit(res, "--publish-url")
    check_eq(res.doc["config"].get("publish_url"), srv.url(""), "config.publish_url")
    for t in ("sse", "ws"):
        r = res.run(t)
        check_clean_delivery(r, "%s with --publish-url" % t, measured=None)
        check(r["cost"]["server_cpu_s"] is not None, "%s: server_cpu_s null: /stats not read" % t)
    firsts = [x[0][1].split("/")[1] for x in conns if x]
    count = {k: firsts.count(k) for k in set(firsts)}
    check_eq(count.get("sse"), SUBS, "SSE connections through --url (proxy saw %r)" % count)
    check_eq(count.get("ws"), SUBS, "WebSocket connections through --url: the subscribers only (proxy saw %r)"
             % count)
    paths = [p for x in conns for _, p in x]
    check(not any(p.startswith(("/pub/", "/stats")) for p in paths),
          "publishes or /stats went through --url: %r" % [p for p in paths if p.startswith(("/pub/", "/stats"))][:5])


def t_channels(srv):
    """10 subscribers over 4 channels (3, 3, 2, 2): one publisher stream per
    channel; each message is expected once per subscriber of its channel."""
    res = run_client(["--url", srv.url(""), "--transport", "all", "--channels", 4, "--subscribers", SUBS,
                      "--rate", 100, "--duration", "1s", "--warmup", "300ms", "--drain", "2s", "--quiet"],
                     timeout=60)
    clean_exit(res, "--channels 4")
    for t in TRANSPORTS:
        r = res.run(t)
        d = r["delivery"]
        check_eq(d["published"], 100, "%s: published" % t)
        # 100 measured messages, 25 per channel: 25 x (3 + 3 + 2 + 2)
        check_eq(d["expected"], 250, "%s: expected over 4 channels" % t)
        check_clean_delivery(r, "%s over 4 channels" % t, subs=None, measured=None)


def t_history_gaps():
    """Loss the server flags is counted, not hidden: polling every 500 ms at
    100 msg/s from a server that keeps 10 messages per channel loses most
    messages, and every one of them is in a gap the server reported."""
    tap = S.tap
    with Server(tap, "--history", 10, "--quiet", label="[--history 10]") as srv:
        res = run_client(["--url", srv.url(""), "--transport", "poll", "--poll-interval", "500ms",
                          "--subscribers", SUBS, "--rate", 100, "--duration", "1s", "--warmup", "300ms",
                          "--drain", "1s", "--quiet"], timeout=40)
    clean_exit(res, "poll from a 10-message history")
    r = res.run("poll")
    d = r["delivery"]
    check_eq(r["status"], "ok", "status")
    check(d["gap_lost"] > 0, "gap_lost 0 although the history is 10 messages: %r" % d)
    check(d["lost"] > 0, "lost 0 although the history is 10 messages: %r" % d)
    check_eq(d["delivered"] + d["lost"], d["expected"], "delivered + lost")
    check(d["lost"] <= d["gap_lost"], "lost %d > gap_lost %d: loss the server did not flag" % (d["lost"], d["gap_lost"]))
    check(abs(d["loss_ratio"] - d["lost"] / d["expected"]) < 1e-6, "loss_ratio %r" % d["loss_ratio"])
    check_eq((d["duplicates"], d["out_of_order"]), (0, 0), "duplicates, out_of_order")
    check("lost in server-reported gaps" in res.stdout, "no note about the gaps under the table:\n%s" % res.stdout)


def t_longpoll_connections(srv):
    """--connections below --subscribers for long polling: each waiting long
    poll holds a pooled connection for up to --longpoll-timeout, as an SSE
    stream holds one. Either the client refuses the combination (as it does
    for sse and ws) or the run completes and loses nothing."""
    res = run_client(["--url", srv.url(""), "--transport", "longpoll", "--connections", 1,
                      "--connect-timeout", "2s"] + WORKLOAD, timeout=40)
    check(not res.timed_out and not res.sanitizer_report(), res.describe())
    if res.rc == 2:
        return
    check(res.doc is not None, res.describe())
    r = res.run("longpoll")
    d = r["delivery"]
    check(r["status"] == "ok" and d["lost"] == 0,
          "10 long pollers on 1 connection: exit %s, status %s (%s), lost %d of %d, connect_us.count %d: "
          "a waiting long poll holds the only pooled connection and the other subscribers' requests "
          "wait in libcurl's queue" % (res.rc, r["status"], r["failure"], d["lost"], d["expected"],
                                       r["connect_us"]["count"]))


def main():
    tap = Tap(__file__, watchdog_s=240)
    S.tap = tap
    with Server(tap) as srv:
        if tap.run("client --transport all, 10 subscribers, 200 measured messages: exit 0, JSON written",
                   t_main_run, srv):
            for t in TRANSPORTS:
                tap.run("%s: lost 0, duplicates 0, delivered = expected = 200 x 10, status ok, "
                        "latency count = delivered, min <= p50 <= p99 <= max" % t, t_transport, t)
            tap.run("server /stats agrees: published = sum of published_total, deliveries = "
                    "published_total x 10 per transport", t_server_side)
            tap.run("after the client exits the server has no WebSocket left open",
                    t_no_leftovers, srv)
            tap.run("JSON: every field documented in docs/CLIENT-OUTPUT.md is present (config, manifest, "
                    "runs[], delivery, throughput, cost, histograms)", t_json_fields)
            tap.run("JSON: config echoes the command line, manifest is filled, no .tmp left", t_json_values)
            tap.run("CSV: documented header, one row per transport, same column count, values = JSON",
                    t_csv)
        else:
            tap.ok(False, "per-transport, JSON and CSV checks skipped: the main run failed")
        if tap.run("poll every 50 ms: connections <= subscribers, reuse ratio > 0.9, requests >> "
                   "connections (client and proxy agree)", t_poll_reuse, srv):
            tap.run("poll --connections 2 with 10 pollers: at most 2 connections (client and proxy)",
                    t_poll_connections_cap, srv)
            tap.run("CSV: a second invocation appends one row and no header", t_csv_append)
        tap.run("poll --no-keepalive: connections_opened = requests, reuse 0, one request per "
                "connection at the proxy", t_no_keepalive, srv)
        tap.run("cost counters include the drain (docs/CLIENT-OUTPUT.md section 4, counting windows)",
                t_drain_counted, srv)
        if tap.run("client --transport all --churn 500ms (resume inside the history): exit 0",
                   t_churn, srv):
            for t in TRANSPORTS:
                tap.run("%s with churn: lost 0, duplicates 0, reconnects >= subscribers, new "
                        "connections counted" % t, t_churn_transport, t)
        tap.run("--publish-via ws: sse and ws lose nothing; the server counted every publish",
                t_publish_via_ws, srv)
        tap.run("--publish-url: publisher (ws) and /stats go to it, subscribers to --url (proxy: 10 sse + "
                "10 ws connections, no /pub or /stats)", t_publish_url, srv)
        tap.run("--channels 4 with 10 subscribers: expected = 25 x (3+3+2+2) per transport, lost 0",
                t_channels, srv)
        tap.run("longpoll --connections 1 with 10 subscribers: refused (exit 2) or a complete run, lost 0",
                t_longpoll_connections, srv)
    tap.run("poll every 500 ms from a server keeping 10 messages: gap_lost > 0, lost > 0, lost <= gap_lost, "
            "delivered + lost = expected", t_history_gaps)
    tap.done()


if __name__ == "__main__":
    main()
