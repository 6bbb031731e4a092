"""The report's tables and the text around them: header, how to read,
headline (medians and ranges over repetitions, noise per workload), what
TLS costs and what the broker hop costs (set-ups beside their twins), the
model and its flags, client-limited runs, every run. Each part reads the
Facts (report.py) computed before any text is written. Standard library
only."""

import os
import re

from . import cite
from .load import describe, is_tls, load_json_file, FolderError, twins, varying_keys
from .model import FLAG_LIMIT, broker_words, compare, saturation_words
from .stats import Cell
from .text import LABEL, count, get, num, sig, table

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _dict(v):
    return v if isinstance(v, dict) else {}


def header(f):
    """Title, description, what ran where, failures, incidents, profiles."""
    m = f.manifest
    sc = _dict(m.get("scenario"))
    name = sc.get("name") or os.path.basename(os.path.normpath(f.folder))
    desc = sc.get("description")
    if not desc and isinstance(sc.get("text"), str):
        mm = re.search(r"^\s*description\s*=\s*(.+?)\s*$", sc["text"], re.M)
        desc = mm.group(1) if mm else None
    out = ["# pushpull results: %s" % name, ""]
    if desc:
        out += [desc, ""]
    if f.manifest_missing:
        out += ["**manifest.json is missing from this folder**: the machine, versions and profile "
                "methods below are unknown.", ""]
    out.append(table(["what", "details"], header_rows(f, m, sc), "ll"))
    out += trouble_lines(f, m)
    out += ["", "### Profiles", "", profiles_table(f)]
    return "\n".join(out)


def header_rows(f, m, sc):
    started, finished = m.get("started_utc"), m.get("finished_utc")
    rows = [("scenario file", sc["file"])] if sc.get("file") else []
    rows.append(("when", "%s to %s" % (started or "?", finished or "?")
                 if started or finished else "not recorded"))
    mach = _dict(m.get("machine"))
    mem = num(mach.get("memory_bytes"))
    mdesc = ", ".join(x for x in (
        mach.get("cpu_model"),
        "%s cores" % mach["cores"] if mach.get("cores") is not None else None,
        "%s GiB memory" % sig(mem / 2 ** 30) if mem else None,
        mach.get("kernel"),
        "host %s" % mach["hostname"] if mach.get("hostname") else None) if x)
    rows.append(("machine", mdesc or "not recorded"))
    ver = _dict(m.get("versions"))
    rows.append(("git revision", ver.get("git_revision") or m.get("git_revision") or "not recorded"))
    vtext = ", ".join("%s %s" % (k, v) for k, v in ver.items() if k != "git_revision" and v)
    rows.append(("versions", vtext or "not recorded"))
    if m.get("server_command"):
        rows.append(("server", " ".join(str(x) for x in m["server_command"])))
    broker = _dict(m.get("broker"))
    if broker:
        rows.append(("broker", "%s (%s)" % (broker.get("version") or "version not recorded",
                                            " ".join(broker.get("version_command") or []))))
    if len(f.servers) > 1:
        rows.append(("servers", "%s; the parts after \"Servers\" cover %s alone"
                     % (", ".join(f.servers), f.primary)))
    rows.append(("runs", runs_text(f, m)))
    return rows


def trouble_lines(f, m):
    """Failed runs, an interruption, the runner's incidents."""
    out = []
    failed = [r for r in f.all_runs if r.failed]
    if failed:
        out += ["", "**Failed runs** (their figures are missing from every table and chart below):", ""]
        out += ["- run %s (%s, section %s, %s): %s" % (
            r.n, LABEL[r.transport], r.section,
            describe(r.params, ["server"] * (len(f.servers) > 1) + ["profile", "subscribers", "rate"],
                     f.profiles), r.failure) for r in failed]
    if m.get("interrupted"):
        out += ["", "**The run was interrupted** (%s): the folder holds the runs done until then." % (
            m["interrupted"] if isinstance(m["interrupted"], str) else "manifest.json says so")]
    incidents = m.get("incidents") if isinstance(m.get("incidents"), list) else []
    if incidents:
        out += ["", "**Incidents** the runner recorded:", ""]
        out += ["- %s%s" % ("%s: " % inc["utc"] if inc.get("utc") else "", inc.get("what", inc))
                if isinstance(inc, dict) else "- %s" % inc for inc in incidents]
    return out


def profiles_table(f):
    prow = []
    for name, info in f.profiles.items():
        methods = sorted(info.get("_methods") or ([info["method"]] if info.get("method") else []))
        method = " / ".join(methods) if methods else "not recorded"
        why = info.get("why")
        if not why:
            why = ("client and server talk over loopback directly: nothing to emulate" if methods == ["none"]
                   else "not recorded in manifest.json")
        bits = num(info.get("rate_bits"))
        prow.append((name, sig(num(info.get("rtt_ms")) or 0), "%s Mbit/s" % sig(bits / 1e6) if bits else "-",
                     method, why, count(info.get("_runs", 0))))
    return table(["profile", "RTT ms", "bandwidth", "method", "why", "runs"], prow, "lrrllr")


def runs_text(f, m):
    failed = sum(r.failed for r in f.all_runs)
    offered = sum(r.not_offered for r in f.all_runs)
    n = len(f.all_runs)
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


def how_to_read(f):
    doc = os.path.join(REPO, "docs", "CLIENT-OUTPUT.md")
    folder = os.path.abspath(f.folder)
    link = os.path.relpath(doc, folder) if os.path.commonpath([REPO, folder]) == REPO else doc
    return ("## How to read this report\n\n"
            "Every transport ran the same workload back to back on the same machine; compare rows with each "
            "other, not with other machines. **Latency** is measured from each message's *scheduled* publish "
            "time (an open-loop publisher), so a stall shows up instead of hiding; *mean* is "
            "`latency_us.mean`, p50/p99 are nearest-rank percentiles. **lost** = expected − delivered "
            "deliveries after the drain; dup = extra copies; reconn = reconnects. **Costs are per delivered "
            "message**: req/msg and B/msg are the subscribers' HTTP requests and bytes (both directions, "
            "headers included), srv/cli µs/msg the server's and client's CPU time. *model* columns are the "
            "teaching model with load (see \"Model against measurement\"); *ratio* = measured / model, and ⚠ "
            "marks a ratio more than %s%% away from 1. \"-\" means the figure does not exist. %s"
            "Every field is described in [docs/CLIENT-OUTPUT.md](%s)." % (sig(FLAG_LIMIT * 100), repeats_words(f), link))


def repeats_words(f):
    """How-to-read words on repetitions, when the folder has any."""
    if not f.repeated:
        return ""
    return ("Each workload ran several times (the scenario's `repeat`), interleaved: a figure reads "
            "*median (min–max)* over its repetitions; lost, dup and reconn are summed over them. A ranking is "
            "stated only where the ranges of the repetitions do not overlap; *noise* is a workload's "
            "relative range of p50, (max − min) / median. ")


# ------------------------------------------------------------------ headline

HEAD = ["transport", "p50 ms", "p99 ms", "mean ms", "model ms", "mean/model", "deliv/s", "req/msg",
        "model req/msg", "req ratio", "B/msg", "srv µs/msg", "cli µs/msg", "lost", "dup", "reconn", "runs"]

SPREAD_COLUMNS = (lambda r: r.lat_ms("p50"), lambda r: r.lat_ms("p99"), lambda r: r.lat_ms("mean"))
COST_COLUMNS = (lambda r: r.r("cost.bytes_per_delivered"), lambda r: r.r("cost.server_cpu_us_per_delivered"),
                lambda r: r.r("cost.client_cpu_us_per_delivered"))
SUM_COLUMNS = ("delivery.lost", "delivery.duplicates", "cost.reconnects")


def spread_text(cell, fn):
    s = cell.spread(fn)
    return "-" if s is None else s.text()


def headline_row(f, cell):
    """One transport of a headline workload: medians (ranges) over its repetitions."""
    label = LABEL[cell.transport] + (" †" if any(r.client_limited for r in cell.ok) else "")
    runs = ", ".join(str(r.n) for r in cell.runs)
    if not cell.ok:
        failed = any(r.failed for r in cell.runs)
        return [label, "FAILED" if failed else "not offered"] + [""] * (len(HEAD) - 3) + [runs]
    md = f.model
    mean, mmean = cell.spread(lambda r: r.lat_ms("mean")), cell.spread(md.mean_ms)
    rq, mrq = cell.spread(lambda r: r.r("cost.requests_per_delivered")), cell.spread(md.req_per_msg)
    med = lambda s: None if s is None else s.median     # noqa: E731
    return ([label] + [spread_text(cell, fn) for fn in SPREAD_COLUMNS] +
            [spread_text(cell, md.mean_ms), compare(med(mean), med(mmean))[0],
             spread_text(cell, lambda r: r.r("throughput.delivered_per_s")),
             spread_text(cell, lambda r: r.r("cost.requests_per_delivered")), spread_text(cell, md.req_per_msg),
             compare(med(rq), med(mrq))[0]] +
            [spread_text(cell, fn) for fn in COST_COLUMNS] +
            [count(sum(r.r(k) or 0 for r in cell.ok)) for k in SUM_COLUMNS] + [runs])


def headline(f):
    if not f.runs:
        return "## Headline\n\nThis folder has no runs."
    reps = max((w.repeats() for w in f.headline), default=1)
    out = ["## Headline: section \"%s\", one row per transport%s" % (
        f.main_section, ", the median (min–max) of %d repetitions" % reps if reps > 1 else "")]
    common = None
    for w in f.headline:
        common = dict(w.params) if common is None else {k: v for k, v in common.items() if w.params.get(k) == v}
    varying = [k for k in f.headline[0].params if k not in common] if f.headline else []
    if common:
        out += ["", "All of them: %s." % describe(common, None, f.profiles)]
    for w in f.headline:
        if len(f.headline) > 1:
            out += ["", "### %s" % describe(w.params, varying, f.profiles)]
        rows = [headline_row(f, c) for t, c in w.cells.items()]
        out += ["", table(HEAD, rows)] + headline_notes(f, w)
    return "\n".join(out)


def headline_notes(f, w):
    """Noise, client-limited runs (†) and failures of one headline workload."""
    out = []
    noise = w.noise(lambda r: r.lat_ms("p50"))
    if noise:
        worst = max(noise, key=noise.get)
        out.append("Noise (relative range of p50 over the repetitions): %s; this workload's noise figure is "
                   "%s%% (%s)." % (", ".join("%s %s%%" % (LABEL[t], sig(v * 100, 2)) for t, v in noise.items()),
                                   sig(noise[worst] * 100, 2), LABEL[worst]))
    limited = [r for c in w.cells.values() for r in c.ok if r.client_limited]
    if limited:
        out.append("† client-limited: %s." % "; ".join(
            "run %s (%s): %s" % (r.n, LABEL[r.transport], saturation_words(r)) for r in limited))
    failed = [r for c in w.cells.values() for r in c.runs if r.failed]
    out += ["FAILED %s (run %s): %s" % (LABEL[r.transport], r.n, r.failure) for r in failed]
    return [x for line in out for x in ("", line)]


# ------------------------------------------------------------------ twins

def twin_table(columns, names):
    """Set-ups of one workload side by side, one row per figure (names of
    cite.FIGURES and COUNTS): columns [(set-up, Cell)], the first the twin
    the others are compared with. A figure reads median (min–max) over the
    set-up's runs, a count their sum; "X / twin" is the ratio of the medians
    (of the sums). A set-up with a client-limited run is marked † (cite)."""
    base_name, base = columns[0]
    heads = ["figure"]
    for name, cell in columns:
        heads.append("%s (run%s %s)" % (cite.label(cell, name), "s" if len(cell.runs) > 1 else "",
                                        cite.run_numbers(cell)))
        if cell is not base:
            heads.append("%s / %s" % (name, base_name))
    rows = []
    for fig in names:
        a = cite.value(base, fig)
        row = [cite.head(fig)]
        for _, cell in columns:
            row.append(cite.figure(cell, fig))
            if cell is not base:
                b = cite.value(cell, fig)
                row.append("%s×" % sig(b / a) if a and b is not None else "-")
        rows.append(row)
    return table(heads, rows, "l" + "r" * (len(heads) - 1))


def workload_heading(f, run, level="###"):
    """'### SSE: 100 subscribers, 10 msg/s, 64 B messages, keep-alive on':
    the parameters that shape a comparison's workload."""
    pp = run.params
    keys = ["subscribers", "rate", "size"] + [k for k, shown in (
        ("channels", (pp.get("channels") or 1) > 1),
        ("poll_interval_ms", run.transport == "poll"),
        ("keepalive", True),
        ("connections", bool(pp.get("connections"))),
        ("churn_s", bool(pp.get("churn_s"))),
        ("publish_via", pp.get("publish_via") not in (None, "http"))) if shown]
    return "%s %s: %s" % (level, LABEL[run.transport], describe(pp, keys, f.profiles))


# ------------------------------------------------------------------ TLS

TLS_FIGURES = ("p50", "p99", "mean", "srv", "cli", "req", "bytes", "conns", "deliv", "lost")


def tls_pairs(f):
    """[(loopback run, tls run)]: every ok tls run beside the last ok plain
    loopback run whose parameters are the same but for the profile."""
    def setup(r):
        return "loopback" if f.model.is_loopback(r) else "tls" if is_tls(r, f.profiles) else None
    pairs = [(by["loopback"][-1], t) for _, by in twins(f.runs, setup) if "loopback" in by for t in by["tls"]]
    return sorted(pairs, key=lambda pair: pair[1].n)


def tls_negotiated(f, run):
    """What the client's probe negotiated (client/<n>.json manifest.tls)."""
    path = os.path.join(f.folder, "client", "%s.json" % run.n)
    try:
        doc = load_json_file(path, "client output", required=False)
    except FolderError:
        return None
    v = get(doc, "manifest.tls") if isinstance(doc, dict) else None
    return v if isinstance(v, str) else None


def tls_section(f):
    tls_runs = [r for r in f.runs if is_tls(r, f.profiles)]
    if not tls_runs:
        return ""
    pairs = tls_pairs(f)
    out = ["## What TLS costs",
           "",
           "Runs of the **tls** profile (HTTPS and wss:// over loopback: the server with a self-signed "
           "certificate, the client trusting it with `--cacert`) beside the loopback run of the same "
           "workload (of its repetitions, the last: the nearest in time); *tls / loopback* is the ratio. Both "
           "ran on this machine in this folder, minutes "
           "apart: read ratios, and small ones (±20 %) as noise. B/msg counts bytes above TLS (HTTP "
           "headers and bodies, WebSocket frames), not TLS's record headers and tags; the TLS handshake "
           "shows in CPU and latency only where connections are new (`keepalive off`, churn, connecting)."]
    neg = next((x for x in (tls_negotiated(f, r) for r in tls_runs) if x), None)
    if neg:
        out[-1] += " The client negotiated %s." % neg
    if not pairs:
        out += ["", "No tls run of this folder has a successful loopback run with the same parameters to "
                "compare with."]
    summary, tables, cells = [], [], []
    for plain, tls in pairs:
        cols = [("loopback", Cell(plain.transport, [plain])), ("tls", Cell(tls.transport, [tls]))]
        cells += [c for _, c in cols]
        tables += ["", workload_heading(f, tls), "", twin_table(cols, TLS_FIGURES)]
        a = plain.r("cost.server_cpu_us_per_delivered")
        b = tls.r("cost.server_cpu_us_per_delivered")
        if a and b is not None:
            summary.append("%s ×%s" % (LABEL[tls.transport], sig(b / a)))
    if summary:
        out += ["", "Server CPU per delivered message, tls / loopback: %s." % ", ".join(summary)]
    out += tables
    note = cite.limited_note(cells)
    out += ["", note] if note else []
    lone = [r for r in tls_runs if r.ok and r not in [t for _, t in pairs]]
    failed = [r for r in tls_runs if r.failed]
    if lone:
        out += ["", "Without a loopback twin: %s." % ", ".join(
            "run %s (%s)" % (r.n, LABEL[r.transport]) for r in lone)]
    if failed:
        out += ["", "Failed tls runs: %s." % "; ".join(
            "run %s (%s): %s" % (r.n, LABEL[r.transport], r.failure) for r in failed)]
    return "\n".join(out)


# ------------------------------------------------------------------ broker

BROKER_FIGURES = ("p50", "p99", "pushpull", "redis", "both", "rss", "redis_rss", "deliv", "lost")


def _one_process(setup):
    return (setup.get("workers") or 1) == 1


def broker_comparisons(f):
    """(hop, workers): [(params but the profile, [(set-up, Cell)])], the
    twin first. hop: plain loopback (the in-memory bus) beside each broker
    profile of one process per instance; workers: a broker profile of one
    process beside each with --workers."""
    def hop(r):
        if f.model.is_loopback(r):
            return "loopback"
        b = r.broker_setup
        return r.profile_name if b and _one_process(b) else None

    def workers(r):
        b = r.broker_setup
        return r.profile_name if b and (b.get("instances") == 1 or not _one_process(b)) else None

    return (_columns(f, twins(f.runs, hop), lambda r: r.broker_setup is None),
            _columns(f, twins(f.runs, workers), lambda r: _one_process(r.broker_setup)))


def _columns(f, sets, is_twin):
    """twins() entries as [(params, [(set-up, Cell)])]: the set-up whose runs
    is_twin() first, the others in the folder's profile order; an entry
    without a twin is left out."""
    order = list(f.profiles)
    out = []
    for params, by in sets:
        names = sorted(by, key=lambda n: order.index(n) if n in order else len(order))
        twin = next((n for n in names if is_twin(by[n][0])), None)
        if twin is not None and len(names) > 1:
            cols = [twin] + [n for n in names if n != twin]
            out.append((params, [(n, Cell(params["transport"], by[n])) for n in cols]))
    return out


def ratio_words(comparisons, fig):
    """'short poll: redis ×1.10, redis-two ×1.31; …': each set-up's median of
    a figure over its twin's."""
    parts = []
    for params, cols in comparisons:
        a = cite.value(cols[0][1], fig)
        said = ["%s ×%s" % (name, sig(cite.value(c, fig) / a)) for name, c in cols[1:]
                if a and cite.value(c, fig) is not None]
        if said:
            parts.append("%s (%s): %s" % (LABEL[params["transport"]], describe(params, ["subscribers", "rate"]),
                                          ", ".join(said)))
    return "; ".join(parts)


def broker_part(f, title, comparisons):
    if not comparisons:
        return []
    out = ["", "### " + title, ""]
    out.append("Against the twin (ratio of the medians), p50 latency: %s. Server CPU per delivered message, "
               "pushpull + redis: %s." % (ratio_words(comparisons, "p50"), ratio_words(comparisons, "both")))
    for params, cols in comparisons:
        out += ["", workload_heading(f, cols[0][1].ok[-1], "####"), "", twin_table(cols, BROKER_FIGURES)]
    note = cite.limited_note([c for _, cols in comparisons for _, c in cols])
    return out + (["", note] if note else [])


def broker_setups_words(f):
    """One line per broker profile of the folder: its name and set-up."""
    seen = {}
    for r in f.runs:
        if r.broker_setup and r.profile_name not in seen:
            seen[r.profile_name] = r.broker_setup
    return ["- **%s**: %s, `--broker` to the profile's own redis-server%s;" % (
        name, broker_words(b), ": every message crosses Redis from one instance to the other"
        if b.get("instances") == 2 else "") for name, b in seen.items()]


def broker_section(f):
    broker_runs = [r for r in f.runs if r.broker_setup]
    if not broker_runs:
        return ""
    hop, workers = broker_comparisons(f)
    out = ["## What the broker hop costs", "",
           "Runs through Redis (`--broker`) beside their twins, the same workload on another set-up:", "",
           "- **loopback**: one pushpull-server and its in-memory bus, no Redis;"] + broker_setups_words(f) + [
           "",
           "Each figure is the median (min–max) of a set-up's repetitions, lost their sum; *X / twin* is the "
           "ratio of the medians. *pushpull µs/msg* is the CPU of every pushpull-server process of the run "
           "(both instances; with `--workers`, the parent and its workers) per delivered message, read from "
           "/proc by the client (`--server-pid`); *redis µs/msg* is redis-server's CPU, read from /proc by the "
           "runner around the whole client run (connect, warm-up, measure, drain), per delivery of the whole "
           "run (the measured deliveries × published_total / published); *pushpull + redis* is what one "
           "delivered message costs the server side in all. RSS: pushpull-server's processes at the end of the "
           "measure window, redis-server's at the end of the run. Every profile runs on its own servers, one "
           "profile after another: a ratio also carries the machine's drift over those minutes, and the "
           "ranges show how far one set-up's repetitions spread."]
    out += broker_part(f, "The hop: in memory, through Redis, across two instances", hop)
    out += broker_part(f, "`--workers` beside one process", workers)
    paired = {r.n for _, cols in hop + workers for _, c in cols for r in c.ok}
    lone = [r for r in broker_runs if r.ok and r.n not in paired]
    failed = [r for r in broker_runs if r.failed]
    if lone:
        out += ["", "Without a twin: %s." % ", ".join(
            "run %s (%s, %s)" % (r.n, LABEL[r.transport], r.profile_name) for r in lone)]
    if failed:
        out += ["", "Failed runs through Redis: %s." % "; ".join(
            "run %s (%s, %s): %s" % (r.n, LABEL[r.transport], r.profile_name, r.failure) for r in failed)]
    return "\n".join(out)


# ------------------------------------------------------------------ every run


def param_cells(r, keys):
    out = []
    for k in keys:
        v = r.params.get(k)
        out.append(("on" if v else "off") if isinstance(v, bool) else (sig(v) if num(v) is not None else
                                                                       str(v if v is not None else "-")))
    return out


def every_run_row(f, r, keys):
    row = [str(r.n), r.section, LABEL[r.transport]] + ([str(r.repeat)] if f.repeated else []) + \
        param_cells(r, keys)
    if r.failed or r.not_offered:
        return row + ["FAILED: %s" % r.failure if r.failed else "not offered"] + [""] * 10
    rq, mrq = r.r("cost.requests_per_delivered"), f.model.req_per_msg(r)
    return row + ["ok, client-limited" if r.client_limited else "ok", sig(r.lat_ms("mean")),
                  sig(f.model.mean_ms(r)), f.cell(r, "latency"), sig(r.lat_ms("p50")), sig(r.lat_ms("p99")),
                  sig(rq), sig(mrq), f.cell(r, "requests"), sig(r.r("throughput.delivered_per_s")),
                  count(r.r("delivery.lost"))]


def every_run(f):
    if not f.runs:
        return ""
    keys = varying_keys(f.runs)
    rep = ["rep"] if f.repeated else []
    head = ["run", "section", "transport"] + rep + keys + [
        "status", "mean ms", "model ms", "mean/model", "p50 ms", "p99 ms", "req/msg", "model req/msg",
        "req ratio", "deliv/s", "lost"]
    rows = [every_run_row(f, r, keys) for r in f.runs]
    align = "lll" + "r" * (len(keys) + len(rep)) + "l" + "r" * 10
    whose = ("the folder" if len(f.servers) < 2 else
             "%s (the other servers' runs are in the Servers part)" % f.primary)
    return ("## Every run\n\nEvery run of %s in run order, with its model comparison. Parameter " % whose +
            "columns are those that vary between runs (names as in runs.jsonl `params`; poll_interval_ms "
            "matters only to short polling)%s.\n\n" % ("; rep is the run's repetition" if rep else "") +
            table(head, rows, align))


# ------------------------------------------------------------------ client saturation


def saturation_section(f):
    """Runs where the client, not the server, may have been the limit."""
    limited = [r for r in f.runs if r.ok and r.client_limited]
    if not any(get(r.result, "client_saturation") for r in f.runs):
        return ""
    out = ["## Client saturation", "",
           "The client measures its own two loops (docs/CLIENT-OUTPUT.md, `client_saturation`): a loop whose "
           "thread was busy 90 % of the time or more, or whose 10 ms tick ran 2 ms late or more at the median, "
           "may have limited the run: the figures then describe the client as much as the server, so the model is "
           "not compared with them (their ratio cells read client-limited)."]
    if not limited:
        return "\n".join(out + ["", "No run of this folder was client-limited."])
    out.append("")
    out += ["- run %s (%s, %s): the client, not the server, may have been the limit: %s." % (
        r.n, LABEL[r.transport], describe(r.params, ["profile", "subscribers", "rate"], f.profiles),
        saturation_words(r)) for r in limited]
    return "\n".join(out)


# ------------------------------------------------------------------ model


def s_words(md):
    if not md.s_runs:
        return ("**s = 0**: this folder has no successful SSE or WebSocket run on loopback to estimate the "
                "service time from, so the model counts network delay and load only.")
    r = md.s_runs[0]
    return ("**s = %s ms**, estimated from this folder: the lowest mean latency of an SSE or WebSocket workload "
            "on plain loopback with one subscriber per channel where there is one (%s, %s: the median of "
            "run%s %s)." % (sig(md.s_ms), LABEL[r.transport], describe(r.params, ["subscribers", "rate"]),
                            "s" if len(md.s_runs) > 1 else "", ", ".join(str(x.n) for x in md.s_runs)))


MODEL_TEXT = [
    "- **c**, the per-delivery service time: the server's CPU per delivered message "
    "(`cost.server_cpu_us_per_delivered`) plus the client subscriber loop's (`client_saturation.subscribers.busy` "
    "/ deliveries per second). The k-th subscriber of a message is written to and read after the k − 1 ahead of "
    "it; the two loops share the machine's cores, so their times add;",
    "- **fan-out** F = (n − 1)/2 · c with n = subscribers / channels: the mean subscriber waits for half the "
    "others;",
    "- **queueing** Q = ρ/(2(1 − ρ)) · S, the mean wait of an M/D/1 queue: S = n·c (one message's fan-out; c "
    "for a short poll), ρ the busier loop's utilisation, its own CPU per delivery × deliveries per second "
    "(each loop is one thread). At ρ ≥ 1 the queue grows for as long as the run lasts and the model has no "
    "value (the run is flagged);",
    "- short poll: mean latency ≈ P/2 + d + s + Q. A lone poller whose polls keep step with the messages (P·r or "
    "1/(P·r) a whole number) keeps one phase against the publish schedule for the whole run: its mean wait is "
    "anywhere in P/2 ± min(P, 1/r)/2, and the model's value is the point of that range nearest the measurement. "
    "Requests per delivered message ≈ 1/(P·r) (one request per "
    "subscriber every P, P·r messages waiting at each), never below 1/%(h)d (an answer carries at most the "
    "server's --history, %(h)d, messages); polls back to back (P = 0) count as P = 2d + s;",
    "- long poll: mean ≈ d + s + F + Q while messages are sparse. Once they arrive faster than one per re-issue "
    "round trip RT = 2d + s + F + Q (r·RT ≥ 1, RFC 6202 §2.2), a message waits for the next request to reach the "
    "server: RT/2 more on average, about two network transits in all and at most three. Requests per delivered "
    "message ≈ 1/max(1, r·RT), which is 1/max(1, r·(2d+s)) without load (messages that arrive during the "
    "re-issue round trip share one answer);",
    "- SSE and WebSocket: mean ≈ d + s + F + Q; 0 requests per message.",
]


def model_section(f):
    md = f.model
    remote = ""
    if any(r.ok and md.is_emulated(r) for r in f.runs):
        remote = ("On an emulated network the publisher sits beside the server (relay runs: it publishes "
                  "to the server directly, as a backend would), so a message crosses the network once, on "
                  "its way out. Where it crossed on the way in as well (netem runs, whose publisher shares "
                  "the namespace), the model adds that publish leg d; each run records which "
                  "(`profile.publish_path`).\n")
    flagged = {fl.run.n for fl in f.flags.values()}
    out = ["## Model against measurement", "",
           "The teaching model of DESIGN.md §5 with what load adds, fed with each run's own parameters and "
           "measured costs: one-way delay d = RTT/2 of the run's profile, poll interval P, per-subscriber "
           "message rate r = rate / channels, and a service time s. " + s_words(md), ""]
    out += [line % {"h": md.history} if "%(h)" in line else line for line in MODEL_TEXT]
    out += ["", remote,
            "Measured mean latency (`latency_us.mean`) and requests per delivered message are divided by "
            "the model's; a ratio more than %s%% from 1 is flagged ⚠ in the tables." % sig(FLAG_LIMIT * 100), "",
            "### Where the model and the measurement disagree", "",
            "%d of %d successful runs flagged." % (len(flagged), sum(r.ok for r in f.runs))]
    if not f.flags:
        out += ["", "Nowhere: every compared ratio is within %s%%." % sig(FLAG_LIMIT * 100)]
    else:
        out.append("")
    out += [flag_line(f, fl) for fl in sorted(f.flags.values(), key=lambda fl: (fl.run.n, fl.what))]
    return "\n".join(out)


def flag_line(f, fl):
    r = fl.run
    where = "run %s (%s, %s)" % (r.n, LABEL[r.transport], describe(
        r.params, ["profile", "subscribers", "rate"] + (["poll_interval_ms"] if r.transport == "poll" else [])
        + [k for k in ("keepalive", "churn_s") if r.params.get(k) not in (None, True, 0)], f.profiles))
    if fl.what == "latency":
        fig = "mean latency %s ms against the model's %s" % (
            sig(fl.measured), "%s ms" % sig(fl.model) if fl.model is not None else "none (saturated)")
    else:
        fig = "%s requests per delivered message against the model's %s" % (sig(fl.measured), sig(fl.model))
    if fl.model:
        fig += " (%s×, off by %s%%)" % (sig(fl.measured / fl.model), sig(abs(fl.measured / fl.model - 1) * 100))
    return "- ⚠ %s: %s. Likely: %s." % (where, fig, fl.reason)
