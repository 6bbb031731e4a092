/* WebSocket subscriber: one connection to the dialect's URL (pushpull:
 * /ws/<ch>?since=<cursor>&epoch=E); the dialect reads each text frame
 * (pushpull: an envelope or a hello, reset or gap object). On any end it
 * reconnects with backoff and resumes from its cursor. A dialect whose
 * WebSocket upgrades a polling session (dialect.ws_after_poll: socket.io
 * with --socketio-upgrade) gets that session's handshake first, one poll
 * request through the poller, and the WebSocket after its answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dialect.h"
#include "poller.h"
#include "subscriber.h"
#include "wsconn.h"

struct ws_sub {
    struct poller p;                  /* first: poller calls back with it; p.s
                                         is NULL until a handshake needs it */
    struct subscriber *s;
    struct wsconn *conn;
};

/* The dialect gave up on this connection (it counted why): a new session
 * after the backoff. From a wsconn callback, so freeing only marks it. */
static void ws_fail(struct ws_sub *ws)
{
    wsconn_close(ws->conn, 1002);
    wsconn_free(ws->conn);
    ws->conn = NULL;
    subscriber_retry(ws->s);
}

static void on_open(struct wsconn *c, void *ud)
{
    (void)c;
    struct ws_sub *ws = ud;
    const struct dialect *d = dialect_of(ws->s->run->cfg);
    subscriber_up(ws->s);
    if (d->ws_opened && d->ws_opened(ws->s) != 0)
        ws_fail(ws);
}

static void on_text(struct wsconn *c, const char *text, size_t len, void *ud)
{
    struct ws_sub *ws = ud;
    ws->s->rx_us = wsconn_rx_us(c);
    /* A bad message is counted there; the frames around it are intact, so
     * the connection goes on, unless the dialect says its session cannot. */
    if (dialect_of(ws->s->run->cfg)->ws_text(ws->s, text, len) == DIALECT_WS_END)
        ws_fail(ws);
}

static void on_close(struct wsconn *c, int code, const char *why, void *ud)
{
    (void)why;
    struct ws_sub *ws = ud;
    if (code == WSCONN_ERR_PROTOCOL)
        ws->s->run->cost.protocol_errors++;
    wsconn_free(c);
    ws->conn = NULL;
    subscriber_retry(ws->s);          /* it does nothing once stopping */
}

static const struct wsconn_cb ws_callbacks = { on_open, on_text, on_close };

/* curl's header list as request lines, each ending in CRLF. */
static void header_lines(const struct curl_slist *h, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (; h && n < cap; h = h->next)
        n += (size_t)snprintf(buf + n, cap - n, "%s\r\n", h->data);
}

static int ws_open(struct ws_sub *ws)
{
    struct subscriber *s = ws->s;
    const struct dialect *d = dialect_of(s->run->cfg);
    char url[640], headers[512];
    struct curl_slist *list = NULL;
    int rc = d->request(s, TR_WS, !s->track.connected, url, sizeof url, &list);
    header_lines(list, headers, sizeof headers);
    curl_slist_free_all(list);
    if (rc != 0)
        return -1;
    ws->conn = wsconn_open_with(s->run->base, url, headers, d->ws_protocol,
                                s->run->cfg->connect_timeout_us, &ws_callbacks, ws,
                                &s->run->cost);
    return ws->conn ? 0 : -1;
}

/* The handshake's answer has been through the dialect's poll_answer (and
 * counted: a request, its bytes); a failed one is retried by the poller. */
static void on_handshake(struct poller *p, bool ok, bool empty)
{
    (void)empty;
    struct ws_sub *ws = (struct ws_sub *)p;
    struct subscriber *s = ws->s;
    if (!ok || s->stopping)
        return;
    if (dialect_of(s->run->cfg)->ws_after_poll(s)) {
        s->run->cost.protocol_errors++;   /* an answer that opened no session */
        subscriber_retry(s);
    } else if (ws_open(ws) != 0) {
        subscriber_retry(s);
    }
}

/* A handshake request is answered at once: it has the deadline of the
 * client's other one-shot requests (the outbox's POSTs). */
static int ws_handshake(struct ws_sub *ws)
{
    struct subscriber *s = ws->s;
    if (!ws->p.s) {
        if (poller_init(&ws->p, s, on_handshake) != 0)
            return -1;
        ws->p.handshake = true;
    }
    return poller_request(&ws->p, TR_LONGPOLL,
                          (long)(s->run->cfg->connect_timeout_us / 1000) + 5000);
}

static int ws_connect(struct ws_sub *ws)
{
    const struct dialect *d = dialect_of(ws->s->run->cfg);
    if (d->ws_after_poll && d->ws_after_poll(ws->s))
        return ws_handshake(ws);
    return ws_open(ws);
}

/* The dialect's packets to the server (socket.io's CONNECT, pongs). */
static int ws_send(struct subscriber *s, const char *data, size_t len)
{
    struct ws_sub *ws = s->impl;
    return ws && ws->conn ? wsconn_send_text(ws->conn, data, len) : -1;
}

static int ws_start(struct subscriber *s)
{
    struct ws_sub *ws = s->impl;
    if (!ws) {
        ws = calloc(1, sizeof *ws);
        if (!ws)
            return -1;
        ws->s = s;
        s->impl = ws;
        s->send = ws_send;
    }
    return ws_connect(ws);
}

static void ws_drop(struct subscriber *s)
{
    struct ws_sub *ws = s->impl;
    if (!ws || (!ws->conn && !ws->p.x.active))
        return;
    /* No close frame: the server sees what a lost network looks like. A
     * handshake in flight is abandoned with its connection. */
    if (ws->p.x.active) {
        poller_cancel(&ws->p);
        ws->p.fresh = true;
    }
    wsconn_free(ws->conn);
    ws->conn = NULL;
    subscriber_dropped(s);
    if (ws_connect(ws) != 0)
        subscriber_retry(s);
}

static void ws_stop(struct subscriber *s)
{
    struct ws_sub *ws = s->impl;
    if (!ws)
        return;
    if (ws->conn) {
        wsconn_close(ws->conn, 1000);
        wsconn_free(ws->conn);
    }
    if (ws->p.s)
        poller_free(&ws->p);
    free(ws);
    s->impl = NULL;
    s->send = NULL;
}

const struct transport_ops ws_ops = { ws_start, ws_drop, ws_stop };
