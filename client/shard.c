#include "shard.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "crowd.h"
#include "loop.h"

#define SHARD_TICK_US 10000           /* ramp-up, churn, window edges, mirrors */

struct shard {
    struct run run;                   /* this thread's counters; the schedule is shared */
    struct crowd crowd;
    struct loop *loop;
    struct event *tick;
    const struct shard_clock *clock;
    pthread_t thread;
    bool launched, stopping;
    uint64_t ramp_start_us;
    struct saturation_meter meter;
    struct cost cost0, cost1;
    bool window_open;
    /* Mirrors for the engine's thread. */
    unsigned connected;
    uint64_t delivered;
    bool window_closed;
};

static uint64_t clock_get(const uint64_t *v)
{
    return __atomic_load_n(v, __ATOMIC_ACQUIRE);
}

/* The window's edges, as the engine set them: costs and saturation are
 * taken over the same span as the engine's own. */
static void follow_window(struct shard *sh, uint64_t now)
{
    uint64_t start = clock_get(&sh->clock->measure_start_us);
    if (!sh->window_open && start && now >= start) {
        sh->window_open = true;
        sh->cost0 = sh->run.cost;
        saturation_begin(&sh->meter);
    }
    if (sh->window_open && !sh->window_closed && clock_get(&sh->clock->cost_end_us)) {
        sh->cost1 = sh->run.cost;
        saturation_end(&sh->meter);
        __atomic_store_n(&sh->window_closed, true, __ATOMIC_RELEASE);
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct shard *sh = arg;
    uint64_t now = run_now_us();
    saturation_tick(&sh->meter, now, SHARD_TICK_US);
    if (__atomic_load_n(&sh->stopping, __ATOMIC_ACQUIRE)) {
        event_base_loopbreak(sh->run.base);
        return;
    }
    crowd_ramp(&sh->crowd, sh->ramp_start_us, now);
    uint64_t t0 = clock_get(&sh->clock->t0_us), end = clock_get(&sh->clock->measure_end_us);
    if (sh->run.cfg->churn_us && t0 && now < end)
        crowd_churn(&sh->crowd, now);
    follow_window(sh, now);
    __atomic_store_n(&sh->connected, crowd_connected(&sh->crowd), __ATOMIC_RELEASE);
    __atomic_store_n(&sh->delivered, sh->run.delivered, __ATOMIC_RELEASE);
}

static void *thread_main(void *arg)
{
    struct shard *sh = arg;
    saturation_init(&sh->meter);
    sh->ramp_start_us = run_now_us();
    struct timeval tv = { 0, SHARD_TICK_US };
    event_add(sh->tick, &tv);
    on_tick(-1, 0, sh);
    event_base_dispatch(sh->run.base);
    return NULL;
}

/* The whole run's schedule and shared arrays; counters and histograms of
 * its own, on a base of its own. */
static void run_for_shard(struct run *r, const struct run *whole, struct event_base *base)
{
    r->cfg = whole->cfg;
    r->transport = whole->transport;
    r->base = base;
    r->phase = PH_CONNECT;
    memcpy(r->channel_prefix, whole->channel_prefix, sizeof r->channel_prefix);
    r->subs_on_channel = whole->subs_on_channel;
    r->k_measure_from = whole->k_measure_from;
    r->k_measure_to = whole->k_measure_to;
    r->seq_cap = whole->seq_cap;
    r->sent_us = whole->sent_us;
    r->acked = whole->acked;
    r->t0_learned = whole->t0_learned;
    hist_init(&r->latency);
    hist_init(&r->latency_uncorrected);
    hist_init(&r->connect_time);
    hist_init(&r->first_message);
}

struct shard *shard_new(const struct run *whole, unsigned i, unsigned n,
                        const struct shard_clock *clock)
{
    const struct client_config *cfg = whole->cfg;
    struct shard *sh = calloc(1, sizeof *sh);
    struct event_base *base = loop_base_new();
    if (!sh || !base) {
        if (base)
            event_base_free(base);
        free(sh);
        return NULL;
    }
    run_for_shard(&sh->run, whole, base);
    sh->clock = clock;
    unsigned mine = (cfg->subscribers - i + n - 1) / n;
    long pool = cfg->connections ? ((long)cfg->connections + n - 1) / n : 0;
    sh->loop = loop_new(base, pool, pool, pool ? pool : (long)mine);
    sh->tick = event_new(base, -1, EV_PERSIST, on_tick, sh);
    if (!sh->loop || !sh->tick ||
        crowd_init(&sh->crowd, &sh->run, sh->loop, i, n, cfg->connect_rate / n) != 0 ||
        pthread_create(&sh->thread, NULL, thread_main, sh) != 0) {
        shard_free(sh);
        return NULL;
    }
    sh->launched = true;
    return sh;
}

unsigned shard_connected(const struct shard *sh)
{
    return __atomic_load_n(&sh->connected, __ATOMIC_ACQUIRE);
}

uint64_t shard_delivered(const struct shard *sh)
{
    return __atomic_load_n(&sh->delivered, __ATOMIC_ACQUIRE);
}

bool shard_window_closed(const struct shard *sh)
{
    return __atomic_load_n(&sh->window_closed, __ATOMIC_ACQUIRE);
}

void shard_stop(struct shard *sh)
{
    if (!sh->launched)
        return;
    __atomic_store_n(&sh->stopping, true, __ATOMIC_RELEASE);
    pthread_join(sh->thread, NULL);
    sh->launched = false;
}

static void cost_add(struct cost *a, const struct cost *b)
{
    a->requests += b->requests;
    a->empty_answers += b->empty_answers;
    a->bytes_rx += b->bytes_rx;
    a->bytes_tx += b->bytes_tx;
    a->connects += b->connects;
    a->reconnects += b->reconnects;
    a->protocol_errors += b->protocol_errors;
    a->transport_errors += b->transport_errors;
}

void run_merge(struct run *a, const struct run *b)
{
    hist_merge(&a->latency, &b->latency);
    hist_merge(&a->latency_uncorrected, &b->latency_uncorrected);
    hist_merge(&a->connect_time, &b->connect_time);
    hist_merge(&a->first_message, &b->first_message);
    cost_add(&a->cost, &b->cost);
    a->delivered += b->delivered;
    a->delivered_unacked += b->delivered_unacked;
    a->duplicates += b->duplicates;
    a->out_of_order += b->out_of_order;
    a->gap_lost += b->gap_lost;
    a->cursor_resets += b->cursor_resets;
    /* Each shard counts a restart once, when it first sees its epoch. */
    if (b->epoch_max > a->epoch_max)
        a->epoch_max = b->epoch_max;
    if (b->epoch_changes > a->epoch_changes)
        a->epoch_changes = b->epoch_changes;
}

void shard_merge_into(const struct shard *sh, struct run *whole)
{
    struct run r = sh->run;
    /* Requests, bytes and connections over the cost window, as the engine
     * counts them; reconnects and errors over the whole run. A window cut
     * short (a failure, an interrupt) ends now. */
    const struct cost *end = sh->window_closed ? &sh->cost1 : &sh->run.cost;
    const struct cost *start = sh->window_open ? &sh->cost0 : end;
    cost_window(&r.cost, start, end);
    run_merge(whole, &r);
}

void shard_settle_unacked(struct shard *sh, struct run *whole)
{
    crowd_settle_unacked(&sh->crowd, whole);
}

void shard_count_received(const struct shard *sh, const struct run *whole, uint32_t *got)
{
    crowd_count_received(&sh->crowd, whole, got);
}

struct saturation shard_saturation(const struct shard *sh)
{
    return saturation_get(&sh->meter);
}

void shard_free(struct shard *sh)
{
    if (!sh)
        return;
    shard_stop(sh);
    crowd_free(&sh->crowd);
    loop_free(sh->loop);
    if (sh->tick)
        event_free(sh->tick);
    event_base_free(sh->run.base);
    free(sh);
}
