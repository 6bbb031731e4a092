"""Loading a results folder (docs/RESULTS-FORMAT.md): manifest.json and
runs.jsonl read and checked, each run as a Run with the figures the report
derives from it, and the Folder: the runs, servers and profiles every other
module reads. Words for run parameters (describe) live here too: they are
the folder's vocabulary. Standard library only."""

import json
import os

from .text import TRANSPORTS, get, ms, num, sig


class FolderError(Exception):
    """The results folder cannot be read; the message names file and line."""


# ------------------------------------------------------------------ folder

def load_json_file(path, what, required=True):
    if not os.path.exists(path):
        if required:
            raise FolderError("%s: missing (%s)" % (path, what))
        return None
    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise FolderError("%s: cannot read %s: %s" % (path, what, e))


def load_runs(path):
    if not os.path.exists(path):
        raise FolderError("%s: missing (one JSON object per client run, docs/RESULTS-FORMAT.md)" % path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise FolderError("%s: cannot read: %s" % (path, e.strerror or e))
    runs = []
    for lineno, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        where = "%s line %d" % (path, lineno)
        try:
            obj = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise FolderError("%s: not UTF-8 text" % where)
        except ValueError as e:
            raise FolderError("%s: not valid JSON (%s)" % (where, e))
        if not isinstance(obj, dict):
            raise FolderError("%s: not a JSON object" % where)
        if not isinstance(obj.get("params"), dict):
            raise FolderError("%s: no \"params\" object" % where)
        if obj["params"].get("transport") not in TRANSPORTS:
            raise FolderError("%s: params.transport is %r, not one of %s"
                              % (where, obj["params"].get("transport"), ", ".join(TRANSPORTS)))
        if obj.get("status") not in ("ok", "failed", "not_offered"):
            raise FolderError("%s: status is %r (ok, failed or not_offered)" % (where, obj.get("status")))
        if obj.get("result") is not None and not isinstance(obj["result"], dict):
            raise FolderError("%s: result is neither an object nor null" % where)
        if obj["status"] == "ok" and obj.get("result") is None:
            raise FolderError("%s: status ok but no result" % where)
        obj.setdefault("n", len(runs) + 1)
        obj.setdefault("section", "main")
        obj["_line"] = lineno
        runs.append(obj)
    return runs


class Run:
    """One line of runs.jsonl with the derived figures the report uses."""

    def __init__(self, raw, folder):
        self.raw = raw
        self.n = raw["n"]
        self.section = str(raw["section"])
        self.params = raw["params"]
        self.transport = self.params["transport"]
        self.result = raw.get("result") or {}
        self.failed = raw["status"] == "failed"
        self.not_offered = raw["status"] == "not_offered"    # the server's dialect lacks the transport
        self.server = str(self.params.get("server") or raw.get("server") or "pushpull")
        self.failure = raw.get("failure") or get(self.result, "failure") or "no reason recorded"
        self.profile = raw.get("profile") or {}
        self.folder = folder
        self.repeat = raw.get("repeat") if isinstance(raw.get("repeat"), int) else 1

    # params
    def p(self, key, default=None):
        v = self.params.get(key)
        return default if v is None else v

    @property
    def profile_name(self):
        return self.profile.get("name") or self.p("profile", "loopback")

    @property
    def subscribers(self):
        return self.p("subscribers", 0)

    @property
    def rate(self):
        return self.p("rate", 0)

    @property
    def load(self):
        return (self.subscribers or 0) * (self.rate or 0)

    # results
    def r(self, path):
        return num(get(self.result, path))

    @property
    def ok(self):
        return not self.failed and not self.not_offered

    def lat_ms(self, field):
        if not self.r("latency_us.count"):
            return None
        return ms(self.r("latency_us." + field))

    def cost_window_s(self):
        """The span the costs were counted over (measure start to drain end);
        results from before the client recorded it fall back to the measure
        window, which reads slightly high when the drain did work."""
        return self.r("cost.window_s") or self.r("elapsed_s")

    @property
    def req_per_s(self):
        req, el = self.r("cost.requests"), self.cost_window_s()
        return req / el if req is not None and el else None

    @property
    def conns_per_s(self):
        c, el = self.r("cost.connections_opened"), self.cost_window_s()
        return c / el if c is not None and el else None

    @property
    def client_limited(self):
        """The client's own verdict: one of its loops was saturated."""
        return get(self.result, "client_saturation.client_limited") is True

    def loop(self, name):
        """client_saturation.<name> (subscribers or publisher): {} when absent."""
        v = get(self.result, "client_saturation." + name)
        return v if isinstance(v, dict) else {}

    @property
    def broker_setup(self):
        """A broker profile's set-up ({"instances": N, "workers": W}: the
        runs.jsonl profile's "broker"), None for a run without Redis."""
        v = self.profile.get("broker")
        return v if isinstance(v, dict) else None

    def broker(self, field):
        """A figure of the run's redis-server (runs.jsonl "broker")."""
        return num(get(self.raw, "broker." + field))

    @property
    def machine_busy(self):
        """How busy the whole machine was during the run (runs.jsonl machine_busy)."""
        return num(self.raw.get("machine_busy"))

    def latency_hist(self):
        """The latency histogram with its buckets: from the result, else
        from client/<n>.json. None when neither has buckets."""
        h = get(self.result, "latency_us")
        if isinstance(h, dict) and isinstance(h.get("buckets"), list):
            return h
        path = os.path.join(self.folder, "client", "%s.json" % self.n)
        try:
            doc = load_json_file(path, "client output", required=False)
        except FolderError:
            return None
        for run in (doc or {}).get("runs", []) if isinstance(doc, dict) else []:
            h = run.get("latency_us") if isinstance(run, dict) else None
            if run.get("transport") == self.transport and isinstance(h, dict) \
                    and isinstance(h.get("buckets"), list):
                return h
        return None


def _plural(word):
    return lambda v: "%s %s%s" % (sig(v), word, "" if v == 1 else "s")


# Words for one parameter's value (describe); profile is worded apart.
WORDS = {
    "subscribers": _plural("subscriber"),
    "channels": _plural("channel"),
    "rate": lambda v: "%s msg/s" % sig(v),
    "size": lambda v: "%s B messages" % sig(v),
    "poll_interval_ms": lambda v: "polls back to back" if v == 0 else "poll every %s ms" % sig(v),
    "keepalive": lambda v: "keep-alive %s" % ("on" if v else "off"),
    "churn_s": lambda v: "no churn" if not v else "churn every %s s" % sig(v),
    "connections": lambda v: "one connection per subscriber" if not v else "%s pooled connections" % sig(v),
    "duration_s": lambda v: "%s s measured" % sig(v),
    "warmup_s": lambda v: "%s s warm-up" % sig(v),
    "drain_s": lambda v: "%s s drain" % sig(v),
    "longpoll_timeout_s": lambda v: "long-poll timeout %s s" % sig(v),
    "publish_via": lambda v: "publish via %s" % v,
    "connect_rate": lambda v: "connect all at once" if not v else "connect %s/s" % sig(v),
    "clients": lambda v: "one client process" if v == 1 else "%s client processes" % sig(v),
    "server": lambda v: "on %s" % v,
}


def describe(params, keys=None, profiles=None):
    """Human words for run parameters (all, or only the given keys)."""
    keys = list(params) if keys is None else keys
    out = []
    for k in keys:
        v = params.get(k)
        if k in ("transport", "rtt_ms") or v is None:
            continue
        if k == "profile":
            out.append(profile_words(v, profiles))
        else:
            out.append(WORDS[k](v) if k in WORDS else "%s=%s" % (k, v))
    return ", ".join(out)


def subscribers_words(n):
    return "%s subscriber%s" % (sig(n), "" if n == 1 else "s")


def profile_words(name, profiles):
    info = (profiles or {}).get(name) or {}
    rtt = info.get("rtt_ms")
    if not rtt:
        return name
    return "%s (%s ms RTT%s)" % (name, sig(rtt), ", %s" % info["method"] if info.get("method") else "")


def is_tls(run, profiles):
    """Did the run go over HTTPS / wss:// (the tls profile)?"""
    if "tls" in run.profile:
        return bool(run.profile["tls"])
    return bool((profiles.get(run.profile_name) or {}).get("tls")) or run.profile_name == "tls"


# ------------------------------------------------------------------ model


class Folder:
    """A results folder as read: manifest, every run, the primary server's
    runs (the parts after "Servers" cover that server alone), profiles."""

    def __init__(self, path):
        self.path = path
        mpath = os.path.join(path, "manifest.json")
        self.manifest = load_json_file(mpath, "the run manifest", required=False)
        self.manifest_missing = self.manifest is None
        if self.manifest is None:
            self.manifest = {}
        if not isinstance(self.manifest, dict):
            raise FolderError("%s: not a JSON object" % mpath)
        self.all_runs = [Run(r, path) for r in load_runs(os.path.join(path, "runs.jsonl"))]
        self.servers = server_names(self.all_runs, self.manifest)
        self.primary = "pushpull" if "pushpull" in self.servers else (self.servers or [None])[0]
        self.runs = [r for r in self.all_runs if r.server == self.primary]
        self.profiles = self._profiles()
        self.main_section = self._main_section()

    def _profiles(self):
        """{name: {rtt_ms, rate_bits, method, why, runs}} from the manifest and runs."""
        out = {}
        man = self.manifest.get("profiles") if isinstance(self.manifest.get("profiles"), dict) else {}
        for name, info in man.items():
            out[name] = dict(info) if isinstance(info, dict) else {}
        for r in self.all_runs:
            info = out.setdefault(r.profile_name, {})
            for k in ("rtt_ms", "rate_bits", "method"):
                if info.get(k) is None and r.profile.get(k) is not None:
                    info[k] = r.profile[k]
            info.setdefault("_methods", set())
            if r.profile.get("method"):
                info["_methods"].add(r.profile["method"])
            info["_runs"] = info.get("_runs", 0) + 1
        return out

    def _main_section(self):
        names = [r.section for r in self.runs]
        if "main" in names:
            return "main"
        return names[0] if names else None

    def ok_runs(self, transports=TRANSPORTS, section=None):
        return [r for r in self.runs if r.ok and r.transport in transports
                and (section is None or r.section == section)]

    def repeated(self):
        """Did any workload of the folder run more than once?"""
        return any(r.repeat > 1 for r in self.runs)


def server_names(runs, manifest=None):
    """The folder's servers: the manifest's order, then any other in run order."""
    listed = (manifest or {}).get("servers")
    names = [s for s in listed if any(r.server == s for r in runs)] if isinstance(listed, dict) else []
    for r in runs:
        if r.server not in names:
            names.append(r.server)
    return names


def group(runs, drop):
    """[(params without `drop` keys, [runs])] in order of first appearance."""
    groups = {}
    for r in runs:
        key = json.dumps({k: v for k, v in r.params.items() if k not in drop}, sort_keys=True)
        groups.setdefault(key, ({k: v for k, v in r.params.items() if k not in drop}, []))[1].append(r)
    return list(groups.values())


def twins(runs, setup):
    """Runs of one workload (every parameter but the profile) on different
    set-ups, side by side: [(params but the profile, {set-up: [ok runs]})]
    in order of first appearance, runs in run order. setup(run) names a
    run's set-up, or None to leave it out; a workload is kept when it ran
    on two set-ups or more."""
    out = []
    for params, rs in group([r for r in runs if r.ok], ("profile", "rtt_ms")):
        by = {}
        for r in rs:
            name = setup(r)
            if name is not None:
                by.setdefault(name, []).append(r)
        if len(by) > 1:
            out.append((params, by))
    return out


def varying_keys(runs):
    """Parameters (but transport and rtt_ms) whose value differs between runs."""
    keys = []
    for r in runs:
        for k in r.params:
            if k not in keys:
                keys.append(k)
    return [k for k in keys if k not in ("transport", "rtt_ms")
            and len({json.dumps(r.params.get(k)) for r in runs}) > 1]
