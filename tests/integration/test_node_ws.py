"""peers/node-ws (express + ws speaking pushpull's own protocol, started
through its run on an ephemeral loopback port) measured by the unchanged
pushpull dialect: every transport delivers every measured message to every
subscriber exactly once, and a dropped connection resumes from its cursor
(the peer's history) without loss. The server's CPU and memory come from
/proc (--server-pid: the node process)."""

from harness import Tap, Peer, run_client, check, check_eq, check_all_delivered

TRANSPORTS = ("poll", "longpoll", "sse", "ws")
SUBS = 10
MEASURED = 200       # 100 msg/s, 2 s measured
WORKLOAD = ["--dialect", "pushpull", "--subscribers", SUBS, "--rate", 100, "--duration", "2s",
            "--warmup", "1s", "--drain", "2s", "--quiet"]


class S:
    main = churn = None


def t_main(peer):
    S.main = run_client(["--url", peer.url(), "--transport", "all", "--warmup", "500ms",
                         "--server-pid", ",".join(map(str, peer.pids()))] + WORKLOAD, timeout=60)
    check_eq(S.main.rc, 0, "exit status; " + S.main.describe())


def t_transport(t):
    r = S.main.run(t)
    check_all_delivered(r, t, "pushpull", SUBS, MEASURED)
    c = r["cost"]
    check_eq(c["server_cpu_source"], "proc", "%s: server_cpu_source" % t)
    check(c["server_cpu_s"] is not None and c["server_cpu_s"] > 0,
          "%s: server CPU %r from /proc" % (t, c["server_cpu_s"]))


def t_churn(peer):
    S.churn = run_client(["--url", peer.url(), "--transport", "all", "--churn", "500ms"]
                         + WORKLOAD, timeout=60)
    check_eq(S.churn.rc, 0, "exit status; " + S.churn.describe())


def t_churn_transport(t):
    r = S.churn.run(t)
    check_all_delivered(r, t + " with churn", "pushpull", SUBS, MEASURED)
    check(r["cost"]["reconnects"] >= SUBS, "%s: reconnects %r < subscribers"
          % (t, r["cost"]["reconnects"]))


def main():
    tap = Tap(__file__, watchdog_s=150)
    with Peer(tap, "node-ws") as peer:
        if tap.run("client --dialect pushpull --transport all against node-ws: exit 0",
                   t_main, peer):
            for t in TRANSPORTS:
                tap.run("%s: %d subscribers x %d messages, lost 0, dup 0, server CPU from /proc"
                        % (t, SUBS, MEASURED), t_transport, t)
        if tap.run("client --churn 500ms against node-ws: exit 0", t_churn, peer):
            for t in TRANSPORTS:
                tap.run("%s with churn: resumes from its cursor, lost 0, dup 0" % t,
                        t_churn_transport, t)
    tap.done()


if __name__ == "__main__":
    main()
