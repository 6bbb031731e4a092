"""pushpull-relay, the delay relay that stands in for netem: bytes pass
intact and in order; a round trip through it takes at least twice --delay;
--rate paces a bulk transfer; ends (EOF) pass after the data; many
connections at once; a non-loopback or malformed address exits 2; a reader
that stops reading stalls the sender (bounded queue) and then gets every
byte; SIGTERM and SIGINT exit 0.

Everything runs on 127.0.0.1 against small Python servers in this process.
Lower bounds on time are what the relay promises (never early); upper bounds
are generous (behaviour, not speed) and scaled for sanitizer builds."""

import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time

from harness import Tap, TestFailure, BIN, _spawn, read_line, check, check_eq, T, HOST, diag

RELAY = os.path.join(BIN, "pushpull-relay")
DELAY = 0.050
LINE = re.compile(r"relaying 127\.0\.0\.1:(\d+) -> 127\.0\.0\.1:(\d+)")


# ------------------------------------------------------------ backends

class Backend:
    """A loopback TCP server running handler(sock) in a thread per connection."""

    def __init__(self, handler):
        self.handler = handler
        self.lsock = socket.socket()
        self.lsock.bind((HOST, 0))
        self.lsock.listen(128)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.stopping = False
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                continue
            s.settimeout(T(20))
            self.conns.append(s)
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def _serve(self, s):
        try:
            self.handler(s)
        except OSError:
            pass
        finally:
            s.close()

    def close(self):
        self.stopping = True
        self.lsock.close()


def echo(s):
    """Echo until EOF, then pass the EOF back."""
    while True:
        b = s.recv(65536)
        if not b:
            s.shutdown(socket.SHUT_WR)
            return
        s.sendall(b)


# --------------------------------------------------------------- relay

class Relay:
    """bin/pushpull-relay in front of a port. Use as a context manager with
    a Tap: on exit it gets SIGTERM and its clean exit is a TAP check."""

    def __init__(self, tap, target_port, *args, label=None):
        self.tap = tap
        self.args = ["--target", "%s:%d" % (HOST, target_port)] + [str(a) for a in args]
        self.label = label or " ".join(str(a) for a in args)
        self.proc = None
        self.port = None
        self._errf = tempfile.TemporaryFile()

    def __enter__(self):
        check(os.access(RELAY, os.X_OK), "no relay binary at %s (set PUSHPULL_BIN or run make)" % RELAY)
        self.proc = _spawn([RELAY, "--listen", HOST + ":0"] + self.args, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=self._errf)
        line = read_line(self.proc, T(10))
        m = LINE.fullmatch(line.decode(errors="replace").rstrip("\n")) if line else None
        if not m:
            self.proc.kill()
            self.proc.wait(5)
            raise TestFailure("relay [%s] first line %r (status %s); stderr:\n%s"
                                 % (self.label, line, self.proc.returncode, self.stderr_tail()))
        self.port = int(m.group(1))
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=T(5))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def __exit__(self, et, ev, tb):
        rc = self.stop()
        self.tap.ok(rc == 0, "relay [%s]: clean exit (status 0) on SIGTERM" % self.label,
                    "status %s; stderr tail:\n%s" % (rc, self.stderr_tail()))
        return False

    def stderr_tail(self, n=3000):
        self._errf.seek(0)
        return self._errf.read()[-n:].decode(errors="replace")

    def connect(self, timeout=10):
        s = socket.create_connection((HOST, self.port), timeout=T(timeout))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        b = s.recv(min(65536, n - len(buf)))
        check(b, "EOF after %d of %d bytes" % (len(buf), n))
        buf += b
    return bytes(buf)


def recv_to_eof(s):
    buf = bytearray()
    while True:
        b = s.recv(65536)
        if not b:
            return bytes(buf)
        buf += b


def send_then_shut(s, data):
    """Send from a thread (the echo comes back while we still send)."""
    def run():
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


# --------------------------------------------------------------- tests

def test_bulk_intact(relay):
    data = os.urandom(1 << 20)
    with relay.connect(20) as s:
        t = send_then_shut(s, data)
        got = recv_to_eof(s)
        t.join(T(10))
    check_eq(len(got), len(data), "bytes echoed back")
    check(got == data, "1 MiB came back altered or reordered")


def test_rtt(relay, results):
    rtts = []
    with relay.connect() as s:
        for i in range(5):
            msg = b"ping%d" % i
            t0 = time.monotonic()
            s.sendall(msg)
            check_eq(recv_exact(s, len(msg)), msg, "echo of a small message")
            rtts.append(time.monotonic() - t0)
    results["50ms"] = rtts
    diag("round trips with --delay 50ms: %s ms" % ", ".join("%.2f" % (r * 1000) for r in rtts))
    check(min(rtts) >= 2 * DELAY - 0.001, "a round trip took %.1f ms, under 2 x 50 ms" % (min(rtts) * 1000))
    check(max(rtts) < 2 * DELAY + T(1.0), "a round trip took %.1f ms" % (max(rtts) * 1000))


def test_rtt_1ms(tap, echo_port):
    with Relay(tap, echo_port, "--delay", "1ms", "--quiet") as relay, relay.connect() as s:
        rtts = []
        for i in range(20):
            t0 = time.monotonic()
            s.sendall(b"x")
            recv_exact(s, 1)
            rtts.append(time.monotonic() - t0)
        rtts.sort()
        diag("round trips with --delay 1ms: min %.3f median %.3f max %.3f ms"
             % (rtts[0] * 1000, rtts[len(rtts) // 2] * 1000, rtts[-1] * 1000))
        check(rtts[0] >= 0.002 - 0.0002, "a round trip took %.3f ms, under 2 x 1 ms" % (rtts[0] * 1000))
        check(rtts[len(rtts) // 2] < 0.002 + T(0.5), "median round trip %.1f ms" % (rtts[10] * 1000))


def test_rate(tap):
    """250 kB at 2 Mbit/s is 1 s of link time, whatever the socket buffers."""
    n = 250000
    got = {"bytes": 0, "t": None}
    done = threading.Event()

    def sink(s):
        while True:
            b = s.recv(65536)
            if not b:
                break
            got["bytes"] += len(b)
            if got["bytes"] >= n and got["t"] is None:
                got["t"] = time.monotonic()
                done.set()
        done.set()

    be = Backend(sink)
    try:
        with Relay(tap, be.port, "--rate", "2Mbit", "--quiet") as relay, relay.connect() as s:
            t0 = time.monotonic()
            send_then_shut(s, os.urandom(n))
            check(done.wait(T(10)), "sink got %d of %d bytes within %.0fs" % (got["bytes"], n, T(10)))
            check_eq(got["bytes"], n, "bytes through a rate-limited relay")
            el = got["t"] - t0
            diag("250000 bytes at --rate 2Mbit: %.3f s (1.000 s of link time)" % el)
            check(el >= 0.8, "250 kB arrived in %.3f s, faster than 2 Mbit/s allows" % el)
            check(el < T(5), "250 kB took %.3f s" % el)
    finally:
        be.close()


def run_relay_expect(args, want_rc, stderr_re):
    p = _spawn([RELAY] + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
               stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=T(5))
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate(timeout=5)
        raise TestFailure("relay %s still running after %.0fs" % (args, T(5)))
    check_eq(p.returncode, want_rc, "exit status of relay %s" % args)
    check(not out.strip(), "relay %s printed %r on stdout" % (args, out))
    check(re.search(stderr_re, err.decode(errors="replace")),
          "relay %s: stderr %r does not match %r" % (args, err, stderr_re))


def test_refuse_remote():
    # Refused while parsing flags: nothing is ever connected to 10.0.0.1.
    run_relay_expect(["--target", "10.0.0.1:80", "--delay", "50ms"], 2, r"--target.*not a loopback")
    run_relay_expect(["--target", "[::ffff:10.0.0.1]:80"], 2, r"not a loopback")
    run_relay_expect(["--target", "127.0.0.1:80", "--listen", "0.0.0.0:0"], 2, r"--listen.*not a loopback")


def test_bad_flags():
    run_relay_expect([], 2, r"--target .*required")
    run_relay_expect(["--target", "127.0.0.1"], 2, r"--target.*ADDR:PORT")
    run_relay_expect(["--target", "127.0.0.1:0"], 2, r"--target.*port")
    run_relay_expect(["--target", "localhost:80"], 2, r"--target.*ADDR:PORT")
    run_relay_expect(["--target", "127.0.0.1:80", "--delay", "5x"], 2, r"--delay")
    run_relay_expect(["--target", "127.0.0.1:80", "--rate", "2000000"], 2, r"--rate")
    run_relay_expect(["--target", "127.0.0.1:80", "--rate", "2Mbps"], 2, r"--rate")
    run_relay_expect(["--target", "127.0.0.1:80", "--nope"], 2, r"unknown")


def test_concurrent(relay, n=50):
    errors, done = [], []

    def one(i):
        try:
            msg = (b"%03d:" % i) * 2500
            with relay.connect(20) as s:
                t = send_then_shut(s, msg)
                got = recv_to_eof(s)
                t.join(T(10))
            if got != msg:
                errors.append("connection %d: %d bytes back, want %d" % (i, len(got), len(msg)))
            done.append(i)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append("connection %d: %r" % (i, e))

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.1, t0 + T(20) - time.monotonic()))
    check(not errors, "; ".join(errors[:5]))
    check_eq(len(done), n, "connections finished")
    diag("%d concurrent 10 kB echoes through --delay 50ms: %.2f s" % (n, time.monotonic() - t0))


def test_server_close(tap):
    """The server answers and closes at once: data, then a clean EOF, and
    the EOF comes no sooner than the delay."""
    data = os.urandom(100000)
    be = Backend(lambda s: s.sendall(data))
    try:
        with Relay(tap, be.port, "--delay", "50ms", "--quiet", label="--delay 50ms, server closes") as relay:
            t0 = time.monotonic()
            with relay.connect() as s:
                got = recv_to_eof(s)
                el = time.monotonic() - t0
            check(got == data, "got %d bytes before EOF, want the %d sent" % (len(got), len(data)))
            check(el >= DELAY - 0.001, "EOF after %.1f ms, under the 50 ms delay" % (el * 1000))
    finally:
        be.close()


def test_backpressure(tap):
    """A server that does not read: the sender stalls after a bounded amount
    (relay queue + socket buffers), then gets every byte through once the
    server reads again."""
    release = threading.Event()
    got = {"data": b""}

    def slow_sink(s):
        release.wait(T(20))
        got["data"] = recv_to_eof(s)

    be = Backend(slow_sink)
    try:
        with Relay(tap, be.port, "--max-queue", "256KiB", "--quiet", label="--max-queue 256KiB") as relay, \
                relay.connect() as s:
            block = os.urandom(1 << 16)
            s.setblocking(False)
            sent, stalled_since = 0, None
            deadline = time.monotonic() + T(10)
            while time.monotonic() < deadline:
                try:
                    sent += s.send(block[sent % len(block):])   # a partial send must not skip bytes
                    stalled_since = None
                except BlockingIOError:
                    stalled_since = stalled_since or time.monotonic()
                    if time.monotonic() - stalled_since > 0.5:
                        break
                    time.sleep(0.01)
                check(sent < 64 << 20, "the sender got 64 MiB into a relay whose server never reads")
            diag("a non-reading server: the sender stalled after %.1f MiB" % (sent / 1048576))
            check(stalled_since is not None, "the sender never stalled (%d bytes sent)" % sent)
            release.set()
            s.setblocking(True)
            s.settimeout(T(10))
            s.shutdown(socket.SHUT_WR)
            expect = (block * (sent // len(block) + 1))[:sent]
            deadline = time.monotonic() + T(10)
            while len(got["data"]) < sent and time.monotonic() < deadline:
                time.sleep(0.05)
            check_eq(len(got["data"]), sent, "bytes the server read once it read again")
            check(got["data"] == expect, "bytes altered after backpressure")
    finally:
        release.set()
        be.close()


def test_signals_with_open_connection(tap, echo_port):
    for sig in (signal.SIGINT, signal.SIGTERM):
        relay = Relay(tap, echo_port, "--delay", "50ms", label=sig.name)
        relay.__enter__()
        try:
            s = relay.connect()
            s.sendall(b"in flight")
            rc = relay.stop(sig)
            check_eq(rc, 0, "exit status on %s with an open connection (stderr: %s)"
                     % (sig.name, relay.stderr_tail()))
            s.close()
        finally:
            relay.stop(signal.SIGKILL)


def main():
    tap = Tap(__file__, watchdog_s=120)
    be = Backend(echo)
    try:
        results = {}
        with Relay(tap, be.port, "--delay", "50ms", label="--delay 50ms") as relay:
            tap.run("1 MiB of random bytes comes back intact and in order", test_bulk_intact, relay)
            tap.run("a small message's round trip through --delay 50ms is >= 100 ms", test_rtt, relay, results)
            tap.run("50 concurrent connections each get their own bytes back", test_concurrent, relay)
        tap.run("a round trip through --delay 1ms is >= 2 ms", test_rtt_1ms, tap, be.port)
        tap.run("--rate 2Mbit: 250 kB take about 1 s one way", test_rate, tap)
        tap.run("server closes after sending: the client gets the data, then EOF", test_server_close, tap)
        tap.run("a server that stops reading stalls the sender; then every byte arrives",
                test_backpressure, tap)
        tap.run("a non-loopback --target or --listen exits 2 at startup", test_refuse_remote)
        tap.run("malformed flags exit 2 with a message", test_bad_flags)
        tap.run("SIGINT and SIGTERM with an open connection exit 0", test_signals_with_open_connection,
                tap, be.port)
    finally:
        be.close()
    tap.done()


if __name__ == "__main__":
    main()
