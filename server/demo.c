/* The demo publisher: open loop, message k due at t0 + k/rate, published
 * straight onto the bus (no HTTP), counted like any publish. */
#include "demo.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus.h"
#include "clock.h"
#include "server.h"
#include "stats.h"

/* After a stall (a stopped process, a loaded machine) at most this many
 * late messages go out at once; the schedule restarts from now. */
#define DEMO_BURST_MAX 1000

struct demo {
    struct server *srv;
    struct bus_channel *ch;
    struct event *timer;
    double rate;
    uint64_t t0_us;                   /* monotonic start of the schedule */
    uint64_t scheduled;               /* messages of the schedule published */
    uint64_t count;                   /* every demo message, the N in its body */
};

static void demo_publish(struct demo *d)
{
    uint64_t ts = clock_real_us();
    time_t sec = (time_t)(ts / 1000000);
    struct tm tm;
    localtime_r(&sec, &tm);
    char body[96];
    int n = snprintf(body, sizeof body, "demo message %llu at %02d:%02d:%02d.%03u",
                     (unsigned long long)++d->count, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (unsigned)(ts % 1000000 / 1000));
    if (bus_publish(d->ch, body, (size_t)n, ts))
        stats.published++;
}

static void demo_arm(struct demo *d)
{
    uint64_t due = d->t0_us + (uint64_t)((double)d->scheduled * 1e6 / d->rate);
    uint64_t now = clock_mono_us();
    uint64_t wait = due > now ? due - now : 0;
    struct timeval tv = { .tv_sec = (time_t)(wait / 1000000),
                          .tv_usec = (suseconds_t)(wait % 1000000) };
    evtimer_add(d->timer, &tv);
}

static void demo_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct demo *d = arg;
    if (d->srv->shutting_down)
        return;
    uint64_t elapsed = clock_mono_us() - d->t0_us;
    uint64_t due = (uint64_t)((double)elapsed * d->rate / 1e6) + 1;
    if (due - d->scheduled > DEMO_BURST_MAX) {
        d->t0_us = clock_mono_us();
        d->scheduled = 0;
        due = 1;
    }
    for (; d->scheduled < due; d->scheduled++)
        demo_publish(d);
    demo_arm(d);
}

struct demo *demo_start(struct server *srv, double rate)
{
    struct demo *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->srv = srv;
    d->rate = rate;
    d->ch = bus_channel(srv->bus, DEMO_CHANNEL, strlen(DEMO_CHANNEL));
    d->timer = evtimer_new(srv->base, demo_tick, d);
    if (!d->ch || !d->timer) {
        demo_stop(d);
        return NULL;
    }
    d->t0_us = clock_mono_us();
    demo_arm(d);
    return d;
}

void demo_stop(struct demo *d)
{
    if (!d)
        return;
    if (d->timer)
        event_free(d->timer);
    free(d);
}
