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
#include "crowd.h"
#include "pubthread.h"
#include "shard.h"
#include "stats_fetch.h"
#include "subscriber.h"

#define TICK_US 10000                 /* phase checks, ramp-up, churn, lag */
#define CTL_POOL 2                    /* /stats fetches */

volatile sig_atomic_t engine_interrupted;

struct runner {
    struct run *run;
    /* --threads 1: the subscribers on this loop; more: one shard each. */
    struct crowd crowd;
    struct shard **shards;
    unsigned nshards;
    struct shard_clock clock;         /* what the shards follow */
    struct loop *sub_loop, *ctl_loop;
    struct pubthread *pub;
    struct event *tick;
    struct saturation_meter meter;    /* the subscribers' loop */
    uint64_t phase_start_us, connect_deadline_us, drain_end_us, cost_end_us, last_progress_us;
    struct cost cost0, cost1;
    struct rusage ru0, ru1;
    struct server_sample srv0, srv1;
    struct proc_sample proc0, proc1;  /* --server-pid: CPU over the cost window */
    struct proc_sample rss_base, rss_end;   /* before connecting; at the measure end */
    struct stats_fetch *fetch0, *fetch1;
    const char *failure;
    bool tty;
    /* --no-publish: the publishing process's t0 (run.t0_learned points
     * here), and until when the wait for it may last (0: not begun). */
    uint64_t t0_learned;
    uint64_t publisher_deadline_us;
};

static double cpu_seconds(const struct rusage *r)
{
    return (double)r->ru_utime.tv_sec + (double)r->ru_utime.tv_usec / 1e6 +
           (double)r->ru_stime.tv_sec + (double)r->ru_stime.tv_usec / 1e6;
}

/* Subscribers connected so far, on every loop. */
static unsigned connected_count(const struct runner *r)
{
    unsigned n = crowd_connected(&r->crowd);
    for (unsigned i = 0; i < r->nshards; i++)
        n += shard_connected(r->shards[i]);
    return n;
}

static uint64_t delivered_so_far(const struct runner *r)
{
    uint64_t n = r->run->delivered;
    for (unsigned i = 0; i < r->nshards; i++)
        n += shard_delivered(r->shards[i]);
    return n;
}

static bool shards_closed(const struct runner *r)
{
    for (unsigned i = 0; i < r->nshards; i++)
        if (!shard_window_closed(r->shards[i]))
            return false;
    return true;
}

/* Tell the shards a time of the engine's (0 until set). */
static void clock_set(uint64_t *field, uint64_t us)
{
    __atomic_store_n(field, us, __ATOMIC_RELEASE);
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
    return stats_fetch_start(r->ctl_loop, cfg->publish_url, srv);
}

/* The run's phases from t0 on, for the engine and the shards. */
static void schedule_from(struct runner *r, uint64_t t0_us)
{
    struct run *run = r->run;
    run->t0_us = t0_us;
    run->measure_start_us = run->t0_us + run->cfg->warmup_us;
    run->measure_end_us = run->measure_start_us + run->cfg->duration_us;
    clock_set(&r->clock.measure_end_us, run->measure_end_us);
    clock_set(&r->clock.measure_start_us, run->measure_start_us);
    clock_set(&r->clock.t0_us, run->t0_us);
}

/* --no-publish, every subscriber in: say so (the publishing process starts
 * on it), then follow the publisher's schedule once a message names it.
 * Every measured message is expected here; the publishing process lists
 * those the server never acknowledged, and --merge takes them out. */
static void await_publisher(struct runner *r, uint64_t now)
{
    struct run *run = r->run;
    const struct client_config *cfg = run->cfg;
    if (!r->publisher_deadline_us) {
        r->publisher_deadline_us = now + cfg->publisher_wait_us;
        fprintf(stderr, "pushpull-client: %s: %u subscribers connected; waiting for the publisher\n",
                transport_names[run->transport], cfg->subscribers);
        fflush(stderr);
    }
    uint64_t t0 = __atomic_load_n(&r->t0_learned, __ATOMIC_ACQUIRE);
    if (t0) {
        schedule_from(r, t0);
        for (uint64_t k = run->k_measure_from; k < run->k_measure_to; k++)
            run->expected += run->subs_on_channel[k % cfg->channels];
        enter_phase(r, PH_WARMUP, now);
    } else if (now > r->publisher_deadline_us) {
        r->failure = "--no-publish: no message from the publisher within --publisher-wait";
        event_base_loopexit(run->base, NULL);
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
    saturation_tick(&r->meter, now, TICK_US);
    if (engine_interrupted) {
        r->failure = "interrupted";
        event_base_loopexit(run->base, NULL);
        return;
    }
    switch (run->phase) {
    case PH_CONNECT:
        crowd_ramp(&r->crowd, r->phase_start_us, now);
        if (connected_count(r) == cfg->subscribers && cfg->no_publish) {
            await_publisher(r, now);
        } else if (connected_count(r) == cfg->subscribers &&
            pubthread_ready(r->pub)) {
            /* Everyone listens: the schedule starts one tick from now, or
             * after --idle-hold, which leaves every connection idle for a
             * while so that memory per idle subscriber can be read off the
             * server (scripts/bench-scale.py). */
            schedule_from(r, now + TICK_US + cfg->idle_hold_us);
            pubthread_start(r->pub, run->t0_us, run->k_measure_to);
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
            saturation_begin(&r->meter);
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
        bool all_in = delivered_so_far(r) >= __atomic_load_n(&run->expected, __ATOMIC_RELAXED) &&
                      pubthread_in_flight(r->pub) == 0;
        if (!r->fetch1 && (now >= r->drain_end_us || all_in)) {
            pubthread_stop(r->pub);   /* its counters are final from here on */
            saturation_end(&r->meter);
            getrusage(RUSAGE_SELF, &r->ru1);
            r->cost1 = run->cost;
            r->cost_end_us = now;
            clock_set(&r->clock.cost_end_us, now);
            r->fetch1 = server_sample_start(r, &r->srv1, &r->proc1);
        }
        if (r->cost_end_us && stats_fetch_done(r->fetch0) && stats_fetch_done(r->fetch1) &&
            shards_closed(r)) {
            enter_phase(r, PH_DONE, now);
            event_base_loopexit(run->base, NULL);
        }
        break;
    }
    case PH_DONE:
        break;
    }
    if (cfg->churn_us && (run->phase == PH_WARMUP || run->phase == PH_MEASURE))
        crowd_churn(&r->crowd, now);
    if (r->tty && now - r->last_progress_us >= 250000) {
        r->last_progress_us = now;
        report_progress(stderr, run, (double)(now - r->phase_start_us) / 1e6);
    }
}

/* --threads 1: every subscriber on the engine's loop; more: one shard per
 * thread, the engine's loop keeping the phases and /stats. */
static int subscribers_setup(struct runner *r, struct run *run)
{
    const struct client_config *cfg = run->cfg;
    unsigned n = cfg->threads > 1 ? cfg->threads : 0;
    long pool = cfg->connections ? (long)cfg->connections : 0;
    /* Without --connections, one connection per subscriber stays open. */
    r->sub_loop = loop_new(run->base, pool, pool, pool ? pool : (long)cfg->subscribers);
    if (!r->sub_loop || crowd_init(&r->crowd, run, r->sub_loop, n ? cfg->subscribers : 0, 1,
                                   cfg->connect_rate) != 0)
        return -1;
    r->shards = calloc(n ? n : 1, sizeof *r->shards);
    if (!r->shards)
        return -1;
    for (; r->nshards < n; r->nshards++)
        if (!(r->shards[r->nshards] = shard_new(run, r->nshards, n, &r->clock)))
            return -1;
    return 0;
}

static int runner_setup(struct runner *r, struct run *run)
{
    const struct client_config *cfg = run->cfg;
    r->run = run;
    r->ctl_loop = loop_new(run->base, CTL_POOL, CTL_POOL, CTL_POOL);
    saturation_init(&r->meter);
    r->tick = event_new(run->base, -1, EV_PERSIST, on_tick, r);
    if (!r->ctl_loop || !r->tick)
        return -1;
    if (cfg->no_publish)
        run->t0_learned = &r->t0_learned;     /* before the shards copy the run */
    else if (!(r->pub = pubthread_new(run)))
        return -1;
    r->rss_base = proc_sample(cfg->server_pids, cfg->nserver_pids);
    return subscribers_setup(r, run);
}

static void runner_teardown(struct runner *r)
{
    for (unsigned i = 0; i < r->nshards; i++)
        shard_free(r->shards[i]);
    free(r->shards);
    if (r->crowd.run)
        crowd_free(&r->crowd);
    stats_fetch_free(r->ctl_loop, r->fetch0);
    stats_fetch_free(r->ctl_loop, r->fetch1);
    pubthread_free(r->pub);
    loop_free(r->sub_loop);
    loop_free(r->ctl_loop);
    if (r->tick)
        event_free(r->tick);
}

/* A measured message sent but never acknowledged is not expected; a copy
 * of it that arrived anyway must not count as delivered (track_unacked). */
static void settle_unacked(struct runner *r)
{
    crowd_settle_unacked(&r->crowd, r->run);
    for (unsigned i = 0; i < r->nshards; i++)
        shard_settle_unacked(r->shards[i], r->run);
}

/* What --merge needs to join processes that shared one workload (see
 * run_extra): a publishing run lists the measured messages the server
 * never acknowledged; a subscribe-only one, the measured messages fewer of
 * its subscribers received than listen on their channel. */
static int merge_lists(struct runner *r, struct run_extra *x)
{
    struct run *run = r->run;
    uint64_t from = run->k_measure_from, n = run->k_measure_to - from;
    x->has_lists = true;
    if (!run->cfg->no_publish) {
        for (uint64_t k = from; k < run->k_measure_to; k++)
            if (!run_acked(run, k) && extra_add_unacked(x, k) != 0)
                return -1;
        return 0;
    }
    uint32_t *got = calloc(n ? n : 1, sizeof *got);
    if (!got)
        return -1;
    crowd_count_received(&r->crowd, run, got);
    for (unsigned i = 0; i < r->nshards; i++)
        shard_count_received(r->shards[i], run, got);
    int rc = 0;
    for (uint64_t i = 0; i < n && rc == 0; i++) {
        uint32_t listening = run->subs_on_channel[(from + i) % run->cfg->channels];
        if (got[i] < listening)
            rc = extra_add_missing(x, from + i, listening - got[i]);
    }
    free(got);
    return rc;
}

/* The shards' runs into the whole: after their threads ended. */
static void merge_shards(struct runner *r)
{
    for (unsigned i = 0; i < r->nshards; i++) {
        shard_stop(r->shards[i]);
        shard_merge_into(r->shards[i], r->run);
    }
}

/* The busiest subscriber loop speaks for them all. */
static struct saturation subscriber_saturation(const struct runner *r)
{
    struct saturation worst = r->nshards ? shard_saturation(r->shards[0]) : saturation_get(&r->meter);
    for (unsigned i = 1; i < r->nshards; i++) {
        struct saturation s = shard_saturation(r->shards[i]);
        if (s.busy > worst.busy)
            worst = s;
    }
    return worst;
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
    run->base = loop_base_new();
    struct runner r = { .tty = !cfg->quiet && isatty(2) };
    if (!run->sent_us || !run->acked || !run->subs_on_channel || !run->base) {
        x->failure = "out of memory";
        goto out;
    }
    for (unsigned c = 0; c < cfg->channels; c++)
        run->subs_on_channel[c] = run_listeners(cfg->subscribers, cfg->channels, c);
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
    pubthread_stop(r.pub);            /* also after a failure: nothing writes the run now */
    if (r.tty)
        fputc('\n', stderr);
    x->failure = r.failure;
    if (!x->failure && run->published == 0 && !cfg->no_publish)
        x->failure = "every publish failed";
    x->elapsed_s = (double)cfg->duration_us / 1e6;
    x->cost_window_s = r.cost_end_us > run->measure_start_us
                           ? (double)(r.cost_end_us - run->measure_start_us) / 1e6 : 0;
    x->client_cpu_s = cpu_seconds(&r.ru1) - cpu_seconds(&r.ru0);
    server_figures(&r, t, x);
    cost_window(&run->cost, &r.cost0, &r.cost1);
    merge_shards(&r);                 /* after the engine's own window: it adds to it */
    x->saturation[SAT_SUBSCRIBERS] = subscriber_saturation(&r);
    x->saturation[SAT_PUBLISHER] = pubthread_saturation(r.pub);
    settle_unacked(&r);
    if (!x->failure && merge_lists(&r, x) != 0)
        x->failure = "out of memory";
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
