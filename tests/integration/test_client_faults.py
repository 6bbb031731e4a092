"""pushpull-client when things go wrong: exit codes (unreachable or silent
server, not a pushpull server, usage errors, SIGINT), and a misbehaving
server -- a small fake one written here -- that answers malformed JSON,
broken event streams, a wrong WebSocket handshake, bad frames, error
statuses, duplicated, reordered or gap-flagged messages. Whatever it does
is counted in the JSON; the client never crashes or hangs."""

import base64
import hashlib
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.parse

from harness import (Tap, Server, HOST, CLIENT, WS_GUID, run_client, client_tmpdir, _spawn, check,
                     check_eq, T, TestFailure)

# A short run: 3 subscribers, 50 msg/s, 1 s measured. A run whose
# subscribers cannot connect fails after --connect-timeout + 1 s.
SHORT = ["--subscribers", 3, "--rate", 50, "--duration", "1s", "--warmup", "200ms", "--drain", "500ms",
         "--connect-timeout", "1s", "--quiet"]
RUN_LIMIT = 30       # seconds before a client run counts as hung


# ------------------------------------------------------------ fake server

STATS = {"version": "fake", "uptime_s": 1.0, "channels": 1,
         "connections": {"http": 1, "longpoll": 0, "sse": 0, "ws": 0}, "published": 0,
         "deliveries": {"poll": 0, "longpoll": 0, "sse": 0, "ws": 0},
         "bytes_out": {"poll": 0, "longpoll": 0, "sse": 0, "ws": 0},
         "longpoll": {"woken": 0, "timed_out": 0}, "slow_consumers_dropped": 0, "gaps_served": 0,
         "cpu": {"user_s": 0.1, "sys_s": 0.1, "total_s": 0.2}, "rss_bytes": 1}


class FakeServer:
    """A threaded HTTP/1.1 server on an ephemeral loopback port that plays a
    broken pushpull-server. modes: {endpoint: behaviour}, endpoint one of
    healthz, stats, pub, poll, longpoll, sse, ws (see the h_* methods).
    Publishes are stored, so the "echo" behaviours serve this client's own
    messages back (duplicated, reordered, after a gap marker)."""

    def __init__(self, **modes):
        self.modes = dict(healthz="ok", stats="ok", pub="ok", poll="badjson", longpoll="badjson",
                          sse="garbage", ws="badaccept")
        self.modes.update(modes)
        self.hits = {}
        self.channels = {}                 # name -> [message JSON text], id = index + 1
        self.cond = threading.Condition()
        self.stop = threading.Event()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                fake.route(self)

            def do_HEAD(self):
                fake.route(self)

            def do_POST(self):
                fake.route(self)

        class Srv(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass                       # a client that went away: not news

        self.srv = Srv((HOST, 0), Handler)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    def url(self):
        return "http://%s:%d" % (HOST, self.port)

    def close(self):
        self.stop.set()
        with self.cond:
            self.cond.notify_all()
        self.srv.shutdown()
        self.srv.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
        return False

    # -- plumbing

    def route(self, h):
        u = urllib.parse.urlsplit(h.path)
        parts = u.path.split("/")
        kind = parts[1] if len(parts) > 1 else ""
        h.channel = parts[2] if len(parts) > 2 else ""
        h.query = urllib.parse.parse_qs(u.query)
        h.body = b""
        if h.command == "POST":
            h.body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        with self.cond:
            self.hits[kind] = self.hits.get(kind, 0) + 1
        fn = getattr(self, "h_" + kind, None)
        if fn is None:
            return self.send(h, 404, '{"error":"unknown path"}')
        fn(h, self.modes.get(kind))

    @staticmethod
    def send(h, status, body, ctype="application/json"):
        if isinstance(body, str):
            body = body.encode()
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)

    def since(self, h):
        v = h.headers.get("Last-Event-ID") or (h.query.get("since") or ["0"])[0]
        try:
            return int(v)
        except ValueError:
            return 0

    def messages(self, ch, since):
        with self.cond:
            return list(enumerate(self.channels.get(ch, []), 1))[since:]

    def stream(self, h, since, write, until=15.0):
        """Call write(list of (id, json)) with every message after `since`
        as it is published, until the client goes away or `until` s."""
        t0 = time.monotonic()
        idx = since
        try:
            while not self.stop.is_set() and time.monotonic() - t0 < until:
                with self.cond:
                    have = self.channels.get(h.channel, [])
                    if len(have) <= idx:
                        self.cond.wait(0.1)
                        have = self.channels.get(h.channel, [])
                    new = list(enumerate(have, 1))[idx:]
                    idx = len(have)
                write(new)
        except OSError:
            pass

    # -- endpoints

    def h_healthz(self, h, mode):
        if mode == "404":
            return self.send(h, 404, '{"error":"not here"}')
        self.send(h, 200, "ok", "text/plain")

    def h_stats(self, h, mode):
        self.send(h, 200, "{not json" if mode == "badjson" else json.dumps(STATS))

    def h_pub(self, h, mode):
        if mode == "500":
            return self.send(h, 500, '{"error":"publish refused"}')
        with self.cond:
            ch = self.channels.setdefault(h.channel, [])
            n = len(ch) + 1
            ch.append(json.dumps({"id": n, "ts": int(time.time() * 1e6), "data": h.body.decode()}))
            self.cond.notify_all()
        self.send(h, 200, '{"id":%d}' % n)

    def h_poll(self, h, mode):
        if mode == "badjson":
            return self.send(h, 200, "{not json")
        if mode == "404":
            return self.send(h, 404, '{"error":"no such channel"}')
        if mode == "foreign":        # valid answers, but messages this client never sent
            return self.send(h, 200, '{"last_id":1,"messages":[{"id":1,"ts":1,"data":"not yours"}]}')
        if mode == "dup":            # id >= since: the last message again in every answer
            since = self.since(h)
            msgs = self.messages(h.channel, max(0, since - 1))
            body = '{"last_id":%d,"messages":[%s]}' % (msgs[-1][0] if msgs else since,
                                                       ",".join(m for _, m in msgs))
            return self.send(h, 200, body)
        raise ValueError("poll mode %r" % mode)

    h_longpoll = h_poll

    def sse_head(self, h):
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Cache-Control", "no-cache")
        h.send_header("Connection", "close")
        h.end_headers()
        h.close_connection = True
        h.wfile.write(b"retry: 1000\n\n")
        h.wfile.flush()

    def h_sse(self, h, mode):
        if mode == "404":
            return self.send(h, 404, '{"error":"no such channel"}')
        self.sse_head(h)
        if mode == "garbage":
            t0 = time.monotonic()
            i = 0
            try:
                while not self.stop.is_set() and time.monotonic() - t0 < 15:
                    i += 1
                    h.wfile.write(b"id: %d\ndata: {broken\n\n" % i)
                    h.wfile.flush()
                    time.sleep(0.02)
            except OSError:
                pass
            return

        def ev(i, m):
            return b"id: %d\ndata: %s\n\n" % (i, m.encode())

        if mode == "dupgap":         # a gap marker first, then every message twice
            h.wfile.write(b'event: gap\ndata: {"gap":true,"since":0,"first_id":1,"lost":7}\n\n')

            def write(new):
                h.wfile.write(b"".join(ev(i, m) + ev(i, m) for i, m in new))
                h.wfile.flush()
            return self.stream(h, self.since(h), write)
        if mode == "reorder":        # messages in swapped pairs: 2 1 4 3 ...
            held = []

            def write(new):
                held.extend(new)
                out = b""
                while len(held) >= 2:
                    (i1, m1), (i2, m2) = held[0], held[1]
                    out += ev(i2, m2) + ev(i1, m1)
                    del held[:2]
                if held and not new:  # nothing came for 0.1 s: let the odd one go
                    out += ev(*held.pop())
                if out:
                    h.wfile.write(out)
                    h.wfile.flush()
            return self.stream(h, self.since(h), write)
        raise ValueError("sse mode %r" % mode)

    def h_ws(self, h, mode):
        if mode == "404":
            return self.send(h, 404, '{"error":"no"}')
        key = h.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        if mode == "badaccept":
            accept = base64.b64encode(hashlib.sha1(b"not the key").digest()).decode()
        h.wfile.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Accept: %s\r\n\r\n" % accept).encode())
        h.wfile.flush()
        h.close_connection = True

        def frame(text):
            b = text.encode()
            return (b"\x81" + bytes([len(b)]) if len(b) < 126 else b"\x81\x7e" + len(b).to_bytes(2, "big")) + b

        if mode == "dup":
            def write(new):
                h.wfile.write(b"".join(frame(m) * 2 for _, m in new))
                h.wfile.flush()
            return self.stream(h, self.since(h), write)
        t0 = time.monotonic()
        try:
            while not self.stop.is_set() and time.monotonic() - t0 < 15:
                if mode == "badjson":       # well-framed text that is not a message
                    h.wfile.write(frame("{broken"))
                elif mode == "badframe":    # reserved opcode 3: a protocol error
                    h.wfile.write(b"\x83\x01x")
                h.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass


# ---------------------------------------------------------------- helpers

def not_crashed(res, what):
    """Exit 0 or 1, by itself, in time, without a sanitizer report."""
    check(not res.timed_out, "%s: still running after %ds (hang); %s" % (what, RUN_LIMIT, res.describe()))
    check(res.rc is not None and res.rc >= 0, "%s: killed by signal %s; %s" % (what, -(res.rc or 0), res.describe()))
    check(res.rc not in (134, 139), "%s: exit %s (abort/segfault); %s" % (what, res.rc, res.describe()))
    check(not res.sanitizer_report(), "%s: sanitizer report; %s" % (what, res.describe()))
    check(res.rc in (0, 1), "%s: exit %s, want 0 or 1; %s" % (what, res.rc, res.describe()))
    check(res.doc is not None, "%s: no valid JSON document (%s); %s" % (what, res.json_error, res.describe()))


def consistent_status(res, what):
    """Exit 1 exactly when a run failed; a failure has a one-line reason,
    also on stderr."""
    runs = res.doc["runs"]
    failed = [r for r in runs if r["status"] == "failed"]
    for r in runs:
        check(r["status"] in ("ok", "failed"), "%s: status %r" % (what, r["status"]))
        if r["status"] == "failed":
            check(isinstance(r["failure"], str) and r["failure"] and "\n" not in r["failure"],
                  "%s: failed run without a one-line reason: %r" % (what, r["failure"]))
            check(r["failure"] in res.stderr, "%s: reason %r not on stderr %r" % (what, r["failure"], res.stderr))
        else:
            check(r["failure"] is None, "%s: failure %r with status ok" % (what, r["failure"]))
    check_eq(res.rc, 1 if failed else 0, "%s: exit status (failed runs: %s)" % (what, [r["transport"] for r in failed]))


def closed_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ------------------------------------------------------------- exit codes

def t_unreachable():
    port = closed_port()
    res = run_client(["--url", "http://%s:%d" % (HOST, port), "--connect-timeout", "1s", "--quiet"],
                     timeout=RUN_LIMIT)
    check(not res.timed_out and not res.sanitizer_report(), res.describe())
    check_eq(res.rc, 1, "exit status against a closed port")
    check(res.elapsed < T(10), "took %.1fs with --connect-timeout 1s" % res.elapsed)
    lines = res.stderr.strip().splitlines()
    check(len(lines) == 1 and str(port) in lines[0], "stderr is not one line naming the server: %r" % res.stderr)
    check(res.doc is None, "a JSON document was written for a run that never started")


def t_silent_server():
    """A server that accepts the connection and never answers."""
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.bind((HOST, 0))
    ls.listen(16)
    try:
        res = run_client(["--url", "http://%s:%d" % (HOST, ls.getsockname()[1]), "--connect-timeout", "1s",
                          "--quiet"], timeout=RUN_LIMIT)
    finally:
        ls.close()
    check(not res.timed_out and not res.sanitizer_report(), res.describe())
    check_eq(res.rc, 1, "exit status against a server that never answers")
    check(res.elapsed < T(10), "took %.1fs with --connect-timeout 1s" % res.elapsed)
    check_eq(len(res.stderr.strip().splitlines()), 1, "stderr lines (%r)" % res.stderr)


def t_not_pushpull():
    with FakeServer(healthz="404") as fake:
        res = run_client(["--url", fake.url(), "--connect-timeout", "1s", "--quiet"], timeout=RUN_LIMIT)
    check(not res.timed_out and not res.sanitizer_report(), res.describe())
    check_eq(res.rc, 1, "exit status when /healthz answers 404")
    lines = res.stderr.strip().splitlines()
    check(len(lines) == 1 and "404" in lines[0], "stderr: %r" % res.stderr)


USAGE = [
    ["--transport", "nope"], ["--transport", "poll,nope"], ["--subscribers", "0"], ["--subscribers", "x"],
    ["--rate", "-1"], ["--rate", "0"], ["--rate", "nan"], ["--channels", "5", "--subscribers", "2"],
    ["--bogus"], ["--url", "ftp://x"], ["--duration"], ["--duration", "50ms"], ["--duration", "soon"],
    ["--size", "0"], ["--publish-via", "smtp"], ["--longpoll-timeout", "500ms"],
    ["--transport", "sse", "--connections", "2"], ["--rate", "0.1", "--duration", "1s", "--warmup", "0"],
    ["--seed", "-1"], ["--connect-timeout", "0"], ["unexpected-positional"],
    ["--transport", "ws", "--socketio-upgrade"], ["--dialect", "socketio", "--socketio-upgrade"],
    ["--dialect", "socketio", "--transport", "longpoll,ws", "--socketio-upgrade"],
    ["--dialect", "nchan", "--transport", "ws", "--socketio-upgrade"],
]


def t_usage():
    port = closed_port()
    bad = []
    d = client_tmpdir()
    for i, args in enumerate(USAGE):
        jp = os.path.join(d, "usage%d.json" % i)
        # the bad flag last (a later --url wins over the first)
        res = run_client(["--url", "http://%s:%d" % (HOST, port), "--json", jp] + args, timeout=10)
        lines = res.stderr.strip().splitlines()
        if (res.rc != 2 or res.sanitizer_report() or not lines or len(lines) > 2 or res.stdout.strip()
                or os.path.exists(jp) or not lines[0].startswith("pushpull-client:")):
            bad.append("%s -> exit %s, stderr %r, stdout %r, json %s"
                       % (" ".join(args), res.rc, res.stderr[:200], res.stdout[:100], os.path.exists(jp)))
    check(not bad, "usage errors that do not exit 2 with a message on stderr only:\n" + "\n".join(bad))


def t_empty_transport_list():
    bad = []
    with FakeServer() as fake:
        for v in (",", ""):
            res = run_client(["--url", fake.url(), "--transport", v, "--quiet"], timeout=10)
            if res.rc != 2:
                bad.append("--transport %r -> exit %s, runs %r, stderr %r"
                           % (v, res.rc, res.doc and res.doc.get("runs"), res.stderr.strip()))
    check(not bad, "an empty transport list is accepted: the client measures nothing, prints an "
          "empty table and exits 0: %s" % "; ".join(bad))


def t_help_version():
    res = run_client(["--help"], timeout=10, json_file=False)
    check(res.rc == 0 and "--transport" in res.stdout and "usage" in res.stdout.lower(),
          "--help: exit %s, stdout %r" % (res.rc, res.stdout[:200]))
    res = run_client(["--version"], timeout=10, json_file=False)
    check(res.rc == 0 and re.match(r"pushpull-client \S+", res.stdout), "--version: exit %s %r" % (res.rc, res.stdout))


def t_sigint(srv):
    """SIGINT ends the run at once: exit 1, the JSON says "interrupted"."""
    jp = os.path.join(client_tmpdir(), "int.json")
    p = _spawn([CLIENT, "--url", srv.url(""), "--transport", "sse,ws", "--duration", "30s", "--warmup", "200ms",
                "--quiet", "--json", jp], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
               stderr=subprocess.PIPE)
    time.sleep(T(1.5))
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    try:
        out, err = p.communicate(timeout=T(10))
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate(timeout=10)
        raise TestFailure("still running %.0fs after SIGINT" % T(10))
    el = time.monotonic() - t0
    err = err.decode(errors="replace")
    check_eq(p.returncode, 1, "exit status after SIGINT (stderr %r)" % err)
    check(el < T(3), "took %.1fs to stop after SIGINT" % el)
    with open(jp) as f:
        doc = json.load(f)
    runs = doc["runs"]
    check_eq([(r["transport"], r["status"], r["failure"]) for r in runs], [("sse", "failed", "interrupted")],
             "runs after SIGINT during the first one")
    check("interrupted" in err, "stderr %r" % err)


# ------------------------------------------------------------ misbehaviour

def fake_run(transports, modes, extra=()):
    with FakeServer(**modes) as fake:
        res = run_client(["--url", fake.url(), "--transport", transports] + SHORT + list(extra),
                         timeout=RUN_LIMIT)
        hits = dict(fake.hits)
    what = "--transport %s against a fake server %s" % (transports, modes)
    not_crashed(res, what)
    consistent_status(res, what)
    res.hits = hits
    return res


def t_fake_basic(t):
    """The issue's cases: malformed JSON for poll and long poll, data: {broken
    for SSE, a wrong Sec-WebSocket-Accept for WebSocket."""
    res = fake_run(t, {})
    r = res.run(t)
    c = r["cost"]
    check(res.hits.get(t, 0) > 0, "the client never asked %s: hits %r" % (t, res.hits))
    check(c["protocol_errors"] > 0, "%s: protocol_errors 0 (cost %r)" % (t, c))
    if t == "sse":
        # the stream itself connects; every event is rejected
        check(c["transport_errors"] > 0 or c["reconnects"] > 0 or r["status"] == "failed",
              "sse: a broken event neither ended the stream nor failed the run: %r" % c)
    else:
        check_eq(r["status"], "failed", "%s: status when no answer is valid" % t)
        check(c["transport_errors"] > 0, "%s: transport_errors 0: %r" % (t, c))
    check_eq(r["delivery"]["delivered"], 0, "%s: delivered" % t)
    check_eq(r["latency_us"]["count"], 0, "%s: latency samples" % t)


def t_fake_error_status():
    """A 404 for every subscription is no connection, for every transport."""
    res = fake_run("poll,longpoll,sse,ws", {"poll": "404", "longpoll": "404", "sse": "404", "ws": "404"})
    bad = []
    for r in res.doc["runs"]:
        if r["status"] != "failed" or r["connect_us"]["count"] != 0:
            bad.append("%s: status %s, connect_us.count %d, transport_errors %d, lost %d"
                       % (r["transport"], r["status"], r["connect_us"]["count"],
                          r["cost"]["transport_errors"], r["delivery"]["lost"]))
        if r["cost"]["transport_errors"] + r["cost"]["protocol_errors"] == 0:
            bad.append("%s: no error counted" % r["transport"])
    check(not bad, "subscribers answered 404 counted as connected:\n" + "\n".join(bad))


def t_fake_bad_frames():
    res = fake_run("ws", {"ws": "badframe"})
    c = res.run("ws")["cost"]
    check(c["protocol_errors"] > 0, "reserved opcode frames: protocol_errors 0: %r" % c)
    check(c["reconnects"] > 0, "the connection was not given up after a protocol error: %r" % c)


def t_fake_bad_messages():
    """Well-framed answers whose messages are not this run's: counted as
    protocol errors; the connection goes on."""
    res = fake_run("poll,ws", {"poll": "foreign", "ws": "badjson"})
    for t in ("poll", "ws"):
        r = res.run(t)
        check_eq(r["status"], "ok", "%s: status" % t)
        check(r["cost"]["protocol_errors"] > 0, "%s: protocol_errors 0: %r" % (t, r["cost"]))
        check_eq(r["delivery"]["delivered"], 0, "%s: delivered" % t)
        check_eq(r["delivery"]["lost"], r["delivery"]["expected"], "%s: lost = expected" % t)
        check(r["delivery"]["expected"] > 0, "%s: nothing expected" % t)
    check_eq(res.run("ws")["cost"]["reconnects"], 0, "ws reconnects (a bad message keeps the connection)")


def t_fake_publish_fails():
    res = fake_run("poll", {"poll": "dup", "pub": "500"})
    r = res.run("poll")
    check_eq((r["status"], r["failure"]), ("failed", "every publish failed"), "status, failure")
    check(r["delivery"]["publish_errors"] > 0, "publish_errors 0: %r" % r["delivery"])
    check_eq(r["delivery"]["expected"], 0, "expected (a failed publish is not expected)")
    check_eq(r["delivery"]["lost"], 0, "lost")


def t_fake_stats_broken():
    res = fake_run("poll", {"poll": "dup", "stats": "badjson"})
    r = res.run("poll")
    check_eq(r["status"], "ok", "status")
    check_clean(r, "poll against an echo server", dups="last")
    for k in ("server_cpu_s", "server_cpu_us_per_delivered", "server_bytes_out",
              "server_bytes_out_per_delivered"):
        check(r["cost"][k] is None, "cost.%s = %r, want null when /stats is not JSON" % (k, r["cost"][k]))


def check_clean(r, what, dups=None):
    """Nothing lost. dups: None (no duplicate), "last" (each poll answer
    repeats the previous answer's last message), "all" (every message sent
    twice)."""
    d = r["delivery"]
    check(d["expected"] > 0, "%s: nothing expected: %r" % (what, d))
    check_eq(d["lost"], 0, "%s: lost (%r)" % (what, d))
    check_eq(d["delivered"], d["expected"], "%s: delivered" % what)
    check_eq(r["latency_us"]["count"], d["delivered"], "%s: latency samples" % what)
    subs = 3
    if dups is None:
        check_eq(d["duplicates"], 0, "%s: duplicates" % what)
    elif dups == "last":
        # one repeated message per answer after the first message arrived
        check(0 < d["duplicates"] <= r["cost"]["requests"] + 30 * subs,
              "%s: duplicates %d for %d requests in the window" % (what, d["duplicates"], r["cost"]["requests"]))
    else:
        # every message came twice: the copies are counted, not delivered twice
        check(d["expected"] <= d["duplicates"] <= d["published_total"] * subs,
              "%s: duplicates %d, want from %d (measured) to %d (every message twice)"
              % (what, d["duplicates"], d["expected"], d["published_total"] * subs))


def t_fake_echo():
    """An echo server that serves this client's own messages: every message
    twice (poll, SSE, WS), after an SSE gap marker of 7, or in swapped
    pairs. Each is counted where it belongs; nothing is lost."""
    res = fake_run("poll,sse,ws", {"poll": "dup", "sse": "dupgap", "ws": "dup"})
    for t in ("poll", "sse", "ws"):
        r = res.run(t)
        check_eq(r["status"], "ok", "%s: status" % t)
        check_clean(r, t, dups="last" if t == "poll" else "all")
        check_eq(r["delivery"]["out_of_order"], 0, "%s: out_of_order" % t)
        check_eq(r["cost"]["protocol_errors"], 0, "%s: protocol_errors" % t)
    check_eq(res.run("sse")["delivery"]["gap_lost"], 7 * 3, "sse gap_lost (one gap of 7 per subscriber)")
    check_eq(res.run("poll")["delivery"]["gap_lost"], 0, "poll gap_lost")


def t_fake_reorder():
    res = fake_run("sse", {"sse": "reorder"})
    r = res.run("sse")
    d = r["delivery"]
    check_eq(r["status"], "ok", "status")
    check_clean(r, "sse in swapped pairs")
    check_eq(d["duplicates"], 0, "duplicates")
    # pairs swapped: about every other message arrives after a higher id
    check(d["out_of_order"] >= d["delivered"] // 3, "out_of_order %d for %d deliveries in swapped pairs"
          % (d["out_of_order"], d["delivered"]))


def t_ws_publisher_refused():
    """--publish-via ws when the server refuses the publisher's WebSocket:
    the run fails, and the reason names the publisher, not the subscribers
    (which did connect)."""
    res = fake_run("poll", {"poll": "dup", "ws": "badaccept"}, ["--publish-via", "ws"])
    r = res.run("poll")
    check_eq(r["status"], "failed", "status")
    check_eq(r["connect_us"]["count"], 3, "connect_us.count (the 3 pollers did connect)")
    check("publish" in (r["failure"] or ""), "failure %r blames the subscribers, which all connected; "
          "the WebSocket publisher is what never connected" % r["failure"])


def t_unwritable_outputs():
    with FakeServer(poll="dup") as fake:
        res = run_client(["--url", fake.url(), "--transport", "poll", "--json", "/nonexistent-dir/x.json",
                          "--csv", "/nonexistent-dir/x.csv"] + SHORT, timeout=RUN_LIMIT)
    check(not res.timed_out and not res.sanitizer_report() and res.rc >= 0, res.describe())
    check_eq(res.rc, 1, "exit status when --json and --csv cannot be written")
    check("/nonexistent-dir/x.json" in res.stderr and "/nonexistent-dir/x.csv" in res.stderr,
          "stderr names neither file: %r" % res.stderr)
    check("poll" in res.stdout, "no table on stdout: %r" % res.stdout[:300])


def main():
    tap = Tap(__file__, watchdog_s=240)
    tap.run("closed port: exit 1, one line on stderr, within --connect-timeout 1s (< 10 s), no JSON",
            t_unreachable)
    tap.run("a server that accepts and never answers: exit 1 with one line, < 10 s", t_silent_server)
    tap.run("/healthz answering 404 (not a pushpull-server): exit 1 with a reason", t_not_pushpull)
    tap.run("usage errors exit 2 with a message on stderr, nothing on stdout, no JSON (%d cases)" % len(USAGE),
            t_usage)
    tap.run("an empty --transport list (',' or '') is a usage error (exit 2)", t_empty_transport_list)
    tap.run("--help and --version exit 0", t_help_version)
    with Server(tap, "--quiet") as srv:
        tap.run("SIGINT during a run: exit 1 within 3 s, JSON written with failure 'interrupted'",
                t_sigint, srv)
    for t in ("poll", "longpoll", "sse", "ws"):
        tap.run("%s against a broken server (%s): exits 0/1 (no crash, no hang), errors counted in the JSON"
                % (t, {"poll": "malformed JSON", "longpoll": "malformed JSON", "sse": "data: {broken",
                       "ws": "wrong Sec-WebSocket-Accept"}[t]), t_fake_basic, t)
    tap.run("every subscription answered 404: no subscriber counts as connected, runs fail (all transports)",
            t_fake_error_status)
    tap.run("ws frames with a reserved opcode: protocol errors counted, reconnects", t_fake_bad_frames)
    tap.run("poll and ws answers with messages that are not this run's: protocol errors, lost = expected",
            t_fake_bad_messages)
    tap.run("every publish answered 500: exit 1, 'every publish failed', publish_errors counted",
            t_fake_publish_fails)
    tap.run("/stats not JSON: server figures null, the run is still ok", t_fake_stats_broken)
    tap.run("--publish-via ws with the publisher's WebSocket refused: failed, the reason names the publisher",
            t_ws_publisher_refused)
    tap.run("--json and --csv in a missing directory: exit 1 naming both files, table still printed",
            t_unwritable_outputs)
    tap.run("echo server sending every message twice (+ an SSE gap marker): duplicates and gap_lost "
            "counted, lost 0 (poll, sse, ws)", t_fake_echo)
    tap.run("echo server reordering SSE messages in pairs: out_of_order counted, lost 0, no duplicates",
            t_fake_reorder)
    tap.done()


if __name__ == "__main__":
    main()
