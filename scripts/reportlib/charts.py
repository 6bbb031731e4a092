"""The report's charts: a gnuplot (svg terminal) driver, histogram CDFs,
and the "Charts" part (latency CDF per profile, latency against
subscribers, cost against rate, the short-poll interval against the model,
keep-alive on/off), each with the table of the figures it draws. Standard
library only (gnuplot is run as a program when installed)."""

import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

from .load import describe, group, profile_words
from .model import compare
from .text import LABEL, TRANSPORTS, count, num, qty, sig, table

COLOR = {"poll": "#1f77b4", "longpoll": "#ff7f0e", "sse": "#2ca02c", "ws": "#d62728"}
SERIES_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")

# Histogram scheme "log-linear:128" (common/histogram.h).
HIST_SUB = 128
HIST_BUCKETS = 2534
HIST_OVERFLOW_VALUE = 60_000_001


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


def chart_sections(f):
    out = ["## Charts"]
    for fn in (chart_cdf, chart_subscribers, chart_rate, chart_interval,
               chart_pooling):
        out += ["", fn(f)]
    return "\n".join(out)


def picture(f, title, name, script):
    """Markdown for a chart: the image, or a sentence why there is none."""
    err = f.charts.draw(name, script)
    if err:
        print("report.py: %s: chart not drawn: %s" % (name, err), file=sys.stderr)
        return "*(%s: chart not drawn: %s.)*" % (title, err)
    return "![%s](%s)" % (title, name)


def cdf_runs(f, profile):
    """Representative runs of a profile: main section, else the section with
    the most transports; per transport the highest-load run."""
    runs = [r for r in f.ok_runs() if r.profile_name == profile and r.latency_hist()]
    if not runs:
        return []
    sections = []
    for r in runs:
        if r.section not in sections:
            sections.append(r.section)
    if f.main_section in sections:
        pick = f.main_section
    else:
        pick = max(sections, key=lambda s: (len({r.transport for r in runs if r.section == s}),
                                            -sections.index(s)))
    chosen = {}
    for r in runs:
        if r.section == pick and (r.transport not in chosen or r.load > chosen[r.transport].load):
            chosen[r.transport] = r
    return [chosen[t] for t in TRANSPORTS if t in chosen]


def chart_cdf(f):
    out = ["### Latency distribution (CDF)"]
    profiles = [p for p in f.profiles if cdf_runs(f, p)]
    if not profiles:
        return out[0] + "\n\nNo chart: no successful run in this folder has a latency histogram."
    for prof in profiles:
        runs = cdf_runs(f, prof)
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
        title = "Latency CDF, %s" % profile_words(prof, f.profiles)
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
        out += ["", "#### %s" % profile_words(prof, f.profiles), "",
                picture(f, title, name, ("800,480", sc)) if plots else
                "No chart: these runs' histograms use an unknown bucket scheme.", "",
                "The curves come from these runs' histogram buckets (the same runs as the table):", "",
                table(["transport", "run", "workload", "deliveries", "min ms", "p50 ms", "p90 ms", "p99 ms",
                       "p99.9 ms", "max ms"], rows, "lrl" + "r" * 7)]
    return "\n".join(out)


def sweep(f, key, transports=TRANSPORTS, section=None):
    """The best group of runs that differ only in `key` (and transport):
    the named section if it exists, else any; most distinct values first."""
    pool = f.ok_runs(transports)
    if section and any(r.section == section for r in pool):
        pool = [r for r in pool if r.section == section]
    best = None
    for params, runs in group(pool, ("transport", key)):
        xs = {json.dumps(r.params.get(key)) for r in runs if r.params.get(key) is not None}
        if len(xs) < 2:
            continue
        score = (len(xs), len({r.transport for r in runs}), (params.get("rate") or 0))
        if best is None or score > best[0]:
            best = (score, params, runs)
    return None if best is None else (best[1], best[2])


def series(f, runs, key):
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


def sweep_series(f, key, section):
    """(fixed params, runs, {transport: runs by key}) of the best sweep of key, or None."""
    sw = sweep(f, key, section=section)
    return None if sw is None else (sw[0], sw[1], series(f, sw[1], key))


def short_fixed(f, params, swept):
    """The workload words a chart subtitle needs (the full list is in the text)."""
    keys = [k for k in ("profile", "subscribers", "channels", "rate", "size", "poll_interval_ms", "keepalive",
                        "churn_s") if k != swept and k in params]
    return describe(params, keys, f.profiles)


def chart_subscribers(f):
    head = "### p50 and p99 latency against subscribers"
    sw = sweep_series(f, "subscribers", "subscribers")
    if sw is None:
        return head + "\n\nNo chart: no two successful runs in this folder differ only in subscribers."
    params, runs, ser = sw
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
    fixed = describe(params, None, f.profiles)
    title = "Latency against subscribers"
    sc = blocks + ('set title "%s\\n%s"\nset xlabel "subscribers per transport (log scale)"\n'
                   'set ylabel "latency (ms, log scale)"\nset logscale xy\nset grid\nset offsets graph 0.05, graph 0.05, graph 0.06, graph 0.06\n'
                   'set key outside right top\nplot %s\n' % (
                       title, gp_str(wrap(short_fixed(f, params, "subscribers"), 90)), ", ".join(plots)))
    xs = sorted({r.subscribers for r in runs})
    rows = []
    for x in xs:
        row = [sig(x)]
        for t in ser:
            r = next((r for r in ser[t] if r.subscribers == x), None)
            row.append("%s / %s" % (sig(r.lat_ms("p50")), sig(r.lat_ms("p99"))) if r else "-")
        rows.append(row)
    return "\n".join([head, "", "Fixed: %s." % fixed, "",
                      picture(f, title, "chart-subscribers.svg", ("900,480", sc)) if plots else "No chart: no latencies.",
                      "", table(["subscribers"] + ["%s p50 / p99 ms" % LABEL[t] for t in ser], rows)])


def chart_rate(f):
    head = "### Requests and bytes per delivered message against message rate"
    sw = sweep_series(f, "rate", "rate")
    if sw is None:
        return head + "\n\nNo chart: no two successful runs in this folder differ only in message rate."
    params, runs, ser = sw
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
    fixed = describe(params, None, f.profiles)
    title = "Cost per delivered message against message rate"
    sc = blocks + ('set multiplot layout 1,2 title "%s\\n%s"\nset logscale xy\nset grid\n'
                   'set xlabel "messages/s published (log scale)"\nset key bottom left\n'
                   'set offsets graph 0.05, graph 0.05, graph 0.06, graph 0.06\n' % (
                       title, gp_str(wrap(short_fixed(f, params, "rate"), 110))))
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
                      picture(f, title, "chart-rate.svg", ("1100,480", sc)), "",
                      table(["msg/s"] + ["%s req/msg / B/msg" % LABEL[t] for t in ser], rows)])


def interval_series(f):
    """[(label, [poll runs sorted by poll interval])], one per group that sweeps P."""
    pool = f.ok_runs(("poll",))
    if any(r.section == "poll-interval" for r in pool):
        pool = [r for r in pool if r.section == "poll-interval"]
    out = []
    groups = [(p, rs) for p, rs in group(pool, ("transport", "poll_interval_ms"))
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


def chart_interval(f):
    head = "### Short-poll interval: measured against the model"
    series = interval_series(f)
    if not series:
        return head + "\n\nNo chart: no two successful short-poll runs in this folder differ only in poll interval."
    md = f.model
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
                         f.cell(r, "latency"), sig(rps), sig(mr), compare(rps, mr)[0]])
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
                      picture(f, title, "chart-poll-interval.svg", ("1100,500", sc)), "",
                      table(["series", "run", "P ms", "mean ms", "model ms", "mean/model", "req/s",
                             "model req/s", "req/s ratio"], rows, "lr" + "r" * 7)])


def pooling_pair(f):
    pool = f.ok_runs(("poll",))
    if any(r.section == "pooling" for r in pool):
        pool = [r for r in pool if r.section == "pooling"]
    for params, rs in group(pool, ("transport", "keepalive")):
        on = next((r for r in rs if r.params.get("keepalive") is True), None)
        off = next((r for r in rs if r.params.get("keepalive") is False), None)
        if on and off:
            return on, off
    return None


def chart_pooling(f):
    head = "### Pooled against new connections (short polling, keep-alive on/off)"
    pair = pooling_pair(f)
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
    fixed = describe(on.params, [k for k in on.params if k != "keepalive"], f.profiles)
    title = "Short polling with and without keep-alive"
    sc = blocks + ('set multiplot layout 1,4 title "%s (runs %s and %s)\\n%s"\nset style fill solid 0.8\n'
                   'set linetype 1 lc rgb "#1f77b4"\nset linetype 2 lc rgb "#d62728"\nset xrange [-0.6:1.6]\n'
                   'set yrange [0:*]\nset offsets 0, 0, graph 0.15, 0\nset grid ytics\nset title font ",11"\nset xlabel "keep-alive"\n'
                   % (title, on.n, off.n, gp_str(wrap(short_fixed(f, on.params, "keepalive"), 120)))) + "".join(panels) + "unset multiplot\n"
    rows = []
    for r in (on, off):
        rows.append(["on" if r is on else "off", str(r.n), count(r.r("cost.connections_opened")),
                     sig(r.conns_per_s), sig(r.req_per_s), sig(r.r("cost.connection_reuse_ratio")),
                     sig(r.lat_ms("p50")), sig(r.lat_ms("mean")), sig(r.r("cost.client_cpu_us_per_delivered")),
                     sig(r.r("cost.server_cpu_us_per_delivered"))])
    return "\n".join([head, "", "Fixed: %s." % fixed, "",
                      picture(f, title, "chart-pooling.svg", ("1100,420", sc)), "",
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
