#include "fanout.h"

#include "stats.h"

static void fanout_drop(struct fanout *f)
{
    if (f->dropped)
        return;
    f->dropped = true;
    stats.slow_consumers_dropped++;
    bus_unsubscribe(&f->sub);
    f->ops->drop(f, FANOUT_SLOW);
}

void fanout_pump(struct fanout *f)
{
    struct bus_channel *ch = f->sub.ch;
    if (f->dropped || !ch || f->next_id > bus_last_id(ch))
        return;
    struct bus_span span = bus_span_since(ch, f->next_id - 1);
    if (span.lost) {
        /* History moved past what this subscriber has not yet received. */
        fanout_drop(f);
        return;
    }
    for (uint64_t id = span.from; id <= span.to; id++) {
        const struct bus_msg *m = bus_msg_at(ch, id);
        /* An empty queue always takes one message, however large. */
        size_t q = f->ops->queued(f);
        if (q > 0 && q + m->json_len > f->max_queue)
            return;
        f->ops->send_msg(f, m);
        f->next_id = id + 1;
    }
}

static void fanout_on_msg(struct bus_sub *sub, const struct bus_msg *m)
{
    struct fanout *f = (struct fanout *)sub;
    if (f->next_id != m->id) {
        fanout_pump(f);               /* still working through a backlog */
        return;
    }
    size_t q = f->ops->queued(f);
    if (q > 0 && q + m->json_len > f->max_queue) {
        fanout_drop(f);
        return;
    }
    f->ops->send_msg(f, m);
    f->next_id = m->id + 1;
}

/* A broker lost the history (bus_reset): end the stream, so that the
 * client comes back with its cursor and is told of the reset then. */
static void fanout_on_reset(struct bus_sub *sub)
{
    struct fanout *f = (struct fanout *)sub;
    f->dropped = true;
    f->ops->drop(f, FANOUT_RESET);
}

void fanout_start(struct fanout *f, const struct fanout_ops *ops,
                  struct bus_channel *ch, size_t max_queue,
                  bool has_since, uint64_t since)
{
    f->ops = ops;
    f->max_queue = max_queue;
    f->dropped = false;
    f->sub.on_msg = fanout_on_msg;
    f->sub.on_reset = fanout_on_reset;
    f->next_id = bus_last_id(ch) + 1;
    if (has_since) {
        struct bus_span span = bus_span_since(ch, since);
        if (span.lost) {
            stats.gaps_served++;
            ops->send_gap(f, since, span.from, span.lost);
        }
        f->next_id = span.from;
    }
    bus_subscribe(ch, &f->sub);
    fanout_pump(f);
}

void fanout_stop(struct fanout *f)
{
    bus_unsubscribe(&f->sub);
}
