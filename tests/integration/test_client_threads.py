"""pushpull-client's instrument: --threads N spreads subscribers over N
event loops and merges them exactly (the same counts as one thread, every
delivery in the latency histogram once); the publisher runs on a thread of
its own; each loop's saturation is reported, and a client starved of CPU
(stopped by this test for most of every 25 ms) is flagged as the limit of
its own run."""

import os
import signal
import subprocess
import threading
import time

from harness import Tap, Server, run_client, client_tmpdir, check, check_eq, CLIENT, T

SUBS = 12
WORKLOAD = ["--subscribers", SUBS, "--rate", 100, "--duration", "2s", "--warmup", "500ms",
            "--drain", "2s", "--quiet"]
MEASURED = 200


class S:
    runs = {}


def t_threads(srv, n):
    res = run_client(["--url", srv.url(""), "--transport", "all", "--threads", n] + WORKLOAD,
                     timeout=90)
    check_eq(res.rc, 0, "exit status; " + res.describe())
    check_eq(res.doc["config"]["threads"], n, "config.threads")
    S.runs[n] = res


def t_same_counts(t):
    for n in (1, 3):
        r = S.runs[n].run(t)
        d = r["delivery"]
        what = "%s --threads %d" % (t, n)
        check_eq(d["published"], MEASURED, what + ": published")
        check_eq(d["expected"], MEASURED * SUBS, what + ": expected")
        check_eq((d["delivered"], d["lost"], d["duplicates"]), (MEASURED * SUBS, 0, 0),
                 what + ": delivered, lost, duplicates")
        check_eq(r["latency_us"]["count"], d["delivered"], what + ": one latency per delivery")
        check_eq(r["first_message_us"]["count"], SUBS, what + ": a first message per subscriber")
        check_eq(r["connect_us"]["count"], SUBS, what + ": a connect time per subscriber")
        sat = r["client_saturation"]
        for loop in ("subscribers", "publisher"):
            b = sat[loop]["busy"]
            check(b is not None and 0 <= b < 2, "%s: %s busy %r" % (what, loop, b))
        if t in ("poll", "longpoll"):
            check(r["cost"]["requests"] > 0, what + ": requests counted from every thread")


def t_starved(srv):
    """SIGSTOP the client for 15 ms of every 25 ms: its loops run late."""
    tmp = client_tmpdir()
    out = os.path.join(tmp, "starved.json")
    p = subprocess.Popen([CLIENT, "--url", srv.url(""), "--transport", "sse", "--json", out]
                         + [str(a) for a in WORKLOAD], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    stop = threading.Event()

    def starve():
        while not stop.is_set() and p.poll() is None:
            os.kill(p.pid, signal.SIGSTOP)
            time.sleep(0.015)
            os.kill(p.pid, signal.SIGCONT)
            time.sleep(0.010)

    th = threading.Thread(target=starve, daemon=True)
    th.start()
    try:
        stdout, _ = p.communicate(timeout=T(90))
    finally:
        stop.set()
        th.join()
        if p.poll() is None:
            os.kill(p.pid, signal.SIGCONT)
            p.kill()
    import json
    with open(out) as f:
        r = json.load(f)["runs"][0]
    sat = r["client_saturation"]
    check(sat["client_limited"], "a starved client is not flagged: %r" % sat)
    check(b"may have been the limit" in stdout, "no warning in the table: %r" % stdout[-600:])


def main():
    tap = Tap(__file__, watchdog_s=280)
    with Server(tap) as srv:
        ok = tap.run("--threads 1, all transports: exit 0", t_threads, srv, 1)
        ok &= tap.run("--threads 3, all transports: exit 0", t_threads, srv, 3)
        if ok:
            for t in ("poll", "longpoll", "sse", "ws"):
                tap.run("%s: --threads 3 merges to the counts of one thread (every delivery, "
                        "first message and connect once), saturation reported" % t,
                        t_same_counts, t)
        tap.run("a client stopped for 15 ms of every 25 ms is flagged as the limit", t_starved, srv)
    tap.done()


if __name__ == "__main__":
    main()
