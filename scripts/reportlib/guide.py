"""The figures of docs/TRANSPORTS.md, each a named block rendered from a
committed results folder (scripts/docs.py writes them between the guide's
markers): results/reference/quick (make bench), peers (make bench-peers),
library (make bench-library) and broker (make bench-broker). Every number comes from the folder
through cite; every comparison is worded by cite.versus or servers.judge,
so a re-measured folder rewrites the verdicts with the numbers.
blocks(repo) returns {name: markdown}. Standard library only."""

from . import cite, servers
from .facts import Facts
from .tables import tls_pairs
from .text import LABEL, sig, table

QUICK, PEERS, LIBRARY = "results/reference/quick", "results/reference/peers", "results/reference/library"
BROKER = "results/reference/broker"
PUSH = ("sse", "ws")
SERVER_NAMES = {"pushpull": "pushpull", "nchan": "Nchan", "node-ws": "node-ws (express + ws)",
                "socketio": "socket.io", "pushpin": "Pushpin"}


def workload(subs, rate):
    return "%s × %s msg/s" % (sig(subs), sig(rate))


def source_line(src, extra=""):
    return "*From %s%s.*" % (src.about(), extra)


def repeats_words(src):
    n = max((r.repeat for r in src.folder.all_runs), default=1)
    return "; each workload %d times, interleaved: a figure reads median (min–max)" % n if n > 1 else \
        "; one run per workload"


# ------------------------------------------------------------------ quick

def quick_table(q):
    rows = []
    for subs, rate in ((1, 10), (1, 1000), (100, 10), (100, 1000)):
        rows += [(q.cell(t, section="main", subscribers=subs, rate=rate), None, [workload(subs, rate)])
                 for t in ("poll", "longpoll", "sse", "ws")]
    cells = [c for c, _, _ in rows]
    note = cite.limited_note(cells)
    return "\n\n".join(x for x in (source_line(q, repeats_words(q)),
                                   cite.rows_table(rows, ["p50", "p99", "req", "bytes", "srv", "lost"],
                                                   ("transport", "subscribers × rate")),
                                   note) if x)


def readme_quick(q):
    """README's headline: the busiest quick workload."""
    rows = [(q.cell(t, section="main", subscribers=100, rate=1000), None, [])
            for t in ("poll", "longpoll", "sse", "ws")]
    return "\n\n".join(x for x in (source_line(q, repeats_words(q)), cite.rows_table(
        rows, ["p50", "p99", "deliv", "req", "bytes", "srv", "lost"]), cite.limited_note([c for c, _, _ in rows])) if x)


def quick_poll_cost(q):
    one = q.cell("poll", section="main", subscribers=1, rate=10)
    many = q.cell("poll", section="main", subscribers=100, rate=1000)
    rows = [(one, "short poll, " + workload(1, 10), []), (many, "short poll, " + workload(100, 1000), [])]
    return "\n\n".join([source_line(q, repeats_words(q)), cite.rows_table(
        rows, ["msgs_per_req", "sent_per_req", "head_per_req", "body_per_req", "head_per_msg", "bytes"], ("workload",))])


def quick_verdicts(q):
    out = []
    for subs, rate in ((100, 10), (100, 1000)):
        cell = {t: q.cell(t, section="main", subscribers=subs, rate=rate) for t in ("poll", "longpoll", "sse", "ws")}
        w = workload(subs, rate)
        out += ["- %s, p50: %s." % (w, cite.versus(cell["sse"], cell["ws"], "p50")),
                "- %s, p99: %s." % (w, cite.versus(cell["sse"], cell["ws"], "p99")),
                "- %s, server CPU per message (µs): %s." % (w, cite.versus(cell["sse"], cell["ws"], "srv")),
                "- %s, bytes per message: %s." % (w, cite.versus(cell["sse"], cell["ws"], "bytes")),
                "- %s, p50: %s." % (w, cite.versus(cell["longpoll"], cell["sse"], "p50"))]
    return "\n".join([source_line(q, repeats_words(q)), ""] + out)


def quick_tls(q):
    f = Facts(q.folder.path)
    rows = []
    for plain, tls in tls_pairs(f):
        rows.append([LABEL[tls.transport], "%s / %s" % (plain.n, tls.n)] + [
            "%s → %s (%s×)" % (sig(fn(plain)), sig(fn(tls)), sig(fn(tls) / fn(plain), 2)) if fn(plain) else "-"
            for fn in (cite.FIGURES["p50"][1], cite.FIGURES["srv"][1], cite.FIGURES["cli"][1])])
    if not rows:
        return source_line(q) + "\n\nThis folder has no tls run beside a loopback twin."
    return "\n\n".join([source_line(q, ", section tls: 100 subscribers × 1000 msg/s over HTTPS and wss://, each "
                                    "beside the last loopback repetition of the same workload"),
                        table(["transport", "runs (loopback / tls)", "p50 ms", "srv µs/msg", "cli µs/msg"],
                              rows, "llrrr")])


# ------------------------------------------------------------------ peers

def peer_cells(p, subs, rate):
    return [(p.cell(t, server=s, subscribers=subs, rate=rate), "%s, %s" % (SERVER_NAMES.get(s, s), LABEL[t]), [])
            for t in PUSH for s in p.folder.servers]


def peers_table(p, subs, rate):
    rows = [x for x in peer_cells(p, subs, rate) if x[0].runs and x[0].ok]
    note = cite.limited_note([c for c, _, _ in rows])
    return "\n\n".join(x for x in (
        source_line(p, repeats_words(p) + "; %s, push transports only" % workload(subs, rate)),
        cite.rows_table(rows, ["p50", "p99", "srv", "bytes", "lost"], ("server, transport",)), note) if x)


def push_verdict(p, server, subs, rate):
    """One server's WebSocket against its SSE on one workload (servers.judge's rule)."""
    sse, ws = (p.cell(t, server=server, subscribers=subs, rate=rate) for t in PUSH)
    v = servers.judge({"sse": cite.median(sse, "p50"), "ws": cite.median(ws, "p50")},
                      servers.LATENCY_FLOOR_MS)
    name = SERVER_NAMES.get(server, server)
    if v.kind is None:
        return None, None
    vals = "SSE %s ms, WebSocket %s ms" % (cite.figure(sse, "p50"), cite.figure(ws, "p50"))
    if v.kind == "agree":
        return "agree", "%s: %s, within %d %% of each other" % (name, vals, round((servers.AGREE_RATIO - 1) * 100))
    return v.best, "%s: %s, %s lower by %s×" % (name, vals, LABEL[v.best], sig(v.ratio, 2))


def peers_verdict(p):
    out = [source_line(p, repeats_words(p)), ""]
    if not p.folder.repeated():
        out[0] += (" *With one run per server and workload, nothing here is confirmed by repetition: on this "
                   "shared machine read a difference under about 2× as noise.*")
    for subs, rate in ((100, 1000), (1000, 10)):
        found = [push_verdict(p, s, subs, rate) for s in p.folder.servers]
        found = [x for x in found if x[0]]
        out.append("- p50 at %s: %s." % (workload(subs, rate), "; ".join(t for _, t in found)))
        out.append("  " + push_conclusion(found))
    return "\n".join(out)


def push_conclusion(found):
    """What the servers' verdicts together say about the protocols."""
    kinds = {k for k, _ in found}
    if kinds == {"ws"} or kinds <= {"ws", "agree"} and "ws" in kinds:
        return "No server measured WebSocket slower than SSE here."
    if "sse" in kinds and kinds & {"ws", "agree"}:
        return ("The servers disagree: where one server's WebSocket trails its SSE and another's does not, "
                "the implementation decides it, not the protocol.")
    if kinds == {"sse"}:
        return "Every server measured WebSocket slower than SSE here."
    return "Every server measured them within noise of each other."


# ------------------------------------------------------------------ library

def library_rows(lib):
    rows = []
    for churn in (0, 1):
        for s in lib.folder.servers:
            rows += [(lib.cell(t, server=s, churn_s=churn), "%s, %s" % (SERVER_NAMES.get(s, s), LABEL[t]),
                      ["every %s s" % sig(churn) if churn else "off"]) for t in ("longpoll", "ws")]
    return [x for x in rows if x[0].runs]


def library_table(lib):
    rows = library_rows(lib)
    note = cite.limited_note([c for c, _, _ in rows])
    return "\n\n".join(x for x in (
        source_line(lib, repeats_words(lib) + "; lost, reconnects and refused resumes are summed over them"),
        cite.rows_table(rows, ["p50", "p99", "bytes", "srv", "reconn", "refused", "lost"],
                        ("server, transport", "churn")),
        note) if x)


def library_verdict(lib):
    out = [source_line(lib, repeats_words(lib)), ""]
    for t in ("ws", "longpoll"):
        plain, sio = (lib.cell(t, server=s, churn_s=0) for s in ("node-ws", "socketio"))
        if plain.ok and sio.ok:
            names = ("node-ws", "socket.io")
            out += ["- %s without churn, p50: %s." % (LABEL[t], cite.versus(plain, sio, "p50", names)),
                    "- %s without churn, bytes per message: %s." % (LABEL[t], cite.versus(plain, sio, "bytes", names)),
                    "- %s without churn, server CPU per message (µs): %s." % (
                        LABEL[t], cite.versus(plain, sio, "srv", names))]
        sio_churn = lib.cell(t, server="socketio", churn_s=1)
        if sio_churn.ok:
            out.append("- socket.io %s with churn every second: %s reconnects, %s of them refused recovery, "
                       "%s deliveries lost (%s of those expected)." % (
                           LABEL[t], cite.figure(sio_churn, "reconn"), cite.figure(sio_churn, "refused"),
                           cite.figure(sio_churn, "lost"), cite.lost_share(sio_churn)))
    return "\n".join(out)


# ------------------------------------------------------------------ broker

HOP = ("loopback", "redis", "redis-two")
WORKERS = ("redis", "redis-workers")
BROKER_NAMES = ["p50", "p99", "pushpull", "redis", "lost"]


def p50_ratios(cells):
    """'redis 1.2×, redis-two 1.4×': each set-up's p50 over the first's."""
    base = next(iter(cells.values()))
    return ", ".join("%s %s" % (name, cite.ratio(c, base, "p50")) for name, c in list(cells.items())[1:])


def broker_table(b):
    """README's "Scaling out": the broker hop per transport and --workers 2
    beside one process, from make bench-broker."""
    hop, hop_ratios = [], []
    for t in ("poll", "longpoll", "sse", "ws"):
        cells = {pr: b.cell(t, section="hop", profile=pr) for pr in HOP}
        hop += [(c, None, [pr]) for pr, c in cells.items()]
        hop_ratios.append("%s %s" % (LABEL[t], p50_ratios(cells)))
    work, work_ratios = [], []
    for subs, rate in ((100, 1000), (1000, 100)):
        cells = {pr: b.cell("sse", subscribers=subs, rate=rate, profile=pr) for pr in WORKERS}
        work += [(c, None, [workload(subs, rate), pr]) for pr, c in cells.items()]
        work_ratios.append("%s %s" % (workload(subs, rate), p50_ratios(cells)))
    first = next((r for r in b.folder.all_runs if r.section == "hop"), None)
    return "\n\n".join(x for x in (
        source_line(b, repeats_words(b) + "; pushpull µs/msg is every pushpull-server process's CPU per "
                    "delivered message, redis µs/msg redis-server's"),
        "The hop at %s: in memory (`loopback`), through Redis (`redis`) and across two instances "
        "(`redis-two`: the publisher on A, the subscribers on B)." % (
            workload(first.subscribers, first.rate) if first else "-"),
        cite.rows_table(hop, BROKER_NAMES, ("transport", "set-up")),
        "p50 against in memory: %s." % "; ".join(hop_ratios),
        "`--workers 2` (`redis-workers`) beside one process (`redis`), SSE through Redis:",
        cite.rows_table(work, BROKER_NAMES, ("transport", "workload", "set-up")),
        "p50 against one process: %s." % "; ".join(work_ratios),
        cite.limited_note([c for c, _, _ in hop + work])) if x)


# ------------------------------------------------------------------ all

def blocks(repo):
    q, p, lib = cite.Source(repo, QUICK), cite.Source(repo, PEERS), cite.Source(repo, LIBRARY)
    b = cite.Source(repo, BROKER)
    return {
        "readme-quick": readme_quick(q),
        "quick-table": quick_table(q),
        "quick-poll-cost": quick_poll_cost(q),
        "quick-verdicts": quick_verdicts(q),
        "quick-tls": quick_tls(q),
        "peers-busy": peers_table(p, 100, 1000),
        "peers-wide": peers_table(p, 1000, 10),
        "peers-verdict": peers_verdict(p),
        "library-table": library_table(lib),
        "library-verdict": library_verdict(lib),
        "readme-broker": broker_table(b),
    }
