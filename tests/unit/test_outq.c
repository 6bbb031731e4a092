/* The outbound queue of shared bytes (server/outq.c) with messages as the
 * bus makes them (wire.c): a partial write at every byte offset of a
 * two-message batch, reference counts back to zero, a dropped subscriber
 * releasing everything it held. */
#include <stdbool.h>

#include "bus.h"
#include "cursor.h"
#include "outq.h"
#include "shbuf.h"
#include "stats.h"
#include "unit.h"
#include "wssession.h"

static void publish2(struct bus_channel *ch, const struct bus_msg **a, const struct bus_msg **b)
{
    *a = bus_publish(ch, "first", 5, 1);
    *b = bus_publish(ch, "second \xc3\xa9", 9, 2);
}

/* What a writev of the queue's iovecs would send, at most max bytes. */
static size_t gather(const struct outq *q, char *out, size_t max)
{
    struct iovec iov[8];
    int n = outq_iov(q, iov, 8);
    size_t len = 0;
    for (int i = 0; i < n && len < max; i++) {
        size_t k = iov[i].iov_len < max - len ? iov[i].iov_len : max - len;
        memcpy(out + len, iov[i].iov_base, k);
        len += k;
    }
    return len;
}

static void test_partial_write_at_every_offset(void)
{
    struct bus *bus = bus_new(4, 1);
    struct bus_channel *ch = bus_channel(bus, "q", 1);
    const struct bus_msg *a, *b;
    publish2(ch, &a, &b);
    char want[256], got[256];
    size_t total = a->ws_len + b->ws_len;
    memcpy(want, a->ws, a->ws_len);
    memcpy(want + a->ws_len, b->ws, b->ws_len);
    for (size_t k = 0; k <= total; k++) {
        struct outq q = { 0 };
        CHECK(outq_push(&q, bus_msg_hold(a), a->ws, a->ws_len) == 0);
        CHECK(outq_push(&q, bus_msg_hold(b), b->ws, b->ws_len) == 0);
        CHECK_EQ_U(a->hold.refs, 2);
        size_t n = gather(&q, got, k);            /* the socket took k bytes */
        outq_consume(&q, n);
        CHECK_EQ_U(outq_bytes(&q), total - k);
        CHECK_EQ_U(a->hold.refs, k >= a->ws_len ? 1 : 2);
        CHECK(outq_mid_entry(&q) == (k != 0 && k != a->ws_len && k != total));
        size_t rest = gather(&q, got + n, sizeof got - n);
        outq_consume(&q, rest);
        CHECK_EQ_U(n + rest, total);
        CHECK(memcmp(got, want, total) == 0);
        CHECK(outq_empty(&q) && q.ring == NULL);
        CHECK_EQ_U(a->hold.refs, 1);
        CHECK_EQ_U(b->hold.refs, 1);
    }
    bus_free(bus);
    CHECK_EQ_U(shbuf_live_blocks(), 0);
}

static void test_copy_out_at_every_offset(void)
{
    struct bus *bus = bus_new(4, 1);
    struct bus_channel *ch = bus_channel(bus, "q", 1);
    const struct bus_msg *a, *b;
    publish2(ch, &a, &b);
    size_t total = a->sse_len + b->sse_len;
    for (size_t k = 1; k <= total; k++) {
        struct outq q = { 0 };
        outq_push(&q, bus_msg_hold(a), a->sse, a->sse_len);
        outq_push(&q, bus_msg_hold(b), b->sse, b->sse_len);
        char got[256];
        size_t n = 0, step;
        while ((step = outq_copy_out(&q, got + n, k)) > 0)  /* MHD's buffer: k bytes */
            n += step;
        CHECK_EQ_U(n, total);
        CHECK(memcmp(got, a->sse, a->sse_len) == 0);
        CHECK(memcmp(got + a->sse_len, b->sse, b->sse_len) == 0);
        CHECK(outq_empty(&q));
    }
    CHECK(strncmp(a->sse, "id: 1\ndata: {\"id\":1,", 20) == 0);
    bus_free(bus);
    CHECK_EQ_U(shbuf_live_blocks(), 0);
}

static void test_message_outlives_the_ring(void)
{
    struct bus *bus = bus_new(1, 1);
    struct bus_channel *ch = bus_channel(bus, "q", 1);
    const struct bus_msg *a = bus_publish(ch, "kept", 4, 1);
    struct outq q = { 0 };
    outq_push(&q, bus_msg_hold(a), a->ws, a->ws_len);
    bus_publish(ch, "evicts", 6, 2);          /* the ring moved on: the queue still has it */
    CHECK_EQ_U(shbuf_live_blocks(), 2);
    char got[64];
    CHECK_EQ_U(gather(&q, got, sizeof got), a->ws_len);
    CHECK(memcmp(got + 2, "{\"id\":1,", 8) == 0);
    outq_clear(&q);
    CHECK_EQ_U(shbuf_live_blocks(), 1);
    outq_push_copy(&q, "own", 3);
    outq_push(&q, NULL, "static", 6);
    CHECK_EQ_U(outq_bytes(&q), 9);
    outq_trim(&q);                            /* nothing half-written: all goes */
    CHECK(outq_empty(&q));
    bus_free(bus);
    CHECK_EQ_U(shbuf_live_blocks(), 0);
}

/* ---- a subscriber that never reads ------------------------------------ */

static ssize_t io_read(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx, (void)buf, (void)len;
    return 0;
}

static ssize_t io_writev(void *ctx, const struct iovec *iov, int n, bool *blocked)
{
    size_t *room = ctx, taken = 0;
    for (int i = 0; i < n && *room; i++) {
        size_t k = iov[i].iov_len < *room ? iov[i].iov_len : *room;
        *room -= k;
        taken += k;
    }
    *blocked = *room == 0;
    return (ssize_t)taken;
}

static void io_wake(void *ctx)
{
    (void)ctx;
}

static const struct ws_io stalled_io = { io_read, io_writev, io_wake };

static void test_dropped_subscriber_releases_everything(void)
{
    struct bus *bus = bus_new(4, 1);
    struct bus_channel *ch = bus_channel(bus, "q", 1);
    size_t room = 30;                         /* the hello and a bit: then a stall */
    struct ws_session_config cfg = { .ch = ch, .max_message = 1000, .max_queue = 1024 };
    struct cursor c = { 0 };
    struct ws_session *s = ws_session_new(&cfg, &stalled_io, &room, &c, 0);
    CHECK(ws_session_flush(s) == WS_WAIT_WRITABLE);
    uint64_t dropped = stats.slow_consumers_dropped;
    char body[100];
    memset(body, 'x', sizeof body);
    for (int i = 0; i < 40; i++)
        bus_publish(ch, body, sizeof body, (uint64_t)i);
    CHECK_EQ_U(stats.slow_consumers_dropped, dropped + 1);
    CHECK(ws_session_closing(s));
    /* The ring's 4, and the queue's: the half-written hello frame and the
     * close frame; every other message it had is released. */
    CHECK_EQ_U(shbuf_live_blocks(), 4 + 2);
    ws_session_free(s);
    CHECK_EQ_U(shbuf_live_blocks(), 4);
    bus_free(bus);
    CHECK_EQ_U(shbuf_live_blocks(), 0);
}

UNIT_MAIN(test_partial_write_at_every_offset, test_copy_out_at_every_offset,
          test_message_outlives_the_ring, test_dropped_subscriber_releases_everything)
