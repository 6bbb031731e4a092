#!/usr/bin/python3
"""pushpull scenario runner: runs every client run of a scenario file and
keeps the results folder described in docs/RESULTS-FORMAT.md.

    scripts/bench.py SCENARIO_FILE [--profiles a,b] [--out DIR]
                     [--only-section NAME] [--duration DUR] [--network M]
                     [--dry-run]

Builds nothing (make does); the binaries come from $PUSHPULL_BIN (default
<repo>/bin). Runs are grouped by network profile; each profile gets one
pushpull-server (and, without netem, one pushpull-relay). One client
invocation per run and transport. Exit status: 0 every run ok, 1 a run (or
the report) failed, 2 a usage or scenario error, 130 interrupted.
Standard library only; run with Debian's /usr/bin/python3.
"""

import argparse
import collections
import datetime
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import procs  # noqa: E402
import scenario  # noqa: E402

SCHEMA = "pushpull-results/1"
LOOPBACK = "127.0.0.1"


class Interrupted(Exception):
    """SIGINT or SIGTERM: stop, clean up, keep what was measured."""


def _on_signal(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


def log(msg="", end="\n"):
    sys.stderr.write(msg + end)
    sys.stderr.flush()


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def fmt_eta(s):
    s = int(round(s))
    if s < 60:
        return "%ds" % s
    if s < 3600:
        return "%dm%02ds" % (s // 60, s % 60)
    return "%dh%02dm" % (s // 3600, s % 3600 // 60)


def rel(path):
    """path relative to the current directory when it is below it."""
    p = os.path.abspath(path)
    cwd = os.getcwd()
    return os.path.relpath(p, cwd) if p.startswith(cwd + os.sep) else p


def repo_rel(path):
    """path relative to the repository when it is inside it."""
    p = os.path.abspath(path)
    return os.path.relpath(p, REPO) if p.startswith(REPO + os.sep) else p


def cmd_output(cmd, timeout=10, env=None):
    """stdout of cmd stripped, or None when it cannot run or fails."""
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, timeout=timeout, env=env)
    except (OSError, subprocess.SubprocessError):
        return None
    if r.returncode != 0:
        return None
    return r.stdout.decode(errors="replace").strip()


def run_quiet(cmd, timeout=15):
    """(ok, one-line error) of a setup command."""
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as e:
        return False, "%s: %s" % (cmd[0], e)
    if r.returncode != 0:
        lines = [x for x in (r.stderr + r.stdout).decode(errors="replace").splitlines() if x.strip()]
        return False, lines[-1].strip() if lines else "%s exited %d" % (" ".join(cmd), r.returncode)
    return True, None


def last_line(path):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            lines = [x.strip() for x in f.read().decode(errors="replace").splitlines() if x.strip()]
    except OSError:
        return None
    return lines[-1][:300] if lines else None


def raise_nofile():
    """Soft RLIMIT_NOFILE up to the hard limit; children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --------------------------------------------------------------- manifest

def machine_info():
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    u = os.uname()
    try:
        cores = os.sysconf("SC_NPROCESSORS_ONLN")
    except (ValueError, OSError):
        cores = os.cpu_count()
    return {"cpu_model": cpu, "cores": cores, "memory_bytes": mem,
            "kernel": "%s %s %s" % (u.sysname, u.release, u.machine), "hostname": socket.gethostname()}


def versions(bin_dir):
    v = {}
    out = cmd_output([os.path.join(bin_dir, "pushpull-server"), "--version"])
    v["pushpull"] = out.split()[-1] if out else None
    genv = dict(os.environ, GIT_OPTIONAL_LOCKS="0")   # read only: no index refresh
    rev = cmd_output(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], env=genv)
    if rev:
        st = cmd_output(["git", "-C", REPO, "status", "--porcelain"], env=genv)
        if st:
            rev += "-dirty"
    v["git_revision"] = rev
    pc_env = dict(os.environ)
    pc_env["PKG_CONFIG_PATH"] = ":".join(x for x in (os.environ.get("PKG_CONFIG_PATH"),
                                                     os.path.join(REPO, "mk", "pkgconfig")) if x)
    for lib in ("libcurl", "libmicrohttpd", "libevent", "jansson", "openssl"):
        v[lib] = cmd_output(["pkg-config", "--modversion", lib], env=pc_env)
    # Debian ships no wslay.pc (mk/pkgconfig's stand-in would only echo itself)
    v["wslay"] = (cmd_output(["dpkg-query", "-W", "-f=${Version}", "libwslay1"])
                  or cmd_output(["pkg-config", "--modversion", "wslay"], env=pc_env))
    g = cmd_output(["gnuplot", "--version"])
    v["gnuplot"] = re.sub(r"^gnuplot\s+", "", g) if g else None
    v["python"] = sys.version.split()[0]
    return v


# How a peer names its version (pushpull-server: its own --version).
# The node peers' packages are exact in their package-lock.json (recorded
# with the config); the commands name node and the installed versions.
VERSION_COMMANDS = {
    "nchan": (["nginx", "-v"], ["dpkg-query", "-W", "libnginx-mod-nchan"]),
    "node-ws": (["node", "--version"], ["npm", "ls", "--prefix", os.path.join(REPO, "peers", "node-ws"), "--depth=0"]),
    "socketio": (["node", "--version"], ["npm", "ls", "--prefix", os.path.join(REPO, "peers", "socketio"), "--depth=0"]),
    "pushpin": (["dpkg-query", "-W", "pushpin", "condure", "zurl"], ["node", "--version"]),
}


def version_output(cmd):
    """A version command's one-line answer, stdout or stderr (nginx -v
    writes to stderr); None when it cannot run or fails."""
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    text = " ".join(r.stdout.decode(errors="replace").split())
    return text if r.returncode == 0 and text else None


def peer_config(name):
    """Every file of peers/NAME (its run script and config): path, sha256, text."""
    folder = os.path.join(REPO, "peers", name)
    out = []
    for f in sorted(os.listdir(folder)):
        path = os.path.join(folder, f)
        if not os.path.isfile(path):
            continue
        with open(path, "rb") as fh:
            data = fh.read()
        try:
            text = data.decode("utf-8") if len(data) <= 65536 else None
        except UnicodeDecodeError:
            text = None
        out.append({"file": repo_rel(path), "sha256": hashlib.sha256(data).hexdigest(), "text": text})
    return out


def server_info(name, bin_dir):
    """manifest.servers[NAME]: dialect, version, config; "command" is filled
    in when the server first starts."""
    if name == "pushpull":
        cmds, config = [[os.path.join(bin_dir, "pushpull-server"), "--version"]], None
    else:
        cmds, config = [list(c) for c in VERSION_COMMANDS.get(name, ())], peer_config(name)
    outs = [version_output(c) for c in cmds]
    return {"name": name, "dialect": scenario.SERVER_DIALECTS[name],
            "version": "; ".join(o for o in outs if o) or None, "version_commands": cmds,
            "command": None, "config": config}


# --------------------------------------------------------------- network

def probe_netem():
    """(True, why) when we are root and the kernel has netem, else (False, why).
    Tries it for real in a throwaway network namespace, always deleted."""
    if os.geteuid() != 0:
        return False, "not root: netem needs network namespaces and tc"
    for tool in ("ip", "tc"):
        if not shutil.which(tool):
            return False, "no %s command (iproute2)" % tool
    remove_stale_namespaces()
    ns = "pp-probe-%d" % os.getpid()
    ok, e = run_quiet(["ip", "netns", "add", ns])
    if not ok:
        return False, "cannot create a network namespace (ip netns add: %s)" % e
    try:
        ok, e = run_quiet(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"])
        if not ok:
            return False, "cannot bring up lo in a namespace (%s)" % e
        ok, e = run_quiet(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "lo", "root",
                           "netem", "delay", "1ms"])
        if not ok:
            return False, "no netem qdisc in this kernel (tc: %s)" % e
        return True, "root and the kernel has netem"
    finally:
        run_quiet(["ip", "netns", "del", ns])


def remove_stale_namespaces():
    """Delete namespaces an earlier runner left behind (killed with SIGKILL):
    only our own names (pp-PID-PROFILE, pp-probe-PID) whose PID is gone."""
    out = cmd_output(["ip", "netns", "list"]) or ""
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.fullmatch(r"pp-(?:probe-(\d+)|(\d+)-(?:%s))" % "|".join(scenario.PROFILES), name)
        if not m:
            continue
        pid = int(m.group(1) or m.group(2))
        if pid != os.getpid() and not os.path.exists("/proc/%d" % pid):
            log("note: deleting network namespace %s left by runner %d" % (name, pid))
            run_quiet(["ip", "netns", "del", name])


def tc_time(us):
    return "%dms" % (us // 1000) if us % 1000 == 0 else "%dus" % us


class Proc:
    """A child process in its own session (Ctrl-C reaches only the runner,
    which stops children in order), stdout and stderr to files; log_stdout:
    stdout into the log too (redis-server logs on stdout)."""

    def __init__(self, label, cmd, logdir, log_stdout=False):
        self.label = label
        self.cmd = cmd
        self.out_path = os.path.join(logdir, label + ".out")
        self.err_path = os.path.join(logdir, label + ".log")
        self.out = open(self.out_path, "wb")
        self.err = open(self.err_path, "ab")
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.err if log_stdout else self.out,
                                  stderr=self.err, start_new_session=True)

    def first_line(self, pattern, timeout):
        """The groups of pattern on the first stdout line, or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.out_path, "rb") as f:
                data = f.read()
            if b"\n" in data:
                m = re.fullmatch(pattern, data.split(b"\n", 1)[0].decode(errors="replace").strip())
                return m.groups() if m else None
            if self.p.poll() is not None:
                return None
            time.sleep(0.02)
        return None

    def alive(self):
        return self.p.poll() is None

    def stop(self, timeout=10):
        """SIGTERM, wait, SIGKILL. Returns the exit status."""
        if self.p.poll() is None:
            try:
                self.p.send_signal(signal.SIGTERM)
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                # the whole session: a peer's run script leaves its server
                # (nginx and its worker) behind if only the script dies
                os.killpg(self.p.pid, signal.SIGKILL)
                try:
                    self.p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
        for f in (self.out, self.err):
            f.close()
        # keep only logs that say something
        for path in (self.out_path, self.err_path):
            try:
                if os.path.getsize(path) == 0 or path == self.out_path:
                    os.unlink(path)
            except OSError:
                pass
        return self.p.returncode

    def describe_exit(self):
        rc = self.p.returncode
        how = "killed by %s" % signal.Signals(-rc).name if rc is not None and rc < 0 else "exit status %s" % rc
        tail = last_line(self.err_path)
        return how + ("; last stderr line: %s" % tail if tail else "")


def openssl_command(cert, key):
    """A self-signed P-256 certificate for 127.0.0.1, valid for two days."""
    return ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=pushpull bench",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]


def redis_command(port, folder):
    """A broker profile's redis-server: loopback only, its own folder, nothing saved."""
    return ["redis-server", "--port", str(port), "--bind", LOOPBACK, "--dir", folder,
            "--save", "", "--appendonly", "no"]


REDIS_VERSION_COMMAND = ["redis-server", "--version"]


def free_port():
    """A loopback port nothing listens on now (another process may take it
    before ours binds it: RedisServer tries again)."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def redis_ping(port, timeout=1.0):
    """Does a redis-server answer PING on 127.0.0.1:port?"""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A broker profile's own redis-server: 127.0.0.1, a free port, a
    temporary folder (removed when it stops), nothing persisted; stopped by
    its pid, never a system instance."""

    def __init__(self, env):
        self.env = env
        self.proc = None
        self.port = None
        self.dir = None
        self.starts = 0

    @staticmethod
    def label():
        return "redis-server"

    @property
    def url(self):
        return "redis://%s:%d" % (LOOPBACK, self.port)

    def start(self):
        if not shutil.which("redis-server"):
            raise SetupError("no redis-server command (scripts/install-deps.sh installs it)")
        self.dir = tempfile.mkdtemp(prefix="pp-redis-")
        for _ in range(5):
            port = free_port()
            cmd = redis_command(port, self.dir)
            tag = "redis-server-%s%s" % (self.env.name, "-%d" % self.starts if self.starts else "")
            self.starts += 1
            self.proc = Proc(tag, cmd, self.env.b.logdir, log_stdout=True)
            if self.wait_ping(port, 10):
                self.port = port
                self.env.info["broker"]["redis_command"] = cmd
                return
            self.proc.stop(2)
        raise SetupError("redis-server did not answer PING (%s)" % self.proc.describe_exit())

    def wait_ping(self, port, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.alive():
            if redis_ping(port):
                return True
            time.sleep(0.05)
        return False

    def alive(self):
        return self.proc is not None and self.proc.alive()

    def usage(self):
        """procs.Usage of redis-server now (CPU seconds, RSS)."""
        return procs.usage([self.proc.p.pid])

    def stop(self):
        """SIGTERM by pid (nothing to save), the folder removed; the exit status."""
        rc = self.proc.stop() if self.proc is not None else None
        self.proc = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        return rc


def broker_figures(before, after, result, pid):
    """runs.jsonl "broker": redis-server's CPU over the whole client run
    (connect, warm-up, measure, drain) per delivery of the whole run, and
    its RSS at the end. The client counts deliveries of the measure window
    only; the whole run's are those scaled by its publishes, warm-up
    included (published_total / published): Redis works per publish, and
    polls are answered without it."""
    cpu = after.cpu_s - before.cpu_s
    d = (result or {}).get("delivery") or {}
    delivered, published, total = d.get("delivered"), d.get("published"), d.get("published_total")
    deliveries = delivered * total / published if delivered and published and total else None
    return {"server": "redis-server", "pid": pid, "cpu_s": round(cpu, 6),
            "deliveries": round(deliveries) if deliveries else None,
            "cpu_us_per_delivered": round(cpu * 1e6 / deliveries, 4) if deliveries else None,
            "rss_bytes": after.rss_bytes}


class Server:
    """One server of a profile: bin/pushpull-server, or a peer's
    peers/NAME/run 0 (same contract: foreground, "listening on URL", SIGTERM).
    instance: "A" or "B" for the two pushpull-servers of a two-instance
    broker profile (A takes the publishes, B the subscribers)."""

    def __init__(self, env, name, instance=None):
        self.env = env
        self.name = name
        self.instance = instance
        self.proc = None
        self.port = None
        self.url = None
        self.restarts = 0
        self.failure = None       # why a peer could not start: its runs fail, the others go on

    def label(self):
        if self.name != "pushpull":
            return "peers/%s/run" % self.name
        return "pushpull-server" + (" %s" % self.instance if self.instance else "")

    def start(self):
        env, b = self.env, self.env.b
        cmd = env.prefix() + b.server_command(self.name, env.name, (env.cert, env.key) if env.tls else None,
                                              env.redis.url if env.redis else None)
        tag = "server-%s%s%s%s" % ("" if self.name == "pushpull" else self.name + "-", env.name,
                                   "-" + self.instance if self.instance else "",
                                   "-%d" % self.restarts if self.restarts else "")
        self.proc = Proc(tag, cmd, b.logdir)
        env.record_command(self.name, cmd, self.instance)
        g = self.proc.first_line(r"listening on (https?)://127\.0\.0\.1:(\d+)", 30)
        if not g:
            self.proc.stop(2)
            raise SetupError("%s did not start (%s)" % (self.label(), self.proc.describe_exit()))
        self.port = int(g[1])
        self.url = "%s://%s:%d" % (g[0], LOOPBACK, self.port)
        if self.name != "pushpull":
            self.settle()

    def settle(self, timeout=3.0):
        """A peer may fork its workers just after it listens: wait until the
        processes under its run script are there and stay the same."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            now = procs.server_pids(self.proc.p.pid)
            if now and now == last:
                return
            last = now
            time.sleep(0.1)

    def pids(self):
        """The processes whose CPU and RSS are the server's (procs.server_pids):
        pushpull-server itself (with --workers, its parent and workers), or a
        peer's processes."""
        pids = procs.server_pids(self.proc.p.pid)
        if not pids:
            raise SetupError("%s runs no process" % self.label())
        return pids

    def alive(self):
        return self.proc is not None and self.proc.alive()

    def stop(self):
        rc = self.proc.stop() if self.proc is not None else None
        self.proc = None
        return rc


class ProfileEnv:
    """The servers (and relay, or network namespace) of one profile."""

    def __init__(self, bench, name):
        self.b = bench
        self.name = name
        self.info = bench.manifest["profiles"][name]
        self.method = self.info["method"]
        self.ns = "pp-%d-%s" % (os.getpid(), name) if self.method == "netem" else None
        # A broker profile: its own redis-server; with two instances the
        # subscribers' pushpull-server is B, and A takes the publishes.
        self.broker = scenario.PROFILES[name].get("broker")
        self.redis = RedisServer(self) if self.broker else None
        two = bool(self.broker) and self.broker["instances"] == 2
        self.publisher = Server(self, "pushpull", "A") if two else None
        self.servers = {s: Server(self, s, "B" if two and s == "pushpull" else None) for s in bench.servers_of[name]}
        self.relay = None
        self.relay_url = None     # what subscribers connect to through the relay
        self.restarts = 0
        self.tls = bool(scenario.PROFILES[name].get("tls"))
        self.tls_dir = None       # the certificate and key of a tls profile
        self.cert = self.key = None

    def prefix(self):
        return ["ip", "netns", "exec", self.ns] if self.ns else []

    # -- lifecycle
    def setup(self):
        if self.tls:
            # A throwaway key: in a temporary folder, never in the results.
            self.tls_dir = tempfile.mkdtemp(prefix="pp-tls-")
            self.cert = os.path.join(self.tls_dir, "cert.pem")
            self.key = os.path.join(self.tls_dir, "key.pem")
            cmd = openssl_command(self.cert, self.key)
            ok, e = run_quiet(cmd, timeout=30)
            if not ok:
                raise SetupError("%s: %s" % (" ".join(cmd), e))
            self.info["certificate"] = ("self-signed (P-256, IP:127.0.0.1), made for this run by: %s; "
                                        "removed afterwards" % " ".join(cmd))
        if self.ns:
            self.setup_netns()
        if self.redis:
            self.redis.start()
        if self.publisher:
            self.publisher.start()
        for name, srv in self.servers.items():
            try:
                srv.start()
            except SetupError as e:
                if name == "pushpull":
                    raise
                srv.failure = "%s could not be set up: %s" % (srv.label(), e)
                self.b.incident("profile %s: %s" % (self.name, srv.failure))
        if self.method == "relay":
            self.start_relay()

    def setup_netns(self):
        rtt_us = self.info["rtt_ms"] * 1000
        qd = ["tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", tc_time(rtt_us // 2),
              "limit", "100000"]
        if self.info["rate_bits"]:
            qd += ["rate", "%dbit" % self.info["rate_bits"]]
        for cmd in (["ip", "netns", "add", self.ns],
                    ["ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up"],
                    ["ip", "netns", "exec", self.ns] + qd):
            ok, e = run_quiet(cmd)
            if not ok:
                raise SetupError("%s: %s" % (" ".join(cmd), e))
        self.info["netns"] = self.ns
        self.info["netem_command"] = qd

    def record_command(self, name, cmd, instance=None):
        """The exact command of each server, in the profile and the manifest
        (instance A of a two-instance profile as the server's "publisher")."""
        if instance == "A":
            self.info.setdefault("servers", {}).setdefault(name, {}).setdefault("publisher", {})["command"] = cmd
            return
        self.info.setdefault("servers", {}).setdefault(name, {})["command"] = cmd
        if name == "pushpull":
            self.info["server_command"] = cmd
            if not self.b.manifest.get("server_command"):
                self.b.manifest["server_command"] = cmd
        if not self.b.manifest["servers"][name].get("command"):
            self.b.manifest["servers"][name]["command"] = cmd

    def urls(self, name):
        """(where subscribers connect, where the publisher posts) for a server:
        through the relay only for pushpull (peers run on loopback alone); on
        two instances, B and A."""
        url = self.servers[name].url
        if name == "pushpull" and self.relay_url:
            return self.relay_url, url
        if name == "pushpull" and self.publisher:
            return url, self.publisher.url
        return url, url

    def instances(self, name):
        """The processes that serve a server's runs: A and B on two instances."""
        return ([self.publisher] if name == "pushpull" and self.publisher else []) + [self.servers[name]]

    def pids(self, name):
        """--server-pid of a server's runs: every process of every instance."""
        return [pid for srv in self.instances(name) for pid in srv.pids()]

    def parts(self, name):
        """What a run on a server needs alive: its instances and redis-server."""
        return self.instances(name) + ([self.redis] if self.redis else [])

    def start_relay(self):
        b = self.b
        if self.relay is not None:
            self.relay.stop(2)
        rtt_us = self.info["rtt_ms"] * 1000
        cmd = [b.relay_bin, "--listen", "%s:0" % LOOPBACK,
               "--target", "%s:%d" % (LOOPBACK, self.servers["pushpull"].port), "--delay", tc_time(rtt_us // 2)]
        if self.info["rate_bits"]:
            cmd += ["--rate", "%gMbit" % (self.info["rate_bits"] / 1e6)]
        cmd.append("--quiet")
        tag = "relay-%s%s" % (self.name, "-%d" % self.restarts if self.restarts else "")
        self.relay = Proc(tag, cmd, b.logdir)
        self.info["relay_command"] = cmd
        g = self.relay.first_line(r"relaying 127\.0\.0\.1:(\d+) -> .*", 30)
        if not g:
            self.relay.stop(2)
            raise SetupError("pushpull-relay did not start (%s)" % self.relay.describe_exit())
        self.relay_url = "http://%s:%s" % (LOOPBACK, g[0])

    def ensure(self, n, name):
        """Before run n on server name: restart what died (redis-server, a
        server instance, the relay)."""
        srv = self.servers[name]
        if srv.failure:
            raise SetupError(srv.failure)
        if self.redis is not None and not self.redis.alive():
            self.b.incident("redis-server of profile %s died before run %d (%s)"
                            % (self.name, n, self.redis.proc.describe_exit()))
            self.restart_broker()
            return
        dead = [s for s in self.instances(name) if s.proc is not None and not s.alive()]
        for s in dead:
            self.b.incident("%s of profile %s died before run %d (%s)"
                            % (s.label(), self.name, n, s.proc.describe_exit()))
            s.proc.stop(1)
            s.restarts += 1
            self.restarts += 1
            s.start()
        if dead:
            if name == "pushpull" and self.relay is not None:
                self.start_relay()
            return
        if name == "pushpull" and self.relay is not None and not self.relay.alive():
            self.b.incident("relay of profile %s died before run %d (%s)" % (self.name, n, self.relay.describe_exit()))
            self.restarts += 1
            self.start_relay()

    def restart_broker(self):
        """A dead redis-server took its data along: a new one, and the
        pushpull-server instances started again on it."""
        for s in self.instances("pushpull"):
            s.stop()
            s.restarts += 1
        self.redis.stop()
        self.restarts += 1
        self.redis.start()
        for s in self.instances("pushpull"):
            s.start()

    def broker_usage(self):
        """procs.Usage of the profile's redis-server, None without one."""
        return self.redis.usage() if self.redis is not None and self.redis.alive() else None

    def alive(self, name):
        return name in self.servers and self.servers[name].alive()

    def stats(self):
        url = self.servers["pushpull"].url + "/stats"
        if self.tls:
            ctx = ssl.create_default_context(cafile=self.cert)
            with urllib.request.urlopen(url, timeout=10, context=ctx) as r:
                return json.loads(r.read().decode())
        if self.ns:
            code = ("import sys,urllib.request;"
                    "sys.stdout.write(urllib.request.urlopen(sys.argv[1],timeout=10).read().decode())")
            out = cmd_output(self.prefix() + ["/usr/bin/python3", "-c", code, url], timeout=20)
            return json.loads(out) if out else None
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.loads(r.read().decode())

    def teardown(self):
        if self.relay is not None:
            self.relay.stop()
            self.relay = None
        if self.publisher is not None:
            self.stop_server(self.publisher, self.info.setdefault("servers", {}).setdefault("pushpull", {})
                             .setdefault("publisher", {}))
        for name, srv in self.servers.items():
            rc = self.stop_server(srv, self.info.setdefault("servers", {}).setdefault(name, {}))
            if name == "pushpull":
                self.info["server_exit_status"] = rc
        if self.redis is not None:
            proc = self.redis.proc
            rc = self.info["broker"]["redis_exit_status"] = self.redis.stop()
            if rc not in (0, None):
                self.b.incident("redis-server of profile %s exited with %s on SIGTERM"
                                % (self.name, proc.describe_exit()))
        if self.ns:
            run_quiet(["ip", "netns", "del", self.ns])
        if self.tls_dir:
            shutil.rmtree(self.tls_dir, ignore_errors=True)
            self.tls_dir = None

    def stop_server(self, srv, info):
        """Stop one server (instance); its exit status into info and returned."""
        proc = srv.proc
        rc = info["exit_status"] = srv.stop()
        if rc not in (0, None) and not srv.failure:
            self.b.incident("%s of profile %s exited with %s on SIGTERM"
                            % (srv.label(), self.name, proc.describe_exit()))
        return rc


class SetupError(Exception):
    pass


def broker_why(broker):
    """A broker profile's set-up, for the manifest's profile "why"."""
    return ("direct: client and server on 127.0.0.1; %s%s with --broker to the profile's own redis-server "
            "(127.0.0.1, a free port, a temporary folder, nothing persisted)%s"
            % ("two pushpull-servers" if broker["instances"] == 2 else "pushpull-server",
               " --workers %d" % broker["workers"] if broker["workers"] > 1 else "",
               ": the publisher posts to A, the subscribers connect to B, so every message crosses Redis"
               if broker["instances"] == 2 else ""))


# --------------------------------------------------------------- runner

SHORT = {"subscribers": "subs", "channels": "channels", "rate": "rate", "size": "size",
         "poll_interval_ms": "poll-ms", "longpoll_timeout_s": "lp-timeout-s", "duration_s": "dur-s",
         "warmup_s": "warmup-s", "drain_s": "drain-s", "keepalive": "keepalive", "connections": "conns",
         "churn_s": "churn-s", "publish_via": "via", "connect_rate": "connect-rate", "clients": "clients"}


def label(p, varying):
    """One run, short: transport subs rate size, what else varies, profile."""
    parts = [p["transport"]]
    for k in SHORT:
        v = p[k]
        if k in ("subscribers", "rate", "size"):
            pass
        elif k not in varying:
            continue
        elif k == "poll_interval_ms" and p["transport"] != "poll":
            continue
        elif k == "longpoll_timeout_s" and p["transport"] != "longpoll":
            continue
        elif k == "keepalive":
            if v:
                continue
            v = "off"
        elif k in ("connections", "churn_s", "connect_rate") and not v:
            continue
        elif k == "publish_via" and v == "http":
            continue
        parts.append("%s=%s" % (SHORT[k], v))
    parts.append(p["profile"])
    return " ".join(parts)


def fmt_ms(us):
    if us is None:
        return "-"
    ms = us / 1000.0
    return "%.3f" % ms if ms < 10 else "%.4g" % ms if ms < 10000 else "%d" % round(ms)


def fmt_num(v, digits=3):
    if v is None:
        return "-"
    if isinstance(v, int) or v == int(v) and abs(v) >= 100:
        return "%d" % v
    return "%.*g" % (digits, v)


def summary_row(r, cols, srv):
    """One run of the runner's closing table."""
    p, res = r["params"], r["result"] or {}
    row = [str(r["n"]), r["section"], p["transport"]] + [p["server"] for _ in srv]
    row += [("on" if p[k] else "off") if k == "keepalive" else str(p[k]) for k in cols]
    row.append(p["profile"])
    if r["status"] == "not_offered":
        return row + ["not offered"]
    if r["status"] != "ok":
        return row + ["FAILED: " + (r["failure"] or "")[:70]]
    lat = res.get("latency_us") or {}
    d, t, c = res.get("delivery") or {}, res.get("throughput") or {}, res.get("cost") or {}
    return row + [fmt_ms(lat.get("p50") if lat.get("count") else None),
                  fmt_ms(lat.get("p99") if lat.get("count") else None),
                  fmt_num(t.get("delivered_per_s"), 4), fmt_num(d.get("lost")),
                  fmt_num(c.get("requests_per_delivered")), fmt_num(c.get("bytes_per_delivered"))]


class Bench:
    def __init__(self, sc, plan, out, bin_dir, opts):
        self.sc = sc
        self.plan = plan                  # [(profile, [Planned])]
        self.out = out
        self.bin = bin_dir
        self.opts = opts
        self.server_bin = os.path.join(bin_dir, "pushpull-server")
        self.client_bin = os.path.join(bin_dir, "pushpull-client")
        self.relay_bin = os.path.join(bin_dir, "pushpull-relay")
        self.total = sum(len(r) for _, r in plan)
        self.varying = set()
        allp = [x.params for _, runs in plan for x in runs]
        for k in scenario.PARAM_KEYS:
            if len({json.dumps(p[k]) for p in allp}) > 1:
                self.varying.add(k)
        self.max_subs = {prof: max(x.params["subscribers"] for x in runs) for prof, runs in plan}
        self.max_size = {prof: max(x.params["size"] for x in runs) for prof, runs in plan}
        self.servers_of = {prof: list(dict.fromkeys(x.params["server"] for x in runs)) for prof, runs in plan}
        self.servers = list(dict.fromkeys(p["server"] for p in allp))
        # Another server than pushpull: every run names its dialect and has
        # the client read each server's CPU and RSS from /proc, so the
        # figures are comparable. A pushpull-only scenario runs as before.
        self.peers = self.servers != ["pushpull"]
        # Broker profiles: every run reads the server's CPU and RSS from
        # /proc too, so both instances (or every worker) count, and their
        # in-memory twins are measured the same way.
        self.has_broker = any(scenario.PROFILES[prof].get("broker") for prof, _ in plan)
        self.proc_figures = self.peers or self.has_broker
        self.logdir = os.path.join(out, "logs")
        self.records = []
        self.elapsed = []
        self.manifest = None

    # -- manifest
    def incident(self, text):
        log("warning: " + text)
        self.manifest.setdefault("incidents", []).append({"utc": utc_now(), "what": text})

    def write_manifest(self):
        self.manifest["failed"] = sum(1 for r in self.records if r["status"] == "failed")
        self.manifest["not_offered"] = sum(1 for r in self.records if r["status"] == "not_offered")
        self.manifest["done"] = len(self.records)
        tmp = os.path.join(self.out, "manifest.json.tmp")
        with open(tmp, "w") as f:
            json.dump(self.manifest, f, indent=2)
            f.write("\n")
        os.replace(tmp, os.path.join(self.out, "manifest.json"))

    def server_command(self, name, profile, cert_key=None, broker_url=None):
        if name != "pushpull":
            return [os.path.join(REPO, "peers", name, "run"), "0"]
        # Every benchmark connection comes from 127.0.0.1 and the WebSocket
        # publisher sends the whole --rate on one connection: the abuse
        # limits meant for strangers would cap the benchmark itself. Room
        # for two runs' subscribers: a finished run's connections close with
        # its client, but the server may still be closing them as the next
        # run connects.
        cmd = [self.server_bin, "--port", "0", "--quiet",
               "--max-connections", str(self.max_subs[profile] * 2 + 1000),
               "--max-connections-per-ip", "0", "--ws-publish-rate", "0"]
        if self.max_size[profile] + 1024 > 64 * 1024:
            cmd += ["--max-message", str(self.max_size[profile] + 1024)]
        if cert_key:
            cmd += ["--tls-cert", cert_key[0], "--tls-key", cert_key[1]]
        broker = scenario.PROFILES[profile].get("broker")
        if broker:
            cmd += ["--broker", broker_url] + (["--workers", str(broker["workers"])] if broker["workers"] > 1 else [])
        return cmd

    def client_command(self, env, n, p, jpath=None):
        # The publisher stands beside the server, as a backend would: only
        # the subscribers' side crosses the emulated network (with netem
        # everything in the namespace does; the run records which).
        url, pub = env.urls(p["server"])
        pids = env.pids(p["server"]) if self.proc_figures else None
        return env.prefix() + self.client_tail([self.client_bin, "--url", url, "--publish-url", pub], n, p,
                                               env.cert if env.tls else None, pids, jpath)

    def client_tail(self, head, n, p, cacert, pids, jpath=None):
        """head + the run's flags (+ --dialect with peers, --server-pid with
        peers or broker profiles)."""
        cmd = head + scenario.client_args(p) + (["--cacert", cacert] if cacert else [])
        if self.peers:
            cmd += ["--dialect", scenario.SERVER_DIALECTS[p["server"]]]
        if self.proc_figures:
            cmd += ["--server-pid", ",".join(str(x) for x in pids) if pids else "SERVER_PIDS"]
        return cmd + ["--json", jpath or os.path.join(self.out, "client", "%d.json" % n), "--quiet"]

    def client_parts(self, env, n, p):
        """clients = K: [(command, JSON path)] of the K processes of run n,
        the subscribers split evenly, one run tag for all (the same
        channels); the --no-publish ones first, the publishing one last."""
        k, tag = p["clients"], "b%d-%d" % (os.getpid(), n)
        parts = []
        for i in range(k):
            q = dict(p, subscribers=p["subscribers"] // k + (1 if i < p["subscribers"] % k else 0))
            jpath = os.path.join(self.out, "client", "%d.part%d.json" % (n, i + 1))
            cmd = self.client_command(env, n, q, jpath)
            cmd[-3:-3] = ["--run-tag", tag] + (["--no-publish"] if i < k - 1 else [])
            parts.append((cmd, jpath))
        return parts

    def build_manifest(self, net):
        profiles = {}
        for prof, _ in self.plan:
            d = scenario.PROFILES[prof]
            if d.get("tls"):
                method, why = "none", ("direct over HTTPS and wss://: client and server on 127.0.0.1, the server "
                                       "with a self-signed certificate, the client with --cacert")
            elif prof not in net:
                method, why = "none", "direct: client and server on 127.0.0.1, nothing in between"
            else:
                method, why = net[prof]
            profiles[prof] = {"rtt_ms": d["rtt_ms"], "rate_bits": d["rate_bits"], "method": method, "why": why,
                              "tls": bool(d.get("tls"))}
            if d.get("broker"):
                profiles[prof]["why"] = broker_why(d["broker"])
                profiles[prof]["broker"] = dict(d["broker"], redis_command=None, redis_exit_status=None)
        sc = self.sc
        self.manifest = {
            "schema": SCHEMA,
            "scenario": {"name": sc.name, "file": repo_rel(sc.path), "description": sc.description, "text": sc.text},
            "started_utc": utc_now(), "finished_utc": None,
            "machine": machine_info(),
            "versions": versions(self.bin),
            "profiles": profiles,
            "server_command": None,
            "servers": {name: server_info(name, self.bin) for name in self.servers},
            "broker": {"server": "redis-server", "version": version_output(REDIS_VERSION_COMMAND),
                       "version_command": REDIS_VERSION_COMMAND} if self.has_broker else None,
            "runs": self.total, "failed": 0, "not_offered": 0, "done": 0,
            "sections": [{"name": s, "runs": sum(1 for _, r in self.plan for x in r if x.section == s),
                          "repeat": sc.section_info[s]["repeat"],
                          "varies": [k for k in sc.section_info[s]["varies"]
                                     if not (k == "profiles" and self.opts.profiles)]}
                         for s in sc.sections if any(x.section == s for _, r in self.plan for x in r)],
            "options": {"profiles": self.opts.profiles, "duration": self.opts.duration,
                        "only_section": self.opts.only_section, "network": self.opts.network},
            "runner_command": [sys.executable] + sys.argv,
            "nofile_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        }

    # -- one run
    def one(self, env, n, x):
        """Run n (a Planned) on env's server: one line of runs.jsonl."""
        p = x.params
        rec = {"n": n, "section": x.section, "repeat": x.repeat, "server": p["server"], "params": p,
               "profile": self.profile_record(p["profile"]), "command": None, "status": "failed",
               "failure": None, "elapsed_s": None, "result": None}
        log("[%d/%d] %s%s … " % (n, self.total, label(p, self.varying), self.repeat_words(x)), end="")
        t0 = time.monotonic()
        try:
            self.measure(env, rec)
        except SetupError as e:
            rec["failure"] = str(e)
        el = time.monotonic() - t0
        rec["elapsed_s"] = round(el, 3)
        self.elapsed.append(el)
        self.records.append(rec)
        with open(os.path.join(self.out, "runs.jsonl"), "a") as f:
            f.write(json.dumps(rec) + "\n")
        left = self.total - n
        eta = " — ETA %s" % fmt_eta(sum(self.elapsed) / len(self.elapsed) * left) if left else ""
        status = {"ok": "ok", "not_offered": "not offered by %s" % p["server"]}.get(
            rec["status"], "FAILED: %s" % rec["failure"])
        log("%s (%.1fs)%s" % (status, el, eta))
        self.write_manifest()

    def profile_record(self, prof):
        """runs.jsonl "profile": the manifest's profile and the publish path."""
        info = self.manifest["profiles"][prof]
        broker = info.get("broker")
        return {"name": prof, "rtt_ms": info["rtt_ms"], "rate_bits": info["rate_bits"], "method": info["method"],
                "tls": info["tls"], "publish_path": "network" if info["method"] == "netem" else "direct",
                "broker": {k: broker[k] for k in ("instances", "workers")} if broker else None}

    def repeat_words(self, x):
        """' (repetition 2 of 3)' when the run's section repeats, else ''."""
        reps = self.sc.section_info[x.section]["repeat"]
        return " (repetition %d of %d)" % (x.repeat, reps) if reps > 1 else ""

    def measure(self, env, rec):
        """The client run of rec on env (SetupError when there is no server)."""
        n, p = rec["n"], rec["params"]
        if env is None:
            raise SetupError(self.setup_failure[p["profile"]])
        env.ensure(n, p["server"])
        broker0 = env.broker_usage()
        before = cpu_times()
        if p.get("clients", 1) > 1:
            self.run_clients(rec, self.client_parts(env, n, p), p)
        else:
            rec["command"] = self.client_command(env, n, p)
            self.run_client(rec, rec["command"], p)
        rec["machine_busy"] = busy_fraction(before, cpu_times())
        broker1 = env.broker_usage()
        if broker0 is not None and broker1 is not None:
            rec["broker"] = broker_figures(broker0, broker1, rec["result"], env.redis.proc.p.pid)
        for part in env.parts(p["server"]):
            if not part.alive():
                why = "%s of profile %s died during run %d (%s)" % (part.label(), p["profile"], n,
                                                                    part.proc.describe_exit())
                self.incident(why)
                if rec["status"] == "failed":
                    rec["failure"] = (rec["failure"] or "failed") + "; " + why

    @staticmethod
    def client_timeout(p):
        """Seconds a client run may take before it is killed."""
        ramp = p["subscribers"] / p["connect_rate"] if p["connect_rate"] else 0
        return int((p["warmup_s"] + p["duration_s"] + p["drain_s"]) * 3 + 60 + ramp)

    def run_client(self, rec, cmd, p):
        """Run the client of rec; fill in its result, status and failure."""
        n = rec["n"]
        jpath = os.path.join(self.out, "client", "%d.json" % n)
        timeout = self.client_timeout(p)
        errpath = os.path.join(self.logdir, "client-%d.log" % n)
        with tempfile.TemporaryFile() as outf, open(errpath, "w+b") as errf:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=outf, stderr=errf,
                                    start_new_session=True)
            timed_out = wait_or_stop(proc, timeout)
            errf.flush()
            err_last = last_line(errf.name)
        if os.path.getsize(errpath) == 0:
            os.unlink(errpath)
        rec["result"], jerr = read_result(jpath)
        settle(rec, "timed out after %ds (killed)" % timeout if timed_out
               else self.verdict(rec["result"], proc.returncode, jerr, err_last, p))

    def run_clients(self, rec, parts, p):
        """clients = K: the --no-publish processes first, each until it says
        its subscribers are in; then the publishing one; then --merge into
        the run's client JSON. rec["command"] is the publishing process's,
        rec["commands"] every process's and the merge's."""
        n = rec["n"]
        timeout = self.client_timeout(p)
        deadline = time.monotonic() + timeout
        procs, failure = [], None
        rec["commands"] = [cmd for cmd, _ in parts]
        rec["command"] = parts[-1][0]
        try:
            for i, (cmd, _) in enumerate(parts):
                errpath = os.path.join(self.logdir, "client-%d.part%d.log" % (n, i + 1))
                errf = open(errpath, "w+b")
                procs.append((subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                               stderr=errf, start_new_session=True), errf))
                if (i < len(parts) - 1 and not wait_for_text(procs[-1][0], errpath, CLIENT_READY, deadline)
                        and (read_result(parts[i][1])[0] or {}).get("status") != "not_offered"):
                    failure = "client process %d of %d did not connect its subscribers: %s" % (
                        i + 1, len(parts), last_line(errpath) or "no message")
                    break
            for proc, _ in procs:
                if wait_or_stop(proc, max(1.0, deadline - time.monotonic())):
                    failure = failure or "timed out after %ds (killed)" % timeout
        finally:
            for proc, errf in procs:
                if proc.poll() is None:
                    wait_or_stop(proc, 0)
                errf.close()
                if os.path.getsize(errf.name) == 0:
                    os.unlink(errf.name)
        for i, (proc, errf) in enumerate(procs):
            if failure:
                break
            res, jerr = read_result(parts[i][1])
            why = self.verdict(res, proc.returncode, jerr, last_line(errf.name), p)
            if why:
                failure = "client process %d of %d: %s" % (i + 1, len(parts), why)
        jpath = os.path.join(self.out, "client", "%d.json" % n)
        merge = [self.client_bin, "--merge"] + [j for _, j in parts] + ["--json", jpath, "--quiet"]
        rec["commands"].append(merge)
        if not failure:
            ok, e = run_quiet(merge, timeout=60)
            if not ok:
                failure = "--merge of the %d client processes failed: %s" % (len(parts), e)
        rec["result"], jerr = read_result(jpath) if not failure else (None, None)
        settle(rec, failure or jerr or (None if rec["result"] else "the merge wrote no JSON"))

    def verdict(self, res, rc, jerr, err_last, p):
        """Why a finished client run failed, or None: ok, or a transport the
        server's dialect does not offer (status "not_offered", no figures)."""
        offered = not (self.peers and (res or {}).get("status") == "not_offered")
        if rc != 0 and (offered or rc == 1 or rc < 0):   # not offered: any exit status but 1 or a signal
            why = (res or {}).get("failure") or err_last
            how = ("killed by %s" % signal.Signals(-rc).name) if rc < 0 else "exit status %d" % rc
            return "%s (%s)" % (why, how) if why else how
        if jerr:
            return jerr
        if res is None:
            return "the client wrote no JSON" + ("; %s" % err_last if err_last else "")
        if res.get("status") != "ok" and offered:
            return res.get("failure") or "client status %r" % res.get("status")
        if res.get("transport") != p["transport"]:
            return "the JSON is of transport %r" % res.get("transport")
        dialect = scenario.SERVER_DIALECTS[p["server"]]
        if self.peers and res.get("dialect") != dialect:
            return "the JSON is of dialect %r, not %r (does the client know --dialect?)" % (res.get("dialect"), dialect)
        return None

    # -- all
    def run(self):
        """Every run, profile by profile; returns why it was interrupted, or None."""
        os.makedirs(os.path.join(self.out, "client"), exist_ok=True)
        os.makedirs(self.logdir, exist_ok=True)
        self.setup_failure = {}
        self.stats_all = {}
        interrupted = None
        try:
            self.write_manifest()
            log("%s: %d runs, profiles %s -> %s" % (self.sc.name, self.total,
                                                     ", ".join("%s (%s)" % (pr, self.manifest["profiles"][pr]["method"])
                                                               for pr, _ in self.plan), rel(self.out)))
            n = 0
            for prof, runs in self.plan:
                n = self.run_profile(prof, runs, n)
        except Interrupted as e:
            interrupted = str(e)
            log("\ninterrupted (%s): stopped after %d of %d runs" % (e, len(self.records), self.total))
            self.manifest["interrupted"] = interrupted
        finally:
            self.manifest["finished_utc"] = utc_now()
            self.write_manifest()
            remove_if_empty(self.logdir)
        return interrupted

    def run_profile(self, prof, runs, n):
        """The runs of one profile on its servers; returns the last run number."""
        env = ProfileEnv(self, prof)
        try:
            try:
                env.setup()
            except SetupError as e:
                self.incident("profile %s: %s" % (prof, e))
                self.setup_failure[prof] = "profile %s could not be set up: %s" % (prof, e)
                env.teardown()
                env = None
            for x in runs:
                n += 1
                self.one(env, n, x)
            if env is not None and env.alive("pushpull"):
                self.save_stats(env, prof)
        finally:
            if env is not None:
                env.teardown()
        return n

    def save_stats(self, env, prof):
        """The server's /stats at the end of a profile, into server-stats.json."""
        try:
            self.stats_all[prof] = env.stats()
        except (OSError, ValueError) as e:
            self.incident("profile %s: /stats unreadable: %s" % (prof, e))
            self.stats_all[prof] = None
        with open(os.path.join(self.out, "server-stats.json"), "w") as f:
            json.dump(self.stats_all, f, indent=2)
            f.write("\n")

    def summary(self):
        cols = [k for k in SHORT if k in ("subscribers", "rate", "size") or k in self.varying]
        srv = ["server"] if self.peers else []
        head = ["n", "section", "transport"] + srv + [SHORT[k] for k in cols] + [
            "profile", "p50 ms", "p99 ms", "deliv/s", "lost", "req/msg", "B/msg"]
        rows = [summary_row(r, cols, srv) for r in self.records]
        notes = ("FAILED", "not offered")
        widths = [max([len(head[i])] + [len(r[i]) for r in rows if i < len(r) and not r[i].startswith(notes)])
                  for i in range(len(head))]
        left = {0: False, 1: True, 2: True, 3: bool(srv)}

        def fmt(row):
            cells = []
            for i, c in enumerate(row):
                if c.startswith(notes):
                    cells.append(c)
                    break
                cells.append(c.ljust(widths[i]) if left.get(i) or head[i] == "profile" else c.rjust(widths[i]))
            return "  ".join(cells).rstrip()
        return "\n".join([fmt(head)] + [fmt(r) for r in rows])


class Planned(collections.namedtuple("Planned", "section repeat params")):
    """One client run: its section, its repetition (1-based) and its params."""


def plan_runs(sc):
    """[(profile, [Planned])]: grouped by profile, in the order of the
    profile table, the scenario's run order inside."""
    out = []
    for prof in scenario.PROFILES:
        runs = [Planned(s, rep, p) for s, rep, p in sc.entries() if p["profile"] == prof]
        if runs:
            out.append((prof, runs))
    return out


def wait_or_stop(proc, timeout):
    """Wait for proc; past timeout (or on Ctrl-C) SIGTERM, then SIGKILL.
    Returns whether it timed out."""
    try:
        proc.wait(timeout=timeout)
        return False
    except subprocess.TimeoutExpired:
        return True
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def settle(rec, failure):
    """A run's status from why it failed (one line), or from its result."""
    rec["failure"] = " ".join(failure.split())[:400] if failure else None
    if rec["failure"]:
        return
    rec["status"] = "not_offered" if rec["result"]["status"] == "not_offered" else "ok"


# What a --no-publish client says on stderr once its subscribers are in.
CLIENT_READY = "waiting for the publisher"


def wait_for_text(proc, path, text, deadline):
    """Until the file at path holds text (True), proc ends or the deadline."""
    while time.monotonic() < deadline:
        try:
            with open(path, "rb") as f:
                if text.encode() in f.read():
                    return True
        except OSError:
            pass
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def read_result(jpath):
    """(the client JSON's runs[0] or None, why it is unreadable or None)."""
    if not os.path.exists(jpath):
        return None, None
    try:
        with open(jpath, "rb") as f:
            return json.loads(f.read().decode("utf-8"))["runs"][0], None
    except (ValueError, KeyError, IndexError, TypeError) as e:
        return None, "unreadable JSON %s: %s" % (rel(jpath), e)


def cpu_times():
    """(busy, total) jiffies of every core since boot (/proc/stat), or None."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = v[3] + (v[4] if len(v) > 4 else 0)          # idle + iowait
    total = sum(v[:8])                                 # guest time is already in user
    return total - idle, total


def busy_fraction(before, after):
    """How busy the whole machine was between two cpu_times() (every
    process, ours and others'), 0..1; None when unknown."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return round((after[0] - before[0]) / (after[1] - before[1]), 4)


def remove_if_empty(folder):
    try:
        if not os.listdir(folder):
            os.rmdir(folder)
    except OSError:
        pass


class UsageError(Exception):
    """A bad option or scenario: main prints it and exits 2."""


def parse_options(argv):
    ap = argparse.ArgumentParser(
        prog="bench.py", description="Run a pushpull scenario file (bench/README.md) and keep its results "
        "folder (docs/RESULTS-FORMAT.md).")
    ap.add_argument("scenario", metavar="SCENARIO_FILE")
    ap.add_argument("--profiles", help="comma list replacing every section's profiles (%s)"
                    % ",".join(scenario.PROFILES))
    ap.add_argument("--out", metavar="DIR", help="results folder (default results/<UTC time>-<name>)")
    ap.add_argument("--only-section", metavar="NAME", help="run only this section (comma list)")
    ap.add_argument("--duration", metavar="DUR", help="replace every run's measured duration")
    ap.add_argument("--network", choices=("auto", "netem", "relay"), default="auto",
                    help="how lan/wan/mobile are made: netem when root and the kernel has it (auto), "
                    "or always the relay")
    ap.add_argument("--dry-run", action="store_true", help="print the commands and the run count, run nothing")
    return ap.parse_args(argv)


def load_scenario(opts):
    """The scenario with --profiles/--duration applied and --only-section kept."""
    overrides = {}
    if opts.profiles is not None:
        overrides["profiles"] = [x for x in re.split(r"[,\s]+", opts.profiles) if x]
    if opts.duration is not None:
        overrides["duration"] = [opts.duration]
    for key, vals in overrides.items():
        try:
            if not vals:
                raise scenario.ScenarioError("no value")
            for v in vals:
                scenario.validate_value(key, v)
        except scenario.ScenarioError as e:
            msg = str(e)
            raise UsageError("--%s: %s" % (key, msg[len(key) + 2:] if msg.startswith(key + ": ") else msg))
    try:
        sc = scenario.parse(opts.scenario, overrides)
    except scenario.ScenarioError as e:
        raise UsageError(str(e))
    if opts.only_section:
        want = [x for x in opts.only_section.split(",") if x]
        bad = [x for x in want if x not in sc.sections]
        if bad:
            raise UsageError("%s has no section %s (sections: %s)"
                             % (opts.scenario, ", ".join(bad), ", ".join(sc.sections)))
        sc.sections = {k: v for k, v in sc.sections.items() if k in want}
    return sc


def results_folder(bench, opts):
    """Make the results folder: --out as given (never over results), else a
    fresh results/<UTC time>-<name>[-N]."""
    out = bench.out
    if opts.out:
        if os.path.exists(os.path.join(out, "runs.jsonl")):
            raise UsageError("%s already holds results (runs.jsonl); choose another --out" % out)
    elif os.path.exists(out):
        i = 2
        while os.path.exists("%s-%d" % (out, i)):
            i += 1
        out = bench.out = "%s-%d" % (out, i)
        bench.logdir = os.path.join(out, "logs")
    os.makedirs(out, exist_ok=True)
    return out


def network_methods(plan, opts, relay_bin):
    """{profile: (method, why)} for the profiles that emulate a network."""
    net = {}
    need = [pr for pr, _ in plan if scenario.PROFILES[pr]["rtt_ms"] or scenario.PROFILES[pr]["rate_bits"]]
    if not need:
        return net
    relay_ok = os.access(relay_bin, os.X_OK)
    if opts.network == "relay":
        ok, why = False, "--network relay"
    else:
        ok, why = probe_netem()
    for pr in need:
        d = scenario.PROFILES[pr]
        if ok:
            net[pr] = ("netem", "%s: server and client in network namespace pp-%d-%s, netem delay %s "
                       "on its loopback (both directions)%s"
                       % (why, os.getpid(), pr, tc_time(d["rtt_ms"] * 500),
                          ", rate %g Mbit/s shared by both directions" % (d["rate_bits"] / 1e6)
                          if d["rate_bits"] else ""))
        elif relay_ok or opts.network == "netem":
            net[pr] = ("relay", "%s; bin/pushpull-relay delays each direction by %s%s"
                       % (why, tc_time(d["rtt_ms"] * 500),
                          ", rate %g Mbit/s per connection and direction" % (d["rate_bits"] / 1e6)
                          if d["rate_bits"] else ""))
        else:
            net[pr] = ("relay", "%s; and %s is not built (make)" % (why, relay_bin))
    if opts.network == "netem" and not ok:
        raise UsageError("--network netem: %s" % why)
    if not ok and not relay_ok:
        log("warning: %s; no %s: the %s runs will fail" % (why, relay_bin, "/".join(need)))
    return net


def main(argv=None):
    opts = parse_options(argv)
    try:
        sc = load_scenario(opts)
    except UsageError as e:
        print("bench.py: %s" % e, file=sys.stderr)
        return 2
    plan = plan_runs(sc)
    bin_dir = os.path.abspath(os.environ.get("PUSHPULL_BIN") or os.path.join(REPO, "bin"))
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = os.path.abspath(opts.out or os.path.join(REPO, "results", "%s-%s" % (stamp, sc.name)))
    bench = Bench(sc, plan, out, bin_dir, opts)
    if opts.dry_run:
        return dry_run(bench)
    for b in (bench.server_bin, bench.client_bin):
        if not os.access(b, os.X_OK):
            print("bench.py: no %s (run make, or set PUSHPULL_BIN)" % b, file=sys.stderr)
            return 2
    try:
        out = results_folder(bench, opts)
        raise_nofile()
        signal.signal(signal.SIGINT, _on_signal)
        signal.signal(signal.SIGTERM, _on_signal)
        net = network_methods(plan, opts, bench.relay_bin)
    except UsageError as e:
        print("bench.py: %s" % e, file=sys.stderr)
        return 2
    bench.build_manifest(net)
    try:
        interrupted = bench.run()
    except Interrupted:
        interrupted = "signal"
    return finish(bench, interrupted)


def finish(bench, interrupted):
    """The summary table and counts, then the report. Returns the exit status."""
    out = bench.out
    if bench.records:
        print(bench.summary())
    failed = sum(1 for r in bench.records if r["status"] == "failed")
    offered = sum(1 for r in bench.records if r["status"] == "not_offered")
    print("%d runs, %d ok, %s%d failed%s" % (len(bench.records), len(bench.records) - failed - offered,
                                            "%d not offered, " % offered if offered else "", failed,
                                            " (interrupted: %d not run)" % (bench.total - len(bench.records))
                                            if interrupted else ""))
    if interrupted:
        print("results: %s" % rel(out))
        return 130
    rc = 1 if failed else 0
    report = os.path.join(HERE, "report.py")
    if not os.path.exists(report):
        log("note: scripts/report.py is not there yet: no report.md")
        print("results: %s" % rel(out))
        return rc
    try:
        rrc = subprocess.run([sys.executable, report, out], stdin=subprocess.DEVNULL, timeout=600).returncode
    except subprocess.TimeoutExpired:
        rrc = "timeout"
    md = os.path.join(out, "report.md")
    if rrc != 0 or not os.path.exists(md):
        log("warning: scripts/report.py %s" % ("exited %s" % rrc if rrc != 0 else "wrote no report.md"))
        print("results: %s (no report; make report RESULTS=%s)" % (rel(out), rel(out)))
        return 1
    print("report: %s" % rel(md))
    return rc


def dry_run(bench):
    n = 0
    for prof, runs in bench.plan:
        d = scenario.PROFILES[prof]
        print("# profile %s: rtt %d ms%s" % (prof, d["rtt_ms"], ", %g Mbit/s" % (d["rate_bits"] / 1e6)
                                             if d["rate_bits"] else ""))
        urls = dry_run_servers(bench, prof)
        for x in runs:
            n += 1
            p = x.params
            cacert = "TMP/cert.pem" if d.get("tls") else None
            cmd = bench.client_tail([bench.client_bin, "--url", urls[p["server"]]], n, p, cacert, None)
            print("# [%d/%d] %s: %s%s%s" % (n, bench.total, x.section, label(p, bench.varying),
                                            " on %s" % p["server"] if bench.peers else "", bench.repeat_words(x)))
            print(" ".join(cmd))
    print("%d runs" % n)
    return 0


def dry_run_servers(bench, prof):
    """Print the server (and relay) commands of a profile; {server: its URL}."""
    d = scenario.PROFILES[prof]
    tls = bool(d.get("tls"))
    if tls:
        print("# a certificate in a temporary folder TMP (removed afterwards):")
        print(" ".join(openssl_command("TMP/cert.pem", "TMP/key.pem")))
    broker = d.get("broker")
    redis_url = "redis://127.0.0.1:REDIS_PORT" if broker else None
    if broker:
        print("# the profile's redis-server on a free port, in a temporary folder TMP (removed afterwards):")
        print(" ".join(x or '""' for x in redis_command("REDIS_PORT", "TMP")))
    urls = {}
    for name in bench.servers_of[prof]:
        if bench.peers:
            print("# server %s (dialect %s; its processes are SERVER_PIDS):"
                  % (name, scenario.SERVER_DIALECTS[name]))
        cmd = " ".join(bench.server_command(name, prof, ("TMP/cert.pem", "TMP/key.pem") if tls else None, redis_url))
        port = "SERVER_PORT" if name == "pushpull" else "%s_PORT" % name.upper()
        if broker and broker["instances"] == 2:
            print("# two instances: A takes the publishes (--publish-url http://127.0.0.1:SERVER_A_PORT), the "
                  "subscribers connect to B; --server-pid names both")
            print(cmd)
            port = "SERVER_B_PORT"
        print(cmd)
        urls[name] = "%s://127.0.0.1:%s" % ("https" if tls else "http", port)
    if d["rtt_ms"] or d["rate_bits"]:
        rtt_half = tc_time(d["rtt_ms"] * 500)
        relay = [bench.relay_bin, "--listen", "127.0.0.1:0", "--target", "127.0.0.1:SERVER_PORT",
                 "--delay", rtt_half] + (["--rate", "%gMbit" % (d["rate_bits"] / 1e6)] if d["rate_bits"] else [])
        print("# without netem (with it: server and client in a network namespace, netem delay %s on lo):"
              % rtt_half)
        print(" ".join(relay + ["--quiet"]))
        urls["pushpull"] = "http://127.0.0.1:RELAY_PORT"
    return urls


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:           # e.g. --dry-run | head
        os._exit(1)
