"""The guide's traffic captures, in the order the guide tells them: one
server with the defaults (publish, polls, long polls, SSE, WebSocket) and
one with `--heartbeat 1s --history 4` (gap markers, heartbeats, a silent
WebSocket dropped). capture_all(binary) returns {block name: text}; the
mechanics (sockets, normalising, frames) are in capture.py."""

import time

import capture as c

DEFAULT_ARGS = ()
FAILURE_ARGS = ("--heartbeat", "1s", "--history", "4")
HOLD_S = 0.3                 # how long a long poll is shown to be held


def block(text):
    return "```\n%s\n```" % "\n".join(line.rstrip() for line in text.rstrip("\n").split("\n"))


def cmd(text):
    return "```sh\n%s\n```" % text


# ------------------------------------------------------------------ polling

def capture_publish(port, norm, out):
    out["publish"] = block(c.show_http(norm, *c.publish(port, "hello")))
    c.publish(port, "world")


def capture_poll(port, norm, out):
    req, head, body = c.exchange(port, "GET", "/poll/news?since=0")
    c.expect(b'"id":2' in body, "poll since=0 lacks id 2")
    out["poll"] = block(c.show_http(norm, req, head, body))
    out["poll-empty"] = block(c.show_http(norm, *c.exchange(port, "GET", "/poll/news?since=2")))
    out["poll-header-bytes"] = header_bytes(req, head)


def header_bytes(req, head):
    """The arithmetic of one poll's headers, from the captured bytes."""
    status = head.split(b"\r\n", 1)[0].decode()
    return ("That exchange: a request of **%d B** (all headers: a GET has no body) and response headers "
            "of **%d B** (`%s` through the blank line), so %d B of HTTP headers per poll before the body; "
            "a browser adds more (User-Agent, Accept-Language, cookies)."
            % (len(req), len(head), status, len(req) + len(head)))


def capture_longpoll_held(port, norm, out):
    req = c.request("GET", port, "/longpoll/news?since=2&timeout=30")
    with c.connect(port) as s:
        s.sendall(req)
        c.expect(c.silent_for(s, HOLD_S), "the long poll was answered before anything was published")
        c.publish(port, "third")
        head, body = c.response(c.Reader(s))
    c.expect(b"third" in body, "the held long poll was not answered with 'third'")
    out["longpoll-held"] = block(c.show_http(
        norm, req, head, body, "(held, nothing sent, until `third` was published %s s later)" % HOLD_S))


def capture_longpoll_rest(port, norm, out):
    c.publish(port, "fourth")
    c.publish(port, "fifth")
    req, head, body = c.exchange(port, "GET", "/longpoll/news?since=3&timeout=30")
    c.expect(b"fourth" in body and b"fifth" in body, "since=3 did not carry both waiting messages")
    out["longpoll-batch"] = block(c.show_http(norm, req, head, body))
    t0 = time.monotonic()
    req, head, body = c.exchange(port, "GET", "/longpoll/news?since=5&timeout=1")
    c.expect(time.monotonic() - t0 >= 0.9 and b'"messages":[]' in body, "timeout=1 was not an empty answer after 1 s")
    out["longpoll-timeout"] = block(c.show_http(norm, req, head, body, "(answered after 1 s: the timeout)"))


# ------------------------------------------------------------------ SSE

def sse_text(norm, req, head, chunks, note):
    lines = c.show_http(norm, req, head).split("\n")
    body = norm.data(b"".join(chunks)).decode()
    sizes = ", ".join(str(len(x)) for x in chunks)
    return block("\n".join(lines) + "\n" + body + note + "\n(chunk sizes on the wire, without their framing: %s)"
                 % sizes)


def capture_sse(port, norm, out):
    sent = []

    def stop(text):
        if not sent and '"id":5' in text:             # the backlog is in: publish a live one
            sent.append(c.publish(port, "live one"))
        return "live one" in text
    req, head, chunks = c.sse_stream(port, "/sse/news?since=3", (), stop)
    out["sse"] = sse_text(norm, req, head, chunks, "(the stream stays open; the capture stops here)")


# ------------------------------------------------------------------ WebSocket

def capture_ws(port, norm, out):
    with c.connect(port) as s:
        req, head, r = c.ws_handshake(s, port, "/ws/news?since=0")
        out["ws-handshake"] = block("\n".join(
            ["=== request (%d bytes) ===" % len(req)] + c.crlf_lines(norm, req) +
            ["=== response (%d bytes) ===" % len(head)] + c.crlf_lines(norm, head)))
        out["ws-accept"] = cmd(
            "$ printf '%%s' '%s%s' | openssl dgst -sha1 -binary | base64\n%s"
            % (c.WS_KEY, c.WS_GUID, c.ws_accept(c.WS_KEY)))
        frames = [c.ws_frame(r) for _ in range(7)]           # the hello, then ids 1-6
        out["ws-frames"] = block("\n".join(ws_frames_text(norm, frames)))
        out["ws-client"] = block("\n".join(ws_client_text(norm, s, r)))


def ws_frames_text(norm, frames):
    f, hl = norm.data(frames[1][0]), frames[1][1]
    lines = ["first frame, the hello:  " + norm.text(c.frame_line(*frames[0])),
             "=== the first message frame (%d bytes) ===" % len(f)]
    lines += c.hexdump(f) + c.frame_bits(f)
    lines.append("payload (%d bytes): %s" % (len(f) - hl, f[hl:].decode()))
    lines += ["next frame, %d bytes:  %s" % (len(g), norm.text(c.frame_line(g, h))) for g, h in frames[2:]]
    return lines


def ws_client_text(norm, s, r):
    hi = c.ws_client_frame(1, b"hi")
    s.sendall(hi)
    echo, hl = c.ws_frame(r)
    c.expect(b'"data":"hi"' in echo, "the client's frame was not published back as a message")
    close = c.ws_client_frame(8, (1000).to_bytes(2, "big"))
    s.sendall(close)
    answer, _ = c.ws_frame(r)
    return ["we send a masked text frame \"hi\": %s" % hi.hex(" "),
            "the server publishes it; back as: %s" % norm.text(c.frame_line(echo, hl)),
            "we send a masked close frame, code 1000: %s" % close.hex(" "),
            "the server answers: %s  (close, code %d)" % (answer.hex(" "), int.from_bytes(answer[2:4], "big"))]


# ------------------------------------------------------------------ failures

def capture_gaps(port, norm, out):
    for i in range(1, 11):
        c.publish(port, "m%d" % i)
    out["gap-poll"] = block(c.show_http(norm, *c.exchange(port, "GET", "/poll/news?since=2")))
    req, head, chunks = c.sse_stream(port, "/sse/news?since=1", [("Last-Event-ID", "3")],
                                     stop=lambda t: ": heartbeat" in t)
    out["gap-sse"] = sse_text(norm, req, head, chunks, "(stopped after the first heartbeat)")


def capture_ws_silent(port, norm, out):
    with c.connect(port) as s:
        _, head, r = c.ws_handshake(s, port, "/ws/news?since=3")
        t0 = time.monotonic()
        lines = [norm.text(head.split(b"\r\n", 1)[0].decode())]
        pings = 0
        while True:
            try:
                f, hl = c.ws_frame(r)
            except (EOFError, ConnectionResetError):
                lines.append("connection closed by the server")
                break
            pings += (f[0] & 15) == 9
            if (f[0] & 15) != 9 or pings == 1:
                lines.append(norm.text(c.frame_line(f, hl)))
        gone = time.monotonic() - t0
    c.expect(2.4 <= gone <= 5 and pings >= 1, "closed after %.1f s with %d pings" % (gone, pings))
    lines.append("(a ping every second; we answer none, and the server closes the connection "
                 "once 2.5 heartbeat periods have passed without a frame from us)")
    out["ws-silent"] = block("\n".join(lines))


def capture_all(binary):
    norm, out = c.Normaliser(), {}
    with c.Server(binary, *DEFAULT_ARGS) as a:
        norm.add_port(a.port)
        for step in (capture_publish, capture_poll, capture_longpoll_held, capture_longpoll_rest,
                     capture_sse, capture_ws):
            step(a.port, norm, out)
    with c.Server(binary, *FAILURE_ARGS) as b:
        norm.add_port(b.port)
        capture_gaps(b.port, norm, out)
        capture_ws_silent(b.port, norm, out)
    return out
