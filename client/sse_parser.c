#include "sse_parser.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A growable byte string, always NUL-terminated once allocated. */
struct buf {
    char *p;
    size_t len, cap;
};

struct sse_parser {
    size_t max;
    sse_event_cb on_event;
    sse_comment_cb on_comment;
    void *ud;
    struct buf line;        /* a line split across chunks */
    struct buf data;        /* data lines, each followed by "\n" */
    struct buf type;        /* event type buffer */
    struct buf id_buf;      /* last event ID buffer: set by "id" */
    struct buf last_id;     /* last event ID string: id_buf as of the last dispatch */
    int id_seen;            /* a valid "id" since the last blank line */
    int pending_cr;         /* the last byte was CR: a following LF belongs to it */
    int at_start;           /* nothing but a BOM prefix seen yet */
    unsigned bom_matched;
    int retry_set;
    uint64_t retry_ms;
    uint64_t comments;
    const char *error;
};

static const unsigned char utf8_bom[3] = { 0xEF, 0xBB, 0xBF };

static void fail(struct sse_parser *p, const char *why)
{
    if (p->error == NULL)
        p->error = why;
}

/* Room for `need` bytes. Callers keep need <= max + 2 (a max-sized value, its
 * "\n" and the NUL), which is what bounds memory. */
static int buf_reserve(struct sse_parser *p, struct buf *b, size_t need)
{
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap * 2 : 64;
    if (cap < need)
        cap = need;
    if (cap > p->max + 2)
        cap = p->max + 2;
    char *np = realloc(b->p, cap);
    if (np == NULL) {
        fail(p, "out of memory");
        return -1;
    }
    b->p = np;
    b->cap = cap;
    return 0;
}

static int buf_append(struct sse_parser *p, struct buf *b, const char *s, size_t n)
{
    if (buf_reserve(p, b, b->len + n + 1) != 0)
        return -1;
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int buf_set(struct sse_parser *p, struct buf *b, const char *s, size_t n)
{
    b->len = 0;
    return buf_append(p, b, s, n);
}

static const char *buf_str(const struct buf *b)
{
    return b->len ? b->p : "";
}

static int field_is(const char *name, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(name, want, len) == 0;
}

/* Digits only, at least one, no overflow; anything else is ignored. */
static void set_retry(struct sse_parser *p, const char *v, size_t n)
{
    uint64_t ms = 0;
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)((unsigned char)v[i] - '0');
        if (d > 9 || ms > (UINT64_MAX - d) / 10)
            return;
        ms = ms * 10 + d;
    }
    p->retry_ms = ms;
    p->retry_set = 1;
}

static void set_field(struct sse_parser *p, const char *name, size_t nlen,
                      const char *v, size_t vlen)
{
    if (field_is(name, nlen, "data")) {
        /* The dispatched data drops the last "\n", so this is its size. */
        if (p->data.len + vlen > p->max) {
            fail(p, "event too long");
            return;
        }
        if (buf_append(p, &p->data, v, vlen) == 0)
            buf_append(p, &p->data, "\n", 1);
    } else if (field_is(name, nlen, "event")) {
        buf_set(p, &p->type, v, vlen);
    } else if (field_is(name, nlen, "id")) {
        if (memchr(v, '\0', vlen) == NULL && buf_set(p, &p->id_buf, v, vlen) == 0)
            p->id_seen = 1;
    } else if (field_is(name, nlen, "retry")) {
        set_retry(p, v, vlen);
    }
}

static void dispatch(struct sse_parser *p)
{
    int has_id = p->id_seen;
    p->id_seen = 0;
    /* The spec updates the last event ID at every blank line, even one that
     * ends a block without data. */
    if (has_id && buf_set(p, &p->last_id, p->id_buf.p, p->id_buf.len) != 0)
        return;
    if (p->data.len == 0) {
        p->type.len = 0;
        return;
    }
    p->data.p[--p->data.len] = '\0';    /* each data line added a "\n": drop the last */
    struct sse_event ev = {
        .type = p->type.len ? p->type.p : "message",
        .type_len = p->type.len ? p->type.len : strlen("message"),
        .data = buf_str(&p->data), .data_len = p->data.len,
        .id = buf_str(&p->last_id), .id_len = p->last_id.len,
        .has_id = has_id,
    };
    p->on_event(p->ud, &ev);
    p->data.len = 0;
    p->type.len = 0;
}

static void process_line(struct sse_parser *p, const char *s, size_t n)
{
    if (n == 0) {
        dispatch(p);
        return;
    }
    size_t skip = 0;
    if (s[0] == ':') {
        p->comments++;
        if (p->on_comment) {
            skip = n > 1 && s[1] == ' ' ? 2 : 1;
            p->on_comment(p->ud, s + skip, n - skip);
        }
        return;
    }
    const char *colon = memchr(s, ':', n);
    size_t nlen = colon ? (size_t)(colon - s) : n;
    const char *v = s + n;
    size_t vlen = 0;
    if (colon) {
        v = colon + 1;
        vlen = n - nlen - 1;
        skip = vlen && v[0] == ' ';
    }
    set_field(p, s, nlen, v + skip, vlen - skip);
}

static void line_append(struct sse_parser *p, const char *s, size_t n)
{
    if (p->line.len + n > p->max)
        fail(p, "line too long");
    else
        buf_append(p, &p->line, s, n);
}

/* The line ends just after s[n-1]: it is s alone or, if a previous chunk left
 * a partial line, that line plus s. */
static void end_line(struct sse_parser *p, const char *s, size_t n)
{
    if (p->line.len == 0) {
        if (n > p->max)
            fail(p, "line too long");
        else
            process_line(p, s, n);
        return;
    }
    line_append(p, s, n);
    if (p->error == NULL)
        process_line(p, p->line.p, p->line.len);
    p->line.len = 0;
}

/* Drops a leading BOM, even one split across chunks; the bytes of a mere
 * prefix of it are ordinary line bytes. Returns the bytes consumed. */
static size_t skip_bom(struct sse_parser *p, const char *buf, size_t len)
{
    size_t i = 0;
    while (i < len && p->at_start) {
        if ((unsigned char)buf[i] == utf8_bom[p->bom_matched]) {
            i++;
            p->at_start = ++p->bom_matched < sizeof utf8_bom;
        } else {
            p->at_start = 0;
            line_append(p, (const char *)utf8_bom, p->bom_matched);
        }
    }
    return i;
}

int sse_parser_feed(struct sse_parser *p, const char *buf, size_t len)
{
    size_t i = p->error ? len : skip_bom(p, buf, len);
    while (i < len && p->error == NULL) {
        if (p->pending_cr) {
            p->pending_cr = 0;
            if (buf[i] == '\n') {
                i++;
                continue;
            }
        }
        size_t j = i;
        while (j < len && buf[j] != '\n' && buf[j] != '\r')
            j++;
        if (j == len) {
            line_append(p, buf + i, len - i);
            break;
        }
        end_line(p, buf + i, j - i);
        p->pending_cr = buf[j] == '\r';
        i = j + 1;
    }
    return p->error ? -1 : 0;
}

void sse_parser_reset(struct sse_parser *p)
{
    p->line.len = 0;
    p->data.len = 0;
    p->type.len = 0;
    p->error = NULL;
    /* An id not yet confirmed by a blank line dies with its stream. */
    p->id_seen = 0;
    buf_set(p, &p->id_buf, p->last_id.p, p->last_id.len);
    p->pending_cr = 0;
    p->at_start = 1;
    p->bom_matched = 0;
}

struct sse_parser *sse_parser_new(size_t max_size, sse_event_cb on_event,
                                  sse_comment_cb on_comment, void *ud)
{
    struct sse_parser *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    /* Keeps max + 2 (a value, its "\n", the NUL) from wrapping. */
    p->max = max_size < SIZE_MAX / 2 ? max_size : SIZE_MAX / 2;
    p->on_event = on_event;
    p->on_comment = on_comment;
    p->ud = ud;
    p->at_start = 1;
    return p;
}

void sse_parser_free(struct sse_parser *p)
{
    if (p == NULL)
        return;
    free(p->line.p);
    free(p->data.p);
    free(p->type.p);
    free(p->id_buf.p);
    free(p->last_id.p);
    free(p);
}

const char *sse_parser_last_id(const struct sse_parser *p, size_t *len)
{
    if (len)
        *len = p->last_id.len;
    return buf_str(&p->last_id);
}

int sse_parser_retry(const struct sse_parser *p, uint64_t *ms)
{
    if (p->retry_set)
        *ms = p->retry_ms;
    return p->retry_set;
}

uint64_t sse_parser_comments(const struct sse_parser *p)
{
    return p->comments;
}

const char *sse_parser_error(const struct sse_parser *p)
{
    return p->error;
}
