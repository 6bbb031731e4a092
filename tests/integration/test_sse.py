"""SSE stream format: text/event-stream, `retry: 1000` first, `: heartbeat`
comments every --heartbeat, one `id:`/`data:` event per message."""

import json
import time

from harness import Tap, Server, CurlStream, check, check_eq, check_message, wait_until, T, diag


def t_headers_and_retry(srv):
    s = CurlStream(srv.url("/sse/hb"), max_time=30)
    try:
        s.wait(lambda x: len(x.lines) >= 1, T(10), "the first SSE line")
        check_eq(s.status, 200, "status")
        ct = s.header("content-type") or ""
        check(ct.split(";")[0].strip().lower() == "text/event-stream", "Content-Type %r" % ct)
        first = next(l for l in s.lines if l != "")
        check_eq(first, "retry: 1000", "first line of the stream")
    finally:
        s.close()


def t_heartbeat(srv):
    s = CurlStream(srv.url("/sse/hb2"), max_time=30)
    try:
        t0 = time.monotonic()
        s.wait(lambda x: x.lines.count(": heartbeat") >= 1, T(6), "a ': heartbeat' line (--heartbeat 1)")
        first = time.monotonic() - t0
        s.wait(lambda x: x.lines.count(": heartbeat") >= 3, T(10), "three ': heartbeat' lines")
        check(all(e.get("comment") == "heartbeat" for e in s.events() if "comment" in e),
              "unexpected comment lines: %r" % s.events())
        diag("first heartbeat after %.2fs" % first)
    finally:
        s.close()


def t_heartbeat_between_messages(srv):
    """Heartbeats do not break events: a message published between heartbeats
    is one well-formed event."""
    s = CurlStream(srv.url("/sse/hb3"), max_time=30)
    try:
        s.wait(lambda x: ": heartbeat" in x.lines, T(6), "a heartbeat")
        srv.publish("hb3", "between heartbeats")
        s.wait(lambda x: len(x.messages()) >= 1, T(10), "the message")
        s.wait(lambda x: x.lines.count(": heartbeat") >= 2, T(6), "a heartbeat after the message")
        evs = [e for e in s.events() if "data" in e and e.get("event", "message") == "message"]
        check_eq(len(evs), 1, "message events")
        check_eq(evs[0].get("id"), "1", "id: field")
        check_message(json.loads(evs[0]["data"]), 1, "between heartbeats")
        # the exact wire form: id line, data line, blank line
        i = s.lines.index("id: 1")
        check_eq(s.lines[i + 1][:6], "data: ", "line after 'id: 1'")
        check_eq(s.lines[i + 2], "", "line after the data line")
    finally:
        s.close()


def t_counts(srv):
    wait_until(lambda: srv.stats()["connections"]["sse"] == 0, T(10), what="connections.sse back to 0")
    s = CurlStream(srv.url("/sse/hb4"), max_time=30)
    try:
        s.wait(lambda x: len(x.lines) >= 1, T(10), "the first SSE line")
        wait_until(lambda: srv.stats()["connections"]["sse"] == 1, T(10), what="connections.sse == 1")
    finally:
        s.close()
    wait_until(lambda: srv.stats()["connections"]["sse"] == 0, T(10),
               what="connections.sse back to 0 after the client left")


def main():
    tap = Tap(__file__)
    with Server(tap, "--heartbeat", "1") as srv:
        tap.run("sse: 200 text/event-stream, stream starts with 'retry: 1000'", t_headers_and_retry, srv)
        tap.run("sse: ': heartbeat' comment within a few seconds with --heartbeat 1, and repeats",
                t_heartbeat, srv)
        tap.run("sse: a message between heartbeats is 'id: N' / 'data: {json}' / blank line",
                t_heartbeat_between_messages, srv)
        tap.run("sse: connections.sse counts an open stream and drops it when the client leaves",
                t_counts, srv)
    tap.done()


if __name__ == "__main__":
    main()
