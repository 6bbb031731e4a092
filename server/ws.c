/* GET /ws/{ch}: WebSocket (RFC 6455). MHD answers the 101 and hands over
 * the socket; from then on libevent watches it and wslay does the framing.
 * The socket goes back to MHD (MHD_upgrade_action CLOSE) to be closed. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <wslay/wslay.h>

#include "bus.h"
#include "clock.h"
#include "cursor.h"
#include "fanout.h"
#include "http.h"
#include "limit.h"
#include "query.h"
#include "ratebucket.h"
#include "server.h"
#include "stats.h"
#include "transports.h"
#include "utf8.h"
#include "wshandshake.h"
#include "wstls.h"

/* How long a close handshake may take before the socket is just closed. */
#define WS_CLOSE_GRACE_US 1000000

struct ws_session {
    struct fanout fan;                /* first: fanout calls back with it */
    struct server *srv;
    struct bus_channel *ch;
    struct MHD_UpgradeResponseHandle *urh;
    int fd;
    struct wstls *tls;                /* wss://: frames go out through it; NULL for ws:// */
    wslay_event_context_ptr ctx;
    struct event *rev, *wev, *close_timer;
    bool wev_on;
    bool in_recv;                     /* inside wslay_event_recv: do not send */
    bool broken;                      /* a send failed where we could not tear down */
    bool closing;                     /* our close frame is queued */
    bool recv_failed;                 /* EOF or a socket error, not a protocol error */
    bool raw_close_sent;              /* a close written past wslay */
    bool may_publish;                 /* the upgrade had the publish token */
    bool in_close_frame;              /* receiving a close frame */
    uint8_t close_code[2];            /* its status code, as it arrives */
    size_t close_got;
    struct rate_bucket publish_rate;  /* --ws-publish-rate */
    char *extra;                      /* bytes MHD read past the request */
    size_t extra_len, extra_off;
    uint64_t last_rx_us;
    struct ws_session *prev, *next;   /* every open session */
};

struct ws_pending {                   /* from the request to the upgrade */
    struct cursor cursor;
};

static struct ws_session *sessions;

/* ---- teardown --------------------------------------------------------- */

/* Only from event callbacks, never from inside wslay or a bus callback. */
static void ws_destroy(struct ws_session *s)
{
    if (s->raw_close_sent || wslay_event_get_close_sent(s->ctx)) {
        /* Closing with unread input makes the kernel send RST, which can
         * destroy our close frame in flight: FIN first, then drain. */
        char sink[4096];
        shutdown(s->fd, SHUT_WR);
        for (int i = 0; i < 16 && recv(s->fd, sink, sizeof sink, MSG_DONTWAIT) > 0; i++)
            ;
    }
    fanout_stop(&s->fan);
    if (s->prev)
        s->prev->next = s->next;
    else
        sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    event_free(s->rev);
    event_free(s->wev);
    event_free(s->close_timer);
    wslay_event_context_free(s->ctx);
    wstls_close(s->tls);
    MHD_upgrade_action(s->urh, MHD_UPGRADE_ACTION_CLOSE);
    http_kick(s->srv);
    stats.open[T_WS]--;
    free(s->extra);
    free(s);
}

static void ws_start_close(struct ws_session *s, uint16_t code, const char *reason)
{
    if (s->closing)
        return;
    s->closing = true;
    fanout_stop(&s->fan);
    wslay_event_queue_close(s->ctx, code, (const uint8_t *)reason, strlen(reason));
    struct timeval tv = { .tv_sec = 0, .tv_usec = WS_CLOSE_GRACE_US };
    evtimer_add(s->close_timer, &tv);
}

/* ---- I/O -------------------------------------------------------------- */

static void ws_want_write(struct ws_session *s, bool on)
{
    if (on == s->wev_on)
        return;
    s->wev_on = on;
    if (on)
        event_add(s->wev, NULL);
    else
        event_del(s->wev);
}

/* Write what wslay has queued. Returns -1 when the session must go. */
static int ws_send(struct ws_session *s)
{
    if (wslay_event_want_write(s->ctx) && wslay_event_send(s->ctx) != 0)
        return -1;
    ws_want_write(s, wslay_event_want_write(s->ctx));
    return 0;
}

/* After any event: send, refill from a backlog, end a finished session. */
static void ws_service(struct ws_session *s)
{
    if (s->broken || ws_send(s) != 0) {
        ws_destroy(s);
        return;
    }
    if (!s->closing && wslay_event_get_queued_msg_count(s->ctx) == 0) {
        fanout_pump(&s->fan);
        if (ws_send(s) != 0) {
            ws_destroy(s);
            return;
        }
    }
    if (!wslay_event_want_read(s->ctx) && !wslay_event_want_write(s->ctx))
        ws_destroy(s);                /* close handshake done, or failed */
}

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                          int flags, void *user)
{
    (void)flags;
    struct ws_session *s = user;
    if (s->extra_off < s->extra_len) {
        size_t n = s->extra_len - s->extra_off;
        n = n < len ? n : len;
        memcpy(buf, s->extra + s->extra_off, n);
        s->extra_off += n;
        return (ssize_t)n;
    }
    ssize_t n = recv(s->fd, buf, len, 0);
    if (n > 0) {
        s->last_rx_us = clock_mono_us();
        return n;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    } else {
        s->recv_failed = true;        /* EOF or error */
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    }
    return -1;
}

/* One write of ours to the client: to the socket, or for wss:// into the
 * connection's TLS session (wstls.h). Counts what went; -1 with errno. */
static ssize_t ws_write(struct ws_session *s, const void *data, size_t len, bool more)
{
    ssize_t n;
    do
        n = s->tls ? wstls_send(s->tls, data, len, more)
                   : send(s->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT | (more ? MSG_MORE : 0));
    while (n < 0 && errno == EINTR);
    if (n > 0)
        stats.bytes_out[T_WS] += (uint64_t)n;
    return n;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data,
                          size_t len, int flags, void *user)
{
    ssize_t n = ws_write(user, data, len, (flags & WSLAY_MSG_MORE) != 0);
    if (n >= 0)
        return n;
    wslay_event_set_error(ctx, errno == EAGAIN || errno == EWOULDBLOCK
                                   ? WSLAY_ERR_WOULDBLOCK : WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static void ws_on_msg(wslay_event_context_ptr ctx,
                      const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
    (void)ctx;
    struct ws_session *s = user;
    if (arg->opcode == WSLAY_BINARY_FRAME) {
        ws_start_close(s, WSLAY_CODE_UNSUPPORTED_DATA, "only text messages are published");
        return;
    }
    if (arg->opcode != WSLAY_TEXT_FRAME || s->closing)
        return;                       /* wslay answers pings and closes itself */
    if (!s->may_publish) {
        stats.unauthorized++;
        ws_start_close(s, WSLAY_CODE_POLICY_VIOLATION, "publish not authorized");
        return;
    }
    if (!rate_bucket_take(&s->publish_rate, clock_mono_us())) {
        stats.ws_publish_rate_closed++;
        ws_start_close(s, WSLAY_CODE_POLICY_VIOLATION, "publish rate exceeded");
        return;
    }
    /* wslay checks UTF-8 too; a publish is checked here all the same. */
    if (!utf8_valid(arg->msg, arg->msg_length)) {
        ws_start_close(s, WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA, "text is not UTF-8");
        return;
    }
    if (bus_publish(s->ch, (const char *)arg->msg, arg->msg_length, clock_real_us()))
        stats.published++;
}

/* Close frames are checked here as well as in wslay: RFC 6455 5.5.1 makes
 * a 1-byte body a protocol error (1002), and wslay 1.1.1 predates the
 * registration of 1012-1014, which it would answer with 1002. */
static void ws_on_frame_start(wslay_event_context_ptr ctx,
                              const struct wslay_event_on_frame_recv_start_arg *arg,
                              void *user)
{
    (void)ctx;
    struct ws_session *s = user;
    s->in_close_frame = arg->opcode == WSLAY_CONNECTION_CLOSE;
    s->close_got = 0;
    if (s->in_close_frame && arg->payload_length == 1)
        ws_start_close(s, WSLAY_CODE_PROTOCOL_ERROR, "close frame with a 1-byte body");
}

static void ws_on_frame_chunk(wslay_event_context_ptr ctx,
                              const struct wslay_event_on_frame_recv_chunk_arg *arg,
                              void *user)
{
    (void)ctx;
    struct ws_session *s = user;
    for (size_t i = 0; s->in_close_frame && i < arg->data_length && s->close_got < 2; i++)
        s->close_code[s->close_got++] = arg->data[i];
}

/* Before wslay looks at the code: echo a registered code it does not know
 * (its own 1002 then finds our close queued and is dropped). */
static void ws_on_frame_end(wslay_event_context_ptr ctx, void *user)
{
    (void)ctx;
    struct ws_session *s = user;
    if (!s->in_close_frame || s->close_got < 2)
        return;
    uint16_t code = (uint16_t)(s->close_code[0] << 8 | s->close_code[1]);
    if (code >= 1012 && code <= 1014)
        ws_start_close(s, code, "");
}

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = ws_recv_cb,
    .send_callback = ws_send_cb,
    .on_frame_recv_start_callback = ws_on_frame_start,
    .on_frame_recv_chunk_callback = ws_on_frame_chunk,
    .on_frame_recv_end_callback = ws_on_frame_end,
    .on_msg_recv_callback = ws_on_msg,
};

static void ws_on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct ws_session *s = arg;
    s->in_recv = true;
    int rc = wslay_event_recv(s->ctx);
    s->in_recv = false;
    if (s->recv_failed || rc == WSLAY_ERR_NOMEM) {
        ws_destroy(s);                /* the peer left, or we are out of memory */
        return;
    }
    if (rc != 0) {
        /* A frame wslay's decoder refused (a fragmented or oversized
         * control frame). wslay reports it like a failed read and queues a
         * close without a status code; send 1002 ourselves instead, which is
         * safe when no frame of ours is half-written (no write pending). */
        if (!s->wev_on && !wslay_event_get_close_sent(s->ctx)) {
            static const uint8_t close_1002[] = { 0x88, 0x02, 0x03, 0xea };
            ws_write(s, close_1002, sizeof close_1002, false);
            s->raw_close_sent = true;
        }
        ws_destroy(s);
        return;
    }
    ws_service(s);
}

static void ws_on_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct ws_session *s = arg;
    s->wev_on = false;                /* a non-persistent event has fired */
    ws_service(s);
}

static void ws_on_close_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ws_destroy(arg);                  /* the peer never finished the close */
}

/* ---- fanout hooks ----------------------------------------------------- */

static size_t ws_queued(struct fanout *f)
{
    return wslay_event_get_queued_msg_length(((struct ws_session *)f)->ctx);
}

static void ws_queue_text(struct ws_session *s, const char *text, size_t len)
{
    struct wslay_event_msg msg = { WSLAY_TEXT_FRAME, (const uint8_t *)text, len };
    if (wslay_event_queue_msg(s->ctx, &msg) != 0)
        return;
    /* Send at once (no loop round trip, no epoll change), unless we are
     * inside wslay_event_recv, which ws_service follows anyway. */
    if (!s->in_recv && !s->broken && ws_send(s) != 0) {
        s->broken = true;             /* torn down from an event callback */
        event_active(s->wev, EV_WRITE, 0);
    }
}

static void ws_send_msg(struct fanout *f, const struct bus_msg *m)
{
    ws_queue_text((struct ws_session *)f, m->json, m->json_len);
    stats.deliveries[T_WS]++;
}

static void ws_send_gap(struct fanout *f, uint64_t since, uint64_t first, uint64_t lost)
{
    char text[CURSOR_MARKER_MAX];
    int n = cursor_gap(text, since, first, lost);
    ws_queue_text((struct ws_session *)f, text, (size_t)n);
}

/* First frame of every session: the epoch, and where the channel is; then
 * the reset marker for a cursor of another start. */
static void ws_send_hello(struct ws_session *s, const struct cursor *c, bool reset)
{
    char text[CURSOR_MARKER_MAX];
    int n = cursor_hello(text, bus_epoch(s->ch), bus_last_id(s->ch));
    ws_queue_text(s, text, (size_t)n);
    if (reset) {
        n = cursor_reset(text, bus_epoch(s->ch), c->since, bus_last_id(s->ch));
        ws_queue_text(s, text, (size_t)n);
    }
}

static void ws_drop(struct fanout *f)
{
    struct ws_session *s = (struct ws_session *)f;
    ws_start_close(s, WSLAY_CODE_POLICY_VIOLATION, "slow consumer: queue full");
    if (!s->in_recv && !s->broken && ws_send(s) != 0) {
        s->broken = true;
        event_active(s->wev, EV_WRITE, 0);
    }
}

static const struct fanout_ops ws_ops = {
    .queued = ws_queued,
    .send_gap = ws_send_gap,
    .send_msg = ws_send_msg,
    .drop = ws_drop,
};

/* ---- the upgrade ------------------------------------------------------ */

static void ws_upgraded(void *cls, struct MHD_Connection *conn, void *req_cls,
                        const char *extra_in, size_t extra_in_size, MHD_socket sock,
                        struct MHD_UpgradeResponseHandle *urh)
{
    struct server *srv = cls;
    struct request *req = req_cls;
    struct ws_pending *pending = req->transport;
    limit_conn_upgraded(conn);        /* no HTTP request clock from now on */
    struct ws_session *s = calloc(1, sizeof *s);
    if (!s) {
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        return;
    }
    s->srv = srv;
    s->ch = req->ch;
    s->urh = urh;
    s->fd = sock;
    /* wss://: sock is MHD's socketpair, which only the input takes. */
    if (srv->cfg.tls_cert_pem && !(s->tls = wstls_open(conn))) {
        free(s);
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        return;
    }
    int out_fd = s->tls ? wstls_fd(s->tls) : sock;
    s->last_rx_us = clock_mono_us();
    s->may_publish = req->may_publish;
    rate_bucket_init(&s->publish_rate, srv->cfg.ws_publish_rate, s->last_rx_us);
    fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
    /* MHD turns TCP_NODELAY off on upgrade; latency needs it back on
     * (on the TCP socket: for wss:// that is not sock). */
    int one = 1;
    setsockopt(out_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (extra_in_size) {
        s->extra = malloc(extra_in_size);
        if (s->extra) {
            memcpy(s->extra, extra_in, extra_in_size);
            s->extra_len = extra_in_size;
        }
    }
    s->rev = event_new(srv->base, sock, EV_READ | EV_PERSIST, ws_on_readable, s);
    s->wev = event_new(srv->base, out_fd, EV_WRITE, ws_on_writable, s);
    s->close_timer = evtimer_new(srv->base, ws_on_close_timeout, s);
    if (!s->rev || !s->wev || !s->close_timer ||
        wslay_event_context_server_init(&s->ctx, &ws_callbacks, s) != 0) {
        if (s->rev) event_free(s->rev);
        if (s->wev) event_free(s->wev);
        if (s->close_timer) event_free(s->close_timer);
        wstls_close(s->tls);
        free(s->extra);
        free(s);
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        return;
    }
    wslay_event_config_set_max_recv_msg_length(s->ctx, srv->cfg.max_message);
    s->next = sessions;
    if (sessions)
        sessions->prev = s;
    sessions = s;
    stats.open[T_WS]++;
    event_add(s->rev, NULL);
    struct cursor c = pending ? pending->cursor : (struct cursor){ 0 };
    bool reset = cursor_stale(&c, s->ch, bus_epoch(s->ch));
    ws_send_hello(s, &c, reset);
    fanout_start(&s->fan, &ws_ops, s->ch, srv->cfg.max_queue, c.has_since, reset ? 0 : c.since);
    if (s->extra_len)                 /* a frame may have come with the request */
        ws_on_readable(sock, EV_READ, s);
    else
        ws_service(s);
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
    for (struct ws_session *s = sessions, *next; s; s = next) {
        next = s->next;
        if (s->closing)
            continue;
        /* Two pings went unanswered (any frame counts): the peer is gone. */
        if (now - s->last_rx_us > 2 * srv->cfg.heartbeat_us + srv->cfg.heartbeat_us / 2) {
            ws_destroy(s);
            continue;
        }
        struct wslay_event_msg ping = { WSLAY_PING, NULL, 0 };
        wslay_event_queue_msg(s->ctx, &ping);
        ws_service(s);
    }
}

size_t ws_shutdown(struct server *srv, bool force)
{
    (void)srv;
    size_t open = 0;
    for (struct ws_session *s = sessions, *next; s; s = next) {
        next = s->next;
        if (force) {
            ws_destroy(s);
            continue;
        }
        ws_start_close(s, WSLAY_CODE_GOING_AWAY, "server shutting down");
        ws_service(s);
    }
    for (struct ws_session *s = sessions; s; s = s->next)
        open++;
    return open;
}
