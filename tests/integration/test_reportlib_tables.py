"""scripts/reportlib/tables.py by import, on tests/fixtures/results-repeat:
the headline gives each figure as median (min–max) over the repetitions and
a noise figure per workload; a run whose client was starved
(client_saturation.client_limited) is marked in the headline (†), in the
every-run table and in "Client saturation", with its loop's busy fraction
and tick lag, and the model is not compared with it. No server needed."""

import json
import os
import re
import sys

from harness import Tap, check, check_eq

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from reportlib import tables  # noqa: E402
from reportlib.facts import Facts  # noqa: E402
from reportlib.text import sig  # noqa: E402

FIXTURE = os.path.join(ROOT, "tests", "fixtures", "results-repeat")
F = Facts(FIXTURE)


def raw_runs():
    with open(os.path.join(FIXTURE, "runs.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def row(text, first):
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in text.splitlines()
            if line.startswith("| %s " % first)]


def t_headline_ranges():
    text = tables.headline(F)
    check("the median (min–max) of 3 repetitions" in text, "heading: %s" % text.splitlines()[0])
    part = text.split("### 100 subscribers")[1]
    sse = row(part, "SSE")[0]
    p50 = sorted(r["result"]["latency_us"]["p50"] / 1000 for r in raw_runs()
                 if r["params"]["transport"] == "sse" and r["params"]["subscribers"] == 100)
    check_eq(sse[1], "%s (%s–%s)" % (sig(p50[1]), sig(p50[0]), sig(p50[2])), "SSE p50 cell")
    check_eq(sse[-1], ", ".join(str(r["n"]) for r in raw_runs() if r["params"]["transport"] == "sse"
                                 and r["params"]["subscribers"] == 100), "runs column")
    noise = (p50[2] - p50[0]) / p50[1]
    check("SSE %s%%" % sig(noise * 100, 2) in part, "SSE noise %s%% not stated:\n%s" % (sig(noise * 100, 2), part))
    check(re.search(r"this workload's noise figure is [\d.]+% \(WebSocket\)", part), "noise figure:\n%s" % part)


def t_saturation_warning():
    lim = [r for r in raw_runs() if r["result"]["client_saturation"]["client_limited"]]
    check_eq(len(lim), 1, "client-limited runs in the fixture")
    r = lim[0]
    sub = r["result"]["client_saturation"]["subscribers"]
    words = "subscriber loop %s%% busy, its tick %s ms late at the median" % (
        sig(sub["busy"] * 100, 2), sig(sub["lag_p50_us"] / 1000))
    head = tables.headline(F).split("### 100 subscribers")[1]
    check(row(head, "long poll †"), "the headline does not mark long poll with †:\n%s" % head)
    check("† client-limited: run %d (long poll): %s" % (r["n"], words) in head, "headline note:\n%s" % head)
    sat = tables.saturation_section(F)
    check("- run %d (long poll, loopback, 100 subscribers, 10 msg/s): the client, not the server, may have been "
          "the limit: %s" % (r["n"], words) in sat, "saturation section:\n%s" % sat)
    every = row(tables.every_run(F), str(r["n"]))
    check(every and "ok, client-limited" in every[0] and "client-limited" in every[0][every[0].index(
        "ok, client-limited") + 3], "every-run row: %r" % every)
    others = [x for x in F.runs if x.n != r["n"] and "client-limited" in " ".join(
        row(tables.every_run(F), str(x.n))[0])]
    check_eq(others, [], "runs marked client-limited that are not")


def t_no_saturation_figures():
    small = Facts(os.path.join(ROOT, "tests", "fixtures", "results-small"))
    check_eq(tables.saturation_section(small), "", "a folder without client_saturation gets no such part")


def main():
    tap = Tap(__file__, watchdog_s=60)
    tap.run("tables: headline figures are median (min–max) of the repetitions, with a noise figure",
            t_headline_ranges)
    tap.run("tables: a client-limited run is marked (†, status, Client saturation) with busy fraction and lag",
            t_saturation_warning)
    tap.run("tables: no Client saturation part for results without the figures", t_no_saturation_figures)
    tap.done()


if __name__ == "__main__":
    main()
