#include "publisher.h"

#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dialect.h"
#include "https.h"
#include "ws_publish.h"

/* HTTP publishes under way at most. Past it, due messages wait (and their
 * latency, counted from the schedule, shows it) instead of piling up as
 * curl handles without end when the server or this client cannot keep up. */
#define PUBLISH_MAX_IN_FLIGHT 256

struct publish_req {
    struct loop_xfer x;               /* first: the loop calls back with it */
    struct publisher *pub;
    struct publish_req *next_free;
    uint64_t k;
    char *body;
    size_t body_cap;
};

struct publisher {
    struct run *run;
    struct loop *loop;
    struct event *timer;
    uint64_t t0_us, k_next, k_end;
    uint64_t in_flight;
    bool blocked;                     /* due messages wait for a free request */
    bool stopped;
    struct publish_req *free_reqs, **all_reqs;
    size_t nreqs;
    struct ws_publisher **ws;         /* one per channel with --publish-via ws */
    char *scratch;                    /* one payload */
};

uint64_t schedule_time_us(uint64_t t0_us, double rate, uint64_t k)
{
    return t0_us + (uint64_t)llround((double)k * 1e6 / rate);
}

uint64_t schedule_origin_us(uint64_t sched_us, double rate, uint64_t k)
{
    uint64_t since = (uint64_t)llround((double)k * 1e6 / rate);
    return sched_us > since ? sched_us - since : 0;
}

uint64_t schedule_due(uint64_t t0_us, double rate, uint64_t now_us)
{
    if (now_us < t0_us)
        return 0;
    /* k is due when t0 + k/rate <= now: k <= (now - t0) * rate. */
    uint64_t k = (uint64_t)floor((double)(now_us - t0_us) * rate / 1e6) + 1;
    while (k > 0 && schedule_time_us(t0_us, rate, k - 1) > now_us)
        k--;
    while (schedule_time_us(t0_us, rate, k) <= now_us)
        k++;
    return k;
}

static void published(struct publisher *p, uint64_t k)
{
    struct run *run = p->run;
    unsigned channel = (unsigned)(k % run->cfg->channels);
    run_ack(run, k);
    /* Atomics: the subscribers' thread reads these while we run. */
    __atomic_fetch_add(&run->published, 1, __ATOMIC_RELAXED);
    if (k >= run->k_measure_from && k < run->k_measure_to) {
        __atomic_fetch_add(&run->published_measured, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&run->expected, run->subs_on_channel[channel], __ATOMIC_RELAXED);
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg);

static void on_publish_done(struct loop_xfer *x, CURLcode result)
{
    struct publish_req *r = (struct publish_req *)x;
    struct publisher *p = r->pub;
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    if (result == CURLE_OK && dialect_of(p->run->cfg)->publish_accepted(status))
        published(p, r->k);
    else
        __atomic_fetch_add(&p->run->publish_errors, 1, __ATOMIC_RELAXED);
    p->in_flight--;
    r->next_free = p->free_reqs;
    p->free_reqs = r;
    if (p->blocked) {                 /* a request is free: send what is due */
        p->blocked = false;
        on_tick(-1, 0, p);
    }
}

static size_t discard(char *data, size_t size, size_t n, void *ud)
{
    (void)data;
    (void)ud;
    return size * n;
}

static struct publish_req *req_get(struct publisher *p)
{
    struct publish_req *r = p->free_reqs;
    if (r) {
        p->free_reqs = r->next_free;
        return r;
    }
    struct publish_req **grown = realloc(p->all_reqs, (p->nreqs + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    p->all_reqs = grown;
    r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->pub = p;
    r->x.done = on_publish_done;
    r->x.easy = curl_easy_init();
    r->body_cap = p->run->cfg->size + 64;
    r->body = malloc(r->body_cap);
    if (!r->x.easy || !r->body) {
        if (r->x.easy)
            curl_easy_cleanup(r->x.easy);
        free(r->body);
        free(r);
        return NULL;
    }
    curl_easy_setopt(r->x.easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(r->x.easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->x.easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(r->x.easy, CURLOPT_TIMEOUT_MS, 30000L);
    https_apply(r->x.easy);
    p->all_reqs[p->nreqs++] = r;
    return r;
}

static void publish_http(struct publisher *p, uint64_t k, const char *payload, size_t len)
{
    struct publish_req *r = req_get(p);
    if (!r) {
        __atomic_fetch_add(&p->run->publish_errors, 1, __ATOMIC_RELAXED);
        return;
    }
    char channel[64], url[640];
    run_channel_name(p->run, (unsigned)(k % p->run->cfg->channels), channel, sizeof channel);
    snprintf(url, sizeof url, "%s/pub/%s", p->run->cfg->publish_url, channel);
    memcpy(r->body, payload, len);
    r->k = k;
    curl_easy_setopt(r->x.easy, CURLOPT_URL, url);
    curl_easy_setopt(r->x.easy, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(r->x.easy, CURLOPT_POSTFIELDSIZE, (long)len);
    if (loop_add(p->loop, &r->x) != 0) {
        __atomic_fetch_add(&p->run->publish_errors, 1, __ATOMIC_RELAXED);
        r->next_free = p->free_reqs;
        p->free_reqs = r;
        return;
    }
    p->in_flight++;
}

static void publish_one(struct publisher *p, uint64_t k, uint64_t now)
{
    struct run *run = p->run;
    char *buf = p->scratch;
    uint64_t sched = schedule_time_us(p->t0_us, run->cfg->rate, k);
    size_t len = payload_format(buf, run->cfg->size + 64, k, sched, run->cfg->size);
    __atomic_store_n(&run->sent_us[k], now, __ATOMIC_RELAXED);
    if (p->ws) {
        unsigned channel = (unsigned)(k % run->cfg->channels);
        if (ws_publisher_send(p->ws[channel], buf, len) == 0)
            published(p, k);          /* WS has no per-message answer */
        else
            __atomic_fetch_add(&run->publish_errors, 1, __ATOMIC_RELAXED);
    } else {
        publish_http(p, k, buf, len);
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct publisher *p = arg;
    if (p->stopped)
        return;
    uint64_t now = run_now_us();
    uint64_t due = schedule_due(p->t0_us, p->run->cfg->rate, now);
    if (due > p->k_end)
        due = p->k_end;
    /* Everything due goes now, late or not: open loop. */
    for (; p->k_next < due && (p->ws || p->in_flight < PUBLISH_MAX_IN_FLIGHT); p->k_next++)
        publish_one(p, p->k_next, now);
    if (p->k_next >= p->k_end)
        return;
    if (p->k_next < due) {
        p->blocked = true;            /* on_publish_done resumes */
        return;
    }
    uint64_t next = schedule_time_us(p->t0_us, p->run->cfg->rate, p->k_next);
    uint64_t wait = next > now ? next - now : 0;
    struct timeval tv = { .tv_sec = (time_t)(wait / 1000000), .tv_usec = (suseconds_t)(wait % 1000000) };
    evtimer_add(p->timer, &tv);
}

struct publisher *publisher_new(struct run *run, struct loop *loop)
{
    struct publisher *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->run = run;
    p->loop = loop;
    p->timer = evtimer_new(loop_base(loop), on_tick, p);
    p->scratch = malloc(run->cfg->size + 64);
    if (!p->timer || !p->scratch) {
        if (p->timer)
            event_free(p->timer);
        free(p->scratch);
        free(p);
        return NULL;
    }
    return p;
}

int publisher_prepare(struct publisher *p)
{
    if (p->run->cfg->publish_via != PUB_WS)
        return 0;
    unsigned n = p->run->cfg->channels;
    p->ws = calloc(n, sizeof *p->ws);
    if (!p->ws)
        return -1;
    for (unsigned c = 0; c < n; c++)
        if (!(p->ws[c] = ws_publisher_open(p->run, loop_base(p->loop), c)))
            return -1;
    return 0;
}

bool publisher_ready(const struct publisher *p)
{
    if (!p->ws)
        return true;
    for (unsigned c = 0; c < p->run->cfg->channels; c++)
        if (!ws_publisher_ready(p->ws[c]))
            return false;
    return true;
}

void publisher_start(struct publisher *p, uint64_t t0_us, uint64_t k_end)
{
    p->t0_us = t0_us;
    p->k_end = k_end;
    p->k_next = 0;
    on_tick(-1, 0, p);
}

uint64_t publisher_in_flight(const struct publisher *p) { return p->in_flight; }

void publisher_stop(struct publisher *p)
{
    p->stopped = true;
    p->blocked = false;
    evtimer_del(p->timer);
}

void publisher_free(struct publisher *p)
{
    if (!p)
        return;
    event_free(p->timer);
    for (size_t i = 0; i < p->nreqs; i++) {
        struct publish_req *r = p->all_reqs[i];
        loop_remove(p->loop, &r->x);
        curl_easy_cleanup(r->x.easy);
        free(r->body);
        free(r);
    }
    free(p->all_reqs);
    if (p->ws)
        for (unsigned c = 0; c < p->run->cfg->channels; c++)
            if (p->ws[c])
                ws_publisher_free(p->ws[c]);
    free(p->ws);
    free(p->scratch);
    free(p);
}
