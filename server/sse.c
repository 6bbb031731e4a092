/* GET /sse/{ch}: Server-Sent Events. The response body comes from a reader
 * callback that drains this stream's queue; with nothing queued the reader
 * suspends the connection, and a message or heartbeat resumes it, or the
 * client leaving (a peer watch on the socket while suspended: else a gone
 * client would hold its connection until the next heartbeat). The
 * queue references each message's SSE event, made once at publish
 * (wire.h): the reader copies those shared bytes straight into MHD's
 * write buffer, which is as far as libmicrohttpd 0.9.75 lets a body go
 * without a copy (a content reader fills MHD's buffer; MHD then sends it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bus.h"
#include "cursor.h"
#include "fanout.h"
#include "http.h"
#include "outq.h"
#include "parse.h"
#include "peer_watch.h"
#include "query.h"
#include "server.h"
#include "stats.h"
#include "transports.h"

/* MHD allocates this per stream (calloc), but a chunked answer (HTTP/1.1)
 * never uses it: the reader writes into the connection's own buffer. Only
 * an HTTP/1.0 stream reads through it, in more calls when it is small. */
#define SSE_BLOCK 256

static const char sse_retry[] = "retry: 1000\n\n";
static const char sse_beat[] = ": heartbeat\n\n";

struct sse_stream {
    struct fanout fan;                /* first: fanout calls back with it */
    struct server *srv;
    struct MHD_Connection *conn;
    struct outq q;
    struct peer_watch *watch;         /* while suspended */
    bool suspended, ending;
    bool cut;                         /* sse_cut: ending under the client */
    char tag[CHANNEL_NAME_MAX + 1];   /* ?tag=, for POST /drop/sse; "" when none */
    struct sse_stream *prev, *next;   /* every open stream */
};

static struct sse_stream *streams;

static void sse_wake(struct sse_stream *s)
{
    if (!s->suspended)
        return;
    s->suspended = false;
    peer_watch_off(s->watch);
    MHD_resume_connection(s->conn);
    http_kick(s->srv);
}

static size_t sse_queued(struct fanout *f)
{
    return outq_bytes(&((struct sse_stream *)f)->q);
}

/* An event of this stream's own (the cursor markers): "event: NAME\n",
 * any extra lines, "data: TEXT\n\n". */
static void sse_push_event(struct sse_stream *s, const char *name, const char *extra,
                           const char *text)
{
    char ev[CURSOR_MARKER_MAX + 64];
    int n = snprintf(ev, sizeof ev, "event: %s\n%sdata: %s\n\n", name, extra, text);
    outq_push_copy(&s->q, ev, (size_t)n);
}

static void sse_send_gap(struct fanout *f, uint64_t since, uint64_t first, uint64_t lost)
{
    struct sse_stream *s = (struct sse_stream *)f;
    char text[CURSOR_MARKER_MAX];
    cursor_gap(text, since, first, lost);
    sse_push_event(s, "gap", "", text);
    sse_wake(s);
}

static void sse_send_msg(struct fanout *f, const struct bus_msg *m)
{
    struct sse_stream *s = (struct sse_stream *)f;
    if (outq_push(&s->q, bus_msg_hold(m), m->sse, m->sse_len) != 0)
        return;
    stats.deliveries[T_SSE]++;
    sse_wake(s);
}

/* End the stream now: MHD only calls the reader when the socket takes
 * more, which a client that stopped reading never allows, and MHD (TURBO,
 * external epoll) closes a connection only on a socket event, which a
 * suspended stream's idle or gone client does not make (its EOF was seen
 * while MHD was not looking). Cutting the socket and giving the reader
 * something to send makes one: MHD's send fails, and it closes and frees
 * the connection in that same round. (A reader that ends with an error
 * instead leaves a resumed MHD 0.9.75 connection closed but never freed:
 * its socket is out of MHD's epoll set, so no event brings it to the
 * clean-up.) */
static void sse_cut(struct sse_stream *s)
{
    s->cut = true;
    outq_push(&s->q, NULL, sse_beat, sizeof sse_beat - 1);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(s->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci)
        shutdown(ci->connect_fd, SHUT_RDWR);
    sse_wake(s);
}

static void sse_drop(struct fanout *f, enum fanout_end why)
{
    /* A slow consumer or a reset: what it has not read is released, the
     * stream ends (SSE has no way to say why; the client's reconnect with
     * Last-Event-ID gets a reset event when that was it). */
    (void)why;
    struct sse_stream *s = (struct sse_stream *)f;
    outq_clear(&s->q);
    sse_cut(s);
}

static const struct fanout_ops sse_ops = {
    .queued = sse_queued,
    .send_gap = sse_send_gap,
    .send_msg = sse_send_msg,
    .drop = sse_drop,
};

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct sse_stream *s = cls;
    size_t n = outq_copy_out(&s->q, buf, max);
    if (n > 0) {
        stats.bytes_out[T_SSE] += (uint64_t)n;
        fanout_pump(&s->fan);         /* room again: pull more of a backlog */
        return (ssize_t)n;
    }
    /* Cut, and the send of what was left did not fail (yet). */
    if (s->cut)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (s->ending)
        return MHD_CONTENT_READER_END_OF_STREAM;
    /* Nothing to send: returning 0 without suspending would busy-loop. */
    s->suspended = true;
    MHD_suspend_connection(s->conn);
    peer_watch_on(s->watch);
    return 0;
}

/* The client closed or reset the stream's connection while it was
 * suspended: end it now, not at the next heartbeat's failed write. */
static void sse_client_left(void *arg)
{
    struct sse_stream *s = arg;
    if (s->cut)
        return;                       /* dropped already, or said before */
    stats.sse_client_left++;
    sse_cut(s);
}

static void sse_free(void *cls)
{
    struct sse_stream *s = cls;
    fanout_stop(&s->fan);
    peer_watch_free(s->watch);
    if (s->prev)
        s->prev->next = s->next;
    else
        streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    outq_clear(&s->q);
    stats.open[T_SSE]--;
    free(s);
}

/* Resume point: Last-Event-ID (what EventSource sends back), else ?since;
 * and ?epoch. An error message for a 400, or NULL. */
static const char *sse_cursor(struct MHD_Connection *conn, struct cursor *c)
{
    const char *problem = query_cursor(conn, c);
    if (problem)
        return problem;
    const char *last = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Last-Event-ID");
    if (last) {
        if (parse_u64(last, UINT64_MAX, &c->since) != 0)
            return "Last-Event-ID: want a non-negative integer";
        c->has_since = true;
    }
    return NULL;
}

/* Before anything else: the epoch (and where the channel is) as an event
 * EventSource's onmessage ignores; then, for a cursor of another start, the
 * reset marker. The reset's "id: 0" makes a browser that reconnects before
 * the next message send Last-Event-ID: 0, which is right from now on. */
static void sse_hello(struct sse_stream *s, const struct bus_channel *ch,
                      const struct cursor *c, bool reset)
{
    char text[CURSOR_MARKER_MAX];
    cursor_hello(text, bus_epoch(ch), bus_last_id(ch));
    sse_push_event(s, "hello", "", text);
    if (reset) {
        cursor_reset(text, bus_epoch(ch), c->since, bus_last_id(ch));
        sse_push_event(s, "reset", "id: 0\n", text);
    }
}

/* ?tag=T: 0 absent, 1 valid, -1 malformed. Same alphabet as channels. */
static int sse_tag(struct MHD_Connection *conn, const char **tag)
{
    size_t len = 0;
    *tag = NULL;
    if (MHD_lookup_connection_value_n(conn, MHD_GET_ARGUMENT_KIND, "tag", 3,
                                      tag, &len) != MHD_YES)
        return 0;
    return *tag && strlen(*tag) == len && parse_channel_name(*tag, len) ? 1 : -1;
}

static void sse_headers(struct MHD_Response *r)
{
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    /* Reverse proxies (nginx) buffer responses unless told not to. */
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
}

/* HEAD: the stream's headers and no stream. MHD 0.9.75 writes a chunked
 * terminator into a HEAD answer of unknown size, which the client then
 * reads as the start of the next answer: this one has a size (0). */
static enum MHD_Result sse_head(struct MHD_Connection *conn)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (r)
        sse_headers(r);
    return reply_send(conn, MHD_HTTP_OK, r);
}

enum MHD_Result sse_handle(struct request *req, struct MHD_Connection *conn)
{
    struct cursor c;
    const char *tag, *problem = sse_cursor(conn, &c);
    if (problem)
        return reply_error(conn, MHD_HTTP_BAD_REQUEST, problem);
    if (sse_tag(conn, &tag) < 0)
        return reply_error(conn, MHD_HTTP_BAD_REQUEST, "tag: want [A-Za-z0-9_.-]{1,64}");
    if (req->head)
        return sse_head(conn);
    struct sse_stream *s = calloc(1, sizeof *s);
    if (!s)
        return MHD_NO;
    s->srv = req->srv;
    s->conn = conn;
    s->watch = peer_watch_new(req->srv->base, conn, sse_client_left, s);
    if (tag)
        strcpy(s->tag, tag);
    s->next = streams;
    if (streams)
        streams->prev = s;
    streams = s;
    stats.open[T_SSE]++;
    outq_push(&s->q, NULL, sse_retry, sizeof sse_retry - 1);
    struct MHD_Response *r = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, SSE_BLOCK, sse_read, s, sse_free);
    if (!r) {
        sse_free(s);
        return MHD_NO;
    }
    bool reset = cursor_stale(&c, req->ch, bus_epoch(req->ch));
    sse_hello(s, req->ch, &c, reset);
    fanout_start(&s->fan, &sse_ops, req->ch, req->srv->cfg.max_queue, c.has_since,
                 reset ? 0 : c.since);
    sse_headers(r);
    return reply_send(conn, MHD_HTTP_OK, r);
}

/* What the server does at shutdown, for one stream: queued bytes still go
 * out, then the response ends. */
static void sse_end(struct sse_stream *s)
{
    s->ending = true;
    fanout_stop(&s->fan);
    sse_wake(s);
}

enum MHD_Result sse_drop_handle(struct request *req, struct MHD_Connection *conn,
                                size_t *upload_size)
{
    if (*upload_size) {
        *upload_size = 0;             /* nothing to read in a body: ignore it */
        return MHD_YES;
    }
    const char *tag;
    if (sse_tag(conn, &tag) <= 0)
        return reply_error(conn, MHD_HTTP_BAD_REQUEST,
                                "tag: want the ?tag=[A-Za-z0-9_.-]{1,64} the streams were opened with");
    unsigned long long dropped = 0;
    for (struct sse_stream *s = streams; s; s = s->next) {
        if (s->ending || s->fan.sub.ch != req->ch || strcmp(s->tag, tag) != 0)
            continue;
        sse_end(s);
        dropped++;
    }
    char *body = malloc(40);
    if (!body)
        return MHD_NO;
    int n = snprintf(body, 40, "{\"dropped\":%llu}\n", dropped);
    return reply_json(conn, MHD_HTTP_OK, body, (size_t)n);
}

void sse_heartbeat(struct server *srv)
{
    (void)srv;
    for (struct sse_stream *s = streams; s; s = s->next) {
        if (s->ending || s->cut)
            continue;
        /* Also how a busy stream learns its client left: the write fails
         * (an idle one learns it from its peer watch). */
        outq_push(&s->q, NULL, sse_beat, sizeof sse_beat - 1);
        sse_wake(s);
    }
}

size_t sse_shutdown(struct server *srv)
{
    (void)srv;
    size_t open = 0;
    for (struct sse_stream *s = streams; s; s = s->next, open++)
        sse_end(s);
    return open;
}
