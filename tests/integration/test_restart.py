"""Server restarts (issue 6, "Faults"). History is in memory, so ids start
over with every start; the server names each start with an epoch
(Pushpull-Epoch header, "epoch" in bodies, a hello frame or event first on
every stream) and treats a cursor of another start as stale: a reset marker,
then everything retained from id 1 (PROTOCOL.md, "Server restarts").

(a) The protocol, over curl, raw sockets and python3-websockets.
(b) The real client with all four transports while the server is SIGKILLed,
    and in a second case SIGTERMed, and started again on the same port: it
    reports the restart, starts its cursors over, counts what the old start
    accepted but never delivered as lost and the publishes refused during
    the outage as publish errors, and keeps delivering. A run without a
    restart reports none (the negative control)."""

import json
import re
import signal
import threading
import time

from harness import (Tap, Server, CurlStream, Publisher, RawWS, WsClient, curl, check, check_eq,
                     check_error, check_sequence, now_us, poll_json, run_client, wait_until, T, diag)

HIST = 5
TRANSPORTS = ("poll", "longpoll", "sse", "ws")
SUBS = 3
RATE = 50
# 1 s warm-up, 8 s measured, 2 s drain at most; the kill comes at KILL_AT s
# (inside the measure window), the new start OUTAGE s after the old one ended.
RUN = ["--subscribers", SUBS, "--rate", RATE, "--warmup", "1s", "--duration", "8s", "--drain", "2s",
       "--quiet"]
KILL_AT = 3.0
OUTAGE = 0.5


def epoch_of(srv):
    return srv.stats()["epoch"]


# ------------------------------------------------------------ (a) protocol

def t_epoch_everywhere(srv):
    e = epoch_of(srv)
    check(isinstance(e, int) and abs(e - now_us()) < 600_000_000,
          "epoch %r is not this start's time in µs (now %d)" % (e, now_us()))
    seen = {}
    r = curl(srv.url("/pub/ep"), data=b"one")
    check_eq(r.json(), {"id": 1, "epoch": e}, "/pub answer")
    seen["/pub"] = r.header("pushpull-epoch")
    r = curl(srv.url("/poll/ep?since=0"))
    check_eq((r.json()["epoch"], r.json()["last_id"]), (e, 1), "/poll epoch and last_id")
    seen["/poll"] = r.header("pushpull-epoch")
    r = curl(srv.url("/longpoll/ep?since=0&timeout=5"))
    check_eq(r.json()["epoch"], e, "/longpoll body epoch")
    seen["/longpoll"] = r.header("pushpull-epoch")
    for path in ("/stats", "/metrics", "/healthz", "/poll/ep?since=x", "/nope"):
        seen[path] = curl(srv.url(path)).header("pushpull-epoch")
    s = CurlStream(srv.url("/sse/ep"), max_time=30)
    try:
        s.wait(lambda x: len(x.lines) >= 1, T(10), "the SSE headers")
        seen["/sse"] = s.header("pushpull-epoch")
    finally:
        s.close()
    ws = RawWS(srv.port, "/ws/ep")
    try:
        seen["ws 101"] = ws.resp.header("pushpull-epoch")
    finally:
        ws.close()
    bad = {k: v for k, v in seen.items() if v != str(e)}
    check(not bad, "Pushpull-Epoch differs from /stats' %d on %r" % (e, bad))
    r = curl(srv.url("/metrics"))
    m = re.search(r"^pushpull_start_time_seconds (\S+)$", r.body.decode(), re.M)
    check(m and abs(float(m.group(1)) - e / 1e6) < 1e-3, "/metrics start_time_seconds: %r" % m)


def t_poll_reset(srv):
    pub = Publisher(srv.port)
    for i in range(1, 9):
        pub.pub("pr", "p%d" % i)           # --history 5: ids 4..8 retained
    pub.close()
    e = epoch_of(srv)
    want = {i: "p%d" % i for i in range(1, 9)}
    j = poll_json(srv, "pr", "?since=6&epoch=%d" % e)
    check("reset" not in j, "a cursor of this start is not reset: %r" % j)
    check_sequence(j["messages"], [7, 8], want, "since=6, this epoch")
    j = poll_json(srv, "pr", "?since=6")
    check("reset" not in j, "no epoch, cursor within the channel: not reset: %r" % j)
    j = poll_json(srv, "pr", "?epoch=%d" % (e - 1))
    check("reset" not in j and j["messages"] == [], "no cursor, nothing to reset: %r" % j)
    for q in ("?since=6&epoch=%d" % (e - 1), "?since=9", "?since=5000&epoch=%d" % e):
        j = poll_json(srv, "pr", q)
        check(j.get("reset") is True, "%s: no reset marker in %r" % (q, j))
        check_eq((j["epoch"], j["last_id"], j.get("gap"), j.get("lost")), (e, 8, True, 3),
                 "%s: epoch, last_id and the gap of history (ids 1..3 evicted)" % q)
        check_sequence(j["messages"], range(4, 9), want, "%s: from the start of the history" % q)
    j = poll_json(srv, "pr", "?since=9&limit=2")
    check(j.get("reset") is True, "limit: %r" % j)
    check_sequence(j["messages"], [4, 5], want, "a reset answer honours limit")


def t_longpoll_reset(srv):
    e = epoch_of(srv)
    for q, want_ids in (("?since=3&epoch=%d" % (e + 1), []), ("?since=4", [])):
        r = curl(srv.url("/longpoll/lpr%s&timeout=20" % q), timeout=30)
        check(r.elapsed < T(5), "a stale cursor waited %.1fs instead of hearing of its reset" % r.elapsed)
        j = r.json()
        check(j.get("reset") is True and j["epoch"] == e, "%s: %r" % (q, j))
        check_eq([m["id"] for m in j["messages"]], want_ids, "%s: messages of an empty channel" % q)
    srv.publish("lpr", "x")
    j = curl(srv.url("/longpoll/lpr?since=7&timeout=20"), timeout=30).json()
    check(j.get("reset") is True and [m["id"] for m in j["messages"]] == [1], "since=7: %r" % j)
    # a cursor of this start still waits
    t0 = time.monotonic()
    j = curl(srv.url("/longpoll/lpr?since=1&epoch=%d&timeout=1" % e), timeout=30).json()
    check("reset" not in j and j["messages"] == [] and time.monotonic() - t0 > 0.8,
          "since=last, this epoch: want an empty answer after the 1 s timeout, got %r" % j)


def sse_events(srv, path, headers=(), n=1):
    s = CurlStream(srv.url(path), headers=headers, max_time=30)
    try:
        s.wait(lambda x: len(x.messages()) >= n, T(10), "%d SSE messages" % n)
        time.sleep(0.1)
        return [e for e in s.events() if "comment" not in e and "retry" not in e]
    finally:
        s.close()


def t_sse_hello_reset(srv):
    e = epoch_of(srv)
    for i in range(1, 4):
        srv.publish("sr", "s%d" % i)
    want = {i: "s%d" % i for i in range(1, 4)}
    evs = sse_events(srv, "/sse/sr?since=1", n=2)
    check_eq(evs[0].get("event"), "hello", "first event")
    check_eq(json.loads(evs[0]["data"]), {"hello": True, "epoch": e, "last_id": 3}, "hello data")
    check("id" not in evs[0], "the hello has an id: %r" % evs[0])
    check_sequence([json.loads(x["data"]) for x in evs[1:]], [2, 3], want, "since=1: no reset")
    for path, hdr, since in (("/sse/sr", ("Last-Event-ID: 5000",), 5000),
                             ("/sse/sr?epoch=%d" % (e - 7), ("Last-Event-ID: 2",), 2),
                             ("/sse/sr?since=3&epoch=1", (), 3)):
        evs = sse_events(srv, path, hdr, n=3)
        check_eq([x.get("event") for x in evs[:2]], ["hello", "reset"], "%s %s: first events" % (path, hdr))
        check_eq(json.loads(evs[1]["data"]), {"reset": True, "epoch": e, "since": since, "last_id": 3},
                 "reset data")
        check_eq(evs[1].get("id"), "0", "the reset sets EventSource's last id to 0")
        check_sequence([json.loads(x["data"]) for x in evs[2:]], [1, 2, 3], want, "%s: from id 1" % path)


def t_ws_hello_reset(srv):
    e = epoch_of(srv)
    for i in range(1, 4):
        srv.publish("wr", "w%d" % i)
    want = {i: "w%d" % i for i in range(1, 4)}
    ws = RawWS(srv.port, "/ws/wr?since=3", hello=False)
    try:
        f = ws.recv_frame()
        check(f is not None and f.opcode == 0x1 and f.fin and not f.masked,
              "first frame %r is not one unmasked text frame" % f)
        check_eq(json.loads(f.payload.decode()), {"hello": True, "epoch": e, "last_id": 3}, "hello frame")
    finally:
        ws.close()
    ws = WsClient(srv.ws_url("/ws/wr?since=9&epoch=%d" % e))
    try:
        ws.wait_count(4)
        srv.publish("wr", "w4")
        want[4] = "w4"
        ws.wait_count(5)
        time.sleep(0.1)
        check_eq(ws.hellos, [{"hello": True, "epoch": e, "last_id": 3}], "hello frames")
        check_eq(json.loads(ws.raw[0]).get("hello"), True, "the hello is the first frame")
        check_eq(ws.msgs[0], {"reset": True, "epoch": e, "since": 9, "last_id": 3}, "reset frame")
        check_sequence(ws.msgs[1:], [1, 2, 3, 4], want, "after the reset: ids from 1, then live")
    finally:
        ws.shutdown()
    ws = WsClient(srv.ws_url("/ws/wr?since=2&epoch=%d" % (e + 1)))
    try:
        ws.wait_count(5)
        check_eq(ws.msgs[0].get("reset"), True, "another epoch: reset frame")
        check_eq([m["id"] for m in ws.msgs[1:]], [1, 2, 3, 4], "another epoch: ids from 1")
    finally:
        ws.shutdown()


def t_bad_epoch(srv):
    for v in ("x", "", "-1", "1.5", "99999999999999999999999"):
        for path in ("/poll/be?since=1&epoch=", "/longpoll/be?since=1&timeout=1&epoch=",
                     "/sse/be?epoch=", "/ws/be?since=0&epoch="):
            hdr = ()
            if path.startswith("/ws/"):
                hdr = ("Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13",
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==")
            r = curl(srv.url(path + v), headers=hdr)
            check_error(r, 400, "%s%s" % (path, v))
            check(b"epoch" in r.body, "%s%s: the error does not name epoch: %r" % (path, v, r.body))


def t_new_epoch_per_start(tap):
    with Server(tap, "--quiet") as a:
        ea = epoch_of(a)
    with Server(tap, "--quiet") as b:
        eb = epoch_of(b)
    check(eb > ea, "the epoch of a later start (%d) is not larger than the earlier one's (%d)" % (eb, ea))


# ------------------------------------------------------------ (b) the client

def run_clients(port, restart=None):
    """One pushpull-client per transport, side by side, so one restart falls
    into every transport's measure window. restart(server) runs on the main
    thread meanwhile and returns the server that is up at the end."""
    url = "http://127.0.0.1:%d" % port
    out = {}

    def one(t):
        out[t] = run_client(["--url", url, "--transport", t] + RUN, timeout=40)

    threads = [threading.Thread(target=one, args=(t,), daemon=True) for t in TRANSPORTS]
    for th in threads:
        th.start()
    info = restart() if restart else {}
    for th in threads:
        th.join(T(60))
    check(all(t in out for t in TRANSPORTS), "a client run did not finish: %r" % sorted(out))
    return out, info


def check_run(res, t, restarted, outage_s=0.0):
    check(not res.timed_out and res.rc == 0, "%s: %s" % (t, res.describe()))
    check(not res.sanitizer_report(), "%s: sanitizer report: %s" % (t, res.describe()))
    r = res.run(t)
    d, c = r["delivery"], r["cost"]
    what = "%s %r" % (t, {k: d[k] for k in d if k != "loss_ratio"})
    check_eq(r["status"], "ok", "%s status" % t)
    check_eq((d["duplicates"], d["out_of_order"], c["protocol_errors"]), (0, 0, 0),
             "%s: duplicates, out of order, protocol errors (ids restart, the counters must not fire)" % t)
    # a message the server took and died before acknowledging is neither
    # expected nor delivered (delivered_unacknowledged): the sum is exact
    check_eq(d["delivered"] + d["lost"], d["expected"], "%s: delivered + lost == expected; %s" % (t, what))
    # expected counts acknowledged publishes only: a publish refused while the
    # server was down is a publish error, not a lost delivery
    check_eq(d["expected"], SUBS * d["published"], "%s: expected = subscribers x acknowledged" % t)
    if not restarted:
        check_eq((d["epoch_changes"], d["cursor_resets"], res.doc["epoch_changes"]), (0, 0, 0),
                 "%s: epoch_changes, cursor_resets, total without a restart" % t)
        check_eq((d["lost"], d["publish_errors"], d["delivered_unacknowledged"]), (0, 0, 0),
                 "%s: lost, publish errors, unacknowledged deliveries without a restart" % t)
        check(c["server_cpu_s"] is not None, "%s: server_cpu_s null without a restart" % t)
        check("restarted" not in res.stdout, "%s: a restart reported without one:\n%s" % (t, res.stdout))
        return r
    check_eq((d["epoch_changes"], res.doc["epoch_changes"]), (1, 1),
             "%s: epoch_changes (run, document total) after one restart; %s" % (t, what))
    check_eq(d["cursor_resets"], SUBS, "%s: every subscriber started over once; %s" % (t, what))
    check(0 < d["publish_errors"] <= RATE * (outage_s + 2),
          "%s: publish errors %d for a %.1f s outage" % (t, d["publish_errors"], outage_s))
    # What the old start accepted but had not delivered is lost: for a short
    # poll up to an interval of messages, for the others about none. Had
    # nothing been delivered after the restart, ~5 s of messages would be.
    check(d["lost"] <= SUBS * RATE * 1.0, "%s: lost %d is more than one second of messages; %s"
          % (t, d["lost"], what))
    check(c["server_cpu_s"] is None,
          "%s: server_cpu_s %r across a restart (the counters started over)" % (t, c["server_cpu_s"]))
    line = "warning: %s: server restarted (epoch changed 1 time): losses below include " \
           "messages lost across the restart" % t
    check(line in res.stdout, "%s: no restart warning in the table:\n%s" % (t, res.stdout))
    return r


def restart_case(tap, sig):
    old = Server(tap, "--quiet", label="[killed with %s]" % sig.name).start()
    port = old.port
    holder = {}

    def restart():
        time.sleep(KILL_AT)
        e_old = epoch_of(old)
        t_kill = time.monotonic()
        old.send_signal(sig)
        rc = old.wait(T(10))
        check(rc is not None, "the old server did not exit after %s" % sig.name)
        if sig == signal.SIGTERM:
            check_eq(rc, 0, "the old server's exit status on SIGTERM")
        time.sleep(OUTAGE)
        new = Server(tap, "--quiet", "--port", port, label="[restarted on %d]" % port).start()
        holder["new"] = new
        check_eq(new.port, port, "the new start's port (MHD binds with SO_REUSEADDR)")
        return {"old": e_old, "new": epoch_of(new), "outage_s": time.monotonic() - t_kill}

    try:
        out, epochs = run_clients(port, restart)
        new = holder["new"]
        check(epochs["new"] > epochs["old"], "epochs %r" % epochs)
        st = new.stats()
        for t in TRANSPORTS:
            check_run(out[t], t, True, epochs["outage_s"])
            # the new start delivered to every transport: the run went on
            check(st["deliveries"][t] >= SUBS * RATE * 1,
                  "%s: the new start delivered only %d messages to the client's subscribers"
                  % (t, st["deliveries"][t]))
        diag("%s: outage %.2f s; lost %s, publish errors %s, delivered unacknowledged %s"
             % (sig.name, epochs["outage_s"], {t: out[t].run(t)["delivery"]["lost"] for t in TRANSPORTS},
                {t: out[t].run(t)["delivery"]["publish_errors"] for t in TRANSPORTS},
                {t: out[t].run(t)["delivery"]["delivered_unacknowledged"] for t in TRANSPORTS}))
    finally:
        old.kill()
        if "new" in holder:
            rc, _ = holder["new"].stop()
            check_eq(rc, 0, "the new start's exit status on SIGTERM")


def t_no_restart(tap):
    with Server(tap, "--quiet", label="[negative control]") as srv:
        out, _ = run_clients(srv.port)
        for t in TRANSPORTS:
            check_run(out[t], t, False)


def main():
    tap = Tap(__file__, watchdog_s=240)
    with Server(tap, "--history", HIST, "--quiet") as srv:
        tap.run("Pushpull-Epoch on /pub, /poll, /longpoll, /sse, the WS 101, /stats, /metrics, errors: "
                "one value, in bodies too, this start's time in µs", t_epoch_everywhere, srv)
        tap.run("poll: a cursor ahead or of another epoch: reset:true, retained messages from the "
                "start (gap, limit); one of this start, or no cursor: no reset", t_poll_reset, srv)
        tap.run("longpoll: a stale cursor is answered at once with reset:true, even with nothing "
                "to send; a cursor of this start waits", t_longpoll_reset, srv)
        tap.run("sse: hello event first; Last-Event-ID ahead, or another ?epoch: reset event "
                "(id: 0), then ids from 1", t_sse_hello_reset, srv)
        tap.run("ws: hello frame first (no id); a cursor ahead or of another epoch: reset frame, "
                "then ids from 1, then live", t_ws_hello_reset, srv)
        tap.run("a malformed epoch is a 400 JSON error on poll, longpoll, sse and ws", t_bad_epoch, srv)
    tap.run("a later server start has a larger epoch", t_new_epoch_per_start, tap)
    tap.run("client, all transports, server SIGKILLed mid-run and started again on the same port: "
            "restart reported, cursors reset, loss counted, delivery goes on",
            restart_case, tap, signal.SIGKILL)
    tap.run("client, all transports, server SIGTERMed mid-run and started again on the same port: "
            "the same", restart_case, tap, signal.SIGTERM)
    tap.run("client, all transports, no restart (negative control): no epoch change, no loss, "
            "no warning", t_no_restart, tap)
    tap.done()


if __name__ == "__main__":
    main()
