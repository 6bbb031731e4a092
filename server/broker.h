/* The broker (--broker redis://...): history, numbering and fan-out shared
 * by every server instance (DESIGN.md §6).
 *
 * The bus stays each instance's view of a channel: with a broker it is the
 * local cache of the channels in use, filled from the broker's history and
 * kept coherent by its live feed (bus_deliver), so every transport still
 * reads only the bus. Two rules make that safe:
 *  - a subscriber (poll, long poll, SSE, WebSocket) is served only once its
 *    channel's cache is in sync (broker_await), so a cursor from another
 *    instance is never judged against a cache that has not caught up;
 *  - a publish is numbered by the broker (broker_publish), and reaches the
 *    cache of every instance through the feed, in id order, never twice. */
#ifndef PUSHPULL_BROKER_H
#define PUSHPULL_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct bus;
struct bus_channel;

struct broker_config {
    const char *url;                  /* redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] */
    const char *password;             /* when the URL has none (env), or NULL */
    size_t history;                   /* messages kept per channel (MAXLEN) */
    uint64_t timeout_us;              /* connect and reply deadline */
    uint64_t backoff_max_us;          /* reconnect backoff cap */
    uint64_t wait_us;                 /* how long a subscriber waits for its channel */
    uint64_t idle_us;                 /* a channel nobody used this long is unsubscribed */
};

struct broker;

/* Connects in the background: a broker that is down at start is retried
 * like one lost later. Sets the bus's publish hook. NULL with err filled
 * on a bad URL or out of memory. */
struct broker *broker_start(struct event_base *base, struct bus *bus,
                            const struct broker_config *cfg, char *err, size_t errlen);
/* Shutting down: every waiting subscriber is answered "unavailable" now
 * (their connections are suspended; MHD must get them back before it stops). */
void broker_shutdown(struct broker *b);
/* Closes the connections; publishes still in flight fail. */
void broker_stop(struct broker *b);

struct broker_op;                     /* a wait or a publish in flight */

/* Is the cache of `ch` in sync? true: serve now. false: done(arg, ok) runs
 * later, once: ok when in sync, not ok after --broker-wait or at shutdown;
 * *op cancels it meanwhile. */
typedef void (*broker_ready_fn)(void *arg, bool ok);
bool broker_await(struct broker *b, struct bus_channel *ch, broker_ready_fn done, void *arg,
                  struct broker_op **op);

struct broker_published {
    bool ok;
    uint64_t id, epoch;               /* the broker's, when ok */
    const char *error;                /* why not, when not ok (static text) */
};
typedef void (*broker_published_fn)(void *arg, const struct broker_published *r);
/* Publish `data` (valid UTF-8) on ch; done(arg, r) runs later, once. NULL
 * when the broker cannot take it now (down): done never runs. */
struct broker_op *broker_publish(struct broker *b, struct bus_channel *ch, const char *data,
                                 size_t len, uint64_t ts_us, broker_published_fn done,
                                 void *arg);

/* The caller is gone: done() will not run. */
void broker_cancel(struct broker_op *op);

struct broker_stats {
    bool command_up, subscribe_up;
    uint64_t rtt_us;                  /* the command connection's latest round trip */
    uint64_t reconnects, timeouts;    /* both connections */
    uint64_t auth_failures;           /* connections whose AUTH Redis refused */
    uint64_t channels;                /* subscribed, or being subscribed */
    uint64_t refills;                 /* history reads that caught a channel up */
    uint64_t resets;                  /* channels whose history the broker lost */
    uint64_t publish_errors;          /* publishes answered 503 */
};
void broker_get_stats(const struct broker *b, struct broker_stats *out);

#endif
