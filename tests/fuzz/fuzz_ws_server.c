/* The server's WebSocket session (server/wssession.c, the module ws.c
 * glues to the socket), driven through its ws_io: what a client sends
 * after the 101 goes in through read, what the session writes comes out
 * through writev and is parsed back as frames. The session is a fanout
 * subscriber of a real bus channel, so what it publishes comes back
 * through its own queue; a second, slow subscriber on the channel is
 * dropped and resumes.
 *
 * Checked on the output stream: every frame is final, unmasked, with no
 * reserved bit and a known opcode; messages arrive with consecutive ids,
 * a gap marker only where history lost some; a close frame has a valid
 * code (or none) and nothing follows it. And every shared block comes
 * back when all is freed.
 *
 * Input: two seed bytes (bit 0 of the first: a small --max-message, bit 1:
 * the publish token was given), then the client's bytes. The seed drives
 * a PRNG that cuts those bytes into reads, limits how much each write may
 * take (socket backpressure) and interleaves heartbeats, publishes from
 * elsewhere and the slow subscriber's progress, as the event loop would. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "cursor.h"
#include "envelope.h"
#include "fanout.h"
#include "fuzz.h"
#include "shbuf.h"
#include "stats.h"
#include "wssession.h"

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

static void expect_id(struct expect *c, uint64_t id)
{
    FUZZ_CHECK(id == c->want);
    c->want = id + 1;
}

/* bus_publish, and what it stored must read back as the body. */
static void publish(struct bus_channel *ch, const char *body, size_t len)
{
    uint64_t id = bus_last_id(ch) + 1;
    const struct bus_msg *m = bus_publish(ch, body, len, 1764059000123456u);
    FUZZ_CHECK(m != NULL && m->id == id && m->json[m->json_len] == '\0');
    struct envelope e;
    FUZZ_CHECK(envelope_decode(m->json, m->json_len, &e) == 0);
    FUZZ_CHECK(e.id == id && e.data_len == len && (len == 0 || memcmp(e.data, body, len) == 0));
    envelope_clear(&e);
}

/* ---- the client's end of the connection --------------------------------- */

struct client {
    const uint8_t *in;                /* what the socket has for the session now */
    size_t in_len;
    bool eof;                         /* the client has gone: reads fail */
    size_t room;                      /* what the socket takes before EAGAIN */
    bool woken;
    uint8_t *out;                     /* written, not yet parsed into frames */
    size_t out_len;
    bool closed;                      /* a close frame came */
    struct expect cur;
};

static ssize_t client_read(void *ctx, uint8_t *buf, size_t len)
{
    struct client *c = ctx;
    if (c->in_len == 0)
        return c->eof ? -1 : 0;
    size_t n = c->in_len < len ? c->in_len : len;
    memcpy(buf, c->in, n);
    c->in += n;
    c->in_len -= n;
    return (ssize_t)n;
}

static ssize_t client_writev(void *ctx, const struct iovec *iov, int n, bool *blocked)
{
    struct client *c = ctx;
    size_t taken = 0;
    for (int i = 0; i < n && c->room > 0; i++) {
        size_t k = iov[i].iov_len < c->room ? iov[i].iov_len : c->room;
        c->out = realloc(c->out, c->out_len + k);
        FUZZ_CHECK(c->out != NULL);
        memcpy(c->out + c->out_len, iov[i].iov_base, k);
        c->out_len += k;
        c->room -= k;
        taken += k;
    }
    *blocked = c->room == 0;
    return (ssize_t)taken;
}

static void client_wake(void *ctx)
{
    ((struct client *)ctx)->woken = true;
}

static const struct ws_io client_io = {
    .read = client_read,
    .writev = client_writev,
    .wake = client_wake,
};

/* One text frame's payload: a message (ids in order) or a marker. */
static void check_text(struct client *c, const char *p, size_t len)
{
    unsigned long long since, first, lost;
    if (len > 6 && memcmp(p, "{\"id\":", 6) == 0) {
        struct envelope e;
        FUZZ_CHECK(envelope_decode(p, len, &e) == 0);
        expect_id(&c->cur, e.id);
        envelope_clear(&e);
    } else if (len > 7 && memcmp(p, "{\"gap\":", 7) == 0) {
        char text[CURSOR_MARKER_MAX + 1];
        FUZZ_CHECK(len < sizeof text);
        memcpy(text, p, len);
        text[len] = '\0';
        FUZZ_CHECK(sscanf(text, "{\"gap\":true,\"since\":%llu,\"first_id\":%llu,\"lost\":%llu}",
                          &since, &first, &lost) == 3);
        expect_gap(&c->cur, since, first, lost);
    } else {
        FUZZ_CHECK((len > 9 && memcmp(p, "{\"hello\":", 9) == 0) ||
                   (len > 9 && memcmp(p, "{\"reset\":", 9) == 0));
    }
}

static void check_close(const uint8_t *p, size_t len)
{
    FUZZ_CHECK(len == 0 || len >= 2);
    if (len == 0)
        return;
    unsigned code = (unsigned)p[0] << 8 | p[1];
    FUZZ_CHECK((code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006) ||
               (code >= 3000 && code <= 4999));
}

/* Parse the complete frames written so far. */
static void client_parse(struct client *c)
{
    size_t off = 0;
    while (c->out_len - off >= 2) {
        const uint8_t *h = c->out + off;
        FUZZ_CHECK(!c->closed);       /* nothing after our close */
        FUZZ_CHECK((h[0] & 0xf0) == 0x80 && (h[1] & 0x80) == 0);
        uint8_t op = h[0] & 0x0f;
        uint64_t len = h[1] & 0x7f;
        size_t hl = len == 126 ? 4 : len == 127 ? 10 : 2;
        if (c->out_len - off < hl)
            break;
        if (hl > 2) {
            len = 0;
            for (size_t i = 2; i < hl; i++)
                len = len << 8 | h[i];
        }
        if (c->out_len - off - hl < len)
            break;
        const uint8_t *p = h + hl;
        if (op == 0x1)
            check_text(c, (const char *)p, (size_t)len);
        else if (op == 0x8) {
            check_close(p, (size_t)len);
            c->closed = true;
        } else
            FUZZ_CHECK((op == 0x9 || op == 0xa) && len <= 125);
        off += hl + (size_t)len;
    }
    memmove(c->out, c->out + off, c->out_len - off);
    c->out_len -= off;
}

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
    expect_id(&w->cur, m->id);
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

/* What ws.c does with a session's answer; false: the connection ends. */
static bool apply(struct client *c, enum ws_next next)
{
    client_parse(c);
    return next != WS_END;
}

static struct ws_session *session_open(struct client *cl, struct bus_channel *ch,
                                       const uint8_t *data, uint64_t r)
{
    struct ws_session_config cfg = {
        .ch = ch, .epoch = EPOCH,
        .max_message = data[0] & 1 ? MAX_MESSAGE_SMALL : MAX_MESSAGE_DEFAULT,
        .max_queue = MAX_QUEUE, .publish_rate = data[0] & 4 ? 3 : 0,
        .may_publish = (data[0] & 2) == 0,
    };
    /* ?since=N, up to two ids ahead; ?epoch= this start's, another or none */
    struct cursor c = { .has_since = r & 1, .since = (r >> 8) % (bus_last_id(ch) + 3),
                        .has_epoch = r & 2, .epoch = EPOCH + ((r >> 2) & 1) };
    bool reset = cursor_stale(&c, ch, EPOCH);
    expect_start(&cl->cur, ch, c.has_since, reset ? 0 : c.since);
    struct ws_session *s = ws_session_new(&cfg, &client_io, cl, &c, 0);
    FUZZ_CHECK(s != NULL);
    return s;
}

static void run(struct ws_session *s, struct client *cl, struct bus_channel *ch,
                struct slow *slow, const uint8_t *in, size_t len, uint64_t rng)
{
    size_t off = 0;
    uint64_t now = 0;
    bool alive = apply(cl, ws_session_flush(s));
    while (alive) {
        uint64_t r = fuzz_rand(&rng);
        now += (r >> 20) % 2000000;
        /* The client reads everything, nothing (a stall) or a little. */
        cl->room = (r & 0x300) == 0 ? SIZE_MAX : (r & 0x300) == 0x100 ? 0 : (size_t)(r >> 16) % 512;
        if (off < len) {
            size_t n = 1 + (size_t)(r >> 32) % 256;
            cl->in = in + off;
            cl->in_len = n < len - off ? n : len - off;
            off += cl->in_len;
        } else if (ws_session_closing(s)) {
            break;                    /* the close timer: the client never answered */
        } else {
            cl->eof = true;           /* the client leaves */
        }
        if (!(alive = apply(cl, ws_session_read(s, now))))
            break;
        if (r & 0x800)                /* ws_heartbeat, 15 s apart */
            alive = apply(cl, ws_session_heartbeat(s, now, 15000000));
        if (alive && (r & 0x1000))    /* a publish from another client */
            publish(ch, "elsewhere", 9);
        if (alive && cl->woken) {     /* the flush timer */
            cl->woken = false;
            alive = apply(cl, ws_session_flush(s));
        }
        slow_step(slow, ch, r >> 48);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint64_t rng = data[0] | (uint64_t)data[1] << 8;
    struct bus *bus = bus_new(HISTORY, 4);
    FUZZ_CHECK(bus != NULL);
    struct bus_channel *ch = bus_channel(bus, "fuzz", 4);
    FUZZ_CHECK(ch != NULL);
    for (uint64_t n = fuzz_rand(&rng) % 12; n > 0; n--)
        publish(ch, "before", 6);
    struct slow slow = { 0 };
    slow_start(&slow, ch, false, 0);
    struct client cl = { .room = SIZE_MAX };
    struct ws_session *s = session_open(&cl, ch, data, fuzz_rand(&rng));
    run(s, &cl, ch, &slow, data + 2, size - 2, rng);
    ws_session_free(s);
    fanout_stop(&slow.fan);
    bus_free(bus);
    free(cl.out);
    FUZZ_CHECK(shbuf_live_blocks() == 0);   /* every reference came back */
    return 0;
}
