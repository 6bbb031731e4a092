/* What every server module shares: the configuration, the loop, the bus. */
#ifndef PUSHPULL_SERVER_H
#define PUSHPULL_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct bus;
struct broker;
struct http;

struct server_config {
    char bind[64];
    unsigned port;
    size_t history;
    size_t max_message;
    size_t max_connections;
    size_t max_queue;
    size_t max_channels;
    size_t max_connections_per_ip;    /* 0: no limit */
    size_t connection_memory;
    uint64_t heartbeat_us;
    uint64_t longpoll_timeout_us;
    uint64_t longpoll_max_us;
    uint64_t idle_timeout_us;
    uint64_t header_timeout_us;       /* 0: no limit */
    double ws_publish_rate;           /* messages/s per WebSocket; 0: no limit */
    /* Access control, NULL when off (access.h keeps their digests). */
    const char *publish_token, *subscribe_token, *allow_origin;
    double demo_rate;                 /* messages/s on channel "demo"; 0: off */
    /* HTTPS (--tls-cert, --tls-key): the PEM texts (tls.h); NULL: plain HTTP. */
    char *tls_cert_pem, *tls_key_pem;
    /* --broker redis://...: history and fan-out shared by every instance
     * (broker.h); NULL: the in-memory bus alone. */
    const char *broker_url;
    uint64_t broker_timeout_us, broker_backoff_max_us, broker_wait_us, broker_idle_us;
    unsigned workers;                 /* processes sharing the port (workers.h) */
    /* A worker's start (its epoch), given by the parent so that no two of
     * its workers have the same one; 0: the process reads the clock. */
    uint64_t start_epoch_us;
    bool quiet;
};

struct server {
    struct server_config cfg;
    struct event_base *base;
    struct bus *bus;
    struct broker *broker;            /* NULL without --broker */
    struct http *http;
    uint64_t started_mono_us;
    /* This start's identity (CLOCK_REALTIME µs at startup): ids restart with
     * every start, since history is in memory, so a cursor means something
     * only together with the epoch it was read in (PROTOCOL.md). */
    uint64_t epoch;
    bool shutting_down;
};

#endif
