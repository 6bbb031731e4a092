#!/usr/bin/python3
"""Render a results folder (docs/RESULTS-FORMAT.md) as report.md + charts.

    /usr/bin/python3 scripts/report.py RESULTS_DIR

Reads RESULTS_DIR/manifest.json and RESULTS_DIR/runs.jsonl (histogram
buckets from each run's "result", or from client/<n>.json when the result
has none) and writes RESULTS_DIR/report.md and RESULTS_DIR/chart-*.svg
(drawn by gnuplot's svg terminal). Nothing is re-run: the folder alone is
enough. Every figure in the report comes from the folder; the model columns
are the teaching model of DESIGN.md section 5, fed with the folder's own
parameters and a service time estimated from its fastest push runs.

Exit status: 0 written (a chart that could not be drawn is said so in the
report and on stderr), 2 the folder cannot be read (the message names the
file and line). Python 3 standard library only.
"""

import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reportlib import servers  # noqa: E402
from reportlib.text import LABEL, TRANSPORTS, count, get, ms, num, qty, sig, table  # noqa: E402

COLOR = {"poll": "#1f77b4", "longpoll": "#ff7f0e", "sse": "#2ca02c", "ws": "#d62728"}
SERIES_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
FLAG_LIMIT = 0.25           # |measured/model - 1| above this is flagged
DEFAULT_HISTORY = 1024      # server --history default: most messages per poll answer
MAX_SENTENCES = 6
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Histogram scheme "log-linear:128" (common/histogram.h).
HIST_SUB = 128
HIST_BUCKETS = 2534
HIST_OVERFLOW_VALUE = 60_000_001


class FolderError(Exception):
    """The results folder cannot be read; the message names file and line."""


# ------------------------------------------------------------------ folder

def load_json_file(path, what, required=True):
    if not os.path.exists(path):
        if required:
            raise FolderError("%s: missing (%s)" % (path, what))
        return None
    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise FolderError("%s: cannot read %s: %s" % (path, what, e))


def load_runs(path):
    if not os.path.exists(path):
        raise FolderError("%s: missing (one JSON object per client run, docs/RESULTS-FORMAT.md)" % path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise FolderError("%s: cannot read: %s" % (path, e.strerror or e))
    runs = []
    for lineno, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        where = "%s line %d" % (path, lineno)
        try:
            obj = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise FolderError("%s: not UTF-8 text" % where)
        except ValueError as e:
            raise FolderError("%s: not valid JSON (%s)" % (where, e))
        if not isinstance(obj, dict):
            raise FolderError("%s: not a JSON object" % where)
        if not isinstance(obj.get("params"), dict):
            raise FolderError("%s: no \"params\" object" % where)
        if obj["params"].get("transport") not in TRANSPORTS:
            raise FolderError("%s: params.transport is %r, not one of %s"
                              % (where, obj["params"].get("transport"), ", ".join(TRANSPORTS)))
        if obj.get("status") not in ("ok", "failed", "not_offered"):
            raise FolderError("%s: status is %r (ok, failed or not_offered)" % (where, obj.get("status")))
        if obj.get("result") is not None and not isinstance(obj["result"], dict):
            raise FolderError("%s: result is neither an object nor null" % where)
        if obj["status"] == "ok" and obj.get("result") is None:
            raise FolderError("%s: status ok but no result" % where)
        obj.setdefault("n", len(runs) + 1)
        obj.setdefault("section", "main")
        obj["_line"] = lineno
        runs.append(obj)
    return runs


class Run:
    """One line of runs.jsonl with the derived figures the report uses."""

    def __init__(self, raw, folder):
        self.raw = raw
        self.n = raw["n"]
        self.section = str(raw["section"])
        self.params = raw["params"]
        self.transport = self.params["transport"]
        self.result = raw.get("result") or {}
        self.failed = raw["status"] == "failed"
        self.not_offered = raw["status"] == "not_offered"    # the server's dialect lacks the transport
        self.server = str(self.params.get("server") or raw.get("server") or "pushpull")
        self.failure = raw.get("failure") or get(self.result, "failure") or "no reason recorded"
        self.profile = raw.get("profile") or {}
        self.folder = folder

    # params
    def p(self, key, default=None):
        v = self.params.get(key)
        return default if v is None else v

    @property
    def profile_name(self):
        return self.profile.get("name") or self.p("profile", "loopback")

    @property
    def subscribers(self):
        return self.p("subscribers", 0)

    @property
    def rate(self):
        return self.p("rate", 0)

    @property
    def load(self):
        return (self.subscribers or 0) * (self.rate or 0)

    # results
    def r(self, path):
        return num(get(self.result, path))

    @property
    def ok(self):
        return not self.failed and not self.not_offered

    def lat_ms(self, field):
        if not self.r("latency_us.count"):
            return None
        return ms(self.r("latency_us." + field))

    def cost_window_s(self):
        """The span the costs were counted over (measure start to drain end);
        results from before the client recorded it fall back to the measure
        window, which reads slightly high when the drain did work."""
        return self.r("cost.window_s") or self.r("elapsed_s")

    @property
    def req_per_s(self):
        req, el = self.r("cost.requests"), self.cost_window_s()
        return req / el if req is not None and el else None

    @property
    def conns_per_s(self):
        c, el = self.r("cost.connections_opened"), self.cost_window_s()
        return c / el if c is not None and el else None

    def latency_hist(self):
        """The latency histogram with its buckets: from the result, else
        from client/<n>.json. None when neither has buckets."""
        h = get(self.result, "latency_us")
        if isinstance(h, dict) and isinstance(h.get("buckets"), list):
            return h
        path = os.path.join(self.folder, "client", "%s.json" % self.n)
        try:
            doc = load_json_file(path, "client output", required=False)
        except FolderError:
            return None
        for run in (doc or {}).get("runs", []) if isinstance(doc, dict) else []:
            h = run.get("latency_us") if isinstance(run, dict) else None
            if run.get("transport") == self.transport and isinstance(h, dict) \
                    and isinstance(h.get("buckets"), list):
                return h
        return None


def describe(params, keys=None, profiles=None):
    """Human words for run parameters (all, or only the given keys)."""
    keys = list(params) if keys is None else keys
    out = []
    for k in keys:
        v = params.get(k)
        if k in ("transport", "rtt_ms") or v is None:
            continue
        if k == "profile":
            out.append(profile_words(v, profiles))
        elif k == "subscribers":
            out.append("%s subscriber%s" % (sig(v), "" if v == 1 else "s"))
        elif k == "channels":
            out.append("%s channel%s" % (sig(v), "" if v == 1 else "s"))
        elif k == "rate":
            out.append("%s msg/s" % sig(v))
        elif k == "size":
            out.append("%s B messages" % sig(v))
        elif k == "poll_interval_ms":
            out.append("polls back to back" if v == 0 else "poll every %s ms" % sig(v))
        elif k == "keepalive":
            out.append("keep-alive %s" % ("on" if v else "off"))
        elif k == "churn_s":
            out.append("no churn" if not v else "churn every %s s" % sig(v))
        elif k == "connections":
            out.append("one connection per subscriber" if not v else "%s pooled connections" % sig(v))
        elif k == "duration_s":
            out.append("%s s measured" % sig(v))
        elif k == "warmup_s":
            out.append("%s s warm-up" % sig(v))
        elif k == "drain_s":
            out.append("%s s drain" % sig(v))
        elif k == "longpoll_timeout_s":
            out.append("long-poll timeout %s s" % sig(v))
        elif k == "publish_via":
            out.append("publish via %s" % v)
        elif k == "connect_rate":
            out.append("connect all at once" if not v else "connect %s/s" % sig(v))
        elif k == "server":
            out.append("on %s" % v)
        else:
            out.append("%s=%s" % (k, v))
    return ", ".join(out)


def subscribers_words(n):
    return "%s subscriber%s" % (sig(n), "" if n == 1 else "s")


def profile_words(name, profiles):
    info = (profiles or {}).get(name) or {}
    rtt = info.get("rtt_ms")
    if not rtt:
        return name
    return "%s (%s ms RTT%s)" % (name, sig(rtt), ", %s" % info["method"] if info.get("method") else "")


def is_tls(run, profiles):
    """Did the run go over HTTPS / wss:// (the tls profile)?"""
    if "tls" in run.profile:
        return bool(run.profile["tls"])
    return bool((profiles.get(run.profile_name) or {}).get("tls")) or run.profile_name == "tls"


# ------------------------------------------------------------------ model

class Model:
    """DESIGN.md section 5 with the folder's own parameters."""

    def __init__(self, runs, manifest, profiles):
        self.profiles = profiles
        self.history = DEFAULT_HISTORY
        cmd = manifest.get("server_command") or []
        if isinstance(cmd, list) and "--history" in cmd:
            i = cmd.index("--history")
            if i + 1 < len(cmd) and str(cmd[i + 1]).isdigit() and int(cmd[i + 1]) > 0:
                self.history = int(cmd[i + 1])
        self.cores = num(get(manifest, "machine.cores")) or 2
        self.s_ms, self.s_run = 0.0, None
        for r in runs:
            if r.ok and r.transport in ("sse", "ws") and self.is_loopback(r) and not is_tls(r, profiles):
                p50 = r.lat_ms("p50")
                if p50 is not None and (self.s_run is None or p50 < self.s_ms):
                    self.s_ms, self.s_run = p50, r

    def is_loopback(self, run):
        return not self.rtt_ms(run) and run.profile.get("method", "none") in ("none", None)

    def rtt_ms(self, run):
        v = num(run.profile.get("rtt_ms"))
        if v is None:
            v = num((self.profiles.get(run.profile_name) or {}).get("rtt_ms"))
        if v is None:
            v = num(run.params.get("rtt_ms"))
        return v or 0.0

    def d_ms(self, run):
        return self.rtt_ms(run) / 2.0

    def r_per_s(self, run):
        ch = run.p("channels", 1) or 1
        return (run.rate or 0) / ch

    def poll_ms(self, run):
        """Short-poll period; back to back (0) polls once per round trip."""
        p = num(run.params.get("poll_interval_ms"))
        if p is None:
            return None
        return p if p > 0 else 2 * self.d_ms(run) + self.s_ms

    def publish_ms(self, run):
        """The publish leg: 0 when the publisher sat beside the server (relay
        runs), d when its messages crossed the emulated network too (netem)."""
        return self.d_ms(run) if run.profile.get("publish_path") == "network" else 0.0

    def mean_ms(self, run):
        d, s = self.d_ms(run), self.s_ms
        pub = self.publish_ms(run)
        if run.transport == "poll":
            p = self.poll_ms(run)
            return None if p is None else pub + p / 2 + d + s
        return pub + d + s

    def req_per_msg(self, run):
        r = self.r_per_s(run)
        if run.transport in ("sse", "ws"):
            return 0.0
        if r <= 0:
            return None
        if run.transport == "poll":
            p = self.poll_ms(run)
            if not p:
                return None
            return max(1.0 / (p / 1000.0 * r), 1.0 / self.history)
        rt = (2 * self.d_ms(run) + self.s_ms) / 1000.0
        return 1.0 / max(1.0, r * rt)

    def req_per_s(self, run):
        """Short poll: one request per subscriber every P."""
        p = self.poll_ms(run)
        return None if not p else (run.subscribers or 0) * 1000.0 / p


class Flag:
    def __init__(self, run, what, measured, model, reason):
        self.run, self.what, self.measured, self.model, self.reason = run, what, measured, model, reason


def compare(measured, model):
    """(ratio text, flagged?) for a measured figure against its model value."""
    if measured is None or model is None:
        return "-", False
    if model == 0:
        if measured == 0:
            return "both 0", False
        return "⚠ model 0", True
    ratio = measured / model
    off = abs(ratio - 1)
    if off > FLAG_LIMIT:
        return "%s ⚠ off by %s%%" % (sig(ratio), sig(off * 100)), True
    return sig(ratio), False


def likely_reason(run, what, measured, model, mdl):
    """The one or two most likely causes of a disagreement, read from the
    run's own counters (first the ones that invalidate any model)."""
    why = []
    lost, rate = run.r("delivery.lost") or 0, run.rate or 0
    pub = run.r("throughput.published_per_s")
    if lost > 0:
        why.append("the setup saturated: %s deliveries were lost, so the figures describe a queue" % count(lost))
    if pub is not None and rate and pub < 0.95 * rate:
        why.append("the publisher fell behind (%s of %s msg/s published): the server or client saturated"
                   % (sig(pub), sig(rate)))
    churn = run.p("churn_s", 0)
    if churn:
        why.append("churn every %s s: reconnects and resumes add handshakes and latency the model leaves out"
                   % sig(churn))
    reconn, errs = run.r("cost.reconnects") or 0, run.r("cost.transport_errors") or 0
    if (reconn or errs) and not churn:
        why.append("%s reconnects and %s transport errors during the run" % (count(reconn), count(errs)))
    bits = run.profile.get("rate_bits")
    if bits:
        why.append("the profile's bandwidth cap (%s Mbit/s) adds transmission time the model leaves out"
                   % sig(bits / 1e6))
    why += (latency_reasons if what == "latency" else request_reasons)(run, measured, model, mdl)
    if not why:
        why.append("no cause visible in the counters (no loss, reconnects or saturation); this machine is shared "
                   "and noisy: run it again to see whether it repeats")
    return ". Also, ".join(why[:2])


def latency_reasons(run, measured, model, mdl):
    why = []
    d, s = mdl.d_ms(run), mdl.s_ms
    p = mdl.poll_ms(run) if run.transport == "poll" else None
    if p and 2 * d + s > p:
        why.append("a poll round trip (2d+s = %s ms) is longer than P = %s ms, so polls cannot go out every P "
                   "and a message waits for the one in flight; the model assumes P > 2d+s" % (sig(2 * d + s), sig(p)))
    if (d > 0 and measured is not None and measured > model + d / 2
            and run.profile.get("publish_path") not in ("direct", "network")):
        # Folders from before publish_path was recorded: the publisher may
        # have crossed the network too.
        both = model + d
        close = abs(measured / both - 1) <= FLAG_LIMIT
        why.append("this run does not record whether the publisher crossed the emulated network; if it did, "
                   "each message crossed it twice (one more d = %s ms)%s" % (
                       sig(d), ": model + d = %s ms is within %s%% of the measurement" % (
                           sig(both), sig(abs(measured / both - 1) * 100)) if close else ""))
    lo, p99 = run.lat_ms("min"), run.lat_ms("p99")
    if p and lo is not None and p99 is not None and p99 - lo < p / 2:
        why.append("every message waited about as long (min %s ms, p99 %s ms): with %s subscriber%s polling every "
                   "P = %s ms at %s msg/s, the poll phase against the publish schedule stays fixed instead of "
                   "uniform, so the mean wait is not P/2" % (sig(lo), sig(p99), sig(run.subscribers),
                                                           "" if run.subscribers == 1 else "s", sig(p), sig(run.rate)))
    unc = run.lat_ms("mean") is not None and ms(run.r("latency_uncorrected_us.mean"))
    if unc is not None and unc is not False and measured is not None and measured > model:
        lag = measured - unc
        if lag >= 0.2 and lag >= 0.25 * (measured - model):
            why.append("%s ms of the mean passed between the scheduled publish time and the actual send (mean "
                       "from the send: %s ms): the publisher's own lag, which the model leaves out" % (
                           sig(lag), sig(unc)))
    per_ch = lambda r: (r.subscribers or 0) / (r.p("channels", 1) or 1)  # noqa: E731
    if mdl.s_run is not None and measured > model and per_ch(run) >= 4 * max(per_ch(mdl.s_run), 1):
        why.append("fan-out: each message goes to %s subscribers of its channel in turn, while s was estimated "
                   "from a run with %s per channel" % (qty(per_ch(run)), qty(per_ch(mdl.s_run))))
    if run.transport == "longpoll" and measured > model:
        x = mdl.r_per_s(run) * (2 * d + s) / 1000.0
        if x >= 0.05:
            why.append("messages that arrive while the next long poll is on its way wait up to two more transits "
                       "(r·(2d+s) = %s); the sparse model leaves that out" % sig(x))
    dps = run.r("throughput.delivered_per_s") or 0
    busy = ((run.r("cost.server_cpu_us_per_delivered") or 0)
            + (run.r("cost.client_cpu_us_per_delivered") or 0)) * dps / 1e6
    if busy >= 0.5 * mdl.cores:
        why.append("at %s deliveries/s the server and client used %s CPU-seconds per second of %s cores: "
                   "queueing" % (sig(dps), sig(busy), sig(mdl.cores)))
    if model < 1.0 and measured > model:
        why.append("at sub-millisecond scales the model's s estimate (%s ms, a p50) dominates, and a mean also "
                   "carries the tail a p50 leaves out" % sig(s))
    return why


def request_reasons(run, measured, model, mdl):
    rt = 2 * mdl.d_ms(run) + mdl.s_ms
    r = mdl.r_per_s(run)
    if run.transport in ("sse", "ws"):
        return ["requests by a stream transport are (re)connection handshakes (%s reconnects)"
                % count(run.r("cost.reconnects"))]
    if run.transport == "poll":
        p = mdl.poll_ms(run)
        if measured < model and p and rt > p:
            return ["polls were sent less often than every P = %s ms: a poll round trip 2d+s is %s ms" % (
                sig(p), sig(rt))]
        if measured < model:
            return ["fewer polls than one per subscriber every P (%s requests/s against %s): the poller fell behind"
                    % (sig(run.req_per_s), sig(mdl.req_per_s(run)))]
        return ["requests are counted until the end of the drain, deliveries only in the measure window; empty "
                "answers: %s" % count(run.r("cost.empty_answers"))]
    if measured < model and r > 0 and measured > 0:
        return ["answers carried batches: %s requests per message means one long poll per %s ms of messages, "
                "a re-issue round trip longer than 2d+s = %s ms (queueing at %s deliveries/s)" % (
                    sig(measured), sig(1000.0 / (r * measured)), sig(rt), sig(run.r("throughput.delivered_per_s")))]
    return ["long polls that ended without a message (empty answers: %s) add requests"
            % count(run.r("cost.empty_answers"))]


# ------------------------------------------------------------------ charts

class Charts:
    """gnuplot (svg terminal) driver: each chart is one script on stdin."""

    def __init__(self, folder):
        self.folder = folder
        self.gnuplot = shutil.which("gnuplot")

    def draw(self, name, script):
        """Writes folder/name; returns None on success, else a one-line reason."""
        if self.gnuplot is None:
            return "gnuplot is not installed (Debian: apt-get install gnuplot-nox)"
        out = os.path.join(self.folder, name)
        fd, tmp = tempfile.mkstemp(prefix=".chart-", suffix=".svg", dir=self.folder)
        os.close(fd)
        head = ('set terminal svg size %s fixed noenhanced font "Helvetica,13" background "#ffffff"\n'
                'set encoding utf8\nset output "%s"\n' % (script[0], gp_str(tmp)))
        try:
            p = subprocess.run([self.gnuplot], input=(head + script[1]).encode("utf-8"),
                               capture_output=True, timeout=60)
            err = p.stderr.decode("utf-8", "replace").strip()
            if p.returncode != 0:
                return "gnuplot failed: %s" % (err.splitlines()[-1] if err else "status %d" % p.returncode)
            ET.parse(tmp)
            os.replace(tmp, out)
            return None
        except subprocess.TimeoutExpired:
            return "gnuplot did not finish within 60 s"
        except ET.ParseError as e:
            return "gnuplot wrote an SVG that is not valid XML (%s)" % e
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def gp_str(s):
    return str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def datablock(name, rows):
    lines = ["$%s << EOD" % name]
    for r in rows:
        lines.append(" ".join(repr(float(v)) if not isinstance(v, str) else '"%s"' % gp_str(v) for v in r))
    lines.append("EOD")
    return "\n".join(lines) + "\n"


def bucket_value(i):
    """Representative value (µs) of bucket i, as hist_bucket_value()."""
    if i == HIST_BUCKETS - 1:
        return HIST_OVERFLOW_VALUE
    if i < HIST_SUB:
        return i
    shift = i // HIST_SUB - 1
    lo = (i % HIST_SUB + HIST_SUB) << shift
    return lo + ((1 << shift) - 1) // 2


def cdf_points(h):
    """[(latency ms, fraction at or below)] from a histogram's buckets,
    thinned to a few hundred points. None for another bucket scheme."""
    if h.get("bucket_scheme") != "log-linear:%d" % HIST_SUB:
        return None
    pairs = sorted((int(i), int(c)) for i, c in h["buckets"] if int(c) > 0 and 0 <= int(i) < HIST_BUCKETS)
    total = sum(c for _, c in pairs)
    if not total:
        return None
    lo, hi = num(h.get("min")), num(h.get("max"))
    pts, seen = [], 0
    for i, c in pairs:
        seen += c
        v = bucket_value(i)
        if lo is not None:
            v = max(v, lo)
        if hi is not None:
            v = min(v, hi)
        pts.append((max(v, 1) / 1000.0, seen / total))
    thin = [pts[0]]
    for x, y in pts[1:-1]:
        if y - thin[-1][1] >= 0.002 or x >= thin[-1][0] * 1.02:
            thin.append((x, y))
    if len(pts) > 1:
        thin.append(pts[-1])
    return thin


# ------------------------------------------------------------------ report

class Report:
    def __init__(self, folder):
        self.folder = folder
        self.manifest = load_json_file(os.path.join(folder, "manifest.json"), "the run manifest", required=False)
        self.manifest_missing = self.manifest is None
        if self.manifest is None:
            self.manifest = {}
        if not isinstance(self.manifest, dict):
            raise FolderError("%s: not a JSON object" % os.path.join(folder, "manifest.json"))
        raw = load_runs(os.path.join(folder, "runs.jsonl"))
        self.all_runs = [Run(r, folder) for r in raw]
        # With several servers the parts below the Servers part (and the
        # model, which is pushpull-server's) read the first server's runs.
        self.servers = servers.server_names(self.all_runs, self.manifest)
        self.primary = "pushpull" if "pushpull" in self.servers else (self.servers or [None])[0]
        self.runs = [r for r in self.all_runs if r.server == self.primary]
        self.profiles = self._profiles()
        self.model = Model(self.runs, self.manifest, self.profiles)
        self.charts = Charts(folder)
        self.flags = []
        self._flag_keys = set()
        self.main_section = self._main_section()

    # -------------------------------------------------------------- basics

    def _profiles(self):
        """{name: {rtt_ms, rate_bits, method, why, runs}} from the manifest and runs."""
        out = {}
        man = self.manifest.get("profiles") if isinstance(self.manifest.get("profiles"), dict) else {}
        for name, info in man.items():
            out[name] = dict(info) if isinstance(info, dict) else {}
        for r in self.all_runs:
            info = out.setdefault(r.profile_name, {})
            for k in ("rtt_ms", "rate_bits", "method"):
                if info.get(k) is None and r.profile.get(k) is not None:
                    info[k] = r.profile[k]
            info.setdefault("_methods", set())
            if r.profile.get("method"):
                info["_methods"].add(r.profile["method"])
            info["_runs"] = info.get("_runs", 0) + 1
        return out

    def _main_section(self):
        names = [r.section for r in self.runs]
        if "main" in names:
            return "main"
        return names[0] if names else None

    def ok_runs(self, transports=TRANSPORTS, section=None):
        return [r for r in self.runs if r.ok and r.transport in transports
                and (section is None or r.section == section)]

    def check(self, run, what, measured, model):
        """Ratio text for a table cell; records the flag once per run and figure."""
        text, flagged = compare(measured, model)
        if flagged and (run.n, what) not in self._flag_keys:
            self._flag_keys.add((run.n, what))
            self.flags.append(Flag(run, what, measured, model,
                                   likely_reason(run, what, measured, model or 0.0, self.model)))
        return text

    def group(self, runs, drop):
        """[(params without `drop` keys, [runs])] in order of first appearance."""
        groups = {}
        for r in runs:
            key = json.dumps({k: v for k, v in r.params.items() if k not in drop}, sort_keys=True)
            groups.setdefault(key, ({k: v for k, v in r.params.items() if k not in drop}, []))[1].append(r)
        return list(groups.values())

    def varying_keys(self, runs):
        keys = []
        for r in runs:
            for k in r.params:
                if k not in keys:
                    keys.append(k)
        return [k for k in keys if k not in ("transport", "rtt_ms")
                and len({json.dumps(r.params.get(k)) for r in runs}) > 1]

    # -------------------------------------------------------------- render

    def render(self):
        for name in os.listdir(self.folder):
            if name.startswith("chart-") and name.endswith(".svg"):
                os.unlink(os.path.join(self.folder, name))
        parts = [self.header(), self.how_to_read(), servers.render(self.all_runs, self.manifest)]
        headline = self.headline()           # fills self.flags first
        charts = self.chart_sections()
        every = self.every_run()
        parts += [headline, self.which_when(), self.model_section(), self.tls_section(), charts, every]
        text = "\n\n".join(p.rstrip("\n") for p in parts if p) + "\n"
        tmp = os.path.join(self.folder, ".report.md.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, os.path.join(self.folder, "report.md"))
        return text

    def header(self):
        m = self.manifest
        sc = m.get("scenario") if isinstance(m.get("scenario"), dict) else {}
        name = sc.get("name") or os.path.basename(os.path.normpath(self.folder))
        desc = sc.get("description")
        if not desc and isinstance(sc.get("text"), str):
            mm = re.search(r"^\s*description\s*=\s*(.+?)\s*$", sc["text"], re.M)
            desc = mm.group(1) if mm else None
        out = ["# pushpull results: %s" % name, ""]
        if desc:
            out += [desc, ""]
        if self.manifest_missing:
            out += ["**manifest.json is missing from this folder**: the machine, versions and profile "
                    "methods below are unknown.", ""]
        started, finished = m.get("started_utc"), m.get("finished_utc")
        rows = []
        if sc.get("file"):
            rows.append(("scenario file", sc["file"]))
        rows.append(("when", "%s to %s" % (started or "?", finished or "?")
                     if started or finished else "not recorded"))
        mach = m.get("machine") if isinstance(m.get("machine"), dict) else {}
        mem = num(mach.get("memory_bytes"))
        mdesc = ", ".join(x for x in (
            mach.get("cpu_model"),
            "%s cores" % mach["cores"] if mach.get("cores") is not None else None,
            "%s GiB memory" % sig(mem / 2 ** 30) if mem else None,
            mach.get("kernel"),
            "host %s" % mach["hostname"] if mach.get("hostname") else None) if x)
        rows.append(("machine", mdesc or "not recorded"))
        ver = m.get("versions") if isinstance(m.get("versions"), dict) else {}
        rows.append(("git revision", ver.get("git_revision") or m.get("git_revision") or "not recorded"))
        vtext = ", ".join("%s %s" % (k, v) for k, v in ver.items() if k != "git_revision" and v)
        rows.append(("versions", vtext or "not recorded"))
        if m.get("server_command"):
            rows.append(("server", " ".join(str(x) for x in m["server_command"])))
        if len(self.servers) > 1:
            rows.append(("servers", "%s; the parts after \"Servers\" cover %s alone"
                         % (", ".join(self.servers), self.primary)))
        rows.append(("runs", self.runs_text(m)))
        out.append(table(["what", "details"], rows, "ll"))
        failed = [r for r in self.all_runs if r.failed]
        if failed:
            out += ["", "**Failed runs** (their figures are missing from every table and chart below):", ""]
            for r in failed:
                out.append("- run %s (%s, section %s, %s): %s" % (
                    r.n, LABEL[r.transport], r.section,
                    describe(r.params, ["server"] * (len(self.servers) > 1) + ["profile", "subscribers", "rate"],
                             self.profiles), r.failure))
        if m.get("interrupted"):
            out += ["", "**The run was interrupted** (%s): the folder holds the runs done until then." % (
                m["interrupted"] if isinstance(m["interrupted"], str) else "manifest.json says so")]
        incidents = m.get("incidents") if isinstance(m.get("incidents"), list) else []
        if incidents:
            out += ["", "**Incidents** the runner recorded:", ""]
            for inc in incidents:
                if isinstance(inc, dict):
                    out.append("- %s%s" % ("%s: " % inc["utc"] if inc.get("utc") else "", inc.get("what", inc)))
                else:
                    out.append("- %s" % inc)
        out += ["", "### Network profiles", ""]
        prow = []
        for name, info in self.profiles.items():
            methods = sorted(info.get("_methods") or ([info["method"]] if info.get("method") else []))
            method = " / ".join(methods) if methods else "not recorded"
            why = info.get("why")
            if not why:
                if methods == ["none"]:
                    why = "client and server talk over loopback directly: nothing to emulate"
                else:
                    why = "not recorded in manifest.json"
            bits = num(info.get("rate_bits"))
            prow.append((name, sig(num(info.get("rtt_ms")) or 0), "%s Mbit/s" % sig(bits / 1e6) if bits else "-",
                         method, why, count(info.get("_runs", 0))))
        out.append(table(["profile", "RTT ms", "bandwidth", "method", "why", "runs"], prow, "lrrllr"))
        return "\n".join(out)

    def runs_text(self, m):
        failed = sum(r.failed for r in self.all_runs)
        offered = sum(r.not_offered for r in self.all_runs)
        n = len(self.all_runs)
        text = "%d client runs, %d failed" % (n, failed)
        if offered:
            text += ", %d not offered by their server" % offered
        planned = m.get("runs")
        if isinstance(planned, int) and planned > n:
            text += " (the scenario planned %d: %d not run)" % (planned, planned - n)
        elif "runs" in m and (planned != n or m.get("failed", failed) != failed):
            text += " (manifest.json says %s runs, %s failed: runs.jsonl and the manifest disagree)" % (
                planned, m.get("failed"))
        return text

    def how_to_read(self):
        doc = os.path.join(REPO, "docs", "CLIENT-OUTPUT.md")
        folder = os.path.abspath(self.folder)
        link = os.path.relpath(doc, folder) if os.path.commonpath([REPO, folder]) == REPO else doc
        return ("## How to read this report\n\n"
                "Every transport ran the same workload back to back on the same machine; compare rows with each "
                "other, not with other machines. **Latency** is measured from each message's *scheduled* publish "
                "time (an open-loop publisher), so a stall shows up instead of hiding; *mean* is "
                "`latency_us.mean`, p50/p99 are nearest-rank percentiles. **lost** = expected − delivered "
                "deliveries after the drain; dup = extra copies; reconn = reconnects. **Costs are per delivered "
                "message**: req/msg and B/msg are the subscribers' HTTP requests and bytes (both directions, "
                "headers included), srv/cli µs/msg the server's and client's CPU time. *model* columns are the "
                "teaching model (see \"Model against measurement\"); *ratio* = measured / model, and ⚠ marks a "
                "ratio more than 25%% away from 1. \"-\" means the figure does not exist. Every field is "
                "described in [docs/CLIENT-OUTPUT.md](%s)." % link)

    # -------------------------------------------------------------- headline

    HEAD = ["transport", "p50 ms", "p99 ms", "mean ms", "model ms", "mean/model", "deliv/s", "req/msg",
            "model req/msg", "req ratio", "B/msg", "srv µs/msg", "cli µs/msg", "lost", "dup", "reconn"]

    def headline_row(self, r, label=None):
        label = label or LABEL[r.transport]
        if r.failed or r.not_offered:
            return [label, "FAILED" if r.failed else "not offered"] + [""] * (len(self.HEAD) - 2)
        mean, mmean = r.lat_ms("mean"), self.model.mean_ms(r)
        rq, mrq = r.r("cost.requests_per_delivered"), self.model.req_per_msg(r)
        return [label, sig(r.lat_ms("p50")), sig(r.lat_ms("p99")), sig(mean), sig(mmean),
                self.check(r, "latency", mean, mmean), sig(r.r("throughput.delivered_per_s")),
                sig(rq), sig(mrq), self.check(r, "requests", rq, mrq), sig(r.r("cost.bytes_per_delivered")),
                sig(r.r("cost.server_cpu_us_per_delivered")), sig(r.r("cost.client_cpu_us_per_delivered")),
                count(r.r("delivery.lost")), count(r.r("delivery.duplicates")), count(r.r("cost.reconnects"))]

    def headline_groups(self):
        runs = [r for r in self.runs if r.section == self.main_section]
        return self.group(runs, ("transport",))

    def headline(self):
        if not self.runs:
            return "## Headline\n\nThis folder has no runs."
        out = ["## Headline: section \"%s\", one row per transport" % self.main_section]
        groups = self.headline_groups()
        common = None
        for params, _ in groups:
            common = dict(params) if common is None else {k: v for k, v in common.items() if params.get(k) == v}
        varying = [k for k in groups[0][0] if k not in common] if groups else []
        if common:
            out += ["", "All of them: %s." % describe(common, None, self.profiles)]
        for params, runs in groups:
            if len(groups) > 1:
                out += ["", "### %s" % describe(params, varying, self.profiles)]
            rows = []
            multi = {t for t in TRANSPORTS if sum(r.transport == t for r in runs) > 1}
            for t in TRANSPORTS:
                for r in runs:
                    if r.transport == t:
                        rows.append(self.headline_row(r, "%s (run %s)" % (LABEL[t], r.n) if t in multi else None))
            out += ["", table(self.HEAD, rows)]
            failed = [r for r in runs if r.failed]
            if failed:
                out.append("")
                out += ["FAILED %s (run %s): %s" % (LABEL[r.transport], r.n, r.failure) for r in failed]
        return "\n".join(out)

    # -------------------------------------------------------------- TLS

    TLS_FIGURES = (("p50 ms", lambda r: r.lat_ms("p50")),
                   ("p99 ms", lambda r: r.lat_ms("p99")),
                   ("mean ms", lambda r: r.lat_ms("mean")),
                   ("srv µs/msg", lambda r: r.r("cost.server_cpu_us_per_delivered")),
                   ("cli µs/msg", lambda r: r.r("cost.client_cpu_us_per_delivered")),
                   ("req/msg", lambda r: r.r("cost.requests_per_delivered")),
                   ("B/msg", lambda r: r.r("cost.bytes_per_delivered")),
                   ("new conns/s", lambda r: r.conns_per_s),
                   ("deliv/s", lambda r: r.r("throughput.delivered_per_s")),
                   ("lost", lambda r: r.r("delivery.lost")))

    def tls_pairs(self):
        """[(loopback run, tls run)]: every ok tls run beside the last ok plain
        loopback run whose parameters are the same but for the profile."""
        def key(r):
            return json.dumps({k: v for k, v in r.params.items() if k not in ("profile", "rtt_ms")},
                              sort_keys=True)
        plain = {key(r): r for r in self.runs
                 if r.ok and self.model.is_loopback(r) and not is_tls(r, self.profiles)}
        return [(plain[key(r)], r) for r in self.runs
                if r.ok and is_tls(r, self.profiles) and key(r) in plain]

    def tls_negotiated(self, run):
        """What the client's probe negotiated (client/<n>.json manifest.tls)."""
        path = os.path.join(self.folder, "client", "%s.json" % run.n)
        try:
            doc = load_json_file(path, "client output", required=False)
        except FolderError:
            return None
        v = get(doc, "manifest.tls") if isinstance(doc, dict) else None
        return v if isinstance(v, str) else None

    def tls_section(self):
        tls_runs = [r for r in self.runs if is_tls(r, self.profiles)]
        if not tls_runs:
            return ""
        pairs = self.tls_pairs()
        out = ["## What TLS costs",
               "",
               "Runs of the **tls** profile (HTTPS and wss:// over loopback: the server with a self-signed "
               "certificate, the client trusting it with `--cacert`) beside the loopback run of the same "
               "workload; *tls / loopback* is the ratio. Both ran on this machine in this folder, minutes "
               "apart: read ratios, and small ones (±20 %) as noise. B/msg counts bytes above TLS (HTTP "
               "headers and bodies, WebSocket frames), not TLS's record headers and tags; the TLS handshake "
               "shows in CPU and latency only where connections are new (`keepalive off`, churn, connecting)."]
        neg = next((x for x in (self.tls_negotiated(r) for r in tls_runs) if x), None)
        if neg:
            out[-1] += " The client negotiated %s." % neg
        if not pairs:
            out += ["", "No tls run of this folder has a successful loopback run with the same parameters to "
                    "compare with."]
        summary, tables = [], []
        for plain, tls in pairs:
            pp = tls.params
            keys = ["subscribers", "rate", "size"] + [k for k, shown in (
                ("channels", (pp.get("channels") or 1) > 1),
                ("poll_interval_ms", tls.transport == "poll"),
                ("keepalive", True),
                ("connections", bool(pp.get("connections"))),
                ("churn_s", bool(pp.get("churn_s"))),
                ("publish_via", pp.get("publish_via") not in (None, "http"))) if shown]
            tables += ["", "### %s: %s" % (LABEL[tls.transport], describe(pp, keys, self.profiles))]
            rows = []
            for name, fn in self.TLS_FIGURES:
                a, b = fn(plain), fn(tls)
                ratio = "%s×" % sig(b / a) if a and b is not None else "-"
                rows.append((name, sig(a) if name != "lost" else count(a),
                             sig(b) if name != "lost" else count(b), ratio))
            tables += ["", table(["figure", "loopback (run %s)" % plain.n, "tls (run %s)" % tls.n,
                                  "tls / loopback"], rows, "lrrr")]
            a = plain.r("cost.server_cpu_us_per_delivered")
            b = tls.r("cost.server_cpu_us_per_delivered")
            if a and b is not None:
                summary.append("%s ×%s" % (LABEL[tls.transport], sig(b / a)))
        if summary:
            out += ["", "Server CPU per delivered message, tls / loopback: %s." % ", ".join(summary)]
        out += tables
        lone = [r for r in tls_runs if r.ok and r not in [t for _, t in pairs]]
        failed = [r for r in tls_runs if r.failed]
        if lone:
            out += ["", "Without a loopback twin: %s." % ", ".join(
                "run %s (%s)" % (r.n, LABEL[r.transport]) for r in lone)]
        if failed:
            out += ["", "Failed tls runs: %s." % "; ".join(
                "run %s (%s): %s" % (r.n, LABEL[r.transport], r.failure) for r in failed)]
        return "\n".join(out)

    # -------------------------------------------------------------- every run

    def every_run(self):
        if not self.runs:
            return ""
        keys = self.varying_keys(self.runs)
        head = ["run", "section", "transport"] + [k for k in keys] + [
            "status", "mean ms", "model ms", "mean/model", "p50 ms", "p99 ms", "req/msg", "model req/msg",
            "req ratio", "deliv/s", "lost"]
        rows = []
        for r in self.runs:
            pv = []
            for k in keys:
                v = r.params.get(k)
                pv.append(("on" if v else "off") if isinstance(v, bool) else (sig(v) if num(v) is not None else
                                                                              str(v if v is not None else "-")))
            row = [str(r.n), r.section, LABEL[r.transport]] + pv
            if r.failed or r.not_offered:
                row += ["FAILED: %s" % r.failure if r.failed else "not offered"] + [""] * 10
            else:
                mean, mmean = r.lat_ms("mean"), self.model.mean_ms(r)
                rq, mrq = r.r("cost.requests_per_delivered"), self.model.req_per_msg(r)
                row += ["ok", sig(mean), sig(mmean), self.check(r, "latency", mean, mmean), sig(r.lat_ms("p50")),
                        sig(r.lat_ms("p99")), sig(rq), sig(mrq), self.check(r, "requests", rq, mrq),
                        sig(r.r("throughput.delivered_per_s")), count(r.r("delivery.lost"))]
            rows.append(row)
        align = "lll" + "r" * len(keys) + "l" + "r" * 10
        whose = ("the folder" if len(self.servers) < 2 else
                 "%s (the other servers' runs are in the Servers part)" % self.primary)
        return ("## Every run\n\nEvery run of %s in run order, with its model comparison. Parameter " % whose +
                "columns are those that vary between runs (names as in runs.jsonl `params`; poll_interval_ms "
                "matters only to short polling).\n\n" + table(head, rows, align))

    # -------------------------------------------------------------- model

    def model_section(self):
        md = self.model
        if md.s_run is not None:
            s_txt = ("**s = %s ms**, estimated from this folder: the lowest p50 of an SSE or WebSocket run on "
                     "loopback (run %s, %s, %s)." % (sig(md.s_ms), md.s_run.n, LABEL[md.s_run.transport],
                                                     describe(md.s_run.params, ["subscribers", "rate"])))
        else:
            s_txt = ("**s = 0**: this folder has no successful SSE or WebSocket run on loopback to estimate the "
                     "service time from, so the model counts network delay only.")
        remote = ""
        if any(r.ok and not md.is_loopback(r) for r in self.runs):
            remote = ("On an emulated network the publisher sits beside the server (relay runs: it publishes "
                      "to the server directly, as a backend would), so a message crosses the network once, on "
                      "its way out. Where it crossed on the way in as well (netem runs, whose publisher shares "
                      "the namespace), the model adds that publish leg d; each run records which "
                      "(`profile.publish_path`).\n")
        out = ["## Model against measurement",
               "",
               "The teaching model of DESIGN.md §5, fed with each run's own parameters: one-way delay "
               "d = RTT/2 of the run's profile, poll interval P, per-subscriber message rate r = rate / channels, "
               "and a service time s. " + s_txt,
               "",
               "- short poll: mean latency ≈ P/2 + d + s; requests per delivered message ≈ 1/(P·r) (one "
               "request per subscriber every P, P·r messages waiting at each), never below 1/%d (an answer "
               "carries at most the server's --history, %d, messages); polls back to back (P = 0) count as "
               "P = 2d + s;" % (md.history, md.history),
               "- long poll: mean ≈ d + s (messages sparse); requests per delivered message ≈ "
               "1/max(1, r·(2d+s)) (messages that arrive during the re-issue round trip share one answer);",
               "- SSE and WebSocket: mean ≈ d + s; 0 requests per message.",
               "",
               remote,
               "Measured mean latency (`latency_us.mean`) and requests per delivered message are divided by "
               "the model's; a ratio more than 25% from 1 is flagged ⚠ in the tables.",
               "",
               "### Where the model and the measurement disagree",
               ""]
        if not self.flags:
            out.append("Nowhere: every compared ratio is within 25%.")
        for f in sorted(self.flags, key=lambda f: (f.run.n, f.what)):
            r = f.run
            where = "run %s (%s, %s)" % (r.n, LABEL[r.transport], describe(
                r.params, ["profile", "subscribers", "rate"] + (["poll_interval_ms"] if r.transport == "poll" else [])
                + [k for k in ("keepalive", "churn_s") if r.params.get(k) not in (None, True, 0)], self.profiles))
            if f.what == "latency":
                fig = "mean latency %s ms against the model's %s ms" % (sig(f.measured), sig(f.model))
            else:
                fig = "%s requests per delivered message against the model's %s" % (sig(f.measured), sig(f.model))
            if f.model:
                fig += " (%s×, off by %s%%)" % (sig(f.measured / f.model), sig(abs(f.measured / f.model - 1) * 100))
            out.append("- ⚠ %s: %s. Likely: %s." % (where, fig, f.reason))
        return "\n".join(out)

    # -------------------------------------------------------------- sentences

    def headline_group(self):
        """The main section's highest-load group (loopback first) with >= 2 transports."""
        best = None
        for params, runs in self.headline_groups():
            ok = [r for r in runs if r.ok]
            if len({r.transport for r in ok}) < 2:
                continue
            load = max(r.load for r in ok)
            key = (self.model.is_loopback(ok[0]), load)
            if best is None or key > best[0]:
                best = (key, params, ok)
        return best

    def which_when(self):
        s = []
        hg = self.headline_group()
        if hg is not None:
            _, params, runs = hg
            by = {}
            for r in runs:
                by.setdefault(r.transport, r)
            where = "At %s msg/s and %s%s" % (
                sig(params.get("rate")), subscribers_words(params.get("subscribers")),
                "" if self.model.is_loopback(runs[0]) else " on %s" % profile_words(
                    params.get("profile"), self.profiles))
            push = by.get("sse") or by.get("ws")
            poll = by.get("poll")
            if poll and push and poll.lat_ms("p50") and push.lat_ms("p50"):
                a, b = poll.lat_ms("p50"), push.lat_ms("p50")
                rel = "%s× %s's %s ms" % (sig(a / b), LABEL[push.transport], sig(b)) if a >= b else \
                    "below %s's %s ms" % (LABEL[push.transport], sig(b))
                s.append("%s, short polling every %s ms sent %s requests per delivered message and its p50 "
                         "latency was %s ms, %s." % (where, sig(poll.p("poll_interval_ms")),
                                                      sig(poll.r("cost.requests_per_delivered")), sig(a), rel))
            lat = [(r.lat_ms("p99"), r) for r in by.values() if r.lat_ms("p99") is not None]
            if len(lat) >= 2:
                lat.sort(key=lambda x: x[0])
                s.append("%s%s had the lowest p99 latency (%s ms) and %s the highest (%s ms)." % (
                    "There, " if s else where + ", ", LABEL[lat[0][1].transport], sig(lat[0][0]),
                    LABEL[lat[-1][1].transport], sig(lat[-1][0])))
            bpm = sorted(((r.r("cost.bytes_per_delivered"), r) for r in by.values()
                          if r.r("cost.bytes_per_delivered") is not None), key=lambda x: x[0])
            cpu = sorted(((r.r("cost.server_cpu_us_per_delivered"), r) for r in by.values()
                          if r.r("cost.server_cpu_us_per_delivered") is not None), key=lambda x: x[0])
            if len(bpm) >= 2:
                txt = "%s needed the fewest bytes per delivered message (%s B, against %s B for %s)" % (
                    LABEL[bpm[0][1].transport], sig(bpm[0][0]), sig(bpm[-1][0]), LABEL[bpm[-1][1].transport])
                if len(cpu) >= 2:
                    same = cpu[0][1] is bpm[0][1]
                    txt += "%s the lowest server CPU per message (%s µs, against %s µs for %s)" % (
                        " and also had" if same else "; " + LABEL[cpu[0][1].transport] + " had",
                        sig(cpu[0][0]), sig(cpu[-1][0]), LABEL[cpu[-1][1].transport])
                s.append(txt + ".")
        s += [x for x in (self.sentence_longpoll(), self.sentence_interval(), self.sentence_pooling(),
                          self.sentence_remote()) if x]
        body = " ".join(s[:MAX_SENTENCES]) if s else \
            "This folder has too few successful runs of comparable settings to compare transports."
        return "## Which transport when\n\n" + body

    def sentence_longpoll(self):
        """Where long polling's requests per message come closest to short polling's."""
        best = None
        for params, runs in self.group(self.ok_runs(("poll", "longpoll")), ("transport", "poll_interval_ms")):
            polls = [r for r in runs if r.transport == "poll" and r.r("cost.requests_per_delivered")]
            lps = [r for r in runs if r.transport == "longpoll" and r.r("cost.requests_per_delivered") is not None]
            for pr in polls:
                if pr.p("poll_interval_ms") != 100 and len(polls) > 1:
                    continue
                for lp in lps:
                    ratio = lp.r("cost.requests_per_delivered") / pr.r("cost.requests_per_delivered")
                    if best is None or ratio > best[0]:
                        best = (ratio, params, pr, lp)
        if best is None:
            return None
        ratio, params, pr, lp = best
        at = "at %s msg/s and %s (%s)" % (sig(params.get("rate")), subscribers_words(params.get("subscribers")),
                                                      params.get("profile", "loopback"))
        a, b = lp.r("cost.requests_per_delivered"), pr.r("cost.requests_per_delivered")
        pr_x = (self.model.poll_ms(pr) or 0) / 1000.0 * self.model.r_per_s(pr)
        e, q = pr.r("cost.empty_answers"), pr.r("cost.requests")
        empty = "; %s%% of the short polls came back empty" % sig(100.0 * e / q) if e is not None and q else ""
        if ratio >= 1:
            return ("Long polling sent as many or more requests per delivered message than short polling every "
                    "%s ms %s: %s against %s (P·r = %s messages per poll interval%s)." % (
                        sig(pr.p("poll_interval_ms")), at, sig(a), sig(b), sig(pr_x), empty))
        return ("Long polling's requests per delivered message came closest to short polling's %s: %s against "
                "%s (%s×)." % (at, sig(a), sig(b), sig(ratio)))

    def sentence_interval(self):
        series = self.interval_series()
        if not series:
            return None
        label, pts = series[0]
        lo, hi = pts[0], pts[-1]
        if lo.lat_ms("mean") is None or hi.lat_ms("mean") is None:
            return None
        return ("Across the poll-interval sweep (%s), going from %s ms down to %s ms cut short polling's mean "
                "latency from %s ms to %s ms and raised its request rate from %s to %s requests/s." % (
                    label, sig(hi.p("poll_interval_ms")), sig(lo.p("poll_interval_ms")), sig(hi.lat_ms("mean")),
                    sig(lo.lat_ms("mean")), sig(hi.req_per_s), sig(lo.req_per_s)))

    def sentence_pooling(self):
        pair = self.pooling_pair()
        if pair is None:
            return None
        on, off = pair
        return ("Without keep-alive, short polling opened %s connections in the window (%s/s) and cost %s µs of "
                "client CPU per delivered message, against %s connection%s and %s µs with pooled connections." % (
                    count(off.r("cost.connections_opened")), sig(off.conns_per_s),
                    sig(off.r("cost.client_cpu_us_per_delivered")), count(on.r("cost.connections_opened")),
                    "" if on.r("cost.connections_opened") == 1 else "s",
                    sig(on.r("cost.client_cpu_us_per_delivered"))))

    def sentence_remote(self):
        """Long polling against a push transport on the slowest emulated network."""
        best = None
        for params, runs in self.group(self.ok_runs(), ("transport", "poll_interval_ms")):
            if self.model.is_loopback(runs[0]):
                continue
            by = {r.transport: r for r in runs}
            push = by.get("sse") or by.get("ws")
            lp = by.get("longpoll")
            if push and lp and push.lat_ms("p50") and lp.lat_ms("p50"):
                key = self.model.rtt_ms(runs[0])
                if best is None or key > best[0]:
                    best = (key, params, lp, push)
        if best is None:
            return None
        rtt, params, lp, push = best
        prof = self.profiles.get(params.get("profile"), {})
        return ("On %s (%s ms RTT, %s), long polling's p50 latency was %s ms against %s's %s ms (one-way "
                "delay %s ms)." % (params.get("profile"), sig(rtt), prof.get("method") or "method not recorded",
                                   sig(lp.lat_ms("p50")), LABEL[push.transport], sig(push.lat_ms("p50")),
                                   sig(rtt / 2)))

    # -------------------------------------------------------------- charts

    def chart_sections(self):
        out = ["## Charts"]
        for fn in (self.chart_cdf, self.chart_subscribers, self.chart_rate, self.chart_interval,
                   self.chart_pooling):
            out += ["", fn()]
        return "\n".join(out)

    def picture(self, title, name, script):
        """Markdown for a chart: the image, or a sentence why there is none."""
        err = self.charts.draw(name, script)
        if err:
            print("report.py: %s: chart not drawn: %s" % (name, err), file=sys.stderr)
            return "*(%s: chart not drawn: %s.)*" % (title, err)
        return "![%s](%s)" % (title, name)

    def cdf_runs(self, profile):
        """Representative runs of a profile: main section, else the section with
        the most transports; per transport the highest-load run."""
        runs = [r for r in self.ok_runs() if r.profile_name == profile and r.latency_hist()]
        if not runs:
            return []
        sections = []
        for r in runs:
            if r.section not in sections:
                sections.append(r.section)
        if self.main_section in sections:
            pick = self.main_section
        else:
            pick = max(sections, key=lambda s: (len({r.transport for r in runs if r.section == s}),
                                                -sections.index(s)))
        chosen = {}
        for r in runs:
            if r.section == pick and (r.transport not in chosen or r.load > chosen[r.transport].load):
                chosen[r.transport] = r
        return [chosen[t] for t in TRANSPORTS if t in chosen]

    def chart_cdf(self):
        out = ["### Latency distribution (CDF)"]
        profiles = [p for p in self.profiles if self.cdf_runs(p)]
        if not profiles:
            return out[0] + "\n\nNo chart: no successful run in this folder has a latency histogram."
        for prof in profiles:
            runs = self.cdf_runs(prof)
            blocks, plots, xs = "", [], []
            for i, r in enumerate(runs):
                pts = cdf_points(r.latency_hist())
                if not pts:
                    continue
                xs += [pts[0][0], pts[-1][0]]
                blocks += datablock("d%d" % i, pts)
                plots.append('$d%d with steps lw 2 lc rgb "%s" title "%s (run %s)"' % (
                    i, COLOR[r.transport], LABEL[r.transport], r.n))
            name = "chart-cdf-%s.svg" % re.sub(r"[^A-Za-z0-9_.-]", "_", prof)
            title = "Latency CDF, %s" % profile_words(prof, self.profiles)
            sc = blocks + (
                'set title "%s"\nset xlabel "latency from scheduled publish time (ms, log scale)"\n'
                'set ylabel "fraction of deliveries at or below"\nset logscale x\nset yrange [0:1.02]\n%s'
                'set grid xtics ytics mxtics\nset key bottom right box opaque\n'
                'plot %s\n' % (gp_str(title), log_axis("x", xs), ", ".join(plots)))
            rows = [[LABEL[r.transport], str(r.n), describe(r.params, ["subscribers", "rate"] + (
                ["poll_interval_ms"] if r.transport == "poll" else [])),
                     count(r.r("latency_us.count")), sig(r.lat_ms("min")), sig(r.lat_ms("p50")),
                     sig(r.lat_ms("p90")), sig(r.lat_ms("p99")), sig(r.lat_ms("p999")), sig(r.lat_ms("max"))]
                    for r in runs]
            out += ["", "#### %s" % profile_words(prof, self.profiles), "",
                    self.picture(title, name, ("800,480", sc)) if plots else
                    "No chart: these runs' histograms use an unknown bucket scheme.", "",
                    "The curves come from these runs' histogram buckets (the same runs as the table):", "",
                    table(["transport", "run", "workload", "deliveries", "min ms", "p50 ms", "p90 ms", "p99 ms",
                           "p99.9 ms", "max ms"], rows, "lrl" + "r" * 7)]
        return "\n".join(out)

    def sweep(self, key, transports=TRANSPORTS, section=None):
        """The best group of runs that differ only in `key` (and transport):
        the named section if it exists, else any; most distinct values first."""
        pool = self.ok_runs(transports)
        if section and any(r.section == section for r in pool):
            pool = [r for r in pool if r.section == section]
        best = None
        for params, runs in self.group(pool, ("transport", key)):
            xs = {json.dumps(r.params.get(key)) for r in runs if r.params.get(key) is not None}
            if len(xs) < 2:
                continue
            score = (len(xs), len({r.transport for r in runs}), (params.get("rate") or 0))
            if best is None or score > best[0]:
                best = (score, params, runs)
        return None if best is None else (best[1], best[2])

    def series(self, runs, key):
        """{transport: [runs sorted by key]} (first run per value)."""
        out = {}
        for t in TRANSPORTS:
            seen = {}
            for r in runs:
                if r.transport == t and r.params.get(key) not in seen:
                    seen[r.params.get(key)] = r
            if seen:
                out[t] = [seen[k] for k in sorted(seen)]
        return out

    def short_fixed(self, params, swept):
        """The workload words a chart subtitle needs (the full list is in the text)."""
        keys = [k for k in ("profile", "subscribers", "channels", "rate", "size", "poll_interval_ms", "keepalive",
                            "churn_s") if k != swept and k in params]
        return describe(params, keys, self.profiles)

    def chart_subscribers(self):
        head = "### p50 and p99 latency against subscribers"
        sw = self.sweep("subscribers", section="subscribers")
        if sw is None:
            return head + "\n\nNo chart: no two successful runs in this folder differ only in subscribers."
        params, runs = sw
        ser = self.series(runs, "subscribers")
        blocks, plots = "", []
        for i, (t, rs) in enumerate(ser.items()):
            pts = [(r.subscribers, r.lat_ms("p50"), r.lat_ms("p99")) for r in rs
                   if r.lat_ms("p50") and r.lat_ms("p99")]
            if not pts:
                continue
            blocks += datablock("d%d" % i, pts)
            plots.append('$d%d using 1:2 with linespoints lw 2 pt 7 lc rgb "%s" title "%s p50"' % (i, COLOR[t], LABEL[t]))
            plots.append('$d%d using 1:3 with linespoints lw 2 dt 2 pt 6 lc rgb "%s" title "%s p99"' % (
                i, COLOR[t], LABEL[t]))
        fixed = describe(params, None, self.profiles)
        title = "Latency against subscribers"
        sc = blocks + ('set title "%s\\n%s"\nset xlabel "subscribers per transport (log scale)"\n'
                       'set ylabel "latency (ms, log scale)"\nset logscale xy\nset grid\nset offsets graph 0.05, graph 0.05, graph 0.06, graph 0.06\n'
                       'set key outside right top\nplot %s\n' % (
                           title, gp_str(wrap(self.short_fixed(params, "subscribers"), 90)), ", ".join(plots)))
        xs = sorted({r.subscribers for r in runs})
        rows = []
        for x in xs:
            row = [sig(x)]
            for t in ser:
                r = next((r for r in ser[t] if r.subscribers == x), None)
                row.append("%s / %s" % (sig(r.lat_ms("p50")), sig(r.lat_ms("p99"))) if r else "-")
            rows.append(row)
        return "\n".join([head, "", "Fixed: %s." % fixed, "",
                          self.picture(title, "chart-subscribers.svg", ("900,480", sc)) if plots else "No chart: no latencies.",
                          "", table(["subscribers"] + ["%s p50 / p99 ms" % LABEL[t] for t in ser], rows)])

    def chart_rate(self):
        head = "### Requests and bytes per delivered message against message rate"
        sw = self.sweep("rate", section="rate")
        if sw is None:
            return head + "\n\nNo chart: no two successful runs in this folder differ only in message rate."
        params, runs = sw
        ser = self.series(runs, "rate")
        blocks, rq_plots, b_plots, zero = "", [], [], []
        for i, (t, rs) in enumerate(ser.items()):
            rq = [(r.rate, r.r("cost.requests_per_delivered")) for r in rs
                  if r.r("cost.requests_per_delivered")]
            by = [(r.rate, r.r("cost.bytes_per_delivered")) for r in rs if r.r("cost.bytes_per_delivered")]
            if any(r.r("cost.requests_per_delivered") == 0 for r in rs):
                zero.append(LABEL[t])
            if rq:
                blocks += datablock("q%d" % i, rq)
                rq_plots.append('$q%d with linespoints lw 2 pt 7 lc rgb "%s" title "%s"' % (i, COLOR[t], LABEL[t]))
            if by:
                blocks += datablock("b%d" % i, by)
                b_plots.append('$b%d with linespoints lw 2 pt 7 lc rgb "%s" title "%s"' % (i, COLOR[t], LABEL[t]))
        fixed = describe(params, None, self.profiles)
        title = "Cost per delivered message against message rate"
        sc = blocks + ('set multiplot layout 1,2 title "%s\\n%s"\nset logscale xy\nset grid\n'
                       'set xlabel "messages/s published (log scale)"\nset key bottom left\n'
                       'set offsets graph 0.05, graph 0.05, graph 0.06, graph 0.06\n' % (
                           title, gp_str(wrap(self.short_fixed(params, "rate"), 110))))
        sc += ('set title "requests per delivered message"\nset ylabel "requests / message (log scale)"\n'
               'plot %s\n' % ", ".join(rq_plots)) if rq_plots else 'set title "no requests"\nplot NaN notitle\n'
        sc += 'set title "bytes per delivered message"\nset ylabel "bytes / message (log scale)"\nplot %s\n' % (
            ", ".join(b_plots) if b_plots else "NaN notitle")
        sc += "unset multiplot\n"
        xs = sorted({r.rate for r in runs})
        rows = []
        for x in xs:
            row = [sig(x)]
            for t in ser:
                r = next((r for r in ser[t] if r.rate == x), None)
                row.append("%s / %s" % (sig(r.r("cost.requests_per_delivered")),
                                        sig(r.r("cost.bytes_per_delivered"))) if r else "-")
            rows.append(row)
        note = (" %s sent 0 requests per message (nothing to draw on a log scale)." % " and ".join(zero)) if zero else ""
        return "\n".join([head, "", "Fixed: %s.%s" % (fixed, note), "",
                          self.picture(title, "chart-rate.svg", ("1100,480", sc)), "",
                          table(["msg/s"] + ["%s req/msg / B/msg" % LABEL[t] for t in ser], rows)])

    def interval_series(self):
        """[(label, [poll runs sorted by poll interval])], one per group that sweeps P."""
        pool = self.ok_runs(("poll",))
        if any(r.section == "poll-interval" for r in pool):
            pool = [r for r in pool if r.section == "poll-interval"]
        out = []
        groups = [(p, rs) for p, rs in self.group(pool, ("transport", "poll_interval_ms"))
                  if len({r.p("poll_interval_ms") for r in rs}) >= 2]
        profs = [p.get("profile") for p, _ in groups]
        for params, rs in groups[:len(SERIES_COLORS)]:
            seen = {}
            for r in rs:
                seen.setdefault(r.p("poll_interval_ms"), r)
            label = str(params.get("profile", "loopback"))
            if profs.count(params.get("profile")) > 1:
                label += ", %s subscribers, %s msg/s" % (sig(params.get("subscribers")), sig(params.get("rate")))
            out.append((label, [seen[k] for k in sorted(seen)]))
        return out

    def chart_interval(self):
        head = "### Short-poll interval: measured against the model"
        series = self.interval_series()
        if not series:
            return head + "\n\nNo chart: no two successful short-poll runs in this folder differ only in poll interval."
        md = self.model
        blocks, lat, req, rows = "", [], [], []
        for i, (label, rs) in enumerate(series):
            c = SERIES_COLORS[i % len(SERIES_COLORS)]
            pts = [(r.p("poll_interval_ms"), r.lat_ms("mean"), r.req_per_s if r.req_per_s is not None else float("nan"))
                   for r in rs if r.p("poll_interval_ms") and r.lat_ms("mean") is not None]
            r0 = rs[0]
            d, s, subs = md.d_ms(r0), md.s_ms, r0.subscribers
            if pts:
                blocks += datablock("d%d" % i, pts)
                lat.append('$d%d using 1:2 with points pt 7 ps 1.3 lc rgb "%s" title "%s measured"' % (i, c, label))
                req.append('$d%d using 1:3 with points pt 7 ps 1.3 lc rgb "%s" title "%s measured"' % (i, c, label))
            lat.append('x/2 + %r + %r with lines dt 2 lw 2 lc rgb "%s" title "%s model P/2+d+s"' % (d, s, c, label))
            req.append('%r*1000/x with lines dt 2 lw 2 lc rgb "%s" title "%s model subscribers/P"' % (float(subs), c, label))
            for r in rs:
                mean, mm = r.lat_ms("mean"), md.mean_ms(r)
                rps, mr = r.req_per_s, md.req_per_s(r)
                rows.append([label, str(r.n), sig(r.p("poll_interval_ms")), sig(mean), sig(mm),
                             self.check(r, "latency", mean, mm), sig(rps), sig(mr), compare(rps, mr)[0]])
        allp = [r.p("poll_interval_ms") for _, rs in series for r in rs if r.p("poll_interval_ms")]
        lo, hi = min(allp) / 1.5, max(allp) * 1.5
        title = "Short polling against its poll interval P"
        sc = blocks + ('set multiplot layout 1,2 title "%s (points: measured; dashed: model, s = %s ms)"\n'
                       'set logscale x\nset xrange [%r:%r]\nset grid\nset xlabel "poll interval P (ms, log scale)"\n'
                       'set key top left font ",10"\nset samples 200\n'
                       'set title "mean latency"\nset ylabel "ms"\nset logscale y\nplot %s\n'
                       'set title "requests per second (all subscribers)"\nset ylabel "requests/s (log scale)"\n'
                       'set key top right\nplot %s\nunset multiplot\n' % (
                           title, sig(md.s_ms), lo, hi, ", ".join(lat), ", ".join(req)))
        return "\n".join([head, "", "Model lines: mean latency P/2 + d + s and subscribers/P requests per "
                          "second (d = RTT/2 of the profile). The request rate is requests / the span they were "
                          "counted over (`cost.window_s`: measure start to drain end; results from before "
                          "the client recorded it use the measure window, which reads slightly high).", "",
                          self.picture(title, "chart-poll-interval.svg", ("1100,500", sc)), "",
                          table(["series", "run", "P ms", "mean ms", "model ms", "mean/model", "req/s",
                                 "model req/s", "req/s ratio"], rows, "lr" + "r" * 7)])

    def pooling_pair(self):
        pool = self.ok_runs(("poll",))
        if any(r.section == "pooling" for r in pool):
            pool = [r for r in pool if r.section == "pooling"]
        for params, rs in self.group(pool, ("transport", "keepalive")):
            on = next((r for r in rs if r.params.get("keepalive") is True), None)
            off = next((r for r in rs if r.params.get("keepalive") is False), None)
            if on and off:
                return on, off
        return None

    def chart_pooling(self):
        head = "### Pooled against new connections (short polling, keep-alive on/off)"
        pair = self.pooling_pair()
        if pair is None:
            return head + "\n\nNo chart: no pair of successful short-poll runs differs only in keep-alive."
        on, off = pair
        metrics = [("connections opened per second", lambda r: r.conns_per_s),
                   ("requests per second", lambda r: r.req_per_s),
                   ("mean latency (ms)", lambda r: r.lat_ms("mean")),
                   ("client CPU µs per delivered message", lambda r: r.r("cost.client_cpu_us_per_delivered"))]
        blocks = ""
        panels = []
        for i, (label, fn) in enumerate(metrics):
            a, b = fn(on), fn(off)
            blocks += datablock("m%d" % i, [(0, a if a is not None else float("nan"), "on"),
                                            (1, b if b is not None else float("nan"), "off")])
            panels.append('set title "%s"\nplot $m%d using 1:2:(0.6):($1==0?1:2):xtic(3) with boxes '
                          'lc variable notitle, $m%d using 1:2:(sprintf("%%.3g",$2)) with labels offset 0,0.8 '
                          'notitle\n' % (label, i, i))
        fixed = describe(on.params, [k for k in on.params if k != "keepalive"], self.profiles)
        title = "Short polling with and without keep-alive"
        sc = blocks + ('set multiplot layout 1,4 title "%s (runs %s and %s)\\n%s"\nset style fill solid 0.8\n'
                       'set linetype 1 lc rgb "#1f77b4"\nset linetype 2 lc rgb "#d62728"\nset xrange [-0.6:1.6]\n'
                       'set yrange [0:*]\nset offsets 0, 0, graph 0.15, 0\nset grid ytics\nset title font ",11"\nset xlabel "keep-alive"\n'
                       % (title, on.n, off.n, gp_str(wrap(self.short_fixed(on.params, "keepalive"), 120)))) + "".join(panels) + "unset multiplot\n"
        rows = []
        for r in (on, off):
            rows.append(["on" if r is on else "off", str(r.n), count(r.r("cost.connections_opened")),
                         sig(r.conns_per_s), sig(r.req_per_s), sig(r.r("cost.connection_reuse_ratio")),
                         sig(r.lat_ms("p50")), sig(r.lat_ms("mean")), sig(r.r("cost.client_cpu_us_per_delivered")),
                         sig(r.r("cost.server_cpu_us_per_delivered"))])
        return "\n".join([head, "", "Fixed: %s." % fixed, "",
                          self.picture(title, "chart-pooling.svg", ("1100,420", sc)), "",
                          table(["keep-alive", "run", "conns opened", "conns/s", "req/s", "reuse ratio", "p50 ms",
                                 "mean ms", "cli µs/msg", "srv µs/msg"], rows, "lr" + "r" * 8)])


def log_axis(axis, values):
    """gnuplot lines for a log axis that hugs the data: range a little wider
    than it, ticks at 1..9 steps within a decade, 1-2-5 steps over a few,
    decades only over a wide range."""
    vals = [v for v in values if v and v > 0]
    if not vals:
        return ""
    lo, hi = min(vals) / 1.15, max(vals) * 1.15
    span = hi / lo
    steps = (1, 2, 3, 4, 5, 6, 7, 8, 9) if span < 10 else (1, 2, 5) if span < 1e4 else (1,)
    ticks = []
    for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for m in steps:
            t = m * 10.0 ** e
            if lo <= t <= hi:
                ticks.append(t)
    return "set %srange [%r:%r]\nset %stics (%s)\n" % (
        axis, lo, hi, axis, ", ".join('"%s" %r' % (qty(round(t, 6)) if t >= 1 else "%g" % t, t) for t in ticks))


def wrap(text, width):
    """Break a chart subtitle into lines of at most width characters (gnuplot \\n)."""
    words, lines, cur = text.split(" "), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = (cur + " " + w) if cur else w
    lines.append(cur)
    return "\n".join(lines)


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print("usage: report.py RESULTS_DIR\n  writes RESULTS_DIR/report.md and RESULTS_DIR/chart-*.svg "
              "from manifest.json and runs.jsonl (docs/RESULTS-FORMAT.md)",
              file=sys.stdout if len(argv) == 2 else sys.stderr)
        return 0 if len(argv) == 2 else 2
    folder = argv[1]
    if not os.path.isdir(folder):
        print("report.py: %s: not a directory" % folder, file=sys.stderr)
        return 2
    try:
        rep = Report(folder)
        rep.render()
    except FolderError as e:
        print("report.py: %s" % e, file=sys.stderr)
        return 2
    print("wrote %s" % os.path.join(folder, "report.md"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
