#!/usr/bin/python3
"""What the Redis broker costs (issue 16): make bench-broker.

    scripts/bench-broker.py [--duration 4s] [--rounds 1] [--skip-workers]

1. The broker hop, per transport: the same workload (--subscribers 50,
   --rate 200) on three topologies, side by side:
     memory  one pushpull-server, the in-memory bus (today's default);
     redis   one pushpull-server through Redis (publish and subscribe on it);
     two     two pushpull-servers on one Redis: the client publishes on A and
             subscribes on B, so every message crosses Redis.
   Latency (p50, p99: from each message's scheduled publish time) and server
   CPU per delivered message: the pushpull-server processes (from /proc,
   through the client's --server-pid) and, apart, redis-server's.
2. --workers 2 against one process, both through Redis, at 100 subscribers
   x 1000 msg/s and 1000 subscribers x 100 msg/s (SSE): latency and the
   CPU of all server processes per delivered message.

Our own redis-server runs on an ephemeral 127.0.0.1 port in a temporary
directory (no persistence) and is stopped by pid. The machine is shared and
noisy: topologies alternate within a round, and --rounds N repeats them
(medians are printed). Results: results/broker-<UTC time>/broker.json."""

import argparse
import datetime
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("PUSHPULL_BIN", os.path.join(ROOT, "bin"))
SERVER = os.path.join(BIN, "pushpull-server")
CLIENT = os.path.join(BIN, "pushpull-client")
TRANSPORTS = ("poll", "longpoll", "sse", "ws")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Redis:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ppbench-redis-")
        self.port = free_port()
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--dir", self.dir, "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            r = subprocess.run(["redis-cli", "-p", str(self.port), "PING"], capture_output=True)
            if r.stdout.strip() == b"PONG":
                return
            time.sleep(0.05)
        sys.exit("bench-broker: redis-server did not start")

    def cpu_s(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            v = f.read().rsplit(")", 1)[1].split()
        return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


class Server:
    def __init__(self, *args):
        # 1000 subscribers and a publisher from one address: no per-address cap
        cmd = [SERVER, "--port", "0", "--quiet", "--max-connections-per-ip", "0"] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("listening on "):
            sys.exit("bench-broker: the server did not start: %r" % line)
        self.url = line.split()[-1]
        time.sleep(0.2)              # workers: let /proc list them

    def pids(self):
        try:
            with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            kids = []
        return kids or [self.proc.pid]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=15)


def client(url, pub_url, transport, subs, rate, duration, pids, tag):
    out = tempfile.mktemp(suffix=".json")
    args = [CLIENT, "--url", url, "--publish-url", pub_url, "--transport", transport,
            "--subscribers", str(subs), "--rate", str(rate), "--duration", duration,
            "--warmup", "1s", "--drain", "2s", "--quiet", "--run-tag", tag, "--json", out]
    for p in pids:
        args += ["--server-pid", str(p)]
    subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    with open(out) as f:
        doc = json.load(f)
    os.unlink(out)
    r = doc["runs"][0]
    return {"p50_us": r["latency_us"]["p50"], "p99_us": r["latency_us"]["p99"],
            "delivered": r["delivery"]["delivered"], "lost": r["delivery"]["lost"],
            "server_cpu_s": r["cost"]["server_cpu_s"] or 0.0}


def measure(redis, servers, pub, sub, transport, subs, rate, duration, tag):
    pids = [p for s in servers for p in s.pids()]
    r0 = redis.cpu_s() if redis else 0.0
    r = client(sub.url, pub.url, transport, subs, rate, duration, pids, tag)
    d = max(r["delivered"], 1)
    r["server_us_per_msg"] = r["server_cpu_s"] * 1e6 / d
    r["redis_us_per_msg"] = ((redis.cpu_s() - r0) * 1e6 / d) if redis else 0.0
    return r


def hop_round(redis, args, rnd):
    out = {}
    mem = Server()
    one = Server("--broker", "redis://127.0.0.1:%d" % redis.port)
    a = Server("--broker", "redis://127.0.0.1:%d" % redis.port)
    b = Server("--broker", "redis://127.0.0.1:%d" % redis.port)
    try:
        for t in TRANSPORTS:       # topologies alternate within each transport
            out[("memory", t)] = measure(None, [mem], mem, mem, t, args.subscribers, args.rate,
                                         args.duration, "m%d%s" % (rnd, t))
            out[("redis", t)] = measure(redis, [one], one, one, t, args.subscribers, args.rate,
                                        args.duration, "r%d%s" % (rnd, t))
            out[("two", t)] = measure(redis, [a, b], a, b, t, args.subscribers, args.rate,
                                      args.duration, "t%d%s" % (rnd, t))
    finally:
        for s in (mem, one, a, b):
            s.stop()
    return out


def workers_round(redis, args, rnd):
    out = {}
    for subs, rate in ((100, 1000), (1000, 100)):
        for n in (1, 2):
            extra = ["--workers", "2"] if n == 2 else []
            s = Server("--broker", "redis://127.0.0.1:%d" % redis.port, *extra)
            try:
                out[(n, subs, rate)] = measure(redis, [s], s, s, "sse", subs, rate, args.duration,
                                               "w%d%d%d" % (rnd, n, subs))
            finally:
                s.stop()
    return out


def median(rounds, key, field):
    return statistics.median(r[key][field] for r in rounds)


def print_hop(rounds):
    print("\nbroker hop: latency and server CPU per delivered message (medians of %d round%s)"
          % (len(rounds), "" if len(rounds) == 1 else "s"))
    print("%-9s %-7s %9s %9s %13s %12s %5s" % ("transport", "topo", "p50 ms", "p99 ms",
                                                "pushpull µs", "redis µs", "lost"))
    for t in TRANSPORTS:
        for topo in ("memory", "redis", "two"):
            k = (topo, t)
            print("%-9s %-7s %9.3f %9.3f %13.1f %12.1f %5d" % (
                t, topo, median(rounds, k, "p50_us") / 1e3, median(rounds, k, "p99_us") / 1e3,
                median(rounds, k, "server_us_per_msg"), median(rounds, k, "redis_us_per_msg"),
                max(r[k]["lost"] for r in rounds)))


def print_workers(rounds):
    print("\n--workers 2 vs 1 (SSE, through Redis; CPU of every server process)")
    print("%-12s %-8s %9s %9s %13s %12s %5s" % ("subs x rate", "procs", "p50 ms", "p99 ms",
                                                 "pushpull µs", "redis µs", "lost"))
    for subs, rate in ((100, 1000), (1000, 100)):
        for n in (1, 2):
            k = (n, subs, rate)
            print("%-12s %-8d %9.3f %9.3f %13.1f %12.1f %5d" % (
                "%d x %d" % (subs, rate), n, median(rounds, k, "p50_us") / 1e3,
                median(rounds, k, "p99_us") / 1e3, median(rounds, k, "server_us_per_msg"),
                median(rounds, k, "redis_us_per_msg"), max(r[k]["lost"] for r in rounds)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", default="4s")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--subscribers", type=int, default=50)
    ap.add_argument("--rate", type=int, default=200)
    ap.add_argument("--skip-workers", action="store_true")
    args = ap.parse_args()
    if not shutil.which("redis-server"):
        sys.exit("bench-broker: no redis-server (scripts/install-deps.sh installs it)")
    redis = Redis()
    try:
        hops = [hop_round(redis, args, i) for i in range(args.rounds)]
        workers = [] if args.skip_workers else [workers_round(redis, args, i) for i in range(args.rounds)]
    finally:
        redis.stop()
    print_hop(hops)
    if workers:
        print_workers(workers)
    dest = os.path.join(ROOT, "results", "broker-" + datetime.datetime.utcnow().strftime("%Y%m%dT%H%M%SZ"))
    os.makedirs(dest, exist_ok=True)
    with open(os.path.join(dest, "broker.json"), "w") as f:
        json.dump({"args": vars(args),
                   "hop": [{"%s/%s" % k: v for k, v in r.items()} for r in hops],
                   "workers": [{"%d/%dx%d" % k: v for k, v in r.items()} for r in workers]}, f, indent=1)
    print("\nresults: %s" % os.path.relpath(dest, ROOT))


if __name__ == "__main__":
    main()
