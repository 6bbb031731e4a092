#include "wshandshake.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>
#include <strings.h>

#define WS_KEY_RAW 16

static bool base64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '/';
}

bool ws_key_valid(const char *key)
{
    for (int i = 0; i < WS_KEY_LEN - 2; i++) {
        if (!base64_char(key[i]))
            return false;
    }
    if (key[WS_KEY_LEN - 2] != '=' || key[WS_KEY_LEN - 1] != '=' || key[WS_KEY_LEN] != '\0')
        return false;
    /* 16 bytes leave 4 unused low bits in the last character; canonical
     * base64 sets them to zero, so the 18 bytes EVP_DecodeBlock yields
     * (it counts padding as zero bytes) must end in two zeros. */
    unsigned char raw[WS_KEY_LEN / 4 * 3];
    if (EVP_DecodeBlock(raw, (const unsigned char *)key, WS_KEY_LEN) != (int)sizeof raw)
        return false;
    return raw[WS_KEY_RAW] == 0 && raw[WS_KEY_RAW + 1] == 0;
}

int ws_accept_for_key(const char *key, char out[WS_ACCEPT_LEN + 1])
{
    if (!ws_key_valid(key))
        return -1;
    char buf[WS_KEY_LEN + sizeof WS_GUID];
    memcpy(buf, key, WS_KEY_LEN);
    memcpy(buf + WS_KEY_LEN, WS_GUID, sizeof WS_GUID);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len;
    if (EVP_Digest(buf, sizeof buf - 1, md, &md_len, EVP_sha1(), NULL) != 1)
        return -1;
    EVP_EncodeBlock((unsigned char *)out, md, (int)md_len);
    return 0;
}

int ws_key_generate(char out[WS_KEY_LEN + 1])
{
    unsigned char raw[WS_KEY_RAW];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return -1;
    EVP_EncodeBlock((unsigned char *)out, raw, sizeof raw);
    return 0;
}

/* ---- the client's check of the 101 answer ----------------------------- */

struct ws_answer {
    const char *protocol;             /* the subprotocol asked for, or NULL */
    bool upgrade, connection, extra;
    int protocols;                    /* Sec-WebSocket-Protocol lines */
    int accepts;                      /* Sec-WebSocket-Accept lines */
    bool accept_ok;
};

/* Header lines may hold HT and obs-text, never other control bytes. */
static bool line_clean(const char *p, const char *end)
{
    for (; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

static bool name_is(const char *name, size_t n, const char *want)
{
    return n == strlen(want) && strncasecmp(name, want, n) == 0;
}

/* Is `token` one of the comma-separated tokens in [p, end)? */
static bool has_token(const char *p, const char *end, const char *token)
{
    size_t n = strlen(token);
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        while (p < stop && (*p == ' ' || *p == '\t'))
            p++;
        const char *last = stop;
        while (last > p && (last[-1] == ' ' || last[-1] == '\t'))
            last--;
        if ((size_t)(last - p) == n && strncasecmp(p, token, n) == 0)
            return true;
        p = comma ? comma + 1 : end;
    }
    return false;
}

static int check_status(const char *line, const char *end)
{
    static const char want[] = "HTTP/1.1 101";
    size_t n = sizeof want - 1;
    if ((size_t)(end - line) < n || memcmp(line, want, n) != 0)
        return -1;
    return line + n == end || line[n] == ' ' ? 0 : -1;
}

static int check_header(const char *line, const char *end, const char *accept,
                        struct ws_answer *a)
{
    const char *colon = memchr(line, ':', (size_t)(end - line));
    if (!colon || colon == line)
        return -1;
    size_t n = (size_t)(colon - line);
    /* No whitespace in a name: a leading one is an (obsolete) continuation
     * line, a trailing one is forbidden by RFC 9112 5.1. */
    if (memchr(line, ' ', n) || memchr(line, '\t', n))
        return -1;
    const char *v = colon + 1, *vend = end;
    while (v < vend && (*v == ' ' || *v == '\t'))
        v++;
    while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
        vend--;
    if (name_is(line, n, "Upgrade")) {
        a->upgrade |= has_token(v, vend, "websocket");
    } else if (name_is(line, n, "Connection")) {
        a->connection |= has_token(v, vend, "upgrade");
    } else if (name_is(line, n, "Sec-WebSocket-Accept")) {
        a->accepts++;
        a->accept_ok = vend - v == WS_ACCEPT_LEN && memcmp(v, accept, WS_ACCEPT_LEN) == 0;
    } else if (name_is(line, n, "Sec-WebSocket-Protocol")) {
        /* Only the one asked for (RFC 6455 4.1: any other fails). */
        a->protocols++;
        a->extra |= !a->protocol || (size_t)(vend - v) != strlen(a->protocol) ||
                    memcmp(v, a->protocol, (size_t)(vend - v)) != 0;
    } else if (name_is(line, n, "Sec-WebSocket-Extensions")) {
        a->extra = true;
    }
    return 0;
}

int ws_check_response(const char *buf, size_t len, const char *key, size_t *consumed)
{
    return ws_check_response_protocol(buf, len, key, NULL, consumed);
}

int ws_check_response_protocol(const char *buf, size_t len, const char *key,
                               const char *protocol, size_t *consumed)
{
    char accept[WS_ACCEPT_LEN + 1];
    if (ws_accept_for_key(key, accept) != 0)
        return -1;
    struct ws_answer a = { .protocol = protocol };
    size_t scan = len < WS_RESPONSE_MAX ? len : WS_RESPONSE_MAX;
    /* Every complete line is checked on every call, so a bad status line
     * fails at once instead of after the whole header block. */
    for (size_t pos = 0;;) {
        const char *line = buf + pos;
        const char *nl = memchr(line, '\n', scan - pos);
        if (!nl)
            return len >= WS_RESPONSE_MAX ? -1 : 0;
        const char *end = nl > line && nl[-1] == '\r' ? nl - 1 : nl;
        bool first = pos == 0;
        pos = (size_t)(nl - buf) + 1;
        if (!line_clean(line, end))
            return -1;
        if (first) {
            if (check_status(line, end) != 0)
                return -1;
        } else if (end == line) {
            if (!a.upgrade || !a.connection || a.accepts != 1 || !a.accept_ok || a.extra ||
                a.protocols > 1)
                return -1;
            *consumed = pos;
            return 1;
        } else if (check_header(line, end, accept, &a) != 0) {
            return -1;
        }
    }
}
