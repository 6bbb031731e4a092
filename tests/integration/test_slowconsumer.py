"""Slow consumers: a WebSocket and an SSE subscriber that never read (tiny
SO_RCVBUF) are dropped once their queue passes --max-queue, counted in
slow_consumers_dropped; a fast subscriber on the same channel still gets
every message; the server's memory stays bounded.

Bound on memory: rss_bytes (from /stats) may grow by at most 64 MiB over
its value before publishing (192 MiB for sanitizer builds, whose allocator
keeps freed blocks in a quarantine). 6.4 MB are published; a per-subscriber
copy that is never freed for 3 subscribers stays below it, so this is a
guard against gross leaks only; the drop itself is asserted through
slow_consumers_dropped, the open-connection counts and the slow sockets
being closed by the server."""

import os
import time

from harness import (Tap, Server, Publisher, RawWS, WsClient, raw_connect, recv_until, parse_frame,
                     check, check_eq, wait_until, T, HOST, diag)

CH = "slow"
N = 100
SIZE = 64000
RSS_BOUND = (192 if os.environ.get("SANITIZE") else 64) * 1024 * 1024


def payload(i):
    head = "%05d:" % i
    return head + chr(0x61 + i % 26) * (SIZE - len(head))


def read_to_eof(sock, timeout):
    """Everything left on the socket until the server closes it (None when
    it stays open past timeout)."""
    buf = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None, buf
        sock.settimeout(left)
        try:
            b = sock.recv(1 << 20)
        except TimeoutError:
            return None, buf
        except OSError:       # reset: closed too
            return True, buf
        if not b:
            return True, buf
        buf += b


def run(tap, srv):
    st0 = srv.stats()
    rss0 = st0["rss_bytes"]
    slow_ws = RawWS(srv.port, "/ws/" + CH, rcvbuf=4096)
    slow_sse = raw_connect(srv.port, 10, rcvbuf=4096)
    slow_sse.sendall(("GET /sse/%s HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (CH, HOST, srv.port)).encode())
    recv_until(slow_sse, b"retry:", T(10))
    fast = WsClient(srv.ws_url("/ws/" + CH), max_size=1 << 20)
    state = {}
    try:
        wait_until(lambda: (lambda c: c["ws"] == 2 and c["sse"] == 1)(srv.stats()["connections"]), T(10),
                   what="connections ws == 2, sse == 1")

        def publish_all():
            pub = Publisher(srv.port, timeout=30)
            t0 = time.monotonic()
            for i in range(1, N + 1):
                check_eq(pub.pub(CH, payload(i)), i, "publish id")
            pub.close()
            state["pub_s"] = time.monotonic() - t0
            t1 = time.monotonic()
            fast.wait_count(N, 30)
            state["fast_s"] = time.monotonic() - t1
            got = fast.msgs
            check_eq([m["id"] for m in got], list(range(1, N + 1)), "fast subscriber ids")
            for m in got:
                if m["data"] != payload(m["id"]):
                    raise AssertionError("fast subscriber: data of message %d differs (len %d)"
                                         % (m["id"], len(m["data"])))
            diag("published %d x %d bytes in %.2fs; fast client had them all %.2fs later"
                 % (N, SIZE, state["pub_s"], state["fast_s"]))
        tap.run("fast ws subscriber gets all %d x %d-byte messages in order while two subscribers never read"
                % (N, SIZE), publish_all)

        def conns():
            return srv.stats()["connections"]

        def dropped():
            v = wait_until(lambda: (lambda s: s if s["slow_consumers_dropped"] >= 2 else None)(srv.stats()),
                           T(15), what="slow_consumers_dropped >= 2 (one ws, one sse)",
                           show=lambda: srv.stats()["slow_consumers_dropped"])
            diag("slow_consumers_dropped = %d" % v["slow_consumers_dropped"])
        tap.run("--max-queue 256KiB: both non-reading subscribers (ws, sse) are counted in "
                "slow_consumers_dropped (>= 2)", dropped)

        def ws_gone():
            wait_until(lambda: conns()["ws"] == 1, T(15), what="connections.ws back to 1", show=conns)
        tap.run("the dropped ws subscriber is gone: connections.ws back to 1 (the fast one)", ws_gone)

        def sse_gone():
            wait_until(lambda: conns()["sse"] == 0, T(10), what="connections.sse back to 0", show=conns)
        tap.run("the dropped sse subscriber is gone: connections.sse back to 0", sse_gone)

        def ws_closed():
            eof, buf = read_to_eof(slow_ws.sock, T(20))
            check(eof, "the server did not close the slow WebSocket's TCP connection (%d bytes read)" % len(buf))
            buf = slow_ws.buf + buf
            codes = []
            while True:
                f, buf = parse_frame(buf)
                if f is None:
                    break
                if f.opcode == 0x8:
                    codes.append(f.close_code())
            diag("slow ws: close frames seen: %r (the server may give up writing the close frame)" % codes)
            check(all(c == 1008 for c in codes), "close code %r, want 1008" % codes)
        tap.run("the slow ws connection is closed by the server (close code, if it got through, is 1008)",
                ws_closed)

        def sse_closed():
            eof, buf = read_to_eof(slow_sse, T(10))
            check(eof, "the server did not end the slow SSE stream (%d bytes read)" % len(buf))
        tap.run("the slow sse stream is ended by the server", sse_closed)

        def rss():
            rss1 = srv.stats()["rss_bytes"]
            diag("rss_bytes before %d, after %d, growth %.1f MiB (bound %d MiB)"
                 % (rss0, rss1, (rss1 - rss0) / 1048576, RSS_BOUND >> 20))
            check(rss1 - rss0 < RSS_BOUND, "rss grew by %d bytes" % (rss1 - rss0))
        tap.run("rss_bytes growth stays under %d MiB" % (RSS_BOUND >> 20), rss)

        def fast_still_up():
            check(not fast.closed, "fast client was closed (%s)" % fast.close_code)
            srv.publish(CH, "after the drop")
            fast.wait_count(N + 1)
            check_eq(fast.msgs[-1]["data"], "after the drop", "data")
        tap.run("the fast subscriber stays connected and gets the next message", fast_still_up)
    finally:
        fast.shutdown()
        slow_ws.close()
        slow_sse.close()


def main():
    tap = Tap(__file__)
    with Server(tap, "--max-queue", "256KiB", "--max-message", "64KiB") as srv:
        tap.run("/healthz answers before the scenario", lambda: check(srv.healthz(), "/healthz"))
        try:
            run(tap, srv)
        except Exception as e:  # noqa: BLE001
            tap.ok(False, "slow consumer scenario", repr(e))
    tap.done()


if __name__ == "__main__":
    main()
