"""scripts/procs.py, which the bench runner and the tests use to name a
server's processes for --server-pid: for a run script that exec'd its
server (the node peers) the run process itself; for one that stays a
shell (peers/nchan: nginx's master and worker) everything below it but the
shell."""

from harness import Tap, Peer, check, procs


def comm(pid):
    with open("/proc/%d/comm" % pid) as f:
        return f.read().strip()


def t_exec(peer):
    pids = procs.server_pids(peer.proc.pid)
    check(peer.proc.pid in pids, "the exec'd run process %d is the server: %r" % (peer.proc.pid, pids))
    check(all(comm(p) not in procs.SHELLS for p in pids), "a shell among %r" % pids)


def t_shell(peer):
    pids = procs.server_pids(peer.proc.pid)
    names = sorted(comm(p) for p in pids)
    check(peer.proc.pid not in pids, "the run script's shell counted: %r" % names)
    check(names and all(n == "nginx" for n in names) and len(names) >= 2,
          "nginx's master and worker, nothing else: %r" % names)


def main():
    tap = Tap(__file__, watchdog_s=120)
    with Peer(tap, "node-ws") as peer:
        tap.run("node-ws (run exec's node): the run process is the server", t_exec, peer)
    with Peer(tap, "nchan") as peer:
        tap.run("nchan (run stays a shell): nginx's master and worker, not the shell", t_shell, peer)
    tap.done()


if __name__ == "__main__":
    main()
