#!/usr/bin/python3
"""Writes the seed corpora, tests/fuzz/corpus/<driver>/, from what the tests
feed the same code and from what the real server sends (bin/pushpull-server
started through the integration harness: its SSE stream, envelopes and 101
answer). Run from the repository after `make`; it replaces the seeds it
writes (file names say what each one is) and leaves other files alone, such
as regression inputs the fuzzers found.

    /usr/bin/python3 tests/fuzz/make_corpus.py
"""

import http.client
import os
import socket
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import Server, Tap, recv_until  # noqa: E402

KEY = "dGhlIHNhbXBsZSBub25jZQ=="        # fuzz_ws_handshake's key (RFC 6455 1.3)
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
MASK = b"\x37\xfa\x21\x3d"               # fixed, so the seeds are reproducible


def write(driver, name, data):
    d = os.path.join(HERE, "corpus", driver)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ------------------------------------------------------ from the real server

def capture(srv):
    """(SSE body bytes, [envelope texts], 101 answer, 101 answer + frames)."""
    ch = "corpus"
    bodies = ["hello", 'quote " backslash \\ newline \n tab \t', "caf\u00e9 \u2603 \U0001f600",
              "nul \x00 byte", "x" * 300]
    for b in bodies[:2]:
        srv.publish(ch, b)
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    conn.request("GET", "/sse/%s" % ch, headers={"Last-Event-ID": "0"})
    resp = conn.getresponse()
    for b in bodies[2:]:
        srv.publish(ch, b)
    sse = b""
    while sse.count(b"\n\n") < len(bodies) + 2 or b": heartbeat" not in sse:
        sse += resp.read1(65536)
    conn.close()
    envelopes = [ln[6:] for ln in sse.split(b"\n") if ln.startswith(b"data: ")]

    def upgrade(path):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, KEY)).encode())
        buf, _ = recv_until(s, b"\r\n\r\n", 10)
        if path.endswith("since=0"):
            buf, _ = recv_until(s, b"hello", 10, buf)
        s.close()
        return buf
    return sse, envelopes, upgrade("/ws/" + ch), upgrade("/ws/%s?since=0" % ch)


# ----------------------------------------------------------------- frames

def frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length=None):
    """A client frame (masked with MASK unless mask=False)."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + struct.pack("!H", n)
    else:
        head += bytes([m | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    return head + MASK + bytes(c ^ MASK[i % 4] for i, c in enumerate(payload))


def ws_server_seeds():
    close = frame(8, b"\x03\xe8bye")
    seeds = {
        "text": frame(1, "hello"),
        "text-empty": frame(1, ""),
        "text-utf8": frame(1, "w\u00f6rld \u2603"),
        "text-then-close": frame(1, "hello") + close,
        "several-in-one-segment": b"".join(frame(1, "b%d" % i) for i in range(1, 6)),
        "fragmented-ping-between": frame(1, "hel", fin=False) + frame(0, "lo ", fin=False)
                                   + frame(9, b"in the middle") + frame(0, "w\u00f6rld"),
        "fragmented-utf8-split": frame(1, b"\xc3", fin=False) + frame(0, b"\xa9t\xc3\xa9"),
        "len16": frame(1, "y" * 300),
        "len64-cut": frame(1, "z" * 65536)[:40],
        "len64-claimed-huge": frame(1, b"", length=1 << 62)[:14],
        "ping": frame(9, b"are you there?"),
        "pong": frame(10, b"unsolicited"),
        "close-1000": close,
        "close-empty": frame(8),
        "close-bad-code": frame(8, b"\x03\xed"),
        "close-one-byte": frame(8, b"\x03"),
        "binary": frame(2, b"\x00\x01\x02"),
        "invalid-utf8": frame(1, b"\xff\xfe"),
        "unmasked": frame(1, "hello", mask=False),
        "rsv1": frame(1, "hello", rsv=4),
        "reserved-opcode": frame(3, "x"),
        "ping-fragmented": frame(9, b"p", fin=False),
        "ping-126": frame(9, b"p" * 126),
        "continuation-first": frame(0, "orphan"),
        "text-inside-fragments": frame(1, "a", fin=False) + frame(1, "b"),
        "over-small-max": frame(1, "m" * 101),
        "truncated-header": frame(1, "hello")[:3],
    }
    # Two seed bytes first: bit 0 of the first picks the small --max-message;
    # the rest seed the splits and interleavings.
    for name, data in seeds.items():
        write("fuzz_ws_server", name, b"\x00\x00" + data)
    for seed in (b"\x01\x07", b"\x5a\xa5", b"\xfe\x33"):
        write("fuzz_ws_server", "mix-%02x%02x" % tuple(seed),
              seed + b"".join(frame(1, "m%d" % i) for i in range(40)) + frame(9) + close)


# ------------------------------------------------------------ SSE streams

def sse_seeds(real):
    streams = {
        "real-server": real,
        "spec-example": b"data: YHOO\ndata: +2\ndata: 10\n\n",
        "spec-fields": b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n",
        "crlf": b"id: 7\r\ndata: a\r\ndata: b\r\n\r\n",
        "cr-only": b"data: a\rdata: b\r\r",
        "bom": b"\xef\xbb\xbfdata: after a BOM\n\n",
        "bom-twice": b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\n",
        "event-type": b"event: gap\ndata: {\"gap\":true}\n\nevent: \ndata: default\n\n",
        "retry": b"retry: 1000\n\nretry: 12x\n\nretry: 99999999999999999999999\n\n",
        "id-with-nul": b"id: a\x00b\ndata: x\n\n",
        "id-only": b"id: 5\n\n",
        "no-final-blank": b"data: lost at the end\n",
        "field-no-colon": b"data\n\ndata\ndata\n\n",
        "long-line": b"data: " + b"L" * 2000 + b"\n\n",
        "comments": b":\n: heartbeat\n:no space\n\n",
    }
    # Byte 0: bits 0-3 how many chunk lengths follow, bits 4-5 max_size.
    for name, s in streams.items():
        write("fuzz_sse_parser", name, b"\x30" + s)
    write("fuzz_sse_parser", "real-server-split", b"\x34\x01\x07\x40\x03" + real)
    write("fuzz_sse_parser", "crlf-split-in-pair", b"\x32\x0a\x01" + streams["crlf"])
    write("fuzz_sse_parser", "bom-split", b"\x33\x01\x01\x01" + streams["bom"])
    write("fuzz_sse_parser", "small-max", b"\x00" + streams["long-line"])


# -------------------------------------------------------------- envelopes

def envelope_seeds(real):
    for i, e in enumerate(real):
        write("fuzz_envelope", "real-server-%d" % i, e)
    seeds = {
        "min": '{"id":1,"ts":0,"data":""}',
        "max-ints": '{"id":9223372036854775807,"ts":9223372036854775807,"data":"x"}',
        "escapes": '{"id":2,"ts":3,"data":"a\\"b\\\\c\\n\\u0000\\ud83d\\ude00"}',
        "reordered": '{"data":"x","ts":1,"id":2}',
        "spaces": '{ "id" : 1 , "ts" : 2 , "data" : "x" }',
        "extra-member": '{"id":1,"ts":2,"data":"x","more":[1,{"a":null}]}',
        "duplicate": '{"id":1,"id":2,"ts":2,"data":"x"}',
        "id-zero": '{"id":0,"ts":2,"data":"x"}',
        "id-too-big": '{"id":9223372036854775808,"ts":2,"data":"x"}',
        "float": '{"id":1.0,"ts":2,"data":"x"}',
        "gap": '{"gap":true,"since":3,"first_id":10,"lost":6}',
        "bad-utf8": b'{"id":1,"ts":2,"data":"hello\xb1\xb1\xb1"}',
        "trailing": '{"id":1,"ts":2,"data":"x"} ',
        "truncated": '{"id":1,"ts":2,"data":"x',
    }
    for name, s in seeds.items():
        write("fuzz_envelope", name, s)


# ------------------------------------------------------------- handshakes

def handshake_seeds(real, real_with_frames):
    ok = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Accept: %s\r\n\r\n" % ACCEPT)
    seeds = {
        "real-server": real,
        "real-server-with-frames": real_with_frames,
        "minimal": ok,
        "lf-only": ok.replace("\r\n", "\n"),
        "lower-case": ok.lower().replace(ACCEPT.lower(), ACCEPT),
        "token-lists": ok.replace("Connection: Upgrade", "Connection: keep-alive, Upgrade"),
        "two-accepts": ok.replace("\r\n\r\n", "\r\nSec-WebSocket-Accept: %s\r\n\r\n" % ACCEPT),
        "wrong-accept": ok.replace(ACCEPT, "x" * 28),
        "no-upgrade": ok.replace("Upgrade: websocket\r\n", ""),
        "extensions": ok.replace("\r\n\r\n", "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"),
        "continuation": ok.replace("Upgrade: websocket\r\n", "Upgrade:\r\n websocket\r\n"),
        "status-200": ok.replace("101 Switching Protocols", "200 OK"),
        "status-no-reason": ok.replace("101 Switching Protocols", "101"),
        "http10": ok.replace("HTTP/1.1", "HTTP/1.0"),
        "control-byte": ok.replace("Upgrade: websocket", "Upgrade: web\x01socket"),
        "long": ok.replace("\r\n\r\n", "\r\nX-Pad: " + "p" * 8200 + "\r\n\r\n"),
        "key-valid": KEY,
        "key-noncanonical": "dGhlIHNhbXBsZSBub25jZR==",
    }
    for name, s in seeds.items():
        write("fuzz_ws_handshake", name, s)


# ------------------------------------------------------- request pieces

def request_parts_seeds():
    seeds = {
        "channel": "news", "channel-max": "c" * 64, "channel-long": "c" * 65,
        "channel-chars": "a-b_c.D9", "channel-slash": "a/b",
        "u64-zero": "0", "u64-max": "18446744073709551615", "u64-over": "18446744073709551616",
        "u64-leading-zeros": "000000000000000000000042", "u64-sign": "-1",
        "dur-ms": "500ms", "dur-frac": "1.5s", "dur-us": "250us", "dur-h": "2h", "dur-bare": "0.25",
        "dur-bad-dot": "1.s", "dur-upper": "1MS", "dur-max": "18446744073709551615us",
        "dur-over": "5124095577h", "dur-long-frac": "0." + "9" * 40 + "s",
        "size-kib": "64KiB", "size-k": "1k", "size-g": "16GiB", "size-over": "17179869184G",
        "size-b": "12b",
        "utf8-ascii": "plain text", "utf8-2": "caf\u00e9", "utf8-4": "\U0001f600",
        "utf8-overlong": b"\xc0\xaf", "utf8-surrogate": b"\xed\xa0\x80", "utf8-above": b"\xf4\x90\x80\x80",
        "utf8-cut": b"ab\xe2\x82", "body-escapes": 'quote " backslash \\ \n\t\x00 end',
        "body-long": "0123456789abcdef" * 40,
    }
    for name, s in seeds.items():
        write("fuzz_request_parts", name, s)


def main():
    tap = Tap("make_corpus")
    with Server(tap, "--heartbeat", "0.2", "--history", "4") as srv:
        sse, envelopes, hs, hs_frames = capture(srv)
    sse_seeds(sse)
    envelope_seeds(envelopes)
    handshake_seeds(hs, hs_frames)
    ws_server_seeds()
    request_parts_seeds()


if __name__ == "__main__":
    main()
