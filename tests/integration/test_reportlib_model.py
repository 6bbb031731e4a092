"""scripts/reportlib/model.py by import, on fixture folders: fan-out and
queueing fed with each run's own CPU figures explain the 100-subscriber runs
of tests/fixtures/results-repeat (which the model without load flags),
while a run far off anyway stays flagged with reasons its own data bear
out; long polling's batching regime (RFC 6202 section 2.2) on the committed
wan runs of results/reference/full-trimmed: about two transits, not one; a
saturated run has no model value and is flagged; a client-limited run is
not compared. No server needed."""

import json
import os
import shutil
import sys
import tempfile

from harness import Tap, check, check_eq

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from reportlib import model  # noqa: E402
from reportlib.facts import Facts  # noqa: E402

REPEAT = os.path.join(ROOT, "tests", "fixtures", "results-repeat")
WAN = os.path.join(ROOT, "results", "reference", "full-trimmed")
_tmp = tempfile.mkdtemp(prefix="pp-model-")
state = {}


def facts():
    if "f" not in state:
        state["f"] = Facts(REPEAT)
    return state["f"]


def runs_of(f, transport, subscribers):
    return [r for r in f.runs if r.transport == transport and r.subscribers == subscribers]


def t_fanout_explained():
    f = facts()
    for r in runs_of(f, "sse", 100):
        res = r.result
        c = res["cost"]["server_cpu_us_per_delivered"] + \
            res["client_saturation"]["subscribers"]["busy"] * 1e6 / res["throughput"]["delivered_per_s"]
        t = f.model.terms(r)
        check(abs(t.fan - 99 / 2 * c / 1000) < 1e-9, "run %d: F = (n-1)/2 c = %g ms, got %g" % (r.n, 99 / 2 * c / 1000,
                                                                                                  t.fan))
        ratio = r.lat_ms("mean") / f.model.mean_ms(r)
        check(abs(ratio - 1) <= model.FLAG_LIMIT, "run %d off the model with fan-out: %g" % (r.n, ratio))
        check((r.n, "latency") not in f.flags, "run %d flagged" % r.n)
        without = t.d + t.s
        check(r.lat_ms("mean") / without - 1 > model.FLAG_LIMIT,
              "run %d: the model without load (d + s = %g ms) would not flag it" % (r.n, without))


def t_far_off_flagged():
    f = facts()
    ws = runs_of(f, "ws", 100)
    slow = max(ws, key=lambda r: r.lat_ms("mean"))
    others = sorted(r.lat_ms("mean") for r in ws if r is not slow)
    fl = f.flags.get((slow.n, "latency"))
    check(fl is not None, "run %d (mean %g ms) not flagged" % (slow.n, slow.lat_ms("mean")))
    check("the whole machine was %d%% busy" % round(slow.machine_busy * 100) in fl.reason, fl.reason)
    x = slow.lat_ms("mean") / (sum(others) / 2)
    check("this repetition alone: its mean latency is %s× the median of the other 2" % model.sig(x) in fl.reason,
          "reason %r does not give its ratio %s to its siblings" % (fl.reason, model.sig(x)))
    flagged = {n for n, _ in f.flags}
    check_eq(flagged, {slow.n}, "the only flagged run")


def t_longpoll_batching():
    f = Facts(WAN)
    lp = [r for r in f.runs if r.ok and r.transport == "longpoll" and r.profile_name == "wan"
          and 100 <= r.rate <= 1000 and r.subscribers <= 100 and r.p("size") <= 1024 and not r.p("churn_s")]
    check(len(lp) >= 3, "the reference folder's wan long polls: %r" % [r.n for r in lp])
    for r in lp:
        t = f.model.terms(r)
        check(t.x >= 1, "run %d: r·RT = %g, not the batching regime" % (r.n, t.x))
        check(abs(t.lp - t.rt / 2) < 1e-9, "run %d: the wait for the next request is RT/2" % r.n)
        d = t.d
        check(1.9 * d <= f.model.mean_ms(r) <= 2.2 * d, "run %d: model %g ms is not about two transits (d = %g)"
              % (r.n, f.model.mean_ms(r), d))
        ratio = r.lat_ms("mean") / f.model.mean_ms(r)
        check(abs(ratio - 1) <= model.FLAG_LIMIT and (r.n, "latency") not in f.flags,
              "run %d: mean %g ms against %g" % (r.n, r.lat_ms("mean"), f.model.mean_ms(r)))
        check(r.lat_ms("mean") / (d + t.s) > 1 + model.FLAG_LIMIT, "run %d: one transit would explain it" % r.n)
        if r.subscribers == 1:      # alone, nothing but the network: at most three transits (within 1 %)
            check(r.lat_ms("max") <= 3 * d * 1.01, "run %d: max %g ms beyond three transits" % (r.n, r.lat_ms("max")))


def copy_with(name, change):
    d = os.path.join(_tmp, name)
    shutil.copytree(REPEAT, d)
    path = os.path.join(d, "runs.jsonl")
    with open(path, encoding="utf-8") as fh:
        runs = [json.loads(x) for x in fh if x.strip()]
    for r in runs:
        change(r)
    with open(path, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in runs)
    return Facts(d)


def t_saturated():
    def hot(r):
        if r["n"] == 15:
            r["result"]["cost"]["server_cpu_us_per_delivered"] = 1500.0
    f = copy_with("hot", hot)
    r = next(r for r in f.runs if r.n == 15)
    check(f.model.terms(r).rho >= 1, "rho %g" % f.model.terms(r).rho)
    check(f.model.mean_ms(r) is None, "a saturated run has no model mean")
    fl = f.flags.get((15, "latency"))
    check(fl is not None and "a loop was saturated" in fl.reason and "1500 µs × 1000/s = 1.50 ≥ 1" in fl.reason,
          "flag %r" % (fl and fl.reason))
    check_eq(f.cell(r, "latency"), "⚠ saturated", "ratio cell")


def t_client_limited_not_compared():
    f = facts()
    lim = [r for r in f.runs if r.client_limited]
    check_eq([r.n for r in lim], [24], "the fixture's client-limited run")
    check(f.model.mean_ms(lim[0]) is None and f.model.req_per_msg(lim[0]) is None, "modelled anyway")
    check(not any(n == 24 for n, _ in f.flags), "a client-limited run among the model's flags")
    check_eq(f.cell(lim[0], "latency"), "client-limited", "its ratio cell")


def main():
    tap = Tap(__file__, watchdog_s=60)
    try:
        tap.run("model: fan-out from the run's own CPU explains 100-subscriber SSE, which d + s alone flags",
                t_fanout_explained)
        tap.run("model: a run far off anyway stays flagged, with reasons its data bear out", t_far_off_flagged)
        tap.run("model: long polling at 100 msg/s over 80 ms RTT waits for the next request (RFC 6202): about two "
                "transits, at most three", t_longpoll_batching)
        tap.run("model: a saturated run (utilisation >= 1) has no model value and is flagged", t_saturated)
        tap.run("model: a client-limited run is not compared with the model", t_client_limited_not_compared)
    finally:
        shutil.rmtree(_tmp, ignore_errors=True)
    tap.done()


if __name__ == "__main__":
    main()
