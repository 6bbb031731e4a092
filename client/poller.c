#include "poller.h"

#include "dialect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Answers are at most --history messages of --max-message each; a bound
 * that keeps a broken server from growing the client without end. */
#define POLL_BODY_MAX (256u << 20)

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    struct poller *p = ud;
    size_t len = size * n;
    if (p->len + len > POLL_BODY_MAX)
        return 0;                     /* curl fails the transfer: counted */
    if (p->len + len + 1 > p->cap) {
        size_t cap = p->cap ? p->cap : 1024;
        while (cap < p->len + len + 1)
            cap *= 2;
        char *grown = realloc(p->body, cap);
        if (!grown)
            return 0;
        p->body = grown;
        p->cap = cap;
    }
    memcpy(p->body + p->len, data, len);
    p->len += len;
    return len;
}

/* Keep the value of a header the dialect reads ("Name: value\r\n"). */
static void keep_header(char *dst, const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);
    if (len <= n || strncasecmp(line, name, n) != 0)
        return;
    const char *v = line + n, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    size_t vlen = (size_t)(end - v) < POLLER_HEADER_MAX ? (size_t)(end - v) : POLLER_HEADER_MAX - 1;
    memcpy(dst, v, vlen);
    dst[vlen] = '\0';
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    struct poller *p = ud;
    size_t len = size * n;
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0)
        p->content_type[0] = p->last_modified[0] = p->etag[0] = '\0';
    keep_header(p->content_type, data, len, "Content-Type:");
    keep_header(p->last_modified, data, len, "Last-Modified:");
    keep_header(p->etag, data, len, "ETag:");
    return len;
}

static void on_done(struct loop_xfer *x, CURLcode result)
{
    struct poller *p = (struct poller *)x;
    struct subscriber *s = p->s;
    s->rx_us = run_now_us();          /* the answer is complete now */
    struct poll_answer a = { .body = p->body ? p->body : "", .len = p->len,
                             .content_type = p->content_type,
                             .last_modified = p->last_modified, .etag = p->etag };
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &a.status);
    subscriber_account_request(s, x->easy);
    subscriber_account_response(s, x->easy);
    bool empty = true;
    /* A wait the server never ends by itself ended at our own timeout. */
    bool waited = result == CURLE_OPERATION_TIMEDOUT && p->timeout_is_empty && a.status == 0;
    if (!waited && (result != CURLE_OK ||
                    dialect_of(s->run->cfg)->poll_answer(s, &a, &empty) != 0)) {
        subscriber_retry(s);
        p->answered(p, false, true);
        return;
    }
    if (waited)
        p->fresh = true;              /* curl dropped the connection */
    p->first = false;
    if (!p->handshake) {
        if (empty)
            s->run->cost.empty_answers++;
        subscriber_up(s);
    }
    p->answered(p, true, empty);
}

int poller_init(struct poller *p, struct subscriber *s, poller_answered_fn answered)
{
    memset(p, 0, sizeof *p);
    p->s = s;
    p->answered = answered;
    p->first = true;
    p->x.done = on_done;
    p->x.easy = subscriber_easy(s, on_body, p);
    if (p->x.easy && dialect_of(s->run->cfg)->poll_headers) {
        curl_easy_setopt(p->x.easy, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(p->x.easy, CURLOPT_HEADERDATA, p);
    }
    return p->x.easy ? 0 : -1;
}

int poller_request(struct poller *p, enum transport t, long timeout_ms)
{
    char url[800];
    curl_slist_free_all(p->headers);
    p->headers = NULL;
    if (dialect_of(p->s->run->cfg)->request(p->s, t, p->first, url, sizeof url, &p->headers) != 0)
        return -1;
    curl_easy_setopt(p->x.easy, CURLOPT_URL, url);
    curl_easy_setopt(p->x.easy, CURLOPT_HTTPHEADER, p->headers);
    curl_easy_setopt(p->x.easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(p->x.easy, CURLOPT_FRESH_CONNECT, p->fresh ? 1L : 0L);
    p->fresh = false;
    p->len = 0;
    return loop_add(p->s->loop, &p->x);
}

void poller_cancel(struct poller *p)
{
    loop_remove(p->s->loop, &p->x);
}

void poller_free(struct poller *p)
{
    poller_cancel(p);
    if (p->x.easy)
        curl_easy_cleanup(p->x.easy);
    curl_slist_free_all(p->headers);
    free(p->body);
}
