"""pushpull-client --dialect nchan against a real Nchan (nginx +
libnginx-mod-nchan, started through peers/nchan/run on an ephemeral
loopback port): every transport delivers every measured message to every
subscriber exactly once; a dropped connection resumes inside Nchan's buffer
without loss; a loss beyond the buffer (which Nchan never signals) is
counted from the payloads' own sequence numbers, not hidden; the server's
CPU and memory come from /proc (--server-pid)."""

from harness import Tap, Peer, run_client, check, check_eq, check_all_delivered

TRANSPORTS = ("poll", "longpoll", "sse", "ws")
SUBS = 10
MEASURED = 200       # 100 msg/s, 0.5 s warm-up, 2 s measured
WORKLOAD = ["--dialect", "nchan", "--subscribers", SUBS, "--rate", 100, "--duration", "2s",
            "--warmup", "500ms", "--drain", "2s", "--quiet"]


class S:
    main = churn = None


def clean(r, what):
    check_all_delivered(r, what, "nchan", SUBS, MEASURED)


def t_main(peer):
    S.main = run_client(["--url", peer.url(), "--transport", "all",
                         "--server-pid", ",".join(map(str, peer.pids()))] + WORKLOAD, timeout=90)
    check_eq(S.main.rc, 0, "exit status; " + S.main.describe())
    check_eq(S.main.doc["manifest"]["dialect"], "nchan", "manifest.dialect")


def t_transport(t):
    r = S.main.run(t)
    clean(r, t)
    c = r["cost"]
    check_eq(c["server_cpu_source"], "proc", "%s: server_cpu_source" % t)
    check(c["server_cpu_s"] is not None and c["server_cpu_s"] > 0,
          "%s: server CPU %r from /proc" % (t, c["server_cpu_s"]))
    check(c["server_rss_bytes"] and c["server_rss_base_bytes"],
          "%s: server RSS from /proc: %r" % (t, c))
    if t in ("sse", "ws"):
        check_eq(c["requests"], 0, "%s: requests in the window (one stream each)" % t)
    else:
        check(c["requests"] > 0, "%s: requests %r" % (t, c["requests"]))


def t_churn(peer):
    S.churn = run_client(["--url", peer.url(), "--transport", "all", "--churn", "500ms"]
                         + WORKLOAD, timeout=90)
    check_eq(S.churn.rc, 0, "exit status; " + S.churn.describe())


def t_churn_transport(t):
    r = S.churn.run(t)
    clean(r, t + " with churn")
    check(r["cost"]["reconnects"] >= SUBS, "%s: reconnects %r < subscribers"
          % (t, r["cost"]["reconnects"]))


def t_beyond_buffer(peer):
    # Nchan keeps 10 messages here; short polls every 500 ms at 100 msg/s
    # find ~50 new each time and get the newest 10: Nchan serves the oldest
    # buffered message to a cursor that fell out, and says nothing.
    res = run_client(["--url", peer.url(), "--transport", "poll", "--poll-interval", "500ms"]
                     + WORKLOAD, timeout=60)
    check(res.rc in (0, 1), "exit status; " + res.describe())
    r = res.run("poll")
    d = r["delivery"]
    check_eq(r["status"], "ok", "status (failure %r)" % r.get("failure"))
    check(d["lost"] > d["expected"] // 4, "lost %d of %d: loss beyond the buffer hidden?"
          % (d["lost"], d["expected"]))
    check_eq(d["delivered"] + d["lost"], d["expected"], "delivered + lost = expected")
    check_eq(d["gap_lost"], 0, "gap_lost (Nchan reports no gap)")
    check_eq(d["duplicates"], 0, "duplicates")


def t_not_offered_flag():
    res = run_client(["--url", "http://127.0.0.1:1", "--dialect", "nosuch"], timeout=10,
                     json_file=False)
    check_eq(res.rc, 2, "unknown dialect: exit 2; " + res.describe())
    check("pushpull|nchan" in res.stderr, "the error names the dialects: %r" % res.stderr)


def main():
    tap = Tap(__file__, watchdog_s=280)
    tap.run("--dialect nosuch: usage error naming the dialects", t_not_offered_flag)
    with Peer(tap, "nchan") as peer:
        if tap.run("client --dialect nchan --transport all against Nchan: exit 0", t_main, peer):
            for t in TRANSPORTS:
                tap.run("%s: %d subscribers x %d messages, lost 0, dup 0, CPU and RSS from /proc"
                        % (t, SUBS, MEASURED), t_transport, t)
        if tap.run("client --dialect nchan --churn 500ms: exit 0", t_churn, peer):
            for t in TRANSPORTS:
                tap.run("%s with churn: resumes inside the buffer, lost 0, dup 0" % t,
                        t_churn_transport, t)
    with Peer(tap, "nchan", env={"NCHAN_BUFFER_LENGTH": "10"}) as peer:
        tap.run("buffer 10, polls every 500 ms at 100 msg/s: loss counted from payloads, "
                "delivered + lost = expected", t_beyond_buffer, peer)
    tap.done()


if __name__ == "__main__":
    main()
