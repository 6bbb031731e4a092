#!/usr/bin/python3
"""Scale benchmark: many concurrent SSE and WebSocket subscribers on one
server, held for a measured window at a steady publish rate.

    scripts/bench-scale.py [--sse 10000] [--ws 10000] [--rate 100] ...

It starts the real server and two real clients at once (one all-SSE, one
all-WebSocket; each publishes half of --rate to its own channels, so the
server sees --rate messages/s in total), watches the server's /stats and
/proc/PID/status while they run, and prints:

- connect rate: subscribers connected per second, from the clients' start
  to the moment the server holds every one of them;
- server RSS per subscriber, taken when every subscriber is connected and
  before the publishers start (the clients' --warmup-hold keeps them idle
  that long): (RSS then - RSS before any client) / subscribers;
- per transport: delivered, lost, latency p50/p99/max (from the clients'
  JSON; latency is measured from each message's scheduled publish time);
- server CPU over the run.

Results go to results/scale-<UTC time>/ (scale.json, the clients' JSON,
server stderr). Benchmark, not a test: it prints figures and verdicts
against the targets (lost 0; RSS per idle subscriber <= 8 KiB) and exits 1
only when the run itself failed (a client failed, messages were lost, or
not every subscriber connected).

File descriptors: the server needs one per subscriber plus a few, so the
script raises RLIMIT_NOFILE to the hard limit (and tries 65536 above it,
which needs CAP_SYS_RESOURCE). When the limit cannot hold the requested
subscribers, it says so and scales both counts down to fit (--no-fit
refuses instead): a figure for fewer subscribers, labelled as such, is
worth more than no figure.

Loopback only: the server binds 127.0.0.1 and the clients connect there."""

import argparse
import datetime
import json
import os
import resource
import signal
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("PUSHPULL_BIN", os.path.join(ROOT, "bin"))
SERVER = os.path.join(BIN, "pushpull-server")
CLIENT = os.path.join(BIN, "pushpull-client")
FD_RESERVE = 64            # the server's own fds (epoll, timers, listener, logs)
RSS_TARGET = 8 * 1024


def die(msg, code=2):
    print("bench-scale: " + msg, file=sys.stderr)
    sys.exit(code)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sse", type=int, default=10000, help="SSE subscribers (10000)")
    ap.add_argument("--ws", type=int, default=10000, help="WebSocket subscribers (10000)")
    ap.add_argument("--channels", type=int, default=200, help="channels, split between the two clients (200)")
    ap.add_argument("--rate", type=float, default=100, help="messages/s in total, split between the two clients (100)")
    ap.add_argument("--size", default="64", help="payload bytes (64)")
    ap.add_argument("--duration", type=int, default=60, help="measured seconds (60)")
    ap.add_argument("--warmup", type=int, default=5, help="published, not measured, seconds (5)")
    ap.add_argument("--idle-hold", type=int, default=10,
                    help="seconds every subscriber stays connected and idle before publishing starts, "
                         "when the idle RSS is taken (10)")
    ap.add_argument("--connect-rate", type=float, default=2000,
                    help="new connections/s per client (2000; 0 = all at once)")
    ap.add_argument("--connect-timeout", default="60s", help="client connect deadline (60s)")
    ap.add_argument("--server-arg", action="append", default=[],
                    help="extra server flag, repeatable (e.g. --server-arg=--connection-memory=4KiB)")
    ap.add_argument("--no-fit", action="store_true",
                    help="fail instead of scaling the counts down to the fd limit")
    ap.add_argument("--out", help="results folder (results/scale-<UTC time>)")
    a = ap.parse_args()
    for name in ("sse", "ws", "channels", "duration", "idle_hold"):
        if getattr(a, name) < 0:
            die("--%s must be >= 0" % name.replace("_", "-"))
    if a.sse + a.ws == 0:
        die("no subscribers (--sse and --ws are both 0)")
    if a.channels < 2 or a.rate <= 0:
        die("--channels must be >= 2 and --rate > 0")
    return a


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for want in (max(hard, 65536), hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            continue
    return soft


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def stats(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/stats" % port, timeout=10) as r:
        return json.loads(r.read())


def start_server(a, out, max_conns):
    cmd = [SERVER, "--bind", "127.0.0.1", "--port", "0", "--quiet",
           "--max-connections", str(max_conns), "--max-connections-per-ip", "0",
           "--ws-publish-rate", "0", "--max-channels", str(a.channels + 16)] + a.server_arg
    err = open(os.path.join(out, "server.stderr"), "wb")
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
    line = p.stdout.readline().decode().strip()
    if not line.startswith("listening on http://127.0.0.1:"):
        p.kill()
        die("server did not start (%r); see %s/server.stderr" % (line, out), 1)
    return p, int(line.rsplit(":", 1)[1]), cmd


def start_client(a, out, port, transport, subs, channels, rate):
    path = os.path.join(out, "client-%s.json" % transport)
    cmd = [CLIENT, "--url", "http://127.0.0.1:%d" % port, "--transport", transport,
           "--subscribers", str(subs), "--channels", str(channels), "--rate", "%g" % rate,
           "--size", a.size, "--duration", "%ds" % a.duration, "--warmup", "%ds" % a.warmup,
           "--idle-hold", "%ds" % a.idle_hold, "--drain", "5s",
           "--connect-rate", "%g" % a.connect_rate, "--connect-timeout", a.connect_timeout,
           "--quiet", "--json", path]
    log = open(os.path.join(out, "client-%s.log" % transport), "wb")
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log), path, cmd


def fmt_ms(us):
    return "%.1f ms" % (us / 1000.0)


def main():
    a = parse_args()
    for b in (SERVER, CLIENT):
        if not os.access(b, os.X_OK):
            die("no %s (run make first)" % b, 1)
    out = a.out or os.path.join(ROOT, "results", "scale-" + datetime.datetime.utcnow().strftime("%Y%m%dT%H%M%SZ"))
    os.makedirs(out, exist_ok=True)

    limit = raise_fd_limit()
    requested = {"sse": a.sse, "ws": a.ws}
    note = None
    if a.sse + a.ws + FD_RESERVE > limit:
        fit = limit - FD_RESERVE
        note = ("fd limit: RLIMIT_NOFILE is %d here and cannot be raised (raising the hard limit needs "
                "CAP_SYS_RESOURCE), so one server process holds at most ~%d connections; "
                "requested %d subscribers" % (limit, fit, a.sse + a.ws))
        if a.no_fit:
            die(note)
        scale = fit / float(a.sse + a.ws)
        a.sse, a.ws = int(a.sse * scale), int(a.ws * scale)
        note += ", ran %d SSE + %d WS = %d" % (a.sse, a.ws, a.sse + a.ws)
        print("NOTE: " + note)
    total = a.sse + a.ws

    # channels and rate split in proportion to the subscribers
    parts = [(t, n) for t, n in (("sse", a.sse), ("ws", a.ws)) if n > 0]
    srv, port, srv_cmd = start_server(a, out, total + 256)
    clients = []
    samples = []
    try:
        time.sleep(0.3)
        base_rss = rss_bytes(srv.pid)
        base_cpu = stats(port)["cpu"]["total_s"]
        t0 = time.monotonic()
        for t, n in parts:
            share = n / float(total) if len(parts) > 1 else 1.0
            ch = max(1, min(n, int(round(a.channels * share))))
            clients.append((t, n) + start_client(a, out, port, t, n, ch, a.rate * share))
        t_all = None
        idle_rss = None
        deadline = t0 + a.idle_hold + a.warmup + a.duration + 120
        while time.monotonic() < deadline:
            if all(c[2].poll() is not None for c in clients):
                break
            try:
                st = stats(port)
            except OSError:
                st = None
            now = time.monotonic() - t0
            rss = rss_bytes(srv.pid)
            if st:
                conns = st["connections"]
                held = sum(conns.get(t, 0) for t, _n in parts)
                samples.append({"t_s": round(now, 2), "held": held, "rss_bytes": rss,
                                "published": st["published"]})
                if t_all is None and held >= total:
                    t_all = now
                    # every subscriber connected, nothing published yet
                    # (the clients hold --idle-hold before publishing)
                    time.sleep(0.5)
                    idle_rss = rss_bytes(srv.pid)
                    idle_published = stats(port)["published"]
            time.sleep(0.1 if t_all is None else 0.5)   # finer while they connect
        for c in clients:
            try:
                c[2].wait(timeout=max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                c[2].send_signal(signal.SIGTERM)
                c[2].wait(timeout=10)
        end_stats = stats(port)
        end_rss = rss_bytes(srv.pid)
    finally:
        for c in clients:
            if c[2].poll() is None:
                c[2].kill()
        srv.send_signal(signal.SIGTERM)
        try:
            srv.wait(timeout=15)
        except subprocess.TimeoutExpired:
            srv.kill()

    result = {
        "requested": requested, "ran": {t: n for t, n in parts}, "fd_limit": limit, "note": note,
        "rate_total": a.rate, "channels": a.channels, "size": a.size, "duration_s": a.duration,
        "server_cmd": srv_cmd, "base_rss_bytes": base_rss, "idle_rss_bytes": idle_rss,
        "end_rss_bytes": end_rss, "all_connected_s": t_all,
        "published_before_idle_sample": idle_published if idle_rss else None,
        "server_cpu_s": end_stats["cpu"]["total_s"] - base_cpu, "samples": samples, "transports": {},
    }
    failed = []
    if t_all is None:
        failed.append("not every subscriber was connected at once (max held %d of %d)"
                      % (max([s["held"] for s in samples] or [0]), total))
    else:
        result["connect_rate_per_s"] = total / t_all
        result["rss_per_idle_subscriber_bytes"] = (idle_rss - base_rss) / float(total)
    for t, n, proc, path, cmd in clients:
        r = {"subscribers": n, "exit": proc.returncode, "cmd": cmd}
        try:
            with open(path) as f:
                run = json.load(f)["runs"][0]
        except (OSError, ValueError, KeyError, IndexError) as e:
            failed.append("%s client wrote no result (%s, exit %s)" % (t, e, proc.returncode))
            result["transports"][t] = r
            continue
        d, lat = run["delivery"], run["latency_us"]
        r.update(status=run["status"], failure=run["failure"], published=d["published"],
                 expected=d["expected"], delivered=d["delivered"], lost=d["lost"],
                 duplicates=d["duplicates"], p50_us=lat["p50"], p99_us=lat["p99"], max_us=lat["max"],
                 connect_p50_us=run["connect_us"]["p50"], connect_p99_us=run["connect_us"]["p99"],
                 client_cpu_s=run["cost"]["client_cpu_s"])
        if run["status"] != "ok":
            failed.append("%s run failed: %s" % (t, run["failure"]))
        elif d["lost"] != 0:
            failed.append("%s lost %d of %d deliveries" % (t, d["lost"], d["expected"]))
        result["transports"][t] = r
    result["failed"] = failed
    with open(os.path.join(out, "scale.json"), "w") as f:
        json.dump(result, f, indent=1)

    print("scale run: %d subscribers (%s), %g msg/s over %d channels, %d s measured; results in %s"
          % (total, ", ".join("%d %s" % (n, t.upper()) for t, n in parts), a.rate, a.channels,
             a.duration, os.path.relpath(out, ROOT)))
    if t_all is not None:
        per = result["rss_per_idle_subscriber_bytes"]
        print("  all connected after %.1f s: %.0f connections/s" % (t_all, result["connect_rate_per_s"]))
        print("  server RSS: %.1f MiB before, %.1f MiB with every subscriber idle (%d messages published "
              "by then), %.1f MiB at the end" % (base_rss / 2**20, idle_rss / 2**20, idle_published,
                                                end_rss / 2**20))
        print("  RSS per idle subscriber: %.1f KiB (target <= 8 KiB: %s)"
              % (per / 1024, "met" if per <= RSS_TARGET else "NOT met"))
    print("  server CPU: %.1f s over the run" % result["server_cpu_s"])
    for t, r in result["transports"].items():
        if "delivered" in r:
            print("  %-3s %6d subs: delivered %d of %d, lost %d, dup %d; latency p50 %s p99 %s max %s; "
                  "connect p99 %s" % (t.upper(), r["subscribers"], r["delivered"], r["expected"], r["lost"],
                                     r["duplicates"], fmt_ms(r["p50_us"]), fmt_ms(r["p99_us"]),
                                     fmt_ms(r["max_us"]), fmt_ms(r["connect_p99_us"])))
    if note:
        print("  NOTE: " + note)
    for f in failed:
        print("  FAILED: " + f)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
