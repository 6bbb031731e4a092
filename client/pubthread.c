#include "pubthread.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>

#include "loop.h"
#include "publisher.h"

#define PUB_TICK_US 10000             /* readiness, lag */
#define PUBLISH_POOL 64               /* publisher connections at most */

struct pubthread {
    struct run *run;
    struct event_base *base;
    struct loop *loop;
    struct publisher *pub;
    struct event *start_ev, *stop_ev, *tick;
    pthread_t thread;
    bool launched;
    uint64_t t0_us, k_end;            /* set before start_ev is activated */
    struct saturation_meter meter;
    /* Mirrors the main thread reads while the thread runs. */
    bool ready;
    uint64_t in_flight;
};

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pubthread *pt = arg;
    uint64_t now = run_now_us();
    saturation_tick(&pt->meter, now, PUB_TICK_US);
    __atomic_store_n(&pt->ready, publisher_ready(pt->pub), __ATOMIC_RELEASE);
    __atomic_store_n(&pt->in_flight, publisher_in_flight(pt->pub), __ATOMIC_RELEASE);
}

static void on_start(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pubthread *pt = arg;
    saturation_begin(&pt->meter);
    publisher_start(pt->pub, pt->t0_us, pt->k_end);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pubthread *pt = arg;
    publisher_stop(pt->pub);
    saturation_end(&pt->meter);
    event_base_loopbreak(pt->base);
}

static void *thread_main(void *arg)
{
    struct pubthread *pt = arg;
    saturation_init(&pt->meter);
    /* WebSocket publishers connect on this thread's loop (wsconn keeps its
     * connectors per thread); a failure shows as never ready. */
    if (publisher_prepare(pt->pub) != 0)
        return NULL;
    struct timeval tv = { 0, PUB_TICK_US };
    event_add(pt->tick, &tv);
    event_base_dispatch(pt->base);
    return NULL;
}

struct pubthread *pubthread_new(struct run *run)
{
    struct pubthread *pt = calloc(1, sizeof *pt);
    if (!pt)
        return NULL;
    pt->run = run;
    pt->base = loop_base_new();       /* precise timers: it must send on time */
    if (pt->base) {
        pt->loop = loop_new(pt->base, PUBLISH_POOL, PUBLISH_POOL, PUBLISH_POOL);
        pt->start_ev = event_new(pt->base, -1, 0, on_start, pt);
        pt->stop_ev = event_new(pt->base, -1, 0, on_stop, pt);
        pt->tick = event_new(pt->base, -1, EV_PERSIST, on_tick, pt);
    }
    if (pt->loop)
        pt->pub = publisher_new(run, pt->loop);
    if (!pt->pub || !pt->start_ev || !pt->stop_ev || !pt->tick ||
        pthread_create(&pt->thread, NULL, thread_main, pt) != 0) {
        pubthread_free(pt);
        return NULL;
    }
    pt->launched = true;
    return pt;
}

bool pubthread_ready(const struct pubthread *pt)
{
    return __atomic_load_n(&pt->ready, __ATOMIC_ACQUIRE);
}

void pubthread_start(struct pubthread *pt, uint64_t t0_us, uint64_t k_end)
{
    pt->t0_us = t0_us;
    pt->k_end = k_end;
    event_active(pt->start_ev, EV_TIMEOUT, 0);   /* thread-safe: evthread_use_pthreads */
}

uint64_t pubthread_in_flight(const struct pubthread *pt)
{
    if (!pt)
        return 0;
    return __atomic_load_n(&pt->in_flight, __ATOMIC_ACQUIRE);
}

void pubthread_stop(struct pubthread *pt)
{
    if (!pt || !pt->launched)
        return;
    event_active(pt->stop_ev, EV_TIMEOUT, 0);
    pthread_join(pt->thread, NULL);
    pt->launched = false;
}

struct saturation pubthread_saturation(const struct pubthread *pt)
{
    if (!pt)
        return (struct saturation){ 0 };
    return saturation_get(&pt->meter);
}

void pubthread_free(struct pubthread *pt)
{
    if (!pt)
        return;
    pubthread_stop(pt);
    publisher_free(pt->pub);
    loop_free(pt->loop);
    if (pt->start_ev)
        event_free(pt->start_ev);
    if (pt->stop_ev)
        event_free(pt->stop_ev);
    if (pt->tick)
        event_free(pt->tick);
    if (pt->base)
        event_base_free(pt->base);
    free(pt);
}
