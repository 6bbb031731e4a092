/* The server's WebSocket input path: what a client sends after the 101
 * goes through a wslay server context set up as server/ws.c sets up its own
 * (the same --max-message limit, callbacks doing what ws.c's do), then
 * through ws_on_msg's handling (binary refused, UTF-8 checked, bus_publish
 * on a real bus). The session is also a fanout subscriber of its channel,
 * as in ws.c, so what it publishes comes back through its own outbound
 * queue (after the hello frame, and a reset frame when its cursor is of
 * another server start); a second, slow subscriber on the channel is
 * dropped and resumes.
 *
 * ws.c's callbacks are static and work on MHD's socket, so this mirrors
 * them rather than calls them: keep the two in step.
 *
 * Input: two seed bytes (bit 0 of the first: a small --max-message), then
 * the client's bytes. The seed drives a PRNG that cuts those bytes into
 * reads, limits how much each write may send (socket backpressure) and
 * interleaves heartbeat pings, publishes from elsewhere and the slow
 * subscriber's progress, as the event loop would. */
#include <stdbool.h>
#include <string.h>
#include <sys/types.h>
#include <wslay/wslay.h>

#include "bus.h"
#include "cursor.h"
#include "envelope.h"
#include "fanout.h"
#include "fuzz.h"
#include "stats.h"
#include "utf8.h"

/* fanout.c counts into the server's global counters; stats.c, which
 * renders them, needs the whole server, so the counters live here. */
struct stats stats;

#define MAX_MESSAGE_DEFAULT (64 * 1024)   /* --max-message's default */
#define MAX_MESSAGE_SMALL 100             /* one short inputs can exceed */
#define MAX_QUEUE 1024                    /* --max-queue's least, so it overflows */
#define HISTORY 8                         /* --history, low so it evicts */
#define SLOW_QUEUE 300                    /* the slow subscriber's queue */
#define EPOCH 1764059000000000u           /* this start's, as main.c picks it */

/* One subscriber's stream: ids consecutive from where it started, a gap
 * marker only where history lost some, and it names exactly those. */
struct expect {
    uint64_t want;
};

static void expect_start(struct expect *c, struct bus_channel *ch, bool has_since,
                         uint64_t since)
{
    uint64_t last = bus_last_id(ch);
    c->want = (has_since && since < last ? since : last) + 1;
}

static void expect_gap(struct expect *c, uint64_t since, uint64_t first, uint64_t lost)
{
    FUZZ_CHECK(since + 1 == c->want && lost >= 1 && first == since + lost + 1);
    c->want = first;
}

static void expect_msg(struct expect *c, const struct bus_msg *m)
{
    FUZZ_CHECK(m->id == c->want);
    c->want = m->id + 1;
}

/* bus_publish, and what it stored must read back as the body. */
static void publish(struct bus_channel *ch, const char *body, size_t len)
{
    uint64_t id = bus_last_id(ch) + 1;
    const struct bus_msg *m = bus_publish(ch, body, len, 1764059000123456u);
    FUZZ_CHECK(m != NULL && m->id == id && m->json[m->json_len] == '\0');
    struct envelope e;
    FUZZ_CHECK(envelope_decode(m->json, m->json_len, &e) == 0);
    /* wslay hands over an empty message as NULL, length 0. */
    FUZZ_CHECK(e.id == id && e.data_len == len && (len == 0 || memcmp(e.data, body, len) == 0));
    envelope_clear(&e);
}

/* ---- the session, as server/ws.c keeps it ----------------------------- */

struct session {
    struct fanout fan;                /* first: fanout calls back with it */
    struct expect cur;
    struct bus_channel *ch;
    wslay_event_context_ptr ctx;
    size_t max_message;
    const uint8_t *in;                /* what the socket has for us now */
    size_t in_len;
    bool eof;                         /* the client has gone: reads fail */
    size_t room;                      /* what the socket takes before EAGAIN */
    bool in_recv, broken, closing, recv_failed, wev_on;
};

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                       int flags, void *user)
{
    (void)flags;
    struct session *s = user;
    if (s->in_len) {
        size_t n = s->in_len < len ? s->in_len : len;
        memcpy(buf, s->in, n);
        s->in += n;
        s->in_len -= n;
        return (ssize_t)n;
    }
    if (s->eof) {
        s->recv_failed = true;
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    } else {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    }
    return -1;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
                       int flags, void *user)
{
    (void)data;
    (void)flags;
    struct session *s = user;
    if (s->room == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < s->room ? len : s->room;
    s->room -= n;
    return (ssize_t)n;
}

static int send_out(struct session *s)
{
    if (wslay_event_want_write(s->ctx) && wslay_event_send(s->ctx) != 0)
        return -1;
    s->wev_on = wslay_event_want_write(s->ctx);
    return 0;
}

static void start_close(struct session *s, uint16_t code, const char *reason)
{
    if (s->closing)
        return;
    s->closing = true;
    fanout_stop(&s->fan);
    wslay_event_queue_close(s->ctx, code, (const uint8_t *)reason, strlen(reason));
}

/* ws_service: false when ws.c would destroy the session. */
static bool service(struct session *s)
{
    if (s->broken || send_out(s) != 0)
        return false;
    if (!s->closing && wslay_event_get_queued_msg_count(s->ctx) == 0) {
        fanout_pump(&s->fan);
        if (send_out(s) != 0)
            return false;
    }
    return wslay_event_want_read(s->ctx) || wslay_event_want_write(s->ctx);
}

static void on_msg(wslay_event_context_ptr ctx,
                   const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
    (void)ctx;
    struct session *s = user;
    /* wslay enforces --max-message on every message it hands over. */
    FUZZ_CHECK(arg->msg_length <= s->max_message);
    if (arg->opcode == WSLAY_BINARY_FRAME) {
        start_close(s, WSLAY_CODE_UNSUPPORTED_DATA, "only text messages are published");
        return;
    }
    if (arg->opcode != WSLAY_TEXT_FRAME || s->closing)
        return;
    if (!utf8_valid(arg->msg, arg->msg_length)) {
        start_close(s, WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA, "text is not UTF-8");
        return;
    }
    publish(s->ch, (const char *)arg->msg, arg->msg_length);
}

static const struct wslay_event_callbacks callbacks = {
    .recv_callback = recv_cb,
    .send_callback = send_cb,
    .on_msg_recv_callback = on_msg,
};

/* ws_on_readable: false when ws.c would destroy the session (a read that
 * failed, or a frame wslay refused: ws.c then writes a raw 1002 first). */
static bool readable(struct session *s)
{
    s->in_recv = true;
    int rc = wslay_event_recv(s->ctx);
    s->in_recv = false;
    if (s->recv_failed || rc != 0)
        return false;
    return service(s);
}

static void queue_text(struct session *s, const char *text, size_t len)
{
    struct wslay_event_msg msg = { WSLAY_TEXT_FRAME, (const uint8_t *)text, len };
    if (wslay_event_queue_msg(s->ctx, &msg) != 0)
        return;
    if (!s->in_recv && !s->broken && send_out(s) != 0)
        s->broken = true;
}

static size_t session_queued(struct fanout *f)
{
    return wslay_event_get_queued_msg_length(((struct session *)f)->ctx);
}

static void session_gap(struct fanout *f, uint64_t since, uint64_t first, uint64_t lost)
{
    struct session *s = (struct session *)f;
    expect_gap(&s->cur, since, first, lost);
    char text[CURSOR_MARKER_MAX];
    int n = cursor_gap(text, since, first, lost);
    queue_text(s, text, (size_t)n);
}

static void session_msg(struct fanout *f, const struct bus_msg *m)
{
    struct session *s = (struct session *)f;
    expect_msg(&s->cur, m);
    queue_text(s, m->json, m->json_len);
}

static void session_drop(struct fanout *f)
{
    struct session *s = (struct session *)f;
    start_close(s, WSLAY_CODE_POLICY_VIOLATION, "slow consumer: queue full");
    if (!s->in_recv && !s->broken && send_out(s) != 0)
        s->broken = true;
}

static const struct fanout_ops session_ops = {
    .queued = session_queued,
    .send_gap = session_gap,
    .send_msg = session_msg,
    .drop = session_drop,
};

/* ---- the slow subscriber: a queue the loop drains now and then --------- */

struct slow {
    struct fanout fan;                /* first */
    struct expect cur;
    size_t queued;
};

static size_t slow_queued(struct fanout *f)
{
    return ((struct slow *)f)->queued;
}

static void slow_gap(struct fanout *f, uint64_t since, uint64_t first, uint64_t lost)
{
    expect_gap(&((struct slow *)f)->cur, since, first, lost);
}

static void slow_msg(struct fanout *f, const struct bus_msg *m)
{
    struct slow *w = (struct slow *)f;
    expect_msg(&w->cur, m);
    w->queued += m->json_len;
}

static void slow_drop(struct fanout *f)
{
    (void)f;                          /* fanout marks it; slow_step resumes it */
}

static const struct fanout_ops slow_ops = {
    .queued = slow_queued,
    .send_gap = slow_gap,
    .send_msg = slow_msg,
    .drop = slow_drop,
};

static void slow_start(struct slow *w, struct bus_channel *ch, bool has_since, uint64_t since)
{
    expect_start(&w->cur, ch, has_since, since);
    fanout_start(&w->fan, &slow_ops, ch, SLOW_QUEUE, has_since, since);
}

/* Drain some of the queue; after a drop, reconnect and resume where it was. */
static void slow_step(struct slow *w, struct bus_channel *ch, uint64_t r)
{
    if (w->fan.dropped) {
        w->queued = 0;
        slow_start(w, ch, true, w->cur.want - 1);
        return;
    }
    size_t n = (size_t)(r % 400);
    w->queued -= n < w->queued ? n : w->queued;
    if (w->queued == 0)
        fanout_pump(&w->fan);
}

/* ---- the event loop ----------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint64_t rng = data[0] | (uint64_t)data[1] << 8;
    const uint8_t *in = data + 2;
    size_t len = size - 2, off = 0;

    struct bus *bus = bus_new(HISTORY, 4);
    FUZZ_CHECK(bus != NULL);
    struct bus_channel *ch = bus_channel(bus, "fuzz", 4);
    FUZZ_CHECK(ch != NULL);
    for (uint64_t n = fuzz_rand(&rng) % 12; n > 0; n--)
        publish(ch, "before", 6);
    struct slow slow = { 0 };
    slow_start(&slow, ch, false, 0);

    struct session s = { .ch = ch, .room = SIZE_MAX,
                         .max_message = data[0] & 1 ? MAX_MESSAGE_SMALL : MAX_MESSAGE_DEFAULT };
    FUZZ_CHECK(wslay_event_context_server_init(&s.ctx, &callbacks, &s) == 0);
    wslay_event_config_set_max_recv_msg_length(s.ctx, s.max_message);
    uint64_t r = fuzz_rand(&rng);
    /* ?since=N, up to two ids ahead; ?epoch= this start's, another or none */
    struct cursor c = { .has_since = r & 1, .since = (r >> 8) % (bus_last_id(ch) + 3),
                        .has_epoch = r & 2, .epoch = EPOCH + ((r >> 2) & 1) };
    /* As ws_upgraded: the hello, a reset for a stale cursor, then from 0. */
    bool reset = cursor_stale(&c, ch, EPOCH);
    FUZZ_CHECK(reset == (c.has_since && ((c.has_epoch && c.epoch != EPOCH) ||
                                         c.since > bus_last_id(ch))));
    char text[CURSOR_MARKER_MAX];
    queue_text(&s, text, (size_t)cursor_hello(text, EPOCH, bus_last_id(ch)));
    if (reset)
        queue_text(&s, text, (size_t)cursor_reset(text, EPOCH, c.since, bus_last_id(ch)));
    uint64_t since = reset ? 0 : c.since;
    expect_start(&s.cur, ch, c.has_since, since);
    fanout_start(&s.fan, &session_ops, ch, MAX_QUEUE, c.has_since, since);

    bool alive = service(&s);
    while (alive) {
        r = fuzz_rand(&rng);
        /* The client reads everything, nothing (a stall) or a little. */
        s.room = (r & 0x300) == 0 ? SIZE_MAX : (r & 0x300) == 0x100 ? 0 : (size_t)(r >> 16) % 512;
        if (off < len) {
            size_t n = 1 + (size_t)(r >> 32) % 256;
            s.in = in + off;
            s.in_len = n < len - off ? n : len - off;
            off += s.in_len;
        } else if (s.closing) {
            break;                    /* the close timer: the client never answered */
        } else {
            s.eof = true;             /* the client leaves */
        }
        if (!readable(&s))
            break;
        if ((r & 0x800) && !s.closing) {  /* ws_heartbeat */
            struct wslay_event_msg ping = { WSLAY_PING, NULL, 0 };
            wslay_event_queue_msg(s.ctx, &ping);
            if (!service(&s))
                break;
        }
        if (r & 0x1000) {             /* a publish from another client */
            publish(ch, "elsewhere", 9);
            if ((s.broken || s.wev_on) && !service(&s))
                break;
        }
        slow_step(&slow, ch, r >> 48);
    }
    fanout_stop(&s.fan);
    wslay_event_context_free(s.ctx);
    fanout_stop(&slow.fan);
    bus_free(bus);
    return 0;
}
