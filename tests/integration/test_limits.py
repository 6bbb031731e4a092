"""Connection caps refuse new connections, not old ones (issue 13): over
--max-connections or --max-connections-per-ip, a new connection's request
gets 503 with a JSON error and the connection closes, while connections
accepted before keep being served (a keep-alive publisher, SSE and
WebSocket subscribers). And a long poll whose client sends a few bytes and
then resets ends at once (the socket watch stays armed)."""

import json
import socket
import struct
import time

from harness import (Tap, Server, Bystanders, Publisher, exchange, raw_connect, check,
                     wait_until, HOST, T)


def src_connect(port, src):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(T(10))
    s.connect((HOST, port))
    return s


def refused_503(s, what):
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while True:
        try:
            b = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not b:
            break
        data += b
    head, _, body = data.partition(b"\r\n\r\n")
    check(head.startswith(b"HTTP/1.1 503"), "%s: %r" % (what, data[:200]))
    check(b"connection: close" in head.lower(), "%s: no Connection: close: %r" % (what, head))
    check(body.startswith(b'{"error":'), "%s: body %r" % (what, body[:100]))


def t_total(srv, by):
    """--max-connections 6: the bystanders (2) and a keep-alive publisher
    (1) are in; 3 idle connections fill the cap; 3 more are refused one by
    one while the publisher and the bystanders carry on."""
    pub = Publisher(srv.port)
    pub.pub("lim", "before")
    idle = [raw_connect(srv.port) for _ in range(3)]
    try:
        wait_until(lambda: srv_conns(srv, pub) >= 6, T(10), what="6 connections open")
        for i in range(3):
            s = raw_connect(srv.port)
            try:
                refused_503(s, "connection %d over --max-connections" % (i + 1))
            finally:
                s.close()
            pub.pub("lim", "during %d" % i)   # established: still served
        r = idle[0]
        r.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        check(r.recv(4096).startswith(b"HTTP/1.1 200"), "an idle connection accepted under the cap")
    finally:
        for s in idle:
            s.close()
    pub.close()
    by.check("over --max-connections")
    wait_until(lambda: exchange(srv.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
                                wait=0)[0].status == 200, T(10), what="new connections served again")


def srv_conns(srv, pub):
    """/stats over the keep-alive publisher's connection (a new one might
    be refused): connections.http."""
    pub.conn.request("GET", "/stats")
    r = pub.conn.getresponse()
    return json.loads(r.read())["connections"]["http"]


def t_per_ip(srv, by):
    """--max-connections-per-ip 3 for 127.0.0.2: its first connection keeps
    being served after a fourth was refused; 127.0.0.1 is not affected."""
    a = src_connect(srv.port, "127.0.0.2")
    b = src_connect(srv.port, "127.0.0.2")
    held = src_connect(srv.port, "127.0.0.2")
    try:
        a.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        check(a.recv(4096).startswith(b"HTTP/1.1 200"), "first connection of 127.0.0.2")
        for i in range(2):
            c = src_connect(srv.port, "127.0.0.2")
            try:
                refused_503(c, "connection %d over the per-address cap" % (i + 4))
            finally:
                c.close()
        a.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        check(a.recv(4096).startswith(b"HTTP/1.1 200"), "first connection of 127.0.0.2 after refusals")
        b.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        check(b.recv(4096).startswith(b"HTTP/1.1 200"), "second connection of 127.0.0.2")
        check(srv.healthz(), "127.0.0.1 served")
    finally:
        for s in (a, b, held):
            s.close()
    by.check("over --max-connections-per-ip")


def t_longpoll_reset(srv, by):
    """A waiting long poll whose client sends bytes and then resets: the
    wait ends at once (client_left), not at its 60 s timeout."""
    lp0 = srv.stats()["longpoll"]
    socks = []
    for i in range(3):
        s = raw_connect(srv.port)
        s.sendall(b"GET /longpoll/lp%d?timeout=60 HTTP/1.1\r\nHost: x\r\n\r\n" % i)
        socks.append(s)
    wait_until(lambda: srv.stats()["connections"]["longpoll"] >= 3, T(10), what="3 long polls waiting")
    for i, s in enumerate(socks):
        s.sendall(b"xy"[: i + 1])            # a few bytes...
        time.sleep(0.1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()                             # ...then RST
    t0 = time.monotonic()
    wait_until(lambda: srv.stats()["longpoll"]["client_left"] - lp0["client_left"] >= 3, T(20),
               what="3 long polls ended by their client's reset",
               show=lambda: srv.stats()["longpoll"])
    check(time.monotonic() - t0 < 30, "the waits ended late")
    by.check("long poll reset after bytes")


def main():
    tap = Tap(__file__)
    with Server(tap, "--max-connections", "6", "--quiet") as srv:
        by = Bystanders(srv)
        try:
            tap.run("--max-connections: new connections 503 + close, old ones served", t_total, srv, by)
        finally:
            by.close()
    # The bystanders and each curl of the checks come from 127.0.0.1: 3.
    with Server(tap, "--max-connections-per-ip", "3", "--quiet") as srv:
        by = Bystanders(srv)
        try:
            tap.run("--max-connections-per-ip: the same, per address", t_per_ip, srv, by)
        finally:
            by.close()
    with Server(tap, "--quiet") as srv:
        by = Bystanders(srv)
        try:
            tap.run("long poll: bytes then a reset end the wait", t_longpoll_reset, srv, by)
        finally:
            by.close()
    tap.done()


if __name__ == "__main__":
    main()
