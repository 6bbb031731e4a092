"""The Redis broker (issue 16), against our own redis-server on an ephemeral
port (harness.Redis): never a system instance.

(a) Two instances, four transports: the client publishes through A and
    subscribes on B; everything arrives in order, lost 0.
(b) B is SIGKILLed mid-run and started again on its port: its subscribers
    resume from Redis's history: lost 0, no reset, no epoch change.
(c) Redis restarted without persistence: the channel's epoch changes, reset
    markers arrive, the client counts the loss (and delivered + lost is
    still exactly what was acknowledged); an open WebSocket of the channel
    (python3-websockets) is closed with 1012, not as a slow consumer.
(d) Redis stopped for 2 s (SHUTDOWN SAVE, started again from its dump):
    publishes get 503 with a JSON error, nothing crashes, nothing that was
    acknowledged is lost, /stats shows the reconnect.
(e) --workers 2: both processes serve, a publish through either reaches
    subscribers on both; SIGTERM to the parent ends all; --workers without
    --broker is a usage error.
(f) A Redis that requires a password: taken from the URL (percent-encoded)
    or from PUSHPULL_BROKER_PASSWORD; a wrong one leaves the broker down
    (publishes 503, /stats auth_failures), said once on stderr without the
    password."""

import json
import os
import re
import signal
import threading
import time

from harness import (Tap, Server, Redis, CurlStream, WsClient, curl, check, check_eq, check_error,
                     run_client, wait_until, T, diag, poll_json, procs)

TRANSPORTS = ("poll", "longpoll", "sse", "ws")
SUBS = 3
RATE = 40
RUN = ["--subscribers", SUBS, "--rate", RATE, "--warmup", "1s", "--duration", "5s", "--drain", "2s",
       "--quiet"]
FAULT_AT = 2.5


def broker_args(redis, *extra):
    return ["--quiet", "--broker", redis.url, "--broker-backoff-max", "200ms"] + list(extra)


def run_clients(sub_port, pub_port, fault=None, tag=""):
    """One client per transport, side by side, so one fault lands in every
    measure window; fault() runs meanwhile on this thread."""
    out = {}

    def one(t):
        out[t] = run_client(["--url", "http://127.0.0.1:%d" % sub_port,
                             "--publish-url", "http://127.0.0.1:%d" % pub_port,
                             "--transport", t, "--run-tag", tag + t] + RUN, timeout=40)

    threads = [threading.Thread(target=one, args=(t,), daemon=True) for t in TRANSPORTS]
    for th in threads:
        th.start()
    info = fault() if fault else None
    for th in threads:
        th.join(T(60))
    check(all(t in out for t in TRANSPORTS), "a client run did not finish: %r" % sorted(out))
    return out, info


def delivery(res, t):
    check(not res.timed_out and res.rc == 0, "%s: %s" % (t, res.describe()))
    check(not res.sanitizer_report(), "%s: sanitizer report: %s" % (t, res.describe()))
    d = res.run(t)["delivery"]
    check_eq((d["duplicates"], d["out_of_order"]), (0, 0), "%s: duplicates, out of order" % t)
    check_eq(d["delivered"] + d["lost"], d["expected"], "%s: delivered + lost == expected; %r" % (t, d))
    check_eq(d["expected"], SUBS * d["published"], "%s: expected = subscribers x acknowledged" % t)
    return d


def summary(out):
    keys = ("published", "delivered", "lost", "publish_errors", "epoch_changes", "cursor_resets")
    return {t: {k: out[t].run(t)["delivery"][k] for k in keys} for t in TRANSPORTS}


def t_two_instances(tap, redis):
    with Server(tap, *broker_args(redis), label="[A]") as a, \
            Server(tap, *broker_args(redis), label="[B]") as b:
        out, _ = run_clients(b.port, a.port, tag="two-")
        for t in TRANSPORTS:
            d = delivery(out[t], t)
            check_eq((d["lost"], d["publish_errors"], d["epoch_changes"], d["cursor_resets"]),
                     (0, 0, 0, 0), "%s: lost, publish errors, epoch changes, resets" % t)
            check(d["delivered"] >= SUBS * RATE * 4, "%s: delivered only %d" % (t, d["delivered"]))
        sa, sb = a.stats(), b.stats()
        check_eq((sa["broker"]["state"], sb["broker"]["state"]), ("up", "up"), "broker state")
        check(sum(sb["deliveries"].values()) >= 4 * SUBS * RATE * 4,
              "B delivered %r" % sb["deliveries"])
        diag("two instances: %r" % summary(out))


def t_instance_killed(tap, redis):
    a = Server(tap, *broker_args(redis), label="[A, publisher]").start()
    b = Server(tap, *broker_args(redis), label="[B, SIGKILLed]").start()
    port, holder = b.port, {}

    def fault():
        time.sleep(FAULT_AT)
        b.kill()
        time.sleep(0.5)
        holder["b2"] = Server(tap, *broker_args(redis, "--port", port), label="[B again]").start()

    try:
        out, _ = run_clients(port, a.port, fault, tag="kill-")
        for t in TRANSPORTS:
            d = delivery(out[t], t)
            check_eq((d["lost"], d["epoch_changes"], d["cursor_resets"], d["publish_errors"]),
                     (0, 0, 0, 0), "%s: lost, epoch changes, resets, publish errors across the kill" % t)
        st = holder["b2"].stats()
        check(sum(st["deliveries"].values()) > 0, "the new B delivered nothing: %r" % st)
        diag("B killed and started again: %r" % summary(out))
    finally:
        b.kill()
        a.stop()
        if "b2" in holder:
            rc, _ = holder["b2"].stop()
            check_eq(rc, 0, "the new B's exit status on SIGTERM")


def t_redis_lost_data(tap, redis):
    with Server(tap, *broker_args(redis), label="[Redis restarted empty]") as srv:
        e0 = poll_json(srv, "lost-poll")["epoch"]
        # beside the client's WebSocket subscribers, on the channel it publishes to
        raw = WsClient(srv.ws_url("/ws/lost-ws-ws-0"))

        def fault():
            time.sleep(FAULT_AT)
            redis.kill()
            time.sleep(0.3)
            redis.restart()

        try:
            out, _ = run_clients(srv.port, srv.port, fault, tag="lost-")
            check(raw.wait_closed(5), "the WebSocket was not closed when Redis lost its channel")
            check_eq((raw.close_code, raw.close_reason), (1012, "history reset by the broker: reconnect"),
                     "its close code and reason")
        finally:
            raw.shutdown()
        e1 = poll_json(srv, "lost-poll")["epoch"]
        check(e1 > e0, "the channel's epoch did not change (%d, then %d)" % (e0, e1))
        for t in TRANSPORTS:
            d = delivery(out[t], t)
            check_eq(d["epoch_changes"], 1, "%s: epoch changes; %r" % (t, d))
            check(d["cursor_resets"] >= 1, "%s: no reset marker arrived; %r" % (t, d))
            check(d["delivered"] > SUBS * RATE * 1, "%s: delivery did not go on; %r" % (t, d))
        st = srv.stats()["broker"]
        check(st["resets"] >= 4 and st["reconnects"] >= 2, "broker stats %r" % st)
        diag("Redis restarted without its data: %r; broker %r" % (summary(out), st))


def t_redis_outage(tap, redis):
    with Server(tap, *broker_args(redis), label="[Redis stopped 2 s]") as srv:
        seen = {}

        def fault():
            time.sleep(FAULT_AT)
            redis.stop(save=True)
            time.sleep(0.5)
            r = curl(srv.url("/pub/outage-probe"), data=b"x")
            seen["pub"] = r
            seen["stats"] = srv.stats()["broker"]
            time.sleep(1.5)
            redis.restart()

        out, _ = run_clients(srv.port, srv.port, fault, tag="out-")
        check_error(seen["pub"], 503, "a publish while Redis is down")
        check_eq(seen["stats"]["command_up"], False, "/stats broker.command_up during the outage")
        for t in TRANSPORTS:
            d = delivery(out[t], t)
            check_eq((d["lost"], d["epoch_changes"], d["cursor_resets"]), (0, 0, 0),
                     "%s: lost, epoch changes, resets across the outage" % t)
            check(d["publish_errors"] > 0, "%s: no publish was refused during the outage" % t)
        st = srv.stats()["broker"]
        check(st["state"] == "up" and st["reconnects"] >= 2, "broker stats after: %r" % st)
        m = curl(srv.url("/metrics")).body.decode()
        check(re.search(r'^pushpull_broker_up\{connection="command"\} 1$', m, re.M) and
              "pushpull_broker_reconnects_total" in m, "/metrics broker lines:\n%s" % m[-800:])
        diag("Redis stopped for 2 s: %r; broker %r" % (summary(out), st))


def t_workers(tap, redis):
    srv = Server(tap, *broker_args(redis, "--workers", "2"), label="[--workers 2]").start()
    try:
        kids = procs.descendants(srv.proc.pid)
        check_eq(len(kids), 2, "worker processes")
        streams = [CurlStream(srv.url("/sse/wk"), max_time=60) for _ in range(10)]
        for s in streams:
            s.wait(lambda x: any(e.get("event") == "hello" for e in x.events()), T(10), "hello")
        # each worker has its own start (/stats epoch): both must hold streams
        per_worker = {}
        for _ in range(60):
            st = json.loads(curl(srv.url("/stats"), extra=("--no-keepalive",)).body)
            per_worker[st["epoch"]] = st["connections"]["sse"]
            if len(per_worker) == 2:
                break
        check_eq(len(per_worker), 2, "workers answering /stats")
        check(all(n > 0 for n in per_worker.values()), "SSE streams per worker: %r" % per_worker)
        for i in range(1, 11):
            r = curl(srv.url("/pub/wk"), data=b"m%d" % i)
            check_eq(r.json()["id"], i, "publish %d through whichever worker" % i)
        for s in streams:
            s.wait(lambda x: len(x.messages()) >= 10, T(10), "10 messages on every stream")
            check_eq([m["id"] for m in s.messages()], list(range(1, 11)), "ids on a stream")
        for s in streams:
            s.close()
    finally:
        rc, el = srv.stop()
    check_eq(rc, 0, "the parent's exit status on SIGTERM")
    gone = wait_until(lambda: all(not os.path.exists("/proc/%d" % k) or
                                  open("/proc/%d/stat" % k).read().split()[2] == "Z" for k in kids),
                      T(5), what="the workers to end")
    check(gone, "workers left running: %r" % kids)


PASSWORD = "s3 cret/pw"


def published_and_read(srv, ch):
    r = curl(srv.url("/pub/" + ch), data=b"hello")
    check_eq(r.status, 200, "publish through a Redis with a password (body %r)" % r.body[:200])
    got = poll_json(srv, ch, "?since=0")
    check_eq([m["data"] for m in got["messages"]], ["hello"], "read back")


def t_auth(tap):
    with Redis(password=PASSWORD) as redis:
        enc = "redis://:%s@127.0.0.1:%d" % (PASSWORD.replace(" ", "%20").replace("/", "%2F"), redis.port)
        with Server(tap, "--quiet", "--broker", enc, label="[Redis AUTH from the URL]") as srv:
            published_and_read(srv, "auth-url")
        with Server(tap, "--quiet", "--broker", redis.url, env={"PUSHPULL_BROKER_PASSWORD": PASSWORD},
                    label="[Redis AUTH from the environment]") as srv:
            published_and_read(srv, "auth-env")
        with Server(tap, "--quiet", "--broker", "redis://:wrong-one@127.0.0.1:%d" % redis.port,
                    "--broker-backoff-max", "100ms", label="[Redis AUTH refused]") as srv:
            wait_until(lambda: srv.stats()["broker"]["auth_failures"] >= 4, 10, what="AUTH retried")
            st = srv.stats()["broker"]
            check_eq((st["state"], st["command_up"], st["subscribe_up"]), ("down", False, False),
                     "refused: the broker is down (%r)" % st)
            check_error(curl(srv.url("/pub/auth-bad"), data=b"x"), 503, "publish while AUTH is refused")
            err = srv.stderr_tail()
            check_eq(err.count("refused AUTH"), 2, "said once per connection, not per retry: %r" % err)
            check("wrong-one" not in err, "the password is not printed: %r" % err)


def t_workers_usage(tap):
    import subprocess
    from harness import SERVER
    for args, want in ((["--workers", "2"], "--workers needs --broker"),
                       (["--broker", "http://x"], "redis://[[USER]:PASSWORD@]HOST"),
                       (["--broker", "redis://h:0"], "redis://[[USER]:PASSWORD@]HOST"),
                       (["--workers", "0", "--broker", "redis://127.0.0.1"], "--workers")):
        p = subprocess.run([SERVER, "--port", "0"] + args, capture_output=True, timeout=10)
        check_eq(p.returncode, 2, "exit status of %r" % args)
        check(want in p.stderr.decode(), "%r: stderr %r" % (args, p.stderr))


def main():
    tap = Tap(__file__, watchdog_s=300)
    tap.run("usage: --workers without --broker, a bad --broker URL: exit 2", t_workers_usage, tap)
    with Redis() as redis:
        tap.run("two instances, four transports: publish on A, subscribe on B: all, in order, lost 0",
                t_two_instances, tap, redis)
        tap.run("an instance SIGKILLed mid-run and started again: its subscribers resume from "
                "Redis: lost 0, no reset", t_instance_killed, tap, redis)
        tap.run("Redis stopped for 2 s: publishes 503, nothing acknowledged lost, reconnect in "
                "/stats and /metrics", t_redis_outage, tap, redis)
        tap.run("Redis restarted without its data: the epoch changes, reset markers, the loss "
                "is counted", t_redis_lost_data, tap, redis)
        tap.run("--workers 2: both serve, a publish through either reaches all, SIGTERM ends all",
                t_workers, tap, redis)
    tap.run("Redis with a password: from the URL or PUSHPULL_BROKER_PASSWORD; a wrong one: down, "
            "503, counted, said once without the password", t_auth, tap)
    tap.done()


if __name__ == "__main__":
    main()
