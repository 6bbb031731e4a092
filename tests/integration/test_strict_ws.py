"""Strict at the edge (issue 13), WebSocket: close-frame rules (RFC 6455
5.5.1, 7.4) and the opening handshake (RFC 6455 4.2.1, HTTP/1.1 only, no
body). Each case on raw sockets, then an SSE and a WebSocket bystander
must have got every message and the server's fds must be back."""

import struct

from harness import (Tap, Server, Bystanders, RawWS, exchange, error_body_ok, ws_key, ws_accept,
                     check, check_eq, HOST)

CH = "edgews"


def close_answer(srv, payload):
    """Send a close frame with `payload`; the code of the server's close."""
    w = RawWS(srv.port, "/ws/" + CH)
    try:
        w.send_frame(0x8, payload)
        while True:
            f = w.recv_frame(10)
            check(f is not None, "connection closed without a close frame (payload %r)" % payload)
            if f.opcode == 0x8:
                return f.close_code()
    finally:
        w.sock.close()


def t_close_codes(srv, by):
    check_eq(close_answer(srv, b"\x03"), 1002, "close code for a 1-byte close body")
    check_eq(close_answer(srv, b"\xff"), 1002, "close code for another 1-byte close body")
    for code in (1012, 1013, 1014):
        check_eq(close_answer(srv, struct.pack("!H", code) + b"bye"), code,
                 "close code echoed for a registered %d" % code)
    check_eq(close_answer(srv, struct.pack("!H", 1000)), 1000, "close code echoed for 1000")
    check_eq(close_answer(srv, struct.pack("!H", 1015)), 1002, "close code for 1015 (never sent)")
    check_eq(close_answer(srv, struct.pack("!H", 999)), 1002, "close code for 999")
    check_eq(close_answer(srv, b""), None, "close code for an empty close (echoed empty)")
    by.check("close codes")


def upgrade_raw(srv, key_lines, version="HTTP/1.1", extra=(), body=b""):
    lines = ["GET /ws/%s %s" % (CH, version), "Host: %s:%d" % (HOST, srv.port),
             "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13"]
    lines += key_lines + list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def t_key_whitespace(srv, by):
    for sp in (" ", "\t", "  \t"):
        key = ws_key()
        r, rest, closed = exchange(srv.port, upgrade_raw(srv, ["Sec-WebSocket-Key:%s%s%s" % (sp, key, sp)]),
                                   wait=0.3)
        check_eq(r.status, 101, "upgrade with whitespace %r around the key" % sp)
        check_eq(r.header("sec-websocket-accept"), ws_accept(key), "accept for a key with OWS")
    by.check("key whitespace")


def refused(srv, raw, what, want_close=True):
    r, rest, closed = exchange(srv.port, raw, wait=5 if want_close else 0.3)
    check(r.status == 400, "%s: status %s, want 400 (body %r)" % (what, r.status, r.body[:200]))
    ok, msg = error_body_ok(r)
    check(ok, "%s: %s" % (what, msg))
    if want_close:
        check(closed, "%s: connection left open" % what)
    check(rest == b"", "%s: bytes after the answer: %r" % (what, rest[:100]))


def t_handshake_refusals(srv, by):
    k1, k2 = ws_key(), ws_key()
    refused(srv, upgrade_raw(srv, ["Sec-WebSocket-Key: " + k1, "Sec-WebSocket-Key: " + k2]),
            "two different keys", want_close=False)
    refused(srv, upgrade_raw(srv, ["Sec-WebSocket-Key: " + k1, "Sec-WebSocket-Key: " + k1]),
            "the same key twice", want_close=False)
    refused(srv, upgrade_raw(srv, ["Sec-WebSocket-Key: %s, %s" % (k1, k2)]), "a key list",
            want_close=False)
    refused(srv, upgrade_raw(srv, ["Sec-WebSocket-Key: " + k1], version="HTTP/1.0"),
            "an HTTP/1.0 upgrade")
    refused(srv, upgrade_raw(srv, ["Sec-WebSocket-Key: " + k1], extra=["Content-Length: 3"], body=b"abc"),
            "an upgrade with a Content-Length body")
    refused(srv, upgrade_raw(srv, ["Sec-WebSocket-Key: " + k1], extra=["Transfer-Encoding: chunked"],
                             body=b"3\r\nabc\r\n0\r\n\r\n"), "an upgrade with a chunked body")
    by.check("handshake refusals")


def main():
    tap = Tap(__file__)
    with Server(tap, "--quiet") as srv:
        by = Bystanders(srv)
        try:
            tap.run("close frames: 1-byte body 1002, 1012-1014 accepted", t_close_codes, srv, by)
            tap.run("Sec-WebSocket-Key: whitespace around it tolerated", t_key_whitespace, srv, by)
            tap.run("handshake: repeated key, HTTP/1.0, body: 400 JSON", t_handshake_refusals, srv, by)
        finally:
            by.close()
    tap.done()


if __name__ == "__main__":
    main()
