#include "edge.h"

#include <string.h>
#include <strings.h>

#define HOST_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" \
                   "-._~!$&'()*+,;=:[]%"
#define TCHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" \
               "!#$%&'*+-.^_`|~"

static bool refuse(struct edge_refusal *why, unsigned status, const char *error)
{
    why->status = status;
    why->error = error;
    return false;
}

static bool all_of(const char *s, size_t n, const char *set)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\0' || !strchr(set, s[i]))
            return false;
    return true;
}

/* ---- the request target ------------------------------------------------ */

/* Length of "http://" or "https://" at s (any case), else 0. */
static size_t scheme_len(const char *s, size_t n)
{
    if (n >= 7 && strncasecmp(s, "http://", 7) == 0)
        return 7;
    if (n >= 8 && strncasecmp(s, "https://", 8) == 0)
        return 8;
    return 0;
}

bool edge_target_ok(const char *raw, size_t len, struct edge_refusal *why)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)raw[i] <= 0x20 || (unsigned char)raw[i] >= 0x7f)
            return refuse(why, 400, "request target: space, control or non-ASCII byte");
    if (len == 1 && raw[0] == '*')
        return true;                  /* OPTIONS *: no such endpoint, 404 */
    if (len > 0 && raw[0] == '/')
        return true;
    size_t s = scheme_len(raw, len);
    size_t a = s ? strcspn(raw + s, "/?#") : 0;
    if (s && a > len - s)
        a = len - s;
    if (!s || a == 0 || !all_of(raw + s, a, HOST_CHARS) || memchr(raw + s, '@', a))
        return refuse(why, 400, "request target: want /path or http://host/path");
    return true;
}

const char *edge_origin_path(const char *url)
{
    size_t s = scheme_len(url, strlen(url));
    if (!s)
        return url;
    const char *path = strchr(url + s, '/');
    return path ? path : "/";
}

/* ---- fields ------------------------------------------------------------ */

static bool name_is(const struct edge_field *f, const char *name)
{
    return f->name_len == strlen(name) && strncasecmp(f->name, name, f->name_len) == 0;
}

static size_t count(const struct edge_head *h, const char *name, const struct edge_field **last)
{
    size_t n = 0;
    for (size_t i = 0; i < h->n_fields; i++) {
        if (name_is(&h->fields[i], name)) {
            n++;
            *last = &h->fields[i];
        }
    }
    return n;
}

/* RFC 9110 5.5: no CTL but HTAB in a value (a bare CR is one). */
static bool value_ok(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f)
            return false;
    return true;
}

static bool names_values_ok(const struct edge_head *h, struct edge_refusal *why)
{
    for (size_t i = 0; i < h->n_fields; i++) {
        const struct edge_field *f = &h->fields[i];
        /* "Content-Length : 5" reaches us as the name "Content-Length ". */
        if (f->name_len == 0 || !all_of(f->name, f->name_len, TCHARS))
            return refuse(why, 400, "header field name: want a token, no space before the colon");
        if (!value_ok(f->value, f->value_len))
            return refuse(why, 400, "header field value: control character (CR, NUL, ...)");
    }
    return true;
}

static bool host_ok(const struct edge_head *h, struct edge_refusal *why)
{
    const struct edge_field *f = NULL;
    size_t n = count(h, "Host", &f);
    if (n > 1 || (n == 0 && h->http11))
        return refuse(why, 400, "want exactly one Host header (RFC 9112 3.2)");
    if (f && (f->value_len == 0 || !all_of(f->value, f->value_len, HOST_CHARS)))
        return refuse(why, 400, "Host: want host[:port]");
    return true;
}

/* Walk the comma list of every Transfer-Encoding field: how many codings,
 * how many are "chunked", and whether the last one is. */
struct codings {
    size_t n, chunked;
    bool last_chunked;
};

static void codings_add(struct codings *c, const char *v, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t end = i;
        while (end < len && v[end] != ',')
            end++;
        size_t a = i, b = end;
        while (a < b && (v[a] == ' ' || v[a] == '\t'))
            a++;
        while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
            b--;
        if (b > a) {
            c->last_chunked = b - a == 7 && strncasecmp(v + a, "chunked", 7) == 0;
            c->n++;
            c->chunked += c->last_chunked;
        }
        i = end + 1;
    }
}

/* RFC 9112 6.1, and what MHD 0.9.75 frames: it reads a chunked body only
 * for one field that is exactly "chunked"; any other value makes it read
 * until the connection closes. */
static bool coding_ok(const struct edge_head *h, size_t n_te, struct edge_refusal *why)
{
    if (!h->http11)
        return refuse(why, 400, "Transfer-Encoding in an HTTP/1.0 request");
    struct codings c = { 0, 0, false };
    const struct edge_field *only = NULL;
    for (size_t i = 0; i < h->n_fields; i++) {
        if (name_is(&h->fields[i], "Transfer-Encoding")) {
            only = &h->fields[i];
            codings_add(&c, only->value, only->value_len);
        }
    }
    if (n_te == 1 && only->value_len == 7 && strncasecmp(only->value, "chunked", 7) == 0)
        return true;
    if (c.last_chunked && c.chunked == 1 && c.n > 1)
        return refuse(why, 501, "Transfer-Encoding: only chunked is implemented");
    return refuse(why, 400, "Transfer-Encoding: want chunked, once, as the last coding");
}

static bool framing_ok(const struct edge_head *h, struct edge_refusal *why)
{
    const struct edge_field *f = NULL;
    size_t n_te = count(h, "Transfer-Encoding", &f);
    size_t n_cl = count(h, "Content-Length", &f);
    if (n_te && n_cl)
        return refuse(why, 400, "Content-Length together with Transfer-Encoding");
    if (n_te)
        return coding_ok(h, n_te, why);
    if (n_cl > 1)
        return refuse(why, 400, "more than one Content-Length");
    if (n_cl && (f->value_len == 0 || !all_of(f->value, f->value_len, "0123456789")))
        return refuse(why, 400, "Content-Length: want digits only");
    return true;
}

bool edge_fields_ok(const struct edge_head *h, struct edge_refusal *why)
{
    if (h->n_fields > EDGE_FIELDS_MAX)
        return refuse(why, 431, "more header fields than the server takes");
    return names_values_ok(h, why) && host_ok(h, why) && framing_ok(h, why);
}

/* ---- the head as MHD left it ------------------------------------------- */

static const char *skip_nuls(const char *p, const char *end)
{
    while (p < end && *p == '\0')
        p++;
    return p;
}

bool edge_layout_ok(const char *start, size_t size, const char *after_line,
                    const struct edge_head *h)
{
    const char *end = start + size, *p = after_line;
    if (p < start || p > end)
        return false;
    for (size_t i = 0; i < h->n_fields; i++) {
        const struct edge_field *f = &h->fields[i];
        const char *q = skip_nuls(p, end);
        if (q - p < 1 || q - p > 2 || q != f->name)
            return false;
        p = q + f->name_len;
        if (p >= end || *p++ != '\0')
            return false;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p != f->value || (size_t)(end - p) < f->value_len)
            return false;
        p += f->value_len;
    }
    const char *q = skip_nuls(p, end);
    return q == end && q - p >= 2 && q - p <= 4;
}
