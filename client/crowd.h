/* The subscribers that share one event loop: set up, ramped up at the
 * connect rate, churned, counted, stopped. The run engine has one crowd
 * per subscriber thread (--threads). */
#ifndef PUSHPULL_CROWD_H
#define PUSHPULL_CROWD_H

#include <stdint.h>

#include "subscriber.h"

struct crowd {
    struct run *run;                  /* whose counters these subscribers feed */
    struct loop *loop;
    struct subscriber *subs;
    unsigned n;                       /* subscribers here */
    unsigned started;
    double connect_rate;              /* this crowd's share of --connect-rate */
    uint64_t *churn_due;
};

/* Subscribers first, first + stride, ... below cfg->subscribers, on loop,
 * feeding run. 0, or -1 out of memory (crowd_free cleans up). */
int crowd_init(struct crowd *c, struct run *run, struct loop *loop, unsigned first,
               unsigned stride, double connect_rate);
/* Start as many as the connect rate allows since ramp_start_us. */
void crowd_ramp(struct crowd *c, uint64_t ramp_start_us, uint64_t now_us);
unsigned crowd_connected(const struct crowd *c);
/* Drop the connections whose churn time has come. */
void crowd_churn(struct crowd *c, uint64_t now_us);
/* After the run, for every measured message sent but never acknowledged:
 * a copy of it that arrived anyway moves from delivered to
 * delivered_unacked of `run` (track_unacked). */
void crowd_settle_unacked(struct crowd *c, struct run *run);
/* After the run: got[k - k_measure_from] += how many of these subscribers
 * received measured message k. */
void crowd_count_received(const struct crowd *c, const struct run *run, uint32_t *got);
/* Stop every subscriber and free the crowd (from the loop's thread, or once
 * it has ended). */
void crowd_free(struct crowd *c);

const struct transport_ops *transport_ops_of(enum transport t);

#endif
