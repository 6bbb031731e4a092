/* A push subscriber's cursor and bounded outbound queue, shared by SSE and
 * WebSocket. The transport owns the queue; fanout decides what goes in:
 *  - caught up: each new message is queued, or, when the queue would pass
 *    --max-queue, the subscriber is dropped as a slow consumer;
 *  - behind (a resume backlog larger than the queue): messages are pulled
 *    from the channel history as the queue drains (fanout_pump), and the
 *    subscriber is dropped only when history evicts what it has not sent. */
#ifndef PUSHPULL_FANOUT_H
#define PUSHPULL_FANOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"

struct fanout;

/* Why a push subscriber's stream ends under it. */
enum fanout_end {
    FANOUT_SLOW,                      /* a slow consumer: its queue or history ran out */
    FANOUT_RESET,                     /* the broker lost the channel's history (bus_reset):
                                       * reconnect, and be told of the reset then */
};

struct fanout_ops {
    size_t (*queued)(struct fanout *f);                       /* bytes waiting */
    void (*send_gap)(struct fanout *f, uint64_t since, uint64_t first, uint64_t lost);
    void (*send_msg)(struct fanout *f, const struct bus_msg *m);
    void (*drop)(struct fanout *f, enum fanout_end why);
};

struct fanout {
    struct bus_sub sub;
    const struct fanout_ops *ops;
    uint64_t next_id;                 /* the next message to queue */
    size_t max_queue;
    bool dropped;
};

/* Start at cursor `since` (has_since false: new messages only): send the
 * gap marker if history lost some, queue the backlog, subscribe. */
void fanout_start(struct fanout *f, const struct fanout_ops *ops,
                  struct bus_channel *ch, size_t max_queue,
                  bool has_since, uint64_t since);
/* The queue drained: pull more of a backlog. */
void fanout_pump(struct fanout *f);
void fanout_stop(struct fanout *f);   /* unsubscribe; idempotent */

#endif
