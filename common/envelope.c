#include "envelope.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/* 0: copy as is; 'u': \u00XX; anything else: backslash + that letter. */
static const char escape_as[256] = {
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    ['"'] = '"', ['\\'] = '\\',
};

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* Whether any byte of w is < 0x20, '"' or '\\'. The bit tricks ("has a
 * byte less than n", "has a zero byte") can misflag bytes above a real hit,
 * but never flag a word that has none, which is all that is asked here. */
static bool word_needs_escape(uint64_t w)
{
    uint64_t quote = w ^ (ONES * '"'), backslash = w ^ (ONES * '\\');
    uint64_t hits = ((w - ONES * 0x20) & ~w) |
                    ((quote - ONES) & ~quote) | ((backslash - ONES) & ~backslash);
    return (hits & HIGHS) != 0;
}

/* Length of the prefix of src that is copied as is: eight bytes per step,
 * since most bodies escape nothing; memcpy keeps unaligned loads defined. */
static size_t plain_prefix(const char *src, size_t n)
{
    size_t i = 0;
    for (; n - i >= sizeof(uint64_t); i += sizeof(uint64_t)) {
        uint64_t w;
        memcpy(&w, src + i, sizeof w);
        if (word_needs_escape(w))
            break;
    }
    while (i < n && escape_as[(uint8_t)src[i]] == 0)
        i++;
    return i;
}

/* Exact output size of json_escape(), so that an envelope kept in history
 * costs its real size, not the 6x worst case. */
static size_t escaped_len(const char *src, size_t n)
{
    size_t total = n, i = plain_prefix(src, n);
    while (i < n) {
        total += escape_as[(uint8_t)src[i]] == 'u' ? 5 : 1;
        i++;
        i += plain_prefix(src + i, n - i);
    }
    return total;
}

size_t json_escape(char *dst, const char *src, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char *d = dst;
    size_t i = 0;
    while (i < n) {
        size_t run = plain_prefix(src + i, n - i);
        memcpy(d, src + i, run);
        d += run;
        i += run;
        if (i == n)
            break;
        uint8_t c = (uint8_t)src[i++];
        *d++ = '\\';
        *d++ = escape_as[c];
        if (escape_as[c] == 'u') {
            *d++ = '0';
            *d++ = '0';
            *d++ = hex[c >> 4];
            *d++ = hex[c & 0xF];
        }
    }
    return (size_t)(d - dst);
}

static int envelope_head(char head[64], uint64_t id, uint64_t ts_us)
{
    /* two 20-digit numbers and the fixed text fit in 64 */
    return snprintf(head, 64, "{\"id\":%" PRIu64 ",\"ts\":%" PRIu64 ",\"data\":\"",
                    id, ts_us);
}

size_t envelope_len(uint64_t id, uint64_t ts_us, const char *data, size_t len)
{
    char head[64];
    return (size_t)envelope_head(head, id, ts_us) + escaped_len(data, len) + 2;
}

size_t envelope_write(char *dst, uint64_t id, uint64_t ts_us, const char *data,
                      size_t len)
{
    char head[64];
    size_t h = (size_t)envelope_head(head, id, ts_us);
    memcpy(dst, head, h);
    size_t body = json_escape(dst + h, data, len);
    memcpy(dst + h + body, "\"}", 3);
    return h + body + 2;
}

char *envelope_encode(uint64_t id, uint64_t ts_us, const char *data,
                      size_t len, size_t *out_len)
{
    if (len > (SIZE_MAX - 64) / 6)
        return NULL;
    size_t total = envelope_len(id, ts_us, data, len);
    char *out = malloc(total + 1);
    if (out == NULL)
        return NULL;
    *out_len = envelope_write(out, id, ts_us, data, len);
    return out;
}

static bool peek_literal(const char **p, const char *end, const char *lit, size_t n)
{
    if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0)
        return false;
    *p += n;
    return true;
}

static bool peek_u64(const char **p, const char *end, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (s >= end || *s < '0' || *s > '9' || (*s == '0' && s + 1 < end && s[1] >= '0' && s[1] <= '9'))
        return false;                 /* JSON has no leading zeros */
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *p = s;
    *out = v;
    return true;
}

int envelope_peek(const char *json, size_t len, uint64_t *id, uint64_t *ts_us,
                  const char **data, size_t *data_len)
{
    const char *p = json, *end = json + len;
    uint64_t i, t;
    if (!peek_literal(&p, end, "{\"id\":", 6) || !peek_u64(&p, end, &i) || i == 0 ||
        i > INT64_MAX || !peek_literal(&p, end, ",\"ts\":", 6) || !peek_u64(&p, end, &t) ||
        t > INT64_MAX || !peek_literal(&p, end, ",\"data\":\"", 9))
        return 0;
    const char *start = p;
    unsigned char high = 0;           /* any byte >= 0x80: UTF-8 to check */
    for (; p < end && *p != '"'; p++) {
        if (*p == '\\' || (unsigned char)*p < 0x20)
            return 0;                 /* an escape or invalid JSON: the slow path */
        high |= (unsigned char)*p;
    }
    if (end - p != 2 || p[1] != '}')
        return 0;
    /* Text decode would refuse must not pass here (found by fuzz_envelope). */
    if ((high & 0x80) && !utf8_valid((const uint8_t *)start, (size_t)(p - start)))
        return 0;
    *id = i;
    *ts_us = t;
    *data = start;
    *data_len = (size_t)(p - start);
    return 1;
}

int envelope_decode(const char *json, size_t len, struct envelope *out)
{
    memset(out, 0, sizeof *out);
    /* JSON_ALLOW_NUL: a published body may hold NUL, sent as \u0000. */
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    if (root == NULL)
        return -1;
    json_t *id = json_object_get(root, "id");
    json_t *ts = json_object_get(root, "ts");
    json_t *data = json_object_get(root, "data");
    int rc = -1;
    if (json_is_integer(id) && json_integer_value(id) >= 1 &&
        json_is_integer(ts) && json_integer_value(ts) >= 0 && json_is_string(data)) {
        size_t n = json_string_length(data);
        char *copy = malloc(n + 1);
        if (copy != NULL) {
            memcpy(copy, json_string_value(data), n + 1);
            out->id = (uint64_t)json_integer_value(id);
            out->ts_us = (uint64_t)json_integer_value(ts);
            out->data = copy;
            out->data_len = n;
            rc = 0;
        }
    }
    json_decref(root);
    return rc;
}

void envelope_clear(struct envelope *e)
{
    free(e->data);
    memset(e, 0, sizeof *e);
}
