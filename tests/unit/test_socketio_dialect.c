/* The socketio dialect's session (client/dialect_socketio.c) driven through
 * its struct dialect, the way the transports drive it, with a recording
 * send in place of a connection: the upgrade from polling (handshake, &sid=,
 * 2probe, 3probe, 5, then the CONNECT), what ends a failed upgrade, and the
 * direct WebSocket left as it was. */
#include <stdbool.h>

#include "dialect.h"
#include "subscriber.h"
#include "unit.h"

#define SID "SRmoYNaomRGLERVuAAAA"
#define OPEN "0{\"sid\":\"" SID "\",\"upgrades\":[\"websocket\"]," \
             "\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}"
#define CONNECT "40{\"sid\":\"FQKQFG3hWxOgUCRAAAAA\",\"pid\":\"gR_IzHZPt1TyhBhiAAAB\"}"

static const struct dialect *const d = &dialect_socketio;

/* What the dialect sent, joined by '|'. */
static char sent[256];

static int record(struct subscriber *s, const char *data, size_t len)
{
    (void)s;
    size_t n = strlen(sent);
    snprintf(sent + n, sizeof sent - n, "%s%.*s", n ? "|" : "", (int)len, data);
    return 0;
}

static struct client_config cfg;
static struct run run;                /* static: its histograms are ~80 KiB */
static struct subscriber sub;

static struct subscriber *fresh(bool upgrade, enum transport t)
{
    static char session[512];
    CHECK(d->session_size <= sizeof session);
    memset(session, 0, sizeof session);
    memset(&cfg, 0, sizeof cfg);
    memset(&run, 0, sizeof run);
    memset(&sub, 0, sizeof sub);
    snprintf(cfg.url, sizeof cfg.url, "http://h");
    cfg.dialect = d;
    cfg.socketio_upgrade = upgrade;
    run.cfg = &cfg;
    run.transport = t;
    hist_init(&run.connect_time);
    snprintf(run.channel_prefix, sizeof run.channel_prefix, "c");
    sub.run = &run;
    sub.session = session;
    sub.send = record;
    sent[0] = '\0';
    return &sub;
}

static void check_url(struct subscriber *s, enum transport t, const char *want)
{
    char url[256];
    struct curl_slist *h = NULL;
    CHECK(d->request(s, t, true, url, sizeof url, &h) == 0);
    CHECK_STR(url, want);
    curl_slist_free_all(h);
}

static int ws_text(struct subscriber *s, const char *text)
{
    return d->ws_text(s, text, strlen(text));
}

/* The polling handshake: its open packet names the sid, no CONNECT. */
static void handshake(struct subscriber *s)
{
    struct poll_answer a = { .status = 200, .body = OPEN, .len = strlen(OPEN),
                             .content_type = "", .last_modified = "", .etag = "" };
    bool empty;
    CHECK(d->ws_after_poll(s));
    check_url(s, TR_LONGPOLL, "http://h/socket.io/?EIO=4&transport=polling&ch=c0");
    CHECK(d->poll_answer(s, &a, &empty) == 0);
    CHECK(!d->ws_after_poll(s));
    CHECK_STR(sent, "");
}

static void test_upgrade(void)
{
    struct subscriber *s = fresh(true, TR_WS);
    handshake(s);
    check_url(s, TR_WS, "http://h/socket.io/?EIO=4&transport=websocket&ch=c0&sid=" SID);
    CHECK(d->ws_opened(s) == 0);
    CHECK_STR(sent, "2probe");
    CHECK(ws_text(s, "3probe") == 0);
    CHECK_STR(sent, "2probe|5|40");
    CHECK(!s->track.connected);
    CHECK(ws_text(s, CONNECT) == 0);
    CHECK(s->track.connected);
    CHECK(ws_text(s, "2") == 0);      /* from here as a direct WebSocket */
    CHECK_STR(sent, "2probe|5|40|3");
    CHECK_EQ_U(run.cost.protocol_errors, 0);
    /* The next session upgrades again and asks to recover this one. */
    CHECK(ws_text(s, "42[\"msg\",{\"id\":1,\"ts\":1,\"data\":\"x\"},\"Q8tbiaR.0\"]") == 0);
    d->session_lost(s);
    sent[0] = '\0';
    handshake(s);
    CHECK(d->ws_opened(s) == 0 && ws_text(s, "3probe") == 0);
    CHECK_STR(sent, "2probe|5|40{\"pid\":\"gR_IzHZPt1TyhBhiAAAB\",\"offset\":\"Q8tbiaR.0\"}");
}

/* Anything but 3probe after 2probe ends the connection (counted). */
static void test_probe_refused(void)
{
    static const char *const answers[] = { "3", "6", "2probe", "40", OPEN, "3prob", "" };
    for (size_t i = 0; i < sizeof answers / sizeof answers[0]; i++) {
        struct subscriber *s = fresh(true, TR_WS);
        handshake(s);
        CHECK(d->ws_opened(s) == 0);
        CHECK(ws_text(s, answers[i]) == DIALECT_WS_END);
        CHECK_EQ_U(run.cost.protocol_errors, 1);
        CHECK_STR(sent, "2probe");
    }
    /* A lost session forgets the probe: a new one starts over. */
    struct subscriber *s = fresh(true, TR_WS);
    handshake(s);
    CHECK(d->ws_opened(s) == 0);
    d->session_lost(s);
    CHECK(d->ws_after_poll(s));
    CHECK(ws_text(s, "3") == 0);
}

/* An answer without an open packet leaves the WebSocket waiting for one. */
static void test_handshake_without_open(void)
{
    struct subscriber *s = fresh(true, TR_WS);
    struct poll_answer a = { .status = 200, .body = "6", .len = 1,
                             .content_type = "", .last_modified = "", .etag = "" };
    bool empty;
    CHECK(d->poll_answer(s, &a, &empty) == 0);
    CHECK(d->ws_after_poll(s));
    a.status = 400;
    CHECK(d->poll_answer(s, &a, &empty) == -1);
}

/* Without --socketio-upgrade: no handshake, no probe, the server's open
 * packet over the WebSocket answered with the CONNECT. */
static void test_direct(void)
{
    struct subscriber *s = fresh(false, TR_WS);
    CHECK(!d->ws_after_poll(s));
    check_url(s, TR_WS, "http://h/socket.io/?EIO=4&transport=websocket&ch=c0");
    CHECK(d->ws_opened(s) == 0);
    CHECK_STR(sent, "");
    CHECK(ws_text(s, OPEN) == 0);
    CHECK_STR(sent, "40");
    CHECK(ws_text(s, "3probe") == 0); /* a stray pong is no error here */
    /* Long polling sends its CONNECT after the handshake, as before. */
    s = fresh(false, TR_LONGPOLL);
    struct poll_answer a = { .status = 200, .body = OPEN, .len = strlen(OPEN),
                             .content_type = "", .last_modified = "", .etag = "" };
    bool empty;
    CHECK(d->poll_answer(s, &a, &empty) == 0);
    CHECK_STR(sent, "40");
    check_url(s, TR_LONGPOLL, "http://h/socket.io/?EIO=4&transport=polling&ch=c0&sid=" SID);
}

UNIT_MAIN(test_upgrade, test_probe_refused, test_handshake_without_open, test_direct)
