"""Traffic captured from bin/pushpull-server for the guide (scripts/docs.py).

Each capture talks to a server started on an ephemeral 127.0.0.1 port over
a plain socket, so every byte is seen, and returns the exchange as text.
What changes from one run to the next is normalised to a fixed value of
the same length (Normaliser), so the text is reproducible and byte counts
stay true: the port, Date headers, epochs, message timestamps. The
WebSocket key and masking key are fixed by us: RFC 6455's own examples.
Every capture checks what it shows (a held long poll was held, an accept
value verifies) and raises CaptureError when the server does otherwise.
Standard library only."""

import base64
import hashlib
import re
import socket
import subprocess

HOST = "127.0.0.1"
SHOWN_PORT = 8080                                # the server's default port
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="                # RFC 6455 §1.3's example key
WS_MASK = bytes.fromhex("37fa213d")              # RFC 6455 §5.7's example mask
SHOWN_DATE = "Fri, 01 Jan 2027 00:00:00 GMT"
SHOWN_TS = 1798761600000000                      # 2027-01-01T00:00:00Z in µs
SHOWN_EPOCH = 1798761500000000
TIMEOUT = 10.0
OPCODES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}


class CaptureError(Exception):
    """The server did not behave as the guide says."""


def expect(cond, what):
    if not cond:
        raise CaptureError(what)


# ------------------------------------------------------------------ server

class Server:
    """bin/pushpull-server --port 0 ARGS, stopped with SIGTERM."""

    def __init__(self, binary, *args):
        self.proc = subprocess.Popen([binary, "--port", "0"] + list(args), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode(errors="replace")
        m = re.fullmatch(r"listening on http://127\.0\.0\.1:(\d+)\s*", line)
        if not m:
            self.stop()
            raise CaptureError("%s printed %r, not 'listening on http://127.0.0.1:PORT'" % (binary, line))
        self.port = int(m.group(1))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


# ------------------------------------------------------------------ normalising

class Normaliser:
    """Replaces volatile values by fixed ones of the same length, each
    distinct value always by the same replacement (a ts in a poll answer
    and in an SSE event stays the same number)."""

    def __init__(self):
        self.ports = {}
        self.seen = {"ts": {}, "epoch": {}}

    def add_port(self, port):
        self.ports[str(port)] = str(SHOWN_PORT + len(self.ports))

    def _fixed(self, kind, value, base, step):
        table = self.seen[kind]
        if value not in table:
            table[value] = str(base + step * len(table)).rjust(len(value), "0")[-len(value):]
        return table[value]

    def text(self, s):
        for real, shown in self.ports.items():
            s = s.replace("127.0.0.1:%s" % real, "127.0.0.1:%s" % shown)
        s = re.sub(r"Date: [^\r\n]+", "Date: " + SHOWN_DATE, s)
        s = re.sub(r'"ts":(\d+)', lambda m: '"ts":' + self._fixed("ts", m.group(1), SHOWN_TS, 10000), s)
        s = re.sub(r'("epoch":|Pushpull-Epoch: )(\d+)',
                   lambda m: m.group(1) + self._fixed("epoch", m.group(2), SHOWN_EPOCH, 1000000), s)
        return s

    def data(self, b):
        return self.text(b.decode("latin-1")).encode("latin-1")


# ------------------------------------------------------------------ HTTP

def connect(port):
    s = socket.create_connection((HOST, port), timeout=TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def request(method, port, path, headers=(), body=b""):
    """An HTTP/1.1 request as curl would send it (without User-Agent)."""
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s:%d" % (HOST, port), "Accept: */*"]
    lines += ["%s: %s" % h for h in headers]
    if body:
        lines += ["Content-Length: %d" % len(body), "Content-Type: text/plain"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Reader:
    """Bytes from one socket, read as far as asked."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def until(self, mark):
        while mark not in self.buf:
            self.fill()
        i = self.buf.index(mark) + len(mark)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def take(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def response(reader):
    """(head, body) of a response with a Content-Length."""
    head = reader.until(b"\r\n\r\n")
    m = re.search(rb"\r\nContent-Length: (\d+)\r\n", head, re.I)
    return head, reader.take(int(m.group(1)) if m else 0)


def exchange(port, method, path, headers=(), body=b""):
    """One request on a new connection: (request bytes, head, body)."""
    req = request(method, port, path, headers, body)
    with connect(port) as s:
        s.sendall(req)
        head, data = response(Reader(s))
    return req, head, data


def show_http(norm, req, head, body=b"", note=None):
    """An exchange as the guide prints it: '>' request lines, '<' response."""
    out = ["> " + line for line in norm.data(req).decode().split("\r\n")[:-1]]
    out += ["< " + line for line in norm.data(head).decode().split("\r\n")[:-1]]
    if body:
        out.append(norm.data(body).decode())
    if note:
        out.append(note)
    return "\n".join(out)


def publish(port, data):
    req, head, body = exchange(port, "POST", "/pub/news", body=data.encode())
    expect(head.startswith(b"HTTP/1.1 200"), "publish %r: %r" % (data, head[:40]))
    return req, head, body


# ------------------------------------------------------------------ SSE

def read_chunks(reader, stop):
    """Chunks of a chunked body until stop(joined text) is true: [chunk bytes]."""
    chunks = []
    while not stop(b"".join(chunks).decode()):
        size = int(reader.until(b"\r\n")[:-2], 16)
        chunks.append(reader.take(size + 2)[:-2])
    return chunks


def sse_stream(port, path, headers, stop):
    """(request, head, chunks) of an SSE stream read until stop(text)."""
    req = request("GET", port, path, headers)
    with connect(port) as s:
        s.sendall(req)
        r = Reader(s)
        head = r.until(b"\r\n\r\n")
        chunks = read_chunks(r, stop)
    return req, head, chunks


# ------------------------------------------------------------------ WebSocket

def ws_accept(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def ws_handshake(s, port, path):
    req = request("GET", port, path, [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                      ("Sec-WebSocket-Key", WS_KEY), ("Sec-WebSocket-Version", "13")])
    s.sendall(req)
    r = Reader(s)
    head = r.until(b"\r\n\r\n")
    expect(head.startswith(b"HTTP/1.1 101"), "no 101: %r" % head[:40])
    got = re.search(rb"Sec-WebSocket-Accept: (\S+)", head).group(1).decode()
    expect(got == ws_accept(WS_KEY), "accept %s, want %s" % (got, ws_accept(WS_KEY)))
    return req, head, r


def ws_frame(r):
    """(whole frame, header length) of the next frame (unmasked, from the server)."""
    b1 = r.take(2)
    n, hl = b1[1] & 0x7F, 2
    ext = {126: 2, 127: 8}.get(n, 0)
    if ext:
        n, hl = int.from_bytes(r.take(ext), "big"), 2 + ext
        b1 += n.to_bytes(ext, "big")
    return b1 + r.take(n), hl


def ws_client_frame(opcode, payload):
    """A masked client frame (payload < 126 bytes), masked with WS_MASK."""
    masked = bytes(p ^ WS_MASK[i % 4] for i, p in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + WS_MASK + masked


def hexdump(b):
    rows = []
    for i in range(0, len(b), 16):
        c = b[i:i + 16]
        rows.append("%04x  %-47s  %s" % (i, " ".join("%02x" % x for x in c),
                                         "".join(chr(x) if 32 <= x < 127 else "." for x in c)))
    return rows


def frame_line(f, hl):
    op = f[0] & 15
    text = f[hl:].decode(errors="replace") if op == 1 else f[hl:].hex(" ")
    return "%-12s %-6s %s" % (f[:2].hex(" "), OPCODES.get(op, "?"), text)


def frame_bits(f):
    b0, b1 = f[0], f[1]
    return ["byte 0 = 0x%02x: FIN=%d RSV1-3=%d%d%d opcode=0x%x (%s)" % (
        b0, b0 >> 7, (b0 >> 6) & 1, (b0 >> 5) & 1, (b0 >> 4) & 1, b0 & 15, OPCODES.get(b0 & 15, "?")),
        "byte 1 = 0x%02x: MASK=%d payload length=%d" % (b1, b1 >> 7, b1 & 0x7F)]


def crlf_lines(norm, b):
    return [line + "\\r\\n" for line in norm.data(b).decode().split("\r\n")[:-1]]


def silent_for(s, seconds):
    """True when nothing arrives on s for `seconds` (a held request stays held)."""
    s.settimeout(seconds)
    try:
        s.recv(1, socket.MSG_PEEK)
        return False
    except socket.timeout:
        return True
    finally:
        s.settimeout(TIMEOUT)
