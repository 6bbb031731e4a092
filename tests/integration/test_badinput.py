"""Every row of PROTOCOL.md's error tables, each answered with the right
status and a JSON {"error": "..."} body (HTTP) or the right close code (WS).

A WebSocket and an SSE subscriber stay on channel "watch" (the channel the
bad inputs target where the input has a valid channel) through every case.
After each case one good message is published; the case passes only if
/healthz still answers and both subscribers got exactly that message next.
Nothing a bad input carried may ever be published."""

import json
import time

from harness import (Tap, Server, RawWS, WsClient, CurlStream, ws_frame, ws_key, raw_connect,
                     raw_request, recv_until, curl, check, check_eq, check_error, error_body_ok,
                     check_sequence, wait_until, poll_json, T, HOST, diag)

CH = "watch"
MAXMSG = 1024


class Watch:
    def __init__(self, srv):
        self.srv = srv
        self.good = []       # payloads published on purpose, in order
        self.ws = WsClient(srv.ws_url("/ws/" + CH), ping_interval=None)
        self.sse = CurlStream(srv.url("/sse/" + CH), max_time=170)
        self.sse.wait(lambda s: any(l.startswith("retry:") for l in s.lines), T(10), "SSE retry: line")
        try:
            wait_until(lambda: (lambda c: c["ws"] >= 1 and c["sse"] >= 1)(srv.stats()["connections"]),
                       T(10), what="watchers registered")
        except Exception as e:  # noqa: BLE001
            diag("could not sync on /stats (%s); sleeping 1s" % e)
            time.sleep(T(1))

    def after_case(self, name):
        """/healthz answers, and both subscribers get the next good message
        and nothing else."""
        check(self.srv.healthz(), "/healthz does not answer 200 ok after the case")
        body = "after: " + name
        got_id = self.srv.publish(CH, body)
        self.good.append(body)
        check_eq(got_id, len(self.good), "id of the good message published after the case "
                 "(a different id means something else was published on %r)" % CH)
        self.check_subscribers()

    def check_subscribers(self):
        n = len(self.good)
        want = {i + 1: b for i, b in enumerate(self.good)}
        self.ws.wait_count(n, 10)
        self.sse.wait(lambda s: len(s.messages()) >= n, T(10), "%d SSE messages" % n)
        check_sequence(self.ws.msgs, range(1, n + 1), want, "WebSocket watcher")
        check_sequence(self.sse.messages(), range(1, n + 1), want, "SSE watcher")

    def close(self):
        self.ws.shutdown()
        self.sse.close()


def http_case(srv, status, path, method=None, data=None, headers=(), allow=None, timeout=5):
    def run():
        r = curl(srv.url(path), data=data, method=method, headers=headers, timeout=timeout)
        check_error(r, status, "%s %s" % (method or ("POST" if data is not None else "GET"), path))
        if allow is not None:
            a = r.header("allow")
            check(a is not None, "405 without an Allow header")
            methods = {m.strip().upper() for m in a.split(",")}
            check(allow in methods, "Allow: %r does not list %s" % (a, allow))
    return run


def ws_handshake_case(srv, status, headers, path="/ws/" + CH, want_header=None):
    """A raw upgrade request with the given headers (None drops a header)."""
    def run():
        h = {"Host": "%s:%d" % (HOST, srv.port), "Upgrade": "websocket", "Connection": "Upgrade",
             "Sec-WebSocket-Key": ws_key(), "Sec-WebSocket-Version": "13"}
        h.update(headers)
        req = "GET %s HTTP/1.1\r\n" % path + "".join(
            "%s: %s\r\n" % (k, v) for k, v in h.items() if v is not None) + "\r\n"
        r = raw_request(srv.port, req.encode(), timeout=5)
        check(r.status == status, "status %s, want %s (headers %r, body %r)" % (r.status, status, r.headers,
                                                                                 r.body[:200]))
        class R:  # noqa: E306 - adapter for error_body_ok
            body = r.body
        ok, msg = error_body_ok(R)
        check(ok, msg)
        if want_header:
            k, v = want_header
            check_eq(r.header(k), v, "%s header" % k)
    return run


def ws_close_case(srv, code, frames):
    """Send the frames on an upgraded /ws/watch; want a close frame with
    `code`, then the TCP connection closed."""
    def run():
        ws = RawWS(srv.port, "/ws/" + CH)
        try:
            for fr in frames:
                try:
                    ws.send(fr)
                except OSError:
                    break
            f = ws.read_until_close(10)
            check(f is not None, "connection closed without a close frame (want %d); frames before: %r"
                  % (code, ws.seen[-3:]))
            check_eq(f.close_code(), code, "close code")
            check(not f.masked, "server close frame is masked")
            texts = [x for x in ws.seen if x.opcode == 0x1]
            check(not texts, "bad input was delivered back as a message: %r" % texts[:2])
            try:
                ws.send_frame(0x8, f.payload[:2])      # our close reply
            except OSError:
                pass
            check(ws.wait_eof(10), "server did not close the TCP connection after close %d" % code)
        finally:
            ws.close()
    return run


def ws_good_case(watch, frames_fn, payload):
    """Frames that must publish `payload` (positive control among the abuse)."""
    def run():
        srv = watch.srv
        ws = RawWS(srv.port, "/ws/" + CH)
        try:
            ws.send(frames_fn())
            watch.good.append(payload)
            watch.check_subscribers()
        finally:
            ws.close()
    return run


def pub_good_case(watch, payload):
    def run():
        i = watch.srv.publish(CH, payload)
        watch.good.append(payload if isinstance(payload, str) else payload.decode())
        check_eq(i, len(watch.good), "id")
        watch.check_subscribers()
    return run


def chunked_case(srv, n):
    def run():
        r = curl(srv.url("/pub/" + CH), data=b"c" * n, headers=("Transfer-Encoding: chunked",), timeout=10)
        check_error(r, 413, "chunked POST of %d bytes" % n)
    return run


def t_503(tap):
    # --heartbeat 1: a stream whose client left is noticed when its next
    # heartbeat cannot be written (a suspended stream is not polled)
    with Server(tap, "--max-connections", "5", "--heartbeat", "1") as srv:
        def run():
            socks = []
            try:
                for i in range(5):
                    s = raw_connect(srv.port, 10)
                    socks.append(s)
                    s.sendall(("GET /sse/full HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (HOST, srv.port)).encode())
                    buf, eof = recv_until(s, b"retry:", T(10))
                    check(not eof, "SSE stream %d closed: %r" % (i + 1, buf[:200]))
                    check(buf.startswith(b"HTTP/1.1 200"), "SSE stream %d: %r" % (i + 1, buf[:100]))
                r = curl(srv.url("/healthz"), timeout=10)
                check_error(r, 503, "6th connection with 5 SSE streams held and --max-connections 5")
                socks.pop().close()
                wait_until(lambda: curl(srv.url("/healthz")).status == 200, T(10),
                           what="/healthz 200 once a connection is released",
                           show=lambda: curl(srv.url("/healthz")))
            finally:
                for s in socks:
                    s.close()
        tap.run("503 with a JSON error over --max-connections 5 (5 SSE streams held), 200 again after one closes",
                run)


def main():
    tap = Tap(__file__)
    long_name = "a" * 65
    with Server(tap, "--max-message", "1KiB") as srv:
        try:
            watch = Watch(srv)
        except Exception as e:  # noqa: BLE001
            tap.ok(False, "watch subscribers on %r (ws, sse)" % CH, repr(e))
            watch = None
        if watch:
            cases = [
                # invalid channel names
                ("400 invalid channel: POST /pub/ 65-char name", http_case(srv, 400, "/pub/" + long_name, data=b"x")),
                ("400 invalid channel: GET /poll/ 65-char name", http_case(srv, 400, "/poll/" + long_name)),
                ("400 invalid channel: GET /longpoll/ 65-char name",
                 http_case(srv, 400, "/longpoll/%s?timeout=1" % long_name)),
                ("400 invalid channel: GET /sse/ 65-char name", http_case(srv, 400, "/sse/" + long_name)),
                ("400 invalid channel: WS upgrade /ws/ 65-char name",
                 ws_handshake_case(srv, 400, {}, path="/ws/" + long_name)),
                ("400 invalid channel: POST /pub/a/b", http_case(srv, 400, "/pub/a/b", data=b"x")),
                ("400 invalid channel: POST /pub/a%2Fb", http_case(srv, 400, "/pub/a%2Fb", data=b"x")),
                ("400 invalid channel: POST /pub/%20", http_case(srv, 400, "/pub/%20", data=b"x")),
                ("400 invalid channel: GET /poll/a%20b", http_case(srv, 400, "/poll/a%20b")),
                ("400 invalid channel: GET /poll/na%C3%AFve (non-ASCII)", http_case(srv, 400, "/poll/na%C3%AFve")),
                ("400 invalid channel: GET /sse/a:b", http_case(srv, 400, "/sse/a:b")),
                # since / timeout / limit
                ("400 poll since=-1", http_case(srv, 400, "/poll/watch?since=-1")),
                ("400 poll since=abc", http_case(srv, 400, "/poll/watch?since=abc")),
                ("400 poll since= (empty)", http_case(srv, 400, "/poll/watch?since=")),
                ("400 poll since=1.5", http_case(srv, 400, "/poll/watch?since=1.5")),
                ("400 poll since=1abc", http_case(srv, 400, "/poll/watch?since=1abc")),
                ("400 poll limit=1.5", http_case(srv, 400, "/poll/watch?since=0&limit=1.5")),
                ("400 poll limit=-1", http_case(srv, 400, "/poll/watch?since=0&limit=-1")),
                ("400 poll limit=abc", http_case(srv, 400, "/poll/watch?since=0&limit=abc")),
                ("400 longpoll since=-1", http_case(srv, 400, "/longpoll/watch?since=-1&timeout=1")),
                ("400 longpoll since=abc", http_case(srv, 400, "/longpoll/watch?since=abc&timeout=1")),
                ("400 longpoll timeout=x", http_case(srv, 400, "/longpoll/watch?since=0&timeout=x")),
                ("400 longpoll timeout=-1", http_case(srv, 400, "/longpoll/watch?since=0&timeout=-1")),
                ("400 longpoll timeout=1.5", http_case(srv, 400, "/longpoll/watch?since=0&timeout=1.5")),
                ("400 sse since=-1", http_case(srv, 400, "/sse/watch?since=-1")),
                ("400 sse since=abc", http_case(srv, 400, "/sse/watch?since=abc")),
                ("400 ws since=-1 (upgrade refused)", ws_handshake_case(srv, 400, {}, path="/ws/watch?since=-1")),
                ("400 ws since=abc (upgrade refused)", ws_handshake_case(srv, 400, {}, path="/ws/watch?since=abc")),
                # body size
                ("200 body of exactly --max-message (1024 bytes) is published", pub_good_case(watch, "s" * MAXMSG)),
                ("413 body of 1025 bytes over --max-message 1KiB",
                 http_case(srv, 413, "/pub/watch", data=b"o" * (MAXMSG + 1))),
                ("413 chunked body of 2048 bytes (no Content-Length)", chunked_case(srv, 2 * MAXMSG)),
                # curl 7.88 sends no Expect: 100-continue below 1 MiB: ask for it,
                # so that the server can refuse before the body is sent
                ("413 body of 1 MiB (Expect: 100-continue)",
                 http_case(srv, 413, "/pub/watch", data=b"o" * (1 << 20), headers=("Expect: 100-continue",),
                           timeout=10)),
                # UTF-8
                ("400 non-UTF-8 body b'\\xff\\xfe'", http_case(srv, 400, "/pub/watch", data=b"\xff\xfe")),
                ("400 non-UTF-8 body overlong b'\\xc0\\xaf'", http_case(srv, 400, "/pub/watch", data=b"\xc0\xaf")),
                ("400 non-UTF-8 body surrogate b'\\xed\\xa0\\x80'",
                 http_case(srv, 400, "/pub/watch", data=b"\xed\xa0\x80")),
                ("400 non-UTF-8 body truncated b'abc\\xe2\\x82'", http_case(srv, 400, "/pub/watch", data=b"abc\xe2\x82")),
                ("400 non-UTF-8 body above U+10FFFF b'\\xf4\\x90\\x80\\x80'",
                 http_case(srv, 400, "/pub/watch", data=b"\xf4\x90\x80\x80")),
                ("400 non-UTF-8 body lone continuation byte", http_case(srv, 400, "/pub/watch", data=b"ok \x80 ok")),
                ("200 valid multi-byte UTF-8 body is published", pub_good_case(watch, "\u00e9\u20ac\U0001F600")),
                # unknown paths
                ("404 GET /nope", http_case(srv, 404, "/nope")),
                ("404 GET /pubx/watch", http_case(srv, 404, "/pubx/watch")),
                ("404 POST /does/not/exist", http_case(srv, 404, "/does/not/exist", data=b"x")),
                # wrong methods
                ("405 GET /pub/watch with Allow: POST", http_case(srv, 405, "/pub/watch", allow="POST")),
                ("405 POST /poll/watch with Allow: GET", http_case(srv, 405, "/poll/watch", data=b"x", allow="GET")),
                ("405 POST /longpoll/watch with Allow: GET",
                 http_case(srv, 405, "/longpoll/watch", data=b"x", allow="GET")),
                ("405 POST /sse/watch with Allow: GET", http_case(srv, 405, "/sse/watch", data=b"x", allow="GET")),
                ("405 PUT /pub/watch with Allow: POST",
                 http_case(srv, 405, "/pub/watch", method="PUT", data=b"x", allow="POST")),
                ("405 DELETE /poll/watch with Allow: GET",
                 http_case(srv, 405, "/poll/watch", method="DELETE", allow="GET")),
                ("405 POST /stats with Allow: GET", http_case(srv, 405, "/stats", data=b"x", allow="GET")),
                # WebSocket handshake
                ("400 ws: plain GET /ws/watch without Upgrade", http_case(srv, 400, "/ws/watch")),
                ("400 ws: missing Upgrade header", ws_handshake_case(srv, 400, {"Upgrade": None})),
                ("400 ws: Upgrade: h2c", ws_handshake_case(srv, 400, {"Upgrade": "h2c"})),
                ("400 ws: missing Connection: upgrade", ws_handshake_case(srv, 400, {"Connection": None})),
                ("400 ws: missing Sec-WebSocket-Key", ws_handshake_case(srv, 400, {"Sec-WebSocket-Key": None})),
                ("400 ws: malformed Sec-WebSocket-Key (not base64)",
                 ws_handshake_case(srv, 400, {"Sec-WebSocket-Key": "not a base64 key!!!!!!!"})),
                ("400 ws: Sec-WebSocket-Key of 15 bytes",
                 ws_handshake_case(srv, 400, {"Sec-WebSocket-Key": "AAAAAAAAAAAAAAAAAAAA"})),
                ("400 ws: Sec-WebSocket-Key of 3 bytes", ws_handshake_case(srv, 400, {"Sec-WebSocket-Key": "AAAA"})),
                ("426 ws: Sec-WebSocket-Version: 8, answer has Sec-WebSocket-Version: 13",
                 ws_handshake_case(srv, 426, {"Sec-WebSocket-Version": "8"},
                                   want_header=("sec-websocket-version", "13"))),
                # WebSocket frames
                ("ws close 1002: unmasked client text frame",
                 ws_close_case(srv, 1002, [ws_frame(0x1, "unmasked!", mask=False)])),
                ("ws close 1002: unknown data opcode 0x3", ws_close_case(srv, 1002, [ws_frame(0x3, "op3")])),
                ("ws close 1002: unknown control opcode 0xB", ws_close_case(srv, 1002, [ws_frame(0xB, "opB")])),
                ("ws close 1002: fragmented ping (FIN=0 control frame)",
                 ws_close_case(srv, 1002, [ws_frame(0x9, "frag ping", fin=False)])),
                ("ws close 1002: ping with a 126-byte payload (oversized control frame)",
                 ws_close_case(srv, 1002, [ws_frame(0x9, b"p" * 126)])),
                ("ws close 1002: continuation frame without a started message",
                 ws_close_case(srv, 1002, [ws_frame(0x0, "orphan continuation")])),
                ("ws close 1002: new text frame while a fragmented message is open",
                 ws_close_case(srv, 1002, [ws_frame(0x1, "part one", fin=False), ws_frame(0x1, "another")])),
                ("ws close 1007: invalid UTF-8 in a text frame",
                 ws_close_case(srv, 1007, [ws_frame(0x1, b"bad \xff\xfe utf8")])),
                ("ws close 1007: UTF-16 surrogate in a text frame",
                 ws_close_case(srv, 1007, [ws_frame(0x1, b"\xed\xa0\x80")])),
                ("ws close 1007: fragmented text message that is not UTF-8 as a whole",
                 ws_close_case(srv, 1007, [ws_frame(0x1, b"ok \xe2", fin=False), ws_frame(0x0, b"\x28\xa1")])),
                ("ws: a UTF-8 character split across fragments is published whole",
                 ws_good_case(watch, lambda: ws_frame(0x1, b"euro \xe2\x82", fin=False) + ws_frame(0x0, b"\xac!"),
                              "euro \u20ac!")),
                ("ws: a text message of exactly --max-message (1024 bytes) is published",
                 ws_good_case(watch, lambda: ws_frame(0x1, "w" * MAXMSG), "w" * MAXMSG)),
                ("ws close 1009: text message of 1025 bytes over --max-message 1KiB",
                 ws_close_case(srv, 1009, [ws_frame(0x1, b"L" * (MAXMSG + 1))])),
                ("ws close 1009: fragmented message totalling 1200 bytes",
                 ws_close_case(srv, 1009, [ws_frame(0x1, b"F" * 600, fin=False), ws_frame(0x0, b"F" * 600)])),
                ("ws close 1003: binary message", ws_close_case(srv, 1003, [ws_frame(0x2, b"\x00\x01binary")])),
            ]
            for name, fn in cases:
                def case(fn=fn, name=name):
                    fn()
                    watch.after_case(name)
                tap.run(name, case)
            def final():
                watch.check_subscribers()
                n = len(watch.good)
                j = poll_json(srv, CH, "?since=0")
                check_sequence(j["messages"], range(1, n + 1), {i + 1: b for i, b in enumerate(watch.good)},
                               "poll of %r" % CH)
                check(srv.healthz(), "/healthz")
                check(not watch.ws.closed, "WS watcher was closed (%s)" % watch.ws.close_code)
                check(watch.sse.proc.poll() is None, "SSE watcher stream ended")
            tap.run("after all %d cases the ws and sse watchers got every good message (ids 1..N) in order "
                    "and nothing else; poll agrees; /healthz ok" % len(cases), final)
            watch.close()
        def positive_names():
            for name in ("a" * 64, "AZaz09_.-", "x"):
                r = curl(srv.url("/pub/" + name), data=b"ok")
                check_eq(r.status, 200, "POST /pub/%s" % name)
                r = curl(srv.url("/poll/%s?since=0" % name))
                check_eq(r.status, 200, "GET /poll/%s" % name)
                check_eq([m["data"] for m in r.json()["messages"]], ["ok"], "messages of %s" % name)
        tap.run("valid channel names (64 chars, all allowed characters, 1 char) are accepted",
                positive_names)
    t_503(tap)
    tap.done()


if __name__ == "__main__":
    main()
