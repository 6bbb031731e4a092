/* What every transport's subscriber shares: reconnect backoff and URLs. */
#include "subscriber.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>

#include "dialect.h"
#include "https.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct subscriber *s = arg;
    if (s->stopping)
        return;
    s->run->cost.reconnects++;
    s->track.connect_start_us = run_now_us();
    if (s->run->transport == TR_POLL ? poll_ops.start(s) :
        s->run->transport == TR_LONGPOLL ? longpoll_ops.start(s) :
        s->run->transport == TR_SSE ? sse_ops.start(s) : ws_ops.start(s))
        subscriber_retry(s);
}

/* The connection is gone: so is whatever session the dialect had on it. */
static void session_lost(struct subscriber *s)
{
    const struct dialect *d = dialect_of(s->run->cfg);
    if (d->session_lost)
        d->session_lost(s);
}

void subscriber_retry(struct subscriber *s)
{
    if (s->stopping)
        return;
    s->run->cost.transport_errors++;
    session_lost(s);
    if (!s->retry_timer)
        s->retry_timer = evtimer_new(s->run->base, on_retry, s);
    if (!s->retry_timer || evtimer_pending(s->retry_timer, NULL))
        return;
    /* Full jitter: a crowd that lost the server together does not come
     * back together. */
    unsigned cap = s->backoff_ms ? s->backoff_ms : BACKOFF_MIN_MS;
    unsigned delay = cap + (unsigned)(random() % cap);
    if (delay > BACKOFF_MAX_MS)
        delay = BACKOFF_MAX_MS;
    s->backoff_ms = cap * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : cap * 2;
    struct timeval tv = { .tv_sec = delay / 1000, .tv_usec = (delay % 1000) * 1000 };
    evtimer_add(s->retry_timer, &tv);
}

void subscriber_ok(struct subscriber *s)
{
    s->backoff_ms = 0;
}

void subscriber_up(struct subscriber *s)
{
    subscriber_ok(s);
    if (!s->track.connected && !dialect_of(s->run->cfg)->own_handshake)
        track_connected(s->run, &s->track);
}

void subscriber_dropped(struct subscriber *s)
{
    s->run->cost.reconnects++;
    session_lost(s);
}

int subscriber_send(struct subscriber *s, const char *data, size_t len)
{
    if (s->send && s->send(s, data, len) == 0)
        return 0;
    s->run->cost.transport_errors++;
    return -1;
}

void subscriber_url(const struct subscriber *s, const char *endpoint, bool since_in_header,
                    char *buf, size_t cap)
{
    char channel[64], since[32] = "", epoch[32] = "";
    run_channel_name(s->run, s->track.channel, channel, sizeof channel);
    if (!since_in_header)
        snprintf(since, sizeof since, "since=%llu", (unsigned long long)s->track.last_id);
    if (s->track.epoch)
        snprintf(epoch, sizeof epoch, "epoch=%llu", (unsigned long long)s->track.epoch);
    snprintf(buf, cap, "%s%s%s%s%s%s%s", s->run->cfg->url, endpoint, channel,
             since[0] || epoch[0] ? "?" : "", since, since[0] && epoch[0] ? "&" : "", epoch);
}

CURL *subscriber_easy(struct subscriber *s, curl_write_callback write, void *ud)
{
    const struct client_config *cfg = s->run->cfg;
    CURL *easy = curl_easy_init();
    if (!easy)
        return NULL;
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, ud);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)(cfg->connect_timeout_us / 1000));
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    /* An explicit "no proxy" also spares curl reading the proxy variables
     * from the environment on every request. */
    curl_easy_setopt(easy, CURLOPT_PROXY, "");
    if (cfg->no_keepalive)
        curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
    https_apply(easy);
    return easy;
}

void subscriber_account_request(struct subscriber *s, CURL *easy)
{
    struct cost *c = &s->run->cost;
    long request = 0, connects = 0;
    curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &request);
    curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects);
    c->requests++;
    c->bytes_tx += (uint64_t)request;
    c->connects += (uint64_t)connects;
}

void subscriber_account_response(struct subscriber *s, CURL *easy)
{
    long header = 0;
    curl_off_t body = 0;
    curl_easy_getinfo(easy, CURLINFO_HEADER_SIZE, &header);
    curl_easy_getinfo(easy, CURLINFO_SIZE_DOWNLOAD_T, &body);
    s->run->cost.bytes_rx += (uint64_t)header + (uint64_t)body;
}
