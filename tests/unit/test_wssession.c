/* The WebSocket session (server/wssession.c) fed one byte at a time, as
 * wslay's own tests do: fragmented messages, control frames between
 * fragments, close codes, the publish checks. Its output is parsed back
 * into frames. */
#include <stdbool.h>

#include "bus.h"
#include "cursor.h"
#include "shbuf.h"
#include "stats.h"
#include "unit.h"
#include "wssession.h"

struct peer {
    uint8_t in[70000];                /* what the client sent */
    size_t in_len, in_off, avail;     /* avail: bytes the socket has now */
    uint8_t out[4096];                /* what the session wrote */
    size_t out_len;
};

static ssize_t peer_read(void *ctx, uint8_t *buf, size_t len)
{
    struct peer *p = ctx;
    size_t n = p->avail < len ? p->avail : len;
    memcpy(buf, p->in + p->in_off, n);
    p->in_off += n;
    p->avail -= n;
    return (ssize_t)n;
}

static ssize_t peer_writev(void *ctx, const struct iovec *iov, int n, bool *blocked)
{
    struct peer *p = ctx;
    size_t taken = 0;
    for (int i = 0; i < n; i++) {
        size_t k = iov[i].iov_len < sizeof p->out - p->out_len ? iov[i].iov_len
                                                               : sizeof p->out - p->out_len;
        memcpy(p->out + p->out_len, iov[i].iov_base, k);
        p->out_len += k;
        taken += k;
    }
    *blocked = false;
    return (ssize_t)taken;
}

static void peer_wake(void *ctx)
{
    (void)ctx;
}

static const struct ws_io peer_io = { peer_read, peer_writev, peer_wake };

/* A client frame: masked (unless mask is false), FIN as given. */
static void frame(struct peer *p, bool fin, uint8_t op, const void *data, size_t len, bool mask)
{
    static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };
    uint8_t *h = p->in + p->in_len;
    size_t n = 0;
    h[n++] = (uint8_t)((fin ? 0x80 : 0) | op);
    uint8_t m = mask ? 0x80 : 0;
    if (len < 126) {
        h[n++] = (uint8_t)(m | len);
    } else {
        h[n++] = m | 126;
        h[n++] = (uint8_t)(len >> 8);
        h[n++] = (uint8_t)len;
    }
    if (mask)
        for (int i = 0; i < 4; i++)
            h[n++] = key[i];
    for (size_t i = 0; i < len; i++)
        h[n + i] = (uint8_t)(((const uint8_t *)data)[i] ^ (mask ? key[i % 4] : 0));
    p->in_len += n + len;
}

struct fixture {
    struct bus *bus;
    struct bus_channel *ch;
    struct peer peer;
    struct ws_session *s;
    enum ws_next last;
};

static void open_session(struct fixture *f, bool may_publish, double rate)
{
    memset(f, 0, sizeof *f);
    f->bus = bus_new(16, 1);
    f->ch = bus_channel(f->bus, "w", 1);
    struct ws_session_config cfg = { .ch = f->ch, .epoch = 7, .max_message = 100,
                                     .max_queue = 4096, .publish_rate = rate,
                                     .may_publish = may_publish };
    struct cursor c = { 0 };
    f->s = ws_session_new(&cfg, &peer_io, &f->peer, &c, 0);
    f->last = ws_session_flush(f->s);
}

/* Everything the client sent, one byte per read; stops at WS_END. */
static void feed_bytewise(struct fixture *f)
{
    while (f->peer.in_off < f->peer.in_len && f->last != WS_END) {
        f->peer.avail = 1;
        f->last = ws_session_read(f->s, 1000);
    }
}

static void close_fixture(struct fixture *f)
{
    ws_session_free(f->s);
    bus_free(f->bus);
    CHECK_EQ_U(shbuf_live_blocks(), 0);
}

/* The n-th frame the session wrote (0: the hello): opcode, payload. */
static int out_frame(const struct peer *p, int want, const uint8_t **payload, size_t *len)
{
    size_t off = 0;
    for (int i = 0; off + 2 <= p->out_len; i++) {
        size_t n = p->out[off + 1], h = 2;
        if (n == 126) {
            n = (size_t)p->out[off + 2] << 8 | p->out[off + 3];
            h = 4;
        }
        if (i == want) {
            *payload = p->out + off + h;
            *len = n;
            return p->out[off] & 0x0f;
        }
        off += h + n;
    }
    return -1;
}

/* The code of the session's close frame, 0 for an empty one, -1 for none. */
static int close_code(const struct peer *p)
{
    const uint8_t *b = NULL;
    size_t len = 0;
    for (int i = 0; i < 64; i++) {
        int op = out_frame(p, i, &b, &len);
        if (op < 0)
            return -1;
        if (op == 0x8)
            return len >= 2 ? b[0] << 8 | b[1] : 0;
    }
    return -1;
}

static void test_fragments_with_a_ping_between(void)
{
    struct fixture f;
    open_session(&f, true, 0);
    frame(&f.peer, false, 0x1, "hel", 3, true);
    frame(&f.peer, true, 0x9, "pi", 2, true);
    frame(&f.peer, false, 0x0, "", 0, true);
    frame(&f.peer, true, 0xa, "", 0, true);
    frame(&f.peer, true, 0x0, "lo \xc3\xa9", 5, true);
    feed_bytewise(&f);
    CHECK(f.last == WS_IDLE);
    CHECK_EQ_U(bus_last_id(f.ch), 1);
    const uint8_t *b = NULL;
    size_t len = 0;
    CHECK_EQ_U(out_frame(&f.peer, 1, &b, &len), 0xa);       /* the pong, mid-message */
    CHECK(len == 2 && memcmp(b, "pi", 2) == 0);
    CHECK_EQ_U(out_frame(&f.peer, 2, &b, &len), 0x1);       /* the message, back */
    CHECK(len == bus_msg_at(f.ch, 1)->json_len && memcmp(b, bus_msg_at(f.ch, 1)->json, len) == 0);
    CHECK(strstr((const char *)b, "\"data\":\"hello \xc3\xa9\"") != NULL);
    close_fixture(&f);
}

/* The answer to one close frame with this body, fed byte by byte. */
static int close_answer(const void *body, size_t len, enum ws_next *next)
{
    struct fixture f;
    open_session(&f, true, 0);
    frame(&f.peer, true, 0x8, body, len, true);
    feed_bytewise(&f);
    *next = f.last;
    int code = close_code(&f.peer);
    close_fixture(&f);
    return code;
}

static void test_close_codes(void)
{
    enum ws_next next;
    CHECK_EQ_U(close_answer("\x03", 1, &next), 1002);       /* a 1-byte body */
    CHECK(next == WS_END);
    CHECK_EQ_U(close_answer("\x03\xe8", 2, &next), 1000);
    CHECK(next == WS_END);                                  /* both closes done */
    for (unsigned code = 1012; code <= 1014; code++) {
        uint8_t b[5] = { (uint8_t)(code >> 8), (uint8_t)code, 'b', 'y', 'e' };
        CHECK_EQ_U(close_answer(b, 5, &next), code);        /* registered: echoed */
    }
    CHECK_EQ_U(close_answer("\x03\xf7", 2, &next), 1002);   /* 1015: never sent */
    CHECK_EQ_U(close_answer("\x03\xe7", 2, &next), 1002);   /* 999 */
    CHECK_EQ_U(close_answer("\x0f\xa0", 2, &next), 4000);   /* private use */
    CHECK_EQ_U(close_answer("\x03\xe8\xff", 3, &next), 1007);  /* reason not UTF-8 */
    CHECK_EQ_U(close_answer("", 0, &next), 0);              /* empty: echoed empty */
}

/* The close code after these frames, fed byte by byte. */
static int refused(struct fixture *f)
{
    feed_bytewise(f);
    int code = close_code(&f->peer);
    close_fixture(f);
    return code;
}

static void test_protocol_errors(void)
{
    struct fixture f;
    char big[101];
    memset(big, 'a', sizeof big);
    open_session(&f, true, 0);
    frame(&f.peer, true, 0x1, "x", 1, false);
    CHECK_EQ_U(refused(&f), 1002);                          /* unmasked */
    open_session(&f, true, 0);
    frame(&f.peer, true, 0x0, "x", 1, true);
    CHECK_EQ_U(refused(&f), 1002);                          /* continuation first */
    open_session(&f, true, 0);
    frame(&f.peer, false, 0x1, "x", 1, true);
    frame(&f.peer, true, 0x1, "y", 1, true);
    CHECK_EQ_U(refused(&f), 1002);                          /* a message inside one */
    open_session(&f, true, 0);
    frame(&f.peer, false, 0x9, "", 0, true);
    CHECK_EQ_U(refused(&f), 1002);                          /* a fragmented ping */
    open_session(&f, true, 0);
    frame(&f.peer, true, 0x3, "", 0, true);
    CHECK_EQ_U(refused(&f), 1002);                          /* an unknown opcode */
    open_session(&f, true, 0);
    frame(&f.peer, false, 0x1, big, 60, true);
    frame(&f.peer, true, 0x0, big, 41, true);
    CHECK_EQ_U(refused(&f), 1009);                          /* over --max-message */
    open_session(&f, true, 0);
    frame(&f.peer, true, 0x1, "\xc3", 1, true);
    CHECK_EQ_U(refused(&f), 1007);                          /* not UTF-8 */
    open_session(&f, true, 0);
    frame(&f.peer, true, 0x2, "b", 1, true);
    CHECK_EQ_U(refused(&f), 1003);                          /* binary */
}

static void test_publish_checks(void)
{
    struct fixture f;
    uint64_t unauthorized = stats.unauthorized, rate_closed = stats.ws_publish_rate_closed;
    open_session(&f, false, 0);
    frame(&f.peer, true, 0x1, "x", 1, true);
    CHECK_EQ_U(refused(&f), 1008);
    CHECK_EQ_U(stats.unauthorized, unauthorized + 1);
    open_session(&f, true, 2);                              /* a burst of 2 */
    for (int i = 0; i < 3; i++)
        frame(&f.peer, true, 0x1, "x", 1, true);
    feed_bytewise(&f);
    CHECK_EQ_U(bus_last_id(f.ch), 2);
    CHECK_EQ_U(close_code(&f.peer), 1008);
    CHECK_EQ_U(stats.ws_publish_rate_closed, rate_closed + 1);
    close_fixture(&f);
}

static void test_heartbeat(void)
{
    struct fixture f;
    open_session(&f, true, 0);
    CHECK(ws_session_heartbeat(f.s, 15000000, 15000000) == WS_IDLE);
    const uint8_t *b = NULL;
    size_t len = 0;
    CHECK_EQ_U(out_frame(&f.peer, 1, &b, &len), 0x9);
    CHECK(ws_session_heartbeat(f.s, 40000000, 15000000) == WS_END);  /* 2.5 periods silent */
    close_fixture(&f);
}

UNIT_MAIN(test_fragments_with_a_ping_between, test_close_codes, test_protocol_errors,
          test_publish_checks, test_heartbeat)
