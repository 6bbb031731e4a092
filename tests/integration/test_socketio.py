"""pushpull-client --dialect socketio against a real socket.io 4.8 server
(peers/socketio, started through its run on an ephemeral loopback port):
Engine.IO long polling and WebSocket deliver every measured message to
every subscriber exactly once; short polling and SSE are not socket.io
transports and say so. Under churn a dropped WebSocket comes back through
connection-state recovery (the old pid and the last offset) without loss;
a dropped long poll recovers only when the server saw the drop (a
connection closed between two polls is noticed only by the heartbeat), so
there every loss must come with a recovery the server refused
(resume_failed), never silently."""

from harness import Tap, Peer, run_client, check, check_eq, check_all_delivered

SUBS = 10
MEASURED = 200       # 100 msg/s, 2 s measured
WORKLOAD = ["--dialect", "socketio", "--subscribers", SUBS, "--rate", 100, "--duration", "2s",
            "--warmup", "1s", "--drain", "2s", "--quiet"]


class S:
    main = churn = None


def t_main(peer):
    S.main = run_client(["--url", peer.url(), "--transport", "all",
                         "--server-pid", ",".join(map(str, peer.pids()))] + WORKLOAD, timeout=60)
    check_eq(S.main.rc, 0, "exit status; " + S.main.describe())
    check_eq(S.main.doc["manifest"]["dialect"], "socketio", "manifest.dialect")


def t_transport(t):
    r = S.main.run(t)
    check_all_delivered(r, t, "socketio", SUBS, MEASURED)
    check_eq(r["delivery"]["resume_failed"], 0, "%s: resume_failed without churn" % t)
    check(r["cost"]["server_cpu_s"] and r["cost"]["server_cpu_s"] > 0,
          "%s: server CPU %r from /proc" % (t, r["cost"]["server_cpu_s"]))
    if t == "ws":
        check_eq(r["cost"]["requests"], 0, "ws: requests in the window (one WebSocket each)")
    else:   # every poll answered, plus the POSTs that answer pings: never fewer
        check(r["cost"]["requests"] > 0, "longpoll: requests %r" % r["cost"]["requests"])


def t_not_offered(t):
    check_eq(S.main.run(t)["status"], "not_offered", "%s: status" % t)


def t_churn(peer):
    S.churn = run_client(["--url", peer.url(), "--transport", "longpoll,ws", "--churn", "500ms"]
                         + WORKLOAD, timeout=60)
    check_eq(S.churn.rc, 0, "exit status; " + S.churn.describe())


def t_churn_ws():
    r = S.churn.run("ws")
    check_all_delivered(r, "ws with churn", "socketio", SUBS, MEASURED)
    check(r["cost"]["reconnects"] >= SUBS, "reconnects %r < subscribers" % r["cost"]["reconnects"])
    check_eq(r["delivery"]["resume_failed"], 0, "resume_failed: every recovery worked")


def t_churn_longpoll():
    r = S.churn.run("longpoll")
    d = r["delivery"]
    check_eq(r["status"], "ok", "status (failure %r)" % r.get("failure"))
    check(r["cost"]["reconnects"] >= SUBS, "reconnects %r < subscribers" % r["cost"]["reconnects"])
    check_eq(d["delivered"] + d["lost"], d["expected"], "delivered + lost = expected")
    check_eq(d["duplicates"], 0, "duplicates")
    check(d["lost"] == 0 or d["resume_failed"] > 0,
          "lost %d with no refused recovery: a loss nobody explains" % d["lost"])


def main():
    tap = Tap(__file__, watchdog_s=150)
    with Peer(tap, "socketio") as peer:
        if tap.run("client --dialect socketio --transport all against socket.io: exit 0",
                   t_main, peer):
            for t in ("longpoll", "ws"):
                tap.run("%s: %d subscribers x %d messages, lost 0, dup 0" % (t, SUBS, MEASURED),
                        t_transport, t)
            for t in ("poll", "sse"):
                tap.run("%s: not offered by socket.io" % t, t_not_offered, t)
        if tap.run("client --dialect socketio --churn 500ms: exit 0", t_churn, peer):
            tap.run("ws with churn: connection-state recovery, lost 0, resume_failed 0", t_churn_ws)
            tap.run("longpoll with churn: every loss comes with a refused recovery",
                    t_churn_longpoll)
    tap.done()


if __name__ == "__main__":
    main()
