/* WebSocket subscriber: one connection to the dialect's URL (pushpull:
 * /ws/<ch>?since=<cursor>&epoch=E); the dialect reads each text frame
 * (pushpull: an envelope or a hello, reset or gap object). On any end it
 * reconnects with backoff and resumes from its cursor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dialect.h"
#include "subscriber.h"
#include "wsconn.h"

struct ws_sub {
    struct subscriber *s;
    struct wsconn *conn;
};

static void on_open(struct wsconn *c, void *ud)
{
    (void)c;
    struct ws_sub *ws = ud;
    subscriber_up(ws->s);
}

static void on_text(struct wsconn *c, const char *text, size_t len, void *ud)
{
    struct ws_sub *ws = ud;
    ws->s->rx_us = wsconn_rx_us(c);
    /* A bad message is counted there; the frames around it are intact, so
     * the connection goes on. */
    (void)dialect_of(ws->s->run->cfg)->ws_text(ws->s, text, len);
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

static int ws_connect(struct ws_sub *ws)
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
    if (!ws || !ws->conn)
        return;
    /* No close frame: the server sees what a lost network looks like. */
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
    free(ws);
    s->impl = NULL;
    s->send = NULL;
}

const struct transport_ops ws_ops = { ws_start, ws_drop, ws_stop };
