"""scripts/procs.py, which the bench runner and the tests use to name a
server's processes for --server-pid: for a run script that exec'd its
server (the node peers) the run process itself; for one that stays a
shell (peers/nchan: nginx's master and worker) everything below it but the
shell; for pushpull-server --workers 2 (on our own redis-server) the parent
and its two workers. And procs.usage, their CPU and RSS as the runner
reads a redis-server's."""

import os

from harness import Tap, Peer, Redis, Server, check, check_eq, procs


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


def t_workers(tap, redis):
    with Server(tap, "--quiet", "--broker", redis.url, "--workers", "2", label="[--workers 2]") as srv:
        pids = procs.server_pids(srv.proc.pid)
        check_eq(len(pids), 3, "the parent and two workers: %r" % pids)
        check(srv.proc.pid in pids, "the parent %d in %r" % (srv.proc.pid, pids))
        check_eq({comm(p) for p in pids}, {"pushpull-server"}, "every process is pushpull-server")
        u = procs.usage(pids)
        one = procs.usage([srv.proc.pid])
        check(u.cpu_s > 0 and u.rss_bytes > one.rss_bytes > 0, "usage %r of all, %r of the parent" % (u, one))


def t_usage():
    me = procs.usage([os.getpid()])
    check(me.cpu_s > 0 and me.rss_bytes > 1 << 20, "this process: %r" % (me,))
    check_eq(procs.usage([2 ** 22 + 1]), procs.Usage(0, 0), "a process that is not there counts 0")


def main():
    tap = Tap(__file__, watchdog_s=120)
    with Peer(tap, "node-ws") as peer:
        tap.run("node-ws (run exec's node): the run process is the server", t_exec, peer)
    with Peer(tap, "nchan") as peer:
        tap.run("nchan (run stays a shell): nginx's master and worker, not the shell", t_shell, peer)
    with Redis() as redis:
        tap.run("pushpull-server --workers 2: the parent and its two workers; usage() sums them", t_workers, tap,
                redis)
    tap.run("usage(): CPU seconds (schedstat) and VmRSS; 0 for a pid that is gone", t_usage)
    tap.done()


if __name__ == "__main__":
    main()
