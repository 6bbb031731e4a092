/* SSE parser: every stream is parsed fed whole, one byte at a time and in
 * many random splits, and all three must give the same transcript. Each
 * chunk sits in its own exact-size allocation, so ASan catches a read past
 * the buffer the parser was given. */
#include "sse_parser.h"
#include "unit.h"

#include <stdint.h>

/* A transcript: one line per event ("TYPE [DATA] id=ID", " own" when the
 * event carried its own id field) and per comment (": TEXT"), then the final
 * state ("= id=ID retry=MS comments=N rc=RC"). Bytes that would be
 * ambiguous are escaped as in C. */
struct transcript {
    char *s;
    size_t len, cap;
};

static void tr_put(struct transcript *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->s = realloc(t->s, t->cap);
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = '\0';
}

static void tr_str(struct transcript *t, const char *s)
{
    tr_put(t, s, strlen(s));
}

static void tr_esc(struct transcript *t, const char *s, size_t n)
{
    char tmp[8];
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            tr_str(t, "\\n");
        else if (c == '\r')
            tr_str(t, "\\r");
        else if (c == '\\')
            tr_str(t, "\\\\");
        else if (c < 0x20 || c >= 0x7f) {
            snprintf(tmp, sizeof tmp, "\\x%02x", c);
            tr_str(t, tmp);
        } else
            tr_put(t, (const char *)&c, 1);
    }
}

static void on_event(void *ud, const struct sse_event *ev)
{
    struct transcript *t = ud;
    /* Strings must also be NUL-terminated where their lengths say. */
    CHECK(ev->type[ev->type_len] == '\0');
    CHECK(ev->data[ev->data_len] == '\0');
    CHECK(ev->id[ev->id_len] == '\0');
    tr_esc(t, ev->type, ev->type_len);
    tr_str(t, " [");
    tr_esc(t, ev->data, ev->data_len);
    tr_str(t, "] id=");
    tr_esc(t, ev->id, ev->id_len);
    tr_str(t, ev->has_id ? " own\n" : "\n");
}

static void on_comment(void *ud, const char *text, size_t len)
{
    struct transcript *t = ud;
    tr_str(t, ": ");
    tr_esc(t, text, len);
    tr_str(t, "\n");
}

static void tr_state(struct transcript *t, const struct sse_parser *p, int rc)
{
    char tmp[96];
    size_t id_len;
    uint64_t ms;
    const char *id = sse_parser_last_id(p, &id_len);
    CHECK(id[id_len] == '\0');
    tr_str(t, "= id=");
    tr_esc(t, id, id_len);
    if (sse_parser_retry(p, &ms))
        snprintf(tmp, sizeof tmp, " retry=%llu", (unsigned long long)ms);
    else
        snprintf(tmp, sizeof tmp, " retry=-");
    tr_str(t, tmp);
    snprintf(tmp, sizeof tmp, " comments=%llu rc=%d\n",
             (unsigned long long)sse_parser_comments(p), rc);
    tr_str(t, tmp);
    CHECK((rc != 0) == (sse_parser_error(p) != NULL));
}

static void count_event(void *ud, const struct sse_event *ev)
{
    *(size_t *)ud = ev->data_len;
}

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

enum split { SPLIT_WHOLE, SPLIT_BYTES, SPLIT_RANDOM };

static size_t chunk_len(enum split how, size_t left)
{
    if (how == SPLIT_WHOLE)
        return left;
    if (how == SPLIT_BYTES)
        return left ? 1 : 0;
    /* Mostly short chunks, where the boundary cases live; empty ones too. */
    return rng_next() % 2 ? rng_next() % 8 % (left + 1) : rng_next() % (left + 1);
}

/* Feeds one stream to a fresh parser, split as asked; returns the
 * transcript (malloc'd). Once a feed fails, every later one must fail. */
static char *parse_split(const char *stream, size_t len, size_t max, enum split how)
{
    struct transcript t = { 0 };
    struct sse_parser *p = sse_parser_new(max, on_event, on_comment, &t);
    int rc = 0;
    size_t off = 0;
    tr_str(&t, "");
    while (off < len) {
        size_t n = chunk_len(how, len - off);
        char *chunk = malloc(n ? n : 1);
        memcpy(chunk, stream + off, n);
        int r = sse_parser_feed(p, chunk, n);
        free(chunk);
        CHECK(rc == 0 || r == -1);
        rc = r ? r : rc;
        off += n;
    }
    tr_state(&t, p, rc);
    sse_parser_free(p);
    return t.s;
}

#define RANDOM_SPLITS 300

static void expect_max(const char *stream, size_t len, size_t max, const char *want)
{
    char *whole = parse_split(stream, len, max, SPLIT_WHOLE);
    if (strcmp(whole, want) != 0) {
        CHECK_STR(whole, want);
        printf("#   stream: ");
        struct transcript t = { 0 };
        tr_esc(&t, stream, len);
        printf("%s\n", t.s ? t.s : "");
        free(t.s);
    }
    char *bytes = parse_split(stream, len, max, SPLIT_BYTES);
    CHECK_STR(bytes, whole);
    free(bytes);
    rng_state = 1;
    for (int i = 0; i < RANDOM_SPLITS; i++) {
        char *rnd = parse_split(stream, len, max, SPLIT_RANDOM);
        if (strcmp(rnd, whole) != 0) {
            CHECK_STR(rnd, whole);
            i = RANDOM_SPLITS;
        }
        free(rnd);
    }
    free(whole);
}

/* String literals may hold NUL bytes: take their size, not strlen. */
#define EXPECT(stream, want) expect_max(stream, sizeof(stream) - 1, 1 << 20, want)
#define EXPECT_MAX(stream, max, want) expect_max(stream, sizeof(stream) - 1, max, want)
#define END0 "= id= retry=- comments=0 rc=0\n"

/* Exactly what server/sse.c writes: retry hint, a message, a heartbeat and
 * a gap event (no id of its own: the last one persists). */
static void test_server_stream(void)
{
    EXPECT("retry: 1000\n\n"
           "id: 1\ndata: {\"id\":1,\"ts\":5,\"data\":\"x\"}\n\n"
           ": heartbeat\n\n"
           "event: gap\ndata: {\"gap\":true,\"since\":3,\"first_id\":10,\"lost\":6}\n\n",
           "message [{\"id\":1,\"ts\":5,\"data\":\"x\"}] id=1 own\n"
           ": heartbeat\n"
           "gap [{\"gap\":true,\"since\":3,\"first_id\":10,\"lost\":6}] id=1\n"
           "= id=1 retry=1000 comments=1 rc=0\n");
}

static void test_line_endings(void)
{
    /* The transcript shows the LF inside data as \n. */
    const char *want = "message [a\\nb] id=7 own\nmessage [c] id=7\n= id=7 retry=- comments=0 rc=0\n";
    EXPECT("id: 7\ndata: a\ndata: b\n\ndata: c\n\n", want);
    EXPECT("id: 7\r\ndata: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n", want);
    EXPECT("id: 7\rdata: a\rdata: b\r\rdata: c\r\r", want);
    EXPECT("id: 7\r\ndata: a\rdata: b\n\r\ndata: c\r\n\n", want);
    /* CR CR is two line ends: a blank line. LF CR too. */
    EXPECT("data: a\r\rdata: b\n\rdata: c\r\n\r\n",
           "message [a] id=\nmessage [b] id=\nmessage [c] id=\n" END0);
}

/* A CR ending one chunk and the LF starting the next are one line end; if
 * they were two, "a" would be dispatched alone. */
static void test_crlf_across_chunks(void)
{
    struct transcript t = { 0 };
    struct sse_parser *p = sse_parser_new(1024, on_event, NULL, &t);
    CHECK_EQ_U(sse_parser_feed(p, "data: a\r", 8), 0);
    CHECK_EQ_U(sse_parser_feed(p, "\ndata: b\r", 9), 0);
    CHECK_EQ_U(sse_parser_feed(p, "\n", 1), 0);
    CHECK(t.s == NULL);
    CHECK_EQ_U(sse_parser_feed(p, "\r", 1), 0);
    CHECK_STR(t.s, "message [a\\nb] id=\n");
    CHECK_EQ_U(sse_parser_feed(p, "\n", 1), 0);     /* ends the CR: no new line */
    CHECK_EQ_U(sse_parser_feed(p, "data: c\n\n", 9), 0);
    CHECK_STR(t.s, "message [a\\nb] id=\nmessage [c] id=\n");
    sse_parser_free(p);
    free(t.s);
}

static void test_comments(void)
{
    EXPECT(":\n: heartbeat\n:x\n:  two spaces\n\n",
           ": \n: heartbeat\n: x\n:  two spaces\n"
           "= id= retry=- comments=4 rc=0\n");
    /* A comment inside an event does not break it. */
    EXPECT("data: a\n: ping\ndata: b\n\n",
           ": ping\nmessage [a\\nb] id=\n= id= retry=- comments=1 rc=0\n");
    /* Counted even without a callback. */
    struct sse_parser *p = sse_parser_new(64, on_event, NULL, NULL);
    CHECK_EQ_U(sse_parser_feed(p, ": a\r\n: b\r: c\n", 14), 0);
    CHECK_EQ_U(sse_parser_comments(p), 3);
    sse_parser_free(p);
}

static void test_data_forms(void)
{
    EXPECT("data: x\n\n", "message [x] id=\n" END0);
    EXPECT("data:x\n\n", "message [x] id=\n" END0);
    EXPECT("data:  x \n\n", "message [ x ] id=\n" END0);   /* one space stripped */
    EXPECT("data:\n\n", "message [] id=\n" END0);            /* empty, still an event */
    EXPECT("data\n\n", "message [] id=\n" END0);             /* no colon: empty value */
    EXPECT("data: a\ndata\ndata:\ndata: b\n\n", "message [a\\n\\n\\nb] id=\n" END0);
    EXPECT("data: a\ndata:\n\n", "message [a\\n] id=\n" END0);
    EXPECT("data: a:b: c\n\n", "message [a:b: c] id=\n" END0);
    EXPECT("data: \tx\n\n", "message [\\x09x] id=\n" END0);
    EXPECT("data: a\0b\n\n", "message [a\\x00b] id=\n" END0);
    EXPECT("data: caf\xc3\xa9\n\n", "message [caf\\xc3\\xa9] id=\n" END0);
    /* No blank line, no event; blank lines alone, no event. */
    EXPECT("data: lost", END0);
    EXPECT("data: lost\n", END0);
    EXPECT("\n\n\r\n\r", END0);
    EXPECT("", END0);
}

static void test_fields(void)
{
    /* Unknown fields, wrong case, a space before the colon: ignored. */
    EXPECT("Data: x\nDATA: y\ndata : z\nfoo: bar\nfoo\ndata: ok\n\n",
           "message [ok] id=\n" END0);
    EXPECT("event: gap\ndata: x\n\ndata: y\n\n",
           "gap [x] id=\nmessage [y] id=\n" END0);
    /* The last event field wins; a block without data forgets its type. */
    EXPECT("event: a\nevent: b\ndata: x\n\nevent: c\n\ndata: y\n\n",
           "b [x] id=\nmessage [y] id=\n" END0);
    EXPECT("event\ndata: x\n\nevent:\ndata: y\n\n",
           "message [x] id=\nmessage [y] id=\n" END0);
}

static void test_id(void)
{
    /* Persists across events; a data-less block still sets it. */
    EXPECT("id: 1\ndata: a\n\ndata: b\n\nid: 5\n\ndata: c\n\n",
           "message [a] id=1 own\nmessage [b] id=1\nmessage [c] id=5\n"
           "= id=5 retry=- comments=0 rc=0\n");
    /* An id with NUL is ignored; an empty id clears it. */
    EXPECT("id: 3\n\nid: 4\0x\ndata: a\n\nid\ndata: b\n\nid: 9\n\nid:\ndata: c\n\n",
           "message [a] id=3\nmessage [b] id= own\nmessage [c] id= own\n" END0);
    /* The id of an unfinished block is not the last event id yet. */
    EXPECT("id: 1\ndata: a\n\nid: 2\ndata: b\n",
           "message [a] id=1 own\n= id=1 retry=- comments=0 rc=0\n");
    EXPECT("id:  x y \n\n", "= id= x y  retry=- comments=0 rc=0\n");
}

static void test_retry(void)
{
    EXPECT("retry: 1000\n\n", "= id= retry=1000 comments=0 rc=0\n");
    EXPECT("retry:0\n", "= id= retry=0 comments=0 rc=0\n");   /* no blank line needed */
    EXPECT("retry: 500\nretry: 10a\nretry: -1\nretry:\nretry\nretry:  7\nretry: 1.5\n\n",
           "= id= retry=500 comments=0 rc=0\n");
    EXPECT("retry: 18446744073709551615\n", "= id= retry=18446744073709551615 comments=0 rc=0\n");
    EXPECT("retry: 7\nretry: 18446744073709551616\n", "= id= retry=7 comments=0 rc=0\n");
    EXPECT("retry: 99999999999999999999999\n", END0);
}

static void test_bom(void)
{
    EXPECT("\xEF\xBB\xBF" "data: x\n\n", "message [x] id=\n" END0);
    EXPECT("\xEF\xBB\xBF\n\ndata: x\n\n", "message [x] id=\n" END0);
    /* Only one, only at the start: a second BOM is part of a field name. */
    EXPECT("\xEF\xBB\xBF\xEF\xBB\xBF" "data: x\n\n", END0);
    EXPECT("data: a\n\n\xEF\xBB\xBF" "data: b\n\n", "message [a] id=\n" END0);
    /* A BOM prefix is not a BOM: its bytes stay in the line. */
    EXPECT("\xEF\xBB" "data: x\n\n", END0);
    EXPECT("\xEF" "data: x\n\n", END0);
    EXPECT("\xEF\xBB\n" "data: x\n\n", "message [x] id=\n" END0);
    EXPECT("\xEF\xBB\xBF", END0);
}

static void test_oversize(void)
{
    /* A line of exactly max bytes is fine, one more is an error... */
    EXPECT_MAX("data: 0123456789\n\n", 16, "message [0123456789] id=\n" END0);
    EXPECT_MAX("data: 0123456789A\n\ndata: b\n\n", 16,
               "= id= retry=- comments=0 rc=-1\n");
    /* ...even with no line end in sight, and for comments too. */
    EXPECT_MAX("data: a\n\ndata: 0123456789ABCDEF", 16,
               "message [a] id=\n= id= retry=- comments=0 rc=-1\n");
    EXPECT_MAX(": 0123456789ABCDEF\n", 16, "= id= retry=- comments=0 rc=-1\n");
    /* The data of one event is bounded too, newlines between lines counted. */
    EXPECT_MAX("data: 01234567\ndata: 0123456\n\n", 16,
               "message [01234567\\n0123456] id=\n" END0);
    EXPECT_MAX("data: 01234567\ndata: 01234567\n\ndata: ok\n\n", 16,
               "= id= retry=- comments=0 rc=-1\n");
    /* Many short data lines: the event limit, not the line limit, trips. */
    EXPECT_MAX("data: a\ndata: b\ndata: c\ndata: d\ndata: e\ndata: f\ndata: g\ndata: h\ndata: i\n\n",
               16, "= id= retry=- comments=0 rc=-1\n");
}

static void test_error_sticks_and_reset(void)
{
    struct transcript t = { 0 };
    struct sse_parser *p = sse_parser_new(8, on_event, on_comment, &t);
    CHECK_EQ_U(sse_parser_feed(p, "id: 4\ndata: a\n\nretry: 9\n", 24), 0);
    CHECK((int)sse_parser_feed(p, "data: 123456789\n", 16) == -1);
    CHECK_STR(sse_parser_error(p), "line too long");
    CHECK((int)sse_parser_feed(p, "data: b\n\n", 9) == -1);
    CHECK((int)sse_parser_feed(p, "", 0) == -1);
    CHECK_STR(t.s, "message [a] id=4 own\n");
    /* A new connection: state of the stream goes, id and retry stay. */
    sse_parser_reset(p);
    CHECK(sse_parser_error(p) == NULL);
    CHECK_EQ_U(sse_parser_feed(p, "\xEF\xBB\xBF" "data: b\n\n", 12), 0);
    CHECK_STR(t.s, "message [a] id=4 own\nmessage [b] id=4\n");
    uint64_t ms = 0;
    CHECK_EQ_U(sse_parser_retry(p, &ms), 1);
    CHECK_EQ_U(ms, 9);
    /* A partial line, a partial event, a pending CR and an unconfirmed id
     * die with the connection. */
    CHECK_EQ_U(sse_parser_feed(p, "id: 5\ndata: x\ndata: y\r", 22), 0);
    sse_parser_reset(p);
    CHECK_EQ_U(sse_parser_feed(p, "\ndata: c\n\n", 10), 0);
    CHECK_STR(t.s, "message [a] id=4 own\nmessage [b] id=4\nmessage [c] id=4\n");
    CHECK_EQ_U(sse_parser_feed(p, "data: pa", 8), 0);
    sse_parser_reset(p);
    CHECK_EQ_U(sse_parser_feed(p, "\n\n", 2), 0);
    CHECK_STR(t.s, "message [a] id=4 own\nmessage [b] id=4\nmessage [c] id=4\n");
    CHECK_EQ_U(sse_parser_feed(p, "event: x\n", 9), 0);
    sse_parser_reset(p);
    CHECK_EQ_U(sse_parser_feed(p, "data: d\n\n", 9), 0);
    CHECK_STR(t.s, "message [a] id=4 own\nmessage [b] id=4\nmessage [c] id=4\n"
                   "message [d] id=4\n");
    size_t len;
    CHECK_STR(sse_parser_last_id(p, &len), "4");
    CHECK_EQ_U(len, 1);
    sse_parser_free(p);
    sse_parser_free(NULL);
    free(t.s);
}

/* Feeds "data: " + line_len - 6 bytes + "\n\n" in 16 KiB chunks (what
 * libcurl hands over); returns feed's result, *data_len the event's size. */
static int feed_long_line(size_t max, size_t line_len, size_t *data_len)
{
    size_t len = line_len + 2;
    char *s = malloc(len);
    memcpy(s, "data: ", 6);
    memset(s + 6, 'x', line_len - 6);
    memcpy(s + line_len, "\n\n", 2);
    struct sse_parser *p = sse_parser_new(max, count_event, NULL, data_len);
    int rc = 0;
    for (size_t off = 0; off < len && rc == 0; off += 16384)
        rc = sse_parser_feed(p, s + off, len - off < 16384 ? len - off : 16384);
    sse_parser_free(p);
    free(s);
    return rc;
}

/* At the real limit: a line of exactly 1 MiB passes, one byte more fails. */
static void test_one_mib(void)
{
    size_t got = 0;
    CHECK_EQ_U(feed_long_line(1 << 20, 1 << 20, &got), 0);
    CHECK_EQ_U(got, (1 << 20) - 6);
    got = 0;
    CHECK(feed_long_line(1 << 20, (1 << 20) + 1, &got) == -1);
    CHECK_EQ_U(got, 0);
}

/* Everything above in one long stream, 2000 random splittings. */
static void test_mixed_random_splits(void)
{
    static const char stream[] =
        "\xEF\xBB\xBF: hello\r\n"
        "retry: 1000\r\n\r\n"
        "id: 1\ndata: {\"id\":1}\n\n"
        "id: 2\rdata: multi\rdata\rdata: line\r\r"
        ": heartbeat\n\n"
        "event: gap\r\ndata: {\"gap\":true}\r\n\r\n"
        "id: bad\0id\nid\ndata: no id\n\n"
        "id: 3\n\n"
        "data:\n\n"
        "unknown: x\nretry: nope\nevent: custom\ndata:x\n\r\n";
    struct transcript t = { 0 };
    tr_str(&t, ": hello\n"
               "message [{\"id\":1}] id=1 own\n"
               "message [multi\\n\\nline] id=2 own\n"
               ": heartbeat\n"
               "gap [{\"gap\":true}] id=2\n"
               "message [no id] id= own\n"
               "message [] id=3\n"
               "custom [x] id=3\n"
               "= id=3 retry=1000 comments=2 rc=0\n");
    char *whole = parse_split(stream, sizeof stream - 1, 1 << 20, SPLIT_WHOLE);
    CHECK_STR(whole, t.s);
    rng_state = 12345;
    for (int i = 0; i < 2000; i++) {
        char *rnd = parse_split(stream, sizeof stream - 1, 1 << 20, SPLIT_RANDOM);
        if (strcmp(rnd, whole) != 0) {
            CHECK_STR(rnd, whole);
            i = 2000;
        }
        free(rnd);
    }
    free(whole);
    free(t.s);
}

UNIT_MAIN(test_server_stream, test_line_endings, test_crlf_across_chunks,
          test_comments, test_data_forms, test_fields, test_id, test_retry,
          test_bom, test_oversize, test_error_sticks_and_reset,
          test_one_mib, test_mixed_random_splits)
