"""The report's sentences ("Which transport when"), computed from the data
before any text is written: the busiest headline workload compared across
transports, a ranking only where the repetitions' ranges do not overlap
(stats.Ranking), then what the sweeps show. Each function returns a
sentence or None; which_when() returns the list. Standard library only."""

from .charts import interval_series, pooling_pair
from .load import group, profile_words, subscribers_words
from .text import LABEL, count, sig

MAX_SENTENCES = 6

P50 = ("p50 latency", " ms", lambda r: r.lat_ms("p50"))
P99 = ("p99 latency", " ms", lambda r: r.lat_ms("p99"))
BYTES = ("byte count per delivered message", " B", lambda r: r.r("cost.bytes_per_delivered"))
CPU = ("server CPU per delivered message", " µs", lambda r: r.r("cost.server_cpu_us_per_delivered"))


def which_when(f):
    """[sentence] for the "Which transport when" part (at most MAX_SENTENCES)."""
    s = []
    w = busiest_workload(f)
    if w is not None:
        first = sentence_poll_push(f, w)
        s += [first] if first else []
        for i, fig in enumerate((P99, BYTES, CPU)):
            x = sentence_rank(f, w, fig, None if not s else "There, " if i == 0 else "")
            if x:
                s.append(x[0].upper() + x[1:])
    s += [x for x in (sentence_longpoll(f), sentence_interval(f), sentence_pooling(f),
                      sentence_remote(f)) if x]
    return s[:MAX_SENTENCES]


def busiest_workload(f):
    """The headline workload of highest load (loopback first) with >= 2 transports that ran."""
    best = None
    for w in f.headline:
        ok = [r for c in w.cells.values() for r in c.ok]
        if len({r.transport for r in ok}) < 2:
            continue
        key = (f.model.is_loopback(ok[0]), max(r.load for r in ok))
        if best is None or key > best[0]:
            best = (key, w)
    return None if best is None else best[1]


def where_words(f, w):
    p = w.params
    return "At %s msg/s and %s%s" % (
        sig(p.get("rate")), subscribers_words(p.get("subscribers")),
        "" if f.model.is_loopback(next(r for c in w.cells.values() for r in c.runs)) else
        " on %s" % profile_words(p.get("profile"), f.profiles))


def sentence_poll_push(f, w):
    """Short polling's requests and p50 against a push transport's p50."""
    poll = w.cells.get("poll")
    push = w.cells.get("sse") or w.cells.get("ws")
    if not poll or not push:
        return None
    a, b = poll.spread(P50[2]), push.spread(P50[2])
    rq = poll.spread(lambda r: r.r("cost.requests_per_delivered"))
    if a is None or b is None or rq is None or not b.median:
        return None
    push_txt = "%s's %s ms" % (LABEL[push.transport], b.text())
    if a.n >= 2 and b.n >= 2 and (a.lo > b.hi or a.hi < b.lo):
        rel = "%s× %s" % (sig(a.median / b.median), push_txt) if a.median >= b.median else "below " + push_txt
    elif a.n >= 2 and b.n >= 2:
        rel = "against %s: the repetitions' ranges overlap, no difference was measurable here" % push_txt
    else:
        rel = "against %s (one run each: no range to tell a difference from noise)" % push_txt
    return ("%s, short polling every %s ms sent %s requests per delivered message and its p50 latency was %s "
            "ms, %s." % (where_words(f, w), sig(poll.runs[0].p("poll_interval_ms")), rq.text(), a.text(), rel))


def sentence_rank(f, w, fig, lead):
    """'X had the lowest p99 latency (...) and Y the highest (...)' where the
    ranges allow it; otherwise that no difference was measurable here."""
    words, unit, fn = fig
    rk = w.ranking(fn)
    if len(rk.spreads) < 2:
        return None
    lead = where_words(f, w) + ", " if lead is None else lead
    if not rk.repeated:
        return None if fig is not P99 else (
            "%sno ranking of %s is claimed: each transport ran once, so this folder cannot tell a difference "
            "from noise (`repeat = N` in the scenario gives ranges)." % (lead, words))
    if rk.lowest is None and rk.highest is None:
        return ("%sno difference in %s was measurable here: the ranges of the repetitions overlap (%s)." % (
            lead, words, ", ".join("%s %s%s" % (LABEL[t], rk.spreads[t].text(), unit) for t in rk.order)))
    said = ["%s had the %s %s (%s%s)" % (LABEL[t], how, words, rk.spreads[t].text(), unit)
            for t, how in ((rk.lowest, "lowest"), (rk.highest, "highest")) if t is not None]
    missing = "lowest" if rk.lowest is None else "highest" if rk.highest is None else None
    return "%s%s, %s (%d or more repetitions; Mann–Whitney U, one-sided p = %s against each)%s." % (
        lead, " and ".join(said), "each range apart from every other transport's" if len(said) > 1 else
        "its range apart from every other transport's", min(x.n for x in rk.spreads.values()), sig(rk.p, 2),
        "; no transport was measurably the %s" % missing if missing else "")


def sentence_longpoll(f):
    """Where long polling's requests per message come closest to short polling's."""
    best = None
    for params, runs in group(f.ok_runs(("poll", "longpoll")), ("transport", "poll_interval_ms")):
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
    pr_x = (f.model.poll_ms(pr) or 0) / 1000.0 * f.model.r_per_s(pr)
    e, q = pr.r("cost.empty_answers"), pr.r("cost.requests")
    empty = "; %s%% of the short polls came back empty" % sig(100.0 * e / q) if e is not None and q else ""
    if ratio >= 1:
        return ("Long polling sent as many or more requests per delivered message than short polling every "
                "%s ms %s: %s against %s (P·r = %s messages per poll interval%s)." % (
                    sig(pr.p("poll_interval_ms")), at, sig(a), sig(b), sig(pr_x), empty))
    return ("Long polling's requests per delivered message came closest to short polling's %s: %s against "
            "%s (%s×)." % (at, sig(a), sig(b), sig(ratio)))


def sentence_interval(f):
    series = interval_series(f)
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


def sentence_pooling(f):
    pair = pooling_pair(f)
    if pair is None:
        return None
    on, off = pair
    return ("Without keep-alive, short polling opened %s connections in the window (%s/s) and cost %s µs of "
            "client CPU per delivered message, against %s connection%s and %s µs with pooled connections." % (
                count(off.r("cost.connections_opened")), sig(off.conns_per_s),
                sig(off.r("cost.client_cpu_us_per_delivered")), count(on.r("cost.connections_opened")),
                "" if on.r("cost.connections_opened") == 1 else "s",
                sig(on.r("cost.client_cpu_us_per_delivered"))))


def sentence_remote(f):
    """Long polling against a push transport on the slowest emulated network."""
    best = None
    for params, runs in group(f.ok_runs(), ("transport", "poll_interval_ms")):
        if not f.model.is_emulated(runs[0]):
            continue
        by = {r.transport: r for r in runs}
        push = by.get("sse") or by.get("ws")
        lp = by.get("longpoll")
        if push and lp and push.lat_ms("p50") and lp.lat_ms("p50"):
            key = f.model.rtt_ms(runs[0])
            if best is None or key > best[0]:
                best = (key, params, lp, push)
    if best is None:
        return None
    rtt, params, lp, push = best
    prof = f.profiles.get(params.get("profile"), {})
    return ("On %s (%s ms RTT, %s), long polling's p50 latency was %s ms against %s's %s ms (one-way "
            "delay %s ms)." % (params.get("profile"), sig(rtt), prof.get("method") or "method not recorded",
                               sig(lp.lat_ms("p50")), LABEL[push.transport], sig(push.lat_ms("p50")),
                               sig(rtt / 2)))


# -------------------------------------------------------------- charts
