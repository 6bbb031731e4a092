#include "wshandshake.h"
#include "unit.h"

static bool b64_char(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '/';
}

static void test_accept_vectors(void)
{
    /* RFC 6455 section 1.3, then values from Python's hashlib + base64. */
    static const char *const v[][2] = {
        { "dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" },
        { "x3JJHMbDL1EzLkh9GBhXDw==", "HSmrc0sMlYUkAGmm5OPpG2HaGWk=" },
        { "AAAAAAAAAAAAAAAAAAAAAA==", "ICX+Yqv66kxgM0FcWaLWlFLwTAI=" },
        { "/////////////////////w==", "XXpj4jYzLM2yUE0C7TIgMwTQh2g=" },
        { "AQIDBAUGBwgJCgsMDQ4PEA==", "C/0nmHhBztSRGR1CwL6Tf4ZjwpY=" },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char out[WS_ACCEPT_LEN + 1];
        memset(out, 'X', sizeof out);
        CHECK_EQ_U(ws_accept_for_key(v[i][0], out), 0);
        CHECK_EQ_U(strnlen(out, sizeof out), WS_ACCEPT_LEN);
        CHECK_STR(out, v[i][1]);
    }
}

static void test_key_invalid(void)
{
    static const char *const bad[] = {
        "",
        "dGhlIHNhbXBsZSBub25jZQ=",      /* 23 chars */
        "dGhlIHNhbXBsZSBub25jZQ===",    /* 25 chars */
        "dGhlIHNhbXBsZSBub25jZQ",       /* no padding */
        "dGhlIHNhbXBsZSBub25jZQAA",     /* 24 chars, 18 bytes */
        "dGhlIHNhbXBsZSBub25jZQA=",     /* 17 bytes */
        "dGhlIHNhbXBsZSBub25jZ===",     /* 15 bytes and junk */
        "dGhlIHNhbXBsZSBub25jZR==",     /* non-zero unused bits */
        "++++++++++++++++++++++==",     /* ditto; lenient decoders accept */
        "dGhlIHNhbXBsZSBub25jZQ==\r\n",
        " dGhlIHNhbXBsZSBub25jZQ==",
        "dGhlIHNhbXBsZSBub25jZQ== ",
        "dGhlIHNhbXBs ZSBub25jZQ==",
        "dGhlIHNhbXBsZSBub25j\nZQ==",
        "dGhlIHNhbXBsZSBub2-jZQ==",     /* base64url alphabet */
        "dGhlIHNhbXBsZSBub2_jZQ==",
        "dGhl=HNhbXBsZSBub25jZQ==",
        "dGhlIHNhbXBsZSBub25jZQ==dGhlIHNhbXBsZSBub25jZQ==",
        "==dGhlIHNhbXBsZSBub25jZQ",
        "========================",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[WS_ACCEPT_LEN + 1] = "untouched";
        if (ws_key_valid(bad[i]))
            printf("#   accepted \"%s\"\n", bad[i]);
        CHECK(!ws_key_valid(bad[i]));
        CHECK_EQ_U(ws_accept_for_key(bad[i], out), -1);
    }
}

/* Each of the 22 data positions takes exactly the 64 alphabet characters;
 * the last one only A, Q, g, w (2 data bits, 4 zero bits). */
static void test_key_every_char(void)
{
    char key[WS_KEY_LEN + 1] = "AAAAAAAAAAAAAAAAAAAAAA==";
    int wrong = 0;
    for (int pos = 0; pos < WS_KEY_LEN - 2; pos++) {
        for (int c = 1; c < 256; c++) {
            key[pos] = (char)c;
            bool want = pos == WS_KEY_LEN - 3 ? c == 'A' || c == 'Q' || c == 'g' || c == 'w'
                                              : b64_char(c);
            if (ws_key_valid(key) != want) {
                printf("#   position %d byte 0x%02x\n", pos, (unsigned)c);
                wrong++;
            }
        }
        key[pos] = 'A';
    }
    CHECK_EQ_U(wrong, 0);
}

static void test_key_generate(void)
{
    enum { N = 512 };
    static const char last_chars[] = "AQgw";
    static char keys[N][WS_KEY_LEN + 1];
    unsigned last_seen = 0;
    for (int i = 0; i < N; i++) {
        memset(keys[i], 'X', sizeof keys[i]);
        CHECK_EQ_U(ws_key_generate(keys[i]), 0);
        CHECK_EQ_U(strnlen(keys[i], sizeof keys[i]), WS_KEY_LEN);
        CHECK(ws_key_valid(keys[i]));
        char out[WS_ACCEPT_LEN + 1];
        CHECK_EQ_U(ws_accept_for_key(keys[i], out), 0);
        const char *last = strchr(last_chars, keys[i][WS_KEY_LEN - 3]);
        if (last != NULL)
            last_seen |= 1u << (last - last_chars);
    }
    /* 128 random bits: a repeat among 512 keys means the source is broken. */
    int repeats = 0;
    for (int i = 0; i < N; i++) {
        for (int j = i + 1; j < N; j++)
            repeats += strcmp(keys[i], keys[j]) == 0;
    }
    CHECK_EQ_U(repeats, 0);
    /* All four values of the last character's 2 data bits show up
     * (each is missed with probability (3/4)^512). */
    CHECK_EQ_U(last_seen, 0xF);
}

/* ---- ws_check_response ------------------------------------------------ */

#define RFC_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define RFC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* Feed every prefix of `text` (each in a buffer of exactly that size, so
 * ASan catches any read past it). The answer must be 0 until `want` first
 * shows up, and stay `want` from there on. Returns the prefix length where
 * it first did (0: never) and *consumed from the full text. */
static size_t feed_prefixes(const char *text, size_t len, int want, size_t *consumed)
{
    size_t first = 0;
    for (size_t n = 1; n <= len; n++) {
        char *buf = malloc(n);
        memcpy(buf, text, n);
        size_t used = 0;
        int r = ws_check_response(buf, n, RFC_KEY, &used);
        free(buf);
        if (r != 0 && r != want) {
            printf("#   prefix %zu: got %d, want %d\n", n, r, want);
            return 0;
        }
        if (first == 0 && r == want)
            first = n;
        if (first != 0 && r != want) {
            printf("#   prefix %zu: %d after %d at %zu\n", n, r, want, first);
            return 0;
        }
        if (r == 1)
            *consumed = used;
    }
    return first;
}

static const char *const good_answers[] = {
    /* what pushpull-server (libmicrohttpd) sends */
    "HTTP/1.1 101 Switching Protocols\r\nDate: Wed, 25 Nov 2026 08:13:47 GMT\r\n"
    "Connection: Upgrade\r\nUpgrade: websocket\r\n"
    "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n\r\n",
    /* case-insensitive names and tokens, token lists, optional whitespace */
    "HTTP/1.1 101\r\nUPGRADE:WebSocket\r\nconnection: keep-alive, UPGRADE \r\n"
    "sec-websocket-accept: \t" RFC_ACCEPT "\t \r\n\r\n",
    /* bare LF line ends (RFC 9112 2.2 lets a recipient accept them) */
    "HTTP/1.1 101 OK\nUpgrade: websocket\nConnection: Upgrade\n"
    "Sec-WebSocket-Accept: " RFC_ACCEPT "\n\n",
    /* the tokens in second place, an empty header value elsewhere */
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c, websocket\r\nX-Empty:\r\n"
    "Connection: close,upgrade\r\nSec-WebSocket-Accept: " RFC_ACCEPT "\r\n\r\n",
};

static void test_response_valid(void)
{
    for (size_t i = 0; i < sizeof good_answers / sizeof good_answers[0]; i++) {
        size_t len = strlen(good_answers[i]), used = 0;
        CHECK_EQ_U(feed_prefixes(good_answers[i], len, 1, &used), len);
        CHECK_EQ_U(used, len);
    }
}

/* Frame bytes right behind the blank line are not part of the answer. */
static void test_response_then_frames(void)
{
    char text[512];
    size_t head = strlen(good_answers[0]);
    memcpy(text, good_answers[0], head);
    memcpy(text + head, "\x81\x05hello\x81\x00", 9);
    size_t used = 0;
    CHECK_EQ_U(feed_prefixes(text, head + 9, 1, &used), head);
    CHECK_EQ_U(used, head);
}

static void test_response_invalid(void)
{
    static const char *const bad[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 1010 Nope\r\n\r\n",
        "HTTP/1.0 101 Switching Protocols\r\n\r\n",
        "http/1.1 101 Switching Protocols\r\n\r\n",
        "HTTP/1.1  101 Switching Protocols\r\n\r\n",
        "\r\nHTTP/1.1 101 Switching Protocols\r\n\r\n",
        "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n\r\n",
        /* a requirement missing */
        "HTTP/1.1 101 S\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " RFC_ACCEPT "\r\n\r\n",
        "HTTP/1.1 101 S\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: " RFC_ACCEPT "\r\n\r\n",
        "HTTP/1.1 101 S\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        /* a wrong value */
        "HTTP/1.1 101 S\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n\r\n",
        "HTTP/1.1 101 S\r\nUpgrade: websockets\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n\r\n",
        "HTTP/1.1 101 S\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
        "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n\r\n",
        "HTTP/1.1 101 S\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: HSmrc0sMlYUkAGmm5OPpG2HaGWk=\r\n\r\n",      /* another key's */
        "HTTP/1.1 101 S\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo\r\n\r\n",       /* cut short */
        "HTTP/1.1 101 S\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: " RFC_ACCEPT "x\r\n\r\n",
        "HTTP/1.1 101 S\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: S3PPLMBITXAQ9KYGZZHZRBK+XOO=\r\n\r\n",       /* base64 is case-sensitive */
        "HTTP/1.1 101 S\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\nSec-WebSocket-Accept: " RFC_ACCEPT "\r\n\r\n",
        /* something not asked for */
        "HTTP/1.1 101 S\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
        "HTTP/1.1 101 S\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\nsec-websocket-protocol: chat\r\n\r\n",
        /* malformed lines */
        "HTTP/1.1 101 S\r\nUpgrade websocket\r\n\r\n",
        "HTTP/1.1 101 S\r\n: websocket\r\n\r\n",
        "HTTP/1.1 101 S\r\nUpgrade : websocket\r\n\r\n",
        "HTTP/1.1 101 S\r\nX-A: 1\r\n continued\r\n\r\n",
        "HTTP/1.1 101 S\r\nX-A: 1\r\n\tcontinued\r\n\r\n",
        "HTTP/1.1 101 S\r\nX-A: a\rb\r\n\r\n",
        "HTTP/1.1 101 S\r\nX-A: a\x01" "b\r\n\r\n",
        "HTTP/1.1 101 S\x7f\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t used = 0, at = feed_prefixes(bad[i], strlen(bad[i]), -1, &used);
        if (at == 0)
            printf("#   case %zu not rejected\n", i);
        CHECK(at != 0);
    }
    /* A NUL inside a header line (strlen would stop there). */
    static const char nul[] = "HTTP/1.1 101 S\r\nX-A: a\0b\r\n\r\n";
    size_t used = 0;
    CHECK(feed_prefixes(nul, sizeof nul - 1, -1, &used) != 0);
}

/* A bad status line is refused as soon as it is complete. */
static void test_response_fails_early(void)
{
    static const char text[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n";
    size_t used = 0;
    CHECK_EQ_U(feed_prefixes(text, sizeof text - 1, -1, &used), strlen("HTTP/1.1 200 OK\r\n"));
}

/* A header block of exactly WS_RESPONSE_MAX bytes passes; one byte more,
 * or a block that never ends, does not. */
static void test_response_bound(void)
{
    static const char head[] = "HTTP/1.1 101 S\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\nX-Pad: ";
    char *text = malloc(WS_RESPONSE_MAX + 64);
    size_t pad = WS_RESPONSE_MAX - (sizeof head - 1) - 4;
    memcpy(text, head, sizeof head - 1);
    memset(text + sizeof head - 1, 'p', pad);
    memcpy(text + sizeof head - 1 + pad, "\r\n\r\n", 4);
    size_t used = 0;
    CHECK_EQ_U(ws_check_response(text, WS_RESPONSE_MAX, RFC_KEY, &used), 1);
    CHECK_EQ_U(used, WS_RESPONSE_MAX);
    CHECK_EQ_U(ws_check_response(text, WS_RESPONSE_MAX - 1, RFC_KEY, &used), 0);

    memmove(text + sizeof head, text + sizeof head - 1, pad + 4);   /* one more pad byte */
    CHECK_EQ_U(ws_check_response(text, WS_RESPONSE_MAX, RFC_KEY, &used), -1);
    CHECK_EQ_U(ws_check_response(text, WS_RESPONSE_MAX + 1, RFC_KEY, &used), -1);
    CHECK_EQ_U(ws_check_response(text, WS_RESPONSE_MAX - 1, RFC_KEY, &used), 0);
    free(text);
}

static void test_response_bad_key(void)
{
    size_t used = 0;
    const char *text = good_answers[0];
    CHECK_EQ_U(ws_check_response(text, strlen(text), RFC_KEY, &used), 1);
    CHECK_EQ_U(ws_check_response(text, strlen(text), "not a key", &used), -1);
    CHECK_EQ_U(ws_check_response(text, strlen(text), "x3JJHMbDL1EzLkh9GBhXDw==", &used), -1);
}

UNIT_MAIN(test_accept_vectors, test_key_invalid, test_key_every_char, test_key_generate,
          test_response_valid, test_response_then_frames, test_response_invalid,
          test_response_fails_early, test_response_bound, test_response_bad_key)
