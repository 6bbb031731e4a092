"""Plain HTTP behaviour: keep-alive (one TCP connection for many polls,
publishes and long polls), /stats fields, /metrics exposition format and
its agreement with /stats, /healthz."""

import json
import re
import subprocess

from harness import (Tap, Server, SERVER, Publisher, curl, raw_connect, read_response, check, check_eq,
                     wait_until, T, HOST, diag)


def curl_many(args, timeout=60):
    p = subprocess.run(["curl", "-sS", "-g", "--max-time", "%.0f" % T(timeout)] + args,
                       capture_output=True, timeout=T(timeout) + 10)
    check(p.returncode == 0, "curl exited %s: %s" % (p.returncode, p.stderr.decode()[:300]))
    rows = [l.split() for l in p.stdout.decode().splitlines() if l.strip()]
    return rows


def t_keepalive_polls(srv):
    srv.publish("ka", "one")
    n = 100
    args = []
    for _ in range(n):
        args += ["-o", "/dev/null", srv.url("/poll/ka?since=0")]
    rows = curl_many(["-w", "%{http_code} %{num_connects}\\n"] + args)
    check_eq(len(rows), n, "transfers")
    codes = {r[0] for r in rows}
    check_eq(codes, {"200"}, "status codes")
    total = sum(int(r[1]) for r in rows)
    check_eq(total, 1, "sum of num_connects over %d polls in one curl (1 = one keep-alive connection)" % n)
    r = curl(srv.url("/poll/ka?since=0"))
    conn = [v.lower() for v in r.header_all("connection")]
    check("close" not in conn, "poll answer carries Connection: close (%r)" % conn)


def t_keepalive_publish(srv):
    n = 20
    args = []
    for i in range(n):
        if i:
            args.append("--next")
        args += ["-o", "/dev/null", "-w", "%{http_code} %{num_connects}\\n", "--data-binary", "p%d" % i,
                 "-H", "Content-Type: text/plain", srv.url("/pub/ka-pub")]
    rows = curl_many(args)
    check_eq([r[0] for r in rows], ["200"] * n, "status codes")
    check_eq(sum(int(r[1]) for r in rows), 1, "sum of num_connects over %d publishes (--next)" % n)


def t_keepalive_longpoll(srv):
    srv.publish("ka-lp", "x")
    urls = [srv.url("/longpoll/ka-lp?since=0&timeout=5")] * 5 + [srv.url("/longpoll/ka-lp?since=1&timeout=1")] * 2
    args = []
    for u in urls:
        args += ["-o", "/dev/null", u]
    rows = curl_many(["-w", "%{http_code} %{num_connects}\\n"] + args)
    check_eq([r[0] for r in rows], ["200"] * len(urls), "status codes")
    check_eq(sum(int(r[1]) for r in rows), 1,
             "sum of num_connects over 5 immediate and 2 timed-out long polls in one curl")


def t_healthz(srv):
    r = curl(srv.url("/healthz"))
    check_eq(r.status, 200, "status")
    check_eq(r.body.strip(), b"ok", "body")


STATS_SCHEMA = {
    "version": str, "uptime_s": (int, float), "channels": int,
    "connections": {"http": int, "longpoll": int, "sse": int, "ws": int},
    "published": int,
    "deliveries": {"poll": int, "longpoll": int, "sse": int, "ws": int},
    "bytes_out": {"poll": int, "longpoll": int, "sse": int, "ws": int},
    "longpoll": {"woken": int, "timed_out": int},
    "slow_consumers_dropped": int, "gaps_served": int,
    "cpu": {"user_s": (int, float), "sys_s": (int, float), "total_s": (int, float)},
    "rss_bytes": int,
}


def check_schema(obj, schema, path=""):
    check(isinstance(obj, dict), "%s is not an object: %r" % (path or "stats", obj))
    for k, t in schema.items():
        p = path + "." + k if path else k
        check(k in obj, "/stats has no %s" % p)
        if isinstance(t, dict):
            check_schema(obj[k], t, p)
        else:
            v = obj[k]
            check(isinstance(v, t) and not isinstance(v, bool), "%s = %r is not %r" % (p, v, t))
            if isinstance(v, (int, float)):
                check(v >= 0, "%s = %r is negative" % (p, v))


def t_stats(srv):
    r = curl(srv.url("/stats"))
    check_eq(r.status, 200, "status")
    ct = (r.header("content-type") or "").lower()
    check(ct.startswith("application/json"), "Content-Type %r" % ct)
    st = json.loads(r.body)
    check_schema(st, STATS_SCHEMA)
    check(st["rss_bytes"] > 1 << 20, "rss_bytes %d is implausibly small" % st["rss_bytes"])
    check(st["connections"]["http"] >= 1, "connections.http is 0 while /stats itself is being served")
    cpu = st["cpu"]
    check(abs(cpu["total_s"] - (cpu["user_s"] + cpu["sys_s"])) < 0.02, "cpu.total_s != user_s + sys_s: %r" % cpu)
    p = subprocess.run([SERVER, "--version"], capture_output=True, timeout=10)
    check(st["version"] in p.stdout.decode(), "stats version %r not in --version output %r"
          % (st["version"], p.stdout[:100]))


def t_stats_moves(srv):
    st0 = srv.stats()
    pub = Publisher(srv.port)
    for i in range(5):
        pub.pub("moves-a", "m%d" % i)
    pub.pub("moves-b", "m")
    pub.close()
    r = curl(srv.url("/poll/moves-a?since=0"))
    check_eq(len(r.json()["messages"]), 5, "messages polled")
    r2 = curl(srv.url("/poll/moves-c"))          # a subscribe also creates a channel
    check_eq(r2.status, 200, "poll of a new channel")
    st1 = srv.stats()
    check_eq(st1["published"] - st0["published"], 6, "published delta after 6 publishes")
    check_eq(st1["channels"] - st0["channels"], 3, "channels delta after using 3 new channels (2 published, 1 polled)")
    check_eq(st1["deliveries"]["poll"] - st0["deliveries"]["poll"], 5, "deliveries.poll delta after a poll of 5")
    check_eq(st1["bytes_out"]["poll"] - st0["bytes_out"]["poll"], len(r.body) + len(r2.body), "bytes_out.poll delta")
    check(st1["uptime_s"] >= st0["uptime_s"], "uptime went backwards")


def t_http_connections(srv):
    """connections.http counts idle keep-alive connections, and drops them
    when their clients leave."""
    socks = []
    try:
        for _ in range(3):
            s = raw_connect(srv.port, 10)
            socks.append(s)
            s.sendall(("GET /healthz HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (HOST, srv.port)).encode())
            check_eq(read_response(s, 10).status, 200, "healthz on a keep-alive connection")
        n = srv.stats()["connections"]["http"]
        check(n >= 4, "connections.http = %d with 3 idle keep-alive connections plus this request" % n)
    finally:
        for s in socks:
            s.close()
    wait_until(lambda: srv.stats()["connections"]["http"] <= n - 3, T(10),
               what="connections.http to drop by 3 after the idle clients closed",
               show=lambda: srv.stats()["connections"])


SAMPLE = re.compile(r"^(pushpull_[a-z_]+)(\{[^}]*\})? ([0-9.eE+-]+)$")


def t_metrics(srv):
    srv.publish("metrics", "m")
    r = curl(srv.url("/metrics"))
    check_eq(r.status, 200, "status")
    ct = (r.header("content-type") or "").lower()
    check(ct.startswith("text/plain"), "Content-Type %r" % ct)
    text = r.body.decode("utf-8")
    check(text.endswith("\n"), "exposition does not end with a newline")
    helps, types, samples = set(), {}, []
    for ln in text.splitlines():
        if not ln.strip():
            continue
        if ln.startswith("# HELP "):
            helps.add(ln.split()[2])
        elif ln.startswith("# TYPE "):
            parts = ln.split()
            check(len(parts) == 4 and parts[3] in ("counter", "gauge", "histogram", "summary", "untyped"),
                  "bad TYPE line %r" % ln)
            types[parts[2]] = parts[3]
        elif ln.startswith("#"):
            continue
        else:
            m = SAMPLE.match(ln)
            check(m, "line does not match the sample format: %r" % ln)
            float(m.group(3))
            samples.append((m.group(1), m.group(2), float(m.group(3))))
    check(samples, "no samples")

    def family(name):
        for cand in (name, re.sub(r"_(total|count|sum|bucket)$", "", name)):
            if cand in types:
                return cand
        return None
    for name, _, _ in samples:
        fam = family(name)
        check(fam is not None, "no # TYPE line for %s" % name)
        check(fam in helps or name in helps, "no # HELP line for %s" % name)
    st = srv.stats()
    pub = [(n, v) for n, lab, v in samples if re.fullmatch(r"pushpull_published(_total)?", n) and not lab]
    check(pub, "no pushpull_published(_total) sample; metric names: %r" % sorted({n for n, _, _ in samples}))
    check_eq(pub[0][1], float(st["published"]), "pushpull_published vs /stats published")
    diag("%d samples, %d families" % (len(samples), len(types)))


def main():
    tap = Tap(__file__)
    with Server(tap) as srv:
        tap.run("keep-alive: 100 polls in one curl use exactly 1 connection; no Connection: close",
                t_keepalive_polls, srv)
        tap.run("keep-alive: 20 publishes in one curl (--next) use exactly 1 connection", t_keepalive_publish, srv)
        tap.run("keep-alive: immediate and timed-out long polls reuse 1 connection", t_keepalive_longpoll, srv)
        tap.run("/healthz answers 200 ok", t_healthz, srv)
        tap.run("/stats is JSON with every PROTOCOL.md field, right types, plausible values", t_stats, srv)
        tap.run("/stats published, channels, deliveries.poll and bytes_out.poll move with traffic",
                t_stats_moves, srv)
        tap.run("/stats connections.http counts idle keep-alive connections and drops closed ones",
                t_http_connections, srv)
        tap.run("/metrics is Prometheus text (samples, # HELP, # TYPE) and published equals /stats",
                t_metrics, srv)
    tap.done()


if __name__ == "__main__":
    main()
