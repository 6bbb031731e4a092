"""Shared harness for the pushpull integration tests.

Run by Debian's /usr/bin/python3 (it has python3-websockets 10.4).

- Server: starts the real bin/pushpull-server on an ephemeral loopback port
  (--port 0, port read from its one stdout line), stops it with SIGTERM
  (SIGKILL fallback) and reports its exit status as a TAP check of its own,
  with the tail of its stderr (sanitizer reports) as diagnostics.
- curl(): one HTTP exchange through the curl CLI; BgCurl runs one in a
  thread; CurlStream reads a streaming answer (SSE) line by line.
- Publisher: keep-alive publishing through http.client.
- RawWS: a hand-written RFC 6455 client over a plain socket, for abuse that
  a WebSocket library refuses to produce. It reads the server's hello frame
  (the first of every session: PROTOCOL.md) into .hello.
- WsClient: a python3-websockets client driven from a background thread, so
  tests stay sequential. Hello frames go to .hellos, not .msgs.
- Tap: "ok - name" / "not ok - name" lines, "# " diagnostics, exit status.

Every wait is bounded. Timeouts are multiplied by SLOW when the server is a
sanitizer build (make test SANITIZE=... exports SANITIZE), or runs under the
command PUSHPULL_WRAP names (make test-valgrind: valgrind, whose log each
test program checks for every server it started, as a test of its own).
"""

import asyncio
import base64
import hashlib
import http.client
import json
import os
import re
import select
import shlex
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "scripts"))
import procs  # noqa: E402  (scripts/procs.py: a server's processes)

BIN = os.environ.get("PUSHPULL_BIN", "/work/main/bin")
SERVER = os.path.join(BIN, "pushpull-server")
WRAP = shlex.split(os.environ.get("PUSHPULL_WRAP", ""))
SLOW = 10.0 if WRAP else 3.0 if os.environ.get("SANITIZE") else 1.0
HOST = "127.0.0.1"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

_children = []      # every Popen we start (servers, curls): killed at exit
_servers = []
_lock = threading.Lock()


def T(seconds):
    """A timeout scaled for sanitizer builds."""
    return seconds * SLOW


def now_us():
    return int(time.time() * 1_000_000)


class TestFailure(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def check_eq(got, want, what):
    if got != want:
        raise TestFailure("%s: got %r, want %r" % (what, _short(got), _short(want)))


def _short(v, n=300):
    s = repr(v)
    return v if len(s) <= n else s[:n] + "...(%d chars)" % len(s)


def wait_until(fn, timeout, interval=0.05, what="condition", show=None):
    """Call fn until it returns a truthy value; return it. Raise after
    timeout; show() (if given) describes the state in the failure message."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last_exc = e
        if time.monotonic() >= deadline:
            extra = " (last error: %r)" % (last_exc,) if last_exc else ""
            if show is not None:
                try:
                    extra += "; now: %s" % (show(),)
                except Exception as e:  # noqa: BLE001
                    extra += "; (state unavailable: %r)" % (e,)
            raise TestFailure("timed out after %.1fs waiting for %s%s" % (timeout, what, extra))
        time.sleep(interval)


# --------------------------------------------------------------------- TAP

class Tap:
    def __init__(self, name, watchdog_s=150):
        self.name = os.path.basename(name)
        self.passed = 0
        self.failed = 0
        self._done = False
        if WRAP:
            watchdog_s *= SLOW
        self._timer = threading.Timer(watchdog_s, self._watchdog, args=(watchdog_s,))
        self._timer.daemon = True
        self._timer.start()

    def _watchdog(self, s):
        self._emit("not ok - %s: watchdog, still running after %ds" % (self.name, s))
        kill_all()
        os._exit(1)

    @staticmethod
    def _emit(line):
        with _lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def diag(self, msg):
        for line in str(msg).splitlines() or [""]:
            Tap._emit("# " + line)

    def ok(self, cond, name, diag=None):
        if cond:
            self.passed += 1
            self._emit("ok - " + name)
        else:
            self.failed += 1
            self._emit("not ok - " + name)
            if diag:
                self.diag(diag)
        return cond

    def run(self, name, fn, *args, **kw):
        """Run one test function; an exception is a failure with diagnostics."""
        t0 = time.monotonic()
        try:
            fn(*args, **kw)
        except TestFailure as e:
            self.ok(False, name, str(e))
            self._server_diag()
            return False
        except Exception:  # noqa: BLE001 - any error fails this test only
            self.ok(False, name, traceback.format_exc())
            self._server_diag()
            return False
        self.ok(True, name)
        el = time.monotonic() - t0
        if el > 10:
            self.diag("(%s took %.1fs)" % (name, el))
        return True

    def _server_diag(self):
        for s in list(_servers):
            if s.proc is not None and s.proc.poll() is not None and not s.stopping:
                self.diag("server %s died with status %s; stderr tail:" % (s.label, s.proc.returncode))
                self.diag(s.stderr_tail())

    def done(self):
        self._timer.cancel()
        kill_all()
        for s in _servers:
            log = s.valgrind_log()
            if log is not None:
                problems = valgrind_problems(log)
                self.ok(not problems, "server %s: valgrind: no definite leak, no invalid access"
                        % s.label, problems)
        self._emit("# %s: %d passed, %d failed" % (self.name, self.passed, self.failed))
        sys.exit(1 if self.failed or not self.passed else 0)


def diag(msg):
    """A '# ' diagnostic line outside a Tap method."""
    Tap.diag(None, msg)


def kill_all():
    for p in list(_children):
        try:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=5)
        except Exception:  # noqa: BLE001
            pass


def _spawn(cmd, **kw):
    p = subprocess.Popen(cmd, **kw)
    _children.append(p)
    return p


# ------------------------------------------------------------------ server

class Server:
    """The real server on an ephemeral port. Use as a context manager with a
    Tap: on exit it is stopped and its clean exit is a TAP check."""

    def __init__(self, tap, *args, label=None, env=None):
        self.tap = tap
        self.args = [str(a) for a in args]
        self.env = env                # added to the environment
        self.label = label or ("[%s]" % " ".join(self.args) if self.args else "[defaults]")
        self.proc = None
        self.port = None
        self.stopping = False
        self.first_line = None
        self.scheme = "http"        # "https" when started with --tls-cert/--tls-key
        self.extra_stdout = b""
        self._errf = tempfile.TemporaryFile()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, et, ev, tb):
        rc, el = self.stop()
        tail = self.stderr_tail()
        msg = "exit status %s after %.2fs" % (rc, el)
        if tail.strip():
            msg += "; stderr tail:\n" + tail
        self.tap.ok(rc == 0, "server %s: clean exit (status 0) on SIGTERM" % self.label, msg)
        if self.extra_stdout.strip():
            self.tap.diag("server %s wrote more stdout: %r" % (self.label, self.extra_stdout[:300]))
        return False

    def start(self):
        if not os.access(SERVER, os.X_OK):
            raise TestFailure("no server binary at %s (set PUSHPULL_BIN or run make)" % SERVER)
        self.proc = _spawn(WRAP + [SERVER, "--port", "0"] + self.args, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=self._errf,
                           env=dict(os.environ, **self.env) if self.env else None)
        _servers.append(self)
        line = read_line(self.proc, T(10))
        if line is None:
            self.kill()
            raise TestFailure("server %s printed no 'listening on' line (status %s); stderr:\n%s"
                              % (self.label, self.proc.returncode, self.stderr_tail()))
        self.first_line = line
        m = re.fullmatch(r"listening on (https?)://127\.0\.0\.1:(\d+)", line.decode(errors="replace").rstrip("\r\n"))
        if not m:
            self.kill()
            raise TestFailure("unexpected first stdout line %r" % line)
        self.scheme, self.port = m.group(1), int(m.group(2))
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _drain(self):
        try:
            while True:
                b = self.proc.stdout.read1(4096) if hasattr(self.proc.stdout, "read1") else self.proc.stdout.read(4096)
                if not b:
                    return
                self.extra_stdout += b
        except Exception:  # noqa: BLE001
            return

    def url(self, path):
        return "%s://%s:%d%s" % (self.scheme, HOST, self.port, path)

    def ws_url(self, path):
        return "%s://%s:%d%s" % ("wss" if self.scheme == "https" else "ws", HOST, self.port, path)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.stopping = True
        self.proc.send_signal(sig)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM):
        """SIGTERM, then SIGKILL after a while. Returns (status, seconds)."""
        t0 = time.monotonic()
        if self.proc is None:
            return None, 0.0
        self.stopping = True
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=T(5))
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode, time.monotonic() - t0

    def kill(self):
        self.stopping = True
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def stderr_tail(self, n=4000):
        try:
            self._errf.seek(0)
            data = self._errf.read()
        except Exception:  # noqa: BLE001
            return ""
        return data[-n:].decode(errors="replace")

    def valgrind_log(self):
        """This server's valgrind log (--log-file=...%p...), or None."""
        for a in WRAP:
            if a.startswith("--log-file=") and self.proc is not None:
                return a[len("--log-file="):].replace("%p", str(self.proc.pid))
        return None

    # helpers bound to this server
    def stats(self):
        r = curl(self.url("/stats"))
        check(r.status == 200, "/stats answered %s %r" % (r.status, r.body[:200]))
        return r.json()

    def healthz(self):
        r = curl(self.url("/healthz"))
        return r.status == 200 and r.body.strip() == b"ok"

    def publish(self, ch, body):
        if isinstance(body, str):
            body = body.encode()
        r = curl(self.url("/pub/" + ch), data=body)
        check(r.status == 200, "publish to %s: status %s body %r" % (ch, r.status, r.body[:200]))
        return r.json()["id"]


PEERS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                     "peers")


class Peer:
    """Another push server, started for real through peers/NAME/run 0 (the
    same contract as pushpull-server: 'listening on http://127.0.0.1:PORT',
    SIGTERM stops it). A missing server (nginx, Nchan, node...) fails the
    test: it never passes silently. Use as a context manager with a Tap."""

    def __init__(self, tap, name, env=None):
        self.tap, self.name = tap, name
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.port = None
        self._errf = tempfile.TemporaryFile()

    def __enter__(self):
        run = os.path.join(PEERS, self.name, "run")
        if not os.access(run, os.X_OK):
            raise TestFailure("no executable %s" % run)
        self.proc = _spawn([run, "0"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=self._errf, env=self.env)
        line = read_line(self.proc, T(20))
        m = re.fullmatch(r"listening on http://127\.0\.0\.1:(\d+)",
                         (line or b"").decode(errors="replace").rstrip("\r\n"))
        if not m:
            self.proc.kill()
            raise TestFailure("peer %s did not start (first line %r); stderr:\n%s"
                              % (self.name, line, self.stderr_tail()))
        self.port = int(m.group(1))
        return self

    def __exit__(self, et, ev, tb):
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=T(10))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait(timeout=10)
        self.tap.ok(rc == 0, "peer %s: clean exit (status 0) on SIGTERM" % self.name,
                    "exit status %s after %.2fs; stderr tail:\n%s"
                    % (rc, time.monotonic() - t0, self.stderr_tail()))
        return False

    def url(self, path=""):
        return "http://%s:%d%s" % (HOST, self.port, path)

    def pids(self):
        """The server's processes (scripts/procs.py, as the bench runner)."""
        return procs.server_pids(self.proc.pid)

    def stderr_tail(self, n=3000):
        self._errf.seek(0)
        return self._errf.read()[-n:].decode(errors="replace")


def valgrind_problems(path):
    """What a memcheck log shows that must not be there, or "". A server
    killed with SIGKILL writes no leak summary: then only the errors count."""
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError as e:
        return "no valgrind log: %s" % e
    bad = []
    m = re.search(r"definitely lost: ([\d,]+) bytes", text)
    if m and m.group(1) != "0":
        bad.append("definitely lost: %s bytes" % m.group(1))
    for kind in ("Invalid read", "Invalid write", "Invalid free"):
        n = text.count(kind)
        if n:
            bad.append("%d x %s" % (n, kind))
    if not bad:
        return ""
    errors = [b for b in re.split(r"\n==\d+== \n", text) if re.search(r"Invalid|definitely lost in", b)]
    return "%s (%s):\n%s" % (", ".join(bad), path, "\n".join(errors[:3])[-6000:])


def read_line(proc, timeout):
    """First line of proc's stdout within timeout, or None."""
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            continue
        chunk = os.read(fd, 1)   # byte by byte: leave the rest to the drainer
        if not chunk:
            return None
        buf += chunk
    return buf


# -------------------------------------------------------------------- curl

class Resp:
    def __init__(self, status, headers, body, rc, stderr, elapsed, num_connects=None):
        self.status = status
        self.headers = headers      # list of (lowercase name, value)
        self.body = body
        self.rc = rc
        self.stderr = stderr
        self.elapsed = elapsed
        self.num_connects = num_connects

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except Exception as e:
            raise TestFailure("body is not JSON (%s): %r" % (e, self.body[:300]))

    def __repr__(self):
        return "<Resp %s rc=%s body=%r>" % (self.status, self.rc, self.body[:200])


def parse_header_block(raw):
    """Headers of the last response in a curl -D dump (skips 100 Continue)."""
    text = raw.decode("latin-1")
    blocks = [b for b in re.split(r"\r?\n\r?\n", text) if b.strip()]
    if not blocks:
        return None, []
    lines = blocks[-1].splitlines()
    m = re.match(r"HTTP/\S+ (\d{3})", lines[0])
    status = int(m.group(1)) if m else None
    hdrs = []
    for ln in lines[1:]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            hdrs.append((k.strip().lower(), v.strip()))
    return status, hdrs


def curl(url, data=None, method=None, headers=(), timeout=10, extra=()):
    """One request through the curl CLI. data: bytes sent as-is."""
    with tempfile.TemporaryDirectory() as d:
        hf, bf = os.path.join(d, "h"), os.path.join(d, "b")
        cmd = ["curl", "-sS", "-g", "--path-as-is", "--max-time", "%.1f" % T(timeout),
               "-D", hf, "-o", bf, "-w", "%{http_code} %{num_connects}"]
        if data is not None:
            df = os.path.join(d, "d")
            with open(df, "wb") as f:
                f.write(data)
            cmd += ["--data-binary", "@" + df, "-H", "Content-Type: text/plain; charset=utf-8"]
        if method:
            cmd += ["-X", method]
        for h in headers:
            cmd += ["-H", h]
        cmd += list(extra) + [url]
        t0 = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, timeout=T(timeout) + 10)
        el = time.monotonic() - t0
        status, hdrs = None, []
        if os.path.exists(hf):
            with open(hf, "rb") as f:
                status, hdrs = parse_header_block(f.read())
        body = b""
        if os.path.exists(bf):
            with open(bf, "rb") as f:
                body = f.read()
        nc = None
        w = p.stdout.decode().split()
        if len(w) == 2 and w[1].isdigit():
            nc = int(w[1])
        return Resp(status, hdrs, body, p.returncode, p.stderr.decode(errors="replace"), el, nc)


class BgCurl:
    """curl() in a background thread (long polls)."""

    def __init__(self, *args, **kw):
        self.result = None
        self.error = None
        self.t0 = time.monotonic()
        self.t_end = None
        self._th = threading.Thread(target=self._run, args=args, kwargs=kw, daemon=True)
        self._th.start()

    def _run(self, *args, **kw):
        try:
            self.result = curl(*args, **kw)
        except Exception as e:  # noqa: BLE001
            self.error = e
        self.t_end = time.monotonic()

    def done(self):
        return not self._th.is_alive()

    def join(self, timeout):
        self._th.join(timeout)
        if self._th.is_alive():
            raise TestFailure("background curl still running after %.1fs" % timeout)
        if self.error:
            raise self.error
        return self.result

    @property
    def elapsed(self):
        return (self.t_end or time.monotonic()) - self.t0


class CurlStream:
    """A streaming GET (SSE) through `curl -N -i`, read line by line."""

    def __init__(self, url, headers=(), max_time=60, extra=()):
        cmd = ["curl", "-sS", "-N", "-i", "-g", "--max-time", "%.1f" % T(max_time)]
        for h in headers:
            cmd += ["-H", h]
        cmd += list(extra) + [url]
        self.proc = _spawn(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = []          # body lines, without line terminator
        self.head = []           # status line and headers
        self.raw_body = b""
        self.eof = False
        self.cond = threading.Condition()
        self._th = threading.Thread(target=self._read, daemon=True)
        self._th.start()

    def _read(self):
        in_head = True
        pending = b""
        f = self.proc.stdout
        while True:
            chunk = f.read1(65536)
            if not chunk:
                break
            with self.cond:
                pending += chunk
                while True:
                    i = pending.find(b"\n")
                    if i < 0:
                        break
                    line, pending = pending[:i + 1], pending[i + 1:]
                    if in_head:
                        s = line.decode("latin-1").rstrip("\r\n")
                        if s == "":
                            if self.head and re.match(r"HTTP/\S+ 1\d\d", self.head[0]) and \
                                    not self.head[0].split()[1] == "101":
                                self.head = []   # 100 Continue etc.
                            else:
                                in_head = False
                            continue
                        self.head.append(s)
                    else:
                        self.raw_body += line
                        self.lines.append(line.decode("utf-8", errors="replace").rstrip("\n").rstrip("\r"))
                self.cond.notify_all()
        with self.cond:
            if pending and not in_head:
                self.raw_body += pending
                self.lines.append(pending.decode("utf-8", errors="replace"))
            self.eof = True
            self.cond.notify_all()

    @property
    def status(self):
        if self.head:
            m = re.match(r"HTTP/\S+ (\d{3})", self.head[0])
            if m:
                return int(m.group(1))
        return None

    def header(self, name):
        name = name.lower()
        for h in self.head[1:]:
            if ":" in h:
                k, v = h.split(":", 1)
                if k.strip().lower() == name:
                    return v.strip()
        return None

    def wait(self, pred, timeout, what="stream condition"):
        """Wait until pred(self) is true. Returns its value."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                v = pred(self)
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0 or (self.eof and not pred(self)):
                    if self.eof:
                        raise TestFailure("stream ended (curl rc %s) before %s; got %d lines, head %r, last lines %r"
                                          % (self.proc.poll(), what, len(self.lines), self.head[:1], self.lines[-5:]))
                    raise TestFailure("timed out after %.1fs waiting for %s; got %d lines, last %r"
                                      % (timeout, what, len(self.lines), self.lines[-5:]))
                self.cond.wait(min(left, 0.5))

    def wait_eof(self, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not self.eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 0.5))
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        return True

    def events(self):
        with self.cond:
            return parse_sse(self.lines)

    def messages(self):
        """Parsed JSON of every default-type event (the pushpull messages)."""
        out = []
        for ev in self.events():
            if ev.get("event", "message") == "message" and "data" in ev:
                out.append(json.loads(ev["data"]))
        return out

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._th.join(5)


def parse_sse(lines):
    """Dispatched events (dicts with event/data/id/retry) and comment lines,
    in order. Comments appear as {"comment": text}. An event is dispatched on
    a blank line; an unterminated last event is left out."""
    out = []
    cur = {}
    data = []
    for ln in lines:
        if ln == "":
            if data or cur:
                if data:
                    cur["data"] = "\n".join(data)
                out.append(cur)
            cur, data = {}, []
            continue
        if ln.startswith(":"):
            out.append({"comment": ln[1:].lstrip(" ")})
            continue
        field, _, value = ln.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            data.append(value)
        elif field in ("event", "id", "retry"):
            cur[field] = value
    return out


# --------------------------------------------------------------- publishing

class Publisher:
    """POST /pub/{ch} over one keep-alive connection (http.client)."""

    def __init__(self, port, timeout=10):
        self.conn = http.client.HTTPConnection(HOST, port, timeout=T(timeout))

    def pub(self, ch, body):
        if isinstance(body, str):
            body = body.encode()
        self.conn.request("POST", "/pub/" + ch, body=body,
                          headers={"Content-Type": "text/plain; charset=utf-8"})
        r = self.conn.getresponse()
        data = r.read()
        check(r.status == 200, "publish to %s: status %s body %r" % (ch, r.status, data[:200]))
        try:
            return json.loads(data)["id"]
        except Exception:
            raise TestFailure("publish answer is not {\"id\":N}: %r" % data[:200])

    def close(self):
        self.conn.close()


# --------------------------------------------------------- message checking

def check_message(m, want_id=None, want_data=None, t_lo=None, t_hi=None):
    """A message object has exactly id/ts/data, ts in µs near now."""
    check(isinstance(m, dict), "message is not an object: %r" % (m,))
    check(set(m.keys()) == {"id", "ts", "data"}, "message keys %r, want exactly id/ts/data" % sorted(m.keys()))
    check(isinstance(m["id"], int) and not isinstance(m["id"], bool), "id not an integer: %r" % m)
    check(isinstance(m["ts"], int) and not isinstance(m["ts"], bool), "ts not an integer: %r" % m)
    check(isinstance(m["data"], str), "data not a string: %r" % m)
    if want_id is not None:
        check_eq(m["id"], want_id, "message id")
    if want_data is not None:
        check_eq(m["data"], want_data, "data of message %s" % m["id"])
    lo = t_lo if t_lo is not None else now_us() - 60_000_000
    hi = t_hi if t_hi is not None else now_us() + 60_000_000
    check(lo <= m["ts"] <= hi, "ts %r of message %s not within a minute of now (%d) in µs"
          % (m["ts"], m["id"], now_us()))


def check_sequence(msgs, want_ids, want_data=None, what="messages", t_lo=None, t_hi=None):
    """msgs (objects) have exactly the ids want_ids, in order, none lost or
    duplicated; want_data maps id -> payload when given; ts within
    [t_lo, t_hi] (default: within a minute of now)."""
    ids = [m.get("id") if isinstance(m, dict) else None for m in msgs]
    if ids != list(want_ids):
        want = list(want_ids)
        dups = sorted({i for i in ids if ids.count(i) > 1})
        lost = sorted(set(want) - set(ids))
        extra = sorted(set(i for i in ids if i is not None) - set(want))
        raise TestFailure("%s: got %d ids, want %d; lost %s, duplicated %s, unexpected %s, first ids %r"
                          % (what, len(ids), len(want), lost[:20], dups[:20], extra[:20], ids[:20]))
    for m in msgs:
        check_message(m, want_data=None if want_data is None else want_data[m["id"]], t_lo=t_lo, t_hi=t_hi)


def error_body_ok(resp):
    """Every error is a JSON body {"error":"<text>"}."""
    try:
        j = json.loads(resp.body.decode("utf-8"))
    except Exception:
        return False, "error body is not JSON: %r" % resp.body[:200]
    if not isinstance(j, dict) or not isinstance(j.get("error"), str) or not j["error"]:
        return False, "error body has no \"error\" string: %r" % (j,)
    return True, ""


def check_error(resp, status, what):
    check(resp.status == status, "%s: status %s, want %s (body %r, curl rc %s %s)"
          % (what, resp.status, status, resp.body[:200], resp.rc, resp.stderr.strip()))
    ok, msg = error_body_ok(resp)
    check(ok, "%s: %s" % (what, msg))


# ------------------------------------------------------------- raw HTTP

def raw_connect(port, timeout=10, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(T(timeout))
    s.connect((HOST, port))
    return s


def recv_until(sock, marker, timeout, buf=b""):
    """Read until marker is in the buffer. Returns (buf, eof)."""
    deadline = time.monotonic() + timeout
    while marker not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TestFailure("timed out waiting for %r; have %r" % (marker, buf[-200:]))
        sock.settimeout(left)
        try:
            b = sock.recv(65536)
        except socket.timeout:
            continue
        if not b:
            return buf, True
        buf += b
    return buf, False


class RawResponse:
    def __init__(self, status, headers, body, rest):
        self.status, self.headers, self.body, self.rest = status, headers, body, rest

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def json(self):
        return json.loads(self.body.decode())


def read_response(sock, timeout=10, buf=b""):
    """One HTTP/1.1 response from sock (Content-Length or chunked or until
    close; 101 has no body)."""
    buf, eof = recv_until(sock, b"\r\n\r\n", T(timeout), buf)
    if b"\r\n\r\n" not in buf:
        raise TestFailure("connection closed before a full response header: %r" % buf[:300])
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    check(m is not None, "bad status line %r" % lines[0])
    status = int(m.group(1))
    hdrs = []
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs.append((k.strip().lower(), v.strip()))
    r = RawResponse(status, hdrs, b"", b"")
    if status == 101 or 100 <= status < 200:
        r.rest = rest
        return r
    cl = r.header("content-length")
    if cl is not None:
        n = int(cl)
        while len(rest) < n:
            rest, eof = _recv_more(sock, rest, timeout)
            if eof:
                break
        r.body, r.rest = rest[:n], rest[n:]
    elif (r.header("transfer-encoding") or "").lower() == "chunked":
        body = b""
        while True:
            while b"\r\n" not in rest:
                rest, eof = _recv_more(sock, rest, timeout)
                check(not eof, "eof inside chunked body")
            size_line, rest = rest.split(b"\r\n", 1)
            n = int(size_line.split(b";")[0], 16)
            while len(rest) < n + 2:
                rest, eof = _recv_more(sock, rest, timeout)
                check(not eof, "eof inside chunk")
            body += rest[:n]
            rest = rest[n + 2:]
            if n == 0:
                break
        r.body, r.rest = body, rest
    else:
        while True:
            rest, eof = _recv_more(sock, rest, timeout)
            if eof:
                break
        r.body = rest
    return r


def _recv_more(sock, buf, timeout):
    sock.settimeout(T(timeout))
    try:
        b = sock.recv(65536)
    except socket.timeout:
        raise TestFailure("timed out reading response body; have %r" % buf[-200:])
    return buf + b, not b


def raw_request(port, req, timeout=10):
    """Send raw request bytes on a fresh connection; return the response."""
    s = raw_connect(port, timeout)
    try:
        s.sendall(req)
        return read_response(s, timeout)
    finally:
        s.close()


# -------------------------------------------------------------- raw WebSocket

def ws_accept(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def ws_key():
    return base64.b64encode(os.urandom(16)).decode()


def ws_frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length_override=None):
    """Encode one client frame (masked unless mask=False)."""
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload) if length_override is None else length_override
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        key = os.urandom(4)
        masked = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
        return head + key + masked
    return head + payload


class Frame:
    def __init__(self, fin, rsv, opcode, masked, payload):
        self.fin, self.rsv, self.opcode, self.masked, self.payload = fin, rsv, opcode, masked, payload

    def close_code(self):
        if len(self.payload) >= 2:
            return struct.unpack("!H", self.payload[:2])[0]
        return None

    def __repr__(self):
        return "<Frame op=%#x fin=%s len=%d %r>" % (self.opcode, self.fin, len(self.payload), self.payload[:60])


def parse_frame(buf):
    """(Frame, rest) or (None, buf) when incomplete."""
    if len(buf) < 2:
        return None, buf
    b0, b1 = buf[0], buf[1]
    n = b1 & 0x7F
    i = 2
    if n == 126:
        if len(buf) < 4:
            return None, buf
        n = struct.unpack("!H", buf[2:4])[0]
        i = 4
    elif n == 127:
        if len(buf) < 10:
            return None, buf
        n = struct.unpack("!Q", buf[2:10])[0]
        i = 10
    masked = bool(b1 & 0x80)
    key = None
    if masked:
        if len(buf) < i + 4:
            return None, buf
        key = buf[i:i + 4]
        i += 4
    if len(buf) < i + n:
        return None, buf
    payload = buf[i:i + n]
    if masked:
        payload = bytes(c ^ key[j % 4] for j, c in enumerate(payload))
    return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, masked, payload), buf[i + n:]


class RawWS:
    """A hand-rolled WebSocket client over a plain socket."""

    def __init__(self, port, path, timeout=10, rcvbuf=None, headers=None, early=b"", hello=True):
        """early: bytes sent in the same write as the handshake request
        (frames the server reads before it has answered 101). hello: read
        the server's first frame, which must be the hello, into self.hello;
        False leaves it to the test."""
        self.sock = raw_connect(port, timeout, rcvbuf)
        self.key = ws_key()
        h = {"Host": "%s:%d" % (HOST, port), "Upgrade": "websocket", "Connection": "Upgrade",
             "Sec-WebSocket-Key": self.key, "Sec-WebSocket-Version": "13"}
        if headers:
            h.update(headers)
        req = "GET %s HTTP/1.1\r\n" % path + "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n"
        self.sock.sendall(req.encode() + early)
        self.resp = read_response(self.sock, timeout)
        if self.resp.status != 101:
            self.sock.close()
            raise TestFailure("WebSocket upgrade of %s answered %s %r" % (path, self.resp.status, self.resp.body[:200]))
        check((self.resp.header("upgrade") or "").lower() == "websocket",
              "101 without Upgrade: websocket (%r)" % self.resp.headers)
        check(self.resp.header("sec-websocket-accept") == ws_accept(self.key),
              "Sec-WebSocket-Accept %r, want %r" % (self.resp.header("sec-websocket-accept"), ws_accept(self.key)))
        self.buf = self.resp.rest
        self.eof = False
        self.hello = None
        if hello:
            f = self.recv_frame(timeout)
            check(f is not None and f.opcode == 0x1 and f.fin,
                  "first frame after the 101 is not one text frame: %r" % f)
            self.hello = json.loads(f.payload.decode())
            check(isinstance(self.hello, dict) and self.hello.get("hello") is True,
                  "first frame is not the hello: %r" % self.hello)

    def send(self, data):
        self.sock.sendall(data)

    def send_frame(self, opcode, payload=b"", **kw):
        self.sock.sendall(ws_frame(opcode, payload, **kw))

    def recv_frame(self, timeout=10):
        """Next frame, or None at EOF (connection closed or reset)."""
        deadline = time.monotonic() + T(timeout)
        while True:
            f, rest = parse_frame(self.buf)
            if f is not None:
                self.buf = rest
                return f
            if self.eof:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure("timed out waiting for a WebSocket frame (have %d bytes)" % len(self.buf))
            self.sock.settimeout(left)
            try:
                b = self.sock.recv(262144)
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError):
                b = b""
            if not b:
                self.eof = True
            else:
                self.buf += b

    def read_until_close(self, timeout=10):
        """Read frames until a close frame (returned) or EOF (None). The
        frames seen before are in self.seen."""
        self.seen = []
        deadline = time.monotonic() + T(timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure("no close frame within %.1fs; frames seen: %r" % (T(timeout), self.seen[-5:]))
            f = self.recv_frame(left / SLOW)
            if f is None:
                return None
            if f.opcode == 0x8:
                return f
            self.seen.append(f)

    def wait_eof(self, timeout=10):
        """True when the server closes the TCP connection within timeout."""
        deadline = time.monotonic() + T(timeout)
        while not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                f = self.recv_frame(left / SLOW)
            except TestFailure:
                return False
            if f is None:
                return True
        return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# -------------------------------------------------------- websockets client

import websockets  # noqa: E402  (Debian python3-websockets 10.4)
from websockets.exceptions import ConnectionClosed  # noqa: E402


class WsClient:
    """python3-websockets client on its own event-loop thread. Collects
    every text message (parsed JSON when possible) in self.msgs."""

    def __init__(self, url, timeout=10, **kw):
        self.loop = asyncio.new_event_loop()
        self._th = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._th.start()
        self.msgs = []
        self.hellos = []    # the server's hello frames, one per connection
        self.raw = []
        self.cond = threading.Condition()
        self.closed = False
        self.close_code = None
        self.close_reason = None
        kw.setdefault("ping_interval", None)
        kw.setdefault("max_size", 16 * 1024 * 1024)
        kw.setdefault("open_timeout", T(timeout))
        kw.setdefault("close_timeout", T(5))
        try:
            async def connect():
                return await websockets.connect(url, **kw)
            self.ws = self._call(connect(), timeout + 5)
        except BaseException:
            self._stop_loop()
            raise
        self._reader = asyncio.run_coroutine_threadsafe(self._read(), self.loop)

    def _call(self, coro, timeout=10):
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(T(timeout))

    async def _read(self):
        try:
            async for m in self.ws:
                with self.cond:
                    self.raw.append(m)
                    try:
                        j = json.loads(m)
                    except Exception:  # noqa: BLE001
                        j = m
                    if isinstance(j, dict) and j.get("hello") is True:
                        self.hellos.append(j)
                    else:
                        self.msgs.append(j)
                    self.cond.notify_all()
        except ConnectionClosed:
            pass
        finally:
            with self.cond:
                self.closed = True
                self.close_code = self.ws.close_code
                self.close_reason = self.ws.close_reason
                self.cond.notify_all()

    def send(self, text, timeout=10):
        self._call(self.ws.send(text), timeout)

    def ping(self, timeout=10):
        """Send a ping and wait for the pong. Returns True when it came."""
        async def go():
            w = await self.ws.ping()
            await asyncio.wait_for(w, T(timeout))
            return True
        return self._call(go(), timeout + 5)

    def close(self, code=1000, timeout=10):
        self._call(self.ws.close(code), timeout + 5)
        self.wait_closed(timeout)

    def wait_closed(self, timeout=10):
        deadline = time.monotonic() + T(timeout)
        with self.cond:
            while not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 0.5))
        return True

    def wait(self, pred, timeout=10, what="WebSocket messages"):
        deadline = time.monotonic() + T(timeout)
        with self.cond:
            while True:
                if pred(self.msgs):
                    return True
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    st = "closed with %s" % self.close_code if self.closed else "timed out"
                    raise TestFailure("%s waiting for %s; got %d messages, last %r"
                                      % (st, what, len(self.msgs), [_short(m, 120) for m in self.msgs[-3:]]))
                self.cond.wait(min(left, 0.5))

    def wait_count(self, n, timeout=10):
        return self.wait(lambda ms: len(ms) >= n, timeout, "%d messages" % n)

    def shutdown(self):
        try:
            if not self.closed:
                self._call(self.ws.close(), 10)
        except Exception:  # noqa: BLE001
            pass
        self._stop_loop()

    def _stop_loop(self):
        try:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._th.join(5)
        except Exception:  # noqa: BLE001
            pass


# -------------------------------------------------------------- misc

def poll_json(srv, ch, query="", timeout=10):
    r = curl(srv.url("/poll/%s%s" % (ch, query)), timeout=timeout)
    check(r.status == 200, "poll %s%s: status %s body %r" % (ch, query, r.status, r.body[:200]))
    return r.json()


def stat_path(st, path):
    cur = st
    for k in path.split("."):
        cur = cur[k]
    return cur


# ------------------------------------------------------------------ client

CLIENT = os.path.join(BIN, "pushpull-client")

# What a sanitizer (ASan, UBSan, LSan) writes when it finds something; under
# a sanitizer build such a report ends the process with status 1, which a
# test that accepts "exit 0 or 1" must not mistake for a clean exit.
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "SUMMARY: UndefinedBehaviorSanitizer", "AddressSanitizer:DEADLYSIGNAL")


class ClientResult:
    def __init__(self, args, rc, stdout, stderr, elapsed, timed_out, json_path):
        self.args, self.rc, self.stdout, self.stderr = args, rc, stdout, stderr
        self.elapsed, self.timed_out, self.json_path = elapsed, timed_out, json_path
        self.doc = None
        self.json_error = None
        if json_path and os.path.exists(json_path):
            try:
                with open(json_path, "rb") as f:
                    self.doc = json.loads(f.read().decode("utf-8"), parse_constant=_no_constant)
            except Exception as e:  # noqa: BLE001
                self.json_error = e

    def sanitizer_report(self):
        return any(m in self.stderr for m in SANITIZER_MARKS)

    def run(self, transport):
        """The runs[] entry of one transport."""
        check(self.doc is not None, "no JSON document (%s); %s" % (self.json_error, self.describe()))
        for r in self.doc.get("runs", []):
            if r.get("transport") == transport:
                return r
        raise TestFailure("no run of %s in the JSON; %s" % (transport, self.describe()))

    def describe(self):
        return ("pushpull-client %s: exit %s after %.1fs%s; stderr:\n%s\nstdout:\n%s"
                % (" ".join(self.args), self.rc, self.elapsed, " (TIMED OUT, killed)" if self.timed_out else "",
                   self.stderr[-3000:], self.stdout[-2500:]))


def _no_constant(name):
    raise ValueError("JSON has %s (NaN/Infinity are not JSON)" % name)


_tmpdirs = []


def client_tmpdir():
    """A temporary directory removed when the test program exits."""
    d = tempfile.mkdtemp(prefix="ppclient-")
    if not _tmpdirs:
        import atexit
        import shutil
        atexit.register(lambda: [shutil.rmtree(x, ignore_errors=True) for x in _tmpdirs])
    _tmpdirs.append(d)
    return d


def check_all_delivered(r, what, dialect, subs, measured):
    """A client run (one transport's result) in which every subscriber got
    every measured message exactly once, with no error of any kind."""
    d, c = r["delivery"], r["cost"]
    check_eq(r["status"], "ok", "%s: status (failure %r)" % (what, r.get("failure")))
    check_eq(r["dialect"], dialect, "%s: dialect" % what)
    check_eq(d["publish_errors"], 0, "%s: publish_errors" % what)
    check_eq(d["published"], measured, "%s: published" % what)
    check_eq(d["expected"], measured * subs, "%s: expected" % what)
    check_eq((d["lost"], d["duplicates"], d["out_of_order"]), (0, 0, 0),
             "%s: lost, duplicates, out_of_order (delivery %r)" % (what, d))
    check_eq(d["delivered"], d["expected"], "%s: delivered = expected" % what)
    check_eq(c["protocol_errors"], 0, "%s: protocol_errors" % what)


class BackgroundClient:
    """bin/pushpull-client running while the test goes on (a --no-publish
    process waiting for its publisher, say): start_client makes one."""

    def __init__(self, args, json_file=True, env=None):
        args = [str(a) for a in args]
        tmpdir = client_tmpdir()
        self.json_path = None
        if "--json" in args:
            self.json_path = args[args.index("--json") + 1]
        elif json_file:
            self.json_path = os.path.join(tmpdir, "out.json")
            args = args + ["--json", self.json_path]
        if not os.access(CLIENT, os.X_OK):
            raise TestFailure("no client binary at %s (set PUSHPULL_BIN or run make)" % CLIENT)
        self.args = args
        self.outf, self.errf = tempfile.TemporaryFile(dir=tmpdir), tempfile.TemporaryFile(dir=tmpdir)
        self.t0 = time.monotonic()
        self.p = _spawn([CLIENT] + args, stdin=subprocess.DEVNULL, stdout=self.outf, stderr=self.errf,
                        env=dict(os.environ, **(env or {})))

    def wait_stderr(self, text, timeout):
        """Until stderr says text (True), the client ends or timeout passes."""
        deadline = time.monotonic() + T(timeout)
        while time.monotonic() < deadline:
            self.errf.seek(0)
            if text in self.errf.read().decode(errors="replace"):
                return True
            if self.p.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def finish(self, timeout):
        """Wait for the end (killed after timeout seconds, scaled: SIGTERM,
        then SIGKILL 3 s later); its ClientResult."""
        timed_out = False
        try:
            self.p.wait(timeout=T(timeout))
        except subprocess.TimeoutExpired:
            timed_out = True          # SIGTERM first: an interrupted client still reports
            self.p.terminate()
            try:
                self.p.wait(timeout=T(3))
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=10)
        el = time.monotonic() - self.t0
        self.outf.seek(0)
        self.errf.seek(0)
        res = ClientResult(self.args, self.p.returncode, self.outf.read().decode(errors="replace"),
                           self.errf.read().decode(errors="replace"), el, timed_out, self.json_path)
        self.outf.close()
        self.errf.close()
        return res


def start_client(args, json_file=True, env=None):
    """bin/pushpull-client with args (strings), --json to a temp file unless
    json_file is False (or args already name one), in the background."""
    return BackgroundClient(args, json_file, env)


def run_client(args, timeout, json_file=True, env=None):
    """Run bin/pushpull-client with args (strings), --json to a temp file
    unless json_file is False (or args already name one). Killed after
    timeout seconds (scaled; SIGTERM, then SIGKILL 3 s later). Returns a
    ClientResult."""
    return start_client(args, json_file, env).finish(timeout)


def run_cli(args, timeout=10):
    """Run pushpull-server with arguments that make it exit by itself (--help,
    a bad flag): (exit status, stdout, stderr)."""
    p = _spawn([SERVER] + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=T(timeout))
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate(timeout=5)
        raise AssertionError("%r still running after %ds (stdout %r)" % (args, timeout, out[:200]))
    return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")


# ------------------------------------------------- edge tests: bystanders

def fd_count(srv):
    """Open fds of the server process (/proc/<pid>/fd)."""
    return len(os.listdir("/proc/%d/fd" % srv.proc.pid))


class Bystanders:
    """An SSE and a WebSocket subscriber on one channel, kept through a
    series of bad inputs; after each, check() publishes one message and
    both must get exactly it, and the server's fds must come back to what
    they were with only the bystanders connected."""

    def __init__(self, srv, ch="bystand"):
        self.srv, self.ch, self.sent = srv, ch, []
        self.ws = WsClient(srv.ws_url("/ws/" + ch), ping_interval=None)
        self.sse = CurlStream(srv.url("/sse/" + ch), max_time=170)
        self.sse.wait(lambda s: any(l.startswith("retry:") for l in s.lines), T(10), "SSE retry: line")
        wait_until(lambda: (lambda c: c["ws"] >= 1 and c["sse"] >= 1)(srv.stats()["connections"]),
                   T(10), what="bystanders registered")
        # curl's /stats connection may linger a moment: settle on the count
        # of the two streams' sockets.
        time.sleep(0.2)
        self.fds = wait_until(lambda: self._steady(), T(10), what="a steady fd count")

    def _steady(self):
        a = fd_count(self.srv)
        time.sleep(0.1)
        return a if fd_count(self.srv) == a else None

    def check(self, name):
        body = "after: " + name
        self.srv.publish(self.ch, body)
        self.sent.append(body)
        n = len(self.sent)
        want = {i + 1: b for i, b in enumerate(self.sent)}
        self.ws.wait_count(n, 10)
        self.sse.wait(lambda s: len(s.messages()) >= n, T(10), "%d SSE messages" % n)
        check_sequence(self.ws.msgs, range(1, n + 1), want, "WebSocket bystander")
        check_sequence(self.sse.messages(), range(1, n + 1), want, "SSE bystander")
        wait_until(lambda: fd_count(self.srv) <= self.fds, T(10),
                   what="server fds back to %d after %s" % (self.fds, name),
                   show=lambda: "%d fds" % fd_count(self.srv))

    def close(self):
        self.ws.shutdown()
        self.sse.close()


def exchange(port, raw, wait=5, timeout=10):
    """Send raw bytes on a fresh connection; read one response, then what
    follows until the server closes or `wait` seconds pass. Returns
    (response, rest, closed): rest is any byte after the response (a second
    answer), closed whether the server closed the connection."""
    s = raw_connect(port, timeout)
    try:
        s.sendall(raw)
        r = read_response(s, timeout)
        rest, closed = r.rest, False
        deadline = time.monotonic() + T(wait)
        while time.monotonic() < deadline:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            except (ConnectionResetError, BrokenPipeError):
                closed = True
                break
            if not b:
                closed = True
                break
            rest += b
        return r, rest, closed
    finally:
        s.close()


# ------------------------------------------------------------------ redis

class Redis:
    """Our own redis-server (issue 16): 127.0.0.1, an ephemeral port, a
    temporary directory, no persistence unless a test saves; stopped by pid,
    never a system instance. restart() comes back on the same port and dir
    (with what SHUTDOWN SAVE wrote, if anything). password: --requirepass."""

    def __init__(self, password=None):
        self.dir = tempfile.mkdtemp(prefix="ppredis-")
        self.port = None
        self.proc = None
        self.password = password

    def _command(self, port):
        return (["redis-server", "--port", str(port), "--bind", HOST, "--dir", self.dir, "--save", "",
                 "--appendonly", "no", "--protected-mode", "no"]
                + (["--requirepass", self.password] if self.password else []))

    def __enter__(self):
        return self.start()

    def __exit__(self, et, ev, tb):
        self.stop()
        subprocess.run(["rm", "-rf", self.dir], check=False)
        return False

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def start(self):
        for _ in range(20):
            if self.port is None or self.proc is not None:
                s = socket.socket()
                s.bind((HOST, 0))
                port = s.getsockname()[1]
                s.close()
            else:
                port = self.port
            self.proc = _spawn(self._command(port), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            self.port = port
            if self._wait_ping():
                return self
            self.proc.kill()
            self.proc.wait()
        raise TestFailure("redis-server did not start")

    def _wait_ping(self):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if self.cli("PING") == "PONG":
                return True
            time.sleep(0.05)
        return False

    def cli(self, *args):
        auth = ["--no-auth-warning", "-a", self.password] if self.password else []
        r = subprocess.run(["redis-cli", "-p", str(self.port)] + auth + [str(a) for a in args],
                           capture_output=True, timeout=10)
        return r.stdout.decode(errors="replace").strip()

    def stop(self, save=False):
        """SHUTDOWN [SAVE|NOSAVE]; SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.cli("SHUTDOWN", "SAVE" if save else "NOSAVE")
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def restart(self):
        """On the same port and dir (the old process is gone)."""
        proc = self.proc
        self.proc = None
        for _ in range(50):
            self.proc = _spawn(self._command(self.port), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            if self._wait_ping():
                return self
            time.sleep(0.1)
        del proc
        raise TestFailure("redis-server did not start again on port %d" % self.port)
