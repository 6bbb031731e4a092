/* The pub/sub bus: channels, their history rings and their subscribers.
 * It knows nothing of HTTP or of any transport: a transport embeds a
 * struct bus_sub in its own state and is called back per message. A
 * message's bytes on each transport are made once, by wire.h. */
#ifndef PUSHPULL_BUS_H
#define PUSHPULL_BUS_H

#include <stddef.h>
#include <stdint.h>

#include "shbuf.h"

struct bus;
struct bus_channel;

/* One published message, shared by every reader: the channel's ring holds
 * one reference, every outbound queue that has it one more (shbuf.h), so
 * it lives until the last queue lets go and the ring has moved on. Its
 * bytes on each transport are made once (wire.h). */
struct bus_msg {
    struct shbuf hold;                /* first: the block is freed through it */
    uint64_t id;
    uint64_t ts_us;
    const char *json;                 /* {"id","ts","data"}, NUL-terminated */
    size_t json_len;
    const char *sse;                  /* "id: N\ndata: <json>\n\n" */
    size_t sse_len;
    const uint8_t *ws;                /* an unmasked text frame of the json */
    size_t ws_len;
};

/* The message's reference count: taking a reference does not change the
 * message, so a reader with a const message may. */
static inline struct shbuf *bus_msg_hold(const struct bus_msg *m)
{
    return (struct shbuf *)&m->hold;
}

struct bus_sub;
/* Called once per message published after bus_subscribe(). The callback may
 * bus_unsubscribe() its own sub (and free it); it must not touch others. */
typedef void (*bus_msg_fn)(struct bus_sub *sub, const struct bus_msg *msg);

struct bus_sub {
    bus_msg_fn on_msg;
    /* The channel's history was lost (bus_reset): the sub is already
     * unsubscribed when this runs. NULL: nothing to do. */
    void (*on_reset)(struct bus_sub *sub);
    struct bus_channel *ch;           /* set while subscribed */
    struct bus_sub *prev, *next;      /* owned by the bus */
};

/* The ids a cursor `since` can still read: from..to inclusive (empty when
 * from > to), and how many ids after `since` were evicted before it read. */
struct bus_span {
    uint64_t from, to;
    uint64_t lost;
};

struct bus *bus_new(size_t history, size_t max_channels);
void bus_free(struct bus *bus);

/* Get or create a channel. The name must already be valid. NULL when the
 * channel does not exist and max_channels are in use (or out of memory). */
struct bus_channel *bus_channel(struct bus *bus, const char *name, size_t len);
size_t bus_channel_count(const struct bus *bus);

uint64_t bus_last_id(const struct bus_channel *ch);
size_t bus_subscriber_count(const struct bus_channel *ch);

/* Store a message (the payload must be valid UTF-8) and call every
 * subscriber. Returns the stored message, or NULL when out of memory or
 * when a publish hook took it (bus_set_hooks). */
const struct bus_msg *bus_publish(struct bus_channel *ch, const char *data,
                                  size_t len, uint64_t ts_us);

struct bus_span bus_span_since(const struct bus_channel *ch, uint64_t since);
/* The retained message with this id, or NULL. */
const struct bus_msg *bus_msg_at(const struct bus_channel *ch, uint64_t id);

void bus_subscribe(struct bus_channel *ch, struct bus_sub *sub);
void bus_unsubscribe(struct bus_sub *sub);   /* no-op when not subscribed */

/* Which history a channel's ids belong to (docs/PROTOCOL.md): the server
 * start by default (bus_set_epoch, for channels created after it); with a
 * broker, the one the broker stored with the channel. */
void bus_set_epoch(struct bus *bus, uint64_t epoch);
uint64_t bus_epoch(const struct bus_channel *ch);
const char *bus_channel_name(const struct bus_channel *ch, size_t *len);

/* ---- a broker's local cache (server/broker.h) ----------------------------
 * With a broker, ids are assigned by the broker: bus_publish hands the
 * message to the publish hook (and returns NULL), and the broker brings
 * each numbered message back through bus_deliver. */
struct bus_hooks {
    void (*publish)(void *arg, struct bus_channel *ch, const char *data, size_t len,
                    uint64_t ts_us);
};
void bus_set_hooks(struct bus *bus, const struct bus_hooks *hooks, void *arg);
/* The broker's state for the channel, NULL until set. */
void *bus_channel_data(const struct bus_channel *ch);
void bus_channel_set_data(struct bus_channel *ch, void *data);
/* Store message `id` (numbered elsewhere) and call every subscriber, as
 * bus_publish does. Ids at or below the last one are ignored (NULL); ids
 * skipped over are lost, and so is what the ring held before them. */
const struct bus_msg *bus_deliver(struct bus_channel *ch, uint64_t id, const char *data,
                                  size_t len, uint64_t ts_us);
/* The history behind the cached ids is gone (the broker lost it): empty
 * the ring, start ids over under `epoch`, and unsubscribe every subscriber,
 * calling its on_reset. */
void bus_reset(struct bus_channel *ch, uint64_t epoch);
void bus_channel_set_epoch(struct bus_channel *ch, uint64_t epoch);

#endif
