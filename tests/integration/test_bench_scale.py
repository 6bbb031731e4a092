"""scripts/bench-scale.py for real, small: 150 SSE + 150 WebSocket
subscribers, 2 s measured, into a temporary folder. Checks what the script
promises rather than any speed: exit 0, one line per figure on stdout,
scale.json with every subscriber connected, lost 0 on both transports,
delivered = expected, a positive RSS per idle subscriber taken before any
message was published, and a connect rate. Then its refusals: a count the
fd limit cannot hold with --no-fit, and bad flags, exit 2 with a message.
Everything on 127.0.0.1, bounded."""

import json
import os
import resource
import shutil
import subprocess
import tempfile

from harness import Tap, check, check_eq, T

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "scripts", "bench-scale.py")


def run(args, timeout):
    p = subprocess.run(["/usr/bin/python3", SCRIPT] + args, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=T(timeout))
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def t_small_run(tap, out):
    rc, so, se = run(["--sse", "150", "--ws", "150", "--channels", "6", "--rate", "60",
                      "--duration", "2", "--warmup", "1", "--idle-hold", "2", "--out", out], 90)
    check_eq(rc, 0, "exit status (stdout %r stderr %r)" % (so[-600:], se[-600:]))
    for want in ("all connected after", "RSS per idle subscriber", "SSE    150 subs",
                 "WS     150 subs", "lost 0"):
        check(want in so, "stdout lacks %r:\n%s" % (want, so))
    with open(os.path.join(out, "scale.json")) as f:
        r = json.load(f)
    check_eq(r["ran"], {"sse": 150, "ws": 150}, "subscribers run")
    check_eq(r["failed"], [], "failures")
    check(r["all_connected_s"] and r["all_connected_s"] > 0, "all_connected_s %r" % r["all_connected_s"])
    check(r["connect_rate_per_s"] > 0, "connect rate %r" % r["connect_rate_per_s"])
    # the idle sample comes before the publishers start (--idle-hold)
    check_eq(r["published_before_idle_sample"], 0, "messages published before the idle RSS sample")
    per = r["rss_per_idle_subscriber_bytes"]
    check(1024 < per < 256 * 1024, "RSS per idle subscriber %r bytes is implausible" % per)
    for t in ("sse", "ws"):
        x = r["transports"][t]
        check_eq(x["status"], "ok", "%s status" % t)
        check_eq(x["lost"], 0, "%s lost" % t)
        check(x["expected"] > 0 and x["delivered"] == x["expected"],
              "%s delivered %r of %r" % (t, x["delivered"], x["expected"]))
        check(0 < x["p50_us"] <= x["p99_us"] <= x["max_us"], "%s latency %r" % (t, x))
        check(os.path.exists(os.path.join(out, "client-%s.json" % t)), "client-%s.json kept" % t)
    tap.diag("small scale run: %.1f KiB per idle subscriber, %.0f connections/s"
             % (per / 1024, r["connect_rate_per_s"]))


def t_refusals():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    rc, so, se = run(["--sse", str(10 * max(hard, 65536)), "--ws", "0", "--no-fit"], 30)
    check_eq(rc, 2, "--no-fit above the fd limit: status (stderr %r)" % se)
    check("fd limit" in se, "no fd-limit message: %r" % se)
    for bad in (["--sse", "0", "--ws", "0"], ["--channels", "1"], ["--rate", "0"], ["--sse", "x"]):
        rc, so, se = run(bad, 30)
        check_eq(rc, 2, "%r: status" % bad)
        check(se.strip() != "", "%r: no message on stderr" % bad)


def main():
    tap = Tap(__file__)
    tmp = tempfile.mkdtemp(prefix="ppscale-")
    try:
        tap.run("bench-scale.py, 150 SSE + 150 WS: all connected, lost 0, idle RSS before publishing, "
                "scale.json complete", t_small_run, tap, os.path.join(tmp, "out"))
        tap.run("bench-scale.py refuses a count above the fd limit with --no-fit, and bad flags, "
                "with exit 2", t_refusals)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    tap.done()


if __name__ == "__main__":
    main()
