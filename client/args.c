/* pushpull-client's command line: flags, their defaults, and the
 * combinations refused as usage errors (exit 2). */
#include "args.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dialect.h"
#include "parse.h"

static const char usage[] =
    "usage: pushpull-client [options]\n"
    "\n"
    "Publishes at a fixed rate (open loop) and runs virtual subscribers on one\n"
    "transport after another, measuring delivery latency from each message's\n"
    "scheduled publish time, loss, throughput and cost per delivered message.\n"
    "\n"
    "  --url URL             server base URL, http:// or https:// (http://127.0.0.1:8080)\n"
    "  --dialect D           the server's protocol: pushpull (pushpull-server and\n"
    "                        peers speaking it), nchan, socketio or pushpin (as\n"
    "                        peers/NAME configures them)        (pushpull)\n"
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
    "  --threads N           spread the subscribers over N event loops, one thread\n"
    "                        each (results merged exactly)     (1)\n"
    "  --no-keepalive        a new TCP connection per request (HTTP transports)\n"
    "  --socketio-upgrade    with --dialect socketio --transport ws: every WebSocket\n"
    "                        begins as an Engine.IO polling handshake and upgrades\n"
    "                        (2probe, 3probe, 5), as socket.io-client does by\n"
    "                        default (off: a WebSocket directly)\n"
    "  --publish-via http|ws how the publisher sends            (http)\n"
    "  --no-publish          subscribe only: another client process publishes to\n"
    "                        the same channels (same --run-tag, rate, channels,\n"
    "                        warm-up and duration); merge the two with --merge.\n"
    "                        Says \"subscribers connected\" on stderr when the\n"
    "                        publisher may start; one --transport\n"
    "  --publisher-wait DUR  --no-publish: how long to wait for the first\n"
    "                        message once connected             (60s)\n"
    "  --seed N              poll phases and backoff jitter     (1)\n"
    "  --run-tag TAG         channels are named TAG-<transport>-<n> (default: unique\n"
    "                        per process), so another subscriber can join them\n"
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

/* --socketio-upgrade changes how a socket.io WebSocket opens, and nothing
 * else: on any other run it would be a flag that silently does nothing. */
static bool upgrade_applies(const struct client_config *cfg)
{
    bool only_ws = cfg->transports[TR_WS];
    for (int t = 0; t < TR_COUNT; t++)
        if (t != TR_WS && cfg->transports[t])
            only_ws = false;
    return cfg->dialect == &dialect_socketio && only_ws;
}

enum { O_URL = 256, O_DIALECT, O_SERVER_PID, O_PUBLISH_URL, O_TRANSPORT, O_SUBS, O_CHANNELS, O_RATE, O_SIZE, O_DURATION, O_WARMUP,
       O_IDLE_HOLD, O_DRAIN, O_POLL_INTERVAL, O_LP_TIMEOUT, O_CONNECT_TIMEOUT, O_CONNECT_RATE, O_CHURN,
       O_CONNECTIONS, O_THREADS, O_NO_KEEPALIVE, O_PUBLISH_VIA, O_SEED, O_RUN_TAG, O_JSON, O_CSV, O_CACERT,
       O_INSECURE, O_QUIET, O_NO_PUBLISH, O_PUBLISHER_WAIT, O_SOCKETIO_UPGRADE,
       O_HELP, O_VERSION };

static const struct client_config defaults = {
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
    .threads = 1,
    .publisher_wait_us = 60000000,
};

void args_parse(int argc, char **argv, struct client_config *cfg)
{
    *cfg = defaults;
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
        { "threads", required_argument, NULL, O_THREADS },
        { "no-keepalive", no_argument, NULL, O_NO_KEEPALIVE },
        { "socketio-upgrade", no_argument, NULL, O_SOCKETIO_UPGRADE },
        { "publish-via", required_argument, NULL, O_PUBLISH_VIA },
        { "seed", required_argument, NULL, O_SEED },
        { "run-tag", required_argument, NULL, O_RUN_TAG },
        { "json", required_argument, NULL, O_JSON },
        { "csv", required_argument, NULL, O_CSV },
        { "cacert", required_argument, NULL, O_CACERT },
        { "insecure", no_argument, NULL, O_INSECURE },
        { "quiet", no_argument, NULL, O_QUIET },
        { "no-publish", no_argument, NULL, O_NO_PUBLISH },
        { "publisher-wait", required_argument, NULL, O_PUBLISHER_WAIT },
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
        case O_THREADS: cfg->threads = (unsigned)cli_count("--threads", optarg, 1, 64); break;
        case O_NO_KEEPALIVE: cfg->no_keepalive = true; break;
        case O_SOCKETIO_UPGRADE: cfg->socketio_upgrade = true; break;
        case O_PUBLISH_VIA:
            if (strcmp(optarg, "http") == 0)
                cfg->publish_via = PUB_HTTP;
            else if (strcmp(optarg, "ws") == 0)
                cfg->publish_via = PUB_WS;
            else
                cli_usage_error("--publish-via: '%s' is not http or ws", optarg);
            break;
        case O_SEED: cfg->seed = cli_count("--seed", optarg, 0, UINT32_MAX); break;
        case O_RUN_TAG:
            if (strlen(optarg) > 32 || !parse_channel_name(optarg, strlen(optarg)))
                cli_usage_error("--run-tag: want [A-Za-z0-9_.-]{1,32}, got '%s'", optarg);
            cfg->run_tag = optarg;
            cfg->run_tag_given = true;
            break;
        case O_JSON: cfg->json_path = optarg; break;
        case O_CSV: cfg->csv_path = optarg; break;
        case O_CACERT: cfg->cacert = optarg; break;
        case O_INSECURE: cfg->insecure = true; break;
        case O_QUIET: cfg->quiet = true; break;
        case O_NO_PUBLISH: cfg->no_publish = true; break;
        case O_PUBLISHER_WAIT: cfg->publisher_wait_us = flag_duration("--publisher-wait", optarg); break;
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
    if (cfg->threads > cfg->subscribers)
        cli_usage_error("--threads %u is above --subscribers %u: a thread with nobody on it",
                        cfg->threads, cfg->subscribers);
    if (cfg->channels > cfg->subscribers)
        cli_usage_error("--channels %u is above --subscribers %u: a channel nobody reads",
                  cfg->channels, cfg->subscribers);
    if (cfg->duration_us < 100000)
        cli_usage_error("--duration: at least 100ms");
    if (cfg->longpoll_timeout_us < 1000000 || cfg->longpoll_timeout_us > 120000000)
        cli_usage_error("--longpoll-timeout: from 1s to 120s (the server caps it)");
    if (cfg->connect_timeout_us < 1000)
        cli_usage_error("--connect-timeout: at least 1ms");
    if (cfg->socketio_upgrade && !upgrade_applies(cfg))
        cli_usage_error("--socketio-upgrade: only with --dialect socketio --transport ws "
                        "(it upgrades a socket.io WebSocket from polling)");
    if ((cfg->transports[TR_LONGPOLL] || cfg->transports[TR_SSE] || cfg->transports[TR_WS]) &&
        cfg->connections && cfg->connections < cfg->subscribers)
        cli_usage_error("--connections below --subscribers: long polls, SSE and WebSocket hold "
                        "a connection each while they wait (use it with --transport poll)");
    if (cfg->no_publish) {
        unsigned n = 0;
        for (int t = 0; t < TR_COUNT; t++)
            n += cfg->transports[t];
        /* The publisher starts once every subscribe-only process is in;
         * a second transport would start without anyone waiting for it. */
        if (n != 1)
            cli_usage_error("--no-publish: one --transport at a time");
        if (!cfg->run_tag_given)
            cli_usage_error("--no-publish: give the publishing process's --run-tag");
        if (cfg->publisher_wait_us < 1000000)
            cli_usage_error("--publisher-wait: at least 1s");
    }
    double total = (double)(cfg->warmup_us + cfg->duration_us) / 1e6 * cfg->rate;
    if (total > 5e7)
        cli_usage_error("--rate x (--warmup + --duration) is over 50 million messages");
    if (total < 1)
        cli_usage_error("--rate x (--warmup + --duration) publishes no message");
}
