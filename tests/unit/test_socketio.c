/* The socketio dialect's packet decoding (client/sio_packet.c): Engine.IO
 * and Socket.IO packets as peers/socketio (socket.io 4.8.4) sends them, the
 * record-separated long-polling answer, and every packet fed byte by byte:
 * each prefix in an exact-size allocation (ASan sees any read past it),
 * which must be refused or be a packet of its own, never read further. */
#include <stdbool.h>

#include "sio_packet.h"
#include "unit.h"

#define OPEN "0{\"sid\":\"SRmoYNaomRGLERVuAAAA\",\"upgrades\":[\"websocket\"]," \
             "\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}"
#define CONNECT "40{\"sid\":\"FQKQFG3hWxOgUCRAAAAA\",\"pid\":\"gR_IzHZPt1TyhBhiAAAB\"}"
#define ENVELOPE "{\"id\":1,\"ts\":1796228958491341,\"data\":\"hi \\\"] there\"}"
#define EVENT "42[\"msg\"," ENVELOPE ",\"Q8tbiaR.0\"]"

/* Decode from an exact-size copy of text[0..len). */
static int decode_n(const char *text, size_t len, struct sio_packet *p)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, text, len);
    int rc = sio_decode(copy, len, p);
    /* Pointers into the copy must not outlive it: keep their offsets. */
    if (rc == 0 && p->kind == SIO_EVENT) {
        p->name = text + (p->name - copy);
        p->arg = text + (p->arg - copy);
        if (p->offset)
            p->offset = text + (p->offset - copy);
    }
    free(copy);
    return rc;
}

static int decode(const char *text, struct sio_packet *p)
{
    return decode_n(text, strlen(text), p);
}

static bool span_is(const char *p, size_t len, const char *want)
{
    return p && len == strlen(want) && memcmp(p, want, len) == 0;
}

static void test_open_and_connect(void)
{
    struct sio_packet p;
    CHECK(decode(OPEN, &p) == 0);
    CHECK_EQ_U(p.kind, EIO_OPEN);
    CHECK_STR(p.sid, "SRmoYNaomRGLERVuAAAA");
    CHECK_EQ_U(p.ping_interval_ms, 25000);
    CHECK(decode(CONNECT, &p) == 0);
    CHECK_EQ_U(p.kind, SIO_CONNECT);
    CHECK_STR(p.sid, "FQKQFG3hWxOgUCRAAAAA");
    CHECK_STR(p.pid, "gR_IzHZPt1TyhBhiAAAB");
    /* Without recovery the server names no pid. */
    CHECK(decode("40{\"sid\":\"abc\"}", &p) == 0);
    CHECK_STR(p.pid, "");
    CHECK(decode("0{\"upgrades\":[]}", &p) == -1);          /* no sid */
    CHECK(decode("0{\"sid\":\"a b\",\"pingInterval\":1}", &p) == -1);   /* not an id */
    CHECK(decode("40{\"sid\":\"a\",\"pid\":7}", &p) == -1);
    CHECK(decode("40", &p) == -1);
}

static void test_event(void)
{
    struct sio_packet p;
    CHECK(decode(EVENT, &p) == 0);
    CHECK_EQ_U(p.kind, SIO_EVENT);
    CHECK(span_is(p.name, p.name_len, "msg"));
    CHECK(span_is(p.arg, p.arg_len, ENVELOPE));
    CHECK(span_is(p.offset, p.offset_len, "Q8tbiaR.0"));
    /* Without recovery there is no offset; a lone string is the argument. */
    CHECK(decode("42[\"msg\"," ENVELOPE "]", &p) == 0);
    CHECK_EQ_U(p.offset_len, 0);
    CHECK(span_is(p.arg, p.arg_len, ENVELOPE));
    CHECK(decode("42[\"msg\",\"x\"]", &p) == 0);
    CHECK_EQ_U(p.offset_len, 0);
    CHECK(decode(" 42[\"msg\"]", &p) == -1);
    CHECK(decode("42[\"msg\",{\"a\":[1,2}", &p) == -1);      /* unterminated */
    CHECK(decode("42[\"msg\",{}]x", &p) == -1);              /* trailing bytes */
    CHECK(decode("42[\"msg\",]", &p) == -1);
    CHECK(decode("42[msg]", &p) == -1);
}

static void test_other_packets(void)
{
    static const struct { const char *text; enum sio_kind kind; } ok[] = {
        { "1", EIO_CLOSE }, { "2", EIO_PING }, { "2probe", EIO_PING }, { "3", EIO_PONG },
        { "3probe", EIO_PONG }, { "5", EIO_UPGRADE }, { "6", EIO_NOOP },
        { "41", SIO_DISCONNECT }, { "44{\"message\":\"no\"}", SIO_CONNECT_ERROR },
        { "42/chat,[\"msg\"]", SIO_OTHER }, { "4213[\"msg\"]", SIO_OTHER },
        { "43[\"x\"]", SIO_OTHER },
    };
    struct sio_packet p;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        CHECK(decode(ok[i].text, &p) == 0);
        CHECK_EQ_U(p.kind, ok[i].kind);
    }
    static const char *const bad[] = { "", "7", "x", "2pong", "1x", "4", "47", "6 " };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(decode(bad[i], &p) == -1);
}

/* The upgrade's probes are told from a plain ping and pong; only those two
 * packets carry one. */
static void test_probe(void)
{
    struct sio_packet p;
    CHECK(decode("2probe", &p) == 0 && p.kind == EIO_PING && p.probe);
    CHECK(decode("3probe", &p) == 0 && p.kind == EIO_PONG && p.probe);
    CHECK(decode("2", &p) == 0 && !p.probe);
    CHECK(decode("3", &p) == 0 && !p.probe);
    CHECK(decode("3probe", &p) == 0 && decode("5", &p) == 0 && !p.probe);   /* reset */
    static const char *const bad[] = { "3prob", "3probes", "3Probe", "5probe", "6probe", "1probe" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(decode(bad[i], &p) == -1);
}

/* Every prefix of a packet, one byte more each time. */
static void test_byte_by_byte(void)
{
    static const char *const packets[] = { OPEN, CONNECT, EVENT, "2probe", "3probe", "44{\"m\":1}" };
    for (size_t i = 0; i < sizeof packets / sizeof packets[0]; i++) {
        size_t len = strlen(packets[i]);
        struct sio_packet p, whole;
        CHECK(decode(packets[i], &whole) == 0);
        for (size_t n = 0; n < len; n++) {
            int rc = decode_n(packets[i], n, &p);
            /* A prefix that decodes is a shorter packet ("2" of "2probe",
             * "44" of a connect error), never the whole one misread. */
            if (rc == 0)
                CHECK(p.kind != whole.kind || n <= 2);
        }
    }
}

static void test_polling_payload(void)
{
    const char body[] = EVENT "\x1e" "2" "\x1e" CONNECT;
    const char *pos = body, *end = body + sizeof body - 1, *pkt;
    size_t len, n = 0;
    enum sio_kind kinds[3];
    while (sio_next(&pos, end, &pkt, &len) == 0 && n < 3) {
        struct sio_packet p;
        CHECK(decode_n(pkt, len, &p) == 0);
        kinds[n++] = p.kind;
    }
    CHECK_EQ_U(n, 3);
    CHECK(kinds[0] == SIO_EVENT && kinds[1] == EIO_PING && kinds[2] == SIO_CONNECT);
    pos = body;
    CHECK(sio_next(&pos, body, &pkt, &len) == -1);          /* an empty answer */
}

static void test_connect_encode(void)
{
    char buf[128];
    CHECK(sio_connect_encode(buf, sizeof buf, "", "") == 2);
    CHECK_STR(buf, "40");
    CHECK(sio_connect_encode(buf, sizeof buf, "gR_IzHZPt1TyhBhiAAAB", "") == 2);
    int n = sio_connect_encode(buf, sizeof buf, "gR_IzHZPt1TyhBhiAAAB", "Q8tbiaR.0");
    CHECK_STR(buf, "40{\"pid\":\"gR_IzHZPt1TyhBhiAAAB\",\"offset\":\"Q8tbiaR.0\"}");
    CHECK_EQ_U(n, strlen(buf));
    CHECK(sio_connect_encode(buf, 20, "gR_IzHZPt1TyhBhiAAAB", "Q8tbiaR.0") == -1);
    CHECK(sio_id_valid("Q8tbiaR.0", 9) && !sio_id_valid("a\"b", 3) && !sio_id_valid("", 0));
}

UNIT_MAIN(test_open_and_connect, test_event, test_other_packets, test_probe, test_byte_by_byte,
          test_polling_payload, test_connect_encode)
