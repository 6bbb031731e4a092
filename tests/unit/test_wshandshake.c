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

UNIT_MAIN(test_accept_vectors, test_key_invalid, test_key_every_char, test_key_generate)
