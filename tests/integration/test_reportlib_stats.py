"""scripts/reportlib/stats.py by import: medians and ranges over
repetitions, the noise figure, and when a ranking may be claimed (ranges
apart, Mann-Whitney's extreme p); then on the committed fixture
tests/fixtures/results-repeat/ (three repetitions per workload): the
headline's figures are the median and range of the runs the fixture holds,
a separated range gives a ranking sentence and overlapping ones give "no
difference was measurable here" instead. No server needed."""

import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile

from harness import Tap, check, check_eq

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from reportlib import stats  # noqa: E402
from reportlib.facts import Facts  # noqa: E402
from reportlib.text import sig  # noqa: E402

FIXTURE = os.path.join(ROOT, "tests", "fixtures", "results-repeat")
_tmp = tempfile.mkdtemp(prefix="pp-stats-")


def t_spread():
    s = stats.spread([3.0, None, 1.0, 2.0])
    check_eq((s.n, s.median, s.lo, s.hi), (3, 2.0, 1.0, 3.0), "median and range of three")
    check_eq(s.text(), "2.00 (1.00–3.00)", "text of a range")
    check_eq(stats.spread([4.0, 1.0]).median, 2.5, "median of two")
    check_eq(stats.spread([5.0]).text(), "5.00", "one value: no range")
    check_eq(s.noise(), 1.0, "relative range (3 - 1) / 2")
    check(stats.spread([5.0]).noise() is None, "one value has no noise figure")
    check(stats.spread([None]) is None, "no value, no spread")


def t_ranking():
    apart = stats.Ranking({"a": stats.Spread([1, 2, 3]), "b": stats.Spread([4, 5, 6]), "c": stats.Spread([7, 8, 9])})
    check_eq((apart.lowest, apart.highest), ("a", "c"), "separated ranges: lowest and highest")
    check_eq(round(apart.p, 4), 0.05, "Mann-Whitney one-sided p, 3 against 3 = 1/C(6,3)")
    touch = stats.Ranking({"a": stats.Spread([1, 2, 4]), "b": stats.Spread([4, 5, 6]), "c": stats.Spread([7, 8, 9])})
    check_eq((touch.lowest, touch.highest), (None, "c"), "ranges that touch (4 and 4) overlap")
    over = stats.Ranking({"a": stats.Spread([1, 5, 9]), "b": stats.Spread([4, 5, 6])})
    check_eq((over.lowest, over.highest), (None, None), "overlapping ranges: no ranking")
    once = stats.Ranking({"a": stats.Spread([1]), "b": stats.Spread([9])})
    check(not once.repeated and once.lowest is None and once.highest is None, "one run each: no ranking")
    check_eq(round(stats.mann_whitney_extreme_p(2, 5), 4), round(1 / 21, 4), "p for 2 against 5")


def fixture_runs():
    with open(os.path.join(FIXTURE, "runs.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def t_headline_from_fixture():
    f = Facts(FIXTURE)
    w = next(w for w in f.headline if w.params["subscribers"] == 100)
    p50 = sorted(r["result"]["latency_us"]["p50"] / 1000 for r in fixture_runs()
                 if r["params"]["transport"] == "sse" and r["params"]["subscribers"] == 100)
    s = w.cells["sse"].spread(lambda r: r.lat_ms("p50"))
    check_eq((s.n, s.lo, s.median, s.hi), (3, p50[0], p50[1], p50[2]), "SSE p50 over its three repetitions")
    check_eq(sorted(r.repeat for r in w.cells["sse"].runs), [1, 2, 3], "repetition of each run")
    noise = w.noise(lambda r: r.lat_ms("p50"))
    check_eq(round(noise["sse"], 6), round((p50[2] - p50[0]) / p50[1], 6), "SSE noise figure")
    check(noise["ws"] > 5, "WebSocket's disturbed repetition shows in its noise: %r" % noise)


def sentence_with(f, words):
    return [s for s in f.sentences if words in s]


def t_sentences_follow_ranges():
    f = Facts(FIXTURE)
    p99 = sentence_with(f, "p99 latency")
    check(p99 and "short poll had the highest p99 latency" in p99[0] and "p = 0.050" in p99[0],
          "separated ranges give a ranking sentence: %r" % p99)
    check("no transport was measurably the lowest" in p99[0], "overlapping ones do not: %r" % p99)
    # Move short polling's p99 into the others' range: nothing is measurable then.
    d = os.path.join(_tmp, "overlap")
    shutil.copytree(FIXTURE, d)
    runs = fixture_runs()
    sse = sorted(r["result"]["latency_us"]["p99"] for r in runs
                 if r["params"]["transport"] == "sse" and r["params"]["subscribers"] == 100)
    for r in runs:
        if r["params"]["subscribers"] == 100 and r["params"]["transport"] == "poll":
            r["result"]["latency_us"]["p99"] = sse[1]
    with open(os.path.join(d, "runs.jsonl"), "w", encoding="utf-8") as out:
        out.writelines(json.dumps(r) + "\n" for r in runs)
    f2 = Facts(d)
    p99 = sentence_with(f2, "p99 latency")
    check(p99 and "no difference in p99 latency was measurable here" in p99[0], "overlap: %r" % p99)
    check(not any("had the lowest p99" in s or "had the highest p99" in s for s in f2.sentences),
          "a p99 ranking from overlapping ranges: %r" % f2.sentences)
    check(sig(sse[1] / 1000) in p99[0], "the overlapping ranges are named: %r" % p99)


def t_fixture_up_to_date():
    d = os.path.join(_tmp, "regen")
    p = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tests", "fixtures", "make_fixture_repeat.py"), d],
                       capture_output=True, timeout=60)
    check_eq(p.returncode, 0, "make_fixture_repeat.py exit status (%s)" % p.stderr.decode()[-500:])
    for name in ("manifest.json", "runs.jsonl"):
        check(filecmp.cmp(os.path.join(d, name), os.path.join(FIXTURE, name), shallow=False),
              "tests/fixtures/results-repeat/%s differs from what make_fixture_repeat.py writes: re-run it" % name)


def main():
    tap = Tap(__file__, watchdog_s=60)
    try:
        tap.run("stats: median, range and relative range (noise) of repetitions", t_spread)
        tap.run("stats: a ranking only where ranges are apart; Mann-Whitney's extreme p", t_ranking)
        tap.run("stats: the fixture's headline figures are the median and range of its repetitions", t_headline_from_fixture)
        tap.run("sentences: separated ranges give a ranking sentence, overlapping ones say nothing was measurable",
                t_sentences_follow_ranges)
        tap.run("the committed fixture is what make_fixture_repeat.py writes", t_fixture_up_to_date)
    finally:
        shutil.rmtree(_tmp, ignore_errors=True)
    tap.done()


if __name__ == "__main__":
    main()
