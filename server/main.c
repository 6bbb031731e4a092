/* pushpull-server: command line, the loop, heartbeats and shutdown. */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "access.h"
#include "broker.h"
#include "bus.h"
#include "cli.h"
#include "clock.h"
#include "demo.h"
#include "http.h"
#include "parse.h"
#include "redis_conn.h"
#include "router.h"
#include "server.h"
#include "stats.h"
#include "tls.h"
#include "transports.h"
#include "units.h"
#include "workers.h"

/* After SIGINT/SIGTERM, how long closing handshakes may take. */
#define SHUTDOWN_GRACE_US 1500000
#define SHUTDOWN_TICK_US 20000

static const char usage[] =
    "usage: pushpull-server [options]\n"
    "\n"
    "One HTTP server offering short polling, long polling, Server-Sent Events\n"
    "and WebSocket over one pub/sub bus. Prints 'listening on http://ADDR:PORT'\n"
    "(https:// with --tls-cert and --tls-key).\n"
    "\n"
    "  --port N              TCP port; 0 picks a free one          (8080)\n"
    "  --bind ADDR           numeric IPv4/IPv6 address to bind       (127.0.0.1)\n"
    "  --history N           messages kept per channel for resume   (1024)\n"
    "  --max-message SIZE    largest publish body / WS message      (64KiB)\n"
    "  --max-connections N   open connections before answering 503  (10000)\n"
    "  --max-queue SIZE      per-subscriber outbound queue (SSE/WS) (1MiB)\n"
    "  --max-channels N      channels before answering 503          (65536)\n"
    "  --connection-memory SIZE  per-connection buffer; caps request line and\n"
    "                        headers (about SIZE - 256 bytes; more: 431) (4KiB)\n"
    "  --heartbeat DUR       SSE comment / WS ping period           (15s)\n"
    "  --longpoll-timeout DUR  long-poll wait without ?timeout=     (30s)\n"
    "  --longpoll-max DUR    cap on a long poll's ?timeout=         (120s)\n"
    "  --idle-timeout DUR    close idle keep-alive HTTP connections (60s)\n"
    "  --demo-rate R         publish R messages/s on channel 'demo' itself,\n"
    "                        for the live page at /; 0 = off       (0)\n"
    "  --quiet               no log lines on stderr\n"
    "  --help, --version\n"
    "\n"
    "Access control (off unless given):\n"
    "  --publish-token T     POST /pub and WebSocket publishing need\n"
    "                        'Authorization: Bearer T' (or env PUSHPULL_PUBLISH_TOKEN)\n"
    "  --subscribe-token T   poll, longpoll, SSE, WebSocket need the header or\n"
    "                        ?token=T (or env PUSHPULL_SUBSCRIBE_TOKEN)\n"
    "  --allow-origin LIST   comma-separated origins (or '*') allowed to open\n"
    "                        WebSockets and POST from a browser; CORS for them\n"
    "\n"
    "Abuse limits (0 = off):\n"
    "  --max-connections-per-ip N  connections per client address (IPv6: /64)\n"
    "                        before answering 503                  (1000)\n"
    "  --header-timeout DUR  a request (headers, body) must arrive within DUR\n"
    "                        of its first byte, or the connection is cut (10s)\n"
    "  --ws-publish-rate R   WebSocket publishes/s per connection (burst R);\n"
    "                        past it the socket is closed with 1008 (1000)\n"
    "\n"
    "Scaling out (off unless given):\n"
    "  --broker URL          redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]: history,\n"
    "                        ids and fan-out in Redis, shared by every instance\n"
    "                        using it (or the password in env\n"
    "                        PUSHPULL_BROKER_PASSWORD)\n"
    "  --broker-timeout DUR  Redis connect and reply deadline; a miss cuts the\n"
    "                        connection, which is made again        (2s)\n"
    "  --broker-backoff-max DUR  reconnect backoff cap (from 50ms)  (1s)\n"
    "  --broker-wait DUR     how long a subscriber waits for its channel to be\n"
    "                        read from Redis before a 503           (10s)\n"
    "  --broker-idle DUR     unsubscribe a channel nobody used this long (30s)\n"
    "  --workers N           N processes on the port (SO_REUSEPORT), one core\n"
    "                        each; needs --broker                   (off)\n"
    "\n"
    "HTTPS and wss:// (off unless both given):\n"
    "  --tls-cert FILE       PEM certificate (chain) to serve\n"
    "  --tls-key FILE        its PEM private key, unencrypted\n"
    "\n"
    "DUR: 500ms, 15s, 2m (a bare number is seconds). SIZE: 512, 64KiB, 1MiB.\n";

/* Both files or neither; they are read and checked now, so that a wrong
 * file is a usage error and not a server that starts without HTTPS. */
static void parse_tls(struct server_config *cfg, const char *cert, const char *key)
{
    if (!cert && !key)
        return;
    if (!cert || !key)
        cli_usage_error("%s needs %s too (HTTPS takes a certificate and its key)",
                        cert ? "--tls-cert" : "--tls-key", cert ? "--tls-key" : "--tls-cert");
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        fprintf(stderr, "pushpull-server: this libmicrohttpd was built without TLS "
                "(GnuTLS): --tls-cert cannot work\n");
        exit(1);
    }
    char err[512];
    if (tls_load(cert, key, &cfg->tls_cert_pem, &cfg->tls_key_pem, err, sizeof err) != 0)
        cli_usage_error("%s", err);
}

enum { O_PORT = 256, O_BIND, O_HISTORY, O_MAX_MESSAGE, O_MAX_CONNECTIONS, O_MAX_QUEUE,
       O_MAX_CHANNELS, O_CONN_MEMORY, O_HEARTBEAT, O_LP_TIMEOUT, O_LP_MAX, O_IDLE,
       O_DEMO_RATE, O_PUB_TOKEN, O_SUB_TOKEN, O_ALLOW_ORIGIN, O_PER_IP, O_HEADER_TIMEOUT,
       O_WS_PUB_RATE, O_TLS_CERT, O_TLS_KEY, O_BROKER, O_BROKER_TIMEOUT, O_BROKER_BACKOFF,
       O_BROKER_WAIT, O_BROKER_IDLE, O_WORKERS, O_QUIET, O_HELP, O_VERSION };

static void parse_args(int argc, char **argv, struct server_config *cfg)
{
    static const struct option opts[] = {
        { "port", required_argument, NULL, O_PORT },
        { "bind", required_argument, NULL, O_BIND },
        { "history", required_argument, NULL, O_HISTORY },
        { "max-message", required_argument, NULL, O_MAX_MESSAGE },
        { "max-connections", required_argument, NULL, O_MAX_CONNECTIONS },
        { "max-queue", required_argument, NULL, O_MAX_QUEUE },
        { "max-channels", required_argument, NULL, O_MAX_CHANNELS },
        { "connection-memory", required_argument, NULL, O_CONN_MEMORY },
        { "heartbeat", required_argument, NULL, O_HEARTBEAT },
        { "longpoll-timeout", required_argument, NULL, O_LP_TIMEOUT },
        { "longpoll-max", required_argument, NULL, O_LP_MAX },
        { "idle-timeout", required_argument, NULL, O_IDLE },
        { "demo-rate", required_argument, NULL, O_DEMO_RATE },
        { "publish-token", required_argument, NULL, O_PUB_TOKEN },
        { "subscribe-token", required_argument, NULL, O_SUB_TOKEN },
        { "allow-origin", required_argument, NULL, O_ALLOW_ORIGIN },
        { "max-connections-per-ip", required_argument, NULL, O_PER_IP },
        { "header-timeout", required_argument, NULL, O_HEADER_TIMEOUT },
        { "ws-publish-rate", required_argument, NULL, O_WS_PUB_RATE },
        { "tls-cert", required_argument, NULL, O_TLS_CERT },
        { "tls-key", required_argument, NULL, O_TLS_KEY },
        { "broker", required_argument, NULL, O_BROKER },
        { "broker-timeout", required_argument, NULL, O_BROKER_TIMEOUT },
        { "broker-backoff-max", required_argument, NULL, O_BROKER_BACKOFF },
        { "broker-wait", required_argument, NULL, O_BROKER_WAIT },
        { "broker-idle", required_argument, NULL, O_BROKER_IDLE },
        { "workers", required_argument, NULL, O_WORKERS },
        { "quiet", no_argument, NULL, O_QUIET },
        { "help", no_argument, NULL, O_HELP },
        { "version", no_argument, NULL, O_VERSION },
        { NULL, 0, NULL, 0 },
    };
    const uint64_t hour = 3600ull * 1000000;
    const char *tls_cert = NULL, *tls_key = NULL;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_PORT: cfg->port = (unsigned)cli_count("--port", optarg, 0, 65535); break;
        case O_BIND:
            if (strlen(optarg) >= sizeof cfg->bind)
                cli_usage_error("--bind: '%s' is too long for an address", optarg);
            strcpy(cfg->bind, optarg);
            break;
        case O_HISTORY: cfg->history = cli_count("--history", optarg, 1, 1u << 24); break;
        case O_MAX_MESSAGE:
            cfg->max_message = cli_size("--max-message", optarg, 1, 64u << 20);
            break;
        case O_MAX_CONNECTIONS:
            cfg->max_connections = cli_count("--max-connections", optarg, 1, 1000000);
            break;
        case O_MAX_QUEUE: cfg->max_queue = cli_size("--max-queue", optarg, 1024, 1ull << 30); break;
        case O_MAX_CHANNELS:
            cfg->max_channels = cli_count("--max-channels", optarg, 1, 1u << 24);
            break;
        case O_CONN_MEMORY:
            cfg->connection_memory = cli_size("--connection-memory", optarg, 4096, 1u << 20);
            break;
        case O_HEARTBEAT:
            cfg->heartbeat_us = cli_duration_us("--heartbeat", optarg, 10000, hour);
            break;
        case O_LP_TIMEOUT:
            cfg->longpoll_timeout_us = cli_duration_us("--longpoll-timeout", optarg, 0, hour);
            break;
        case O_LP_MAX: cfg->longpoll_max_us = cli_duration_us("--longpoll-max", optarg, 0, hour); break;
        case O_IDLE: cfg->idle_timeout_us = cli_duration_us("--idle-timeout", optarg, 1000000, hour); break;
        case O_DEMO_RATE:
            cfg->demo_rate = strcmp(optarg, "0") == 0
                                 ? 0 : cli_rate("--demo-rate", optarg, DEMO_RATE_MAX);
            break;
        case O_PUB_TOKEN: cfg->publish_token = optarg; break;
        case O_SUB_TOKEN: cfg->subscribe_token = optarg; break;
        case O_ALLOW_ORIGIN: cfg->allow_origin = optarg; break;
        case O_PER_IP:
            cfg->max_connections_per_ip = cli_count("--max-connections-per-ip", optarg, 0, 1000000);
            break;
        case O_HEADER_TIMEOUT:
            cfg->header_timeout_us = cli_duration_us("--header-timeout", optarg, 0, hour);
            break;
        case O_WS_PUB_RATE:
            cfg->ws_publish_rate = strcmp(optarg, "0") == 0
                                       ? 0 : cli_rate("--ws-publish-rate", optarg, 1e6);
            break;
        case O_TLS_CERT: tls_cert = optarg; break;
        case O_TLS_KEY: tls_key = optarg; break;
        case O_BROKER: cfg->broker_url = optarg; break;
        case O_BROKER_TIMEOUT:
            cfg->broker_timeout_us = cli_duration_us("--broker-timeout", optarg, 10000, hour);
            break;
        case O_BROKER_BACKOFF:
            cfg->broker_backoff_max_us = cli_duration_us("--broker-backoff-max", optarg, 50000, hour);
            break;
        case O_BROKER_WAIT:
            cfg->broker_wait_us = cli_duration_us("--broker-wait", optarg, 0, hour);
            break;
        case O_BROKER_IDLE:
            cfg->broker_idle_us = cli_duration_us("--broker-idle", optarg, 0, 24 * hour);
            break;
        case O_WORKERS: cfg->workers = (unsigned)cli_count("--workers", optarg, 1, 256); break;
        case O_QUIET: cfg->quiet = true; break;
        case O_HELP: fputs(usage, stdout); exit(0);
        case O_VERSION: puts("pushpull-server " PUSHPULL_VERSION); exit(0);
        default:
            cli_usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (cfg->workers && !cfg->broker_url)
        cli_usage_error("--workers needs --broker (the workers share channels through it)");
    struct redis_addr addr;
    char url_err[512];
    if (cfg->broker_url && redis_url_parse(cfg->broker_url, &addr, url_err, sizeof url_err) != 0)
        cli_usage_error("%s", url_err);
    if (cfg->longpoll_timeout_us > cfg->longpoll_max_us)
        cli_usage_error("--longpoll-timeout is above --longpoll-max");
    /* The environment is readable by the same user only, unlike argv. */
    if (!cfg->publish_token)
        cfg->publish_token = getenv("PUSHPULL_PUBLISH_TOKEN");
    if (!cfg->subscribe_token)
        cfg->subscribe_token = getenv("PUSHPULL_SUBSCRIBE_TOKEN");
    char err[256];
    if (access_configure(cfg->publish_token, cfg->subscribe_token, cfg->allow_origin,
                         err, sizeof err) != 0)
        cli_usage_error("%s", err);
    parse_tls(cfg, tls_cert, tls_key);
}

/* Many subscribers need many fds: take the hard limit. */
static void raise_fd_limit(const struct server_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (!cfg->quiet && rl.rlim_cur < cfg->max_connections + 64)
        fprintf(stderr, "pushpull-server: warning: fd limit %llu is below "
                "--max-connections %zu\n", (unsigned long long)rl.rlim_cur,
                cfg->max_connections);
}

struct shutdown_state {
    struct server *srv;
    struct event *tick;
    uint64_t deadline_us;
};

static void on_shutdown_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct shutdown_state *st = arg;
    bool done = stats.open[T_WS] == 0 && stats.open[T_SSE] == 0;
    if (done || clock_mono_us() >= st->deadline_us)
        event_base_loopexit(st->srv->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct shutdown_state *st = arg;
    struct server *srv = st->srv;
    if (srv->shutting_down)
        return;
    if (!srv->cfg.quiet)
        fprintf(stderr, "pushpull-server: %s: shutting down\n", strsignal((int)sig));
    srv->shutting_down = true;
    http_quiesce(srv);
    if (srv->broker)
        broker_shutdown(srv->broker);
    longpoll_shutdown(srv);
    sse_shutdown(srv);
    ws_shutdown(srv, false);
    st->deadline_us = clock_mono_us() + SHUTDOWN_GRACE_US;
    struct timeval tv = { 0, SHUTDOWN_TICK_US };
    event_add(st->tick, &tv);
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct server *srv = arg;
    if (srv->shutting_down)
        return;
    sse_heartbeat(srv);
    ws_heartbeat(srv);
}

static void announce(const struct server_config *cfg)
{
    bool v6 = strchr(cfg->bind, ':') != NULL;
    printf("listening on %s://%s%s%s:%u\n", cfg->tls_cert_pem ? "https" : "http",
           v6 ? "[" : "", cfg->bind, v6 ? "]" : "", cfg->port);
    fflush(stdout);
}

static struct broker *start_broker(struct server *srv, char *err, size_t errlen)
{
    const struct server_config *cfg = &srv->cfg;
    struct broker_config bc = {
        .url = cfg->broker_url,
        /* The environment is readable by the same user only, unlike argv. */
        .password = getenv("PUSHPULL_BROKER_PASSWORD"),
        .history = cfg->history,
        .timeout_us = cfg->broker_timeout_us,
        .backoff_max_us = cfg->broker_backoff_max_us,
        .wait_us = cfg->broker_wait_us,
        .idle_us = cfg->broker_idle_us,
    };
    return broker_start(srv->base, srv->bus, &bc, err, errlen);
}

/* One server process: the whole server, or one of --workers. */
static int serve(struct server_config *cfg, int ready_fd)
{
    struct server srv = { .cfg = *cfg };
    srv.started_mono_us = clock_mono_us();
    srv.epoch = cfg->start_epoch_us ? cfg->start_epoch_us : clock_real_us();
    srv.base = event_base_new();
    srv.bus = bus_new(srv.cfg.history, srv.cfg.max_channels);
    char err[512];
    if (!srv.base || !srv.bus) {
        fprintf(stderr, "pushpull-server: out of memory\n");
        return 1;
    }
    bus_set_epoch(srv.bus, srv.epoch);
    if ((srv.cfg.broker_url && !(srv.broker = start_broker(&srv, err, sizeof err))) ||
        router_start(&srv, err, sizeof err) != 0) {
        fprintf(stderr, "pushpull-server: %s\n", err);
        return 1;
    }
    srv.cfg.port = http_port(&srv);
    struct demo *demo = NULL;
    if (srv.cfg.demo_rate > 0 && !(demo = demo_start(&srv, srv.cfg.demo_rate))) {
        fprintf(stderr, "pushpull-server: cannot start the demo publisher\n");
        return 1;
    }
    struct shutdown_state st = { .srv = &srv };
    st.tick = event_new(srv.base, -1, EV_PERSIST, on_shutdown_tick, &st);
    struct event *sigint = evsignal_new(srv.base, SIGINT, on_signal, &st);
    struct event *sigterm = evsignal_new(srv.base, SIGTERM, on_signal, &st);
    struct event *beat = event_new(srv.base, -1, EV_PERSIST, on_heartbeat, &srv);
    struct timeval hb = { .tv_sec = (time_t)(srv.cfg.heartbeat_us / 1000000),
                          .tv_usec = (suseconds_t)(srv.cfg.heartbeat_us % 1000000) };
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    event_add(beat, &hb);

    if (ready_fd >= 0) {
        /* A worker: the parent speaks for all once all listen. */
        if (write(ready_fd, "", 1) != 1)
            return 1;
    } else {
        announce(&srv.cfg);
    }
    if (!srv.cfg.quiet)
        fprintf(stderr, srv.broker ? "pushpull-server: channel epochs come from the broker\n"
                                   : "pushpull-server: epoch %llu (ids start over with every start)\n",
                (unsigned long long)srv.epoch);

    event_base_dispatch(srv.base);

    /* Whatever did not close in the grace period goes now; then no
     * connection is suspended when MHD stops (an API violation): the
     * broker's failed publishes give theirs back too. */
    ws_shutdown(&srv, true);
    longpoll_shutdown(&srv);
    sse_shutdown(&srv);
    broker_stop(srv.broker);
    router_stop(&srv);
    demo_stop(demo);
    event_free(st.tick);
    event_free(sigint);
    event_free(sigterm);
    event_free(beat);
    bus_free(srv.bus);
    event_base_free(srv.base);
    if (!srv.cfg.quiet)
        fprintf(stderr, "pushpull-server: stopped\n");
    return 0;
}

int main(int argc, char **argv)
{
    struct server_config cfg = {
        .bind = "127.0.0.1",
        .port = 8080,
        .history = 1024,
        .max_message = 64 * 1024,
        .max_connections = 10000,
        .max_queue = 1024 * 1024,
        .max_channels = 65536,
        /* libmicrohttpd keeps this pool for a stream's or a WebSocket's
         * whole life: 8 KiB made an idle subscriber cost more than
         * 7.5 KiB (issue 11). */
        .connection_memory = 4096,
        .heartbeat_us = 15000000,
        .longpoll_timeout_us = 30000000,
        .longpoll_max_us = 120000000,
        .idle_timeout_us = 60000000,
        .max_connections_per_ip = 1000,
        .header_timeout_us = 10000000,
        .ws_publish_rate = 1000,
        .broker_timeout_us = 2000000,
        .broker_backoff_max_us = 1000000,
        .broker_wait_us = 10000000,
        .broker_idle_us = 30000000,
    };
    cli_init("pushpull-server");
    parse_args(argc, argv, &cfg);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit(&cfg);
    int rc = cfg.workers ? workers_run(&cfg, serve, announce) : serve(&cfg, -1);
    tls_free(cfg.tls_cert_pem, cfg.tls_key_pem);
    return rc;
}
