"""Scenario files (bench/*.scn): parser and run expansion.

The format is described in bench/README.md. In short:

    [scenario]                name = ..., description = ...
    [defaults]                keys applying to every section below
    [section NAME]            one sweep: the cartesian product of its lists

parse(path) returns a Scenario whose .sections maps each section name (file
order) to its list of runs, each run a dict of normalized parameters (see
PARAM_KEYS). Every error raises ScenarioError with a "FILE:LINE: message"
text. Standard library only; imported by scripts/bench.py and the tests.
"""

import itertools
import os
import re

__all__ = ["ScenarioError", "Scenario", "parse", "parse_text", "parse_duration_us",
           "parse_size", "validate_value", "client_args", "PROFILES", "TRANSPORTS",
           "RUN_KEYS", "SECTION_KEYS", "PARAM_KEYS", "SERVER_DIALECTS", "server_names"]

TRANSPORTS = ("poll", "longpoll", "sse", "ws")

# Profiles: the server set-ups runs are grouped by (one set-up per profile,
# in this order). Network profiles add a round-trip time between client and
# server and an optional bandwidth cap (bits/s). "tls" is loopback over
# HTTPS and wss:// (a self-signed certificate the runner makes). Broker
# profiles run pushpull-server with --broker on loopback, through the
# profile's own redis-server (the runner starts it): "instances" 2 puts the
# publisher on instance A and the subscribers on B, so every message
# crosses Redis; "workers" is pushpull-server's --workers. tls and the
# broker profiles are compared with the loopback runs of the same workload.
PROFILES = {
    "loopback": {"rtt_ms": 0, "rate_bits": None},
    "tls": {"rtt_ms": 0, "rate_bits": None, "tls": True},
    "lan": {"rtt_ms": 2, "rate_bits": None},
    "wan": {"rtt_ms": 80, "rate_bits": None},
    "mobile": {"rtt_ms": 200, "rate_bits": 2_000_000},
    "redis": {"rtt_ms": 0, "rate_bits": None, "broker": {"instances": 1, "workers": 1}},
    "redis-two": {"rtt_ms": 0, "rate_bits": None, "broker": {"instances": 2, "workers": 1}},
    "redis-workers": {"rtt_ms": 0, "rate_bits": None, "broker": {"instances": 1, "workers": 2}},
}

# The servers a scenario can measure and the client dialect that speaks to
# each (pushpull-client --dialect). "pushpull" is bin/pushpull-server; every
# other name is a folder peers/NAME/ with an executable run (bench/README.md).
SERVER_DIALECTS = {
    "pushpull": "pushpull",
    "nchan": "nchan",
    "node-ws": "pushpull",            # express + ws, pushpull's own protocol
    "socketio": "socketio",
    "pushpin": "pushpin",
}
PEERS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "peers")

# Keys of [defaults] and [section ...]: kind of value, and the client's own
# default when a scenario does not set the key (see pushpull-client --help).
RUN_KEYS = {
    "transports": ("transport", None),
    "subscribers": ("count1", 10),
    "channels": ("count1", 1),
    "rate": ("rate", 100),
    "size": ("size", 64),
    "poll-interval": ("duration", 100_000),
    "longpoll-timeout": ("duration", 30_000_000),
    "duration": ("duration+", 5_000_000),
    "warmup": ("duration", 1_000_000),
    "drain": ("duration", 2_000_000),
    "keepalive": ("onoff", True),
    "connections": ("count", 0),
    "churn": ("duration", 0),
    "publish-via": ("via", "http"),
    "connect-rate": ("rate0", 0),
    "clients": ("count1", 1),
    "profiles": ("profile", "loopback"),
    "servers": ("server", "pushpull"),
}
SCENARIO_KEYS = ("name", "description")
# Keys of [defaults] and [section ...] that shape a section without being a
# client flag: repeat = N runs each workload N times (one value, 1 to
# REPEAT_MAX), the repetitions interleaved (see _expand).
SECTION_KEYS = ("repeat",)
REPEAT_MAX = 100

# The normalized parameters of one run, in this order (runs.jsonl "params").
PARAM_KEYS = ("transport", "subscribers", "channels", "rate", "size", "poll_interval_ms",
              "longpoll_timeout_s", "duration_s", "warmup_s", "drain_s", "keepalive",
              "connections", "churn_s", "publish_via", "connect_rate", "clients", "profile", "rtt_ms",
              "server")
# clients = K: a run's subscribers split over K client processes, at most
# this many (each is a whole client: its loops, its connection pool).
CLIENTS_MAX = 16

_DUR_UNITS = {"us": 1, "ms": 1_000, "s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000}
_SIZE_UNITS = {"": 1, "B": 1, "K": 1024, "KiB": 1024, "M": 1024 ** 2, "MiB": 1024 ** 2}
_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class ScenarioError(Exception):
    """A scenario problem; str() is "FILE:LINE: message" when both are known."""

    def __init__(self, message, path=None, line=None):
        self.message = message
        self.path = path
        self.line = line
        if path is not None and line is not None:
            text = "%s:%d: %s" % (path, line, message)
        elif path is not None:
            text = "%s: %s" % (path, message)
        else:
            text = message
        super().__init__(text)


class _Bad(ValueError):
    """A bad value; the parser adds FILE:LINE."""


# ------------------------------------------------------------------ values

def parse_duration_us(text):
    """'500ms', '1.5s', '2m', '250us', '0' -> microseconds (int). A number
    other than 0 needs a unit (a bare '100' is almost always a mistake)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)?", text)
    if not m:
        raise _Bad("bad duration %r (a number and a unit: us, ms, s, m, e.g. 500ms)" % text)
    num, unit = m.group(1), m.group(2)
    if unit is None:
        if float(num) != 0:
            raise _Bad("bad duration %r: give a unit (us, ms, s, m), e.g. %sms or %ss" % (text, num, num))
        return 0
    us = float(num) * _DUR_UNITS[unit]
    if us != int(us):
        raise _Bad("bad duration %r: finer than a microsecond" % text)
    if us > 24 * 3_600_000_000:
        raise _Bad("bad duration %r: more than a day" % text)
    return int(us)


def parse_size(text):
    """'64', '64B', '1KiB', '16K', '1MiB' -> bytes (powers of 1024)."""
    m = re.fullmatch(r"(\d+)(B|KiB|K|MiB|M)?", text)
    if not m:
        raise _Bad("bad size %r (bytes, or a unit: B, KiB, MiB, K, M)" % text)
    n = int(m.group(1)) * _SIZE_UNITS[m.group(2) or ""]
    if n < 1 or n > 64 * 1024 ** 2:
        raise _Bad("bad size %r: from 1 byte to 64MiB" % text)
    return n


def _parse_count(text, minimum, maximum=1_000_000):
    if not re.fullmatch(r"\d+", text):
        raise _Bad("bad count %r (a whole number)" % text)
    n = int(text)
    if n < minimum or n > maximum:
        raise _Bad("bad count %r: from %d to %d" % (text, minimum, maximum))
    return n


def _parse_rate(text, allow_zero):
    if not re.fullmatch(r"\d+(?:\.\d+)?", text):
        raise _Bad("bad rate %r (a number per second)" % text)
    v = float(text)
    if (v <= 0 and not allow_zero) or v > 10_000_000:
        raise _Bad("bad rate %r: %s to 10000000 per second" % (text, "0" if allow_zero else "more than 0"))
    return int(v) if v == int(v) else v


def validate_value(key, text):
    """One value of KEY, normalized; raises ScenarioError (no FILE:LINE)."""
    try:
        return _value(key, text)
    except _Bad as e:
        raise ScenarioError("%s: %s" % (key, e))


def _choice(names, what):
    def parse(text):
        if text not in names:
            raise _Bad("%s %r (one of: %s)" % (what, text, " ".join(names)))
        return text
    return parse


def _via(text):
    if text not in ("http", "ws"):
        raise _Bad("bad publish-via %r (http or ws)" % text)
    return text


def _onoff(text):
    if text not in ("on", "off"):
        raise _Bad("bad value %r (on or off)" % text)
    return text == "on"


def _duration(positive):
    def parse(text):
        us = parse_duration_us(text)
        if positive and us == 0:
            raise _Bad("bad duration %r: must be more than 0" % text)
        return us
    return parse


# How to read a value of each kind of RUN_KEYS.
_KINDS = {
    "transport": _choice(TRANSPORTS, "unknown transport"),
    "profile": _choice(tuple(PROFILES), "unknown profile"),
    "server": lambda text: _server(text),
    "via": _via,
    "onoff": _onoff,
    "count": lambda text: _parse_count(text, 0),
    "count1": lambda text: _parse_count(text, 1),
    "rate": lambda text: _parse_rate(text, False),
    "rate0": lambda text: _parse_rate(text, True),
    "size": parse_size,
    "duration": _duration(False),
    "duration+": _duration(True),
}


def _value(key, text):
    return _KINDS[RUN_KEYS[key][0]](text)


def server_names():
    """pushpull, then every peers/NAME with an executable run, sorted."""
    try:
        peers = sorted(d for d in os.listdir(PEERS_DIR)
                       if os.access(os.path.join(PEERS_DIR, d, "run"), os.X_OK))
    except OSError:
        peers = []
    return ["pushpull"] + [d for d in peers if d != "pushpull"]


def _server(text):
    names = server_names()
    if text not in names:
        raise _Bad("unknown server %r (one of: %s; a peer is a folder peers/NAME with an executable run)"
                   % (text, " ".join(names)))
    if text not in SERVER_DIALECTS:
        raise _Bad("server %r has no client dialect: add it to SERVER_DIALECTS in scripts/scenario.py" % text)
    return text


# ------------------------------------------------------------------ runs

def _secs(us):
    """Microseconds -> seconds, an int when whole (JSON reads better)."""
    return us // 1_000_000 if us % 1_000_000 == 0 else us / 1_000_000


def _ms(us):
    return us // 1000 if us % 1000 == 0 else us / 1000


def fmt_duration(us):
    """Microseconds -> the shortest exact client duration: 5s, 100ms, 250us."""
    if us == 0:
        return "0"
    if us % 1_000_000 == 0:
        return "%ds" % (us // 1_000_000)
    if us % 1000 == 0:
        return "%dms" % (us // 1000)
    return "%dus" % us


def _params(v):
    """Raw per-key values (defaults filled in) -> the normalized run dict."""
    prof = v["profiles"]
    p = {
        "transport": v["transports"],
        "subscribers": v["subscribers"],
        "channels": v["channels"],
        "rate": v["rate"],
        "size": v["size"],
        "poll_interval_ms": _ms(v["poll-interval"]),
        "longpoll_timeout_s": _secs(v["longpoll-timeout"]),
        "duration_s": _secs(v["duration"]),
        "warmup_s": _secs(v["warmup"]),
        "drain_s": _secs(v["drain"]),
        "keepalive": v["keepalive"],
        "connections": v["connections"],
        "churn_s": _secs(v["churn"]),
        "publish_via": v["publish-via"],
        "connect_rate": v["connect-rate"],
        "clients": v["clients"],
        "profile": prof,
        "rtt_ms": PROFILES[prof]["rtt_ms"],
        "server": v["servers"],
    }
    assert tuple(p) == PARAM_KEYS
    return p


def _us(seconds):
    return int(round(seconds * 1_000_000))


def client_args(p):
    """The pushpull-client flags of one run (without --url, --json, --quiet).
    Every workload flag is given explicitly, so the command is the whole
    truth whatever the client's defaults; flags whose value means "off" are
    left out (the client refuses --connect-rate 0)."""
    a = ["--transport", p["transport"],
         "--subscribers", str(p["subscribers"]),
         "--channels", str(p["channels"]),
         "--rate", str(p["rate"]),
         "--size", str(p["size"]),
         "--duration", fmt_duration(_us(p["duration_s"])),
         "--warmup", fmt_duration(_us(p["warmup_s"])),
         "--drain", fmt_duration(_us(p["drain_s"])),
         "--poll-interval", fmt_duration(_us(p["poll_interval_ms"] / 1000)),
         "--longpoll-timeout", fmt_duration(_us(p["longpoll_timeout_s"])),
         "--publish-via", p["publish_via"]]
    if not p["keepalive"]:
        a.append("--no-keepalive")
    if p["connections"]:
        a += ["--connections", str(p["connections"])]
    if p["churn_s"]:
        a += ["--churn", fmt_duration(_us(p["churn_s"]))]
    if p["connect_rate"]:
        a += ["--connect-rate", str(p["connect_rate"])]
    return a


# ------------------------------------------------------------------ parser

class Scenario:
    """A parsed scenario file.

    name, description, path, text
    sections      {section name: [run params dict, ...]} in run order
    repeats       {section name: [repetition of each run, 1-based]}, aligned
                  with sections
    section_info  {section name: {"line": N, "values": {key: [values]},
                                  "varies": [keys with more than one value],
                                  "repeat": repetitions of each workload}}
    """

    def __init__(self, path, text):
        self.path = path
        self.text = text
        self.name = None
        self.description = ""
        self.sections = {}
        self.repeats = {}
        self.section_info = {}

    def runs(self):
        """[(section name, params)] in run order."""
        return [(s, p) for s, runs in self.sections.items() for p in runs]

    def entries(self):
        """[(section name, repetition, params)] in run order."""
        return [(s, rep, p) for s, runs in self.sections.items()
                for rep, p in zip(self.repeats[s], runs)]

    def count(self):
        return sum(len(r) for r in self.sections.values())

    def __repr__(self):
        return "<Scenario %s: %d sections, %d runs>" % (self.name, len(self.sections), self.count())


def _expand(values, repeat=1):
    """The runs of one section: (params list, repetition of each, key order).

    A *workload* is one combination of every key but transports and servers.
    Profiles vary slowest, the other keys in file order. Each workload runs
    `repeat` times in a row, and each repetition runs every transport (and
    server) of the workload before the next repetition starts: transports
    rotate by one from a repetition to the next, and inside a transport the
    first server rotates from one transport to the next, so the machine's
    drift spreads over all of them instead of favouring one."""
    order = (["profiles"] + [k for k in values if k not in ("profiles", "transports", "servers")]
             + ["transports", "servers"])
    lists = [values.get(k, [RUN_KEYS[k][1]]) for k in order]
    transports, servers = lists[-2], lists[-1]
    runs, reps, chunk = [], [], 0
    for combo in itertools.product(*lists[:-2]):
        for rep in range(repeat):
            for t in _rotate(transports, rep):
                for srv in _rotate(servers, chunk):
                    v = {k: d for k, (_, d) in RUN_KEYS.items()}
                    v.update(zip(order, combo + (t, srv)))
                    runs.append(_params(v))
                    reps.append(rep + 1)
                chunk += 1
    return runs, reps, order


def _rotate(items, i):
    """items starting at index i mod len(items)."""
    r = i % len(items)
    return list(items[r:]) + list(items[:r])


def _check_servers(runs, lines, overrides, name, line, path):
    """Peers run on loopback only: every other profile starts
    pushpull-server alone (its TLS flags, its relay and namespace, its
    --broker and the profile's redis-server)."""
    for p in runs:
        if p["server"] != "pushpull" and p["profile"] != "loopback":
            where = lines.get("servers", line)
            how = " (--profiles)" if "profiles" in overrides else ""
            what = " (a broker profile: pushpull-server --broker)" if PROFILES[p["profile"]].get("broker") else ""
            raise ScenarioError("servers: %s runs on the loopback profile only; profile %s%s is pushpull's "
                                "alone%s ([section %s])" % (p["server"], p["profile"], how, what, name), path, where)


def _check_clients(runs, lines, name, line, path):
    """clients = K splits the subscribers over K processes: each needs one
    subscriber per channel at least (the client refuses fewer)."""
    for p in runs:
        k = p["clients"]
        where = lines.get("clients", line)
        if k > CLIENTS_MAX:
            raise ScenarioError("clients: %d is above %d ([section %s])" % (k, CLIENTS_MAX, name), path, where)
        if p["subscribers"] // k < p["channels"]:
            raise ScenarioError("clients: %d processes for %d subscribers on %d channels leave a process "
                                "with fewer subscribers than channels ([section %s])"
                                % (k, p["subscribers"], p["channels"], name), path, where)


def parse(path, overrides=None):
    """Parse a scenario file. overrides: {key: [raw values]} replacing that
    key in every section (bench.py's --profiles and --duration)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ScenarioError("cannot read: %s" % (e.strerror or e), path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise ScenarioError("not UTF-8 text", path, line)
    return parse_text(text, path, overrides)


def _strip_comment(line):
    """Drop a '#' or ';' comment: at the start of the line or after a blank."""
    m = re.search(r"(^|\s)[#;]", line)
    return (line[:m.start()] if m else line).strip()


def parse_text(text, path="<scenario>", overrides=None):
    """Parse scenario text; every error is a ScenarioError naming FILE:LINE."""
    r = _Reader(path)
    for lineno, raw in enumerate(text.splitlines(), 1):
        r.line(lineno, _strip_comment(raw))
    r.finish()
    sc = Scenario(path, text)
    sc.name, sc.description = r.name, r.description
    ov = _overrides(overrides)
    for name, line, keys in r.sections:
        _build_section(sc, name, line, _merge(r.defaults, keys, ov), ov, path)
    return sc


class _Reader:
    """The line-by-line state of parse_text: which part is being read and
    the raw (values, line) of every key seen so far."""

    def __init__(self, path):
        self.path = path
        self.state = None           # None, "scenario", "defaults", "section"
        self.scenario_line = None
        self.defaults_line = None
        self.desc_line = None
        self.name = None
        self.description = ""
        self.defaults = {}          # key -> (values, line)
        self.sections = []          # [(name, line, {key: (values, line)})]
        self.current = None         # the dict of the part being read

    def err(self, msg, line):
        raise ScenarioError(msg, self.path, line)

    def line(self, lineno, line):
        if not line:
            return
        if line.startswith("["):
            self.header(lineno, line)
            return
        m = re.fullmatch(r"([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(.*)", line)
        if not m:
            self.err("expected KEY = VALUE, got %r" % line, lineno)
        key, value = m.group(1), m.group(2).strip()
        if self.state is None:
            self.err("key %r outside a section (the file starts with [scenario])" % key, lineno)
        if self.state == "scenario":
            self.scenario_key(lineno, key, value)
        else:
            self.run_key(lineno, key, value)

    # -- [headers]
    def header(self, lineno, line):
        m = re.fullmatch(r"\[\s*([A-Za-z]+)(?:\s+(\S+))?\s*\]", line)
        if not m:
            self.err("bad section header %r (expected [scenario], [defaults] or [section NAME])" % line, lineno)
        kind, arg = m.group(1), m.group(2)
        if kind == "scenario" and arg is None:
            return self.open_scenario(lineno)
        if kind not in ("defaults", "section") or (kind == "defaults") != (arg is None):
            self.err("unknown section header %r (expected [scenario], [defaults] or [section NAME])" % line, lineno)
        if self.scenario_line is None:
            self.err("%s before [scenario]" % line, lineno)
        if kind == "defaults":
            return self.open_defaults(lineno)
        self.open_section(lineno, arg)

    def open_scenario(self, lineno):
        if self.scenario_line is not None:
            self.err("second [scenario] (the first is on line %d)" % self.scenario_line, lineno)
        if self.state is not None:
            self.err("[scenario] must be the first section", lineno)
        self.scenario_line = lineno
        self.state = "scenario"

    def open_defaults(self, lineno):
        if self.defaults_line is not None:
            self.err("second [defaults] (the first is on line %d)" % self.defaults_line, lineno)
        if self.sections:
            self.err("[defaults] after a [section]: it must come before the sections it applies to", lineno)
        self.defaults_line = lineno
        self.current = self.defaults
        self.state = "defaults"

    def open_section(self, lineno, name):
        if not _NAME_RE.fullmatch(name):
            self.err("bad section name %r (letters, digits, '_', '.', '-'; at most 64)" % name, lineno)
        if any(name == s for s, _, _ in self.sections):
            self.err("duplicate section [section %s]" % name, lineno)
        self.current = {}
        self.sections.append((name, lineno, self.current))
        self.state = "section"

    # -- KEY = VALUE
    def scenario_key(self, lineno, key, value):
        if key not in SCENARIO_KEYS:
            if key in RUN_KEYS or key in SECTION_KEYS:
                self.err("%r belongs in [defaults] or a [section], not [scenario]" % key, lineno)
            self.err("unknown key %r in [scenario] (name, description)" % key, lineno)
        if key == "name":
            if self.name is not None:
                self.err("duplicate key 'name' in [scenario]", lineno)
            if not _NAME_RE.fullmatch(value):
                self.err("bad scenario name %r (letters, digits, '_', '.', '-'; at most 64)" % value, lineno)
            self.name = value
            return
        if self.desc_line:
            self.err("duplicate key 'description' in [scenario]", lineno)
        self.desc_line = lineno
        self.description = value

    def run_key(self, lineno, key, value):
        if key not in RUN_KEYS and key not in SECTION_KEYS:
            if key in SCENARIO_KEYS:
                self.err("%r belongs in [scenario]" % key, lineno)
            self.err("unknown key %r (known: %s)" % (key, ", ".join(list(RUN_KEYS) + list(SECTION_KEYS))), lineno)
        if key in self.current:
            self.err("duplicate key %r in this section (first on line %d)" % (key, self.current[key][1]), lineno)
        words = value.split()
        if not words:
            self.err("%s: no value" % key, lineno)
        try:
            self.current[key] = (_values(key, words), lineno)
        except _Bad as e:
            self.err("%s: %s" % (key, e), lineno)

    def finish(self):
        if self.scenario_line is None:
            raise ScenarioError("no [scenario] section (the file must start with [scenario] and name = ...)",
                                self.path, 1)
        if self.name is None:
            self.err("[scenario] has no name = ...", self.scenario_line)
        if not self.sections:
            self.err("no [section NAME]: the scenario runs nothing", self.scenario_line)


def _values(key, words):
    """The normalized values of one KEY = VALUE line; raises _Bad."""
    if key in SECTION_KEYS:
        if len(words) != 1:
            raise _Bad("takes one value, not a list (%s)" % " ".join(words))
        return [_parse_count(words[0], 1, REPEAT_MAX)]
    vals = []
    for w in words:
        v = _value(key, w)
        if v in vals:
            raise _Bad("%r is listed twice" % w)
        vals.append(v)
    return vals


def _overrides(overrides):
    """{key: [raw values]} (bench.py's --profiles, --duration) -> normalized."""
    ov = {}
    for key, raw in (overrides or {}).items():
        if key not in RUN_KEYS:
            raise ScenarioError("unknown key %r" % key)
        if not raw:
            raise ScenarioError("%s: no value" % key)
        ov[key] = [validate_value(key, w) for w in raw]
    return ov


def _merge(defaults, keys, ov):
    """One section's {key: (values, line)}: defaults, its own keys, overrides
    (whose line is None)."""
    merged = dict(defaults)
    merged.update(keys)
    merged.update({k: (v, None) for k, v in ov.items()})
    return merged


def _build_section(sc, name, line, merged, ov, path):
    """Expand one section into sc.sections[name] (and its repetitions)."""
    values = {k: v for k, (v, _) in merged.items() if k not in SECTION_KEYS}
    lines = {k: ln if ln is not None else line for k, (_, ln) in merged.items()}
    if "transports" not in values:
        raise ScenarioError("[section %s] runs nothing: no transports (set them here or in [defaults])" % name,
                            path, line)
    repeat = merged["repeat"][0][0] if "repeat" in merged else 1
    runs, reps, order = _expand(values, repeat)
    if not runs:
        raise ScenarioError("[section %s] runs nothing (an empty list)" % name, path, line)
    _check_servers(runs, lines, ov, name, line, path)
    _check_clients(runs, lines, name, line, path)
    sc.sections[name] = runs
    sc.repeats[name] = reps
    sc.section_info[name] = {
        "line": line,
        "values": {k: list(v) for k, v in values.items()},
        "varies": [k for k in order if len(values.get(k, [None])) > 1],
        "repeat": repeat,
    }


if __name__ == "__main__":   # python3 scripts/scenario.py FILE: list its runs
    import json
    import sys
    if len(sys.argv) != 2:
        sys.exit("usage: scenario.py FILE.scn")
    try:
        s = parse(sys.argv[1])
    except ScenarioError as e:
        print(e, file=sys.stderr)
        sys.exit(2)
    for sec, rep, p in s.entries():
        print(sec, rep, json.dumps(p))
    print("%d runs" % s.count())
