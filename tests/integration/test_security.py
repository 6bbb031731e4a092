"""Access control and abuse limits (README "Security"), each shown with a
raw-socket client where a library would hide what happens:

- --publish-token / --subscribe-token: 401 + WWW-Authenticate without or
  with a wrong token, 200 with the right one (header, or ?token= for
  subscribing); a WebSocket whose upgrade lacked the publish token is
  closed 1008 on its first text frame and publishes nothing;
- --allow-origin: 403 for a WebSocket upgrade or a POST from a foreign
  Origin, the server's own origin and listed ones allowed; CORS headers and
  preflights (OPTIONS); nothing of it without the flag;
- --max-connections-per-ip: 503 + Connection: close from 127.0.0.1 while
  127.0.0.2 is served;
- --header-timeout: a trickled request (slowloris), a silent connection and
  a trickled publish body are cut; idle keep-alive connections, SSE streams,
  long polls and WebSockets outlive it;
- oversized request headers: 431 (libmicrohttpd's answer), bounded by
  --connection-memory;
- --ws-publish-rate: a burst past it closes the WebSocket with 1008.
"""

import os
import socket
import subprocess
import threading
import time

from harness import (Tap, Server, RawWS, BgCurl, curl, raw_connect, read_response, recv_until,
                     ws_frame, ws_key, check, check_eq, check_error, wait_until, poll_json, T, HOST,
                     SERVER, diag)

PUB = "pub-Secret_0123456789abcdef"
SUB = "sub-Secret_fedcba9876543210"
GOOD = "http://good.example"
EVIL = "http://evil.example"
TIMEOUT = 2.0          # --header-timeout of the limits server; it sweeps every 0.5 s


# ------------------------------------------------------------------ helpers

def src_connect(port, src, timeout=10):
    """A connection to the server from source address `src` (127.0.0.x)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(T(timeout))
    s.connect((HOST, port))
    return s


def get(port, path, headers=(), src="127.0.0.1", method="GET"):
    """One request on a fresh connection (Connection: close); the response."""
    s = src_connect(port, src)
    try:
        head = "%s %s HTTP/1.1\r\nHost: %s:%d\r\n" % (method, path, HOST, port)
        head += "".join("%s\r\n" % h for h in headers) + "Connection: close\r\n\r\n"
        s.sendall(head.encode())
        return read_response(s, 10)
    finally:
        s.close()


def upgrade(port, path, headers=None):
    """A WebSocket upgrade request; the raw response (101 or a refusal)."""
    h = {"Host": "%s:%d" % (HOST, port), "Upgrade": "websocket", "Connection": "Upgrade",
         "Sec-WebSocket-Key": ws_key(), "Sec-WebSocket-Version": "13"}
    h.update(headers or {})
    req = "GET %s HTTP/1.1\r\n" % path + "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n"
    s = raw_connect(port, 10)
    try:
        s.sendall(req.encode())
        return read_response(s, 10)
    finally:
        s.close()


def check_refusal(r, status, what):
    """A raw response: the status and a JSON {"error": "..."} body."""
    check(r.status == status, "%s: status %s, want %s (body %r)" % (what, r.status, status, r.body[:200]))
    try:
        err = r.json().get("error")
    except Exception:  # noqa: BLE001
        err = None
    check(isinstance(err, str) and err, "%s: body is not a JSON error: %r" % (what, r.body[:200]))


def read_to_end(sock, timeout):
    """Everything the server sends until it closes (EOF or reset). Returns
    (bytes, seconds until closed, or None when still open at timeout)."""
    t0 = time.monotonic()
    data = b""
    while True:
        left = timeout - (time.monotonic() - t0)
        if left <= 0:
            return data, None
        sock.settimeout(left)
        try:
            b = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return data, time.monotonic() - t0
        if not b:
            return data, time.monotonic() - t0
        data += b


def still_open(sock, wait=0.2):
    """True when the server has not closed sock (nothing to read is fine)."""
    sock.settimeout(wait)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except socket.timeout:
        return True
    except OSError:
        return False


def trickle(sock, first, interval, limit):
    """Send `first`, then one byte per interval, until the server closes the
    connection. Returns (seconds from the call until closed, what was read)."""
    t0 = time.monotonic()
    sock.sendall(first)
    got = b""
    while time.monotonic() - t0 < limit:
        data, closed = read_to_end(sock, interval)
        got += data
        if closed is not None:
            return time.monotonic() - t0, got
        try:
            sock.sendall(b"a")
        except OSError:
            return time.monotonic() - t0, got
    return None, got


# ---------------------------------------------------------- access control

def t_publish_token(srv):
    u = srv.url("/pub/acl")
    r = curl(u, data=b"no token")
    check_error(r, 401, "POST /pub without a token")
    check_eq(r.header("www-authenticate"), 'Bearer realm="pushpull"', "WWW-Authenticate")
    r = curl(u, data=b"wrong", headers=("Authorization: Bearer " + PUB[:-1] + "X",))
    check_error(r, 401, "POST /pub with a token differing in its last character")
    check(r.header("www-authenticate") is not None and 'error="invalid_token"' in r.header("www-authenticate"),
          "WWW-Authenticate of a wrong token: %r" % r.header("www-authenticate"))
    r = curl(u, data=b"short", headers=("Authorization: Bearer " + PUB[:5],))
    check_error(r, 401, "POST /pub with a prefix of the token")
    r = curl(u, data=b"sub", headers=("Authorization: Bearer " + SUB,))
    check_error(r, 401, "POST /pub with the subscribe token")
    r = curl(u + "?token=" + PUB, data=b"query")
    check_error(r, 401, "POST /pub with the publish token in ?token= (header only)")
    r = curl(u, data=b"basic", headers=("Authorization: Basic dXNlcjpwYXNz",))
    check_error(r, 401, "POST /pub with Basic credentials")
    r = curl(u, data=b"ok", headers=("Authorization: Bearer " + PUB,))
    check_eq(r.status, 200, "POST /pub with the publish token (body %r)" % r.body[:200])
    r = curl(u, data=b"ok2", headers=("authorization: bearer  " + PUB,))
    check_eq(r.status, 200, "scheme and header name are case-insensitive (body %r)" % r.body[:200])
    j = poll_json(srv, "acl", "?since=0&token=" + SUB)
    check_eq([m["data"] for m in j["messages"]], ["ok", "ok2"], "published: only the authorized bodies")


def t_subscribe_token(srv):
    for path in ("/poll/acl?since=0", "/longpoll/acl?since=0&timeout=1", "/sse/acl",
                 "/drop/sse/acl?tag=t"):
        post = path.startswith("/drop")
        r = curl(srv.url(path), data=b"" if post else None)
        check_error(r, 401, "%s without a token" % path)
        check(r.header("www-authenticate") is not None, "%s: 401 without WWW-Authenticate" % path)
        sep = "&" if "?" in path else "?"
        r = curl(srv.url(path + sep + "token=nope"), data=b"" if post else None)
        check_error(r, 401, "%s with a wrong ?token=" % path)
    r = curl(srv.url("/poll/acl?since=0&token=" + SUB))
    check_eq(r.status, 200, "poll with ?token=")
    r = curl(srv.url("/poll/acl?since=0"), headers=("Authorization: Bearer " + SUB,))
    check_eq(r.status, 200, "poll with Authorization: Bearer")
    r = curl(srv.url("/poll/acl?since=0&token=nope"), headers=("Authorization: Bearer " + SUB,))
    check_eq(r.status, 200, "poll with the right header and a wrong ?token=")
    r = curl(srv.url("/longpoll/acl?since=0&timeout=1&token=" + SUB))
    check_eq(r.status, 200, "longpoll with ?token=")
    s = raw_connect(srv.port, 10)
    try:
        s.sendall(("GET /sse/acl?since=0&token=%s HTTP/1.1\r\nHost: x\r\n\r\n" % SUB).encode())
        buf, eof = recv_until(s, b"retry:", T(10))
        check(buf.startswith(b"HTTP/1.1 200"), "SSE with ?token=: %r" % buf[:100])
    finally:
        s.close()
    for path in ("/healthz", "/stats", "/metrics", "/", "/web/app.js"):
        r = curl(srv.url(path))
        check_eq(r.status, 200, "%s stays public" % path)


def t_ws_tokens(srv):
    r = upgrade(srv.port, "/ws/acl")
    check_refusal(r, 401, "WS upgrade without the subscribe token")
    check(r.header("www-authenticate") is not None, "WS 401 without WWW-Authenticate")
    r = upgrade(srv.port, "/ws/acl?token=nope")
    check_refusal(r, 401, "WS upgrade with a wrong ?token=")
    before = poll_json(srv, "acl", "?token=" + SUB)["last_id"]
    # subscribe-only: the upgrade works, the first text frame closes it
    ws = RawWS(srv.port, "/ws/acl?token=" + SUB)
    try:
        ws.send(ws_frame(0x1, "not allowed"))
        f = ws.read_until_close(10)
        check(f is not None, "closed without a close frame")
        check_eq(f.close_code(), 1008, "close code of an unauthorized publish")
        check(b"publish not authorized" in f.payload, "close reason %r" % f.payload)
    finally:
        ws.close()
    # with the publish token in the header as well: it publishes
    ws = RawWS(srv.port, "/ws/acl?token=" + SUB, headers={"Authorization": "Bearer " + PUB})
    try:
        ws.send(ws_frame(0x1, "via ws"))
        wait_until(lambda: poll_json(srv, "acl", "?since=%d&token=%s" % (before, SUB))["messages"],
                   T(10), what="the authorized WebSocket publish")
    finally:
        ws.close()
    msgs = poll_json(srv, "acl", "?since=%d&token=%s" % (before, SUB))["messages"]
    check_eq([m["data"] for m in msgs], ["via ws"], "published over WebSockets")


def t_ws_subscribe_only_needs_no_token(tap):
    """Only --publish-token: anyone may subscribe over a WebSocket, only the
    token holder may publish on it."""
    with Server(tap, "--publish-token", PUB, label="[--publish-token only]") as srv:
        def run():
            ws = RawWS(srv.port, "/ws/open")
            try:
                r = curl(srv.url("/pub/open"), data=b"hello", headers=("Authorization: Bearer " + PUB,))
                check_eq(r.status, 200, "publish with the token")
                f = ws.recv_frame(10)
                check(f is not None and f.opcode == 0x1 and b"hello" in f.payload,
                      "the token-less subscriber did not get the message: %r" % (f,))
                ws.send(ws_frame(0x1, "sneaky"))
                f = ws.read_until_close(10)
                check(f is not None and f.close_code() == 1008, "close after a publish: %r" % (f,))
            finally:
                ws.close()
            check_eq([m["data"] for m in poll_json(srv, "open", "?since=0")["messages"]], ["hello"],
                     "messages of the channel")
            st = srv.stats()
            check(st["unauthorized"] >= 1, "/stats unauthorized = %r" % st["unauthorized"])
        tap.run("--publish-token only: a WebSocket subscribes without a token; its text frame is "
                "refused with close 1008 and not published; counted in /stats unauthorized", run)


def t_env_token(tap):
    """The token from the environment (not visible in ps, unlike argv)."""
    def run(srv):
        check_error(curl(srv.url("/pub/env"), data=b"x"), 401, "POST /pub without a token")
        r = curl(srv.url("/pub/env"), data=b"x", headers=("Authorization: Bearer " + PUB,))
        check_eq(r.status, 200, "POST /pub with the token from the environment")
    os.environ["PUSHPULL_PUBLISH_TOKEN"] = PUB
    try:
        with Server(tap, label="[PUSHPULL_PUBLISH_TOKEN in the environment]") as srv:
            del os.environ["PUSHPULL_PUBLISH_TOKEN"]   # the server has it; curl needs none
            tap.run("PUSHPULL_PUBLISH_TOKEN in the environment works as --publish-token", run, srv)
    finally:
        os.environ.pop("PUSHPULL_PUBLISH_TOKEN", None)


def t_origin_ws(srv):
    q = "/ws/org?token=" + SUB
    r = upgrade(srv.port, q, {"Origin": EVIL})
    check_refusal(r, 403, "WS upgrade from Origin %s" % EVIL)
    r = upgrade(srv.port, q, {"Origin": "http://good.example.evil.example"})
    check_refusal(r, 403, "WS upgrade from an origin that only starts like a listed one")
    r = upgrade(srv.port, q, {"Origin": "null"})
    check_refusal(r, 403, "WS upgrade from Origin null (a sandboxed page)")
    for origin in (GOOD, "HTTP://GOOD.EXAMPLE", "http://127.0.0.1:%d" % srv.port, None):
        hdrs = {"Origin": origin} if origin else {}
        r = upgrade(srv.port, q, hdrs)
        check_eq(r.status, 101, "WS upgrade from Origin %s" % (origin or "(none: not a browser)"))


def t_origin_post(srv):
    auth = "Authorization: Bearer " + PUB
    r = curl(srv.url("/pub/org"), data=b"x", headers=(auth, "Origin: " + EVIL))
    check_error(r, 403, "POST /pub with the token from Origin %s" % EVIL)
    r = curl(srv.url("/drop/sse/org?tag=t&token=" + SUB), data=b"", headers=("Origin: " + EVIL,))
    check_error(r, 403, "POST /drop/sse from Origin %s" % EVIL)
    r = curl(srv.url("/pub/org"), data=b"x", headers=(auth, "Origin: " + GOOD))
    check_eq(r.status, 200, "POST /pub from a listed Origin")
    check_eq(r.header("access-control-allow-origin"), GOOD, "Access-Control-Allow-Origin")
    r = curl(srv.url("/pub/org"), data=b"y", headers=(auth, "Origin: http://127.0.0.1:%d" % srv.port))
    check_eq(r.status, 200, "POST /pub from the server's own origin (the live page)")
    r = curl(srv.url("/poll/org?since=0&token=" + SUB), headers=("Origin: " + EVIL,))
    check_eq(r.status, 200, "a GET from a foreign Origin is answered (CORS keeps the body from the page)")
    check_eq(r.header("access-control-allow-origin"), None, "Access-Control-Allow-Origin for a foreign Origin")


def t_cors(srv):
    r = curl(srv.url("/poll/org?since=0&token=" + SUB), headers=("Origin: " + GOOD,))
    check_eq(r.status, 200, "poll")
    check_eq(r.header("access-control-allow-origin"), GOOD, "Access-Control-Allow-Origin of a poll")
    check("origin" in (r.header("vary") or "").lower(), "Vary: %r" % r.header("vary"))
    r = curl(srv.url("/poll/org?since=0"), headers=("Origin: " + GOOD,))
    check_error(r, 401, "poll without a token from a listed origin")
    check_eq(r.header("access-control-allow-origin"), GOOD, "Access-Control-Allow-Origin of a 401 (the page may read it)")
    r = curl(srv.url("/poll/org?since=0&token=" + SUB))
    check("origin" in (r.header("vary") or "").lower(), "Vary: Origin without an Origin: %r" % r.header("vary"))
    check_eq(r.header("access-control-allow-origin"), None, "Access-Control-Allow-Origin without an Origin")
    s = raw_connect(srv.port, 10)
    try:
        s.sendall(("GET /sse/org?token=%s HTTP/1.1\r\nHost: x\r\nOrigin: %s\r\n\r\n" % (SUB, GOOD)).encode())
        buf, eof = recv_until(s, b"retry:", T(10))
        head = buf.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
        check("access-control-allow-origin: " + GOOD in head, "SSE head without ACAO: %r" % head)
    finally:
        s.close()


def t_preflight(srv):
    r = get(srv.port, "/pub/org", ("Origin: " + GOOD, "Access-Control-Request-Method: POST",
                                   "Access-Control-Request-Headers: authorization, content-type"),
            method="OPTIONS")
    check_eq(r.status, 204, "preflight of POST /pub (no token needed: preflights carry none)")
    check_eq(r.header("access-control-allow-origin"), GOOD, "Access-Control-Allow-Origin")
    check("POST" in (r.header("access-control-allow-methods") or ""), "Allow-Methods %r"
          % r.header("access-control-allow-methods"))
    ah = (r.header("access-control-allow-headers") or "").lower()
    for h in ("authorization", "content-type", "last-event-id"):
        check(h in ah, "Access-Control-Allow-Headers %r lacks %s" % (ah, h))
    check((r.header("access-control-max-age") or "").isdigit(), "Max-Age %r" % r.header("access-control-max-age"))
    r = get(srv.port, "/sse/org", ("Origin: " + GOOD, "Access-Control-Request-Method: GET",
                                   "Access-Control-Request-Headers: last-event-id"), method="OPTIONS")
    check_eq(r.status, 204, "preflight of GET /sse (an EventSource reconnecting with Last-Event-ID)")
    check("GET" in (r.header("access-control-allow-methods") or ""), "Allow-Methods of /sse")
    r = get(srv.port, "/pub/org", ("Origin: " + EVIL, "Access-Control-Request-Method: POST"), method="OPTIONS")
    check_refusal(r, 403, "preflight from a foreign origin")
    r = get(srv.port, "/nope", ("Origin: " + GOOD,), method="OPTIONS")
    check_eq(r.status, 404, "OPTIONS of an unknown path")


def t_no_origin_config(tap):
    with Server(tap, label="[defaults: no --allow-origin]") as srv:
        def run():
            r = upgrade(srv.port, "/ws/x", {"Origin": EVIL})
            check_eq(r.status, 101, "WS upgrade from any Origin without --allow-origin")
            r = curl(srv.url("/poll/x"), headers=("Origin: " + GOOD,))
            check_eq(r.status, 200, "poll")
            check_eq((r.header("access-control-allow-origin"), r.header("vary")), (None, None),
                     "CORS headers without --allow-origin")
            r = get(srv.port, "/pub/x", ("Origin: " + GOOD,), method="OPTIONS")
            check_refusal(r, 405, "OPTIONS without --allow-origin")
            r = curl(srv.url("/pub/x"), data=b"open")
            check_eq(r.status, 200, "publish without a token when none is configured")
        tap.run("without --allow-origin and tokens: no Origin check, no CORS headers, OPTIONS is 405, "
                "no token needed", run)


# ------------------------------------------------------------ abuse limits

def t_per_ip(srv):
    held = []
    try:
        for i in range(3):
            s = src_connect(srv.port, "127.0.0.1")
            held.append(s)
            s.sendall(b"GET /sse/ip HTTP/1.1\r\nHost: x\r\n\r\n")
            buf, eof = recv_until(s, b"retry:", T(10))
            check(buf.startswith(b"HTTP/1.1 200"), "stream %d: %r" % (i + 1, buf[:100]))
        s = src_connect(srv.port, "127.0.0.1")
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            r = read_response(s, 10)
            check_refusal(r, 503, "a 4th connection from 127.0.0.1 with --max-connections-per-ip 3")
            check_eq((r.header("connection") or "").lower(), "close", "Connection header of the 503")
            data, closed = read_to_end(s, T(5))
            check(closed is not None, "the refused connection stays open")
        finally:
            s.close()
        r = get(srv.port, "/healthz", src="127.0.0.2")
        check_eq(r.status, 200, "/healthz from 127.0.0.2 while 127.0.0.1 holds 3 connections")
        others = [src_connect(srv.port, "127.0.0.2") for _ in range(2)]
        held += others
        r = get(srv.port, "/healthz", src="127.0.0.2")
        check_eq(r.status, 200, "the 3rd connection of 127.0.0.2")
        held.pop(0).close()
        wait_until(lambda: get(srv.port, "/healthz").status == 200, T(10),
                   what="127.0.0.1 served again once one of its connections closed")
        st = srv.stats()
        check(st["per_ip_refused"] >= 1, "/stats per_ip_refused = %r" % st["per_ip_refused"])
    finally:
        for s in held:
            s.close()


def t_slowloris(srv):
    """One header byte per second: cut about --header-timeout after the
    accept, while another client is served at once."""
    st0 = srv.stats()["header_timeout_closed"]
    s = raw_connect(srv.port, 10)
    result = {}

    def slow():
        result["t"], result["got"] = trickle(s, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ", 1.0, 20 * T(1))
    th = threading.Thread(target=slow, daemon=True)
    th.start()
    try:
        time.sleep(1.0)
        t0 = time.monotonic()
        r = curl(srv.url("/healthz"))
        el = time.monotonic() - t0
        check_eq(r.status, 200, "/healthz while a client trickles")
        check(el < T(1), "/healthz took %.2fs while a client trickles" % el)
        th.join(30)
    finally:
        s.close()
    t = result.get("t")
    check(t is not None, "the trickling connection is still open after %.0fs" % (20 * T(1)))
    diag("slowloris cut %.2fs after its first byte (--header-timeout %gs)" % (t, TIMEOUT))
    check(TIMEOUT - 0.3 <= t <= TIMEOUT + 1.5 * T(1), "cut after %.2fs, want %g..%gs"
          % (t, TIMEOUT - 0.3, TIMEOUT + 1.5 * T(1)))
    check_eq(result["got"], b"", "what the trickling client was answered")
    check(srv.stats()["header_timeout_closed"] > st0, "/stats header_timeout_closed did not move")


def t_silent(srv):
    s = raw_connect(srv.port, 10)
    try:
        data, t = read_to_end(s, TIMEOUT + 5 * T(1))
    finally:
        s.close()
    check(t is not None, "a connection that sends nothing is still open after %.1fs" % (TIMEOUT + 5 * T(1)))
    check(TIMEOUT - 0.3 <= t <= TIMEOUT + 1.5 * T(1), "silent connection cut after %.2fs" % t)


def t_slow_body(srv):
    s = raw_connect(srv.port, 10)
    try:
        t, got = trickle(s, b"POST /pub/slowbody HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n",
                         0.5, 20 * T(1))
    finally:
        s.close()
    check(t is not None, "a publish body trickled at 2 bytes/s is still being read after %.0fs" % (20 * T(1)))
    check(t <= TIMEOUT + 1.5 * T(1), "slow body cut after %.2fs" % t)
    check_eq(poll_json(srv, "slowbody", "?since=0")["messages"], [], "messages published by the slow body")


def t_keepalive_idle_then_trickle(srv):
    s = raw_connect(srv.port, 10)
    try:
        req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        s.sendall(req)
        check_eq(read_response(s, 10).status, 200, "first request")
        time.sleep(TIMEOUT + 1.5)
        check(still_open(s), "an idle keep-alive connection was cut by --header-timeout")
        s.sendall(req)
        check_eq(read_response(s, 10).status, 200, "a request after %.1fs idle on the same connection"
                 % (TIMEOUT + 1.5))
        # Two sweeps (0.5 s each) to take the idle byte count; bytes sent
        # before that would count from the next byte on.
        time.sleep(1.2)
        t, got = trickle(s, b"GET /healthz HTTP/1.1\r\n", 1.0, 20 * T(1))
        check(t is not None, "a trickled second request is still open after %.0fs" % (20 * T(1)))
        diag("keep-alive trickle cut %.2fs after its first byte" % t)
        check(TIMEOUT - 0.3 <= t <= TIMEOUT + 1.5 * T(1), "trickled second request cut after %.2fs" % t)
    finally:
        s.close()


def t_long_lived(srv):
    """What has been received in full is not on the request clock."""
    st0 = srv.stats()["header_timeout_closed"]
    sse = raw_connect(srv.port, 10)
    ws = None
    try:
        sse.sendall(b"GET /sse/life HTTP/1.1\r\nHost: x\r\n\r\n")
        buf, eof = recv_until(sse, b"retry:", T(10))
        check(buf.startswith(b"HTTP/1.1 200"), "SSE: %r" % buf[:100])
        lp = BgCurl(srv.url("/longpoll/life?timeout=%d" % (TIMEOUT + 2)), timeout=30)
        ws = RawWS(srv.port, "/ws/life")
        t_end = time.monotonic() + TIMEOUT + 2
        while time.monotonic() < t_end:
            ws.send_frame(0x9, b"hi")
            f = ws.recv_frame(5)
            while f is not None and f.opcode == 0x9:   # the server's own heartbeat ping
                f = ws.recv_frame(5)
            check(f is not None and f.opcode == 0xA, "WebSocket ping not answered: %r" % (f,))
            time.sleep(0.5)
        res = lp.join(T(15))
        check_eq(res.status, 200, "long poll of %ds" % (TIMEOUT + 2))
        check_eq(res.json()["messages"], [], "long poll answer at its timeout")
        check(still_open(sse), "the SSE stream was cut")
        check_eq(srv.stats()["header_timeout_closed"], st0, "header_timeout_closed")
    finally:
        sse.close()
        if ws:
            ws.close()


def t_ws_rate(srv):
    before = poll_json(srv, "rate")["last_id"]
    # 15/s for 3 s: above the burst of 20, below the rate of 20/s
    ws = RawWS(srv.port, "/ws/rate")
    try:
        for i in range(45):
            ws.send(ws_frame(0x1, "steady %d" % i))
            time.sleep(1 / 15)
        wait_until(lambda: poll_json(srv, "rate")["last_id"] - before == 45, T(10),
                   what="45 steady publishes")
        check(still_open(ws.sock), "the steady publisher was closed")
    finally:
        ws.close()
    st0 = srv.stats()["ws_publish_rate_closed"]
    before = poll_json(srv, "rate")["last_id"]
    ws = RawWS(srv.port, "/ws/rate")
    try:
        ws.send(b"".join(ws_frame(0x1, "burst %d" % i) for i in range(60)))
        f = ws.read_until_close(10)
        check(f is not None, "no close frame after 60 publishes at once")
        check_eq(f.close_code(), 1008, "close code")
        check(b"publish rate exceeded" in f.payload, "close reason %r" % f.payload)
    finally:
        ws.close()
    n = poll_json(srv, "rate")["last_id"] - before
    check(20 <= n <= 22, "%d of the 60 burst messages were published, want the burst of 20 (+ what "
          "refilled meanwhile)" % n)
    check_eq(srv.stats()["ws_publish_rate_closed"], st0 + 1, "/stats ws_publish_rate_closed")


def header_request(port, n):
    """GET /healthz with an n-byte header value; (status or None, closed)."""
    s = raw_connect(port, 10)
    try:
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * n + b"\r\nConnection: close\r\n\r\n")
        except OSError:
            pass                  # refused before all was sent: the answer may be there
        data, closed = read_to_end(s, T(10))
    finally:
        s.close()
    status = int(data[9:12]) if data.startswith(b"HTTP/1.1 ") else None
    return status, data


def t_header_size(tap):
    for mem, ok, big in (("8KiB", 6000, (9000, 64 * 1024)), ("32KiB", 28000, (40000,))):
        with Server(tap, "--connection-memory", mem, label="[--connection-memory %s]" % mem) as srv:
            def run():
                status, data = header_request(srv.port, ok)
                check_eq(status, 200, "a %d-byte header under --connection-memory %s" % (ok, mem))
                for n in big:
                    status, data = header_request(srv.port, n)
                    check_eq(status, 431, "a %d-byte header over --connection-memory %s (got %r)"
                             % (n, mem, data[:80]))
                check(srv.healthz(), "/healthz after oversized headers")
            tap.run("--connection-memory %s: a %d-byte header is served, %s bytes get 431 and a close"
                    % (mem, ok, " and ".join(str(n) for n in big)), run)


def t_flags():
    p = subprocess.run([SERVER, "--help"], capture_output=True, timeout=10)
    out = p.stdout.decode()
    for flag in ("--publish-token", "--subscribe-token", "--allow-origin", "--max-connections-per-ip",
                 "--header-timeout", "--ws-publish-rate"):
        check(flag in out, "--help does not mention %s" % flag)
    for args, name in ((["--publish-token", "has space"], "--publish-token"),
                       (["--publish-token", ""], "--publish-token"),
                       (["--subscribe-token", "semi;colon"], "--subscribe-token"),
                       (["--allow-origin", "good.example"], "--allow-origin"),
                       (["--allow-origin", "http://good.example/path"], "--allow-origin"),
                       (["--allow-origin", "http://a.example,*"], "--allow-origin"),
                       (["--max-connections-per-ip", "-1"], "--max-connections-per-ip"),
                       (["--header-timeout", "soon"], "--header-timeout"),
                       (["--ws-publish-rate", "-5"], "--ws-publish-rate")):
        p = subprocess.run([SERVER, "--port", "0"] + args, capture_output=True, timeout=10)
        check_eq(p.returncode, 2, "exit status of %r" % args)
        check(name in p.stderr.decode(), "stderr of %r does not name %s: %r" % (args, name, p.stderr[:200]))


def main():
    tap = Tap(__file__, watchdog_s=240)
    tap.run("--help names every security flag; malformed tokens, origins and limits exit 2", t_flags)
    with Server(tap, "--publish-token", PUB, "--subscribe-token", SUB, "--allow-origin", GOOD) as srv:
        tap.run("--publish-token: POST /pub is 401 (WWW-Authenticate: Bearer, JSON error) without it, "
                "with a wrong, shorter or the subscribe token, in ?token= or as Basic; 200 with it", t_publish_token,
                srv)
        tap.run("--subscribe-token: poll, longpoll, sse, drop are 401 without or with a wrong token, 200 "
                "with ?token= or the header; /healthz /stats /metrics and the page stay public",
                t_subscribe_token, srv)
        tap.run("WebSocket: upgrade 401 without the subscribe token; a text frame without the publish "
                "token closes 1008 and publishes nothing; with Authorization: Bearer it publishes",
                t_ws_tokens, srv)
        tap.run("--allow-origin: a WebSocket upgrade from a foreign Origin (or null, or a look-alike) is "
                "403; listed, the server's own and no Origin are 101", t_origin_ws, srv)
        tap.run("--allow-origin: a POST from a foreign Origin is 403 even with the token; listed and own "
                "origins publish", t_origin_post, srv)
        tap.run("CORS: Access-Control-Allow-Origin (also on a 401 and on SSE) for a listed Origin, none "
                "otherwise, always Vary: Origin", t_cors, srv)
        tap.run("CORS preflight: OPTIONS is 204 with Allow-Methods, Allow-Headers (Authorization, "
                "Last-Event-ID), Max-Age; 403 for a foreign origin; 404 for an unknown path", t_preflight, srv)
        def counters():
            st = srv.stats()
            check(st["unauthorized"] > 0 and st["origin_refused"] > 0, "unauthorized %r, origin_refused %r"
                  % (st["unauthorized"], st["origin_refused"]))
            m = curl(srv.url("/metrics")).body.decode()
            for name in ("unauthorized_total", "origin_refused_total", "per_ip_refused_total",
                         "header_timeout_closed_total", "ws_publish_rate_closed_total"):
                check("pushpull_" + name in m, "/metrics has no pushpull_%s" % name)
        tap.run("/stats counts unauthorized and origin_refused; /metrics has every security counter", counters)
    t_ws_subscribe_only_needs_no_token(tap)
    t_env_token(tap)
    t_no_origin_config(tap)
    # --heartbeat 1: a held SSE stream whose client left is noticed within 1 s
    with Server(tap, "--max-connections-per-ip", "3", "--heartbeat", "1") as srv:
        tap.run("--max-connections-per-ip 3: a 4th connection from 127.0.0.1 gets 503 + Connection: "
                "close while 127.0.0.2 is served; 200 again once one closes", t_per_ip, srv)
    with Server(tap, "--header-timeout", "%gs" % TIMEOUT, "--ws-publish-rate", "20") as srv:
        tap.run("SSE, long poll and WebSocket outlive --header-timeout 2s (only requests still "
                "arriving are on its clock)", t_long_lived, srv)
        tap.run("--header-timeout 2s: a slowloris (one header byte per second) is cut after ~2s with "
                "no answer while another client is served at once", t_slowloris, srv)
        tap.run("--header-timeout 2s: a connection that sends nothing is cut after ~2s", t_silent, srv)
        tap.run("--header-timeout 2s: a publish body trickled at 2 bytes/s is cut, nothing published",
                t_slow_body, srv)
        tap.run("--header-timeout 2s: an idle keep-alive connection outlives it (--idle-timeout governs), "
                "a trickled next request on it is cut ~2s after its first byte", t_keepalive_idle_then_trickle,
                srv)
        tap.run("--ws-publish-rate 20: 15 msg/s for 3s all published; 60 at once close 1008 "
                "'publish rate exceeded' after the burst of 20; counted in /stats", t_ws_rate, srv)
    t_header_size(tap)
    tap.done()


if __name__ == "__main__":
    main()
