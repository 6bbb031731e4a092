"""No file descriptor leaks across connect/disconnect cycles: for each
transport, CYCLES connections come and go (10 000, plain or under ASan, in
about 10 s either way; 1 000 under valgrind, where each costs the server
far more), and the server's open fds (/proc/PID/fd) and /stats connections
return to where they started.

- poll: one GET /poll each, half with Connection: close (the server closes),
  half keep-alive closed by the client after the answer;
- longpoll: the request waits, the client leaves, then a publish wakes the
  waiters (their answers meet a closed socket);
- SSE: the client reads the first bytes of the stream and leaves; the
  server only finds out when it next writes, a heartbeat (--heartbeat 1);
- WebSocket: upgrade, then half close with a close frame, half just drop
  the TCP connection.

Raw sockets in batches keep each cycle cheap; source addresses rotate over
127.0.0.2-201 so that neither the ephemeral ports (TIME_WAIT) nor a
per-address connection limit run out. Loopback only."""

import os
import socket
import time

from harness import (Tap, Server, HOST, Publisher, read_response, recv_until, ws_frame, ws_key,
                     check, check_eq, wait_until, T, WRAP)

CYCLES = 1000 if WRAP else 10000
BATCH = 100
SOURCES = 200
# Connections the server may still hold (SSE streams not yet written to)
# before the cycles wait for a heartbeat to clear them.
BACKLOG = 3000


def open_fds(srv):
    return len(os.listdir("/proc/%d/fd" % srv.proc.pid))


_next_source = [0]


def connect(srv):
    """A connection from the next of SOURCES loopback addresses."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.%d" % (2 + _next_source[0] % SOURCES), 0))
    _next_source[0] += 1
    s.settimeout(T(10))
    s.connect((HOST, srv.port))
    return s


def request(path, close=False):
    return ("GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n"
            % (path, HOST, "Connection: close\r\n" if close else "")).encode()


def batches(srv, base, one_batch):
    """Run CYCLES cycles, BATCH at a time, never letting the server hold
    more than BACKLOG connections beyond its base."""
    done = 0
    while done < CYCLES:
        n = min(BATCH, CYCLES - done)
        one_batch(n)
        done += n
        if open_fds(srv) > base + BACKLOG:
            wait_until(lambda: open_fds(srv) < base + BACKLOG / 2, T(10),
                       what="the server to close streams its clients left")


def back_to_base(srv, base, what):
    def show():
        st = srv.stats()
        return "%d fds (base %d), /stats connections %r" % (open_fds(srv), base, st["connections"])
    wait_until(lambda: open_fds(srv) <= base, T(15), interval=0.2,
               what="%s: the server's open fds back to %d" % (what, base), show=show)
    conns = srv.stats()["connections"]
    check(conns["http"] <= 2 and all(v == 0 for k, v in conns.items() if k != "http"),
          "%s: /stats connections not back to 0 (http: the publisher's and this request's): %r"
          % (what, conns))


def t_poll(srv, base):
    def one_batch(n):
        socks = [connect(srv) for _ in range(n)]
        for i, s in enumerate(socks):
            s.sendall(request("/poll/fd?since=0", close=i % 2 == 0))
        for s in socks:
            check_eq(read_response(s).status, 200, "poll status")
            s.close()
    batches(srv, base, one_batch)
    back_to_base(srv, base, "%d poll cycles" % CYCLES)


def t_longpoll(srv, base, pub):
    last = [pub.pub("fd", "start")]

    def one_batch(n):
        socks = [connect(srv) for _ in range(n)]
        for s in socks:
            s.sendall(request("/longpoll/fd?since=%d&timeout=30" % last[0]))
        time.sleep(0.005)
        for s in socks:
            s.close()
        last[0] = pub.pub("fd", "wake")
    batches(srv, base, one_batch)
    back_to_base(srv, base, "%d long-poll cycles" % CYCLES)


def t_sse(srv, base):
    def one_batch(n):
        socks = [connect(srv) for _ in range(n)]
        for s in socks:
            s.sendall(request("/sse/fd-sse"))
        for s in socks:
            buf, eof = recv_until(s, b"retry:", T(10))
            check(not eof and buf.startswith(b"HTTP/1.1 200"), "SSE answer %r" % buf[:200])
            s.close()
    batches(srv, base, one_batch)
    back_to_base(srv, base, "%d SSE cycles" % CYCLES)


def t_ws(srv, base):
    close_frame = ws_frame(0x8, b"\x03\xe8")
    upgrade = ("GET /ws/fd HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (HOST, ws_key())).encode()

    def one_batch(n):
        socks = [connect(srv) for _ in range(n)]
        for s in socks:
            s.sendall(upgrade)
        for i, s in enumerate(socks):
            buf, eof = recv_until(s, b"\r\n\r\n", T(10))
            check(buf.startswith(b"HTTP/1.1 101"), "WebSocket upgrade answered %r" % buf[:200])
            if i % 2 == 0:
                s.sendall(close_frame)
            s.close()
    batches(srv, base, one_batch)
    back_to_base(srv, base, "%d WebSocket cycles" % CYCLES)


def main():
    tap = Tap(__file__)
    with Server(tap, "--heartbeat", "1") as srv:
        # The publisher's keep-alive connection stays open throughout: it
        # is part of the start.
        pub = Publisher(srv.port)
        pub.pub("fd", "start")
        wait_until(lambda: srv.stats()["connections"]["http"] <= 2, T(10),
                   what="only the publisher's and the /stats connection")
        base = open_fds(srv)
        tap.diag("%d cycles per transport; server fds at start: %d" % (CYCLES, base))
        tap.run("%d poll connect/disconnect cycles: fds and connections back to start" % CYCLES,
                t_poll, srv, base)
        tap.run("%d long-poll cycles (client leaves, then a publish): fds back to start" % CYCLES,
                t_longpoll, srv, base, pub)
        tap.run("%d SSE cycles (client leaves after the first bytes): fds back to start "
                "within a heartbeat" % CYCLES, t_sse, srv, base)
        tap.run("%d WebSocket cycles (close frame or dropped TCP): fds back to start" % CYCLES,
                t_ws, srv, base)
        pub.close()
    tap.done()


if __name__ == "__main__":
    main()
