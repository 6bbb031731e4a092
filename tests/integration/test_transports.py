"""Every transport (poll, longpoll, SSE, WebSocket) receives the same 100
published messages, in order, none lost or duplicated; the message objects
are exactly {id, ts, data}; /stats deliveries and bytes_out match what the
subscribers really received."""

import json
import threading
import time

from harness import (Tap, Server, Publisher, CurlStream, WsClient, curl, check, check_eq,
                     check_sequence, check_message, wait_until, poll_json, now_us, T, TestFailure, diag)

N = 100
CH = "transports-1"


def payload(i):
    if i % 10 == 0:
        # JSON escaping: quotes, backslash, control characters, non-ASCII,
        # a 4-byte UTF-8 sequence, U+2028 (valid unescaped in JSON)
        return 'msg %d "quoted" back\\slash /slash tab\t nl\n cr\r \u00e9 \u2713 \U0001F680 \u2028' % i
    if i % 10 == 5:
        return "msg %d " % i + "x" * 300     # a frame length needing the 16-bit form
    return "msg %d" % i


class State:
    pass


S = State()


def longpoll_collector(srv, out, answers, stop):
    """Loop long polls with a cursor until N messages came (or stop)."""
    cursor = 0
    deadline = time.monotonic() + T(30)
    while len(out) < N and time.monotonic() < deadline and not stop.is_set():
        r = curl(srv.url("/longpoll/%s?since=%d&timeout=10" % (CH, cursor)), timeout=20)
        answers.append(r)
        if r.status != 200:
            return
        body = r.json()
        for m in body.get("messages", []):
            out.append(m)
        if body.get("messages"):
            cursor = body["messages"][-1]["id"]


def setup(srv):
    S.t_lo = now_us() - 1_000_000
    # poll without since: only the cursor
    r = curl(srv.url("/poll/" + CH))
    S.poll_answers = [r]
    check(r.status == 200, "poll without since: %s %r" % (r.status, r.body))
    j = r.json()
    check_eq(j.get("last_id"), 0, "last_id of a new channel")
    check(not j.get("messages"), "poll without since returned messages: %r" % j)

    S.sse = CurlStream(srv.url("/sse/" + CH), max_time=90)
    S.sse.wait(lambda s: any(l.startswith("retry:") for l in s.lines), T(10), "the SSE retry: line")
    S.ws = WsClient(srv.ws_url("/ws/" + CH))
    S.lp_msgs, S.lp_answers, S.lp_stop = [], [], threading.Event()
    S.lp = threading.Thread(target=longpoll_collector, args=(srv, S.lp_msgs, S.lp_answers, S.lp_stop),
                            daemon=True)
    S.lp.start()
    # every subscriber registered before the first publish
    try:
        wait_until(lambda: (lambda c: c["sse"] >= 1 and c["ws"] >= 1 and c["longpoll"] >= 1)(
            srv.stats()["connections"]), T(10), what="/stats connections sse/ws/longpoll >= 1")
    except TestFailure as e:
        diag("could not sync on /stats (%s); sleeping 1s instead" % e)
        time.sleep(T(1))

    S.poll_msgs = []
    cursor = 0
    pub = Publisher(srv.port)
    ids = []
    for i in range(1, N + 1):
        ids.append(pub.pub(CH, payload(i)))
        if i % 10 == 0:
            # drain with a small limit: exercises paging with the cursor
            while True:
                r = curl(srv.url("/poll/%s?since=%d&limit=7" % (CH, cursor)))
                S.poll_answers.append(r)
                check(r.status == 200, "poll: %s %r" % (r.status, r.body[:200]))
                j = r.json()
                ms = j.get("messages", [])
                check(len(ms) <= 7, "poll with limit=7 returned %d messages" % len(ms))
                if not ms:
                    break
                S.poll_msgs.extend(ms)
                cursor = ms[-1]["id"]
    pub.close()
    S.t_hi = now_us() + 1_000_000
    check_eq(ids, list(range(1, N + 1)), "ids answered by POST /pub")


def want_data():
    return {i: payload(i) for i in range(1, N + 1)}


def t_poll():
    check_sequence(S.poll_msgs, range(1, N + 1), want_data(), "poll", S.t_lo, S.t_hi)
    for m in S.poll_msgs:
        check_message(m, t_lo=S.t_lo, t_hi=S.t_hi)


def t_longpoll():
    S.lp.join(T(40))
    check(not S.lp.is_alive(), "long-poll collector still running")
    bad = [r for r in S.lp_answers if r.status != 200]
    check(not bad, "long poll answered %r" % bad[:3])
    check_sequence(S.lp_msgs, range(1, N + 1), want_data(), "longpoll", S.t_lo, S.t_hi)
    for m in S.lp_msgs:
        check_message(m, t_lo=S.t_lo, t_hi=S.t_hi)


def t_sse():
    S.sse.wait(lambda s: len(s.messages()) >= N, T(20), "%d SSE messages" % N)
    evs = [e for e in S.sse.events() if "data" in e and e.get("event", "message") == "message"]
    msgs = [json.loads(e["data"]) for e in evs]
    check_sequence(msgs, range(1, N + 1), want_data(), "sse", S.t_lo, S.t_hi)
    for e, m in zip(evs, msgs):
        check_eq(e.get("id"), str(m["id"]), "SSE id: field of message %d" % m["id"])
        check_message(m, t_lo=S.t_lo, t_hi=S.t_hi)
    check_eq(S.sse.status, 200, "SSE status")


def t_ws():
    S.ws.wait_count(N, 20)
    time.sleep(0.2)   # anything extra (a duplicate) would show up now
    check(all(isinstance(m, str) for m in S.ws.raw), "non-text WebSocket frames delivered")
    check_sequence(S.ws.msgs, range(1, N + 1), want_data(), "ws", S.t_lo, S.t_hi)
    for m in S.ws.msgs:
        check_message(m, t_lo=S.t_lo, t_hi=S.t_hi)


def ws_frame_len(text):
    n = len(text.encode())
    return n + (2 if n < 126 else 4 if n < 65536 else 10)


def t_stats_accounting(srv):
    st = srv.stats()
    check_eq(st["published"], N, "stats published")
    check_eq(st["channels"], 1, "stats channels (one channel used)")
    poll_n = sum(len(r.json().get("messages", [])) for r in S.poll_answers)
    lp_n = sum(len(r.json().get("messages", [])) for r in S.lp_answers)
    d = st["deliveries"]
    check_eq(d["poll"], poll_n, "deliveries.poll (messages in our poll answers)")
    check_eq(d["longpoll"], lp_n, "deliveries.longpoll (messages in our long-poll answers)")
    check_eq(d["sse"], N, "deliveries.sse (one SSE subscriber, %d messages)" % N)
    check_eq(d["ws"], N, "deliveries.ws (one WebSocket subscriber, %d messages)" % N)
    b = st["bytes_out"]
    check_eq(b["poll"], sum(len(r.body) for r in S.poll_answers), "bytes_out.poll (sum of poll body sizes)")
    check_eq(b["longpoll"], sum(len(r.body) for r in S.lp_answers),
             "bytes_out.longpoll (sum of long-poll body sizes)")
    time.sleep(0.3)
    got_sse = len(S.sse.raw_body)
    check(got_sse <= b["sse"] <= got_sse + 100,
          "bytes_out.sse %d, but the client received %d body bytes" % (b["sse"], got_sse))
    ws_min = sum(ws_frame_len(t) for t in S.ws.raw)
    check(ws_min <= b["ws"] <= ws_min + 256,
          "bytes_out.ws %d, but the %d message frames are %d bytes" % (b["ws"], len(S.ws.raw), ws_min))
    c = st["connections"]
    check_eq(c["sse"], 1, "connections.sse")
    check_eq(c["ws"], 1, "connections.ws")
    check_eq(c["longpoll"], 0, "connections.longpoll (none pending)")


def t_escaping(srv):
    ch = "escape.test"
    body = "nul\x00 ctl\x01\x1f del\x7f tab\t \"q\" \\ </script> \ud7ff\ue000\U0010FFFF"
    ws = WsClient(srv.ws_url("/ws/" + ch))
    try:
        i = srv.publish(ch, body.encode("utf-8"))
        check_eq(i, 1, "id of the first message on a new channel")
        r = curl(srv.url("/poll/%s?since=0" % ch))
        check(r.status == 200, "poll: %s" % r.status)
        j = json.loads(r.body.decode("utf-8"))     # strict: raw control characters are invalid JSON
        check_eq(len(j["messages"]), 1, "messages")
        check_message(j["messages"][0], 1, body)
        ws.wait_count(1)
        check_message(ws.msgs[0], 1, body)
    finally:
        ws.shutdown()


def t_ahead_cursor(srv):
    """No cursor of this server start is ahead of its channel: one that is
    comes from an earlier start (ids restart), so it is reset, and the
    subscriber gets everything from id 1 instead of waiting for id 51."""
    ch = "ahead"
    srv.publish(ch, "one")
    j = poll_json(srv, ch, "?since=50")
    check(j.get("reset") is True and not j.get("gap"), "since ahead of the channel: %r" % j)
    check_eq([m["id"] for m in j["messages"]], [1], "poll with a cursor ahead: ids from 1")
    check_eq(j.get("last_id"), 1, "last_id")
    ws = WsClient(srv.ws_url("/ws/%s?since=50" % ch))
    try:
        srv.publish(ch, "two")
        ws.wait_count(3)
        check_eq(ws.msgs[0].get("reset"), True, "first WS frame after the hello: the reset marker")
        check_eq([m["id"] for m in ws.msgs[1:]], [1, 2], "WS with a cursor ahead: ids from 1")
    finally:
        ws.shutdown()


def main():
    tap = Tap(__file__)
    with Server(tap) as srv:
        if tap.run("setup: poll, longpoll, SSE and WS subscribers; %d publishes answered ids 1..%d" % (N, N),
                   setup, srv):
            tap.run("poll (cursor + limit=7 paging) receives ids 1..100 in order, exact data, id/ts/data only",
                    t_poll)
            tap.run("longpoll receives ids 1..100 in order, exact data, id/ts/data only", t_longpoll)
            tap.run("sse receives ids 1..100 in order (id: matches), exact data, id/ts/data only", t_sse)
            tap.run("ws receives ids 1..100 in order as text frames, exact data, id/ts/data only", t_ws)
            tap.run("/stats published, deliveries, bytes_out and connections match the traffic",
                    t_stats_accounting, srv)
        else:
            tap.ok(False, "transport checks skipped: setup failed")
        if hasattr(S, "sse"):
            S.sse.close()
        if hasattr(S, "ws"):
            S.ws.shutdown()
        if hasattr(S, "lp_stop"):
            S.lp_stop.set()
        tap.run("payload with NUL, control chars, quotes and non-BMP text round-trips (poll, ws)",
                t_escaping, srv)
        tap.run("a cursor ahead of the channel is of another start: reset, then ids from 1 (poll, ws)",
                t_ahead_cursor, srv)
    tap.done()


if __name__ == "__main__":
    main()
