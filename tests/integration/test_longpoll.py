"""Long poll: wakes on publish well before its timeout, answers an empty
list at its timeout, honours --longpoll-timeout / --longpoll-max, and the
/stats longpoll counters move accordingly."""

import subprocess
import time

from harness import (Tap, Server, BgCurl, _spawn, curl, check, check_eq, check_message, check_sequence,
                     wait_until, T)


def lp(srv):
    return srv.stats()["longpoll"]


def waiting(srv, n):
    wait_until(lambda: srv.stats()["connections"]["longpoll"] >= n, T(10),
               what="/stats connections.longpoll >= %d" % n)


def t_wakes(srv):
    ch = "wake"
    srv.publish(ch, "before")
    c0 = lp(srv)
    bg = BgCurl(srv.url("/longpoll/%s?since=1&timeout=30" % ch), timeout=60)
    waiting(srv, 1)
    check(not bg.done(), "long poll answered before anything was published: %r" % bg.result)
    t_pub = time.monotonic()
    srv.publish(ch, "wake up")
    r = bg.join(T(20))
    woke_after = (bg.t_end - t_pub)
    check_eq(r.status, 200, "status")
    check(woke_after < T(10), "long poll answered %.1fs after the publish (timeout was 30s)" % woke_after)
    j = r.json()
    check_eq(j.get("last_id"), 2, "last_id")
    check_eq(len(j["messages"]), 1, "number of messages")
    check_message(j["messages"][0], 2, "wake up")
    c1 = lp(srv)
    check_eq(c1["woken"], c0["woken"] + 1, "longpoll.woken")
    check_eq(c1["timed_out"], c0["timed_out"], "longpoll.timed_out")
    check_eq(srv.stats()["connections"]["longpoll"], 0, "connections.longpoll after the answer")


def t_no_since(srv):
    ch = "nosince"
    for i in range(3):
        srv.publish(ch, "old %d" % i)
    bg = BgCurl(srv.url("/longpoll/%s?timeout=30" % ch), timeout=60)
    waiting(srv, 1)
    check(not bg.done(), "long poll without since answered at once: %r" % bg.result)
    srv.publish(ch, "new")
    r = bg.join(T(20))
    check_eq(r.status, 200, "status")
    j = r.json()
    check_sequence(j["messages"], [4], {4: "new"}, "long poll without since")


def t_timeout(srv):
    ch = "quiet"
    c0 = lp(srv)
    r = curl(srv.url("/longpoll/%s?since=0&timeout=1" % ch), timeout=30)
    check_eq(r.status, 200, "status")
    j = r.json()
    check_eq(j.get("messages"), [], "messages at timeout")
    check_eq(j.get("last_id"), 0, "last_id")
    check(r.elapsed >= 0.9, "timeout=1 answered after only %.2fs" % r.elapsed)
    check(r.elapsed < T(10), "timeout=1 answered after %.1fs" % r.elapsed)
    c1 = lp(srv)
    check_eq(c1["timed_out"], c0["timed_out"] + 1, "longpoll.timed_out")
    check_eq(c1["woken"], c0["woken"], "longpoll.woken")


def t_immediate(srv):
    ch = "ready"
    srv.publish(ch, "a")
    srv.publish(ch, "b")
    r = curl(srv.url("/longpoll/%s?since=0&timeout=30" % ch), timeout=40)
    check_eq(r.status, 200, "status")
    check(r.elapsed < T(5), "long poll with messages ready waited %.1fs" % r.elapsed)
    check_sequence(r.json()["messages"], [1, 2], {1: "a", 2: "b"}, "ready messages")


def t_many_waiters(srv):
    ch = "fan"
    c0 = lp(srv)
    bgs = [BgCurl(srv.url("/longpoll/%s?since=0&timeout=30" % ch), timeout=60) for _ in range(3)]
    waiting(srv, 3)
    srv.publish(ch, "all of you")
    for bg in bgs:
        r = bg.join(T(20))
        check_eq(r.status, 200, "status")
        check_sequence(r.json()["messages"], [1], {1: "all of you"}, "each waiter")
    c1 = lp(srv)
    check_eq(c1["woken"], c0["woken"] + 3, "longpoll.woken after waking 3 waiters")


def t_client_left(srv):
    """A waiting client that goes away is cleaned up by the server's own timeout
    and does not hurt a publish or the next long poll."""
    ch = "gone"
    bg_cmd = ["curl", "-sS", "-o", "/dev/null", srv.url("/longpoll/%s?since=0&timeout=2" % ch)]
    p = _spawn(bg_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    waiting(srv, 1)
    p.kill()
    p.wait(5)
    wait_until(lambda: srv.stats()["connections"]["longpoll"] == 0, T(15),
               what="connections.longpoll back to 0 after the client left")
    srv.publish(ch, "after")
    r = curl(srv.url("/longpoll/%s?since=0&timeout=5" % ch), timeout=20)
    check_eq(r.status, 200, "next long poll")
    check_sequence(r.json()["messages"], [1], {1: "after"}, "next long poll")
    check(srv.healthz(), "/healthz")


def t_default_timeout(srv):
    r = curl(srv.url("/longpoll/dflt?since=0"), timeout=30)
    check_eq(r.status, 200, "status")
    check_eq(r.json().get("messages"), [], "messages")
    check(0.9 <= r.elapsed < T(12), "--longpoll-timeout 1: answered after %.1fs" % r.elapsed)


def t_max_timeout(srv):
    r = curl(srv.url("/longpoll/capped?since=0&timeout=100"), timeout=60)
    check_eq(r.status, 200, "status")
    check_eq(r.json().get("messages"), [], "messages")
    check(1.9 <= r.elapsed < T(15), "--longpoll-max 2 with timeout=100: answered after %.1fs" % r.elapsed)


def main():
    tap = Tap(__file__)
    with Server(tap) as srv:
        tap.run("long poll wakes on publish well before its 30s timeout; longpoll.woken +1", t_wakes, srv)
        tap.run("long poll without since waits for the next message only", t_no_since, srv)
        tap.run("long poll timeout=1 answers 200 with messages [] after ~1s; longpoll.timed_out +1",
                t_timeout, srv)
        tap.run("long poll with newer messages answers at once", t_immediate, srv)
        tap.run("one publish wakes 3 waiting long polls; longpoll.woken +3", t_many_waiters, srv)
        tap.run("a long-poll client that leaves is cleaned up; the channel still works", t_client_left, srv)
    with Server(tap, "--longpoll-timeout", "1", "--longpoll-max", "2") as srv:
        tap.run("--longpoll-timeout 1 is the default timeout", t_default_timeout, srv)
        tap.run("--longpoll-max 2 caps timeout=100", t_max_timeout, srv)
    tap.done()


if __name__ == "__main__":
    main()
