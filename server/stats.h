/* Server counters, rendered as /stats (JSON) and /metrics (Prometheus). */
#ifndef PUSHPULL_STATS_H
#define PUSHPULL_STATS_H

#include <stddef.h>
#include <stdint.h>

enum transport { T_POLL, T_LONGPOLL, T_SSE, T_WS, T_COUNT };

struct stats {
    uint64_t published;
    uint64_t deliveries[T_COUNT];
    uint64_t bytes_out[T_COUNT];
    uint64_t open[T_COUNT];          /* waiting long polls, streams, sockets */
    uint64_t http_connections;
    uint64_t longpoll_woken;
    uint64_t longpoll_timed_out;
    uint64_t longpoll_client_left;     /* waits ended by the client's EOF/RST */
    uint64_t sse_client_left;          /* idle streams ended by the client's EOF/RST */
    uint64_t slow_consumers_dropped;
    uint64_t gaps_served;
    uint64_t unauthorized;            /* 401 answers */
    uint64_t origin_refused;          /* 403 answers to a foreign Origin */
    uint64_t per_ip_refused;          /* 503 answers over --max-connections-per-ip */
    uint64_t header_timeout_closed;   /* connections cut by --header-timeout */
    uint64_t ws_publish_rate_closed;  /* WebSockets closed over --ws-publish-rate */
};

/* One server per process: the counters are plain globals, bumped inline. */
extern struct stats stats;

struct server;
/* malloc'd documents; *len gets their length. NULL when out of memory. */
char *stats_render_json(const struct server *srv, size_t *len);
char *stats_render_metrics(const struct server *srv, size_t *len);

#endif
