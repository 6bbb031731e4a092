/* The edge checks (server/edge.c) on request heads shaped like the ones
 * that smuggle: Content-Length / Transfer-Encoding / Host combinations,
 * NULs, CRs, folded lines. The driver rewrites the head in place the way
 * libmicrohttpd 0.9.75 does (':' and CR/LF to NUL, names and values as
 * C strings; a folded line moves its field out of the buffer), then checks
 * edge.c against facts read from the original bytes by a separate, plainer
 * parse:
 *  - soundness: a NUL with more bytes after it in a line, a folded line, a
 *    CTL in a value, a name that is not a token, Content-Length with
 *    Transfer-Encoding, two Content-Lengths, a Transfer-Encoding other than
 *    one "chunked", a Host count other than one (HTTP/1.1): refused;
 *  - completeness: a head with none of those is accepted, whatever mix of
 *    CRLF and LF ends its lines.
 * Input: byte 0 bit 0 chooses HTTP/1.1; the rest is the header block after
 * the request line "GET / HTTP/1.x" (the target has its own check below,
 * fed the first line). */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "edge.h"
#include "fuzz.h"

#define HEAD_MAX 4096

struct facts {
    bool hidden;                      /* a NUL with non-NUL bytes after it in a line */
    bool fold, ctl, bad_name, bad_cl, bad_host;
    size_t n_cl, n_te, n_host, n_fields;
    bool te_chunked;                  /* the one TE value is exactly "chunked" */
};

static bool tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool eq_name(const uint8_t *p, size_t n, const char *name)
{
    return n == strlen(name) && strncasecmp((const char *)p, name, n) == 0;
}

/* One header line of the original bytes (no terminator), read plainly. */
static void facts_line(struct facts *f, const uint8_t *l, size_t n)
{
    if (n > 0 && (l[0] == ' ' || l[0] == '\t')) {
        f->fold = true;
        return;
    }
    const uint8_t *nul = memchr(l, 0, n);
    for (const uint8_t *p = nul; p && p < l + n; p++)
        f->hidden |= *p != 0;
    if (l[0] == 0)
        return;                       /* MHD: the blank line that ends the head */
    f->n_fields++;
    /* NULs that end a line read like its CR after MHD's rewrite: they hide
     * nothing, and edge.c cannot tell them from one. */
    while (n > 0 && l[n - 1] == 0)
        n--;
    const uint8_t *colon = memchr(l, ':', n);
    size_t nl = colon ? (size_t)(colon - l) : n;
    for (size_t i = 0; i < nl; i++)
        f->bad_name |= !tchar(l[i]);
    f->bad_name |= nl == 0;
    if (!colon)
        return;
    const uint8_t *v = colon + 1, *end = l + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    size_t vn = (size_t)(end - v);
    for (size_t i = 0; i < vn; i++)
        f->ctl |= (v[i] < 0x20 && v[i] != '\t' && v[i] != 0) || v[i] == 0x7f;
    if (eq_name(l, nl, "Content-Length")) {
        f->n_cl++;
        f->bad_cl |= vn == 0 || strspn((const char *)v, "0123456789") < vn;
    } else if (eq_name(l, nl, "Transfer-Encoding")) {
        f->n_te++;
        f->te_chunked = vn == 7 && strncasecmp((const char *)v, "chunked", 7) == 0;
    } else if (eq_name(l, nl, "Host")) {
        f->n_host++;
        f->bad_host |= vn == 0 || strspn((const char *)v,
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:[]%") < vn;
    }
}

/* MHD 0.9.75's line end: CRLF or LF (a bare CR is not one). */
static size_t line_end(const uint8_t *b, size_t from, size_t n, size_t *term)
{
    for (size_t i = from; i < n; i++) {
        if (b[i] == '\r' && i + 1 < n && b[i + 1] == '\n') {
            *term = 2;
            return i;
        }
        if (b[i] == '\n') {
            *term = 1;
            return i;
        }
    }
    return n;
}

static char moved[HEAD_MAX];          /* where MHD puts a folded field */

/* Rewrite buf[0, n) in place as MHD does; fields into h. Returns the head
 * size (through the blank line), or 0 when the head never ends or MHD
 * itself would refuse it (a line without a colon). */
static size_t mhd_parse(char *buf, size_t n, struct edge_field *fs, size_t *nf)
{
    size_t pos = 0, term;
    *nf = 0;
    while (pos < n) {
        size_t e = line_end((uint8_t *)buf, pos, n, &term);
        if (e == n)
            return 0;
        memset(buf + e, 0, term);
        char *line = buf + pos;
        pos = e + term;
        if (*line == '\0')
            return pos;               /* MHD: a line starting with NUL is the blank line */
        if ((*line == ' ' || *line == '\t') && *nf > 0) {
            struct edge_field *last = &fs[*nf - 1];
            size_t ln = strlen(last->name) < sizeof moved - 1 ? strlen(last->name) : 0;
            memcpy(moved, last->name, ln);
            moved[ln] = '\0';
            last->name = moved;       /* out of the buffer, as MHD's realloc */
            continue;
        }
        char *colon = strchr(line, ':');
        if (!colon || *nf == EDGE_FIELDS_MAX + 1)
            return 0;
        *colon++ = '\0';
        while (*colon == ' ' || *colon == '\t')
            colon++;
        fs[(*nf)++] = (struct edge_field){ line, colon, strlen(line), strlen(colon) };
    }
    return 0;
}

static void check_head(const uint8_t *data, size_t size, bool http11)
{
    static char buf[HEAD_MAX + 32];
    static struct edge_field fs[EDGE_FIELDS_MAX + 1];
    const char *line = http11 ? "GET / HTTP/1.1" : "GET / HTTP/1.0";
    size_t ll = strlen(line) + 1;     /* the request line, its CRLF as NULs */
    memcpy(buf, line, ll);
    buf[ll] = '\0';
    memcpy(buf + ll + 1, data, size);
    size_t nf, hs = mhd_parse(buf + ll + 1, size, fs, &nf);
    if (!hs)
        return;
    struct facts f = { 0 };
    for (size_t pos = 0, term; pos < hs;) {
        size_t e = line_end(data, pos, size, &term);
        if (e > pos)
            facts_line(&f, data + pos, e - pos);
        pos = e + term;
    }
    struct edge_head h = { http11, fs, nf };
    struct edge_refusal why = { 0, NULL };
    bool ok = edge_fields_ok(&h, &why) &&
              edge_layout_ok(buf, ll + 1 + hs, buf + ll - 1, &h);
    bool must_refuse = f.hidden || f.fold || f.ctl || f.bad_name || f.bad_host ||
                       (f.n_cl && f.n_te) || f.n_cl > 1 || (f.n_cl == 1 && f.bad_cl) ||
                       (f.n_te && !(f.n_te == 1 && f.te_chunked && http11)) ||
                       f.n_host > 1 || (http11 && f.n_host == 0);
    bool has_nul = memchr(data, 0, hs) != NULL;
    if (must_refuse)
        FUZZ_CHECK(!ok);
    else if (!has_nul && f.n_fields <= EDGE_FIELDS_MAX)
        FUZZ_CHECK(ok);
    if (!ok)
        FUZZ_CHECK(why.error == NULL || (why.status >= 400 && why.status <= 501));
}

/* The target check against a plain reading of what it allows. */
static void check_target(const uint8_t *data, size_t size)
{
    static char t[HEAD_MAX + 1];
    memcpy(t, data, size);
    t[size] = '\0';
    bool printable = true;
    for (size_t i = 0; i < size; i++)
        printable &= data[i] > 0x20 && data[i] < 0x7f;
    struct edge_refusal why;
    bool ok = edge_target_ok(t, size, &why);
    if (!printable || size == 0)
        FUZZ_CHECK(!ok);
    else if (t[0] == '/' || (size == 1 && t[0] == '*'))
        FUZZ_CHECK(ok);
    else if (ok)
        FUZZ_CHECK(size > 7 && (strncasecmp(t, "http://", 7) == 0 ||
                                strncasecmp(t, "https://", 8) == 0) &&
                   !memchr(t, '@', strcspn(t + 7, "/?#") + 7));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > HEAD_MAX)
        return 0;
    check_head(data + 1, size - 1, data[0] & 1);
    const uint8_t *nl = memchr(data + 1, '\n', size - 1);
    check_target(data + 1, nl ? (size_t)(nl - data - 1) : size - 1);
    return 0;
}
