"""Strict at the edge (issue 13): request framing, Host, the request target
and NUL bytes, each class with several variants on raw sockets. Every
refusal is the documented status with a JSON {"error": ...} body and a
closed connection, with nothing after the answer (no bytes of the request
read as a next one). After each case an SSE and a WebSocket bystander must
have got every message and the server's fds must be back where they were."""

from harness import (Tap, Server, Bystanders, exchange, error_body_ok, check, check_eq,
                     raw_connect, recv_until, HOST, T)

CH = "edge"


def req(head, body=b"", version="HTTP/1.1", host=True, target="/pub/" + CH, method="POST"):
    lines = ["%s %s %s" % (method, target, version)]
    if host:
        lines.append("Host: %s" % HOST)
    lines += head
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


SMUGGLED = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


def refused(srv, raw, status, what, json_body=True):
    r, rest, closed = exchange(srv.port, raw)
    check(r.status == status, "%s: status %s, want %s (body %r)" % (what, r.status, status, r.body[:200]))
    if json_body:
        ok, msg = error_body_ok(r)
        check(ok, "%s: %s" % (what, msg))
        check_eq((r.header("connection") or "").lower(), "close", "%s: Connection header" % what)
    check(closed, "%s: the connection stays open after the refusal" % what)
    if json_body:
        check(rest == b"", "%s: bytes after the answer (a smuggled request answered?): %r"
              % (what, rest[:200]))
    return r


def accepted(srv, raw, what, status=200):
    r, rest, closed = exchange(srv.port, raw, wait=0.3)
    check(r.status == status, "%s: status %s, want %s (body %r)" % (what, r.status, status, r.body[:200]))
    return r


FRAMING = [
    ("Content-Length with Transfer-Encoding",
     req(["Content-Length: 5", "Transfer-Encoding: chunked"], b"0\r\n\r\n" + SMUGGLED), 400),
    ("Transfer-Encoding then Content-Length",
     req(["Transfer-Encoding: chunked", "Content-Length: 40"], b"0\r\n\r\n" + SMUGGLED), 400),
    ("two different Content-Length",
     req(["Content-Length: 5", "Content-Length: 6"], b"hello" + SMUGGLED), 400),
    ("two equal Content-Length", req(["Content-Length: 5", "Content-Length: 5"], b"hello"), 400),
    ("space before the colon", req(["Content-Length : 5"], b"hello" + SMUGGLED), 400),
    ("tab before the colon", req(["Transfer-Encoding\t: chunked"], b"0\r\n\r\n"), 400),
    ("chunked not last", req(["Transfer-Encoding: chunked, gzip"], b"5\r\nhello\r\n0\r\n\r\n"), 400),
    ("unknown coding alone", req(["Transfer-Encoding: gzip"], b"hello"), 400),
    ("unknown coding before chunked", req(["Transfer-Encoding: gzip, chunked"], b"0\r\n\r\n"), 501),
    ("chunked twice", req(["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"],
                          b"0\r\n\r\n"), 400),
    ("chunked with trailing comma", req(["Transfer-Encoding: chunked,"], b"0\r\n\r\n"), 400),
    ("Transfer-Encoding in HTTP/1.0",
     req(["Transfer-Encoding: chunked"], b"0\r\n\r\n", version="HTTP/1.0"), 400),
    ("Content-Length not digits after a good one", req(["Content-Length: 5", "Content-Length: -1"],
                                                       b"hello"), 400),
]

# libmicrohttpd parses the first Content-Length itself and answers before
# any of our code runs: the status and the close hold, the body is its HTML.
BAD_LENGTH = [
    ("negative Content-Length", req(["Content-Length: -5"], b"hello"), 400),
    ("signed Content-Length", req(["Content-Length: +5"], b"hello"), 400),
    ("Content-Length past 2^64", req(["Content-Length: 18446744073709551616"], b"hello"), 413),
    ("Content-Length list", req(["Content-Length: 5, 5"], b"hello"), 400),
]

HOSTS = [
    ("no Host in HTTP/1.1", req([], method="GET", target="/healthz", host=False), 400),
    ("two Host fields", req(["Host: other"], method="GET", target="/healthz"), 400),
    ("empty Host", req(["Host:"], method="GET", target="/healthz", host=False), 400),
    ("Host with a space", req(["Host: a b"], method="GET", target="/healthz", host=False), 400),
    ("Host with a slash", req(["Host: a/b"], method="GET", target="/healthz", host=False), 400),
]

TARGETS_AND_NULS = [
    ("NUL in the path", req([], method="GET", target="/poll/%s\0x" % CH), 400),
    ("NUL in a query argument", req([], method="GET", target="/poll/%s?since=1\0x" % CH), 400),
    ("%00 in the path", req([], method="GET", target="/poll/%s%%00x" % CH), 400),
    ("%00 in a query argument", req([], method="GET", target="/poll/%s?since=1%%00" % CH), 400),
    ("%00 in a static file name", req([], method="GET", target="/web/index.html%00.png"), 400),
    ("NUL in a bearer token", req(["Authorization: Bearer abc\0def"], method="GET",
                                  target="/poll/" + CH), 400),
    ("NUL in Last-Event-ID", req(["Last-Event-ID: 1\0 9"], method="GET", target="/sse/" + CH), 400),
    ("NUL in the last field", req(["Accept: */*\0\0\0\0x"], method="GET", target="/healthz"), 400),
    ("a line that starts with NUL", req(["\0GET /healthz HTTP/1.1"], method="GET",
                                        target="/healthz"), 400),
    ("bare CR in a field value", req(["X-A: 1\rX-B: 2"], method="GET", target="/healthz"), 400),
    ("folded field", req(["X-A: 1", "  2"], method="GET", target="/healthz"), 400),
    ("space in the target", req([], method="GET", target="/healthz x"), 400),
    ("non-ASCII byte in the target", req([], method="GET", target="/poll/\xe9"), 400),
    ("userinfo in an absolute target", req([], method="GET", target="http://u@h/healthz"), 400),
    ("absolute target of another scheme", req([], method="GET", target="ftp://h/healthz"), 400),
]


def t_cases(srv, by, cases, json_body=True):
    for name, raw, status in cases:
        refused(srv, raw, status, name, json_body)
        by.check(name)


def t_nul_in_name(srv, by):
    """A NUL in a field name leaves a line without a colon: libmicrohttpd
    refuses it itself (400, its HTML body) and closes."""
    refused(srv, req(["X-A\0b: 1"], method="GET", target="/healthz"), 400, "NUL in a name",
            json_body=False)
    by.check("NUL in a name")


def t_good_still_served(srv, by):
    """What is allowed stays allowed: chunked alone, HTTP/1.0 without Host,
    bare LF line ends, an absolute-form target (RFC 9112 3.2.2)."""
    accepted(srv, req(["Transfer-Encoding: chunked"], b"5\r\nhello\r\n0\r\n\r\n"), "chunked publish")
    accepted(srv, req(["Transfer-Encoding: Chunked"], b"0\r\n\r\n"), "Chunked in capitals")
    accepted(srv, req(["Content-Length: 5"], b"hello"), "Content-Length publish")
    accepted(srv, b"GET /healthz HTTP/1.0\r\n\r\n", "HTTP/1.0 without Host")
    accepted(srv, b"GET /healthz HTTP/1.1\nHost: x\n\n", "bare LF line ends")
    r = accepted(srv, req([], method="GET", target="http://%s:%d/poll/%s?since=0"
                          % (HOST, srv.port, CH)), "absolute-form GET")
    check(len(r.json()["messages"]) >= 3, "absolute-form poll: %r" % r.body[:200])
    accepted(srv, req(["Content-Length: 2"], b"ab", target="HTTP://%s/pub/%s" % (HOST, CH)),
             "absolute-form POST, scheme in capitals")
    by.check("good requests")


def head_then_get(srv, target):
    """HEAD target then GET /healthz on one connection: the HEAD answer's
    headers, then the second answer must start right after them."""
    s = raw_connect(srv.port)
    try:
        s.sendall(b"HEAD " + target.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        data, eof = recv_until(s, b"\r\n\r\nok\n", T(10))
    finally:
        s.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    check(head.startswith(b"HTTP/1.1 200"), "HEAD %s: %r" % (target, head[:100]))
    check(rest.startswith(b"HTTP/1.1 200") and rest.endswith(b"\r\n\r\nok\n"),
          "the answer after HEAD %s: %r" % (target, rest[:120]))
    return head.decode("latin-1").lower()


def t_head_stream(srv, by):
    """HEAD on the SSE endpoint: headers only, and the next answer on the
    same connection parses cleanly; the same for the other GET endpoints."""
    head = head_then_get(srv, "/sse/" + CH)
    check("content-type: text/event-stream" in head, "HEAD /sse headers: %r" % head)
    for target in ("/poll/" + CH, "/longpoll/%s?timeout=0" % CH, "/healthz", "/"):
        head_then_get(srv, target)
    by.check("HEAD")


def main():
    tap = Tap(__file__)
    with Server(tap, "--header-timeout", "3s", "--quiet") as srv:
        by = Bystanders(srv)
        try:
            tap.run("framing: 400/501 and close, nothing smuggled", t_cases, srv, by, FRAMING)
            tap.run("bad Content-Length: libmicrohttpd's 400/413 and close", t_cases, srv, by,
                    BAD_LENGTH, False)
            tap.run("Host: exactly one on HTTP/1.1, a host[:port]", t_cases, srv, by, HOSTS)
            tap.run("request target and NUL bytes: 400 and close", t_cases, srv, by, TARGETS_AND_NULS)
            tap.run("NUL in a field name: 400 and close", t_nul_in_name, srv, by)
            tap.run("chunked, HTTP/1.0, bare LF, absolute form: served", t_good_still_served, srv, by)
            tap.run("HEAD on streaming endpoints: no body, next answer clean", t_head_stream, srv, by)
        finally:
            by.close()
    tap.done()


if __name__ == "__main__":
    main()
