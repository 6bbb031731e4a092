"""pushpull-client --dialect socketio against a real socket.io 4.8 server
(peers/socketio, started through its run on an ephemeral loopback port):
Engine.IO long polling and WebSocket deliver every measured message to
every subscriber exactly once; short polling and SSE are not socket.io
transports and say so. Under churn a dropped WebSocket comes back through
connection-state recovery (the old pid and the last offset) without loss;
a dropped long poll recovers only when the server saw the drop (a
connection closed between two polls is noticed only by the heartbeat), so
there every loss must come with a recovery the server refused
(resume_failed), never silently. With --socketio-upgrade every WebSocket
begins as a polling handshake and upgrades (2probe, 3probe, 5), with and
without churn: the same deliveries and recoveries, one request more per
connection."""

import threading

from harness import Tap, Peer, run_client, check, check_eq, check_all_delivered

SUBS = 10
MEASURED = 200       # 100 msg/s, 2 s measured
WORKLOAD = ["--dialect", "socketio", "--subscribers", SUBS, "--rate", 100, "--duration", "2s",
            "--warmup", "1s", "--drain", "2s", "--quiet"]


class S:
    main = churn = upgrade = upgrade_churn = None


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


def t_upgrade(peer):
    """Both upgrade runs at once, to keep the time down: their channels are
    apart (each process has its own run tag)."""
    runs = {}

    def one(name, extra):
        runs[name] = run_client(["--url", peer.url(), "--transport", "ws", "--socketio-upgrade"]
                                + extra + WORKLOAD, timeout=60)
    threads = [threading.Thread(target=one, args=a)
               for a in (("steady", []), ("churn", ["--churn", "500ms"]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    S.upgrade, S.upgrade_churn = runs["steady"], runs["churn"]
    for r in (S.upgrade, S.upgrade_churn):
        check_eq(r.rc, 0, "exit status; " + r.describe())
        check_eq(r.doc["config"]["socketio_upgrade"], True, "config.socketio_upgrade")


def t_upgrade_ws():
    r = S.upgrade.run("ws")
    check_all_delivered(r, "ws upgraded", "socketio", SUBS, MEASURED)
    c = r["cost"]
    check_eq((c["transport_errors"], r["delivery"]["resume_failed"]), (0, 0),
             "transport_errors, resume_failed")
    check_eq(r["connect_us"]["count"], SUBS, "connect_us samples: every subscriber connected")
    # The handshakes are made before the window opens, like a direct WebSocket's.
    check_eq(c["requests"], 0, "ws upgraded: requests in the window")


def t_upgrade_churn():
    r = S.upgrade_churn.run("ws")
    check_all_delivered(r, "ws upgraded with churn", "socketio", SUBS, MEASURED)
    c = r["cost"]
    check(c["reconnects"] >= SUBS, "reconnects %r < subscribers" % c["reconnects"])
    check_eq(r["delivery"]["resume_failed"], 0, "resume_failed: every recovery worked")
    # Each connection in the window costs a handshake GET and a WebSocket: two
    # requests where a direct WebSocket costs one. reconnects count the whole
    # run (the warm-up's too), requests the window only: more requests than
    # reconnects takes two per connection.
    check(c["requests"] > c["reconnects"], "requests %d <= reconnects %d: no handshake GETs?"
          % (c["requests"], c["reconnects"]))
    if S.churn and S.churn.rc == 0:
        direct = S.churn.run("ws")["cost"]
        per = lambda x: x["requests"] / max(x["reconnects"], 1)  # noqa: E731
        check(per(c) >= 1.5 * per(direct),
              "requests per reconnect %.2f upgraded vs %.2f direct: want about twice"
              % (per(c), per(direct)))


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
        if tap.run("client --transport ws --socketio-upgrade, steady and --churn 500ms: exit 0",
                   t_upgrade, peer):
            tap.run("ws upgraded from polling: lost 0, dup 0, every subscriber connected",
                    t_upgrade_ws)
            tap.run("ws upgraded with churn: recovery, lost 0, two requests per connection",
                    t_upgrade_churn)
    tap.done()


if __name__ == "__main__":
    main()
