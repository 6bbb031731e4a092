"""The processes of a server started through a run script (peers/NAME/run,
or pushpull-server itself, with its --workers): what the bench runner and
the tests pass the client as --server-pid, so a server's CPU and memory are
read the same way for every server; and the same reading here, for a
process the client is not told about (a broker's redis-server). Standard
library only."""

import collections
import glob
import os

SHELLS = ("bash", "sh", "dash")


def descendants(pid):
    """Every process below pid (children, grandchildren, ...), sorted; read
    from /proc/*/stat (ppid is the field after the ")" of the name)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d, "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue                        # gone meanwhile
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        out += kids
        todo += kids
    return sorted(out)


def server_pids(run_pid):
    """The server's processes: every descendant of the run process, and the
    run process itself unless it is still the shell of a run script (a run
    script that exec'd its server, as the node peers do, is the server).
    pushpull-server --workers N is its parent and the N workers it forks,
    as nginx is its master and workers."""
    try:
        with open("/proc/%d/comm" % run_pid) as f:
            shell = f.read().strip() in SHELLS
    except OSError:
        return []
    return sorted(([] if shell else [run_pid]) + descendants(run_pid))


Usage = collections.namedtuple("Usage", "cpu_s rss_bytes")


def usage(pids):
    """Usage(CPU seconds, resident bytes) of processes, summed: the run time
    of every thread (/proc/PID/task/*/schedstat, ns: a short run's CPU is
    below the 10 ms ticks of /proc/PID/stat) and VmRSS, as the client reads
    its --server-pid. A process that is gone counts 0."""
    cpu_ns, rss = 0, 0
    for pid in pids:
        for path in glob.glob("/proc/%d/task/*/schedstat" % pid):
            try:
                with open(path) as f:
                    cpu_ns += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass                        # a thread that ended meanwhile
        try:
            with open("/proc/%d/status" % pid) as f:
                rss += next((int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:")), 0)
        except (OSError, ValueError, IndexError):
            pass
    return Usage(cpu_ns / 1e9, rss)
