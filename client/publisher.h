/* The open-loop publisher: global message k is scheduled at
 * t0 + k / rate and sent then, however late earlier answers are, so a
 * stalled server shows up as latency instead of as a slower schedule. */
#ifndef PUSHPULL_PUBLISHER_H
#define PUSHPULL_PUBLISHER_H

#include "loop.h"
#include "run.h"

struct publisher;

/* HTTP publishes go through `loop` (a pool of their own, so subscribers'
 * long requests never hold a publish back). */
struct publisher *publisher_new(struct run *run, struct loop *loop);
/* Connect what needs connecting (WS publishers). 0 when ready. */
int publisher_prepare(struct publisher *p);
bool publisher_ready(const struct publisher *p);
/* Start the schedule at t0 (monotonic µs); it ends after message k_end-1. */
void publisher_start(struct publisher *p, uint64_t t0_us, uint64_t k_end);
uint64_t publisher_in_flight(const struct publisher *p);
/* No more messages from now on: what was not sent by then was never
 * published (and is not expected). */
void publisher_stop(struct publisher *p);
void publisher_free(struct publisher *p);

/* The schedule itself, kept pure for tests: when message k is due. */
uint64_t schedule_time_us(uint64_t t0_us, double rate, uint64_t k);
/* The inverse: the t0 that schedules message k at sched_us (a
 * subscribe-only process learns the publishing one's from a message). */
uint64_t schedule_origin_us(uint64_t sched_us, double rate, uint64_t k);
/* How many messages are due at `now` (k < result are due). */
uint64_t schedule_due(uint64_t t0_us, double rate, uint64_t now_us);

#endif
