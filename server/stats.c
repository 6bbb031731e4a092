#include "stats.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "broker.h"
#include "bus.h"
#include "clock.h"
#include "server.h"
#include "shbuf.h"

struct stats stats;

static const char *const transport_names[T_COUNT] = { "poll", "longpoll", "sse", "ws" };

struct process_usage {
    double user_s, sys_s;
    uint64_t rss_bytes;
};

static struct process_usage process_usage(void)
{
    struct process_usage u = { 0 };
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        u.user_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
        u.sys_s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    }
    /* Resident now, not the peak getrusage reports: /proc/self/statm. */
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages_total, pages_rss;
    if (f) {
        if (fscanf(f, "%lu %lu", &pages_total, &pages_rss) == 2)
            u.rss_bytes = (uint64_t)pages_rss * (uint64_t)sysconf(_SC_PAGESIZE);
        fclose(f);
    }
    return u;
}

static json_t *per_transport(const uint64_t v[T_COUNT])
{
    json_t *o = json_object();
    for (int t = 0; t < T_COUNT; t++)
        json_object_set_new(o, transport_names[t], json_integer((json_int_t)v[t]));
    return o;
}

/* --broker: the connections' state, round trip and faults. */
static json_t *broker_json(const struct broker *b)
{
    struct broker_stats bs;
    broker_get_stats(b, &bs);
    return json_pack("{s:s, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                     "state", bs.command_up && bs.subscribe_up ? "up"
                              : bs.command_up || bs.subscribe_up ? "degraded" : "down",
                     "command_up", bs.command_up, "subscribe_up", bs.subscribe_up,
                     "rtt_us", (json_int_t)bs.rtt_us, "reconnects", (json_int_t)bs.reconnects,
                     "timeouts", (json_int_t)bs.timeouts,
                     "auth_failures", (json_int_t)bs.auth_failures, "channels", (json_int_t)bs.channels,
                     "refills", (json_int_t)bs.refills, "resets", (json_int_t)bs.resets,
                     "publish_errors", (json_int_t)bs.publish_errors);
}

char *stats_render_json(const struct server *srv, size_t *len)
{
    struct process_usage u = process_usage();
    json_t *conns = json_object();
    json_object_set_new(conns, "http", json_integer((json_int_t)stats.http_connections));
    for (int t = T_LONGPOLL; t < T_COUNT; t++)
        json_object_set_new(conns, transport_names[t], json_integer((json_int_t)stats.open[t]));
    json_t *doc = json_pack(
        "{s:s, s:f, s:I, s:o, s:I, s:o, s:o, s:{s:I, s:I, s:I}, s:{s:I}, s:I, s:I, s:{s:f, s:f, s:f}, s:I}",
        "version", PUSHPULL_VERSION,
        "uptime_s", (double)(clock_mono_us() - srv->started_mono_us) / 1e6,
        "channels", (json_int_t)bus_channel_count(srv->bus),
        "connections", conns,
        "published", (json_int_t)stats.published,
        "deliveries", per_transport(stats.deliveries),
        "bytes_out", per_transport(stats.bytes_out),
        "longpoll", "woken", (json_int_t)stats.longpoll_woken,
                    "timed_out", (json_int_t)stats.longpoll_timed_out,
                    "client_left", (json_int_t)stats.longpoll_client_left,
        "sse", "client_left", (json_int_t)stats.sse_client_left,
        "slow_consumers_dropped", (json_int_t)stats.slow_consumers_dropped,
        "gaps_served", (json_int_t)stats.gaps_served,
        "cpu", "user_s", u.user_s, "sys_s", u.sys_s, "total_s", u.user_s + u.sys_s,
        "rss_bytes", (json_int_t)u.rss_bytes);
    if (!doc)
        return NULL;
    /* Messages (every encoding) and subscribers' own frames that a ring or
     * a queue still references: where message memory goes. */
    json_object_set_new(doc, "shared", json_pack("{s:I, s:I}",
                        "blocks", (json_int_t)shbuf_live_blocks(),
                        "bytes", (json_int_t)shbuf_live_bytes()));
    const struct { const char *name; uint64_t v; } refused[] = {
        { "unauthorized", stats.unauthorized },
        { "origin_refused", stats.origin_refused },
        { "per_ip_refused", stats.per_ip_refused },
        { "header_timeout_closed", stats.header_timeout_closed },
        { "ws_publish_rate_closed", stats.ws_publish_rate_closed },
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        json_object_set_new(doc, refused[i].name, json_integer((json_int_t)refused[i].v));
    json_object_set_new(doc, "epoch", json_integer((json_int_t)srv->epoch));
    json_object_set_new(doc, "tls", json_boolean(srv->cfg.tls_cert_pem != NULL));
    if (srv->broker)
        json_object_set_new(doc, "broker", broker_json(srv->broker));
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (text)
        *len = strlen(text);
    return text;
}

static void metric(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP pushpull_%s %s\n# TYPE pushpull_%s %s\n", name, help, name, type);
}

static void metric_per_transport(FILE *f, const char *name, const char *type,
                                 const char *help, const uint64_t v[T_COUNT], int first)
{
    metric(f, name, type, help);
    for (int t = first; t < T_COUNT; t++)
        fprintf(f, "pushpull_%s{transport=\"%s\"} %llu\n", name, transport_names[t],
                (unsigned long long)v[t]);
}

static void metric_value(FILE *f, const char *name, const char *type,
                         const char *help, double value)
{
    metric(f, name, type, help);
    fprintf(f, "pushpull_%s %.17g\n", name, value);
}

/* The plain event counters of /metrics, one line of help each. */
static const struct {
    const char *name, *help;
    const uint64_t *value;
} counters[] = {
    { "longpoll_woken_total", "Long polls answered by a publish.", &stats.longpoll_woken },
    { "longpoll_timed_out_total", "Long polls answered empty at their timeout.",
      &stats.longpoll_timed_out },
    { "longpoll_client_left_total", "Long polls ended because the client closed or reset the connection.",
      &stats.longpoll_client_left },
    { "sse_client_left_total", "Idle SSE streams ended because the client closed or reset the connection.",
      &stats.sse_client_left },
    { "slow_consumers_dropped_total", "Subscribers dropped because their queue passed --max-queue.",
      &stats.slow_consumers_dropped },
    { "gaps_served_total", "Answers that flagged messages lost to history eviction.",
      &stats.gaps_served },
    { "unauthorized_total",
      "401 answers and WebSocket publishes refused for a missing or wrong token.",
      &stats.unauthorized },
    { "origin_refused_total", "403 answers to an Origin outside --allow-origin.",
      &stats.origin_refused },
    { "per_ip_refused_total", "503 answers over --max-connections-per-ip.", &stats.per_ip_refused },
    { "header_timeout_closed_total",
      "Connections cut for not sending a whole request within --header-timeout.",
      &stats.header_timeout_closed },
    { "ws_publish_rate_closed_total",
      "WebSockets closed (1008) for publishing faster than --ws-publish-rate.",
      &stats.ws_publish_rate_closed },
};

static void broker_metrics(FILE *f, const struct broker *b)
{
    struct broker_stats bs;
    broker_get_stats(b, &bs);
    metric(f, "broker_up", "gauge", "1 while the broker connection is up.");
    fprintf(f, "pushpull_broker_up{connection=\"command\"} %d\n", bs.command_up);
    fprintf(f, "pushpull_broker_up{connection=\"subscribe\"} %d\n", bs.subscribe_up);
    metric_value(f, "broker_rtt_seconds", "gauge", "The broker's latest reply round trip.",
                 (double)bs.rtt_us / 1e6);
    const struct { const char *name, *type, *help; uint64_t v; } m[] = {
        { "broker_reconnects_total", "counter", "Broker connections made again.", bs.reconnects },
        { "broker_timeouts_total", "counter", "Broker connections cut for a late reply.",
          bs.timeouts },
        { "broker_auth_failures_total", "counter", "Broker connections whose AUTH was refused.",
          bs.auth_failures },
        { "broker_channels", "gauge", "Channels subscribed at the broker.", bs.channels },
        { "broker_refills_total", "counter", "History reads that caught a channel up.",
          bs.refills },
        { "broker_resets_total", "counter", "Channels whose history the broker lost.",
          bs.resets },
        { "broker_publish_errors_total", "counter", "Publishes the broker did not take (503).",
          bs.publish_errors },
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        metric_value(f, m[i].name, m[i].type, m[i].help, (double)m[i].v);
}

char *stats_render_metrics(const struct server *srv, size_t *len)
{
    struct process_usage u = process_usage();
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    if (!f)
        return NULL;
    metric_value(f, "published_total", "counter", "Messages published.",
                 (double)stats.published);
    metric_per_transport(f, "deliveries_total", "counter",
                         "Messages handed to subscribers.", stats.deliveries, 0);
    metric_per_transport(f, "bytes_out_total", "counter",
                         "Body bytes (HTTP) or socket bytes (WebSocket) written.",
                         stats.bytes_out, 0);
    metric_per_transport(f, "subscribers", "gauge",
                         "Waiting long polls, open event streams and WebSockets.",
                         stats.open, T_LONGPOLL);
    metric_value(f, "http_connections", "gauge", "TCP connections held by the HTTP server.",
                 (double)stats.http_connections);
    metric_value(f, "channels", "gauge", "Channels in use.",
                 (double)bus_channel_count(srv->bus));
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
        metric_value(f, counters[i].name, "counter", counters[i].help, (double)*counters[i].value);
    metric_value(f, "process_cpu_seconds_total", "counter", "User and system CPU time.",
                 u.user_s + u.sys_s);
    metric_value(f, "process_resident_memory_bytes", "gauge", "Resident memory.",
                 (double)u.rss_bytes);
    metric_value(f, "shared_bytes", "gauge",
                 "Messages and frames still referenced by a history ring or a queue.",
                 (double)shbuf_live_bytes());
    metric_value(f, "start_time_seconds", "gauge",
                 "When this server started: its epoch (Pushpull-Epoch), in seconds.",
                 (double)srv->epoch / 1e6);
    if (srv->broker)
        broker_metrics(f, srv->broker);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
