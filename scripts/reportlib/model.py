"""The model the report compares each run with: DESIGN.md section 5 fed
with the run's own parameters and measured costs, plus what load adds.

For one run (d = RTT/2, P = poll interval, r = messages per second per
channel, n = subscribers per channel, s = service time at no load):

- c, the per-delivery service time: the server's CPU per delivered message
  plus the client subscriber loop's (its busy fraction / deliveries per
  second). The k-th delivery of a message is written by the server and read
  by the client after the k-1 ahead of it; on two shared cores the two
  loops seldom overlap, so their times add.
- fan-out wait F = (n - 1)/2 * c: the mean subscriber waits for half the
  others.
- queueing Q = rho / (2 (1 - rho)) * S (M/D/1: a message's fan-out S = n*c
  is the job; rho the busier loop's utilisation, its CPU per delivery times
  deliveries per second: each loop is one thread); no value (the queue
  grows without bound) when rho >= 1.
- short poll: P/2 + d + s + Q; a lone poller whose polls keep step with
  the messages (P*r or 1/(P*r) whole) has a fixed phase for the run: its
  mean wait is anywhere in P/2 +- min(P, 1/r)/2, and the model's value is
  the point of that range nearest the measurement;
- SSE and WebSocket: d + s + F + Q;
- long poll: d + s + F + Q, and once messages arrive faster than one per
  re-issue round trip RT = 2d + s + F + Q (r * RT >= 1, RFC 6202 section
  2.2), a message waits for the next request to reach the server: RT/2 more
  on average (about two transits in all, at most three);
- requests per delivered message: short poll max(1/(P*r), 1/history), long
  poll 1/max(1, r*RT), streams 0.

Flags are computed here from the data, before any text is written: a
measured figure more than FLAG_LIMIT away from its model value, with the
reasons the run's own counters support. Standard library only.
"""

import math

from .load import is_tls
from .stats import median
from .text import count, get, ms, num, qty, sig

FLAG_LIMIT = 0.25           # |measured/model - 1| above this is flagged
DEFAULT_HISTORY = 1024      # server --history default: most messages per poll answer
MACHINE_BUSY = 0.8          # the whole machine this busy: other work competed for it
OUTLIER = 1 + FLAG_LIMIT    # a repetition this far from its siblings' median was disturbed alone


class Terms:
    """The model's mean latency of one run, term by term (ms)."""

    def __init__(self, **kw):
        self.pub = self.wait = self.d = self.s = self.fan = self.queue = self.lp = self.phase = 0.0
        self.c_us = self.rho = self.rt = self.x = None
        self.__dict__.update(kw)

    @property
    def total(self):
        if self.wait is None or (self.rho is not None and self.rho >= 1):
            return None
        return self.pub + self.wait + self.d + self.s + self.fan + self.queue + self.lp


class Model:
    """DESIGN.md section 5 with the folder's own parameters and load."""

    def __init__(self, folder):
        self.profiles = folder.profiles
        self.history = _history(folder.manifest)
        self.cores = num(get(folder.manifest, "machine.cores")) or 2
        self.s_ms, self.s_runs, self.cal = self._service_time(folder.runs)

    # -- inputs
    def _service_time(self, runs):
        """The no-load service time: (s for the folder, the runs it comes
        from, {(transport, rate): (s, runs)}). Each transport's own mean
        latency with one subscriber per channel on plain loopback, per message
        rate (the median of its repetitions); s for the folder is the lowest
        such figure of SSE or WebSocket (of any SSE or WebSocket loopback
        workload when none has one subscriber per channel)."""
        cand = [r for r in runs if r.ok and self.is_loopback(r)
                and r.lat_ms("mean") is not None and not r.client_limited]
        cal = {}
        for r in cand:
            if per_channel(r) <= 1:
                cal.setdefault((r.transport, r.rate), []).append(r)
        cal = {k: (median([r.lat_ms("mean") for r in rs]), rs) for k, rs in cal.items()}
        push = [v for (t, _), v in cal.items() if t in ("sse", "ws")]
        if not push:
            groups = {}
            for r in (r for r in cand if r.transport in ("sse", "ws")):
                groups.setdefault(_workload_key(r), []).append(r)
            push = [(median([r.lat_ms("mean") for r in rs]), rs) for rs in groups.values()]
        best = min(push, key=lambda v: v[0], default=(0.0, []))
        return best[0], best[1], cal

    def s_for(self, run):
        """s of a run: its transport's own at the nearest message rate (a
        short poll takes SSE's or WebSocket's: its own mean is mostly P/2),
        else the folder's."""
        t = "sse" if run.transport == "poll" else run.transport
        for want in ((t,), ("sse", "ws")):
            near = [(abs(math.log((rate or 1) / (run.rate or 1))), v[0]) for (tt, rate), v in self.cal.items()
                    if tt in want]
            if near:
                return min(near)[1]
        return self.s_ms

    def is_emulated(self, run):
        """Did an emulated network (relay or netem) lie between client and server?"""
        return bool(self.rtt_ms(run)) or run.profile.get("method", "none") not in ("none", None)

    def is_loopback(self, run):
        """Plain loopback, the set-up the others are compared with: no emulated
        network, no TLS, no broker (those runs are loopback's twins, not it)."""
        return not self.is_emulated(run) and not is_tls(run, self.profiles) and run.broker_setup is None

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
        return (run.rate or 0) / (run.p("channels", 1) or 1)

    def poll_ms(self, run):
        """Short-poll period; back to back (0) polls once per round trip."""
        p = num(run.params.get("poll_interval_ms"))
        if p is None:
            return None
        return p if p > 0 else 2 * self.d_ms(run) + self.s_for(run)

    def publish_ms(self, run):
        """The publish leg: 0 when the publisher sat beside the server (relay
        runs), d when its messages crossed the emulated network too (netem)."""
        return self.d_ms(run) if run.profile.get("publish_path") == "network" else 0.0

    @staticmethod
    def loop_us(run):
        """(server, client subscriber loop) CPU per delivered message, µs;
        a part the run did not record counts 0."""
        srv = run.r("cost.server_cpu_us_per_delivered") or 0.0
        busy, dps = num(run.loop("subscribers").get("busy")), run.r("throughput.delivered_per_s")
        return srv, (busy * 1e6 / dps if busy is not None and dps else 0.0)

    def delivery_us(self, run):
        """c: what one delivery costs the server's loop and the client's, in turn."""
        return sum(self.loop_us(run))

    def utilisation(self, run):
        """rho: the busier loop's busy fraction (each loop is one thread)."""
        return max(self.loop_us(run)) * (run.r("throughput.delivered_per_s") or 0) / 1e6

    # -- the model
    def terms(self, run):
        """Terms of the run's mean latency (Terms.total None: saturated)."""
        t = Terms(pub=self.publish_ms(run), d=self.d_ms(run), s=self.s_for(run))
        n = per_channel(run)
        t.c_us = self.delivery_us(run)
        t.rho = self.utilisation(run)
        job_ms = (t.c_us if run.transport == "poll" else n * t.c_us) / 1000.0
        t.queue = t.rho / (2 * (1 - t.rho)) * job_ms if t.rho < 1 else 0.0
        if run.transport == "poll":
            p = self.poll_ms(run)
            t.wait = p / 2 if p is not None else None
            t.phase = self.phase_ms(run, p)
            return t
        t.fan = (n - 1) / 2.0 * t.c_us / 1000.0
        if run.transport == "longpoll":
            t.rt = 2 * t.d + t.s + t.fan + t.queue
            t.x = self.r_per_s(run) * t.rt / 1000.0
            t.lp = t.rt / 2 if t.x >= 1 else 0.0
        return t

    def phase_ms(self, run, p):
        """How far a lone short poller's mean wait may sit from P/2. With one
        subscriber whose polls and messages keep step (P·r or 1/(P·r) a whole
        number) the poll phase against the schedule stays fixed for the run:
        the mean wait is anywhere within ±min(P, 1/r)/2 of P/2, not P/2."""
        r = self.r_per_s(run)
        if run.subscribers != 1 or not p or r <= 0:
            return 0.0
        k = p / 1000.0 * r
        step = k if k >= 1 else 1 / k
        return min(p, 1000.0 / r) / 2 if abs(step - round(step)) < 1e-9 else 0.0

    def mean_ms(self, run):
        """The model's mean latency; where it is a range (a lone short
        poller, phase_ms) the point of the range nearest the measured mean.
        None for a client-limited run: it measured the client, not the
        transport."""
        if run.client_limited:
            return None
        t = self.terms(run)
        if t.total is None or not t.phase:
            return t.total
        measured = run.lat_ms("mean")
        if measured is None:
            return t.total
        return min(max(measured, t.total - t.phase), t.total + t.phase)

    def req_per_msg(self, run):
        if run.client_limited:
            return None
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
        t = self.terms(run)
        return None if t.total is None else 1.0 / max(1.0, t.x)

    def req_per_s(self, run):
        """Short poll: one request per subscriber every P."""
        p = self.poll_ms(run)
        return None if not p else (run.subscribers or 0) * 1000.0 / p


def per_channel(run):
    return (run.subscribers or 0) / (run.p("channels", 1) or 1)


def _workload_key(run):
    return tuple(sorted((k, repr(v)) for k, v in run.params.items()))


def _history(manifest):
    cmd = manifest.get("server_command") or []
    if isinstance(cmd, list) and "--history" in cmd:
        i = cmd.index("--history")
        if i + 1 < len(cmd) and str(cmd[i + 1]).isdigit() and int(cmd[i + 1]) > 0:
            return int(cmd[i + 1])
    return DEFAULT_HISTORY


# ------------------------------------------------------------------ flags

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


def figures(run, model):
    """{what: (measured, model value)} of the two figures the model predicts."""
    return {"latency": (run.lat_ms("mean"), model.mean_ms(run)),
            "requests": (run.r("cost.requests_per_delivered"), model.req_per_msg(run))}


def compute_flags(runs, model):
    """{(run n, what): Flag} for every ok run and figure off its model, and
    saturated runs (the model has no value: the queue grows). A
    client-limited run is not compared: it measured the client."""
    sib = siblings(runs)
    out = {}
    for r in (r for r in runs if r.ok and not r.client_limited):
        for what, (measured, mval) in figures(r, model).items():
            flagged = compare(measured, mval)[1] or (
                what == "latency" and measured is not None and mval is None and model.terms(r).total is None)
            if flagged:
                out[(r.n, what)] = Flag(r, what, measured, mval,
                                        likely_reason(r, what, measured, mval, model, sib.get(r.n, [])))
    return out


def siblings(runs):
    """{run n: [the other ok repetitions of its workload and transport]}."""
    groups = {}
    for r in runs:
        if r.ok:
            groups.setdefault(_workload_key(r), []).append(r)
    return {r.n: [o for o in rs if o is not r] for rs in groups.values() for r in rs}


def likely_reason(run, what, measured, model, mdl, sibs=()):
    """The one or two most likely causes of a disagreement, read from the
    run's own counters (first the ones that invalidate any model)."""
    why = setup_reasons(run) + disturbance_reasons(run, what, measured, mdl, sibs)
    why += (latency_reasons if what == "latency" else request_reasons)(run, measured, model or 0.0, mdl)
    if not why:
        why.append("no cause visible in the counters (no loss, reconnects, saturation or busy machine, no "
                   "repetition to compare with): run it again to see whether it repeats")
    return ". Also, ".join(why[:2])


def setup_reasons(run):
    """Causes that make any model moot: loss, a late publisher, churn, errors."""
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
    broker = run.broker_setup
    if broker:
        why.append("the run went through Redis (profile %s: %s): each publish and its fan-out cross "
                   "redis-server, a hop the model leaves out" % (run.profile_name, broker_words(broker)))
    bits = run.profile.get("rate_bits")
    if bits:
        why.append("the profile's bandwidth cap (%s Mbit/s) adds transmission time the model leaves out"
                   % sig(bits / 1e6))
    return why


def disturbance_reasons(run, what, measured, mdl, sibs):
    """The client, the machine or this repetition alone was disturbed."""
    why = []
    busy = run.machine_busy
    if busy is not None and busy >= MACHINE_BUSY:
        cpu_us = (run.r("cost.server_cpu_us_per_delivered") or 0) + (run.r("cost.client_cpu_us_per_delivered") or 0)
        ours = cpu_us * (run.r("throughput.delivered_per_s") or 0) / 1e6 / mdl.cores
        why.append("the whole machine was %s%% busy during the run, %s%% of it this run's server and client: "
                   "other work competed for the %s cores" % (sig(busy * 100, 2), sig(ours * 100, 2), qty(mdl.cores)))
    mine = figures(run, mdl)[what][0]
    theirs = [figures(o, mdl)[what][0] for o in sibs]
    theirs = [v for v in theirs if v is not None]
    if theirs and mine is not None and median(theirs) and not 1 / OUTLIER <= mine / median(theirs) <= OUTLIER:
        why.append("this repetition alone: its %s is %s× the median of the other %d repetitions (%s): a "
                   "disturbance of this run rather than of the transport" % (
                       "mean latency" if what == "latency" else "requests per message",
                       sig(mine / median(theirs)), len(theirs), sig(median(theirs))))
    return why


def broker_words(broker):
    """A broker profile's set-up (runs.jsonl profile "broker") in words:
    'two pushpull-servers (the publisher on A, the subscribers on B)'."""
    if broker.get("instances") == 2:
        text = "two pushpull-servers (the publisher on A, the subscribers on B)"
    else:
        text = "one pushpull-server"
    return text + (" with `--workers %s`" % broker["workers"] if (broker.get("workers") or 1) > 1 else "")


def saturation_words(run):
    """'subscriber loop 86 % busy, its tick 2.0 ms late at the median (p99 9.1 ms)' for the limited loops."""
    out = []
    for name, words in (("subscribers", "subscriber loop"), ("publisher", "publisher loop")):
        lp = run.loop(name)
        if lp.get("limited") or (not out and name == "publisher" and not run.loop("subscribers").get("limited")):
            out.append("%s %s%% busy, its tick %s ms late at the median (p99 %s ms)" % (
                words, sig((num(lp.get("busy")) or 0) * 100, 2), sig(ms(num(lp.get("lag_p50_us")))),
                sig(ms(num(lp.get("lag_p99_us"))))))
    return "; ".join(out)


def latency_reasons(run, measured, model, mdl):
    why = []
    t = mdl.terms(run)
    d, s = t.d, t.s
    p = mdl.poll_ms(run) if run.transport == "poll" else None
    if t.total is None:
        why.append("a loop was saturated: the busier one's CPU per delivery × deliveries/s = %s µs × %s/s = "
                   "%s ≥ 1, so the queue grows for as long as the run lasts and the model has no mean" % (
                       sig(max(mdl.loop_us(run))), sig(run.r("throughput.delivered_per_s")), sig(t.rho)))
    if p and 2 * d + s > p:
        why.append("a poll round trip (2d+s = %s ms) is longer than P = %s ms, so polls cannot go out every P "
                   "and a message waits for the one in flight; the model assumes P > 2d+s" % (sig(2 * d + s), sig(p)))
    why += _publish_path_reason(run, measured, model, d)
    lo, p99 = run.lat_ms("min"), run.lat_ms("p99")
    if p and lo is not None and p99 is not None and p99 - lo < p / 2:
        why.append("every message waited about as long (min %s ms, p99 %s ms): with %s subscriber%s polling every "
                   "P = %s ms at %s msg/s, the poll phase against the publish schedule stays fixed instead of "
                   "uniform, so the mean wait is not P/2" % (sig(lo), sig(p99), sig(run.subscribers),
                                                           "" if run.subscribers == 1 else "s", sig(p), sig(run.rate)))
    why += _publisher_lag_reason(run, measured, model)
    if t.total is not None and measured is not None and t.rho >= 0.5 and measured > model:
        why.append("the busier loop was %s%% utilised (%s µs per delivery at %s deliveries/s): near saturation "
                   "a queue's wait is far more variable than M/D/1's mean" % (
                       sig(t.rho * 100, 2), sig(max(mdl.loop_us(run))), sig(run.r("throughput.delivered_per_s"))))
    return why


def _publish_path_reason(run, measured, model, d):
    if not (d > 0 and measured is not None and measured > model + d / 2
            and run.profile.get("publish_path") not in ("direct", "network")):
        return []
    # Folders from before publish_path was recorded: the publisher may
    # have crossed the network too.
    both = model + d
    close = abs(measured / both - 1) <= FLAG_LIMIT
    return ["this run does not record whether the publisher crossed the emulated network; if it did, "
            "each message crossed it twice (one more d = %s ms)%s" % (
                sig(d), ": model + d = %s ms is within %s%% of the measurement" % (
                    sig(both), sig(abs(measured / both - 1) * 100)) if close else "")]


def _publisher_lag_reason(run, measured, model):
    unc = ms(run.r("latency_uncorrected_us.mean"))
    if unc is None or measured is None or measured <= model:
        return []
    lag = measured - unc
    if lag >= 0.2 and lag >= 0.25 * (measured - model):
        return ["%s ms of the mean passed between the scheduled publish time and the actual send (mean "
                "from the send: %s ms): the publisher's own lag, which the model leaves out" % (sig(lag), sig(unc))]
    return []


def request_reasons(run, measured, model, mdl):
    t = mdl.terms(run)
    rt = 2 * mdl.d_ms(run) + mdl.s_for(run)
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
                "a re-issue round trip longer than the model's RT = 2d+s+F+Q = %s ms (at %s deliveries/s)" % (
                    sig(measured), sig(1000.0 / (r * measured)), sig(t.rt), sig(run.r("throughput.delivered_per_s")))]
    return ["long polls that ended without a message (empty answers: %s) add requests"
            % count(run.r("cost.empty_answers"))]
