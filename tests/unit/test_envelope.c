#include "envelope.h"
#include "unit.h"

#include <jansson.h>

/* json_escape into an exact-size heap buffer (ASan sees overruns), returned
 * NUL-terminated. */
static char *escape(const char *src, size_t n)
{
    char *in = malloc(n ? n : 1);
    memcpy(in, src, n);
    char *out = malloc(JSON_ESCAPED_MAX(n) + 1);
    size_t w = json_escape(out, in, n);
    CHECK(w <= JSON_ESCAPED_MAX(n));
    out[w] = '\0';
    free(in);
    return out;
}

static void check_escape(const char *src, size_t n, const char *want)
{
    char *got = escape(src, n);
    CHECK_STR(got, want);
    free(got);
}

#define ESC(lit, want) check_escape(lit, sizeof lit - 1, want)

static void test_escape_controls(void)
{
    static const char *const want[32] = {
        "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006",
        "\\u0007", "\\b", "\\t", "\\n", "\\u000b", "\\f", "\\r", "\\u000e", "\\u000f",
        "\\u0010", "\\u0011", "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016",
        "\\u0017", "\\u0018", "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d",
        "\\u001e", "\\u001f",
    };
    for (int c = 0; c < 32; c++) {
        char in = (char)c;
        check_escape(&in, 1, want[c]);
    }
}

static void test_escape_specials(void)
{
    ESC("", "");
    ESC("plain text", "plain text");
    ESC("\"", "\\\"");
    ESC("\\", "\\\\");
    ESC("a\"b\\c", "a\\\"b\\\\c");
    ESC("\\\"", "\\\\\\\"");
    ESC("/", "/");
    ESC("\x7f", "\x7f");
    ESC("{\"id\":1}", "{\\\"id\\\":1}");
    ESC("line1\nline2\r\n\ttab", "line1\\nline2\\r\\n\\ttab");
    ESC("a\0b", "a\\u0000b");
    ESC("\x1f\x20", "\\u001f ");
}

static void test_escape_every_byte(void)
{
    /* Bytes 0x20-0xFF other than " and \ pass through unchanged. */
    for (int c = 0x20; c < 0x100; c++) {
        if (c == '"' || c == '\\')
            continue;
        char in = (char)c, want[2] = { (char)c, '\0' };
        check_escape(&in, 1, want);
    }
}

static void test_escape_non_ascii(void)
{
    ESC("caf\xc3\xa9", "caf\xc3\xa9");
    ESC("\xe2\x82\xac \xf0\x9f\x98\x80", "\xe2\x82\xac \xf0\x9f\x98\x80");
    ESC("\xe2\x80\xa8", "\xe2\x80\xa8");  /* U+2028: legal raw in JSON */
    ESC("\xc3\xa9\n\xc3\xa9", "\xc3\xa9\\n\xc3\xa9");
}

static void test_escape_worst_case(void)
{
    char in[256];
    memset(in, 1, sizeof in);
    char *out = escape(in, sizeof in);
    CHECK_EQ_U(strlen(out), JSON_ESCAPED_MAX(sizeof in));
    free(out);
}

/* Whatever json_escape writes, jansson must read back as the same bytes. */
static void test_escape_jansson_agrees(void)
{
    char in[256];
    size_t n = 0;
    for (int c = 0; c < 0x80; c++)
        in[n++] = (char)c;
    memcpy(in + n, "\xc3\xa9\xf0\x9f\x98\x80", 6);
    n += 6;
    char *body = escape(in, n);
    size_t blen = strlen(body);
    char *doc = malloc(blen + 3);
    doc[0] = '"';
    memcpy(doc + 1, body, blen);
    doc[blen + 1] = '"';
    json_t *s = json_loadb(doc, blen + 2, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    CHECK(json_is_string(s));
    if (json_is_string(s)) {
        CHECK_EQ_U(json_string_length(s), n);
        CHECK(memcmp(json_string_value(s), in, n) == 0);
    }
    json_decref(s);
    free(doc);
    free(body);
}

/* One byte at a time, the obvious way: what the word-at-a-time scan in
 * json_escape must agree with. */
static size_t reference_escape(char *dst, const uint8_t *src, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = src[i];
        const char *e = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\b' ? "\\b"
                      : c == '\f' ? "\\f" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
                      : c == '\t' ? "\\t" : NULL;
        if (e != NULL)
            w += (size_t)sprintf(dst + w, "%s", e);
        else if (c < 0x20)
            w += (size_t)sprintf(dst + w, "\\u%04x", c);
        else
            dst[w++] = (char)c;
    }
    return w;
}

static int escape_mismatch(const uint8_t *in, size_t n)
{
    char *got = malloc(JSON_ESCAPED_MAX(n) + 1), *want = malloc(JSON_ESCAPED_MAX(n) + 1);
    size_t gn = json_escape(got, (const char *)in, n);
    size_t wn = reference_escape(want, in, n);
    int bad = gn != wn || memcmp(got, want, wn) != 0;
    free(got);
    free(want);
    return bad;
}

/* Every byte value at every offset of buffers around the word size, among
 * neighbours chosen next to the thresholds the word test relies on. */
static void test_escape_every_offset(void)
{
    static const uint8_t fill[] = { 'a', 0x20, 0x21, 0x23, 0x5D, 0x7F, 0x80, 0xA2, 0xDC, 0xFF };
    uint8_t buf[24];
    int wrong = 0;
    for (size_t f = 0; f < sizeof fill; f++) {
        for (size_t len = 1; len <= sizeof buf; len++) {
            for (size_t at = 0; at < len; at++) {
                for (int c = 0; c < 256; c++) {
                    memset(buf, fill[f], sizeof buf);
                    buf[at] = (uint8_t)c;
                    buf[len - 1 - at] = (uint8_t)(255 - c);
                    wrong += escape_mismatch(buf, len);
                }
            }
        }
    }
    /* Random bodies, mostly plain with specials sprinkled in. */
    uint32_t x = 12345;
    for (int r = 0; r < 2000; r++) {
        uint8_t rnd[100];
        size_t len = (size_t)r % sizeof rnd;
        for (size_t i = 0; i < len; i++) {
            x = x * 1103515245u + 12345u;
            uint8_t c = (uint8_t)(x >> 16);
            rnd[i] = (x >> 28) < 3 ? (uint8_t)(c & 0x1F) : (x >> 28) == 3 ? '"' : c;
        }
        wrong += escape_mismatch(rnd, len);
    }
    CHECK_EQ_U(wrong, 0);
}

static void check_encode(uint64_t id, uint64_t ts, const char *data, size_t len,
                         const char *want)
{
    size_t out_len = 0;
    char *got = envelope_encode(id, ts, data, len, &out_len);
    CHECK(got != NULL);
    CHECK_STR(got, want);
    CHECK_EQ_U(out_len, strlen(want));
    free(got);
}

static void test_encode_exact(void)
{
    check_encode(42, 1764059000123456u, "hello", 5,
                 "{\"id\":42,\"ts\":1764059000123456,\"data\":\"hello\"}");
    check_encode(1, 0, "", 0, "{\"id\":1,\"ts\":0,\"data\":\"\"}");
    check_encode(1, 0, NULL, 0, "{\"id\":1,\"ts\":0,\"data\":\"\"}");
    check_encode(UINT64_MAX, UINT64_MAX, "a\"\n\0", 4,
                 "{\"id\":18446744073709551615,\"ts\":18446744073709551615,"
                 "\"data\":\"a\\\"\\n\\u0000\"}");
    check_encode(7, 8, "caf\xc3\xa9", 5, "{\"id\":7,\"ts\":8,\"data\":\"caf\xc3\xa9\"}");
}

static void round_trip(uint64_t id, uint64_t ts, const char *data, size_t len)
{
    size_t n;
    char *json = envelope_encode(id, ts, data, len, &n);
    CHECK(json != NULL);
    if (json == NULL)
        return;
    struct envelope e;
    CHECK_EQ_U(envelope_decode(json, n, &e), 0);
    CHECK_EQ_U(e.id, id);
    CHECK_EQ_U(e.ts_us, ts);
    CHECK_EQ_U(e.data_len, len);
    CHECK(e.data != NULL && memcmp(e.data, data, len) == 0 && e.data[len] == '\0');
    envelope_clear(&e);
    CHECK(e.data == NULL);
    free(json);
}

#define ROUND_TRIP(id, ts, lit) round_trip(id, ts, lit, sizeof lit - 1)

static void test_round_trip(void)
{
    ROUND_TRIP(1, 0, "");
    ROUND_TRIP(42, 1764059000123456u, "hello");
    ROUND_TRIP(3, 4, "\0");
    ROUND_TRIP(3, 4, "a\0b\0");
    ROUND_TRIP(5, 6, "\"quoted\" \\ back\\slash /");
    ROUND_TRIP(INT64_MAX, INT64_MAX, "caf\xc3\xa9 \xf0\x9f\x98\x80");
    char all[0x80];
    for (int c = 0; c < 0x80; c++)
        all[c] = (char)c;
    round_trip(9, 10, all, sizeof all);
    size_t big = 1 << 20;
    char *p = malloc(big);
    for (size_t i = 0; i < big; i++)
        p[i] = (char)(i % 0x7f);
    round_trip(11, 12, p, big);
    free(p);
}

static void test_decode_accepts(void)
{
    static const char *const ok[] = {
        "{\"id\":1,\"ts\":0,\"data\":\"\"}",
        " { \"data\" : \"x\" , \"ts\" : 5 , \"id\" : 2 } \n",
        "{\"id\":1,\"ts\":0,\"data\":\"\",\"extra\":[1,2]}",
        "{\"id\":9223372036854775807,\"ts\":9223372036854775807,\"data\":\"\\u00e9\"}",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        struct envelope e;
        int rc = envelope_decode(ok[i], strlen(ok[i]), &e);
        if (rc != 0)
            printf("#   rejected: %s\n", ok[i]);
        CHECK_EQ_U(rc, 0);
        envelope_clear(&e);
    }
    struct envelope e;
    const char *s = "{\"id\":2,\"ts\":5,\"data\":\"\\u00e9\\ud83d\\ude00\"}";
    CHECK_EQ_U(envelope_decode(s, strlen(s), &e), 0);
    CHECK_STR(e.data, "\xc3\xa9\xf0\x9f\x98\x80");
    CHECK_EQ_U(e.data_len, 6);
    envelope_clear(&e);
}

static void test_decode_rejects(void)
{
    static const char *const bad[] = {
        "", " ", "null", "1", "\"x\"", "[]", "[{\"id\":1,\"ts\":0,\"data\":\"\"}]", "{}",
        "{\"ts\":0,\"data\":\"\"}",
        "{\"id\":1,\"data\":\"\"}",
        "{\"id\":1,\"ts\":0}",
        "{\"id\":0,\"ts\":0,\"data\":\"\"}",
        "{\"id\":-1,\"ts\":0,\"data\":\"\"}",
        "{\"id\":1,\"ts\":-1,\"data\":\"\"}",
        "{\"id\":1.0,\"ts\":0,\"data\":\"\"}",
        "{\"id\":1,\"ts\":0.5,\"data\":\"\"}",
        "{\"id\":\"1\",\"ts\":0,\"data\":\"\"}",
        "{\"id\":1,\"ts\":\"0\",\"data\":\"\"}",
        "{\"id\":true,\"ts\":0,\"data\":\"\"}",
        "{\"id\":null,\"ts\":0,\"data\":\"\"}",
        "{\"id\":1,\"ts\":0,\"data\":null}",
        "{\"id\":1,\"ts\":0,\"data\":5}",
        "{\"id\":1,\"ts\":0,\"data\":[\"x\"]}",
        "{\"id\":1,\"ts\":0,\"data\":{}}",
        "{\"id\":1e3,\"ts\":0,\"data\":\"\"}",
        "{\"id\":18446744073709551615,\"ts\":0,\"data\":\"\"}",
        "{\"id\":1,\"id\":2,\"ts\":0,\"data\":\"\"}",
        "{\"id\":1,\"ts\":0,\"data\":\"\"}x",
        "{\"id\":1,\"ts\":0,\"data\":\"\"}{}",
        "{\"id\":1,\"ts\":0,\"data\":\"a\nb\"}",
        "{\"id\":1,\"ts\":0,\"data\":\"\\x41\"}",
        "{\"id\":1,\"ts\":0,\"data\":\"\xc0\xaf\"}",
        "{\"id\":1,\"ts\":0,\"data\":\"\\ud800\"}",
        "{'id':1,'ts':0,'data':''}",
        "{id:1,ts:0,data:\"\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct envelope e;
        int rc = envelope_decode(bad[i], strlen(bad[i]), &e);
        if (rc != -1)
            printf("#   accepted: %s\n", bad[i]);
        CHECK_EQ_U(rc, -1);
        CHECK(e.data == NULL);
        envelope_clear(&e);
    }
}

/* Every proper prefix of a valid envelope is truncated JSON; each is
 * decoded from an exact-size heap copy, so a read past len would show. */
static void test_decode_truncated(void)
{
    size_t n;
    char *json = envelope_encode(12, 34, "a\"\\\n\0z\xc3\xa9", 8, &n);
    CHECK(json != NULL);
    if (json == NULL)
        return;
    for (size_t cut = 0; cut < n; cut++) {
        char *p = malloc(cut ? cut : 1);
        memcpy(p, json, cut);
        struct envelope e;
        int rc = envelope_decode(p, cut, &e);
        if (rc != -1)
            printf("#   prefix of %zu bytes accepted\n", cut);
        CHECK_EQ_U(rc, -1);
        envelope_clear(&e);
        free(p);
    }
    free(json);
}

/* The in-place fast path reads exactly the server's form and agrees with
 * the full parser; anything else it declines (0), never misreads. */
static void test_peek_agrees_with_decode(void)
{
    const char *canonical[] = {
        "{\"id\":1,\"ts\":0,\"data\":\"\"}",
        "{\"id\":42,\"ts\":1764059000123456,\"data\":\"7 123 xxxxxxxx\"}",
        "{\"id\":9223372036854775807,\"ts\":9223372036854775807,\"data\":\"\xc3\xa9t\xc3\xa9\"}",
    };
    for (size_t i = 0; i < sizeof canonical / sizeof canonical[0]; i++) {
        uint64_t id, ts;
        const char *data;
        size_t dlen;
        struct envelope e;
        size_t len = strlen(canonical[i]);
        CHECK_EQ_U(envelope_peek(canonical[i], len, &id, &ts, &data, &dlen), 1);
        CHECK_EQ_U(envelope_decode(canonical[i], len, &e), 0);
        CHECK_EQ_U(id, e.id);
        CHECK_EQ_U(ts, e.ts_us);
        CHECK_EQ_U(dlen, e.data_len);
        CHECK(memcmp(data, e.data, dlen) == 0);
        envelope_clear(&e);
        /* Every prefix is declined, never read past. */
        for (size_t n = 0; n < len; n++) {
            char *copy = malloc(n ? n : 1);
            memcpy(copy, canonical[i], n);
            CHECK_EQ_U(envelope_peek(copy, n, &id, &ts, &data, &dlen), 0);
            free(copy);
        }
    }
    const char *declined[] = {
        "{\"id\":1,\"ts\":2,\"data\":\"a\\\"b\"}",      /* an escape: slow path */
        "{\"id\":1,\"ts\":2,\"data\":\"a\\nb\"}",
        "{\"id\":0,\"ts\":2,\"data\":\"a\"}",            /* id 0 */
        "{\"id\":01,\"ts\":2,\"data\":\"a\"}",           /* leading zero */
        "{\"id\":1,\"ts\":-2,\"data\":\"a\"}",
        "{\"id\":1, \"ts\":2,\"data\":\"a\"}",           /* other spacing */
        "{\"ts\":2,\"id\":1,\"data\":\"a\"}",            /* other order */
        "{\"id\":1,\"ts\":2,\"data\":\"a\"} ",           /* trailing text */
        "{\"id\":1,\"ts\":2,\"data\":\"a\",\"x\":1}",
        "{\"id\":99999999999999999999,\"ts\":2,\"data\":\"a\"}",
        "{\"id\":1,\"ts\":2,\"data\":\"a\tb\"}",         /* raw control char */
        "{\"gap\":true,\"since\":3,\"first_id\":10,\"lost\":6}",
    };
    for (size_t i = 0; i < sizeof declined / sizeof declined[0]; i++) {
        uint64_t id, ts;
        const char *data;
        size_t dlen;
        CHECK_EQ_U(envelope_peek(declined[i], strlen(declined[i]), &id, &ts, &data, &dlen), 0);
    }
}

/* Regression (fuzz_envelope): peek took data that is not UTF-8, which
 * decode refuses, so a bad envelope counted as a message on the fast path
 * and as a protocol error on the slow one. Both must refuse it. */
static void test_peek_declines_bad_utf8(void)
{
    const char *bad[] = {
        "{\"id\":1,\"ts\":2,\"data\":\"hello\xb1\xb1\xb1\"}",  /* the fuzzer's input */
        "{\"id\":1,\"ts\":2,\"data\":\"\xc0\xaf\"}",             /* overlong '/' */
        "{\"id\":1,\"ts\":2,\"data\":\"\xed\xa0\x80\"}",        /* a surrogate */
        "{\"id\":1,\"ts\":2,\"data\":\"\xf4\x90\x80\x80\"}",   /* above U+10FFFF */
        "{\"id\":1,\"ts\":2,\"data\":\"ab\xe2\x82\"}",           /* cut short */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t id, ts;
        const char *data;
        size_t dlen;
        struct envelope e;
        size_t len = strlen(bad[i]);
        CHECK_EQ_U(envelope_peek(bad[i], len, &id, &ts, &data, &dlen), 0);
        CHECK_EQ_U(envelope_decode(bad[i], len, &e), -1);
        envelope_clear(&e);
    }
}

UNIT_MAIN(test_peek_agrees_with_decode, test_peek_declines_bad_utf8, test_escape_controls, test_escape_specials, test_escape_every_byte,
          test_escape_non_ascii, test_escape_worst_case, test_escape_every_offset, test_escape_jansson_agrees,
          test_encode_exact, test_round_trip, test_decode_accepts, test_decode_rejects,
          test_decode_truncated)
