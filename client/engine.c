/* One measured run of one transport: connect the subscribers (ramped),
 * publish open loop through warm-up and the measure window, drain, and
 * collect what was measured, with the server's figures around the window. */
#include "engine.h"

#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "dialect.h"
#include "procstat.h"
#include "publisher.h"
#include "stats_fetch.h"
#include "subscriber.h"

#define TICK_US 10000                 /* phase checks, ramp-up, churn */
#define PUBLISH_POOL 64               /* publisher connections at most */

volatile sig_atomic_t engine_interrupted;

struct runner {
    struct run *run;
    struct subscriber *subs;
    unsigned started;                 /* subscribers started so far */
    uint64_t *churn_due;
    struct loop *sub_loop, *pub_loop;
    struct publisher *pub;
    struct event *tick;
    uint64_t phase_start_us, connect_deadline_us, drain_end_us, cost_end_us, last_progress_us;
    struct cost cost0, cost1;
    struct rusage ru0, ru1;
    struct server_sample srv0, srv1;
    struct proc_sample proc0, proc1;  /* --server-pid: CPU over the cost window */
    struct proc_sample rss_base, rss_end;   /* before connecting; at the measure end */
    struct stats_fetch *fetch0, *fetch1;
    const char *failure;
    bool tty;
};

static double cpu_seconds(const struct rusage *r)
{
    return (double)r->ru_utime.tv_sec + (double)r->ru_utime.tv_usec / 1e6 +
           (double)r->ru_stime.tv_sec + (double)r->ru_stime.tv_usec / 1e6;
}

static const struct transport_ops *ops_of(enum transport t)
{
    static const struct transport_ops *const ops[TR_COUNT] = {
        &poll_ops, &longpoll_ops, &sse_ops, &ws_ops,
    };
    return ops[t];
}

static void start_subscriber(struct runner *r, unsigned i)
{
    struct subscriber *s = &r->subs[i];
    s->track.connect_start_us = run_now_us();
    if (ops_of(r->run->transport)->start(s) != 0)
        subscriber_retry(s);
}

static void ramp(struct runner *r, uint64_t now)
{
    const struct client_config *cfg = r->run->cfg;
    unsigned target = cfg->subscribers;
    if (cfg->connect_rate > 0) {
        double n = (double)(now - r->phase_start_us) / 1e6 * cfg->connect_rate + 1;
        target = n < (double)cfg->subscribers ? (unsigned)n : cfg->subscribers;
    }
    while (r->started < target)
        start_subscriber(r, r->started++);
}

static unsigned connected_count(const struct runner *r)
{
    unsigned n = 0;
    for (unsigned i = 0; i < r->started; i++)
        n += r->subs[i].track.connected;
    return n;
}

static void enter_phase(struct runner *r, enum phase ph, uint64_t now)
{
    r->run->phase = ph;
    r->phase_start_us = now;
}

/* The server's figures at an edge of the cost window: its /stats (when the
 * dialect has one) fetched without blocking, and /proc for --server-pid. */
static struct stats_fetch *server_sample_start(struct runner *r, struct server_sample *srv,
                                               struct proc_sample *proc)
{
    const struct client_config *cfg = r->run->cfg;
    *proc = proc_sample(cfg->server_pids, cfg->nserver_pids);
    if (!dialect_of(cfg)->has_stats)
        return NULL;
    return stats_fetch_start(r->pub_loop, cfg->publish_url, srv);
}

static void churn(struct runner *r, uint64_t now)
{
    const struct transport_ops *ops = ops_of(r->run->transport);
    for (unsigned i = 0; i < r->started; i++) {
        if (now < r->churn_due[i])
            continue;
        r->churn_due[i] += r->run->cfg->churn_us;
        ops->drop(&r->subs[i]);
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct runner *r = arg;
    struct run *run = r->run;
    const struct client_config *cfg = run->cfg;
    uint64_t now = run_now_us();
    if (engine_interrupted) {
        r->failure = "interrupted";
        event_base_loopexit(run->base, NULL);
        return;
    }
    switch (run->phase) {
    case PH_CONNECT:
        ramp(r, now);
        if (r->started == cfg->subscribers && connected_count(r) == cfg->subscribers &&
            publisher_ready(r->pub)) {
            /* Everyone listens: the schedule starts one tick from now, or
             * after --idle-hold, which leaves every connection idle for a
             * while so that memory per idle subscriber can be read off the
             * server (scripts/bench-scale.py). */
            run->t0_us = now + TICK_US + cfg->idle_hold_us;
            run->measure_start_us = run->t0_us + cfg->warmup_us;
            run->measure_end_us = run->measure_start_us + cfg->duration_us;
            publisher_start(r->pub, run->t0_us, run->k_measure_to);
            enter_phase(r, PH_WARMUP, now);
        } else if (now > r->connect_deadline_us) {
            unsigned n = connected_count(r);
            r->failure = n == 0 ? "no subscriber connected within the connect timeout"
                       : n < cfg->subscribers ? "not every subscriber connected within the connect timeout"
                       : "the WebSocket publisher did not connect within the connect timeout";
            event_base_loopexit(run->base, NULL);
        }
        break;
    case PH_WARMUP:
        if (now >= run->measure_start_us) {
            r->cost0 = run->cost;
            getrusage(RUSAGE_SELF, &r->ru0);
            r->fetch0 = server_sample_start(r, &r->srv0, &r->proc0);
            enter_phase(r, PH_MEASURE, now);
        }
        break;
    case PH_MEASURE:
        if (now >= run->measure_end_us) {
            r->rss_end = proc_sample(cfg->server_pids, cfg->nserver_pids);
            r->drain_end_us = now + cfg->drain_us;
            enter_phase(r, PH_DRAIN, now);
        }
        break;
    case PH_DRAIN: {
        /* The costs end with the drain, which ends as soon as every expected
         * delivery is in: the requests that fetch the window's last
         * messages belong to the window's cost. */
        bool all_in = run->delivered >= run->expected && publisher_in_flight(r->pub) == 0;
        if (!r->fetch1 && (now >= r->drain_end_us || all_in)) {
            publisher_stop(r->pub);
            getrusage(RUSAGE_SELF, &r->ru1);
            r->cost1 = run->cost;
            r->cost_end_us = now;
            r->fetch1 = server_sample_start(r, &r->srv1, &r->proc1);
        }
        if (r->cost_end_us && stats_fetch_done(r->fetch0) && stats_fetch_done(r->fetch1)) {
            enter_phase(r, PH_DONE, now);
            event_base_loopexit(run->base, NULL);
        }
        break;
    }
    case PH_DONE:
        break;
    }
    if (cfg->churn_us && (run->phase == PH_WARMUP || run->phase == PH_MEASURE))
        churn(r, now);
    if (r->tty && now - r->last_progress_us >= 250000) {
        r->last_progress_us = now;
        report_progress(stderr, run, (double)(now - r->phase_start_us) / 1e6);
    }
}

static int runner_setup(struct runner *r, struct run *run)
{
    const struct client_config *cfg = run->cfg;
    long pool = cfg->connections ? (long)cfg->connections : 0;
    r->run = run;
    /* Without --connections, one connection per subscriber stays open. */
    r->sub_loop = loop_new(run->base, pool, pool, pool ? pool : (long)cfg->subscribers);
    r->pub_loop = loop_new(run->base, PUBLISH_POOL, PUBLISH_POOL, PUBLISH_POOL);
    r->subs = calloc(cfg->subscribers, sizeof *r->subs);
    r->churn_due = calloc(cfg->subscribers, sizeof *r->churn_due);
    r->tick = event_new(run->base, -1, EV_PERSIST, on_tick, r);
    if (!r->sub_loop || !r->pub_loop || !r->subs || !r->churn_due || !r->tick)
        return -1;
    r->pub = publisher_new(run, r->pub_loop);
    if (!r->pub || publisher_prepare(r->pub) != 0)
        return -1;
    r->rss_base = proc_sample(cfg->server_pids, cfg->nserver_pids);
    size_t seen_bytes = (size_t)(run->seq_cap / 8 + 1);
    uint64_t now = run_now_us();
    for (unsigned i = 0; i < cfg->subscribers; i++) {
        struct subscriber *s = &r->subs[i];
        s->run = run;
        s->loop = r->sub_loop;
        s->index = i;
        s->track.channel = i % cfg->channels;
        s->track.seen = calloc(seen_bytes, 1);
        size_t session = dialect_of(cfg)->session_size;
        s->session = session ? calloc(1, session) : NULL;
        if (!s->track.seen || (session && !s->session))
            return -1;
        /* Churn at a random phase, so drops are spread over the period. */
        r->churn_due[i] = now + cfg->warmup_us / 2 +
                          (cfg->churn_us ? (uint64_t)random() % cfg->churn_us : 0);
    }
    return 0;
}

static void runner_teardown(struct runner *r)
{
    const struct transport_ops *ops = ops_of(r->run->transport);
    for (unsigned i = 0; r->subs && i < r->run->cfg->subscribers; i++) {
        struct subscriber *s = &r->subs[i];
        s->stopping = true;
        if (s->impl)
            ops->stop(s);
        if (s->retry_timer)
            event_free(s->retry_timer);
        free(s->track.seen);
        free(s->session);
    }
    stats_fetch_free(r->pub_loop, r->fetch0);
    stats_fetch_free(r->pub_loop, r->fetch1);
    publisher_free(r->pub);
    loop_free(r->sub_loop);
    loop_free(r->pub_loop);
    if (r->tick)
        event_free(r->tick);
    free(r->subs);
    free(r->churn_due);
}

static void cost_window(struct cost *total, const struct cost *start, const struct cost *end)
{
    /* Requests, bytes and connections: from the measure window's start to
     * the drain's end, like CPU. Reconnects and errors: the whole run, so
     * none is missed. */
    total->requests = end->requests - start->requests;
    total->empty_answers = end->empty_answers - start->empty_answers;
    total->bytes_rx = end->bytes_rx - start->bytes_rx;
    total->bytes_tx = end->bytes_tx - start->bytes_tx;
    total->connects = end->connects - start->connects;
}

/* A measured message sent but never acknowledged is not expected; a copy
 * of it that arrived anyway must not count as delivered (track_unacked). */
static void settle_unacked(struct runner *r)
{
    struct run *run = r->run;
    unsigned channels = run->cfg->channels, subs = run->cfg->subscribers;
    for (uint64_t k = run->k_measure_from; k < run->k_measure_to; k++) {
        if (!run->sent_us[k] || run_acked(run, k))
            continue;
        for (unsigned i = (unsigned)(k % channels); i < subs; i += channels)
            track_unacked(run, &r->subs[i].track, k);
    }
}

/* The server's CPU over the cost window: from /proc when the runner named
 * its processes (the same measure for every server), else from its /stats. */
static void server_figures(const struct runner *r, enum transport t, struct run_extra *x)
{
    /* Across a server restart the counters started over: no difference. */
    bool stats = r->srv0.ok && r->srv1.ok && r->srv0.epoch == r->srv1.epoch;
    if (stats)
        x->server_bytes_out = r->srv1.bytes_out[t] - r->srv0.bytes_out[t];
    if (r->proc0.ok && r->proc1.ok) {
        x->server_cpu_s = r->proc1.cpu_s - r->proc0.cpu_s;
        x->server_cpu_source = "proc";
    } else if (stats) {
        x->server_cpu_s = r->srv1.cpu_s - r->srv0.cpu_s;
        x->server_cpu_source = "stats";
    }
    if (r->rss_base.ok && r->rss_end.ok) {
        x->server_rss_base = r->rss_base.rss_bytes;
        x->server_rss = r->rss_end.rss_bytes;
    }
}

/* A result with nothing measured yet. */
static void run_blank(const struct client_config *cfg, enum transport t, struct run *run,
                      struct run_extra *x)
{
    memset(run, 0, sizeof *run);
    memset(x, 0, sizeof *x);
    x->server_cpu_s = -1;
    run->cfg = cfg;
    run->transport = t;
    hist_init(&run->latency);
    hist_init(&run->latency_uncorrected);
    hist_init(&run->connect_time);
    hist_init(&run->first_message);
}

void engine_run(const struct client_config *cfg, enum transport t,
                          struct run *run, struct run_extra *x)
{
    run_blank(cfg, t, run, x);
    snprintf(run->channel_prefix, sizeof run->channel_prefix, "%s-%s-", cfg->run_tag,
             transport_names[t]);
    run->k_measure_from = (uint64_t)ceil((double)cfg->warmup_us / 1e6 * cfg->rate);
    run->k_measure_to = (uint64_t)ceil((double)(cfg->warmup_us + cfg->duration_us) / 1e6 * cfg->rate);
    run->seq_cap = run->k_measure_to / cfg->channels + 1;
    run->sent_us = calloc(run->k_measure_to + 1, sizeof *run->sent_us);
    run->acked = calloc(run->k_measure_to / 8 + 1, 1);
    run->subs_on_channel = calloc(cfg->channels, sizeof *run->subs_on_channel);
    /* Precise (timerfd) timers: epoll's millisecond timeouts would make the
     * publisher ~1-2 ms late on average, which would show up as latency. */
    struct event_config *ec = event_config_new();
    if (ec) {
        event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
        /* curl stops watching a connection between requests and watches it
         * again for the next: the changelist folds that DEL + ADD into
         * nothing instead of two epoll_ctl calls per request. */
        event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
        run->base = event_base_new_with_config(ec);
        event_config_free(ec);
    }
    struct runner r = { .tty = !cfg->quiet && isatty(2) };
    if (!run->sent_us || !run->acked || !run->subs_on_channel || !run->base) {
        x->failure = "out of memory";
        goto out;
    }
    for (unsigned i = 0; i < cfg->subscribers; i++)
        run->subs_on_channel[i % cfg->channels]++;
    if (runner_setup(&r, run) != 0) {
        x->failure = "out of memory, or a publisher connection failed";
        goto out;
    }
    uint64_t now = run_now_us();
    enter_phase(&r, PH_CONNECT, now);
    double ramp_s = cfg->connect_rate > 0 ? cfg->subscribers / cfg->connect_rate : 0;
    r.connect_deadline_us = now + cfg->connect_timeout_us + (uint64_t)(ramp_s * 1e6) + 1000000;
    struct timeval tv = { 0, TICK_US };
    event_add(r.tick, &tv);
    on_tick(-1, 0, &r);
    event_base_dispatch(run->base);
    if (r.tty)
        fputc('\n', stderr);
    x->failure = r.failure;
    if (!x->failure && run->published == 0)
        x->failure = "every publish failed";
    x->elapsed_s = (double)cfg->duration_us / 1e6;
    x->cost_window_s = r.cost_end_us > run->measure_start_us
                           ? (double)(r.cost_end_us - run->measure_start_us) / 1e6 : 0;
    x->client_cpu_s = cpu_seconds(&r.ru1) - cpu_seconds(&r.ru0);
    server_figures(&r, t, x);
    cost_window(&run->cost, &r.cost0, &r.cost1);
    settle_unacked(&r);
out:
    runner_teardown(&r);
    free(run->sent_us);
    run->sent_us = NULL;
    free(run->acked);
    run->acked = NULL;
    free(run->subs_on_channel);
    run->subs_on_channel = NULL;
    if (run->base)
        event_base_free(run->base);
    run->base = NULL;
}

/* The server lacks this transport: a row that says so, no figures. */
void engine_not_offered(const struct client_config *cfg, enum transport t, struct run *run,
                        struct run_extra *x)
{
    run_blank(cfg, t, run, x);
    x->not_offered = true;
}
