/* The publisher on a thread and event loop of its own, so its schedule
 * never waits behind subscriber work on the subscribers' loop (and
 * subscriber latency is not inflated by the publisher's). The run's
 * counters it updates (published, expected, publish errors, sent times)
 * are written with atomics; the rest of the run is the main thread's. */
#ifndef PUSHPULL_PUBTHREAD_H
#define PUSHPULL_PUBTHREAD_H

#include <stdbool.h>
#include <stdint.h>

#include "run.h"
#include "saturation.h"

struct pubthread;

/* Make the publisher (its loop, its connections: WebSocket publishers
 * start connecting) and start its thread. NULL on failure. */
struct pubthread *pubthread_new(struct run *run);
/* Every WebSocket publisher is connected (always true over HTTP). */
bool pubthread_ready(const struct pubthread *pt);
/* Start the schedule at t0 (monotonic µs), up to message k_end - 1. */
void pubthread_start(struct pubthread *pt, uint64_t t0_us, uint64_t k_end);
/* in_flight, stop, saturation and free take NULL: a run without a
 * publisher (--no-publish), nothing in flight and no figures. */
uint64_t pubthread_in_flight(const struct pubthread *pt);
/* Publish no more, finish the thread; its figures are then final. */
void pubthread_stop(struct pubthread *pt);
/* The publisher thread's busy fraction and loop lag (after stop). */
struct saturation pubthread_saturation(const struct pubthread *pt);
void pubthread_free(struct pubthread *pt);

#endif
