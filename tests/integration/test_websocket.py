"""WebSocket behaviour: handshake, server pings and client pongs, client
pings, the close handshake, client text frames publishing (whole,
fragmented, several per segment, sent with the handshake), long frames."""

import json
import time

from harness import (Tap, Server, RawWS, WsClient, ws_frame, curl, check, check_eq, check_message,
                     check_sequence, poll_json, wait_until, T, diag)


def next_non_ping(ws, timeout=10):
    while True:
        f = ws.recv_frame(timeout)
        if f is None or f.opcode != 0x9:
            return f
        ws.send_frame(0xA, f.payload)


def t_handshake(srv):
    ws = RawWS(srv.port, "/ws/hs")     # checks 101, Upgrade, Sec-WebSocket-Accept
    try:
        conn = (ws.resp.header("connection") or "").lower()
        check("upgrade" in conn, "101 Connection header %r" % conn)
        wait_until(lambda: srv.stats()["connections"]["ws"] >= 1, T(10), what="connections.ws >= 1")
    finally:
        ws.close()
    wait_until(lambda: srv.stats()["connections"]["ws"] == 0, T(10),
               what="connections.ws back to 0 after the client left")


def t_server_ping(srv):
    ws = RawWS(srv.port, "/ws/ping")
    try:
        t0 = time.monotonic()
        f = ws.recv_frame(6)
        check(f is not None, "connection closed instead of a ping")
        check_eq(f.opcode, 0x9, "opcode of the first frame (--heartbeat 1, no traffic)")
        check(f.fin and not f.masked and len(f.payload) <= 125, "ping frame %r" % f)
        diag("first server ping after %.2fs" % (time.monotonic() - t0))
        ws.send_frame(0xA, f.payload)          # our pong, masked
        # the connection stays up: more pings come, and messages are delivered
        f2 = ws.recv_frame(6)
        check(f2 is not None and f2.opcode == 0x9, "after our pong: %r" % f2)
        ws.send_frame(0xA, f2.payload)
        srv.publish("ping", "still here")
        f3 = next_non_ping(ws)
        check(f3 is not None and f3.opcode == 0x1, "after pongs, want the message frame, got %r" % f3)
        check_message(json.loads(f3.payload), 1, "still here")
    finally:
        ws.close()


def t_client_ping(srv):
    ws = RawWS(srv.port, "/ws/cping")
    try:
        ws.send_frame(0x9, b"are you there?")
        f = next_non_ping(ws)
        check(f is not None, "connection closed instead of a pong")
        check_eq(f.opcode, 0xA, "opcode of the answer to our ping")
        check_eq(f.payload, b"are you there?", "pong payload")
    finally:
        ws.close()
    c = WsClient(srv.ws_url("/ws/cping"))
    try:
        check(c.ping(10), "websockets ping got no pong")
    finally:
        c.shutdown()


def t_close_handshake(srv):
    c = WsClient(srv.ws_url("/ws/bye"))
    c.close(1000)
    check(c.closed, "not closed")
    check_eq(c.close_code, 1000, "close code the server answered with (websockets client)")
    ws = RawWS(srv.port, "/ws/bye")
    try:
        ws.send_frame(0x8, b"\x03\xe8bye")
        f = ws.read_until_close(10)
        check(f is not None, "connection closed without a close frame")
        check_eq(f.close_code(), 1000, "close code (raw client)")
        check(not f.masked, "server close frame is masked")
        check(ws.wait_eof(10), "server did not close the TCP connection after the close handshake")
    finally:
        ws.close()


def t_text_publishes(srv):
    ch = "talk"
    a = WsClient(srv.ws_url("/ws/" + ch))
    b = WsClient(srv.ws_url("/ws/" + ch))
    try:
        a.send("hello from ws")
        a.wait_count(1)
        b.wait_count(1)
        check_message(a.msgs[0], 1, "hello from ws")
        check_message(b.msgs[0], 1, "hello from ws")
        j = poll_json(srv, ch, "?since=0")
        check_sequence(j["messages"], [1], {1: "hello from ws"}, "poll sees the WS-published message")
        check_eq(srv.stats()["published"] >= 1, True, "stats published counts it")
    finally:
        a.shutdown()
        b.shutdown()


def t_fragmented(srv):
    ch = "frag"
    ws = RawWS(srv.port, "/ws/" + ch)
    try:
        ws.send_frame(0x1, "hel", fin=False)
        ws.send_frame(0x0, "lo ", fin=False)
        ws.send_frame(0x9, b"in the middle")          # control frames may interleave
        ws.send_frame(0x0, "w\u00f6rld", fin=True)
        got = []
        pong = None
        deadline = time.monotonic() + T(10)
        while len(got) < 1 and time.monotonic() < deadline:
            f = ws.recv_frame(10)
            check(f is not None, "connection closed; frames so far %r" % got)
            if f.opcode == 0xA:
                pong = f
            elif f.opcode == 0x1:
                got.append(json.loads(f.payload))
            elif f.opcode == 0x8:
                raise AssertionError("server closed with %s" % f.close_code())
        check(pong is not None and pong.payload == b"in the middle",
              "pong for the ping between fragments: %r" % pong)
        check_message(got[0], 1, "hello w\u00f6rld")
    finally:
        ws.close()
    j = poll_json(srv, ch, "?since=0")
    check_sequence(j["messages"], [1], {1: "hello w\u00f6rld"}, "poll")


def t_several_per_segment(srv):
    ch = "burst"
    ws = RawWS(srv.port, "/ws/" + ch)
    try:
        ws.send(b"".join(ws_frame(0x1, "b%d" % i) for i in range(1, 6)))
        msgs = []
        while len(msgs) < 5:
            f = next_non_ping(ws)
            check(f is not None and f.opcode == 0x1, "frame %r" % f)
            msgs.append(json.loads(f.payload))
        check_sequence(msgs, range(1, 6), {i: "b%d" % i for i in range(1, 6)}, "5 frames in one write")
    finally:
        ws.close()


def t_early_frame(srv):
    """A frame that arrives together with the handshake (MHD's extra_in)."""
    ch = "early"
    ws = RawWS(srv.port, "/ws/" + ch, early=ws_frame(0x1, "sent with the handshake"))
    try:
        f = next_non_ping(ws)
        check(f is not None and f.opcode == 0x1, "frame %r" % f)
        check_message(json.loads(f.payload), 1, "sent with the handshake")
    finally:
        ws.close()
    j = poll_json(srv, ch, "?since=0")
    check_sequence(j["messages"], [1], {1: "sent with the handshake"}, "poll")


def t_long_frames(srv):
    ch = "big"
    body16 = "m" * 1000
    body64 = "".join(chr(0x61 + i % 26) for i in range(100_000))
    ws = RawWS(srv.port, "/ws/" + ch)
    try:
        ws.send_frame(0x1, body16)             # 16-bit length
        ws.send_frame(0x1, body64)             # 64-bit length
        msgs = []
        while len(msgs) < 2:
            f = next_non_ping(ws)
            check(f is not None and f.opcode == 0x1, "frame %r" % f)
            msgs.append(json.loads(f.payload))
        check_sequence(msgs, [1, 2], {1: body16, 2: body64}, "long client frames")
    finally:
        ws.close()
    c = WsClient(srv.ws_url("/ws/" + ch))
    try:
        srv.publish(ch, body64)                # a server frame with a 64-bit length
        c.wait_count(1)
        check_message(c.msgs[0], 3, body64)
    finally:
        c.shutdown()


def main():
    tap = Tap(__file__)
    with Server(tap, "--heartbeat", "1", "--max-message", "128KiB") as srv:
        tap.run("ws handshake: 101, Upgrade/Connection, correct Sec-WebSocket-Accept; connections.ws moves",
                t_handshake, srv)
        tap.run("ws: server ping arrives (--heartbeat 1), our pong is accepted, connection stays up",
                t_server_ping, srv)
        tap.run("ws: a client ping is answered with a pong carrying the same payload", t_client_ping, srv)
        tap.run("ws: client close 1000 gets a close 1000 back, then the server closes TCP",
                t_close_handshake, srv)
        tap.run("ws: a client text frame is published (sender, another ws subscriber and poll see it)",
                t_text_publishes, srv)
        tap.run("ws: a fragmented text message (ping between fragments) is published whole",
                t_fragmented, srv)
        tap.run("ws: 5 frames in one TCP write are published in order", t_several_per_segment, srv)
        tap.run("ws: a frame sent in the same write as the handshake is not lost", t_early_frame, srv)
        tap.run("ws: 16-bit and 64-bit length frames both ways (100000-byte message)", t_long_frames, srv)
    tap.done()


if __name__ == "__main__":
    main()
