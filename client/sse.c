/* Server-Sent Events: one long GET (the dialect's: pushpull's /sse/<ch>)
 * whose body feeds the incremental event-stream parser; the dialect reads
 * each event. On any end or error it reconnects with backoff and resumes
 * with Last-Event-ID, as a browser's EventSource does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dialect.h"
#include "sse_parser.h"
#include "subscriber.h"

/* The largest event we accept: a --max-message payload, escaped, framed. */
#define SSE_EVENT_MAX (8u << 20)

struct sse_sub {
    struct loop_xfer x;               /* first: the loop calls back with it */
    struct subscriber *s;
    struct sse_parser *parser;
    struct curl_slist *headers;
    bool answered;                    /* response headers seen */
    bool fresh;                       /* churn: reconnect on a new connection */
    bool refused;                     /* the answer was not 200: not a stream */
    bool failed;                      /* a protocol error: end this stream */
};

static void on_event(void *ud, const struct sse_event *ev)
{
    struct sse_sub *ss = ud;
    if (dialect_of(ss->s->run->cfg)->sse_event(ss->s, ev) != 0)
        ss->failed = true;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    struct sse_sub *ss = ud;
    size_t len = size * n;
    ss->s->rx_us = run_now_us();      /* every event in this chunk arrived now */
    ss->s->run->cost.bytes_rx += len;
    if (ss->refused)
        return 0;                     /* ends the transfer: counted, retried */
    if (!ss->s->track.connected)
        subscriber_up(ss->s);
    if (sse_parser_feed(ss->parser, data, len) != 0) {
        ss->s->run->cost.protocol_errors++;
        return 0;                     /* ends the transfer; we reconnect */
    }
    return ss->failed ? 0 : len;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    struct sse_sub *ss = ud;
    if (!ss->answered) {
        /* The request is on the wire by now: count it while the stream
         * lasts, not when it ends (it may outlive the measurement). */
        ss->answered = true;
        subscriber_account_request(ss->s, ss->x.easy);
        /* Only a 200 is a stream; an error answer's body is no event. */
        ss->refused = !(size * n >= 12 && memcmp(data + 8, " 200", 4) == 0);
    }
    ss->s->run->cost.bytes_rx += size * n;
    return size * n;
}

static void on_done(struct loop_xfer *x, CURLcode result)
{
    struct sse_sub *ss = (struct sse_sub *)x;
    (void)result;
    /* A stream never ends on its own while the server runs: reconnect. */
    subscriber_retry(ss->s);
}

static int sse_connect(struct sse_sub *ss)
{
    struct subscriber *s = ss->s;
    char url[640];
    curl_slist_free_all(ss->headers);
    ss->headers = NULL;
    if (dialect_of(s->run->cfg)->request(s, TR_SSE, !s->track.connected, url, sizeof url,
                                      &ss->headers) != 0)
        return -1;
    curl_easy_setopt(ss->x.easy, CURLOPT_URL, url);
    curl_easy_setopt(ss->x.easy, CURLOPT_HTTPHEADER, ss->headers);
    curl_easy_setopt(ss->x.easy, CURLOPT_FRESH_CONNECT, ss->fresh ? 1L : 0L);
    ss->fresh = false;
    ss->answered = false;
    ss->failed = false;
    sse_parser_reset(ss->parser);
    return loop_add(s->loop, &ss->x);
}

static int sse_start(struct subscriber *s)
{
    struct sse_sub *ss = s->impl;
    if (!ss) {
        ss = calloc(1, sizeof *ss);
        if (!ss)
            return -1;
        ss->s = s;
        ss->x.done = on_done;
        ss->parser = sse_parser_new(SSE_EVENT_MAX, on_event, NULL, ss);
        ss->x.easy = subscriber_easy(s, on_body, ss);
        if (!ss->parser || !ss->x.easy) {
            sse_parser_free(ss->parser);
            if (ss->x.easy)
                curl_easy_cleanup(ss->x.easy);
            free(ss);
            return -1;
        }
        curl_easy_setopt(ss->x.easy, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(ss->x.easy, CURLOPT_HEADERDATA, ss);
        /* A stream is never "slow" as long as heartbeats arrive. */
        curl_easy_setopt(ss->x.easy, CURLOPT_TIMEOUT_MS, 0L);
        s->impl = ss;
    }
    return sse_connect(ss);
}

static void sse_drop(struct subscriber *s)
{
    struct sse_sub *ss = s->impl;
    if (!ss || !ss->x.active)
        return;
    loop_remove(s->loop, &ss->x);
    ss->fresh = true;
    subscriber_dropped(s);
    if (sse_connect(ss) != 0)
        subscriber_retry(s);
}

static void sse_stop(struct subscriber *s)
{
    struct sse_sub *ss = s->impl;
    if (!ss)
        return;
    loop_remove(s->loop, &ss->x);
    curl_easy_cleanup(ss->x.easy);
    curl_slist_free_all(ss->headers);
    sse_parser_free(ss->parser);
    free(ss);
    s->impl = NULL;
}

const struct transport_ops sse_ops = { sse_start, sse_drop, sse_stop };
