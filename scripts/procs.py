"""The processes of a server started through a run script (peers/NAME/run,
or pushpull-server itself): what the bench runner and the tests pass the
client as --server-pid, so a server's CPU and memory are read the same way
for every server. Standard library only."""

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
    script that exec'd its server, as the node peers do, is the server)."""
    try:
        with open("/proc/%d/comm" % run_pid) as f:
            shell = f.read().strip() in SHELLS
    except OSError:
        return []
    return sorted(([] if shell else [run_pid]) + descendants(run_pid))
