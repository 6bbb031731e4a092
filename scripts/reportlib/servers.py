"""The report's "Servers" part: the same workloads measured on several
servers (scenario key `servers`), side by side per transport.

compare() works out every figure and verdict first; render() only writes
them as text. A figure *agrees* when the servers' values are within
AGREE_RATIO of each other, or closer than the figure's noise floor: then
the transport decides it. Otherwise it *differs*: the implementation
decides it. Works on report.Run objects (or anything with the same
attributes: n, server, transport, params, raw, result, ok, failed,
not_offered, failure, r(path), lat_ms(field)). Standard library only.
"""

from .load import server_names
from .text import LABEL, TRANSPORTS, count, get, sig, table

AGREE_RATIO = 1.25          # the larger within 25 % of the smaller: agree
LATENCY_FLOOR_MS = 0.1      # latencies closer than this agree (loopback jitter)
CLOCK_TICK_US = 10_000      # getrusage (pushpull's /stats) moves by scheduler ticks, 10 ms
PAGE_BYTES = 4096           # VmRSS moves by pages
TAIL_SAMPLES = 10           # a percentile is compared when this many samples lie beyond it
RSS_SUBSCRIBERS = 100       # below, memory per subscriber is mostly one-off allocations
LOWER, HIGHER = "lower", "higher"


class Figure:
    """One column: how to read it from a run, which way is better, its
    unit in sentences, and its noise floor for a workload's runs."""

    def __init__(self, key, head, words, value, better, unit, floor, usable=None):
        self.key, self.head, self.words = key, head, words
        self.value, self.better, self.unit, self.floor = value, better, unit, floor
        self.usable = usable or (lambda r: True)

    def text(self, v):
        return sig(v) + self.unit


def _tail(q):
    """Does a run have enough samples beyond its q-quantile for it to be
    more than noise (a p99 of 30 messages is their maximum)?"""
    return lambda r: (r.r("latency_us.count") or 0) * (1 - q) >= TAIL_SAMPLES


def _no_floor(runs):
    return 0.0


def _latency_floor(runs):
    return LATENCY_FLOOR_MS


def _cpu_floor(runs):
    """CPU from a server's /stats is a difference of two tick-counted
    readings: up to one tick off per run, spread over its delivered
    messages. From /proc (schedstat) it is counted in nanoseconds: no floor."""
    return sum(CLOCK_TICK_US / d for d, src in ((r.r("delivery.delivered"), get(r.result, "cost.server_cpu_source"))
                                                for r in runs) if d and src != "proc")


def _rss_floor(runs):
    """Each value is a difference of two page-counted readings per server
    process, spread over its subscribers."""
    return sum(PAGE_BYTES * _pid_count(r) / r.params.get("subscribers", 1) for r in runs
               if r.params.get("subscribers"))


def _pid_count(run):
    cmd = run.raw.get("command") or []
    if "--server-pid" in cmd and cmd.index("--server-pid") + 1 < len(cmd):
        return len(str(cmd[cmd.index("--server-pid") + 1]).split(","))
    return 1


FIGURES = (
    Figure("p50", "p50 ms", "p50 latency", lambda r: r.lat_ms("p50"), LOWER, " ms", _latency_floor, _tail(0.5)),
    Figure("p99", "p99 ms", "p99 latency", lambda r: r.lat_ms("p99"), LOWER, " ms", _latency_floor, _tail(0.99)),
    Figure("deliv", "deliv/s", "deliveries per second", lambda r: r.r("throughput.delivered_per_s"), HIGHER,
           "/s", _no_floor),
    Figure("lost", "lost", "messages lost", lambda r: r.r("delivery.lost"), LOWER, "", _no_floor),
    Figure("req", "req/msg", "requests per message", lambda r: r.r("cost.requests_per_delivered"), LOWER, "",
           _no_floor),
    Figure("bytes", "B/msg", "bytes per message", lambda r: r.r("cost.bytes_per_delivered"), LOWER, " B",
           _no_floor),
    Figure("cpu", "srv µs/msg", "server CPU per delivered message",
           lambda r: r.r("cost.server_cpu_us_per_delivered"), LOWER, " µs", _cpu_floor),
    Figure("rss", "srv B/sub", "server memory per subscriber",
           lambda r: r.r("cost.server_rss_per_subscriber_bytes"), LOWER, " B", _rss_floor,
           lambda r: (r.params.get("subscribers") or 0) >= RSS_SUBSCRIBERS),
)


# ------------------------------------------------------------------ figures

class Verdict:
    """How the servers of one workload compare on one figure.
    kind: "agree", "differ", or None (fewer than two values).
    ratio: largest / smallest (None when the smallest is not above 0).
    best, worst: the servers with the better and the worse value."""

    def __init__(self, kind, values, ratio=None, best=None, worst=None):
        self.kind, self.values, self.ratio, self.best, self.worst = kind, values, ratio, best, worst


def judge(values, floor, better=LOWER):
    """values {server: number or None} -> Verdict."""
    have = {s: v for s, v in values.items() if v is not None}
    if len(have) < 2:
        return Verdict(None, values)
    lo_s = min(have, key=lambda s: have[s])
    hi_s = max(have, key=lambda s: have[s])
    lo, hi = have[lo_s], have[hi_s]
    ratio = hi / lo if lo > 0 else None
    best, worst = (lo_s, hi_s) if better == LOWER else (hi_s, lo_s)
    if hi - lo <= floor or (ratio is not None and ratio <= AGREE_RATIO):
        return Verdict("agree", values, ratio, best, worst)
    return Verdict("differ", values, ratio, best, worst)


class Workload:
    """One workload (every parameter but the server) and its run per server."""

    def __init__(self, params, runs):
        self.params = params
        self.runs = runs                      # {server: Run or None}
        ok = [r for r in runs.values() if r is not None and r.ok]
        self.values = {f.key: {s: (f.value(r) if r is not None and r.ok else None) for s, r in runs.items()}
                       for f in FIGURES}
        self.verdicts = {f.key: judge({s: v if v is not None and f.usable(runs[s]) else None
                                       for s, v in self.values[f.key].items()}, f.floor(ok), f.better)
                         for f in FIGURES}


class Summary:
    """One figure over a transport's workloads."""

    def __init__(self, fig, workloads):
        self.fig = fig
        pairs = [(w, w.verdicts[fig.key]) for w in workloads]
        self.compared = [(w, v) for w, v in pairs if v.kind]
        self.differ = [(w, v) for w, v in self.compared if v.kind == "differ"]
        self.biggest = max(self.differ, key=lambda wv: wv[1].ratio or float("inf"), default=None)
        self.best = {}
        for _, v in self.differ:
            self.best[v.best] = self.best.get(v.best, 0) + 1


class TransportPart:
    def __init__(self, transport, names, workloads, keys):
        self.transport = transport
        self.names = names
        self.workloads = workloads
        self.keys = keys                      # parameters that tell the workloads apart
        self.summaries = [Summary(f, workloads) for f in FIGURES]
        runs = [(s, r) for w in workloads for s, r in w.runs.items() if r is not None]
        self.not_offered = {s: sum(1 for t, r in runs if t == s and r.not_offered) for s in names}
        self.runs_of = {s: sum(1 for t, _ in runs if t == s) for s in names}


def _key(params):
    return tuple(sorted((k, repr(v)) for k, v in params.items() if k not in ("server", "rtt_ms")))


def compare(runs, names):
    """[TransportPart] for every transport some server ran."""
    parts = []
    for t in TRANSPORTS:
        groups = {}
        for r in runs:
            if r.transport == t:
                k = _key(r.params)
                groups.setdefault(k, ({k2: v for k2, v in r.params.items() if k2 not in ("server", "rtt_ms")},
                                      {}))[1].setdefault(r.server, r)
        if not groups:
            continue
        workloads = [Workload(p, {s: by.get(s) for s in names}) for p, by in groups.values()]
        keys = [k for k in workloads[0].params if k != "transport"
                and len({repr(w.params.get(k)) for w in workloads}) > 1]
        parts.append(TransportPart(t, names, workloads, keys))
    return parts


# ------------------------------------------------------------------ text

def workload_words(params, keys):
    """'100 subscribers × 1000 msg/s' plus any other parameter that varies."""
    n = params.get("subscribers")
    head = "%s subscriber%s × %s msg/s" % (sig(n), "" if n == 1 else "s", sig(params.get("rate")))
    rest = ["%s=%s" % (k, params.get(k)) for k in keys if k not in ("subscribers", "rate")]
    return ", ".join([head] + rest)


def cell(fig, w, server):
    v, verdict = w.values[fig.key].get(server), w.verdicts[fig.key]
    if v is None:
        return "-"
    text = count(v) if fig.key == "lost" else sig(v)
    have = [x for x in verdict.values.values() if x is not None]
    if verdict.kind == "differ" and v == max(have):
        text += " (%s×)" % sig(verdict.ratio, 2) if verdict.ratio else " (≠)"
    return text


def run_row(part, w, server):
    r = w.runs.get(server)
    name = server if r is None else "%s (run %s)" % (server, r.n)
    if r is None:
        return [name, "not run"] + [""] * (len(FIGURES) - 1)
    if r.not_offered:
        return [name, "not offered"] + [""] * (len(FIGURES) - 1)
    if r.failed:
        return [name, "FAILED: %s" % r.failure] + [""] * (len(FIGURES) - 1)
    return [name] + [cell(f, w, server) for f in FIGURES]


def transport_table(part):
    rows = []
    for w in part.workloads:
        for i, s in enumerate(part.names):
            rows.append([workload_words(w.params, part.keys) if i == 0 else ""] + run_row(part, w, s))
    return table(["workload", "server"] + [f.head for f in FIGURES], rows, "ll" + "r" * len(FIGURES))


def _join(words):
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _of(n, compared, total):
    """'in both workloads', 'in 2 of 3 workloads', 'in the one workload where it can be compared'."""
    if compared == 1:
        return "in the one workload" + (" where it can be compared" if total > 1 else "")
    where = "" if compared == total else " where it can be compared"
    if n == compared:
        return ("in both workloads" if compared == 2 else "in all %d workloads" % compared) + where
    return "in %d of %d workloads%s" % (n, compared, where)


def agree_sentence(part):
    figs = [s for s in part.summaries if s.compared and not s.differ]
    if not figs:
        return None
    total = len(part.workloads)
    groups = {}
    for s in figs:
        groups.setdefault(len(s.compared), []).append(s.fig.words)
    clauses = ["%s %s" % (_join(words), _of(n, n, total)) for n, words in sorted(groups.items(), reverse=True)]
    return ("The servers agree on %s: the transport decides %s."
            % (", and ".join(clauses), "these" if len(figs) > 1 else "it"))


def differ_sentence(part, s):
    w, v = s.biggest
    f = s.fig
    worse = "%s %s" % (v.worst, f.text(v.values[v.worst]))
    better = "%s %s" % (v.best, f.text(v.values[v.best]))
    how = ("%s× %s on %s" % (sig(v.ratio, 2), f.better, v.best) if v.ratio
           else "%s on %s" % (f.better, v.best))
    if len(s.differ) == 1:
        steady = ""
    elif len(s.best) == 1:
        steady = "; %s is %s in %s" % (v.best, f.better, "both" if len(s.differ) == 2 else "all %d" % len(s.differ))
    else:
        steady = "; which server is %s changes with the workload (%s)" % (
            f.better, ", ".join("%s in %d" % (k, n) for k, n in sorted(s.best.items(), key=lambda kv: -kv[1])))
    where = "" if len(part.workloads) == 1 else (", most at " if len(s.differ) > 1 else ", at ") + \
        workload_words(w.params, part.keys)
    return ("They differ on %s %s%s: %s against %s, %s%s. The implementation decides it."
            % (f.words, _of(len(s.differ), len(s.compared), len(part.workloads)), where, better, worse, how,
               steady))


def sentences(part):
    """What the data say about one transport, agreeing figures first."""
    out = []
    for s in part.names:
        n = part.not_offered[s]
        if n:
            out.append("%s does not offer %s (%s)." % (
                s, LABEL[part.transport], "its run is marked not offered" if n == 1 else
                "%d of its %d runs are marked not offered" % (n, part.runs_of[s])))
    if not any(s.compared for s in part.summaries):
        out.append("No workload of %s ran successfully on two servers: nothing to compare."
                   % LABEL[part.transport])
        return out
    a = agree_sentence(part)
    if a:
        out.append(a)
    differ = sorted((s for s in part.summaries if s.differ), key=lambda s: -(s.biggest[1].ratio or float("inf")))
    out += [differ_sentence(part, s) for s in differ]
    return out


def cpu_sources(runs):
    """{server: sorted cost.server_cpu_source values of its ok runs}."""
    out = {}
    for r in runs:
        if r.ok:
            out.setdefault(r.server, set()).add(get(r.result, "cost.server_cpu_source", "not recorded"))
    return {s: sorted(v) for s, v in out.items()}


def servers_table(names, manifest, runs):
    info = (manifest or {}).get("servers") if isinstance((manifest or {}).get("servers"), dict) else {}
    rows = []
    for s in names:
        d = info.get(s) if isinstance(info.get(s), dict) else {}
        mine = [r for r in runs if r.server == s]
        cfg = d.get("config") if isinstance(d.get("config"), list) else []
        rows.append([s, d.get("dialect") or "-", d.get("version") or "not recorded",
                     " ".join(str(x) for x in d["command"]) if d.get("command") else "not recorded",
                     ", ".join("%s (sha256 %s…)" % (c.get("file"), str(c.get("sha256"))[:12])
                               for c in cfg if isinstance(c, dict)) or "its command line",
                     "%d ok, %d not offered, %d failed" % (sum(r.ok for r in mine), sum(r.not_offered for r in mine),
                                                           sum(r.failed for r in mine))])
    return table(["server", "dialect", "version", "command", "config", "runs"], rows, "llllll")


def how_to_read(names, runs):
    src = cpu_sources(runs)
    same = len({tuple(v) for v in src.values()}) == 1
    if not src or all(v == ["not recorded"] for v in src.values()):
        cpu = "No run recorded where its server CPU came from."
    elif same:
        cpu = "Server CPU comes from %s for every server." % _source_words(next(iter(src.values())))
    else:
        cpu = ("Server CPU was not read the same way on every server (%s): compare it with care."
               % "; ".join("%s: %s" % (s, _source_words(v)) for s, v in src.items()))
    return ("Each workload ran on %s back to back, the order alternating from one workload to the next. "
            "A figure **agrees** when the larger value is within %d %% of the smaller, or closer than its "
            "noise floor (latency: %g ms, and a percentile only when at least %d samples lie beyond it; "
            "server CPU from /stats: one %d ms clock tick per run over its delivered messages, from /proc "
            "none, it counts nanoseconds; server memory: one "
            "%d-byte page per server process and run over its subscribers; lost, requests and bytes are "
            "exact): then the transport decides it. Otherwise the servers **differ** and the implementation "
            "decides; the larger value carries its ratio to the smaller, `(N×)`, or `(≠)` when the smaller "
            "is not above 0. %s srv B/sub is the growth of the server's resident memory (VmRSS of all its "
            "processes) from before the subscribers connected to the end of the measure window, per "
            "subscriber; it is compared from %d subscribers on (below, one-off allocations dominate), and a "
            "server that already grew in an earlier run of the folder (each server starts once) may show "
            "little or none."
            % (_join(names), round((AGREE_RATIO - 1) * 100), LATENCY_FLOOR_MS, TAIL_SAMPLES,
               CLOCK_TICK_US // 1000, PAGE_BYTES, cpu, RSS_SUBSCRIBERS))


def _source_words(sources):
    words = {"proc": "/proc (the run time of every thread of its processes, schedstat)", "stats": "its own /stats",
             "not recorded": "nowhere (not recorded)"}
    return " and ".join(words.get(s, str(s)) for s in sources)


def render(runs, manifest):
    """The "## Servers" part, or "" when the folder has one server."""
    names = server_names(runs, manifest)
    if len(names) < 2:
        return ""
    out = ["## Servers: %s side by side" % _join(names), "", servers_table(names, manifest, runs), "",
           how_to_read(names, runs)]
    for part in compare(runs, names):
        out += ["", "### %s" % LABEL[part.transport], "", transport_table(part), ""]
        out += ["- " + s for s in sentences(part)]
    return "\n".join(out)
