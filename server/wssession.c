#include "wssession.h"

#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

#include "bus.h"
#include "clock.h"
#include "cursor.h"
#include "fanout.h"
#include "outq.h"
#include "ratebucket.h"
#include "stats.h"
#include "utf8.h"
#include "wire.h"

enum { OP_CONT = 0x0, OP_TEXT = 0x1, OP_BINARY = 0x2,
       OP_CLOSE = 0x8, OP_PING = 0x9, OP_PONG = 0xa };

#define CTRL_MAX 125                  /* RFC 6455 5.5: a control frame's payload */
/* Input taken in one read before other connections get their turn. */
#define READ_BUDGET (256 * 1024)
/* iovecs per writev: a turn's frames for one subscriber rarely need more. */
#define IOV_BATCH 256

/* What exists only while frames come in: wslay's frame context (its 4 KiB
 * input buffer) and the message being put together. Freed between frames
 * when wslay holds no input, so an idle subscriber keeps none of it. */
struct ws_reader {
    wslay_frame_context_ptr fc;
    uint64_t fed, used;               /* bytes given to wslay; bytes of the frames it returned */
    uint64_t frame_left;              /* payload bytes of the current frame still to come */
    bool in_frame;
    uint8_t opcode;                   /* of the current frame */
    bool in_msg;                      /* a fragmented data message is open */
    bool msg_text;                    /* ... and is text we keep (not refused) */
    char *msg;
    size_t msg_len, msg_cap;
    uint8_t ctrl[CTRL_MAX];
    size_t ctrl_len;
};

struct ws_session {
    struct fanout fan;                /* first: fanout calls back with it */
    struct ws_session_config cfg;
    const struct ws_io *io;
    void *io_ctx;
    struct outq q;
    struct ws_reader *rd;
    struct rate_bucket publish_rate;
    uint64_t now_us, last_rx_us;
    size_t got;                       /* bytes read in this call */
    bool in_call;                     /* inside read or flush: no wake needed */
    bool woken;                       /* a wake is on its way */
    bool blocked;                     /* the connection takes no more until writable */
    bool gone;                        /* the client left: a read or write failed */
    bool read_got;                    /* the last read callback had bytes */
    bool closing;                     /* our close frame is queued */
    bool close_sent;                  /* ... and written */
    bool close_received;
    bool failed;                      /* a protocol error: its close is the last word */
};

static const uint8_t ping_frame[] = { 0x80 | OP_PING, 0 };

/* ---- output ------------------------------------------------------------ */

static void session_wake(struct ws_session *s)
{
    if (s->in_call || s->woken)
        return;
    s->woken = true;
    s->io->wake(s->io_ctx);
}

/* A frame of this session's own (a marker, a pong, a close). */
static void queue_frame(struct ws_session *s, uint8_t opcode, const void *payload, size_t len)
{
    uint8_t frame[WIRE_WS_HEADER_MAX + CURSOR_MARKER_MAX];
    size_t h = wire_ws_header(frame, opcode, len);
    if (len)                          /* an empty close has no body at all */
        memcpy(frame + h, payload, len);
    outq_push_copy(&s->q, frame, h + len);
    if (!s->blocked)
        session_wake(s);
}

static void queue_text(struct ws_session *s, const char *text, int len)
{
    queue_frame(s, OP_TEXT, text, (size_t)len);
}

/* Our close: it goes out right after a frame half-written (what was
 * queued behind it is released), and nothing follows it. */
static void close_body(struct ws_session *s, const uint8_t *body, size_t len)
{
    if (s->closing)
        return;
    s->closing = true;
    fanout_stop(&s->fan);
    outq_trim(&s->q);
    queue_frame(s, OP_CLOSE, body, len);
}

static void close_with(struct ws_session *s, uint16_t code, const char *reason)
{
    uint8_t body[CTRL_MAX] = { (uint8_t)(code >> 8), (uint8_t)code };
    size_t n = strlen(reason);
    memcpy(body + 2, reason, n < CTRL_MAX - 2 ? n : CTRL_MAX - 2);
    close_body(s, body, 2 + (n < CTRL_MAX - 2 ? n : CTRL_MAX - 2));
}

/* The client broke the protocol: what follows cannot be read as frames. */
static void fail_with(struct ws_session *s, uint16_t code, const char *reason)
{
    close_with(s, code, reason);
    s->failed = true;
}

/* Hand the queue to the connection until it is empty or blocked. */
static int write_out(struct ws_session *s)
{
    while (!outq_empty(&s->q) || s->blocked) {
        struct iovec iov[IOV_BATCH];
        int n = outq_iov(&s->q, iov, IOV_BATCH);
        size_t want = 0;
        for (int i = 0; i < n; i++)
            want += iov[i].iov_len;
        bool blocked = false;
        ssize_t w = s->io->writev(s->io_ctx, iov, n, &blocked);
        if (w < 0) {
            s->gone = true;
            return -1;
        }
        outq_consume(&s->q, (size_t)w);
        s->blocked = blocked || (size_t)w < want;
        if (s->blocked)
            return 0;
    }
    return 0;
}

static enum ws_next next_step(struct ws_session *s)
{
    if (s->gone)
        return WS_END;
    if (s->blocked)
        return WS_WAIT_WRITABLE;
    if (s->closing && outq_empty(&s->q)) {
        s->close_sent = true;
        if (s->close_received || s->failed)
            return WS_END;
    }
    return WS_IDLE;
}

enum ws_next ws_session_flush(struct ws_session *s)
{
    s->woken = false;
    s->in_call = true;
    if (write_out(s) == 0 && outq_empty(&s->q) && !s->blocked && !s->closing) {
        fanout_pump(&s->fan);         /* room again: pull more of a backlog */
        write_out(s);
    }
    s->in_call = false;
    return next_step(s);
}

/* ---- the fanout hooks -------------------------------------------------- */

static size_t ws_queued(struct fanout *f)
{
    return outq_bytes(&((struct ws_session *)f)->q);
}

static void ws_send_msg(struct fanout *f, const struct bus_msg *m)
{
    struct ws_session *s = (struct ws_session *)f;
    if (outq_push(&s->q, bus_msg_hold(m), m->ws, m->ws_len) != 0)
        return;
    stats.deliveries[T_WS]++;
    if (!s->blocked)
        session_wake(s);
}

static void ws_send_gap(struct fanout *f, uint64_t since, uint64_t first, uint64_t lost)
{
    char text[CURSOR_MARKER_MAX];
    queue_text((struct ws_session *)f, text, cursor_gap(text, since, first, lost));
}

static void ws_drop(struct fanout *f, enum fanout_end why)
{
    struct ws_session *s = (struct ws_session *)f;
    if (why == FANOUT_RESET)          /* 1012 Service Restart: come back, the cursor is stale */
        close_with(s, 1012, "history reset by the broker: reconnect");
    else
        close_with(s, WSLAY_CODE_POLICY_VIOLATION, "slow consumer: queue full");
    /* Even when blocked: the glue must learn that the session is closing
     * (its close timer ends a client that never reads again). */
    session_wake(s);
}

static const struct fanout_ops ws_fanout_ops = {
    .queued = ws_queued,
    .send_gap = ws_send_gap,
    .send_msg = ws_send_msg,
    .drop = ws_drop,
};

/* ---- messages and control frames from the client ------------------------ */

/* RFC 6455 7.4: the codes a peer may send (1012-1014 registered later). */
static bool close_code_valid(uint16_t code)
{
    return (code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006) ||
           (code >= 3000 && code <= 4999);
}

static void on_close_frame(struct ws_session *s, const uint8_t *body, size_t len)
{
    s->close_received = true;
    if (s->closing)
        return;                       /* the answer to ours */
    if (len == 0) {
        close_body(s, NULL, 0);       /* no code: echoed empty */
        return;
    }
    uint16_t code = (uint16_t)(body[0] << 8 | body[1]);
    if (!close_code_valid(code))
        fail_with(s, WSLAY_CODE_PROTOCOL_ERROR, "invalid close code");
    else if (!utf8_valid(body + 2, len - 2))
        fail_with(s, WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA, "close reason is not UTF-8");
    else
        close_body(s, body, len);     /* echo code and reason */
}

static void on_control(struct ws_session *s, uint8_t opcode, const uint8_t *body, size_t len)
{
    if (opcode == OP_CLOSE)
        on_close_frame(s, body, len);
    else if (opcode == OP_PING && !s->closing)
        queue_frame(s, OP_PONG, body, len);
    /* A pong only proves the client is there: last_rx_us has it. */
}

static void on_text(struct ws_session *s, const char *text, size_t len)
{
    if (!s->cfg.may_publish) {
        stats.unauthorized++;
        close_with(s, WSLAY_CODE_POLICY_VIOLATION, "publish not authorized");
        return;
    }
    if (!rate_bucket_take(&s->publish_rate, s->now_us)) {
        stats.ws_publish_rate_closed++;
        close_with(s, WSLAY_CODE_POLICY_VIOLATION, "publish rate exceeded");
        return;
    }
    if (!utf8_valid((const uint8_t *)text, len)) {
        fail_with(s, WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA, "text is not UTF-8");
        return;
    }
    if (bus_publish(s->cfg.ch, text ? text : "", len, clock_real_us()))
        stats.published++;
}

/* ---- frames ------------------------------------------------------------ */

static void data_frame_start(struct ws_session *s, const struct wslay_frame_iocb *f)
{
    struct ws_reader *r = s->rd;
    if ((f->opcode == OP_CONT) != r->in_msg) {
        fail_with(s, WSLAY_CODE_PROTOCOL_ERROR, r->in_msg ? "new message inside a fragmented one"
                                                          : "continuation without a message");
        return;
    }
    if (f->opcode != OP_CONT) {
        r->in_msg = true;
        r->msg_text = f->opcode == OP_TEXT && !s->closing;
        if (f->opcode == OP_BINARY)
            close_with(s, WSLAY_CODE_UNSUPPORTED_DATA, "only text messages are published");
    }
    if (!r->msg_text || s->closing)
        return;                       /* read past, not kept */
    if (f->payload_length > s->cfg.max_message - r->msg_len) {
        fail_with(s, WSLAY_CODE_MESSAGE_TOO_BIG, "message larger than --max-message");
        return;
    }
    size_t need = r->msg_len + (size_t)f->payload_length;
    if (need > r->msg_cap) {
        char *m = realloc(r->msg, need);
        if (!m) {
            fail_with(s, WSLAY_CODE_INTERNAL_SERVER_ERROR, "out of memory");
            return;
        }
        r->msg = m;
        r->msg_cap = need;
    }
}

static void frame_start(struct ws_session *s, const struct wslay_frame_iocb *f)
{
    s->rd->opcode = f->opcode;
    s->rd->ctrl_len = 0;
    if (!f->mask)
        fail_with(s, WSLAY_CODE_PROTOCOL_ERROR, "client frames must be masked");
    else if (f->rsv)
        fail_with(s, WSLAY_CODE_PROTOCOL_ERROR, "reserved bits set");
    else if ((f->opcode > OP_BINARY && f->opcode < OP_CLOSE) || f->opcode > OP_PONG)
        fail_with(s, WSLAY_CODE_PROTOCOL_ERROR, "unknown opcode");
    else if (f->opcode == OP_CLOSE && f->payload_length == 1)
        /* RFC 6455 5.5.1: a body is a 2-byte code and an optional reason. */
        fail_with(s, WSLAY_CODE_PROTOCOL_ERROR, "close frame with a 1-byte body");
    else if (f->opcode < OP_CLOSE)
        data_frame_start(s, f);
}

static void frame_data(struct ws_session *s, const uint8_t *p, size_t n)
{
    struct ws_reader *r = s->rd;
    if (n == 0)                       /* an empty frame: r->msg may be NULL */
        return;
    if (r->opcode >= OP_CLOSE) {      /* wslay caps control payloads at 125 */
        memcpy(r->ctrl + r->ctrl_len, p, n);
        r->ctrl_len += n;
    } else if (r->msg_text && !s->closing) {
        memcpy(r->msg + r->msg_len, p, n);
        r->msg_len += n;
    }
}

static void frame_end(struct ws_session *s, bool fin)
{
    struct ws_reader *r = s->rd;
    if (r->opcode >= OP_CLOSE) {
        on_control(s, r->opcode, r->ctrl, r->ctrl_len);
        return;
    }
    if (!fin)
        return;
    if (r->msg_text && !s->closing)
        on_text(s, r->msg, r->msg_len);
    free(r->msg);
    r->msg = NULL;
    r->msg_len = r->msg_cap = 0;
    r->in_msg = r->msg_text = false;
}

/* Bytes of a frame's header, which wslay's frame layer does not report
 * (it refuses lengths that are not in their shortest form). */
static uint64_t header_len(const struct wslay_frame_iocb *f)
{
    uint64_t n = f->payload_length < 126 ? 2 : f->payload_length < 65536 ? 4 : 10;
    return n + (f->mask ? 4 : 0);
}

static void on_chunk(struct ws_session *s, const struct wslay_frame_iocb *f)
{
    struct ws_reader *r = s->rd;
    if (!r->in_frame) {
        r->in_frame = true;
        r->used += header_len(f);
        r->frame_left = f->payload_length;
        frame_start(s, f);
        if (s->failed)
            return;
    }
    r->used += f->data_length;
    r->frame_left -= f->data_length;
    frame_data(s, f->data, f->data_length);
    if (r->frame_left == 0) {
        r->in_frame = false;
        frame_end(s, f->fin);
    }
}

/* ---- input ------------------------------------------------------------- */

static ssize_t reader_recv(uint8_t *buf, size_t len, int flags, void *user)
{
    (void)flags;
    struct ws_session *s = user;
    ssize_t n = s->io->read(s->io_ctx, buf, len);
    s->read_got = n > 0;
    if (n > 0) {
        s->rd->fed += (uint64_t)n;
        s->got += (size_t)n;
        return n;
    }
    if (n < 0)
        s->gone = true;
    return WSLAY_ERR_WANT_READ;
}

/* The frame layer is only read through: frames go out through outq. */
static ssize_t reader_send(const uint8_t *data, size_t len, int flags, void *user)
{
    (void)data, (void)len, (void)flags, (void)user;
    return WSLAY_ERR_INVALID_CALLBACK;
}

static int reader_genmask(uint8_t *buf, size_t len, void *user)
{
    (void)buf, (void)len, (void)user;
    return -1;
}

static const struct wslay_frame_callbacks reader_callbacks = {
    .send_callback = reader_send,
    .recv_callback = reader_recv,
    .genmask_callback = reader_genmask,
};

static int reader_open(struct ws_session *s)
{
    if (s->rd)
        return 0;
    s->rd = calloc(1, sizeof *s->rd);
    if (s->rd && wslay_frame_context_init(&s->rd->fc, &reader_callbacks, s) == 0)
        return 0;
    free(s->rd);
    s->rd = NULL;
    return -1;
}

static void reader_free(struct ws_session *s)
{
    if (!s->rd)
        return;
    wslay_frame_context_free(s->rd->fc);
    free(s->rd->msg);
    free(s->rd);
    s->rd = NULL;
}

/* Between frames with nothing buffered, the reader costs nothing to rebuild. */
static void reader_release_if_idle(struct ws_session *s)
{
    struct ws_reader *r = s->rd;
    if (r && !r->in_frame && !r->in_msg && r->fed == r->used)
        reader_free(s);
}

static void read_frames(struct ws_session *s)
{
    while (!s->failed && !s->close_received && !s->gone) {
        struct wslay_frame_iocb f;
        s->read_got = false;
        ssize_t n = wslay_frame_recv(s->rd->fc, &f);
        if (n == WSLAY_ERR_WANT_READ) {
            /* Not enough for a step yet: read more while the socket has it. */
            if (!s->read_got || s->got >= READ_BUDGET)
                return;
            continue;
        }
        if (n < 0) {                  /* an oversized or fragmented control frame */
            fail_with(s, WSLAY_CODE_PROTOCOL_ERROR, "malformed frame");
            return;
        }
        on_chunk(s, &f);
    }
}

/* After the client's close or a protocol error nothing it sends counts;
 * reading on keeps a level-triggered read event from spinning. */
static void discard_input(struct ws_session *s)
{
    uint8_t sink[4096];
    ssize_t n = 0;
    while (s->got < READ_BUDGET && (n = s->io->read(s->io_ctx, sink, sizeof sink)) > 0)
        s->got += (size_t)n;
    if (n < 0)
        s->gone = true;
}

enum ws_next ws_session_read(struct ws_session *s, uint64_t now_us)
{
    s->now_us = now_us;
    s->got = 0;
    s->in_call = true;
    if (s->failed || s->close_received)
        discard_input(s);
    else if (reader_open(s) != 0)
        s->gone = true;               /* out of memory: let the client go */
    else
        read_frames(s);
    if (s->got)
        s->last_rx_us = now_us;
    if (s->failed || s->close_received)
        reader_free(s);
    else
        reader_release_if_idle(s);
    s->in_call = false;
    if (s->gone)
        return WS_END;
    return ws_session_flush(s);
}

/* ---- life -------------------------------------------------------------- */

struct ws_session *ws_session_new(const struct ws_session_config *cfg,
                                  const struct ws_io *io, void *io_ctx,
                                  const struct cursor *c, uint64_t now_us)
{
    struct ws_session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cfg = *cfg;
    s->io = io;
    s->io_ctx = io_ctx;
    s->now_us = s->last_rx_us = now_us;
    rate_bucket_init(&s->publish_rate, cfg->publish_rate, now_us);
    /* The first frame: the epoch and where the channel is; then the reset
     * marker for a cursor of another start, which is then served from 0. */
    char text[CURSOR_MARKER_MAX];
    uint64_t last = bus_last_id(cfg->ch);
    s->in_call = true;
    queue_text(s, text, cursor_hello(text, cfg->epoch, last));
    bool reset = cursor_stale(c, cfg->ch, cfg->epoch);
    if (reset)
        queue_text(s, text, cursor_reset(text, cfg->epoch, c->since, last));
    fanout_start(&s->fan, &ws_fanout_ops, cfg->ch, cfg->max_queue, c->has_since,
                 reset ? 0 : c->since);
    s->in_call = false;
    return s;
}

enum ws_next ws_session_heartbeat(struct ws_session *s, uint64_t now_us, uint64_t period_us)
{
    if (s->closing)
        return next_step(s);          /* the close timer decides */
    if (now_us - s->last_rx_us > 2 * period_us + period_us / 2)
        return WS_END;
    outq_push(&s->q, NULL, ping_frame, sizeof ping_frame);
    return ws_session_flush(s);
}

enum ws_next ws_session_close(struct ws_session *s, uint16_t code, const char *reason)
{
    s->in_call = true;
    close_with(s, code, reason);
    s->in_call = false;
    return ws_session_flush(s);
}

bool ws_session_closing(const struct ws_session *s) { return s->closing; }
bool ws_session_close_sent(const struct ws_session *s) { return s->close_sent; }

void ws_session_free(struct ws_session *s)
{
    fanout_stop(&s->fan);
    outq_clear(&s->q);
    reader_free(s);
    free(s);
}
