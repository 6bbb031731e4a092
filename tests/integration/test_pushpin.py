"""pushpull-client --dialect pushpin against a real Pushpin 1.36 (Debian)
in front of peers/pushpin's GRIP origin, started through its run on an
ephemeral loopback port: long polling (held responses), SSE (a held
stream) and WebSocket (WebSocket-over-HTTP) deliver every measured
message to every subscriber exactly once with message_rate=0; short
polling is not offered. Under churn long polls resume from their cursor
(the origin answers from its history) without loss; streams and
WebSockets have nothing to resume from (Pushpin keeps no history), so
whatever they miss is counted as lost, never hidden."""

from harness import Tap, Peer, run_client, check, check_eq, check_all_delivered

SUBS = 10
MEASURED = 200       # 100 msg/s, 2 s measured
# A message published while Pushpin is still registering a long poll's
# hold reaches it only at the next publish (whose prev-id shows Pushpin the
# miss: it asks the origin again) or at the hold's timeout. Mid-run the
# next publish comes 10 ms later; after the last one only the timeout is
# left, so the drain outlasts it (holds of 5 s, Pushpin's shortest): the
# end of the run is not counted lost for a message Pushpin delivers late.
WORKLOAD = ["--dialect", "pushpin", "--subscribers", SUBS, "--rate", 100, "--duration", "2s",
            "--warmup", "1s", "--drain", "7s", "--longpoll-timeout", "5s", "--quiet"]


class S:
    main = churn = None


def t_main(peer):
    S.main = run_client(["--url", peer.url(), "--transport", "all",
                         "--server-pid", ",".join(map(str, peer.pids()))] + WORKLOAD, timeout=60)
    check_eq(S.main.rc, 0, "exit status; " + S.main.describe())


def t_transport(t):
    r = S.main.run(t)
    check_all_delivered(r, t, "pushpin", SUBS, MEASURED)
    check(r["cost"]["server_cpu_s"] and r["cost"]["server_cpu_s"] > 0,
          "%s: server CPU %r from /proc (Pushpin, condure, zurl, origin)"
          % (t, r["cost"]["server_cpu_s"]))


def t_not_offered():
    check_eq(S.main.run("poll")["status"], "not_offered", "poll: status")


def t_churn(peer):
    S.churn = run_client(["--url", peer.url(), "--transport", "longpoll,sse,ws",
                          "--churn", "500ms"] + WORKLOAD, timeout=60)
    check_eq(S.churn.rc, 0, "exit status; " + S.churn.describe())


def t_churn_longpoll():
    r = S.churn.run("longpoll")
    check_all_delivered(r, "longpoll with churn", "pushpin", SUBS, MEASURED)
    check(r["cost"]["reconnects"] >= SUBS, "reconnects %r < subscribers" % r["cost"]["reconnects"])


def t_churn_stream(t):
    r = S.churn.run(t)
    d = r["delivery"]
    check_eq(r["status"], "ok", "%s: status (failure %r)" % (t, r.get("failure")))
    check(r["cost"]["reconnects"] >= SUBS, "%s: reconnects %r < subscribers"
          % (t, r["cost"]["reconnects"]))
    check_eq(d["delivered"] + d["lost"], d["expected"], "%s: delivered + lost = expected" % t)
    check_eq((d["duplicates"], r["cost"]["protocol_errors"]), (0, 0),
             "%s: duplicates, protocol_errors" % t)


def main():
    tap = Tap(__file__, watchdog_s=150)
    with Peer(tap, "pushpin") as peer:
        if tap.run("client --dialect pushpin --transport all against Pushpin: exit 0",
                   t_main, peer):
            for t in ("longpoll", "sse", "ws"):
                tap.run("%s: %d subscribers x %d messages, lost 0, dup 0" % (t, SUBS, MEASURED),
                        t_transport, t)
            tap.run("poll: not offered by Pushpin", t_not_offered)
        if tap.run("client --dialect pushpin --churn 500ms: exit 0", t_churn, peer):
            tap.run("longpoll with churn: resumes from its cursor, lost 0", t_churn_longpoll)
            for t in ("sse", "ws"):
                tap.run("%s with churn: no resume; what it missed is counted as lost" % t,
                        t_churn_stream, t)
    tap.done()


if __name__ == "__main__":
    main()
