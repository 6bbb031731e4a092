"""scripts/scenario.py, the scenario-file parser (bench/README.md), and the
parts of scripts/bench.py that run nothing: the real bench/*.scn parse to the
documented run counts; values, units, comments, defaults and the cartesian
product; every kind of bad file is refused with its FILE:LINE; bench.py
--dry-run prints the commands and the count; bench.py exits 2 with the
message on a bad scenario or option. No server is started."""

import os
import subprocess
import sys
import tempfile

from harness import Tap, check, check_eq

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "scripts"))
import scenario  # noqa: E402

BENCH = os.path.join(REPO, "scripts", "bench.py")
TMP = tempfile.mkdtemp(prefix="ppscn-")
_n = [0]


def write(text):
    _n[0] += 1
    path = os.path.join(TMP, "t%d.scn" % _n[0])
    with open(path, "w") as f:
        f.write(text)
    return path


HEAD = "[scenario]\nname = t\n\n[defaults]\ntransports = sse\n\n"   # lines 1-6


def all_runs(sc):
    return [p for runs in sc.sections.values() for p in runs]


# ------------------------------------------------------------ real files

def t_quick():
    sc = scenario.parse(os.path.join(REPO, "bench", "quick.scn"))
    check_eq(sc.name, "quick", "name")
    check(sc.description.startswith("The default comparison"), "description %r" % sc.description)
    check_eq(list(sc.sections), ["main", "tls"], "sections")
    runs = sc.sections["main"]
    check_eq(sc.section_info["main"]["repeat"], 3, "main repeats")
    check_eq(len(runs), 48, "quick.scn main runs (4 transports x 2 subscribers x 2 rates, 3 times)")
    tls = sc.sections["tls"]
    check_eq(sc.section_info["tls"]["repeat"], 1, "tls runs once")
    check_eq([(p["transport"], p["profile"]) for p in tls], [(t, "tls") for t in scenario.TRANSPORTS],
             "section tls: the four transports on the tls profile")
    same = lambda p: {k: v for k, v in p.items() if k != "profile"}     # noqa: E731
    for p in tls:
        check(any(same(q) == same(p) for q in runs), "tls run %r has no loopback twin in main" % p)
    combos = [(p["transport"], p["subscribers"], p["rate"]) for p in runs]
    want = {(t, s, r) for t in scenario.TRANSPORTS for s in (1, 100) for r in (10, 1000)}
    check_eq(set(combos), want, "the product")
    check(all(combos.count(c) == 3 for c in want), "every workload and transport three times")
    for p in runs:
        check_eq(tuple(p), scenario.PARAM_KEYS, "param keys")
        check_eq((p["size"], p["poll_interval_ms"], p["duration_s"], p["warmup_s"], p["drain_s"],
                  p["profile"], p["rtt_ms"], p["keepalive"]),
                 (64, 100, 1, 0.5, 0.5, "loopback", 0, True), "fixed values of %r" % p)
    # the first repetition runs the transports in file order, back to back
    check_eq([p["transport"] for p in runs[:4]], list(scenario.TRANSPORTS), "transport order")
    check_eq({(p["subscribers"], p["rate"]) for p in runs[:12]}, {(1, 10)}, "first workload, three times")
    check_eq(sc.repeats["main"][:12], [1] * 4 + [2] * 4 + [3] * 4, "repetitions of the first workload")
    check(sc.text.startswith("[scenario]"), "text kept")
    check_eq(sc.section_info["main"]["varies"], ["subscribers", "rate", "transports"], "varies")
    # make bench must finish in 3 minutes: each run is its warm-up, measured
    # time and drain, plus about a second to start the client and connect
    # its subscribers (the server starts once per profile).
    total = sum(p["warmup_s"] + p["duration_s"] + p["drain_s"] + 1 for p in runs + tls)
    check(total < 3 * 60, "quick.scn needs about %g s, more than 3 minutes" % total)
    check("%d x %g s = %g s" % (len(runs + tls), total / len(runs + tls), total) in sc.description,
          "the description states the budget (%d x %g s = %g s): %r" % (
              len(runs + tls), total / len(runs + tls), total, sc.description))


def t_repeat():
    """repeat = 3: each workload three times in a row, every transport (and
    server) in a repetition before the next starts, transports rotating."""
    p = write(HEAD.replace("transports = sse", "transports = poll longpoll sse ws") +
              "[section a]\nsubscribers = 1 10\nrepeat = 3\n[section b]\nrate = 5\n")
    sc = scenario.parse(p)
    a = sc.sections["a"]
    got = [(x["subscribers"], rep, x["transport"]) for rep, x in zip(sc.repeats["a"], a)]
    t = ["poll", "longpoll", "sse", "ws"]
    want = [(n, rep, t[(rep - 1 + i) % 4]) for n in (1, 10) for rep in (1, 2, 3) for i in range(4)]
    check_eq(got, want, "interleaved repetitions, transports rotating by one")
    check_eq(sc.repeats["b"], [1, 1, 1, 1], "a section without repeat runs once")
    check_eq([(s, rep) for s, rep, _ in sc.entries()][:5], [("a", 1)] * 4 + [("a", 2)], "entries()")
    two = write(HEAD.replace("transports = sse", "transports = sse ws\nservers = pushpull nchan\nrepeat = 2") +
                "[section a]\nrate = 5\n")
    sc2 = scenario.parse(two)
    check_eq([(rep, x["transport"], x["server"]) for rep, x in zip(sc2.repeats["a"], sc2.sections["a"])],
             [(1, "sse", "pushpull"), (1, "sse", "nchan"), (1, "ws", "nchan"), (1, "ws", "pushpull"),
              (2, "ws", "pushpull"), (2, "ws", "nchan"), (2, "sse", "nchan"), (2, "sse", "pushpull")],
             "with servers: transports rotate per repetition, the first server per transport")


def t_smoke():
    sc = scenario.parse(os.path.join(REPO, "bench", "smoke.scn"))
    runs = all_runs(sc)
    check_eq(len(runs), 4, "smoke.scn runs")
    check_eq([p["transport"] for p in runs], list(scenario.TRANSPORTS), "transports")
    check_eq({(p["subscribers"], p["rate"], p["duration_s"], p["warmup_s"], p["drain_s"]) for p in runs},
             {(2, 20, 1, 0.2, 1)}, "values")


# What a peer's dialect does not offer is answered at once, without a run.
NOT_OFFERED = {("socketio", "poll"), ("socketio", "sse"), ("pushpin", "poll")}
PEER_SERVERS = {"pushpull", "nchan", "node-ws", "socketio", "pushpin"}


def t_peers():
    sc = scenario.parse(os.path.join(REPO, "bench", "peers.scn"))
    runs = all_runs(sc)
    check_eq({p["server"] for p in runs}, PEER_SERVERS, "servers")
    check_eq({p["profile"] for p in runs}, {"loopback"}, "profiles")
    work = {(p["transport"], p["subscribers"], p["rate"]) for p in runs}
    want = {(t, s, r) for t in scenario.TRANSPORTS for s in (1, 100, 1000) for r in (10, 1000)} - \
        {(t, 1000, 1000) for t in scenario.TRANSPORTS}
    check_eq(work, want, "workloads: 1, 100, 1000 subscribers at 10 and 1000 msg/s but 1000 x 1000")
    check_eq(len(runs), len(PEER_SERVERS) * len(want), "every workload on every server")
    check("1000 subscribers at 1000 msg/s" in sc.description, "the description says what is left out")
    runs = [p for p in runs if (p["server"], p["transport"]) not in NOT_OFFERED]
    # make bench-peers must finish in 6 minutes: each run is its warm-up,
    # measured time and drain, plus about a second to start the client and
    # connect its subscribers (the servers start once).
    total = sum(p["warmup_s"] + p["duration_s"] + p["drain_s"] + 1 for p in runs)
    check(total < 6 * 60, "peers.scn needs about %d s, more than 6 minutes" % total)


def t_broker():
    sc = scenario.parse(os.path.join(REPO, "bench", "broker.scn"))
    check_eq(sc.name, "broker", "name")
    check_eq(list(sc.sections), ["hop", "workers-100x1000", "workers-1000x100"], "sections")
    hop = sc.sections["hop"]
    check_eq(len(hop), 4 * 3 * 3, "hop: 4 transports x 3 profiles, 3 times")
    check_eq({(p["profile"], p["transport"]) for p in hop},
             {(pr, t) for pr in ("loopback", "redis", "redis-two") for t in scenario.TRANSPORTS}, "hop runs")
    check_eq({(p["subscribers"], p["rate"], p["server"]) for p in hop}, {(100, 200, "pushpull")}, "hop workload")
    same = lambda p: {k: v for k, v in p.items() if k != "profile"}     # noqa: E731
    for p in hop:
        if p["profile"] != "loopback":
            check(any(q["profile"] == "loopback" and same(q) == same(p) for q in hop),
                  "%r has no in-memory twin" % p)
    workers = sc.sections["workers-100x1000"] + sc.sections["workers-1000x100"]
    check_eq(sorted({(p["subscribers"], p["rate"], p["profile"], p["transport"]) for p in workers}),
             sorted((s, r, pr, "sse") for s, r in ((100, 1000), (1000, 100)) for pr in ("redis", "redis-workers")),
             "workers: SSE at 100 x 1000 and 1000 x 100, one process and --workers 2")
    check_eq(len(workers), 12, "workers runs (3 times each)")
    check(all(sc.section_info[s]["repeat"] == 3 for s in sc.sections), "every section three times")
    runs = all_runs(sc)
    # make bench-broker must finish in 8 minutes (the budget as quick.scn's)
    total = sum(p["warmup_s"] + p["duration_s"] + p["drain_s"] + 1 for p in runs)
    check(total < 8 * 60, "broker.scn needs about %g s, more than 8 minutes" % total)
    check("%d x %g s = %g s" % (len(runs), total / len(runs), total) in sc.description,
          "the description states the budget (%d x %g s = %g s): %r" % (
              len(runs), total / len(runs), total, sc.description))


def t_broker_profiles():
    check_eq({k: v.get("broker") for k, v in scenario.PROFILES.items() if v.get("broker")},
             {"redis": {"instances": 1, "workers": 1}, "redis-two": {"instances": 2, "workers": 1},
              "redis-workers": {"instances": 1, "workers": 2}}, "broker profiles and their set-ups")
    p = write(HEAD.replace("transports = sse", "transports = sse ws") +
              "[section a]\nprofiles = redis-workers loopback redis-two redis\n")
    sc = scenario.parse(p)
    check_eq([(x["profile"], x["rtt_ms"], x["server"]) for x in sc.sections["a"]][::2],
             [("redis-workers", 0, "pushpull"), ("loopback", 0, "pushpull"), ("redis-two", 0, "pushpull"),
              ("redis", 0, "pushpull")], "profiles in file order, on loopback, pushpull's")
    sc = scenario.parse(os.path.join(REPO, "bench", "smoke.scn"), {"profiles": ["redis-two"]})
    check_eq({x["profile"] for x in all_runs(sc)}, {"redis-two"}, "--profiles redis-two")


def t_servers():
    p = write(HEAD.replace("transports = sse", "transports = sse ws\nservers = pushpull nchan") +
              "[section a]\nsubscribers = 1 10\n[section b]\nservers = nchan\n[section c]\nservers = pushpull\n")
    sc = scenario.parse(p)
    a = sc.sections["a"]
    check_eq([(x["subscribers"], x["transport"], x["server"]) for x in a],
             [(1, "sse", "pushpull"), (1, "sse", "nchan"), (1, "ws", "nchan"), (1, "ws", "pushpull"),
              (10, "sse", "pushpull"), (10, "sse", "nchan"), (10, "ws", "nchan"), (10, "ws", "pushpull")],
             "servers innermost, the first server alternating from one workload to the next")
    check_eq([x["server"] for x in sc.sections["b"]], ["nchan", "nchan"], "a section's own servers")
    check_eq([x["server"] for x in sc.sections["c"]], ["pushpull", "pushpull"], "servers = pushpull")
    check_eq(sc.section_info["a"]["varies"], ["subscribers", "transports", "servers"], "varies")
    plain = scenario.parse(os.path.join(REPO, "bench", "smoke.scn"))
    check_eq({x["server"] for x in all_runs(plain)}, {"pushpull"}, "default server")
    check_eq(scenario.server_names()[0], "pushpull", "pushpull first")
    check("nchan" in scenario.server_names(), "peers/nchan/run is a server: %r" % scenario.server_names())
    check("--dialect" not in scenario.client_args(a[1]), "client_args leaves the dialect to the runner")
    three = write(HEAD + "[section a]\nservers = nchan pushpull\nsubscribers = 1 2 3\n")
    order = [x["server"] for x in scenario.parse(three).sections["a"]]
    check_eq(order, ["nchan", "pushpull", "pushpull", "nchan", "nchan", "pushpull"], "file order, then rotated")


def t_full():
    sc = scenario.parse(os.path.join(REPO, "bench", "full.scn"))
    check_eq(list(sc.sections), ["subscribers", "rate", "payload", "poll-interval", "pooling", "churn",
                                 "profiles"], "sections in file order")
    counts = {k: len(v) for k, v in sc.sections.items()}
    check_eq(counts, {"subscribers": 20, "rate": 20, "payload": 12, "poll-interval": 10, "pooling": 4,
                      "churn": 4, "profiles": 20}, "runs per section")
    pay = sc.sections["payload"]
    check_eq(sorted({p["size"] for p in pay}), [16, 1024, 16384], "sizes (KiB = 1024)")
    check_eq({p["keepalive"] for p in sc.sections["pooling"]}, {True, False}, "keepalive on/off")
    check_eq({p["profile"] for p in sc.sections["profiles"]},
             {name for name, d in scenario.PROFILES.items() if not d.get("broker")},
             "every profile but the broker ones (bench/broker.scn has those)")
    check_eq({p["rtt_ms"] for p in sc.sections["profiles"] if p["profile"] == "mobile"}, {200}, "mobile rtt")
    check_eq({p["churn_s"] for p in sc.sections["churn"]}, {1}, "churn")
    check_eq({p["connect_rate"] for p in sc.sections["subscribers"]}, {2000}, "connect-rate")
    check_eq(sorted({p["poll_interval_ms"] for p in sc.sections["poll-interval"]}), [10, 50, 100, 500, 1000],
             "poll intervals")


# ------------------------------------------------------------ good syntax

def t_syntax():
    p = write("# leading comment\n; another\n[scenario]   # trailing\nname = s1 ; comment\n"
              "description = C# is not a comment here\n\n"
              "[defaults]\ntransports = poll ws\nsubscribers = 3\nduration = 1.5s\nwarmup = 250us\n"
              "drain = 2m\n\n"
              "[section a]\nsize = 1K 2KiB 3M 1MiB 100B 7\nkeepalive = off\n"
              "churn = 0\nconnections = 0 4\n"
              "[section b]\nsubscribers = 5\npoll-interval = 0 20ms\nlongpoll-timeout = 10s\n"
              "publish-via = ws\nconnect-rate = 2.5\nrate = 0.5\nchannels = 2\nprofiles = wan mobile\n"
              "clients = 2\n")
    sc = scenario.parse(p)
    check_eq(sc.name, "s1", "name")
    check_eq(sc.description, "C# is not a comment here", "description")
    a, b = sc.sections["a"], sc.sections["b"]
    check_eq(len(a), 2 * 6 * 2, "section a product")
    check_eq(len(b), 2 * 2 * 2, "section b product")
    check_eq([x["size"] for x in a[::4]], [1024, 2048, 3145728, 1048576, 100, 7], "sizes, in file order")
    check_eq({(x["duration_s"], x["warmup_s"], x["drain_s"]) for x in a}, {(1.5, 0.00025, 120)}, "durations")
    check_eq({x["keepalive"] for x in a}, {False}, "keepalive off")
    check_eq({x["subscribers"] for x in a}, {3}, "defaults apply")
    check_eq({x["subscribers"] for x in b}, {5}, "section overrides defaults")
    check_eq({x["churn_s"] for x in a}, {0}, "churn 0")
    check_eq([x["profile"] for x in b], ["wan"] * 4 + ["mobile"] * 4, "profiles vary slowest")
    check_eq({x["poll_interval_ms"] for x in b}, {0, 20}, "poll intervals")
    check_eq({(x["publish_via"], x["connect_rate"], x["rate"], x["channels"], x["longpoll_timeout_s"])
              for x in b}, {("ws", 2.5, 0.5, 2, 10)}, "other keys")
    check_eq(({x["clients"] for x in a}, {x["clients"] for x in b}), ({1}, {2}), "clients: 1 by default")
    check_eq(sc.count(), 32, "count")
    args = scenario.client_args(a[2])
    check("--no-keepalive" in args, "off -> --no-keepalive: %r" % args)
    check("--churn" not in args and "--connect-rate" not in args, "zero churn/connect-rate left out: %r" % args)
    check("--no-publish" not in scenario.client_args(b[0]), "clients is the runner's, not a client flag")
    check_eq(args[args.index("--duration") + 1], "1500ms", "--duration")
    check_eq(args[args.index("--warmup") + 1], "250us", "--warmup")
    check_eq(args[args.index("--drain") + 1], "120s", "--drain")
    check_eq(args[args.index("--connections") + 1], "4", "--connections")
    argsb = scenario.client_args(b[0])
    check_eq(argsb[argsb.index("--connect-rate") + 1], "2.5", "--connect-rate")
    check_eq(argsb[argsb.index("--poll-interval") + 1], "0", "--poll-interval 0")


def t_overrides():
    sc = scenario.parse(os.path.join(REPO, "bench", "smoke.scn"), {"profiles": ["wan", "lan"], "duration": ["3s"]})
    runs = all_runs(sc)
    check_eq(len(runs), 8, "runs with two profiles")
    check_eq({(p["profile"], p["duration_s"]) for p in runs}, {("wan", 3), ("lan", 3)}, "overridden")
    try:
        scenario.parse(os.path.join(REPO, "bench", "smoke.scn"), {"profiles": ["moon"]})
    except scenario.ScenarioError as e:
        check("unknown profile 'moon'" in str(e), "message %r" % str(e))
    else:
        check(False, "a bad override was accepted")


# ------------------------------------------------------------ errors

BAD = [
    # (name, text, line, words in the message)
    ("unknown key", HEAD + "[section a]\nrate = 10\ncolour = red\n", 9, "unknown key 'colour'"),
    ("bad duration (no unit)", HEAD + "[section a]\nduration = 5\n", 8, "bad duration '5'"),
    ("bad duration (unit)", HEAD + "[section a]\nrate = 1\nwarmup = 1s 5x\n", 9, "bad duration '5x'"),
    ("zero duration", HEAD + "[section a]\nduration = 0\n", 8, "more than 0"),
    ("bad profile", HEAD + "[section a]\nprofiles = loopback moon\n", 8, "unknown profile 'moon'"),
    ("bad transport", "[scenario]\nname = t\n[defaults]\ntransports = poll udp\n[section a]\nrate = 1\n", 4,
     "unknown transport 'udp'"),
    ("bad size", HEAD + "[section a]\nsize = 1GB\n", 8, "bad size '1GB'"),
    ("bad count", HEAD + "[section a]\nsubscribers = 1.5\n", 8, "bad count '1.5'"),
    ("negative count", HEAD + "[section a]\nconnections = -1\n", 8, "bad count '-1'"),
    ("zero subscribers", HEAD + "[section a]\nsubscribers = 0\n", 8, "from 1 to"),
    ("bad rate", HEAD + "[section a]\nrate = fast\n", 8, "bad rate 'fast'"),
    ("bad on/off", HEAD + "[section a]\nkeepalive = yes\n", 8, "on or off"),
    ("bad publish-via", HEAD + "[section a]\npublish-via = sse\n", 8, "http or ws"),
    ("key outside a section", "name = t\n[scenario]\nname = t\n", 1, "outside a section"),
    ("section before [scenario]", "# c\n[defaults]\ntransports = sse\n[scenario]\nname = t\n", 2,
     "before [scenario]"),
    ("duplicate key", HEAD + "[section a]\nrate = 1\nsize = 64\nrate = 2\n", 10, "duplicate key 'rate'"),
    ("duplicate key in defaults", "[scenario]\nname = t\n[defaults]\nsize = 1\nsize = 2\n", 5, "duplicate key"),
    ("duplicate name", "[scenario]\nname = t\nname = u\n", 3, "duplicate key 'name'"),
    ("missing name", "# x\n\n[scenario]\ndescription = no name\n[defaults]\ntransports = sse\n[section a]\n"
     "rate = 1\n", 3, "no name"),
    ("no [scenario]", "# only a comment\n", 1, "no [scenario]"),
    ("duplicate section", HEAD + "[section a]\nrate = 1\n[section a]\nrate = 2\n", 9, "duplicate section"),
    ("unknown section header", HEAD + "[sweep a]\nrate = 1\n", 7, "unknown section header"),
    ("defaults after a section", "[scenario]\nname = t\n[section a]\ntransports = ws\n[defaults]\nsize = 1\n", 5,
     "[defaults] after"),
    ("second [defaults]", HEAD + "[defaults]\nsize = 1\n", 7, "second [defaults]"),
    ("no sections", HEAD, 1, "runs nothing"),
    ("no transports", "[scenario]\nname = t\n\n[section a]\nrate = 1\n", 4, "no transports"),
    ("empty value", HEAD + "[section a]\nrate =\n", 8, "no value"),
    ("value listed twice", HEAD + "[section a]\nrate = 10 10\n", 8, "listed twice"),
    ("not KEY = VALUE", HEAD + "[section a]\nrate 10\n", 8, "expected KEY = VALUE"),
    ("run key in [scenario]", "[scenario]\nname = t\nrate = 1\n", 3, "belongs in [defaults]"),
    ("bad scenario name", "[scenario]\nname = a/b\n", 2, "bad scenario name"),
    ("unknown server", HEAD + "[section a]\nservers = pushpull moon\n", 8, "unknown server 'moon'"),
    ("server listed twice", HEAD + "[section a]\nservers = nchan nchan\n", 8, "listed twice"),
    ("servers in [scenario]", "[scenario]\nname = t\nservers = nchan\n", 3, "belongs in [defaults]"),
    ("a peer off loopback", "[scenario]\nname = t\n[defaults]\ntransports = sse\nservers = pushpull nchan\n"
     "[section a]\nrate = 1\nprofiles = loopback wan\n", 5, "nchan runs on the loopback profile only"),
    ("a peer on tls", HEAD + "[section a]\nprofiles = tls\nservers = nchan\n", 9, "profile tls"),
    ("a peer on a broker profile", "[scenario]\nname = t\n[defaults]\ntransports = sse\nservers = pushpull nchan\n"
     "\n[section a]\nprofiles = loopback redis\n", 5,
     "servers: nchan runs on the loopback profile only; profile redis is pushpull's alone (a broker profile"),
    ("a peer on redis-workers", HEAD + "[section a]\nservers = socketio\nprofiles = redis-workers\n", 8,
     "profile redis-workers is pushpull's alone (a broker profile: pushpull-server --broker)"),
    ("a bad broker profile", HEAD + "[section a]\nprofiles = redis-three\n", 8, "unknown profile 'redis-three'"),
    ("repeat 0", HEAD + "[section a]\nrepeat = 0\n", 8, "repeat: bad count '0': from 1 to 100"),
    ("repeat a list", HEAD + "[section a]\nrepeat = 2 3\n", 8, "repeat: takes one value"),
    ("repeat too many", "[scenario]\nname = t\n[defaults]\ntransports = sse\nrepeat = 101\n", 5,
     "from 1 to 100"),
    ("repeat in [scenario]", "[scenario]\nname = t\nrepeat = 2\n", 3, "belongs in [defaults]"),
    ("clients above 16", HEAD + "[section a]\nsubscribers = 100\nclients = 17\n", 9, "clients: 17 is above 16"),
    ("clients: fewer subscribers than channels", HEAD + "[section a]\nsubscribers = 10\nchannels = 4\n"
     "clients = 3\n", 10, "fewer subscribers than channels"),
    ("clients 0", HEAD + "[section a]\nclients = 0\n", 8, "from 1 to"),
]


def t_bad(text, line, words):
    path = write(text)
    try:
        sc = scenario.parse(path)
    except scenario.ScenarioError as e:
        msg = str(e)
        check(msg.startswith("%s:%d: " % (path, line)), "message %r does not start with %s:%d:" % (msg, path, line))
        check(words in msg, "message %r lacks %r" % (msg, words))
        check("\n" not in msg, "one line: %r" % msg)
        return
    check(False, "accepted, %r" % sc)


def t_unreadable():
    try:
        scenario.parse(os.path.join(TMP, "does-not-exist.scn"))
    except scenario.ScenarioError as e:
        check("does-not-exist.scn: cannot read" in str(e), "message %r" % str(e))
    else:
        check(False, "a missing file parsed")


# ------------------------------------------------------------ bench.py, nothing run

def bench(*args, timeout=30):
    return subprocess.run(["/usr/bin/python3", BENCH] + list(args), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, cwd=REPO)


def t_dry_run():
    out = os.path.join(TMP, "dry")
    r = bench("bench/quick.scn", "--dry-run", "--out", out)
    text = r.stdout.decode()
    check_eq(r.returncode, 0, "exit status (stderr %r)" % r.stderr[-500:])
    lines = text.strip().splitlines()
    check_eq(lines[-1], "52 runs", "last line")
    clients = [x for x in lines if "pushpull-client " in x and not x.startswith("#")]
    check_eq(len(clients), 52, "client commands")
    check(all(("--cacert TMP/cert.pem" in x) == ("https://" in x) for x in clients), "--cacert with https://")
    check_eq(sum("--url https://" in x for x in clients), 4, "tls runs of quick.scn")
    check(any("--tls-cert TMP/cert.pem --tls-key TMP/key.pem" in x for x in lines), "tls server command")
    check("--transport poll" in clients[0] and "--json %s/client/1.json" % out in clients[0], clients[0])
    heads = [x for x in lines if x.startswith("# [")]
    check(heads[4].endswith("(repetition 2 of 3)") and "longpoll" in heads[4], "run 5 %r" % heads[4])
    check(not any("repetition" in x for x in heads[48:]), "the tls section runs once")
    check(not os.path.exists(out), "--dry-run created the results folder")
    r = bench("bench/full.scn", "--dry-run", "--only-section", "profiles", "--duration", "1s")
    lines = r.stdout.decode().strip().splitlines()
    check_eq((r.returncode, lines[-1]), (0, "20 runs"), "one section of full.scn")
    check(any("pushpull-relay" in x and "--delay 100ms" in x and "--rate 2Mbit" in x for x in lines),
          "mobile relay command")
    check(all("--duration 1s" in x for x in lines if "pushpull-client " in x and not x.startswith("#")),
          "--duration override")


def t_dry_run_servers():
    out = os.path.join(TMP, "dry2")
    path = write(HEAD.replace("transports = sse", "transports = poll ws\nservers = pushpull nchan") +
                 "[section a]\nsubscribers = 1 100\n")
    r = bench(path, "--dry-run", "--out", out)
    check_eq(r.returncode, 0, "exit status (stderr %r)" % r.stderr[-500:])
    lines = r.stdout.decode().strip().splitlines()
    check_eq(lines[-1], "8 runs", "last line")
    servers = [x for x in lines if not x.startswith("#") and ("pushpull-server " in x or "peers/" in x)]
    check_eq(len(servers), 2, "each server started once: %r" % servers)
    check(servers[1].endswith("peers/nchan/run 0"), "nchan command %r" % servers[1])
    clients = [x for x in lines if "pushpull-client " in x and not x.startswith("#")]
    got = [(c.split("--transport ")[1].split()[0], c.split("--subscribers ")[1].split()[0],
            c.split("--dialect ")[1].split()[0]) for c in clients]
    check_eq(got, [("poll", "1", "pushpull"), ("poll", "1", "nchan"), ("ws", "1", "nchan"), ("ws", "1", "pushpull"),
                   ("poll", "100", "pushpull"), ("poll", "100", "nchan"), ("ws", "100", "nchan"),
                   ("ws", "100", "pushpull")], "interleaved runs, the first server alternating")
    for c in clients:
        nchan = "--dialect nchan" in c
        check(("NCHAN_PORT" in c) == nchan and ("SERVER_PORT" in c) != nchan, "url of %r" % c)
        check("--server-pid SERVER_PIDS" in c, "--server-pid in %r" % c)
    check("--json %s/client/8.json" % out in clients[-1], clients[-1])
    r = bench("bench/quick.scn", "--dry-run")
    check("--dialect" not in r.stdout.decode() and "--server-pid" not in r.stdout.decode(),
          "a pushpull-only scenario runs the client as before")
    r = bench(path, "--dry-run", "--profiles", "wan")
    check_eq(r.returncode, 2, "exit status of a peer moved to wan by --profiles")
    check("%s:6: servers: nchan runs on the loopback profile only; profile wan (--profiles)" % path
          in r.stderr.decode(), "stderr %r" % r.stderr)


def t_dry_run_broker():
    out = os.path.join(TMP, "dry3")
    path = write(HEAD.replace("transports = sse", "transports = sse ws") +
                 "[section a]\nprofiles = loopback redis redis-two redis-workers\n")
    r = bench(path, "--dry-run", "--out", out)
    check_eq(r.returncode, 0, "exit status (stderr %r)" % r.stderr[-500:])
    lines = r.stdout.decode().strip().splitlines()
    check_eq(lines[-1], "8 runs", "last line")
    redis = [x for x in lines if x.startswith("redis-server ")]
    check_eq(redis, ['redis-server --port REDIS_PORT --bind 127.0.0.1 --dir TMP --save "" --appendonly no'] * 3,
             "one redis-server per broker profile")
    servers = [x for x in lines if "pushpull-server " in x and not x.startswith("#")]
    check_eq(len(servers), 1 + 1 + 2 + 1, "pushpull-servers: loopback, redis, A and B, redis-workers")
    check("--broker" not in servers[0], "loopback in memory: %r" % servers[0])
    check(all(x.endswith("--broker redis://127.0.0.1:REDIS_PORT") for x in servers[1:4]), "--broker %r" % servers)
    check(servers[4].endswith("--broker redis://127.0.0.1:REDIS_PORT --workers 2"), "--workers 2: %r" % servers[4])
    clients = [x for x in lines if "pushpull-client " in x and not x.startswith("#")]
    check(all("--server-pid SERVER_PIDS" in c and "--dialect" not in c for c in clients),
          "--server-pid on every run (the loopback twins too), no --dialect: %r" % clients)
    check_eq(["SERVER_B_PORT" in c for c in clients], [False] * 4 + [True] * 2 + [False] * 2,
             "redis-two's subscribers on B")
    check(any("--publish-url http://127.0.0.1:SERVER_A_PORT" in x for x in lines), "A takes the publishes")
    r = bench(write(HEAD + "[section a]\nservers = nchan\n"), "--dry-run", "--profiles", "redis")
    check_eq(r.returncode, 2, "exit status of a peer moved to redis by --profiles")
    check("profile redis (--profiles) is pushpull's alone (a broker profile" in r.stderr.decode(),
          "stderr %r" % r.stderr)


def t_bench_errors():
    path = write(HEAD + "[section a]\nrate = 10\ncolour = red\n")
    r = bench(path, "--dry-run")
    check_eq(r.returncode, 2, "exit status on a bad scenario")
    check("%s:9: unknown key 'colour'" % path in r.stderr.decode(), "stderr %r" % r.stderr)
    for args, words in ((["--profiles", "loopback,moon"], "--profiles: unknown profile 'moon'"),
                        (["--duration", "5"], "--duration: bad duration '5'"),
                        (["--only-section", "nope"], "no section nope")):
        r = bench("bench/quick.scn", "--dry-run", *args)
        check_eq(r.returncode, 2, "exit status of %r" % args)
        check(words in r.stderr.decode(), "stderr of %r: %r" % (args, r.stderr))
    r = bench()
    check_eq(r.returncode, 2, "exit status without a scenario")


def main():
    tap = Tap(__file__, watchdog_s=80)
    tap.run("quick.scn: 4 transports x 2 subscriber counts x 2 rates, 3 times, interleaved; 4 tls twins of "
            "the busiest; under 3 minutes by the budget its description states", t_quick)
    tap.run("repeat = 3: runs interleaved by repetition, transports rotating (and servers)", t_repeat)
    tap.run("smoke.scn: 4 runs", t_smoke)
    tap.run("peers.scn: every workload on the five servers, 1000 x 1000 left out, under 6 minutes", t_peers)
    tap.run("broker.scn: the hop on loopback, redis, redis-two per transport; --workers at 100 x 1000 and "
            "1000 x 100; 3 times; under 8 minutes by the budget its description states", t_broker)
    tap.run("broker profiles: their set-ups, on loopback, pushpull's, --profiles", t_broker_profiles)
    tap.run("servers: default pushpull, innermost, first server alternating per workload", t_servers)
    tap.run("full.scn parses: every section and value", t_full)
    tap.run("syntax: comments, units, defaults, product, client flags", t_syntax)
    tap.run("overrides (--profiles, --duration) replace a key everywhere", t_overrides)
    for name, text, line, words in BAD:
        tap.run("refused with FILE:%d: %s" % (line, name), t_bad, text, line, words)
    tap.run("an unreadable file names itself", t_unreadable)
    tap.run("bench.py --dry-run: the commands and the run count, nothing run", t_dry_run)
    tap.run("bench.py --dry-run with two servers: each started once, runs interleaved, --dialect, "
            "--server-pid", t_dry_run_servers)
    tap.run("bench.py --dry-run with broker profiles: one redis-server each, --broker, A and B, --workers 2, "
            "--server-pid on every run; a peer there is exit 2", t_dry_run_broker)
    tap.run("bench.py: exit 2 with the message on a bad scenario or option", t_bench_errors)
    import shutil
    shutil.rmtree(TMP, ignore_errors=True)
    tap.done()


if __name__ == "__main__":
    main()
