"""A client killed with SIGKILL leaves nothing behind in the server.

Four real pushpull-client processes (one per transport, SUBS subscribers
each, publishing at RATE msg/s) run against one server; once every
subscriber is connected they are all killed with SIGKILL, mid-run, so no
close frame, no FIN-after-drain, no goodbye of any kind is sent by them
(the kernel closes their sockets). Then, within the periods the server
itself enforces, its open fds (/proc/PID/fd) and /stats connections must be
back to where they were before the clients came:

- poll and WebSocket: the server reads EOF at once;
- SSE: a stream with nothing to send is suspended, so MHD does not read
  it; the server watches the socket itself and ends the stream on EOF or
  reset. The heartbeat is 30 s here and nothing is published after the
  kill, so only that watch can free idle streams within the bound
  (counted in /stats as sse.client_left);
- long poll: a waiting request is suspended too, and watched the same way.
  The clients ask for 30 s waits, so only that watch can free them within
  the bound (longpoll.client_left).

A second round does the same while another subscriber of each transport
(not killed) keeps receiving: the kill must not cost it a message.
Loopback only; bounded in time."""

import os
import signal
import subprocess
import time

from harness import (Tap, Server, CLIENT, HOST, Publisher, CurlStream, WsClient,
                     check, check_eq, wait_until, poll_json, T, WRAP, _spawn, client_tmpdir)

SUBS = 50
RATE = 20
HEARTBEAT_S = 30
BOUND_S = 6          # far below the heartbeat and the long polls' timeout
LONGPOLL_TIMEOUT_S = 30
TRANSPORTS = ("poll", "longpoll", "sse", "ws")


def open_fds(srv):
    return len(os.listdir("/proc/%d/fd" % srv.proc.pid))


def start_clients(srv):
    """One client process per transport, long enough not to end by itself.
    They publish to the same default channel; what a subscriber makes of
    the other processes' messages does not matter here."""
    tmp = client_tmpdir()
    procs = []
    for t in TRANSPORTS:
        args = [CLIENT, "--url", "http://%s:%d" % (HOST, srv.port), "--transport", t,
                "--subscribers", SUBS, "--channels", 1, "--rate", RATE,
                "--duration", "120s", "--warmup", "0s", "--quiet",
                "--poll-interval", "50ms", "--longpoll-timeout", "%ds" % LONGPOLL_TIMEOUT_S,
                "--connect-timeout", "%ds" % T(10)]
        args = [str(a) for a in args]
        log = open(os.path.join(tmp, "client-%s.log" % t), "wb")
        procs.append((t, _spawn(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log), log))
    return procs


def connected(srv):
    c = srv.stats()["connections"]
    # poll subscribers hold keep-alive connections (counted in http), long
    # polls are suspended requests, SSE and WS are streams.
    return (c["sse"] >= SUBS and c["ws"] >= SUBS and c["longpoll"] >= SUBS // 2
            and c["http"] >= SUBS)


def kill_clients(procs):
    for t, p, log in procs:
        check(p.poll() is None, "the %s client ended before it was killed (status %s)"
              % (t, p.returncode))
    for t, p, log in procs:
        p.send_signal(signal.SIGKILL)
    for t, p, log in procs:
        p.wait(timeout=10)
        log.close()
        check_eq(p.returncode, -signal.SIGKILL, "%s client status" % t)


def back_to_base(srv, base, what, bound_s, base_conns=None):
    """fds and /stats connections back to base within bound_s; returns the
    seconds it took. base_conns: the connections that were there before
    (default: none but this /stats request's own)."""
    t0 = time.monotonic()

    def show():
        return "%d fds (base %d), /stats connections %r" % (
            open_fds(srv), base, srv.stats()["connections"])
    wait_until(lambda: open_fds(srv) <= base, bound_s, interval=0.1,
               what="%s: the server's open fds back to %d" % (what, base), show=show)
    took = time.monotonic() - t0
    conns = srv.stats()["connections"]
    want = base_conns or {"http": 1, "longpoll": 0, "sse": 0, "ws": 0}
    # http counts every TCP connection, this /stats request's own included
    check(conns["http"] <= want["http"] and
          all(v == want.get(k, 0) for k, v in conns.items() if k != "http"),
          "%s: /stats connections %r, not back to %r" % (what, conns, want))
    return took


def t_kill(tap, srv, base):
    procs = start_clients(srv)
    try:
        wait_until(lambda: connected(srv), T(20), interval=0.2,
                   what="every subscriber of the four clients connected",
                   show=lambda: repr(srv.stats()["connections"]))
        time.sleep(1.0)      # let messages flow, queues fill, long polls cycle
        st = srv.stats()
        tap.diag("before the kill: connections %r, %d fds (base %d), deliveries %r"
                 % (st["connections"], open_fds(srv), base, st["deliveries"]))
        check(sum(st["deliveries"].values()) > 0, "nothing was delivered before the kill")
        lp0, sse0 = st["longpoll"], st["sse"]
        kill_clients(procs)
    finally:
        for t, p, log in procs:
            if p.poll() is None:
                p.kill()
    # Neither an SSE heartbeat nor a long poll's timeout may be what frees
    # them. A margin for a loaded machine.
    bound = T(BOUND_S)
    took = back_to_base(srv, base, "after SIGKILL of %d subscribers" % (SUBS * len(TRANSPORTS)),
                        bound)
    tap.diag("back to base %.1f s after the kill (bound %.0f s)" % (took, bound))
    # How many long polls were waiting at the instant of the kill depends on
    # timing (valgrind); what must hold: none ended at its 30 s timeout,
    # everything was freed well before it, and the socket watch did it.
    lp = srv.stats()["longpoll"]
    check(took < LONGPOLL_TIMEOUT_S - 5, "back to base after %.1f s: long polls were not freed "
          "before their %d s timeout" % (took, LONGPOLL_TIMEOUT_S))
    check_eq(lp["timed_out"] - lp0["timed_out"], 0, "long polls ended by their timeout")
    check(lp["client_left"] - lp0["client_left"] >= 1,
          "longpoll.client_left did not rise: %r then %r" % (lp0, lp))
    sse = srv.stats()["sse"]
    check(sse["client_left"] - sse0["client_left"] >= 1,
          "sse.client_left did not rise: %r then %r" % (sse0, sse))


def t_kill_with_observers(tap, srv, base):
    """Observers on their own channel stay connected through the kill and
    get every message published around it, in order."""
    pub = Publisher(srv.port)
    sse = CurlStream(srv.url("/sse/observed"))
    ws = WsClient("ws://%s:%d/ws/observed" % (HOST, srv.port))
    try:
        sse.wait(lambda s: s.status is not None, T(10), "SSE observer connected")
        wait_until(lambda: srv.stats()["connections"]["ws"] >= 1 and
                   srv.stats()["connections"]["sse"] >= 1, T(10), what="observers connected")
        obs_base = open_fds(srv)
        obs_conns = srv.stats()["connections"]
        ids = [pub.pub("observed", "before-%d" % i) for i in range(20)]
        procs = start_clients(srv)
        try:
            wait_until(lambda: connected(srv), T(20), interval=0.2,
                       what="every subscriber of the four clients connected")
            ids += [pub.pub("observed", "during-%d" % i) for i in range(20)]
            kill_clients(procs)
        finally:
            for t, p, log in procs:
                if p.poll() is None:
                    p.kill()
        ids += [pub.pub("observed", "after-%d" % i) for i in range(20)]
        want = list(range(ids[0], ids[-1] + 1))
        check_eq(ids, want, "published ids")
        sse.wait(lambda s: len(s.messages()) >= len(want), T(10), "SSE observer got all 60")
        check_eq([m["id"] for m in sse.messages()], want, "SSE observer ids")
        def ws_ids(ms):   # messages only: other frames (markers) have no id
            return [m["id"] for m in ms if isinstance(m, dict) and "id" in m]
        ws.wait(lambda ms: len(ws_ids(ms)) >= len(want), 10, "WS observer got all 60")
        check_eq(ws_ids(ws.msgs), want, "WS observer ids")
        r = poll_json(srv, "observed", "?since=%d" % (ids[0] - 1))
        check_eq([m["id"] for m in r["messages"]], want, "poll of the observed channel")
        bound = T(BOUND_S)
        # + 1 fd: the publisher's keep-alive connection, opened after obs_base
        obs_conns["http"] += 1
        took = back_to_base(srv, obs_base + 1, "after SIGKILL beside observers", bound, obs_conns)
        tap.diag("with observers: back to base (+1 publisher) %.1f s after the kill" % took)
    finally:
        sse.close()
        ws.shutdown()
        pub.close()


def main():
    tap = Tap(__file__, watchdog_s=int(T(150)))
    with Server(tap, "--heartbeat", "%ds" % HEARTBEAT_S) as srv:
        wait_until(lambda: srv.stats()["connections"]["http"] <= 1, T(10),
                   what="only the /stats connection")
        base = open_fds(srv)
        tap.diag("server fds at start: %d" % base)
        tap.run("SIGKILL of 4 clients x %d subscribers: server fds and /stats connections "
                "back to base within a heartbeat (long polls: the client leaving is noticed)" % SUBS,
                t_kill, tap, srv, base)
        tap.run("SIGKILL beside live observers: they miss nothing, the rest is freed",
                t_kill_with_observers, tap, srv, base)
    tap.done()


if __name__ == "__main__":
    main()
