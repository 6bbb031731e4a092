/* pushpull-client: command line, one measured run per transport, outputs. */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"
#include "dialect.h"
#include "https.h"
#include "parse.h"
#include "procstat.h"
#include "publisher.h"
#include "report.h"
#include "stats_fetch.h"
#include "subscriber.h"
#include "units.h"

#define TICK_US 10000                 /* phase checks, ramp-up, churn */
#define PUBLISH_POOL 64               /* publisher connections at most */

static const char usage[] =
    "usage: pushpull-client [options]\n"
    "\n"
    "Publishes at a fixed rate (open loop) and runs virtual subscribers on one\n"
    "transport after another, measuring delivery latency from each message's\n"
    "scheduled publish time, loss, throughput and cost per delivered message.\n"
    "\n"
    "  --url URL             server base URL, http:// or https:// (http://127.0.0.1:8080)\n"
    "  --dialect D           the server's protocol: pushpull (pushpull-server and\n"
    "                        peers speaking it) or nchan (Nchan, as peers/nchan\n"
    "                        configures it)                     (pushpull)\n"
    "  --server-pid PIDS     comma-separated pids of the server's processes on this\n"
    "                        host: its CPU and memory are read from /proc (for\n"
    "                        every dialect; without it, pushpull's /stats only)\n"
    "  --publish-url URL     where the publisher sends, if not --url (e.g. the\n"
    "                        server itself while subscribers go through a relay)\n"
    "  --transport T         poll|longpoll|sse|ws|all, or a comma list (all)\n"
    "  --subscribers N       virtual subscribers per transport (10)\n"
    "  --channels C          channels; subscribers spread evenly (1)\n"
    "  --rate R              published messages/s, all channels (100)\n"
    "  --size SIZE           payload bytes (64); min: what holds seq + time\n"
    "  --duration DUR        measured time                     (5s)\n"
    "  --warmup DUR          published but not measured, first (1s)\n"
    "  --idle-hold DUR       once all are connected, wait this long before\n"
    "                        publishing (idle connections: memory)   (0)\n"
    "  --drain DUR           wait for in-flight messages        (2s)\n"
    "  --poll-interval DUR   short-poll period; 0 = back to back (100ms)\n"
    "  --longpoll-timeout DUR  long-poll wait asked of the server (30s)\n"
    "  --connect-timeout DUR connection/handshake deadline      (5s)\n"
    "  --connect-rate R      new subscriber connections/s; 0 = all at once (0)\n"
    "  --churn DUR           drop each subscriber's connection this often (off)\n"
    "  --connections M       cap on the subscribers' connection pool (0 = none)\n"
    "  --no-keepalive        a new TCP connection per request (HTTP transports)\n"
    "  --publish-via http|ws how the publisher sends            (http)\n"
    "  --seed N              poll phases and backoff jitter     (1)\n"
    "  --json FILE           write the full result as JSON\n"
    "  --csv FILE            append one row per transport\n"
    "  --cacert FILE         https://: trust the certificates in this PEM file\n"
    "                        (e.g. the server's self-signed one)\n"
    "  --insecure            https://: do not verify the server's certificate\n"
    "  --quiet               no progress line\n"
    "  --help, --version\n"
    "\n"
    "Exit: 0 ok, 1 a run failed (server unreachable, no subscriber connected),\n"
    "2 usage error.\n";

static volatile sig_atomic_t interrupted;

static uint64_t flag_duration(const char *flag, const char *v)
{
    return cli_duration_us(flag, v, 0, 24ull * 3600 * 1000000);
}

static void set_url(char *dst, size_t cap, const char *flag, const char *v)
{
    if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
        cli_usage_error("%s: '%s' is not an http:// or https:// URL", flag, v);
    if (strlen(v) >= cap - 64)
        cli_usage_error("%s: '%s' is too long", flag, v);
    snprintf(dst, cap, "%s", v);
    size_t n = strlen(dst);
    while (n > 0 && dst[n - 1] == '/')
        dst[--n] = '\0';
}

static void parse_transports(struct client_config *cfg, const char *v)
{
    if (strspn(v, ", ") == strlen(v))
        cli_usage_error("--transport: '%s' names no transport", v);
    memset(cfg->transports, 0, sizeof cfg->transports);
    char buf[128];
    snprintf(buf, sizeof buf, "%s", v);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        bool found = false;
        for (int i = 0; i < TR_COUNT; i++)
            if (strcmp(t, transport_names[i]) == 0 || strcmp(t, "all") == 0)
                cfg->transports[i] = found = true;
        if (!found)
            cli_usage_error("--transport: '%s' is not poll, longpoll, sse, ws or all", t);
    }
}

static void parse_pids(struct client_config *cfg, const char *v)
{
    const unsigned max = sizeof cfg->server_pids / sizeof cfg->server_pids[0];
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    cfg->nserver_pids = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (cfg->nserver_pids == max)
            cli_usage_error("--server-pid: at most %u pids", max);
        int pid = (int)cli_count("--server-pid", t, 1, INT32_MAX);
        char path[32];
        snprintf(path, sizeof path, "/proc/%d", pid);
        if (access(path, F_OK) != 0)
            cli_usage_error("--server-pid: no process %d on this host", pid);
        cfg->server_pids[cfg->nserver_pids++] = pid;
    }
    if (cfg->nserver_pids == 0)
        cli_usage_error("--server-pid: '%s' names no pid", v);
}

enum { O_URL = 256, O_DIALECT, O_SERVER_PID, O_PUBLISH_URL, O_TRANSPORT, O_SUBS, O_CHANNELS, O_RATE, O_SIZE, O_DURATION, O_WARMUP,
       O_IDLE_HOLD, O_DRAIN, O_POLL_INTERVAL, O_LP_TIMEOUT, O_CONNECT_TIMEOUT, O_CONNECT_RATE, O_CHURN,
       O_CONNECTIONS, O_NO_KEEPALIVE, O_PUBLISH_VIA, O_SEED, O_JSON, O_CSV, O_CACERT,
       O_INSECURE, O_QUIET,
       O_HELP, O_VERSION };

static void parse_args(int argc, char **argv, struct client_config *cfg)
{
    static const struct option opts[] = {
        { "url", required_argument, NULL, O_URL },
        { "dialect", required_argument, NULL, O_DIALECT },
        { "server-pid", required_argument, NULL, O_SERVER_PID },
        { "publish-url", required_argument, NULL, O_PUBLISH_URL },
        { "transport", required_argument, NULL, O_TRANSPORT },
        { "subscribers", required_argument, NULL, O_SUBS },
        { "channels", required_argument, NULL, O_CHANNELS },
        { "rate", required_argument, NULL, O_RATE },
        { "size", required_argument, NULL, O_SIZE },
        { "duration", required_argument, NULL, O_DURATION },
        { "warmup", required_argument, NULL, O_WARMUP },
        { "idle-hold", required_argument, NULL, O_IDLE_HOLD },
        { "drain", required_argument, NULL, O_DRAIN },
        { "poll-interval", required_argument, NULL, O_POLL_INTERVAL },
        { "longpoll-timeout", required_argument, NULL, O_LP_TIMEOUT },
        { "connect-timeout", required_argument, NULL, O_CONNECT_TIMEOUT },
        { "connect-rate", required_argument, NULL, O_CONNECT_RATE },
        { "churn", required_argument, NULL, O_CHURN },
        { "connections", required_argument, NULL, O_CONNECTIONS },
        { "no-keepalive", no_argument, NULL, O_NO_KEEPALIVE },
        { "publish-via", required_argument, NULL, O_PUBLISH_VIA },
        { "seed", required_argument, NULL, O_SEED },
        { "json", required_argument, NULL, O_JSON },
        { "csv", required_argument, NULL, O_CSV },
        { "cacert", required_argument, NULL, O_CACERT },
        { "insecure", no_argument, NULL, O_INSECURE },
        { "quiet", no_argument, NULL, O_QUIET },
        { "help", no_argument, NULL, O_HELP },
        { "version", no_argument, NULL, O_VERSION },
        { NULL, 0, NULL, 0 },
    };
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_URL: set_url(cfg->url, sizeof cfg->url, "--url", optarg); break;
        case O_DIALECT:
            if (!(cfg->dialect = dialect_find(optarg)))
                cli_usage_error("--dialect: '%s' is not %s", optarg, dialect_names());
            break;
        case O_SERVER_PID: parse_pids(cfg, optarg); break;
        case O_PUBLISH_URL:
            set_url(cfg->publish_url, sizeof cfg->publish_url, "--publish-url", optarg);
            break;
        case O_TRANSPORT: parse_transports(cfg, optarg); break;
        case O_SUBS: cfg->subscribers = (unsigned)cli_count("--subscribers", optarg, 1, 1000000); break;
        case O_CHANNELS: cfg->channels = (unsigned)cli_count("--channels", optarg, 1, 100000); break;
        case O_RATE: cfg->rate = cli_rate("--rate", optarg, 1e7); break;
        case O_SIZE:
            cfg->size = cli_size("--size", optarg, 1, 64u << 20);
            break;
        case O_DURATION: cfg->duration_us = flag_duration("--duration", optarg); break;
        case O_WARMUP: cfg->warmup_us = flag_duration("--warmup", optarg); break;
        case O_IDLE_HOLD: cfg->idle_hold_us = flag_duration("--idle-hold", optarg); break;
        case O_DRAIN: cfg->drain_us = flag_duration("--drain", optarg); break;
        case O_POLL_INTERVAL: cfg->poll_interval_us = flag_duration("--poll-interval", optarg); break;
        case O_LP_TIMEOUT: cfg->longpoll_timeout_us = flag_duration("--longpoll-timeout", optarg); break;
        case O_CONNECT_TIMEOUT: cfg->connect_timeout_us = flag_duration("--connect-timeout", optarg); break;
        case O_CONNECT_RATE:          /* 0: all at once, as the default */
            cfg->connect_rate = strcmp(optarg, "0") == 0 ? 0 : cli_rate("--connect-rate", optarg, 1e7);
            break;
        case O_CHURN: cfg->churn_us = flag_duration("--churn", optarg); break;
        case O_CONNECTIONS: cfg->connections = (unsigned)cli_count("--connections", optarg, 1, 1000000); break;
        case O_NO_KEEPALIVE: cfg->no_keepalive = true; break;
        case O_PUBLISH_VIA:
            if (strcmp(optarg, "http") == 0)
                cfg->publish_via = PUB_HTTP;
            else if (strcmp(optarg, "ws") == 0)
                cfg->publish_via = PUB_WS;
            else
                cli_usage_error("--publish-via: '%s' is not http or ws", optarg);
            break;
        case O_SEED: cfg->seed = cli_count("--seed", optarg, 0, UINT32_MAX); break;
        case O_JSON: cfg->json_path = optarg; break;
        case O_CSV: cfg->csv_path = optarg; break;
        case O_CACERT: cfg->cacert = optarg; break;
        case O_INSECURE: cfg->insecure = true; break;
        case O_QUIET: cfg->quiet = true; break;
        case O_HELP: fputs(usage, stdout); exit(0);
        case O_VERSION: puts("pushpull-client " PUSHPULL_VERSION); exit(0);
        default:
            cli_usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (!cfg->publish_url[0])
        snprintf(cfg->publish_url, sizeof cfg->publish_url, "%s", cfg->url);
    if (cfg->cacert && cfg->insecure)
        cli_usage_error("--cacert and --insecure: verify with the one, or not at all");
    if (cfg->cacert && access(cfg->cacert, R_OK) != 0)
        cli_usage_error("--cacert %s: cannot read it (%s)", cfg->cacert, strerror(errno));
    /* Combinations that cannot measure anything sensible. */
    if (cfg->channels > cfg->subscribers)
        cli_usage_error("--channels %u is above --subscribers %u: a channel nobody reads",
                  cfg->channels, cfg->subscribers);
    if (cfg->duration_us < 100000)
        cli_usage_error("--duration: at least 100ms");
    if (cfg->longpoll_timeout_us < 1000000 || cfg->longpoll_timeout_us > 120000000)
        cli_usage_error("--longpoll-timeout: from 1s to 120s (the server caps it)");
    if (cfg->connect_timeout_us < 1000)
        cli_usage_error("--connect-timeout: at least 1ms");
    if ((cfg->transports[TR_LONGPOLL] || cfg->transports[TR_SSE] || cfg->transports[TR_WS]) &&
        cfg->connections && cfg->connections < cfg->subscribers)
        cli_usage_error("--connections below --subscribers: long polls, SSE and WebSocket hold "
                        "a connection each while they wait (use it with --transport poll)");
    double total = (double)(cfg->warmup_us + cfg->duration_us) / 1e6 * cfg->rate;
    if (total > 5e7)
        cli_usage_error("--rate x (--warmup + --duration) is over 50 million messages");
    if (total < 1)
        cli_usage_error("--rate x (--warmup + --duration) publishes no message");
}

/* ---- one run ---------------------------------------------------------- */

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
    if (interrupted) {
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
        if (!s->track.seen)
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

static void run_transport(const struct client_config *cfg, enum transport t,
                          struct run *run, struct run_extra *x)
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
static void not_offered(const struct client_config *cfg, enum transport t, struct run *run,
                        struct run_extra *x)
{
    memset(run, 0, sizeof *run);
    memset(x, 0, sizeof *x);
    run->cfg = cfg;
    run->transport = t;
    hist_init(&run->latency);
    hist_init(&run->latency_uncorrected);
    hist_init(&run->connect_time);
    hist_init(&run->first_message);
    x->server_cpu_s = -1;
    x->not_offered = true;
}

/* ---- main ------------------------------------------------------------- */

struct probe_tls {
    CURL *easy;
    char *buf;
    size_t cap;
};

/* libcurl shows a connection's TLS only while a transfer runs on it. */
static size_t probe_on_header(char *data, size_t size, size_t n, void *arg)
{
    (void)data;
    struct probe_tls *p = arg;
    if (!p->buf[0] && https_describe(p->easy, p->buf, p->cap) != 0)
        p->buf[0] = '\0';
    return size * n;
}

/* GET base/healthz once, before any run. An https:// server's TLS version
 * and cipher go into tls (empty for http://). */
static int server_reachable(const struct client_config *cfg, const char *base,
                            char *tls, size_t tlscap, char *err, size_t errlen)
{
    CURL *easy = curl_easy_init();
    if (!easy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char url[640], why[CURL_ERROR_SIZE] = "";
    snprintf(url, sizeof url, "%s/healthz", base);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, why);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)(cfg->connect_timeout_us / 1000));
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)(cfg->connect_timeout_us / 1000) + 5000);
    struct probe_tls probe = { easy, tls, tlscap };
    tls[0] = '\0';
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, probe_on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, &probe);
    https_apply(easy);
    CURLcode rc = curl_easy_perform(easy);
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(easy);
    /* A certificate curl would not trust is the usual first https:// error. */
    bool cert = rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE;
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "cannot reach %s: %s%s", base, why[0] ? why : curl_easy_strerror(rc),
                 cert ? " (--cacert FILE trusts the server's certificate; --insecure "
                        "skips the check)" : "");
        return -1;
    }
    if (status != 200) {
        snprintf(err, errlen, "%s/healthz answered %ld: is it a server of dialect %s?", base,
                 status, dialect_of(cfg)->name);
        return -1;
    }
    return 0;
}

static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

int main(int argc, char **argv)
{
    struct client_config cfg = {
        .dialect = &dialect_pushpull,
        .url = "http://127.0.0.1:8080",
        .transports = { true, true, true, true },
        .subscribers = 10,
        .channels = 1,
        .rate = 100,
        .size = 64,
        .duration_us = 5000000,
        .warmup_us = 1000000,
        .drain_us = 2000000,
        .poll_interval_us = 100000,
        .longpoll_timeout_us = 30000000,
        .connect_timeout_us = 5000000,
        .seed = 1,
    };
    cli_init("pushpull-client");
    parse_args(argc, argv, &cfg);
    srandom((unsigned)cfg.seed);
    char tag[32];
    snprintf(tag, sizeof tag, "pp%ld%04lx", (long)getpid(), (unsigned long)(random() & 0xffff));
    cfg.run_tag = tag;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_interrupt);
    signal(SIGTERM, on_interrupt);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;    /* many subscribers need many fds */
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    curl_global_init(CURL_GLOBAL_ALL);
    https_configure(cfg.cacert, cfg.insecure);
    if (cfg.insecure)
        fprintf(stderr, "pushpull-client: warning: --insecure: the server's certificate "
                "is not verified\n");
    char err[1024], tls[128], publish_tls[128];
    if (server_reachable(&cfg, cfg.url, tls, sizeof tls, err, sizeof err) != 0 ||
        (strcmp(cfg.publish_url, cfg.url) != 0 &&
         server_reachable(&cfg, cfg.publish_url, publish_tls, sizeof publish_tls,
                          err, sizeof err) != 0)) {
        fprintf(stderr, "pushpull-client: %s\n", err);
        curl_global_cleanup();
        return 1;
    }
    json_t *manifest = report_manifest();
    if (manifest)                     /* what the subscribers' connections negotiated */
        json_object_set_new(manifest, "tls", tls[0] ? json_string(tls) : json_null());
    if (manifest)
        json_object_set_new(manifest, "dialect", json_string(cfg.dialect->name));
    json_t *runs_json = json_array();
    struct run *runs[TR_COUNT];
    struct run_extra extras[TR_COUNT];
    size_t n = 0;
    int status = 0;
    for (int t = 0; t < TR_COUNT && !interrupted; t++) {
        if (!cfg.transports[t])
            continue;
        runs[n] = calloc(1, sizeof *runs[n]);
        if (!runs[n])
            break;
        if (cfg.dialect->offers[t])
            run_transport(&cfg, (enum transport)t, runs[n], &extras[n]);
        else
            not_offered(&cfg, (enum transport)t, runs[n], &extras[n]);
        if (extras[n].failure)
            status = 1;
        json_array_append_new(runs_json, report_run_json(runs[n], &extras[n]));
        if (cfg.csv_path && report_append_csv(cfg.csv_path, &cfg, runs[n], &extras[n]) != 0) {
            fprintf(stderr, "pushpull-client: %s: %s\n", cfg.csv_path, strerror(errno));
            status = 1;
        }
        n++;
    }
    report_print_table(stdout, &cfg, (const struct run *const *)runs, extras, n);
    if (cfg.json_path && report_write_json(cfg.json_path, &cfg, manifest, runs_json) != 0) {
        fprintf(stderr, "pushpull-client: %s: %s\n", cfg.json_path, strerror(errno));
        status = 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (extras[i].failure)
            fprintf(stderr, "pushpull-client: %s: %s\n", transport_names[runs[i]->transport],
                    extras[i].failure);
        free(runs[i]);
    }
    json_decref(manifest);
    json_decref(runs_json);
    curl_global_cleanup();
    return interrupted ? 1 : status;
}
