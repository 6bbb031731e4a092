"""pushpull-client --merge (issue 16): two client processes ran side by
side, each its own workload (--run-tag); their merged document has the
counts of both, histograms equal bucket by bucket to the two summed (so its
percentiles are those of one run of both workloads, to the bucket), the
process and host count, and every derived figure computed again. Bad input
is refused.

One workload split over processes (scenario key clients = K): a
--no-publish process subscribes to the channels another process publishes
to; the merge is one run of the workload (subscribers added, channels and
rate not), its latency taken on the publisher's clock, and a publish the
server never acknowledged is expected of nobody."""

import json
import os
import subprocess
import threading

from harness import (Tap, Server, run_client, start_client, client_tmpdir, check, check_eq, CLIENT, T)

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


SHARED = ["--transport", "sse", "--channels", 2, "--rate", 100, "--warmup", "500ms",
          "--duration", "2s", "--drain", "1s", "--quiet", "--run-tag", "shared1"]
READY = "waiting for the publisher"


def shared_pair(srv, tag="shared1"):
    """A --no-publish process with 6 subscribers, then the publishing one
    with 4, on the same channels: their two ClientResults."""
    args = [a if a != "shared1" else tag for a in SHARED]
    sub = start_client(["--url", srv.url(""), "--subscribers", 6, "--no-publish"] + args)
    check(sub.wait_stderr(READY, 20), "the --no-publish process never said it was ready")
    pub = run_client(["--url", srv.url(""), "--subscribers", 4] + args, timeout=30)
    return sub.finish(30), pub


def write(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


def t_shared_workload(tap, srv):
    sub, pub = shared_pair(srv)
    for name, r in (("--no-publish", sub), ("publisher", pub)):
        check(r.rc == 0 and r.doc, "%s process: %s" % (name, r.describe()))
    a, b = sub.run("sse"), pub.run("sse")
    check_eq(a["delivery"]["published"], 0, "the --no-publish process published nothing")
    check_eq(a["delivery"]["missing_by_message"], [], "--no-publish: nothing missing")
    check_eq(b["delivery"]["unacknowledged_messages"], [], "publisher: every publish acknowledged")
    measured = b["delivery"]["published"]
    check(measured >= 190, "publisher: %d measured publishes" % measured)
    check_eq(a["delivery"]["expected"], measured * 3, "--no-publish expects every measured message "
             "on each of its 6 subscribers (3 per channel)")
    check_eq(a["delivery"]["delivered"], a["delivery"]["expected"], "--no-publish: all delivered")
    # its latency is on the publisher's clock: the same order as the publisher's own subscribers'
    la, lb = a["latency_us"], b["latency_us"]
    check_eq(la["count"], a["delivery"]["delivered"], "a latency per delivery")
    check(0 < la["p50"] < 100000 and la["max"] < 2000000,
          "--no-publish latency p50 %s max %s µs (publisher's: %s)" % (la["p50"], la["max"], lb["p50"]))
    dest = os.path.join(client_tmpdir(), "merged.json")
    rc, _, err = merge([sub.json_path, pub.json_path, "--json", dest])
    check_eq(rc, 0, "--merge exit status (%r)" % err)
    with open(dest) as f:
        m = json.load(f)
    c, r = m["config"], m["runs"][0]
    check_eq((c["subscribers"], c["channels"], c["rate"]), (10, 2, 100.0),
             "one workload: subscribers added, channels and rate its own")
    check_eq((m["merged"]["shared_workload"], m["merged"]["subscribe_only_processes"]), (True, 1),
             "merged: shared workload, one subscribe-only process")
    check_eq(r["delivery"]["expected"], measured * 5, "expected: every measured message × 5 per channel")
    check_eq((r["delivery"]["delivered"], r["delivery"]["lost"]), (measured * 5, 0), "delivered, lost")
    check_hist(la, lb, r["latency_us"], "latency")

    # A publish the server never acknowledged (made up here: a healthy
    # server acknowledges all): expected of nobody, and the copies that came
    # anyway are delivered_unacknowledged, here 2 of the 3 subscribers.
    k = measured // 2 * 2 + 40        # a measured message on channel 0
    b["delivery"]["unacknowledged_messages"] = [k]
    a["delivery"]["missing_by_message"] = [[k, 1]]
    d = client_tmpdir()
    pub_path = write(os.path.join(d, "pub.json"), pub.doc)
    sub_path = write(os.path.join(d, "sub.json"), sub.doc)
    rc, _, err = merge([sub_path, pub_path, "--json", dest])
    check_eq(rc, 0, "--merge with an unacknowledged publish (%r)" % err)
    with open(dest) as f:
        r = json.load(f)["runs"][0]["delivery"]
    check_eq(r["expected"], measured * 5 - 3, "expected: the unacknowledged message's 3 taken out "
             "(the publisher's own delivered_unacknowledged is its own)")
    check_eq(r["delivered_unacknowledged"], 2, "the 2 copies that came: delivered_unacknowledged")
    check_eq(r["delivered"], measured * 5 - 2, "and no longer delivered")


def t_shared_refuses(tap, srv):
    d = client_tmpdir()
    sub, pub = shared_pair(srv, "shared2")
    check(sub.rc == 0 and pub.rc == 0, "the pair: %s / %s" % (sub.describe(), pub.describe()))
    out = os.path.join(d, "o.json")
    rc, _, err = merge([sub.json_path, "--json", out])
    check_eq(rc, 1, "a --no-publish result alone: exit status (%r)" % err)
    check("exactly one publishing" in err, "says why: %r" % err)
    other = dict(pub.doc, config=dict(pub.doc["config"], run_tag="another"))
    rc, _, err = merge([sub.json_path, write(os.path.join(d, "p.json"), other), "--json", out])
    check_eq(rc, 1, "a publisher of another --run-tag: exit status (%r)" % err)
    check("run_tag" in err, "names the difference: %r" % err)
    check(not os.path.exists(out), "a refused merge wrote its output")
    for args, why in ((["--transport", "sse,ws", "--run-tag", "x"], "one --transport"),
                      (["--transport", "sse"], "--run-tag")):
        r = run_client(["--url", srv.url(""), "--no-publish", "--quiet"] + args, timeout=10, json_file=False)
        check_eq(r.rc, 2, "--no-publish %s: usage error; %s" % (" ".join(args), r.describe()))
        check(why in r.stderr, "says %r: %r" % (why, r.stderr))
    r = run_client(["--url", srv.url(""), "--no-publish", "--publisher-wait", "1s", "--subscribers", 2,
                    "--transport", "ws", "--run-tag", "nobody", "--quiet"], timeout=20)
    check_eq(r.rc, 1, "no publisher within --publisher-wait: exit 1; %s" % r.describe())
    check("--publisher-wait" in r.run("ws")["failure"], "the failure says so: %r" % r.run("ws")["failure"])


def main():
    tap = Tap(__file__)
    with Server(tap, "--quiet") as srv:
        tap.run("--merge of two client processes: counts summed, histograms bucket by bucket, "
                "percentiles of both workloads, processes and hosts recorded", t_merge_two, tap, srv)
    with Server(tap, "--quiet") as srv:
        tap.run("one workload over two processes (--no-publish + publisher): merged as one run, "
                "latency on the publisher's clock, unacknowledged publishes expected of nobody",
                t_shared_workload, tap, srv)
        tap.run("--no-publish: refused merges (no publisher, another run tag), usage errors, "
                "--publisher-wait", t_shared_refuses, tap, srv)
    tap.run("--merge refuses another schema, a missing file, a missing --json (exit 1 / 2)",
            t_merge_refuses, tap)
    tap.done()


if __name__ == "__main__":
    main()
