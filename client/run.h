/* One measured run of one transport: configuration, phases, the open-loop
 * publisher's schedule, and what the subscribers measured. */
#ifndef PUSHPULL_RUN_H
#define PUSHPULL_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "histogram.h"

enum transport { TR_POLL, TR_LONGPOLL, TR_SSE, TR_WS, TR_COUNT };
extern const char *const transport_names[TR_COUNT];

enum publish_via { PUB_HTTP, PUB_WS };

struct dialect;

struct client_config {
    const struct dialect *dialect;    /* --dialect: how to speak to the server */
    int server_pids[8];               /* --server-pid: sampled from /proc */
    unsigned nserver_pids;
    char url[512];                    /* http://host:port, no trailing slash */
    char publish_url[512];            /* the publisher's (and /stats'); default: url */
    bool transports[TR_COUNT];        /* which to run, in enum order */
    unsigned subscribers;
    unsigned channels;
    double rate;                      /* messages per second, all channels */
    size_t size;                      /* payload bytes */
    uint64_t duration_us, warmup_us, drain_us;
    uint64_t idle_hold_us;            /* --idle-hold: idle between connect and warm-up */
    uint64_t poll_interval_us;        /* 0: back to back */
    uint64_t longpoll_timeout_us;
    uint64_t connect_timeout_us;
    double connect_rate;              /* new subscriber connections per second; 0: all at once */
    uint64_t churn_us;                /* 0: no churn */
    unsigned connections;             /* subscriber pool cap; 0: one per subscriber */
    unsigned threads;                 /* --threads: subscriber loops, each on a thread */
    bool no_keepalive;
    /* --socketio-upgrade: socket.io WebSockets begin as Engine.IO polling
     * and upgrade (2probe, 3probe, 5), as socket.io-client does by default */
    bool socketio_upgrade;
    enum publish_via publish_via;
    uint64_t seed;
    const char *json_path, *csv_path;
    const char *cacert;               /* --cacert: trusted PEM file, or NULL */
    bool insecure;                    /* --insecure: no certificate check */
    const char *run_tag;              /* channel-name prefix, unique per process */
    bool run_tag_given;               /* --run-tag, not the unique default */
    bool quiet;
    /* --no-publish: subscribe only, to what another client process
     * publishes (the same --run-tag and schedule); --merge joins them. */
    bool no_publish;
    uint64_t publisher_wait_us;       /* --no-publish: for the first message */
};

/* Cost counters of the subscribers (the publisher's are kept apart). */
struct cost {
    uint64_t requests;                /* HTTP requests, WS handshakes included */
    uint64_t empty_answers;           /* poll/longpoll answers with no message */
    uint64_t bytes_rx, bytes_tx;      /* headers included; raw socket bytes for WS */
    uint64_t connects;                /* new TCP connections */
    uint64_t reconnects;
    uint64_t protocol_errors;         /* malformed JSON, SSE or frames */
    uint64_t transport_errors;        /* failed requests, dropped connections */
};

/* What one subscriber saw. */
struct sub_track {
    unsigned channel;
    uint64_t last_id;                 /* resume cursor: the dialect's ordered id key */
    uint64_t epoch;                   /* the server start last_id belongs to; 0: not known yet */
    uint8_t *seen;                    /* bit per per-channel sequence number */
    uint64_t unique, duplicates, out_of_order;
    uint64_t gap_lost;                /* ids the server flagged as lost */
    uint64_t connect_start_us;        /* monotonic */
    bool connected, got_first;
};

enum phase { PH_CONNECT, PH_WARMUP, PH_MEASURE, PH_DRAIN, PH_DONE };

struct run {
    const struct client_config *cfg;
    enum transport transport;
    struct event_base *base;
    enum phase phase;
    char channel_prefix[48];          /* channel c is named <prefix><c> */
    unsigned *subs_on_channel;

    /* the schedule: global message k goes to channel k % C as its sequence
     * number k / C, scheduled at t0 + k / rate (monotonic µs) */
    uint64_t t0_us;
    uint64_t k_measure_from, k_measure_to;   /* measured: from <= k < to */
    uint64_t seq_cap;                 /* sequence numbers per channel */
    uint64_t *sent_us;                /* actual send time of k, 0 if not sent */
    uint8_t *acked;                   /* bit per k: the server acknowledged its publish */
    uint64_t published;               /* acknowledged publishes, all */
    uint64_t published_measured;
    uint64_t expected;                /* sum of subscribers on each measured message's channel */
    uint64_t publish_errors;

    struct hist latency;              /* receive - scheduled send */
    struct hist latency_uncorrected;  /* receive - actual send */
    struct hist connect_time;         /* subscriber connect/handshake */
    struct hist first_message;        /* connect start to first message */
    struct cost cost;
    uint64_t delivered;               /* unique measured deliveries */
    uint64_t delivered_unacked;       /* ... of messages never acknowledged (track_unacked) */
    uint64_t duplicates, out_of_order, gap_lost;
    /* Server restarts: ids start over, so cursors do too (PROTOCOL.md). */
    uint64_t epoch_max;               /* the newest server epoch seen */
    uint64_t epoch_changes;           /* newer epochs seen after the first: restarts */
    uint64_t cursor_resets;           /* subscribers that started over from 0 */
    /* Reconnects that asked the server to resume a session and were refused
     * (socket.io: connection-state recovery failed): what the session
     * missed is then lost, and shows as lost. */
    uint64_t resume_failed;

    uint64_t measure_start_us, measure_end_us;
    /* --no-publish: the publishing process's t0 on our clock, learned from
     * the first message any subscriber of any thread receives (its k and
     * scheduled time give it); 0 until then. The engine's, shared with the
     * shards' runs. */
    uint64_t *t0_learned;
};

uint64_t run_now_us(void);            /* monotonic µs */
/* total's requests, bytes and connections become end - start (the cost
 * window's); its reconnects and errors stay the whole run's. */
void cost_window(struct cost *total, const struct cost *start, const struct cost *end);
void run_channel_name(const struct run *run, unsigned channel, char *buf, size_t cap);
/* Subscriber i listens on channel i % channels: how many of `subscribers`
 * listen on channel c (the engine's per-channel counts, and --merge's for
 * another process's subscribers). */
unsigned run_listeners(unsigned subscribers, unsigned channels, unsigned c);

/* Format the payload of global message k (its sequence number and scheduled
 * time, padded to cfg->size). Returns its length. The time travels as wall
 * clock (CLOCK_REALTIME µs) and is read back onto our monotonic clock, so
 * that a subscribe-only process (--no-publish) can take the latency of
 * another process's messages: exact on one host, as good as the hosts'
 * clock synchronisation across hosts. */
size_t payload_format(char *buf, size_t cap, uint64_t k, uint64_t sched_us, size_t size);
/* Parse k and the scheduled time back. Returns 0 or -1. */
int payload_parse(const char *data, size_t len, uint64_t *k, uint64_t *sched_us);

/* A message envelope (its JSON text) reached subscriber t. Handles the
 * server's gap, hello and reset objects too. Counts duplicates, order,
 * latency. Returns 0, or -1 for a protocol error (counted). */
int track_envelope(struct run *run, struct sub_track *t, const char *json, size_t len);
/* The same, received at now_us: when the bytes were read, not when a batch
 * of them was parsed (the parse of earlier messages is not their latency). */
int track_envelope_at(struct run *run, struct sub_track *t, const char *json, size_t len,
                      uint64_t now_us);
/* The same for an already parsed message. id is the dialect's ordered
 * key; 0: the message came without one (Nchan's multipart poll answers),
 * so its order cannot be judged. */
void track_message(struct run *run, struct sub_track *t, uint64_t id, const char *data,
                   size_t len, uint64_t now_us);
/* The server named the subscriber's position without a message (an empty
 * answer's headers, a batch's last id): the cursor to resume from. */
void track_cursor(struct sub_track *t, uint64_t key);
void track_gap(struct run *run, struct sub_track *t, uint64_t lost, uint64_t first_id);
/* The server told subscriber t its epoch (a poll answer, a hello). Another
 * one than before means it restarted: t's cursor starts over from 0, and a
 * newer one than the run has seen counts as a restart. */
void track_epoch(struct run *run, struct sub_track *t, uint64_t epoch);
/* The server found t's cursor stale (a reset marker) and serves it from 0. */
void track_reset(struct run *run, struct sub_track *t, uint64_t epoch);
void track_connected(struct run *run, struct sub_track *t);

/* Did t receive its channel's message with sequence number seq? */
bool track_received(const struct sub_track *t, uint64_t seq);

/* The server acknowledged the publish of message k. */
void run_ack(struct run *run, uint64_t k);
bool run_acked(const struct run *run, uint64_t k);
/* After the run, for a measured message k whose publish was never
 * acknowledged (the server took it and died before answering, say): t's
 * copy, if it got one, moves from delivered to delivered_unacked. Such a
 * message is not expected, so counted as delivered it would hide a loss. */
void track_unacked(struct run *run, struct sub_track *t, uint64_t k);

#endif
