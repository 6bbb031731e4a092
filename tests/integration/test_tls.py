"""HTTPS and wss:// (--tls-cert/--tls-key) with a self-signed certificate the
openssl CLI makes here, in a temporary folder (subjectAltName IP:127.0.0.1
and DNS:localhost): the curl CLI (--cacert) on every HTTP endpoint and
transport, curl without --cacert refused, plain HTTP on the HTTPS port
refused without harm to others, python3-websockets over wss:// (order,
publishing, a too-large message closed with 1009), slow consumers and
heartbeats over TLS, graceful shutdown, pushpull-client on the four
transports with --cacert and --insecure (nothing lost) and without either
(a clear error, no hang), and the server's flag errors (exit 2)."""

import asyncio
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import tempfile
import time

import websockets

from harness import (Tap, Server, BgCurl, CurlStream, WsClient, curl, run_cli, run_client, parse_sse,
                     check, check_eq, check_sequence, wait_until, T, HOST)

TMP = tempfile.mkdtemp(prefix="pptls-")
CERT, KEY = os.path.join(TMP, "cert.pem"), os.path.join(TMP, "key.pem")
OTHER_CERT, OTHER_KEY = os.path.join(TMP, "other.pem"), os.path.join(TMP, "other-key.pem")
CA = ["--cacert", CERT]


def make_cert(cert, key):
    """A P-256 self-signed certificate for 127.0.0.1 and localhost, 2 days."""
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=pushpull test",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                       capture_output=True, timeout=30)
    check(p.returncode == 0, "openssl req failed: %s" % p.stderr.decode(errors="replace")[-500:])


def ssl_context():
    ctx = ssl.create_default_context(cafile=CERT)
    return ctx


def https_stats(srv):
    r = curl(srv.url("/stats"), extra=CA)
    check(r.status == 200, "/stats over https: %r (curl: %s)" % (r, r.stderr.strip()))
    return r.json()


def https_publish(srv, ch, body):
    r = curl(srv.url("/pub/" + ch), data=body.encode(), extra=CA)
    check(r.status == 200, "publish over https: %r (curl: %s)" % (r, r.stderr.strip()))
    return r.json()["id"]


def messages(ws):
    """What a WsClient got that is a message (the hello has no id)."""
    return [m for m in ws.msgs if isinstance(m, dict) and "id" in m]


# ------------------------------------------------------------- flags

def t_flags():
    with open(os.path.join(TMP, "garbage.pem"), "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    garbage = os.path.join(TMP, "garbage.pem")
    cases = [
        (["--tls-cert", CERT], "--tls-key"),
        (["--tls-key", KEY], "--tls-cert"),
        (["--tls-cert", os.path.join(TMP, "missing.pem"), "--tls-key", KEY], "cannot read"),
        (["--tls-cert", TMP, "--tls-key", KEY], "not a regular file"),
        (["--tls-cert", garbage, "--tls-key", KEY], "no PEM certificate"),
        (["--tls-cert", CERT, "--tls-key", garbage], "no PEM private key"),
        (["--tls-cert", CERT, "--tls-key", CERT], "no PEM private key"),
        (["--tls-cert", CERT, "--tls-key", OTHER_KEY], "is not the key of the certificate"),
    ]
    for args, want in cases:
        rc, out, err = run_cli(["--port", "0"] + args)
        check(rc == 2 and want in err and "listening" not in out,
              "%r: exit %s, want 2 with %r; stderr %r stdout %r" % (args, rc, want, err[-300:], out[-200:]))
    rc, out, _ = run_cli(["--help"])
    check(rc == 0 and "--tls-cert" in out and "--tls-key" in out, "--help names --tls-cert and --tls-key")


# ------------------------------------------------------------- curl

def t_banner(srv):
    check(srv.first_line.decode().startswith("listening on https://127.0.0.1:"),
          "first line %r" % srv.first_line)
    check_eq(https_stats(srv).get("tls"), True, "/stats tls")


def t_curl_endpoints(srv):
    r = curl(srv.url("/healthz"), extra=CA)
    check(r.status == 200 and r.body.strip() == b"ok", "/healthz over https: %r %s" % (r, r.stderr))
    r = curl("https://localhost:%d/healthz" % srv.port, extra=CA)
    check(r.status == 200, "https://localhost (the DNS name in the certificate): %r %s" % (r, r.stderr))
    ids = [https_publish(srv, "tc", "m%d" % i) for i in range(1, 4)]
    check_eq(ids, [1, 2, 3], "ids of three POST /pub over https")
    r = curl(srv.url("/poll/tc?since=0"), extra=CA)
    check(r.status == 200, "/poll over https: %r" % r)
    check_sequence(r.json()["messages"], [1, 2, 3], {1: "m1", 2: "m2", 3: "m3"}, "poll over https")
    lp = BgCurl(srv.url("/longpoll/tc?since=3&timeout=10"), extra=CA)
    time.sleep(0.3)
    check(not lp.done(), "long poll over https answered before a message: %r" % lp.result)
    https_publish(srv, "tc", "m4")
    r = lp.join(T(10))
    check(r.status == 200, "long poll over https: %r %s" % (r, r.stderr))
    check_sequence(r.json()["messages"], [4], {4: "m4"}, "long poll over https")


def t_curl_sse(srv):
    s = CurlStream(srv.url("/sse/tsse?since=0"), max_time=20, extra=CA)
    try:
        s.wait(lambda st: any(ln.startswith("retry:") for ln in st.lines), T(10), "retry: line")
        check_eq(s.status, 200, "SSE over https status")
        for i in range(1, 6):
            https_publish(srv, "tsse", "s%d" % i)

        def got(st):
            evs = [e for e in parse_sse(st.lines) if "id" in e]
            return evs if len(evs) >= 5 else None
        evs = s.wait(got, T(10), "5 SSE events over https")
        msgs = [json.loads(e["data"]) for e in evs]
        check_sequence(msgs, [1, 2, 3, 4, 5], {i: "s%d" % i for i in range(1, 6)}, "SSE over https")
    finally:
        s.proc.kill()


def t_curl_unverified(srv):
    r = curl(srv.url("/healthz"))
    check(r.rc == 60 and r.status is None, "curl without --cacert: rc %s (want 60), status %s, %s"
          % (r.rc, r.status, r.stderr.strip()))
    r = curl(srv.url("/healthz"), extra=["--cacert", OTHER_CERT])
    check(r.rc == 60, "curl trusting another certificate: rc %s (want 60) %s" % (r.rc, r.stderr.strip()))


def t_plain_http(srv):
    """Plain HTTP to the HTTPS port: refused (no answer, the connection
    closes), while another client's stream goes on."""
    s = CurlStream(srv.url("/sse/tplain"), max_time=20, extra=CA)
    try:
        s.wait(lambda st: any(ln.startswith("retry:") for ln in st.lines), T(10), "retry: line")
        r = curl("http://%s:%d/healthz" % (HOST, srv.port), timeout=10)
        check(r.rc != 0 and r.status is None and r.elapsed < T(8),
              "http:// to the https port: rc %s status %s after %.1fs" % (r.rc, r.status, r.elapsed))
        sock = socket.create_connection((HOST, srv.port), timeout=T(5))
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(T(5))
        try:
            data = sock.recv(4096)
        except (ConnectionResetError, TimeoutError):
            data = b""
        sock.close()
        check(not data.startswith(b"HTTP/"), "a plain request got an HTTP answer: %r" % data[:100])
        https_publish(srv, "tplain", "still here")
        s.wait(lambda st: any("still here" in ln for ln in st.lines), T(10), "the SSE stream's next message")
        check(curl(srv.url("/healthz"), extra=CA).status == 200, "healthz after the plain requests")
    finally:
        s.proc.kill()


def t_tls_version(srv):
    with socket.create_connection((HOST, srv.port), timeout=T(5)) as raw:
        with ssl_context().wrap_socket(raw, server_hostname="127.0.0.1") as s:
            check_eq(s.version(), "TLSv1.3", "negotiated version")
    ctx = ssl_context()
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection((HOST, srv.port), timeout=T(5)) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            check_eq(s.version(), "TLSv1.2", "TLS 1.2 still accepted")


# ------------------------------------------------------------- wss

def t_wss(srv):
    ws = WsClient(srv.ws_url("/ws/twss?since=0"), ssl=ssl_context())
    try:
        check(srv.ws_url("").startswith("wss://"), "ws_url %r" % srv.ws_url(""))
        wait_until(lambda: ws.hellos, T(5), what="the hello frame over wss")
        for i in range(1, 21):
            https_publish(srv, "twss", "w%d" % i)
        ws.wait(lambda ms: len([m for m in ms if "id" in m]) >= 20, 10, "20 messages over wss")
        check_sequence(messages(ws), range(1, 21), {i: "w%d" % i for i in range(1, 21)}, "wss messages")
        ws.send("from a wss text frame")
        ws.wait(lambda ms: len([m for m in ms if "id" in m]) >= 21, 10, "the frame's own message")
        check_eq(messages(ws)[20]["data"], "from a wss text frame", "published by a text frame")
        r = curl(srv.url("/poll/twss?since=20"), extra=CA)
        check_eq([m["data"] for m in r.json()["messages"]], ["from a wss text frame"], "poll sees it")
        check(ws.ping(5), "ping over wss answered")
        big = "x" * 40000            # several TLS records each way
        ws.send(big)
        ws.wait(lambda ms: len([m for m in ms if "id" in m]) >= 22, 10, "a 40 kB message back")
        check_eq(messages(ws)[21]["data"], big, "40 kB message round trip")
    finally:
        ws.shutdown()


def t_wss_too_big(srv):
    async def go():
        async with websockets.connect(srv.ws_url("/ws/tbig"), ssl=ssl_context(), max_size=None,
                                      open_timeout=T(10), close_timeout=T(5)) as ws:
            await ws.send("y" * 70000)           # --max-message is 64 KiB
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), T(10))
            except websockets.ConnectionClosed:
                return ws.close_code
    code = asyncio.run(go())
    check_eq(code, 1009, "close code for a 70 kB message over wss")


# ------------------------------------- slow consumers, heartbeats, shutdown

def tls_raw(port, request, rcvbuf=None):
    """A TLS socket that sent `request` and read the answer's head."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    raw.settimeout(T(10))
    raw.connect((HOST, port))
    s = ssl_context().wrap_socket(raw, server_hostname="127.0.0.1")
    s.sendall(request)
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(1)
        check(b, "connection closed before the answer's head: %r" % head)
        head += b
    return s, head


def t_slow_consumers():
    """A wss subscriber and an SSE stream that never read are dropped at
    --max-queue; a fast wss subscriber still gets every message."""
    with Server(TAP, "--tls-cert", CERT, "--tls-key", KEY, "--max-queue", "64KiB", "--quiet",
                label="[tls, --max-queue 64KiB]") as srv:
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        slow_ws, head = tls_raw(srv.port, ("GET /ws/tslow HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                                           "Sec-WebSocket-Version: 13\r\n\r\n" % key).encode(), 4096)
        check(head.startswith(b"HTTP/1.1 101"), "slow wss upgrade: %r" % head[:80])
        slow_sse, head = tls_raw(srv.port, b"GET /sse/tslow HTTP/1.1\r\nHost: x\r\n\r\n", 4096)
        check(head.startswith(b"HTTP/1.1 200"), "slow SSE: %r" % head[:80])
        fast = WsClient(srv.ws_url("/ws/tslow"), ssl=ssl_context(), max_size=1 << 20)
        try:
            wait_until(lambda: (lambda c: c["ws"] == 2 and c["sse"] == 1)(https_stats(srv)["connections"]),
                       T(10), what="2 wss and 1 SSE subscribers")
            ctx = ssl_context()
            pub = http.client.HTTPSConnection(HOST, srv.port, timeout=T(30), context=ctx)
            n = 100
            for i in range(1, n + 1):
                pub.request("POST", "/pub/tslow", body=("%03d" % i + "z" * 64000).encode())
                r = pub.getresponse()
                r.read()
                check_eq(r.status, 200, "publish %d" % i)
            pub.close()
            fast.wait(lambda ms: len([m for m in ms if "id" in m]) >= n, 20, "%d messages, fast" % n)
            check_eq([m["id"] for m in messages(fast)], list(range(1, n + 1)), "fast subscriber ids")
            # The slow WebSocket's close frame cannot get out: it goes after the 1 s close grace.
            wait_until(lambda: (lambda s: s["slow_consumers_dropped"] >= 2 and s["connections"]["ws"] == 1
                                and s["connections"]["sse"] == 0)(https_stats(srv)),
                       T(10), what="slow_consumers_dropped >= 2, 1 WebSocket and no SSE stream left",
                       show=lambda: https_stats(srv))
        finally:
            fast.shutdown()
            slow_ws.close()
            slow_sse.close()


def t_heartbeat_shutdown():
    """--heartbeat 200ms: SSE comments arrive and a wss subscriber that
    answers pings (through MHD's forwarding) stays open past 2.5 periods;
    SIGTERM then closes it with 1001, ends the stream, exits 0."""
    srv = Server(TAP, "--tls-cert", CERT, "--tls-key", KEY, "--heartbeat", "200ms", "--quiet",
                 label="[tls, --heartbeat 200ms]").start()
    sse = CurlStream(srv.url("/sse/thb"), max_time=30, extra=CA)
    ws = WsClient(srv.ws_url("/ws/thb"), ssl=ssl_context())
    try:
        sse.wait(lambda st: sum(1 for ln in st.lines if ln.startswith(":")) >= 3, T(5), "3 heartbeat comments")
        time.sleep(1.0)
        check(not ws.closed, "wss subscriber closed after 1 s of 200 ms heartbeats (%s)" % ws.close_code)
        https_publish(srv, "thb", "after the pings")
        ws.wait(lambda ms: any(m.get("data") == "after the pings" for m in ms if isinstance(m, dict)),
                5, "a message after the pings")
        t0 = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        check(ws.wait_closed(5), "wss not closed after SIGTERM")
        check_eq(ws.close_code, 1001, "close code on shutdown over wss")
        check(sse.wait_eof(T(5)), "SSE stream over https not ended after SIGTERM")
        rc = srv.wait(T(5))
        check(rc == 0 and time.monotonic() - t0 < T(2.5), "exit %s after %.2fs" % (rc, time.monotonic() - t0))
    finally:
        ws.shutdown()
        sse.proc.kill()
        srv.kill()


# ------------------------------------------------------------- client

WORKLOAD = ["--subscribers", 5, "--rate", 100, "--duration", "1s", "--warmup", "500ms",
            "--drain", "2s", "--quiet"]


def check_lossless(res, transports):
    check(res.rc == 0 and not res.timed_out, res.describe())
    for t in transports:
        r = res.run(t)
        d = r["delivery"]
        what = "%s over https" % t
        check_eq(r["status"], "ok", what + " status")
        check_eq(d["lost"], 0, what + " lost")
        check_eq(d["duplicates"], 0, what + " duplicates")
        check_eq(d["expected"], d["published"] * 5, what + " expected = published x 5")
        check_eq(d["delivered"], d["expected"], what + " delivered = expected")
        check(d["published"] >= 90, what + ": %d measured publishes" % d["published"])


def t_client_cacert(srv):
    res = run_client(["--url", srv.url(""), "--transport", "all"] + CA + WORKLOAD, 60)
    check_lossless(res, ("poll", "longpoll", "sse", "ws"))
    cfg, man = res.doc["config"], res.doc["manifest"]
    check(cfg["tls"] is True and cfg["cacert"] == CERT and cfg["insecure"] is False, "config %r" % cfg)
    check(isinstance(man.get("tls"), str) and man["tls"].startswith("TLSv1.3 "), "manifest tls %r" % man.get("tls"))
    check("warning" not in res.stderr, "stderr %r" % res.stderr)


def t_client_no_keepalive(srv):
    res = run_client(["--url", srv.url(""), "--transport", "poll", "--no-keepalive"] + CA + WORKLOAD, 30)
    check_lossless(res, ("poll",))
    c = res.run("poll")["cost"]
    check(c["requests"] > 0 and c["connections_opened"] == c["requests"],
          "--no-keepalive over https: %d connections for %d requests" % (c["connections_opened"], c["requests"]))


def t_client_insecure(srv):
    res = run_client(["--url", srv.url(""), "--transport", "sse,ws", "--insecure"] + WORKLOAD, 30)
    check_lossless(res, ("sse", "ws"))
    check("warning: --insecure" in res.stderr, "no --insecure warning: %r" % res.stderr)
    check_eq(res.doc["config"]["insecure"], True, "config insecure")


def t_client_unverified(srv):
    for extra, what in (([], "no --cacert"), (["--cacert", OTHER_CERT], "another certificate")):
        res = run_client(["--url", srv.url(""), "--transport", "ws"] + extra + WORKLOAD, 20)
        check(res.rc == 1 and not res.timed_out and res.elapsed < T(10), "%s: %s" % (what, res.describe()))
        check("certificate" in res.stderr and "--cacert" in res.stderr,
              "%s: the error names neither the certificate nor --cacert: %r" % (what, res.stderr))
    res = run_client(["--url", srv.url(""), "--cacert", CERT, "--insecure"] + WORKLOAD, 20)
    check(res.rc == 2, "--cacert with --insecure: exit %s (want 2)" % res.rc)
    res = run_client(["--url", srv.url(""), "--cacert", os.path.join(TMP, "missing.pem")] + WORKLOAD, 20)
    check(res.rc == 2 and "cannot read" in res.stderr, "--cacert missing file: %s" % res.describe())


TAP = None


def main():
    global TAP
    tap = TAP = Tap(__file__, watchdog_s=150)
    if not tap.run("openssl CLI makes two self-signed certificates (IP:127.0.0.1, DNS:localhost)",
                   lambda: (make_cert(CERT, KEY), make_cert(OTHER_CERT, OTHER_KEY))):
        tap.done()
    tap.run("flag errors: one of --tls-cert/--tls-key, missing file, a folder, garbage PEM, a key of "
            "another certificate: exit 2 with a message", t_flags)
    with Server(tap, "--tls-cert", CERT, "--tls-key", KEY, label="[tls]") as srv:
        tap.run("banner says https://, /stats says tls", t_banner, srv)
        tap.run("curl --cacert: /healthz (IP and DNS name), POST /pub, /poll, /longpoll over https",
                t_curl_endpoints, srv)
        tap.run("curl --cacert: /sse over https delivers 5 messages in order", t_curl_sse, srv)
        tap.run("curl without --cacert, or trusting another certificate: verification fails (rc 60)",
                t_curl_unverified, srv)
        tap.run("plain HTTP to the https port: no answer, closed; another stream goes on", t_plain_http, srv)
        tap.run("TLS 1.3 negotiated, 1.2 accepted", t_tls_version, srv)
        tap.run("python3-websockets over wss://: hello, 20 messages in order, a text frame publishes, "
                "ping, a 40 kB message both ways", t_wss, srv)
        tap.run("wss://: a 70 kB message is closed with 1009", t_wss_too_big, srv)
        tap.run("pushpull-client --cacert, all four transports over https: lost 0, delivered = "
                "published x 5; config and manifest record TLS", t_client_cacert, srv)
        tap.run("pushpull-client poll --no-keepalive over https: a TLS connection per request, lost 0",
                t_client_no_keepalive, srv)
        tap.run("pushpull-client --insecure (sse, ws): lost 0, a warning on stderr", t_client_insecure, srv)
        tap.run("pushpull-client without --cacert or with another certificate: exit 1 at once, the error "
                "names the certificate and --cacert; flag errors exit 2", t_client_unverified, srv)
    tap.run("slow wss and SSE subscribers over TLS are dropped at --max-queue, a fast one gets all",
            t_slow_consumers)
    tap.run("over TLS: heartbeats (SSE comments, WebSocket pings answered), SIGTERM closes wss with "
            "1001, ends SSE, exit 0", t_heartbeat_shutdown)
    tap.done()


if __name__ == "__main__":
    try:
        main()
    finally:
        import shutil
        shutil.rmtree(TMP, ignore_errors=True)
