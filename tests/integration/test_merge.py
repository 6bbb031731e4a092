"""pushpull-client --merge (issue 16): two client processes ran side by
side, each its own workload (--run-tag); their merged document has the
counts of both, histograms equal bucket by bucket to the two summed (so its
percentiles are those of one run of both workloads, to the bucket), the
process and host count, and every derived figure computed again. Bad input
is refused."""

import json
import os
import subprocess
import threading

from harness import (Tap, Server, run_client, client_tmpdir, check, check_eq, CLIENT, T)

RUN = ["--transport", "sse,ws", "--subscribers", 4, "--rate", 80, "--warmup", "500ms",
       "--duration", "2s", "--drain", "1s", "--quiet"]
SUMMED = ("published", "published_total", "expected", "delivered", "lost", "duplicates",
          "publish_errors")
HISTS = ("latency_us", "latency_uncorrected_us", "connect_us", "first_message_us")


def merge(args):
    p = subprocess.run([CLIENT, "--merge"] + args, capture_output=True, timeout=T(30))
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def buckets(h):
    return {i: n for i, n in h["buckets"]}


def check_hist(a, b, m, what):
    want = buckets(a)
    for i, n in buckets(b).items():
        want[i] = want.get(i, 0) + n
    check_eq(buckets(m), want, "%s: merged buckets = the two summed" % what)
    check_eq((m["count"], m["sum"]), (a["count"] + b["count"], a["sum"] + b["sum"]),
             "%s: count and sum" % what)
    if a["count"] and b["count"]:
        check_eq((m["min"], m["max"]), (min(a["min"], b["min"]), max(a["max"], b["max"])),
                 "%s: min and max" % what)
        # a mixture's percentile lies between its parts' (to a bucket: 0.4 %)
        for p in ("p50", "p90", "p99"):
            lo, hi = min(a[p], b[p]), max(a[p], b[p])
            check(lo * 0.996 <= m[p] <= hi * 1.004, "%s %s: %s not within [%s, %s]" % (what, p, m[p], lo, hi))


def t_merge_two(tap, srv):
    out = {}

    def one(i):
        out[i] = run_client(["--url", srv.url(""), "--run-tag", "merge%d" % i] + RUN, timeout=30)

    threads = [threading.Thread(target=one, args=(i,)) for i in (1, 2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(T(40))
    for i in (1, 2):
        check(out[i].rc == 0 and out[i].doc, "client %d: %s" % (i, out[i].describe()))
    dest = os.path.join(client_tmpdir(), "merged.json")
    rc, stdout, stderr = merge([out[1].json_path, out[2].json_path, "--json", dest])
    check_eq(rc, 0, "--merge exit status (stderr %r)" % stderr)
    check("sse" in stdout and "ws" in stdout, "the merged table:\n%s" % stdout)
    with open(dest) as f:
        m = json.load(f)
    check_eq((m["merged"]["processes"], m["merged"]["host_count"]), (2, 1), "processes and hosts")
    check_eq(m["config"]["subscribers"], 8, "subscribers of both")
    for t in ("sse", "ws"):
        a, b, r = out[1].run(t), out[2].run(t), next(x for x in m["runs"] if x["transport"] == t)
        for k in SUMMED:
            check_eq(r["delivery"][k], a["delivery"][k] + b["delivery"][k], "%s %s" % (t, k))
        check_eq(r["delivery"]["lost"], 0, "%s lost" % t)
        for h in HISTS:
            check_hist(a[h], b[h], r[h], "%s %s" % (t, h))
        check_eq(r["cost"]["requests"], a["cost"]["requests"] + b["cost"]["requests"], "%s requests" % t)
        check_eq(r["elapsed_s"], max(a["elapsed_s"], b["elapsed_s"]), "%s window: the longer" % t)
        want = r["delivery"]["delivered"] / r["elapsed_s"]
        check(abs(r["throughput"]["delivered_per_s"] - want) < 1e-6 * want,
              "%s delivered_per_s computed again: %r" % (t, r["throughput"]))


def t_merge_refuses(tap):
    d = client_tmpdir()
    bad = os.path.join(d, "bad.json")
    with open(bad, "w") as f:
        f.write('{"schema":"something-else"}')
    rc, _, err = merge([bad, "--json", os.path.join(d, "o.json")])
    check_eq(rc, 1, "a document of another schema: exit status (%r)" % err)
    rc, _, err = merge([os.path.join(d, "missing.json"), "--json", os.path.join(d, "o.json")])
    check_eq(rc, 1, "a missing file: exit status (%r)" % err)
    for args in ([bad], ["--json", os.path.join(d, "o.json")], [bad, "--json"], [bad, "--nope", "--json", "x"]):
        rc, _, err = merge(args)
        check_eq(rc, 2, "usage %r: exit status (%r)" % (args, err))
    check(not os.path.exists(os.path.join(d, "o.json")), "a refused merge wrote its output")


def main():
    tap = Tap(__file__)
    with Server(tap, "--quiet") as srv:
        tap.run("--merge of two client processes: counts summed, histograms bucket by bucket, "
                "percentiles of both workloads, processes and hosts recorded", t_merge_two, tap, srv)
    tap.run("--merge refuses another schema, a missing file, a missing --json (exit 1 / 2)",
            t_merge_refuses, tap)
    tap.done()


if __name__ == "__main__":
    main()
