/* GET /ws/{ch}: WebSocket (RFC 6455). MHD answers the 101 and hands over
 * the socket; from then on libevent watches it and the session
 * (wssession.h) does the protocol. This file is the glue between the two:
 * the socket (or, for wss://, the TLS session: wstls.h) as the session's
 * ws_io, the loop's events and timers. The socket goes back to MHD
 * (MHD_upgrade_action CLOSE) to be closed. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "bus.h"
#include "clock.h"
#include "cursor.h"
#include "http.h"
#include "limit.h"
#include "query.h"
#include "server.h"
#include "stats.h"
#include "transports.h"
#include "wshandshake.h"
#include "wssession.h"
#include "wstls.h"

/* How long a close handshake may take before the socket is just closed. */
#define WS_CLOSE_GRACE_US 1000000
#define WS_CODE_GOING_AWAY 1001

struct ws_conn {
    struct ws_session *session;
    struct server *srv;
    struct MHD_UpgradeResponseHandle *urh;
    int fd;
    struct wstls *tls;                /* wss://: frames go out through it; NULL for ws:// */
    struct event *rev, *wev;
    struct event *close_timer;        /* made when a close starts */
    bool wev_on;                      /* wev waits for the socket to be writable */
    bool dirty;                       /* on the flush list */
    struct ws_conn *dirty_next;
    char *extra;                      /* bytes MHD read past the request */
    size_t extra_len, extra_off;
    struct ws_conn *prev, *next;      /* every open connection */
};

struct ws_pending {                   /* from the request to the upgrade */
    struct cursor cursor;
};

static struct ws_conn *conns;
/* Connections with frames queued by publishes, flushed together by one
 * zero-delay timer: it runs after the I/O of the next loop pass, so
 * whatever is published meanwhile goes in the same write. */
static struct ws_conn *dirty_head, *dirty_tail;
static struct event *flush_ev;

/* ---- the session's I/O ------------------------------------------------- */

static ssize_t conn_read(void *ctx, uint8_t *buf, size_t len)
{
    struct ws_conn *c = ctx;
    if (c->extra_off < c->extra_len) {
        size_t n = c->extra_len - c->extra_off;
        n = n < len ? n : len;
        memcpy(buf, c->extra + c->extra_off, n);
        c->extra_off += n;
        return (ssize_t)n;
    }
    ssize_t n = recv(c->fd, buf, len, 0);
    if (n > 0)
        return n;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 0;
    return -1;                        /* EOF or error */
}

/* All of one turn's frames in one sendmsg, or for wss:// into the TLS
 * session. */
static ssize_t conn_writev(void *ctx, const struct iovec *iov, int n, bool *blocked)
{
    struct ws_conn *c = ctx;
    ssize_t w;
    if (c->tls) {
        w = wstls_writev(c->tls, iov, n, blocked);
    } else {
        size_t want = 0;
        for (int i = 0; i < n; i++)
            want += iov[i].iov_len;
        struct msghdr mh = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n };
        do
            w = n ? sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) : 0;
        while (w < 0 && errno == EINTR);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            w = 0;
        *blocked = w >= 0 && (size_t)w < want;
    }
    if (w > 0)
        stats.bytes_out[T_WS] += (uint64_t)w;
    return w;
}

static void ws_apply(struct ws_conn *c, enum ws_next next);

static void ws_on_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    struct ws_conn *c;
    while ((c = dirty_head)) {
        dirty_head = c->dirty_next;
        if (!dirty_head)
            dirty_tail = NULL;
        c->dirty = false;
        ws_apply(c, ws_session_flush(c->session));
    }
}

static void dirty_remove(struct ws_conn *c)
{
    struct ws_conn **p = &dirty_head, *prev = NULL;
    while (*p != c) {
        prev = *p;
        p = &(*p)->dirty_next;
    }
    *p = c->dirty_next;
    if (dirty_tail == c)
        dirty_tail = prev;
    c->dirty = false;
}

/* Frames were queued by a publish elsewhere: flush after this loop
 * pass and the next one's I/O, so they all go in one write. */
static void conn_wake(void *ctx)
{
    struct ws_conn *c = ctx;
    if (c->dirty)
        return;
    if (!flush_ev && !(flush_ev = evtimer_new(c->srv->base, ws_on_flush, NULL))) {
        event_active(c->wev, EV_WRITE, 0);    /* out of memory: flush alone */
        return;
    }
    c->dirty = true;
    c->dirty_next = NULL;
    if (dirty_tail)
        dirty_tail->dirty_next = c;
    else
        dirty_head = c;
    dirty_tail = c;
    if (!evtimer_pending(flush_ev, NULL)) {
        struct timeval zero = { 0, 0 };
        evtimer_add(flush_ev, &zero);
    }
}

static const struct ws_io conn_io = {
    .read = conn_read,
    .writev = conn_writev,
    .wake = conn_wake,
};

/* ---- teardown and events ----------------------------------------------- */

/* Only from event callbacks, never from inside a session call. */
static void ws_destroy(struct ws_conn *c)
{
    if (ws_session_close_sent(c->session)) {
        /* Closing with unread input makes the kernel send RST, which can
         * destroy our close frame in flight: FIN first, then drain. */
        char sink[4096];
        shutdown(c->fd, SHUT_WR);
        for (int i = 0; i < 16 && recv(c->fd, sink, sizeof sink, MSG_DONTWAIT) > 0; i++)
            ;
    }
    ws_session_free(c->session);
    if (c->dirty)
        dirty_remove(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    event_free(c->rev);
    event_free(c->wev);
    if (c->close_timer)
        event_free(c->close_timer);
    wstls_close(c->tls);
    MHD_upgrade_action(c->urh, MHD_UPGRADE_ACTION_CLOSE);
    http_kick(c->srv);
    stats.open[T_WS]--;
    free(c->extra);
    free(c);
}

static void ws_on_close_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ws_destroy(arg);                  /* the peer never finished the close */
}

/* What the session asked for after a call. */
static void ws_apply(struct ws_conn *c, enum ws_next next)
{
    if (next == WS_END) {
        ws_destroy(c);
        return;
    }
    if (ws_session_closing(c->session) && !c->close_timer) {
        struct timeval tv = { .tv_sec = 0, .tv_usec = WS_CLOSE_GRACE_US };
        c->close_timer = evtimer_new(c->srv->base, ws_on_close_timeout, c);
        if (!c->close_timer) {
            ws_destroy(c);
            return;
        }
        evtimer_add(c->close_timer, &tv);
    }
    bool on = next == WS_WAIT_WRITABLE;
    if (on == c->wev_on)
        return;
    c->wev_on = on;
    if (on)
        event_add(c->wev, NULL);
    else
        event_del(c->wev);
}

static void ws_on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct ws_conn *c = arg;
    ws_apply(c, ws_session_read(c->session, clock_mono_us()));
}

/* Writable, or woken (conn_wake). */
static void ws_on_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct ws_conn *c = arg;
    c->wev_on = false;                /* a non-persistent event has fired */
    ws_apply(c, ws_session_flush(c->session));
}

/* ---- the upgrade ------------------------------------------------------- */

static void ws_conn_free_early(struct ws_conn *c)
{
    if (c->rev)
        event_free(c->rev);
    if (c->wev)
        event_free(c->wev);
    wstls_close(c->tls);
    MHD_upgrade_action(c->urh, MHD_UPGRADE_ACTION_CLOSE);
    free(c->extra);
    free(c);
}

/* The socket as the session needs it: non-blocking, no Nagle, watched. */
static int ws_conn_setup(struct ws_conn *c, struct MHD_Connection *conn,
                         const char *extra_in, size_t extra_in_size)
{
    /* wss://: fd is MHD's socketpair, which only the input takes. */
    if (c->srv->cfg.tls_cert_pem && !(c->tls = wstls_open(conn)))
        return -1;
    int out_fd = c->tls ? wstls_fd(c->tls) : c->fd;
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    /* MHD turns TCP_NODELAY off on upgrade; latency needs it back on
     * (on the TCP socket: for wss:// that is not fd). */
    int one = 1;
    setsockopt(out_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (extra_in_size) {
        if (!(c->extra = malloc(extra_in_size)))
            return -1;
        memcpy(c->extra, extra_in, extra_in_size);
        c->extra_len = extra_in_size;
    }
    c->rev = event_new(c->srv->base, c->fd, EV_READ | EV_PERSIST, ws_on_readable, c);
    c->wev = event_new(c->srv->base, out_fd, EV_WRITE, ws_on_writable, c);
    return c->rev && c->wev ? 0 : -1;
}

static void ws_upgraded(void *cls, struct MHD_Connection *conn, void *req_cls,
                        const char *extra_in, size_t extra_in_size, MHD_socket sock,
                        struct MHD_UpgradeResponseHandle *urh)
{
    struct server *srv = cls;
    struct request *req = req_cls;
    struct ws_pending *pending = req->transport;
    limit_conn_upgraded(conn);        /* no HTTP request clock from now on */
    struct ws_conn *c = calloc(1, sizeof *c);
    if (!c) {
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        return;
    }
    c->srv = srv;
    c->urh = urh;
    c->fd = sock;
    struct ws_session_config cfg = {
        .ch = req->ch, .epoch = bus_epoch(req->ch), .max_message = srv->cfg.max_message,
        .max_queue = srv->cfg.max_queue, .publish_rate = srv->cfg.ws_publish_rate,
        .may_publish = req->may_publish,
    };
    struct cursor cur = pending ? pending->cursor : (struct cursor){ 0 };
    if (ws_conn_setup(c, conn, extra_in, extra_in_size) != 0 ||
        !(c->session = ws_session_new(&cfg, &conn_io, c, &cur, clock_mono_us()))) {
        ws_conn_free_early(c);
        return;
    }
    c->next = conns;
    if (conns)
        conns->prev = c;
    conns = c;
    stats.open[T_WS]++;
    event_add(c->rev, NULL);
    if (c->extra_len)                 /* a frame may have come with the request */
        ws_on_readable(sock, EV_READ, c);
    else
        ws_apply(c, ws_session_flush(c->session));
}

/* Is `token` one of the comma-separated tokens of a header value? */
static bool header_has_token(const char *value, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = value; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *end = p + strcspn(p, ",");
        const char *last = end;
        while (last > p && (last[-1] == ' ' || last[-1] == '\t'))
            last--;
        if ((size_t)(last - p) == n && strncasecmp(p, token, n) == 0)
            return true;
        p = end;
    }
    return false;
}

static enum MHD_Result reply_upgrade_required(struct MHD_Connection *conn)
{
    static const char body[] = "{\"error\":\"Sec-WebSocket-Version: want 13\"}\n";
    struct MHD_Response *r = MHD_create_response_from_buffer(
        sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, "Sec-WebSocket-Version", "13");
    return reply_send(conn, MHD_HTTP_UPGRADE_REQUIRED, r);
}

static enum MHD_Result count_key(void *cls, enum MHD_ValueKind kind,
                                 const char *name, const char *value)
{
    (void)kind;
    (void)value;
    *(unsigned *)cls += strcasecmp(name, "Sec-WebSocket-Key") == 0;
    return MHD_YES;
}

/* The accept value for the request's one Sec-WebSocket-Key (MHD strips
 * the whitespace before a value, not after: RFC 9110 allows both). */
static int ws_accept_of(struct MHD_Connection *conn, char accept[WS_ACCEPT_LEN + 1])
{
    unsigned n = 0;
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_key, &n);
    const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Key");
    if (n != 1 || !key)
        return -1;
    char trimmed[WS_KEY_LEN + 1];
    size_t len = strlen(key);
    while (len > 0 && (key[len - 1] == ' ' || key[len - 1] == '\t'))
        len--;
    if (len > WS_KEY_LEN)
        return -1;
    memcpy(trimmed, key, len);
    trimmed[len] = '\0';
    return ws_accept_for_key(trimmed, accept);
}

enum MHD_Result ws_handle(struct request *req, struct MHD_Connection *conn)
{
    const char *upgrade = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Upgrade");
    const char *connection = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Connection");
    const char *version = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                      "Sec-WebSocket-Version");
    if (!upgrade || !header_has_token(upgrade, "websocket"))
        return reply_error(conn, MHD_HTTP_BAD_REQUEST, "want Upgrade: websocket");
    if (!connection || !header_has_token(connection, "upgrade"))
        return reply_error(conn, MHD_HTTP_BAD_REQUEST, "want Connection: Upgrade");
    if (!version)
        return reply_error(conn, MHD_HTTP_BAD_REQUEST, "want Sec-WebSocket-Version: 13");
    if (strcmp(version, "13") != 0)
        return reply_upgrade_required(conn);
    char accept[WS_ACCEPT_LEN + 1];
    if (ws_accept_of(conn, accept) != 0)
        return reply_error(conn, MHD_HTTP_BAD_REQUEST,
                           "want one Sec-WebSocket-Key: base64 of 16 bytes");
    struct ws_pending *pending = calloc(1, sizeof *pending);
    if (!pending)
        return MHD_NO;
    req->transport = pending;
    req->transport_free = free;
    const char *problem = query_cursor(conn, &pending->cursor);
    if (problem)
        return reply_error(conn, MHD_HTTP_BAD_REQUEST, problem);
    struct MHD_Response *r = MHD_create_response_for_upgrade(ws_upgraded, req->srv);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_UPGRADE, "websocket");
    MHD_add_response_header(r, "Sec-WebSocket-Accept", accept);
    return reply_send(conn, MHD_HTTP_SWITCHING_PROTOCOLS, r);
}

void ws_heartbeat(struct server *srv)
{
    uint64_t now = clock_mono_us();
    for (struct ws_conn *c = conns, *next; c; c = next) {
        next = c->next;
        ws_apply(c, ws_session_heartbeat(c->session, now, srv->cfg.heartbeat_us));
    }
}

size_t ws_shutdown(struct server *srv, bool force)
{
    (void)srv;
    size_t open = 0;
    for (struct ws_conn *c = conns, *next; c; c = next) {
        next = c->next;
        if (force)
            ws_destroy(c);
        else
            ws_apply(c, ws_session_close(c->session, WS_CODE_GOING_AWAY, "server shutting down"));
    }
    for (struct ws_conn *c = conns; c; c = c->next)
        open++;
    if (force && flush_ev) {          /* the last call: the loop goes next */
        event_free(flush_ev);
        flush_ev = NULL;
    }
    return open;
}
