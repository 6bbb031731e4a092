"""Figures as the guide (docs/TRANSPORTS.md, written by scripts/docs.py)
quotes them: runs picked from a committed results folder by their
parameters, summed up over their repetitions (stats: median and range),
and written as tables and sentences that name the folder and the runs.
A comparison is worded as a difference only where stats.Ranking finds the
ranges apart. Standard library only."""

import os

from .load import Folder
from .stats import Cell, Ranking
from .text import LABEL, count, sig, table

# name: (column head, value of one run); a figure reads median (min–max).
FIGURES = {
    "p50": ("p50 ms", lambda r: r.lat_ms("p50")),
    "p99": ("p99 ms", lambda r: r.lat_ms("p99")),
    "mean": ("mean ms", lambda r: r.lat_ms("mean")),
    "req": ("req/msg", lambda r: r.r("cost.requests_per_delivered")),
    "bytes": ("B/msg", lambda r: r.r("cost.bytes_per_delivered")),
    "srv": ("srv µs/msg", lambda r: r.r("cost.server_cpu_us_per_delivered")),
    "cli": ("cli µs/msg", lambda r: r.r("cost.client_cpu_us_per_delivered")),
    "deliv": ("deliv/s", lambda r: r.r("throughput.delivered_per_s")),
    "conns": ("new conns/s", lambda r: r.conns_per_s),
    # the broker profiles: redis-server's CPU and memory (runs.jsonl
    # "broker") beside pushpull's processes (both instances, every worker)
    "redis": ("redis µs/msg", lambda r: r.broker("cpu_us_per_delivered")),
    "both": ("pushpull + redis µs/msg", lambda r: _both(r)),
    "rss": ("pushpull RSS MiB", lambda r: _mib(r.r("cost.server_rss_bytes"))),
    "redis_rss": ("redis RSS MiB", lambda r: _mib(r.broker("rss_bytes"))),
    # what one request carries, from the client's byte counts and the server's body bytes
    "sent_per_req": ("B sent/request", lambda r: _per(r, "cost.requests", ["cost.bytes_tx"])),
    "head_per_req": ("response header B/request",
                     lambda r: _per(r, "cost.requests", ["cost.bytes_rx"], ["cost.server_bytes_out"])),
    "body_per_req": ("body B/request", lambda r: _per(r, "cost.requests", ["cost.server_bytes_out"])),
    "msgs_per_req": ("messages/request", lambda r: _per(r, "cost.requests", ["delivery.delivered"])),
    "head_per_msg": ("header B/msg", lambda r: _per(r, "delivery.delivered", ["cost.bytes_tx", "cost.bytes_rx"],
                                                   ["cost.server_bytes_out"])),
}
# srv under the name the broker tables give it, beside redis-server's.
FIGURES["pushpull"] = ("pushpull µs/msg", FIGURES["srv"][1])
# name: (column head, result path); a count reads the sum over repetitions.
COUNTS = {
    "lost": ("lost", "delivery.lost"),
    "gap": ("gap-lost", "delivery.gap_lost"),
    "reconn": ("reconnects", "cost.reconnects"),
    "refused": ("refused resumes", "delivery.resume_failed"),
    "expected": ("expected", "delivery.expected"),
}
CLIENT_LIMITED = "†"


class Source:
    """A results folder the guide cites, by the path it is cited as."""

    def __init__(self, repo, rel):
        self.rel = rel
        self.folder = Folder(os.path.join(repo, rel))

    def runs(self, transport, **params):
        """The runs of one transport whose parameters (and section, server) match."""
        return [r for r in self.folder.all_runs if r.transport == transport
                and all(_matches(r, k, v) for k, v in params.items())]

    def cell(self, transport, **params):
        return Cell(transport, self.runs(transport, **params))

    def about(self):
        """'results/reference/quick (scenario quick, 2026-12-02, git abc1234)'."""
        m = self.folder.manifest
        sc = m.get("scenario") if isinstance(m.get("scenario"), dict) else {}
        ver = m.get("versions") if isinstance(m.get("versions"), dict) else {}
        rev = ver.get("git_revision") or m.get("git_revision")
        bits = ["scenario %s" % sc["name"] if sc.get("name") else None,
                "started %s" % m["started_utc"] if m.get("started_utc") else None,
                "git %s" % rev if rev else None]
        return "`%s` (%s)" % (self.rel, ", ".join(b for b in bits if b))


def _both(run):
    """Server-side CPU per delivered message: pushpull's plus redis-server's
    (none without a broker)."""
    a = run.r("cost.server_cpu_us_per_delivered")
    b = run.broker("cpu_us_per_delivered") if run.broker_setup else 0.0
    return None if a is None or b is None else a + b


def _mib(b):
    return None if b is None else b / 2 ** 20


def _per(run, bottom, add, sub=()):
    """(sum of the add fields - sum of the sub fields) / bottom, from a run's
    result; None when a field is missing or bottom is 0."""
    vals = [run.r(k) for k in (bottom,) + tuple(add) + tuple(sub)]
    if any(v is None for v in vals) or not vals[0]:
        return None
    return (sum(vals[1:1 + len(add)]) - sum(vals[1 + len(add):])) / vals[0]


def _matches(run, key, value):
    if key == "section":
        return run.section == value
    if key == "server":
        return run.server == value
    return run.params.get(key) == value


def figure(cell, name):
    """One figure of a cell as text: median (min–max), a sum for counts."""
    if name in COUNTS:
        vals = [r.r(COUNTS[name][1]) for r in cell.ok]
        return "-" if not vals or all(v is None for v in vals) else count(sum(v or 0 for v in vals))
    s = cell.spread(FIGURES[name][1])
    return "-" if s is None else s.text()


def value(cell, name):
    """A figure's median over a cell's repetitions, a count's sum; None when unknown."""
    if name in COUNTS:
        vals = [r.r(COUNTS[name][1]) for r in cell.ok]
        return None if all(v is None for v in vals) else sum(v or 0 for v in vals)
    return median(cell, name)


def lost_share(cell):
    """lost / expected over a cell's repetitions, as '7.1 %' ('-' when unknown)."""
    lost, exp = (sum(r.r(COUNTS[k][1]) or 0 for r in cell.ok) for k in ("lost", "expected"))
    return "%s %%" % sig(100.0 * lost / exp, 2) if exp else "-"


def median(cell, name):
    """The median of a figure over a cell's repetitions (None when unknown)."""
    s = cell.spread(FIGURES[name][1])
    return None if s is None else s.median


def run_numbers(cell):
    return ", ".join(str(r.n) for r in cell.runs) or "-"


def head(name):
    return (FIGURES.get(name) or COUNTS[name])[0]


def label(cell, text=None):
    """The row's name, marked † when a run was client-limited, or FAILED."""
    text = text or LABEL[cell.transport]
    if cell.runs and not cell.ok:
        return text + (" (FAILED)" if any(r.failed for r in cell.runs) else " (not offered)")
    if not any(r.r("latency_us.count") for r in cell.ok):
        return text + " (no delivery measured)"
    return text + (" " + CLIENT_LIMITED if any(r.client_limited for r in cell.ok) else "")


def rows_table(rows, names, first=("transport",)):
    """rows: [(cell, row label or None, [extra leading cells])] -> a markdown
    table; first: the heads of the label and the extra cells."""
    extra = max((len(x) for _, _, x in rows), default=0)
    heads = list(first) + [head(n) for n in names] + ["runs"]
    body = [[label(c, t)] + list(x) + [figure(c, n) for n in names] + [run_numbers(c)] for c, t, x in rows]
    return table(heads, body, "l" * (1 + extra) + "r" * len(names) + "l")


def limited_note(cells):
    """A line naming client-limited runs, or ''."""
    runs = sorted({r.n for c in cells for r in c.ok if r.client_limited})
    if not runs:
        return ""
    return ("%s client-limited (run%s %s): the load client's own loop was saturated, so these figures "
            "describe the client as much as the server." % (CLIENT_LIMITED, "s" if len(runs) > 1 else "",
                                                           ", ".join(map(str, runs))))


def versus(a, b, name, names=None):
    """A sentence on one figure of two cells: which is lower, where the
    ranges of their repetitions lie apart, or that no difference was measurable."""
    na, nb = names or (LABEL[a.transport], LABEL[b.transport])
    fa, fb = figure(a, name), figure(b, name)
    both = "%s %s against %s %s" % (na, fa, nb, fb)
    rk = Ranking({na: a.spread(FIGURES[name][1]), nb: b.spread(FIGURES[name][1])})
    if not rk.repeated:
        return "%s (one run each: no ranking claimed)" % both
    if rk.lowest is None:
        return "%s: the ranges overlap, no difference measurable here" % both
    lo = rk.lowest
    ma, mb = median(a, name), median(b, name)
    ratio = max(ma, mb) / min(ma, mb) if ma and mb else None
    return "%s: %s lower%s, ranges apart" % (both, lo, " by %s×" % sig(ratio, 2) if ratio else "")


def ratio(a, b, name):
    """median(a) / median(b) as text, '-' when either is unknown."""
    ma, mb = median(a, name), median(b, name)
    return "-" if ma is None or not mb else "%s×" % sig(ma / mb, 2)
