"""Process lifecycle: graceful shutdown on SIGTERM and SIGINT with open
WebSocket, SSE and long-poll clients; the startup line; the command line
(--help, --version, bad flag values exit 2 with a message on stderr)."""

import re
import signal
import subprocess
import time

from harness import (Tap, Server, SERVER, BgCurl, CurlStream, WsClient, raw_connect, read_response,
                     _spawn, check, check_eq, wait_until, T, HOST, diag, run_cli)

SHUTDOWN_LIMIT = T(2.0)     # the issue: exits 0 within 2 s (scaled for sanitizer builds)


def shutdown_scenario(tap, sig, name):
    srv = Server(tap, "--heartbeat", "30", label="[%s]" % name)
    clients = []
    try:
        try:
            srv.start()
            ws = WsClient(srv.ws_url("/ws/life"))
            clients.append(ws.shutdown)
            sse = CurlStream(srv.url("/sse/life"), max_time=60)
            clients.append(sse.close)
            sse.wait(lambda s: any(l.startswith("retry:") for l in s.lines), T(10), "SSE retry: line")
            lp = BgCurl(srv.url("/longpoll/life?since=0&timeout=60"), timeout=90)
            idle = raw_connect(srv.port, 10)       # an idle keep-alive connection
            clients.append(idle.close)
            idle.sendall(("GET /healthz HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (HOST, srv.port)).encode())
            r = read_response(idle, 10)
            check_eq(r.status, 200, "healthz on the idle connection")
            wait_until(lambda: (lambda c: c["ws"] == 1 and c["sse"] == 1 and c["longpoll"] == 1)(
                srv.stats()["connections"]), T(10), what="ws, sse and longpoll connections open")
        except Exception as e:  # noqa: BLE001
            tap.ok(False, "%s: setup (server with open ws, sse, long poll, idle keep-alive)" % name, repr(e))
            return
        t0 = time.monotonic()
        srv.send_signal(sig)
        rc = srv.wait(SHUTDOWN_LIMIT)
        el = time.monotonic() - t0
        if rc is None:
            rc = srv.wait(T(10))
            el = time.monotonic() - t0
        tap.ok(rc == 0 and el <= SHUTDOWN_LIMIT,
               "%s: the server exits with status 0 within %.0fs" % (name, SHUTDOWN_LIMIT),
               "status %s after %.2fs; stderr tail:\n%s" % (rc, el, srv.stderr_tail()))
        ws.wait_closed(5)
        tap.ok(ws.closed and ws.close_code == 1001, "%s: the WebSocket client gets close code 1001" % name,
               "closed=%s code=%s reason=%r" % (ws.closed, ws.close_code, ws.close_reason))
        ended = sse.wait_eof(5)
        tap.ok(ended, "%s: the SSE stream ends (curl exits)" % name,
               "curl still running" if not ended else None)
        if ended:
            diag("%s: SSE curl exit status %s (0 = clean end of the chunked stream)" % (name, sse.proc.returncode))
        try:
            res = lp.join(5)
            if res.status is None:
                ok, msg = True, "connection ended without an answer (curl rc %s)" % res.rc
            else:
                body = res.json() if res.status == 200 else None
                ok = res.status == 200 and body.get("messages") == []
                msg = "status %s body %r" % (res.status, res.body[:200])
        except Exception as e:  # noqa: BLE001
            ok, msg = False, repr(e)
        tap.ok(ok, "%s: the pending long poll is answered (200, messages []) or its connection ends" % name, msg)
        diag("%s: long poll: %s; shutdown took %.2fs" % (name, msg, el))
        idle.settimeout(T(5))
        try:
            left = idle.recv(100)
            closed = left == b""
            what = "read %r" % left
        except TimeoutError:
            closed, what = False, "still open %.0fs after the signal" % T(5)
        except OSError as e:          # reset: closed too
            closed, what = True, repr(e)
        tap.ok(closed, "%s: the idle keep-alive connection is closed" % name, what)
        tap.ok(srv.extra_stdout.strip() == b"", "%s: stdout had exactly one line (the listening line)" % name,
               "more stdout: %r" % srv.extra_stdout[:300])
    finally:
        for c in clients:
            try:
                c()
            except Exception:  # noqa: BLE001
                pass
        srv.kill()


def t_help():
    rc, out, err = run_cli(["--help"])
    check_eq(rc, 0, "exit status of --help")
    check(re.search(r"usage", out, re.I), "--help stdout has no usage: %r" % out[:300])
    for flag in ("--port", "--history", "--heartbeat", "--max-message", "--max-queue", "--max-connections",
                 "--longpoll-timeout", "--longpoll-max"):
        check(flag in out, "--help does not mention %s" % flag)


def t_version():
    rc, out, err = run_cli(["--version"])
    check_eq(rc, 0, "exit status of --version")
    check(re.search(r"\b\d+\.\d+\.\d+\b", out), "--version prints no version: %r" % out[:200])


def bad_flag(args, mention):
    def run():
        rc, out, err = run_cli(args)
        check("listening" not in out, "%r started the server: %r" % (args, out[:200]))
        check_eq(rc, 2, "exit status of %r" % " ".join(args))
        check(err.strip(), "nothing on stderr")
        check(mention.lower() in err.lower(), "stderr does not name %r: %r" % (mention, err[:300]))
    return run


def t_port_in_use(tap):
    with Server(tap, label="[port owner]") as a:
        def run():
            rc, out, err = run_cli(["--port", str(a.port)])
            check("listening" not in out, "a second server claims to listen on the same port: %r" % out)
            check(rc != 0, "exit status 0 although the port is taken")
            check(err.strip(), "nothing on stderr")
            check(a.healthz(), "the first server no longer answers")
        tap.run("a taken --port: non-zero exit, message on stderr, no 'listening' line", run)


def main():
    tap = Tap(__file__)
    shutdown_scenario(tap, signal.SIGTERM, "SIGTERM")
    shutdown_scenario(tap, signal.SIGINT, "SIGINT")
    tap.run("--help exits 0 and prints usage naming every flag", t_help)
    tap.run("--version exits 0 and prints a version", t_version)
    for args, mention in ((["--heartbeat", "abc"], "heartbeat"),
                          (["--port", "70000"], "port"),
                          (["--port", "-1"], "port"),
                          (["--history", "0"], "history"),
                          (["--bogus-flag"], "bogus-flag"),
                          (["--max-message", "lots"], "max-message"),
                          (["--max-queue", "1.5MiB"], "max-queue"),
                          (["--longpoll-timeout", "-1"], "longpoll-timeout"),
                          (["--port"], "port")):
        tap.run("bad command line %r: exit 2, stderr names %r" % (" ".join(args), mention),
                bad_flag(args, mention))
    t_port_in_use(tap)
    tap.done()


if __name__ == "__main__":
    main()
