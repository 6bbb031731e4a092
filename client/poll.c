/* Short polling: the dialect's poll (pushpull: GET /poll/<ch>?since=<last
 * id>) on a fixed-rate schedule
 * (--poll-interval, each subscriber at a random phase), over pooled
 * keep-alive connections. An answer that comes late is followed at once:
 * the schedule never skips a poll and never runs two at once. */
#include <event2/event.h>
#include <stdlib.h>

#include "dialect.h"
#include "poller.h"

struct short_poll {
    struct poller p;                  /* first: poller calls back with it */
    struct event *timer;
    uint64_t next_due_us;
};

static void poll_now(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct short_poll *sp = arg;
    if (sp->p.s->stopping)
        return;
    long timeout_ms = (long)(sp->p.s->run->cfg->connect_timeout_us / 1000) + 10000;
    if (poller_request(&sp->p, TR_POLL, timeout_ms) != 0)
        subscriber_retry(sp->p.s);
}

static void schedule_next(struct short_poll *sp)
{
    uint64_t interval = sp->p.s->run->cfg->poll_interval_us, now = run_now_us();
    sp->next_due_us += interval;
    uint64_t wait = sp->next_due_us > now ? sp->next_due_us - now : 0;
    if (sp->next_due_us + interval < now)
        sp->next_due_us = now;        /* far behind: restart the grid, do not burst */
    struct timeval tv = { .tv_sec = (time_t)(wait / 1000000),
                          .tv_usec = (suseconds_t)(wait % 1000000) };
    evtimer_add(sp->timer, &tv);
}

static void on_answered(struct poller *p, bool ok, bool empty)
{
    if (!ok)
        return;
    if (!empty && dialect_of(p->s->run->cfg)->poll_one_per_answer)
        poll_now(-1, 0, p);           /* more may wait: drain before the next tick */
    else
        schedule_next((struct short_poll *)p);
}

static int poll_start(struct subscriber *s)
{
    struct short_poll *sp = s->impl;
    if (!sp) {
        sp = calloc(1, sizeof *sp);
        if (!sp || poller_init(&sp->p, s, on_answered) != 0) {
            free(sp);
            return -1;
        }
        sp->timer = evtimer_new(s->run->base, poll_now, sp);
        s->impl = sp;
        /* Random phase within one interval, from --seed. */
        uint64_t interval = s->run->cfg->poll_interval_us;
        sp->next_due_us = run_now_us() + (interval ? (uint64_t)random() % interval : 0);
        uint64_t wait = sp->next_due_us - run_now_us();
        struct timeval tv = { .tv_sec = 0, .tv_usec = 0 };
        if (sp->next_due_us > run_now_us()) {
            tv.tv_sec = (time_t)(wait / 1000000);
            tv.tv_usec = (suseconds_t)(wait % 1000000);
        }
        evtimer_add(sp->timer, &tv);
        return 0;
    }
    sp->next_due_us = run_now_us();   /* a retry: poll now */
    poll_now(-1, 0, sp);
    return 0;
}

static void poll_drop(struct subscriber *s)
{
    struct short_poll *sp = s->impl;
    if (!sp)
        return;
    sp->p.fresh = true;               /* the next poll opens a new connection */
    subscriber_dropped(s);
}

static void poll_stop(struct subscriber *s)
{
    struct short_poll *sp = s->impl;
    if (!sp)
        return;
    event_free(sp->timer);
    poller_free(&sp->p);
    free(sp);
    s->impl = NULL;
}

const struct transport_ops poll_ops = { poll_start, poll_drop, poll_stop };
