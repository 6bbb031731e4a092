#!/usr/bin/python3
"""make bench-fanout: one channel's fan-out, pushpull-server against Nchan
(issue 11). The same client (bin/pushpull-client, --dialect pushpull or
nchan, --server-pid) measures both servers, started once each and
alternated inside every point (who goes first alternates too), at
subscribers x msg/s = 100 x 1000, 1000 x 100, 200 x 1000, 10000 x 10, for
SSE and WebSocket. Prints, per point: deliveries/s, p50/p99, lost, server
CPU µs per delivered message and server RSS per subscriber (the client
reads both from /proc), and pushpull's ratio to Nchan; then the targets
(CPU <= 0.8x Nchan's, p99 <= Nchan's, lost 0, WebSocket CPU <= SSE's) as
met or missed. Prints figures; it is not a timed test. About 5 minutes.

Flags: --duration S (6), --points "100x1000,1000x100", --transports sse,ws,
--json FILE (every client result, for the record)."""

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("PUSHPULL_BIN", os.path.join(ROOT, "bin"))
POINTS = "100x1000,1000x100,200x1000,10000x10"


def start(cmd, what):
    """A server in the background; its pid and base URL (from its
    'listening on' line)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         start_new_session=True)
    line = p.stdout.readline()
    if not line.startswith("listening on "):
        p.kill()
        sys.exit("bench-fanout: %s did not start" % what)
    return p, line.split()[-1]


def server_pids(p):
    """The server's processes: Nchan's runner starts nginx, whose master
    starts the worker; the client sums them all."""
    pids, todo = [], [p.pid]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return ",".join(str(x) for x in pids)


def run_client(a, dialect, url, pids, transport, subs, rate):
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [os.path.join(BIN, "pushpull-client"), "--dialect", dialect, "--url", url,
               "--server-pid", pids, "--transport", transport, "--subscribers", str(subs),
               "--rate", str(rate), "--duration", "%gs" % a.duration, "--warmup", "1s",
               "--drain", "2s", "--connect-timeout", "60s", "--quiet", "--json", out.name]
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            return {"failed": r.stderr.strip()[-200:] or "exit %d" % r.returncode}
        run = json.load(open(out.name))["runs"][0]
    lat, d, c = run["latency_us"], run["delivery"], run["cost"]
    return {"deliv_s": run["throughput"]["delivered_per_s"], "p50_ms": lat["p50"] / 1000,
            "p99_ms": lat["p99"] / 1000, "lost": d["lost"],
            "cpu_us": c["server_cpu_us_per_delivered"],
            "rss_sub": c["server_rss_per_subscriber_bytes"], "status": run["status"]}


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def row(point, transport, server, m, nchan=None):
    if "failed" in m:
        return "%-10s %-4s %-8s failed: %s" % (point, transport, server, m["failed"])
    cells = "%-10s %-4s %-8s %9s %8s %8s %6d %7s %8s" % (
        point, transport, server, fmt(m["deliv_s"], ".0f"), fmt(m["p50_ms"], ".2f"),
        fmt(m["p99_ms"], ".2f"), m["lost"], fmt(m["cpu_us"], ".2f"),
        fmt(None if m["rss_sub"] is None else m["rss_sub"] / 1024, ".1f"))
    if nchan and "failed" not in nchan:
        cells += "   cpu x%s  p99 x%s" % (fmt(ratio(m["cpu_us"], nchan["cpu_us"]), ".2f"),
                                          fmt(ratio(m["p99_ms"], nchan["p99_ms"]), ".2f"))
    return cells


def verdicts(results):
    """Each target at each point: met, or missed with the figures."""
    out = []
    for (point, transport), by in results.items():
        pp, nc = by["pushpull"], by["nchan"]
        if "failed" in pp or "failed" in nc:
            out.append("%s %s: not measured" % (point, transport))
            continue
        cpu = ratio(pp["cpu_us"], nc["cpu_us"])
        for name, ok in (("cpu <= 0.8x nchan", cpu is not None and cpu <= 0.8),
                         ("p99 <= nchan", pp["p99_ms"] <= nc["p99_ms"]),
                         ("lost 0", pp["lost"] == 0)):
            out.append("%-10s %-4s %-18s %s" % (point, transport, name, "met" if ok else "MISSED"))
    for point in sorted({p for p, _ in results}, key=lambda s: POINTS.find(s)):
        ws, sse = results.get((point, "ws")), results.get((point, "sse"))
        if ws and sse and "failed" not in ws["pushpull"] and "failed" not in sse["pushpull"]:
            ok = ws["pushpull"]["cpu_us"] <= sse["pushpull"]["cpu_us"]
            out.append("%-10s ws   %-18s %s (%.2f vs %.2f us)" % (
                point, "cpu <= sse's", "met" if ok else "MISSED",
                ws["pushpull"]["cpu_us"], sse["pushpull"]["cpu_us"]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=6)
    ap.add_argument("--points", default=POINTS)
    ap.add_argument("--transports", default="sse,ws")
    ap.add_argument("--json")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # Limits that would refuse the largest point's subscribers, not defaults
    # that change what a subscriber costs.
    pp, pp_url = start([os.path.join(BIN, "pushpull-server"), "--port", "0", "--quiet",
                        "--max-connections", "30000", "--max-connections-per-ip", "0"],
                       "pushpull-server")
    nc, nc_url = start([os.path.join(ROOT, "peers/nchan/run"), "0"], "peers/nchan/run")
    servers = {"pushpull": (pp_url, server_pids(pp)), "nchan": (nc_url, None)}
    results, flip = {}, False
    print("%-10s %-4s %-8s %9s %8s %8s %6s %7s %8s" % (
        "subs x r/s", "tr", "server", "deliv/s", "p50 ms", "p99 ms", "lost", "cpu us", "KiB/sub"))
    try:
        time.sleep(1)                     # nginx's worker is up
        servers["nchan"] = (nc_url, server_pids(nc))
        for point in a.points.split(","):
            subs, rate = (int(x) for x in point.split("x"))
            for transport in a.transports.split(","):
                order = ["nchan", "pushpull"] if flip else ["pushpull", "nchan"]
                flip = not flip
                by = {}
                for server in order:
                    url, pids = servers[server]
                    by[server] = run_client(a, server, url, pids, transport, subs, rate)
                results[(point, transport)] = by
                print(row(point, transport, "nchan", by["nchan"]))
                print(row(point, transport, "pushpull", by["pushpull"], by["nchan"]), flush=True)
    finally:
        for p in (pp, nc):
            os.killpg(p.pid, signal.SIGTERM)
            p.wait()
    print("\ntargets (issue 11):")
    for line in verdicts(results):
        print("  " + line)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"%s %s" % k: v for k, v in results.items()}, f, indent=1)


if __name__ == "__main__":
    main()
