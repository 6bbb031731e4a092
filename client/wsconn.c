/* Client WebSocket: libcurl connects, the upgrade is done by hand, wslay
 * frames. Every libevent handler is an "entry": it holds the connection
 * (depth) so that a callback may call wsconn_free, which then only marks it
 * dead; the outermost entry frees it on the way out. One thread only: the
 * connections of a base share one multi handle (below). */
#include "wsconn.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wslay/wslay.h>

#include "https.h"
#include "run.h"
#include "sendhold.h"
#include "wshandshake.h"

/* The largest message accepted: a --max-message payload, escaped, framed
 * (the same bound as the SSE subscriber's). */
#define WSCONN_MESSAGE_MAX (8u << 20)
#define WSCONN_CLOSE_GRACE_US 1000000
#define WSCONN_DEFAULT_TIMEOUT_US 300000000u
#define WSCONN_MAXAGE_S (7L * 24 * 3600)

/* ---- the connector ------------------------------------------------------
 * A CONNECT_ONLY connection lives only while its easy handle stays in the
 * multi that made it: libcurl 7.88's curl_multi_remove_handle closes it,
 * and an ordinary transfer on the same multi prunes it from the cache as
 * too old (CURLOPT_MAXAGE_CONN) or dead (unread input). So the subscribers'
 * pool (struct loop) cannot hold them; they get multis of their own. Each
 * multi is shared by up to WSCONN_PER_MULTI WebSockets: a multi costs a
 * socketpair, but curl_easy_recv/send find their connection by walking the
 * multi's whole connection cache (7.88's Curl_getconnectinfo), so one multi
 * for 10 000 WebSockets made every read O(10 000): 5 000 deliveries/s
 * fell seconds behind. */
#define WSCONN_PER_MULTI 64

struct connector {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    unsigned refs;
    struct connector *next;
};

/* Per thread: the publisher's loop runs on a thread of its own. */
static _Thread_local struct connector *connectors;

enum ws_state { WS_CONNECTING, WS_SEND_REQUEST, WS_READ_ANSWER, WS_OPEN, WS_CLOSED };

struct wsconn {
    struct event_base *base;
    struct connector *k;
    CURL *easy;
    struct event *rev, *wev, *timer;
    bool wev_on;
    wslay_event_context_ptr ctx;
    enum ws_state state;
    struct wsconn_cb cb;
    void *ud;
    struct cost *cost;
    char key[WS_KEY_LEN + 1];
    char *protocol;                   /* Sec-WebSocket-Protocol asked for, or NULL */
    /* The request being sent, then the answer being read; once open, the
     * frame bytes that came with the answer, fed to wslay first. */
    char *buf;
    size_t len, off;
    struct send_hold hold;            /* a frame header waiting for its payload */
    unsigned depth;                   /* entries running */
    bool dead;                        /* freed by the owner during an entry */
    bool broken;                      /* a send failed outside an entry */
    bool close_requested;
    uint64_t rx_us;                   /* the last read's time */
    char why[48];
};

static void entry_begin(struct wsconn *c);
static void entry_end(struct wsconn *c);
static void on_connected(struct wsconn *c, CURLcode result);

static void connector_check(struct connector *k)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(k->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURLcode result = msg->data.result;
        struct wsconn *c = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        /* The handle stays in the multi: removing it would close it. */
        entry_begin(c);
        on_connected(c, result);
        entry_end(c);
    }
}

static void connector_unref(struct connector *k)
{
    if (--k->refs > 0)
        return;
    for (struct connector **p = &connectors; *p; p = &(*p)->next) {
        if (*p == k) {
            *p = k->next;
            break;
        }
    }
    curl_multi_cleanup(k->multi);
    event_free(k->timer);
    free(k);
}

static void connector_on_socket(evutil_socket_t fd, short what, void *arg)
{
    struct connector *k = arg;
    int flags = ((what & EV_READ) ? CURL_CSELECT_IN : 0) |
                ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int running;
    k->refs++;                        /* a callback may drop the last user */
    curl_multi_socket_action(k->multi, fd, flags, &running);
    connector_check(k);
    connector_unref(k);
}

static void connector_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct connector *k = arg;
    int running;
    k->refs++;
    curl_multi_socket_action(k->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    connector_check(k);
    connector_unref(k);
}

static int connector_timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
    (void)multi;
    struct connector *k = arg;
    if (timeout_ms < 0) {
        evtimer_del(k->timer);
        return 0;
    }
    /* 0 means "now": still go through the loop, never recurse into curl. */
    struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
    return evtimer_add(k->timer, &tv);
}

/* One libevent event per socket libcurl watches while connecting. */
static int connector_socket_cb(CURL *easy, curl_socket_t s, int what, void *arg, void *sockp)
{
    (void)easy;
    struct connector *k = arg;
    struct event *ev = sockp;
    if (ev)
        event_free(ev);
    curl_multi_assign(k->multi, s, NULL);
    if (what == CURL_POLL_REMOVE)
        return 0;
    short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
                 ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    ev = event_new(k->base, s, kind, connector_on_socket, k);
    if (!ev || event_add(ev, NULL) != 0) {
        if (ev)
            event_free(ev);
        return -1;
    }
    curl_multi_assign(k->multi, s, ev);
    return 0;
}

/* A connector of `base` with room for one more WebSocket, with one more
 * reference. */
static struct connector *connector_get(struct event_base *base)
{
    for (struct connector *k = connectors; k; k = k->next) {
        if (k->base == base && k->refs < WSCONN_PER_MULTI) {
            k->refs++;
            return k;
        }
    }
    struct connector *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    k->base = base;
    k->multi = curl_multi_init();
    k->timer = evtimer_new(base, connector_on_timer, k);
    if (!k->multi || !k->timer) {
        if (k->multi)
            curl_multi_cleanup(k->multi);
        if (k->timer)
            event_free(k->timer);
        free(k);
        return NULL;
    }
    curl_multi_setopt(k->multi, CURLMOPT_SOCKETFUNCTION, connector_socket_cb);
    curl_multi_setopt(k->multi, CURLMOPT_SOCKETDATA, k);
    curl_multi_setopt(k->multi, CURLMOPT_TIMERFUNCTION, connector_timer_cb);
    curl_multi_setopt(k->multi, CURLMOPT_TIMERDATA, k);
    k->refs = 1;
    k->next = connectors;
    connectors = k;
    return k;
}

/* ---- teardown ---------------------------------------------------------- */

static void event_release(struct event **ev)
{
    if (*ev) {
        event_free(*ev);
        *ev = NULL;
    }
}

/* The handshake buffer (8 KiB) is not kept for the connection's life. */
static void drop_buffer(struct wsconn *c)
{
    free(c->buf);
    c->buf = NULL;
    c->off = c->len = 0;
}

/* Give back the socket, the codec and the timers; the struct stays. */
static void release(struct wsconn *c)
{
    event_release(&c->rev);
    event_release(&c->wev);
    event_release(&c->timer);
    if (c->ctx) {
        wslay_event_context_free(c->ctx);
        c->ctx = NULL;
    }
    if (c->easy) {
        curl_multi_remove_handle(c->k->multi, c->easy);   /* closes the socket */
        curl_easy_cleanup(c->easy);
        c->easy = NULL;
    }
    if (c->k) {
        connector_unref(c->k);
        c->k = NULL;
    }
    drop_buffer(c);
}

static void destroy(struct wsconn *c)
{
    /* An owner that closed first gets its close frame out if it fits now. */
    if (c->state == WS_OPEN && c->close_requested)
        (void)wslay_event_send(c->ctx);
    release(c);
    free(c->protocol);
    free(c);
}

static void entry_begin(struct wsconn *c)
{
    c->depth++;
}

static void entry_end(struct wsconn *c)
{
    if (--c->depth == 0 && c->dead)
        destroy(c);
}

/* The end: report it once. Only from an entry, never inside wslay. */
static void finish(struct wsconn *c, int code, const char *why)
{
    if (c->state == WS_CLOSED)
        return;
    c->state = WS_CLOSED;
    release(c);
    if (c->cb.on_close && !c->dead)
        c->cb.on_close(c, code, why, c->ud);
}

/* ---- wslay callbacks --------------------------------------------------- */

static ssize_t on_wslay_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                             int flags, void *ud)
{
    (void)flags;
    struct wsconn *c = ud;
    if (c->dead) {                    /* freed from on_text: stop reading */
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    if (c->buf) {                     /* frames that came with the 101 */
        size_t n = c->len - c->off < len ? c->len - c->off : len;
        memcpy(buf, c->buf + c->off, n);
        c->off += n;
        if (c->off == c->len)
            drop_buffer(c);
        return (ssize_t)n;
    }
    size_t n = 0;
    CURLcode rc = curl_easy_recv(c->easy, buf, len, &n);
    if (rc == CURLE_AGAIN) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (rc != CURLE_OK || n == 0) {   /* n == 0: EOF */
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    c->rx_us = run_now_us();
    if (c->cost)
        c->cost->bytes_rx += n;
    return (ssize_t)n;
}

/* curl_easy_send: how many bytes went (0: it would block), -1 on failure. */
static ssize_t curl_write(void *ud, const uint8_t *p, size_t len)
{
    struct wsconn *c = ud;
    size_t n = 0;
    CURLcode rc = curl_easy_send(c->easy, p, len, &n);
    if (rc != CURLE_OK && rc != CURLE_AGAIN)
        return -1;
    if (c->cost)
        c->cost->bytes_tx += n;
    return (ssize_t)n;
}

static ssize_t on_wslay_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
                             int flags, void *ud)
{
    /* libcurl has no MSG_MORE: the header waits for its payload (one
     * segment, one TLS record per frame, not two). */
    ssize_t n = send_hold_send(&((struct wsconn *)ud)->hold, data, len,
                               (flags & WSLAY_MSG_MORE) != 0, curl_write, ud);
    if (n > 0)
        return n;
    /* 0: none of `data` went; wslay offers it again when writable */
    wslay_event_set_error(ctx, n == 0 ? WSLAY_ERR_WOULDBLOCK : WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static int on_wslay_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *ud)
{
    (void)ud;
    if (RAND_bytes(buf, (int)len) != 1) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return 0;
}

static void on_wslay_msg(wslay_event_context_ptr ctx,
                         const struct wslay_event_on_msg_recv_arg *arg, void *ud)
{
    (void)ctx;
    struct wsconn *c = ud;
    /* wslay answers pings and closes itself; binary is not our protocol. */
    if (arg->opcode == WSLAY_TEXT_FRAME && c->cb.on_text && !c->dead)
        c->cb.on_text(c, (const char *)arg->msg, arg->msg_length, c->ud);
}

static const struct wslay_event_callbacks wslay_callbacks = {
    .recv_callback = on_wslay_recv,
    .send_callback = on_wslay_send,
    .genmask_callback = on_wslay_genmask,
    .on_msg_recv_callback = on_wslay_msg,
};

/* ---- open connection --------------------------------------------------- */

static void want_write(struct wsconn *c, bool on)
{
    if (on == c->wev_on)
        return;
    c->wev_on = on;
    if (on)
        event_add(c->wev, NULL);
    else
        event_del(c->wev);
}

static void arm_timer(struct wsconn *c, uint64_t us)
{
    struct timeval tv = { .tv_sec = (time_t)(us / 1000000u), .tv_usec = (suseconds_t)(us % 1000000u) };
    evtimer_add(c->timer, &tv);
}

/* wslay stops reading when the peer's close arrives, or after a protocol
 * error in its frames (then it queues a close frame of its own). */
static bool protocol_failed(struct wsconn *c)
{
    return !wslay_event_get_read_enabled(c->ctx) && !wslay_event_get_close_received(c->ctx);
}

/* The close handshake is over, or a protocol error's close frame is out. */
static void finish_closed(struct wsconn *c)
{
    if (!protocol_failed(c)) {
        finish(c, wslay_event_get_status_code_received(c->ctx), "closed");
        return;
    }
    snprintf(c->why, sizeof c->why, "protocol error (sent close %u)",
             (unsigned)wslay_event_get_status_code_sent(c->ctx));
    finish(c, WSCONN_ERR_PROTOCOL, c->why);
}

/* After any event of an open connection: write, then see whether it ended. */
static void service(struct wsconn *c)
{
    if (c->broken || (wslay_event_want_write(c->ctx) && wslay_event_send(c->ctx) != 0)) {
        finish(c, WSCONN_ERR_IO, "send failed");
        return;
    }
    want_write(c, wslay_event_want_write(c->ctx));
    if (!wslay_event_want_read(c->ctx) && !wslay_event_want_write(c->ctx)) {
        finish_closed(c);
        return;
    }
    /* A close under way (ours, or wslay's after a protocol error) must not
     * wait forever for the peer. */
    bool closing = c->close_requested || !wslay_event_want_read(c->ctx);
    if (closing && !evtimer_pending(c->timer, NULL))
        arm_timer(c, WSCONN_CLOSE_GRACE_US);
}

static void ws_read(struct wsconn *c)
{
    int rc = wslay_event_recv(c->ctx);
    if (c->dead)
        return;
    if (rc != 0) {
        finish(c, WSCONN_ERR_IO, "connection lost");
        return;
    }
    service(c);
}

/* Send what is queued now (no loop round trip), unless an entry is running:
 * it services the connection once its callback returns. Never calls back:
 * an error or an end goes through the write event. */
static void kick(struct wsconn *c)
{
    if (c->depth > 0)
        return;
    if (wslay_event_send(c->ctx) != 0)
        c->broken = true;
    if (c->broken || !wslay_event_want_read(c->ctx))
        event_active(c->wev, EV_WRITE, 0);
    else
        want_write(c, wslay_event_want_write(c->ctx));
}

/* ---- handshake --------------------------------------------------------- */

static void open_ws(struct wsconn *c)
{
    if (c->close_requested) {         /* the owner gave up while we connected */
        finish(c, WSCONN_ERR_IO, "closed before open");
        return;
    }
    if (c->off == c->len)
        drop_buffer(c);
    if (wslay_event_context_client_init(&c->ctx, &wslay_callbacks, c) != 0) {
        finish(c, WSCONN_ERR_IO, "out of memory");
        return;
    }
    wslay_event_config_set_max_recv_msg_length(c->ctx, WSCONN_MESSAGE_MAX);
    evtimer_del(c->timer);
    c->state = WS_OPEN;
    if (c->cb.on_open)
        c->cb.on_open(c, c->ud);
    if (!c->dead && c->state == WS_OPEN)
        ws_read(c);                   /* frames may have come with the 101 */
}

static void read_answer(struct wsconn *c)
{
    for (;;) {
        size_t n = 0;
        CURLcode rc = curl_easy_recv(c->easy, c->buf + c->len, WS_RESPONSE_MAX - c->len, &n);
        if (rc == CURLE_AGAIN)
            return;
        if (rc != CURLE_OK || n == 0) {
            finish(c, WSCONN_ERR_IO, "connection lost during the handshake");
            return;
        }
        c->rx_us = run_now_us();      /* frames may come with the 101 */
        if (c->cost)
            c->cost->bytes_rx += n;
        c->len += n;
        size_t used = 0;
        int r = ws_check_response_protocol(c->buf, c->len, c->key, c->protocol, &used);
        if (r < 0) {
            finish(c, WSCONN_ERR_PROTOCOL, "bad handshake answer");
            return;
        }
        if (r > 0) {
            c->off = used;
            open_ws(c);
            return;
        }
    }
}

static void send_request(struct wsconn *c)
{
    while (c->off < c->len) {
        size_t n = 0;
        CURLcode rc = curl_easy_send(c->easy, c->buf + c->off, c->len - c->off, &n);
        if (rc == CURLE_AGAIN) {
            want_write(c, true);
            return;
        }
        if (rc != CURLE_OK) {
            finish(c, WSCONN_ERR_IO, "handshake request failed");
            return;
        }
        if (c->cost)
            c->cost->bytes_tx += n;
        c->off += n;
    }
    if (c->cost)
        c->cost->requests++;
    /* The buffer now collects the answer; reading starts only now, or an
     * early EOF would keep a level-triggered read event firing. */
    c->off = c->len = 0;
    c->state = WS_READ_ANSWER;
    event_add(c->rev, NULL);
    read_answer(c);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct wsconn *c = arg;
    entry_begin(c);
    if (c->state == WS_READ_ANSWER)
        read_answer(c);
    else if (c->state == WS_OPEN)
        ws_read(c);
    entry_end(c);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct wsconn *c = arg;
    entry_begin(c);
    c->wev_on = false;                /* a one-shot event has fired */
    if (c->state == WS_SEND_REQUEST)
        send_request(c);
    else if (c->state == WS_OPEN)
        service(c);
    entry_end(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct wsconn *c = arg;
    entry_begin(c);
    if (c->state == WS_OPEN)
        finish(c, protocol_failed(c) ? WSCONN_ERR_PROTOCOL : WSCONN_ERR_IO,
               "close handshake timed out");
    else if (c->close_requested)
        finish(c, WSCONN_ERR_IO, "closed before open");
    else
        finish(c, WSCONN_ERR_IO, c->state == WS_CONNECTING ? "connect timed out"
                                                           : "handshake timed out");
    entry_end(c);
}

static void on_connected(struct wsconn *c, CURLcode result)
{
    if (result != CURLE_OK) {
        finish(c, WSCONN_ERR_IO, curl_easy_strerror(result));
        return;
    }
    curl_socket_t fd = CURL_SOCKET_BAD;
    if (curl_easy_getinfo(c->easy, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK ||
        fd == CURL_SOCKET_BAD) {
        finish(c, WSCONN_ERR_IO, "no socket after connect");
        return;
    }
    if (c->cost)
        c->cost->connects++;
    c->rev = event_new(c->base, fd, EV_READ | EV_PERSIST, on_readable, c);
    c->wev = event_new(c->base, fd, EV_WRITE, on_writable, c);
    if (!c->rev || !c->wev) {
        finish(c, WSCONN_ERR_IO, "out of memory");
        return;
    }
    c->state = WS_SEND_REQUEST;
    send_request(c);
}

/* ---- public ------------------------------------------------------------ */

/* Split "http(s)://authority/target" into the Host value and the request
 * target. Returns 0, or -1 for another scheme or a URL with credentials. */
static int split_url(const char *url, const char **host, size_t *host_len, const char **target)
{
    const char *p;
    if (strncasecmp(url, "http://", 7) == 0)
        p = url + 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        p = url + 8;
    else
        return -1;
    size_t n = strcspn(p, "/?#");
    if (n == 0 || memchr(p, '@', n) || p[n] == '#')
        return -1;
    *host = p;
    *host_len = n;
    *target = p + n;
    return 0;
}

/* headers: extra request lines, each ending in CRLF ("" for none). */
static int build_request(struct wsconn *c, const char *url, const char *headers)
{
    const char *host, *target;
    size_t host_len;
    if (split_url(url, &host, &host_len, &target) != 0 || ws_key_generate(c->key) != 0)
        return -1;
    const char *slash = *target == '/' ? "" : "/";   /* "http://h?x" asks for "/?x" */
    static const char fmt[] = "GET %s%s HTTP/1.1\r\nHost: %.*s\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                              "Sec-WebSocket-Version: 13\r\n%s%s%s%s\r\n";
    const char *proto_name = c->protocol ? "Sec-WebSocket-Protocol: " : "";
    const char *proto = c->protocol ? c->protocol : "", *proto_end = c->protocol ? "\r\n" : "";
    int n = snprintf(NULL, 0, fmt, slash, target, (int)host_len, host, c->key, proto_name, proto,
                     proto_end, headers);
    if (n < 0)
        return -1;
    /* The same buffer later holds the answer. */
    size_t cap = (size_t)n + 1 > WS_RESPONSE_MAX ? (size_t)n + 1 : WS_RESPONSE_MAX;
    c->buf = malloc(cap);
    if (!c->buf)
        return -1;
    snprintf(c->buf, cap, fmt, slash, target, (int)host_len, host, c->key, proto_name, proto,
             proto_end, headers);
    c->len = (size_t)n;
    return 0;
}

static int start_connect(struct wsconn *c, const char *url, uint64_t timeout_us)
{
    c->k = connector_get(c->base);
    c->timer = evtimer_new(c->base, on_timer, c);
    CURL *easy = curl_easy_init();
    if (!c->k || !c->timer || !easy) {
        if (easy)
            curl_easy_cleanup(easy);
        return -1;
    }
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_us / 1000));
    /* libcurl closes cached connections idle for longer than this (118 s
     * by default) when a later transfer looks for one to reuse. 7.88 does
     * not look for CONNECT_ONLY transfers, but a WebSocket's idle time
     * (no bytes for it inside libcurl) must never matter. */
    curl_easy_setopt(easy, CURLOPT_MAXAGE_CONN, WSCONN_MAXAGE_S);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, c);
    https_apply(easy);                /* an https:// URL: TLS, then wss framing */
    if (curl_multi_add_handle(c->k->multi, easy) != CURLM_OK) {
        curl_easy_cleanup(easy);
        return -1;
    }
    c->easy = easy;                   /* from here on, release() removes it */
    arm_timer(c, timeout_us);
    return 0;
}

struct wsconn *wsconn_open(struct event_base *base, const char *url, uint64_t timeout_us,
                           const struct wsconn_cb *cb, void *ud, struct cost *cost)
{
    return wsconn_open_with(base, url, NULL, NULL, timeout_us, cb, ud, cost);
}

struct wsconn *wsconn_open_with(struct event_base *base, const char *url, const char *headers,
                                const char *protocol, uint64_t timeout_us,
                                const struct wsconn_cb *cb, void *ud, struct cost *cost)
{
    struct wsconn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->base = base;
    c->cb = *cb;
    c->ud = ud;
    c->cost = cost;
    if (timeout_us == 0)
        timeout_us = WSCONN_DEFAULT_TIMEOUT_US;
    if ((protocol && !(c->protocol = strdup(protocol))) ||
        build_request(c, url, headers ? headers : "") != 0 ||
        start_connect(c, url, timeout_us) != 0) {
        release(c);
        free(c->protocol);
        free(c);
        return NULL;
    }
    return c;
}

int wsconn_send_text(struct wsconn *c, const char *text, size_t len)
{
    if (c->state != WS_OPEN || c->close_requested || c->dead)
        return -1;
    struct wslay_event_msg msg = { WSLAY_TEXT_FRAME, (const uint8_t *)text, len };
    if (wslay_event_queue_msg(c->ctx, &msg) != 0)
        return -1;
    kick(c);
    return 0;
}

uint64_t wsconn_rx_us(const struct wsconn *c)
{
    return c->rx_us;
}

size_t wsconn_queued(const struct wsconn *c)
{
    return c->state == WS_OPEN ? wslay_event_get_queued_msg_length(c->ctx) + c->hold.len : 0;
}

void wsconn_close(struct wsconn *c, uint16_t code)
{
    if (c->dead || c->close_requested || c->state == WS_CLOSED)
        return;
    c->close_requested = true;
    if (c->state != WS_OPEN) {
        event_active(c->timer, EV_TIMEOUT, 0);   /* reports it from the loop */
        return;
    }
    wslay_event_queue_close(c->ctx, code, NULL, 0);
    arm_timer(c, WSCONN_CLOSE_GRACE_US);
    kick(c);
}

void wsconn_free(struct wsconn *c)
{
    if (!c)
        return;
    c->dead = true;
    if (c->depth == 0)
        destroy(c);
}
